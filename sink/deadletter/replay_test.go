package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

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
		v, ok := r.HeaderValue(streamkit.HeaderDLQTopic)
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

type recorder struct{ recs []streamkit.KafkaRecord }

func (r *recorder) Send(_ context.Context, rec streamkit.KafkaRecord) error {
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

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// writeDeadLetters commits dead letters of two topics, two stages and two
// failure times.
func writeDeadLetters(t *testing.T, ctx context.Context, c *kafkatest.Cluster) (t1, t2 time.Time) {
	t.Helper()
	k := newTestKafka(t, c, "dl-writer")
	d, err := streamkit.NewDeadLetter(k, "dlq", "j")
	require.NoError(t, err)
	t1, t2 = time.UnixMilli(1_700_000_000_000), time.UnixMilli(1_700_000_600_000)
	require.NoError(t, k.Begin(ctx))
	for i := 0; i < 8; i++ {
		topic := []string{"eqiad.in", "codfw.in"}[i%2]
		stage := []string{"decode", "handler"}[(i/2)%2]
		var key []byte
		if i != 3 {
			key = []byte(fmt.Sprintf("Q%d", i))
		}
		rec := source.Record{Topic: topic, Partition: int32(i % 3), Offset: int64(100 + i), Timestamp: time.UnixMilli(int64(1_600_000_000_000 + i)),
			Key: key, Value: []byte(fmt.Sprintf("v%d", i)), Headers: []source.Header{{Key: []byte("orig"), Value: []byte(strconv.Itoa(i))}}}
		require.NoError(t, d.Write(ctx, streamkit.Failure{Record: rec, Stage: stage, Err: errors.New("x"), FailedAt: []time.Time{t1, t2}[i/4]}))
	}
	require.NoError(t, k.Commit(ctx, nil, ""))
	// An aborted dead letter must never be replayed.
	require.NoError(t, k.Begin(ctx))
	require.NoError(t, d.Write(ctx, streamkit.Failure{Record: source.Record{Topic: "eqiad.in", Value: []byte("aborted")}, Stage: "decode", Err: errors.New("x")}))
	require.NoError(t, k.Flush(ctx))
	require.NoError(t, k.Abort(ctx))
	return t1, t2
}

func newTestKafka(t *testing.T, c *kafkatest.Cluster, txID string) *streamkit.KafkaProducer {
	t.Helper()
	k, err := streamkit.NewKafkaProducer(c.Addrs(), txID, streamkit.WithSaramaConfig(c.SaramaConfig()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func newTestClient(t *testing.T, c *kafkatest.Cluster) sarama.Client {
	t.Helper()
	client, err := sarama.NewClient(c.Addrs(), c.SaramaConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return client
}
