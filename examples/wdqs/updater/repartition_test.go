package updater_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// TestRepartitionThenUpdate scales the updater past the single-partition
// MediaWiki topic: the repartition job re-keys it by entity ID into a topic
// of 4 partitions, and the updater reads that topic with 4 tasks.
func TestRepartitionThenUpdate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := newEntityServer(t, map[string][]byte{
		"Q2/1": fixture(t, "entities/Q2-rev1.ttl"), "Q2/2": fixture(t, "entities/Q2-rev2.ttl"),
		"Q42/100": fixture(t, "entities/Q42.ttl"), "L691820/50": fixture(t, "entities/L691820.ttl"),
	})
	cl := kafkatest.NewCluster(t)
	const in, keyed, out = "eqiad.mediawiki.page_change.v1", "wdqs-updater.by-entity", "mutation"
	require.NoError(t, cl.CreateTopic(ctx, in, 1))
	require.NoError(t, cl.CreateTopic(ctx, keyed, 4))
	require.NoError(t, cl.CreateTopic(ctx, out, 4))
	require.NoError(t, cl.Produce(ctx, in,
		item(t, "create", "Q2", 1, 0, sec(1)),
		item(t, "create", "Q42", 100, 0, sec(2)),
		item(t, "edit", "Q2", 2, 1, sec(3)),
		pageChange(t, "create", "Lexeme:L691820", 146, "wikibase-lexeme", 50, 0, sec(4), "test.wikidata.org"),
		sentinel(t, sec(600)),
	))
	cfg := updater.Config{
		Brokers: cl.Addrs(), Topics: []string{in}, Sarama: cl.SaramaConfig(),
		Filter: wikidataFilter, EntityDataURL: srv.URL + updater.EntityDataPath,
		ReorderWindow: time.Second, MaxLateness: time.Second, IdleTimeout: time.Second,
		OutputTopic: out, OutputPartition: updater.OutputPartitionPerTask, CheckpointStore: checkpoint.NewMemoryStore(), CheckpointInterval: 200 * time.Millisecond,
	}
	rep, err := updater.NewRepartitionJob(cfg, keyed)
	require.NoError(t, err)
	repDone := make(chan error, 1)
	go func() { repDone <- rep.Run(ctx) }()
	recs, err := cl.WaitForRecords(ctx, keyed, 5)
	require.NoError(t, err)
	partOf := map[string]int32{}
	for _, r := range recs {
		k := string(r.Key)
		if p, ok := partOf[k]; ok {
			assert.Equal(t, p, r.Partition, "one partition per entity")
		}
		partOf[k] = r.Partition
		assert.Equal(t, kafkatest.SaramaHashPartition(r.Key, 4), r.Partition, k)
	}
	assert.ElementsMatch(t, []string{"Q2", "Q42", "L691820", "-"}, keys(partOf))
	require.NoError(t, rep.Stop(ctx))
	require.NoError(t, <-repDone)

	cfg.Topics = []string{keyed}
	job, err := updater.NewJob(cfg)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	var got []*rdfdiff.EntityChange
	require.NoError(t, cl.WaitFor(ctx, "4 rdf_change events", func(ctx context.Context) (bool, string, error) {
		recs, err := cl.ReadCommitted(ctx, out)
		if err != nil {
			return false, "", err
		}
		got = changes(t, recs)
		return len(got) >= 4, fmt.Sprintf("%d events", len(got)), nil
	}))
	assert.ElementsMatch(t, []int{0, 1, 2, 3}, job.Stats().Tasks)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	var ops []string
	for _, c := range got {
		ops = append(ops, fmt.Sprintf("%s %s@%d", c.Operation, c.EntityID, c.Revision))
	}
	assert.ElementsMatch(t, []string{"import Q2@1", "diff Q2@2", "import Q42@100", "import L691820@50"}, ops)
	// Each entity's events are in the partition of its task.
	recs, err = cl.ReadCommitted(ctx, out)
	require.NoError(t, err)
	for _, r := range recs {
		assert.Equal(t, partOf[string(r.Key)], r.Partition, string(r.Key))
	}
	assert.Less(t, indexOf(ops, "import Q2@1"), indexOf(ops, "diff Q2@2"))
}

func keys[K comparable, V any](m map[K]V) []K {
	var out []K
	for k := range m {
		out = append(out, k)
	}
	return out
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
