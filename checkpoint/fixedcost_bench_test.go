//go:build unix

package checkpoint_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

// BenchmarkCheckpointFixedCost is what one checkpoint of a task costs
// beyond its state: 10 dirty keys of an entity → revision table, inline in
// the manifest, the manifest committed durably, the listing that guards it
// against a concurrent GC, and a GC every tenth checkpoint (the job's
// default), on files and, when STREAMKIT_SWIFT_AUTH_URL is set, on Swift.
// It reports the CPU time of this process (user and system) per
// checkpoint, which is what short checkpoint intervals cost.
func BenchmarkCheckpointFixedCost(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) checkpoint.Store
	}{
		{"files", func(b *testing.B) checkpoint.Store { return checkpoint.NewFileStore(b.TempDir()) }},
		{"swift", func(b *testing.B) checkpoint.Store {
			if os.Getenv(checkpointtest.EnvSwiftAuthURL) == "" {
				b.Skip(checkpointtest.EnvSwiftAuthURL + " not set")
			}
			conn := checkpointtest.RealSwiftConnection(b)
			return checkpoint.NewSwiftStore(conn, checkpointtest.TempContainer(b, conn))
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			c, err := checkpoint.NewCheckpointer(st.open(b), "job.task-0",
				checkpoint.WithInlineDeltas(checkpoint.InlineDeltasBudget))
			require.NoError(b, err)
			table := checkpoint.NewEntityTable("revisions", 1)
			parts := []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{table}}}
			pos := map[string]int64{"in/0": 0}
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				for range 10 {
					pos["in/0"]++
					table.Set(fmt.Sprintf("Q%d", pos["in/0"]%100000), pos["in/0"])
				}
				_, err := c.Checkpoint(ctx, pos, parts)
				require.NoError(b, err)
				if n++; n%10 == 0 {
					_, err := c.GC(ctx)
					require.NoError(b, err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/checkpoint")
		})
	}
}
