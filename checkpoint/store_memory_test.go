package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

func TestMemoryStoreConformance(t *testing.T) {
	checkpointtest.TestStore(t, func(t *testing.T) checkpoint.Store {
		return checkpoint.NewMemoryStore()
	})
}

func ExampleMemoryStore() {
	ctx := context.Background()
	store := checkpoint.NewMemoryStore()

	w, _ := store.Create(ctx, "myjob/chk-0000000001/p-0000.state")
	_, _ = w.Write([]byte("state of partition 0"))
	// Not visible until Close commits it.
	_, err := store.Open(ctx, "myjob/chk-0000000001/p-0000.state")
	fmt.Println(errors.Is(err, checkpoint.ErrNotFound))
	if err := w.Close(); err != nil {
		panic(err)
	}
	r, _ := store.Open(ctx, "myjob/chk-0000000001/p-0000.state")
	data, _ := io.ReadAll(r)
	fmt.Println(string(data))
	// Output:
	// true
	// state of partition 0
}
