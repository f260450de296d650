package rdfdiff

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWikidataSchemeNamespaces(t *testing.T) {
	s := WikidataScheme()
	assert.Equal(t, "http://www.wikidata.org", s.ConceptURI())
	assert.Equal(t, "http://www.wikidata.org/entity/", s.EntityPrefix())
	assert.Equal(t, "http://www.wikidata.org/entity/statement/", s.StatementPrefix())
	assert.Equal(t, "http://www.wikidata.org/value/", s.ValuePrefix())
	assert.Equal(t, "http://www.wikidata.org/reference/", s.ReferencePrefix())
	assert.Equal(t, "http://www.wikidata.org/.well-known/genid/", s.GenIDPrefix())
	assert.Equal(t, []string{
		"https://www.wikidata.org/wiki/Special:EntityData/",
		"http://www.wikidata.org/wiki/Special:EntityData/",
	}, s.EntityDataPrefixes())
	assert.Equal(t, "http://www.wikidata.org/prop/", s.PropertyPrefix(PropClaim))
	assert.Equal(t, "http://www.wikidata.org/prop/direct/", s.PropertyPrefix(PropDirect))
	assert.Equal(t, "http://www.wikidata.org/prop/statement/value-normalized/", s.PropertyPrefix(PropStatementValueNormalized))
	assert.Equal(t, "http://www.wikidata.org/prop/reference/value/", s.PropertyPrefix(PropReferenceValue))
	assert.Equal(t, "http://www.wikidata.org/prop/novalue/", s.PropertyPrefix(PropNoValue))
	assert.Equal(t, "", s.PropertyPrefix(numPropertyKinds))

	assert.Equal(t, "http://www.wikidata.org/entity/Q42", s.EntityIRI("Q42"))
	assert.Equal(t, NewIRI("http://www.wikidata.org/entity/L1-F2"), s.EntityTerm("L1-F2"))
	for iri, want := range map[string]string{
		"http://www.wikidata.org/entity/Q42":             "Q42",
		"http://www.wikidata.org/entity/L4696-S1":        "L4696-S1",
		"http://www.wikidata.org/entity/statement/Q42-x": "",
		"http://www.wikidata.org/entity/":                "",
		"https://www.wikidata.org/entity/Q42":            "",
		"http://www.wikidata.org/value/abc":              "",
	} {
		id, ok := s.EntityID(iri)
		assert.Equal(t, want, id, iri)
		assert.Equal(t, want != "", ok, iri)
		assert.Equal(t, want != "", s.IsEntity(NewIRI(iri)), iri)
	}
}

func TestInNamespaceRejectsNestedNamespaces(t *testing.T) {
	s := WikidataScheme()
	assert.True(t, InNamespace("http://www.wikidata.org/prop/P31", "http://www.wikidata.org/prop/"))
	assert.False(t, InNamespace("http://www.wikidata.org/prop/direct/P31", "http://www.wikidata.org/prop/"))
	assert.True(t, InNamespace("http://www.wikidata.org/prop/", "http://www.wikidata.org/prop/"))
	assert.False(t, InNamespace("http://www.wikidata.org/pro", "http://www.wikidata.org/prop/"))

	assert.True(t, s.InPropertyNamespace(NewIRI("http://www.wikidata.org/prop/P31"), PropClaim))
	assert.False(t, s.InPropertyNamespace(NewIRI("http://www.wikidata.org/prop/direct/P31"), PropClaim))
	assert.True(t, s.InPropertyNamespace(NewIRI("http://www.wikidata.org/prop/direct/P31"), PropDirect))
	assert.True(t, s.InValueNamespace(NewIRI("http://www.wikidata.org/value/abc")))
	assert.False(t, s.InValueNamespace(NewIRI("http://www.wikidata.org/value/abc/def")))
	assert.False(t, s.InValueNamespace(NewLiteral("http://www.wikidata.org/value/abc")), "literals are in no namespace")
	assert.True(t, s.InReferenceNamespace(NewIRI("http://www.wikidata.org/reference/abc")))
	assert.True(t, s.InStatementNamespace(NewIRI("http://www.wikidata.org/entity/statement/Q1-abc")))
	assert.True(t, s.InEntityDataNamespace(NewIRI("https://www.wikidata.org/wiki/Special:EntityData/Q1")))
	assert.True(t, s.InEntityDataNamespace(NewIRI("http://www.wikidata.org/wiki/Special:EntityData/Q1")))
	assert.False(t, s.InEntityDataNamespace(NewIRI("https://commons.wikimedia.org/wiki/Special:EntityData/M1")))
}

func TestCommonsSchemeFederatesToWikidata(t *testing.T) {
	s := CommonsScheme()
	assert.Equal(t, "https://commons.wikimedia.org/entity/M6580719", s.EntityIRI("M6580719"))
	assert.Equal(t, "http://www.wikidata.org/entity/Q42", s.EntityIRI("Q42"))
	assert.Equal(t, "http://www.wikidata.org/entity/P31", s.EntityIRI("P31"))
	assert.Equal(t, "http://www.wikidata.org/prop/direct/", s.PropertyPrefix(PropDirect))
	assert.Equal(t, "https://commons.wikimedia.org/entity/statement/", s.StatementPrefix())
	assert.Equal(t, "https://commons.wikimedia.org/value/", s.ValuePrefix())
	assert.Equal(t, "https://commons.wikimedia.org/.well-known/genid/", s.GenIDPrefix())
	assert.Equal(t, "https://commons.wikimedia.org/wiki/Special:EntityData/", s.EntityDataPrefixes()[0])

	id, ok := s.EntityID("http://www.wikidata.org/entity/Q5")
	assert.True(t, ok)
	assert.Equal(t, "Q5", id)
	id, ok = s.EntityID("https://commons.wikimedia.org/entity/M1")
	assert.True(t, ok)
	assert.Equal(t, "M1", id)
	assert.True(t, s.IsEntity(NewIRI("http://www.wikidata.org/entity/Q5")))
	assert.True(t, s.IsEntity(NewIRI("https://commons.wikimedia.org/entity/M1")))
	assert.False(t, s.IsEntity(NewIRI("https://commons.wikimedia.org/entity/statement/M1-x")))
	assert.False(t, s.IsEntity(NewIRI("https://commons.wikimedia.org.example/entity/M1")))
}

func TestNewURISchemeForAnotherWikibase(t *testing.T) {
	s, err := NewURIScheme("https://wikibase.example.org:8443/",
		WithEntityDataPrefix("https://data.example.org/EntityData"))
	require.NoError(t, err)
	assert.Equal(t, "https://wikibase.example.org:8443", s.ConceptURI())
	assert.Equal(t, "https://wikibase.example.org:8443/entity/Q1", s.EntityIRI("Q1"))
	assert.Equal(t, "https://wikibase.example.org:8443/.well-known/genid/", s.GenIDPrefix())
	assert.Equal(t, []string{"https://data.example.org/EntityData/", "http://data.example.org/EntityData/"}, s.EntityDataPrefixes())
	assert.True(t, s.InEntityDataNamespace(NewIRI("http://data.example.org/EntityData/Q1")))

	// A scheme value is immutable: the slice handed out is a copy.
	s.EntityDataPrefixes()[0] = "mutated"
	assert.Equal(t, "https://data.example.org/EntityData/", s.EntityDataPrefixes()[0])

	for _, bad := range []string{"", "wikibase.example.org", "ftp://x.org", "http://", "http://x.org/?a=b", "http://x.org/#f", "http://x.org/a b", "http://x.org/%zz"} {
		_, err := NewURIScheme(bad)
		assert.ErrorIs(t, err, ErrInvalidURIScheme, "%q", bad)
	}
	_, err = NewURIScheme("http://x.org", WithEntityDataPrefix("data/"))
	assert.ErrorIs(t, err, ErrInvalidURIScheme)
	_, err = NewURIScheme("http://x.org", WithEntityInitials(""))
	assert.ErrorIs(t, err, ErrInvalidURIScheme)
	_, err = NewURIScheme("http://x.org", WithFederation(URIScheme{}))
	assert.ErrorIs(t, err, ErrInvalidURIScheme)

	var zero URIScheme
	assert.False(t, zero.IsEntity(NewIRI("http://x.org/entity/Q1")))
	_, ok := zero.EntityID("http://x.org/entity/Q1")
	assert.False(t, ok)
	assert.False(t, zero.InValueNamespace(NewIRI("http://x.org/value/a")))
	assert.Equal(t, "", zero.PropertyPrefix(PropClaim))
}
