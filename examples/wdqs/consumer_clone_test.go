package wdqs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// Replica cloning. WDQS brings a new query-service host up by copying another
// host's data. The per-replica consumer keeps its position in the store (a
// commit graph of position triples written in the same update as the data),
// so a store copied with its commit graph carries its exact position: a
// consumer started on the copy resumes there, with nothing lost or doubled.
//
// What has to travel with the copy, and why:
//   - the data graph and the commit graph, copied at one moment (Blazegraph's
//     journal file holds both; here SPARQL COPY GRAPH of both while the
//     source consumer is stopped);
//   - the consumer's job name: the commit point names it, and a consumer
//     refuses a commit point of another job;
//   - the checkpoint named by the commit point: the consumer's state (the
//     chunks of events not complete at the commit) is checkpoint N of
//     "<job>.task-0" in the source's checkpoint store. The clone gets a copy
//     of that namespace in a checkpoint store of its own (it must not share
//     the source's: both would write checkpoint N+1). Without it the clone
//     refuses to start, rather than lose the pending chunks.
//
// The clone's consumer group is its own (each replica reads the whole topic).

// cloneStream is a synthetic mutation stream whose events span several
// records, with the index of each event's first record.
type cloneStream struct {
	msgs    [][]byte
	changes []*rdfdiff.EntityChange
	starts  []int
}

func cloneEntityStream(t *testing.T) *cloneStream {
	wd := rdfdiff.WikidataScheme()
	entity := func(n int) rdfdiff.Term { return rdfdiff.NewIRI(wd.EntityPrefix() + fmt.Sprintf("Q%d", n)) }
	triples := func(n, rev int) []rdfdiff.Triple {
		var ts []rdfdiff.Triple
		for k := range 40 {
			ts = append(ts, rdfdiff.Triple{S: entity(n), P: rdfdiff.NewIRI(fmt.Sprintf("http://www.wikidata.org/prop/direct/P%d", k+1)),
				O: rdfdiff.NewLiteral(fmt.Sprintf("entity %d property %d revision %d", n, k+1, rev-rev%(k+2)))})
		}
		return ts
	}
	s := &cloneStream{}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	add := func(c *rdfdiff.EntityChange) {
		at = at.Add(time.Second)
		c.EventTime, c.RequestID, c.Domain, c.Stream = at, fmt.Sprintf("%s-%d", c.EntityID, c.Revision), "www.wikidata.org", "rdf-streaming-updater.mutation"
		evs, err := rdfdiff.ChunkChange(*c, rdfdiff.WithSoftMaxChars(700), rdfdiff.WithMeta(func(seq int, m *rdfdiff.EventMeta) {
			m.ID, m.DT = fmt.Sprintf("%s-%d", c.RequestID, seq), c.EventTime
		}))
		require.NoError(t, err)
		s.starts = append(s.starts, len(s.msgs))
		for _, ev := range evs {
			b, err := ev.AppendJSON(nil)
			require.NoError(t, err)
			s.msgs = append(s.msgs, b)
		}
		s.changes = append(s.changes, c)
	}
	shared := rdfdiff.WikibaseShared(wd)
	for n := 1; n <= 12; n++ {
		add(&rdfdiff.EntityChange{EntityID: fmt.Sprintf("Q%d", n), Revision: 100, Operation: rdfdiff.OpImport, Patch: rdfdiff.Diff(nil, triples(n, 100), shared)})
	}
	for rev := 101; rev <= 103; rev++ {
		for n := 1; n <= 12; n += 2 {
			add(&rdfdiff.EntityChange{EntityID: fmt.Sprintf("Q%d", n), Revision: int64(rev), Operation: rdfdiff.OpDiff,
				Patch: rdfdiff.Diff(triples(n, rev-1), triples(n, rev), shared)})
		}
	}
	for n := 2; n <= 12; n += 5 {
		add(&rdfdiff.EntityChange{EntityID: fmt.Sprintf("Q%d", n), Revision: 104, Operation: rdfdiff.OpDelete})
	}
	return s
}

// reference is what a store fed the stream one event per batch holds, as
// sorted N-Triples lines.
func (s *cloneStream) reference(t *testing.T) []string {
	g := graph.NewGraph()
	for _, c := range s.changes {
		acc := rdfdiff.NewAccumulator()
		require.NoError(t, acc.Accumulate(c))
		require.NoError(t, g.Apply(context.Background(), acc.Result(), nil))
	}
	return cloneLines(g.Triples())
}

func cloneLines(ts []rdfdiff.Triple) []string {
	out := make([]string, len(ts))
	for i, tr := range ts {
		out[i] = string(rdfdiff.AppendNTriples(nil, []rdfdiff.Triple{tr}))
	}
	sort.Strings(out)
	return out
}

// cloneReplica is one store replica: its graphs and its checkpoint store.
type cloneReplica struct {
	name, data, commit string
	store              checkpoint.Store
}

func (r *cloneReplica) consumer(t *testing.T, cl *kafkatest.Cluster, url, topic string) *consumer.Consumer {
	c, err := consumer.New(consumer.Config{
		Brokers: cl.Addrs(), Topics: []string{topic}, Group: r.name, Sarama: cl.SaramaConfig(),
		StoreURL: url, Dialect: sparql.DialectSPARQL11, DataGraph: r.data, CommitGraph: r.commit, LagMarker: "-",
		CheckpointStore: r.store, CheckpointInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return c
}

// position reads the replica's commit point from the store.
func (r *cloneReplica) position(ctx context.Context, client *sparql.Client, topic string) (int64, uint64, error) {
	b, err := sparql.NewUpdateBuilder(rdfdiff.WikidataScheme(), sparql.WithDataGraph(r.data), sparql.WithCommitGraph(r.commit))
	if err != nil {
		return 0, 0, err
	}
	s, err := sparql.NewSPARQL(client, b)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	cp, err := s.ReadCommitPoint(ctx, source.Partitions{topic: {0}})
	if err != nil {
		return 0, 0, err
	}
	return cp.Positions[source.TopicPartition{Topic: topic}], cp.CheckpointID, nil
}

// run runs c until the replica's commit point is at offset, then stops it.
func (r *cloneReplica) run(t *testing.T, ctx context.Context, cl *kafkatest.Cluster, client *sparql.Client, c *consumer.Consumer, topic string, offset int64) {
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	var runErr error
	ended := false
	err := cl.WaitFor(ctx, fmt.Sprintf("%s committed up to %d", r.name, offset), func(ctx context.Context) (bool, string, error) {
		select {
		case runErr = <-errc:
			ended = true
			return true, "", nil
		default:
		}
		off, id, err := r.position(ctx, client, topic)
		return err == nil && off == offset, fmt.Sprintf("offset %d checkpoint %d (%v)", off, id, err), nil
	})
	require.False(t, ended, "%s: the consumer ended early: %v", r.name, runErr)
	require.NoError(t, err)
	require.NoError(t, c.Job().Stop(ctx))
	require.NoError(t, <-errc)
}

func (r *cloneReplica) triples(t *testing.T, client *sparql.Client) []string {
	res, err := client.Query(context.Background(), "SELECT ?s ?p ?o WHERE { GRAPH <"+r.data+"> { ?s ?p ?o } }")
	require.NoError(t, err)
	ts := make([]rdfdiff.Triple, 0, len(res.Bindings))
	for _, row := range res.Bindings {
		ts = append(ts, rdfdiff.Triple{S: row["s"], P: row["p"], O: row["o"]})
	}
	return cloneLines(ts)
}

// copyNamespace copies every object under prefix from one checkpoint store
// to another (what `swift copy` or rclone does between containers).
func copyNamespace(t *testing.T, ctx context.Context, from, to checkpoint.Store, prefix string) int {
	objs, err := from.List(ctx, prefix)
	require.NoError(t, err)
	for _, o := range objs {
		rc, err := from.Open(ctx, o.Name)
		require.NoError(t, err)
		w, err := to.Create(ctx, o.Name)
		require.NoError(t, err)
		_, err = io.Copy(w, rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.NoError(t, w.Close())
	}
	return len(objs)
}

// TestConsumerCloneReplica: replica A consumes into Oxigraph and stops in
// the middle of a chunked event (its checkpoint holds the event's first
// chunks); its data and commit graphs are copied into replica B's graphs and
// its checkpoint namespace into B's checkpoint store. B, a consumer of its
// own group, resumes from the copied position; A resumes too. Both end with
// exactly the reference graph: nothing lost, nothing applied twice.
func TestConsumerCloneReplica(t *testing.T) {
	url := os.Getenv("STREAMKIT_OXIGRAPH_URL")
	if url == "" {
		t.Skip("STREAMKIT_OXIGRAPH_URL not set (see scripts/oxigraph/run.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := sparql.NewClient(url, sparql.WithRequestTimeout(30*time.Second))
	require.NoError(t, err)
	base := fmt.Sprintf("http://streamkit.test/clone/%d", time.Now().UnixNano())
	a := &cloneReplica{name: "wdqs1010", data: base + "/a/data", commit: base + "/a/commit", store: checkpoint.NewMemoryStore()}
	b := &cloneReplica{name: "wdqs1011", data: base + "/b/data", commit: base + "/b/commit", store: checkpoint.NewMemoryStore()}
	t.Cleanup(func() {
		var drops []string
		for _, g := range []string{a.data, a.commit, b.data, b.commit} {
			drops = append(drops, "DROP SILENT GRAPH <"+g+">")
		}
		_ = client.Update(context.Background(), strings.Join(drops, " ;\n"))
	})

	const topic = "eqiad.rdf-streaming-updater.mutation"
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	s := cloneEntityStream(t)
	// Cut inside an event of several records, past the middle of the stream.
	cut := -1
	for i, start := range s.starts {
		end := len(s.msgs)
		if i+1 < len(s.starts) {
			end = s.starts[i+1]
		}
		if start >= len(s.msgs)/2 && end-start >= 3 {
			cut = start + 2
			break
		}
	}
	require.Positive(t, cut, "no multi-record event in the second half")
	produce := func(msgs [][]byte) {
		recs := make([]kafkatest.Record, len(msgs))
		for i, m := range msgs {
			recs[i] = kafkatest.Record{Key: []byte("k"), Value: m}
		}
		require.NoError(t, cl.Produce(ctx, topic, recs...))
	}
	produce(s.msgs[:cut])
	a.run(t, ctx, cl, client, a.consumer(t, cl, url, topic), topic, int64(cut))

	// Clone A into B: both graphs in one request, then the checkpoint
	// namespace the commit point names.
	require.NoError(t, client.Update(ctx, "COPY GRAPH <"+a.data+"> TO GRAPH <"+b.data+"> ;\nCOPY GRAPH <"+a.commit+"> TO GRAPH <"+b.commit+">"))
	require.Positive(t, copyNamespace(t, ctx, a.store, b.store, consumer.DefaultJobName+".task-0/"))
	off, _, err := b.position(ctx, client, topic)
	require.NoError(t, err)
	require.Equal(t, int64(cut), off)

	produce(s.msgs[cut:])
	b.run(t, ctx, cl, client, b.consumer(t, cl, url, topic), topic, int64(len(s.msgs)))
	a.run(t, ctx, cl, client, a.consumer(t, cl, url, topic), topic, int64(len(s.msgs)))

	want := s.reference(t)
	require.NotEmpty(t, want)
	require.Equal(t, want, b.triples(t, client), "the clone differs from the reference")
	require.Equal(t, want, a.triples(t, client), "the source differs from the reference")
}
