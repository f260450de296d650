package updater

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// State table names and versions: part of the savepoint format.
const (
	stateTableName   = "last-seen-rev"
	reorderTableName = "reorder"
	stateVersion     = 1
	// subgraphStateVersion is the version of the membership table (a
	// SubgraphSet per entity); its name changes with the definitions.
	subgraphStateVersion = 1
)

// Processor is the updater's streamkit.Processor for one task. Its state is
// the last revision of every entity (an EntityTable, as WDQS's lastSeenRev:
// +rev created, -rev deleted) and the re-order buffer's events; with the
// graph split (Config.Subgraphs), also each entity's subgraph membership
// at its last emitted revision, which moves together with the revision.
//
// Where the fetching happens, and why. Events leave the re-order buffer in
// OnWatermark, in batches (everything the watermark made due). An edit
// whose parent is the entity's current revision, with nothing of its entity
// buffered, skips the buffer as in WDQS (fastPath): it waits in a pending
// batch that is applied at the next watermark, reconcile event or barrier
// (Flush), so in-order edits see about a checkpoint interval of added
// latency instead of the re-ordering window plus the lateness. Released and
// fast-path events go to a scheduler, in order: each entity's events run as
// a sequential chain (decide, fetch, diff, next event, each from the state
// the previous one left), entities in parallel on 2 × MaxConcurrentRequests
// workers, the Fetcher bounding the HTTP requests of all tasks together;
// their output is written from the task's goroutine strictly in submission
// order, as the oldest submitted event finishes, and each entity's state
// moves as its output is written. The scheduler does not wait at the end
// of a batch or a poll: it holds up to 8 × MaxConcurrentRequests submitted
// events (the bound on the output held in memory), so the workers run past
// a slow event and the fetch slots stay busy; a call waits only when that
// window is full. So per-entity order holds, entities are fetched in
// parallel, and nothing is in flight at a barrier: Flush writes everything
// submitted before the snapshot, which therefore always matches the
// output. The price is that a slow fetch holds the output behind it
// (head-of-line blocking, as WDQS's orderedWait) for at most HTTPTimeout ×
// FetchAttempts, and the task once the window is full. An edit of an entity
// with events still in the scheduler does not take the fast path (its
// state is not written yet): it waits in the re-order buffer.
//
// The WDQS weakness this avoids: WDQS moves an entity's state to the new
// revision before the fetch, so after a failed fetch the next edit is diffed
// against a revision the store never received, and the store stays wrong until
// the hourly reconciliation. Here the state advances only when the operation's
// events were produced: after a fetch failure (fetch-failure side output) the
// entity's state stays at the last revision actually emitted, and the next edit
// is diffed from there.
type Processor struct {
	cfg     *Config
	info    streamkit.TaskInfo
	out     streamkit.RecordSender
	fetcher *Fetcher
	shared  rdfdiff.SharedPredicate
	log     *slog.Logger

	// partition is the output partition of this task's events.
	partition int32

	state *checkpoint.EntityTable
	buf   *streamkit.ReorderBuffer[string, InputEvent]

	// fan and subState are the graph split (Config.Subgraphs), nil
	// without it: the fan-out, and each entity's subgraph membership at
	// its last emitted revision (a SubgraphSet; no entry: unknown).
	fan      *SubgraphDiff
	subState *checkpoint.EntityTable

	// pending are the in-order edits that skipped the buffer (the WDQS
	// fast path), applied together at the next watermark, reconcile or
	// barrier, or when there are fastPathBatch of them; pendingItems their
	// entities. Never part of a snapshot: Flush empties it first.
	pending      []InputEvent
	pendingItems map[string]bool

	// sched runs the events taken out of the buffer or the fast path: see
	// scheduler. Empty at every barrier (Flush drains it).
	sched *scheduler
}

// fastPathBatch is how many fast-path edits are applied at once at most.
const fastPathBatch = 256

// schedWindow is how many events the scheduler holds at most between their
// admission and the writing of their output (what bounds the output held
// in memory): enough for the workers to run past a slow event.
func schedWindow(maxConcurrent int) int { return max(64, 8*maxConcurrent) }

// schedWorkers is how many events run at once: more than the requests the
// Fetcher allows, so that its slots stay busy while other events parse,
// munge and diff what they fetched.
func schedWorkers(maxConcurrent int) int { return 2 * maxConcurrent }

var (
	_ streamkit.Processor        = (*Processor)(nil)
	_ streamkit.WatermarkHandler = (*Processor)(nil)
	_ streamkit.Flusher          = (*Processor)(nil)
	_ io.Closer                  = (*Processor)(nil)
)

// newProcessor returns the processor of one task writing to out. cfg must
// come from NewJob's validation (its defaults filled).
func newProcessor(cfg *Config, info streamkit.TaskInfo, out streamkit.RecordSender, fetcher *Fetcher) (*Processor, error) {
	buf, err := streamkit.NewReorderBuffer[string, InputEvent](reorderTableName, cfg.ReorderWindow,
		streamkit.WithReorderSequenceOrder(), streamkit.WithReorderLateByWatermark(),
		streamkit.WithReorderMaxBuffered(cfg.MaxBuffered))
	if err != nil {
		return nil, err
	}
	log := info.Logger
	if log == nil {
		log = cfg.Logger
	}
	partition := cfg.OutputPartition
	switch {
	case partition == OutputPartitionPerTask:
		partition = int32(info.Task)
	case info.Task != 0:
		return nil, fmt.Errorf("%w: task %d would interleave its chunked events with task 0's in output partition %d; use OutputPartitionPerTask (-output-partition -1)",
			ErrInvalidConfig, info.Task, partition)
	}
	p := &Processor{
		cfg: cfg, info: info, out: out, fetcher: fetcher, log: log, partition: partition,
		shared: rdfdiff.WikibaseShared(*cfg.Scheme),
		state:  checkpoint.NewEntityTable(stateTableName, stateVersion),
		buf:    buf, pendingItems: map[string]bool{},
	}
	p.sched = newScheduler(schedWindow(cfg.MaxConcurrentRequests), schedWorkers(cfg.MaxConcurrentRequests))
	p.sched.load, p.sched.run, p.sched.emit = p.loadState, p.step, p.emit
	if cfg.Subgraphs != nil {
		p.fan = NewSubgraphDiff(NewSubgraphAssigner(cfg.Subgraphs, *cfg.Scheme), p.shared)
		p.subState = checkpoint.NewEntityTable(subgraphTableName(cfg.Subgraphs), subgraphStateVersion)
	}
	return p, nil
}

// Close stops the events still running in the scheduler (after a failed
// run, which writes nothing more) and waits for them, so that none keeps a
// fetch slot or a goroutine past its task. The runner calls it when the
// task ends.
func (p *Processor) Close() error {
	p.sched.stop()
	return nil
}

// Tables implements streamkit.Processor.
func (p *Processor) Tables() []checkpoint.StateTable {
	tables := append([]checkpoint.StateTable{p.state}, p.buf.Tables()...)
	if p.subState != nil {
		tables = append(tables, p.subState)
	}
	return tables
}

// Membership returns the entity's subgraph membership as checkpointed (for
// tests and tools); always unknown without Config.Subgraphs.
func (p *Processor) Membership(item string) SubgraphMembership {
	if p.subState == nil {
		return SubgraphMembership{}
	}
	v, ok := p.subState.Get(item)
	return SubgraphMembership{Set: SubgraphSet(v), Known: ok}
}

// State returns the entity's state (for tests and tools) as of the output
// written so far: events still in the scheduler are not in it until the
// next barrier (Flush).
func (p *Processor) State(item string) EntityState {
	v, ok := p.state.Get(item)
	return stateOf(v, ok)
}

// Process implements streamkit.Processor: it decodes and filters the event
// and buffers it for re-ordering; a reconcile event, which is not part of
// the revision history, is applied at once (as in WDQS).
func (p *Processor) Process(ctx context.Context, rec *source.Record) error {
	ev, sh, err := p.cfg.Filter.decodeRecord(rec, p.cfg.now())
	if err != nil {
		return streamkit.Stage("decode", err)
	}
	if ev == nil {
		p.cfg.Metrics.Filtered.Add(1)
		if sh == shapePropertiesChange {
			p.cfg.Metrics.PropertiesChanges.Add(1)
		}
		return nil
	}
	p.cfg.Metrics.Events.Add(1)
	if ev.Action.isReconcile() {
		// After the fast-path edits already taken, as WDQS emits them.
		if err := p.applyPending(ctx); err != nil {
			return err
		}
		return p.apply(ctx, []InputEvent{*ev})
	}
	err = p.buf.CheckLate(ev.Item, ev.EventTime, ev.Revision)
	if err == nil && p.fastPath(ev) {
		p.pending = append(p.pending, *ev)
		p.pendingItems[ev.Item] = true
		if len(p.pending) >= fastPathBatch {
			return p.applyPending(ctx)
		}
		return nil
	}
	if err == nil {
		err = p.buf.Add(ev.Item, streamkit.ReorderEvent[InputEvent]{Time: ev.EventTime, Seq: ev.Revision, Value: *ev})
	}
	var late *streamkit.LateEventError
	switch {
	case errors.As(err, &late):
		p.cfg.Metrics.Late.Add(1)
		return p.sendSide(ctx, p.cfg.LapsedActionTopic, p.lapsed(ev))
	case errors.Is(err, streamkit.ErrReorderBufferFull):
		// A full buffer means the watermark is stuck (an input that
		// neither delivers nor idles): not this record's fault, and
		// dead-lettering every record from now on would be worse than
		// stopping. The job restarts and, if it fills up again, fails.
		return streamkit.Transient(err)
	case err != nil:
		// An event time the buffer cannot order (out of range).
		return streamkit.Stage("reorder", err)
	}
	return nil
}

// fastPath reports whether ev may skip the re-order buffer
// (shouldBufferEvent in WDQS): an edit whose parent is the entity's current
// revision, or one the state already passed (a duplicate, ignored at once),
// when nothing of its entity is buffered or pending. Such an edit cannot be
// reordered by anything still to come, so holding it only adds latency.
func (p *Processor) fastPath(ev *InputEvent) bool {
	if ev.Action != ActionRevisionCreate || ev.ParentRevision == 0 {
		return false
	}
	if p.pendingItems[ev.Item] || p.sched.has(ev.Item) || p.buf.Buffered(ev.Item) > 0 {
		return false
	}
	st := p.State(ev.Item)
	return st.Known && !st.Deleted && (st.Revision == ev.ParentRevision || st.Revision >= ev.Revision)
}

// applyPending applies the fast-path edits taken so far.
func (p *Processor) applyPending(ctx context.Context) error {
	if len(p.pending) == 0 {
		return nil
	}
	if err := p.apply(ctx, p.pending); err != nil {
		return err
	}
	p.pending = p.pending[:0]
	clear(p.pendingItems)
	return nil
}

// Flush implements streamkit.Flusher: at a barrier, the fast-path edits
// taken since the last watermark are applied and every event in the
// scheduler is written, so the snapshot and the commit include them.
func (p *Processor) Flush(ctx context.Context) error {
	if err := p.applyPending(ctx); err != nil {
		return err
	}
	if err := p.sched.drain(ctx); err != nil {
		return streamkit.Transient(err)
	}
	return nil
}

// OnWatermark implements streamkit.WatermarkHandler: it submits the
// fast-path edits taken so far, then the events the watermark released, to
// the scheduler, and writes what has finished; the rest is written by the
// calls that follow, at the latest by the next barrier (Flush). An error (a
// send that failed, ctx done) fails the run; the job restarts from its
// commit point, buffer included.
func (p *Processor) OnWatermark(ctx context.Context, wm time.Time) error {
	if err := p.applyPending(ctx); err != nil {
		return err
	}
	var batch []InputEvent
	err := p.buf.OnWatermark(wm, func(_ string, ev streamkit.ReorderEvent[InputEvent]) error {
		batch = append(batch, ev.Value)
		return nil
	})
	if err != nil {
		return err
	}
	// A backfill can release a great many events at once: the
	// scheduler's window bounds the output held in memory.
	if err := p.apply(ctx, batch); err != nil {
		return err
	}
	if err := p.sched.pump(ctx); err != nil {
		return streamkit.Transient(err)
	}
	return nil
}

// apply submits events to the scheduler, in order. Its errors (a failed
// send, ctx done, an encoding bug) are not the events' fault: they are
// streamkit.Transient, so a reconcile event applied from Process is
// retried after a restart rather than dead-lettered.
func (p *Processor) apply(ctx context.Context, evs []InputEvent) error {
	for i := range evs {
		if err := p.sched.submit(ctx, evs[i]); err != nil {
			return streamkit.Transient(err)
		}
	}
	return nil
}

// loadState returns an entity's state and membership as checkpointed.
func (p *Processor) loadState(item string) (EntityState, SubgraphMembership) {
	return p.State(item), p.Membership(item)
}

// emit writes one event's output and moves its entity's state to where the
// event left it (the scheduler calls it in admission order, from the
// task's goroutine).
func (p *Processor) emit(ctx context.Context, item string, r *stepResult) error {
	for _, rec := range r.records {
		if err := p.out.Send(ctx, rec); err != nil {
			return fmt.Errorf("updater: send to %s: %w", rec.Topic, err)
		}
	}
	if v, ok := r.state.value(); ok {
		if old, had := p.state.Get(item); !had || old != v {
			p.state.Set(item, v)
		}
	} else if _, had := p.state.Get(item); had {
		p.state.Delete(item)
	}
	if p.subState != nil {
		old, had := p.subState.Get(item)
		switch {
		case r.sub.Known && (!had || old != int64(r.sub.Set)):
			p.subState.Set(item, int64(r.sub.Set))
		case !r.sub.Known && had:
			p.subState.Delete(item)
		}
	}
	return nil
}

// step applies one event from its entity's state st (and membership sub).
// Only a done ctx or an encoding bug is an error; everything about the
// data goes to a side output. It runs on a scheduler worker.
func (p *Processor) step(ctx context.Context, ev *InputEvent, st EntityState, sub SubgraphMembership) stepResult {
	out := stepResult{state: st, sub: sub}
	d := Decide(ev, st)
	if d.Inconsistency != "" {
		p.cfg.Metrics.Inconsistent.Add(1)
		if out.err = p.side(&out, p.cfg.StateInconsistencyTopic, p.inconsistency(ev, st, d.Inconsistency)); out.err != nil {
			return out
		}
	}
	if d.Op == "" {
		return out
	}
	msgs, next, err := p.operation(ctx, ev, d, sub)
	if err != nil {
		if ctx.Err() != nil {
			out.err = ctx.Err()
			return out
		}
		// The fix: the state does not advance past an operation the
		// store never received.
		p.cfg.Metrics.FetchFailures.Add(1)
		p.log.Warn("updater: operation failed, state kept", "entity", ev.Item, "op", d.Op,
			"revision", d.Revision, "state", st.Revision, "error", err)
		out.err = p.side(&out, p.cfg.FetchFailureTopic, p.fetchFailure(ev, d, err))
		return out
	}
	out.records = append(out.records, msgs...)
	out.state, out.sub = d.Next, next
	return out
}

// operation builds the rdf_change messages of a decision: it fetches and
// diffs what the operation needs, and, with the graph split, fans it out to
// the subgraphs from the entity's membership prev and returns the new one.
// An error is a *FetchError, an error chunking the patch, or ctx's error.
func (p *Processor) operation(ctx context.Context, ev *InputEvent, d Decision, prev SubgraphMembership) ([]streamkit.KafkaRecord, SubgraphMembership, error) {
	change := rdfdiff.EntityChange{
		EntityID: ev.Item, Revision: d.Revision, Operation: d.Op, EventTime: ev.EventTime,
		RequestID: ev.Original.Meta.RequestID, Domain: p.cfg.Filter.Hostname, Stream: p.cfg.OutputStream,
	}
	var old, cur []rdfdiff.Triple
	switch d.Op {
	case rdfdiff.OpImport, rdfdiff.OpReconcile:
		fetch := p.fetcher.Fetch
		if d.Op == rdfdiff.OpReconcile {
			// A reconcile re-reads what MediaWiki serves now (a revision
			// may have been suppressed since): never from the cache.
			fetch = p.fetcher.fetch
		}
		ts, err := fetch(ctx, ev.Item, d.Revision, ev.EventTime, true)
		if err != nil {
			return nil, prev, err
		}
		cur = ts
	case rdfdiff.OpDiff:
		// Both revisions concurrently, as WDQS does; only the new one gets
		// the 404 retry.
		var oldErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			old, oldErr = p.fetcher.Fetch(ctx, ev.Item, d.FromRevision, ev.EventTime, false)
		}()
		var err error
		cur, err = p.fetcher.Fetch(ctx, ev.Item, d.Revision, ev.EventTime, true)
		<-done
		if err != nil {
			return nil, prev, err
		}
		if oldErr != nil {
			return nil, prev, oldErr
		}
	}
	m := p.cfg.Metrics
	var recs []streamkit.KafkaRecord
	next := prev
	if p.fan != nil {
		changes, sub := p.fan.FanOut(change, old, cur, prev)
		for _, sc := range changes {
			rs, err := p.encode(sc.Change, p.cfg.subgraphTopics[sc.Subgraph])
			if err != nil {
				return nil, prev, err
			}
			recs = append(recs, rs...)
			m.Triples.Add(int64(sc.Change.Patch.Len()))
		}
		m.SubgraphChanges.Add(int64(len(changes)))
		next = sub
	} else {
		switch d.Op {
		case rdfdiff.OpImport:
			change.Patch = rdfdiff.Diff(nil, cur, p.shared)
		case rdfdiff.OpReconcile:
			// A reconcile carries the entity's own triples only
			// (PatchChunkOperation sends Patch.getAdded()).
			change.Patch = rdfdiff.Patch{Added: rdfdiff.Diff(nil, cur, p.shared).Added}
		case rdfdiff.OpDiff:
			change.Patch = rdfdiff.Diff(old, cur, p.shared)
		}
		var err error
		if recs, err = p.encode(change, p.cfg.OutputTopic); err != nil {
			return nil, prev, err
		}
		m.Triples.Add(int64(change.Patch.Len()))
	}
	switch d.Op {
	case rdfdiff.OpImport:
		m.Imports.Add(1)
	case rdfdiff.OpDiff:
		m.Diffs.Add(1)
	case rdfdiff.OpDelete:
		m.Deletes.Add(1)
	case rdfdiff.OpReconcile:
		m.Reconciles.Add(1)
	}
	m.Messages.Add(int64(len(recs)))
	return recs, next, nil
}

// encode chunks one change into the records of topic, in this task's
// output partition.
func (p *Processor) encode(change rdfdiff.EntityChange, topic string) ([]streamkit.KafkaRecord, error) {
	msgs, err := rdfdiff.ChunkChange(change, rdfdiff.WithSoftMaxChars(p.cfg.SoftMaxChars))
	if err != nil {
		return nil, fmt.Errorf("updater: chunk %s of %s@%d for %s: %w", change.Operation, change.EntityID, change.Revision, change.Stream, err)
	}
	recs := make([]streamkit.KafkaRecord, 0, len(msgs))
	for _, m := range msgs {
		b, err := m.AppendJSON(nil)
		if err != nil {
			return nil, fmt.Errorf("updater: encode %s of %s@%d for %s: %w", change.Operation, change.EntityID, change.Revision, change.Stream, err)
		}
		recs = append(recs, streamkit.KafkaRecord{
			Topic: topic, Partition: p.partition, FixedPartition: true,
			Key: []byte(change.EntityID), Value: b,
		})
	}
	return recs, nil
}

// side queues a side-output event in r (or logs it when its topic is off).
func (p *Processor) side(r *stepResult, topic string, e *SideOutputEvent) error {
	if topic == "" {
		p.log.Info("updater: side output off, event dropped", "stream", e.Meta.Stream, "entity", e.Item,
			"revision", e.RevisionID, "inconsistency", e.Inconsistency, "error", e.ExceptionMsg)
		return nil
	}
	b, err := e.marshal()
	if err != nil {
		return err
	}
	r.records = append(r.records, streamkit.KafkaRecord{Topic: topic, Key: []byte(e.Item), Value: b})
	return nil
}

// sendSide writes a side-output event at once.
func (p *Processor) sendSide(ctx context.Context, topic string, e *SideOutputEvent) error {
	var r stepResult
	if err := p.side(&r, topic, e); err != nil {
		return err
	}
	for _, rec := range r.records {
		if err := p.out.Send(ctx, rec); err != nil {
			return streamkit.Transient(fmt.Errorf("updater: send to %s: %w", rec.Topic, err))
		}
	}
	return nil
}
