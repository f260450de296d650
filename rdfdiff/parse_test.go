package rdfdiff

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ntLines renders triples as sorted N-Triples lines, to compare as sets.
func ntLines(ts []Triple) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

const testBase = "http://example.org/base/dir/file"

func TestParseTurtleGrammar(t *testing.T) {
	const pfx = "@prefix : <http://x/> .\n"
	tests := []struct {
		name, in string
		want     []string
	}{
		{"full IRIs", `<http://x/s> <http://x/p> <http://x/o> .`,
			[]string{`<http://x/s> <http://x/p> <http://x/o> .`}},
		{"@prefix", pfx + `:s :p :o .`,
			[]string{`<http://x/s> <http://x/p> <http://x/o> .`}},
		{"SPARQL PREFIX any case", "pReFiX ex: <http://e/>\nex:s ex:p ex:o .",
			[]string{`<http://e/s> <http://e/p> <http://e/o> .`}},
		{"prefix redefined", pfx + ":s :p :o .\n@prefix : <http://y/> .\n:s :p :o .",
			[]string{`<http://x/s> <http://x/p> <http://x/o> .`, `<http://y/s> <http://y/p> <http://y/o> .`}},
		{"prefix only IRI", pfx + `: : : .`,
			[]string{`<http://x/> <http://x/> <http://x/> .`}},
		{"a", pfx + `:s a :C .`,
			[]string{`<http://x/s> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://x/C> .`}},
		{"object and predicate lists, trailing and repeated ;", pfx + `:s :p :a, :b ;; :q :c ; .`,
			[]string{`<http://x/s> <http://x/p> <http://x/a> .`, `<http://x/s> <http://x/p> <http://x/b> .`, `<http://x/s> <http://x/q> <http://x/c> .`}},
		{"empty collection", pfx + `:s :p () .`,
			[]string{`<http://x/s> <http://x/p> <http://www.w3.org/1999/02/22-rdf-syntax-ns#nil> .`}},
		{"collection", pfx + `:s :p (:a "b") .`, []string{
			`<http://x/s> <http://x/p> _:anon-1 .`,
			`_:anon-1 <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> <http://x/a> .`,
			`_:anon-1 <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest> _:anon-2 .`,
			`_:anon-2 <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> "b" .`,
			`_:anon-2 <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest> <http://www.w3.org/1999/02/22-rdf-syntax-ns#nil> .`}},
		{"collection subject and nested", pfx + `(()) :p :o .`, []string{
			`_:anon-1 <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> <http://www.w3.org/1999/02/22-rdf-syntax-ns#nil> .`,
			`_:anon-1 <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest> <http://www.w3.org/1999/02/22-rdf-syntax-ns#nil> .`,
			`_:anon-1 <http://x/p> <http://x/o> .`}},
		{"anonymous subject and object", pfx + `[] :p [] .`,
			[]string{`_:anon-1 <http://x/p> _:anon-2 .`}},
		{"sole blank node property list", pfx + `[ :p :o ] .`,
			[]string{`_:anon-1 <http://x/p> <http://x/o> .`}},
		{"blank node property list subject with predicates", pfx + `[ :p :o ] :q :r .`,
			[]string{`_:anon-1 <http://x/p> <http://x/o> .`, `_:anon-1 <http://x/q> <http://x/r> .`}},
		{"nested blank node property lists", pfx + `:s :p [ :q [ :r :o ] ; ] .`, []string{
			`<http://x/s> <http://x/p> _:anon-1 .`, `_:anon-1 <http://x/q> _:anon-2 .`, `_:anon-2 <http://x/r> <http://x/o> .`}},
		{"labelled blank nodes kept", pfx + `_:4249d9c21f8b973644e0eab84cdaaf17 :p _:b.1, _:1a, _:_x .`, []string{
			`_:4249d9c21f8b973644e0eab84cdaaf17 <http://x/p> _:1a .`,
			`_:4249d9c21f8b973644e0eab84cdaaf17 <http://x/p> _:_x .`,
			`_:4249d9c21f8b973644e0eab84cdaaf17 <http://x/p> _:b.1 .`}},
		{"generated labels skip labels the document uses", pfx + `_:anon-1 :p [] .`,
			[]string{`_:anon-1 <http://x/p> _:anon-2 .`}},
		{"string quote forms", pfx + `:s :p "a'b", 'c"d', """e"f""g
h""", '''i'j''k''' .`, []string{
			`<http://x/s> <http://x/p> "a'b" .`, `<http://x/s> <http://x/p> "c\"d" .`,
			`<http://x/s> <http://x/p> "e\"f\"\"g\nh" .`, `<http://x/s> <http://x/p> "i'j''k" .`}},
		{"empty strings", pfx + `:s :p "", '', """""", '''''' .`,
			[]string{`<http://x/s> <http://x/p> "" .`}},
		{"ECHAR", pfx + `:s :p "\t\b\n\r\f\"\'\\" .`,
			[]string{"<http://x/s> <http://x/p> \"\t\b\\n\\r\f\\\"'\\\\\" ."}},
		{"UCHAR in string", pfx + `:s :p "\u00E9\U0001F600\u0022\u000A" .`,
			[]string{`<http://x/s> <http://x/p> "é😀\"\n" .`}},
		{"UCHAR in IRI", `<http://x/\u00E9> <http://x/p> <http://x/\U0000007A> .`,
			[]string{`<http://x/é> <http://x/p> <http://x/z> .`}},
		{"language tags lower-cased", pfx + `:s :p "x"@EN-gb, """y"""@de-CH-1996 .`,
			[]string{`<http://x/s> <http://x/p> "x"@en-gb .`, `<http://x/s> <http://x/p> "y"@de-ch-1996 .`}},
		{"datatypes", pfx + "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n" +
			`:s :p "1"^^xsd:integer, "2"^^<http://x/dt>, "3"^^xsd:string, "4"^^<http://www.w3.org/2001/XMLSchema#string> .`, []string{
			`<http://x/s> <http://x/p> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .`,
			`<http://x/s> <http://x/p> "2"^^<http://x/dt> .`,
			`<http://x/s> <http://x/p> "3" .`, `<http://x/s> <http://x/p> "4" .`}},
		{"numbers keep their lexical form", pfx + `:s :p 0, +01, -5, .5, -1.0, 1e10, 1.E-3, +.5e+7 .`, []string{
			`<http://x/s> <http://x/p> "+.5e+7"^^<http://www.w3.org/2001/XMLSchema#double> .`,
			`<http://x/s> <http://x/p> "+01"^^<http://www.w3.org/2001/XMLSchema#integer> .`,
			`<http://x/s> <http://x/p> "-1.0"^^<http://www.w3.org/2001/XMLSchema#decimal> .`,
			`<http://x/s> <http://x/p> "-5"^^<http://www.w3.org/2001/XMLSchema#integer> .`,
			`<http://x/s> <http://x/p> ".5"^^<http://www.w3.org/2001/XMLSchema#decimal> .`,
			`<http://x/s> <http://x/p> "0"^^<http://www.w3.org/2001/XMLSchema#integer> .`,
			`<http://x/s> <http://x/p> "1.E-3"^^<http://www.w3.org/2001/XMLSchema#double> .`,
			`<http://x/s> <http://x/p> "1e10"^^<http://www.w3.org/2001/XMLSchema#double> .`}},
		{"integer before the final dot", pfx + `:s :p 1.`,
			[]string{`<http://x/s> <http://x/p> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .`}},
		{"booleans", pfx + `:s :p true, false .`, []string{
			`<http://x/s> <http://x/p> "false"^^<http://www.w3.org/2001/XMLSchema#boolean> .`,
			`<http://x/s> <http://x/p> "true"^^<http://www.w3.org/2001/XMLSchema#boolean> .`}},
		{"local names: escapes, percent, dots, colons, digits", pfx + `:a\,b\~c :p:q :a.b.c, :%20x, :123, :a:b: .`, []string{
			`<http://x/a,b~c> <http://x/p:q> <http://x/%20x> .`,
			`<http://x/a,b~c> <http://x/p:q> <http://x/123> .`,
			`<http://x/a,b~c> <http://x/p:q> <http://x/a.b.c> .`,
			`<http://x/a,b~c> <http://x/p:q> <http://x/a:b:> .`}},
		{"prefix names with dots and non-ASCII", "@prefix a.b: <http://x/> .\n@prefix é: <http://y/> .\na.b:s é:p é:o .",
			[]string{`<http://x/s> <http://y/p> <http://y/o> .`}},
		{"names followed by dots", pfx + `:s :p :o.` + "\n" + `:s :p :o2...`[:len(`:s :p :o2...`)-2],
			[]string{`<http://x/s> <http://x/p> <http://x/o> .`, `<http://x/s> <http://x/p> <http://x/o2> .`}},
		{"comments and CRLF", "# c\r\n" + pfx + ":s # c\r\n :p :o # c\r\n. # end",
			[]string{`<http://x/s> <http://x/p> <http://x/o> .`}},
		{"byte order mark", "\uFEFF" + pfx + `:s :p :o .`,
			[]string{`<http://x/s> <http://x/p> <http://x/o> .`}},
		{"relative IRIs", `<> <#p> <../x>, <?q>, <//h/p>, </a/./b/../c>, <g;x=1/../y> .`, []string{
			`<http://example.org/base/dir/file> <http://example.org/base/dir/file#p> <http://example.org/base/x> .`,
			`<http://example.org/base/dir/file> <http://example.org/base/dir/file#p> <http://example.org/base/dir/file?q> .`,
			`<http://example.org/base/dir/file> <http://example.org/base/dir/file#p> <http://h/p> .`,
			`<http://example.org/base/dir/file> <http://example.org/base/dir/file#p> <http://example.org/a/c> .`,
			`<http://example.org/base/dir/file> <http://example.org/base/dir/file#p> <http://example.org/base/dir/y> .`}},
		{"base changes mid-document", "<s> <p> <o> .\n@base <http://other/a/> .\n<s> <p> <o> .\nBASE <../b/>\n<s> <p> <o> .", []string{
			`<http://example.org/base/dir/s> <http://example.org/base/dir/p> <http://example.org/base/dir/o> .`,
			`<http://other/a/s> <http://other/a/p> <http://other/a/o> .`,
			`<http://other/b/s> <http://other/b/p> <http://other/b/o> .`}},
		{"relative prefix IRI", "@prefix r: <sub/> .\nr:s r:p r:o .",
			[]string{`<http://example.org/base/dir/sub/s> <http://example.org/base/dir/sub/p> <http://example.org/base/dir/sub/o> .`}},
		{"keyword-like prefixed names", "@prefix a: <http://a/> .\n@prefix true: <http://t/> .\na:s a a:C ; a:p true:x .", []string{
			`<http://a/s> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://a/C> .`,
			`<http://a/s> <http://a/p> <http://t/x> .`}},
		{"empty document", "  # only a comment\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTurtle(strings.NewReader(tc.in), testBase)
			require.NoError(t, err)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			assert.Equal(t, want, nilIfEmpty(ntLines(got)))
			for _, tr := range got {
				assertValidTerm(t, tr.S)
				assertValidTerm(t, tr.P)
				assertValidTerm(t, tr.O)
			}
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// assertValidTerm checks that a parsed term re-parses as the same term.
func assertValidTerm(t testing.TB, term Term) {
	t.Helper()
	require.NotEqual(t, KindInvalid, term.Kind(), "invalid term %q", term.String())
}

func TestParseTurtleErrors(t *testing.T) {
	const pfx = "@prefix : <http://x/> .\n"
	tests := []struct {
		name, in  string
		line, col int
		msg       string
	}{
		{"missing dot", pfx + ":s :p :o :q .", 2, 10, "expected '.' after triple, found ':'"},
		{"missing dot at end", pfx + ":s :p :o", 2, 9, "expected '.' after triple, found end of input"},
		{"undefined prefix", pfx + ":s :p ex:o .", 2, 7, `undefined prefix "ex:"`},
		{"relative IRI without base", "<s> <http://x/p> <http://x/o> .", 1, 1, "relative IRI <s> and no base IRI"},
		{"space in IRI", "<http://x/a b> <http://x/p> <http://x/o> .", 1, 12, "expected '>' to close IRI, found ' '"},
		{"bad IRI escape", `<http://x/\n> <http://x/p> <http://x/o> .`, 1, 11, "only \\u and \\U are allowed"},
		{"UCHAR naming a character IRIs leave out", `<http://x/a\u0020b> <http://x/p> <http://x/o> .`, 1, 12, "escape \\u0020 names U+0020, which is not allowed in an IRI"},
		{"short UCHAR", `<http://x/\u00G0> <http://x/p> <http://x/o> .`, 1, 11, "expected 4 hex digits after \\u"},
		{"surrogate", pfx + `:s :p "\uD800" .`, 2, 8, "surrogate"},
		{"beyond U+10FFFF", pfx + `:s :p "\U00110000" .`, 2, 8, "beyond U+10FFFF"},
		{"bad string escape", pfx + `:s :p "a\zb" .`, 2, 9, "invalid escape in string"},
		{"unterminated string", pfx + `:s :p "abc`, 2, 7, "unterminated string"},
		{"unterminated long string", pfx + ":s :p '''abc\n\ndef", 4, 4, "unterminated string"},
		{"line break in short string", pfx + ":s :p \"ab\ncd\" .", 2, 10, "found end of line"},
		{"quote after long string", pfx + `:s :p """abc""""@en .`, 2, 16, `expected '.' after triple, found '"'`},
		{"bad language tag", pfx + `:s :p "x"@1 .`, 2, 11, "expected language tag after '@'"},
		{"language tag and datatype", pfx + `:s :p "x"@en^^:dt .`, 2, 13, "expected '.' after triple, found '^'"},
		{"literal subject", pfx + `"x" :p :o .`, 2, 1, "expected subject"},
		{"blank node predicate", pfx + `:s _:b :o .`, 2, 4, "expected predicate, found a blank node"},
		{"literal predicate", pfx + `:s "p" :o .`, 2, 4, "expected predicate, found a literal"},
		{"keyword subject", pfx + `a :p :o .`, 2, 1, `expected subject, found keyword "a"`},
		{"a as object", pfx + `:s :p a .`, 2, 7, `expected object, found keyword "a"`},
		{"unclosed blank node property list", pfx + `:s :p [ :q :r .`, 2, 15, "expected ']' to close blank node property list"},
		{"unclosed collection", pfx + `:s :p ( :a`, 2, 11, "expected ')' to close collection"},
		{"unknown directive", `@keywords a .`, 1, 1, "unknown directive @keywords"},
		{"prefix without colon", `@prefix x <http://x/> .`, 1, 10, "expected ':' after prefix name"},
		{"prefix directive without dot", `@prefix x: <http://x/>`, 1, 23, "expected '.' after @prefix directive"},
		{"SPARQL PREFIX with dot", "PREFIX x: <http://x/> .", 1, 23, "expected subject"},
		{"bad local name character", pfx + `:a~b :p :o .`, 2, 3, "expected predicate"},
		{"bad percent escape", pfx + `:a%2 :p :o .`, 2, 3, "expected two hex digits after '%'"},
		{"bad local escape", pfx + `:a\u0039 :p :o .`, 2, 3, "invalid escape in prefixed name"},
		{"local name starting with dash", pfx + `:s :p :-o .`, 2, 8, "expected '.' after triple, found '-'"},
		{"blank label ending with dot", pfx + `_:b1. :p :o .`, 2, 5, "expected predicate"},
		{"exponent without digits", pfx + `:s :p 123e .`, 2, 11, "expected digits in the exponent"},
		{"number followed by letters", pfx + `:s :p 123abc .`, 2, 10, "expected '.' after triple, found 'a'"},
		{"sign without digits", pfx + `:s :p +-1 .`, 2, 7, `expected a number, found "+"`},
		{"N3 braces", `{ <http://x/s> <http://x/p> <http://x/o> }`, 1, 1, "expected subject"},
		{"N3 equals", pfx + `:s = :o .`, 2, 4, "expected predicate"},
		{"columns count characters", pfx + `:s :p "éé😀" :x .`, 2, 13, "expected '.' after triple"},
		{"invalid UTF-8", pfx + ":s :p \"a\xffb\" .", 2, 9, "invalid UTF-8 byte 0xFF in string"},
		{"invalid UTF-8 starting a local name", pfx + ":s :p :\x84 .", 2, 8, "invalid UTF-8 byte 0x84 in name"},
		{"invalid UTF-8 starting a prefix", "\xc3( :p :o .", 1, 1, "invalid UTF-8 byte 0xC3 in name"},
		{"invalid UTF-8 starting a blank node label", pfx + ":s :p _:\xff .", 2, 9, "invalid UTF-8 byte 0xFF in name"},
		{"invalid UTF-8 in IRI", "<http://x/\xc3> <http://x/p> <http://x/o> .", 1, 11, "invalid UTF-8 byte 0xC3 in IRI"},
		{"collides with generated label", pfx + `[] :p _:anon-1 .`, 2, 7, "generated anonymous node"},
		{"nesting too deep", pfx + ":s :p " + strings.Repeat("[ :p ", maxNesting+1), 2, 5*maxNesting + 9, "nested deeper than"},
		{"CR counts as a line end", pfx + ":s\r:p\r\n:o ;\r, .", 5, 1, "expected '.' after triple, found ','"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTurtle(strings.NewReader(tc.in), "")
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, se.Msg, tc.msg)
			assert.Equal(t, [2]int{tc.line, tc.col}, [2]int{se.Line, se.Col}, "position of %q", se.Msg)

			// The streaming reader fed one byte at a time fails the same way.
			r := NewTurtleReader(iotest.OneByteReader(strings.NewReader(tc.in)))
			var err2 error
			for err2 == nil {
				_, err2 = r.Next()
			}
			assert.Equal(t, err, err2)
		})
	}
}

func TestParseNTriples(t *testing.T) {
	in := "# comment\n" +
		"<http://x/s> <http://x/p> <http://x/o> .\r\n" +
		"_:b1 <http://x/p> \"a\\tb\\u00E9\"@EN . # trailing comment\n" +
		"\t<http://x/s>\t<http://x/p>\t\"1\"^^<http://www.w3.org/2001/XMLSchema#integer>\t.\n" +
		"\n" +
		"<http://x/\\u0041> <http://x/p> \"x\"^^<http://www.w3.org/2001/XMLSchema#string> ." // no final newline
	got, err := ParseNTriples(strings.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, []string{
		`<http://x/s> <http://x/p> <http://x/o> .`,
		"_:b1 <http://x/p> \"a\tbé\"@en .",
		`<http://x/s> <http://x/p> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .`,
		`<http://x/A> <http://x/p> "x" .`,
	}, func() []string {
		var s []string
		for _, tr := range got {
			s = append(s, tr.String())
		}
		return s
	}())
}

func TestParseNTriplesErrors(t *testing.T) {
	const spo = "<http://x/s> <http://x/p> <http://x/o>"
	tests := []struct {
		name, in  string
		line, col int
		msg       string
	}{
		{"semicolon", spo + " ; .", 1, 40, "expected '.' after triple, found ';'"},
		{"relative IRI", "<s> <http://x/p> <http://x/o> .", 1, 1, "relative IRI <s> is not allowed in N-Triples"},
		{"prefixed name", "<http://x/s> <http://x/p> x:o .", 1, 27, "expected object"},
		{"a", "<http://x/s> a <http://x/o> .", 1, 14, "expected predicate IRI"},
		{"two triples on a line", spo + " . " + spo + " .", 1, 42, "expected end of line after triple"},
		{"triple across lines", "<http://x/s>\n<http://x/p> <http://x/o> .", 1, 13, "expected predicate IRI, found end of line"},
		{"single-quoted string", "<http://x/s> <http://x/p> 'o' .", 1, 27, "expected object"},
		{"long string", `<http://x/s> <http://x/p> """o""" .`, 1, 29, "expected '.' after triple"},
		{"number", "<http://x/s> <http://x/p> 1 .", 1, 27, "expected object"},
		{"literal subject", `"s" <http://x/p> <http://x/o> .`, 1, 1, "expected subject"},
		{"missing dot", spo, 1, 39, "expected '.' after triple, found end of input"},
		{"@prefix", "@prefix x: <http://x/> .", 1, 1, "expected subject"},
		{"bad language tag", `<http://x/s> <http://x/p> "o"@en- .`, 1, 33, "expected letters or digits after '-'"},
		{"datatype prefixed name", `<http://x/s> <http://x/p> "o"^^x:d .`, 1, 32, "expected datatype IRI"},
		{"UCHAR naming a character IRIs leave out", `<http://x/s> <http://x/p> <http://x/\u003E> .`, 1, 37, "not allowed in an IRI"},
		{"second line", spo + " .\n" + spo + " <http://x/g> .", 2, 40, "expected '.' after triple"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNTriples(strings.NewReader(tc.in))
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, se.Msg, tc.msg)
			assert.Equal(t, [2]int{tc.line, tc.col}, [2]int{se.Line, se.Col}, "position of %q", se.Msg)
		})
	}
}

func TestSyntaxErrorString(t *testing.T) {
	e := &SyntaxError{File: "Q42.ttl", Line: 3, Col: 7, Msg: "expected '.' after triple, found ';'"}
	assert.Equal(t, "Q42.ttl:3:7: expected '.' after triple, found ';'", e.Error())
	e.File = ""
	assert.Equal(t, "3:7: expected '.' after triple, found ';'", e.Error())

	r := NewTurtleReader(strings.NewReader("<http://x/s> <http://x/p> ."), WithFileName("chunk.ttl"))
	_, err := r.Next()
	assert.EqualError(t, err, "chunk.ttl:1:27: expected object (IRI, prefixed name, blank node, collection or literal), found '.'")
}

func TestParseOptionsValidated(t *testing.T) {
	_, err := ParseTurtle(strings.NewReader(""), "relative/base")
	assert.ErrorContains(t, err, `rdfdiff: base IRI "relative/base" is not absolute`)
	_, err = ParseTurtleBytes(nil, WithBaseIRI("http://x/a b"))
	assert.ErrorContains(t, err, `rdfdiff: base IRI "http://x/a b" holds a character not allowed in an IRI`)
	_, err = ParseTurtleBytes(nil, WithBlankNodePrefix("-x"))
	assert.ErrorContains(t, err, `rdfdiff: blank node prefix "-x"`)

	got, err := ParseTurtleBytes([]byte("<http://x/s> <http://x/p> [] ."), WithBlankNodePrefix("g.x_"))
	require.NoError(t, err)
	assert.Equal(t, "_:g.x_1", got[0].O.String())
}

func TestReaderPropagatesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	in := io.MultiReader(strings.NewReader("<http://x/s> <http://x/p> <http://x/o> .\n<http://x/s> <http://x/p> <http://x/"), iotest.ErrReader(boom))
	r := NewTurtleReader(in)
	_, err := r.Next()
	require.NoError(t, err)
	_, err = r.Next()
	require.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, "rdfdiff: reading input")
	_, err2 := r.Next()
	assert.Equal(t, err, err2, "errors are sticky")

	_, err = ParseTurtle(iotest.ErrReader(boom), "")
	assert.ErrorIs(t, err, boom)
	_, err = ParseNTriples(iotest.ErrReader(boom))
	assert.ErrorIs(t, err, boom)
}

// fixtureFiles lists the Wikibase Turtle fixtures copied into testdata.
func fixtureFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/rdf-entities/*/*.ttl")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func TestParseFixtures(t *testing.T) {
	want := map[string]int{ // triple counts, checked against serdi 0.32
		"testdata/rdf-entities/raw/Q42.ttl":            4455,
		"testdata/rdf-entities/munged/Q513-munged.ttl": 2154,
	}
	for _, f := range fixtureFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			doc, err := os.ReadFile(f)
			require.NoError(t, err)
			all, err := ParseTurtleBytes(doc, WithFileName(f))
			require.NoError(t, err)
			require.NotEmpty(t, all)
			if n, ok := want[f]; ok {
				assert.Len(t, all, n)
			}

			// The streaming reader, fed in odd-sized pieces, yields the same
			// triples in the same order.
			r := NewTurtleReader(iotest.HalfReader(iotest.OneByteReader(strings.NewReader(string(doc)))))
			var streamed []Triple
			for {
				tr, err := r.Next()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				streamed = append(streamed, tr)
			}
			assert.Equal(t, all, streamed)

			// Turtle -> N-Triples -> N-Triples parse gives the same triples.
			var nt strings.Builder
			for _, tr := range all {
				nt.WriteString(tr.String())
				nt.WriteByte('\n')
			}
			back, err := ParseNTriples(strings.NewReader(nt.String()))
			require.NoError(t, err)
			assert.Equal(t, all, back)
		})
	}
}

func TestParseQ42Content(t *testing.T) {
	doc, err := os.ReadFile("testdata/rdf-entities/raw/Q42.ttl")
	require.NoError(t, err)
	ts, err := ParseTurtleBytes(doc)
	require.NoError(t, err)
	set := make(map[Triple]bool, len(ts))
	for _, tr := range ts {
		set[tr] = true
	}
	q42 := NewIRI("http://www.wikidata.org/entity/Q42")
	assert.True(t, set[Triple{q42, NewIRI("http://www.w3.org/2000/01/rdf-schema#label"), NewLangLiteral("Douglas Adams", "en")}])
	assert.True(t, set[Triple{q42, NewIRI("http://www.wikidata.org/prop/direct/P4839"),
		NewLiteral(`Entity["Person", "DouglasAdams::gh8qf"]`)}], "escaped quotes")
	// Wikibase blank node labels are stable hashes: they must come out unchanged.
	assert.Contains(t, string(doc), "_:4249d9c21f8b973644e0eab84cdaaf17")
	found := false
	for _, tr := range ts {
		if tr.O == NewBlankNode("4249d9c21f8b973644e0eab84cdaaf17") {
			found = true
		}
	}
	assert.True(t, found, "blank node label preserved")
}

func TestResolveIRI(t *testing.T) {
	// RFC 3986 §5.4 examples.
	base := splitIRI("http://a/b/c/d;p?q")
	for ref, want := range map[string]string{
		"g:h": "g:h", "g": "http://a/b/c/g", "./g": "http://a/b/c/g", "g/": "http://a/b/c/g/",
		"/g": "http://a/g", "//g": "http://g", "?y": "http://a/b/c/d;p?y", "g?y": "http://a/b/c/g?y",
		"#s": "http://a/b/c/d;p?q#s", "g#s": "http://a/b/c/g#s", "g?y#s": "http://a/b/c/g?y#s",
		";x": "http://a/b/c/;x", "g;x": "http://a/b/c/g;x", "g;x?y#s": "http://a/b/c/g;x?y#s",
		"": "http://a/b/c/d;p?q", ".": "http://a/b/c/", "./": "http://a/b/c/", "..": "http://a/b/",
		"../": "http://a/b/", "../g": "http://a/b/g", "../..": "http://a/", "../../": "http://a/",
		"../../g": "http://a/g", "../../../g": "http://a/g", "../../../../g": "http://a/g",
		"/./g": "http://a/g", "/../g": "http://a/g", "g.": "http://a/b/c/g.", ".g": "http://a/b/c/.g",
		"g..": "http://a/b/c/g..", "..g": "http://a/b/c/..g", "./../g": "http://a/b/g",
		"./g/.": "http://a/b/c/g/", "g/./h": "http://a/b/c/g/h", "g/../h": "http://a/b/c/h",
		"g;x=1/./y": "http://a/b/c/g;x=1/y", "g;x=1/../y": "http://a/b/c/y", "g?y/./x": "http://a/b/c/g?y/./x",
		"g?y/../x": "http://a/b/c/g?y/../x", "g#s/./x": "http://a/b/c/g#s/./x", "g#s/../x": "http://a/b/c/g#s/../x",
	} {
		assert.Equal(t, want, resolveIRI(&base, ref), "ref %q", ref)
	}
	noPath := splitIRI("http://a")
	assert.Equal(t, "http://a/g", resolveIRI(&noPath, "g"))
	urn := splitIRI("urn:x:y")
	assert.Equal(t, "urn:z", resolveIRI(&urn, "z"))
}

func TestParserPoolDoesNotLeakState(t *testing.T) {
	a := []byte("@prefix ex: <http://a/> .\n@base <http://base/> .\nex:s ex:p [], <rel> .")
	first, err := ParseTurtleBytes(a)
	require.NoError(t, err)
	for range 3 {
		// The same document gives the same triples, generated labels included.
		again, err := ParseTurtleBytes(a)
		require.NoError(t, err)
		assert.Equal(t, first, again)

		// Prefixes and base of the previous document are gone.
		_, err = ParseTurtleBytes([]byte("ex:s ex:p ex:o ."))
		assert.ErrorContains(t, err, `undefined prefix "ex:"`)
		_, err = ParseTurtleBytes([]byte("<http://x/s> <http://x/p> <rel> ."))
		assert.ErrorContains(t, err, "no base IRI")
	}
}
