package wdqs_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql/sparqltest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// The chaos soak's stream: chaosEntities items edited round robin, one event
// every chaosPace, for as long as the soak lasts.
const (
	chaosEntities = 12
	chaosPace     = 60 * time.Millisecond
	chaosInput    = "eqiad.mediawiki.page_change.v1"
	chaosOutput   = "eqiad.rdf-streaming-updater.mutation"
	chaosPoison   = "POISON-"
)

// TestChaosSoak runs the WDQS pipeline as it runs in production —
// wdqs-updater and wdqs-consumer as child processes, checkpoints in a real
// Swift, the updater's output in a real Kafka broker, the consumer's store a
// real Oxigraph — while a driver, for STREAMKIT_CHAOS (a Go duration), does
// one random thing after another: SIGKILL the updater or the consumer
// (restarted after a random pause, as Kubernetes would), take Swift's proxy,
// the store or the broker down for a random while, or write a poison record
// of a random size (up to 3 MiB) into the updater's input or into the
// consumer's input. An EntityData server answers every revision, and a
// stream of edits keeps flowing meanwhile (paused only while the broker is
// down, so that no edit is written twice).
//
// At the end, with every service back, it asserts that
//
//   - no child ever exited unless the driver killed it (outages are ridden
//     out, not fatal);
//   - the updater's output holds every (entity, revision) of the stream
//     exactly once, in order, and nothing else but the poison written into
//     it; the lapsed, inconsistency and fetch-failure topics are empty;
//   - every poison record is in its job's dead-letter topic once or more,
//     its value's start kept, and nothing else is;
//   - the store equals a fresh import of each entity's last revision (the
//     munged EntityData document), and every entity's schema:version is its
//     last revision.
//
// It reports what it did and the counts. `make chaos-soak` runs it for 30
// minutes; CI runs a short one, alone, after the other tests: it takes the
// shared Swift's proxy down. It needs STREAMKIT_KAFKA_BROKERS and
// STREAMKIT_KAFKA_SCRIPT (a broker it may kill, as the broker kill test),
// the Swift SAIO variables, and STREAMKIT_OXIGRAPH_URL (it starts an
// Oxigraph of its own). STREAMKIT_KILL_SEED repeats a run's choices.
func TestChaosSoak(t *testing.T) {
	s := os.Getenv("STREAMKIT_CHAOS")
	if s == "" {
		t.Skip("STREAMKIT_CHAOS not set: the chaos soak takes shared services down and runs alone")
	}
	soak, err := time.ParseDuration(s)
	require.NoError(t, err, "STREAMKIT_CHAOS")
	script := os.Getenv("STREAMKIT_KAFKA_SCRIPT")
	if os.Getenv(kafkatest.BrokersEnv) == "" || script == "" {
		t.Skip("needs a real broker it may kill: set STREAMKIT_KAFKA_BROKERS and STREAMKIT_KAFKA_SCRIPT (scripts/kafka.sh)")
	}
	if os.Getenv("STREAMKIT_OXIGRAPH_URL") == "" {
		t.Skip("STREAMKIT_OXIGRAPH_URL is not set (see scripts/oxigraph/run.sh)")
	}
	saio := checkpointtest.SAIOFromEnv(t)
	conn := checkpointtest.RealSwiftConnection(t)
	updContainer, consContainer := checkpointtest.TempContainer(t, conn), checkpointtest.TempContainer(t, conn)
	seed := rand.Uint64() | 1
	if s := os.Getenv("STREAMKIT_KILL_SEED"); s != "" {
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "STREAMKIT_KILL_SEED")
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t.Logf("seed %d (STREAMKIT_KILL_SEED to repeat), soak %v", seed, soak)
	ctx, cancel := context.WithTimeout(context.Background(), soak+8*time.Minute)
	defer cancel()
	began := time.Now()

	updBin, consBin := buildDrillBinary(t, "wdqs-updater", "chaos"), buildDrillBinary(t, "wdqs-consumer", "chaos")
	ox := startOwnOxigraph(t)
	base := fmt.Sprintf("http://streamkit.test/chaos/%d", time.Now().UnixNano())
	dataGraph, commitGraph := base+"/data", base+"/commit"
	client, err := sparql.NewClient(ox.endpoint, sparql.WithRequestTimeout(30*time.Second))
	require.NoError(t, err)

	cl := kafkatest.NewCluster(t)
	require.True(t, cl.Real(), "the chaos soak kills the broker: it needs a real one")
	sides := []string{"lapsed", "inconsistent", "fetch-failure"}
	for _, topic := range append([]string{chaosInput, chaosOutput, "dlq", "consumer-dlq", "probe"}, sides...) {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	srv := chaosEntityServer(t)
	tm := loadDrillTemplates(t)
	swiftArgs := func(container string) []string {
		return []string{"-swift-auth-url", os.Getenv(checkpointtest.EnvSwiftAuthURL),
			"-swift-user", os.Getenv("STREAMKIT_SWIFT_USER"), "-swift-container", container}
	}
	failArgs := []string{"-restart-backoff", "200ms", "-max-restart-backoff", "5s", "-sidecar-addr", ""}
	upd := &chaosChild{name: "wdqs-updater", cmd: func() *exec.Cmd {
		args := append([]string{
			"-brokers", cl.Addrs()[0], "-topics", chaosInput, "-output-topic", chaosOutput,
			"-hostname", drillDomain, "-entitydata-url", srv.URL + updater.EntityDataPath,
			"-lapsed-topic", "lapsed", "-inconsistency-topic", "inconsistent", "-fetch-failure-topic", "fetch-failure",
			"-dlq-topic", "dlq", "-checkpoint-interval", "1s",
			"-reorder-window", "1s", "-max-lateness", "1s", "-idleness", "2s",
			"-fetch-attempts", "3", "-fetch-retry-delay", "100ms",
		}, swiftArgs(updContainer)...)
		return exec.Command(updBin, append(args, failArgs...)...)
	}}
	cons := &chaosChild{name: "wdqs-consumer", cmd: func() *exec.Cmd {
		args := append([]string{
			"-brokers", cl.Addrs()[0], "-topics", chaosOutput, "-group", "chaos-replica",
			"-sparql-url", ox.endpoint, "-dialect", "oxigraph", "-data-graph", dataGraph, "-commit-graph", commitGraph,
			"-lag-marker", "-", "-checkpoint-interval", "1s", "-request-timeout", "10s", "-dlq-topic", "consumer-dlq",
		}, swiftArgs(consContainer)...)
		return exec.Command(consBin, append(args, failArgs...)...)
	}}
	for _, c := range []*chaosChild{upd, cons} {
		c.logs = jobtest.LogFile(t, c.name)
		go c.supervise(ctx)
		t.Cleanup(c.abandon)
	}

	// The stream, and events of another wiki that keep the event-time
	// watermark moving once the stream ends. The broker faults hold gate
	// while the broker is down.
	var gate sync.RWMutex
	produce := func(topic string, rec kafkatest.Record) error {
		gate.RLock()
		defer gate.RUnlock()
		return cl.Produce(ctx, topic, rec)
	}
	stream := &chaosStream{revs: make(map[string]int64)}
	streamCtx, stopStream := context.WithCancel(ctx)
	streamDone := make(chan error, 1)
	go func() { streamDone <- stream.run(streamCtx, tm, produce) }()
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	defer stopHeartbeat()
	var heartbeats atomic.Int64
	go func() {
		for hbCtx.Err() == nil {
			if rec, err := tm.event("edit", "Q1", 1, 0, time.Now(), "other.wiki.org"); err == nil {
				if produce(chaosInput, rec) == nil {
					heartbeats.Add(1)
				}
			}
			select {
			case <-time.After(250 * time.Millisecond):
			case <-hbCtx.Done():
			}
		}
	}()

	// The driver.
	report := map[string]int{}
	downFor := map[string]time.Duration{}
	var poisons [2][]string // by target: 0 the updater's input, 1 the consumer's
	var poisonBytes int64
	maxDown := min(30*time.Second, max(5*time.Second, soak/6))
	outage := func() time.Duration { return 2*time.Second + time.Duration(rng.Int64N(int64(maxDown-2*time.Second)+1)) }
	kafka := func(args ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, script, args...).CombinedOutput()
		require.NoError(t, err, "%s %s: %s", script, strings.Join(args, " "), out)
	}
	t.Cleanup(func() { _ = exec.Command(script, "restart").Run() })
	for time.Since(began) < soak {
		select {
		case err := <-streamDone:
			t.Fatalf("the stream stopped: %v", err)
		case <-time.After(time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))):
		}
		switch what := rng.IntN(8); what {
		case 0, 1:
			c := []*chaosChild{upd, cons}[what]
			if c.kill(time.Duration(rng.Int64N(int64(3 * time.Second)))) {
				report["kill "+c.name]++
			}
		case 2:
			d := outage()
			saio.StopProxy(t)
			time.Sleep(d)
			saio.StartProxy(t)
			report["swift proxy down"]++
			downFor["swift proxy"] += d
		case 3:
			d := outage()
			ox.stop(t)
			time.Sleep(d)
			ox.start(t)
			report["store down"]++
			downFor["store"] += d
		case 4:
			d := outage()
			gate.Lock()
			kafka("kill")
			time.Sleep(d)
			kafka("restart")
			// The stream resumes once a write gets through again: a write
			// that failed half-way could land twice.
			require.NoError(t, cl.WaitFor(ctx, "the broker taking writes", func(ctx context.Context) (bool, string, error) {
				pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
				defer pcancel()
				err := cl.Produce(pctx, "probe", kafkatest.Record{Value: []byte("probe")})
				return err == nil, fmt.Sprint(err), nil
			}))
			gate.Unlock()
			report["broker down"]++
			downFor["broker"] += d
		default:
			target := rng.IntN(2)
			size := []int{64, 4 << 10, 256 << 10, 1<<20 + 17, 3 << 20}[rng.IntN(5)]
			id := fmt.Sprintf("%s%d-%d|", chaosPoison, target, len(poisons[target]))
			value := make([]byte, size)
			for i := range value {
				value[i] = byte(rng.UintN(256))
			}
			copy(value, id)
			topic := []string{chaosInput, chaosOutput}[target]
			require.NoError(t, produce(topic, kafkatest.Record{Key: []byte(id), Value: value}))
			poisons[target] = append(poisons[target], id)
			poisonBytes += int64(size)
			report["poison into "+topic]++
		}
	}
	chaosEnd := time.Now()

	// Calm: every service is up. The stream ends; the pipeline must catch
	// up on its own.
	stopStream()
	require.NoError(t, <-streamDone)
	final := stream.final()
	require.NoError(t, cl.WaitFor(ctx, "the store at every entity's last revision", func(ctx context.Context) (bool, string, error) {
		got, err := chaosVersions(ctx, client, dataGraph)
		if err != nil {
			return false, err.Error(), nil
		}
		behind := 0
		for id, rev := range final {
			if got[id] != rev {
				behind++
			}
		}
		return behind == 0, fmt.Sprintf("%d of %d entities behind", behind, len(final)), nil
	}), "updater:\n%s\nconsumer:\n%s", upd.output(), cons.output())
	caughtUp := time.Since(chaosEnd)
	stopHeartbeat()
	for _, c := range []*chaosChild{upd, cons} {
		require.NoError(t, c.stop(ctx), "%s:\n%s", c.name, c.output())
	}

	// No child ended on its own.
	for _, c := range []*chaosChild{upd, cons} {
		assert.Zero(t, c.unexpected.Load(), "%s exited without being killed; last: %s", c.name, c.lastUnexpected())
	}

	// The updater's output: each (entity, revision) once, in order.
	out, err := cl.ReadCommitted(ctx, chaosOutput)
	require.NoError(t, err)
	seen, outPoison := requireRevisionsOnce(t, out, final)
	assert.Equal(t, len(poisons[1]), outPoison, "poison records written into the output topic")
	for _, topic := range sides {
		side, err := cl.ReadCommitted(ctx, topic)
		require.NoError(t, err)
		assert.Empty(t, side, topic)
	}

	// Every poison record dead-lettered, and nothing else.
	dls := [2]int{}
	for target, topic := range []string{"dlq", "consumer-dlq"} {
		recs, err := cl.ReadCommitted(ctx, topic)
		require.NoError(t, err)
		dls[target] = len(recs)
		found := map[string]int{}
		for _, r := range recs {
			v := string(r.Value[:min(len(r.Value), 64)])
			i := strings.IndexByte(v, '|')
			if !strings.HasPrefix(v, chaosPoison) || i < 0 {
				t.Errorf("%s holds a record that is not poison: offset %d, %q", topic, r.Offset, v)
				continue
			}
			found[v[:i+1]]++
		}
		for _, id := range poisons[target] {
			assert.Positive(t, found[id], "%s not in %s", id, topic)
			delete(found, id)
		}
		assert.Empty(t, found, "dead letters of no poison in %s", topic)
	}

	// The store is a fresh import of the last revisions.
	want := chaosReference(t, final)
	got := ckDumpGraph(t, ctx, client, dataGraph)
	wd := rdfdiff.WikidataScheme()
	canon := func(ts []rdfdiff.Triple) []rdfdiff.Triple {
		out := make([]rdfdiff.Triple, 0, len(ts))
		for _, tr := range ckWithoutOrphans(wd, ts) {
			out = append(out, sparqltest.StoreCanonical(tr))
		}
		rdfdiff.SortTriples(out)
		return slices.Compact(out)
	}
	if gotC, wantC := canon(got), canon(want); !slices.Equal(gotC, wantC) {
		ckReportDiff(t, wantC, gotC)
		t.Fatal("the store is not a fresh import of the last revisions")
	}

	t.Logf("chaos soak %v (seed %d): %d edits of %d entities (%d output records), %d events of another wiki in between",
		soak, seed, seen, len(final), len(out), heartbeats.Load())
	var kinds []string
	for k, n := range report {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(kinds)
	t.Logf("  faults: %s", strings.Join(kinds, ", "))
	t.Logf("  down in total: swift proxy %v, store %v, broker %v", downFor["swift proxy"].Round(time.Second),
		downFor["store"].Round(time.Second), downFor["broker"].Round(time.Second))
	t.Logf("  poison: %d into the updater's input, %d into the consumer's (%d MiB in all); dead letters: updater %d, consumer %d",
		len(poisons[0]), len(poisons[1]), poisonBytes>>20, dls[0], dls[1])
	t.Logf("  starts: updater %d, consumer %d; the store caught up %v after the last fault; %d triples in the store; whole soak %v",
		upd.starts.Load(), cons.starts.Load(), caughtUp.Round(time.Millisecond), len(got), time.Since(began).Round(time.Second))
}

// chaosStream writes the soak's edits: entity Q100+i%chaosEntities at its
// next revision, one every chaosPace, until its context ends.
type chaosStream struct {
	mu   sync.Mutex
	revs map[string]int64
}

func (s *chaosStream) run(ctx context.Context, tm drillTemplates, produce func(string, kafkatest.Record) error) error {
	for i := 0; ; i++ {
		id := fmt.Sprintf("Q%d", 100+i%chaosEntities)
		s.mu.Lock()
		rev := s.revs[id] + 1
		s.mu.Unlock()
		kind := "edit"
		if rev == 1 {
			kind = "create"
		}
		rec, err := tm.event(kind, id, rev, rev-1, time.Now(), drillDomain)
		if err != nil {
			return err
		}
		if err := produce(chaosInput, rec); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s@%d: %w", id, rev, err)
		}
		s.mu.Lock()
		s.revs[id] = rev
		s.mu.Unlock()
		select {
		case <-time.After(chaosPace):
		case <-ctx.Done():
			return nil
		}
	}
}

// final returns each entity's last revision written.
func (s *chaosStream) final() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.revs))
	for id, rev := range s.revs {
		out[id] = rev
	}
	return out
}

// chaosChild is one program of the soak under a supervisor that starts it
// again whenever it exits, as Kubernetes restarts a container.
type chaosChild struct {
	name string
	cmd  func() *exec.Cmd
	logs io.Writer // nil: none

	mu       sync.Mutex
	cur      *jobtest.Child
	expected bool          // the current run's exit was asked for
	downtime time.Duration // before the next start
	stopping bool
	lastErr  string

	starts, unexpected atomic.Int64
	done               chan struct{}
}

func (c *chaosChild) supervise(ctx context.Context) {
	c.mu.Lock()
	c.done = make(chan struct{})
	c.mu.Unlock()
	defer close(c.done)
	for ctx.Err() == nil {
		ch, err := jobtest.Start(c.cmd(), jobtest.Options{Name: c.name, Run: int(c.starts.Load()), Output: c.logs})
		if err != nil {
			c.mu.Lock()
			c.lastErr = err.Error()
			c.mu.Unlock()
			c.unexpected.Add(1)
			return
		}
		c.starts.Add(1)
		c.mu.Lock()
		c.cur, c.expected, c.downtime = ch, false, time.Second
		c.mu.Unlock()
		select {
		case <-ch.Done():
		case <-ctx.Done():
			_ = ch.Kill()
			return
		}
		c.mu.Lock()
		if !c.expected {
			c.unexpected.Add(1)
			out := ch.Output()
			c.lastErr = fmt.Sprintf("run %d: %v: %s", ch.Run(), ch.Err(), out[max(0, len(out)-2000):])
		}
		stopping, wait := c.stopping, c.downtime
		c.mu.Unlock()
		if stopping {
			return
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
}

// kill SIGKILLs the running program, which the supervisor starts again
// after downtime. It reports false when no program was running (between a
// kill and the next start).
func (c *chaosChild) kill(downtime time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || c.cur.Exited() {
		return false
	}
	c.expected, c.downtime = true, downtime
	_ = c.cur.Kill()
	return true
}

// stop stops the program with SIGTERM (a drain and a last commit) and ends
// its supervision; the program must exit 0.
func (c *chaosChild) stop(ctx context.Context) error {
	c.mu.Lock()
	c.stopping, c.expected = true, true
	ch := c.cur
	c.mu.Unlock()
	err := ch.Stop(ctx)
	<-c.done
	return err
}

// abandon kills whatever still runs when the test ends.
func (c *chaosChild) abandon() {
	c.mu.Lock()
	c.stopping, c.expected = true, true
	ch := c.cur
	c.mu.Unlock()
	if ch != nil && !ch.Exited() {
		_ = ch.Kill()
	}
}

func (c *chaosChild) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	return c.cur.Output()
}

func (c *chaosChild) lastUnexpected() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// chaosEntityServer serves every revision of the soak's entities: the Q2
// fixture re-addressed to the entity, its revision in its label and in
// schema:version.
func chaosEntityServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(updater.EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		return chaosEntity(id, rev)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// chaosEntity returns revision rev of entity id as EntityData serves it.
func chaosEntity(id string, rev int64) ([]byte, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "Q"))
	if err != nil || !strings.HasPrefix(id, "Q") || n < 100 || n >= 100+chaosEntities || rev < 1 {
		return nil, false
	}
	doc, err := drillEntityDocument(id, rev)
	return doc, err == nil
}

// chaosVersions returns each entity's schema:version in the store's data
// graph.
func chaosVersions(ctx context.Context, c *sparql.Client, graph string) (map[string]int64, error) {
	res, err := c.Query(ctx, "SELECT ?e ?v WHERE { GRAPH <"+graph+"> { ?e <http://schema.org/version> ?v } }")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, row := range res.Bindings {
		id := strings.TrimPrefix(row["e"].Value(), "http://www.wikidata.org/entity/")
		v, err := strconv.ParseInt(row["v"].Value(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: schema:version %s", id, row["v"])
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("%s has two schema:versions", id)
		}
		out[id] = v
	}
	return out, nil
}

// chaosReference returns a fresh import of the entities at their final
// revisions: each EntityData document munged as the updater munges it.
func chaosReference(t *testing.T, final map[string]int64) []rdfdiff.Triple {
	t.Helper()
	m := rdfdiff.NewMunger(rdfdiff.WikidataScheme())
	var out []rdfdiff.Triple
	for id, rev := range final {
		doc, ok := chaosEntity(id, rev)
		require.True(t, ok, id)
		ts, err := rdfdiff.ParseTurtleBytes(doc)
		require.NoError(t, err, id)
		munged, err := m.Munge(id, ts)
		require.NoError(t, err, id)
		out = append(out, munged...)
	}
	rdfdiff.SortTriples(out)
	return slices.Compact(out)
}

// requireRevisionsOnce checks the updater's read_committed output: every
// revision 1…final[id] of every entity exactly once and in order, an import
// first and diffs after, and nothing else but poison records (counted). It
// returns the number of changes and of poison records.
func requireRevisionsOnce(t *testing.T, recs []kafkatest.Record, final map[string]int64) (changes, poison int) {
	t.Helper()
	last := map[string]int64{}
	re := rdfdiff.NewReassembler()
	for _, r := range recs {
		if bytes.HasPrefix(r.Value, []byte(chaosPoison)) {
			poison++
			continue
		}
		ev, err := rdfdiff.DecodeEvent(r.Value)
		require.NoError(t, err, "offset %d", r.Offset)
		c, err := re.Add(ev, r.Offset)
		require.NoError(t, err, "offset %d", r.Offset)
		if c == nil {
			continue
		}
		changes++
		require.Equal(t, last[c.EntityID]+1, c.Revision, "%s: revision %d after %d (lost or written twice)", c.EntityID, c.Revision, last[c.EntityID])
		last[c.EntityID] = c.Revision
		want := rdfdiff.OpDiff
		if c.Revision == 1 {
			want = rdfdiff.OpImport
		}
		require.Equal(t, want, c.Operation, "%s@%d", c.EntityID, c.Revision)
	}
	require.Empty(t, re.Pending(), "a partial event in the output")
	assert.Equal(t, final, last, "each entity's last revision in the output")
	return changes, poison
}
