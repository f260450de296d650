package rdfdiff

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// TriplesPerDelete is the weight of one entity delete in [Accumulator.Weight].
//
// A delete carries no triples but costs the store a multi-part DELETE … WHERE
// over the entity's statements and sitelinks, so the WDQS consumer counts it
// as 100 triples (TRIPLES_PER_DELETE). Keeping the same
// figure keeps batch sizes comparable with the Java consumer.
const TriplesPerDelete = 100

// ErrChangeRefused is returned (wrapped in a [*RefusedChangeError]) by
// [Accumulator.Check] and [Accumulator.Accumulate] when a change cannot join
// the current batch because the batch already holds a delete or a
// reconciliation of the same entity. The change is valid: the
// caller flushes the batch, calls [Accumulator.Reset], and offers it again.
var ErrChangeRefused = errors.New("rdfdiff: change must wait for the next batch")

// ErrInvalidChange is returned (wrapped in a [*InvalidChangeError]) when an
// [EntityChange] can never be accumulated: no entity ID, an unknown operation,
// a bucket the operation does not allow, a malformed triple, or a sitelink
// block that [ReclassifySitelinks] rejects. Retrying will not help; the change
// belongs in a dead-letter queue.
var ErrInvalidChange = errors.New("rdfdiff: invalid entity change")

// ErrInvalidDuplicate is returned (wrapped in a [*InvalidChangeError]) by an
// [Accumulator] built with [RejectInvalidDuplicates](true) when a change adds
// or removes a non-shared triple that another entity of the batch already added
// or removed. The Java consumer only counts these (T317530); the option lets a
// stricter deployment dead-letter them.
var ErrInvalidDuplicate = errors.New("rdfdiff: triple already changed by another entity")

// RefusedChangeError says which pending operation blocks a change. It wraps
// [ErrChangeRefused].
type RefusedChangeError struct {
	EntityID  string    // the entity of the refused change
	Operation Operation // the refused change's operation
	Pending   Operation // the operation already in the batch: OpDelete or OpReconcile
}

// Error names the entity, the refused operation and the pending one.
func (e *RefusedChangeError) Error() string {
	return fmt.Sprintf("rdfdiff: cannot accumulate %s of %s: the batch already has a %s of it",
		e.Operation, e.EntityID, e.Pending)
}

// Unwrap returns [ErrChangeRefused].
func (e *RefusedChangeError) Unwrap() error { return ErrChangeRefused }

// InvalidChangeError describes why an [EntityChange] can never be accumulated.
// errors.Is matches it against [ErrInvalidChange]; Unwrap returns the
// underlying cause when there is one (an error from [ReclassifySitelinks], or
// [ErrInvalidDuplicate]).
type InvalidChangeError struct {
	EntityID  string
	Revision  int64
	Operation Operation
	Msg       string // what is wrong
	Err       error  // the underlying cause, or nil
}

// Error names the change and says what is wrong with it.
func (e *InvalidChangeError) Error() string {
	var b strings.Builder
	b.WriteString("rdfdiff: invalid ")
	if e.Operation != "" {
		b.WriteString(string(e.Operation))
	} else {
		b.WriteString("change")
	}
	if e.EntityID != "" {
		fmt.Fprintf(&b, " of %s revision %d", e.EntityID, e.Revision)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is [ErrInvalidChange].
func (e *InvalidChangeError) Is(target error) bool { return target == ErrInvalidChange }

// Unwrap returns the underlying cause, or nil.
func (e *InvalidChangeError) Unwrap() error { return e.Err }

// AccumulatorOption configures an [Accumulator]. Options are sealed: only
// this package provides them.
type AccumulatorOption interface {
	applyAccumulator(*accumulatorConfig)
}

type accumulatorConfig struct {
	// reclassify is applied to import and diff patches; nil disables it.
	reclassify       func(Patch) (Patch, error)
	rejectDuplicates bool
}

type accumulatorOptionFunc func(*accumulatorConfig)

func (f accumulatorOptionFunc) applyAccumulator(c *accumulatorConfig) { f(c) }

// SitelinkReclassification sets whether import and diff patches go through
// [ReclassifySitelinks] before they are merged, as the WDQS consumer does
// (SiteLinksReclassification): sitelinks can move between entities in a merge
// that the producer does not see, so their blocks must be inserted idempotently
// and never deleted by one entity's diff. The default is true. Turn it off for
// producers that already reclassify, or for data without sitelinks.
func SitelinkReclassification(enabled bool) AccumulatorOption {
	return accumulatorOptionFunc(func(c *accumulatorConfig) {
		if enabled {
			c.reclassify = ReclassifySitelinks
		} else {
			c.reclassify = nil
		}
	})
}

// RejectInvalidDuplicates sets whether a change that adds or removes a triple
// already added or removed by a different entity of the batch is refused with
// an [*InvalidChangeError] wrapping [ErrInvalidDuplicate]. The default, false,
// follows the Java consumer: such triples are merged (the later change wins)
// and counted in [AccumulatorStats.InvalidDuplicates].
func RejectInvalidDuplicates(enabled bool) AccumulatorOption {
	return accumulatorOptionFunc(func(c *accumulatorConfig) { c.rejectDuplicates = enabled })
}

// noEntity marks a map slot that names no entity.
const noEntity = -1

// accEntity is the batch's record of one entity. Entities are interned: the
// triple maps hold an index into Accumulator.entities instead of the ID.
type accEntity struct {
	id         string
	revision   int64
	op         Operation // the last accumulated operation
	changes    int
	deleted    bool
	reconciled bool
	// owned lists the triples this entity put into added or removed, and
	// linked those it linked. They are append-only and may be stale (a triple
	// since cancelled, or taken over by another entity): readers check the
	// map before acting. They let a delete or a reconcile drop the entity's
	// pending triples without scanning the whole batch.
	owned  []Triple
	linked []Triple
	// recon is the full statement list of a pending reconciliation.
	recon []Triple
}

// ownSlot is a pending addition or removal of a non-shared triple and the
// entity it came from. Additions and removals share one map because the merge
// keeps them disjoint: one lookup decides every case.
type ownSlot struct {
	entity  int32
	removed bool
}

// sharedSlot is a pending link or unlink of a shared triple, which the merge
// also keeps disjoint. For a link it holds the set of linking entities:
// nearly every shared triple is linked by one entity, so the first sits
// inline and the rest, if any, in Accumulator.linkSets[more-1]. For an unlink
// first is the unlinking entity.
type sharedSlot struct {
	first    int32
	more     int32
	unlinked bool
}

// AccumulatorStats counts what an [Accumulator] did since it was created or
// last [Accumulator.Reset]. It is a snapshot, for metrics and logs.
type AccumulatorStats struct {
	// Changes is the number of changes accumulated.
	Changes int
	// TriplesOffered is the number of triples in the accumulated changes,
	// after sitelink reclassification, reconciliations included.
	TriplesOffered int
	// Cancellations counts incoming triples that annihilated a pending one
	// (an addition meeting a removal, a link meeting an unlink): each drops
	// two triples from the batch.
	Cancellations int
	// InvalidDuplicates counts non-shared triples added or removed by one
	// entity when another entity of the batch had already added or removed
	// them (the Java consumer's triples-invalid-duplicates, T317530).
	InvalidDuplicates int
	// EntitiesDeleted and Reconciliations count distinct entities.
	EntitiesDeleted int
	Reconciliations int
}

// Accumulator merges the [EntityChange]s of many entities into one
// [ConsolidatedPatch], so a store applies a batch in a handful of requests
// instead of one per event (the Java PatchAccumulator).
//
// Merging follows the WDQS rules. An import or diff is first passed through
// [ReclassifySitelinks] (see [SitelinkReclassification]); then, triple by
// triple:
//   - an addition cancels a pending removal of the same triple, whichever
//     entity removed it: the store holds the triple and keeps it;
//   - a removal cancels a pending addition of the same triple by the same
//     entity: the store never had it. A pending addition by another entity
//     gives way to the removal instead, since that entity's data may have put
//     the triple in the store, so one-by-one application would remove it;
//   - a triple added, or removed, again by another entity is kept once,
//     owned by the later entity;
//   - every meeting of two entities on one non-shared triple is an invalid
//     duplicate (T317530), counted in [AccumulatorStats.InvalidDuplicates],
//     or refused with [RejectInvalidDuplicates];
//   - an unlink cancels pending links of the triple by the unlinking entity;
//     the triple stays linked while another entity of the batch links it, and
//     the unlink is dropped: a node still linked is no orphan;
//   - a link cancels a pending unlink (the node existed and is used again);
//   - otherwise the triple joins its bucket, remembering which entity it
//     came from.
//
// A delete drops the entity's pending additions and removals (the store's
// entity delete removes them anyway) and the links only it made; a reconcile
// stores the entity's full statement list and drops its pending additions
// and removals. [Accumulator.Check] enforces the barriers that keep this
// exact: see its table.
//
// Applying [Accumulator.Result] with the order documented on
// [ConsolidatedPatch] leaves a set-based store in the same state as applying
// the changes one by one, except for shared triples that no entity links any
// more (orphans, which the WDQS store keeps and this merge never inserts).
// It relies on the invariant a WDQS store keeps: the store holds the shared
// triples of every node an entity links, because the import or diff that
// made the link carried them, and unlinked-shared triples are never deleted.
//
// The zero Accumulator is ready to use, with the default options, like the
// result of NewAccumulator(). An Accumulator is not safe for concurrent use.
type Accumulator struct {
	cfg accumulatorConfig

	own      map[Triple]ownSlot
	shared   map[Triple]sharedSlot
	linkSets [][]int32
	// Bucket sizes, kept as the maps change.
	nAdded, nRemoved, nLinked, nUnlinked int

	ids      map[string]int32
	entities []accEntity

	deletes     int
	reconTriple int
	stats       AccumulatorStats

	firstRequestID, lastRequestID string
	eventTimes                    int
	eventTimeBase                 time.Time
	eventTimeSum                  float64 // nanoseconds since eventTimeBase
	minEventTime, maxEventTime    time.Time
}

// NewAccumulator returns an empty Accumulator. By default it reclassifies
// sitelinks and counts invalid duplicates without refusing them.
func NewAccumulator(opts ...AccumulatorOption) *Accumulator {
	a := &Accumulator{
		cfg:    accumulatorConfig{reclassify: ReclassifySitelinks},
		own:    make(map[Triple]ownSlot),
		shared: make(map[Triple]sharedSlot),
		ids:    make(map[string]int32),
	}
	for _, o := range opts {
		if o != nil {
			o.applyAccumulator(&a.cfg)
		}
	}
	return a
}

// CanAccumulate reports whether c may join the current batch; see
// [Accumulator.Check] for the rules and the reason when it may not.
func (a *Accumulator) CanAccumulate(c *EntityChange) bool { return a.Check(c) == nil }

// Check reports whether c may join the current batch. It returns nil if so,
// an [*InvalidChangeError] if c is malformed, and a [*RefusedChangeError] if a
// change already in the batch blocks it (PatchAccumulator.canAccumulate):
//
//	incoming            refused if the batch already has…
//	delete              a reconciliation of the entity (a second delete is a no-op)
//	reconcile           a delete of the entity (a second reconcile replaces the first)
//	import, diff        a delete or a reconciliation of the entity
//
// Both barriers exist because the store applies a batch's deletes and
// reconciliations after its additions and removals: a diff that followed a
// delete would be wiped by it, and a delete and a reconcile of one entity
// cannot both be honoured in one request.
//
// Check runs neither [ReclassifySitelinks] nor the [RejectInvalidDuplicates]
// test, so [Accumulator.Accumulate] may still reject a change whose
// sitelinks are malformed or that duplicates another entity's triples.
func (a *Accumulator) Check(c *EntityChange) error {
	if err := validateChange(c); err != nil {
		return err
	}
	idx, ok := a.ids[c.EntityID]
	if !ok {
		return nil
	}
	e := &a.entities[idx]
	var pending Operation
	switch c.Operation {
	case OpDelete:
		if e.reconciled {
			pending = OpReconcile
		}
	case OpReconcile:
		if e.deleted {
			pending = OpDelete
		}
	default: // import, diff
		switch {
		case e.deleted:
			pending = OpDelete
		case e.reconciled:
			pending = OpReconcile
		}
	}
	if pending != "" {
		return &RefusedChangeError{EntityID: c.EntityID, Operation: c.Operation, Pending: pending}
	}
	return nil
}

// validateChange checks what does not depend on the batch.
func validateChange(c *EntityChange) error {
	if c == nil {
		return &InvalidChangeError{Msg: "nil change"}
	}
	bad := func(format string, args ...any) error {
		return &InvalidChangeError{EntityID: c.EntityID, Revision: c.Revision, Operation: c.Operation,
			Msg: fmt.Sprintf(format, args...)}
	}
	if c.EntityID == "" {
		return bad("empty entity ID")
	}
	if !c.Operation.Valid() {
		return bad("unknown operation %q", string(c.Operation))
	}
	if c.Revision < 0 {
		return bad("negative revision")
	}
	p := &c.Patch
	switch c.Operation {
	case OpDelete:
		if !p.IsEmpty() {
			return bad("a delete carries no triples, got %d", p.Len())
		}
	case OpImport, OpReconcile:
		if len(p.Removed) > 0 || len(p.UnlinkedShared) > 0 {
			return bad("%s carries only added and linked-shared triples, got %d removed and %d unlinked-shared",
				c.Operation, len(p.Removed), len(p.UnlinkedShared))
		}
	}
	for _, b := range [...]struct {
		name string
		ts   []Triple
	}{{"added", p.Added}, {"removed", p.Removed}, {"linked-shared", p.LinkedShared}, {"unlinked-shared", p.UnlinkedShared}} {
		for i, t := range b.ts {
			if msg := checkTriple(t); msg != "" {
				return bad("%s triple %d: %s", b.name, i, msg)
			}
		}
	}
	return nil
}

// checkTriple returns what makes t unusable in a store, or "".
func checkTriple(t Triple) string {
	switch {
	case t.S.IsZero() || t.P.IsZero() || t.O.IsZero():
		return "zero term"
	case t.S.IsLiteral():
		return "literal subject " + t.S.String()
	case !t.P.IsIRI():
		return "predicate is not an IRI: " + t.P.String()
	case t.O.Kind() == KindInvalid:
		return "malformed object"
	}
	return ""
}

// Accumulate merges c into the batch. It returns the error [Accumulator.Check]
// would, or an [*InvalidChangeError] when sitelink reclassification fails
// or, with [RejectInvalidDuplicates], when c duplicates another entity's
// triple. On error the batch is unchanged. The batch keeps the strings of
// c (its entity ID and terms) but none of its slices, so the caller may reuse
// them.
func (a *Accumulator) Accumulate(c *EntityChange) error {
	if err := a.Check(c); err != nil {
		return err
	}
	if a.own == nil { // the zero Accumulator
		*a = *NewAccumulator()
	}
	p := c.Patch
	if (c.Operation == OpImport || c.Operation == OpDiff) && a.cfg.reclassify != nil && !p.IsEmpty() {
		var err error
		if p, err = a.cfg.reclassify(p); err != nil {
			return &InvalidChangeError{EntityID: c.EntityID, Revision: c.Revision, Operation: c.Operation,
				Msg: "sitelink reclassification", Err: err}
		}
	}
	if a.cfg.rejectDuplicates && c.Operation != OpDelete {
		if err := a.checkDuplicates(c, &p); err != nil {
			return err
		}
	}

	idx := a.intern(c.EntityID)
	e := &a.entities[idx]
	e.revision, e.op = c.Revision, c.Operation
	e.changes++
	a.noteMeta(c)
	a.stats.Changes++
	a.stats.TriplesOffered += p.Len()

	switch c.Operation {
	case OpDelete:
		a.accumulateDelete(idx)
	case OpReconcile:
		a.accumulateReconcile(idx, &p)
	default:
		a.accumulateDiff(idx, &p)
	}
	return nil
}

// checkDuplicates returns an error if p adds or removes a triple another
// entity of the batch added or removed. It runs before any change to the
// batch so that a refusal leaves the batch untouched.
func (a *Accumulator) checkDuplicates(c *EntityChange, p *Patch) error {
	idx, known := a.ids[c.EntityID]
	if !known {
		idx = noEntity
	}
	check := func(bucket string, ts []Triple) error {
		for _, t := range ts {
			if s, ok := a.own[t]; ok && s.entity != idx {
				return &InvalidChangeError{EntityID: c.EntityID, Revision: c.Revision, Operation: c.Operation,
					Msg: fmt.Sprintf("%s triple %s also changed by %s", bucket, t, a.entities[s.entity].id),
					Err: ErrInvalidDuplicate}
			}
		}
		return nil
	}
	if err := check("added", p.Added); err != nil {
		return err
	}
	if c.Operation == OpReconcile {
		return nil // a reconcile replaces the entity's triples; it does not edit others'
	}
	return check("removed", p.Removed)
}

// intern returns the index of the entity id, adding it to the batch if new.
// Entity records are reused across Reset so their slices keep their memory.
func (a *Accumulator) intern(id string) int32 {
	if idx, ok := a.ids[id]; ok {
		return idx
	}
	idx := int32(len(a.entities))
	if len(a.entities) < cap(a.entities) {
		a.entities = a.entities[:idx+1]
		e := &a.entities[idx]
		*e = accEntity{owned: e.owned[:0], linked: e.linked[:0], recon: e.recon[:0]}
	} else {
		a.entities = append(a.entities, accEntity{})
	}
	// The ID string is kept as given, like the terms of the triples: Go
	// strings are immutable, and the codec and parsers produce small ones.
	a.entities[idx].id = id
	a.ids[id] = idx
	return idx
}

// noteMeta records the batch metadata a sink reports: request IDs and the
// event times of user changes (reconciles excluded, as in the Java consumer's
// lag metric, because they replay old revisions).
func (a *Accumulator) noteMeta(c *EntityChange) {
	if c.RequestID != "" {
		if a.firstRequestID == "" {
			a.firstRequestID = c.RequestID
		}
		a.lastRequestID = c.RequestID
	}
	if c.Operation == OpReconcile || c.EventTime.IsZero() {
		return
	}
	t := c.EventTime
	if a.eventTimes == 0 {
		a.eventTimeBase, a.minEventTime, a.maxEventTime = t, t, t
	}
	a.eventTimes++
	// Summing offsets from the first event keeps the float exact to the
	// nanosecond for batches spanning up to about 100 days.
	a.eventTimeSum += float64(t.Sub(a.eventTimeBase))
	if t.Before(a.minEventTime) {
		a.minEventTime = t
	}
	if t.After(a.maxEventTime) {
		a.maxEventTime = t
	}
}

func (a *Accumulator) accumulateDiff(idx int32, p *Patch) {
	e := &a.entities[idx]
	for _, t := range p.Removed {
		a.remove(idx, e, t)
	}
	for _, t := range p.Added {
		a.add(idx, e, t)
	}
	for _, t := range p.UnlinkedShared {
		a.unlink(idx, t)
	}
	for _, t := range p.LinkedShared {
		a.link(idx, e, t)
	}
}

// add merges one added triple of entity idx.
func (a *Accumulator) add(idx int32, e *accEntity, t Triple) {
	s, ok := a.own[t]
	switch {
	case !ok:
		a.nAdded++
	case s.removed:
		// The triple was in the store (someone removed it) and is wanted
		// again: nothing to send, whoever removed it.
		delete(a.own, t)
		a.nRemoved--
		a.stats.Cancellations++
		if s.entity != idx {
			a.stats.InvalidDuplicates++
		}
		return
	case s.entity == idx:
		return
	default:
		a.stats.InvalidDuplicates++
	}
	a.own[t] = ownSlot{entity: idx}
	e.owned = append(e.owned, t)
}

// remove merges one removed triple of entity idx.
func (a *Accumulator) remove(idx int32, e *accEntity, t Triple) {
	s, ok := a.own[t]
	switch {
	case !ok:
		a.nRemoved++
	case !s.removed && s.entity == idx:
		// Added then removed by one entity: the store never had it.
		delete(a.own, t)
		a.nAdded--
		a.stats.Cancellations++
		return
	case !s.removed:
		// Another entity added it, so the store may already hold it (that
		// entity's data and this one's overlap): the removal must be sent.
		a.nAdded--
		a.nRemoved++
		a.stats.InvalidDuplicates++
	case s.entity == idx:
		return
	default:
		a.stats.InvalidDuplicates++
	}
	a.own[t] = ownSlot{entity: idx, removed: true}
	e.owned = append(e.owned, t)
}

// link merges one linked-shared triple of entity idx.
func (a *Accumulator) link(idx int32, e *accEntity, t Triple) {
	s, ok := a.shared[t]
	switch {
	case !ok:
		a.shared[t] = sharedSlot{first: idx}
		a.nLinked++
	case s.unlinked:
		// Unlinked earlier in the batch, so the store holds it: it stays.
		delete(a.shared, t)
		a.nUnlinked--
		a.stats.Cancellations++
		return
	case s.first == idx:
		return
	case s.more == 0:
		// Take a fresh set slot, reusing one a previous batch grew.
		n := len(a.linkSets)
		if n < cap(a.linkSets) {
			a.linkSets = a.linkSets[:n+1]
			a.linkSets[n] = a.linkSets[n][:0]
		} else {
			a.linkSets = append(a.linkSets, nil)
		}
		a.linkSets[n] = append(a.linkSets[n], idx)
		a.shared[t] = sharedSlot{first: s.first, more: int32(n + 1)}
	default:
		set := a.linkSets[s.more-1]
		if slices.Contains(set, idx) {
			return
		}
		a.linkSets[s.more-1] = append(set, idx)
	}
	e.linked = append(e.linked, t)
}

// unlink merges one unlinked-shared triple of entity idx.
func (a *Accumulator) unlink(idx int32, t Triple) {
	s, ok := a.shared[t]
	switch {
	case !ok:
		a.nUnlinked++
	case s.unlinked:
		// Unlinked by several entities: one orphan candidate.
	default:
		// Linked earlier in the batch: withdraw this entity's link. If no
		// link remains the pair cancels; if another entity still links the
		// triple it is no orphan, so the unlink is dropped either way.
		if a.dropLink(t, idx) {
			a.stats.Cancellations++
		}
		return
	}
	a.shared[t] = sharedSlot{first: idx, unlinked: true}
}

// dropLink removes entity idx from the links of t, deleting t from the
// linked bucket when no link remains. It reports whether t left the bucket.
func (a *Accumulator) dropLink(t Triple, idx int32) bool {
	s, ok := a.shared[t]
	if !ok || s.unlinked {
		return false
	}
	if s.more == 0 {
		if s.first != idx {
			return false
		}
		delete(a.shared, t)
		a.nLinked--
		return true
	}
	set := a.linkSets[s.more-1]
	if s.first == idx {
		s.first = set[len(set)-1]
		set = set[:len(set)-1]
	} else if i := slices.Index(set, idx); i >= 0 {
		set = slices.Delete(set, i, i+1)
	} else {
		return false
	}
	a.linkSets[s.more-1] = set
	if len(set) == 0 {
		s.more = 0 // the slot is left unused until Reset
	}
	a.shared[t] = s
	return false
}

// dropOwned drops the pending additions and removals that entity idx made
// and still owns.
func (a *Accumulator) dropOwned(idx int32, e *accEntity) {
	for _, t := range e.owned {
		if s, ok := a.own[t]; ok && s.entity == idx {
			delete(a.own, t)
			if s.removed {
				a.nRemoved--
			} else {
				a.nAdded--
			}
		}
	}
	clear(e.owned)
	e.owned = e.owned[:0]
}

func (a *Accumulator) accumulateDelete(idx int32) {
	e := &a.entities[idx]
	if e.deleted {
		return
	}
	e.deleted = true
	a.deletes++
	a.stats.EntitiesDeleted++
	a.dropOwned(idx, e)
	// Links only this entity made would insert nodes nobody uses once it is
	// gone; links shared with other entities stay for them.
	for _, t := range e.linked {
		a.dropLink(t, idx)
	}
	clear(e.linked)
	e.linked = e.linked[:0]
}

func (a *Accumulator) accumulateReconcile(idx int32, p *Patch) {
	e := &a.entities[idx]
	a.dropOwned(idx, e)
	if e.reconciled {
		a.reconTriple -= len(e.recon)
		clear(e.recon)
		e.recon = e.recon[:0]
	} else {
		e.reconciled = true
		a.stats.Reconciliations++
	}
	e.recon = append(e.recon, p.Added...)
	a.reconTriple += len(e.recon)
	// Linked-shared triples are not part of a WDQS reconcile, but a producer
	// that sends them lets the store restore value and reference nodes it
	// lost: merge them like a diff's.
	for _, t := range p.LinkedShared {
		a.link(idx, e, t)
	}
}

// Weight returns the batch's size as the WDQS consumer measures it to decide
// when to flush: the triples in the four buckets, plus the reconciliation
// triples, plus [TriplesPerDelete] per deleted entity.
func (a *Accumulator) Weight() int {
	return a.nAdded + a.nRemoved + a.nLinked + a.nUnlinked +
		a.reconTriple + TriplesPerDelete*a.deletes
}

// Len returns the number of changes accumulated since the last Reset.
func (a *Accumulator) Len() int { return a.stats.Changes }

// IsEmpty reports whether no change was accumulated since the last Reset.
// A non-empty batch may still produce an empty patch, when its changes
// cancelled out; a sink should still commit it, to move its positions on.
func (a *Accumulator) IsEmpty() bool { return a.stats.Changes == 0 }

// Stats returns counters for the current batch.
func (a *Accumulator) Stats() AccumulatorStats { return a.stats }

// Reset empties the accumulator for the next batch, keeping its memory.
func (a *Accumulator) Reset() {
	clear(a.own)
	clear(a.shared)
	a.nAdded, a.nRemoved, a.nLinked, a.nUnlinked = 0, 0, 0, 0
	clear(a.ids)
	for i := range a.linkSets {
		a.linkSets[i] = a.linkSets[i][:0]
	}
	a.linkSets = a.linkSets[:0]
	for i := range a.entities {
		e := &a.entities[i]
		clear(e.owned)
		clear(e.linked)
		clear(e.recon)
		*e = accEntity{owned: e.owned[:0], linked: e.linked[:0], recon: e.recon[:0]}
	}
	a.entities = a.entities[:0]
	a.deletes, a.reconTriple = 0, 0
	a.stats = AccumulatorStats{}
	a.firstRequestID, a.lastRequestID = "", ""
	a.eventTimes, a.eventTimeSum = 0, 0
	a.eventTimeBase, a.minEventTime, a.maxEventTime = time.Time{}, time.Time{}, time.Time{}
}
