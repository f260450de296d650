package sidecar

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The status page is what an operator opens first: the job's state and the
// two curves WDQS operators watch, edit latency and lag over the last hour.
// It is rendered on the server (SVG inline, no JavaScript, no external CSS
// or fonts), so it works from a port-forward with no internet access, and
// refreshes itself every 30 seconds.

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"dur":   fmtDuration,
	"pct":   func(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) + " %" },
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"bytes": fmtBytes,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="30">
<title>{{.S.Job}} — streamkit</title>
<style>
body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1000px}
h1{font-size:1.4em;margin:0 0 .3em}
table{border-collapse:collapse;margin:.5em 0 1em}
td,th{padding:.15em .8em .15em 0;text-align:left;vertical-align:top}
th{font-weight:600;color:#555}
.state{display:inline-block;padding:.1em .5em;border-radius:.3em;color:#fff;font-weight:600}
.running{background:#2a7d2e}.paused{background:#b07a00}.idle{background:#777}.failing{background:#b3261e}
.met{color:#2a7d2e;font-weight:600}.missed{color:#b3261e;font-weight:600}
svg{display:block;margin:.3em 0 1.2em;background:#fafafa;border:1px solid #ddd}
</style>
</head>
<body>
<h1>{{.S.Job}} <span id="state" class="state {{.S.State}}">{{.S.State}}</span></h1>
<p id="readiness">{{if .S.Ready}}Ready{{else}}Not ready{{end}}: {{.S.Reason}}</p>
<table id="summary">
<tr><th>Consumer group</th><td>{{.S.Group}}</td></tr>
<tr><th>Tasks</th><td>{{range $i, $t := .S.Tasks}}{{if $i}}, {{end}}{{$t}}{{else}}none{{end}}</td></tr>
<tr><th>Lag</th><td id="lag-total">{{.S.LagTotal}} records</td></tr>
<tr><th>Watermark</th><td>{{with .S.Watermark}}{{time .}}{{else}}none yet{{end}}</td></tr>
<tr><th>Processed</th><td>{{.S.Processed}} records, {{.S.DeadLettered}} dead-lettered</td></tr>
<tr><th>Checkpoints</th><td>{{.S.Checkpoints}} committed, {{.S.CheckpointFailures}} failed, {{.S.Restarts}} restarts</td></tr>
<tr><th>Last checkpoint</th><td>{{with .S.LastCheckpoint}}#{{.ID}} of task {{.Task}} at {{time .Time}} ({{printf "%.3f" .DurationSeconds}} s){{else}}none yet{{end}}</td></tr>
{{if .S.StateBytes}}<tr><th>State size</th><td id="state-size">{{bytes .S.StateBytes}} in the last checkpoints</td></tr>{{end}}
{{with .S.LastCheckpointFailure}}<tr><th>Last failure</th><td>task {{.Task}} at {{time .Time}}: {{.Error}}</td></tr>{{end}}
<tr><th>Edit latency SLO</th><td id="slo">{{with .S.SLO}}{{pct .Ratio}} of {{.Events}} edits within {{dur .TargetSeconds}} over the last {{dur .WindowSeconds}} (objective {{pct .Objective}}):
 <span class="{{if .Met}}met{{else}}missed{{end}}">{{if .Met}}met{{else}}missed{{end}}</span>; p50 {{dur .P50Seconds}}, p99 {{dur .P99Seconds}}{{end}}</td></tr>
</table>
<h2>Edit latency, last hour</h2>
{{.LatencyChart}}
<h2>Lag, last hour</h2>
{{.LagChart}}
<h2>Partitions</h2>
<table id="partitions"><tr><th>Topic</th><th>Partition</th><th>Position</th><th>Lag</th></tr>
{{range .S.Partitions}}<tr><td>{{.Topic}}</td><td>{{.Partition}}</td><td>{{.Position}}</td><td>{{.Lag}}</td></tr>
{{else}}<tr><td colspan="4">none owned</td></tr>{{end}}</table>
{{if .S.Savepoints}}<h2>Savepoints</h2>
<table id="savepoints"><tr><th>Name</th><th>Checkpoint taken</th><th>Tasks</th></tr>
{{range .S.Savepoints}}<tr><td>{{.Name}}</td><td>{{time .Created}}</td><td>{{len .Tasks}}</td></tr>
{{end}}</table>{{end}}
{{with .S.SavepointsError}}<p>Savepoints: {{.}}</p>{{end}}
<p><a href="status">status (JSON)</a> · <a href="metrics">metrics</a> · <a href="readyz">readyz</a> · rendered {{time .S.Time}}</p>
</body>
</html>
`))

type pageData struct {
	S                      Status
	LatencyChart, LagChart template.HTML
}

func (s *Sidecar) handlePage(w http.ResponseWriter, r *http.Request) {
	st := s.Status(r.Context())
	now := s.now()
	data := pageData{S: st,
		LatencyChart: template.HTML(latencyChart(s.obs.slo, now)),
		LagChart:     template.HTML(lagChart(s.history.minutes(now)))}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		s.o.log.Error("sidecar: rendering the status page", "error", err)
		http.Error(w, "sidecar: rendering the status page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// fmtBytes formats a size with a binary unit.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}

func fmtDuration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// chartSeries is one curve of a chart: a value per minute, ok false for a
// minute without data (the curve is broken there).
type chartSeries struct {
	name, label, color string
	values             []float64
	ok                 []bool
}

// chartRef is a horizontal reference line, such as the SLO target.
type chartRef struct {
	name, label, color string
	value              float64
}

// latencyChart draws p50 and p99 per minute on a scale fitted to them, so
// that a p99 of seconds is not a flat line at the bottom of a 10-minute
// scale; the SLO target is a dashed reference line when it falls within
// the scale, and a note above the plot when it does not.
func latencyChart(slo *LatencySLO, now time.Time) string {
	mins := slo.Minutes(now)
	// The chart shows the last hour even for a longer SLO window.
	if len(mins) > 60 {
		mins = mins[len(mins)-60:]
	}
	p50 := chartSeries{name: "p50", label: "p50", color: "#1f77b4"}
	p99 := chartSeries{name: "p99", label: "p99", color: "#d62728"}
	for _, m := range mins {
		has := m.Events > 0
		p50.values, p50.ok = append(p50.values, m.P50.Seconds()), append(p50.ok, has)
		p99.values, p99.ok = append(p99.values, m.P99.Seconds()), append(p99.ok, has)
	}
	target := chartRef{name: "target", label: "target " + fmtTick(slo.Target().Seconds()), color: "#555",
		value: slo.Target().Seconds()}
	return renderChart("latency-chart", "Edit latency per minute (commit time − event time)", durationAxis,
		[]chartSeries{p50, p99}, []chartRef{target})
}

func lagChart(samples []lagSample) string {
	lag := chartSeries{name: "lag", label: "lag (records, max per minute)", color: "#9467bd"}
	for _, s := range samples {
		lag.values, lag.ok = append(lag.values, float64(s.Max)), append(lag.ok, s.Sampled)
	}
	return renderChart("lag-chart", "Consumer lag per minute", countAxis, []chartSeries{lag}, nil)
}

// renderChart draws series over the same minutes as an SVG line chart, on
// a scale from 0 to the axis' first tick at or above the largest value
// (the largest reference value when there is no data), with reference
// lines that fall within it. Every element carries what a test (or a
// scraper) needs to read it back: the series name in data-series and its
// number of points in data-points, each tick's value in data-value, each
// reference line's name in data-reference and whether it is drawn in
// data-shown.
func renderChart(id, title string, axis yAxis, series []chartSeries, refs []chartRef) string {
	const (
		width, height             = 720, 220
		left, right, top, bottomM = 70, 10, 28, 30
	)
	pw, ph := float64(width-left-right), float64(height-top-bottomM)
	n := 0
	dataMax := 0.0
	for _, s := range series {
		n = max(n, len(s.values))
		for i, v := range s.values {
			if s.ok[i] && !math.IsNaN(v) && !math.IsInf(v, 0) {
				dataMax = max(dataMax, v)
			}
		}
	}
	if dataMax <= 0 {
		for _, r := range refs {
			dataMax = max(dataMax, r.value)
		}
	}
	ymax, ticks := axis.ticks(dataMax)
	x := func(i int) float64 {
		if n <= 1 {
			return float64(left)
		}
		return float64(left) + pw*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return float64(top) + ph*(1-math.Max(0, v)/ymax) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		id, width, height, width, height, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	// Axes, grid and labels.
	fmt.Fprintf(&b, `<g class="axes" stroke="#999" stroke-width="1"><line x1="%d" y1="%d" x2="%d" y2="%d"/><line x1="%d" y1="%d" x2="%d" y2="%d"/></g>`,
		left, top, left, height-bottomM, left, height-bottomM, width-right, height-bottomM)
	b.WriteString(`<g class="y-ticks">`)
	for _, v := range ticks {
		if v > 0 {
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e3e3e3"/>`, left, y(v), width-right, y(v))
		}
		fmt.Fprintf(&b, `<text class="y-tick" data-value="%s" x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#555">%s</text>`,
			strconv.FormatFloat(v, 'g', -1, 64), left-4, y(v)+4, html.EscapeString(axis.label(v)))
	}
	b.WriteString(`</g>`)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555">−%d min</text>`, left, height-8, n)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#555">now</text>`, width-right, height-8)
	// Legend.
	lx := left
	for _, s := range series {
		fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="4" fill="%s"/><text x="%d" y="14" font-size="11" fill="#333">%s</text>`,
			lx, s.color, lx+16, html.EscapeString(s.label))
		lx += 24 + 7*len(s.label)
	}
	// Reference lines: drawn when within the scale, else named in a note
	// at the top right, so that the reader knows the data is below them.
	for _, r := range refs {
		if r.value <= ymax {
			fmt.Fprintf(&b, `<g class="reference" data-reference="%s" data-value="%s" data-shown="true">`+
				`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4"/>`+
				`<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="%s">%s</text></g>`,
				r.name, strconv.FormatFloat(r.value, 'g', -1, 64), left, y(r.value), width-right, y(r.value), r.color,
				width-right-2, y(r.value)-4, r.color, html.EscapeString(r.label))
			continue
		}
		fmt.Fprintf(&b, `<g class="reference" data-reference="%s" data-value="%s" data-shown="false">`+
			`<text x="%d" y="14" font-size="11" text-anchor="end" fill="%s">%s ↑ (above the scale)</text></g>`,
			r.name, strconv.FormatFloat(r.value, 'g', -1, 64), width-right, r.color, html.EscapeString(r.label))
	}
	// Curves: one path per series, broken where a minute has no data; a
	// lone minute is drawn as a dot so that it is visible.
	for _, s := range series {
		var d strings.Builder
		points := 0
		pen := false
		for i, v := range s.values {
			if !s.ok[i] {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(i), y(v))
			if !pen && (i+1 == len(s.values) || !s.ok[i+1]) {
				d.WriteString("h0.1 ") // a lone minute: a dot, thanks to the round cap
			}
			pen = true
			points++
		}
		fmt.Fprintf(&b, `<path class="series" data-series="%s" data-points="%d" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>`,
			s.name, points, strings.TrimSpace(d.String()), s.color)
	}
	b.WriteString(`</svg>`)
	return b.String()
}
