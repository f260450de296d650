package kafkatest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is an in-process Kafka cluster (franz-go's kfake) listening on
// 127.0.0.1, plus the helpers a test needs around it: creating topics,
// producing, reading a topic back the way a read_committed consumer sees it,
// reading consumer-group offsets, waiting for conditions, and injecting
// faults.
//
// The helpers use their own internal client (franz-go), separate from the
// client under test, so that what they report does not depend on the code
// being tested. A Cluster is safe for concurrent use.
type Cluster struct {
	cfg   config
	kf    *kfake.Cluster // nil on a real cluster
	proxy *nsProxy       // nil on kfake
	addrs []string
	conns *connTracker
	cl    *kgo.Client

	rr     atomic.Uint32 // round robin for keyless ProduceKeyed records
	closed atomic.Bool
	once   sync.Once
}

// NewCluster starts a cluster for the test and closes it with t.Cleanup. It
// fails the test at once (t.Fatal) if the cluster cannot start, so it must be
// called from the test's goroutine.
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c, err := Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Start starts a cluster outside of a test, for programs (a quickstart, a
// demo) that embed a broker. The caller must call Close. The brokers listen
// on 127.0.0.1 only: on the ports given with Ports, or on ports chosen by
// the kernel (see Addrs). When BrokersEnv is set (and neither KfakeOnly nor
// KfakeOptions is given), the cluster is instead a namespace of its own on
// the real Kafka cluster it names, behind a proxy listening on 127.0.0.1.
func Start(opts ...Option) (*Cluster, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}

	if brokers := os.Getenv(BrokersEnv); brokers != "" && cfg.kfakeOnly == "" && len(cfg.kfakeOpts) == 0 {
		return startReal(cfg, strings.Split(brokers, ","))
	}

	tracker := newConnTracker()
	kopts := []kfake.Opt{
		kfake.NumBrokers(cfg.brokers),
		kfake.DefaultNumPartitions(cfg.partitions),
		kfake.ClusterID(cfg.clusterID),
	}
	for _, s := range cfg.seeds {
		kopts = append(kopts, kfake.SeedTopics(s.partitions, s.topics...))
	}
	if cfg.autoCreate {
		kopts = append(kopts, kfake.AllowAutoTopicCreation())
	}
	if len(cfg.brokerConfigs) > 0 {
		kopts = append(kopts, kfake.BrokerConfigs(cfg.brokerConfigs))
	}
	kopts = append(kopts, cfg.kfakeOpts...)
	// Ours come last: connection tracking and fixed ports must not be
	// overridden by a pass-through option.
	kopts = append(kopts, kfake.ListenFn(tracker.listen))
	if len(cfg.ports) > 0 {
		kopts = append(kopts, kfake.Ports(cfg.ports...))
	}

	kf, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: start kfake: %w", err)
	}
	c := &Cluster{cfg: cfg, kf: kf, addrs: kf.ListenAddrs(), conns: tracker}
	if err := c.newClient(); err != nil {
		kf.Close()
		return nil, err
	}
	return c, nil
}

// newClient creates the harness's own client. kgo.NewClient does no I/O:
// connections are opened on first use.
func (c *Cluster) newClient() error {
	var err error
	c.cl, err = kgo.NewClient(
		kgo.SeedBrokers(c.addrs...),
		kgo.ClientID("kafkatest-harness"),
		kgo.Dialer(c.conns.dialOwn),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(10*time.Millisecond),
		// Tests produce and read records as large as the broker allows
		// (poison records of 100 MiB): the broker's limits apply, not the
		// client's defaults.
		kgo.ProducerBatchMaxBytes(harnessMaxBytes),
		kgo.BrokerMaxWriteBytes(harnessMaxBytes+(1<<20)),
		kgo.BrokerMaxReadBytes(harnessMaxBytes+(1<<20)),
		kgo.FetchMaxBytes(harnessMaxBytes),
		kgo.FetchMaxPartitionBytes(harnessMaxBytes),
	)
	if err != nil {
		return fmt.Errorf("kafkatest: harness client: %w", err)
	}
	return nil
}

// Close stops the harness client and every broker, closing all client
// connections. It is idempotent; helpers called afterwards return ErrClosed.
func (c *Cluster) Close() {
	c.once.Do(func() {
		if c.proxy != nil {
			c.deleteNamespace()
		}
		c.closed.Store(true)
		c.cl.Close()
		if c.kf != nil {
			c.kf.Close()
		}
		if c.proxy != nil {
			c.proxy.close()
		}
	})
}

// Addrs returns the brokers' host:port addresses, indexed by node ID, as a
// new slice. Hand them to sarama.NewClient and friends.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Kfake returns the underlying kfake cluster, for what this package does not
// wrap (moving partition leaders, group introspection, custom controls).
// Note that kfake's controls and faults also see the harness's own requests.
// It is nil on a real cluster (see Real): a test that needs it starts its
// cluster with KfakeOnly.
func (c *Cluster) Kfake() *kfake.Cluster { return c.kf }

// Real reports whether the cluster is a namespace on a real Kafka cluster
// (BrokersEnv was set) rather than an in-process kfake cluster.
func (c *Cluster) Real() bool { return c.proxy != nil }

// check returns ErrClosed once the cluster is closed.
func (c *Cluster) check() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return nil
}

// withDefaultTimeout bounds ctx by the cluster's wait timeout when ctx has
// no deadline, so that no helper can hang a test forever.
func (c *Cluster) withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.cfg.waitTimeout)
}

////////////////////////////////////////////////////////////////////////
// connection tracking (for DropConnections)

// connTracker wraps the brokers' listeners to know every accepted client
// connection and the broker it belongs to, and records the local addresses of
// the harness's own connections so that dropping connections does not cut
// the harness off in the middle of a helper.
type connTracker struct {
	mu       sync.Mutex
	nextNode int32
	conns    map[*trackedConn]struct{}
	own      map[string]struct{}
}

func newConnTracker() *connTracker {
	return &connTracker{conns: make(map[*trackedConn]struct{}), own: make(map[string]struct{})}
}

// listen is kfake's ListenFn. kfake creates brokers' listeners in node order
// (0, 1, …), so the call order names the node.
func (t *connTracker) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	node := t.nextNode
	t.nextNode++
	t.mu.Unlock()
	return &trackingListener{Listener: ln, node: node, t: t}, nil
}

// dialOwn is the harness client's dialer.
func (t *connTracker) dialOwn(ctx context.Context, network, host string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	local := conn.LocalAddr().String()
	t.mu.Lock()
	t.own[local] = struct{}{}
	t.mu.Unlock()
	return &ownConn{Conn: conn, local: local, t: t}, nil
}

// drop closes the accepted connections of node (all nodes if node < 0) that
// are not the harness's own, and returns how many it closed.
func (t *connTracker) drop(node int32) int {
	t.mu.Lock()
	var victims []*trackedConn
	for tc := range t.conns {
		if node >= 0 && tc.node != node {
			continue
		}
		if _, own := t.own[tc.remote]; own {
			continue
		}
		victims = append(victims, tc)
	}
	t.mu.Unlock()
	for _, tc := range victims {
		_ = tc.Close()
	}
	return len(victims)
}

// count returns the number of open client connections (harness excluded).
func (t *connTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for tc := range t.conns {
		if _, own := t.own[tc.remote]; !own {
			n++
		}
	}
	return n
}

type trackingListener struct {
	net.Listener
	node int32
	t    *connTracker
}

func (l *trackingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, node: l.node, remote: conn.RemoteAddr().String(), t: l.t}
	l.t.mu.Lock()
	l.t.conns[tc] = struct{}{}
	l.t.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	node   int32
	remote string
	t      *connTracker
	once   sync.Once
	err    error
}

func (tc *trackedConn) Close() error {
	tc.once.Do(func() {
		tc.t.mu.Lock()
		delete(tc.t.conns, tc)
		tc.t.mu.Unlock()
		tc.err = tc.Conn.Close()
	})
	return tc.err
}

type ownConn struct {
	net.Conn
	local string
	t     *connTracker
	once  sync.Once
	err   error
}

func (oc *ownConn) Close() error {
	oc.once.Do(func() {
		oc.err = oc.Conn.Close()
		// Forget the address only after the server side is gone, so that a
		// drop racing with this close still skips it; a reused ephemeral
		// port will be registered again by its own dial.
		oc.t.mu.Lock()
		delete(oc.t.own, oc.local)
		oc.t.mu.Unlock()
	})
	return oc.err
}

// harnessMaxBytes is the largest batch the harness client produces or
// fetches.
const harnessMaxBytes = 512 << 20
