package checkpoint_test

import (
	"testing"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

func TestFileStoreConformance(t *testing.T) {
	checkpointtest.TestStore(t, func(t *testing.T) checkpoint.Store {
		s := checkpoint.NewFileStore(t.TempDir())
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
