package updater_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// entityServer is a Special:EntityData stand-in (updater.EntityDataHandler)
// serving fixture revisions ("Q42/100" → Turtle); the revisions in fail
// answer 500, so their fetch fails after the retries. It logs the requested
// revisions.
type entityServer struct {
	*httptest.Server
	mu  sync.Mutex
	log []string
}

func newEntityServer(t *testing.T, revs map[string][]byte, fail ...string) *entityServer {
	s := &entityServer{}
	data := updater.EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		b, ok := revs[fmt.Sprintf("%s/%d", id, rev)]
		return b, ok
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, updater.EntityDataPath), ".ttl")
		key := id + "/" + r.URL.Query().Get("revision")
		s.mu.Lock()
		s.log = append(s.log, key)
		s.mu.Unlock()
		if slices.Contains(fail, key) {
			http.Error(w, "backend down", http.StatusInternalServerError)
			return
		}
		data.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *entityServer) requested(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range s.log {
		if k == key {
			n++
		}
	}
	return n
}

var base = time.Date(2024, 10, 4, 15, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return base.Add(time.Duration(n) * time.Second) }

// pageChange builds a mediawiki.page_change.v1 event from the item-edit
// fixture.
func pageChange(t *testing.T, kind, title string, ns int, model string, rev, parent int64, dt time.Time, domain string) kafkatest.Record {
	t.Helper()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(fixture(t, "events/item-edit.json"), &ev))
	ev["page_change_kind"] = kind
	ev["dt"] = dt.Format(time.RFC3339)
	page := ev["page"].(map[string]any)
	page["page_title"], page["namespace_id"] = title, ns
	r := ev["revision"].(map[string]any)
	r["rev_id"] = rev
	if parent > 0 {
		r["rev_parent_id"] = parent
	} else {
		delete(r, "rev_parent_id")
	}
	r["content_slots"].(map[string]any)["main"].(map[string]any)["content_model"] = model
	meta := ev["meta"].(map[string]any)
	meta["domain"], meta["dt"] = domain, dt.Format(time.RFC3339)
	meta["request_id"] = fmt.Sprintf("req-%s-%d-%s", title, rev, kind)
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	requireSchemaValid(t, b, "input %s %s@%d", kind, title, rev)
	return kafkatest.Record{Value: b, Timestamp: dt}
}

// brokenPageChange is the create of Q7 with a changelog_kind its schema
// does not allow: without input validation the updater would take it.
func brokenPageChange(t *testing.T) kafkatest.Record {
	t.Helper()
	rec := item(t, "create", "Q7", 70, 0, sec(6))
	valid := rec.Value
	rec.Value = bytes.Replace(valid, []byte(`"changelog_kind":"update"`), []byte(`"changelog_kind":"upsert"`), 1)
	require.NotEqual(t, valid, rec.Value)
	return rec
}

// header returns the value of the record's last header key.
func header(rec kafkatest.Record, key string) string {
	v := ""
	for _, h := range rec.Headers {
		if h.Key == key {
			v = string(h.Value)
		}
	}
	return v
}

func item(t *testing.T, kind, id string, rev, parent int64, dt time.Time) kafkatest.Record {
	return pageChange(t, kind, id, 0, "wikibase-item", rev, parent, dt, "test.wikidata.org")
}

// sentinel is an event of another wiki: filtered out, it still moves the
// watermark, releasing what the re-order buffer holds.
func sentinel(t *testing.T, dt time.Time) kafkatest.Record {
	return pageChange(t, "edit", "Q1", 0, "wikibase-item", 1, 0, dt, "other.wiki.org")
}

func reconcile(t *testing.T, id string, rev int64, dt time.Time) kafkatest.Record {
	t.Helper()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(fixture(t, "events/reconcile-creation.json"), &ev))
	ev["item"], ev["revision_id"] = id, rev
	ev["meta"].(map[string]any)["dt"] = dt.Format(time.RFC3339)
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return kafkatest.Record{Value: b, Timestamp: dt}
}

// munged parses and munges one fixture revision, as the updater must.
func munged(t *testing.T, id string, ttl []byte) []rdfdiff.Triple {
	t.Helper()
	ts, err := rdfdiff.ParseTurtleBytes(ttl)
	require.NoError(t, err)
	m, err := rdfdiff.NewMunger(rdfdiff.WikidataScheme()).Munge(id, ts)
	require.NoError(t, err)
	return m
}

// changes reassembles the rdf_change events of the output topic.
func changes(t *testing.T, recs []kafkatest.Record) []*rdfdiff.EntityChange {
	t.Helper()
	// One reassembler per partition, as a consumer has.
	rs := map[int32]*rdfdiff.Reassembler{}
	var out []*rdfdiff.EntityChange
	for _, rec := range recs {
		r := rs[rec.Partition]
		if r == nil {
			r = rdfdiff.NewReassembler()
			rs[rec.Partition] = r
		}
		requireSchemaValid(t, rec.Value, "rdf_change event at offset %d", rec.Offset)
		ev, err := rdfdiff.DecodeEvent(rec.Value)
		require.NoError(t, err, "offset %d", rec.Offset)
		require.Equal(t, rdfdiff.SchemaRDFChangeV2, ev.Schema)
		require.Equal(t, "test.wikidata.org", ev.Meta.Domain)
		require.Equal(t, updater.DefaultOutputStream, ev.Meta.Stream)
		c, err := r.Add(ev, rec.Offset)
		require.NoError(t, err)
		if c != nil {
			out = append(out, c)
		}
	}
	for p, r := range rs {
		require.Empty(t, r.Pending(), "a partial event in output partition %d", p)
	}
	return out
}

func sorted(p rdfdiff.Patch) rdfdiff.Patch {
	for _, b := range []*[]rdfdiff.Triple{&p.Added, &p.Removed, &p.LinkedShared, &p.UnlinkedShared} {
		if len(*b) == 0 {
			*b = nil
		} else {
			rdfdiff.SortTriples(*b)
		}
	}
	return p
}

func sideEvents(t *testing.T, recs []kafkatest.Record) []updater.SideOutputEvent {
	t.Helper()
	var out []updater.SideOutputEvent
	for _, r := range recs {
		var e updater.SideOutputEvent
		require.NoError(t, json.Unmarshal(r.Value, &e))
		out = append(out, e)
	}
	return out
}

// TestUpdaterEndToEnd runs the updater against an in-process Kafka cluster
// and an EntityData server over the fixture entities: page_change events
// of two data centers, out of order, duplicated, with a fetch failure, a
// delete, a restart, a late event and a reconcile, and checks every
// rdf_change event against what rdfdiff computes for the same revisions and
// every side-output event against the fields of WDQS's JsonEncoders.scala.
func TestUpdaterEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	q2r1, q2r2 := fixture(t, "entities/Q2-rev1.ttl"), fixture(t, "entities/Q2-rev2.ttl")
	q42 := fixture(t, "entities/Q42.ttl")
	q42edited := []byte(strings.Replace(string(q42), `wdt:P1813 "Douglas Adams"@en`, `wdt:P1813 "Douglas N. Adams"@en`, 1))
	require.NotEqual(t, q42, q42edited)
	lex := fixture(t, "entities/L691820.ttl")
	srv := newEntityServer(t, map[string][]byte{
		"Q2/1": q2r1, "Q2/2": q2r2, "Q2/3": q2r1, // revision 3 reverts to 1
		"Q42/100": q42, "Q42/102": q42edited, // 101: the backend fails
		"L691820/50": lex,
	}, "Q42/101")

	cl := kafkatest.NewCluster(t)
	const (
		eqiad, codfw = "eqiad.mediawiki.page_change.v1", "codfw.mediawiki.page_change.v1"
		reconcileIn  = "eqiad.rdf-streaming-updater.reconcile"
		out          = "eqiad.rdf-streaming-updater.mutation"
		lapsed       = "lapsed-action"
		inconsistent = "state-inconsistency"
		failed       = "fetch-failure"
	)
	for _, topic := range []string{eqiad, codfw, reconcileIn, out, lapsed, inconsistent, failed, "dlq"} {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	store := checkpoint.NewMemoryStore()
	metrics := &updater.Metrics{}
	cfg := updater.Config{
		Brokers: cl.Addrs(), Topics: []string{eqiad, codfw, reconcileIn}, Sarama: cl.SaramaConfig(),
		Filter:        wikidataFilter,
		ValidateInput: true,
		EntityDataURL: srv.URL + updater.EntityDataPath,
		FetchAttempts: 2, FetchRetryDelay: 10 * time.Millisecond,
		ReorderWindow: time.Second, MaxLateness: time.Second, IdleTimeout: 2 * time.Second,
		OutputTopic: out, LapsedActionTopic: lapsed, StateInconsistencyTopic: inconsistent, FetchFailureTopic: failed,
		DeadLetterTopic: "dlq", EmitterID: "e2e",
		CheckpointStore: store, CheckpointInterval: 200 * time.Millisecond,
		Metrics: metrics,
	}

	// Phase 1: every event is in Kafka before the job starts, out of
	// order; codfw repeats Q2's second revision.
	require.NoError(t, cl.Produce(ctx, eqiad,
		item(t, "edit", "Q2", 2, 1, sec(2)),
		item(t, "create", "Q2", 1, 0, sec(1)),
		item(t, "create", "Q42", 100, 0, sec(3)),
		item(t, "edit", "Q42", 101, 100, sec(4)),
		item(t, "edit", "Q42", 102, 101, sec(5)),
		pageChange(t, "create", "Lexeme:L691820", 146, "wikibase-lexeme", 50, 0, sec(6), "test.wikidata.org"),
		pageChange(t, "delete", "Lexeme:L691820", 146, "wikibase-lexeme", 50, 0, sec(7), "test.wikidata.org"),
		brokenPageChange(t),
		kafkatest.Record{Value: []byte(`{"not": "an event"}`)},
		sentinel(t, sec(600)),
	))
	require.NoError(t, cl.Produce(ctx, codfw, item(t, "edit", "Q2", 2, 1, sec(2)), sentinel(t, sec(600))))

	runJob := func() (*streamkit.Job, chan error) {
		job, err := updater.NewJob(cfg)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- job.Run(ctx) }()
		return job, done
	}
	waitChanges := func(n int) []*rdfdiff.EntityChange {
		var got []*rdfdiff.EntityChange
		require.NoError(t, cl.WaitFor(ctx, fmt.Sprintf("%d rdf_change events", n), func(ctx context.Context) (bool, string, error) {
			recs, err := cl.ReadCommitted(ctx, out)
			if err != nil {
				return false, "", err
			}
			got = changes(t, recs)
			return len(got) >= n, fmt.Sprintf("%d events", len(got)), nil
		}))
		return got
	}

	job, done := runJob()
	got := waitChanges(6)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	// A restart (a checkpoint failing on a loaded machine) reprocesses
	// from the commit point: the output stays exact, the counters and the
	// request log do not.
	restarts := job.Stats().Restarts

	// Phase 2, a new instance from the commit points: Q2's third revision
	// (a diff from the restored state), then, once the watermark is past
	// it, a late revision of Q42 and a reconcile of Q42.
	require.NoError(t, cl.Produce(ctx, eqiad, item(t, "edit", "Q2", 3, 2, sec(601)), sentinel(t, sec(1200))))
	require.NoError(t, cl.Produce(ctx, codfw, sentinel(t, sec(1200))))
	job, done = runJob()
	got = waitChanges(7)
	// Q2@3 is an in-order edit: it skipped the buffer (the fast path), so
	// its output may precede the watermark; the late event must follow it.
	require.NoError(t, cl.WaitFor(ctx, "the watermark past the sentinels", func(context.Context) (bool, string, error) {
		wm := job.Stats().Watermark
		return !wm.Before(sec(1199)), wm.String(), nil
	}))
	require.NoError(t, cl.Produce(ctx, eqiad, item(t, "edit", "Q42", 99, 98, sec(1))))
	require.NoError(t, cl.Produce(ctx, reconcileIn, reconcile(t, "Q42", 102, sec(1201))))
	got = waitChanges(8)
	_, err := cl.WaitForRecords(ctx, lapsed, 1)
	require.NoError(t, err)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	restarts += job.Stats().Restarts

	// The rdf_change events, per entity in revision order, each equal to
	// what rdfdiff gives for the same revisions.
	shared := rdfdiff.WikibaseShared(rdfdiff.WikidataScheme())
	type key struct {
		id  string
		rev int64
		op  rdfdiff.Operation
	}
	byKey := map[key]*rdfdiff.EntityChange{}
	perEntity := map[string][]int64{}
	for _, c := range got {
		k := key{c.EntityID, c.Revision, c.Operation}
		require.Nil(t, byKey[k], "duplicate %v", k)
		byKey[k] = c
		perEntity[c.EntityID] = append(perEntity[c.EntityID], c.Revision)
	}
	assert.Equal(t, map[string][]int64{"Q2": {1, 2, 3}, "Q42": {100, 102, 102}, "L691820": {50, 50}}, perEntity)
	imp := func(id string, ttl []byte) rdfdiff.Patch { return rdfdiff.Diff(nil, munged(t, id, ttl), shared) }
	diff := func(id string, from, to []byte) rdfdiff.Patch {
		return rdfdiff.Diff(munged(t, id, from), munged(t, id, to), shared)
	}
	want := map[key]rdfdiff.Patch{
		{"Q2", 1, rdfdiff.OpImport}:    imp("Q2", q2r1),
		{"Q2", 2, rdfdiff.OpDiff}:      diff("Q2", q2r1, q2r2),
		{"Q2", 3, rdfdiff.OpDiff}:      diff("Q2", q2r2, q2r1),
		{"Q42", 100, rdfdiff.OpImport}: imp("Q42", q42),
		// The fix: 101 failed, so 102 is diffed from 100, the revision the
		// store has, not from 101.
		{"Q42", 102, rdfdiff.OpDiff}:      diff("Q42", q42, q42edited),
		{"Q42", 102, rdfdiff.OpReconcile}: {Added: imp("Q42", q42edited).Added},
		{"L691820", 50, rdfdiff.OpImport}: imp("L691820", lex),
		{"L691820", 50, rdfdiff.OpDelete}: {},
	}
	require.Len(t, byKey, len(want))
	for k, p := range want {
		c := byKey[k]
		require.NotNil(t, c, "missing %v", k)
		assert.Equal(t, sorted(p), sorted(c.Patch), "%v", k)
		assert.False(t, c.EventTime.IsZero())
	}
	assert.Equal(t, "req-Q2-2-edit", byKey[key{"Q2", 2, rdfdiff.OpDiff}].RequestID)
	assert.Equal(t, sec(5), byKey[key{"Q42", 102, rdfdiff.OpDiff}].EventTime)
	assert.Len(t, diff("Q42", q42, q42edited).Added, 1)
	if restarts == 0 {
		// Revision 100: fetched once, for the import; the bases of 101's
		// failed diff and of 102's diff come from the revision cache.
		assert.Equal(t, 1, srv.requested("Q42/100"))
		assert.Equal(t, 2, srv.requested("Q42/101"), "FetchAttempts requests for the failing revision")
	} else {
		t.Logf("%d restart(s): request and counter checks relaxed", restarts)
		assert.Zero(t, srv.requested("Q42/101")%2, "FetchAttempts requests per try of the failing revision")
	}

	// Side outputs.
	ff, err := cl.ReadCommitted(ctx, failed)
	require.NoError(t, err)
	fe := sideEvents(t, ff)
	require.Len(t, fe, 1)
	assert.Equal(t, updater.SchemaFetchFailure, fe[0].Schema)
	assert.Equal(t, updater.StreamFetchFailure, fe[0].Meta.Stream)
	assert.Equal(t, "Q42", fe[0].Item)
	assert.Equal(t, int64(101), fe[0].RevisionID)
	assert.Equal(t, "diff", fe[0].OpType)
	assert.Equal(t, int64(100), fe[0].FromRevisionID)
	assert.Equal(t, updater.FetchUnexpectedResponse, fe[0].FetchErrorType)
	assert.Contains(t, fe[0].ExceptionMsg, "cannot fetch entity Q42 revision 101")
	assert.Equal(t, "e2e", fe[0].EmitterID)
	assert.Equal(t, "req-Q42-101-edit", fe[0].OriginalEventInfo.Meta.RequestID)
	assert.Equal(t, sec(4), fe[0].OriginalEventInfo.DT)

	inc, err := cl.ReadCommitted(ctx, inconsistent)
	require.NoError(t, err)
	ie := sideEvents(t, inc)
	require.Len(t, ie, 1, "codfw's copy of Q2@2")
	assert.Equal(t, "Q2", ie[0].Item)
	assert.Equal(t, int64(2), ie[0].RevisionID)
	assert.Equal(t, updater.ActionRevisionCreate, ie[0].ActionType)
	assert.Equal(t, int64(1), ie[0].ParentRevisionID)
	assert.Equal(t, updater.InconsistencyNewerRevisionSeen, ie[0].Inconsistency)
	assert.Equal(t, int64(2), ie[0].StateRevisionID)
	assert.Equal(t, updater.StatusCreated, ie[0].StateStatus)

	la, err := cl.ReadCommitted(ctx, lapsed)
	require.NoError(t, err)
	le := sideEvents(t, la)
	require.Len(t, le, 1)
	assert.Equal(t, updater.SchemaLapsedAction, le[0].Schema)
	assert.Equal(t, "Q42", le[0].Item)
	assert.Equal(t, int64(99), le[0].RevisionID)
	assert.Equal(t, int64(98), le[0].ParentRevisionID)
	assert.Equal(t, updater.ActionRevisionCreate, le[0].ActionType)
	assert.Equal(t, "mediawiki.page_change.v1", le[0].OriginalEventInfo.Meta.Stream)

	dlq, err := cl.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	require.Len(t, dlq, 2)
	// The page_change event that breaks its schema (ValidateInput), with
	// where and why in the dead letter.
	assert.Equal(t, string(brokenPageChange(t).Value), string(dlq[0].Value))
	assert.Equal(t, "decode", header(dlq[0], streamkit.HeaderDLQStage))
	assert.Contains(t, header(dlq[0], streamkit.HeaderDLQErrorMessage), `schema /mediawiki/page/change/1.2.0 at "/changelog_kind" (keyword enum)`)
	assert.Equal(t, `{"not": "an event"}`, string(dlq[1].Value))

	// The committed state: Q42 at 102 (never 101), Q2 at 3, the lexeme
	// deleted at 50.
	cp, err := checkpoint.NewCheckpointer(store, updater.DefaultJobName+".task-0")
	require.NoError(t, err)
	st := checkpoint.NewEntityTable("last-seen-rev", 1)
	_, err = cp.RestoreLatest(ctx, []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{st}}}, checkpoint.AllowDroppedState())
	require.NoError(t, err)
	for id, v := range map[string]int64{"Q42": 102, "Q2": 3, "L691820": -50} {
		got, ok := st.Get(id)
		assert.True(t, ok, id)
		assert.Equal(t, v, got, id)
	}

	check := assert.Equal
	if restarts > 0 {
		check = func(t assert.TestingT, want, got any, _ ...any) bool { return assert.GreaterOrEqual(t, got, want) }
	}
	check(t, int64(1), metrics.FetchFailures.Load())
	check(t, int64(1), metrics.Late.Load())
	check(t, int64(1), metrics.Inconsistent.Load())
	check(t, int64(3), metrics.Imports.Load())
	check(t, int64(3), metrics.Diffs.Load())
	check(t, int64(1), metrics.Deletes.Load())
	check(t, int64(1), metrics.Reconciles.Load())
	t.Logf("events %d, filtered %d, messages %d, triples %d", metrics.Events.Load(), metrics.Filtered.Load(), metrics.Messages.Load(), metrics.Triples.Load())
}
