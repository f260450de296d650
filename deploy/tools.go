//go:build tools

// Package deploy pins the tools its checks run: promtool, built from the
// Prometheus module this go.mod requires.
package deploy

import _ "github.com/prometheus/prometheus/cmd/promtool"
