package rdfdiff

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ChunkSequenceError reports messages that Reassembler could not turn into an
// event: a sequence that does not start at 0, a gap, a duplicate, a header
// field (sequence_length, entity, revision, operation, event time, schema,
// meta.request_id, meta.stream or meta.domain) that changes in the middle of a
// sequence, a new sequence that starts before the previous one finished, or a
// chunk whose Turtle does not parse.
//
// errors.Is(err, ErrBrokenChunkSequence) holds for every ChunkSequenceError;
// when a chunk's Turtle is invalid, errors.As(err, &syntaxErr) finds the
// parser's *SyntaxError (its Line and Col are relative to that chunk's data).
type ChunkSequenceError struct {
	// EntityID, Revision, Operation and RequestID identify the message that
	// revealed the problem; Sequence and SequenceLength are its position.
	EntityID       string
	Revision       int64
	Operation      Operation
	RequestID      string
	Sequence       int
	SequenceLength int
	// Origin is the provenance the caller gave Reassembler.Add with that
	// message (for example a Kafka topic, partition and offset).
	Origin any
	// Dropped holds the provenance of every message that this error removed
	// from reassembly, in stream order: the chunks of an abandoned partial
	// event and, unless it started a new sequence, the message itself. These
	// messages will never be part of a returned change; send them to a
	// dead-letter queue.
	Dropped []any
	// Msg says what went wrong.
	Msg string
	// Err is the underlying cause (the parser's error), or nil.
	Err error
}

// Error names the message at fault, what went wrong and how many messages
// were dropped.
func (e *ChunkSequenceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rdfdiff: broken chunk sequence: %s rev %d (%s, request_id %q) chunk %d/%d: %s",
		e.EntityID, e.Revision, e.Operation, e.RequestID, e.Sequence, e.SequenceLength, e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	fmt.Fprintf(&b, " (%d message(s) dropped)", len(e.Dropped))
	return b.String()
}

// Unwrap returns ErrBrokenChunkSequence and the underlying cause, if any.
func (e *ChunkSequenceError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrBrokenChunkSequence, e.Err}
	}
	return []error{ErrBrokenChunkSequence}
}

// sequenceKey holds the fields every chunk of one event repeats.
type sequenceKey struct {
	schema, entityID, requestID, stream, domain string
	revision                                    int64
	operation                                   Operation
	eventTime                                   time.Time
	length                                      int
}

func keyOf(ev *ChangeEvent) sequenceKey {
	schema := ev.Schema
	if schema == "" {
		schema = SchemaRDFChangeV2
	}
	return sequenceKey{
		schema: schema, entityID: ev.EntityID, requestID: ev.Meta.RequestID,
		stream: ev.Meta.Stream, domain: ev.Meta.Domain, revision: ev.Revision,
		operation: ev.Operation, eventTime: ev.EventTime.UTC(), length: ev.SequenceLength,
	}
}

// mismatch names the first header field in which k and o differ, or "".
func (k sequenceKey) mismatch(o sequenceKey) string {
	switch {
	case k.schema != o.schema:
		return fmt.Sprintf("$schema changed from %q to %q", k.schema, o.schema)
	case k.requestID != o.requestID:
		return fmt.Sprintf("meta.request_id changed from %q to %q", k.requestID, o.requestID)
	case k.entityID != o.entityID:
		return fmt.Sprintf("entity changed from %s to %s", k.entityID, o.entityID)
	case k.revision != o.revision:
		return fmt.Sprintf("revision changed from %d to %d", k.revision, o.revision)
	case k.operation != o.operation:
		return fmt.Sprintf("operation changed from %s to %s", k.operation, o.operation)
	case k.length != o.length:
		return fmt.Sprintf("sequence_length changed from %d to %d", k.length, o.length)
	case !k.eventTime.Equal(o.eventTime):
		return fmt.Sprintf("event time changed from %s to %s", FormatEventTime(k.eventTime), FormatEventTime(o.eventTime))
	case k.stream != o.stream:
		return fmt.Sprintf("meta.stream changed from %q to %q", k.stream, o.stream)
	case k.domain != o.domain:
		return fmt.Sprintf("meta.domain changed from %q to %q", k.domain, o.domain)
	}
	return ""
}

func (k sequenceKey) String() string {
	return fmt.Sprintf("%s rev %d (%s, request_id %q, %d chunks)", k.entityID, k.revision, k.operation, k.requestID, k.length)
}

// partialEvent is the sequence being reassembled.
type partialEvent struct {
	key     sequenceKey
	next    int   // the sequence number expected next
	origins []any // provenance of the chunks received, in order
	patch   Patch
}

// skipState remembers a sequence that was rejected part-way, so that its
// remaining chunks are reported as such rather than as "not starting at 0".
type skipState struct {
	key  sequenceKey
	next int
}

// Reassembler rebuilds logical events from rdf_change messages read in stream
// order (one Kafka partition), checking that the chunks of each event form one
// complete, consistent run: sequence 0, 1, …, sequence_length−1, with the same
// entity, revision, operation, event time, schema, meta.request_id, stream and
// domain. It parses each chunk's Turtle as it arrives (so an event's text is
// never held in memory whole) and appends the triples bucket by bucket.
//
// It exists because the WDQS consumer reassembles whatever run of records ends
// with sequence+1 == sequence_length: a lost, duplicated or interleaved chunk
// silently becomes a partial patch in the triple store. Here such a run is
// never returned; it is reported as a *ChunkSequenceError listing the dropped
// messages, and reassembly resumes with the next sequence that starts at 0.
//
// Provenance: Add takes an opaque origin per message (a Kafka record's topic,
// partition and offset, for instance); errors return the origins of every
// message they drop, so the caller can dead-letter exactly those records, and
// Pending returns the origins of the chunks still buffered, so a checkpoint
// does not commit past the first of them. Every origin given to Add ends up
// either in a returned change or in exactly one error's Dropped list (or is
// still pending).
//
// A Reassembler holds at most one partial event. It is not safe for
// concurrent use; use one per partition. The zero value is not usable; call
// NewReassembler.
type Reassembler struct {
	cur   *partialEvent
	skip  *skipState
	parse func(data string) ([]Triple, error)
}

// NewReassembler returns a Reassembler that parses chunks with ParseTurtle.
func NewReassembler() *Reassembler {
	return &Reassembler{parse: func(data string) ([]Triple, error) {
		return ParseTurtle(strings.NewReader(data), "")
	}}
}

// Pending returns the origins of the chunks buffered for the event being
// reassembled, in stream order, or nil when no event is in progress.
func (r *Reassembler) Pending() []any {
	if r.cur == nil {
		return nil
	}
	return append([]any(nil), r.cur.origins...)
}

// Reset drops the event being reassembled, if any, and returns the origins of
// its buffered chunks (for example at shutdown, or when the caller gives up
// waiting for the rest of a sequence).
func (r *Reassembler) Reset() []any {
	var dropped []any
	if r.cur != nil {
		dropped = r.cur.origins
	}
	r.cur, r.skip = nil, nil
	return dropped
}

// Add feeds the next message of the stream, with its provenance origin
// (any value, or nil). It returns the reassembled change when ev completes an
// event, and nil while the event is incomplete.
//
// ev must be valid (as DecodeEvent returns it); otherwise Add returns its
// *EventError and changes nothing. Broken sequences give a
// *ChunkSequenceError (see its Dropped field). In one case Add returns a
// change and an error together: when ev starts a new event before the
// previous one finished, the error reports the abandoned partial event, and
// ev is accepted as the start of the new one — which, if it is a
// single-message event, is complete and returned. So handle the change
// whenever it is not nil, as with io.Reader's n and err.
func (r *Reassembler) Add(ev *ChangeEvent, origin any) (*EntityChange, error) {
	if ev == nil {
		return nil, &EventError{Msg: "nil event"}
	}
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	key := keyOf(ev)
	newErr := func(msg string, cause error, dropped []any) *ChunkSequenceError {
		return &ChunkSequenceError{
			EntityID: ev.EntityID, Revision: ev.Revision, Operation: ev.Operation, RequestID: ev.Meta.RequestID,
			Sequence: ev.Sequence, SequenceLength: ev.SequenceLength, Origin: origin,
			Dropped: dropped, Msg: msg, Err: cause,
		}
	}

	if ev.Sequence == 0 {
		var abandoned *ChunkSequenceError
		if r.cur != nil {
			abandoned = newErr(fmt.Sprintf("new event started after %d of %d chunks of %s; the partial event was dropped",
				r.cur.next, r.cur.key.length, r.cur.key), nil, r.cur.origins)
			r.cur = nil
		}
		r.skip = nil
		change, startErr := r.start(ev, key, origin, newErr)
		switch {
		case abandoned == nil && startErr == nil:
			return change, nil
		case abandoned == nil:
			return nil, startErr
		case startErr == nil:
			return change, abandoned
		default:
			abandoned.Dropped = append(abandoned.Dropped, startErr.Dropped...)
			abandoned.Msg += "; then " + startErr.Msg
			abandoned.Err = startErr.Err
			return nil, abandoned
		}
	}

	if r.cur == nil {
		if s := r.skip; s != nil && s.key == key && s.next == ev.Sequence {
			s.next++
			if s.next == s.key.length {
				r.skip = nil
			}
			return nil, newErr("chunk of an event that was already rejected", nil, []any{origin})
		}
		r.skipFrom(key, ev.Sequence+1)
		return nil, newErr(fmt.Sprintf("sequence does not start at 0: chunk %d arrived with no event in progress", ev.Sequence),
			nil, []any{origin})
	}

	cur := r.cur
	fail := func(msg string, cause error, skipNext int) (*EntityChange, error) {
		dropped := append(cur.origins, origin)
		r.cur = nil
		r.skipFrom(key, skipNext)
		return nil, newErr(msg, cause, dropped)
	}
	if m := cur.key.mismatch(key); m != "" {
		return fail(fmt.Sprintf("%s in the middle of %s after %d chunks", m, cur.key, cur.next), nil, ev.Sequence+1)
	}
	switch {
	case ev.Sequence > cur.next:
		return fail(fmt.Sprintf("gap: expected chunk %d, got %d", cur.next, ev.Sequence), nil, ev.Sequence+1)
	case ev.Sequence < cur.next:
		return fail(fmt.Sprintf("duplicate or out-of-order chunk: expected chunk %d, got %d", cur.next, ev.Sequence), nil, cur.next)
	}
	if msg, err := r.appendChunk(&cur.patch, ev); err != nil {
		return fail(msg, err, ev.Sequence+1)
	}
	cur.origins = append(cur.origins, origin)
	cur.next++
	if cur.next < cur.key.length {
		return nil, nil
	}
	r.cur = nil
	return cur.change(), nil
}

// start begins a new event with its chunk 0.
func (r *Reassembler) start(ev *ChangeEvent, key sequenceKey, origin any,
	newErr func(string, error, []any) *ChunkSequenceError) (*EntityChange, *ChunkSequenceError) {
	p := &partialEvent{key: key, next: 1, origins: []any{origin}}
	if msg, err := r.appendChunk(&p.patch, ev); err != nil {
		r.skipFrom(key, 1)
		return nil, newErr(msg, err, []any{origin})
	}
	if key.length == 1 {
		return p.change(), nil
	}
	r.cur = p
	return nil, nil
}

// skipFrom remembers that the rest of the sequence key, from chunk next on,
// belongs to a rejected event.
func (r *Reassembler) skipFrom(key sequenceKey, next int) {
	if next >= key.length {
		r.skip = nil
		return
	}
	r.skip = &skipState{key: key, next: next}
}

// appendChunk parses ev's RDF fields and appends their triples to p. On
// failure it returns a message naming the chunk and field, and the cause.
func (r *Reassembler) appendChunk(p *Patch, ev *ChangeEvent) (string, error) {
	dst := [numBuckets]*[]Triple{&p.Added, &p.Removed, &p.LinkedShared, &p.UnlinkedShared}
	for b := range numBuckets {
		d := *ev.data(b)
		if d == nil {
			continue
		}
		ts, err := r.parse(d.Data)
		if err != nil {
			msg := fmt.Sprintf("invalid Turtle in %s", bucketFields[b])
			if se, ok := errors.AsType[*SyntaxError](err); ok {
				msg = fmt.Sprintf("invalid Turtle in %s at %d:%d", bucketFields[b], se.Line, se.Col)
			}
			return msg, err
		}
		*dst[b] = append(*dst[b], ts...)
	}
	return "", nil
}

func (p *partialEvent) change() *EntityChange {
	return &EntityChange{
		EntityID:  p.key.entityID,
		Revision:  p.key.revision,
		Operation: p.key.operation,
		EventTime: p.key.eventTime,
		RequestID: p.key.requestID,
		Domain:    p.key.domain,
		Stream:    p.key.stream,
		Patch:     p.patch,
	}
}
