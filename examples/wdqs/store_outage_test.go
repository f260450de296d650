package wdqs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// The store outage test proves that the per-replica consumer rides out its
// SPARQL store going away for longer than many checkpoint intervals: an
// in-process consumer (consumer.New, Run) writes the generated rdf_change
// stream of the kill test (consumer_kill_test.go) into an Oxigraph of its
// own, which is stopped for STREAMKIT_OUTAGE (a Go duration, default 90 s,
// at least 20 s longer than the SPARQL client's retries of one request, 25
// s) while the stream keeps arriving, then started again with its data (the
// shim writes the store to a file on stop and loads it on start, as a real
// store keeps its disk). It asserts that
//
//   - the job never ends during the outage, and reports a failing
//     component during it, the output and nothing else
//     (Stats.FailingComponent);
//   - after the restart it commits up to the end of the topic and becomes
//     healthy (Stats.ConsecutiveFailures 0) by itself;
//   - the store's data graph then equals the reference (every change applied
//     once, in order, to an in-memory graph; orphaned shared nodes dropped
//     on both sides, as in the kill test) and every entity's schema:version
//     is its last revision: nothing lost, nothing applied twice.
//
// It logs the not-ready window (first and last failing sample, relative to
// the stop) and how long after the restart the store caught up.
//
// It needs STREAMKIT_OXIGRAPH_URL, the sign that scripts/oxigraph is set up
// (the test starts its own shim with scripts/oxigraph/run.sh on a free port,
// leaving the shared one alone).
func TestConsumerRidesOutStoreOutageOxigraph(t *testing.T) {
	if os.Getenv("STREAMKIT_OXIGRAPH_URL") == "" {
		t.Skip("STREAMKIT_OXIGRAPH_URL is not set (see scripts/oxigraph/run.sh)")
	}
	outage := outageFor(t)
	// A write fails the job only once the SPARQL client has spent its
	// retries (full-jitter waits, at most the sum of the capped waits); the
	// outage must outlast that by a few checkpoint cycles for the job to
	// report it.
	p := sparql.DefaultRetryPolicy
	var retries time.Duration
	for i := range p.MaxAttempts - 1 {
		retries += min(p.MaxDelay, p.BaseDelay<<i)
	}
	require.GreaterOrEqual(t, outage, retries+20*time.Second,
		"STREAMKIT_OUTAGE=%v: the outage must outlast the SPARQL client's retries (up to %v) by 20 s", outage, retries)
	ctx, cancel := context.WithTimeout(context.Background(), outage+3*time.Minute)
	defer cancel()
	seed := rand.Uint64() | 1
	if s := os.Getenv("STREAMKIT_KILL_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "STREAMKIT_KILL_SEED")
	}
	t.Logf("seed %d (STREAMKIT_KILL_SEED to repeat), outage %v", seed, outage)

	ox := startOwnOxigraph(t)
	client, err := sparql.NewClient(ox.endpoint, sparql.WithRequestTimeout(10*time.Second))
	require.NoError(t, err)
	dataGraph, commitGraph := "http://streamkit.test/store-outage/data", "http://streamkit.test/store-outage/commit"
	builder, err := sparql.NewUpdateBuilder(rdfdiff.WikidataScheme(), sparql.WithCommitGraph(commitGraph))
	require.NoError(t, err)
	reader, err := sparql.NewSPARQL(client, builder)
	require.NoError(t, err)

	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, ckTopic, 1))
	c, err := consumer.New(consumer.Config{
		JobName: "wdqs-store-outage", Brokers: cl.Addrs(), Topics: []string{ckTopic}, Group: "wdqs-store-outage",
		Sarama: cl.SaramaConfig(), StoreURL: ox.endpoint, DataGraph: dataGraph, CommitGraph: commitGraph,
		LagMarker: "-", RequestTimeout: 10 * time.Second,
		CheckpointStore: checkpoint.NewFileStore(t.TempDir()), CheckpointInterval: 200 * time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		JobOptions: []streamkit.Option{streamkit.WithRestartBackoff(200*time.Millisecond, 5*time.Second)},
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	watch := jobtest.WatchNotReady(c.Job(), 0)

	gen := newCKStream(seed)
	ref := graph.NewGraph()
	var produced int64
	changes := 0
	produce := func(n int) {
		t.Helper()
		for range n {
			ch := gen.change()
			changes++
			msgs, err := ckEncode(ch, []int{600, 2_000, rdfdiff.DefaultSoftMaxChars}[gen.r.IntN(3)])
			require.NoError(t, err)
			for _, m := range msgs {
				require.NoError(t, cl.Produce(ctx, ckTopic, kafkatest.Record{Key: []byte(ch.EntityID), Value: m}))
			}
			produced += int64(len(msgs))
			acc := rdfdiff.NewAccumulator()
			require.NoError(t, acc.Accumulate(ch))
			require.NoError(t, ref.Apply(ctx, acc.Result(), nil))
		}
	}
	committed := func() {
		t.Helper()
		want := produced
		require.NoError(t, cl.WaitFor(ctx, fmt.Sprintf("commit point at offset %d", want), func(ctx context.Context) (bool, string, error) {
			select {
			case err := <-done:
				return false, "", fmt.Errorf("the job ended: %w", err)
			default:
			}
			cp, err := reader.ReadCommitPoint(ctx, source.Partitions{ckTopic: {0}})
			if err != nil {
				return false, err.Error(), nil
			}
			return len(cp.Positions) == 1 && cp.Positions[source.TopicPartition{Topic: ckTopic}] == want, fmt.Sprintf("%+v", cp.Positions), nil
		}))
	}

	produce(100)
	committed()
	require.Zero(t, c.Job().Stats().ConsecutiveFailures, "failing before the outage: %s", c.Job().Stats().LastError)

	ox.stop(t)
	down := time.Now()
	for time.Since(down) < outage { // input keeps arriving during the outage
		produce(10)
		select {
		case err := <-done:
			t.Fatalf("the job ended during the outage: %v", err)
		case <-time.After(outage / 10):
		}
	}
	during := c.Job().Stats()
	ox.start(t)
	up := time.Now()
	produce(20)
	committed()
	resumed := time.Since(up)
	require.Eventually(t, func() bool { return c.Job().Stats().ConsecutiveFailures == 0 }, time.Minute, 50*time.Millisecond,
		"healthy after the store came back")
	seen := watch.Stop()
	require.NoError(t, c.Job().Stop(ctx))
	require.NoError(t, <-done)

	// Not ready during the outage, with the output named.
	assert.Positive(t, during.ConsecutiveFailures, "not failing at the end of the outage")
	assert.Equal(t, streamkit.ComponentOutput, during.FailingComponent, "failing component at the end of the outage (%s)", during.LastError)
	assert.Equal(t, map[streamkit.Component]bool{streamkit.ComponentOutput: true}, seen.Components)
	require.True(t, seen.Seen(), "not ready during the outage")
	first, last, maxFailures := seen.First.Sub(down), seen.Last.Sub(down), seen.MaxConsecutive

	// The store equals the reference: nothing lost, nothing twice.
	got := ckDumpGraph(t, ctx, client, dataGraph)
	ckRequireReference(t, got, ref.Triples(), gen)
	t.Logf("store outage %v: not ready from +%v to +%v after the stop (%d failed runs in a row at most); "+
		"the store caught up %v after its restart; %d changes %v in %d records, %d triples in the store, %d restarts; last error of the outage: %s",
		outage.Round(time.Second), first.Round(time.Millisecond), last.Round(time.Millisecond), maxFailures,
		resumed.Round(time.Millisecond), changes, gen.ops, produced, len(got), c.Job().Stats().Restarts, during.LastError)
}

// ckRequireReference checks a store's data graph (got, sorted) against the
// reference graph's triples, without orphaned shared nodes, and that each of
// gen's entities has its last revision as its only schema:version (none
// once deleted). norm, when given, maps both sides to the terms the store
// can tell apart.
func ckRequireReference(t *testing.T, got, want []rdfdiff.Triple, gen *ckStream, norm ...func([]rdfdiff.Triple) []rdfdiff.Triple) {
	t.Helper()
	wd := rdfdiff.WikidataScheme()
	gotR, wantR := ckWithoutOrphans(wd, got), ckWithoutOrphans(wd, want)
	gotN, wantN := gotR, wantR
	for _, f := range norm {
		gotN, wantN = f(gotN), f(wantN)
	}
	if len(norm) > 0 {
		// Report the differing triples as the store and the reference
		// hold them, not in normalised form.
		gotN, wantN = ckNormalisedDiff(gotR, gotN, wantR, wantN)
	}
	if !slices.Equal(wantN, gotN) {
		ckReportDiff(t, wantN, gotN)
		t.FailNow()
	}
	versions := make(map[string]string)
	for _, tr := range got {
		if tr.P.IsIRIEqual(ckSchemaVersion.Value()) {
			id, ok := wd.EntityID(tr.S.Value())
			require.True(t, ok, "version of a non-entity: %s", tr)
			_, dup := versions[id]
			require.False(t, dup, "%s has two versions", id)
			versions[id] = tr.O.Value()
		}
	}
	for _, e := range gen.ents {
		if e.cur == nil {
			assert.NotContains(t, versions, e.id, "deleted entity %s has a version in the store", e.id)
			continue
		}
		assert.Equal(t, strconv.FormatInt(e.rev, 10), versions[e.id], "schema:version of %s", e.id)
	}
}

// ckNormalisedDiff returns the triples of two sides whose normalised forms
// (gotN[i] is gotR[i] normalised, likewise for want) the other side lacks, as
// the sides hold them, sorted: both empty when the normalised sides are equal
// as sets.
func ckNormalisedDiff(gotR, gotN, wantR, wantN []rdfdiff.Triple) (got, want []rdfdiff.Triple) {
	set := func(ts []rdfdiff.Triple) map[rdfdiff.Triple]bool {
		m := make(map[rdfdiff.Triple]bool, len(ts))
		for _, tr := range ts {
			m[tr] = true
		}
		return m
	}
	gs, ws := set(gotN), set(wantN)
	for i, tr := range gotN {
		if !ws[tr] {
			got = append(got, gotR[i])
		}
	}
	for i, tr := range wantN {
		if !gs[tr] {
			want = append(want, wantR[i])
		}
	}
	rdfdiff.SortTriples(got)
	rdfdiff.SortTriples(want)
	return got, want
}

// ownOxigraph is an Oxigraph shim of the test's own (scripts/oxigraph/run.sh
// on a free port, its data kept across stop and start).
type ownOxigraph struct {
	endpoint string
	env      []string
}

// startOwnOxigraph starts an Oxigraph shim for t alone, stopped when t ends.
func startOwnOxigraph(t *testing.T) *ownOxigraph {
	t.Helper()
	port := freePort(t)
	run := t.TempDir()
	o := &ownOxigraph{
		endpoint: fmt.Sprintf("http://127.0.0.1:%d/sparql", port),
		env: append(os.Environ(), "OXIGRAPH_PORT="+strconv.Itoa(port), "OXIGRAPH_RUN="+run,
			"OXIGRAPH_DUMP="+filepath.Join(run, "store.nq")),
	}
	o.start(t)
	t.Cleanup(func() { o.stop(t) })
	return o
}

func (o *ownOxigraph) script(t *testing.T, cmd string) {
	t.Helper()
	c := exec.Command(filepath.Join("..", "..", "scripts", "oxigraph", "run.sh"), cmd)
	c.Env = o.env
	out, err := c.CombinedOutput()
	require.NoError(t, err, "scripts/oxigraph/run.sh %s (run setup first): %s", cmd, out)
}

func (o *ownOxigraph) start(t *testing.T) { t.Helper(); o.script(t, "start") }
func (o *ownOxigraph) stop(t *testing.T)  { t.Helper(); o.script(t, "stop") }

// outageFor is how long the outage tests keep a dependency down: 90 s
// unless STREAMKIT_OUTAGE says otherwise (a Go duration).
func outageFor(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("STREAMKIT_OUTAGE")
	if s == "" {
		return 90 * time.Second
	}
	d, err := time.ParseDuration(s)
	require.NoError(t, err, "STREAMKIT_OUTAGE")
	return d
}
