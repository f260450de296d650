package sidecar

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
)

// ObserverOption configures an Observer.
type ObserverOption func(*observerOptions)

type observerOptions struct {
	target    time.Duration
	objective float64
	window    time.Duration
}

// WithSLO sets the edit-latency SLO: the share objective of edits that must
// be committed within target, measured over a sliding window (defaults
// DefaultSLOTarget, DefaultSLOObjective, DefaultSLOWindow: the WDQS SLO).
func WithSLO(target time.Duration, objective float64, window time.Duration) ObserverOption {
	return func(o *observerOptions) { o.target, o.objective, o.window = target, objective, window }
}

// Observer receives a job's hooks and turns them into what the sidecar
// reports beyond Controller.Stats: per-task checkpoint IDs, times and
// durations, checkpoint failures, dead letters by stage, and the edit
// latency of every committed record (histogram and SLO).
//
// It exists apart from Sidecar because of construction order: the hooks are
// options of streamkit.NewJob, and the sidecar needs the job. Create the
// Observer first, pass Observer.JobOptions to NewJob, then the Observer to
// New with WithObserver. Its methods are safe for concurrent use and never
// block, as the job's hooks must not.
type Observer struct {
	slo *LatencySLO

	latency       prometheus.Histogram
	ckptDuration  prometheus.Histogram
	deadLetters   *prometheus.CounterVec
	unknownEvents prometheus.Counter

	mu       sync.Mutex
	tasks    map[int]taskCheckpoint
	lastOK   taskCheckpoint // the newest successful checkpoint of any task
	lastFail *CheckpointFailure
}

// taskCheckpoint is the last successful checkpoint of one task.
type taskCheckpoint struct {
	Task         int
	CheckpointID uint64
	Committed    time.Time
	Duration     time.Duration
	Records      int64
}

// CheckpointFailure is the last failed checkpoint attempt.
type CheckpointFailure struct {
	Task         int       `json:"task"`
	CheckpointID uint64    `json:"checkpoint_id"`
	Time         time.Time `json:"time"`
	Error        string    `json:"error"`
}

// NewObserver returns an Observer. It fails with ErrInvalidOption for an
// SLO that can never work (see NewLatencySLO).
func NewObserver(opts ...ObserverOption) (*Observer, error) {
	o := observerOptions{target: DefaultSLOTarget, objective: DefaultSLOObjective, window: DefaultSLOWindow}
	for _, opt := range opts {
		opt(&o)
	}
	slo, err := NewLatencySLO(o.target, o.objective, o.window)
	if err != nil {
		return nil, err
	}
	return &Observer{
		slo: slo,
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamkit_edit_latency_seconds",
			Help:    "Edit latency: commit time of the output minus the event time of each committed record.",
			Buckets: latencyBucketsWith(slo.Target()),
		}),
		ckptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamkit_checkpoint_duration_seconds",
			Help:    "Duration of successful task checkpoints (snapshot plus commit).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamkit_dead_letters_total",
			Help: "Records dead-lettered, by failing stage and error class.",
		}, []string{"stage", "class"}),
		unknownEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamkit_edit_latency_unknown_total",
			Help: "Committed records without an event time, left out of the edit latency.",
		}),
		tasks: make(map[int]taskCheckpoint),
	}, nil
}

// latencyBucketsWith returns LatencyBuckets plus the SLO target, so that
// the histogram's bucket le="<target>" over its count is the SLO ratio
// over any window a Prometheus query picks.
func latencyBucketsWith(target time.Duration) []float64 {
	b := append(slices.Clone(LatencyBuckets), target.Seconds())
	slices.Sort(b)
	return slices.Compact(b)
}

// SLO returns the edit-latency SLO the Observer feeds.
func (o *Observer) SLO() *LatencySLO { return o.slo }

// JobOptions returns the job options that feed the Observer:
// streamkit.WithOnCheckpoint(o.OnCheckpoint) and
// streamkit.WithOnDeadLetter(o.OnDeadLetter).
func (o *Observer) JobOptions() []streamkit.Option {
	return []streamkit.Option{streamkit.WithOnCheckpoint(o.OnCheckpoint), streamkit.WithOnDeadLetter(o.OnDeadLetter)}
}

// OnCheckpoint is the job's checkpoint hook (streamkit.WithOnCheckpoint).
func (o *Observer) OnCheckpoint(ev streamkit.CheckpointEvent) {
	if ev.Err != nil {
		o.mu.Lock()
		o.lastFail = &CheckpointFailure{Task: ev.Task, CheckpointID: ev.CheckpointID, Time: time.Now().UTC(), Error: ev.Err.Error()}
		o.mu.Unlock()
		return
	}
	committed := ev.Committed
	if committed.IsZero() {
		committed = time.Now()
	}
	d := ev.Snapshot + ev.Commit
	o.ckptDuration.Observe(d.Seconds())
	unknown := o.slo.ObserveCommit(committed, ev.EventTimes)
	for _, et := range ev.EventTimes {
		if !et.IsZero() {
			o.latency.Observe(max(committed.Sub(et), 0).Seconds())
		}
	}
	if unknown > 0 {
		o.unknownEvents.Add(float64(unknown))
	}
	tc := taskCheckpoint{Task: ev.Task, CheckpointID: ev.CheckpointID, Committed: committed.UTC(), Duration: d, Records: ev.Records}
	o.mu.Lock()
	o.tasks[ev.Task] = tc
	if !committed.Before(o.lastOK.Committed) {
		o.lastOK = tc
	}
	o.lastFail = nil // a success clears the failure for readiness
	o.mu.Unlock()
}

// OnDeadLetter is the job's dead-letter hook (streamkit.WithOnDeadLetter).
func (o *Observer) OnDeadLetter(f streamkit.Failure) {
	class := f.Class
	if class == "" {
		class = "unknown"
	}
	stage := f.Stage
	if stage == "" {
		stage = "process"
	}
	o.deadLetters.WithLabelValues(stage, class).Inc()
}

// observerState is a consistent copy of the Observer's bookkeeping.
type observerState struct {
	tasks    []taskCheckpoint
	last     taskCheckpoint
	lastFail *CheckpointFailure
}

func (o *Observer) state() observerState {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := observerState{last: o.lastOK}
	if o.lastFail != nil {
		f := *o.lastFail
		st.lastFail = &f
	}
	for _, tc := range o.tasks {
		st.tasks = append(st.tasks, tc)
	}
	slices.SortFunc(st.tasks, func(a, b taskCheckpoint) int { return a.Task - b.Task })
	return st
}

// collectors are the Observer's own Prometheus metrics.
func (o *Observer) collectors() []prometheus.Collector {
	return []prometheus.Collector{o.latency, o.ckptDuration, o.deadLetters, o.unknownEvents}
}
