package updater

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Action is what an input event asks for, named as in the side-output
// streams' action_type.
type Action string

// The input actions (InputEvent.scala).
const (
	ActionRevisionCreate    Action = "revision-create"
	ActionPageDelete        Action = "page-delete"
	ActionPageUndelete      Action = "page-undelete"
	ActionReconcileCreation Action = "reconcile-creation"
	ActionReconcileDeletion Action = "reconcile-deletion"
)

// isReconcile reports whether a is one of the reconcile actions.
func (a Action) isReconcile() bool {
	return a == ActionReconcileCreation || a == ActionReconcileDeletion
}

// The $schema of the input events the updater reads.
const (
	schemaPageChangePrefix = "/mediawiki/page/change/"
	schemaReconcilePrefix  = "/rdf_streaming_updater/reconcile/"
)

// OriginalEventInfo is the provenance of an input event, copied into every
// side-output event (original_event_info) and into the request ID of the
// rdf_change events it causes.
type OriginalEventInfo struct {
	DT     time.Time `msgpack:"dt" json:"dt"`
	Schema string    `msgpack:"s" json:"$schema,omitempty"`
	Meta   EventMeta `msgpack:"m" json:"meta"`
}

// EventMeta is the meta object of an input event.
type EventMeta struct {
	ID        string    `msgpack:"id" json:"id,omitempty"`
	DT        time.Time `msgpack:"dt" json:"dt"`
	Stream    string    `msgpack:"st" json:"stream,omitempty"`
	RequestID string    `msgpack:"r" json:"request_id,omitempty"`
	Domain    string    `msgpack:"d" json:"domain,omitempty"`
}

// InputEvent is an input event reduced to what the decision table needs
// (InputEvent.scala): it is what the re-order buffer keeps in checkpointed
// state, so its fields are short in msgpack.
type InputEvent struct {
	Action Action `msgpack:"a"`
	// Item is the entity ID ("Q42", "L1", "P31", "M123").
	Item string `msgpack:"i"`
	// EventTime is the MediaWiki event time (root dt, else meta.dt).
	EventTime time.Time `msgpack:"t"`
	// Revision is the revision the event is about (for a delete, the
	// latest revision at deletion); ParentRevision its parent, 0 for none.
	Revision       int64 `msgpack:"r"`
	ParentRevision int64 `msgpack:"p,omitempty"`
	// IngestionTime is when the updater read the event.
	IngestionTime time.Time         `msgpack:"n"`
	Original      OriginalEventInfo `msgpack:"o"`
}

// Filter is the WDQS updater's input filter (the Filters of
// IncomingEventStreams.scala): which wiki, namespaces, content models and
// reconciliation source the updater takes.
type Filter struct {
	// Hostname is the wiki's domain (meta.domain), e.g. www.wikidata.org.
	// Required.
	Hostname string
	// EntityNamespaces are the Wikibase entity namespaces (Wikidata: 0
	// items, 120 properties, 146 lexemes).
	EntityNamespaces []int
	// MediaInfoNamespaces are the namespaces whose pages carry a mediainfo
	// slot (Commons: 6); their entity ID is "M" + page ID.
	MediaInfoNamespaces []int
	// ContentModels are the main-slot content models a page_change event
	// must have (production: wikibase-item, wikibase-property,
	// wikibase-lexeme).
	ContentModels []string
	// ReconciliationSource is the reconciliation_source a reconcile event
	// must carry (e.g. wdqs_sideoutputs_reconcile@eqiad); empty drops every
	// reconcile event.
	ReconciliationSource string
	// MediaInfoSlot is the MCR slot role of MediaInfo content (default
	// "mediainfo").
	MediaInfoSlot string
	// Validator, when set, validates every page_change event of the wiki
	// against the schema its $schema names before the event is read: one
	// that does not match (or names a schema the Validator does not have)
	// is a DecodeError wrapping a *SchemaError, which names the failing
	// value's JSON pointer and keyword. Events of other wikis are dropped
	// unvalidated. Nil validates nothing (Config.ValidateInput sets it).
	Validator *Validator
}

// DecodeError is an input record the updater cannot read: it is
// dead-lettered with the stage "decode". Partition and Offset are set when
// the record was decoded with DecodeRecord (the processor does).
type DecodeError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error

	positioned bool
}

// Error implements error.
func (e *DecodeError) Error() string {
	if e.positioned {
		return fmt.Sprintf("updater: cannot decode event from %s partition %d offset %d: %v", e.Topic, e.Partition, e.Offset, e.Err)
	}
	return fmt.Sprintf("updater: cannot decode event from %s: %v", e.Topic, e.Err)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// errNoTime is the cause of a DecodeError for an event without a usable time.
var errNoTime = errors.New("no event time (dt or meta.dt)")

// rawMeta is the meta object as it arrives.
type rawMeta struct {
	ID        string `json:"id"`
	DT        string `json:"dt"`
	Stream    string `json:"stream"`
	Topic     string `json:"topic"`
	RequestID string `json:"request_id"`
	Domain    string `json:"domain"`
	SchemaURI string `json:"schema_uri"`
}

type rawSlot struct {
	ContentModel string `json:"content_model"`
}

// rawEvent holds the fields of every input shape the updater reads:
// mediawiki.page_change.v1, the legacy revision-create, page-delete,
// page-undelete and page-suppress events, and reconcile events.
type rawEvent struct {
	Schema string  `json:"$schema"`
	Meta   rawMeta `json:"meta"`
	DT     string  `json:"dt"`

	// page_change
	PageChangeKind string `json:"page_change_kind"`
	Page           *struct {
		PageID      int64  `json:"page_id"`
		PageTitle   string `json:"page_title"`
		NamespaceID *int   `json:"namespace_id"`
	} `json:"page"`
	Revision *struct {
		RevID        int64              `json:"rev_id"`
		RevParentID  int64              `json:"rev_parent_id"`
		ContentSlots map[string]rawSlot `json:"content_slots"`
	} `json:"revision"`

	// legacy
	PageIDLegacy    int64                     `json:"page_id"`
	PageTitleLegacy string                    `json:"page_title"`
	PageNamespace   *int                      `json:"page_namespace"`
	RevIDLegacy     int64                     `json:"rev_id"`
	RevParentLegacy int64                     `json:"rev_parent_id"`
	RevSlots        map[string]map[string]any `json:"rev_slots"`

	// reconcile
	Item                 string             `json:"item"`
	RevisionID           int64              `json:"revision_id"`
	ReconciliationSource string             `json:"reconciliation_source"`
	ReconciliationAction string             `json:"reconciliation_action"`
	OriginalEventInfo    *OriginalEventInfo `json:"original_event_info"`
}

// shape is the kind of input event a record holds.
type shape int

const (
	shapeUnknown shape = iota
	shapePageChange
	shapeReconcile
	shapeRevisionCreate
	shapePageDelete
	shapePageUndelete
	shapePageSuppress
	shapePropertiesChange
)

// parseTime parses the event-platform date-times (RFC 3339, with or without
// fractional seconds).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// errTrailingData is wrapped by the DecodeError of a record with bytes after
// its JSON object: a record is one event, and anything after it was not
// meant to be dropped silently.
var errTrailingData = errors.New("trailing data")

// errInvalidUTF8 is wrapped by the DecodeError of a record that is not valid
// UTF-8.
var errInvalidUTF8 = errors.New("invalid UTF-8")

// checkUTF8 returns an error naming the line, column and byte offset of the
// first byte of b that is not valid UTF-8.
func checkUTF8(b []byte) error {
	if utf8.Valid(b) {
		return nil
	}
	line, col := 1, 1
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Errorf("%w at line %d, column %d (byte %d: 0x%02x)", errInvalidUTF8, line, col, i, b[i])
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return nil
}

// EventTime is the source's event-time extractor: the root dt of page_change
// and reconcile events, else meta.dt. A record it cannot read gets the zero
// time, which does not move the watermark; Decode then dead-letters it.
func EventTime(r *source.Record) time.Time {
	var ev struct {
		DT   string `json:"dt"`
		Meta struct {
			DT string `json:"dt"`
		} `json:"meta"`
	}
	if json.Unmarshal(r.Value, &ev) != nil {
		return time.Time{}
	}
	for _, s := range []string{ev.DT, ev.Meta.DT} {
		if t, err := parseTime(s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// Decode reads one input record. It returns nil, nil for an event the
// filter drops (another wiki, namespace or content model, a
// visibility_change, a reconcile event of another source), and a
// *DecodeError for a record that is not a valid event of a known shape.
func (f *Filter) Decode(topic string, value []byte, now time.Time) (*InputEvent, error) {
	ev, _, err := f.decode(topic, value, now)
	return ev, err
}

// decode is Decode that also returns the shape of the event (shapeUnknown
// when it was not read that far).
func (f *Filter) decode(topic string, value []byte, now time.Time) (*InputEvent, shape, error) {
	var sh shape
	ev, err := f.decodeEvent(topic, value, now, &sh)
	return ev, sh, err
}

func (f *Filter) decodeEvent(topic string, value []byte, now time.Time, shOut *shape) (*InputEvent, error) {
	var raw rawEvent
	if err := checkUTF8(value); err != nil {
		// encoding/json would replace the bad bytes with U+FFFD and the
		// updater would store the replacement: refuse instead.
		return nil, &DecodeError{Topic: topic, Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&raw); err != nil {
		if f.Validator != nil {
			// A value of the wrong type: the schema names where and why.
			var se *SchemaError
			if errors.As(f.Validator.Validate(value), &se) {
				err = se
			}
		}
		return nil, &DecodeError{Topic: topic, Err: err}
	}
	if end := dec.InputOffset(); len(bytes.TrimSpace(value[end:])) > 0 {
		return nil, &DecodeError{Topic: topic, Err: fmt.Errorf("%w: trailing data after the event's JSON object at byte %d", errTrailingData, end)}
	}
	fail := func(format string, args ...any) (*InputEvent, error) {
		return nil, &DecodeError{Topic: topic, Err: fmt.Errorf(format, args...)}
	}
	sh, err := shapeOf(topic, &raw)
	if err != nil {
		return fail("%w", err)
	}
	*shOut = sh
	if sh == shapeUnknown {
		return fail("unknown event shape ($schema %q, meta.schema_uri %q)", raw.Schema, raw.Meta.SchemaURI)
	}
	if raw.Meta.Domain != f.Hostname || sh == shapePropertiesChange {
		// Page-property changes (mediawiki/page/properties-change) do not
		// change an entity's RDF: recognised, counted, dropped.
		return nil, nil
	}
	if sh == shapePageChange && f.Validator != nil {
		if err := f.Validator.Validate(value); err != nil {
			return nil, &DecodeError{Topic: topic, Err: err}
		}
	}
	ev := &InputEvent{IngestionTime: now.UTC()}
	metaDT, _ := parseTime(raw.Meta.DT)
	ev.Original = OriginalEventInfo{DT: metaDT, Schema: raw.Schema, Meta: EventMeta{
		ID: raw.Meta.ID, DT: metaDT, Stream: raw.Meta.Stream, RequestID: raw.Meta.RequestID, Domain: raw.Meta.Domain,
	}}
	if ev.Original.Meta.Stream == "" {
		ev.Original.Meta.Stream = raw.Meta.Topic
	}
	if ev.Original.Schema == "" {
		ev.Original.Schema = raw.Meta.SchemaURI
	}
	ev.EventTime = metaDT
	if t, err := parseTime(raw.DT); err == nil {
		ev.EventTime = t
		ev.Original.DT = t
	}
	if ev.EventTime.IsZero() {
		return fail("%w", errNoTime)
	}

	switch sh {
	case shapeReconcile:
		if f.ReconciliationSource == "" || raw.ReconciliationSource != f.ReconciliationSource {
			return nil, nil
		}
		switch raw.ReconciliationAction {
		case "CREATION":
			ev.Action = ActionReconcileCreation
		case "DELETION":
			ev.Action = ActionReconcileDeletion
		default:
			return fail("reconcile event: unknown reconciliation_action %q", raw.ReconciliationAction)
		}
		if raw.Item == "" {
			return fail("reconcile event without item")
		}
		if raw.RevisionID < 0 || raw.RevisionID == 0 && ev.Action == ActionReconcileCreation {
			return fail("reconcile event: invalid revision_id %d for %s", raw.RevisionID, raw.ReconciliationAction)
		}
		ev.Item, ev.Revision = raw.Item, raw.RevisionID
		if oi := raw.OriginalEventInfo; oi != nil {
			ev.Original = *oi
		}
		return ev, nil

	case shapePageChange:
		if raw.Page == nil || raw.Page.NamespaceID == nil || raw.Revision == nil {
			return fail("page_change event without page, page.namespace_id or revision")
		}
		switch raw.PageChangeKind {
		case "create", "edit", "move":
			ev.Action = ActionRevisionCreate
		case "undelete":
			ev.Action = ActionPageUndelete
		case "delete":
			ev.Action = ActionPageDelete
		case "visibility_change":
			return nil, nil
		default:
			return fail("page_change event: unknown page_change_kind %q", raw.PageChangeKind)
		}
		ns := *raw.Page.NamespaceID
		item, ok, err := f.item(ns, raw.Page.PageID, raw.Page.PageTitle)
		if err != nil {
			return fail("%w", err)
		} else if !ok {
			return nil, nil
		}
		// Content model: deletes pass (suppressed ones carry no slots).
		if ev.Action != ActionPageDelete {
			slots := raw.Revision.ContentSlots
			_, mediainfo := slots[f.mediaInfoSlot()]
			main := slots["main"].ContentModel
			if !(slices.Contains(f.MediaInfoNamespaces, ns) && mediainfo) && !slices.Contains(f.ContentModels, main) {
				return nil, nil
			}
		}
		ev.Item, ev.Revision = item, raw.Revision.RevID
		if ev.Action == ActionRevisionCreate {
			ev.ParentRevision = raw.Revision.RevParentID
		}

	default: // legacy
		if raw.PageNamespace == nil {
			return fail("legacy event without page_namespace")
		}
		ns := *raw.PageNamespace
		item, ok, err := f.item(ns, raw.PageIDLegacy, raw.PageTitleLegacy)
		if err != nil {
			return fail("%w", err)
		} else if !ok {
			return nil, nil
		}
		switch sh {
		case shapeRevisionCreate:
			if slices.Contains(f.MediaInfoNamespaces, ns) {
				if _, ok := raw.RevSlots[f.mediaInfoSlot()]; !ok {
					return nil, nil
				}
			}
			ev.Action, ev.ParentRevision = ActionRevisionCreate, raw.RevParentLegacy
		case shapePageUndelete:
			ev.Action = ActionPageUndelete
		default:
			ev.Action = ActionPageDelete
		}
		ev.Item, ev.Revision = item, raw.RevIDLegacy
	}
	if ev.Revision <= 0 {
		return fail("event for %s without a revision", ev.Item)
	}
	return ev, nil
}

func (f *Filter) mediaInfoSlot() string {
	if f.MediaInfoSlot == "" {
		return "mediainfo"
	}
	return f.MediaInfoSlot
}

// item returns the entity ID of a page: "M" + page ID in a MediaInfo
// namespace, else the page title without its namespace prefix
// (cleanEntityId: "Property:P31" is P31). ok is false for a namespace the
// updater does not take.
func (f *Filter) item(ns int, pageID int64, title string) (string, bool, error) {
	if slices.Contains(f.MediaInfoNamespaces, ns) {
		if pageID <= 0 {
			return "", false, errors.New("MediaInfo page without page_id")
		}
		return "M" + strconv.FormatInt(pageID, 10), true, nil
	}
	if !slices.Contains(f.EntityNamespaces, ns) {
		return "", false, nil
	}
	if i := strings.LastIndexByte(title, ':'); i >= 0 {
		title = title[i+1:]
	}
	if title == "" {
		return "", false, errors.New("entity page without page_title")
	}
	return title, true, nil
}
