package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// DefaultGraphOutputTarget is the accumulated weight (rdfdiff.Accumulator.Weight)
// at which a GraphOutput asks for an early checkpoint unless
// WithGraphOutputTarget says otherwise: the WDQS consumer's default batch
// size.
const DefaultGraphOutputTarget = 1000

// Errors of the GraphOutput lifecycle.
var (
	// ErrGraphOutputClosed is returned by every method of a GraphOutput
	// after Close.
	ErrGraphOutputClosed = errors.New("graph: graph output closed")
	// ErrGraphOutputNotOpen is returned by Add, Send and Commit when no
	// checkpoint is open (Begin was not called, or the last one ended).
	ErrGraphOutputNotOpen = errors.New("graph: graph output has no open checkpoint")
	// ErrGraphOutputOpen is returned by Begin while a checkpoint is open.
	ErrGraphOutputOpen = errors.New("graph: graph output checkpoint already open")
)

// WithGraphOutputTarget sets the accumulated weight at which WantsCommit
// asks the runner for an early checkpoint (default DefaultGraphOutputTarget;
// 0 or less: only barriers do).
//
// An option of NewGraphOutput.
func WithGraphOutputTarget(weight int) Option {
	return outputOption("WithGraphOutputTarget", func(o *GraphOutput) { o.target = weight })
}

// WithGraphOutputAccumulator passes options to the output's accumulators
// (sitelink reclassification, refusing invalid duplicates).
//
// An option of NewGraphOutput.
func WithGraphOutputAccumulator(opts ...rdfdiff.AccumulatorOption) Option {
	return outputOption("WithGraphOutputAccumulator", func(o *GraphOutput) { o.accOpts = append(o.accOpts, opts...) })
}

// WithChangeCheck sets the check every change must pass when it is added:
// what the store the output stands in for would refuse. Pass the SPARQL
// dialect's (sparql.DialectSPARQL11.CheckChange for Oxigraph,
// sparql.DialectBlazegraph.CheckChange, …) so that a test on the in-memory
// graph refuses exactly the changes the real store would. The default,
// RefuseBlankNodes, refuses what no SPARQL output can write; nil accepts
// every valid change.
//
// An option of NewGraphOutput.
func WithChangeCheck(check func(*rdfdiff.EntityChange) error) Option {
	return outputOption("WithChangeCheck", func(o *GraphOutput) { o.check = check })
}

// ErrBlankNode is returned by RefuseBlankNodes.
var ErrBlankNode = errors.New("graph: blank node in a change (skolemize it first): a SPARQL store cannot delete it by DELETE DATA and renames it on INSERT DATA")

// RefuseBlankNodes is the default change check of a GraphOutput: a change
// holding a blank node in its added, removed or linked-shared triples is
// refused, as every SPARQL output refuses it.
func RefuseBlankNodes(c *rdfdiff.EntityChange) error {
	for _, ts := range [][]rdfdiff.Triple{c.Patch.Added, c.Patch.Removed, c.Patch.LinkedShared} {
		for i, tr := range ts {
			if tr.S.IsBlankNode() || tr.O.IsBlankNode() {
				return fmt.Errorf("%w: triple %d", ErrBlankNode, i)
			}
		}
	}
	return nil
}

// GraphOutputStats are the counters of a GraphOutput since it was created.
type GraphOutputStats struct {
	// Commits, Aborts count checkpoints committed and discarded.
	Commits, Aborts int64
	// Changes counts entity changes committed into the graph.
	Changes int64
	// DeadLetters counts dead-letter records committed.
	DeadLetters int64
}

// graphOutputState is where a GraphOutput is in its lifecycle.
type graphOutputState int

const (
	goIdle graphOutputState = iota
	goOpen
	goClosed
)

// graphSegment is a run of changes one Accumulator merges; a change the
// accumulator refuses (a diff after a delete of the same entity) starts the
// next segment, applied after it in the same atomic step.
type graphSegment struct {
	acc *rdfdiff.Accumulator
}

// GraphOutput is a Graph as the Output of a job task: the in-memory store of
// the quickstart and of users' unit tests, with the method set of the SPARQL
// sink (the job runner's Output contract, CommitRequester, and Add for an
// RDFConsumer) so that a processor written against one runs against the
// other.
//
// Add merges the checkpoint's entity changes with rdfdiff's Accumulator;
// Commit applies them and records the commit point in one atomic step:
// either the graph holds all of the checkpoint and its commit point, or
// (on error) the graph is unchanged. A change the accumulator must keep for
// a later batch (a diff after a delete of the same entity) opens a second
// segment, applied after the first within the same step, and WantsCommit
// turns true. ReadCommitPoint reads the graph's commit point.
//
// A Graph records one commit point, so one GraphOutput writes into a graph:
// give every task its own Graph (a job on one partition, as WDQS's
// per-replica consumer, has one task). Commit refuses to overwrite a commit
// point of other partitions, and ReadCommitPoint refuses to read one, with
// an error matching ErrInvalidCommitPoint, rather than restore a task from
// another task's positions.
//
// Dead letters: GraphOutput is a RecordSender, so a job can dead-letter into
// it (the runner's WithDeadLetterTopic, or NewDeadLetter over it). The
// records are held with the open checkpoint and kept in memory when it
// commits (DeadLetters), discarded when it aborts: a record is applied or
// dead-lettered, never both, as with Kafka.
//
// Claim is a no-op: the graph lives in this process, which is its only
// writer. A GraphOutput is safe for concurrent use.
type GraphOutput struct {
	g       *Graph
	target  int
	accOpts []rdfdiff.AccumulatorOption
	check   func(*rdfdiff.EntityChange) error // WithChangeCheck

	mu       sync.Mutex
	state    graphOutputState
	segments []*graphSegment
	changes  int
	letters  []streamkit.KafkaRecord // dead letters of the open checkpoint
	dead     []streamkit.KafkaRecord // committed dead letters

	commits, aborts, committedChanges, deadLetters atomic.Int64
}

// Interface checks for the shapes the job runner consumes.
var (
	_ interface{ WantsCommit() bool } = (*GraphOutput)(nil)
	_ interface {
		Claim(context.Context) error
		ReadCommitPoint(context.Context, source.Partitions) (*streamkit.CommitPoint, error)
		Begin(context.Context) error
		Commit(context.Context, *streamkit.CommitPoint) error
		Abort(context.Context) error
		Close() error
	} = (*GraphOutput)(nil)
	_ streamkit.RecordSender = (*GraphOutput)(nil)
)

// NewGraphOutput returns an output writing into g. It does no I/O.
func NewGraphOutput(g *Graph, opts ...Option) (*GraphOutput, error) {
	if g == nil {
		return nil, errors.New("graph: graph output needs a graph")
	}
	o := &GraphOutput{g: g, target: DefaultGraphOutputTarget, check: RefuseBlankNodes}
	if err := (&settings{output: o}).apply("NewGraphOutput", opts); err != nil {
		return nil, err
	}
	return o, nil
}

// Graph returns the graph the output writes into.
func (o *GraphOutput) Graph() *Graph { return o.g }

// Claim checks that the output is open; there is no other writer to fence.
func (o *GraphOutput) Claim(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state == goClosed {
		return ErrGraphOutputClosed
	}
	return nil
}

// ReadCommitPoint returns the graph's commit point restricted to partitions
// (topic to partition numbers), positions sorted. It returns an error
// matching ErrNoCommitPoint when the graph has none for them, and one
// matching ErrInvalidCommitPoint when the graph's commit point names
// partitions outside the list (the graph is another task's).
func (o *GraphOutput) ReadCommitPoint(ctx context.Context, partitions source.Partitions) (*streamkit.CommitPoint, error) {
	o.mu.Lock()
	closed := o.state == goClosed
	o.mu.Unlock()
	if closed {
		return nil, ErrGraphOutputClosed
	}
	cp, err := o.g.Positions(ctx)
	if err != nil {
		return nil, err
	}
	if cp == nil || len(cp.Positions) == 0 {
		return nil, fmt.Errorf("%w: graph output", streamkit.ErrNoCommitPoint)
	}
	if err := foreignPartitions(cp, partitions); err != nil {
		return nil, err
	}
	return cp, nil
}

// foreignPartitions reports positions of cp outside partitions.
func foreignPartitions(cp *streamkit.CommitPoint, partitions source.Partitions) error {
	for _, tp := range cp.Positions.Sorted() {
		if !partitions.Has(tp) {
			return fmt.Errorf("%w: the graph's commit point (job %q, checkpoint %d) holds %s, not a partition of this task: one graph per task",
				streamkit.ErrInvalidCommitPoint, cp.Job, cp.CheckpointID, tp)
		}
	}
	return nil
}

// Begin opens the next checkpoint.
func (o *GraphOutput) Begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch o.state {
	case goClosed:
		return ErrGraphOutputClosed
	case goOpen:
		return ErrGraphOutputOpen
	}
	o.state = goOpen
	return nil
}

// Add merges c into the open checkpoint. origins (the change's provenance)
// are accepted for the ChangeWriter contract and not kept: the graph
// applies any change Add accepted, so nothing is ever handed back. A
// malformed change, or one the change check refuses (WithChangeCheck: what
// the store the graph stands in for would refuse), gives an error matching
// rdfdiff.ErrInvalidChange and leaves the checkpoint unchanged, so the
// Processor fails before it updates its state.
func (o *GraphOutput) Add(c *rdfdiff.EntityChange, origins ...any) error {
	if c == nil {
		return fmt.Errorf("%w: nil entity change", rdfdiff.ErrInvalidChange)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.openLocked(); err != nil {
		return err
	}
	if o.check != nil {
		if err := o.check(c); err != nil {
			return fmt.Errorf("graph: graph output refuses change of %s: %w", c.EntityID, &rdfdiff.InvalidChangeError{
				EntityID: c.EntityID, Revision: c.Revision, Operation: c.Operation,
				Msg: "the store the graph stands in for would refuse it", Err: err})
		}
	}
	if c.Operation == rdfdiff.OpDelete || c.Operation == rdfdiff.OpReconcile {
		// Refuse here what Commit would: a failed Commit fails the whole
		// checkpoint, again after every restart.
		if err := o.g.checkEntityID(c.EntityID); err != nil {
			return fmt.Errorf("graph: graph output cannot take change of %s: %w", c.EntityID, &rdfdiff.InvalidChangeError{
				EntityID: c.EntityID, Revision: c.Revision, Operation: c.Operation,
				Msg: "entity ID outside the graph's URI scheme (or, in subject mode, not an absolute IRI)", Err: err})
		}
	}
	segs, _, err := rdfdiff.AccumulateSegmented(o.segments, func(g *graphSegment) *rdfdiff.Accumulator { return g.acc },
		func() *graphSegment { return &graphSegment{acc: rdfdiff.NewAccumulator(o.accOpts...)} }, c)
	o.segments = segs
	if err != nil {
		return fmt.Errorf("graph: graph output cannot take change of %s (revision %d): %w", c.EntityID, c.Revision, err)
	}
	o.changes++
	return nil
}

// Send holds a (dead-letter) record with the open checkpoint; it is kept
// when the checkpoint commits (see DeadLetters).
func (o *GraphOutput) Send(ctx context.Context, rec streamkit.KafkaRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.Topic == "" {
		return fmt.Errorf("%w: no topic", streamkit.ErrInvalidRecord)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.openLocked(); err != nil {
		return err
	}
	rec.Key, rec.Value, rec.Headers = slices.Clone(rec.Key), slices.Clone(rec.Value), slices.Clone(rec.Headers)
	o.letters = append(o.letters, rec)
	return nil
}

// WantsCommit reports whether the open checkpoint should commit early: it
// holds a barrier (two segments) or its weight reached the target.
func (o *GraphOutput) WantsCommit() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != goOpen || len(o.segments) == 0 {
		return false
	}
	if len(o.segments) > 1 {
		return true
	}
	return o.target > 0 && o.segments[0].acc.Weight() >= o.target
}

// Pending returns the number of changes in the open checkpoint.
func (o *GraphOutput) Pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changes
}

// Commit applies the open checkpoint's changes and records cp in one
// atomic step, keeps its dead letters, and closes the checkpoint. On error
// the graph is unchanged and the checkpoint stays open (Abort discards it).
func (o *GraphOutput) Commit(ctx context.Context, cp *streamkit.CommitPoint) error {
	if err := cp.Validate(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.openLocked(); err != nil {
		return err
	}
	patches := make([]*rdfdiff.ConsolidatedPatch, 0, len(o.segments))
	for _, s := range o.segments {
		patches = append(patches, s.acc.Result())
	}
	guard := func(prev *streamkit.CommitPoint) error {
		if prev == nil {
			return nil
		}
		parts := make(source.Partitions, len(cp.Positions))
		for tp := range cp.Positions {
			parts[tp.Topic] = append(parts[tp.Topic], tp.Partition)
		}
		return foreignPartitions(prev, parts)
	}
	if err := o.g.applyAll(ctx, patches, cp, guard); err != nil {
		return fmt.Errorf("graph: graph output: commit of checkpoint %d: %w", cp.CheckpointID, err)
	}
	o.dead = append(o.dead, o.letters...)
	o.commits.Add(1)
	o.committedChanges.Add(int64(o.changes))
	o.deadLetters.Add(int64(len(o.letters)))
	o.resetLocked()
	o.state = goIdle
	return nil
}

// Abort discards the open checkpoint's changes and dead letters. Aborting
// with no checkpoint open does nothing.
func (o *GraphOutput) Abort(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch o.state {
	case goClosed:
		return ErrGraphOutputClosed
	case goOpen:
		o.resetLocked()
		o.state = goIdle
		o.aborts.Add(1)
	}
	return nil
}

// Close discards an open checkpoint; every later call fails with
// ErrGraphOutputClosed. The graph stays usable. Closing twice is fine.
func (o *GraphOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state == goOpen {
		o.aborts.Add(1)
	}
	o.resetLocked()
	o.state = goClosed
	return nil
}

// DeadLetters returns the dead-letter records of the committed checkpoints,
// in the order they were sent.
func (o *GraphOutput) DeadLetters() []streamkit.KafkaRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.dead)
}

// Stats returns the output's counters.
func (o *GraphOutput) Stats() GraphOutputStats {
	return GraphOutputStats{Commits: o.commits.Load(), Aborts: o.aborts.Load(),
		Changes: o.committedChanges.Load(), DeadLetters: o.deadLetters.Load()}
}

func (o *GraphOutput) openLocked() error {
	switch o.state {
	case goClosed:
		return ErrGraphOutputClosed
	case goIdle:
		return ErrGraphOutputNotOpen
	}
	return nil
}

func (o *GraphOutput) resetLocked() {
	o.segments, o.letters, o.changes = nil, nil, 0
}

// applyAll is Graph.Apply for several patches in order, with one commit
// point, as one atomic step: every patch and cp are checked before anything
// changes, and guard sees the graph's current commit point under the lock.
func (g *Graph) applyAll(ctx context.Context, patches []*rdfdiff.ConsolidatedPatch, commit *streamkit.CommitPoint, guard func(*streamkit.CommitPoint) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("graph: apply: %w", err)
	}
	for _, p := range patches {
		if err := g.checkPatch(p); err != nil {
			return err
		}
	}
	if err := checkGraphCommitPoint(commit); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("graph: apply: %w", err)
	}
	if guard != nil {
		if err := guard(g.commit); err != nil {
			return err
		}
	}
	for _, p := range patches {
		if p != nil {
			a := graphApplier{st: g.st, cfg: &g.cfg}
			a.apply(p)
		}
	}
	if commit != nil {
		g.commit = cloneGraphCommitPoint(commit)
	}
	return nil
}
