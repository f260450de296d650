package sidecar

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStopJobPlainOrWithSavepoint(t *testing.T) {
	job := runningJob()
	res, err := newTestSidecar(t, job).StopJob(context.Background())
	require.NoError(t, err)
	assert.Nil(t, res)
	assert.Equal(t, []string{"stop"}, job.Calls())

	job = runningJob()
	sc := newTestSidecar(t, job, WithSavepointOnSignal(), WithSavepointTemplate("{job}-preStop-{time}"))
	res, err = sc.StopJob(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "counts-preStop-20260125T140000Z", res.Name)
	assert.Equal(t, []string{"stop-savepoint counts-preStop-20260125T140000Z"}, job.Calls())
}

func TestStopOnSignalChannel(t *testing.T) {
	job := runningJob()
	sc := newTestSidecar(t, job, WithSavepointOnSignal())
	ch := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.stopOn(ctx, ch) }()
	ch <- syscall.SIGTERM
	// As signal.NotifyContext would, the signal also ends ctx: the stop
	// must still complete. (Cancelling only once the stop began: before,
	// stopOn may rightly take the cancellation instead.)
	require.Eventually(t, func() bool { return len(job.Calls()) > 0 }, 30*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("stopOn did not return")
	}
	assert.Equal(t, []string{"stop-savepoint counts-20260125T140000Z"}, job.Calls())

	// A job already stopped (by a preStop hook over HTTP) is fine.
	ch <- syscall.SIGTERM
	require.NoError(t, sc.stopOn(context.Background(), ch))

	// Other failures are returned.
	job.err = errors.New("swift: 503")
	ch <- syscall.SIGTERM
	require.ErrorContains(t, sc.stopOn(context.Background(), ch), "swift: 503")

	// A context that ends first stops nothing.
	job2 := runningJob()
	sc2 := newTestSidecar(t, job2)
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	require.NoError(t, sc2.stopOn(ctx2, make(chan os.Signal)))
	assert.Empty(t, job2.Calls())
}

// TestStopOnRealSIGTERM sends this process SIGTERM. The test registers its
// own handler first, so the signal can never terminate the test binary,
// and resends until StopOnSignal (whose registration it cannot observe)
// has acted on one.
func TestStopOnRealSIGTERM(t *testing.T) {
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGTERM)
	defer signal.Stop(guard)

	job := runningJob()
	sc := newTestSidecar(t, job)
	done := make(chan error, 1)
	go func() { done <- sc.StopOnSignal(context.Background()) }()
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			require.NoError(t, err)
			return true
		default:
			require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
			return false
		}
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, []string{"stop"}, job.Calls())
}
