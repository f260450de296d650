package checkpointtest_test

import (
	"context"
	"errors"
	"fmt"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

// A FaultStore fails a write half way, as a crash or a lost connection
// would; the previous checkpoint must stay readable and nothing partial may
// appear. (In a test, checkpointtest.TestStore runs this and much more
// against your own Store.)
func ExampleFaultStore() {
	ctx := context.Background()
	store := checkpointtest.NewFaultStore(checkpoint.NewMemoryStore())
	_ = checkpointtest.PutErr(ctx, store, "myjob/chk-0000000001/MANIFEST", []byte("previous"))

	store.Inject(checkpointtest.Fault{AfterBytes: 4})
	err := checkpointtest.PutErr(ctx, store, "myjob/chk-0000000002/MANIFEST", []byte("next manifest"))
	fmt.Println(errors.Is(err, checkpointtest.ErrInjected), store.Fired())

	infos, _ := store.List(ctx, "myjob/")
	for _, in := range infos {
		fmt.Println(in.Name)
	}
	// Output:
	// true 1
	// myjob/chk-0000000001/MANIFEST
}
