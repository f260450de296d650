package sparql

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
)

// blazegraphEnv enables the Blazegraph tests: the SPARQL endpoint of a
// namespace configured as WDQS configures its own (scripts/blazegraph.sh
// creates "wdq"), e.g.
// http://127.0.0.1:9999/bigdata/namespace/wdq/sparql.
const blazegraphEnv = "STREAMKIT_BLAZEGRAPH_URL"

// isBlazegraph reports whether env names the Blazegraph store.
func isBlazegraph(env string) bool { return env == blazegraphEnv }

var blazegraphSeq atomic.Int64

// blazegraphNamespace creates a namespace with the properties of the one
// STREAMKIT_BLAZEGRAPH_URL names (triples mode, no inference, WDQS's index
// settings) under a new name and returns its SPARQL endpoint; the namespace
// is deleted when t ends. WDQS's namespace is in triples mode, so tests
// cannot keep apart in named graphs: each gets its own namespace instead,
// which costs about 0.1 s. It skips t when the variable is unset.
func blazegraphNamespace(t testing.TB) string {
	t.Helper()
	endpoint := os.Getenv(blazegraphEnv)
	if endpoint == "" {
		t.Skipf("%s not set (see scripts/blazegraph.sh)", blazegraphEnv)
	}
	base, ns, ok := splitBlazegraphEndpoint(endpoint)
	require.True(t, ok, "%s=%q: want …/bigdata/namespace/<namespace>/sparql", blazegraphEnv, endpoint)
	ctx := context.Background()
	props := blazegraphHTTP(t, ctx, http.MethodGet, base+"/namespace/"+url.PathEscape(ns)+"/properties", "", "", http.StatusOK)

	name := fmt.Sprintf("%s_t%s_%d", ns, time.Now().Format("150405"), blazegraphSeq.Add(1))
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(props))
	sc.Buffer(nil, 1<<20)
	oldKey := "com.bigdata.namespace." + ns + "."
	for sc.Scan() {
		line := sc.Text()
		key, value, found := strings.Cut(line, "=")
		switch {
		case !found || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(key, "com.bigdata.relation."):
			// The relation's own bookkeeping (its name, container and
			// class): Blazegraph sets these for the new namespace.
			continue
		case key == "com.bigdata.rdf.sail.namespace":
			value = name
		case strings.HasPrefix(key, oldKey):
			key = "com.bigdata.namespace." + name + "." + strings.TrimPrefix(key, oldKey)
		}
		out.WriteString(key + "=" + value + "\n")
	}
	require.NoError(t, sc.Err())
	require.Contains(t, out.String(), "com.bigdata.rdf.store.AbstractTripleStore.quads=false",
		"%s must name a triples-mode namespace, as WDQS's is", blazegraphEnv)
	blazegraphHTTP(t, ctx, http.MethodPost, base+"/namespace", "text/plain", out.String(), http.StatusCreated)
	t.Cleanup(func() {
		blazegraphHTTP(t, context.Background(), http.MethodDelete, base+"/namespace/"+url.PathEscape(name), "", "", http.StatusOK)
	})
	return base + "/namespace/" + url.PathEscape(name) + "/sparql"
}

// splitBlazegraphEndpoint splits …/namespace/<ns>/sparql into the service
// base (…/bigdata) and the namespace.
func splitBlazegraphEndpoint(endpoint string) (base, ns string, ok bool) {
	rest, found := strings.CutSuffix(endpoint, "/sparql")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/namespace/")
	if i < 0 {
		return "", "", false
	}
	ns, err := url.PathUnescape(rest[i+len("/namespace/"):])
	return rest[:i], ns, err == nil && ns != "" && !strings.Contains(ns, "/")
}

// blazegraphHTTP sends one request of Blazegraph's namespace API and
// returns the answer's body, failing t on any other status than want.
func blazegraphHTTP(t testing.TB, ctx context.Context, method, u, contentType, body string, want int) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, want, resp.StatusCode, "%s %s: %.500s", method, u, data)
	return string(data)
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
// literals cut to milliseconds, as Blazegraph holds them (it truncates:
// "…06.9999Z" is stored and read back as "…06.999Z";
// TestBlazegraphDateTimeMilliseconds).
func blazegraphDateTimes(ts []rdfdiff.Triple) []rdfdiff.Triple {
	out := make([]rdfdiff.Triple, len(ts))
	for i, tr := range ts {
		if o := tr.O; o.IsLiteral() && o.Datatype() == rdfdiff.XSDDateTime {
			tr.O = rdfdiff.NewTypedLiteral(truncateFraction(o.Value(), 3), rdfdiff.XSDDateTime)
		}
		out[i] = tr
	}
	return out
}

// truncateFraction cuts the fractional seconds of an xsd:dateTime lexical
// form to at most digits digits.
func truncateFraction(lex string, digits int) string {
	dot := strings.LastIndexByte(lex, '.')
	if dot < 0 || strings.LastIndexByte(lex, ':') > dot {
		return lex
	}
	end := dot + 1
	for end < len(lex) && lex[end] >= '0' && lex[end] <= '9' {
		end++
	}
	return lex[:min(end, dot+1+digits)] + lex[end:]
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
	c   *collate.Collator
	buf collate.Buffer
}

func newBlazegraphLexicon() *blazegraphLexicon {
	return &blazegraphLexicon{c: collate.New(language.Und)}
}

func (l *blazegraphLexicon) key(s string) string {
	k := hex.EncodeToString(l.c.KeyFromString(&l.buf, s))
	l.buf.Reset()
	return k
}

func (l *blazegraphLexicon) term(t rdfdiff.Term) rdfdiff.Term {
	switch {
	case t.IsIRI():
		return rdfdiff.NewIRI("urn:collation:" + l.key(t.Value()))
	case t.IsLiteral() && t.Lang() != "":
		return rdfdiff.NewLangLiteral(l.key(t.Value()), strings.ToLower(t.Lang()))
	case t.IsLiteral():
		return rdfdiff.NewTypedLiteral(l.key(t.Value()), t.Datatype())
	}
	return t
}

// triples maps ts (already normalised for comparison, diffNormalize) to
// collation keys.
func (l *blazegraphLexicon) triples(ts []rdfdiff.Triple) []rdfdiff.Triple {
	out := make([]rdfdiff.Triple, len(ts))
	for i, tr := range ts {
		out[i] = rdfdiff.Triple{S: l.term(tr.S), P: l.term(tr.P), O: l.term(diffNormalize(tr).O)}
	}
	return out
}
