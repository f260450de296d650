package streamkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// task is one partition number of every input topic, with its processor,
// output, state and checkpointer.
type task struct {
	id    int
	info  TaskInfo
	out   Output
	proc  Processor
	parts []checkpoint.PartitionState
	ckpt  *checkpoint.Checkpointer // nil for a stateless job
	dlq   *DeadLetter              // nil without a dead-letter topic
	dl    *taskDeadLetters         // TaskInfo.DeadLetters: writes through dlq and counts
	// dlqOut is the dead letters' own producer (WithDeadLetterKafka).
	dlqOut *KafkaOutput
	log    *slog.Logger
	// rollbackers are the tables that take back a failed record's changes;
	// scoped is the output when it holds back a failed record's output.
	rollbackers []checkpoint.Rollbacker
	scoped      RecordScoped

	committed uint64 // checkpoint ID of the last commit point
	records   int64  // records processed since the last commit
	pending   bool   // something (a record, a watermark) may have changed output or state
	// eventTimes are the event times of those records, for the edit
	// latency hook (kept only when WithOnCheckpoint is set).
	eventTimes []time.Time
	sinceGC    int
	// gcDone is closed when the task's background GC run ends (nil: none
	// was started); gcCancel cancels it.
	gcDone   chan struct{}
	gcCancel context.CancelFunc
	// savepointMarker is the savepoint this task was restored from and
	// whose marker is written after the next commit.
	savepointMarker string
	open            bool // an output checkpoint is open (Begin called)
}

// TaskNamespace returns the name under which task number task of job
// keeps its checkpoints and its Kafka transactional ID: "<job>.task-<n>".
// Tools that read a job's checkpoints or savepoints (a bootstrap, a state
// inspector) use it to find them.
func TaskNamespace(job string, task int) string { return job + ".task-" + strconv.Itoa(task) }

func savepointMarkerName(job, savepoint string, id int) string {
	return job + ".restored/" + savepoint + "/task-" + strconv.Itoa(id)
}

// onAssigned takes over the tasks of newly assigned partitions: claim the
// output (fencing zombies), read the commit point, restore state, seek.
func (r *run) onAssigned(_ context.Context, parts []source.TopicPartition) error {
	// The hook's ctx is Poll's, whose deadline is the loop's short poll
	// wait; taking a task over gets the checkpoint timeout instead.
	ctx, cancel := context.WithTimeout(r.ctx, r.j.o.checkpointLimit)
	defer cancel()
	byTask := make(map[int]source.Partitions)
	for _, tp := range parts {
		id := int(tp.Partition)
		if byTask[id] == nil {
			byTask[id] = make(source.Partitions)
		}
		byTask[id][tp.Topic] = append(byTask[id][tp.Topic], tp.Partition)
	}
	ids := make([]int, 0, len(byTask))
	for id := range byTask {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		if _, ok := r.tasks[id]; ok {
			continue // already ours (a topic gained partitions)
		}
		t, err := r.startTask(ctx, id, byTask[id])
		if err != nil {
			r.hookErr = fmt.Errorf("streamkit: taking over task %d: %w", id, err)
			return r.hookErr
		}
		r.tasks[id] = t
	}
	r.publishTasks()
	return nil
}

func (r *run) startTask(ctx context.Context, id int, parts source.Partitions) (_ *task, err error) {
	j := r.j
	log := j.o.log.With("job", j.name, "task", id)
	dl := newTaskDeadLetters(j, log)
	info := TaskInfo{Job: j.name, Group: j.group, Task: id, Partitions: parts, Logger: log, DeadLetters: dl}
	out, proc, err := j.newTask(ctx, info)
	if err != nil {
		return nil, err
	}
	t := &task{id: id, info: info, out: out, proc: proc, log: log, dl: dl}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	tables := proc.Tables()
	if len(tables) > 0 {
		if j.o.store == nil {
			return nil, fmt.Errorf("%w: processor has state tables but the job has no checkpoint store", ErrInvalidJob)
		}
		t.parts = []checkpoint.PartitionState{{Partition: id, Tables: tables}}
		for _, tb := range tables {
			if rb, ok := tb.(checkpoint.Rollbacker); ok {
				t.rollbackers = append(t.rollbackers, rb)
			} else {
				log.Info("streamkit: state table cannot roll back; Process must leave it unchanged when a record fails",
					"table", tb.Schema().Name)
			}
		}
	}
	t.scoped, _ = out.(RecordScoped)
	if j.o.store != nil {
		if t.ckpt, err = checkpoint.NewCheckpointer(j.o.store, TaskNamespace(j.name, id),
			append([]checkpoint.Option{checkpoint.WithLogger(log)}, j.o.ckptOpts...)...); err != nil {
			return nil, err
		}
	}
	if j.o.dlqTopic != "" {
		var sender RecordSender
		if j.o.dlqKafka != nil {
			// Dead letters through their own transactional producer,
			// committed just before the task's output (see
			// WithDeadLetterKafka).
			dinfo := info
			dinfo.Job = j.name + ".dlq"
			if t.dlqOut, err = NewKafkaOutput(*j.o.dlqKafka, dinfo); err != nil {
				return nil, err
			}
			if err := t.dlqOut.producer.Init(ctx); err != nil {
				return nil, fmt.Errorf("dead-letter producer: %w", err)
			}
			sender = t.dlqOut
		} else {
			var ok bool
			if sender, ok = out.(RecordSender); !ok {
				return nil, fmt.Errorf("%w: dead-letter topic %q needs an output that sends records (%T does not), or WithDeadLetterKafka",
					ErrInvalidJob, j.o.dlqTopic, out)
			}
		}
		if t.dlq, err = NewDeadLetter(sender, j.o.dlqTopic, j.name, j.o.dlqOpts...); err != nil {
			return nil, err
		}
		dl.bind(t.dlq)
	}
	if err := out.Claim(ctx); err != nil {
		return nil, componentErr(ComponentOutput, fmt.Errorf("claim: %w", err))
	}
	seek, err := r.restore(ctx, t)
	if err != nil {
		return nil, err
	}
	if len(seek) > 0 {
		if err := r.src.Seek(seek); err != nil {
			return nil, err
		}
	}
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// restore loads the task's state from its savepoint (once) or commit point
// and returns the positions to seek to.
func (r *run) restore(ctx context.Context, t *task) (source.Positions, error) {
	j := r.j
	if sp := j.o.fromSavepoint; sp != "" {
		used, err := markerExists(ctx, j.o.store, savepointMarkerName(j.name, sp, t.id))
		if err != nil {
			return nil, componentErr(ComponentCheckpointStore, err)
		}
		if !used {
			m, err := t.ckpt.RestoreSavepoint(ctx, sp, t.parts, j.o.restoreOpts...)
			if err != nil {
				return nil, componentErr(ComponentCheckpointStore, fmt.Errorf("restore from savepoint %q: %w", sp, err))
			}
			t.savepointMarker, t.committed = sp, m.ID
			t.log.Info("streamkit: task restored from savepoint", "savepoint", sp, "checkpoint", m.ID)
			return parsePositions(m.Positions, t.info.Partitions)
		}
	}
	cp, err := t.out.ReadCommitPoint(ctx, t.info.Partitions)
	if errors.Is(err, ErrNoCommitPoint) {
		t.log.Info("streamkit: task has no commit point; starting fresh")
		return nil, nil
	}
	if err != nil {
		return nil, componentErr(ComponentOutput, fmt.Errorf("read commit point: %w", err))
	}
	if cp.Job != j.name {
		return nil, fmt.Errorf("%w: commit point of task %d belongs to job %q", ErrInvalidCommitPoint, t.id, cp.Job)
	}
	t.committed = cp.CheckpointID
	if t.ckpt != nil {
		m, err := t.ckpt.Restore(ctx, cp.CheckpointID, t.parts, j.o.restoreOpts...)
		if err == nil && m.ID != cp.CheckpointID {
			// checkpoint.FallBackOnCorruption restored an older checkpoint:
			// its state goes with its own positions, behind the commit
			// point, so the input since then is read again and the output
			// it produced is produced again (at least once).
			t.log.Warn("streamkit: the committed checkpoint is corrupt; restored an older one and replaying the input since it: "+
				"output between the two is written again (at least once)",
				"committed", cp.CheckpointID, "restored", m.ID)
			j.updateStats(func(s *Stats) { s.FallbackRestores++ })
			return parsePositions(m.Positions, t.info.Partitions)
		}
		if err != nil {
			if errors.Is(err, checkpoint.ErrNoCheckpoint) && len(t.parts) == 0 {
				// A stateless task before any checkpoint was written.
			} else if errors.Is(err, checkpoint.ErrNoCheckpoint) {
				// No restart can bring it back: the store was changed
				// under the job (wiped, another container, a clone without
				// its checkpoints). Fail now and say so.
				return nil, fmt.Errorf("%w: commit point names checkpoint %d of %q: %w",
					ErrCheckpointMissing, cp.CheckpointID, TaskNamespace(j.name, t.id), err)
			} else {
				return nil, componentErr(ComponentCheckpointStore, fmt.Errorf("restore checkpoint %d named by the commit point: %w", cp.CheckpointID, err))
			}
		}
	}
	pos := maps.Clone(cp.Positions)
	t.log.Info("streamkit: task restored from its commit point", "checkpoint", cp.CheckpointID)
	return pos, nil
}

func markerExists(ctx context.Context, store checkpoint.Store, name string) (bool, error) {
	rc, err := store.Open(ctx, name)
	if errors.Is(err, checkpoint.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading savepoint marker %q: %w", name, err)
	}
	_ = rc.Close()
	return true, nil
}

func writeMarker(ctx context.Context, store checkpoint.Store, name string, id uint64) error {
	w, err := store.Create(ctx, name)
	if errors.Is(err, checkpoint.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, strconv.FormatUint(id, 10)+"\n"); err != nil {
		_ = w.Cancel()
		return err
	}
	if err := w.Close(); err != nil && !errors.Is(err, checkpoint.ErrExist) {
		return err
	}
	return nil
}

// parsePositions turns a manifest's "topic/partition" positions into
// source positions, keeping the task's partitions.
func parsePositions(m map[string]int64, parts source.Partitions) (source.Positions, error) {
	pos, err := source.ParsePositions(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", checkpoint.ErrCorrupt, err)
	}
	return pos.Within(parts), nil
}

// onRevoked hands off revoked tasks: a last checkpoint, then close. A
// failure only costs the reprocessing of the uncommitted records by the
// next owner, so it is logged, counted, and not returned.
func (r *run) onRevoked(_ context.Context, parts []source.TopicPartition) error {
	ctx := r.ctx // not Poll's short deadline; checkpointTasks bounds it
	ids := make(map[int]bool)
	for _, tp := range parts {
		ids[int(tp.Partition)] = true
	}
	var revoked []*task
	for id := range ids {
		if t, ok := r.tasks[id]; ok {
			revoked = append(revoked, t)
		}
	}
	r.checkpointTasks(ctx, revoked, false)
	for _, t := range revoked {
		if t.open {
			t.abort(ctx)
		}
		t.close()
		delete(r.tasks, t.id)
	}
	r.publishTasks()
	return nil
}

// process hands one record to its task's processor and dead-letters it if
// that fails.
func (r *run) process(ctx context.Context, rec *source.Record) error {
	t, ok := r.tasks[int(rec.Partition)]
	if !ok {
		return fmt.Errorf("streamkit: record of %s/%d has no task", rec.Topic, rec.Partition)
	}
	t.markTables()
	if t.scoped != nil {
		t.scoped.BeginRecord()
	}
	err := safeProcess(ctx, t.proc, rec)
	if err != nil {
		// Whatever the record changed before it failed goes, so that its
		// dead letter stands for all of it.
		t.rollbackTables()
	}
	if t.scoped != nil {
		if serr := t.scoped.EndRecord(ctx, err == nil); serr != nil && err == nil {
			return fmt.Errorf("streamkit: task %d: output of %s/%d@%d: %w", t.id, rec.Topic, rec.Partition, rec.Offset, serr)
		}
	}
	t.records++
	t.pending = true
	if r.j.o.onCheckpoint != nil {
		t.eventTimes = append(t.eventTimes, rec.EventTime)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrTransient) || errors.Is(err, ErrTransactionExpired) || ctx.Err() != nil {
		// Not the record's fault: rewind to the commit points and try again.
		// An output transaction that expired while the processor was
		// sending (Send blocks while the producer cannot deliver, as during
		// a partition leader's failover) is the output's failure too.
		return fmt.Errorf("streamkit: task %d: %s/%d@%d: %w", t.id, rec.Topic, rec.Partition, rec.Offset, err)
	}
	stage, class := "process", ""
	var se *StageError
	if errors.As(err, &se) {
		stage, class = se.Stage, se.Class
	}
	var pp *panicError
	if errors.As(err, &pp) {
		class = "panic"
	}
	if t.dlq == nil {
		return &ProcessError{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Stage: stage,
			Err: fmt.Errorf("%w: %w", ErrNoDeadLetter, err)}
	}
	return t.dl.Write(ctx, Failure{Record: *rec, Stage: stage, Err: err, Class: class, Attempts: 1})
}

type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// markTables starts recording the task's state changes, for rollbackTables.
func (t *task) markTables() {
	for _, rb := range t.rollbackers {
		rb.Mark()
	}
}

// rollbackTables undoes the state changes since markTables.
func (t *task) rollbackTables() {
	for _, rb := range t.rollbackers {
		rb.Rollback()
	}
}

func safeProcess(ctx context.Context, p Processor, rec *source.Record) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return p.Process(ctx, rec)
}

// checkpointAll checkpoints every task (force: even those without new
// records, as a savepoint needs). Any failure fails the run.
func (r *run) checkpointAll(ctx context.Context, force bool) error {
	ts := make([]*task, 0, len(r.tasks))
	for _, id := range r.taskIDs() {
		ts = append(ts, r.tasks[id])
	}
	if err := r.checkpointTasks(ctx, ts, force); err != nil {
		return err
	}
	// Reopen the outputs for the next checkpoint.
	for _, t := range ts {
		if !t.open {
			if err := t.begin(ctx); err != nil {
				return fmt.Errorf("streamkit: task %d: %w", t.id, err)
			}
		}
	}
	r.publishTasks()
	return nil
}

// checkpointTasks runs the barrier, snapshot and commit of the given tasks
// in parallel (they share nothing) and returns the first error. A task
// whose checkpoint committed has no open output afterwards.
func (r *run) checkpointTasks(ctx context.Context, ts []*task, force bool) error {
	positions := r.src.Positions()
	ctx, cancel := context.WithTimeout(ctx, r.j.o.checkpointLimit)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, t := range ts {
		if !t.pending && !force { // nothing new to commit
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.checkpointTask(ctx, t, positions); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func (r *run) checkpointTask(ctx context.Context, t *task, all source.Positions) (err error) {
	j := r.j
	ev := CheckpointEvent{Task: t.id, Records: t.records}
	var committedPos source.Positions // the positions of the commit point, once committed
	defer func() {
		ev.Err = err
		j.updateStats(func(s *Stats) {
			if err != nil {
				s.CheckpointFailures++
			} else {
				s.Checkpoints++
				s.LastCheckpoint = time.Now()
				s.ConsecutiveFailures, s.FailingSince, s.FailingComponent, s.LastError = 0, time.Time{}, "", ""
				if s.Committed == nil {
					s.Committed = source.Positions{}
				}
				maps.Copy(s.Committed, committedPos)
			}
		})
		if err != nil {
			t.log.Warn("streamkit: checkpoint failed", "checkpoint", ev.CheckpointID, "err", err)
		}
		if j.o.onCheckpoint != nil {
			j.o.onCheckpoint(ev)
		}
	}()
	if f, ok := t.proc.(Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			return fmt.Errorf("streamkit: task %d: flush: %w", t.id, err)
		}
	}
	cp := &CommitPoint{Job: j.name, Positions: all.Within(t.info.Partitions)}
	manifestPos := cp.Positions.Strings()
	start := time.Now()
	if t.ckpt != nil {
		m, err := t.ckpt.Checkpoint(ctx, manifestPos, t.parts)
		if err != nil {
			return componentErr(ComponentCheckpointStore, fmt.Errorf("streamkit: task %d: snapshot: %w", t.id, err))
		}
		cp.CheckpointID = m.ID
	} else {
		cp.CheckpointID = t.committed + 1
	}
	ev.CheckpointID = cp.CheckpointID
	ev.Snapshot = time.Since(start)
	start = time.Now()
	t.open = false
	if t.dlqOut != nil {
		// Dead letters first: if the output's commit then fails, they are
		// written again by the retry (at least once), but a record is
		// never committed as processed without its dead letter.
		if err := t.dlqOut.Commit(ctx, nil); err != nil {
			_ = t.out.Abort(ctx)
			return componentErr(ComponentDeadLetters, fmt.Errorf("streamkit: task %d: commit dead letters of checkpoint %d: %w", t.id, cp.CheckpointID, err))
		}
	}
	if err := t.out.Commit(ctx, cp); err != nil {
		return componentErr(ComponentOutput, fmt.Errorf("streamkit: task %d: commit checkpoint %d: %w", t.id, cp.CheckpointID, err))
	}
	committedPos = cp.Positions
	ev.Commit = time.Since(start)
	ev.Committed = time.Now()
	ev.EventTimes = t.eventTimes
	t.committed, t.records, t.pending, t.eventTimes = cp.CheckpointID, 0, false, t.eventTimes[:0]
	r.committed.Store(true)
	if t.savepointMarker != "" {
		name := savepointMarkerName(j.name, t.savepointMarker, t.id)
		if err := writeMarker(ctx, j.o.store, name, cp.CheckpointID); err != nil {
			return componentErr(ComponentCheckpointStore, fmt.Errorf("streamkit: task %d: savepoint marker %q: %w", t.id, name, err))
		}
		t.savepointMarker = ""
	}
	if t.ckpt != nil && j.o.gcEvery > 0 {
		if t.sinceGC++; t.sinceGC >= j.o.gcEvery && t.gcIdle() {
			t.sinceGC = 0
			t.startGC(r.ctx, j.o.checkpointLimit)
		}
	}
	return nil
}

// startGC collects the task's expired checkpoints in the background. A run
// is a few dozen store requests; done in line, the records read meanwhile
// would wait for it. GC's protocol lets it run beside the task's own
// checkpoints (see checkpoint.Checkpointer.GC); a task runs one GC at a
// time, bounded like a checkpoint by limit, and cancels it when it closes
// (a GC run can stop anywhere: what it leaves, the next run takes).
func (t *task) startGC(ctx context.Context, limit time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	done := make(chan struct{})
	t.gcDone, t.gcCancel = done, cancel
	go func() {
		defer close(done)
		defer cancel()
		if _, err := t.ckpt.GC(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("streamkit: checkpoint GC failed", "err", err) // retried next time
		}
	}()
}

// gcIdle reports whether no GC run of the task is in progress.
func (t *task) gcIdle() bool {
	if t.gcDone == nil {
		return true
	}
	select {
	case <-t.gcDone:
		return true
	default:
		return false
	}
}

// begin opens the task's output (and dead-letter producer) for the next
// checkpoint.
func (t *task) begin(ctx context.Context) error {
	if t.dlqOut != nil {
		if err := t.dlqOut.Begin(ctx); err != nil {
			return componentErr(ComponentDeadLetters, fmt.Errorf("begin dead letters: %w", err))
		}
	}
	if err := t.out.Begin(ctx); err != nil {
		return componentErr(ComponentOutput, fmt.Errorf("begin: %w", err))
	}
	t.open = true
	return nil
}

func (t *task) abort(ctx context.Context) {
	if !t.open {
		return
	}
	t.open = false
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := t.out.Abort(actx); err != nil {
		t.log.Warn("streamkit: abort failed", "err", err)
	}
	if t.dlqOut != nil {
		if err := t.dlqOut.Abort(actx); err != nil {
			t.log.Warn("streamkit: abort of dead letters failed", "err", err)
		}
	}
}

func (t *task) close() {
	if t.gcDone != nil {
		t.gcCancel()
		<-t.gcDone
	}
	if err := t.out.Close(); err != nil {
		t.log.Warn("streamkit: closing output", "err", err)
	}
	if t.dlqOut != nil {
		if err := t.dlqOut.Close(); err != nil {
			t.log.Warn("streamkit: closing dead-letter producer", "err", err)
		}
	}
	if c, ok := t.proc.(io.Closer); ok {
		_ = c.Close()
	}
}
