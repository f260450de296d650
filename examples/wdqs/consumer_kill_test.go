package wdqs_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// The Oxigraph kill test proves the per-replica consumer exactly-once into a
// store: the child program internal/consumerjob (consumer.RDFConsumer feeding a
// sparql.SPARQL on Oxigraph, FileStore checkpoints) reads a generated stream of
// rdf_change events — imports, diffs, reconciles and deletes of a few dozen
// entities with increasing revisions, many of them chunked — and a
// jobtest.KillLoop SIGKILLs it at random moments while the stream is being
// produced. Afterwards:
//
//   - the store's data graph equals the reference, a graph.Graph fed the same
//     changes one at a time in this process (sorted N-Triples). The only
//     normalisation is the one the accumulator documents: shared value and
//     reference nodes that no triple references any more (orphans, which
//     WDQS keeps) depend on how changes were batched, so both sides drop
//     them before comparing;
//   - every entity's schema:version in the store is its last revision, and
//     a deleted entity has none: no patch was applied twice or out of order;
//   - the store's commit point is at the end of the topic.
//
// The generated data avoids what Oxigraph reads back in another form
// (xsd:decimal and xsd:double values, language subtags longer than eight
// characters; see the sink package documentation), so no store quirk needs
// normalising; the terms still hold quotes, backslashes, line breaks and
// non-ASCII text.
//
// TestConsumerKillBlazegraph runs the same scenario on Blazegraph.
//
// It needs STREAMKIT_OXIGRAPH_URL (the SPARQL endpoint). STREAMKIT_KILLS
// sets the number of kills (default 20), STREAMKIT_KILL_SEED the seed,
// STREAMKIT_CONSUMER_KILL_CHANGES the number of generated changes (default
// 500).

const (
	ckJob         = "wdqs-consumer-kill"
	ckTopic       = "mutation"
	ckFirstEntity = 900000 // generated entities are Q900001 …
)

func TestConsumerKillOxigraph(t *testing.T) {
	endpoint := os.Getenv("STREAMKIT_OXIGRAPH_URL")
	if endpoint == "" {
		t.Skip("STREAMKIT_OXIGRAPH_URL is not set")
	}
	testConsumerKill(t, func(t *testing.T, seed uint64) ckTarget {
		// The store: this run's own named graphs, dropped at the end.
		client, err := sparql.NewClient(endpoint)
		require.NoError(t, err)
		base := fmt.Sprintf("http://streamkit.test/consumer-kill/%d/", seed)
		dataGraph, commitGraph := base+"data", base+"commit"
		dropGraphs := func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			assert.NoError(t, client.Update(dctx, "DROP SILENT GRAPH <"+dataGraph+"> ; DROP SILENT GRAPH <"+commitGraph+">"))
		}
		dropGraphs()
		t.Cleanup(dropGraphs)
		return ckTarget{client: client, dialect: "oxigraph", dataGraph: dataGraph, commitGraph: commitGraph}
	})
}

// ckTarget is the store a consumer kill test writes to: its client, the
// consumerjob's -dialect, the graphs (empty: the default graph, on a store
// of the test's own), the normalisation of both sides of the comparison
// (nil: none) and the time between a kill and the next start (zero: at
// once).
type ckTarget struct {
	client                 *sparql.Client
	dialect                string
	dataGraph, commitGraph string
	norm                   func([]rdfdiff.Triple) []rdfdiff.Triple
	downtime               time.Duration
}

// testConsumerKill runs the consumer kill scenario against the store that
// target sets up for the run's seed.
func testConsumerKill(t *testing.T, target func(t *testing.T, seed uint64) ckTarget) {
	kills := killCount(t, consumerDefaultKills)
	changes := 500
	if s := os.Getenv("STREAMKIT_CONSUMER_KILL_CHANGES"); s != "" {
		var err error
		changes, err = strconv.Atoi(s)
		require.NoError(t, err, "STREAMKIT_CONSUMER_KILL_CHANGES")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+time.Duration(kills)*5*time.Second)
	defer cancel()
	seed := rand.Uint64() | 1
	if s := os.Getenv("STREAMKIT_KILL_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "STREAMKIT_KILL_SEED")
	}
	t.Logf("seed %d (STREAMKIT_KILL_SEED to repeat), %d kills, %d changes", seed, kills, changes)
	start := time.Now()

	tg := target(t, seed)
	// The pause between two produced changes spreads the stream over the
	// loop, so that the kills land on work: 15 ms, longer with a downtime.
	pace := max(15*time.Millisecond, time.Duration(kills)*(tg.downtime+1150*time.Millisecond)/time.Duration(max(changes, 1)))
	client, dataGraph, commitGraph := tg.client, tg.dataGraph, tg.commitGraph
	endpoint := client.Endpoint()
	var bopts []sparql.Option
	if dataGraph != "" {
		bopts = append(bopts, sparql.WithDataGraph(dataGraph))
	}
	if commitGraph != "" {
		bopts = append(bopts, sparql.WithCommitGraph(commitGraph))
	}
	builder, err := sparql.NewUpdateBuilder(rdfdiff.WikidataScheme(), bopts...)
	require.NoError(t, err)

	// The broker, on a fixed port for the child.
	var cl *kafkatest.Cluster
	for range 5 {
		cl, err = kafkatest.Start(kafkatest.Ports(freePort(t)),
			kafkatest.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "200"}))
		if err == nil {
			break
		}
	}
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	require.NoError(t, cl.CreateTopic(ctx, ckTopic, 1))

	bin := buildConsumerJob(t)
	t.Logf("child built in %v", time.Since(start).Round(time.Millisecond))
	stateDir := t.TempDir()
	var (
		mu       sync.Mutex
		children []*jobtest.Child
	)
	t.Cleanup(func() { // before the broker's cleanup: no child outlives it
		mu.Lock()
		defer mu.Unlock()
		for _, c := range children {
			_ = c.Kill()
		}
	})
	var logs io.Writer = io.Discard
	if f := jobtest.LogFile(t, ""); f != nil {
		logs = f
	}
	loop := &jobtest.KillLoop{
		Name: "consumerjob", Kills: kills, Seed: seed, Output: logs,
		MinUptime: 300 * time.Millisecond, MaxUptime: 2 * time.Second,
		MinDowntime: tg.downtime, MaxDowntime: tg.downtime,
		Command: func(run int) *exec.Cmd {
			// A new consumer group per run: the commit point is in the
			// store, not in the group, and a fresh group never waits for
			// the session timeout of the member just killed.
			return exec.Command(bin, "-brokers", cl.Addrs()[0], "-topic", ckTopic, "-job", ckJob,
				"-group", ckJob+"-"+strconv.Itoa(run),
				"-state", stateDir, "-sparql", endpoint, "-dialect", tg.dialect, "-data-graph", dataGraph, "-commit-graph", commitGraph,
				"-interval", "150ms", "-pause", "100ms", "-session-timeout", "1s", "-heartbeat", "200ms",
				"-rebalance-timeout", "3s", "-max-failures", "10", "-v",
				"-seed", strconv.FormatUint(seed+uint64(run)+1, 10))
		},
		OnKill: func(c *jobtest.Child) {
			mu.Lock()
			children = append(children, c)
			mu.Unlock()
		},
	}

	// The stream, produced while the loop kills, and the reference.
	gen := newCKStream(seed)
	ref := graph.NewGraph()
	var produced int64
	prodDone := make(chan error, 1)
	prodStart := time.Now()
	go func() {
		for i := range changes {
			c := gen.change()
			msgs, err := ckEncode(c, []int{600, 2_000, rdfdiff.DefaultSoftMaxChars}[gen.r.IntN(3)])
			if err != nil {
				prodDone <- err
				return
			}
			// The chunks of an event one by one, with a pause now and
			// then, so that checkpoints land between them.
			for _, m := range msgs {
				if err := cl.Produce(ctx, ckTopic, kafkatest.Record{Key: []byte(c.EntityID), Value: m}); err != nil {
					prodDone <- fmt.Errorf("change %d: %w", i, err)
					return
				}
				if len(msgs) > 1 && gen.r.IntN(4) == 0 {
					time.Sleep(time.Duration(gen.r.IntN(150)) * time.Millisecond)
				}
			}
			acc := rdfdiff.NewAccumulator()
			if err := acc.Accumulate(c); err != nil {
				prodDone <- fmt.Errorf("reference, change %d: %w", i, err)
				return
			}
			if err := ref.Apply(ctx, acc.Result(), nil); err != nil {
				prodDone <- fmt.Errorf("reference, change %d: %w", i, err)
				return
			}
			mu.Lock()
			produced += int64(len(msgs))
			mu.Unlock()
			select { // pace the stream over the loop, so kills land on work
			case <-time.After(pace):
			case <-ctx.Done():
				prodDone <- ctx.Err()
				return
			}
		}
		t.Logf("stream produced in %v", time.Since(prodStart).Round(time.Millisecond))
		prodDone <- nil
	}()

	final, rep, err := loop.Run(ctx)
	if final != nil {
		mu.Lock()
		children = append(children, final)
		mu.Unlock()
	}
	require.NoError(t, err)
	t.Log(rep)
	require.NoError(t, <-prodDone, "producing the stream")
	loopEnd := time.Now()
	// The kills must have landed on work: most killed runs committed.
	mu.Lock()
	committedRuns, midEvent := 0, 0
	for _, c := range children {
		out := c.Output()
		if c != final && strings.Contains(out, "consumerjob: committed checkpoint") {
			committedRuns++
		}
		midEvent += len(ckMidEventRE.FindAllString(out, -1))
	}
	mu.Unlock()
	if kills >= 10 {
		assert.GreaterOrEqual(t, committedRuns, kills/2, "killed runs that committed a checkpoint: the kills did not hit the commit cycle")
		assert.Positive(t, midEvent, "no checkpoint committed between two chunks of an event")
	}
	total := produced

	// Drain: the final run commits up to the end of the topic (a killed run
	// may have got there already; the final one must still start and stop
	// cleanly).
	require.NoError(t, final.WaitOutput(ctx, "consumerjob: pid"), "start of the final run")
	out, err := sparql.NewSPARQL(client, builder)
	require.NoError(t, err)
	parts := source.Partitions{ckTopic: {0}}
	var cp *streamkit.CommitPoint
	err = cl.WaitFor(ctx, fmt.Sprintf("commit point at offset %d", total), func(ctx context.Context) (bool, string, error) {
		if final.Exited() {
			return false, "", fmt.Errorf("final run exited: %w", final.Err())
		}
		cp, err = out.ReadCommitPoint(ctx, parts)
		if err != nil {
			return false, err.Error(), nil
		}
		return len(cp.Positions) == 1 && cp.Positions[source.TopicPartition{Topic: ckTopic}] == total, fmt.Sprintf("%+v", cp), nil
	})
	if err != nil {
		t.Logf("output of the final run (tail):\n%s", final.Output())
	}
	require.NoError(t, err)
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	t.Logf("drained %v after the loop", time.Since(loopEnd).Round(time.Millisecond))
	require.NoError(t, final.Stop(sctx), "clean stop of the final run")
	scancel()
	require.Contains(t, final.Output(), "consumerjob: stopped cleanly")

	// The commit point after the clean stop is still the end of the topic.
	cp, err = out.ReadCommitPoint(ctx, parts)
	require.NoError(t, err)
	require.Equal(t, source.Positions{{Topic: ckTopic, Partition: 0}: total}, cp.Positions)
	assert.Equal(t, ckJob, cp.Job)

	// The store equals the reference; by revision, each entity's
	// schema:version is its last revision.
	got := ckDumpGraph(t, ctx, client, dataGraph)
	var norms []func([]rdfdiff.Triple) []rdfdiff.Triple
	if tg.norm != nil {
		norms = append(norms, tg.norm)
	}
	ckRequireReference(t, got, ref.Triples(), gen, norms...)
	live := 0
	for _, e := range gen.ents {
		if e.cur != nil {
			live++
		}
	}
	gotN := ckWithoutOrphans(rdfdiff.WikidataScheme(), got)
	t.Logf("consumer kill test: %d kills (%d runs committed before their kill; %d checkpoints between chunks of an event), %d starts, %d changes %v in %d records, %d live entities, %d triples in the store (%d after dropping orphans), wall %v",
		rep.Kills, committedRuns, midEvent, rep.Starts, changes, gen.ops, total, live, len(got), len(gotN), time.Since(start).Round(time.Millisecond))
}

// ckMidEventRE matches the child's log of a checkpoint committed while an
// event was incomplete (its chunks in the state table).
var ckMidEventRE = regexp.MustCompile(`committed checkpoint \d+ of task \d+ \(\d+ records, [1-9]\d* pending chunks\)`)

// buildConsumerJob builds internal/consumerjob into the test's temporary
// directory.
func buildConsumerJob(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "consumerjob")
	require.NoError(t, jobtest.Build(context.Background(), "./internal/consumerjob", bin))
	return bin
}

// ckDumpGraph reads every triple of graph from the store, sorted; for ""
// the default graph without the commit points' nodes (which a triples-mode
// store keeps beside the data).
func ckDumpGraph(t *testing.T, ctx context.Context, c *sparql.Client, graph string) []rdfdiff.Triple {
	t.Helper()
	q := "SELECT ?s ?p ?o WHERE { GRAPH <" + graph + "> { ?s ?p ?o } }"
	if graph == "" {
		q = "SELECT ?s ?p ?o WHERE { ?s ?p ?o . FILTER(!STRSTARTS(STR(?s), \"" + sparql.DefaultCommitNamespace + "\")) }"
	}
	res, err := c.Query(ctx, q)
	require.NoError(t, err)
	out := make([]rdfdiff.Triple, 0, len(res.Bindings))
	for _, b := range res.Bindings {
		out = append(out, rdfdiff.Triple{S: b["s"], P: b["p"], O: b["o"]})
	}
	rdfdiff.SortTriples(out)
	return out
}

// ckWithoutOrphans drops value and reference nodes that no triple
// references (repeatedly, as dropping one may orphan another): which of
// them a store keeps depends on how changes were batched (see
// rdfdiff.Accumulator), so they are not part of the comparison.
func ckWithoutOrphans(wd rdfdiff.URIScheme, ts []rdfdiff.Triple) []rdfdiff.Triple {
	ts = slices.Clone(ts)
	for {
		used := make(map[rdfdiff.Term]bool)
		for _, tr := range ts {
			used[tr.O] = true
		}
		n := len(ts)
		ts = slices.DeleteFunc(ts, func(tr rdfdiff.Triple) bool {
			return (wd.InValueNamespace(tr.S) || wd.InReferenceNamespace(tr.S)) && !used[tr.S]
		})
		if len(ts) == n {
			return ts
		}
	}
}

// ckReportDiff logs the triples only one side holds.
func ckReportDiff(t *testing.T, want, got []rdfdiff.Triple) {
	t.Helper()
	in := func(ts []rdfdiff.Triple) map[rdfdiff.Triple]bool {
		m := make(map[rdfdiff.Triple]bool, len(ts))
		for _, tr := range ts {
			m[tr] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var missing, extra []string
	for _, tr := range want {
		if !g[tr] {
			missing = append(missing, tr.String())
		}
	}
	for _, tr := range got {
		if !w[tr] {
			extra = append(extra, tr.String())
		}
	}
	cut := func(s []string) string {
		if len(s) > 40 {
			s = append(s[:40:40], fmt.Sprintf("… %d more", len(s)-40))
		}
		return strings.Join(s, "\n")
	}
	t.Errorf("store differs from the reference: %d triples missing, %d extra\nmissing:\n%s\nextra:\n%s",
		len(missing), len(extra), cut(missing), cut(extra))
}

// Vocabulary of the generated entities (Wikidata's, munged form).
var (
	ckType          = rdfdiff.NewIRI(rdfdiff.RDFType)
	ckItem          = rdfdiff.NewIRI("http://wikiba.se/ontology#Item")
	ckStatement     = rdfdiff.NewIRI("http://wikiba.se/ontology#Statement")
	ckRank          = rdfdiff.NewIRI("http://wikiba.se/ontology#rank")
	ckNormalRank    = rdfdiff.NewIRI("http://wikiba.se/ontology#NormalRank")
	ckQuantity      = rdfdiff.NewIRI("http://wikiba.se/ontology#QuantityValue")
	ckAmount        = rdfdiff.NewIRI("http://wikiba.se/ontology#quantityAmount")
	ckWikiGroup     = rdfdiff.NewIRI("http://wikiba.se/ontology#wikiGroup")
	ckDerivedFrom   = rdfdiff.NewIRI("http://www.w3.org/ns/prov#wasDerivedFrom")
	ckLabel         = rdfdiff.NewIRI("http://www.w3.org/2000/01/rdf-schema#label")
	ckSchemaVersion = rdfdiff.NewIRI("http://schema.org/version")
	ckDescription   = rdfdiff.NewIRI("http://schema.org/description")
	ckArticle       = rdfdiff.NewIRI("http://schema.org/Article")
	ckAbout         = rdfdiff.NewIRI("http://schema.org/about")
	ckIsPartOf      = rdfdiff.NewIRI("http://schema.org/isPartOf")
	ckInLanguage    = rdfdiff.NewIRI("http://schema.org/inLanguage")
	ckName          = rdfdiff.NewIRI("http://schema.org/name")
	ckSite          = rdfdiff.NewIRI("https://en.wikipedia.org/")
)

// ckStmt is one statement of a generated entity.
type ckStmt struct {
	prop, id   int
	value      string
	vnode, ref int // shared value and reference nodes, from a small pool
}

// ckEntity is one generated entity as the producer knows it.
type ckEntity struct {
	id    string
	rev   int64
	cur   []rdfdiff.Triple // nil while deleted or not created yet
	label string
	desc  string
	stmts []ckStmt
}

// ckStream generates the changes: imports of absent entities, and for
// present ones mostly diffs, some reconciles and deletes. Revisions grow
// across the stream.
type ckStream struct {
	r     *rand.Rand
	ents  []*ckEntity
	rev   int64
	clock time.Time
	sid   int
	ops   map[rdfdiff.Operation]int
}

func newCKStream(seed uint64) *ckStream {
	s := &ckStream{r: rand.New(rand.NewPCG(seed, 42)), clock: time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC),
		ops: make(map[rdfdiff.Operation]int)}
	for i := 1; i <= 40; i++ {
		s.ents = append(s.ents, &ckEntity{id: "Q" + strconv.Itoa(ckFirstEntity+i)})
	}
	return s
}

func ckWD(local string) rdfdiff.Term { return rdfdiff.NewIRI("http://www.wikidata.org/" + local) }

// triples renders e's current data in munged form.
func (e *ckEntity) triples() []rdfdiff.Triple {
	ent := ckWD("entity/" + e.id)
	ts := []rdfdiff.Triple{
		{S: ent, P: ckType, O: ckItem},
		{S: ent, P: ckSchemaVersion, O: rdfdiff.NewTypedLiteral(strconv.FormatInt(e.rev, 10), rdfdiff.XSDInteger)},
		{S: ent, P: ckLabel, O: rdfdiff.NewLangLiteral(e.label, "en")},
		{S: ent, P: ckDescription, O: rdfdiff.NewLangLiteral(e.desc, "en")},
	}
	art := rdfdiff.NewIRI("https://en.wikipedia.org/wiki/" + e.id)
	ts = append(ts,
		rdfdiff.Triple{S: art, P: ckType, O: ckArticle},
		rdfdiff.Triple{S: art, P: ckAbout, O: ent},
		rdfdiff.Triple{S: art, P: ckIsPartOf, O: ckSite},
		rdfdiff.Triple{S: art, P: ckInLanguage, O: rdfdiff.NewLiteral("en")},
		rdfdiff.Triple{S: art, P: ckName, O: rdfdiff.NewLangLiteral("Article "+e.id, "en")},
		rdfdiff.Triple{S: ckSite, P: ckWikiGroup, O: rdfdiff.NewLiteral("wikipedia")},
	)
	for _, st := range e.stmts {
		p := "P" + strconv.Itoa(st.prop)
		node := ckWD("entity/statement/" + e.id + "-" + strconv.Itoa(st.id))
		vnode := ckWD("value/v" + strconv.Itoa(st.vnode))
		ref := ckWD("reference/r" + strconv.Itoa(st.ref))
		ts = append(ts,
			rdfdiff.Triple{S: ent, P: ckWD("prop/" + p), O: node},
			rdfdiff.Triple{S: node, P: ckType, O: ckStatement},
			rdfdiff.Triple{S: node, P: ckRank, O: ckNormalRank},
			rdfdiff.Triple{S: node, P: ckWD("prop/statement/" + p), O: rdfdiff.NewLiteral(st.value)},
			rdfdiff.Triple{S: node, P: ckWD("prop/statement/value/" + p), O: vnode},
			rdfdiff.Triple{S: node, P: ckDerivedFrom, O: ref},
			// Shared nodes: the same triples whoever links them.
			rdfdiff.Triple{S: vnode, P: ckType, O: ckQuantity},
			rdfdiff.Triple{S: vnode, P: ckAmount, O: rdfdiff.NewLiteral("amount " + strconv.Itoa(st.vnode))},
			rdfdiff.Triple{S: ref, P: ckWD("prop/reference/P854"), O: rdfdiff.NewLiteral("https://example.org/source/" + strconv.Itoa(st.ref))},
		)
	}
	rdfdiff.SortTriples(ts)
	return slices.Compact(ts)
}

// text returns n characters of varied text (quotes, escapes, non-ASCII),
// long enough now and then to make events span several chunks.
func (s *ckStream) text(prefix string, n int) string {
	pieces := []string{`"`, `\`, "\n", "é", "中文", "😀", " ", "'", "<>", "a", "b", "c", "d"}
	var sb strings.Builder
	sb.WriteString(prefix)
	for sb.Len() < n {
		sb.WriteString(pieces[s.r.IntN(len(pieces))])
	}
	return sb.String()
}

func (s *ckStream) newStmt() ckStmt {
	s.sid++
	return ckStmt{prop: 1 + s.r.IntN(30), id: s.sid, value: s.text("v", 10+s.r.IntN(300)),
		vnode: s.r.IntN(25), ref: s.r.IntN(15)}
}

// edit moves e to a new revision: a new label always, and one more change.
func (s *ckStream) edit(e *ckEntity) {
	e.label = s.text("label "+strconv.FormatInt(s.rev, 10)+" ", 20)
	switch k := s.r.IntN(5); {
	case k == 0 && len(e.stmts) > 1:
		i := s.r.IntN(len(e.stmts))
		e.stmts = slices.Delete(e.stmts, i, i+1)
	case k == 1 && len(e.stmts) > 0:
		i := s.r.IntN(len(e.stmts))
		e.stmts[i].value, e.stmts[i].vnode = s.text("w", 5+s.r.IntN(200)), s.r.IntN(25)
	case k == 2:
		e.desc = s.text("description ", []int{30, 400, 3000}[s.r.IntN(3)])
	default:
		e.stmts = append(e.stmts, s.newStmt())
	}
}

// change returns the next change of the stream.
func (s *ckStream) change() *rdfdiff.EntityChange {
	e := s.ents[s.r.IntN(len(s.ents))]
	shared := rdfdiff.WikibaseShared(rdfdiff.WikidataScheme())
	s.rev++
	s.clock = s.clock.Add(time.Duration(1+s.r.IntN(2000)) * time.Millisecond)
	c := &rdfdiff.EntityChange{EntityID: e.id, Revision: s.rev, EventTime: s.clock,
		RequestID: "req-" + strconv.FormatInt(s.rev, 10), Domain: "www.wikidata.org", Stream: "rdf-streaming-updater.mutation"}
	switch k := s.r.IntN(100); {
	case e.cur == nil:
		e.rev, e.stmts, e.desc = s.rev, nil, s.text("description ", 40)
		for range 2 + s.r.IntN(6) {
			e.stmts = append(e.stmts, s.newStmt())
		}
		s.edit(e)
		next := e.triples()
		c.Operation, c.Patch = rdfdiff.OpImport, rdfdiff.Diff(nil, next, shared)
		e.cur = next
	case k < 6:
		c.Operation = rdfdiff.OpDelete
		e.cur, e.rev = nil, 0
	case k < 14:
		e.rev = s.rev
		s.edit(e)
		next := e.triples()
		c.Operation, c.Patch = rdfdiff.OpReconcile, rdfdiff.Patch{Added: rdfdiff.Diff(nil, next, shared).Added}
		e.cur = next
	default:
		e.rev = s.rev
		s.edit(e)
		next := e.triples()
		c.Operation, c.Patch = rdfdiff.OpDiff, rdfdiff.Diff(e.cur, next, shared)
		e.cur = next
	}
	s.ops[c.Operation]++
	return c
}

// ckEncode turns a change into the producer's messages, chunked at softMax
// characters.
func ckEncode(c *rdfdiff.EntityChange, softMax int) ([][]byte, error) {
	for _, b := range [][]rdfdiff.Triple{c.Patch.Added, c.Patch.Removed, c.Patch.LinkedShared, c.Patch.UnlinkedShared} {
		rdfdiff.SortTriples(b)
	}
	evs, err := rdfdiff.ChunkChange(*c, rdfdiff.WithSoftMaxChars(softMax), rdfdiff.WithMeta(func(seq int, m *rdfdiff.EventMeta) {
		m.ID = fmt.Sprintf("%s-%d", c.RequestID, seq)
		m.DT = c.EventTime
	}))
	if err != nil {
		return nil, fmt.Errorf("chunking %s %s: %w", c.Operation, c.EntityID, err)
	}
	out := make([][]byte, len(evs))
	for i, ev := range evs {
		if out[i], err = ev.AppendJSON(nil); err != nil {
			return nil, fmt.Errorf("encoding %s %s: %w", c.Operation, c.EntityID, err)
		}
	}
	return out, nil
}

// consumerDefaultKills is how many SIGKILLs the consumer kill test makes
// unless jobtest.KillsEnv says otherwise.
const consumerDefaultKills = 20

func killCount(t *testing.T, def int) int {
	t.Helper()
	n, err := jobtest.KillsFromEnv(def)
	require.NoError(t, err)
	return n
}

// freePort returns a loopback TCP port that was free a moment ago: the
// broker must come back on the same port after each restart.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}
