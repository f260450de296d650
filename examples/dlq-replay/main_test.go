package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func TestUsage(t *testing.T) {
	ctx := context.Background()
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run(ctx, []string{"-h"}, &out, &errb, nil))
	assert.Contains(t, errb.String(), "-dry-run")
	for args, msg := range map[string]string{
		"-dlq-topic d":                         "-brokers is required",
		"-brokers b":                           "-dlq-topic is required",
		"-brokers b -dlq-topic d -from now":    "-from",
		"-brokers b -dlq-topic d -to tomorrow": "-to",
		"-brokers b -dlq-topic d -json":        "-dry-run",
		"-brokers b -dlq-topic d -to-topic d":  "dead-letter topic itself",
		"-brokers b -dlq-topic d x":            "unexpected arguments",
		"-brokers b -dlq-topic d -from 2026-11-25T12:00:00Z -to 2026-11-25T11:00:00Z": "-from must be before -to",
	} {
		errb.Reset()
		assert.Equal(t, 2, run(ctx, strings.Fields(args), &out, &errb, nil), args)
		assert.Contains(t, errb.String(), msg, args)
	}
}

const (
	dlqTopic = "mutation.dlq"
	srcA     = "eqiad.mutation"
	srcB     = "codfw.mutation"
	target   = "mutation.replayed"
)

// deadLetters writes four dead letters the way a job does (streamkit.DeadLetter
// in a committed transaction of a Kafka sink) and one in an aborted
// transaction, which must never be listed or replayed.
func deadLetters(t *testing.T, ctx context.Context, cl *kafkatest.Cluster) {
	k, err := streamkit.NewKafkaProducer(cl.Addrs(), "test-job.task-0", streamkit.WithSaramaConfig(cl.SaramaConfig()))
	require.NoError(t, err)
	defer k.Close()
	dl, err := streamkit.NewDeadLetter(k, dlqTopic, "wdqs-consumer")
	require.NoError(t, err)
	write := func(topic string, offset int64, stage, class, value string) {
		require.NoError(t, dl.Write(ctx, streamkit.Failure{
			Record: source.Record{Topic: topic, Partition: 0, Offset: offset, Key: []byte("Q" + value),
				Value: []byte(value), Headers: []source.Header{{Key: []byte("origin"), Value: []byte("test")}}},
			Stage: stage, Class: class, Err: errors.New("broken " + value)}))
	}
	require.NoError(t, k.Begin(ctx))
	write(srcA, 10, "decode", "invalid-event", "a10")
	write(srcA, 11, "sink:sparql", "sparql-rejected", "a11")
	write(srcB, 20, "decode", "invalid-event", "b20")
	require.NoError(t, k.Commit(ctx, nil, ""))
	require.NoError(t, k.Begin(ctx))
	write(srcA, 12, "decode", "invalid-event", "aborted")
	require.NoError(t, k.Abort(ctx))
	require.NoError(t, k.Begin(ctx))
	write(srcB, 21, "reassemble", "broken-sequence", "b21")
	require.NoError(t, k.Commit(ctx, nil, ""))
}

func TestDryRunAndReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	for _, topic := range []string{dlqTopic, srcA, srcB, target} {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	deadLetters(t, ctx, cl)
	brokers := strings.Join(cl.Addrs(), ",")
	cmd := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"-brokers", brokers, "-dlq-topic", dlqTopic}, args...), &out, &errb, cl.SaramaConfig())
		return code, out.String(), errb.String()
	}

	// A dry run lists every committed dead letter with its provenance.
	code, out, errs := cmd("-dry-run")
	require.Equal(t, 0, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Contains(t, lines[0], "eqiad.mutation/0@10\tstage=decode\tclass=invalid-event\tjob=wdqs-consumer")
	assert.Contains(t, lines[1], `error="broken a11"`)
	assert.NotContains(t, out, "aborted")
	assert.Contains(t, errs, "4 dead letters read, 4 selected, 0 skipped; nothing sent")

	// Filters combine; JSON lines carry every field.
	code, out, errs = cmd("-dry-run", "-json", "-stage", "decode,reassemble", "-original-topic", srcB)
	require.Equal(t, 0, code, errs)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	var e entry
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &e))
	assert.Equal(t, entry{Topic: srcB, Partition: "0", Offset: "21", Stage: "reassemble", Class: "broken-sequence",
		Message: "broken b21", Job: "wdqs-consumer", FailedAt: e.FailedAt, Key: "Qb21", Bytes: 3,
		Headers: map[string]string{"origin": "test"}}, e)
	failedAt, err := time.Parse(time.RFC3339Nano, e.FailedAt)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), failedAt, time.Minute)

	// A time window after every failure selects nothing.
	code, out, errs = cmd("-dry-run", "-from", time.Now().Add(time.Hour).Format(time.RFC3339))
	require.Equal(t, 0, code, errs)
	assert.Empty(t, out)
	assert.Contains(t, errs, "0 selected, 4 skipped")

	// The dry run sent nothing anywhere.
	for _, topic := range []string{srcA, srcB, target} {
		recs, err := cl.ReadCommitted(ctx, topic)
		require.NoError(t, err)
		assert.Empty(t, recs, topic)
	}

	// Replay of the decode failures into another topic: original bytes,
	// key and headers, no provenance headers.
	code, _, errs = cmd("-stage", "decode", "-to-topic", target)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, errs, "4 dead letters read, 2 replayed into mutation.replayed, 2 skipped")
	recs, err := cl.ReadCommitted(ctx, target)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, "a10", string(recs[0].Value))
	assert.Equal(t, "Qa10", string(recs[0].Key))
	assert.Equal(t, "b20", string(recs[1].Value))
	for _, r := range recs {
		require.Len(t, r.Headers, 1)
		assert.Equal(t, "origin", r.Headers[0].Key)
	}

	// Replay into the original topics, keeping the provenance.
	code, _, errs = cmd("-original-topic", srcA, "-keep-provenance")
	require.Equal(t, 0, code, errs)
	recs, err = cl.ReadCommitted(ctx, srcA)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, "a11", string(recs[1].Value))
	stage, ok := recs[1].HeaderValue(streamkit.HeaderDLQStage)
	assert.True(t, ok)
	assert.Equal(t, "sink:sparql", string(stage))
}

// TestNotADeadLetter: a record without provenance headers in the
// dead-letter topic stops the replay with nothing sent.
func TestNotADeadLetter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	for _, topic := range []string{dlqTopic, srcA, target} {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	deadLetters(t, ctx, cl)
	require.NoError(t, cl.Produce(ctx, dlqTopic, kafkatest.Record{Value: []byte("stray")}))
	var out, errb bytes.Buffer
	code := run(ctx, []string{"-brokers", strings.Join(cl.Addrs(), ","), "-dlq-topic", dlqTopic, "-to-topic", target}, &out, &errb, cl.SaramaConfig())
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), "nothing replayed")
	recs, err := cl.ReadCommitted(ctx, target)
	require.NoError(t, err)
	assert.Empty(t, recs)
}
