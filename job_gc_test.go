package streamkit_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// The job collects its expired checkpoints (in the background, beside the
// task's next checkpoints) without losing what a restart needs.
func TestJobCollectsExpiredCheckpoints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "out", 1))
	store := checkpoint.NewMemoryStore()
	const gcEvery, batches, perBatch = 2, 30, 5

	job := newCounterJob(t, cl, store, streamkit.WithGCEvery(gcEvery), streamkit.WithCheckpointInterval(20*time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	for b := range batches {
		var recs []kafkatest.Record
		for i := range perBatch {
			recs = append(recs, kafkatest.Record{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("x")})
		}
		require.NoError(t, cl.ProduceKeyed(ctx, "in", recs...))
		_, err := cl.WaitForRecords(ctx, "out", (b+1)*perBatch)
		require.NoError(t, err)
		// Let a checkpoint commit each batch on its own.
		for job.Stats().Committed[source.TopicPartition{Topic: "in", Partition: 0}] < int64((b+1)*perBatch) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	checkpoints := job.Stats().Checkpoints
	require.GreaterOrEqual(t, checkpoints, int64(batches))

	infos, err := store.List(ctx, streamkit.TaskNamespace("counts", 0)+"/chk-")
	require.NoError(t, err)
	manifests := 0
	for _, in := range infos {
		if strings.HasSuffix(in.Name, "/MANIFEST") {
			manifests++
		}
	}
	// GC keeps the newest 3; up to 2*gcEvery more were written since the
	// last run that finished.
	assert.LessOrEqual(t, manifests, 3+2*gcEvery+1, "of %d checkpoints", checkpoints)

	// What is left restores: the counts go on from 30.
	require.NoError(t, cl.ProduceKeyed(ctx, "in", kafkatest.Record{Key: []byte("k0"), Value: []byte("x")}))
	job2 := newCounterJob(t, cl, store)
	go func() { done <- job2.Run(ctx) }()
	out, err := cl.WaitForRecords(ctx, "out", batches*perBatch+1)
	require.NoError(t, err)
	require.NoError(t, job2.Stop(ctx))
	require.NoError(t, <-done)
	assert.Equal(t, "k0="+strconv.Itoa(batches+1), string(out[len(out)-1].Value))
}
