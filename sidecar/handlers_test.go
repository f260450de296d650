package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// fakeJob is a Controller whose stats the test sets and whose operations
// it records.
type fakeJob struct {
	mu      sync.Mutex
	stats   streamkit.Stats
	calls   []string
	err     error // returned by the next operations
	stopped bool
}

func (f *fakeJob) Name() string  { return "counts" }
func (f *fakeJob) Group() string { return "counts-group" }
func (f *fakeJob) Stats() streamkit.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}
func (f *fakeJob) set(fn func(*streamkit.Stats)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.stats)
}
func (f *fakeJob) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	if f.err != nil {
		return f.err
	}
	if f.stopped && !strings.HasPrefix(call, "pause") && !strings.HasPrefix(call, "resume") {
		return streamkit.ErrNotRunning
	}
	return nil
}
func (f *fakeJob) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}
func (f *fakeJob) Pause() { _ = f.record("pause"); f.set(func(s *streamkit.Stats) { s.Paused = true }) }
func (f *fakeJob) Resume() {
	_ = f.record("resume")
	f.set(func(s *streamkit.Stats) { s.Paused = false })
}
func (f *fakeJob) Savepoint(ctx context.Context, name string) (*streamkit.SavepointResult, error) {
	if err := f.record("savepoint " + name); err != nil {
		return nil, err
	}
	return &streamkit.SavepointResult{Name: name, Tasks: map[int]uint64{0: 7, 1: 9}}, nil
}
func (f *fakeJob) StopWithSavepoint(ctx context.Context, name string) (*streamkit.SavepointResult, error) {
	if err := f.record("stop-savepoint " + name); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	return &streamkit.SavepointResult{Name: name, Tasks: map[int]uint64{0: 8}}, nil
}
func (f *fakeJob) Stop(ctx context.Context) error {
	if err := f.record("stop"); err != nil {
		return err
	}
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	return nil
}

var (
	tpIn0 = source.TopicPartition{Topic: "in", Partition: 0}
	tpIn1 = source.TopicPartition{Topic: "in", Partition: 1}
)

func runningJob() *fakeJob {
	return &fakeJob{stats: streamkit.Stats{Processed: 120, DeadLettered: 2, Checkpoints: 5, Restarts: 1,
		Tasks: []int{0, 1}, LastCheckpoint: t0,
		Watermark: t0.Add(-time.Minute),
		Positions: source.Positions{tpIn0: 60, tpIn1: 62},
		Lag:       map[source.TopicPartition]int64{tpIn0: 3, tpIn1: 4}}}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newTestSidecar returns a sidecar on a fake clock at t0.
func newTestSidecar(t *testing.T, job Controller, opts ...Option) *Sidecar {
	t.Helper()
	sc, err := New(job, append([]Option{WithLogger(quietLogger())}, opts...)...)
	require.NoError(t, err)
	sc.now = func() time.Time { return t0 }
	sc.started = t0
	return sc
}

type response struct {
	code int
	body string
	hdr  http.Header
}

// do serves one request from remote (a loopback client by default).
func do(t *testing.T, h http.Handler, method, target, token string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Host = "127.0.0.1:9102"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Body.String(), rec.Header()}
}

func TestNewRefusesNonLoopbackWithoutToken(t *testing.T) {
	for _, addr := range []string{":9102", "0.0.0.0:9102", "10.64.0.12:9102", "[::]:9102", "sidecar.example.org:9102"} {
		t.Run(addr, func(t *testing.T) {
			_, err := New(&fakeJob{}, WithAddr(addr))
			require.ErrorIs(t, err, ErrInsecureAddr)
			assert.Contains(t, err.Error(), addr)
			_, err = New(&fakeJob{}, WithAddr(addr), WithToken("s3cret"))
			require.NoError(t, err)
		})
	}
	for _, addr := range []string{"127.0.0.1:9102", "[::1]:0", "localhost:9102", "127.0.0.2:1"} {
		_, err := New(&fakeJob{}, WithAddr(addr))
		require.NoError(t, err, addr)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string][]Option{
		"no port":            {WithAddr("127.0.0.1")},
		"negative lag":       {WithMaxReadyLag(-1)},
		"zero timeout":       {WithOperationTimeout(0)},
		"negative idle":      {WithIdleReady(-time.Second)},
		"token with space":   {WithToken("a b")},
		"bad template":       {WithSavepointTemplate("{job}/{time}")},
		"empty template":     {WithSavepointTemplate("")},
		"nil logger":         {WithLogger(nil)},
		"bad SLO (observer)": nil,
	} {
		t.Run(name, func(t *testing.T) {
			if opts == nil {
				_, err := NewObserver(WithSLO(0, 0.99, time.Hour))
				require.ErrorIs(t, err, ErrInvalidOption)
				return
			}
			_, err := New(&fakeJob{}, opts...)
			require.ErrorIs(t, err, ErrInvalidOption)
		})
	}
	_, err := New(nil)
	require.ErrorIs(t, err, ErrInvalidOption)
}

func TestServeRefusesNonLoopbackListenerWithoutToken(t *testing.T) {
	sc := newTestSidecar(t, runningJob())
	l, err := net.Listen("tcp", "0.0.0.0:0")
	require.NoError(t, err)
	err = sc.Serve(context.Background(), l)
	require.ErrorIs(t, err, ErrInsecureAddr)
	_, err = l.Accept()
	require.Error(t, err, "Serve closes the listener it refuses")
}

func TestMutatingEndpointsNeedTheBearerToken(t *testing.T) {
	job := runningJob()
	h := newTestSidecar(t, job, WithToken("s3cret")).Handler()
	for _, target := range []string{"/pause", "/resume", "/savepoint?name=x", "/stop", "/stop?savepoint=y"} {
		for _, tok := range []string{"", "wrong", "s3cret-but-longer", "s3cre"} {
			r := do(t, h, http.MethodPost, target, tok)
			assert.Equal(t, http.StatusUnauthorized, r.code, "%s with token %q", target, tok)
			assert.Equal(t, `Bearer realm="streamkit-sidecar"`, r.hdr.Get("WWW-Authenticate"))
		}
		// Another scheme is refused too.
		req := httptest.NewRequest(http.MethodPost, target, nil)
		req.Header.Set("Authorization", "Basic s3cret")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
	}
	assert.Empty(t, job.Calls(), "no operation ran without the token")

	assert.Equal(t, http.StatusOK, do(t, h, http.MethodPost, "/pause", "s3cret").code)
	assert.Equal(t, http.StatusOK, do(t, h, http.MethodPost, "/resume", "s3cret").code)
	assert.Equal(t, []string{"pause", "resume"}, job.Calls())
	// Read-only endpoints need no token.
	for _, target := range []string{"/healthz", "/readyz", "/status", "/metrics", "/"} {
		assert.Equal(t, http.StatusOK, do(t, h, http.MethodGet, target, "").code, target)
	}
}

func TestWithoutTokenOnlyLoopbackClientsMayMutate(t *testing.T) {
	job := runningJob()
	h := newTestSidecar(t, job).Handler()
	req := httptest.NewRequest(http.MethodPost, "/pause", nil)
	req.RemoteAddr = "10.1.2.3:4444" // Handler mounted in a server of the application's own
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Empty(t, job.Calls())

	for _, remote := range []string{"127.0.0.1:1", "[::1]:2"} {
		req := httptest.NewRequest(http.MethodPost, "/pause", nil)
		req.RemoteAddr = remote
		req.Host = "localhost:9102"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusOK, rec.Code, remote)
	}
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	h := newTestSidecar(t, runningJob()).Handler()
	r := do(t, h, http.MethodGet, "/pause", "")
	assert.Equal(t, http.StatusMethodNotAllowed, r.code)
	assert.Equal(t, "POST", r.hdr.Get("Allow"))
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, h, http.MethodPost, "/status", "").code)
	assert.Equal(t, http.StatusNotFound, do(t, h, http.MethodGet, "/nope", "").code)
}

func TestSavepointAndStopEndpoints(t *testing.T) {
	job := runningJob()
	sc := newTestSidecar(t, job)
	h := sc.Handler()

	r := do(t, h, http.MethodPost, "/savepoint?name=before-upgrade", "")
	require.Equal(t, http.StatusOK, r.code, r.body)
	var sp SavepointResponse
	require.NoError(t, json.Unmarshal([]byte(r.body), &sp))
	assert.Equal(t, SavepointResponse{Savepoint: "before-upgrade", Tasks: map[string]uint64{"0": 7, "1": 9}}, sp)

	// Without a name: the template, "{job}-{time}" at the fake clock.
	r = do(t, h, http.MethodPost, "/savepoint", "")
	require.Equal(t, http.StatusOK, r.code, r.body)
	require.NoError(t, json.Unmarshal([]byte(r.body), &sp))
	assert.Equal(t, "counts-20260125T140000Z", sp.Savepoint)

	r = do(t, h, http.MethodPost, "/savepoint?name=../etc", "")
	assert.Equal(t, http.StatusBadRequest, r.code)
	assert.Contains(t, r.body, `invalid savepoint name \"../etc\"`)
	for _, name := range []string{".", ".."} {
		r = do(t, h, http.MethodPost, "/savepoint?name="+name, "")
		assert.Equal(t, http.StatusBadRequest, r.code, name)
		assert.Contains(t, r.body, `not \".\" or \"..\"`, name)
	}

	r = do(t, h, http.MethodPost, "/stop?savepoint=final", "")
	require.Equal(t, http.StatusOK, r.code, r.body)
	sp = SavepointResponse{}
	require.NoError(t, json.Unmarshal([]byte(r.body), &sp))
	assert.Equal(t, SavepointResponse{Savepoint: "final", Tasks: map[string]uint64{"0": 8}, Stopped: true}, sp)

	// The job is stopped now: further operations conflict.
	r = do(t, h, http.MethodPost, "/stop", "")
	assert.Equal(t, http.StatusConflict, r.code)
	assert.Contains(t, r.body, "sidecar: stop: streamkit: job is not running")
	assert.Equal(t, []string{"savepoint before-upgrade", "savepoint counts-20260125T140000Z", "stop-savepoint final", "stop"}, job.Calls())
}

func TestOperationErrorsMapToStatusCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{streamkit.ErrNotRunning, http.StatusConflict},
		{fmt.Errorf("wrapped: %w", streamkit.ErrNoCheckpointStore), http.StatusConflict},
		{fmt.Errorf("checkpoint: savepoint x: %w", checkpoint.ErrExist), http.StatusConflict},
		{checkpoint.ErrInvalidName, http.StatusBadRequest},
		{context.DeadlineExceeded, http.StatusGatewayTimeout},
		{errors.New("swift: 503"), http.StatusInternalServerError},
	} {
		job := runningJob()
		job.err = tc.err
		h := newTestSidecar(t, job).Handler()
		for _, target := range []string{"/savepoint?name=a", "/stop?savepoint=b", "/stop"} {
			r := do(t, h, http.MethodPost, target, "")
			assert.Equal(t, tc.code, r.code, "%s: %v", target, tc.err)
			var body map[string]string
			require.NoError(t, json.Unmarshal([]byte(r.body), &body))
			assert.Contains(t, body["error"], tc.err.Error())
		}
	}
}

func TestStopOperationOutlivesTheRequest(t *testing.T) {
	var got context.Context
	var gotErr error
	job := &ctxJob{fakeJob: runningJob(), seen: func(ctx context.Context) { got, gotErr = ctx, ctx.Err() }}
	h := newTestSidecar(t, job, WithOperationTimeout(time.Minute)).Handler()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client already hung up
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/stop", nil)
	req.RemoteAddr = "127.0.0.1:1"
	req.Host = "127.0.0.1:9102"
	h.ServeHTTP(httptest.NewRecorder(), req)
	require.NotNil(t, got)
	assert.NoError(t, gotErr, "the stop runs on a context detached from the request")
	dl, ok := got.Deadline()
	require.True(t, ok)
	assert.WithinDuration(t, time.Now().Add(time.Minute), dl, 10*time.Second)
}

type ctxJob struct {
	*fakeJob
	seen func(context.Context)
}

func (j *ctxJob) Stop(ctx context.Context) error { j.seen(ctx); return j.fakeJob.Stop(ctx) }

func TestReadiness(t *testing.T) {
	job := runningJob()
	obs, err := NewObserver()
	require.NoError(t, err)
	sc := newTestSidecar(t, job, WithObserver(obs), WithMaxReadyLag(10))
	h := sc.Handler()

	r := do(t, h, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "ready: consuming 2 tasks, lag 7 records past the commit points\n", r.body)

	job.set(func(s *streamkit.Stats) { s.Lag[tpIn1] = 8 })
	r = do(t, h, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.code)
	assert.Equal(t, "not ready: lag 11 records past the commit points exceeds 10\n", r.body)

	job.Pause()
	r = do(t, h, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusOK, r.code, "a paused job's lag is the operator's choice")
	assert.Contains(t, r.body, "paused")
	job.Resume()

	job.set(func(s *streamkit.Stats) { s.Lag[tpIn1] = 0 })
	obs.OnCheckpoint(streamkit.CheckpointEvent{Task: 1, CheckpointID: 6, Err: errors.New("swift: 503 Service Unavailable")})
	r = do(t, h, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.code)
	assert.Contains(t, r.body, "last checkpoint attempt failed (task 1")
	assert.Contains(t, r.body, "swift: 503")
	obs.OnCheckpoint(streamkit.CheckpointEvent{Task: 1, CheckpointID: 6, Committed: t0})
	assert.Equal(t, http.StatusOK, do(t, h, http.MethodGet, "/readyz", "").code, "a later success clears it")

	job.set(func(s *streamkit.Stats) { s.Tasks, s.Lag, s.Positions = nil, nil, nil })
	r = do(t, h, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.code)
	assert.Contains(t, r.body, "no tasks")
	// /healthz does not care.
	assert.Equal(t, http.StatusOK, do(t, h, http.MethodGet, "/healthz", "").code)
}

func TestIdleInstanceBecomesReadyStandby(t *testing.T) {
	job := runningJob()
	job.stats.Tasks, job.stats.Lag, job.stats.Positions = nil, nil, nil
	sc := newTestSidecar(t, job, WithIdleReady(time.Minute))
	now := t0
	sc.now = func() time.Time { return now }
	h := sc.Handler()
	assert.Equal(t, http.StatusServiceUnavailable, do(t, h, http.MethodGet, "/readyz", "").code)
	now = now.Add(59 * time.Second)
	assert.Equal(t, http.StatusServiceUnavailable, do(t, h, http.MethodGet, "/readyz", "").code)
	now = now.Add(time.Second)
	r := do(t, h, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "ready: standby: no tasks for 1m0s\n", r.body)
	// Owning tasks again resets the idle clock.
	job.set(func(s *streamkit.Stats) { s.Tasks = []int{0} })
	assert.Equal(t, http.StatusOK, do(t, h, http.MethodGet, "/readyz", "").code)
	job.set(func(s *streamkit.Stats) { s.Tasks = nil })
	assert.Equal(t, http.StatusServiceUnavailable, do(t, h, http.MethodGet, "/readyz", "").code)
}

func TestStatusJSON(t *testing.T) {
	job := runningJob()
	obs, err := NewObserver()
	require.NoError(t, err)
	obs.OnCheckpoint(streamkit.CheckpointEvent{Task: 0, CheckpointID: 4, Records: 2, Snapshot: 30 * time.Millisecond,
		Commit: 20 * time.Millisecond, Committed: t0.Add(-time.Minute), EventTimes: []time.Time{t0.Add(-2 * time.Minute), t0.Add(-90 * time.Second)}})
	obs.OnCheckpoint(streamkit.CheckpointEvent{Task: 1, CheckpointID: 5, Records: 1, Snapshot: 10 * time.Millisecond,
		Commit: 5 * time.Millisecond, Committed: t0.Add(-30 * time.Second), EventTimes: []time.Time{t0.Add(-20 * time.Minute)}})
	sps := &fakeLister{sps: []Savepoint{{Name: "sp1", Tasks: map[int]uint64{0: 3, 1: 3}, Created: t0.Add(-time.Hour), Saved: t0.Add(-time.Hour)}}}
	sc := newTestSidecar(t, job, WithObserver(obs), WithSavepoints(sps))
	r := do(t, sc.Handler(), http.MethodGet, "/status", "")
	require.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "application/json", r.hdr.Get("Content-Type"))
	assert.JSONEq(t, `{
	  "job": "counts", "group": "counts-group", "state": "running",
	  "ready": true, "reason": "consuming 2 tasks, lag 7 records past the commit points",
	  "tasks": [0, 1],
	  "partitions": [
	    {"topic": "in", "partition": 0, "position": 60, "lag": 3},
	    {"topic": "in", "partition": 1, "position": 62, "lag": 4}],
	  "lag_total": 7,
	  "watermark": "2026-01-25T13:59:00Z",
	  "processed": 120, "dead_lettered": 2, "checkpoints": 5, "checkpoint_failures": 0, "restarts": 1,
	  "last_checkpoint": {"task": 1, "id": 5, "time": "2026-01-25T13:59:30Z", "duration_seconds": 0.015, "records": 1},
	  "task_checkpoints": [
	    {"task": 0, "id": 4, "time": "2026-01-25T13:59:00Z", "duration_seconds": 0.05, "records": 2},
	    {"task": 1, "id": 5, "time": "2026-01-25T13:59:30Z", "duration_seconds": 0.015, "records": 1}],
	  "savepoints": [{"name": "sp1", "tasks": {"0": 3, "1": 3}, "created": "2026-01-25T13:00:00Z", "saved": "2026-01-25T13:00:00Z"}],
	  "slo": {"target_seconds": 600, "objective": 0.99, "window_seconds": 3600, "events": 3, "under_target": 2,
	          "ratio": 0.6666666666666666, "met": false, "p50_seconds": 45, "p99_seconds": 1191},
	  "uptime_seconds": 0,
	  "time": "2026-01-25T14:00:00Z"
	}`, r.body)

	// The savepoint list is cached, and a failing lister is reported, not fatal.
	do(t, sc.Handler(), http.MethodGet, "/status", "")
	assert.Equal(t, 1, sps.calls)
	sps.err = errors.New("swift: 401")
	sc.invalidateSavepoints()
	r = do(t, sc.Handler(), http.MethodGet, "/status", "")
	require.Equal(t, http.StatusOK, r.code)
	var st Status
	require.NoError(t, json.Unmarshal([]byte(r.body), &st))
	assert.Equal(t, "swift: 401", st.SavepointsError)
	assert.Empty(t, st.Savepoints)
}

type fakeLister struct {
	sps   []Savepoint
	err   error
	calls int
}

func (f *fakeLister) Savepoints(context.Context) ([]Savepoint, error) {
	f.calls++
	return f.sps, f.err
}

func TestMetrics(t *testing.T) {
	job := runningJob()
	obs, err := NewObserver()
	require.NoError(t, err)
	obs.OnCheckpoint(streamkit.CheckpointEvent{Task: 0, CheckpointID: 4, Records: 3, Snapshot: 30 * time.Millisecond,
		Commit: 20 * time.Millisecond, Committed: t0, EventTimes: []time.Time{t0.Add(-time.Second), t0.Add(-11 * time.Minute), {}}})
	obs.OnDeadLetter(streamkit.Failure{Stage: "decode", Class: "*json.SyntaxError", Err: errors.New("bad")})
	obs.OnDeadLetter(streamkit.Failure{Stage: "decode", Class: "*json.SyntaxError", Err: errors.New("bad")})
	sc := newTestSidecar(t, job, WithObserver(obs))
	r := do(t, sc.Handler(), http.MethodGet, "/metrics", "")
	require.Equal(t, http.StatusOK, r.code)
	for _, want := range []string{
		`streamkit_job_info{group="counts-group",streamkit_job="counts"} 1`,
		"streamkit_records_processed_total 120",
		"streamkit_records_dead_lettered_total 2",
		"streamkit_checkpoints_total 5",
		"streamkit_checkpoint_failures_total 0",
		"streamkit_restarts_total 1",
		"streamkit_tasks 2",
		"streamkit_paused 0",
		"streamkit_ready 1",
		`streamkit_partition_lag_records{partition="1",topic="in"} 4`,
		"streamkit_lag_records 7",
		`streamkit_partition_position{partition="0",topic="in"} 60`,
		"streamkit_watermark_timestamp_seconds 1.76934954e+09",
		"streamkit_last_checkpoint_timestamp_seconds 1.7693496e+09",
		"streamkit_last_checkpoint_duration_seconds 0.05",
		"streamkit_last_checkpoint_id 4",
		"streamkit_checkpoint_duration_seconds_count 1",
		"streamkit_edit_latency_seconds_count 2",
		`streamkit_edit_latency_seconds_bucket{le="600"} 1`,
		"streamkit_edit_latency_unknown_total 1",
		"streamkit_edit_latency_slo_ratio 0.5",
		"streamkit_edit_latency_slo_events 2",
		"streamkit_edit_latency_slo_target_seconds 600",
		"streamkit_edit_latency_slo_objective_ratio 0.99",
		"streamkit_edit_latency_slo_met 0",
		`streamkit_dead_letters_total{class="*json.SyntaxError",stage="decode"} 2`,
		"# TYPE go_goroutines gauge",
	} {
		assert.Contains(t, r.body, want+"\n")
	}
	// The registry passes Prometheus' own consistency checks.
	reg := prometheus.NewPedanticRegistry()
	_, err = New(job, WithRegistry(reg), WithObserver(obs))
	require.NoError(t, err)
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestLatencyHistogramHasTheTargetAsABucket(t *testing.T) {
	obs, err := NewObserver(WithSLO(7*time.Minute, 0.95, 30*time.Minute))
	require.NoError(t, err)
	obs.OnCheckpoint(streamkit.CheckpointEvent{Committed: t0, EventTimes: []time.Time{t0.Add(-6 * time.Minute), t0.Add(-8 * time.Minute)}})
	r := do(t, newTestSidecar(t, runningJob(), WithObserver(obs)).Handler(), http.MethodGet, "/metrics", "")
	assert.Contains(t, r.body, `streamkit_edit_latency_seconds_bucket{le="420"} 1`+"\n")
	assert.Contains(t, r.body, `streamkit_edit_latency_seconds_bucket{le="600"} 2`+"\n")
	assert.Contains(t, r.body, "streamkit_edit_latency_slo_ratio 0.5\n")
	assert.Equal(t, LatencyBuckets, latencyBucketsWith(10*time.Minute), "the default target is a bucket already")
}

func TestTwoSidecarsDoNotShareARegistry(t *testing.T) {
	_, err := New(runningJob())
	require.NoError(t, err)
	_, err = New(runningJob())
	require.NoError(t, err, "each sidecar has its own registry by default")
	reg := prometheus.NewRegistry()
	_, err = New(runningJob(), WithRegistry(reg))
	require.NoError(t, err)
	_, err = New(runningJob(), WithRegistry(reg))
	require.Error(t, err, "registering twice in one registry fails")
	assert.Contains(t, err.Error(), "sidecar: registering metrics")
}

func TestRunServesAndCloses(t *testing.T) {
	job := runningJob()
	sc := newTestSidecar(t, job, WithAddr("127.0.0.1:0"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- sc.Serve(context.Background(), l) }()
	url := "http://" + l.Addr().String()
	var body []byte
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
	assert.Equal(t, "ok\n", string(body))
	require.NoError(t, sc.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	require.ErrorIs(t, sc.Run(context.Background()), ErrClosed)

	// Run stops with its context.
	sc2 := newTestSidecar(t, job, WithAddr("127.0.0.1:0"))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- sc2.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// A port in use is an error naming it.
	sc3 := newTestSidecar(t, job, WithAddr(l.Addr().String()))
	busy, err := net.Listen("tcp", l.Addr().String())
	if err == nil { // the port is free again after Close: occupy it
		defer busy.Close()
		err = sc3.Run(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "sidecar: listening on "+l.Addr().String())
	}
}

// Readiness is about committed progress: records read but not committed
// are lag, and a job that keeps failing is not ready and says which
// component fails, in /readyz and in the metrics.
func TestReadinessCommittedProgressAndFailingComponent(t *testing.T) {
	job := runningJob()
	obs, err := NewObserver()
	require.NoError(t, err)
	sc := newTestSidecar(t, job, WithObserver(obs), WithMaxReadyLag(10))
	h := sc.Handler()

	// Read far ahead of the last commit point: 7 past the positions, plus
	// 20 read and not committed.
	job.set(func(s *streamkit.Stats) {
		s.Committed = source.Positions{tpIn0: s.Positions[tpIn0] - 10, tpIn1: s.Positions[tpIn1] - 10}
	})
	r := do(t, h, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.code)
	assert.Equal(t, "not ready: lag 27 records past the commit points exceeds 10\n", r.body)

	since := time.Date(2026, 1, 25, 13, 58, 0, 0, time.UTC)
	job.set(func(s *streamkit.Stats) {
		s.Committed = nil
		s.ConsecutiveFailures, s.FailingSince = 4, since
		s.FailingComponent, s.LastError = streamkit.ComponentCheckpointStore, "checkpoint-store: dial tcp 127.0.0.1:8080: connection refused"
	})
	r = do(t, h, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.code)
	assert.Equal(t, "not ready: failing since 2026-01-25T13:58:00Z: the checkpoint-store (4 failures in a row, retrying): "+
		"checkpoint-store: dial tcp 127.0.0.1:8080: connection refused\n", r.body)
	m := do(t, h, http.MethodGet, "/metrics", "").body
	assert.Contains(t, m, `streamkit_failing{component="checkpoint-store"} 1`)
	assert.Contains(t, m, "streamkit_consecutive_failures 4")
	assert.Contains(t, m, "streamkit_ready 0")

	job.set(func(s *streamkit.Stats) { s.ConsecutiveFailures, s.FailingComponent, s.LastError = 0, "", "" })
	r = do(t, h, http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusOK, r.code)
	assert.NotContains(t, do(t, h, http.MethodGet, "/metrics", "").body, "streamkit_failing{")
}
