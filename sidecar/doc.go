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
//	                            of edit latency (p50, p99, on a scale fitted to them, with the SLO
//	                            target as a reference line when within it) and lag over the last hour
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
// set (compared in constant time); a browser cannot attach that header to
// a cross-site request without a CORS preflight, which the sidecar never
// grants. Without a token the sidecar refuses to listen on a non-loopback
// address (ErrInsecureAddr), and a POST is obeyed only when it looks like
// curl's from the same host: a loopback client, no Origin or
// Sec-Fetch-Site header (a browser sends them with every cross-site POST),
// a Host header naming loopback (127.0.0.1, [::1] or localhost, with or
// without a port: a page whose host name was re-pointed at 127.0.0.1, DNS
// rebinding, still sends its own name) and no form body
// (application/x-www-form-urlencoded, multipart/form-data or text/plain,
// what a page may POST cross-site unasked). So
// "curl -X POST http://127.0.0.1:9102/pause" works and a web page open
// in the operator's browser cannot stop the job. Every refused request
// (403, 401, or 400 for a bad savepoint name) is logged at warning level
// with its method, path, remote address and reason, never the token.
// The default address is DefaultAddr, loopback.
//
// A savepoint or stop runs detached from its request, bounded by
// WithOperationTimeout; the status codes are 409 when the job's state
// forbids it (not running, no checkpoint store, savepoint name taken), 400
// for a bad name, 504 on timeout. A savepoint name is 1-128 characters of
// [A-Za-z0-9._-], not "." or "..", and not starting with ".tmp-": the
// character set of the checkpoint package's savepoints, and the object-name
// rule of every checkpoint store (checkpoint.ValidateName).
//
// # Connections
//
// Run and Serve bound every connection, so that a flood of clients cannot
// take the job's file descriptors: a request must arrive whole within
// DefaultReadTimeout (slowloris clients are cut), be answered within
// DefaultWriteTimeout (a savepoint or stop extends this by its operation
// timeout), and a keep-alive connection idle for DefaultIdleTimeout is
// closed. At most DefaultMaxConns connections are served at once; further
// ones wait in the kernel's accept queue, holding no descriptor of the
// process, until one closes. At the cap the sidecar closes its idle
// keep-alive connections and answers with keep-alive off until half the
// slots are free, so that queued clients (a liveness probe) wait for
// requests to be served, not for idle connections to time out; and a
// connection that has sent no request for a second is closed (a real
// client sends its request as soon as it connects). WithReadTimeout, WithWriteTimeout, WithIdleTimeout and
// WithMaxConns change them. A server of the
// application's own that mounts Handler must set its own limits.
//
// # Logging
//
// The sidecar logs through WithLogger (default slog.Default()). For a
// logging pipeline that indexes the Elastic Common Schema, NewECSHandler
// writes ECS JSON lines: @timestamp, log.level, message, ecs.version,
// service.name, the job, task, topic, partition and offset attributes as
// labels.*, and errors as error.message.
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
