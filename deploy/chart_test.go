// Package deploy holds the container image, the Helm chart, the Prometheus
// rules and the Grafana dashboard of the example WDQS jobs. It is a module
// of its own, so that the library's go.mod carries neither Helm nor
// Prometheus; its tests render the chart with Helm's Go API, decode every
// object strictly into the Kubernetes API types, and check the rules and
// the dashboard against the metrics the sidecar really exports.
package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "helm/streamkit"
	namespace = "rdf-streaming-updater"
	// kubeVersion is the cluster version the chart is rendered for.
	kubeVersion = "v1.31.0"
	// The updater's state: Wikidata's entities and the measured cost of
	// one entity → revision key in the checkpointed table.
	wikidataKeys = 120_000_000
	bytesPerKey  = 27
)

// valuesFiles are the chart's per-job, per-data-center values files.
func valuesFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "values-*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 4, "one values file per job and data center")
	return files
}

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	vals := map[string]any{}
	require.NoError(t, yaml.UnmarshalStrict(b, &vals), file)
	return vals
}

func kubeVersionOf(t *testing.T) *common.KubeVersion {
	t.Helper()
	v, err := common.ParseKubeVersion(kubeVersion)
	require.NoError(t, err)
	return v
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	require.NoError(t, err)
	return ch
}

// render is `helm template` through Helm's Go API: a client-only dry run.
func render(t *testing.T, ch *chart.Chart, vals map[string]any) (string, error) {
	t.Helper()
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = "streamkit"
	install.Namespace = namespace
	install.Replace = true
	install.KubeVersion = kubeVersionOf(t)
	rel, err := install.Run(ch, vals)
	if err != nil {
		return "", err
	}
	r, ok := rel.(*release.Release)
	require.True(t, ok, "release type %T", rel)
	return r.Manifest, nil
}

// decoder decodes strictly into the registered Kubernetes API types: an
// unknown or duplicated field, or an unknown kind, is an error.
func decoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(scheme))
	require.NoError(t, appsv1.AddToScheme(scheme))
	require.NoError(t, networkingv1.AddToScheme(scheme))
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// rendered are the objects of one release.
type rendered struct {
	deployment *appsv1.Deployment
	policy     *networkingv1.NetworkPolicy
	kinds      []string
}

func decodeManifest(t *testing.T, manifest string) rendered {
	t.Helper()
	dec := decoder(t)
	var r rendered
	for _, doc := range strings.Split(manifest, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		obj, gvk, err := dec.Decode([]byte(doc), nil, nil)
		require.NoError(t, err, "strict decoding of:\n%s", doc)
		r.kinds = append(r.kinds, gvk.Kind)
		switch o := obj.(type) {
		case *appsv1.Deployment:
			require.Nil(t, r.deployment, "one Deployment per release")
			r.deployment = o
		case *networkingv1.NetworkPolicy:
			require.Nil(t, r.policy, "one NetworkPolicy per release")
			r.policy = o
		}
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestChartLint(t *testing.T) {
	for _, f := range valuesFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = namespace
			lint.KubeVersion = kubeVersionOf(t)
			res := lint.Run([]string{chartDir}, readValues(t, f))
			assert.Equal(t, 1, res.TotalChartsLinted)
			assert.Empty(t, res.Errors)
			for _, m := range res.Messages {
				assert.LessOrEqual(t, m.Severity, support.InfoSev, "%s", m.Error())
			}
		})
	}
}

// flagNames are the flags a program defines, read from its main.go and
// the flags every program shares (examples/internal/cli): an argument the
// chart passes that the program does not know would stop it.
func flagNames(t *testing.T, program string) map[string]bool {
	t.Helper()
	re := regexp.MustCompile(`fs\.\w+Var\(&[^,]+, "([a-z][-a-z0-9]*)"`)
	names := map[string]bool{}
	for _, file := range []string{
		filepath.Join("..", "examples", "wdqs", "cmd", program, "main.go"),
		filepath.Join("..", "examples", "internal", "cli", "cli.go"),
	} {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
	}
	require.Contains(t, names, "job", "no flags found in %s's main.go", program)
	return names
}

// preStopDefaults reads the defaults the preStop script falls back to.
func preStopDefaults(t *testing.T) (tokenFile string) {
	t.Helper()
	b, err := os.ReadFile("prestop.sh")
	require.NoError(t, err)
	m := regexp.MustCompile(`STREAMKIT_SIDECAR_TOKEN_FILE:-([^}]+)}`).FindStringSubmatch(string(b))
	require.NotNil(t, m, "prestop.sh: token file default")
	return m[1]
}

func TestChartRender(t *testing.T) {
	ch := loadChart(t)
	tokenFile := preStopDefaults(t)
	programs := map[string]int{}
	dcs := map[string]bool{}
	for _, f := range valuesFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			vals := readValues(t, f)
			manifest, err := render(t, ch, vals)
			require.NoError(t, err)
			r := decodeManifest(t, manifest)
			vals, err = util.CoalesceValues(ch, readValues(t, f)) // with the chart's defaults
			require.NoError(t, err)
			assert.ElementsMatch(t, []string{"Deployment", "NetworkPolicy"}, r.kinds,
				"the chart renders no Secret: secrets are referenced, never inlined")
			d := r.deployment
			require.NotNil(t, d)
			require.NotNil(t, r.policy)
			job := vals["job"].(string)
			program := vals["program"].(string)
			programs[program]++
			dcs[vals["datacenter"].(string)] = true
			assert.Equal(t, job, d.Name)
			assert.True(t, strings.HasPrefix(filepath.Base(f), "values-"+strings.TrimPrefix(program, "wdqs-")+"-"+vals["datacenter"].(string)),
				"%s: file name names the job and data center", f)

			// One replica, replaced with Recreate.
			require.NotNil(t, d.Spec.Replicas)
			assert.EqualValues(t, 1, *d.Spec.Replicas)
			assert.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Spec.Strategy.Type)
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			require.NoError(t, err)
			assert.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "the selector matches the pods")

			pod := d.Spec.Template.Spec
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			assert.Equal(t, []string{program}, c.Command)
			args := argMap(t, c.Args, flagNames(t, program))
			assert.Equal(t, job, args["job"])

			// The sidecar: port, probes, scrape annotations.
			require.Len(t, c.Ports, 1)
			port := c.Ports[0]
			assert.Equal(t, "sidecar", port.Name)
			assert.Equal(t, "0.0.0.0:"+strconv.Itoa(int(port.ContainerPort)), args["sidecar-addr"])
			ann := d.Spec.Template.Annotations
			assert.Equal(t, "true", ann["prometheus.io/scrape"])
			assert.Equal(t, strconv.Itoa(int(port.ContainerPort)), ann["prometheus.io/port"])
			assert.Equal(t, "/metrics", ann["prometheus.io/path"])
			checkProbe(t, "liveness", c.LivenessProbe, "/healthz")
			checkProbe(t, "readiness", c.ReadinessProbe, "/readyz")
			checkProbe(t, "startup", c.StartupProbe, "/healthz")

			// preStop: deploy/prestop.sh, installed in the image as
			// streamkit-prestop, reads these.
			require.NotNil(t, c.Lifecycle)
			require.NotNil(t, c.Lifecycle.PreStop)
			require.NotNil(t, c.Lifecycle.PreStop.Exec)
			assert.Equal(t, []string{"streamkit-prestop"}, c.Lifecycle.PreStop.Exec.Command)
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				assert.NotContains(t, env, e.Name, "env %s twice", e.Name)
				env[e.Name] = e
			}
			assert.Equal(t, job, env["STREAMKIT_JOB"].Value, "the savepoint prefix is the job name")
			assert.Equal(t, strconv.Itoa(int(port.ContainerPort)), env["STREAMKIT_SIDECAR_PORT"].Value)
			stop, err := strconv.Atoi(env["STREAMKIT_STOP_TIMEOUT"].Value)
			require.NoError(t, err)
			assert.Equal(t, strconv.Itoa(stop)+"s", args["stop-timeout"], "the hook and the job wait as long")
			require.NotNil(t, pod.TerminationGracePeriodSeconds)
			assert.Greater(t, *pod.TerminationGracePeriodSeconds, int64(stop), "SIGKILL must not cut the savepoint short")
			var mount *corev1.VolumeMount
			for i := range c.VolumeMounts {
				if strings.HasPrefix(tokenFile, c.VolumeMounts[i].MountPath+"/") {
					mount = &c.VolumeMounts[i]
				}
			}
			require.NotNil(t, mount, "the preStop hook's token file %s is mounted", tokenFile)
			assert.True(t, mount.ReadOnly)

			// Secrets by reference only.
			secrets := vals["secrets"].(map[string]any)
			ref := func(name string) *corev1.SecretKeySelector {
				e, ok := env[name]
				require.True(t, ok, "env %s", name)
				assert.Empty(t, e.Value, "env %s has an inline value", name)
				require.NotNil(t, e.ValueFrom, "env %s", name)
				require.NotNil(t, e.ValueFrom.SecretKeyRef, "env %s", name)
				return e.ValueFrom.SecretKeyRef
			}
			assert.Equal(t, "streamkit-sidecar", ref("STREAMKIT_SIDECAR_TOKEN").Name)
			assert.Equal(t, "token", ref("STREAMKIT_SIDECAR_TOKEN").Key)
			assert.Equal(t, "streamkit-swift", ref("STREAMKIT_SWIFT_USER").Name)
			assert.Equal(t, "streamkit-swift", ref("STREAMKIT_SWIFT_KEY").Name)
			assert.Equal(t, "key", ref("STREAMKIT_SWIFT_KEY").Key)
			assert.Equal(t, "$(STREAMKIT_SWIFT_USER)", args["swift-user"])
			if store, ok := secrets["store"].(map[string]any); ok && store["existingSecret"] != "" {
				assert.Equal(t, store["existingSecret"], ref("STREAMKIT_STORE_PASSWORD").Name)
			} else {
				assert.NotContains(t, env, "STREAMKIT_STORE_PASSWORD")
			}
			var tokenVolume *corev1.Volume
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == mount.Name {
					tokenVolume = &pod.Volumes[i]
				}
			}
			require.NotNil(t, tokenVolume)
			require.NotNil(t, tokenVolume.Secret)
			assert.Equal(t, "streamkit-sidecar", tokenVolume.Secret.SecretName)
			assert.Equal(t, []corev1.KeyToPath{{Key: "token", Path: filepath.Base(tokenFile)}}, tokenVolume.Secret.Items)

			// Hardening.
			require.NotNil(t, pod.SecurityContext)
			require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
			assert.True(t, *pod.SecurityContext.RunAsNonRoot)
			require.NotNil(t, c.SecurityContext)
			require.NotNil(t, c.SecurityContext.ReadOnlyRootFilesystem)
			assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
			require.NotNil(t, c.SecurityContext.AllowPrivilegeEscalation)
			assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)

			checkResources(t, program, c, env)
			checkNetworkPolicy(t, r.policy, d, port, vals)
		})
	}
	assert.Equal(t, map[string]int{"wdqs-updater": 2, "wdqs-consumer": 2}, programs)
	assert.Equal(t, map[string]bool{"eqiad": true, "codfw": true}, dcs)
}

// argMap parses -name=value arguments and checks every name is a flag of
// the program.
func argMap(t *testing.T, args []string, known map[string]bool) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		require.True(t, ok && strings.HasPrefix(a, "-"), "argument %q is not -name=value", a)
		assert.True(t, known[name], "argument %q: the program has no flag %q", a, name)
		assert.NotContains(t, m, name, "flag -%s given twice", name)
		m[name] = value
	}
	return m
}

func checkProbe(t *testing.T, kind string, p *corev1.Probe, path string) {
	t.Helper()
	require.NotNil(t, p, kind)
	require.NotNil(t, p.HTTPGet, kind)
	assert.Equal(t, path, p.HTTPGet.Path, kind)
	assert.Equal(t, "sidecar", p.HTTPGet.Port.String(), kind)
	assert.Positive(t, p.PeriodSeconds, kind)
	assert.Positive(t, p.FailureThreshold, kind)
}

// checkResources checks the requests against the measured memory: the job
// peaks at tens of MB of heap, and the updater holds Wikidata's entities
// at 27 bytes a key.
func checkResources(t *testing.T, program string, c corev1.Container, env map[string]corev1.EnvVar) {
	t.Helper()
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		require.Contains(t, req, r)
		require.Contains(t, lim, r)
		assert.LessOrEqual(t, req.Name(r, resource.DecimalSI).Cmp(lim[r]), 0, "%s request above its limit", r)
	}
	mem := lim.Memory().Value()
	goLimit := parseGoMemLimit(t, env["GOMEMLIMIT"].Value)
	assert.Less(t, goLimit, mem, "GOMEMLIMIT must leave room under the container limit")
	const jobHeap = 100 << 20 // the job's own peak heap, tens of MB, rounded up
	switch program {
	case "wdqs-updater":
		state := int64(wikidataKeys * bytesPerKey)
		assert.GreaterOrEqual(t, goLimit, state+state/2, "the heap limit leaves the GC at least half the state as headroom")
		assert.GreaterOrEqual(t, req.Memory().Value(), goLimit+jobHeap, "the request covers the heap limit")
		assert.Equal(t, 0, req.Memory().Cmp(*lim.Memory()), "memory request = limit: the updater is never evicted first")
		assert.LessOrEqual(t, mem, int64(8<<30), "no more than 8 GiB: the state is ~3.3 GB")
	case "wdqs-consumer":
		assert.GreaterOrEqual(t, goLimit, int64(2*jobHeap))
		assert.LessOrEqual(t, mem, int64(1<<30), "the consumer's state is small")
	default:
		t.Fatalf("unknown program %q", program)
	}
}

func parseGoMemLimit(t *testing.T, s string) int64 {
	t.Helper()
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			require.NoError(t, err, "GOMEMLIMIT %q", s)
			return v * u.mult
		}
	}
	t.Fatalf("GOMEMLIMIT %q has no unit", s)
	return 0
}

func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, d *appsv1.Deployment, port corev1.ContainerPort, vals map[string]any) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	require.NoError(t, err)
	assert.False(t, sel.Empty(), "the policy selects the job's pods, not the namespace")
	assert.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)))
	assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)

	// Ingress: the sidecar port only, from Prometheus only.
	require.Len(t, np.Spec.Ingress, 1)
	in := np.Spec.Ingress[0]
	require.Len(t, in.Ports, 1)
	assert.Equal(t, int(port.ContainerPort), in.Ports[0].Port.IntValue())
	require.NotEmpty(t, in.From, "an empty from would admit everyone")
	prom := in.From[0]
	require.NotNil(t, prom.NamespaceSelector)
	require.NotNil(t, prom.PodSelector)
	assert.Equal(t, "prometheus", prom.PodSelector.MatchLabels["app.kubernetes.io/name"])

	// Egress: DNS, then exactly the listed destinations.
	require.NotEmpty(t, np.Spec.Egress)
	dns := np.Spec.Egress[0]
	assert.Empty(t, dns.To)
	var dnsPorts []string
	for _, p := range dns.Ports {
		dnsPorts = append(dnsPorts, string(*p.Protocol)+"/"+p.Port.String())
	}
	assert.ElementsMatch(t, []string{"UDP/53", "TCP/53"}, dnsPorts)
	want := vals["networkPolicy"].(map[string]any)["egress"].([]any)
	require.Len(t, np.Spec.Egress, 1+len(want))
	for i, w := range want {
		rule := np.Spec.Egress[1+i]
		wm := w.(map[string]any)
		require.Len(t, rule.To, 1)
		require.NotNil(t, rule.To[0].IPBlock)
		assert.Equal(t, wm["cidr"], rule.To[0].IPBlock.CIDR)
		require.NotEmpty(t, rule.Ports, "an egress rule without ports opens every port")
		for j, p := range wm["ports"].([]any) {
			assert.Equal(t, int(p.(map[string]any)["port"].(float64)), rule.Ports[j].Port.IntValue())
		}
	}
	// Every host the job is configured to reach is on a port the policy opens.
	open := map[int]bool{}
	for _, r := range np.Spec.Egress[1:] {
		for _, p := range r.Ports {
			open[p.Port.IntValue()] = true
		}
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	for _, a := range args {
		for _, m := range regexp.MustCompile(`(?:https?://)?[a-z0-9.-]+\.example\.org(?::(\d+))?`).FindAllStringSubmatch(a, -1) {
			p := 443
			switch {
			case m[1] != "":
				p, _ = strconv.Atoi(m[1])
			case strings.HasPrefix(m[0], "http://"):
				p = 80
			}
			assert.True(t, open[p], "%q: port %d is not open in the NetworkPolicy", a, p)
		}
	}
}

// TestChartRefuses checks that the chart fails on values that cannot work,
// rather than rendering a broken job.
func TestChartRefuses(t *testing.T) {
	ch := loadChart(t)
	base := filepath.Join(chartDir, "values-updater-eqiad.yaml")
	cases := map[string]struct {
		set  func(v map[string]any)
		want string
	}{
		"grace period not above the stop timeout": {
			func(v map[string]any) { v["terminationGracePeriodSeconds"] = 300 }, "terminationGracePeriodSeconds"},
		"inline secret value": {
			func(v map[string]any) {
				v["secrets"] = map[string]any{"sidecarToken": map[string]any{"value": "s3cret"}}
			}, "value"},
		"unknown program": {
			func(v map[string]any) { v["program"] = "wdqs-streaming-updater" }, "at '/program'"},
		"no job": {
			func(v map[string]any) { v["job"] = "" }, "job is required"},
		"no brokers": {
			func(v map[string]any) { v["kafka"] = map[string]any{"brokers": []any{}} }, "kafka.brokers is required"},
		"arg not in -name=value form": {
			func(v map[string]any) { v["args"] = []any{"-topics", "x"} }, "at '/args/0'"},
		"egress without ports": {
			func(v map[string]any) {
				v["networkPolicy"] = map[string]any{"egress": []any{map[string]any{"cidr": "192.0.2.0/24"}}}
			}, "missing property 'ports'"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			vals := readValues(t, base)
			tc.set(vals)
			_, err := render(t, ch, vals)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestChartFromSavepoint checks the upgrade / roll-back switch.
func TestChartFromSavepoint(t *testing.T) {
	ch := loadChart(t)
	vals := readValues(t, filepath.Join(chartDir, "values-consumer-eqiad.yaml"))
	manifest, err := render(t, ch, vals)
	require.NoError(t, err)
	assert.False(t, slices.ContainsFunc(decodeManifest(t, manifest).deployment.Spec.Template.Spec.Containers[0].Args,
		func(a string) bool { return strings.HasPrefix(a, "-from-savepoint") }))
	vals["fromSavepoint"] = "wdqs-consumer-wdqs1010-20261125T143000Z"
	manifest, err = render(t, ch, vals)
	require.NoError(t, err)
	assert.Contains(t, decodeManifest(t, manifest).deployment.Spec.Template.Spec.Containers[0].Args,
		"-from-savepoint=wdqs-consumer-wdqs1010-20261125T143000Z")
}

// TestPreStopScript checks that the hook reads what the chart provides.
func TestPreStopScript(t *testing.T) {
	b, err := os.ReadFile("prestop.sh")
	require.NoError(t, err)
	s := string(b)
	assert.True(t, strings.HasPrefix(s, "#!/bin/sh\n"))
	for _, want := range []string{"STREAMKIT_SIDECAR_TOKEN_FILE", "STREAMKIT_JOB", "STREAMKIT_SIDECAR_PORT", "STREAMKIT_STOP_TIMEOUT",
		"/stop?savepoint=", "Authorization: Bearer", "--fail", "-X POST"} {
		assert.Contains(t, s, want)
	}
	st, err := os.Stat("prestop.sh")
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&0o111, "prestop.sh must be executable")
	df, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	for _, want := range []string{"CGO_ENABLED=0", "USER 10001", "streamkit-prestop", "./examples/wdqs/cmd/wdqs-consumer", "./examples/wdqs/cmd/wdqs-updater"} {
		assert.Contains(t, string(df), want)
	}
}
