package turtlesync_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/turtlesync"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

const (
	base   = "http://example.test/"
	topic  = "documents"
	dlq    = "documents.dlq"
	marker = "the-store-refuses-this" // the refusing proxy answers 400 to updates holding it
)

var quiet = slog.New(slog.DiscardHandler)

// doc is one input record: a subject and its document ("" deletes it).
type doc struct{ subject, ttl string }

const prefixes = "@prefix ex: <http://example.test/ns#> .\n"

// The documents, in two rounds. B7's first revision holds a language tag
// Oxigraph refuses, so it is refused when added; D's first revision holds a
// literal the test's store refuses at commit. Their second revisions are
// good: whatever the batching, the store must end with them.
var (
	round1 = []doc{
		{base + "A", prefixes + "<> ex:name \"Alice\" ; ex:address [ ex:city \"Berlin\" ; ex:geo [ ex:lat 52 ] ] ."},
		{base + "B7", prefixes + "<> ex:name \"B7\" , \"珠穆朗瑪峰\"@zh-classical ."},
		{base + "C", prefixes + "<> ex:name \"Carol\" ; ex:knows <A> ."},
		{base + "D", prefixes + "<> ex:name \"" + marker + "\" ; ex:tag [ ex:label \"d\" ] ."},
		{base + "E", prefixes + "<http://example.test/elsewhere> ex:name \"not about E\" ."},
		{base + "F", "this is not Turtle"},
	}
	round2 = []doc{
		{base + "A", prefixes + "<> ex:name \"Alice\" ; ex:address [ ex:city \"Hamburg\" ; ex:geo [ ex:lat 53 ] ] ."},
		{base + "B7", prefixes + "<> ex:name \"B7\" , \"Everest\"@en ."},
		{base + "C", ""},
		{base + "D", prefixes + "<> ex:name \"Dora\" ; ex:tag [ ex:label \"d2\" ] ."},
	}
	// final is what the store must hold at the end.
	final = []doc{round2[0], round2[1], round2[3]}
)

// expected returns the skolemized triples of docs, as canonical N-Triples
// lines.
func expected(t *testing.T, docs []doc) []string {
	var out []string
	for _, d := range docs {
		ts, err := rdfdiff.ParseTurtleBytes([]byte(d.ttl), rdfdiff.WithBaseIRI(d.subject))
		require.NoError(t, err)
		for _, tr := range rdfdiff.SkolemizeSubject(base, d.subject, ts) {
			out = append(out, string(rdfdiff.AppendNTriples(nil, []rdfdiff.Triple{tr})))
		}
	}
	slices.Sort(out)
	return out
}

func lines(ts []rdfdiff.Triple) []string {
	out := make([]string, 0, len(ts))
	for _, tr := range ts {
		out = append(out, string(rdfdiff.AppendNTriples(nil, []rdfdiff.Triple{tr})))
	}
	slices.Sort(out)
	return out
}

func produce(t *testing.T, cl *kafkatest.Cluster, docs []doc) {
	recs := make([]kafkatest.Record, len(docs))
	for i, d := range docs {
		recs[i] = kafkatest.Record{Key: []byte(d.subject)}
		if d.ttl != "" {
			recs[i].Value = []byte(d.ttl)
		}
	}
	require.NoError(t, cl.Produce(context.Background(), topic, recs...))
}

// batching says how round1 and round2 reach the job.
type batching string

const (
	// oneCheckpoint: both rounds produced before the job starts, and only
	// Stop's checkpoint.
	oneCheckpoint batching = "one checkpoint"
	// twoCheckpoints: round2 produced once a checkpoint holding round1
	// committed.
	twoCheckpoints batching = "two checkpoints"
	// restart: the same, with the job stopped after round1 and a new one
	// started for round2 (what a refusal marked must survive).
	restart batching = "restart"
)

var batchings = []batching{oneCheckpoint, twoCheckpoints, restart}

// run runs the job over round1 and round2 as mode says, and returns the
// dead letters its jobs counted.
func run(t *testing.T, cfg turtlesync.Config, cl *kafkatest.Cluster, mode batching) (deadLettered int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg.CheckpointInterval = 100 * time.Millisecond
	produce(t, cl, round1)
	if mode == oneCheckpoint {
		cfg.CheckpointInterval = time.Hour // only Stop's checkpoint
		produce(t, cl, round2)
	}
	start := func() (*turtlesync.Job, chan error) {
		job, err := turtlesync.New(cfg)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- job.Run(ctx) }()
		return job, done
	}
	wait := func(job *turtlesync.Job, what string, cond func(streamkit.Stats) bool) {
		require.NoError(t, cl.WaitFor(ctx, what, func(context.Context) (bool, string, error) {
			st := job.Stats()
			return cond(st), fmt.Sprintf("%+v", st), nil
		}))
	}
	stop := func(job *turtlesync.Job, done chan error) {
		require.NoError(t, job.Stop(ctx))
		require.NoError(t, <-done)
		deadLettered += job.Stats().DeadLettered
	}
	job, done := start()
	if mode == oneCheckpoint {
		wait(job, "both rounds processed", func(st streamkit.Stats) bool { return st.Processed >= int64(len(round1)+len(round2)) })
		stop(job, done)
		assert.Equal(t, int64(1), job.Stats().Checkpoints, "both rounds in one checkpoint")
		return deadLettered
	}
	committed := func(n int) func(streamkit.Stats) bool {
		return func(st streamkit.Stats) bool { return st.Committed[source.TopicPartition{Topic: topic}] >= int64(n) }
	}
	wait(job, "round 1 committed", committed(len(round1)))
	if mode == restart {
		stop(job, done)
		job, done = start()
	}
	produce(t, cl, round2)
	wait(job, "round 2 committed", committed(len(round1)+len(round2)))
	stop(job, done)
	return deadLettered
}

// TestTurtleSyncGraph: on the in-memory graph (refusing what Oxigraph
// would), the graph ends with the last documents, whatever the batching; the
// refused and broken records are dead-lettered.
func TestTurtleSyncGraph(t *testing.T) {
	for _, mode := range batchings {
		t.Run(string(mode), func(t *testing.T) {
			cl := kafkatest.NewCluster(t)
			require.NoError(t, cl.CreateTopic(context.Background(), topic, 1))
			g := graph.NewGraph(graph.WithSubjects(base))
			cfg := turtlesync.Config{Brokers: cl.Addrs(), Topics: []string{topic}, Sarama: cl.SaramaConfig(),
				Graph: g, SkolemBase: base, DeadLetterTopic: dlq, CheckpointStore: checkpoint.NewMemoryStore(), Logger: quiet}
			dead := run(t, cfg, cl, mode)
			assert.Equal(t, expected(t, final), lines(g.Triples()))
			// B7's first revision (refused when added), E (not about its
			// subject) and F (not Turtle).
			assert.Equal(t, int64(3), dead)
		})
	}
}

// refusingProxy forwards to the store and answers 400 to every update that
// holds marker, as a store refusing a change at commit does.
func refusingProxy(t *testing.T, storeURL string) string {
	u, err := url.Parse(storeURL)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && bytes.Contains(body, []byte(marker)) {
			http.Error(w, "refused by the test proxy", http.StatusBadRequest)
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

// TestTurtleSyncOxigraph: the same stream into a real Oxigraph, behind a
// proxy that refuses D's first revision at commit. Whatever the batching
// the store ends with the last documents: in one checkpoint the accumulator
// merges D's two revisions and the store sees only the good one; in two, D's
// refused change is dead-lettered, D is marked (in the store, with the
// commit point, so a restarted job knows it too), and its next document is
// sent as a replacement. Every dead letter in the topic is in the jobs'
// Stats.
func TestTurtleSyncOxigraph(t *testing.T) {
	storeURL := os.Getenv("STREAMKIT_OXIGRAPH_URL")
	if storeURL == "" {
		t.Skip("STREAMKIT_OXIGRAPH_URL not set (see scripts/oxigraph/run.sh)")
	}
	client, err := sparql.NewClient(storeURL)
	require.NoError(t, err)
	for _, mode := range batchings {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			data := fmt.Sprintf("http://streamkit.test/turtlesync/%s/%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
			t.Cleanup(func() { _ = client.Update(ctx, "DROP SILENT GRAPH <"+data+"> ; DROP SILENT GRAPH <"+data+"/commit>") })
			cl := kafkatest.NewCluster(t)
			require.NoError(t, cl.CreateTopic(ctx, topic, 1))
			require.NoError(t, cl.CreateTopic(ctx, dlq, 1))
			cfg := turtlesync.Config{Brokers: cl.Addrs(), Topics: []string{topic}, Sarama: cl.SaramaConfig(),
				StoreURL: refusingProxy(t, storeURL), DataGraph: data, CommitGraph: data + "/commit",
				SkolemBase: base, DeadLetterTopic: dlq, CheckpointStore: checkpoint.NewMemoryStore(), Logger: quiet}
			dead := run(t, cfg, cl, mode)

			res, err := client.Query(ctx, "SELECT ?s ?p ?o WHERE { GRAPH <"+data+"> { ?s ?p ?o } }")
			require.NoError(t, err)
			var got []rdfdiff.Triple
			for _, row := range res.Bindings {
				got = append(got, rdfdiff.Triple{S: row["s"], P: row["p"], O: row["o"]})
			}
			assert.Equal(t, expected(t, final), lines(got))

			letters, err := cl.ReadCommitted(ctx, dlq)
			require.NoError(t, err)
			assert.Equal(t, int64(len(letters)), dead, "every dead letter in the topic is in Stats")
			var refusedAtCommit int
			for _, d := range letters {
				if class, _ := d.HeaderValue(streamkit.HeaderDLQErrorClass); string(class) == sparql.ClassSPARQLRejected {
					refusedAtCommit++
					assert.Equal(t, base+"D", string(d.Key))
				}
			}
			if mode == oneCheckpoint {
				assert.Zero(t, refusedAtCommit, "D's revisions merged: the store never saw the bad one")
				assert.Len(t, letters, 3)
			} else {
				assert.Positive(t, refusedAtCommit, "D's first revision was refused at commit")
			}
		})
	}
}
