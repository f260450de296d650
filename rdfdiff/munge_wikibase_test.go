package rdfdiff

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleLayout rewrites Wikidata's namespaces into those of a Wikibase
// whose entities live directly under its host (http://example.test/Q42), as
// the Wikibase RDF builder allows; longest namespaces first.
var exampleLayout = strings.NewReplacer(
	"http://www.wikidata.org/entity/statement/", "http://example.test/statement/",
	"http://www.wikidata.org/entity/", "http://example.test/",
	"http://www.wikidata.org/reference/", "http://example.test/reference/",
	"http://www.wikidata.org/value/", "http://example.test/value/",
	"http://www.wikidata.org/prop/", "http://example.test/prop/",
	"https://www.wikidata.org/wiki/Special:EntityData/", "http://example.test/entitydata/",
	"http://www.wikidata.org/.well-known/genid/", "http://example.test/.well-known/genid/",
)

func exampleScheme(t testing.TB) URIScheme {
	t.Helper()
	s, err := ParseURIScheme("entity=http://example.test/, entity-data=http://example.test/entitydata/")
	require.NoError(t, err)
	return s
}

func readFixture(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	require.NoError(t, err)
	return string(b)
}

func parseString(t testing.TB, ttl string) []Triple {
	t.Helper()
	ts, err := ParseTurtleBytes([]byte(ttl))
	require.NoError(t, err)
	return ts
}

// sortedLines returns the N-Triples lines of ts, each rewritten by r when r
// is not nil, sorted.
func sortedLines(ts []Triple, r *strings.Replacer) []string {
	out := mtStrings(ts)
	if r != nil {
		for i := range out {
			out[i] = r.Replace(out[i])
		}
	}
	slices.Sort(out)
	return out
}

func TestWikibaseSchemeDefaultsAreWikibases(t *testing.T) {
	s, err := NewWikibaseURIScheme(WikibaseNamespaces{Entity: "http://www.wikidata.org/entity/"})
	require.NoError(t, err)
	plain, err := NewURIScheme("http://www.wikidata.org")
	require.NoError(t, err)
	assert.Equal(t, plain, s, "the namespaces Wikibase derives from its concept base URI")

	ex := exampleScheme(t)
	assert.Equal(t, "http://example.test", ex.ConceptURI())
	assert.Equal(t, "http://example.test/statement/", ex.StatementPrefix())
	assert.Equal(t, "http://example.test/value/", ex.ValuePrefix())
	assert.Equal(t, "http://example.test/reference/", ex.ReferencePrefix())
	assert.Equal(t, "http://example.test/prop/direct/", ex.PropertyPrefix(PropDirect))
	assert.Equal(t, "http://example.test/.well-known/genid/", ex.GenIDPrefix())
	assert.Equal(t, []string{"http://example.test/entitydata/", "https://example.test/entitydata/"}, ex.EntityDataPrefixes())
	id, ok := ex.EntityID("http://example.test/Q7")
	assert.True(t, ok)
	assert.Equal(t, "Q7", id)
	for _, notEntity := range []string{"http://example.test/statement/Q7-1", "http://example.test/prop/P1", "http://example.test/value/abc", "http://example.test/"} {
		_, ok := ex.EntityID(notEntity)
		assert.False(t, ok, notEntity)
		assert.False(t, ex.IsEntity(NewIRI(notEntity)), notEntity)
	}
	assert.True(t, ex.IsEntity(NewIRI("http://example.test/Q7")))
}

func TestParseURIScheme(t *testing.T) {
	for spec, want := range map[string]URIScheme{"wikidata": WikidataScheme(), "commons": CommonsScheme()} {
		got, err := ParseURIScheme(spec)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	concept, err := ParseURIScheme("https://wikibase.example.org")
	require.NoError(t, err)
	assert.Equal(t, "https://wikibase.example.org/entity/", concept.EntityPrefix())

	all, err := ParseURIScheme("entity=http://x.test/e/,statement=http://x.test/s/,reference=http://x.test/r/," +
		"value=http://x.test/v/,prop=http://x.test/p/,entity-data=https://x.test/d/,genid=http://x.test/g/")
	require.NoError(t, err)
	assert.Equal(t, "http://x.test/s/", all.StatementPrefix())
	assert.Equal(t, "http://x.test/r/", all.ReferencePrefix())
	assert.Equal(t, "http://x.test/v/", all.ValuePrefix())
	assert.Equal(t, "http://x.test/p/qualifier/", all.PropertyPrefix(PropQualifier))
	assert.Equal(t, "http://x.test/g/", all.GenIDPrefix())
	assert.Equal(t, []string{"https://x.test/d/", "http://x.test/d/"}, all.EntityDataPrefixes())

	for spec, wantInErr := range map[string]string{
		"":                                     "empty scheme",
		"wikidat":                              "not an absolute http(s) URL",
		"statement=http://x.test/s/":           "entity namespace is required",
		"entity=http://x.test/e":               "must end in '/' or '#'",
		"entity=http://x.test/,bogus=http://y": `unknown key "bogus"`,
		"entity=http://x.test/,entity=http://x.test/": "given twice",
		"entity=ftp://x.test/":                        "not an absolute http(s) IRI",
		"entity=http://x.test/,value=http://x.test/":  "for entities and for statements",
		"entity=http://x.test/,prop=":                 "has no IRI",
	} {
		_, err := ParseURIScheme(spec)
		require.Error(t, err, spec)
		assert.ErrorIs(t, err, ErrInvalidURIScheme, spec)
		assert.Contains(t, err.Error(), wantInErr, spec)
	}
}

// TestMungeAWikibaseWithEntitiesUnderItsHost munges real Q42 as served by a
// Wikibase whose entities are http://example.test/Q42: the result is
// Wikidata's munged Q42 in that Wikibase's namespaces, triple for triple.
func TestMungeAWikibaseWithEntitiesUnderItsHost(t *testing.T) {
	ttl := readFixture(t, "rdf-entities/raw/Q42.ttl")
	want, err := NewMunger(WikidataScheme()).MungeEntity("Q42", parseString(t, ttl))
	require.NoError(t, err)

	got, err := NewMunger(exampleScheme(t)).MungeEntity("Q42", parseString(t, exampleLayout.Replace(ttl)))
	require.NoError(t, err)
	assert.Equal(t, want.Revision, got.Revision)
	assert.Equal(t, want.LastModified, got.LastModified)
	assert.Empty(t, got.Unrecognized)
	require.Greater(t, len(got.Triples), 1000)
	assert.Equal(t, sortedLines(want.Triples, exampleLayout), sortedLines(got.Triples, nil))
	mtHas(t, got.Triples, mtT(mtI("http://example.test/Q42"), mtSchema+"version", mtInt("1997465481")))

	// The diff of two revisions classifies shared nodes by the same namespaces.
	p := Diff(nil, got.Triples, WikibaseShared(exampleScheme(t)))
	require.NotEmpty(t, p.LinkedShared)
	for _, tr := range p.LinkedShared {
		v := tr.S.Value()
		assert.True(t, strings.HasPrefix(v, "http://example.test/value/") || strings.HasPrefix(v, "http://example.test/reference/") ||
			tr.P == wv.WikibaseWikiGroup, "%s", tr)
	}
}

func TestMungeNormalisesOntologyBeta(t *testing.T) {
	ttl := readFixture(t, "rdf-entities/raw/Q42.ttl")
	want, err := NewMunger(WikidataScheme()).Munge("Q42", parseString(t, ttl))
	require.NoError(t, err)

	beta := strings.ReplaceAll(ttl, "<http://wikiba.se/ontology#>", "<"+NamespaceOntologyBeta+">")
	require.NotEqual(t, ttl, beta)
	raw := parseString(t, beta)
	require.True(t, slices.ContainsFunc(raw, func(tr Triple) bool { return tr.P.HasPrefix(NamespaceOntologyBeta) }))
	got, err := NewMunger(WikidataScheme()).Munge("Q42", raw)
	require.NoError(t, err)
	assert.Equal(t, sortedLines(want, nil), sortedLines(got, nil))

	// Datatypes too; other IRIs and the input are left alone.
	in := []Triple{
		mtT(mtI(mtWD+"Q1"), NamespaceOntologyBeta+"geoPrecision", NewTypedLiteral("1", NamespaceOntologyBeta+"x")),
		mtT(mtI(mtWD+"Q1"), mtRDFS+"label", NewLangLiteral("ontology-beta#", "en")),
	}
	out := NormalizeOntologyBeta(in)
	assert.Equal(t, mtT(mtI(mtWD+"Q1"), mtWB+"geoPrecision", NewTypedLiteral("1", mtWB+"x")), out[0])
	assert.Equal(t, in[1], out[1])
	assert.True(t, in[0].P.HasPrefix(NamespaceOntologyBeta), "input modified")
	plain := in[1:]
	assert.Same(t, &plain[0], &NormalizeOntologyBeta(plain)[0], "no copy without beta IRIs")
}

func TestMungeDumpKeepsTheHeader(t *testing.T) {
	raw := mungeFixture(t, "rdf-entities/raw/small_dump_chunk.ttl")
	m := NewMunger(WikidataScheme())
	d, err := m.MungeDump(raw)
	require.NoError(t, err)

	dump := mtI(mtWB + "Dump")
	assert.Equal(t, "1.0.0", d.FormatVersion)
	for _, tr := range []Triple{
		mtT(dump, RDFType, mtI(mtSchema+"Dataset")),
		mtT(dump, RDFType, mtI("http://www.w3.org/2002/07/owl#Ontology")),
		mtT(dump, "http://creativecommons.org/ns#license", mtI("http://creativecommons.org/publicdomain/zero/1.0/")),
		mtT(dump, mtSchema+"softwareVersion", NewLiteral("1.0.0")),
		mtT(dump, mtSchema+"dateModified", mtDate("2020-03-02T23:00:02Z")),
		mtT(dump, mtSchema+"dateModified", mtDate("2020-03-02T23:24:20Z")), // the second chunk's header
		mtT(dump, "http://www.w3.org/2002/07/owl#imports", mtI("http://wikiba.se/ontology-1.0.owl")),
	} {
		mtHas(t, d.Header, tr)
	}
	assert.Len(t, d.Header, 7)

	require.Len(t, d.Entities, 2)
	var want []Triple
	want = append(want, d.Header...)
	for i, id := range []string{"Q31", "Q8"} {
		me, err := m.MungeEntity(id, raw)
		require.NoError(t, err)
		assert.Equal(t, me.Triples, d.Entities[i].Triples, id)
		assert.Equal(t, me.Revision, d.Entities[i].Revision, id)
		assert.Empty(t, d.Entities[i].Unrecognized, "a dump block holds only its entity")
		want = append(want, me.Triples...)
	}
	assert.Equal(t, sortedSet(want), d.Triples)

	// Munge (one entity of Special:EntityData) still drops the header.
	for _, tr := range d.Entities[0].Triples {
		assert.NotEqual(t, dump, tr.S)
	}

	old := slices.Clone(raw)
	for i, tr := range old {
		if tr.P.IsIRIEqual(mtSchema + "softwareVersion") {
			old[i].O = NewLiteral("0.0.5")
		}
	}
	_, err = m.MungeDump(old)
	require.ErrorIs(t, err, ErrUnsupportedDumpFormat)
	assert.Contains(t, err.Error(), "0.0.5")

	_, err = m.MungeDump(parseString(t, `<http://example.org/a> <http://example.org/b> "c" .`))
	require.ErrorIs(t, err, ErrNoEntityData)
}

func TestMungeDumpOfMediaInfo(t *testing.T) {
	raw := mungeFixture(t, "rdf-entities/raw/commons_mediainfo_dump.ttl")
	m := NewMunger(CommonsScheme())
	d, err := m.MungeDump(raw)
	require.NoError(t, err)
	var ids []string
	for _, e := range d.Entities {
		ids = append(ids, e.EntityID)
		one, err := m.MungeEntity(e.EntityID, raw)
		require.NoError(t, err)
		assert.Equal(t, one.Triples, e.Triples)
	}
	assert.ElementsMatch(t, []string{"M6580719", "M50827445"}, ids)
}

// labelsOf returns the rdfs:label, schema:description and skos:altLabel
// triples of subject s, by predicate.
func labelsOf(ts []Triple, s Term) map[Term][]Term {
	out := map[Term][]Term{}
	for _, tr := range ts {
		if tr.S == s && (tr.P == wv.RDFSLabel || tr.P == iriSchemaDescription || tr.P == iriSKOSAltLabel) {
			out[tr.P] = append(out[tr.P], tr.O)
		}
	}
	return out
}

func TestMungeLabelLanguagesAndSingleLabel(t *testing.T) {
	raw := mungeFixture(t, "rdf-entities/raw/Q42.ttl")
	q42 := mtI(mtWD + "Q42")
	full, err := NewMunger(WikidataScheme()).Munge("Q42", raw)
	require.NoError(t, err)
	fullLabels := labelsOf(full, q42)
	require.Greater(t, len(fullLabels[wv.RDFSLabel]), 50)
	require.NotEmpty(t, fullLabels[iriSKOSAltLabel])

	limited, err := NewMunger(WikidataScheme(), MungeLabelLanguages("en", "DE")).Munge("Q42", raw)
	require.NoError(t, err)
	got := labelsOf(limited, q42)
	for p, os := range fullLabels {
		var want []Term
		for _, o := range os {
			if o.Lang() == "en" || o.Lang() == "de" {
				want = append(want, o)
			}
		}
		require.NotEmpty(t, want, "%s", p)
		assert.ElementsMatch(t, want, got[p], "%s", p)
	}
	// Everything else is untouched.
	isTerm := func(tr Triple) bool {
		return tr.S == q42 && (tr.P == wv.RDFSLabel || tr.P == iriSchemaDescription || tr.P == iriSKOSAltLabel)
	}
	assert.Equal(t, slices.DeleteFunc(slices.Clone(full), isTerm), slices.DeleteFunc(slices.Clone(limited), isTerm))
	// Sitelink names are not entity labels.
	mtHas(t, limited, mtT(mtI("https://af.wikipedia.org/wiki/Douglas_Adams"), mtSchema+"name", NewLangLiteral("Douglas Adams", "af")))

	single, err := NewMunger(WikidataScheme(), MungeSingleLabel("xx-none", "ru", "en")).Munge("Q42", raw)
	require.NoError(t, err)
	got = labelsOf(single, q42)
	assert.Equal(t, []Term{NewLangLiteral("Дуглас Адамс", "ru")}, got[wv.RDFSLabel])
	require.Len(t, got[iriSchemaDescription], 1)
	assert.Equal(t, "ru", got[iriSchemaDescription][0].Lang())
	assert.ElementsMatch(t, fullLabels[iriSKOSAltLabel], got[iriSKOSAltLabel], "aliases are not limited by single-label")

	none, err := NewMunger(WikidataScheme(), MungeSingleLabel("xx-none")).Munge("Q42", raw)
	require.NoError(t, err)
	got = labelsOf(none, q42)
	assert.Empty(t, got[wv.RDFSLabel])
	assert.Empty(t, got[iriSchemaDescription])
	assert.Equal(t, len(full)-len(fullLabels[wv.RDFSLabel])-len(fullLabels[iriSchemaDescription]), len(none))
}

func TestMungeWikibaseErrorsAreSentinels(t *testing.T) {
	_, err := NewWikibaseURIScheme(WikibaseNamespaces{Entity: "http://x.test/", GenID: "http://x.test/genid"})
	require.True(t, errors.Is(err, ErrInvalidURIScheme))
	assert.Contains(t, err.Error(), "genid namespace")
}
