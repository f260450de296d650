package sparql

// The differential test: one stream of WDQS mutation events — the real
// rdf_change events of the fixtures, then hundreds (thousands on demand) of
// generated ones over real Wikidata entities (sparql_stream_test.go) — is
// decoded, reassembled and accumulated in batches as the consumer does, and
// every batch is applied, with its commit point, to graph.Graph (the
// specification) and to each real store through UpdateBuilder and Client. The stores must end in the same
// graph as Graph, compared as sorted canonical N-Triples, and after every
// batch each store must hand back exactly the commit point just written.
//
// Store quirks normalised (both sides go through the same normalisation, so a
// difference in anything else still fails):
//
//   - Numbers: Oxigraph 0.5 and Virtuoso 7.2 hold xsd:decimal and xsd:double
//     natively and return the canonical lexical form ("+1.96" comes back as
//     "1.96"); Virtuoso also returns an xsd:decimal without fraction digits
//     as xsd:integer and canonicalises xsd:integer ("+5" → "5"). DELETE DATA
//     still matches the value, so diffs apply; storeNormalize maps both sides
//     to the canonical form.
//   - Virtuoso returns geo:wktLiteral as virtrdf:Geometry with the keyword
//     upper-cased (storeNormalize again).
//   - Virtuoso returns xsd:string literals as "typed-literal" bindings; the
//     Client reads them as the simple literal RDF 1.1 makes them. Its JSON
//     writer prints xsd:double with six significant digits, so the graph is
//     read with STR/DATATYPE/LANG (dumpGraph), not from the bound term.
//   - Oxigraph 0.5 refuses language tags with a subtag longer than eight
//     characters (Wikidata's "zh-classical"): the whole request fails with
//     400. Such triples are dropped from the real entities before the stream
//     is generated (dsStoreSafe), so all stores get the same stream; the sink
//     dead-letters such patches.
//   - Virtuoso needs a named graph (both stores get their own, data and commit
//     point apart), refuses INSERT DATA beyond ~1 000 triples and requests
//     beyond ~3 000 however split, and is not atomic across the operations of
//     a request anyway: it gets the same request built with
//     WithMaxDataTriples(400), sent as consecutive requests of whole
//     operations (at most ~500 lines each), which is how Virtuoso executes one
//     request: operation by operation.
//
//   - Both stores canonicalise xsd:dateTime fractions: Oxigraph drops
//     trailing zeros ("…07.770Z" comes back as "…07.77Z"), Virtuoso keeps
//     microseconds ("…40.915333333Z" comes back as "…40.915333Z"; only the
//     lag marker, an average of event times, has more). diffNormalize maps
//     both sides to six digits without trailing zeros.
//
//   - Blazegraph (a fresh namespace configured as WDQS's, triples mode: data
//     and commit point share the default graph, the reader leaves the commit
//     nodes out) holds xsd:dateTime to the millisecond and identifies terms
//     by their Unicode collation key (blazegraphLexicon): both sides are
//     mapped the same way. Its mutation count is checked after every batch
//     (checkMutationCount).
//
// The store is read back through github.com/knakk/sparql
// (storereader_test.go), not through Client, so that a bug in our client
// cannot hide a bug in our writes.
//
// The stream (sparql_stream_test.go): imports, diffs between revisions
// derived deterministically from real entities (statements dropped, restored
// and added citing reference nodes of other entities, labels, descriptions
// and aliases changed with tricky text, sitelinks added, removed, renamed
// and merged from another entity, Q42 jumping between its two real
// revisions), entity deletes and re-imports, reconciliations, and lost diffs
// that leave a store behind until a later reconciliation. Clones of the real
// entities under new IDs share their value and reference nodes.
//
// Sizes: by default 1 500 generated events on Oxigraph (~190 batches,
// ~97 000 triples of patch weight), 600 on Blazegraph (~45 000 triples,
// ~30 s: it takes ~40 ms per request) and 120 on Virtuoso, whose real entities
// are limited to small ones (it inserts only ~500–10 000 triples/s depending
// on the machine's load). With -race on the shared 2-core machine that is
// ~10 s and ~9 s when it is quiet, three to five times more under heavy
// load. STREAMKIT_DIFF_PATCHES=<n> runs n events on every store with all
// real entities: 3 000 on Oxigraph (349 batches, 196 000 triples of patch
// weight) take ~22 s, 400 on Virtuoso (31 000 triples) ~2 min. Without
// either store variable only graph.Graph runs (400 events) and is checked
// against the generator's model.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

const (
	diffJob   = "wdqs differential/eqiad"
	diffTopic = "eqiad.rdf-streaming-updater.mutation"
)

// diffStore is one real store under test.
type diffStore struct {
	name   string
	c      *Client
	b      *UpdateBuilder
	data   string
	commit string
	// byOps sends each request as consecutive requests of whole operations
	// (Virtuoso).
	byOps bool
	// requests counts the HTTP update requests sent.
	requests int
	// blazegraph: a fresh namespace in triples mode (data and commit point
	// in its default graph); each request's mutation count is parsed into
	// mutations and checked against the triples the batch changed.
	blazegraph       bool
	mutations        int64
	commitTriples    map[rdfdiff.Triple]bool
	checkedMutations int64
	exactMutations   int
}

func newDiffStore(t *testing.T, name, env string, byOps bool) *diffStore {
	t.Helper()
	if os.Getenv(env) == "" {
		return nil
	}
	c := storeClient(t, env)
	s := &diffStore{name: name, c: c, byOps: byOps, blazegraph: isBlazegraph(env)}
	if !s.blazegraph {
		base := testGraph(t) + "/" + name
		s.data, s.commit = base+"/data", base+"/commit"
	}
	opts := []Option{WithDataGraph(s.data), WithCommitGraph(s.commit), WithUpdateLagMarker(wd.ConceptURI())}
	if byOps {
		opts = append(opts, WithMaxDataTriples(400))
	}
	var err error
	s.b, err = NewUpdateBuilder(wd, opts...)
	require.NoError(t, err)
	if s.data != "" {
		drop := func() error { return c.Update(context.Background(), dropGraphs(s.data, s.commit)) }
		require.NoError(t, drop())
		t.Cleanup(func() { _ = drop() })
	}
	return s
}

// diffSplitOps splits an update request into its operations. The builder
// joins operations with ";\n" and no term it writes holds a raw line break
// (AppendSPARQLTerm escapes them), so the split is exact; it is checked.
func diffSplitOps(t testing.TB, req string) []string {
	ops := strings.Split(req, ";\n")
	for _, op := range ops {
		require.True(t, strings.HasPrefix(op, "DELETE") || strings.HasPrefix(op, "INSERT"), "not an operation: %.200q", op)
	}
	return ops
}

func (s *diffStore) apply(t testing.TB, ctx context.Context, p *rdfdiff.ConsolidatedPatch, cp *streamkit.CommitPoint) {
	t.Helper()
	req, err := s.b.Build(p, cp)
	require.NoError(t, err)
	if s.blazegraph {
		s.requests++
		resp, err := s.c.UpdateResponse(ctx, req)
		require.NoError(t, err, "%s: batch %d", s.name, cp.CheckpointID)
		bu, err := ParseBlazegraphUpdate(resp.Body)
		require.NoError(t, err, "%s: batch %d: %.300s", s.name, cp.CheckpointID, resp.Body)
		s.mutations = bu.MutationCount
		return
	}
	if !s.byOps {
		s.requests++
		require.NoError(t, s.c.Update(ctx, req), "%s: batch %d", s.name, cp.CheckpointID)
		return
	}
	var part []string
	lines := 0
	send := func() {
		if len(part) == 0 {
			return
		}
		s.requests++
		require.NoError(t, s.c.Update(ctx, strings.Join(part, ";\n")), "%s: batch %d", s.name, cp.CheckpointID)
		part, lines = part[:0], 0
	}
	for _, op := range diffSplitOps(t, req) {
		n := strings.Count(op, "\n")
		if lines+n > 500 {
			send()
		}
		part = append(part, op)
		lines += n
	}
	send()
}

// diffCanonical returns ts normalised for the stores' quirks as sorted
// canonical N-Triples.
func diffCanonical(ts []rdfdiff.Triple) string {
	out := make([]rdfdiff.Triple, len(ts))
	for i, tr := range ts {
		out[i] = diffNormalize(tr)
	}
	rdfdiff.SortTriples(out)
	out = compactTriples(out)
	return string(rdfdiff.AppendNTriples(nil, out))
}

// diffNormalize is storeNormalize plus xsd:dateTime fractional seconds cut
// to microseconds, as Virtuoso holds them, and without trailing zeros, as
// Oxigraph returns them ("…07.770Z" comes back as "…07.77Z"; DELETE DATA
// still matches by value).
func diffNormalize(tr rdfdiff.Triple) rdfdiff.Triple {
	tr = storeNormalize(tr)
	if o := tr.O; o.IsLiteral() && o.Datatype() == rdfdiff.XSDDateTime {
		tr.O = rdfdiff.NewTypedLiteral(canonicalFraction(o.Value()), rdfdiff.XSDDateTime)
	}
	return tr
}

// canonicalFraction cuts the fraction of the seconds of an xsd:dateTime
// lexical form to six digits and drops its trailing zeros (and a bare '.').
func canonicalFraction(lex string) string {
	dot := strings.LastIndexByte(lex, '.')
	if dot < 0 || strings.LastIndexByte(lex, ':') > dot {
		return lex
	}
	end := dot + 1
	for end < len(lex) && lex[end] >= '0' && lex[end] <= '9' {
		end++
	}
	frac := strings.TrimRight(lex[dot+1:min(end, dot+7)], "0")
	if frac == "" {
		return lex[:dot] + lex[end:]
	}
	return lex[:dot+1] + frac + lex[end:]
}

func compactTriples(ts []rdfdiff.Triple) []rdfdiff.Triple {
	if len(ts) == 0 {
		return ts
	}
	out := ts[:1]
	for _, tr := range ts[1:] {
		if tr != out[len(out)-1] {
			out = append(out, tr)
		}
	}
	return out
}

// requireSameNTriples fails with the first differing lines of two sorted
// N-Triples documents.
func requireSameNTriples(t testing.TB, want, got, what string) {
	t.Helper()
	if want == got {
		return
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	wm, gm := map[string]bool{}, map[string]bool{}
	for _, l := range w {
		wm[l] = true
	}
	for _, l := range g {
		gm[l] = true
	}
	var missing, extra []string
	for _, l := range w {
		if !gm[l] {
			missing = append(missing, "- "+l)
		}
	}
	for _, l := range g {
		if !wm[l] {
			extra = append(extra, "+ "+l)
		}
	}
	t.Fatalf("%s: graphs differ (%d lines vs %d): %d missing, %d extra\n%s\n%s", what, len(w), len(g),
		len(missing), len(extra), strings.Join(missing[:min(10, len(missing))], "\n"), strings.Join(extra[:min(10, len(extra))], "\n"))
}

// dump reads the store's data back through the independent reader
// (storereader_test.go), not through Client.
func (s *diffStore) dump(t testing.TB) string {
	return diffCanonical(readStoreIndependently(t, s.c.Endpoint(), s.data))
}

// diffPatches returns how many events to generate: STREAMKIT_DIFF_PATCHES,
// or def.
func diffPatches(t *testing.T, def int) int {
	if v := os.Getenv("STREAMKIT_DIFF_PATCHES"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "STREAMKIT_DIFF_PATCHES")
		require.Positive(t, n, "STREAMKIT_DIFF_PATCHES")
		return n
	}
	return def
}

// TestSPARQLDifferential runs the stream against each store that is set up,
// each beside its own graph.Graph; without stores, it runs graph.Graph alone
// against the generator's model. Virtuoso takes a shorter stream by default:
// it inserts ~2 000–10 000 triples/s, depending on the machine's load.
func TestSPARQLDifferential(t *testing.T) {
	ran := false
	for _, c := range []struct {
		name, env string
		byOps     bool
		events    int
		maxReal   int
	}{
		{"oxigraph", "STREAMKIT_OXIGRAPH_URL", false, 1500, 0},
		{"virtuoso", "STREAMKIT_VIRTUOSO_URL", true, 120, 1000},
		{"blazegraph", blazegraphEnv, false, 600, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newDiffStore(t, c.name, c.env, c.byOps)
			if s == nil {
				t.Skipf("%s not set", c.env)
			}
			ran = true
			maxReal := c.maxReal
			if os.Getenv("STREAMKIT_DIFF_PATCHES") != "" {
				maxReal = 0
			}
			runDifferential(t, s, diffPatches(t, c.events), maxReal)
		})
	}
	if !ran {
		t.Run("graph", func(t *testing.T) { runDifferential(t, nil, diffPatches(t, 400), 0) })
	}
}

// runDifferential applies n generated events (after the fixture events) to a
// graph.Graph and, when store is not nil, to the store, comparing graphs and
// commit points.
func runDifferential(t *testing.T, store *diffStore, n, maxReal int) {
	ctx := context.Background()
	var stores []*diffStore
	if store != nil {
		stores = append(stores, store)
	}
	const seed = 20261125
	t.Logf("seed %d, %d generated events", seed, n)

	g := graph.NewGraph(graph.WithLagMarker(wd.ConceptURI()))
	gen := newDSStream(t, seed, 3, maxReal)
	var (
		re      = rdfdiff.NewReassembler()
		acc     = rdfdiff.NewAccumulator()
		offset  int64 // next offset to read
		start   int64 // offset of the first message of the event being read
		batch   uint64
		target  = 250
		spent   = map[string]time.Duration{}
		triples int
	)
	defer func() {
		for _, s := range stores {
			t.Logf("%s: %d update requests, %v spent in the store", s.name, s.requests, spent[s.name].Round(time.Millisecond))
			if s.blazegraph {
				t.Logf("%s: %d mutations counted and checked (%d batches exactly)", s.name, s.checkedMutations, s.exactMutations)
			}
		}
	}()
	checkMutations := slices.ContainsFunc(stores, func(s *diffStore) bool { return s.blazegraph })
	compare := func(when string) {
		want := diffCanonical(g.Triples())
		for _, s := range stores {
			began := time.Now()
			want, got := want, ""
			if s.blazegraph {
				lex := newBlazegraphLexicon()
				want = diffCanonical(lex.triples(blazegraphDateTimes(g.Triples())))
				got = diffCanonical(lex.triples(readStoreIndependently(t, s.c.Endpoint(), s.data)))
			} else {
				got = s.dump(t)
			}
			requireSameNTriples(t, want, got, fmt.Sprintf("%s vs graph.Graph %s (seed %d)", s.name, when, seed))
			spent[s.name] += time.Since(began)
		}
	}
	// flush applies the batch with the commit point "everything before
	// next has been applied".
	flush := func(next int64) {
		p := acc.Result()
		acc.Reset()
		batch++
		cp := &streamkit.CommitPoint{Job: diffJob, CheckpointID: batch, Positions: source.Positions{{Topic: diffTopic, Partition: 0}: next}}
		triples += p.Weight()
		var before map[rdfdiff.Triple]bool
		if checkMutations {
			before = tripleSet(g.Triples())
		}
		require.NoError(t, g.Apply(ctx, p, cp))
		got, err := g.Positions(ctx)
		require.NoError(t, err)
		require.Equal(t, cp, got)
		for _, s := range stores {
			began := time.Now()
			s.apply(t, ctx, p, cp)
			got, err := s.b.ReadCommitPoint(ctx, s.c, diffJob)
			require.NoError(t, err, "%s after batch %d", s.name, batch)
			require.Equal(t, cp, got, "%s: commit point read back after batch %d", s.name, batch)
			spent[s.name] += time.Since(began)
			if s.blazegraph {
				checkMutationCount(t, s, before, g, p, batch)
			}
		}
		// Batches of varying weight, as WDQS's batchSize (production 250).
		target = []int{50, 250, 250, 1000}[gen.r.IntN(4)]
	}
	consume := func(msg []byte) {
		ev, err := rdfdiff.DecodeEvent(msg)
		require.NoError(t, err)
		if ev.Sequence == 0 {
			start = offset
		}
		c, err := re.Add(ev, offset)
		require.NoError(t, err)
		offset++
		if c == nil {
			return
		}
		if acc.Check(c) != nil {
			// The change must wait for the next batch: its messages are
			// not part of this commit.
			flush(start)
		}
		require.NoError(t, acc.Accumulate(c))
		if acc.Weight() >= target {
			flush(offset)
		}
	}

	for _, msg := range dsFixtureEvents(t) {
		consume(msg)
	}
	checks := map[int]bool{n / 2: true}
	dirty := map[string]bool{}
	for i := range n {
		c, lost := gen.change()
		if lost {
			dirty[c.EntityID] = true
		} else {
			if c.Operation != rdfdiff.OpDiff {
				delete(dirty, c.EntityID)
			}
			for _, msg := range dsEvents(t, c, []int{4_000, 20_000, 128_000}[gen.r.IntN(3)]) {
				consume(msg)
			}
		}
		if checks[i] && len(stores) > 0 {
			flush(offset)
			compare(fmt.Sprintf("after %d events, batch %d", i, batch))
		}
	}
	flush(offset)
	require.Empty(t, re.Pending())
	compare(fmt.Sprintf("at the end, batch %d", batch))

	// The graph itself against the generator's model: every entity the
	// stream deleted is gone, and every other one holds its current
	// revision's own data (not for entities whose last diff was lost).
	checked := 0
	for _, e := range gen.ents {
		ent := wd.EntityTerm(e.id)
		if e.cur == nil {
			require.Empty(t, g.Match(ent, rdfdiff.Term{}, rdfdiff.Term{}), "deleted %s", e.id)
			continue
		}
		if dirty[e.id] {
			continue
		}
		checked++
		var own []rdfdiff.Triple
		for _, tr := range e.cur {
			if tr.S == ent {
				own = append(own, tr)
			}
		}
		require.Equal(t, rdftest.NTriples(t, own), rdftest.NTriples(t, g.Match(ent, rdfdiff.Term{}, rdfdiff.Term{})), "%s: own triples", e.id)
	}
	require.Positive(t, checked)
	t.Logf("%d batches, %d triples of patch weight, %d messages, graph of %d triples; ops %v", batch, triples, offset, g.Len(), gen.ops)
}

// TestSPARQLReconcileKeepsOtherSitelinkClaims checks that a reconciliation
// keeps another entity's claim on a sitelink. Entity A has a sitelink; entity B
// takes it over (a merge: B's revision holds the article with schema:about B
// while A's still claims it) and B is reconciled. WDQS's MultiSync update
// and graph.Graph delete only B's old sitelinks, B's
// statement nodes' and B's own triples that are not in the new list, so
// <article> schema:about A stays. A reconciliation that ran
// DELETE { ?s ?p ?o } for every subject of the new list, the article
// included, would lose <article> schema:about A.
func TestSPARQLReconcileKeepsOtherSitelinkClaims(t *testing.T) {
	ctx := context.Background()
	a, b := wd.EntityTerm("Q1000001"), wd.EntityTerm("Q1000002")
	article := rdfdiff.NewIRI("https://en.wikipedia.org/wiki/Merged_article")
	site := rdfdiff.NewIRI("https://en.wikipedia.org/")
	block := func(about rdfdiff.Term) []rdfdiff.Triple {
		return []rdfdiff.Triple{
			{S: article, P: rdftest.RDFType, O: dsArticle},
			{S: article, P: rdftest.SchemaAbout, O: about},
			{S: article, P: dsIsPartOf, O: site},
			{S: article, P: dsSchemaName, O: rdfdiff.NewLangLiteral("Merged article", "en")},
		}
	}
	label := func(e rdfdiff.Term, text string) rdfdiff.Triple {
		return rdfdiff.Triple{S: e, P: dsRDFSLabel, O: rdfdiff.NewLangLiteral(text, "en")}
	}
	shared := rdfdiff.WikibaseShared(wd)
	revA := append(block(a), label(a, "A"), rdfdiff.Triple{S: site, P: rdftest.WikiGroup, O: rdfdiff.NewLiteral("wikipedia")})
	revB := []rdfdiff.Triple{label(b, "B")}
	newB := append(block(b), label(b, "B merged"))
	batches := []*rdfdiff.ConsolidatedPatch{
		rdftest.Batch(t, &rdfdiff.EntityChange{EntityID: "Q1000001", Revision: 1, Operation: rdfdiff.OpImport, Patch: rdfdiff.Diff(nil, revA, shared)},
			&rdfdiff.EntityChange{EntityID: "Q1000002", Revision: 2, Operation: rdfdiff.OpImport, Patch: rdfdiff.Diff(nil, revB, shared)}),
		rdftest.Batch(t, &rdfdiff.EntityChange{EntityID: "Q1000002", Revision: 3, Operation: rdfdiff.OpReconcile,
			Patch: rdfdiff.Patch{Added: rdfdiff.Diff(nil, newB, shared).Added}}),
	}

	g := graph.NewGraph()
	for i, p := range batches {
		require.NoError(t, g.Apply(ctx, p, &streamkit.CommitPoint{Job: diffJob, CheckpointID: uint64(i + 1)}))
	}
	require.True(t, g.Contains(rdfdiff.Triple{S: article, P: rdftest.SchemaAbout, O: a}), "graph.Graph keeps A's claim, as WDQS does")
	require.True(t, g.Contains(rdfdiff.Triple{S: article, P: rdftest.SchemaAbout, O: b}))
	want := diffCanonical(g.Triples())

	ran := false
	for _, c := range []struct {
		name, env string
		byOps     bool
	}{{"oxigraph", "STREAMKIT_OXIGRAPH_URL", false}, {"virtuoso", "STREAMKIT_VIRTUOSO_URL", true}, {"blazegraph", blazegraphEnv, false}} {
		t.Run(c.name, func(t *testing.T) {
			s := newDiffStore(t, c.name, c.env, c.byOps)
			if s == nil {
				t.Skipf("%s not set", c.env)
			}
			ran = true
			for i, p := range batches {
				s.apply(t, ctx, p, &streamkit.CommitPoint{Job: diffJob, CheckpointID: uint64(i + 1)})
			}
			requireSameNTriples(t, want, s.dump(t), c.name+" vs graph.Graph after reconciling B")
		})
	}
	if !ran {
		// Without a store, show the difference on the request itself.
		ub, err := NewUpdateBuilder(wd)
		require.NoError(t, err)
		req, err := ub.Build(batches[1], nil)
		require.NoError(t, err)
		for _, line := range strings.Split(req, "\n") {
			if strings.HasPrefix(line, "VALUES ?s {") {
				require.NotContains(t, line, "<"+article.Value()+">",
					"the reconciliation clears every triple of the article, also <article> schema:about A")
			}
		}
	}
}
