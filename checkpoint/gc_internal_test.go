package checkpoint

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForEachLimitedBoundsConcurrency(t *testing.T) {
	items := make([]int, 5*gcConcurrency)
	var running, peak, calls atomic.Int32
	err := forEachLimited(items, func(int) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond) // let the others start
		running.Add(-1)
		calls.Add(1)
		return nil
	})
	require.NoError(t, err)
	assert.EqualValues(t, len(items), calls.Load())
	assert.LessOrEqual(t, peak.Load(), int32(gcConcurrency))
	assert.Greater(t, peak.Load(), int32(1), "the calls ran one at a time")
}

func TestForEachLimitedStopsAfterAnError(t *testing.T) {
	boom := errors.New("boom")
	items := make([]int, 100*gcConcurrency)
	for i := range items {
		items[i] = i
	}
	var calls atomic.Int32
	err := forEachLimited(items, func(i int) error {
		calls.Add(1)
		if i == 0 {
			return boom
		}
		time.Sleep(time.Millisecond)
		return nil
	})
	require.ErrorIs(t, err, boom)
	// Calls already started finish; at most a few more start before the
	// failure is seen.
	assert.Less(t, calls.Load(), int32(len(items)/2))
}
