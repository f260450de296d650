package streamkit_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// memoryStore is a store-like output that is not a Kafka sender: values
// are applied with their commit point in one locked step, as a SPARQL
// store applies an update request.
type memoryStore struct {
	mu      sync.Mutex
	values  []string
	commits source.Positions
	job     string
	id      uint64
}

type memoryOutput struct {
	store   *memoryStore
	pending []string
}

func (o *memoryOutput) Claim(context.Context) error { return nil }
func (o *memoryOutput) ReadCommitPoint(_ context.Context, parts source.Partitions) (*streamkit.CommitPoint, error) {
	o.store.mu.Lock()
	defer o.store.mu.Unlock()
	cp := &streamkit.CommitPoint{Job: o.store.job, CheckpointID: o.store.id, Positions: o.store.commits.Within(parts)}
	if len(cp.Positions) == 0 {
		return nil, streamkit.ErrNoCommitPoint
	}
	return cp, nil
}
func (o *memoryOutput) Begin(context.Context) error { o.pending = o.pending[:0]; return nil }
func (o *memoryOutput) Commit(_ context.Context, cp *streamkit.CommitPoint) error {
	o.store.mu.Lock()
	defer o.store.mu.Unlock()
	o.store.values = append(o.store.values, o.pending...)
	o.store.job, o.store.id = cp.Job, cp.CheckpointID
	maps.Copy(o.store.commits, cp.Positions)
	o.pending = nil
	return nil
}
func (o *memoryOutput) Abort(context.Context) error { o.pending = nil; return nil }
func (o *memoryOutput) Close() error                { return nil }

// processorFunc is a stateless Processor.
type processorFunc func(ctx context.Context, rec *source.Record) error

func (f processorFunc) Tables() []checkpoint.StateTable                       { return nil }
func (f processorFunc) Process(ctx context.Context, rec *source.Record) error { return f(ctx, rec) }

func TestJobDeadLetterKafkaAndTransientErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "dlq", 1))
	store := &memoryStore{commits: source.Positions{}}
	var down atomic.Int32
	down.Store(2) // the first two attempts at record "slow" find the service down

	var recs []kafkatest.Record
	for _, v := range []string{"a", "b", "bad", "slow", "c"} {
		recs = append(recs, kafkatest.Record{Value: []byte(v)})
	}
	require.NoError(t, cl.Produce(ctx, "in", recs...))

	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	job, err := streamkit.NewJob("store", in,
		func(ctx context.Context, info streamkit.TaskInfo) (streamkit.Output, *memoryOutput, error) {
			o := &memoryOutput{store: store}
			return o, o, nil
		},
		func(info streamkit.TaskInfo, out *memoryOutput) (streamkit.Processor, error) {
			return processorFunc(func(ctx context.Context, rec *source.Record) error {
				switch string(rec.Value) {
				case "bad":
					return streamkit.Stage("validate", errors.New("bad value"))
				case "slow":
					if down.Add(-1) >= 0 {
						return streamkit.Transient(errors.New("service unavailable"))
					}
				}
				out.pending = append(out.pending, string(rec.Value))
				return nil
			}), nil
		},
		streamkit.WithCheckpointInterval(100*time.Millisecond),
		streamkit.WithRestartBackoff(10*time.Millisecond, 20*time.Millisecond),
		streamkit.WithDeadLetterKafka("dlq", streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	require.Eventually(t, func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return len(store.values) == 4
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	store.mu.Lock()
	assert.Equal(t, []string{"a", "b", "slow", "c"}, store.values, "each good record applied once, in order")
	assert.Equal(t, int64(5), store.commits[source.TopicPartition{Topic: "in"}])
	store.mu.Unlock()
	assert.Equal(t, int64(2), job.Stats().Restarts, "each transient failure rewinds once")
	dl, err := cl.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	require.NotEmpty(t, dl)
	for _, d := range dl {
		assert.Equal(t, "bad", string(d.Value))
		stage, _ := d.HeaderValue(streamkit.HeaderDLQStage)
		assert.Equal(t, "validate", string(stage))
	}
}

func TestJobFailsAtOnceWhenTheCommittedCheckpointIsMissing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "out", 1))
	produceKeys(t, ctx, cl, 0, 5)
	job := newCounterJob(t, cl, checkpoint.NewMemoryStore())
	done := runUntil(t, ctx, job, func() bool { return job.Stats().Checkpoints > 0 && job.Stats().Processed == 5 })
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	// The same job on an empty store: its commit point names a checkpoint
	// that is not there. No restart can fix that.
	job = newCounterJob(t, cl, checkpoint.NewMemoryStore(), streamkit.WithRestartBackoff(time.Second, time.Second))
	err := job.Run(ctx)
	require.ErrorIs(t, err, streamkit.ErrCheckpointMissing)
	assert.Contains(t, err.Error(), `"counts.task-0"`)
	assert.Zero(t, job.Stats().Restarts)
}
