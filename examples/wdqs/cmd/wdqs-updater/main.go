// Command wdqs-updater is the Wikidata Query Service Streaming Updater
// producer, built only from streamkit's public API (the logic is in package
// updater, which the quickstart imports). It reads MediaWiki events from
// Kafka, puts each entity's events back in revision order, applies the WDQS
// decision table, fetches the revisions' RDF from Special:EntityData,
// munges, diffs and chunks it, and writes rdf_change v2 events exactly once,
// with the lapsed-action, state-inconsistency and fetch-failure side
// outputs in the same Kafka transactions.
//
// Usage:
//
//	wdqs-updater -brokers HOST:9092 -topics eqiad.mediawiki.page_change.v1,codfw.mediawiki.page_change.v1 \
//	    -output-topic eqiad.rdf-streaming-updater.mutation -checkpoint-dir /var/lib/wdqs-updater
//
// Inputs (-topics, co-partitioned): mediawiki.page_change.v1 (current
// production), or the legacy <dc>.mediawiki.revision-create, page-delete,
// page-undelete and page-suppress topics, plus a reconcile topic
// (-reconciliation-source selects its events); the shape of each event is
// told by its $schema, else by its topic. Filters: -hostname (meta.domain),
// -entity-namespaces, -mediainfo-namespaces, -content-models. With
// -validate-input every page_change event of the wiki is validated against
// its Event Platform schema (embedded: mediawiki/page/change 1.2.0) and one
// that does not match, or names another schema version, is dead-lettered
// (-dlq-topic) with the failing value's JSON pointer and keyword in its
// message.
//
// Scaling: the MediaWiki topics have one partition, so the updater has one
// task. To spread entities over several instances, run once with
// -repartition-to TOPIC (an intermediate topic created with N partitions),
// which re-keys the input by entity ID exactly once, and run the updater
// with -topics TOPIC on up to N instances and -output-partition -1 (task p
// writes partition p of the output topic, so that the chunks of one event
// are never interleaved with another task's).
//
// Re-ordering and timing: -reorder-window (60s) holds each event,
// -max-lateness (60s) is how far the watermark trails the newest event,
// -idleness (60s) when an idle input stops holding it back. An event whose
// time plus the window is behind the watermark is late (lapsed-action side
// output). An edit whose parent is the entity's last revision, with
// nothing of that entity held, skips the buffer (as in WDQS) and is emitted
// at the next checkpoint; the others wait about window + lateness.
//
// Fetching: -entitydata-url (…/wiki/Special:EntityData/), -http-timeout (5s)
// per request, -fetch-attempts (4) with -fetch-retry-delay (1s) for
// transport errors, 5xx and 429, a 404 of a new revision retried while the
// edit is younger than -acceptable-lag (10s), at most
// -max-concurrent-requests (10) in flight. A fetch that fails goes to the
// fetch-failure side output and the entity's state does not advance (WDQS
// advances it, which leaves the store wrong until reconciliation).
//
// Graph split (opt-in): -subgraph-definitions FILE (the WDQS format, e.g.
// wdqs-subgraph-definitions-v2.yaml) fans every operation out to the
// subgraphs' streams, and -subgraph-topics stream=topic,... maps each
// subgraph's stream to its topic (the full graph's stream defaults to
// -output-topic, and its stream name replaces -output-stream).
//
// Checkpoints: -checkpoint-dir DIR (a filesystem store), or Swift with
// -swift-auth-url, -swift-user (or $STREAMKIT_SWIFT_USER), -swift-container
// and the key in the environment variable STREAMKIT_SWIFT_KEY (kept off the
// command line); these are the variables the Swift tests use.
// -checkpoint-interval (10s) is also the output latency. -from-savepoint
// NAME starts from a savepoint once. On SIGINT or SIGTERM the updater drains
// and commits, and with -stop-savepoint NAME also takes a savepoint, then
// exits 0.
//
// Control plane: -sidecar-addr ADDR (off by default; 127.0.0.1:9102 is the
// sidecar's usual address) serves /healthz, /readyz (-max-ready-lag),
// /metrics, /status and POST /savepoint, /stop?savepoint=NAME, /pause,
// /resume; the bearer token is read from -sidecar-token-file or
// $STREAMKIT_SIDECAR_TOKEN, and a non-loopback address needs one. A stop
// over HTTP ends the process with status 0, as a signal does.
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
	"strconv"
	"strings"
	"syscall"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/internal/cli"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// options are the parsed flags.
type options struct {
	cfg updater.Config
	cli.Flags
	repartitionTo string
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range cli.List(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("not a namespace number: %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parse parses the command line into options; a usage error is returned as
// is, -h as flag.ErrHelp.
func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("wdqs-updater", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	o.Program = "wdqs-updater"
	o.Register(fs, cli.Defaults{SwiftContainer: "wdqs-updater"})
	c := &o.cfg
	var brokers, outBrokers, topics, entityNS, mediaInfoNS, models, scheme, start string
	var subgraphDefs, subgraphTopics string
	fs.StringVar(&c.JobName, "job", updater.DefaultJobName, "job name: consumer group, checkpoint namespace, transactional IDs")
	fs.StringVar(&brokers, "brokers", "", "input Kafka bootstrap brokers, comma-separated (required)")
	fs.StringVar(&outBrokers, "output-brokers", "", "output Kafka brokers (default: -brokers)")
	fs.StringVar(&topics, "topics", "", "input topics, comma-separated and co-partitioned (required)")
	fs.StringVar(&c.Group, "group", "", "consumer group (default: the job name)")
	fs.StringVar(&start, "start", "earliest", "where partitions without a commit point start: earliest, latest, or an RFC 3339 time")
	fs.StringVar(&c.Filter.Hostname, "hostname", "www.wikidata.org", "the wiki's domain (meta.domain of the events taken)")
	fs.StringVar(&entityNS, "entity-namespaces", "0,120,146", "Wikibase entity namespaces")
	fs.StringVar(&mediaInfoNS, "mediainfo-namespaces", "", "MediaInfo namespaces (Commons: 6)")
	fs.StringVar(&models, "content-models", "wikibase-item,wikibase-property,wikibase-lexeme", "main-slot content models of page_change events")
	fs.BoolVar(&c.ValidateInput, "validate-input", false, "validate every page_change event against its embedded Event Platform schema; one that does not match is dead-lettered (-dlq-topic)")
	fs.StringVar(&c.Filter.ReconciliationSource, "reconciliation-source", "", "reconciliation_source of the reconcile events to take (e.g. wdqs_sideoutputs_reconcile@eqiad)")
	fs.StringVar(&scheme, "uris-scheme", "wikidata", "URI scheme of the munger: wikidata, commons, a concept URI, or a Wikibase's own namespaces entity=IRI[,statement=IRI,reference=IRI,value=IRI,prop=IRI,entity-data=IRI,genid=IRI]")
	var labelLangs, singleLabel string
	fs.StringVar(&labelLangs, "label-languages", "", "keep labels, descriptions and aliases only in these comma-separated languages (default: all)")
	fs.StringVar(&singleLabel, "single-label", "", "keep one label and one description per entity, the first of these comma-separated languages it has")
	fs.StringVar(&c.EntityDataURL, "entitydata-url", "https://www.wikidata.org/wiki/Special:EntityData/", "Special:EntityData prefix")
	fs.StringVar(&c.UserAgent, "user-agent", updater.DefaultUserAgent, "User-Agent of the fetches")
	fs.DurationVar(&c.HTTPTimeout, "http-timeout", updater.DefaultHTTPTimeout, "timeout of one EntityData request")
	fs.IntVar(&c.FetchAttempts, "fetch-attempts", updater.DefaultFetchAttempts, "attempts per revision on transport errors, 5xx and 429")
	fs.DurationVar(&c.FetchRetryDelay, "fetch-retry-delay", updater.DefaultFetchRetryDelay, "wait between attempts")
	fs.DurationVar(&c.AcceptableLag, "acceptable-lag", updater.DefaultAcceptableLag, "a 404 is retried while the edit is younger than this")
	fs.IntVar(&c.MaxConcurrentRequests, "max-concurrent-requests", updater.DefaultMaxConcurrentRequests, "EntityData requests in flight at most")
	fs.DurationVar(&c.ReorderWindow, "reorder-window", updater.DefaultReorderWindow, "how long events are held for re-ordering")
	fs.DurationVar(&c.MaxLateness, "max-lateness", updater.DefaultMaxLateness, "how far the watermark trails the newest event time")
	fs.DurationVar(&c.IdleTimeout, "idleness", updater.DefaultIdleTimeout, "an input idle this long stops holding the watermark back")
	fs.IntVar(&c.MaxBuffered, "max-buffered", streamkit.DefaultReorderMaxBuffered, "events held for re-ordering per task at most")
	fs.StringVar(&c.OutputTopic, "output-topic", "", "topic of the rdf_change events (required)")
	var partition int
	fs.IntVar(&partition, "output-partition", 0, "partition of the rdf_change events; -1: task p writes partition p (needed with several tasks)")
	fs.StringVar(&c.OutputStream, "output-stream", updater.DefaultOutputStream, "meta.stream of the rdf_change events")
	fs.IntVar(&c.SoftMaxChars, "chunk-soft-max", rdfdiff.DefaultSoftMaxChars, "soft limit of a chunk's Turtle, in characters")
	fs.StringVar(&subgraphDefs, "subgraph-definitions", "", "subgraph definitions YAML file: split the output by subgraph (empty: one output)")
	fs.StringVar(&subgraphTopics, "subgraph-topics", "", "topics of the subgraphs' streams: stream=topic,... (the full graph's defaults to -output-topic)")
	fs.StringVar(&c.LapsedActionTopic, "lapsed-topic", updater.StreamLapsedAction, "late events side output topic (empty: off)")
	fs.StringVar(&c.StateInconsistencyTopic, "inconsistency-topic", updater.StreamStateInconsistency, "state inconsistency side output topic (empty: off)")
	fs.StringVar(&c.FetchFailureTopic, "fetch-failure-topic", updater.StreamFetchFailure, "fetch failure side output topic (empty: off)")
	fs.StringVar(&c.SideOutputsDomain, "side-outputs-domain", "", "meta.domain of side-output events (default: -hostname)")
	fs.StringVar(&c.EmitterID, "emitter-id", "", "emitter_id of side-output events")
	fs.StringVar(&c.DeadLetterTopic, "dlq-topic", "", "dead-letter topic of undecodable records (without it such a record stops the job)")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", streamkit.DefaultCheckpointInterval, "checkpoint interval (and output latency)")
	fs.StringVar(&c.RestoreFromSavepoint, "from-savepoint", "", "start once from this savepoint")
	fs.StringVar(&o.repartitionTo, "repartition-to", "", "run the repartition job into this topic instead of the updater")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wdqs-updater -brokers B -topics T -output-topic O (-checkpoint-dir D | -swift-auth-url U ...) [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return nil, err
	}
	if err := o.Check(); err != nil {
		return nil, err
	}
	c.Brokers, c.OutputBrokers, c.Topics = cli.List(brokers), cli.List(outBrokers), cli.List(topics)
	c.Filter.ContentModels = cli.List(models)
	c.OutputPartition = int32(partition)
	var err error
	if c.Filter.EntityNamespaces, err = intList(entityNS); err != nil {
		return nil, fmt.Errorf("-entity-namespaces: %w", err)
	}
	if c.Filter.MediaInfoNamespaces, err = intList(mediaInfoNS); err != nil {
		return nil, fmt.Errorf("-mediainfo-namespaces: %w", err)
	}
	if subgraphDefs != "" {
		if c.Subgraphs, err = updater.LoadSubgraphDefinitions(subgraphDefs); err != nil {
			return nil, fmt.Errorf("-subgraph-definitions: %w", err)
		}
	}
	for _, kv := range cli.List(subgraphTopics) {
		stream, topic, ok := strings.Cut(kv, "=")
		if stream, topic = strings.TrimSpace(stream), strings.TrimSpace(topic); !ok || stream == "" || topic == "" {
			return nil, fmt.Errorf("-subgraph-topics: %q is not stream=topic", kv)
		}
		if c.SubgraphTopics == nil {
			c.SubgraphTopics = map[string]string{}
		}
		if _, dup := c.SubgraphTopics[stream]; dup {
			return nil, fmt.Errorf("-subgraph-topics: stream %q given twice", stream)
		}
		c.SubgraphTopics[stream] = topic
	}
	s, err := rdfdiff.ParseURIScheme(scheme)
	if err != nil {
		return nil, fmt.Errorf("-uris-scheme: %w", err)
	}
	c.Scheme = &s
	if l := cli.List(labelLangs); len(l) > 0 {
		c.MungerOptions = append(c.MungerOptions, rdfdiff.MungeLabelLanguages(l...))
	}
	if l := cli.List(singleLabel); len(l) > 0 {
		c.MungerOptions = append(c.MungerOptions, rdfdiff.MungeSingleLabel(l...))
	}
	if c.Start, err = cli.ParseStart(start); err != nil {
		return nil, err
	}
	if c.CheckpointStore, err = o.Store(); err != nil {
		return nil, err
	}
	if c.CheckpointStore == nil && o.repartitionTo == "" {
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
		fmt.Fprintln(stderr, "wdqs-updater:", err)
		return 2
	}
	log, jobOpts, obs, err := o.Setup(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", o.Program, err)
		return 2
	}
	o.cfg.Logger = log
	o.cfg.JobOptions = append(o.cfg.JobOptions, jobOpts...)
	store := o.cfg.CheckpointStore
	var job *streamkit.Job
	if o.repartitionTo != "" {
		if o.cfg.CheckpointStore == nil {
			// The repartition job is stateless; the config check wants a
			// store anyway.
			o.cfg.CheckpointStore = checkpoint.NewMemoryStore()
		}
		job, err = updater.NewRepartitionJob(o.cfg, o.repartitionTo)
	} else {
		job, err = updater.NewJob(o.cfg)
	}
	if err != nil {
		return o.Exit(stderr, err, updater.ErrInvalidConfig, streamkit.ErrInvalidJob)
	}
	p := &cli.Program{Flags: &o.Flags, Job: job, Store: store, Observer: obs, Logger: log, Stderr: stderr}
	return p.Serve(ctx)
}
