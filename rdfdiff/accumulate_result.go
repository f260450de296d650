package rdfdiff

import (
	"slices"
	"strings"
	"time"
)

// ConsolidatedPatch is a batch of [EntityChange]s merged by an [Accumulator]:
// everything a store needs to catch up with the batch, in deterministic
// (sorted) order so that the requests it builds are reproducible.
//
// A store applies it in this order, the WDQS consumer's
// (RdfRepositoryUpdater.applyPatch), which is the order under which the
// merge is exact:
//
//  1. delete Removed, then insert Added (one request in a SPARQL store);
//  2. insert LinkedShared (idempotent; the lag marker from AvgEventTime goes
//     with it);
//  3. delete the entities in DeletedEntities (their own triples, statement
//     nodes and sitelinks; shared nodes stay);
//  4. replace each reconciled entity's own triples with its statement list.
//
// UnlinkedShared lists shared triples that some entity stopped linking. WDQS
// never deletes them, because other entities may still use the nodes; a
// store that cleans up orphans may use them as candidates.
type ConsolidatedPatch struct {
	// Patch holds the four merged buckets, each sorted by [Triple.Compare].
	Patch
	// DeletedEntities lists the IDs of the entities to delete, sorted.
	DeletedEntities []string
	// Reconciliations lists the entities whose own triples are replaced,
	// sorted by entity ID.
	Reconciliations []Reconciliation
	// Entities lists every entity the batch touched, sorted by ID, so a sink
	// can log, count or check revisions without re-reading the events.
	Entities []BatchEntity
	// Changes is the number of EntityChanges merged.
	Changes int
	// AvgEventTime is the mean event time of the batch's user changes
	// (reconciles and changes without an event time excluded); it is what
	// WDQS writes as the lag marker and reports as consumer lag. It is the
	// zero Time when there is none.
	AvgEventTime time.Time
	// MinEventTime and MaxEventTime bound the same event times.
	MinEventTime, MaxEventTime time.Time
	// FirstRequestID and LastRequestID are the request IDs of the first and
	// last change that had one, to trace a batch back to its events.
	FirstRequestID, LastRequestID string
	// Stats are the accumulator's counters for the batch.
	Stats AccumulatorStats
}

// Reconciliation is the full non-shared statement list of one entity, which
// replaces whatever the store holds for it.
type Reconciliation struct {
	EntityID string
	Revision int64
	// Triples is sorted by [Triple.Compare], without duplicates.
	Triples []Triple
}

// BatchEntity records one entity a batch touched.
type BatchEntity struct {
	EntityID string
	// Revision is the revision of the entity's last change in the batch.
	Revision int64
	// Operation is the entity's net operation: OpDelete if it was deleted,
	// OpReconcile if it was reconciled, otherwise the last change's operation.
	Operation Operation
	// Changes is the number of the entity's changes in the batch.
	Changes int
}

// IsEmpty reports whether applying c would change nothing in a store.
func (c *ConsolidatedPatch) IsEmpty() bool {
	return c.Patch.IsEmpty() && len(c.DeletedEntities) == 0 && len(c.Reconciliations) == 0
}

// Weight returns the batch's weight as [Accumulator.Weight] defines it.
func (c *ConsolidatedPatch) Weight() int {
	w := c.Len() + TriplesPerDelete*len(c.DeletedEntities)
	for _, r := range c.Reconciliations {
		w += len(r.Triples)
	}
	return w
}

// Result returns the merged batch in a new [ConsolidatedPatch]. It does not
// change the accumulator, so it may be called again after more changes.
func (a *Accumulator) Result() *ConsolidatedPatch {
	c := new(ConsolidatedPatch)
	a.ResultInto(c)
	return c
}

// ResultInto is [Accumulator.Result] writing into dst, reusing the memory of
// its slices: a consumer that keeps one ConsolidatedPatch for its lifetime
// builds batches without allocating once it has reached its working size.
// dst must not share slices with a value still in use.
func (a *Accumulator) ResultInto(dst *ConsolidatedPatch) {
	dst.Added, dst.Removed = dst.Added[:0], dst.Removed[:0]
	for t, s := range a.own {
		if s.removed {
			dst.Removed = append(dst.Removed, t)
		} else {
			dst.Added = append(dst.Added, t)
		}
	}
	dst.LinkedShared, dst.UnlinkedShared = dst.LinkedShared[:0], dst.UnlinkedShared[:0]
	for t, s := range a.shared {
		if s.unlinked {
			dst.UnlinkedShared = append(dst.UnlinkedShared, t)
		} else {
			dst.LinkedShared = append(dst.LinkedShared, t)
		}
	}
	for _, b := range [...][]Triple{dst.Added, dst.Removed, dst.LinkedShared, dst.UnlinkedShared} {
		slices.SortFunc(b, Triple.Compare)
	}

	dst.DeletedEntities = dst.DeletedEntities[:0]
	recons := dst.Reconciliations[:0]
	dst.Entities = dst.Entities[:0]
	for i := range a.entities {
		e := &a.entities[i]
		op := e.op
		switch {
		case e.deleted:
			op = OpDelete
			dst.DeletedEntities = append(dst.DeletedEntities, e.id)
		case e.reconciled:
			op = OpReconcile
			var ts []Triple
			if n := len(recons); n < cap(recons) {
				ts = recons[:n+1][n].Triples[:0]
			}
			ts = append(ts, e.recon...)
			slices.SortFunc(ts, Triple.Compare)
			ts = slices.Compact(ts)
			recons = append(recons, Reconciliation{EntityID: e.id, Revision: e.revision, Triples: ts})
		}
		dst.Entities = append(dst.Entities, BatchEntity{EntityID: e.id, Revision: e.revision, Operation: op, Changes: e.changes})
	}
	slices.Sort(dst.DeletedEntities)
	slices.SortFunc(recons, func(x, y Reconciliation) int { return strings.Compare(x.EntityID, y.EntityID) })
	dst.Reconciliations = recons
	slices.SortFunc(dst.Entities, func(x, y BatchEntity) int { return strings.Compare(x.EntityID, y.EntityID) })

	dst.Changes = a.stats.Changes
	dst.AvgEventTime, dst.MinEventTime, dst.MaxEventTime = time.Time{}, a.minEventTime, a.maxEventTime
	if a.eventTimes > 0 {
		dst.AvgEventTime = a.eventTimeBase.Add(time.Duration(a.eventTimeSum / float64(a.eventTimes)))
	}
	dst.FirstRequestID, dst.LastRequestID = a.firstRequestID, a.lastRequestID
	dst.Stats = a.stats
}
