package checkpoint_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncw/swift/v2"
	"github.com/ncw/swift/v2/swifttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

func putObject(t *testing.T, s checkpoint.Store, name string, data []byte) {
	t.Helper()
	checkpointtest.Put(t, s, name, data)
}

// swiftBackends runs fn against swifttest and, when configured, real Swift.
func swiftBackends(t *testing.T, fn func(t *testing.T, conn *swift.Connection)) {
	t.Run("swifttest", func(t *testing.T) { fn(t, checkpointtest.NewSwifttestConnection(t)) })
	t.Run("real", func(t *testing.T) { fn(t, checkpointtest.RealSwiftConnection(t)) })
}

func TestSwiftStoreLargeObjectSegments(t *testing.T) {
	swiftBackends(t, func(t *testing.T, conn *swift.Connection) {
		ctx := context.Background()
		s := newTestSwiftStore(t, conn)
		data := checkpointtest.RandomBytes(7, 3*testThreshold+5)
		putObject(t, s, "job/chk-0000000001/p-0000.state", data)
		segs := checkpointtest.ObjectNames(t, conn, s.SegmentContainer())
		require.Len(t, segs, 4, "3 full segments and a 5-byte tail")
		for _, seg := range segs {
			assert.True(t, strings.HasPrefix(seg, "job/chk-0000000001/p-0000.state/"), seg)
		}
		// Exactly threshold bytes is still one plain object.
		putObject(t, s, "job/chk-0000000001/exact", data[:testThreshold])
		assert.Len(t, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()), 4)
		assert.Equal(t, data[:testThreshold], checkpointtest.Get(t, s, "job/chk-0000000001/exact"))
		// Exactly two segments' worth ends in a full segment, not an empty one.
		putObject(t, s, "job/chk-0000000001/two", data[:2*testThreshold])
		assert.Len(t, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()), 6)
		assert.Equal(t, data[:2*testThreshold], checkpointtest.Get(t, s, "job/chk-0000000001/two"))

		require.NoError(t, s.Delete(ctx, "job/chk-0000000001/p-0000.state"))
		require.NoError(t, s.Delete(ctx, "job/chk-0000000001/two"))
		assert.Empty(t, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()), "Delete removes segments")
		assert.Equal(t, []string{"job/chk-0000000001/exact"}, checkpointtest.Names(t, s, ""))

		// A cancelled large write leaves no segments behind.
		w, err := s.Create(ctx, "job/chk-0000000002/p-0000.state")
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
		require.NoError(t, w.Cancel())
		assert.Empty(t, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()), "Cancel removes segments")

		// A large write that loses to an existing object cleans up too.
		putObject(t, s, "job/chk-0000000003/MANIFEST", []byte("small"))
		segsBefore := checkpointtest.ObjectNames(t, conn, s.SegmentContainer())
		w, err = s.Create(ctx, "job/chk-0000000003/other")
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		assert.Len(t, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()), len(segsBefore)+4)
	})
}

func TestSwiftStoreLargeObjectLosesRace(t *testing.T) {
	// Real Swift only: swifttest does not refuse the overwrite.
	conn := checkpointtest.RealSwiftConnection(t)
	ctx := context.Background()
	s := newTestSwiftStore(t, conn)
	w1, err := s.Create(ctx, "job/race")
	require.NoError(t, err)
	w2, err := s.Create(ctx, "job/race")
	require.NoError(t, err)
	data := checkpointtest.RandomBytes(8, 2*testThreshold+100)
	_, err = w2.Write(data)
	require.NoError(t, err)
	_, err = w1.Write([]byte("small winner"))
	require.NoError(t, err)
	require.NoError(t, w1.Close())
	require.ErrorIs(t, w2.Close(), checkpoint.ErrExist)
	assert.Equal(t, "small winner", string(checkpointtest.Get(t, s, "job/race")))
	assert.Empty(t, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()), "the loser's segments are removed")
}

func TestSwiftStoreRemoveOrphanSegments(t *testing.T) {
	swiftBackends(t, func(t *testing.T, conn *swift.Connection) {
		ctx := context.Background()
		s := newTestSwiftStore(t, conn)
		data := checkpointtest.RandomBytes(9, 2*testThreshold+1)
		putObject(t, s, "job/chk-0000000001/p-0000.state", data)
		kept := checkpointtest.ObjectNames(t, conn, s.SegmentContainer())
		require.Len(t, kept, 3)

		// A crash in the middle of a large write leaves segments behind.
		fs := checkpointtest.NewFaultStore(s)
		fs.Inject(checkpointtest.Fault{AfterBytes: 2*testThreshold + 10, Crash: true})
		err := checkpointtest.PutErr(ctx, fs, "job/chk-0000000002/p-0000.state", checkpointtest.RandomBytes(10, 3*testThreshold))
		require.ErrorIs(t, err, checkpointtest.ErrInjected)
		require.Eventually(t, func() bool {
			return len(checkpointtest.ObjectNames(t, conn, s.SegmentContainer())) == 5
		}, 10*time.Second, 20*time.Millisecond, "the crashed writer's two full segments are uploaded")

		n, err := s.RemoveOrphanSegments(ctx, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 0, n, "recent uploads may still be in progress")
		n, err = s.RemoveOrphanSegments(ctx, -time.Minute)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Equal(t, kept, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()))
		assert.Equal(t, data, checkpointtest.Get(t, s, "job/chk-0000000001/p-0000.state"))
	})
}

func TestSwiftStoreDetectsCorruption(t *testing.T) {
	swiftBackends(t, func(t *testing.T, conn *swift.Connection) {
		ctx := context.Background()
		s := newTestSwiftStore(t, conn)
		putObject(t, s, "job/ok", []byte("fine"))
		require.NoError(t, conn.ContainerCreate(ctx, s.Container(), nil))

		// An object whose recorded checksum does not match its bytes.
		_, err := conn.ObjectPut(ctx, s.Container(), s.ObjectName("job/bad-md5"), strings.NewReader("tampered"), true, "", "",
			swift.Headers{"X-Object-Meta-Streamkit-Crc32c": "0badf00d", "X-Object-Meta-Streamkit-Size": "8"})
		require.NoError(t, err)
		_, err = readAll(ctx, s, "job/bad-md5")
		var ce *checkpoint.ObjectCorruptError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "job/bad-md5", ce.Name)
		assert.ErrorIs(t, err, checkpoint.ErrObjectCorrupt)
		assert.Contains(t, err.Error(), `"job/bad-md5"`)

		// A truncated object: fewer bytes than were recorded.
		_, err = conn.ObjectPut(ctx, s.Container(), s.ObjectName("job/short"), strings.NewReader("trunc"), true, "", "",
			swift.Headers{"X-Object-Meta-Streamkit-Size": "100"})
		require.NoError(t, err)
		_, err = readAll(ctx, s, "job/short")
		require.ErrorIs(t, err, checkpoint.ErrObjectCorrupt)
		assert.Contains(t, err.Error(), "read 5 bytes, want 100")

		assert.Contains(t, fmt.Sprint(func() error { _, err := readAll(ctx, s, "job/bad-md5"); return err }()), "crc32c")

		// A plain object written by another tool has no streamkit metadata:
		// it is checked against its ETag (its MD5).
		require.NoError(t, conn.ObjectPutString(ctx, s.Container(), s.ObjectName("job/foreign"), "from the swift CLI", ""))
		got, err := readAll(ctx, s, "job/foreign")
		require.NoError(t, err)
		assert.Equal(t, "from the swift CLI", string(got))

		got, err = readAll(ctx, s, "job/ok")
		require.NoError(t, err)
		assert.Equal(t, "fine", string(got))
	})
}

func readAll(ctx context.Context, s checkpoint.Store, name string) ([]byte, error) {
	r, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestSwiftStoreInvalidConfig(t *testing.T) {
	conn := &swift.Connection{AuthUrl: "http://127.0.0.1:1/auth/v1.0", UserName: "u", ApiKey: "k", AuthVersion: 1}
	cases := map[string]*checkpoint.SwiftStore{
		"nil connection":    checkpoint.NewSwiftStore(nil, "c"),
		"empty container":   checkpoint.NewSwiftStore(conn, ""),
		"slash container":   checkpoint.NewSwiftStore(conn, "a/b"),
		"same segments":     checkpoint.NewSwiftStore(conn, "c", checkpoint.WithSwiftSegmentContainer("c")),
		"tiny threshold":    checkpoint.NewSwiftStore(conn, "c", checkpoint.WithSwiftLargeObjectThreshold(1000)),
		"no concurrency":    checkpoint.NewSwiftStore(conn, "c", checkpoint.WithSwiftUploadConcurrency(0)),
		"bad retry":         checkpoint.NewSwiftStore(conn, "c", checkpoint.WithSwiftRetry(0, time.Second, time.Second)),
		"bad prefix":        checkpoint.NewSwiftStore(conn, "c", checkpoint.WithSwiftPrefix("../x")),
		"absolute prefix":   checkpoint.NewSwiftStore(conn, "c", checkpoint.WithSwiftPrefix("/x")),
		"inverted backoffs": checkpoint.NewSwiftStore(conn, "c", checkpoint.WithSwiftRetry(3, time.Second, time.Millisecond)),
	}
	ctx := context.Background()
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.Create(ctx, "x")
			require.ErrorContains(t, err, "checkpoint: swift store:")
			_, err = s.Open(ctx, "x")
			require.Error(t, err)
			_, err = s.List(ctx, "")
			require.Error(t, err)
			require.Error(t, s.Delete(ctx, "x"))
			_, err = s.RemoveOrphanSegments(ctx, time.Hour)
			require.Error(t, err)
		})
	}
}

// flakyTransport fails requests that match before passing them on, to drive
// the retry logic.
type flakyTransport struct {
	next http.RoundTripper

	mu       sync.Mutex
	match    func(*http.Request) bool
	failures int   // how many matching requests to fail
	status   int   // 0: a connection error; otherwise this status
	seen     int   // matching requests seen
	failed   int   // matching requests failed
	calls    []int // status returned per matching request (0 = error)
}

func (f *flakyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	hit := f.match != nil && f.match(req)
	fail := hit && f.failed < f.failures
	if hit {
		f.seen++
	}
	if fail {
		f.failed++
	}
	status := f.status
	f.mu.Unlock()
	if !fail {
		return f.next.RoundTrip(req)
	}
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if status == 0 {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return &http.Response{
		StatusCode: status,
		Status:     fmt.Sprintf("%d injected", status),
		Header:     http.Header{},
		Body:       io.NopCloser(strings.NewReader("injected")),
		Request:    req,
	}, nil
}

func (f *flakyTransport) counts() (seen, failed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen, f.failed
}

func isPut(req *http.Request) bool {
	return req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/job/")
}

func TestSwiftStoreRetries(t *testing.T) {
	fastRetry := checkpoint.WithSwiftRetry(4, time.Millisecond, 5*time.Millisecond)
	newFlaky := func(t *testing.T) (*checkpoint.SwiftStore, *flakyTransport) {
		conn := checkpointtest.NewSwifttestConnection(t)
		ft := &flakyTransport{next: conn.Transport}
		conn.Transport = ft
		return newTestSwiftStore(t, conn, fastRetry, checkpoint.WithSwiftLogger(slog.New(slog.DiscardHandler))), ft
	}
	for _, tc := range []struct {
		name   string
		status int
		size   int
	}{
		{"503 small", 503, 100},
		{"500 segment", 500, 2*testThreshold + 1},
		{"408 timeout", 408, 100},
		{"429 rate limit", 429, 100},
		{"connection refused", 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ft := newFlaky(t)
			ft.match, ft.failures, ft.status = isPut, 3, tc.status
			data := checkpointtest.RandomBytes(10, tc.size)
			putObject(t, s, "job/retried", data)
			assert.Equal(t, data, checkpointtest.Get(t, s, "job/retried"))
			_, failed := ft.counts()
			assert.Equal(t, 3, failed)
		})
	}
	t.Run("expired token", func(t *testing.T) {
		// ncw/swift re-authenticates on 401 and resends the rewound body.
		s, ft := newFlaky(t)
		ft.match, ft.failures, ft.status = isPut, 1, 401
		data := checkpointtest.RandomBytes(13, 2*testThreshold+3)
		putObject(t, s, "job/reauth", data)
		assert.Equal(t, data, checkpointtest.Get(t, s, "job/reauth"))
		_, failed := ft.counts()
		assert.Equal(t, 1, failed)
	})
	t.Run("gives up after the attempts", func(t *testing.T) {
		s, ft := newFlaky(t)
		ft.match, ft.failures, ft.status = isPut, 100, 503
		err := checkpointtest.PutErr(context.Background(), s, "job/doomed", []byte("x"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "503")
		seen, _ := ft.counts()
		assert.Equal(t, 4, seen, "4 attempts in all")
		_, err = s.Open(context.Background(), "job/doomed")
		require.ErrorIs(t, err, checkpoint.ErrNotFound)
	})
	for _, status := range []int{400, 403, 404, 409, 413, 422} {
		t.Run(fmt.Sprintf("never retries %d", status), func(t *testing.T) {
			s, ft := newFlaky(t)
			ft.match, ft.failures, ft.status = isPut, 100, status
			err := checkpointtest.PutErr(context.Background(), s, "job/client-error", []byte("x"))
			require.Error(t, err)
			seen, _ := ft.counts()
			assert.Equal(t, 1, seen, "a %d is final", status)
		})
	}
	t.Run("reads are retried", func(t *testing.T) {
		s, ft := newFlaky(t)
		putObject(t, s, "job/read", []byte("payload"))
		ft.match = func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/job/read")
		}
		ft.failures, ft.status = 2, 502
		assert.Equal(t, "payload", string(checkpointtest.Get(t, s, "job/read")))
	})
	t.Run("ctx stops the backoff", func(t *testing.T) {
		conn := checkpointtest.NewSwifttestConnection(t)
		ft := &flakyTransport{next: conn.Transport, match: isPut, failures: 1000, status: 503}
		conn.Transport = ft
		s := newTestSwiftStore(t, conn, checkpoint.WithSwiftRetry(100, 50*time.Millisecond, time.Second),
			checkpoint.WithSwiftLogger(slog.New(slog.DiscardHandler)))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := checkpointtest.PutErr(ctx, s, "job/slow", []byte("x"))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
}

// TestSwiftStoreProxyStoppedMidWrite stops the real Swift proxy half way
// through a large object: the write must fail cleanly, and once the proxy is
// back the earlier checkpoint must be intact and the new object absent.
func TestSwiftStoreProxyStoppedMidWrite(t *testing.T) {
	stopsSharedSwift(t)
	saio := checkpointtest.SAIOFromEnv(t)
	conn := checkpointtest.RealSwiftConnection(t)
	conn.Timeout = 10 * time.Second
	ctx := context.Background()
	s := newTestSwiftStore(t, conn,
		checkpoint.WithSwiftRetry(3, 50*time.Millisecond, 200*time.Millisecond),
		checkpoint.WithSwiftLogger(slog.New(slog.DiscardHandler)))

	prevState := checkpointtest.RandomBytes(11, 3*testThreshold+77)
	putObject(t, s, "job/chk-0000000001/p-0000.state", prevState)
	putObject(t, s, "job/chk-0000000001/MANIFEST", []byte("manifest 1"))

	fs := checkpointtest.NewFaultStore(s)
	fs.Inject(saio.StopProxyFault(t, nil, 2*testThreshold+1000))
	err := checkpointtest.PutErr(ctx, fs, "job/chk-0000000002/p-0000.state", checkpointtest.RandomBytes(12, 5*testThreshold))
	require.Error(t, err, "a write across a dead proxy cannot succeed")
	require.Equal(t, 1, fs.Fired())
	t.Logf("write failed as expected: %v", err)

	saio.StartProxy(t)
	_, err = s.Open(ctx, "job/chk-0000000002/p-0000.state")
	require.ErrorIs(t, err, checkpoint.ErrNotFound)
	assert.Equal(t, prevState, checkpointtest.Get(t, s, "job/chk-0000000001/p-0000.state"))
	assert.Equal(t, "manifest 1", string(checkpointtest.Get(t, s, "job/chk-0000000001/MANIFEST")))
	assert.Equal(t, []string{"job/chk-0000000001/MANIFEST", "job/chk-0000000001/p-0000.state"}, checkpointtest.Names(t, s, "job/"))

	// Whatever segments the failed write left are orphans GC can remove.
	_, err = s.RemoveOrphanSegments(ctx, -time.Minute)
	require.NoError(t, err)
	assert.Len(t, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()), 4, "only the committed object's segments remain")
	// And the store works again.
	putObject(t, s, "job/chk-0000000002/p-0000.state", []byte("retry after restart"))
}

func ExampleSwiftStore() {
	// An in-process fake Swift; in production, pass a Connection to your
	// cluster (AuthUrl, UserName, ApiKey, AuthVersion).
	srv, err := swifttest.NewSwiftServer("127.0.0.1")
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	conn := &swift.Connection{
		UserName: swifttest.TEST_ACCOUNT, ApiKey: swifttest.TEST_ACCOUNT,
		AuthUrl: srv.AuthURL, AuthVersion: 1,
	}
	// No I/O yet: authentication and container creation happen on first use.
	store := checkpoint.NewSwiftStore(conn, "checkpoints",
		checkpoint.WithSwiftPrefix("wdqs-updater"),
		checkpoint.WithSwiftLargeObjectThreshold(1<<20)) // larger objects become SLOs

	ctx := context.Background()
	w, err := store.Create(ctx, "myjob/chk-0000000001/p-0000.state")
	if err != nil {
		panic(err)
	}
	_, _ = w.Write(bytes.Repeat([]byte("x"), 3<<20)) // three 1 MiB segments
	if err := w.Close(); err != nil {                // PUTs the SLO manifest
		panic(err)
	}
	infos, _ := store.List(ctx, "myjob/")
	for _, in := range infos {
		fmt.Println(in.Name, in.Size, store.ObjectName(in.Name))
	}
	segments, _ := conn.ObjectNamesAll(ctx, store.SegmentContainer(), nil)
	fmt.Println(len(segments), "segments in", store.SegmentContainer())
	// Output:
	// myjob/chk-0000000001/p-0000.state 3145728 wdqs-updater/myjob/chk-0000000001/p-0000.state
	// 3 segments in checkpoints_segments
}

// A large object written by another tool (ncw/swift's own SLO writer, as the
// swift CLI would) has no streamkit metadata: Delete reads its manifest to
// find the segments, and Open reads it without a whole-object checksum.
func TestSwiftStoreForeignLargeObject(t *testing.T) {
	swiftBackends(t, func(t *testing.T, conn *swift.Connection) {
		ctx := context.Background()
		s := newTestSwiftStore(t, conn)
		require.NoError(t, conn.ContainerCreate(ctx, s.Container(), nil))
		require.NoError(t, conn.ContainerCreate(ctx, s.SegmentContainer(), nil))
		data := checkpointtest.RandomBytes(14, 2*testThreshold+9)
		f, err := conn.StaticLargeObjectCreateFile(ctx, &swift.LargeObjectOpts{
			Container: s.Container(), ObjectName: "foreign/big", ChunkSize: testThreshold,
			SegmentContainer: s.SegmentContainer(), SegmentPrefix: "foreign-segs",
		})
		require.NoError(t, err)
		_, err = f.Write(data)
		require.NoError(t, err)
		require.NoError(t, f.CloseWithContext(ctx))
		require.Len(t, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()), 3)

		assert.Equal(t, data, checkpointtest.Get(t, s, "foreign/big"))
		require.NoError(t, s.Delete(ctx, "foreign/big"))
		_, err = s.Open(ctx, "foreign/big")
		require.ErrorIs(t, err, checkpoint.ErrNotFound)
		assert.Empty(t, checkpointtest.ObjectNames(t, conn, s.SegmentContainer()))
	})
}

// breakingTransport cuts the body of matching GET responses after a number
// of bytes, as a dropped connection would.
type breakingTransport struct {
	next  http.RoundTripper
	match func(*http.Request) bool
	after int64

	mu     sync.Mutex
	breaks int // how many more bodies to break
	ranges []string
}

type breakingBody struct {
	io.ReadCloser
	left int64
}

func (b *breakingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

func (bt *breakingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := bt.next.RoundTrip(req)
	if err != nil || !bt.match(req) {
		return resp, err
	}
	bt.mu.Lock()
	defer bt.mu.Unlock()
	bt.ranges = append(bt.ranges, req.Header.Get("Range"))
	if bt.breaks > 0 && resp.StatusCode/100 == 2 {
		bt.breaks--
		resp.Body = &breakingBody{ReadCloser: resp.Body, left: bt.after}
	}
	return resp, nil
}

func TestSwiftStoreReadResumes(t *testing.T) {
	swiftBackends(t, func(t *testing.T, conn *swift.Connection) {
		next := conn.Transport
		if next == nil {
			next = http.DefaultTransport.(*http.Transport).Clone()
		}
		bt := &breakingTransport{next: next, after: 300_000, breaks: 2,
			match: func(r *http.Request) bool { return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/job/") }}
		conn.Transport = bt
		s := newTestSwiftStore(t, conn, checkpoint.WithSwiftRetry(4, time.Millisecond, 5*time.Millisecond),
			checkpoint.WithSwiftLogger(slog.New(slog.DiscardHandler)))
		for _, size := range []int{1_000_000, 2*testThreshold + 17} { // plain and large
			data := checkpointtest.RandomBytes(uint64(size), size)
			name := fmt.Sprintf("job/resume-%d", size)
			putObject(t, s, name, data)
			bt.mu.Lock()
			bt.breaks, bt.ranges = 2, nil
			bt.mu.Unlock()
			assert.Equal(t, data, checkpointtest.Get(t, s, name), "size %d", size)
			bt.mu.Lock()
			assert.Equal(t, []string{"", "bytes=300000-", "bytes=600000-"}, bt.ranges, "size %d", size)
			bt.mu.Unlock()
		}
		// Out of attempts: the error surfaces, nothing is made up.
		putObject(t, s, "job/doomed", checkpointtest.RandomBytes(1, 1_000_000))
		bt.mu.Lock()
		bt.breaks, bt.after = 10, 100_000 // 4 attempts read 400 kB of 1 MB
		bt.mu.Unlock()
		_, err := readAll(context.Background(), s, "job/doomed")
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
}
