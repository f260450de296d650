package jobtest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
)

// scriptedStats returns its script one sample at a time, then after
// (healthy Stats unless set), and closes drained once the script and one
// sample of after are out.
type scriptedStats struct {
	mu      sync.Mutex
	script  []streamkit.Stats
	after   streamkit.Stats
	drained chan struct{}
	closed  bool
}

func (s *scriptedStats) Stats() streamkit.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.script) > 0 {
		st := s.script[0]
		s.script = s.script[1:]
		return st
	}
	if !s.closed {
		s.closed = true
		close(s.drained)
	}
	return s.after
}

func TestNotReadyWatch(t *testing.T) {
	failing := func(n int, c streamkit.Component, msg string) streamkit.Stats {
		return streamkit.Stats{ConsecutiveFailures: n, FailingComponent: c, LastError: msg}
	}
	job := &scriptedStats{drained: make(chan struct{}), script: []streamkit.Stats{
		{},
		failing(1, streamkit.ComponentInput, "input: broker down"),
		failing(3, streamkit.ComponentInput, "input: broker down"),
		failing(2, streamkit.ComponentOutput, "output: no leader"),
		{},
	}}
	w := jobtest.WatchNotReady(job, time.Millisecond)
	<-job.drained
	got := w.Stop()
	assert.Equal(t, got, w.Stop(), "Stop twice")
	require.True(t, got.Seen())
	assert.Equal(t, map[streamkit.Component]bool{streamkit.ComponentInput: true, streamkit.ComponentOutput: true}, got.Components)
	assert.Equal(t, 3, got.MaxConsecutive)
	assert.Equal(t, 3, got.Failing)
	assert.GreaterOrEqual(t, got.Samples, 6)
	assert.Equal(t, "output: no leader", got.LastError)
	assert.False(t, got.Last.Before(got.First))
}

func TestNotReadyWatchHealthy(t *testing.T) {
	job := &scriptedStats{drained: make(chan struct{})}
	w := jobtest.WatchNotReady(job, 0)
	<-job.drained
	got := w.Stop()
	assert.False(t, got.Seen())
	assert.True(t, got.First.IsZero())
	assert.Empty(t, got.Components)
	assert.Positive(t, got.Samples)
}

// What the job reports when Stop is called is in what Stop returns, even
// when the sampling goroutine had no turn since it changed (here: an hour
// between samples, so only the first sample and Stop's own see the job).
func TestNotReadyWatchStopTakesALastSample(t *testing.T) {
	job := &scriptedStats{drained: make(chan struct{}), script: []streamkit.Stats{{}},
		after: streamkit.Stats{ConsecutiveFailures: 2, FailingComponent: streamkit.ComponentInput, LastError: "input: gone"}}
	w := jobtest.WatchNotReady(job, time.Hour)
	got := w.Stop()
	assert.Equal(t, got, w.Stop(), "Stop twice")
	require.True(t, got.Seen())
	assert.Equal(t, map[streamkit.Component]bool{streamkit.ComponentInput: true}, got.Components)
	assert.Equal(t, 2, got.MaxConsecutive)
	assert.Equal(t, 2, got.Samples)
	assert.Equal(t, "input: gone", got.LastError)
}
