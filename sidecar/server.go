package sidecar

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// server returns the http.Server of Run and Serve: every phase of a
// connection has a deadline, so that neither idle keep-alive connections
// nor clients that send a request byte by byte hold descriptors for long.
func (s *Sidecar) server() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.o.readTimeout,
		ReadTimeout:       s.o.readTimeout,
		WriteTimeout:      s.o.writeTimeout,
		IdleTimeout:       s.o.idleTimeout,
		MaxHeaderBytes:    16 << 10, // a request line and a few headers; the default is 1 MiB
		ErrorLog:          slog.NewLogLogger(s.o.log.Handler(), slog.LevelWarn),
	}
}

// extendDeadlines gives a savepoint or stop request time for its operation:
// the server's write deadline, set when the headers were read, would
// otherwise cut the answer of an operation that runs for minutes. It is a
// no-op on a ResponseWriter without deadlines (a test recorder, some
// application servers).
func (s *Sidecar) extendDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	until := time.Now().Add(s.o.opTimeout + s.o.writeTimeout)
	_ = rc.SetReadDeadline(until)
	_ = rc.SetWriteDeadline(until)
}

// limitListener accepts at most n connections at once: Accept waits for
// one of them to close before taking the next from the kernel's queue.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// open returns the number of connections accepted and not yet closed.
func (l *limitListener) open() int { return len(l.sem) }

// limitConn frees its listener slot on its first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
