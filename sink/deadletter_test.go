package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

type decodeError struct{ msg string }

func (e *decodeError) Error() string { return e.msg }

func TestDeadLetterHeadersExact(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "in", "out", "dlq"))
	k := newTestKafka(t, c, "job/0")
	failedAt := time.UnixMilli(1_700_000_123_456)
	d, err := NewDeadLetter(k, "dlq", "wdqs-updater", WithMaxErrorMessage(10))
	require.NoError(t, err)
	d.now = func() time.Time { return failedAt }
	require.Equal(t, "dlq", d.Topic())

	orig := SourceRecord{
		Topic: "in", Partition: 0, Offset: 41, Timestamp: time.UnixMilli(1_690_000_000_001),
		Key: []byte("Q42"), Value: []byte("\x00not json\xff"),
		Headers: []KafkaHeader{{Key: "content-type", Value: []byte("application/json")}},
	}
	require.NoError(t, k.Begin(ctx))
	cause := fmt.Errorf("decode: %w", &decodeError{msg: "unexpected byte ü at 0"})
	require.NoError(t, d.Write(ctx, Failure{Record: orig, Stage: "decode", Err: cause, Attempts: 3}))
	require.NoError(t, d.Write(ctx, Failure{Record: SourceRecord{Topic: "in", Offset: 42, Value: []byte("x")}, Stage: "handler", Class: "rejected", Err: errors.New("no")}))
	require.NoError(t, k.Commit(ctx, &CommitPoint{Job: "wdqs-updater", CheckpointID: 1, Positions: []Position{{"in", 0, 43}}}, "g"))

	got, err := c.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	require.Len(t, got, 2)
	r := got[0]
	assert.Equal(t, orig.Key, r.Key)
	assert.Equal(t, orig.Value, r.Value, "original bytes untouched")
	assert.Equal(t, orig.Timestamp.UnixMilli(), r.Timestamp.UnixMilli())
	fa := strconv.FormatInt(failedAt.UnixMilli(), 10)
	assert.Equal(t, []kafkatest.Header{
		{Key: "content-type", Value: []byte("application/json")},
		{Key: "streamkit.dlq.topic", Value: []byte("in")},
		{Key: "streamkit.dlq.partition", Value: []byte("0")},
		{Key: "streamkit.dlq.offset", Value: []byte("41")},
		{Key: "streamkit.dlq.timestamp", Value: []byte("1690000000001")},
		{Key: "streamkit.dlq.key", Value: []byte("Q42")},
		{Key: "streamkit.dlq.stage", Value: []byte("decode")},
		{Key: "streamkit.dlq.error.class", Value: []byte("*sink.decodeError")},
		{Key: "streamkit.dlq.error.message", Value: []byte("decode: un")},
		{Key: "streamkit.dlq.attempts", Value: []byte("3")},
		{Key: "streamkit.dlq.job", Value: []byte("wdqs-updater")},
		{Key: "streamkit.dlq.failed_at", Value: []byte(fa)},
	}, r.Headers)
	r = got[1]
	assert.Nil(t, r.Key)
	_, hasKey := r.HeaderValue(HeaderDLQKey)
	assert.False(t, hasKey, "a nil key has no key header")
	_, hasTS := r.HeaderValue(HeaderDLQTimestamp)
	assert.False(t, hasTS)
	class, _ := r.HeaderValue(HeaderDLQErrorClass)
	assert.Equal(t, "rejected", string(class))
	attempts, _ := r.HeaderValue(HeaderDLQAttempts)
	assert.Equal(t, "1", string(attempts))
}

func TestDeadLetterIsPartOfTheTransaction(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "in", "out", "dlq"))
	k := newTestKafka(t, c, "job/0")
	d, err := NewDeadLetter(k, "dlq", "j")
	require.NoError(t, err)
	bad := Failure{Record: SourceRecord{Topic: "in", Offset: 1, Value: []byte("bad")}, Stage: "handler", Err: errors.New("boom")}

	// Checkpoint aborted: neither the output nor the dead letter is visible,
	// and the offsets stay, so both are redone.
	require.NoError(t, k.Begin(ctx))
	require.NoError(t, k.Send(ctx, KafkaRecord{Topic: "out", Value: []byte("ok")}))
	require.NoError(t, d.Write(ctx, bad))
	require.NoError(t, k.Abort(ctx))
	dl, err := c.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	require.Empty(t, dl)

	require.NoError(t, k.Begin(ctx))
	require.NoError(t, k.Send(ctx, KafkaRecord{Topic: "out", Value: []byte("ok")}))
	require.NoError(t, d.Write(ctx, bad))
	require.NoError(t, k.Commit(ctx, &CommitPoint{Job: "j", CheckpointID: 1, Positions: []Position{{"in", 0, 2}}}, "g"))
	dl, err = c.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	require.Len(t, dl, 1)
	out, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	require.Equal(t, []string{"ok"}, values(out))
}

func TestDeadLetterValidates(t *testing.T) {
	k, err := NewKafka([]string{"127.0.0.1:1"}, "tx")
	require.NoError(t, err)
	_, err = NewDeadLetter(nil, "dlq", "j")
	require.Error(t, err)
	_, err = NewDeadLetter(k, "", "j")
	require.Error(t, err)
	_, err = NewDeadLetter(k, "dlq", "")
	require.Error(t, err)
	_, err = NewDeadLetter(k, "dlq", "j", WithMaxErrorMessage(0))
	require.Error(t, err)
	d, err := NewDeadLetter(k, "dlq", "j")
	require.NoError(t, err)
	ctx := context.Background()
	require.ErrorIs(t, d.Write(ctx, Failure{Stage: "s", Err: errors.New("x")}), ErrInvalidFailure)
	require.ErrorIs(t, d.Write(ctx, Failure{Record: SourceRecord{Topic: "in"}, Err: errors.New("x")}), ErrInvalidFailure)
	require.ErrorIs(t, d.Write(ctx, Failure{Record: SourceRecord{Topic: "in"}, Stage: "s"}), ErrInvalidFailure)
	err = d.Write(ctx, Failure{Record: SourceRecord{Topic: "in"}, Stage: "s", Err: errors.New("x")})
	require.ErrorIs(t, err, ErrNoTransaction, "a dead letter needs the open transaction")
}

func TestErrorClassAndTruncate(t *testing.T) {
	assert.Equal(t, "*errors.errorString", ErrorClass(errors.New("x")))
	assert.Equal(t, "*sink.decodeError", ErrorClass(fmt.Errorf("a: %w", fmt.Errorf("b: %w", &decodeError{}))))
	assert.Equal(t, "*sink.decodeError", ErrorClass(errors.Join(&decodeError{}, errors.New("y"))))
	assert.Equal(t, "ab", truncateUTF8("abü", 3))
	assert.Equal(t, "abü", truncateUTF8("abü", 4))
}

// writeDeadLetters commits dead letters of two topics, two stages and two
// failure times.
func writeDeadLetters(t *testing.T, ctx context.Context, c *kafkatest.Cluster) (t1, t2 time.Time) {
	t.Helper()
	k := newTestKafka(t, c, "dl-writer")
	d, err := NewDeadLetter(k, "dlq", "j")
	require.NoError(t, err)
	t1, t2 = time.UnixMilli(1_700_000_000_000), time.UnixMilli(1_700_000_600_000)
	require.NoError(t, k.Begin(ctx))
	for i := 0; i < 8; i++ {
		topic := []string{"eqiad.in", "codfw.in"}[i%2]
		stage := []string{"decode", "handler"}[(i/2)%2]
		d.now = func() time.Time { return []time.Time{t1, t2}[i/4] }
		var key []byte
		if i != 3 {
			key = []byte(fmt.Sprintf("Q%d", i))
		}
		rec := SourceRecord{Topic: topic, Partition: int32(i % 3), Offset: int64(100 + i), Timestamp: time.UnixMilli(int64(1_600_000_000_000 + i)),
			Key: key, Value: []byte(fmt.Sprintf("v%d", i)), Headers: []KafkaHeader{{Key: "orig", Value: []byte(strconv.Itoa(i))}}}
		require.NoError(t, d.Write(ctx, Failure{Record: rec, Stage: stage, Err: errors.New("x")}))
	}
	require.NoError(t, k.Commit(ctx, nil, ""))
	// An aborted dead letter must never be replayed.
	require.NoError(t, k.Begin(ctx))
	require.NoError(t, d.Write(ctx, Failure{Record: SourceRecord{Topic: "eqiad.in", Value: []byte("aborted")}, Stage: "decode", Err: errors.New("x")}))
	require.NoError(t, k.Flush(ctx))
	require.NoError(t, k.Abort(ctx))
	return t1, t2
}

func TestReplayRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(3, "eqiad.in", "codfw.in", "dlq", "replayed"))
	writeDeadLetters(t, ctx, c)
	client := newTestClient(t, c)

	k := newTestKafka(t, c, "replayer")
	require.NoError(t, k.Begin(ctx))
	st, err := Replay(ctx, client, "dlq", k, ReplayOptions{Topic: "replayed", KeepPartition: true})
	require.NoError(t, err)
	require.NoError(t, k.Commit(ctx, nil, ""))
	assert.Equal(t, ReplayStats{Read: 8, Replayed: 8}, st)

	got, err := c.ReadCommitted(ctx, "replayed")
	require.NoError(t, err)
	require.Len(t, got, 8)
	seen := map[string]bool{}
	for _, r := range got {
		i, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "v"))
		require.NoError(t, err)
		seen[string(r.Value)] = true
		if i == 3 {
			assert.Nil(t, r.Key, "nil key restored as nil")
		} else {
			assert.Equal(t, fmt.Sprintf("Q%d", i), string(r.Key))
		}
		assert.Equal(t, int32(i%3), r.Partition)
		assert.Equal(t, int64(1_600_000_000_000+i), r.Timestamp.UnixMilli())
		assert.Equal(t, []kafkatest.Header{{Key: "orig", Value: []byte(strconv.Itoa(i))}}, r.Headers, "provenance stripped")
	}
	assert.Len(t, seen, 8)

	// Back to the original topics, provenance kept.
	require.NoError(t, k.Begin(ctx))
	st, err = Replay(ctx, client, "dlq", k, ReplayOptions{KeepProvenance: true})
	require.NoError(t, err)
	require.NoError(t, k.Commit(ctx, nil, ""))
	assert.Equal(t, 8, st.Replayed)
	eq, err := c.ReadCommitted(ctx, "eqiad.in")
	require.NoError(t, err)
	require.Len(t, eq, 4)
	for _, r := range eq {
		v, ok := r.HeaderValue(HeaderDLQTopic)
		require.True(t, ok)
		assert.Equal(t, "eqiad.in", string(v))
		if r.Key != nil {
			assert.Equal(t, kafkatest.SaramaHashPartition(r.Key, 3), r.Partition, "key-based partition by default")
		}
	}
}

func TestReplayFilter(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(3, "eqiad.in", "codfw.in", "dlq", "replayed"))
	t1, t2 := writeDeadLetters(t, ctx, c)
	client := newTestClient(t, c)
	cases := []struct {
		name   string
		filter ReplayFilter
		want   []string
	}{
		{"topic", ReplayFilter{Topics: []string{"codfw.in"}}, []string{"v1", "v3", "v5", "v7"}},
		{"stage", ReplayFilter{Stages: []string{"handler"}}, []string{"v2", "v3", "v6", "v7"}},
		{"class", ReplayFilter{ErrorClasses: []string{"nope"}}, nil},
		{"time", ReplayFilter{FailedFrom: t2}, []string{"v4", "v5", "v6", "v7"}},
		{"time-to", ReplayFilter{FailedTo: t2}, []string{"v0", "v1", "v2", "v3"}},
		{"time-window", ReplayFilter{FailedFrom: t1.Add(time.Millisecond), FailedTo: t2}, nil},
		{"all", ReplayFilter{Topics: []string{"eqiad.in"}, Stages: []string{"decode"}, ErrorClasses: []string{"*errors.errorString"}, FailedFrom: t1}, []string{"v0", "v4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			st, err := Replay(ctx, client, "dlq", &rec, ReplayOptions{Filter: tc.filter})
			require.NoError(t, err)
			assert.ElementsMatch(t, tc.want, rec.values())
			assert.Equal(t, ReplayStats{Read: 8, Replayed: len(tc.want), Skipped: 8 - len(tc.want)}, st)
		})
	}
}

func TestReplayRejectsForeignRecords(t *testing.T) {
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, "dlq"))
	require.NoError(t, c.Produce(ctx, "dlq", kafkatest.Record{Value: []byte("plain")}))
	client := newTestClient(t, c)
	var rec recorder
	_, err := Replay(ctx, client, "dlq", &rec, ReplayOptions{})
	require.ErrorIs(t, err, ErrNotDeadLetter)
	require.ErrorContains(t, err, "dlq/0@0")
	_, err = Replay(ctx, client, "", &rec, ReplayOptions{})
	require.Error(t, err)
	_, err = Replay(ctx, client, "dlq", nil, ReplayOptions{})
	require.Error(t, err)
}

type recorder struct{ recs []KafkaRecord }

func (r *recorder) Send(_ context.Context, rec KafkaRecord) error {
	r.recs = append(r.recs, rec)
	return nil
}

func (r *recorder) values() []string {
	var out []string
	for _, rec := range r.recs {
		out = append(out, string(rec.Value))
	}
	return out
}
