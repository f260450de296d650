package source_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

const (
	benchRecords = 200_000
	benchValue   = 200
	benchParts   = 3
)

func benchCluster(b *testing.B) *kafkatest.Cluster {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.NewCluster(b, kafkatest.SeedTopics(benchParts, "bench"))
	value := make([]byte, benchValue)
	batch := make([]kafkatest.Record, 0, 5000)
	for i := range benchRecords {
		batch = append(batch, kafkatest.Record{Partition: int32(i % benchParts), Value: value})
		if len(batch) == cap(batch) {
			if err := c.Produce(ctx, "bench", batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return c
}

// BenchmarkKafkaPoll reads a backlog of 200k × 200 B records through the
// source (group join, start resolution, bounded buffer, positions,
// watermarks), one fresh group per iteration.
func BenchmarkKafkaPoll(b *testing.B) {
	c := benchCluster(b)
	b.SetBytes(benchRecords * benchValue)
	b.ReportAllocs()
	i := 0
	var maxInFlight int64
	for b.Loop() {
		i++
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		k, err := source.NewKafka(c.Addrs(), fmt.Sprintf("bench-%d", i), []string{"bench"},
			source.WithBaseConfig(c.SaramaConfig()), source.WithLogger(quiet))
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- k.Run(ctx) }()
		for n := 0; n < benchRecords; {
			recs, err := k.Poll(ctx, 1000)
			if err != nil {
				b.Fatal(err)
			}
			n += len(recs)
		}
		maxInFlight = max(maxInFlight, k.Stats().MaxInFlight)
		_ = k.Close()
		<-done
		cancel()
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(maxInFlight), "max-in-flight")
}

// BenchmarkSaramaGroupBaseline reads the same backlog with a bare sarama
// consumer group, the ceiling for BenchmarkKafkaPoll.
func BenchmarkSaramaGroupBaseline(b *testing.B) {
	c := benchCluster(b)
	b.SetBytes(benchRecords * benchValue)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		g, err := sarama.NewConsumerGroup(c.Addrs(), fmt.Sprintf("raw-%d", i), c.SaramaConfig())
		if err != nil {
			b.Fatal(err)
		}
		h := &countHandler{want: benchRecords, done: make(chan struct{})}
		go func() {
			for ctx.Err() == nil {
				_ = g.Consume(ctx, []string{"bench"}, h)
			}
		}()
		select {
		case <-h.done:
		case <-ctx.Done():
			b.Fatal("baseline timed out")
		}
		cancel()
		_ = g.Close()
	}
	b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}

type countHandler struct {
	want int
	done chan struct{}
	cnt  int64
}

func (h *countHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *countHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *countHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for range claim.Messages() {
		if n := atomicAdd(&h.cnt); n == int64(h.want) {
			close(h.done)
		}
	}
	return nil
}

func atomicAdd(p *int64) int64 { return atomic.AddInt64(p, 1) }
