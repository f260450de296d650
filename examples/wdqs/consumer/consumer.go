// Package consumer is the WDQS per-replica consumer assembled from
// streamkit's public API, as a library: command wdqs-consumer is a thin flag
// parser over it, and the quickstart runs it in-process.
//
// It reads the rdf_change mutation topic, reassembles chunked events
// (RDFConsumer), merges each checkpoint's changes with WDQS's rules and
// writes them into one SPARQL store (sparql.SPARQL: Blazegraph, Oxigraph,
// Virtuoso, any SPARQL 1.1 store) or an in-memory graph (graph.GraphOutput).
// The source positions are written into the store in the same update request
// as the data, so on an atomic store the consumer is exactly once: a restarted
// consumer resumes from the positions the store holds, whatever Kafka's
// consumer group says. The chunks of an event not yet complete are the only
// state, checkpointed in the checkpoint store so that an event split across a
// checkpoint is neither lost nor applied twice.
//
// Bad input (undecodable records, broken chunk sequences, changes the store
// rejects) goes to the dead-letter topic when one is configured. Dead letters
// are sent synchronously to Kafka as they happen, before the store commit
// that moves past them: they are at-least-once (a checkpoint that fails and
// is redone dead-letters its records again), never lost.
package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Defaults of Config.
const (
	// DefaultJobName names the job: its checkpoint namespace and the job
	// node of its commit point in the store.
	DefaultJobName = "wdqs-consumer"
	// DefaultLagMarker is the subject of the batch's average event time
	// (schema:dateModified) that the WDQS UI and WMF monitoring read; it is
	// hard-coded in WDQS (RdfRepositoryUpdater's avgEventTime.sparql).
	DefaultLagMarker = "http://www.wikidata.org"
)

// ErrInvalidConfig is matched by every error New returns for a
// configuration that cannot work.
var ErrInvalidConfig = errors.New("consumer: invalid configuration")

// Config configures the consumer. Brokers, Topics, CheckpointStore and one of
// StoreURL or Graph are required.
type Config struct {
	// JobName names the job (default DefaultJobName): the namespace of its
	// checkpoints and the job of its commit point in the store. A replica
	// cloned from another keeps the job name (see the package README).
	JobName string
	// Brokers are the Kafka bootstrap addresses; Topics the mutation topics
	// (co-partitioned; WDQS has one, with one partition).
	Brokers []string
	Topics  []string
	// Group is the consumer group (default the job name). WDQS uses the
	// host name: every replica must have its own group, since every replica
	// reads the whole topic. Its offsets are not the commit point (the
	// store is), so they matter only for partition assignment.
	Group string
	// Sarama is the base configuration of the Kafka clients (TLS, SASL,
	// version); nil for sarama's defaults.
	Sarama *sarama.Config
	// Start is where partitions without a commit point in the store start
	// (default earliest); WDQS's --initialOffsets.
	Start *source.StartPosition

	// StoreURL is the SPARQL endpoint (query URL) of the store;
	// UpdateURL its update endpoint when different. Dialect selects the
	// store's quirks. Mutually exclusive with Graph.
	StoreURL, UpdateURL string
	Dialect             sparql.Dialect
	// StoreUser and StorePassword are HTTP basic credentials, if any.
	StoreUser, StorePassword string
	// DataGraph and CommitGraph name the graphs of the data and of the
	// commit point (default: the default graph; Virtuoso needs a data
	// graph). A separate commit graph keeps the positions out of dumps.
	DataGraph, CommitGraph string
	// LagMarker is the subject of the batch's average event time (default
	// DefaultLagMarker; "-" writes none).
	LagMarker string
	// OrphanCleanup makes every update request also delete the value and
	// reference nodes, sitelink blocks and sites its batch left without a
	// reference, so that the store equals a fresh import of the latest
	// revisions (sparql.WithUpdateOrphanCleanup). WDQS keeps them; off by
	// default, as there. It does not apply to Graph (see
	// graph.WithOrphanCleanup).
	OrphanCleanup bool
	// Limits bound each update request (zero fields: the dialect's
	// defaults); Limits.TargetTriples is WDQS's --batchSize.
	Limits sparql.BatchLimits
	// RequestTimeout bounds one HTTP request to the store (default: the
	// client's).
	RequestTimeout time.Duration

	// Graph, when set, is the in-memory store written instead of a SPARQL
	// store (the quickstart, tests). It holds one commit point, so the
	// input must have one partition.
	Graph *graph.Graph
	// GraphTarget is the accumulated weight at which a Graph output asks
	// for an early checkpoint (default graph.DefaultGraphOutputTarget).
	GraphTarget int

	// Scheme is the Wikibase URI scheme of the entities (default
	// rdfdiff.WikidataScheme).
	Scheme *rdfdiff.URIScheme
	// EntityFilter keeps only the entities it matches (WDQS's
	// --entityFilter); KeepCanary applies events of the "canary" domain,
	// which are dropped by default.
	EntityFilter *regexp.Regexp
	KeepCanary   bool

	// DeadLetterTopic receives records that cannot be applied, with their
	// provenance; without it such a record stops the job.
	// DeadLetterBrokers is its cluster (default Brokers).
	DeadLetterTopic   string
	DeadLetterBrokers []string

	// CheckpointStore keeps the incomplete events; CheckpointInterval is
	// how often the store is written (default
	// streamkit.DefaultCheckpointInterval; a full batch commits earlier).
	CheckpointStore    checkpoint.Store
	CheckpointInterval time.Duration
	// RestoreFromSavepoint starts once from that savepoint (see
	// streamkit.WithRestoreFromSavepoint). The store's commit point must
	// then match the savepoint's positions: restore the store's data from
	// the same moment.
	RestoreFromSavepoint string

	// Logger is the job's logger (default slog.Default()).
	Logger *slog.Logger
	// JobOptions and SourceOptions are appended to what New builds (a
	// sidecar's hooks, a test's clock).
	JobOptions    []streamkit.Option
	SourceOptions []source.Option
}

// withDefaults checks cfg and fills its defaults.
func (cfg Config) withDefaults() (*Config, error) {
	c := cfg
	if c.JobName == "" {
		c.JobName = DefaultJobName
	}
	if len(c.Brokers) == 0 {
		return nil, fmt.Errorf("%w: no brokers", ErrInvalidConfig)
	}
	if len(c.Topics) == 0 {
		return nil, fmt.Errorf("%w: no topics", ErrInvalidConfig)
	}
	switch {
	case c.StoreURL == "" && c.Graph == nil:
		return nil, fmt.Errorf("%w: a store URL or a Graph is required", ErrInvalidConfig)
	case c.StoreURL != "" && c.Graph != nil:
		return nil, fmt.Errorf("%w: a store URL and a Graph are exclusive", ErrInvalidConfig)
	case c.Graph == nil && c.UpdateURL == "":
		c.UpdateURL = c.StoreURL
	}
	if c.Graph == nil {
		if _, err := sparql.NewClient(c.StoreURL); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if _, err := sparql.NewClient(c.UpdateURL); err != nil {
			return nil, fmt.Errorf("%w: update URL: %w", ErrInvalidConfig, err)
		}
	}
	if c.CheckpointStore == nil {
		return nil, fmt.Errorf("%w: a checkpoint store is required (it keeps incomplete events)", ErrInvalidConfig)
	}
	if c.Dialect < sparql.DialectSPARQL11 || c.Dialect > sparql.DialectVirtuoso {
		return nil, fmt.Errorf("%w: unknown dialect %d", ErrInvalidConfig, c.Dialect)
	}
	if c.Dialect == sparql.DialectVirtuoso && c.DataGraph == "" && c.Graph == nil {
		return nil, fmt.Errorf("%w: Virtuoso needs a data graph", ErrInvalidConfig)
	}
	if c.Scheme == nil {
		s := rdfdiff.WikidataScheme()
		c.Scheme = &s
	}
	switch c.LagMarker {
	case "":
		c.LagMarker = DefaultLagMarker
	case "-":
		c.LagMarker = ""
	}
	if len(c.DeadLetterBrokers) == 0 {
		c.DeadLetterBrokers = c.Brokers
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &c, nil
}

// ParseDialect returns the dialect named s: "blazegraph", "oxigraph" (a
// SPARQL 1.1 store that applies requests atomically), "virtuoso" or
// "generic" (the same as oxigraph).
func ParseDialect(s string) (sparql.Dialect, error) {
	switch s {
	case "blazegraph":
		return sparql.DialectBlazegraph, nil
	case "oxigraph", "generic", "sparql11":
		return sparql.DialectSPARQL11, nil
	case "virtuoso":
		return sparql.DialectVirtuoso, nil
	}
	return 0, fmt.Errorf("%w: dialect %q is not blazegraph, oxigraph, virtuoso or generic", ErrInvalidConfig, s)
}

// EventTime is the source's event-time extractor for rdf_change records:
// the event's root dt (the edit time), which the sidecar's edit-latency SLO
// measures from. A record without one gets the zero time (unknown).
func EventTime(r *source.Record) time.Time {
	var ev struct {
		DT string `json:"dt"`
	}
	if json.Unmarshal(r.Value, &ev) != nil || ev.DT == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, ev.DT)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Consumer is one consumer job and the dead-letter producer it writes
// through. Create it with New, run it with Run, and stop it through Job
// (Stop, StopWithSavepoint) or by cancelling Run's context.
type Consumer struct {
	job *streamkit.Job
	dl  *streamkit.KafkaSender

	mu        sync.Mutex
	graphOuts []*graph.GraphOutput
}

// New returns the consumer for cfg. It does no I/O.
func New(cfg Config) (*Consumer, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var dl *streamkit.KafkaSender
	if c.DeadLetterTopic != "" {
		if dl, err = streamkit.NewKafkaSender(c.DeadLetterBrokers, c.Sarama); err != nil {
			return nil, fmt.Errorf("%w: dead letters: %w", ErrInvalidConfig, err)
		}
	}
	srcOpts := []source.Option{source.WithEventTime(EventTime), source.WithLogger(c.Logger)}
	if c.Sarama != nil {
		srcOpts = append(srcOpts, source.WithBaseConfig(c.Sarama))
	}
	if c.Start != nil {
		srcOpts = append(srcOpts, source.WithStartPosition(*c.Start))
	}
	in := streamkit.Input{Brokers: c.Brokers, Topics: c.Topics, Group: c.Group,
		Options: append(srcOpts, c.SourceOptions...)}
	opts := []streamkit.Option{
		streamkit.WithCheckpointStore(c.CheckpointStore),
		streamkit.WithLogger(c.Logger),
	}
	if c.CheckpointInterval > 0 {
		opts = append(opts, streamkit.WithCheckpointInterval(c.CheckpointInterval))
	}
	if c.DeadLetterTopic != "" {
		opts = append(opts, streamkit.WithDeadLetterTopic(c.DeadLetterTopic))
	}
	if c.RestoreFromSavepoint != "" {
		opts = append(opts, streamkit.WithRestoreFromSavepoint(c.RestoreFromSavepoint))
	}
	opts = append(opts, c.JobOptions...)

	cons := &Consumer{dl: dl}
	var job *streamkit.Job
	if c.Graph != nil {
		job, err = streamkit.NewJob(c.JobName, in,
			func(_ context.Context, info streamkit.TaskInfo) (streamkit.Output, graph.Writer, error) {
				if info.Task != 0 {
					return nil, graph.Writer{}, fmt.Errorf("%w: an in-memory graph holds the commit point of one task; task %d has none", ErrInvalidConfig, info.Task)
				}
				// The graph refuses what the configured store would.
				gopts := []graph.Option{graph.WithChangeCheck(c.Dialect.CheckChange)}
				if c.GraphTarget != 0 {
					gopts = append(gopts, graph.WithGraphOutputTarget(c.GraphTarget))
				}
				out, err := graph.NewGraphOutput(c.Graph, gopts...)
				if err != nil {
					return nil, graph.Writer{}, err
				}
				cons.mu.Lock()
				cons.graphOuts = append(cons.graphOuts, out)
				cons.mu.Unlock()
				return out, out.Writer(), nil
			},
			func(info streamkit.TaskInfo, out graph.Writer) (streamkit.Processor, error) {
				return c.newProcessor(info, out)
			}, opts...)
	} else {
		job, err = streamkit.NewJob(c.JobName, in,
			func(_ context.Context, info streamkit.TaskInfo) (streamkit.Output, taskWriter, error) {
				out, err := c.newOutput(info, dl)
				if err != nil {
					return nil, taskWriter{}, err
				}
				return out, taskWriter{Writer: out.SPARQL.Writer(), dl: out}, nil
			},
			func(info streamkit.TaskInfo, out taskWriter) (streamkit.Processor, error) {
				return c.newProcessor(info, out)
			}, opts...)
	}
	if err != nil {
		if dl != nil {
			_ = dl.Close()
		}
		if errors.Is(err, streamkit.ErrInvalidJob) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		return nil, err
	}
	cons.job = job
	return cons, nil
}

// DeadLetters returns the dead letters committed into an in-memory graph's
// outputs (Config.Graph), in order. With a SPARQL store they are in the
// dead-letter topic instead, and DeadLetters returns nil.
func (c *Consumer) DeadLetters() []streamkit.KafkaRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []streamkit.KafkaRecord
	for _, o := range c.graphOuts {
		out = append(out, o.DeadLetters()...)
	}
	return out
}

// Job returns the job, for a sidecar and for Stop and StopWithSavepoint.
func (c *Consumer) Job() *streamkit.Job { return c.job }

// Run runs the job (see streamkit.Job.Run) and then closes the dead-letter
// producer: a Consumer runs once.
func (c *Consumer) Run(ctx context.Context) error {
	err := c.job.Run(ctx)
	if c.dl != nil {
		if cerr := c.dl.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("consumer: closing the dead-letter producer: %w", cerr)
		}
	}
	return err
}

// newProcessor returns the task's RDFConsumer, dead-lettering the earlier
// chunks of broken events through the task's dead-letter writer (counted in
// the job's Stats like the runner's own) when a dead-letter topic is set.
func (c *Config) newProcessor(info streamkit.TaskInfo, out ChangeWriter) (*RDFConsumer, error) {
	log := info.Logger
	if log == nil {
		log = c.Logger
	}
	opts := []RDFConsumerOption{WithConsumerLogger(log), WithCanaryEvents(c.KeepCanary)}
	if c.EntityFilter != nil {
		opts = append(opts, WithEntityFilter(c.EntityFilter))
	}
	if c.DeadLetterTopic != "" {
		opts = append(opts, WithConsumerDeadLetter(info.DeadLetters))
	}
	return NewRDFConsumer(out, opts...)
}

// newOutput returns the task's SPARQL output.
func (c *Config) newOutput(info streamkit.TaskInfo, dl *streamkit.KafkaSender) (*Output, error) {
	var copts []sparql.Option
	if c.UpdateURL != c.StoreURL {
		copts = append(copts, sparql.WithUpdateEndpoint(c.UpdateURL))
	}
	if c.StoreUser != "" {
		copts = append(copts, sparql.WithBasicAuth(c.StoreUser, c.StorePassword))
	}
	if c.RequestTimeout > 0 {
		copts = append(copts, sparql.WithRequestTimeout(c.RequestTimeout))
	}
	client, err := sparql.NewClient(c.StoreURL, copts...)
	if err != nil {
		return nil, err
	}
	var bopts []sparql.Option
	if c.DataGraph != "" {
		bopts = append(bopts, sparql.WithDataGraph(c.DataGraph))
	}
	if c.CommitGraph != "" {
		bopts = append(bopts, sparql.WithCommitGraph(c.CommitGraph))
	}
	if c.LagMarker != "" {
		bopts = append(bopts, sparql.WithUpdateLagMarker(c.LagMarker))
	}
	if c.OrphanCleanup {
		bopts = append(bopts, sparql.WithUpdateOrphanCleanup())
	}
	b, err := sparql.NewUpdateBuilder(*c.Scheme, bopts...)
	if err != nil {
		return nil, err
	}
	log := info.Logger
	if log == nil {
		log = c.Logger
	}
	sopts := []sparql.Option{sparql.WithDialect(c.Dialect), sparql.WithBatchLimits(c.Limits), sparql.WithSPARQLLogger(log)}
	o := &Output{}
	if dl != nil {
		// The job dead-letters through o (its Send), and changes the store
		// refuses go through the task's writer, so that the job's Stats
		// count them like every other dead letter.
		o.dl = dl
		sopts = append(sopts, sparql.WithRejectedHandler(sparql.DeadLetterRejected(info.DeadLetters)))
	}
	if o.SPARQL, err = sparql.NewSPARQL(client, b, sopts...); err != nil {
		return nil, err
	}
	return o, nil
}

// Run runs the consumer until ctx is done or the job fails; it is New
// followed by Consumer.Run.
func Run(ctx context.Context, cfg Config) error {
	c, err := New(cfg)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}
