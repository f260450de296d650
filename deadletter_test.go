package streamkit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
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

	orig := source.Record{
		Topic: "in", Partition: 0, Offset: 41, Timestamp: time.UnixMilli(1_690_000_000_001),
		Key: []byte("Q42"), Value: []byte("\x00not json\xff"),
		Headers: []source.Header{{Key: []byte("content-type"), Value: []byte("application/json")}},
	}
	require.NoError(t, k.Begin(ctx))
	cause := fmt.Errorf("decode: %w", &decodeError{msg: "unexpected byte ü at 0"})
	require.NoError(t, d.Write(ctx, Failure{Record: orig, Stage: "decode", Err: cause, Attempts: 3}))
	require.NoError(t, d.Write(ctx, Failure{Record: source.Record{Topic: "in", Offset: 42, Value: []byte("x")}, Stage: "handler", Class: "rejected", Err: errors.New("no")}))
	require.NoError(t, k.Commit(ctx, &CommitPoint{Job: "wdqs-updater", CheckpointID: 1, Positions: source.Positions{{Topic: "in", Partition: 0}: 43}}, "g"))

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
		{Key: "streamkit.dlq.error.class", Value: []byte("*streamkit.decodeError")},
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
	bad := Failure{Record: source.Record{Topic: "in", Offset: 1, Value: []byte("bad")}, Stage: "handler", Err: errors.New("boom")}

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
	require.NoError(t, k.Commit(ctx, &CommitPoint{Job: "j", CheckpointID: 1, Positions: source.Positions{{Topic: "in", Partition: 0}: 2}}, "g"))
	dl, err = c.ReadCommitted(ctx, "dlq")
	require.NoError(t, err)
	require.Len(t, dl, 1)
	out, err := c.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	require.Equal(t, []string{"ok"}, values(out))
}

func TestDeadLetterValidates(t *testing.T) {
	k, err := NewKafkaProducer([]string{"127.0.0.1:1"}, "tx")
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
	require.ErrorIs(t, d.Write(ctx, Failure{Record: source.Record{Topic: "in"}, Err: errors.New("x")}), ErrInvalidFailure)
	require.ErrorIs(t, d.Write(ctx, Failure{Record: source.Record{Topic: "in"}, Stage: "s"}), ErrInvalidFailure)
	err = d.Write(ctx, Failure{Record: source.Record{Topic: "in"}, Stage: "s", Err: errors.New("x")})
	require.ErrorIs(t, err, ErrNoTransaction, "a dead letter needs the open transaction")
}

func TestErrorClassAndTruncate(t *testing.T) {
	assert.Equal(t, "*errors.errorString", ErrorClass(errors.New("x")))
	assert.Equal(t, "*streamkit.decodeError", ErrorClass(fmt.Errorf("a: %w", fmt.Errorf("b: %w", &decodeError{}))))
	assert.Equal(t, "*streamkit.decodeError", ErrorClass(errors.Join(&decodeError{}, errors.New("y"))))
	assert.Equal(t, "ab", truncateUTF8("abü", 3))
	assert.Equal(t, "abü", truncateUTF8("abü", 4))
}
