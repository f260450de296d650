package updater

import (
	"fmt"
	"hash/fnv"
	"slices"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// SubgraphMembership is what the updater remembers of an entity for the
// graph split: the subgraphs it was in at its last emitted revision. Known
// is false when there is no record (an entity first seen or deleted, or
// last seen before the split was configured or the subgraphs changed).
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
// (SubgraphDiff in WDQS). Per subgraph, for a diff:
//
//   - membership unchanged (in before, in now): the diff, full patch;
//   - entered (out before, in now): a delete (which also clears its
//     stubs), then an import of the whole revision, diff(∅, to);
//   - left (in before, out now): a delete, then an import of its stubs;
//   - out before and out now: a diff carrying the stubs again, or, when
//     the stubs changed (the entity moved between other subgraphs), a
//     delete then an import of the new stubs, so that no stale stub
//     survives (the delete is the cleanup, as in WDQS: no bookkeeping of
//     stubs is needed).
//
// An import goes to the subgraphs that hold the entity, its stubs to the
// others; a delete of the entity becomes a delete in every subgraph. A
// reconcile goes to the subgraphs that hold the entity; the others get a
// delete, then an import of their stubs (WDQS sends them a reconcile
// carrying stubs as linked shared data, which the rdf_change schema does
// not allow a reconcile to carry).
//
// Stubs: every subgraph that does not hold the entity gets, as linked
// shared data, a stub `<entity> wikibase-qs:subgraph <uri>` for each
// stubs_source subgraph that does, so a federated query there can find it.
//
// The previous membership is what the updater recorded when it emitted the
// entity's last revision. WDQS recomputes it from the previous revision's
// triples instead, which goes wrong when the definitions changed in
// between (a type added to a binding): the stores still hold the old
// split. Without a record (Known false) the previous revision's triples
// are used, as in WDQS.
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
	if base.Operation == rdfdiff.OpDiff && !prev.Known {
		prev = SubgraphMembership{Set: d.assigner.Assign(base.EntityID, from), Known: true}
	}
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
	for i := range defs.Subgraphs {
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
			wasIn := prev.Set.Has(i)
			switch {
			case wasIn && isIn:
				emit(i, rdfdiff.OpDiff, diffPatch())
			case wasIn != isIn:
				resetTo(i)
			default:
				st := d.stubs(entity, now, i)
				if !slices.Equal(d.stubs(entity, prev.Set, i), st) {
					resetTo(i)
				} else if len(st) > 0 {
					emit(i, rdfdiff.OpDiff, rdfdiff.Patch{LinkedShared: st})
				}
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
