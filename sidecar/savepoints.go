package sidecar

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// Savepoint is a named savepoint of a job: a pin of one checkpoint per task
// (a job's tasks checkpoint separately, each under "<job>.task-<n>").
type Savepoint struct {
	Name string `json:"name"`
	// Tasks maps each task that has the savepoint to the checkpoint ID it
	// pins. A savepoint taken while the job ran on several instances has
	// the tasks of every instance that took it; one missing a task cannot
	// restore that task.
	Tasks map[int]uint64 `json:"tasks"`
	// Created is when the newest pinned checkpoint was taken, and Saved
	// when the newest pin was written.
	Created time.Time `json:"created"`
	Saved   time.Time `json:"saved"`
}

// SavepointLister lists a job's savepoints for /status. It is optional
// (WithSavepoints): without one, /status has no savepoints.
type SavepointLister interface {
	Savepoints(ctx context.Context) ([]Savepoint, error)
}

// StoreSavepoints lists the savepoints of job in a checkpoint store, as
// streamkit.Job writes them: it finds the job's task namespaces
// ("<job>.task-<n>") by listing the store, and merges each task's
// checkpoint.Checkpointer.Savepoints by name.
type StoreSavepoints struct {
	store checkpoint.Store
	job   string
}

var _ SavepointLister = (*StoreSavepoints)(nil)

// NewStoreSavepoints returns a SavepointLister over store for job. It does
// no I/O.
func NewStoreSavepoints(store checkpoint.Store, job string) (*StoreSavepoints, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil checkpoint store", ErrInvalidOption)
	}
	if job == "" || strings.ContainsAny(job, "/\\") {
		return nil, fmt.Errorf("%w: invalid job name %q", ErrInvalidOption, job)
	}
	return &StoreSavepoints{store: store, job: job}, nil
}

// Savepoints implements SavepointLister, sorted by name.
func (l *StoreSavepoints) Savepoints(ctx context.Context) ([]Savepoint, error) {
	prefix := l.job + ".task-"
	objs, err := l.store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("sidecar: listing the task namespaces of job %q: %w", l.job, err)
	}
	tasks := map[int]bool{}
	for _, o := range objs {
		ns, _, ok := strings.Cut(strings.TrimPrefix(o.Name, prefix), "/")
		if !ok || ns == "" || strings.TrimLeft(ns, "0123456789") != "" {
			continue // another job whose name starts like ours, e.g. "<job>.task-1.task-0"
		}
		n, err := strconv.Atoi(ns)
		if err != nil || strconv.Itoa(n) != ns {
			continue
		}
		tasks[n] = true
	}
	byName := map[string]*Savepoint{}
	for _, t := range slices.Sorted(maps.Keys(tasks)) {
		ck, err := checkpoint.NewCheckpointer(l.store, prefix+strconv.Itoa(t))
		if err != nil {
			return nil, fmt.Errorf("sidecar: savepoints of task %d: %w", t, err)
		}
		infos, err := ck.Savepoints(ctx)
		if err != nil {
			return nil, fmt.Errorf("sidecar: savepoints of task %d: %w", t, err)
		}
		for _, in := range infos {
			sp := byName[in.Name]
			if sp == nil {
				sp = &Savepoint{Name: in.Name, Tasks: map[int]uint64{}}
				byName[in.Name] = sp
			}
			sp.Tasks[t] = in.Checkpoint
			if in.Created.After(sp.Created) {
				sp.Created = in.Created.UTC()
			}
			if in.Saved.After(sp.Saved) {
				sp.Saved = in.Saved.UTC()
			}
		}
	}
	out := make([]Savepoint, 0, len(byName))
	for _, sp := range byName {
		out = append(out, *sp)
	}
	slices.SortFunc(out, func(a, b Savepoint) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// StateSize is the size of a task's keyed state in one checkpoint: the
// objects a restore of that checkpoint reads (each partition's base and
// deltas).
type StateSize struct {
	Bytes   int64 `json:"bytes"`
	Objects int   `json:"objects"`
	// Records counts the puts and deletes in those objects; more than the
	// number of keys when deltas overwrite them.
	Records int64 `json:"records"`
}

// StateSizer is an optional interface of a SavepointLister: when the lister
// given to WithSavepoints implements it, /status reports the state size of
// every task's last checkpoint (read once per checkpoint, then cached, as
// checkpoints are immutable). StoreSavepoints implements it.
type StateSizer interface {
	StateSize(ctx context.Context, task int, checkpointID uint64) (StateSize, error)
}

var _ StateSizer = (*StoreSavepoints)(nil)

// StateSize implements StateSizer from the checkpoint's manifest.
func (l *StoreSavepoints) StateSize(ctx context.Context, task int, checkpointID uint64) (StateSize, error) {
	ck, err := checkpoint.NewCheckpointer(l.store, streamkit.TaskNamespace(l.job, task))
	if err != nil {
		return StateSize{}, fmt.Errorf("sidecar: state size of task %d: %w", task, err)
	}
	m, err := ck.ReadManifest(ctx, checkpointID)
	if err != nil {
		return StateSize{}, fmt.Errorf("sidecar: state size of task %d: %w", task, err)
	}
	var s StateSize
	for _, o := range m.Objects() {
		s.Bytes += o.Size
		s.Objects++
		s.Records += o.Records
	}
	return s, nil
}
