package jobtest

import (
	"maps"
	"sync"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
)

// DefaultNotReadyInterval is how often a NotReadyWatch samples Stats when
// WatchNotReady is given no interval.
const DefaultNotReadyInterval = 50 * time.Millisecond

// StatsReader is what a NotReadyWatch samples: a *streamkit.Job in
// process, or anything that reports a job's Stats.
type StatsReader interface {
	Stats() streamkit.Stats
}

// NotReady is what a NotReadyWatch saw: the window in which the job
// reported failures (Stats.ConsecutiveFailures > 0), the components it
// named, and how many failures in a row it reached.
type NotReady struct {
	// First and Last are the first and the last sample that saw the job
	// failing; both are zero if no sample did.
	First, Last time.Time
	// Components is the set of Stats.FailingComponent values seen.
	Components map[streamkit.Component]bool
	// MaxConsecutive is the highest Stats.ConsecutiveFailures seen;
	// LastError the Stats.LastError of the last failing sample.
	MaxConsecutive int
	LastError      string
	// Samples counts the samples taken, Failing those that saw failures.
	Samples, Failing int
}

// Seen reports whether any sample saw the job failing.
func (n NotReady) Seen() bool { return !n.First.IsZero() }

// NotReadyWatch samples a job's Stats in the background and records when it
// was not ready: the evidence an outage test needs that the job noticed
// the outage, named the failing component, and kept running (see
// TestJobRidesOutSwiftOutage in package streamkit). Its methods are safe
// for concurrent use.
type NotReadyWatch struct {
	job  StatsReader
	mu   sync.Mutex
	seen NotReady
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// WatchNotReady starts sampling job's Stats every interval
// (DefaultNotReadyInterval if interval <= 0) until Stop.
func WatchNotReady(job StatsReader, interval time.Duration) *NotReadyWatch {
	if interval <= 0 {
		interval = DefaultNotReadyInterval
	}
	w := &NotReadyWatch{job: job, seen: NotReady{Components: map[streamkit.Component]bool{}},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			w.sample(job.Stats())
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *NotReadyWatch) sample(s streamkit.Stats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen.Samples++
	if s.ConsecutiveFailures == 0 {
		return
	}
	now := time.Now()
	if w.seen.First.IsZero() {
		w.seen.First = now
	}
	w.seen.Last = now
	w.seen.Failing++
	w.seen.Components[s.FailingComponent] = true
	w.seen.MaxConsecutive = max(w.seen.MaxConsecutive, s.ConsecutiveFailures)
	w.seen.LastError = s.LastError
}

// Seen returns what the watch has seen so far.
func (w *NotReadyWatch) Seen() NotReady {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.seen
	n.Components = maps.Clone(w.seen.Components)
	return n
}

// Stop ends the sampling (it may be called more than once) and returns
// what the watch saw, including one last sample taken as it stops: what
// the caller saw just before calling Stop is in it even when the sampling
// goroutine did not get to run meanwhile (a loaded machine).
func (w *NotReadyWatch) Stop() NotReady {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
		w.sample(w.job.Stats())
	})
	<-w.done
	return w.Seen()
}
