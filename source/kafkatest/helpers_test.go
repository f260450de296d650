package kafkatest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func TestStartRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  kafkatest.Option
	}{
		{"no brokers", kafkatest.Brokers(0)},
		{"port 0", kafkatest.Ports(0)},
		{"port too big", kafkatest.Ports(70000)},
		{"same port twice", kafkatest.Ports(40001, 40001)},
		{"no partitions", kafkatest.DefaultPartitionCount(0)},
		{"negative seed partitions", kafkatest.SeedTopics(-1, "t")},
		{"bad seed topic", kafkatest.SeedTopics(1, "no spaces")},
		{"pre-0.11 version", kafkatest.KafkaVersion(sarama.V0_10_2_0)},
		{"zero wait", kafkatest.WaitTimeout(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kafkatest.Start(tc.opt)
			require.ErrorIs(t, err, kafkatest.ErrInvalidOption)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), "kafkatest: ")
		})
	}
}

func TestStartAndCloseOutsideTests(t *testing.T) {
	c, err := kafkatest.Start(kafkatest.Brokers(3), kafkatest.SeedTopics(0, "a"), kafkatest.KfakeOnly("three brokers started by the harness"))
	require.NoError(t, err)
	addrs := c.Addrs()
	require.Len(t, addrs, 3)
	assert.NotEqual(t, addrs[0], addrs[1])
	for _, a := range addrs {
		assert.Contains(t, a, "127.0.0.1:")
	}
	n, err := c.Partitions(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, kafkatest.DefaultPartitions, n)

	c.Close()
	c.Close() // idempotent
	_, err = c.ReadCommitted(context.Background(), "a")
	assert.ErrorIs(t, err, kafkatest.ErrClosed)
	assert.ErrorIs(t, c.Produce(context.Background(), "a", kafkatest.Record{}), kafkatest.ErrClosed)
	assert.ErrorIs(t, c.CreateTopic(context.Background(), "b", 1), kafkatest.ErrClosed)
	_, err = c.FailNext(kmsg.Produce, 1, 7)
	assert.ErrorIs(t, err, kafkatest.ErrClosed)
	assert.Equal(t, 0, c.DropConnections())
}

func TestCreateTopic(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.DefaultPartitionCount(2))

	require.NoError(t, c.CreateTopic(ctx, "four", 4))
	require.NoError(t, c.CreateTopic(ctx, "default", 0))
	n, err := c.Partitions(ctx, "four")
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	n, err = c.Partitions(ctx, "default")
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	assert.ErrorIs(t, c.CreateTopic(ctx, "four", 4), kafkatest.ErrTopicExists)
	assert.ErrorIs(t, c.CreateTopic(ctx, "bad/name", 1), kafkatest.ErrInvalidArgument)
	assert.ErrorIs(t, c.CreateTopic(ctx, "", 1), kafkatest.ErrInvalidArgument)
	assert.ErrorIs(t, c.CreateTopic(ctx, "neg", -1), kafkatest.ErrInvalidArgument)

	require.NoError(t, c.Produce(ctx, "four", kafkatest.Record{Partition: 3, Value: []byte("v")}))
	// The harness's own connections are not client connections, and are
	// never dropped.
	assert.Equal(t, 0, c.ClientConnections())
	assert.Equal(t, 0, c.DropConnections())
	err = c.Produce(ctx, "four", kafkatest.Record{Partition: 4, Value: []byte("v")})
	assert.ErrorIs(t, err, kafkatest.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "partition 4")
}

func TestUnknownTopicAndAutoCreate(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t)
	_, err := c.ReadCommitted(ctx, "nope")
	assert.ErrorIs(t, err, kafkatest.ErrUnknownTopic)
	assert.ErrorIs(t, c.Produce(ctx, "nope", kafkatest.Record{}), kafkatest.ErrUnknownTopic)
	_, err = c.Partitions(ctx, "nope")
	assert.ErrorIs(t, err, kafkatest.ErrUnknownTopic)

	auto := kafkatest.NewCluster(t, kafkatest.AutoCreateTopics(), kafkatest.DefaultPartitionCount(5),
		kafkatest.KfakeOnly("a real broker auto-creates topics with its own num.partitions"))
	p, err := sarama.NewSyncProducer(auto.Addrs(), auto.SaramaConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	sendAll(t, p, "created-on-use", "v")
	n, err := auto.Partitions(ctx, "created-on-use")
	require.NoError(t, err)
	assert.Equal(t, 5, n)
}

func TestProduceReadRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, "rt"))
	ts := time.UnixMilli(1_700_000_000_123)
	in := []kafkatest.Record{
		{Partition: 1, Key: []byte("k"), Value: []byte("v"), Timestamp: ts,
			Headers: []kafkatest.Header{{Key: "a", Value: []byte("1")}, {Key: "nil"}, {Key: "a", Value: []byte("2")}}},
		{Partition: 1, Key: nil, Value: []byte{}, Timestamp: ts.Add(time.Millisecond)},
		{Partition: 0, Key: []byte{}, Value: nil, Timestamp: ts},
	}
	require.NoError(t, c.Produce(ctx, "rt", in...))
	got, err := c.ReadCommitted(ctx, "rt")
	require.NoError(t, err)
	require.Len(t, got, 3)

	p0, p1a, p1b := got[0], got[1], got[2]
	assert.Equal(t, kafkatest.Record{Topic: "rt", Partition: 0, Offset: 0, Key: []byte{}, Value: nil, Timestamp: ts}, stripLocation(p0))
	assert.Equal(t, int32(1), p1a.Partition)
	assert.Equal(t, int64(0), p1a.Offset)
	assert.Equal(t, []kafkatest.Header{{Key: "a", Value: []byte("1")}, {Key: "nil"}, {Key: "a", Value: []byte("2")}}, p1a.Headers)
	v, ok := p1a.HeaderValue("a")
	assert.True(t, ok)
	assert.Equal(t, "1", string(v))
	_, ok = p1a.HeaderValue("missing")
	assert.False(t, ok)
	assert.True(t, ts.Equal(p1a.Timestamp))
	assert.Nil(t, p1b.Key, "nil key stays nil")
	assert.NotNil(t, p1b.Value, "empty value stays empty, not nil")
	assert.Equal(t, int64(1), p1b.Offset)
}

// stripLocation normalizes the timestamp's location so that assert.Equal
// compares instants.
func stripLocation(r kafkatest.Record) kafkatest.Record {
	r.Timestamp = time.UnixMilli(r.Timestamp.UnixMilli())
	return r
}

func TestProduceKeyedMatchesSaramaPartitioner(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(5, "by-sarama", "by-harness"))
	p, err := sarama.NewSyncProducer(c.Addrs(), c.SaramaConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })

	var recs []kafkatest.Record
	want := make(map[string]int32)
	for i := range 40 {
		key := fmt.Sprintf("Q%d", i*7919)
		part, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "by-sarama", Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(key)})
		require.NoError(t, err)
		want[key] = part
		assert.Equal(t, part, kafkatest.SaramaHashPartition([]byte(key), 5), key)
		recs = append(recs, kafkatest.Record{Key: []byte(key), Value: []byte(key), Partition: 4 /* ignored */})
	}
	recs = append(recs, kafkatest.Record{Value: []byte("no key 1")}, kafkatest.Record{Value: []byte("no key 2")})
	require.NoError(t, c.ProduceKeyed(ctx, "by-harness", recs...))

	got, err := c.ReadCommitted(ctx, "by-harness")
	require.NoError(t, err)
	require.Len(t, got, 42)
	parts := make(map[int32]bool)
	for _, r := range got {
		if r.Key == nil {
			continue
		}
		assert.Equal(t, want[string(r.Key)], r.Partition, string(r.Key))
		parts[r.Partition] = true
	}
	assert.Greater(t, len(parts), 1, "keys spread over partitions")
	assert.Equal(t, int32(-1), kafkatest.SaramaHashPartition([]byte("x"), 0))
}

// Two producers interleave in one partition: one aborts, the other stays
// open. The last stable offset sits inside the aborted data; the read must
// still end (it follows fetch positions, not record counts) and return only
// the plain record written before both.
func TestReadCommittedEndsInsideInterleavedTransactions(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "mixed"))
	require.NoError(t, c.Produce(ctx, "mixed", kafkatest.Record{Value: []byte("plain")}))
	a := txnProducer(t, c, "tx-a")
	b := txnProducer(t, c, "tx-b")
	require.NoError(t, a.BeginTxn())
	sendAll(t, a, "mixed", "a1")
	require.NoError(t, b.BeginTxn())
	sendAll(t, b, "mixed", "b1")
	sendAll(t, a, "mixed", "a2")
	require.NoError(t, a.AbortTxn())

	rc, err := c.ReadCommitted(ctx, "mixed")
	require.NoError(t, err)
	assert.Equal(t, []string{"plain"}, values(rc))

	sendAll(t, b, "mixed", "b2")
	require.NoError(t, b.CommitTxn())
	rc, err = c.ReadCommitted(ctx, "mixed")
	require.NoError(t, err)
	assert.Equal(t, []string{"b1", "b2", "plain"}, values(rc))
	ru, err := c.ReadUncommitted(ctx, "mixed")
	require.NoError(t, err)
	assert.Len(t, ru, 5)
}

// Compressed batches (as production producers write them) are decoded.
func TestReadCompressedBatches(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "z"))
	for _, codec := range []sarama.CompressionCodec{sarama.CompressionSnappy, sarama.CompressionZSTD, sarama.CompressionGZIP, sarama.CompressionLZ4} {
		conf := c.SaramaConfig()
		conf.Producer.Compression = codec
		p, err := sarama.NewSyncProducer(c.Addrs(), conf)
		require.NoError(t, err)
		msgs := make([]*sarama.ProducerMessage, 50)
		for i := range msgs {
			msgs[i] = &sarama.ProducerMessage{Topic: "z", Value: sarama.StringEncoder(fmt.Sprintf("%s-%02d-%s", codec, i, "xxxxxxxxxxxxxxxxxxxxxxxx"))}
		}
		require.NoError(t, p.SendMessages(msgs))
		require.NoError(t, p.Close())
	}
	rc, err := c.ReadCommitted(ctx, "z")
	require.NoError(t, err)
	require.Len(t, rc, 200)
	for i, r := range rc {
		assert.Equal(t, int64(i), r.Offset)
	}
}

func TestWaitHelpersTimeOutWithContext(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "w"), kafkatest.WaitTimeout(300*time.Millisecond))

	// No deadline on the context: the cluster's WaitTimeout applies.
	_, err := c.WaitForRecords(context.Background(), "w", 1)
	var we *kafkatest.WaitError
	require.ErrorAs(t, err, &we)
	assert.ErrorIs(t, err, kafkatest.ErrTimeout)
	assert.Equal(t, "no records", we.Last)
	assert.Contains(t, err.Error(), `1 read_committed records in "w"`)

	_, err = c.WaitForRecords(context.Background(), "not-yet", 1)
	require.ErrorAs(t, err, &we)
	assert.Equal(t, "topic does not exist", we.Last)

	_, err = c.WaitForCommittedOffset(context.Background(), "g", "w", 0, 1)
	require.ErrorAs(t, err, &we)
	assert.Equal(t, "no committed offset", we.Last)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.WaitForRecords(ctx, "w", 1)
	assert.ErrorIs(t, err, context.Canceled)

	assert.ErrorIs(t, c.WaitForGroupStable(context.Background(), "nobody", 1), kafkatest.ErrTimeout)

	calls := 0
	err = c.WaitFor(context.Background(), "third call", func(context.Context) (bool, string, error) {
		calls++
		return calls == 3, fmt.Sprintf("call %d", calls), nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
	boom := errors.New("boom")
	err = c.WaitFor(context.Background(), "never", func(context.Context) (bool, string, error) { return false, "", boom })
	assert.ErrorIs(t, err, kafkatest.ErrTimeout)
	assert.ErrorIs(t, err, boom, "the last error is kept")
	assert.ErrorIs(t, c.WaitFor(context.Background(), "nil", nil), kafkatest.ErrInvalidArgument)

	_, err = c.WaitForRecords(context.Background(), "w", -1)
	assert.ErrorIs(t, err, kafkatest.ErrInvalidArgument)
}

func TestFaultArgumentsAreChecked(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.KfakeOnly("fault helpers"))
	_, err := c.FailNext(kmsg.EndTxn, 0, 47)
	assert.ErrorIs(t, err, kafkatest.ErrInvalidArgument)
	_, err = c.FailNext(kmsg.EndTxn, 1, 0)
	assert.ErrorIs(t, err, kafkatest.ErrInvalidArgument)
	_, err = c.FailNext(kmsg.EndTxn, 1, 12345)
	assert.ErrorIs(t, err, kafkatest.ErrInvalidArgument)
	_, err = c.FailNext(kmsg.Key(-3), 1, 47)
	assert.ErrorIs(t, err, kafkatest.ErrInvalidArgument)
	_, err = c.DisconnectOnNext(kmsg.Produce, 0)
	assert.ErrorIs(t, err, kafkatest.ErrInvalidArgument)

	f, err := c.FailNext(kmsg.EndTxn, -1, 47)
	require.NoError(t, err)
	f.Remove()
	f.Remove()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, f.Wait(ctx, 1), kafkatest.ErrTimeout)
}
