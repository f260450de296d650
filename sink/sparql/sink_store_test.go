package sparql

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Integration tests of the SPARQL sink against real stores, gated by
// STREAMKIT_OXIGRAPH_URL and STREAMKIT_VIRTUOSO_URL: real WDQS entities and
// mutation events go through the consumer's path (encode as rdf_change
// messages in chunks, decode, reassemble, Add, Commit in checkpoints small
// enough to need several requests) and the store must end equal to a
// graph.Graph that applied the same changes one by one, with the commit point
// read back after every checkpoint.

func TestSPARQLSinkOxigraph(t *testing.T) {
	sinkStoreScenario(t, "STREAMKIT_OXIGRAPH_URL", DialectSPARQL11)
}

func TestSPARQLSinkVirtuoso(t *testing.T) {
	sinkStoreScenario(t, "STREAMKIT_VIRTUOSO_URL", DialectVirtuoso)
}

// mutationFixture reads one of the WDQS rdf_change fixtures.
func mutationFixture(t *testing.T, name string) *rdfdiff.ChangeEvent {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "graph", name+"-v2.json"))
	require.NoError(t, err)
	ev, err := rdfdiff.DecodeEvent(data)
	require.NoError(t, err)
	return ev
}

// chunkedMessages turns a change into the rdf_change messages a producer would
// emit, in chunks of about 4 000 characters, through their JSON form.
func chunkedMessages(t *testing.T, c *rdfdiff.EntityChange) []*rdfdiff.ChangeEvent {
	t.Helper()
	evs, err := rdfdiff.ChunkChange(*c, rdfdiff.WithSoftMaxChars(4000))
	require.NoError(t, err)
	out := make([]*rdfdiff.ChangeEvent, len(evs))
	for i, ev := range evs {
		data, err := ev.MarshalJSON()
		require.NoError(t, err)
		out[i], err = rdfdiff.DecodeEvent(data)
		require.NoError(t, err)
	}
	return out
}

func sinkStoreScenario(t *testing.T, env string, dialect Dialect) {
	c := storeClient(t, env)
	ctx := context.Background()
	dataGraph, commitGraph := storeGraph(t, env), ""
	if dataGraph != "" {
		commitGraph = dataGraph + "/commit"
		t.Cleanup(func() { _ = c.Update(context.Background(), dropGraphs(dataGraph, commitGraph)) })
	}
	b, err := NewUpdateBuilder(wd, WithDataGraph(dataGraph), WithCommitGraph(commitGraph))
	require.NoError(t, err)
	var rejected []*RejectedChange
	limits := BatchLimits{MaxTriples: 400, MaxBytes: 64 << 10}
	if dialect == DialectVirtuoso {
		limits = BatchLimits{} // the dialect's: fewer, larger requests; Virtuoso is slow per request
	}
	s, err := NewSPARQL(c, b, WithDialect(dialect), WithSPARQLLogger(quietLogger(nil)),
		WithBatchLimits(limits),
		WithRejectedHandler(RejectedFunc(func(_ context.Context, r *RejectedChange) error {
			rejected = append(rejected, r)
			return nil
		})))
	require.NoError(t, err)
	const topic = "eqiad.rdf-streaming-updater.mutation"
	partitions := source.Partitions{topic: {0}}
	require.NoError(t, s.Claim(ctx))
	_, err = s.ReadCommitPoint(ctx, partitions)
	require.ErrorIs(t, err, streamkit.ErrNoCommitPoint)

	// Real entities. Q513 keeps its "zh-classical" labels, which Oxigraph
	// 0.5 refuses (a subtag longer than 8 characters): on Oxigraph its
	// import must be bisected out and dead-lettered while the rest applies.
	q42 := withoutOxigraphRefused(loadMunged(t, "Q42-munged.ttl"))
	borked := withoutOxigraphRefused(loadMunged(t, "Q42-borked.ttl"))
	q513 := loadMunged(t, "Q513-munged.ttl")
	l4082 := withoutOxigraphRefused(loadMunged(t, "L4082-munged.ttl"))
	// Q42's next revision: seven of its own triples go (labels, not
	// sitelinks, which must go whole), the version changes.
	var edited []rdfdiff.Triple
	dropped := 0
	for _, tr := range q42.Added {
		if tr.S == wd.EntityTerm("Q42") && tr.O.Lang() != "" && dropped < 7 {
			dropped++
			continue
		}
		edited = append(edited, tr)
	}
	edited = append(edited, rdfdiff.Triple{S: wd.EntityTerm("Q42"), P: rdfdiff.NewIRI("http://schema.org/version"),
		O: rdfdiff.NewTypedLiteral("999", rdfdiff.XSDInteger)})
	q42Diff := rdfdiff.Diff(q42.Added, edited, rdfdiff.WikibaseShared(wd))

	change := func(id string, rev int64, op rdfdiff.Operation, p rdfdiff.Patch) *rdfdiff.EntityChange {
		return &rdfdiff.EntityChange{EntityID: id, Revision: rev, Operation: op, RequestID: id, Patch: p,
			EventTime: time.Date(2026, 11, 25, 14, 0, int(rev), 0, time.UTC),
			Domain:    "www.wikidata.org", Stream: "rdf-streaming-updater.mutation"}
	}
	checkpoints := [][]*rdfdiff.EntityChange{
		{
			change("Q42", 1, rdfdiff.OpImport, q42),
			change("Q513", 1, rdfdiff.OpImport, q513),
			change("L4082", 1, rdfdiff.OpImport, l4082),
		},
		{
			// Q42 gets borked (stale versions, a wrong value on a statement
			// node, an extra type), then reconciled back.
			change("Q42", 2, rdfdiff.OpDiff, rdfdiff.Diff(q42.Added, append(slices.Clone(q42.Added), borked.Added...), rdfdiff.WikibaseShared(wd))),
		},
		{
			change("Q42", 3, rdfdiff.OpReconcile, rdfdiff.Patch{Added: q42.Added}),
			change("Q513", 2, rdfdiff.OpDelete, rdfdiff.Patch{}),
		},
		{
			change("Q42", 4, rdfdiff.OpDiff, q42Diff),
			change("L4082", 2, rdfdiff.OpDelete, rdfdiff.Patch{}),
		},
	}
	if dialect == DialectVirtuoso {
		// Virtuoso takes Q513 (it has no rejection to show) but slowly: keep
		// the scenario's time down on a shared CI machine.
		for i, cs := range checkpoints {
			checkpoints[i] = slices.DeleteFunc(cs, func(c *rdfdiff.EntityChange) bool { return c.EntityID == "Q513" })
		}
	}
	// The WDQS fixtures: import and diff of Q123, then its delete and
	// reconcile in one checkpoint (a barrier: two segments).
	fixtures := [][]*rdfdiff.ChangeEvent{
		{mutationFixture(t, "Import"), mutationFixture(t, "Diff")},
		{mutationFixture(t, "Delete"), mutationFixture(t, "Reconcile")},
	}

	g := graph.NewGraph()
	re := rdfdiff.NewReassembler()
	var offset int64
	var applied, refusedAtAdd []*rdfdiff.EntityChange
	feed := func(evs []*rdfdiff.ChangeEvent) {
		var origins []any
		for _, ev := range evs {
			origin := source.Record{Topic: topic, Partition: 0, Offset: offset}
			offset++
			origins = append(origins, origin)
			ch, err := re.Add(ev, origin)
			require.NoError(t, err)
			if ch != nil {
				if err := s.Add(ch, origins...); err != nil {
					require.ErrorIs(t, err, ErrUnsafeTerm)
					refusedAtAdd = append(refusedAtAdd, ch)
				} else {
					applied = append(applied, ch)
				}
				origins = nil
			}
		}
		require.Empty(t, origins, "every event completes")
	}
	var id uint64
	commit := func() {
		id++
		cp := &streamkit.CommitPoint{Job: "wdqs-consumer", CheckpointID: id, Positions: source.Positions{{Topic: topic, Partition: 0}: offset}}
		require.NoError(t, s.Commit(ctx, cp))
		got, err := s.ReadCommitPoint(ctx, partitions)
		require.NoError(t, err)
		assert.Equal(t, cp, got)
	}
	for _, cpChanges := range checkpoints {
		require.NoError(t, s.Begin(ctx))
		for _, ch := range cpChanges {
			feed(chunkedMessages(t, ch))
		}
		commit()
	}
	for _, evs := range fixtures {
		require.NoError(t, s.Begin(ctx))
		feed(evs)
		commit()
	}
	require.NoError(t, s.Close())

	// The reference: the same changes applied one by one, without the ones
	// the store rejected.
	for _, ch := range applied {
		if slices.ContainsFunc(rejected, func(r *RejectedChange) bool { return r.Change == ch }) {
			continue
		}
		acc := rdfdiff.NewAccumulator()
		require.NoError(t, acc.Accumulate(ch))
		require.NoError(t, g.Apply(ctx, acc.Result(), nil))
	}
	requireSameGraph(t, tripleSet(g.Triples()), dumpGraph(t, c, dataGraph), storeNormalizer(env))

	st := s.Stats()
	assert.Equal(t, int64(len(checkpoints)+len(fixtures)), st.Commits)
	assert.Positive(t, st.MultiRequestCommits, "Q42's import does not fit one request")
	assert.Empty(t, rejected, "the store refuses nothing the sink sent")
	assert.Zero(t, st.RejectedChanges)
	if env == "STREAMKIT_OXIGRAPH_URL" {
		require.Len(t, refusedAtAdd, 1, "Oxigraph would refuse Q513's zh-classical labels: refused when added")
		assert.Equal(t, "Q513", refusedAtAdd[0].EntityID)
		assert.Equal(t, rdfdiff.OpImport, refusedAtAdd[0].Operation)
	} else {
		assert.Empty(t, refusedAtAdd, "Virtuoso takes every change")
	}
	t.Logf("%s: %+v", dialect, st)
}

// BenchmarkSPARQLSinkOxigraph measures checkpoints of 100 entity imports
// (50 triples each, 5 000 triples) committed into Oxigraph through the sink,
// for several request sizes: the effect of batch size, end to end (merge,
// plan, write, HTTP, store). Gated by STREAMKIT_OXIGRAPH_URL.
func BenchmarkSPARQLSinkOxigraph(b *testing.B) {
	c := storeClient(b, "STREAMKIT_OXIGRAPH_URL")
	for _, maxTriples := range []int{500, 2000, 10_000} {
		b.Run(fmt.Sprintf("maxTriples=%d", maxTriples), func(b *testing.B) {
			ctx := context.Background()
			dataGraph := testGraph(b)
			b.Cleanup(func() {
				_ = c.Update(context.Background(), "DROP SILENT GRAPH <"+dataGraph+"> ; DROP SILENT GRAPH <"+dataGraph+"/commit>")
			})
			bu, err := NewUpdateBuilder(wd, WithDataGraph(dataGraph), WithCommitGraph(dataGraph+"/commit"))
			require.NoError(b, err)
			s, err := NewSPARQL(c, bu, WithSPARQLLogger(quietLogger(nil)), WithBatchLimits(BatchLimits{MaxTriples: maxTriples}))
			require.NoError(b, err)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				require.NoError(b, s.Begin(ctx))
				for j := range 100 {
					require.NoError(b, s.Add(entityImport(fmt.Sprintf("Q%d", i*100+j+1), 1, 50)))
				}
				require.NoError(b, s.Commit(ctx, testCP(uint64(i+1), int64(i))))
			}
			st := s.Stats()
			b.SetBytes(st.Bytes / max(st.Commits, 1))
			b.ReportMetric(float64(st.Triples)/b.Elapsed().Seconds(), "triples/s")
			b.ReportMetric(float64(st.Requests)/float64(max(st.Commits, 1)), "requests/commit")
		})
	}
}

// TestSPARQLSinkReplayAfterCrashOxigraph checks the at-least-once window of
// a checkpoint sent as several requests: the store stops answering after k
// of them (as if the process died there), a new sink reads the commit point
// back, the same changes are sent again, and the store ends equal to the
// reference, with the new commit point.
func TestSPARQLSinkReplayAfterCrashOxigraph(t *testing.T) {
	sinkReplayAfterCrash(t, "STREAMKIT_OXIGRAPH_URL", DialectSPARQL11)
}

func sinkReplayAfterCrash(t *testing.T, env string, dialect Dialect) {
	c := storeClient(t, env)
	q42 := withoutOxigraphRefused(loadMunged(t, "Q42-munged.ttl"))
	borked := withoutOxigraphRefused(loadMunged(t, "Q42-borked.ttl"))
	l4082 := withoutOxigraphRefused(loadMunged(t, "L4082-munged.ttl"))
	first := []*rdfdiff.EntityChange{
		{EntityID: "Q42", Revision: 1, Operation: rdfdiff.OpImport, Patch: q42},
		{EntityID: "L4082", Revision: 1, Operation: rdfdiff.OpImport, Patch: l4082},
	}
	second := []*rdfdiff.EntityChange{
		{EntityID: "Q42", Revision: 2, Operation: rdfdiff.OpDiff,
			Patch: rdfdiff.Diff(q42.Added, append(slices.Clone(q42.Added), borked.Added...), rdfdiff.WikibaseShared(wd))},
		{EntityID: "L4082", Revision: 2, Operation: rdfdiff.OpDelete},
		{EntityID: "Q42", Revision: 3, Operation: rdfdiff.OpReconcile, Patch: rdfdiff.Patch{Added: q42.Added}},
	}
	want := graph.NewGraph()
	for _, ch := range append(slices.Clone(first), second...) {
		acc := rdfdiff.NewAccumulator()
		require.NoError(t, acc.Accumulate(ch))
		require.NoError(t, want.Apply(context.Background(), acc.Result(), nil))
	}
	const topic = "mutation"
	parts := source.Partitions{topic: {0}}
	cp := func(id uint64) *streamkit.CommitPoint {
		return &streamkit.CommitPoint{Job: "replay", CheckpointID: id, Positions: source.Positions{{Topic: topic}: int64(id * 10)}}
	}
	for _, k := range []int{1, 4} {
		t.Run(fmt.Sprintf("crash after %d requests", k), func(t *testing.T) {
			ctx := context.Background()
			c := c
			if isBlazegraph(env) {
				c = blazegraphClient(t) // a namespace per run
			}
			target, err := url.Parse(c.Endpoint())
			require.NoError(t, err)
			dataGraph, commitGraph := storeGraph(t, env), ""
			if dataGraph != "" {
				commitGraph = dataGraph + "/commit"
				t.Cleanup(func() { _ = c.Update(context.Background(), dropGraphs(dataGraph, commitGraph)) })
			}
			b, err := NewUpdateBuilder(wd, WithDataGraph(dataGraph), WithCommitGraph(commitGraph))
			require.NoError(t, err)
			limits := WithBatchLimits(BatchLimits{MaxTriples: 500})
			dialectOpt := WithDialect(dialect)
			commitAll := func(s *SPARQL, changes []*rdfdiff.EntityChange, id uint64) error {
				require.NoError(t, s.Begin(ctx))
				for _, ch := range changes {
					require.NoError(t, s.Add(ch))
				}
				return s.Commit(ctx, cp(id))
			}
			s, err := NewSPARQL(c, b, WithSPARQLLogger(quietLogger(nil)), limits, dialectOpt)
			require.NoError(t, err)
			require.NoError(t, commitAll(s, first, 1))

			// The dying process: its store connection fails after k updates.
			var mu sync.Mutex
			updates := 0
			proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
			dying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.Header.Get("Content-Type"), "application/sparql-update") {
					mu.Lock()
					updates++
					n := updates
					mu.Unlock()
					if n > k {
						http.Error(w, "gone", http.StatusServiceUnavailable)
						return
					}
				}
				proxy.ServeHTTP(w, r)
			}))
			defer dying.Close()
			dc, err := NewClient(dying.URL+target.Path, WithRetryPolicy(RetryPolicy{MaxAttempts: 1}))
			require.NoError(t, err)
			zombie, err := NewSPARQL(dc, b, WithSPARQLLogger(quietLogger(nil)), limits, dialectOpt)
			require.NoError(t, err)
			require.ErrorIs(t, commitAll(zombie, second, 2), ErrStoreUnavailable)
			require.Equal(t, int64(k), zombie.Stats().Requests, "k requests of the checkpoint landed")

			// The restarted task: the commit point is still checkpoint 1's.
			s, err = NewSPARQL(c, b, WithSPARQLLogger(quietLogger(nil)), limits, dialectOpt)
			require.NoError(t, err)
			got, err := s.ReadCommitPoint(ctx, parts)
			require.NoError(t, err)
			require.Equal(t, cp(1), got)
			require.NoError(t, commitAll(s, second, 2))
			got, err = s.ReadCommitPoint(ctx, parts)
			require.NoError(t, err)
			require.Equal(t, cp(2), got)
			requireSameGraph(t, tripleSet(want.Triples()), dumpGraph(t, c, dataGraph), storeNormalizer(env))
		})
	}
}
