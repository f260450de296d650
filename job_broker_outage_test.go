package streamkit_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// A Kafka outage longer than any retry budget of the clients (sarama's
// metadata, producer and consumer retries give up within seconds): every
// broker is stopped for STREAMKIT_OUTAGE while a job runs. The job keeps
// running, reports itself not ready with the failing component named, and
// resumes by itself when the brokers are back, with its output exactly
// once (checked by kcat too when STREAMKIT_KCAT is set).
//
// It needs the brokers to itself: STREAMKIT_KAFKA_BROKERS,
// STREAMKIT_KAFKA_SCRIPT (scripts/kafka.sh, with the KAFKA_ROOT and
// KAFKA_PORT the brokers were started with) and STREAMKIT_OUTAGE, so it
// runs alone, like the other outage tests.
func TestJobRidesOutBrokerOutage(t *testing.T) {
	script := os.Getenv("STREAMKIT_KAFKA_SCRIPT")
	if os.Getenv(kafkatest.BrokersEnv) == "" || script == "" {
		t.Skip("needs a real broker it may stop: set STREAMKIT_KAFKA_BROKERS and STREAMKIT_KAFKA_SCRIPT (scripts/kafka.sh)")
	}
	outage := outageFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), outage+4*time.Minute)
	defer cancel()
	brokers := func(args ...string) {
		out, err := exec.CommandContext(ctx, script, args...).CombinedOutput()
		require.NoError(t, err, "%s %s: %s", script, strings.Join(args, " "), out)
	}
	// Whatever happens, leave the brokers running for what follows.
	t.Cleanup(func() { _ = exec.Command(script, "restart").Run() })

	cl := kafkatest.NewCluster(t)
	run := startOutageRun(t, ctx, cl, checkpoint.NewFileStore(t.TempDir()))
	run.produce(200)
	run.waitOutput()
	require.False(t, run.watch.Seen().Seen(), "the job failed before the outage: %s", run.watch.Seen().LastError)
	run.produce(100) // work in flight when the brokers go

	down := time.Now()
	brokers("stop")
	stopped := time.Since(down)
	for time.Since(down) < outage {
		run.wait(time.Second)
	}
	during := run.watch.Seen()
	restarting := time.Now()
	brokers("restart")
	up := time.Now()
	run.produce(100)
	run.waitOutput()
	resumed := time.Since(up)
	require.NoError(t, cl.WaitFor(ctx, "the job healthy again", func(context.Context) (bool, string, error) {
		s := run.job.Stats()
		return s.ConsecutiveFailures == 0, fmt.Sprintf("%d failures in a row, last: %s", s.ConsecutiveFailures, s.LastError), nil
	}))
	healthy := time.Since(up)
	seen := run.stop()

	total := run.requireExactlyOnce()
	require.True(t, during.Seen(), "not ready during the outage")
	for c := range seen.Components {
		assert.Contains(t, []streamkit.Component{streamkit.ComponentInput, streamkit.ComponentOutput}, c,
			"a broker outage is reported as the input's or the output's (last error: %s)", seen.LastError)
	}
	kcatMatches(t, ctx, cl, "out")
	t.Logf("broker outage %v (the stop took %v, the restart %v): not ready from +%v to +%v (%d failures in a row at most; components %v; last error %q); "+
		"all output %v after the brokers were back, healthy after %v; %d records in, %d out, exactly once",
		outage.Round(time.Second), stopped.Round(time.Millisecond), up.Sub(restarting).Round(time.Millisecond), seen.First.Sub(down).Round(time.Millisecond), seen.Last.Sub(down).Round(time.Millisecond),
		seen.MaxConsecutive, componentList(seen.Components), during.LastError, resumed.Round(time.Millisecond),
		healthy.Round(time.Millisecond), run.produced, total)
}

// componentList returns the components of set, sorted.
func componentList(set map[streamkit.Component]bool) []string {
	var s []string
	for c := range set {
		s = append(s, string(c))
	}
	sort.Strings(s)
	return s
}

// kcatMatches has kcat (librdkafka, independent of the harness and of
// sarama) read topic with read_committed and requires it to agree record
// for record with the harness's ReadCommitted. Skipped unless
// STREAMKIT_KCAT names kcat.
func kcatMatches(t *testing.T, ctx context.Context, cl *kafkatest.Cluster, topic string) {
	t.Helper()
	kcat := os.Getenv("STREAMKIT_KCAT")
	if kcat == "" {
		t.Log("independent reader skipped: STREAMKIT_KCAT is not set (path to kcat)")
		return
	}
	recs, err := cl.ReadCommitted(ctx, topic)
	require.NoError(t, err)
	want := make([]string, len(recs))
	for i, r := range recs {
		want[i] = fmt.Sprintf("%d %d %s %s", r.Partition, r.Offset, r.Key, r.Value)
	}
	sort.Strings(want)
	kctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	brokers, name := cl.Direct(topic)
	cmd := exec.CommandContext(kctx, kcat, "-b", strings.Join(brokers, ","), "-C", "-t", name, "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_committed", "-f", `%p %o %k %s\n`)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "kcat: %s", stderr.String())
	var got []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if sc.Text() != "" {
			got = append(got, sc.Text())
		}
	}
	require.NoError(t, sc.Err())
	sort.Strings(got)
	require.Equal(t, want, got, "kcat read_committed vs ReadCommitted")
	t.Logf("kcat: read_committed %d records of %s, the same as ReadCommitted", len(got), topic)
}

// With the brokers gone for good, the job keeps running and reports itself
// not ready, naming the input (or the output, whose commit fails first),
// never an unknown component: the input's consumer errors show in Stats
// while its run has not failed, and the errors that end a run in the
// source carry the input component.
func TestJobNamesInputWhenBrokersGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kafkatest.Start()
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.CreateTopic(ctx, "in", 2))
	require.NoError(t, cl.CreateTopic(ctx, "out", 2))
	job := newCounterJob(t, cl, checkpoint.NewMemoryStore(), streamkit.WithRestartBackoff(50*time.Millisecond, 200*time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	produceKeys(t, ctx, cl, 0, 20)
	_, err = cl.WaitForRecords(ctx, "out", 20)
	require.NoError(t, err)

	watch := jobtest.WatchNotReady(job, 10*time.Millisecond)
	cl.Close()
	// Until a failed run has come from the source: its connection refused.
	for {
		s := job.Stats()
		if s.ConsecutiveFailures >= 2 && s.FailingComponent == streamkit.ComponentInput {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the job ended with its brokers gone: %v", err)
		case <-ctx.Done():
			t.Fatalf("the job never named its input as failing; last: %d failures, %s: %s", s.ConsecutiveFailures, s.FailingComponent, s.LastError)
		case <-time.After(20 * time.Millisecond):
		}
	}
	seen := watch.Stop()
	require.True(t, seen.Seen())
	assert.True(t, seen.Components[streamkit.ComponentInput], "components named: %v", componentList(seen.Components))
	assert.False(t, seen.Components[streamkit.ComponentUnknown], "an unknown component named (last error %s)", seen.LastError)
	cancel()
	<-done
}
