package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql/sparqltest"
)

// The quickstart into a real store: with -sparql and -dialect the consumer
// writes to Oxigraph (a named graph of its own) or Blazegraph (a fresh
// namespace configured as WDQS's), and the store ends holding the munged
// final revisions of every entity, and nothing of the deleted one.
func TestQuickstartIntoRealStores(t *testing.T) {
	t.Run("oxigraph", func(t *testing.T) {
		endpoint := os.Getenv("STREAMKIT_OXIGRAPH_URL")
		if endpoint == "" {
			t.Skip("STREAMKIT_OXIGRAPH_URL not set (see scripts/oxigraph/run.sh)")
		}
		graph := fmt.Sprintf("http://streamkit.test/quickstart/%d", time.Now().UnixNano())
		quickstartIntoStore(t, endpoint, "oxigraph", graph, func() func(rdfdiff.Triple) rdfdiff.Triple {
			return sparqltest.StoreCanonical
		})
	})
	t.Run("blazegraph", func(t *testing.T) {
		endpoint := sparqltest.BlazegraphNamespace(t)
		quickstartIntoStore(t, endpoint, "blazegraph", "", func() func(rdfdiff.Triple) rdfdiff.Triple {
			lex := sparqltest.NewBlazegraphLexicon() // one identity for both sides
			return func(tr rdfdiff.Triple) rdfdiff.Triple {
				tr = sparqltest.StoreCanonical(tr)
				if o := tr.O; o.IsLiteral() && o.Datatype() == rdfdiff.XSDDateTime {
					// Blazegraph reads dateTimes back in UTC with three
					// fraction digits.
					if at, err := time.Parse(time.RFC3339Nano, o.Value()); err == nil {
						tr.O = rdfdiff.NewTypedLiteral(at.UTC().Format("2006-01-02T15:04:05.000Z"), rdfdiff.XSDDateTime)
					}
				}
				return lex.Triples(sparqltest.BlazegraphDateTimes([]rdfdiff.Triple{tr}))[0]
			}
		})
	})
}

// quickstartIntoStore runs the quickstart into the store at endpoint and
// compares it with the final revisions, both sides mapped by the
// normaliser newNorm returns.
func quickstartIntoStore(t *testing.T, endpoint, dialect, graph string, newNorm func() func(rdfdiff.Triple) rdfdiff.Triple) {
	t.Setenv("STREAMKIT_SWIFT_AUTH_URL", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-state", t.TempDir(), "-pace", "100ms", "-sparql", endpoint, "-dialect", dialect}
	if graph != "" {
		args = append(args, "-data-graph", graph)
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(ctx, args, &stdout, &stderr), "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

	c, err := sparql.NewClient(endpoint)
	require.NoError(t, err)
	q := "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
	if graph != "" {
		q = "SELECT ?s ?p ?o WHERE { GRAPH <" + graph + "> { ?s ?p ?o } }"
	}
	res, err := c.Query(ctx, q)
	require.NoError(t, err)
	norm := newNorm()
	got := map[string]bool{}
	for _, b := range res.Bindings {
		got[norm(rdfdiff.Triple{S: b["s"], P: b["p"], O: b["o"]}).String()] = true
	}

	finals, err := finalRevisions()
	require.NoError(t, err)
	munger := rdfdiff.NewMunger(rdfdiff.WikidataScheme())
	var want []rdfdiff.Triple
	for id, ttl := range finals {
		ts, err := rdfdiff.ParseTurtleBytes(ttl)
		require.NoError(t, err, id)
		m, err := munger.Munge(id, ts)
		require.NoError(t, err, id)
		want = append(want, m...)
	}
	missing := 0
	for _, tr := range want {
		if tr = norm(tr); !got[tr.String()] {
			if missing < 5 {
				t.Errorf("the store lacks %s", tr)
			}
			missing++
		}
	}
	assert.Zero(t, missing, "%d of %d expected triples missing", missing, len(want))
	deleted := norm(rdfdiff.Triple{S: rdfdiff.NewIRI("http://www.wikidata.org/entity/L4696"),
		P: rdfdiff.NewIRI("http://example.org/p"), O: rdfdiff.NewIRI("http://example.org/o")}).S.String()
	for k := range got {
		assert.False(t, strings.HasPrefix(k, deleted+" "), "a triple of the deleted lexeme: %s", k)
	}
}
