package updater

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// The processor counts page-properties-change events among the filtered
// ones and emits nothing for them; a schema/topic mismatch fails the record
// at the decode stage, so the job dead-letters it.
func TestProcessorCountsPropertiesChanges(t *testing.T) {
	cfg := Config{
		Brokers: []string{"b"}, Topics: []string{"t"}, Filter: Filter{Hostname: "test.wikidata.org", EntityNamespaces: []int{0}, ContentModels: []string{"wikibase-item"}},
		EntityDataURL: "http://127.0.0.1:1" + EntityDataPath, OutputTopic: "o", CheckpointStore: checkpoint.NewMemoryStore(),
		ReorderWindow: 10 * time.Second, MaxLateness: time.Second, Metrics: &Metrics{},
	}
	c, err := cfg.withDefaults()
	require.NoError(t, err)
	out := &recorder{}
	p, err := newProcessor(c, streamkit.TaskInfo{Task: 0}, out, newFetcher(c, rdfdiff.NewMunger(*c.Scheme)))
	require.NoError(t, err)
	ev, err := os.ReadFile("testdata/events/page-properties-change.json")
	require.NoError(t, err)

	ctx := context.Background()
	require.NoError(t, p.Process(ctx, &source.Record{Topic: "eqiad.mediawiki.page-properties-change", Value: ev}))
	require.NoError(t, p.Process(ctx, &source.Record{Topic: "eqiad.mediawiki.page-properties-change", Value: ev}))
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, int64(2), c.Metrics.PropertiesChanges.Load())
	assert.Equal(t, int64(2), c.Metrics.Filtered.Load())
	assert.Equal(t, int64(0), c.Metrics.Events.Load())
	assert.Empty(t, out.ops(t))

	err = p.Process(ctx, &source.Record{Topic: "eqiad.mediawiki.page_change.v1", Partition: 0, Offset: 7, Value: ev})
	require.ErrorIs(t, err, ErrSchemaTopicMismatch)
	assert.Contains(t, err.Error(), "partition 0 offset 7")
	assert.Equal(t, int64(2), c.Metrics.PropertiesChanges.Load())
}
