package source_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

func TestPositionsStringsRoundTrip(t *testing.T) {
	pos := source.Positions{
		{Topic: "eqiad.mediawiki.page_change.v1", Partition: 0}: 42,
		{Topic: "a/b", Partition: 3}:                            7, // topic names may hold '/'
	}
	s := pos.Strings()
	assert.Equal(t, map[string]int64{"eqiad.mediawiki.page_change.v1/0": 42, "a/b/3": 7}, s)
	back, err := source.ParsePositions(s)
	require.NoError(t, err)
	assert.Equal(t, pos, back)
}

func TestParsePositionsRejectsBadKeys(t *testing.T) {
	for _, k := range []string{"", "topic", "/0", "t/x", "t/-1", "t/99999999999"} {
		_, err := source.ParsePositions(map[string]int64{k: 1})
		require.ErrorIs(t, err, source.ErrBadPositionKey, k)
		assert.Contains(t, err.Error(), fmt.Sprintf("%q", k))
	}
}

func TestPositionsWithinAndPartitionsHas(t *testing.T) {
	pos := source.Positions{{Topic: "a", Partition: 0}: 1, {Topic: "a", Partition: 1}: 2, {Topic: "b", Partition: 0}: 3}
	parts := source.Partitions{"a": {1}, "b": {0, 5}}
	assert.Equal(t, source.Positions{{Topic: "a", Partition: 1}: 2, {Topic: "b", Partition: 0}: 3}, pos.Within(parts))
	assert.True(t, parts.Has(source.TopicPartition{Topic: "b", Partition: 5}))
	assert.False(t, parts.Has(source.TopicPartition{Topic: "a", Partition: 0}))
	assert.Empty(t, pos.Within(nil))
}

func ExamplePositions_Strings() {
	pos := source.Positions{{Topic: "page_change", Partition: 2}: 1041}
	fmt.Println(pos.Strings())
	back, _ := source.ParsePositions(pos.Strings())
	fmt.Println(back.Sorted(), back[source.TopicPartition{Topic: "page_change", Partition: 2}])
	// Output:
	// map[page_change/2:1041]
	// [page_change/2] 1041
}
