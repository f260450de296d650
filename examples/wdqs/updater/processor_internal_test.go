package updater

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

func TestProcessorOutputPartition(t *testing.T) {
	cfg := Config{
		Brokers: []string{"b"}, Topics: []string{"t"}, Filter: Filter{Hostname: "h", EntityNamespaces: []int{0}},
		EntityDataURL: "http://h/wiki/Special:EntityData/", OutputTopic: "o", CheckpointStore: checkpoint.NewMemoryStore(),
	}
	c, err := cfg.withDefaults()
	require.NoError(t, err)
	// A fixed partition: task 0 only; another task would interleave chunks.
	p, err := newProcessor(c, streamkit.TaskInfo{Task: 0}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(0), p.partition)
	_, err = newProcessor(c, streamkit.TaskInfo{Task: 1}, nil, nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "interleave")
	// Per task.
	cfg.OutputPartition = OutputPartitionPerTask
	c, err = cfg.withDefaults()
	require.NoError(t, err)
	p, err = newProcessor(c, streamkit.TaskInfo{Task: 3}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(3), p.partition)
	assert.Len(t, p.Tables(), 2, "entity states and the re-order buffer")
	// Below -1 is refused.
	cfg.OutputPartition = -2
	_, err = cfg.withDefaults()
	require.ErrorIs(t, err, ErrInvalidConfig)
}

// recorder is a streamkit.RecordSender that keeps what it is sent.
type recorder struct{ recs []streamkit.KafkaRecord }

func (r *recorder) Send(_ context.Context, rec streamkit.KafkaRecord) error {
	r.recs = append(r.recs, rec)
	return nil
}

func (r *recorder) ops(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, rec := range r.recs {
		if rec.Topic != "o" {
			out = append(out, rec.Topic)
			continue
		}
		v, err := internalValidator()
		require.NoError(t, err)
		require.NoError(t, v.Validate(rec.Value), "every rdf_change event matches its schema")
		ev, err := rdfdiff.DecodeEvent(rec.Value)
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("%s %s@%d", ev.Operation, ev.EntityID, ev.Revision))
	}
	r.recs = nil
	return out
}

// TestProcessorFastPath: an edit whose parent is the entity's revision skips
// the re-order buffer and goes out at the next barrier (Flush); one that is
// not in order waits for the watermark.
func TestProcessorFastPath(t *testing.T) {
	ctx := context.Background()
	revs := map[string]string{"Q2/1": "testdata/entities/Q2-rev1.ttl", "Q2/2": "testdata/entities/Q2-rev2.ttl", "Q2/3": "testdata/entities/Q2-rev1.ttl"}
	srv := httptest.NewServer(EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		f, ok := revs[fmt.Sprintf("%s/%d", id, rev)]
		if !ok {
			return nil, false
		}
		b, err := os.ReadFile(f)
		return b, err == nil
	}))
	defer srv.Close()
	cfg := Config{
		Brokers: []string{"b"}, Topics: []string{"t"}, Filter: Filter{Hostname: "test.wikidata.org", EntityNamespaces: []int{0}, ContentModels: []string{"wikibase-item"}},
		EntityDataURL: srv.URL + EntityDataPath, OutputTopic: "o", CheckpointStore: checkpoint.NewMemoryStore(),
		StateInconsistencyTopic: "inconsistent", ReorderWindow: 10 * time.Second, MaxLateness: time.Second,
	}
	c, err := cfg.withDefaults()
	require.NoError(t, err)
	out := &recorder{}
	p, err := newProcessor(c, streamkit.TaskInfo{Task: 0}, out, newFetcher(c, rdfdiff.NewMunger(*c.Scheme)))
	require.NoError(t, err)
	t0 := time.Date(2024, 10, 4, 15, 0, 0, 0, time.UTC)
	edit := func(rev, parent int64, dt time.Time) *source.Record {
		ev := map[string]any{
			"$schema": "/mediawiki/page/change/1.2.0", "page_change_kind": "edit", "dt": dt.Format(time.RFC3339),
			"meta":     map[string]any{"domain": "test.wikidata.org", "dt": dt.Format(time.RFC3339), "stream": "mediawiki.page_change.v1"},
			"page":     map[string]any{"page_id": 1, "page_title": "Q2", "namespace_id": 0},
			"revision": map[string]any{"rev_id": rev, "rev_parent_id": parent, "content_slots": map[string]any{"main": map[string]any{"content_model": "wikibase-item"}}},
		}
		if parent == 0 {
			delete(ev["revision"].(map[string]any), "rev_parent_id")
		}
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		return &source.Record{Topic: "t", Value: b}
	}

	// Unknown entity: buffered until the watermark passes time + window.
	require.NoError(t, p.Process(ctx, edit(1, 0, t0)))
	require.NoError(t, p.Flush(ctx))
	assert.Empty(t, out.ops(t))
	require.NoError(t, p.OnWatermark(ctx, t0.Add(10*time.Second)))
	require.NoError(t, p.Flush(ctx)) // released events are written by the next barrier at the latest
	assert.Equal(t, []string{"import Q2@1"}, out.ops(t))

	// In order (parent 1 = state): out at the next barrier, no watermark.
	require.NoError(t, p.Process(ctx, edit(2, 1, t0.Add(time.Second))))
	assert.Empty(t, out.ops(t), "held until the barrier")
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, []string{"diff Q2@2"}, out.ops(t))
	assert.Equal(t, EntityState{Known: true, Revision: 2}, p.State("Q2"))

	// A duplicate is ignored at once too; an edit whose parent is unknown
	// (3's parent 2 is fine, 5's parent 4 is not) waits for the watermark,
	// and so does everything of its entity behind it.
	require.NoError(t, p.Process(ctx, edit(2, 1, t0.Add(time.Second))))
	require.NoError(t, p.Process(ctx, edit(5, 4, t0.Add(5*time.Second))))
	require.NoError(t, p.Process(ctx, edit(3, 2, t0.Add(3*time.Second))))
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, []string{"inconsistent"}, out.ops(t))
	require.NoError(t, p.OnWatermark(ctx, t0.Add(13*time.Second)))
	require.NoError(t, p.Flush(ctx)) // released events are written by the next barrier at the latest
	assert.Equal(t, []string{"diff Q2@3"}, out.ops(t))
	assert.Equal(t, 1, p.buf.Len(), "5 waits for its time")

	// An event time the buffer cannot hold is the record's fault: a
	// "reorder" stage error, which the job dead-letters.
	err = p.Process(ctx, edit(9, 8, time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)))
	var se *streamkit.StageError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "reorder", se.Stage)
	assert.NotErrorIs(t, err, streamkit.ErrTransient)
}

// TestProcessorPropertyArrivalOrder: whatever order the events of several
// entities arrive in, as long as each arrives within the re-ordering window,
// the updater emits the same operations per entity as for an in-order
// stream, and nothing goes to a side output.
func TestProcessorPropertyArrivalOrder(t *testing.T) {
	ctx := context.Background()
	rev1, err := os.ReadFile("testdata/entities/Q2-rev1.ttl")
	require.NoError(t, err)
	rev2, err := os.ReadFile("testdata/entities/Q2-rev2.ttl")
	require.NoError(t, err)
	srv := httptest.NewServer(EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		doc := rev1
		if rev%2 == 0 {
			doc = rev2
		}
		return bytes.ReplaceAll(doc, []byte("Q2"), []byte(id)), true
	}))
	defer srv.Close()
	const window = 8 // seconds; arrival displacement is below it
	cfg := Config{
		Brokers: []string{"b"}, Topics: []string{"t"}, Filter: Filter{Hostname: "test.wikidata.org", EntityNamespaces: []int{0}, ContentModels: []string{"wikibase-item"}},
		EntityDataURL: srv.URL + EntityDataPath, OutputTopic: "o", CheckpointStore: checkpoint.NewMemoryStore(),
		LapsedActionTopic: "lapsed", StateInconsistencyTopic: "inconsistent", FetchFailureTopic: "failed",
		ReorderWindow: window * time.Second,
	}
	c, err := cfg.withDefaults()
	require.NoError(t, err)
	fetcher := newFetcher(c, rdfdiff.NewMunger(*c.Scheme))
	t0 := time.Date(2024, 10, 4, 15, 0, 0, 0, time.UTC)

	// Three entities, each created, edited four times and deleted,
	// interleaved one event per second.
	type event struct {
		kind, id    string
		rev, parent int64
		dt          time.Time
	}
	var history []event
	for step := range 6 {
		for i, id := range []string{"Q2", "Q7", "Q9"} {
			rev := int64(100*(i+1) + step + 1)
			e := event{kind: "edit", id: id, rev: rev, parent: rev - 1}
			switch step {
			case 0:
				e.kind, e.parent = "create", 0
			case 5:
				e.kind, e.rev, e.parent = "delete", rev-1, 0
			}
			e.dt = t0.Add(time.Duration(len(history)) * time.Second)
			history = append(history, e)
		}
	}
	record := func(e event) *source.Record {
		r := map[string]any{"rev_id": e.rev, "content_slots": map[string]any{"main": map[string]any{"content_model": "wikibase-item"}}}
		if e.parent > 0 {
			r["rev_parent_id"] = e.parent
		}
		b, err := json.Marshal(map[string]any{
			"$schema": "/mediawiki/page/change/1.2.0", "page_change_kind": e.kind, "dt": e.dt.Format(time.RFC3339),
			"meta": map[string]any{"domain": "test.wikidata.org", "dt": e.dt.Format(time.RFC3339), "stream": "mediawiki.page_change.v1"},
			"page": map[string]any{"page_id": 1, "page_title": e.id, "namespace_id": 0}, "revision": r,
		})
		require.NoError(t, err)
		return &source.Record{Topic: "t", Value: b}
	}
	// run feeds the events in the given order, moving the watermark to the
	// newest event time after each (no lateness), with a barrier every few
	// events, and returns the operations per entity.
	run := func(order []int) map[string][]string {
		out := &recorder{}
		p, err := newProcessor(c, streamkit.TaskInfo{}, out, fetcher)
		require.NoError(t, err)
		var wm time.Time
		for n, i := range order {
			require.NoError(t, p.Process(ctx, record(history[i])))
			if history[i].dt.After(wm) {
				wm = history[i].dt
				require.NoError(t, p.OnWatermark(ctx, wm))
			}
			if n%4 == 3 {
				require.NoError(t, p.Flush(ctx))
			}
		}
		require.NoError(t, p.OnWatermark(ctx, wm.Add(time.Hour)))
		require.NoError(t, p.Flush(ctx))
		got := map[string][]string{}
		for _, op := range out.ops(t) {
			f := strings.Fields(op)
			require.Len(t, f, 2, "side output: %s", op)
			id := f[1][:strings.IndexByte(f[1], '@')]
			got[id] = append(got[id], op)
		}
		return got
	}
	inOrder := make([]int, len(history))
	for i := range inOrder {
		inOrder[i] = i
	}
	want := run(inOrder)
	require.Equal(t, []string{"import Q2@101", "diff Q2@102", "diff Q2@103", "diff Q2@104", "diff Q2@105", "delete Q2@105"}, want["Q2"])
	require.Len(t, want, 3)
	for seed := uint64(1); seed <= 25; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		arrival := make([]int, len(history))
		for i := range arrival {
			arrival[i] = i + rng.IntN(window-1)
		}
		order := slices.Clone(inOrder)
		slices.SortStableFunc(order, func(a, b int) int { return arrival[a] - arrival[b] })
		assert.Equal(t, want, run(order), "seed %d, order %v", seed, order)
	}
}
