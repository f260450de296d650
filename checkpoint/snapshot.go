package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

var (
	// ErrCorrupt is wrapped by every *CorruptError: a snapshot object or
	// manifest that is truncated, fails a checksum, does not parse, or is
	// missing although a manifest names it.
	ErrCorrupt = errors.New("checkpoint: corrupt checkpoint")
	// ErrNoCheckpoint is returned (wrapped) when the job has no checkpoint,
	// or not the one asked for. A job starting for the first time gets it
	// from RestoreLatest and starts from empty state.
	ErrNoCheckpoint = errors.New("checkpoint: no such checkpoint")
	// ErrConcurrentGC is returned (wrapped) by Checkpoint and Savepoint when
	// a garbage collector, typically of a second instance of the same job,
	// deleted or is deleting objects the new checkpoint builds on. The new
	// manifest is withdrawn before returning, so nothing refers to the lost
	// objects; the next Checkpoint writes full bases.
	ErrConcurrentGC = errors.New("checkpoint: state was garbage-collected concurrently")
)

// CorruptError reports a damaged or missing checkpoint object. It names the
// object, so an operator knows what to inspect or delete.
type CorruptError struct {
	// Object is the full object name in the store.
	Object string
	// Reason says what is wrong.
	Reason string
	// Err is the underlying cause, if any (for example ErrNotFound).
	Err error
}

// Error implements error.
func (e *CorruptError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("checkpoint: corrupt object %q: %s: %v", e.Object, e.Reason, e.Err)
	}
	return fmt.Sprintf("checkpoint: corrupt object %q: %s", e.Object, e.Reason)
}

// Unwrap returns ErrCorrupt and the cause, so errors.Is works for both.
func (e *CorruptError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrCorrupt, e.Err}
	}
	return []error{ErrCorrupt}
}

// PartitionState is the keyed state of one input partition: the unit that
// is snapshotted into one object and can move to another job instance.
type PartitionState struct {
	// Partition is the input partition (state shard) number, >= 0.
	Partition int
	// Tables are the partition's state tables, with distinct names.
	Tables []StateTable
}

// Option configures a Checkpointer.
type Option func(*options)

type options struct {
	fullEvery   int
	deltaRatio  float64
	inlineMax   int // bytes of inline deltas per partition chain; 0: none
	retain      int
	orphanAge   time.Duration
	parallelism int
	now         func() time.Time
	log         *slog.Logger
}

// WithFullEvery makes every n-th snapshot of a partition a full base: a
// chain holds at most n objects (a base and n-1 deltas). Default 10. n=1
// disables incremental snapshots.
func WithFullEvery(n int) Option { return func(o *options) { o.fullEvery = max(1, n) } }

// WithDeltaRatio writes a full base as soon as the deltas of a chain add up
// to more than ratio times the base's size, so that restore time stays
// bounded when most keys change. Default 0.5.
func WithDeltaRatio(ratio float64) Option { return func(o *options) { o.deltaRatio = ratio } }

// InlineDeltasBudget is a budget for WithInlineDeltas that keeps a whole
// chain of ten deltas of 1 000 entity → revision keys (about 14 KB each)
// inline, with manifests of at most about 350 KB.
const InlineDeltasBudget = 256 << 10

// WithInlineDeltas keeps small deltas in the manifest instead of in objects
// of their own, up to maxBytes of inline deltas per partition's chain (the
// chain's later manifests carry them too, until the next base). A
// checkpoint whose deltas all fit costs one object write, the manifest's,
// instead of one per changed partition followed by the manifest's: on
// Swift, one sequential round trip fewer. A delta that does not fit, or
// would push its chain over the budget, is written as an object as usual.
// Default 0 (off; InlineDeltasBudget is a good value). Manifests with inline
// deltas carry format 2, which builds without inline deltas refuse, so turn
// it on once every build that may restore the job's checkpoints reads them.
func WithInlineDeltas(maxBytes int) Option {
	return func(o *options) { o.inlineMax = max(0, maxBytes) }
}

// WithRetain sets how many of the newest checkpoints GC keeps (with
// everything they need). Default 3, minimum 1.
func WithRetain(k int) Option { return func(o *options) { o.retain = max(1, k) } }

// WithOrphanAge sets how old the objects of a checkpoint without a manifest
// must be before GC deletes them. It keeps GC from disturbing a checkpoint
// that a live writer is still writing (GC stays safe without it, see GC, but
// that writer's checkpoint would fail). Default 15 minutes.
func WithOrphanAge(d time.Duration) Option { return func(o *options) { o.orphanAge = d } }

// WithParallelism sets how many partition objects are written or read at
// once. Default 4.
func WithParallelism(n int) Option { return func(o *options) { o.parallelism = max(1, n) } }

// WithClock replaces time.Now (for manifests' creation times and GC ages).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the logger for GC and fallback decisions. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Checkpointer writes, restores, pins and garbage-collects the checkpoints
// of one job in one Store. All objects live under "<job>/": checkpoint N
// under "<job>/chk-<N>/" (one "p-<partition>.state" object per partition
// that changed, then "MANIFEST"), savepoints under "<job>/savepoints/".
//
// A Checkpointer remembers, per partition, the lineage of the last
// checkpoint it wrote or restored, so that the next one can be a delta. It
// is safe for concurrent use, but Checkpoint and Restore calls are
// serialised.
type Checkpointer struct {
	store Store
	job   string
	o     options

	mu          sync.Mutex
	chains      map[int]*chainState
	lastAttempt uint64 // highest ID this instance tried to write
	// seenMax is the highest checkpoint ID in the listing that verified the
	// last successful checkpoint; valid while seenFresh. It saves the next
	// Checkpoint a listing: a collision it misses still fails safely with
	// ErrExist, after which the next Checkpoint lists again.
	seenMax   uint64
	seenFresh bool
}

// chainState is the committed lineage of one partition.
type chainState struct {
	refs   []ObjectRef
	tables []TableSchema // schemas of the base; a change forces a new base
}

// loggerInheritor is a store that logs through the logger of the
// Checkpointer that uses it unless it was given its own.
type loggerInheritor interface {
	inheritLogger(*slog.Logger)
}

// NewCheckpointer returns a Checkpointer for job in store. The job name
// (letters, digits, '.', '_', '-') is the namespace of all its objects.
// It does no I/O.
func NewCheckpointer(store Store, job string, opts ...Option) (*Checkpointer, error) {
	if store == nil {
		return nil, errors.New("checkpoint: nil store")
	}
	if !jobNameRE.MatchString(job) {
		return nil, fmt.Errorf("checkpoint: invalid job name %q (want 1-128 of [A-Za-z0-9._-])", job)
	}
	o := options{fullEvery: 10, deltaRatio: 0.5, retain: 3, orphanAge: 15 * time.Minute, parallelism: 4, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	} else if li, ok := store.(loggerInheritor); ok {
		li.inheritLogger(o.log)
	}
	return &Checkpointer{store: store, job: job, o: o, chains: make(map[int]*chainState)}, nil
}

// Job returns the job name.
func (c *Checkpointer) Job() string { return c.job }

// snapshotHeader is section 0 of every snapshot object.
type snapshotHeader struct {
	Job        string        `msgpack:"job"`
	Checkpoint uint64        `msgpack:"checkpoint"`
	Partition  int           `msgpack:"partition"`
	Full       bool          `msgpack:"full"`
	Created    time.Time     `msgpack:"created"`
	Tables     []tableHeader `msgpack:"tables"`
}

type tableHeader struct {
	Schema TableSchema `msgpack:"schema"`
	Len    int64       `msgpack:"len"` // keys after applying the object
}

// declaredSchemas validates parts and returns the union of their schemas,
// sorted by name.
func declaredSchemas(parts []PartitionState) ([]TableSchema, error) {
	byName := make(map[string]TableSchema)
	seenPart := make(map[int]bool)
	for _, p := range parts {
		if p.Partition < 0 {
			return nil, fmt.Errorf("checkpoint: negative partition %d", p.Partition)
		}
		if seenPart[p.Partition] {
			return nil, fmt.Errorf("checkpoint: partition %d given twice", p.Partition)
		}
		seenPart[p.Partition] = true
		seen := make(map[string]bool)
		for _, t := range p.Tables {
			if t == nil {
				return nil, fmt.Errorf("checkpoint: partition %d has a nil table", p.Partition)
			}
			s := t.Schema()
			if err := s.validate(); err != nil {
				return nil, err
			}
			if seen[s.Name] {
				return nil, fmt.Errorf("checkpoint: partition %d has two tables named %q", p.Partition, s.Name)
			}
			seen[s.Name] = true
			if old, ok := byName[s.Name]; ok && old != s {
				return nil, fmt.Errorf("checkpoint: table %q declared as %+v and %+v in different partitions", s.Name, old, s)
			}
			byName[s.Name] = s
		}
	}
	out := make([]TableSchema, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b TableSchema) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func schemasOf(tables []StateTable) []TableSchema {
	out := make([]TableSchema, len(tables))
	for i, t := range tables {
		out[i] = t.Schema()
	}
	return out
}

// nextID lists the job's checkpoints and returns one more than the highest
// ID seen, with or without a manifest, so that IDs increase across restarts
// and across instances. (Checkpoint also never reuses an ID it tried.)
func (c *Checkpointer) nextID(ctx context.Context) (uint64, error) {
	infos, err := c.store.List(ctx, c.job+"/chk-")
	if err != nil {
		return 0, fmt.Errorf("checkpoint: listing checkpoints of %q: %w", c.job, err)
	}
	var hi uint64
	for _, in := range infos {
		if id, _, ok := parseChkName(c.job, in.Name); ok {
			hi = max(hi, id)
		}
	}
	return hi + 1, nil
}

// Checkpoint writes a checkpoint of parts with the given source positions
// and returns its manifest. The job must keep the tables still while it
// runs (the barrier). Each partition with changes gets one object, a delta
// of its dirty keys or, when the chain is due for one (see WithFullEvery,
// WithDeltaRatio), a full base; partitions without changes reuse their
// previous lineage. The manifest is written last; only after it is
// committed are the tables' dirty sets cleared.
//
// On error nothing is committed (the objects already written are orphans
// for GC), the dirty sets are kept, and the next Checkpoint includes them.
// If another instance wrote the same checkpoint ID first, the error wraps
// ErrExist.
func (c *Checkpointer) Checkpoint(ctx context.Context, positions map[string]int64, parts []PartitionState) (*Manifest, error) {
	schemas, err := declaredSchemas(parts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.seenMax + 1
	if !c.seenFresh {
		if id, err = c.nextID(ctx); err != nil {
			return nil, err
		}
	}
	c.seenFresh = false
	id = max(id, c.lastAttempt+1)
	c.lastAttempt = id
	now := c.o.now().UTC()
	m := &Manifest{
		Format: manifestFormat, Job: c.job, ID: id, Created: now,
		Positions: clonePositions(positions), Tables: schemas,
		Partitions: make([]PartitionManifest, len(parts)),
	}
	newChains := make([]*chainState, len(parts))
	err = c.forEach(ctx, len(parts), func(ctx context.Context, i int) error {
		cs, err := c.writePartition(ctx, id, now, parts[i])
		if err != nil {
			return err
		}
		newChains[i] = cs
		m.Partitions[i] = PartitionManifest{Partition: parts[i].Partition, Chain: cs.refs}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(m.Partitions, func(a, b PartitionManifest) int { return a.Partition - b.Partition })
	for _, r := range m.Objects() {
		if r.Inline != nil {
			m.Format = manifestFormatInline
			break
		}
	}
	seen, err := c.publish(ctx, manifestName(c.job, id), m)
	if err != nil {
		if errors.Is(err, ErrConcurrentGC) {
			clear(c.chains)
		}
		return nil, err
	}
	c.seenMax, c.seenFresh = seen, true
	clear(c.chains)
	for i, p := range parts {
		c.chains[p.Partition] = newChains[i]
		for _, t := range p.Tables {
			t.ClearDirty()
		}
	}
	return m, nil
}

func clonePositions(p map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// forEach runs fn for 0..n-1 with the configured parallelism and returns
// the first error (cancelling the others).
func (c *Checkpointer) forEach(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, c.o.parallelism)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("checkpoint: %w", context.Cause(ctx))
	}
	return first
}

// writePartition writes the object of one partition (unless nothing
// changed) and returns its new lineage.
func (c *Checkpointer) writePartition(ctx context.Context, id uint64, now time.Time, p PartitionState) (*chainState, error) {
	schemas := schemasOf(p.Tables)
	prev := c.chains[p.Partition]
	full := prev == nil || len(prev.refs) >= c.o.fullEvery || !slices.Equal(prev.tables, schemas)
	if !full {
		var deltaBytes int64
		dirty := 0
		for _, r := range prev.refs[1:] {
			deltaBytes += r.Size
		}
		for _, t := range p.Tables {
			dirty += t.DirtyLen()
		}
		if float64(deltaBytes) > c.o.deltaRatio*float64(prev.refs[0].Size) {
			full = true
		} else if dirty == 0 {
			return prev, nil
		}
	}
	name := partName(c.job, id, p.Partition, randomHex(8))
	create := func() (ObjectWriter, error) {
		if fc, ok := c.store.(freshCreator); ok {
			return fc.createFresh(ctx, name)
		}
		return c.store.Create(ctx, name)
	}
	// A delta goes inline while it fits what is left of the chain's
	// budget; past that, into its object.
	sw := &spillWriter{open: create}
	if !full {
		sw.limit = c.o.inlineMax
		for _, r := range prev.refs {
			sw.limit -= len(r.Inline)
		}
	}
	if sw.limit <= 0 {
		if err := sw.spill(); err != nil {
			return nil, fmt.Errorf("checkpoint: creating %q: %w", name, err)
		}
	}
	ref, err := encodeSnapshot(sw, snapshotHeader{Job: c.job, Checkpoint: id, Partition: p.Partition, Full: full, Created: now}, p.Tables)
	if err == nil && sw.w == nil && sw.buf == nil {
		sw.buf = []byte{} // an empty delta is still inline
	}
	if err == nil && sw.w != nil {
		err = sw.w.Close()
	}
	if err != nil {
		if sw.w != nil {
			_ = sw.w.Cancel()
		}
		return nil, fmt.Errorf("checkpoint: writing %q: %w", name, err)
	}
	if sw.w == nil {
		ref.Inline = sw.buf
	}
	ref.Name, ref.Checkpoint, ref.Full = name, id, full
	if full {
		return &chainState{refs: []ObjectRef{ref}, tables: schemas}, nil
	}
	return &chainState{refs: append(slices.Clip(prev.refs), ref), tables: schemas}, nil
}

// spillWriter keeps what is written in memory up to limit bytes and, past
// that, moves it into an object it then streams into.
type spillWriter struct {
	limit int
	open  func() (ObjectWriter, error)
	buf   []byte
	w     ObjectWriter // nil while in memory
}

func (s *spillWriter) spill() error {
	w, err := s.open()
	if err != nil {
		return err
	}
	s.w = w
	if len(s.buf) > 0 {
		if _, err := w.Write(s.buf); err != nil {
			return err
		}
	}
	s.buf = nil
	return nil
}

func (s *spillWriter) Write(p []byte) (int, error) {
	if s.w == nil {
		if len(s.buf)+len(p) <= s.limit {
			s.buf = append(s.buf, p...)
			return len(p), nil
		}
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	return s.w.Write(p)
}

// encodeSnapshot streams the header and the tables into w and returns the
// object's size, CRC32C and record count.
func encodeSnapshot(w io.Writer, h snapshotHeader, tables []StateTable) (ObjectRef, error) {
	bw := newBlockWriter(w)
	mp := msgpack.NewEncoder(bw)
	mp.UseCompactInts(true)
	for _, t := range tables {
		h.Tables = append(h.Tables, tableHeader{Schema: t.Schema(), Len: int64(t.Len())})
	}
	bw.startSection(0)
	if err := mp.Encode(&h); err != nil && bw.err == nil {
		bw.err = err
	}
	enc := &Encoder{bw: bw, mp: mp}
	var records int64
	for i, t := range tables {
		bw.startSection(uint32(i + 1))
		n := t.EncodeTo(enc, h.Full)
		enc.op(OpEnd)
		enc.Uvarint(uint64(n))
		records += n
	}
	if err := bw.finish(); err != nil {
		return ObjectRef{}, err
	}
	return ObjectRef{Size: bw.size, CRC32C: bw.crc, Records: records}, nil
}

// freshCreator is a Store that writes an object whose name no other writer
// will ever use (snapshot objects carry a random token, see partName) with
// fewer requests than Create: it may skip the checks that guard a contested
// name. The object is still committed atomically and durably by Close.
type freshCreator interface {
	createFresh(ctx context.Context, name string) (ObjectWriter, error)
}

// deferredVerifier is an ObjectWriter whose commit ends with a read-back
// confirming the object under the name is the writer's own (SwiftStore,
// for a contested name). closeDeferVerify commits and returns that
// read-back (nil if none is needed) instead of running it, so that the
// caller can overlap it with its own checks; an error from verify is final,
// as from Close.
type deferredVerifier interface {
	closeDeferVerify() (verify func(ctx context.Context) error, err error)
}

// publish writes a manifest (or savepoint pin) and then checks that every
// object it names is still there and that no GC is sweeping their
// directories; otherwise it withdraws the manifest. See GC for why this
// write-then-check order makes concurrent GC safe. It returns the highest
// checkpoint ID seen by the check.
//
// The check (one listing) and the store's read-back of the manifest (did
// this writer win the name?) both need the manifest committed and nothing
// else, so they run at the same time.
func (c *Checkpointer) publish(ctx context.Context, name string, m *Manifest) (uint64, error) {
	data, err := encodeManifest(m)
	if err != nil {
		return 0, err
	}
	w, err := c.store.Create(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("checkpoint: creating %q: %w", name, err)
	}
	var verify func(ctx context.Context) error
	if _, err = w.Write(data); err == nil {
		if dv, ok := w.(deferredVerifier); ok {
			verify, err = dv.closeDeferVerify()
		} else {
			err = w.Close()
		}
	}
	if err != nil {
		_ = w.Cancel()
		return 0, fmt.Errorf("checkpoint: writing %q: %w", name, err)
	}
	var (
		seen      uint64
		verifyErr error
		wg        sync.WaitGroup
	)
	if verify != nil {
		wg.Go(func() { verifyErr = verify(ctx) })
	}
	seen, err = c.verifyLive(ctx, m)
	wg.Wait()
	if verifyErr != nil {
		// The name may be another writer's manifest: never withdraw it.
		return 0, fmt.Errorf("checkpoint: writing %q: %w", name, verifyErr)
	}
	if err != nil {
		// Withdraw: nothing may refer to objects a GC removes. The sink's
		// commit point has not been written yet, so nobody depends on m.
		derr := c.store.Delete(context.WithoutCancel(ctx), name)
		if derr != nil {
			return 0, fmt.Errorf("%w (and withdrawing %q failed: %v)", err, name, derr)
		}
		return 0, err
	}
	return seen, nil
}

// verifyLive lists the job's checkpoint directories (one listing, made
// after the manifest was committed) and fails with ErrConcurrentGC when the
// directory of an object m names, or m's own, holds a GC tombstone, or when
// an object is missing.
func (c *Checkpointer) verifyLive(ctx context.Context, m *Manifest) (maxID uint64, err error) {
	dirs := map[uint64]bool{m.ID: true}
	want := make(map[string]int64)
	for _, r := range m.Objects() {
		if r.Inline != nil {
			continue // in m itself
		}
		dirs[r.Checkpoint] = true
		want[r.Name] = r.Size
	}
	infos, err := c.store.List(ctx, c.job+"/chk-")
	if err != nil {
		return 0, fmt.Errorf("checkpoint: verifying checkpoint %d: %w", m.ID, err)
	}
	for _, in := range infos {
		id, rest, ok := parseChkName(c.job, in.Name)
		if !ok {
			continue
		}
		maxID = max(maxID, id)
		if !dirs[id] {
			continue
		}
		if strings.HasPrefix(rest, tombstonePrefix) {
			return 0, fmt.Errorf("%w: %q is being collected (%s)", ErrConcurrentGC, chkDir(c.job, id), in.Name)
		}
		if size, ok := want[in.Name]; ok && size == in.Size {
			delete(want, in.Name)
		}
	}
	for name := range want {
		return 0, fmt.Errorf("%w: %q is gone", ErrConcurrentGC, name)
	}
	return maxID, nil
}
