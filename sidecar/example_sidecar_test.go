package sidecar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sidecar"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// exampleJob stands in for a *streamkit.Job, so that the example runs
// without Kafka: it owns task 0 of topic "in", 3 records behind.
type exampleJob struct{ paused bool }

func (j *exampleJob) Name() string  { return "wdqs-updater" }
func (j *exampleJob) Group() string { return "wdqs-updater" }
func (j *exampleJob) Stats() streamkit.Stats {
	tp := source.TopicPartition{Topic: "in", Partition: 0}
	return streamkit.Stats{Processed: 42, Tasks: []int{0}, Paused: j.paused,
		Positions: source.Positions{tp: 42}, Lag: map[source.TopicPartition]int64{tp: 3}}
}
func (j *exampleJob) Pause()  { j.paused = true }
func (j *exampleJob) Resume() { j.paused = false }
func (j *exampleJob) Savepoint(_ context.Context, name string) (*streamkit.SavepointResult, error) {
	return &streamkit.SavepointResult{Name: name, Tasks: map[int]uint64{0: 17}}, nil
}
func (j *exampleJob) StopWithSavepoint(ctx context.Context, name string) (*streamkit.SavepointResult, error) {
	return j.Savepoint(ctx, name)
}
func (j *exampleJob) Stop(context.Context) error { return nil }

// Operating a job through its sidecar. A real program passes its
// *streamkit.Job (created with obs.JobOptions()) and calls sc.Run(ctx) and
// sc.StopOnSignal(ctx) next to job.Run(ctx); here the handler is served
// by httptest.
func ExampleNew() {
	obs, err := sidecar.NewObserver() // the WDQS SLO: 99 % of edits within 10 minutes, over 1 hour
	if err != nil {
		panic(err)
	}
	// The job committed a checkpoint holding two edits, 2 s and 15 min old.
	now := time.Now()
	obs.OnCheckpoint(streamkit.CheckpointEvent{Task: 0, CheckpointID: 17, Records: 2, Committed: now,
		EventTimes: []time.Time{now.Add(-2 * time.Second), now.Add(-15 * time.Minute)}})

	sc, err := sidecar.New(&exampleJob{}, sidecar.WithObserver(obs), sidecar.WithToken("s3cret"),
		sidecar.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(sc.Handler())
	defer srv.Close()

	call := func(method, path, token string) string {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Println(call("GET", "/readyz", ""))
	fmt.Println(call("POST", "/pause", "")[:3]) // no token
	fmt.Println(call("POST", "/pause", "s3cret"))

	var st sidecar.Status
	_ = json.Unmarshal([]byte(call("GET", "/status", "")[4:]), &st)
	fmt.Printf("%s: %s, lag %d, SLO %.0f%% of %d edits within %v (met: %v)\n",
		st.Job, st.State, st.LagTotal, 100*st.SLO.Ratio, st.SLO.Events,
		time.Duration(st.SLO.TargetSeconds)*time.Second, st.SLO.Met)

	var sp sidecar.SavepointResponse
	_ = json.Unmarshal([]byte(call("POST", "/savepoint?name=before-upgrade", "s3cret")[4:]), &sp)
	fmt.Println("savepoint", sp.Savepoint, "pins checkpoint", sp.Tasks["0"], "of task 0")
	// Output:
	// 200 ready: consuming 1 tasks, lag 3 records past the commit points
	// 401
	// 200 {
	//   "paused": true
	// }
	// wdqs-updater: paused, lag 3, SLO 50% of 2 edits within 10m0s (met: false)
	// savepoint before-upgrade pins checkpoint 17 of task 0
}

// A LatencySLO on its own: the share of edits committed within the target
// over a sliding window, from per-minute counters.
func ExampleLatencySLO() {
	slo, err := sidecar.NewLatencySLO(10*time.Minute, 0.99, time.Hour)
	if err != nil {
		panic(err)
	}
	t0 := time.Date(2026, 1, 25, 14, 0, 0, 0, time.UTC)
	for i := range 200 {
		slo.Observe(t0.Add(time.Duration(i)*time.Second), 3*time.Second)
	}
	slo.Observe(t0.Add(time.Minute), 12*time.Minute) // one late edit
	r := slo.Report(t0.Add(5 * time.Minute))
	fmt.Printf("%d of %d within %v: %.2f%%, objective met: %v\n", r.UnderTarget, r.Events, r.Target, 100*r.Ratio, r.Met)
	// An hour later the late edit has left the window.
	r = slo.Report(t0.Add(time.Hour + time.Minute))
	fmt.Printf("%d of %d within %v: %.2f%%, objective met: %v\n", r.UnderTarget, r.Events, r.Target, 100*r.Ratio, r.Met)
	// Output:
	// 200 of 201 within 10m0s: 99.50%, objective met: true
	// 80 of 80 within 10m0s: 100.00%, objective met: true
}
