// Package checkpointtest holds test helpers for checkpoint stores: a
// conformance suite that every checkpoint.Store must pass, a FaultStore that
// injects failures into writes, and helpers for the Swift stores (an
// in-process swifttest server, a real Swift from the environment, and control
// of a loopback Swift-All-In-One's proxy for fault injection).
//
// The suite is for users' own Store implementations too: a store that passes
// TestStore can hold streamkit checkpoints. Typical use:
//
//	func TestMyStore(t *testing.T) {
//		checkpointtest.TestStore(t, func(t *testing.T) checkpoint.Store {
//			return mystore.New(t.TempDir())
//		})
//	}
package checkpointtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// Option adjusts TestStore to what a store can promise.
type Option func(*config)

type config struct {
	largeSize          int64
	noConditionalWrite string
	racyOverlap        string
	concurrency        int
}

// WithLargeObjectSize sets how big the "large object" in the suite is. Pass
// something above the store's own large-object threshold (for Swift, the
// static-large-object threshold) so multi-part writes are exercised. The
// default is 8 MiB.
func WithLargeObjectSize(n int64) Option { return func(c *config) { c.largeSize = n } }

// WithConcurrency sets how many goroutines the concurrent-writer tests run
// (default 16).
func WithConcurrency(n int) Option { return func(c *config) { c.concurrency = n } }

// WithoutAtomicNoOverwrite declares that the store cannot refuse a second
// writer atomically when two writers race for one name (for example
// swifttest, which ignores If-None-Match). The race tests are then skipped
// with reason; no-overwrite of an already committed object is still checked.
// Production stores must not need this option.
func WithoutAtomicNoOverwrite(reason string) Option {
	return func(c *config) { c.noConditionalWrite = reason }
}

// WithBestEffortOverlappingRace declares that the store refuses to overwrite
// a committed object, and refuses the second of two writers whose commits do
// not overlap, but cannot promise a single winner when several commits
// overlap in time: OpenStack Swift checks "If-None-Match: *" when an upload
// starts and has no compare-and-swap. The concurrent same-name test then
// checks the weaker property that still holds: at least one writer wins,
// every other one either wins or gets ErrExist, and the object holds one
// winner's bytes, whole.
func WithBestEffortOverlappingRace(reason string) Option {
	return func(c *config) { c.racyOverlap = reason }
}

// TestStore runs the conformance suite against stores made by newStore. It
// calls newStore once per subtest, each time wanting an empty store; use
// t.TempDir, t.Cleanup or a unique prefix to keep them apart.
//
// What it checks: round trips (including empty objects); an object being
// written is invisible to Open and List until Close; a cancelled or failed
// object never appears; an existing object is never overwritten (ErrExist);
// of two writers of one name exactly one wins (see
// WithBestEffortOverlappingRace); List order and prefix
// semantics; idempotent Delete; large objects; many concurrent writers;
// context cancellation; name validation; and, through a FaultStore, failures
// injected mid-write or on Close leave earlier objects readable and nothing
// partial visible.
func TestStore(t *testing.T, newStore func(t *testing.T) checkpoint.Store, opts ...Option) {
	cfg := config{largeSize: 8 << 20, concurrency: 16}
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s checkpoint.Store, cfg config)
	}{
		{"RoundTrip", testRoundTrip},
		{"OpenMissing", testOpenMissing},
		{"InvisibleUntilClose", testInvisibleUntilClose},
		{"CancelNeverVisible", testCancel},
		{"NoOverwrite", testNoOverwrite},
		{"SameNameTwoWriters", testSameNameTwoWriters},
		{"ListOrderAndPrefix", testList},
		{"Delete", testDelete},
		{"LargeObject", testLarge},
		{"ConcurrentWriters", testConcurrent},
		{"ContextCancellation", testContext},
		{"InvalidNames", testInvalidNames},
		{"WriterAfterClose", testWriterAfterClose},
		{"InjectedFailures", testInjected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t), cfg)
		})
	}
}

// Put writes data as object name and commits it, failing the test on error.
func Put(t testing.TB, s checkpoint.Store, name string, data []byte) {
	t.Helper()
	require.NoError(t, put(context.Background(), s, name, data), "put %q", name)
}

// PutErr writes data as object name and commits it, cancelling the writer
// if a Write fails. It returns the first error, for tests that expect one.
func PutErr(ctx context.Context, s checkpoint.Store, name string, data []byte) error {
	return put(ctx, s, name, data)
}

func put(ctx context.Context, s checkpoint.Store, name string, data []byte) error {
	w, err := s.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Cancel()
		return err
	}
	return w.Close()
}

// Get reads a whole object, failing the test on error.
func Get(t testing.TB, s checkpoint.Store, name string) []byte {
	t.Helper()
	data, err := get(context.Background(), s, name)
	require.NoError(t, err, "get %q", name)
	return data
}

func get(ctx context.Context, s checkpoint.Store, name string) ([]byte, error) {
	r, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return data, err
}

// Names lists the object names under prefix, failing the test on error.
func Names(t testing.TB, s checkpoint.Store, prefix string) []string {
	t.Helper()
	infos, err := s.List(context.Background(), prefix)
	require.NoError(t, err, "list %q", prefix)
	names := make([]string, 0, len(infos))
	for _, in := range infos {
		names = append(names, in.Name)
	}
	return names
}

// RandomBytes returns n reproducible pseudo-random bytes.
func RandomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func requireNotFound(t *testing.T, s checkpoint.Store, name string) {
	t.Helper()
	_, err := get(context.Background(), s, name)
	require.ErrorIs(t, err, checkpoint.ErrNotFound, "object %q should not be visible", name)
	assert.NotContains(t, Names(t, s, ""), name, "object %q should not be listed", name)
}

func testRoundTrip(t *testing.T, s checkpoint.Store, _ config) {
	data := RandomBytes(1, 100_003)
	Put(t, s, "job/chk-0000000001/p-0000.state", data)
	assert.Equal(t, data, Get(t, s, "job/chk-0000000001/p-0000.state"))

	Put(t, s, "job/chk-0000000001/empty", nil)
	assert.Empty(t, Get(t, s, "job/chk-0000000001/empty"))

	before := time.Now().Add(-time.Hour)
	infos, err := s.List(context.Background(), "job/")
	require.NoError(t, err)
	require.Len(t, infos, 2)
	assert.Equal(t, "job/chk-0000000001/empty", infos[0].Name)
	assert.Equal(t, int64(0), infos[0].Size)
	assert.Equal(t, "job/chk-0000000001/p-0000.state", infos[1].Name)
	assert.Equal(t, int64(len(data)), infos[1].Size)
	assert.True(t, infos[1].Modified.After(before), "Modified %v is not recent", infos[1].Modified)

	// Many small writes are the same as one big one.
	w, err := s.Create(context.Background(), "job/chunks")
	require.NoError(t, err)
	for i := 0; i < len(data); i += 777 {
		_, err := w.Write(data[i:min(i+777, len(data))])
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	assert.Equal(t, data, Get(t, s, "job/chunks"))
}

func testOpenMissing(t *testing.T, s checkpoint.Store, _ config) {
	_, err := s.Open(context.Background(), "job/nothing-here")
	require.ErrorIs(t, err, checkpoint.ErrNotFound)
	names := Names(t, s, "")
	assert.Empty(t, names)
}

func testInvisibleUntilClose(t *testing.T, s checkpoint.Store, _ config) {
	ctx := context.Background()
	w, err := s.Create(ctx, "job/chk-0000000002/MANIFEST")
	require.NoError(t, err)
	_, err = w.Write([]byte("half of a manifest"))
	require.NoError(t, err)
	requireNotFound(t, s, "job/chk-0000000002/MANIFEST")
	assert.Empty(t, Names(t, s, "job/chk-0000000002/"))
	_, err = w.Write([]byte(" and the rest"))
	require.NoError(t, err)
	requireNotFound(t, s, "job/chk-0000000002/MANIFEST")
	require.NoError(t, w.Close())
	assert.Equal(t, "half of a manifest and the rest", string(Get(t, s, "job/chk-0000000002/MANIFEST")))
	assert.Equal(t, []string{"job/chk-0000000002/MANIFEST"}, Names(t, s, "job/chk-0000000002/"))
}

func testCancel(t *testing.T, s checkpoint.Store, _ config) {
	ctx := context.Background()
	w, err := s.Create(ctx, "job/cancelled")
	require.NoError(t, err)
	_, err = w.Write(RandomBytes(2, 4096))
	require.NoError(t, err)
	require.NoError(t, w.Cancel())
	require.NoError(t, w.Cancel(), "a second Cancel is harmless")
	requireNotFound(t, s, "job/cancelled")

	// Cancel before any write.
	w, err = s.Create(ctx, "job/cancelled")
	require.NoError(t, err)
	require.NoError(t, w.Cancel())
	requireNotFound(t, s, "job/cancelled")

	// The name is still free.
	Put(t, s, "job/cancelled", []byte("second try"))
	assert.Equal(t, "second try", string(Get(t, s, "job/cancelled")))
}

func testNoOverwrite(t *testing.T, s checkpoint.Store, _ config) {
	ctx := context.Background()
	Put(t, s, "job/chk-0000000003/MANIFEST", []byte("original"))
	err := put(ctx, s, "job/chk-0000000003/MANIFEST", []byte("impostor"))
	require.ErrorIs(t, err, checkpoint.ErrExist)
	assert.Equal(t, "original", string(Get(t, s, "job/chk-0000000003/MANIFEST")))

	// Deleting frees the name again.
	require.NoError(t, s.Delete(ctx, "job/chk-0000000003/MANIFEST"))
	Put(t, s, "job/chk-0000000003/MANIFEST", []byte("replacement"))
	assert.Equal(t, "replacement", string(Get(t, s, "job/chk-0000000003/MANIFEST")))
}

func testSameNameTwoWriters(t *testing.T, s checkpoint.Store, cfg config) {
	if cfg.noConditionalWrite != "" {
		t.Skip(cfg.noConditionalWrite)
	}
	ctx := context.Background()
	w1, err := s.Create(ctx, "job/race")
	require.NoError(t, err)
	w2, err := s.Create(ctx, "job/race")
	require.NoError(t, err, "both writers may start; only one may commit")
	_, err = w2.Write([]byte("second"))
	require.NoError(t, err)
	_, err = w1.Write([]byte("first"))
	require.NoError(t, err)
	require.NoError(t, w1.Close())
	err = w2.Close()
	require.ErrorIs(t, err, checkpoint.ErrExist)
	_ = w2.Cancel()
	assert.Equal(t, "first", string(Get(t, s, "job/race")))
	assert.Equal(t, []string{"job/race"}, Names(t, s, "job/"))
}

func testList(t *testing.T, s checkpoint.Store, _ config) {
	ctx := context.Background()
	names := []string{
		"job/chk-0000000010/p-0001.state",
		"job/chk-0000000002/p-0000.state",
		"job/chk-0000000010/MANIFEST",
		"job/chk-0000000001/MANIFEST",
		"job-other/chk-0000000001/MANIFEST",
		"jobx",
		"job/savepoints/before-upgrade/MANIFEST",
		"a/b/c/d/e/deep",
	}
	for i, n := range names {
		Put(t, s, n, []byte(strings.Repeat("x", i)))
	}
	all := append([]string(nil), names...)
	slices.Sort(all)
	assert.Equal(t, all, Names(t, s, ""))
	assert.Equal(t, []string{
		"job/chk-0000000001/MANIFEST",
		"job/chk-0000000002/p-0000.state",
		"job/chk-0000000010/MANIFEST",
		"job/chk-0000000010/p-0001.state",
		"job/savepoints/before-upgrade/MANIFEST",
	}, Names(t, s, "job/"))
	// Prefixes are plain string prefixes, not path components.
	assert.Equal(t, []string{"job/chk-0000000010/MANIFEST", "job/chk-0000000010/p-0001.state"},
		Names(t, s, "job/chk-000000001"))
	assert.Equal(t, []string{"job-other/chk-0000000001/MANIFEST", "jobx"}, filterNot(Names(t, s, "job"), "job/"))
	assert.Equal(t, []string{"job/chk-0000000010/MANIFEST"}, Names(t, s, "job/chk-0000000010/MANIFEST"))
	assert.Equal(t, []string{"a/b/c/d/e/deep"}, Names(t, s, "a/b/c/d/"))
	assert.Empty(t, Names(t, s, "nope/"))
	assert.Empty(t, Names(t, s, "job/chk-0000000010/MANIFEST/"))

	infos, err := s.List(ctx, "job/chk-0000000010/")
	require.NoError(t, err)
	require.Len(t, infos, 2)
	assert.Equal(t, int64(2), infos[0].Size)
	assert.Equal(t, int64(0), infos[1].Size)
}

func filterNot(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func testDelete(t *testing.T, s checkpoint.Store, _ config) {
	ctx := context.Background()
	Put(t, s, "job/chk-0000000004/p-0000.state", []byte("state"))
	Put(t, s, "job/chk-0000000004/MANIFEST", []byte("manifest"))
	require.NoError(t, s.Delete(ctx, "job/chk-0000000004/p-0000.state"))
	requireNotFound(t, s, "job/chk-0000000004/p-0000.state")
	assert.Equal(t, "manifest", string(Get(t, s, "job/chk-0000000004/MANIFEST")), "a sibling survives")
	require.NoError(t, s.Delete(ctx, "job/chk-0000000004/p-0000.state"), "deleting twice is not an error")
	require.NoError(t, s.Delete(ctx, "job/never/existed"), "deleting a missing object is not an error")
	require.NoError(t, s.Delete(ctx, "job/chk-0000000004/MANIFEST"))
	assert.Empty(t, Names(t, s, "job/"))
	Put(t, s, "job/chk-0000000004/MANIFEST", []byte("again"))
	assert.Equal(t, "again", string(Get(t, s, "job/chk-0000000004/MANIFEST")))
}

func testLarge(t *testing.T, s checkpoint.Store, cfg config) {
	ctx := context.Background()
	n := int(cfg.largeSize) + 12_345
	data := RandomBytes(3, n)
	w, err := s.Create(ctx, "job/chk-0000000005/p-0000.state")
	require.NoError(t, err)
	const chunk = 1<<20 + 7 // odd-sized writes straddle any segment boundary
	for i := 0; i < n; i += chunk {
		_, err := w.Write(data[i:min(i+chunk, n)])
		require.NoError(t, err)
	}
	requireNotFound(t, s, "job/chk-0000000005/p-0000.state")
	require.NoError(t, w.Close())

	got := Get(t, s, "job/chk-0000000005/p-0000.state")
	require.Equal(t, len(data), len(got))
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(got), "large object content differs")
	infos, err := s.List(ctx, "job/chk-0000000005/")
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, int64(n), infos[0].Size)

	err = put(ctx, s, "job/chk-0000000005/p-0000.state", []byte("small impostor"))
	require.ErrorIs(t, err, checkpoint.ErrExist)

	require.NoError(t, s.Delete(ctx, "job/chk-0000000005/p-0000.state"))
	requireNotFound(t, s, "job/chk-0000000005/p-0000.state")
	require.NoError(t, s.Delete(ctx, "job/chk-0000000005/p-0000.state"))
}

func testConcurrent(t *testing.T, s checkpoint.Store, cfg config) {
	ctx := context.Background()
	n := cfg.concurrency
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = put(ctx, s, fmt.Sprintf("job/distinct/p-%04d", i), RandomBytes(uint64(i), 10_000+i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	names := Names(t, s, "job/distinct/")
	require.Len(t, names, n)
	for i, name := range names {
		require.Equal(t, fmt.Sprintf("job/distinct/p-%04d", i), name)
		require.Equal(t, RandomBytes(uint64(i), 10_000+i), Get(t, s, name))
	}

	if cfg.noConditionalWrite != "" {
		t.Log("same-name race skipped: " + cfg.noConditionalWrite)
		return
	}
	// Same name: exactly one wins, the others get ErrExist, and the object
	// holds the winner's bytes, whole.
	for round := range 3 {
		name := fmt.Sprintf("job/same/round-%d", round)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = put(ctx, s, name, RandomBytes(uint64(100+i), 50_000))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		var winners []int
		for i, err := range errs {
			if err == nil {
				if cfg.racyOverlap == "" {
					require.Equal(t, -1, winner, "round %d: writers %d and %d both committed %q", round, winner, i, name)
				}
				winner = i
				winners = append(winners, i)
				continue
			}
			require.ErrorIs(t, err, checkpoint.ErrExist, "round %d writer %d", round, i)
		}
		require.NotEqual(t, -1, winner, "round %d: nobody committed %q", round, name)
		if len(winners) > 1 {
			t.Logf("round %d: %d writers were told they won (%s)", round, len(winners), cfg.racyOverlap)
			got := Get(t, s, name)
			found := false
			for _, i := range winners {
				found = found || bytes.Equal(got, RandomBytes(uint64(100+i), 50_000))
			}
			require.True(t, found, "round %d: object holds no winner's bytes", round)
			continue
		}
		require.Equal(t, RandomBytes(uint64(100+winner), 50_000), Get(t, s, name))
	}
}

func testContext(t *testing.T, s checkpoint.Store, _ config) {
	Put(t, s, "job/existing", []byte("keep me"))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := s.Create(cancelled, "job/new")
	require.ErrorIs(t, err, context.Canceled, "Create")
	_, err = s.Open(cancelled, "job/existing")
	require.ErrorIs(t, err, context.Canceled, "Open")
	_, err = s.List(cancelled, "job/")
	require.ErrorIs(t, err, context.Canceled, "List")
	err = s.Delete(cancelled, "job/existing")
	require.ErrorIs(t, err, context.Canceled, "Delete")
	assert.Equal(t, "keep me", string(Get(t, s, "job/existing")))

	// The Create context governs the whole write: cancelled before Close,
	// nothing becomes visible.
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.Create(ctx, "job/interrupted")
	require.NoError(t, err)
	_, err = w.Write(RandomBytes(4, 64<<10))
	require.NoError(t, err)
	cancel()
	_, werr := w.Write(RandomBytes(5, 64<<10))
	cerr := w.Close()
	_ = w.Cancel()
	require.Error(t, errors.Join(werr, cerr), "a write whose context was cancelled must not commit")
	require.ErrorIs(t, errors.Join(werr, cerr), context.Canceled)
	requireNotFound(t, s, "job/interrupted")
}

func testInvalidNames(t *testing.T, s checkpoint.Store, _ config) {
	ctx := context.Background()
	for _, name := range []string{"", "/abs/name", "a/../../etc/passwd", "..", "a/./b", "a//b", "trailing/", "back\\slash", "nul\x00byte", "a/.tmp-sneaky", "job/" + strings.Repeat("a", 800)} {
		_, err := s.Create(ctx, name)
		assert.ErrorIs(t, err, checkpoint.ErrInvalidName, "Create(%q)", name)
		_, err = s.Open(ctx, name)
		assert.ErrorIs(t, err, checkpoint.ErrInvalidName, "Open(%q)", name)
		err = s.Delete(ctx, name)
		assert.ErrorIs(t, err, checkpoint.ErrInvalidName, "Delete(%q)", name)
	}
	assert.Empty(t, Names(t, s, ""))
}

func testWriterAfterClose(t *testing.T, s checkpoint.Store, _ config) {
	ctx := context.Background()
	w, err := s.Create(ctx, "job/closed")
	require.NoError(t, err)
	_, err = w.Write([]byte("data"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	_, err = w.Write([]byte("more"))
	require.ErrorIs(t, err, checkpoint.ErrClosed)
	require.ErrorIs(t, w.Close(), checkpoint.ErrClosed)
	require.NoError(t, w.Cancel(), "Cancel after a successful Close is harmless")
	assert.Equal(t, "data", string(Get(t, s, "job/closed")), "Cancel after Close must not remove the object")
}

func testInjected(t *testing.T, inner checkpoint.Store, cfg config) {
	ctx := context.Background()
	s := NewFaultStore(inner)
	// A complete previous checkpoint.
	prev := RandomBytes(6, 300_000)
	Put(t, s, "job/chk-0000000006/p-0000.state", prev)
	Put(t, s, "job/chk-0000000006/MANIFEST", []byte("manifest 6"))

	cases := []struct {
		name  string
		fault Fault
		size  int
	}{
		{"FailAfterBytes", Fault{AfterBytes: 100_000}, 300_000},
		{"FailAtFirstByte", Fault{AfterBytes: 0}, 1000},
		{"CrashAfterBytes", Fault{AfterBytes: 150_000, Crash: true}, 300_000},
		{"FailOnClose", Fault{AfterBytes: -1, OnClose: true}, 300_000},
		{"CrashOnClose", Fault{AfterBytes: -1, OnClose: true, Crash: true}, 300_000},
		{"LargeFailAfterBytes", Fault{AfterBytes: cfg.largeSize / 2}, int(cfg.largeSize) + 1000},
		{"LargeCrashAfterBytes", Fault{AfterBytes: cfg.largeSize + 500, Crash: true}, int(cfg.largeSize) + 1000},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("job/chk-0000000007/p-%04d.state", i)
			s.Clear()
			fault := tc.fault
			fault.Match = func(n string) bool { return n == name }
			s.Inject(fault)
			fired := s.Fired()
			err := put(ctx, s, name, RandomBytes(uint64(i), tc.size))
			require.ErrorIs(t, err, ErrInjected)
			require.Equal(t, fired+1, s.Fired(), "the fault did not fire")
			s.Clear()
			requireNotFound(t, s, name)
			assert.Equal(t, prev, Get(t, s, "job/chk-0000000006/p-0000.state"), "previous checkpoint damaged")
			assert.Equal(t, "manifest 6", string(Get(t, s, "job/chk-0000000006/MANIFEST")))
			assert.Equal(t, []string{"job/chk-0000000006/MANIFEST", "job/chk-0000000006/p-0000.state"}, Names(t, s, "job/chk-0000000006/"))
			// The name can be written after the failure.
			retry := RandomBytes(uint64(i+50), 2000)
			Put(t, s, name, retry)
			assert.Equal(t, retry, Get(t, s, name))
		})
	}
}
