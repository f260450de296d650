package sidecar

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 25, 14, 0, 0, 0, time.UTC)

func TestNewLatencySLORejectsBadDefinitions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		target    time.Duration
		objective float64
		window    time.Duration
	}{
		{"zero target", 0, 0.99, time.Hour},
		{"negative target", -time.Second, 0.99, time.Hour},
		{"zero objective", time.Minute, 0, time.Hour},
		{"objective above one", time.Minute, 1.01, time.Hour},
		{"NaN objective", time.Minute, math.NaN(), time.Hour},
		{"window under a minute", time.Minute, 0.99, 30 * time.Second},
		{"window not whole minutes", time.Minute, 0.99, 90 * time.Second},
		{"window over a week", time.Minute, 0.99, 8 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLatencySLO(tc.target, tc.objective, tc.window)
			require.ErrorIs(t, err, ErrInvalidOption)
			assert.Contains(t, err.Error(), "sidecar: ")
		})
	}
}

func TestLatencySLORatioAndPercentiles(t *testing.T) {
	slo, err := NewLatencySLO(10*time.Minute, 0.99, time.Hour)
	require.NoError(t, err)
	r := slo.Report(t0)
	assert.Equal(t, uint64(0), r.Events)
	assert.Equal(t, 1.0, r.Ratio, "an idle window burns no budget")
	assert.True(t, r.Met)

	// 98 fast edits (3 s) and 2 slow ones (20 min) in one minute.
	for range 98 {
		slo.Observe(t0.Add(10*time.Second), 3*time.Second)
	}
	slo.Observe(t0.Add(20*time.Second), 20*time.Minute)
	slo.Observe(t0.Add(20*time.Second), 20*time.Minute)
	r = slo.Report(t0.Add(30 * time.Second))
	assert.Equal(t, uint64(100), r.Events)
	assert.Equal(t, uint64(98), r.UnderTarget)
	assert.InDelta(t, 0.98, r.Ratio, 1e-9)
	assert.False(t, r.Met, "98 %% is under the 99 %% objective")
	// p50 is in the (2 s, 5 s] bucket; p99 in (900 s, 1200 s].
	assert.Greater(t, r.P50, 2*time.Second)
	assert.LessOrEqual(t, r.P50, 5*time.Second)
	assert.Greater(t, r.P99, 15*time.Minute)
	assert.LessOrEqual(t, r.P99, 20*time.Minute)

	// Exactly the target counts as within it.
	slo2, _ := NewLatencySLO(10*time.Minute, 0.5, time.Minute)
	slo2.Observe(t0, 10*time.Minute)
	assert.Equal(t, uint64(1), slo2.Report(t0).UnderTarget)
}

func TestLatencySLOWindowSlides(t *testing.T) {
	slo, err := NewLatencySLO(time.Minute, 0.9, 5*time.Minute)
	require.NoError(t, err)
	// Minute 0: one late edit; minutes 1..4: one timely edit each.
	slo.Observe(t0, 2*time.Minute)
	for m := 1; m <= 4; m++ {
		slo.Observe(t0.Add(time.Duration(m)*time.Minute), time.Second)
	}
	r := slo.Report(t0.Add(4*time.Minute + 59*time.Second))
	assert.Equal(t, uint64(5), r.Events)
	assert.Equal(t, uint64(4), r.UnderTarget)
	// A minute later the late edit has left the window.
	r = slo.Report(t0.Add(5 * time.Minute))
	assert.Equal(t, uint64(4), r.Events)
	assert.Equal(t, 1.0, r.Ratio)
	// Its slot is reused for minute 5 without mixing the counts.
	slo.Observe(t0.Add(5*time.Minute), 3*time.Minute)
	r = slo.Report(t0.Add(5 * time.Minute))
	assert.Equal(t, uint64(5), r.Events)
	assert.Equal(t, uint64(4), r.UnderTarget)
	// Much later everything has left the window.
	assert.Equal(t, uint64(0), slo.Report(t0.Add(time.Hour)).Events)
	// An event older than the ring holds is dropped, not mixed into the
	// newer minute of its slot.
	slo.Observe(t0, time.Second)
	assert.Equal(t, uint64(5), slo.Report(t0.Add(5*time.Minute)).Events)
}

func TestLatencySLOObserveCommitAndMinutes(t *testing.T) {
	slo, err := NewLatencySLO(10*time.Minute, 0.99, time.Hour)
	require.NoError(t, err)
	commit := t0.Add(30 * time.Minute)
	unknown := slo.ObserveCommit(commit, []time.Time{
		commit.Add(-time.Second), commit.Add(-15 * time.Minute), {}, commit.Add(time.Minute), // future: clock skew → 0
	})
	assert.Equal(t, 1, unknown)
	r := slo.Report(commit)
	assert.Equal(t, uint64(3), r.Events)
	assert.Equal(t, uint64(2), r.UnderTarget)

	mins := slo.Minutes(commit.Add(10 * time.Second))
	require.Len(t, mins, 60)
	last := mins[59]
	assert.Equal(t, commit, last.Start)
	assert.Equal(t, uint64(3), last.Events)
	assert.Greater(t, last.P99, 10*time.Minute)
	assert.Equal(t, t0.Add(-29*time.Minute), mins[0].Start)
	for _, m := range mins[:59] {
		assert.Zero(t, m.Events)
		assert.Zero(t, m.P50)
	}
}

func TestLatencySLOConcurrentObservers(t *testing.T) {
	slo, err := NewLatencySLO(10*time.Minute, 0.99, time.Hour)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				slo.Observe(t0.Add(time.Duration(i%60)*time.Second), time.Duration(g)*time.Second)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, uint64(4000), slo.Report(t0.Add(time.Minute-time.Nanosecond)).Events)
}

func TestQuantileInterpolatesWithinBucket(t *testing.T) {
	hist := make([]uint64, numBuckets)
	// 10 events in the (10 s, 20 s] bucket.
	hist[bucketOf(15*time.Second)] = 10
	assert.Equal(t, 15*time.Second, quantile(0.5, hist, 10))
	assert.Equal(t, 20*time.Second, quantile(1, hist, 10))
	// Everything in +Inf: the highest finite bound.
	inf := make([]uint64, numBuckets)
	inf[len(LatencyBuckets)] = 3
	assert.Equal(t, 2*time.Hour, quantile(0.5, inf, 3))
	assert.Zero(t, quantile(0.5, make([]uint64, numBuckets), 0))
}

func TestUnixMinuteFloorsBeforeEpoch(t *testing.T) {
	assert.Equal(t, int64(-1), unixMinute(time.Unix(-1, 0)))
	assert.Equal(t, int64(0), unixMinute(time.Unix(59, 0)))
	assert.Equal(t, int64(1), unixMinute(time.Unix(60, 0)))
}

func BenchmarkLatencySLOObserveCommit(b *testing.B) {
	slo, err := NewLatencySLO(10*time.Minute, 0.99, time.Hour)
	require.NoError(b, err)
	events := make([]time.Time, 500)
	for i := range events {
		events[i] = t0.Add(-time.Duration(i) * time.Second)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		slo.ObserveCommit(t0.Add(time.Duration(i)*time.Second), events)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}
