package sparql

// Store round trip of random terms: a term goes through AppendSPARQLTerm and
// UpdateBuilder into Oxigraph or Virtuoso (INSERT DATA), is read back with
// SELECT through Client, must come back as exactly the same term, and must
// then be removed by DELETE DATA written from the same term (so what the
// builder writes matches what the store holds, not merely something that
// reads back the same). IRIs go in as subject, predicate and object.
//
// What a store may do differently, and nothing else (each is checked, not
// just tolerated):
//
//   - Oxigraph 0.5 refuses (400, the whole request) an IRI that is not a valid
//     RFC 3987 IRI, although SPARQL's IRIREF admits it (e.g. "http://ex/%zz"
//     or a space-free string with a bad authority), and a language tag with a
//     subtag longer than eight characters. Refused is acceptable — the sink
//     dead-letters the patch — stored differently is not.
//   - Virtuoso returns numeric, boolean and date typed literals in their
//     canonical form ("01"^^xsd:integer comes back as "1", storeNormalize),
//     keeps xsd:dateTime to microseconds, and cannot hold ill-typed numeric
//     literals ("abc"^^xsd:integer is refused or altered): the generator
//     gives Virtuoso only well-formed numbers.
//   - Both stores return xsd:integer, xsd:decimal and xsd:double canonically
//     ("01"^^xsd:integer comes back as "1" from Oxigraph too).
//   - Oxigraph 0.5 refuses language tags that are not well-formed BCP 47
//     ("a-b", a subtag longer than eight characters such as Wikidata's
//     "zh-classical"), although SPARQL's LANGTAG admits them.
//   - Virtuoso 7.2 silently REWRITES IRIs longer than about 1 880 bytes: it
//     keeps the first ~1 850 bytes and replaces the rest with 32 hex digits
//     of a hash, so the store holds (and returns, and matches) another IRI.
//     That is a wrong value, not a refusal: TestVirtuosoRewritesLongIRIs pins
//     it, the round trips keep Virtuoso's IRIs under virtuosoMaxIRI bytes, and
//     a sink writing to Virtuoso must refuse longer IRIs (dead-letter the
//     patch) rather than send them.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// virtuosoMaxIRI is the longest IRI, in bytes, that the tests trust
// Virtuoso 7.2 to store unchanged (it truncates from about 1 880 bytes on).
const virtuosoMaxIRI = 1800

// longestIRI returns the length of the longest IRI in term: the term itself
// or its datatype.
func longestIRI(term rdfdiff.Term) int {
	switch {
	case term.IsIRI():
		return len(term.Value())
	case term.IsLiteral() && term.Lang() == "":
		return len(term.Datatype())
	}
	return 0
}

// sfPieces are the pieces literals are made of: every escape class, C0
// controls and DEL, backslash sequences that must stay text, line and
// paragraph separators, BOM and noncharacters, combining marks (also at the
// start of a literal), right-to-left and CJK text, astral characters up to
// U+10FFFF, and SPARQL punctuation.
var sfPieces = func() []string {
	p := []string{`"`, `\`, `\\`, `\u0041`, `\U0001F600`, `\n`, `\"`, "\n", "\r", "\t", "\b", "\f", "\x7f",
		"\u0085", "\u00a0", "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff", "\ufffd",
		"\u0301", "e\u0301", "a\u0308\u0323", "\u200d", "👩\u200d💻", "🇧🇪",
		"\u05e9\u05dc\u05d5\u05dd", "\u202e", "中文", "ß", "ǅ", "😀", "𝄞", "\U0010ffff", "\U000e0001", "\U000f0000",
		"'", "''", `"""`, "'''", "}", "{", ">", "<", " . ", ";", "#", "@en", "^^", "?x", "$y", "_:b", "<http://x>"}
	for c := byte(1); c < 0x20; c++ {
		p = append(p, string([]byte{c}))
	}
	return p
}()

// sfText returns text of about n pieces.
func sfText(r *rand.Rand, n int) string {
	var sb strings.Builder
	for range n {
		if r.IntN(3) == 0 {
			sb.WriteString(sfPieces[r.IntN(len(sfPieces))])
		} else {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
	}
	return sb.String()
}

// sfLong returns a literal of about 100 kB with escapes spread through it.
func sfLong(r *rand.Rand) string {
	var sb strings.Builder
	for sb.Len() < 100_000 {
		sb.WriteString(strings.Repeat("x", r.IntN(2000)))
		sb.WriteString(sfPieces[r.IntN(len(sfPieces))])
	}
	return sb.String()
}

// sfIRI returns an odd but valid (RFC 3987) absolute IRI.
func sfIRI(r *rand.Rand) string {
	schemes := []string{"http://ex.test/", "https://ex.test:8443/", "http://[::1]:7/", "http://127.0.0.1/",
		"urn:isbn:", "tag:ex.test,2026:", "mailto:a.b+c@ex.test?subject=", "http://ex.test/a%20b/", "ftp://u:p@ex.test/",
		"http://xn--bcher-kva.example/", "http://bücher.example/", "file:///tmp/", "x-custom+scheme.v1:"}
	pieces := []string{"é", "😀", "%20", "%C3%A9", "%25", "~", "!$&'()*+,;=", ":", "@", "-._", "/", "中文",
		"\u0301", "ǅ", "..", ".", "//", "%7B"}
	var sb strings.Builder
	sb.WriteString(schemes[r.IntN(len(schemes))])
	for range 1 + r.IntN(8) {
		sb.WriteString(pieces[r.IntN(len(pieces))])
	}
	if r.IntN(3) == 0 {
		sb.WriteString("?q=1&r=é%26")
	}
	if r.IntN(3) == 0 {
		sb.WriteString("#frag😀/?")
	}
	if r.IntN(50) == 0 {
		sb.WriteString(strings.Repeat("long/", 300))
	}
	return sb.String()
}

var sfLangs = []string{"en", "EN", "en-GB", "en-gb", "sr-Latn-RS", "de-CH-1996", "x-private", "zh-Hant-TW",
	"en-a-bbb-x-ccc", "i-klingon", "es-419", "sgn-BE-FR", "qaa-Qaaa-QM-x-southern", "a-b", "abcdefgh-12345678"}

// sfTerm returns the i-th term of a deterministic sequence that visits every
// class: simple, language-tagged and typed literals (custom datatypes, and
// the XSD types, well-formed only for Virtuoso), IRIs, and a 100 kB literal
// every 250 terms.
func sfTerm(r *rand.Rand, i int, virtuoso bool) rdfdiff.Term {
	text := sfText(r, r.IntN(16))
	if i%250 == 249 {
		text = sfLong(r)
	}
	switch i % 7 {
	case 0, 1:
		return rdfdiff.NewLiteral(text)
	case 2:
		lang := sfLangs[r.IntN(len(sfLangs))]
		for !virtuoso && !sfBCP47(lang) {
			// Oxigraph refuses it (TestOxigraphRefusesMalformedLanguageTags).
			lang = sfLangs[r.IntN(len(sfLangs))]
		}
		return rdfdiff.NewLangLiteral(text, lang)
	case 3:
		return rdfdiff.NewTypedLiteral(text, sfIRI(r))
	case 4:
		return rdfdiff.NewIRI(sfIRI(r))
	case 5:
		vals := []struct{ lex, dt string }{
			{fmt.Sprint(r.Int64N(1 << 62)), rdfdiff.XSDInteger},
			{fmt.Sprint(-r.Int64N(1 << 40)), rdfdiff.XSDInteger},
			{"1.5", rdfdiff.XSDDecimal},
			{"-0.25", rdfdiff.XSDDecimal},
			{"true", rdfdiff.XSDBoolean},
			{"false", rdfdiff.XSDBoolean},
			{"2001-02-03T04:05:06Z", rdfdiff.XSDDateTime},
			{"+1952-03-11T00:00:00Z", rdfdiff.XSDDateTime},
			{"1.25E2", rdfdiff.XSDDouble},
			{text, rdfdiff.XSDString},
		}
		v := vals[r.IntN(len(vals))]
		return rdfdiff.NewTypedLiteral(v.lex, v.dt)
	}
	if virtuoso {
		return rdfdiff.NewLiteral(text)
	}
	// Ill-typed literals are RDF terms too (RDF 1.1 Concepts §3.3); Oxigraph keeps
	// them as they are.
	return rdfdiff.NewTypedLiteral(text, []string{rdfdiff.XSDInteger, rdfdiff.XSDDateTime, rdfdiff.XSDBoolean}[r.IntN(3)])
}

// sfCanonical maps a term to the form a store returns: numbers without a
// sign or leading zeros (both stores), then storeNormalize and the dateTime
// fraction of diffNormalize, and dateTime years without a '+'.
func sfCanonical(t rdfdiff.Term) rdfdiff.Term {
	if t.IsLiteral() {
		switch lex, dt := t.Value(), t.Datatype(); dt {
		case rdfdiff.XSDInteger, rdfdiff.XSDDecimal:
			t = rdfdiff.NewTypedLiteral(sfStripZeros(lex), dt)
		case rdfdiff.XSDDateTime:
			t = rdfdiff.NewTypedLiteral(strings.TrimPrefix(lex, "+"), dt)
		}
	}
	s := rdfdiff.NewIRI("http://ex.test/s")
	return diffNormalize(rdfdiff.Triple{S: s, P: s, O: t}).O
}

// sfStripZeros removes a '+' and leading zeros from a well-formed
// xsd:integer or xsd:decimal lexical form; others are returned unchanged.
func sfStripZeros(lex string) string {
	sign, digits := "", lex
	if digits != "" && (digits[0] == '+' || digits[0] == '-') {
		sign, digits = digits[:1], digits[1:]
	}
	if sign == "+" {
		sign = ""
	}
	dots := 0
	for _, c := range digits {
		switch {
		case c == '.':
			dots++
		case c < '0' || c > '9':
			return lex
		}
	}
	if digits == "" || dots > 1 || digits == "." {
		return lex
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" || digits[0] == '.' {
		digits = "0" + digits
	}
	return sign + digits
}

// sfStore is a store under test with its own graph and builder.
type sfStore struct {
	c        *Client
	b        *UpdateBuilder
	graph    string
	virtuoso bool
	// blazegraph: a fresh namespace of its own, written in its default
	// graph (Blazegraph's WDQS-like namespace is in triples mode).
	blazegraph bool
	pred       rdfdiff.Term
}

func newSFStore(t testing.TB, env string) *sfStore {
	t.Helper()
	c := storeClient(t, env)
	s := &sfStore{c: c, virtuoso: env == "STREAMKIT_VIRTUOSO_URL", blazegraph: isBlazegraph(env), pred: rdfdiff.NewIRI("http://ex.test/p")}
	s.use(t, storeGraph(t, env))
	return s
}

// use points the store's builder at graph, which is dropped when t ends.
func (s *sfStore) use(t testing.TB, graph string) {
	t.Helper()
	s.graph = graph
	opts := []Option{WithDataGraph(graph)}
	if s.virtuoso {
		opts = append(opts, WithMaxDataTriples(100))
	}
	var err error
	s.b, err = NewUpdateBuilder(wd, opts...)
	require.NoError(t, err)
	if graph != "" {
		t.Cleanup(func() { _ = s.c.Update(context.Background(), dropGraphs(graph)) })
	}
}

// sfTriples returns the triples that carry term o for subject number i: as
// the object, and an IRI also as subject and predicate.
func (s *sfStore) triples(i int, o rdfdiff.Term) []rdfdiff.Triple {
	subj := rdfdiff.NewIRI(fmt.Sprintf("http://ex.test/s/%d", i))
	ts := []rdfdiff.Triple{{S: subj, P: s.pred, O: o}}
	if o.IsIRI() {
		ts = append(ts, rdfdiff.Triple{S: o, P: rdfdiff.NewIRI("http://ex.test/back"), O: subj},
			rdfdiff.Triple{S: subj, P: o, O: subj})
	}
	return ts
}

func (s *sfStore) update(ctx context.Context, p *rdfdiff.ConsolidatedPatch) error {
	req, err := s.b.Build(p, nil)
	if err != nil {
		return err
	}
	return s.c.Update(ctx, req)
}

// readBack returns every triple of the graph, literals rebuilt from STR,
// DATATYPE and LANG (see dumpGraph).
func (s *sfStore) readBack(t testing.TB) map[rdfdiff.Triple]bool {
	return dumpGraph(t, s.c, s.graph)
}

// refusedByOxigraph reports whether Oxigraph may refuse a request holding
// term: an IRI (or datatype IRI) it does not take as RFC 3987, or a language
// tag that is not well-formed BCP 47.
func refusedByOxigraph(term rdfdiff.Term) bool {
	return term.IsIRI() || term.IsLiteral() && term.Lang() == "" && term.Datatype() != rdfdiff.XSDString ||
		term.Lang() != "" && !sfBCP47(term.Lang())
}

// sfBCP47 approximates BCP 47 well-formedness as Oxigraph checks it: a
// primary subtag of 2–8 letters (or the singletons x and i), further
// subtags of 1–8 letters and digits.
func sfBCP47(tag string) bool {
	subs := strings.Split(tag, "-")
	if p := subs[0]; !(len(p) >= 2 && len(p) <= 8 || p == "x" || p == "i" && len(subs) > 1) {
		return false
	}
	for _, s := range subs {
		if len(s) == 0 || len(s) > 8 {
			return false
		}
	}
	return true
}

// requireSameTerms checks that the store holds exactly want (modulo the
// documented canonical forms).
func requireSameTerms(t testing.TB, want, got map[rdfdiff.Triple]bool, virtuoso bool) {
	t.Helper()
	norm := func(m map[rdfdiff.Triple]bool) map[rdfdiff.Triple]bool {
		out := make(map[rdfdiff.Triple]bool, len(m))
		for tr := range m {
			tr.O = sfCanonical(tr.O)
			out[tr] = true
		}
		return out
	}
	want, got = norm(want), norm(got)
	for tr := range want {
		if !got[tr] {
			var near []string
			for g := range got {
				if g.S == tr.S && g.P == tr.P {
					near = append(near, fmt.Sprintf("%.300q", g.O.String()))
				}
			}
			t.Fatalf("store (virtuoso=%v) does not hold %.300q; it holds for that subject: %v", virtuoso, tr.String(), near)
		}
	}
	for tr := range got {
		if !want[tr] {
			t.Fatalf("store (virtuoso=%v) holds %.300q, never written", virtuoso, tr.String())
		}
	}
}

// TestOxigraphRefusesMalformedLanguageTags pins the Oxigraph quirk
// documented at the top of this file: a request holding a language tag that
// is valid SPARQL but not well-formed BCP 47 is refused whole (400, so
// ErrStoreRejected: the sink bisects and dead-letters the patch), never
// stored altered.
func TestOxigraphRefusesMalformedLanguageTags(t *testing.T) {
	s := newSFStore(t, "STREAMKIT_OXIGRAPH_URL")
	ctx := context.Background()
	for _, tag := range []string{"a-b", "zh-classical", "en-abcdefghi"} {
		require.False(t, sfBCP47(tag), tag)
		p := &rdfdiff.ConsolidatedPatch{}
		p.Added = []rdfdiff.Triple{
			{S: rdfdiff.NewIRI("http://ex.test/s/ok"), P: s.pred, O: rdfdiff.NewLiteral("ok")},
			{S: rdfdiff.NewIRI("http://ex.test/s/tag"), P: s.pred, O: rdfdiff.NewLangLiteral("x", tag)},
		}
		err := s.update(ctx, p)
		require.ErrorIs(t, err, ErrStoreRejected, tag)
		assert.Contains(t, err.Error(), "language tag", tag)
		require.Empty(t, s.readBack(t), "nothing of the refused request is stored")
	}
}

// storeTermProperty writes n deterministic terms in batches, reads the graph
// back, deletes every second term's triples by DELETE DATA, and reads back
// again.
func storeTermProperty(t *testing.T, env string, n, batch int) {
	s := newSFStore(t, env)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 20261125))
	want := map[rdfdiff.Triple]bool{}
	var all [][]rdfdiff.Triple
	for start := 0; start < n; start += batch {
		var ts []rdfdiff.Triple
		var terms []rdfdiff.Term
		for i := start; i < min(start+batch, n); i++ {
			// Blazegraph gets Virtuoso's terms: well-formed XSD literals
			// only (an ill-typed xsd:boolean fails its request with a 500,
			// TestBlazegraphIllTypedBooleanIs500).
			o := sfTerm(r, i, s.virtuoso || s.blazegraph)
			terms = append(terms, o)
			ts = append(ts, s.triples(i, o)...)
		}
		p := &rdfdiff.ConsolidatedPatch{}
		p.Added = ts
		require.NoError(t, s.update(ctx, p), "terms %d to %d", start, start+len(terms)-1)
		for i, o := range terms {
			all = append(all, s.triples(start+i, o))
		}
	}
	var flat []rdfdiff.Triple
	for _, ts := range all {
		flat = append(flat, ts...)
	}
	for _, tr := range flat {
		want[tr] = true
	}
	s.requireHolds(t, want)

	// DELETE DATA from the same terms removes exactly them.
	var gone []rdfdiff.Triple
	for i, ts := range all {
		if i%2 == 0 {
			gone = append(gone, ts...)
			for _, tr := range ts {
				delete(want, tr)
			}
		}
	}
	for start := 0; start < len(gone); start += batch {
		p := &rdfdiff.ConsolidatedPatch{}
		p.Removed = gone[start:min(start+batch, len(gone))]
		require.NoError(t, s.update(ctx, p))
	}
	s.requireHolds(t, want)
	t.Logf("%d terms, %d triples written and read back, %d deleted", n, len(flat), len(gone))
}

func TestStoreTermPropertyOxigraph(t *testing.T) {
	storeTermProperty(t, "STREAMKIT_OXIGRAPH_URL", 3000, 500)
}

func TestStoreTermPropertyVirtuoso(t *testing.T) {
	storeTermProperty(t, "STREAMKIT_VIRTUOSO_URL", 1500, 150)
}

// sfFuzzStores are the stores the fuzz target writes to: those whose
// environment variable is set.
func sfFuzzStores(f *testing.F) []*sfStore {
	var out []*sfStore
	for _, env := range []string{"STREAMKIT_OXIGRAPH_URL", "STREAMKIT_VIRTUOSO_URL", blazegraphEnv} {
		if os.Getenv(env) != "" {
			out = append(out, newSFStore(f, env))
		}
	}
	return out
}

// FuzzSPARQLTermRoundTrip writes a term through UpdateBuilder. Pure part: the
// request's INSERT DATA line parses back, as N-Triples, to the same term.
// With STREAMKIT_OXIGRAPH_URL or STREAMKIT_VIRTUOSO_URL set, the term also
// goes into that store, must read back identical (modulo the documented
// canonical forms) and must be removed by DELETE DATA; a store may refuse a
// term only as documented at the top of this file.
func FuzzSPARQLTermRoundTrip(f *testing.F) {
	seeds := []struct {
		kind        uint8
		text, extra string
	}{
		{0, "plain", ""},
		{0, "", ""},
		{0, "q\"\\\n\r\t\b\f\x01\x1f\x7f", ""},
		{0, `\u0041 \U0001F600 \n \" \\`, ""},
		{0, "e\u0301 \u0301leading a\u0308\u0323 👩\u200d💻 🇧🇪", ""},
		{0, "\u2028\u2029\u0085\ufeff\ufffe\uffff\U0010ffff\U000e0001", ""},
		{0, "שלום \u202e中文 ǅ 𝄞", ""},
		{0, `"""'''}{>< . ;#@en^^?x_:b<http://x>`, ""},
		{0, strings.Repeat("long \"line\"\n", 9000), ""},
		{1, "hej", "sv-SE"},
		{1, "Klingon", "i-klingon"},
		{1, "x", "qaa-Qaaa-QM-x-southern"},
		{1, "古文", "zh-classical"},
		{1, "bad", "en_GB"},
		{1, "bad", "-en"},
		{2, "01", rdfdiff.XSDInteger},
		{2, "+1.960", rdfdiff.XSDDecimal},
		{2, "1.25E2", rdfdiff.XSDDouble},
		{2, "2001-02-03T04:05:06.1234567Z", rdfdiff.XSDDateTime},
		{2, "not a number", rdfdiff.XSDInteger},
		{2, "s", rdfdiff.XSDString},
		{2, "x", "http://ex.test/datatype/é😀"},
		{2, "x", rdfdiff.RDFLangString},
		{2, "x", "http://ex/dt>"},
		{3, "http://ex.test/é😀?a=b&c#f", ""},
		{3, "http://[::1]:7/!$&'()*+,;=~", ""},
		{3, "urn:isbn:0-486-27557-4", ""},
		{3, "tag:ex.test,2026:%C3%A9", ""},
		{3, "http://ex.test/%zz", ""},
		{3, "http://ex.test/a b", ""},
		{3, "http://ex.test/a>b", ""},
		{3, "http://ex.test/{x}|^`\\", ""},
		{3, "relative/iri", ""},
		{3, "http://ex.test/" + strings.Repeat("a/", 3000), ""},
	}
	for _, s := range seeds {
		f.Add(s.kind, s.text, s.extra)
	}
	stores := sfFuzzStores(f)
	b, err := NewUpdateBuilder(wd, WithDataGraph("http://ex.test/fuzz"))
	require.NoError(f, err)
	i := 0
	f.Fuzz(func(t *testing.T, kind uint8, text, extra string) {
		var term rdfdiff.Term
		switch kind % 4 {
		case 0:
			term = rdfdiff.NewLiteral(text)
		case 1:
			term = rdfdiff.NewLangLiteral(text, extra)
		case 2:
			term = rdfdiff.NewTypedLiteral(text, extra)
		case 3:
			term = rdfdiff.NewIRI(text)
		}
		subj := rdfdiff.NewIRI("http://ex.test/s")
		p := &rdfdiff.ConsolidatedPatch{}
		p.Added = []rdfdiff.Triple{{S: subj, P: rdfdiff.NewIRI("http://ex.test/p"), O: term}}
		req, err := b.Build(p, nil)
		if err != nil {
			var te *TermError
			require.ErrorAs(t, err, &te)
			require.ErrorIs(t, err, ErrUnsafeTerm)
			require.Empty(t, req)
			return
		}
		require.True(t, utf8.ValidString(req))
		// INSERT DATA {\nGRAPH <g> {\n<line>}\n}\n: the line is N-Triples.
		lines := strings.Split(req, "\n")
		require.Len(t, lines, 6, "the term added a line break: %q", req)
		ts, err := rdfdiff.ParseNTriplesBytes([]byte(lines[2] + "\n"))
		require.NoError(t, err, "written as %q", lines[2])
		require.Len(t, ts, 1)
		require.Equal(t, term.String(), ts[0].O.String(), "written as %q", lines[2])

		for _, s := range stores {
			i++
			ctx := context.Background()
			if !s.blazegraph {
				s.use(t, fmt.Sprintf("%s/%d", testGraph(f), i))
			}
			ts := s.triples(i, term)
			if s.virtuoso && term.IsLiteral() && term.Datatype() != rdfdiff.XSDString && strings.HasPrefix(term.Datatype(), "http://www.w3.org/2001/XMLSchema#") {
				// Virtuoso parses XSD typed literals into native values:
				// only the canonical forms of well-formed ones round-trip
				// (documented at the top); the property test covers those.
				continue
			}
			if s.blazegraph && term.IsLiteral() && term.Datatype() == rdfdiff.XSDBoolean && term.Value() != "true" && term.Value() != "false" {
				continue // a 500: TestBlazegraphIllTypedBooleanIs500
			}
			if s.virtuoso && longestIRI(term) > virtuosoMaxIRI {
				continue // truncated by Virtuoso: TestVirtuosoRewritesLongIRIs
			}
			add := &rdfdiff.ConsolidatedPatch{}
			add.Added = ts
			if err := s.update(ctx, add); err != nil {
				require.False(t, s.virtuoso, "Virtuoso refused %q: %v", term.String(), err)
				require.ErrorIs(t, err, ErrStoreRejected)
				require.True(t, refusedByOxigraph(term), "Oxigraph refused %q: %v", term.String(), err)
				continue
			}
			want := map[rdfdiff.Triple]bool{}
			for _, tr := range ts {
				want[tr] = true
			}
			s.requireHolds(t, want)
			del := &rdfdiff.ConsolidatedPatch{}
			del.Removed = ts
			require.NoError(t, s.update(ctx, del))
			require.Empty(t, s.readBack(t), "DELETE DATA of %q left something", term.String())
		}
	})
}

// TestVirtuosoRewritesLongIRIs pins the Virtuoso 7.2 quirk documented at the
// top of this file: a long IRI is stored as a prefix of itself followed by
// a hash. If this test fails, Virtuoso no longer does that (or now refuses
// such IRIs): update the documentation and virtuosoMaxIRI.
func TestVirtuosoRewritesLongIRIs(t *testing.T) {
	s := newSFStore(t, "STREAMKIT_VIRTUOSO_URL")
	ctx := context.Background()
	prefix := "http://ex.test/long/" + strings.Repeat("a", 1900)
	p := &rdfdiff.ConsolidatedPatch{}
	p.Added = []rdfdiff.Triple{
		{S: rdfdiff.NewIRI("http://ex.test/s/1"), P: s.pred, O: rdfdiff.NewIRI(prefix + "/one")},
		{S: rdfdiff.NewIRI("http://ex.test/s/2"), P: s.pred, O: rdfdiff.NewIRI(prefix + "/two")},
		{S: rdfdiff.NewIRI("http://ex.test/s/3"), P: s.pred, O: rdfdiff.NewIRI(prefix[:virtuosoMaxIRI])},
	}
	require.NoError(t, s.update(ctx, p))
	res, err := s.c.Query(ctx, "SELECT ?s ?o WHERE { GRAPH <"+s.graph+"> { ?s ?p ?o } }")
	require.NoError(t, err)
	got := map[string]string{}
	for _, row := range res.Bindings {
		got[row["s"].Value()] = row["o"].Value()
	}
	require.Len(t, got, 3)
	one, two := got["http://ex.test/s/1"], got["http://ex.test/s/2"]
	for _, iri := range []string{one, two} {
		require.Greater(t, len(iri), 1000)
		keep, hash := iri[:len(iri)-32], iri[len(iri)-32:]
		assert.True(t, strings.HasPrefix(prefix, keep), "a prefix of the IRI is kept")
		assert.Regexp(t, "^[0-9a-f]{32}$", hash, "the rest is replaced by a hash")
		assert.Less(t, len(iri), len(prefix))
	}
	assert.NotEqual(t, one, two, "different IRIs stay different")
	assert.Equal(t, prefix[:virtuosoMaxIRI], got["http://ex.test/s/3"], "an IRI of virtuosoMaxIRI bytes is kept")

	// DELETE DATA of the long IRI matches the stored one (Virtuoso rewrites
	// it the same way), so diffs still apply; only the text differs.
	del := &rdfdiff.ConsolidatedPatch{}
	del.Removed = p.Added[:1]
	require.NoError(t, s.update(ctx, del))
	ok, err := s.c.Ask(ctx, "ASK { GRAPH <"+s.graph+"> { <http://ex.test/s/1> ?p ?o } }")
	require.NoError(t, err)
	assert.False(t, ok, "DELETE DATA removed the rewritten IRI")
}
