package rdfdiff

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSkolemize(t *testing.T) {
	s := WikidataScheme()
	b := NewBlankNode("4249d9c21f8b973644e0eab84cdaaf17")
	sk := s.Skolemize(b)
	assert.Equal(t, "<http://www.wikidata.org/.well-known/genid/4249d9c21f8b973644e0eab84cdaaf17>", sk.String())
	assert.True(t, s.IsSkolemIRI(sk))
	assert.False(t, s.IsSkolemIRI(b))
	assert.False(t, s.IsSkolemIRI(NewIRI("http://www.wikidata.org/.well-known/genid/")), "the bare prefix is no skolem IRI")
	assert.False(t, CommonsScheme().IsSkolemIRI(sk), "another install's genid")
	assert.Equal(t, "<https://commons.wikimedia.org/.well-known/genid/4249d9c21f8b973644e0eab84cdaaf17>", CommonsScheme().Skolemize(b).String())

	for _, tm := range []Term{NewIRI("http://example.org/x"), NewLiteral("_:x"), {}} {
		assert.Equal(t, tm, s.Skolemize(tm), "non-blank terms are unchanged")
	}
	assert.Equal(t, b, URIScheme{}.Skolemize(b), "the zero scheme has no genid prefix")

	tr := Triple{S: NewBlankNode("a"), P: NewIRI(RDFType), O: NewBlankNode("b")}
	assert.Equal(t, Triple{
		S: NewIRI("http://www.wikidata.org/.well-known/genid/a"),
		P: NewIRI(RDFType),
		O: NewIRI("http://www.wikidata.org/.well-known/genid/b"),
	}, s.SkolemizeTriple(tr))
}

func TestSkolemizeTriplesCopiesOnlyOnChange(t *testing.T) {
	s := WikidataScheme()
	plain := []Triple{
		{S: NewIRI("http://example.org/s"), P: NewIRI(RDFType), O: NewIRI("http://example.org/o")},
		{S: NewIRI("http://example.org/s"), P: NewIRI(RDFType), O: NewLiteral("x")},
	}
	out := s.SkolemizeTriples(plain)
	assert.Equal(t, &plain[0], &out[0], "no blank node: same slice")

	mixed := append(slices.Clone(plain), Triple{S: NewIRI("http://example.org/s"), P: NewIRI(RDFType), O: NewBlankNode("b")}, plain[0])
	orig := slices.Clone(mixed)
	out = s.SkolemizeTriples(mixed)
	assert.Equal(t, orig, mixed, "input not modified")
	assert.Len(t, out, 4)
	assert.Equal(t, plain, out[:2])
	assert.Equal(t, NewIRI("http://www.wikidata.org/.well-known/genid/b"), out[2].O)
	assert.Equal(t, plain[0], out[3])
}
