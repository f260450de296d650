package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// staleTombstoneAge is how old another GC's tombstone must be before a GC
// removes it as left over by a crashed run. A live GC run takes seconds.
const staleTombstoneAge = time.Hour

// gcConcurrency is how many store requests of one step of a GC run are in
// flight at once. The steps follow one another, as the protocol below
// needs; the requests within a step (deleting expired manifests, reading
// manifests, placing tombstones, deleting objects) are independent, and on
// a remote store one at a time would make a run of a few dozen requests
// take a large part of a second.
const gcConcurrency = 8

// forEachLimited calls fn for each of items, at most gcConcurrency at once,
// and returns the first error once every call it started has returned; it
// starts no call after one failed.
func forEachLimited[T any](items []T, fn func(T) error) error {
	if len(items) == 1 {
		return fn(items[0])
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, gcConcurrency)
	for _, it := range items {
		sem <- struct{}{}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(it); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// GCResult reports what one GC run did.
type GCResult struct {
	// Retained are the IDs of the checkpoints kept, oldest first.
	Retained []uint64
	// DeletedCheckpoints are the IDs whose manifests were deleted.
	DeletedCheckpoints []uint64
	// DeletedObjects counts deleted snapshot objects (of expired and of
	// never-completed checkpoints) and stale tombstones.
	DeletedObjects int
	// DeletedSegments counts large-object segments of failed uploads that
	// the store removed (see segmentCollector).
	DeletedSegments int
}

// segmentCollector is implemented by stores that keep large-object
// segments apart from the objects (SwiftStore): segments of uploads that
// failed or crashed are invisible to List, so GC asks the store to remove
// them.
type segmentCollector interface {
	RemoveOrphanSegments(ctx context.Context, olderThan time.Duration) (int, error)
}

// minSegmentAge protects the segments of a slow upload in progress.
const minSegmentAge = time.Hour

type gcDir struct {
	manifest bool
	objects  []ObjectInfo // snapshot objects
	newest   time.Time
}

// GC keeps the newest checkpoints (WithRetain), every savepoint, and every
// object those need, such as the bases of their delta chains; it deletes
// the manifests of older checkpoints, then every object nothing needs any
// more, including those of checkpoints that never got a manifest once they
// are older than WithOrphanAge or below the oldest retained checkpoint. On a
// store with separate large-object segments (SwiftStore) it also removes the
// segments of failed uploads once they are older than the orphan age, but
// at least an hour. It can be repeated and run from several instances at
// once.
//
// Why concurrent writers and GCs cannot lose needed state: an object is
// only deleted by a GC run that (1) first commits a tombstone object
// "GC-<random>" in the object's checkpoint directory, then (2) lists and
// reads every manifest and savepoint of the job, and (3) deletes only
// objects none of them names, and finally removes its tombstone. A writer,
// in turn, (a) commits its manifest or savepoint pin and then (b) lists the
// checkpoint directories and withdraws the manifest (failing with
// ErrConcurrentGC) if the directory of an object it names holds a tombstone
// or lacks the object. Take a GC that deletes object X named by manifest M.
// It did not see M at (2), so M was committed after (2), so (b) ran after
// (2) and hence after (1). At (b) the tombstone is either still there or,
// being removed only after the deletions, X is already gone: either way the
// writer withdraws M before anything (the sink's commit point) refers to
// it. Each GC run uses its own tombstone, so one run finishing cannot hide
// another that is still deleting. This needs a store whose List sees every
// committed object (read-after-write listing: true of the memory and
// filesystem stores and, barring failures, of a Swift cluster; Swift's
// container listings can lag under failures, and the orphan age and keeping
// the newest checkpoints are the margin there). Manifests themselves are
// only deleted when they are not among the newest WithRetain ones in the
// run's first listing. TestConcurrentWritersAndGC fails if step (b) is
// removed.
func (c *Checkpointer) GC(ctx context.Context) (GCResult, error) {
	var res GCResult
	now := c.o.now()
	infos, err := c.store.List(ctx, c.job+"/chk-")
	if err != nil {
		return res, fmt.Errorf("checkpoint: gc: listing %q: %w", c.job, err)
	}
	dirs := make(map[uint64]*gcDir)
	var staleTombstones []string
	for _, in := range infos {
		id, rest, ok := parseChkName(c.job, in.Name)
		if !ok {
			continue
		}
		d := dirs[id]
		if d == nil {
			d = &gcDir{}
			dirs[id] = d
		}
		switch {
		case rest == "MANIFEST":
			d.manifest = true
		case strings.HasPrefix(rest, tombstonePrefix):
			if now.Sub(in.Modified) >= staleTombstoneAge {
				staleTombstones = append(staleTombstones, in.Name)
			}
		default:
			d.objects = append(d.objects, in)
		}
		if in.Modified.After(d.newest) {
			d.newest = in.Modified
		}
	}
	var ids []uint64
	for id, d := range dirs {
		if d.manifest {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	keep := max(0, len(ids)-c.o.retain)
	res.Retained = slices.Clone(ids[keep:])

	// Phase 1: expire old manifests. From here on those checkpoints do not
	// exist; their objects stay while a retained chain or a savepoint uses
	// them.
	var mu sync.Mutex
	err = forEachLimited(ids[:keep], func(id uint64) error {
		if err := c.store.Delete(ctx, manifestName(c.job, id)); err != nil {
			return fmt.Errorf("checkpoint: gc: deleting manifest of checkpoint %d: %w", id, err)
		}
		mu.Lock()
		defer mu.Unlock()
		dirs[id].manifest = false
		res.DeletedCheckpoints = append(res.DeletedCheckpoints, id)
		return nil
	})
	slices.Sort(res.DeletedCheckpoints)
	if err != nil {
		return res, err
	}
	err = forEachLimited(staleTombstones, func(name string) error {
		if err := c.store.Delete(ctx, name); err != nil {
			return fmt.Errorf("checkpoint: gc: deleting stale tombstone %q: %w", name, err)
		}
		mu.Lock()
		res.DeletedObjects++
		mu.Unlock()
		return nil
	})
	if err != nil {
		return res, err
	}

	// Pre-screen with the retained manifests and the savepoints, so that a
	// directory whose objects are all still needed is left alone (no
	// tombstone that would make a concurrent writer retry).
	needed, err := c.neededBy(ctx, res.Retained)
	if err != nil {
		return res, err
	}
	// Candidate directories: no manifest (any more), some unneeded object,
	// and either below the oldest retained checkpoint (its writer, if still
	// alive, has lost to newer checkpoints) or older than the orphan age.
	var cands []uint64
	for id, d := range dirs {
		if d.manifest || !slices.ContainsFunc(d.objects, func(in ObjectInfo) bool { return !needed[in.Name] }) {
			continue
		}
		if (len(res.Retained) > 0 && id < res.Retained[0]) || now.Sub(d.newest) >= c.o.orphanAge {
			cands = append(cands, id)
		}
	}
	if len(cands) > 0 {
		slices.Sort(cands)
		n, err := c.sweep(ctx, cands)
		res.DeletedObjects += n
		if err != nil {
			return res, err
		}
	}
	if sc, ok := c.store.(segmentCollector); ok {
		n, err := sc.RemoveOrphanSegments(ctx, max(c.o.orphanAge, minSegmentAge))
		res.DeletedSegments = n
		if err != nil {
			return res, fmt.Errorf("checkpoint: gc: removing orphan segments: %w", err)
		}
	}
	return res, nil
}

// neededBy reads the manifests of ids and every savepoint and returns the
// names of the objects they need. A manifest or savepoint deleted meanwhile
// is skipped; one that cannot be read fails the GC run before it deletes
// anything, because what it needs is unknown.
func (c *Checkpointer) neededBy(ctx context.Context, ids []uint64) (map[string]bool, error) {
	needed := make(map[string]bool)
	var mu sync.Mutex
	add := func(what string, m *Manifest, err error) error {
		if errors.Is(err, ErrNoCheckpoint) {
			return nil // deleted meanwhile by another GC or a withdrawing writer
		}
		if err != nil {
			return fmt.Errorf("checkpoint: gc: cannot read %s, nothing deleted: %w", what, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range m.Objects() {
			needed[r.Name] = true
		}
		return nil
	}
	err := forEachLimited(ids, func(id uint64) error {
		m, err := c.ReadManifest(ctx, id)
		return add(fmt.Sprintf("checkpoint %d", id), m, err)
	})
	if err != nil {
		return nil, err
	}
	prefix := savepointName(c.job, "")
	infos, err := c.store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: gc: listing savepoints: %w", err)
	}
	err = forEachLimited(infos, func(in ObjectInfo) error {
		name := strings.TrimPrefix(in.Name, prefix)
		m, err := c.ReadSavepoint(ctx, name)
		return add(fmt.Sprintf("savepoint %q", name), m, err)
	})
	if err != nil {
		return nil, err
	}
	return needed, nil
}

// sweep runs steps (1)-(3) of the GC protocol on the candidate directories.
func (c *Checkpointer) sweep(ctx context.Context, cands []uint64) (deleted int, err error) {
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	tomb := tombstonePrefix + hex.EncodeToString(tok[:])
	var (
		mu     sync.Mutex
		placed []string
	)
	defer func() {
		derr := forEachLimited(placed, func(name string) error {
			if err := c.store.Delete(context.WithoutCancel(ctx), name); err != nil {
				return fmt.Errorf("checkpoint: gc: removing tombstone %q: %w", name, err)
			}
			return nil
		})
		if err == nil {
			err = derr
		}
	}()
	// (1) tombstones.
	err = forEachLimited(cands, func(id uint64) error {
		name := chkDir(c.job, id) + "/" + tomb
		w, err := c.store.Create(ctx, name)
		if err == nil {
			if err = w.Close(); err != nil {
				_ = w.Cancel()
			}
		}
		if err != nil {
			return fmt.Errorf("checkpoint: gc: placing tombstone %q: %w", name, err)
		}
		mu.Lock()
		placed = append(placed, name)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return deleted, err
	}
	// (2) every manifest and savepoint that exists now.
	infos, err := c.store.List(ctx, c.job+"/")
	if err != nil {
		return deleted, fmt.Errorf("checkpoint: gc: listing %q: %w", c.job, err)
	}
	manifested := make(map[uint64]bool)
	var all []uint64
	for _, in := range infos {
		if id, rest, ok := parseChkName(c.job, in.Name); ok && rest == "MANIFEST" {
			manifested[id] = true
			all = append(all, id)
		}
	}
	needed, err := c.neededBy(ctx, all)
	if err != nil {
		return deleted, err
	}
	// (3) delete what nothing needs.
	inCand := make(map[uint64]bool, len(cands))
	for _, id := range cands {
		inCand[id] = !manifested[id] // a writer completed it meanwhile: leave it alone
	}
	var garbage []string
	for _, in := range infos {
		id, rest, ok := parseChkName(c.job, in.Name)
		if !ok || !inCand[id] || rest == "MANIFEST" || strings.HasPrefix(rest, tombstonePrefix) || needed[in.Name] {
			continue
		}
		garbage = append(garbage, in.Name)
	}
	err = forEachLimited(garbage, func(name string) error {
		if err := c.store.Delete(ctx, name); err != nil {
			return fmt.Errorf("checkpoint: gc: deleting %q: %w", name, err)
		}
		mu.Lock()
		deleted++
		mu.Unlock()
		return nil
	})
	return deleted, err
}
