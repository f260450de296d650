package source_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// With the brokers gone, the source keeps running (sarama retries, Run
// rejoins) and its Stats show the streak of consumer errors, so that a job
// can report its input as failing.
func TestStatsShowConsumerErrorStreak(t *testing.T) {
	ctx := testCtx(t)
	c, err := kafkatest.Start()
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.CreateTopic(ctx, "in", 1))
	require.NoError(t, c.Produce(ctx, "in", kafkatest.Record{Value: []byte("a")}))
	k := startSource(t, c, "g", []string{"in"})
	pollN(t, ctx, k, 1)
	st := k.Stats()
	assert.Zero(t, st.ConsecutiveErrors, "healthy: %s", st.LastError)
	assert.True(t, st.FailingSince.IsZero())

	before := time.Now()
	c.Close()
	for k.Stats().ConsecutiveErrors == 0 {
		require.NoError(t, ctx.Err(), "no consumer error reported after the brokers went")
		time.Sleep(20 * time.Millisecond)
	}
	st = k.Stats()
	assert.Positive(t, st.ConsecutiveErrors)
	assert.NotEmpty(t, st.LastError)
	assert.False(t, st.FailingSince.Before(before), "the streak began after the brokers went")
}
