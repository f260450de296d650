package rdfdiff

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// origin is the provenance the tests attach to messages.
type origin struct {
	offset int
}

func TestReassembleFixtures(t *testing.T) {
	for _, name := range eventFixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			ev := loadEventFixture(t, name)
			r := NewReassembler()
			c, err := r.Add(ev, origin{1})
			require.NoError(t, err)
			require.NotNil(t, c)
			assert.Equal(t, "Q123", c.EntityID)
			assert.Equal(t, int64(123), c.Revision)
			assert.Equal(t, ev.Operation, c.Operation)
			assert.Equal(t, "00000000-0000-0003-0000-000000000004", c.RequestID)
			assert.Equal(t, "unittest.local", c.Domain)
			assert.Equal(t, "rdf_stream", c.Stream)
			u := func(s string) Term { return NewIRI("uri:" + s) }
			abc, xyz := Triple{u("a"), u("b"), u("c")}, Triple{u("x"), u("y"), u("z")}
			var want Patch
			switch ev.Operation {
			case OpImport:
				want = Patch{Added: []Triple{abc}, LinkedShared: []Triple{xyz}}
			case OpDiff:
				want = Patch{
					Added: []Triple{abc}, Removed: []Triple{{u("del"), u("del"), u("del")}},
					LinkedShared: []Triple{xyz}, UnlinkedShared: []Triple{{u("unlinked"), u("unlinked"), u("unlinked")}},
				}
			case OpReconcile:
				want = Patch{Added: []Triple{abc, xyz}}
			}
			assert.Equal(t, want, c.Patch)
		})
	}
}

// sequence returns the chunks of a Q42 import split into n >= 4 messages.
func sequence(t *testing.T, requestID string) []*ChangeEvent {
	t.Helper()
	all := loadTurtle(t, q42Munged)
	c := testChange(OpImport, Patch{Added: all[:400], LinkedShared: all[400:800]})
	c.RequestID = requestID
	evs, err := ChunkChange(c, WithSoftMaxChars(8000), WithMeta(fixedMeta))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(evs), 4)
	return evs
}

// single returns a one-message event.
func single(t *testing.T, requestID string) *ChangeEvent {
	t.Helper()
	c := testChange(OpDiff, Patch{Added: []Triple{tr("s", "p", "o")}})
	c.EntityID, c.RequestID = "Q64", requestID
	evs, err := ChunkChange(c, WithMeta(fixedMeta))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	return evs[0]
}

// withEdit returns a copy of ev changed by f.
func withEdit(ev *ChangeEvent, f func(e *ChangeEvent)) *ChangeEvent {
	c := *ev
	f(&c)
	return &c
}

type step struct {
	ev *ChangeEvent
	// what the step must give
	complete bool
	errMsg   string // substring of ChunkSequenceError.Msg, "" for no error
	dropped  []int  // offsets in Dropped
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	r := NewReassembler()
	for i, s := range steps {
		c, err := r.Add(s.ev, origin{i})
		if s.complete {
			assert.NotNil(t, c, "step %d: want a change", i)
		} else {
			assert.Nil(t, c, "step %d: want no change", i)
		}
		if s.errMsg == "" {
			require.NoError(t, err, "step %d", i)
			continue
		}
		require.ErrorIs(t, err, ErrBrokenChunkSequence, "step %d", i)
		cse, ok := errors.AsType[*ChunkSequenceError](err)
		require.True(t, ok)
		assert.Contains(t, cse.Msg, s.errMsg, "step %d", i)
		assert.Equal(t, origin{i}, cse.Origin, "step %d", i)
		assert.Equal(t, s.ev.Sequence, cse.Sequence)
		assert.Equal(t, s.ev.EntityID, cse.EntityID)
		var dropped []int
		for _, d := range cse.Dropped {
			dropped = append(dropped, d.(origin).offset)
		}
		assert.Equal(t, s.dropped, dropped, "step %d dropped", i)
	}
}

func TestReassemblerBrokenSequences(t *testing.T) {
	a := sequence(t, "req-A")
	n := len(a)
	last := a[n-1]
	b := single(t, "req-B")
	require.Greater(t, n, 3)

	t.Run("complete", func(t *testing.T) {
		var steps []step
		for i, ev := range a {
			steps = append(steps, step{ev: ev, complete: i == n-1})
		}
		steps = append(steps, step{ev: b, complete: true})
		runSteps(t, steps)
	})
	t.Run("does not start at 0", func(t *testing.T) {
		steps := []step{{ev: a[1], errMsg: "sequence does not start at 0: chunk 1 arrived with no event in progress", dropped: []int{0}}}
		for i, ev := range a[2:] {
			steps = append(steps, step{ev: ev, errMsg: "chunk of an event that was already rejected", dropped: []int{i + 1}})
		}
		steps = append(steps, step{ev: b, complete: true})
		runSteps(t, steps)
	})
	// The WDQS consumer reassembles the run ending with sequence+1 ==
	// sequence_length: 0, 1, (2 lost), 3 … last would become a partial patch.
	t.Run("gap (the WDQS partial reassembly)", func(t *testing.T) {
		steps := []step{{ev: a[0]}, {ev: a[1]}, {ev: a[3], errMsg: "gap: expected chunk 2, got 3", dropped: []int{0, 1, 2}}}
		for i := 4; i < n; i++ {
			steps = append(steps, step{ev: a[i], errMsg: "already rejected", dropped: []int{len(steps)}})
		}
		runSteps(t, steps)
	})
	t.Run("last chunk only", func(t *testing.T) {
		runSteps(t, []step{{ev: last, errMsg: "does not start at 0", dropped: []int{0}}, {ev: b, complete: true}})
	})
	t.Run("duplicate", func(t *testing.T) {
		steps := []step{{ev: a[0]}, {ev: a[1]}, {ev: a[1], errMsg: "duplicate or out-of-order chunk: expected chunk 2, got 1", dropped: []int{0, 1, 2}}}
		for i := 2; i < n; i++ {
			steps = append(steps, step{ev: a[i], errMsg: "already rejected", dropped: []int{len(steps)}})
		}
		runSteps(t, steps)
	})
	mid := func(name string, f func(e *ChangeEvent), msg string) {
		t.Run(name, func(t *testing.T) {
			runSteps(t, []step{
				{ev: a[0]},
				{ev: withEdit(a[1], f), errMsg: msg, dropped: []int{0, 1}},
				{ev: a[2], errMsg: "does not start at 0", dropped: []int{2}},
				{ev: b, complete: true},
			})
		})
	}
	mid("sequence_length changes", func(e *ChangeEvent) { e.SequenceLength++ }, fmt.Sprintf("sequence_length changed from %d to %d in the middle of Q42", n, n+1))
	mid("request_id changes", func(e *ChangeEvent) { e.Meta.RequestID = "req-X" }, `meta.request_id changed from "req-A" to "req-X"`)
	mid("entity changes", func(e *ChangeEvent) { e.EntityID = "Q43" }, "entity changed from Q42 to Q43")
	mid("revision changes", func(e *ChangeEvent) { e.Revision++ }, "revision changed from 1276705620 to 1276705621")
	mid("operation changes", func(e *ChangeEvent) { e.Operation = OpDiff }, "operation changed from import to diff")
	mid("event time changes", func(e *ChangeEvent) { e.EventTime = e.EventTime.Add(1) }, "event time changed")
	mid("schema changes", func(e *ChangeEvent) { e.Schema = SchemaRDFChangeV1 }, "$schema changed")
	mid("stream changes", func(e *ChangeEvent) { e.Meta.Stream = "other" }, "meta.stream changed")

	t.Run("interleaved events", func(t *testing.T) {
		a2 := sequence(t, "req-A2")
		runSteps(t, []step{
			{ev: a[0]},
			{ev: a2[0], errMsg: `new event started after 1 of`, dropped: []int{0}},
			{ev: a[1], errMsg: `meta.request_id changed from "req-A2" to "req-A"`, dropped: []int{1, 2}},
		})
	})
	t.Run("new event before the previous finished", func(t *testing.T) {
		r := NewReassembler()
		_, err := r.Add(a[0], origin{0})
		require.NoError(t, err)
		_, err = r.Add(a[1], origin{1})
		require.NoError(t, err)
		c, err := r.Add(b, origin{2})
		require.NotNil(t, c, "the new single-message event is complete and returned")
		assert.Equal(t, "Q64", c.EntityID)
		require.ErrorIs(t, err, ErrBrokenChunkSequence)
		cse, _ := errors.AsType[*ChunkSequenceError](err)
		assert.Equal(t, []any{origin{0}, origin{1}}, cse.Dropped, "the abandoned partial event")
		assert.Contains(t, cse.Msg, fmt.Sprintf("new event started after 2 of %d chunks of Q42 rev 1276705620 (import, request_id \"req-A\"", n))

		// A new multi-chunk event abandons the old one and continues.
		_, err = r.Add(a[0], origin{3})
		require.NoError(t, err)
		c, err = r.Add(a[0], origin{4})
		assert.Nil(t, c)
		require.ErrorIs(t, err, ErrBrokenChunkSequence)
		assert.Equal(t, []any{origin{4}}, r.Pending())
	})
}

func TestReassemblerInvalidTurtle(t *testing.T) {
	a := sequence(t, "req-A")
	bad := withEdit(a[2], func(e *ChangeEvent) {
		e.Added = &RDFData{MIMEType: MIMETypeTurtle, Data: "\n<http://ex/s> <http://ex/p> \"unterminated .\n"}
		e.LinkedShared = nil
	})
	r := NewReassembler()
	for i := range 2 {
		_, err := r.Add(a[i], origin{i})
		require.NoError(t, err)
	}
	c, err := r.Add(bad, origin{2})
	assert.Nil(t, c)
	require.ErrorIs(t, err, ErrBrokenChunkSequence)
	se, ok := errors.AsType[*SyntaxError](err)
	require.True(t, ok, "the parser's SyntaxError is wrapped: %v", err)
	cse, _ := errors.AsType[*ChunkSequenceError](err)
	assert.Equal(t, 2, cse.Sequence)
	assert.Contains(t, cse.Msg, fmt.Sprintf("invalid Turtle in rdf_added_data at %d:%d", se.Line, se.Col))
	assert.Equal(t, 2, se.Line)
	assert.Equal(t, []any{origin{0}, origin{1}, origin{2}}, cse.Dropped)
	assert.Contains(t, err.Error(), "rdfdiff: broken chunk sequence: Q42 rev 1276705620 (import, request_id \"req-A\") chunk 2/")

	_, err = r.Add(a[3], origin{3})
	require.ErrorIs(t, err, ErrBrokenChunkSequence)
	assert.Contains(t, err.Error(), "already rejected")

	// Invalid Turtle in a single-message event.
	one := withEdit(single(t, "req-B"), func(e *ChangeEvent) {
		e.Added = &RDFData{MIMEType: MIMETypeTurtle, Data: "@prefix x: <http://ex/> .\nx:a x:b"}
	})
	r = NewReassembler()
	_, err = r.Add(one, origin{9})
	require.ErrorIs(t, err, ErrBrokenChunkSequence)
	_, ok = errors.AsType[*SyntaxError](err)
	assert.True(t, ok)
	assert.Nil(t, r.Pending())
}

func TestReassemblerRejectsInvalidEvents(t *testing.T) {
	a := sequence(t, "req-A")
	r := NewReassembler()
	_, err := r.Add(a[0], origin{0})
	require.NoError(t, err)
	_, err = r.Add(nil, origin{1})
	require.ErrorIs(t, err, ErrInvalidEvent)
	_, err = r.Add(withEdit(a[1], func(e *ChangeEvent) { e.Sequence = e.SequenceLength }), origin{2})
	require.ErrorIs(t, err, ErrInvalidEvent)
	assert.Equal(t, []any{origin{0}}, r.Pending(), "an invalid event changes nothing")
	_, err = r.Add(a[1], origin{3})
	require.NoError(t, err)
	assert.Equal(t, []any{origin{0}, origin{3}}, r.Reset())
	assert.Nil(t, r.Pending())
	_, err = r.Add(a[2], origin{4})
	require.ErrorIs(t, err, ErrBrokenChunkSequence, "after Reset the rest of the event is rejected")
}

// Every origin given to Add ends up in exactly one place: a returned change,
// an error's Dropped list, or Pending. Streams are real sequences with chunks
// randomly lost, duplicated, swapped and interleaved.
func TestReassemblerProvenanceProperty(t *testing.T) {
	seqs := [][]*ChangeEvent{sequence(t, "req-A"), sequence(t, "req-B"), {single(t, "req-C")}, {single(t, "req-D")}}
	expected := map[string]Patch{}
	for _, s := range seqs {
		r := NewReassembler()
		for i, ev := range s {
			c, err := r.Add(ev, i)
			require.NoError(t, err)
			if c != nil {
				expected[c.RequestID] = c.Patch
			}
		}
	}
	require.Len(t, expected, len(seqs))
	total, errorsSeen := 0, 0
	rng := rand.New(rand.NewPCG(7, 11))
	for iter := range 200 {
		var stream []*ChangeEvent
		for range 3 + rng.IntN(6) {
			s := seqs[rng.IntN(len(seqs))]
			for _, ev := range s {
				switch x := rng.IntN(40); {
				case x == 0: // lost
				case x == 1: // duplicated
					stream = append(stream, ev, ev)
				default:
					stream = append(stream, ev)
				}
			}
		}
		for range rng.IntN(3) { // swaps and interleavings
			if len(stream) > 1 {
				i := rng.IntN(len(stream) - 1)
				stream[i], stream[i+1] = stream[i+1], stream[i]
			}
		}
		seen := map[int]int{}
		r := NewReassembler()
		complete := 0
		for off, ev := range stream {
			inflight := r.Pending()
			c, err := r.Add(ev, off)
			if err != nil {
				errorsSeen++
				require.ErrorIs(t, err, ErrBrokenChunkSequence)
				cse, _ := errors.AsType[*ChunkSequenceError](err)
				for _, d := range cse.Dropped {
					seen[d.(int)]++
				}
			}
			if c != nil {
				complete++
				// The change is made of what was in flight and this message,
				// minus what an error dropped.
				got := append(inflight, off)
				if err != nil {
					got = []any{off}
				}
				for _, o := range got {
					seen[o.(int)]++
				}
				assert.Equal(t, expected[c.RequestID], c.Patch, "iteration %d: a returned change is always whole", iter)
			}
		}
		for _, o := range r.Pending() {
			seen[o.(int)]++
		}
		for off := range stream {
			assert.Equal(t, 1, seen[off], "iteration %d: origin %d accounted for %d times", iter, off, seen[off])
		}
		total += complete
	}
	assert.Greater(t, total, 200, "most events still get through")
	assert.Greater(t, errorsSeen, 50, "and the broken ones are reported")
	t.Logf("%d complete events, %d errors", total, errorsSeen)
}

// An abandoned partial event followed by a new event whose first chunk is
// broken: one error reports both, and drops all three messages.
func TestReassemblerAbandonedThenBrokenStart(t *testing.T) {
	a := sequence(t, "req-A")
	broken := withEdit(single(t, "req-B"), func(e *ChangeEvent) {
		e.Added = &RDFData{MIMEType: MIMETypeTurtle, Data: "<http://ex/s> <http://ex/p> ."}
	})
	r := NewReassembler()
	for i := range 2 {
		_, err := r.Add(a[i], origin{i})
		require.NoError(t, err)
	}
	c, err := r.Add(broken, origin{2})
	assert.Nil(t, c)
	require.ErrorIs(t, err, ErrBrokenChunkSequence)
	_, isSyntax := errors.AsType[*SyntaxError](err)
	assert.True(t, isSyntax)
	cse, _ := errors.AsType[*ChunkSequenceError](err)
	assert.Equal(t, []any{origin{0}, origin{1}, origin{2}}, cse.Dropped)
	assert.Contains(t, cse.Msg, "new event started after 2 of")
	assert.Contains(t, cse.Msg, "; then invalid Turtle in rdf_added_data at 1:")
	assert.Nil(t, r.Pending())
}
