package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listNames lists the names under prefix, snapshot object names without
// their random token (as refNames).
func listNames(t testing.TB, s Store, prefix string) []string {
	t.Helper()
	infos, err := s.List(context.Background(), prefix)
	require.NoError(t, err)
	var out []string
	for _, in := range infos {
		out = append(out, tokenRE.ReplaceAllString(in.Name, ".state"))
	}
	return out
}

func TestGCRetentionKeepsChains(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	c, err := NewCheckpointer(store, "job", WithFullEvery(3), WithRetain(2), WithDeltaRatio(100), WithInlineDeltas(0))
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(1, 9))
	js := newJobState(1)
	models := map[uint64][]map[string]any{}
	for range 7 {
		js.mutate(r, 100, 1000)
		m, err := c.Checkpoint(ctx, nil, js.parts)
		require.NoError(t, err)
		models[m.ID] = js.snapshotModel()
	}
	// Chains: 1 | 1 2 | 1 2 3 | 4 | 4 5 | 4 5 6 | 7. Keeping 6 and 7 keeps
	// the objects of 4, 5 (the base and delta under 6), 6 and 7.
	res, err := c.GC(ctx)
	require.NoError(t, err)
	assert.Equal(t, []uint64{6, 7}, res.Retained)
	assert.Equal(t, []uint64{1, 2, 3, 4, 5}, res.DeletedCheckpoints)
	assert.Equal(t, 3, res.DeletedObjects)
	assert.Equal(t, []string{
		"job/chk-0000000004/p-0000.state",
		"job/chk-0000000005/p-0000.state",
		"job/chk-0000000006/MANIFEST",
		"job/chk-0000000006/p-0000.state",
		"job/chk-0000000007/MANIFEST",
		"job/chk-0000000007/p-0000.state",
	}, listNames(t, store, "job/"))
	for _, id := range []uint64{6, 7} {
		other := newJobState(1)
		_, err := c.Restore(ctx, id, other.parts)
		require.NoError(t, err)
		requireState(t, other, models[id])
	}
	res, err = c.GC(ctx)
	require.NoError(t, err)
	assert.Empty(t, res.DeletedCheckpoints)
	assert.Zero(t, res.DeletedObjects)
}

func TestGCOrphansAndStaleTombstones(t *testing.T) {
	ctx := context.Background()
	fs := &faultStore{Store: NewMemoryStore()}
	c, err := NewCheckpointer(fs, "job", WithInlineDeltas(0))
	require.NoError(t, err)
	js := newJobState(2)
	js.revs[0].Set("Q1", 1)
	js.revs[1].Set("Q2", 2)
	_, err = c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	fs.failCreate = func(name string) error {
		if strings.HasSuffix(name, "MANIFEST") {
			return errInjected
		}
		return nil
	}
	js.revs[0].Set("Q3", 3)
	_, err = c.Checkpoint(ctx, nil, js.parts)
	require.ErrorIs(t, err, errInjected)
	fs.failCreate = nil
	w, err := fs.Create(ctx, "job/chk-0000000001/GC-0123456789abcdef")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	orphan := "job/chk-0000000002/p-0000.state"
	require.Contains(t, listNames(t, fs, "job/"), orphan)

	// Young orphans may belong to a live writer: kept.
	res, err := c.GC(ctx)
	require.NoError(t, err)
	assert.Zero(t, res.DeletedObjects)
	require.Contains(t, listNames(t, fs, "job/"), orphan)

	later, err := NewCheckpointer(fs, "job", WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }))
	require.NoError(t, err)
	res, err = later.GC(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, res.DeletedObjects, "the orphan and the stale tombstone")
	assert.Equal(t, []string{
		"job/chk-0000000001/MANIFEST",
		"job/chk-0000000001/p-0000.state",
		"job/chk-0000000001/p-0001.state",
	}, listNames(t, fs, "job/"))
}

func TestSavepoints(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	c, err := NewCheckpointer(store, "job", WithRetain(1), WithFullEvery(2), WithInlineDeltas(0))
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(2, 2))
	js := newJobState(2)
	var pinned []map[string]any
	for i := range 6 {
		js.mutate(r, 100, 1000)
		m, err := c.Checkpoint(ctx, map[string]int64{"t/0": int64(i)}, js.parts)
		require.NoError(t, err)
		if m.ID == 2 {
			pinned = js.snapshotModel()
			sp, err := c.Savepoint(ctx, "v1", 0)
			require.NoError(t, err)
			assert.Equal(t, uint64(2), sp.ID)
			assert.Equal(t, "v1", sp.Savepoint)
		}
		_, err = c.GC(ctx)
		require.NoError(t, err)
	}
	_, err = c.Savepoint(ctx, "v1", 6)
	require.ErrorIs(t, err, ErrExist)
	_, err = c.Savepoint(ctx, "old", 2)
	require.ErrorIs(t, err, ErrNoCheckpoint, "checkpoint 2 itself has expired")
	_, err = c.Savepoint(ctx, "../x", 6)
	require.ErrorContains(t, err, "invalid savepoint name")
	_, err = c.Savepoint(ctx, "latest", 6)
	require.NoError(t, err)

	list, err := c.Savepoints(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "latest", list[0].Name)
	assert.Equal(t, uint64(6), list[0].Checkpoint)
	assert.Equal(t, "v1", list[1].Name)
	assert.Equal(t, uint64(2), list[1].Checkpoint)

	other := newJobState(2)
	c2, _ := NewCheckpointer(store, "job")
	m, err := c2.RestoreSavepoint(ctx, "v1", other.parts)
	require.NoError(t, err)
	assert.Equal(t, "job", m.Job)
	assert.Equal(t, map[string]int64{"t/0": 1}, m.Positions)
	requireState(t, other, pinned)
	_, err = c2.RestoreSavepoint(ctx, "nope", other.parts)
	require.ErrorIs(t, err, ErrNoCheckpoint)

	// Deleting the savepoint lets GC free its objects.
	before := len(listNames(t, store, "job/chk-"))
	require.NoError(t, c.DeleteSavepoint(ctx, "v1"))
	require.NoError(t, c.DeleteSavepoint(ctx, "v1"), "deleting twice is fine")
	res, err := c.GC(ctx)
	require.NoError(t, err)
	// Chains (full every 2): [1] [1 2] [3] [3 4] [5] [5 6]; v1 alone needed
	// chk-1 and chk-2, two partitions each.
	assert.Equal(t, 4, res.DeletedObjects)
	assert.Equal(t, before-res.DeletedObjects, len(listNames(t, store, "job/chk-")))
}

// jitterStore slows every operation by a random few microseconds so that
// the operations of concurrent writers and GCs interleave in many orders.
type jitterStore struct{ Store }

func jitter() { time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond) }

func (s jitterStore) Create(ctx context.Context, name string) (ObjectWriter, error) {
	jitter()
	w, err := s.Store.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return jitterWriter{w}, nil
}
func (s jitterStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	jitter()
	return s.Store.Open(ctx, name)
}
func (s jitterStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	jitter()
	return s.Store.List(ctx, prefix)
}
func (s jitterStore) Delete(ctx context.Context, name string) error {
	jitter()
	return s.Store.Delete(ctx, name)
}

type jitterWriter struct{ ObjectWriter }

func (w jitterWriter) Close() error { jitter(); return w.ObjectWriter.Close() }

// TestConcurrentWritersAndGC runs two instances of the same job, each
// checkpointing its own state, taking savepoints and collecting garbage as
// fast as it can, with no orphan age. Whatever the interleaving, every
// checkpoint and savepoint that exists at the end must restore exactly the
// state its writer had. Writers may fail with ErrExist (the other instance
// took the ID) or ErrConcurrentGC (the other's GC removed their base); the
// protocol is in the GC doc comment.
func TestConcurrentWritersAndGC(t *testing.T) {
	ctx := context.Background()
	store := jitterStore{NewMemoryStore()}
	var (
		mu        sync.Mutex
		expected  = map[uint64][]map[string]any{}
		spExpect  = map[string][]map[string]any{}
		ok, races int
	)
	rounds := 40
	if testing.Short() {
		rounds = 15
	}
	var wg sync.WaitGroup
	for inst := range 2 {
		wg.Go(func() {
			c, err := NewCheckpointer(store, "job", WithRetain(2), WithFullEvery(4), WithOrphanAge(0), WithDeltaRatio(100), WithInlineDeltas(0))
			if !assert.NoError(t, err) {
				return
			}
			r := rand.New(rand.NewPCG(uint64(inst), 77))
			js := newJobState(2)
			for i := range rounds {
				js.mutate(r, 20, 300)
				m, err := c.Checkpoint(ctx, map[string]int64{"inst": int64(inst)}, js.parts)
				mu.Lock()
				switch {
				case err == nil:
					ok++
					expected[m.ID] = js.snapshotModel()
				case errors.Is(err, ErrExist) || errors.Is(err, ErrConcurrentGC):
					races++
				default:
					assert.NoError(t, err)
				}
				mu.Unlock()
				if err == nil && i%7 == 3 {
					name := fmt.Sprintf("sp-%d-%d", inst, i)
					sp, err := c.Savepoint(ctx, name, m.ID)
					mu.Lock()
					switch {
					case err == nil:
						spExpect[name] = expected[sp.ID]
					case errors.Is(err, ErrNoCheckpoint) || errors.Is(err, ErrConcurrentGC):
						races++
					default:
						assert.NoError(t, err)
					}
					mu.Unlock()
				}
				_, err = c.GC(ctx)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d checkpoints written, %d lost a race", ok, races)
	require.Greater(t, ok, rounds/2)

	c, err := NewCheckpointer(store, "job", WithRetain(2))
	require.NoError(t, err)
	ids, err := c.Checkpoints(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, ids)
	assert.LessOrEqual(t, len(ids), 2)
	for _, id := range ids {
		js := newJobState(2)
		_, err := c.Restore(ctx, id, js.parts)
		require.NoError(t, err, "checkpoint %d", id)
		requireState(t, js, expected[id])
	}
	sps, err := c.Savepoints(ctx)
	require.NoError(t, err)
	for _, sp := range sps {
		js := newJobState(2)
		_, err := c.RestoreSavepoint(ctx, sp.Name, js.parts)
		require.NoError(t, err, "savepoint %s", sp.Name)
		requireState(t, js, spExpect[sp.Name])
	}
	// And after a last quiet GC nothing but what is needed remains.
	_, err = c.GC(ctx)
	require.NoError(t, err)
	for _, name := range listNames(t, store, "job/chk-") {
		assert.NotContains(t, name, "/"+tombstonePrefix)
	}
}
