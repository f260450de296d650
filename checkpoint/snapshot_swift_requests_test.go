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

// TestTwoWritersRaceForOneCheckpointOnSwift: two instances restored from
// the same checkpoint write the next one, with different state, at the
// same time, so both pick the same ID. Their snapshot objects cannot
// collide (random names), only their manifests can: whatever the outcome
// of that race (normally one ErrExist; both may succeed when their
// uploads overlap, see SwiftStore), the checkpoint under that ID restores
// without error to exactly one writer's state, with inline deltas and
// with delta objects.
func TestTwoWritersRaceForOneCheckpointOnSwift(t *testing.T) {
	conn := checkpointtest.RealSwiftConnection(t)
	for _, inline := range []int{checkpoint.InlineDeltasBudget, 0} {
		for round := range 4 {
			t.Run(fmt.Sprintf("inline=%d/round=%d", inline, round), func(t *testing.T) {
				ctx := context.Background()
				store := checkpoint.NewSwiftStore(conn, checkpointtest.TempContainer(t, conn))
				newTable := func() (*checkpoint.EntityTable, []checkpoint.PartitionState) {
					tbl := checkpoint.NewEntityTable("rev", 1)
					return tbl, []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{tbl}}}
				}
				base, baseParts := newTable()
				for i := range 1000 {
					base.Set(fmt.Sprintf("Q%d", i+1), 1)
				}
				first, err := checkpoint.NewCheckpointer(store, "job", checkpoint.WithInlineDeltas(inline))
				require.NoError(t, err)
				_, err = first.Checkpoint(ctx, map[string]int64{"t/0": 1}, baseParts)
				require.NoError(t, err)

				type writer struct {
					c     *checkpoint.Checkpointer
					tbl   *checkpoint.EntityTable
					parts []checkpoint.PartitionState
					m     *checkpoint.Manifest
					err   error
				}
				ws := make([]*writer, 2)
				for i := range ws {
					c, err := checkpoint.NewCheckpointer(store, "job", checkpoint.WithInlineDeltas(inline))
					require.NoError(t, err)
					tbl, parts := newTable()
					_, err = c.RestoreLatest(ctx, parts)
					require.NoError(t, err)
					for k := range 200 {
						tbl.Set(fmt.Sprintf("Q%d", k*5+i+1), int64(100+i)) // each writer its own keys and values
					}
					ws[i] = &writer{c: c, tbl: tbl, parts: parts}
				}
				var wg sync.WaitGroup
				for i, w := range ws {
					wg.Go(func() { w.m, w.err = w.c.Checkpoint(ctx, map[string]int64{"t/0": int64(10 + i)}, w.parts) })
				}
				wg.Wait()
				// Under load one writer may list after the other committed
				// and take ID 3: then there was no race, which is logged.
				var won []int
				for i, w := range ws {
					if w.err == nil {
						if w.m.ID == 2 {
							won = append(won, i)
						} else {
							t.Logf("writer %d took checkpoint %d: no race this round", i, w.m.ID)
						}
					} else {
						require.ErrorIs(t, w.err, checkpoint.ErrExist, "writer %d", i)
					}
				}
				require.NotEmpty(t, won, "a writer commits checkpoint 2")

				got, gotParts := newTable()
				reader, err := checkpoint.NewCheckpointer(store, "job")
				require.NoError(t, err)
				m, err := reader.Restore(ctx, 2, gotParts)
				require.NoError(t, err, "the checkpoint restores whole")
				winner := ws[m.Positions["t/0"]-10]
				assert.Contains(t, won, int(m.Positions["t/0"]-10), "the manifest is a writer's that saw success")
				assert.Equal(t, winner.tbl.Len(), got.Len())
				winner.tbl.Range(func(id string, v int64) bool {
					g, ok := got.Get(id)
					assert.True(t, ok && g == v, "key %s: got %d, want %d", id, g, v)
					return ok && g == v
				})
			})
		}
	}
}
