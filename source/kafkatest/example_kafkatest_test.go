package kafkatest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// A sarama transactional producer commits one transaction and aborts
// another; ReadCommitted shows what a read_committed consumer (and the
// exactly-once tests) will see, and CommittedOffsets the consumer position
// committed inside the transaction. In a test, use NewCluster(t, …) instead
// of Start: it closes the cluster with t.Cleanup.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kafkatest.Start(kafkatest.SeedTopics(1, "in", "out"))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	p, err := sarama.NewSyncProducer(c.Addrs(), c.SaramaConfig(kafkatest.TransactionalID("job-0")))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	checkpoint := "checkpoint-1"
	_ = p.BeginTxn()
	_, _, _ = p.SendMessage(&sarama.ProducerMessage{Topic: "out", Value: sarama.StringEncoder("committed")})
	_ = p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{
		"in": {{Partition: 0, Offset: 10, Metadata: &checkpoint}},
	}, "job")
	if err := p.CommitTxn(); err != nil {
		panic(err)
	}
	_ = p.BeginTxn()
	_, _, _ = p.SendMessage(&sarama.ProducerMessage{Topic: "out", Value: sarama.StringEncoder("aborted")})
	_ = p.AbortTxn()

	records, err := c.ReadCommitted(ctx, "out")
	if err != nil {
		panic(err)
	}
	for _, r := range records {
		fmt.Printf("%s/%d@%d %s\n", r.Topic, r.Partition, r.Offset, r.Value)
	}
	offsets, err := c.CommittedOffsets(ctx, "job")
	if err != nil {
		panic(err)
	}
	fmt.Println(offsets[kafkatest.TopicPartition{Topic: "in", Partition: 0}])
	// Output:
	// out/0@0 committed
	// {10 checkpoint-1}
}

// Fail the next EndTxn as a broker would if the producer had been fenced by
// a newer instance; the commit fails and nothing becomes visible.
func ExampleCluster_FailNext() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kafkatest.Start(kafkatest.SeedTopics(1, "out"), kafkatest.KfakeOnly("FailNext"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	p, err := sarama.NewSyncProducer(c.Addrs(), c.SaramaConfig(kafkatest.TransactionalID("job-0")))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	fault, err := c.FailNext(kmsg.EndTxn, 1, kerr.InvalidProducerEpoch.Code)
	if err != nil {
		panic(err)
	}
	_ = p.BeginTxn()
	_, _, _ = p.SendMessage(&sarama.ProducerMessage{Topic: "out", Value: sarama.StringEncoder("v")})
	fmt.Println("commit:", p.CommitTxn())
	fmt.Println("fault hits:", fault.Hits())
	records, _ := c.ReadCommitted(ctx, "out")
	fmt.Println("visible:", len(records))
	// Output:
	// commit: kafka server: Producer attempted an operation with an old epoch
	// fault hits: 1
	// visible: 0
}
