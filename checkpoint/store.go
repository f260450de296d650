package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Store keeps immutable, named objects (model: hashicorp/raft's snapshot store).
//
// Snapshots and manifests are written through a Store. Because the manifest of
// a checkpoint is written last and an object only becomes visible when its
// writer commits, a crash at any point leaves either the previous checkpoint
// or the new one, never a half-written object that a restore could mistake
// for a complete one.
//
// The ctx given to Create governs the whole object: if it is done before
// Close commits, Close fails and nothing becomes visible. Every other method
// honours its ctx for the duration of the call.
//
// Implementations must be safe for concurrent use. The conformance suite in
// package checkpointtest checks every rule below and is meant to be run by
// any implementation, including ones outside this module.
type Store interface {
	// Create starts a new object. Nothing is visible to Open or List until the
	// returned Writer's Close returns nil; Cancel discards it. An object that
	// already exists is never overwritten: Create or Close fails with ErrExist.
	Create(ctx context.Context, name string) (ObjectWriter, error)
	// Open reads a committed object; ErrNotFound when there is none.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// List returns the committed objects whose names start with prefix, sorted by name.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes an object (and, for Swift, its large-object segments).
	// Deleting a missing object is not an error, so GC can be repeated.
	Delete(ctx context.Context, name string) error
}

// ObjectWriter receives the bytes of one object being created. The object
// becomes visible atomically when Close returns nil, so readers never observe
// a partial object.
type ObjectWriter interface {
	io.Writer
	// Close commits the object: it flushes, verifies and makes the object
	// visible atomically. After a failed Close nothing is visible; the caller
	// may still call Cancel to release resources, which is harmless.
	Close() error
	// Cancel aborts the object: nothing becomes visible. It is safe after a
	// failed Write and after a failed Close, and calling it twice is harmless.
	Cancel() error
}

// ObjectInfo describes a committed object, as returned by Store.List.
type ObjectInfo struct {
	// Name is the full object name, as passed to Create.
	Name string
	// Size is the object's length in bytes.
	Size int64
	// Modified is when the object was committed, as recorded by the store.
	Modified time.Time
}

var (
	// ErrNotFound is returned (wrapped) by Store.Open when no committed object
	// has the name. Callers test it with errors.Is, so a missing snapshot can
	// be told apart from an unreachable store.
	ErrNotFound = errors.New("checkpoint: object not found")
	// ErrExist is returned (wrapped) by Store.Create or ObjectWriter.Close when
	// an object of that name is already committed. Objects are immutable, so
	// two instances of a job racing to write the same checkpoint cannot both
	// succeed: exactly one wins, the other gets ErrExist.
	ErrExist = errors.New("checkpoint: object already exists")
	// ErrInvalidName is returned (wrapped) when an object name is empty,
	// absolute, contains empty, "." or ".." segments, NUL bytes or a
	// backslash. Validating names in every store keeps a name that works on
	// one store from failing, or escaping its directory, on another.
	ErrInvalidName = errors.New("checkpoint: invalid object name")
	// ErrClosed is returned by ObjectWriter.Write and Close after the writer
	// was closed or cancelled.
	ErrClosed = errors.New("checkpoint: object writer already closed")
	// ErrObjectCorrupt is returned (wrapped, by an ObjectCorruptError) when a
	// store detects that the bytes it returns are not the bytes that were
	// committed: a checksum or length mismatch. Readers see it from Read
	// before io.EOF, so truncated or damaged data is never taken for a whole
	// object.
	ErrObjectCorrupt = errors.New("checkpoint: stored object corrupt")
)

// ObjectCorruptError reports a stored object whose content failed
// verification. It wraps ErrObjectCorrupt.
type ObjectCorruptError struct {
	// Name is the object name, as passed to Open.
	Name string
	// Reason says what did not match, e.g. "md5 … != …".
	Reason string
}

// Error implements error.
func (e *ObjectCorruptError) Error() string {
	return fmt.Sprintf("checkpoint: stored object %q corrupt: %s", e.Name, e.Reason)
}

// Unwrap returns ErrObjectCorrupt.
func (e *ObjectCorruptError) Unwrap() error { return ErrObjectCorrupt }

// NameError reports a rejected object name. It wraps ErrInvalidName.
type NameError struct {
	// Name is the rejected object name.
	Name string
	// Reason says which rule it broke.
	Reason string
}

// Error implements error.
func (e *NameError) Error() string {
	return fmt.Sprintf("checkpoint: invalid object name %q: %s", e.Name, e.Reason)
}

// Unwrap returns ErrInvalidName so errors.Is(err, ErrInvalidName) holds.
func (e *NameError) Unwrap() error { return ErrInvalidName }

// maxNameLen bounds object names. Swift allows 1024 bytes of object name; the
// store prefix takes some of that, so names are held well below it.
const maxNameLen = 768

// ValidateName reports whether name is acceptable to every Store in this
// package: a non-empty, relative, '/'-separated path of at most 768 bytes
// whose segments are not empty, "." or "..", and do not start with the
// reserved ".tmp-" (the filesystem store's in-progress files), without NUL
// bytes or backslashes. The error wraps ErrInvalidName. Store
// implementations outside this module should apply the same rule, so that
// checkpoints stay portable between stores.
func ValidateName(name string) error {
	switch {
	case name == "":
		return &NameError{Name: name, Reason: "empty"}
	case len(name) > maxNameLen:
		return &NameError{Name: name, Reason: fmt.Sprintf("longer than %d bytes", maxNameLen)}
	case strings.HasPrefix(name, "/"):
		return &NameError{Name: name, Reason: "absolute path"}
	case strings.ContainsRune(name, 0):
		return &NameError{Name: name, Reason: "contains a NUL byte"}
	case strings.ContainsRune(name, '\\'):
		return &NameError{Name: name, Reason: "contains a backslash"}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "":
			return &NameError{Name: name, Reason: "empty path segment"}
		case ".", "..":
			return &NameError{Name: name, Reason: "contains a " + seg + " segment"}
		}
		if strings.HasPrefix(seg, tempPrefix) {
			return &NameError{Name: name, Reason: "segment starts with the reserved prefix " + tempPrefix}
		}
	}
	return nil
}

// tempPrefix marks in-progress files of the filesystem store; user names may
// not use it, so List can skip temp files without ambiguity.
const tempPrefix = ".tmp-"

// checkCall is the argument check every Store method makes first: a ctx
// already done, then (except for List, whose argument is a prefix) a name
// that breaks ValidateName.
func checkCall(ctx context.Context, op, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint: %s %q: %w", op, name, err)
	}
	if op == "list" {
		return nil
	}
	return ValidateName(name)
}
