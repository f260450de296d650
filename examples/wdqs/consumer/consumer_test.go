package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

const (
	topic = "eqiad.rdf-streaming-updater.mutation"
	dlq   = "eqiad.rdf-streaming-updater.mutation.dlq"
)

var quiet = testLogger()

func testLogger() *slog.Logger {
	if os.Getenv("STREAMKIT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return data
}

func parse(t testing.TB, name string) []rdfdiff.Triple {
	t.Helper()
	ts, err := rdfdiff.ParseTurtleBytes(fixture(t, name), rdfdiff.WithFileName(name))
	require.NoError(t, err)
	return ts
}

// stream is a mutation stream and what a store fed it must hold.
type stream struct {
	msgs    [][]byte
	changes []*rdfdiff.EntityChange // in stream order, for the reference
	bad     []int                   // indexes of records that must be dead-lettered
}

func (s *stream) add(t testing.TB, c *rdfdiff.EntityChange, softMax int) {
	t.Helper()
	evs, err := rdfdiff.ChunkChange(*c, rdfdiff.WithSoftMaxChars(softMax), rdfdiff.WithMeta(func(seq int, m *rdfdiff.EventMeta) {
		m.ID = fmt.Sprintf("%s-%d", c.RequestID, seq)
		m.DT = c.EventTime
	}))
	require.NoError(t, err)
	for _, ev := range evs {
		b, err := ev.AppendJSON(nil)
		require.NoError(t, err)
		s.msgs = append(s.msgs, b)
	}
	s.changes = append(s.changes, c)
}

// addRaw adds one single-message event as it was recorded.
func (s *stream) addRaw(t testing.TB, msg []byte) {
	t.Helper()
	ev, err := rdfdiff.DecodeEvent(msg)
	require.NoError(t, err)
	c, err := rdfdiff.NewReassembler().Add(ev, nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	s.msgs = append(s.msgs, msg)
	s.changes = append(s.changes, c)
}

// fixtureStream is the consumer's end-to-end stream: the recorded WDQS
// mutation events, the real Q42 and L4082 imported in chunks, a diff and a
// reconciliation of Q42, a delete of L4082, and an undecodable record.
func fixtureStream(t testing.TB) *stream {
	wd := rdfdiff.WikidataScheme()
	shared := rdfdiff.WikibaseShared(wd)
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	change := func(id string, rev int64, op rdfdiff.Operation, p rdfdiff.Patch) *rdfdiff.EntityChange {
		at = at.Add(time.Second)
		return &rdfdiff.EntityChange{EntityID: id, Revision: rev, Operation: op, EventTime: at,
			RequestID: id + "-" + strconv.FormatInt(rev, 10), Domain: "www.wikidata.org", Stream: "rdf-streaming-updater.mutation", Patch: p}
	}
	q42, l4082 := parse(t, "Q42-munged.ttl"), parse(t, "L4082-munged.ttl")
	// Revision 2 of Q42 drops every tenth triple of the entity itself and
	// gains a label.
	var q42b []rdfdiff.Triple
	entity := rdfdiff.NewIRI(wd.EntityPrefix() + "Q42")
	for i, tr := range q42 {
		if tr.S == entity && i%10 == 0 {
			continue
		}
		q42b = append(q42b, tr)
	}
	q42b = append(q42b, rdfdiff.Triple{S: entity, P: rdfdiff.NewIRI("http://www.w3.org/2000/01/rdf-schema#label"),
		O: rdfdiff.NewLangLiteral("Douglas Adams (streamkit)", "en")})

	s := &stream{}
	for _, name := range []string{"Import-v2.json", "Diff-v2.json", "Delete-v2.json", "Reconcile-v2.json"} {
		s.addRaw(t, fixture(t, name))
	}
	s.add(t, change("Q42", 1, rdfdiff.OpImport, rdfdiff.Diff(nil, q42, shared)), 8000)
	s.add(t, change("L4082", 7, rdfdiff.OpImport, rdfdiff.Diff(nil, l4082, shared)), 2000)
	s.bad = append(s.bad, len(s.msgs))
	s.msgs = append(s.msgs, []byte(`{"entity_id": "Q1", "operation": `))
	s.add(t, change("Q42", 2, rdfdiff.OpDiff, rdfdiff.Diff(q42, q42b, shared)), 8000)
	s.add(t, change("L4082", 8, rdfdiff.OpDelete, rdfdiff.Patch{}), 8000)
	s.add(t, change("Q42", 3, rdfdiff.OpReconcile, rdfdiff.Patch{Added: q42}), 8000)
	return s
}

// reference applies the changes one at a time, as a store fed one event per
// batch holds them.
func (s *stream) reference(t testing.TB) *graph.Graph {
	t.Helper()
	g := graph.NewGraph()
	for _, c := range s.changes {
		acc := rdfdiff.NewAccumulator()
		require.NoError(t, acc.Accumulate(c))
		require.NoError(t, g.Apply(context.Background(), acc.Result(), nil))
	}
	return g
}

func produce(t testing.TB, cl *kafkatest.Cluster, msgs [][]byte) {
	t.Helper()
	recs := make([]kafkatest.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = kafkatest.Record{Key: []byte("k"), Value: m}
	}
	require.NoError(t, cl.Produce(context.Background(), topic, recs...))
}

// runUntil runs c until done reports true, then stops the job cleanly.
func runUntil(t *testing.T, ctx context.Context, cl *kafkatest.Cluster, c *consumer.Consumer, what string, done func(ctx context.Context) (bool, string, error)) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	var runErr error
	ended := false
	err := cl.WaitFor(ctx, what, func(ctx context.Context) (bool, string, error) {
		select {
		case runErr = <-errc:
			ended = true
			return true, "", nil // WaitFor would only retry an error
		default:
		}
		return done(ctx)
	})
	require.False(t, ended, "the job ended early: %v", runErr)
	if err != nil {
		_ = c.Job().Stop(ctx)
		t.Fatal(err)
	}
	require.NoError(t, c.Job().Stop(ctx))
	require.NoError(t, <-errc)
}

func newCluster(t *testing.T, ctx context.Context) *kafkatest.Cluster {
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	require.NoError(t, cl.CreateTopic(ctx, dlq, 1))
	return cl
}

func baseConfig(cl *kafkatest.Cluster, store checkpoint.Store) consumer.Config {
	return consumer.Config{
		Brokers: cl.Addrs(), Topics: []string{topic}, Group: "wdqs1010",
		Sarama: cl.SaramaConfig(), CheckpointStore: store,
		CheckpointInterval: 100 * time.Millisecond, DeadLetterTopic: dlq, Logger: quiet,
	}
}

// TestConsumerGraph runs the consumer into the in-memory graph over the
// fixture stream, stopping half-way and starting a new job on the same graph
// and checkpoint store: the graph ends equal to the reference, the
// undecodable record is dead-lettered once, and the commit point is at the end
// of the topic.
func TestConsumerGraph(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newCluster(t, ctx)
	s := fixtureStream(t)
	g, store := graph.NewGraph(), checkpoint.NewMemoryStore()
	committedAt := func(n int) func(ctx context.Context) (bool, string, error) {
		return func(ctx context.Context) (bool, string, error) {
			cp, err := g.Positions(ctx)
			if err != nil || cp == nil || len(cp.Positions) != 1 {
				return false, fmt.Sprintf("%+v", cp), nil
			}
			off := cp.Positions[source.TopicPartition{Topic: topic}]
			return off == int64(n), fmt.Sprintf("offset %d", off), nil
		}
	}
	half := len(s.msgs) / 2
	produce(t, cl, s.msgs[:half])
	cfg := baseConfig(cl, store)
	cfg.Graph = g
	c, err := consumer.New(cfg)
	require.NoError(t, err)
	runUntil(t, ctx, cl, c, "first half committed", committedAt(half))
	dead := c.DeadLetters()

	produce(t, cl, s.msgs[half:])
	c, err = consumer.New(cfg)
	require.NoError(t, err)
	runUntil(t, ctx, cl, c, "whole stream committed", committedAt(len(s.msgs)))
	dead = append(dead, c.DeadLetters()...)
	require.Len(t, dead, len(s.bad))
	for i, d := range dead {
		assert.Equal(t, s.msgs[s.bad[i]], d.Value)
		assert.Equal(t, dlq, d.Topic)
	}

	requireSameGraph(t, s.reference(t).Triples(), g.Triples())
	cp, err := g.Positions(ctx)
	require.NoError(t, err)
	assert.Equal(t, consumer.DefaultJobName, cp.Job)
}

// canonical returns ts as sorted N-Triples without orphan value and
// reference nodes (nodes of the value or reference namespace that no triple
// points at). Whether a store keeps those depends on batching: WDQS's
// accumulator never inserts the shared nodes of an entity imported and
// deleted in one batch, while a store that got the import in an earlier batch
// keeps them after the delete (deletes leave shared nodes). Both are what
// WDQS does; the rest of the graph must be identical.
func canonical(ts []rdfdiff.Triple, norm func(rdfdiff.Triple) rdfdiff.Triple) []string {
	wd := rdfdiff.WikidataScheme()
	shared := func(t rdfdiff.Term) bool {
		return t.IsIRI() && (strings.HasPrefix(t.Value(), wd.ValuePrefix()) || strings.HasPrefix(t.Value(), wd.ReferencePrefix()))
	}
	for {
		pointed := map[rdfdiff.Term]bool{}
		for _, tr := range ts {
			pointed[tr.O] = true
		}
		kept := ts[:0:0]
		for _, tr := range ts {
			if !shared(tr.S) || pointed[tr.S] {
				kept = append(kept, tr)
			}
		}
		if len(kept) == len(ts) {
			break
		}
		ts = kept
	}
	lines := make([]string, 0, len(ts))
	seen := map[string]bool{}
	for _, tr := range ts {
		if norm != nil {
			tr = norm(tr)
		}
		l := string(rdfdiff.AppendNTriples(nil, []rdfdiff.Triple{tr}))
		if !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines
}

// requireSameGraph compares two graphs with canonical, showing the first
// differences.
func requireSameGraph(t testing.TB, want, got []rdfdiff.Triple, norm ...func(rdfdiff.Triple) rdfdiff.Triple) {
	t.Helper()
	var n func(rdfdiff.Triple) rdfdiff.Triple
	if len(norm) > 0 {
		n = norm[0]
	}
	w, g := canonical(want, n), canonical(got, n)
	require.NotEmpty(t, w)
	if slices.Equal(w, g) {
		return
	}
	wm, gm := map[string]bool{}, map[string]bool{}
	for _, l := range w {
		wm[l] = true
	}
	for _, l := range g {
		gm[l] = true
	}
	var diff []string
	for _, l := range w {
		if !gm[l] && len(diff) < 10 {
			diff = append(diff, "- "+l)
		}
	}
	for _, l := range g {
		if !wm[l] && len(diff) < 20 {
			diff = append(diff, "+ "+l)
		}
	}
	t.Fatalf("graphs differ (%d triples expected, %d held):\n%s", len(w), len(g), strings.Join(diff, ""))
}

func TestConfigErrors(t *testing.T) {
	store := checkpoint.NewMemoryStore()
	ok := consumer.Config{Brokers: []string{"k:9092"}, Topics: []string{topic}, StoreURL: "http://127.0.0.1:1/sparql", CheckpointStore: store}
	for name, mod := range map[string]func(c *consumer.Config){
		"no brokers":        func(c *consumer.Config) { c.Brokers = nil },
		"no topics":         func(c *consumer.Config) { c.Topics = nil },
		"no store":          func(c *consumer.Config) { c.StoreURL = "" },
		"store and graph":   func(c *consumer.Config) { c.Graph = graph.NewGraph() },
		"no checkpoints":    func(c *consumer.Config) { c.CheckpointStore = nil },
		"virtuoso no graph": func(c *consumer.Config) { c.Dialect = sparql.DialectVirtuoso },
		"unknown dialect":   func(c *consumer.Config) { c.Dialect = 42 },
		"bad job name":      func(c *consumer.Config) { c.JobName = "a b" },
		"bad dead letters":  func(c *consumer.Config) { c.DeadLetterTopic, c.Brokers = "d", nil },
		"bad store URL":     func(c *consumer.Config) { c.StoreURL = "://x" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			mod(&cfg)
			_, err := consumer.New(cfg)
			require.Error(t, err)
			assert.True(t, errors.Is(err, consumer.ErrInvalidConfig), "%v", err)
		})
	}
	c, err := consumer.New(ok)
	require.NoError(t, err)
	assert.Equal(t, consumer.DefaultJobName, c.Job().Name())
}

func TestParseDialect(t *testing.T) {
	for s, want := range map[string]sparql.Dialect{"blazegraph": sparql.DialectBlazegraph, "oxigraph": sparql.DialectSPARQL11,
		"generic": sparql.DialectSPARQL11, "virtuoso": sparql.DialectVirtuoso} {
		d, err := consumer.ParseDialect(s)
		require.NoError(t, err)
		assert.Equal(t, want, d, s)
	}
	_, err := consumer.ParseDialect("neptune")
	assert.ErrorIs(t, err, consumer.ErrInvalidConfig)
}

var _ streamkit.Output = (*consumer.Output)(nil)
