package sparql

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// TestNeedsReplacementAfterCommitRefusal: an entity whose change the store
// refused at commit needs a full replacement until a checkpoint holding one
// commits; a diff or an aborted replacement does not clear it.
func TestNeedsReplacementAfterCommitRefusal(t *testing.T) {
	ctx := context.Background()
	rs := newRecordingStore(t, func(body string, _ int) (int, string) {
		if strings.Contains(body, "refuse-me") {
			return http.StatusBadRequest, "refused"
		}
		return http.StatusNoContent, ""
	})
	s := newTestSPARQL(t, rs.client(t), WithRejectedHandler(RejectedFunc(func(context.Context, *RejectedChange) error { return nil })))
	bad := entityImport("Q2", 1, 1)
	bad.Patch.Added[0].O = rdfdiff.NewLiteral("refuse-me")
	diff := &rdfdiff.EntityChange{EntityID: "Q2", Revision: 2, Operation: rdfdiff.OpDiff, Patch: rdfdiff.Patch{Added: entityImport("Q2", 2, 2).Patch.Added[1:]}}
	replace := entityImport("Q2", 3, 2)
	replace.Operation = rdfdiff.OpReconcile

	step := func(id uint64, commit bool, cs ...*rdfdiff.EntityChange) {
		require.NoError(t, s.Begin(ctx))
		for _, c := range cs {
			require.NoError(t, s.Add(c))
		}
		if commit {
			require.NoError(t, s.Commit(ctx, testCP(id, int64(id))))
		} else {
			require.NoError(t, s.Abort(ctx))
		}
	}
	step(1, true, entityImport("Q1", 1, 1), bad)
	assert.True(t, s.NeedsReplacement("Q2"))
	assert.True(t, s.Writer().NeedsReplacement("Q2"))
	assert.False(t, s.NeedsReplacement("Q1"))
	step(2, true, diff)
	assert.True(t, s.NeedsReplacement("Q2"), "a diff does not repair the entity")
	step(3, false, replace)
	assert.True(t, s.NeedsReplacement("Q2"), "an aborted replacement does not either")
	step(3, true, replace)
	assert.False(t, s.NeedsReplacement("Q2"), "a committed replacement does")
}
