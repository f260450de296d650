package checkpoint_test

import (
	"testing"

	"github.com/ncw/swift/v2"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

// testThreshold keeps large objects in the tests small: 1 MiB segments.
const testThreshold = 1 << 20

func newTestSwiftStore(t testing.TB, conn *swift.Connection, opts ...checkpoint.SwiftOption) *checkpoint.SwiftStore {
	opts = append([]checkpoint.SwiftOption{checkpoint.WithSwiftLargeObjectThreshold(testThreshold)}, opts...)
	return checkpoint.NewSwiftStore(conn, checkpointtest.TempContainer(t, conn), opts...)
}

func TestSwiftStoreConformanceSwifttest(t *testing.T) {
	checkpointtest.TestStore(t, func(t *testing.T) checkpoint.Store {
		return newTestSwiftStore(t, checkpointtest.NewSwifttestConnection(t), checkpoint.WithSwiftPrefix("env/test"))
	},
		checkpointtest.WithLargeObjectSize(3*testThreshold+testThreshold/2),
		checkpointtest.WithoutAtomicNoOverwrite("swifttest ignores If-None-Match: *; the race is tested against real Swift"),
	)
}

func TestSwiftStoreConformanceRealSwift(t *testing.T) {
	conn := checkpointtest.RealSwiftConnection(t)
	checkpointtest.TestStore(t, func(t *testing.T) checkpoint.Store {
		return newTestSwiftStore(t, conn, checkpoint.WithSwiftPrefix("env/test"))
	},
		checkpointtest.WithLargeObjectSize(3*testThreshold+testThreshold/2),
		checkpointtest.WithConcurrency(8),
		checkpointtest.WithBestEffortOverlappingRace("Swift checks If-None-Match when an upload starts; overlapping uploads can both succeed"),
	)
}
