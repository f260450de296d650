package source_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func TestLagIsHighWatermarkMinusPosition(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t)
	require.NoError(t, c.CreateTopic(ctx, "in", 1))
	produceN(t, ctx, c, "in", 0, 10, nil)
	// A small buffer keeps most records in the log, not in the source.
	k := startSource(t, c, "g", []string{"in"}, source.WithBufferSize(1))
	pollN(t, ctx, k, 4)
	require.Eventually(t, func() bool { return k.Lag()[tp("in", 0)] == 6 }, 10*time.Second, 10*time.Millisecond,
		"lag %v", k.Lag())
	pollN(t, ctx, k, 6)
	require.Eventually(t, func() bool { return k.Lag()[tp("in", 0)] == 0 }, 10*time.Second, 10*time.Millisecond)
	produceN(t, ctx, c, "in", 0, 3, nil)
	require.Eventually(t, func() bool { return k.Lag()[tp("in", 0)] == 3 }, 10*time.Second, 10*time.Millisecond,
		"lag %v", k.Lag())
}
