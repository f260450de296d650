package sidecar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sidecar"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// counter counts records per key and emits "key=count" for each one.
type counter struct {
	out    streamkit.RecordSender
	counts *checkpoint.Table[string, int64]
}

func (c *counter) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{c.counts} }

func (c *counter) Process(ctx context.Context, rec *source.Record) error {
	n, _ := c.counts.Get(string(rec.Key))
	n++
	c.counts.Set(string(rec.Key), n)
	return c.out.Send(ctx, streamkit.KafkaRecord{Topic: "out", Key: rec.Key,
		Value: []byte(string(rec.Key) + "=" + strconv.FormatInt(n, 10))})
}

func newCounterJob(t *testing.T, cl *kafkatest.Cluster, store checkpoint.Store, opts ...streamkit.Option) *streamkit.Job {
	t.Helper()
	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"in"},
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig())}}
	outCfg := streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}
	opts = append([]streamkit.Option{streamkit.WithCheckpointStore(store),
		streamkit.WithCheckpointInterval(200 * time.Millisecond)}, opts...)
	job, err := streamkit.NewJob("counts", in, streamkit.KafkaOutputs(outCfg),
		func(info streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
			return &counter{out: out, counts: checkpoint.NewTable[string, int64]("counts", 1)}, nil
		}, opts...)
	require.NoError(t, err)
	return job
}

// produce writes records from..to-1 over five keys with the given event
// (Kafka) time.
func produce(t *testing.T, ctx context.Context, cl *kafkatest.Cluster, from, to int, ts time.Time) {
	t.Helper()
	var recs []kafkatest.Record
	for i := from; i < to; i++ {
		recs = append(recs, kafkatest.Record{Key: []byte("k" + strconv.Itoa(i%5)), Value: []byte("x"), Timestamp: ts})
	}
	require.NoError(t, cl.ProduceKeyed(ctx, "in", recs...))
}

// client talks to a sidecar over real HTTP.
type client struct {
	t     *testing.T
	base  string
	token string
}

func (c client) do(method, path string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	require.NoError(c.t, err)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, string(body)
}

func (c client) status() sidecar.Status {
	c.t.Helper()
	code, body := c.do(http.MethodGet, "/status")
	require.Equal(c.t, http.StatusOK, code, body)
	var st sidecar.Status
	require.NoError(c.t, json.Unmarshal([]byte(body), &st), body)
	return st
}

func (c client) eventually(what string, cond func(sidecar.Status) bool) sidecar.Status {
	c.t.Helper()
	var st sidecar.Status
	require.Eventually(c.t, func() bool { st = c.status(); return cond(st) }, 45*time.Second, 50*time.Millisecond,
		"%s; last status: %+v", what, &st)
	return st
}

// TestSidecarDrivesARealJob runs a counting job on an in-process Kafka
// cluster and operates it only over the sidecar's HTTP API: readiness,
// status, metrics, pause and resume, a savepoint, and stop with a
// savepoint; then checks the output is exactly once and the savepoint
// holds the final positions.
func TestSidecarDrivesARealJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	require.NoError(t, cl.CreateTopic(ctx, "in", 2))
	require.NoError(t, cl.CreateTopic(ctx, "out", 2))
	store := checkpoint.NewMemoryStore()

	// 10 edits from 20 minutes ago (a backlog: over the 10-minute target)
	// and 40 fresh ones.
	produce(t, ctx, cl, 0, 10, time.Now().Add(-20*time.Minute))
	produce(t, ctx, cl, 10, 50, time.Now())

	obs, err := sidecar.NewObserver()
	require.NoError(t, err)
	job := newCounterJob(t, cl, store, obs.JobOptions()...)
	sps, err := sidecar.NewStoreSavepoints(store, job.Name())
	require.NoError(t, err)
	sc, err := sidecar.New(job, sidecar.WithObserver(obs), sidecar.WithSavepoints(sps), sidecar.WithToken("t0k3n"))
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- sc.Serve(ctx, l) }()
	defer func() { require.NoError(t, sc.Close()); require.NoError(t, <-served) }()
	c := client{t: t, base: "http://" + l.Addr().String(), token: "t0k3n"}

	code, _ := c.do(http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before the job runs")
	ran := make(chan error, 1)
	go func() { ran <- job.Run(ctx) }()

	st := c.eventually("50 records processed and committed", func(st sidecar.Status) bool {
		return st.Processed == 50 && st.SLO.Events == 50 && st.LagTotal == 0 && len(st.Partitions) == 2
	})
	assert.Equal(t, "counts", st.Job)
	assert.Equal(t, "counts", st.Group)
	assert.Equal(t, "running", st.State)
	assert.Equal(t, []int{0, 1}, st.Tasks)
	assert.Equal(t, int64(50), st.Partitions[0].Position+st.Partitions[1].Position)
	require.NotNil(t, st.LastCheckpoint)
	assert.NotZero(t, st.LastCheckpoint.ID)
	assert.WithinDuration(t, time.Now(), st.LastCheckpoint.Time, time.Minute)
	require.NotNil(t, st.LastCheckpoint.State, "state size from the checkpoint store: %s", st.StateError)
	assert.Positive(t, st.LastCheckpoint.State.Bytes)
	assert.Positive(t, st.StateBytes)
	assert.Equal(t, uint64(40), st.SLO.UnderTarget, "the 10 old edits miss the target")
	assert.InDelta(t, 0.8, st.SLO.Ratio, 1e-9)
	assert.False(t, st.SLO.Met)
	code, body := c.do(http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusOK, code, body)

	code, body = c.do(http.MethodGet, "/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{"streamkit_records_processed_total 50\n", "streamkit_edit_latency_seconds_count 50\n",
		"streamkit_edit_latency_slo_ratio 0.8\n", "streamkit_tasks 2\n", "streamkit_state_bytes ", `streamkit_partition_lag_records{partition="1",topic="in"} 0` + "\n"} {
		assert.Contains(t, body, want)
	}

	// Pause over HTTP (the token is required), then resume.
	code, _ = client{t: t, base: c.base}.do(http.MethodPost, "/pause")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body = c.do(http.MethodPost, "/pause")
	require.Equal(t, http.StatusOK, code, body)
	st = c.eventually("paused", func(st sidecar.Status) bool { return st.State == "paused" })
	produce(t, ctx, cl, 50, 60, time.Now())
	// Nothing is processed while paused. (Lag is not checked here: the
	// source's lag comes from sarama's fetch responses, and a paused
	// partition is not fetched, so it stays at its value at the pause.)
	assert.Never(t, func() bool { return c.status().Processed != 50 }, 2*time.Second, 100*time.Millisecond,
		"nothing is processed while paused")
	code, body = c.do(http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusOK, code, "paused is still ready: %s", body)
	code, body = c.do(http.MethodPost, "/resume")
	require.Equal(t, http.StatusOK, code, body)
	c.eventually("60 processed after resume", func(st sidecar.Status) bool {
		return st.Processed == 60 && st.LagTotal == 0 && st.State == "running"
	})

	// A savepoint while running; it is listed in the status at once.
	code, body = c.do(http.MethodPost, "/savepoint?name=mid")
	require.Equal(t, http.StatusOK, code, body)
	var sp sidecar.SavepointResponse
	require.NoError(t, json.Unmarshal([]byte(body), &sp))
	assert.Equal(t, "mid", sp.Savepoint)
	assert.Len(t, sp.Tasks, 2)
	assert.False(t, sp.Stopped)
	st = c.status()
	require.Len(t, st.Savepoints, 1)
	assert.Equal(t, "mid", st.Savepoints[0].Name)
	assert.Equal(t, map[int]uint64{0: sp.Tasks["0"], 1: sp.Tasks["1"]}, st.Savepoints[0].Tasks)
	code, body = c.do(http.MethodPost, "/savepoint?name=mid")
	assert.Equal(t, http.StatusConflict, code, "savepoints are never overwritten: %s", body)

	// The status page shows the latency curves.
	code, body = c.do(http.MethodGet, "/")
	require.Equal(t, http.StatusOK, code)
	assert.Regexp(t, `data-series="p99" data-points="[1-9]`, body)

	// Stop with a savepoint: the job's Run returns nil.
	produce(t, ctx, cl, 60, 65, time.Now())
	c.eventually("65 processed", func(st sidecar.Status) bool { return st.Processed == 65 })
	code, body = c.do(http.MethodPost, "/stop?savepoint=final")
	require.Equal(t, http.StatusOK, code, body)
	sp = sidecar.SavepointResponse{}
	require.NoError(t, json.Unmarshal([]byte(body), &sp))
	assert.Equal(t, "final", sp.Savepoint)
	assert.True(t, sp.Stopped)
	select {
	case err := <-ran:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("the job did not stop")
	}
	code, body = c.do(http.MethodPost, "/stop")
	assert.Equal(t, http.StatusConflict, code, body)
	code, _ = c.do(http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "a stopped job is not ready")

	// Exactly once: every key counted 1..13 once; the final savepoint holds
	// the end positions.
	out, err := cl.ReadCommitted(ctx, "out")
	require.NoError(t, err)
	got := map[string][]int{}
	for _, r := range out {
		k, v, _ := strings.Cut(string(r.Value), "=")
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		got[k] = append(got[k], n)
	}
	for k := range 5 {
		want := make([]int, 13)
		for i := range want {
			want[i] = i + 1
		}
		assert.Equal(t, want, got[fmt.Sprintf("k%d", k)])
	}
	var total int64
	for task := range 2 {
		ck, err := checkpoint.NewCheckpointer(store, streamkit.TaskNamespace("counts", task))
		require.NoError(t, err)
		m, err := ck.ReadSavepoint(ctx, "final")
		require.NoError(t, err)
		total += m.Positions[fmt.Sprintf("in/%d", task)]
	}
	assert.Equal(t, int64(65), total)
}
