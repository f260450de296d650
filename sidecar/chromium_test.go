package sidecar

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// chromium returns the headless browser named by STREAMKIT_CHROMIUM (the
// path of the binary, /usr/bin/chromium from Debian's "chromium"
// package), or skips.
func chromium(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("STREAMKIT_CHROMIUM")
	if bin == "" {
		t.Skip("STREAMKIT_CHROMIUM is not set (path to a chromium binary, e.g. /usr/bin/chromium)")
	}
	return bin
}

// runChromium runs one headless Chromium command against url and returns
// its standard output.
func runChromium(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-extensions", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), url)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return out
}

// servePage serves sc on a loopback port until the test ends and returns
// the status page's URL.
func servePage(t *testing.T, sc *Sidecar) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + l.Addr().String() + "/"
}

// chartOf cuts one chart's SVG out of a page.
func chartOf(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `<svg id="`+id+`"`)
	require.GreaterOrEqual(t, i, 0, id)
	svg := page[i:]
	return svg[:strings.Index(svg, "</svg>")]
}

// TestStatusPageInChromium loads the status page, served over HTTP by a
// running sidecar, in headless Chromium: the DOM it builds must hold both
// charts with their series, y-axis ticks and the target line, and its
// screenshot must show the curves in their colours (far more pixels than
// the legend's swatches).
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	sc, _ := withHistory(t)
	url := servePage(t, sc)

	// One browser run both prints the DOM and takes the screenshot.
	shot := filepath.Join(t.TempDir(), "status.png")
	dom := string(runChromium(t, bin, url, "--dump-dom", "--window-size=1100,1700", "--screenshot="+shot))
	require.Contains(t, dom, `<svg id="latency-chart"`)
	require.Contains(t, dom, `<svg id="lag-chart"`)
	series := map[string]string{}
	for _, m := range regexp.MustCompile(`data-series="([^"]+)" data-points="(\d+)"`).FindAllStringSubmatch(dom, -1) {
		series[m[1]] = m[2]
	}
	assert.Equal(t, map[string]string{"p50": "20", "p99": "20", "lag": "30"}, series)
	assert.Contains(t, dom, `<span id="state" class="state running">running</span>`)
	assert.Regexp(t, `of 40 edits within 10m0s`, dom)
	// Latencies up to about 10 minutes: a scale in minutes with the target
	// drawn at its top. Lag up to 590 records: round hundreds.
	lat := chartOf(t, dom, "latency-chart")
	assert.Equal(t, []string{"0", "2m", "4m", "6m", "8m", "10m"}, ticksOf(lat))
	assert.Equal(t, []string{"target", "600", "true"}, refRE.FindStringSubmatch(lat)[1:])
	assert.Contains(t, lat, ">target 10m</text>")
	assert.Equal(t, []string{"0", "200", "400", "600"}, ticksOf(chartOf(t, dom, "lag-chart")))

	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	counts := countColours(img, map[string][3]uint8{
		"p50": {0x1f, 0x77, 0xb4}, "p99": {0xd6, 0x27, 0x28}, "lag": {0x94, 0x67, 0xbd}})
	t.Logf("screenshot %v, curve pixels %v", img.Bounds().Size(), counts)
	// A legend swatch is 12×4 = 48 pixels; a curve over 20-30 minutes of a
	// 640-pixel-wide plot, 2 pixels thick, is several hundred.
	for name, n := range counts {
		assert.Greater(t, n, 150, "pixels of the %s curve", name)
	}
}

// TestSmallValuesInChromium: a lag of one record gets the ticks "0, 1",
// and a p99 of seconds a scale of seconds, with the 10-minute target
// named above the plot instead of flattening the curve.
func TestSmallValuesInChromium(t *testing.T) {
	bin := chromium(t)
	obs := latencySLOWith(t, 2*time.Second, 3*time.Second, 2500*time.Millisecond)
	job := runningJob()
	job.set(func(s *streamkit.Stats) { s.Lag = map[source.TopicPartition]int64{tpIn0: 1, tpIn1: 0} })
	sc := newTestSidecar(t, job, WithObserver(obs))
	sc.history.add(t0.Add(-2*time.Minute), 1)
	sc.history.add(t0.Add(-time.Minute), 0) // Serve samples the current minute: lag 1
	dom := string(runChromium(t, bin, servePage(t, sc), "--dump-dom"))

	lag := chartOf(t, dom, "lag-chart")
	assert.Equal(t, []string{"0", "1"}, ticksOf(lag))
	values := tickRE.FindAllStringSubmatch(lag, -1)
	require.Len(t, values, 2)
	assert.Equal(t, []string{"0", "1"}, []string{values[0][1], values[1][1]})

	lat := chartOf(t, dom, "latency-chart")
	assert.Equal(t, []string{"0", "1s", "2s", "3s", "4s", "5s"}, ticksOf(lat))
	assert.Equal(t, []string{"target", "600", "false"}, refRE.FindStringSubmatch(lat)[1:])
	assert.Contains(t, lat, "target 10m ↑ (above the scale)")
}

// countColours counts the pixels within a small distance of each colour.
func countColours(img image.Image, colours map[string][3]uint8) map[string]int {
	out := make(map[string]int, len(colours))
	for name := range colours {
		out[name] = 0
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			for name, c := range colours {
				if near(r>>8, c[0]) && near(g>>8, c[1]) && near(bl>>8, c[2]) {
					out[name]++
				}
			}
		}
	}
	return out
}

func near(v uint32, c uint8) bool {
	d := int(v) - int(c)
	return d >= -12 && d <= 12
}
