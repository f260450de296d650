package updater

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSched is a scheduler over fake work: an event's "revision" is
// applied to its entity's state, and every run checks it starts from the
// state the entity's previous event left.
type fakeSched struct {
	*scheduler
	mu       sync.Mutex
	table    map[string]int64 // the "checkpointed" state: moved by emit
	emitted  []int64          // revisions in emit order
	running  map[string]int   // runs in progress per entity
	overlap  []string         // entities that ran two events at once
	badState []string         // runs that did not start from the previous event's state
	prev     map[string]int64 // each entity's last revision run
	active   atomic.Int32
	peak     atomic.Int32
	hook     func(ctx context.Context, ev *InputEvent) error // per-run behaviour (blocking, failing)
	emitErr  func(rev int64) error
}

func newFakeSched(window, workers int) *fakeSched {
	f := &fakeSched{scheduler: newScheduler(window, workers), table: map[string]int64{},
		running: map[string]int{}, prev: map[string]int64{}}
	f.load = func(item string) (EntityState, SubgraphMembership) {
		f.mu.Lock()
		defer f.mu.Unlock()
		v, ok := f.table[item]
		return stateOf(v, ok), SubgraphMembership{}
	}
	f.run = func(ctx context.Context, ev *InputEvent, st EntityState, sub SubgraphMembership) stepResult {
		n := f.active.Add(1)
		for {
			p := f.peak.Load()
			if n <= p || f.peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer f.active.Add(-1)
		f.mu.Lock()
		f.running[ev.Item]++
		if f.running[ev.Item] > 1 {
			f.overlap = append(f.overlap, ev.Item)
		}
		if st.Revision != f.prev[ev.Item] {
			f.badState = append(f.badState, fmt.Sprintf("%s@%d from %d, previous %d", ev.Item, ev.Revision, st.Revision, f.prev[ev.Item]))
		}
		f.prev[ev.Item] = ev.Revision
		f.mu.Unlock()
		var err error
		if f.hook != nil {
			err = f.hook(ctx, ev)
		}
		runtime.Gosched()
		f.mu.Lock()
		f.running[ev.Item]--
		f.mu.Unlock()
		if err != nil {
			return stepResult{state: st, err: err}
		}
		return stepResult{state: created(ev.Revision)}
	}
	f.emit = func(_ context.Context, item string, r *stepResult) error {
		if f.emitErr != nil {
			if err := f.emitErr(r.state.Revision); err != nil {
				return err
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.table[item] = r.state.Revision
		f.emitted = append(f.emitted, r.state.Revision)
		return nil
	}
	return f
}

func schedEvent(item string, rev int64) InputEvent {
	return InputEvent{Item: item, Revision: rev, Action: ActionRevisionCreate}
}

// TestSchedulerOrder: whatever the interleaving, each entity's events run
// one at a time, each from the state its previous event left (across
// drains too, through the table), at most workers at once, the window is
// never exceeded, and the output comes out in submission order.
func TestSchedulerOrder(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	f := newFakeSched(16, 4)
	var want []int64
	for round := range 5 {
		for i := range 300 {
			rev := int64(round*1000 + i + 1)
			require.NoError(t, f.submit(ctx, schedEvent(fmt.Sprintf("Q%d", rng.IntN(7)), rev)))
			want = append(want, rev)
			assert.LessOrEqual(t, f.Len(), 16, "window")
		}
		require.NoError(t, f.drain(ctx))
		assert.Zero(t, f.Len())
		assert.Empty(t, f.items, "no entity left in the window")
	}
	assert.Equal(t, want, f.emitted, "submission order")
	assert.Empty(t, f.overlap, "two events of an entity at once")
	assert.Empty(t, f.badState)
	assert.LessOrEqual(t, f.peak.Load(), int32(4), "workers")
	assert.Greater(t, f.peak.Load(), int32(1), "entities in parallel")
}

// TestSchedulerRunsPastASlowHead: while the oldest event is stuck, the
// events behind it (other entities) all run, up to the window, and none is
// written before it; then everything is written in order. (Applying in
// fixed slices would wait for the slow one before starting the next slice.)
func TestSchedulerRunsPastASlowHead(t *testing.T) {
	ctx := context.Background()
	f := newFakeSched(8, 3)
	release := make(chan struct{})
	ran := make(chan int64, 16)
	f.hook = func(_ context.Context, ev *InputEvent) error {
		if ev.Revision == 1 {
			<-release
			return nil
		}
		ran <- ev.Revision
		return nil
	}
	for rev := int64(1); rev <= 8; rev++ {
		require.NoError(t, f.submit(ctx, schedEvent(fmt.Sprintf("Q%d", rev), rev)))
	}
	// Each of the 7 others runs while 1 is stuck, on the 2 workers 1 leaves
	// (the task's goroutine takes their results as it pumps).
	got := map[int64]bool{}
	for len(got) < 7 {
		select {
		case rev := <-ran:
			got[rev] = true
		default:
			require.NoError(t, f.pump(ctx))
			runtime.Gosched()
		}
	}
	require.NoError(t, f.pump(ctx))
	f.mu.Lock()
	assert.Empty(t, f.emitted, "nothing is written before the head")
	f.mu.Unlock()
	close(release)
	require.NoError(t, f.drain(ctx))
	assert.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7, 8}, f.emitted)
}

// TestSchedulerEventError: an event's error fails the window once the
// workers stopped; the events before it are written, none from it on, and
// the scheduler is empty and usable again.
func TestSchedulerEventError(t *testing.T) {
	ctx := context.Background()
	f := newFakeSched(64, 4)
	boom := errors.New("boom")
	f.hook = func(_ context.Context, ev *InputEvent) error {
		if ev.Revision == 20 {
			return boom
		}
		return nil
	}
	var err error
	for rev := int64(1); rev <= 40 && err == nil; rev++ {
		err = f.submit(ctx, schedEvent(fmt.Sprintf("Q%d", rev%5), rev))
	}
	if err == nil {
		err = f.drain(ctx)
	}
	require.ErrorIs(t, err, boom)
	assert.Zero(t, f.active.Load(), "no worker left running")
	assert.Zero(t, f.scheduler.active)
	assert.Zero(t, f.Len())
	assert.Empty(t, f.items)
	f.mu.Lock()
	emitted := append([]int64(nil), f.emitted...)
	f.mu.Unlock()
	want := make([]int64, 19)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, emitted, "the events before the failed one, in order, and none after")
	// Usable again, from the table's states.
	f.hook = nil
	require.NoError(t, f.submit(ctx, schedEvent("Q0", 100)))
	require.NoError(t, f.drain(ctx))
	assert.Equal(t, int64(100), f.emitted[len(f.emitted)-1])
}

// TestSchedulerEmitError: a failed write stops the output there.
func TestSchedulerEmitError(t *testing.T) {
	ctx := context.Background()
	f := newFakeSched(64, 4)
	f.emitErr = func(rev int64) error {
		if rev == 7 {
			return errors.New("send failed")
		}
		return nil
	}
	var err error
	for rev := int64(1); rev <= 20 && err == nil; rev++ {
		err = f.submit(ctx, schedEvent(fmt.Sprintf("Q%d", rev%3), rev))
	}
	if err == nil {
		err = f.drain(ctx)
	}
	require.ErrorContains(t, err, "send failed")
	assert.Equal(t, []int64{1, 2, 3, 4, 5, 6}, f.emitted)
	assert.Zero(t, f.active.Load())
	assert.Zero(t, f.Len())
}

// TestSchedulerStop: stop (the Processor's Close after a failed run)
// cancels the running events, waits for them and drops the window, so no
// worker outlives the task; the scheduler is usable again afterwards.
func TestSchedulerStop(t *testing.T) {
	ctx := context.Background()
	f := newFakeSched(8, 2)
	started := make(chan struct{}, 8)
	f.hook = func(ctx context.Context, _ *InputEvent) error {
		started <- struct{}{}
		<-ctx.Done() // a fetch that only the cancel ends
		return ctx.Err()
	}
	for i := range 5 {
		require.NoError(t, f.submit(ctx, schedEvent(fmt.Sprintf("Q%d", i), int64(i+1))))
	}
	<-started
	<-started
	f.stop()
	assert.Zero(t, f.active.Load(), "events still running after stop")
	assert.Zero(t, f.Len())
	assert.Empty(t, f.items)
	assert.Empty(t, f.emitted, "nothing of a stopped window is written")

	f.hook = nil
	require.NoError(t, f.submit(ctx, schedEvent("Q9", 10)))
	require.NoError(t, f.drain(ctx))
	assert.Equal(t, []int64{10}, f.emitted)
}
