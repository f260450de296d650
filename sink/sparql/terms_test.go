package sparql

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

func TestAppendSPARQLTerm(t *testing.T) {
	cases := []struct {
		term rdfdiff.Term
		want string
	}{
		{rdfdiff.NewIRI("http://www.wikidata.org/entity/Q42"), "<http://www.wikidata.org/entity/Q42>"},
		{rdfdiff.NewIRI("http://ex/é😀?a=b&c#f"), "<http://ex/é😀?a=b&c#f>"},
		{rdfdiff.NewLiteral("plain"), `"plain"`},
		{rdfdiff.NewLiteral("q\"b\\n\nr\rt\tb\bf\f"), `"q\"b\\n\nr\rt\tb\bf\f"`},
		{rdfdiff.NewLiteral("soh\x01del\x7fesc\x1b"), `"soh\u0001del\u007Fesc\u001B"`},
		{rdfdiff.NewLiteral(`\u0041`), `"\\u0041"`},
		{rdfdiff.NewLiteral("astral 😀"), `"astral 😀"`},
		{rdfdiff.NewLangLiteral("hej", "SV-se"), `"hej"@sv-se`},
		{rdfdiff.NewTypedLiteral("x", rdfdiff.XSDString), `"x"`},
		{rdfdiff.NewTypedLiteral("01", rdfdiff.XSDInteger), `"01"^^<http://www.w3.org/2001/XMLSchema#integer>`},
	}
	for _, c := range cases {
		got, err := SPARQLTerm(c.term)
		require.NoError(t, err, c.term.String())
		assert.Equal(t, c.want, got)
	}
}

func TestAppendSPARQLTermRefusesUnsafe(t *testing.T) {
	cases := []struct {
		term   rdfdiff.Term
		reason string
	}{
		{rdfdiff.Term{}, "zero"},
		{rdfdiff.NewBlankNode("b1"), "blank nodes"},
		{rdfdiff.NewIRI("http://ex/a> <http://evil"), "SPARQL forbids"},
		{rdfdiff.NewIRI("http://ex/a b"), "space"},
		{rdfdiff.NewIRI("http://ex/{x}"), "'{'"},
		{rdfdiff.NewIRI("http://ex/a\\b"), "'\\\\'"},
		{rdfdiff.NewIRI("relative/path"), "not absolute"},
		{rdfdiff.NewIRI("1http://ex"), "not absolute"},
		{rdfdiff.NewIRI(""), "empty"},
		{rdfdiff.NewLiteral("nul\x00"), "U+0000 at byte 3"},
		{rdfdiff.NewLangLiteral("x", "en_GB"), "language tag"},
		{rdfdiff.NewLangLiteral("x", "en-"), "language tag"},
		{rdfdiff.NewTypedLiteral("x", "http://ex/dt>"), "datatype"},
		{rdfdiff.NewTypedLiteral("x", rdfdiff.RDFLangString), "without a language tag"},
	}
	for _, c := range cases {
		got, err := AppendSPARQLTerm([]byte("keep"), c.term)
		require.ErrorIs(t, err, ErrUnsafeTerm, c.term.String())
		var te *TermError
		require.ErrorAs(t, err, &te)
		assert.Contains(t, te.Error(), c.reason)
		assert.True(t, strings.HasPrefix(te.Error(), "sparql: "))
		assert.Equal(t, "keep", string(got), "dst unchanged on error")
	}
}

func TestAppendSPARQLTriple(t *testing.T) {
	s, p := rdfdiff.NewIRI("http://ex/s"), rdfdiff.NewIRI("http://ex/p")
	got, err := AppendSPARQLTriple(nil, rdfdiff.Triple{S: s, P: p, O: rdfdiff.NewLiteral("o")})
	require.NoError(t, err)
	assert.Equal(t, "<http://ex/s> <http://ex/p> \"o\" .\n", string(got))

	for _, tr := range []rdfdiff.Triple{
		{S: rdfdiff.NewLiteral("s"), P: p, O: s},
		{S: s, P: rdfdiff.NewLiteral("p"), O: s},
		{S: s, P: p, O: rdfdiff.NewBlankNode("x")},
	} {
		got, err := AppendSPARQLTriple([]byte("x"), tr)
		require.ErrorIs(t, err, ErrUnsafeTerm)
		assert.Equal(t, "x", string(got))
	}
}

// ntRoundTrip writes term as the object (or subject, for IRIs) of an
// N-Triples line and parses it back: the SPARQL term syntax used by
// AppendSPARQLTerm is a subset of N-Triples' term syntax.
func ntRoundTrip(t testing.TB, term rdfdiff.Term, sparql string) {
	doc := "<http://ex/s> <http://ex/p> " + sparql + " .\n"
	if term.IsIRI() {
		doc += sparql + " <http://ex/p> <http://ex/o> .\n"
	}
	ts, err := rdfdiff.ParseNTriplesBytes([]byte(doc))
	if err != nil {
		t.Fatalf("serialized %s as %q, which does not parse: %v", term, sparql, err)
	}
	if ts[0].O != term {
		t.Fatalf("serialized %s as %q, which parses back as %s", term, sparql, ts[0].O)
	}
	if term.IsIRI() && ts[1].S != term {
		t.Fatalf("IRI %s as subject parses back as %s", term, ts[1].S)
	}
}

func FuzzSPARQLTerm(f *testing.F) {
	f.Add(uint8(0), "plain", "")
	f.Add(uint8(1), "q\"\\\n\r\t\x00\x7f😀", "en-GB")
	f.Add(uint8(2), "01", rdfdiff.XSDInteger)
	f.Add(uint8(3), "http://ex/é?a#b", "")
	f.Add(uint8(3), "http://ex/a>b", "")
	f.Add(uint8(2), `\u0041`, "http://ex/dt")
	f.Fuzz(func(t *testing.T, kind uint8, s, extra string) {
		var term rdfdiff.Term
		switch kind % 4 {
		case 0:
			term = rdfdiff.NewLiteral(s)
		case 1:
			term = rdfdiff.NewLangLiteral(s, extra)
		case 2:
			term = rdfdiff.NewTypedLiteral(s, extra)
		case 3:
			term = rdfdiff.NewIRI(s)
		}
		out, err := SPARQLTerm(term)
		if err != nil {
			var te *TermError
			if !assert.ErrorAs(t, err, &te) {
				return
			}
			return
		}
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 output %q", out)
		}
		// Nothing can end the term early: no raw newline, and in an IRI no
		// '>' before the last byte.
		if strings.ContainsAny(out, "\n\r") {
			t.Fatalf("raw line break in %q", out)
		}
		ntRoundTrip(t, term, out)
	})
}

// storeClient returns a client for the store named by env, or skips. On
// Blazegraph it is a client of a fresh namespace (blazegraphNamespace).
func storeClient(t testing.TB, env string) *Client {
	t.Helper()
	if isBlazegraph(env) {
		return blazegraphClient(t)
	}
	endpoint := os.Getenv(env)
	if endpoint == "" {
		t.Skipf("%s not set (see scripts/oxigraph/run.sh, scripts/virtuoso.sh)", env)
	}
	return newStoreClient(t, endpoint)
}

// newStoreClient returns the store tests' client of endpoint.
func newStoreClient(t testing.TB, endpoint string) *Client {
	t.Helper()
	c, err := NewClient(endpoint, WithRequestTimeout(30*time.Second),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 3, BaseDelay: 50 * time.Millisecond, MaxDelay: time.Second}))
	require.NoError(t, err)
	return c
}

// testGraph returns a fresh named graph IRI so store tests never see each
// other's data.
func testGraph(t testing.TB) string {
	return fmt.Sprintf("http://streamkit.test/graph/%s/%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
}

// randomTerm generates terms that exercise every escape: quotes,
// backslashes (also before "u"), line breaks, every C0 control and DEL,
// BMP and astral characters, long literals, odd but valid IRIs, language tags
// and datatypes.
func randomTerm(r *rand.Rand, virtuoso bool) rdfdiff.Term {
	pieces := []string{"\"", "\\", "\\u0041", "\\U0001F600", "\n", "\r", "\t", "\b", "\f", "\x01", "\x1f", "\x7f",
		"é", "ß", "中文", "😀", "𝄞", "\u2028", "\ufeff", "\uffff", "'", "''", "\"\"\"", "}", "{", ">", "<", " . ", ";", "#", "@en", "^^"}
	var sb strings.Builder
	n := r.IntN(12)
	if r.IntN(20) == 0 {
		n = 2000 + r.IntN(3000) // long literal
	}
	for i := 0; i < n; i++ {
		if r.IntN(3) == 0 {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		} else {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
	}
	s := sb.String()
	switch r.IntN(5) {
	case 0:
		// Valid RFC 3987 IRIs only: Oxigraph refuses the others (400), it
		// does not alter them.
		iriPieces := []string{"é", "😀", "%20", "~", "!$&'()*+,;=", ":", "@", "-._", "/", "中文"}
		var ib strings.Builder
		ib.WriteString("http://ex.test/")
		for i := 0; i < 1+r.IntN(6); i++ {
			ib.WriteString(iriPieces[r.IntN(len(iriPieces))])
		}
		if r.IntN(2) == 0 {
			ib.WriteString("?q=1&r=é")
		}
		if r.IntN(2) == 0 {
			ib.WriteString("#frag😀")
		}
		return rdfdiff.NewIRI(ib.String())
	case 1:
		return rdfdiff.NewLangLiteral(s, []string{"en", "en-GB", "sr-Latn-RS", "de-CH-1996", "x-private"}[r.IntN(5)])
	case 2:
		return rdfdiff.NewTypedLiteral(s, "http://ex.test/datatype/"+[]string{"a", "é", "😀"}[r.IntN(3)])
	case 3:
		if virtuoso {
			// Virtuoso stores typed numeric and date literals in a native
			// form and returns the canonical lexical form ("01"^^xsd:integer
			// comes back as "1"): only canonical forms round-trip.
			return rdfdiff.NewTypedLiteral(fmt.Sprint(r.IntN(100000)), rdfdiff.XSDInteger)
		}
		return rdfdiff.NewTypedLiteral(s, rdfdiff.XSDInteger)
	}
	return rdfdiff.NewLiteral(s)
}

// termRoundTrip inserts random terms as objects (IRIs also as subjects),
// reads them back by SELECT and checks that the store holds exactly them.
func termRoundTrip(t *testing.T, env string, virtuoso bool, n, batch int) {
	c := storeClient(t, env)
	ctx := context.Background()
	graph := storeGraph(t, env)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	seed := r.Uint64()
	r = rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)
	want := make(map[rdfdiff.Term]rdfdiff.Term, n)
	p := rdfdiff.NewIRI("http://ex.test/p")
	for start := 0; start < n; start += batch {
		var ts []rdfdiff.Triple
		for i := start; i < min(start+batch, n); i++ {
			s := rdfdiff.NewIRI(fmt.Sprintf("http://ex.test/s/%d", i))
			o := randomTerm(r, virtuoso)
			want[s] = o
			ts = append(ts, rdfdiff.Triple{S: s, P: p, O: o})
			if o.IsIRI() {
				ts = append(ts, rdfdiff.Triple{S: o, P: rdfdiff.NewIRI("http://ex.test/back"), O: s})
			}
		}
		w := &updateWriter{}
		require.NoError(t, w.data("INSERT DATA", graph, ts))
		require.NoError(t, c.Update(ctx, string(w.buf)))
	}
	res, err := c.Query(ctx, "SELECT ?s ?o WHERE { "+inGraph(graph, "?s <http://ex.test/p> ?o")+" }")
	require.NoError(t, err)
	require.Len(t, res.Bindings, n)
	for _, row := range res.Bindings {
		w, ok := want[row["s"]]
		require.True(t, ok, "unexpected subject %s", row["s"])
		if isBlazegraph(env) {
			lex := newBlazegraphLexicon()
			require.Equal(t, lex.term(w), lex.term(row["o"]), "term changed by the store beyond its lexicon's identity (seed %d): %q", seed, row["o"].String())
			continue
		}
		require.Equal(t, w.String(), row["o"].String(), "term changed by the store (seed %d)", seed)
	}
	res, err = c.Query(ctx, "SELECT ?s ?o WHERE { "+inGraph(graph, "?o <http://ex.test/back> ?s")+" }")
	require.NoError(t, err)
	for _, row := range res.Bindings {
		require.Equal(t, want[row["s"]], row["o"], "IRI changed as a subject")
	}
	if graph != "" {
		require.NoError(t, c.Update(ctx, dropGraphs(graph)))
	}
}

func TestSPARQLTermRoundTripOxigraph(t *testing.T) {
	termRoundTrip(t, "STREAMKIT_OXIGRAPH_URL", false, 3000, 500)
}

func TestSPARQLTermRoundTripVirtuoso(t *testing.T) {
	// Virtuoso: 100-triple requests are its fastest.
	termRoundTrip(t, "STREAMKIT_VIRTUOSO_URL", true, 1500, 100)
}

func BenchmarkAppendSPARQLTriple(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	ts := make([]rdfdiff.Triple, 1000)
	size := 0
	for i := range ts {
		ts[i] = rdfdiff.Triple{S: rdfdiff.NewIRI(fmt.Sprintf("http://www.wikidata.org/entity/statement/Q%d-abc", i)),
			P: rdfdiff.NewIRI("http://www.wikidata.org/prop/statement/P31"), O: randomTerm(r, false)}
		size += len(ts[i].S.String()) + len(ts[i].P.String()) + len(ts[i].O.String()) + 4
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = buf[:0]
		for _, tr := range ts {
			var err error
			if buf, err = AppendSPARQLTriple(buf, tr); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(ts))*float64(b.N)/b.Elapsed().Seconds(), "triples/s")
}
