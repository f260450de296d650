// Command turtle-sync keeps a SPARQL store in step with a Kafka topic of
// Turtle documents, exactly once (see package turtlesync): each record's key
// is a subject IRI and its value the subject's current Turtle document; an
// empty value deletes the subject.
//
// Usage:
//
//	turtle-sync -brokers localhost:9092 -topics documents -sparql-url http://127.0.0.1:7878/sparql \
//	    -dialect oxigraph -skolem-base http://example.org/ -checkpoint-dir /var/lib/turtle-sync \
//	    -dlq-topic documents.dlq
//
// Flags: -brokers and -topics (comma-separated), -group (default the job
// name), -sparql-url and -dialect (oxigraph, blazegraph or virtuoso),
// -data-graph and -commit-graph (named graphs; Virtuoso needs a data graph),
// -skolem-base (the base IRI of blank nodes' skolem IRIs), -checkpoint-dir
// (where the documents are checkpointed), -dlq-topic (without it a bad
// record stops the job), -checkpoint-interval. SIGINT or SIGTERM stops the
// job after a last checkpoint.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/internal/cli"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/turtlesync"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "turtle-sync:", err)
		os.Exit(1)
	}
}

// parseDialect returns the dialect named s.
func parseDialect(s string) (sparql.Dialect, error) {
	switch s {
	case "oxigraph", "sparql11":
		return sparql.DialectSPARQL11, nil
	case "blazegraph":
		return sparql.DialectBlazegraph, nil
	case "virtuoso":
		return sparql.DialectVirtuoso, nil
	}
	return 0, fmt.Errorf("-dialect %q: want oxigraph, blazegraph or virtuoso", s)
}

func run(args []string) error {
	fs := flag.NewFlagSet("turtle-sync", flag.ContinueOnError)
	var c turtlesync.Config
	var brokers, topics, dialect, dir string
	fs.StringVar(&brokers, "brokers", "", "Kafka bootstrap brokers (comma-separated)")
	fs.StringVar(&topics, "topics", "", "topics of Turtle documents keyed by subject IRI (comma-separated)")
	fs.StringVar(&c.Group, "group", "", "consumer group (default the job name)")
	fs.StringVar(&c.StoreURL, "sparql-url", "", "SPARQL endpoint of the store (query and update)")
	fs.StringVar(&dialect, "dialect", "oxigraph", "store dialect: oxigraph, blazegraph or virtuoso")
	fs.StringVar(&c.DataGraph, "data-graph", "", "named graph of the data (default: the default graph)")
	fs.StringVar(&c.CommitGraph, "commit-graph", "", "named graph of the commit points (default: the data graph)")
	fs.StringVar(&c.SkolemBase, "skolem-base", "", "base IRI of the skolem IRIs of blank nodes (required)")
	fs.StringVar(&dir, "checkpoint-dir", "", "directory of the checkpoints (required)")
	fs.StringVar(&c.DeadLetterTopic, "dlq-topic", "", "dead-letter topic (without it a bad record stops the job)")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", 0, "how often to checkpoint (default the library's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := parseDialect(dialect)
	if err != nil {
		return err
	}
	if dir == "" {
		return fmt.Errorf("-checkpoint-dir is required")
	}
	c.Brokers, c.Topics, c.Dialect = cli.List(brokers), cli.List(topics), d
	c.CheckpointStore = checkpoint.NewFileStore(dir)
	job, err := turtlesync.New(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = job.Stop(context.Background())
	}()
	return job.Run(context.Background())
}
