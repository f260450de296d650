// Package cli is the command-line wiring the example job programs share:
// the flags of the checkpoint store, the sidecar, stopping, logging and
// the failure budget, and the lifecycle of a job program (run beside its
// sidecar, stop on SIGINT or SIGTERM, optionally with a savepoint).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ncw/swift/v2"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sidecar"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Flags are the flags every job program shares.
type Flags struct {
	// Program is the program's name, for messages.
	Program string

	CheckpointDir  string
	SwiftAuthURL   string
	SwiftUser      string
	SwiftContainer string

	StopSavepoint string
	StopTimeout   time.Duration

	SidecarAddr      string
	SidecarTokenFile string
	// SidecarToken is read from SidecarTokenFile or $STREAMKIT_SIDECAR_TOKEN
	// by Check.
	SidecarToken string
	MaxReadyLag  int64

	LogFormat string

	MaxFailures       int
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
}

// Defaults are the program-specific defaults of Register.
type Defaults struct {
	// SwiftContainer is the default Swift container of the checkpoints.
	SwiftContainer string
	// SidecarAddr is the sidecar's default address; empty: no sidecar
	// unless asked for.
	SidecarAddr string
}

// Register defines the shared flags on fs.
func (f *Flags) Register(fs *flag.FlagSet, d Defaults) {
	fs.StringVar(&f.CheckpointDir, "checkpoint-dir", "", "filesystem checkpoint store directory")
	fs.StringVar(&f.SwiftAuthURL, "swift-auth-url", "", "Swift auth URL (v1) of the checkpoint store; key in $STREAMKIT_SWIFT_KEY")
	fs.StringVar(&f.SwiftUser, "swift-user", os.Getenv("STREAMKIT_SWIFT_USER"), "Swift user (default $STREAMKIT_SWIFT_USER)")
	fs.StringVar(&f.SwiftContainer, "swift-container", d.SwiftContainer, "Swift container")
	fs.StringVar(&f.StopSavepoint, "stop-savepoint", "", `on SIGINT/SIGTERM, stop with a savepoint of this name ("{job}", "{time}" expanded)`)
	fs.DurationVar(&f.StopTimeout, "stop-timeout", time.Minute, "how long a stop may take")
	fs.StringVar(&f.SidecarAddr, "sidecar-addr", d.SidecarAddr, "address of the sidecar (empty: no sidecar)")
	fs.StringVar(&f.SidecarTokenFile, "sidecar-token-file", "", "file holding the sidecar's bearer token (default $STREAMKIT_SIDECAR_TOKEN)")
	fs.Int64Var(&f.MaxReadyLag, "max-ready-lag", sidecar.DefaultMaxReadyLag, "/readyz fails above this lag, in records")
	fs.StringVar(&f.LogFormat, "log-format", "text", "log format: text, json, or ecs (Elastic Common Schema JSON, as WMF's logging pipeline indexes it)")
	fs.IntVar(&f.MaxFailures, "max-failures", streamkit.DefaultMaxCheckpointFailures,
		"consecutive failed checkpoints or restarts before the program exits 1 (0: retry for ever, not-ready meanwhile)")
	fs.DurationVar(&f.RestartBackoff, "restart-backoff", 500*time.Millisecond, "first wait before a restart after a failure")
	fs.DurationVar(&f.MaxRestartBackoff, "max-restart-backoff", 30*time.Second, "longest wait between restarts (the backoff doubles up to it)")
}

// Check validates the shared flags after parsing and reads the sidecar's
// token.
func (f *Flags) Check() error {
	if _, err := NewLogger(f.LogFormat, f.Program, io.Discard, nil); err != nil {
		return err
	}
	if f.MaxFailures < 0 {
		return fmt.Errorf("-max-failures: %d is negative (0 retries for ever)", f.MaxFailures)
	}
	if f.CheckpointDir != "" && f.SwiftAuthURL != "" {
		return errors.New("-checkpoint-dir and -swift-auth-url are exclusive")
	}
	f.SidecarToken = os.Getenv("STREAMKIT_SIDECAR_TOKEN")
	if f.SidecarTokenFile != "" {
		b, err := os.ReadFile(f.SidecarTokenFile)
		if err != nil {
			return fmt.Errorf("-sidecar-token-file: %w", err)
		}
		f.SidecarToken = strings.TrimSpace(string(b))
	}
	return nil
}

// Store returns the checkpoint store the flags name, or nil when they name
// none.
func (f *Flags) Store() (checkpoint.Store, error) {
	switch {
	case f.CheckpointDir != "":
		return checkpoint.NewFileStore(f.CheckpointDir), nil
	case f.SwiftAuthURL != "":
		key := os.Getenv("STREAMKIT_SWIFT_KEY")
		if f.SwiftUser == "" || key == "" {
			return nil, errors.New("swift needs -swift-user and $STREAMKIT_SWIFT_KEY")
		}
		conn := &swift.Connection{UserName: f.SwiftUser, ApiKey: key, AuthUrl: f.SwiftAuthURL, AuthVersion: 1, Timeout: time.Minute}
		return checkpoint.NewSwiftStore(conn, f.SwiftContainer), nil
	}
	return nil, nil
}

// Logger returns the program's logger, writing to w in the -log-format.
func (f *Flags) Logger(w io.Writer) *slog.Logger {
	l, _ := NewLogger(f.LogFormat, f.Program, w, nil)
	return l
}

// LogFormats are the values of -log-format.
const LogFormats = "text, json or ecs"

// NewLogger returns a logger writing to w in format (text, json, or ecs:
// Elastic Common Schema JSON lines with service the service name), at
// level (nil: info).
func NewLogger(format, service string, w io.Writer, level slog.Leveler) (*slog.Logger, error) {
	o := &slog.HandlerOptions{Level: level}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	case "ecs":
		return slog.New(sidecar.NewECSHandler(w, service, o)), nil
	}
	return slog.New(slog.NewTextHandler(w, o)), fmt.Errorf("-log-format: %q is not %s", format, LogFormats)
}

// JobOptions returns the job options of the failure budget.
func (f *Flags) JobOptions() []streamkit.Option {
	return []streamkit.Option{
		streamkit.WithMaxCheckpointFailures(f.MaxFailures),
		streamkit.WithRestartBackoff(f.RestartBackoff, max(f.MaxRestartBackoff, f.RestartBackoff)),
	}
}

// List splits a comma-separated flag value, dropping empty items.
func List(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// ExpandSavepoint fills "{job}" and "{time}" into a savepoint name.
func ExpandSavepoint(name, job string, now time.Time) string {
	return strings.NewReplacer("{job}", job, "{time}", now.UTC().Format("20060102T150405Z")).Replace(name)
}

// Program is a job program ready to run.
type Program struct {
	Flags *Flags
	// Job is the job, for its sidecar and for stopping it.
	Job *streamkit.Job
	// Run runs the job until it is stopped; default Job.Run.
	Run func(ctx context.Context) error
	// Store is the checkpoint store (nil: none), whose savepoints the
	// sidecar lists.
	Store checkpoint.Store
	// Observer is the sidecar's observer, whose job options the job was
	// built with (nil: the sidecar makes its own).
	Observer *sidecar.Observer
	Logger   *slog.Logger
	Stderr   io.Writer
}

// Serve runs the program beside its sidecar (when -sidecar-addr is set)
// until the job ends or ctx is done; then it stops the job, with a savepoint
// when -stop-savepoint says so, so that the last checkpoint is committed.
// It returns the exit status: 0 after a clean stop, 1 when the job or the
// sidecar failed, 2 when the sidecar could not be set up.
func (p *Program) Serve(ctx context.Context) int {
	name, log, job := p.Flags.Program, p.Logger, p.Job
	fail := func(code int, what string, err error) int {
		fmt.Fprintf(p.Stderr, "%s: %s%v\n", name, what, err)
		return code
	}
	// The sidecar runs until the job has ended and its last answers (the
	// reply to POST /stop) are out; scDone stays nil without a sidecar.
	scCtx, scCancel := context.WithCancel(context.Background())
	defer scCancel()
	var scDone chan error
	if p.Flags.SidecarAddr != "" {
		opts := []sidecar.Option{sidecar.WithAddr(p.Flags.SidecarAddr), sidecar.WithToken(p.Flags.SidecarToken),
			sidecar.WithObserver(p.Observer), sidecar.WithLogger(log), sidecar.WithMaxReadyLag(p.Flags.MaxReadyLag)}
		if p.Store != nil {
			sps, err := sidecar.NewStoreSavepoints(p.Store, job.Name())
			if err != nil {
				return fail(2, "sidecar: ", err)
			}
			opts = append(opts, sidecar.WithSavepoints(sps))
		}
		sc, err := sidecar.New(job, opts...)
		if err != nil {
			return fail(2, "sidecar: ", err)
		}
		scDone = make(chan error, 1)
		go func() { scDone <- sc.Run(scCtx) }()
		defer func() {
			scCancel()
			if scDone != nil {
				if err := <-scDone; err != nil {
					log.Error(name+": sidecar", "error", err)
				}
			}
		}()
	}

	// The job runs on its own context: a signal drains it through Stop (or
	// StopWithSavepoint) instead of cancelling it, so the last checkpoint
	// is committed.
	run := p.Run
	if run == nil {
		run = job.Run
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(runCtx) }()
	var err error
	select {
	case err = <-done:
	case err = <-scDone:
		// The sidecar could not listen: stop the job rather than run blind.
		scDone = nil
		log.Error(name+": sidecar failed; stopping", "error", err)
		stopCtx, stopCancel := context.WithTimeout(context.Background(), p.Flags.StopTimeout)
		_ = job.Stop(stopCtx)
		stopCancel()
		cancel()
		<-done
		return fail(1, "sidecar: ", err)
	case <-ctx.Done():
		sp := ExpandSavepoint(p.Flags.StopSavepoint, job.Name(), time.Now())
		log.Info(name+": stopping", "savepoint", sp)
		stopCtx, stopCancel := context.WithTimeout(context.Background(), p.Flags.StopTimeout)
		var serr error
		if sp != "" {
			var res *streamkit.SavepointResult
			if res, serr = job.StopWithSavepoint(stopCtx, sp); serr == nil {
				log.Info(name+": savepoint taken", "name", res.Name, "tasks", res.Tasks)
			}
		} else {
			serr = job.Stop(stopCtx)
		}
		stopCancel()
		if errors.Is(serr, streamkit.ErrNotRunning) {
			serr = nil // already stopped over the sidecar (POST /stop, a preStop hook)
		}
		if serr != nil {
			log.Error(name+": stop failed", "error", serr)
			cancel()
		}
		if err = <-done; err == nil {
			err = serr
		}
	}
	if err != nil {
		return fail(1, "", err)
	}
	return 0
}

// ParseStart reads a -start flag: "earliest" (nil: the source's default),
// "latest", or an RFC 3339 time.
func ParseStart(s string) (*source.StartPosition, error) {
	switch s {
	case "earliest":
		return nil, nil
	case "latest":
		p := source.StartLatest()
		return &p, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("-start: %q is not earliest, latest or an RFC 3339 time", s)
	}
	p := source.StartAtTimestamp(t.UnixMilli())
	return &p, nil
}

// Parse parses args into fs and refuses positional arguments.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// Setup returns what a job program builds its job with: the logger writing
// to stderr, the job options of the failure budget and, with -sidecar-addr,
// of the sidecar's observer (nil without a sidecar).
func (f *Flags) Setup(stderr io.Writer) (*slog.Logger, []streamkit.Option, *sidecar.Observer, error) {
	log := f.Logger(stderr)
	opts := f.JobOptions()
	if f.SidecarAddr == "" {
		return log, opts, nil, nil
	}
	obs, err := sidecar.NewObserver()
	if err != nil {
		return nil, nil, nil, err
	}
	return log, append(opts, obs.JobOptions()...), obs, nil
}

// Exit prints err as the program's failure and returns its exit status: 2
// when err matches one of usage (a configuration the user must change), 1
// otherwise.
func (f *Flags) Exit(stderr io.Writer, err error, usage ...error) int {
	fmt.Fprintf(stderr, "%s: %v\n", f.Program, err)
	for _, u := range usage {
		if errors.Is(err, u) {
			return 2
		}
	}
	return 1
}
