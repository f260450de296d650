package streamkit_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// TestJobSurvivesBrokerKill SIGKILLs every Kafka broker while the counting
// job (internal/testjob) has a transaction open, restarts the brokers on
// their data, and checks that the job's output is still exactly once: each
// key's outputs are k=1 … k=n with nothing lost or doubled, its committed
// offsets cover all the input, and its last checkpoint holds the counts.
// The job is not restarted by the test unless it exits (a supervisor would
// restart it too); how often that happened is reported, with the time from
// the brokers' restart to the first new committed output. On a cluster of
// three or more brokers (scripts/kafka.sh start-cluster) a second subtest
// kills broker 1 alone: the job must go on committing while it is down.
//
// It needs a real cluster it may kill: STREAMKIT_KAFKA_BROKERS, and
// STREAMKIT_KAFKA_SCRIPT, the path of scripts/kafka.sh (with the KAFKA_ROOT
// the brokers were started with). Nothing else may use the brokers
// meanwhile, so CI runs it on its own, after the other tests.
func TestJobSurvivesBrokerKill(t *testing.T) {
	script := os.Getenv("STREAMKIT_KAFKA_SCRIPT")
	if os.Getenv(kafkatest.BrokersEnv) == "" || script == "" {
		t.Skip("needs a real broker it may kill: set STREAMKIT_KAFKA_BROKERS and STREAMKIT_KAFKA_SCRIPT (scripts/kafka.sh)")
	}
	bin := buildTestJob(t)
	t.Run("AllBrokers", func(t *testing.T) { testBrokerKill(t, bin, script, fixedBroker("")) })
	if len(strings.Split(os.Getenv(kafkatest.BrokersEnv), ",")) >= 3 {
		t.Run("OneBroker", func(t *testing.T) { testBrokerKill(t, bin, script, fixedBroker("1")) })
	}
}

// brokerPicker chooses, just before the kill, the node a broker kill test
// kills ("" for every node) and says why it is that one.
type brokerPicker func(env *killEnv) (node, why string)

// fixedBroker always picks node ("" for every node).
func fixedBroker(node string) brokerPicker {
	return func(*killEnv) (string, string) {
		if node == "" {
			return "", "every broker"
		}
		return node, "broker " + node
	}
}

// testBrokerKill kills the node pick chooses (every node if "")
// mid-transaction; see TestJobSurvivesBrokerKill.
func testBrokerKill(t *testing.T, bin, script string, pick brokerPicker) {
	env := newKillEnv(t, 0, bin)
	require.True(t, env.cl.Real())
	ctx := env.ctx
	broker := func(args ...string) time.Duration {
		began := time.Now()
		out, err := exec.CommandContext(ctx, script, args...).CombinedOutput()
		require.NoError(t, err, "%s %s: %s", script, strings.Join(args, " "), out)
		return time.Since(began)
	}

	// The job runs as one static instance with a 5 s transaction timeout.
	runs := 0
	start := func() *jobtest.Child {
		c, err := jobtest.Start(env.command("solo", 0, "5s")(runs), jobtest.Options{Name: "killjob-broker", Run: runs, Output: env.logWriter("solo")})
		require.NoError(t, err)
		runs++
		env.track(c)
		return c
	}
	child := start()
	env.produce()
	_, err := env.cl.WaitForRecords(ctx, "out", 200)
	require.NoError(t, err, "the job never committed output:\n%s", child.Output())

	// Wait for a transaction holding records: a read_uncommitted reader
	// sees more than a read_committed one. (The transaction may also be
	// committing already, its markers not yet written: then the restarted
	// broker completes the commit.) Then stop the input, which the
	// harness's producer could not write while the brokers are down, and
	// kill at once, while the job still has input to work through.
	var before, open int
	require.NoError(t, env.cl.WaitFor(ctx, "a transaction holding output records", func(ctx context.Context) (bool, string, error) {
		unc, err := env.cl.ReadUncommitted(ctx, "out")
		if err != nil {
			return false, "", err
		}
		com, err := env.cl.ReadCommitted(ctx, "out")
		if err != nil {
			return false, "", err
		}
		before, open = len(com), len(unc)-len(com)
		return open > 0 && !child.Exited(), fmt.Sprintf("%d committed, %d uncommitted", len(com), len(unc)), nil
	}))
	close(env.stopProd)
	require.NoError(t, <-env.prodDone)

	// Whatever happens next, leave the brokers running for what follows.
	t.Cleanup(func() { _ = exec.Command(script, "restart").Run() })
	node, why := pick(env)
	broker("kill", node)
	killedAt := time.Now()
	t.Logf("killed %s: broker(s) %q with %d output records committed and %d more seen by read_uncommitted (the open transaction)", why, node, before, open)
	var restartTook time.Duration
	restarted := killedAt
	if node == "" {
		restartTook = broker("restart")
		restarted = time.Now()
	}

	// Resumed: new committed output. The job may have given up while the
	// brokers were down; then it is started again, as a supervisor would.
	require.NoError(t, env.cl.WaitFor(ctx, "committed output past the kill", func(ctx context.Context) (bool, string, error) {
		if child.Exited() {
			t.Logf("job run %d exited during the outage: %v", child.Run(), child.Err())
			child = start()
		}
		out, err := env.cl.ReadCommitted(ctx, "out")
		if err != nil {
			return false, err.Error(), nil
		}
		return len(out) > before, fmt.Sprintf("%d committed", len(out)), nil
	}))
	resumedAt := time.Now()
	if node != "" {
		restartTook = broker("restart", node)
	}

	// More input after the outage, then drain and verify.
	env.mu.Lock()
	had := env.produced
	env.mu.Unlock()
	env.produce()
	require.NoError(t, env.cl.WaitFor(ctx, "more input after the outage", func(context.Context) (bool, string, error) {
		env.mu.Lock()
		defer env.mu.Unlock()
		return env.produced >= had+300, fmt.Sprintf("%d records", env.produced-had), nil
	}))
	env.finish(child)
	res := env.verify()
	env.checkKcat(res)
	resumed := fmt.Sprintf("first new commit %v after the kill", resumedAt.Sub(killedAt).Round(time.Millisecond))
	if node == "" {
		resumed += fmt.Sprintf(" (%v after the brokers were back)", resumedAt.Sub(restarted).Round(time.Millisecond))
	}
	t.Logf("broker kill %q (%s): %d input records, %d outputs committed (exactly once per key), %d aborted output records; "+
		"%s; restart took %v; job runs %d",
		node, why, res.inputs, res.outputs, res.aborted, resumed, restartTook.Round(time.Millisecond), runs)
}
