package updater_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

var (
	undefined = updater.EntityState{}
	createdAt = func(r int64) updater.EntityState { return updater.EntityState{Known: true, Revision: r} }
	deletedAt = func(r int64) updater.EntityState { return updater.EntityState{Known: true, Revision: r, Deleted: true} }
)

// TestDecideTable walks every row of the WDQS decision table
// (MutationResolver.scala).
func TestDecideTable(t *testing.T) {
	type want struct {
		op           rdfdiff.Operation
		from, rev    int64
		next         updater.EntityState
		inconsistent string
	}
	tests := []struct {
		action updater.Action
		rev    int64
		state  updater.EntityState
		want   want
	}{
		// RevCreate
		{updater.ActionRevisionCreate, 5, undefined, want{op: rdfdiff.OpImport, rev: 5, next: createdAt(5)}},
		{updater.ActionRevisionCreate, 5, createdAt(3), want{op: rdfdiff.OpDiff, from: 3, rev: 5, next: createdAt(5)}},
		{updater.ActionRevisionCreate, 5, deletedAt(3), want{next: deletedAt(3), inconsistent: updater.InconsistencyMissedUndelete}},
		{updater.ActionRevisionCreate, 5, createdAt(5), want{next: createdAt(5), inconsistent: updater.InconsistencyNewerRevisionSeen}},
		{updater.ActionRevisionCreate, 5, createdAt(7), want{next: createdAt(7), inconsistent: updater.InconsistencyNewerRevisionSeen}},
		{updater.ActionRevisionCreate, 5, deletedAt(5), want{next: deletedAt(5), inconsistent: updater.InconsistencyNewerRevisionSeen}},
		// PageDelete
		{updater.ActionPageDelete, 5, createdAt(5), want{op: rdfdiff.OpDelete, rev: 5, next: deletedAt(5)}},
		{updater.ActionPageDelete, 5, createdAt(4), want{op: rdfdiff.OpDelete, rev: 5, next: deletedAt(5)}},
		{updater.ActionPageDelete, 5, createdAt(6), want{next: createdAt(6), inconsistent: updater.InconsistencyNewerRevisionSeen}},
		{updater.ActionPageDelete, 5, undefined, want{next: undefined, inconsistent: updater.InconsistencyNewerRevisionSeen}},
		{updater.ActionPageDelete, 5, deletedAt(5), want{next: deletedAt(5), inconsistent: updater.InconsistencyNewerRevisionSeen}},
		// PageUndelete
		{updater.ActionPageUndelete, 5, undefined, want{op: rdfdiff.OpImport, rev: 5, next: createdAt(5)}},
		{updater.ActionPageUndelete, 5, deletedAt(5), want{op: rdfdiff.OpImport, rev: 5, next: createdAt(5)}},
		{updater.ActionPageUndelete, 5, deletedAt(4), want{next: deletedAt(4), inconsistent: updater.InconsistencyUnmatchedDelete}},
		{updater.ActionPageUndelete, 5, createdAt(5), want{next: createdAt(5), inconsistent: updater.InconsistencyUnmatchedDelete}},
		{updater.ActionPageUndelete, 5, createdAt(4), want{next: createdAt(4), inconsistent: updater.InconsistencyNewerRevisionSeen}},
		// Reconcile
		{updater.ActionReconcileDeletion, 0, createdAt(9), want{op: rdfdiff.OpDelete, rev: 0, next: undefined}},
		{updater.ActionReconcileCreation, 5, undefined, want{op: rdfdiff.OpReconcile, rev: 5, next: createdAt(5)}},
		{updater.ActionReconcileDeletion, 5, undefined, want{op: rdfdiff.OpDelete, rev: 5, next: deletedAt(5)}},
		{updater.ActionReconcileCreation, 5, deletedAt(5), want{op: rdfdiff.OpReconcile, rev: 5, next: createdAt(5), inconsistent: updater.InconsistencyReconcileAmbCreated}},
		{updater.ActionReconcileDeletion, 5, createdAt(5), want{op: rdfdiff.OpDelete, rev: 5, next: deletedAt(5), inconsistent: updater.InconsistencyReconcileAmbDeleted}},
		{updater.ActionReconcileCreation, 5, deletedAt(7), want{op: rdfdiff.OpDelete, rev: 7, next: deletedAt(7)}},
		{updater.ActionReconcileDeletion, 5, createdAt(7), want{op: rdfdiff.OpReconcile, rev: 7, next: createdAt(7)}},
		{updater.ActionReconcileCreation, 7, deletedAt(5), want{op: rdfdiff.OpReconcile, rev: 7, next: createdAt(7)}},
		{updater.ActionReconcileCreation, 5, createdAt(5), want{op: rdfdiff.OpReconcile, rev: 5, next: createdAt(5)}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s@%d/%s@%d", tt.action, tt.rev, tt.state.Status(), tt.state.Revision), func(t *testing.T) {
			d := updater.Decide(&updater.InputEvent{Action: tt.action, Item: "Q1", Revision: tt.rev}, tt.state)
			assert.Equal(t, tt.want.op, d.Op)
			assert.Equal(t, tt.want.from, d.FromRevision)
			assert.Equal(t, tt.want.rev, d.Revision)
			assert.Equal(t, tt.want.next, d.Next)
			assert.Equal(t, tt.want.inconsistent, d.Inconsistency)
		})
	}
}
