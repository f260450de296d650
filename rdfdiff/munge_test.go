package rdfdiff

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Namespaces used by the hand-built munger tests.
const (
	mtWD     = "http://www.wikidata.org/entity/"
	mtStmt   = "http://www.wikidata.org/entity/statement/"
	mtRef    = "http://www.wikidata.org/reference/"
	mtVal    = "http://www.wikidata.org/value/"
	mtProp   = "http://www.wikidata.org/prop/"
	mtData   = "https://www.wikidata.org/wiki/Special:EntityData/"
	mtSchema = "http://schema.org/"
	mtWB     = "http://wikiba.se/ontology#"
	mtRDFS   = "http://www.w3.org/2000/01/rdf-schema#"
	mtGenID  = "http://www.wikidata.org/.well-known/genid/"
)

func mtI(iri string) Term { return NewIRI(iri) }

func mtT(s Term, p string, o Term) Triple { return Triple{S: s, P: NewIRI(p), O: o} }

func mtInt(n string) Term { return NewTypedLiteral(n, XSDInteger) }

func mtDate(d string) Term { return NewTypedLiteral(d, XSDDateTime) }

// mtDataNode is the entity-data block Wikibase writes for id at revision rev.
func mtDataNode(id, rev, modified string) []Triple {
	d := mtI(mtData + id)
	return []Triple{
		mtT(d, RDFType, mtI(mtSchema+"Dataset")),
		mtT(d, mtSchema+"about", mtI(mtWD+id)),
		mtT(d, "http://creativecommons.org/ns#license", mtI("http://creativecommons.org/publicdomain/zero/1.0/")),
		mtT(d, mtSchema+"softwareVersion", NewLiteral("1.0.0")),
		mtT(d, mtSchema+"version", mtInt(rev)),
		mtT(d, mtSchema+"dateModified", mtDate(modified)),
		mtT(d, mtWB+"statements", mtInt("1")),
		mtT(d, mtWB+"sitelinks", mtInt("1")),
	}
}

// mungeFixture parses a Turtle fixture under testdata/.
func mungeFixture(tb testing.TB, rel string) []Triple {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", rel))
	require.NoError(tb, err)
	defer f.Close()
	ts, err := ParseTurtle(f, "")
	require.NoError(tb, err, rel)
	return ts
}

// mtHas asserts that ts holds tr, printing only tr when it does not.
func mtHas(t *testing.T, ts []Triple, tr Triple) {
	t.Helper()
	if !slices.Contains(ts, tr) {
		t.Errorf("missing triple %s", tr)
	}
}

func mtSet(ts []Triple) map[Triple]struct{} {
	m := make(map[Triple]struct{}, len(ts))
	for _, tr := range ts {
		m[tr] = struct{}{}
	}
	return m
}

func mtStrings(ts []Triple) []string {
	out := make([]string, len(ts))
	for i, tr := range ts {
		out[i] = tr.String()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// mtItemQ1 is a small item with every kind of triple the munger must keep or
// drop, and the munged triples WDQS keeps.
func mtItemQ1() (in, want []Triple) {
	q1, q2 := mtI(mtWD+"Q1"), mtI(mtWD+"Q2")
	st, stOther := mtI(mtStmt+"Q1-abc"), mtI(mtStmt+"Q2-def")
	ref, refOrphan := mtI(mtRef+"r1"), mtI(mtRef+"r2")
	val, valNorm, valOrphan := mtI(mtVal+"v1"), mtI(mtVal+"v1n"), mtI(mtVal+"v9")
	article, otherArticle := mtI("https://en.wikipedia.org/wiki/One"), mtI("https://en.wikipedia.org/wiki/Two")
	enwiki := mtI("https://en.wikipedia.org/")
	bnode := NewBlankNode("4249d9c21f8b973644e0eab84cdaaf17")
	label := NewLangLiteral("one", "en")

	in = mtDataNode("Q1", "42", "2024-01-02T03:04:05Z")
	in = append(in,
		mtT(mtI(mtWB+"Dump"), mtSchema+"softwareVersion", NewLiteral("1.0.0")),
		mtT(q1, RDFType, mtI(mtWB+"Item")),
		mtT(q1, mtRDFS+"label", label),
		mtT(q1, mtSchema+"name", label),
		mtT(q1, "http://www.w3.org/2004/02/skos/core#prefLabel", label),
		mtT(q1, mtSchema+"description", NewLangLiteral("the first", "en")),
		mtT(q1, mtProp+"direct/P31", q2),
		mtT(q1, mtProp+"P31", st),
		mtT(q1, mtProp+"direct/P1", bnode),
		// statement, its reference and its value
		mtT(st, RDFType, mtI(mtWB+"Statement")),
		mtT(st, RDFType, mtI(mtWB+"BestRank")),
		mtT(st, mtWB+"rank", mtI(mtWB+"NormalRank")),
		mtT(st, mtProp+"statement/P31", q2),
		mtT(st, mtProp+"statement/value/P31", val),
		mtT(st, "http://www.w3.org/ns/prov#wasDerivedFrom", ref),
		mtT(ref, RDFType, mtI(mtWB+"Reference")),
		mtT(ref, mtProp+"reference/P248", q2),
		mtT(val, RDFType, mtI(mtWB+"QuantityValue")),
		mtT(val, mtWB+"quantityAmount", NewTypedLiteral("+1", XSDDecimal)),
		mtT(val, mtWB+"quantityNormalized", valNorm),
		mtT(valNorm, RDFType, mtI(mtWB+"QuantityValue")),
		// another entity, its statement, an orphan reference and value
		mtT(q2, mtRDFS+"label", NewLangLiteral("two", "en")),
		mtT(q2, mtProp+"P31", stOther),
		mtT(stOther, mtProp+"statement/P31", q1),
		mtT(stOther, "http://www.w3.org/ns/prov#wasDerivedFrom", refOrphan),
		mtT(stOther, mtWB+"hasViolationForConstraint", mtI(mtStmt+"P31-x")),
		mtT(refOrphan, mtProp+"reference/P248", q1),
		mtT(valOrphan, RDFType, mtI(mtWB+"TimeValue")),
		// sitelinks: one about Q1, one about Q2
		mtT(article, RDFType, mtI(mtSchema+"Article")),
		mtT(article, mtSchema+"about", q1),
		mtT(article, mtSchema+"isPartOf", enwiki),
		mtT(article, mtSchema+"name", NewLangLiteral("One", "en")),
		mtT(otherArticle, RDFType, mtI(mtSchema+"Article")),
		mtT(otherArticle, mtSchema+"about", q2),
		mtT(enwiki, mtWB+"wikiGroup", NewLiteral("wikipedia")),
		// property declarations and a somevalue class
		mtT(mtI(mtProp+"P31"), RDFType, mtI("http://www.w3.org/2002/07/owl#ObjectProperty")),
		mtT(mtI(mtProp+"P31"), mtRDFS+"label", NewLiteral("dropped")),
		mtT(mtI(mtProp+"novalue/P31"), RDFType, mtI("http://www.w3.org/2002/07/owl#Class")),
		mtT(mtI(mtProp+"novalue/P31"), "http://www.w3.org/2002/07/owl#complementOf", NewBlankNode("b2")),
		mtT(NewBlankNode("b2"), RDFType, mtI("http://www.w3.org/2002/07/owl#Restriction")),
	)
	genid := mtI(mtGenID + "4249d9c21f8b973644e0eab84cdaaf17")
	want = []Triple{
		mtT(q1, mtSchema+"version", mtInt("42")),
		mtT(q1, mtSchema+"dateModified", mtDate("2024-01-02T03:04:05Z")),
		mtT(q1, mtWB+"statements", mtInt("1")),
		mtT(q1, mtWB+"sitelinks", mtInt("1")),
		mtT(q1, mtRDFS+"label", label),
		mtT(q1, mtSchema+"description", NewLangLiteral("the first", "en")),
		mtT(q1, mtProp+"direct/P31", q2),
		mtT(q1, mtProp+"P31", st),
		mtT(q1, mtProp+"direct/P1", genid),
		mtT(st, RDFType, mtI(mtWB+"BestRank")),
		mtT(st, mtWB+"rank", mtI(mtWB+"NormalRank")),
		mtT(st, mtProp+"statement/P31", q2),
		mtT(st, mtProp+"statement/value/P31", val),
		mtT(st, "http://www.w3.org/ns/prov#wasDerivedFrom", ref),
		mtT(ref, mtProp+"reference/P248", q2),
		mtT(val, RDFType, mtI(mtWB+"QuantityValue")),
		mtT(val, mtWB+"quantityAmount", NewTypedLiteral("+1", XSDDecimal)),
		mtT(val, mtWB+"quantityNormalized", valNorm),
		mtT(valNorm, RDFType, mtI(mtWB+"QuantityValue")),
		mtT(article, RDFType, mtI(mtSchema+"Article")),
		mtT(article, mtSchema+"about", q1),
		mtT(article, mtSchema+"isPartOf", enwiki),
		mtT(article, mtSchema+"name", NewLangLiteral("One", "en")),
		mtT(enwiki, mtWB+"wikiGroup", NewLiteral("wikipedia")),
		mtT(mtI(mtProp+"P31"), RDFType, mtI("http://www.w3.org/2002/07/owl#ObjectProperty")),
		mtT(mtI(mtProp+"novalue/P31"), RDFType, mtI("http://www.w3.org/2002/07/owl#Class")),
		mtT(mtI(mtProp+"novalue/P31"), "http://www.w3.org/2002/07/owl#complementOf", mtI(mtGenID+"b2")),
		mtT(mtI(mtGenID+"b2"), RDFType, mtI("http://www.w3.org/2002/07/owl#Restriction")),
	}
	return in, want
}

func TestMungeAppliesWDQSRules(t *testing.T) {
	in, want := mtItemQ1()
	orig := slices.Clone(in)
	m := NewMunger(WikidataScheme())
	assert.Equal(t, WikidataScheme(), m.Scheme())
	me, err := m.MungeEntity("Q1", in)
	require.NoError(t, err)
	assert.Equal(t, mtStrings(want), mtStrings(me.Triples))
	assert.True(t, slices.IsSortedFunc(me.Triples, Triple.Compare), "munged triples are sorted")
	assert.Equal(t, orig, in, "input not modified")
	assert.Equal(t, int64(42), me.Revision)
	assert.Equal(t, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), me.LastModified)
	assert.Equal(t, "Q1", me.EntityID)
	// Unlinked statement, reference and value nodes are reported; other
	// entities and the dump header are not.
	assert.Equal(t, []Term{mtI(mtStmt + "Q2-def"), mtI(mtRef + "r2"), mtI(mtVal + "v9")}, me.Unrecognized)
}

func TestMungeIgnoresInputOrderAndDuplicates(t *testing.T) {
	in, want := mtItemQ1()
	m := NewMunger(WikidataScheme())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := append(slices.Clone(in), in[:i]...) // some duplicates too
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		got, err := m.Munge("Q1", shuffled)
		require.NoError(t, err)
		require.Equal(t, mtStrings(want), mtStrings(got), "shuffle %d", i)
		require.Len(t, got, len(want), "no duplicates")
	}
}

func TestMungeWithoutSkolemizationKeepsBlankNodes(t *testing.T) {
	in, _ := mtItemQ1()
	got, err := NewMunger(WikidataScheme(), MungeSkolemize(false)).Munge("Q1", in)
	require.NoError(t, err)
	mtHas(t, got, mtT(mtI(mtWD+"Q1"), mtProp+"direct/P1", NewBlankNode("4249d9c21f8b973644e0eab84cdaaf17")))
	mtHas(t, got, mtT(NewBlankNode("b2"), RDFType, mtI("http://www.w3.org/2002/07/owl#Restriction")))
}

func TestMungeKeepTypes(t *testing.T) {
	in, _ := mtItemQ1()
	got, err := NewMunger(WikidataScheme(), MungeKeepTypes(true)).Munge("Q1", in)
	require.NoError(t, err)
	mtHas(t, got, mtT(mtI(mtWD+"Q1"), RDFType, mtI(mtWB+"Item")))
	mtHas(t, got, mtT(mtI(mtStmt+"Q1-abc"), RDFType, mtI(mtWB+"Statement")))
	mtHas(t, got, mtT(mtI(mtRef+"r1"), RDFType, mtI(mtWB+"Reference")))
}

func TestMungeLexemeFormsAndSensesInAnyOrder(t *testing.T) {
	l, f1, s1 := mtI(mtWD+"L7"), mtI(mtWD+"L7-F1"), mtI(mtWD+"L7-S1")
	fst := mtI(mtStmt + "L7-F1-aaa")
	in := []Triple{
		// the form and its statement come before the lexeme that links them
		mtT(f1, RDFType, mtI(mtWB+"Form")),
		mtT(f1, RDFType, mtI("http://www.w3.org/ns/lemon/ontolex#Form")),
		mtT(f1, mtRDFS+"label", NewLangLiteral("cats", "en")),
		mtT(f1, "http://www.w3.org/ns/lemon/ontolex#representation", NewLangLiteral("cats", "en")),
		mtT(f1, mtProp+"P5", fst),
		mtT(fst, mtProp+"statement/P5", NewLiteral("x")),
		mtT(s1, RDFType, mtI(mtWB+"Sense")),
		mtT(s1, mtRDFS+"label", NewLangLiteral("feline", "en")),
		mtT(s1, "http://www.w3.org/2004/02/skos/core#definition", NewLangLiteral("feline", "en")),
		mtT(l, RDFType, mtI(mtWB+"Lexeme")),
		mtT(l, RDFType, mtI("http://www.w3.org/ns/lemon/ontolex#LexicalEntry")),
		mtT(l, mtRDFS+"label", NewLangLiteral("cat", "en")),
		mtT(l, mtWB+"lemma", NewLangLiteral("cat", "en")),
		mtT(l, "http://www.w3.org/ns/lemon/ontolex#lexicalForm", f1),
		mtT(l, "http://www.w3.org/ns/lemon/ontolex#sense", s1),
		mtT(mtI(mtWD+"L8-F1"), mtRDFS+"label", NewLangLiteral("other lexeme", "en")),
	}
	in = append(in, mtDataNode("L7", "3", "2024-01-01T00:00:00Z")...)
	got, err := NewMunger(WikidataScheme()).Munge("L7", in)
	require.NoError(t, err)
	want := []Triple{
		mtT(f1, RDFType, mtI("http://www.w3.org/ns/lemon/ontolex#Form")),
		mtT(f1, "http://www.w3.org/ns/lemon/ontolex#representation", NewLangLiteral("cats", "en")),
		mtT(f1, mtProp+"P5", fst),
		mtT(fst, mtProp+"statement/P5", NewLiteral("x")),
		mtT(s1, "http://www.w3.org/2004/02/skos/core#definition", NewLangLiteral("feline", "en")),
		mtT(l, RDFType, mtI("http://www.w3.org/ns/lemon/ontolex#LexicalEntry")),
		mtT(l, mtWB+"lemma", NewLangLiteral("cat", "en")),
		mtT(l, "http://www.w3.org/ns/lemon/ontolex#lexicalForm", f1),
		mtT(l, "http://www.w3.org/ns/lemon/ontolex#sense", s1),
		mtT(l, mtSchema+"version", mtInt("3")),
		mtT(l, mtSchema+"dateModified", mtDate("2024-01-01T00:00:00Z")),
		mtT(l, mtWB+"statements", mtInt("1")),
		mtT(l, mtWB+"sitelinks", mtInt("1")),
	}
	assert.Equal(t, mtStrings(want), mtStrings(got))
}

func TestMungeErrors(t *testing.T) {
	q1 := mtI(mtWD + "Q1")
	base := mtDataNode("Q1", "42", "2024-01-02T03:04:05Z")
	withData := func(extra ...Triple) []Triple {
		return append(append(slices.Clone(base), mtT(q1, mtProp+"direct/P31", mtI(mtWD+"Q5"))), extra...)
	}
	without := func(pred string) []Triple {
		var out []Triple
		for _, tr := range withData() {
			if !tr.P.IsIRIEqual(pred) {
				out = append(out, tr)
			}
		}
		return out
	}
	d := mtI(mtData + "Q1")
	cases := []struct {
		name   string
		id     string
		in     []Triple
		want   error
		inMsg  string
		atNode Term
	}{
		{"empty id", "", withData(), ErrInvalidEntityID, `"" is not`, Term{}},
		{"id with slash", "Q1/x", withData(), ErrInvalidEntityID, `"Q1/x"`, Term{}},
		{"id with space", "Q 1", withData(), ErrInvalidEntityID, `"Q 1"`, Term{}},
		{"no triples", "Q1", nil, ErrNoEntityData, "no triples", Term{}},
		{"no data node", "Q1", []Triple{mtT(q1, mtProp+"direct/P31", mtI(mtWD+"Q5"))}, ErrNoEntityData, "no triple about <" + mtData + "Q1>", d},
		{"wrong entity", "Q2", withData(), ErrWrongEntity, "entity data node is <" + mtData + "Q1>, expected <" + mtData + "Q2>", d},
		{"no version", "Q1", without(mtSchema + "version"), ErrNoEntityData, "no schema:version", d},
		{"no date", "Q1", without(mtSchema + "dateModified"), ErrNoEntityData, "no schema:dateModified", d},
		{"conflicting versions", "Q1", withData(mtT(d, mtSchema+"version", mtInt("43"))), ErrConflictingEntityData, `schema:version "42"`, d},
		{"conflicting dates", "Q1", withData(mtT(d, mtSchema+"dateModified", mtDate("2024-01-03T00:00:00Z"))), ErrConflictingEntityData, "schema:dateModified", d},
		{"version not integer", "Q1", append(without(mtSchema+"version"), mtT(d, mtSchema+"version", NewLiteral("abc"))), ErrBadEntityData, `"abc" is not a positive 64-bit integer`, d},
		{"version zero", "Q1", append(without(mtSchema+"version"), mtT(d, mtSchema+"version", mtInt("0"))), ErrBadEntityData, "not a positive", d},
		{"version IRI", "Q1", append(without(mtSchema+"version"), mtT(d, mtSchema+"version", q1)), ErrBadEntityData, "not a literal", d},
		{"date malformed", "Q1", append(without(mtSchema+"dateModified"), mtT(d, mtSchema+"dateModified", mtDate("yesterday"))), ErrBadEntityData, "not an xsd:dateTime", d},
		{"counter IRI", "Q1", withData(mtT(d, mtWB+"statements", q1)), ErrBadEntityData, "not a literal", d},
		{"only unrecognized", "Q1", append(slices.Clone(base), mtT(mtI("https://example.org/x"), mtSchema+"name", NewLiteral("x"))), ErrNoEntityTriples, "<https://example.org/x>", Term{}},
	}
	m := NewMunger(WikidataScheme())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Munge(c.id, c.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, c.want)
			var me *MungeError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, c.id, me.EntityID)
			assert.Equal(t, c.atNode, me.Node)
			assert.True(t, strings.HasPrefix(err.Error(), "rdfdiff: munge "+c.id+": "), err.Error())
			assert.Contains(t, err.Error(), c.inMsg)
		})
	}
	_, err := NewMunger(URIScheme{}).Munge("Q1", withData())
	assert.ErrorIs(t, err, ErrInvalidURIScheme)
}

func TestMungeTrimsLongLiteralsAtTheBoundary(t *testing.T) {
	q1 := mtI(mtWD + "Q1")
	const limit = 10
	m := NewMunger(WikidataScheme(), MungeMaxLiteralLength(limit))
	cases := []struct {
		name string
		in   Term
		want Term
	}{
		{"at limit", NewLiteral("0123456789"), NewLiteral("0123456789")},
		{"one over", NewLiteral("0123456789X"), NewLiteral("0123456789")},
		{"multibyte at limit", NewLiteral("ééééééééé€"), NewLiteral("ééééééééé€")},
		{"multibyte over, cut between characters", NewLiteral("ééééééééé€😀"), NewLiteral("ééééééééé€")},
		{"astral characters count once", NewLiteral(strings.Repeat("😀", 11)), NewLiteral(strings.Repeat("😀", 10))},
		{"escapes count as one character", NewLiteral("\"\n\"\n\"\n\"\n\"\n"), NewLiteral("\"\n\"\n\"\n\"\n\"\n")},
		{"escapes over", NewLiteral("\"\n\"\n\"\n\"\n\"\n\\"), NewLiteral("\"\n\"\n\"\n\"\n\"\n")},
		{"language kept", NewLangLiteral("abcdefghijkl", "en-GB"), NewLangLiteral("abcdefghij", "en-gb")},
		{"datatype kept", NewTypedLiteral("+123456789012", XSDDecimal), NewTypedLiteral("+123456789", XSDDecimal)},
		{"IRIs untouched", mtI("http://example.org/" + strings.Repeat("x", 40)), mtI("http://example.org/" + strings.Repeat("x", 40))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := append(mtDataNode("Q1", "1", "2024-01-01T00:00:00Z"), mtT(q1, mtSchema+"description", c.in))
			got, err := m.Munge("Q1", in)
			require.NoError(t, err)
			mtHas(t, got, mtT(q1, mtSchema+"description", c.want))
			if c.want.IsLiteral() {
				assert.LessOrEqual(t, utf8.RuneCountInString(c.want.Value()), limit)
				assert.True(t, utf8.ValidString(c.want.Value()))
			}
		})
	}

	long := NewLiteral(strings.Repeat("a", DefaultMaxLiteralLength+1))
	in := append(mtDataNode("Q1", "1", "2024-01-01T00:00:00Z"), mtT(q1, mtSchema+"description", long))
	got, err := NewMunger(WikidataScheme()).Munge("Q1", in)
	require.NoError(t, err)
	mtHas(t, got, mtT(q1, mtSchema+"description", NewLiteral(strings.Repeat("a", DefaultMaxLiteralLength))))
	got, err = NewMunger(WikidataScheme(), MungeMaxLiteralLength(0)).Munge("Q1", in)
	require.NoError(t, err)
	mtHas(t, got, mtT(q1, mtSchema+"description", long)) // limit 0 disables trimming
}

// mungeSignature reduces munged RDF to its shape: for each triple, the class
// of its subject, its predicate with the property ID removed, and for
// rdf:type the type. Two revisions of one entity have the same shape when
// the munger applied the same rules to both.
func mungeSignature(ts []Triple) map[string]bool {
	op := mungeOp{m: NewMunger(WikidataScheme())}
	op.propPrefix = op.m.scheme.PropertyPrefix(PropClaim)
	pid := regexp.MustCompile(`P\d+>$`)
	sig := map[string]bool{}
	for _, tr := range ts {
		k := string('0'+op.classify(tr.S)) + " " + pid.ReplaceAllString(tr.P.String(), "P>")
		if tr.P == wv.RDFType {
			k += " " + tr.O.String()
		}
		sig[k] = true
	}
	return sig
}

func TestMungeQ42AsWDQS(t *testing.T) {
	raw := mungeFixture(t, "rdf-entities/raw/Q42.ttl")
	me, err := NewMunger(WikidataScheme()).MungeEntity("Q42", raw)
	require.NoError(t, err)
	got := me.Triples
	q42 := mtI(mtWD + "Q42")

	assert.Equal(t, int64(1997465481), me.Revision)
	assert.Equal(t, time.Date(2023, 10, 26, 5, 30, 17, 0, time.UTC), me.LastModified)
	mtHas(t, got, mtT(q42, mtSchema+"version", mtInt("1997465481")))
	mtHas(t, got, mtT(q42, mtSchema+"dateModified", mtDate("2023-10-26T05:30:17Z")))
	mtHas(t, got, mtT(q42, mtWB+"statements", mtInt("307")))
	mtHas(t, got, mtT(q42, mtWB+"sitelinks", mtInt("122")))
	mtHas(t, got, mtT(q42, mtWB+"identifiers", mtInt("234")))
	mtHas(t, got, mtT(q42, mtRDFS+"label", NewLangLiteral("Douglas Adams", "en")))
	// The somevalue qualifier is skolemized.
	genid := mtI(mtGenID + "4249d9c21f8b973644e0eab84cdaaf17")
	var somevalue int
	for _, tr := range got {
		require.False(t, tr.S.IsBlankNode() || tr.O.IsBlankNode(), "blank node left in %s", tr)
		require.False(t, WikidataScheme().InEntityDataNamespace(tr.S), "entity data left in %s", tr)
		if id, ok := WikidataScheme().EntityID(tr.S.Value()); ok {
			require.Equal(t, "Q42", id, "another entity's triple %s", tr)
			require.False(t, tr.P.IsIRIEqual(mtSchema+"name") || tr.P.IsIRIEqual("http://www.w3.org/2004/02/skos/core#prefLabel"), "duplicate label %s", tr)
			require.False(t, tr.P == wv.RDFType && tr.O.IsIRIEqual(mtWB+"Item"), "%s", tr)
		}
		require.False(t, tr.P == wv.RDFType && (tr.O.IsIRIEqual(mtWB+"Statement") || tr.O.IsIRIEqual(mtWB+"Reference")), "%s", tr)
		if tr.O == genid {
			somevalue++
			assert.True(t, tr.P.IsIRIEqual(mtProp+"qualifier/P3680"), "%s", tr)
		}
	}
	assert.Equal(t, 1, somevalue)
	assert.Empty(t, me.Unrecognized, "every subject of Q42's own RDF is linked")

	// Same shape as the WDQS-munged Q42 of another revision.
	want := mungeSignature(mungeFixture(t, "rdf-entities/munged/Q42-munged.ttl"))
	assert.Equal(t, want, mungeSignature(got))

	// Without skolemization the blank node stays.
	plain, err := NewMunger(WikidataScheme(), MungeSkolemize(false)).Munge("Q42", raw)
	require.NoError(t, err)
	assert.Len(t, plain, len(got))
	assert.Contains(t, mtStrings(plain), "<"+mtStmt+"Q42-bf7e1294-4f0f-3511-ab5f-81f47f5c98cb> <"+mtProp+"qualifier/P3680> _:4249d9c21f8b973644e0eab84cdaaf17 .")
}

func TestMungeLexemeFixtures(t *testing.T) {
	m := NewMunger(WikidataScheme())
	got, err := m.Munge("L4696", mungeFixture(t, "rdf-entities/raw/L4696.ttl"))
	require.NoError(t, err)
	l := mtI(mtWD + "L4696")
	mtHas(t, got, mtT(l, mtSchema+"version", mtInt("766944915")))
	mtHas(t, got, mtT(l, "http://www.w3.org/ns/lemon/ontolex#lexicalForm", mtI(mtWD+"L4696-F2")))
	mtHas(t, got, mtT(mtI(mtWD+"L4696-F2"), "http://www.w3.org/ns/lemon/ontolex#representation", NewLangLiteral("statements", "en")))
	mtHas(t, got, mtT(mtI(mtWD+"L4696-S1"), "http://www.w3.org/2004/02/skos/core#definition", NewLangLiteral("Aussage", "de")))
	mtHas(t, got, mtT(mtI(mtStmt+"L4696-S3-601a4002-4c3d-7b4c-1463-64a5ff969386"), mtProp+"statement/P5137", mtI(mtWD+"Q613299")))
	mtHas(t, got, mtT(l, RDFType, mtI("http://www.w3.org/ns/lemon/ontolex#LexicalEntry")))
	for _, tr := range got {
		assert.False(t, tr.P.IsIRIEqual(mtRDFS+"label"), "lexeme, form and sense labels are dropped: %s", tr)
		assert.False(t, tr.P == wv.RDFType && isSkippedEntityType(tr.O), "%s", tr)
	}
	// Same shape as the WDQS-munged L4082, apart from what only one has.
	shape := mungeSignature(got)
	ref := mungeSignature(mungeFixture(t, "rdf-entities/munged/L4082-munged.ttl"))
	for k := range shape {
		if strings.HasPrefix(k, "5 ") { // entity subjects: the lexeme, forms and senses
			assert.True(t, ref[k] || strings.Contains(k, "/prop/"), "lexeme triple shape %q not in WDQS output", k)
		}
	}

	got, err = m.Munge("L691820", mungeFixture(t, "rdf-entities/raw/L691820.ttl"))
	require.NoError(t, err)
	mtHas(t, got, mtT(mtI(mtWD+"L691820-S1"), mtProp+"direct/P10339", mtI(mtGenID+"431b370f329e83d50db749259432bfac")))
	var forms, senses int
	for _, tr := range got {
		require.False(t, tr.S.IsBlankNode() || tr.O.IsBlankNode(), "%s", tr)
		if tr.S.IsIRIEqual(mtWD + "L691820") {
			switch {
			case tr.P.IsIRIEqual("http://www.w3.org/ns/lemon/ontolex#lexicalForm"):
				forms++
			case tr.P.IsIRIEqual("http://www.w3.org/ns/lemon/ontolex#sense"):
				senses++
			}
		}
	}
	assert.Equal(t, 12, forms)
	assert.Equal(t, 3, senses)
}

func TestMungeMediaInfoFromADumpOfTwo(t *testing.T) {
	raw := mungeFixture(t, "rdf-entities/raw/commons_mediainfo_dump.ttl")
	m := NewMunger(CommonsScheme())
	me, err := m.MungeEntity("M6580719", raw)
	require.NoError(t, err)
	const sdc = "https://commons.wikimedia.org/entity/"
	e := mtI(sdc + "M6580719")
	assert.Equal(t, int64(516563229), me.Revision)
	mtHas(t, me.Triples, mtT(e, RDFType, mtI(mtWB+"Mediainfo"))) // wikibase:Mediainfo is not a dropped type
	mtHas(t, me.Triples, mtT(e, mtSchema+"caption", NewLangLiteral("Tower of Belém, Lisbon, Portugal viewed against the Tagus River from the northeast", "en")))
	mtHas(t, me.Triples, mtT(e, mtProp+"direct/P170", mtI("https://commons.wikimedia.org/.well-known/genid/4478b3bc5385fc0f59c9b8b927bedad9")))
	mtHas(t, me.Triples, mtT(mtI("https://commons.wikimedia.org/value/08b24b95baaf27ece07aef344d8d8c18"), mtWB+"timePrecision", mtInt("11")))
	for _, tr := range me.Triples {
		assert.NotContains(t, tr.String(), "M50827445", "the other MediaInfo entity of the dump is dropped")
		assert.False(t, tr.S.HasPrefix("https://commons.wikimedia.org/wiki/Special:EntityData/"), "%s", tr)
	}
	assert.Contains(t, me.Unrecognized, mtI("https://commons.wikimedia.org/entity/statement/M50827445-8C0465E0-3915-4BA9-8F95-4AE7A433E13B"))

	// A Wikidata munger does not know Commons entity data.
	_, err = NewMunger(WikidataScheme()).Munge("M6580719", raw)
	assert.ErrorIs(t, err, ErrNoEntityData)
}

// BenchmarkMungeQ42 munges the 200 KB Q42 fixture (4455 triples) with the
// production options (skolemization on).
func BenchmarkMungeQ42(b *testing.B) {
	raw := mungeFixture(b, "rdf-entities/raw/Q42.ttl")
	fi, err := os.Stat(filepath.Join("testdata", "rdf-entities/raw/Q42.ttl"))
	require.NoError(b, err)
	m := NewMunger(WikidataScheme())
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var out []Triple
	for b.Loop() {
		out, err = m.Munge("Q42", raw)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(raw)), "triples-in/op")
	b.ReportMetric(float64(len(out)), "triples-out/op")
}

func TestMungeErrorMessage(t *testing.T) {
	e := &MungeError{EntityID: "Q1", Err: ErrNoEntityData, Detail: "no triples"}
	assert.Equal(t, "rdfdiff: munge Q1: no entity data: no triples", e.Error())
	assert.True(t, errors.Is(e, ErrNoEntityData))
}

func TestMungeEachEntityOfADumpChunk(t *testing.T) {
	raw := mungeFixture(t, "rdf-entities/raw/small_dump_chunk.ttl")
	m := NewMunger(WikidataScheme())
	q8, err := m.MungeEntity("Q8", raw)
	require.NoError(t, err)
	q31, err := m.MungeEntity("Q31", raw)
	require.NoError(t, err)
	assert.Equal(t, int64(1052652842), q8.Revision)
	assert.Equal(t, int64(1065756426), q31.Revision)

	mtHas(t, q8.Triples, mtT(mtI(mtWD+"Q8"), mtProp+"direct/P576", mtI(mtGenID+"e39d2a834262fbd171919ab2c038c9fb")))
	mtHas(t, q8.Triples, mtT(mtI(mtVal+"f987783e1f9c9fa0cb0b774d330af52d"), mtWB+"timePrecision", mtInt("11")))
	mtHas(t, q8.Triples, mtT(mtI("https://fr.wikiquote.org/wiki/Bonheur"), mtSchema+"about", mtI(mtWD+"Q8")))
	mtHas(t, q31.Triples, mtT(mtI("https://it.wikivoyage.org/wiki/Belgio"), mtSchema+"name", NewLangLiteral("Belgio", "it")))
	mtHas(t, q31.Triples, mtT(mtI(mtWD+"Q31"), mtWB+"sitelinks", mtInt("322")))
	for _, tr := range q8.Triples {
		assert.NotContains(t, tr.String(), "Q31", "Q31 leaked into Q8")
		assert.NotContains(t, tr.String(), "Belgio", "Q31's sitelink leaked into Q8")
	}
	for _, tr := range q31.Triples {
		assert.NotContains(t, tr.String(), "Q8", "Q8 leaked into Q31")
		assert.NotContains(t, tr.String(), "Bonheur", "Q8's sitelink leaked into Q31")
	}
	assert.Empty(t, q8.Unrecognized)
	// Q8's statement, reference and value nodes are not linked from Q31.
	assert.Equal(t, []Term{mtI(mtStmt + "Q8-63214A9F-B2C8-42F9-8DA0-B046A989DDCF"),
		mtI(mtRef + "2b00cb481cddcac7623114367489b5c194901c4a"), mtI(mtVal + "f987783e1f9c9fa0cb0b774d330af52d")}, q31.Unrecognized)
}

// TestMungeRandomInputKeepsItsPromises feeds the munger random mixtures of
// well-formed and malformed Wikibase RDF. Whatever the input, it must not
// panic, and a successful result must be a sorted set without blank nodes,
// without entity-data subjects, and with the entity's revision on it.
func TestMungeRandomInputKeepsItsPromises(t *testing.T) {
	q1 := mtI(mtWD + "Q1")
	subjects := []Term{q1, mtI(mtWD + "Q2"), mtI(mtWD + "L1-F1"), mtI(mtStmt + "Q1-a"), mtI(mtStmt + "Q2-b"),
		mtI(mtRef + "r"), mtI(mtVal + "v"), mtI(mtVal + "w/x"), mtI(mtData + "Q1"), mtI(mtData + "Q2"),
		mtI(mtProp + "P1"), mtI(mtProp + "novalue/P1"), mtI("https://en.wikipedia.org/wiki/A"),
		mtI("https://en.wikipedia.org/"), NewBlankNode("b"), mtI(mtGenID + "g"), mtI(mtWB + "Dump")}
	predicates := []string{RDFType, mtSchema + "version", mtSchema + "dateModified", mtSchema + "about",
		mtSchema + "isPartOf", mtSchema + "name", mtRDFS + "label", mtProp + "P1", mtProp + "statement/P1",
		mtProp + "reference/value/P1", "http://www.w3.org/ns/prov#wasDerivedFrom", mtWB + "wikiGroup",
		mtWB + "quantityNormalized", "http://www.w3.org/ns/lemon/ontolex#lexicalForm", mtWB + "statements"}
	objects := append(slices.Clone(subjects), mtI(mtSchema+"Article"), mtI(mtWB+"Item"), mtI(mtWB+"Statement"),
		mtInt("5"), mtInt("-1"), NewLiteral("x"), mtDate("2024-01-01T00:00:00Z"), mtDate("not a date"),
		NewLangLiteral(strings.Repeat("é", 40), "fr"))
	rng := rand.New(rand.NewPCG(5, 8))
	m := NewMunger(WikidataScheme(), MungeMaxLiteralLength(16))
	var ok int
	for range 3000 {
		in := mtDataNode("Q1", "9", "2024-01-01T00:00:00Z")[:rng.IntN(9)]
		for range rng.IntN(30) {
			in = append(in, Triple{S: subjects[rng.IntN(len(subjects))], P: NewIRI(predicates[rng.IntN(len(predicates))]), O: objects[rng.IntN(len(objects))]})
		}
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		me, err := m.MungeEntity("Q1", in)
		if err != nil {
			var merr *MungeError
			require.ErrorAs(t, err, &merr)
			require.True(t, strings.HasPrefix(err.Error(), "rdfdiff: munge Q1: "), err.Error())
			continue
		}
		ok++
		require.True(t, slices.IsSortedFunc(me.Triples, Triple.Compare))
		require.Equal(t, len(me.Triples), len(slices.Compact(slices.Clone(me.Triples))), "no duplicates")
		require.Equal(t, int64(9), me.Revision)
		mtHas(t, me.Triples, mtT(q1, mtSchema+"version", mtInt("9")))
		for _, tr := range me.Triples {
			require.False(t, tr.S.IsBlankNode() || tr.O.IsBlankNode(), "%s", tr)
			require.False(t, WikidataScheme().InEntityDataNamespace(tr.S), "%s", tr)
			require.LessOrEqual(t, utf8.RuneCountInString(tr.O.Value()), 16+len(mtGenID)+40, "%s", tr)
			if tr.O.IsLiteral() {
				require.LessOrEqual(t, utf8.RuneCountInString(tr.O.Value()), 16, "%s", tr)
			}
		}
	}
	assert.Greater(t, ok, 100, "enough inputs munged successfully to test the invariants")
}
