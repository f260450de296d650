package rdfdiff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The $schema values an rdf_change message may carry; DecodeEvent dispatches
// on them.
const (
	// SchemaRDFChangeV2 is the published mediawiki/wikibase/entity/rdf_change
	// schema that production WDQS updaters emit.
	SchemaRDFChangeV2 = "/mediawiki/wikibase/entity/rdf_change/2.0.0"
	// SchemaRDFChangeV1 is the legacy, never published schema of the first
	// streaming updater. Its messages name three fields differently (entity,
	// revision, event_time) and are otherwise the same.
	SchemaRDFChangeV1 = "/wikibase/rdf/update_stream/1.0.0"
)

// MIMETypeTurtle is the only RDF encoding the rdf_change schema expects in
// its data fields, and the only one this codec reads or writes.
const MIMETypeTurtle = "text/turtle"

// maxEventInteger is the schema's maximum for rev_id, sequence and
// sequence_length: 2^53-1, the largest integer a JSON reader using IEEE
// doubles keeps exact.
const maxEventInteger = 1<<53 - 1

// maxDateTimeLen is the schema's maxLength of dt and meta.dt.
const maxDateTimeLen = 128

// maxURILen is the schema's maxLength of meta.uri.
const maxURILen = 8192

// ErrInvalidEvent is wrapped by every error about an rdf_change message that
// does not follow the schema (or the operation rules its description states).
// Such a message cannot be applied and belongs in a dead-letter queue.
var ErrInvalidEvent = errors.New("rdfdiff: invalid rdf_change event")

// EventError reports one rdf_change message that breaks the schema: the field
// at fault and what is wrong with it. errors.Is(err, ErrInvalidEvent) holds
// for every EventError; Unwrap gives the underlying cause, if any (a JSON
// syntax error, a time parse error).
type EventError struct {
	// Field is the path of the offending field, such as "rev_id",
	// "meta.stream" or "rdf_added_data.mime_type"; "" when the message as a
	// whole is at fault (not JSON, not an object, trailing data).
	Field string
	// Msg says what is wrong.
	Msg string
	// Err is the underlying cause, or nil.
	Err error
}

// Error renders the error as "rdfdiff: invalid rdf_change event: FIELD: MSG[: cause]".
func (e *EventError) Error() string {
	var b strings.Builder
	b.WriteString("rdfdiff: invalid rdf_change event: ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause, or nil.
func (e *EventError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidEvent, so that every EventError
// matches the sentinel whatever its cause.
func (e *EventError) Is(target error) bool { return target == ErrInvalidEvent }

func eventErr(field, format string, args ...any) *EventError {
	return &EventError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// EventMeta is the meta object of an rdf_change message (the
// fragment/common 2.0.0 meta): where and when the message was produced.
// Chunks of one event share RequestID, Domain and Stream but each has its own
// ID and DT.
type EventMeta struct {
	// DT is the time the system received (produced) the message; the zero
	// time leaves it out.
	DT time.Time
	// ID is the message's unique ID (a UUID in WDQS); "" leaves it out.
	ID string
	// Domain is the wiki's domain; "" leaves it out (the schema forbids an
	// empty one). Consumers drop the domain "canary".
	Domain string
	// Stream is the stream name; the only required meta field.
	Stream string
	// RequestID is the ID of the request that caused the event, shared by all
	// its chunks; "" leaves it out.
	RequestID string
	// URI identifies the event or entity; "" leaves it out.
	URI string
	// Extra holds meta fields the schema does not name, by name, as raw JSON.
	// The meta schema does not close the object, so such fields are valid;
	// they are kept so a decoded message re-encodes without loss, and written
	// after the named fields in name order.
	Extra map[string]json.RawMessage
}

// RDFData is one RDF payload of an rdf_change message: a Turtle document.
type RDFData struct {
	// MIMEType is the encoding of Data; always MIMETypeTurtle.
	MIMEType string
	// Data is the Turtle document.
	Data string
}

// ChangeEvent is one rdf_change message: one chunk of one logical event (see
// ChunkChange and Reassembler for the way between the two). It is the same
// type for v1 and v2 messages; Schema tells which JSON form it came from and
// is encoded to.
type ChangeEvent struct {
	// Schema is $schema: SchemaRDFChangeV2, SchemaRDFChangeV1, or "" (which
	// encodes as v2).
	Schema string
	// Meta is the meta object.
	Meta EventMeta
	// EntityID is entity_id (v1: entity), such as "Q42", "L1", "M123".
	EntityID string
	// Revision is rev_id (v1: revision); 0 for a forced delete.
	Revision int64
	// EventTime is dt (v1: event_time), the MediaWiki edit time.
	EventTime time.Time
	// Sequence is this chunk's index, from 0; SequenceLength the number of
	// chunks of the event, at least 1.
	Sequence, SequenceLength int
	// Operation is what to do with the entity.
	Operation Operation
	// The four RDF payloads (rdf_added_data, rdf_deleted_data,
	// rdf_linked_shared_data, rdf_unlinked_shared_data); nil when absent.
	Added, Deleted, LinkedShared, UnlinkedShared *RDFData
}

// eventBucket names one of the four RDF fields.
type eventBucket int

const (
	bucketAdded eventBucket = iota
	bucketDeleted
	bucketLinkedShared
	bucketUnlinkedShared
	numBuckets
)

var bucketFields = [numBuckets]string{
	"rdf_added_data", "rdf_deleted_data", "rdf_linked_shared_data", "rdf_unlinked_shared_data",
}

// data returns a pointer to the field holding bucket b.
func (e *ChangeEvent) data(b eventBucket) **RDFData {
	switch b {
	case bucketAdded:
		return &e.Added
	case bucketDeleted:
		return &e.Deleted
	case bucketLinkedShared:
		return &e.LinkedShared
	default:
		return &e.UnlinkedShared
	}
}

// allowedBuckets says which RDF fields each operation may carry (the rdf_change
// schema's description): import added and linked shared data, diff all four,
// delete none, reconcile added data only.
func allowedBuckets(op Operation) [numBuckets]bool {
	switch op {
	case OpImport:
		return [numBuckets]bool{true, false, true, false}
	case OpDiff:
		return [numBuckets]bool{true, true, true, true}
	case OpReconcile:
		return [numBuckets]bool{true, false, false, false}
	}
	return [numBuckets]bool{}
}

// The JSON names of the fields that differ between v1 and v2.
type schemaNames struct{ entity, revision, eventTime string }

var (
	namesV2 = schemaNames{"entity_id", "rev_id", "dt"}
	namesV1 = schemaNames{"entity", "revision", "event_time"}
)

func namesFor(schema string) schemaNames {
	if schema == SchemaRDFChangeV1 {
		return namesV1
	}
	return namesV2
}

// Validate checks e against the rdf_change schema and the operation rules of
// its description: required fields, ranges (sequence below sequence_length),
// the operation and the RDF fields it may carry, the MIME type, a delete
// being a single message, the date-times and meta constraints. DecodeEvent
// and MarshalJSON apply it; the error is an *EventError naming the field.
func (e *ChangeEvent) Validate() error {
	if e.Schema != "" && e.Schema != SchemaRDFChangeV2 && e.Schema != SchemaRDFChangeV1 {
		return eventErr("$schema", "unsupported schema %q (want %q or %q)", e.Schema, SchemaRDFChangeV2, SchemaRDFChangeV1)
	}
	n := namesFor(e.Schema)
	if err := e.Meta.validate(); err != nil {
		return err
	}
	if e.EntityID == "" {
		return eventErr(n.entity, "must not be empty")
	}
	if e.Revision < 0 || e.Revision > maxEventInteger {
		return eventErr(n.revision, "%d is out of range [0, %d]", e.Revision, int64(maxEventInteger))
	}
	if err := checkEventTime(n.eventTime, e.EventTime); err != nil {
		return err
	}
	if e.Sequence < 0 || int64(e.Sequence) > maxEventInteger {
		return eventErr("sequence", "%d is out of range [0, %d]", e.Sequence, int64(maxEventInteger))
	}
	if e.SequenceLength < 1 || int64(e.SequenceLength) > maxEventInteger {
		return eventErr("sequence_length", "%d is out of range [1, %d]", e.SequenceLength, int64(maxEventInteger))
	}
	if e.Sequence >= e.SequenceLength {
		return eventErr("sequence", "%d is not below sequence_length %d", e.Sequence, e.SequenceLength)
	}
	if !e.Operation.Valid() {
		return eventErr("operation", "unknown operation %q (want diff, import, delete or reconcile)", string(e.Operation))
	}
	if e.Operation == OpDelete && e.SequenceLength != 1 {
		return eventErr("sequence_length", "a delete is a single message, got sequence_length %d", e.SequenceLength)
	}
	allowed := allowedBuckets(e.Operation)
	for b := range numBuckets {
		d := *e.data(b)
		if d == nil {
			continue
		}
		if !allowed[b] {
			return eventErr(bucketFields[b], "not allowed for operation %s (%s)", e.Operation, bucketRule(e.Operation))
		}
		if d.MIMEType != MIMETypeTurtle {
			return eventErr(bucketFields[b]+".mime_type", "unsupported MIME type %q (want %q)", d.MIMEType, MIMETypeTurtle)
		}
	}
	return nil
}

func bucketRule(op Operation) string {
	switch op {
	case OpImport:
		return "import carries only rdf_added_data and rdf_linked_shared_data"
	case OpReconcile:
		return "reconcile carries only rdf_added_data"
	}
	return "delete carries no RDF data"
}

func checkEventTime(field string, t time.Time) error {
	if t.IsZero() {
		return eventErr(field, "missing (zero time)")
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return eventErr(field, "year %d cannot be written as an RFC 3339 date-time", y)
	}
	return nil
}

func (m *EventMeta) validate() error {
	if m.Stream == "" {
		return eventErr("meta.stream", "missing required field (must not be empty)")
	}
	if !m.DT.IsZero() {
		if err := checkEventTime("meta.dt", m.DT); err != nil {
			return err
		}
	}
	if len(m.URI) > maxURILen {
		return eventErr("meta.uri", "longer than %d characters", maxURILen)
	}
	if m.URI != "" {
		if err := checkURIReference(m.URI); err != nil {
			return &EventError{Field: "meta.uri", Msg: "not a URI reference", Err: err}
		}
	}
	for k, v := range m.Extra {
		if slices.Contains(metaFields, k) {
			return eventErr("meta."+k, "set in Extra but it is a named meta field")
		}
		if !json.Valid(v) {
			return eventErr("meta."+k, "Extra value is not valid JSON")
		}
	}
	return nil
}

var metaFields = []string{"dt", "id", "domain", "stream", "request_id", "uri"}

// checkURIReference accepts an RFC 3986 URI reference: what net/url parses,
// without spaces or control characters.
func checkURIReference(s string) error {
	for _, r := range s {
		if r <= ' ' || r == 0x7F {
			return fmt.Errorf("character %q not allowed", r)
		}
	}
	_, err := url.Parse(s)
	return err
}

// FormatEventTime formats t as the WDQS producer (Java's Instant.toString)
// does: UTC, "Z", and the fraction of a second in groups of three digits only
// when it is not zero: 2020-06-10T18:56:15Z, 1970-01-01T00:00:00.001Z.
func FormatEventTime(t time.Time) string {
	return string(appendEventTime(nil, t))
}

func appendEventTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	dst = t.AppendFormat(dst, "2006-01-02T15:04:05")
	ns := t.Nanosecond()
	switch {
	case ns == 0:
	case ns%1_000_000 == 0:
		dst = fmt.Appendf(dst, ".%03d", ns/1_000_000)
	case ns%1_000 == 0:
		dst = fmt.Appendf(dst, ".%06d", ns/1_000)
	default:
		dst = fmt.Appendf(dst, ".%09d", ns)
	}
	return append(dst, 'Z')
}

// parseEventTime parses an RFC 3339 date-time (JSON Schema's date-time).
func parseEventTime(field, s string) (time.Time, error) {
	if len(s) > maxDateTimeLen {
		return time.Time{}, eventErr(field, "longer than %d characters", maxDateTimeLen)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &EventError{Field: field, Msg: fmt.Sprintf("%q is not an RFC 3339 date-time", s), Err: err}
	}
	return t, nil
}

// MarshalJSON encodes e as its schema's JSON (v2 unless Schema is v1) with the
// fields in the order the WDQS producer writes them. It validates e first and
// returns the *EventError rather than write a message consumers would reject.
// It has a value receiver so that json.Marshal uses it for values and
// pointers alike. Note that json.Marshal then HTML-escapes '<', '>' and '&'
// (as \u003c …), which means the same JSON but is not what the WDQS producer
// writes; call MarshalJSON or AppendJSON directly for its exact bytes.
func (e ChangeEvent) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(nil)
}

// AppendJSON appends e's JSON encoding (see MarshalJSON) to dst.
func (e *ChangeEvent) AppendJSON(dst []byte) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	schema := e.Schema
	if schema == "" {
		schema = SchemaRDFChangeV2
	}
	n := namesFor(schema)
	b := append(dst, `{"$schema":`...)
	b = appendJSONString(b, schema)
	b = append(b, `,"meta":{`...)
	first := true
	field := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, name)
		b = append(b, ':')
	}
	m := &e.Meta
	if !m.DT.IsZero() {
		field("dt")
		b = append(b, '"')
		b = appendEventTime(b, m.DT)
		b = append(b, '"')
	}
	for _, f := range [...]struct{ name, value string }{
		{"id", m.ID}, {"domain", m.Domain}, {"stream", m.Stream}, {"request_id", m.RequestID}, {"uri", m.URI},
	} {
		if f.value != "" {
			field(f.name)
			b = appendJSONString(b, f.value)
		}
	}
	if len(m.Extra) > 0 {
		keys := make([]string, 0, len(m.Extra))
		for k := range m.Extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			field(k)
			var c bytes.Buffer
			if err := json.Compact(&c, m.Extra[k]); err != nil {
				return dst, &EventError{Field: "meta." + k, Msg: "Extra value is not valid JSON", Err: err}
			}
			b = append(b, c.Bytes()...)
		}
	}
	b = append(b, "},"...)
	b = appendJSONString(b, n.entity)
	b = append(b, ':')
	b = appendJSONString(b, e.EntityID)
	b = append(b, ',')
	b = appendJSONString(b, n.revision)
	b = append(b, ':')
	b = strconv.AppendInt(b, e.Revision, 10)
	b = append(b, ',')
	b = appendJSONString(b, n.eventTime)
	b = append(b, `:"`...)
	b = appendEventTime(b, e.EventTime)
	b = append(b, `","sequence":`...)
	b = strconv.AppendInt(b, int64(e.Sequence), 10)
	b = append(b, `,"sequence_length":`...)
	b = strconv.AppendInt(b, int64(e.SequenceLength), 10)
	b = append(b, `,"operation":`...)
	b = appendJSONString(b, string(e.Operation))
	for k := range numBuckets {
		d := *e.data(k)
		if d == nil {
			continue
		}
		b = append(b, ',')
		b = appendJSONString(b, bucketFields[k])
		b = append(b, `:{"data":`...)
		b = appendJSONString(b, d.Data)
		b = append(b, `,"mime_type":`...)
		b = appendJSONString(b, d.MIMEType)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string the way Jackson writes it:
// '"', '\\' and control characters escaped, everything else (including
// non-ASCII) as itself. Invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// UnmarshalJSON decodes data strictly into e (see DecodeEvent). On error e is
// left unchanged.
func (e *ChangeEvent) UnmarshalJSON(data []byte) error {
	ev, err := DecodeEvent(data)
	if err != nil {
		return err
	}
	*e = *ev
	return nil
}

// objectMembers returns the members of an object value, rejecting duplicate
// names (which JSON readers resolve differently, so they are ambiguous).
// field is the object's path for errors.
func objectMembers(v *jsonValue, field string) ([]jsonMember, error) {
	if v.kind != "object" {
		return nil, eventErr(field, "expected an object, got %s", v.kind)
	}
	if len(v.members) > 1 {
		seen := make(map[string]struct{}, len(v.members))
		for _, m := range v.members {
			if _, dup := seen[m.name]; dup {
				return nil, eventErr(joinField(field, m.name), "duplicate field")
			}
			seen[m.name] = struct{}{}
		}
	}
	return v.members, nil
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func decodeString(field string, v *jsonValue) (string, error) {
	if v.kind != "string" {
		return "", eventErr(field, "expected a string, got %s", v.kind)
	}
	return v.str, nil
}

// decodeInteger reads a JSON integer in [minimum, 2^53-1]. Like JSON Schema
// it accepts a number with a zero fraction (3.0) as an integer.
func decodeInteger(field string, v *jsonValue, minimum int64) (int64, error) {
	if v.kind != "number" {
		return 0, eventErr(field, "expected an integer, got %s", v.kind)
	}
	s := string(v.raw)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		switch {
		case ferr != nil && !math.IsInf(f, 0):
			return 0, &EventError{Field: field, Msg: fmt.Sprintf("bad number %s", s), Err: ferr}
		case f != math.Trunc(f):
			return 0, eventErr(field, "expected an integer, got %s", s)
		case f < float64(minimum) || f > maxEventInteger:
			return 0, eventErr(field, "%s is out of range [%d, %d]", s, minimum, int64(maxEventInteger))
		}
		n = int64(f)
	}
	if n < minimum || n > maxEventInteger {
		return 0, eventErr(field, "%d is out of range [%d, %d]", n, minimum, int64(maxEventInteger))
	}
	return n, nil
}

// DecodeEvent decodes one rdf_change message strictly. It dispatches on
// $schema (SchemaRDFChangeV2, or the legacy SchemaRDFChangeV1 with its own
// field names) and rejects, with an *EventError naming the field:
//
//   - anything that is not exactly one JSON object, and duplicate fields;
//   - unknown fields wherever the schema closes the object (the root and the
//     four rdf_*_data objects; meta is open and its extra fields are kept in
//     EventMeta.Extra);
//   - missing required fields and values of the wrong JSON type (null
//     included);
//   - integers that are negative, fractional or above 2^53-1;
//   - sequence not below sequence_length, an unknown operation, an unknown
//     mime_type, a date-time that is not RFC 3339 (or is longer than 128);
//   - an RDF field the operation does not carry, a delete in several chunks.
//
// It does not parse the Turtle inside (Reassembler does).
func DecodeEvent(data []byte) (*ChangeEvent, error) {
	if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
		return nil, eventErr("", "empty message, want a JSON object")
	}
	root, err := parseJSON(data)
	if err != nil {
		return nil, &EventError{Msg: "not valid JSON", Err: err}
	}
	members, err := objectMembers(root, "")
	if err != nil {
		return nil, err
	}
	fields := make(map[string]*jsonValue, len(members))
	for _, m := range members {
		fields[m.name] = m.value
	}
	rawSchema, ok := fields["$schema"]
	if !ok {
		return nil, eventErr("$schema", "missing required field")
	}
	schema, err := decodeString("$schema", rawSchema)
	if err != nil {
		return nil, err
	}
	var n, other schemaNames
	switch schema {
	case SchemaRDFChangeV2:
		n, other = namesV2, namesV1
	case SchemaRDFChangeV1:
		n, other = namesV1, namesV2
	default:
		return nil, eventErr("$schema", "unsupported schema %q (want %q or %q)", schema, SchemaRDFChangeV2, SchemaRDFChangeV1)
	}
	known := []string{"$schema", "meta", n.entity, n.revision, n.eventTime, "sequence", "sequence_length", "operation"}
	known = append(known, bucketFields[:]...)
	for _, m := range members {
		if slices.Contains(known, m.name) {
			continue
		}
		if m.name == other.entity || m.name == other.revision || m.name == other.eventTime {
			return nil, eventErr(m.name, "unknown field: %s is not a field of %s messages", m.name, schema)
		}
		return nil, eventErr(m.name, "unknown field (the schema allows no additional properties)")
	}
	for _, name := range known {
		if name == "$schema" || strings.HasPrefix(name, "rdf_") {
			continue
		}
		if _, ok := fields[name]; !ok {
			return nil, eventErr(name, "missing required field")
		}
	}

	ev := &ChangeEvent{Schema: schema}
	if err := decodeMeta(fields["meta"], &ev.Meta); err != nil {
		return nil, err
	}
	if ev.EntityID, err = decodeString(n.entity, fields[n.entity]); err != nil {
		return nil, err
	}
	if ev.EntityID == "" {
		return nil, eventErr(n.entity, "must not be empty")
	}
	if ev.Revision, err = decodeInteger(n.revision, fields[n.revision], 0); err != nil {
		return nil, err
	}
	dt, err := decodeString(n.eventTime, fields[n.eventTime])
	if err != nil {
		return nil, err
	}
	if ev.EventTime, err = parseEventTime(n.eventTime, dt); err != nil {
		return nil, err
	}
	seq, err := decodeInteger("sequence", fields["sequence"], 0)
	if err != nil {
		return nil, err
	}
	seqLen, err := decodeInteger("sequence_length", fields["sequence_length"], 1)
	if err != nil {
		return nil, err
	}
	if seq > math.MaxInt || seqLen > math.MaxInt {
		return nil, eventErr("sequence_length", "%d does not fit this platform's int", seqLen)
	}
	ev.Sequence, ev.SequenceLength = int(seq), int(seqLen)
	op, err := decodeString("operation", fields["operation"])
	if err != nil {
		return nil, err
	}
	ev.Operation = Operation(op)
	for b := range numBuckets {
		raw, ok := fields[bucketFields[b]]
		if !ok {
			continue
		}
		d, err := decodeRDFData(bucketFields[b], raw)
		if err != nil {
			return nil, err
		}
		*ev.data(b) = d
	}
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

func decodeMeta(raw *jsonValue, m *EventMeta) error {
	members, err := objectMembers(raw, "meta")
	if err != nil {
		return err
	}
	for _, mem := range members {
		field := "meta." + mem.name
		var dst *string
		switch mem.name {
		case "dt":
			s, err := decodeString(field, mem.value)
			if err != nil {
				return err
			}
			if m.DT, err = parseEventTime(field, s); err != nil {
				return err
			}
			continue
		case "id":
			dst = &m.ID
		case "domain":
			dst = &m.Domain
		case "stream":
			dst = &m.Stream
		case "request_id":
			dst = &m.RequestID
		case "uri":
			dst = &m.URI
		default:
			if m.Extra == nil {
				m.Extra = make(map[string]json.RawMessage)
			}
			m.Extra[mem.name] = append(json.RawMessage(nil), mem.value.raw...)
			continue
		}
		s, err := decodeString(field, mem.value)
		if err != nil {
			return err
		}
		if s == "" && (mem.name == "domain" || mem.name == "stream") {
			return eventErr(field, "must not be empty")
		}
		*dst = s
	}
	if !slices.ContainsFunc(members, func(mem jsonMember) bool { return mem.name == "stream" }) {
		return eventErr("meta.stream", "missing required field")
	}
	return m.validate()
}

func decodeRDFData(field string, raw *jsonValue) (*RDFData, error) {
	members, err := objectMembers(raw, field)
	if err != nil {
		return nil, err
	}
	d := &RDFData{}
	var haveData, haveMIME bool
	for _, mem := range members {
		switch mem.name {
		case "data":
			if d.Data, err = decodeString(field+".data", mem.value); err != nil {
				return nil, err
			}
			haveData = true
		case "mime_type":
			if d.MIMEType, err = decodeString(field+".mime_type", mem.value); err != nil {
				return nil, err
			}
			haveMIME = true
		default:
			return nil, eventErr(field+"."+mem.name, "unknown field (the schema allows no additional properties)")
		}
	}
	if !haveMIME {
		return nil, eventErr(field+".mime_type", "missing required field")
	}
	if !haveData {
		return nil, eventErr(field+".data", "missing required field")
	}
	if d.MIMEType != MIMETypeTurtle {
		return nil, eventErr(field+".mime_type", "unsupported MIME type %q (want %q)", d.MIMEType, MIMETypeTurtle)
	}
	return d, nil
}
