package consumer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// Example runs the consumer on an embedded Kafka cluster into the in-memory
// graph, as the quickstart does: one rdf_change import event in, the
// entity's triples and the commit point (the next offset of the mutation
// topic) in the graph. For a real store, set StoreURL and Dialect instead
// of Graph (see command wdqs-consumer).
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kafkatest.Start()
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	const topic = "eqiad.rdf-streaming-updater.mutation"
	if err := cl.CreateTopic(ctx, topic, 1); err != nil {
		panic(err)
	}
	event := `{"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0","meta":{"dt":"2026-11-25T12:00:00Z","id":"m1","domain":"www.wikidata.org","stream":"rdf-streaming-updater.mutation","request_id":"r1"},` +
		`"entity_id":"Q64","rev_id":7,"dt":"2026-11-25T12:00:00Z","sequence":0,"sequence_length":1,"operation":"import",` +
		`"rdf_added_data":{"data":"<http://www.wikidata.org/entity/Q64> <http://schema.org/name> \"Berlin\"@en .\n","mime_type":"text/turtle"}}`
	if err := cl.Produce(ctx, topic, kafkatest.Record{Value: []byte(event)}); err != nil {
		panic(err)
	}

	g := graph.NewGraph()
	c, err := consumer.New(consumer.Config{
		Brokers: cl.Addrs(), Topics: []string{topic}, Group: "wdqs1010", Sarama: cl.SaramaConfig(),
		Graph: g, CheckpointStore: checkpoint.NewMemoryStore(), CheckpointInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	err = cl.WaitFor(ctx, "the event applied", func(ctx context.Context) (bool, string, error) {
		cp, err := g.Positions(ctx)
		return err == nil && cp != nil && len(cp.Positions) == 1 && cp.Positions[source.TopicPartition{Topic: topic}] == 1, "", nil
	})
	if err != nil {
		panic(err)
	}
	if err := c.Job().Stop(ctx); err != nil {
		panic(err)
	}
	if err := <-done; err != nil {
		panic(err)
	}

	if err := g.Dump(os.Stdout); err != nil {
		panic(err)
	}
	cp, _ := g.Positions(ctx)
	for tp, off := range cp.Positions {
		fmt.Printf("job %s: %s next offset %d\n", cp.Job, tp, off)
	}
	// Output:
	// <http://www.wikidata.org/entity/Q64> <http://schema.org/name> "Berlin"@en .
	// job wdqs-consumer: eqiad.rdf-streaming-updater.mutation/0 next offset 1
}
