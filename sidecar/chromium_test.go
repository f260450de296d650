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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestStatusPageInChromium loads the status page, served over HTTP by a
// running sidecar, in headless Chromium: the DOM it builds must hold both
// charts with their series, and its screenshot must show the curves in
// their colours (far more pixels than the legend's swatches).
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	sc, _ := withHistory(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + l.Addr().String() + "/"

	// One browser run both prints the DOM and takes the screenshot.
	shot := filepath.Join(t.TempDir(), "status.png")
	dom := string(runChromium(t, bin, url, "--dump-dom", "--window-size=1100,1700", "--screenshot="+shot))
	require.Contains(t, dom, `<svg id="latency-chart"`)
	require.Contains(t, dom, `<svg id="lag-chart"`)
	series := map[string]string{}
	for _, m := range regexp.MustCompile(`data-series="([^"]+)" data-points="(\d+)"`).FindAllStringSubmatch(dom, -1) {
		series[m[1]] = m[2]
	}
	assert.Equal(t, map[string]string{"p50": "20", "p99": "20", "target": "60", "lag": "30"}, series)
	assert.Contains(t, dom, `<span id="state" class="state running">running</span>`)
	assert.Regexp(t, `of 40 edits within 10m0s`, dom)

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
