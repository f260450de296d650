package turtlesync_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/turtlesync"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// Keep a graph in step with a stream of Turtle documents: two subjects are
// imported, one is edited (its blank node's city changes), the other is
// deleted. The in-memory graph stands in for the SPARQL store (Config.StoreURL
// in production) and refuses what Oxigraph would.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kafkatest.Start(kafkatest.SeedTopics(1, "documents"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	const base = "http://example.org/"
	docs := []kafkatest.Record{
		{Key: []byte(base + "alice"), Value: []byte(`<> <http://xmlns.com/foaf/0.1/name> "Alice" ; <http://example.org/ns#home> [ <http://example.org/ns#city> "Berlin" ] .`)},
		{Key: []byte(base + "bob"), Value: []byte(`<> <http://xmlns.com/foaf/0.1/name> "Bob" ; <http://xmlns.com/foaf/0.1/knows> <alice> .`)},
		{Key: []byte(base + "alice"), Value: []byte(`<> <http://xmlns.com/foaf/0.1/name> "Alice" ; <http://example.org/ns#home> [ <http://example.org/ns#city> "Hamburg" ] .`)},
		{Key: []byte(base + "bob")}, // no document: delete bob
	}
	if err := cl.Produce(ctx, "documents", docs...); err != nil {
		fmt.Println(err)
		return
	}

	g := graph.NewGraph(graph.WithSubjects(base))
	job, err := turtlesync.New(turtlesync.Config{
		Brokers: cl.Addrs(), Topics: []string{"documents"}, Sarama: cl.SaramaConfig(),
		Graph: g, SkolemBase: base, CheckpointStore: checkpoint.NewMemoryStore(),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	for job.Stats().Processed < int64(len(docs)) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if err := job.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	ts := g.Triples()
	rdfdiff.SortTriples(ts)
	_ = rdfdiff.WriteNTriples(os.Stdout, ts)
	// Output:
	// <http://example.org/.well-known/genid/aec0128d414f6b137e20936fe35f2225/anon-1> <http://example.org/ns#city> "Hamburg" .
	// <http://example.org/alice> <http://example.org/ns#home> <http://example.org/.well-known/genid/aec0128d414f6b137e20936fe35f2225/anon-1> .
	// <http://example.org/alice> <http://xmlns.com/foaf/0.1/name> "Alice" .
}
