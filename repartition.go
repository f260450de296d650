package streamkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Header names of the origin a Repartitioner adds to every record it
// writes: where the record was first read. A stateful stage downstream of a
// repartition reads the intermediate topic, so its own dead letters name
// the intermediate topic; these headers travel with the record (dead
// letters and replays keep a record's own headers) and still name the real
// source. Numbers are decimal ASCII.
const (
	// HeaderOriginTopic is the topic the record was first read from.
	HeaderOriginTopic = "streamkit.origin.topic"
	// HeaderOriginPartition is its partition there.
	HeaderOriginPartition = "streamkit.origin.partition"
	// HeaderOriginOffset is its offset there.
	HeaderOriginOffset = "streamkit.origin.offset"
)

// Dead-letter stages of a Repartitioner (the streamkit.dlq.stage header),
// so that a replay can select the records whose key could not be computed.
const (
	// StageRepartitionKey is the stage of a record whose KeyFunc failed.
	StageRepartitionKey = "repartition:key"
	// StageRepartitionSend is the stage of a record the output refused
	// (for instance a record over the broker's size limit).
	StageRepartitionSend = "repartition:send"
)

var (
	// ErrNoKey is matched by the error of a record that has no key to be
	// re-keyed by: the KeyFunc returned a nil key, or the field a
	// JSONFieldKey looks for is missing or not a string or number. Its
	// dead letters have the error class "no-key".
	ErrNoKey = errors.New("streamkit: record has no key")
	// ErrNoOrigin is returned by OriginOf for a record without origin
	// headers (one that did not pass through a Repartitioner).
	ErrNoOrigin = errors.New("streamkit: record has no origin headers")
)

// KeyFunc computes the key a record is re-keyed by. It must be a pure
// function of the record (a replay or a restart computes it again and must
// get the same key) and must not keep rec or its bytes. An error
// dead-letters the record (stage StageRepartitionKey).
type KeyFunc func(rec *source.Record) ([]byte, error)

// JSONFieldKey returns a KeyFunc that keys a record by the field at path in
// its JSON value: a string field gives its text, a number its literal. For
// the MediaWiki page_change stream, JSONFieldKey("page", "page_title") is
// the entity ID of a Wikibase entity page ("Q42", "Property:P31" for
// properties outside the main namespace); the legacy revision-create events
// carry it as JSONFieldKey("page_title"). A value that is not JSON fails
// with the decoder's error (error class "*json.SyntaxError"); a missing,
// null, empty or non-scalar field fails with ErrNoKey. Member names match
// exactly (encoding/json would also accept other cases), and of duplicate
// members the last counts, as in encoding/json.
func JSONFieldKey(path ...string) KeyFunc {
	path = slices.Clone(path)
	return func(rec *source.Record) ([]byte, error) {
		if len(path) == 0 {
			return nil, fmt.Errorf("%w: empty JSON field path", ErrNoKey)
		}
		return jsonField(rec.Value, path)
	}
}

// jsonField returns the string or number at path in the JSON object data.
// It checks the whole value is JSON (json.Valid, which does not allocate),
// then walks it once without decoding what is not on the path: a key
// function runs for every record of a repartition, so it must be cheap.
func jsonField(data []byte, path []string) ([]byte, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // the decoder's *json.SyntaxError, with its offset
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, fmt.Errorf("streamkit: JSON key %s: %w", fieldName(path), err)
	}
	cur := skipSpace(data, 0)
	for i, name := range path {
		if data[cur] != '{' {
			return nil, fmt.Errorf("%w: %s is %s, not an object", ErrNoKey, fieldName(path[:i]), jsonKind(data[cur]))
		}
		v, ok := objectField(data, cur, name)
		if !ok {
			return nil, fmt.Errorf("%w: no field %s", ErrNoKey, fieldName(path[:i+1]))
		}
		cur = v
	}
	leaf := data[cur:skipValue(data, cur)]
	switch c := leaf[0]; {
	case c == '"' && bytes.IndexByte(leaf, '\\') < 0:
		if len(leaf) == 2 {
			return nil, fmt.Errorf("%w: field %s is empty", ErrNoKey, fieldName(path))
		}
		return bytes.Clone(leaf[1 : len(leaf)-1]), nil
	case c == '"':
		var s string
		if err := json.Unmarshal(leaf, &s); err != nil {
			return nil, fmt.Errorf("streamkit: JSON key %s: %w", fieldName(path), err)
		}
		if s == "" {
			return nil, fmt.Errorf("%w: field %s is empty", ErrNoKey, fieldName(path))
		}
		return []byte(s), nil
	case c == '-' || c >= '0' && c <= '9':
		return bytes.Clone(leaf), nil
	default:
		return nil, fmt.Errorf("%w: field %s is %s, not a string or number", ErrNoKey, fieldName(path), jsonKind(c))
	}
}

// objectField returns the offset of the value of member name in the object
// starting at data[i] ('{'); of its last occurrence, as encoding/json
// decodes duplicates. data is valid JSON.
func objectField(data []byte, i int, name string) (found int, ok bool) {
	i = skipSpace(data, i+1)
	for data[i] != '}' {
		kEnd := skipString(data, i)
		key := data[i+1 : kEnd-1]
		match := string(key) == name
		if !match && bytes.IndexByte(key, '\\') >= 0 {
			var k string
			match = json.Unmarshal(data[i:kEnd], &k) == nil && k == name
		}
		v := skipSpace(data, skipSpace(data, kEnd)+1) // past ':'
		if match {
			found, ok = v, true
		}
		i = skipSpace(data, skipValue(data, v))
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return found, ok
}

// skipValue returns the offset just past the JSON value at data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for i < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[i])) {
			i++
		}
		return i
	}
}

// skipString returns the offset just past the string starting at data[i].
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// jsonKind names the kind of the JSON value starting with c.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func fieldName(path []string) string {
	if len(path) == 0 {
		return "(the value)"
	}
	return strconv.Quote(strings.Join(path, "."))
}

// Origin is where a record was first read, as recorded by a Repartitioner.
type Origin struct {
	Topic     string
	Partition int32
	Offset    int64
}

// String returns "topic/partition@offset".
func (o Origin) String() string {
	return o.Topic + "/" + strconv.FormatInt(int64(o.Partition), 10) + "@" + strconv.FormatInt(o.Offset, 10)
}

// OriginOf returns the origin headers of a record read from a repartitioned
// topic: a stateful stage uses it to log or report a failed record with its
// real provenance. It returns ErrNoOrigin when the record has none, and an
// error naming the header when one is malformed.
func OriginOf(rec *source.Record) (Origin, error) {
	topic, ok := rec.HeaderValue(HeaderOriginTopic)
	if !ok {
		return Origin{}, ErrNoOrigin
	}
	part, ok1 := rec.HeaderValue(HeaderOriginPartition)
	off, ok2 := rec.HeaderValue(HeaderOriginOffset)
	if !ok1 || !ok2 || len(topic) == 0 {
		return Origin{}, fmt.Errorf("%w: incomplete (topic %q)", ErrNoOrigin, topic)
	}
	p, err := strconv.ParseInt(string(part), 10, 32)
	if err != nil || p < 0 {
		return Origin{}, fmt.Errorf("streamkit: header %s: %q is not a partition", HeaderOriginPartition, part)
	}
	o, err := strconv.ParseInt(string(off), 10, 64)
	if err != nil || o < 0 {
		return Origin{}, fmt.Errorf("streamkit: header %s: %q is not an offset", HeaderOriginOffset, off)
	}
	return Origin{Topic: string(topic), Partition: int32(p), Offset: o}, nil
}

// Repartitioner is a ready-made Processor that re-keys a stream into an
// intermediate topic: each record is written to topic with the key its
// KeyFunc computes, and its value, headers and timestamp unchanged, plus the
// origin headers (HeaderOrigin…) unless the record already has them (a
// record repartitioned twice keeps its first origin). The partition comes
// from the new key (see KafkaRecord), so all records of one key land
// in one partition of the intermediate topic, in the order they were read.
//
// That is how a stateful stage scales past its input's partitioning: the
// MediaWiki event topics have one partition each, so a job reading them has
// one task; re-keyed by entity ID into a topic of N partitions, the
// stateful stage has N tasks that N instances of its job share through the
// consumer group. Written through a KafkaOutput, the re-keyed records are
// committed in the same transaction as the input offsets: the repartition is
// exactly once.
//
// A Repartitioner is stateless (no tables) and not safe for concurrent use;
// the runner calls it from one goroutine.
type Repartitioner struct {
	out   RecordSender
	topic string
	key   KeyFunc
}

var _ Processor = (*Repartitioner)(nil)

// NewRepartitioner returns a Repartitioner that writes re-keyed records to
// topic through out (the task's KafkaOutput).
func NewRepartitioner(out RecordSender, topic string, key KeyFunc) (*Repartitioner, error) {
	switch {
	case out == nil:
		return nil, fmt.Errorf("%w: repartition: nil output", ErrInvalidJob)
	case topic == "":
		return nil, fmt.Errorf("%w: repartition: empty topic", ErrInvalidJob)
	case key == nil:
		return nil, fmt.Errorf("%w: repartition: nil key function", ErrInvalidJob)
	}
	return &Repartitioner{out: out, topic: topic, key: key}, nil
}

// Tables implements Processor: a Repartitioner keeps no state.
func (p *Repartitioner) Tables() []checkpoint.StateTable { return nil }

// Process implements Processor: it writes rec re-keyed to the intermediate
// topic. A key that cannot be computed fails with a *StageError of stage
// StageRepartitionKey (class "no-key" for ErrNoKey), which the job
// dead-letters; a record the output refuses fails with stage
// StageRepartitionSend.
func (p *Repartitioner) Process(ctx context.Context, rec *source.Record) error {
	key, err := p.key(rec)
	if err == nil && key == nil {
		err = fmt.Errorf("%w: key function returned nil", ErrNoKey)
	}
	if err != nil {
		se := &StageError{Stage: StageRepartitionKey, Err: err}
		if errors.Is(err, ErrNoKey) {
			se.Class = "no-key"
		}
		return se
	}
	hs := make([]KafkaHeader, 0, len(rec.Headers)+3)
	hasOrigin := false
	for _, h := range rec.Headers {
		if string(h.Key) == HeaderOriginTopic {
			hasOrigin = true
		}
		hs = append(hs, KafkaHeader{Key: string(h.Key), Value: h.Value})
	}
	if !hasOrigin {
		hs = append(hs,
			KafkaHeader{Key: HeaderOriginTopic, Value: []byte(rec.Topic)},
			KafkaHeader{Key: HeaderOriginPartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
			KafkaHeader{Key: HeaderOriginOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
		)
	}
	err = p.out.Send(ctx, KafkaRecord{Topic: p.topic, Key: key, Value: rec.Value, Headers: hs, Timestamp: rec.Timestamp})
	return Stage(StageRepartitionSend, err)
}

// NewRepartitionJob returns a stateless job that re-keys in into topic (an
// intermediate topic created beforehand with as many partitions as the
// stateful stage downstream should have tasks) with key, exactly once,
// writing through a KafkaOutput per task configured by out. Pass
// WithDeadLetterTopic so that records whose key cannot be computed are
// dead-lettered; without it such a record stops the job (*ProcessError).
//
// The partition of a key is sarama's hash of it modulo the partition count
// of topic: changing that count later moves keys between partitions, so the
// keyed state downstream must then be rebuilt or resharded. The hash is
// sarama's FNV-1a, not the murmur2 of Java clients: a consumer expecting
// topics co-partitioned with Java producers must not be joined with it.
func NewRepartitionJob(name string, in Input, out KafkaOutputConfig, topic string, key KeyFunc, opts ...Option) (*Job, error) {
	if topic == "" || key == nil {
		return nil, fmt.Errorf("%w: repartition job %q needs an output topic and a key function", ErrInvalidJob, name)
	}
	if slices.Contains(in.Topics, topic) {
		return nil, fmt.Errorf("%w: repartition job %q would write to its own input topic %q", ErrInvalidJob, name, topic)
	}
	return NewJob(name, in, KafkaOutputs(out), func(_ TaskInfo, o RecordSender) (Processor, error) {
		return NewRepartitioner(o, topic, key)
	}, opts...)
}
