package updater

import (
	"container/heap"
	"context"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
)

// scheduler runs a task's events in a sliding window: events are admitted
// in order; each entity's events run one after the other (an event starts
// only once its entity's previous one finished, from the state that one
// left), different entities in parallel, at most workers at a time, the
// one whose next event came first starting first; and the results are
// emitted strictly in admission order, as soon as the oldest admitted event
// has finished. At most window events are admitted and not yet emitted
// (what bounds the memory held), so a slow event holds the output behind it
// but not the work: the workers keep running the events behind it until the
// window is full. Nothing waits at the end of a poll or a batch; only drain
// (at a barrier) waits for everything admitted.
//
// A scheduler is used from one goroutine (the task's); run is called from
// worker goroutines and must be safe for concurrent use.
type scheduler struct {
	window, workers int
	// load returns an entity's state when nothing of it is in the window.
	load func(item string) (EntityState, SubgraphMembership)
	// run applies one event from its entity's state: what it produced,
	// the state after it, or an error that fails the run.
	run func(ctx context.Context, ev *InputEvent, st EntityState, sub SubgraphMembership) stepResult
	// emit writes one event's output and moves its entity's state; an error
	// fails the run.
	emit func(ctx context.Context, item string, r *stepResult) error

	ctx    context.Context // the workers' context while the window is not empty
	cancel context.CancelFunc
	queue  []*slot // admitted, not emitted, in admission order
	items  map[string]*entityQueue
	ready  readyHeap // idle entities with an event to start
	done   chan *slot
	active int   // events running
	seq    int64 // admission counter
}

// stepResult is what one event produced.
type stepResult struct {
	records []streamkit.KafkaRecord
	state   EntityState
	sub     SubgraphMembership
	err     error
}

// slot is one admitted event.
type slot struct {
	seq      int64
	ev       InputEvent
	ent      *entityQueue
	res      stepResult
	finished bool
}

// entityQueue is one entity's events in the window.
type entityQueue struct {
	item string
	// state and sub are the state after the entity's last finished event.
	state     EntityState
	sub       SubgraphMembership
	waiting   []*slot // admitted, not started, in order
	busy      bool    // one of its events is running
	unemitted int     // admitted and not yet emitted
}

func newScheduler(window, workers int) *scheduler {
	return &scheduler{window: max(1, window), workers: max(1, workers), items: map[string]*entityQueue{},
		done: make(chan *slot, max(1, workers))}
}

// has reports whether an event of item is in the window.
func (s *scheduler) has(item string) bool { return s.items[item] != nil }

// Len is how many events are admitted and not yet emitted.
func (s *scheduler) Len() int { return len(s.queue) }

// submit admits ev, first waiting for room in the window (emitting what
// finished meanwhile), and emits whatever has finished at the head. An
// error (an event's or an emit's) is returned once every worker stopped;
// the window is then empty and nothing more of it is emitted.
func (s *scheduler) submit(ctx context.Context, ev InputEvent) error {
	for len(s.queue) >= s.window {
		if err := s.wait(ctx); err != nil {
			return err
		}
	}
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(ctx)
	}
	e := s.items[ev.Item]
	if e == nil {
		st, sub := s.load(ev.Item)
		e = &entityQueue{item: ev.Item, state: st, sub: sub}
		s.items[ev.Item] = e
	}
	sl := &slot{seq: s.seq, ev: ev, ent: e}
	s.seq++
	s.queue = append(s.queue, sl)
	e.waiting = append(e.waiting, sl)
	e.unemitted++
	if !e.busy && len(e.waiting) == 1 {
		heap.Push(&s.ready, e)
	}
	s.start()
	return s.pump(ctx)
}

// pump takes the results that have finished, without waiting, and emits
// the finished head of the window.
func (s *scheduler) pump(ctx context.Context) error {
	for {
		select {
		case sl := <-s.done:
			s.finish(sl)
		default:
			return s.emitHead(ctx)
		}
	}
}

// wait waits for one result (unless the head has finished already) and
// emits the finished head.
func (s *scheduler) wait(ctx context.Context) error {
	if len(s.queue) > 0 && !s.queue[0].finished {
		s.finish(<-s.done)
	}
	return s.pump(ctx)
}

// drain emits everything admitted, waiting for it.
func (s *scheduler) drain(ctx context.Context) error {
	for len(s.queue) > 0 {
		if err := s.wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// start starts the ready entities' next events, as many as workers allow.
func (s *scheduler) start() {
	for s.active < s.workers && s.ready.Len() > 0 {
		e := heap.Pop(&s.ready).(*entityQueue)
		sl := e.waiting[0]
		e.waiting[0] = nil
		e.waiting = e.waiting[1:]
		e.busy = true
		s.active++
		ctx, st, sub := s.ctx, e.state, e.sub
		go func() {
			sl.res = s.run(ctx, &sl.ev, st, sub)
			s.done <- sl
		}()
	}
}

// finish records a finished event: its entity may start its next one.
func (s *scheduler) finish(sl *slot) {
	s.active--
	sl.finished = true
	e := sl.ent
	e.busy = false
	if sl.res.err == nil {
		e.state, e.sub = sl.res.state, sl.res.sub
	}
	if len(e.waiting) > 0 {
		heap.Push(&s.ready, e)
	}
	s.start()
}

// emitHead emits the finished events at the head of the window, in order.
// The first error (the event's own or the emit's) fails the window.
func (s *scheduler) emitHead(ctx context.Context) error {
	n := 0
	defer func() {
		clear(s.queue[:n])
		s.queue = s.queue[n:]
		if len(s.queue) == 0 && s.cancel != nil {
			s.cancel()
			s.ctx, s.cancel = nil, nil
		}
	}()
	for n < len(s.queue) && s.queue[n].finished {
		sl := s.queue[n]
		err := sl.res.err
		if err == nil {
			err = s.emit(ctx, sl.ev.Item, &sl.res)
		}
		if err != nil {
			n = 0
			return s.fail(err)
		}
		n++
		e := sl.ent
		if e.unemitted--; e.unemitted == 0 {
			delete(s.items, e.item)
		}
	}
	return nil
}

// fail stops the window and returns err.
func (s *scheduler) fail(err error) error {
	s.stop()
	return err
}

// stop cancels the running events, waits for them and empties the window:
// what was admitted and not emitted is dropped.
func (s *scheduler) stop() {
	if s.cancel != nil {
		s.cancel()
		s.ctx, s.cancel = nil, nil
	}
	for s.active > 0 {
		<-s.done
		s.active--
	}
	clear(s.queue)
	s.queue = s.queue[:0]
	clear(s.items)
	s.ready = s.ready[:0]
}

// readyHeap orders idle entities by their next event's admission.
type readyHeap []*entityQueue

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].waiting[0].seq < h[j].waiting[0].seq }
func (h readyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)        { *h = append(*h, x.(*entityQueue)) }

func (h *readyHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
