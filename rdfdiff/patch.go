package rdfdiff

import "time"

// Patch is the difference between two revisions of one entity, split into
// the four buckets of the WDQS updater:
//
//   - Added and Removed hold triples that belong to the entity alone;
//   - LinkedShared holds added triples about shared nodes (value and reference
//     nodes, wikibase:wikiGroup declarations, reclassified sitelinks): a store
//     inserts them idempotently;
//   - UnlinkedShared holds removed triples about shared nodes: other entities
//     may still use them, so a store keeps them unless it cleans up orphans.
//
// Each bucket is a set: order carries no meaning and a triple appears once.
type Patch struct {
	Added          []Triple
	Removed        []Triple
	LinkedShared   []Triple
	UnlinkedShared []Triple
}

// Len returns the number of triples in all four buckets.
func (p Patch) Len() int {
	return len(p.Added) + len(p.Removed) + len(p.LinkedShared) + len(p.UnlinkedShared)
}

// IsEmpty reports whether the patch changes nothing.
func (p Patch) IsEmpty() bool { return p.Len() == 0 }

// Operation is what an rdf_change event asks a store to do with an entity.
type Operation string

// The four operations of the rdf_change schema.
const (
	// OpImport inserts an entity seen for the first time (or undeleted):
	// Added and LinkedShared are set.
	OpImport Operation = "import"
	// OpDiff moves an entity from one revision to the next: all four buckets.
	OpDiff Operation = "diff"
	// OpDelete removes an entity's own triples; the patch is empty.
	OpDelete Operation = "delete"
	// OpReconcile replaces an entity's own triples with Added, the full
	// non-shared data of the revision.
	OpReconcile Operation = "reconcile"
)

// Valid reports whether op is one of the four operations.
func (op Operation) Valid() bool {
	switch op {
	case OpImport, OpDiff, OpDelete, OpReconcile:
		return true
	}
	return false
}

// EntityChange is one logical rdf_change event: what the producer decided for
// one revision of one entity, before chunking or after reassembly.
type EntityChange struct {
	// EntityID is the Wikibase entity ID, e.g. "Q42", "L1", "M123".
	EntityID string
	// Revision is the revision the entity is at after this change; 0 for a
	// forced delete.
	Revision int64
	// Operation says how to apply Patch.
	Operation Operation
	// EventTime is the MediaWiki edit time (the event's root dt).
	EventTime time.Time
	// RequestID is meta.request_id, shared by all chunks of the event.
	RequestID string
	// Domain is meta.domain and Stream is meta.stream of the first chunk.
	Domain, Stream string
	// Patch holds the triples; for OpDelete it is empty.
	Patch Patch
}
