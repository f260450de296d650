package source_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

type event struct {
	member string
	kind   string // "assign", "record", "revoke"
	tp     source.TopicPartition
	offset int64
}

type eventLog struct {
	mu     sync.Mutex
	events []event
}

func (l *eventLog) add(e event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) snapshot() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event(nil), l.events...)
}

func (l *eventLog) records() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.kind == "record" {
			n++
		}
	}
	return n
}

// newMember starts one group member that behaves like the job runner:
// OnAssigned is logged, and OnRevoked commits the member's positions in a
// Kafka transaction (the hand-off) before returning.
func newMember(t *testing.T, c *kafkatest.Cluster, name, group, topic string, log *eventLog, opts ...source.Option) *source.Kafka {
	prod, err := sarama.NewSyncProducer(c.Addrs(), c.SaramaConfig(kafkatest.TransactionalID("txn-"+name)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = prod.Close() })
	var k *source.Kafka
	k = startSource(t, c, group, []string{topic}, append(opts,
		source.WithOnAssigned(func(_ context.Context, tps []source.TopicPartition) error {
			for _, p := range tps {
				log.add(event{member: name, kind: "assign", tp: p})
			}
			return nil
		}),
		source.WithOnRevoked(func(_ context.Context, tps []source.TopicPartition) error {
			pos := k.Positions()
			for _, p := range tps {
				if _, ok := pos[p]; !ok {
					return fmt.Errorf("no position for revoked %s", p)
				}
			}
			if err := commitWith(prod, group, pos); err != nil {
				return err
			}
			for _, p := range tps {
				log.add(event{member: name, kind: "revoke", tp: p, offset: pos[p]})
			}
			return nil
		}))...)
	return k
}

// pollLoop polls k in the background, logging every record, until ctx ends.
func pollLoop(ctx context.Context, k *source.Kafka, name string, log *eventLog) {
	go func() {
		for ctx.Err() == nil {
			recs, err := k.Poll(ctx, 7)
			if err != nil {
				return
			}
			for _, r := range recs {
				log.add(event{member: name, kind: "record", tp: r.TopicPartition(), offset: r.Offset})
			}
		}
	}()
}

// Two members of one group: when the second joins, the first hands its
// partitions off (OnRevoked after its last record of each, and before the
// other member's OnAssigned), and every record is delivered exactly once
// across both because the hand-off commits the exact positions.
func TestKafkaRebalanceHooks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const topic, group, parts, perPart = "rebalance", "two", 4, 50
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(parts, topic))
	for p := int32(0); p < parts; p++ {
		produceN(t, ctx, c, topic, p, perPart, nil)
	}
	log := &eventLog{}
	pollLoop(ctx, newMember(t, c, "A", group, topic, log), "A", log)
	require.NoError(t, c.WaitFor(ctx, "A consumed the first half", func(context.Context) (bool, string, error) {
		n := log.records()
		return n == parts*perPart, fmt.Sprintf("%d records", n), nil
	}))
	pollLoop(ctx, newMember(t, c, "B", group, topic, log), "B", log)
	require.NoError(t, c.WaitForGroupStable(ctx, group, 2))
	for p := int32(0); p < parts; p++ {
		produceN(t, ctx, c, topic, p, perPart, nil)
	}
	require.NoError(t, c.WaitFor(ctx, "both halves consumed", func(context.Context) (bool, string, error) {
		n := log.records()
		return n >= 2*parts*perPart, fmt.Sprintf("%d records", n), nil
	}))

	events := log.snapshot()
	seen := map[source.TopicPartition]map[int64]string{}
	owner := map[source.TopicPartition]string{}  // current owner, "" if released
	lastOff := map[source.TopicPartition]int64{} // next offset after the owner's last record
	assignedB := map[source.TopicPartition]bool{}
	for i, e := range events {
		switch e.kind {
		case "assign":
			require.Empty(t, owner[e.tp], "event %d: %s assigned to %s before %s released it", i, e.tp, e.member, owner[e.tp])
			owner[e.tp] = e.member
			if e.member == "B" {
				assignedB[e.tp] = true
			}
		case "record":
			require.Equal(t, e.member, owner[e.tp], "event %d: record of %s@%d delivered to a non-owner", i, e.tp, e.offset)
			if seen[e.tp] == nil {
				seen[e.tp] = map[int64]string{}
			}
			require.NotContains(t, seen[e.tp], e.offset, "event %d: %s@%d delivered twice", i, e.tp, e.offset)
			seen[e.tp][e.offset] = e.member
			lastOff[e.tp] = e.offset + 1
		case "revoke":
			require.Equal(t, e.member, owner[e.tp], "event %d: revoke by non-owner", i)
			require.Equal(t, lastOff[e.tp], e.offset, "event %d: revoked %s at a position other than after its last record", i, e.tp)
			owner[e.tp] = ""
		}
	}
	for p := int32(0); p < parts; p++ {
		assert.Len(t, seen[tp(topic, p)], 2*perPart, "partition %d", p)
	}
	assert.NotEmpty(t, assignedB, "B got partitions")
	assert.Less(t, len(assignedB), parts, "A kept some partitions")
}

// Pause holds back one partition (including records already buffered)
// while the others flow; Resume delivers them in order; a pause of all
// partitions holds everything.
func TestKafkaPauseResume(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	const topic = "pause"
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, topic))
	p0, p1 := tp(topic, 0), tp(topic, 1)
	k := startSource(t, c, "g", []string{topic})
	k.Pause(p0)
	assert.True(t, k.Paused(p0))
	assert.False(t, k.Paused(p1))
	produceN(t, ctx, c, topic, 0, 20, nil)
	produceN(t, ctx, c, topic, 1, 20, nil)
	for _, r := range pollN(t, ctx, k, 20) {
		require.Equal(t, int32(1), r.Partition)
	}
	pollNothing(t, ctx, k, 300*time.Millisecond)
	assert.Equal(t, source.Positions{p0: 0, p1: 20}, k.Positions())

	k.Resume(p0)
	for i, r := range pollN(t, ctx, k, 20) {
		require.Equal(t, int32(0), r.Partition)
		require.Equal(t, int64(i), r.Offset)
	}

	k.Pause()
	assert.True(t, k.Paused(p0))
	assert.True(t, k.Paused(p1))
	produceN(t, ctx, c, topic, 0, 5, nil)
	produceN(t, ctx, c, topic, 1, 5, nil)
	pollNothing(t, ctx, k, 300*time.Millisecond)
	k.Resume()
	recs := pollN(t, ctx, k, 10)
	assert.Len(t, recs, 10)
	assert.Equal(t, source.Positions{p0: 25, p1: 25}, k.Positions())
}

// With a backlog much larger than the buffer and a consumer that does not
// keep up, the records taken from sarama and not yet delivered stay bounded
// by the buffer (plus one waiting record per partition), and all of them
// still arrive.
func TestKafkaBoundedBuffer(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	const topic, parts, perPart, buffer = "backlog", 2, 10_000, 64
	const bound = buffer + parts
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(parts, topic))
	for p := range int32(parts) {
		produceN(t, ctx, c, topic, p, perPart, nil)
	}
	k := startSource(t, c, "g", []string{topic}, source.WithBufferSize(buffer))
	waitAssigned(t, ctx, k, parts)
	require.NoError(t, c.WaitFor(ctx, "buffer full", func(context.Context) (bool, string, error) {
		s := k.Stats()
		return s.Buffered == buffer && s.InFlight == bound, fmt.Sprintf("%+v", s), nil
	}))
	total := 0
	for total < parts*perPart {
		recs, err := k.Poll(ctx, 100)
		require.NoError(t, err)
		total += len(recs)
		s := k.Stats()
		require.LessOrEqual(t, s.InFlight, int64(bound), "%+v", s)
		require.LessOrEqual(t, s.Buffered, buffer, "%+v", s)
	}
	s := k.Stats()
	assert.Equal(t, parts*perPart, total)
	assert.Equal(t, int64(bound), s.MaxInFlight, "in-flight records stay bounded: %+v", s)
	assert.Equal(t, int64(parts*perPart), s.Delivered)
}

// Records buffered but not delivered when a partition is revoked are
// dropped, the hand-off commits the exact position of the last delivered
// record, and the next owner reads the dropped records again: every offset
// is delivered exactly once across the two members.
func TestKafkaRevokeDropsBuffered(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const topic, group, n, buffer = "handoff", "drop", 100, 10
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, topic))
	produceN(t, ctx, c, topic, 0, n, nil)
	log := &eventLog{}

	a := newMember(t, c, "A", group, topic, log, source.WithBufferSize(buffer))
	for _, r := range pollN(t, ctx, a, 5) {
		log.add(event{member: "A", kind: "record", tp: r.TopicPartition(), offset: r.Offset})
	}
	require.NoError(t, c.WaitFor(ctx, "A's buffer full", func(context.Context) (bool, string, error) {
		return a.Stats().Buffered == buffer, fmt.Sprintf("%+v", a.Stats()), nil
	}))
	a.Pause() // A keeps polling (running hooks) but delivers nothing more
	pollLoop(ctx, a, "A", log)
	b := newMember(t, c, "B", group, topic, log)
	pollLoop(ctx, b, "B", log)
	require.NoError(t, c.WaitForGroupStable(ctx, group, 2))
	a.Resume()

	defer func() {
		if t.Failed() {
			t.Logf("events: %+v\nA: %+v %v", log.snapshot(), a.Stats(), a.Assigned())
		}
	}()
	require.NoError(t, c.WaitFor(ctx, "all records", func(context.Context) (bool, string, error) {
		k := log.records()
		return k >= n, fmt.Sprintf("%d records", k), nil
	}))
	seen := map[int64]bool{}
	for _, e := range log.snapshot() {
		switch e.kind {
		case "record":
			require.False(t, seen[e.offset], "offset %d twice", e.offset)
			seen[e.offset] = true
		}
	}
	assert.Len(t, seen, n)
	revokedAt5 := false
	for _, e := range log.snapshot() {
		revokedAt5 = revokedAt5 || (e.kind == "revoke" && e.member == "A" && e.offset == 5)
	}
	assert.True(t, revokedAt5, "A handed off at the position after its last delivered record")
	assert.Positive(t, a.Stats().Dropped, "A's buffered records were dropped at the revoke")
}

// A failing OnAssigned stops Run with a HookError naming the partitions.
func TestKafkaHookErrorStopsRun(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, "hookerr"))
	boom := errors.New("state store unavailable")
	k, err := source.NewKafka(c.Addrs(), "g", []string{"hookerr"}, source.WithBaseConfig(c.SaramaConfig()),
		source.WithLogger(quiet), source.WithOnAssigned(func(context.Context, []source.TopicPartition) error { return boom }))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	for {
		_, err := k.Poll(ctx, 1)
		if err != nil {
			require.ErrorIs(t, err, source.ErrClosed)
			break
		}
	}
	err = <-done
	var he *source.HookError
	require.ErrorAs(t, err, &he)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, "OnAssigned", he.Hook)
	assert.Equal(t, []source.TopicPartition{tp("hookerr", 0), tp("hookerr", 1)}, he.Partitions)
	assert.Contains(t, err.Error(), "source: OnAssigned hook for [hookerr/0 hookerr/1]")
	require.NoError(t, k.Close())
}
