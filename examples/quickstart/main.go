// Command quickstart runs the whole WDQS Streaming Updater pipeline in one
// process, with nothing to install: an embedded Kafka broker, a filesystem
// checkpoint store in a temporary directory, a local Special:EntityData
// server over the fixture entities, a stream of real page_change events
// replayed with fresh timestamps, the updater job (wdqs-updater) and the
// consumer job (wdqs-consumer) writing into an in-memory RDF graph.
//
// Usage:
//
//	go run ./examples/quickstart
//
// It prints a progress line every second (events in, patches, triples in the
// graph, checkpoints and lag of the updater+consumer; a caught-up consumer
// shows a lag of 1, the commit marker of the updater's last transaction,
// which is not a record), ends with a summary (events, patches, triples,
// edit-latency percentiles, checkpoints, dead letters) and writes the
// resulting graph as sorted N-Triples (graph.Graph.Dump). It finishes on its
// own in under ten seconds. The temporary state directory is kept, so that
// the graph can be read: remove it when done.
//
// The stream: Q2 created and edited, Q42 created and edited, lexemes L691820
// and L4696 created, L4696 deleted, Q2 deleted and undeleted, a user page and
// a visibility change (which the updater's filter drops) and one record cut
// in half (which it dead-letters). Real page_change events of
// test.wikidata.org are the templates; each is re-addressed to an entity
// whose Special:EntityData Turtle the fixtures hold and dated now. After the
// stream, events of another namespace keep arriving (as the rest of a wiki's
// traffic does) so that the event-time watermark releases the last edits from
// the re-order buffer. The re-order window and the lateness are one second
// each (WDQS: a minute), the checkpoint interval half a second.
//
// Flags switch each part to the real thing:
//
//	-brokers HOST:9092            a Kafka cluster instead of the embedded broker (topics
//	                              and job names get a per-run prefix, so runs never mix)
//	-swift-auth-url URL           Swift checkpoints (-swift-user, -swift-container; the key
//	                              in $STREAMKIT_SWIFT_KEY or -swift-key)
//	-state DIR                    filesystem checkpoints in DIR (default: a temporary directory)
//	-sparql URL -dialect D        the consumer writes into a SPARQL store (sparql.SPARQL;
//	                              -data-graph to keep the data in a named graph)
//	-entitydata URL               fetch RDF from a real Special:EntityData (the fixture
//	                              revisions that do not exist there become fetch failures)
//	-sidecar ADDR                 the consumer's sidecar (status page, metrics, /stop)
//	-log-format text|json|ecs     log format (ecs: Elastic Common Schema JSON lines)
//	-out FILE                     where the graph is written (default: graph.nt in the state directory)
//
// Exit status: 0 when the stream went through, 1 on failure or timeout,
// 2 on a usage error, 130 when interrupted (SIGINT or SIGTERM).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags.
type options struct {
	brokers                           string
	state, out                        string
	swiftAuthURL, swiftUser, swiftKey string
	swiftContainer                    string
	sparqlURL, dialect, dataGraph     string
	entityData                        string
	sidecarAddr                       string
	pace, timeout, checkpointInterval time.Duration
	reorderWindow, maxLateness        time.Duration
	verbose                           bool
	logFormat                         string
}

// parse parses the command line; a usage error is returned as is, -h as
// flag.ErrHelp.
func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (default: an embedded broker)")
	fs.StringVar(&o.state, "state", "", "directory of the filesystem checkpoint store and the graph dump (default: a new temporary directory)")
	fs.StringVar(&o.out, "out", "", "file the graph is written to as sorted N-Triples (default: graph.nt in the state directory)")
	fs.StringVar(&o.swiftAuthURL, "swift-auth-url", "", "Swift auth URL (v1): keep checkpoints in Swift instead of -state")
	fs.StringVar(&o.swiftUser, "swift-user", os.Getenv("STREAMKIT_SWIFT_USER"), "Swift user (default $STREAMKIT_SWIFT_USER)")
	fs.StringVar(&o.swiftKey, "swift-key", "", "Swift key (default $STREAMKIT_SWIFT_KEY, which keeps it off the command line)")
	fs.StringVar(&o.swiftContainer, "swift-container", "streamkit-quickstart", "Swift container")
	fs.StringVar(&o.sparqlURL, "sparql", "", "SPARQL endpoint the consumer writes into instead of the in-memory graph")
	fs.StringVar(&o.dialect, "dialect", "oxigraph", "dialect of the -sparql store: blazegraph, oxigraph, virtuoso or generic")
	fs.StringVar(&o.dataGraph, "data-graph", "", "named graph of the data in the -sparql store (default: the default graph; Virtuoso needs one)")
	fs.StringVar(&o.entityData, "entitydata", "", "Special:EntityData prefix to fetch from, e.g. https://test.wikidata.org/wiki/Special:EntityData/ (default: a local server over the fixtures)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: "+cli.LogFormats)
	fs.StringVar(&o.sidecarAddr, "sidecar", "", "address of the consumer's sidecar, e.g. 127.0.0.1:9102 (default: none)")
	fs.DurationVar(&o.pace, "pace", 300*time.Millisecond, "time between two events of the stream")
	fs.DurationVar(&o.checkpointInterval, "checkpoint-interval", 500*time.Millisecond, "checkpoint interval of both jobs")
	fs.DurationVar(&o.reorderWindow, "reorder-window", time.Second, "the updater's re-order window (WDQS: 1m)")
	fs.DurationVar(&o.maxLateness, "max-lateness", time.Second, "how far the updater's watermark trails the newest event (WDQS: 1m)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up if the stream has not gone through by then")
	fs.BoolVar(&o.verbose, "v", false, "log the jobs' informational messages to stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: quickstart [flags]\n\nRuns the WDQS updater and consumer in-process over a replayed stream; no flag is needed.\n\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return nil, err
	}
	if o.swiftAuthURL != "" {
		if o.swiftKey == "" {
			o.swiftKey = os.Getenv("STREAMKIT_SWIFT_KEY")
		}
		if o.swiftUser == "" || o.swiftKey == "" {
			return nil, errors.New("-swift-auth-url needs -swift-user and $STREAMKIT_SWIFT_KEY (or -swift-key)")
		}
	}
	if _, err := cli.NewLogger(o.logFormat, "quickstart", io.Discard, nil); err != nil {
		return nil, err
	}
	if o.sparqlURL == "" && o.dataGraph != "" {
		return nil, errors.New("-data-graph needs -sparql")
	}
	for name, d := range map[string]time.Duration{"-pace": o.pace, "-checkpoint-interval": o.checkpointInterval,
		"-reorder-window": o.reorderWindow, "-max-lateness": o.maxLateness, "-timeout": o.timeout} {
		if d <= 0 {
			return nil, fmt.Errorf("%s must be positive", name)
		}
	}
	return o, nil
}

// run is the command with its environment passed in; it returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 2
	}
	if err := (&quickstart{o: o, stdout: stdout, stderr: stderr}).run(ctx); err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		if errors.Is(err, errInterrupted) {
			return 130 // the shell's status for a job ended by SIGINT
		}
		return 1
	}
	return 0
}
