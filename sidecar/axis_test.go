package sidecar

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
)

// checkAxis asserts what every axis owes its reader: ticks from 0 up to a
// top at or above the data, evenly spaced, with distinct labels.
func checkAxis(t *testing.T, axis yAxis, hi float64) []string {
	t.Helper()
	top, ticks := axis.ticks(hi)
	require.GreaterOrEqual(t, len(ticks), 2, "max %v", hi)
	assert.LessOrEqual(t, len(ticks), 7, "max %v: %v", hi, ticks)
	assert.Equal(t, 0.0, ticks[0])
	assert.Equal(t, top, ticks[len(ticks)-1])
	assert.GreaterOrEqual(t, top, hi)
	labels := make([]string, len(ticks))
	seen := map[string]bool{}
	for i, v := range ticks {
		labels[i] = axis.label(v)
		assert.False(t, seen[labels[i]], "max %v: label %q twice in %v", hi, labels[i], labels)
		seen[labels[i]] = true
		if i > 0 {
			assert.InDelta(t, ticks[1], v-ticks[i-1], 1e-9, "even steps")
		}
	}
	return labels
}

func TestCountAxisTicksAreDistinctIntegers(t *testing.T) {
	for hi, want := range map[float64][]string{
		0:      {"0", "1"},
		1:      {"0", "1"},
		2:      {"0", "1", "2"},
		7:      {"0", "2", "4", "6", "8"},
		590:    {"0", "200", "400", "600"},
		15000:  {"0", "5000", "10000", "15000"},
		123457: {"0", "50000", "100000", "150000"},
	} {
		assert.Equal(t, want, checkAxis(t, countAxis, hi), "max %v", hi)
	}
	for hi := 0.0; hi < 3000; hi += 7 {
		_, ticks := countAxis.ticks(hi)
		for _, v := range ticks {
			assert.Equal(t, float64(int64(v)), v, "integer ticks for counts (max %v)", hi)
		}
		checkAxis(t, countAxis, hi)
	}
}

func TestDurationAxisTicksAreRoundDurations(t *testing.T) {
	for hi, want := range map[float64][]string{
		0.004: {"0", "1ms", "2ms", "3ms", "4ms"},
		0.3:   {"0", "100ms", "200ms", "300ms"},
		3:     {"0", "1s", "2s", "3s"},
		3.2:   {"0", "1s", "2s", "3s", "4s"},
		580:   {"0", "2m", "4m", "6m", "8m", "10m"},
		3600:  {"0", "15m", "30m", "45m", "1h"},
		5400:  {"0", "30m", "1h", "1h30m"},
		90000: {"0", "6h", "12h", "18h", "24h", "30h"},
	} {
		assert.Equal(t, want, checkAxis(t, durationAxis, hi), "max %v", hi)
	}
	for hi := 0.001; hi < 1e6; hi *= 1.37 {
		checkAxis(t, durationAxis, hi)
	}
}

// latencySLOWith returns an SLO whose last minutes each saw an edit after
// the latencies given (and one after one second, for p50).
func latencySLOWith(t *testing.T, latencies ...time.Duration) *Observer {
	t.Helper()
	obs, err := NewObserver()
	require.NoError(t, err)
	for i, l := range latencies {
		c := t0.Add(-time.Duration(len(latencies)-1-i) * time.Minute)
		obs.OnCheckpoint(streamkit.CheckpointEvent{Task: 0, CheckpointID: uint64(i + 1), Committed: c,
			EventTimes: []time.Time{c.Add(-time.Second), c.Add(-l)}})
	}
	return obs
}

// TestLatencyChartScalesToTheData: a p99 of 3 s is drawn on a scale of
// seconds, not as a flat line under a 10-minute target; the target is
// then named above the plot instead of drawn.
func TestLatencyChartScalesToTheData(t *testing.T) {
	obs := latencySLOWith(t, 2*time.Second, 3*time.Second, 2500*time.Millisecond)
	svg := latencyChart(obs.slo, t0)
	// The percentiles come from histogram buckets, so the 3 s p99 reads a
	// little above 3 s.
	var p99Max time.Duration
	for _, m := range obs.slo.Minutes(t0) {
		p99Max = max(p99Max, m.P99)
	}
	require.InDelta(t, 3, p99Max.Seconds(), 2)
	assert.Equal(t, []string{"0", "1s", "2s", "3s", "4s", "5s"}, ticksOf(svg), "p99 max %v", p99Max)
	m := refRE.FindStringSubmatch(svg)
	require.NotNil(t, m)
	assert.Equal(t, []string{"target", "600", "false"}, m[1:])
	assert.Contains(t, svg, "target 10m ↑ (above the scale)")
	// The p99 curve reaches the upper part of the plot (y from 28 at the
	// top to 190 at 0), where a 10-minute scale would keep it at 189.
	p99 := pathRE.FindAllStringSubmatch(svg, -1)[1]
	require.Equal(t, "p99", p99[1])
	minY := 190.0
	for _, m := range regexp.MustCompile(`[ML][0-9.]+ ([0-9.]+)`).FindAllStringSubmatch(p99[3], -1) {
		y, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		minY = min(minY, y)
	}
	assert.Less(t, minY, 109.0, "the highest p99 point is in the upper half: %s", p99[3])

	// Near the target, the target is within the scale and drawn.
	obs = latencySLOWith(t, 7*time.Minute, 9*time.Minute)
	svg = latencyChart(obs.slo, t0)
	assert.Equal(t, []string{"0", "2m", "4m", "6m", "8m", "10m"}, ticksOf(svg))
	m = refRE.FindStringSubmatch(svg)
	require.NotNil(t, m)
	assert.Equal(t, []string{"target", "600", "true"}, m[1:])
	assert.Contains(t, svg, ">target 10m</text>")

	// Without data the scale is the target's.
	obs = latencySLOWith(t)
	svg = latencyChart(obs.slo, t0)
	assert.Equal(t, []string{"0", "2m", "4m", "6m", "8m", "10m"}, ticksOf(svg))
	assert.Equal(t, "true", refRE.FindStringSubmatch(svg)[3])
}

func TestLagChartOfOneRecord(t *testing.T) {
	h := newLagHistory(60)
	h.add(t0.Add(-time.Minute), 1)
	h.add(t0, 0)
	svg := lagChart(h.minutes(t0))
	assert.Equal(t, []string{"0", "1"}, ticksOf(svg))
	var values []float64
	for _, m := range tickRE.FindAllStringSubmatch(svg, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		values = append(values, v)
	}
	assert.Equal(t, []float64{0, 1}, values)
	assert.NotContains(t, svg, "data-reference", "the lag chart has no reference line")
}
