package rdfdiff

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadTurtle parses a Turtle fixture from testdata.
func loadTurtle(t testing.TB, path string) []Triple {
	t.Helper()
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	ts, err := ParseTurtleBytes(doc, WithBaseIRI("http://example.org/"))
	require.NoError(t, err)
	require.NotEmpty(t, ts)
	return ts
}

func iri(s string) Term { return NewIRI(s) }

func TestAppendNTriplesCanonicalLines(t *testing.T) {
	ts := []Triple{
		{iri("http://ex/s"), iri("http://ex/p"), NewLiteral("a \"b\"\n")},
		{NewBlankNode("b0"), iri("http://ex/p"), NewLangLiteral("x", "EN-gb")},
		{iri("http://ex/s"), iri("http://ex/p"), NewTypedLiteral("1", XSDInteger)},
	}
	got := string(AppendNTriples([]byte("#\n"), ts))
	want := "#\n" +
		`<http://ex/s> <http://ex/p> "a \"b\"\n" .` + "\n" +
		`_:b0 <http://ex/p> "x"@en-gb .` + "\n" +
		`<http://ex/s> <http://ex/p> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .` + "\n"
	assert.Equal(t, want, got)

	var buf bytes.Buffer
	require.NoError(t, WriteNTriples(&buf, ts))
	assert.Equal(t, want[2:], buf.String())

	back, err := ParseNTriples(&buf)
	require.NoError(t, err)
	assert.Equal(t, ts, back)
}

func TestWriteNTriplesRejectsInvalidTriples(t *testing.T) {
	good := Triple{iri("http://ex/s"), iri("http://ex/p"), iri("http://ex/o")}
	tests := []struct {
		name string
		tr   Triple
		want string
	}{
		{"literal subject", Triple{NewLiteral("s"), good.P, good.O}, "triple 1: subject \"s\" is a literal"},
		{"zero subject", Triple{Term{}, good.P, good.O}, "triple 1: subject is not a valid term"},
		{"blank predicate", Triple{good.S, NewBlankNode("p"), good.O}, "triple 1: predicate _:p is not an IRI"},
		{"zero predicate", Triple{good.S, Term{}, good.O}, "predicate is the zero term"},
		{"zero object", Triple{good.S, good.P, Term{}}, "object is not a valid term"},
		{"IRI with a brace", Triple{good.S, good.P, iri("http://ex/{x}")}, "holds a character not allowed in an IRI"},
		{"relative IRI", Triple{iri("Q42"), good.P, good.O}, "IRI <Q42> is not absolute"},
		{"quote in language tag", Triple{good.S, good.P, NewLangLiteral("0", `"`)}, `language tag "\"" is malformed`},
		{"quote and space in language tag", Triple{good.S, good.P, NewLangLiteral("a", `x" <http://ex/o> .`)}, `is malformed`},
		{"empty IRI", Triple{good.S, good.P, iri("")}, "IRI <> is not absolute"},
		{"scheme-less datatype IRI", Triple{good.S, good.P, NewTypedLiteral("1", "1dt")}, "IRI <1dt> is not absolute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteNTriples(&buf, []Triple{good, tc.tr})
			require.ErrorIs(t, err, ErrInvalidTriple)
			assert.Contains(t, err.Error(), tc.want)
			assert.Zero(t, buf.Len(), "nothing is written before the check")
		})
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWritersReportWriteErrors(t *testing.T) {
	boom := errors.New("disk full")
	ts := []Triple{{iri("http://ex/s"), iri("http://ex/p"), iri("http://ex/o")}}
	require.ErrorIs(t, WriteNTriples(failWriter{boom}, ts), boom)
	require.ErrorIs(t, WriteTurtle(failWriter{boom}, ts), boom)

	tw := NewTurtleWriter(failWriter{boom})
	require.NoError(t, tw.WriteTriple(ts[0]), "buffered, not yet written")
	require.ErrorIs(t, tw.Close(), boom)
	require.ErrorIs(t, tw.WriteTriple(ts[0]), boom, "the error is sticky")
}

func TestSortTriples(t *testing.T) {
	a := Triple{iri("http://ex/a"), iri("http://ex/p"), NewLiteral("2")}
	b := Triple{iri("http://ex/a"), iri("http://ex/p"), NewLiteral("10")}
	c := Triple{iri("http://ex/a"), iri("http://ex/q"), NewLiteral("1")}
	d := Triple{NewBlankNode("z"), iri("http://ex/p"), NewLiteral("1")}
	ts := []Triple{c, a, d, b}
	SortTriples(ts)
	assert.Equal(t, []Triple{b, a, c, d}, ts, "byte order of the N-Triples line: < before _:, \"10\" before \"2\"")
}

// TestTurtleWriterRDF4JForm pins the exact text: RDF4J's TurtleWriter form as
// seen in the WDQS mutation fixtures ("\n<s> <p> <o> .\n") and in the munged
// Turtle fixtures (" ;\n\t", " , ", "a", bare canonical integers).
func TestTurtleWriterRDF4JForm(t *testing.T) {
	s, s2 := iri("http://www.wikidata.org/entity/Q42"), iri("https://en.wikipedia.org/wiki/Douglas_Adams")
	label, version := iri("http://www.w3.org/2000/01/rdf-schema#label"), iri("http://schema.org/version")
	ts := []Triple{
		{s, label, NewLangLiteral("Douglas Adams", "en")},
		{s, label, NewLangLiteral("Дуглас Адамс", "ru")},
		{s, version, NewTypedLiteral("1276705620", XSDInteger)},
		{s2, iri(RDFType), iri("http://schema.org/Article")},
		{s2, iri("http://schema.org/name"), NewLiteral("Douglas Adams")},
	}
	got, err := AppendTurtle(nil, ts)
	require.NoError(t, err)
	want := "\n" +
		`<http://www.wikidata.org/entity/Q42> <http://www.w3.org/2000/01/rdf-schema#label> "Douglas Adams"@en , "Дуглас Адамс"@ru ;` + "\n" +
		"\t" + `<http://schema.org/version> 1276705620 .` + "\n" +
		"\n" +
		`<https://en.wikipedia.org/wiki/Douglas_Adams> a <http://schema.org/Article> ;` + "\n" +
		"\t" + `<http://schema.org/name> "Douglas Adams" .` + "\n"
	assert.Equal(t, want, string(got))

	var buf bytes.Buffer
	require.NoError(t, WriteTurtle(&buf, ts))
	assert.Equal(t, want, buf.String(), "WriteTurtle and AppendTurtle agree")

	empty, err := AppendTurtle(nil, nil)
	require.NoError(t, err)
	assert.Empty(t, empty, "an empty document is empty, as RDF4J writes it without prefixes")
}

// The mutation fixtures' data fields are exactly what the writer produces.
func TestTurtleWriterMatchesMutationFixture(t *testing.T) {
	ev := loadEventFixture(t, "Reconcile-v2.json")
	ts := []Triple{
		{iri("uri:a"), iri("uri:b"), iri("uri:c")},
		{iri("uri:x"), iri("uri:y"), iri("uri:z")},
	}
	got, err := AppendTurtle(nil, ts)
	require.NoError(t, err)
	assert.Equal(t, ev.Added.Data, string(got))
}

func TestTurtleWriterNumbersAndBooleans(t *testing.T) {
	tests := []struct {
		lex, dt, want string
	}{
		{"2", XSDInteger, "2"},
		{"-17", XSDInteger, "-17"},
		{"0", XSDInteger, "0"},
		{"+2", XSDInteger, `"+2"^^<` + XSDInteger + `>`},
		{"02", XSDInteger, `"02"^^<` + XSDInteger + `>`},
		{"-0", XSDInteger, `"-0"^^<` + XSDInteger + `>`},
		{"1.5", XSDDecimal, "1.5"},
		{"-0.25", XSDDecimal, "-0.25"},
		{"0.0", XSDDecimal, "0.0"},
		{"+1.96", XSDDecimal, `"+1.96"^^<` + XSDDecimal + `>`},
		{"1.50", XSDDecimal, `"1.50"^^<` + XSDDecimal + `>`},
		{"8848", XSDDecimal, `"8848"^^<` + XSDDecimal + `>`},
		{"1.0E3", XSDDouble, "1.0E3"},
		{"2.7777777777778E-6", XSDDouble, "2.7777777777778E-6"},
		{"0.0E0", XSDDouble, "0.0E0"},
		{"27.988055555556", XSDDouble, `"27.988055555556"^^<` + XSDDouble + `>`},
		{"1.0e3", XSDDouble, `"1.0e3"^^<` + XSDDouble + `>`},
		{"INF", XSDDouble, `"INF"^^<` + XSDDouble + `>`},
		{"1.0E+3", XSDDouble, `"1.0E+3"^^<` + XSDDouble + `>`},
		{"true", XSDBoolean, "true"},
		{"false", XSDBoolean, "false"},
		{"1", XSDBoolean, `"1"^^<` + XSDBoolean + `>`},
		{"2", XSDDateTime, `"2"^^<` + XSDDateTime + `>`},
	}
	s, p := iri("http://ex/s"), iri("http://ex/p")
	for _, tc := range tests {
		t.Run(tc.lex+"^^"+tc.dt[strings.IndexByte(tc.dt, '#')+1:], func(t *testing.T) {
			tr := Triple{s, p, NewTypedLiteral(tc.lex, tc.dt)}
			got, err := AppendTurtle(nil, []Triple{tr})
			require.NoError(t, err)
			assert.Equal(t, "\n<http://ex/s> <http://ex/p> "+tc.want+" .\n", string(got))
			back, err := ParseTurtleBytes(got)
			require.NoError(t, err)
			assert.Equal(t, []Triple{tr}, back, "re-parses to the same literal")
		})
	}
}

func TestTurtleWriterRoundTripsHardLiterals(t *testing.T) {
	s, p := iri("http://ex/s"), iri("http://ex/p")
	lits := []Term{
		NewLiteral(""),
		NewLiteral(`quote " and backslash \ and \" together`),
		NewLiteral("line\nbreak\r\nand\ttab"),
		NewLiteral(`ends with backslash \`),
		NewLiteral(`"""`),
		NewLiteral("unicode: é 中文 𝄞 🙂 \u200b"),
		NewLiteral("control \x01\x1f\x7f chars"),
		NewLangLiteral("ünïcödé", "de-CH"),
		NewTypedLiteral("Point(1 2)", "http://www.opengis.net/ont/geosparql#wktLiteral"),
		NewTypedLiteral(`odd "datatype" value`, "http://ex/dt#x"),
		NewLiteral(strings.Repeat("long literal, ", 20000)),
		iri("http://ex/with%20escape?q=1&r=%3C%3E#frag"),
		iri("http://ex/ünïcode"),
		NewBlankNode("b1"),
		NewBlankNode("_x.y-z"),
	}
	var ts []Triple
	for _, o := range lits {
		ts = append(ts, Triple{s, p, o})
	}
	ts = append(ts, Triple{NewBlankNode("a.b"), p, lits[0]})
	doc, err := AppendTurtle(nil, ts)
	require.NoError(t, err)
	back, err := ParseTurtleBytes(doc)
	require.NoError(t, err)
	assert.Equal(t, ts, back)
}

func TestTurtleWriterRejectsWhatTurtleCannotSpell(t *testing.T) {
	s, p := iri("http://ex/s"), iri("http://ex/p")
	tests := []struct {
		name string
		tr   Triple
		want string
	}{
		{"literal subject", Triple{NewLiteral("x"), p, s}, "is a literal"},
		{"blank predicate", Triple{s, NewBlankNode("b"), s}, "is not an IRI"},
		{"zero object", Triple{s, p, Term{}}, "object is not a valid term"},
		{"blank label with space", Triple{NewBlankNode("a b"), p, s}, `blank node label "a b"`},
		{"blank label ending with dot", Triple{s, p, NewBlankNode("a.")}, `blank node label "a."`},
		{"blank label starting with dash", Triple{s, p, NewBlankNode("-a")}, `blank node label "-a"`},
		{"empty blank label", Triple{s, p, NewBlankNode("")}, `blank node label ""`},
		{"bad language tag", Triple{s, p, NewLangLiteral("x", "en_GB")}, `language tag "en_gb"`},
		{"language tag with digit first", Triple{s, p, NewLangLiteral("x", "1en")}, `language tag "1en"`},
		{"IRI with a space", Triple{s, p, iri("http://ex/a b")}, `IRI <http://ex/a\u0020b> holds a character not allowed`},
		{"IRI with angle brackets", Triple{iri("http://ex/<x>"), p, s}, `holds a character not allowed in an IRI`},
		{"datatype IRI with a quote", Triple{s, p, NewTypedLiteral("x", `http://ex/"dt"`)}, `IRI <http://ex/\u0022dt\u0022> holds`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := NewTurtleWriter(&buf)
			require.NoError(t, tw.WriteTriple(Triple{s, p, NewLiteral("ok")}))
			err := tw.WriteTriple(tc.tr)
			require.ErrorIs(t, err, ErrInvalidTriple)
			assert.Contains(t, err.Error(), tc.want)
			require.NoError(t, tw.Close(), "a rejected triple leaves the document usable")
			back, err := ParseTurtleBytes(buf.Bytes())
			require.NoError(t, err)
			assert.Len(t, back, 1)

			_, err = AppendTurtle(nil, []Triple{tc.tr})
			require.ErrorIs(t, err, ErrInvalidTriple)
			assert.Contains(t, err.Error(), "rdfdiff: Turtle: triple 0: ")

			buf.Reset()
			err = WriteTurtle(&buf, []Triple{{s, p, NewLiteral("ok")}, tc.tr})
			require.ErrorIs(t, err, ErrInvalidTriple)
			assert.True(t, strings.HasPrefix(err.Error(), "rdfdiff: Turtle: triple 1: "), err.Error())
			assert.Zero(t, buf.Len(), "nothing is written before the check")
		})
	}
}

// Len counts Java characters: UTF-16 code units.
func TestTurtleWriterLenCountsJavaChars(t *testing.T) {
	s, p := iri("http://ex/s"), iri("http://ex/p")
	var buf bytes.Buffer
	tw := NewTurtleWriter(&buf)
	require.NoError(t, tw.WriteTriple(Triple{s, p, NewLiteral("é𝄞")}))
	// "\n<http://ex/s> <http://ex/p> " is 29, the literal "é𝄞" with quotes 1+1+2+1.
	assert.Equal(t, 29+5, tw.Len())
	require.NoError(t, tw.WriteTriple(Triple{s, p, NewLiteral("x")}))
	assert.Equal(t, 29+5+3+3, tw.Len(), `" , " and "x"`)
	require.NoError(t, tw.Close())
	assert.Equal(t, 29+5+3+3+3, tw.Len(), `" .\n" counted on Close`)
	assert.Equal(t, len([]rune(buf.String()))+1, tw.Len(), "one more than the runes: 𝄞 is a surrogate pair")
}

func TestTurtleWriterFlushesLargeDocuments(t *testing.T) {
	ts := loadTurtle(t, "testdata/rdf-entities/munged/Q42-munged.ttl")
	var buf bytes.Buffer
	tw := NewTurtleWriter(&buf)
	for _, tr := range ts {
		require.NoError(t, tw.WriteTriple(tr))
	}
	assert.Positive(t, buf.Len(), "written incrementally, not only on Close")
	require.NoError(t, tw.Close())
	assert.Equal(t, utf16Len(buf.Bytes()), tw.Len())
	back, err := ParseTurtleBytes(buf.Bytes())
	require.NoError(t, err)
	assert.Equal(t, ts, back, "same triples in the same order")
}

// Real entities, sorted or not, survive Turtle and N-Triples round trips.
func TestWritersRoundTripRealEntities(t *testing.T) {
	for _, path := range []string{
		"testdata/rdf-entities/munged/Q42-munged.ttl",
		"testdata/rdf-entities/raw/Q42.ttl",
		"testdata/rdf-entities/raw/L691820.ttl",
	} {
		t.Run(path, func(t *testing.T) {
			ts := loadTurtle(t, path)
			sorted := append([]Triple(nil), ts...)
			SortTriples(sorted)
			for _, in := range [][]Triple{ts, sorted} {
				doc, err := AppendTurtle(nil, in)
				require.NoError(t, err)
				back, err := ParseTurtleBytes(doc)
				require.NoError(t, err)
				assert.Equal(t, in, back)

				var nt bytes.Buffer
				require.NoError(t, WriteNTriples(&nt, in))
				back, err = ParseNTriples(&nt)
				require.NoError(t, err)
				assert.Equal(t, in, back)
			}
			doc, err := AppendTurtle(nil, sorted)
			require.NoError(t, err)
			unsorted, err := AppendTurtle(nil, ts)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(doc), len(unsorted), "sorting groups more")
		})
	}
}

func BenchmarkAppendTurtleQ42(b *testing.B) {
	ts := loadTurtle(b, "testdata/rdf-entities/munged/Q42-munged.ttl")
	SortTriples(ts)
	doc, err := AppendTurtle(nil, ts)
	require.NoError(b, err)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	buf := make([]byte, 0, len(doc))
	for b.Loop() {
		buf, _ = AppendTurtle(buf[:0], ts)
	}
	b.ReportMetric(float64(len(ts))*float64(b.N)/b.Elapsed().Seconds(), "triples/s")
}

func BenchmarkAppendNTriplesQ42(b *testing.B) {
	ts := loadTurtle(b, "testdata/rdf-entities/munged/Q42-munged.ttl")
	doc := AppendNTriples(nil, ts)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		doc = AppendNTriples(doc[:0], ts)
	}
}
