package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ecsLines parses an ECSHandler's output, one object per line, keeping
// the keys' order so that tests can check it.
func ecsLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		recs = append(recs, m)
	}
	return recs
}

// TestECSHandlerFollowsTheSlogContract runs the standard library's
// handler conformance tests. They expect slog's names and nested groups,
// so the ECS fields are mapped back: @timestamp to time, log.level to
// level, message to msg, and labels.G_H_k to {"G": {"H": {"k": …}}} (the
// tests' keys hold no "_").
func TestECSHandlerFollowsTheSlogContract(t *testing.T) {
	var buf bytes.Buffer
	h := NewECSHandler(&buf, "svc", nil)
	results := func() []map[string]any {
		var out []map[string]any
		for _, rec := range ecsLines(t, buf.String()) {
			m := map[string]any{}
			for k, v := range rec {
				switch {
				case k == "@timestamp":
					m[slog.TimeKey] = v
				case k == "log.level":
					m[slog.LevelKey] = v
				case k == "message":
					m[slog.MessageKey] = v
				case k == "ecs.version" || k == "service.name":
				case strings.HasPrefix(k, "labels."):
					path := strings.Split(strings.TrimPrefix(k, "labels."), "_")
					cur := m
					for _, g := range path[:len(path)-1] {
						next, ok := cur[g].(map[string]any)
						if !ok {
							next = map[string]any{}
							cur[g] = next
						}
						cur = next
					}
					cur[path[len(path)-1]] = v
				default:
					m[k] = v
				}
			}
			out = append(out, m)
		}
		return out
	}
	require.NoError(t, slogtest.TestHandler(h, results))
}

func TestECSHandlerFields(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 1, 25, 15, 4, 5, 123456789, time.FixedZone("CET", 3600))
	h := NewECSHandler(&buf, "wdqs-updater", &slog.HandlerOptions{Level: slog.LevelDebug})
	log := slog.New(h).With("job", "wdqs-updater", "task", 0)
	r := slog.NewRecord(at, slog.LevelWarn, `checkpoint "failed" <slow>`, 0)
	r.AddAttrs(slog.String("topic", "eqiad.rdf-streaming-updater.mutation"), slog.Int("partition", 3),
		slog.Int64("offset", 1234567890123), slog.Any("error", &url.Error{Op: "Put", URL: "http://swift", Err: errors.New("503")}),
		slog.Duration("took", 1500*time.Millisecond), slog.Time("watermark", at),
		slog.String("url.path", "/v1/AUTH_wdqs"), slog.Int("http.response.status_code", 503),
		slog.Duration("event.duration", 2*time.Second), slog.Bool("paused", false))
	require.NoError(t, log.Handler().Handle(context.Background(), r))
	line := buf.String()
	require.True(t, strings.HasSuffix(line, "}\n"))
	assert.True(t, strings.HasPrefix(line, `{"@timestamp":"2026-01-25T14:04:05.123Z","log.level":"warn","message":"checkpoint \"failed\" <slow>","ecs.version":"1.11.0","service.name":"wdqs-updater",`), line)
	rec := ecsLines(t, line)[0]
	assert.Equal(t, map[string]any{
		"@timestamp": "2026-01-25T14:04:05.123Z", "log.level": "warn", "message": `checkpoint "failed" <slow>`,
		"ecs.version": ECSVersion, "service.name": "wdqs-updater",
		"labels.job": "wdqs-updater", "labels.task": "0",
		"labels.topic": "eqiad.rdf-streaming-updater.mutation", "labels.partition": "3", "labels.offset": "1234567890123",
		"error.message": `Put "http://swift": 503`, "error.type": "*url.Error",
		"labels.took": "1.5s", "labels.watermark": "2026-01-25T14:04:05.123456789Z",
		"url.path": "/v1/AUTH_wdqs", "http.response.status_code": float64(503), "event.duration": float64(2e9),
		"labels.paused": "false",
	}, rec)

	// Levels in lower case, custom ones included; below the level nothing.
	buf.Reset()
	log = slog.New(NewECSHandler(&buf, "s", &slog.HandlerOptions{Level: slog.LevelInfo}))
	log.Debug("hidden")
	log.Info("i")
	log.Log(context.Background(), slog.LevelInfo+2, "i2")
	log.Error("e", "err", "plain string")
	recs := ecsLines(t, buf.String())
	require.Len(t, recs, 3)
	assert.Equal(t, []any{"info", "info+2", "error"}, []any{recs[0]["log.level"], recs[1]["log.level"], recs[2]["log.level"]})
	assert.Equal(t, "plain string", recs[2]["error.message"])
	assert.NotContains(t, recs[2], "error.type", "a string is no error value")
}

func TestECSHandlerGroupsAndCollisions(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewECSHandler(&buf, "s", nil))
	log.WithGroup("sink").With("backend", "blazegraph").Info("flush",
		"batch", 3, slog.Group("retry", "attempt", 2, slog.Group("", "inline", "x")), slog.Group("empty"),
		"job", "j", "error", "in a group: a label")
	log.Info("dups", "job", "first", "job", "second", "message", "user message", "log.level", "user level",
		"a key", "spaces", "ecs.version", "9", "", "empty key")
	recs := ecsLines(t, buf.String())
	require.Len(t, recs, 2)
	assert.Equal(t, map[string]any{
		"labels.sink_backend": "blazegraph", "labels.sink_batch": "3", "labels.sink_retry_attempt": "2",
		"labels.sink_retry_inline": "x", "labels.sink_job": "j", "labels.sink_error": "in a group: a label",
	}, without(recs[0], "@timestamp", "log.level", "message", "ecs.version", "service.name"))
	// A key repeated is written once, the last value winning; the handler's
	// own fields are never overwritten by attributes.
	assert.Equal(t, map[string]any{
		"labels.job": "second", "labels.message": "user message", "labels.log_level": "user level",
		"labels.a_key": "spaces", "labels.ecs_version": "9",
	}, without(recs[1], "@timestamp", "log.level", "message", "ecs.version", "service.name"))
	assert.Equal(t, "dups", recs[1]["message"])
	assert.Equal(t, "info", recs[1]["log.level"])
	assert.Equal(t, ECSVersion, recs[1]["ecs.version"])
	line := strings.Split(buf.String(), "\n")[1]
	assert.Equal(t, 1, strings.Count(line, `"labels.job"`), line)
}

func without(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

func TestECSHandlerSourceAndReplaceAttr(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewECSHandler(&buf, "s", &slog.HandlerOptions{AddSource: true,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch {
			case a.Key == slog.TimeKey && len(groups) == 0:
				return slog.Attr{} // drop the time
			case a.Key == "token":
				return slog.String("token", "REDACTED")
			case a.Key == "n" && len(groups) == 1 && groups[0] == "g":
				return slog.Int("m", 7)
			}
			return a
		}}))
	log.Info("hello", "token", "s3cret", slog.Group("g", "n", 1))
	rec := ecsLines(t, buf.String())[0]
	assert.NotContains(t, rec, "@timestamp")
	assert.Equal(t, "REDACTED", rec["labels.token"])
	assert.Equal(t, "7", rec["labels.g_m"])
	assert.NotContains(t, buf.String(), "s3cret")
	assert.True(t, strings.HasSuffix(rec["log.origin.file.name"].(string), "ecs_test.go"), rec)
	assert.Greater(t, rec["log.origin.file.line"], float64(0))
	assert.Contains(t, rec["log.origin.function"], "TestECSHandlerSourceAndReplaceAttr")
}

// TestSidecarLogsInECS: the sidecar's own warnings through the handler
// carry their attributes as labels.
func TestSidecarLogsInECS(t *testing.T) {
	var buf logBuffer
	job := runningJob()
	h := newTestSidecar(t, job, WithLogger(slog.New(NewECSHandler(&buf, "counts", nil)))).Handler()
	rec := post(h, "/pause", func(r *http.Request) { r.Header.Set("Origin", "http://attacker.example") })
	require.Equal(t, http.StatusForbidden, rec.Code)
	got := ecsLines(t, buf.String())
	require.Len(t, got, 1)
	assert.Equal(t, "warn", got[0]["log.level"])
	assert.Equal(t, "sidecar: request refused", got[0]["message"])
	assert.Equal(t, "POST", got[0]["labels.method"])
	assert.Equal(t, "/pause", got[0]["labels.path"])
	assert.Equal(t, "127.0.0.1:40000", got[0]["labels.remote"])
	assert.Contains(t, got[0]["labels.reason"], "cross-origin request")
}
