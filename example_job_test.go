package streamkit_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sidecar"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// wikiEdits counts the edits of each wiki (the record key) and writes
// "<wiki> <count>" for each; a value that is not a revision number is
// dead-lettered.
type wikiEdits struct {
	out    streamkit.RecordSender
	counts *checkpoint.Table[string, int64]
}

func (w *wikiEdits) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{w.counts} }

func (w *wikiEdits) Process(ctx context.Context, rec *source.Record) error {
	if _, err := strconv.ParseInt(string(rec.Value), 10, 64); err != nil {
		return err // dead-lettered; the partition moves on
	}
	n, _ := w.counts.Get(string(rec.Key))
	w.counts.Set(string(rec.Key), n+1)
	return w.out.Send(ctx, streamkit.KafkaRecord{Topic: "edit-counts", Key: rec.Key,
		Value: []byte(string(rec.Key) + " " + strconv.FormatInt(n+1, 10))})
}

// A new team's job: per-wiki edit counts written to Kafka exactly once,
// checkpoints in Swift, a dead-letter topic, the sidecar beside it, and an
// upgrade through a savepoint: 20 identifiers of four packages (streamkit,
// checkpoint, source, sidecar). kafkatest and checkpointtest stand in for
// Kafka and Swift.
func ExampleNewJob() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kafkatest.Start(kafkatest.SeedTopics(1, "edits", "edit-counts", "edits-dlq"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	conn, stopSwift, err := checkpointtest.StartSwift() // production: a *swift.Connection to your Swift
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stopSwift()
	produce := func(wikis ...string) {
		var recs []kafkatest.Record
		for i, w := range wikis {
			recs = append(recs, kafkatest.Record{Key: []byte(w), Value: []byte(strconv.Itoa(100 + i))})
		}
		_ = cl.ProduceKeyed(ctx, "edits", recs...)
	}

	// The job, as build 1 and build 2 of a program would construct it.
	brokers := cl.Addrs()
	store := checkpoint.NewSwiftStore(conn, "edit-counts")
	logger := slog.New(slog.DiscardHandler)
	newJob := func(fromSavepoint string) (*streamkit.Job, error) {
		return streamkit.NewJob("edit-counts", streamkit.Input{Brokers: brokers, Topics: []string{"edits"}},
			streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: brokers}),
			func(_ streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
				return &wikiEdits{out: out, counts: checkpoint.NewTable[string, int64]("edits-per-wiki", 1)}, nil
			},
			streamkit.WithCheckpointStore(store),
			streamkit.WithCheckpointInterval(200*time.Millisecond), // output latency; default 10 s
			streamkit.WithDeadLetterTopic("edits-dlq"),
			streamkit.WithRestoreFromSavepoint(fromSavepoint),
			streamkit.WithLogger(logger)) // reaches the source, outputs and checkpoints
	}

	// Build 1, with its sidecar (/readyz, /metrics, POST /stop?savepoint=…).
	job, err := newJob("")
	if err != nil {
		fmt.Println(err)
		return
	}
	sc, err := sidecar.New(job)
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = sc.Serve(ctx, ln) }()
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	produce("enwiki", "dewiki", "enwiki")
	if _, err := cl.WaitForRecords(ctx, "edit-counts", 3); err != nil {
		fmt.Println(err)
		return
	}
	if res, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		fmt.Println("sidecar /healthz:", res.Status)
		res.Body.Close()
	}
	if _, err := job.StopWithSavepoint(ctx, "before-build-2"); err != nil {
		fmt.Println(err)
		return
	}
	if err := <-done; err != nil {
		fmt.Println(err)
		return
	}

	// Build 2 starts from the savepoint and goes on counting.
	produce("enwiki", "not-a-wiki-edit", "dewiki")
	_ = cl.ProduceKeyed(ctx, "edits", kafkatest.Record{Key: []byte("enwiki"), Value: []byte("garbage")})
	job, err = newJob("before-build-2")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { done <- job.Run(ctx) }()
	out, err := cl.WaitForRecords(ctx, "edit-counts", 6)
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
	for _, r := range out {
		fmt.Println(string(r.Value))
	}
	fmt.Printf("dead letter: %s %q\n", dead[0].Key, dead[0].Value)
	// Output:
	// sidecar /healthz: 200 OK
	// enwiki 1
	// dewiki 1
	// enwiki 2
	// enwiki 3
	// not-a-wiki-edit 1
	// dewiki 2
	// dead letter: enwiki "garbage"
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
