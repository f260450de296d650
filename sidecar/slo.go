package sidecar

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Defaults of the edit-latency SLO: the WDQS Streaming Updater's objective,
// 99 % of edits visible in the query service within 10 minutes, measured
// over the last hour.
const (
	DefaultSLOTarget    = 10 * time.Minute
	DefaultSLOObjective = 0.99
	DefaultSLOWindow    = time.Hour
)

// LatencyBuckets are the upper bounds, in seconds, of the edit-latency
// histogram: the Prometheus histogram and the per-minute counters of
// LatencySLO use the same ones, so that a percentile read from either agrees.
// They are dense around the WDQS target (10 minutes) and reach two hours,
// beyond which an edit is simply "very late".
var LatencyBuckets = []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 450, 600, 900, 1200, 1800, 3600, 7200}

// numBuckets is the bucket count including the implicit +Inf bucket.
var numBuckets = len(LatencyBuckets) + 1

// LatencySLO measures edit latency — the time from an event (an edit) to
// the commit of the output it caused — against a target, over a sliding
// window: the share of events whose latency was at most the target is the
// SLO ratio, and the SLO is met while that share is at least the objective.
//
// It keeps no per-event memory: the window is a ring of one-minute slots,
// each holding a count, a count under target and a small histogram over
// LatencyBuckets (from which percentiles are estimated). Memory is fixed by
// the window length (about 200 bytes a minute). Events are placed by their
// commit time, so a window ends at "now" as seen by the caller: every
// method takes the time explicitly, which keeps the type pure and testable.
//
// A LatencySLO is safe for concurrent use.
type LatencySLO struct {
	target    time.Duration
	objective float64
	window    time.Duration

	mu    sync.Mutex
	slots []sloSlot // indexed by minute modulo len(slots)
}

type sloSlot struct {
	minute  int64 // Unix minute the slot holds; only meaningful when events > 0 or buckets set
	used    bool
	events  uint64
	under   uint64
	buckets []uint64 // numBuckets counters
}

// NewLatencySLO returns a LatencySLO for target latency, objective (the share
// of events that must meet the target, in (0, 1]) and window (a whole number
// of minutes, from one minute to a week). It fails with ErrInvalidOption on
// anything else.
func NewLatencySLO(target time.Duration, objective float64, window time.Duration) (*LatencySLO, error) {
	switch {
	case target <= 0:
		return nil, fmt.Errorf("%w: SLO target %v must be positive", ErrInvalidOption, target)
	case !(objective > 0 && objective <= 1):
		return nil, fmt.Errorf("%w: SLO objective %v must be in (0, 1]", ErrInvalidOption, objective)
	case window < time.Minute || window > 7*24*time.Hour || window%time.Minute != 0:
		return nil, fmt.Errorf("%w: SLO window %v must be a whole number of minutes between 1m and 168h", ErrInvalidOption, window)
	}
	n := int(window / time.Minute)
	s := &LatencySLO{target: target, objective: objective, window: window, slots: make([]sloSlot, n)}
	for i := range s.slots {
		s.slots[i].buckets = make([]uint64, numBuckets)
	}
	return s, nil
}

// Target returns the latency target.
func (s *LatencySLO) Target() time.Duration { return s.target }

// Objective returns the share of events that must meet the target.
func (s *LatencySLO) Objective() float64 { return s.objective }

// Window returns the length of the sliding window.
func (s *LatencySLO) Window() time.Duration { return s.window }

// unixMinute is the floor of t in minutes since the Unix epoch.
func unixMinute(t time.Time) int64 {
	sec := t.Unix()
	m := sec / 60
	if sec%60 < 0 {
		m--
	}
	return m
}

// bucketOf returns the index of the histogram bucket of a latency.
func bucketOf(latency time.Duration) int {
	sec := latency.Seconds()
	for i, ub := range LatencyBuckets {
		if sec <= ub {
			return i
		}
	}
	return len(LatencyBuckets)
}

// Observe records one event committed at committed with the given latency.
// A negative latency (an event time ahead of the committing host's clock)
// counts as zero. Events older than what the ring still holds are dropped.
func (s *LatencySLO) Observe(committed time.Time, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observeLocked(unixMinute(committed), latency)
}

// ObserveCommit records every event of one commit: the latency of each is
// committed minus its event time. Zero event times (unknown) are skipped;
// it returns how many were.
func (s *LatencySLO) ObserveCommit(committed time.Time, eventTimes []time.Time) (unknown int) {
	m := unixMinute(committed)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, et := range eventTimes {
		if et.IsZero() {
			unknown++
			continue
		}
		s.observeLocked(m, committed.Sub(et))
	}
	return unknown
}

func (s *LatencySLO) observeLocked(minute int64, latency time.Duration) {
	latency = max(latency, 0)
	sl := &s.slots[int(mod(minute, int64(len(s.slots))))]
	if !sl.used || sl.minute != minute {
		if sl.used && minute < sl.minute {
			return // older than the window the ring holds
		}
		sl.minute, sl.used, sl.events, sl.under = minute, true, 0, 0
		clear(sl.buckets)
	}
	sl.events++
	if latency <= s.target {
		sl.under++
	}
	sl.buckets[bucketOf(latency)]++
}

func mod(a, n int64) int64 {
	r := a % n
	if r < 0 {
		r += n
	}
	return r
}

// SLOReport is the state of a LatencySLO over its window, as served in
// /status and /metrics.
type SLOReport struct {
	// Target, Objective and Window are the SLO's definition.
	Target    time.Duration
	Objective float64
	Window    time.Duration
	// Events is how many events were committed in the window, and
	// UnderTarget how many of them within the target.
	Events, UnderTarget uint64
	// Ratio is UnderTarget/Events; 1 when the window has no events (an idle
	// stream does not burn error budget).
	Ratio float64
	// Met reports Ratio >= Objective.
	Met bool
	// P50 and P99 are latency percentiles over the window, estimated from
	// the histogram by linear interpolation within a bucket (as Prometheus'
	// histogram_quantile does); zero when the window has no events.
	P50, P99 time.Duration
}

// MinuteStat is the edit latency of the events committed in one minute.
type MinuteStat struct {
	// Start is the beginning of the minute (UTC).
	Start time.Time
	// Events and UnderTarget count the minute's events.
	Events, UnderTarget uint64
	// P50 and P99 are its latency percentiles (zero without events).
	P50, P99 time.Duration
}

// Report returns the SLO over the window that ends at now.
func (s *LatencySLO) Report(now time.Time) SLOReport {
	r := SLOReport{Target: s.target, Objective: s.objective, Window: s.window}
	hist := make([]uint64, numBuckets)
	nowMin := unixMinute(now)
	s.mu.Lock()
	for i := range s.slots {
		sl := &s.slots[i]
		if !s.inWindow(sl, nowMin) {
			continue
		}
		r.Events += sl.events
		r.UnderTarget += sl.under
		for b, c := range sl.buckets {
			hist[b] += c
		}
	}
	s.mu.Unlock()
	r.Ratio = 1
	if r.Events > 0 {
		r.Ratio = float64(r.UnderTarget) / float64(r.Events)
		r.P50 = quantile(0.5, hist, r.Events)
		r.P99 = quantile(0.99, hist, r.Events)
	}
	r.Met = r.Ratio >= s.objective
	return r
}

// Minutes returns one MinuteStat per minute of the window that ends at now,
// oldest first, including minutes without events.
func (s *LatencySLO) Minutes(now time.Time) []MinuteStat {
	nowMin := unixMinute(now)
	n := int64(len(s.slots))
	out := make([]MinuteStat, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		m := nowMin - n + 1 + i
		ms := MinuteStat{Start: time.Unix(m*60, 0).UTC()}
		sl := &s.slots[mod(m, n)]
		if sl.used && sl.minute == m && sl.events > 0 {
			ms.Events, ms.UnderTarget = sl.events, sl.under
			ms.P50 = quantile(0.5, sl.buckets, sl.events)
			ms.P99 = quantile(0.99, sl.buckets, sl.events)
		}
		out[i] = ms
	}
	return out
}

func (s *LatencySLO) inWindow(sl *sloSlot, nowMin int64) bool {
	return sl.used && sl.minute <= nowMin && sl.minute > nowMin-int64(len(s.slots))
}

// quantile estimates the q-quantile of a histogram over LatencyBuckets
// holding total events: the rank's bucket, interpolated linearly between
// its bounds. The +Inf bucket yields the highest finite bound.
func quantile(q float64, hist []uint64, total uint64) time.Duration {
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for b, c := range hist {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			if b == len(LatencyBuckets) {
				return secondsToDuration(LatencyBuckets[len(LatencyBuckets)-1])
			}
			lo := 0.0
			if b > 0 {
				lo = LatencyBuckets[b-1]
			}
			hi := LatencyBuckets[b]
			frac := (rank - cum) / float64(c)
			return secondsToDuration(lo + (hi-lo)*math.Max(0, math.Min(1, frac)))
		}
		cum += float64(c)
	}
	return secondsToDuration(LatencyBuckets[len(LatencyBuckets)-1])
}

func secondsToDuration(sec float64) time.Duration {
	return time.Duration(math.Round(sec * float64(time.Second)))
}
