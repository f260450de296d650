package checkpoint

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Savepoints are pins, not copies: a savepoint is one small object,
// "<job>/savepoints/<name>", holding a copy of the manifest of the
// checkpoint it pins (positions, job name, table schemas, and the lineage
// of every partition). GC treats every savepoint as a root, so the objects
// it names are kept until the savepoint is deleted, however old. Taking a
// savepoint therefore costs one small write, not a copy of ten million keys.
// To move a savepoint to another store, copy the pin and the objects listed
// by Manifest.Objects; the names are relative to the store.

// SavepointInfo describes a savepoint, as listed by Savepoints.
type SavepointInfo struct {
	// Name is the savepoint name.
	Name string
	// Checkpoint is the ID of the checkpoint it pins.
	Checkpoint uint64
	// Created is when that checkpoint was taken.
	Created time.Time
	// Saved is when the savepoint was written, as recorded by the store.
	Saved time.Time
}

func validateSavepointName(name string) error {
	if !tableNameRE.MatchString(name) {
		return fmt.Errorf("checkpoint: invalid savepoint name %q (want 1-128 of [A-Za-z0-9._-])", name)
	}
	return nil
}

// Savepoint pins checkpoint id (0: the newest) under name and returns the
// pinned manifest. Savepoints are never garbage-collected and never
// overwritten: an existing name fails with ErrExist.
func (c *Checkpointer) Savepoint(ctx context.Context, name string, id uint64) (*Manifest, error) {
	if err := validateSavepointName(name); err != nil {
		return nil, err
	}
	if id == 0 {
		ids, err := c.Checkpoints(ctx)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("%w: job %q has no checkpoint to save", ErrNoCheckpoint, c.job)
		}
		id = ids[len(ids)-1]
	}
	m, err := c.ReadManifest(ctx, id)
	if err != nil {
		return nil, err
	}
	m.Savepoint = name
	if _, err := c.publish(ctx, savepointName(c.job, name), m); err != nil {
		return nil, err
	}
	return m, nil
}

// ReadSavepoint returns the manifest pinned by a savepoint; ErrNoCheckpoint
// when there is no savepoint of that name.
func (c *Checkpointer) ReadSavepoint(ctx context.Context, name string) (*Manifest, error) {
	if err := validateSavepointName(name); err != nil {
		return nil, err
	}
	obj := savepointName(c.job, name)
	m, err := c.readManifestObject(ctx, obj)
	if err != nil {
		return nil, err
	}
	if m.Savepoint != name {
		return nil, &CorruptError{Object: obj, Reason: fmt.Sprintf("savepoint object names savepoint %q", m.Savepoint)}
	}
	return m, nil
}

// Savepoints lists the job's savepoints by name.
func (c *Checkpointer) Savepoints(ctx context.Context) ([]SavepointInfo, error) {
	prefix := savepointName(c.job, "")
	infos, err := c.store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: listing savepoints of %q: %w", c.job, err)
	}
	var out []SavepointInfo
	for _, in := range infos {
		name := strings.TrimPrefix(in.Name, prefix)
		m, err := c.ReadSavepoint(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, SavepointInfo{Name: name, Checkpoint: m.ID, Created: m.Created, Saved: in.Modified})
	}
	slices.SortFunc(out, func(a, b SavepointInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteSavepoint removes a savepoint; the next GC frees what only it
// needed. Deleting a missing savepoint is not an error.
func (c *Checkpointer) DeleteSavepoint(ctx context.Context, name string) error {
	if err := validateSavepointName(name); err != nil {
		return err
	}
	if err := c.store.Delete(ctx, savepointName(c.job, name)); err != nil {
		return fmt.Errorf("checkpoint: deleting savepoint %q: %w", name, err)
	}
	return nil
}

// RestoreSavepoint is Restore from a savepoint: the same compatibility
// check (the error names the savepoint) and the same verification. It never
// falls back: a savepoint is a deliberate choice.
func (c *Checkpointer) RestoreSavepoint(ctx context.Context, name string, parts []PartitionState, opts ...RestoreOption) (*Manifest, error) {
	opts = append(slices.Clip(opts), func(o *restoreOptions) { o.fallback = false })
	read := func(ctx context.Context, _ uint64) (*Manifest, error) { return c.ReadSavepoint(ctx, name) }
	return c.restore(ctx, parts, opts, read, func(context.Context) ([]uint64, error) { return []uint64{0}, nil })
}
