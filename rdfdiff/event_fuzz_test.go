package rdfdiff

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeEvent checks that DecodeEvent never panics, that what it accepts
// re-encodes and decodes to the same thing (decode → encode → decode is
// stable), and that a Reassembler fed the decoded message never panics and
// fails only with the package's typed errors.
func FuzzDecodeEvent(f *testing.F) {
	for _, name := range eventFixtureNames(f) {
		f.Add(readEventFixture(f, name))
	}
	f.Add([]byte(`{"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0","meta":{"stream":"s","x":[1,{"y":null}]},` +
		`"entity_id":"Q1","rev_id":1.0,"dt":"2020-06-10T18:56:15.5+02:00","sequence":1,"sequence_length":3,"operation":"diff",` +
		`"rdf_deleted_data":{"mime_type":"text/turtle","data":"@prefix a: <http://a/> . a:b a:c \"\\u00e9\"@en , 1.5e3 ."}}`))
	f.Add([]byte(`{"$schema":"/wikibase/rdf/update_stream/1.0.0","meta":{"stream":"s"},"entity":"Q1","revision":0,` +
		`"event_time":"2020-06-10T18:56:15Z","sequence":0,"sequence_length":1,"operation":"reconcile",` +
		`"rdf_added_data":{"data":"<a:b> <a:c> [ <a:d> ( 1 2 ) ] .","mime_type":"text/turtle"}}`))
	f.Add([]byte(`{"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0","$schema":"x"}`))
	f.Add([]byte(`[]`))

	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			if ev != nil {
				t.Fatal("an event and an error")
			}
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("error does not wrap ErrInvalidEvent: %v", err)
			}
			var ee *EventError
			if !errors.As(err, &ee) {
				t.Fatalf("error is %T, not *EventError", err)
			}
			return
		}
		enc, err := ev.MarshalJSON()
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		ev2, err := DecodeEvent(enc)
		if err != nil {
			t.Fatalf("encoded event does not decode: %v\n%s", err, enc)
		}
		enc2, err := ev2.MarshalJSON()
		if err != nil {
			t.Fatalf("second encode: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable encoding:\n%s\n%s", enc, enc2)
		}
		if !ev.EventTime.Equal(ev2.EventTime) || !ev.Meta.DT.Equal(ev2.Meta.DT) ||
			ev.EntityID != ev2.EntityID || ev.Revision != ev2.Revision || ev.Operation != ev2.Operation ||
			ev.Sequence != ev2.Sequence || ev.SequenceLength != ev2.SequenceLength || ev.Schema != ev2.Schema {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, ev2)
		}

		r := NewReassembler()
		c, err := r.Add(ev, 1)
		switch {
		case err != nil:
			if !errors.Is(err, ErrBrokenChunkSequence) {
				t.Fatalf("reassembly error does not wrap ErrBrokenChunkSequence: %v", err)
			}
		case ev.Sequence == 0 && ev.SequenceLength == 1:
			if c == nil {
				t.Fatal("a single-message event did not complete")
			}
		case c != nil:
			t.Fatal("a partial event completed")
		}
	})
}

// FuzzJSONReader checks the event decoder's JSON reader against
// encoding/json: it accepts exactly the valid documents (up to its nesting
// limit) and decodes strings to the same values.
func FuzzJSONReader(f *testing.F) {
	for _, name := range eventFixtureNames(f) {
		f.Add(readEventFixture(f, name))
	}
	for _, s := range []string{`"\ud83d\ude00 \ud83d x \u00e9\/"`, `[1,-0.5e+3,true,null,{}]`, `{"a":"\u0000"}`, "\"\xff\"", `01`, `1.`, `{"a" 1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseJSON(data)
		if bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) >= maxJSONDepth {
			return // encoding/json allows deeper nesting
		}
		if !utf8.Valid(data) {
			// Stricter than encoding/json on purpose: never repaired.
			if err == nil {
				t.Fatalf("parseJSON accepted invalid UTF-8 %q", data)
			}
			return
		}
		if valid := json.Valid(data); valid != (err == nil) {
			t.Fatalf("json.Valid %v, parseJSON error %v", valid, err)
		}
		if err != nil || v.kind != "string" {
			return
		}
		var want string
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if v.str != want {
			t.Fatalf("decoded %q, encoding/json %q", v.str, want)
		}
	})
}
