package rdfdiff

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzTurtleRoundTrip checks the writers' promise: whatever they accept
// re-parses to exactly the triples written (Turtle and N-Triples), and what
// they refuse is refused with ErrInvalidTriple, never a panic.
func FuzzTurtleRoundTrip(f *testing.F) {
	f.Add("http://ex/s", "b0", "lex \"q\" \\ \n", "en-GB", "http://www.w3.org/2001/XMLSchema#integer", "12")
	f.Add("http://www.wikidata.org/entity/Q42", "_x.y", "", "", "http://www.w3.org/2001/XMLSchema#double", "1.0E3")
	f.Add("http://ex/é", "a-b", "𝄞\r\t\x00", "x-1", "http://www.w3.org/2001/XMLSchema#decimal", "-0.50")
	f.Add("http://ex/a b", ".", "\xff", "1", "http://www.w3.org/2001/XMLSchema#boolean", "true")
	f.Fuzz(func(t *testing.T, iriStr, label, lex, lang, datatype, typedLex string) {
		s, p := NewIRI(iriStr), NewIRI("http://ex/p")
		objects := []Term{
			NewIRI(iriStr), NewBlankNode(label), NewLiteral(lex), NewLangLiteral(lex, lang),
			NewTypedLiteral(typedLex, datatype), NewTypedLiteral(typedLex, XSDInteger),
			NewTypedLiteral(typedLex, XSDDecimal), NewTypedLiteral(typedLex, XSDDouble),
			NewTypedLiteral(typedLex, XSDBoolean),
		}
		var ts []Triple
		for _, o := range objects {
			ts = append(ts, Triple{s, p, o}, Triple{NewBlankNode(label), p, o})
		}
		// Keep what the writer accepts, in a mix of grouped and ungrouped order.
		var ok []Triple
		for _, tr := range ts {
			_, err := AppendTurtle(nil, []Triple{tr})
			if err != nil {
				if !errors.Is(err, ErrInvalidTriple) {
					t.Fatalf("error %v does not wrap ErrInvalidTriple", err)
				}
				continue
			}
			ok = append(ok, tr)
		}
		doc, err := AppendTurtle(nil, ok)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseTurtleBytes(doc)
		if err != nil {
			t.Fatalf("written Turtle does not parse: %v\n%s", err, doc)
		}
		if len(back) != len(ok) {
			t.Fatalf("wrote %d triples, read %d\n%s", len(ok), len(back), doc)
		}
		for i := range ok {
			if back[i] != ok[i] {
				t.Fatalf("triple %d: wrote %v, read %v\n%s", i, ok[i], back[i], doc)
			}
		}
		var nt bytes.Buffer
		if err := WriteNTriples(&nt, ok); err != nil {
			t.Fatal(err)
		}
		back, err = ParseNTriples(&nt)
		if err != nil {
			t.Fatalf("written N-Triples does not parse: %v\n%s", err, nt.Bytes())
		}
		if len(back) != len(ok) {
			t.Fatalf("N-Triples: wrote %d triples, read %d", len(ok), len(back))
		}
		for i := range ok {
			if back[i] != ok[i] {
				t.Fatalf("N-Triples triple %d: wrote %v, read %v", i, ok[i], back[i])
			}
		}
	})
}
