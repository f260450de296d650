package rdfdiff_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// A producer turns one entity change into rdf_change messages; a consumer
// decodes them and reassembles the change.
func ExampleChunkChange() {
	q42 := rdfdiff.NewIRI("http://www.wikidata.org/entity/Q42")
	change := rdfdiff.EntityChange{
		EntityID:  "Q42",
		Revision:  1276705620,
		Operation: rdfdiff.OpDiff,
		EventTime: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		RequestID: "8f7e6d5c",
		Domain:    "www.wikidata.org",
		Stream:    "rdf-streaming-updater.mutation",
		Patch: rdfdiff.Patch{
			Added: []rdfdiff.Triple{
				{S: q42, P: rdfdiff.NewIRI("http://schema.org/version"), O: rdfdiff.NewTypedLiteral("1276705620", rdfdiff.XSDInteger)},
				{S: q42, P: rdfdiff.NewIRI("http://www.w3.org/2000/01/rdf-schema#label"), O: rdfdiff.NewLangLiteral("Douglas Adams", "en")},
			},
			Removed: []rdfdiff.Triple{
				{S: q42, P: rdfdiff.NewIRI("http://schema.org/version"), O: rdfdiff.NewTypedLiteral("1276705613", rdfdiff.XSDInteger)},
			},
		},
	}
	msgs, err := rdfdiff.ChunkChange(change, rdfdiff.WithMeta(func(seq int, m *rdfdiff.EventMeta) {
		m.ID = fmt.Sprintf("msg-%d", seq) // production keeps the random UUID
		m.DT = time.Date(2024, 5, 1, 12, 0, 1, 0, time.UTC)
	}))
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		data, err := m.MarshalJSON()
		if err != nil {
			panic(err)
		}
		fmt.Println(string(data))
	}

	// The consumer side.
	r := rdfdiff.NewReassembler()
	for i, m := range msgs {
		data, _ := m.MarshalJSON()
		ev, err := rdfdiff.DecodeEvent(data)
		if err != nil {
			panic(err)
		}
		got, err := r.Add(ev, i) // i stands for the Kafka record's provenance
		if err != nil {
			panic(err)
		}
		if got != nil {
			fmt.Printf("%s rev %d: +%d -%d\n", got.EntityID, got.Revision, len(got.Patch.Added), len(got.Patch.Removed))
		}
	}
	// Output:
	// {"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0","meta":{"dt":"2024-05-01T12:00:01Z","id":"msg-0","domain":"www.wikidata.org","stream":"rdf-streaming-updater.mutation","request_id":"8f7e6d5c"},"entity_id":"Q42","rev_id":1276705620,"dt":"2024-05-01T12:00:00Z","sequence":0,"sequence_length":1,"operation":"diff","rdf_added_data":{"data":"\n<http://www.wikidata.org/entity/Q42> <http://schema.org/version> 1276705620 ;\n\t<http://www.w3.org/2000/01/rdf-schema#label> \"Douglas Adams\"@en .\n","mime_type":"text/turtle"},"rdf_deleted_data":{"data":"\n<http://www.wikidata.org/entity/Q42> <http://schema.org/version> 1276705613 .\n","mime_type":"text/turtle"}}
	// Q42 rev 1276705620: +2 -1
}

// Decoding is strict: every deviation from the schema names its field.
func ExampleDecodeEvent() {
	_, err := rdfdiff.DecodeEvent([]byte(`{"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0",
		"meta":{"stream":"s"},"entity_id":"Q1","rev_id":-3,"dt":"2020-06-10T18:56:15Z",
		"sequence":0,"sequence_length":1,"operation":"delete"}`))
	fmt.Println(err)
	var ee *rdfdiff.EventError
	if errors.As(err, &ee) {
		fmt.Println(ee.Field, errors.Is(err, rdfdiff.ErrInvalidEvent))
	}
	// Output:
	// rdfdiff: invalid rdf_change event: rev_id: -3 is out of range [0, 9007199254740991]
	// rev_id true
}

// A lost chunk is reported with the provenance of every message dropped,
// where the WDQS consumer would have applied a partial patch.
func ExampleReassembler() {
	var triples []rdfdiff.Triple
	for i := range 6 {
		triples = append(triples, rdfdiff.Triple{
			S: rdfdiff.NewIRI(fmt.Sprintf("http://www.wikidata.org/entity/statement/Q42-%d", i)),
			P: rdfdiff.NewIRI("http://wikiba.se/ontology#rank"),
			O: rdfdiff.NewIRI("http://wikiba.se/ontology#NormalRank"),
		})
	}
	msgs, _ := rdfdiff.ChunkChange(rdfdiff.EntityChange{
		EntityID: "Q42", Revision: 7, Operation: rdfdiff.OpImport, RequestID: "r1", Stream: "s",
		EventTime: time.Unix(0, 0), Patch: rdfdiff.Patch{Added: triples},
	}, rdfdiff.WithSoftMaxChars(200))
	fmt.Println("messages:", len(msgs))

	type offset int64 // what a Kafka consumer would attach
	r := rdfdiff.NewReassembler()
	for i, m := range msgs {
		if i == 1 {
			continue // lost in transit
		}
		_, err := r.Add(m, offset(100+i))
		var cse *rdfdiff.ChunkSequenceError
		if errors.As(err, &cse) {
			fmt.Println(cse.Msg)
			fmt.Println("dead-letter:", cse.Dropped)
		}
	}
	// Output:
	// messages: 3
	// gap: expected chunk 1, got 2
	// dead-letter: [100 102]
}

// The Turtle writer gives the form of the WDQS producer's chunks.
func ExampleTurtleWriter() {
	s := rdfdiff.NewIRI("https://en.wikipedia.org/wiki/Douglas_Adams")
	var out strings.Builder
	tw := rdfdiff.NewTurtleWriter(&out)
	for _, t := range []rdfdiff.Triple{
		{S: s, P: rdfdiff.NewIRI(rdfdiff.RDFType), O: rdfdiff.NewIRI("http://schema.org/Article")},
		{S: s, P: rdfdiff.NewIRI("http://schema.org/about"), O: rdfdiff.NewIRI("http://www.wikidata.org/entity/Q42")},
		{S: s, P: rdfdiff.NewIRI("http://schema.org/name"), O: rdfdiff.NewLangLiteral("Douglas Adams", "en")},
		{S: s, P: rdfdiff.NewIRI("http://schema.org/name"), O: rdfdiff.NewLiteral("D. \"42\" Adams")},
	} {
		if err := tw.WriteTriple(t); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	fmt.Print(out.String())
	fmt.Println("characters:", tw.Len())
	// Output:
	// <https://en.wikipedia.org/wiki/Douglas_Adams> a <http://schema.org/Article> ;
	// 	<http://schema.org/about> <http://www.wikidata.org/entity/Q42> ;
	// 	<http://schema.org/name> "Douglas Adams"@en , "D. \"42\" Adams" .
	// characters: 212
}
