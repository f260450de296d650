package source_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Per-partition watermarks are max event time minus lateness; the combined
// watermark is held back by the slowest active partition, not by an idle
// one, and never goes backwards.
func TestKafkaWatermarksIdleness(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	const topic = "wm"
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(2, topic))
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	base := time.UnixMilli(1_700_000_000_000)
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	p0, p1 := tp(topic, 0), tp(topic, 1)

	k := startSource(t, c, "g", []string{topic},
		source.WithWatermarks(time.Second, 10*time.Second), source.WithClock(clock.Now))
	waitAssigned(t, ctx, k, 2)
	assert.True(t, k.Watermark().IsZero(), "unknown before any record")

	produceN(t, ctx, c, topic, 0, 5, func(i int) time.Time { return at(i + 1) }) // 1s..5s
	produceN(t, ctx, c, topic, 1, 1, func(int) time.Time { return at(2) })
	pollN(t, ctx, k, 6)
	assert.Equal(t, map[source.TopicPartition]time.Time{p0: at(4), p1: at(1)}, k.PartitionWatermarks())
	assert.Equal(t, at(1), k.Watermark(), "slowest active partition holds the watermark")

	clock.Advance(11 * time.Second) // both idle: the max of the two
	assert.Equal(t, at(4), k.Watermark())

	produceN(t, ctx, c, topic, 0, 1, func(int) time.Time { return at(9) })
	pollN(t, ctx, k, 1)
	assert.Equal(t, at(8), k.Watermark(), "p1 is idle and does not hold p0 back")

	produceN(t, ctx, c, topic, 1, 1, func(int) time.Time { return at(3) })
	pollN(t, ctx, k, 1)
	assert.Equal(t, at(8), k.Watermark(), "p1 active again and behind: the watermark does not go back")
	assert.Equal(t, at(2), k.PartitionWatermarks()[p1])
	assert.Equal(t, int64(0), k.Stats().Late)

	produceN(t, ctx, c, topic, 0, 1, func(int) time.Time { return at(5) }) // behind p0's 8s
	pollN(t, ctx, k, 1)
	assert.Equal(t, int64(1), k.Stats().Late)
}

// A user extractor takes event time from the payload; records without one
// do not move the watermark.
func TestKafkaEventTimeExtractor(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	const topic = "extract"
	c := kafkatest.NewCluster(t, kafkatest.SeedTopics(1, topic))
	extract := func(r *source.Record) time.Time {
		ms, err := strconv.ParseInt(string(r.Value), 10, 64)
		if err != nil {
			return time.Time{}
		}
		return time.UnixMilli(ms)
	}
	k := startSource(t, c, "g", []string{topic}, source.WithEventTime(extract), source.WithWatermarks(0, 0))
	assert.NoError(t, c.Produce(ctx, topic,
		kafkatest.Record{Value: []byte("1000")},
		kafkatest.Record{Value: []byte("not a time")},
		kafkatest.Record{Value: []byte("3000")},
	))
	recs := pollN(t, ctx, k, 3)
	assert.Equal(t, int64(1000), recs[0].EventTime.UnixMilli())
	assert.True(t, recs[1].EventTime.IsZero())
	assert.Equal(t, time.UnixMilli(3000), k.Watermark())
}
