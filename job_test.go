package streamkit_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// counter is a stateful processor: it counts records per key and emits
// "key=count" for each one; a value "bad" fails (dead letter).
type counter struct {
	out    streamkit.RecordSender
	counts *checkpoint.Table[string, int64]
	topic  string
}

func (c *counter) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{c.counts} }

func (c *counter) Process(ctx context.Context, rec *source.Record) error {
	if string(rec.Value) == "bad" {
		return streamkit.Stage("decode", fmt.Errorf("value %q is not a count", rec.Value))
	}
	n, _ := c.counts.Get(string(rec.Key))
	n++
	c.counts.Set(string(rec.Key), n)
	return c.out.Send(ctx, streamkit.KafkaRecord{Topic: c.topic, Key: rec.Key, Value: []byte(string(rec.Key) + "=" + strconv.FormatInt(n, 10))})
}

func newCounterJob(t *testing.T, cl *kafkatest.Cluster, store checkpoint.Store, opts ...streamkit.Option) *streamkit.Job {
	t.Helper()
	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	outCfg := streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}
	opts = append([]streamkit.Option{streamkit.WithCheckpointStore(store),
		streamkit.WithCheckpointInterval(200 * time.Millisecond)}, opts...)
	job, err := streamkit.NewJob("counts", in, streamkit.KafkaOutputs(outCfg),
		func(info streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
			return &counter{out: out, counts: checkpoint.NewTable[string, int64]("counts", 1), topic: "out"}, nil
		}, opts...)
	require.NoError(t, err)
	return job
}

func TestJobCountsExactlyOnceAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 2))
	require.NoError(t, cl.CreateTopic(ctx, "out", 2))
	require.NoError(t, cl.CreateTopic(ctx, "dlq", 1))
	store := checkpoint.NewMemoryStore()

	produce := func(from, to int) {
		var recs []kafkatest.Record
		for i := from; i < to; i++ {
			v := "x"
			if i%50 == 7 {
				v = "bad"
			}
			recs = append(recs, kafkatest.Record{Key: []byte("k" + strconv.Itoa(i%5)), Value: []byte(v)})
		}
		require.NoError(t, cl.ProduceKeyed(ctx, "in", recs...))
	}
	produce(0, 100)

	job := newCounterJob(t, cl, store, streamkit.WithDeadLetterTopic("dlq"))
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	_, err := cl.WaitForRecords(ctx, "out", 98)
	require.NoError(t, err)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	produce(100, 200)
	job2 := newCounterJob(t, cl, store, streamkit.WithDeadLetterTopic("dlq"))
	go func() { done <- job2.Run(ctx) }()
	out, err := cl.WaitForRecords(ctx, "out", 196)
	require.NoError(t, err)
	require.NoError(t, job2.Stop(ctx))
	require.NoError(t, <-done)

	out, err = cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	final := map[string]int{}
	seen := map[string]bool{}
	for _, r := range out {
		k, v, ok := strings.Cut(string(r.Value), "=")
		require.True(t, ok)
		require.False(t, seen[string(r.Value)], "duplicate output %s", r.Value)
		seen[string(r.Value)] = true
		n, _ := strconv.Atoi(v)
		final[k] = max(final[k], n)
	}
	assert.Len(t, out, 196)
	// 200 records over 5 keys; the 4 bad ones (i%50 == 7) are all key k2.
	assert.Equal(t, map[string]int{"k0": 40, "k1": 40, "k2": 36, "k3": 40, "k4": 40}, final)
	dl, err := cl.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	assert.Len(t, dl, 4)
	for _, d := range dl {
		stage, _ := d.HeaderValue(streamkit.HeaderDLQStage)
		assert.Equal(t, "decode", string(stage))
	}
}
