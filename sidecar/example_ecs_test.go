package sidecar_test

import (
	"errors"
	"log/slog"
	"os"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/sidecar"
)

// A program that logs in the Elastic Common Schema: the job's attributes
// become labels (a group's named by its path), an error becomes
// error.message and error.type. The time
// is fixed here through ReplaceAttr so that the output is reproducible;
// a program leaves ReplaceAttr nil.
func ExampleNewECSHandler() {
	fixed := time.Date(2026, 1, 25, 14, 30, 0, 0, time.UTC)
	h := sidecar.NewECSHandler(os.Stdout, "wdqs-updater", &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Time(slog.TimeKey, fixed)
			}
			return a
		},
	})
	log := slog.New(h).With("job", "wdqs-updater")
	log.Info("streamkit: checkpoint committed", "task", 0, "topic", "eqiad.mediawiki.revision-create",
		"partition", 0, "offset", 1234567)
	log.Warn("sidecar: operation failed", slog.Group("swift", "container", "wdqs"),
		"error", errors.New("503 Service Unavailable"))
	// Output:
	// {"@timestamp":"2026-01-25T14:30:00.000Z","log.level":"info","message":"streamkit: checkpoint committed","ecs.version":"1.11.0","service.name":"wdqs-updater","labels.job":"wdqs-updater","labels.task":"0","labels.topic":"eqiad.mediawiki.revision-create","labels.partition":"0","labels.offset":"1234567"}
	// {"@timestamp":"2026-01-25T14:30:00.000Z","log.level":"warn","message":"sidecar: operation failed","ecs.version":"1.11.0","service.name":"wdqs-updater","labels.job":"wdqs-updater","labels.swift_container":"wdqs","error.message":"503 Service Unavailable","error.type":"*errors.errorString"}
}
