package source_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// The same stream under two data-center prefixes, two partitions each:
// every record arrives once, in offset order per partition, with its
// provenance, and positions are exactly the next offsets.
func TestKafkaPrefixedTopics(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	topics := []string{"eqiad.mediawiki.revision-create", "codfw.mediawiki.revision-create"}
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, topics...))
	counts := map[source.TopicPartition]int{}
	for i, topic := range topics {
		for p := int32(0); p < 2; p++ {
			n := 5 + i*3 + int(p)
			counts[tp(topic, p)] = n
			produceN(t, ctx, c, topic, p, n, nil)
		}
	}
	require.NoError(t, c.Produce(ctx, topics[0], kafkatest.Record{
		Partition: 1, Key: []byte("hk"), Value: []byte("with headers"),
		Headers:   []kafkatest.Header{{Key: "h1", Value: []byte("v1")}},
		Timestamp: time.UnixMilli(1_700_000_000_123),
	}))
	counts[tp(topics[0], 1)]++

	k := startSource(t, c, "prefixed", topics)
	total := 0
	for _, n := range counts {
		total += n
	}
	recs := pollN(t, ctx, k, total)
	next := map[source.TopicPartition]int64{}
	for _, r := range recs {
		key := r.TopicPartition()
		require.Equal(t, next[key], r.Offset, "offset order in %s", key)
		next[key]++
		if int(r.Offset) < counts[key]-1 || key != tp(topics[0], 1) {
			assert.Equal(t, fmt.Sprintf("%s#%d", key, r.Offset), string(r.Value))
			assert.Equal(t, fmt.Sprintf("k%d", r.Offset), string(r.Key))
		} else {
			assert.Equal(t, "with headers", string(r.Value))
			v, ok := r.HeaderValue("h1")
			assert.True(t, ok)
			assert.Equal(t, "v1", string(v))
			assert.Equal(t, int64(1_700_000_000_123), r.Timestamp.UnixMilli())
			assert.Equal(t, r.Timestamp, r.EventTime)
		}
	}
	want := source.Positions{}
	for key, n := range counts {
		want[key] = int64(n)
	}
	assert.Equal(t, want, k.Positions())
	assert.Equal(t, int64(total), k.Stats().Delivered)
	assert.Len(t, k.Assigned(), 4)

	// One more record moves exactly one position by exactly one.
	produceN(t, ctx, c, topics[1], 0, 1, nil)
	r := pollN(t, ctx, k, 1)[0]
	assert.Equal(t, tp(topics[1], 0), r.TopicPartition())
	want[tp(topics[1], 0)]++
	assert.Equal(t, want, k.Positions())
}

func TestKafkaStartPositions(t *testing.T) {
	t.Parallel()
	const topic = "starts"
	base := time.UnixMilli(1_750_000_000_000)
	ts := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }

	cases := []struct {
		name  string
		start source.StartPosition
		// want is the first offset delivered per partition; -1 means
		// only the records produced after assignment.
		want [2]int64
	}{
		{"earliest", source.StartEarliest(), [2]int64{0, 0}},
		{"latest", source.StartLatest(), [2]int64{-1, -1}},
		{"timestamp-ms", source.StartAtTimestamp(ts(6).UnixMilli()), [2]int64{6, 6}},
		{"timestamp-after-end", source.StartAtTimestamp(ts(100).UnixMilli()), [2]int64{-1, -1}},
		{"offsets", source.StartAtOffsets(source.Positions{tp(topic, 0): 7}, source.StartLatest()), [2]int64{7, -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, topic))
			produceN(t, ctx, c, topic, 0, 10, ts)
			produceN(t, ctx, c, topic, 1, 10, ts)
			k := startSource(t, c, "g", []string{topic}, source.WithStartPosition(tc.start))
			waitAssigned(t, ctx, k, 2)
			want := source.Positions{}
			for p, first := range tc.want {
				if first < 0 {
					first = 10
				}
				want[tp(topic, int32(p))] = first
			}
			assert.Equal(t, want, k.Positions(), "positions are concrete from assignment on")
			produceN(t, ctx, c, topic, 0, 2, func(i int) time.Time { return ts(10 + i) })
			produceN(t, ctx, c, topic, 1, 2, func(i int) time.Time { return ts(10 + i) })
			n := 0
			for _, off := range want {
				n += int(12 - off)
			}
			recs := pollN(t, ctx, k, n)
			first := map[int32]int64{0: -1, 1: -1}
			for _, r := range recs {
				if first[r.Partition] < 0 {
					first[r.Partition] = r.Offset
				}
			}
			assert.Equal(t, want[tp(topic, 0)], first[0])
			assert.Equal(t, want[tp(topic, 1)], first[1])
			assert.Equal(t, source.Positions{tp(topic, 0): 12, tp(topic, 1): 12}, k.Positions())
		})
	}
}

// Positions restored by Seek win over the group's committed offsets, which
// win over the start position; a seek is used once.
func TestKafkaSeekOverridesCommitted(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	const topic = "restore"
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, topic))
	produceN(t, ctx, c, topic, 0, 10, nil)
	produceN(t, ctx, c, topic, 1, 10, nil)
	commitOffsets(t, c, "committer", "job", source.Positions{tp(topic, 0): 6, tp(topic, 1): 8})

	t.Run("committed", func(t *testing.T) {
		k := startSource(t, c, "job", []string{topic}, source.WithStartPosition(source.StartLatest()))
		recs := pollN(t, ctx, k, 4+2)
		assert.Equal(t, int64(6), firstOffset(recs, 0))
		assert.Equal(t, int64(8), firstOffset(recs, 1))
		require.NoError(t, k.Close())
	})
	t.Run("seek", func(t *testing.T) {
		k, err := source.NewKafka(c.Addrs(), "job", []string{topic},
			source.WithBaseConfig(c.SaramaConfig()), source.WithLogger(quiet))
		require.NoError(t, err)
		require.NoError(t, k.Seek(source.Positions{tp(topic, 0): 2}))
		done := make(chan error, 1)
		go func() { done <- k.Run(ctx) }()
		defer func() { require.NoError(t, k.Close()); require.NoError(t, <-done) }()
		recs := pollN(t, ctx, k, 8+2)
		assert.Equal(t, int64(2), firstOffset(recs, 0), "seek overrides the committed 6")
		assert.Equal(t, int64(8), firstOffset(recs, 1), "no seek: committed offset")
		assert.ErrorIs(t, k.Seek(source.Positions{tp(topic, 0): 0}), source.ErrSeekAssigned)
	})
	// The source never commits: the commit point is the runner's.
	committed, err := c.CommittedOffsets(ctx, "job")
	require.NoError(t, err)
	assert.Equal(t, int64(6), committed[kafkatest.TopicPartition{Topic: topic, Partition: 0}].Offset)
	assert.Equal(t, int64(8), committed[kafkatest.TopicPartition{Topic: topic, Partition: 1}].Offset)
}

func firstOffset(recs []source.Record, p int32) int64 {
	for _, r := range recs {
		if r.Partition == p {
			return r.Offset
		}
	}
	return -1
}

func TestKafkaSeekFromOnAssigned(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	const topic = "hookseek"
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, topic))
	produceN(t, ctx, c, topic, 0, 10, nil)
	var k *source.Kafka
	k = startSource(t, c, "g", []string{topic}, source.WithOnAssigned(func(ctx context.Context, tps []source.TopicPartition) error {
		// A runner loads the partition's state here, then seeks to the
		// positions the state was snapshotted with.
		return k.Seek(source.Positions{tps[0]: 9})
	}))
	recs := pollN(t, ctx, k, 1)
	assert.Equal(t, int64(9), recs[0].Offset)
}

// Records of aborted transactions are never delivered (read_committed by
// default); read_uncommitted is an explicit choice.
func TestKafkaReadCommitted(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	const topic = "txn"
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, topic))
	p, err := sarama.NewSyncProducer(c.Addrs(), c.SaramaConfig(kafkatest.TransactionalID("writer")))
	require.NoError(t, err)
	defer p.Close()
	send := func(commit bool, vals ...string) {
		require.NoError(t, p.BeginTxn())
		for _, v := range vals {
			_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)})
			require.NoError(t, err)
		}
		if commit {
			require.NoError(t, p.CommitTxn())
		} else {
			require.NoError(t, p.AbortTxn())
		}
	}
	send(true, "c1", "c2")
	send(false, "a1", "a2", "a3")
	send(true, "c3")
	send(false, "a4")
	send(true, "c4")

	k := startSource(t, c, "rc", []string{topic})
	var got []string
	for _, r := range pollN(t, ctx, k, 4) {
		got = append(got, string(r.Value))
	}
	assert.Equal(t, []string{"c1", "c2", "c3", "c4"}, got)
	pollNothing(t, ctx, k, 300*time.Millisecond)

	u := startSource(t, c, "ru", []string{topic}, source.WithReadUncommitted())
	assert.Len(t, pollN(t, ctx, u, 8), 8)
}

func TestNewKafkaInvalid(t *testing.T) {
	t.Parallel()
	brokers := []string{"127.0.0.1:1"}
	cases := map[string]func() error{
		"no brokers": func() error { _, err := source.NewKafka(nil, "g", []string{"t"}); return err },
		"no group":   func() error { _, err := source.NewKafka(brokers, "", []string{"t"}); return err },
		"no topics":  func() error { _, err := source.NewKafka(brokers, "g", nil); return err },
		"dup topic":  func() error { _, err := source.NewKafka(brokers, "g", []string{"t", "t"}); return err },
		"buffer": func() error {
			_, err := source.NewKafka(brokers, "g", []string{"t"}, source.WithBufferSize(0))
			return err
		},
		"timestamp": func() error {
			_, err := source.NewKafka(brokers, "g", []string{"t"}, source.WithStartPosition(source.StartAtTimestamp(-1)))
			return err
		},
		"offset topic": func() error {
			_, err := source.NewKafka(brokers, "g", []string{"t"}, source.WithStartPosition(
				source.StartAtOffsets(source.Positions{tp("other", 0): 1}, source.StartEarliest())))
			return err
		},
		"cooperative": func() error {
			_, err := source.NewKafka(brokers, "g", []string{"t"}, source.WithSaramaConfig(func(c *sarama.Config) {
				c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyCooperativeSticky()}
			}))
			return err
		},
		"sarama": func() error {
			_, err := source.NewKafka(brokers, "g", []string{"t"}, source.WithSaramaConfig(func(c *sarama.Config) {
				c.Consumer.Fetch.Min = 0
			}))
			return err
		},
	}
	for name, fn := range cases {
		err := fn()
		require.Error(t, err, name)
		assert.ErrorIs(t, err, source.ErrInvalidConfig, name)
		assert.Contains(t, err.Error(), "source: ", name)
	}

	k, err := source.NewKafka(brokers, "g", []string{"t"})
	require.NoError(t, err, "no I/O in the constructor: an unreachable broker is fine")
	assert.ErrorIs(t, k.Seek(source.Positions{tp("u", 0): 1}), source.ErrInvalidConfig)
	assert.ErrorIs(t, k.Seek(source.Positions{tp("t", 0): -3}), source.ErrInvalidConfig)
	require.NoError(t, k.Close())
	_, err = k.Poll(context.Background(), 1)
	assert.ErrorIs(t, err, source.ErrClosed)
	assert.ErrorIs(t, k.Run(context.Background()), source.ErrClosed)
	assert.ErrorIs(t, k.Run(context.Background()), source.ErrAlreadyRunning)
}
