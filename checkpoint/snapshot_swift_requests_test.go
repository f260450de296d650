package checkpoint_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

// requestLog is an http.RoundTripper that records every request to the
// object container as "METHOD object" ("METHOD ?list" for a listing).
type requestLog struct {
	rt        http.RoundTripper
	container string

	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, rest, ok := strings.Cut(r.URL.Path, "/"+l.container); ok {
		entry := r.Method + " ?list"
		if obj, ok := strings.CutPrefix(rest, "/"); ok && obj != "" {
			entry = r.Method + " " + obj
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, entry)
		l.mu.Unlock()
	}
	return l.rt.RoundTrip(r)
}

func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

// TestIncrementalCheckpointRequestsOnSwift pins the requests of an
// incremental checkpoint on a real Swift, in order. With the delta inline
// in the manifest: the manifest's conditional PUT, then, at the same time,
// its read-back (did this writer win the contested name?) and the listing
// that guards against a concurrent GC (issued only once the manifest is
// committed). With the delta in an object: first the delta's PUT (a fresh
// name: no existence check, no read-back), as the manifest may only be
// written once every object it names is durable.
func TestIncrementalCheckpointRequestsOnSwift(t *testing.T) {
	for _, inline := range []bool{true, false} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			ctx := context.Background()
			conn := checkpointtest.RealSwiftConnection(t)
			container := checkpointtest.TempContainer(t, conn)
			log := &requestLog{rt: http.DefaultTransport, container: container}
			conn.Transport = log
			store := checkpoint.NewSwiftStore(conn, container)
			opts := []checkpoint.Option{}
			if inline {
				opts = append(opts, checkpoint.WithInlineDeltas(checkpoint.InlineDeltasBudget))
			}
			c, err := checkpoint.NewCheckpointer(store, "job", opts...)
			require.NoError(t, err)
			tbl := checkpoint.NewEntityTable("rev", 1)
			parts := []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{tbl}}}
			for i := range 100 {
				tbl.Set(fmt.Sprintf("Q%d", i+1), 1)
			}
			_, err = c.Checkpoint(ctx, map[string]int64{"t/0": 1}, parts)
			require.NoError(t, err)
			require.True(t, checkpoint.ConditionalPut(store), "a real Swift honours If-None-Match: *")

			log.take()
			tbl.Set("Q2", 2)
			m, err := c.Checkpoint(ctx, map[string]int64{"t/0": 2}, parts)
			require.NoError(t, err)
			reqs := log.take()
			chain := m.Partition(0).Chain
			require.Len(t, chain, 2)
			assert.Equal(t, inline, chain[1].Inline != nil)
			manifest := fmt.Sprintf("job/chk-%010d/MANIFEST", m.ID)
			if !inline {
				require.NotEmpty(t, reqs)
				assert.Equal(t, "PUT "+chain[1].Name, reqs[0])
				reqs = reqs[1:]
			}
			require.Len(t, reqs, 3, "requests: %q", reqs)
			assert.Equal(t, "PUT "+manifest, reqs[0])
			assert.ElementsMatch(t, []string{"HEAD " + manifest, "GET ?list"}, reqs[1:])

			other := checkpoint.NewEntityTable("rev", 1)
			got, err := c.RestoreLatest(ctx, []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{other}}})
			require.NoError(t, err)
			assert.Equal(t, m.ID, got.ID)
			v, _ := other.Get("Q2")
			assert.Equal(t, int64(2), v)
			assert.Equal(t, 100, other.Len())
		})
	}
}

// TestSwifttestKeepsExistenceCheck: swifttest ignores If-None-Match, so the
// probe finds no conditional PUT and the store keeps refusing overwrites by
// asking first.
func TestSwifttestKeepsExistenceCheck(t *testing.T) {
	ctx := context.Background()
	conn := checkpointtest.NewSwifttestConnection(t)
	store := checkpoint.NewSwiftStore(conn, checkpointtest.TempContainer(t, conn))
	checkpointtest.Put(t, store, "a/b", []byte("one"))
	require.False(t, checkpoint.ConditionalPut(store))
	err := checkpointtest.PutErr(ctx, store, "a/b", []byte("two"))
	require.ErrorIs(t, err, checkpoint.ErrExist)
	assert.Equal(t, []byte("one"), checkpointtest.Get(t, store, "a/b"))
}
