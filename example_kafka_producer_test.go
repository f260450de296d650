package streamkit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/deadletter"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// One checkpoint of a job: its output and a dead letter go into one Kafka
// transaction with the input offsets, committed as the checkpoint's commit
// point. A restarting job reads the commit point back to learn which
// checkpoint to restore.
func ExampleKafka() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kafkatest.Start(kafkatest.SeedTopics(1, "in", "out", "dlq"))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	out, err := streamkit.NewKafkaProducer(c.Addrs(), "wdqs/0", streamkit.WithSaramaConfig(c.SaramaConfig()))
	if err != nil {
		panic(err)
	}
	defer out.Close()
	dlq, err := streamkit.NewDeadLetter(out, "dlq", "wdqs")
	if err != nil {
		panic(err)
	}

	if err := out.Begin(ctx); err != nil { // first Begin fences older "wdqs/0" producers
		panic(err)
	}
	_ = out.Send(ctx, streamkit.KafkaRecord{Topic: "out", Key: []byte("Q42"), Value: []byte("diff of Q42")})
	_ = dlq.Write(ctx, streamkit.Failure{
		Record: source.Record{Topic: "in", Offset: 1, Key: []byte("Q1"), Value: []byte("{broken")},
		Stage:  "decode", Class: "json", Err: errors.New("unexpected end of JSON input"),
	})
	cp := &streamkit.CommitPoint{Job: "wdqs", CheckpointID: 42, Positions: source.Positions{{Topic: "in", Partition: 0}: 2}}
	if err := out.Commit(ctx, cp, "wdqs"); err != nil {
		panic(err) // the transaction was aborted: retry the checkpoint
	}

	records, _ := c.ReadCommitted(ctx, "out")
	fmt.Printf("out: %s\n", records[0].Value)
	dead, _ := c.ReadCommitted(ctx, "dlq")
	stage, _ := dead[0].HeaderValue(streamkit.HeaderDLQStage)
	fmt.Printf("dlq: %s (stage %s)\n", dead[0].Value, stage)

	client, err := sarama.NewClient(c.Addrs(), c.SaramaConfig())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	back, err := streamkit.ReadKafkaCommitPoint(ctx, client, "wdqs", []string{"in"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("restore checkpoint %d of %s at %v\n", back.CheckpointID, back.Job, back.Positions)
	// Output:
	// out: diff of Q42
	// dlq: {broken (stage decode)
	// restore checkpoint 42 of wdqs at map[in/0:2]
}

// Replay puts dead letters back into a topic, atomically when sent through a
// transactional sink, with the original key, value and headers.
func ExampleReplay() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kafkatest.Start(kafkatest.SeedTopics(1, "in", "dlq"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	k, err := streamkit.NewKafkaProducer(c.Addrs(), "replay-tool", streamkit.WithSaramaConfig(c.SaramaConfig()))
	if err != nil {
		panic(err)
	}
	defer k.Close()
	dlq, _ := streamkit.NewDeadLetter(k, "dlq", "wdqs")
	_ = k.Begin(ctx)
	_ = dlq.Write(ctx, streamkit.Failure{Record: source.Record{Topic: "in", Offset: 7, Key: []byte("Q7"), Value: []byte("v7")}, Stage: "handler", Err: errors.New("fetch failed")})
	_ = dlq.Write(ctx, streamkit.Failure{Record: source.Record{Topic: "in", Offset: 8, Key: []byte("Q8"), Value: []byte("v8")}, Stage: "decode", Err: errors.New("bad")})
	_ = k.Commit(ctx, nil, "")

	client, err := sarama.NewClient(c.Addrs(), c.SaramaConfig())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	_ = k.Begin(ctx)
	st, err := deadletter.Replay(ctx, client, "dlq", k, deadletter.ReplayOptions{Filter: deadletter.ReplayFilter{Stages: []string{"handler"}}})
	if err != nil {
		panic(err)
	}
	if err := k.Commit(ctx, nil, ""); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", st)
	in, _ := c.ReadCommitted(ctx, "in")
	for _, r := range in {
		fmt.Printf("%s=%s headers=%d\n", r.Key, r.Value, len(r.Headers))
	}
	// Output:
	// {Read:2 Replayed:1 Skipped:1}
	// Q7=v7 headers=0
}
