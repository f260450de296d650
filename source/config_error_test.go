package source_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// A group setting the broker refuses stops Run with ErrInvalidConfig
// instead of rejoining forever.
func TestRunStopsOnRefusedGroupSettings(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t)
	require.NoError(t, c.CreateTopic(ctx, "in", 1))
	k, err := source.NewKafka(c.Addrs(), "g", []string{"in"}, source.WithBaseConfig(c.SaramaConfig()),
		source.WithSaramaConfig(func(cfg *sarama.Config) {
			cfg.Consumer.Group.Session.Timeout = 100 * time.Millisecond // below the broker's minimum
			cfg.Consumer.Group.Heartbeat.Interval = 30 * time.Millisecond
		}))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	go func() {
		for ctx.Err() == nil {
			if _, err := k.Poll(ctx, 10); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, source.ErrInvalidConfig)
		require.ErrorIs(t, err, sarama.ErrInvalidSessionTimeout)
	case <-time.After(30 * time.Second):
		t.Fatal("Run kept rejoining with a session timeout the broker refuses")
	}
	require.NoError(t, k.Close())
}
