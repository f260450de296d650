package consumer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// consumerFixture reads a file of testdata/consumer.
func consumerFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "consumer", name))
	require.NoError(t, err)
	return data
}

// rcReference applies changes one at a time, as a store fed one event
// per batch would hold them.
func rcReference(t testing.TB, changes ...*rdfdiff.EntityChange) *graph.Graph {
	t.Helper()
	g := graph.NewGraph()
	for _, c := range changes {
		acc := rdfdiff.NewAccumulator()
		require.NoError(t, acc.Accumulate(c))
		require.NoError(t, g.Apply(context.Background(), acc.Result(), nil))
	}
	return g
}

func rcDump(t testing.TB, g *graph.Graph) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, g.Dump(&b))
	return b.String()
}

// consumerHarness runs RDFConsumer jobs over one graph, collecting the
// outputs the tasks used (for their dead letters).
type consumerHarness struct {
	t     *testing.T
	cl    *kafkatest.Cluster
	g     *graph.Graph
	store checkpoint.Store

	mu        sync.Mutex
	outs      []*graph.GraphOutput
	consumers []*consumer.RDFConsumer
}

const (
	consumerTopic = "mutation"
	consumerDLQ   = "mutation-dlq"
	consumerJob   = "wdqs-consumer"
)

func newConsumerHarness(t *testing.T, ctx context.Context) *consumerHarness {
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, consumerTopic, 1))
	require.NoError(t, cl.CreateTopic(ctx, consumerDLQ, 1))
	return &consumerHarness{t: t, cl: cl, g: graph.NewGraph(), store: checkpoint.NewMemoryStore()}
}

func (h *consumerHarness) job(opts ...streamkit.Option) *streamkit.Job {
	in := streamkit.Input{Brokers: h.cl.Addrs(), Topics: []string{consumerTopic},
		Options: []source.Option{source.WithBaseConfig(h.cl.SaramaConfig())}}
	opts = append([]streamkit.Option{
		streamkit.WithCheckpointStore(h.store),
		streamkit.WithCheckpointInterval(100 * time.Millisecond),
		streamkit.WithDeadLetterTopic(consumerDLQ),
		streamkit.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}, opts...)
	job, err := streamkit.NewJob(consumerJob, in,
		graph.Outputs(func(ctx context.Context, info streamkit.TaskInfo) (*graph.GraphOutput, error) {
			out, err := graph.NewGraphOutput(h.g)
			if err == nil {
				h.mu.Lock()
				h.outs = append(h.outs, out)
				h.mu.Unlock()
			}
			return out, err
		}),
		func(info streamkit.TaskInfo, out graph.Writer) (streamkit.Processor, error) {
			dl, err := streamkit.NewDeadLetter(out, consumerDLQ, info.Job)
			if err != nil {
				return nil, err
			}
			c, err := consumer.NewRDFConsumer(out, consumer.WithConsumerDeadLetter(dl), consumer.WithConsumerLogger(info.Logger))
			if err == nil {
				h.mu.Lock()
				h.consumers = append(h.consumers, c)
				h.mu.Unlock()
			}
			return c, err
		}, opts...)
	require.NoError(h.t, err)
	return job
}

func (h *consumerHarness) produce(ctx context.Context, msgs ...[]byte) {
	recs := make([]kafkatest.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = kafkatest.Record{Key: []byte("k"), Value: m}
	}
	require.NoError(h.t, h.cl.Produce(ctx, consumerTopic, recs...))
}

// run starts job and returns a function that stops it and checks Run's
// result.
func (h *consumerHarness) run(ctx context.Context, job *streamkit.Job) (stop func()) {
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	return func() {
		require.NoError(h.t, job.Stop(ctx))
		require.NoError(h.t, <-done)
	}
}

// waitCommitted waits until the graph's commit point is at offset.
func (h *consumerHarness) waitCommitted(ctx context.Context, offset int64) {
	require.NoError(h.t, h.cl.WaitFor(ctx, fmt.Sprintf("graph committed up to offset %d", offset),
		func(ctx context.Context) (bool, string, error) {
			cp, err := h.g.Positions(ctx)
			if err != nil || cp == nil {
				return false, "no commit point", err
			}
			return len(cp.Positions) == 1 && cp.Positions[source.TopicPartition{Topic: consumerTopic}] == offset, fmt.Sprintf("%+v", cp), nil
		}))
}

func (h *consumerHarness) deadLetters() []streamkit.KafkaRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []streamkit.KafkaRecord
	for _, o := range h.outs {
		out = append(out, o.DeadLetters()...)
	}
	return out
}

func rcHeader(r streamkit.KafkaRecord, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestRDFConsumerJob runs the consumer through the real job runner: the real
// WDQS mutation events, a chunked import of the real Q42 and an undecodable
// record; the graph ends as the reference and the bad record is
// dead-lettered with stage "decode".
func TestRDFConsumerJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := newConsumerHarness(t, ctx)

	fixtures := [][]byte{consumerFixture(t, "Import-v2.json"), consumerFixture(t, "Diff-v2.json")}
	q42, chunks := rdftest.Q42Import(t, "consumer", 100, 20_000)
	require.Greater(t, len(chunks), 3, "Q42 must be chunked")
	var msgs [][]byte
	msgs = append(msgs, fixtures...)
	msgs = append(msgs, []byte(`{"not": "an rdf_change event"`)) // offset 2
	msgs = append(msgs, chunks...)
	h.produce(ctx, msgs...)

	stop := h.run(ctx, h.job())
	h.waitCommitted(ctx, int64(len(msgs)))
	stop()

	want := rcReference(t, append(rdftest.DecodeAll(t, fixtures...), q42)...)
	require.Equal(t, rcDump(t, want), rcDump(t, h.g))
	assert.True(t, h.g.Contains(rdfdiff.Triple{S: rdfdiff.NewIRI("http://www.wikidata.org/entity/Q42"),
		P: rdfdiff.NewIRI("http://schema.org/version"), O: rdfdiff.NewTypedLiteral("1234567", rdfdiff.XSDInteger)}) ||
		len(h.g.Match(rdfdiff.NewIRI("http://www.wikidata.org/entity/Q42"), rdfdiff.Term{}, rdfdiff.Term{})) > 0)

	dl := h.deadLetters()
	require.Len(t, dl, 1)
	assert.Equal(t, consumer.StageDecode, rcHeader(dl[0], streamkit.HeaderDLQStage))
	assert.Equal(t, consumer.ClassInvalidEvent, rcHeader(dl[0], streamkit.HeaderDLQErrorClass))
	assert.Equal(t, "2", rcHeader(dl[0], streamkit.HeaderDLQOffset))
	assert.Equal(t, consumerTopic, rcHeader(dl[0], streamkit.HeaderDLQTopic))
	assert.Equal(t, msgs[2], dl[0].Value)
}

// TestRDFConsumerChunkedEventAcrossCheckpoint commits a checkpoint (and
// stops the job) in the middle of a chunked event: the partial event lives
// in the checkpointed state table, a new job restores it and completes it
// with the remaining chunks, and the graph holds the whole entity once.
func TestRDFConsumerChunkedEventAcrossCheckpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := newConsumerHarness(t, ctx)
	q42, chunks := rdftest.Q42Import(t, "consumer", 100, 20_000)
	require.Greater(t, len(chunks), 3)
	split := len(chunks) / 2

	h.produce(ctx, chunks[:split]...)
	stop := h.run(ctx, h.job())
	h.waitCommitted(ctx, int64(split))
	stop()
	assert.Zero(t, h.g.Len(), "an incomplete event must not reach the graph")
	h.mu.Lock()
	assert.Equal(t, split, h.consumers[len(h.consumers)-1].Pending(), "the partial event's chunks are state")
	h.mu.Unlock()

	h.produce(ctx, chunks[split:]...)
	stop = h.run(ctx, h.job())
	h.waitCommitted(ctx, int64(len(chunks)))
	stop()

	require.Equal(t, rcDump(t, rcReference(t, q42)), rcDump(t, h.g))
	assert.Empty(t, h.deadLetters())
	h.mu.Lock()
	last := h.consumers[len(h.consumers)-1]
	h.mu.Unlock()
	assert.Zero(t, last.Pending())
	assert.Equal(t, int64(1), last.Stats().Changes)
}

// TestRDFConsumerBrokenSequenceJob dead-letters, through the real job,
// every record of a broken chunk sequence: the earlier chunks through the
// consumer's writer, the record that revealed the break through the runner,
// both with stage "reassemble"; the events around it apply.
func TestRDFConsumerBrokenSequenceJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := newConsumerHarness(t, ctx)
	q42, chunks := rdftest.Q42Import(t, "consumer", 100, 20_000)
	require.Greater(t, len(chunks), 3)
	fixtures := [][]byte{consumerFixture(t, "Import-v2.json"), consumerFixture(t, "Diff-v2.json")}

	// Offsets 0-1: chunks 0 and 1; 2: chunk 3 (a gap: 0, 1 and 3 are
	// dropped); 3: a fixture import; then the complete Q42; then a diff.
	msgs := [][]byte{chunks[0], chunks[1], chunks[3], fixtures[0]}
	msgs = append(msgs, chunks...)
	msgs = append(msgs, fixtures[1])
	h.produce(ctx, msgs...)
	stop := h.run(ctx, h.job())
	h.waitCommitted(ctx, int64(len(msgs)))
	stop()

	want := rcReference(t, append(rdftest.DecodeAll(t, fixtures[0]), q42, rdftest.DecodeAll(t, fixtures[1])[0])...)
	require.Equal(t, rcDump(t, want), rcDump(t, h.g))
	dl := h.deadLetters()
	offsets := map[string]string{}
	for _, d := range dl {
		offsets[rcHeader(d, streamkit.HeaderDLQOffset)] = rcHeader(d, streamkit.HeaderDLQStage)
		assert.Equal(t, consumer.ClassBrokenChunkSequence, rcHeader(d, streamkit.HeaderDLQErrorClass))
	}
	assert.Equal(t, map[string]string{"0": consumer.StageReassemble, "1": consumer.StageReassemble, "2": consumer.StageReassemble}, offsets)
}

// rcFailures collects dead letters written by a consumer.
type rcFailures struct{ got []streamkit.Failure }

func (f *rcFailures) Write(_ context.Context, fl streamkit.Failure) error {
	f.got = append(f.got, fl)
	return nil
}

func (f *rcFailures) offsets() []int64 {
	var out []int64
	for _, fl := range f.got {
		out = append(out, fl.Record.Offset)
	}
	return out
}

// rcFeeder hands messages to a consumer as consecutive records of one
// partition.
type rcFeeder struct {
	c    *consumer.RDFConsumer
	next int64
}

func (f *rcFeeder) feed(t *testing.T, msg []byte) error {
	t.Helper()
	rec := &source.Record{Topic: consumerTopic, Partition: 0, Offset: f.next, Key: []byte("k"), Value: msg,
		Timestamp: time.UnixMilli(1_700_000_000_000 + f.next), Headers: []source.Header{{Key: []byte("h"), Value: []byte("v")}}}
	f.next++
	return f.c.Process(context.Background(), rec)
}

func rcStageOf(t *testing.T, err error) string {
	t.Helper()
	var se *streamkit.StageError
	require.ErrorAs(t, err, &se)
	return se.Stage
}

func TestRDFConsumerFilters(t *testing.T) {
	ctx := context.Background()
	canary := bytes.Replace(consumerFixture(t, "Import-v2.json"), []byte(`"domain":"unittest.local"`), []byte(`"domain":"canary"`), 1)
	require.NotEqual(t, consumerFixture(t, "Import-v2.json"), canary)
	q42, chunks := rdftest.Q42Import(t, "consumer", 7, 20_000)

	for _, tc := range []struct {
		name    string
		opts    []consumer.RDFConsumerOption
		want    []*rdfdiff.EntityChange
		dropped int64
	}{
		{"default drops canary", nil, []*rdfdiff.EntityChange{q42}, 1},
		{"canary kept", []consumer.RDFConsumerOption{consumer.WithCanaryEvents(true)}, append(rdftest.DecodeAll(t, canary), q42), 0},
		{"entity filter", []consumer.RDFConsumerOption{consumer.WithCanaryEvents(true), consumer.WithEntityFilter(regexp.MustCompile(`^Q1\d+$`))},
			rdftest.DecodeAll(t, canary), int64(len(chunks))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.NewGraph()
			out := rcGraphOutput(t, g)
			c, err := consumer.NewRDFConsumer(out, tc.opts...)
			require.NoError(t, err)
			require.NoError(t, out.Begin(ctx))
			f := &rcFeeder{c: c}
			require.NoError(t, f.feed(t, canary))
			for _, m := range chunks {
				require.NoError(t, f.feed(t, m))
			}
			require.NoError(t, out.Commit(ctx, goCommit(1, f.next)))
			require.Equal(t, rcDump(t, rcReference(t, tc.want...)), rcDump(t, g))
			assert.Equal(t, tc.dropped, c.Stats().Filtered)
		})
	}
}

// TestRDFConsumerRestoresPartialEvent checkpoints the consumer's table in
// the middle of a chunked event (through a real Checkpointer, so the chunks
// round-trip through the snapshot encoding) and restores it into a new
// consumer, which completes the event; a broken chunk after the restore is
// dead-lettered with the restored chunks' exact provenance.
func TestRDFConsumerRestoresPartialEvent(t *testing.T) {
	ctx := context.Background()
	q42, chunks := rdftest.Q42Import(t, "consumer", 7, 20_000)
	require.Greater(t, len(chunks), 3)
	store := checkpoint.NewMemoryStore()
	ck, err := checkpoint.NewCheckpointer(store, "restore-test")
	require.NoError(t, err)

	g := graph.NewGraph()
	out := rcGraphOutput(t, g)
	a, err := consumer.NewRDFConsumer(out)
	require.NoError(t, err)
	require.NoError(t, out.Begin(ctx))
	f := &rcFeeder{c: a}
	for _, m := range chunks[:2] {
		require.NoError(t, f.feed(t, m))
	}
	assert.Equal(t, 2, a.Pending())
	m, err := ck.Checkpoint(ctx, map[string]int64{"mutation/0": 2}, []checkpoint.PartitionState{{Partition: 0, Tables: a.Tables()}})
	require.NoError(t, err)

	restore := func() *consumer.RDFConsumer {
		c, err := consumer.NewRDFConsumer(out, consumer.WithConsumerDeadLetter(&rcFailures{}))
		require.NoError(t, err)
		_, err = ck.Restore(ctx, m.ID, []checkpoint.PartitionState{{Partition: 0, Tables: c.Tables()}})
		require.NoError(t, err)
		assert.Equal(t, 2, c.Pending())
		return c
	}
	b := restore()
	f = &rcFeeder{c: b, next: 2}
	for _, m := range chunks[2:] {
		require.NoError(t, f.feed(t, m))
	}
	assert.Zero(t, b.Pending())
	require.NoError(t, out.Commit(ctx, goCommit(1, f.next)))
	require.Equal(t, rcDump(t, rcReference(t, q42)), rcDump(t, g))

	// The same restore, then a chunk out of sequence: the two restored
	// chunks go to the consumer's writer, byte for byte with their
	// provenance, and the record at fault is refused.
	dl := &rcFailures{}
	c, err := consumer.NewRDFConsumer(out, consumer.WithConsumerDeadLetter(dl))
	require.NoError(t, err)
	_, err = ck.Restore(ctx, m.ID, []checkpoint.PartitionState{{Partition: 0, Tables: c.Tables()}})
	require.NoError(t, err)
	require.NoError(t, out.Begin(ctx))
	f = &rcFeeder{c: c, next: 2}
	err = f.feed(t, chunks[3])
	assert.Equal(t, consumer.StageReassemble, rcStageOf(t, err))
	require.ErrorIs(t, err, rdfdiff.ErrBrokenChunkSequence)
	assert.Equal(t, []int64{0, 1}, dl.offsets())
	for i, fl := range dl.got {
		assert.Equal(t, chunks[i], fl.Record.Value)
		assert.Equal(t, []byte("k"), fl.Record.Key)
		assert.Equal(t, consumerTopic, fl.Record.Topic)
		assert.Equal(t, []source.Header{{Key: []byte("h"), Value: []byte("v")}}, fl.Record.Headers)
		assert.Equal(t, time.UnixMilli(1_700_000_000_000+int64(i)).UnixNano(), fl.Record.Timestamp.UnixNano())
		assert.Equal(t, consumer.StageReassemble, fl.Stage)
		assert.Equal(t, consumer.ClassBrokenChunkSequence, fl.Class)
	}
	assert.Zero(t, c.Pending())
	assert.Equal(t, int64(2), c.Stats().DeadLettered)
}

// TestRDFConsumerInvalidChange refuses every record of a change the output
// cannot take: earlier chunks through the writer, the last through Process.
// Without a writer the earlier chunks are counted as unrecorded.
func TestRDFConsumerInvalidChange(t *testing.T) {
	ctx := context.Background()
	wd := rdfdiff.WikidataScheme()
	ent := wd.EntityTerm("Q1")
	var added []rdfdiff.Triple
	for i := range 40 {
		added = append(added, rdfdiff.Triple{S: ent, P: rdfdiff.NewIRI("http://www.w3.org/2000/01/rdf-schema#label"),
			O: rdfdiff.NewLangLiteral(fmt.Sprintf("label %d %s", i, bytes.Repeat([]byte("x"), 100)), "en")})
	}
	art := rdfdiff.NewIRI("https://en.wikipedia.org/wiki/Foo")
	added = append(added, rdfdiff.Triple{S: art, P: rdfdiff.NewIRI(rdfdiff.RDFType), O: rdfdiff.NewIRI("http://schema.org/Article")},
		rdfdiff.Triple{S: art, P: rdfdiff.NewIRI("http://schema.org/about"), O: ent})
	bad := &rdfdiff.EntityChange{EntityID: "Q1", Revision: 3, Operation: rdfdiff.OpImport, RequestID: "r",
		EventTime: time.Unix(1_700_000_000, 0), Stream: "s", Patch: rdfdiff.Patch{Added: added}}
	msgs := rdftest.Encode(t, bad, 1000)
	require.Greater(t, len(msgs), 2)

	for _, withWriter := range []bool{true, false} {
		g := graph.NewGraph()
		out := rcGraphOutput(t, g)
		dl := &rcFailures{}
		var opts []consumer.RDFConsumerOption
		if withWriter {
			opts = append(opts, consumer.WithConsumerDeadLetter(dl))
		}
		opts = append(opts, consumer.WithConsumerLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		c, err := consumer.NewRDFConsumer(out, opts...)
		require.NoError(t, err)
		require.NoError(t, out.Begin(ctx))
		f := &rcFeeder{c: c}
		for _, m := range msgs[:len(msgs)-1] {
			require.NoError(t, f.feed(t, m))
		}
		err = f.feed(t, msgs[len(msgs)-1])
		assert.Equal(t, consumer.StageAccumulate, rcStageOf(t, err))
		require.ErrorIs(t, err, rdfdiff.ErrInvalidChange)
		st := c.Stats()
		assert.Equal(t, int64(1), st.InvalidChanges)
		if withWriter {
			assert.Len(t, dl.got, len(msgs)-1)
			assert.Equal(t, int64(len(msgs)-1), st.DeadLettered)
			for _, fl := range dl.got {
				assert.Equal(t, consumer.StageAccumulate, fl.Stage)
			}
		} else {
			assert.Equal(t, int64(len(msgs)-1), st.Unrecorded)
		}
		assert.Zero(t, c.Pending())
		require.NoError(t, out.Commit(ctx, goCommit(1, f.next)))
		assert.Zero(t, g.Len())
	}
}

// TestRDFConsumerOutputErrorUndoesRecord: when the output cannot take a
// change (no checkpoint open), Process fails without a stage (not a bad
// record) and the consumer is as before the record, so the same record
// processed again completes the event.
func TestRDFConsumerOutputErrorUndoesRecord(t *testing.T) {
	ctx := context.Background()
	q42, chunks := rdftest.Q42Import(t, "consumer", 7, 20_000)
	g := graph.NewGraph()
	out := rcGraphOutput(t, g)
	c, err := consumer.NewRDFConsumer(out)
	require.NoError(t, err)
	f := &rcFeeder{c: c}
	for _, m := range chunks[:len(chunks)-1] {
		require.NoError(t, f.feed(t, m))
	}
	err = f.feed(t, chunks[len(chunks)-1])
	require.ErrorIs(t, err, graph.ErrGraphOutputNotOpen)
	var se *streamkit.StageError
	assert.False(t, errors.As(err, &se), "an output failure is not a bad record")
	assert.Equal(t, len(chunks)-1, c.Pending())

	require.NoError(t, out.Begin(ctx))
	f.next--
	require.NoError(t, f.feed(t, chunks[len(chunks)-1]))
	require.NoError(t, out.Commit(ctx, goCommit(1, f.next)))
	require.Equal(t, rcDump(t, rcReference(t, q42)), rcDump(t, g))
}

func TestRDFConsumerBadInput(t *testing.T) {
	_, err := consumer.NewRDFConsumer(nil)
	require.Error(t, err)
	c, err := consumer.NewRDFConsumer(rcGraphOutput(t, graph.NewGraph()))
	require.NoError(t, err)
	require.Len(t, c.Tables(), 1)
	assert.Equal(t, consumer.RDFConsumerTable, c.Tables()[0].Schema().Name)
	assert.Equal(t, consumer.StageDecode, rcStageOf(t, c.Process(context.Background(), nil)))
	for _, v := range []string{"", "null", "[]", `{"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0"}`, "\xff"} {
		err := c.Process(context.Background(), &source.Record{Topic: "t", Value: []byte(v)})
		assert.Equal(t, consumer.StageDecode, rcStageOf(t, err), "%q", v)
		require.ErrorIs(t, err, rdfdiff.ErrInvalidEvent)
	}
	assert.Equal(t, int64(5), c.Stats().Undecodable)
}

// BenchmarkRDFConsumer measures the consumer's path from records to an
// applied checkpoint: decode, reassemble (Turtle parse) and accumulate the
// real Q42 chunked at 20 000 characters, then commit into a Graph. Bytes are
// the records' values.
func BenchmarkRDFConsumer(b *testing.B) {
	ctx := context.Background()
	_, chunks := rdftest.Q42Import(b, "consumer", 1, 20_000)
	var size int64
	for _, m := range chunks {
		size += int64(len(m))
	}
	g := graph.NewGraph()
	out, err := graph.NewGraphOutput(g, graph.WithGraphOutputTarget(0))
	require.NoError(b, err)
	c, err := consumer.NewRDFConsumer(out)
	require.NoError(b, err)
	b.SetBytes(size)
	b.ReportAllocs()
	var offset int64
	for b.Loop() {
		require.NoError(b, out.Begin(ctx))
		for _, m := range chunks {
			if err := c.Process(ctx, &source.Record{Topic: consumerTopic, Offset: offset, Value: m}); err != nil {
				b.Fatal(err)
			}
			offset++
		}
		require.NoError(b, out.Commit(ctx, goCommit(1, offset)))
	}
	b.ReportMetric(float64(int64(b.N)*int64(len(chunks)))/b.Elapsed().Seconds(), "records/s")
}

// TestRDFConsumerJobTwoTasks runs a job on a two-partition topic: each task
// has its own graph (a graph records one commit point) and its own
// consumer, and each graph ends with its partition's data.
func TestRDFConsumerJobTwoTasks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, consumerTopic, 2))
	graphs := []*graph.Graph{graph.NewGraph(), graph.NewGraph()}
	fixture := consumerFixture(t, "Import-v2.json")
	q42, chunks := rdftest.Q42Import(t, "consumer", 100, 20_000)
	require.NoError(t, cl.Produce(ctx, consumerTopic, kafkatest.Record{Partition: 0, Value: fixture}))
	for _, m := range chunks {
		require.NoError(t, cl.Produce(ctx, consumerTopic, kafkatest.Record{Partition: 1, Value: m}))
	}

	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{consumerTopic},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	job, err := streamkit.NewJob(consumerJob, in,
		graph.Outputs(func(ctx context.Context, info streamkit.TaskInfo) (*graph.GraphOutput, error) {
			return graph.NewGraphOutput(graphs[info.Task])
		}),
		func(info streamkit.TaskInfo, out graph.Writer) (streamkit.Processor, error) {
			return consumer.NewRDFConsumer(out, consumer.WithConsumerLogger(info.Logger))
		},
		streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()),
		streamkit.WithCheckpointInterval(100*time.Millisecond),
		streamkit.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	want := []int64{1, int64(len(chunks))}
	require.NoError(t, cl.WaitFor(ctx, "both graphs committed to the end of their partition", func(ctx context.Context) (bool, string, error) {
		for p, g := range graphs {
			cp, err := g.Positions(ctx)
			if err != nil || cp == nil {
				return false, fmt.Sprintf("task %d: no commit point", p), err
			}
			if len(cp.Positions) != 1 || cp.Positions[source.TopicPartition{Topic: consumerTopic, Partition: int32(p)}] != want[p] {
				return false, fmt.Sprintf("task %d: %+v", p, cp), nil
			}
		}
		return true, "", nil
	}))
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)
	require.Equal(t, rcDump(t, rcReference(t, rdftest.DecodeAll(t, fixture)...)), rcDump(t, graphs[0]))
	require.Equal(t, rcDump(t, rcReference(t, q42)), rcDump(t, graphs[1]))
}

func rcGraphOutput(t *testing.T, g *graph.Graph, opts ...graph.Option) *graph.GraphOutput {
	t.Helper()
	o, err := graph.NewGraphOutput(g, opts...)
	require.NoError(t, err)
	return o
}

func goCommit(id uint64, offset int64) *streamkit.CommitPoint {
	return &streamkit.CommitPoint{Job: "j", CheckpointID: id, Positions: source.Positions{{Topic: "mutation", Partition: 0}: offset}}
}
