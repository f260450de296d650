package sidecar

import (
	"sync"
	"time"
)

// lagHistory keeps, per minute, the largest total lag sampled in it, for
// the status page's chart: a fixed ring like LatencySLO's, so memory does
// not grow with uptime.
type lagHistory struct {
	mu    sync.Mutex
	slots []lagSlot
}

type lagSlot struct {
	minute int64
	used   bool
	max    int64
}

// lagSample is the largest total lag sampled in one minute.
type lagSample struct {
	Start time.Time
	// Sampled is false for a minute without a sample (the sidecar was not
	// running); Max is then zero.
	Sampled bool
	Max     int64
}

func newLagHistory(minutes int) *lagHistory {
	return &lagHistory{slots: make([]lagSlot, minutes)}
}

func (h *lagHistory) add(now time.Time, lag int64) {
	m := unixMinute(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	sl := &h.slots[mod(m, int64(len(h.slots)))]
	if !sl.used || sl.minute != m {
		if sl.used && m < sl.minute {
			return
		}
		*sl = lagSlot{minute: m, used: true, max: lag}
		return
	}
	sl.max = max(sl.max, lag)
}

// minutes returns one sample per minute of the window that ends at now,
// oldest first.
func (h *lagHistory) minutes(now time.Time) []lagSample {
	nowMin := unixMinute(now)
	n := int64(len(h.slots))
	out := make([]lagSample, n)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range n {
		m := nowMin - n + 1 + i
		ls := lagSample{Start: time.Unix(m*60, 0).UTC()}
		if sl := h.slots[mod(m, n)]; sl.used && sl.minute == m {
			ls.Sampled, ls.Max = true, sl.max
		}
		out[i] = ls
	}
	return out
}
