package streamkit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func TestJSONFieldKey(t *testing.T) {
	key := streamkit.JSONFieldKey("page", "page_title")
	for _, c := range []struct {
		name, value, want, err string
	}{
		{"fixture", string(pageChangeFixture(t, "item-edit.json")), "Q235989", ""},
		{"lexeme", string(pageChangeFixture(t, "lexeme-create.json")), "Lexeme:L4227", ""},
		{"escaped", `{"page":{"page_title":"Q\u0031"}}`, "Q1", ""},
		{"number", `{"page":{"page_title":42}}`, "42", ""},
		{"negative", `{"page":{"page_title":-4.5e1}}`, "-4.5e1", ""},
		{"missing", `{"page":{}}`, "", `no field "page.page_title"`},
		{"no parent", `{"meta":{}}`, "", `no field "page"`},
		{"null", `{"page":{"page_title":null}}`, "", "not a string or number"},
		{"empty", `{"page":{"page_title":""}}`, "", "is empty"},
		{"object", `{"page":{"page_title":{"a":1}}}`, "", "not a string or number"},
		{"parent not object", `{"page":"Q1"}`, "", `"page" is a string, not an object`},
		{"top not object", `[1,2]`, "", "(the value) is an array, not an object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := key(&source.Record{Value: []byte(c.value)})
			if c.err != "" {
				require.ErrorIs(t, err, streamkit.ErrNoKey)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, string(got))
		})
	}
	for _, v := range []string{`{"page":`, "\x00\xff", ""} {
		_, err := key(&source.Record{Value: []byte(v)})
		var se *json.SyntaxError
		require.ErrorAs(t, err, &se, "value %q", v)
		assert.NotErrorIs(t, err, streamkit.ErrNoKey)
	}
	_, err := streamkit.JSONFieldKey()(&source.Record{Value: []byte(`{}`)})
	assert.ErrorIs(t, err, streamkit.ErrNoKey)
}

// collectingSender collects what a Repartitioner sends.
type collectingSender struct {
	recs []streamkit.KafkaRecord
	err  error
}

func (s *collectingSender) Send(_ context.Context, r streamkit.KafkaRecord) error {
	if s.err != nil {
		return s.err
	}
	s.recs = append(s.recs, r)
	return nil
}

func TestRepartitionerProcess(t *testing.T) {
	ctx := context.Background()
	out := &collectingSender{}
	p, err := streamkit.NewRepartitioner(out, "by-entity", streamkit.JSONFieldKey("page", "page_title"))
	require.NoError(t, err)
	assert.Empty(t, p.Tables())
	ts := time.UnixMilli(1_728_054_986_123)
	value := pageChangeFixture(t, "item-edit.json")
	rec := &source.Record{Topic: "eqiad.mediawiki.page_change.v1", Partition: 0, Offset: 41, Timestamp: ts,
		Key: []byte(`{"id":"x"}`), Value: value, Headers: []source.Header{{Key: []byte("content-type"), Value: []byte("application/json")}}}
	require.NoError(t, p.Process(ctx, rec))
	require.Len(t, out.recs, 1)
	got := out.recs[0]
	assert.Equal(t, streamkit.KafkaRecord{Topic: "by-entity", Key: []byte("Q235989"), Value: value, Timestamp: ts,
		Headers: []streamkit.KafkaHeader{{Key: "content-type", Value: []byte("application/json")},
			{Key: streamkit.HeaderOriginTopic, Value: []byte("eqiad.mediawiki.page_change.v1")},
			{Key: streamkit.HeaderOriginPartition, Value: []byte("0")},
			{Key: streamkit.HeaderOriginOffset, Value: []byte("41")}}}, got)

	// Read back downstream, the origin is the first one, also after a
	// second repartition.
	down := &source.Record{Topic: "by-entity", Partition: 3, Offset: 7, Value: got.Value, Key: got.Key}
	for _, h := range got.Headers {
		down.Headers = append(down.Headers, source.Header{Key: []byte(h.Key), Value: h.Value})
	}
	o, err := streamkit.OriginOf(down)
	require.NoError(t, err)
	assert.Equal(t, streamkit.Origin{Topic: "eqiad.mediawiki.page_change.v1", Partition: 0, Offset: 41}, o)
	assert.Equal(t, "eqiad.mediawiki.page_change.v1/0@41", o.String())
	out.recs = nil
	require.NoError(t, p.Process(ctx, down))
	assert.Len(t, out.recs[0].Headers, 4, "a record that has an origin keeps it")

	// A key that cannot be computed is a stage error the job dead-letters.
	err = p.Process(ctx, &source.Record{Topic: "t", Value: []byte(`{"page":{}}`)})
	var se *streamkit.StageError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, streamkit.StageRepartitionKey, se.Stage)
	assert.Equal(t, "no-key", se.Class)
	err = p.Process(ctx, &source.Record{Topic: "t", Value: []byte(`{`)})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, streamkit.StageRepartitionKey, se.Stage)
	assert.Empty(t, se.Class, "the decoder's error type names the class")

	nilKey, err := streamkit.NewRepartitioner(out, "x", func(*source.Record) ([]byte, error) { return nil, nil })
	require.NoError(t, err)
	assert.ErrorIs(t, nilKey.Process(ctx, rec), streamkit.ErrNoKey)

	refused := errors.New("record too large")
	p, err = streamkit.NewRepartitioner(&collectingSender{err: refused}, "x", streamkit.JSONFieldKey("page", "page_title"))
	require.NoError(t, err)
	err = p.Process(ctx, rec)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, streamkit.StageRepartitionSend, se.Stage)
	assert.ErrorIs(t, err, refused)
}

func TestOriginOfErrors(t *testing.T) {
	rec := func(hs ...string) *source.Record {
		r := &source.Record{}
		for i := 0; i+1 < len(hs); i += 2 {
			r.Headers = append(r.Headers, source.Header{Key: []byte(hs[i]), Value: []byte(hs[i+1])})
		}
		return r
	}
	_, err := streamkit.OriginOf(rec())
	assert.ErrorIs(t, err, streamkit.ErrNoOrigin)
	_, err = streamkit.OriginOf(rec(streamkit.HeaderOriginTopic, "t"))
	assert.ErrorIs(t, err, streamkit.ErrNoOrigin)
	_, err = streamkit.OriginOf(rec(streamkit.HeaderOriginTopic, "t", streamkit.HeaderOriginPartition, "x", streamkit.HeaderOriginOffset, "1"))
	assert.ErrorContains(t, err, "not a partition")
	_, err = streamkit.OriginOf(rec(streamkit.HeaderOriginTopic, "t", streamkit.HeaderOriginPartition, "1", streamkit.HeaderOriginOffset, "-1"))
	assert.ErrorContains(t, err, "not an offset")
}

func TestNewRepartitionJobInvalid(t *testing.T) {
	in := streamkit.Input{Brokers: []string{"127.0.0.1:1"}, Topics: []string{"mw"}}
	out := streamkit.KafkaOutputConfig{Brokers: []string{"127.0.0.1:1"}}
	key := streamkit.JSONFieldKey("page", "page_title")
	for name, fn := range map[string]func() error{
		"no topic":     func() error { _, err := streamkit.NewRepartitionJob("r", in, out, "", key); return err },
		"no key":       func() error { _, err := streamkit.NewRepartitionJob("r", in, out, "by-entity", nil); return err },
		"own input":    func() error { _, err := streamkit.NewRepartitionJob("r", in, out, "mw", key); return err },
		"bad name":     func() error { _, err := streamkit.NewRepartitionJob("r/1", in, out, "by-entity", key); return err },
		"nil output":   func() error { _, err := streamkit.NewRepartitioner(nil, "t", key); return err },
		"empty topic":  func() error { _, err := streamkit.NewRepartitioner(&collectingSender{}, "", key); return err },
		"nil key func": func() error { _, err := streamkit.NewRepartitioner(&collectingSender{}, "t", nil); return err },
	} {
		assert.ErrorIs(t, fn(), streamkit.ErrInvalidJob, name)
	}
	j, err := streamkit.NewRepartitionJob("r", in, out, "by-entity", key)
	require.NoError(t, err)
	assert.Equal(t, "r", j.Group())
}

// entityCounter is the stateful stage behind a repartition: per entity it
// counts events and remembers the last revision; a revision that is not
// after the last one fails (stage "order"), which the test's empty
// dead-letter topic then proves never happened. It emits
// "<entity>=<count>@<rev> <origin>".
type entityCounter struct {
	out   streamkit.RecordSender
	state *checkpoint.Table[string, [2]int64] // count, last revision
}

func (c *entityCounter) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{c.state} }

func (c *entityCounter) Process(ctx context.Context, rec *source.Record) error {
	var ev pageChangeEvent
	if err := json.Unmarshal(rec.Value, &ev); err != nil {
		return streamkit.Stage("decode", err)
	}
	origin, err := streamkit.OriginOf(rec)
	if err != nil {
		return streamkit.Stage("origin", err)
	}
	id := string(rec.Key)
	s, _ := c.state.Get(id)
	if ev.Revision.ID <= s[1] {
		return streamkit.Stage("order", fmt.Errorf("%s revision %d after %d", id, ev.Revision.ID, s[1]))
	}
	s = [2]int64{s[0] + 1, ev.Revision.ID}
	v := fmt.Sprintf("%s=%d@%d %s", id, s[0], s[1], origin)
	if err := c.out.Send(ctx, streamkit.KafkaRecord{Topic: "counts", Key: rec.Key, Value: []byte(v)}); err != nil {
		return err
	}
	c.state.Set(id, s)
	return nil
}

// TestRepartitionJobFeedsTwoInstances re-keys the single-partition
// MediaWiki topics of two data centers by entity ID into 4 partitions,
// exactly once, while two instances of a stateful job share those 4
// partitions through their consumer group.
func TestRepartitionJobFeedsTwoInstances(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const (
		eqiad    = "eqiad.mediawiki.page_change.v1"
		codfw    = "codfw.mediawiki.page_change.v1"
		entities = 12
	)
	cl := kafkatest.NewCluster(t)
	for topic, n := range map[string]int{eqiad: 1, codfw: 1, "by-entity": 4, "counts": 4, "dlq": 1, "counts-dlq": 1} {
		require.NoError(t, cl.CreateTopic(ctx, topic, n))
	}

	// 180 edits of 12 entities, interleaved, revisions increasing per
	// entity, each entity edited in one data center; and 3 events without
	// a usable entity ID.
	var input []kafkatest.Record
	base := time.UnixMilli(1_728_054_986_000)
	edits := map[string]int{}
	badAt := map[int]bool{17: true, 90: true, 151: true}
	for i := 0; len(input) < 183; i++ {
		rec := kafkatest.Record{Topic: eqiad, Timestamp: base.Add(time.Duration(len(input)) * time.Second),
			Headers: []kafkatest.Header{{Key: "content-type", Value: []byte("application/json")}}}
		switch {
		case badAt[len(input)] && len(input) == 17:
			rec.Value = []byte(`{"page_change_kind":"edit","page":{"namespace_id":0}}`)
		case badAt[len(input)] && len(input) == 90:
			rec.Topic, rec.Value = codfw, pageChange(t, "", 3)
		case badAt[len(input)]:
			rec.Value = []byte("not json")
		default:
			n := 1 + (i*7)%entities
			id := "Q" + strconv.Itoa(n)
			if n%2 == 1 {
				rec.Topic = codfw
			}
			edits[id]++
			rec.Value = pageChange(t, id, int64(1000*edits[id]+i))
		}
		input = append(input, rec)
	}

	in := func(topics ...string) streamkit.Input {
		return streamkit.Input{Brokers: cl.Addrs(), Topics: topics,
			Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	}
	outCfg := streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}
	store := checkpoint.NewMemoryStore()
	var counters [2]*streamkit.Job
	done := make(chan error, 3)
	for i := range counters {
		j, err := streamkit.NewJob("entity-counts", in("by-entity"), streamkit.KafkaOutputs(outCfg),
			func(_ streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
				return &entityCounter{out: out, state: checkpoint.NewTable[string, [2]int64]("entities", 1)}, nil
			},
			streamkit.WithCheckpointStore(store), streamkit.WithCheckpointInterval(200*time.Millisecond),
			streamkit.WithDeadLetterTopic("counts-dlq"))
		require.NoError(t, err)
		counters[i] = j
		go func() { done <- j.Run(ctx) }()
	}
	// Both instances own two of the four tasks before any input exists.
	require.NoError(t, cl.WaitFor(ctx, "two instances with two tasks each", func(context.Context) (bool, string, error) {
		a, b := counters[0].Stats().Tasks, counters[1].Stats().Tasks
		return len(a) == 2 && len(b) == 2, fmt.Sprintf("tasks %v and %v", a, b), nil
	}))
	tasks := append(counters[0].Stats().Tasks, counters[1].Stats().Tasks...)
	sort.Ints(tasks)
	assert.Equal(t, []int{0, 1, 2, 3}, tasks)

	rep, err := streamkit.NewRepartitionJob("mw-by-entity", in(eqiad, codfw), outCfg, "by-entity",
		streamkit.JSONFieldKey("page", "page_title"),
		streamkit.WithCheckpointInterval(200*time.Millisecond), streamkit.WithDeadLetterTopic("dlq"))
	require.NoError(t, err)
	go func() { done <- rep.Run(ctx) }()
	byTopic := map[string][]kafkatest.Record{}
	wantDead := map[string]string{} // "topic@offset" to error class
	for i, r := range input {
		if badAt[i] {
			class := "no-key"
			if string(r.Value) == "not json" {
				class = "*json.SyntaxError"
			}
			wantDead[r.Topic+"@"+strconv.Itoa(len(byTopic[r.Topic]))] = class
		}
		byTopic[r.Topic] = append(byTopic[r.Topic], r)
	}
	for topic, recs := range byTopic {
		require.NoError(t, cl.Produce(ctx, topic, recs...))
	}

	good := len(input) - len(badAt)
	_, err = cl.WaitForRecords(ctx, "counts", good)
	require.NoError(t, err)
	_, err = cl.WaitForRecords(ctx, "dlq", len(badAt))
	require.NoError(t, err)
	for _, j := range append([]*streamkit.Job{rep}, counters[:]...) {
		assert.Positive(t, j.Stats().Processed, "job %s processed records", j.Name())
		require.NoError(t, j.Stop(ctx))
		require.NoError(t, <-done)
	}

	// The intermediate topic: every good record once, in the partition of
	// its entity, in input order per entity, value, headers and timestamp
	// as read, plus the origin.
	orig := map[string][]kafkatest.Record{}
	for _, topic := range []string{eqiad, codfw} {
		recs, err := cl.ReadCommitted(ctx, topic)
		require.NoError(t, err)
		orig[topic] = recs
	}
	mid, err := cl.ReadCommitted(ctx, "by-entity")
	require.NoError(t, err)
	require.Len(t, mid, good)
	lastOffset := map[string]int64{}
	for _, r := range mid {
		id := string(r.Key)
		assert.Equal(t, kafkatest.SaramaHashPartition(r.Key, 4), r.Partition, "%s in the partition of its key", id)
		h := func(k string) string { v, _ := r.HeaderValue(k); return string(v) }
		topic := h(streamkit.HeaderOriginTopic)
		require.Contains(t, orig, topic)
		assert.Equal(t, "0", h(streamkit.HeaderOriginPartition))
		off, err := strconv.ParseInt(h(streamkit.HeaderOriginOffset), 10, 64)
		require.NoError(t, err)
		src := orig[topic][off]
		assert.Equal(t, src.Value, r.Value)
		assert.True(t, src.Timestamp.Equal(r.Timestamp), "timestamp kept")
		assert.Equal(t, src.Headers, r.Headers[:len(src.Headers)])
		if last, ok := lastOffset[id]; ok {
			assert.Greater(t, off, last, "%s kept its order", id)
		}
		lastOffset[id] = off
	}
	assert.Len(t, lastOffset, entities)

	// The stateful stage: one output per event, counts 1…n in order per
	// entity, with the origin of the event.
	counts, err := cl.ReadCommitted(ctx, "counts")
	require.NoError(t, err)
	require.Len(t, counts, good)
	n := map[string]int{}
	for _, r := range counts {
		id := string(r.Key)
		n[id]++
		v, origin, ok := strings.Cut(string(r.Value), " ")
		require.True(t, ok)
		assert.True(t, strings.HasPrefix(v, id+"="+strconv.Itoa(n[id])+"@"), "output %q is event %d of %s", r.Value, n[id], id)
		dc := eqiad
		if n, _ := strconv.Atoi(id[1:]); n%2 == 1 {
			dc = codfw
		}
		assert.True(t, strings.HasPrefix(origin, dc+"/0@"), "origin %q of %s", origin, id)
	}
	assert.Equal(t, edits, n)
	cdl, err := cl.ReadCommitted(ctx, "counts-dlq")
	require.NoError(t, err)
	assert.Empty(t, cdl, "no event reached the stateful stage out of order")

	// The events without an entity ID are dead letters of the repartition.
	dl, err := cl.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	require.Len(t, dl, len(badAt))
	classes := map[string]string{}
	for _, d := range dl {
		stage, _ := d.HeaderValue(streamkit.HeaderDLQStage)
		assert.Equal(t, streamkit.StageRepartitionKey, string(stage))
		topic, _ := d.HeaderValue(streamkit.HeaderDLQTopic)
		off, _ := d.HeaderValue(streamkit.HeaderDLQOffset)
		class, _ := d.HeaderValue(streamkit.HeaderDLQErrorClass)
		classes[string(topic)+"@"+string(off)] = string(class)
		o, _ := strconv.Atoi(string(off))
		require.Less(t, o, len(orig[string(topic)]))
		assert.Equal(t, orig[string(topic)][o].Value, d.Value)
	}
	assert.Equal(t, wantDead, classes)
}

// BenchmarkJSONFieldKey measures the entity-ID key function of a
// repartition on a real page_change event (about 2 KB).
func BenchmarkJSONFieldKey(b *testing.B) {
	rec := &source.Record{Value: pageChangeFixture(b, "item-edit.json")}
	key := streamkit.JSONFieldKey("page", "page_title")
	b.SetBytes(int64(len(rec.Value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := key(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzJSONFieldKey checks the scanning key function against a reference
// that decodes every level with encoding/json (exact member names, the
// last of duplicates): the same key, or both fail; never a panic.
func FuzzJSONFieldKey(f *testing.F) {
	f.Add(pageChangeFixture(f, "item-edit.json"))
	f.Add(pageChangeFixture(f, "lexeme-create.json"))
	for _, s := range []string{`{"page":{"page_title":"Q\u0031"}}`, `{"pa\u0067e":{"page_title":"Q2"}}`,
		`{"page":{"page_title":-1.5e3}}`, `{"page":[{"page_title":"Q1"}]}`, `{"page":{"page_title":"a\"b"}}`,
		` { "page" : { "x" : [1,{"y":"}"}], "page_title" : "Q3" } } `, `{"page":{"page_title":true}}`,
		`{"page":{"page_title":"a","page_title":"b"}}`, `{"PAGE":{"page_title":"Q4"}}`, `"x"`, `{`, ``} {
		f.Add([]byte(s))
	}
	key := streamkit.JSONFieldKey("page", "page_title")
	f.Fuzz(func(t *testing.T, value []byte) {
		got, err := key(&source.Record{Value: value})
		want, ok := referenceField(value, "page", "page_title")
		if !ok {
			require.Error(t, err, "key %q", got)
			return
		}
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
	})
}

// referenceField is JSONFieldKey the slow way.
func referenceField(data []byte, path ...string) (string, bool) {
	cur := json.RawMessage(data)
	for _, name := range path {
		var obj map[string]json.RawMessage
		if json.Unmarshal(cur, &obj) != nil || obj == nil {
			return "", false
		}
		if cur = obj[name]; cur == nil {
			return "", false
		}
	}
	var s string
	if json.Unmarshal(cur, &s) == nil {
		return s, s != ""
	}
	var n json.Number
	if json.Unmarshal(cur, &n) == nil {
		return string(n), true
	}
	return "", false
}

// discardSender drops what it is sent.
type discardSender struct{}

func (discardSender) Send(context.Context, streamkit.KafkaRecord) error { return nil }

// BenchmarkRepartitionerProcess measures a Repartitioner's work per record
// (key, headers, origin) without Kafka, on a real page_change event.
func BenchmarkRepartitionerProcess(b *testing.B) {
	p, err := streamkit.NewRepartitioner(discardSender{}, "by-entity", streamkit.JSONFieldKey("page", "page_title"))
	require.NoError(b, err)
	rec := &source.Record{Topic: "eqiad.mediawiki.page_change.v1", Offset: 123456789, Timestamp: time.Now(),
		Value: pageChangeFixture(b, "item-edit.json"), Headers: []source.Header{{Key: []byte("content-type"), Value: []byte("application/json")}}}
	ctx := context.Background()
	b.SetBytes(int64(len(rec.Value)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Process(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}
