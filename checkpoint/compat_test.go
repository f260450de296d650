package checkpoint

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// compatFixture checkpoints one partition with tables a (entity, v1),
// b (msgpack, v1) and c (msgpack, v1).
func compatFixture(t *testing.T) *Checkpointer {
	ctx := context.Background()
	c, err := NewCheckpointer(NewMemoryStore(), "job")
	require.NoError(t, err)
	a := NewEntityTable("a", 1)
	b := NewTable[string, int]("b", 1)
	cc := NewTable[int, string]("c", 1)
	a.Set("Q1", 10)
	b.Set("x", 1)
	for i := range 5000 { // several blocks, to exercise skipping
		cc.Set(i, "some value that takes room")
	}
	_, err = c.Checkpoint(ctx, nil, []PartitionState{{Partition: 0, Tables: []StateTable{a, b, cc}}})
	require.NoError(t, err)
	_, err = c.Savepoint(ctx, "before-upgrade", 0)
	require.NoError(t, err)
	return c
}

func TestCompatibilityListsEveryMismatch(t *testing.T) {
	ctx := context.Background()
	c := compatFixture(t)
	a := NewEntityTable("a", 2)        // version changed
	b := NewEntityTable("b", 1)        // codec changed
	d := NewTable[string, int]("d", 1) // new; c is no longer declared
	a.Set("Q5", 5)                     // reset on failure
	parts := []PartitionState{{Partition: 0, Tables: []StateTable{a, b, d}}}

	_, err := c.RestoreLatest(ctx, parts)
	var ie *IncompatibleError
	require.ErrorAs(t, err, &ie)
	require.ErrorIs(t, err, ErrIncompatible)
	assert.Equal(t, uint64(1), ie.Checkpoint)
	assert.Equal(t, []Mismatch{
		{Table: "a", Kind: MismatchVersion, Stored: TableSchema{"a", 1, "entity-int64"}, Declared: TableSchema{"a", 2, "entity-int64"}},
		{Table: "b", Kind: MismatchCodec, Stored: TableSchema{"b", 1, "msgpack"}, Declared: TableSchema{"b", 1, "entity-int64"}},
		{Table: "c", Kind: MismatchUndeclared, Stored: TableSchema{"c", 1, "msgpack"}},
		{Table: "d", Kind: MismatchMissing, Declared: TableSchema{"d", 1, "msgpack"}},
	}, ie.Mismatches)
	assert.Equal(t, `checkpoint: checkpoint 1 is incompatible with the job (4 mismatches):
  - table "a" has version 1 in the checkpoint, the job declares version 2 (run the build that wrote it, or migrate the state into a table of a new name)
  - table "b" has codec "msgpack" in the checkpoint, the job declares codec "entity-int64" (run the build that wrote it)
  - table "c" (version 1) is in the checkpoint but not declared by the job (to drop its data on purpose, restore with checkpoint.AllowDroppedState())
  - table "d" (version 1) is declared by the job but not in the checkpoint (to start it empty on purpose, restore with checkpoint.AllowNewState())`, err.Error())
	assert.Equal(t, 1, a.Len(), "nothing is loaded or reset before the check passes")

	// The options allow dropping and adding tables, not changing them.
	_, err = c.RestoreLatest(ctx, parts, AllowDroppedState(), AllowNewState())
	require.ErrorAs(t, err, &ie)
	assert.Len(t, ie.Mismatches, 2)

	_, err = c.RestoreSavepoint(ctx, "before-upgrade", parts)
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "before-upgrade", ie.Savepoint)
	assert.Contains(t, err.Error(), `savepoint "before-upgrade" (checkpoint 1)`)
}

func TestCompatibilityDropAndAddTables(t *testing.T) {
	ctx := context.Background()
	c := compatFixture(t)
	a := NewEntityTable("a", 1)
	d := NewTable[string, int]("d", 1)
	parts := []PartitionState{{Partition: 0, Tables: []StateTable{d, a}}}
	_, err := c.RestoreLatest(ctx, parts, AllowNewState())
	require.ErrorContains(t, err, `table "b" (version 1) is in the checkpoint but not declared`)

	_, err = c.RestoreLatest(ctx, parts, AllowDroppedState(), AllowNewState())
	require.NoError(t, err)
	v, ok := a.Get("Q1")
	require.True(t, ok)
	assert.Equal(t, int64(10), v)
	assert.Zero(t, d.Len())

	// The next checkpoint is a new base with the new set of tables.
	a.Set("Q2", 20)
	m, err := c.Checkpoint(ctx, nil, parts)
	require.NoError(t, err)
	require.Len(t, m.Partition(0).Chain, 1)
	assert.Equal(t, []TableSchema{{"a", 1, "entity-int64"}, {"d", 1, "msgpack"}}, m.Tables)
	a2, d2 := NewEntityTable("a", 1), NewTable[string, int]("d", 1)
	_, err = c.RestoreLatest(ctx, []PartitionState{{Partition: 0, Tables: []StateTable{a2, d2}}})
	require.NoError(t, err)
	assert.Equal(t, 2, a2.Len())
}
