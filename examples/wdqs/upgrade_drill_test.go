package wdqs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql/sparqltest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// The drill's stream: drillEntities items, each created and then edited
// drillRevisions-1 times, one event every drillPace, interleaved.
const (
	drillEntities  = 6
	drillRevisions = 8
	drillPace      = 100 * time.Millisecond
	drillDomain    = "test.wikidata.org"
	drillInput     = "eqiad.mediawiki.page_change.v1"
	drillOutput    = "eqiad.rdf-streaming-updater.mutation"
	drillSavepoint = "drill"
)

// TestUpgradeDrill is the upgrade drill of an operator's runbook, run in CI:
// the wdqs-updater command is built twice (two "builds", told apart by their
// link flags), build 1 runs as a child process against a Kafka broker in the
// test process and an EntityData server, a stream of edits flows in, build 1
// is stopped with a savepoint in the middle of the stream, build 2 starts from
// that savepoint, and the stream finishes. The read_committed output must then
// hold every (entity, revision) of the stream exactly once — nothing lost at
// the hand-over, nothing written twice — and the unavailability window is
// measured: from the last output of build 1 to the first of build 2, and from
// the stop request until build 2 has restored its task.
//
// The stop is requested over the updater's sidecar (POST
// /stop?savepoint=drill) when the command has one (-sidecar-addr), else with
// SIGTERM and -stop-savepoint, the Kubernetes preStop path.
func TestUpgradeDrill(t *testing.T) {
	var newCons func(t *testing.T) *drillConsumer
	if url := os.Getenv("STREAMKIT_OXIGRAPH_URL"); url != "" {
		newCons = func(t *testing.T) *drillConsumer {
			base := fmt.Sprintf("http://streamkit.test/upgrade-drill/%d", time.Now().UnixNano())
			return newDrillConsumer(t, "Oxigraph", url, "oxigraph", base+"/data", base+"/commit")
		}
	} else {
		t.Log("consumer part skipped: STREAMKIT_OXIGRAPH_URL not set (see scripts/oxigraph/run.sh)")
	}
	upgradeDrill(t, newCons)
}

// TestUpgradeDrillBlazegraph is the upgrade drill with its consumer half on
// Blazegraph, the store WDQS runs: wdqs-consumer with -dialect blazegraph
// into a fresh namespace configured as WDQS's (triples mode: data and commit
// point in the default graph). It needs STREAMKIT_BLAZEGRAPH_URL (see
// scripts/blazegraph.sh).
func TestUpgradeDrillBlazegraph(t *testing.T) {
	endpoint := sparqltest.BlazegraphNamespace(t)
	upgradeDrill(t, func(t *testing.T) *drillConsumer {
		return newDrillConsumer(t, "Blazegraph", endpoint, "blazegraph", "", "")
	})
}

// upgradeDrill runs the drill; newCons, when set, returns its consumer half.
func upgradeDrill(t *testing.T, newCons func(t *testing.T) *drillConsumer) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	start := time.Now()

	bin1, bin2 := buildDrillBinary(t, "wdqs-updater", "1"), buildDrillBinary(t, "wdqs-updater", "2")
	t.Logf("built both updaters in %s", time.Since(start).Round(time.Millisecond))
	help, _ := exec.Command(bin1, "-h").CombinedOutput()
	withSidecar := bytes.Contains(help, []byte("-sidecar-addr"))
	// The consumer part needs a SPARQL store.
	var cons *drillConsumer
	if newCons != nil {
		cons = newCons(t)
	}

	cl := kafkatest.NewCluster(t, kafkatest.Ports(drillFreePort(t)))
	for _, topic := range []string{drillInput, drillOutput, "lapsed", "inconsistent", "fetch-failure", "dlq"} {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	srv := drillEntityServer(t)
	stateDir := t.TempDir()

	sidecarAddr := fmt.Sprintf("127.0.0.1:%d", drillFreePort(t))
	command := func(bin string, extra ...string) *exec.Cmd {
		args := []string{
			"-brokers", cl.Addrs()[0], "-topics", drillInput, "-output-topic", drillOutput,
			"-hostname", drillDomain, "-entitydata-url", srv.URL + updater.EntityDataPath,
			"-lapsed-topic", "lapsed", "-inconsistency-topic", "inconsistent", "-fetch-failure-topic", "fetch-failure",
			"-dlq-topic", "dlq", "-checkpoint-dir", stateDir, "-checkpoint-interval", "300ms",
			"-reorder-window", "1s", "-max-lateness", "1s", "-idleness", "2s",
			"-fetch-attempts", "2", "-fetch-retry-delay", "100ms",
		}
		if withSidecar {
			args = append(args, "-sidecar-addr", sidecarAddr)
		} else {
			args = append(args, "-stop-savepoint", drillSavepoint)
		}
		return exec.Command(bin, append(args, extra...)...)
	}
	var children []*jobtest.Child
	t.Cleanup(func() {
		for _, c := range children {
			if !c.Exited() {
				_ = c.Kill()
			}
		}
	})
	startChild := func(name, bin string, extra ...string) (*jobtest.Child, time.Time) {
		c, err := jobtest.Start(command(bin, extra...), jobtest.Options{Name: name})
		require.NoError(t, err)
		children = append(children, c)
		return c, time.Now()
	}

	// The output, as a read_committed consumer sees it, polled in the
	// background: when each offset was first seen is the consumer's view
	// of the hand-over.
	watch := newDrillWatch(cl)
	go watch.run(ctx)

	// The stream runs in the background all through the drill, and so
	// do events of another wiki (the rest of production's traffic): they
	// keep the event-time watermark moving, which releases the edits from
	// the re-order buffer.
	tm := loadDrillTemplates(t)
	stream := drillStream()
	var nProduced atomic.Int64
	produced := make(chan error, 1)
	go func() { produced <- produceDrill(ctx, cl, tm, stream, &nProduced) }()
	hbCtx, hbStop := context.WithCancel(ctx)
	defer hbStop()
	go func() {
		for hbCtx.Err() == nil {
			if rec, err := tm.event("edit", "Q1", 1, 0, time.Now(), "other.wiki.org"); err == nil {
				_ = cl.Produce(hbCtx, drillInput, rec)
			}
			select {
			case <-time.After(200 * time.Millisecond):
			case <-hbCtx.Done():
			}
		}
	}()

	// Build 1, stopped with a savepoint once about a third of the stream's
	// output is out.
	b1, b1Start := startChild("updater-build-1", bin1)
	require.NoError(t, b1.WaitOutput(ctx, "streamkit: task has no commit point; starting fresh"))
	b1Ready := time.Now()
	if cons != nil {
		cons.start(ctx, t, cl, 1)
		children = append(children, cons.child)
	}
	require.NoError(t, cl.WaitFor(ctx, "a third of the output", func(context.Context) (bool, string, error) {
		n := watch.count()
		return n >= len(stream)/3, fmt.Sprintf("%d records", n), nil
	}), "build 1:\n%s", b1.Output())
	stopAt := time.Now()
	atStop := fmt.Sprintf("%d of %d events produced, %d output records visible", nProduced.Load(), len(stream), watch.count())
	if withSidecar {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+sidecarAddr+"/stop?savepoint="+drillSavepoint, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Less(t, resp.StatusCode, 300, "POST /stop: %s", resp.Status)
		select {
		case <-b1.Done():
		case <-ctx.Done():
			t.Fatalf("build 1 did not exit after POST /stop:\n%s", b1.Output())
		}
		require.NoError(t, b1.Err())
	} else {
		require.NoError(t, b1.Stop(ctx))
	}
	b1Exit := time.Now()
	// Over HTTP or on SIGTERM, the runner logs the stop and its savepoint.
	require.Contains(t, b1.Output(), "streamkit: job stopped")
	require.Contains(t, b1.Output(), "savepoint="+drillSavepoint)
	b1Records := watch.waitStable(ctx, t)

	// Build 2, from the savepoint.
	b2, b2Start := startChild("updater-build-2", bin2, "-from-savepoint", drillSavepoint)
	require.NoError(t, b2.WaitOutput(ctx, "streamkit: task restored from savepoint"))
	b2Restored := time.Now()
	b2Ready := b2Restored
	if withSidecar {
		// Ready as Kubernetes sees it: /readyz answers 200.
		require.NoError(t, cl.WaitFor(ctx, "build 2 ready", func(ctx context.Context) (bool, string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+sidecarAddr+"/readyz", nil)
			if err != nil {
				return false, "", err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false, err.Error(), nil
			}
			_ = resp.Body.Close()
			return resp.StatusCode == http.StatusOK, resp.Status, nil
		}), "build 2:\n%s", b2.Output())
		b2Ready = time.Now()
	}
	if cons != nil {
		// The consumer's turn, while build 2's output flows.
		cons.stop(ctx, t)
		cons.start(ctx, t, cl, 2)
		children = append(children, cons.child)
	}
	require.NoError(t, <-produced)
	require.NoError(t, cl.WaitFor(ctx, "the whole stream's output", func(context.Context) (bool, string, error) {
		n := watch.count()
		return n >= len(stream), fmt.Sprintf("%d of %d records", n, len(stream)), nil
	}), "build 2:\n%s", b2.Output())
	hbStop()
	require.NoError(t, b2.Stop(ctx))
	if cons != nil {
		cons.verify(ctx, t, cl)
	}

	// Exactly once: every (entity, revision) of the stream, once, in
	// revision order per entity, and nothing else.
	recs, err := cl.ReadCommitted(ctx, drillOutput)
	require.NoError(t, err)
	final := map[string]int64{}
	for _, s := range stream {
		final[s.id] = max(final[s.id], s.rev)
	}
	_, poison := requireRevisionsOnce(t, recs, final)
	require.Zero(t, poison, "records in the output that are not changes")
	for _, topic := range []string{"lapsed", "inconsistent", "fetch-failure", "dlq"} {
		side, err := cl.ReadCommitted(ctx, topic)
		require.NoError(t, err)
		assert.Empty(t, side, topic)
	}

	// The unavailability window.
	lastB1, firstB2 := watch.seenAt(b1Records-1), watch.seenAt(b1Records)
	how := "SIGTERM with -stop-savepoint (the updater has no -sidecar-addr)"
	if withSidecar {
		how = "POST /stop?savepoint=" + drillSavepoint
	}
	t.Logf("upgrade drill: %d events, %d output records (%d from build 1); stop by %s at %s", len(stream), len(recs), b1Records, how, atStop)
	t.Logf("  build 1: start → restored %s; stop request → exit %s",
		b1Ready.Sub(b1Start).Round(time.Millisecond), b1Exit.Sub(stopAt).Round(time.Millisecond))
	t.Logf("  build 2: start → restored from the savepoint %s, → ready (/readyz 200) %s",
		b2Restored.Sub(b2Start).Round(time.Millisecond), b2Ready.Sub(b2Start).Round(time.Millisecond))
	t.Logf("  unavailable: stop request → build 2 ready %s; last output of build 1 → first of build 2 %s (as a read_committed consumer polling every 50 ms sees it)",
		b2Ready.Sub(stopAt).Round(time.Millisecond), firstB2.Sub(lastB1).Round(time.Millisecond))
	if cons != nil {
		cons.report(t)
	}
	t.Logf("  whole drill %s", time.Since(start).Round(time.Millisecond))
}

// buildDrillBinary builds the command cmd/<cmdName> as build number n.
// The variable need not exist: -X of an unknown symbol is ignored, and the
// flag still makes this a build of its own.
func buildDrillBinary(t *testing.T, cmdName, n string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), cmdName+"-"+n)
	require.NoError(t, jobtest.Build(context.Background(), "./cmd/"+cmdName, bin, "-ldflags", "-X main.buildID=drill-"+n))
	return bin
}

func drillFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// drillStep is one edit of the stream.
type drillStep struct {
	kind, id    string
	rev, parent int64
}

// drillStream returns the stream: entity Q<100+e> at revision r, entities
// interleaved.
func drillStream() []drillStep {
	var out []drillStep
	for r := int64(1); r <= drillRevisions; r++ {
		for e := range drillEntities {
			s := drillStep{kind: "edit", id: fmt.Sprintf("Q%d", 100+e), rev: r, parent: r - 1}
			if r == 1 {
				s.kind = "create"
			}
			out = append(out, s)
		}
	}
	return out
}

// produceDrill writes the stream, one event every drillPace, dated now,
// counting the events in produced.
func produceDrill(ctx context.Context, cl *kafkatest.Cluster, tm drillTemplates, stream []drillStep, produced *atomic.Int64) error {
	for _, s := range stream {
		rec, err := tm.event(s.kind, s.id, s.rev, s.parent, time.Now(), drillDomain)
		if err != nil {
			return err
		}
		if err := cl.Produce(ctx, drillInput, rec); err != nil {
			return err
		}
		produced.Add(1)
		select {
		case <-time.After(drillPace):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// drillTemplates are the page_change events the drill's events are made
// from (the quickstart's fixtures), by kind.
type drillTemplates map[string][]byte

func loadDrillTemplates(t *testing.T) drillTemplates {
	t.Helper()
	out := drillTemplates{}
	for kind, name := range map[string]string{"create": "item-create.json", "edit": "item-edit.json"} {
		b, err := os.ReadFile(filepath.Join("..", "quickstart", "testdata", "events", name))
		require.NoError(t, err)
		out[kind] = b
	}
	return out
}

// event returns a page_change event of kind for revision rev of entity id,
// dated dt. It is called from the producing goroutines, so it returns its
// errors instead of failing the test.
func (tm drillTemplates) event(kind, id string, rev, parent int64, dt time.Time, domain string) (kafkatest.Record, error) {
	var ev map[string]any
	if err := json.Unmarshal(tm[kind], &ev); err != nil {
		return kafkatest.Record{}, fmt.Errorf("template %q: %w", kind, err)
	}
	ts := dt.UTC().Format(time.RFC3339Nano)
	ev["dt"] = ts
	ev["page"].(map[string]any)["page_title"] = id
	r := ev["revision"].(map[string]any)
	r["rev_id"], r["rev_dt"] = rev, ts
	if parent > 0 {
		r["rev_parent_id"] = parent
	} else {
		delete(r, "rev_parent_id")
	}
	meta := ev["meta"].(map[string]any)
	meta["domain"], meta["dt"] = domain, ts
	meta["request_id"] = fmt.Sprintf("drill-%s-%d", id, rev)
	out, err := json.Marshal(ev)
	if err != nil {
		return kafkatest.Record{}, err
	}
	return kafkatest.Record{Value: out, Timestamp: dt}, nil
}

// drillEntityServer serves every revision of the drill's entities: the Q2
// fixture re-addressed to the entity, with the revision in its label so that
// every revision differs from the last.
func drillEntityServer(t *testing.T) *httptest.Server {
	t.Helper()
	h := updater.EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		n, err := strconv.Atoi(strings.TrimPrefix(id, "Q"))
		if err != nil || !strings.HasPrefix(id, "Q") || n < 100 || n >= 100+drillEntities || rev < 1 || rev > drillRevisions {
			return nil, false
		}
		doc, err := drillEntityDocument(id, rev)
		return doc, err == nil
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// drillTemplate is the EntityData document the drill's entities are made
// from.
var drillTemplate = sync.OnceValues(func() ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "quickstart", "testdata", "entities", "Q2-rev1.ttl"))
})

// drillEntityDocument returns revision rev of entity id: the Q2 fixture
// re-addressed to the entity, with the revision in its schema:version and
// its label, so that every revision differs from the last.
func drillEntityDocument(id string, rev int64) ([]byte, error) {
	tmpl, err := drillTemplate()
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(tmpl, []byte(`schema:version "1"`)) {
		return nil, errors.New("the Q2 fixture has no schema:version 1")
	}
	s := strings.ReplaceAll(string(tmpl), "wd:Q2 ", "wd:"+id+" ")
	s = strings.ReplaceAll(s, "wd:Q2\n", "wd:"+id+"\n")
	s = strings.ReplaceAll(s, "data:Q2 ", "data:"+id+" ")
	s = strings.Replace(s, `schema:version "1"`, fmt.Sprintf(`schema:version "%d"`, rev), 1)
	s += fmt.Sprintf("\nwd:%s <http://www.w3.org/2000/01/rdf-schema#label> \"drill item %s revision %d\"@en .\n", id, id, rev)
	return []byte(s), nil
}

// drillWatch polls the output topic as a read_committed consumer and notes
// when each offset was first seen.
type drillWatch struct {
	cl    *kafkatest.Cluster
	mu    sync.Mutex
	first []time.Time // by position in the read_committed output
}

func newDrillWatch(cl *kafkatest.Cluster) *drillWatch { return &drillWatch{cl: cl} }

func (w *drillWatch) run(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if recs, err := w.cl.ReadCommitted(ctx, drillOutput); err == nil {
			now := time.Now()
			w.mu.Lock()
			for len(w.first) < len(recs) {
				w.first = append(w.first, now)
			}
			w.mu.Unlock()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

func (w *drillWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.first)
}

func (w *drillWatch) seenAt(i int) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i < 0 || i >= len(w.first) {
		return time.Time{}
	}
	return w.first[i]
}

// waitStable returns the number of output records once the stopped build's
// output is all visible: the count read directly, after the build exited.
func (w *drillWatch) waitStable(ctx context.Context, t *testing.T) int {
	t.Helper()
	recs, err := w.cl.ReadCommitted(ctx, drillOutput)
	require.NoError(t, err)
	n := len(recs)
	require.NoError(t, w.cl.WaitFor(ctx, "the watcher to see build 1's output", func(context.Context) (bool, string, error) {
		return w.count() >= n, fmt.Sprintf("%d of %d", w.count(), n), nil
	}))
	return n
}

// drillConsumer is the consumer half of the drill: wdqs-consumer, built
// twice, applying the updater's output to a SPARQL store (on Oxigraph graphs
// of its own, dropped at the end; on Blazegraph a namespace of its own and
// the default graph), stopped over its sidecar with a savepoint while the
// updater's output is still flowing, and resumed by build 2 from that
// savepoint.
type drillConsumer struct {
	bins              [3]string
	store, dialect    string
	url, data, commit string
	dir, addr         string
	client            *sparql.Client
	child             *jobtest.Child
	starts, readies   [3]time.Time
	stopAt, exitAt    time.Time
	appliedAtStop     string
}

// newDrillConsumer returns the consumer half writing to the SPARQL endpoint
// url of store (named for the report) with -dialect dialect, into the data
// and commit graphs (both "" for the default graph).
func newDrillConsumer(t *testing.T, store, url, dialect, data, commit string) *drillConsumer {
	c := &drillConsumer{store: store, dialect: dialect, url: url, data: data, commit: commit,
		dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", drillFreePort(t))}
	c.bins[1], c.bins[2] = buildDrillBinary(t, "wdqs-consumer", "1"), buildDrillBinary(t, "wdqs-consumer", "2")
	var err error
	c.client, err = sparql.NewClient(url, sparql.WithRequestTimeout(30*time.Second))
	require.NoError(t, err)
	if data != "" {
		t.Cleanup(func() {
			_ = c.client.Update(context.Background(), "DROP SILENT GRAPH <"+c.data+"> ;\nDROP SILENT GRAPH <"+c.commit+">")
		})
	}
	return c
}

// start starts build n (2 restores from the savepoint) and waits until its
// sidecar reports it ready.
func (c *drillConsumer) start(ctx context.Context, t *testing.T, cl *kafkatest.Cluster, n int) {
	t.Helper()
	args := []string{"-brokers", cl.Addrs()[0], "-topics", drillOutput, "-group", "drill-replica",
		"-sparql-url", c.url, "-dialect", c.dialect, "-data-graph", c.data, "-commit-graph", c.commit,
		"-lag-marker", "-", "-checkpoint-dir", c.dir, "-checkpoint-interval", "300ms", "-sidecar-addr", c.addr}
	if n == 2 {
		args = append(args, "-from-savepoint", drillSavepoint)
	}
	ch, err := jobtest.Start(exec.Command(c.bins[n], args...), jobtest.Options{Name: fmt.Sprintf("consumer-build-%d", n)})
	require.NoError(t, err)
	c.child, c.starts[n] = ch, time.Now()
	require.NoError(t, cl.WaitFor(ctx, fmt.Sprintf("consumer build %d ready", n), func(ctx context.Context) (bool, string, error) {
		if ch.Exited() {
			return false, "", fmt.Errorf("consumer build %d exited: %w", n, ch.Err())
		}
		code := drillGet(ctx, "http://"+c.addr+"/readyz")
		return code == http.StatusOK, fmt.Sprint(code), nil
	}), "consumer build %d:\n%s", n, ch.Output())
	c.readies[n] = time.Now()
	if n == 2 {
		require.Contains(t, ch.Output(), "streamkit: task restored from savepoint")
	}
}

// stop stops the running build over its sidecar with a savepoint.
func (c *drillConsumer) stop(ctx context.Context, t *testing.T) {
	t.Helper()
	var revs []string
	for e := range drillEntities {
		id := fmt.Sprintf("Q%d", 100+e)
		rev := "-"
		for _, l := range c.labels(ctx, t)[id] {
			rev = l[strings.LastIndexByte(l, ' ')+1:]
		}
		revs = append(revs, id+"@"+rev)
	}
	c.appliedAtStop = strings.Join(revs, " ")
	c.stopAt = time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr+"/stop?savepoint="+drillSavepoint, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, "consumer POST /stop: %s", resp.Status)
	select {
	case <-c.child.Done():
	case <-ctx.Done():
		t.Fatalf("consumer build 1 did not exit after POST /stop:\n%s", c.child.Output())
	}
	c.exitAt = time.Now()
	require.NoError(t, c.child.Err())
	require.Contains(t, c.child.Output(), "savepoint="+drillSavepoint)
}

// labels returns the drill labels in the store, by entity.
func (c *drillConsumer) labels(ctx context.Context, t *testing.T) map[string][]string {
	t.Helper()
	pattern := "?e <http://www.w3.org/2000/01/rdf-schema#label> ?l"
	if c.data != "" {
		pattern = "GRAPH <" + c.data + "> { " + pattern + " }"
	}
	res, err := c.client.Query(ctx, "SELECT ?e ?l WHERE { "+pattern+" }")
	require.NoError(t, err)
	out := map[string][]string{}
	for _, row := range res.Bindings {
		if l := row["l"].Value(); strings.HasPrefix(l, "drill item ") {
			id := strings.TrimPrefix(row["e"].Value(), "http://www.wikidata.org/entity/")
			out[id] = append(out[id], l)
		}
	}
	return out
}

// verify waits until the store holds every entity at its last revision and
// checks that nothing else of the drill is there: a diff lost at the
// hand-over would leave an older label behind.
func (c *drillConsumer) verify(ctx context.Context, t *testing.T, cl *kafkatest.Cluster) {
	t.Helper()
	want := map[string][]string{}
	for e := range drillEntities {
		id := fmt.Sprintf("Q%d", 100+e)
		want[id] = []string{fmt.Sprintf("drill item %s revision %d", id, drillRevisions)}
	}
	var got map[string][]string
	err := cl.WaitFor(ctx, "the store at the last revisions", func(ctx context.Context) (bool, string, error) {
		got = c.labels(ctx, t)
		return assert.ObjectsAreEqual(want, got), fmt.Sprint(got), nil
	})
	require.NoError(t, err, "consumer build 2:\n%s", c.child.Output())
	require.NoError(t, c.child.Stop(ctx))
}

func (c *drillConsumer) report(t *testing.T) {
	t.Logf("  consumer (%s): stopped with the store at %s (of revision %d); stop request → exit %s; build 2 start → ready %s; stop request → build 2 ready %s",
		c.store, c.appliedAtStop, drillRevisions, c.exitAt.Sub(c.stopAt).Round(time.Millisecond),
		c.readies[2].Sub(c.starts[2]).Round(time.Millisecond), c.readies[2].Sub(c.stopAt).Round(time.Millisecond))
}

// drillGet returns the status of a GET, 0 when it fails.
func drillGet(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
