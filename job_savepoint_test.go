package streamkit_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func produceKeys(t *testing.T, ctx context.Context, cl *kafkatest.Cluster, from, to int) {
	t.Helper()
	var recs []kafkatest.Record
	for i := from; i < to; i++ {
		recs = append(recs, kafkatest.Record{Key: []byte("k" + strconv.Itoa(i%5)), Value: []byte("x")})
	}
	require.NoError(t, cl.ProduceKeyed(ctx, "in", recs...))
}

// outputCounts returns, per key, the counts emitted, in output order.
func outputCounts(t *testing.T, ctx context.Context, cl *kafkatest.Cluster) map[string][]int {
	t.Helper()
	out, err := cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	got := map[string][]int{}
	for _, r := range out {
		k, v, ok := strings.Cut(string(r.Value), "=")
		require.True(t, ok, "output %q", r.Value)
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		got[k] = append(got[k], n)
	}
	return got
}

func intRange(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func runUntil(t *testing.T, ctx context.Context, job *streamkit.Job, cond func() bool) chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	require.Eventually(t, cond, 30*time.Second, 20*time.Millisecond)
	return done
}

func TestJobStopWithSavepointAndRewind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 2))
	require.NoError(t, cl.CreateTopic(ctx, "out", 2))
	store := checkpoint.NewMemoryStore()
	produceKeys(t, ctx, cl, 0, 50)

	// Run 1: process 50 records, then stop with a savepoint.
	job := newCounterJob(t, cl, store)
	done := runUntil(t, ctx, job, func() bool { return job.Stats().Processed == 50 })
	sp, err := job.StopWithSavepoint(ctx, "before-rewind")
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.Equal(t, "before-rewind", sp.Name)
	assert.Len(t, sp.Tasks, 2)
	_, err = job.Savepoint(ctx, "late")
	require.ErrorIs(t, err, streamkit.ErrNotRunning)

	// Run 2: 25 more records from the commit point.
	produceKeys(t, ctx, cl, 50, 75)
	job = newCounterJob(t, cl, store)
	done = runUntil(t, ctx, job, func() bool { return job.Stats().Processed == 25 })
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	for k, counts := range outputCounts(t, ctx, cl) {
		assert.Equal(t, intRange(1, 15), counts, k)
	}

	// Run 3: rewind to the savepoint: the 25 records are processed again
	// on the state of the savepoint, so counts 11..15 appear a second time.
	job = newCounterJob(t, cl, store, streamkit.WithRestoreFromSavepoint("before-rewind"))
	done = runUntil(t, ctx, job, func() bool { return job.Stats().Processed == 25 })
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	for k, counts := range outputCounts(t, ctx, cl) {
		assert.Equal(t, append(intRange(1, 15), intRange(11, 15)...), counts, k)
	}

	// Run 4: same option, but the savepoint was consumed: resume from the
	// commit point, nothing is reprocessed.
	produceKeys(t, ctx, cl, 75, 80)
	job = newCounterJob(t, cl, store, streamkit.WithRestoreFromSavepoint("before-rewind"))
	done = runUntil(t, ctx, job, func() bool { return job.Stats().Processed == 5 })
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	for k, counts := range outputCounts(t, ctx, cl) {
		assert.Equal(t, append(intRange(1, 15), intRange(11, 16)...), counts, k)
	}
}

func TestJobSavepointKeepsRunning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "out", 1))
	store := checkpoint.NewMemoryStore()
	produceKeys(t, ctx, cl, 0, 10)
	job := newCounterJob(t, cl, store)
	done := runUntil(t, ctx, job, func() bool { return job.Stats().Processed == 10 })
	sp, err := job.Savepoint(ctx, "sp")
	require.NoError(t, err)
	require.Contains(t, sp.Tasks, 0)
	_, err = job.Savepoint(ctx, "sp")
	require.ErrorIs(t, err, checkpoint.ErrExist, "savepoints are never overwritten")
	produceKeys(t, ctx, cl, 10, 20)
	require.Eventually(t, func() bool { return job.Stats().Processed == 20 }, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	ck, err := checkpoint.NewCheckpointer(store, "counts.task-0")
	require.NoError(t, err)
	m, err := ck.ReadSavepoint(ctx, "sp")
	require.NoError(t, err)
	assert.Equal(t, sp.Tasks[0], m.ID)
	assert.Equal(t, map[string]int64{"in/0": 10}, m.Positions)
}

func TestJobToleratesCheckpointFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 2))
	require.NoError(t, cl.CreateTopic(ctx, "out", 2))
	faults := checkpointtest.NewFaultStore(checkpoint.NewMemoryStore())
	produceKeys(t, ctx, cl, 0, 40)

	var failed atomic.Int64
	job := newCounterJob(t, cl, faults, streamkit.WithMaxCheckpointFailures(3),
		streamkit.WithRestartBackoff(10*time.Millisecond, 50*time.Millisecond),
		streamkit.WithOnCheckpoint(func(ev streamkit.CheckpointEvent) {
			if ev.Err != nil {
				failed.Add(1)
			}
		}))
	// Two failing manifest writes: each fails a checkpoint, the job rewinds
	// to the commit points and carries on.
	isManifest := func(name string) bool { return strings.HasSuffix(name, "/MANIFEST") }
	var manifests atomic.Int64
	faults.Inject(checkpointtest.Fault{Match: func(name string) bool {
		return isManifest(name) && manifests.Add(1) <= 2
	}})
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	require.Eventually(t, func() bool { return faults.Fired() >= 2 && job.Stats().Checkpoints >= 2 },
		30*time.Second, 20*time.Millisecond)
	produceKeys(t, ctx, cl, 40, 60)
	require.Eventually(t, func() bool {
		counts := outputCounts(t, ctx, cl)
		return len(counts["k4"]) == 12
	}, 30*time.Second, 50*time.Millisecond)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	assert.GreaterOrEqual(t, failed.Load(), int64(2))
	assert.GreaterOrEqual(t, job.Stats().Restarts, int64(1))
	for k, counts := range outputCounts(t, ctx, cl) {
		assert.Equal(t, intRange(1, 12), counts, k)
	}

	// A store that always fails ends Run after the budget.
	faults.Inject(checkpointtest.Fault{Match: isManifest})
	produceKeys(t, ctx, cl, 60, 70)
	job = newCounterJob(t, cl, faults, streamkit.WithMaxCheckpointFailures(2),
		streamkit.WithRestartBackoff(10*time.Millisecond, 50*time.Millisecond))
	err := job.Run(ctx)
	require.ErrorIs(t, err, streamkit.ErrTooManyFailures)
	require.False(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Equal(t, int64(3), job.Stats().Restarts)
}
