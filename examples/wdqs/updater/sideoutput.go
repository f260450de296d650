package updater

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// The schemas of the side-output streams.
const (
	SchemaLapsedAction       = "/rdf_streaming_updater/lapsed_action/1.1.0"
	SchemaStateInconsistency = "/rdf_streaming_updater/state_inconsistency/1.1.0"
	SchemaFetchFailure       = "/rdf_streaming_updater/fetch_failure/1.2.0"
)

// The side-output streams' names (meta.stream; the topics are configured).
const (
	StreamLapsedAction       = "rdf-streaming-updater.lapsed-action"
	StreamStateInconsistency = "rdf-streaming-updater.state-inconsistency"
	StreamFetchFailure       = "rdf-streaming-updater.fetch-failure"
)

// SideOutputMeta is the meta object of a side-output event.
type SideOutputMeta struct {
	DT        time.Time `json:"dt"`
	ID        string    `json:"id"`
	Domain    string    `json:"domain,omitempty"`
	Stream    string    `json:"stream"`
	RequestID string    `json:"request_id,omitempty"`
}

// SideOutputEvent is one event of the three side outputs, with the fields
// of WDQS's JsonEncoders.scala: the common ones, then those of
// lapsed_action (ActionType, ParentRevisionID), state_inconsistency
// (Inconsistency, StateRevisionID, StateStatus) or fetch_failure (OpType,
// FromRevisionID, ExceptionType, ExceptionMsg, FetchErrorType). The
// reconciliation batch turns them into reconcile events.
type SideOutputEvent struct {
	Schema              string            `json:"$schema"`
	Meta                SideOutputMeta    `json:"meta"`
	EmitterID           string            `json:"emitter_id,omitempty"`
	Item                string            `json:"item"`
	DT                  time.Time         `json:"dt"`
	OriginalIngestionDT time.Time         `json:"original_ingestion_dt"`
	RevisionID          int64             `json:"revision_id"`
	OriginalEventInfo   OriginalEventInfo `json:"original_event_info"`

	ActionType       Action `json:"action_type,omitempty"`
	ParentRevisionID int64  `json:"parent_revision_id,omitempty"`

	Inconsistency   string       `json:"inconsistency,omitempty"`
	StateRevisionID int64        `json:"state_revision_id,omitempty"`
	StateStatus     EntityStatus `json:"state_status,omitempty"`

	OpType         string         `json:"op_type,omitempty"`
	FromRevisionID int64          `json:"from_revision_id,omitempty"`
	ExceptionType  string         `json:"exception_type,omitempty"`
	ExceptionMsg   string         `json:"exception_msg,omitempty"`
	FetchErrorType FetchErrorType `json:"fetch_error_type,omitempty"`
}

// newSideOutput fills the fields common to the three side outputs.
func (p *Processor) newSideOutput(schema, stream string, ev *InputEvent) *SideOutputEvent {
	now := p.cfg.now().UTC()
	return &SideOutputEvent{
		Schema: schema,
		Meta: SideOutputMeta{DT: now, ID: newUUID(), Domain: p.cfg.sideOutputsDomain(), Stream: stream,
			RequestID: ev.Original.Meta.RequestID},
		EmitterID:           p.cfg.EmitterID,
		Item:                ev.Item,
		DT:                  now,
		OriginalIngestionDT: ev.IngestionTime,
		RevisionID:          ev.Revision,
		OriginalEventInfo:   ev.Original,
	}
}

// lapsed is the lapsed_action event of a late event.
func (p *Processor) lapsed(ev *InputEvent) *SideOutputEvent {
	e := p.newSideOutput(SchemaLapsedAction, StreamLapsedAction, ev)
	e.ActionType, e.ParentRevisionID = ev.Action, ev.ParentRevision
	return e
}

// inconsistency is the state_inconsistency event of an ignored event.
func (p *Processor) inconsistency(ev *InputEvent, st EntityState, why string) *SideOutputEvent {
	e := p.newSideOutput(SchemaStateInconsistency, StreamStateInconsistency, ev)
	e.ActionType, e.ParentRevisionID = ev.Action, ev.ParentRevision
	e.Inconsistency, e.StateStatus = why, st.Status()
	if st.Known {
		e.StateRevisionID = st.Revision
	}
	return e
}

// fetchFailure is the fetch_failure event of an operation whose RDF could
// not be fetched.
func (p *Processor) fetchFailure(ev *InputEvent, d Decision, err error) *SideOutputEvent {
	e := p.newSideOutput(SchemaFetchFailure, StreamFetchFailure, ev)
	e.RevisionID = d.Revision
	e.OpType = string(d.Op)
	e.FromRevisionID = d.FromRevision
	e.ExceptionMsg = err.Error()
	e.FetchErrorType = FetchUnknown
	var cause error = err
	if fe, ok := err.(*FetchError); ok {
		e.FetchErrorType = fe.Type
		if fe.Err != nil {
			cause = fe.Err
		}
	}
	e.ExceptionType = typeName(cause)
	return e
}

func typeName(err error) string {
	t := reflect.TypeOf(err)
	if t == nil {
		return ""
	}
	return t.String()
}

// marshal encodes a side-output event.
func (e *SideOutputEvent) marshal() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("updater: encode %s event: %w", e.Meta.Stream, err)
	}
	return b, nil
}

// newUUID returns a random (version 4) UUID, the meta.id of event-platform
// events.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
