package checkpointtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// ErrInjected is the error a FaultStore returns for an injected failure, so
// tests can tell it apart from a real store error with errors.Is.
var ErrInjected = errors.New("checkpointtest: injected failure")

// Fault describes one failure to inject into writes of a FaultStore.
type Fault struct {
	// Match selects the objects the fault applies to; nil matches every name.
	Match func(name string) bool
	// AfterBytes makes the fault fire once the writer has passed this many
	// bytes to the wrapped store: the Write that would cross it writes only
	// up to it and then fails. Zero fires at the first Write, before any
	// byte; a negative value means "not during Write". Ignored with OnClose.
	AfterBytes int64
	// OnClose makes Close fail (after all writes went through) instead.
	OnClose bool
	// Hook, when set, is called once when the fault fires, before anything
	// fails. With PassThrough it is a pure trigger: it lets a test act at a
	// precise point of a write, for example stop a Swift proxy half way
	// through a large object (see SAIO.StopProxy) and let the real store
	// fail on its own.
	Hook func()
	// PassThrough keeps the wrapped writer going after Hook ran: no failure
	// is injected, whatever the wrapped store does next is what the caller
	// sees.
	PassThrough bool
	// Crash leaves the wrapped writer neither closed nor cancelled when the
	// fault fires, as a process crash would; by default it is cancelled.
	Crash bool
}

// FaultStore wraps a Store and injects failures into its writes, to check
// that a failed write leaves earlier objects intact and nothing partial
// visible. Open, List and Delete pass through unchanged. Faults apply to
// writers created after Inject. Safe for concurrent use.
type FaultStore struct {
	inner checkpoint.Store

	mu     sync.Mutex
	faults []Fault
	fired  int
}

var _ checkpoint.Store = (*FaultStore)(nil)

// NewFaultStore wraps inner.
func NewFaultStore(inner checkpoint.Store) *FaultStore {
	return &FaultStore{inner: inner}
}

// Inject adds a fault for writers created from now on.
func (s *FaultStore) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Clear removes all faults; writers already created keep theirs.
func (s *FaultStore) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Fired reports how many faults have fired so far, so a test can check that
// its fault really was hit.
func (s *FaultStore) Fired() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// Create wraps the inner writer with the faults matching name.
func (s *FaultStore) Create(ctx context.Context, name string) (checkpoint.ObjectWriter, error) {
	w, err := s.inner.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var fs []Fault
	for _, f := range s.faults {
		if f.Match == nil || f.Match(name) {
			fs = append(fs, f)
		}
	}
	s.mu.Unlock()
	if len(fs) == 0 {
		return w, nil
	}
	return &faultWriter{store: s, inner: w, name: name, faults: fs}, nil
}

// Open passes through.
func (s *FaultStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.inner.Open(ctx, name)
}

// List passes through.
func (s *FaultStore) List(ctx context.Context, prefix string) ([]checkpoint.ObjectInfo, error) {
	return s.inner.List(ctx, prefix)
}

// Delete passes through.
func (s *FaultStore) Delete(ctx context.Context, name string) error {
	return s.inner.Delete(ctx, name)
}

type faultWriter struct {
	store  *FaultStore
	inner  checkpoint.ObjectWriter
	name   string
	faults []Fault

	mu      sync.Mutex
	written int64
	failed  error
	dropped bool // inner was abandoned (Crash) or cancelled
}

// fire runs f's hook and, unless it passes through, poisons the writer.
func (w *faultWriter) fire(i int) error {
	f := w.faults[i]
	w.faults = append(w.faults[:i:i], w.faults[i+1:]...)
	w.store.mu.Lock()
	w.store.fired++
	w.store.mu.Unlock()
	if f.Hook != nil {
		f.Hook()
	}
	if f.PassThrough {
		return nil
	}
	w.failed = fmt.Errorf("checkpointtest: write %q: %w", w.name, ErrInjected)
	if !f.Crash {
		_ = w.inner.Cancel()
	}
	w.dropped = true
	return w.failed
}

func (w *faultWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return 0, w.failed
	}
	total := 0
	for len(p) > 0 {
		// Find the nearest byte threshold among the pending faults.
		next, idx := int64(-1), -1
		for i, f := range w.faults {
			if !f.OnClose && f.AfterBytes >= 0 && (next < 0 || f.AfterBytes < next) {
				next, idx = f.AfterBytes, i
			}
		}
		chunk := p
		if idx >= 0 && w.written+int64(len(p)) >= next {
			chunk = p[:max(0, next-w.written)]
		}
		if len(chunk) > 0 {
			n, err := w.inner.Write(chunk)
			total += n
			w.written += int64(n)
			if err != nil {
				return total, err
			}
		}
		p = p[len(chunk):]
		if idx >= 0 && w.written >= next {
			if err := w.fire(idx); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

func (w *faultWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return w.failed
	}
	for i, f := range w.faults {
		if f.OnClose {
			if err := w.fire(i); err != nil {
				return err
			}
			break
		}
	}
	return w.inner.Close()
}

func (w *faultWriter) Cancel() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropped {
		return nil
	}
	w.dropped = true
	return w.inner.Cancel()
}
