//go:build linux

package streamkit_test

// The exactly-once pass-through side by side on one real Kafka broker:
// streamkit's Job, a raw sarama copy, Kafka Streams and Apache Flink copy
// the same backlog, each in a child process of its own, so that the same
// /proc figures (CPU time, peak RSS) describe each of them and nothing of
// the driver (producing, counting, verifying) is charged to any.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

const (
	// realBenchJavaEnv names the directory of the built Java pass-through
	// programs (scripts/passthrough-bench after its `mvn package`); with
	// kafkatest.BrokersEnv it enables BenchmarkPassThroughReal.
	realBenchJavaEnv = "STREAMKIT_PASSTHROUGH_JAVA"
	// realBenchChildEnv makes the re-executed test binary one of the Go
	// copies ("job" or "sarama"); realBenchArgsEnv carries its brokers,
	// input, output and name, space separated. Internal to this file.
	realBenchChildEnv = "STREAMKIT_PASSTHROUGH_CHILD"
	realBenchArgsEnv  = "STREAMKIT_PASSTHROUGH_ARGS"
)

func init() {
	if kind := os.Getenv(realBenchChildEnv); kind != "" {
		os.Exit(realBenchChild(kind, strings.Fields(os.Getenv(realBenchArgsEnv))))
	}
}

// realBenchChild runs one Go copy until SIGTERM. It prints "first <unix
// nanoseconds>" when the first record is read and returns the exit code.
func realBenchChild(kind string, args []string) int {
	if len(args) != 4 {
		fmt.Fprintf(os.Stderr, "%s: want brokers, input, output, name; got %q\n", realBenchArgsEnv, args)
		return 2
	}
	brokers, in, out, name := strings.Split(args[0], ","), args[1], args[2], args[3]
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var first atomic.Int64
	go func() { // the recorded time is exact; polling only delays the line
		for first.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		fmt.Printf("first %d\n", first.Load())
	}()
	var err error
	switch kind {
	case "job":
		err = realBenchRunJob(ctx, brokers, in, out, name, &first)
	case "sarama":
		err = realBenchRunSarama(ctx, brokers, in, out, name, &first)
	default:
		err = fmt.Errorf("unknown copy %q", kind)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s copy: %v\n", kind, err)
		return 1
	}
	return 0
}

// realBenchRunJob is benchJobCopy without its end detection: a stateless
// Job, one task per partition, exactly-once checkpoints every second into a
// MemoryStore, until ctx ends.
func realBenchRunJob(ctx context.Context, brokers []string, in, out, name string, first *atomic.Int64) error {
	input := streamkit.Input{Brokers: brokers, Topics: []string{in},
		Options: []source.Option{source.WithBaseConfig(benchSaramaConfig()), source.WithLogger(benchQuiet)}}
	outCfg := streamkit.KafkaOutputConfig{Brokers: brokers, Sarama: benchProducerConfig(),
		Options: []streamkit.KafkaOption{streamkit.WithKafkaLogger(benchQuiet)}}
	job, err := streamkit.NewJob(name, input, streamkit.KafkaOutputs(outCfg),
		func(info streamkit.TaskInfo, o streamkit.RecordSender) (streamkit.Processor, error) {
			return &benchPassThrough{out: o, topic: out, first: first}, nil
		},
		streamkit.WithCheckpointInterval(time.Second),
		streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()),
		streamkit.WithLogger(benchQuiet))
	if err != nil {
		return err
	}
	ran := make(chan error, 1)
	go func() { ran <- job.Run(context.Background()) }()
	select {
	case err := <-ran:
		return fmt.Errorf("job ended on its own: %w", err)
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := job.Stop(stopCtx); err != nil {
		return err
	}
	return <-ran
}

// realBenchRunSarama is benchSaramaCopy without its end detection: a
// sarama consumer group feeding a batching AsyncProducer, no transactions.
func realBenchRunSarama(ctx context.Context, brokers []string, in, out, group string, first *atomic.Int64) error {
	producer, err := sarama.NewAsyncProducer(brokers, benchProducerConfig())
	if err != nil {
		return err
	}
	defer func() { _ = producer.Close() }()
	consumer, err := sarama.NewConsumerGroup(brokers, group, benchSaramaConfig())
	if err != nil {
		return err
	}
	defer func() { _ = consumer.Close() }()
	go func() {
		for range producer.Successes() {
		}
	}()
	failed := make(chan error, 1)
	go func() {
		for err := range producer.Errors() {
			select {
			case failed <- err:
			default:
			}
		}
	}()
	h := &benchCopyHandler{producer: producer, out: out}
	go func() {
		for h.first.Load() == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		first.Store(h.first.Load())
	}()
	go func() {
		for ctx.Err() == nil {
			if err := consumer.Consume(ctx, []string{in}, h); err != nil && ctx.Err() == nil {
				select {
				case failed <- err:
				default:
				}
				return
			}
		}
	}()
	select {
	case err := <-failed:
		return err
	case <-ctx.Done():
		return nil
	}
}

// realBenchProc is what /proc says about a child.
type realBenchProc struct {
	cpu time.Duration // user + system time of every thread
	hwm uint64        // peak resident set (VmHWM), bytes
}

func realBenchReadProc(pid int) (realBenchProc, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return realBenchProc{}, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return realBenchProc{}, fmt.Errorf("/proc/%d/stat: %q", pid, stat)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return realBenchProc{}, err
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	p := realBenchProc{cpu: time.Duration(ut+st) * tick}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return realBenchProc{}, err
	}
	for l := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return realBenchProc{}, err
			}
			p.hwm = kb << 10
		}
	}
	return p, nil
}

// realBenchResult is one copy's figures.
type realBenchResult struct {
	kind string
	// startup: process start to first record read; window: first record
	// read to the last one visible read_committed in the output topic.
	startup, window time.Duration
	// cpu: the process's CPU time from its start to the end of the window
	// (startup included); windowCPU: within the window only.
	cpu, windowCPU time.Duration
	rss            uint64
}

func (r realBenchResult) rate(n int) float64   { return float64(n) / r.window.Seconds() }
func (r realBenchResult) perCPU(n int) float64 { return float64(n) / r.cpu.Seconds() }
func (r realBenchResult) perWindowCPU(n int) float64 {
	return float64(n) / r.windowCPU.Seconds()
}

// realBenchCount counts the records of topic visible read_committed, from
// the oldest offset of each partition, and sends the time on done when the
// count reaches n. It stops when ctx ends.
func realBenchCount(ctx context.Context, brokers []string, topic string, n int, done chan<- time.Time) error {
	cfg := benchSaramaConfig()
	cfg.ClientID = "streamkit-bench-counter"
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		return err
	}
	parts, err := consumer.Partitions(topic)
	if err != nil {
		_ = consumer.Close()
		return err
	}
	var count atomic.Int64
	for _, p := range parts {
		// A new topic's leaders may not be known to this client yet.
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		for try := 0; err != nil && try < 100 && ctx.Err() == nil; try++ {
			time.Sleep(100 * time.Millisecond)
			pc, err = consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		}
		if err != nil {
			_ = consumer.Close()
			return err
		}
		go func() {
			for range pc.Messages() {
				if count.Add(1) == int64(n) {
					done <- time.Now()
				}
			}
		}()
	}
	go func() {
		<-ctx.Done()
		_ = consumer.Close()
	}()
	return nil
}

// realBenchRun starts cmd, waits until n records are committed in the
// output topic, reads the child's /proc figures and stops it with SIGTERM.
func realBenchRun(ctx context.Context, b *testing.B, kind string, cmd *exec.Cmd, brokers []string, out string, n int) realBenchResult {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	done := make(chan time.Time, 1)
	require.NoError(b, realBenchCount(ctx, brokers, out, n, done))

	logPath := filepath.Join(b.TempDir(), kind+".log")
	logFile, err := os.Create(logPath)
	require.NoError(b, err)
	defer func() { _ = logFile.Close() }()
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	type firstSeen struct {
		at  time.Time
		cpu realBenchProc
		err error
	}
	firsts := make(chan firstSeen, 1)
	start := time.Now()
	require.NoError(b, cmd.Start())
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			ns, ok := strings.CutPrefix(sc.Text(), "first ")
			if !ok || sent {
				_, _ = fmt.Fprintln(logFile, sc.Text())
				continue
			}
			sent = true
			p, perr := realBenchReadProc(pid)
			v, err := strconv.ParseInt(ns, 10, 64)
			firsts <- firstSeen{at: time.Unix(0, v), cpu: p, err: errors.Join(err, perr)}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	stopChild := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	childLog := func() string { l, _ := os.ReadFile(logPath); return string(l) }

	var f firstSeen
	select {
	case f = <-firsts:
		require.NoError(b, f.err)
	case err := <-exited:
		b.Fatalf("%s exited before its first record (%v): %s", kind, err, childLog())
	case <-ctx.Done():
		stopChild()
		b.Fatalf("%s: no first record: %v: %s", kind, ctx.Err(), childLog())
	}
	var end time.Time
	select {
	case end = <-done:
	case err := <-exited:
		b.Fatalf("%s exited before committing %d records (%v): %s", kind, n, err, childLog())
	case <-ctx.Done():
		stopChild()
		b.Fatalf("%s: %d records not committed: %v: %s", kind, n, ctx.Err(), childLog())
	}
	p, err := realBenchReadProc(pid)
	require.NoError(b, err)
	stopChild()
	return realBenchResult{kind: kind, startup: f.at.Sub(start), window: end.Sub(f.at),
		cpu: p.cpu, windowCPU: p.cpu - f.cpu.cpu, rss: p.hwm}
}

// realBenchVerify checks that topic holds, read_committed, exactly records
// 0..n-1 of the backlog, each once, byte for byte. Partitions are not
// checked: the JVM copies partition with Kafka's murmur2, the Go ones with
// sarama's FNV-1a.
func realBenchVerify(ctx context.Context, b *testing.B, c *kafkatest.Cluster, topic string, n int) {
	b.Helper()
	recs, err := c.ReadCommitted(ctx, topic)
	require.NoError(b, err)
	seen := make([]bool, n)
	for _, r := range recs {
		i, err := strconv.Atoi(strings.TrimPrefix(string(r.Key), "Q"))
		switch {
		case err != nil || len(r.Key) != benchKeySize || i < 0 || i >= n:
			b.Fatalf("%s/%d@%d: unexpected key %q", topic, r.Partition, r.Offset, r.Key)
		case seen[i]:
			b.Fatalf("%s/%d@%d: duplicate of record %d", topic, r.Partition, r.Offset, i)
		case !bytes.Equal(r.Value, benchValue(i, benchValueSize)):
			b.Fatalf("%s/%d@%d: value of record %d differs", topic, r.Partition, r.Offset, i)
		}
		seen[i] = true
	}
	require.Len(b, recs, n, "%s: records read_committed", topic)
}

// BenchmarkPassThroughReal copies the same backlog of 1M records (200 B:
// 20-byte keys, 180-byte values, 3 partitions; STREAMKIT_BACKLOG changes
// the count), produced once per op on the real Kafka broker named by
// STREAMKIT_KAFKA_BROKERS, four times back to back, each copy a child
// process started on the existing backlog and stopped once done:
//
//   - job: a stateless streamkit Job, one task per partition, each with
//     its own transactional KafkaOutput, exactly-once checkpoints every
//     second (MemoryStore manifests);
//   - sarama: a raw sarama consumer group → AsyncProducer, no transactions
//     (the floor: what copying costs without exactly-once);
//   - kstreams: Kafka Streams 4.1, processing.guarantee=exactly_once_v2,
//     commit.interval.ms=1000, 3 stream threads;
//   - flink: Apache Flink 2.0 on a local MiniCluster, parallelism 3,
//     KafkaSource (read_committed) → KafkaSink with
//     DeliveryGuarantee.EXACTLY_ONCE, checkpoints every second.
//
// The JVM programs are scripts/passthrough-bench (STREAMKIT_PASSTHROUGH_JAVA
// names it, built with `mvn package`); the benchmark is skipped unless both
// variables are set. Metrics, prefixed with the copy's name:
//
//   - records/s: from the first record read (printed by the child) to the
//     last one visible read_committed in the output topic (counted by this
//     process): startup is left out, the cost of making output visible
//     (commit interval) is in;
//   - records/cpu-s: records per CPU-second (user + system, /proc/PID/stat)
//     of the child from its start to the end of the window, startup (JVM,
//     MiniCluster, group join) included; win-records/cpu-s: within the
//     window only;
//   - peak-rss-MB: the child's VmHWM when the window ends;
//   - startup-s: process start to the first record read.
//
// Ratios (job over kstreams, job over flink): ks-ratio and flink-ratio of
// records/s, ks-cpu-ratio and flink-cpu-ratio of records/cpu-s, ks-rss-ratio
// and flink-rss-ratio of peak RSS (smaller is better for the job).
//
// Each output is verified afterwards: read_committed it holds every record
// exactly once, byte for byte. Run it through `make bench-passthrough-real`,
// which builds the JVM programs, starts a private broker and stops it:
//
//	go test -run '^$' -bench '^BenchmarkPassThroughReal$' -benchtime 1x -count 2 -timeout 60m .
func BenchmarkPassThroughReal(b *testing.B) {
	javaDir := os.Getenv(realBenchJavaEnv)
	if javaDir == "" || os.Getenv(kafkatest.BrokersEnv) == "" {
		b.Skipf("set %s (a real Kafka) and %s (the built scripts/passthrough-bench); see make bench-passthrough-real",
			kafkatest.BrokersEnv, realBenchJavaEnv)
	}
	javaDir, err := filepath.Abs(javaDir)
	require.NoError(b, err)
	for _, m := range []string{"kstreams", "flink"} {
		_, err := os.Stat(filepath.Join(javaDir, m, "target", "classes"))
		require.NoError(b, err, "run `mvn -q package` in %s/%s first", javaDir, m)
	}
	n := benchBacklogSize(b, benchPassThroughRecords)
	exe, err := os.Executable()
	require.NoError(b, err)
	ctx := b.Context()

	results := map[string][]realBenchResult{}
	b.ResetTimer()
	for op := 0; op < b.N; op++ {
		b.StopTimer()
		c := kafkatest.NewCluster(b)
		require.NoError(b, c.CreateTopic(ctx, "in", benchParts))
		produced := time.Now()
		batch := make([]kafkatest.Record, 0, 5000)
		for i := range n {
			batch = append(batch, kafkatest.Record{Key: benchKey(i), Value: benchValue(i, benchValueSize)})
			if len(batch) == cap(batch) || i == n-1 {
				require.NoError(b, c.ProduceKeyed(ctx, "in", batch...))
				batch = batch[:0]
			}
		}
		b.Logf("op %d: %d records produced in %v", op, n, time.Since(produced).Round(time.Millisecond))
		brokers, in := c.Direct("in")
		bs := strings.Join(brokers, ",")
		for _, kind := range []string{"job", "sarama", "kstreams", "flink"} {
			require.NoError(b, c.CreateTopic(ctx, "out-"+kind, benchParts))
			_, out := c.Direct("out-" + kind)
			name := fmt.Sprintf("%s-%d", out, time.Now().UnixNano())
			var cmd *exec.Cmd
			switch kind {
			case "job", "sarama":
				cmd = exec.Command(exe, "-test.run=^$", "-test.bench=^$")
				cmd.Env = append(os.Environ(), realBenchChildEnv+"="+kind,
					realBenchArgsEnv+"="+strings.Join([]string{bs, in, out, name}, " "))
			case "kstreams":
				cmd = realBenchJava(javaDir, kind, "KStreamsPassThrough",
					bs, in, out, name, filepath.Join(b.TempDir(), "kstreams-state"), strconv.Itoa(benchParts))
			case "flink":
				cmd = realBenchJava(javaDir, kind, "FlinkPassThrough", bs, in, out, name, strconv.Itoa(benchParts))
			}
			b.StartTimer()
			r := realBenchRun(ctx, b, kind, cmd, brokers, out, n)
			b.StopTimer()
			realBenchVerify(ctx, b, c, "out-"+kind, n)
			b.Logf("op %d %-8s: %8.0f records/s, %8.0f records/cpu-s (%6.0f in the window), CPU %5.1f s, peak RSS %5.0f MB, startup %4.1f s",
				op, kind, r.rate(n), r.perCPU(n), r.perWindowCPU(n), r.cpu.Seconds(), float64(r.rss)/(1<<20), r.startup.Seconds())
			results[kind] = append(results[kind], r)
		}
		b.StartTimer()
	}
	b.StopTimer()
	const mb = 1 << 20
	med := func(kind string, f func(realBenchResult) float64) float64 {
		var xs []float64
		for _, r := range results[kind] {
			xs = append(xs, f(r))
		}
		return benchMedian(xs)
	}
	rate := func(r realBenchResult) float64 { return r.rate(n) }
	perCPU := func(r realBenchResult) float64 { return r.perCPU(n) }
	rss := func(r realBenchResult) float64 { return float64(r.rss) / mb }
	for _, kind := range []string{"job", "sarama", "kstreams", "flink"} {
		b.ReportMetric(med(kind, rate), kind+"-records/s")
		b.ReportMetric(med(kind, perCPU), kind+"-records/cpu-s")
		b.ReportMetric(med(kind, func(r realBenchResult) float64 { return r.perWindowCPU(n) }), kind+"-win-records/cpu-s")
		b.ReportMetric(med(kind, rss), kind+"-peak-rss-MB")
		b.ReportMetric(med(kind, func(r realBenchResult) float64 { return r.startup.Seconds() }), kind+"-startup-s")
	}
	for _, other := range []string{"kstreams", "flink"} {
		short := map[string]string{"kstreams": "ks", "flink": "flink"}[other]
		b.ReportMetric(med("job", rate)/med(other, rate), short+"-ratio")
		b.ReportMetric(med("job", perCPU)/med(other, perCPU), short+"-cpu-ratio")
		b.ReportMetric(med("job", rss)/med(other, rss), short+"-rss-ratio")
	}
}

// realBenchJava is the command that runs one of the JVM programs of module
// (kstreams or flink) off its built classes and copied dependencies.
// STREAMKIT_PASSTHROUGH_JAVA_OPTS adds JVM flags (none by default: each
// JVM sizes its heap as it would in a default deployment).
func realBenchJava(dir, module, class string, args ...string) *exec.Cmd {
	t := filepath.Join(dir, module, "target")
	cp := filepath.Join(t, "classes") + string(os.PathListSeparator) + filepath.Join(t, "libs", "*")
	jargs := strings.Fields(os.Getenv("STREAMKIT_PASSTHROUGH_JAVA_OPTS"))
	jargs = append(jargs, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", cp,
		"org.wikimedia.streamkit.bench."+class)
	cmd := exec.Command("java", append(jargs, args...)...)
	cmd.Env = append(os.Environ(), "CLASSPATH=")
	return cmd
}
