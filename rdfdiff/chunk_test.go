package rdfdiff

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const q42Munged = "testdata/rdf-entities/munged/Q42-munged.ttl"

var eventTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// testChange returns a change with fixed identity and the given patch.
func testChange(op Operation, p Patch) EntityChange {
	return EntityChange{
		EntityID: "Q42", Revision: 1276705620, Operation: op, EventTime: eventTime,
		RequestID: "req-1", Domain: "www.wikidata.org", Stream: "rdf-streaming-updater.mutation",
		Patch: p,
	}
}

// fixedMeta gives deterministic meta.id and meta.dt.
func fixedMeta(seq int, m *EventMeta) {
	m.ID = fmt.Sprintf("id-%d", seq)
	m.DT = eventTime.Add(time.Duration(seq) * time.Millisecond)
}

func tr(s, p, o string) Triple {
	return Triple{iri("http://ex/" + s), iri("http://ex/" + p), iri("http://ex/" + o)}
}

func TestChunkChangeSingleMessage(t *testing.T) {
	p := Patch{
		Added:          []Triple{tr("a", "p", "o"), tr("a", "q", "o")},
		Removed:        []Triple{tr("a", "p", "old")},
		LinkedShared:   []Triple{tr("v", "p", "1")},
		UnlinkedShared: []Triple{tr("v", "p", "0")},
	}
	before := time.Now().UTC()
	evs, err := ChunkChange(testChange(OpDiff, p))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	ev := evs[0]
	assert.Equal(t, SchemaRDFChangeV2, ev.Schema)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), ev.Meta.ID)
	assert.False(t, ev.Meta.DT.Before(before), "meta.dt defaults to now")
	assert.Equal(t, "req-1", ev.Meta.RequestID)
	assert.Equal(t, "www.wikidata.org", ev.Meta.Domain)
	assert.Equal(t, "rdf-streaming-updater.mutation", ev.Meta.Stream)
	assert.Equal(t, "Q42", ev.EntityID)
	assert.Equal(t, int64(1276705620), ev.Revision)
	assert.Equal(t, eventTime, ev.EventTime)
	assert.Equal(t, OpDiff, ev.Operation)
	assert.Equal(t, 0, ev.Sequence)
	assert.Equal(t, 1, ev.SequenceLength)
	for b, ts := range [][]Triple{p.Added, p.Removed, p.LinkedShared, p.UnlinkedShared} {
		want, err := AppendTurtle(nil, ts)
		require.NoError(t, err)
		assert.Equal(t, &RDFData{MIMEType: MIMETypeTurtle, Data: string(want)}, *ev.data(eventBucket(b)))
	}
	assert.Equal(t, "\n<http://ex/a> <http://ex/p> <http://ex/o> ;\n\t<http://ex/q> <http://ex/o> .\n", ev.Added.Data)

	evs2, err := ChunkChange(testChange(OpDiff, p))
	require.NoError(t, err)
	assert.NotEqual(t, ev.Meta.ID, evs2[0].Meta.ID, "a new meta.id per message")
}

// A hand-computed layout: each statement "\n<http://ex/aN> <http://ex/p>
// <http://ex/o>" is 43 characters and a subject change adds " .\n".
func TestChunkChangeSoftLimitAndPacking(t *testing.T) {
	p := Patch{
		Added:   []Triple{tr("a1", "p", "o"), tr("a2", "p", "o"), tr("a3", "p", "o")},
		Removed: []Triple{tr("d1", "p", "o")},
	}
	evs, err := ChunkChange(testChange(OpDiff, p), WithSoftMaxChars(50), WithMeta(fixedMeta))
	require.NoError(t, err)
	require.Len(t, evs, 2)
	// Added: a1 (43 <= 50), a2 (92 > 50: chunk closed), a3 (end: chunk).
	// Deleted d1 cannot join message 0 (92 chars, not < 50), joins message 1 (46).
	assert.Equal(t, "\n<http://ex/a1> <http://ex/p> <http://ex/o> .\n\n<http://ex/a2> <http://ex/p> <http://ex/o> .\n", evs[0].Added.Data)
	assert.Nil(t, evs[0].Deleted)
	assert.Equal(t, "\n<http://ex/a3> <http://ex/p> <http://ex/o> .\n", evs[1].Added.Data)
	assert.Equal(t, "\n<http://ex/d1> <http://ex/p> <http://ex/o> .\n", evs[1].Deleted.Data)
	for i, ev := range evs {
		assert.Equal(t, i, ev.Sequence)
		assert.Equal(t, 2, ev.SequenceLength)
		assert.Equal(t, fmt.Sprintf("id-%d", i), ev.Meta.ID)
		assert.Equal(t, "req-1", ev.Meta.RequestID, "every chunk repeats the request ID")
	}

	// With a limit of 100 the first Added chunk (92) stays open for a3 and the
	// deleted chunk joins message 0 only while it is below 100: it is not.
	evs, err = ChunkChange(testChange(OpDiff, p), WithSoftMaxChars(100))
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, 3, strings.Count(evs[0].Added.Data, "<http://ex/a"))
	assert.Nil(t, evs[0].Deleted, "message 0 is 138 characters, not below 100")
	assert.Nil(t, evs[1].Added)
	assert.NotNil(t, evs[1].Deleted)
}

func TestChunkChangeOperations(t *testing.T) {
	some := Patch{Added: []Triple{tr("a", "p", "o")}}
	t.Run("delete is one message without data", func(t *testing.T) {
		evs, err := ChunkChange(testChange(OpDelete, Patch{}))
		require.NoError(t, err)
		require.Len(t, evs, 1)
		assert.Equal(t, OpDelete, evs[0].Operation)
		assert.Equal(t, 1, evs[0].SequenceLength)
		for b := range numBuckets {
			assert.Nil(t, *evs[0].data(b))
		}
	})
	for _, op := range []Operation{OpImport, OpDiff, OpReconcile} {
		t.Run("empty "+string(op)+" yields no message", func(t *testing.T) {
			evs, err := ChunkChange(testChange(op, Patch{}))
			require.NoError(t, err)
			assert.Empty(t, evs)
		})
	}
	tests := []struct {
		op    Operation
		p     Patch
		field string
	}{
		{OpDelete, some, "rdf_added_data"},
		{OpImport, Patch{Removed: some.Added}, "rdf_deleted_data"},
		{OpImport, Patch{UnlinkedShared: some.Added}, "rdf_unlinked_shared_data"},
		{OpReconcile, Patch{LinkedShared: some.Added}, "rdf_linked_shared_data"},
	}
	for _, tc := range tests {
		t.Run(string(tc.op)+" "+tc.field, func(t *testing.T) {
			_, err := ChunkChange(testChange(tc.op, tc.p))
			require.ErrorIs(t, err, ErrInvalidEvent)
			ee, ok := errors.AsType[*EventError](err)
			require.True(t, ok)
			assert.Equal(t, tc.field, ee.Field)
			assert.Contains(t, ee.Msg, "1 triples not allowed for operation "+string(tc.op))
		})
	}
	t.Run("invalid change", func(t *testing.T) {
		c := testChange(OpDiff, some)
		c.Operation = "upsert"
		_, err := ChunkChange(c)
		require.ErrorIs(t, err, ErrInvalidEvent)

		c = testChange(OpDiff, some)
		c.Stream = ""
		_, err = ChunkChange(c)
		require.ErrorIs(t, err, ErrInvalidEvent)
		assert.Contains(t, err.Error(), "meta.stream")

		c = testChange(OpDiff, Patch{Added: some.Added, LinkedShared: []Triple{{NewLiteral("x"), iri("p"), iri("o")}}})
		_, err = ChunkChange(c)
		require.ErrorIs(t, err, ErrInvalidTriple)
		assert.Contains(t, err.Error(), "rdf_linked_shared_data: triple 0: subject")

		_, err = ChunkChange(testChange(OpDiff, some), WithSoftMaxChars(0))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "soft limit 0")
	})
}

// splitQ42 puts Q42's munged triples at random into the buckets op carries.
func splitQ42(t testing.TB, rng *rand.Rand, op Operation, all []Triple) Patch {
	t.Helper()
	allowed := allowedBuckets(op)
	var p Patch
	dst := [numBuckets]*[]Triple{&p.Added, &p.Removed, &p.LinkedShared, &p.UnlinkedShared}
	keep := rng.Float64()
	for _, tr := range all {
		if rng.Float64() > keep {
			continue
		}
		b := eventBucket(rng.IntN(int(numBuckets)))
		for !allowed[b] {
			b = eventBucket(rng.IntN(int(numBuckets)))
		}
		*dst[b] = append(*dst[b], tr)
	}
	return p
}

// Chunking then reassembling through JSON is the identity on real entities,
// for random subsets, buckets and (small) soft limits; and every message obeys
// the chunking invariants (see checkChunkInvariants).
func TestChunkReassembleIdentityProperty(t *testing.T) {
	all := loadTurtle(t, q42Munged)
	rng := rand.New(rand.NewPCG(42, 2024))
	iterations := 60
	if testing.Short() {
		iterations = 10
	}
	maxMessages := 0
	for i := range iterations {
		op := []Operation{OpImport, OpDiff, OpReconcile}[i%3]
		p := splitQ42(t, rng, op, all)
		if rng.IntN(2) == 0 {
			for _, ts := range [][]Triple{p.Added, p.Removed, p.LinkedShared, p.UnlinkedShared} {
				SortTriples(ts)
			}
		}
		softMax := 1 + rng.IntN(20000)
		schema := SchemaRDFChangeV2
		if i%5 == 0 {
			schema = SchemaRDFChangeV1
		}
		change := testChange(op, p)
		evs, err := ChunkChange(change, WithSoftMaxChars(softMax), WithEventSchema(schema))
		require.NoError(t, err)
		if p.IsEmpty() {
			require.Empty(t, evs)
			continue
		}
		maxMessages = max(maxMessages, len(evs))
		checkChunkInvariants(t, evs, softMax)

		r := NewReassembler()
		var got *EntityChange
		for j, ev := range evs {
			data, err := ev.MarshalJSON()
			require.NoError(t, err)
			dec, err := DecodeEvent(data)
			require.NoError(t, err)
			assert.Equal(t, schema, dec.Schema)
			c, err := r.Add(dec, j)
			require.NoError(t, err)
			if j < len(evs)-1 {
				require.Nil(t, c)
				require.Len(t, r.Pending(), j+1)
			} else {
				got = c
			}
		}
		require.NotNil(t, got, "iteration %d", i)
		assert.Nil(t, r.Pending())
		want := change
		assert.Equal(t, want.Patch.Added, got.Patch.Added)
		assert.Equal(t, want.Patch.Removed, got.Patch.Removed)
		assert.Equal(t, want.Patch.LinkedShared, got.Patch.LinkedShared)
		assert.Equal(t, want.Patch.UnlinkedShared, got.Patch.UnlinkedShared)
		want.Patch, got.Patch = Patch{}, Patch{}
		assert.Equal(t, &want, got)
	}
	assert.Greater(t, maxMessages, 20, "small soft limits give many chunks")
}

// checkChunkInvariants checks the chunking rules on one chunked event: the
// messages are numbered 0..n-1 with sequence length n, each one is valid,
// and a chunk crosses the soft limit only with its last statement.
func checkChunkInvariants(t *testing.T, evs []*ChangeEvent, softMax int) {
	t.Helper()
	for i, ev := range evs {
		require.Equal(t, i, ev.Sequence)
		require.Equal(t, len(evs), ev.SequenceLength)
		require.NoError(t, ev.Validate())
		for b := range numBuckets {
			d := *ev.data(b)
			if d == nil {
				continue
			}
			// A chunk crosses the limit only with its last statement: without
			// the last subject group's final object it is within the limit,
			// unless it holds a single statement.
			n := utf16Len([]byte(d.Data))
			if n > softMax {
				trimmed := strings.TrimSuffix(d.Data, " .\n")
				last := max(strings.LastIndex(trimmed, " , "), strings.LastIndex(trimmed, " ;\n\t"), strings.LastIndex(trimmed, " .\n"))
				if last >= 0 {
					assert.LessOrEqual(t, utf16Len([]byte(trimmed[:last])), softMax, "chunk %d %s closed late", i, bucketFields[b])
				}
			}
		}
	}
}

func TestChunkChangeQ42DefaultLimit(t *testing.T) {
	all := loadTurtle(t, q42Munged)
	evs, err := ChunkChange(testChange(OpImport, Patch{Added: all}), WithMeta(fixedMeta))
	require.NoError(t, err)
	doc, err := AppendTurtle(nil, all)
	require.NoError(t, err)
	total := utf16Len(doc)
	require.Greater(t, total, DefaultSoftMaxChars)
	assert.InDelta(t, float64(total/DefaultSoftMaxChars)+0.5, float64(len(evs)), 0.5, "one chunk per 128 000 characters")
	for _, ev := range evs[:len(evs)-1] {
		n := utf16Len([]byte(ev.Added.Data))
		assert.Greater(t, n, DefaultSoftMaxChars)
		assert.Less(t, n, DefaultSoftMaxChars+2000, "exceeds the limit by one statement at most")
	}
}

// ExampleChunkChange is in example_event_test.go.

func BenchmarkChunkChangeQ42(b *testing.B) {
	all := loadTurtle(b, q42Munged)
	doc, err := AppendTurtle(nil, all)
	require.NoError(b, err)
	c := testChange(OpImport, Patch{Added: all})
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		evs, err := ChunkChange(c, WithMeta(fixedMeta))
		if err != nil {
			b.Fatal(err)
		}
		n = len(evs)
	}
	b.ReportMetric(float64(n), "messages/op")
	b.ReportMetric(float64(len(all))*float64(b.N)/b.Elapsed().Seconds(), "triples/s")
}

func BenchmarkDecodeReassembleQ42(b *testing.B) {
	all := loadTurtle(b, q42Munged)
	evs, err := ChunkChange(testChange(OpImport, Patch{Added: all}), WithSoftMaxChars(DefaultSoftMaxChars/4), WithMeta(fixedMeta))
	require.NoError(b, err)
	var msgs [][]byte
	size := 0
	for _, ev := range evs {
		data, err := ev.MarshalJSON()
		require.NoError(b, err)
		msgs = append(msgs, data)
		size += len(data)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	r := NewReassembler()
	for b.Loop() {
		var got *EntityChange
		for i, m := range msgs {
			ev, err := DecodeEvent(m)
			if err != nil {
				b.Fatal(err)
			}
			if got, err = r.Add(ev, i); err != nil {
				b.Fatal(err)
			}
		}
		if got == nil || len(got.Patch.Added) != len(all) {
			b.Fatal("incomplete reassembly")
		}
	}
	b.ReportMetric(float64(len(msgs)), "messages/op")
	b.ReportMetric(float64(len(all))*float64(b.N)/b.Elapsed().Seconds(), "triples/s")
}
