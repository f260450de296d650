// Command wdqs-consumer is the Wikidata Query Service per-replica consumer,
// built only from streamkit's public API (the logic is in package consumer,
// which the quickstart imports). It reads the rdf_change mutation topic that
// wdqs-updater writes, reassembles chunked events, merges each batch with
// WDQS's rules and applies it to one SPARQL store, writing the topic
// positions into the store in the same update request: on an atomic store
// (Blazegraph, Oxigraph) every batch is applied exactly once, and a restarted
// consumer resumes from the positions the store holds.
//
// Usage:
//
//	wdqs-consumer -brokers HOST:9092 -topics eqiad.rdf-streaming-updater.mutation \
//	    -group "$(hostname)" -sparql-url http://localhost:9999/bigdata/namespace/wdq/sparql \
//	    -dialect blazegraph -checkpoint-dir /var/lib/wdqs-consumer
//
// Store: -sparql-url (query endpoint), -update-url when the update endpoint
// differs, -dialect blazegraph|oxigraph|virtuoso|generic, -data-graph and
// -commit-graph (named graphs; Virtuoso needs a data graph), -lag-marker
// (subject of the batch's average event time, "-" for none), -orphan-cleanup
// (delete the value and reference nodes, sitelinks and sites a batch
// orphaned, which WDQS keeps), basic auth with
// -store-user and $STREAMKIT_STORE_PASSWORD. Batches: -batch-triples (WDQS's
// --batchSize: a batch is committed early once it holds that many triples),
// -max-request-triples and -max-request-bytes per update request (defaults
// per dialect), -checkpoint-interval (10s) the longest a batch waits.
//
// Input: -group is the replica's own consumer group (WDQS uses the host
// name; two replicas must never share one), -start where a store without a
// commit point starts (earliest, latest, or an RFC 3339 time: the dump's
// time for a freshly loaded store), -entity-filter (regular expression on
// entity IDs), -keep-canary. Bad records go to -dlq-topic with their
// provenance (see dlq-replay); without it such a record stops the consumer.
//
// State: the chunks of events not yet complete are checkpointed in
// -checkpoint-dir, or Swift (-swift-auth-url, -swift-user, -swift-container,
// key in $STREAMKIT_SWIFT_KEY). -from-savepoint NAME starts once from a
// savepoint; on SIGINT or SIGTERM the consumer drains and commits, and with
// -stop-savepoint NAME ("{job}" and "{time}" are expanded) also takes a
// savepoint, then exits 0.
//
// Control plane: the sidecar listens on -sidecar-addr (127.0.0.1:9102; empty
// turns it off) with /healthz, /readyz, /metrics, /status and the POST
// operations /savepoint, /stop?savepoint=NAME, /pause, /resume. Their bearer
// token is read from -sidecar-token-file or $STREAMKIT_SIDECAR_TOKEN; a
// non-loopback address needs one.
//
// Outages: when the checkpoint store, the store or a Kafka cluster fails,
// the job rewinds to its commit points and retries with a doubling backoff
// (-restart-backoff, -max-restart-backoff), not ready meanwhile, until it
// resumes by itself; -max-failures N makes it exit 1 after N failures in a
// row instead (0, the default: never). -log-format text, json or ecs.
//
// Exit status: 0 after a clean stop, 1 when the job fails, 2 on a usage
// error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/internal/cli"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sidecar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// options are the parsed flags.
type options struct {
	cfg consumer.Config
	cli.Flags
}

// parse parses the command line into options; a usage error is returned as
// is, -h as flag.ErrHelp.
func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("wdqs-consumer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	o.Program = "wdqs-consumer"
	o.Register(fs, cli.Defaults{SwiftContainer: "wdqs-consumer", SidecarAddr: sidecar.DefaultAddr})
	c := &o.cfg
	host, _ := os.Hostname()
	var brokers, topics, dlqBrokers, dialect, scheme, start, filter string
	fs.StringVar(&c.JobName, "job", consumer.DefaultJobName, "job name: checkpoint namespace and the job of the commit point in the store")
	fs.StringVar(&brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (required)")
	fs.StringVar(&topics, "topics", "", "mutation topics, comma-separated and co-partitioned (required)")
	fs.StringVar(&c.Group, "group", host, "consumer group: one per replica (WDQS: the host name)")
	fs.StringVar(&start, "start", "earliest", "where a store without a commit point starts: earliest, latest, or an RFC 3339 time")
	fs.StringVar(&c.StoreURL, "sparql-url", "", "SPARQL endpoint of the store (required)")
	fs.StringVar(&c.UpdateURL, "update-url", "", "SPARQL update endpoint (default -sparql-url)")
	fs.StringVar(&dialect, "dialect", "blazegraph", "store dialect: blazegraph, oxigraph, virtuoso or generic")
	fs.StringVar(&c.StoreUser, "store-user", "", "basic-auth user of the store; password in $STREAMKIT_STORE_PASSWORD")
	fs.StringVar(&c.DataGraph, "data-graph", "", "named graph of the data (default: the default graph)")
	fs.StringVar(&c.CommitGraph, "commit-graph", "", "named graph of the commit point (default: the data graph)")
	fs.StringVar(&c.LagMarker, "lag-marker", consumer.DefaultLagMarker, `subject of the batch's average event time ("-": none)`)
	fs.BoolVar(&c.OrphanCleanup, "orphan-cleanup", false, "delete the value and reference nodes, sitelinks and sites a batch orphaned (WDQS keeps them)")
	fs.StringVar(&scheme, "uris-scheme", "wikidata", "URI scheme of the entities: wikidata, commons, a concept URI, or a Wikibase's own namespaces entity=IRI[,statement=IRI,…] (as the updater's)")
	fs.IntVar(&c.Limits.TargetTriples, "batch-triples", 0, "commit a batch early at this many triples (WDQS --batchSize; 0: half of -max-request-triples)")
	fs.IntVar(&c.Limits.MaxTriples, "max-request-triples", 0, "most triples per update request (0: the dialect's default)")
	fs.IntVar(&c.Limits.MaxBytes, "max-request-bytes", 0, "most bytes per update request (0: the dialect's default)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 0, "timeout of one request to the store (0: the client's default)")
	fs.StringVar(&filter, "entity-filter", "", "keep only entities whose ID matches this regular expression")
	fs.BoolVar(&c.KeepCanary, "keep-canary", false, "apply events of the canary domain")
	fs.StringVar(&c.DeadLetterTopic, "dlq-topic", "", "dead-letter topic (without it a bad record stops the consumer)")
	fs.StringVar(&dlqBrokers, "dlq-brokers", "", "brokers of the dead-letter topic (default -brokers)")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", streamkit.DefaultCheckpointInterval, "longest a batch waits before it is committed")
	fs.StringVar(&c.RestoreFromSavepoint, "from-savepoint", "", "start once from this savepoint")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wdqs-consumer -brokers B -topics T -sparql-url URL (-checkpoint-dir D | -swift-auth-url U ...) [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return nil, err
	}
	c.Brokers, c.Topics, c.DeadLetterBrokers = cli.List(brokers), cli.List(topics), cli.List(dlqBrokers)
	c.StorePassword = os.Getenv("STREAMKIT_STORE_PASSWORD")
	var err error
	if c.Dialect, err = consumer.ParseDialect(dialect); err != nil {
		return nil, fmt.Errorf("-dialect: %q is not blazegraph, oxigraph, virtuoso or generic", dialect)
	}
	if filter != "" {
		if c.EntityFilter, err = regexp.Compile(filter); err != nil {
			return nil, fmt.Errorf("-entity-filter: %w", err)
		}
	}
	s, err := rdfdiff.ParseURIScheme(scheme)
	if err != nil {
		return nil, fmt.Errorf("-uris-scheme: %w", err)
	}
	c.Scheme = &s
	if c.Start, err = cli.ParseStart(start); err != nil {
		return nil, err
	}
	if err := o.Check(); err != nil {
		return nil, err
	}
	if c.CheckpointStore, err = o.Store(); err != nil {
		return nil, err
	}
	if c.CheckpointStore == nil {
		return nil, errors.New("a checkpoint store is required: -checkpoint-dir or -swift-auth-url")
	}
	return o, nil
}

// run is the command with its environment passed in; it returns the exit
// status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "wdqs-consumer:", err)
		return 2
	}
	log, jobOpts, obs, err := o.Setup(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", o.Program, err)
		return 2
	}
	o.cfg.Logger = log
	o.cfg.JobOptions = append(o.cfg.JobOptions, jobOpts...)
	c, err := consumer.New(o.cfg)
	if err != nil {
		return o.Exit(stderr, err, consumer.ErrInvalidConfig)
	}
	p := &cli.Program{Flags: &o.Flags, Job: c.Job(), Run: c.Run, Store: o.cfg.CheckpointStore,
		Observer: obs, Logger: log, Stderr: stderr}
	return p.Serve(ctx)
}
