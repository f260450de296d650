// Command outagejob is the job that the long-outage test of package
// streamkit (job_outage_test.go) runs as a child process, kills with
// SIGKILL while a Kafka transaction of it is open, and restarts after
// longer than the broker's transaction.max.timeout.ms. It is assembled only
// from the module's public API, as a user's job would be:
//
//	input topic(s) → per-key counts in a checkpoint.Table → "key=count" records
//	through a KafkaOutput (one transaction per checkpoint), with FileStore
//	checkpoints in the directory given by -state.
//
// Unlike internal/killjob it sets the sink's transaction timeout
// (-txn-timeout, which must not exceed the broker's maximum) and it can
// hold a transaction open on purpose: with -stall V, the record whose value
// is V is counted and its output sent and acknowledged by the broker (so
// the open transaction holds records), then the process prints
// "outagejob: stalled key=count" on stdout and blocks in Process, before
// any checkpoint can commit that transaction, until it is killed. A
// restarted run without -stall counts that record like any other.
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
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Table is the name of the state table; TableVersion its schema version.
const (
	Table        = "counts"
	TableVersion = 1
)

// StalledPrefix starts the line the child prints when it holds its
// transaction open (-stall).
const StalledPrefix = "outagejob: stalled "

type config struct {
	brokers, topics, out, job, state, stall string
	interval, txnTimeout, sessionTimeout    time.Duration
	verbose                                 bool
}

func main() {
	var c config
	flag.StringVar(&c.brokers, "brokers", "", "Kafka bootstrap addresses, comma-separated (required)")
	flag.StringVar(&c.topics, "topics", "in", "input topics, comma-separated (co-partitioned)")
	flag.StringVar(&c.out, "out", "out", "output topic")
	flag.StringVar(&c.job, "job", "outagejob", "job name (checkpoint namespace, transactional IDs, group)")
	flag.StringVar(&c.state, "state", "", "checkpoint directory (required)")
	flag.StringVar(&c.stall, "stall", "", "value of the record at which to hold the transaction open and block")
	flag.DurationVar(&c.interval, "interval", 300*time.Millisecond, "checkpoint interval")
	flag.DurationVar(&c.txnTimeout, "txn-timeout", streamkit.DefaultTransactionTimeout, "transaction timeout the producer asks for")
	flag.DurationVar(&c.sessionTimeout, "session-timeout", 6*time.Second, "consumer group session timeout")
	flag.BoolVar(&c.verbose, "v", false, "log at info level (default: warnings)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "outagejob:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.brokers == "" || c.state == "" {
		return errors.New("-brokers and -state are required")
	}
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	brokers := strings.Split(c.brokers, ",")

	kcfg := sarama.NewConfig()
	kcfg.Version = sarama.V3_6_0_0
	kcfg.ClientID = "outagejob"
	kcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	kcfg.Consumer.IsolationLevel = sarama.ReadCommitted
	kcfg.Consumer.MaxWaitTime = 25 * time.Millisecond
	kcfg.Consumer.Group.Session.Timeout = c.sessionTimeout
	kcfg.Consumer.Group.Heartbeat.Interval = c.sessionTimeout / 3
	kcfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	kcfg.Producer.Retry.Backoff = 50 * time.Millisecond

	in := streamkit.Input{Brokers: brokers, Topics: strings.Split(c.topics, ","),
		Options: []source.Option{source.WithBaseConfig(kcfg)}}
	outputs := streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: brokers, Sarama: kcfg,
		Options: []streamkit.KafkaOption{streamkit.WithTransactionTimeout(c.txnTimeout)}})
	newProcessor := func(_ streamkit.TaskInfo, out *streamkit.KafkaOutput) (streamkit.Processor, error) {
		return &counter{out: out, topic: c.out, stall: c.stall, counts: checkpoint.NewTable[string, int64](Table, TableVersion)}, nil
	}
	job, err := streamkit.NewJob(c.job, in, outputs, newProcessor,
		streamkit.WithCheckpointStore(checkpoint.NewFileStore(c.state)),
		streamkit.WithCheckpointInterval(c.interval),
		streamkit.WithLogger(log))
	if err != nil {
		return err
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- job.Run(context.Background()) }()
	fmt.Fprintf(os.Stderr, "outagejob: pid %d running job %q\n", os.Getpid(), c.job)
	select {
	case err := <-done:
		return fmt.Errorf("job ended without a stop: %w", err)
	case sig := <-sigs:
		fmt.Fprintf(os.Stderr, "outagejob: %v: stopping\n", sig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := job.Stop(ctx); err != nil && !errors.Is(err, streamkit.ErrNotRunning) {
		return fmt.Errorf("stop: %w", err)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("run after stop: %w", err)
	}
	s := job.Stats()
	fmt.Fprintf(os.Stderr, "outagejob: stopped cleanly: processed=%d checkpoints=%d restarts=%d\n",
		s.Processed, s.Checkpoints, s.Restarts)
	return nil
}

// counter counts records per key and writes "key=count" for each.
type counter struct {
	out    *streamkit.KafkaOutput
	topic  string
	stall  string
	counts *checkpoint.Table[string, int64]
}

func (c *counter) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{c.counts} }

func (c *counter) Process(ctx context.Context, rec *source.Record) error {
	if len(rec.Key) == 0 {
		return streamkit.Stage("decode", errors.New("outagejob: record without a key"))
	}
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
		if err := c.out.Flush(ctx); err != nil {
			return err
		}
		fmt.Fprintf(os.Stdout, "%s%s\n", StalledPrefix, v)
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}
