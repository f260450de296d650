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

// silentCut is how long, once the connection cap is reached, a connection
// may stay silent (accepted, no request yet) before the sidecar closes it
// to make room: a real client sends its request as soon as it connects.
const silentCut = time.Second

// limitListener wraps l in the connection cap, with the sidecar's
// remedies at the cap: idle keep-alive connections closed and keep-alive
// off until half the slots are free, and connections silent for
// silentCut closed, checked every quarter of it while the cap holds, so
// that a queued client waits for requests to be served, not for timeouts.
func (s *Sidecar) limitListener(srv *http.Server, l net.Listener) *limitListener {
	ll := newLimitListener(l, s.o.maxConns)
	tr := &connTracker{silent: make(map[net.Conn]time.Time)}
	srv.ConnState = tr.state
	cut := min(silentCut, s.o.readTimeout)
	ll.sweepEvery = cut / 4
	var warned time.Time // the hooks run on the accept loop only
	ll.onFull = func() {
		srv.SetKeepAlivesEnabled(false) // closes the idle connections too
		n := tr.closeSilent(time.Now().Add(-cut))
		if now := time.Now(); now.Sub(warned) >= time.Minute {
			warned = now
			s.o.log.Warn("sidecar: connection cap reached; closing idle and silent connections (logged at most once a minute)",
				"max_conns", s.o.maxConns, "silent_closed", n)
		}
	}
	ll.onStalled = func() { tr.closeSilent(time.Now().Add(-cut)) }
	ll.onRelieved = func() { srv.SetKeepAlivesEnabled(true) }
	return ll
}

// connTracker knows the connections that have sent no request yet, from
// the server's ConnState hook.
type connTracker struct {
	mu     sync.Mutex
	silent map[net.Conn]time.Time // accepted at
}

func (t *connTracker) state(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st == http.StateNew {
		t.silent[c] = time.Now()
		return
	}
	delete(t.silent, c)
}

// closeSilent closes the connections silent since before cutoff and
// returns how many.
func (t *connTracker) closeSilent(cutoff time.Time) int {
	t.mu.Lock()
	var victims []net.Conn
	for c, at := range t.silent {
		if at.Before(cutoff) {
			victims = append(victims, c)
			delete(t.silent, c)
		}
	}
	t.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
	return len(victims)
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
// When it has to wait (saturated) it calls onFull, then onStalled every
// sweepEvery while it waits, and onRelieved when it next finds half the
// slots free. Accept is called from one goroutine (the server's loop),
// which alone reads and writes saturated; the hooks may close
// connections, which frees their slots.
type limitListener struct {
	net.Listener
	sem                           chan struct{}
	done                          chan struct{}
	closeOnce                     sync.Once
	onFull, onStalled, onRelieved func()
	sweepEvery                    time.Duration
	saturated                     bool
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
		if l.saturated && len(l.sem) <= cap(l.sem)/2 {
			l.saturated = false
			call(l.onRelieved)
		}
	default:
		if !l.saturated {
			l.saturated = true
			call(l.onFull)
		}
		if err := l.wait(); err != nil {
			return nil, err
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// wait takes a slot, calling onStalled every sweepEvery meanwhile.
func (l *limitListener) wait() error {
	var tick <-chan time.Time
	if l.sweepEvery > 0 && l.onStalled != nil {
		t := time.NewTicker(l.sweepEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case l.sem <- struct{}{}:
			return nil
		case <-l.done:
			return net.ErrClosed
		case <-tick:
			l.onStalled()
		}
	}
}

func call(f func()) {
	if f != nil {
		f()
	}
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

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
