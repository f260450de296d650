package streamkit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/deadletter"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// pageChangeFixture returns the bytes of testdata/page_change/<name>.
func pageChangeFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "page_change", name))
	require.NoError(t, err)
	return b
}

// pageChange returns a mediawiki.page_change.v1 edit event of the page
// title at revision rev, made from the real item-edit.json event.
func pageChange(t testing.TB, title string, rev int64) []byte {
	t.Helper()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(pageChangeFixture(t, "item-edit.json"), &ev))
	ev["page"].(map[string]any)["page_title"] = title
	r := ev["revision"].(map[string]any)
	r["rev_parent_id"], r["rev_id"] = rev-1, rev
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return b
}

// pageChangeEvent is the part of a page_change event the updater needs.
type pageChangeEvent struct {
	Kind string `json:"page_change_kind"`
	Page struct {
		Title     string `json:"page_title"`
		Namespace int    `json:"namespace_id"`
	} `json:"page"`
	Revision struct {
		ID int64 `json:"rev_id"`
	} `json:"revision"`
}

// entityNamespaces are Wikidata's item, property and lexeme namespaces.
var entityNamespaces = map[int]bool{0: true, 120: true, 146: true}

// cleanEntityID strips the namespace of an entity page title. It has the
// kind of bug a handler has in real life: an empty title panics (index out
// of range), and the job must survive it.
func cleanEntityID(title string) string {
	if i := strings.LastIndexByte(title, ':'); i >= 0 {
		title = title[i+1:]
	}
	if c := title[0]; c < 'A' || c > 'Z' {
		return ""
	}
	return title
}

// revisionProcessor is a WDQS-updater-like stage: it decodes page_change
// events, drops visibility changes, rejects pages outside the entity
// namespaces and revisions older than the last one seen for the entity
// (state), and emits "<entity>@<rev>" keyed by entity ID.
type revisionProcessor struct {
	out     streamkit.RecordSender
	topic   string
	lastRev *checkpoint.Table[string, int64]
}

func newRevisionProcessor(_ streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
	return &revisionProcessor{out: out, topic: "out", lastRev: checkpoint.NewTable[string, int64]("last-rev", 1)}, nil
}

func (p *revisionProcessor) Tables() []checkpoint.StateTable {
	return []checkpoint.StateTable{p.lastRev}
}

func (p *revisionProcessor) Process(ctx context.Context, rec *source.Record) error {
	var ev pageChangeEvent
	if err := json.Unmarshal(rec.Value, &ev); err != nil {
		return streamkit.Stage("decode", err)
	}
	if ev.Kind == "visibility_change" {
		return nil // filtered, as the WDQS updater does: not a failure
	}
	if !entityNamespaces[ev.Page.Namespace] {
		return &streamkit.StageError{Stage: "validate", Class: "not-an-entity",
			Err: fmt.Errorf("page %q is in namespace %d", ev.Page.Title, ev.Page.Namespace)}
	}
	id := cleanEntityID(ev.Page.Title)
	last, _ := p.lastRev.Get(id)
	if ev.Revision.ID <= last {
		return &streamkit.StageError{Stage: "handler", Class: "stale-revision",
			Err: fmt.Errorf("%s revision %d is not after %d", id, ev.Revision.ID, last)}
	}
	if err := p.out.Send(ctx, streamkit.KafkaRecord{Topic: p.topic, Key: []byte(id),
		Value: []byte(id + "@" + strconv.FormatInt(ev.Revision.ID, 10))}); err != nil {
		return err
	}
	p.lastRev.Set(id, ev.Revision.ID)
	return nil
}

// badRecord is what a dead letter of an input record must say.
type badRecord struct {
	stage, class, message string
}

// TestJobDeadLettersBadInputAndReplay feeds a stateful job undecodable
// records, records its handler rejects, and one that makes it panic, mixed
// with good ones across three partitions, while the first checkpoint's
// commit fails (so dead letters of an aborted transaction are redone). It
// checks every bad record is dead-lettered exactly once with its
// provenance and its bytes untouched, every good record's output is there
// exactly once, the partitions kept flowing past the bad records, and the
// dead letters replay back with their original key, value, headers and
// timestamp.
func TestJobDeadLettersBadInputAndReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const (
		in  = "eqiad.mediawiki.page_change.v1"
		job = "dlq-job"
	)
	cl := kafkatest.NewCluster(t, kafkatest.KfakeOnly("FailNext on EndTxn"))
	require.NoError(t, cl.CreateTopic(ctx, in, 3))
	require.NoError(t, cl.CreateTopic(ctx, "out", 3))
	require.NoError(t, cl.CreateTopic(ctx, "dlq", 2))
	require.NoError(t, cl.CreateTopic(ctx, "replayed", 1))

	var (
		inputs   []kafkatest.Record
		bad      = map[string]badRecord{} // by trace ID
		wantOut  []string
		lastGood = map[int32]string{} // the output of each partition's last record
		base     = time.UnixMilli(1_728_054_986_000)
	)
	add := func(p int32, key, value []byte, expect *badRecord, out string) {
		trace := fmt.Sprintf("%d-%02d", p, len(inputs))
		inputs = append(inputs, kafkatest.Record{Partition: p, Key: key, Value: value,
			Timestamp: base.Add(time.Duration(len(inputs)) * time.Second),
			Headers: []kafkatest.Header{{Key: "content-type", Value: []byte("application/json")},
				{Key: "trace-id", Value: []byte(trace)}}})
		if expect != nil {
			bad[trace] = *expect
		}
		if out != "" {
			wantOut = append(wantOut, out)
			lastGood[p] = out
		}
	}
	for p := int32(0); p < 3; p++ {
		q := func(i int) string { return fmt.Sprintf("Q%d%02d", p+1, i) }
		edit := pageChange(t, q(1), 10)
		add(p, []byte(q(1)), edit, nil, q(1)+"@10")
		add(p, []byte(q(2)), pageChange(t, q(2), 10), nil, q(2)+"@10")
		add(p, []byte(q(1)), edit[:len(edit)/2], &badRecord{"decode", "*json.SyntaxError", "unexpected end of JSON input"}, "")
		add(p, []byte(q(1)), pageChange(t, q(1), 11), nil, q(1)+"@11")
		add(p, []byte("User:DCausse_(WMF)/Test"), pageChangeFixture(t, "non-item-create.json"),
			&badRecord{"validate", "not-an-entity", `page "User:DCausse_(WMF)/Test" is in namespace 2`}, "")
		add(p, []byte(q(1)), pageChange(t, q(1), 5), &badRecord{"handler", "stale-revision", q(1) + " revision 5 is not after 11"}, "")
		add(p, []byte("Q235989"), pageChangeFixture(t, "item-visibility-change.json"), nil, "")
		add(p, nil, pageChange(t, "", 7), &badRecord{"process", "panic", "index out of range"}, "")
		add(p, []byte{}, []byte("\x00\xffnot json"), &badRecord{"decode", "*json.SyntaxError", "invalid character"}, "")
		if p == 0 {
			add(p, []byte("L4227"), pageChangeFixture(t, "lexeme-create.json"), nil, "L4227@686857")
		}
		add(p, []byte(q(2)), pageChange(t, q(2), 11), nil, q(2)+"@11")
		add(p, []byte(q(3)), pageChange(t, q(3), 1), nil, q(3)+"@1")
	}
	require.NoError(t, cl.Produce(ctx, in, inputs...))
	// Offsets as the broker assigned them, by trace ID.
	written, err := cl.ReadCommitted(ctx, in)
	require.NoError(t, err)
	require.Len(t, written, len(inputs))
	original := map[string]kafkatest.Record{}
	for _, r := range written {
		trace, ok := r.HeaderValue("trace-id")
		require.True(t, ok)
		original[string(trace)] = r
	}

	// The first checkpoint commit fails: its output and dead letters are
	// aborted and redone from the commit point.
	fault, err := cl.FailNext(kmsg.EndTxn, 1, kerr.InvalidTxnState.Code)
	require.NoError(t, err)
	var hooked, failedCheckpoints atomic.Int64
	src := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{in},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	// A transaction timeout longer than the test: a transaction the failed
	// commit left open must be aborted by the job, not by the broker.
	outCfg := streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig(),
		Options: []streamkit.KafkaOption{streamkit.WithTransactionTimeout(10 * time.Minute)}}
	started := time.Now()
	j, err := streamkit.NewJob(job, src, streamkit.KafkaOutputs(outCfg), newRevisionProcessor,
		streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()),
		streamkit.WithCheckpointInterval(300*time.Millisecond),
		streamkit.WithRestartBackoff(50*time.Millisecond, time.Second),
		streamkit.WithDeadLetterTopic("dlq"),
		streamkit.WithOnDeadLetter(func(streamkit.Failure) { hooked.Add(1) }),
		streamkit.WithOnCheckpoint(func(ev streamkit.CheckpointEvent) {
			if ev.Err != nil {
				failedCheckpoints.Add(1)
			}
		}))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	_, err = cl.WaitForRecords(ctx, "out", len(wantOut))
	require.NoError(t, err)
	_, err = cl.WaitForRecords(ctx, "dlq", len(bad))
	require.NoError(t, err)
	require.NoError(t, j.Stop(ctx))
	require.NoError(t, <-done)
	assert.Equal(t, 1, fault.Hits())
	st := j.Stats()
	assert.GreaterOrEqual(t, st.Restarts, int64(1), "the failed commit restarted the job")
	assert.GreaterOrEqual(t, failedCheckpoints.Load(), int64(1))
	assert.GreaterOrEqual(t, hooked.Load(), int64(len(bad)))
	assert.GreaterOrEqual(t, st.DeadLettered, int64(len(bad)))
	t.Logf("dead-letter writes %d (of which %d aborted with the failed checkpoint and redone), restarts %d",
		hooked.Load(), hooked.Load()-int64(len(bad)), st.Restarts)

	// Every good record's output exactly once, including those after the
	// bad records of each partition: the partitions kept flowing.
	out, err := cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.ElementsMatch(t, wantOut, outageValues(out))
	for p, v := range lastGood {
		assert.Contains(t, outageValues(out), v, "partition %d flowed past its bad records", p)
	}
	offs, err := cl.CommittedOffsets(ctx, job)
	require.NoError(t, err)
	for p := int32(0); p < 3; p++ {
		var n int64
		for _, r := range written {
			if r.Partition == p {
				n = r.Offset + 1
			}
		}
		assert.Equal(t, n, offs[kafkatest.TopicPartition{Topic: in, Partition: p}].Offset, "commit point of partition %d", p)
	}

	// Every bad record in the dead-letter topic exactly once, as it was
	// read, with its provenance.
	dl, err := cl.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	require.Len(t, dl, len(bad))
	seen := map[string]bool{}
	for _, d := range dl {
		trace, ok := d.HeaderValue("trace-id")
		require.True(t, ok, "original headers kept")
		want, isBad := bad[string(trace)]
		require.True(t, isBad, "dead letter %s is of a good record", trace)
		require.False(t, seen[string(trace)], "dead letter %s twice", trace)
		seen[string(trace)] = true
		orig := original[string(trace)]
		assert.Equal(t, orig.Value, d.Value, "value bytes untouched")
		assert.Equal(t, orig.Key, d.Key, "key bytes untouched (nil stays nil, empty stays empty)")
		assert.True(t, orig.Timestamp.Equal(d.Timestamp), "record timestamp kept")
		assert.Equal(t, orig.Headers, d.Headers[:len(orig.Headers)], "original headers first, in order")
		h := func(k string) string {
			v, ok := d.HeaderValue(k)
			if !ok {
				return "<absent>"
			}
			return string(v)
		}
		assert.Equal(t, in, h(streamkit.HeaderDLQTopic))
		assert.Equal(t, strconv.Itoa(int(orig.Partition)), h(streamkit.HeaderDLQPartition))
		assert.Equal(t, strconv.FormatInt(orig.Offset, 10), h(streamkit.HeaderDLQOffset))
		assert.Equal(t, strconv.FormatInt(orig.Timestamp.UnixMilli(), 10), h(streamkit.HeaderDLQTimestamp))
		if orig.Key == nil {
			assert.Equal(t, "<absent>", h(streamkit.HeaderDLQKey))
		} else {
			assert.Equal(t, string(orig.Key), h(streamkit.HeaderDLQKey))
		}
		assert.Equal(t, want.stage, h(streamkit.HeaderDLQStage), "stage of %s", trace)
		assert.Equal(t, want.class, h(streamkit.HeaderDLQErrorClass), "error class of %s", trace)
		assert.Contains(t, h(streamkit.HeaderDLQErrorMessage), want.message, "error message of %s", trace)
		assert.Equal(t, "1", h(streamkit.HeaderDLQAttempts))
		assert.Equal(t, job, h(streamkit.HeaderDLQJob))
		failedAt, err := strconv.ParseInt(h(streamkit.HeaderDLQFailedAt), 10, 64)
		require.NoError(t, err)
		assert.False(t, time.UnixMilli(failedAt).Before(started.Truncate(time.Millisecond)), "failed_at %d", failedAt)
		assert.False(t, time.UnixMilli(failedAt).After(time.Now()), "failed_at %d", failedAt)
	}

	// Replay: the decode failures only, into a topic of their own, inside
	// one transaction.
	client, err := sarama.NewClient(cl.Addrs(), cl.SaramaConfig())
	require.NoError(t, err)
	defer func() { _ = client.Close() }()
	replay := func(txID string, opts deadletter.ReplayOptions) deadletter.ReplayStats {
		k, err := streamkit.NewKafkaProducer(cl.Addrs(), txID, streamkit.WithSaramaConfig(cl.SaramaConfig()))
		require.NoError(t, err)
		defer func() { _ = k.Close() }()
		require.NoError(t, k.Begin(ctx))
		st, err := deadletter.Replay(ctx, client, "dlq", k, opts)
		require.NoError(t, err)
		require.NoError(t, k.Commit(ctx, nil, ""))
		return st
	}
	decodes := 0
	for _, b := range bad {
		if b.stage == "decode" {
			decodes++
		}
	}
	rs := replay("replay-decode", deadletter.ReplayOptions{Filter: deadletter.ReplayFilter{Stages: []string{"decode"}}, Topic: "replayed"})
	assert.Equal(t, deadletter.ReplayStats{Read: len(bad), Replayed: decodes, Skipped: len(bad) - decodes}, rs)
	got, err := cl.ReadCommitted(ctx, "replayed")
	require.NoError(t, err)
	require.Len(t, got, decodes)
	for _, r := range got {
		trace, _ := r.HeaderValue("trace-id")
		require.Equal(t, "decode", bad[string(trace)].stage)
		assertSameRecord(t, original[string(trace)], r)
	}

	// Replay all of them back into the input topic, each to its original
	// partition: the round trip ends where the records started.
	rs = replay("replay-all", deadletter.ReplayOptions{KeepPartition: true})
	assert.Equal(t, deadletter.ReplayStats{Read: len(bad), Replayed: len(bad)}, rs)
	back, err := cl.ReadCommitted(ctx, in)
	require.NoError(t, err)
	require.Len(t, back, len(inputs)+len(bad))
	again := map[string]bool{}
	for _, r := range back {
		trace, _ := r.HeaderValue("trace-id")
		orig := original[string(trace)]
		if r.Offset == orig.Offset {
			continue // the original
		}
		require.False(t, again[string(trace)], "%s replayed twice", trace)
		again[string(trace)] = true
		assert.Equal(t, orig.Partition, r.Partition, "%s back in its partition", trace)
		assert.Greater(t, r.Offset, orig.Offset)
		assertSameRecord(t, orig, r)
	}
	assert.Len(t, again, len(bad))
}

// assertSameRecord checks that got has want's key, value, headers and
// timestamp.
func assertSameRecord(t *testing.T, want, got kafkatest.Record) {
	t.Helper()
	assert.Equal(t, want.Key, got.Key)
	assert.Equal(t, want.Value, got.Value)
	assert.Equal(t, want.Headers, got.Headers)
	assert.True(t, want.Timestamp.Equal(got.Timestamp), "timestamp %v, want %v", got.Timestamp, want.Timestamp)
}

// A job without a dead-letter topic stops on a failed record rather than
// lose it, and says which record and stage.
func TestJobDeadLettersWithoutTopicStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 1))
	require.NoError(t, cl.CreateTopic(ctx, "out", 1))
	require.NoError(t, cl.Produce(ctx, "in",
		kafkatest.Record{Key: []byte("Q1"), Value: pageChange(t, "Q1", 1)},
		kafkatest.Record{Key: []byte("Q1"), Value: []byte("{")}))
	src := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	j, err := streamkit.NewJob("no-dlq", src, streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}),
		newRevisionProcessor, streamkit.WithCheckpointStore(checkpoint.NewMemoryStore()),
		streamkit.WithCheckpointInterval(200*time.Millisecond))
	require.NoError(t, err)
	err = j.Run(ctx)
	var pe *streamkit.ProcessError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, streamkit.ErrNoDeadLetter)
	assert.Equal(t, streamkit.ProcessError{Topic: "in", Partition: 0, Offset: 1, Stage: "decode", Err: pe.Err}, *pe)
	var se *json.SyntaxError
	assert.True(t, errors.As(err, &se), "the decoder's error is in the chain: %v", err)
	// Nothing past the failed record was committed: a fixed job resumes at it.
	offs, err := cl.CommittedOffsets(ctx, "no-dlq")
	require.NoError(t, err)
	assert.LessOrEqual(t, offs[kafkatest.TopicPartition{Topic: "in"}].Offset, int64(1))
	out, err := cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	assert.Subset(t, []string{"Q1@1"}, outageValues(out))
}
