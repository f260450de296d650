package updater

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

func TestProcessorOutputPartition(t *testing.T) {
	cfg := Config{
		Brokers: []string{"b"}, Topics: []string{"t"}, Filter: Filter{Hostname: "h", EntityNamespaces: []int{0}},
		EntityDataURL: "http://h/wiki/Special:EntityData/", OutputTopic: "o", CheckpointStore: checkpoint.NewMemoryStore(),
	}
	c, err := cfg.withDefaults()
	require.NoError(t, err)
	// A fixed partition: task 0 only; another task would interleave chunks.
	p, err := newProcessor(c, streamkit.TaskInfo{Task: 0}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(0), p.partition)
	_, err = newProcessor(c, streamkit.TaskInfo{Task: 1}, nil, nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "interleave")
	// Per task.
	cfg.OutputPartition = OutputPartitionPerTask
	c, err = cfg.withDefaults()
	require.NoError(t, err)
	p, err = newProcessor(c, streamkit.TaskInfo{Task: 3}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(3), p.partition)
	assert.Len(t, p.Tables(), 2, "entity states and the re-order buffer")
	// Below -1 is refused.
	cfg.OutputPartition = -2
	_, err = cfg.withDefaults()
	require.ErrorIs(t, err, ErrInvalidConfig)
}
