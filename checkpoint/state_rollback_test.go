package checkpoint_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

func TestTableRollback(t *testing.T) {
	tb := checkpoint.NewTable[string, int]("t", 1)
	tb.Set("a", 1)
	tb.Set("b", 2)
	tb.Mark()
	tb.Set("a", 10)
	tb.Set("a", 11)
	tb.Delete("b")
	tb.Set("c", 3)
	tb.Delete("missing")
	tb.Rollback()
	a, _ := tb.Get("a")
	b, okB := tb.Get("b")
	_, okC := tb.Get("c")
	assert.Equal(t, 1, a)
	assert.True(t, okB)
	assert.Equal(t, 2, b)
	assert.False(t, okC)
	assert.Equal(t, 2, tb.Len())

	// A second rollback without new changes changes nothing; Mark forgets.
	tb.Rollback()
	tb.Set("a", 5)
	tb.Mark()
	tb.Rollback()
	a, _ = tb.Get("a")
	assert.Equal(t, 5, a, "changes before the last Mark stay")
}

func TestEntityTableRollback(t *testing.T) {
	tb := checkpoint.NewEntityTable("e", 1)
	tb.Set("Q1", 1)
	tb.Set("L2", 2)
	tb.Set("not-an-id", 3) // the fallback map
	tb.Mark()
	tb.Set("Q1", 10)
	tb.Delete("L2")
	for i := range 100 { // forces rehashes
		tb.Set("Q"+string(rune('a'+i%26))+"x", int64(i))
		tb.Set("P"+strconv.Itoa(1000+i), int64(i))
	}
	tb.Set("not-an-id", 30)
	tb.Delete("not-an-id")
	tb.Rollback()
	want := map[string]int64{"Q1": 1, "L2": 2, "not-an-id": 3}
	got := map[string]int64{}
	tb.Range(func(id string, v int64) bool { got[id] = v; return true })
	require.Equal(t, want, got)
	assert.Equal(t, 3, tb.Len())
}
