package streamkit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// chaosWedged is how long the job may go without a new commit after a fault
// has ended before the soak calls it wedged.
const chaosWedged = 2 * time.Minute

// TestJobChaosSoak runs the counting child job (internal/testjob) with its
// checkpoints in a real Swift and its input and output on a real Kafka,
// and for STREAMKIT_CHAOS (a Go duration; `make chaos-soak`: 10m) injects
// random faults with random gaps between them:
//
//   - kill: SIGKILL of the job, restarted at once or after up to 2 s;
//   - broker: SIGKILL of a broker (a random one of a three-broker cluster,
//     the only one otherwise), down 1–10 s, then restarted on its data;
//   - swift: Swift's proxy down 2–20 s (scripts/swift-saio.sh stop-proxy,
//     start-proxy);
//
// and, during a third of the broker and Swift outages, a SIGKILL of the job
// as well. The job runs with no limit on consecutive failures, as in
// production: it must ride every outage out by itself, so an exit of its
// own fails the soak (it is then restarted, as a supervisor would, so the
// check at the end still runs). After each fault the soak waits for a new
// commit of the job's offsets (a job without one for chaosWedged is
// wedged). At the end the output must be exactly once — each key k=1 … k=n
// with n its input records, the committed offsets covering the input, the
// last checkpoint in Swift holding the counts — and kcat must agree.
//
// The input is written by a plain producer that pauses while a broker is
// down; the reference is read back from the input topic at the end, so a
// retried batch counts as input, never as a duplicate output.
//
// Needs STREAMKIT_KAFKA_BROKERS, STREAMKIT_KAFKA_SCRIPT (scripts/kafka.sh,
// with the KAFKA_ROOT and KAFKA_PORT its brokers were started with) and the
// Swift variables with STREAMKIT_SWIFT_SAIO; it takes both away from
// everyone, so it runs alone. STREAMKIT_KILL_SEED repeats a run's faults.
func TestJobChaosSoak(t *testing.T) {
	s := os.Getenv("STREAMKIT_CHAOS")
	if s == "" {
		t.Skip("STREAMKIT_CHAOS not set (how long to inject faults, e.g. 10m): the soak takes Kafka and Swift away from everyone and runs alone")
	}
	duration, err := time.ParseDuration(s)
	require.NoError(t, err, "STREAMKIT_CHAOS")
	script := os.Getenv("STREAMKIT_KAFKA_SCRIPT")
	if os.Getenv(kafkatest.BrokersEnv) == "" || script == "" {
		t.Skip("needs a real broker it may kill: set STREAMKIT_KAFKA_BROKERS and STREAMKIT_KAFKA_SCRIPT (scripts/kafka.sh)")
	}
	saio := checkpointtest.SAIOFromEnv(t)
	conn := checkpointtest.RealSwiftConnection(t)
	container := checkpointtest.TempContainer(t, conn)
	bin := buildTestJob(t)

	// newKillEnv's deadline is 3 min + 5 s per kill: ask for the soak plus
	// 6 min of start, recovery and drain.
	env := newKillEnv(t, int((duration+3*time.Minute)/(5*time.Second)), bin)
	env.store = checkpoint.NewSwiftStore(conn, container)
	ctx := env.ctx
	rnd := rand.New(rand.NewPCG(env.seed, 11))
	nodes := len(strings.Split(os.Getenv(kafkatest.BrokersEnv), ","))

	brokerCmd := func(args ...string) {
		out, err := exec.CommandContext(ctx, script, args...).CombinedOutput()
		require.NoError(t, err, "%s %s: %s", script, strings.Join(args, " "), out)
	}
	t.Cleanup(func() { _ = exec.Command(script, "restart").Run() })

	runs, exits := 0, 0
	var exitErrs []string
	start := func() *jobtest.Child {
		cmd := exec.Command(env.bin, "-brokers", strings.Join(env.cl.Addrs(), ","), "-topics", "in", "-out", "out",
			"-job", killJobName, "-swift-container", container, "-interval", "300ms", "-pause", "50ms",
			"-session-timeout", "2s", "-heartbeat", "300ms", "-rebalance-timeout", "5s",
			"-instance-id", "chaos", "-trace", "-txn-timeout", "10s", "-max-failures", "0", "-v",
			"-seed", strconv.FormatUint(env.seed+uint64(runs)+1, 10))
		c, err := jobtest.Start(cmd, jobtest.Options{Name: "chaosjob", Run: runs, Output: env.logWriter("chaos")})
		require.NoError(t, err)
		runs++
		env.track(c)
		return c
	}
	child := start()
	// A supervisor: a child that exited on its own is counted and started
	// again.
	supervise := func() {
		if child.Exited() {
			exits++
			out := child.Output()
			if len(out) > 2000 {
				out = out[len(out)-2000:]
			}
			exitErrs = append(exitErrs, fmt.Sprintf("run %d: %v\n%s", child.Run(), child.Err(), out))
			child = start()
		}
	}

	// The producer: 10 records every 50 ms, paused while a broker is down.
	var gate sync.RWMutex
	var produceErrs int
	env.stopProd = make(chan struct{})
	env.prodDone = make(chan error, 1)
	go func() {
		prnd := rand.New(rand.NewPCG(env.seed, 13))
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-env.stopProd:
				env.prodDone <- env.readInput()
				return
			case <-ctx.Done():
				env.prodDone <- ctx.Err()
				return
			case <-tick.C:
			}
			recs := make([]kafkatest.Record, 10)
			for i := range recs {
				recs[i] = kafkatest.Record{Key: []byte(fmt.Sprintf("k%02d", prnd.IntN(killKeys))), Value: []byte("x")}
			}
			gate.RLock()
			err := env.cl.ProduceKeyed(ctx, "in", recs...)
			gate.RUnlock()
			if err != nil {
				env.mu.Lock()
				produceErrs++ // the input is read back at the end
				env.mu.Unlock()
			}
		}
	}()
	_, err = env.cl.WaitForRecords(ctx, "out", 100)
	require.NoError(t, err, "the job never committed output:\n%s", child.Output())

	// committed returns the sum of the job's committed input offsets.
	committed := func() int64 {
		offs, err := env.cl.CommittedOffsets(ctx, killJobName)
		if err != nil {
			return -1
		}
		var n int64
		for _, o := range offs {
			n += o.Offset
		}
		return n
	}
	faults := map[string]int{}
	var recoveries []time.Duration
	var worst time.Duration
	worstFault := ""
	began := time.Now()
	for i := 0; time.Since(began) < duration; i++ {
		gap := time.Duration(500+rnd.IntN(5500)) * time.Millisecond
		select {
		case <-time.After(gap):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		supervise()
		before := committed()
		alsoKill := rnd.IntN(3) == 0
		var fault string
		switch r := rnd.IntN(10); {
		case r < 4:
			fault = "kill"
			require.NoError(t, child.Kill(), "the job exited before its kill")
			env.recordKill(child)
			time.Sleep(time.Duration(rnd.IntN(2000)) * time.Millisecond)
			child = start()
		case r < 7:
			node := ""
			if nodes >= 3 {
				node = strconv.Itoa(1 + rnd.IntN(nodes))
			}
			fault = "broker" + node
			down := time.Duration(1000+rnd.IntN(9000)) * time.Millisecond
			gate.Lock()
			brokerCmd("kill", node)
			if alsoKill {
				time.Sleep(down / 2)
				supervise()
				require.NoError(t, child.Kill())
				fault += "+kill"
				child = start()
				time.Sleep(down / 2)
			} else {
				time.Sleep(down)
			}
			brokerCmd("restart", node)
			gate.Unlock()
		default:
			fault = "swift"
			down := time.Duration(2000+rnd.IntN(18000)) * time.Millisecond
			saio.StopProxy(t)
			if alsoKill {
				time.Sleep(down / 2)
				supervise()
				require.NoError(t, child.Kill())
				fault += "+kill"
				child = start()
				time.Sleep(down / 2)
			} else {
				time.Sleep(down)
			}
			saio.StartProxy(t)
		}
		faults[fault]++
		ended := time.Now()
		require.NoError(t, env.cl.WaitFor(ctx, fmt.Sprintf("a new commit after fault %d (%s)", i, fault), func(context.Context) (bool, string, error) {
			supervise()
			if time.Since(ended) > chaosWedged {
				return false, "", fmt.Errorf("no new commit %v after fault %d (%s): the job is wedged:\n%s", chaosWedged, i, fault, child.Output())
			}
			n := committed()
			return n > before, fmt.Sprintf("committed offsets %d (before the fault %d)", n, before), nil
		}))
		took := time.Since(ended)
		recoveries = append(recoveries, took)
		if took > worst {
			worst, worstFault = took, fault
		}
	}
	supervise()
	env.finish(child)
	res := env.verify()
	env.checkKcat(res)

	sort.Slice(recoveries, func(i, j int) bool { return recoveries[i] < recoveries[j] })
	var names []string
	total := 0
	for f, n := range faults {
		names = append(names, fmt.Sprintf("%s %d", f, n))
		total += n
	}
	sort.Strings(names)
	median := time.Duration(0)
	if len(recoveries) > 0 {
		median = recoveries[len(recoveries)/2]
	}
	t.Logf("chaos soak %v: %d faults (%s); first new commit after a fault: median %v, worst %v (%s); "+
		"%d input records (%d producer errors, input read back), %d outputs committed exactly once, %d aborted; job runs %d, exits on its own %d",
		duration, total, strings.Join(names, ", "), median.Round(time.Millisecond), worst.Round(time.Millisecond), worstFault,
		res.inputs, produceErrs, res.outputs, res.aborted, runs, exits)
	assert.Zero(t, exits, "the job must ride out every fault without exiting:\n%s", strings.Join(exitErrs, "\n"))
}

// readInput replaces the reference (counts per key, records produced) by
// what the input topic holds: a produce call that failed may still have
// written some of its records, and they are input like any other.
func (e *killEnv) readInput() error {
	recs, err := e.cl.ReadUncommitted(e.ctx, "in")
	if err != nil {
		return fmt.Errorf("reading the input back: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.counts)
	for _, r := range recs {
		e.counts[string(r.Key)]++
	}
	e.produced = len(recs)
	return nil
}
