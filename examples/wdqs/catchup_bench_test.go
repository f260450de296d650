package wdqs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql/sparqltest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// BenchmarkCatchUp measures the WDQS pipeline working through a backlog,
// as after a dump import: a stream of page_change events (creates, edits,
// deletes and undeletes of entities whose documents are real Wikidata
// entities re-addressed: a small item, two lexemes and Q42's 200 KB; most
// edits change a label or a statement) is written to the input topic first,
// then
//
//   - the updater works through it alone (fetching every revision from a
//     local EntityData server that answers after a delay, as a remote API
//     would), writing the mutation topic;
//   - the consumer works through that topic alone, into each SPARQL store
//     the environment names (Oxigraph, Blazegraph);
//   - both run together over a fresh copy of the backlog (end to end).
//
// It reports edits per second, CPU milliseconds per edit (this process:
// both jobs, the EntityData server and, without a real broker, kfake), the
// CPU use against the box's cores, the mean number of fetches in flight
// (against the updater's limit: at the limit, the fetches are what
// saturates), and the live heap's peak and end.
//
// Knobs: STREAMKIT_CATCHUP_EVENTS (default 100000), STREAMKIT_CATCHUP_DELAY
// (the EntityData response delay, default 50ms), STREAMKIT_CATCHUP_FETCHES
// (the updater's concurrent fetches, default 64), STREAMKIT_CATCHUP_CACHE_MB
// (the updater's revision cache, default its own; -1 turns it off).
// `make bench-catchup`.
func BenchmarkCatchUp(b *testing.B) {
	events := catchupEnvInt(b, "STREAMKIT_CATCHUP_EVENTS", 100_000)
	delay := 50 * time.Millisecond
	if s := os.Getenv("STREAMKIT_CATCHUP_DELAY"); s != "" {
		var err error
		delay, err = time.ParseDuration(s)
		require.NoError(b, err, "STREAMKIT_CATCHUP_DELAY")
	}
	fetches := catchupEnvInt(b, "STREAMKIT_CATCHUP_FETCHES", 64)
	catchupCacheBytes = int64(catchupEnvInt(b, "STREAMKIT_CATCHUP_CACHE_MB", 0)) << 20
	stores := map[string]func(b *testing.B) catchupStore{}
	if url := os.Getenv("STREAMKIT_OXIGRAPH_URL"); url != "" {
		stores["oxigraph"] = func(b *testing.B) catchupStore {
			g := fmt.Sprintf("http://streamkit.test/catchup/%d", time.Now().UnixNano())
			d, err := consumer.ParseDialect("oxigraph")
			require.NoError(b, err)
			return catchupStore{url: url, dialect: d, data: g + "/data", commit: g + "/commit"}
		}
	}
	if os.Getenv("STREAMKIT_BLAZEGRAPH_URL") != "" {
		stores["blazegraph"] = func(b *testing.B) catchupStore {
			d, err := consumer.ParseDialect("blazegraph")
			require.NoError(b, err)
			return catchupStore{url: sparqltest.BlazegraphNamespace(b), dialect: d}
		}
	}
	corpus := loadCatchupCorpus(b, delay)
	srv := httptest.NewServer(corpus)
	b.Cleanup(srv.Close)
	corpus.check(b, srv.URL)
	stream := catchupStream(events, 1)
	tm := loadCatchupEvents(b)
	b.Logf("backlog: %d events (%s) over %d entities; EntityData delay %v; %d fetches in flight at most; broker: %s",
		len(stream.events), stream.mix(), stream.entities, delay, fetches, catchupBroker())

	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		cl := kafkatest.NewCluster(b)
		in, out := catchupTopics(b, ctx, cl, "alone")
		produceCatchup(b, ctx, cl, in, tm, stream)

		b.ResetTimer()
		upd := runCatchupUpdater(b, ctx, cl, srv.URL, in, out, fetches, corpus, stream)
		report(b, "updater", upd)
		for name, newStore := range stores {
			cons := runCatchupConsumer(b, ctx, cl, out, newStore(b), upd.messages, len(stream.events))
			report(b, "consumer-"+name, cons)
		}
		// End to end: a fresh copy of the backlog, both jobs at once.
		for name, newStore := range stores {
			in2, out2 := catchupTopics(b, ctx, cl, "e2e-"+name)
			b.StopTimer()
			produceCatchup(b, ctx, cl, in2, tm, stream)
			b.StartTimer()
			e2e := runCatchupPipeline(b, ctx, cl, srv.URL, in2, out2, fetches, corpus, stream, newStore(b))
			report(b, "e2e-"+name, e2e)
		}
		cancel()
	}
}

// catchupRun is what one phase measured.
type catchupRun struct {
	edits           int
	messages        int64 // records the updater wrote
	wall            time.Duration
	cpu             time.Duration
	inflight        float64 // mean fetches in flight while the updater ran
	cacheHits       float64 // share of the updater's fetches its revision cache answered
	heapMax, heapAt uint64
}

func report(b *testing.B, phase string, r catchupRun) {
	secs := r.wall.Seconds()
	b.ReportMetric(float64(r.edits)/secs, phase+"-edits/s")
	b.ReportMetric(float64(r.cpu.Milliseconds())/float64(r.edits), phase+"-cpu-ms/edit")
	b.ReportMetric(r.cpu.Seconds()/secs, phase+"-cores")
	b.ReportMetric(float64(r.heapMax)/(1<<20), phase+"-heap-max-MB")
	b.ReportMetric(float64(r.heapAt)/(1<<20), phase+"-heap-end-MB")
	if r.inflight > 0 {
		b.ReportMetric(r.inflight, phase+"-fetches-in-flight")
		b.ReportMetric(100*r.cacheHits, phase+"-revision-cache-hit-%")
	}
	b.Logf("%s: %d edits in %v: %.0f edits/s, %.2f CPU ms/edit, %.2f cores, %.1f fetches in flight, %.0f %% of fetches from the revision cache, heap peak %d MB, end %d MB",
		phase, r.edits, r.wall.Round(time.Millisecond), float64(r.edits)/secs, float64(r.cpu.Microseconds())/1000/float64(r.edits),
		r.cpu.Seconds()/secs, r.inflight, 100*r.cacheHits, r.heapMax>>20, r.heapAt>>20)
}

// catchupStore is a SPARQL store of the consumer.
type catchupStore struct {
	url          string
	dialect      sparql.Dialect
	data, commit string
}

func catchupEnvInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	require.NoError(b, err, name)
	return n
}

func catchupBroker() string {
	if s := os.Getenv(kafkatest.BrokersEnv); s != "" {
		return "Kafka at " + s
	}
	return "kfake in this process"
}

func catchupTopics(b *testing.B, ctx context.Context, cl *kafkatest.Cluster, prefix string) (in, out string) {
	in, out = prefix+".page_change", prefix+".mutation"
	for _, t := range []string{in, out, prefix + ".dlq", prefix + ".side", prefix + ".consumer-dlq"} {
		require.NoError(b, cl.CreateTopic(ctx, t, 1))
	}
	return in, out
}

// meter measures a phase: wall time, this process's CPU, and the live heap
// sampled every 250 ms.
type meter struct {
	start   time.Time
	cpu0    time.Duration
	heapMax atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
}

func startMeter() *meter {
	runtime.GC()
	m := &meter{start: time.Now(), cpu0: processCPU(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > m.heapMax.Load() {
				m.heapMax.Store(ms.HeapInuse)
			}
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *meter) end(edits int) catchupRun {
	wall, cpu := time.Since(m.start), processCPU()-m.cpu0
	close(m.stop)
	<-m.done
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return catchupRun{edits: edits, wall: wall, cpu: cpu, heapMax: m.heapMax.Load(), heapAt: ms.HeapInuse}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// catchupCacheBytes is the updater's revision cache bound
// (STREAMKIT_CATCHUP_CACHE_MB; 0 for its default, negative for none).
var catchupCacheBytes int64

func catchupUpdaterConfig(cl *kafkatest.Cluster, entityData, in, out string, fetches int, m *updater.Metrics) updater.Config {
	prefix := strings.TrimSuffix(in, ".page_change")
	return updater.Config{
		JobName: prefix + "-updater", Brokers: cl.Addrs(), Topics: []string{in}, Sarama: cl.SaramaConfig(),
		Filter:        updater.Filter{Hostname: drillDomain, EntityNamespaces: []int{0, 120, 146}, ContentModels: []string{"wikibase-item", "wikibase-property", "wikibase-lexeme"}},
		EntityDataURL: entityData + updater.EntityDataPath, MaxConcurrentRequests: fetches, RevisionCacheBytes: catchupCacheBytes,
		OutputTopic: out, DeadLetterTopic: prefix + ".dlq",
		LapsedActionTopic: prefix + ".side", StateInconsistencyTopic: prefix + ".side", FetchFailureTopic: prefix + ".side",
		CheckpointStore: checkpoint.NewMemoryStore(), Logger: quietLogger(), Metrics: m,
	}
}

func catchupConsumerConfig(cl *kafkatest.Cluster, out string, st catchupStore) consumer.Config {
	prefix := strings.TrimSuffix(out, ".mutation")
	return consumer.Config{
		JobName: prefix + "-consumer", Brokers: cl.Addrs(), Topics: []string{out}, Group: prefix + "-consumer",
		Sarama: cl.SaramaConfig(), StoreURL: st.url, Dialect: st.dialect, DataGraph: st.data, CommitGraph: st.commit,
		LagMarker: "-", RequestTimeout: time.Minute, DeadLetterTopic: prefix + ".consumer-dlq",
		CheckpointStore: checkpoint.NewMemoryStore(), Logger: quietLogger(),
	}
}

// runCatchupUpdater runs the updater over the backlog in topic in until
// every edit is out and committed.
func runCatchupUpdater(b *testing.B, ctx context.Context, cl *kafkatest.Cluster, entityData, in, out string, fetches int,
	corpus *catchupCorpus, stream *catchupBacklog) catchupRun {
	var metrics updater.Metrics
	job, err := updater.NewJob(catchupUpdaterConfig(cl, entityData, in, out, fetches, &metrics))
	require.NoError(b, err)
	corpus.resetInflight()
	m := startMeter()
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	waitCatchup(b, ctx, done, "the updater", func() (bool, string) {
		n := catchupChanges(&metrics)
		s := job.Stats()
		return n >= int64(len(stream.events)), fmt.Sprintf("%d of %d changes (events %d, filtered %d, late %d, fetch failures %d; read %d, dead letters %d)",
			n, len(stream.events), metrics.Events.Load(), metrics.Filtered.Load(), metrics.Late.Load(), metrics.FetchFailures.Load(), s.Processed, s.DeadLettered)
	}, job.Stats)
	r := m.end(len(stream.events))
	r.inflight = corpus.meanInflight()
	r.messages = metrics.Messages.Load()
	r.cacheHits = cacheHitShare(&metrics)
	require.NoError(b, job.Stop(ctx))
	require.NoError(b, <-done)
	require.Zero(b, metrics.FetchFailures.Load()+metrics.Late.Load()+metrics.Inconsistent.Load(), "side outputs")
	return r
}

// runCatchupConsumer runs the consumer over the updater's output (messages
// records) until they are all applied and committed.
func runCatchupConsumer(b *testing.B, ctx context.Context, cl *kafkatest.Cluster, out string, st catchupStore, messages int64, edits int) catchupRun {
	c, err := consumer.New(catchupConsumerConfig(cl, out, st))
	require.NoError(b, err)
	m := startMeter()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitCatchup(b, ctx, done, "the consumer", func() (bool, string) {
		s := c.Job().Stats()
		return s.Processed >= messages, fmt.Sprintf("%d of %d records", s.Processed, messages)
	}, c.Job().Stats)
	r := m.end(edits)
	require.NoError(b, c.Job().Stop(ctx))
	require.NoError(b, <-done)
	return r
}

// runCatchupPipeline runs both jobs at once over a fresh backlog.
func runCatchupPipeline(b *testing.B, ctx context.Context, cl *kafkatest.Cluster, entityData, in, out string, fetches int,
	corpus *catchupCorpus, stream *catchupBacklog, st catchupStore) catchupRun {
	var metrics updater.Metrics
	job, err := updater.NewJob(catchupUpdaterConfig(cl, entityData, in, out, fetches, &metrics))
	require.NoError(b, err)
	c, err := consumer.New(catchupConsumerConfig(cl, out, st))
	require.NoError(b, err)
	corpus.resetInflight()
	m := startMeter()
	updDone, consDone := make(chan error, 1), make(chan error, 1)
	go func() { updDone <- job.Run(ctx) }()
	go func() { consDone <- c.Run(ctx) }()
	waitCatchup(b, ctx, updDone, "the updater", func() (bool, string) {
		n := catchupChanges(&metrics)
		return n >= int64(len(stream.events)), fmt.Sprintf("%d of %d", n, len(stream.events))
	}, job.Stats)
	inflight := corpus.meanInflight()
	messages := metrics.Messages.Load()
	hits := cacheHitShare(&metrics)
	waitCatchup(b, ctx, consDone, "the consumer", func() (bool, string) {
		s := c.Job().Stats()
		return s.Processed >= messages, fmt.Sprintf("%d of %d records", s.Processed, messages)
	}, c.Job().Stats)
	r := m.end(len(stream.events))
	r.inflight, r.messages, r.cacheHits = inflight, messages, hits
	require.NoError(b, job.Stop(ctx))
	require.NoError(b, <-updDone)
	require.NoError(b, c.Job().Stop(ctx))
	require.NoError(b, <-consDone)
	return r
}

// cacheHitShare is the share of the updater's fetches its revision cache
// answered.
func cacheHitShare(m *updater.Metrics) float64 {
	h, n := m.RevisionCacheHits.Load(), m.RevisionCacheMisses.Load()
	if h+n == 0 {
		return 0
	}
	return float64(h) / float64(h+n)
}

// catchupChanges counts the changes the updater has written.
func catchupChanges(m *updater.Metrics) int64 {
	return m.Imports.Load() + m.Diffs.Load() + m.Deletes.Load() + m.Reconciles.Load()
}

// waitCatchup waits until cond holds and every position the job has read
// is committed, so that what cond counted is committed too. (A job takes no
// checkpoint while it reads nothing, so waiting for "one more checkpoint"
// could wait for ever.)
func waitCatchup(b *testing.B, ctx context.Context, done <-chan error, who string, cond func() (bool, string),
	stats func() streamkit.Stats) {
	b.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := ""
	logged := time.Now()
	for {
		if time.Since(logged) > 10*time.Second {
			fmt.Fprintf(os.Stderr, "catch-up: %s: %s\n", who, last)
			logged = time.Now()
		}
		select {
		case err := <-done:
			b.Fatalf("%s ended: %v (at %s)", who, err, last)
		case <-ctx.Done():
			b.Fatalf("%s: %v (at %s)", who, ctx.Err(), last)
		case <-tick.C:
		}
		ok, what := cond()
		s := stats()
		committed := len(s.Positions) > 0
		for tp, pos := range s.Positions {
			if s.Committed[tp] != pos {
				committed = false
			}
		}
		last = fmt.Sprintf("%s; read %v, committed %v", what, s.Positions, s.Committed)
		if ok && committed {
			return
		}
	}
}

// catchupCorpus is the EntityData server of the backlog: each entity is one
// of the template documents re-addressed to its ID, at any revision (the
// revision in schema:version, a label-like literal, and every third
// revision a statement), answered after delay.
type catchupCorpus struct {
	templates []catchupTemplate
	delay     time.Duration
	inflight  atomic.Int64
	samples   atomic.Int64
	sum       atomic.Int64
	stop      chan struct{}
}

// catchupTemplate is one template document as N-Triples, split where the
// entity ID goes.
type catchupTemplate struct {
	name   string
	lexeme bool
	parts  []string
	weight int
}

var catchupSources = []struct {
	file, id string
	lexeme   bool
	weight   int // of 20
}{
	{"Q2.ttl", "Q2", false, 13},
	{"L4696.ttl", "L4696", true, 2},
	{"L691820.ttl", "L691820", true, 3},
	{"Q42.ttl", "Q42", false, 2},
}

func loadCatchupCorpus(b *testing.B, delay time.Duration) *catchupCorpus {
	c := &catchupCorpus{delay: delay, stop: make(chan struct{})}
	for _, src := range catchupSources {
		doc, err := os.ReadFile(filepath.Join("testdata", "catchup", src.file))
		require.NoError(b, err)
		ts, err := rdfdiff.ParseTurtleBytes(doc, rdfdiff.WithFileName(src.file))
		require.NoError(b, err)
		// The entity's own IRIs (entity, statements, forms, senses,
		// EntityData) carry its ID; sitelink article IRIs get it appended,
		// so that two entities never share a sitelink.
		idRE := regexp.MustCompile(`/` + src.id + `($|[-#.?])`)
		articles := map[string]bool{}
		for _, tr := range ts {
			if tr.P.Value() == "http://schema.org/about" && !strings.Contains(tr.S.Value(), "Special:EntityData/") {
				articles[tr.S.Value()] = true
			}
		}
		readdress := func(t rdfdiff.Term) rdfdiff.Term {
			if !t.IsIRI() {
				return t
			}
			v := t.Value()
			if articles[v] {
				return rdfdiff.NewIRI(v + "_ENTITYIDPLACEHOLDER")
			}
			if nv := idRE.ReplaceAllString(v, "/ENTITYIDPLACEHOLDER$1"); nv != v {
				return rdfdiff.NewIRI(nv)
			}
			return t
		}
		var kept []rdfdiff.Triple
		for _, tr := range ts {
			if tr.P.Value() == "http://schema.org/version" {
				continue
			}
			kept = append(kept, rdfdiff.Triple{S: readdress(tr.S), P: tr.P, O: readdress(tr.O)})
		}
		nt := string(rdfdiff.AppendNTriples(nil, kept))
		c.templates = append(c.templates, catchupTemplate{name: src.id, lexeme: src.lexeme,
			parts: strings.Split(nt, "ENTITYIDPLACEHOLDER"), weight: src.weight})
	}
	return c
}

// template returns entity n's template: by weight, the same for every
// revision.
func (c *catchupCorpus) template(n int) *catchupTemplate {
	w := int(uint32(n)*2654435761) % 20
	for i := range c.templates {
		if w < c.templates[i].weight {
			return &c.templates[i]
		}
		w -= c.templates[i].weight
	}
	return &c.templates[0]
}

func (c *catchupCorpus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.inflight.Add(1)
	defer c.inflight.Add(-1)
	name, _ := strings.CutPrefix(r.URL.Path, updater.EntityDataPath)
	id, _ := strings.CutSuffix(name, ".ttl")
	rev, err := strconv.ParseInt(r.URL.Query().Get("revision"), 10, 64)
	n, nerr := strconv.Atoi(id[min(1, len(id)):])
	if err != nil || nerr != nil {
		http.NotFound(w, r)
		return
	}
	select {
	case <-time.After(c.delay):
	case <-r.Context().Done():
		return
	}
	t := c.template(n)
	// The document is built in one buffer and written at once, with its
	// length: thousands of small writes through the chunked encoder made
	// this server a tenth of the process's CPU, which is not the updater's.
	buf := catchupBufs.Get().(*bytes.Buffer)
	defer catchupBufs.Put(buf)
	buf.Reset()
	for i, p := range t.parts {
		if i > 0 {
			buf.WriteString(id)
		}
		buf.WriteString(p)
	}
	e := "<http://www.wikidata.org/entity/" + id + ">"
	fmt.Fprintf(buf, "%s <http://www.w3.org/2004/02/skos/core#altLabel> \"bench %s revision %d\"@en .\n", e, id, rev)
	fmt.Fprintf(buf, "<https://www.wikidata.org/wiki/Special:EntityData/%s> <http://schema.org/version> \"%d\"^^<http://www.w3.org/2001/XMLSchema#integer> .\n", id, rev)
	if rev%3 == 0 {
		fmt.Fprintf(buf, "%s <http://www.wikidata.org/prop/direct/P9999> \"%d\" .\n", e, rev)
	}
	w.Header().Set("Content-Type", "text/turtle; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// catchupBufs are the EntityData server's response buffers.
var catchupBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// check fetches an entity of each template as the updater would and munges
// it, so that a template the munger refuses fails here, not as fetch
// failures.
func (c *catchupCorpus) check(b *testing.B, base string) {
	delay := c.delay
	c.delay = 0
	defer func() { c.delay = delay }()
	m := rdfdiff.NewMunger(rdfdiff.WikidataScheme())
	for n := 1000; n < 1040; n++ {
		t := c.template(n)
		id := "Q" + strconv.Itoa(n)
		if t.lexeme {
			id = "L" + strconv.Itoa(n)
		}
		resp, err := http.Get(base + updater.EntityDataPath + id + ".ttl?flavor=dump&revision=7")
		require.NoError(b, err)
		doc, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(b, err)
		ts, err := rdfdiff.ParseTurtleBytes(doc, rdfdiff.WithFileName(t.name+" as "+id))
		require.NoError(b, err)
		_, err = m.MungeEntity(id, ts)
		require.NoError(b, err, "%s as %s", t.name, id)
	}
}

func (c *catchupCorpus) resetInflight() {
	c.samples.Store(0)
	c.sum.Store(0)
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.stop = make(chan struct{})
	stop := c.stop
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				c.samples.Add(1)
				c.sum.Add(c.inflight.Load())
			}
		}
	}()
}

func (c *catchupCorpus) meanInflight() float64 {
	n := c.samples.Load()
	if n == 0 {
		return 0
	}
	return float64(c.sum.Load()) / float64(n)
}

// catchupBacklog is the generated stream.
type catchupBacklog struct {
	events   []catchupEvent
	entities int
	kinds    map[string]int
}

type catchupEvent struct {
	kind, id    string
	rev, parent int64
	lexeme      bool
}

// catchupStream generates n events: 5 % creates, 2 % deletes, 1 %
// undeletes of a deleted entity, the rest edits of a live entity; revision
// IDs are global and increasing, as MediaWiki's.
func catchupStream(n int, seed uint64) *catchupBacklog {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	type entity struct {
		id     string
		rev    int64
		lexeme bool
	}
	var live, deleted []*entity
	corpus := &catchupCorpus{}
	for _, src := range catchupSources {
		corpus.templates = append(corpus.templates, catchupTemplate{lexeme: src.lexeme, weight: src.weight})
	}
	bl := &catchupBacklog{kinds: map[string]int{}}
	var rev int64 = 1_000_000
	for len(bl.events) < n {
		p := rng.IntN(100)
		var ev catchupEvent
		switch {
		case p < 5 || len(live) < 20:
			num := 1000 + bl.entities
			bl.entities++
			e := &entity{lexeme: corpus.template(num).lexeme}
			e.id = "Q" + strconv.Itoa(num)
			if e.lexeme {
				e.id = "L" + strconv.Itoa(num)
			}
			rev++
			e.rev = rev
			live = append(live, e)
			ev = catchupEvent{kind: "create", id: e.id, rev: e.rev, lexeme: e.lexeme}
		case p < 7:
			i := rng.IntN(len(live))
			e := live[i]
			live = append(live[:i], live[i+1:]...)
			deleted = append(deleted, e)
			ev = catchupEvent{kind: "delete", id: e.id, rev: e.rev, lexeme: e.lexeme}
		case p < 8 && len(deleted) > 0:
			i := rng.IntN(len(deleted))
			e := deleted[i]
			deleted = append(deleted[:i], deleted[i+1:]...)
			live = append(live, e)
			ev = catchupEvent{kind: "undelete", id: e.id, rev: e.rev, lexeme: e.lexeme}
		default:
			e := live[rng.IntN(len(live))]
			rev++
			ev = catchupEvent{kind: "edit", id: e.id, rev: rev, parent: e.rev, lexeme: e.lexeme}
			e.rev = rev
		}
		bl.kinds[ev.kind]++
		bl.events = append(bl.events, ev)
	}
	return bl
}

func (bl *catchupBacklog) mix() string {
	return fmt.Sprintf("%d creates, %d edits, %d deletes, %d undeletes",
		bl.kinds["create"], bl.kinds["edit"], bl.kinds["delete"], bl.kinds["undelete"])
}

// catchupEvents are the page_change templates by kind.
type catchupEvents map[string]map[string]any

func loadCatchupEvents(b *testing.B) catchupEvents {
	out := catchupEvents{}
	for kind, name := range map[string]string{"create": "item-create.json", "edit": "item-edit.json",
		"delete": "item-delete.json", "undelete": "item-undelete.json", "lexeme-create": "lexeme-create.json"} {
		raw, err := os.ReadFile(filepath.Join("..", "quickstart", "testdata", "events", name))
		require.NoError(b, err)
		var ev map[string]any
		require.NoError(b, json.Unmarshal(raw, &ev))
		out[kind] = ev
	}
	return out
}

// produceCatchup writes the backlog, one event every 86 ms of event time
// (Wikidata's mean edit rate) ending now, then an event of another wiki an
// hour later, which moves the watermark past the last edits.
func produceCatchup(b *testing.B, ctx context.Context, cl *kafkatest.Cluster, topic string, tm catchupEvents, bl *catchupBacklog) {
	const spacing = 86 * time.Millisecond
	base := time.Now().Add(-time.Duration(len(bl.events)) * spacing)
	batch := make([]kafkatest.Record, 0, 1000)
	flush := func() {
		require.NoError(b, cl.Produce(ctx, topic, batch...))
		batch = batch[:0]
	}
	for i, ev := range bl.events {
		batch = append(batch, tm.record(b, ev, base.Add(time.Duration(i)*spacing), drillDomain))
		if len(batch) == cap(batch) {
			flush()
		}
	}
	last := base.Add(time.Duration(len(bl.events)) * spacing)
	batch = append(batch, tm.record(b, catchupEvent{kind: "edit", id: "Q1", rev: 1}, last.Add(time.Hour), "other.wiki.org"))
	flush()
}

func (tm catchupEvents) record(b *testing.B, e catchupEvent, dt time.Time, domain string) kafkatest.Record {
	kind := e.kind
	if kind == "create" && e.lexeme {
		kind = "lexeme-create"
	}
	ev := cloneJSON(tm[kind])
	ts := dt.UTC().Format(time.RFC3339Nano)
	ev["dt"] = ts
	page := ev["page"].(map[string]any)
	page["page_title"] = e.id
	page["namespace_id"] = 0
	if e.lexeme {
		page["page_title"], page["namespace_id"] = "Lexeme:"+e.id, 146
	}
	r := ev["revision"].(map[string]any)
	r["rev_id"], r["rev_dt"] = e.rev, ts
	if e.parent > 0 {
		r["rev_parent_id"] = e.parent
	} else {
		delete(r, "rev_parent_id")
	}
	meta := ev["meta"].(map[string]any)
	meta["domain"], meta["dt"] = domain, ts
	meta["request_id"] = fmt.Sprintf("catchup-%s-%d-%s", e.id, e.rev, e.kind)
	out, err := json.Marshal(ev)
	require.NoError(b, err)
	return kafkatest.Record{Key: []byte(e.id), Value: out, Timestamp: dt}
}

func cloneJSON(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = cloneJSON(sub)
		}
		out[k] = v
	}
	return out
}
