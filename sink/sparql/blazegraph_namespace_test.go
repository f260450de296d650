package sparql

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql/sparqltest"
)

// blazegraphEnv enables the Blazegraph tests: the SPARQL endpoint of a
// namespace configured as WDQS configures its own (scripts/blazegraph.sh
// creates "wdq"), e.g.
// http://127.0.0.1:9999/bigdata/namespace/wdq/sparql.
const blazegraphEnv = sparqltest.BlazegraphEnv

// isBlazegraph reports whether env names the Blazegraph store.
func isBlazegraph(env string) bool { return env == blazegraphEnv }

// blazegraphNamespace returns the SPARQL endpoint of a fresh Blazegraph
// namespace like the one STREAMKIT_BLAZEGRAPH_URL names, deleted when t ends
// (sparqltest.BlazegraphNamespace); it skips t when the variable is unset.
func blazegraphNamespace(t testing.TB) string {
	t.Helper()
	return sparqltest.BlazegraphNamespace(t)
}

// blazegraphClient returns a client of a fresh Blazegraph namespace (see
// blazegraphNamespace), or skips.
func blazegraphClient(t testing.TB) *Client {
	t.Helper()
	return newStoreClient(t, blazegraphNamespace(t))
}

// storeGraph returns the named graph a store test writes to: a fresh one
// (testGraph), or "" (the default graph) on Blazegraph, whose WDQS-like
// namespace is in triples mode and is fresh per test anyway.
func storeGraph(t testing.TB, env string) string {
	if isBlazegraph(env) {
		return ""
	}
	return testGraph(t)
}

// inGraph wraps a group graph pattern in GRAPH <graph> { … }, or returns it
// unchanged for the default graph ("").
func inGraph(graph, pattern string) string {
	if graph == "" {
		return pattern
	}
	return "GRAPH <" + graph + "> { " + pattern + " }"
}

// dropGraphs returns the update that removes a test's graphs: DROP SILENT
// GRAPH for each named one; "" (nothing) for the default graph, whose
// Blazegraph namespace goes when the test ends.
func dropGraphs(graphs ...string) string {
	var ops []string
	for _, g := range graphs {
		if g != "" {
			ops = append(ops, "DROP SILENT GRAPH <"+g+">")
		}
	}
	return strings.Join(ops, " ;\n")
}

// dataPattern matches ?s ?p ?o over a test's data: the named graph, or for
// "" the default graph without the commit point's nodes, which a triples-mode
// store keeps beside the data.
func dataPattern(graph string) string {
	if graph == "" {
		return "?s ?p ?o . FILTER(!STRSTARTS(STR(?s), " + string(appendSPARQLString(nil, DefaultCommitNamespace)) + "))"
	}
	return inGraph(graph, "?s ?p ?o")
}

// checkMutationCount checks the mutation count Blazegraph reported for the
// batch just applied against the triples the batch changed: the data triples
// that sink.Graph gained or lost (before is its graph before the batch) plus
// the commit point's triples that the store gained or lost (read back by
// the independent reader). Blazegraph counts every statement it actually
// inserted or removed, operation by operation: a triple that one request
// deletes and inserts again counts twice although it did not change
// (TestBlazegraphMutationCountPerOperation). A reconciliation does exactly
// that — it clears the entity and inserts its new triples — so a batch with
// reconciliations may count more, by an even number, at most twice its
// reconciliation triples; every other batch must count exactly what changed.
func checkMutationCount(t testing.TB, s *diffStore, before map[rdfdiff.Triple]bool, g *graph.Graph, p *rdfdiff.ConsolidatedPatch, batch uint64) {
	t.Helper()
	after := tripleSet(g.Triples())
	changed := 0
	for tr := range after {
		if !before[tr] {
			changed++
		}
	}
	for tr := range before {
		if !after[tr] {
			changed++
		}
	}
	commit := tripleSet(readCommitTriples(t, s.c.Endpoint()))
	for tr := range commit {
		if !s.commitTriples[tr] {
			changed++
		}
	}
	for tr := range s.commitTriples {
		if !commit[tr] {
			changed++
		}
	}
	s.commitTriples = commit
	what := fmt.Sprintf("%s: batch %d (removed %d, added %d, linked-shared %d, deletes %v, reconciliations %d): "+
		"Blazegraph's mutationCount against the %d triples it changed",
		s.name, batch, len(p.Removed), len(p.Added), len(p.LinkedShared), p.DeletedEntities, len(p.Reconciliations), changed)
	reinserted := 0
	for _, r := range p.Reconciliations {
		reinserted += len(r.Triples)
	}
	if reinserted == 0 {
		require.Equal(t, int64(changed), s.mutations, what)
		s.exactMutations++
	} else {
		extra := s.mutations - int64(changed)
		require.True(t, extra >= 0 && extra%2 == 0 && extra <= 2*int64(reinserted), "%s: %d counted", what, s.mutations)
	}
	s.checkedMutations += s.mutations
}

// blazegraphDateTimes returns ts with the fractional seconds of xsd:dateTime
// literals cut to milliseconds, as Blazegraph holds them
// (TestBlazegraphDateTimeMilliseconds; sparqltest.BlazegraphDateTimes).
func blazegraphDateTimes(ts []rdfdiff.Triple) []rdfdiff.Triple {
	return sparqltest.BlazegraphDateTimes(ts)
}

// blazegraphLexicon maps triples to Blazegraph's identity of terms, for
// comparing a store with sink.Graph. Blazegraph's lexicon (as configured by
// WDQS, which sets no collator) keys IRIs and literals by their Unicode
// collation key at tertiary strength: terms that differ only in completely
// ignorable code points (C0 controls, ZERO WIDTH JOINER and NON-JOINER,
// which Wikidata's Indic and Persian labels use), or only by canonical
// equivalence ("é" and "e\u0301"), and language tags that differ only in
// case, are one term, and the store returns whichever form it stored first
// (TestBlazegraphLexiconConflatesTerms). Both sides of the comparison map
// each IRI and lexical form to its collation key (golang.org/x/text/collate,
// the same root collation) and lower-case language tags.
type blazegraphLexicon struct {
	l *sparqltest.BlazegraphLexicon
}

func newBlazegraphLexicon() *blazegraphLexicon {
	return &blazegraphLexicon{l: sparqltest.NewBlazegraphLexicon()}
}

func (l *blazegraphLexicon) term(t rdfdiff.Term) rdfdiff.Term { return l.l.Term(t) }

// triples maps ts (already normalised for comparison, diffNormalize) to
// collation keys.
func (l *blazegraphLexicon) triples(ts []rdfdiff.Triple) []rdfdiff.Triple {
	out := make([]rdfdiff.Triple, len(ts))
	for i, tr := range ts {
		out[i] = rdfdiff.Triple{S: l.term(tr.S), P: l.term(tr.P), O: l.term(diffNormalize(tr).O)}
	}
	return out
}
