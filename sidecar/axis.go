package sidecar

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// yAxis is how a chart scales and labels its values: ticks returns the
// top of the scale and the tick values, from 0 up to it, for the largest
// value shown; label formats a tick.
type yAxis struct {
	ticks func(hi float64) (top float64, ticks []float64)
	label func(v float64) string
}

// countAxis scales whole numbers (records): integer ticks 1, 2 or 5 × 10^k
// apart, so that a lag of one record reads "0, 1", never "0, 0, 1, 1".
var countAxis = yAxis{
	ticks: func(hi float64) (float64, []float64) {
		return ticksWithStep(hi, niceStep(hi/5, 1))
	},
	label: func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
}

// durationSteps are the tick steps of a duration axis, in seconds: the
// usual 1-2-5 below a minute, then the clock's own divisions.
var durationSteps = []float64{
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
	1, 2, 5, 10, 15, 30,
	60, 120, 300, 600, 900, 1800,
	3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600,
}

// durationAxis scales seconds with ticks at round durations ("500ms",
// "2s", "5m").
var durationAxis = yAxis{
	ticks: func(hi float64) (float64, []float64) {
		want := hi / 5
		step := durationSteps[len(durationSteps)-1]
		for _, s := range durationSteps {
			if s >= want {
				step = s
				break
			}
		}
		if want > step {
			step = niceStep(want/86400, 1) * 86400
		}
		return ticksWithStep(hi, step)
	},
	label: fmtTick,
}

// niceStep returns the smallest of 1, 2 and 5 × 10^k that is at least want
// and at least least.
func niceStep(want, least float64) float64 {
	if !(want > least) { // also NaN
		return least
	}
	p := math.Pow(10, math.Floor(math.Log10(want)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= want*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// ticksWithStep returns the ticks 0, step, 2·step … up to the first at or
// above hi (at least one step), computed as multiples so that no rounding
// drift makes two labels alike.
func ticksWithStep(hi, step float64) (float64, []float64) {
	n := 1
	if hi > 0 && !math.IsInf(hi, 0) {
		n = max(int(math.Ceil(hi/step-1e-9)), 1)
	}
	ticks := make([]float64, n+1)
	for i := range ticks {
		ticks[i] = float64(i) * step
	}
	return ticks[n], ticks
}

// fmtTick formats seconds as a short duration: "0", "250ms", "2s", "1m30s",
// "10m", "2h".
func fmtTick(sec float64) string {
	if sec == 0 {
		return "0"
	}
	d := time.Duration(math.Round(sec*1e3)) * time.Millisecond
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
