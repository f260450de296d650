// Package deploy holds the container image and Kubernetes manifests of the
// example WDQS jobs; this test checks the manifests without a cluster.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// doc is the part of a manifest the checks read.
type doc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"`
	Spec       struct {
		Replicas int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name   string `yaml:"name"`
					Secret struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			SecretKeyRef struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Lifecycle      struct {
		PreStop struct {
			Exec struct {
				Command []string `yaml:"command"`
			} `yaml:"exec"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
}

// decodeAll decodes every document of a YAML file, strictly: an unknown
// field in the parts doc declares is fine (KnownFields off), a syntax error
// or a type mismatch is not.
func decodeAll(t *testing.T, path string) []doc {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []doc
	for {
		var d doc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, path)
		docs = append(docs, d)
	}
	require.NotEmpty(t, docs, path)
	return docs
}

func TestManifests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("k8s", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	secrets := map[string]map[string]string{}
	var deployments []doc
	var kustomized []string
	for _, f := range files {
		for _, d := range decodeAll(t, f) {
			require.NotEmpty(t, d.Kind, f)
			switch d.Kind {
			case "Secret":
				secrets[d.Metadata.Name] = d.StringData
			case "Deployment":
				deployments = append(deployments, d)
			case "Kustomization":
				kustomized = append(kustomized, d.Resources...)
			}
		}
	}
	require.Len(t, deployments, 2)
	for _, r := range kustomized {
		assert.FileExists(t, filepath.Join("k8s", r))
	}
	programs := map[string]bool{}
	for _, d := range deployments {
		name := d.Metadata.Name
		spec := d.Spec.Template.Spec
		assert.Equal(t, 1, d.Spec.Replicas, name)
		assert.Equal(t, "Recreate", d.Spec.Strategy.Type, name)
		assert.True(t, spec.SecurityContext.RunAsNonRoot, name)
		ann := d.Spec.Template.Metadata.Annotations
		assert.Equal(t, "true", ann["prometheus.io/scrape"], name)
		assert.Equal(t, "/metrics", ann["prometheus.io/path"], name)
		require.Len(t, spec.Containers, 1, name)
		c := spec.Containers[0]
		require.Len(t, c.Command, 1, name)
		programs[c.Command[0]] = true
		args := strings.Join(c.Args, " ")
		assert.Contains(t, args, "-sidecar-addr=0.0.0.0:9102", name)
		assert.Equal(t, ann["prometheus.io/port"], "9102", name)
		require.NotNil(t, c.LivenessProbe, name)
		require.NotNil(t, c.ReadinessProbe, name)
		assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, name)
		assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path, name)
		assert.Equal(t, []string{"streamkit-prestop"}, c.Lifecycle.PreStop.Exec.Command, name)
		// The grace period must outlast the preStop stop (300 s) and the
		// job's own stop timeout.
		assert.Contains(t, args, "-stop-timeout=300s", name)
		assert.Greater(t, spec.TerminationGracePeriodSeconds, 300, name)
		env := map[string]string{}
		for _, e := range c.Env {
			if ref := e.ValueFrom.SecretKeyRef; ref.Name != "" {
				require.Contains(t, secrets, ref.Name, "%s: env %s names an unknown secret", name, e.Name)
				assert.Contains(t, secrets[ref.Name], ref.Key, "%s: env %s", name, e.Name)
				env[e.Name] = "secret:" + ref.Name
			} else {
				env[e.Name] = e.Value
			}
		}
		assert.Equal(t, "secret:streamkit-sidecar", env["STREAMKIT_SIDECAR_TOKEN"], name)
		assert.Equal(t, "secret:streamkit-swift", env["STREAMKIT_SWIFT_KEY"], name)
		assert.Contains(t, args, "-job="+env["STREAMKIT_JOB"], "%s: the savepoint prefix is the job name", name)
		var tokenVolume bool
		for _, v := range spec.Volumes {
			tokenVolume = tokenVolume || v.Secret.SecretName == "streamkit-sidecar"
		}
		assert.True(t, tokenVolume, "%s: the preStop hook reads the token from the secret volume", name)
	}
	assert.Equal(t, map[string]bool{"wdqs-updater": true, "wdqs-consumer": true}, programs)
}

// TestPreStopScript checks that the hook reads what the manifests provide.
func TestPreStopScript(t *testing.T) {
	b, err := os.ReadFile("prestop.sh")
	require.NoError(t, err)
	s := string(b)
	assert.True(t, strings.HasPrefix(s, "#!/bin/sh\n"))
	for _, want := range []string{"/var/run/secrets/streamkit/sidecar/token", "STREAMKIT_JOB", "/stop?savepoint=", "Authorization: Bearer", "--fail", "-X POST"} {
		assert.Contains(t, s, want)
	}
	st, err := os.Stat("prestop.sh")
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&0o111, "prestop.sh must be executable")
	df, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	for _, want := range []string{"CGO_ENABLED=0", "USER 10001", "streamkit-prestop", "./examples/wdqs-consumer", "./examples/wdqs-updater"} {
		assert.Contains(t, string(df), want)
	}
}
