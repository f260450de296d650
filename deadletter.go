package streamkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Header names of the provenance the dead-letter sink adds to a failed
// record. They all start with DeadLetterHeaderPrefix, which is how Replay
// tells them from the record's own headers. Numbers are decimal ASCII;
// timestamps are milliseconds since the Unix epoch.
const (
	// DeadLetterHeaderPrefix starts every provenance header.
	DeadLetterHeaderPrefix = "streamkit.dlq."
	// HeaderDLQTopic is the topic the record was read from.
	HeaderDLQTopic = "streamkit.dlq.topic"
	// HeaderDLQPartition is the partition the record was read from.
	HeaderDLQPartition = "streamkit.dlq.partition"
	// HeaderDLQOffset is the record's offset in that partition.
	HeaderDLQOffset = "streamkit.dlq.offset"
	// HeaderDLQTimestamp is the record's own timestamp (ms).
	HeaderDLQTimestamp = "streamkit.dlq.timestamp"
	// HeaderDLQKey is the record's key, byte for byte; absent for a nil key
	// (present and empty for an empty one).
	HeaderDLQKey = "streamkit.dlq.key"
	// HeaderDLQStage names the stage that failed, e.g. "decode", "handler",
	// "sink:sparql".
	HeaderDLQStage = "streamkit.dlq.stage"
	// HeaderDLQErrorClass is a stable, low-cardinality name for the kind of
	// failure, for filtering and alerting.
	HeaderDLQErrorClass = "streamkit.dlq.error.class"
	// HeaderDLQErrorMessage is the error's text, cut to the configured
	// maximum at a UTF-8 boundary.
	HeaderDLQErrorMessage = "streamkit.dlq.error.message"
	// HeaderDLQAttempts is how many times the record was tried.
	HeaderDLQAttempts = "streamkit.dlq.attempts"
	// HeaderDLQJob is the name of the job that dead-lettered the record.
	HeaderDLQJob = "streamkit.dlq.job"
	// HeaderDLQFailedAt is when the record was dead-lettered (ms).
	HeaderDLQFailedAt = "streamkit.dlq.failed_at"
	// HeaderDLQTruncated is set on a dead letter whose record was too
	// large for the dead-letter topic: "value" or "key,value", the parts
	// cut to fit. The dead letter then keeps the start of each cut part.
	HeaderDLQTruncated = "streamkit.dlq.truncated"
	// HeaderDLQValueSize is the original value's size in bytes, on a
	// truncated dead letter.
	HeaderDLQValueSize = "streamkit.dlq.value.size"
	// HeaderDLQValueSHA256 is the hex SHA-256 of the original value, on a
	// truncated dead letter: with the provenance headers it identifies the
	// original record, which is still in its topic until retention ends.
	HeaderDLQValueSHA256 = "streamkit.dlq.value.sha256"
)

// DefaultMaxDeadLetterBytes bounds a dead letter's key, value and headers
// unless WithMaxDeadLetterBytes says otherwise: below sarama's default
// Producer.MaxMessageBytes (1 000 000) and Kafka's default
// message.max.bytes (1 MiB), with room for the record's framing.
const DefaultMaxDeadLetterBytes = 990_000

// DefaultMaxErrorMessage is how many bytes of an error message the
// dead-letter sink keeps unless WithMaxErrorMessage says otherwise.
const DefaultMaxErrorMessage = 4096

// ErrInvalidFailure is returned by DeadLetter.Write for a failure it cannot
// record: no original topic, no stage, or no error.
var ErrInvalidFailure = errors.New("streamkit: invalid dead-letter failure")

// Failure is a record that could not be processed, and why.
type Failure struct {
	// Record is the original input record. Record.Topic is required.
	Record source.Record
	// Stage names where it failed ("decode", "handler", "sink:sparql", …).
	// Required.
	Stage string
	// Err is the failure. Required.
	Err error
	// Class is a low-cardinality name of the kind of failure. When empty,
	// the Go type of the innermost wrapped error is used (for example
	// "*json.SyntaxError").
	Class string
	// Attempts is how many times the record was tried (at least 1 is
	// recorded).
	Attempts int
	// FailedAt is when the record failed; zero means when it is written.
	FailedAt time.Time
}

// DeadLetterOption configures a DeadLetter.
type DeadLetterOption func(*DeadLetter)

// WithMaxDeadLetterBytes caps a dead letter's key, value and headers at n
// bytes (default DefaultMaxDeadLetterBytes): set it below the dead-letter
// topic's max.message.bytes and the producer's MaxMessageBytes. A larger
// record is still dead-lettered, with the start of its value and the
// headers HeaderDLQTruncated, HeaderDLQValueSize and HeaderDLQValueSHA256.
func WithMaxDeadLetterBytes(n int) DeadLetterOption {
	return func(d *DeadLetter) { d.maxBytes = n }
}

// WithMaxErrorMessage caps the error message header at n bytes (default
// DefaultMaxErrorMessage), so that a huge error cannot push the dead-letter
// record over the broker's message size limit.
func WithMaxErrorMessage(n int) DeadLetterOption {
	return func(d *DeadLetter) { d.maxMessage = n }
}

// DeadLetter writes records that failed (undecodable, rejected by the
// handler, poison for a sink) to a dead-letter topic, with the original key,
// value and headers untouched and provenance headers added (HeaderDLQ…).
// The partition keeps flowing: the job dead-letters the record and moves on.
//
// It sends through a RecordSender, normally the job's transactional Kafka
// sink: the dead-letter record is then part of the checkpoint's transaction,
// committed with the output and the input offsets or aborted with them, so a
// record is either processed or dead-lettered, never lost and never both.
// The dead-letter record's key is the original key, so that dead letters of
// one key stay in order.
type DeadLetter struct {
	out        RecordSender
	topic      string
	job        string
	maxMessage int
	maxBytes   int
	now        func() time.Time
	truncated  atomic.Int64
}

// NewDeadLetter returns a dead-letter sink writing to topic through out, on
// behalf of job.
func NewDeadLetter(out RecordSender, topic, job string, opts ...DeadLetterOption) (*DeadLetter, error) {
	switch {
	case out == nil:
		return nil, errors.New("streamkit: dead letter: nil sender")
	case topic == "":
		return nil, errors.New("streamkit: dead letter: empty topic")
	case job == "":
		return nil, errors.New("streamkit: dead letter: empty job name")
	}
	d := &DeadLetter{out: out, topic: topic, job: job, maxMessage: DefaultMaxErrorMessage,
		maxBytes: DefaultMaxDeadLetterBytes, now: time.Now}
	for _, o := range opts {
		o(d)
	}
	if d.maxMessage < 1 {
		return nil, fmt.Errorf("streamkit: dead letter: max error message %d is not positive", d.maxMessage)
	}
	if d.maxBytes < 2*d.maxMessage+minDeadLetterRoom {
		return nil, fmt.Errorf("streamkit: dead letter: max dead letter size %d leaves no room for the record (want at least %d)",
			d.maxBytes, 2*d.maxMessage+minDeadLetterRoom)
	}
	return d, nil
}

// FailureWriter dead-letters a failed record. *DeadLetter implements it;
// outputs and processors that dead-letter records other than the one being
// processed (a store's rejected change, the earlier chunks of a broken
// sequence) take one.
type FailureWriter interface {
	Write(ctx context.Context, f Failure) error
}

var _ FailureWriter = (*DeadLetter)(nil)

// Topic returns the dead-letter topic.
func (d *DeadLetter) Topic() string { return d.topic }

// Write sends f's record to the dead-letter topic with its provenance. With
// a transactional sender it must be called while the checkpoint's
// transaction is open, like any output.
func (d *DeadLetter) Write(ctx context.Context, f Failure) error {
	switch {
	case f.Record.Topic == "":
		return fmt.Errorf("%w: record without a topic", ErrInvalidFailure)
	case f.Stage == "":
		return fmt.Errorf("%w: %s/%d@%d: empty stage", ErrInvalidFailure, f.Record.Topic, f.Record.Partition, f.Record.Offset)
	case f.Err == nil:
		return fmt.Errorf("%w: %s/%d@%d: nil error", ErrInvalidFailure, f.Record.Topic, f.Record.Partition, f.Record.Offset)
	}
	class := f.Class
	if class == "" {
		class = ErrorClass(f.Err)
	}
	attempts := max(f.Attempts, 1)
	r := f.Record
	hs := make([]KafkaHeader, 0, len(r.Headers)+11)
	for _, h := range r.Headers {
		hs = append(hs, KafkaHeader{Key: string(h.Key), Value: h.Value})
	}
	failedAt := f.FailedAt
	if failedAt.IsZero() {
		failedAt = d.now()
	}
	hs = append(hs,
		KafkaHeader{HeaderDLQTopic, []byte(r.Topic)},
		KafkaHeader{HeaderDLQPartition, strconv.AppendInt(nil, int64(r.Partition), 10)},
		KafkaHeader{HeaderDLQOffset, strconv.AppendInt(nil, r.Offset, 10)},
	)
	if !r.Timestamp.IsZero() {
		hs = append(hs, KafkaHeader{HeaderDLQTimestamp, strconv.AppendInt(nil, r.Timestamp.UnixMilli(), 10)})
	}
	if r.Key != nil {
		hs = append(hs, KafkaHeader{HeaderDLQKey, append([]byte{}, r.Key...)})
	}
	hs = append(hs,
		KafkaHeader{HeaderDLQStage, []byte(f.Stage)},
		KafkaHeader{HeaderDLQErrorClass, []byte(class)},
		KafkaHeader{HeaderDLQErrorMessage, []byte(truncateUTF8(f.Err.Error(), d.maxMessage))},
		KafkaHeader{HeaderDLQAttempts, strconv.AppendInt(nil, int64(attempts), 10)},
		KafkaHeader{HeaderDLQJob, []byte(d.job)},
		KafkaHeader{HeaderDLQFailedAt, strconv.AppendInt(nil, failedAt.UnixMilli(), 10)},
	)
	rec := KafkaRecord{Topic: d.topic, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: r.Timestamp}
	if d.fit(&rec) {
		d.truncated.Add(1)
	}
	err := d.out.Send(ctx, rec)
	if err != nil {
		return fmt.Errorf("streamkit: dead letter %s/%d@%d to %q: %w", r.Topic, r.Partition, r.Offset, d.topic, err)
	}
	return nil
}

// Truncated returns how many dead letters Write had to cut to fit
// (HeaderDLQTruncated).
func (d *DeadLetter) Truncated() int64 { return d.truncated.Load() }

// minDeadLetterRoom is the least room a dead letter needs besides its error
// message: the provenance headers and a useful start of the record.
const minDeadLetterRoom = 8 << 10

// fit cuts rec's key and value so that the dead letter stays under the size
// limit, and reports whether it did. A record the broker accepted as input
// can be larger than what the dead-letter topic takes (an input topic with
// a larger message.max.bytes, compression); such a record must still be
// dead-lettered, or its partition could never move past it.
func (d *DeadLetter) fit(rec *KafkaRecord) bool {
	size := func() int {
		n := len(rec.Key) + len(rec.Value)
		for _, h := range rec.Headers {
			n += len(h.Key) + len(h.Value) + 8
		}
		return n
	}
	over := size() - d.maxBytes
	if over <= 0 {
		return false
	}
	cut := "value"
	sum := sha256.Sum256(rec.Value)
	valueSize := len(rec.Value)
	// The key appears twice (as the key and in HeaderDLQKey); a key larger
	// than the error message budget is cut in both places.
	if len(rec.Key) > d.maxMessage {
		cut = "key,value"
		rec.Key = truncateBytes(rec.Key, d.maxMessage)
		for i := range rec.Headers {
			if rec.Headers[i].Key == HeaderDLQKey {
				rec.Headers[i].Value = rec.Key
			}
		}
	}
	rec.Headers = append(rec.Headers,
		KafkaHeader{HeaderDLQTruncated, []byte(cut)},
		KafkaHeader{HeaderDLQValueSize, strconv.AppendInt(nil, int64(valueSize), 10)},
		KafkaHeader{HeaderDLQValueSHA256, []byte(hex.EncodeToString(sum[:]))},
	)
	// Original headers of the record are kept only while they fit.
	if over = size() - d.maxBytes; over > len(rec.Value) {
		kept := rec.Headers[:0]
		for _, h := range rec.Headers {
			if strings.HasPrefix(h.Key, DeadLetterHeaderPrefix) {
				kept = append(kept, h)
			}
		}
		rec.Headers = kept
		over = size() - d.maxBytes
	}
	if over > 0 {
		rec.Value = truncateBytes(rec.Value, max(len(rec.Value)-over, 0))
	}
	return true
}

func truncateBytes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[:n:n]
}

// ErrorClass returns the default error class of err: the Go type of the
// innermost error of its Unwrap chain (the first branch of a joined error).
func ErrorClass(err error) string {
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if es := u.Unwrap(); len(es) > 0 {
				next = es[0]
			}
		}
		if next == nil {
			return fmt.Sprintf("%T", err)
		}
		err = next
	}
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
