package graph

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// Helpers shared by the graph tests.

var gWD = rdfdiff.WikidataScheme()

func gIRI(s string) rdfdiff.Term { return rdfdiff.NewIRI(s) }

func gLit(s string) rdfdiff.Term { return rdfdiff.NewLiteral(s) }

func gTri(s, p, o rdfdiff.Term) rdfdiff.Triple { return rdfdiff.Triple{S: s, P: p, O: o} }

// ex returns an IRI in a test namespace.
func gEx(local string) rdfdiff.Term { return gIRI("http://example.org/" + local) }

// graphFixture parses testdata/graph/<name> (Turtle).
func graphFixture(t testing.TB, name string) []rdfdiff.Triple {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "graph", name))
	require.NoError(t, err)
	ts, err := rdfdiff.ParseTurtleBytes(data, rdfdiff.WithFileName(name))
	require.NoError(t, err)
	return ts
}

// mungedL691820 munges the raw lexeme L691820 as the WDQS integration test
// does before loading it.
func mungedL691820(t testing.TB) []rdfdiff.Triple {
	t.Helper()
	ts, err := rdfdiff.NewMunger(gWD).Munge("L691820", graphFixture(t, "L691820.ttl"))
	require.NoError(t, err)
	return ts
}

func dumpString(t testing.TB, g *Graph) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, g.Dump(&b))
	return b.String()
}

// graphOf returns a new graph holding ts.
func graphOf(t testing.TB, ts []rdfdiff.Triple, opts ...Option) *Graph {
	t.Helper()
	g := NewGraph(opts...)
	_, err := g.Add(ts...)
	require.NoError(t, err)
	return g
}

func TestGraphAddContainsDelete(t *testing.T) {
	g := NewGraph()
	a := gTri(gEx("a"), gEx("p"), gLit("1"))
	b := gTri(gEx("a"), gEx("p"), gEx("b"))
	n, err := g.Add(a, b, a)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, 2, g.Len())
	assert.True(t, g.Contains(a))
	assert.False(t, g.Contains(gTri(gEx("a"), gEx("p"), gLit("2"))))

	// An invalid triple anywhere means nothing is added.
	for _, bad := range []rdfdiff.Triple{
		gTri(gLit("x"), gEx("p"), gEx("o")),
		gTri(gEx("s"), rdfdiff.NewBlankNode("b"), gEx("o")),
		gTri(gEx("s"), gLit("p"), gEx("o")),
		gTri(gEx("s"), gEx("p"), rdfdiff.Term{}),
		{},
	} {
		_, err := g.Add(gTri(gEx("new"), gEx("p"), gEx("o")), bad)
		require.ErrorIs(t, err, rdfdiff.ErrInvalidTriple, "%v", bad)
		assert.Contains(t, err.Error(), "graph: add: triples[1]: rdfdiff: invalid triple")
		assert.Equal(t, 2, g.Len())
	}

	assert.Equal(t, 1, g.Delete(a, gTri(gEx("zz"), gEx("p"), gEx("o"))))
	assert.Equal(t, 0, g.Delete(a))
	assert.Equal(t, 1, g.Delete(b))
	assert.Equal(t, 0, g.Len())
	// Every term is released once no triple uses it.
	assert.Empty(t, g.st.ids)
	checkGraphIndexes(t, g)
	assert.Empty(t, g.Triples())
	assert.Equal(t, "", dumpString(t, g))
}

func TestGraphDumpIsSortedCanonicalNTriples(t *testing.T) {
	g := NewGraph()
	_, err := g.Add(
		gTri(gEx("b"), gEx("p"), rdfdiff.NewLangLiteral("chat", "FR")),
		gTri(gEx("a"), gEx("p"), rdfdiff.NewTypedLiteral("x\ny\"", rdfdiff.XSDString)),
		gTri(rdfdiff.NewBlankNode("n1"), gEx("p"), gEx("a")),
		gTri(gEx("a"), gEx("p"), rdfdiff.NewTypedLiteral("1", "http://www.w3.org/2001/XMLSchema#integer")),
	)
	require.NoError(t, err)
	want := `<http://example.org/a> <http://example.org/p> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .
<http://example.org/a> <http://example.org/p> "x\ny\"" .
<http://example.org/b> <http://example.org/p> "chat"@fr .
_:n1 <http://example.org/p> <http://example.org/a> .
`
	assert.Equal(t, want, dumpString(t, g))
}

func TestGraphMatch(t *testing.T) {
	ts := graphFixture(t, "Q42-munged.ttl")
	g := graphOf(t, ts)
	q42 := gWD.EntityTerm("Q42")
	rank := gIRI("http://wikiba.se/ontology#rank")
	normal := gIRI("http://wikiba.se/ontology#NormalRank")
	typ := gIRI("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
	best := gIRI("http://wikiba.se/ontology#BestRank")
	label := gIRI("http://www.w3.org/2000/01/rdf-schema#label")
	douglas := rdfdiff.NewLangLiteral("Douglas Adams", "en")

	// The reference answer: a scan of the fixture.
	scan := func(s, p, o rdfdiff.Term) []rdfdiff.Triple {
		var out []rdfdiff.Triple
		for _, tr := range ts {
			if (s.IsZero() || tr.S == s) && (p.IsZero() || tr.P == p) && (o.IsZero() || tr.O == o) {
				out = append(out, tr)
			}
		}
		rdfdiff.SortTriples(out)
		return rdftest.Dedup(out)
	}
	for _, c := range []struct {
		name    string
		s, p, o rdfdiff.Term
		min     int
	}{
		{"subject", q42, rdfdiff.Term{}, rdfdiff.Term{}, 100},
		{"subject predicate", q42, label, rdfdiff.Term{}, 10},
		{"subject predicate object", q42, label, douglas, 1},
		{"object (large in-degree)", rdfdiff.Term{}, rdfdiff.Term{}, normal, graphSmallEdges + 1},
		{"predicate object", rdfdiff.Term{}, typ, best, graphSmallEdges + 1},
		{"predicate only", rdfdiff.Term{}, rank, rdfdiff.Term{}, graphSmallEdges + 1},
		{"literal object", rdfdiff.Term{}, rdfdiff.Term{}, douglas, 1},
		{"everything", rdfdiff.Term{}, rdfdiff.Term{}, rdfdiff.Term{}, 2900},
		{"absent subject", gEx("nope"), rdfdiff.Term{}, rdfdiff.Term{}, 0},
		{"absent predicate", q42, gEx("nope"), rdfdiff.Term{}, 0},
		{"absent object", rdfdiff.Term{}, rdfdiff.Term{}, gEx("nope"), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := g.Match(c.s, c.p, c.o)
			want := scan(c.s, c.p, c.o)
			assert.Equal(t, want, rdftest.Dedup(append([]rdfdiff.Triple(nil), got...)))
			assert.GreaterOrEqual(t, len(got), c.min)
		})
	}
}

func TestGraphLoad(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("testdata", "graph", "Q513-munged.ttl"))
	require.NoError(t, err)
	g := NewGraph()
	n, err := g.Load(ctx, bytes.NewReader(data), FormatTurtle)
	require.NoError(t, err)
	assert.Equal(t, g.Len(), n)
	assert.Equal(t, rdftest.NTriples(t, graphFixture(t, "Q513-munged.ttl")), dumpString(t, g))

	// A dump loads back, as N-Triples, into the same graph.
	dump := dumpString(t, g)
	h := NewGraph()
	n, err = h.Load(ctx, strings.NewReader(dump), FormatNTriples)
	require.NoError(t, err)
	assert.Equal(t, g.Len(), n)
	assert.Equal(t, dump, dumpString(t, h))

	// Loading again adds nothing new.
	n, err = h.Load(ctx, strings.NewReader(dump), FormatTurtle)
	require.NoError(t, err)
	assert.Zero(t, n)

	// A syntax error at the end leaves the graph as it was.
	bad := dump + "<http://example.org/a> <http://example.org/p> .\n"
	_, err = h.Load(ctx, strings.NewReader(bad), FormatNTriples, rdfdiff.WithFileName("bad.nt"))
	var se *rdfdiff.SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "bad.nt:")
	assert.Equal(t, dump, dumpString(t, h))

	_, err = h.Load(ctx, strings.NewReader(dump), Format(99))
	require.ErrorIs(t, err, ErrUnknownFormat)
	assert.Contains(t, err.Error(), "Format(99)")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = NewGraph().Load(cctx, strings.NewReader(dump), FormatNTriples)
	require.ErrorIs(t, err, context.Canceled)
}

func TestGraphEdgeSetsGrowAndShrink(t *testing.T) {
	g := NewGraph()
	hub := gEx("hub")
	var ts []rdfdiff.Triple
	for i := range 10 * graphSmallEdges {
		ts = append(ts, gTri(gEx("s"+string(rune('a'+i%26))+strings.Repeat("x", i/26)), gEx("p"), hub))
	}
	_, err := g.Add(ts...)
	require.NoError(t, err)
	id := g.st.lookup(hub)
	require.NotNil(t, g.st.nodes[id].in.big, "a large in-degree uses a map")
	assert.Len(t, g.Match(rdfdiff.Term{}, rdfdiff.Term{}, hub), len(ts))
	assert.Equal(t, len(ts)-2, g.Delete(ts[2:]...))
	id = g.st.lookup(hub)
	assert.Nil(t, g.st.nodes[id].in.big, "a shrunk set goes back to a slice")
	assert.ElementsMatch(t, ts[:2], g.Match(rdfdiff.Term{}, rdfdiff.Term{}, hub))
	checkGraphIndexes(t, g)
}

func TestGraphConcurrentReadersAndWriters(t *testing.T) {
	g := NewGraph(WithOrphanCleanup(true))
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			p := &rdfdiff.ConsolidatedPatch{}
			p.Added = []rdfdiff.Triple{gTri(gWD.EntityTerm("Q1"), gEx("p"), gLit(strconv.Itoa(i)))}
			if err := g.Apply(ctx, p, &streamkit.CommitPoint{Job: "j", CheckpointID: uint64(i)}); err != nil {
				panic(err)
			}
		}
	}()
	for range 200 {
		_ = g.Len()
		_ = g.Match(gWD.EntityTerm("Q1"), rdfdiff.Term{}, rdfdiff.Term{})
		_, err := g.Positions(ctx)
		require.NoError(t, err)
	}
	<-done
	assert.Equal(t, 200, g.Len())
	cp, err := g.Positions(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(199), cp.CheckpointID)
}

// checkGraphIndexes verifies the store's redundant structures against its
// triples: the object index, the reference counts, the term table, the
// sitelink index and the triple count.
func checkGraphIndexes(t testing.TB, g *Graph) {
	t.Helper()
	g.mu.RLock()
	defer g.mu.RUnlock()
	st := g.st
	refs := map[uint32]uint32{}
	in := map[uint32]map[graphEdge]bool{}
	sitelinks := map[uint32]map[uint32]bool{}
	n := 0
	for sid := 1; sid < len(st.nodes); sid++ {
		for _, e := range st.nodes[sid].out.appendTo(nil) {
			n++
			refs[uint32(sid)]++
			refs[e.a]++
			refs[e.b]++
			if !st.term(e.b).IsLiteral() {
				if in[e.b] == nil {
					in[e.b] = map[graphEdge]bool{}
				}
				in[e.b][graphEdge{uint32(sid), e.a}] = true
				if st.term(e.a) == iriSchemaAbout {
					if sitelinks[e.b] == nil {
						sitelinks[e.b] = map[uint32]bool{}
					}
					sitelinks[e.b][uint32(sid)] = true
				}
			}
		}
	}
	require.Equal(t, n, st.n, "triple count")
	require.Len(t, st.ids, len(refs), "interned terms")
	for id := 1; id < len(st.nodes); id++ {
		nd := &st.nodes[id]
		require.Equal(t, refs[uint32(id)], nd.refs, "refs of %v", nd.term)
		if nd.refs > 0 {
			require.Equal(t, uint32(id), st.ids[nd.term], "ID of %v", nd.term)
		}
		got := map[graphEdge]bool{}
		for _, e := range nd.in.appendTo(nil) {
			got[e] = true
		}
		require.Equal(t, len(in[uint32(id)]), len(got), "in-edges of %v", nd.term)
		for e := range in[uint32(id)] {
			require.True(t, got[e], "in-edge %v of %v", e, nd.term)
		}
	}
	require.Len(t, st.sitelinksOf, len(sitelinks))
	for o, subjects := range sitelinks {
		require.ElementsMatch(t, keysOf(subjects), st.sitelinksOf[o])
	}
}

func keysOf(m map[uint32]bool) []uint32 {
	var out []uint32
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestGraphSitelinksOfAHub(t *testing.T) {
	g := NewGraph()
	q5 := gWD.EntityTerm("Q5")
	var ts []rdfdiff.Triple
	for i := range 5 * graphSmallEdges {
		ts = append(ts, gTri(gWD.EntityTerm("Q"+strconv.Itoa(100+i)), gIRI("http://www.wikidata.org/prop/direct/P31"), q5))
	}
	article := gIRI("https://en.wikipedia.org/wiki/Human")
	site := gIRI("https://en.wikipedia.org/")
	sitelink := []rdfdiff.Triple{
		gTri(article, gSchemaAbout, q5),
		gTri(article, gIRI("http://schema.org/isPartOf"), site),
	}
	_, err := g.Add(append(append(ts, sitelink...), gTri(site, gWikiGroup, gLit("wikipedia")), gTri(q5, gSchemaVersion, gLit("1")))...)
	require.NoError(t, err)
	checkGraphIndexes(t, g)
	gApply(t, g, rdftest.Batch(t, rdftest.Delete("Q5")))
	checkGraphIndexes(t, g)
	assert.Equal(t, rdftest.NTriples(t, append(ts, gTri(site, gWikiGroup, gLit("wikipedia")))), dumpString(t, g),
		"the sitelink and Q5's own triples go; other entities' links to Q5 and the site stay")
}
