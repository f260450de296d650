package updater

import "gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"

// EntityStatus is the state of an entity as the producer knows it
// (EntityState in MutationResolver.scala).
type EntityStatus string

// The entity states, as the state_inconsistency side output names them.
const (
	StatusUndefined EntityStatus = "UNDEFINED"
	StatusCreated   EntityStatus = "CREATED"
	StatusDeleted   EntityStatus = "DELETED"
)

// The inconsistency names of MutationOperation.scala (state_inconsistency's
// inconsistency field).
const (
	InconsistencyNewerRevisionSeen   = "newer_revision_seen"
	InconsistencyUnmatchedDelete     = "unmatched_delete" // (sic) an undelete that matches no delete
	InconsistencyMissedUndelete      = "missed_undelete"
	InconsistencyReconcileAmbDeleted = "reconcile_ambiguous_deletion"
	InconsistencyReconcileAmbCreated = "reconcile_ambiguous_creation"
)

// EntityState is the per-entity state, stored as one int64 per entity in a
// checkpoint.EntityTable exactly as WDQS's lastSeenRev: a positive
// revision is CREATED at it, a negative one DELETED at its absolute value,
// no entry UNDEFINED.
type EntityState struct {
	Known    bool
	Revision int64 // > 0 when created; for deleted, the revision of the delete
	Deleted  bool
}

// stateOf decodes a stored state value.
func stateOf(v int64, ok bool) EntityState {
	switch {
	case !ok:
		return EntityState{}
	case v < 0:
		return EntityState{Known: true, Revision: -v, Deleted: true}
	default:
		return EntityState{Known: true, Revision: v}
	}
}

// value encodes the state for the table; ok is false for UNDEFINED (no
// entry).
func (s EntityState) value() (int64, bool) {
	if !s.Known {
		return 0, false
	}
	if s.Deleted {
		return -s.Revision, true
	}
	return s.Revision, true
}

// Status names the state for the side outputs.
func (s EntityState) Status() EntityStatus {
	switch {
	case !s.Known:
		return StatusUndefined
	case s.Deleted:
		return StatusDeleted
	default:
		return StatusCreated
	}
}

func created(rev int64) EntityState { return EntityState{Known: true, Revision: rev} }
func deleted(rev int64) EntityState { return EntityState{Known: true, Revision: rev, Deleted: true} }

// Decision is what the decision table makes of one event in one state.
type Decision struct {
	// Op is the rdf_change operation to emit; "" emits nothing.
	Op rdfdiff.Operation
	// FromRevision is the old revision of a diff; Revision the one the
	// operation brings the entity to (0 for a forced delete).
	FromRevision, Revision int64
	// Next is the entity's state once the operation succeeded. For an
	// operation that must fetch RDF, the state moves to Next only after the
	// fetch succeeded (the WDQS producer moves it first; see Processor).
	Next EntityState
	// Inconsistency names why the event is ignored (or, for an ambiguous
	// reconcile, reported while Op is still emitted); "" for none.
	Inconsistency string
}

// Decide applies the WDQS decision table (MutationResolver.scala) to an event
// and the entity's current state.
func Decide(ev *InputEvent, st EntityState) Decision {
	rev := ev.Revision
	ignore := func(why string) Decision { return Decision{Inconsistency: why, Next: st} }
	switch ev.Action {
	case ActionRevisionCreate:
		switch {
		case !st.Known:
			return Decision{Op: rdfdiff.OpImport, Revision: rev, Next: created(rev)}
		case !st.Deleted && st.Revision < rev:
			return Decision{Op: rdfdiff.OpDiff, FromRevision: st.Revision, Revision: rev, Next: created(rev)}
		case st.Deleted && st.Revision < rev:
			return ignore(InconsistencyMissedUndelete)
		default:
			return ignore(InconsistencyNewerRevisionSeen)
		}
	case ActionPageDelete:
		if st.Known && !st.Deleted && st.Revision <= rev {
			return Decision{Op: rdfdiff.OpDelete, Revision: rev, Next: deleted(rev)}
		}
		return ignore(InconsistencyNewerRevisionSeen)
	case ActionPageUndelete:
		switch {
		case !st.Known, st.Deleted && st.Revision == rev:
			return Decision{Op: rdfdiff.OpImport, Revision: rev, Next: created(rev)}
		case st.Deleted, !st.Deleted && st.Revision == rev:
			return ignore(InconsistencyUnmatchedDelete)
		default:
			return ignore(InconsistencyNewerRevisionSeen)
		}
	case ActionReconcileCreation, ActionReconcileDeletion:
		wantDeleted := ev.Action == ActionReconcileDeletion
		if wantDeleted && rev == 0 {
			// Forced delete: the state is cleared.
			return Decision{Op: rdfdiff.OpDelete, Revision: 0, Next: EntityState{}}
		}
		op := func(r int64, del bool) Decision {
			if del {
				return Decision{Op: rdfdiff.OpDelete, Revision: r, Next: deleted(r)}
			}
			return Decision{Op: rdfdiff.OpReconcile, Revision: r, Next: created(r)}
		}
		switch {
		case !st.Known:
			return op(rev, wantDeleted)
		case st.Revision == rev && st.Deleted != wantDeleted:
			d := op(rev, wantDeleted)
			d.Inconsistency = InconsistencyReconcileAmbCreated
			if wantDeleted {
				d.Inconsistency = InconsistencyReconcileAmbDeleted
			}
			return d
		case st.Revision > rev:
			return op(st.Revision, st.Deleted)
		default:
			return op(rev, wantDeleted)
		}
	}
	return ignore(InconsistencyNewerRevisionSeen)
}

// needsFetch reports whether the decision's operation needs RDF.
func (d Decision) needsFetch() bool {
	return d.Op == rdfdiff.OpImport || d.Op == rdfdiff.OpDiff || d.Op == rdfdiff.OpReconcile
}
