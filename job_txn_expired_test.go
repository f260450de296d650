package streamkit_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// A Kafka output whose transaction outlived its timeout while the processor
// was sending (Send blocks while the producer cannot deliver, as during a
// partition leader's failover) is not the record's fault: the job rewinds
// to its commit points and redoes the checkpoint, instead of treating the
// record as failed (which, without a dead-letter topic, stops the job).
func TestJobRewindsWhenTheOutputTransactionExpired(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	store := &memoryStore{commits: source.Positions{}}
	var expired atomic.Int32
	expired.Store(1)
	var recs []kafkatest.Record
	for _, v := range []string{"a", "b", "stalled", "c"} {
		recs = append(recs, kafkatest.Record{Value: []byte(v)})
	}
	require.NoError(t, cl.Produce(ctx, "in", recs...))

	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	job, err := streamkit.NewJob("expiring", in,
		func(ctx context.Context, info streamkit.TaskInfo) (streamkit.Output, *memoryOutput, error) {
			o := &memoryOutput{store: store}
			return o, o, nil
		},
		func(info streamkit.TaskInfo, out *memoryOutput) (streamkit.Processor, error) {
			return processorFunc(func(ctx context.Context, rec *source.Record) error {
				if string(rec.Value) == "stalled" && expired.Add(-1) >= 0 {
					return fmt.Errorf("send: %w: open for 7s, timeout 5s", streamkit.ErrTransactionExpired)
				}
				out.pending = append(out.pending, string(rec.Value))
				return nil
			}), nil
		},
		streamkit.WithCheckpointInterval(100*time.Millisecond),
		streamkit.WithRestartBackoff(10*time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	var ended error
	require.NoError(t, cl.WaitFor(ctx, "all four records applied", func(context.Context) (bool, string, error) {
		select {
		case ended = <-done:
			return true, "", nil
		default:
		}
		store.mu.Lock()
		defer store.mu.Unlock()
		return len(store.values) == 4, fmt.Sprint(store.values), nil
	}))
	require.NoError(t, ended, "the job ended on its own")
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	store.mu.Lock()
	assert.Equal(t, []string{"a", "b", "stalled", "c"}, store.values, "each record applied once, in order")
	store.mu.Unlock()
	assert.Equal(t, int64(1), job.Stats().Restarts, "the expired transaction rewinds once")
}
