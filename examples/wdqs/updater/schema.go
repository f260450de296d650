package updater

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaFS holds the Event Platform schemas the updater validates against,
// each at its $id path plus ".yaml" (schemas/mediawiki/page/change/1.2.0.yaml
// is /mediawiki/page/change/1.2.0), copied unchanged from the Event Platform
// primary schema repository.
//
//go:embed schemas
var schemaFS embed.FS

// schemaBase is the base URI the schemas' $id and $ref (absolute paths such
// as /fragment/common/2.0.0) resolve against. Its scheme is not a network
// one: the loader maps every URI under it to an embedded file and refuses
// every other URI, so compiling never fetches anything.
const schemaBase = "eventplatform:"

// Event Platform schema IDs ($schema of the events) the updater knows.
const (
	// SchemaPageChange is the page_change schema of the input events
	// (stream mediawiki.page_change.v1).
	SchemaPageChange = "/mediawiki/page/change/1.2.0"
	// SchemaRDFChange is the rdf_change schema of the output events.
	SchemaRDFChange = "/mediawiki/wikibase/entity/rdf_change/2.0.0"
)

// Validator validates events against the embedded Event Platform schemas
// (JSON Schema draft-07, formats asserted), picking the schema by the
// event's $schema. It is compiled once by NewValidator and safe for
// concurrent use.
type Validator struct {
	schemas map[string]*jsonschema.Schema
}

// NewValidator compiles every embedded schema. It reads only the embedded
// files.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(embeddedLoader{})
	v := &Validator{schemas: map[string]*jsonschema.Schema{}}
	err := fs.WalkDir(schemaFS, "schemas", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		id := strings.TrimSuffix(strings.TrimPrefix(p, "schemas"), ".yaml")
		sch, err := c.Compile(schemaBase + id)
		if err != nil {
			return fmt.Errorf("updater: cannot compile embedded schema %s (fix the file %s): %w", id, p, err)
		}
		v.schemas[id] = sch
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Schemas returns the IDs of the schemas v validates against, sorted.
func (v *Validator) Schemas() []string {
	ids := make([]string, 0, len(v.schemas))
	for id := range v.schemas {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Validate validates one JSON event against the schema its $schema names.
// An event that does not match gets a *SchemaError; one that is not a JSON
// object, has no $schema or names a schema v does not have gets another
// error.
func (v *Validator) Validate(event []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(event))
	if err != nil {
		return fmt.Errorf("updater: event is not JSON: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return errors.New("updater: event is not a JSON object")
	}
	id, _ := obj["$schema"].(string)
	return v.ValidateValue(id, doc)
}

// ValidateValue validates a decoded event (as jsonschema.UnmarshalJSON
// returns it: map[string]any, []any, json.Number, string, bool, nil)
// against the schema id.
func (v *Validator) ValidateValue(id string, doc any) error {
	sch, ok := v.schemas[id]
	if !ok {
		return fmt.Errorf("updater: no embedded schema %q (have %s): add its file under schemas/ or turn input validation off", id, strings.Join(v.Schemas(), ", "))
	}
	err := sch.Validate(doc)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return newSchemaError(id, ve)
	}
	return err
}

// SchemaError is an event that does not match its schema. It names the
// first failing value by JSON pointer and the keyword it fails.
type SchemaError struct {
	// Schema is the schema's ID.
	Schema string
	// InstanceLocation is the JSON pointer of the failing value in the
	// event ("" is the event itself).
	InstanceLocation string
	// Keyword is the schema keyword the value fails (type, required,
	// additionalProperties, format, ...).
	Keyword string
	// Message is the validator's message.
	Message string
	// Others counts the other failures found.
	Others int
}

// Error implements error.
func (e *SchemaError) Error() string {
	s := fmt.Sprintf("updater: event does not match schema %s at %q (keyword %s): %s", e.Schema, e.InstanceLocation, e.Keyword, e.Message)
	if e.Others > 0 {
		s += fmt.Sprintf(" (and %d more)", e.Others)
	}
	return s
}

var englishPrinter = message.NewPrinter(language.English)

// pointerEscaper escapes a JSON pointer token (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// newSchemaError reduces the validator's error tree to its first leaf.
func newSchemaError(id string, ve *jsonschema.ValidationError) *SchemaError {
	var leaves []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	leaf := leaves[0]
	var ptr strings.Builder
	for _, tok := range leaf.InstanceLocation {
		ptr.WriteByte('/')
		ptr.WriteString(pointerEscaper.Replace(tok))
	}
	kw := strings.Join(leaf.ErrorKind.KeywordPath(), "/")
	return &SchemaError{
		Schema:           id,
		InstanceLocation: ptr.String(),
		Keyword:          kw,
		Message:          leaf.ErrorKind.LocalizedString(englishPrinter),
		Others:           len(leaves) - 1,
	}
}

// embeddedLoader loads the schemas under schemaBase from schemaFS (YAML,
// converted to the JSON data model) and refuses every other URI.
type embeddedLoader struct{}

// Load implements jsonschema.URLLoader.
func (embeddedLoader) Load(uri string) (any, error) {
	id, ok := strings.CutPrefix(uri, schemaBase)
	// An absolute-path reference resolves with an empty authority:
	// eventplatform:///fragment/common/2.0.0.
	id = strings.TrimPrefix(id, "//")
	if !ok || !strings.HasPrefix(id, "/") {
		return nil, fmt.Errorf("updater: schema %s is not embedded and is never fetched", uri)
	}
	raw, err := schemaFS.ReadFile(path.Join("schemas", path.Clean(id)+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("updater: no embedded schema for %s: %w", uri, err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("updater: embedded schema %s is not YAML: %w", id, err)
	}
	dropNestedIDs(doc, true)
	// Round-trip through JSON: the validator wants the JSON data model
	// (json.Number, map[string]any).
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("updater: embedded schema %s: %w", id, err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(js))
}

// dropNestedIDs removes the $id of every subschema below the root. Event
// Platform schemas are materialized: each $ref to a fragment is replaced by
// the fragment itself, $id included, so one schema holds the same $id at
// several places (the user fragment under performer and under
// revision.editor), which JSON Schema forbids. Those $ids only record where
// the inlined parts came from; the materialized schemas have no $ref left
// for them to be a base of.
func dropNestedIDs(v any, root bool) {
	switch v := v.(type) {
	case map[string]any:
		if !root {
			if _, ok := v["$id"].(string); ok {
				delete(v, "$id")
			}
		}
		for k, c := range v {
			if k == "examples" || k == "enum" || k == "const" || k == "default" {
				continue // instances, not subschemas
			}
			dropNestedIDs(c, false)
		}
	case []any:
		for _, c := range v {
			dropNestedIDs(c, false)
		}
	}
}
