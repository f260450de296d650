package streamkit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTestKafka(t *testing.T, c *kafkatest.Cluster, txID string, opts ...KafkaOption) *KafkaProducer {
	t.Helper()
	opts = append([]KafkaOption{WithSaramaConfig(c.SaramaConfig())}, opts...)
	k, err := NewKafkaProducer(c.Addrs(), txID, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func values(recs []kafkatest.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	return out
}

func sendN(t *testing.T, ctx context.Context, k *KafkaProducer, topic, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		require.NoError(t, k.Send(ctx, KafkaRecord{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}))
	}
}

func TestNewKafkaValidates(t *testing.T) {
	_, err := NewKafkaProducer(nil, "tx")
	require.Error(t, err)
	_, err = NewKafkaProducer([]string{"127.0.0.1:1"}, "")
	require.Error(t, err)
	_, err = NewKafkaProducer([]string{"127.0.0.1:1"}, "tx", WithTransactionTimeout(0))
	require.Error(t, err)
	old := sarama.NewConfig()
	old.Version = sarama.V0_10_2_0
	_, err = NewKafkaProducer([]string{"127.0.0.1:1"}, "tx", WithSaramaConfig(old))
	require.ErrorContains(t, err, "no transactions")
	// No I/O in the constructor: an unreachable broker is fine until Begin.
	k, err := NewKafkaProducer([]string{"127.0.0.1:1"}, "tx")
	require.NoError(t, err)
	require.Equal(t, "tx", k.TransactionalID())
	require.ErrorIs(t, k.Send(context.Background(), KafkaRecord{Topic: "x"}), ErrNoTransaction)
	require.NoError(t, k.Close())
	require.ErrorIs(t, k.Begin(context.Background()), ErrSinkClosed)
}

func TestKafkaCommitAndAbortVisibility(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(3, "in", "out", "side"))
	k := newTestKafka(t, c, "job/0")

	// Checkpoint 1: committed, with offsets naming it.
	require.NoError(t, k.Begin(ctx))
	require.ErrorIs(t, k.Begin(ctx), ErrTransactionOpen)
	sendN(t, ctx, k, "out", "c1", 10)
	require.NoError(t, k.Send(ctx, KafkaRecord{Topic: "side", Partition: 2, FixedPartition: true, Value: []byte("side"),
		Headers: []KafkaHeader{{Key: "h", Value: []byte("v")}, {Key: "nil"}}}))
	cp1 := &CommitPoint{Job: "wdqs", CheckpointID: 1, Positions: source.Positions{{Topic: "in", Partition: 0}: 5, {Topic: "in", Partition: 1}: 7}}
	require.NoError(t, k.Commit(ctx, cp1, "g"))
	require.ErrorIs(t, k.Send(ctx, KafkaRecord{Topic: "out"}), ErrNoTransaction)

	// Checkpoint 2: aborted; neither records nor offsets land.
	require.NoError(t, k.Begin(ctx))
	sendN(t, ctx, k, "out", "c2", 10)
	require.NoError(t, k.Flush(ctx))
	require.NoError(t, k.Abort(ctx))
	require.NoError(t, k.Abort(ctx), "abort with nothing open is a no-op")

	got, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	require.Len(t, got, 10)
	for _, r := range got {
		assert.Regexp(t, `^c1-\d$`, string(r.Value))
		assert.Equal(t, kafkatest.SaramaHashPartition(r.Key, 3), r.Partition, "key-based partition")
	}
	all, err := c.ReadUncommitted(ctx, "out")
	require.NoError(t, err)
	require.Len(t, all, 20, "the aborted records were written, just never visible")

	side, err := c.ReadCommitted(ctx, "side")
	require.NoError(t, err)
	require.Len(t, side, 1)
	assert.Equal(t, int32(2), side[0].Partition)
	assert.Nil(t, side[0].Key)
	assert.Equal(t, []kafkatest.Header{{Key: "h", Value: []byte("v")}, {Key: "nil"}}, normHeaders(side[0].Headers))

	offs, err := c.CommittedOffsets(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, map[kafkatest.TopicPartition]kafkatest.CommittedOffset{
		{Topic: "in", Partition: 0}: {Offset: 5, Metadata: "streamkit:chk=1;job=wdqs"},
		{Topic: "in", Partition: 1}: {Offset: 7, Metadata: "streamkit:chk=1;job=wdqs"},
	}, offs)

	// The restarting job reads N back.
	client := newTestClient(t, c)
	back, err := ReadKafkaCommitPoint(ctx, client, "g", []string{"in"})
	require.NoError(t, err)
	assert.Equal(t, cp1, back)
}

func normHeaders(hs []kafkatest.Header) []kafkatest.Header {
	out := make([]kafkatest.Header, len(hs))
	for i, h := range hs {
		if len(h.Value) == 0 {
			h.Value = nil
		}
		out[i] = h
	}
	return out
}

func newTestClient(t *testing.T, c *kafkatest.Cluster) sarama.Client {
	t.Helper()
	client, err := sarama.NewClient(c.Addrs(), c.SaramaConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func TestKafkaFailedEndTxnAbortsAndRetries(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "in", "out"), kafkatest.KfakeOnly("FailNext on EndTxn"))
	k := newTestKafka(t, c, "job/0")

	require.NoError(t, k.Begin(ctx))
	sendN(t, ctx, k, "out", "c1", 3)
	require.NoError(t, k.Commit(ctx, &CommitPoint{Job: "j", CheckpointID: 1, Positions: source.Positions{{Topic: "in", Partition: 0}: 3}}, "g"))

	fault, err := c.FailNext(kmsg.EndTxn, 1, kerr.InvalidTxnState.Code)
	require.NoError(t, err)
	require.NoError(t, k.Begin(ctx))
	sendN(t, ctx, k, "out", "c2", 3)
	err = k.Commit(ctx, &CommitPoint{Job: "j", CheckpointID: 2, Positions: source.Positions{{Topic: "in", Partition: 0}: 6}}, "g")
	require.ErrorIs(t, err, ErrCommitFailed)
	require.NotErrorIs(t, err, ErrFenced)
	require.Equal(t, 1, fault.Hits())

	got, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.Equal(t, []string{"c1-0", "c1-1", "c1-2"}, values(got), "nothing of the failed checkpoint is visible")
	offs, err := c.CommittedOffsets(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, kafkatest.CommittedOffset{Offset: 3, Metadata: "streamkit:chk=1;job=j"}, offs[kafkatest.TopicPartition{Topic: "in"}])

	// The runner retries the checkpoint and it goes through.
	require.NoError(t, k.Begin(ctx))
	sendN(t, ctx, k, "out", "c2", 3)
	require.NoError(t, k.Commit(ctx, &CommitPoint{Job: "j", CheckpointID: 2, Positions: source.Positions{{Topic: "in", Partition: 0}: 6}}, "g"))
	got, err = c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.Equal(t, []string{"c1-0", "c1-1", "c1-2", "c2-0", "c2-1", "c2-2"}, values(got))
	back, err := ReadKafkaCommitPoint(ctx, newTestClient(t, c), "g", []string{"in"})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), back.CheckpointID)
}

func TestKafkaZombieIsFenced(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "in", "out"))
	old := newTestKafka(t, c, "job/0")
	require.NoError(t, old.Begin(ctx))
	sendN(t, ctx, old, "out", "zombie", 3)
	require.NoError(t, old.Flush(ctx))

	// A new owner of the slot initialises: the old open transaction is aborted.
	fresh := newTestKafka(t, c, "job/0")
	require.NoError(t, fresh.Begin(ctx))

	err := old.Commit(ctx, &CommitPoint{Job: "j", CheckpointID: 7, Positions: source.Positions{{Topic: "in", Partition: 0}: 3}}, "g")
	require.ErrorIs(t, err, ErrFenced)
	require.ErrorIs(t, err, ErrCommitFailed)
	require.ErrorIs(t, old.Begin(ctx), ErrFenced, "a zombie never re-initialises")

	sendN(t, ctx, fresh, "out", "owner", 2)
	require.NoError(t, fresh.Commit(ctx, &CommitPoint{Job: "j", CheckpointID: 7, Positions: source.Positions{{Topic: "in", Partition: 0}: 2}}, "g"))
	got, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.Equal(t, []string{"owner-0", "owner-1"}, values(got))
	offs, err := c.CommittedOffsets(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, int64(2), offs[kafkatest.TopicPartition{Topic: "in"}].Offset)
}

// A producer that dies with a transaction open (no Close, no abort) leaves
// nothing visible, and a restarted instance with the same ID proceeds at
// once: its initialisation aborts the dead one's transaction, without
// waiting for the transaction timeout.
func TestKafkaKilledProducerLeavesNothingVisible(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, "in", "out"))
	dead := newTestKafka(t, c, "job/0", WithTransactionTimeout(10*time.Minute))
	require.NoError(t, dead.Begin(ctx))
	sendN(t, ctx, dead, "out", "lost", 5)
	require.NoError(t, dead.Flush(ctx))
	got, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	require.Empty(t, got, "open transaction invisible")

	next := newTestKafka(t, c, "job/0", WithTransactionTimeout(10*time.Minute))
	require.NoError(t, next.Begin(ctx))
	sendN(t, ctx, next, "out", "redo", 5)
	require.NoError(t, next.Commit(ctx, &CommitPoint{Job: "j", CheckpointID: 1, Positions: source.Positions{{Topic: "in", Partition: 0}: 5}}, "g"))
	got, err = c.WaitForRecords(ctx, "out", 5)
	require.NoError(t, err)
	require.Len(t, got, 5)
	for _, r := range got {
		assert.Regexp(t, `^redo-`, string(r.Value))
	}
}

func TestKafkaTransactionExpires(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "out"))
	k := newTestKafka(t, c, "job/0", WithTransactionTimeout(10*time.Minute))
	clock := time.Now()
	k.now = func() time.Time { return clock }
	require.NoError(t, k.Begin(ctx))
	sendN(t, ctx, k, "out", "a", 2)
	clock = clock.Add(10*time.Minute + time.Second)
	err := k.Commit(ctx, nil, "")
	require.ErrorIs(t, err, ErrTransactionExpired)
	require.ErrorIs(t, k.Send(ctx, KafkaRecord{Topic: "out"}), ErrNoTransaction, "the expired transaction was aborted")
	require.NoError(t, k.Begin(ctx))
	sendN(t, ctx, k, "out", "b", 1)
	require.NoError(t, k.Commit(ctx, nil, ""))
	got, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.Equal(t, []string{"b-0"}, values(got))
}

func TestKafkaInvalidInput(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "out"))
	k := newTestKafka(t, c, "job/0")
	require.NoError(t, k.Begin(ctx))
	require.ErrorIs(t, k.Send(ctx, KafkaRecord{}), ErrInvalidRecord)
	require.ErrorIs(t, k.Send(ctx, KafkaRecord{Topic: "out", Partition: -1, FixedPartition: true}), ErrInvalidRecord)
	require.NoError(t, k.Send(ctx, KafkaRecord{Topic: "out", Value: []byte("x")}))
	err := k.Commit(ctx, &CommitPoint{Job: "", CheckpointID: 1}, "g")
	require.ErrorIs(t, err, ErrCommitFailed)
	require.ErrorIs(t, err, ErrInvalidCommitPoint)
	require.NoError(t, k.Begin(ctx))
	require.ErrorIs(t, k.Commit(ctx, &CommitPoint{Job: "j"}, ""), ErrCommitFailed)

	// A fixed partition the topic does not have fails the delivery, and so the commit.
	require.NoError(t, k.Begin(ctx))
	require.NoError(t, k.Send(ctx, KafkaRecord{Topic: "out", Partition: 5, FixedPartition: true}))
	err = k.Commit(ctx, nil, "")
	require.ErrorIs(t, err, ErrCommitFailed)
	require.ErrorIs(t, err, ErrInvalidRecord)
	got, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestOffsetMetadataRoundTrip(t *testing.T) {
	for _, job := range []string{"wdqs", "a;job=b", "ünï code/x y"} {
		meta := FormatOffsetMetadata(job, 42)
		j, id, err := ParseOffsetMetadata(meta)
		require.NoError(t, err, meta)
		assert.Equal(t, job, j)
		assert.Equal(t, uint64(42), id)
	}
	for _, bad := range []string{"", "chk=1", "streamkit:chk=x;job=a", "streamkit:chk=1", "streamkit:chk=1;job=", "streamkit:job=a;chk=1", "streamkit:chk=-1;job=a"} {
		_, _, err := ParseOffsetMetadata(bad)
		require.ErrorIs(t, err, ErrInvalidCommitPoint, bad)
	}
}

func TestReadKafkaCommitPointErrors(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, "in", "out"))
	client := newTestClient(t, c)

	_, err := ReadKafkaCommitPoint(ctx, client, "g", []string{"in"})
	require.ErrorIs(t, err, ErrNoCommitPoint)
	_, err = ReadKafkaCommitPoint(ctx, client, "", []string{"in"})
	require.Error(t, err)
	_, err = ReadKafkaCommitPoint(ctx, client, "g", nil)
	require.Error(t, err)

	// Two jobs committing into one group is a conflict, not a commit point.
	a := newTestKafka(t, c, "a/0")
	require.NoError(t, a.Begin(ctx))
	require.NoError(t, a.Commit(ctx, &CommitPoint{Job: "a", CheckpointID: 3, Positions: source.Positions{{Topic: "in", Partition: 0}: 1}}, "g"))
	b := newTestKafka(t, c, "b/0")
	require.NoError(t, b.Begin(ctx))
	require.NoError(t, b.Commit(ctx, &CommitPoint{Job: "b", CheckpointID: 3, Positions: source.Positions{{Topic: "in", Partition: 1}: 1}}, "g"))
	_, err = ReadKafkaCommitPoint(ctx, client, "g", []string{"in"})
	require.ErrorIs(t, err, ErrInvalidCommitPoint)
	require.ErrorContains(t, err, `job "b"`)

	// Offsets committed by someone else (another tool) are not ours.
	p, err := sarama.NewSyncProducer(c.Addrs(), c.SaramaConfig(kafkatest.TransactionalID("other")))
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.BeginTxn())
	meta := "someone else's"
	require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{"in": {{Partition: 0, Offset: 4, Metadata: &meta}}}, "other"))
	require.NoError(t, p.CommitTxn())
	_, err = ReadKafkaCommitPoint(ctx, client, "other", []string{"in"})
	require.ErrorIs(t, err, ErrInvalidCommitPoint)
	require.ErrorContains(t, err, "in/0")
}

// Batch thresholds without a flush timer must not hold a checkpoint's tail.
func TestKafkaCommitWithUnfilledBatch(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "out"))
	cfg := c.SaramaConfig()
	cfg.Producer.Flush.Messages = 1000
	k := newTestKafka(t, c, "job/0", WithSaramaConfig(cfg))
	require.NoError(t, k.Begin(ctx))
	sendN(t, ctx, k, "out", "a", 3)
	require.NoError(t, k.Flush(ctx))
	require.NoError(t, k.Commit(ctx, nil, ""))
	got, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.Equal(t, []string{"a-0", "a-1", "a-2"}, values(got))
}
