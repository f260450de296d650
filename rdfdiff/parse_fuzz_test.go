package rdfdiff

import (
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// fuzzSeeds are inputs that reach every production and error path.
var fuzzSeeds = []string{
	"@prefix : <http://x/> .\n:s :p :o, [ a :C ; :q (1 2.5 -3e4 true) ] ; :r \"x\"@en-GB .",
	"PREFIX : <http://x/>\nBASE <http://b/a/>\n<../s> :p '''long\n'string''' , \"\\u00e9\\U0001F600\\t\"^^:dt .",
	"@base <http://a/b/c/d;p?q> .\n<g;x=1/../y> <#f> <?q>, <//h>, <> .",
	"@prefix a.b: <http://x/> .\na.b:s\\~x a.b:p a.b:o.b%20c, a.b:123, a.b::: .",
	"_:4249d9c21f8b973644e0eab84cdaaf17 <http://x/p> _:b.1, _:1a, [], () .",
	"[ <http://x/p> [ <http://x/q> ( ( ) [ ] ) ] ] .",
	"<http://x/s> <http://x/p> \"\"\"a\"\"b\"\"\" , '' , \"\" , \"\"\"\"\"\" .",
	"<http://x/s> <http://x/p> 1.\n<http://x/s> <http://x/p> .5e+1 .",
	"\uFEFF# comment\r\n<http://x/s>\r<http://x/p>\t<http://x/o>.",
	"<http://x/\\u0020\\u003E> <http://x/p> \"\\\"\\\\\\n\\r\" .",
	"@prefix : <http://x/> . :s :p \"\"\"abc\"\"\"\"@en .",
	"@prefix : <http://x/> . :s :p :o ;; .",
	"<http://x/s> <http://x/p> \"\\uD800\" .",
	"<http://x/s> <http://x/p> \"a\xffb\" .",
}

func addFixtureSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	// Slices of the real Wikibase data, cut at statement boundaries.
	for _, name := range []string{"testdata/rdf-entities/raw/L4696.ttl", "testdata/rdf-entities/raw/commons_mediainfo_dump.ttl"} {
		doc, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(doc) > 4096 {
			doc = doc[:4096]
		}
		if i := strings.LastIndex(string(doc), " .\n"); i > 0 {
			doc = doc[:i+3]
		}
		f.Add(doc)
	}
}

// checkParsed verifies the invariants of a successful parse: every term is
// valid, and the triples written as N-Triples parse back to themselves.
func checkParsed(t *testing.T, ts []Triple) {
	var nt strings.Builder
	for _, tr := range ts {
		if tr.S.Kind() == KindInvalid || tr.S.Kind() == KindLiteral || !tr.P.IsIRI() || tr.O.Kind() == KindInvalid {
			t.Fatalf("invalid triple %q", tr.String())
		}
		nt.WriteString(tr.String())
		nt.WriteByte('\n')
	}
	back, err := ParseNTriples(strings.NewReader(nt.String()))
	if err != nil {
		t.Fatalf("N-Triples of the parsed triples does not parse: %v\n%s", err, nt.String())
	}
	if len(back) != len(ts) {
		t.Fatalf("round trip: %d triples, want %d", len(back), len(ts))
	}
	for i := range ts {
		if back[i] != ts[i] {
			t.Fatalf("round trip: triple %d is %q, want %q", i, back[i].String(), ts[i].String())
		}
	}
}

// streamAll parses with the streaming reader fed one byte at a time.
func streamAll(r *TripleReader) ([]Triple, error) {
	var out []Triple
	for {
		tr, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, tr)
	}
}

func sameResult(t *testing.T, ts []Triple, err error, ts2 []Triple, err2 error) {
	if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
		t.Fatalf("whole-document error %v, streaming error %v", err, err2)
	}
	if err != nil {
		return
	}
	if len(ts) != len(ts2) {
		t.Fatalf("whole-document parse gave %d triples, streaming %d", len(ts), len(ts2))
	}
	for i := range ts {
		if ts[i] != ts2[i] {
			t.Fatalf("triple %d: whole-document %q, streaming %q", i, ts[i].String(), ts2[i].String())
		}
	}
}

func FuzzParseTurtle(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		ts, err := ParseTurtleBytes(doc, WithBaseIRI("http://example.org/a/b"))
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error is %T, want *SyntaxError: %v", err, err)
			}
		} else {
			checkParsed(t, ts)
		}
		ts2, err2 := streamAll(NewTurtleReader(iotest.OneByteReader(strings.NewReader(string(doc))), WithBaseIRI("http://example.org/a/b")))
		sameResult(t, ts, err, ts2, err2)
	})
}

func FuzzParseNTriples(f *testing.F) {
	addFixtureSeeds(f)
	for _, s := range []string{
		"<http://x/s> <http://x/p> <http://x/o> .\n_:b <http://x/p> \"x\\u00E9\"@en-GB . # c\n",
		"<http://x/s> <http://x/p> \"1\"^^<http://www.w3.org/2001/XMLSchema#integer> .\r\n\r\n",
		"<http://x/s> <http://x/p> \"\\t\\b\\f\\'\\\"\" .",
		"<s> <http://x/p> <http://x/o> .",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		ts, err := ParseNTriplesBytes(doc)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error is %T, want *SyntaxError: %v", err, err)
			}
		} else {
			checkParsed(t, ts)
			// N-Triples is a subset of Turtle: the Turtle parser must agree.
			tts, terr := ParseTurtleBytes(doc)
			sameResult(t, ts, nil, tts, terr)
		}
		ts2, err2 := streamAll(NewNTriplesReader(iotest.OneByteReader(strings.NewReader(string(doc)))))
		sameResult(t, ts, err, ts2, err2)
	})
}
