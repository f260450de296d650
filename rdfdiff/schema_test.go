package rdfdiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// schemaFiles maps the Event Platform schema IDs the tests use to their
// files in testdata.
var schemaFiles = map[string]string{
	SchemaRDFChangeV2:        "testdata/schemas/mediawiki-wikibase-entity-rdf_change-2.0.0.yaml",
	"/fragment/common/2.0.0": "testdata/schemas/fragment-common-2.0.0.yaml",
}

// schemaBase is the base URI the schema IDs resolve against; the loader
// maps it to testdata and refuses everything else (nothing is fetched).
const schemaBase = "eventplatform:"

type testdataLoader struct{}

// Load implements jsonschema.URLLoader over schemaFiles.
func (testdataLoader) Load(uri string) (any, error) {
	id, _ := strings.CutPrefix(uri, schemaBase)
	file, ok := schemaFiles[strings.TrimPrefix(id, "//")]
	if !ok {
		return nil, fmt.Errorf("schema %s is not in testdata and is never fetched", uri)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(js))
}

// rdfChangeSchema is the compiled rdf_change 2.0.0 schema (JSON Schema
// draft-07, formats asserted).
var rdfChangeSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(testdataLoader{})
	return c.Compile(schemaBase + SchemaRDFChangeV2)
})

// schemaCheck validates an encoded event against rdf_change 2.0.0.
func schemaCheck(t testing.TB, data []byte) error {
	t.Helper()
	sch, err := rdfChangeSchema()
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	return sch.Validate(doc)
}

// Everything the codec writes matches the schema: the v2 fixtures (which
// it re-encodes byte for byte), the schema's own examples, and the chunks
// of every operation, a multi-chunk Q42 import included.
func TestEncodedEventsMatchSchema(t *testing.T) {
	n := 0
	for _, name := range eventFixtureNames(t) {
		if strings.HasSuffix(name, "-v2.json") {
			require.NoError(t, schemaCheck(t, readEventFixture(t, name)), name)
			n++
		}
	}
	assert.Equal(t, 4, n)

	raw, err := os.ReadFile(schemaFiles[SchemaRDFChangeV2])
	require.NoError(t, err)
	var doc struct {
		Examples []any `yaml:"examples"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	require.Len(t, doc.Examples, 2)
	for i, ex := range doc.Examples {
		data, err := json.Marshal(ex)
		require.NoError(t, err)
		assert.NoError(t, schemaCheck(t, data), "example %d", i)
		_, err = DecodeEvent(data)
		assert.NoError(t, err, "example %d", i)
	}

	q42 := loadTurtle(t, q42Munged)
	a, b := tr("uri:a", "uri:p", "uri:o"), tr("uri:b", "uri:p", "uri:c")
	changes := []EntityChange{
		testChange(OpImport, Patch{Added: q42, LinkedShared: []Triple{a}}),
		testChange(OpDiff, Patch{Added: []Triple{a}, Removed: []Triple{b}, LinkedShared: []Triple{a}, UnlinkedShared: []Triple{b}}),
		testChange(OpDiff, Patch{}),
		testChange(OpDelete, Patch{}),
		testChange(OpReconcile, Patch{Added: []Triple{a, b}}),
	}
	events := 0
	for _, c := range changes {
		evs, err := ChunkChange(c, WithSoftMaxChars(4096))
		require.NoError(t, err)
		for _, ev := range evs {
			data, err := ev.MarshalJSON()
			require.NoError(t, err)
			require.NoError(t, schemaCheck(t, data), "%s %d/%d", c.Operation, ev.Sequence, ev.SequenceLength)
			events++
		}
	}
	assert.Greater(t, events, len(changes), "the Q42 import is chunked")
}

// The codec and the schema agree on which events are valid, but for the
// rules the codec adds (they are the consumers' expectations, which the
// schema cannot express): a variant of a valid event rejected by the
// schema is rejected by the codec, and one the schema accepts is accepted
// by the codec unless it breaks one of those named rules.
func TestDecodeEventAgreesWithSchema(t *testing.T) {
	// Rules the codec enforces beyond the schema.
	codecOnly := map[string]string{
		"empty entity_id":           "entity_id must not be empty",
		"unknown mime_type":         "only text/turtle is read",
		"sequence not below length": "sequence < sequence_length",
		"import with deleted data":  "which data fields each operation carries",
		"delete with data":          "which data fields each operation carries",
		"chunked delete":            "a delete is one message",
	}
	cases := map[string]func(m map[string]any){
		// Rejected by both.
		"missing $schema":         func(m map[string]any) { delete(m, "$schema") },
		"$schema not string":      func(m map[string]any) { m["$schema"] = 2 },
		"unknown field":           func(m map[string]any) { m["rdf_extra_data"] = "x" },
		"missing entity_id":       func(m map[string]any) { delete(m, "entity_id") },
		"missing rev_id":          func(m map[string]any) { delete(m, "rev_id") },
		"missing dt":              func(m map[string]any) { delete(m, "dt") },
		"missing sequence":        func(m map[string]any) { delete(m, "sequence") },
		"missing sequence_length": func(m map[string]any) { delete(m, "sequence_length") },
		"missing operation":       func(m map[string]any) { delete(m, "operation") },
		"missing meta":            func(m map[string]any) { delete(m, "meta") },
		"meta not object":         func(m map[string]any) { m["meta"] = "x" },
		"missing meta.stream":     func(m map[string]any) { delete(meta(m), "stream") },
		"empty meta.stream":       func(m map[string]any) { meta(m)["stream"] = "" },
		"meta.id null":            func(m map[string]any) { meta(m)["id"] = nil },
		"bad meta.dt":             func(m map[string]any) { meta(m)["dt"] = "yesterday" },
		"bad meta.uri":            func(m map[string]any) { meta(m)["uri"] = "http://a b" },
		"long meta.uri":           func(m map[string]any) { meta(m)["uri"] = "http://x/" + strings.Repeat("a", 8192) },
		"entity_id number":        func(m map[string]any) { m["entity_id"] = 123 },
		"empty meta.domain":       func(m map[string]any) { meta(m)["domain"] = "" },
		"v1 name in v2":           func(m map[string]any) { m["entity"] = "Q1" },
		"rev_id string":           func(m map[string]any) { m["rev_id"] = "123" },
		"rev_id negative":         func(m map[string]any) { m["rev_id"] = -1 },
		"rev_id fraction":         func(m map[string]any) { m["rev_id"] = 1.5 },
		"rev_id too large":        func(m map[string]any) { m["rev_id"] = json.Number("9007199254740992") },
		"sequence negative":       func(m map[string]any) { m["sequence"] = -1 },
		"sequence_length zero":    func(m map[string]any) { m["sequence_length"] = 0 },
		"unknown operation":       func(m map[string]any) { m["operation"] = "update" },
		"bad dt":                  func(m map[string]any) { m["dt"] = "2020-13-01T00:00:00Z" },
		"dt without zone":         func(m map[string]any) { m["dt"] = "2020-01-01T00:00:00" },
		"dt too long":             func(m map[string]any) { m["dt"] = "2020-01-01T00:00:00." + strings.Repeat("0", 120) + "Z" },
		"data not object":         func(m map[string]any) { m["rdf_added_data"] = "x" },
		"unknown data field":      func(m map[string]any) { m["rdf_added_data"].(map[string]any)["encoding"] = "gzip" },
		"missing data":            func(m map[string]any) { delete(m["rdf_deleted_data"].(map[string]any), "data") },
		"missing mime_type":       func(m map[string]any) { delete(m["rdf_deleted_data"].(map[string]any), "mime_type") },
		"data not string":         func(m map[string]any) { m["rdf_added_data"].(map[string]any)["data"] = false },
		// Accepted by both.
		"integer as 123.0":    func(m map[string]any) { m["rev_id"] = json.Number("123.0") },
		"time with an offset": func(m map[string]any) { m["dt"] = "1970-01-01T02:00:00+02:00" },
		"meta is open":        func(m map[string]any) { meta(m)["partition"] = 3; meta(m)["topic"] = "t" },
		"meta.uri":            func(m map[string]any) { meta(m)["uri"] = "https://www.wikidata.org/wiki/Q123" },
		// Accepted by the schema only (codecOnly).
		"empty entity_id": func(m map[string]any) { m["entity_id"] = "" },
		"unknown mime_type": func(m map[string]any) {
			m["rdf_linked_shared_data"].(map[string]any)["mime_type"] = "application/n-triples"
		},
		"sequence not below length": func(m map[string]any) { m["sequence"] = 1 },
		"import with deleted data":  func(m map[string]any) { m["operation"] = "import" },
		"delete with data":          func(m map[string]any) { m["operation"] = "delete" },
		"chunked delete": func(m map[string]any) {
			m["operation"] = "delete"
			m["sequence_length"] = 2
			for _, f := range bucketFields {
				delete(m, f)
			}
		},
	}
	agreeReject, agreeAccept := 0, 0
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			data := mutate(t, f)
			schemaErr := schemaCheck(t, data)
			_, codecErr := DecodeEvent(data)
			if why, ok := codecOnly[name]; ok {
				assert.NoError(t, schemaErr, "the schema accepts it")
				assert.Error(t, codecErr, "the codec rejects it: %s", why)
				return
			}
			if schemaErr != nil {
				assert.Error(t, codecErr, "the schema rejects it (%v), the codec must too", schemaErr)
				agreeReject++
			} else {
				assert.NoError(t, codecErr, "the schema accepts it, the codec must too")
				agreeAccept++
			}
		})
	}
	assert.Equal(t, 35, agreeReject)
	assert.Equal(t, 4, agreeAccept)
}
