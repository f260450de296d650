package kafkatest_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// testCtx bounds a test generously: the suite runs on loaded 2-core CI
// machines next to other packages' tests.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func txnProducer(t *testing.T, c *kafkatest.Cluster, id string) sarama.SyncProducer {
	t.Helper()
	p, err := sarama.NewSyncProducer(c.Addrs(), c.SaramaConfig(kafkatest.TransactionalID(id)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

type sent struct {
	partition int32
	offset    int64
	value     string
}

// sendAll sends values (keyed by themselves) and returns where they landed.
func sendAll(t *testing.T, p sarama.SyncProducer, topic string, values ...string) []sent {
	t.Helper()
	var out []sent
	for _, v := range values {
		part, off, err := p.SendMessage(&sarama.ProducerMessage{
			Topic:   topic,
			Key:     sarama.StringEncoder(v),
			Value:   sarama.StringEncoder(v),
			Headers: []sarama.RecordHeader{{Key: []byte("origin"), Value: []byte("test-" + v)}},
		})
		require.NoError(t, err, "send %s", v)
		out = append(out, sent{partition: part, offset: off, value: v})
	}
	return out
}

func values(rs []kafkatest.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	sort.Strings(out)
	return out
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

func TestReadCommittedSeesOnlyCommittedTransactions(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(3, "out"))
	p := txnProducer(t, c, "tx-commit-abort")

	require.NoError(t, p.BeginTxn())
	committed := sendAll(t, p, "out", names("committed", 9)...)
	require.NoError(t, p.CommitTxn())

	require.NoError(t, p.BeginTxn())
	sendAll(t, p, "out", names("aborted", 5)...)
	require.NoError(t, p.AbortTxn())

	require.NoError(t, p.BeginTxn())
	sendAll(t, p, "out", names("open", 3)...)

	rc, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.Equal(t, names("committed", 9), values(rc), "only the committed transaction; the open one is held back by the LSO")

	// Every record comes back where sarama said it was written, with its
	// key, headers and a timestamp, ordered by partition then offset.
	want := make(map[sent]bool)
	for _, s := range committed {
		want[s] = true
	}
	for i, r := range rc {
		assert.True(t, want[sent{r.Partition, r.Offset, string(r.Value)}], "record %s at %d/%d was not sent there", r.Value, r.Partition, r.Offset)
		assert.Equal(t, "out", r.Topic)
		assert.Equal(t, string(r.Value), string(r.Key))
		origin, ok := r.HeaderValue("origin")
		assert.True(t, ok)
		assert.Equal(t, "test-"+string(r.Value), string(origin))
		assert.WithinDuration(t, time.Now(), r.Timestamp, time.Minute)
		if i > 0 {
			prev := rc[i-1]
			assert.True(t, prev.Partition < r.Partition || prev.Partition == r.Partition && prev.Offset < r.Offset, "order")
		}
	}

	ru, err := c.ReadUncommitted(ctx, "out")
	require.NoError(t, err)
	assert.Len(t, ru, 9+5+3, "read_uncommitted sees aborted and open records too")

	require.NoError(t, p.CommitTxn())
	rc, err = c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.Equal(t, append(names("committed", 9), names("open", 3)...), values(rc))
}

func TestTxnOffsetCommitShowsInCommittedOffsets(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, "in"), kafkatest.SeedTopics(1, "out"))
	p := txnProducer(t, c, "tx-offsets")
	meta := func(s string) *string { return &s }

	require.NoError(t, p.BeginTxn())
	sendAll(t, p, "out", "a", "b")
	require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{
		"in": {{Partition: 0, Offset: 3, Metadata: meta("checkpoint-1")}, {Partition: 1, Offset: 7, Metadata: meta("checkpoint-1")}},
	}, "job"))
	require.NoError(t, p.CommitTxn())

	offs, err := c.CommittedOffsets(ctx, "job")
	require.NoError(t, err)
	assert.Equal(t, map[kafkatest.TopicPartition]kafkatest.CommittedOffset{
		{Topic: "in", Partition: 0}: {Offset: 3, Metadata: "checkpoint-1"},
		{Topic: "in", Partition: 1}: {Offset: 7, Metadata: "checkpoint-1"},
	}, offs)

	// An aborted transaction's offsets are never applied.
	require.NoError(t, p.BeginTxn())
	sendAll(t, p, "out", "c")
	require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{
		"in": {{Partition: 0, Offset: 5, Metadata: meta("checkpoint-2")}},
	}, "job"))
	require.NoError(t, p.AbortTxn())
	offs, err = c.CommittedOffsets(ctx, "job")
	require.NoError(t, err)
	assert.Equal(t, kafkatest.CommittedOffset{Offset: 3, Metadata: "checkpoint-1"}, offs[kafkatest.TopicPartition{Topic: "in", Partition: 0}])

	// Nor are those of a transaction still open, and reading does not wait
	// for it to end.
	require.NoError(t, p.BeginTxn())
	sendAll(t, p, "out", "d")
	require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{
		"in": {{Partition: 1, Offset: 9, Metadata: meta("checkpoint-3")}},
	}, "job"))
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	offs, err = c.CommittedOffsets(short, "job")
	require.NoError(t, err)
	assert.Equal(t, kafkatest.CommittedOffset{Offset: 7, Metadata: "checkpoint-1"}, offs[kafkatest.TopicPartition{Topic: "in", Partition: 1}])

	out, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, values(out))

	require.NoError(t, p.CommitTxn())
	co, err := c.WaitForCommittedOffset(ctx, "job", "in", 1, 9)
	require.NoError(t, err)
	assert.Equal(t, kafkatest.CommittedOffset{Offset: 9, Metadata: "checkpoint-3"}, co)

	none, err := c.CommittedOffsets(ctx, "nobody")
	require.NoError(t, err)
	assert.Empty(t, none)
}

// groupHandler marks every message and commits once it has seen want of
// them.
type groupHandler struct {
	want int
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	seen := 0
	for m := range claim.Messages() {
		s.MarkMessage(m, "checkpoint-9")
		if seen++; seen == h.want {
			s.Commit()
		}
	}
	return nil
}

func TestConsumerGroupOffsetCommitAndWait(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "in"))
	require.NoError(t, c.Produce(ctx, "in", kafkatest.Record{Value: []byte("1")}, kafkatest.Record{Value: []byte("2")}, kafkatest.Record{Value: []byte("3")}))

	conf := c.SaramaConfig()
	conf.Consumer.Offsets.AutoCommit.Enable = false
	g, err := sarama.NewConsumerGroup(c.Addrs(), "plain", conf)
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	h := &groupHandler{want: 3}
	gctx, stop := context.WithCancel(ctx)
	consumed := make(chan error, 1)
	go func() { consumed <- g.Consume(gctx, []string{"in"}, h) }()

	require.NoError(t, c.WaitForGroupStable(ctx, "plain", 1))
	co, err := c.WaitForCommittedOffset(ctx, "plain", "in", 0, 3)
	require.NoError(t, err)
	assert.Equal(t, kafkatest.CommittedOffset{Offset: 3, Metadata: "checkpoint-9"}, co)
	stop()
	require.NoError(t, <-consumed)
}

func TestEndTxnFaultSurfacesInSarama(t *testing.T) {
	t.Run("fatal", func(t *testing.T) {
		ctx := testCtx(t)
		c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "out"), kafkatest.KfakeOnly("FailNext on EndTxn"))
		p := txnProducer(t, c, "tx-fenced")
		fault, err := c.FailNext(kmsg.EndTxn, 1, kerr.ProducerFenced.Code)
		require.NoError(t, err)

		require.NoError(t, p.BeginTxn())
		sendAll(t, p, "out", "lost-1", "lost-2")
		err = p.CommitTxn()
		require.Error(t, err)
		assert.ErrorIs(t, err, sarama.ErrProducerFenced)
		assert.Equal(t, 1, fault.Hits())

		// The transaction is still open on the broker, so nothing of it is
		// visible; a new producer with the same ID aborts it and goes on.
		rc, err := c.ReadCommitted(ctx, "out")
		require.NoError(t, err)
		assert.Empty(t, rc)

		p2 := txnProducer(t, c, "tx-fenced")
		require.NoError(t, p2.BeginTxn())
		sendAll(t, p2, "out", "kept")
		require.NoError(t, p2.CommitTxn())
		rc, err = c.ReadCommitted(ctx, "out")
		require.NoError(t, err)
		assert.Equal(t, []string{"kept"}, values(rc))
		ru, err := c.ReadUncommitted(ctx, "out")
		require.NoError(t, err)
		assert.Len(t, ru, 3)
	})
	t.Run("retriable", func(t *testing.T) {
		ctx := testCtx(t)
		c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "out"), kafkatest.KfakeOnly("FailNext on EndTxn"))
		p := txnProducer(t, c, "tx-retry")
		fault, err := c.FailNext(kmsg.EndTxn, 2, kerr.ConcurrentTransactions.Code)
		require.NoError(t, err)

		require.NoError(t, p.BeginTxn())
		sendAll(t, p, "out", "x", "y")
		require.NoError(t, p.CommitTxn(), "sarama retries CONCURRENT_TRANSACTIONS")
		require.NoError(t, fault.Wait(ctx, 2))
		rc, err := c.ReadCommitted(ctx, "out")
		require.NoError(t, err)
		assert.Equal(t, []string{"x", "y"}, values(rc))
	})
	t.Run("txn offset commit", func(t *testing.T) {
		c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "in", "out"), kafkatest.KfakeOnly("FailNext on TxnOffsetCommit"))
		p := txnProducer(t, c, "tx-toc")
		_, err := c.FailNext(kmsg.TxnOffsetCommit, 1, kerr.ProducerFenced.Code)
		require.NoError(t, err)
		require.NoError(t, p.BeginTxn())
		sendAll(t, p, "out", "z")
		require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{"in": {{Partition: 0, Offset: 1}}}, "g"))
		assert.Error(t, p.CommitTxn(), "a failed TxnOffsetCommit must fail the commit")
	})
}

func TestDroppedConnectionsAreSurvived(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.Brokers(3), kafkatest.SeedTopics(3, "events"), kafkatest.KfakeOnly("three brokers and Kfake().LeaderFor"))

	conf := c.SaramaConfig(kafkatest.Idempotent())
	p, err := sarama.NewSyncProducer(c.Addrs(), conf)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	consumer, err := sarama.NewConsumer(c.Addrs(), c.SaramaConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = consumer.Close() })
	got := make(chan string, 100)
	for part := int32(0); part < 3; part++ {
		pc, err := consumer.ConsumePartition("events", part, sarama.OffsetOldest)
		require.NoError(t, err)
		t.Cleanup(func() { _ = pc.Close() })
		go func() {
			for m := range pc.Messages() {
				got <- string(m.Value)
			}
		}()
	}
	receive := func(n int) []string {
		var out []string
		for len(out) < n {
			select {
			case v := <-got:
				out = append(out, v)
			case <-ctx.Done():
				t.Fatalf("received %d of %d: %v", len(out), n, out)
			}
		}
		return out
	}

	sendAll(t, p, "events", names("before", 10)...)
	receive(10)
	require.Greater(t, c.ClientConnections(), 0)
	assert.Greater(t, c.DropConnections(), 0)

	sendAll(t, p, "events", names("after-all", 10)...)
	receive(10)
	// The consumer reads every partition, so it is connected to the leader
	// of partition 0.
	leader := c.Kfake().LeaderFor("events", 0)
	n, err := c.DropBrokerConnections(leader)
	require.NoError(t, err)
	assert.Greater(t, n, 0, "the clients talk to broker %d", leader)

	// A produce cut off before it is answered: sarama retries it and the
	// idempotent producer does not write it twice.
	cut, err := c.DisconnectOnNext(kmsg.Produce, 1)
	require.NoError(t, err)
	sendAll(t, p, "events", names("after-one", 10)...)
	receive(10)
	assert.Equal(t, 1, cut())

	rc, err := c.ReadCommitted(ctx, "events")
	require.NoError(t, err)
	want := append(append(names("before", 10), names("after-all", 10)...), names("after-one", 10)...)
	sort.Strings(want)
	assert.Equal(t, want, values(rc), "every record exactly once")

	_, err = c.DropBrokerConnections(3)
	assert.ErrorIs(t, err, kafkatest.ErrInvalidArgument)
}

// The broker aborts a transaction left open past the producer's transaction
// timeout; TransactionMaxTimeout caps what a producer may ask for.
func TestTransactionTimeout(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "out"), kafkatest.TransactionMaxTimeout(2*time.Second),
		kafkatest.KfakeOnly("TransactionMaxTimeout is a kfake broker setting"))

	tooLong := c.SaramaConfig(kafkatest.TransactionalID("tx-too-long"))
	tooLong.Producer.Transaction.Timeout = 10 * time.Second
	_, err := sarama.NewSyncProducer(c.Addrs(), tooLong)
	require.ErrorIs(t, err, sarama.ErrInvalidTransactionTimeout)

	conf := c.SaramaConfig(kafkatest.TransactionalID("tx-abandoned"))
	conf.Producer.Transaction.Timeout = 500 * time.Millisecond
	p, err := sarama.NewSyncProducer(c.Addrs(), conf)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	require.NoError(t, p.BeginTxn())
	sendAll(t, p, "out", "abandoned")

	// A plain record behind the open transaction becomes visible only when
	// the broker has aborted it.
	require.NoError(t, c.Produce(ctx, "out", kafkatest.Record{Value: []byte("plain")}))
	rc, err := c.WaitForRecords(ctx, "out", 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"plain"}, values(rc))
	assert.Error(t, p.CommitTxn(), "the broker aborted the transaction")
}

// collectHandler forwards every message value and commits after each one.
type collectHandler struct{ got chan<- string }

func (h collectHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h collectHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h collectHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.got <- string(m.Value)
		s.MarkMessage(m, "")
		s.Commit()
	}
	return nil
}

// A consumer group member rides out dropped connections: it reconnects
// (rejoining if it must), goes on consuming, and its commits land.
func TestConsumerGroupSurvivesDroppedConnections(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, "in"))
	conf := c.SaramaConfig()
	conf.Consumer.Offsets.AutoCommit.Enable = false
	g, err := sarama.NewConsumerGroup(c.Addrs(), "riders", conf)
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	got := make(chan string, 100)
	gctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for gctx.Err() == nil {
			if err := g.Consume(gctx, []string{"in"}, collectHandler{got: got}); err != nil && gctx.Err() == nil {
				t.Logf("consume: %v (retrying)", err)
			}
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	seen := make(map[string]bool)
	await := func(vals []string) {
		t.Helper()
		for _, v := range vals {
			for !seen[v] {
				select {
				case s := <-got:
					seen[s] = true
				case <-ctx.Done():
					t.Fatalf("never received %s; seen %d", v, len(seen))
				}
			}
		}
	}

	require.NoError(t, c.WaitForGroupStable(ctx, "riders", 1))
	first := names("first", 10)
	recs := make([]kafkatest.Record, len(first))
	for i, v := range first {
		recs[i] = kafkatest.Record{Key: []byte(v), Value: []byte(v)}
	}
	require.NoError(t, c.ProduceKeyed(ctx, "in", recs...))
	await(first)

	assert.Greater(t, c.DropConnections(), 0)
	second := names("second", 10)
	for i, v := range second {
		recs[i] = kafkatest.Record{Key: []byte(v), Value: []byte(v)}
	}
	require.NoError(t, c.ProduceKeyed(ctx, "in", recs...))
	await(second)

	err = c.WaitFor(ctx, "offsets covering all 20 records", func(ctx context.Context) (bool, string, error) {
		offs, err := c.CommittedOffsets(ctx, "riders")
		if err != nil {
			return false, "", err
		}
		var sum int64
		for _, o := range offs {
			sum += o.Offset
		}
		return sum == 20, fmt.Sprintf("%v", offs), nil
	})
	require.NoError(t, err)
}
