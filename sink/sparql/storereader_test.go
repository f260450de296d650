package sparql

import (
	"fmt"
	"testing"
	"time"

	"github.com/knakk/rdf"
	"github.com/knakk/sparql"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// readStoreIndependently reads every data triple of graph (see dataPattern)
// through github.com/knakk/sparql, a SPARQL client that shares no code with
// ours, so that a bug in Client's request or result decoding cannot hide a
// wrong write by UpdateBuilder: the differential tests compare what this
// reader sees with sink.Graph.
//
// Literals are read as STR, DATATYPE and LANG, plain strings, not as the
// bound term: Virtuoso's result writers print xsd:double with six
// significant digits, and knakk's term parser drops (silently, in
// Results.Solutions) literals whose language tag has more than one '-'.
// Every row must come back with its subject, predicate and either an IRI or
// a literal's parts, or the test fails: nothing is dropped unnoticed.
func readStoreIndependently(t testing.TB, endpoint, graph string) []rdfdiff.Triple {
	t.Helper()
	repo, err := sparql.NewRepo(endpoint, sparql.Timeout(2*time.Minute))
	require.NoError(t, err)
	// The same projection as dumpGraph's (known to work on all three
	// stores): no unbound variable in an expression.
	res, err := repo.Query("SELECT ?s ?p ?o (IF(isLiteral(?o), \"yes\", \"no\") AS ?isLit) " +
		"(IF(isLiteral(?o), STR(?o), \"\") AS ?lex) (IF(isLiteral(?o), STR(DATATYPE(?o)), \"\") AS ?dt) " +
		"(IF(isLiteral(?o), LANG(?o), \"\") AS ?lang) WHERE { " + dataPattern(graph) + " }")
	require.NoError(t, err, "knakk/sparql reading %s", endpoint)
	rows := res.Solutions()
	require.Len(t, rows, len(res.Results.Bindings))
	out := make([]rdfdiff.Triple, 0, len(rows))
	for i, row := range rows {
		iri := func(name string) rdfdiff.Term {
			v, ok := row[name].(rdf.IRI)
			require.True(t, ok, "row %d: ?%s is %#v, want an IRI (raw %v)", i, name, row[name], res.Results.Bindings[i])
			return rdfdiff.NewIRI(v.String())
		}
		str := func(name string) string {
			v, ok := row[name].(rdf.Literal)
			require.True(t, ok, "row %d: ?%s is %#v, want a literal (raw %v)", i, name, row[name], res.Results.Bindings[i])
			return v.String()
		}
		tr := rdfdiff.Triple{S: iri("s"), P: iri("p")}
		switch str("isLit") {
		case "yes":
			if lang := str("lang"); lang != "" {
				tr.O = rdfdiff.NewLangLiteral(str("lex"), lang)
			} else {
				tr.O = rdfdiff.NewTypedLiteral(str("lex"), str("dt"))
			}
		default:
			tr.O = iri("o")
		}
		out = append(out, tr)
	}
	return out
}

// TestReadStoreIndependently checks the independent reader against a store
// holding awkward terms written by UpdateBuilder: each store that is set up.
func TestReadStoreIndependently(t *testing.T) {
	for _, env := range []string{"STREAMKIT_OXIGRAPH_URL", "STREAMKIT_VIRTUOSO_URL", blazegraphEnv} {
		t.Run(env, func(t *testing.T) {
			c := storeClient(t, env)
			graph := storeGraph(t, env)
			t.Cleanup(func() {
				if graph != "" {
					_ = c.Update(t.Context(), dropGraphs(graph))
				}
			})
			b, err := NewUpdateBuilder(wd, WithDataGraph(graph))
			require.NoError(t, err)
			s := rdfdiff.NewIRI("http://ex.test/s/é")
			p := rdfdiff.NewIRI("http://ex.test/p")
			want := []rdfdiff.Triple{
				{S: s, P: p, O: rdfdiff.NewIRI("http://ex.test/o?q=1#f")},
				{S: s, P: p, O: rdfdiff.NewLiteral("plain \"quoted\"\nline 😀")},
				{S: s, P: p, O: rdfdiff.NewLangLiteral("Min Nan", "zh-min-nan")},
				{S: s, P: p, O: rdfdiff.NewLangLiteral("Englisch", "de")},
				{S: s, P: p, O: rdfdiff.NewTypedLiteral("42", rdfdiff.XSDInteger)},
				{S: s, P: p, O: rdfdiff.NewTypedLiteral("x", "http://ex.test/dt")},
			}
			patch := &rdfdiff.ConsolidatedPatch{}
			patch.Added = want
			req, err := b.Build(patch, nil)
			require.NoError(t, err)
			require.NoError(t, c.Update(t.Context(), req))
			got := readStoreIndependently(t, c.Endpoint(), graph)
			require.Equal(t, diffCanonical(want), diffCanonical(got), fmt.Sprintf("%s read back by knakk/sparql", env))
		})
	}
}

// readCommitTriples reads the commit point's triples (subjects in
// DefaultCommitNamespace) of a store's default graph through knakk/sparql.
func readCommitTriples(t testing.TB, endpoint string) []rdfdiff.Triple {
	t.Helper()
	repo, err := sparql.NewRepo(endpoint, sparql.Timeout(time.Minute))
	require.NoError(t, err)
	res, err := repo.Query("SELECT ?s ?p ?o WHERE { ?s ?p ?o . FILTER(STRSTARTS(STR(?s), " +
		string(appendSPARQLString(nil, DefaultCommitNamespace)) + ")) }")
	require.NoError(t, err, "knakk/sparql reading %s", endpoint)
	var out []rdfdiff.Triple
	for i, row := range res.Solutions() {
		require.Len(t, row, 3, "row %d: %v", i, res.Results.Bindings[i])
		tr := rdfdiff.Triple{S: rdfdiff.NewIRI(row["s"].String()), P: rdfdiff.NewIRI(row["p"].String())}
		switch o := row["o"].(type) {
		case rdf.IRI:
			tr.O = rdfdiff.NewIRI(o.String())
		case rdf.Literal:
			tr.O = rdfdiff.NewTypedLiteral(o.String(), o.DataType.String())
		default:
			t.Fatalf("row %d: object %#v", i, o)
		}
		out = append(out, tr)
	}
	return out
}
