package streamkit

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

var (
	// ErrLateEvent is matched by the *LateEventError that
	// ReorderBuffer.Add returns for an event it can no longer put in order:
	// the caller routes it to its late side output (WDQS's lapsed-action
	// stream) instead of processing it.
	ErrLateEvent = errors.New("streamkit: late event")
	// ErrReorderBufferFull is matched by the error ReorderBuffer.Add returns
	// when the buffer already holds its maximum number of events
	// (WithReorderMaxBuffered). A full buffer means the watermark is not
	// advancing (an input stuck or idle detection too slow): failing loudly
	// bounds memory and checkpoint size instead of growing until the
	// process dies.
	ErrReorderBufferFull = errors.New("streamkit: reorder buffer full")
)

// ReorderEvent is one event held by a ReorderBuffer: its event time, the
// caller's tie-breaking sequence (a revision ID, an offset) and its value.
type ReorderEvent[V any] struct {
	Time  time.Time
	Seq   int64
	Value V
}

// LateEventError says why an event was refused as late. Key is the event's
// key (as any, since errors are not generic).
type LateEventError struct {
	Key  any
	Time time.Time
	Seq  int64
	// Watermark is the watermark the event was compared with (the last one
	// given to OnWatermark), and Delay the buffer's delay.
	Watermark time.Time
	Delay     time.Duration
	// Released reports that the key already released an event at or after
	// this one (LastTime, LastSeq), rather than the watermark rule.
	Released bool
	LastTime time.Time
	LastSeq  int64
}

// Error implements error.
func (e *LateEventError) Error() string {
	if e.Released {
		return fmt.Sprintf("streamkit: late event for key %v (time %s, seq %d): key already released time %s, seq %d",
			e.Key, e.Time.UTC().Format(time.RFC3339Nano), e.Seq, e.LastTime.UTC().Format(time.RFC3339Nano), e.LastSeq)
	}
	return fmt.Sprintf("streamkit: late event for key %v (time %s, seq %d): time + delay %s is before the watermark %s",
		e.Key, e.Time.UTC().Format(time.RFC3339Nano), e.Seq, e.Delay, e.Watermark.UTC().Format(time.RFC3339Nano))
}

// Unwrap returns ErrLateEvent.
func (e *LateEventError) Unwrap() error { return ErrLateEvent }

// ReorderOption configures a ReorderBuffer.
type ReorderOption func(*reorderConfig)

type reorderConfig struct {
	maxBuffered  int
	bySeq        bool
	lateByWM     bool
	tableVersion int
}

// DefaultReorderMaxBuffered is the default bound on the events a
// ReorderBuffer holds (all keys together).
const DefaultReorderMaxBuffered = 1_000_000

// WithReorderMaxBuffered bounds the number of events the buffer holds over
// all keys (default DefaultReorderMaxBuffered); Add fails with
// ErrReorderBufferFull beyond it.
func WithReorderMaxBuffered(n int) ReorderOption {
	return func(c *reorderConfig) { c.maxBuffered = n }
}

// WithReorderSequenceOrder orders each key's events by sequence first and
// event time second (instead of time, then sequence), and releases, when an
// event falls due, every event of its key sorted before it as well, due
// or not. That is the WDQS producer's rule: revisions of an
// entity are applied in revision order even when the clocks of the servers
// that stamped them disagree.
func WithReorderSequenceOrder() ReorderOption {
	return func(c *reorderConfig) { c.bySeq = true }
}

// WithReorderLateByWatermark replaces the per-key lateness rule by the WDQS
// one: an event is late when its time plus the delay is before the last
// watermark, whatever its key released. The buffer then keeps no per-key
// state after release (Last reports nothing), which saves a table entry per
// key when the caller keeps its own per-key state anyway (the WDQS updater's
// last revision) and wants an out-of-order event that is not late to reach its
// decision table rather than the late side output.
func WithReorderLateByWatermark() ReorderOption {
	return func(c *reorderConfig) { c.lateByWM = true }
}

// WithReorderTableVersion sets the schema version of the buffer's state
// tables (default 1): bump it when V's encoding changes incompatibly.
func WithReorderTableVersion(v int) ReorderOption {
	return func(c *reorderConfig) { c.tableVersion = v }
}

// reorderEntry is the stored form of a ReorderEvent: times as Unix
// nanoseconds so that a restore gives exactly the same order.
type reorderEntry[V any] struct {
	T int64 `msgpack:"t"`
	S int64 `msgpack:"s"`
	V V     `msgpack:"v"`
}

// reorderMark is the last event a key released.
type reorderMark struct {
	T int64 `msgpack:"t"`
	S int64 `msgpack:"s"`
}

// ReorderBuffer is a per-key event-time re-order buffer with timers, kept in
// checkpointed state: a processor Adds events as they arrive, in any order,
// and on every watermark (WatermarkHandler) the buffer releases, key by key
// and in order, the events whose time plus the delay the watermark has
// passed. Within a key the order is (event time, sequence), or (sequence,
// event time) with WithReorderSequenceOrder; across keys events come out by
// due time (time + delay), ties in arrival order.
//
// Why a primitive: every updater that keys change events by entity needs the
// WDQS producer's re-ordering (events of one entity arrive out of order from
// two data centers and several topics), and getting it exactly right across
// restarts is the hard part. The buffer's state is two checkpoint tables
// (Tables): the buffered events per key and, unless
// WithReorderLateByWatermark, the last released event per key; the timers
// are an in-memory heap rebuilt from the buffered events after a restore,
// so a restart releases exactly what an uninterrupted run would have.
//
// An event is late, and Add refuses it with a *LateEventError, when its key
// already released an event at or after it in the key's order: releasing it
// now would break the order. With WithReorderLateByWatermark the rule is
// instead WDQS's: time + delay before the last watermark. The watermark is
// not state (a restarted job computes it again from the records it reads,
// as Flink does), so until the first OnWatermark after a restore that rule
// lets every event in.
//
// V must round-trip through msgpack (exported fields, or msgpack tags). A
// ReorderBuffer is not safe for concurrent use: like a Table it is used by
// the task's processor between checkpoints and by the checkpointer at the
// barrier.
type ReorderBuffer[K comparable, V any] struct {
	name    string
	delay   time.Duration
	cfg     reorderConfig
	pending *reorderTable[K, []reorderEntry[V]]
	marks   *checkpoint.Table[K, reorderMark]

	// timers is a min-heap of due times, one item per buffered event (lazily
	// deleted: an item whose event was released early is skipped).
	timers reorderHeap[K]
	n      int   // buffered events
	tick   int64 // insertion counter, for a stable heap order
	wm     int64 // last watermark, Unix ns; minInt64 before the first
	// stale is set when the tables were restored or reset: the heap and
	// the count are rebuilt before the next use.
	stale bool
	// keepWatermark is set with stale by a rollback: the tables went back
	// to an earlier moment of this run, so the watermark still holds.
	keepWatermark bool
}

// NewReorderBuffer returns an empty buffer named name (its tables are
// "<name>.pending" and "<name>.released") that holds events for delay past
// their event time: the re-ordering window. It does no I/O.
func NewReorderBuffer[K comparable, V any](name string, delay time.Duration, opts ...ReorderOption) (*ReorderBuffer[K, V], error) {
	cfg := reorderConfig{maxBuffered: DefaultReorderMaxBuffered, tableVersion: 1}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case name == "":
		return nil, errors.New("streamkit: reorder buffer needs a name")
	case delay < 0:
		return nil, fmt.Errorf("streamkit: reorder buffer %q: negative delay %s", name, delay)
	case cfg.maxBuffered < 1:
		return nil, fmt.Errorf("streamkit: reorder buffer %q: max buffered %d must be at least 1", name, cfg.maxBuffered)
	case cfg.tableVersion < 1:
		return nil, fmt.Errorf("streamkit: reorder buffer %q: table version %d must be at least 1", name, cfg.tableVersion)
	}
	b := &ReorderBuffer[K, V]{name: name, delay: delay, cfg: cfg, wm: minInt64}
	b.pending = &reorderTable[K, []reorderEntry[V]]{Table: checkpoint.NewTable[K, []reorderEntry[V]](name+".pending", cfg.tableVersion), stale: &b.stale, keepWatermark: &b.keepWatermark}
	if !cfg.lateByWM {
		b.marks = checkpoint.NewTable[K, reorderMark](name+".released", cfg.tableVersion)
	}
	return b, nil
}

const minInt64 = -1 << 63

// The event times a buffer accepts: those whose Unix nanoseconds fit an
// int64 (the zero time, "unknown", does not).
var (
	minReorderTime = time.Unix(0, minInt64+1)
	maxReorderTime = time.Unix(0, 1<<63-1)
)

// Tables returns the buffer's state tables, for the processor's Tables.
func (b *ReorderBuffer[K, V]) Tables() []checkpoint.StateTable {
	if b.marks == nil {
		return []checkpoint.StateTable{b.pending}
	}
	return []checkpoint.StateTable{b.pending, b.marks}
}

// Delay returns the re-ordering window.
func (b *ReorderBuffer[K, V]) Delay() time.Duration { return b.delay }

// Len returns the number of buffered events over all keys.
func (b *ReorderBuffer[K, V]) Len() int {
	b.rebuild()
	return b.n
}

// Buffered returns the number of events buffered for key.
func (b *ReorderBuffer[K, V]) Buffered(key K) int {
	es, _ := b.pending.Get(key)
	return len(es)
}

// Last returns the time and sequence of the last event key released, and
// false when it released none (or the buffer was built with
// WithReorderLateByWatermark, which keeps no such state).
func (b *ReorderBuffer[K, V]) Last(key K) (time.Time, int64, bool) {
	if b.marks == nil {
		return time.Time{}, 0, false
	}
	m, ok := b.marks.Get(key)
	if !ok {
		return time.Time{}, 0, false
	}
	return time.Unix(0, m.T).UTC(), m.S, true
}

// Forget drops what the buffer remembers of key after release (the last
// released event), for instance when the key's entity was deleted for good:
// an event of key is then never late by the per-key rule.
func (b *ReorderBuffer[K, V]) Forget(key K) {
	if b.marks != nil {
		b.marks.Delete(key)
	}
}

// compare orders the events of one key (as cmp.Compare does).
func (b *ReorderBuffer[K, V]) compare(t1, s1, t2, s2 int64) int {
	if b.cfg.bySeq {
		return cmp.Or(cmp.Compare(s1, s2), cmp.Compare(t1, t2))
	}
	return cmp.Or(cmp.Compare(t1, t2), cmp.Compare(s1, s2))
}

// Add buffers ev under key. It fails, leaving the buffer unchanged, with
// a *LateEventError (ErrLateEvent) for a late event, or with an error
// matching ErrReorderBufferFull when the buffer is full. An event equal in
// time and sequence to a buffered one of its key is buffered too (both are
// released, in arrival order).
func (b *ReorderBuffer[K, V]) Add(key K, ev ReorderEvent[V]) error {
	if err := b.CheckLate(key, ev.Time, ev.Seq); err != nil {
		return err
	}
	t := ev.Time.UnixNano()
	if b.n >= b.cfg.maxBuffered {
		return fmt.Errorf("%w: %q holds %d events (the maximum); the watermark is %s: is an input stuck?",
			ErrReorderBufferFull, b.name, b.n, b.watermark().Format(time.RFC3339Nano))
	}
	es, _ := b.pending.Get(key)
	e := reorderEntry[V]{T: t, S: ev.Seq, V: ev.Value}
	// Insert after every entry not greater (stable for equal entries).
	i := len(es)
	for i > 0 && b.compare(es[i-1].T, es[i-1].S, t, ev.Seq) > 0 {
		i--
	}
	es = slices.Insert(es, i, e)
	b.pending.Set(key, es)
	b.n++
	b.push(key, t)
	return nil
}

// CheckLate returns the *LateEventError Add would return for an event of key
// at time t with sequence seq, or an error for a time out of range, or nil,
// without buffering anything: for a caller that lets some events bypass the
// buffer (the WDQS producer applies an in-order edit at once when nothing of
// its entity is buffered) but must still route late ones to its side output.
func (b *ReorderBuffer[K, V]) CheckLate(key K, t time.Time, seq int64) error {
	b.rebuild()
	if t.Before(minReorderTime) || t.After(maxReorderTime) {
		return fmt.Errorf("streamkit: reorder buffer %q: event time %s of key %v is out of range (years 1678 to 2261)",
			b.name, t.UTC().Format(time.RFC3339Nano), key)
	}
	if b.cfg.lateByWM {
		if b.wm != minInt64 && t.Add(b.delay).UnixNano() < b.wm {
			return &LateEventError{Key: key, Time: t, Seq: seq, Watermark: time.Unix(0, b.wm).UTC(), Delay: b.delay}
		}
	} else if m, ok := b.marks.Get(key); ok && b.compare(t.UnixNano(), seq, m.T, m.S) <= 0 {
		return &LateEventError{Key: key, Time: t, Seq: seq, Watermark: b.watermark(), Delay: b.delay,
			Released: true, LastTime: time.Unix(0, m.T).UTC(), LastSeq: m.S}
	}
	return nil
}

func (b *ReorderBuffer[K, V]) watermark() time.Time {
	if b.wm == minInt64 {
		return time.Time{}
	}
	return time.Unix(0, b.wm).UTC()
}

func (b *ReorderBuffer[K, V]) push(key K, t int64) {
	due := t + int64(b.delay)
	if due < t { // overflow
		due = 1<<63 - 1
	}
	b.tick++
	b.timers.push(reorderTimer[K]{due: due, tick: b.tick, key: key})
}

// OnWatermark releases every event due at wm — time + delay ≤ wm — through
// release, by due time, each key's events in the key's order (with
// WithReorderSequenceOrder, also the events of the key sorted before a due
// one). An event leaves the buffer only once release returned nil for it;
// if release fails, OnWatermark returns its error at once and that event and
// the rest stay buffered. A watermark older than the last one is ignored.
func (b *ReorderBuffer[K, V]) OnWatermark(wm time.Time, release func(key K, ev ReorderEvent[V]) error) error {
	b.rebuild()
	w := wm.UnixNano()
	if w < b.wm {
		return nil
	}
	b.wm = w
	for len(b.timers) > 0 && b.timers[0].due <= w {
		key, limit := b.timers[0].key, b.timers[0].due
		b.timers.pop()
		es, ok := b.pending.Get(key)
		if !ok {
			continue // released before its own timer fired
		}
		last := -1
		for i, e := range es {
			due := e.T + int64(b.delay)
			if due < e.T {
				due = 1<<63 - 1
			}
			if due <= limit {
				last = i
			} else if !b.cfg.bySeq {
				break
			}
		}
		if last < 0 {
			continue
		}
		for i := 0; i <= last; i++ {
			e := es[i]
			if err := release(key, ReorderEvent[V]{Time: time.Unix(0, e.T).UTC(), Seq: e.S, Value: e.V}); err != nil {
				b.setRemaining(key, slices.Delete(es, 0, i))
				// The timer of this key's first remaining event may have
				// been popped already: re-arm it.
				b.push(key, es[i].T)
				return err
			}
			b.n--
			if b.marks != nil {
				b.marks.Set(key, reorderMark{T: e.T, S: e.S})
			}
		}
		b.setRemaining(key, slices.Delete(es, 0, last+1))
	}
	return nil
}

func (b *ReorderBuffer[K, V]) setRemaining(key K, rest []reorderEntry[V]) {
	if len(rest) == 0 {
		b.pending.Delete(key)
		return
	}
	b.pending.Set(key, rest)
}

// rebuild recomputes the count and the timers from the pending table after
// a restore or a reset.
func (b *ReorderBuffer[K, V]) rebuild() {
	if !b.stale {
		return
	}
	b.stale = false
	b.n = 0
	b.timers = b.timers[:0]
	b.pending.Range(func(k K, es []reorderEntry[V]) bool {
		b.n += len(es)
		for _, e := range es {
			b.push(k, e.T)
		}
		return true
	})
	// The watermark is not state: the job hands the restored task a fresh
	// one, and events past it are released at once.
	if !b.keepWatermark {
		b.wm = minInt64
	}
	b.keepWatermark = false
}

// reorderTable is the pending table: a checkpoint.Table that tells its
// buffer when a restore or reset replaced its contents.
type reorderTable[K comparable, V any] struct {
	*checkpoint.Table[K, V]
	stale         *bool
	keepWatermark *bool
}

// DecodeFrom implements checkpoint.StateTable.
func (t *reorderTable[K, V]) DecodeFrom(d *checkpoint.Decoder) int64 {
	*t.stale, *t.keepWatermark = true, false
	return t.Table.DecodeFrom(d)
}

// Rollback implements checkpoint.Rollbacker: the count and the timers are
// rebuilt from the rolled-back table.
func (t *reorderTable[K, V]) Rollback() {
	*t.stale, *t.keepWatermark = true, true
	t.Table.Rollback()
}

// Reset implements checkpoint.StateTable.
func (t *reorderTable[K, V]) Reset() {
	*t.stale, *t.keepWatermark = true, false
	t.Table.Reset()
}

type reorderTimer[K comparable] struct {
	due, tick int64
	key       K
}

// reorderHeap is a binary min-heap of timers by (due, tick), without
// container/heap's boxing of every element.
type reorderHeap[K comparable] []reorderTimer[K]

func (h reorderHeap[K]) less(i, j int) bool {
	return h[i].due < h[j].due || h[i].due == h[j].due && h[i].tick < h[j].tick
}

func (h *reorderHeap[K]) push(t reorderTimer[K]) {
	*h = append(*h, t)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *reorderHeap[K]) pop() {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	s[n] = reorderTimer[K]{}
	s = s[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
}
