package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
)

// Defaults of the sidecar options.
const (
	// DefaultAddr is where Run listens: loopback only, so that a sidecar
	// without a token is reachable from its own host (or Kubernetes pod:
	// probes, preStop hooks) and nowhere else. 9102 sits next to the WDQS
	// consumer's jmx_exporter port (9101).
	DefaultAddr = "127.0.0.1:9102"
	// DefaultMaxReadyLag is the total lag, in records, above which /readyz
	// fails: about ten minutes of Wikidata's edit rate (25 edits/s).
	DefaultMaxReadyLag = 15000
	// DefaultOperationTimeout bounds a savepoint or stop requested over HTTP
	// or by a signal. Keep Kubernetes' terminationGracePeriodSeconds above it.
	DefaultOperationTimeout = 5 * time.Minute
	// DefaultSavepointTemplate names savepoints taken without a name: the
	// job name and the UTC time, e.g. "wdqs-updater-20260125T143000Z".
	DefaultSavepointTemplate = "{job}-{time}"
	// DefaultSampleInterval is how often Run samples the job's lag for the
	// status page's chart.
	DefaultSampleInterval = 10 * time.Second
	// DefaultReadTimeout bounds reading one request, headers and body: the
	// sidecar's requests are a line and a few headers, so a client that
	// takes longer is stuck or hostile (slowloris), and its connection is
	// closed.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds handling and answering a read-only request
	// (a /status that lists savepoints in Swift included). A savepoint or
	// stop extends its own deadline to the operation timeout plus this.
	DefaultWriteTimeout = time.Minute
	// DefaultIdleTimeout closes a keep-alive connection idle for that long:
	// a Prometheus scraper reconnects at no cost, and idle connections
	// cannot pile up.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxConns caps the connections the sidecar serves at once;
	// further ones wait in the kernel's accept queue until one closes. With
	// the timeouts above this bounds the descriptors and memory (about 20
	// KiB per connection) a flood of clients can take from the job.
	DefaultMaxConns = 64
)

var (
	// ErrInsecureAddr is returned by New, Run and Serve for a non-loopback
	// address without a bearer token: the mutating endpoints would let
	// anyone who can reach the port stop or rewind the job.
	ErrInsecureAddr = errors.New("sidecar: refusing to serve on a non-loopback address without a bearer token")
	// ErrInvalidOption is matched by the errors New, NewObserver and
	// NewLatencySLO return for option values that can never work.
	ErrInvalidOption = errors.New("sidecar: invalid option")
	// ErrClosed is returned by Run and Serve after Close.
	ErrClosed = errors.New("sidecar: closed")
)

// Controller is what the sidecar needs of a job: *streamkit.Job implements
// it. It is an interface so that tests can use a fake and applications can
// wrap a job (to log operator actions, or to fan a savepoint out to several
// jobs of one process).
type Controller interface {
	Name() string
	Group() string
	Stats() streamkit.Stats
	Pause()
	Resume()
	Savepoint(ctx context.Context, name string) (*streamkit.SavepointResult, error)
	StopWithSavepoint(ctx context.Context, name string) (*streamkit.SavepointResult, error)
	Stop(ctx context.Context) error
}

var _ Controller = (*streamkit.Job)(nil)

// Option configures a Sidecar.
type Option func(*options)

type options struct {
	addr          string
	token         string
	observer      *Observer
	savepoints    SavepointLister
	maxLag        int64
	idleReady     time.Duration
	opTimeout     time.Duration
	template      string
	savepointTerm bool
	registry      *prometheus.Registry
	registerer    prometheus.Registerer
	gatherer      prometheus.Gatherer
	log           *slog.Logger
	readTimeout   time.Duration
	writeTimeout  time.Duration
	idleTimeout   time.Duration
	maxConns      int
}

// WithAddr sets the address Run listens on (default DefaultAddr). A
// non-loopback address (including ":port" and "0.0.0.0:port") needs
// WithToken.
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithToken sets the bearer token the mutating endpoints (POST /savepoint,
// /stop, /pause, /resume) require in "Authorization: Bearer <token>".
// Without a token the sidecar only listens on loopback, and they only
// accept requests from loopback clients that carry no Origin or
// Sec-Fetch-Site header, name loopback in their Host header and send no
// form body: curl's, not a browser's (see the package documentation).
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithObserver sets the Observer that the job's hooks feed (see
// Observer.JobOptions); without one the sidecar has no checkpoint durations,
// dead-letter stages or edit latencies, only what Controller.Stats reports.
func WithObserver(obs *Observer) Option { return func(o *options) { o.observer = obs } }

// WithSavepoints lists the job's savepoints in /status and on the status
// page (see StoreSavepoints for a checkpoint.Store). If l is also a
// StateSizer, /status and /metrics report the state size too.
func WithSavepoints(l SavepointLister) Option { return func(o *options) { o.savepoints = l } }

// WithMaxReadyLag sets the total lag, in records over all owned partitions,
// above which /readyz fails (default DefaultMaxReadyLag). A paused job is
// exempt: its lag grows by the operator's choice.
func WithMaxReadyLag(records int64) Option { return func(o *options) { o.maxLag = records } }

// WithIdleReady makes an instance that has owned no task for at least d
// report ready, as a standby. Use it when a job runs more instances than it
// has tasks (a Kubernetes Deployment with spare replicas): otherwise a
// rolling update waits forever for a new pod that the consumer group gives
// nothing to do. The sidecar cannot tell such a standby from an instance
// that cannot reach Kafka, so keep lag alerting on the instances that own
// tasks. Default: an instance without tasks is never ready.
func WithIdleReady(d time.Duration) Option { return func(o *options) { o.idleReady = d } }

// WithOperationTimeout bounds each savepoint, stop, and signal-triggered
// stop (default DefaultOperationTimeout). The operation is not tied to
// the HTTP request: a client that hangs up does not abort a stop half-way.
func WithOperationTimeout(d time.Duration) Option { return func(o *options) { o.opTimeout = d } }

// WithSavepointTemplate sets how savepoints requested without a name are
// named (default DefaultSavepointTemplate): "{job}" becomes the job name
// and "{time}" the UTC time as 20060102T150405Z. The result must be a valid
// savepoint name: 1-128 characters of [A-Za-z0-9._-], not "." or "..", not
// starting with ".tmp-".
func WithSavepointTemplate(tmpl string) Option { return func(o *options) { o.template = tmpl } }

// WithSavepointOnSignal makes StopOnSignal stop the job with a savepoint
// (named by the template) instead of a plain Stop: the Kubernetes
// termination path then leaves a savepoint to roll back to.
func WithSavepointOnSignal() Option { return func(o *options) { o.savepointTerm = true } }

// WithRegistry serves /metrics from reg and registers the sidecar's
// collectors in it, for an application that adds metrics of its own.
// By default the sidecar has a registry of its own (with the Go runtime and
// process collectors), so that two sidecars in one process or a library
// that uses the global registry never collide.
func WithRegistry(reg *prometheus.Registry) Option {
	return func(o *options) { o.registry = reg }
}

// WithDefaultRegistry registers the sidecar's collectors in Prometheus'
// global registry and serves that: for programs whose other libraries
// report there. Only one sidecar per process can do so.
func WithDefaultRegistry() Option {
	return func(o *options) { o.registerer, o.gatherer = prometheus.DefaultRegisterer, prometheus.DefaultGatherer }
}

// WithLogger sets the logger of operator actions and server errors
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithReadTimeout sets how long Run and Serve wait for a whole request,
// headers and body, from the moment its connection has one to send (default
// DefaultReadTimeout).
func WithReadTimeout(d time.Duration) Option { return func(o *options) { o.readTimeout = d } }

// WithWriteTimeout bounds handling and answering a request from the end of
// its headers (default DefaultWriteTimeout). POST /savepoint and POST /stop
// extend it by their operation timeout (WithOperationTimeout).
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.writeTimeout = d } }

// WithIdleTimeout sets how long a keep-alive connection may wait for its
// next request before Run and Serve close it (default DefaultIdleTimeout).
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// WithMaxConns caps the connections Run and Serve handle at once (default
// DefaultMaxConns). Further connections are not accepted until one closes:
// they wait in the kernel's accept queue, so a flood of clients costs the
// job no file descriptors beyond the cap. At the cap, idle keep-alive
// connections are closed, keep-alive is off until half the slots are
// free, and connections that have sent no request for a second are closed. Keep it above the number of clients that poll at once (probes,
// scrapers, an operator).
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// Sidecar is the HTTP control plane of one job: health and readiness
// probes, Prometheus metrics, a JSON status, a status page, and the operator
// actions savepoint, stop, pause and resume. Create it with New, serve it
// with Run (or mount Handler in a server of your own), and end it with
// Close or by cancelling Run's context.
type Sidecar struct {
	job     Controller
	o       options
	obs     *Observer
	gather  prometheus.Gatherer
	handler http.Handler
	history *lagHistory
	started time.Time
	now     func() time.Time // the clock; tests replace it

	sampleEvery time.Duration

	mu        sync.Mutex
	closed    bool
	closeCh   chan struct{}
	idleSince time.Time // when the instance was last seen owning no task; zero while it owns some

	spMu    sync.Mutex
	spCache []Savepoint
	spErr   error
	spAt    time.Time
	sizes   map[int]sizeEntry // task → state size of its last checkpoint seen
}

type sizeEntry struct {
	id   uint64
	size StateSize
}

// New returns a Sidecar for job. It validates the options, including the
// rule that a non-loopback address needs a token, and registers its
// metrics; it does no I/O (Run listens).
func New(job Controller, opts ...Option) (*Sidecar, error) {
	if job == nil {
		return nil, fmt.Errorf("%w: nil job", ErrInvalidOption)
	}
	o := options{addr: DefaultAddr, maxLag: DefaultMaxReadyLag, opTimeout: DefaultOperationTimeout,
		template: DefaultSavepointTemplate, log: slog.Default(),
		readTimeout: DefaultReadTimeout, writeTimeout: DefaultWriteTimeout, idleTimeout: DefaultIdleTimeout,
		maxConns: DefaultMaxConns}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.maxLag < 0:
		return nil, fmt.Errorf("%w: max ready lag %d is negative", ErrInvalidOption, o.maxLag)
	case o.idleReady < 0:
		return nil, fmt.Errorf("%w: idle-ready delay %v is negative", ErrInvalidOption, o.idleReady)
	case o.opTimeout <= 0:
		return nil, fmt.Errorf("%w: operation timeout %v must be positive", ErrInvalidOption, o.opTimeout)
	case o.readTimeout <= 0, o.writeTimeout <= 0, o.idleTimeout <= 0:
		return nil, fmt.Errorf("%w: read, write and idle timeouts must be positive (got %v, %v, %v)",
			ErrInvalidOption, o.readTimeout, o.writeTimeout, o.idleTimeout)
	case o.maxConns <= 0:
		return nil, fmt.Errorf("%w: connection cap %d must be positive", ErrInvalidOption, o.maxConns)
	case o.log == nil:
		return nil, fmt.Errorf("%w: nil logger", ErrInvalidOption)
	case strings.ContainsAny(o.token, " \t\r\n"):
		return nil, fmt.Errorf("%w: the bearer token contains white space", ErrInvalidOption)
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return nil, fmt.Errorf("%w: address %q: %v", ErrInvalidOption, o.addr, err)
	}
	if o.token == "" && !isLoopbackHost(o.addr) {
		return nil, fmt.Errorf("%w: %q (use WithToken, or a 127.0.0.1 / [::1] / localhost address)", ErrInsecureAddr, o.addr)
	}
	if name := expandTemplate(o.template, job.Name(), time.Unix(0, 0)); validateSavepointName(name) != nil {
		return nil, fmt.Errorf("%w: savepoint template %q gives %q, not a valid savepoint name (%s)",
			ErrInvalidOption, o.template, name, savepointNameRule)
	}
	s := &Sidecar{job: job, o: o, obs: o.observer, history: newLagHistory(60),
		now: time.Now, sampleEvery: DefaultSampleInterval, closeCh: make(chan struct{})}
	if s.obs == nil {
		obs, err := NewObserver()
		if err != nil {
			return nil, err
		}
		s.obs = obs
	}
	s.started = s.now()
	reg, gather := o.registerer, o.gatherer
	switch {
	case o.registry != nil:
		reg, gather = o.registry, o.registry
	case reg == nil:
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gather = r, r
	}
	if err := reg.Register(newStatsCollector(s)); err != nil {
		return nil, fmt.Errorf("sidecar: registering metrics: %w", err)
	}
	s.gather = gather
	s.handler = s.routes()
	return s, nil
}

// isLoopbackHost reports whether the host of addr is a loopback IP or
// "localhost". Other host names are not resolved (New does no I/O) and
// count as non-loopback.
func isLoopbackHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Observer returns the sidecar's Observer (the one given with WithObserver,
// or its own).
func (s *Sidecar) Observer() *Observer { return s.obs }

// Handler returns the sidecar's HTTP handler, for mounting in a server of
// the application's own. The token rules still hold per request: without
// a token, mutating requests from non-loopback clients or browsers are
// refused. The connection limits of Run and Serve do not: that server
// must set its own timeouts. Lag history for the status page is only
// sampled while Run or Serve runs.
func (s *Sidecar) Handler() http.Handler { return s.handler }

// Run listens on the configured address and serves until ctx is done or
// Close is called; it then shuts the server down gracefully (in-flight
// requests get up to five seconds) and returns nil. It fails if the address
// cannot be bound.
func (s *Sidecar) Run(ctx context.Context) error {
	if s.isClosed() {
		return ErrClosed
	}
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.o.addr)
	if err != nil {
		return fmt.Errorf("sidecar: listening on %s: %w", s.o.addr, err)
	}
	return s.Serve(ctx, l)
}

// Serve is Run on a listener of the caller's (which it closes). It checks
// the bound address: a non-loopback listener needs a token. Run and Serve
// apply the read, write and idle timeouts and the connection cap
// (WithReadTimeout, WithWriteTimeout, WithIdleTimeout, WithMaxConns); a
// server of the application's own that mounts Handler must set its own.
func (s *Sidecar) Serve(ctx context.Context, l net.Listener) error {
	if s.o.token == "" {
		if ta, ok := l.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			l.Close()
			return fmt.Errorf("%w: listener on %s", ErrInsecureAddr, l.Addr())
		}
	}
	srv := s.server()
	if s.isClosed() {
		l.Close()
		return ErrClosed
	}

	errc := make(chan error, 1)
	ll := s.limitListener(srv, l)
	go func() { errc <- srv.Serve(ll) }()
	s.o.log.Info("sidecar: serving", "addr", l.Addr().String(), "job", s.job.Name())

	tick := time.NewTicker(s.sampleEvery)
	defer tick.Stop()
	s.sample()
	for {
		select {
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("sidecar: serving: %w", err)
		case <-tick.C:
			s.sample()
		case <-ctx.Done():
			return s.shutdown(srv, errc)
		case <-s.closeCh:
			return s.shutdown(srv, errc)
		}
	}
}

func (s *Sidecar) shutdown(srv *http.Server, errc chan error) error {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sidecar: serving: %w", err)
	}
	return nil
}

// Close stops every Run and Serve of the sidecar (they return nil) and
// makes later ones fail with ErrClosed. It does not stop the job.
func (s *Sidecar) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closeCh)
	}
	return nil
}

func (s *Sidecar) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// sample records the job's current lag in the per-minute history.
func (s *Sidecar) sample() {
	st := s.job.Stats()
	var total int64
	for _, l := range st.Lag {
		total += l
	}
	s.history.add(s.now(), total)
}

// expandTemplate fills a savepoint name template.
func expandTemplate(tmpl, job string, t time.Time) string {
	return strings.NewReplacer("{job}", job, "{time}", t.UTC().Format("20060102T150405Z")).Replace(tmpl)
}

// SavepointName returns the name the sidecar gives a savepoint taken at t
// without an explicit name (see WithSavepointTemplate).
func (s *Sidecar) SavepointName(t time.Time) string {
	return expandTemplate(s.o.template, s.job.Name(), t)
}
