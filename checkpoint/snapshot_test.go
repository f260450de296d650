package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// meta is a struct-valued state type, to exercise msgpack of structs.
type meta struct {
	Label string
	Seen  int
}

// jobState is one instance's tables plus a plain-map model of what they
// must hold, so tests can compare a restore with the truth.
type jobState struct {
	parts []PartitionState
	revs  []*EntityTable
	metas []*Table[string, meta]
	model []map[string]any // per partition: "rev/<id>" -> int64, "meta/<k>" -> meta
}

func newJobState(nParts int) *jobState {
	js := &jobState{}
	for p := range nParts {
		rev := NewEntityTable("rev", 1)
		mt := NewTable[string, meta]("meta", 1)
		js.revs = append(js.revs, rev)
		js.metas = append(js.metas, mt)
		js.parts = append(js.parts, PartitionState{Partition: p, Tables: []StateTable{rev, mt}})
		js.model = append(js.model, make(map[string]any))
	}
	return js
}

// mutate applies n random changes to every partition.
func (js *jobState) mutate(r *rand.Rand, n, keys int) {
	for p := range js.parts {
		for range n {
			id := randomID(r, keys)
			switch r.IntN(6) {
			case 0:
				js.revs[p].Delete(id)
				delete(js.model[p], "rev/"+id)
			case 1:
				k := fmt.Sprintf("k%d", r.IntN(keys/10+1))
				m := meta{Label: strings.Repeat("x", r.IntN(5)), Seen: r.IntN(100)}
				js.metas[p].Set(k, m)
				js.model[p]["meta/"+k] = m
			case 2:
				k := fmt.Sprintf("k%d", r.IntN(keys/10+1))
				js.metas[p].Delete(k)
				delete(js.model[p], "meta/"+k)
			default:
				v := r.Int64N(1<<50) - 1<<49
				js.revs[p].Set(id, v)
				js.model[p]["rev/"+id] = v
			}
		}
	}
}

// contents renders the tables of partition p like the model.
func contents(rev *EntityTable, mt *Table[string, meta]) map[string]any {
	out := make(map[string]any)
	rev.Range(func(id string, v int64) bool { out["rev/"+id] = v; return true })
	mt.Range(func(k string, v meta) bool { out["meta/"+k] = v; return true })
	return out
}

func (js *jobState) snapshotModel() []map[string]any {
	out := make([]map[string]any, len(js.model))
	for p, m := range js.model {
		out[p] = make(map[string]any, len(m))
		for k, v := range m {
			out[p][k] = v
		}
	}
	return out
}

func requireState(t testing.TB, js *jobState, want []map[string]any) {
	t.Helper()
	for p := range js.parts {
		require.Equal(t, want[p], contents(js.revs[p], js.metas[p]), "partition %d", p)
	}
}

// testStores returns the stores every snapshot test runs on.
func testStores(t *testing.T) map[string]func() Store {
	return map[string]func() Store{
		"memory": func() Store { return NewMemoryStore() },
		"file":   func() Store { return NewFileStore(t.TempDir()) },
	}
}

func countObjects(t testing.TB, s Store, prefix string) int {
	t.Helper()
	infos, err := s.List(context.Background(), prefix)
	require.NoError(t, err)
	return len(infos)
}

func TestCheckpointRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	for name, mk := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			store := mk()
			r := rand.New(rand.NewPCG(7, 8))
			js := newJobState(3)
			c, err := NewCheckpointer(store, "job", WithFullEvery(3), WithDeltaRatio(10))
			require.NoError(t, err)
			var chainLens []int
			for i := range 7 {
				js.mutate(r, 300, 2000)
				m, err := c.Checkpoint(ctx, map[string]int64{"topic/0": int64(100 * i)}, js.parts)
				require.NoError(t, err)
				require.Equal(t, uint64(i+1), m.ID)
				chainLens = append(chainLens, len(m.Partition(1).Chain))
				for _, p := range js.parts {
					for _, tb := range p.Tables {
						assert.Zero(t, tb.DirtyLen())
					}
				}
				// A fresh instance restores exactly the model.
				other := newJobState(3)
				c2, err := NewCheckpointer(store, "job")
				require.NoError(t, err)
				got, err := c2.RestoreLatest(ctx, other.parts)
				require.NoError(t, err)
				assert.Equal(t, m.ID, got.ID)
				assert.Equal(t, map[string]int64{"topic/0": int64(100 * i)}, got.Positions)
				requireState(t, other, js.model)
			}
			assert.Equal(t, []int{1, 2, 3, 1, 2, 3, 1}, chainLens)
			ids, err := c.Checkpoints(ctx)
			require.NoError(t, err)
			assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7}, ids)
		})
	}
}

func TestCheckpointIdlePartitionReusesLineage(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	js := newJobState(2)
	c, err := NewCheckpointer(store, "job", WithInlineDeltas(0))
	require.NoError(t, err)
	js.revs[0].Set("Q1", 1)
	js.revs[1].Set("Q2", 2)
	_, err = c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	js.revs[0].Set("Q3", 3)
	m, err := c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	// Partition 1 did not change: no new object, same lineage.
	assert.Equal(t, 2, countObjects(t, store, "job/chk-0000000002/"))
	assert.Equal(t, []string{"job/chk-0000000001/p-0001.state"}, refNames(m.Partition(1).Chain))
	assert.Equal(t, []string{"job/chk-0000000001/p-0000.state", "job/chk-0000000002/p-0000.state"}, refNames(m.Partition(0).Chain))
	assert.False(t, m.Partition(0).Chain[1].Full)
	assert.Equal(t, int64(1), m.Partition(0).Chain[1].Records)
}

// tokenRE matches the random token at the end of a snapshot object name.
var tokenRE = regexp.MustCompile(`-[0-9a-f]{16}\.state$`)

// refNames returns the names of refs without the random token of snapshot
// object names ("job/chk-0000000001/p-0000-<token>.state" gives
// "job/chk-0000000001/p-0000.state").
func refNames(refs []ObjectRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, tokenRE.ReplaceAllString(r.Name, ".state"))
	}
	return out
}

func TestDeltaRatioForcesBase(t *testing.T) {
	ctx := context.Background()
	js := newJobState(1)
	c, err := NewCheckpointer(NewMemoryStore(), "job", WithDeltaRatio(0.5))
	require.NoError(t, err)
	for i := range 1000 {
		js.revs[0].Set(fmt.Sprintf("Q%d", i+1), 1)
	}
	_, err = c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	for round, wantLen := range []int{2, 2, 1} {
		// 400 of 1000 keys change each round: the first delta is 40% of the
		// base, the second brings the chain to 80% > 50%, so the third
		// checkpoint writes a new base.
		for i := range 400 {
			js.revs[0].Set(fmt.Sprintf("Q%d", i+1), int64(round+2))
		}
		m, err := c.Checkpoint(ctx, nil, js.parts)
		require.NoError(t, err)
		if round == 1 {
			wantLen = 3
		}
		assert.Len(t, m.Partition(0).Chain, wantLen, "round %d", round)
	}
}

func TestCheckpointWithDeltaAfterRestore(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	r := rand.New(rand.NewPCG(3, 4))
	js := newJobState(2)
	c, err := NewCheckpointer(store, "job")
	require.NoError(t, err)
	js.mutate(r, 500, 1000)
	_, err = c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)

	// A new instance restores, changes a little and checkpoints a delta.
	js2 := newJobState(2)
	js2.model = js.snapshotModel()
	c2, err := NewCheckpointer(store, "job")
	require.NoError(t, err)
	_, err = c2.RestoreLatest(ctx, js2.parts)
	require.NoError(t, err)
	for _, p := range js2.parts {
		for _, tb := range p.Tables {
			assert.Zero(t, tb.DirtyLen(), "restore must not mark keys dirty")
		}
	}
	js2.mutate(r, 10, 1000)
	m, err := c2.Checkpoint(ctx, nil, js2.parts)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), m.ID)
	require.Len(t, m.Partition(0).Chain, 2)

	js3 := newJobState(2)
	_, err = c2.Restore(ctx, 2, js3.parts)
	require.NoError(t, err)
	requireState(t, js3, js2.model)
}

func TestRestoreNewPartitionStartsEmpty(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	js := newJobState(1)
	c, _ := NewCheckpointer(store, "job")
	js.revs[0].Set("Q1", 1)
	_, err := c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	js2 := newJobState(3)
	js2.revs[2].Set("Q9", 9) // stale content is reset
	_, err = c.RestoreLatest(ctx, js2.parts)
	require.NoError(t, err)
	assert.Equal(t, 1, js2.revs[0].Len())
	assert.Zero(t, js2.revs[1].Len())
	assert.Zero(t, js2.revs[2].Len())
}

func TestRestoreNoCheckpoint(t *testing.T) {
	ctx := context.Background()
	c, err := NewCheckpointer(NewMemoryStore(), "job")
	require.NoError(t, err)
	js := newJobState(1)
	_, err = c.RestoreLatest(ctx, js.parts)
	require.ErrorIs(t, err, ErrNoCheckpoint)
	_, err = c.Restore(ctx, 5, js.parts)
	require.ErrorIs(t, err, ErrNoCheckpoint)
	_, err = c.Restore(ctx, 5, js.parts, FallBackOnCorruption())
	require.ErrorIs(t, err, ErrNoCheckpoint)
}

func TestCheckpointRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	_, err := NewCheckpointer(NewMemoryStore(), "a/b")
	require.ErrorContains(t, err, "invalid job name")
	_, err = NewCheckpointer(nil, "job")
	require.Error(t, err)
	c, _ := NewCheckpointer(NewMemoryStore(), "job")
	for _, parts := range [][]PartitionState{
		{{Partition: -1}},
		{{Partition: 1}, {Partition: 1}},
		{{Partition: 0, Tables: []StateTable{NewEntityTable("a b", 1)}}},
		{{Partition: 0, Tables: []StateTable{NewEntityTable("a", 1), NewTable[int, int]("a", 1)}}},
		{{Partition: 0, Tables: []StateTable{NewEntityTable("a", 1)}}, {Partition: 1, Tables: []StateTable{NewEntityTable("a", 2)}}},
		{{Partition: 0, Tables: []StateTable{nil}}},
	} {
		_, err := c.Checkpoint(ctx, nil, parts)
		require.Error(t, err, "%+v", parts)
		assert.True(t, strings.HasPrefix(err.Error(), "checkpoint: "), err.Error())
	}
}

// faultStore wraps a Store and fails chosen operations.
type faultStore struct {
	Store
	mu sync.Mutex
	// failCreate, if set, is asked before each Create.
	failCreate func(name string) error
	// failWriteAt makes the writer of names containing failWriteName fail
	// once that many bytes were written.
	failWriteName string
	failWriteAt   int
}

func (f *faultStore) Create(ctx context.Context, name string) (ObjectWriter, error) {
	f.mu.Lock()
	fc, fwn, fwa := f.failCreate, f.failWriteName, f.failWriteAt
	f.mu.Unlock()
	if fc != nil {
		if err := fc(name); err != nil {
			return nil, err
		}
	}
	w, err := f.Store.Create(ctx, name)
	if err != nil || fwn == "" || !strings.Contains(name, fwn) {
		return w, err
	}
	return &failingWriter{ObjectWriter: w, left: fwa}, nil
}

type failingWriter struct {
	ObjectWriter
	left int
}

var errInjected = errors.New("injected failure")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n, _ := w.ObjectWriter.Write(p[:w.left])
		w.left = 0
		return n, errInjected
	}
	w.left -= len(p)
	return w.ObjectWriter.Write(p)
}

func TestCheckpointFailureKeepsDirtyAndPrevious(t *testing.T) {
	ctx := context.Background()
	fs := &faultStore{Store: NewMemoryStore()}
	r := rand.New(rand.NewPCG(5, 6))
	js := newJobState(2)
	c, err := NewCheckpointer(fs, "job", WithInlineDeltas(0))
	require.NoError(t, err)
	js.mutate(r, 200, 1000)
	_, err = c.Checkpoint(ctx, map[string]int64{"t/0": 1}, js.parts)
	require.NoError(t, err)
	first := js.snapshotModel()

	// Checkpoint 2 fails in the middle of writing partition 1's object.
	js.mutate(r, 200, 1000)
	fs.failWriteName, fs.failWriteAt = "p-0001", 100
	dirty := js.revs[1].DirtyLen()
	_, err = c.Checkpoint(ctx, map[string]int64{"t/0": 2}, js.parts)
	require.ErrorIs(t, err, errInjected)
	assert.Equal(t, dirty, js.revs[1].DirtyLen(), "dirty keys are kept after a failed checkpoint")
	assert.Zero(t, countObjects(t, fs, "job/chk-0000000002/MANIFEST"))

	// The previous checkpoint is what a restore sees.
	other := newJobState(2)
	m, err := c.RestoreLatest(ctx, other.parts)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), m.ID)
	requireState(t, other, first)

	// Checkpoint 3 fails on its manifest; checkpoint 4 succeeds with a delta
	// holding everything changed since checkpoint 1.
	fs.failWriteName = ""
	fs.failCreate = func(name string) error {
		if strings.HasSuffix(name, "MANIFEST") {
			return errInjected
		}
		return nil
	}
	_, err = c.Checkpoint(ctx, nil, js.parts)
	require.ErrorIs(t, err, errInjected)
	fs.failCreate = nil
	js.mutate(r, 50, 1000)
	m, err = c.Checkpoint(ctx, map[string]int64{"t/0": 4}, js.parts)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), m.ID, "IDs of failed checkpoints are not reused")
	assert.Equal(t, []string{"job/chk-0000000001/p-0001.state", "job/chk-0000000004/p-0001.state"}, refNames(m.Partition(1).Chain))
	other = newJobState(2)
	_, err = c.RestoreLatest(ctx, other.parts)
	require.NoError(t, err)
	requireState(t, other, js.model)
}

func TestTwoWritersSameCheckpointID(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	a, _ := NewCheckpointer(store, "job")
	b, _ := NewCheckpointer(store, "job")
	js := newJobState(1)
	js.revs[0].Set("Q1", 1)
	// b writes all of checkpoint 1 after a chose ID 1 and before a writes
	// its first object.
	var once sync.Once
	fs := &faultStore{Store: store, failCreate: func(name string) error {
		once.Do(func() {
			jb := newJobState(1)
			jb.revs[0].Set("Q2", 2)
			m, err := b.Checkpoint(ctx, nil, jb.parts)
			require.NoError(t, err)
			require.Equal(t, uint64(1), m.ID)
		})
		return nil
	}}
	a.store = fs
	_, err := a.Checkpoint(ctx, nil, js.parts)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrExist)
	assert.Equal(t, 1, js.revs[0].DirtyLen())
}

func TestSnapshotObjectsAreStreamedInBlocks(t *testing.T) {
	// A table larger than one block round-trips through several blocks and
	// sections; reading uses the block reader's Read path too (msgpack
	// strings longer than what is left in a block).
	ctx := context.Background()
	store := NewMemoryStore()
	c, _ := NewCheckpointer(store, "job")
	mt := NewTable[string, string]("big", 1)
	for i := range 3000 {
		mt.Set(fmt.Sprintf("key-%d", i), strings.Repeat("v", 300+i%7))
	}
	_, err := c.Checkpoint(ctx, nil, []PartitionState{{Partition: 0, Tables: []StateTable{mt}}})
	require.NoError(t, err)
	rc, err := store.Open(ctx, objectNamed(t, store, "job/chk-0000000001/p-0000-"))
	require.NoError(t, err)
	data, _ := io.ReadAll(rc)
	_ = rc.Close()
	assert.Greater(t, len(data), 3*defaultBlock)
	mt2 := NewTable[string, string]("big", 1)
	_, err = c.RestoreLatest(ctx, []PartitionState{{Partition: 0, Tables: []StateTable{mt2}}})
	require.NoError(t, err)
	assert.Equal(t, mt.m, mt2.m)
}
