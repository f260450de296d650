package checkpoint

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryStore is a Store that keeps objects in memory. It exists for tests
// and examples: it is fast, needs no setup, and follows the Store contract
// exactly (objects are immutable, visible only after Close, never
// overwritten), so code tested against it behaves the same on Swift or the
// filesystem. Everything is lost when the process exits.
//
// The zero value is not usable; call NewMemoryStore. A MemoryStore is safe for
// concurrent use.
type MemoryStore struct {
	mu      sync.RWMutex
	objects map[string]memoryObject
	now     func() time.Time
}

type memoryObject struct {
	data     []byte
	modified time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{objects: make(map[string]memoryObject), now: time.Now}
}

// Create starts a new object. It fails early with ErrExist when the name is
// already committed; a concurrent writer that commits first makes Close fail
// with ErrExist instead. The object is committed only if ctx is still live
// when Close is called.
func (s *MemoryStore) Create(ctx context.Context, name string) (ObjectWriter, error) {
	if err := checkCall(ctx, "create", name); err != nil {
		return nil, err
	}
	s.mu.RLock()
	_, exists := s.objects[name]
	s.mu.RUnlock()
	if exists {
		return nil, fmt.Errorf("checkpoint: create %q: %w", name, ErrExist)
	}
	return &memoryWriter{ctx: ctx, store: s, name: name}, nil
}

// Open returns a reader over a committed object, or an error wrapping
// ErrNotFound.
func (s *MemoryStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkCall(ctx, "open", name); err != nil {
		return nil, err
	}
	s.mu.RLock()
	obj, ok := s.objects[name]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("checkpoint: open %q: %w", name, ErrNotFound)
	}
	// Committed data is never modified, so readers can share it.
	return io.NopCloser(bytes.NewReader(obj.data)), nil
}

// List returns the committed objects whose names start with prefix, sorted
// by name.
func (s *MemoryStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("checkpoint: list %q: %w", prefix, err)
	}
	s.mu.RLock()
	infos := make([]ObjectInfo, 0, len(s.objects))
	for name, obj := range s.objects {
		if strings.HasPrefix(name, prefix) {
			infos = append(infos, ObjectInfo{Name: name, Size: int64(len(obj.data)), Modified: obj.modified})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// Delete removes an object. Deleting a missing object is not an error.
func (s *MemoryStore) Delete(ctx context.Context, name string) error {
	if err := checkCall(ctx, "delete", name); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.objects, name)
	s.mu.Unlock()
	return nil
}

type memoryWriter struct {
	ctx   context.Context
	store *MemoryStore
	name  string

	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

func (w *memoryWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, fmt.Errorf("checkpoint: write %q: %w", w.name, ErrClosed)
	}
	if err := w.ctx.Err(); err != nil {
		return 0, fmt.Errorf("checkpoint: write %q: %w", w.name, err)
	}
	return w.buf.Write(p)
}

func (w *memoryWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return fmt.Errorf("checkpoint: close %q: %w", w.name, ErrClosed)
	}
	w.done = true
	if err := w.ctx.Err(); err != nil {
		w.buf = bytes.Buffer{}
		return fmt.Errorf("checkpoint: close %q: %w", w.name, err)
	}
	data := bytes.Clone(w.buf.Bytes())
	if data == nil {
		data = []byte{}
	}
	w.buf = bytes.Buffer{}
	s := w.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.objects[w.name]; exists {
		return fmt.Errorf("checkpoint: close %q: %w", w.name, ErrExist)
	}
	s.objects[w.name] = memoryObject{data: data, modified: s.now()}
	return nil
}

func (w *memoryWriter) Cancel() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	w.buf = bytes.Buffer{}
	return nil
}
