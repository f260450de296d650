// Package sparqltest holds helpers for tests against real SPARQL stores:
// a fresh Blazegraph namespace per test, and the normalisation that maps
// triples to the identity Blazegraph gives terms.
package sparqltest

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
)

// BlazegraphEnv enables the Blazegraph tests: the SPARQL endpoint of a
// namespace configured as WDQS configures its own (scripts/blazegraph.sh
// creates "wdq"), e.g.
// http://127.0.0.1:9999/bigdata/namespace/wdq/sparql.
const BlazegraphEnv = "STREAMKIT_BLAZEGRAPH_URL"

var blazegraphSeq atomic.Int64

// BlazegraphNamespace creates a namespace with the properties of the one
// BlazegraphEnv names (triples mode, no inference, WDQS's index settings)
// under a new name and returns its SPARQL endpoint; the namespace is deleted
// when t ends. WDQS's namespace is in triples mode, so tests cannot keep
// apart in named graphs: each gets its own namespace instead, which costs
// about 0.1 s. It skips t when the variable is unset.
func BlazegraphNamespace(t testing.TB) string {
	t.Helper()
	endpoint := os.Getenv(BlazegraphEnv)
	if endpoint == "" {
		t.Skipf("%s not set (see scripts/blazegraph.sh)", BlazegraphEnv)
	}
	base, ns, ok := SplitBlazegraphEndpoint(endpoint)
	require.True(t, ok, "%s=%q: want …/bigdata/namespace/<namespace>/sparql", BlazegraphEnv, endpoint)
	ctx := context.Background()
	props := blazegraphHTTP(t, ctx, http.MethodGet, base+"/namespace/"+url.PathEscape(ns)+"/properties", "", "", http.StatusOK)

	name := fmt.Sprintf("%s_t%s_%d_%d", ns, time.Now().Format("150405"), os.Getpid(), blazegraphSeq.Add(1))
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
		"%s must name a triples-mode namespace, as WDQS's is", BlazegraphEnv)
	blazegraphHTTP(t, ctx, http.MethodPost, base+"/namespace", "text/plain", out.String(), http.StatusCreated)
	t.Cleanup(func() {
		blazegraphHTTP(t, context.Background(), http.MethodDelete, base+"/namespace/"+url.PathEscape(name), "", "", http.StatusOK)
	})
	return base + "/namespace/" + url.PathEscape(name) + "/sparql"
}

// SplitBlazegraphEndpoint splits …/namespace/<ns>/sparql into the service
// base (…/bigdata) and the namespace.
func SplitBlazegraphEndpoint(endpoint string) (base, ns string, ok bool) {
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

// BlazegraphLexicon maps terms to Blazegraph's identity of terms, for
// comparing a store with a reference. Blazegraph's lexicon (as configured by
// WDQS, which sets no collator) keys IRIs and literals by their Unicode
// collation key at tertiary strength: terms that differ only in completely
// ignorable code points (C0 controls, ZERO WIDTH JOINER and NON-JOINER), or
// only by canonical equivalence ("é" and "e\u0301"), and language tags that
// differ only in case, are one term, and the store returns whichever form it
// stored first. Term maps each IRI and lexical form to its collation key
// (the same root collation) and lower-cases language tags; xsd:dateTime
// values keep their datatype, so apply BlazegraphDateTimes first.
type BlazegraphLexicon struct {
	c   *collate.Collator
	buf collate.Buffer
}

// NewBlazegraphLexicon returns a lexicon mapping; it is not safe for
// concurrent use.
func NewBlazegraphLexicon() *BlazegraphLexicon {
	return &BlazegraphLexicon{c: collate.New(language.Und)}
}

func (l *BlazegraphLexicon) key(s string) string {
	k := hex.EncodeToString(l.c.KeyFromString(&l.buf, s))
	l.buf.Reset()
	return k
}

// Term returns t's collation-keyed form.
func (l *BlazegraphLexicon) Term(t rdfdiff.Term) rdfdiff.Term {
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

// Triples returns ts with every term collation-keyed (Term).
func (l *BlazegraphLexicon) Triples(ts []rdfdiff.Triple) []rdfdiff.Triple {
	out := make([]rdfdiff.Triple, len(ts))
	for i, tr := range ts {
		out[i] = rdfdiff.Triple{S: l.Term(tr.S), P: l.Term(tr.P), O: l.Term(tr.O)}
	}
	return out
}

// BlazegraphDateTimes returns ts with the fractional seconds of
// xsd:dateTime literals cut to milliseconds, as Blazegraph holds them (it
// truncates: "…06.9999Z" is stored and read back as "…06.999Z").
func BlazegraphDateTimes(ts []rdfdiff.Triple) []rdfdiff.Triple {
	out := make([]rdfdiff.Triple, len(ts))
	for i, tr := range ts {
		if o := tr.O; o.IsLiteral() && o.Datatype() == rdfdiff.XSDDateTime {
			tr.O = rdfdiff.NewTypedLiteral(TruncateFraction(o.Value(), 3), rdfdiff.XSDDateTime)
		}
		out[i] = tr
	}
	return out
}

// TruncateFraction cuts the fractional seconds of an xsd:dateTime lexical
// form to at most digits digits.
func TruncateFraction(lex string, digits int) string {
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
