package rdfdiff_test

import (
	"errors"
	"fmt"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// revision returns the Special:EntityData Turtle of a tiny item Q1 at
// revision rev, whose P31 value is class and whose English Wikipedia
// sitelink is title.
func revision(rev int, class, title string) string {
	return fmt.Sprintf(`
@prefix wd: <http://www.wikidata.org/entity/> .
@prefix wdt: <http://www.wikidata.org/prop/direct/> .
@prefix p: <http://www.wikidata.org/prop/> .
@prefix ps: <http://www.wikidata.org/prop/statement/> .
@prefix pq: <http://www.wikidata.org/prop/qualifier/> .
@prefix s: <http://www.wikidata.org/entity/statement/> .
@prefix data: <https://www.wikidata.org/wiki/Special:EntityData/> .
@prefix schema: <http://schema.org/> .
@prefix wikibase: <http://wikiba.se/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

data:Q1 a schema:Dataset ; schema:about wd:Q1 ;
	schema:version "%d"^^xsd:integer ; schema:dateModified "2024-01-0%dT00:00:00Z"^^xsd:dateTime .
wd:Q1 a wikibase:Item ; rdfs:label "one"@en ; schema:name "one"@en ;
	wdt:P31 wd:%s ; p:P31 s:Q1-a .
s:Q1-a a wikibase:Statement ; ps:P31 wd:%[3]s ; pq:P1 _:somevalue .
<https://en.wikipedia.org/wiki/%s> a schema:Article ; schema:about wd:Q1 ;
	schema:isPartOf <https://en.wikipedia.org/> ; schema:name "%[4]s"@en .
<https://en.wikipedia.org/> wikibase:wikiGroup "wikipedia" .
`, rev, rev, class, title)
}

// Munge two revisions of an item, diff them into the four buckets of an
// rdf_change event, and move the sitelinks to the shared buckets as the WDQS
// consumer does.
func ExampleDiff() {
	munger := rdfdiff.NewMunger(rdfdiff.WikidataScheme()) // skolemizes blank nodes
	munge := func(ttl string) []rdfdiff.Triple {
		ts, err := rdfdiff.ParseTurtle(strings.NewReader(ttl), "")
		if err != nil {
			panic(err)
		}
		munged, err := munger.Munge("Q1", ts)
		if err != nil {
			panic(err)
		}
		return munged
	}
	old := munge(revision(1, "Q5", "One"))
	new := munge(revision(2, "Q6", "One_(number)"))

	patch := rdfdiff.Diff(old, new, rdfdiff.WikibaseShared(rdfdiff.WikidataScheme()))
	patch, err := rdfdiff.ReclassifySitelinks(patch)
	if err != nil {
		panic(err)
	}
	for _, b := range []struct {
		name string
		ts   []rdfdiff.Triple
	}{{"added", patch.Added}, {"removed", patch.Removed}, {"linked", patch.LinkedShared}, {"unlinked", patch.UnlinkedShared}} {
		for _, tr := range b.ts {
			fmt.Println(b.name, strings.NewReplacer(
				"http://www.wikidata.org/", "wd/", "https://en.wikipedia.org/", "enwiki/",
				"http://schema.org/", "schema:", "^^<http://www.w3.org/2001/XMLSchema#", "^^xsd:").Replace(tr.String()))
		}
	}
	// Output:
	// added <wd/entity/Q1> <schema:dateModified> "2024-01-02T00:00:00Z"^^xsd:dateTime> .
	// added <wd/entity/Q1> <schema:version> "2"^^xsd:integer> .
	// added <wd/entity/Q1> <wd/prop/direct/P31> <wd/entity/Q6> .
	// added <wd/entity/statement/Q1-a> <wd/prop/statement/P31> <wd/entity/Q6> .
	// added <enwiki/wiki/One_(number)> <schema:about> <wd/entity/Q1> .
	// removed <wd/entity/Q1> <schema:dateModified> "2024-01-01T00:00:00Z"^^xsd:dateTime> .
	// removed <wd/entity/Q1> <schema:version> "1"^^xsd:integer> .
	// removed <wd/entity/Q1> <wd/prop/direct/P31> <wd/entity/Q5> .
	// removed <wd/entity/statement/Q1-a> <wd/prop/statement/P31> <wd/entity/Q5> .
	// removed <enwiki/wiki/One> <schema:about> <wd/entity/Q1> .
	// linked <enwiki/wiki/One_(number)> <schema:isPartOf> <enwiki/> .
	// linked <enwiki/wiki/One_(number)> <schema:name> "One_(number)"@en .
	// linked <enwiki/wiki/One_(number)> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <schema:Article> .
	// unlinked <enwiki/wiki/One> <schema:isPartOf> <enwiki/> .
	// unlinked <enwiki/wiki/One> <schema:name> "One"@en .
	// unlinked <enwiki/wiki/One> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <schema:Article> .
}

// Munge one revision: entity data moves onto the entity, duplicate labels and
// the item type go, the somevalue blank node becomes a skolem IRI.
func ExampleMunger_MungeEntity() {
	ts, err := rdfdiff.ParseTurtle(strings.NewReader(revision(7, "Q5", "One")), "")
	if err != nil {
		panic(err)
	}
	me, err := rdfdiff.NewMunger(rdfdiff.WikidataScheme()).MungeEntity("Q1", ts)
	if err != nil {
		panic(err)
	}
	fmt.Println("revision", me.Revision, "modified", me.LastModified.Format("2006-01-02"))
	for _, tr := range me.Triples {
		if tr.S.IsIRIEqual("http://www.wikidata.org/entity/Q1") || tr.O.HasPrefix(rdfdiff.WikidataScheme().GenIDPrefix()) {
			fmt.Println(tr)
		}
	}

	// The same RDF asked for as another entity is an error.
	_, err = rdfdiff.NewMunger(rdfdiff.WikidataScheme()).Munge("Q2", ts)
	fmt.Println(errors.Is(err, rdfdiff.ErrWrongEntity))
	// Output:
	// revision 7 modified 2024-01-07
	// <http://www.wikidata.org/entity/Q1> <http://schema.org/dateModified> "2024-01-07T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .
	// <http://www.wikidata.org/entity/Q1> <http://schema.org/version> "7"^^<http://www.w3.org/2001/XMLSchema#integer> .
	// <http://www.wikidata.org/entity/Q1> <http://www.w3.org/2000/01/rdf-schema#label> "one"@en .
	// <http://www.wikidata.org/entity/Q1> <http://www.wikidata.org/prop/P31> <http://www.wikidata.org/entity/statement/Q1-a> .
	// <http://www.wikidata.org/entity/Q1> <http://www.wikidata.org/prop/direct/P31> <http://www.wikidata.org/entity/Q5> .
	// <http://www.wikidata.org/entity/statement/Q1-a> <http://www.wikidata.org/prop/qualifier/P1> <http://www.wikidata.org/.well-known/genid/somevalue> .
	// true
}
