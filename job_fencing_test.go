package streamkit_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// stallingCounter is a counter that, in the instance given a stall
// channel, hangs on the record with value "stall" until the channel is
// closed: a zombie, alive but not polling, as after a long GC pause.
type stallingCounter struct {
	counter
	stall     <-chan struct{}
	stalled   func() // called once the stall begins
	stateless bool
}

func (c *stallingCounter) Tables() []checkpoint.StateTable {
	if c.stateless {
		return nil
	}
	return c.counter.Tables()
}

func (c *stallingCounter) Process(ctx context.Context, rec *source.Record) error {
	if string(rec.Value) == "stall" && c.stall != nil {
		c.stalled()
		<-c.stall
	}
	if c.stateless { // output "key=offset+1": exactly once means each offset once
		return c.out.Send(ctx, streamkit.KafkaRecord{Topic: c.topic, Key: rec.Key,
			Value: []byte(string(rec.Key) + "=" + strconv.FormatInt(rec.Offset+1, 10))})
	}
	return c.counter.Process(ctx, rec)
}

func newStallingJob(t *testing.T, cl *kafkatest.Cluster, store checkpoint.Store, stall <-chan struct{}, stalled func(),
	onCheckpoint func(streamkit.CheckpointEvent)) *streamkit.Job {
	t.Helper()
	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"}, Options: []source.Option{
		source.WithBaseConfig(cl.SaramaConfig()),
		source.WithSaramaConfig(func(c *sarama.Config) {
			// A member that does not rejoin within this is dropped
			// from the group and its partitions go to the others.
			c.Consumer.Group.Rebalance.Timeout = 2 * time.Second
			c.Consumer.Group.Session.Timeout = 2 * time.Second
			c.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
		}),
	}}
	outCfg := streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}
	job, err := streamkit.NewJob("fenced", in, streamkit.KafkaOutputs(outCfg),
		func(info streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
			return &stallingCounter{stall: stall, stalled: stalled, stateless: store == nil, counter: counter{out: out, topic: "out",
				counts: checkpoint.NewTable[string, int64]("counts", 1)}}, nil
		},
		streamkit.WithCheckpointStore(store), streamkit.WithCheckpointInterval(100*time.Millisecond),
		streamkit.WithOnCheckpoint(onCheckpoint),
		streamkit.WithRestartBackoff(50*time.Millisecond, 200*time.Millisecond), streamkit.WithMaxCheckpointFailures(20))
	require.NoError(t, err)
	return job
}

// TestJobFencesZombie: instance A hangs inside Process with records of an
// open transaction; the group drops it and B takes the task over. When A
// wakes up its commit must fail (its producer is fenced by B's claim), so
// none of its output becomes visible, and the output stays exactly once.
func TestJobFencesZombie(t *testing.T) {
	t.Run("stateful", func(t *testing.T) { testJobFencesZombie(t, true) })
	// Without a checkpoint store nothing but the producer fence stops the
	// zombie: its commit must fail with streamkit.ErrFenced.
	t.Run("stateless", func(t *testing.T) { testJobFencesZombie(t, false) })
}

func testJobFencesZombie(t *testing.T, stateful bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t, kafkatest.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "500"}))
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "out", 1))
	var store checkpoint.Store
	if stateful {
		store = checkpoint.NewMemoryStore()
	}
	var zombieErrs []error
	var mu sync.Mutex
	onZombieCheckpoint := func(ev streamkit.CheckpointEvent) {
		if ev.Err != nil {
			mu.Lock()
			zombieErrs = append(zombieErrs, ev.Err)
			mu.Unlock()
		}
	}

	produce := func(from, to int, value string) {
		var recs []kafkatest.Record
		for i := from; i < to; i++ {
			recs = append(recs, kafkatest.Record{Key: []byte("k" + strconv.Itoa(i%3)), Value: []byte(value)})
		}
		require.NoError(t, cl.Produce(ctx, "in", recs...))
	}
	produce(0, 30, "x")
	stall, stalled := make(chan struct{}), make(chan struct{})
	var stalledOnce sync.Once
	a := newStallingJob(t, cl, store, stall, func() { stalledOnce.Do(func() { close(stalled) }) }, onZombieCheckpoint)
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctx) }()
	require.Eventually(t, func() bool { return a.Stats().Checkpoints > 0 && a.Stats().Processed == 30 },
		30*time.Second, 20*time.Millisecond)

	// A processes 10 more records into its open transaction, then hangs.
	// The test waits for the hang itself (Processed is counted per batch,
	// so it says nothing while the batch is stuck) and for A's 10 records
	// to reach the log, uncommitted.
	produce(30, 40, "x")
	produce(40, 41, "stall")
	produce(41, 50, "x")
	select {
	case <-stalled:
	case <-ctx.Done():
		t.Fatal("the zombie never reached the stall record")
	}
	require.Eventually(t, func() bool {
		out, err := cl.ReadUncommitted(ctx, "out")
		return err == nil && len(out) >= 40
	}, 30*time.Second, 20*time.Millisecond, "the zombie's open transaction holds its 10 records")

	b := newStallingJob(t, cl, store, nil, nil, nil)
	doneB := make(chan error, 1)
	go func() { doneB <- b.Run(ctx) }()
	// B gets the task once the group gives up on A, and catches up.
	require.Eventually(t, func() bool { return b.Stats().Processed >= 20 && b.Stats().Checkpoints > 0 },
		60*time.Second, 20*time.Millisecond)
	beforeWake := outputCounts(t, ctx, cl)

	close(stall) // the zombie wakes up and tries to commit
	produce(50, 60, "x")
	require.Eventually(t, func() bool {
		c := outputCounts(t, ctx, cl)
		return len(c["k0"]) == 20 && len(c["k1"]) == 20 && len(c["k2"]) == 20
	}, 60*time.Second, 50*time.Millisecond)
	require.NoError(t, a.Stop(ctx))
	require.NoError(t, <-doneA)
	require.NoError(t, b.Stop(ctx))
	require.NoError(t, <-doneB)

	// Stateful: each key's counts are 1..20. Stateless: each key's values
	// are the offsets (+1) of its records, i%3 == key, in order.
	want := func(key string, n int) []int {
		if stateful {
			return intRange(1, n)
		}
		var w []int
		for i := 0; len(w) < n; i++ {
			if "k"+strconv.Itoa(i%3) == key {
				w = append(w, i+1)
			}
		}
		return w
	}
	for k, counts := range outputCounts(t, ctx, cl) {
		assert.Equal(t, want(k, 20), counts, k)
	}
	for k, counts := range beforeWake {
		assert.Equal(t, want(k, len(counts)), counts, "before the zombie woke: %s", k)
	}
	out, err := cl.ReadUncommitted(ctx, "out")
	require.NoError(t, err)
	assert.Greater(t, len(out), 60, "the zombie's records reached the log, aborted")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, zombieErrs, "the zombie's checkpoint after waking up must fail")
	err = zombieErrs[0]
	if !stateful {
		// Nothing else stopped it: the broker refused its transaction
		// (fenced, or its records refused because the new owner's claim
		// aborted the transaction: kfake answers INVALID_TXN_STATE).
		require.ErrorIs(t, err, streamkit.ErrCommitFailed, "%v", zombieErrs)
	} else {
		// Its snapshot collides with the new owner's checkpoint ID, or its
		// commit is refused; either way nothing of it is visible.
		require.True(t, errors.Is(err, streamkit.ErrCommitFailed) || errors.Is(err, checkpoint.ErrExist), "%v", err)
	}
}
