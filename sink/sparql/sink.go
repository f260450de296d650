package sparql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Errors of the SPARQL sink's lifecycle and of its dead-letter path.
var (
	// ErrSPARQLClosed is returned by every method of a SPARQL sink after
	// Close.
	ErrSPARQLClosed = errors.New("sparql: SPARQL sink closed")
	// ErrNoCheckpointOpen is returned by Add, Commit and Abort when no
	// checkpoint is open: the runner calls Begin first, and again after
	// every Commit.
	ErrNoCheckpointOpen = errors.New("sparql: SPARQL sink has no open checkpoint")
	// ErrCheckpointOpen is returned by Begin while a checkpoint is open: the
	// previous one must be committed or aborted first.
	ErrCheckpointOpen = errors.New("sparql: SPARQL sink checkpoint already open")
	// ErrChangeRejected is returned by Commit when the store rejected a
	// request (4xx) or a change held a term that cannot be written, and no
	// RejectedHandler is set to take the culprit: without one the sink
	// cannot skip data, so the checkpoint fails as a whole (the WDQS
	// consumer's behaviour) and the job stops on the same input until an
	// operator acts.
	ErrChangeRejected = errors.New("sparql: SPARQL store rejected a change")
)

// SPARQLStore is what the SPARQL sink needs of a store: updates whose answer
// it can read (Blazegraph's mutation count, the attempts for retry stats)
// and SELECT queries for the commit point. *Client implements it.
type SPARQLStore interface {
	Querier
	UpdateResponse(ctx context.Context, update string) (*UpdateResponse, error)
}

var _ SPARQLStore = (*Client)(nil)

// Dialect selects a store's quirks: request limits, atomicity, and how to
// read its answers. The zero Dialect is DialectSPARQL11.
type Dialect int

const (
	// DialectSPARQL11 is a store that follows SPARQL 1.1 Update and applies
	// each request atomically (Oxigraph). Defaults: 10 000 triples and
	// 8 MiB per request.
	DialectSPARQL11 Dialect = iota
	// DialectBlazegraph is Blazegraph (WDQS's store), addressed by namespace
	// (see BlazegraphEndpoint), fed raw application/sparql-update bodies,
	// one transaction per request. Its answers are parsed for the mutation
	// count (SPARQLStats.MutationCount). Blazegraph namespaces are usually
	// in triples mode: leave the data and commit graphs unset. It fails a
	// request holding an ill-typed xsd:boolean with a 500, so the sink
	// refuses such literals up front (WithWellTypedBooleans) and the change
	// is dead-lettered. Defaults: 10 000 triples and 8 MiB per request.
	DialectBlazegraph
	// DialectVirtuoso is Virtuoso 7. It is NOT atomic across the operations
	// of one request: a failed request may leave some
	// operations applied, so the commit point degrades to at-least-once with
	// idempotent replay; NewSPARQL logs a warning saying so. It needs a
	// named data graph (INSERT DATA without GRAPH is refused), refuses
	// INSERT DATA beyond about 1 000 triples, and is fastest with small
	// requests (about 15 000 triples/s at 100–250 triples per request, 7 000
	// at 1 000, 1 500 at 3 000 split into operations):
	// defaults 250 triples and 256 KiB per request, and INSERT DATA
	// operations split at 500 triples (for a reconciliation larger than a
	// request) unless the UpdateBuilder says otherwise (WithMaxDataTriples).
	DialectVirtuoso
)

// String returns the dialect's name.
func (d Dialect) String() string {
	switch d {
	case DialectSPARQL11:
		return "sparql11"
	case DialectBlazegraph:
		return "blazegraph"
	case DialectVirtuoso:
		return "virtuoso"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// virtuosoMaxIRIBytes is the longest IRI the Virtuoso dialect sends: Virtuoso
// rewrites IRIs longer than about 1 880 bytes (TestVirtuosoRewritesLongIRIs).
const virtuosoMaxIRIBytes = 1800

// Atomic reports whether the store applies one update request all or
// nothing, which is what makes a request carrying data and commit point an
// exactly-once commit.
func (d Dialect) Atomic() bool { return d != DialectVirtuoso }

// DefaultLimits returns the request limits the SPARQL sink uses for d
// unless WithBatchLimits says otherwise.
func (d Dialect) DefaultLimits() BatchLimits {
	if d == DialectVirtuoso {
		return BatchLimits{MaxTriples: 250, MaxBytes: 256 << 10}
	}
	return BatchLimits{MaxTriples: 10_000, MaxBytes: 8 << 20}
}

// virtuosoMaxDataTriples is the INSERT DATA split the sink sets on a Virtuoso
// builder that has none.
const virtuosoMaxDataTriples = 500

// BatchLimits bound the update requests of the SPARQL sink. Zero fields take
// the dialect's defaults (Dialect.DefaultLimits).
type BatchLimits struct {
	// MaxTriples is the most triples one request carries: removed, added,
	// linked-shared and reconciliation triples, the lag marker, the commit
	// point's triples, and rdfdiff.TriplesPerDelete per entity delete (the
	// WDQS weight, as a delete's templates touch about that much).
	MaxTriples int
	// MaxBytes is the most bytes of one request body.
	MaxBytes int
	// TargetTriples and TargetBytes are where WantsCommit turns true
	// (default: half of the maximum), so that a checkpoint asked for early
	// plus the change that crossed the target usually still fits in one
	// request, and so commits atomically.
	TargetTriples int
	TargetBytes   int
}

// RejectedChange is one entity change the store would not take: bisection
// isolated it, or it holds a term that cannot be written to SPARQL. The rest
// of the checkpoint was applied without it.
type RejectedChange struct {
	// EntityID, Revision and Operation identify the change.
	EntityID  string
	Revision  int64
	Operation rdfdiff.Operation
	// Change is the change itself, as given to Add.
	Change *rdfdiff.EntityChange
	// Origins is the provenance given to Add with the change (for example
	// the SourceRecords of its chunks), so it can be dead-lettered with the
	// topic, partition and offset of the events that made it.
	Origins []any
	// Update is the request text the store refused, or nil when the sink
	// refused to write it (Err matches ErrUnsafeTerm).
	Update []byte
	// Err is the store's answer (a *StoreError matching ErrStoreRejected)
	// or the *TermError.
	Err error
}

// RejectedHandler takes the changes a SPARQL store rejects, typically to
// write them to a dead-letter sink (DeadLetter, see DeadLetterRejected) with
// their provenance. An error fails the checkpoint's Commit. It is called
// from within Commit, so it must not call the sink's methods other than
// Stats and LastCommit.
type RejectedHandler interface {
	Rejected(ctx context.Context, r *RejectedChange) error
}

// RejectedFunc adapts a function to RejectedHandler.
type RejectedFunc func(ctx context.Context, r *RejectedChange) error

// Rejected calls f.
func (f RejectedFunc) Rejected(ctx context.Context, r *RejectedChange) error { return f(ctx, r) }

type sparqlConfig struct {
	dialect  Dialect
	limits   BatchLimits
	rejected RejectedHandler
	// toTask: WithRejectedDeadLetters; taskDL is the task's writer, which
	// Outputs passes.
	toTask  bool
	taskDL  streamkit.FailureWriter
	log     *slog.Logger
	accOpts []rdfdiff.AccumulatorOption
}

// WithDialect sets the store's dialect (default DialectSPARQL11).
//
// An option of NewSPARQL and Outputs.
func WithDialect(d Dialect) Option {
	return sinkOption("WithDialect", func(c *sparqlConfig) { c.dialect = d })
}

// WithBatchLimits sets the request limits; zero fields keep the dialect's
// defaults.
//
// An option of NewSPARQL and Outputs.
func WithBatchLimits(l BatchLimits) Option {
	return sinkOption("WithBatchLimits", func(c *sparqlConfig) { c.limits = l })
}

// WithRejectedHandler sets where changes the store rejects go. With a
// handler, a rejected request is bisected down to the offending changes,
// which go to h while the rest applies; without one (the default) a
// rejection fails the Commit with ErrChangeRejected.
//
// An option of NewSPARQL and Outputs.
func WithRejectedHandler(h RejectedHandler) Option {
	return sinkOption("WithRejectedHandler", func(c *sparqlConfig) { c.rejected = h })
}

// WithRejectedDeadLetters dead-letters the changes the store refuses at
// commit through the job's dead-letter topic: the task's
// streamkit.TaskInfo.DeadLetters, with DeadLetterRejected, so they are
// counted in the job's Stats like every dead letter. The job needs
// WithDeadLetterTopic over an output that sends at once (see
// streamkit.KafkaSender) or the commit fails with streamkit.ErrNoDeadLetter.
// It replaces WithRejectedHandler.
//
// An option of Outputs (NewSPARQL has no task and refuses it).
func WithRejectedDeadLetters() Option {
	return sinkOption("WithRejectedDeadLetters", func(c *sparqlConfig) { c.toTask = true })
}

// withTaskDeadLetters passes the task's dead-letter writer (Outputs).
func withTaskDeadLetters(w streamkit.FailureWriter) Option {
	return sinkOption("withTaskDeadLetters", func(c *sparqlConfig) { c.taskDL = w })
}

// WithSPARQLLogger sets the logger (default slog.Default()). The sink warns
// about every at-least-once window (a checkpoint that took more than one
// request), every bisection and every rejected change.
//
// An option of NewSPARQL and Outputs.
func WithSPARQLLogger(l *slog.Logger) Option {
	return sinkOption("WithSPARQLLogger", func(c *sparqlConfig) { c.log = l })
}

// WithAccumulatorOptions passes options to the sink's rdfdiff.Accumulators
// (for example rdfdiff.RejectInvalidDuplicates).
//
// An option of NewSPARQL and Outputs.
func WithAccumulatorOptions(opts ...rdfdiff.AccumulatorOption) Option {
	return sinkOption("WithAccumulatorOptions", func(c *sparqlConfig) { c.accOpts = append(c.accOpts, opts...) })
}

// SPARQLStats are the counters of a SPARQL sink since it was created.
type SPARQLStats struct {
	// Changes is the number of changes given to Add (aborted ones included).
	Changes int64
	// Commits and Aborts count checkpoints committed and discarded;
	// FailedCommits counts Commit calls that returned an error.
	Commits, Aborts, FailedCommits int64
	// Requests counts update requests the store accepted; FailedRequests
	// those it did not (after the client's retries).
	Requests, FailedRequests int64
	// Retries counts extra attempts the client made (timeouts, connection
	// errors, 5xx), whether the request then succeeded or not.
	Retries int64
	// Triples and Bytes sum the data triples (TriplesPerDelete per entity
	// delete) and the body bytes of accepted requests, replays included.
	Triples, Bytes int64
	// MultiRequestCommits counts checkpoints that needed more than one
	// request: each was an at-least-once window (see SPARQL).
	MultiRequestCommits int64
	// Bisections counts rejected requests split in two; RejectedChanges the
	// changes handed to the RejectedHandler.
	Bisections, RejectedChanges int64
	// MutationCount sums the store's reported mutations (Blazegraph only);
	// UnparsedResponses counts Blazegraph answers without a readable count.
	MutationCount, UnparsedResponses int64
}

// SPARQLCommit describes the last successful Commit.
type SPARQLCommit struct {
	// CheckpointID is the committed checkpoint.
	CheckpointID uint64
	// Changes is the number of changes in the checkpoint, Rejected how many
	// of them went to the RejectedHandler.
	Changes, Rejected int
	// Requests, Triples and Bytes are what was sent for the checkpoint.
	Requests, Triples, Bytes int
	// MutationCount is Blazegraph's count for the checkpoint (0 elsewhere).
	MutationCount int64
	// Duration is the time Commit took.
	Duration time.Duration
}

type sparqlState int

const (
	stateIdle sparqlState = iota
	stateOpen
	stateClosed
)

// segment is a run of changes that one Accumulator can merge; a change the
// accumulator refuses (a diff after a delete of the same entity, a delete
// after a reconcile) starts the next segment, applied after it.
type segment struct {
	acc     *rdfdiff.Accumulator
	changes []*rdfdiff.EntityChange
	origins [][]any
	bytes   int
}

// SPARQL is the output of one job task into a SPARQL store (Blazegraph,
// Oxigraph, Virtuoso): it implements the job runner's Output contract
// (Claim, ReadCommitPoint, Begin, Commit, Abort, Close) and CommitRequester
// (WantsCommit). The task's processor hands it reassembled entity changes
// with Add; Commit merges them (rdfdiff.Accumulator, WDQS's rules) and sends
// the consolidated patch and the commit point.
//
// Exactly once. The commit point — the task's source positions and the
// checkpoint ID, one node per input partition (see ReadCommitPoint) — is
// written as triples in the same update request as the data, so on an atomic
// store (Oxigraph, Blazegraph) the checkpoint's output and its positions land
// together or not at all, and a restarted task resumes exactly there.
//
// At-least-once windows, said loudly. A checkpoint whose data exceeds the
// request limits (BatchLimits) — a reconciliation larger than a request is
// split too — or that was bisected is sent as several requests, and only the
// LAST carries the commit point. A crash between them leaves a prefix of the
// checkpoint applied with the previous commit point: the restarted task
// applies it again. (Changes that need a barrier, such as a diff of an entity
// deleted earlier in the checkpoint, only start a new segment of operations;
// segments share a request when they fit.) Every operation the sink
// sends is idempotent (DELETE DATA, INSERT DATA, templated DELETE … WHERE),
// so the store ends the same, but that checkpoint is at-least-once, and the
// sink logs a warning each time and counts it in
// SPARQLStats.MultiRequestCommits. WantsCommit asks the runner for an early
// checkpoint at half the limits to keep this rare. On Virtuoso, which is not
// atomic even within one request, every checkpoint is at-least-once.
//
// Rejections. The client retries timeouts, connection errors and 5xx
// answers (RetryPolicy). A 4xx answer (other than 401, 403, 404, 405, 407,
// 408 and 429, which say the store or its configuration is wrong, not the
// data) or a term that cannot be written safely means some change is bad:
// with a RejectedHandler the sink re-sends the checkpoint's changes in
// halves, recursively, down to single changes; each change still rejected
// alone goes to the handler with its provenance (after a no-op update proves
// that the store accepts requests at all: one that rejects everything fails
// the Commit instead of dead-lettering the checkpoint), and the rest applies,
// in order, with the commit point on the last request. A rejected change is
// skipped, so later changes of the same entity apply to a store that lacks
// it; WDQS's reconciliation repairs such entities.
//
// Fencing. Claim is a documented no-op: a plain SPARQL store cannot fence a
// zombie writer. Compare-and-set on the commit point (DELETE/INSERT … WHERE
// on the checkpoint ID the claimer read) was considered and not built: it
// fences only if every data operation of the request is made conditional
// too (INSERT DATA becoming INSERT … WHERE, slower on every store), SPARQL
// 1.1 Protocol answers do not say whether anything matched (Oxigraph answers
// 204), so a zero match could only be detected by a query afterwards, which
// is sound only on a store that applies requests atomically and one at a
// time, and Virtuoso is not atomic at all. The job
// must guarantee a single writer per partition: the runner stops a task's
// output (last Commit, then Close) when its partitions are revoked, before
// the group's rebalance lets another member start them. A process that
// keeps writing after losing its partitions (a zombie: paused past the
// rebalance timeout, then resumed) is not stopped by the store: its late
// request can write an entity's older revision over the new owner's newer
// one, and move the commit nodes back, until the new owner's next commit
// and the entity's next change (or a reconcile) repair them.
//
// A SPARQL sink is safe for concurrent use, though the runner calls it from
// one goroutine per task; Stats and LastCommit never block on a commit in
// flight.
type SPARQL struct {
	store    SPARQLStore
	b        *UpdateBuilder
	dialect  Dialect
	limits   BatchLimits
	rejected RejectedHandler
	log      *slog.Logger
	accOpts  []rdfdiff.AccumulatorOption
	costs    requestCosts

	mu       sync.Mutex
	state    sparqlState
	segments []*segment
	pending  int                  // changes in segments
	spare    *rdfdiff.Accumulator // reset, for the next checkpoint's first segment

	last  atomic.Pointer[SPARQLCommit]
	stats sparqlCounters

	// resync marks the entities whose change the store refused at commit;
	// replacing those the open checkpoint replaces whole (see resync.go).
	resync, replacing map[string]bool
}

// Interface checks for the shapes the job runner consumes.
var (
	_ interface{ WantsCommit() bool } = (*SPARQL)(nil)
	_ interface {
		Claim(context.Context) error
		ReadCommitPoint(context.Context, source.Partitions) (*streamkit.CommitPoint, error)
		Begin(context.Context) error
		Commit(context.Context, *streamkit.CommitPoint) error
		Abort(context.Context) error
		Close() error
	} = (*SPARQL)(nil)
)

// NewSPARQL returns a sink writing through store with the requests b builds
// (its data graph, commit graph, commit namespace and lag marker). It checks
// the configuration but does no I/O. With DialectVirtuoso it requires a data
// graph, splits INSERT DATA at 500 triples if b does not split, and logs a
// warning that the store is not atomic (at-least-once).
func NewSPARQL(store SPARQLStore, b *UpdateBuilder, opts ...Option) (*SPARQL, error) {
	if store == nil {
		return nil, errors.New("sparql: SPARQL sink needs a store")
	}
	if b == nil {
		return nil, errors.New("sparql: SPARQL sink needs an update builder")
	}
	cfg := sparqlConfig{log: slog.Default()}
	if err := (&settings{sink: &cfg}).apply("NewSPARQL", opts); err != nil {
		return nil, err
	}
	if cfg.toTask {
		if cfg.taskDL == nil {
			return nil, errors.New("sparql: WithRejectedDeadLetters needs the task's dead-letter writer: use it with Outputs, " +
				"or give NewSPARQL WithRejectedHandler(DeadLetterRejected(info.DeadLetters))")
		}
		cfg.rejected = DeadLetterRejected(cfg.taskDL)
	}
	if cfg.dialect < DialectSPARQL11 || cfg.dialect > DialectVirtuoso {
		return nil, fmt.Errorf("sparql: unknown SPARQL dialect %d", int(cfg.dialect))
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	lim := cfg.limits
	if lim.MaxTriples < 0 || lim.MaxBytes < 0 || lim.TargetTriples < 0 || lim.TargetBytes < 0 {
		return nil, fmt.Errorf("sparql: negative SPARQL batch limit %+v", lim)
	}
	def := cfg.dialect.DefaultLimits()
	if lim.MaxTriples == 0 {
		lim.MaxTriples = def.MaxTriples
	}
	if lim.MaxBytes == 0 {
		lim.MaxBytes = def.MaxBytes
	}
	if lim.TargetTriples == 0 {
		lim.TargetTriples = max(lim.MaxTriples/2, 1)
	}
	if lim.TargetBytes == 0 {
		lim.TargetBytes = max(lim.MaxBytes/2, 1)
	}
	if lim.TargetTriples > lim.MaxTriples || lim.TargetBytes > lim.MaxBytes {
		return nil, fmt.Errorf("sparql: SPARQL batch targets (%d triples, %d bytes) above the maxima (%d, %d)",
			lim.TargetTriples, lim.TargetBytes, lim.MaxTriples, lim.MaxBytes)
	}
	if cfg.dialect == DialectBlazegraph && !b.wellTypedBool {
		nb := *b
		nb.wellTypedBool = true
		b = &nb
	}
	if cfg.dialect == DialectSPARQL11 && !b.bcp47 {
		nb := *b
		nb.bcp47 = true
		b = &nb
	}
	if cfg.dialect == DialectVirtuoso {
		if b.graph == "" {
			return nil, errors.New("sparql: Virtuoso needs a named data graph (WithDataGraph): it refuses INSERT DATA into the default graph")
		}
		if b.maxData == 0 || b.maxIRI == 0 {
			nb := *b
			if nb.maxData == 0 {
				nb.maxData = virtuosoMaxDataTriples
			}
			if nb.maxIRI == 0 {
				nb.maxIRI = virtuosoMaxIRIBytes
			}
			b = &nb
		}
		cfg.log.Warn("sparql: Virtuoso does not apply an update request atomically; "+
			"the SPARQL sink's commit point is AT-LEAST-ONCE there (idempotent replay after a crash), not exactly-once",
			"dialect", cfg.dialect.String())
	}
	s := &SPARQL{
		store:    store,
		b:        b,
		dialect:  cfg.dialect,
		limits:   lim,
		rejected: cfg.rejected,
		log:      cfg.log,
		accOpts:  cfg.accOpts,
	}
	s.costs = newRequestCosts(b)
	return s, nil
}

// Limits returns the request limits in force (defaults filled in).
func (s *SPARQL) Limits() BatchLimits { return s.limits }

// Claim does nothing but check that the sink is open: a SPARQL store cannot
// fence an older writer (see the type's documentation on fencing), so the
// job must guarantee one writer per partition.
func (s *SPARQL) Claim(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return ErrSPARQLClosed
	}
	return nil
}

// ReadCommitPoint reads back the commit point of partitions (topic →
// partition numbers) from the commit graph: the checkpoint ID, the job, and
// the next offset of every listed partition that has one, sorted by topic
// and partition. It returns an error matching ErrNoCommitPoint when none of
// them has one, and one matching ErrInvalidCommitPoint when they name
// different jobs or checkpoints, or a node is malformed. When a store that is
// not atomic left the older checkpoint's nodes next to a complete newer
// commit, it returns the newer one and logs a warning.
func (s *SPARQL) ReadCommitPoint(ctx context.Context, partitions source.Partitions) (*streamkit.CommitPoint, error) {
	s.mu.Lock()
	closed := s.state == stateClosed
	s.mu.Unlock()
	if closed {
		return nil, ErrSPARQLClosed
	}
	// The entities a change of which the store refused before a restart
	// (see NeedsReplacement).
	marks, err := s.b.readResync(ctx, s.store, partitions)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.resync = marks
	s.mu.Unlock()
	return s.b.readPartitionCommit(ctx, s.store, partitions, s.log.Warn)
}

// Begin opens the next checkpoint. It does no I/O: the store sees nothing
// until Commit.
func (s *SPARQL) Begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateClosed:
		return ErrSPARQLClosed
	case stateOpen:
		return ErrCheckpointOpen
	}
	s.state = stateOpen
	return nil
}

// Add merges c into the open checkpoint. origins is c's provenance (for
// example the SourceRecords of its chunks, or what was given to
// rdfdiff.Reassembler.Add), handed back in a RejectedChange if the store
// rejects c. Add keeps c itself until the checkpoint is committed or
// aborted, to re-send it when bisecting: the caller must not modify it.
//
// A change the store would refuse (UpdateBuilder.CheckChange: a blank node,
// a term the dialect refuses or alters, an entity the builder cannot name)
// is refused here, before it touches the checkpoint, with a
// *streamkit.StageError (stage StageSPARQL, class ClassSPARQLUnsafeTerm)
// around an rdfdiff.InvalidChangeError: the Processor fails before it
// updates its state and the runner dead-letters the record, so state and
// store cannot drift apart.
//
// A change the current batch cannot merge (rdfdiff.ErrChangeRefused) starts
// a new segment, applied after the first, and makes WantsCommit true. A
// malformed change gives an error wrapping the rdfdiff.InvalidChangeError
// and leaves the checkpoint unchanged, so the caller can dead-letter it.
func (s *SPARQL) Add(c *rdfdiff.EntityChange, origins ...any) error {
	if c == nil {
		return fmt.Errorf("%w: nil entity change", rdfdiff.ErrInvalidChange)
	}
	if err := s.b.CheckChange(c); err != nil {
		return refusal(c, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateClosed:
		return ErrSPARQLClosed
	case stateIdle:
		return ErrNoCheckpointOpen
	}
	segs, seg, err := rdfdiff.AccumulateSegmented(s.segments, func(g *segment) *rdfdiff.Accumulator { return g.acc }, s.newSegment, c)
	s.segments = segs
	if err != nil {
		return fmt.Errorf("sparql: SPARQL sink cannot take change of %s (revision %d): %w", c.EntityID, c.Revision, err)
	}
	s.noteReplacementLocked(c)
	seg.changes = append(seg.changes, c)
	seg.origins = append(seg.origins, slices.Clone(origins))
	seg.bytes += estimateChangeBytes(c)
	s.pending++
	s.stats.changes.Add(1)
	return nil
}

func (s *SPARQL) newSegment() *segment {
	if a := s.spare; a != nil {
		s.spare = nil
		return &segment{acc: a}
	}
	return &segment{acc: rdfdiff.NewAccumulator(s.accOpts...)}
}

// WantsCommit reports whether the open checkpoint should be committed
// early: its merged weight or estimated size reached the targets of
// BatchLimits, or it holds a barrier (two segments).
func (s *SPARQL) WantsCommit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return false
	}
	if len(s.segments) > 1 {
		return true
	}
	weight, size := 0, 0
	for _, seg := range s.segments {
		weight += seg.acc.Weight()
		size += seg.bytes
	}
	return weight >= s.limits.TargetTriples || size >= s.limits.TargetBytes
}

// Pending returns the number of changes in the open checkpoint.
func (s *SPARQL) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Commit sends the open checkpoint's consolidated patch and cp to the store
// and closes the checkpoint; the runner calls Begin for the next one. When it
// fits the limits it is one request, atomic on Oxigraph and Blazegraph;
// otherwise see the at-least-once windows in the type's documentation. A
// checkpoint without changes still writes cp (its positions moved on). On
// error the checkpoint stays open (Abort discards it) and the store holds the
// previous commit point, possibly with an idempotent prefix of this
// checkpoint's data when it took several requests.
func (s *SPARQL) Commit(ctx context.Context, cp *streamkit.CommitPoint) error {
	if err := cp.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateClosed:
		return ErrSPARQLClosed
	case stateIdle:
		return ErrNoCheckpointOpen
	}
	start := time.Now()
	run := &commitRun{s: s, cp: cp}
	err := run.commit(ctx)
	if err != nil {
		s.stats.failedCommits.Add(1)
		return fmt.Errorf("sparql: SPARQL commit of checkpoint %d: %w", cp.CheckpointID, err)
	}
	if run.requests > 1 {
		s.stats.multiRequestCommits.Add(1)
	}
	s.stats.commits.Add(1)
	s.committedLocked(run.refused)
	s.last.Store(&SPARQLCommit{
		CheckpointID: cp.CheckpointID, Changes: s.pending, Rejected: run.rejected,
		Requests: run.requests, Triples: run.triples, Bytes: run.bytes,
		MutationCount: run.mutations, Duration: time.Since(start),
	})
	s.reset()
	s.state = stateIdle
	return nil
}

// Abort discards the open checkpoint; nothing was sent for it.
func (s *SPARQL) Abort(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateClosed:
		return ErrSPARQLClosed
	case stateIdle:
		return ErrNoCheckpointOpen
	}
	s.reset()
	s.state = stateIdle
	s.stats.aborts.Add(1)
	return nil
}

// Close discards any open checkpoint and makes every later call fail with
// ErrSPARQLClosed. It does not close the store's client. Closing twice is
// not an error.
func (s *SPARQL) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateOpen && s.pending > 0 {
		s.log.Info("sparql: SPARQL sink closed with an open checkpoint; its changes are discarded", "changes", s.pending)
	}
	s.reset()
	s.state = stateClosed
	return nil
}

func (s *SPARQL) reset() {
	if len(s.segments) > 0 {
		// Keep one accumulator's memory for the next checkpoint.
		s.spare = s.segments[0].acc
		s.spare.Reset()
	}
	s.segments = nil
	s.pending = 0
	s.replacing = nil
}

// LastCommit returns what the last successful Commit sent, or nil.
func (s *SPARQL) LastCommit() *SPARQLCommit {
	if c := s.last.Load(); c != nil {
		cc := *c
		return &cc
	}
	return nil
}

// Stats returns the sink's counters.
func (s *SPARQL) Stats() SPARQLStats {
	c := &s.stats
	return SPARQLStats{
		Changes: c.changes.Load(), Commits: c.commits.Load(), Aborts: c.aborts.Load(), FailedCommits: c.failedCommits.Load(),
		Requests: c.requests.Load(), FailedRequests: c.failedRequests.Load(), Retries: c.retries.Load(),
		Triples: c.triples.Load(), Bytes: c.bytes.Load(), MultiRequestCommits: c.multiRequestCommits.Load(),
		Bisections: c.bisections.Load(), RejectedChanges: c.rejectedChanges.Load(),
		MutationCount: c.mutations.Load(), UnparsedResponses: c.unparsed.Load(),
	}
}

type sparqlCounters struct {
	changes, commits, aborts, failedCommits atomic.Int64
	requests, failedRequests, retries       atomic.Int64
	triples, bytes, multiRequestCommits     atomic.Int64
	bisections, rejectedChanges, mutations  atomic.Int64
	unparsed                                atomic.Int64
}

// estimateChangeBytes is a cheap upper-bound guess of the bytes c adds to a
// request, for WantsCommit (the exact size is measured when requests are
// planned).
func estimateChangeBytes(c *rdfdiff.EntityChange) int {
	n := 0
	for _, b := range [][]rdfdiff.Triple{c.Patch.Added, c.Patch.Removed, c.Patch.LinkedShared} {
		for _, tr := range b {
			n += termBytes(tr.S) + termBytes(tr.P) + termBytes(tr.O) + 6
		}
	}
	if c.Operation == rdfdiff.OpDelete {
		n += 256
	}
	return n
}

func termBytes(t rdfdiff.Term) int {
	return len(t.Value()) + len(t.Datatype()) + len(t.Lang()) + 8
}

// Dead-letter stage and error classes of changes a SPARQL store rejects.
const (
	// StageSPARQL is the Failure.Stage of a change a SPARQL store rejected.
	StageSPARQL = "sink:sparql"
	// ClassSPARQLRejected is the Failure.Class of a change the store
	// answered 4xx to.
	ClassSPARQLRejected = "sparql-rejected"
	// ClassSPARQLUnsafeTerm is the Failure.Class of a change holding a term
	// that cannot be written to SPARQL (ErrUnsafeTerm).
	ClassSPARQLUnsafeTerm = "sparql-unsafe-term"
)

// DeadLetterRejected returns a RejectedHandler that writes every input
// record a rejected change came from to w (normally a DeadLetter), so that
// the dead-letter topic holds the original rdf_change messages with their
// provenance, ready for Replay once the cause is fixed. The change's origins
// (as given to SPARQL.Add) must be SourceRecord or *SourceRecord values;
// anything else, or no origin at all, is an error, since a record cannot be
// dead-lettered without its bytes.
//
// The dead letters are written while the SPARQL checkpoint commits, not in
// the store's request: if the Commit then fails, the replayed checkpoint
// dead-letters the change again (at-least-once for dead letters).
func DeadLetterRejected(w streamkit.FailureWriter) RejectedHandler {
	return RejectedFunc(func(ctx context.Context, r *RejectedChange) error {
		if len(r.Origins) == 0 {
			return fmt.Errorf("sparql: rejected change of %s revision %d has no origin to dead-letter", r.EntityID, r.Revision)
		}
		class := ClassSPARQLRejected
		if errors.Is(r.Err, ErrUnsafeTerm) {
			class = ClassSPARQLUnsafeTerm
		}
		err := fmt.Errorf("sparql: SPARQL store rejected %s revision %d (%s): %w", r.EntityID, r.Revision, r.Operation, r.Err)
		for i, o := range r.Origins {
			var rec source.Record
			switch v := o.(type) {
			case source.Record:
				rec = v
			case *source.Record:
				if v == nil {
					return fmt.Errorf("sparql: rejected change of %s: origin %d is a nil *source.Record", r.EntityID, i)
				}
				rec = *v
			default:
				return fmt.Errorf("sparql: rejected change of %s: origin %d is a %T, not a source.Record", r.EntityID, i, o)
			}
			if werr := w.Write(ctx, streamkit.Failure{Record: rec, Stage: StageSPARQL, Err: err, Class: class, Attempts: 1}); werr != nil {
				return werr
			}
		}
		return nil
	})
}
