package sidecar

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
)

// serveTest serves sc on a loopback port until the test ends and returns
// the address.
func serveTest(t *testing.T, sc *Sidecar) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return l.Addr().String()
}

// getOn sends GET path on an open connection and reads the answer, leaving
// the connection open (HTTP/1.1 keep-alive).
func getOn(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	_, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path)
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// waitClosed reads from c until the server closes it; it fails the test if
// that takes longer than a generous bound (the server never closing).
func waitClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept the connection open: %v", err)
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	sc := newTestSidecar(t, runningJob(), WithIdleTimeout(200*time.Millisecond), WithMaxConns(500))
	addr := serveTest(t, sc)
	const n = 200
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		conns[i], readers[i] = c, bufio.NewReader(c)
		resp := getOn(t, c, readers[i], "/healthz")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.False(t, resp.Close, "keep-alive")
	}
	for i, c := range conns {
		waitClosed(t, c, readers[i])
	}
	// The sidecar still serves.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, http.StatusOK, getOn(t, c, bufio.NewReader(c), "/readyz").StatusCode)
}

// blockingJob's Stop waits until release is closed, holding its
// request (and connection) active.
type blockingJob struct {
	*fakeJob
	started chan struct{}
	release chan struct{}
}

func (j *blockingJob) Stop(ctx context.Context) error {
	j.started <- struct{}{}
	<-j.release
	return nil
}

// TestConnectionCap: connections beyond the cap are left in the kernel's
// queue, costing the job no descriptor, while the capped ones are busy;
// when they finish, the waiting ones are served.
func TestConnectionCap(t *testing.T) {
	job := &blockingJob{fakeJob: runningJob(), started: make(chan struct{}, 10), release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(job.release)
		}
	}()
	sc := newTestSidecar(t, job, WithMaxConns(4), WithIdleTimeout(time.Hour))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ll := &countingListener{Listener: l, accepted: make(chan struct{}, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Serve(ctx, ll) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	addr := l.Addr().String()

	// Four operators' stops in flight: the four slots are busy.
	stops := make(chan int, 4)
	for range 4 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "POST /stop HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		require.NoError(t, err)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				stops <- 0
				return
			}
			stops <- resp.StatusCode
		}()
		<-job.started
	}
	for range 4 {
		<-ll.accepted
	}
	// Twenty more clients connect (the kernel completes the handshake) and
	// send a request, but none is accepted while the four are busy.
	waiting := make([]net.Conn, 20)
	answered := make(chan int, len(waiting))
	for i := range waiting {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		waiting[i] = c
		_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil && resp.StatusCode == http.StatusOK {
				answered <- i
				return
			}
			answered <- -1
		}()
	}
	select {
	case <-ll.accepted:
		t.Fatal("a connection beyond the cap was accepted")
	case i := <-answered:
		t.Fatalf("a connection beyond the cap was answered (%d)", i)
	case <-time.After(300 * time.Millisecond):
	}
	assert.Equal(t, []string(nil), job.Calls(), "the job saw nothing but the four stops")
	// The stops finish: the waiting clients are served, every one.
	close(job.release)
	released = true
	for range 4 {
		assert.Equal(t, http.StatusOK, <-stops)
	}
	for range waiting {
		select {
		case i := <-answered:
			require.GreaterOrEqual(t, i, 0, "a waiting connection got no answer")
		case <-time.After(30 * time.Second):
			t.Fatal("waiting connections were not served after the busy ones finished")
		}
	}
}

// TestIdleConnectionsMakeRoomAtTheCap: when every slot is held by an idle
// keep-alive connection, a new client (a liveness probe) does not wait for
// the idle timeout: at the cap the sidecar closes idle connections and
// turns keep-alive off until half the slots are free.
func TestIdleConnectionsMakeRoomAtTheCap(t *testing.T) {
	log, buf := bufferLogger()
	sc := newTestSidecar(t, runningJob(), WithMaxConns(4), WithIdleTimeout(time.Hour), WithLogger(log))
	addr := serveTest(t, sc)
	var idle []net.Conn
	var readers []*bufio.Reader
	for range 4 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		br := bufio.NewReader(c)
		require.Equal(t, http.StatusOK, getOn(t, c, br, "/healthz").StatusCode)
		idle, readers = append(idle, c), append(readers, br)
	}
	probe, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer probe.Close()
	pr := bufio.NewReader(probe)
	resp := getOn(t, probe, pr, "/healthz") // 30 s bound; the idle timeout is an hour
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	for i, c := range idle {
		waitClosed(t, c, readers[i])
	}
	assert.Contains(t, buf.String(), "connection cap reached")
	// Once relieved, keep-alive is back.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	resp = getOn(t, c, bufio.NewReader(c), "/healthz")
	assert.False(t, resp.Close, "keep-alive again below half the cap")
}

type countingListener struct {
	net.Listener
	accepted chan struct{}
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}

// TestSilentConnectionsMakeRoomAtTheCap: clients that connect and send
// nothing, holding every slot, are closed after a second of silence once
// the cap is reached, not after the read timeout (an hour here), so a
// probe queued behind them is served.
func TestSilentConnectionsMakeRoomAtTheCap(t *testing.T) {
	sc := newTestSidecar(t, runningJob(), WithMaxConns(4), WithReadTimeout(time.Hour))
	addr := serveTest(t, sc)
	var silent []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		silent = append(silent, c)
	}
	probe, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer probe.Close()
	assert.Equal(t, http.StatusOK, getOn(t, probe, bufio.NewReader(probe), "/healthz").StatusCode)
	for _, c := range silent {
		waitClosed(t, c, bufio.NewReader(c))
	}
}

func TestSlowlorisIsCutByTheReadTimeout(t *testing.T) {
	sc := newTestSidecar(t, runningJob(), WithReadTimeout(300*time.Millisecond))
	addr := serveTest(t, sc)
	for name, send := range map[string]func(net.Conn) error{
		// Headers that never end, a byte every 50 ms.
		"trickled headers": func(c net.Conn) error {
			if _, err := io.WriteString(c, "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
				return err
			}
			for {
				if _, err := io.WriteString(c, "X"); err != nil {
					return err
				}
				time.Sleep(50 * time.Millisecond)
			}
		},
		// Headers, then a body that never comes.
		"stalled body": func(c net.Conn) error {
			_, err := io.WriteString(c, "POST /pause HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nab")
			return err
		},
		// Nothing at all after connecting.
		"silent": func(net.Conn) error { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			go func() { _ = send(c) }()
			waitClosed(t, c, bufio.NewReader(c))
		})
	}
	// Meanwhile the sidecar serves others.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, http.StatusOK, getOn(t, c, bufio.NewReader(c), "/healthz").StatusCode)
}

// slowJob's operations take a while, longer than the test's write timeout.
type slowJob struct {
	*fakeJob
	delay time.Duration
}

func (j *slowJob) StopWithSavepoint(ctx context.Context, name string) (*streamkit.SavepointResult, error) {
	time.Sleep(j.delay)
	return j.fakeJob.StopWithSavepoint(ctx, name)
}

// TestLongOperationOutlivesTheWriteTimeout: a stop with savepoint that runs
// longer than the write timeout still gets its answer, since the operation
// extends its deadline.
func TestLongOperationOutlivesTheWriteTimeout(t *testing.T) {
	job := &slowJob{fakeJob: runningJob(), delay: 600 * time.Millisecond}
	sc := newTestSidecar(t, job, WithWriteTimeout(100*time.Millisecond), WithReadTimeout(100*time.Millisecond))
	addr := serveTest(t, sc)
	resp, err := http.Post("http://"+addr+"/stop?savepoint=final", "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.Contains(string(body), `"stopped": true`), string(body))
}

func TestServerOptionsAreValidated(t *testing.T) {
	for name, opt := range map[string]Option{
		"zero read timeout":  WithReadTimeout(0),
		"zero write timeout": WithWriteTimeout(0),
		"zero idle timeout":  WithIdleTimeout(-time.Second),
		"zero conns":         WithMaxConns(0),
	} {
		_, err := New(runningJob(), opt)
		assert.ErrorIs(t, err, ErrInvalidOption, name)
	}
	sc, err := New(runningJob())
	require.NoError(t, err)
	srv := sc.server()
	assert.Equal(t, DefaultReadTimeout, srv.ReadTimeout)
	assert.Equal(t, DefaultReadTimeout, srv.ReadHeaderTimeout)
	assert.Equal(t, DefaultWriteTimeout, srv.WriteTimeout)
	assert.Equal(t, DefaultIdleTimeout, srv.IdleTimeout)
}

// TestFloodKeepsDescriptorsBounded opens many idle connections and counts
// the ones the sidecar accepted, from the kernel's table: a connection
// still in the accept queue has no descriptor (inode 0), one accepted has.
// With the cap, only the capped number are accepted.
func TestFloodKeepsDescriptorsBounded(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("needs /proc/net/tcp (Linux)")
	}
	const capConns, clients = 16, 400
	sc := newTestSidecar(t, runningJob(), WithMaxConns(capConns), WithIdleTimeout(time.Hour))
	addr := serveTest(t, sc)
	_, portStr, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	ours := map[string]bool{} // the clients' addresses as the kernel prints them
	for range clients {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		ours[fmt.Sprintf("0100007F:%04X", c.LocalAddr().(*net.TCPAddr).Port)] = true
	}
	var accepted, queued int
	require.Eventually(t, func() bool {
		accepted, queued = serverSockets(t, port, ours)
		return accepted+queued >= clients && accepted >= capConns
	}, 30*time.Second, 10*time.Millisecond, "the sidecar should accept up to the cap")
	time.Sleep(200 * time.Millisecond) // give an uncapped accept loop the time to take more
	accepted, queued = serverSockets(t, port, ours)
	t.Logf("%d idle clients, cap %d: %d accepted (with a descriptor each), %d in the kernel's queue", clients, capConns, accepted, queued)
	assert.Equal(t, capConns, accepted)
	assert.Equal(t, clients-capConns, queued)
}

// serverSockets counts the established connections from the clients to
// a local port: accepted ones (with a socket inode, so a descriptor) and
// queued ones.
func serverSockets(t *testing.T, port int, clients map[string]bool) (accepted, queued int) {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	require.NoError(t, err)
	local := fmt.Sprintf("0100007F:%04X", port) // 127.0.0.1, as the kernel prints it
	seen := map[string]bool{}                   // the table is read in chunks and may repeat a line
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[1] != local || !clients[f[2]] || f[3] != "01" || seen[f[2]] { // 01: ESTABLISHED
			continue
		}
		seen[f[2]] = true
		if f[9] == "0" {
			queued++
		} else {
			accepted++
		}
	}
	return accepted, queued
}
