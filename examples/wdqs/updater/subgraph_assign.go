package updater

import (
	"strconv"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// SubgraphSet is a set of subgraphs, one bit per index in
// SubgraphDefinitions.Subgraphs: the compact form the updater checkpoints
// per entity.
type SubgraphSet uint64

// Has reports whether subgraph i is in the set.
func (s SubgraphSet) Has(i int) bool { return i >= 0 && i < 64 && s&(1<<uint(i)) != 0 }

// With returns the set with subgraph i added.
func (s SubgraphSet) With(i int) SubgraphSet { return s | 1<<uint(i) }

// Names returns the names of the set's subgraphs in definition order, for
// logs and tests.
func (s SubgraphSet) Names(d *SubgraphDefinitions) []string {
	var out []string
	for i, g := range d.Subgraphs {
		if s.Has(i) {
			out = append(out, g.Name)
		}
	}
	return out
}

// String returns the bit set, e.g. "{0,2}".
func (s SubgraphSet) String() string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for i := range 64 {
		if s.Has(i) {
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(strconv.Itoa(i))
		}
	}
	b.WriteByte('}')
	return b.String()
}

// SubgraphAssigner decides which subgraphs hold an entity (SubgraphAssigner
// in WDQS): each subgraph's rules are tried in order on the entity's munged
// triples, the first that matches decides pass or block, and the default
// decides when none matches. It is immutable and safe for concurrent use.
type SubgraphAssigner struct {
	defs   *SubgraphDefinitions
	scheme rdfdiff.URIScheme
}

// NewSubgraphAssigner returns the assigner of defs; entity IDs become IRIs
// (?entity) with scheme.
func NewSubgraphAssigner(defs *SubgraphDefinitions, scheme rdfdiff.URIScheme) *SubgraphAssigner {
	return &SubgraphAssigner{defs: defs, scheme: scheme}
}

// Definitions returns the definitions the assigner evaluates.
func (a *SubgraphAssigner) Definitions() *SubgraphDefinitions { return a.defs }

// Assign returns the subgraphs that hold entity entityID given its munged
// triples (as rdfdiff.Munger returns them). It reads ts and does not keep
// it.
func (a *SubgraphAssigner) Assign(entityID string, ts []rdfdiff.Triple) SubgraphSet {
	entity := a.scheme.EntityIRI(entityID)
	var set SubgraphSet
	for i, g := range a.defs.Subgraphs {
		pass := g.DefaultPass
		for _, r := range g.Rules {
			if r.matchesAny(entity, ts) {
				pass = r.Pass
				break
			}
		}
		if pass {
			set = set.With(i)
		}
	}
	return set
}

// matchesAny reports whether a triple of ts matches the rule's pattern.
func (r *SubgraphRule) matchesAny(entity string, ts []rdfdiff.Triple) bool {
	for i := range ts {
		t := &ts[i]
		if r.p.match(t.P, entity) && r.s.match(t.S, entity) && r.o.match(t.O, entity) {
			return true
		}
	}
	return false
}

func (pt *patternTerm) match(t rdfdiff.Term, entity string) bool {
	switch pt.kind {
	case patAny:
		return true
	case patEntity:
		return t.IsIRIEqual(entity)
	case patIRI:
		return t.IsIRIEqual(pt.iri)
	case patBinding:
		if !t.IsIRI() {
			return false
		}
		_, ok := pt.set[t.Value()]
		return ok
	}
	return false
}
