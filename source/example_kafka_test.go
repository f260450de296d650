package source_test

import (
	"context"
	"fmt"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// A job reads the same stream from two data centers, restores the position
// of one partition from its checkpoint, and takes the positions a snapshot
// would store.
func ExampleKafka() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := []string{"eqiad.rc", "codfw.rc"}
	c, err := kafkatest.Start(kafkatest.SeedTopics(1, topics...))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for _, topic := range topics {
		for i := range 3 {
			_ = c.Produce(ctx, topic, kafkatest.Record{Value: fmt.Appendf(nil, "%s-%d", topic, i)})
		}
	}

	src, err := source.NewKafka(c.Addrs(), "updater", topics,
		source.WithBaseConfig(c.SaramaConfig()),
		source.WithOnAssigned(func(_ context.Context, tps []source.TopicPartition) error {
			fmt.Println("assigned", len(tps), "partitions")
			return nil
		}))
	if err != nil {
		panic(err)
	}
	// Restored from the last checkpoint: eqiad.rc/0 resumes at offset 2.
	if err := src.Seek(source.Positions{{Topic: "eqiad.rc", Partition: 0}: 2}); err != nil {
		panic(err)
	}
	go func() { _ = src.Run(ctx) }()
	defer src.Close()

	for n := 0; n < 4; {
		recs, err := src.Poll(ctx, 10)
		if err != nil {
			panic(err)
		}
		for _, r := range recs {
			if r.Topic == "eqiad.rc" { // print one topic: the interleaving varies
				fmt.Printf("%s/%d@%d %s\n", r.Topic, r.Partition, r.Offset, r.Value)
			}
		}
		n += len(recs)
	}
	pos := src.Positions()
	for _, tp := range pos.Sorted() {
		fmt.Println(tp, "next", pos[tp])
	}
	// Output:
	// assigned 2 partitions
	// eqiad.rc/0@2 eqiad.rc-2
	// codfw.rc/0 next 3
	// eqiad.rc/0 next 3
}
