package streamkit_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// sorter holds records back in checkpointed state until the watermark
// passes their event time, then emits them in event-time order.
type sorter struct {
	out     streamkit.RecordSender
	pending *checkpoint.Table[int64, string]
}

func (s *sorter) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{s.pending} }

func (s *sorter) Process(ctx context.Context, rec *source.Record) error {
	s.pending.Set(rec.EventTime.UnixMilli(), string(rec.Value))
	return nil
}

func (s *sorter) OnWatermark(ctx context.Context, wm time.Time) error {
	var due []int64
	s.pending.Range(func(ms int64, _ string) bool {
		if ms <= wm.UnixMilli() {
			due = append(due, ms)
		}
		return true
	})
	slices.Sort(due)
	for _, ms := range due {
		v, _ := s.pending.Get(ms)
		if err := s.out.Send(ctx, streamkit.KafkaRecord{Topic: "out", Value: []byte(v)}); err != nil {
			return err
		}
		s.pending.Delete(ms)
	}
	return nil
}

func TestJobWatermarkHandlerReorders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "out", 1))
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []kafkatest.Record
	for _, sec := range []int{5, 3, 4, 1, 2, 9, 7, 8, 6} {
		recs = append(recs, kafkatest.Record{Value: []byte(strconv.Itoa(sec)), Timestamp: base.Add(time.Duration(sec) * time.Second)})
	}
	require.NoError(t, cl.Produce(ctx, "in", recs...))

	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"}, Options: []source.Option{
		source.WithBaseConfig(cl.SaramaConfig()),
		// Records may be up to 5 s late: the watermark trails by that.
		source.WithWatermarks(5*time.Second, time.Minute),
	}}
	job, err := streamkit.NewJob("sorter", in, streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}),
		func(info streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
			return &sorter{out: out, pending: checkpoint.NewTable[int64, string]("pending", 1)}, nil
		}, streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()), streamkit.WithCheckpointInterval(100*time.Millisecond))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	// The maximum event time is 9 s, so the watermark is 4 s: 1..4 are due.
	out, err := cl.WaitForRecords(ctx, "out", 4)
	require.NoError(t, err)
	// A record at 20 s moves the watermark to 15 s: the rest is due.
	require.NoError(t, cl.Produce(ctx, "in", kafkatest.Record{Value: []byte("20"), Timestamp: base.Add(20 * time.Second)}))
	out, err = cl.WaitForRecords(ctx, "out", 9)
	require.NoError(t, err)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	var got []string
	for _, r := range out {
		got = append(got, string(r.Value))
	}
	assert.Equal(t, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}, got)
}
