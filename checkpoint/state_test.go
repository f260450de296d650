package checkpoint

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEntityIDRoundTrip(t *testing.T) {
	for _, s := range []string{
		"Q1", "Q42", "Q123456789", "P31", "L7", "M5", "E10",
		"L7-F2", "L1-S1", "L1099511627775-F1048575",
		"Q1152921504606846975", // 2^60-1
	} {
		id, err := ParseEntityID(s)
		require.NoError(t, err, s)
		assert.True(t, id.Valid(), s)
		assert.Equal(t, s, id.String())
	}
}

func TestParseEntityIDNotCompact(t *testing.T) {
	for _, s := range []string{
		"", "Q", "Q0", "Q042", "q42", "X42", "Q-1", "Q+1", "Q4 2", "Q42 ",
		"Q1152921504606846976", // 2^60
		"Q99999999999999999999999",
		"L7-F0", "L7-F", "L7-X1", "L-F1", "L0-F1", "L7-F01",
		"L1099511627776-F1", // lexeme number 2^40
		"L7-F1048576",       // form number 2^20
		"P31-F1", "wd:Q42", "http://www.wikidata.org/entity/Q42",
	} {
		_, err := ParseEntityID(s)
		require.ErrorIs(t, err, ErrEntityIDNotCompact, "%q", s)
	}
	assert.False(t, EntityID(0).Valid())
	assert.Equal(t, "EntityID(0x0)", EntityID(0).String())
}

func FuzzParseEntityID(f *testing.F) {
	for _, s := range []string{"Q42", "L7-F2", "Q0", "L1-S", "P1152921504606846975"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseEntityID(s)
		if err != nil {
			return
		}
		if !id.Valid() || id.String() != s {
			t.Fatalf("%q parsed to %#x which formats as %q", s, uint64(id), id.String())
		}
	})
}

func TestTableDirtyTracking(t *testing.T) {
	tb := NewTable[string, []string]("labels", 2)
	assert.Equal(t, TableSchema{Name: "labels", Version: 2, Codec: "msgpack"}, tb.Schema())
	tb.Set("a", []string{"x"})
	tb.Set("b", nil)
	tb.Delete("missing")
	assert.Equal(t, 2, tb.Len())
	assert.Equal(t, 2, tb.DirtyLen())
	tb.ClearDirty()
	tb.Delete("a")
	tb.Set("c", []string{"y", "z"})
	assert.Equal(t, 2, tb.DirtyLen())
	v, ok := tb.Get("c")
	require.True(t, ok)
	assert.Equal(t, []string{"y", "z"}, v)
	_, ok = tb.Get("a")
	assert.False(t, ok)
	n := 0
	tb.Range(func(string, []string) bool { n++; return false })
	assert.Equal(t, 1, n)
	tb.Reset()
	assert.Equal(t, 0, tb.Len())
	assert.Equal(t, 0, tb.DirtyLen())
}

// randomID returns a compact or (1 in 50) fallback entity ID.
func randomID(r *rand.Rand, keys int) string {
	n := r.IntN(keys) + 1
	switch r.IntN(50) {
	case 0:
		return fmt.Sprintf("Q0%d", n) // leading zero: not compact
	case 1:
		return fmt.Sprintf("L%d-F%d", n, r.IntN(3)+1)
	case 2:
		return fmt.Sprintf("P%d", n)
	}
	return fmt.Sprintf("Q%d", n)
}

// TestEntityTableMatchesMap drives EntityTable and a map with the same
// random operations (growth, backward-shift deletes, fallback keys) and
// compares contents and dirty sets.
func TestEntityTableMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tb := NewEntityTable("rev", 1)
	ref := make(map[string]int64)
	dirty := make(map[string]bool)
	for i := range 200_000 {
		id := randomID(r, 20_000)
		if r.IntN(3) == 0 {
			if _, ok := ref[id]; ok {
				dirty[id] = true
			}
			delete(ref, id)
			tb.Delete(id)
		} else {
			v := r.Int64N(1 << 40)
			ref[id] = v
			dirty[id] = true
			tb.Set(id, v)
		}
		if i%50_000 == 0 {
			tb.ClearDirty()
			clear(dirty)
		}
	}
	require.Equal(t, len(ref), tb.Len())
	for k, v := range ref {
		got, ok := tb.Get(k)
		require.True(t, ok, k)
		require.Equal(t, v, got, k)
	}
	seen := 0
	tb.Range(func(id string, v int64) bool {
		seen++
		assert.Equal(t, ref[id], v, id)
		return true
	})
	assert.Equal(t, len(ref), seen)
	assert.Equal(t, len(dirty), tb.DirtyLen())
}

func TestEntityTableInvalidIDGoesToFallback(t *testing.T) {
	tb := NewEntityTable("rev", 1)
	tb.SetID(0, 7)
	v, ok := tb.Get("EntityID(0x0)")
	require.True(t, ok)
	assert.Equal(t, int64(7), v)
	_, ok = tb.GetID(0)
	assert.False(t, ok)
}

// TestEntityTableSlotBytes checks the memory design goal structurally (the
// benchmark measures it with runtime.MemStats): at any size from 1M keys up
// the slot array and dirty bitmap stay under 48 bytes per key.
func TestEntityTableSlotBytes(t *testing.T) {
	for _, n := range []int{1_000_000, 1_572_865, 3_145_729, 10_000_000, 120_000_000, 201_326_593} {
		assert.Less(t, entityBytesPerKey(n), 48.0, "n=%d", n)
	}
	// Growth by put lands on the same sizes as Grow.
	tb := NewEntityTable("rev", 1)
	for i := range 100_000 {
		tb.SetID(EntityID(kindItem<<kindShift|uint64(i+1)), 1)
	}
	assert.Equal(t, entitySlotsFor(100_000), len(tb.slots))
}
