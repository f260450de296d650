// Package turtlesync keeps a SPARQL store in step with a stream of Turtle
// documents, exactly once: a graph that is not a Wikibase, updated one
// subject at a time, with no URI scheme to configure.
//
// Input: Kafka records whose key is a subject IRI and whose value is a
// Turtle document about that subject (relative IRIs resolve against the
// subject; its blank nodes are the subject's own). A record with an empty
// value deletes the subject. Each document replaces the previous one of its
// subject: the processor keeps the last document of every subject in its
// checkpointed state, diffs the new one against it, and adds the change to
// the output (an import, a diff, a delete of the subject, or, when the store
// refused an earlier change of the subject at commit, a reconcile that
// replaces it whole). The output is a SPARQL store
// (sparql.NewSubjectUpdateBuilder) or, for tests, the in-memory graph in
// subject mode (graph.WithSubjects); both write the commit point with the
// data, so the job is exactly once.
//
// Blank nodes are skolemized under Config.SkolemBase, per subject
// (rdfdiff.SkolemizeSubject), so that a delete of the subject finds them. A
// document must be about its subject: every triple's subject is the subject
// or one of its blank nodes, reachable from it within
// rdfdiff.SubjectSkolemDepth links.
//
// Refusals happen before state changes: a record that is not a subject
// document, or whose terms the store would refuse (a language tag Oxigraph
// does not take, an ill-typed boolean for Blazegraph, …), fails Process
// before the state table is touched and is dead-lettered. A change the store
// still refuses at commit is dead-lettered through the task's dead-letter
// writer and its subject is marked (sparql.SPARQL.NeedsReplacement): the
// subject's next document is sent as a replacement, so state and store
// converge again. Every dead letter is counted in the job's Stats.
package turtlesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Stages and classes of the records the processor refuses
// (streamkit.StageError), as they appear in the dead letters' headers.
const (
	// StageDecode refuses a record that is not a subject document.
	StageDecode = "decode"
	// ClassNoSubject: the record has no key.
	ClassNoSubject = "no-subject"
	// ClassTurtle: the value is not Turtle.
	ClassTurtle = "turtle"
	// ClassNotSubjectDocument: the document is about something else than
	// its subject (rdfdiff.ErrSubjectDocument).
	ClassNotSubjectDocument = "not-subject-document"
)

// ErrInvalidConfig is matched by every error New returns for a configuration
// it refuses.
var ErrInvalidConfig = errors.New("turtlesync: invalid configuration")

// Writer is what the processor needs of its output: sparql.Writer and
// graph.Writer both are.
type Writer interface {
	// Add adds a change of a subject to the open checkpoint; origins are
	// its provenance (the source record), for dead letters.
	Add(c *rdfdiff.EntityChange, origins ...any) error
	// NeedsReplacement reports whether the subject's next change must
	// replace it whole.
	NeedsReplacement(subject string) bool
}

var (
	_ Writer = sparql.Writer{}
	_ Writer = graph.Writer{}
)

// Processor turns Turtle documents into subject changes. Create it with
// NewProcessor.
type Processor struct {
	out  Writer
	base string
	docs *checkpoint.Table[string, string] // subject → its document, sorted N-Triples
}

// NewProcessor returns a processor writing to out, skolemizing blank nodes
// under skolemBase.
func NewProcessor(out Writer, skolemBase string) (*Processor, error) {
	if out == nil {
		return nil, errors.New("turtlesync: processor needs an output")
	}
	if skolemBase == "" {
		return nil, fmt.Errorf("%w: the skolem base IRI is required (your dataset's base, e.g. http://example.org/)", ErrInvalidConfig)
	}
	return &Processor{out: out, base: skolemBase, docs: checkpoint.NewTable[string, string]("turtlesync.documents", 1)}, nil
}

// Tables returns the processor's state: the last document of each subject.
func (p *Processor) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{p.docs} }

// Process applies one record: a document of its key's subject, or, with an
// empty value, the subject's delete. The state changes only after the
// output took the change.
func (p *Processor) Process(_ context.Context, rec *source.Record) error {
	subject := string(rec.Key)
	if subject == "" {
		return &streamkit.StageError{Stage: StageDecode, Class: ClassNoSubject, Err: errors.New("turtlesync: record without a key: the key is the subject IRI")}
	}
	old, had := p.docs.Get(subject)
	if len(rec.Value) == 0 {
		c := &rdfdiff.EntityChange{EntityID: subject, Revision: rec.Offset + 1, Operation: rdfdiff.OpDelete, EventTime: rec.Timestamp}
		if err := p.out.Add(c, *rec); err != nil {
			return err
		}
		p.docs.Delete(subject)
		return nil
	}
	doc, err := p.document(subject, rec.Value)
	if err != nil {
		return err
	}
	c := &rdfdiff.EntityChange{EntityID: subject, Revision: rec.Offset + 1, EventTime: rec.Timestamp}
	switch {
	case p.out.NeedsReplacement(subject):
		c.Operation, c.Patch = rdfdiff.OpReconcile, rdfdiff.Diff(nil, doc, nil)
	case had:
		prev, err := rdfdiff.ParseNTriplesBytes([]byte(old))
		if err != nil {
			return fmt.Errorf("turtlesync: stored document of %s: %w", subject, err)
		}
		c.Operation, c.Patch = rdfdiff.OpDiff, rdfdiff.Diff(prev, doc, nil)
		if c.Patch.IsEmpty() {
			return nil
		}
	default:
		c.Operation, c.Patch = rdfdiff.OpImport, rdfdiff.Diff(nil, doc, nil)
	}
	if err := p.out.Add(c, *rec); err != nil {
		return err
	}
	p.docs.Set(subject, string(rdfdiff.AppendNTriples(nil, doc)))
	return nil
}

// document parses, skolemizes and checks the document of subject, sorted
// and without duplicates.
func (p *Processor) document(subject string, value []byte) ([]rdfdiff.Triple, error) {
	ts, err := rdfdiff.ParseTurtleBytes(value, rdfdiff.WithBaseIRI(subject))
	if err != nil {
		return nil, &streamkit.StageError{Stage: StageDecode, Class: ClassTurtle, Err: fmt.Errorf("turtlesync: document of %s: %w", subject, err)}
	}
	ts = rdfdiff.SkolemizeSubject(p.base, subject, ts)
	if err := rdfdiff.CheckSubjectDocument(p.base, subject, ts); err != nil {
		return nil, &streamkit.StageError{Stage: StageDecode, Class: ClassNotSubjectDocument, Err: err}
	}
	ts = slices.Clone(ts)
	rdfdiff.SortTriples(ts)
	return slices.Compact(ts), nil
}

// Config configures a job.
type Config struct {
	// JobName names the job (default "turtle-sync").
	JobName string
	// Brokers, Topics and Group say where the documents are read.
	Brokers []string
	Topics  []string
	Group   string
	// Sarama is the base client configuration (TLS, SASL, version).
	Sarama *sarama.Config

	// StoreURL is the SPARQL endpoint (query and update) of the store;
	// Dialect its kind (default Oxigraph's, sparql.DialectSPARQL11).
	// DataGraph and CommitGraph are the named graphs of the data and of the
	// commit points (default: the default graph).
	StoreURL               string
	Dialect                sparql.Dialect
	DataGraph, CommitGraph string
	// Graph, instead of StoreURL, is an in-memory graph in subject mode
	// (graph.NewGraph(graph.WithSubjects(SkolemBase))), for tests; it
	// refuses what Dialect's store would. One task (one input partition).
	Graph *graph.Graph

	// SkolemBase is the base IRI of the skolem IRIs of blank nodes.
	// Required.
	SkolemBase string

	// DeadLetterTopic receives the records that cannot be applied, with
	// their provenance; DeadLetterBrokers is its cluster (default Brokers).
	// Without it such a record stops the job.
	DeadLetterTopic   string
	DeadLetterBrokers []string

	// CheckpointStore keeps the documents; CheckpointInterval is how often.
	CheckpointStore    checkpoint.Store
	CheckpointInterval time.Duration
	// Logger is the job's logger (default slog.Default()).
	Logger *slog.Logger
	// JobOptions are appended to the job's options.
	JobOptions []streamkit.Option
}

// Job is a running turtle-sync job and the dead-letter producer it owns.
type Job struct {
	*streamkit.Job
	dl *streamkit.KafkaSender
}

// Run runs the job until ctx ends or it stops, then closes the dead-letter
// producer.
func (j *Job) Run(ctx context.Context) error {
	err := j.Job.Run(ctx)
	if j.dl != nil {
		if cerr := j.dl.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// New returns the job for cfg. It does no I/O.
func New(cfg Config) (*Job, error) {
	c := cfg
	if c.JobName == "" {
		c.JobName = "turtle-sync"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case len(c.Brokers) == 0 || len(c.Topics) == 0:
		return nil, fmt.Errorf("%w: brokers and topics are required", ErrInvalidConfig)
	case (c.StoreURL == "") == (c.Graph == nil):
		return nil, fmt.Errorf("%w: give either a store URL or an in-memory Graph", ErrInvalidConfig)
	case c.SkolemBase == "" || !strings.Contains(c.SkolemBase, ":"):
		return nil, fmt.Errorf("%w: SkolemBase must be an absolute IRI (your dataset's base, e.g. http://example.org/)", ErrInvalidConfig)
	case c.CheckpointStore == nil:
		return nil, fmt.Errorf("%w: a checkpoint store is required (it keeps the documents)", ErrInvalidConfig)
	}
	if len(c.DeadLetterBrokers) == 0 {
		c.DeadLetterBrokers = c.Brokers
	}
	srcOpts := []source.Option{source.WithLogger(c.Logger)}
	if c.Sarama != nil {
		srcOpts = append(srcOpts, source.WithBaseConfig(c.Sarama))
	}
	in := streamkit.Input{Brokers: c.Brokers, Topics: c.Topics, Group: c.Group, Options: srcOpts}
	opts := []streamkit.Option{streamkit.WithCheckpointStore(c.CheckpointStore), streamkit.WithLogger(c.Logger)}
	if c.CheckpointInterval > 0 {
		opts = append(opts, streamkit.WithCheckpointInterval(c.CheckpointInterval))
	}
	if c.DeadLetterTopic != "" {
		opts = append(opts, streamkit.WithDeadLetterTopic(c.DeadLetterTopic))
	}
	opts = append(opts, c.JobOptions...)
	job := &Job{}
	var err error
	if c.Graph != nil {
		// The in-memory output holds its dead letters with its checkpoints.
		outputs := graph.Outputs(func(_ context.Context, info streamkit.TaskInfo) (*graph.GraphOutput, error) {
			if info.Task != 0 {
				return nil, fmt.Errorf("%w: an in-memory graph holds the commit point of one task; task %d has none", ErrInvalidConfig, info.Task)
			}
			return graph.NewGraphOutput(c.Graph, graph.WithChangeCheck(c.Dialect.CheckChange))
		})
		job.Job, err = streamkit.NewJob(c.JobName, in, outputs,
			func(_ streamkit.TaskInfo, w graph.Writer) (streamkit.Processor, error) {
				return NewProcessor(w, c.SkolemBase)
			}, opts...)
	} else {
		var client *sparql.Client
		if client, err = sparql.NewClient(c.StoreURL); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		var bopts []sparql.Option
		if c.DataGraph != "" {
			bopts = append(bopts, sparql.WithDataGraph(c.DataGraph))
		}
		if c.CommitGraph != "" {
			bopts = append(bopts, sparql.WithCommitGraph(c.CommitGraph))
		}
		b, berr := sparql.NewSubjectUpdateBuilder(c.SkolemBase, bopts...)
		if berr != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, berr)
		}
		sopts := []sparql.Option{sparql.WithDialect(c.Dialect)}
		outputs := sparql.Outputs(client, b, sopts...)
		if c.DeadLetterTopic != "" {
			// Dead letters, the runner's and the store's refusals alike,
			// go to Kafka at once through the library's sender.
			if job.dl, err = streamkit.NewKafkaSender(c.DeadLetterBrokers, c.Sarama); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
			}
			outputs = streamkit.OutputsSendingTo(sparql.Outputs(client, b, append(sopts, sparql.WithRejectedDeadLetters())...), job.dl)
		}
		job.Job, err = streamkit.NewJob(c.JobName, in, outputs,
			func(_ streamkit.TaskInfo, w sparql.Writer) (streamkit.Processor, error) {
				return NewProcessor(w, c.SkolemBase)
			}, opts...)
	}
	if err != nil {
		if job.dl != nil {
			_ = job.dl.Close()
		}
		if errors.Is(err, streamkit.ErrInvalidJob) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		return nil, err
	}
	return job, nil
}
