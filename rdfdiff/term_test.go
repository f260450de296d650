package rdfdiff

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTermConstructorsCanonicalForm(t *testing.T) {
	tests := []struct {
		name     string
		term     Term
		nt       string
		kind     Kind
		value    string
		lang     string
		datatype string
	}{
		{"iri", NewIRI("http://www.wikidata.org/entity/Q42"), "<http://www.wikidata.org/entity/Q42>", KindIRI, "http://www.wikidata.org/entity/Q42", "", ""},
		{"iri with forbidden chars", NewIRI("http://ex/a b>\"c"), `<http://ex/a\u0020b\u003E\u0022c>`, KindIRI, "http://ex/a b>\"c", "", ""},
		{"blank", NewBlankNode("4249d9c21f8b973644e0eab84cdaaf17"), "_:4249d9c21f8b973644e0eab84cdaaf17", KindBlankNode, "4249d9c21f8b973644e0eab84cdaaf17", "", ""},
		{"simple literal", NewLiteral("Douglas Adams"), `"Douglas Adams"`, KindLiteral, "Douglas Adams", "", XSDString},
		{"xsd:string is simple", NewTypedLiteral("x", XSDString), `"x"`, KindLiteral, "x", "", XSDString},
		{"empty datatype is simple", NewTypedLiteral("x", ""), `"x"`, KindLiteral, "x", "", XSDString},
		{"lang lower-cased", NewLangLiteral("Douglas", "EN-GB"), `"Douglas"@en-gb`, KindLiteral, "Douglas", "en-gb", RDFLangString},
		{"empty lang is simple", NewLangLiteral("x", ""), `"x"`, KindLiteral, "x", "", XSDString},
		{"typed", NewTypedLiteral("1952-03-11T00:00:00Z", XSDDateTime), `"1952-03-11T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime>`, KindLiteral, "1952-03-11T00:00:00Z", "", XSDDateTime},
		{"escapes", NewLiteral("a\"b\\c\nd\re\tf"), "\"a\\\"b\\\\c\\nd\\re\tf\"", KindLiteral, "a\"b\\c\nd\re\tf", "", XSDString},
		{"quote in lang literal", NewLangLiteral(`say "hi"`, "en"), `"say \"hi\""@en`, KindLiteral, `say "hi"`, "en", RDFLangString},
		{"unicode", NewLiteral("Ünïcødé ☃ 𝄞"), `"Ünïcødé ☃ 𝄞"`, KindLiteral, "Ünïcødé ☃ 𝄞", "", XSDString},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.nt, tt.term.String())
			assert.Equal(t, tt.kind, tt.term.Kind())
			assert.Equal(t, tt.value, tt.term.Value())
			assert.Equal(t, tt.lang, tt.term.Lang())
			assert.Equal(t, tt.datatype, tt.term.Datatype())
			assert.False(t, tt.term.IsZero())
		})
	}
}

func TestTermEqualityFollowsRDF11(t *testing.T) {
	assert.Equal(t, NewLiteral("a"), NewTypedLiteral("a", XSDString))
	assert.Equal(t, NewLangLiteral("a", "EN"), NewLangLiteral("a", "en"))
	assert.NotEqual(t, NewLiteral("a"), NewLangLiteral("a", "en"))
	assert.NotEqual(t, NewTypedLiteral("01", XSDInteger), NewTypedLiteral("1", XSDInteger))
	assert.NotEqual(t, NewIRI("http://ex/a"), NewLiteral("http://ex/a"))

	set := map[Triple]struct{}{}
	tr := Triple{NewIRI("http://ex/s"), NewIRI("http://ex/p"), NewLiteral("o")}
	set[tr] = struct{}{}
	set[Triple{NewIRI("http://ex/s"), NewIRI("http://ex/p"), NewTypedLiteral("o", XSDString)}] = struct{}{}
	assert.Len(t, set, 1)
}

func TestTermZeroAndKinds(t *testing.T) {
	var z Term
	assert.True(t, z.IsZero())
	assert.Equal(t, KindInvalid, z.Kind())
	assert.Equal(t, "", z.Value())
	assert.Equal(t, "", z.Datatype())
	assert.Equal(t, "invalid", z.Kind().String())
	assert.Equal(t, "IRI", KindIRI.String())
	assert.Equal(t, "blank node", KindBlankNode.String())
	assert.Equal(t, "literal", KindLiteral.String())
	assert.True(t, NewIRI("http://x").IsIRI())
	assert.True(t, NewBlankNode("b").IsBlankNode())
	assert.True(t, NewLiteral("").IsLiteral())
	assert.Equal(t, "", NewLiteral("").Value())
}

func TestTermPrefixAndEquality(t *testing.T) {
	q42 := NewIRI("http://www.wikidata.org/entity/Q42")
	assert.True(t, q42.HasPrefix("http://www.wikidata.org/entity/"))
	assert.False(t, q42.HasPrefix("http://www.wikidata.org/prop/"))
	assert.False(t, NewLiteral("http://www.wikidata.org/entity/Q42").HasPrefix("http://www.wikidata.org/"))
	assert.True(t, q42.IsIRIEqual("http://www.wikidata.org/entity/Q42"))
	assert.False(t, q42.IsIRIEqual("http://www.wikidata.org/entity/Q4"))
	assert.False(t, NewLiteral("x").IsIRIEqual("x"))
}

func TestLexicalLen(t *testing.T) {
	assert.Equal(t, 3, NewLiteral("abc").LexicalLen())
	assert.Equal(t, 4, NewLiteral("a\"\nb").LexicalLen())
	assert.Equal(t, len("☃"), NewLangLiteral("☃", "en").LexicalLen())
	assert.Equal(t, 0, NewIRI("http://x").LexicalLen())
}

func TestAppendEscapedStringReplacesInvalidUTF8(t *testing.T) {
	got := string(AppendEscapedString(nil, "a\xffb"))
	assert.Equal(t, "a\uFFFDb", got)
	assert.Equal(t, `<http://x/a`+"\uFFFD"+`>`, NewIRI("http://x/a\xff").String())
}

func TestTripleStringAndCompare(t *testing.T) {
	a := Triple{NewIRI("http://ex/a"), NewIRI("http://ex/p"), NewLiteral("1")}
	b := Triple{NewIRI("http://ex/b"), NewIRI("http://ex/p"), NewLiteral("1")}
	assert.Equal(t, `<http://ex/a> <http://ex/p> "1" .`, a.String())
	assert.Negative(t, a.Compare(b))
	assert.Positive(t, b.Compare(a))
	assert.Zero(t, a.Compare(a))
	c := a
	c.O = NewLiteral("2")
	assert.Negative(t, a.Compare(c))
	require.Positive(t, NewBlankNode("a").Compare(NewIRI("http://z")), "blank nodes sort after IRIs")
	require.Negative(t, NewLiteral("z").Compare(NewIRI("http://a")), "literals sort before IRIs")
	require.True(t, strings.HasPrefix(NewIRI("http://a").String(), "<"))
}

func BenchmarkTermMapKey(b *testing.B) {
	set := make(map[Triple]struct{}, 1024)
	ts := make([]Triple, 1024)
	for i := range ts {
		ts[i] = Triple{
			NewIRI("http://www.wikidata.org/entity/statement/Q42-" + strings.Repeat("a", i%7)),
			NewIRI("http://www.wikidata.org/prop/statement/P31"),
			NewLangLiteral("value "+strings.Repeat("x", i%13), "en"),
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set[ts[i%len(ts)]] = struct{}{}
	}
}

func TestAccessorsSurviveMalformedSuffixes(t *testing.T) {
	lit := NewLangLiteral(`a"b`, `e"n`)
	assert.Equal(t, `a"b`, lit.Value())
	assert.Equal(t, `e"n`, lit.Lang())
	typed := NewTypedLiteral(`x\`, `http://ex/"dt`)
	assert.Equal(t, `x\`, typed.Value())
	assert.Equal(t, `http://ex/"dt`, typed.Datatype())
	assert.Equal(t, 2, typed.LexicalLen())
}
