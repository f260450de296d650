package streamkit_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// TestJobLongOutageLosesNothing is the FLINK-16419 scenario: a job dies while
// its Kafka transaction is open with records in it, stays down for longer than
// the broker's transaction.max.timeout.ms, so that the broker aborts that
// transaction, and restarts. Flink's exactly-once sink keeps the pre-crash
// transaction in its checkpoint and tries to commit it on restore; the broker
// has aborted it by then, and its records are lost (or the job fails, unless
// "ignore failures after transaction timeout" drops them silently).
//
// streamkit cannot lose here because no transaction outlives the process:
// a checkpoint's records, its input offsets and its checkpoint ID are
// committed together in one transaction, or not at all. The transaction
// the dead process left open holds only output of records whose offsets it
// never committed. The restarted job claims the task's transactional ID
// (which aborts whatever is still open — here the broker already has),
// reads the committed offsets (the commit point), restores the checkpoint
// they name and reads the input again from there: every record of the lost
// transaction is processed again, once, from the state it was committed
// with. So the read_committed output holds every expected record exactly
// once, however long the outage.
func TestJobLongOutageLosesNothing(t *testing.T) {
	const (
		maxTxn     = 5 * time.Second // the broker's transaction.max.timeout.ms
		txnTimeout = 4 * time.Second // what the job's producer asks for
		job        = "outage"
		stallValue = "stall"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bin := buildTestJob(t)
	cl := kafkatest.NewCluster(t, kafkatest.TransactionMaxTimeout(maxTxn))
	require.NoError(t, cl.CreateTopic(ctx, "in", 2))
	require.NoError(t, cl.CreateTopic(ctx, "out", 2))
	state := t.TempDir()

	var input []kafkatest.Record
	produce := func(n int, last string) {
		var recs []kafkatest.Record
		for i := 0; i < n; i++ {
			recs = append(recs, kafkatest.Record{Key: []byte("k" + strconv.Itoa(len(input)%6)), Value: []byte("x")})
			input = append(input, recs[len(recs)-1])
		}
		if last != "" {
			recs = append(recs, kafkatest.Record{Key: []byte("k1"), Value: []byte(last)})
			input = append(input, recs[len(recs)-1])
		}
		require.NoError(t, cl.ProduceKeyed(ctx, "in", recs...))
	}
	start := func(run int, extra ...string) *jobtest.Child {
		args := append([]string{"-brokers", strings.Join(cl.Addrs(), ","), "-topics", "in", "-out", "out",
			"-job", job, "-state", state, "-interval", "300ms", "-txn-timeout", txnTimeout.String(), "-session-timeout", "6s", "-heartbeat", "2s"}, extra...)
		c, err := jobtest.Start(exec.Command(bin, args...), jobtest.Options{Name: "outagejob", Run: run})
		require.NoError(t, err)
		t.Cleanup(func() {
			if !c.Exited() {
				_ = c.Kill()
			}
		})
		return c
	}
	offsets := newOffsetProbe(t, cl, "out", 2)

	// Run 1: commits a first batch, then holds a transaction open.
	produce(60, "")
	first := start(0, "-stall", stallValue)
	_, err := cl.WaitForRecords(ctx, "out", 60)
	require.NoError(t, err, "first run: %s", first.Output())
	produce(30, stallValue)
	require.NoError(t, first.WaitOutput(ctx, "testjob: stalled "))
	stalled := stalledOutput(t, first.Output())

	lso, hwm := offsets.read()
	require.NotEqual(t, hwm, lso, "a transaction is open: the last stable offset lags the high watermark")
	committed, err := cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.NotContains(t, outageValues(committed), stalled)
	uncommitted, err := cl.ReadUncommitted(ctx, "out")
	require.NoError(t, err)
	require.Contains(t, outageValues(uncommitted), stalled, "the open transaction holds records")
	inTxn := len(uncommitted) - len(committed)
	t.Logf("killing the job with %d records in its open transaction (%d committed)", inTxn, len(committed))

	require.NoError(t, first.Kill())
	killed := time.Now()

	// The outage: the broker aborts the dead producer's transaction once
	// its timeout has passed (the stable offset catches up with the high
	// watermark), and the job stays down longer than the broker's maximum.
	require.NoError(t, cl.WaitFor(ctx, "the broker aborted the dead job's transaction", func(ctx context.Context) (bool, string, error) {
		lso, hwm := offsets.read()
		return outageEqual(lso, hwm), "stable " + outageInts(lso) + " high " + outageInts(hwm), nil
	}))
	if d := maxTxn + 500*time.Millisecond - time.Since(killed); d > 0 {
		time.Sleep(d) // the outage itself, not a synchronisation
	}
	committed, err = cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.NotContains(t, outageValues(committed), stalled, "the broker aborted the transaction: its records are not visible")
	produce(30, "") // input that arrived during the outage

	// Run 2: restarts from the commit point and catches up.
	second := start(1)
	_, err = cl.WaitForRecords(ctx, "out", len(input))
	require.NoError(t, err, "second run: %s", second.Output())
	require.NoError(t, second.Stop(ctx))

	out, err := cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	want := map[string]int{}
	for _, r := range input {
		want[string(r.Key)]++
	}
	got := map[string]int{}
	seen := map[string]bool{}
	for _, r := range out {
		v := string(r.Value)
		require.False(t, seen[v], "duplicate output %q", v)
		seen[v] = true
		k, n, ok := strings.Cut(v, "=")
		require.True(t, ok, "output %q", v)
		require.Equal(t, k, string(r.Key))
		got[k]++
		c, err := strconv.Atoi(n)
		require.NoError(t, err)
		require.LessOrEqual(t, c, want[k], "output %q counts beyond the input", v)
	}
	// Distinct "k=1" … "k=n" for every key with n its number of input
	// records: nothing lost, nothing duplicated, state restored exactly.
	assert.Equal(t, want, got)
	assert.Len(t, out, len(input))
	assert.Contains(t, outageValues(out), stalled, "the record whose output was in the aborted transaction was processed again")

	offs, err := cl.CommittedOffsets(ctx, job)
	require.NoError(t, err)
	in, err := cl.ReadCommitted(ctx, "in")
	require.NoError(t, err)
	end := map[int32]int64{}
	for _, r := range in {
		end[r.Partition] = r.Offset + 1
	}
	for p, off := range end {
		co := offs[kafkatest.TopicPartition{Topic: "in", Partition: p}]
		assert.Equal(t, off, co.Offset, "committed offset of in/%d", p)
		assert.True(t, strings.HasPrefix(co.Metadata, "streamkit:chk="), "commit point metadata %q", co.Metadata)
	}
}

// stalledOutput returns the output value the child printed when it stalled.
func stalledOutput(t *testing.T, output string) string {
	t.Helper()
	_, rest, ok := strings.Cut(output, "testjob: stalled ")
	require.True(t, ok, "no stall line in %s", output)
	v, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(v)
}

// outageValues returns the records' values as strings.
func outageValues(recs []kafkatest.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// offsetProbe reads a topic's last stable offsets (what read_committed
// consumers may read up to) and high watermarks with ListOffsets: they
// differ exactly while a transaction is open on a partition.
type offsetProbe struct {
	t      *testing.T
	client sarama.Client
	topic  string
	parts  int32
}

func newOffsetProbe(t *testing.T, cl *kafkatest.Cluster, topic string, parts int32) *offsetProbe {
	t.Helper()
	client, err := sarama.NewClient(cl.Addrs(), cl.SaramaConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return &offsetProbe{t: t, client: client, topic: topic, parts: parts}
}

func (p *offsetProbe) read() (stable, high []int64) {
	p.t.Helper()
	for part := int32(0); part < p.parts; part++ {
		broker, err := p.client.Leader(p.topic, part)
		require.NoError(p.t, err)
		for _, iso := range []sarama.IsolationLevel{sarama.ReadCommitted, sarama.ReadUncommitted} {
			req := sarama.NewOffsetRequest(p.client.Config().Version)
			req.IsolationLevel = iso
			req.AddBlock(p.topic, part, sarama.OffsetNewest, 1)
			resp, err := broker.GetAvailableOffsets(req)
			require.NoError(p.t, err)
			b := resp.GetBlock(p.topic, part)
			require.NotNil(p.t, b)
			require.ErrorIs(p.t, b.Err, sarama.ErrNoError)
			off := b.Offset
			if len(b.Offsets) > 0 { // a version 0 answer
				off = b.Offsets[0]
			}
			if iso == sarama.ReadCommitted {
				stable = append(stable, off)
			} else {
				high = append(high, off)
			}
		}
	}
	return stable, high
}

func outageEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func outageInts(a []int64) string {
	s := make([]string, len(a))
	for i, v := range a {
		s[i] = strconv.FormatInt(v, 10)
	}
	return "[" + strings.Join(s, " ") + "]"
}
