package rdfdiff

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mutationFixtures = "testdata/events/mutation"

func readEventFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(mutationFixtures, name))
	require.NoError(t, err)
	return data
}

func loadEventFixture(t testing.TB, name string) *ChangeEvent {
	t.Helper()
	ev, err := DecodeEvent(readEventFixture(t, name))
	require.NoError(t, err)
	return ev
}

func eventFixtureNames(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(mutationFixtures, "*.json"))
	require.NoError(t, err)
	require.Len(t, names, 8)
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

func TestDecodeEventFixtures(t *testing.T) {
	epoch := time.Unix(0, 0).UTC()
	for _, name := range eventFixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			ev := loadEventFixture(t, name)
			op, version, _ := strings.Cut(strings.TrimSuffix(name, ".json"), "-")
			if version == "v1" {
				assert.Equal(t, SchemaRDFChangeV1, ev.Schema)
			} else {
				assert.Equal(t, SchemaRDFChangeV2, ev.Schema)
			}
			assert.Equal(t, Operation(strings.ToLower(op)), ev.Operation)
			assert.Equal(t, EventMeta{
				DT:        epoch.Add(time.Millisecond),
				ID:        "00000000-0000-0002-0000-000000000003",
				Domain:    "unittest.local",
				Stream:    "rdf_stream",
				RequestID: "00000000-0000-0003-0000-000000000004",
			}, ev.Meta)
			assert.Equal(t, "Q123", ev.EntityID)
			assert.Equal(t, int64(123), ev.Revision)
			assert.True(t, epoch.Equal(ev.EventTime))
			assert.Equal(t, 0, ev.Sequence)
			assert.Equal(t, 1, ev.SequenceLength)
			present := [numBuckets]bool{}
			for b := range numBuckets {
				if d := *ev.data(b); d != nil {
					present[b] = true
					assert.Equal(t, MIMETypeTurtle, d.MIMEType)
				}
			}
			assert.Equal(t, allowedBuckets(ev.Operation), present, "each fixture carries exactly its operation's fields")
		})
	}
	diff := loadEventFixture(t, "Diff-v2.json")
	assert.Equal(t, "\n<uri:del> <uri:del> <uri:del> .\n", diff.Deleted.Data)
	assert.Equal(t, "\n<uri:unlinked> <uri:unlinked> <uri:unlinked> .\n", diff.UnlinkedShared.Data)

	// v1 and v2 decode to the same thing but for $schema.
	for _, op := range []string{"Import", "Diff", "Delete", "Reconcile"} {
		v1, v2 := loadEventFixture(t, op+"-v1.json"), loadEventFixture(t, op+"-v2.json")
		v1.Schema = v2.Schema
		assert.Equal(t, v2, v1, op)
	}
}

// Re-encoding gives semantically equal JSON, and in fact the same bytes,
// field order included.
func TestEncodeEventFixturesRoundTrip(t *testing.T) {
	for _, name := range eventFixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			data := readEventFixture(t, name)
			ev, err := DecodeEvent(data)
			require.NoError(t, err)
			out, err := ev.MarshalJSON()
			require.NoError(t, err)
			assert.JSONEq(t, string(data), string(out))
			assert.Equal(t, strings.TrimSpace(string(data)), string(out), "same field order and spelling")

			// json.Marshal HTML-escapes '<' and '>' but means the same.
			viaStd, err := json.Marshal(ev)
			require.NoError(t, err)
			assert.JSONEq(t, string(data), string(viaStd))

			var again ChangeEvent
			require.NoError(t, json.Unmarshal(out, &again))
			assert.Equal(t, ev, &again)
		})
	}
}

// mutate decodes the Diff-v2 fixture into a generic map, applies f, and
// re-encodes it.
func mutate(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(readEventFixture(t, "Diff-v2.json"), &m))
	f(m)
	data, err := json.Marshal(m)
	require.NoError(t, err)
	return data
}

func meta(m map[string]any) map[string]any { return m["meta"].(map[string]any) }

func TestDecodeEventRejectsMalformed(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		field string
		msg   string
	}{
		{"empty", []byte(""), "", "empty message"},
		{"not json", []byte("{nope"), "", "not valid JSON"},
		{"array", []byte("[1]"), "", "expected an object, got array"},
		{"trailing data", append(readEventFixture(t, "Delete-v2.json"), []byte(" {}")...), "", "trailing data"},
		{"unterminated string", []byte(`{"$schema":"x`), "", "offset 13: unterminated string"},
		{"raw control character", []byte("{\"$schema\":\"a\tb\"}"), "", "control character 0x09"},
		{"invalid UTF-8", []byte("{\"$schema\":\"a\xffb\"}"), "", "offset 13: invalid UTF-8 (byte 0xff)"},
		{"bad escape", []byte(`{"$schema":"\x"}`), "", `invalid escape '\x'`},
		{"bad number", []byte(`{"rev_id":01}`), "", "want ',' or '}'"},
		{"deep nesting", []byte(`{"meta":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`), "", "nested too deeply"},
		{"duplicate meta field", []byte(strings.Replace(string(readEventFixture(t, "Delete-v2.json")), `"stream":"rdf_stream"`, `"stream":"rdf_stream","stream":"x"`, 1)), "meta.stream", "duplicate field"},
		{"duplicate field", []byte(`{"$schema":"x","$schema":"y"}`), "$schema", "duplicate field"},
		{"missing $schema", mutate(t, func(m map[string]any) { delete(m, "$schema") }), "$schema", "missing required field"},
		{"unknown $schema", mutate(t, func(m map[string]any) { m["$schema"] = "/mediawiki/wikibase/entity/rdf_change/3.0.0" }), "$schema", "unsupported schema"},
		{"$schema not string", mutate(t, func(m map[string]any) { m["$schema"] = 2 }), "$schema", "expected a string, got number"},
		{"unknown field", mutate(t, func(m map[string]any) { m["rdf_extra_data"] = "x" }), "rdf_extra_data", "unknown field"},
		{"v1 name in v2", mutate(t, func(m map[string]any) { m["entity"] = "Q1" }), "entity", "not a field of /mediawiki/wikibase/entity/rdf_change/2.0.0"},
		{"missing entity_id", mutate(t, func(m map[string]any) { delete(m, "entity_id") }), "entity_id", "missing required field"},
		{"missing rev_id", mutate(t, func(m map[string]any) { delete(m, "rev_id") }), "rev_id", "missing required field"},
		{"missing dt", mutate(t, func(m map[string]any) { delete(m, "dt") }), "dt", "missing required field"},
		{"missing sequence", mutate(t, func(m map[string]any) { delete(m, "sequence") }), "sequence", "missing required field"},
		{"missing sequence_length", mutate(t, func(m map[string]any) { delete(m, "sequence_length") }), "sequence_length", "missing required field"},
		{"missing operation", mutate(t, func(m map[string]any) { delete(m, "operation") }), "operation", "missing required field"},
		{"missing meta", mutate(t, func(m map[string]any) { delete(m, "meta") }), "meta", "missing required field"},
		{"meta not object", mutate(t, func(m map[string]any) { m["meta"] = "x" }), "meta", "expected an object, got string"},
		{"missing meta.stream", mutate(t, func(m map[string]any) { delete(meta(m), "stream") }), "meta.stream", "missing required field"},
		{"empty meta.stream", mutate(t, func(m map[string]any) { meta(m)["stream"] = "" }), "meta.stream", "must not be empty"},
		{"empty meta.domain", mutate(t, func(m map[string]any) { meta(m)["domain"] = "" }), "meta.domain", "must not be empty"},
		{"meta.id null", mutate(t, func(m map[string]any) { meta(m)["id"] = nil }), "meta.id", "expected a string, got null"},
		{"bad meta.dt", mutate(t, func(m map[string]any) { meta(m)["dt"] = "yesterday" }), "meta.dt", "not an RFC 3339 date-time"},
		{"bad meta.uri", mutate(t, func(m map[string]any) { meta(m)["uri"] = "http://a b" }), "meta.uri", "not a URI reference"},
		{"long meta.uri", mutate(t, func(m map[string]any) { meta(m)["uri"] = "http://x/" + strings.Repeat("a", 8192) }), "meta.uri", "longer than 8192"},
		{"entity_id number", mutate(t, func(m map[string]any) { m["entity_id"] = 123 }), "entity_id", "expected a string, got number"},
		{"empty entity_id", mutate(t, func(m map[string]any) { m["entity_id"] = "" }), "entity_id", "must not be empty"},
		{"rev_id string", mutate(t, func(m map[string]any) { m["rev_id"] = "123" }), "rev_id", "expected an integer, got string"},
		{"rev_id negative", mutate(t, func(m map[string]any) { m["rev_id"] = -1 }), "rev_id", "-1 is out of range [0, 9007199254740991]"},
		{"rev_id fraction", mutate(t, func(m map[string]any) { m["rev_id"] = 1.5 }), "rev_id", "expected an integer, got 1.5"},
		{"rev_id too large", mutate(t, func(m map[string]any) { m["rev_id"] = json.Number("9007199254740992") }), "rev_id", "out of range"},
		{"rev_id huge", mutate(t, func(m map[string]any) { m["rev_id"] = json.Number("1e400") }), "rev_id", "out of range"},
		{"sequence negative", mutate(t, func(m map[string]any) { m["sequence"] = -1 }), "sequence", "out of range"},
		{"sequence_length zero", mutate(t, func(m map[string]any) { m["sequence_length"] = 0 }), "sequence_length", "0 is out of range [1,"},
		{"sequence not below length", mutate(t, func(m map[string]any) { m["sequence"] = 1 }), "sequence", "1 is not below sequence_length 1"},
		{"unknown operation", mutate(t, func(m map[string]any) { m["operation"] = "update" }), "operation", `unknown operation "update"`},
		{"bad dt", mutate(t, func(m map[string]any) { m["dt"] = "2020-13-01T00:00:00Z" }), "dt", "not an RFC 3339 date-time"},
		{"dt without zone", mutate(t, func(m map[string]any) { m["dt"] = "2020-01-01T00:00:00" }), "dt", "not an RFC 3339 date-time"},
		{"dt too long", mutate(t, func(m map[string]any) { m["dt"] = "2020-01-01T00:00:00." + strings.Repeat("0", 120) + "Z" }), "dt", "longer than 128"},
		{"data not object", mutate(t, func(m map[string]any) { m["rdf_added_data"] = "x" }), "rdf_added_data", "expected an object, got string"},
		{"unknown data field", mutate(t, func(m map[string]any) { m["rdf_added_data"].(map[string]any)["encoding"] = "gzip" }), "rdf_added_data.encoding", "unknown field"},
		{"missing data", mutate(t, func(m map[string]any) { delete(m["rdf_deleted_data"].(map[string]any), "data") }), "rdf_deleted_data.data", "missing required field"},
		{"missing mime_type", mutate(t, func(m map[string]any) { delete(m["rdf_deleted_data"].(map[string]any), "mime_type") }), "rdf_deleted_data.mime_type", "missing required field"},
		{"unknown mime_type", mutate(t, func(m map[string]any) {
			m["rdf_linked_shared_data"].(map[string]any)["mime_type"] = "application/n-triples"
		}), "rdf_linked_shared_data.mime_type", `unsupported MIME type "application/n-triples"`},
		{"data not string", mutate(t, func(m map[string]any) { m["rdf_added_data"].(map[string]any)["data"] = false }), "rdf_added_data.data", "expected a string, got boolean"},
		{"import with deleted data", mutate(t, func(m map[string]any) { m["operation"] = "import" }), "rdf_deleted_data", "not allowed for operation import"},
		{"reconcile with linked data", mutate(t, func(m map[string]any) {
			m["operation"] = "reconcile"
			delete(m, "rdf_deleted_data")
		}), "rdf_linked_shared_data", "reconcile carries only rdf_added_data"},
		{"delete with data", mutate(t, func(m map[string]any) { m["operation"] = "delete" }), "rdf_added_data", "delete carries no RDF data"},
		{"chunked delete", []byte(strings.Replace(string(readEventFixture(t, "Delete-v2.json")), `"sequence_length":1`, `"sequence_length":2`, 1)), "sequence_length", "a delete is a single message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeEvent(tc.data)
			require.Error(t, err)
			assert.Nil(t, ev)
			require.ErrorIs(t, err, ErrInvalidEvent)
			ee, ok := errors.AsType[*EventError](err)
			require.True(t, ok, "%T", err)
			assert.Equal(t, tc.field, ee.Field)
			assert.Contains(t, err.Error(), tc.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "rdfdiff: invalid rdf_change event: "+tc.field), err.Error())

			if json.Valid(tc.data) { // else encoding/json reports its own syntax error first
				var into ChangeEvent
				assert.ErrorIs(t, json.Unmarshal(tc.data, &into), ErrInvalidEvent)
			}
		})
	}
}

func TestDecodeEventV1Rules(t *testing.T) {
	data := readEventFixture(t, "Diff-v1.json")
	bad := strings.Replace(string(data), `"entity":"Q123"`, `"entity_id":"Q123"`, 1)
	_, err := DecodeEvent([]byte(bad))
	ee, ok := errors.AsType[*EventError](err)
	require.True(t, ok)
	assert.Equal(t, "entity_id", ee.Field)
	assert.Contains(t, ee.Msg, "not a field of /wikibase/rdf/update_stream/1.0.0")

	noRev := strings.Replace(string(data), `"revision":123,`, ``, 1)
	_, err = DecodeEvent([]byte(noRev))
	ee, ok = errors.AsType[*EventError](err)
	require.True(t, ok)
	assert.Equal(t, "revision", ee.Field)
}

// Accepted variants: integers written as 3.0 (JSON Schema integers), time
// offsets, extra meta fields (meta is open), key order.
func TestDecodeEventAcceptsSchemaValidVariants(t *testing.T) {
	data := mutate(t, func(m map[string]any) {
		m["rev_id"] = json.Number("123.0")
		m["dt"] = "1970-01-01T02:00:00+02:00"
		meta(m)["uri"] = "https://www.wikidata.org/wiki/Q123"
		meta(m)["partition"] = 3
		meta(m)["topic"] = "eqiad.rdf-streaming-updater.mutation"
	})
	ev, err := DecodeEvent(data)
	require.NoError(t, err)
	assert.Equal(t, int64(123), ev.Revision)
	assert.True(t, ev.EventTime.Equal(time.Unix(0, 0)))
	assert.Equal(t, "https://www.wikidata.org/wiki/Q123", ev.Meta.URI)
	assert.Equal(t, map[string]json.RawMessage{
		"partition": json.RawMessage("3"),
		"topic":     json.RawMessage(`"eqiad.rdf-streaming-updater.mutation"`),
	}, ev.Meta.Extra)

	out, err := json.Marshal(ev)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"request_id":"00000000-0000-0003-0000-000000000004","uri":"https://www.wikidata.org/wiki/Q123","partition":3,"topic":"eqiad.rdf-streaming-updater.mutation"},"entity_id"`)
	assert.Contains(t, string(out), `"dt":"1970-01-01T00:00:00Z"`, "event time in UTC")
	again, err := DecodeEvent(out)
	require.NoError(t, err)
	assert.Equal(t, ev.Meta.Extra, again.Meta.Extra)
}

func TestEncodeEventValidates(t *testing.T) {
	base := loadEventFixture(t, "Diff-v2.json")
	tests := []struct {
		name  string
		edit  func(e *ChangeEvent)
		field string
	}{
		{"no stream", func(e *ChangeEvent) { e.Meta.Stream = "" }, "meta.stream"},
		{"no entity", func(e *ChangeEvent) { e.EntityID = "" }, "entity_id"},
		{"negative revision", func(e *ChangeEvent) { e.Revision = -1 }, "rev_id"},
		{"zero event time", func(e *ChangeEvent) { e.EventTime = time.Time{} }, "dt"},
		{"year 10000", func(e *ChangeEvent) { e.EventTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "dt"},
		{"sequence past end", func(e *ChangeEvent) { e.Sequence = 1 }, "sequence"},
		{"zero length", func(e *ChangeEvent) { e.SequenceLength = 0 }, "sequence_length"},
		{"bad operation", func(e *ChangeEvent) { e.Operation = "DIFF" }, "operation"},
		{"bad mime", func(e *ChangeEvent) { e.Added.MIMEType = "text/plain" }, "rdf_added_data.mime_type"},
		{"bad schema", func(e *ChangeEvent) { e.Schema = "/x/1.0.0" }, "$schema"},
		{"extra shadows a field", func(e *ChangeEvent) { e.Meta.Extra = map[string]json.RawMessage{"id": json.RawMessage(`"x"`)} }, "meta.id"},
		{"extra not JSON", func(e *ChangeEvent) { e.Meta.Extra = map[string]json.RawMessage{"x": json.RawMessage(`{`)} }, "meta.x"},
		{"v1 names in errors", func(e *ChangeEvent) { e.Schema = SchemaRDFChangeV1; e.Revision = -5 }, "revision"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := *base
			a := *base.Added
			ev.Added = &a
			tc.edit(&ev)
			_, err := ev.MarshalJSON()
			require.ErrorIs(t, err, ErrInvalidEvent)
			ee, ok := errors.AsType[*EventError](err)
			require.True(t, ok)
			assert.Equal(t, tc.field, ee.Field)
		})
	}
}

func TestEncodeEventDefaultsAndEscaping(t *testing.T) {
	ev := &ChangeEvent{
		Meta:           EventMeta{Stream: "s"},
		EntityID:       "Q1",
		EventTime:      time.Date(2020, 6, 10, 18, 56, 15, 123_456_000, time.FixedZone("x", 3600)),
		SequenceLength: 1,
		Operation:      OpReconcile,
		Added:          &RDFData{MIMEType: MIMETypeTurtle, Data: "\n<a> <b> \"q\\\"\\n\u2028\x01é\" .\n"},
	}
	out, err := ev.AppendJSON([]byte("x"))
	require.NoError(t, err)
	assert.Equal(t, `x{"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0","meta":{"stream":"s"},"entity_id":"Q1","rev_id":0,`+
		`"dt":"2020-06-10T17:56:15.123456Z","sequence":0,"sequence_length":1,"operation":"reconcile",`+
		`"rdf_added_data":{"data":"\n<a> <b> \"q\\\"\\n`+"\u2028"+`\u0001é\" .\n","mime_type":"text/turtle"}}`, string(out))
	back, err := DecodeEvent(out[1:])
	require.NoError(t, err)
	assert.Equal(t, ev.Added.Data, back.Added.Data)
	assert.Equal(t, SchemaRDFChangeV2, back.Schema)
}

func TestFormatEventTime(t *testing.T) {
	base := time.Date(2020, 6, 10, 18, 56, 15, 0, time.UTC)
	for ns, want := range map[int]string{
		0:           "2020-06-10T18:56:15Z",
		1_000_000:   "2020-06-10T18:56:15.001Z",
		120_000_000: "2020-06-10T18:56:15.120Z",
		1_000:       "2020-06-10T18:56:15.000001Z",
		1:           "2020-06-10T18:56:15.000000001Z",
	} {
		assert.Equal(t, want, FormatEventTime(base.Add(time.Duration(ns))))
	}
	assert.Equal(t, "2020-06-10T18:56:15Z", FormatEventTime(base.In(time.FixedZone("x", 2*3600))), "always UTC")
}

func BenchmarkDecodeEvent(b *testing.B) {
	all := loadTurtle(b, q42Munged)
	evs, err := ChunkChange(testChange(OpImport, Patch{Added: all}), WithMeta(fixedMeta))
	require.NoError(b, err)
	data, err := evs[0].MarshalJSON()
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	all := loadTurtle(b, q42Munged)
	evs, err := ChunkChange(testChange(OpImport, Patch{Added: all}), WithMeta(fixedMeta))
	require.NoError(b, err)
	data, err := evs[0].AppendJSON(nil)
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if data, err = evs[0].AppendJSON(data[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
