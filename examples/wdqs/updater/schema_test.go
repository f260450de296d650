package updater_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
)

// testValidator is compiled once for every test of the package.
var testValidator = sync.OnceValues(updater.NewValidator)

// requireSchemaValid fails t unless event matches the schema its $schema
// names.
func requireSchemaValid(t testing.TB, event []byte, msgAndArgs ...any) {
	t.Helper()
	v, err := testValidator()
	require.NoError(t, err)
	require.NoError(t, v.Validate(event), msgAndArgs...)
}

func TestValidatorSchemas(t *testing.T) {
	v, err := testValidator()
	require.NoError(t, err)
	assert.Equal(t, []string{"/fragment/common/2.0.0", updater.SchemaPageChange, updater.SchemaRDFChange}, v.Schemas())
}

// pageChangeFixtures returns the page_change fixtures (by path) of this
// package's and the repository's testdata, and the other event fixtures,
// which have no Event Platform schema here (legacy events, reconcile).
func pageChangeFixtures(t *testing.T) (pageChange map[string][]byte, others []string) {
	t.Helper()
	var paths []string
	for _, glob := range []string{"testdata/events/*.json", "../../../testdata/page_change/*.json"} {
		m, err := filepath.Glob(glob)
		require.NoError(t, err)
		require.NotEmpty(t, m, glob)
		paths = append(paths, m...)
	}
	pageChange = map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var head struct {
			Schema string `json:"$schema"`
		}
		require.NoError(t, json.Unmarshal(b, &head), p)
		if strings.HasPrefix(head.Schema, "/mediawiki/page/change/") {
			pageChange[p] = b
		} else {
			others = append(others, filepath.Base(p))
		}
	}
	return pageChange, others
}

// Every page_change fixture matches the schema its $schema names.
func TestPageChangeFixturesMatchSchema(t *testing.T) {
	fixtures, others := pageChangeFixtures(t)
	require.Len(t, fixtures, 17)
	assert.ElementsMatch(t, []string{"create-event-full.json", "page-delete.json", "page-undelete.json",
		"reconcile-creation.json", "reconcile-creation-unrelated-source.json", "page-properties-change.json"}, others)
	for p, b := range fixtures {
		requireSchemaValid(t, b, p)
	}
}

// Each schema's own examples match it: the YAML is read as the schema
// repository means it.
func TestSchemaExamplesMatchSchema(t *testing.T) {
	v, err := testValidator()
	require.NoError(t, err)
	n := 0
	for _, id := range v.Schemas() {
		raw, err := os.ReadFile(filepath.Join("schemas", id+".yaml"))
		require.NoError(t, err)
		var doc struct {
			Examples []any `yaml:"examples"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &doc))
		require.NotEmpty(t, doc.Examples, id)
		for i, ex := range doc.Examples {
			b, err := json.Marshal(ex)
			require.NoError(t, err)
			assert.NoError(t, v.Validate(b), "%s example %d", id, i)
			n++
		}
	}
	assert.Equal(t, 4, n) // rdf_change: 2, page_change: 1, fragment/common: 1
}

// edited returns the item-edit fixture with f applied.
func edited(t testing.TB, f func(ev map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/events/item-edit.json")
	require.NoError(t, err)
	var ev map[string]any
	require.NoError(t, json.Unmarshal(b, &ev))
	f(ev)
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	return out
}

func object(ev map[string]any, key string) map[string]any { return ev[key].(map[string]any) }

// brokenEvents are page_change events that break their schema in one
// place each, with the JSON pointer and keyword the validator must name.
func brokenEvents(t testing.TB) []struct {
	name, ptr, keyword string
	event              []byte
} {
	return []struct {
		name, ptr, keyword string
		event              []byte
	}{
		{"namespace as a string", "/page/namespace_id", "type", edited(t, func(ev map[string]any) { object(ev, "page")["namespace_id"] = "0" })},
		{"no wiki_id", "", "required", edited(t, func(ev map[string]any) { delete(ev, "wiki_id") })},
		{"no meta.stream", "/meta", "required", edited(t, func(ev map[string]any) { delete(object(ev, "meta"), "stream") })},
		{"unknown field", "", "additionalProperties", edited(t, func(ev map[string]any) { ev["page_change_kynd"] = "edit" })},
		{"bad date-time", "/dt", "format", edited(t, func(ev map[string]any) { ev["dt"] = "2024-10-04 15:16:26" })},
		{"bad changelog_kind", "/changelog_kind", "enum", edited(t, func(ev map[string]any) { ev["changelog_kind"] = "upsert" })},
		{"negative rev_id", "/revision/rev_id", "minimum", edited(t, func(ev map[string]any) { object(ev, "revision")["rev_id"] = -1 })},
		{"slot key with a slash", "/revision/content_slots/ma~1in/content_size", "type", edited(t, func(ev map[string]any) {
			slots := object(object(ev, "revision"), "content_slots")
			slot := slots["main"].(map[string]any)
			slot["content_size"] = "844"
			slots["ma/in"] = slot
			delete(slots, "main")
		})},
	}
}

func TestValidatorRejectsBrokenPageChange(t *testing.T) {
	v, err := testValidator()
	require.NoError(t, err)
	for _, tc := range brokenEvents(t) {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(tc.event)
			var se *updater.SchemaError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, updater.SchemaPageChange, se.Schema)
			assert.Equal(t, tc.ptr, se.InstanceLocation)
			assert.Equal(t, tc.keyword, se.Keyword)
			assert.NotEmpty(t, se.Message)
		})
	}

	for name, ev := range map[string]string{
		"unknown version": `{"$schema":"/mediawiki/page/change/9.9.9"}`,
		"no $schema":      `{"meta":{}}`,
	} {
		err := v.Validate([]byte(ev))
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "updater: no embedded schema", name)
		assert.False(t, errors.As(err, new(*updater.SchemaError)), name)
	}
	for name, ev := range map[string]string{"not JSON": `{"$schema":`, "array": `[1]`} {
		assert.Error(t, v.Validate([]byte(ev)), name)
	}
}

// With a Validator, Decode refuses a page_change event that breaks its
// schema with a DecodeError (the runner dead-letters it) naming the JSON
// pointer and the keyword, and reads valid ones as without it.
func TestDecodeValidatesInput(t *testing.T) {
	v, err := testValidator()
	require.NoError(t, err)
	plain := wikidataFilter
	checked := wikidataFilter
	checked.Validator = v
	now := time.Unix(1e9, 0)

	// Without the validator, Decode refuses these too, with a vaguer
	// message.
	refusedAnyway := map[string]bool{"namespace as a string": true, "negative rev_id": true}
	for _, tc := range brokenEvents(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plain.Decode("t", tc.event, now)
			if refusedAnyway[tc.name] {
				require.Error(t, err)
			} else {
				require.NoError(t, err, "only the validator refuses it")
			}
			ev, err := checked.Decode("eqiad.mediawiki.page_change.v1", tc.event, now)
			assert.Nil(t, ev)
			var de *updater.DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, "eqiad.mediawiki.page_change.v1", de.Topic)
			assert.ErrorAs(t, err, new(*updater.SchemaError))
			assert.Contains(t, err.Error(), `at "`+tc.ptr+`" (keyword `+tc.keyword+`)`)
		})
	}

	fixtures, _ := pageChangeFixtures(t)
	for p, b := range fixtures {
		want, wantErr := plain.Decode("t", b, now)
		got, err := checked.Decode("t", b, now)
		assert.Equal(t, wantErr, err, p)
		assert.Equal(t, want, got, p)
	}

	// Another wiki's events are dropped unvalidated.
	other := edited(t, func(ev map[string]any) {
		object(ev, "meta")["domain"] = "other.wiki.org"
		delete(ev, "wiki_id")
	})
	ev, err := checked.Decode("t", other, now)
	assert.NoError(t, err)
	assert.Nil(t, ev)
}

// BenchmarkValidatePageChange measures the schema validation of one
// page_change event (parse included) and, for scale, Decode with and
// without it.
func BenchmarkValidatePageChange(b *testing.B) {
	v, err := updater.NewValidator()
	require.NoError(b, err)
	event, err := os.ReadFile("testdata/events/item-edit.json")
	require.NoError(b, err)
	checked := wikidataFilter
	checked.Validator = v
	now := time.Unix(1e9, 0)
	perEvent := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("validate", func(b *testing.B) {
		b.SetBytes(int64(len(event)))
		for b.Loop() {
			if err := v.Validate(event); err != nil {
				b.Fatal(err)
			}
		}
		perEvent(b)
	})
	for _, tc := range []struct {
		name string
		f    updater.Filter
	}{{"decode", wikidataFilter}, {"decode+validate", checked}} {
		f := tc.f
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(event)))
			for b.Loop() {
				if ev, err := f.Decode("t", event, now); err != nil || ev == nil {
					b.Fatal(ev, err)
				}
			}
			perEvent(b)
		})
	}
}
