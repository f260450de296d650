package sparql

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// Virtuoso rewrites long IRIs into a prefix plus a hash
// (TestVirtuosoRewritesLongIRIs); its dialect refuses them when the change is
// added, so the processor fails and the record is dead-lettered instead of
// stored altered. Other dialects send them.
func TestSPARQLVirtuosoRefusesLongIRIs(t *testing.T) {
	long := "http://example.org/" + strings.Repeat("x", 1900)
	for _, tc := range []struct {
		dialect  Dialect
		refused  bool
		datatype bool
	}{
		{DialectVirtuoso, true, false},
		{DialectVirtuoso, true, true},
		{DialectSPARQL11, false, false},
	} {
		t.Run(tc.dialect.String(), func(t *testing.T) {
			ctx := context.Background()
			rs := newRecordingStore(t, nil)
			var got []*RejectedChange
			s := newTestSPARQL(t, rs.client(t), WithDialect(tc.dialect),
				WithRejectedHandler(RejectedFunc(func(_ context.Context, r *RejectedChange) error {
					got = append(got, r)
					return nil
				})))
			require.NoError(t, s.Begin(ctx))
			require.NoError(t, s.Add(entityImport("Q1", 1, 2)))
			odd := entityImport("Q2", 1, 1)
			if tc.datatype {
				odd.Patch.Added[0].O = rdfdiff.NewTypedLiteral("1", long)
			} else {
				odd.Patch.Added[0].O = rdfdiff.NewIRI(long)
			}
			err := s.Add(odd)
			if tc.refused {
				require.ErrorIs(t, err, ErrUnsafeTerm)
				require.ErrorIs(t, err, rdfdiff.ErrInvalidChange)
				assert.Contains(t, err.Error(), "longer than the store keeps intact")
				assert.Equal(t, 1, s.Pending(), "the refused change is not in the checkpoint")
			} else {
				require.NoError(t, err)
			}
			require.NoError(t, s.Commit(ctx, testCP(1, 2)))
			joined := strings.Join(rs.accepted(), "\n")
			assert.Contains(t, joined, "Q1 value 1")
			assert.Empty(t, got, "nothing is left for the store to refuse")
			if !tc.refused {
				assert.Contains(t, joined, long)
				return
			}
			assert.NotContains(t, joined, long)
		})
	}
}
