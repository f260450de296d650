// Package updater is the WDQS Streaming Updater producer assembled from
// streamkit's public API, as a library: command wdqs-updater is a thin flag
// parser over it, and the quickstart runs it in-process.
//
// Per task (one per input partition; the MediaWiki topics have one, see
// NewRepartitionJob to scale out) it decodes and filters the input events
// (Filter.Decode), puts each entity's events back in revision order in a
// streamkit.ReorderBuffer (late events go to the lapsed-action side output;
// in-order edits skip it, as in WDQS),
// applies the WDQS decision table (Decide; ignored events go to the
// state-inconsistency side output), fetches the revisions' RDF from
// Special:EntityData (Fetcher), munges, diffs and chunks it with package
// rdfdiff, and writes rdf_change v2 events and the side outputs through the
// task's KafkaOutput, exactly once. Unlike WDQS, a failed fetch leaves the
// entity's state where it was (see Processor). With Config.Subgraphs
// (LoadSubgraphDefinitions) the output is split by subgraph as in WDQS:
// SubgraphAssigner decides an entity's subgraphs from its munged triples
// and SubgraphDiff fans each operation out to the subgraphs' topics. With
// Config.ValidateInput every page_change event is first checked against its
// Event Platform schema (Validator, embedded, never fetched); one that does
// not match is dead-lettered with the failing value's JSON pointer.
package updater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// ErrInvalidConfig is matched by every error NewJob returns for a
// configuration that cannot work.
var ErrInvalidConfig = errors.New("updater: invalid configuration")

// OutputPartitionPerTask as Config.OutputPartition writes the events of
// task p to partition p of the output topic (which needs at least as many
// partitions as the job has tasks).
const OutputPartitionPerTask int32 = -1

// Defaults of Config, those of the WDQS producer (UpdaterConfig.scala)
// unless said otherwise.
const (
	DefaultJobName               = "wdqs-updater"
	DefaultOutputStream          = "rdf-streaming-updater.mutation"
	DefaultReorderWindow         = 60 * time.Second
	DefaultMaxLateness           = 60 * time.Second
	DefaultIdleTimeout           = 60 * time.Second
	DefaultAcceptableLag         = 10 * time.Second
	DefaultHTTPTimeout           = 5 * time.Second
	DefaultFetchAttempts         = 4
	DefaultFetchRetryDelay       = time.Second
	DefaultMaxConcurrentRequests = 10
	// DefaultRevisionCacheBytes bounds the cache of munged revisions (not
	// a WDQS setting: WDQS fetches both revisions of every diff).
	DefaultRevisionCacheBytes = 128 << 20
	DefaultUserAgent          = "streamkit-wdqs-updater/1.0 (https://gitlab.wikimedia.org/repos/search-platform/streamkit)"
)

// Config configures the updater. Brokers, Topics, Filter.Hostname,
// EntityDataURL, OutputTopic and CheckpointStore are required; every zero
// duration or count takes its Default.
type Config struct {
	// JobName names the job: its consumer group (unless Group), checkpoint
	// namespace and transactional IDs. Default DefaultJobName.
	JobName string
	// Brokers are the input cluster; OutputBrokers the output cluster
	// (default Brokers).
	Brokers, OutputBrokers []string
	// Topics are the input topics, co-partitioned: e.g.
	// eqiad.mediawiki.page_change.v1, codfw.mediawiki.page_change.v1 and
	// eqiad.rdf-streaming-updater.reconcile, or the legacy
	// <dc>.mediawiki.revision-create, page-delete, page-undelete and
	// page-suppress topics, or a repartitioned topic (NewRepartitionJob).
	// <dc>.mediawiki.page-properties-change events are recognised and
	// dropped (Metrics.PropertiesChanges). An event is read by its own
	// schema ($schema, else the legacy meta.schema_uri) before its topic's
	// name; when both name a kind of event and disagree, the record is
	// dead-lettered with ErrSchemaTopicMismatch, its topic, partition,
	// offset and both names.
	Topics []string
	// Group is the consumer group; default the job name.
	Group string
	// Sarama is the base configuration of every Kafka client (TLS, SASL,
	// version); nil for sarama's defaults.
	Sarama *sarama.Config
	// Start is where partitions without a commit point start (default
	// earliest); kafka_topics_start_timestamp is StartAtTimestamp.
	Start *source.StartPosition

	// Filter selects the events (wiki, namespaces, content models,
	// reconciliation source).
	Filter Filter
	// ValidateInput validates every page_change event of the wiki against
	// its embedded Event Platform schema (see Filter.Validator): one that
	// does not match is dead-lettered (DeadLetterTopic) as undecodable.
	// NewJob compiles the schemas once, unless Filter.Validator is set.
	ValidateInput bool
	// Scheme is the Wikibase URI scheme of the munger (default
	// rdfdiff.WikidataScheme).
	Scheme *rdfdiff.URIScheme
	// MungerOptions are passed to the munger after the scheme (WDQS's
	// label options: rdfdiff.MungeLabelLanguages, rdfdiff.MungeSingleLabel).
	MungerOptions []rdfdiff.MungerOption
	// EntityDataURL is the Special:EntityData prefix the entity ID and
	// ".ttl?flavor=dump&revision=N" are appended to, e.g.
	// https://www.wikidata.org/wiki/Special:EntityData/.
	EntityDataURL string
	// HTTPClient does the fetches (default a client that keeps up to
	// MaxConcurrentRequests idle connections to the host); UserAgent is
	// sent with them (default DefaultUserAgent).
	HTTPClient *http.Client
	UserAgent  string
	// HTTPTimeout bounds one request; FetchAttempts and FetchRetryDelay
	// retry transport errors, 5xx and 429; AcceptableLag is how long a 404
	// of a new revision is retried after its edit (replica lag).
	HTTPTimeout     time.Duration
	FetchAttempts   int
	FetchRetryDelay time.Duration
	AcceptableLag   time.Duration
	// MaxConcurrentRequests bounds the requests in flight to MediaWiki from
	// this process (mediawiki_max_concurrent_requests).
	MaxConcurrentRequests int
	// RevisionCacheBytes bounds (by an estimate of their memory) the
	// munged triples kept of the revisions fetched last, least recently
	// used first out: a diff whose old revision is one this process just
	// fetched as the new revision of the entity's previous edit takes it
	// from there instead of fetching, parsing and munging it again. Only
	// successful fetches are kept (a revision's content never changes).
	// Default DefaultRevisionCacheBytes; negative turns the cache off.
	RevisionCacheBytes int64

	// ReorderWindow is how long an event is held for re-ordering
	// (reordering_window_length); MaxLateness how far the watermark trails
	// the newest event time (max_lateness); IdleTimeout after how long
	// without records a partition stops holding the watermark back
	// (input_idleness). Only event time moves the watermark, as in Flink:
	// the last events of a finite stream (a quickstart, a test) stay
	// buffered until an event dated ReorderWindow + MaxLateness after them
	// arrives; an event of another wiki does it (it is filtered out but
	// still moves the watermark).
	ReorderWindow, MaxLateness, IdleTimeout time.Duration
	// MaxBuffered bounds the events held for re-ordering per task (default
	// streamkit.DefaultReorderMaxBuffered).
	MaxBuffered int

	// OutputTopic receives the rdf_change v2 events, all in
	// OutputPartition (one partition keeps per-entity order, as in WDQS),
	// or, with OutputPartitionPerTask, task p's in partition p. A job of
	// several tasks (a repartitioned input) needs the latter: tasks commit
	// their own transactions, so two tasks writing one partition would
	// interleave the chunks of their events, which consumers reject (a
	// task other than 0 refuses to start with a fixed partition).
	OutputTopic     string
	OutputPartition int32
	// OutputStream is the events' meta.stream (default
	// DefaultOutputStream); Domain their meta.domain (default
	// Filter.Hostname).
	OutputStream string
	// SoftMaxChars is the chunking soft limit (default
	// rdfdiff.DefaultSoftMaxChars).
	SoftMaxChars int

	// Subgraphs, when set, splits the output by subgraph (the WDQS graph
	// split, LoadSubgraphDefinitions): every operation is
	// fanned out to each subgraph's stream (see SubgraphDiff), and each
	// entity's membership is checkpointed in a table of its own (so
	// savepoints from before the split restore; an entity without a record
	// takes its previous revision's membership). It must have a full graph
	// (no subgraph_uri), whose events replace the main output: its stream
	// is their meta.stream, OutputStream is not used. Nil keeps one
	// output. The
	// table's name follows the subgraphs' names and order: definitions
	// that add, remove, rename or reorder subgraphs start with an empty
	// table (the old one is dropped at restore). Turning the split off
	// again needs one restore with
	// streamkit.WithRestoreOptions(checkpoint.AllowDroppedState()) in
	// JobOptions, or the restore fails naming the table.
	Subgraphs *SubgraphDefinitions
	// SubgraphTopics maps each subgraph's stream to its topic
	// (subgraph_kafka_topics); the full graph's stream may be left out, it
	// then goes to OutputTopic. Every subgraph topic is written in the same
	// partition as OutputTopic (see OutputPartition).
	SubgraphTopics map[string]string
	// The side-output topics; an empty one drops that side output
	// (produce_side_outputs=false), with a log line per event.
	LapsedActionTopic, StateInconsistencyTopic, FetchFailureTopic string
	// SideOutputsDomain is the side outputs' meta.domain (default
	// Filter.Hostname); EmitterID their emitter_id.
	SideOutputsDomain, EmitterID string
	// DeadLetterTopic receives records that cannot be decoded; without it
	// such a record stops the job.
	DeadLetterTopic string

	// CheckpointStore keeps the state (checkpoint.FileStore,
	// checkpoint.SwiftStore); CheckpointInterval is how often (default
	// streamkit.DefaultCheckpointInterval), and the output latency.
	CheckpointStore    checkpoint.Store
	CheckpointInterval time.Duration
	// RestoreFromSavepoint starts from that savepoint (once; see
	// streamkit.WithRestoreFromSavepoint).
	RestoreFromSavepoint string

	// Logger is the job's logger (default slog.Default()).
	Logger *slog.Logger
	// Metrics, when set, is updated as the job runs (shared by its tasks).
	Metrics *Metrics
	// JobOptions and SourceOptions are appended to what NewJob builds
	// (checkpoint hooks for a sidecar, a source clock in tests).
	JobOptions    []streamkit.Option
	SourceOptions []source.Option
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time

	// subgraphTopics is the topic of each subgraph, by index.
	subgraphTopics []string
}

// Metrics counts what the updater did, for a progress display or a
// summary. Counters are cumulative, across restarts (events reprocessed
// after a restart count again).
type Metrics struct {
	// Events counts input events accepted by the filter; Filtered those it
	// dropped.
	Events, Filtered atomic.Int64
	// PropertiesChanges counts the page-properties-change events among the
	// filtered ones: recognised, and dropped because page properties are
	// not part of an entity's RDF.
	PropertiesChanges atomic.Int64
	// Late, Inconsistent and FetchFailures count side-output events.
	Late, Inconsistent, FetchFailures atomic.Int64
	// Imports, Diffs, Deletes and Reconciles count rdf_change operations
	// emitted; Messages their messages (chunks); Triples the triples they
	// carry.
	Imports, Diffs, Deletes, Reconciles atomic.Int64
	Messages, Triples                   atomic.Int64
	// SubgraphChanges counts the operations sent to the subgraphs'
	// streams, with Config.Subgraphs (Messages and Triples include them).
	SubgraphChanges atomic.Int64
	// RevisionCacheHits and RevisionCacheMisses count the fetches the
	// revision cache answered and those it did not (Config.RevisionCacheBytes).
	RevisionCacheHits, RevisionCacheMisses atomic.Int64
}

var jobNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// withDefaults validates cfg and fills its defaults.
func (cfg Config) withDefaults() (*Config, error) {
	bad := func(format string, args ...any) (*Config, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	c := &cfg
	if c.JobName == "" {
		c.JobName = DefaultJobName
	}
	if !jobNameRE.MatchString(c.JobName) {
		return bad("job name %q (letters, digits, '.', '_', '-')", c.JobName)
	}
	if len(c.Brokers) == 0 || len(c.Topics) == 0 {
		return bad("brokers and input topics are required")
	}
	if len(c.OutputBrokers) == 0 {
		c.OutputBrokers = c.Brokers
	}
	if c.Filter.Hostname == "" {
		return bad("the wiki's hostname is required")
	}
	if len(c.Filter.EntityNamespaces) == 0 && len(c.Filter.MediaInfoNamespaces) == 0 {
		return bad("no entity or MediaInfo namespace")
	}
	if c.OutputTopic == "" {
		return bad("output topic is required")
	}
	if c.OutputPartition < OutputPartitionPerTask {
		return bad("output partition %d", c.OutputPartition)
	}
	if c.CheckpointStore == nil {
		return bad("a checkpoint store is required (the per-entity state)")
	}
	if err := c.fetchDefaults(); err != nil {
		return nil, err
	}
	if c.ValidateInput && c.Filter.Validator == nil {
		v, err := NewValidator()
		if err != nil {
			return nil, err
		}
		c.Filter.Validator = v
	}
	if c.OutputStream == "" {
		c.OutputStream = DefaultOutputStream
	}
	durations := []struct {
		d   *time.Duration
		def time.Duration
		n   string
	}{
		{&c.ReorderWindow, DefaultReorderWindow, "reorder window"},
		{&c.MaxLateness, DefaultMaxLateness, "max lateness"},
		{&c.IdleTimeout, DefaultIdleTimeout, "idle timeout"},
	}
	for _, d := range durations {
		if *d.d < 0 {
			return bad("negative %s %s", d.n, *d.d)
		}
		if *d.d == 0 {
			*d.d = d.def
		}
	}
	ints := []struct {
		v   *int
		def int
		n   string
	}{
		{&c.MaxBuffered, streamkit.DefaultReorderMaxBuffered, "max buffered events"},
		{&c.SoftMaxChars, rdfdiff.DefaultSoftMaxChars, "chunk soft limit"},
	}
	for _, i := range ints {
		if *i.v < 0 {
			return bad("negative %s %d", i.n, *i.v)
		}
		if *i.v == 0 {
			*i.v = i.def
		}
	}
	if err := c.subgraphDefaults(); err != nil {
		return nil, err
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = &Metrics{}
	}
	return c, nil
}

// fetchDefaults validates the fetch settings and fills their defaults.
func (c *Config) fetchDefaults() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(c.EntityDataURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("entity data URL %q is not an http(s) URL", c.EntityDataURL)
	}
	if c.Scheme == nil {
		s := rdfdiff.WikidataScheme()
		c.Scheme = &s
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.RevisionCacheBytes == 0 {
		c.RevisionCacheBytes = DefaultRevisionCacheBytes
	}
	for _, d := range []struct {
		d   *time.Duration
		def time.Duration
		n   string
	}{
		{&c.HTTPTimeout, DefaultHTTPTimeout, "HTTP timeout"},
		{&c.FetchRetryDelay, DefaultFetchRetryDelay, "fetch retry delay"},
		{&c.AcceptableLag, DefaultAcceptableLag, "acceptable lag"},
	} {
		if *d.d < 0 {
			return bad("negative %s %s", d.n, *d.d)
		}
		if *d.d == 0 {
			*d.d = d.def
		}
	}
	for _, i := range []struct {
		v   *int
		def int
		n   string
	}{
		{&c.FetchAttempts, DefaultFetchAttempts, "fetch attempts"},
		{&c.MaxConcurrentRequests, DefaultMaxConcurrentRequests, "max concurrent requests"},
	} {
		if *i.v < 0 {
			return bad("negative %s %d", i.n, *i.v)
		}
		if *i.v == 0 {
			*i.v = i.def
		}
	}
	return nil
}

// NewFetcher returns the Fetcher the updater uses, configured by the fetch
// fields of cfg (EntityDataURL, Scheme, MungerOptions, HTTPClient, UserAgent, HTTPTimeout,
// FetchAttempts, FetchRetryDelay, AcceptableLag, MaxConcurrentRequests,
// Now), for tools that need a revision's munged RDF as the updater sees it
// (a reconciliation check, a bootstrap). It does no I/O.
func NewFetcher(cfg Config) (*Fetcher, error) {
	c := &cfg
	if err := c.fetchDefaults(); err != nil {
		return nil, err
	}
	if c.ValidateInput && c.Filter.Validator == nil {
		v, err := NewValidator()
		if err != nil {
			return nil, err
		}
		c.Filter.Validator = v
	}
	return newFetcher(c, rdfdiff.NewMunger(*c.Scheme, c.MungerOptions...)), nil
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) sideOutputsDomain() string {
	if c.SideOutputsDomain != "" {
		return c.SideOutputsDomain
	}
	return c.Filter.Hostname
}

// NewJob returns the updater job for cfg. It does no I/O; run it with
// Job.Run, stop it with Job.Stop or Job.StopWithSavepoint.
func NewJob(cfg Config) (*streamkit.Job, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	fetcher := newFetcher(c, rdfdiff.NewMunger(*c.Scheme, c.MungerOptions...))
	srcOpts := []source.Option{
		source.WithEventTime(EventTime),
		source.WithWatermarks(c.MaxLateness, c.IdleTimeout),
		source.WithLogger(c.Logger),
	}
	if c.Sarama != nil {
		srcOpts = append(srcOpts, source.WithBaseConfig(c.Sarama))
	}
	if c.Start != nil {
		srcOpts = append(srcOpts, source.WithStartPosition(*c.Start))
	}
	srcOpts = append(srcOpts, c.SourceOptions...)
	in := streamkit.Input{Brokers: c.Brokers, Topics: c.Topics, Group: c.Group, Options: srcOpts}
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
	if c.Subgraphs != nil {
		// The membership table is new to checkpoints and savepoints
		// taken before the split or with other subgraphs, whose own
		// membership table is then dropped: an entity without a record
		// takes the membership of its previous revision (see SubgraphDiff).
		opts = append(opts, streamkit.WithRestoreOptions(checkpoint.AllowNewState(), checkpoint.AllowDroppedState()))
	}
	opts = append(opts, c.JobOptions...)
	outputs := streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: c.OutputBrokers, Sarama: c.Sarama})
	return streamkit.NewJob(c.JobName, in, outputs, func(info streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
		return newProcessor(c, info, out, fetcher)
	}, opts...)
}

// Run runs the updater until ctx is done or the job fails; it is NewJob
// followed by Job.Run.
func Run(ctx context.Context, cfg Config) error {
	job, err := NewJob(cfg)
	if err != nil {
		return err
	}
	return job.Run(ctx)
}

// filteredKey is the repartition key of events the filter drops: they go
// to one partition, where the updater drops them again.
var filteredKey = []byte("-")

// NewRepartitionJob returns the job that re-keys the updater's input (the
// single-partition MediaWiki topics) by entity ID into topic, an
// intermediate topic with as many partitions as the updater should have
// tasks, exactly once (see streamkit.NewRepartitionJob). The updater then
// reads topic (Config.Topics = {topic}) with up to that many instances.
// Its job name is cfg.JobName + "-repartition". The key is the entity ID the
// updater computes (for MediaInfo, "M" + page ID, which no JSON field
// holds); records it cannot decode are dead-lettered when
// cfg.DeadLetterTopic is set.
func NewRepartitionJob(cfg Config, topic string) (*streamkit.Job, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	f := c.Filter
	key := func(rec *source.Record) ([]byte, error) {
		ev, err := f.DecodeRecord(rec, time.Time{})
		if err != nil {
			return nil, err
		}
		if ev == nil {
			return filteredKey, nil
		}
		return []byte(ev.Item), nil
	}
	srcOpts := []source.Option{source.WithEventTime(EventTime), source.WithLogger(c.Logger)}
	if c.Sarama != nil {
		srcOpts = append(srcOpts, source.WithBaseConfig(c.Sarama))
	}
	if c.Start != nil {
		srcOpts = append(srcOpts, source.WithStartPosition(*c.Start))
	}
	srcOpts = append(srcOpts, c.SourceOptions...)
	opts := []streamkit.Option{streamkit.WithLogger(c.Logger)}
	if c.CheckpointInterval > 0 {
		opts = append(opts, streamkit.WithCheckpointInterval(c.CheckpointInterval))
	}
	if c.DeadLetterTopic != "" {
		opts = append(opts, streamkit.WithDeadLetterTopic(c.DeadLetterTopic))
	}
	opts = append(opts, c.JobOptions...)
	in := streamkit.Input{Brokers: c.Brokers, Topics: c.Topics, Group: c.Group, Options: srcOpts}
	if in.Group == "" {
		in.Group = c.JobName + "-repartition"
	}
	out := streamkit.KafkaOutputConfig{Brokers: c.OutputBrokers, Sarama: c.Sarama}
	return streamkit.NewRepartitionJob(c.JobName+"-repartition", in, out, topic, key, opts...)
}

// subgraphDefaults validates the graph split's settings and maps each
// subgraph to its topic.
func (c *Config) subgraphDefaults() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	c.subgraphTopics = nil
	if c.Subgraphs == nil {
		if len(c.SubgraphTopics) > 0 {
			return bad("subgraph topics without subgraph definitions")
		}
		return nil
	}
	if len(c.Subgraphs.Subgraphs) == 0 || len(c.Subgraphs.Subgraphs) > MaxSubgraphs {
		return bad("%d subgraphs (1 to %d)", len(c.Subgraphs.Subgraphs), MaxSubgraphs)
	}
	if c.Subgraphs.Full() == nil {
		return bad("the subgraph definitions have no full graph (a subgraph without subgraph_uri): it carries the main output")
	}
	streams := map[string]bool{}
	for _, g := range c.Subgraphs.Subgraphs {
		streams[g.Stream] = true
		topic := c.SubgraphTopics[g.Stream]
		if topic == "" && g.IsFull() {
			topic = c.OutputTopic
		}
		if topic == "" {
			return bad("no topic for stream %q of subgraph %q (subgraph topics: stream=topic)", g.Stream, g.Name)
		}
		c.subgraphTopics = append(c.subgraphTopics, topic)
	}
	for s := range c.SubgraphTopics {
		if !streams[s] {
			return bad("subgraph topic for stream %q, which no subgraph has", s)
		}
	}
	return nil
}
