// Command testjob is the stateful job that the runner's process-level tests
// (the kill tests and the long-outage test of package streamkit) run as a
// child process. It is assembled only from the module's public API, as a
// user's job would be:
//
//	input topic(s) → per-key counts in a checkpoint.Table → "key=count" records
//	through a KafkaOutput (one transaction per checkpoint), with FileStore
//	checkpoints in the directory given by -state.
//
// For every input record with key k it increments count[k] and writes one
// output record with key k and value "k=<count>", so an exactly-once run
// produces, for each key, exactly "k=1" … "k=n" where n is the number of
// input records with that key, and its last committed checkpoint holds
// count[k] = n.
//
// -pause widens the windows in which a kill lands: with it, the job sleeps
// a random time up to the given duration, at random, while processing a
// record, at the barrier (flush), while writing checkpoint objects, and just
// before and just after the Kafka commit.
//
// -trace prints a line as each task enters a phase of its cycle, so that a
// kill test can tell from the last line before a kill where the kill
// landed.
//
// -stall V holds a transaction open on purpose: the record whose value is V
// is counted and its output sent and acknowledged by the broker (so the open
// transaction holds records), then the process prints "testjob: stalled
// key=count" on stdout and blocks in Process, before any checkpoint can
// commit that transaction, until it is killed. A restarted run without
// -stall counts that record like any other.
//
// -swift-container C checkpoints to that OpenStack Swift container instead
// of -state, reached with the STREAMKIT_SWIFT_AUTH_URL, STREAMKIT_SWIFT_USER
// and STREAMKIT_SWIFT_KEY of the environment (tempauth, v1): the chaos soak
// stops Swift's proxy under it.
//
// SIGTERM or SIGINT stop the job cleanly (Job.Stop: a last checkpoint and
// commit) and the process exits 0; any failure of the job exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/ncw/swift/v2"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/childjob"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Table is the name of the state table; TableVersion its schema version.
// The kill tests restore the table by these to check the final state.
const (
	Table        = "counts"
	TableVersion = 1
)

// StalledPrefix starts the line the child prints when it holds its
// transaction open (-stall).
const StalledPrefix = "testjob: stalled "

type config struct {
	brokers, topics, out, job, group, state, stall string
	swiftContainer                                 string
	instanceID                                     string
	interval, pause, sessionTimeout                time.Duration
	heartbeat, stopTimeout, rebalance, txnTimeout  time.Duration
	maxFailures                                    int
	seed                                           uint64
	verbose, trace                                 bool
}

func main() {
	var c config
	flag.StringVar(&c.brokers, "brokers", "", "Kafka bootstrap addresses, comma-separated (required)")
	flag.StringVar(&c.topics, "topics", "in", "input topics, comma-separated (co-partitioned)")
	flag.StringVar(&c.out, "out", "out", "output topic")
	flag.StringVar(&c.job, "job", "testjob", "job name (checkpoint namespace, transactional IDs)")
	flag.StringVar(&c.group, "group", "", "consumer group (default: the job name)")
	flag.StringVar(&c.state, "state", "", "checkpoint directory (required; shared by all instances)")
	flag.StringVar(&c.swiftContainer, "swift-container", "",
		"checkpoint to this Swift container (auth from STREAMKIT_SWIFT_AUTH_URL, _USER, _KEY) instead of -state")
	flag.StringVar(&c.stall, "stall", "", "value of the record at which to hold the transaction open and block")
	flag.DurationVar(&c.interval, "interval", 200*time.Millisecond, "checkpoint interval")
	flag.DurationVar(&c.pause, "pause", 0, "longest random pause injected into processing, barrier, snapshot and commit (0: none)")
	flag.DurationVar(&c.sessionTimeout, "session-timeout", 10*time.Second, "consumer group session timeout (how long a killed member holds its partitions)")
	flag.StringVar(&c.instanceID, "instance-id", "",
		"static group membership ID (KIP-345): a restarted instance with the same ID takes its predecessor's place at once")
	flag.DurationVar(&c.heartbeat, "heartbeat", 3*time.Second, "consumer group heartbeat interval")
	flag.DurationVar(&c.rebalance, "rebalance-timeout", time.Minute,
		"consumer group rebalance timeout: how long a rebalance waits for members to rejoin (a member killed during a rebalance holds the group that long)")
	flag.DurationVar(&c.stopTimeout, "stop-timeout", time.Minute, "how long a clean stop may take")
	flag.DurationVar(&c.txnTimeout, "txn-timeout", streamkit.DefaultTransactionTimeout,
		"transaction timeout: also how long a restart can be blocked by the transaction of an instance killed in the middle of its commit (see the kill tests)")
	flag.IntVar(&c.maxFailures, "max-failures", streamkit.DefaultMaxCheckpointFailures, "consecutive checkpoint failures tolerated")
	flag.Uint64Var(&c.seed, "seed", 0, "seed of the injected pauses (0: random)")
	flag.BoolVar(&c.verbose, "v", false, "log at info level (default: warnings)")
	flag.BoolVar(&c.trace, "trace", false,
		`print "testjob: phase=<phase> task=<n>" to stderr as each task enters a phase of its cycle (claim, process, barrier, snapshot, commit, committed), so that a test can tell where its kills landed`)
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "testjob:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.brokers == "" || (c.state == "" && c.swiftContainer == "") {
		return errors.New("-brokers and -state (or -swift-container) are required")
	}
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if c.seed == 0 {
		c.seed = rand.Uint64()
	}
	p := childjob.NewPauser(c.pause, c.seed)
	brokers := strings.Split(c.brokers, ",")

	kcfg := sarama.NewConfig()
	kcfg.Version = sarama.V3_6_0_0
	kcfg.ClientID = "testjob"
	kcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	kcfg.Consumer.IsolationLevel = sarama.ReadCommitted
	kcfg.Consumer.MaxWaitTime = 25 * time.Millisecond
	kcfg.Consumer.Group.Session.Timeout = c.sessionTimeout
	kcfg.Consumer.Group.Heartbeat.Interval = c.heartbeat
	kcfg.Consumer.Group.Rebalance.Timeout = c.rebalance
	kcfg.Consumer.Group.InstanceId = c.instanceID
	kcfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	kcfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	kcfg.Producer.Retry.Backoff = 50 * time.Millisecond

	tr := &tracer{on: c.trace}
	var base checkpoint.Store
	if c.swiftContainer != "" {
		authURL := os.Getenv("STREAMKIT_SWIFT_AUTH_URL")
		if authURL == "" {
			return errors.New("-swift-container needs STREAMKIT_SWIFT_AUTH_URL (and _USER, _KEY) in the environment")
		}
		conn := &swift.Connection{AuthUrl: authURL, UserName: os.Getenv("STREAMKIT_SWIFT_USER"),
			ApiKey: os.Getenv("STREAMKIT_SWIFT_KEY"), AuthVersion: 1, Timeout: 30 * time.Second}
		base = checkpoint.NewSwiftStore(conn, c.swiftContainer, checkpoint.WithSwiftLogger(log))
	} else {
		base = checkpoint.NewFileStore(c.state)
	}
	store := &childjob.PausingStore{Store: base, Pauser: p,
		OnCreate: func(name string) { tr.printf("testjob: phase=snapshot object=%s\n", name) }}
	in := streamkit.Input{Brokers: brokers, Topics: strings.Split(c.topics, ","), Group: c.group,
		Options: []source.Option{source.WithBaseConfig(kcfg)}}
	outputs := streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: brokers, Sarama: kcfg,
		Options: []streamkit.KafkaOption{streamkit.WithTransactionTimeout(c.txnTimeout)}})
	newOutput := func(ctx context.Context, info streamkit.TaskInfo) (streamkit.Output, *handle, error) {
		o, send, err := outputs(ctx, info)
		if err != nil {
			return nil, nil, err
		}
		tt := &taskTrace{tr: tr, task: info.Task}
		tt.phase("claim")
		// Only -stall flushes outside the runner's cycle: a test child
		// that deliberately leaves a transaction open.
		return &pausingOutput{Output: o, p: p, tt: tt}, &handle{RecordSender: send, kafka: o.(*streamkit.KafkaOutput), tt: tt}, nil
	}
	newProcessor := func(_ streamkit.TaskInfo, out *handle) (streamkit.Processor, error) {
		return &counter{out: out, topic: c.out, stall: c.stall, p: p, tt: out.tt,
			counts: checkpoint.NewTable[string, int64](Table, TableVersion)}, nil
	}
	job, err := streamkit.NewJob(c.job, in, newOutput, newProcessor,
		streamkit.WithCheckpointStore(store),
		streamkit.WithCheckpointInterval(c.interval),
		streamkit.WithMaxCheckpointFailures(c.maxFailures),
		streamkit.WithLogger(log))
	if err != nil {
		return err
	}

	return childjob.RunUntilSignal("testjob", job, job.Run, c.stopTimeout, fmt.Sprintf(" (pause seed %d)", c.seed))
}

// handle is what the counter writes through: the task's RecordSender, and
// the KafkaOutput for -stall's flush.
type handle struct {
	streamkit.RecordSender
	kafka *streamkit.KafkaOutput
	tt    *taskTrace
}

// counter counts records per key and writes "key=count" for each.
type counter struct {
	out    *handle
	topic  string
	stall  string
	p      *childjob.Pauser
	tt     *taskTrace
	counts *checkpoint.Table[string, int64]
}

func (c *counter) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{c.counts} }

func (c *counter) Process(ctx context.Context, rec *source.Record) error {
	if len(rec.Key) == 0 {
		return streamkit.Stage("decode", fmt.Errorf("testjob: record without a key"))
	}
	if !c.tt.processing.Swap(true) {
		c.tt.phase("process")
	}
	c.p.Maybe(ctx, 500) // now and then, a kill lands mid-batch
	k := string(rec.Key)
	n, _ := c.counts.Get(k)
	n++
	v := k + "=" + strconv.FormatInt(n, 10)
	if err := c.out.Send(ctx, streamkit.KafkaRecord{Topic: c.topic, Key: rec.Key, Value: []byte(v)}); err != nil {
		return err
	}
	c.counts.Set(k, n)
	if c.stall != "" && string(rec.Value) == c.stall {
		// The transaction now holds this record's output (and whatever
		// was sent since the last checkpoint): make sure the broker has
		// it, say so, and never let the checkpoint come.
		if err := c.out.kafka.Flush(ctx); err != nil {
			return err
		}
		fmt.Fprintf(os.Stdout, "%s%s\n", StalledPrefix, v)
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// Flush is the barrier: the first step of every checkpoint.
func (c *counter) Flush(ctx context.Context) error {
	c.tt.phase("barrier")
	c.p.Maybe(ctx, 4)
	return nil
}

// pausingOutput pauses around the commit of a KafkaOutput.
type pausingOutput struct {
	streamkit.Output
	p  *childjob.Pauser
	tt *taskTrace
}

func (o *pausingOutput) Commit(ctx context.Context, cp *streamkit.CommitPoint) error {
	o.tt.phase("commit")
	o.p.Maybe(ctx, 4)
	err := o.Output.Commit(ctx, cp)
	if err == nil {
		o.tt.phase("committed")
		o.tt.processing.Store(false)
	}
	o.p.Maybe(ctx, 4)
	return err
}

// tracer prints phase lines when -trace is on.
type tracer struct{ on bool }

func (t *tracer) printf(format string, args ...any) {
	if t.on {
		fmt.Fprintf(os.Stderr, format, args...)
	}
}

// taskTrace is the phase tracing of one task.
type taskTrace struct {
	tr   *tracer
	task int
	// processing is set by the first record after a take-over or commit.
	processing atomic.Bool
}

func (t *taskTrace) phase(name string) { t.tr.printf("testjob: phase=%s task=%d\n", name, t.task) }
