package streamkit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// refusingOutput is a store-like output (not a Kafka sender) whose store
// refuses some values at commit: it dead-letters their records through the
// task's TaskInfo.DeadLetters and applies the rest, and sends the job's dead
// letters through a KafkaSender.
type refusingOutput struct {
	memoryOutput
	info    streamkit.TaskInfo
	sender  *streamkit.KafkaSender
	records []source.Record // records of pending, in order
}

func (o *refusingOutput) Send(ctx context.Context, rec streamkit.KafkaRecord) error {
	return o.sender.Send(ctx, rec)
}

func (o *refusingOutput) Begin(ctx context.Context) error {
	o.records = o.records[:0]
	return o.memoryOutput.Begin(ctx)
}

func (o *refusingOutput) Commit(ctx context.Context, cp *streamkit.CommitPoint) error {
	kept := o.pending[:0]
	for i, v := range o.pending {
		if v == "refused-by-store" {
			f := streamkit.Failure{Record: o.records[i], Stage: "sink:store", Class: "store-refused", Err: errors.New("store refused the value")}
			if err := o.info.DeadLetters.Write(ctx, f); err != nil {
				return err
			}
			continue
		}
		kept = append(kept, v)
	}
	o.pending = kept
	return o.memoryOutput.Commit(ctx, cp)
}

// TestTaskDeadLettersCountedLikeTheRunners: dead letters an output writes at
// commit through TaskInfo.DeadLetters land in the dead-letter topic next to
// the runner's own (a Process error) and are counted alike, so the job's
// Stats and hooks agree with the topic.
func TestTaskDeadLettersCountedLikeTheRunners(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "dlq", 1))
	var recs []kafkatest.Record
	for _, v := range []string{"a", "refused-by-store", "bad", "b", "refused-by-store", "c"} {
		recs = append(recs, kafkatest.Record{Value: []byte(v)})
	}
	require.NoError(t, cl.Produce(ctx, "in", recs...))

	sender, err := streamkit.NewKafkaSender(cl.Addrs(), cl.SaramaConfig())
	require.NoError(t, err)
	defer func() { require.NoError(t, sender.Close()) }()
	store := &memoryStore{commits: source.Positions{}}
	var hooked int
	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	job, err := streamkit.NewJob("refusing", in,
		func(ctx context.Context, info streamkit.TaskInfo) (streamkit.Output, *refusingOutput, error) {
			require.NotNil(t, info.DeadLetters)
			o := &refusingOutput{memoryOutput: memoryOutput{store: store}, info: info, sender: sender}
			return o, o, nil
		},
		func(info streamkit.TaskInfo, out *refusingOutput) (streamkit.Processor, error) {
			return processorFunc(func(ctx context.Context, rec *source.Record) error {
				if string(rec.Value) == "bad" {
					return streamkit.Stage("validate", errors.New("bad value"))
				}
				out.pending = append(out.pending, string(rec.Value))
				out.records = append(out.records, *rec)
				return nil
			}), nil
		},
		streamkit.WithCheckpointInterval(100*time.Millisecond),
		streamkit.WithDeadLetterTopic("dlq"),
		streamkit.WithOnDeadLetter(func(streamkit.Failure) { hooked++ }))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	require.Eventually(t, func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.commits[source.TopicPartition{Topic: "in"}] == 6
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	store.mu.Lock()
	assert.Equal(t, []string{"a", "b", "c"}, store.values)
	store.mu.Unlock()
	dl, err := cl.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	stages := map[string]int{}
	for _, d := range dl {
		stage, _ := d.HeaderValue(streamkit.HeaderDLQStage)
		stages[string(stage)]++
	}
	assert.Equal(t, map[string]int{"sink:store": 2, "validate": 1}, stages)
	assert.Equal(t, int64(len(dl)), job.Stats().DeadLettered, "Stats count every dead letter in the topic")
	assert.Equal(t, len(dl), hooked, "the WithOnDeadLetter hook sees every dead letter")
}

// TestTaskDeadLettersWithoutTopic: without a dead-letter topic the task's
// writer refuses with ErrNoDeadLetter rather than drop the record.
func TestTaskDeadLettersWithoutTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.Produce(ctx, "in", kafkatest.Record{Value: []byte("refused-by-store")}))
	store := &memoryStore{commits: source.Positions{}}
	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	job, err := streamkit.NewJob("refusing", in,
		func(ctx context.Context, info streamkit.TaskInfo) (streamkit.Output, *refusingOutput, error) {
			o := &refusingOutput{memoryOutput: memoryOutput{store: store}, info: info}
			return o, o, nil
		},
		func(info streamkit.TaskInfo, out *refusingOutput) (streamkit.Processor, error) {
			return processorFunc(func(ctx context.Context, rec *source.Record) error {
				out.pending = append(out.pending, string(rec.Value))
				out.records = append(out.records, *rec)
				return nil
			}), nil
		},
		streamkit.WithCheckpointInterval(50*time.Millisecond),
		streamkit.WithMaxCheckpointFailures(1))
	require.NoError(t, err)
	err = job.Run(ctx)
	require.ErrorIs(t, err, streamkit.ErrNoDeadLetter)
	store.mu.Lock()
	assert.Empty(t, store.values)
	store.mu.Unlock()
}

// wantsCommitOutput is an Output that asks for early checkpoints.
type wantsCommitOutput struct{ memoryOutput }

func (wantsCommitOutput) WantsCommit() bool { return true }

// recordingSender keeps what it is sent.
type recordingSender struct{ recs []streamkit.KafkaRecord }

func (s *recordingSender) Send(_ context.Context, rec streamkit.KafkaRecord) error {
	s.recs = append(s.recs, rec)
	return nil
}

// TestOutputsSendingTo: the wrapped Output sends through the sender and
// keeps its WantsCommit.
func TestOutputsSendingTo(t *testing.T) {
	ctx := context.Background()
	sender := &recordingSender{}
	for _, tc := range []struct {
		out  streamkit.Output
		want bool
	}{{&wantsCommitOutput{}, true}, {&memoryOutput{}, false}} {
		outs := streamkit.OutputsSendingTo(func(context.Context, streamkit.TaskInfo) (streamkit.Output, int, error) {
			return tc.out, 7, nil
		}, sender)
		out, h, err := outs(ctx, streamkit.TaskInfo{})
		require.NoError(t, err)
		assert.Equal(t, 7, h)
		assert.Equal(t, tc.want, out.(streamkit.CommitRequester).WantsCommit())
		require.NoError(t, out.(streamkit.RecordSender).Send(ctx, streamkit.KafkaRecord{Topic: "dlq"}))
	}
	assert.Len(t, sender.recs, 2)
	outs := streamkit.OutputsSendingTo(func(context.Context, streamkit.TaskInfo) (streamkit.Output, int, error) {
		return &memoryOutput{}, 0, nil
	}, nil)
	out, _, err := outs(ctx, streamkit.TaskInfo{})
	require.NoError(t, err)
	require.ErrorIs(t, out.(streamkit.RecordSender).Send(ctx, streamkit.KafkaRecord{Topic: "dlq"}), streamkit.ErrNoDeadLetter)
}
