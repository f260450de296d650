package sidecar

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
)

// StopJob stops the job the way a termination should: with a savepoint
// named by the template when WithSavepointOnSignal is set, else with a plain
// Stop (which still drains and commits). It is bounded by the operation
// timeout. The result is nil for a plain stop.
func (s *Sidecar) StopJob(ctx context.Context) (*streamkit.SavepointResult, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	if !s.o.savepointTerm {
		s.o.log.Info("sidecar: stopping the job", "job", s.job.Name())
		return nil, s.job.Stop(ctx)
	}
	name := s.SavepointName(s.now())
	s.o.log.Info("sidecar: stopping the job with a savepoint", "job", s.job.Name(), "savepoint", name)
	res, err := s.job.StopWithSavepoint(ctx, name)
	s.invalidateSavepoints()
	return res, err
}

// StopOnSignal waits for one of sigs (default: SIGTERM, what Kubernetes
// sends at termination, and SIGINT) and then stops the job with StopJob,
// returning its error. It returns nil without stopping anything when ctx is
// done first. Run it beside the job:
//
//	go func() { _ = sc.StopOnSignal(ctx) }()
//	err := job.Run(ctx)
//
// While it waits, the signals no longer terminate the process; a second
// signal during the stop is ignored, so give the pod a
// terminationGracePeriodSeconds above the operation timeout. As an
// alternative, a preStop hook can POST /stop?savepoint= and this helper
// then finds the job already stopped (streamkit.ErrNotRunning, which it
// treats as success).
func (s *Sidecar) StopOnSignal(ctx context.Context, sigs ...os.Signal) error {
	if len(sigs) == 0 {
		sigs = []os.Signal{syscall.SIGTERM, os.Interrupt}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	defer signal.Stop(ch)
	return s.stopOn(ctx, ch)
}

func (s *Sidecar) stopOn(ctx context.Context, ch <-chan os.Signal) error {
	select {
	case <-ctx.Done():
		return nil
	case sig := <-ch:
		s.o.log.Info("sidecar: signal received", "signal", sig.String(), "job", s.job.Name())
	}
	// The caller's ctx is typically cancelled by the same signal
	// (signal.NotifyContext); the stop must still finish.
	_, err := s.StopJob(context.WithoutCancel(ctx))
	if errors.Is(err, streamkit.ErrNotRunning) {
		return nil
	}
	return err
}
