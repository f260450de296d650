package kafkatest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

const benchValueSize = 200

// BenchmarkSaramaProduceConsume pushes b.N records of 200 bytes through the
// harness with a batching sarama AsyncProducer (3 partitions, acks from the
// leader) and reads them back with a sarama consumer (read_committed, as
// SaramaConfig sets). One op is one record produced and consumed; records/s
// is the end-to-end rate, the budget the exactly-once benchmarks work in.
func BenchmarkSaramaProduceConsume(b *testing.B) {
	c, err := kafkatest.Start(kafkatest.SeedTopics(3, "bench"))
	require.NoError(b, err)
	b.Cleanup(c.Close)

	pconf := c.SaramaConfig()
	pconf.Producer.RequiredAcks = sarama.WaitForLocal
	pconf.Producer.Flush.Messages = 1000
	pconf.Producer.Flush.Frequency = 5 * time.Millisecond
	pconf.Producer.Flush.MaxMessages = 5000
	pconf.ChannelBufferSize = 10000
	producer, err := sarama.NewAsyncProducer(c.Addrs(), pconf)
	require.NoError(b, err)
	b.Cleanup(func() { _ = producer.Close() })

	consumer, err := sarama.NewConsumer(c.Addrs(), c.SaramaConfig())
	require.NoError(b, err)
	b.Cleanup(func() { _ = consumer.Close() })
	var received atomic.Int64
	done := make(chan struct{})
	for p := int32(0); p < 3; p++ {
		pc, err := consumer.ConsumePartition("bench", p, sarama.OffsetOldest)
		require.NoError(b, err)
		b.Cleanup(func() { _ = pc.Close() })
		go func() {
			for range pc.Messages() {
				if received.Add(1) == int64(b.N) {
					close(done)
				}
			}
		}()
	}
	go func() {
		for err := range producer.Errors() {
			b.Errorf("produce: %v", err)
		}
	}()
	go func() {
		for range producer.Successes() {
		}
	}()

	value := make([]byte, benchValueSize)
	b.SetBytes(benchValueSize)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := 0; i < b.N; i++ {
			producer.Input() <- &sarama.ProducerMessage{Topic: "bench", Value: sarama.ByteEncoder(value)}
		}
	}()
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}

// BenchmarkReadCommitted measures the harness's own reader: how fast a test
// can check a large read_committed output topic.
func BenchmarkReadCommitted(b *testing.B) {
	const records = 20000
	c, err := kafkatest.Start(kafkatest.SeedTopics(3, "read"))
	require.NoError(b, err)
	b.Cleanup(c.Close)
	ctx := context.Background()
	value := make([]byte, benchValueSize)
	batch := make([]kafkatest.Record, 1000)
	for i := range batch {
		batch[i] = kafkatest.Record{Value: value}
	}
	for range records / len(batch) {
		require.NoError(b, c.ProduceKeyed(ctx, "read", batch...))
	}
	b.SetBytes(records * benchValueSize)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs, err := c.ReadCommitted(ctx, "read")
		if err != nil || len(rs) != records {
			b.Fatalf("read %d records: %v", len(rs), err)
		}
	}
	b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
}
