package jobtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
)

// The test binary doubles as the child: with JOBTEST_HELPER set it runs
// one of the behaviours below instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("JOBTEST_HELPER"); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

func helper(mode string) int {
	switch mode {
	case "serve": // a well-behaved job: runs until SIGTERM, then exits 0
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("ready")
		<-sigs
		fmt.Fprintln(os.Stderr, "stopped cleanly")
		return 0
	case "crash": // dies by itself
		fmt.Fprintln(os.Stderr, "panic: state table corrupt")
		return 3
	case "stubborn": // ignores SIGTERM
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
		return 0
	case "failstop": // stops with an error
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("ready")
		<-sigs
		fmt.Fprintln(os.Stderr, "stop: last checkpoint failed")
		return 1
	case "chatty": // more output than a small tail keeps, then a marker split over writes
		for i := range 2000 {
			fmt.Printf("line %d\n", i)
		}
		fmt.Print("mar")
		_ = os.Stdout.Sync()
		time.Sleep(50 * time.Millisecond)
		fmt.Println("ker")
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

func helperCmd(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "JOBTEST_HELPER="+mode)
	return cmd
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKillLoopKillsAndRestarts(t *testing.T) {
	ctx := testCtx(t)
	var runs []int
	var killed []int
	loop := &jobtest.KillLoop{
		Name:      "serve",
		Kills:     4,
		MinUptime: 10 * time.Millisecond,
		MaxUptime: 80 * time.Millisecond,
		// A downtime between a kill and the next start.
		MinDowntime: 5 * time.Millisecond,
		MaxDowntime: 30 * time.Millisecond,
		Seed:        42,
		Command: func(run int) *exec.Cmd {
			runs = append(runs, run)
			return helperCmd("serve")
		},
		OnKill: func(c *jobtest.Child) { killed = append(killed, c.Run()) },
	}
	final, rep, err := loop.Run(ctx)
	require.NoError(t, err)
	require.NotNil(t, final)
	t.Cleanup(func() { _ = final.Kill() })
	assert.Equal(t, []int{0, 1, 2, 3, 4}, runs)
	assert.Equal(t, []int{0, 1, 2, 3}, killed)
	assert.Equal(t, 4, rep.Kills)
	assert.Equal(t, 5, rep.Starts)
	assert.Equal(t, uint64(42), rep.Seed)
	require.Len(t, rep.Uptimes, 4)
	for _, u := range rep.Uptimes {
		assert.GreaterOrEqual(t, u, 10*time.Millisecond)
	}
	assert.Contains(t, rep.String(), "serve: 4 kills, 5 starts")
	assert.GreaterOrEqual(t, rep.Downtime, 4*5*time.Millisecond)
	assert.LessOrEqual(t, rep.Downtime, 4*30*time.Millisecond)

	assert.Equal(t, 4, final.Run())
	require.NoError(t, final.WaitOutput(ctx, "ready"))
	require.NoError(t, final.Stop(ctx))
	assert.Contains(t, final.Output(), "stopped cleanly")
	assert.NoError(t, final.Err())
}

func TestKillLoopReportsChildThatExits(t *testing.T) {
	ctx := testCtx(t)
	loop := &jobtest.KillLoop{Kills: 3, MinUptime: 2 * time.Second, MaxUptime: 2 * time.Second,
		Command: func(int) *exec.Cmd { return helperCmd("crash") }}
	final, rep, err := loop.Run(ctx)
	require.Error(t, err)
	assert.Nil(t, final)
	assert.ErrorIs(t, err, jobtest.ErrExited)
	var ee *jobtest.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 0, ee.Run)
	assert.Contains(t, ee.Output, "panic: state table corrupt")
	assert.Contains(t, err.Error(), "exit status 3")
	assert.Equal(t, 1, rep.Starts)
	assert.Equal(t, 0, rep.Kills)
}

func TestKillLoopInvalid(t *testing.T) {
	ctx := testCtx(t)
	for name, l := range map[string]*jobtest.KillLoop{
		"no command":     {Kills: 1},
		"negative kills": {Kills: -1, Command: func(int) *exec.Cmd { return helperCmd("serve") }},
		"uptimes":        {MinUptime: time.Second, MaxUptime: time.Millisecond, Command: func(int) *exec.Cmd { return helperCmd("serve") }},
		"downtimes":      {MinDowntime: time.Second, Command: func(int) *exec.Cmd { return helperCmd("serve") }},
	} {
		_, _, err := l.Run(ctx)
		assert.ErrorIs(t, err, jobtest.ErrInvalidLoop, name)
	}
}

func TestKillLoopContextCancelKillsChild(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	loop := &jobtest.KillLoop{Kills: 1, MinUptime: time.Hour, MaxUptime: time.Hour,
		Command: func(int) *exec.Cmd { return helperCmd("serve") }}
	loop.Output = writerFunc(func(p []byte) {
		if strings.Contains(string(p), "ready") {
			cancel()
		}
	})
	final, _, err := loop.Run(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, final)
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func TestChildStopFailures(t *testing.T) {
	ctx := testCtx(t)

	c, err := jobtest.Start(helperCmd("failstop"), jobtest.Options{Name: "failstop"})
	require.NoError(t, err)
	require.NoError(t, c.WaitOutput(ctx, "ready"))
	err = c.Stop(ctx)
	var ee *jobtest.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Contains(t, ee.Output, "last checkpoint failed")
	assert.Equal(t, "failstop", ee.Name)

	c, err = jobtest.Start(helperCmd("stubborn"), jobtest.Options{})
	require.NoError(t, err)
	require.NoError(t, c.WaitOutput(ctx, "ready"))
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = c.Stop(sctx)
	assert.ErrorIs(t, err, jobtest.ErrStopTimeout)
	assert.True(t, c.Exited(), "a child that ignores SIGTERM is killed")
}

func TestChildKillAfterExitAndWaitOutput(t *testing.T) {
	ctx := testCtx(t)
	c, err := jobtest.Start(helperCmd("crash"), jobtest.Options{Name: "crash"})
	require.NoError(t, err)
	err = c.WaitOutput(ctx, "never printed")
	require.ErrorIs(t, err, jobtest.ErrExited)
	<-c.Done()
	err = c.Kill()
	require.ErrorIs(t, err, jobtest.ErrExited)
	var xe *exec.ExitError
	require.True(t, errors.As(err, &xe), "the exit status is kept: %v", err)
	assert.Equal(t, 3, xe.ExitCode())
	assert.Error(t, c.Err())

	c, err = jobtest.Start(helperCmd("chatty"), jobtest.Options{OutputTail: 512})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Kill() })
	require.NoError(t, c.WaitOutput(ctx, "marker"), "a string split across writes is found")
	require.NoError(t, c.WaitOutput(ctx, "marker"), "and found again in the kept tail")
	out := c.Output()
	assert.LessOrEqual(t, len(out), 512+64)
	assert.True(t, strings.HasPrefix(out, "[… earlier output dropped …]"), out)
	assert.Contains(t, out, "line 1999")
	require.NoError(t, c.Kill())
	require.NoError(t, c.Kill(), "killing twice is harmless")
	assert.True(t, c.Exited())
}

func TestStartRejectsBadCommands(t *testing.T) {
	_, err := jobtest.Start(nil, jobtest.Options{})
	assert.Error(t, err)
	_, err = jobtest.Start(exec.Command("/nonexistent/killjob"), jobtest.Options{})
	assert.Error(t, err)
}
