package streamkit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// No poison record can stop a partition: records of 1, 10 and 100 MiB
// that the processor refuses are dead-lettered (cut to fit the dead-letter
// topic, with their size and hash), and the records around them flow.
func TestJobDeadLettersOversizedPoison(t *testing.T) {
	if testing.Short() {
		t.Skip("moves over 100 MiB through the broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const maxInput = 200 << 20
	cl := kafkatest.NewCluster(t, kafkatest.BrokerConfigs(map[string]string{
		"message.max.bytes": strconv.Itoa(maxInput), "replica.fetch.max.bytes": strconv.Itoa(maxInput)}))
	for _, topic := range []string{"in", "out", "dlq"} {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	sizes := []int{1 << 20, 10 << 20, 100 << 20}
	poison := map[int][]byte{}
	var recs []kafkatest.Record
	for i, size := range sizes {
		recs = append(recs, kafkatest.Record{Key: []byte("k"), Value: []byte("ok" + strconv.Itoa(i))})
		v := bytes.Repeat([]byte{'p'}, size)
		copy(v, "poison "+strconv.Itoa(size))
		poison[size] = v
		recs = append(recs, kafkatest.Record{Key: []byte("poison-" + strconv.Itoa(i)), Value: v})
	}
	recs = append(recs, kafkatest.Record{Key: []byte("k"), Value: []byte("ok-last")})
	for _, r := range recs { // one at a time: each must fit one produce request
		require.NoError(t, cl.Produce(ctx, "in", r))
	}

	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	job, err := streamkit.NewJob("poison", in,
		streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}),
		func(_ streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
			return processorFunc(func(ctx context.Context, rec *source.Record) error {
				if len(rec.Value) > 1000 {
					return streamkit.Stage("decode", errors.New("record too large to be an event"))
				}
				return out.Send(ctx, streamkit.KafkaRecord{Topic: "out", Key: rec.Key, Value: rec.Value})
			}), nil
		},
		streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()),
		streamkit.WithCheckpointInterval(200*time.Millisecond),
		streamkit.WithDeadLetterTopic("dlq"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	out, err := cl.WaitForRecords(ctx, "out", 4)
	require.NoError(t, err)
	dl, err := cl.WaitForRecords(ctx, "dlq", 3)
	require.NoError(t, err)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	var got []string
	for _, r := range out {
		got = append(got, string(r.Value))
	}
	assert.Equal(t, []string{"ok0", "ok1", "ok2", "ok-last"}, got, "the partition flowed past every poison record")
	require.Len(t, dl, 3)
	for i, d := range dl {
		size := sizes[i]
		sum := sha256.Sum256(poison[size])
		assert.LessOrEqual(t, len(d.Value), streamkit.DefaultMaxDeadLetterBytes)
		assert.True(t, bytes.HasPrefix(poison[size], d.Value), "the dead letter keeps the start of the value")
		tr, _ := d.HeaderValue(streamkit.HeaderDLQTruncated)
		assert.Equal(t, "value", string(tr))
		sz, _ := d.HeaderValue(streamkit.HeaderDLQValueSize)
		assert.Equal(t, strconv.Itoa(size), string(sz))
		h, _ := d.HeaderValue(streamkit.HeaderDLQValueSHA256)
		assert.Equal(t, hex.EncodeToString(sum[:]), string(h))
		off, _ := d.HeaderValue(streamkit.HeaderDLQOffset)
		assert.Equal(t, strconv.Itoa(2*i+1), string(off))
	}
	assert.Equal(t, int64(3), job.Stats().DeadLettersTruncated)
}
