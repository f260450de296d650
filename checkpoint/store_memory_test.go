package checkpoint_test

import (
	"testing"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

func TestMemoryStoreConformance(t *testing.T) {
	checkpointtest.TestStore(t, func(t *testing.T) checkpoint.Store {
		return checkpoint.NewMemoryStore()
	})
}
