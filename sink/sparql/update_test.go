package sparql

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql/sparqltest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

var wd = rdfdiff.WikidataScheme()

// loadMunged reads a munged entity fixture from testdata/sparql and splits it
// into the import patch a producer would send (Diff against nothing).
func loadMunged(t testing.TB, name string) rdfdiff.Patch {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sparql", name))
	require.NoError(t, err)
	defer f.Close()
	ts, err := rdfdiff.ParseTurtle(f, "http://www.wikidata.org/")
	require.NoError(t, err)
	return rdfdiff.Diff(nil, ts, rdfdiff.WikibaseShared(wd))
}

// oxigraphRefuses reports whether Oxigraph 0.5 refuses the triple's
// language tag: it checks BCP 47 well-formedness, where a subtag has at most
// 8 characters, and Wikidata uses "zh-classical" (400 "language tag parsing
// failed" for the whole request). The term is valid RDF 1.1 (LANGTAG), so
// the writer keeps it; a store with this rule dead-letters such patches.
func oxigraphRefuses(tr rdfdiff.Triple) bool {
	for _, sub := range strings.Split(tr.O.Lang(), "-") {
		if len(sub) > 8 {
			return true
		}
	}
	return false
}

// withoutOxigraphRefused drops what Oxigraph refuses from an import patch.
func withoutOxigraphRefused(p rdfdiff.Patch) rdfdiff.Patch {
	keep := func(ts []rdfdiff.Triple) []rdfdiff.Triple {
		var out []rdfdiff.Triple
		for _, tr := range ts {
			if !oxigraphRefuses(tr) {
				out = append(out, tr)
			}
		}
		return out
	}
	return rdfdiff.Patch{Added: keep(p.Added), LinkedShared: keep(p.LinkedShared)}
}

// storeNormalize maps a triple to the form the stores return it in (see
// sparqltest.StoreCanonical).
func storeNormalize(tr rdfdiff.Triple) rdfdiff.Triple { return sparqltest.StoreCanonical(tr) }

func normalizeSet(m map[rdfdiff.Triple]bool, f func(rdfdiff.Triple) rdfdiff.Triple) map[rdfdiff.Triple]bool {
	out := make(map[rdfdiff.Triple]bool, len(m))
	for tr := range m {
		out[f(tr)] = true
	}
	return out
}

func tripleSet(groups ...[]rdfdiff.Triple) map[rdfdiff.Triple]bool {
	m := map[rdfdiff.Triple]bool{}
	for _, g := range groups {
		for _, tr := range g {
			m[tr] = true
		}
	}
	return m
}

// dumpGraph reads every triple of graph (of the default graph but the commit
// point's nodes when graph is ""; see dataPattern). Literals are rebuilt from STR,
// DATATYPE and LANG because Virtuoso's result writers print xsd:double with
// six significant digits (51.566516666667 comes back as 51.5665) although the
// store holds, and DELETE DATA matches, the full value.
func dumpGraph(t testing.TB, c *Client, graph string) map[rdfdiff.Triple]bool {
	t.Helper()
	res, err := c.Query(context.Background(), "SELECT ?s ?p ?o (IF(isLiteral(?o), STR(?o), \"\") AS ?lex) "+
		"(IF(isLiteral(?o), STR(DATATYPE(?o)), \"\") AS ?dt) (IF(isLiteral(?o), LANG(?o), \"\") AS ?lang) "+
		"WHERE { "+dataPattern(graph)+" }")
	require.NoError(t, err)
	m := make(map[rdfdiff.Triple]bool, len(res.Bindings))
	for _, row := range res.Bindings {
		o := row["o"]
		if lex, ok := row["lex"]; ok && o.IsLiteral() {
			switch lang := row["lang"].Value(); {
			case lang != "":
				o = rdfdiff.NewLangLiteral(lex.Value(), lang)
			default:
				o = rdfdiff.NewTypedLiteral(lex.Value(), row["dt"].Value())
			}
		}
		m[rdfdiff.Triple{S: row["s"], P: row["p"], O: o}] = true
	}
	return m
}

// requireSameGraph compares two triple sets and reports a few differences;
// with norm, both sides are normalised first.
func requireSameGraph(t testing.TB, want, got map[rdfdiff.Triple]bool, norm ...func(rdfdiff.Triple) rdfdiff.Triple) {
	t.Helper()
	for _, f := range norm {
		want, got = normalizeSet(want, f), normalizeSet(got, f)
	}
	var missing, extra []rdfdiff.Triple
	for tr := range want {
		if !got[tr] {
			missing = append(missing, tr)
		}
	}
	for tr := range got {
		if !want[tr] {
			extra = append(extra, tr)
		}
	}
	rdfdiff.SortTriples(missing)
	rdfdiff.SortTriples(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("graphs differ: %d missing, %d extra\nmissing: %v\nextra: %v",
			len(missing), len(extra), missing[:min(5, len(missing))], extra[:min(5, len(extra))])
	}
}

func cpFor(id uint64, offset int64) *streamkit.CommitPoint {
	return &streamkit.CommitPoint{Job: "wdqs consumer/eqiad", CheckpointID: id, Positions: source.Positions{
		{Topic: "eqiad.rdf-streaming-updater.mutation", Partition: 0}: offset,
		{Topic: "codfw.rdf-streaming-updater.mutation", Partition: 3}: offset * 2,
	}}
}

// apply builds one request for p and cp and sends it.
func apply(t testing.TB, c *Client, b *UpdateBuilder, p *rdfdiff.ConsolidatedPatch, cp *streamkit.CommitPoint) {
	t.Helper()
	req, err := b.Build(p, cp)
	require.NoError(t, err)
	require.NoError(t, c.Update(context.Background(), req))
}

// importPatch splits imports into batches of 200 triples (Added and
// LinkedShared both go to INSERT DATA), small enough for Virtuoso.
func importPatch(ps ...rdfdiff.Patch) []*rdfdiff.ConsolidatedPatch {
	var out []*rdfdiff.ConsolidatedPatch
	for _, p := range ps {
		for _, bucket := range [][]rdfdiff.Triple{p.Added, p.LinkedShared} {
			for start := 0; start < len(bucket); start += 200 {
				part := bucket[start:min(start+200, len(bucket))]
				cp := &rdfdiff.ConsolidatedPatch{}
				cp.Added = part
				out = append(out, cp)
			}
		}
	}
	return out
}

func TestBuildUpdateOrderAndShape(t *testing.T) {
	b, err := NewUpdateBuilder(wd, WithDataGraph("http://ex/data"), WithCommitGraph("http://ex/commit"),
		WithUpdateLagMarker("http://www.wikidata.org"))
	require.NoError(t, err)
	s := rdfdiff.NewIRI("http://www.wikidata.org/entity/Q1")
	p := rdfdiff.NewIRI("http://schema.org/version")
	patch := &rdfdiff.ConsolidatedPatch{
		Patch: rdfdiff.Patch{
			Removed:        []rdfdiff.Triple{{S: s, P: p, O: rdfdiff.NewTypedLiteral("1", rdfdiff.XSDInteger)}},
			Added:          []rdfdiff.Triple{{S: s, P: p, O: rdfdiff.NewTypedLiteral("2", rdfdiff.XSDInteger)}},
			LinkedShared:   []rdfdiff.Triple{{S: rdfdiff.NewIRI("http://www.wikidata.org/value/abc"), P: p, O: rdfdiff.NewLiteral("v")}},
			UnlinkedShared: []rdfdiff.Triple{{S: rdfdiff.NewIRI("http://www.wikidata.org/value/old"), P: p, O: rdfdiff.NewLiteral("never sent")}},
		},
		DeletedEntities: []string{"Q2", "L3"},
		Reconciliations: []rdfdiff.Reconciliation{{EntityID: "Q4", Triples: []rdfdiff.Triple{{S: rdfdiff.NewIRI("http://www.wikidata.org/entity/Q4"), P: p, O: rdfdiff.NewLiteral("r")}}}},
		AvgEventTime:    time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC),
	}
	req, err := b.Build(patch, cpFor(7, 42))
	require.NoError(t, err)

	// The operations come in the documented order.
	order := []string{
		"DELETE DATA {\nGRAPH <http://ex/data> {\n<http://www.wikidata.org/entity/Q1> <http://schema.org/version> \"1\"",
		"INSERT DATA {\nGRAPH <http://ex/data> {\n<http://www.wikidata.org/entity/Q1> <http://schema.org/version> \"2\"",
		"<http://www.wikidata.org/value/abc>",
		"<http://www.wikidata.org> <http://schema.org/dateModified> ?o",
		"\"2026-11-25T13:00:00Z\"^^<http://www.w3.org/2001/XMLSchema#dateTime>",
		"VALUES ?entity { <http://www.wikidata.org/entity/Q2> <http://www.wikidata.org/entity/L3> }",
		"VALUES ?entity { <http://www.wikidata.org/entity/Q4> }",
		"<http://www.wikidata.org/entity/Q4> <http://schema.org/version> \"r\"",
		"GRAPH <http://ex/commit>",
		"\"7\"^^<http://www.w3.org/2001/XMLSchema#integer>",
	}
	at := 0
	for _, part := range order {
		i := strings.Index(req[at:], part)
		require.GreaterOrEqual(t, i, 0, "%q missing or out of order in:\n%s", part, req)
		at += i + len(part)
	}
	assert.NotContains(t, req, "never sent", "UnlinkedShared is not sent")
	assert.Contains(t, req, `FILTER(STRSTARTS(STR(?st), "http://www.wikidata.org/entity/statement/"))`)
	assert.Contains(t, req, "<http://www.w3.org/ns/lemon/ontolex#lexicalForm>")
	assert.Contains(t, req, "<http://schema.org/about> ?entity")
	// Job and topic names are percent-escaped into node IRIs.
	assert.Contains(t, req, "<"+DefaultCommitNamespace+"job/wdqs%20consumer%2Feqiad/cp/7/codfw.rdf-streaming-updater.mutation/3>")

	// Deterministic: the same input gives the same request.
	again, err := b.Build(patch, cpFor(7, 42))
	require.NoError(t, err)
	assert.Equal(t, req, again)

	// Split data operations stay in the same request.
	sb, err := NewUpdateBuilder(wd, WithMaxDataTriples(1))
	require.NoError(t, err)
	two := &rdfdiff.ConsolidatedPatch{}
	two.Added = []rdfdiff.Triple{patch.Added[0], patch.Removed[0]}
	split, err := sb.Build(two, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(split, "INSERT DATA"))
	assert.Equal(t, 1, strings.Count(split, ";\n"))

	// Nothing to send gives nothing.
	empty, err := b.Build(&rdfdiff.ConsolidatedPatch{}, nil)
	require.NoError(t, err)
	assert.Empty(t, empty)
}

func TestBuildUpdateRefusesBadInput(t *testing.T) {
	b, err := NewUpdateBuilder(wd)
	require.NoError(t, err)
	bad := &rdfdiff.ConsolidatedPatch{}
	bad.Added = []rdfdiff.Triple{{S: rdfdiff.NewIRI("http://ex/s"), P: rdfdiff.NewIRI("http://ex/p"), O: rdfdiff.NewBlankNode("x")}}
	out, err := b.AppendUpdate([]byte("prefix"), bad, cpFor(1, 1))
	require.ErrorIs(t, err, ErrUnsafeTerm)
	assert.Equal(t, "prefix", string(out))

	_, err = b.Build(nil, &streamkit.CommitPoint{})
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint)
	_, err = b.Build(nil, &streamkit.CommitPoint{Job: "j", Positions: source.Positions{{Topic: "t"}: -1}})
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint)
	_, err = b.Build(&rdfdiff.ConsolidatedPatch{DeletedEntities: []string{""}}, nil)
	require.ErrorIs(t, err, rdfdiff.ErrInvalidEntityID)

	for _, opt := range []Option{WithDataGraph("not an iri"), WithCommitGraph("http://ex/a b"),
		WithUpdateLagMarker("x>"), WithCommitNamespace("no-scheme")} {
		_, err := NewUpdateBuilder(wd, opt)
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "sparql: "), err.Error())
	}
	_, err = NewUpdateBuilder(rdfdiff.URIScheme{})
	require.Error(t, err)
}

// storeUpdateScenario imports three real entities, deletes two of them
// (an item and a lexeme with forms and senses), reconciles a borked Q42 and
// checks the graph and the commit point after each step.
func storeUpdateScenario(t *testing.T, env string) {
	c := storeClient(t, env)
	ctx := context.Background()
	graph, commitGraph := storeGraph(t, env), ""
	if graph != "" {
		commitGraph = graph + "/commit"
		defer func() { _ = c.Update(ctx, dropGraphs(graph, commitGraph)) }()
	}
	b, err := NewUpdateBuilder(wd, WithDataGraph(graph), WithCommitGraph(commitGraph))
	require.NoError(t, err)

	_, err = b.ReadCommitPoint(ctx, c, "wdqs consumer/eqiad")
	require.ErrorIs(t, err, streamkit.ErrNoCommitPoint)

	q42, q513, l4082 := loadMunged(t, "Q42-munged.ttl"), loadMunged(t, "Q513-munged.ttl"), loadMunged(t, "L4082-munged.ttl")
	norm := []func(rdfdiff.Triple) rdfdiff.Triple{storeNormalizer(env)}
	if env != "STREAMKIT_VIRTUOSO_URL" {
		q42, q513, l4082 = withoutOxigraphRefused(q42), withoutOxigraphRefused(q513), withoutOxigraphRefused(l4082)
	}
	parts := importPatch(q42, q513, l4082)
	for i, p := range parts {
		apply(t, c, b, p, cpFor(uint64(i+1), int64(i+1)))
	}
	requireSameGraph(t, tripleSet(q42.Added, q42.LinkedShared, q513.Added, q513.LinkedShared, l4082.Added, l4082.LinkedShared), dumpGraph(t, c, graph), norm...)
	got, err := b.ReadCommitPoint(ctx, c, "wdqs consumer/eqiad")
	require.NoError(t, err)
	want := cpFor(uint64(len(parts)), int64(len(parts)))
	assert.Equal(t, want.CheckpointID, got.CheckpointID)
	assert.Equal(t, want.Positions, got.Positions)

	// Entity deletes: statements, sitelinks, forms and senses go; shared
	// value and reference nodes stay.
	apply(t, c, b, &rdfdiff.ConsolidatedPatch{DeletedEntities: []string{"L4082", "Q42"}}, cpFor(100, 100))
	requireSameGraph(t, tripleSet(q42.LinkedShared, q513.Added, q513.LinkedShared, l4082.LinkedShared), dumpGraph(t, c, graph), norm...)
	got, err = b.ReadCommitPoint(ctx, c, "wdqs consumer/eqiad")
	require.NoError(t, err)
	assert.Equal(t, uint64(100), got.CheckpointID)

	// Reconcile: a borked Q42 is replaced by the munged one.
	borked := withoutOxigraphRefused(loadMunged(t, "Q42-borked.ttl"))
	for _, p := range importPatch(borked) {
		apply(t, c, b, p, nil)
	}
	rec := &rdfdiff.ConsolidatedPatch{Reconciliations: []rdfdiff.Reconciliation{{EntityID: "Q42", Triples: q42.Added}}}
	rec.LinkedShared = q42.LinkedShared
	if env == "STREAMKIT_VIRTUOSO_URL" {
		// Virtuoso cannot take Q42's triples in one INSERT DATA (SP031):
		// split the operations.
		vb, err := NewUpdateBuilder(wd, WithDataGraph(graph), WithCommitGraph(commitGraph), WithMaxDataTriples(400))
		require.NoError(t, err)
		apply(t, c, vb, rec, cpFor(101, 101))
	} else {
		apply(t, c, b, rec, cpFor(101, 101))
	}
	requireSameGraph(t, tripleSet(q42.Added, q42.LinkedShared, borked.LinkedShared, q513.Added, q513.LinkedShared, l4082.LinkedShared), dumpGraph(t, c, graph), norm...)
	got, err = b.ReadCommitPoint(ctx, c, "wdqs consumer/eqiad")
	require.NoError(t, err)
	assert.Equal(t, uint64(101), got.CheckpointID)
	assert.Equal(t, cpFor(101, 101).Positions, got.Positions)
}

func TestUpdateScenarioOxigraph(t *testing.T) { storeUpdateScenario(t, "STREAMKIT_OXIGRAPH_URL") }

func TestUpdateScenarioVirtuoso(t *testing.T) { storeUpdateScenario(t, "STREAMKIT_VIRTUOSO_URL") }

// TestUpdateAtomicOxigraph shows the commit point at work on an atomic
// store: a request that fails applies neither its data nor its positions,
// so the job restarts from the previous commit and re-sends the batch.
func TestUpdateAtomicOxigraph(t *testing.T) {
	c := storeClient(t, "STREAMKIT_OXIGRAPH_URL")
	ctx := context.Background()
	graph := testGraph(t)
	b, err := NewUpdateBuilder(wd, WithDataGraph(graph))
	require.NoError(t, err)
	defer func() { _ = c.Update(ctx, "DROP SILENT GRAPH <"+graph+">") }()

	s, p := rdfdiff.NewIRI("http://www.wikidata.org/entity/Q1"), rdfdiff.NewIRI("http://schema.org/version")
	first := &rdfdiff.ConsolidatedPatch{}
	first.Added = []rdfdiff.Triple{{S: s, P: p, O: rdfdiff.NewTypedLiteral("1", rdfdiff.XSDInteger)}}
	apply(t, c, b, first, cpFor(1, 10))
	before := dumpGraph(t, c, graph)

	second := &rdfdiff.ConsolidatedPatch{}
	second.Removed = first.Added
	second.Added = []rdfdiff.Triple{{S: s, P: p, O: rdfdiff.NewTypedLiteral("2", rdfdiff.XSDInteger)}}
	req, err := b.Build(second, cpFor(2, 20))
	require.NoError(t, err)
	// The last operation fails at run time (the graph exists), after the
	// data and the commit point operations.
	err = c.Update(ctx, req+";\nCREATE GRAPH <"+graph+">")
	require.ErrorIs(t, err, ErrStoreRejected)

	requireSameGraph(t, before, dumpGraph(t, c, graph))
	got, err := b.ReadCommitPoint(ctx, c, "wdqs consumer/eqiad")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), got.CheckpointID, "positions not moved by a failed request")
	assert.Equal(t, cpFor(1, 10).Positions, got.Positions)

	// Replaying the committed request is harmless (idempotent).
	require.NoError(t, c.Update(ctx, req))
	require.NoError(t, c.Update(ctx, req))
	got, err = b.ReadCommitPoint(ctx, c, "wdqs consumer/eqiad")
	require.NoError(t, err)
	assert.Equal(t, uint64(2), got.CheckpointID)
	assert.Len(t, dumpGraph(t, c, graph), 1+2+4*2, "one data triple, job node (2), two positions (4 each)")
}

func TestReadCommitPointRejectsMalformed(t *testing.T) {
	b, err := NewUpdateBuilder(wd)
	require.NoError(t, err)
	ns := DefaultCommitNamespace
	iri := func(s string) rdfdiff.Term { return rdfdiff.NewIRI(ns + s) }
	two := fakeQuerier{rows: []map[string]rdfdiff.Term{
		{"cp": rdfdiff.NewTypedLiteral("1", rdfdiff.XSDInteger)},
		{"cp": rdfdiff.NewTypedLiteral("2", rdfdiff.XSDInteger)},
	}}
	_, err = b.ReadCommitPoint(context.Background(), two, "j")
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint)

	badOffset := fakeQuerier{rows: []map[string]rdfdiff.Term{{
		"cp": rdfdiff.NewTypedLiteral("1", rdfdiff.XSDInteger), "pos": iri("p"),
		"topic": rdfdiff.NewLiteral("t"), "partition": rdfdiff.NewLiteral("0"), "offset": rdfdiff.NewLiteral("x"),
	}}}
	_, err = b.ReadCommitPoint(context.Background(), badOffset, "j")
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint)

	_, err = b.ReadCommitPoint(context.Background(), two, "")
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint)
}

type fakeQuerier struct{ rows []map[string]rdfdiff.Term }

func (f fakeQuerier) Query(context.Context, string) (*Results, error) {
	return &Results{Bindings: f.rows}, nil
}

func BenchmarkBuildUpdate(b *testing.B) {
	q42 := loadMunged(b, "Q42-munged.ttl")
	ub, err := NewUpdateBuilder(wd, WithDataGraph("http://ex/g"))
	require.NoError(b, err)
	p := &rdfdiff.ConsolidatedPatch{Patch: q42}
	p.Removed = q42.Added[:len(q42.Added)/2]
	p.DeletedEntities = []string{"Q1", "Q2"}
	buf, err := ub.AppendUpdate(nil, p, cpFor(1, 1))
	require.NoError(b, err)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	triples := len(p.Added) + len(p.Removed) + len(p.LinkedShared)
	for b.Loop() {
		if buf, err = ub.AppendUpdate(buf[:0], p, cpFor(1, 1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(triples)*float64(b.N)/b.Elapsed().Seconds(), "triples/s")
}

// BenchmarkApplyOxigraph measures triples/s applied to Oxigraph through the
// builder and Client (raw application/sparql-update body, one request per
// batch with the commit point) against posting the very same request bodies
// with a bare http.Post, for several batch sizes.
func BenchmarkApplyOxigraph(b *testing.B) {
	endpoint := os.Getenv("STREAMKIT_OXIGRAPH_URL")
	if endpoint == "" {
		b.Skip("STREAMKIT_OXIGRAPH_URL not set")
	}
	c := storeClient(b, "STREAMKIT_OXIGRAPH_URL")
	ctx := context.Background()
	for _, batch := range []int{100, 1000, 10000} {
		graph := testGraph(b)
		ub, err := NewUpdateBuilder(wd, WithDataGraph(graph))
		require.NoError(b, err)
		mk := func(i int) *rdfdiff.ConsolidatedPatch {
			p := &rdfdiff.ConsolidatedPatch{}
			for j := 0; j < batch; j++ {
				p.Added = append(p.Added, rdfdiff.Triple{
					S: rdfdiff.NewIRI("http://www.wikidata.org/entity/statement/Q" + strconv.Itoa(i) + "-" + strconv.Itoa(j)),
					P: rdfdiff.NewIRI("http://www.wikidata.org/prop/statement/P31"),
					O: rdfdiff.NewLiteral("value number " + strconv.Itoa(i*batch+j)),
				})
			}
			return p
		}
		b.Run(fmt.Sprintf("batch=%d/client", batch), func(b *testing.B) {
			i := 0
			var bytes int64
			for b.Loop() {
				b.StopTimer()
				p := mk(i)
				b.StartTimer()
				req, err := ub.Build(p, cpFor(uint64(i), int64(i)))
				if err != nil {
					b.Fatal(err)
				}
				bytes += int64(len(req))
				if err := c.Update(ctx, req); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.SetBytes(bytes / int64(max(b.N, 1)))
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "triples/s")
		})
		b.Run(fmt.Sprintf("batch=%d/raw", batch), func(b *testing.B) {
			i := 0
			for b.Loop() {
				b.StopTimer()
				req, err := ub.Build(mk(i+1_000_000), cpFor(uint64(i), int64(i)))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				resp, err := http.Post(endpoint, "application/sparql-update; charset=UTF-8", strings.NewReader(req))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					b.Fatal(resp.Status)
				}
				i++
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "triples/s")
		})
		require.NoError(b, c.Update(ctx, "DROP SILENT GRAPH <"+graph+">"))
	}
}

// TestUpdateNotAtomicVirtuoso documents Virtuoso's behaviour: the operations of
// a request before a run-time failure stay applied, with HTTP 500. The commit
// point is written before the old one is removed, so a failure between the two
// leaves both, which ReadCommitPoint reports loudly, never "no commit point"
// (which would restart the job from scratch).
func TestUpdateNotAtomicVirtuoso(t *testing.T) {
	c := storeClient(t, "STREAMKIT_VIRTUOSO_URL")
	c.retry = RetryPolicy{MaxAttempts: 1}
	ctx := context.Background()
	graph := testGraph(t)
	b, err := NewUpdateBuilder(wd, WithDataGraph(graph))
	require.NoError(t, err)
	defer func() { _ = c.Update(ctx, "DROP SILENT GRAPH <"+graph+">") }()
	apply(t, c, b, nil, cpFor(1, 10))

	p := &rdfdiff.ConsolidatedPatch{}
	p.Added = []rdfdiff.Triple{{S: rdfdiff.NewIRI("http://www.wikidata.org/entity/Q1"), P: rdfdiff.NewIRI("http://schema.org/version"), O: rdfdiff.NewLiteral("2")}}
	req, err := b.Build(p, cpFor(2, 20))
	require.NoError(t, err)
	ops := strings.Split(req, ";\n")
	require.Len(t, ops, 4, "data, new commit point, two deletes of the old one")
	failing := strings.Join(ops[:2], ";\n") + ";\nDROP GRAPH <" + graph + "/missing>;\n" + strings.Join(ops[2:], ";\n")
	err = c.Update(ctx, failing)
	require.ErrorIs(t, err, ErrStoreUnavailable, "Virtuoso answers 500 although part of the request was applied")

	ok, err := c.Ask(ctx, "ASK { GRAPH <"+graph+"> { <http://www.wikidata.org/entity/Q1> <http://schema.org/version> \"2\" } }")
	require.NoError(t, err)
	assert.True(t, ok, "the data operation before the failure was applied (not atomic)")
	_, err = b.ReadCommitPoint(ctx, c, "wdqs consumer/eqiad")
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint)
	assert.Contains(t, err.Error(), "checkpoint IDs")

	// Replaying the whole request (at-least-once) repairs it.
	require.NoError(t, c.Update(ctx, req))
	got, err := b.ReadCommitPoint(ctx, c, "wdqs consumer/eqiad")
	require.NoError(t, err)
	assert.Equal(t, uint64(2), got.CheckpointID)
}
