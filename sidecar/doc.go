// Package sidecar is the HTTP control plane beside a running streamkit job:
// health and readiness probes, Prometheus metrics, a JSON status, a status
// page, the operator actions (savepoint, stop, pause, resume), the
// Kubernetes termination path, and the edit-latency SLO. It knows nothing of
// how a job works inside: it sees a job through Controller (which
// *streamkit.Job implements) and the job's hooks (through an Observer).
//
// # Wiring
//
// The hooks are options of streamkit.NewJob and the sidecar needs the job,
// so an Observer comes first:
//
//	obs, _ := sidecar.NewObserver()                    // WDQS SLO: 99 % within 10 min over 1 h
//	job, _ := streamkit.NewJob(name, in, newOut, newProc, append(opts, obs.JobOptions()...)...)
//	sps, _ := sidecar.NewStoreSavepoints(store, name)
//	sc, _ := sidecar.New(job, sidecar.WithObserver(obs), sidecar.WithSavepoints(sps),
//		sidecar.WithToken(os.Getenv("SIDECAR_TOKEN")), sidecar.WithSavepointOnSignal())
//	go sc.Run(ctx)
//	go sc.StopOnSignal(ctx)
//	err := job.Run(ctx)
//
// # Endpoints
//
//	GET  /                      status page: state, SLO, partitions, savepoints, and inline SVG charts
//	                            of edit latency (p50, p99, target) and lag over the last hour
//	GET  /healthz               200 while the process serves (liveness)
//	GET  /readyz                200 when restored and consuming, 503 with the reason otherwise
//	GET  /metrics               Prometheus, from the sidecar's own registry (streamkit_* names)
//	GET  /status                JSON: job, group, state, tasks, positions and lag per partition,
//	                            last checkpoint ID/time/duration/state size per task, savepoints, SLO
//	POST /savepoint?name=N      savepoint of every task of this instance; the job keeps running
//	POST /stop                  drain, commit and stop
//	POST /stop?savepoint=N      stop with a savepoint at the same barrier (empty N: from the template)
//	POST /pause, POST /resume   hold and release the input without leaving the consumer group
//
// The POST endpoints need "Authorization: Bearer <token>" when a token is
// set (compared in constant time); without a token they accept loopback
// clients only, and the sidecar refuses to listen on a non-loopback address
// (ErrInsecureAddr). The default address is DefaultAddr, loopback. A savepoint
// or stop runs detached from its request, bounded by WithOperationTimeout;
// the status codes are 409 when the job's state forbids it (not running, no
// checkpoint store, savepoint name taken), 400 for a bad name, 504 on timeout.
//
// Savepoints and state sizes come from the checkpoint store through
// NewStoreSavepoints (a SavepointLister and StateSizer over a
// checkpoint.Store), cached so that a status page refreshed every few
// seconds does not list a Swift container each time.
//
// # Readiness
//
// /readyz succeeds when the instance owns tasks (the job lists a task only
// after restoring its state and seeking to its commit point), the last
// checkpoint attempt did not fail, and the total lag is at most
// WithMaxReadyLag records; a paused job is exempt from the lag rule. An
// instance without tasks is not ready, unless WithIdleReady makes a
// long-idle instance a ready standby (more instances than tasks). Readiness
// does not wait for a first checkpoint after start: restore already
// happened when a task is listed, and a job on a quiet stream commits
// nothing, so that rule would keep it unready for as long as nobody edits.
// /healthz only says the process serves; a program should exit when
// job.Run returns.
//
// # Termination
//
// StopOnSignal waits for SIGTERM (or SIGINT) and stops the job: with a
// savepoint named by the template ("{job}-{time}", e.g.
// "wdqs-updater-20260125T143000Z") when WithSavepointOnSignal is set, else
// with a plain Stop, which still drains and commits. Either way nothing is
// lost; the savepoint is what a rollback starts from.
//
// # Edit-latency SLO
//
// For every record a checkpoint commits, the Observer takes the commit time
// minus the record's event time (streamkit.CheckpointEvent.EventTimes): the
// time from an edit to its output being visible. It feeds the histogram
// streamkit_edit_latency_seconds and a LatencySLO: a ring of per-minute
// counters (no per-event memory) that reports the share of the window's
// records within the target (streamkit_edit_latency_slo_ratio), whether it
// meets the objective, and p50/p99. The default is the WDQS SLO: 99 % of
// edits within 10 minutes, over the last hour.
package sidecar
