package sparql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// recordingStore is an httptest SPARQL endpoint that records every update
// body and answers with reply (default 204), which may reject a request.
type recordingStore struct {
	mu      sync.Mutex
	srv     *httptest.Server
	updates []string // accepted updates, in order
	refused []string // rejected updates
	reply   func(body string, n int) (status int, answer string)
	n       int
}

func newRecordingStore(t *testing.T, reply func(body string, n int) (int, string)) *recordingStore {
	t.Helper()
	rs := &recordingStore{reply: reply}
	rs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.n++
		n := rs.n
		rs.mu.Unlock()
		status, answer := http.StatusNoContent, ""
		if rs.reply != nil {
			status, answer = rs.reply(string(body), n)
		}
		rs.mu.Lock()
		if status < 300 {
			rs.updates = append(rs.updates, string(body))
		} else {
			rs.refused = append(rs.refused, string(body))
		}
		rs.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

func (rs *recordingStore) accepted() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.updates...)
}

func (rs *recordingStore) client(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(rs.srv.URL+"/sparql", WithRequestTimeout(30*time.Second),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}))
	require.NoError(t, err)
	return c
}

// quietLogger discards logs; logs to a buffer when one is given.
func quietLogger(buf *bytes.Buffer) *slog.Logger {
	if buf == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(buf, nil))
}

func newTestSPARQL(t *testing.T, store SPARQLStore, opts ...Option) *SPARQL {
	t.Helper()
	b, err := NewUpdateBuilder(wd, WithDataGraph("http://streamkit.test/data"), WithCommitGraph("http://streamkit.test/commit"))
	require.NoError(t, err)
	s, err := NewSPARQL(store, b, append([]Option{WithSPARQLLogger(quietLogger(nil))}, opts...)...)
	require.NoError(t, err)
	return s
}

// entity returns an import of n triples for entity id, with one linked
// value node.
func entityImport(id string, rev int64, n int) *rdfdiff.EntityChange {
	e := wd.EntityTerm(id)
	var ts []rdfdiff.Triple
	for i := range n {
		ts = append(ts, rdfdiff.Triple{S: e, P: rdfdiff.NewIRI(fmt.Sprintf("http://www.wikidata.org/prop/direct/P%d", i+1)),
			O: rdfdiff.NewLiteral(fmt.Sprintf("%s value %d", id, i))})
	}
	return &rdfdiff.EntityChange{EntityID: id, Revision: rev, Operation: rdfdiff.OpImport, Patch: rdfdiff.Patch{Added: ts}}
}

func testCP(id uint64, offset int64) *streamkit.CommitPoint {
	return &streamkit.CommitPoint{Job: "wdqs", CheckpointID: id, Positions: source.Positions{
		{Topic: "eqiad.rdf-streaming-updater.mutation", Partition: 2}: offset,
	}}
}

// dataTriples counts the triples in INSERT DATA / DELETE DATA blocks of an
// update, and the commit-point triples among them.
func dataTriples(update string) (data, commit int) {
	for _, line := range strings.Split(update, "\n") {
		if !strings.HasSuffix(line, " .") || strings.Contains(line, "?") {
			continue
		}
		if strings.HasPrefix(line, "<"+DefaultCommitNamespace) {
			commit++
		} else {
			data++
		}
	}
	return data, commit
}

func TestSPARQLLifecycle(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, nil)
	s := newTestSPARQL(t, rs.client(t))

	require.NoError(t, s.Claim(ctx))
	require.ErrorIs(t, s.Add(entityImport("Q1", 1, 1)), ErrNoCheckpointOpen)
	require.ErrorIs(t, s.Commit(ctx, testCP(1, 1)), ErrNoCheckpointOpen)
	require.ErrorIs(t, s.Abort(ctx), ErrNoCheckpointOpen)
	require.NoError(t, s.Begin(ctx))
	require.ErrorIs(t, s.Begin(ctx), ErrCheckpointOpen)
	require.ErrorIs(t, s.Add(nil), rdfdiff.ErrInvalidChange)
	require.NoError(t, s.Add(entityImport("Q1", 1, 1)))
	require.ErrorIs(t, s.Commit(ctx, &streamkit.CommitPoint{}), streamkit.ErrInvalidCommitPoint)
	require.NoError(t, s.Abort(ctx))
	assert.Empty(t, rs.accepted(), "abort sends nothing")
	assert.Equal(t, int64(1), s.Stats().Aborts)

	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Begin(ctx), ErrSPARQLClosed)
	require.ErrorIs(t, s.Claim(ctx), ErrSPARQLClosed)
	require.ErrorIs(t, s.Add(entityImport("Q1", 1, 1)), ErrSPARQLClosed)
	_, err := s.ReadCommitPoint(ctx, source.Partitions{"t": {0}})
	require.ErrorIs(t, err, ErrSPARQLClosed)
}

func TestNewSPARQLValidates(t *testing.T) {
	rs := newRecordingStore(t, nil)
	c := rs.client(t)
	b, err := NewUpdateBuilder(wd)
	require.NoError(t, err)
	_, err = NewSPARQL(nil, b)
	require.Error(t, err)
	_, err = NewSPARQL(c, nil)
	require.Error(t, err)
	_, err = NewSPARQL(c, b, WithDialect(Dialect(9)))
	require.ErrorContains(t, err, "unknown SPARQL dialect")
	_, err = NewSPARQL(c, b, WithBatchLimits(BatchLimits{MaxTriples: -1}))
	require.ErrorContains(t, err, "negative")
	_, err = NewSPARQL(c, b, WithBatchLimits(BatchLimits{MaxTriples: 10, TargetTriples: 20}))
	require.ErrorContains(t, err, "above the maxima")
	_, err = NewSPARQL(c, b, WithDialect(DialectVirtuoso))
	require.ErrorContains(t, err, "named data graph")

	s, err := NewSPARQL(c, b, WithSPARQLLogger(quietLogger(nil)))
	require.NoError(t, err)
	assert.Equal(t, BatchLimits{MaxTriples: 10_000, MaxBytes: 8 << 20, TargetTriples: 5000, TargetBytes: 4 << 20}, s.Limits())
}

func TestSPARQLVirtuosoWarnsAndSplits(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, nil)
	var logs bytes.Buffer
	b, err := NewUpdateBuilder(wd, WithDataGraph("http://streamkit.test/data"))
	require.NoError(t, err)
	s, err := NewSPARQL(rs.client(t), b, WithDialect(DialectVirtuoso), WithSPARQLLogger(quietLogger(&logs)))
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "AT-LEAST-ONCE")
	assert.Equal(t, 250, s.Limits().MaxTriples)
	assert.Equal(t, 0, b.maxData, "the caller's builder is not changed")

	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q1", 1, 240)))
	require.NoError(t, s.Commit(ctx, testCP(1, 5)))
	ups := rs.accepted()
	require.Len(t, ups, 1)
	assert.Equal(t, 2, strings.Count(ups[0], "INSERT DATA"), "data, then the commit point")
}

// bigReconcile is a reconciliation of entity id with n statement nodes of
// three triples each, plus the entity's links to them.
func bigReconcile(id string, n int) *rdfdiff.EntityChange {
	e := wd.EntityTerm(id)
	var ts []rdfdiff.Triple
	for i := range n {
		st := rdfdiff.NewIRI(fmt.Sprintf("%s%s-%04d", wd.StatementPrefix(), id, i))
		ts = append(ts,
			rdfdiff.Triple{S: e, P: rdfdiff.NewIRI("http://www.wikidata.org/prop/P31"), O: st},
			rdfdiff.Triple{S: st, P: rdfdiff.NewIRI("http://www.wikidata.org/prop/statement/P31"), O: rdfdiff.NewLiteral(fmt.Sprint(i))},
			rdfdiff.Triple{S: st, P: rdfdiff.NewIRI("http://wikiba.se/ontology#rank"), O: rdfdiff.NewIRI("http://wikiba.se/ontology#NormalRank")},
		)
	}
	rdfdiff.SortTriples(ts)
	return &rdfdiff.EntityChange{EntityID: id, Revision: 2, Operation: rdfdiff.OpReconcile, Patch: rdfdiff.Patch{Added: ts}}
}

func TestSPARQLSplitsALargeReconciliation(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, nil)
	s := newTestSPARQL(t, rs.client(t), WithDialect(DialectVirtuoso))
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q7", 1, 3)))
	rec := bigReconcile("Q1", 300) // 900 triples, 301 subjects
	require.NoError(t, s.Add(rec))
	require.NoError(t, s.Commit(ctx, testCP(1, 5)))

	ups := rs.accepted()
	require.Greater(t, len(ups), 4, "900 triples at most 250 per request")
	inserted := map[string]bool{}
	var order []string // the kind of each operation, in order
	for i, u := range ups {
		data, commit := dataTriples(u)
		assert.LessOrEqual(t, data+commit, 250, "request %d", i)
		for _, line := range strings.Split(u, "\n") {
			if strings.HasPrefix(line, "VALUES ?s {") {
				assert.LessOrEqual(t, strings.Count(line, "<"), 250, "request %d: VALUES of at most 250 subjects", i)
			}
		}
		for _, op := range strings.Split(u, ";\n") {
			switch {
			case strings.Contains(op, "VALUES ?entity"):
				order = append(order, "entity")
			case strings.Contains(op, "VALUES ?s"):
				order = append(order, "clear")
			case strings.Contains(op, "INSERT DATA") && strings.Contains(op, "entity/Q7>"):
				order = append(order, "Q7")
			case strings.Contains(op, "INSERT DATA") && strings.Contains(op, "/cp/1>"):
				order = append(order, "commit")
			case strings.Contains(op, "INSERT DATA"):
				order = append(order, "insert")
				for _, line := range strings.Split(op, "\n") {
					if strings.HasSuffix(line, " .") {
						inserted[line] = true
					}
				}
			}
		}
	}
	assert.Len(t, inserted, 900, "every triple of the list inserted")
	compact := slices.Compact(slices.Clone(order))
	assert.Equal(t, []string{"Q7", "entity", "clear", "insert", "commit"}, compact, "operations keep their order: %v", order)
	assert.Equal(t, int64(1), s.Stats().MultiRequestCommits)
	clearText := strings.Join(ups, "")
	for i := range 300 {
		assert.Contains(t, clearText, fmt.Sprintf("<%sQ1-%04d>", wd.StatementPrefix(), i))
	}
}

func TestSPARQLCommitIsOneRequest(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, nil)
	s := newTestSPARQL(t, rs.client(t))
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q1", 1, 3), "origin-1"))
	require.NoError(t, s.Add(entityImport("Q2", 7, 2)))
	require.NoError(t, s.Add(&rdfdiff.EntityChange{EntityID: "Q3", Operation: rdfdiff.OpDelete}))
	assert.Equal(t, 3, s.Pending())
	assert.False(t, s.WantsCommit())
	require.NoError(t, s.Commit(ctx, testCP(4, 120)))

	ups := rs.accepted()
	require.Len(t, ups, 1, "data and commit point in one request")
	data, commit := dataTriples(ups[0])
	assert.Equal(t, 5, data)
	assert.Equal(t, 5, commit, "one node of five triples for the one partition")
	assert.Contains(t, ups[0], "GRAPH <http://streamkit.test/commit>")
	assert.Contains(t, ups[0], "VALUES ?entity { <http://www.wikidata.org/entity/Q3> }")
	assert.Less(t, strings.Index(ups[0], "INSERT DATA"), strings.Index(ups[0], "VALUES ?entity"), "data before deletes")
	assert.True(t, strings.HasSuffix(strings.TrimSpace(ups[0]), "}"), "ends with the commit point's clean-up")
	assert.Contains(t, ups[0], "partition/eqiad.rdf-streaming-updater.mutation/2/cp/4>")

	st := s.Stats()
	assert.Equal(t, int64(1), st.Commits)
	assert.Equal(t, int64(1), st.Requests)
	assert.Equal(t, int64(3), st.Changes)
	assert.Equal(t, int64(5+rdfdiff.TriplesPerDelete), st.Triples)
	assert.Equal(t, int64(len(ups[0])), st.Bytes)
	assert.Zero(t, st.MultiRequestCommits)
	lc := s.LastCommit()
	require.NotNil(t, lc)
	assert.Equal(t, uint64(4), lc.CheckpointID)
	assert.Equal(t, 3, lc.Changes)
	assert.Equal(t, 1, lc.Requests)

	// An empty checkpoint still moves the positions on.
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Commit(ctx, testCP(5, 130)))
	ups = rs.accepted()
	require.Len(t, ups, 2)
	data, commit = dataTriples(ups[1])
	assert.Equal(t, 0, data)
	assert.Equal(t, 5, commit)
}

func TestSPARQLSplitsByTriples(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, nil)
	var logs bytes.Buffer
	s := newTestSPARQL(t, rs.client(t), WithBatchLimits(BatchLimits{MaxTriples: 50}), WithSPARQLLogger(quietLogger(&logs)))
	require.NoError(t, s.Begin(ctx))
	for i := range 12 {
		require.NoError(t, s.Add(entityImport(fmt.Sprintf("Q%d", i+1), 1, 10)))
		if i < 2 {
			assert.False(t, s.WantsCommit(), "%d changes", i+1)
		}
	}
	assert.True(t, s.WantsCommit(), "120 triples is past the target of 25")
	require.NoError(t, s.Commit(ctx, testCP(1, 12)))
	ups := rs.accepted()
	require.Len(t, ups, 3, "120 data triples + 5 commit triples, at most 50 per request")
	total := 0
	for i, u := range ups {
		data, commit := dataTriples(u)
		assert.LessOrEqual(t, data+commit, 50, "request %d", i)
		if i < len(ups)-1 {
			assert.Zero(t, commit, "only the last request carries the commit point")
		} else {
			assert.Equal(t, 5, commit)
		}
		total += data
	}
	assert.Equal(t, 120, total)
	assert.Equal(t, int64(1), s.Stats().MultiRequestCommits)
	assert.Contains(t, logs.String(), "AT-LEAST-ONCE for this checkpoint")
}

func TestSPARQLSplitsByBytes(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, nil)
	const maxBytes = 4096
	s := newTestSPARQL(t, rs.client(t), WithBatchLimits(BatchLimits{MaxBytes: maxBytes}))
	require.NoError(t, s.Begin(ctx))
	for i := range 10 {
		require.NoError(t, s.Add(entityImport(fmt.Sprintf("Q%d", i+1), 1, 10)))
	}
	require.NoError(t, s.Add(&rdfdiff.EntityChange{EntityID: "Q100", Operation: rdfdiff.OpDelete}))
	require.NoError(t, s.Add(&rdfdiff.EntityChange{EntityID: "Q101", Operation: rdfdiff.OpReconcile,
		Patch: entityImport("Q101", 3, 5).Patch}))
	require.NoError(t, s.Commit(ctx, testCP(1, 12)))
	ups := rs.accepted()
	require.Greater(t, len(ups), 2)
	total := 0
	for i, u := range ups {
		assert.LessOrEqual(t, len(u), maxBytes, "request %d", i)
		data, _ := dataTriples(u)
		total += data
	}
	assert.Equal(t, 100+5, total, "every triple sent once")
	assert.Contains(t, ups[len(ups)-1], "/cp/1>")
	joined := strings.Join(ups, "\n")
	assert.Less(t, strings.Index(joined, "Q10 value 9"), strings.Index(joined, "entity/Q100> }"), "order kept across requests")
	assert.Less(t, strings.Index(joined, "entity/Q100> }"), strings.Index(joined, "Q101 value 0"))
}

func TestSPARQLBarrierStartsSegment(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, nil)
	s := newTestSPARQL(t, rs.client(t))
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(&rdfdiff.EntityChange{EntityID: "Q5", Operation: rdfdiff.OpDelete}))
	assert.False(t, s.WantsCommit())
	require.NoError(t, s.Add(entityImport("Q5", 9, 2)), "a diff after a delete waits in a second segment")
	assert.True(t, s.WantsCommit())
	require.NoError(t, s.Commit(ctx, testCP(1, 2)))
	ups := rs.accepted()
	require.Len(t, ups, 1, "both segments fit one request")
	del := strings.Index(ups[0], "VALUES ?entity { <http://www.wikidata.org/entity/Q5> }")
	ins := strings.Index(ups[0], "Q5 value 0")
	require.GreaterOrEqual(t, del, 0)
	assert.Less(t, del, ins, "the delete applies before the re-import")
}

// rejectEntity answers 400 to every request that mentions entity id.
func rejectEntity(id string) func(string, int) (int, string) {
	return func(body string, _ int) (int, string) {
		if strings.Contains(body, "/entity/"+id+">") {
			return http.StatusBadRequest, "Parse error: language tag parsing failed"
		}
		return http.StatusNoContent, ""
	}
}

func TestSPARQLBisectsToTheRejectedChange(t *testing.T) {
	for _, bad := range []int{0, 3, 7} {
		t.Run(fmt.Sprintf("bad=%d", bad), func(t *testing.T) {
			ctx := context.Background()
			badID := fmt.Sprintf("Q%d", 100+bad)
			rs := newRecordingStore(t, rejectEntity(badID))
			var got []*RejectedChange
			s := newTestSPARQL(t, rs.client(t), WithRejectedHandler(RejectedFunc(func(_ context.Context, r *RejectedChange) error {
				got = append(got, r)
				return nil
			})))
			require.NoError(t, s.Begin(ctx))
			for i := range 8 {
				id := fmt.Sprintf("Q%d", 100+i)
				origin := source.Record{Topic: "mutation", Partition: 2, Offset: int64(40 + i)}
				require.NoError(t, s.Add(entityImport(id, int64(i+1), 3), origin))
			}
			require.NoError(t, s.Commit(ctx, testCP(9, 48)))

			require.Len(t, got, 1)
			r := got[0]
			assert.Equal(t, badID, r.EntityID)
			assert.Equal(t, int64(bad+1), r.Revision)
			assert.Equal(t, rdfdiff.OpImport, r.Operation)
			assert.Equal(t, []any{source.Record{Topic: "mutation", Partition: 2, Offset: int64(40 + bad)}}, r.Origins)
			assert.Contains(t, string(r.Update), badID+" value 0")
			require.ErrorIs(t, r.Err, ErrStoreRejected)

			// Every other entity reached the store, the bad one never did,
			// and the commit point came last.
			ups := rs.accepted()
			joined := strings.Join(ups, "\n")
			for i := range 8 {
				id := fmt.Sprintf("Q%d", 100+i)
				if i == bad {
					assert.NotContains(t, joined, id+" value")
				} else {
					assert.Contains(t, joined, id+" value 2")
				}
			}
			_, commit := dataTriples(ups[len(ups)-1])
			assert.Equal(t, 6, commit, "the commit point (5 triples) and the refused entity's mark land with the last applied request")
			assert.Contains(t, ups[len(ups)-1], `resyncEntity> "`+badID+`"`)
			for _, u := range ups[:len(ups)-1] {
				assert.NotContains(t, u, "/cp/9>", "no earlier request carries the commit point")
			}
			st := s.Stats()
			assert.Equal(t, int64(1), st.RejectedChanges)
			assert.GreaterOrEqual(t, st.Bisections, int64(3), "8 → 4 → 2 → 1")
			assert.Equal(t, 1, s.LastCommit().Rejected)
		})
	}
}

func TestSPARQLStoreRejectingEverythingDeadLettersNothing(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, func(string, int) (int, string) { return http.StatusBadRequest, "java.lang.OutOfMemoryError" })
	calls := 0
	s := newTestSPARQL(t, rs.client(t), WithRejectedHandler(RejectedFunc(func(context.Context, *RejectedChange) error {
		calls++
		return nil
	})))
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q1", 1, 1)))
	require.NoError(t, s.Add(entityImport("Q2", 1, 1)))
	err := s.Commit(ctx, testCP(1, 2))
	require.ErrorIs(t, err, ErrStoreRejected)
	require.ErrorContains(t, err, "not dead-lettered")
	assert.Zero(t, calls)
	assert.Zero(t, s.Stats().RejectedChanges)
}

func TestSPARQLUnsafeTermIsRejectedWithoutSending(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, nil)
	var got []*RejectedChange
	s := newTestSPARQL(t, rs.client(t), WithRejectedHandler(RejectedFunc(func(_ context.Context, r *RejectedChange) error {
		got = append(got, r)
		return nil
	})))
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q1", 1, 2)))
	evil := entityImport("Q2", 1, 1)
	evil.Patch.Added[0].O = rdfdiff.NewIRI("http://example.org/a> <http://evil")
	err := s.Add(evil)
	require.ErrorIs(t, err, ErrUnsafeTerm, "refused when added, before the processor updates its state")
	var se *streamkit.StageError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, StageSPARQL, se.Stage)
	assert.Equal(t, ClassSPARQLUnsafeTerm, se.Class)
	require.NoError(t, s.Add(entityImport("Q3", 1, 2)))
	require.NoError(t, s.Commit(ctx, testCP(1, 3)))
	assert.Empty(t, got)
	joined := strings.Join(rs.accepted(), "\n")
	assert.NotContains(t, joined, "evil")
	assert.Contains(t, joined, "Q1 value 1")
	assert.Contains(t, joined, "Q3 value 1")
}

func TestSPARQLRejectionWithoutHandlerFailsTheCommit(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, rejectEntity("Q2"))
	s := newTestSPARQL(t, rs.client(t))
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q1", 1, 1)))
	require.NoError(t, s.Add(entityImport("Q2", 1, 1)))
	err := s.Commit(ctx, testCP(1, 2))
	require.ErrorIs(t, err, ErrChangeRejected)
	require.ErrorIs(t, err, ErrStoreRejected)
	assert.Empty(t, rs.accepted())
	assert.Equal(t, int64(1), s.Stats().FailedCommits)
	require.NoError(t, s.Abort(ctx), "the checkpoint stays open for Abort")
}

func TestSPARQLHandlerErrorFailsTheCommit(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, rejectEntity("Q2"))
	boom := errors.New("dead-letter topic unavailable")
	s := newTestSPARQL(t, rs.client(t), WithRejectedHandler(RejectedFunc(func(context.Context, *RejectedChange) error { return boom })))
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q1", 1, 1)))
	require.NoError(t, s.Add(entityImport("Q2", 1, 1)))
	require.ErrorIs(t, s.Commit(ctx, testCP(1, 2)), boom)
	for _, u := range rs.accepted() {
		assert.NotContains(t, u, "/cp/1>", "no commit point without the dead letter")
	}
}

func TestSPARQLConfigurationErrorsAreNotBisected(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			ctx := context.Background()
			rs := newRecordingStore(t, func(string, int) (int, string) { return status, "no" })
			calls := 0
			s := newTestSPARQL(t, rs.client(t), WithRejectedHandler(RejectedFunc(func(context.Context, *RejectedChange) error {
				calls++
				return nil
			})))
			require.NoError(t, s.Begin(ctx))
			require.NoError(t, s.Add(entityImport("Q1", 1, 1)))
			require.NoError(t, s.Add(entityImport("Q2", 1, 1)))
			err := s.Commit(ctx, testCP(1, 2))
			var se *StoreError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, status, se.StatusCode)
			assert.Zero(t, calls, "a store that refuses everything must not dead-letter everything")
			assert.Zero(t, s.Stats().Bisections)
		})
	}
}

func TestSPARQLCountsRetries(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, func(_ string, n int) (int, string) {
		if n == 1 {
			return http.StatusServiceUnavailable, "busy"
		}
		return http.StatusNoContent, ""
	})
	s := newTestSPARQL(t, rs.client(t))
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q1", 1, 1)))
	require.NoError(t, s.Commit(ctx, testCP(1, 1)))
	st := s.Stats()
	assert.Equal(t, int64(1), st.Retries)
	assert.Equal(t, int64(1), st.Requests)
	assert.Zero(t, st.FailedRequests)

	// A store down for longer than the policy fails the commit, unbisected.
	rs.reply = func(string, int) (int, string) { return http.StatusBadGateway, "down" }
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q2", 1, 1)))
	require.ErrorIs(t, s.Commit(ctx, testCP(2, 2)), ErrStoreUnavailable)
	st = s.Stats()
	assert.Equal(t, int64(1+2), st.Retries)
	assert.Equal(t, int64(1), st.FailedRequests)
}

func readBlazegraphFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "blazegraph", name))
	require.NoError(t, err)
	return data
}

func TestParseBlazegraphUpdate(t *testing.T) {
	r, err := ParseBlazegraphUpdate(readBlazegraphFixture(t, "update-response.html"))
	require.NoError(t, err)
	assert.Equal(t, &BlazegraphUpdate{MutationCount: 4, Operations: 7, TotalElapsed: 29 * time.Millisecond}, r)

	// The broken fixture has garbage timings but a readable count.
	r, err = ParseBlazegraphUpdate(readBlazegraphFixture(t, "update-response-broken.html"))
	require.NoError(t, err)
	assert.Equal(t, &BlazegraphUpdate{MutationCount: 0, Operations: 7}, r)

	r, err = ParseBlazegraphUpdate([]byte(`<?xml version="1.0"?><data modified="12" milliseconds="7"/>`))
	require.NoError(t, err)
	assert.Equal(t, &BlazegraphUpdate{MutationCount: 12, TotalElapsed: 7 * time.Millisecond}, r)

	for _, bad := range []string{
		"",
		"<html><body>Welcome to nginx</body></html>",
		"<p>COMMIT: totalElapsed=1ms, commitTime=2</p>",
		"<p>COMMIT: totalElapsed=1ms, commitTime=2, mutationCount=-3</p>",
		"<p>COMMIT: totalElapsed=1ms, commitTime=2, mutationCount=4x</p>",
		`<data modified="x"/>`,
		`<data milliseconds="3"/>`,
	} {
		_, err := ParseBlazegraphUpdate([]byte(bad))
		require.ErrorIs(t, err, ErrNoMutationCount, "%q", bad)
	}
}

func TestBlazegraphEndpoint(t *testing.T) {
	u, err := BlazegraphEndpoint("http://localhost:9999/", "wdq")
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:9999/bigdata/namespace/wdq/sparql", u)
	u, err = BlazegraphEndpoint("https://wdqs.example:443", "a b/c")
	require.NoError(t, err)
	assert.Equal(t, "https://wdqs.example:443/bigdata/namespace/a%20b%2Fc/sparql", u)
	for _, bad := range [][2]string{{"localhost:9999", "wdq"}, {"http://h", ""}, {"http://h?x=1", "wdq"}, {"ftp://h", "wdq"}} {
		_, err := BlazegraphEndpoint(bad[0], bad[1])
		require.Error(t, err, "%v", bad)
	}
}

func TestSPARQLBlazegraphMutationCounts(t *testing.T) {
	ctx := context.Background()
	good := string(readBlazegraphFixture(t, "update-response.html"))
	rs := newRecordingStore(t, func(_ string, n int) (int, string) {
		if n == 3 {
			return http.StatusOK, "<html>not blazegraph</html>"
		}
		return http.StatusOK, good
	})
	b, err := NewUpdateBuilder(wd)
	require.NoError(t, err)
	s, err := NewSPARQL(rs.client(t), b, WithDialect(DialectBlazegraph), WithSPARQLLogger(quietLogger(nil)),
		WithBatchLimits(BatchLimits{MaxTriples: 20}))
	require.NoError(t, err)
	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q1", 1, 10)))
	require.NoError(t, s.Commit(ctx, testCP(1, 1)))
	assert.Equal(t, int64(4), s.LastCommit().MutationCount)
	assert.NotContains(t, rs.accepted()[0], "GRAPH", "Blazegraph in triples mode: no graphs")

	require.NoError(t, s.Begin(ctx))
	require.NoError(t, s.Add(entityImport("Q2", 1, 30)))
	require.NoError(t, s.Commit(ctx, testCP(2, 2)))
	require.Len(t, rs.accepted(), 3)
	st := s.Stats()
	assert.Equal(t, int64(4+4), st.MutationCount, "the third answer had no count")
	assert.Equal(t, int64(1), st.UnparsedResponses)
}

// cannedQuerier answers every query with the same bindings.
type cannedQuerier struct {
	rows []map[string]rdfdiff.Term
	err  error
	last string
}

func (q *cannedQuerier) Query(_ context.Context, query string) (*Results, error) {
	q.last = query
	return &Results{Bindings: q.rows}, q.err
}

func (q *cannedQuerier) UpdateResponse(context.Context, string) (*UpdateResponse, error) {
	return &UpdateResponse{Attempts: 1}, nil
}

func TestSPARQLReadCommitPointRules(t *testing.T) {
	ctx := context.Background()
	b, err := NewUpdateBuilder(wd, WithCommitGraph("http://streamkit.test/commit"))
	require.NoError(t, err)
	row := func(topic string, partition int32, id uint64, offset int64, job string) map[string]rdfdiff.Term {
		return map[string]rdfdiff.Term{
			"n":         rdfdiff.NewIRI(b.partitionNodePrefix(topic, partition) + fmt.Sprint(id)),
			"topic":     rdfdiff.NewLiteral(topic),
			"partition": rdfdiff.NewTypedLiteral(fmt.Sprint(partition), rdfdiff.XSDInteger),
			"offset":    rdfdiff.NewTypedLiteral(fmt.Sprint(offset), rdfdiff.XSDInteger),
			"cp":        rdfdiff.NewTypedLiteral(fmt.Sprint(id), rdfdiff.XSDInteger),
			"job":       rdfdiff.NewLiteral(job),
		}
	}
	parts := source.Partitions{"a": {3}, "b": {3}}
	read := func(rows ...map[string]rdfdiff.Term) (*streamkit.CommitPoint, *cannedQuerier, string, error) {
		q := &cannedQuerier{rows: rows}
		var logs bytes.Buffer
		s, err := NewSPARQL(q, b, WithSPARQLLogger(quietLogger(&logs)))
		require.NoError(t, err)
		cp, err := s.ReadCommitPoint(ctx, parts)
		return cp, q, logs.String(), err
	}

	cp, q, _, err := read(row("b", 3, 7, 20, "j"), row("a", 3, 7, 10, "j"))
	require.NoError(t, err)
	assert.Equal(t, &streamkit.CommitPoint{Job: "j", CheckpointID: 7, Positions: source.Positions{{Topic: "a", Partition: 3}: 10, {Topic: "b", Partition: 3}: 20}}, cp)
	assert.Contains(t, q.last, "GRAPH <http://streamkit.test/commit>")
	assert.Contains(t, q.last, `STRSTARTS(STR(?n), "`+b.partitionNodePrefix("a", 3)+`")`)

	// Only some partitions committed: the others are absent.
	cp, _, _, err = read(row("a", 3, 7, 10, "j"))
	require.NoError(t, err)
	assert.Equal(t, source.Positions{{Topic: "a", Partition: 3}: 10}, cp.Positions)

	// Stale nodes of an older checkpoint next to a complete newer commit.
	cp, _, logs, err := read(row("a", 3, 6, 9, "j"), row("a", 3, 7, 10, "j"), row("b", 3, 7, 20, "j"))
	require.NoError(t, err)
	assert.Equal(t, uint64(7), cp.CheckpointID)
	assert.Contains(t, logs, "older checkpoints")

	_, _, _, err = read()
	require.ErrorIs(t, err, streamkit.ErrNoCommitPoint)
	_, _, _, err = read(row("a", 3, 6, 9, "j"), row("b", 3, 7, 20, "j"))
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint, "partitions at different checkpoints")
	_, _, _, err = read(row("a", 3, 7, 9, "j"), row("b", 3, 7, 20, "k"))
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint, "different jobs")
	_, _, _, err = read(row("a", 3, 7, 9, "j"), row("a", 3, 7, 10, "j"))
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint, "one node, two offsets")
	bad := row("a", 3, 7, 9, "j")
	bad["offset"] = rdfdiff.NewLiteral("nine")
	_, _, _, err = read(bad)
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint, "malformed offset")
	misnamed := row("a", 3, 7, 9, "j")
	misnamed["n"] = rdfdiff.NewIRI(b.partitionNodePrefix("a", 3) + "8")
	_, _, _, err = read(misnamed)
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint, "name and content disagree")

	s, err := NewSPARQL(&cannedQuerier{}, b, WithSPARQLLogger(quietLogger(nil)))
	require.NoError(t, err)
	_, err = s.ReadCommitPoint(ctx, nil)
	require.ErrorIs(t, err, streamkit.ErrNoCommitPoint)
	_, err = s.ReadCommitPoint(ctx, source.Partitions{"": {1}})
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint)
	_, err = s.ReadCommitPoint(ctx, source.Partitions{"a": {-1}})
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint)
	boom := errors.New("down")
	s, err = NewSPARQL(&cannedQuerier{err: boom}, b, WithSPARQLLogger(quietLogger(nil)))
	require.NoError(t, err)
	_, err = s.ReadCommitPoint(ctx, parts)
	require.ErrorIs(t, err, boom)
}

// discardStore accepts every update without I/O, to measure the sink's own
// cost: merging, planning and writing requests.
type discardStore struct{ bytes int }

func (d *discardStore) Query(context.Context, string) (*Results, error) { return &Results{}, nil }

func (d *discardStore) UpdateResponse(_ context.Context, update string) (*UpdateResponse, error) {
	d.bytes += len(update)
	return &UpdateResponse{Attempts: 1}, nil
}

// BenchmarkSPARQLCommit measures one checkpoint of 100 entity imports of 50
// triples each (5 000 triples) through Add and Commit into a store that
// discards, with the default limits (one request) and with 1 000-triple
// requests (Virtuoso's ceiling; six requests).
func BenchmarkSPARQLCommit(b *testing.B) {
	changes := make([]*rdfdiff.EntityChange, 100)
	for i := range changes {
		changes[i] = entityImport(fmt.Sprintf("Q%d", i+1), 1, 50)
	}
	for _, maxTriples := range []int{0, 1000} {
		b.Run(fmt.Sprintf("maxTriples=%d", maxTriples), func(b *testing.B) {
			ctx := context.Background()
			store := &discardStore{}
			bu, err := NewUpdateBuilder(wd, WithDataGraph("http://streamkit.test/data"), WithCommitGraph("http://streamkit.test/commit"))
			require.NoError(b, err)
			s, err := NewSPARQL(store, bu, WithSPARQLLogger(quietLogger(nil)), WithBatchLimits(BatchLimits{MaxTriples: maxTriples}))
			require.NoError(b, err)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				require.NoError(b, s.Begin(ctx))
				for _, c := range changes {
					require.NoError(b, s.Add(c))
				}
				require.NoError(b, s.Commit(ctx, testCP(uint64(i+1), int64(i))))
			}
			st := s.Stats()
			b.SetBytes(int64(store.bytes) / max(st.Commits, 1))
			b.ReportMetric(float64(st.Triples)/b.Elapsed().Seconds(), "triples/s")
			b.ReportMetric(float64(st.Requests)/float64(max(st.Commits, 1)), "requests/commit")
		})
	}
}

type failureRecorder struct {
	got []streamkit.Failure
	err error
}

func (f *failureRecorder) Write(_ context.Context, fl streamkit.Failure) error {
	f.got = append(f.got, fl)
	return f.err
}

func TestDeadLetterRejected(t *testing.T) {
	ctx := context.Background()
	storeErr := &StoreError{Op: "update", Endpoint: "http://x/sparql", StatusCode: 400, Message: "bad tag"}
	chunk := func(off int64) source.Record {
		return source.Record{Topic: "mutation", Partition: 1, Offset: off, Value: []byte(fmt.Sprintf(`{"offset":%d}`, off))}
	}
	rec := &failureRecorder{}
	h := DeadLetterRejected(rec)
	r := &RejectedChange{EntityID: "Q9", Revision: 3, Operation: rdfdiff.OpDiff, Origins: []any{chunk(7), sourceRecordPtr(chunk(8))}, Err: storeErr}
	require.NoError(t, h.Rejected(ctx, r))
	require.Len(t, rec.got, 2)
	for i, f := range rec.got {
		assert.Equal(t, chunk(int64(7+i)), f.Record)
		assert.Equal(t, StageSPARQL, f.Stage)
		assert.Equal(t, ClassSPARQLRejected, f.Class)
		require.ErrorIs(t, f.Err, ErrStoreRejected)
		assert.Contains(t, f.Err.Error(), "Q9 revision 3 (diff)")
	}

	rec = &failureRecorder{}
	termErr := fmt.Errorf("wrapped: %w", ErrUnsafeTerm)
	require.NoError(t, DeadLetterRejected(rec).Rejected(ctx, &RejectedChange{EntityID: "Q9", Origins: []any{chunk(1)}, Err: termErr}))
	require.Len(t, rec.got, 1)
	assert.Equal(t, ClassSPARQLUnsafeTerm, rec.got[0].Class)

	require.ErrorContains(t, h.Rejected(ctx, &RejectedChange{EntityID: "Q9", Err: storeErr}), "no origin")
	require.ErrorContains(t, h.Rejected(ctx, &RejectedChange{EntityID: "Q9", Origins: []any{"offset 7"}, Err: storeErr}), "not a source.Record")
	require.ErrorContains(t, h.Rejected(ctx, &RejectedChange{EntityID: "Q9", Origins: []any{(*source.Record)(nil)}, Err: storeErr}), "nil")
	boom := errors.New("kafka down")
	require.ErrorIs(t, DeadLetterRejected(&failureRecorder{err: boom}).Rejected(ctx, r), boom)
}

func sourceRecordPtr(r source.Record) *source.Record { return &r }
