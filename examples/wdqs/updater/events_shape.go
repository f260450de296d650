package updater

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// ErrSchemaTopicMismatch is wrapped by the DecodeError of an event whose own
// schema ($schema, or the legacy meta.schema_uri) names another kind of
// event than its topic does: a producer wrote it to the wrong topic, or the
// topic list is wrong. The event is dead-lettered rather than read as
// either kind; fix the producer or -topics.
var ErrSchemaTopicMismatch = errors.New("event schema does not match its topic")

// The schemas an input event may name, by prefix, with the shape each
// gives. $schema is absolute ("/mediawiki/page/change/1.2.0"); the legacy
// meta.schema_uri has no leading slash ("mediawiki/revision/create/1").
var schemaShapes = []struct {
	prefix string
	sh     shape
}{
	{"mediawiki/page/change/", shapePageChange},
	{"rdf_streaming_updater/reconcile/", shapeReconcile},
	{"mediawiki/revision/create/", shapeRevisionCreate},
	{"mediawiki/page/delete/", shapePageDelete},
	{"mediawiki/page/undelete/", shapePageUndelete},
	{"mediawiki/page/properties-change/", shapePropertiesChange},
}

// The topics (streams, after the data-center prefix) of each shape.
var topicShapes = []struct {
	stream string
	sh     shape
}{
	{"mediawiki.page_change", shapePageChange},
	{"rdf-streaming-updater.reconcile", shapeReconcile},
	{"mediawiki.revision-create", shapeRevisionCreate},
	{"mediawiki.page-delete", shapePageDelete},
	{"mediawiki.page-undelete", shapePageUndelete},
	{"mediawiki.page-suppress", shapePageSuppress},
	{"mediawiki.page-properties-change", shapePropertiesChange},
}

func (s shape) String() string {
	switch s {
	case shapePageChange:
		return "page_change"
	case shapeReconcile:
		return "reconcile"
	case shapeRevisionCreate:
		return "revision-create"
	case shapePageDelete:
		return "page-delete"
	case shapePageUndelete:
		return "page-undelete"
	case shapePageSuppress:
		return "page-suppress"
	case shapePropertiesChange:
		return "page-properties-change"
	}
	return "unknown"
}

// schemaShape is the shape the event's own schema names: $schema first,
// else the legacy meta.schema_uri.
func schemaShape(ev *rawEvent) (shape, string) {
	for _, uri := range []string{ev.Schema, ev.Meta.SchemaURI} {
		if uri == "" {
			continue
		}
		u := strings.TrimPrefix(uri, "/")
		for _, s := range schemaShapes {
			if strings.HasPrefix(u, s.prefix) {
				return s.sh, uri
			}
		}
		return shapeUnknown, uri
	}
	return shapeUnknown, ""
}

// topicShape is the shape a topic name gives: its stream is the name, or the
// name after a data-center prefix ("eqiad."), optionally with a version
// suffix (".v1").
func topicShape(topic string) shape {
	for _, t := range topicShapes {
		i := strings.Index(topic, t.stream)
		if i < 0 || (i > 0 && topic[i-1] != '.') {
			continue
		}
		if rest := topic[i+len(t.stream):]; rest == "" || strings.HasPrefix(rest, ".") {
			return t.sh
		}
	}
	return shapeUnknown
}

// shapeOf tells the event's shape. The event's own schema wins over its
// topic: an event of a known schema on the topic of another kind is an
// ErrSchemaTopicMismatch (a page-delete event on the page-suppress topic is
// a suppression, as WDQS reads that topic with the page-delete schema). An
// event whose schema says nothing known is read by its record's topic, then
// by meta.topic, for the legacy and properties-change topics only: a
// page_change or reconcile event always names its schema.
func shapeOf(topic string, ev *rawEvent) (shape, error) {
	bySchema, uri := schemaShape(ev)
	byTopic := topicShape(topic)
	if bySchema == shapeUnknown {
		// page_change and reconcile events always name their schema: one
		// that does not is no such event, whatever its topic.
		for _, sh := range []shape{byTopic, topicShape(ev.Meta.Topic)} {
			if sh != shapePageChange && sh != shapeReconcile && sh != shapeUnknown {
				return sh, nil
			}
		}
		return shapeUnknown, nil
	}
	switch {
	case byTopic == shapeUnknown || byTopic == bySchema:
		return bySchema, nil
	case bySchema == shapePageDelete && byTopic == shapePageSuppress:
		return shapePageSuppress, nil
	}
	return shapeUnknown, fmt.Errorf("%w: the event's schema %q is a %s event, topic %q carries %s events",
		ErrSchemaTopicMismatch, uri, bySchema, topic, byTopic)
}

// DecodeRecord is Decode for a source record: its DecodeError also names
// the record's partition and offset.
func (f *Filter) DecodeRecord(rec *source.Record, now time.Time) (*InputEvent, error) {
	ev, _, err := f.decodeRecord(rec, now)
	return ev, err
}

func (f *Filter) decodeRecord(rec *source.Record, now time.Time) (*InputEvent, shape, error) {
	ev, sh, err := f.decode(rec.Topic, rec.Value, now)
	var de *DecodeError
	if errors.As(err, &de) {
		de.Partition, de.Offset, de.positioned = rec.Partition, rec.Offset, true
	}
	return ev, sh, err
}
