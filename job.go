package streamkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"sync"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Defaults of the Job options.
const (
	// DefaultCheckpointInterval is how often a job checkpoints (see
	// WithCheckpointInterval). Each output transaction stays open that long,
	// so it must stay well below the sink's transaction timeout.
	DefaultCheckpointInterval = 10 * time.Second
	// DefaultMaxCheckpointFailures is how many consecutive failed
	// checkpoints (or restarts) a job tolerates before Run fails: 0, no
	// limit. An outage of the checkpoint store, the output or the broker
	// makes the job retry with backoff, not-ready meanwhile (see
	// Stats.ConsecutiveFailures), until it resumes by itself.
	DefaultMaxCheckpointFailures = 0
	// DefaultPollRecords is the most records taken from the source at once.
	DefaultPollRecords = 500
	// DefaultGCEvery is how many successful checkpoints of a task pass
	// between garbage collections of its checkpoint store namespace.
	DefaultGCEvery = 10
)

var (
	// ErrInvalidJob is matched by every error NewJob returns for arguments
	// that can never work.
	ErrInvalidJob = errors.New("streamkit: invalid job")
	// ErrNotRunning is returned by Stop, Savepoint and StopWithSavepoint when
	// the job is not running (never started, or Run already returned).
	ErrNotRunning = errors.New("streamkit: job is not running")
	// ErrNoCheckpointStore is returned by Savepoint and StopWithSavepoint of a
	// job without a checkpoint store: there is no state to pin.
	ErrNoCheckpointStore = errors.New("streamkit: job has no checkpoint store")
	// ErrNoDeadLetter is returned (wrapped in a *ProcessError) when a record
	// failed and the job cannot dead-letter it: no dead-letter topic is
	// configured, or the task's output cannot send records. The job stops
	// rather than lose the record.
	ErrNoDeadLetter = errors.New("streamkit: record failed and cannot be dead-lettered")
	// ErrCheckpointMissing is returned by Run when a task's commit point
	// names a checkpoint the checkpoint store does not have: the store was
	// wiped or replaced, or a cloned replica was started without a copy of
	// its checkpoints. Restarting cannot help, so Run fails at once.
	ErrCheckpointMissing = errors.New("streamkit: the checkpoint named by a commit point is missing")
	// ErrTooManyFailures is wrapped by the error Run returns after more
	// consecutive checkpoint failures than WithMaxCheckpointFailures allows.
	ErrTooManyFailures = errors.New("streamkit: too many consecutive checkpoint failures")
)

// Output is the sink side of a task: the system that receives the task's
// output and holds its commit point (step 3 of the protocol in the package
// documentation). KafkaOutput implements it for Kafka; SPARQL for a
// triple store. Implementations need not be safe for concurrent use: the
// runner calls them from one goroutine per task at a time.
type Output interface {
	// Claim makes this process the task's only writer before its commit
	// point is read: it fences older owners (zombies) and aborts whatever
	// they left open, so that the commit point read next is final.
	Claim(ctx context.Context) error
	// ReadCommitPoint returns the task's last commit point for the given
	// partitions (topic to partition numbers): the checkpoint ID and the
	// next offset of each partition that has one. It returns an error
	// matching ErrNoCommitPoint when none has one.
	ReadCommitPoint(ctx context.Context, partitions source.Partitions) (*CommitPoint, error)
	// Begin opens the output of the next checkpoint.
	Begin(ctx context.Context) error
	// Commit makes the checkpoint's output visible together with cp in one
	// atomic step. On error nothing of it may become visible (an Output
	// that cannot promise that documents it), and the runner rewinds the
	// task to its last commit point.
	Commit(ctx context.Context, cp *CommitPoint) error
	// Abort discards the open checkpoint's output.
	Abort(ctx context.Context) error
	// Close releases the output. An open checkpoint is discarded.
	Close() error
}

// RecordScoped is implemented by an Output that can hold back what a
// Processor writes for one record: the runner calls BeginRecord before
// Process and EndRecord after it, with keep false when the record failed
// (it is then dead-lettered). So a record that fails half-way — an error
// after some output, or a panic — leaves no output behind, as its state
// changes are rolled back (see checkpoint.Rollbacker). An error from
// EndRecord fails the run: the task restarts from its commit point.
// KafkaOutput implements it.
type RecordScoped interface {
	BeginRecord()
	EndRecord(ctx context.Context, keep bool) error
}

// CommitRequester is implemented by an Output that buffers a checkpoint's
// output in memory (a SPARQL batch): when WantsCommit reports true the
// runner checkpoints before the interval is up, which bounds that buffer.
type CommitRequester interface {
	WantsCommit() bool
}

// Processor is the job's code for one task: it turns records into output
// and keyed state. A Processor is called from one goroutine at a time.
type Processor interface {
	// Tables returns the task's keyed state tables. The runner restores
	// them from the task's committed checkpoint before the first record
	// and snapshots them at every checkpoint; the set must not change.
	Tables() []checkpoint.StateTable
	// Process handles one record: it updates state and writes output
	// through the handle it received when it was created. A returned error
	// (or a panic) dead-letters the record (see Stage for naming the
	// failing stage) and the partition moves on. What the record changed
	// before it failed is taken back: tables that implement
	// checkpoint.Rollbacker (Table, EntityTable) are rolled back, and an
	// Output that implements RecordScoped (KafkaOutput) drops the record's
	// output; any other table or output must be left unchanged by a failing
	// record, so validate before mutating. An error that is not the
	// record's fault is wrapped with Transient: the job then rewinds and
	// retries instead.
	Process(ctx context.Context, rec *source.Record) error
}

// Flusher is implemented by a Processor that holds output back (batches,
// asynchronous work): Flush is called at every barrier, before the
// snapshot, and must put everything it holds into the task's Output.
type Flusher interface {
	Flush(ctx context.Context) error
}

// WatermarkHandler is implemented by a Processor that acts on event time —
// a re-order buffer, timers, windows: OnWatermark is called, between
// records (after each batch the source delivered, and at least every
// 200 ms while input is idle), whenever the job's event-time watermark
// has advanced (see source.Kafka.Watermark: the minimum over this
// instance's active
// partitions, idle ones excluded, minus the allowed lateness). It may write
// output like Process. An error fails the run (the job restarts from its
// commit points), since it is not tied to one record that could be
// dead-lettered.
type WatermarkHandler interface {
	OnWatermark(ctx context.Context, watermark time.Time) error
}

// TaskInfo describes the task an Output or Processor is created for.
type TaskInfo struct {
	// Job is the job name.
	Job string
	// Group is the job's Kafka consumer group.
	Group string
	// Task is the task number: the partition number it owns in every
	// input topic.
	Task int
	// Partitions are the input partitions of the task, topic to partition
	// numbers (one partition per topic, numbered Task).
	Partitions source.Partitions
	// Logger is the job's logger, with the task attached.
	Logger *slog.Logger
	// DeadLetters writes a failed record to the job's dead-letter topic,
	// counted and logged exactly as the runner's own dead letters
	// (Stats.DeadLettered, the WithOnDeadLetter hooks), for an Output or a
	// Processor that dead-letters records other than the one being
	// processed: a change a store refuses at commit, the earlier chunks of
	// a broken sequence. It is never nil; in a job without a dead-letter
	// topic (or before the task has started) Write fails with
	// ErrNoDeadLetter. With WithDeadLetterTopic it sends through the task's
	// Output; with WithDeadLetterKafka it writes into the dead letters'
	// transaction, which is committed before the Output's Commit, so an
	// Output must not write through it from Commit: use WithDeadLetterTopic
	// over a RecordSender that sends at once (KafkaSender).
	DeadLetters FailureWriter
}

// Input says where a job reads from.
type Input struct {
	// Brokers are the Kafka bootstrap addresses. Required.
	Brokers []string
	// Topics are the input topics, read as one co-partitioned stream:
	// partition p of every topic belongs to task p, so every topic must
	// have the same number of partitions (single-partition topics, such as
	// the MediaWiki event streams of two data centers, all go to task 0).
	// Required.
	Topics []string
	// Group is the consumer group; default: the job name. The group's
	// committed offsets are the Kafka output's commit point, so two jobs
	// must never share a group.
	Group string
	// Options configure the source (TLS, SASL, start position, watermarks,
	// buffer size, sarama settings). The job adds its own partition hooks
	// and requires the range assignor (which keeps partition p of every
	// topic on one member); it must not be replaced.
	Options []source.Option
}

// Option configures a Job.
type Option func(*jobOptions)

type jobOptions struct {
	store           checkpoint.Store
	ckptOpts        []checkpoint.Option
	interval        time.Duration
	maxFailures     int
	pollRecords     int
	gcEvery         int
	dlqTopic        string
	dlqKafka        *KafkaOutputConfig
	dlqOpts         []DeadLetterOption
	fromSavepoint   string
	restoreOpts     []checkpoint.RestoreOption
	log             *slog.Logger
	restartBackoff  time.Duration
	maxBackoff      time.Duration
	onCheckpoint    func(CheckpointEvent)
	onDeadLetter    func(Failure)
	checkpointLimit time.Duration
}

// WithCheckpointStore keeps the tasks' keyed state in store, each task under
// its own namespace "<job>.task-<n>" (see checkpoint.Checkpointer), with the
// given checkpointer options (retention, delta policy, parallelism). A job
// without a store is stateless: its processors must have no tables, and
// checkpoint IDs count up from the committed one.
func WithCheckpointStore(store checkpoint.Store, opts ...checkpoint.Option) Option {
	return func(o *jobOptions) { o.store, o.ckptOpts = store, opts }
}

// WithCheckpointInterval sets how often the job checkpoints (default
// DefaultCheckpointInterval). Output becomes visible to read_committed
// readers at checkpoints, so this is also the output latency.
func WithCheckpointInterval(d time.Duration) Option {
	return func(o *jobOptions) { o.interval = d }
}

// WithCheckpointTimeout bounds one checkpoint (snapshot and commit of every
// task); default: the checkpoint interval plus 30 s. A checkpoint that
// takes longer fails.
func WithCheckpointTimeout(d time.Duration) Option {
	return func(o *jobOptions) { o.checkpointLimit = d }
}

// WithMaxCheckpointFailures sets how many consecutive failed checkpoints or
// restarts the job tolerates before Run returns an error matching
// ErrTooManyFailures; 0 (the default) retries for ever. Each failure rewinds
// every task to its last commit point and rejoins the group after a backoff
// (WithRestartBackoff); a successful checkpoint resets the count. Set a limit
// only where a supervisor does something better than retrying.
func WithMaxCheckpointFailures(n int) Option {
	return func(o *jobOptions) { o.maxFailures = n }
}

// WithRestartBackoff sets the wait before the first restart after a failure,
// doubling up to max (defaults 500 ms and 30 s).
func WithRestartBackoff(first, max time.Duration) Option {
	return func(o *jobOptions) { o.restartBackoff, o.maxBackoff = first, max }
}

// WithPollRecords sets the most records taken from the source at once
// (default DefaultPollRecords).
func WithPollRecords(n int) Option {
	return func(o *jobOptions) { o.pollRecords = n }
}

// WithGCEvery sets how many successful checkpoints of a task pass between
// garbage collections of its checkpoints (default DefaultGCEvery; 0 turns
// GC off, for instance when an operator runs it). A collection runs in the
// background, beside the task's next checkpoints.
func WithGCEvery(n int) Option {
	return func(o *jobOptions) { o.gcEvery = n }
}

// WithDeadLetterTopic dead-letters records whose Process failed to topic,
// through the task's Output, which must then implement RecordSender
// (KafkaOutput does): the dead letter is part of the checkpoint's
// transaction, so a record is either processed or dead-lettered, never lost
// and never both. Without it, a failed record stops the job.
func WithDeadLetterTopic(topic string, opts ...DeadLetterOption) Option {
	return func(o *jobOptions) { o.dlqTopic, o.dlqOpts = topic, opts }
}

// WithDeadLetterKafka dead-letters failed records to topic through a
// transactional producer of their own per task (transactional ID
// "<job>.dlq.task-<n>"), for outputs that cannot send Kafka records (a
// SPARQL store). The dead letters of a checkpoint are committed just before
// the task's output: if that commit then fails, the checkpoint is redone and
// its dead letters are written again, so dead letters are at least once
// (never lost, possibly repeated) while the output stays exactly once.
func WithDeadLetterKafka(topic string, cfg KafkaOutputConfig, opts ...DeadLetterOption) Option {
	return func(o *jobOptions) { o.dlqTopic, o.dlqKafka, o.dlqOpts = topic, &cfg, opts }
}

// WithRestoreFromSavepoint starts each task from the named savepoint (opts add to those of WithRestoreOptions)
// instead of its commit point, once: after a task's first commit that
// follows the savepoint restore, a marker object in the checkpoint store
// records it, and later assignments of the task (restarts, rebalances,
// other instances started with the same option) resume from the commit
// point. To rewind to the same savepoint twice, take a new savepoint name
// (or delete the marker "<job>.restored/<savepoint>/task-<n>").
func WithRestoreFromSavepoint(name string, opts ...checkpoint.RestoreOption) Option {
	return func(o *jobOptions) { o.fromSavepoint, o.restoreOpts = name, append(o.restoreOpts, opts...) }
}

// WithRestoreOptions passes options (AllowNewState, AllowDroppedState) to
// every restore from a commit point, for a deliberate state schema change.
func WithRestoreOptions(opts ...checkpoint.RestoreOption) Option {
	return func(o *jobOptions) { o.restoreOpts = append(o.restoreOpts, opts...) }
}

// WithLogger sets the job's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *jobOptions) { o.log = l }
}

// WithOnCheckpoint calls fn after every checkpoint attempt of every task: a
// hook for metrics (the sidecar) and tests. Tasks checkpoint in parallel,
// so fn may be called concurrently; it must not block. Several hooks may
// be given; they run in order.
func WithOnCheckpoint(fn func(CheckpointEvent)) Option {
	return func(o *jobOptions) {
		if prev := o.onCheckpoint; prev != nil && fn != nil {
			o.onCheckpoint = func(ev CheckpointEvent) { prev(ev); fn(ev) }
		} else if fn != nil {
			o.onCheckpoint = fn
		}
	}
}

// WithOnDeadLetter calls fn for every record the job dead-letters, after it
// was written into the open transaction: the runner's own dead letters and
// those written through TaskInfo.DeadLetters (an output dead-letters while
// it commits, and tasks commit in parallel, so fn may be called
// concurrently). fn must not block. Several hooks may be given; they run in
// order.
func WithOnDeadLetter(fn func(Failure)) Option {
	return func(o *jobOptions) {
		if prev := o.onDeadLetter; prev != nil && fn != nil {
			o.onDeadLetter = func(f Failure) { prev(f); fn(f) }
		} else if fn != nil {
			o.onDeadLetter = fn
		}
	}
}

// CheckpointEvent describes one task's checkpoint attempt.
type CheckpointEvent struct {
	Task         int
	CheckpointID uint64
	// Records is the number of records the task processed in the
	// checkpoint.
	Records int64
	// Snapshot and Commit are how long the two steps took.
	Snapshot, Commit time.Duration
	// Committed is when the commit point was written (zero on failure).
	Committed time.Time
	// EventTimes are the event times (source.Record.EventTime, zero when
	// unknown) of the records the checkpoint committed: Committed minus
	// each is the edit latency the sidecar's SLO measures. The slice is
	// reused after the hook returns; copy what you keep. Collecting them
	// costs 24 bytes per record of a checkpoint, and only happens when a
	// WithOnCheckpoint hook is set.
	EventTimes []time.Time
	// Err is nil for a committed checkpoint.
	Err error
}

// Stats are the counters of a job, for metrics and tests.
type Stats struct {
	// Processed counts records handed to processors (including failed ones).
	Processed int64
	// DeadLettered counts records written to the dead-letter topic,
	// including writes into transactions that were later aborted (the
	// record is then processed again and dead-lettered again), so it can
	// exceed the number of dead letters in the topic.
	DeadLettered int64
	// FallbackRestores counts task restores that found the committed
	// checkpoint corrupt and, as checkpoint.FallBackOnCorruption allows,
	// restored an older one and replayed the input since it: the output
	// of the replayed records is written again (at least once).
	FallbackRestores int64
	// DeadLettersTruncated counts the dead letters that were cut to fit
	// the dead-letter topic (see WithMaxDeadLetterBytes).
	DeadLettersTruncated int64
	// Checkpoints counts committed task checkpoints; CheckpointFailures
	// failed ones.
	Checkpoints, CheckpointFailures int64
	// Restarts counts how often the job rewound to its commit points after
	// a failure.
	Restarts int64
	// Tasks are the task numbers this instance owns now.
	Tasks []int
	// LastCheckpoint is when the last checkpoint committed.
	LastCheckpoint time.Time
	// Watermark is the source's combined event-time watermark.
	Watermark time.Time
	// Positions are the next offsets to read of this instance's
	// partitions, and Lag how many records each is behind its high
	// watermark (see source.Kafka.Lag). Both are refreshed about every
	// second and at every checkpoint.
	Positions source.Positions
	Lag       map[source.TopicPartition]int64
	// Committed are the positions of this instance's partitions at their
	// last commit point: the records before them are done for good (see
	// CommittedLag).
	Committed source.Positions
	// Paused reports whether Pause is in effect.
	Paused bool
	// ConsecutiveFailures counts the failed runs since the last committed
	// checkpoint: 0 while the job is healthy. FailingSince is when the
	// first of them failed, FailingComponent names where the last one came
	// from (see FailingComponent) and LastError is its message. While the
	// run has not failed but its input cannot reach the brokers (the
	// consumer retries on its own: see source.Stats.ConsecutiveErrors),
	// they describe that streak of consumer errors instead, with
	// ComponentInput.
	ConsecutiveFailures int
	FailingSince        time.Time
	FailingComponent    Component
	LastError           string
}

// CommittedLag returns, per partition of Positions, how many records lie
// between its commit point and its high watermark (Positions + Lag -
// Committed): the progress that counts, since what was read but not
// committed is read again after a failure. A partition without a known
// commit point counts from its position.
func (s Stats) CommittedLag() map[source.TopicPartition]int64 {
	out := make(map[source.TopicPartition]int64, len(s.Positions))
	for tp, pos := range s.Positions {
		c, ok := s.Committed[tp]
		if !ok {
			c = pos
		}
		out[tp] = max(pos+s.Lag[tp]-c, 0)
	}
	return out
}

// Component names a system a job depends on, for reporting which one is
// failing.
type Component string

// The components a job's failures are attributed to.
const (
	// ComponentCheckpointStore is the checkpoint store (Swift, files).
	ComponentCheckpointStore Component = "checkpoint-store"
	// ComponentOutput is the tasks' Output: the Kafka cluster it writes
	// to, or a SPARQL store.
	ComponentOutput Component = "output"
	// ComponentDeadLetters is the dead-letter producer of
	// WithDeadLetterKafka.
	ComponentDeadLetters Component = "dead-letters"
	// ComponentInput is the input Kafka cluster.
	ComponentInput Component = "input"
	// ComponentUnknown is any other failure.
	ComponentUnknown Component = "unknown"
)

// ComponentError is a job failure that came from one component. Run's
// errors and Stats.LastError wrap it; FailingComponent reads it back.
type ComponentError struct {
	Component Component
	Err       error
}

// Error names the component and the cause.
func (e *ComponentError) Error() string { return string(e.Component) + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ComponentError) Unwrap() error { return e.Err }

// FailingComponent returns the component err came from, or
// ComponentUnknown.
func FailingComponent(err error) Component {
	var ce *ComponentError
	if errors.As(err, &ce) {
		return ce.Component
	}
	return ComponentUnknown
}

func componentErr(c Component, err error) error {
	var ce *ComponentError
	if errors.As(err, &ce) {
		return err
	}
	return &ComponentError{Component: c, Err: err}
}

var jobNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// Job runs a stream-processing job: it consumes Input as a member of a
// consumer group, hands each record to the Processor of its task, and
// drives the checkpoint cycle that commits output, state and positions
// exactly once (see the package documentation). Create it with NewJob,
// run it with Run, and stop it with Stop or StopWithSavepoint.
type Job struct {
	name    string
	in      Input
	group   string
	o       jobOptions
	newTask func(ctx context.Context, info TaskInfo) (Output, Processor, error)

	reqs chan request

	mu      sync.Mutex
	running bool
	done    chan struct{}
	stats   Stats
	src     *source.Kafka // the current run's source, for Pause and Resume
	paused  bool
}

// Outputs creates the output of each task a job takes over. It returns
// the Output the runner drives (claim, commit point, one transaction per
// checkpoint) and the handle H through which the task's Processor writes.
// Keeping the two apart means processor code can send output but never
// begin, flush, commit or abort the runner's transactions. KafkaOutputs
// returns one for Kafka; the sink packages have their own.
type Outputs[H any] func(ctx context.Context, info TaskInfo) (Output, H, error)

// NewJob returns a job named name (letters, digits, '.', '_', '-'; the
// namespace of its checkpoints, transactional IDs and commit points) that
// reads in. For every task it takes over, it calls outputs and then
// newProcessor with the output's handle, so the processor writes to the
// task's own output. NewJob does no I/O.
func NewJob[H any](name string, in Input, outputs Outputs[H],
	newProcessor func(info TaskInfo, out H) (Processor, error), opts ...Option) (*Job, error) {
	if !jobNameRE.MatchString(name) {
		return nil, fmt.Errorf("%w: name %q (want 1-100 of [A-Za-z0-9._-])", ErrInvalidJob, name)
	}
	if len(in.Brokers) == 0 || len(in.Topics) == 0 {
		return nil, fmt.Errorf("%w: input needs brokers and topics", ErrInvalidJob)
	}
	if outputs == nil || newProcessor == nil {
		return nil, fmt.Errorf("%w: nil output or processor constructor", ErrInvalidJob)
	}
	o := jobOptions{
		interval: DefaultCheckpointInterval, maxFailures: DefaultMaxCheckpointFailures,
		pollRecords: DefaultPollRecords, gcEvery: DefaultGCEvery, log: slog.Default(),
		restartBackoff: 500 * time.Millisecond, maxBackoff: 30 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.interval <= 0:
		return nil, fmt.Errorf("%w: checkpoint interval %v", ErrInvalidJob, o.interval)
	case o.maxFailures < 0 || o.pollRecords <= 0 || o.gcEvery < 0:
		return nil, fmt.Errorf("%w: negative failure budget, poll size or GC period", ErrInvalidJob)
	case o.restartBackoff <= 0 || o.maxBackoff < o.restartBackoff:
		return nil, fmt.Errorf("%w: restart backoff %v..%v", ErrInvalidJob, o.restartBackoff, o.maxBackoff)
	case o.fromSavepoint != "" && o.store == nil:
		return nil, fmt.Errorf("%w: restoring a savepoint needs a checkpoint store", ErrInvalidJob)
	}
	if o.checkpointLimit <= 0 {
		o.checkpointLimit = o.interval + 30*time.Second
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	in.Topics = append([]string(nil), in.Topics...)
	group := in.Group
	if group == "" {
		group = name
	}
	j := &Job{name: name, in: in, group: group, o: o, reqs: make(chan request)}
	j.newTask = func(ctx context.Context, info TaskInfo) (Output, Processor, error) {
		out, handle, err := outputs(ctx, info)
		if err != nil {
			return nil, nil, err
		}
		if out == nil {
			return nil, nil, fmt.Errorf("%w: outputs returned a nil Output for task %d", ErrInvalidJob, info.Task)
		}
		p, err := newProcessor(info, handle)
		if err != nil {
			_ = out.Close()
			return nil, nil, err
		}
		if p == nil {
			_ = out.Close()
			return nil, nil, fmt.Errorf("%w: processor constructor returned nil", ErrInvalidJob)
		}
		return out, p, nil
	}
	return j, nil
}

// Name returns the job name.
func (j *Job) Name() string { return j.name }

// Group returns the job's consumer group.
func (j *Job) Group() string { return j.group }

// Stats returns the job's counters.
func (j *Job) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.stats
	s.Tasks = append([]int(nil), s.Tasks...)
	s.Positions = maps.Clone(s.Positions)
	s.Lag = maps.Clone(s.Lag)
	s.Committed = maps.Clone(s.Committed)
	s.Paused = j.paused
	if s.ConsecutiveFailures == 0 && j.src != nil {
		if ss := j.src.Stats(); ss.ConsecutiveErrors > 0 {
			s.ConsecutiveFailures, s.FailingSince = ss.ConsecutiveErrors, ss.FailingSince
			s.FailingComponent, s.LastError = ComponentInput, string(ComponentInput)+": "+ss.LastError
		}
	}
	return s
}

// Pause stops taking records from every input partition, without leaving
// the consumer group and without checkpointing: checkpoints go on at their
// interval (committing nothing new), so nothing times out while paused. It
// lasts until Resume, across restarts of the run, and is how an operator
// holds a job while a downstream store is being worked on.
func (j *Job) Pause() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.paused = true
	if j.src != nil {
		j.src.Pause()
	}
}

// Resume undoes Pause.
func (j *Job) Resume() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.paused = false
	if j.src != nil {
		j.src.Resume()
	}
}

func (j *Job) updateStats(fn func(*Stats)) {
	j.mu.Lock()
	fn(&j.stats)
	j.mu.Unlock()
}

// ErrTransient is matched by errors made with Transient.
var ErrTransient = errors.New("streamkit: transient failure")

type transientError struct{ err error }

func (e *transientError) Error() string        { return e.err.Error() }
func (e *transientError) Unwrap() error        { return e.err }
func (e *transientError) Is(target error) bool { return target == ErrTransient }

// Transient marks err as a failure of something other than the record — a
// store or service that is down, a timeout — so that the record must not be
// dead-lettered: Process returning it fails the run, and the job restarts
// from its commit points after a backoff and processes the record again
// (counting against WithMaxCheckpointFailures). A Process error while the
// job's context is done is treated the same way. It returns nil for nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err: err}
}

// ProcessError is returned by Run when a record failed and could not be
// dead-lettered. It names the record's provenance.
type ProcessError struct {
	Topic     string
	Partition int32
	Offset    int64
	Stage     string
	Err       error
}

// Error implements error.
func (e *ProcessError) Error() string {
	return fmt.Sprintf("streamkit: %s/%d@%d: %s: %v", e.Topic, e.Partition, e.Offset, e.Stage, e.Err)
}

// Unwrap returns the cause.
func (e *ProcessError) Unwrap() error { return e.Err }

// StageError names the stage of a Processor in which a record failed
// ("decode", "validate", …); it becomes the dead letter's stage header.
type StageError struct {
	Stage string
	// Class optionally names the kind of failure (a low-cardinality
	// string); empty means the Go type of the innermost error.
	Class string
	Err   error
}

// Error implements error.
func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *StageError) Unwrap() error { return e.Err }

// Stage wraps err so that a dead letter names stage as the failing stage
// (the default stage is "process"). It returns nil for a nil err.
func Stage(stage string, err error) error {
	if err == nil {
		return nil
	}
	return &StageError{Stage: stage, Err: err}
}
