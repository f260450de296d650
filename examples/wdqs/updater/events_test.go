package updater_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

var wikidataFilter = updater.Filter{
	Hostname:             "test.wikidata.org",
	EntityNamespaces:     []int{0, 120, 146},
	ContentModels:        []string{"wikibase-item", "wikibase-property", "wikibase-lexeme"},
	ReconciliationSource: "wdqs_sideoutputs_reconcile@eqiad",
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestDecodePageChangeFixtures(t *testing.T) {
	now := mustTime("2024-10-04T16:00:00Z")
	tests := []struct {
		file   string
		action updater.Action
		item   string
		rev    int64
		parent int64
		dt     string
	}{
		{"item-create.json", updater.ActionRevisionCreate, "Q235989", 686138, 0, "2024-10-04T15:09:55Z"},
		{"item-edit.json", updater.ActionRevisionCreate, "Q235989", 686139, 686138, "2024-10-04T15:16:26Z"},
		{"item-delete.json", updater.ActionPageDelete, "Q235989", 686140, 0, "2024-10-04T15:26:14Z"},
		// A suppressed delete carries no content slots: it passes.
		{"item-page-suppress.json", updater.ActionPageDelete, "Q235989", 686140, 0, "2024-10-04T15:32:58Z"},
		{"item-undelete.json", updater.ActionPageUndelete, "Q235989", 686140, 0, "2024-10-04T15:27:28Z"},
		{"item-undelete-suppressed.json", updater.ActionPageUndelete, "Q235989", 686140, 0, "2024-10-04T15:37:46Z"},
		{"lexeme-create.json", updater.ActionRevisionCreate, "L4227", 686857, 0, "2024-10-08T07:35:59Z"},
		{"property-edit.json", updater.ActionRevisionCreate, "P115", 686147, 686146, "2024-10-04T16:36:56Z"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := fixture(t, "events/"+tt.file)
			ev, err := wikidataFilter.Decode("eqiad.mediawiki.page_change.v1", b, now)
			require.NoError(t, err)
			require.NotNil(t, ev)
			assert.Equal(t, tt.action, ev.Action)
			assert.Equal(t, tt.item, ev.Item)
			assert.Equal(t, tt.rev, ev.Revision)
			assert.Equal(t, tt.parent, ev.ParentRevision)
			assert.Equal(t, mustTime(tt.dt), ev.EventTime)
			assert.Equal(t, now, ev.IngestionTime)
			assert.Equal(t, "mediawiki.page_change.v1", ev.Original.Meta.Stream)
			assert.Equal(t, "/mediawiki/page/change/1.2.0", ev.Original.Schema)
			assert.NotEmpty(t, ev.Original.Meta.RequestID)
			// The source's event time is the same root dt.
			assert.Equal(t, ev.EventTime, updater.EventTime(&source.Record{Value: b}))
		})
	}
}

func TestDecodeFiltered(t *testing.T) {
	for _, file := range []string{
		"item-visibility-change.json", // page_change_kind not taken
		"non-item-create.json",        // namespace 2
		"edit-mediainfo-item.json",    // another wiki
		"reconcile-creation-unrelated-source.json",
	} {
		ev, err := wikidataFilter.Decode("t", fixture(t, "events/"+file), time.Now())
		require.NoError(t, err, file)
		assert.Nil(t, ev, file)
	}
	// A content model not in the list is dropped.
	f := wikidataFilter
	f.ContentModels = []string{"wikibase-item"}
	ev, err := f.Decode("t", fixture(t, "events/property-edit.json"), time.Now())
	require.NoError(t, err)
	assert.Nil(t, ev)
}

func TestDecodeMediaInfo(t *testing.T) {
	f := updater.Filter{Hostname: "commons.wikimedia.org", MediaInfoNamespaces: []int{6}}
	ev, err := f.Decode("t", fixture(t, "events/edit-mediainfo-item.json"), time.Now())
	require.NoError(t, err)
	require.NotNil(t, ev)
	assert.Equal(t, "M114491269", ev.Item)
	assert.Equal(t, int64(934984984), ev.Revision)
	ev, err = f.Decode("t", fixture(t, "events/move-mediainfo-item.json"), time.Now())
	require.NoError(t, err)
	require.NotNil(t, ev)
	assert.Equal(t, "M49988679", ev.Item)
	// A file page without a mediainfo slot is no entity.
	ev, err = f.Decode("t", fixture(t, "events/edit-non-mediainfo-item.json"), time.Now())
	require.NoError(t, err)
	assert.Nil(t, ev)
}

func TestDecodeLegacy(t *testing.T) {
	f := updater.Filter{Hostname: "acme.test", EntityNamespaces: []int{0}}
	ev, err := f.Decode("eqiad.mediawiki.revision-create", fixture(t, "events/create-event-full.json"), time.Now())
	require.NoError(t, err)
	require.NotNil(t, ev)
	assert.Equal(t, updater.ActionRevisionCreate, ev.Action)
	assert.Equal(t, "Q20672616", ev.Item)
	assert.Equal(t, int64(62295), ev.Revision)
	assert.Equal(t, int64(6299559), ev.ParentRevision)
	assert.Equal(t, mustTime("2018-01-21T16:38:20Z"), ev.EventTime)
	assert.Equal(t, "mediawiki.revision-create", ev.Original.Meta.Stream)

	ev, err = f.Decode("codfw.mediawiki.page-delete", fixture(t, "events/page-delete.json"), time.Now())
	require.NoError(t, err)
	assert.Equal(t, updater.ActionPageDelete, ev.Action)
	assert.Equal(t, "Q47462581", ev.Item)
	assert.Equal(t, int64(621830), ev.Revision)
	// page-suppress has the page-delete shape; the topic tells them apart.
	ev, err = f.Decode("eqiad.mediawiki.page-suppress", fixture(t, "events/page-delete.json"), time.Now())
	require.NoError(t, err)
	assert.Equal(t, updater.ActionPageDelete, ev.Action)
	ev, err = f.Decode("eqiad.mediawiki.page-undelete", fixture(t, "events/page-undelete.json"), time.Now())
	require.NoError(t, err)
	assert.Equal(t, updater.ActionPageUndelete, ev.Action)
	assert.Equal(t, "Q32451604", ev.Item)
}

func TestDecodeReconcile(t *testing.T) {
	b := fixture(t, "events/reconcile-creation.json")
	ev, err := wikidataFilter.Decode("eqiad.rdf-streaming-updater.reconcile", b, time.Now())
	require.NoError(t, err)
	require.NotNil(t, ev)
	assert.Equal(t, updater.ActionReconcileCreation, ev.Action)
	assert.Equal(t, "Q92474238", ev.Item)
	assert.Equal(t, int64(2257669841), ev.Revision)
	// No root dt: meta.dt is the event time.
	assert.Equal(t, mustTime("2024-10-08T01:29:46.634Z"), ev.EventTime)
	assert.Equal(t, "mediawiki.revision-create", ev.Original.Meta.Stream)
}

func TestDecodeErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":        `{"meta":`,
		"unknown shape":   `{"meta":{"domain":"test.wikidata.org","dt":"2024-10-04T15:09:55Z"}}`,
		"no time":         `{"$schema":"/mediawiki/page/change/1.2.0","meta":{"domain":"test.wikidata.org"},"page_change_kind":"edit","page":{"page_title":"Q1","namespace_id":0},"revision":{"rev_id":1}}`,
		"bad kind":        `{"$schema":"/mediawiki/page/change/1.2.0","dt":"2024-10-04T15:09:55Z","meta":{"domain":"test.wikidata.org"},"page_change_kind":"explode","page":{"page_title":"Q1","namespace_id":0},"revision":{"rev_id":1}}`,
		"no revision":     `{"$schema":"/mediawiki/page/change/1.2.0","dt":"2024-10-04T15:09:55Z","meta":{"domain":"test.wikidata.org"},"page_change_kind":"edit","page":{"page_title":"Q1","namespace_id":0},"revision":{"content_slots":{"main":{"content_model":"wikibase-item"}}}}`,
		"reconcile 0 rev": `{"$schema":"/rdf_streaming_updater/reconcile/1.0.0","meta":{"domain":"test.wikidata.org","dt":"2024-10-04T15:09:55Z"},"item":"Q1","revision_id":0,"reconciliation_source":"wdqs_sideoutputs_reconcile@eqiad","reconciliation_action":"CREATION"}`,
	} {
		ev, err := wikidataFilter.Decode("t", []byte(in), time.Now())
		var de *updater.DecodeError
		require.ErrorAs(t, err, &de, name)
		assert.Nil(t, ev, name)
		assert.Contains(t, err.Error(), "updater: cannot decode event from t", name)
	}
}

// A record is one event: bytes after its JSON object, and bytes that are
// not UTF-8, are refused with where they are, never dropped or repaired.
func TestDecodeRefusesTrailingDataAndInvalidUTF8(t *testing.T) {
	good := string(fixture(t, "events/item-edit.json"))
	_, err := wikidataFilter.Decode("t", []byte(good), time.Now())
	require.NoError(t, err)

	_, err = wikidataFilter.Decode("t", []byte(good+"\n  \n"), time.Now())
	require.NoError(t, err, "trailing white space is fine")

	_, err = wikidataFilter.Decode("t", []byte(good+` {"another":"event"}`), time.Now())
	var de *updater.DecodeError
	require.ErrorAs(t, err, &de)
	assert.ErrorContains(t, err, "trailing data after the event's JSON object at byte")

	bad := []byte(good)
	i := strings.Index(good, `"page_title":"`) + len(`"page_title":"`)
	bad[i] = 0xff
	line := 1 + strings.Count(good[:i], "\n")
	col := i - strings.LastIndex(good[:i], "\n")
	_, err = wikidataFilter.Decode("t", bad, time.Now())
	require.ErrorAs(t, err, &de)
	assert.ErrorContains(t, err, fmt.Sprintf("invalid UTF-8 at line %d, column %d (byte %d: 0xff)", line, col, i))
}
