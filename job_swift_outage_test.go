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

// outageRun is a counting job (newCounterJob) over topics "in" and "out"
// of two partitions, running in the background while an outage test takes
// one of its dependencies away, and watched for not being ready.
type outageRun struct {
	t        *testing.T
	ctx      context.Context
	cl       *kafkatest.Cluster
	job      *streamkit.Job
	done     chan error
	watch    *jobtest.NotReadyWatch
	produced int
}

func startOutageRun(t *testing.T, ctx context.Context, cl *kafkatest.Cluster, store checkpoint.Store) *outageRun {
	t.Helper()
	require.NoError(t, cl.CreateTopic(ctx, "in", 2))
	require.NoError(t, cl.CreateTopic(ctx, "out", 2))
	r := &outageRun{t: t, ctx: ctx, cl: cl, done: make(chan error, 1),
		job: newCounterJob(t, cl, store, streamkit.WithRestartBackoff(200*time.Millisecond, 5*time.Second))}
	go func() { r.done <- r.job.Run(ctx) }()
	r.watch = jobtest.WatchNotReady(r.job, 0)
	return r
}

// produce writes the next n records of produceKeys.
func (r *outageRun) produce(n int) {
	produceKeys(r.t, r.ctx, r.cl, r.produced, r.produced+n)
	r.produced += n
}

// waitOutput waits until every record produced so far has its output.
func (r *outageRun) waitOutput() {
	_, err := r.cl.WaitForRecords(r.ctx, "out", r.produced)
	require.NoError(r.t, err)
}

// wait waits d and fails the test if the job ends meanwhile.
func (r *outageRun) wait(d time.Duration) {
	select {
	case err := <-r.done:
		r.t.Fatalf("the job ended during the outage: %v", err)
	case <-time.After(d):
	}
}

// stop stops the watch and the job and returns what the watch saw.
func (r *outageRun) stop() jobtest.NotReady {
	seen := r.watch.Stop()
	require.NoError(r.t, r.job.Stop(r.ctx))
	require.NoError(r.t, <-r.done)
	return seen
}

// requireExactlyOnce checks that each key's counts are 1..n in order and
// that there is one output per record produced, and returns how many.
func (r *outageRun) requireExactlyOnce() int {
	total := 0
	for k, vs := range outputCounts(r.t, r.ctx, r.cl) {
		assert.Equal(r.t, intRange(1, len(vs)), vs, "key %s exactly once, in order", k)
		total += len(vs)
	}
	assert.Equal(r.t, r.produced, total, "outputs vs input records")
	return total
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
	run := startOutageRun(t, ctx, kafkatest.NewCluster(t), checkpoint.NewSwiftStore(conn, checkpointtest.TempContainer(t, conn)))
	run.produce(50)
	run.waitOutput()

	saio.StopProxy(t)
	down := time.Now()
	if res, err := http.Get(os.Getenv(checkpointtest.EnvSwiftAuthURL)); err == nil {
		res.Body.Close()
		t.Fatalf("the Swift proxy still answers (%s): no outage", res.Status)
	}
	for time.Since(down) < outage { // input keeps arriving during the outage
		run.produce(10)
		run.wait(outage / 9)
	}
	saio.StartProxy(t)
	up := time.Now()
	run.produce(10)
	run.waitOutput()
	resumed := time.Since(up)
	require.Eventually(t, func() bool { return run.job.Stats().ConsecutiveFailures == 0 }, time.Minute, 50*time.Millisecond)
	seen := run.stop()

	total := run.requireExactlyOnce()
	assert.Equal(t, map[streamkit.Component]bool{streamkit.ComponentCheckpointStore: true}, seen.Components)
	require.True(t, seen.Seen(), "not ready during the outage")
	t.Logf("outage %v: not ready from +%v to +%v (%d failures in a row at most); output resumed %v after the proxy came back; %d records, exactly once",
		outage.Round(time.Second), seen.First.Sub(down).Round(time.Millisecond), seen.Last.Sub(down).Round(time.Millisecond),
		seen.MaxConsecutive, resumed.Round(time.Millisecond), total)
}
