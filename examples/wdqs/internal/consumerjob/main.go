// Command consumerjob is the per-replica WDQS consumer that the consumer
// kill tests of package wdqs (consumer_kill_test.go) run as a child
// process and SIGKILLs at random moments. It is assembled only from the
// module's public API, as a user's consumer would be:
//
//	mutation topic (rdf_change events) → consumer.RDFConsumer (decode, reassemble
//	chunks, incomplete events in checkpointed state) → sparql.SPARQL (accumulate,
//	apply with the commit point in the same update request) → a SPARQL store
//
// with FileStore checkpoints in the directory given by -state. The data goes
// to the named graph -data-graph and the commit points to -commit-graph, so
// that a shared store keeps tests apart; -dialect selects the store's
// quirks (with blazegraph, whose WDQS-like namespace is in triples mode, both
// graph flags stay empty and each test uses a namespace of its own).
//
// -pause widens the windows in which a kill lands: with it, the job sleeps a
// random time up to the given duration, at random, while processing a record,
// while writing checkpoint objects, and just before and just after the
// store commit.
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
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/childjob"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

type config struct {
	brokers, topic, job, group, state string
	endpoint, dataGraph, commitGraph  string
	dialect                           string
	interval, pause, sessionTimeout   time.Duration
	heartbeat, rebalance, stopTimeout time.Duration
	maxFailures                       int
	seed                              uint64
	verbose                           bool
}

func main() {
	var c config
	flag.StringVar(&c.brokers, "brokers", "", "Kafka bootstrap addresses, comma-separated (required)")
	flag.StringVar(&c.topic, "topic", "mutation", "the rdf_change mutation topic")
	flag.StringVar(&c.job, "job", "consumerjob", "job name (checkpoint namespace, commit-point job)")
	flag.StringVar(&c.group, "group", "", "consumer group (default: the job name)")
	flag.StringVar(&c.state, "state", "", "checkpoint directory (required)")
	flag.StringVar(&c.endpoint, "sparql", "", "SPARQL 1.1 endpoint of the store, e.g. http://127.0.0.1:7878/sparql (required)")
	flag.StringVar(&c.dataGraph, "data-graph", "", "named graph of the data (empty: the default graph)")
	flag.StringVar(&c.commitGraph, "commit-graph", "", "named graph of the commit points (empty: the data graph)")
	flag.StringVar(&c.dialect, "dialect", "oxigraph", "the store's dialect: oxigraph, blazegraph, virtuoso or generic")
	flag.DurationVar(&c.interval, "interval", 200*time.Millisecond, "checkpoint interval")
	flag.DurationVar(&c.pause, "pause", 0, "longest random pause injected into processing, snapshot and commit (0: none)")
	flag.DurationVar(&c.sessionTimeout, "session-timeout", 10*time.Second, "consumer group session timeout")
	flag.DurationVar(&c.heartbeat, "heartbeat", 3*time.Second, "consumer group heartbeat interval")
	flag.DurationVar(&c.rebalance, "rebalance-timeout", time.Minute, "consumer group rebalance timeout")
	flag.DurationVar(&c.stopTimeout, "stop-timeout", time.Minute, "how long a clean stop may take")
	flag.IntVar(&c.maxFailures, "max-failures", streamkit.DefaultMaxCheckpointFailures, "consecutive checkpoint failures tolerated")
	flag.Uint64Var(&c.seed, "seed", 0, "seed of the injected pauses (0: random)")
	flag.BoolVar(&c.verbose, "v", false, "log at info level (default: warnings)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "consumerjob:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.brokers == "" || c.state == "" || c.endpoint == "" {
		return errors.New("-brokers, -state and -sparql are required")
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
	dialect, err := consumer.ParseDialect(c.dialect)
	if err != nil {
		return err
	}

	kcfg := sarama.NewConfig()
	kcfg.Version = sarama.V3_6_0_0
	kcfg.ClientID = "consumerjob"
	kcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	kcfg.Consumer.IsolationLevel = sarama.ReadCommitted
	kcfg.Consumer.MaxWaitTime = 25 * time.Millisecond
	kcfg.Consumer.Group.Session.Timeout = c.sessionTimeout
	kcfg.Consumer.Group.Heartbeat.Interval = c.heartbeat
	kcfg.Consumer.Group.Rebalance.Timeout = c.rebalance
	kcfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	kcfg.Metadata.Retry.Backoff = 100 * time.Millisecond

	client, err := sparql.NewClient(c.endpoint, sparql.WithRequestTimeout(30*time.Second),
		sparql.WithRetryPolicy(sparql.RetryPolicy{MaxAttempts: 4, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}))
	if err != nil {
		return err
	}
	var bopts []sparql.Option
	if c.dataGraph != "" {
		bopts = append(bopts, sparql.WithDataGraph(c.dataGraph))
	}
	if c.commitGraph != "" {
		bopts = append(bopts, sparql.WithCommitGraph(c.commitGraph))
	}
	builder, err := sparql.NewUpdateBuilder(rdfdiff.WikidataScheme(), bopts...)
	if err != nil {
		return err
	}

	store := &childjob.PausingStore{Store: checkpoint.NewFileStore(c.state), Pauser: p}
	in := streamkit.Input{Brokers: brokers, Topics: []string{c.topic}, Group: c.group,
		Options: []source.Option{source.WithBaseConfig(kcfg)}}
	newOutput := func(_ context.Context, info streamkit.TaskInfo) (streamkit.Output, sparql.Writer, error) {
		s, err := sparql.NewSPARQL(client, builder, sparql.WithDialect(dialect), sparql.WithSPARQLLogger(info.Logger))
		if err != nil {
			return nil, sparql.Writer{}, err
		}
		return &pausingOutput{SPARQL: s, p: p}, s.Writer(), nil
	}
	var consumers sync.Map // task → *consumer.RDFConsumer, for the checkpoint log
	newProcessor := func(info streamkit.TaskInfo, out sparql.Writer) (streamkit.Processor, error) {
		rc, err := consumer.NewRDFConsumer(out, consumer.WithConsumerLogger(info.Logger))
		if err != nil {
			return nil, err
		}
		consumers.Store(info.Task, rc)
		return &pausingProcessor{RDFConsumer: rc, p: p}, nil
	}
	job, err := streamkit.NewJob(c.job, in, newOutput, newProcessor,
		streamkit.WithCheckpointStore(store),
		streamkit.WithCheckpointInterval(c.interval),
		streamkit.WithMaxCheckpointFailures(c.maxFailures),
		streamkit.WithOnCheckpoint(func(ev streamkit.CheckpointEvent) {
			// For the kill test: which runs got as far as a commit.
			if ev.Err != nil {
				return
			}
			pending := 0
			if rc, ok := consumers.Load(ev.Task); ok {
				pending = rc.(*consumer.RDFConsumer).Pending()
			}
			fmt.Fprintf(os.Stderr, "consumerjob: committed checkpoint %d of task %d (%d records, %d pending chunks)\n",
				ev.CheckpointID, ev.Task, ev.Records, pending)
		}),
		streamkit.WithLogger(log))
	if err != nil {
		return err
	}

	return childjob.RunUntilSignal("consumerjob", job, job.Run, c.stopTimeout, fmt.Sprintf(" (pause seed %d)", c.seed))
}

// pausingProcessor pauses now and then while processing a record.
type pausingProcessor struct {
	*consumer.RDFConsumer
	p *childjob.Pauser
}

func (pp *pausingProcessor) Process(ctx context.Context, rec *source.Record) error {
	pp.p.Maybe(ctx, 200)
	return pp.RDFConsumer.Process(ctx, rec)
}

// pausingOutput pauses around the store commit of a SPARQL sink.
type pausingOutput struct {
	*sparql.SPARQL
	p *childjob.Pauser
}

func (o *pausingOutput) Commit(ctx context.Context, cp *streamkit.CommitPoint) error {
	o.p.Maybe(ctx, 4)
	err := o.SPARQL.Commit(ctx, cp)
	o.p.Maybe(ctx, 4)
	return err
}
