package updater_test

import (
	"fmt"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

const exampleDefinitions = `
prefixes:
  wdt: http://www.wikidata.org/prop/direct/
  wd: http://www.wikidata.org/entity/
  wdsubgraph: https://query.wikidata.org/subgraph/
bindings:
  scholarly_type:
    - wd:Q13442814
subgraphs:
  - name: scholarly_articles
    stream: rdf-streaming-updater.mutation-scholarly
    subgraph_uri: wdsubgraph:scholarly_articles
    default: block
    rules:
      - pass ?entity wdt:P31 ?scholarly_type
    stubs_source: true
  - name: wikidata_main
    stream: rdf-streaming-updater.mutation-main
    subgraph_uri: wdsubgraph:wikidata_main
    default: pass
    rules:
      - block ?entity wdt:P31 ?scholarly_type
    stubs_source: true
  - name: wikidata_full
    stream: rdf-streaming-updater.mutation
    default: pass
`

// Which subgraphs hold an entity, from its munged triples.
func ExampleSubgraphAssigner() {
	defs, err := updater.ParseSubgraphDefinitions([]byte(exampleDefinitions), "example.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	a := updater.NewSubgraphAssigner(defs, rdfdiff.WikidataScheme())
	p31 := rdfdiff.NewIRI("http://www.wikidata.org/prop/direct/P31")
	wd := func(id string) rdfdiff.Term { return rdfdiff.NewIRI("http://www.wikidata.org/entity/" + id) }
	fmt.Println("Q42:", a.Assign("Q42", []rdfdiff.Triple{{S: wd("Q42"), P: p31, O: wd("Q5")}}).Names(defs))
	fmt.Println("Q7:", a.Assign("Q7", []rdfdiff.Triple{{S: wd("Q7"), P: p31, O: wd("Q13442814")}}).Names(defs))
	// Output:
	// Q42: [wikidata_main wikidata_full]
	// Q7: [scholarly_articles wikidata_full]
}

// An entity becomes a scholarly article: the full graph gets the diff,
// scholarly_articles a delete and an import, wikidata_main a delete and a
// stub pointing at scholarly_articles.
func ExampleSubgraphDiff() {
	defs, err := updater.ParseSubgraphDefinitions([]byte(exampleDefinitions), "example.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	scheme := rdfdiff.WikidataScheme()
	d := updater.NewSubgraphDiff(updater.NewSubgraphAssigner(defs, scheme), rdfdiff.WikibaseShared(scheme))
	p31 := rdfdiff.NewIRI("http://www.wikidata.org/prop/direct/P31")
	wd := func(id string) rdfdiff.Term { return rdfdiff.NewIRI("http://www.wikidata.org/entity/" + id) }
	before := []rdfdiff.Triple{{S: wd("Q7"), P: p31, O: wd("Q5")}}
	after := []rdfdiff.Triple{{S: wd("Q7"), P: p31, O: wd("Q13442814")}}
	prev := updater.SubgraphMembership{Set: updater.SubgraphSet(0).With(1).With(2), Known: true}
	base := rdfdiff.EntityChange{EntityID: "Q7", Revision: 2, Operation: rdfdiff.OpDiff, EventTime: time.Unix(0, 0)}
	changes, next := d.FanOut(base, before, after, prev)
	for _, c := range changes {
		fmt.Printf("%-42s %-6s +%d -%d +shared %d\n", c.Change.Stream, c.Change.Operation,
			len(c.Change.Patch.Added), len(c.Change.Patch.Removed), len(c.Change.Patch.LinkedShared))
	}
	fmt.Println("now in:", next.Set.Names(defs))
	// Output:
	// rdf-streaming-updater.mutation-scholarly   delete +0 -0 +shared 0
	// rdf-streaming-updater.mutation-scholarly   import +1 -0 +shared 0
	// rdf-streaming-updater.mutation-main        delete +0 -0 +shared 0
	// rdf-streaming-updater.mutation-main        import +0 -0 +shared 1
	// rdf-streaming-updater.mutation             diff   +1 -1 +shared 0
	// now in: [scholarly_articles wikidata_full]
}
