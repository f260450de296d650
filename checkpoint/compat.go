package checkpoint

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrIncompatible is wrapped by *IncompatibleError: the checkpoint's state
// tables do not match what the job declares.
var ErrIncompatible = errors.New("checkpoint: state is incompatible with the job")

// MismatchKind classifies one difference between a checkpoint and a job.
type MismatchKind string

const (
	// MismatchUndeclared: the checkpoint has a table the job does not declare
	// (allowed, and the table's data skipped, with AllowDroppedState).
	MismatchUndeclared MismatchKind = "undeclared"
	// MismatchMissing: the job declares a table the checkpoint does not have
	// (allowed, the table starting empty, with AllowNewState).
	MismatchMissing MismatchKind = "missing"
	// MismatchVersion: same table name, different schema version.
	MismatchVersion MismatchKind = "version"
	// MismatchCodec: same table name, different record encoding.
	MismatchCodec MismatchKind = "codec"
)

// Mismatch is one difference between the tables of a checkpoint and the
// tables a job declares.
type Mismatch struct {
	// Table is the table name.
	Table string
	// Kind is what differs.
	Kind MismatchKind
	// Stored is the table's schema in the checkpoint (zero if missing).
	Stored TableSchema
	// Declared is the table's schema in the job (zero if undeclared).
	Declared TableSchema
}

// String describes the mismatch in one phrase.
func (m Mismatch) String() string {
	switch m.Kind {
	case MismatchUndeclared:
		return fmt.Sprintf("table %q (version %d) is in the checkpoint but not declared by the job "+
			"(to drop its data on purpose, restore with checkpoint.AllowDroppedState())", m.Table, m.Stored.Version)
	case MismatchMissing:
		return fmt.Sprintf("table %q (version %d) is declared by the job but not in the checkpoint "+
			"(to start it empty on purpose, restore with checkpoint.AllowNewState())", m.Table, m.Declared.Version)
	case MismatchVersion:
		return fmt.Sprintf("table %q has version %d in the checkpoint, the job declares version %d "+
			"(run the build that wrote it, or migrate the state into a table of a new name)", m.Table, m.Stored.Version, m.Declared.Version)
	default:
		return fmt.Sprintf("table %q has codec %q in the checkpoint, the job declares codec %q "+
			"(run the build that wrote it)", m.Table, m.Stored.Codec, m.Declared.Codec)
	}
}

// IncompatibleError lists every difference between a checkpoint's state
// tables and the job's, found before any state is loaded, so an operator
// sees all of them at once instead of one per attempt.
type IncompatibleError struct {
	// Checkpoint is the checkpoint ID that was checked.
	Checkpoint uint64
	// Savepoint is the savepoint name, when restoring from one.
	Savepoint string
	// Mismatches are sorted by table name.
	Mismatches []Mismatch
}

// Error implements error.
func (e *IncompatibleError) Error() string {
	var b strings.Builder
	what := fmt.Sprintf("checkpoint %d", e.Checkpoint)
	if e.Savepoint != "" {
		what = fmt.Sprintf("savepoint %q (checkpoint %d)", e.Savepoint, e.Checkpoint)
	}
	fmt.Fprintf(&b, "checkpoint: %s is incompatible with the job (%d mismatches):", what, len(e.Mismatches))
	for _, m := range e.Mismatches {
		b.WriteString("\n  - ")
		b.WriteString(m.String())
	}
	return b.String()
}

// Unwrap returns ErrIncompatible.
func (e *IncompatibleError) Unwrap() error { return ErrIncompatible }

// RestoreOption configures Restore, RestoreLatest and RestoreSavepoint.
type RestoreOption func(*restoreOptions)

type restoreOptions struct {
	dropUndeclared bool
	allowNew       bool
	fallback       bool
}

// AllowDroppedState lets a restore skip the data of tables the checkpoint
// has but the job no longer declares (after a job stopped using a table).
func AllowDroppedState() RestoreOption { return func(o *restoreOptions) { o.dropUndeclared = true } }

// AllowNewState lets a restore leave empty the tables the job declares but
// the checkpoint lacks (after a job started using a new table).
func AllowNewState() RestoreOption { return func(o *restoreOptions) { o.allowNew = true } }

// FallBackOnCorruption makes a restore that meets a corrupt or missing
// object try the next older checkpoint, and so on. Off by default: the
// positions of an older checkpoint are behind the sink's commit point, so
// falling back replays input (at-least-once) and must be a deliberate
// choice. The manifest returned says which checkpoint was restored.
func FallBackOnCorruption() RestoreOption { return func(o *restoreOptions) { o.fallback = true } }

// checkCompat compares stored with declared and returns nil or an
// *IncompatibleError listing every mismatch not allowed by o.
func checkCompat(m *Manifest, declared []TableSchema, o restoreOptions) error {
	stored := make(map[string]TableSchema, len(m.Tables))
	for _, s := range m.Tables {
		stored[s.Name] = s
	}
	decl := make(map[string]TableSchema, len(declared))
	for _, s := range declared {
		decl[s.Name] = s
	}
	var mm []Mismatch
	for _, d := range declared {
		s, ok := stored[d.Name]
		switch {
		case !ok:
			if !o.allowNew {
				mm = append(mm, Mismatch{Table: d.Name, Kind: MismatchMissing, Declared: d})
			}
		case s.Codec != d.Codec:
			mm = append(mm, Mismatch{Table: d.Name, Kind: MismatchCodec, Stored: s, Declared: d})
		case s.Version != d.Version:
			mm = append(mm, Mismatch{Table: d.Name, Kind: MismatchVersion, Stored: s, Declared: d})
		}
	}
	for _, s := range m.Tables {
		if _, ok := decl[s.Name]; !ok && !o.dropUndeclared {
			mm = append(mm, Mismatch{Table: s.Name, Kind: MismatchUndeclared, Stored: s})
		}
	}
	if len(mm) == 0 {
		return nil
	}
	slices.SortStableFunc(mm, func(a, b Mismatch) int { return strings.Compare(a.Table, b.Table) })
	return &IncompatibleError{Checkpoint: m.ID, Savepoint: m.Savepoint, Mismatches: mm}
}
