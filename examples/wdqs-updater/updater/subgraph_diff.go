package updater

import (
	"fmt"
	"hash/fnv"
	"slices"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// SubgraphMembership is what the updater remembers of an entity for the
// graph split: the subgraphs it was in at its last emitted revision. Known
// is false when there is no record (an entity first seen, or seen before
// the split was configured, or restored from a savepoint without the
// subgraph table).
type SubgraphMembership struct {
	Set   SubgraphSet
	Known bool
}

// SubgraphChange is one rdf_change operation for one subgraph: its
// Change.Stream is the subgraph's stream.
type SubgraphChange struct {
	// Subgraph is the index in SubgraphDefinitions.Subgraphs.
	Subgraph int
	Change   rdfdiff.EntityChange
}

// SubgraphDiff fans one operation of an entity out to the subgraphs
// (SubgraphDiff in WDQS, reference §1.7). Per subgraph:
//
//   - membership unchanged (in before, in now): the operation itself,
//     with the full patch;
//   - entered (out before, in now): a delete, then an import of the whole
//     revision, diff(∅, to);
//   - left (in before, out now): a delete;
//   - out before and out now: nothing, unless the stubs changed;
//   - a delete of the entity: a delete to every subgraph.
//
// Stubs: every subgraph that does not hold the entity gets, as linked
// shared data, a stub `<entity> wikibase-qs:subgraph <uri>` for each
// stubs_source subgraph that does, so a federated query there can find it.
// A subgraph whose stubs must change (the entity moved between other
// subgraphs) gets a delete then an import of the new stubs, so no stale
// stub survives in a store that keeps unlinked shared triples.
//
// With no record of the previous membership (Known false) the safe choice
// is made: the full graph is assumed to hold the entity (it held
// everything before the split), every other subgraph gets a delete and then
// an import of what it should hold. Reconcile sends a reconcile to the
// subgraphs that hold the entity and a delete (and stubs) to the others.
//
// A SubgraphDiff is immutable and safe for concurrent use.
type SubgraphDiff struct {
	assigner *SubgraphAssigner
	shared   rdfdiff.SharedPredicate
	stubP    rdfdiff.Term
}

// NewSubgraphDiff returns the fan-out of a's definitions; shared splits
// patches as rdfdiff.Diff does (rdfdiff.WikibaseShared).
func NewSubgraphDiff(a *SubgraphAssigner, shared rdfdiff.SharedPredicate) *SubgraphDiff {
	return &SubgraphDiff{assigner: a, shared: shared, stubP: rdfdiff.NewIRI(SubgraphStubPredicate)}
}

// Assigner returns the assigner the fan-out decides membership with.
func (d *SubgraphDiff) Assigner() *SubgraphAssigner { return d.assigner }

// FanOut returns the operations of every subgraph for base (an operation
// of the entity with every field but Stream and Patch set) that moves the
// entity from the munged triples from (nil unless a diff) to to (nil for a
// delete), given the entity's previous membership; and the membership to
// record once they are emitted. Changes come in definition order, and per
// subgraph in the order they must be applied.
func (d *SubgraphDiff) FanOut(base rdfdiff.EntityChange, from, to []rdfdiff.Triple, prev SubgraphMembership) ([]SubgraphChange, SubgraphMembership) {
	defs := d.assigner.defs
	var out []SubgraphChange
	emit := func(i int, op rdfdiff.Operation, p rdfdiff.Patch) {
		c := base
		c.Operation, c.Stream, c.Patch = op, defs.Subgraphs[i].Stream, p
		out = append(out, SubgraphChange{Subgraph: i, Change: c})
	}
	if base.Operation == rdfdiff.OpDelete {
		for i := range defs.Subgraphs {
			emit(i, rdfdiff.OpDelete, rdfdiff.Patch{})
		}
		return out, SubgraphMembership{}
	}
	now := d.assigner.Assign(base.EntityID, to)
	entity := d.assigner.scheme.EntityTerm(base.EntityID)
	var whole, patch *rdfdiff.Patch
	wholePatch := func() rdfdiff.Patch {
		if whole == nil {
			p := rdfdiff.Diff(nil, to, d.shared)
			whole = &p
		}
		return *whole
	}
	diffPatch := func() rdfdiff.Patch {
		if patch == nil {
			p := rdfdiff.Diff(from, to, d.shared)
			patch = &p
		}
		return *patch
	}
	// resetTo deletes the entity from subgraph i and imports what i must
	// hold: the whole entity, or its stubs, or nothing.
	resetTo := func(i int) {
		emit(i, rdfdiff.OpDelete, rdfdiff.Patch{})
		if now.Has(i) {
			emit(i, rdfdiff.OpImport, wholePatch())
		} else if st := d.stubs(entity, now, i); len(st) > 0 {
			emit(i, rdfdiff.OpImport, rdfdiff.Patch{LinkedShared: st})
		}
	}
	for i, g := range defs.Subgraphs {
		isIn := now.Has(i)
		switch base.Operation {
		case rdfdiff.OpImport:
			if isIn {
				emit(i, rdfdiff.OpImport, wholePatch())
			} else if st := d.stubs(entity, now, i); len(st) > 0 {
				emit(i, rdfdiff.OpImport, rdfdiff.Patch{LinkedShared: st})
			}
		case rdfdiff.OpReconcile:
			if isIn {
				// A reconcile carries the entity's own triples only
				// (PatchChunkOperation sends Patch.getAdded()).
				emit(i, rdfdiff.OpReconcile, rdfdiff.Patch{Added: wholePatch().Added})
			} else {
				resetTo(i)
			}
		default: // rdfdiff.OpDiff
			wasIn, known := prev.Set.Has(i), prev.Known
			if !known && g.IsFull() {
				wasIn, known = true, true
			}
			switch {
			case !known:
				resetTo(i)
			case wasIn && isIn:
				emit(i, rdfdiff.OpDiff, diffPatch())
			case wasIn != isIn:
				resetTo(i)
			case !slices.Equal(d.stubs(entity, prev.Set, i), d.stubs(entity, now, i)):
				resetTo(i)
			}
		}
	}
	return out, SubgraphMembership{Set: now, Known: true}
}

// stubs returns the stub triples subgraph i holds for an entity in the
// subgraphs of set: none when i holds the entity, else one per stubs_source
// subgraph of set, in definition order.
func (d *SubgraphDiff) stubs(entity rdfdiff.Term, set SubgraphSet, i int) []rdfdiff.Triple {
	if set.Has(i) {
		return nil
	}
	var out []rdfdiff.Triple
	for j, g := range d.assigner.defs.Subgraphs {
		if j != i && g.StubsSource && g.URI != "" && set.Has(j) {
			out = append(out, rdfdiff.Triple{S: entity, P: d.stubP, O: rdfdiff.NewIRI(g.URI)})
		}
	}
	return out
}

// subgraphTableName is the name of the checkpointed membership table of
// defs. Membership is a bit per subgraph index, so it names the subgraphs
// in order: a file that adds, removes, renames or reorders subgraphs gets a
// new (empty) table instead of misreading the old bits.
func subgraphTableName(defs *SubgraphDefinitions) string {
	h := fnv.New32a()
	for _, g := range defs.Subgraphs {
		h.Write([]byte(g.Name))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("subgraphs-%08x", h.Sum32())
}
