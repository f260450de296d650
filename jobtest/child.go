package jobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// DefaultOutputTail is how many bytes of a child's combined stdout and
// stderr a Child keeps for error messages when Options.OutputTail is zero:
// enough for the last few hundred log lines of a failing job.
const DefaultOutputTail = 64 << 10

var (
	// ErrExited is matched by the *ExitError that Kill, and KillLoop.Run,
	// return for a child that had already exited on its own: a job under a
	// kill test must only end when it is killed or stopped, so an early
	// exit is a failure of the job, not of the harness.
	ErrExited = errors.New("jobtest: child exited before it was killed")
	// ErrStopTimeout is matched by the error Stop returns when the child
	// did not exit within the context after SIGTERM (it is then killed).
	ErrStopTimeout = errors.New("jobtest: child did not stop in time")
)

// ExitError describes a child that ended in a way the caller did not ask
// for (or a clean stop that did not exit 0). Output is the tail of its
// combined stdout and stderr, which usually says why.
type ExitError struct {
	// Name and Run identify the child (see Options).
	Name string
	Run  int
	// Err is the cause: the *exec.ExitError of the process, ErrExited,
	// ErrStopTimeout, or a combination.
	Err error
	// Output is the tail of the child's output.
	Output string
}

// Error implements error; it includes the child's output tail.
func (e *ExitError) Error() string {
	return fmt.Sprintf("jobtest: %s run %d: %v\n--- output (tail) ---\n%s--- end of output ---", e.Name, e.Run, e.Err, e.Output)
}

// Unwrap returns the cause.
func (e *ExitError) Unwrap() error { return e.Err }

// Options describe a child for Start.
type Options struct {
	// Name names the child in errors and logs (default: the command's base
	// name).
	Name string
	// Run is the child's run number within a kill loop (0 for the first).
	Run int
	// OutputTail is how many bytes of output to keep (default
	// DefaultOutputTail).
	OutputTail int
	// Output, if set, also receives the child's combined stdout and stderr
	// as it is written (a log file, testing's t.Output()). It must be safe
	// for concurrent use if shared by several children.
	Output io.Writer
}

// Child is a running child process whose output is kept, so that a test can
// kill it with SIGKILL, stop it with SIGTERM, or learn why it died. Its
// methods are safe for concurrent use.
type Child struct {
	name    string
	run     int
	cmd     *exec.Cmd
	out     *tail
	started time.Time
	done    chan struct{}
	waitErr error // set before done is closed

	mu     sync.Mutex
	killed bool // we sent SIGKILL or SIGTERM; a signal death is expected
}

// Start starts cmd (which must not have been started) with its stdout and
// stderr captured, in addition to any writers already set on it. The
// caller owns the process from then on and must end it with Kill or Stop.
func Start(cmd *exec.Cmd, o Options) (*Child, error) {
	if cmd == nil || cmd.Path == "" {
		return nil, errors.New("jobtest: Start needs a command")
	}
	if cmd.Process != nil {
		return nil, errors.New("jobtest: command already started")
	}
	if o.Name == "" {
		o.Name = baseName(cmd.Path)
	}
	if o.OutputTail <= 0 {
		o.OutputTail = DefaultOutputTail
	}
	c := &Child{name: o.Name, run: o.Run, cmd: cmd, out: newTail(o.OutputTail), done: make(chan struct{})}
	var w io.Writer = c.out
	if o.Output != nil {
		w = io.MultiWriter(c.out, o.Output)
	}
	cmd.Stdout = teeTo(cmd.Stdout, w)
	cmd.Stderr = teeTo(cmd.Stderr, w)
	if cmd.WaitDelay == 0 {
		// A grandchild holding the output pipe must not hang Wait.
		cmd.WaitDelay = 5 * time.Second
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("jobtest: starting %s run %d: %w", o.Name, o.Run, err)
	}
	c.started = time.Now()
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func teeTo(existing, w io.Writer) io.Writer {
	if existing == nil {
		return w
	}
	return io.MultiWriter(existing, w)
}

func baseName(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if os.IsPathSeparator(path[i]) {
			return path[i+1:]
		}
	}
	return path
}

// Name returns the child's name; Run its run number.
func (c *Child) Name() string { return c.name }

// Run returns the child's run number (see Options.Run).
func (c *Child) Run() int { return c.run }

// PID returns the child's process ID.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Uptime returns how long the child has been running (or ran).
func (c *Child) Uptime() time.Duration { return time.Since(c.started) }

// Done is closed when the child has exited and been reaped.
func (c *Child) Done() <-chan struct{} { return c.done }

// Output returns the tail of the child's combined stdout and stderr.
func (c *Child) Output() string { return c.out.String() }

// Exited reports whether the child has exited.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Err returns how the child exited (nil for exit status 0), as an
// *ExitError with its output, or nil while it is still running.
func (c *Child) Err() error {
	if !c.Exited() || c.waitErr == nil {
		return nil
	}
	return c.exitError(c.waitErr)
}

func (c *Child) exitError(err error) *ExitError {
	return &ExitError{Name: c.name, Run: c.run, Err: err, Output: c.out.String()}
}

// Kill sends SIGKILL and waits until the child is reaped: no cleanup code of
// the child runs, exactly as after a crash or an OOM kill. If the child had
// already exited on its own, Kill returns an *ExitError matching ErrExited
// (with its exit status and output), since a job under test must not end by
// itself.
func (c *Child) Kill() error {
	c.mu.Lock()
	expected := c.killed
	c.killed = true
	c.mu.Unlock()
	if c.Exited() {
		if expected {
			return nil
		}
		return c.exitError(errors.Join(ErrExited, c.waitErr))
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("jobtest: killing %s run %d: %w", c.name, c.run, err)
	}
	<-c.done
	return nil
}

// Stop asks the child to stop with SIGTERM and waits for it to exit. Call it
// once the child is up (see KillLoop): a child signalled before it installed
// its handler exits with the signal's status. It
// returns nil if the child exited with status 0, and an *ExitError with the
// child's output otherwise. If ctx ends first, the child is killed and the
// error matches ErrStopTimeout.
func (c *Child) Stop(ctx context.Context) error {
	c.mu.Lock()
	c.killed = true
	c.mu.Unlock()
	if !c.Exited() {
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("jobtest: signalling %s run %d: %w", c.name, c.run, err)
		}
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		_ = c.cmd.Process.Kill()
		<-c.done
		return c.exitError(errors.Join(ErrStopTimeout, ctx.Err()))
	}
	if c.waitErr != nil {
		return c.exitError(c.waitErr)
	}
	return nil
}

// WaitOutput waits until the child's output contains s (anywhere since it
// started, even if that part has left the kept tail), the child exits
// (an *ExitError matching ErrExited), or ctx ends.
func (c *Child) WaitOutput(ctx context.Context, s string) error {
	if s == "" {
		return nil
	}
	seen := c.out.watch(s)
	select {
	case <-seen:
		return nil
	case <-c.done:
		select {
		case <-seen: // written just before the exit
			return nil
		default:
		}
		return c.exitError(errors.Join(ErrExited, c.waitErr))
	case <-ctx.Done():
		return fmt.Errorf("jobtest: waiting for %q in the output of %s run %d: %w", s, c.name, c.run, ctx.Err())
	}
}

// tail keeps the last max bytes written to it and tells watchers when a
// string they wait for has been written.
type tail struct {
	mu       sync.Mutex
	max      int
	buf      []byte
	dropped  bool
	watchers []*watcher
	// history is the last bytes written (up to the longest watched string
	// minus one), so a match across two writes is found.
	history []byte
}

type watcher struct {
	s    []byte
	seen chan struct{}
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.watchers) > 0 {
		window := append(append([]byte(nil), t.history...), p...)
		kept := t.watchers[:0]
		longest := 0
		for _, w := range t.watchers {
			if bytes.Contains(window, w.s) {
				close(w.seen)
				continue
			}
			kept = append(kept, w)
			longest = max(longest, len(w.s))
		}
		t.watchers = kept
		if n := min(len(window), longest); n > 0 {
			t.history = append(t.history[:0], window[len(window)-n:]...)
		} else {
			t.history = t.history[:0]
		}
	}
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.dropped = true
	}
	return len(p), nil
}

// watch returns a channel closed once s has been written. Output already
// written is searched too, as far as it is kept.
func (t *tail) watch(s string) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := &watcher{s: []byte(s), seen: make(chan struct{})}
	if bytes.Contains(t.buf, w.s) {
		close(w.seen)
		return w.seen
	}
	// Later writes must match across the boundary with what is kept now.
	if n := min(len(t.buf), len(s)-1); n > len(t.history) {
		t.history = append(t.history[:0], t.buf[len(t.buf)-n:]...)
	}
	t.watchers = append(t.watchers, w)
	return w.seen
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.buf)
	if t.dropped {
		s = "[… earlier output dropped …]\n" + s
	}
	if s != "" && s[len(s)-1] != '\n' {
		s += "\n"
	}
	return s
}
