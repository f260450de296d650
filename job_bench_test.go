//go:build unix

package streamkit_test

// Throughput and memory of the Job runner.
//
// The broker runs in a child process: this test binary re-executed with
// benchBrokerChildEnv set, which starts a kafkatest cluster in init and serves
// a line protocol on stdin/stdout (create a topic, produce a deterministic
// backlog, verify an output topic read_committed). Keeping kfake out of the
// measuring process matters: kfake holds every record in memory (about 780 MB
// of RSS for 1M records), and its CPU would be charged to the client. So the
// CPU time (getrusage) and the heap and RSS peaks reported here are those of
// the client side alone: the raw sarama copy, or the job.
//
// Records are 200 bytes of payload: a 20-byte key ("Q" and 19 digits, the
// record's index) and a 180-byte value that is a function of the index, so
// that the verification can check every output record byte for byte and
// find duplicates and losses.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

const (
	benchKeySize    = 20
	benchValueSize  = 180
	benchRecordSize = benchKeySize + benchValueSize
	benchParts      = 3
	// benchPassThroughRecords is the backlog BenchmarkPassThrough copies
	// per op (STREAMKIT_BACKLOG overrides it).
	benchPassThroughRecords = 1_000_000
	// benchBacklogRecords is the backlog of TestBacklogMemoryBounded in
	// CI (STREAMKIT_BACKLOG overrides it; the full-size figure is 1M).
	benchBacklogRecords = 100_000
	// benchMaxValueSize caps the values benchValue cuts from benchPool (a
	// broker command may ask for any size).
	benchMaxValueSize = 64 << 10
	// benchBacklogEnv sets the backlog size of the test and the benchmark.
	benchBacklogEnv = "STREAMKIT_BACKLOG"
	// benchBrokerChildEnv marks the re-executed test binary that serves as
	// the broker process. It is internal to this file.
	benchBrokerChildEnv = "STREAMKIT_BENCH_BROKER_CHILD"
)

var benchQuiet = slog.New(slog.DiscardHandler)

func init() {
	if os.Getenv(benchBrokerChildEnv) == "1" {
		os.Exit(benchBrokerChild(os.Stdin, os.Stdout))
	}
}

func benchKey(i int) []byte { return fmt.Appendf(make([]byte, 0, benchKeySize), "Q%019d", i) }

// benchPool holds the bytes values are cut from: pseudo-random, so that
// they do not compress (a repeated pattern would make sarama's fetch-size
// bound, in compressed bytes, hold many times more records), and made once,
// so that a big backlog costs no generation time (race-instrumented loops
// over every byte are slow).
var benchPool = sync.OnceValue(func() []byte {
	p := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(4, 2))
	for i := 0; i < len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], r.Uint64())
	}
	return p
})

// benchValue is the value of record i: size bytes (at most
// benchMaxValueSize) of benchPool, from an offset that depends on i.
func benchValue(i, size int) []byte {
	pool := benchPool()
	size = min(size, benchMaxValueSize)
	off := (i * 7919) % (len(pool) - size)
	return pool[off : off+size : off+size]
}

// benchBacklogSize is STREAMKIT_BACKLOG if set, else def.
func benchBacklogSize(tb testing.TB, def int) int {
	s := os.Getenv(benchBacklogEnv)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive record count", benchBacklogEnv, s)
	}
	return n
}

// ---- the broker process ----

// benchBrokerChild runs a kafkatest cluster and answers one line per
// command line read from in, until in is closed. It returns the exit code.
func benchBrokerChild(in io.Reader, out io.Writer) int {
	c, err := kafkatest.Start()
	if err != nil {
		fmt.Fprintf(out, "err %v\n", err)
		return 1
	}
	defer c.Close()
	fmt.Fprintf(out, "addrs %s\n", strings.Join(c.Addrs(), ","))
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		reply, err := benchBrokerCommand(c, strings.Fields(sc.Text()))
		if err != nil {
			reply = "err " + strings.ReplaceAll(err.Error(), "\n", " ")
		}
		fmt.Fprintln(out, reply)
	}
	return 0
}

func benchBrokerCommand(c *kafkatest.Cluster, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// create <topic> <partitions> | produce <topic> <n> <value size> |
	// verify <topic> <n> <value size>
	if len(args) < 3 {
		return "", fmt.Errorf("want: <command> <topic> <n> [<value size>], got %q", args)
	}
	nums := make([]int, len(args)-2)
	for i, a := range args[2:] {
		v, err := strconv.Atoi(a)
		if err != nil {
			return "", err
		}
		nums[i] = v
	}
	if args[0] != "create" && len(nums) != 2 {
		return "", fmt.Errorf("%s needs <topic> <n> <value size>, got %q", args[0], args)
	}
	n := nums[0]
	switch topic := args[1]; args[0] {
	case "create":
		return "ok", c.CreateTopic(ctx, topic, n)
	case "produce":
		// Keyed like a sarama producer would, so a key stays on its
		// partition number through every copy.
		batch := make([]kafkatest.Record, 0, 5000)
		for i := range n {
			batch = append(batch, kafkatest.Record{Key: benchKey(i), Value: benchValue(i, nums[1])})
			if len(batch) == cap(batch) || i == n-1 {
				if err := c.ProduceKeyed(ctx, topic, batch...); err != nil {
					return "", err
				}
				batch = batch[:0]
			}
		}
		return "ok", nil
	case "verify":
		return benchVerify(ctx, c, topic, n, nums[1])
	}
	return "", fmt.Errorf("unknown command %q", args[0])
}

// benchVerify checks that topic holds, read_committed, exactly records
// 0..n-1 of the backlog, each once, byte for byte, on the partition its key
// hashes to.
func benchVerify(ctx context.Context, c *kafkatest.Cluster, topic string, n, size int) (string, error) {
	recs, err := c.ReadCommitted(ctx, topic)
	if err != nil {
		return "", err
	}
	seen := make([]bool, n)
	for _, r := range recs {
		i, err := strconv.Atoi(strings.TrimPrefix(string(r.Key), "Q"))
		switch {
		case err != nil || len(r.Key) != benchKeySize || i < 0 || i >= n:
			return "", fmt.Errorf("%s/%d@%d: unexpected key %q", topic, r.Partition, r.Offset, r.Key)
		case seen[i]:
			return "", fmt.Errorf("%s/%d@%d: duplicate of record %d", topic, r.Partition, r.Offset, i)
		case !bytes.Equal(r.Value, benchValue(i, size)):
			return "", fmt.Errorf("%s/%d@%d: value of record %d differs", topic, r.Partition, r.Offset, i)
		case r.Partition != kafkatest.SaramaHashPartition(r.Key, benchParts):
			return "", fmt.Errorf("%s/%d@%d: record %d on the wrong partition", topic, r.Partition, r.Offset, i)
		}
		seen[i] = true
	}
	if len(recs) != n {
		return "", fmt.Errorf("%s: %d records, want %d", topic, len(recs), n)
	}
	return fmt.Sprintf("ok %d", len(recs)), nil
}

// benchBroker is the parent's handle on the broker process.
type benchBroker struct {
	addrs  []string
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	closed chan struct{}
	stderr *benchSyncBuffer
	mu     sync.Mutex
}

// benchSyncBuffer collects the broker process's stderr for failure messages.
type benchSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *benchSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *benchSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startBenchBroker starts the broker process and stops it at cleanup.
func startBenchBroker(tb testing.TB) *benchBroker {
	tb.Helper()
	exe, err := os.Executable()
	require.NoError(tb, err)
	cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), benchBrokerChildEnv+"=1")
	br := &benchBroker{cmd: cmd, lines: make(chan string, 1), closed: make(chan struct{}), stderr: new(benchSyncBuffer)}
	cmd.Stderr = br.stderr
	br.in, err = cmd.StdinPipe()
	require.NoError(tb, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		defer close(br.lines)
		for sc.Scan() {
			select {
			case br.lines <- sc.Text():
			case <-br.closed:
				return
			}
		}
	}()
	tb.Cleanup(func() {
		close(br.closed)
		_ = br.in.Close() // the child closes its cluster and exits on EOF
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	first, err := br.read(time.Minute)
	require.NoError(tb, err, "broker process: %s", br.stderr)
	addrs, ok := strings.CutPrefix(first, "addrs ")
	require.True(tb, ok, "broker process said %q", first)
	br.addrs = strings.Split(addrs, ",")
	return br
}

func (br *benchBroker) read(timeout time.Duration) (string, error) {
	select {
	case l, ok := <-br.lines:
		if !ok {
			return "", errors.New("broker process exited")
		}
		return l, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer from the broker process in %v", timeout)
	}
}

// do sends one command and fails the test unless the answer is "ok…".
func (br *benchBroker) do(tb testing.TB, cmd string, args ...any) string {
	tb.Helper()
	br.mu.Lock()
	defer br.mu.Unlock()
	_, err := fmt.Fprintf(br.in, cmd+"\n", args...)
	require.NoError(tb, err)
	reply, err := br.read(10 * time.Minute)
	require.NoError(tb, err, "broker process: %s", br.stderr)
	require.True(tb, strings.HasPrefix(reply, "ok"), "broker process: %s", reply)
	return reply
}

// benchSaramaConfig is what kafkatest.Cluster.SaramaConfig returns (the
// cluster lives in the other process): read_committed from the oldest
// offset, 25 ms fetch waits, producers waiting for all replicas.
func benchSaramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = kafkatest.DefaultKafkaVersion
	sc.ClientID = "streamkit-bench"
	sc.Net.DialTimeout = 10 * time.Second
	sc.Net.ReadTimeout = 30 * time.Second
	sc.Net.WriteTimeout = 30 * time.Second
	sc.Metadata.Retry.Max = 10
	sc.Metadata.Retry.Backoff = 50 * time.Millisecond
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 50 * time.Millisecond
	sc.Producer.Transaction.Retry.Max = 20
	sc.Producer.Transaction.Retry.Backoff = 50 * time.Millisecond
	sc.Consumer.Return.Errors = true
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.MaxWaitTime = 25 * time.Millisecond
	sc.Consumer.Retry.Backoff = 50 * time.Millisecond
	sc.Consumer.Group.Rebalance.Retry.Backoff = 50 * time.Millisecond
	return sc
}

// benchProducerConfig adds the batching both copies produce with (the
// settings of BenchmarkKafkaTransaction).
func benchProducerConfig() *sarama.Config {
	sc := benchSaramaConfig()
	sc.Producer.Flush.Messages = 1000
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.Flush.MaxMessages = 5000
	sc.ChannelBufferSize = 10000
	return sc
}

// ---- measuring ----

// benchMeter samples the process's memory every 10 ms and its CPU time at
// start and stop.
type benchMeter struct {
	stop  chan struct{}
	done  chan struct{}
	start time.Time
	cpu0  time.Duration
	base  benchMem
	peak  benchMem
}

// benchMem is one memory sample. heap is HeapInuse (live and not yet swept
// objects plus fragmentation), live the heap marked live by the last GC,
// total all memory the Go runtime mapped (≈ MemStats.Sys), rss the
// resident set (0 where /proc is missing).
type benchMem struct {
	heap, live, total, rss uint64
}

var benchMetricNames = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
}

func benchSample(s []metrics.Sample) benchMem {
	metrics.Read(s)
	return benchMem{
		heap:  s[0].Value.Uint64() + s[1].Value.Uint64(),
		live:  s[2].Value.Uint64(),
		total: s[3].Value.Uint64(),
		rss:   benchRSS(),
	}
}

func benchRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

func benchCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startBenchMeter collects garbage and returns memory to the OS first, so
// that one phase's peak does not inherit the previous phase's heap.
func startBenchMeter() *benchMeter {
	runtime.GC()
	debug.FreeOSMemory()
	m := &benchMeter{stop: make(chan struct{}), done: make(chan struct{})}
	s := make([]metrics.Sample, len(benchMetricNames))
	for i, n := range benchMetricNames {
		s[i].Name = n
	}
	m.base = benchSample(s)
	m.peak = m.base
	m.start, m.cpu0 = time.Now(), benchCPU()
	go func() {
		defer close(m.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			cur := benchSample(s)
			m.peak.heap = max(m.peak.heap, cur.heap)
			m.peak.live = max(m.peak.live, cur.live)
			m.peak.total = max(m.peak.total, cur.total)
			m.peak.rss = max(m.peak.rss, cur.rss)
			select {
			case <-t.C:
			case <-m.stop:
				return
			}
		}
	}()
	return m
}

// benchUsage is what one measured phase cost the process.
type benchUsage struct {
	wall, cpu  time.Duration
	base, peak benchMem
}

func (m *benchMeter) finish() benchUsage {
	cpu := benchCPU() - m.cpu0
	wall := time.Since(m.start)
	close(m.stop)
	<-m.done
	return benchUsage{wall: wall, cpu: cpu, base: m.base, peak: m.peak}
}

// benchCopy is the result of copying the backlog once.
type benchCopy struct {
	records int
	// startup is the time from the start to the first record; window the
	// time from the first record to the last one acknowledged (sarama) or
	// committed (job), which records/s is computed over.
	startup, window time.Duration
	use             benchUsage
	checkpoints     int64
}

// benchTotals sums the copies of one kind and reports them.
type benchTotals struct {
	records                 int
	startup, window, cpu    time.Duration
	peakHeap, peakLive, rss uint64
	checkpoints             int64
}

func (t *benchTotals) add(c benchCopy) {
	t.records += c.records
	t.startup += c.startup
	t.window += c.window
	t.cpu += c.use.cpu
	t.peakHeap = max(t.peakHeap, c.use.peak.heap)
	t.peakLive = max(t.peakLive, c.use.peak.live)
	t.rss = max(t.rss, c.use.peak.rss)
	t.checkpoints += c.checkpoints
}

func (t *benchTotals) rate() float64 { return float64(t.records) / t.window.Seconds() }

func (t *benchTotals) perCPU() float64 { return float64(t.records) / t.cpu.Seconds() }

// report reports the copies' rates and memory peaks, each unit prefixed.
func (t *benchTotals) report(b *testing.B, prefix string) {
	const mb = 1 << 20
	b.ReportMetric(t.rate(), prefix+"records/s")
	b.ReportMetric(t.perCPU(), prefix+"records/cpu-s")
	b.ReportMetric(float64(t.peakHeap)/mb, prefix+"peak-heap-MB")
	b.ReportMetric(float64(t.peakLive)/mb, prefix+"peak-live-MB")
	if t.rss > 0 {
		b.ReportMetric(float64(t.rss)/mb, prefix+"peak-rss-MB")
	}
}

// ---- the two copies ----

// benchSaramaCopy copies topic in to out the way a team would without the
// runner: a sarama consumer group (automatic offset commits, sarama's
// default) feeding a batching AsyncProducer, no transactions. It returns
// when every record is acknowledged.
func benchSaramaCopy(ctx context.Context, addrs []string, group, in, out string, n int) (benchCopy, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	meter := startBenchMeter()
	start := time.Now()
	producer, err := sarama.NewAsyncProducer(addrs, benchProducerConfig())
	if err != nil {
		meter.finish()
		return benchCopy{}, err
	}
	defer func() { _ = producer.Close() }()
	consumer, err := sarama.NewConsumerGroup(addrs, group, benchSaramaConfig())
	if err != nil {
		meter.finish()
		return benchCopy{}, err
	}
	defer func() { _ = consumer.Close() }()

	var (
		acked    atomic.Int64
		allAcked = make(chan time.Time, 1)
		failed   = make(chan error, 2)
	)
	go func() {
		for range producer.Successes() {
			if acked.Add(1) == int64(n) {
				allAcked <- time.Now()
			}
		}
	}()
	go func() {
		for err := range producer.Errors() {
			select {
			case failed <- fmt.Errorf("produce: %w", err):
			default:
			}
		}
	}()
	h := &benchCopyHandler{producer: producer, out: out}
	go func() {
		for ctx.Err() == nil {
			if err := consumer.Consume(ctx, []string{in}, h); err != nil && ctx.Err() == nil {
				select {
				case failed <- fmt.Errorf("consume: %w", err):
				default:
				}
				return
			}
		}
	}()
	select {
	case end := <-allAcked:
		use := meter.finish()
		first := time.Unix(0, h.first.Load())
		return benchCopy{records: n, startup: first.Sub(start), window: end.Sub(first), use: use}, nil
	case err := <-failed:
		meter.finish()
		return benchCopy{}, err
	case <-ctx.Done():
		meter.finish()
		return benchCopy{}, fmt.Errorf("sarama copy: %d of %d records acknowledged: %w", acked.Load(), n, ctx.Err())
	}
}

type benchCopyHandler struct {
	producer sarama.AsyncProducer
	out      string
	first    atomic.Int64 // unix nanoseconds of the first record
}

func (h *benchCopyHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *benchCopyHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *benchCopyHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if h.first.Load() == 0 {
				h.first.CompareAndSwap(0, time.Now().UnixNano())
			}
			select {
			case h.producer.Input() <- &sarama.ProducerMessage{Topic: h.out, Key: sarama.ByteEncoder(msg.Key), Value: sarama.ByteEncoder(msg.Value)}:
			case <-sess.Context().Done():
				return nil
			}
			sess.MarkMessage(msg, "")
		case <-sess.Context().Done():
			return nil
		}
	}
}

// benchPassThrough is a stateless processor that copies each record to the
// output topic in the task's transaction.
type benchPassThrough struct {
	out   streamkit.RecordSender
	topic string
	first *atomic.Int64 // unix nanoseconds of the first record, shared by the tasks
	// hold, if set, is called before each record: a paused processor.
	hold func(ctx context.Context) error
}

func (p *benchPassThrough) Tables() []checkpoint.StateTable { return nil }

func (p *benchPassThrough) Process(ctx context.Context, rec *source.Record) error {
	if p.first.Load() == 0 {
		p.first.CompareAndSwap(0, time.Now().UnixNano())
	}
	if p.hold != nil {
		if err := p.hold(ctx); err != nil {
			return err
		}
	}
	return p.out.Send(ctx, streamkit.KafkaRecord{Topic: p.topic, Key: rec.Key, Value: rec.Value})
}

// benchJobCopy runs a pass-through job named name from in to out with
// exactly-once checkpoints every second (with a MemoryStore, so that every
// checkpoint writes its manifest, as a stateful job's would), until
// checkpoints have committed all n records; then it stops the job (outside
// the measurement).
func benchJobCopy(ctx context.Context, addrs []string, name, in, out string, n int) (benchCopy, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		first     atomic.Int64
		committed atomic.Int64
		failures  atomic.Int64
		allDone   = make(chan time.Time, 1)
	)
	input := streamkit.Input{Brokers: addrs, Topics: []string{in},
		Options: []source.Option{source.WithBaseConfig(benchSaramaConfig()), source.WithLogger(benchQuiet)}}
	outCfg := streamkit.KafkaOutputConfig{Brokers: addrs, Sarama: benchProducerConfig(),
		Options: []streamkit.KafkaOption{streamkit.WithKafkaLogger(benchQuiet)}}
	meter := startBenchMeter()
	start := time.Now()
	job, err := streamkit.NewJob(name, input, streamkit.KafkaOutputs(outCfg),
		func(info streamkit.TaskInfo, o streamkit.RecordSender) (streamkit.Processor, error) {
			return &benchPassThrough{out: o, topic: out, first: &first}, nil
		},
		streamkit.WithCheckpointInterval(time.Second),
		streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()),
		streamkit.WithLogger(benchQuiet),
		streamkit.WithOnCheckpoint(func(ev streamkit.CheckpointEvent) {
			// Called from the tasks' checkpoint goroutines, concurrently.
			if ev.Err != nil {
				failures.Add(1)
				return
			}
			if now := committed.Add(ev.Records); now >= int64(n) && now-ev.Records < int64(n) {
				allDone <- time.Now() // exactly one event crosses n
			}
		}))
	if err != nil {
		meter.finish()
		return benchCopy{}, err
	}
	ran := make(chan error, 1)
	go func() { ran <- job.Run(ctx) }()
	select {
	case end := <-allDone:
		use := meter.finish()
		stopCtx, stopCancel := context.WithTimeout(ctx, time.Minute)
		defer stopCancel()
		if err := job.Stop(stopCtx); err != nil {
			return benchCopy{}, fmt.Errorf("stop: %w", err)
		}
		if err := <-ran; err != nil {
			return benchCopy{}, fmt.Errorf("run: %w", err)
		}
		st := job.Stats()
		if st.Restarts > 0 || failures.Load() > 0 {
			return benchCopy{}, fmt.Errorf("job restarted %d times, %d checkpoints failed", st.Restarts, failures.Load())
		}
		f := time.Unix(0, first.Load())
		return benchCopy{records: n, startup: f.Sub(start), window: end.Sub(f), use: use, checkpoints: st.Checkpoints}, nil
	case err := <-ran:
		meter.finish()
		return benchCopy{}, fmt.Errorf("job ended before copying %d records (%d committed): %v", n, committed.Load(), err)
	case <-ctx.Done():
		meter.finish()
		return benchCopy{}, fmt.Errorf("job copy: %d of %d records committed: %w", committed.Load(), n, ctx.Err())
	}
}

// BenchmarkPassThrough copies the same backlog of 1M records (200 B: 20-byte
// keys, 180-byte values; 3 partitions; STREAMKIT_BACKLOG changes the count),
// produced before either copy starts, on one broker, twice per op:
//
//   - sarama: a raw sarama consumer group → AsyncProducer copy, no
//     transactions, sarama's automatic offset commits;
//   - job: a stateless streamkit Job (3 tasks, each with its own
//     transactional KafkaOutput, and a MemoryStore for its checkpoint
//     manifests) with exactly-once checkpoints every second.
//
// Both produce with the same batching (benchProducerConfig), on fresh
// groups and output topics. The two copies of an op run back to back, in
// alternating order, so that each pair sees about the same load on a shared
// machine; an op takes tens of seconds, so the default -benchtime runs one
// op, and -benchtime=3x three more pairs (after the one-op run the testing
// package always starts with). ns/op, MB/s and allocs/op are the
// job copy's alone (the timer is stopped for the sarama copy). Metrics
// (sarama- prefixed: the same for the raw copy):
//
//   - records/s: from the first record read to the last one acknowledged
//     (sarama) or committed by a checkpoint (job): the group join and task
//     take-over (startup-ms) are left out, and the job pays for making its
//     output visible;
//   - records/cpu-s: records per second of this process's CPU time (user +
//     system, getrusage; the broker is another process), i.e. records/s
//     per core, much less sensitive to other load than records/s;
//   - ratio and cpu-ratio: the job's records/s and records/cpu-s over the
//     sarama copy's, median over the pairs; the target is ratio ≥ 0.7;
//   - peak-heap-MB (HeapInuse), peak-live-MB (live heap at each GC) and
//     peak-rss-MB, sampled every 10 ms during the copy: the client's memory
//     while it works through a 1M-record backlog at full speed;
//   - checkpoints/op: committed task checkpoints of the job copy.
//
// Each copy is verified afterwards by the broker process: read_committed,
// the output holds every record once, byte for byte, on its key's partition.
//
// Run it with:
//
//	go test -run '^$' -bench BenchmarkPassThrough -benchtime 3x .
func BenchmarkPassThrough(b *testing.B) {
	n := benchBacklogSize(b, benchPassThroughRecords)
	br := startBenchBroker(b)
	br.do(b, "create pt-in %d", benchParts)
	br.do(b, "produce pt-in %d %d", n, benchValueSize)
	ctx := b.Context()
	var job, raw benchTotals
	var ratios, cpuRatios []float64
	b.SetBytes(int64(n) * benchRecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var jc, rc benchCopy
		for k := range 2 {
			if (i+k)%2 == 0 { // alternate which copy goes first
				out := fmt.Sprintf("pt-sarama-out-%d", i)
				br.do(b, "create %s %d", out, benchParts)
				c, err := benchSaramaCopy(ctx, br.addrs, out, "pt-in", out, n)
				require.NoError(b, err)
				br.do(b, "verify %s %d %d", out, n, benchValueSize)
				benchDeleteTopic(b, br.addrs, out)
				rc = c
				continue
			}
			out := fmt.Sprintf("pt-job-out-%d", i)
			br.do(b, "create %s %d", out, benchParts)
			b.StartTimer()
			c, err := benchJobCopy(ctx, br.addrs, out, "pt-in", out, n)
			b.StopTimer()
			require.NoError(b, err)
			br.do(b, "verify %s %d %d", out, n, benchValueSize)
			benchDeleteTopic(b, br.addrs, out)
			jc = c
		}
		job.add(jc)
		raw.add(rc)
		ratios = append(ratios, rc.window.Seconds()/jc.window.Seconds())
		cpuRatios = append(cpuRatios, rc.use.cpu.Seconds()/jc.use.cpu.Seconds())
		b.StartTimer()
	}
	b.StopTimer()
	job.report(b, "")
	raw.report(b, "sarama-")
	b.ReportMetric(float64(job.startup.Milliseconds())/float64(b.N), "startup-ms")
	b.ReportMetric(float64(job.checkpoints)/float64(b.N), "checkpoints/op")
	b.ReportMetric(benchMedian(ratios), "ratio")
	b.ReportMetric(benchMedian(cpuRatios), "cpu-ratio")
}

// benchDeleteTopic deletes a verified output topic, so that the broker
// process (kfake keeps everything in memory) holds one copy at a time.
func benchDeleteTopic(tb testing.TB, addrs []string, topic string) {
	tb.Helper()
	admin, err := sarama.NewClusterAdmin(addrs, benchSaramaConfig())
	require.NoError(tb, err)
	defer func() { _ = admin.Close() }()
	require.NoError(tb, admin.DeleteTopic(topic))
}

func benchMedian(xs []float64) float64 {
	xs = slices.Sorted(slices.Values(xs))
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// TestBacklogMemoryBounded shows that a job's memory does not grow with
// its backlog: a pass-through job starts on a backlog of 100k records of
// 200 B (STREAMKIT_BACKLOG=1000000 for the full-size 1M) with its processor
// paused on the first record, so that sarama and the source fetch ahead
// until backpressure stops them (the source's bounded buffer, sarama's
// bounded per-partition channels and fetches). Once the live heap is
// steady, the backlog grows by half. The live heap (after a forced GC, so
// exact) must grow by less than a quarter of the added backlog's bytes; a
// job that buffered its backlog would grow by all of them and more. The
// processor is then released and the job stopped cleanly.
//
// With -race most of its time (about 15 s on a loaded 2-core machine) goes
// to producing the backlog in the race-instrumented broker process; without
// it the test takes about 6 s.
//
// The heap's peak while a job works through a 1M backlog at full speed is
// reported by BenchmarkPassThrough (peak-live-MB of the job).
func TestBacklogMemoryBounded(t *testing.T) {
	n := benchBacklogSize(t, benchBacklogRecords)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	br := startBenchBroker(t)
	br.do(t, "create bl-in %d", benchParts)
	br.do(t, "create bl-out %d", benchParts)
	produced := time.Now()
	br.do(t, "produce bl-in %d %d", n, benchValueSize)
	t.Logf("backlog of %d records produced in %v", n, time.Since(produced).Round(time.Millisecond))

	var first atomic.Int64
	paused, release := make(chan struct{}), make(chan struct{})
	var pauseOnce sync.Once
	hold := func(ctx context.Context) error {
		pauseOnce.Do(func() { close(paused) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	input := streamkit.Input{Brokers: br.addrs, Topics: []string{"bl-in"},
		Options: []source.Option{source.WithBaseConfig(benchSaramaConfig()), source.WithLogger(benchQuiet)}}
	outCfg := streamkit.KafkaOutputConfig{Brokers: br.addrs, Sarama: benchProducerConfig(),
		Options: []streamkit.KafkaOption{streamkit.WithKafkaLogger(benchQuiet),
			// The transaction stays open while the processor is paused.
			streamkit.WithTransactionTimeout(10 * time.Minute)}}
	base := benchLiveHeap()
	job, err := streamkit.NewJob("bl-job", input, streamkit.KafkaOutputs(outCfg),
		func(info streamkit.TaskInfo, o streamkit.RecordSender) (streamkit.Processor, error) {
			return &benchPassThrough{out: o, topic: "bl-out", first: &first, hold: hold}, nil
		},
		streamkit.WithCheckpointInterval(time.Second),
		streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()),
		streamkit.WithLogger(benchQuiet))
	require.NoError(t, err)
	ran := make(chan error, 1)
	go func() { ran <- job.Run(ctx) }()
	select {
	case <-paused:
	case err := <-ran:
		t.Fatalf("job ended before its first record: %v", err)
	case <-ctx.Done():
		t.Fatal("no record reached the processor")
	}

	before := benchSteadyLiveHeap(ctx, t)
	added := max(n/2, 1)
	produced = time.Now()
	br.do(t, "produce bl-in %d %d", added, benchValueSize)
	t.Logf("backlog grown by %d records in %v", added, time.Since(produced).Round(time.Millisecond))
	after := benchSteadyLiveHeap(ctx, t)

	close(release)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-ran)

	const mb = 1 << 20
	backlog, more := uint64(n)*benchRecordSize, uint64(added)*benchRecordSize
	t.Logf("live heap: %.1f MB before the job; %.1f MB with the job paused on a backlog of %d records (%.1f MB); "+
		"%.1f MB with %d records (%.1f MB)", float64(base)/mb, float64(before)/mb, n, float64(backlog)/mb,
		float64(after)/mb, n+added, float64(backlog+more)/mb)
	assert.Less(t, int64(after)-int64(before), int64(more/4),
		"the live heap grew by more than a quarter of the backlog that was added")
}

// benchLiveHeap collects garbage and returns the live heap.
func benchLiveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// benchSteadyLiveHeap waits until the live heap has stayed within 256 kB for
// two seconds (every fetch buffer full, nothing moving) and returns it.
func benchSteadyLiveHeap(ctx context.Context, t *testing.T) uint64 {
	t.Helper()
	const window, tolerance = 8, 256 << 10 // 8 readings 250 ms apart
	var last []uint64
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		last = append(last, benchLiveHeap())
		if len(last) > window {
			last = last[1:]
		}
		if len(last) == window && slices.Max(last)-slices.Min(last) < tolerance {
			return slices.Max(last)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the live heap never settled; last readings %v", last)
		}
	}
}
