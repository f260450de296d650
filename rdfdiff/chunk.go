package rdfdiff

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// DefaultSoftMaxChars is the default soft limit of one chunk's Turtle text,
// in Java characters: the WDQS producer's chunkSoftMaxSize. A chunk is closed
// after the statement that takes it past the limit, so it can exceed the limit
// by one statement, and a message (at most one chunk per RDF field) can reach
// about twice the limit.
const DefaultSoftMaxChars = 128_000

// ChunkOption configures ChunkChange.
type ChunkOption func(*chunkConfig)

type chunkConfig struct {
	softMax int
	schema  string
	meta    func(seq int, m *EventMeta)
	now     func() time.Time
}

// WithSoftMaxChars sets the soft limit of a chunk's Turtle text in Java
// characters (UTF-16 code units); the default is DefaultSoftMaxChars. It
// must be at least 1. Small limits are useful in tests, to get many chunks.
func WithSoftMaxChars(n int) ChunkOption {
	return func(c *chunkConfig) { c.softMax = n }
}

// WithEventSchema sets the $schema of the messages: SchemaRDFChangeV2 (the
// default) or SchemaRDFChangeV1 for consumers that still read the legacy form.
func WithEventSchema(schema string) ChunkOption {
	return func(c *chunkConfig) { c.schema = schema }
}

// WithMeta lets the caller set each message's meta. f is called once per
// message, in sequence order, with the message's sequence number and its meta
// already filled with the defaults: ID a new random UUID (version 4), DT the
// current time, Domain and Stream from the change, RequestID from the change.
// f may change any of them (an ID from the caller's generator, a fixed DT in
// tests, another stream for a subgraph), but chunks of one event must keep
// the change's RequestID, or a consumer will not reassemble them.
func WithMeta(f func(seq int, m *EventMeta)) ChunkOption {
	return func(c *chunkConfig) { c.meta = f }
}

// rdfChunk is one Turtle document holding part of one RDF field.
type rdfChunk struct {
	data  string
	chars int // length in Java characters
}

// ChunkChange turns one logical change into the rdf_change messages the WDQS
// producer would emit for it (RDFChunkSerializer), in stream order:
//
//  1. Each bucket of the patch, in the order Added (rdf_added_data), Removed
//     (rdf_deleted_data), LinkedShared, UnlinkedShared, is written statement
//     by statement as Turtle (see TurtleWriter); after each statement, if the
//     text is longer than the soft limit, the document is closed and becomes
//     a chunk, and a new one starts.
//  2. Chunks are packed into messages bucket by bucket: a chunk joins the
//     first message that has no chunk of its bucket yet and whose text is
//     still shorter than the soft limit, or else starts a new message. So a
//     message holds at most one chunk per bucket.
//  3. Message i gets sequence i and sequence_length the number of messages;
//     all repeat the entity, revision, event time, operation and request ID,
//     and each gets its own meta.id and meta.dt (see WithMeta).
//
// A delete is always one message without RDF data. An import, diff or
// reconcile with an empty patch yields no message at all (nil, nil), as in
// WDQS, whose generator emits one message per group of chunks: a consumer
// never learns about such a revision. The patch must only use the buckets
// its operation carries (import: Added and LinkedShared; reconcile: Added;
// delete: none), or ChunkChange returns an *EventError naming the field; an
// invalid triple gives an error wrapping ErrInvalidTriple. Triples are written
// in the order given; sort each bucket first (SortTriples) for the most
// compact grouping.
func ChunkChange(c EntityChange, opts ...ChunkOption) ([]*ChangeEvent, error) {
	cfg := chunkConfig{softMax: DefaultSoftMaxChars, schema: SchemaRDFChangeV2, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.softMax < 1 {
		return nil, fmt.Errorf("rdfdiff: chunk: soft limit %d is below 1", cfg.softMax)
	}
	buckets := [numBuckets][]Triple{c.Patch.Added, c.Patch.Removed, c.Patch.LinkedShared, c.Patch.UnlinkedShared}
	if !c.Operation.Valid() {
		return nil, eventErr("operation", "unknown operation %q (want diff, import, delete or reconcile)", string(c.Operation))
	}
	allowed := allowedBuckets(c.Operation)
	for b := range numBuckets {
		if len(buckets[b]) > 0 && !allowed[b] {
			return nil, eventErr(bucketFields[b], "%d triples not allowed for operation %s (%s)",
				len(buckets[b]), c.Operation, bucketRule(c.Operation))
		}
	}

	var groups [][numBuckets]*rdfChunk
	var enc turtleEncoder
	for b := range numBuckets {
		chunks, err := serializeChunks(&enc, buckets[b], cfg.softMax)
		if err != nil {
			return nil, fmt.Errorf("rdfdiff: chunk %s: %w", bucketFields[b], err)
		}
		for _, ch := range chunks {
			placed := false
			for i := range groups {
				if groups[i][b] == nil && groupChars(&groups[i]) < cfg.softMax {
					groups[i][b] = ch
					placed = true
					break
				}
			}
			if !placed {
				var g [numBuckets]*rdfChunk
				g[b] = ch
				groups = append(groups, g)
			}
		}
	}
	if c.Operation == OpDelete {
		groups = make([][numBuckets]*rdfChunk, 1)
	}
	if len(groups) == 0 {
		return nil, nil
	}

	events := make([]*ChangeEvent, len(groups))
	for i := range groups {
		ev := &ChangeEvent{
			Schema: cfg.schema,
			Meta: EventMeta{
				DT:        cfg.now().UTC(),
				ID:        newUUID(),
				Domain:    c.Domain,
				Stream:    c.Stream,
				RequestID: c.RequestID,
			},
			EntityID:       c.EntityID,
			Revision:       c.Revision,
			EventTime:      c.EventTime,
			Sequence:       i,
			SequenceLength: len(groups),
			Operation:      c.Operation,
		}
		if cfg.meta != nil {
			cfg.meta(i, &ev.Meta)
		}
		for b, ch := range groups[i] {
			if ch != nil {
				*ev.data(eventBucket(b)) = &RDFData{MIMEType: MIMETypeTurtle, Data: ch.data}
			}
		}
		if err := ev.Validate(); err != nil {
			return nil, err
		}
		events[i] = ev
	}
	return events, nil
}

func groupChars(g *[numBuckets]*rdfChunk) int {
	n := 0
	for _, ch := range g {
		if ch != nil {
			n += ch.chars
		}
	}
	return n
}

// serializeChunks writes ts as Turtle documents, closing one after the
// statement that takes it past softMax characters.
func serializeChunks(enc *turtleEncoder, ts []Triple, softMax int) ([]*rdfChunk, error) {
	var chunks []*rdfChunk
	enc.reset()
	emit := func() {
		enc.end()
		chunks = append(chunks, &rdfChunk{data: string(enc.buf), chars: enc.chars})
		enc.reset()
	}
	for i, t := range ts {
		if err := enc.writeTriple(t); err != nil {
			return nil, fmt.Errorf("triple %d: %w", i, err)
		}
		if enc.chars > softMax {
			emit()
		}
	}
	if enc.open {
		emit()
	}
	return chunks, nil
}

// newUUID returns a random (version 4) UUID, the form WDQS gives meta.id.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0F | 0x40
	u[8] = u[8]&0x3F | 0x80
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&0xF])
	}
	return string(b)
}

// ErrBrokenChunkSequence is wrapped by every *ChunkSequenceError: the chunks
// of an rdf_change event did not arrive as one complete, consistent run, so
// the event cannot be reassembled. WDQS's consumer would have applied a
// partial patch here; Reassembler drops the messages instead and says which.
var ErrBrokenChunkSequence = errors.New("rdfdiff: broken chunk sequence")
