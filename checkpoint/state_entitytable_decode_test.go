package checkpoint

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// entitySection encodes the records of tb (full or delta) into one table
// section and returns a Decoder positioned at its start.
func entitySection(t *testing.T, tb *EntityTable, full bool) *Decoder {
	t.Helper()
	var sb strings.Builder
	bw := newBlockWriter(&sb)
	bw.startSection(1)
	enc := &Encoder{bw: bw}
	n := tb.EncodeTo(enc, full)
	enc.op(OpEnd)
	enc.Uvarint(uint64(n))
	require.NoError(t, bw.finish())
	br, err := newBlockReader(strings.NewReader(sb.String()))
	require.NoError(t, err)
	sec, err := br.nextSection()
	require.NoError(t, err)
	require.Equal(t, uint32(1), sec)
	return &Decoder{br: br, mp: msgpack.NewDecoder(br)}
}

func entityContents(tb *EntityTable) map[string]int64 {
	out := make(map[string]int64, tb.Len())
	tb.Range(func(id string, v int64) bool { out[id] = v; return true })
	return out
}

// TestEntityDecodeWindowAcrossBlocks restores full and delta sections of
// several blocks, with fallback keys and deletes among packed IDs, so that
// records straddle block boundaries and the bulk loop hands over to the
// general one and back many times.
func TestEntityDecodeWindowAcrossBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	src := NewEntityTable("e", 1)
	for i := range 200_000 {
		switch i % 1000 {
		case 7:
			src.Set(fmt.Sprintf("Q%d-odd", i), int64(i)) // does not pack: fallback map
		case 8:
			src.Set(fmt.Sprintf("L%d-F%d", i, i%7+1), r.Int64N(1<<40))
		default:
			src.Set(fmt.Sprintf("Q%d", r.Int64N(1<<33)+1), r.Int64N(1<<40)-(1<<39))
		}
	}
	want := entityContents(src)
	d := entitySection(t, src, true)
	got := NewEntityTable("e", 1)
	got.Grow(src.Len()) // as restore does for a full snapshot
	n := got.DecodeFrom(d)
	require.NoError(t, d.Err())
	require.Equal(t, int64(src.Len()), n)
	require.Equal(t, uint64(n), d.Uvarint(), "trailer")
	assert.Equal(t, want, entityContents(got))

	// A delta: changes and deletes of packed and fallback keys.
	src.ClearDirty()
	i := 0
	for id := range want {
		switch i % 5 {
		case 0:
			src.Delete(id)
			delete(want, id)
		case 1:
			src.Set(id, int64(i))
			want[id] = int64(i)
		}
		i++
	}
	d = entitySection(t, src, false)
	n = got.DecodeFrom(d)
	require.NoError(t, d.Err())
	require.Equal(t, int64(src.DirtyLen()), n)
	assert.Equal(t, want, entityContents(got))
}

// TestEntityDecodeWindowStopsAtWhatItCannotParse checks that the bulk loop
// applies only whole, well-formed records of packed IDs: it leaves the
// end op, a truncated record, a fallback key and an unknown op to the
// general loop, which reports the corrupt ones.
func TestEntityDecodeWindowStopsAtWhatItCannotParse(t *testing.T) {
	src := NewEntityTable("e", 1)
	for i := range 100 {
		src.Set(fmt.Sprintf("Q%d", i+1), int64(i))
	}
	d := entitySection(t, src, true)
	got := NewEntityTable("e", 1)
	applied := got.decodeWindow(d)
	// The last records are shorter than the longest possible record from
	// the end of the block: those are left to the general loop.
	assert.Positive(t, applied)
	assert.Less(t, applied, int64(100))
	rest := got.DecodeFrom(d)
	require.NoError(t, d.Err())
	assert.Equal(t, int64(100), applied+rest)
	assert.Equal(t, entityContents(src), entityContents(got))

	for _, tc := range []struct {
		name    string
		payload []byte
		applied int64
		corrupt bool
	}{
		{"unknown op", append(putRecords(1, 40), 9), 40, true},
		{"fallback key", append(putRecords(1, 40), append([]byte{byte(OpPut), 0, 2, 'x', 'y', 4}, putRecords(41, 40)...)...), 40, false},
		{"bad varint", append(putRecords(1, 40), append([]byte{byte(OpPut)}, bytesOf(0xFF, 11)...)...), 40, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sb strings.Builder
			bw := newBlockWriter(&sb)
			bw.startSection(1)
			_, _ = bw.Write(append(tc.payload, bytesOf(byte(OpEnd), entityRecordMax)...))
			require.NoError(t, bw.finish())
			br, err := newBlockReader(strings.NewReader(sb.String()))
			require.NoError(t, err)
			_, err = br.nextSection()
			require.NoError(t, err)
			d := &Decoder{br: br, mp: msgpack.NewDecoder(br)}
			tb := NewEntityTable("e", 1)
			require.Equal(t, tc.applied, tb.decodeWindow(d))
			tb.DecodeFrom(d)
			if tc.corrupt {
				require.ErrorIs(t, d.Err(), errCorruptData)
			} else {
				require.NoError(t, d.Err())
				assert.Equal(t, 81, tb.Len())
				v, ok := tb.Get("xy")
				assert.True(t, ok)
				assert.Equal(t, int64(2), v)
			}
		})
	}
}

// putRecords returns put records of the items Q<from>..Q<from+n-1>, each
// with value 1.
func putRecords(from, n int) []byte {
	var b []byte
	for i := range n {
		k, ok := parseEntityID(fmt.Sprintf("Q%d", from+i))
		if !ok {
			panic("Q IDs pack")
		}
		b = append(b, byte(OpPut))
		b = binary.AppendUvarint(b, wireKey(k))
		b = binary.AppendVarint(b, 1)
	}
	return b
}

func bytesOf(c byte, n int) []byte { return []byte(strings.Repeat(string([]byte{c}), n)) }

// TestEntityDecodeAppliesInOrder decodes a section of several blocks where
// later records undo earlier ones: the result is that of applying them one
// by one.
func TestEntityDecodeAppliesInOrder(t *testing.T) {
	const n = 200_000
	payload := putRecords(1, n)
	for i := range n {
		k, _ := parseEntityID(fmt.Sprintf("Q%d", i+1))
		payload = append(payload, byte(OpDelete))
		payload = binary.AppendUvarint(payload, wireKey(k))
	}
	payload = append(payload, putRecords(5, 1)...)
	payload = append(payload, byte(OpEnd))

	var sb strings.Builder
	bw := newBlockWriter(&sb)
	bw.startSection(1)
	_, _ = bw.Write(payload)
	require.NoError(t, bw.finish())
	br, err := newBlockReader(strings.NewReader(sb.String()))
	require.NoError(t, err)
	_, err = br.nextSection()
	require.NoError(t, err)
	d := &Decoder{br: br, mp: msgpack.NewDecoder(br)}
	tb := NewEntityTable("e", 1)
	require.Equal(t, int64(2*n+1), tb.DecodeFrom(d))
	require.NoError(t, d.Err())
	assert.Equal(t, map[string]int64{"Q5": 1}, entityContents(tb))
}

// TestEntityDirtyWordsCoverEveryDirtyBit drives a table through sets,
// deletes (whose backward shifts move dirty bits), growths and
// checkpoints, and checks after each step that every word of the dirty
// bitmap with a bit set is marked in dirtyWords, which is all a delta and
// ClearDirty visit.
func TestEntityDirtyWordsCoverEveryDirtyBit(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	tb := NewEntityTable("e", 1)
	check := func(step int) {
		t.Helper()
		bitsSet := 0
		for w, word := range tb.dirty {
			if word != 0 {
				require.NotZero(t, tb.dirtyWords[w>>6]&(1<<(w&63)), "step %d: word %d is dirty but not marked", step, w)
			}
			for ; word != 0; word &= word - 1 {
				bitsSet++
			}
		}
		require.Equal(t, tb.nDirty, bitsSet, "step %d", step)
	}
	live := map[string]bool{}
	for step := range 30_000 {
		id := fmt.Sprintf("Q%d", r.IntN(5000)+1)
		switch {
		case r.IntN(3) == 0:
			tb.Delete(id)
			delete(live, id)
		default:
			tb.Set(id, int64(step))
			live[id] = true
		}
		if step%1000 == 999 {
			check(step)
			src := NewEntityTable("e", 1)
			d := entitySection(t, tb, false)
			n := src.DecodeFrom(d)
			require.NoError(t, d.Err())
			require.Equal(t, int64(tb.DirtyLen()), n, "step %d: the delta holds every change", step)
			tb.ClearDirty()
			check(step)
			require.Zero(t, tb.DirtyLen())
			for _, word := range tb.dirty {
				require.Zero(t, word)
			}
		}
	}
	require.Equal(t, len(live), tb.Len())
}

// growRecorder is an EntityTable that records the sizes restore asks it
// to grow to.
type growRecorder struct {
	*EntityTable
	grows []int
}

func (g *growRecorder) Grow(n int) { g.grows = append(g.grows, n); g.EntityTable.Grow(n) }

// TestRestoreGrowsBeforeEveryObject checks that restore sizes the table
// for the keys it holds after each object, deltas included, before
// applying it: records arrive in hash order, which a table growing on the
// way piles into one probe run.
func TestRestoreGrowsBeforeEveryObject(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	src := NewEntityTable("rev", 1)
	for i := range 1000 {
		src.Set(fmt.Sprintf("Q%d", i+1), 1)
	}
	c, err := NewCheckpointer(store, "job")
	require.NoError(t, err)
	parts := []PartitionState{{Partition: 0, Tables: []StateTable{src}}}
	_, err = c.Checkpoint(ctx, nil, parts)
	require.NoError(t, err)
	for i := range 20_000 {
		src.Set(fmt.Sprintf("Q%d", 1_000_000+i), 2)
	}
	m, err := c.Checkpoint(ctx, nil, parts)
	require.NoError(t, err)
	require.Len(t, m.Partitions[0].Chain, 2, "a base and a delta")

	got := &growRecorder{EntityTable: NewEntityTable("rev", 1)}
	rc, err := NewCheckpointer(store, "job")
	require.NoError(t, err)
	_, err = rc.RestoreLatest(ctx, []PartitionState{{Partition: 0, Tables: []StateTable{got}}})
	require.NoError(t, err)
	assert.Equal(t, []int{1000, 21_000}, got.grows)
	assert.Equal(t, entityContents(src), entityContents(got.EntityTable))
}
