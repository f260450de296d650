package rdfdiff_test

import (
	"errors"
	"fmt"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// A consumer merges the changes it reads into one batch, flushes when the
// batch is heavy enough or when a change must wait for the next batch, and
// applies the consolidated patch in four steps.
func ExampleAccumulator() {
	wd := func(id string) rdfdiff.Term { return rdfdiff.NewIRI("http://www.wikidata.org/entity/" + id) }
	label := rdfdiff.NewIRI("http://www.w3.org/2000/01/rdf-schema#label")
	version := rdfdiff.NewIRI("http://schema.org/version")
	article := rdfdiff.NewIRI("https://en.wikipedia.org/wiki/Earth")
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	changes := []*rdfdiff.EntityChange{
		{EntityID: "Q2", Revision: 7, Operation: rdfdiff.OpDiff, EventTime: t0, RequestID: "r1",
			Patch: rdfdiff.Patch{
				Added: []rdfdiff.Triple{
					{S: wd("Q2"), P: label, O: rdfdiff.NewLangLiteral("Earth", "en")},
					{S: wd("Q2"), P: version, O: rdfdiff.NewTypedLiteral("7", rdfdiff.XSDInteger)},
					// A sitelink: reclassified as shared, except its schema:about.
					{S: article, P: rdfdiff.NewIRI(rdfdiff.RDFType), O: rdfdiff.NewIRI("http://schema.org/Article")},
					{S: article, P: rdfdiff.NewIRI("http://schema.org/about"), O: wd("Q2")},
					{S: article, P: rdfdiff.NewIRI("http://schema.org/isPartOf"), O: rdfdiff.NewIRI("https://en.wikipedia.org/")},
				},
				Removed: []rdfdiff.Triple{{S: wd("Q2"), P: version, O: rdfdiff.NewTypedLiteral("6", rdfdiff.XSDInteger)}},
			}},
		// The next edit of Q2 undoes the label: the two cancel out.
		{EntityID: "Q2", Revision: 8, Operation: rdfdiff.OpDiff, EventTime: t0.Add(2 * time.Second), RequestID: "r2",
			Patch: rdfdiff.Patch{
				Added:   []rdfdiff.Triple{{S: wd("Q2"), P: version, O: rdfdiff.NewTypedLiteral("8", rdfdiff.XSDInteger)}},
				Removed: []rdfdiff.Triple{{S: wd("Q2"), P: label, O: rdfdiff.NewLangLiteral("Earth", "en")}, {S: wd("Q2"), P: version, O: rdfdiff.NewTypedLiteral("7", rdfdiff.XSDInteger)}},
			}},
		{EntityID: "Q5", Operation: rdfdiff.OpDelete, EventTime: t0.Add(4 * time.Second), RequestID: "r3"},
		// Q5 was deleted in this batch: its undelete must wait.
		{EntityID: "Q5", Revision: 9, Operation: rdfdiff.OpImport, EventTime: t0.Add(6 * time.Second), RequestID: "r4",
			Patch: rdfdiff.Patch{Added: []rdfdiff.Triple{{S: wd("Q5"), P: label, O: rdfdiff.NewLangLiteral("human", "en")}}}},
	}

	acc := rdfdiff.NewAccumulator()
	for _, c := range changes {
		err := acc.Accumulate(c)
		if errors.Is(err, rdfdiff.ErrChangeRefused) {
			fmt.Println("flush before:", err)
			break
		}
		if err != nil {
			fmt.Println("dead-letter:", err)
			continue
		}
	}

	batch := acc.Result()
	fmt.Println("weight:", acc.Weight(), "cancellations:", batch.Stats.Cancellations)
	for _, t := range batch.Removed {
		fmt.Println("DELETE DATA", t)
	}
	for _, t := range batch.Added {
		fmt.Println("INSERT DATA", t)
	}
	for _, t := range batch.LinkedShared {
		fmt.Println("INSERT DATA (shared)", t)
	}
	fmt.Println("delete entities:", batch.DeletedEntities)
	fmt.Println("lag marker:", batch.AvgEventTime.Format(time.RFC3339))
	// Output:
	// flush before: rdfdiff: cannot accumulate import of Q5: the batch already has a delete of it
	// weight: 105 cancellations: 2
	// DELETE DATA <http://www.wikidata.org/entity/Q2> <http://schema.org/version> "6"^^<http://www.w3.org/2001/XMLSchema#integer> .
	// INSERT DATA <http://www.wikidata.org/entity/Q2> <http://schema.org/version> "8"^^<http://www.w3.org/2001/XMLSchema#integer> .
	// INSERT DATA <https://en.wikipedia.org/wiki/Earth> <http://schema.org/about> <http://www.wikidata.org/entity/Q2> .
	// INSERT DATA (shared) <https://en.wikipedia.org/wiki/Earth> <http://schema.org/isPartOf> <https://en.wikipedia.org/> .
	// INSERT DATA (shared) <https://en.wikipedia.org/wiki/Earth> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://schema.org/Article> .
	// delete entities: [Q5]
	// lag marker: 2026-11-25T12:00:02Z
}
