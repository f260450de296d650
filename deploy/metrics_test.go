package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sidecar"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

const (
	rulesFile     = "prometheus/streamkit-rules.yaml"
	dashboardFile = "grafana/streamkit.json"
)

// targetLabels are the labels Prometheus adds to every scraped series of a
// pod (Kubernetes pod discovery); a selector may match on them whatever
// the metric.
var targetLabels = map[string]bool{"namespace": true, "pod": true, "instance": true, "job": true}

// fakeJob is a sidecar.Controller with every statistic set, so that the
// sidecar exports every metric it can.
type fakeJob struct{ now time.Time }

var errFake = errors.New("deploy: fake job: operations are not supported")

func (f *fakeJob) Name() string  { return "wdqs-updater-eqiad" }
func (f *fakeJob) Group() string { return "wdqs-updater-eqiad" }
func (f *fakeJob) Stats() streamkit.Stats {
	tp := source.TopicPartition{Topic: "eqiad.mediawiki.page_change.v1", Partition: 0}
	return streamkit.Stats{Processed: 100, DeadLettered: 1, Checkpoints: 3, CheckpointFailures: 1, Restarts: 1,
		Tasks: []int{0}, LastCheckpoint: f.now, Watermark: f.now.Add(-time.Minute),
		Positions: source.Positions{tp: 100}, Lag: map[source.TopicPartition]int64{tp: 5},
		// Failing, so that streamkit_failing{component} is exported too.
		ConsecutiveFailures: 1, FailingSince: f.now, FailingComponent: streamkit.ComponentOutput, LastError: "output: down"}
}
func (f *fakeJob) Pause()  {}
func (f *fakeJob) Resume() {}
func (f *fakeJob) Savepoint(context.Context, string) (*streamkit.SavepointResult, error) {
	return nil, errFake
}
func (f *fakeJob) StopWithSavepoint(context.Context, string) (*streamkit.SavepointResult, error) {
	return nil, errFake
}
func (f *fakeJob) Stop(context.Context) error { return errFake }

// fakeSavepoints reports one savepoint and a state size, so that the
// sidecar exports streamkit_state_bytes.
type fakeSavepoints struct{}

func (fakeSavepoints) Savepoints(context.Context) ([]sidecar.Savepoint, error) {
	return []sidecar.Savepoint{{Name: "sp", Tasks: map[int]uint64{0: 1}}}, nil
}
func (fakeSavepoints) StateSize(context.Context, int, uint64) (sidecar.StateSize, error) {
	return sidecar.StateSize{Bytes: 27 << 20, Objects: 1, Records: 1 << 20}, nil
}

// exportedMetrics scrapes GET /metrics of a sidecar built as the job
// programs build it (its own registry, with the Go and process
// collectors), after feeding its Observer a checkpoint and a dead letter.
// It returns the metric families by name.
func exportedMetrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	now := time.Now()
	obs, err := sidecar.NewObserver()
	require.NoError(t, err)
	sc, err := sidecar.New(&fakeJob{now: now}, sidecar.WithObserver(obs), sidecar.WithSavepoints(fakeSavepoints{}),
		sidecar.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	obs.OnCheckpoint(streamkit.CheckpointEvent{Task: 0, CheckpointID: 1, Records: 2, Committed: now,
		Snapshot: time.Millisecond, Commit: time.Millisecond, EventTimes: []time.Time{now.Add(-time.Second), {}}})
	obs.OnDeadLetter(streamkit.Failure{Stage: "process", Class: "decode"})
	st := sc.Status(context.Background()) // reads the state size that /metrics then reports
	require.Len(t, st.TaskCheckpoints, 1)

	rec := httptest.NewRecorder()
	sc.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	require.NoError(t, err)
	return fams
}

// seriesNames maps each series name the families expose (a histogram's
// _bucket, _sum and _count) to the labels its samples carry.
func seriesNames(fams map[string]*dto.MetricFamily) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	add := func(name string, fam *dto.MetricFamily, extra ...string) {
		ls := map[string]bool{}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = true
			}
		}
		for _, e := range extra {
			ls[e] = true
		}
		out[name] = ls
	}
	for name, fam := range fams {
		switch fam.GetType() {
		case dto.MetricType_HISTOGRAM:
			add(name+"_bucket", fam, "le")
			add(name+"_sum", fam)
			add(name+"_count", fam)
		case dto.MetricType_SUMMARY:
			add(name, fam, "quantile")
			add(name+"_sum", fam)
			add(name+"_count", fam)
		default:
			add(name, fam)
		}
	}
	return out
}

// TestSidecarExportsEveryStreamkitMetric keeps the fake honest: a metric
// the fake fails to bring out would make the checks below too strict, and
// a missing one would show here first.
func TestSidecarExportsEveryStreamkitMetric(t *testing.T) {
	fams := exportedMetrics(t)
	var names []string
	for n := range fams {
		if strings.HasPrefix(n, "streamkit_") {
			names = append(names, n)
		}
	}
	assert.Len(t, names, 31, "streamkit_* families: %v", names)
	for _, n := range []string{"streamkit_state_bytes", "streamkit_watermark_timestamp_seconds", "streamkit_dead_letters_total",
		"streamkit_last_checkpoint_id", "process_start_time_seconds", "go_gc_gomemlimit_bytes"} {
		assert.Contains(t, fams, n)
	}
}

// selectorNames returns the metric names and matcher labels of every vector
// selector of a PromQL expression.
func selectorNames(t *testing.T, p parser.Parser, expr string) map[string][]string {
	t.Helper()
	e, err := p.ParseExpr(expr)
	require.NoError(t, err, "PromQL: %s", expr)
	out := map[string][]string{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		var ls []string
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				if name == "" {
					require.Equal(t, "=", m.Type.String(), "%s: select metrics by exact name", expr)
					name = m.Value
				}
				continue
			}
			ls = append(ls, m.Name)
		}
		require.NotEmpty(t, name, "%s: a selector without a metric name", expr)
		out[name] = append(out[name], ls...)
		return nil
	})
	require.NotEmpty(t, out, "%s selects nothing", expr)
	return out
}

// checkNames asserts every selector names a known series and matches only
// labels it has (or the target's).
func checkNames(t *testing.T, where, expr string, p parser.Parser, known map[string]map[string]bool) {
	t.Helper()
	for name, ls := range selectorNames(t, p, expr) {
		have, ok := known[name]
		if !assert.True(t, ok, "%s: %q is not a metric the sidecar exports (in %s)", where, name, expr) {
			continue
		}
		for _, l := range ls {
			assert.True(t, have[l] || targetLabels[l], "%s: %s has no label %q (in %s)", where, name, l, expr)
		}
	}
}

func TestRulesNameExportedMetrics(t *testing.T) {
	known := seriesNames(exportedMetrics(t))
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	require.Empty(t, errs)
	recorded := map[string]map[string]bool{}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = map[string]bool{}
			}
		}
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := r.Record + r.Alert
			// Recording rules may build on each other; alerts on both.
			checkNames(t, where, r.Expr, p, mergeKnown(known, recorded))
			if r.Alert != "" {
				alerts = append(alerts, r.Alert)
				assert.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], where)
				assert.NotEmpty(t, r.Annotations["summary"], where)
				assert.NotEmpty(t, r.Annotations["description"], where)
			}
		}
	}
	for _, want := range []string{"StreamkitLagGrowing", "StreamkitEditLatencySLOFastBurn", "StreamkitEditLatencySLOSlowBurn",
		"StreamkitCheckpointsFailing", "StreamkitRestartsLooping", "StreamkitDeadLetters", "StreamkitNotReady"} {
		assert.Contains(t, alerts, want)
	}
}

func mergeKnown(a, b map[string]map[string]bool) map[string]map[string]bool {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// grafanaVars replaces the dashboard's variables with values PromQL
// parses, as Grafana does before it sends a query.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "6h",
	"${namespace}", ".*", "$namespace", ".*", "${pod}", ".*", "$pod", ".*")

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func TestDashboardNamesExportedMetrics(t *testing.T) {
	known := seriesNames(exportedMetrics(t))
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	assert.NotEmpty(t, dash.UID)
	p := parser.NewParser(parser.Options{})

	vars := map[string]bool{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		require.NoError(t, json.Unmarshal(v.Query, &q), "variable %s", v.Name)
		m := labelValuesRE.FindStringSubmatch(q.Query)
		require.NotNil(t, m, "variable %s: %q is not label_values(selector, label)", v.Name, q.Query)
		expr := grafanaVars.Replace(m[1])
		checkNames(t, "variable "+v.Name, expr, p, known)
		for name := range selectorNames(t, p, expr) {
			assert.True(t, known[name][m[2]] || targetLabels[m[2]], "variable %s: %s has no label %s", v.Name, name, m[2])
		}
	}
	for _, want := range []string{"datasource", "namespace", "pod"} {
		assert.True(t, vars[want], "variable %s", want)
	}

	var raw any
	require.NoError(t, json.Unmarshal(b, &raw))
	var exprs []string
	ids := map[float64]bool{}
	walk(raw, func(obj map[string]any) {
		if e, ok := obj["expr"].(string); ok {
			exprs = append(exprs, e)
		}
		if id, ok := obj["id"].(float64); ok && obj["type"] != nil {
			assert.False(t, ids[id], "panel id %v twice", id)
			ids[id] = true
		}
		if ds, ok := obj["datasource"].(map[string]any); ok {
			assert.Equal(t, "${datasource}", ds["uid"], "every query uses the data source variable")
		}
	})
	require.Greater(t, len(exprs), 20)
	usedStreamkit := map[string]bool{}
	for _, e := range exprs {
		checkNames(t, "dashboard", grafanaVars.Replace(e), p, known)
		for name := range selectorNames(t, p, grafanaVars.Replace(e)) {
			usedStreamkit[strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count")] = true
		}
	}
	// Every streamkit_* family the sidecar exports is on the dashboard.
	var unused []string
	for name := range exportedMetrics(t) {
		if strings.HasPrefix(name, "streamkit_") && !usedStreamkit[name] && name != "streamkit_job_info" {
			unused = append(unused, name)
		}
	}
	slices.Sort(unused)
	assert.Empty(t, unused, "exported but not on the dashboard")
}

// walk calls f on every JSON object in v.
func walk(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, c := range x {
			walk(c, f)
		}
	case []any:
		for _, c := range x {
			walk(c, f)
		}
	}
}
