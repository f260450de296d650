package rdfdiff_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

func ExampleParseTurtle() {
	doc := `@prefix wd: <http://www.wikidata.org/entity/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
wd:Q42 a <http://wikiba.se/ontology#Item> ;
	rdfs:label "Douglas Adams"@EN, "ダグラス・アダムズ"@ja ;
	<http://schema.org/version> 1276705620 .`
	triples, err := rdfdiff.ParseTurtle(strings.NewReader(doc), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range triples {
		fmt.Println(t)
	}
	// Output:
	// <http://www.wikidata.org/entity/Q42> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://wikiba.se/ontology#Item> .
	// <http://www.wikidata.org/entity/Q42> <http://www.w3.org/2000/01/rdf-schema#label> "Douglas Adams"@en .
	// <http://www.wikidata.org/entity/Q42> <http://www.w3.org/2000/01/rdf-schema#label> "ダグラス・アダムズ"@ja .
	// <http://www.wikidata.org/entity/Q42> <http://schema.org/version> "1276705620"^^<http://www.w3.org/2001/XMLSchema#integer> .
}

func ExampleParseNTriples() {
	doc := "<http://www.wikidata.org/entity/Q42> <http://schema.org/name> \"Douglas\\u0020Adams\" .\n" +
		"_:4249d9c21f8b973644e0eab84cdaaf17 <http://www.w3.org/2002/07/owl#someValuesFrom> <http://www.wikidata.org/entity/Q5> .\n"
	triples, err := rdfdiff.ParseNTriples(strings.NewReader(doc))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range triples {
		fmt.Println(t.S.Kind(), t.O.Value())
	}
	// Output:
	// IRI Douglas Adams
	// blank node http://www.wikidata.org/entity/Q5
}

func ExampleNewTurtleReader() {
	doc := `BASE <http://example.org/data/>
PREFIX : <http://example.org/vocab#>
<item/1> :tags ( "a" "b" ) ;
	:seeAlso [ :page <../about> ] .`
	r := rdfdiff.NewTurtleReader(strings.NewReader(doc), rdfdiff.WithFileName("items.ttl"))
	for {
		t, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(t)
	}
	// Output:
	// _:anon-1 <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> "a" .
	// _:anon-1 <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest> _:anon-2 .
	// _:anon-2 <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> "b" .
	// _:anon-2 <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest> <http://www.w3.org/1999/02/22-rdf-syntax-ns#nil> .
	// <http://example.org/data/item/1> <http://example.org/vocab#tags> _:anon-1 .
	// _:anon-3 <http://example.org/vocab#page> <http://example.org/about> .
	// <http://example.org/data/item/1> <http://example.org/vocab#seeAlso> _:anon-3 .
}

func ExampleSyntaxError() {
	doc := "@prefix wd: <http://www.wikidata.org/entity/> .\n" +
		"wd:Q42 wd:P31 wd:Q5 ;\n" +
		"       wd:P21 wd:Q6581097 ; wd:P27 wd:Q145 wd:Q146 .\n"
	_, err := rdfdiff.NewTurtleReader(strings.NewReader(doc), rdfdiff.WithFileName("Q42.ttl")).Next()
	var se *rdfdiff.SyntaxError
	if errors.As(err, &se) {
		fmt.Println(se.Line, se.Col)
		fmt.Println(err)
	}
	// Output:
	// 3 44
	// Q42.ttl:3:44: expected '.' after triple, found 'w'
}
