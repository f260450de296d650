package streamkit_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// released is one event a test saw released.
type released struct {
	Key string
	Seq int64
	Val string
}

func collect(out *[]released) func(string, streamkit.ReorderEvent[string]) error {
	return func(k string, ev streamkit.ReorderEvent[string]) error {
		*out = append(*out, released{k, ev.Seq, ev.Value})
		return nil
	}
}

var t0 = time.Date(2024, 10, 4, 15, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func newBuf(t *testing.T, delay time.Duration, opts ...streamkit.ReorderOption) *streamkit.ReorderBuffer[string, string] {
	t.Helper()
	b, err := streamkit.NewReorderBuffer[string, string]("reorder", delay, opts...)
	require.NoError(t, err)
	return b
}

func TestReorderBufferReleasesInOrderWhenDue(t *testing.T) {
	b := newBuf(t, 10*time.Second)
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(5), Seq: 3, Value: "c"}))
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(1), Seq: 1, Value: "a"}))
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(3), Seq: 2, Value: "b"}))
	require.NoError(t, b.Add("Q2", streamkit.ReorderEvent[string]{Time: at(2), Seq: 7, Value: "x"}))
	assert.Equal(t, 4, b.Len())
	assert.Equal(t, 3, b.Buffered("Q1"))

	var out []released
	// Nothing is due before time + delay.
	require.NoError(t, b.OnWatermark(at(10), collect(&out)))
	assert.Empty(t, out)
	require.NoError(t, b.OnWatermark(at(13), collect(&out)))
	assert.Equal(t, []released{{"Q1", 1, "a"}, {"Q2", 7, "x"}, {"Q1", 2, "b"}}, out)
	assert.Equal(t, 1, b.Len())
	tm, seq, ok := b.Last("Q1")
	require.True(t, ok)
	assert.Equal(t, at(3), tm)
	assert.Equal(t, int64(2), seq)

	out = nil
	require.NoError(t, b.OnWatermark(at(15), collect(&out)))
	assert.Equal(t, []released{{"Q1", 3, "c"}}, out)
	assert.Zero(t, b.Len())
	// A watermark going backwards releases nothing and changes nothing.
	require.NoError(t, b.OnWatermark(at(1), collect(&out)))
	assert.Len(t, out, 1)
}

func TestReorderBufferTiesBrokenBySequence(t *testing.T) {
	b := newBuf(t, 0)
	for _, s := range []int64{5, 2, 9, 1} {
		require.NoError(t, b.Add("k", streamkit.ReorderEvent[string]{Time: at(1), Seq: s, Value: fmt.Sprint(s)}))
	}
	var out []released
	require.NoError(t, b.OnWatermark(at(1), collect(&out)))
	assert.Equal(t, []released{{"k", 1, "1"}, {"k", 2, "2"}, {"k", 5, "5"}, {"k", 9, "9"}}, out)
}

func TestReorderBufferLateEvents(t *testing.T) {
	b := newBuf(t, 5*time.Second)
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(10), Seq: 10}))
	var out []released
	require.NoError(t, b.OnWatermark(at(20), collect(&out)))
	require.Len(t, out, 1)

	// Older than what Q1 released: late.
	err := b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(9), Seq: 11})
	require.ErrorIs(t, err, streamkit.ErrLateEvent)
	var le *streamkit.LateEventError
	require.ErrorAs(t, err, &le)
	assert.True(t, le.Released)
	assert.Equal(t, "Q1", le.Key)
	assert.Equal(t, at(10), le.LastTime)
	assert.Contains(t, err.Error(), "key already released")
	// The very event released: late too (a duplicate).
	require.ErrorIs(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(10), Seq: 10}), streamkit.ErrLateEvent)
	assert.Zero(t, b.Len())
	// Q2 released nothing: an old event is still put in order.
	require.NoError(t, b.Add("Q2", streamkit.ReorderEvent[string]{Time: at(1), Seq: 1}))
	// Newer for Q1: fine, and due at once on the next watermark.
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(11), Seq: 12}))
	out = nil
	require.NoError(t, b.OnWatermark(at(20), collect(&out)))
	assert.ElementsMatch(t, []released{{"Q2", 1, ""}, {"Q1", 12, ""}}, out)

	// CheckLate tells without buffering.
	require.ErrorIs(t, b.CheckLate("Q1", at(11), 12), streamkit.ErrLateEvent)
	require.NoError(t, b.CheckLate("Q1", at(11), 13))
	require.ErrorContains(t, b.CheckLate("Q1", time.Time{}, 13), "out of range")
	assert.Zero(t, b.Len())

	// Forget makes the key new again.
	b.Forget("Q1")
	_, _, ok := b.Last("Q1")
	assert.False(t, ok)
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(1), Seq: 1}))
}

func TestReorderBufferLateByWatermark(t *testing.T) {
	b := newBuf(t, 5*time.Second, streamkit.WithReorderLateByWatermark())
	assert.Len(t, b.Tables(), 1, "no per-key released state")
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(10), Seq: 10}))
	var out []released
	require.NoError(t, b.OnWatermark(at(20), collect(&out)))
	// 14 + 5 < 20: late, whatever the key.
	err := b.Add("Q9", streamkit.ReorderEvent[string]{Time: at(14), Seq: 1})
	var le *streamkit.LateEventError
	require.ErrorAs(t, err, &le)
	assert.False(t, le.Released)
	assert.Equal(t, at(20), le.Watermark)
	assert.Contains(t, err.Error(), "before the watermark")
	// 15 + 5 == 20: not late; an older sequence of Q1 is accepted (the
	// caller's decision table handles it).
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(15), Seq: 9}))
	_, _, ok := b.Last("Q1")
	assert.False(t, ok)
}

func TestReorderBufferSequenceOrder(t *testing.T) {
	// Revision 2 was stamped before revision 1 (clock skew): sequence
	// order releases 1 before 2, and when 2 falls due, 1 (not yet due) goes
	// out with it, as the WDQS producer does.
	b := newBuf(t, 10*time.Second, streamkit.WithReorderSequenceOrder())
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(5), Seq: 2, Value: "r2"}))
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(1), Seq: 1, Value: "r1"}))
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(0), Seq: 3, Value: "r3"}))
	var out []released
	require.NoError(t, b.OnWatermark(at(10), collect(&out)))
	assert.Equal(t, []released{{"Q1", 1, "r1"}, {"Q1", 2, "r2"}, {"Q1", 3, "r3"}}, out)

	b = newBuf(t, 10*time.Second, streamkit.WithReorderSequenceOrder())
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(5), Seq: 1, Value: "r1"}))
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(1), Seq: 2, Value: "r2"}))
	require.NoError(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(9), Seq: 3, Value: "r3"}))
	out = nil
	// r2 is due at 11: r1 (due at 15) goes first, r3 (due at 19) stays.
	require.NoError(t, b.OnWatermark(at(11), collect(&out)))
	assert.Equal(t, []released{{"Q1", 1, "r1"}, {"Q1", 2, "r2"}}, out)
	assert.Equal(t, 1, b.Len())
	// r1's timer fires later and finds nothing: no double release.
	out = nil
	require.NoError(t, b.OnWatermark(at(16), collect(&out)))
	assert.Empty(t, out)
	require.NoError(t, b.OnWatermark(at(19), collect(&out)))
	assert.Equal(t, []released{{"Q1", 3, "r3"}}, out)
	// A lower revision than the released one is late, even with a later time.
	require.ErrorIs(t, b.Add("Q1", streamkit.ReorderEvent[string]{Time: at(30), Seq: 2}), streamkit.ErrLateEvent)
}

func TestReorderBufferFull(t *testing.T) {
	b := newBuf(t, time.Minute, streamkit.WithReorderMaxBuffered(2))
	require.NoError(t, b.Add("a", streamkit.ReorderEvent[string]{Time: at(1)}))
	require.NoError(t, b.Add("b", streamkit.ReorderEvent[string]{Time: at(2)}))
	err := b.Add("c", streamkit.ReorderEvent[string]{Time: at(3)})
	require.ErrorIs(t, err, streamkit.ErrReorderBufferFull)
	assert.Contains(t, err.Error(), `"reorder" holds 2 events`)
	assert.Equal(t, 2, b.Len())
	assert.Zero(t, b.Buffered("c"))
	// Releasing makes room.
	var out []released
	require.NoError(t, b.OnWatermark(at(61), collect(&out)))
	require.NoError(t, b.Add("c", streamkit.ReorderEvent[string]{Time: at(3)}))
}

func TestReorderBufferBadInput(t *testing.T) {
	_, err := streamkit.NewReorderBuffer[string, int]("", time.Second)
	require.Error(t, err)
	_, err = streamkit.NewReorderBuffer[string, int]("x", -time.Second)
	require.ErrorContains(t, err, "negative delay")
	_, err = streamkit.NewReorderBuffer[string, int]("x", time.Second, streamkit.WithReorderMaxBuffered(0))
	require.ErrorContains(t, err, "max buffered")
	b := newBuf(t, time.Second)
	// The zero time (unknown) cannot be ordered.
	require.ErrorContains(t, b.Add("k", streamkit.ReorderEvent[string]{}), "out of range")
	assert.Zero(t, b.Len())
}

func TestReorderBufferReleaseErrorKeepsEvent(t *testing.T) {
	b := newBuf(t, 0)
	for i := 1; i <= 3; i++ {
		require.NoError(t, b.Add("k", streamkit.ReorderEvent[string]{Time: at(i), Seq: int64(i)}))
	}
	boom := errors.New("boom")
	var got []int64
	err := b.OnWatermark(at(10), func(_ string, ev streamkit.ReorderEvent[string]) error {
		if ev.Seq == 2 {
			return boom
		}
		got = append(got, ev.Seq)
		return nil
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, []int64{1}, got)
	assert.Equal(t, 2, b.Len())
	// The next watermark retries from the failed event.
	var out []released
	require.NoError(t, b.OnWatermark(at(10), collect(&out)))
	assert.Equal(t, []released{{"k", 2, ""}, {"k", 3, ""}}, out)
}

// TestReorderBufferRestoreIsExact checkpoints a buffer mid-stream, restores it
// into a new one and checks that both release exactly the same events from
// then on, lateness included.
func TestReorderBufferRestoreIsExact(t *testing.T) {
	ctx := context.Background()
	store := checkpoint.NewMemoryStore()
	cp, err := checkpoint.NewCheckpointer(store, "reorder-test")
	require.NoError(t, err)

	a := newBuf(t, 10*time.Second)
	require.NoError(t, a.Add("Q1", streamkit.ReorderEvent[string]{Time: at(1), Seq: 1, Value: "q1r1"}))
	require.NoError(t, a.Add("Q1", streamkit.ReorderEvent[string]{Time: at(8), Seq: 2, Value: "q1r2"}))
	require.NoError(t, a.Add("Q2", streamkit.ReorderEvent[string]{Time: at(4), Seq: 1, Value: "q2r1"}))
	var out []released
	require.NoError(t, a.OnWatermark(at(12), collect(&out)))
	require.Equal(t, []released{{"Q1", 1, "q1r1"}}, out)
	m, err := cp.Checkpoint(ctx, nil, []checkpoint.PartitionState{{Partition: 0, Tables: a.Tables()}})
	require.NoError(t, err)

	b := newBuf(t, 10*time.Second)
	_, err = cp.Restore(ctx, m.ID, []checkpoint.PartitionState{{Partition: 0, Tables: b.Tables()}})
	require.NoError(t, err)
	assert.Equal(t, 2, b.Len())
	tm, seq, ok := b.Last("Q1")
	require.True(t, ok)
	assert.Equal(t, at(1), tm)
	assert.Equal(t, int64(1), seq)

	for _, buf := range []*streamkit.ReorderBuffer[string, string]{a, b} {
		require.ErrorIs(t, buf.Add("Q1", streamkit.ReorderEvent[string]{Time: at(0), Seq: 9}), streamkit.ErrLateEvent)
		require.NoError(t, buf.Add("Q3", streamkit.ReorderEvent[string]{Time: at(6), Seq: 1, Value: "q3r1"}))
	}
	var outA, outB []released
	require.NoError(t, a.OnWatermark(at(30), collect(&outA)))
	require.NoError(t, b.OnWatermark(at(30), collect(&outB)))
	want := []released{{"Q2", 1, "q2r1"}, {"Q3", 1, "q3r1"}, {"Q1", 2, "q1r2"}}
	assert.Equal(t, want, outA)
	assert.Equal(t, want, outB)
}

// TestReorderBufferPropertySortedRelease: whatever the arrival order, as long
// as every event arrives within the delay of the watermark passing its time,
// each key's events come out sorted and none is lost, late or duplicated.
func TestReorderBufferPropertySortedRelease(t *testing.T) {
	const delay = 20 * time.Second
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed*7919))
		opts := []streamkit.ReorderOption{}
		if seed%2 == 0 {
			opts = append(opts, streamkit.WithReorderSequenceOrder())
		}
		b := newBuf(t, delay, opts...)
		type ev struct {
			key string
			t   time.Time
			seq int64
		}
		// Events of 5 keys, one per second, sequence = creation index, so
		// both orders agree; each arrives up to delay late.
		var evs []ev
		n := 50 + rng.IntN(100)
		for i := range n {
			evs = append(evs, ev{key: fmt.Sprintf("Q%d", rng.IntN(5)), t: at(i), seq: int64(i)})
		}
		arrival := make([]int, n)
		for i := range arrival {
			arrival[i] = i + rng.IntN(int(delay/time.Second)) // arrival second
		}
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(x, y int) int { return arrival[x] - arrival[y] })

		var out []released
		wm := time.Time{}
		for _, i := range order {
			// The watermark is the max event time so far minus nothing: an
			// event arrives at most delay after the watermark passed it.
			if w := at(arrival[i] - 1); w.After(wm) {
				wm = w
				require.NoError(t, b.OnWatermark(wm, collect(&out)), "seed %d", seed)
			}
			e := evs[i]
			require.NoError(t, b.Add(e.key, streamkit.ReorderEvent[string]{Time: e.t, Seq: e.seq, Value: fmt.Sprint(e.seq)}), "seed %d", seed)
		}
		require.NoError(t, b.OnWatermark(at(n+100), collect(&out)))
		require.Len(t, out, n, "seed %d", seed)
		last := map[string]int64{}
		for _, r := range out {
			if l, ok := last[r.Key]; ok {
				require.Greater(t, r.Seq, l, "seed %d key %s", seed, r.Key)
			}
			last[r.Key] = r.Seq
		}
		assert.Zero(t, b.Len())
	}
}

func BenchmarkReorderBuffer(b *testing.B) {
	const keys = 10_000
	buf, err := streamkit.NewReorderBuffer[int, int64]("bench", time.Minute)
	require.NoError(b, err)
	rng := rand.New(rand.NewPCG(1, 2))
	release := func(int, streamkit.ReorderEvent[int64]) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// One event per millisecond, up to 30 s out of order.
		t := t0.Add(time.Duration(i)*time.Millisecond - time.Duration(rng.IntN(30_000))*time.Millisecond)
		if err := buf.Add(rng.IntN(keys), streamkit.ReorderEvent[int64]{Time: t, Seq: int64(i), Value: int64(i)}); err != nil && !errors.Is(err, streamkit.ErrLateEvent) {
			b.Fatal(err)
		}
		if i%100 == 0 {
			if err := buf.OnWatermark(t0.Add(time.Duration(i)*time.Millisecond-30*time.Second), release); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
