package sidecar

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// savepointAt writes a checkpoint of an empty table for namespace ns and
// pins it as name.
func savepointAt(t *testing.T, store checkpoint.Store, ns, name string) uint64 {
	t.Helper()
	ctx := context.Background()
	ck, err := checkpoint.NewCheckpointer(store, ns)
	require.NoError(t, err)
	tbl := checkpoint.NewTable[string, int64]("counts", 1)
	tbl.Set("k", 1)
	m, err := ck.Checkpoint(ctx, map[string]int64{"in/0": 5}, []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{tbl}}})
	require.NoError(t, err)
	_, err = ck.Savepoint(ctx, name, m.ID)
	require.NoError(t, err)
	return m.ID
}

func TestStoreSavepointsMergesTasks(t *testing.T) {
	ctx := context.Background()
	store := checkpoint.NewMemoryStore()
	a0 := savepointAt(t, store, "counts.task-0", "upgrade-1")
	a1 := savepointAt(t, store, "counts.task-1", "upgrade-1")
	b1 := savepointAt(t, store, "counts.task-1", "only-task-1")
	// Jobs whose names start like ours must not be mixed in.
	savepointAt(t, store, "counts.task-1.task-0", "other-job")
	savepointAt(t, store, "counts2.task-0", "other-job-2")
	savepointAt(t, store, "counts.task-01", "not-a-task") // not how the job names task 1

	l, err := NewStoreSavepoints(store, "counts")
	require.NoError(t, err)
	sps, err := l.Savepoints(ctx)
	require.NoError(t, err)
	require.Len(t, sps, 2)
	assert.Equal(t, "only-task-1", sps[0].Name)
	assert.Equal(t, map[int]uint64{1: b1}, sps[0].Tasks)
	assert.Equal(t, "upgrade-1", sps[1].Name)
	assert.Equal(t, map[int]uint64{0: a0, 1: a1}, sps[1].Tasks)
	assert.WithinDuration(t, time.Now(), sps[1].Created, time.Minute)
	assert.False(t, sps[1].Saved.IsZero())

	none, err := NewStoreSavepoints(store, "nothing")
	require.NoError(t, err)
	sps, err = none.Savepoints(ctx)
	require.NoError(t, err)
	assert.Empty(t, sps)
}

func TestStoreSavepointsStateSize(t *testing.T) {
	ctx := context.Background()
	store := checkpoint.NewMemoryStore()
	id := savepointAt(t, store, "counts.task-3", "sp")
	l, err := NewStoreSavepoints(store, "counts")
	require.NoError(t, err)
	size, err := l.StateSize(ctx, 3, id)
	require.NoError(t, err)
	assert.Equal(t, 1, size.Objects)
	assert.Equal(t, int64(1), size.Records)
	objs, err := store.List(ctx, "counts.task-3/chk-")
	require.NoError(t, err)
	var stateObj int64
	for _, o := range objs {
		if !strings.HasSuffix(o.Name, "MANIFEST") {
			stateObj += o.Size
		}
	}
	assert.Equal(t, stateObj, size.Bytes)
	_, err = l.StateSize(ctx, 3, id+1)
	require.ErrorIs(t, err, checkpoint.ErrNoCheckpoint)
	assert.Contains(t, err.Error(), "sidecar: state size of task 3")
}

func TestStoreSavepointsErrors(t *testing.T) {
	_, err := NewStoreSavepoints(nil, "counts")
	require.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewStoreSavepoints(checkpoint.NewMemoryStore(), "")
	require.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewStoreSavepoints(checkpoint.NewMemoryStore(), "a/b")
	require.ErrorIs(t, err, ErrInvalidOption)

	boom := errors.New("swift: 503")
	l, err := NewStoreSavepoints(failingStore{checkpoint.NewMemoryStore(), boom}, "counts")
	require.NoError(t, err)
	_, err = l.Savepoints(context.Background())
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), `sidecar: listing the task namespaces of job "counts"`)
}

type failingStore struct {
	checkpoint.Store
	err error
}

func (f failingStore) List(context.Context, string) ([]checkpoint.ObjectInfo, error) {
	return nil, f.err
}
