package streamkit_test

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// editCounter counts the edits of each entity (the record key) and emits
// "<entity>=<count>" for each; a value that is not a revision number is
// dead-lettered as a decode failure.
type editCounter struct {
	out    streamkit.RecordSender
	counts *checkpoint.Table[string, int64]
}

func (c *editCounter) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{c.counts} }

func (c *editCounter) Process(ctx context.Context, rec *source.Record) error {
	if _, err := strconv.ParseInt(string(rec.Value), 10, 64); err != nil {
		return streamkit.Stage("decode", err) // validate before touching state
	}
	n, _ := c.counts.Get(string(rec.Key))
	n++
	if err := c.out.Send(ctx, streamkit.KafkaRecord{Topic: "edit-counts", Key: rec.Key,
		Value: []byte(string(rec.Key) + "=" + strconv.FormatInt(n, 10))}); err != nil {
		return err
	}
	c.counts.Set(string(rec.Key), n)
	return nil
}

// A stateful job: per-entity edit counts, written to Kafka exactly once
// with the input offsets and the state's checkpoint, and a dead-letter
// topic for what cannot be decoded. The embedded kafkatest cluster stands
// in for production Kafka.
func ExampleNewJob() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kafkatest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	for _, topic := range []string{"edits", "edit-counts", "edits-dlq"} {
		if err := cl.CreateTopic(ctx, topic, 2); err != nil {
			fmt.Println(err)
			return
		}
	}
	var edits []kafkatest.Record
	for i, e := range []string{"Q42", "Q64", "Q42", "Q64", "Q42"} {
		edits = append(edits, kafkatest.Record{Key: []byte(e), Value: []byte(strconv.Itoa(100 + i))})
	}
	edits = append(edits, kafkatest.Record{Key: []byte("Q1"), Value: []byte("not a revision")})
	if err := cl.ProduceKeyed(ctx, "edits", edits...); err != nil {
		fmt.Println(err)
		return
	}

	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"edits"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	job, err := streamkit.NewJob("edit-counts", in,
		streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}),
		func(_ streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
			return &editCounter{out: out, counts: checkpoint.NewTable[string, int64]("edit-counts", 1)}, nil
		},
		streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()),
		streamkit.WithCheckpointInterval(100*time.Millisecond),
		streamkit.WithDeadLetterTopic("edits-dlq"),
		streamkit.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	out, err := cl.WaitForRecords(ctx, "edit-counts", 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	dead, err := cl.WaitForRecords(ctx, "edits-dlq", 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := job.Stop(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := <-done; err != nil {
		fmt.Println(err)
		return
	}
	var counts []string
	for _, r := range out {
		counts = append(counts, string(r.Value))
	}
	sort.Strings(counts)
	fmt.Println(counts)
	stage, _ := dead[0].HeaderValue(streamkit.HeaderDLQStage)
	fmt.Printf("dead letter: key %s, value %q, stage %s\n", dead[0].Key, dead[0].Value, stage)
	// Output:
	// [Q42=1 Q42=2 Q42=3 Q64=1 Q64=2]
	// dead letter: key Q1, value "not a revision", stage decode
}

// Re-keying a single-partition MediaWiki topic by entity ID into a topic
// of four partitions, so that a stateful stage downstream can run as up to
// four instances. Each record keeps its value, headers and timestamp and
// gains its origin; an event without an entity ID is dead-lettered.
func ExampleNewRepartitionJob() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kafkatest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	const mw = "eqiad.mediawiki.page_change.v1"
	for topic, partitions := range map[string]int{mw: 1, "page_change.by_entity": 4, "repartition-dlq": 1} {
		if err := cl.CreateTopic(ctx, topic, partitions); err != nil {
			fmt.Println(err)
			return
		}
	}
	var events []kafkatest.Record
	for i, title := range []string{"Q42", "Q5", "Lexeme:L4227", "Q42", "", "Q515", "Q5"} {
		events = append(events, kafkatest.Record{Value: fmt.Appendf(nil,
			`{"page_change_kind":"edit","page":{"page_title":%q},"revision":{"rev_id":%d}}`, title, 100+i)})
	}
	if err := cl.Produce(ctx, mw, events...); err != nil {
		fmt.Println(err)
		return
	}

	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{mw},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	out := streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}
	job, err := streamkit.NewRepartitionJob("page-change-by-entity", in, out, "page_change.by_entity",
		streamkit.JSONFieldKey("page", "page_title"),
		streamkit.WithCheckpointInterval(100*time.Millisecond),
		streamkit.WithDeadLetterTopic("repartition-dlq"),
		streamkit.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	keyed, err := cl.WaitForRecords(ctx, "page_change.by_entity", 6)
	if err != nil {
		fmt.Println(err)
		return
	}
	dead, err := cl.WaitForRecords(ctx, "repartition-dlq", 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := job.Stop(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := <-done; err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range keyed { // by partition, then offset
		from, _ := r.HeaderValue(streamkit.HeaderOriginOffset)
		fmt.Printf("partition %d: %-12s (from offset %s)\n", r.Partition, r.Key, from)
	}
	stage, _ := dead[0].HeaderValue(streamkit.HeaderDLQStage)
	class, _ := dead[0].HeaderValue(streamkit.HeaderDLQErrorClass)
	offset, _ := dead[0].HeaderValue(streamkit.HeaderDLQOffset)
	fmt.Printf("dead letter: offset %s, stage %s, class %s\n", offset, stage, class)
	// Output:
	// partition 0: Lexeme:L4227 (from offset 2)
	// partition 1: Q5           (from offset 1)
	// partition 1: Q5           (from offset 6)
	// partition 2: Q42          (from offset 0)
	// partition 2: Q42          (from offset 3)
	// partition 3: Q515         (from offset 5)
	// dead letter: offset 4, stage repartition:key, class no-key
}
