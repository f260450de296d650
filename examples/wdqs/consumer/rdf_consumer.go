package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Stages an RDFConsumer names when it refuses a record (StageError.Stage,
// and so the dead letter's HeaderDLQStage).
const (
	// StageDecode: the record is not a valid rdf_change message
	// (rdfdiff.DecodeEvent failed).
	StageDecode = "decode"
	// StageReassemble: the record's chunk could not join an event (a lost,
	// duplicated or interleaved chunk, or Turtle that does not parse).
	StageReassemble = "reassemble"
	// StageAccumulate: the reassembled change can never be merged into a
	// batch (malformed sitelinks, an invalid change).
	StageAccumulate = "accumulate"
)

// Error classes of the records an RDFConsumer refuses (StageError.Class):
// low-cardinality names for dead-letter filters and alerts.
const (
	ClassInvalidEvent        = "invalid-event"
	ClassBrokenChunkSequence = "broken-chunk-sequence"
	ClassInvalidChange       = "invalid-change"
)

// RDFConsumerTable is the name of the RDFConsumer's state table, which keeps
// the chunks of events not yet complete (see RDFConsumer).
const RDFConsumerTable = "rdf-consumer.pending"

// rdfConsumerTableVersion is the schema version of RDFConsumerTable's values.
const rdfConsumerTableVersion = 1

// ChangeWriter is where an RDFConsumer hands each reassembled entity change:
// the task's Output, which merges the changes of a checkpoint and applies
// them when the checkpoint commits. SPARQL and GraphOutput implement it.
//
// origins are the change's provenance (one SourceRecord per chunk, in stream
// order), which the writer hands back when the store rejects the change.
// An error matching rdfdiff.ErrInvalidChange means the change can never be
// applied (the consumer dead-letters its records); any other error means the
// writer cannot take changes now (closed, no checkpoint open).
type ChangeWriter interface {
	Add(c *rdfdiff.EntityChange, origins ...any) error
}

// The outputs an RDFConsumer feeds.
var (
	_ ChangeWriter = sparql.Writer{}
	_ ChangeWriter = graph.Writer{}
)

// RDFConsumerOption configures an RDFConsumer.
type RDFConsumerOption func(*RDFConsumer)

// WithConsumerDeadLetter sets where the consumer dead-letters records other
// than the one it is processing: the earlier chunks of an event that turned
// out broken or invalid. The record being processed is refused through
// Process's error, which the job runner dead-letters. Without it such
// earlier chunks are only logged (ERROR, with topic, partition and offset)
// and counted in RDFConsumerStats.Unrecorded: give one whenever the job has a
// dead-letter topic, typically NewDeadLetter over the task's output.
func WithConsumerDeadLetter(w streamkit.FailureWriter) RDFConsumerOption {
	return func(c *RDFConsumer) { c.dl = w }
}

// WithCanaryEvents sets whether events of the domain "canary" (MediaWiki's
// synthetic monitoring edits) are applied. The default, false, drops them as
// the WDQS consumer does.
func WithCanaryEvents(keep bool) RDFConsumerOption {
	return func(c *RDFConsumer) { c.keepCanary = keep }
}

// WithEntityFilter keeps only the events of entities whose ID re matches
// (anywhere in the ID, as WDQS's --entityFilter); nil keeps all.
func WithEntityFilter(re *regexp.Regexp) RDFConsumerOption {
	return func(c *RDFConsumer) { c.entities = re }
}

// WithConsumerLogger sets the logger (default slog.Default()).
func WithConsumerLogger(l *slog.Logger) RDFConsumerOption {
	return func(c *RDFConsumer) { c.log = l }
}

// RDFConsumerStats are the counters of an RDFConsumer since it was created.
type RDFConsumerStats struct {
	// Records counts records handed to Process.
	Records int64
	// Changes counts reassembled changes handed to the output.
	Changes int64
	// Filtered counts records dropped by the canary or entity filter.
	Filtered int64
	// Undecodable counts records refused at the decode stage.
	Undecodable int64
	// BrokenSequences counts chunk-sequence errors.
	BrokenSequences int64
	// InvalidChanges counts changes the output refused as invalid.
	InvalidChanges int64
	// DeadLettered counts earlier records written to the consumer's
	// streamkit.FailureWriter (the refused current record is counted by the runner).
	DeadLettered int64
	// Unrecorded counts earlier records that had to be dead-lettered while
	// no streamkit.FailureWriter was set: they were only logged.
	Unrecorded int64
}

type rdfConsumerCounters struct {
	records, changes, filtered, undecodable, broken, invalid, deadLettered, unrecorded atomic.Int64
}

// pendingChunk is one record of an event still being reassembled, kept
// byte for byte in the state table so that a restored task rebuilds the
// partial event and can still dead-letter its records exactly.
type pendingChunk struct {
	Offset    int64                   `msgpack:"o"`
	Timestamp int64                   `msgpack:"t"` // Unix nanoseconds; 0 for none
	Key       []byte                  `msgpack:"k"`
	Value     []byte                  `msgpack:"v"`
	Headers   []streamkit.KafkaHeader `msgpack:"h"`
}

// partitionReassembly is the reassembly of one input partition.
type partitionReassembly struct {
	topic     string
	partition int32
	key       string
	re        *rdfdiff.Reassembler
	chunks    []pendingChunk // the records behind re.Pending(), in order
}

// RDFConsumer is the per-replica consumer of the WDQS mutation topic as a job
// Processor (it has the root package's Processor method set: Tables and
// Process): it decodes each rdf_change record, reassembles chunked events
// (rdfdiff.Reassembler, one per input partition) and hands every complete
// entity change to the task's output (a ChangeWriter: SPARQL, GraphOutput),
// which accumulates the checkpoint's changes and applies them, with the
// commit point, when the runner commits.
//
// Exactly once across chunks. The chunks of an event not yet complete live
// in a checkpointed state table (RDFConsumerTable), byte for byte, so a
// checkpoint between two chunks of one event is exact: the committed
// positions are past the stored chunks, and a restored task rebuilds the
// partial event from the table before its next record. No chunk is lost or
// read twice, which the WDQS consumer cannot promise: it commits the offset
// of the last record rather than the next one, so a restart reads that record
// again, and a lone final chunk passes for a whole event.
//
// Bad input is refused, never applied in part. A record that does not
// decode is refused with a *streamkit.StageError (stage "decode"); a broken chunk
// sequence (rdfdiff.ChunkSequenceError) refuses the records it drops, stage
// "reassemble"; a change the output finds invalid refuses its records, stage
// "accumulate". The record being processed is refused through Process's
// error, which the runner dead-letters (WithDeadLetterTopic) so that the
// partition moves on, or, without a dead-letter topic, stops the job
// rather than lose it. Earlier chunks of the same event go to the consumer's
// streamkit.FailureWriter (WithConsumerDeadLetter). The runner dead-letters through
// the task's output, so this needs an output that is a RecordSender
// (GraphOutput, KafkaOutput); a job writing to a SPARQL store has no
// dead-letter topic today and stops on a bad record, as WDQS's consumer does.
//
// Canary events are dropped and an entity filter applies, as in WDQS. An
// RDFConsumer is one task's processor: not safe for concurrent use (Stats
// excepted).
type RDFConsumer struct {
	out        ChangeWriter
	dl         streamkit.FailureWriter
	log        *slog.Logger
	keepCanary bool
	entities   *regexp.Regexp

	table *checkpoint.Table[string, []pendingChunk]
	parts map[string]*partitionReassembly
	stats rdfConsumerCounters
}

// NewRDFConsumer returns a consumer handing changes to out. It does no I/O.
func NewRDFConsumer(out ChangeWriter, opts ...RDFConsumerOption) (*RDFConsumer, error) {
	if out == nil {
		return nil, errors.New("consumer: rdf consumer needs an output")
	}
	c := &RDFConsumer{
		out:   out,
		log:   slog.Default(),
		table: checkpoint.NewTable[string, []pendingChunk](RDFConsumerTable, rdfConsumerTableVersion),
		parts: make(map[string]*partitionReassembly),
	}
	for _, o := range opts {
		o(c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Tables returns the consumer's state: the table of incomplete events.
func (c *RDFConsumer) Tables() []checkpoint.StateTable {
	return []checkpoint.StateTable{c.table}
}

// Stats returns the consumer's counters. It is safe to call concurrently
// with Process.
func (c *RDFConsumer) Stats() RDFConsumerStats {
	s := &c.stats
	return RDFConsumerStats{
		Records: s.records.Load(), Changes: s.changes.Load(), Filtered: s.filtered.Load(),
		Undecodable: s.undecodable.Load(), BrokenSequences: s.broken.Load(), InvalidChanges: s.invalid.Load(),
		DeadLettered: s.deadLettered.Load(), Unrecorded: s.unrecorded.Load(),
	}
}

// Pending returns the number of chunks held for incomplete events.
func (c *RDFConsumer) Pending() int {
	n := 0
	c.table.Range(func(_ string, v []pendingChunk) bool {
		n += len(v)
		return true
	})
	return n
}

// Process handles one record of the mutation topic; see RDFConsumer. A
// returned *streamkit.StageError refuses the record (the runner dead-letters it); other
// errors come from the output or the dead-letter writer, and leave the
// consumer as it was before the record.
func (c *RDFConsumer) Process(ctx context.Context, rec *source.Record) error {
	if rec == nil {
		return &streamkit.StageError{Stage: StageDecode, Class: ClassInvalidEvent, Err: errors.New("consumer: rdf consumer: nil record")}
	}
	c.stats.records.Add(1)
	pr, err := c.reassembly(ctx, rec.Topic, rec.Partition)
	if err != nil {
		return err
	}
	ev, err := rdfdiff.DecodeEvent(rec.Value)
	if err != nil {
		c.stats.undecodable.Add(1)
		return &streamkit.StageError{Stage: StageDecode, Class: ClassInvalidEvent, Err: err}
	}
	if (!c.keepCanary && ev.Meta.Domain == "canary") || (c.entities != nil && !c.entities.MatchString(ev.EntityID)) {
		c.stats.filtered.Add(1)
		return nil
	}

	before := pr.chunks
	cur := chunkOf(rec)
	change, aerr := pr.re.Add(ev, rec.Offset)
	var (
		refused error          // the current record's refusal
		lost    []pendingChunk // earlier records to dead-letter
		lostErr error
		kept    []pendingChunk // earlier records still part of an event
	)
	if aerr != nil {
		var cse *rdfdiff.ChunkSequenceError
		if !errors.As(aerr, &cse) {
			// Add refuses an invalid event without changing anything;
			// DecodeEvent already validated it, so this is unexpected.
			return &streamkit.StageError{Stage: StageReassemble, Class: ClassInvalidEvent, Err: aerr}
		}
		c.stats.broken.Add(1)
		dropped := make(map[int64]bool, len(cse.Dropped))
		for _, o := range cse.Dropped {
			if off, ok := o.(int64); ok {
				dropped[off] = true
			}
		}
		for _, ch := range before {
			if dropped[ch.Offset] {
				lost = append(lost, ch)
			} else {
				kept = append(kept, ch)
			}
		}
		lostErr = cse
		if dropped[rec.Offset] {
			refused = &streamkit.StageError{Stage: StageReassemble, Class: ClassBrokenChunkSequence, Err: cse}
		}
	} else {
		kept = before
	}

	if change != nil {
		// The change is made of the kept earlier chunks and this one.
		chunks := append(slices.Clone(kept), cur)
		origins := make([]any, len(chunks))
		for i := range chunks {
			origins[i] = chunks[i].sourceRecord(rec.Topic, rec.Partition)
		}
		if err := c.out.Add(change, origins...); err != nil {
			if !errors.Is(err, rdfdiff.ErrInvalidChange) {
				// The output cannot take changes: undo this record.
				if rerr := c.rebuild(ctx, pr, before); rerr != nil {
					return errors.Join(fmt.Errorf("consumer: rdf consumer: output: %w", err), rerr)
				}
				return fmt.Errorf("consumer: rdf consumer: output: %w", err)
			}
			c.stats.invalid.Add(1)
			if lostErr == nil {
				lostErr = err
			}
			// Every record of the change is refused, under the output's
			// stage when it names one (a change the store would refuse).
			stage, class := StageAccumulate, ClassInvalidChange
			var se *streamkit.StageError
			if errors.As(err, &se) {
				stage, class = se.Stage, se.Class
			}
			if len(kept) > 0 {
				if err2 := c.deadLetter(ctx, rec.Topic, rec.Partition, kept, stage, class, err); err2 != nil {
					return err2
				}
			}
			refused = &streamkit.StageError{Stage: stage, Class: class, Err: err}
		} else {
			c.stats.changes.Add(1)
		}
	}
	if len(lost) > 0 {
		if err := c.deadLetter(ctx, rec.Topic, rec.Partition, lost, StageReassemble, ClassBrokenChunkSequence, lostErr); err != nil {
			return err
		}
	}

	// Keep the state table in step with the reassembler.
	pending := pr.re.Pending()
	next := make([]pendingChunk, 0, len(pending))
	for _, o := range pending {
		off, _ := o.(int64)
		if off == rec.Offset {
			next = append(next, cur)
			continue
		}
		for _, ch := range before {
			if ch.Offset == off {
				next = append(next, ch)
				break
			}
		}
	}
	c.setChunks(pr, next)
	return refused
}

// reassembly returns the reassembly of a partition, rebuilding it from the
// state table the first time (after a restore, the table holds the chunks
// of the event that was incomplete at the checkpoint).
func (c *RDFConsumer) reassembly(ctx context.Context, topic string, partition int32) (*partitionReassembly, error) {
	key := topic + "/" + strconv.FormatInt(int64(partition), 10)
	if pr, ok := c.parts[key]; ok {
		return pr, nil
	}
	pr := &partitionReassembly{topic: topic, partition: partition, key: key, re: rdfdiff.NewReassembler()}
	stored, _ := c.table.Get(key)
	if err := c.rebuild(ctx, pr, stored); err != nil {
		return nil, err
	}
	c.parts[key] = pr
	return pr, nil
}

// rebuild resets pr's reassembler to hold exactly chunks (records that
// formed a valid partial event when they were read). Should they no longer
// do so (a table written by another version), they are dead-lettered.
func (c *RDFConsumer) rebuild(ctx context.Context, pr *partitionReassembly, chunks []pendingChunk) error {
	pr.re = rdfdiff.NewReassembler()
	for _, ch := range chunks {
		ev, err := rdfdiff.DecodeEvent(ch.Value)
		var change *rdfdiff.EntityChange
		if err == nil {
			change, err = pr.re.Add(ev, ch.Offset)
		}
		if err == nil && change != nil {
			err = errors.New("consumer: rdf consumer: stored chunks complete an event")
		}
		if err != nil {
			pr.re = rdfdiff.NewReassembler()
			c.setChunks(pr, nil)
			c.stats.broken.Add(1)
			return c.deadLetter(ctx, pr.topic, pr.partition, chunks, StageReassemble, ClassBrokenChunkSequence,
				fmt.Errorf("consumer: rdf consumer: restoring the pending chunks of %s: %w", pr.key, err))
		}
	}
	c.setChunks(pr, chunks)
	return nil
}

// setChunks records the pending chunks of pr, in memory and in the table.
func (c *RDFConsumer) setChunks(pr *partitionReassembly, chunks []pendingChunk) {
	had := len(pr.chunks) > 0
	if !had {
		_, had = c.table.Get(pr.key)
	}
	pr.chunks = chunks
	switch {
	case len(chunks) > 0:
		c.table.Set(pr.key, chunks)
	case had:
		c.table.Delete(pr.key)
	}
}

// deadLetter writes earlier records of the partition to the streamkit.FailureWriter,
// or logs them when there is none.
func (c *RDFConsumer) deadLetter(ctx context.Context, topic string, partition int32, chunks []pendingChunk, stage, class string, cause error) error {
	for _, ch := range chunks {
		if c.dl == nil {
			c.stats.unrecorded.Add(1)
			c.log.Error("consumer: rdf consumer: record refused and no dead-letter writer set; it is NOT dead-lettered",
				"topic", topic, "partition", partition, "offset", ch.Offset, "stage", stage, "err", cause)
			continue
		}
		f := streamkit.Failure{Record: ch.sourceRecord(topic, partition), Stage: stage, Class: class, Err: cause, Attempts: 1}
		if err := c.dl.Write(ctx, f); err != nil {
			return fmt.Errorf("consumer: rdf consumer: dead-lettering %s/%d@%d: %w", topic, partition, ch.Offset, err)
		}
		c.stats.deadLettered.Add(1)
	}
	return nil
}

func chunkOf(rec *source.Record) pendingChunk {
	ch := pendingChunk{Offset: rec.Offset, Key: rec.Key, Value: rec.Value}
	if !rec.Timestamp.IsZero() {
		ch.Timestamp = rec.Timestamp.UnixNano()
	}
	for _, h := range rec.Headers {
		ch.Headers = append(ch.Headers, streamkit.KafkaHeader{Key: string(h.Key), Value: h.Value})
	}
	return ch
}

func (ch *pendingChunk) sourceRecord(topic string, partition int32) source.Record {
	sr := source.Record{Topic: topic, Partition: partition, Offset: ch.Offset, Key: ch.Key, Value: ch.Value}
	for _, h := range ch.Headers {
		sr.Headers = append(sr.Headers, source.Header{Key: []byte(h.Key), Value: h.Value})
	}
	if ch.Timestamp != 0 {
		sr.Timestamp = time.Unix(0, ch.Timestamp)
	}
	return sr
}
