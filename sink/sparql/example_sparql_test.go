package sparql_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// ExampleUpdateBuilder builds the one request that carries a batch and the
// job's commit point, so that an atomic store records both or neither.
func ExampleUpdateBuilder() {
	b, err := sparql.NewUpdateBuilder(rdfdiff.WikidataScheme(), sparql.WithDataGraph("http://example.org/wdqs"))
	if err != nil {
		panic(err)
	}
	q1 := rdfdiff.NewIRI("http://www.wikidata.org/entity/Q1")
	version := rdfdiff.NewIRI("http://schema.org/version")
	patch := &rdfdiff.ConsolidatedPatch{}
	patch.Removed = []rdfdiff.Triple{{S: q1, P: version, O: rdfdiff.NewTypedLiteral("1", rdfdiff.XSDInteger)}}
	patch.Added = []rdfdiff.Triple{{S: q1, P: version, O: rdfdiff.NewTypedLiteral("2", rdfdiff.XSDInteger)}}
	cp := &streamkit.CommitPoint{Job: "consumer", CheckpointID: 7, Positions: source.Positions{
		{Topic: "eqiad.rdf-streaming-updater.mutation", Partition: 0}: 1234,
	}}
	req, err := b.Build(patch, cp)
	if err != nil {
		panic(err)
	}
	for _, line := range strings.Split(req, "\n")[:8] {
		fmt.Println(line)
	}
	fmt.Println("operations:", strings.Count(req, ";\n")+1)
	// Output:
	// DELETE DATA {
	// GRAPH <http://example.org/wdqs> {
	// <http://www.wikidata.org/entity/Q1> <http://schema.org/version> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .
	// }
	// }
	// ;
	// INSERT DATA {
	// GRAPH <http://example.org/wdqs> {
	// operations: 5
}

// ExampleClient sends an update and reads the answer of a query. The
// endpoint here is a stand-in; point NewClient at a real SPARQL 1.1 endpoint
// (for example the Oxigraph shim of scripts/oxigraph/run.sh).
func ExampleClient() {
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") == "application/sparql-update; charset=UTF-8" {
			body, _ := io.ReadAll(r.Body)
			fmt.Printf("store got update: %s\n", body)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/sparql-results+json")
		_, _ = io.WriteString(w, `{"head":{"vars":["o"]},"results":{"bindings":[{"o":{"type":"literal","value":"hej","xml:lang":"sv"}}]}}`)
	}))
	defer store.Close()

	c, err := sparql.NewClient(store.URL + "/sparql")
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	o, err := sparql.SPARQLTerm(rdfdiff.NewLangLiteral("hej", "sv"))
	if err != nil {
		panic(err)
	}
	if err := c.Update(ctx, "INSERT DATA { <http://example.org/s> <http://example.org/p> "+o+" }"); err != nil {
		panic(err)
	}
	res, err := c.Query(ctx, "SELECT ?o WHERE { <http://example.org/s> <http://example.org/p> ?o }")
	if err != nil {
		panic(err)
	}
	fmt.Println("store holds:", res.Bindings[0]["o"])
	// Output:
	// store got update: INSERT DATA { <http://example.org/s> <http://example.org/p> "hej"@sv }
	// store holds: "hej"@sv
}

// ExampleSPARQLTerm shows a literal that needs escapes, and a term refused
// rather than written wrongly.
func ExampleSPARQLTerm() {
	s, _ := sparql.SPARQLTerm(rdfdiff.NewLiteral("say \"hi\"\n\\u0041"))
	fmt.Println(s)
	_, err := sparql.SPARQLTerm(rdfdiff.NewIRI("http://example.org/a> <http://evil"))
	fmt.Println(err)
	// Output:
	// "say \"hi\"\n\\u0041"
	// sparql: cannot write term <http://example.org/a\u003E\u0020\u003Chttp://evil> to SPARQL: IRI holds '>' at byte 20, which SPARQL forbids in IRIs
}
