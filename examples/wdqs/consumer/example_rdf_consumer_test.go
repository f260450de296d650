package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// ExampleRDFConsumer drives the per-replica consumer by hand, as the job
// runner does for one checkpoint: Begin, Process each record of the mutation
// topic, Commit with the positions. The records are real WDQS rdf_change
// events (an import and a diff) and one that does not decode, which the
// consumer refuses with its stage, for the runner to dead-letter.
func ExampleRDFConsumer() {
	ctx := context.Background()
	g := graph.NewGraph()
	out, err := graph.NewGraphOutput(g)
	if err != nil {
		panic(err)
	}
	consumer, err := consumer.NewRDFConsumer(out)
	if err != nil {
		panic(err)
	}

	if err := out.Begin(ctx); err != nil {
		panic(err)
	}
	var values [][]byte
	for _, name := range []string{"Import-v2.json", "Diff-v2.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "consumer", name))
		if err != nil {
			panic(err)
		}
		values = append(values, data)
	}
	values = append(values, []byte(`{"entity_id": "Q1"`))
	for offset, v := range values {
		err := consumer.Process(ctx, &source.Record{Topic: "mutation", Offset: int64(offset), Value: v})
		var refused *streamkit.StageError
		if errors.As(err, &refused) {
			fmt.Printf("offset %d refused at stage %q (%s)\n", offset, refused.Stage, refused.Class)
		} else if err != nil {
			panic(err)
		}
	}
	cp := &streamkit.CommitPoint{Job: "wdqs-consumer", CheckpointID: 1,
		Positions: source.Positions{{Topic: "mutation", Partition: 0}: int64(len(values))}}
	if err := out.Commit(ctx, cp); err != nil {
		panic(err)
	}

	if err := g.Dump(os.Stdout); err != nil {
		panic(err)
	}
	back, err := out.ReadCommitPoint(ctx, source.Partitions{"mutation": {0}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("checkpoint %d, next offset %d, %d changes\n", back.CheckpointID, back.Positions[source.TopicPartition{Topic: "mutation"}], consumer.Stats().Changes)
	// Output:
	// offset 2 refused at stage "decode" (invalid-event)
	// <uri:a> <uri:b> <uri:c> .
	// <uri:x> <uri:y> <uri:z> .
	// checkpoint 1, next offset 3, 2 changes
}

// Example_rdfConsumerJob wires the consumer into a job: one task per
// partition of the mutation topic, each with its own output (a GraphOutput
// here; a sparql.SPARQL for a real store) and its own RDFConsumer, whose
// table of incomplete events is checkpointed with the task. Records the
// consumer refuses go to the dead-letter topic: the runner writes the record
// at fault, the consumer the earlier chunks of its event.
func Example_rdfConsumerJob() {
	graphs := map[int]*graph.Graph{0: graph.NewGraph()} // one graph per task
	in := streamkit.Input{Brokers: []string{"localhost:9092"}, Topics: []string{"rdf-streaming-updater.mutation"}}
	job, err := streamkit.NewJob("wdqs-consumer", in,
		graph.Outputs(func(ctx context.Context, info streamkit.TaskInfo) (*graph.GraphOutput, error) {
			g, ok := graphs[info.Task]
			if !ok {
				return nil, fmt.Errorf("no graph for task %d", info.Task)
			}
			return graph.NewGraphOutput(g)
		}),
		func(info streamkit.TaskInfo, out graph.Writer) (streamkit.Processor, error) {
			// The task's dead-letter writer: the job's dead-letter topic,
			// counted in the job's Stats.
			return consumer.NewRDFConsumer(out, consumer.WithConsumerDeadLetter(info.DeadLetters), consumer.WithConsumerLogger(info.Logger))
		},
		streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()),
		streamkit.WithDeadLetterTopic("rdf-streaming-updater.mutation.dlq"))
	if err != nil {
		panic(err)
	}
	_ = job // job.Run(ctx) consumes until job.Stop(ctx)
}
