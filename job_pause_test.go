package streamkit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func TestJobPauseResumeStatsAndEventTimes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "out", 1))

	var mu sync.Mutex
	var latencies []time.Duration
	job := newCounterJob(t, cl, checkpoint.NewMemoryStore(), streamkit.WithOnCheckpoint(func(ev streamkit.CheckpointEvent) {
		mu.Lock()
		defer mu.Unlock()
		for _, et := range ev.EventTimes {
			latencies = append(latencies, ev.Committed.Sub(et))
		}
	}))
	produceKeys(t, ctx, cl, 0, 10)
	done := runUntil(t, ctx, job, func() bool { return job.Stats().Processed == 10 })
	tp0 := source.TopicPartition{Topic: "in", Partition: 0}
	require.Eventually(t, func() bool {
		s := job.Stats()
		return s.Positions[tp0] == 10 && s.Checkpoints >= 1
	}, 10*time.Second, 20*time.Millisecond)

	job.Pause()
	assert.True(t, job.Stats().Paused)
	produceKeys(t, ctx, cl, 10, 15)
	require.Eventually(t, func() bool { return job.Stats().Lag[tp0] == 5 }, 10*time.Second, 20*time.Millisecond,
		"lag while paused: %v", job.Stats().Lag)
	assert.Equal(t, int64(10), job.Stats().Processed, "nothing is processed while paused")

	job.Resume()
	require.Eventually(t, func() bool { s := job.Stats(); return s.Processed == 15 && s.Lag[tp0] == 0 },
		10*time.Second, 20*time.Millisecond)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, latencies, 15, "one edit latency per committed record")
	for _, l := range latencies {
		assert.Greater(t, l, time.Duration(0))
		assert.Less(t, l, time.Minute)
	}
}
