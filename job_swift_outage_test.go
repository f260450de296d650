package streamkit_test

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// outageFor is how long the outage tests keep a dependency down, from
// STREAMKIT_OUTAGE (a Go duration; CI: 90s). Unset, the test is skipped: it
// takes a shared service away, so it runs alone, after the other tests.
func outageFor(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("STREAMKIT_OUTAGE")
	if s == "" {
		t.Skip("STREAMKIT_OUTAGE not set: the outage tests take a shared service down and run alone")
	}
	d, err := time.ParseDuration(s)
	require.NoError(t, err, "STREAMKIT_OUTAGE")
	return d
}

// A Swift outage longer than many checkpoint intervals: the job keeps
// running, not ready with the checkpoint store named, and resumes by
// itself when the proxy is back, with the output exactly once.
func TestJobRidesOutSwiftOutage(t *testing.T) {
	outage := outageFor(t)
	saio := checkpointtest.SAIOFromEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), outage+3*time.Minute)
	defer cancel()
	conn := checkpointtest.RealSwiftConnection(t)
	store := checkpoint.NewSwiftStore(conn, checkpointtest.TempContainer(t, conn))
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 2))
	require.NoError(t, cl.CreateTopic(ctx, "out", 2))

	job := newCounterJob(t, cl, store, streamkit.WithRestartBackoff(200*time.Millisecond, 5*time.Second))
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	watch := jobtest.WatchNotReady(job, 0)
	produced := 0
	produce := func(n int) {
		produceKeys(t, ctx, cl, produced, produced+n)
		produced += n
	}
	produce(50)
	_, err := cl.WaitForRecords(ctx, "out", 50)
	require.NoError(t, err)

	saio.StopProxy(t)
	down := time.Now()
	if res, err := http.Get(os.Getenv(checkpointtest.EnvSwiftAuthURL)); err == nil {
		res.Body.Close()
		t.Fatalf("the Swift proxy still answers (%s): no outage", res.Status)
	}
	for time.Since(down) < outage { // input keeps arriving during the outage
		produce(10)
		select {
		case err := <-done:
			t.Fatalf("the job ended during the outage: %v", err)
		case <-time.After(outage / 9):
		}
	}
	saio.StartProxy(t)
	up := time.Now()
	produce(10)
	_, err = cl.WaitForRecords(ctx, "out", produced)
	require.NoError(t, err)
	resumed := time.Since(up)
	require.Eventually(t, func() bool { return job.Stats().ConsecutiveFailures == 0 }, time.Minute, 50*time.Millisecond)
	seen := watch.Stop()
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	counts := outputCounts(t, ctx, cl)
	total := 0
	for k, vs := range counts {
		assert.Equal(t, intRange(1, len(vs)), vs, "key %s exactly once, in order", k)
		total += len(vs)
	}
	assert.Equal(t, produced, total)
	assert.Equal(t, map[streamkit.Component]bool{streamkit.ComponentCheckpointStore: true}, seen.Components)
	require.True(t, seen.Seen(), "not ready during the outage")
	t.Logf("outage %v: not ready from +%v to +%v (%d failures in a row at most); output resumed %v after the proxy came back; %d records, exactly once",
		outage.Round(time.Second), seen.First.Sub(down).Round(time.Millisecond), seen.Last.Sub(down).Round(time.Millisecond),
		seen.MaxConsecutive, resumed.Round(time.Millisecond), total)
}
