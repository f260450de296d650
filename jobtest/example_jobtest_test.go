package jobtest_test

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
)

// A kill test's driver: kill the job three times at random moments, then
// let the last run finish and stop it cleanly. Here the "job" is this test
// binary in a mode that runs until SIGTERM; a real test starts its job's
// binary with the broker address and a checkpoint directory, keeps
// producing input meanwhile, and checks output and state at the end.
func ExampleKillLoop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	loop := &jobtest.KillLoop{
		Name:      "job",
		Command:   func(run int) *exec.Cmd { return helperCmd("serve") },
		Kills:     3,
		MinUptime: 20 * time.Millisecond,
		MaxUptime: 100 * time.Millisecond,
	}
	final, rep, err := loop.Run(ctx)
	if err != nil {
		fmt.Println(err) // an *ExitError with the child's output if it died by itself
		return
	}
	fmt.Println("kills:", rep.Kills, "starts:", rep.Starts)

	// ... wait until the job has caught up, then:
	if err := final.WaitOutput(ctx, "ready"); err != nil {
		fmt.Println(err)
		return
	}
	if err := final.Stop(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("final run stopped cleanly")
	// Output:
	// kills: 3 starts: 4
	// final run stopped cleanly
}
