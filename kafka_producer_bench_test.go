package streamkit

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// BenchmarkKafkaTransaction measures the transactional sink end to end on
// an in-process broker: records of 200 bytes sent in transactions of
// perTxn records, each committed with a commit point (offsets + metadata).
func BenchmarkKafkaTransaction(b *testing.B) {
	for _, perTxn := range []int{100, 10000} {
		b.Run(fmt.Sprintf("perTxn=%d", perTxn), func(b *testing.B) {
			ctx := b.Context()
			c := kafkatest.NewCluster(b, kafkatest.SeedTopics(3, "in", "out"))
			cfg := c.SaramaConfig()
			cfg.Producer.Flush.Messages = 1000
			cfg.Producer.Flush.MaxMessages = 5000
			cfg.ChannelBufferSize = 10000
			k, err := NewKafkaProducer(c.Addrs(), "bench", WithSaramaConfig(cfg))
			require.NoError(b, err)
			b.Cleanup(func() { _ = k.Close() })
			value := make([]byte, 200)
			keys := make([][]byte, 1024)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("Q%d", i))
			}
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.ResetTimer()
			var chk uint64
			for i := 0; i < b.N; {
				require.NoError(b, k.Begin(ctx))
				n := min(perTxn, b.N-i)
				for j := 0; j < n; j++ {
					require.NoError(b, k.Send(ctx, KafkaRecord{Topic: "out", Key: keys[(i+j)%len(keys)], Value: value}))
				}
				i += n
				chk++
				require.NoError(b, k.Commit(ctx, &CommitPoint{Job: "bench", CheckpointID: chk, Positions: source.Positions{{Topic: "in", Partition: 0}: int64(i)}}, "bench"))
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(chk)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
