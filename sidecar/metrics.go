package sidecar

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// statsCollector turns one Controller.Stats snapshot per scrape, the
// Observer's state and the SLO report into Prometheus metrics. Counters
// from Stats are per process: they restart at zero with the process, as
// Prometheus' rate() expects.
type statsCollector struct {
	s *Sidecar

	info, processed, deadLettered, checkpoints, ckptFailures, restarts *prometheus.Desc
	tasks, paused, ready, lag, lagTotal, position, watermark           *prometheus.Desc
	lastCkpt, lastCkptDuration, lastCkptID, stateBytes                 *prometheus.Desc
	sloRatio, sloEvents, sloTarget, sloObjective, sloMet               *prometheus.Desc
	failing, consecutiveFailures, committedLag                         *prometheus.Desc
	fallbackRestores, deadLettersTruncated                             *prometheus.Desc
}

func newStatsCollector(s *Sidecar) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("streamkit_"+name, help, labels, nil)
	}
	c := &statsCollector{s: s,
		info:             d("job_info", "The job this sidecar controls (value 1).", "streamkit_job", "group"),
		processed:        d("records_processed_total", "Records handed to processors, including failed ones."),
		deadLettered:     d("records_dead_lettered_total", "Records written to the dead-letter topic."),
		checkpoints:      d("checkpoints_total", "Committed task checkpoints."),
		ckptFailures:     d("checkpoint_failures_total", "Failed task checkpoints."),
		restarts:         d("restarts_total", "Rewinds of the job to its commit points after a failure."),
		tasks:            d("tasks", "Tasks (input partition numbers) this instance owns."),
		paused:           d("paused", "1 while the job is paused by an operator."),
		ready:            d("ready", "1 while /readyz succeeds."),
		lag:              d("partition_lag_records", "Records between an owned partition's position and its high watermark.", "topic", "partition"),
		lagTotal:         d("lag_records", "Sum of the lag of every owned partition."),
		position:         d("partition_position", "Next offset to read of an owned partition.", "topic", "partition"),
		watermark:        d("watermark_timestamp_seconds", "The source's event-time watermark (Unix time); absent before the first."),
		lastCkpt:         d("last_checkpoint_timestamp_seconds", "When the last task checkpoint committed (Unix time); absent before the first."),
		lastCkptDuration: d("last_checkpoint_duration_seconds", "Duration of the last committed task checkpoint (snapshot plus commit)."),
		lastCkptID:       d("last_checkpoint_id", "ID of the last committed task checkpoint."),
		stateBytes:       d("state_bytes", "Size of the keyed state of the owned tasks' last checkpoints, as last read for /status; absent before."),
		sloRatio:         d("edit_latency_slo_ratio", "Share of the window's committed records whose edit latency was within the target (1 without records)."),
		sloEvents:        d("edit_latency_slo_events", "Committed records with an event time in the SLO window."),
		sloTarget:        d("edit_latency_slo_target_seconds", "The edit-latency target of the SLO."),
		sloObjective:     d("edit_latency_slo_objective_ratio", "The share of records that must meet the target."),
		sloMet:           d("edit_latency_slo_met", "1 while the SLO ratio is at least the objective."),
		failing: d("failing", "1 while the job is failing and retrying, labelled with the component the last failure came from "+
			"(checkpoint-store, output, dead-letters, input, unknown); absent while healthy.", "component"),
		consecutiveFailures:  d("consecutive_failures", "Failed runs since the last committed checkpoint (0 while healthy)."),
		committedLag:         d("committed_lag_records", "Records between the owned partitions' commit points and their high watermarks."),
		fallbackRestores:     d("fallback_restores_total", "Task restores that fell back to an older checkpoint and replayed the input since (output written again)."),
		deadLettersTruncated: d("dead_letters_truncated_total", "Dead letters cut to fit the dead-letter topic."),
	}
	return c
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.info, c.processed, c.deadLettered, c.checkpoints, c.ckptFailures,
		c.restarts, c.tasks, c.paused, c.ready, c.lag, c.lagTotal, c.position, c.watermark, c.lastCkpt,
		c.lastCkptDuration, c.lastCkptID, c.stateBytes, c.sloRatio, c.sloEvents, c.sloTarget, c.sloObjective, c.sloMet,
		c.failing, c.consecutiveFailures, c.committedLag, c.fallbackRestores, c.deadLettersTruncated} {
		ch <- d
	}
	for _, col := range c.s.obs.collectors() {
		col.Describe(ch)
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.job.Stats()
	now := s.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.info, 1, s.job.Name(), s.job.Group())
	counter(c.processed, st.Processed)
	counter(c.deadLettered, st.DeadLettered)
	counter(c.checkpoints, st.Checkpoints)
	counter(c.ckptFailures, st.CheckpointFailures)
	counter(c.restarts, st.Restarts)
	gauge(c.tasks, float64(len(st.Tasks)))
	gauge(c.paused, boolFloat(st.Paused))
	gauge(c.ready, boolFloat(s.readiness(st, now).Ready))
	var total int64
	for tp, l := range st.Lag {
		total += l
		gauge(c.lag, float64(l), tp.Topic, strconv.Itoa(int(tp.Partition)))
	}
	gauge(c.lagTotal, float64(total))
	var committed int64
	for _, l := range st.CommittedLag() {
		committed += l
	}
	gauge(c.committedLag, float64(committed))
	gauge(c.consecutiveFailures, float64(st.ConsecutiveFailures))
	if st.ConsecutiveFailures > 0 {
		gauge(c.failing, 1, string(st.FailingComponent))
	}
	counter(c.fallbackRestores, st.FallbackRestores)
	counter(c.deadLettersTruncated, st.DeadLettersTruncated)
	for tp, p := range st.Positions {
		gauge(c.position, float64(p), tp.Topic, strconv.Itoa(int(tp.Partition)))
	}
	if !st.Watermark.IsZero() {
		gauge(c.watermark, unixSeconds(st.Watermark))
	}
	obs := s.obs.state()
	last := st.LastCheckpoint
	if obs.last.Committed.After(last) {
		last = obs.last.Committed
	}
	if !last.IsZero() {
		gauge(c.lastCkpt, unixSeconds(last))
	}
	if obs.last.CheckpointID != 0 {
		gauge(c.lastCkptDuration, obs.last.Duration.Seconds())
		gauge(c.lastCkptID, float64(obs.last.CheckpointID))
	}
	if b, ok := s.cachedStateBytes(st.Tasks); ok {
		gauge(c.stateBytes, float64(b))
	}
	r := s.obs.slo.Report(now)
	gauge(c.sloRatio, r.Ratio)
	gauge(c.sloEvents, float64(r.Events))
	gauge(c.sloTarget, r.Target.Seconds())
	gauge(c.sloObjective, r.Objective)
	gauge(c.sloMet, boolFloat(r.Met))
	for _, col := range s.obs.collectors() {
		col.Collect(ch)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
