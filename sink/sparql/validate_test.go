package sparql

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
)

// refusalCases are one-triple imports of Q1 whose object a store refuses or
// alters, with the dialects that refuse them.
func refusalCases() []struct {
	name    string
	obj     rdfdiff.Term
	refused []Dialect
} {
	all := []Dialect{DialectSPARQL11, DialectBlazegraph, DialectVirtuoso}
	return []struct {
		name    string
		obj     rdfdiff.Term
		refused []Dialect
	}{
		{"good", rdfdiff.NewLangLiteral("Berlin", "de"), nil},
		{"wikidata tag", rdfdiff.NewLangLiteral("x", "be-tarask"), nil},
		{"blank node", rdfdiff.NewBlankNode("b1"), all},
		{"zh-classical", rdfdiff.NewLangLiteral("珠穆朗瑪峰", "zh-classical"), []Dialect{DialectSPARQL11}},
		{"ill-typed boolean", rdfdiff.NewTypedLiteral("yes", rdfdiff.XSDBoolean), []Dialect{DialectBlazegraph}},
		{"long IRI", rdfdiff.NewIRI("http://example.org/" + strings.Repeat("x", 1900)), []Dialect{DialectVirtuoso}},
		{"IRI with space", rdfdiff.NewIRI("http://example.org/a b"), all},
		{"NUL", rdfdiff.NewLiteral("a\x00b"), all},
	}
}

// TestGraphOutputRefusesWhatTheDialectRefuses: the in-memory graph output
// with a dialect's CheckChange refuses, when the change is added, exactly
// the changes the SPARQL sink of that dialect refuses when it is added.
func TestGraphOutputRefusesWhatTheDialectRefuses(t *testing.T) {
	ctx := context.Background()
	for _, d := range []Dialect{DialectSPARQL11, DialectBlazegraph, DialectVirtuoso} {
		for _, tc := range refusalCases() {
			ch := &rdfdiff.EntityChange{EntityID: "Q1", Revision: 1, Operation: rdfdiff.OpImport, Patch: rdfdiff.Patch{
				Added: []rdfdiff.Triple{{S: wd.EntityTerm("Q1"), P: rdfdiff.NewIRI("http://www.wikidata.org/prop/direct/P1"), O: tc.obj}}}}
			opts := []Option{WithDialect(d)}
			b, err := NewUpdateBuilder(wd, WithDataGraph("http://example.org/data"))
			require.NoError(t, err)
			s, err := NewSPARQL(newRecordingStore(t, nil).client(t), b, opts...)
			require.NoError(t, err)
			require.NoError(t, s.Begin(ctx))
			o, err := graph.NewGraphOutput(graph.NewGraph(), graph.WithChangeCheck(d.CheckChange))
			require.NoError(t, err)
			require.NoError(t, o.Begin(ctx))

			sinkErr, graphErr := s.Add(ch), o.Add(ch)
			want := false
			for _, r := range tc.refused {
				want = want || r == d
			}
			assert.Equal(t, want, sinkErr != nil, "%s, %s: SPARQL sink: %v", d, tc.name, sinkErr)
			assert.Equal(t, want, graphErr != nil, "%s, %s: graph output: %v", d, tc.name, graphErr)
			if want {
				require.ErrorIs(t, sinkErr, ErrUnsafeTerm)
				require.ErrorIs(t, graphErr, ErrUnsafeTerm)
				require.ErrorIs(t, graphErr, rdfdiff.ErrInvalidChange)
				for _, err := range []error{sinkErr, graphErr} {
					var se *streamkit.StageError
					require.ErrorAs(t, err, &se)
					assert.Equal(t, StageSPARQL, se.Stage, "dead-lettered under the same stage")
					assert.Equal(t, ClassSPARQLUnsafeTerm, se.Class)
				}
			}
		}
	}
	// The graph output's default refuses blank nodes, as every dialect does.
	o, err := graph.NewGraphOutput(graph.NewGraph())
	require.NoError(t, err)
	require.NoError(t, o.Begin(ctx))
	err = o.Add(&rdfdiff.EntityChange{EntityID: "Q1", Revision: 1, Operation: rdfdiff.OpImport, Patch: rdfdiff.Patch{
		Added: []rdfdiff.Triple{{S: wd.EntityTerm("Q1"), P: rdfdiff.NewIRI("http://p"), O: rdfdiff.NewBlankNode("b")}}}})
	require.ErrorIs(t, err, graph.ErrBlankNode)
}

// TestOxigraphRefusesWhatItsDialectRefuses, TestBlazegraphRefuses…: what a
// dialect refuses for a reason of its store's own (a term SPARQL can carry)
// the real store really refuses, and what the dialect accepts the store
// takes.
func TestOxigraphRefusesWhatItsDialectRefuses(t *testing.T) {
	storeRefusesWhatItsDialectRefuses(t, "STREAMKIT_OXIGRAPH_URL", DialectSPARQL11)
}

func TestBlazegraphRefusesWhatItsDialectRefuses(t *testing.T) {
	storeRefusesWhatItsDialectRefuses(t, blazegraphEnv, DialectBlazegraph)
}

func storeRefusesWhatItsDialectRefuses(t *testing.T, env string, d Dialect) {
	if os.Getenv(env) == "" {
		t.Skipf("%s not set", env)
	}
	c := storeClient(t, env)
	ctx := context.Background()
	g := ""
	if !isBlazegraph(env) {
		g = testGraph(t)
		t.Cleanup(func() { _ = c.Update(ctx, "DROP SILENT GRAPH <"+g+">") })
	}
	checked := 0
	for _, tc := range refusalCases() {
		tr := rdfdiff.Triple{S: wd.EntityTerm("Q1"), P: rdfdiff.NewIRI("http://www.wikidata.org/prop/direct/P1"), O: tc.obj}
		text, err := AppendSPARQLTriple(nil, tr)
		if err != nil {
			continue // not expressible in SPARQL at all
		}
		checked++
		refused := d.CheckChange(&rdfdiff.EntityChange{EntityID: "Q1", Operation: rdfdiff.OpImport,
			Patch: rdfdiff.Patch{Added: []rdfdiff.Triple{tr}}}) != nil
		body := string(text)
		if g != "" {
			body = "GRAPH <" + g + "> { " + body + " }"
		}
		err = c.Update(ctx, "INSERT DATA { "+body+" }")
		assert.Equal(t, refused, err != nil, "%s: %s said %v", tc.name, d, err)
	}
	assert.Equal(t, 5, checked)
}

// BenchmarkCheckChange measures the check Add makes before a change enters
// the checkpoint (every term serialized once, BCP 47 tags checked), on
// Q42's munged import, next to merging the same change into an accumulator,
// which Add does anyway: the check's share of Add.
func BenchmarkCheckChange(b *testing.B) {
	q42 := loadMunged(b, "Q42-munged.ttl")
	c := &rdfdiff.EntityChange{EntityID: "Q42", Revision: 1, Operation: rdfdiff.OpImport, Patch: q42}
	ub, err := NewUpdateBuilder(wd, WithWellFormedLanguageTags())
	require.NoError(b, err)
	triples := float64(len(q42.Added) + len(q42.LinkedShared))
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := ub.CheckChange(c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(triples*float64(b.N)/b.Elapsed().Seconds(), "triples/s")
	})
	b.Run("accumulate", func(b *testing.B) {
		b.ReportAllocs()
		acc := rdfdiff.NewAccumulator()
		for b.Loop() {
			acc.Reset()
			if err := acc.Accumulate(c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(triples*float64(b.N)/b.Elapsed().Seconds(), "triples/s")
	})
}
