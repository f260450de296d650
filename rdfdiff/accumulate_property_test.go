package rdfdiff

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The property test checks the accumulator against its definition: a store
// that applies each batch's ConsolidatedPatch ends in the same state as a
// store that applies every change one by one. Entities are generated with
// consistent per-entity histories (diffs go from the state the entity is in,
// as the producer guarantees), so no triple is shared by two entities' own
// data and the shared triples of a value node are a function of its name,
// as Wikibase's content-hash IRIs make them.

// accModel is a set-based store with the WDQS apply semantics.
type accModel struct {
	g     map[Triple]bool
	owner func(Triple) string // the entity a non-shared triple belongs to, or ""
}

func (m *accModel) applyChange(c *EntityChange) {
	switch c.Operation {
	case OpDelete:
		m.deleteEntity(c.EntityID)
	case OpReconcile:
		m.deleteEntity(c.EntityID)
		m.insert(c.Patch.Added)
		m.insert(c.Patch.LinkedShared)
	default:
		for _, t := range c.Patch.Removed {
			delete(m.g, t)
		}
		m.insert(c.Patch.Added)
		m.insert(c.Patch.LinkedShared)
		// UnlinkedShared: never deleted by a WDQS store.
	}
}

// applyBatch applies a ConsolidatedPatch in its documented order.
func (m *accModel) applyBatch(c *ConsolidatedPatch) {
	for _, t := range c.Removed {
		delete(m.g, t)
	}
	m.insert(c.Added)
	m.insert(c.LinkedShared)
	for _, id := range c.DeletedEntities {
		m.deleteEntity(id)
	}
	for _, r := range c.Reconciliations {
		m.deleteEntity(r.EntityID)
		m.insert(r.Triples)
	}
}

func (m *accModel) insert(ts []Triple) {
	for _, t := range ts {
		m.g[t] = true
	}
}

func (m *accModel) deleteEntity(id string) {
	for t := range m.g {
		if m.owner(t) == id {
			delete(m.g, t)
		}
	}
}

// collected returns the graph without shared triples whose node no triple
// links to: the orphans a WDQS store keeps and the merge may skip.
func (m *accModel) collected() []Triple {
	used := map[Term]bool{}
	for t := range m.g {
		if m.owner(t) != "" {
			used[t.O] = true
		}
	}
	var out []Triple
	for t := range m.g {
		if m.owner(t) != "" || used[t.S] {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, Triple.Compare)
	return out
}

// accGen generates consistent histories for a few entities.
type accGen struct {
	rng      *rand.Rand
	universe map[string][]Triple // entity ID → every own triple it may have
	state    map[string]map[Triple]bool
	exists   map[string]bool
	owners   map[Term]string
	rev      int64
}

const accGenValues = 12

func newAccGen(seed uint64, entities int) *accGen {
	g := &accGen{
		rng:      rand.New(rand.NewPCG(seed, 0x5eed)),
		universe: map[string][]Triple{},
		state:    map[string]map[Triple]bool{},
		exists:   map[string]bool{},
		owners:   map[Term]string{},
	}
	for i := range entities {
		id := fmt.Sprintf("Q%d", i+1)
		subjects := []Term{NewIRI(accWD + id), NewIRI(accS + id + "-a"), NewIRI(accS + id + "-b")}
		var u []Triple
		for _, s := range subjects {
			g.owners[s] = id
			for _, p := range []string{"P1", "P2"} {
				for _, o := range []string{"x", "y"} {
					u = append(u, Triple{S: s, P: NewIRI(accProp + p), O: NewLiteral(o)})
				}
			}
		}
		for _, s := range subjects[1:] {
			for v := range accGenValues {
				u = append(u, Triple{S: s, P: NewIRI("http://www.wikidata.org/prop/statement/value/P2"), O: accValueNode(v)})
			}
		}
		g.universe[id] = u
		g.state[id] = map[Triple]bool{}
	}
	return g
}

func accValueNode(v int) Term { return NewIRI(fmt.Sprintf("%sv%d", accV, v)) }

// valueTriples are the shared triples of value node v: fixed, like a hash.
func valueTriples(v Term) []Triple {
	return []Triple{
		{S: v, P: NewIRI(RDFType), O: NewIRI("http://wikiba.se/ontology#TimeValue")},
		{S: v, P: NewIRI("http://wikiba.se/ontology#timeValue"), O: NewLiteral(v.Value())},
	}
}

func (g *accGen) owner(t Triple) string { return g.owners[t.S] }

func (g *accGen) randomState(id string) map[Triple]bool {
	s := map[Triple]bool{}
	for _, t := range g.universe[id] {
		// Links are rarer, so that value nodes enter the store during the
		// test and the batch decides whether their triples get there.
		n := 3
		if t.O.HasPrefix(accV) {
			n = 10
		}
		if g.rng.IntN(n) == 0 {
			s[t] = true
		}
	}
	return s
}

// sharedOf returns the shared triples of the value nodes state links to.
func sharedOf(state map[Triple]bool) map[Triple]bool {
	out := map[Triple]bool{}
	for t := range state {
		if t.O.HasPrefix(accV) {
			for _, st := range valueTriples(t.O) {
				out[st] = true
			}
		}
	}
	return out
}

func minus(a, b map[Triple]bool) []Triple {
	var out []Triple
	for t := range a {
		if !b[t] {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, Triple.Compare) // deterministic for a seed
	return out
}

func keys(m map[Triple]bool) []Triple { return minus(m, nil) }

// next returns a random change of a random entity consistent with its
// state. commit makes it the entity's state; the caller calls it once the
// change is accepted.
func (g *accGen) next() (c *EntityChange, commit func()) {
	id := fmt.Sprintf("Q%d", g.rng.IntN(len(g.universe))+1)
	g.rev++
	old := g.state[id]
	var ns map[Triple]bool
	op := OpDiff
	switch r := g.rng.IntN(10); {
	case !g.exists[id] && r < 6:
		op, ns = OpImport, g.randomState(id)
	case r < 1 || !g.exists[id] && r < 8:
		op, ns = OpDelete, map[Triple]bool{}
	case r < 2 || !g.exists[id]:
		op, ns = OpReconcile, g.randomState(id)
	default:
		ns = maps2(old)
		for range 1 + g.rng.IntN(3) {
			t := g.universe[id][g.rng.IntN(len(g.universe[id]))]
			ns[t] = !ns[t]
			if !ns[t] {
				delete(ns, t)
			}
		}
	}
	c = &EntityChange{EntityID: id, Revision: g.rev, Operation: op, RequestID: fmt.Sprint("req-", g.rev)}
	switch op {
	case OpDiff, OpImport:
		oldShared, newShared := sharedOf(old), sharedOf(ns)
		c.Patch = Patch{Added: minus(ns, old), Removed: minus(old, ns),
			LinkedShared: minus(newShared, oldShared), UnlinkedShared: minus(oldShared, newShared)}
	case OpReconcile:
		// With the shared triples, so that the store holds every node an
		// entity links, the invariant the merge relies on (see Accumulator).
		c.Patch = Patch{Added: keys(ns), LinkedShared: keys(sharedOf(ns))}
	}
	return c, func() {
		g.state[id] = ns
		g.exists[id] = op != OpDelete
	}
}

func maps2(m map[Triple]bool) map[Triple]bool {
	out := make(map[Triple]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestAccumulatorMatchesOneByOne(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	for seed := range uint64(rounds) {
		g := newAccGen(seed, 2+int(seed%4))
		one := &accModel{g: map[Triple]bool{}, owner: g.owner}
		batched := &accModel{g: map[Triple]bool{}, owner: g.owner}
		// A store that already holds some entities.
		for id := range g.universe {
			if g.rng.IntN(2) == 0 {
				s := g.randomState(id)
				g.state[id], g.exists[id] = s, true
				for _, m := range []*accModel{one, batched} {
					m.insert(keys(s))
					m.insert(keys(sharedOf(s)))
				}
			}
		}
		a := NewAccumulator(SitelinkReclassification(false))
		batchSize := 1 + g.rng.IntN(12)
		var trace []string
		flush := func() {
			batched.applyBatch(a.Result())
			a.Reset()
			trace = append(trace, "flush")
		}
		for range 40 {
			c, commit := g.next()
			if !a.CanAccumulate(c) {
				err := a.Check(c)
				require.ErrorIs(t, err, ErrChangeRefused, "seed %d", seed)
				flush()
			}
			require.NoError(t, a.Accumulate(c), "seed %d", seed)
			require.Equal(t, a.Result().Weight(), a.Weight(), "seed %d: weight bookkeeping", seed)
			commit()
			one.applyChange(c)
			trace = append(trace, fmt.Sprintf("%s %s %+v", c.Operation, c.EntityID, c.Patch))
			if a.Len() >= batchSize {
				flush()
			}
		}
		flush()
		require.Equal(t, one.collected(), batched.collected(),
			"seed %d: batched store differs from one-by-one store; changes:\n%s", seed, strings.Join(trace, "\n"))
		// Own triples must match exactly, orphans aside.
		for tr := range one.g {
			if g.owner(tr) != "" {
				require.True(t, batched.g[tr], "seed %d: own triple %s missing", seed, tr)
			}
		}
	}
}
