package checkpoint_test

import (
	"context"
	"errors"
	"fmt"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// A job keeps the last revision of every entity it has seen, per input
// partition, checkpoints it with the source positions, and a new instance
// restores it.
func Example() {
	ctx := context.Background()
	store := checkpoint.NewMemoryStore()

	// The job's state: one entity→revision table per partition.
	revs := checkpoint.NewEntityTable("last-revision", 1)
	parts := []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{revs}}}
	c, err := checkpoint.NewCheckpointer(store, "wdqs-updater")
	if err != nil {
		panic(err)
	}

	// First start: nothing to restore.
	if _, err := c.RestoreLatest(ctx, parts); errors.Is(err, checkpoint.ErrNoCheckpoint) {
		fmt.Println("no checkpoint yet, starting empty")
	}

	revs.Set("Q42", 1001)
	revs.Set("L7-F2", 77)
	m, err := c.Checkpoint(ctx, map[string]int64{"eqiad.mediawiki.revision-create/0": 5000}, parts)
	if err != nil {
		panic(err)
	}
	fmt.Println("checkpoint", m.ID, "full:", m.Partitions[0].Chain[0].Full)

	revs.Set("Q42", 1002) // only this key is in the next (delta) snapshot
	m, err = c.Checkpoint(ctx, map[string]int64{"eqiad.mediawiki.revision-create/0": 5001}, parts)
	if err != nil {
		panic(err)
	}
	fmt.Println("checkpoint", m.ID, "chain length:", len(m.Partitions[0].Chain), "delta records:", m.Partitions[0].Chain[1].Records)

	// Another instance (or the same one after a crash) restores.
	restored := checkpoint.NewEntityTable("last-revision", 1)
	c2, _ := checkpoint.NewCheckpointer(store, "wdqs-updater")
	m, err = c2.RestoreLatest(ctx, []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{restored}}})
	if err != nil {
		panic(err)
	}
	rev, _ := restored.Get("Q42")
	form, _ := restored.Get("L7-F2")
	fmt.Println("restored checkpoint", m.ID, "Q42 =", rev, "L7-F2 =", form, "resume at", m.Positions["eqiad.mediawiki.revision-create/0"])

	// A job whose table changed its schema is told exactly what differs.
	v2 := checkpoint.NewEntityTable("last-revision", 2)
	_, err = c2.RestoreLatest(ctx, []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{v2}}})
	fmt.Println(err)
	// Output:
	// no checkpoint yet, starting empty
	// checkpoint 1 full: true
	// checkpoint 2 chain length: 2 delta records: 1
	// restored checkpoint 2 Q42 = 1002 L7-F2 = 77 resume at 5001
	// checkpoint: checkpoint 2 is incompatible with the job (1 mismatches):
	//   - table "last-revision" has version 1 in the checkpoint, the job declares version 2 (run the build that wrote it, or migrate the state into a table of a new name)
}

// Savepoints pin a checkpoint under a name; GC keeps them and what they
// need, however many checkpoints follow.
func ExampleCheckpointer_Savepoint() {
	ctx := context.Background()
	store := checkpoint.NewMemoryStore()
	c, _ := checkpoint.NewCheckpointer(store, "job", checkpoint.WithRetain(1))
	seen := checkpoint.NewTable[string, bool]("seen", 1)
	parts := []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{seen}}}

	seen.Set("a", true)
	if _, err := c.Checkpoint(ctx, map[string]int64{"t/0": 1}, parts); err != nil {
		panic(err)
	}
	if _, err := c.Savepoint(ctx, "before-deploy", 0); err != nil {
		panic(err)
	}
	for i := range 3 {
		seen.Set(fmt.Sprint(i), true)
		if _, err := c.Checkpoint(ctx, map[string]int64{"t/0": int64(i + 2)}, parts); err != nil {
			panic(err)
		}
		if _, err := c.GC(ctx); err != nil {
			panic(err)
		}
	}
	ids, _ := c.Checkpoints(ctx)
	fmt.Println("checkpoints kept:", ids)

	old := checkpoint.NewTable[string, bool]("seen", 1)
	m, err := c.RestoreSavepoint(ctx, "before-deploy", []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{old}}})
	if err != nil {
		panic(err)
	}
	fmt.Println("savepoint of checkpoint", m.ID, "keys:", old.Len(), "positions:", m.Positions)
	// Output:
	// checkpoints kept: [4]
	// savepoint of checkpoint 1 keys: 1 positions: map[t/0:1]
}
