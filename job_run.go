package streamkit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// request is an operator call (Stop, Savepoint) handed to the job's
// goroutine, which serves it between batches: at a barrier.
type request struct {
	kind      requestKind
	savepoint string
	reply     chan requestResult
}

type requestKind int

const (
	reqStop requestKind = iota + 1
	reqSavepoint
	reqStopWithSavepoint
)

type requestResult struct {
	sp  *SavepointResult
	err error
}

// SavepointResult says what a savepoint pinned: per task of this instance,
// the checkpoint ID.
type SavepointResult struct {
	Name  string
	Tasks map[int]uint64
}

// errStopped ends a run after a clean Stop.
var errStopped = errors.New("streamkit: stopped")

// Run runs the job until Stop or StopWithSavepoint (it then returns nil),
// until ctx is done (it returns ctx.Err(): output since the last checkpoint
// is aborted and reprocessed by the next run), or until it fails for good.
//
// A failure of a checkpoint, a sink or the source aborts every open
// transaction, closes the tasks and the source, and starts again from the
// commit points after a backoff; more than WithMaxCheckpointFailures such
// failures in a row end Run with an error matching ErrTooManyFailures.
// Errors no restart can fix end it at once: incompatible state
// (checkpoint.ErrIncompatible), a commit point naming a checkpoint the store
// lacks (ErrCheckpointMissing), a record that failed without a dead-letter
// topic (*ProcessError), an invalid configuration.
func (j *Job) Run(ctx context.Context) error {
	j.mu.Lock()
	if j.running || j.done != nil {
		j.mu.Unlock()
		return fmt.Errorf("streamkit: job %q: Run called twice", j.name)
	}
	j.running = true
	j.done = make(chan struct{})
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		j.running = false
		j.stats.Tasks = nil
		close(j.done)
		j.mu.Unlock()
	}()

	failures := 0
	backoff := j.o.restartBackoff
	for {
		r := &run{j: j, tasks: make(map[int]*task)}
		err := r.run(ctx)
		if errors.Is(err, errStopped) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fatal(err) {
			return err
		}
		if r.committed.Load() {
			failures, backoff = 0, j.o.restartBackoff
		}
		failures++
		component := FailingComponent(err)
		j.updateStats(func(s *Stats) {
			s.Restarts++
			if s.ConsecutiveFailures == 0 {
				s.FailingSince = time.Now()
			}
			s.ConsecutiveFailures, s.FailingComponent, s.LastError = failures, component, err.Error()
		})
		if j.o.maxFailures > 0 && failures > j.o.maxFailures {
			return fmt.Errorf("%w: %d in a row, more than the %d that WithMaxCheckpointFailures allows (the last in the %s): %w",
				ErrTooManyFailures, failures, j.o.maxFailures, component, err)
		}
		j.o.log.Warn("streamkit: job failed; restarting from the commit points", "job", j.name, "component", component,
			"err", err, "failures", failures, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, j.o.maxBackoff)
	}
}

func fatal(err error) bool {
	var pe *ProcessError
	return errors.As(err, &pe) || errors.Is(err, checkpoint.ErrIncompatible) || errors.Is(err, ErrInvalidJob) ||
		errors.Is(err, ErrCheckpointMissing) ||
		errors.Is(err, source.ErrInvalidConfig)
}

// Stop drains the job: it finishes the batch in hand, commits a last
// checkpoint of every task, leaves the consumer group and makes Run return
// nil. It waits for that, or for ctx.
func (j *Job) Stop(ctx context.Context) error {
	_, err := j.call(ctx, request{kind: reqStop})
	return err
}

// Savepoint commits a checkpoint of every task this instance owns and pins
// it under name (see checkpoint.Checkpointer.Savepoint); the job keeps
// running. In a job of several instances each instance pins its own tasks:
// call it on every instance (each instance's sidecar: POST /savepoint), or
// stop all but one first.
func (j *Job) Savepoint(ctx context.Context, name string) (*SavepointResult, error) {
	return j.call(ctx, request{kind: reqSavepoint, savepoint: name})
}

// StopWithSavepoint is Savepoint followed by Stop, at the same barrier: no
// record is processed after the savepoint, so a job started from it
// (WithRestoreFromSavepoint) continues exactly where this one ended.
func (j *Job) StopWithSavepoint(ctx context.Context, name string) (*SavepointResult, error) {
	return j.call(ctx, request{kind: reqStopWithSavepoint, savepoint: name})
}

func (j *Job) call(ctx context.Context, req request) (*SavepointResult, error) {
	if req.kind != reqStop {
		if j.o.store == nil {
			return nil, ErrNoCheckpointStore
		}
		if err := checkpoint.ValidateName(req.savepoint); err != nil || req.savepoint == "" {
			return nil, fmt.Errorf("%w: savepoint name %q", ErrInvalidJob, req.savepoint)
		}
	}
	j.mu.Lock()
	running, done := j.running, j.done
	j.mu.Unlock()
	if !running {
		return nil, ErrNotRunning
	}
	req.reply = make(chan requestResult, 1)
	select {
	case j.reqs <- req:
	case <-done:
		return nil, ErrNotRunning
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var res requestResult
	select {
	case res = <-req.reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.err != nil || req.kind == reqSavepoint {
		return res.sp, res.err
	}
	select { // a stop: wait for Run to return
	case <-done:
		return res.sp, nil
	case <-ctx.Done():
		return res.sp, ctx.Err()
	}
}

// run is one attempt: one source (one group membership) and the tasks it
// was assigned. Everything here runs on the goroutine that called Run,
// including the source's hooks (they run inside Poll).
type run struct {
	j         *Job
	src       *source.Kafka
	tasks     map[int]*task
	committed atomic.Bool // a checkpoint committed during this run
	// ctx is Run's context, for the work the source's hooks do.
	ctx     context.Context
	hookErr error
	// watermark is the last watermark handed to the tasks.
	watermark time.Time
}

func (r *run) run(ctx context.Context) (err error) {
	j := r.j
	srcOpts := append(append([]source.Option{source.WithLogger(j.o.log)}, j.in.Options...),
		source.WithOnAssigned(r.onAssigned),
		source.WithOnRevoked(r.onRevoked),
		source.WithSaramaConfig(func(c *sarama.Config) {
			// Range keeps partition p of every co-partitioned topic on one
			// member, which is what makes a task.
			c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
			// sarama's group session fetches the committed offsets with
			// require_stable (OffsetFetch v7+, Kafka 2.5+) before the
			// OnAssigned hook runs; a transaction that a dead owner left
			// open with its offsets inside makes every session fail until
			// the broker expires it (the transaction timeout), and only our
			// hook's Claim would abort it. Speaking 2.4 to the group keeps
			// that fetch unstable-tolerant; it only picks a default start
			// offset, which the hook replaces with the commit point it reads
			// — with require_stable, after Claim has fenced the dead owner.
			if c.Version.IsAtLeast(sarama.V2_5_0_0) {
				c.Version = sarama.V2_4_0_0
			}
		}))
	src, err := source.NewKafka(j.in.Brokers, j.group, j.in.Topics, srcOpts...)
	if err != nil {
		return err
	}
	r.src, r.ctx = src, ctx
	j.mu.Lock()
	j.src = src
	if j.paused {
		src.Pause()
	}
	j.mu.Unlock()
	runCtx, cancel := context.WithCancel(ctx)
	srcDone := make(chan error, 1)
	go func() { srcDone <- src.Run(runCtx) }()
	defer func() {
		cancel()
		r.closeAll(context.WithoutCancel(ctx), err)
		j.mu.Lock()
		j.src = nil
		j.mu.Unlock()
		_ = src.Close()
		<-srcDone
		j.updateStats(func(s *Stats) { s.Tasks, s.Positions, s.Lag, s.Committed = nil, nil, nil, nil })
	}()

	next := time.Now().Add(j.o.interval)
	nextStats := time.Now()
	for {
		if time.Now().After(nextStats) {
			r.publishTasks()
			nextStats = time.Now().Add(time.Second)
		}
		select {
		case req := <-j.reqs:
			if err := r.serve(ctx, req); err != nil {
				return err
			}
			continue
		case err := <-srcDone:
			srcDone <- err
			if err == nil {
				err = ctx.Err()
			}
			if err == nil {
				err = errors.New("streamkit: source stopped")
			}
			return componentErr(ComponentInput, err)
		default:
		}
		wait := min(time.Until(next), 200*time.Millisecond)
		recs, perr := r.poll(ctx, max(wait, time.Millisecond))
		if r.hookErr != nil {
			return r.hookErr
		}
		if perr != nil && !errors.Is(perr, context.DeadlineExceeded) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(perr, source.ErrClosed) {
				if serr := <-srcDone; serr != nil {
					srcDone <- serr
					return componentErr(ComponentInput, serr)
				}
				srcDone <- nil
			}
			return componentErr(ComponentInput, perr)
		}
		for i := range recs {
			if err := r.process(runCtx, &recs[i]); err != nil {
				r.j.updateStats(func(s *Stats) { s.Processed += int64(i + 1) })
				return err
			}
		}
		// Once per batch, not per record: the stats lock is off the hot path.
		r.j.updateStats(func(s *Stats) { s.Processed += int64(len(recs)) })
		if err := r.advanceWatermark(runCtx); err != nil {
			return err
		}
		if !time.Now().Before(next) || r.wantsCommit() {
			if err := r.checkpointAll(ctx, false); err != nil {
				return err
			}
			next = time.Now().Add(j.o.interval)
		}
	}
}

// advanceWatermark tells the tasks' WatermarkHandlers that event time moved.
func (r *run) advanceWatermark(ctx context.Context) error {
	wm := r.src.Watermark()
	if !wm.After(r.watermark) {
		return nil
	}
	r.watermark = wm
	for _, id := range r.taskIDs() {
		t := r.tasks[id]
		if h, ok := t.proc.(WatermarkHandler); ok {
			if err := h.OnWatermark(ctx, wm); err != nil {
				return fmt.Errorf("streamkit: task %d: watermark %v: %w", id, wm, err)
			}
			t.pending = true // it may have written output or state: commit it
		}
	}
	return nil
}

func (r *run) poll(ctx context.Context, wait time.Duration) ([]source.Record, error) {
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return r.src.Poll(pctx, r.j.o.pollRecords)
}

func (r *run) wantsCommit() bool {
	for _, t := range r.tasks {
		if cr, ok := t.out.(CommitRequester); ok && cr.WantsCommit() {
			return true
		}
	}
	return false
}

// serve handles an operator request at a barrier. A returned error ends
// the run (errStopped for a clean stop).
func (r *run) serve(ctx context.Context, req request) error {
	reply := func(sp *SavepointResult, err error) { req.reply <- requestResult{sp: sp, err: err} }
	if err := r.checkpointAll(ctx, req.kind != reqStop); err != nil {
		reply(nil, err)
		return err
	}
	var sp *SavepointResult
	if req.kind != reqStop {
		var err error
		if sp, err = r.savepoint(ctx, req.savepoint); err != nil {
			reply(nil, err)
			if req.kind == reqSavepoint {
				return nil // the job goes on; the caller learns why
			}
			return err
		}
	}
	if req.kind == reqSavepoint {
		reply(sp, nil)
		return nil
	}
	// Stop: every task is committed; close them so that nothing is aborted.
	for id, t := range r.tasks {
		t.close()
		delete(r.tasks, id)
	}
	reply(sp, nil)
	r.j.o.log.Info("streamkit: job stopped", "job", r.j.name, "savepoint", req.savepoint)
	return errStopped
}

func (r *run) savepoint(ctx context.Context, name string) (*SavepointResult, error) {
	res := &SavepointResult{Name: name, Tasks: make(map[int]uint64)}
	for _, id := range r.taskIDs() {
		t := r.tasks[id]
		m, err := t.ckpt.Savepoint(ctx, name, t.committed)
		if err != nil {
			return nil, fmt.Errorf("streamkit: savepoint %q of task %d: %w", name, id, err)
		}
		res.Tasks[id] = m.ID
	}
	return res, nil
}

func (r *run) taskIDs() []int {
	ids := make([]int, 0, len(r.tasks))
	for id := range r.tasks {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

func (r *run) publishTasks() {
	ids := r.taskIDs()
	wm, pos, lag := r.src.Watermark(), r.src.Positions(), r.src.Lag()
	r.j.updateStats(func(s *Stats) { s.Tasks, s.Watermark, s.Positions, s.Lag = ids, wm, pos, lag })
}

// closeAll aborts and closes every task still open (after a failure) .
func (r *run) closeAll(ctx context.Context, cause error) {
	for id, t := range r.tasks {
		if cause != nil && !errors.Is(cause, errStopped) {
			t.abort(ctx)
		}
		t.close()
		delete(r.tasks, id)
	}
}
