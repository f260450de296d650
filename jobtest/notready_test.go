package jobtest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
)

// fakeStats is a StatsReader whose Stats the test sets.
type fakeStats struct {
	mu sync.Mutex
	s  streamkit.Stats
}

func (f *fakeStats) Stats() streamkit.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

func (f *fakeStats) set(s streamkit.Stats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.s = s
}

// What the caller saw just before Stop is in what Stop returns, even when
// the sampling goroutine had no turn since.
func TestNotReadyWatchStopTakesALastSample(t *testing.T) {
	job := &fakeStats{}
	w := jobtest.WatchNotReady(job, time.Hour)
	time.Sleep(10 * time.Millisecond) // the first sample: ready
	job.set(streamkit.Stats{ConsecutiveFailures: 2, FailingComponent: streamkit.ComponentInput, LastError: "gone"})
	seen := w.Stop()
	assert.True(t, seen.Seen())
	assert.Equal(t, map[streamkit.Component]bool{streamkit.ComponentInput: true}, seen.Components)
	assert.Equal(t, int64(2), int64(seen.MaxConsecutive))
	assert.Equal(t, "gone", seen.LastError)
	assert.Equal(t, seen, w.Stop(), "a second Stop returns the same")
}
