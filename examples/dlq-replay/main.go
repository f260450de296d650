// Command dlq-replay lists and replays the dead letters of a streamkit job,
// built only from streamkit's public API (deadletter.Replay).
//
// A job started with a dead-letter topic writes every record it could not
// process there, byte for byte, with headers naming where it came from
// (streamkit.dlq.topic, .partition, .offset), the stage and error class
// that refused it, the error message, the job and the time. Once the cause is
// fixed (a new build, a store that accepts the change again), dlq-replay puts
// the selected records back into their original topic, or any other, in one
// Kafka transaction: either all of them are replayed or none.
//
// Usage:
//
//	dlq-replay -brokers HOST:9092 -dlq-topic eqiad.rdf-streaming-updater.mutation.dlq -dry-run
//	dlq-replay -brokers HOST:9092 -dlq-topic eqiad.rdf-streaming-updater.mutation.dlq \
//	    -stage decode -from 2026-11-25T10:00:00Z -to 2026-11-25T12:00:00Z
//
// Selection (every given filter must match; lists are comma-separated):
// -original-topic, -stage, -error-class, and -from/-to (RFC 3339, when the
// record was dead-lettered; -from inclusive, -to exclusive). -dry-run lists
// the selected dead letters with their provenance and sends nothing; -json
// lists them as JSON lines. Replay: -to-topic sends every record there
// instead of its original topic, -keep-partition keeps its original
// partition, -keep-provenance keeps the streamkit.dlq.* headers (a record
// that fails again then carries its history). The replay's transactional ID
// is -transactional-id (default "dlq-replay.<dlq topic>"): two replays of the
// same topic never run at once.
//
// The dead-letter topic is read up to its end at the start, with
// read_committed isolation: dead letters of aborted checkpoints are never
// replayed. Nothing is removed from it: replay an incident once, narrowed with
// -from and -to.
//
// Exit status: 0 on success, 1 when reading or replaying fails, 2 on a
// usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/internal/cli"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/deadletter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// options are the parsed flags.
type options struct {
	brokers         []string
	dlqTopic        string
	transactionalID string
	dryRun, asJSON  bool
	replay          deadletter.ReplayOptions
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parse parses the command line; a usage error is returned as is, -h as
// flag.ErrHelp.
func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("dlq-replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	var brokers, topics, stages, classes, from, to string
	fs.StringVar(&brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (required)")
	fs.StringVar(&o.dlqTopic, "dlq-topic", "", "dead-letter topic to read (required)")
	fs.StringVar(&topics, "original-topic", "", "select dead letters of these original topics")
	fs.StringVar(&stages, "stage", "", "select dead letters of these failing stages (decode, reassemble, sink:sparql, …)")
	fs.StringVar(&classes, "error-class", "", "select dead letters of these error classes")
	fs.StringVar(&from, "from", "", "select dead letters written at or after this RFC 3339 time")
	fs.StringVar(&to, "to", "", "select dead letters written before this RFC 3339 time")
	fs.BoolVar(&o.dryRun, "dry-run", false, "list the selected dead letters with their provenance; send nothing")
	fs.BoolVar(&o.asJSON, "json", false, "with -dry-run, list as JSON lines")
	fs.StringVar(&o.replay.Topic, "to-topic", "", "replay into this topic (default: each record's original topic)")
	fs.BoolVar(&o.replay.KeepPartition, "keep-partition", false, "replay each record into its original partition")
	fs.BoolVar(&o.replay.KeepProvenance, "keep-provenance", false, "keep the streamkit.dlq.* headers on replayed records")
	fs.StringVar(&o.transactionalID, "transactional-id", "", `transactional ID of the replay (default "dlq-replay.<dlq topic>")`)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: dlq-replay -brokers B -dlq-topic T [-dry-run] [filters] [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return nil, err
	}
	if o.brokers = list(brokers); len(o.brokers) == 0 {
		return nil, errors.New("-brokers is required")
	}
	if o.dlqTopic == "" {
		return nil, errors.New("-dlq-topic is required")
	}
	if o.asJSON && !o.dryRun {
		return nil, errors.New("-json lists dead letters: use it with -dry-run")
	}
	if o.replay.Topic == o.dlqTopic {
		return nil, errors.New("-to-topic is the dead-letter topic itself")
	}
	f := &o.replay.Filter
	f.Topics, f.Stages, f.ErrorClasses = list(topics), list(stages), list(classes)
	for _, tm := range []struct {
		name, s string
		dst     *time.Time
	}{{"-from", from, &f.FailedFrom}, {"-to", to, &f.FailedTo}} {
		if tm.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, tm.s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an RFC 3339 time", tm.name, tm.s)
		}
		*tm.dst = t
	}
	if !f.FailedFrom.IsZero() && !f.FailedTo.IsZero() && !f.FailedFrom.Before(f.FailedTo) {
		return nil, errors.New("-from must be before -to")
	}
	if o.transactionalID == "" {
		o.transactionalID = "dlq-replay." + o.dlqTopic
	}
	return o, nil
}

// entry is one listed dead letter.
type entry struct {
	Topic     string            `json:"topic"`
	Partition string            `json:"partition"`
	Offset    string            `json:"offset"`
	Stage     string            `json:"stage"`
	Class     string            `json:"error_class"`
	Message   string            `json:"error_message"`
	Job       string            `json:"job"`
	FailedAt  string            `json:"failed_at"`
	Key       string            `json:"key,omitempty"`
	Bytes     int               `json:"bytes"`
	Headers   map[string]string `json:"headers,omitempty"`
}

// lister is the RecordSender of a dry run: it prints what a replay would
// send, provenance included, and sends nothing.
type lister struct {
	w      io.Writer
	asJSON bool
	n      int
}

func (l *lister) Send(_ context.Context, rec streamkit.KafkaRecord) error {
	e := entry{Key: string(rec.Key), Bytes: len(rec.Value)}
	for _, h := range rec.Headers {
		v := string(h.Value)
		switch h.Key {
		case streamkit.HeaderDLQTopic:
			e.Topic = v
		case streamkit.HeaderDLQPartition:
			e.Partition = v
		case streamkit.HeaderDLQOffset:
			e.Offset = v
		case streamkit.HeaderDLQStage:
			e.Stage = v
		case streamkit.HeaderDLQErrorClass:
			e.Class = v
		case streamkit.HeaderDLQErrorMessage:
			e.Message = v
		case streamkit.HeaderDLQJob:
			e.Job = v
		case streamkit.HeaderDLQFailedAt:
			e.FailedAt = v
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				e.FailedAt = time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
			}
		default:
			if !strings.HasPrefix(h.Key, "streamkit.dlq.") {
				if e.Headers == nil {
					e.Headers = map[string]string{}
				}
				e.Headers[h.Key] = v
			}
		}
	}
	l.n++
	if l.asJSON {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(l.w, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(l.w, "%s/%s@%s\tstage=%s\tclass=%s\tjob=%s\tfailed_at=%s\tbytes=%d\terror=%q\n",
		e.Topic, e.Partition, e.Offset, e.Stage, e.Class, e.Job, e.FailedAt, e.Bytes, e.Message)
	return err
}

// run is the command with its environment passed in; base is the sarama
// configuration to start from (nil: sarama's defaults with Kafka 2.5). It
// returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, base *sarama.Config) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "dlq-replay:", err)
		return 2
	}
	if err := replay(ctx, o, stdout, stderr, base); err != nil {
		fmt.Fprintln(stderr, "dlq-replay:", err)
		return 1
	}
	return 0
}

func replay(ctx context.Context, o *options, stdout, stderr io.Writer, base *sarama.Config) error {
	cfg := sarama.NewConfig()
	if base != nil {
		c := *base
		cfg = &c
	} else {
		cfg.Version = sarama.V2_5_0_0
	}
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	client, err := sarama.NewClient(o.brokers, cfg)
	if err != nil {
		return fmt.Errorf("connecting to Kafka: %w", err)
	}
	defer client.Close()

	if o.dryRun {
		l := &lister{w: stdout, asJSON: o.asJSON}
		opts := o.replay
		opts.KeepProvenance = true // the listing shows it; nothing is sent
		st, err := deadletter.Replay(ctx, client, o.dlqTopic, l, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "dlq-replay: dry run: %d dead letters read, %d selected, %d skipped; nothing sent\n", st.Read, st.Replayed, st.Skipped)
		return nil
	}

	out, err := streamkit.NewKafkaProducer(o.brokers, o.transactionalID, streamkit.WithSaramaConfig(cfg))
	if err != nil {
		return err
	}
	defer out.Close()
	if err := out.Begin(ctx); err != nil {
		return fmt.Errorf("starting the replay transaction: %w", err)
	}
	st, err := deadletter.Replay(ctx, client, o.dlqTopic, out, o.replay)
	if err != nil {
		_ = out.Abort(context.WithoutCancel(ctx))
		return fmt.Errorf("nothing replayed: %w", err)
	}
	if err := out.Commit(ctx, nil, ""); err != nil {
		return fmt.Errorf("nothing replayed: %w", err)
	}
	dest := o.replay.Topic
	if dest == "" {
		dest = "their original topics"
	}
	fmt.Fprintf(stderr, "dlq-replay: %d dead letters read, %d replayed into %s, %d skipped\n", st.Read, st.Replayed, dest, st.Skipped)
	return nil
}
