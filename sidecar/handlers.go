package sidecar

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

func (s *Sidecar) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handlePage)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}}))
	mux.HandleFunc("GET /status", s.handleStatus)
	mux.HandleFunc("POST /savepoint", s.authorized(s.handleSavepoint))
	mux.HandleFunc("POST /stop", s.authorized(s.handleStop))
	mux.HandleFunc("POST /pause", s.authorized(s.handlePause))
	mux.HandleFunc("POST /resume", s.authorized(s.handleResume))
	return mux
}

// slogPrinter adapts the sidecar's logger to promhttp's error log.
type slogPrinter struct{ s *Sidecar }

func (p slogPrinter) Println(v ...any) { p.s.o.log.Warn("sidecar: metrics", "error", fmt.Sprint(v...)) }

func (s *Sidecar) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// Readiness is the verdict of /readyz with its reason.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason"`
}

// readiness decides /readyz: the job owns tasks (which it lists only once
// they are restored and seeked) or is a standby by WithIdleReady, its last
// checkpoint attempt did not fail, and its lag is under the threshold
// unless it is paused.
func (s *Sidecar) readiness(st streamkit.Stats, now time.Time) Readiness {
	s.mu.Lock()
	if len(st.Tasks) > 0 {
		s.idleSince = time.Time{}
	} else if s.idleSince.IsZero() {
		s.idleSince = now
	}
	idleSince := s.idleSince
	s.mu.Unlock()
	if st.ConsecutiveFailures > 0 {
		return Readiness{false, fmt.Sprintf("failing since %s: the %s (%d failures in a row, retrying): %s",
			st.FailingSince.UTC().Format(time.RFC3339), st.FailingComponent, st.ConsecutiveFailures, st.LastError)}
	}
	if len(st.Tasks) == 0 {
		if s.o.idleReady > 0 && now.Sub(idleSince) >= s.o.idleReady {
			return Readiness{true, fmt.Sprintf("standby: no tasks for %v", now.Sub(idleSince).Round(time.Second))}
		}
		return Readiness{false, "no tasks: not yet restored, rebalancing, or stopped"}
	}
	if f := s.obs.state().lastFail; f != nil {
		return Readiness{false, fmt.Sprintf("last checkpoint attempt failed (task %d at %s): %s",
			f.Task, f.Time.Format(time.RFC3339), f.Error)}
	}
	// Lag counts from the commit points: what was read but not committed
	// is read again after a failure, so it is not progress yet.
	var total int64
	for _, l := range st.CommittedLag() {
		total += l
	}
	if st.Paused {
		return Readiness{true, fmt.Sprintf("paused by an operator (lag %d records)", total)}
	}
	if total > s.o.maxLag {
		return Readiness{false, fmt.Sprintf("lag %d records past the commit points exceeds %d", total, s.o.maxLag)}
	}
	return Readiness{true, fmt.Sprintf("consuming %d tasks, lag %d records past the commit points", len(st.Tasks), total)}
}

func (s *Sidecar) handleReady(w http.ResponseWriter, _ *http.Request) {
	r := s.readiness(s.job.Stats(), s.now())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !r.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:", r.Reason)
		return
	}
	fmt.Fprintln(w, "ready:", r.Reason)
}

// Status is the JSON document of GET /status.
type Status struct {
	Job   string `json:"job"`
	Group string `json:"group"`
	State string `json:"state"` // "running", "paused", "idle" (no tasks) or "failing"
	Readiness
	Tasks      []int             `json:"tasks"`
	Partitions []PartitionStatus `json:"partitions"`
	// LagTotal is the sum of Partitions' lag.
	LagTotal           int64      `json:"lag_total"`
	Watermark          *time.Time `json:"watermark,omitempty"`
	Processed          int64      `json:"processed"`
	DeadLettered       int64      `json:"dead_lettered"`
	Checkpoints        int64      `json:"checkpoints"`
	CheckpointFailures int64      `json:"checkpoint_failures"`
	Restarts           int64      `json:"restarts"`
	// LastCheckpoint is the newest committed checkpoint of any task;
	// TaskCheckpoints the last of each task (both from the Observer).
	LastCheckpoint        *CheckpointStatus  `json:"last_checkpoint,omitempty"`
	TaskCheckpoints       []CheckpointStatus `json:"task_checkpoints"`
	LastCheckpointFailure *CheckpointFailure `json:"last_checkpoint_failure,omitempty"`
	// Savepoints are listed when WithSavepoints is set; SavepointsError
	// says why the list is missing when listing failed.
	Savepoints      []Savepoint `json:"savepoints,omitempty"`
	SavepointsError string      `json:"savepoints_error,omitempty"`
	// StateBytes is the size of the keyed state of this instance's tasks,
	// summed over their last checkpoints, when the lister of WithSavepoints
	// is also a StateSizer; StateError says why a size is missing.
	StateBytes int64     `json:"state_bytes,omitempty"`
	StateError string    `json:"state_error,omitempty"`
	SLO        SLOStatus `json:"slo"`
	// Uptime is how long the sidecar has been up, in seconds.
	UptimeSeconds float64   `json:"uptime_seconds"`
	Time          time.Time `json:"time"`
}

// PartitionStatus is one owned input partition.
type PartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Position  int64  `json:"position"`
	Lag       int64  `json:"lag"`
}

// CheckpointStatus is one task's last committed checkpoint.
type CheckpointStatus struct {
	Task            int       `json:"task"`
	ID              uint64    `json:"id"`
	Time            time.Time `json:"time"`
	DurationSeconds float64   `json:"duration_seconds"`
	Records         int64     `json:"records"`
	// State is the size of the task's state in that checkpoint (see
	// StateSizer); absent when unknown.
	State *StateSize `json:"state,omitempty"`
}

// SLOStatus is the edit-latency SLO in /status.
type SLOStatus struct {
	TargetSeconds float64 `json:"target_seconds"`
	Objective     float64 `json:"objective"`
	WindowSeconds float64 `json:"window_seconds"`
	Events        uint64  `json:"events"`
	UnderTarget   uint64  `json:"under_target"`
	Ratio         float64 `json:"ratio"`
	Met           bool    `json:"met"`
	P50Seconds    float64 `json:"p50_seconds"`
	P99Seconds    float64 `json:"p99_seconds"`
}

// Status returns what GET /status serves. ctx bounds the savepoint listing.
func (s *Sidecar) Status(ctx context.Context) Status {
	now := s.now()
	st := s.job.Stats()
	obs := s.obs.state()
	out := Status{Job: s.job.Name(), Group: s.job.Group(), Readiness: s.readiness(st, now),
		Tasks: st.Tasks, Partitions: []PartitionStatus{}, Processed: st.Processed, DeadLettered: st.DeadLettered,
		Checkpoints: st.Checkpoints, CheckpointFailures: st.CheckpointFailures, Restarts: st.Restarts,
		TaskCheckpoints: []CheckpointStatus{}, LastCheckpointFailure: obs.lastFail,
		UptimeSeconds: now.Sub(s.started).Seconds(), Time: now.UTC()}
	if out.Tasks == nil {
		out.Tasks = []int{}
	}
	switch {
	case len(st.Tasks) == 0:
		out.State = "idle"
	case obs.lastFail != nil:
		out.State = "failing"
	case st.Paused:
		out.State = "paused"
	default:
		out.State = "running"
	}
	tps := st.Positions.Sorted()
	for tp := range st.Lag {
		if _, ok := st.Positions[tp]; !ok {
			tps = append(tps, tp)
		}
	}
	slices.SortFunc(tps, compareTP)
	for _, tp := range tps {
		out.Partitions = append(out.Partitions, PartitionStatus{Topic: tp.Topic, Partition: tp.Partition,
			Position: st.Positions[tp], Lag: st.Lag[tp]})
		out.LagTotal += st.Lag[tp]
	}
	if !st.Watermark.IsZero() {
		wm := st.Watermark.UTC()
		out.Watermark = &wm
	}
	sizer, _ := s.o.savepoints.(StateSizer)
	for _, tc := range obs.tasks {
		cs := checkpointStatus(tc)
		if sizer != nil && slices.Contains(st.Tasks, tc.Task) {
			size, err := s.stateSize(ctx, sizer, tc.Task, tc.CheckpointID)
			if err != nil {
				out.StateError = err.Error()
			} else {
				cs.State = &size
				out.StateBytes += size.Bytes
			}
		}
		out.TaskCheckpoints = append(out.TaskCheckpoints, cs)
	}
	if obs.last.CheckpointID != 0 {
		cs := checkpointStatus(obs.last)
		for _, tc := range out.TaskCheckpoints {
			if tc.Task == cs.Task && tc.ID == cs.ID {
				cs.State = tc.State
			}
		}
		out.LastCheckpoint = &cs
	}
	if s.o.savepoints != nil {
		out.Savepoints, out.SavepointsError = s.listSavepoints(ctx)
	}
	r := s.obs.slo.Report(now)
	out.SLO = SLOStatus{TargetSeconds: r.Target.Seconds(), Objective: r.Objective, WindowSeconds: r.Window.Seconds(),
		Events: r.Events, UnderTarget: r.UnderTarget, Ratio: r.Ratio, Met: r.Met,
		P50Seconds: r.P50.Seconds(), P99Seconds: r.P99.Seconds()}
	return out
}

func compareTP(a, b source.TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition) - int(b.Partition)
}

func checkpointStatus(tc taskCheckpoint) CheckpointStatus {
	return CheckpointStatus{Task: tc.Task, ID: tc.CheckpointID, Time: tc.Committed,
		DurationSeconds: tc.Duration.Seconds(), Records: tc.Records}
}

// savepointCacheTTL keeps a status page refreshed every few seconds from
// listing a Swift container each time; a savepoint taken through the
// sidecar invalidates the cache.
const savepointCacheTTL = 30 * time.Second

func (s *Sidecar) listSavepoints(ctx context.Context) ([]Savepoint, string) {
	s.spMu.Lock()
	defer s.spMu.Unlock()
	now := s.now()
	if s.spAt.IsZero() || now.Sub(s.spAt) > savepointCacheTTL || now.Before(s.spAt) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s.spCache, s.spErr = s.o.savepoints.Savepoints(ctx)
		s.spAt = now
	}
	if s.spErr != nil {
		return nil, s.spErr.Error()
	}
	return slices.Clone(s.spCache), ""
}

// stateSize returns the state size of a task's checkpoint, from the cache
// when it was read before (a checkpoint never changes).
func (s *Sidecar) stateSize(ctx context.Context, sizer StateSizer, task int, id uint64) (StateSize, error) {
	s.spMu.Lock()
	defer s.spMu.Unlock()
	if e, ok := s.sizes[task]; ok && e.id == id {
		return e.size, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	size, err := sizer.StateSize(ctx, task, id)
	if err != nil {
		return StateSize{}, err
	}
	if s.sizes == nil {
		s.sizes = make(map[int]sizeEntry)
	}
	s.sizes[task] = sizeEntry{id: id, size: size}
	return size, nil
}

// cachedStateBytes sums the cached state sizes of tasks: what /metrics
// reports, without reading the store on a scrape.
func (s *Sidecar) cachedStateBytes(tasks []int) (int64, bool) {
	s.spMu.Lock()
	defer s.spMu.Unlock()
	var total int64
	found := false
	for _, t := range tasks {
		if e, ok := s.sizes[t]; ok {
			total += e.size.Bytes
			found = true
		}
	}
	return total, found
}

func (s *Sidecar) invalidateSavepoints() {
	s.spMu.Lock()
	s.spAt = time.Time{}
	s.spMu.Unlock()
}

func (s *Sidecar) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Status(r.Context()))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// errorBody is the JSON of every failed request to a mutating endpoint.
type errorBody struct {
	Error string `json:"error"`
}

// authorized guards a mutating endpoint (see refusal) and logs every
// request it refuses, at warning level, with the reason but never the
// token.
func (s *Sidecar) authorized(h http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256([]byte(s.o.token))
	return func(w http.ResponseWriter, r *http.Request) {
		if code, reason := s.refusal(r, want); code != 0 {
			s.o.log.Warn("sidecar: request refused", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "reason", reason)
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="streamkit-sidecar"`)
			}
			writeJSON(w, code, errorBody{"sidecar: " + reason})
			return
		}
		h(w, r)
	}
}

// refusal decides whether a mutating request may run: 0 if it may, else
// the status code and the reason.
//
// With a token, the request must carry it as a bearer token (compared in
// constant time, over SHA-256 digests so that not even the length leaks). A
// browser cannot add that header to a cross-site request without a CORS
// preflight, which the sidecar never grants.
//
// Without a token, the request must come from a loopback client and look
// like curl's, not a browser's: no Origin or Sec-Fetch-Site header (a
// browser sends them with every cross-site POST), no form body (the
// content types a page may POST cross-site without asking), and a Host
// header naming loopback (127.0.0.1, [::1] or localhost, with or without
// a port), so that a page whose host name an attacker re-points at
// 127.0.0.1 (DNS rebinding) is refused too.
func (s *Sidecar) refusal(r *http.Request, want [sha256.Size]byte) (int, string) {
	if s.o.token != "" {
		auth := r.Header.Get("Authorization")
		scheme, tok, ok := strings.Cut(auth, " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		switch {
		case auth == "":
			return http.StatusUnauthorized, "missing bearer token (send Authorization: Bearer <token>)"
		case !ok || !strings.EqualFold(scheme, "Bearer"):
			return http.StatusUnauthorized, "authorization is not a bearer token (send Authorization: Bearer <token>)"
		case subtle.ConstantTimeCompare(got[:], want[:]) != 1:
			return http.StatusUnauthorized, "wrong bearer token"
		}
		return 0, ""
	}
	const curl = "; without a token the sidecar only obeys requests such as: curl -X POST http://127.0.0.1:PORT/..."
	switch {
	case !loopbackRemote(r.RemoteAddr):
		return http.StatusForbidden, "mutating endpoints without a token only accept loopback clients"
	case r.Header.Get("Origin") != "":
		return http.StatusForbidden, fmt.Sprintf("cross-origin request (Origin %q)%s", r.Header.Get("Origin"), curl)
	case r.Header.Get("Sec-Fetch-Site") != "":
		return http.StatusForbidden, fmt.Sprintf("browser request (Sec-Fetch-Site %q)%s", r.Header.Get("Sec-Fetch-Site"), curl)
	case !loopbackHostHeader(r.Host):
		return http.StatusForbidden, fmt.Sprintf("Host %q is not 127.0.0.1, [::1] or localhost (DNS rebinding)%s", r.Host, curl)
	case isFormContentType(r.Header.Get("Content-Type")):
		return http.StatusForbidden, fmt.Sprintf("form body (Content-Type %q), as a browser form sends; the endpoints take no body%s",
			r.Header.Get("Content-Type"), curl)
	}
	return 0, ""
}

func loopbackRemote(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHostHeader reports whether a Host header names loopback: a
// loopback IP or "localhost", with or without a port.
func loopbackHostHeader(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isFormContentType reports the content types a web page may POST to
// another site without a CORS preflight.
func isFormContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(strings.ToLower(strings.TrimSpace(ct)), ";")
		mt = strings.TrimSpace(mt)
	}
	switch mt {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return true
	}
	return false
}

// SavepointResponse is the JSON answer of POST /savepoint and POST /stop.
type SavepointResponse struct {
	// Savepoint is the savepoint name; empty for a plain stop.
	Savepoint string `json:"savepoint,omitempty"`
	// Tasks maps each task of this instance to the checkpoint ID pinned.
	Tasks map[string]uint64 `json:"tasks,omitempty"`
	// Stopped reports that the job was stopped.
	Stopped bool `json:"stopped"`
}

func savepointResponse(res *streamkit.SavepointResult, stopped bool) SavepointResponse {
	out := SavepointResponse{Stopped: stopped}
	if res != nil {
		out.Savepoint = res.Name
		out.Tasks = make(map[string]uint64, len(res.Tasks))
		for t, id := range res.Tasks {
			out.Tasks[strconv.Itoa(t)] = id
		}
	}
	return out
}

// opContext detaches an operation from its request (a client that hangs up
// must not abort a stop half-way) and bounds it.
func (s *Sidecar) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.o.opTimeout)
}

// savepointNameParam returns the savepoint name of a request, or one from
// the template when the parameter is absent or empty.
func (s *Sidecar) savepointNameParam(r *http.Request, param string) (string, error) {
	name := r.URL.Query().Get(param)
	if name == "" {
		name = s.SavepointName(s.now())
	}
	if err := validateSavepointName(name); err != nil {
		return "", err
	}
	return name, nil
}

// badRequest answers 400 and logs the refusal like authorized does.
func (s *Sidecar) badRequest(w http.ResponseWriter, r *http.Request, err error) {
	s.o.log.Warn("sidecar: request refused", "method", r.Method, "path", r.URL.Path,
		"remote", r.RemoteAddr, "reason", strings.TrimPrefix(err.Error(), "sidecar: "))
	writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
}

func (s *Sidecar) handleSavepoint(w http.ResponseWriter, r *http.Request) {
	name, err := s.savepointNameParam(r, "name")
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	s.extendDeadlines(w)
	ctx, cancel := s.opContext(r.Context())
	defer cancel()
	s.o.log.Info("sidecar: savepoint requested", "job", s.job.Name(), "savepoint", name, "remote", r.RemoteAddr)
	res, err := s.job.Savepoint(ctx, name)
	s.invalidateSavepoints()
	if err != nil {
		s.writeOpError(w, "savepoint "+name, err)
		return
	}
	writeJSON(w, http.StatusOK, savepointResponse(res, false))
}

func (s *Sidecar) handleStop(w http.ResponseWriter, r *http.Request) {
	s.extendDeadlines(w)
	ctx, cancel := s.opContext(r.Context())
	defer cancel()
	if !r.URL.Query().Has("savepoint") {
		s.o.log.Info("sidecar: stop requested", "job", s.job.Name(), "remote", r.RemoteAddr)
		if err := s.job.Stop(ctx); err != nil {
			s.writeOpError(w, "stop", err)
			return
		}
		writeJSON(w, http.StatusOK, savepointResponse(nil, true))
		return
	}
	name, err := s.savepointNameParam(r, "savepoint")
	if err != nil {
		s.badRequest(w, r, err)
		return
	}
	s.o.log.Info("sidecar: stop with savepoint requested", "job", s.job.Name(), "savepoint", name, "remote", r.RemoteAddr)
	res, err := s.job.StopWithSavepoint(ctx, name)
	s.invalidateSavepoints()
	if err != nil {
		s.writeOpError(w, "stop with savepoint "+name, err)
		return
	}
	writeJSON(w, http.StatusOK, savepointResponse(res, true))
}

func (s *Sidecar) handlePause(w http.ResponseWriter, r *http.Request) {
	s.o.log.Info("sidecar: pause requested", "job", s.job.Name(), "remote", r.RemoteAddr)
	s.job.Pause()
	writeJSON(w, http.StatusOK, map[string]bool{"paused": true})
}

func (s *Sidecar) handleResume(w http.ResponseWriter, r *http.Request) {
	s.o.log.Info("sidecar: resume requested", "job", s.job.Name(), "remote", r.RemoteAddr)
	s.job.Resume()
	writeJSON(w, http.StatusOK, map[string]bool{"paused": false})
}

// writeOpError maps a job error to an HTTP status: 409 when the job's state
// forbids the operation (not running, no checkpoint store, name taken),
// 400 for a name the store refuses, 504 on timeout, 500 otherwise.
func (s *Sidecar) writeOpError(w http.ResponseWriter, op string, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, streamkit.ErrNotRunning), errors.Is(err, streamkit.ErrNoCheckpointStore),
		errors.Is(err, checkpoint.ErrExist):
		code = http.StatusConflict
	case errors.Is(err, checkpoint.ErrInvalidName):
		code = http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	s.o.log.Warn("sidecar: operation failed", "job", s.job.Name(), "op", op, "error", err)
	writeJSON(w, code, errorBody{fmt.Sprintf("sidecar: %s: %v", op, err)})
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
