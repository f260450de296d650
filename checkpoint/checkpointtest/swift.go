package checkpointtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncw/swift/v2"
	"github.com/ncw/swift/v2/swifttest"
	"github.com/stretchr/testify/require"
)

// Environment variables that point tests at a real Swift. Tests that need
// one skip when EnvSwiftAuthURL is unset.
const (
	// EnvSwiftAuthURL is the v1 auth URL, e.g.
	// http://127.0.0.1:8080/auth/v1.0 for scripts/swift-saio.sh.
	EnvSwiftAuthURL = "STREAMKIT_SWIFT_AUTH_URL"
	// EnvSwiftUser is the tempauth user (default "test:tester").
	EnvSwiftUser = "STREAMKIT_SWIFT_USER"
	// EnvSwiftKey is the user's key (default "testing").
	EnvSwiftKey = "STREAMKIT_SWIFT_KEY"
	// EnvSwiftSAIO is the path of scripts/swift-saio.sh, for tests that stop
	// and restart the proxy. When unset, SAIOFromEnv looks for the script
	// in the parent directories of the working directory.
	EnvSwiftSAIO = "STREAMKIT_SWIFT_SAIO"
)

// NewSwifttestConnection starts an in-process swifttest server (the fake
// Swift from ncw/swift/v2) for the duration of the test and returns a
// connection to it. Remember that swifttest ignores If-None-Match (see
// WithoutAtomicNoOverwrite).
func NewSwifttestConnection(t testing.TB) *swift.Connection {
	t.Helper()
	conn, stop, err := StartSwift()
	require.NoError(t, err, "start swifttest")
	t.Cleanup(stop)
	return conn
}

// StartSwift starts an in-process swifttest server on the loopback
// interface, for examples and programs that have no testing.TB, and returns
// a connection to it and the function that stops it. Remember that
// swifttest ignores If-None-Match (see WithoutAtomicNoOverwrite).
func StartSwift() (conn *swift.Connection, stop func(), err error) {
	srv, err := swifttest.NewSwiftServer("127.0.0.1")
	if err != nil {
		return nil, nil, fmt.Errorf("checkpointtest: start swifttest: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	conn = &swift.Connection{
		UserName:    swifttest.TEST_ACCOUNT,
		ApiKey:      swifttest.TEST_ACCOUNT,
		AuthUrl:     srv.AuthURL,
		AuthVersion: 1,
		Timeout:     30 * time.Second,
		Transport:   &serialTransport{next: transport},
	}
	return conn, func() { transport.CloseIdleConnections(); srv.Close() }, nil
}

// serialTransport sends one request at a time. swifttest's handlers read
// and write its container maps without locks (a large-object GET races with
// a PUT of a segment), which the race detector rightly reports; serialising
// requests until their response headers arrive avoids that. Response bodies
// are streamed outside the lock, so a test may read one object while it
// writes another.
type serialTransport struct {
	mu   sync.Mutex
	next http.RoundTripper
}

func (s *serialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next.RoundTrip(req)
}

// RealSwiftConnection returns a connection to the Swift named by the
// STREAMKIT_SWIFT_* environment variables, or skips the test when
// STREAMKIT_SWIFT_AUTH_URL is unset. Each call returns a new Connection.
func RealSwiftConnection(t testing.TB) *swift.Connection {
	t.Helper()
	authURL := os.Getenv(EnvSwiftAuthURL)
	if authURL == "" {
		t.Skip(EnvSwiftAuthURL + " not set; start a Swift with scripts/swift-saio.sh and export the variables it prints with `env`")
	}
	user, key := os.Getenv(EnvSwiftUser), os.Getenv(EnvSwiftKey)
	if user == "" {
		user = "test:tester"
	}
	if key == "" {
		key = "testing"
	}
	return &swift.Connection{
		UserName:    user,
		ApiKey:      key,
		AuthUrl:     authURL,
		AuthVersion: 1,
		Timeout:     60 * time.Second,
	}
}

// TempContainer returns a fresh container name for the test and removes
// that container and its "_segments" companion, with everything in them,
// when the test ends. The containers are not created: Swift stores do that
// on first use.
func TempContainer(t testing.TB, conn *swift.Connection) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "streamkit-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, c := range []string{name, name + "_segments"} {
			if err := emptyAndDeleteContainer(ctx, conn, c); err != nil {
				t.Logf("cleanup of container %s: %v", c, err)
			}
		}
	})
	return name
}

func emptyAndDeleteContainer(ctx context.Context, conn *swift.Connection, c string) error {
	names, err := conn.ObjectNamesAll(ctx, c, nil)
	if errors.Is(err, swift.ContainerNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := conn.ObjectDelete(ctx, c, n); err != nil && !errors.Is(err, swift.ObjectNotFound) {
			return err
		}
	}
	err = conn.ContainerDelete(ctx, c)
	if errors.Is(err, swift.ContainerNotFound) {
		return nil
	}
	return err
}

// ObjectNames lists every object in a Swift container (nil if it does not
// exist), failing the test on other errors. Tests use it to check that
// large-object segments are gone.
func ObjectNames(t testing.TB, conn *swift.Connection, container string) []string {
	t.Helper()
	names, err := conn.ObjectNamesAll(context.Background(), container, nil)
	if errors.Is(err, swift.ContainerNotFound) {
		return nil
	}
	require.NoError(t, err, "list container %s", container)
	return names
}

// SAIO controls the loopback Swift-All-In-One of scripts/swift-saio.sh, for
// fault injection against a real Swift: stop the proxy in the middle of a
// write (see Fault.Hook) and start it again.
type SAIO struct {
	script string
}

// SAIOFromEnv returns the SAIO of the current environment, or skips the
// test when STREAMKIT_SWIFT_AUTH_URL is unset or the script cannot be found.
// It registers a cleanup that restarts the proxy, so a failing test does not
// leave Swift down for the next one.
func SAIOFromEnv(t testing.TB) *SAIO {
	t.Helper()
	if os.Getenv(EnvSwiftAuthURL) == "" {
		t.Skip(EnvSwiftAuthURL + " not set")
	}
	script := os.Getenv(EnvSwiftSAIO)
	if script == "" {
		script = findScript()
	}
	if script == "" {
		t.Skip("scripts/swift-saio.sh not found; set " + EnvSwiftSAIO)
	}
	s := &SAIO{script: script}
	t.Cleanup(func() {
		if out, err := exec.Command(s.script, "start-proxy").CombinedOutput(); err != nil {
			t.Errorf("restarting the swift proxy after the test: %v\n%s", err, out)
		}
	})
	return s
}

func findScript() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "scripts", "swift-saio.sh")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func (s *SAIO) run(t testing.TB, cmd string) {
	t.Helper()
	if !s.try(t, cmd) {
		t.FailNow()
	}
}

// try runs the script without stopping the test on failure, so it may be
// called from any goroutine.
func (s *SAIO) try(t testing.TB, cmd string) bool {
	t.Helper()
	out, err := exec.Command(s.script, cmd).CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", s.script, cmd, err, out)
		return false
	}
	t.Logf("%s %s: %s", filepath.Base(s.script), cmd, strings.TrimSpace(string(out)))
	return true
}

// StopProxy stops the Swift proxy and returns once its port is closed:
// requests in flight fail and new ones are refused. The object, container
// and account servers keep running, so no committed data is touched.
func (s *SAIO) StopProxy(t testing.TB) { t.Helper(); s.run(t, "stop-proxy") }

// StartProxy starts the proxy again and returns once authentication
// answers 200.
func (s *SAIO) StartProxy(t testing.TB) { t.Helper(); s.run(t, "start-proxy") }

// StopProxyFault returns a Fault for a FaultStore that stops the proxy once
// afterBytes bytes of a matching object (nil match: any object) have been
// written (the hook runs in the goroutine calling Write, and reports a
// failing script with t.Errorf, so any goroutine may write), and then lets
// the write carry on against the dead proxy, so the
// real store fails the way it would in production. The proxy comes back
// with StartProxy, or at the end of the test. Typical use, to show that the
// previous checkpoint survives a proxy crash in the middle of the next one:
//
//	saio := checkpointtest.SAIOFromEnv(t)
//	fs := checkpointtest.NewFaultStore(swiftStore)
//	fs.Inject(saio.StopProxyFault(t, nil, 5<<20))
//	err := writeCheckpoint(ctx, fs, 2) // fails
//	saio.StartProxy(t)
//	restore(ctx, swiftStore)           // finds checkpoint 1
func (s *SAIO) StopProxyFault(t testing.TB, match func(name string) bool, afterBytes int64) Fault {
	return Fault{
		Match:       match,
		AfterBytes:  afterBytes,
		Hook:        func() { s.try(t, "stop-proxy") },
		PassThrough: true,
	}
}
