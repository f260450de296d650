// Package childjob holds what the child programs of the process-level tests
// share: random pauses that widen the windows a SIGKILL can land in, a
// checkpoint store that pauses before committing an object, and the run,
// signal and clean-stop cycle whose log lines the tests read.
package childjob

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// Pauser sleeps a random time up to a maximum, now and then.
type Pauser struct {
	max time.Duration
	mu  sync.Mutex
	rnd *rand.Rand
}

// NewPauser returns a Pauser of pauses up to max (0: never), seeded with
// seed and the process ID.
func NewPauser(max time.Duration, seed uint64) *Pauser {
	return &Pauser{max: max, rnd: rand.New(rand.NewPCG(seed, uint64(os.Getpid())))}
}

// Maybe sleeps, with probability 1/oneIn, a random time up to the maximum,
// or until ctx ends.
func (p *Pauser) Maybe(ctx context.Context, oneIn int) {
	if p.max <= 0 {
		return
	}
	p.mu.Lock()
	hit := p.rnd.IntN(oneIn) == 0
	d := time.Duration(p.rnd.Int64N(int64(p.max) + 1))
	p.mu.Unlock()
	if !hit {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// PausingStore pauses, now and then, before committing a checkpoint object.
type PausingStore struct {
	checkpoint.Store
	Pauser *Pauser
	// OnCreate, if set, is called with the name of every object created.
	OnCreate func(name string)
}

// Create implements checkpoint.Store.
func (s *PausingStore) Create(ctx context.Context, name string) (checkpoint.ObjectWriter, error) {
	if s.OnCreate != nil {
		s.OnCreate(name)
	}
	w, err := s.Store.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &pausingWriter{ObjectWriter: w, ctx: ctx, p: s.Pauser}, nil
}

type pausingWriter struct {
	checkpoint.ObjectWriter
	ctx context.Context
	p   *Pauser
}

func (w *pausingWriter) Close() error {
	w.p.Maybe(w.ctx, 4)
	return w.ObjectWriter.Close()
}

// RunUntilSignal runs job until SIGTERM or SIGINT, then stops it cleanly
// within stopTimeout. It prints the lines the tests read ("<name>: pid …
// running", "<name>: stopped cleanly: …") on stderr, and returns an error
// when the job ended by itself or did not stop cleanly.
func RunUntilSignal(name string, job *streamkit.Job, run func(context.Context) error, stopTimeout time.Duration, about string) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- run(context.Background()) }()
	fmt.Fprintf(os.Stderr, "%s: pid %d running job %q%s\n", name, os.Getpid(), job.Name(), about)
	select {
	case err := <-done:
		return fmt.Errorf("job ended without a stop: %w", err)
	case sig := <-sigs:
		fmt.Fprintf(os.Stderr, "%s: %v: stopping\n", name, sig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := job.Stop(ctx); err != nil && !errors.Is(err, streamkit.ErrNotRunning) {
		return fmt.Errorf("stop: %w", err)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("run after stop: %w", err)
	}
	s := job.Stats()
	fmt.Fprintf(os.Stderr, "%s: stopped cleanly: processed=%d checkpoints=%d checkpoint_failures=%d restarts=%d\n",
		name, s.Processed, s.Checkpoints, s.CheckpointFailures, s.Restarts)
	return nil
}
