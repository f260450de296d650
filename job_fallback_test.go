package streamkit_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// A restore that falls back to an older checkpoint (FallBackOnCorruption)
// resumes from that checkpoint's positions, so state and positions stay
// together: the input since then is replayed (its output written again)
// and every key's count ends right. Without the option the job refuses the
// corrupt checkpoint, not ready, naming the checkpoint store. Each
// corruption on files, and on Swift when STREAMKIT_SWIFT_AUTH_URL is set.
func TestJobFallbackRestoreKeepsStateAndPositionsTogether(t *testing.T) {
	stores := map[string]func(t *testing.T) checkpoint.Store{
		"files": func(t *testing.T) checkpoint.Store { return checkpoint.NewFileStore(t.TempDir()) },
	}
	if os.Getenv(checkpointtest.EnvSwiftAuthURL) != "" {
		stores["swift"] = func(t *testing.T) checkpoint.Store {
			conn := checkpointtest.RealSwiftConnection(t)
			return checkpoint.NewSwiftStore(conn, checkpointtest.TempContainer(t, conn))
		}
	}
	corruptions := map[string]func(t *testing.T, ctx context.Context, s checkpoint.Store, m *checkpoint.Manifest, manifest string){
		"state object deleted": func(t *testing.T, ctx context.Context, s checkpoint.Store, m *checkpoint.Manifest, _ string) {
			require.NoError(t, s.Delete(ctx, lastObject(m)))
		},
		"state object flipped": func(t *testing.T, ctx context.Context, s checkpoint.Store, m *checkpoint.Manifest, _ string) {
			rewriteObject(t, ctx, s, lastObject(m), func(b []byte) []byte { b[len(b)/2] ^= 0x5a; return b })
		},
		"manifest truncated": func(t *testing.T, ctx context.Context, s checkpoint.Store, _ *checkpoint.Manifest, manifest string) {
			rewriteObject(t, ctx, s, manifest, func(b []byte) []byte { return b[:len(b)/2] })
		},
	}
	for storeName, newStore := range stores {
		for name, corrupt := range corruptions {
			for _, fallback := range []bool{true, false} {
				mode := "refused"
				if fallback {
					mode = "fallback"
				}
				t.Run(storeName+"/"+name+"/"+mode, func(t *testing.T) {
					testFallbackRestore(t, newStore(t), corrupt, fallback)
				})
			}
		}
	}
}

func testFallbackRestore(t *testing.T, store checkpoint.Store,
	corrupt func(*testing.T, context.Context, checkpoint.Store, *checkpoint.Manifest, string), fallback bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "out", 1))

	// Three waves, each committed, so the last checkpoint is a delta on
	// older ones.
	job := newCounterJob(t, cl, store)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	for wave := range 3 {
		produceKeys(t, ctx, cl, wave*20, (wave+1)*20)
		_, err := cl.WaitForRecords(ctx, "out", (wave+1)*20)
		require.NoError(t, err)
	}
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	ck, err := checkpoint.NewCheckpointer(store, streamkit.TaskNamespace("counts", 0))
	require.NoError(t, err)
	ids, err := ck.Checkpoints(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ids), 2)
	last := ids[len(ids)-1]
	m, err := ck.ReadManifest(ctx, last)
	require.NoError(t, err)
	// The fallback restores the checkpoint before the corrupt one. Whether
	// it is behind in the input depends on timing: the stop's checkpoint
	// may hold no record the one before it lacks.
	prev, err := ck.ReadManifest(ctx, ids[len(ids)-2])
	require.NoError(t, err)
	behind := !maps.Equal(prev.Positions, m.Positions)
	corrupt(t, ctx, store, m, manifestObject(t, ctx, store, last))
	before := len(outputValues(t, ctx, cl))

	produceKeys(t, ctx, cl, 60, 90)
	var opts []streamkit.Option
	if fallback {
		opts = append(opts, streamkit.WithRestoreOptions(checkpoint.FallBackOnCorruption()))
	}
	job = newCounterJob(t, cl, store, opts...)
	go func() { done <- job.Run(ctx) }()
	if !fallback {
		require.Eventually(t, func() bool {
			s := job.Stats()
			return s.ConsecutiveFailures > 0 && s.FailingComponent == streamkit.ComponentCheckpointStore &&
				strings.Contains(s.LastError, "corrupt")
		}, 30*time.Second, 20*time.Millisecond, "not ready, naming the checkpoint store: %+v", job.Stats())
		require.NoError(t, job.Stop(ctx))
		require.NoError(t, <-done)
		assert.Len(t, outputValues(t, ctx, cl), before, "nothing written from a corrupt checkpoint")
		return
	}
	// 90 records over 5 keys: 18 each.
	require.Eventually(t, func() bool {
		c := outputCounts(t, ctx, cl)
		for k := range 5 {
			if vs := c["k"+strconv.Itoa(k)]; len(vs) == 0 || vs[len(vs)-1] != 18 {
				return false
			}
		}
		return true
	}, 60*time.Second, 50*time.Millisecond)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	assert.Equal(t, int64(1), job.Stats().FallbackRestores)
	for k, vs := range outputCounts(t, ctx, cl) {
		uniq := slices.Compact(slices.Sorted(slices.Values(vs)))
		assert.Equal(t, intRange(1, 18), uniq, "key %s: every count once or more, none skipped", k)
		assert.Equal(t, 18, vs[len(vs)-1], "key %s: the count ends right", k)
	}
	if behind {
		assert.Greater(t, len(outputValues(t, ctx, cl)), 90, "the replayed records' output is written again")
	} else {
		assert.Len(t, outputValues(t, ctx, cl), 90, "the older checkpoint is at the same positions: nothing to replay")
	}
}

func lastObject(m *checkpoint.Manifest) string {
	chain := m.Partitions[0].Chain
	return chain[len(chain)-1].Name
}

// manifestObject finds the manifest object of checkpoint id.
func manifestObject(t *testing.T, ctx context.Context, s checkpoint.Store, id uint64) string {
	t.Helper()
	objs, err := s.List(ctx, streamkit.TaskNamespace("counts", 0)+"/")
	require.NoError(t, err)
	for _, o := range objs {
		if strings.HasSuffix(o.Name, fmt.Sprintf("/chk-%010d/MANIFEST", id)) {
			return o.Name
		}
	}
	t.Fatalf("no manifest of checkpoint %d among %v", id, objs)
	return ""
}

func rewriteObject(t *testing.T, ctx context.Context, s checkpoint.Store, name string, edit func([]byte) []byte) {
	t.Helper()
	rc, err := s.Open(ctx, name)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	b = edit(bytes.Clone(b))
	require.NoError(t, s.Delete(ctx, name))
	w, err := s.Create(ctx, name)
	require.NoError(t, err)
	_, err = w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
}

func outputValues(t *testing.T, ctx context.Context, cl *kafkatest.Cluster) []kafkatest.Record {
	t.Helper()
	out, err := cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	return out
}
