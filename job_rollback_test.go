package streamkit_test

import (
	"context"
	"errors"
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

// halfway counts records per key in two tables and writes "key=count";
// for the values "panic" and "fail" it first does all of that and then
// panics or fails, the worst case for a dead-lettered record.
type halfway struct {
	out      streamkit.RecordSender
	counts   *checkpoint.Table[string, int64]
	entities *checkpoint.EntityTable
}

func (h *halfway) Tables() []checkpoint.StateTable {
	return []checkpoint.StateTable{h.counts, h.entities}
}

func (h *halfway) Process(ctx context.Context, rec *source.Record) error {
	k := string(rec.Key)
	n, _ := h.counts.Get(k)
	n++
	h.counts.Set(k, n)
	if string(rec.Value) != "ok" {
		h.counts.Delete("gone") // a delete that the failure must take back
	}
	h.entities.Set("Q"+strconv.FormatInt(n, 10), n)
	if err := h.out.Send(ctx, streamkit.KafkaRecord{Topic: "out", Key: rec.Key,
		Value: []byte(k + "=" + strconv.FormatInt(n, 10))}); err != nil {
		return err
	}
	switch string(rec.Value) {
	case "panic":
		panic("processor bug after mutating state and sending output")
	case "fail":
		return streamkit.Stage("late-check", errors.New("refused after mutating state and sending output"))
	}
	return nil
}

// A record that fails half-way — after it changed two tables and sent
// output — leaves nothing behind: the committed checkpoint and the
// committed output are those of the good records only, and the record is
// dead-lettered once.
func TestJobFailedRecordLeavesNoHalfAppliedStateOrOutput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	for _, topic := range []string{"in", "out", "dlq"} {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	values := []string{"ok", "ok", "panic", "ok", "fail", "ok"}
	var recs []kafkatest.Record
	for _, v := range values {
		recs = append(recs, kafkatest.Record{Key: []byte("k"), Value: []byte(v)})
	}
	require.NoError(t, cl.ProduceKeyed(ctx, "in", recs...))

	store := checkpoint.NewMemoryStore()
	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	job, err := streamkit.NewJob("halfway", in,
		streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}),
		func(_ streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
			h := &halfway{out: out, counts: checkpoint.NewTable[string, int64]("counts", 1),
				entities: checkpoint.NewEntityTable("entities", 1)}
			h.counts.Set("gone", -1)
			return h, nil
		},
		streamkit.WithCheckpointStore(store),
		streamkit.WithCheckpointInterval(100*time.Millisecond),
		streamkit.WithDeadLetterTopic("dlq"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	_, err = cl.WaitForRecords(ctx, "dlq", 2)
	require.NoError(t, err)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	out, err := cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	var got []string
	for _, r := range out {
		got = append(got, string(r.Value))
	}
	assert.Equal(t, []string{"k=1", "k=2", "k=3", "k=4"}, got, "only the good records' output, counted without the failed ones")

	dl, err := cl.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	require.Len(t, dl, 2)
	var classes []string
	for _, d := range dl {
		c, _ := d.HeaderValue(streamkit.HeaderDLQErrorClass)
		classes = append(classes, string(c))
	}
	assert.Equal(t, "panic", classes[0])
	assert.True(t, strings.HasPrefix(string(dl[1].Value), "fail"), "the failing record's bytes")

	// The committed checkpoint holds the good records' state only.
	ck, err := checkpoint.NewCheckpointer(store, streamkit.TaskNamespace("halfway", 0))
	require.NoError(t, err)
	counts := checkpoint.NewTable[string, int64]("counts", 1)
	entities := checkpoint.NewEntityTable("entities", 1)
	_, err = ck.RestoreLatest(ctx, []checkpoint.PartitionState{{Partition: 0,
		Tables: []checkpoint.StateTable{counts, entities}}})
	require.NoError(t, err)
	n, _ := counts.Get("k")
	assert.Equal(t, int64(4), n)
	gone, ok := counts.Get("gone")
	assert.True(t, ok, "the failed records' delete was undone")
	assert.Equal(t, int64(-1), gone)
	assert.Equal(t, 4, entities.Len(), "Q1..Q4, no entry of a failed record")
	_, ok = entities.Get("Q5")
	assert.False(t, ok)
}
