package rdfdiff

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSkolemizeSubject(t *testing.T) {
	const base = "http://example.org/"
	s := "http://example.org/doc/1"
	ts := []Triple{
		{S: NewIRI(s), P: NewIRI("http://p"), O: NewBlankNode("b1")},
		{S: NewBlankNode("b1"), P: NewIRI("http://q"), O: NewLiteral("x")},
	}
	got := SkolemizeSubject(base, s, ts)
	prefix := SubjectSkolemPrefix(base, s)
	assert.Equal(t, prefix, SubjectSkolemPrefix("http://example.org", s), "a base without a final slash gets one")
	assert.Regexp(t, `^http://example\.org/\.well-known/genid/[0-9a-f]{32}/$`, prefix)
	assert.Equal(t, NewIRI(prefix+"b1"), got[0].O)
	assert.Equal(t, NewIRI(prefix+"b1"), got[1].S)
	assert.True(t, ts[0].O.IsBlankNode(), "the input is not modified")
	assert.NotEqual(t, prefix, SubjectSkolemPrefix(base, "http://example.org/doc/2"), "each subject has its own prefix")
	plain := []Triple{{S: NewIRI(s), P: NewIRI("http://p"), O: NewLiteral("x")}}
	assert.Same(t, &plain[0], &SkolemizeSubject(base, s, plain)[0], "no copy without blank nodes")
	require.NoError(t, CheckSubjectDocument(base, s, got))
}

func TestCheckSubjectDocument(t *testing.T) {
	const base = "http://example.org/"
	s := "http://example.org/doc/1"
	pfx := SubjectSkolemPrefix(base, s)
	p := NewIRI("http://p")
	chain := func(n int) []Triple { // s -> k1 -> k2 … -> kn, each with a literal
		var ts []Triple
		prev := NewIRI(s)
		for i := 1; i <= n; i++ {
			k := NewIRI(pfx + string(rune('a'+i)))
			ts = append(ts, Triple{S: prev, P: p, O: k}, Triple{S: k, P: p, O: NewLiteral("v")})
			prev = k
		}
		return ts
	}
	require.NoError(t, CheckSubjectDocument(base, s, chain(SubjectSkolemDepth)))
	cycle := append(chain(2), Triple{S: NewIRI(pfx + "c"), P: p, O: NewIRI(pfx + "b")})
	require.NoError(t, CheckSubjectDocument(base, s, cycle), "a cycle among skolem nodes is fine")
	for name, ts := range map[string][]Triple{
		"too deep":      chain(SubjectSkolemDepth + 1),
		"other subject": {{S: NewIRI("http://example.org/doc/2"), P: p, O: NewLiteral("x")}},
		"unreachable":   {{S: NewIRI(pfx + "z"), P: p, O: NewLiteral("x")}},
		"blank node":    {{S: NewIRI(s), P: p, O: NewBlankNode("b")}},
		"foreign skolem": {{S: NewIRI(s), P: p, O: NewIRI(SubjectSkolemPrefix(base, "http://x/") + "k")},
			{S: NewIRI(SubjectSkolemPrefix(base, "http://x/") + "k"), P: p, O: NewLiteral("x")}},
	} {
		assert.ErrorIs(t, CheckSubjectDocument(base, s, ts), ErrSubjectDocument, name)
	}
	assert.ErrorIs(t, CheckSubjectDocument(base, "not an IRI", nil), ErrSubjectDocument)
}
