package updater_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// A page-properties-change event (here the properties Wikibase set on the
// page of the real edit in item-edit.json, in the shape of
// /mediawiki/page/properties-change/1.0.0) is recognised on its own topic
// and dropped, never dead-lettered as an unknown shape: page properties are
// not part of an entity's RDF.
func TestDecodePropertiesChangeIsFiltered(t *testing.T) {
	ev := fixture(t, "events/page-properties-change.json")
	for _, topic := range []string{"eqiad.mediawiki.page-properties-change", "mediawiki.page-properties-change", "t"} {
		got, err := wikidataFilter.Decode(topic, ev, time.Now())
		require.NoError(t, err, topic)
		assert.Nil(t, got, topic)
	}
	// Without $schema, the legacy meta.schema_uri says the same.
	legacy := strings.Replace(string(ev), `"$schema":"/mediawiki/page/properties-change/1.0.0"`, `"meta_unused":1`, 1)
	legacy = strings.Replace(legacy, `"meta":{`, `"meta":{"schema_uri":"mediawiki/page/properties-change/1",`, 1)
	got, err := wikidataFilter.Decode("eqiad.mediawiki.page-properties-change", []byte(legacy), time.Now())
	require.NoError(t, err)
	assert.Nil(t, got)
	// And with neither, the topic.
	bare := strings.Replace(string(ev), `"$schema":"/mediawiki/page/properties-change/1.0.0"`, `"meta_unused":1`, 1)
	got, err = wikidataFilter.Decode("codfw.mediawiki.page-properties-change", []byte(bare), time.Now())
	require.NoError(t, err)
	assert.Nil(t, got)
	_, err = wikidataFilter.Decode("t", []byte(bare), time.Now())
	require.Error(t, err, "no schema and no known topic: an unknown shape")
	assert.Contains(t, err.Error(), "unknown event shape")
}

// The event's own schema wins over the topic's name; when both are known
// and disagree the record is refused with where it is and both names.
func TestDecodeSchemaWinsOverTopic(t *testing.T) {
	edit := fixture(t, "events/item-edit.json")
	// A page_change event on a page_change topic, or on one the decoder
	// does not know, is read by its $schema.
	for _, topic := range []string{"eqiad.mediawiki.page_change.v1", "my-own-topic"} {
		got, err := wikidataFilter.DecodeRecord(&source.Record{Topic: topic, Value: edit}, time.Now())
		require.NoError(t, err, topic)
		require.NotNil(t, got, topic)
		assert.Equal(t, "Q235989", got.Item)
	}
	// On the revision-create topic (legacy shape), it used to be read as a
	// legacy event (no page_namespace); now the mismatch is named.
	rec := &source.Record{Topic: "eqiad.mediawiki.revision-create", Partition: 3, Offset: 1234, Value: edit}
	got, err := wikidataFilter.DecodeRecord(rec, time.Now())
	assert.Nil(t, got)
	require.ErrorIs(t, err, updater.ErrSchemaTopicMismatch)
	var de *updater.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, int32(3), de.Partition)
	assert.Equal(t, int64(1234), de.Offset)
	assert.Equal(t, `updater: cannot decode event from eqiad.mediawiki.revision-create partition 3 offset 1234: `+
		`event schema does not match its topic: the event's schema "/mediawiki/page/change/1.2.0" is a page_change event, `+
		`topic "eqiad.mediawiki.revision-create" carries revision-create events`, err.Error())

	// A properties-change event on the page_change topic is not filtered
	// silently either.
	_, err = wikidataFilter.DecodeRecord(&source.Record{Topic: "eqiad.mediawiki.page_change.v1", Value: fixture(t, "events/page-properties-change.json")}, time.Now())
	require.ErrorIs(t, err, updater.ErrSchemaTopicMismatch)
	assert.Contains(t, err.Error(), `"/mediawiki/page/properties-change/1.0.0" is a page-properties-change event`)

	// The legacy page-suppress topic carries page-delete events: no
	// mismatch. A legacy undelete (meta.schema_uri) on the delete topic is
	// one, and is not read as a delete.
	acme := updater.Filter{Hostname: "acme.test", EntityNamespaces: []int{0}}
	got, err = acme.Decode("eqiad.mediawiki.page-suppress", fixture(t, "events/page-delete.json"), time.Now())
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, updater.ActionPageDelete, got.Action)
	_, err = acme.Decode("eqiad.mediawiki.page-delete", fixture(t, "events/page-undelete.json"), time.Now())
	require.ErrorIs(t, err, updater.ErrSchemaTopicMismatch)
	assert.Contains(t, err.Error(), "is a page-undelete event")
}
