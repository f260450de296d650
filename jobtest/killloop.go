package jobtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// Defaults of KillLoop.
const (
	// DefaultMinUptime and DefaultMaxUptime bound the random time a child
	// runs before it is killed when KillLoop leaves them zero.
	DefaultMinUptime = 200 * time.Millisecond
	DefaultMaxUptime = 2 * time.Second
)

// ErrInvalidLoop is matched by the error KillLoop.Run returns for a loop
// that cannot run (no command, a negative kill count, uptimes out of order).
var ErrInvalidLoop = errors.New("jobtest: invalid kill loop")

// KillLoop runs a command, kills it with SIGKILL after a random uptime,
// starts it again, and so on, Kills times; then it starts the command once
// more and hands that last run to the caller, who lets it finish its work
// and stops it (Child.Stop) before checking the results. The last child
// must be up before it is stopped: a job that receives SIGTERM before its
// signal handler is installed dies without a clean stop, so wait for a sign
// of life first (Child.WaitOutput on a line it prints once running, or its
// output or sidecar).
//
// It is the driver of a kill test: the job under test gets no warning and
// no chance to clean up, so every moment of its cycle — startup and
// restore, processing, snapshot, commit — is eventually hit, and the test
// then checks that the output and the state are what a run without kills
// would have produced. Several KillLoops may run at once on instances of
// one job, so that work moves between instances as they die and come back.
type KillLoop struct {
	// Name names the loop's children in errors and logs (default: the
	// command's base name).
	Name string
	// Command returns the command of run number run (0, 1, …, Kills).
	// Required. Each call must return a new, unstarted *exec.Cmd.
	Command func(run int) *exec.Cmd
	// Kills is how many times a child is killed. Zero just starts the one
	// final run.
	Kills int
	// MinUptime and MaxUptime bound the uniformly random time each child
	// runs, counted from its start, before it is killed (defaults
	// DefaultMinUptime and DefaultMaxUptime). Choose MaxUptime longer than
	// the job's startup, or the kills never land past it.
	MinUptime, MaxUptime time.Duration
	// MinDowntime and MaxDowntime bound the uniformly random time between
	// a kill and the next start (default: restart at once). A downtime
	// longer than the job's consumer-group session timeout lets the group
	// hand the dead instance's partitions to the others before it comes
	// back, which is how partitions move between instances of one job.
	MinDowntime, MaxDowntime time.Duration
	// Seed seeds the random uptimes; zero picks a random seed. The seed
	// used is in the Report, so that a failing sequence can be repeated.
	Seed uint64
	// Output, if set, receives every child's output as it is written (for
	// instance a log file). See Options.Output.
	Output io.Writer
	// OutputTail is how many bytes of output each child keeps for error
	// messages (default DefaultOutputTail).
	OutputTail int
	// OnKill, if set, is called after each kill, with the killed child, for
	// logging. It must not block.
	OnKill func(c *Child)
}

// Report says what a KillLoop did.
type Report struct {
	Name string
	// Seed is the seed of the random uptimes.
	Seed uint64
	// Starts counts started children (including the final run); Kills
	// counts SIGKILLs delivered.
	Starts, Kills int
	// Uptimes are the killed children's uptimes, in order.
	Uptimes []time.Duration
	// Downtime is the total time between kills and the next starts.
	Downtime time.Duration
	// Wall is how long Run took.
	Wall time.Duration
}

// String summarises the report in one line.
func (r *Report) String() string {
	var total time.Duration
	for _, u := range r.Uptimes {
		total += u
	}
	mean := time.Duration(0)
	if len(r.Uptimes) > 0 {
		mean = total / time.Duration(len(r.Uptimes))
	}
	return fmt.Sprintf("%s: %d kills, %d starts, mean uptime %v, wall %v, seed %d",
		r.Name, r.Kills, r.Starts, mean.Round(time.Millisecond), r.Wall.Round(time.Millisecond), r.Seed)
}

// Run runs the loop: Kills times start a child, wait a random uptime, check
// that it is still running, SIGKILL it, and wait a random downtime; then
// start the final run and return it, still running. A child that exits by
// itself before its kill ends the loop with an *ExitError (matching
// ErrExited) carrying its output. If ctx ends, the current child is killed and ctx's error
// returned. The report is returned in every case.
func (k *KillLoop) Run(ctx context.Context) (*Child, *Report, error) {
	start := time.Now()
	rep := &Report{Name: k.Name, Seed: k.Seed}
	defer func() { rep.Wall = time.Since(start) }()
	minUp, maxUp := k.MinUptime, k.MaxUptime
	if minUp == 0 && maxUp == 0 {
		minUp, maxUp = DefaultMinUptime, DefaultMaxUptime
	}
	switch {
	case k.Command == nil:
		return nil, rep, fmt.Errorf("%w: no Command", ErrInvalidLoop)
	case k.Kills < 0:
		return nil, rep, fmt.Errorf("%w: Kills %d", ErrInvalidLoop, k.Kills)
	case minUp < 0 || maxUp < minUp:
		return nil, rep, fmt.Errorf("%w: uptime %v..%v", ErrInvalidLoop, minUp, maxUp)
	case k.MinDowntime < 0 || k.MaxDowntime < k.MinDowntime:
		return nil, rep, fmt.Errorf("%w: downtime %v..%v", ErrInvalidLoop, k.MinDowntime, k.MaxDowntime)
	}
	if rep.Seed == 0 {
		rep.Seed = rand.Uint64() | 1
	}
	rnd := rand.New(rand.NewPCG(rep.Seed, rep.Seed>>1^0x9e3779b97f4a7c15))
	for run := 0; ; run++ {
		if err := ctx.Err(); err != nil {
			return nil, rep, err
		}
		cmd := k.Command(run)
		if cmd == nil {
			return nil, rep, fmt.Errorf("%w: Command(%d) returned nil", ErrInvalidLoop, run)
		}
		c, err := Start(cmd, Options{Name: k.Name, Run: run, OutputTail: k.OutputTail, Output: k.Output})
		if err != nil {
			return nil, rep, err
		}
		if rep.Name == "" {
			rep.Name = c.Name()
		}
		rep.Starts++
		if run == k.Kills {
			return c, rep, nil
		}
		up := minUp + time.Duration(rnd.Int64N(int64(maxUp-minUp)+1))
		timer := time.NewTimer(up)
		select {
		case <-timer.C:
		case <-c.Done():
			timer.Stop()
		case <-ctx.Done():
			timer.Stop()
			_ = c.Kill()
			return nil, rep, ctx.Err()
		}
		uptime := c.Uptime()
		if err := c.Kill(); err != nil {
			return nil, rep, err
		}
		rep.Kills++
		rep.Uptimes = append(rep.Uptimes, uptime)
		if k.OnKill != nil {
			k.OnKill(c)
		}
		if down := k.MinDowntime + time.Duration(rnd.Int64N(int64(k.MaxDowntime-k.MinDowntime)+1)); down > 0 {
			rep.Downtime += down
			timer := time.NewTimer(down)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return nil, rep, ctx.Err()
			}
		}
	}
}

// KillsEnv is the environment variable that overrides how many kills a kill
// test makes (KillsFromEnv): a soak run sets it high, CI leaves the default.
const KillsEnv = "STREAMKIT_KILLS"

// KillsFromEnv returns the number of kills a kill test should make: the
// value of KillsEnv when set, def otherwise. A value that is not a
// non-negative integer is an error that names the variable.
func KillsFromEnv(def int) (int, error) {
	s := os.Getenv(KillsEnv)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("jobtest: %s=%q: want a non-negative number of kills", KillsEnv, s)
	}
	return n, nil
}
