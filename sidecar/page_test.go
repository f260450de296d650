package sidecar

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
)

// pathRE reads a series back from a chart: its name, point count and path.
var pathRE = regexp.MustCompile(`<path class="series" data-series="([^"]+)" data-points="(\d+)" d="([^"]*)"`)

func chartSeriesOf(t *testing.T, svg string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range pathRE.FindAllStringSubmatch(svg, -1) {
		n, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		out[m[1]] = n
		// Every drawn point is one M or L command in the path.
		assert.Equal(t, n, strings.Count(m[3], "M")+strings.Count(m[3], "L"), m[1])
	}
	return out
}

// withHistory returns a sidecar whose observer has edit latencies in
// minutes 0..9 and 20..29 of the last hour and lag samples in 30..59.
func withHistory(t *testing.T) (*Sidecar, *fakeJob) {
	t.Helper()
	job := runningJob()
	obs, err := NewObserver()
	require.NoError(t, err)
	now := t0
	start := now.Add(-59 * time.Minute)
	for m := range 60 {
		if m < 10 || (m >= 20 && m < 30) {
			c := start.Add(time.Duration(m) * time.Minute)
			obs.OnCheckpoint(streamkit.CheckpointEvent{Task: 0, CheckpointID: uint64(m + 1), Committed: c,
				EventTimes: []time.Time{c.Add(-2 * time.Second), c.Add(-time.Duration(m) * 20 * time.Second)}})
		}
	}
	sc := newTestSidecar(t, job, WithObserver(obs))
	for m := 30; m < 60; m++ {
		sc.history.add(start.Add(time.Duration(m)*time.Minute), int64(m*10))
	}
	return sc, job
}

func TestStatusPageRendersChartsAndState(t *testing.T) {
	sc, _ := withHistory(t)
	r := do(t, sc.Handler(), http.MethodGet, "/", "")
	require.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "text/html; charset=utf-8", r.hdr.Get("Content-Type"))
	body := r.body
	assert.Contains(t, body, `<span id="state" class="state running">running</span>`)
	assert.Contains(t, body, "Ready: consuming 2 tasks, lag 7 records past the commit points")
	assert.Contains(t, body, `<td id="lag-total">7 records</td>`)
	assert.NotContains(t, body, "<script", "no JavaScript")
	own := strings.ReplaceAll(body, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, ext := range []string{"http://", "https://", "//", "src=", "@import", "url("} {
		assert.NotContains(t, own, ext, "nothing external: no CSS, fonts or images from elsewhere")
	}
	for _, s := range []string{`<svg id="latency-chart"`, `<svg id="lag-chart"`} {
		assert.Equal(t, 1, strings.Count(body, s), s)
	}
	lat := body[strings.Index(body, `<svg id="latency-chart"`):]
	lat = lat[:strings.Index(lat, "</svg>")]
	assert.Equal(t, map[string]int{"p50": 20, "p99": 20}, chartSeriesOf(t, lat))
	t.Logf("latency ticks %v, lag ticks", ticksOf(lat))
	// Two runs of data, so two subpaths per percentile.
	p99 := pathRE.FindAllStringSubmatch(lat, -1)[1]
	assert.Equal(t, "p99", p99[1])
	assert.Equal(t, 2, strings.Count(p99[3], "M"))
	lag := body[strings.Index(body, `<svg id="lag-chart"`):]
	lag = lag[:strings.Index(lag, "</svg>")]
	assert.Equal(t, map[string]int{"lag": 30}, chartSeriesOf(t, lag))
	assert.Contains(t, body, "edits within 10m0s over the last 1h0m0s")
}

func TestStatusPageEscapesAndHandlesNoData(t *testing.T) {
	job := &namedJob{fakeJob: &fakeJob{}, name: `<img src=x onerror=alert(1)>`}
	sc := newTestSidecar(t, job, WithSavepointTemplate("manual-{time}"))
	r := do(t, sc.Handler(), http.MethodGet, "/", "")
	require.Equal(t, http.StatusOK, r.code)
	assert.NotContains(t, r.body, "<img")
	assert.Contains(t, r.body, "&lt;img")
	assert.Contains(t, r.body, `class="state idle"`)
	assert.Contains(t, r.body, "none owned")
	// Empty series are present with no points, so the chart still renders.
	assert.Contains(t, r.body, `data-series="p99" data-points="0" d=""`)
	assert.Contains(t, r.body, `data-series="lag" data-points="0" d=""`)
}

type namedJob struct {
	*fakeJob
	name string
}

func (j *namedJob) Name() string { return j.name }

func TestRenderChartLoneMinuteIsADot(t *testing.T) {
	svg := renderChart("c", "t", countAxis, []chartSeries{{
		name: "s", color: "#000", values: []float64{1, 0, 3, 4}, ok: []bool{true, false, true, true}}}, nil)
	m := pathRE.FindStringSubmatch(svg)
	require.NotNil(t, m)
	assert.Equal(t, "3", m[2])
	assert.Contains(t, m[3], "h0.1", "a lone point gets a tiny segment so its round cap shows")
	assert.Equal(t, 2, strings.Count(m[3], "M"))
}

func TestFmtBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		assert.Equal(t, want, fmtBytes(n), n)
	}
}

func TestLagHistoryKeepsMaxPerMinute(t *testing.T) {
	h := newLagHistory(3)
	h.add(t0, 5)
	h.add(t0.Add(10*time.Second), 9)
	h.add(t0.Add(20*time.Second), 2)
	h.add(t0.Add(2*time.Minute), 1)
	got := h.minutes(t0.Add(2 * time.Minute))
	assert.Equal(t, []lagSample{{Start: t0, Sampled: true, Max: 9}, {Start: t0.Add(time.Minute)},
		{Start: t0.Add(2 * time.Minute), Sampled: true, Max: 1}}, got)
	// Minute 3 reuses minute 0's slot; a late sample for minute 0 is dropped.
	h.add(t0.Add(3*time.Minute), 4)
	h.add(t0, 100)
	got = h.minutes(t0.Add(3 * time.Minute))
	assert.Equal(t, lagSample{Start: t0.Add(3 * time.Minute), Sampled: true, Max: 4}, got[2])
	assert.Equal(t, lagSample{Start: t0.Add(time.Minute)}, got[0])
}

// tickRE reads a y-axis tick back: its value and its label.
var tickRE = regexp.MustCompile(`<text class="y-tick" data-value="([^"]+)"[^>]*>([^<]*)</text>`)

// refRE reads a reference line back: name, value, whether it is drawn.
var refRE = regexp.MustCompile(`data-reference="([^"]+)" data-value="([^"]+)" data-shown="(true|false)"`)

// ticksOf returns the labels of a chart's y-axis ticks, bottom first.
func ticksOf(svg string) []string {
	var out []string
	for _, m := range tickRE.FindAllStringSubmatch(svg, -1) {
		out = append(out, m[2])
	}
	return out
}
