package graph_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// ExampleGraph_Apply loads an entity, applies a batch of changes accumulated
// from the consumer's events, and dumps the graph as sorted N-Triples, the
// form tests compare.
func ExampleGraph_Apply() {
	ctx := context.Background()
	g := graph.NewGraph(graph.WithLagMarker("http://www.wikidata.org"))
	_, err := g.Load(ctx, strings.NewReader(`
		@prefix wd: <http://www.wikidata.org/entity/> .
		@prefix s: <http://www.wikidata.org/entity/statement/> .
		wd:Q1 <http://schema.org/version> 1 ;
		      <http://www.wikidata.org/prop/P31> s:Q1-a .
		s:Q1-a <http://www.wikidata.org/prop/statement/P31> wd:Q5 .
		wd:Q2 <http://schema.org/version> 7 .
	`), graph.FormatTurtle)
	if err != nil {
		fmt.Println(err)
		return
	}

	// Q1 moves to revision 2 and Q2 is deleted, in one batch.
	version := func(id string, rev string) rdfdiff.Triple {
		return rdfdiff.Triple{S: rdfdiff.WikidataScheme().EntityTerm(id), P: rdfdiff.NewIRI("http://schema.org/version"),
			O: rdfdiff.NewTypedLiteral(rev, "http://www.w3.org/2001/XMLSchema#integer")}
	}
	acc := rdfdiff.NewAccumulator()
	for _, c := range []*rdfdiff.EntityChange{
		{EntityID: "Q1", Revision: 2, Operation: rdfdiff.OpDiff, EventTime: time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC),
			Patch: rdfdiff.Patch{Removed: []rdfdiff.Triple{version("Q1", "1")}, Added: []rdfdiff.Triple{version("Q1", "2")}}},
		{EntityID: "Q2", Operation: rdfdiff.OpDelete},
	} {
		if err := acc.Accumulate(c); err != nil {
			fmt.Println(err)
			return
		}
	}
	commit := &streamkit.CommitPoint{Job: "example", CheckpointID: 1,
		Positions: source.Positions{{Topic: "eqiad.rdf-streaming-updater.mutation", Partition: 0}: 2}}
	if err := g.Apply(ctx, acc.Result(), commit); err != nil {
		fmt.Println(err)
		return
	}
	if err := g.Dump(os.Stdout); err != nil {
		fmt.Println(err)
	}
	cp, _ := g.Positions(ctx)
	fmt.Printf("committed checkpoint %d at offset %d\n", cp.CheckpointID, cp.Positions[source.TopicPartition{Topic: "eqiad.rdf-streaming-updater.mutation"}])
	// Output:
	// <http://www.wikidata.org/entity/Q1> <http://schema.org/version> "2"^^<http://www.w3.org/2001/XMLSchema#integer> .
	// <http://www.wikidata.org/entity/Q1> <http://www.wikidata.org/prop/P31> <http://www.wikidata.org/entity/statement/Q1-a> .
	// <http://www.wikidata.org/entity/statement/Q1-a> <http://www.wikidata.org/prop/statement/P31> <http://www.wikidata.org/entity/Q5> .
	// <http://www.wikidata.org> <http://schema.org/dateModified> "2026-11-25T13:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .
	// committed checkpoint 1 at offset 2
}

// ExampleGraph_Match looks up triples by pattern; a zero Term is a wildcard.
func ExampleGraph_Match() {
	g := graph.NewGraph()
	q42 := rdfdiff.NewIRI("http://www.wikidata.org/entity/Q42")
	label := rdfdiff.NewIRI("http://www.w3.org/2000/01/rdf-schema#label")
	if _, err := g.Add(
		rdfdiff.Triple{S: q42, P: label, O: rdfdiff.NewLangLiteral("Douglas Adams", "en")},
		rdfdiff.Triple{S: q42, P: label, O: rdfdiff.NewLangLiteral("Douglas Adams", "fr")},
	); err != nil {
		fmt.Println(err)
		return
	}
	for _, tr := range g.Match(q42, label, rdfdiff.Term{}) {
		fmt.Println(tr.O)
	}
	// Output:
	// "Douglas Adams"@en
	// "Douglas Adams"@fr
}
