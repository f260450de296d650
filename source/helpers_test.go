package source_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// testTimeout bounds every wait; generous for a loaded 2-core machine.
const testTimeout = 30 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startSource creates a source on the cluster, runs it, and closes it when
// the test ends. Run's error is reported to the test.
func startSource(t *testing.T, c *kafkatest.Cluster, group string, topics []string, opts ...source.Option) *source.Kafka {
	t.Helper()
	all := append([]source.Option{source.WithBaseConfig(c.SaramaConfig()), source.WithLogger(quiet)}, opts...)
	k, err := source.NewKafka(c.Addrs(), group, topics, all...)
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := k.Run(context.Background()); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		require.NoError(t, k.Close())
		wg.Wait()
	})
	return k
}

// pollN polls until n records arrived (or fails the test at the deadline).
func pollN(t *testing.T, ctx context.Context, k *source.Kafka, n int) []source.Record {
	t.Helper()
	var out []source.Record
	for len(out) < n {
		recs, err := k.Poll(ctx, n-len(out))
		require.NoError(t, err, "after %d of %d records", len(out), n)
		out = append(out, recs...)
	}
	return out
}

// waitAssigned polls (running the hooks) until the source owns want
// partitions.
func waitAssigned(t *testing.T, ctx context.Context, k *source.Kafka, want int) {
	t.Helper()
	for len(k.Assigned()) != want {
		pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		recs, err := k.Poll(pctx, 1)
		cancel()
		require.Empty(t, recs, "records before the expected assignment")
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
		}
		require.NoError(t, ctx.Err(), "waiting for %d assigned partitions", want)
	}
}

// pollNothing checks that nothing is delivered while polling for d.
func pollNothing(t *testing.T, ctx context.Context, k *source.Kafka, d time.Duration) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for pctx.Err() == nil {
		recs, err := k.Poll(pctx, 0)
		require.Empty(t, recs)
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
		}
	}
}

func produceN(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, partition int32, n int, ts func(i int) time.Time) {
	t.Helper()
	recs := make([]kafkatest.Record, n)
	for i := range recs {
		recs[i] = kafkatest.Record{
			Partition: partition,
			Key:       fmt.Appendf(nil, "k%d", i),
			Value:     fmt.Appendf(nil, "%s/%d#%d", topic, partition, i),
		}
		if ts != nil {
			recs[i].Timestamp = ts(i)
		}
	}
	require.NoError(t, c.Produce(ctx, topic, recs...))
}

// commitOffsets commits group offsets inside a Kafka transaction, as the
// job runner's commit point does.
func commitOffsets(t *testing.T, c *kafkatest.Cluster, txnID, group string, pos source.Positions) {
	t.Helper()
	p, err := sarama.NewSyncProducer(c.Addrs(), c.SaramaConfig(kafkatest.TransactionalID(txnID)))
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, commitWith(p, group, pos))
}

func commitWith(p sarama.SyncProducer, group string, pos source.Positions) error {
	offsets := map[string][]*sarama.PartitionOffsetMetadata{}
	for tp, off := range pos {
		offsets[tp.Topic] = append(offsets[tp.Topic], &sarama.PartitionOffsetMetadata{Partition: tp.Partition, Offset: off})
	}
	if err := p.BeginTxn(); err != nil {
		return err
	}
	if err := p.AddOffsetsToTxn(offsets, group); err != nil {
		_ = p.AbortTxn()
		return err
	}
	return p.CommitTxn()
}

func tp(topic string, p int32) source.TopicPartition {
	return source.TopicPartition{Topic: topic, Partition: p}
}
