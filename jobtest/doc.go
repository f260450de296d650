// Package jobtest drives kill tests: it runs a job as a child process,
// kills it with SIGKILL at random moments, restarts it, and keeps the
// child's output so that a job that dies on its own explains itself. Teams
// use it to prove their own streamkit jobs exactly-once, the way the
// module's kill tests prove the runner (see job_kill_test.go and the child
// program internal/killjob).
//
// # Why a child process
//
// Exactly-once is a claim about crashes: a Kafka transaction left open, a
// checkpoint written without its manifest, a commit point half way. Only a
// real process killed without warning — no deferred calls, no Close, no
// final flush, its TCP connections cut by the kernel — exercises all of
// them. Killing goroutines inside the test process cannot: they share the
// clients, the buffers and the memory of the survivor.
//
// # Pieces
//
// Start runs one command as a Child, capturing its stdout and stderr (a
// bounded tail, and optionally a copy to any writer). Child.Kill sends
// SIGKILL and reaps the process; Child.Stop sends SIGTERM and expects exit
// status 0 (a job's clean stop: drain, last checkpoint, commit);
// Child.WaitOutput waits for a line the child prints. Errors about a child
// are *ExitError values carrying its output tail.
//
// KillLoop repeats start → random uptime → SIGKILL a given number of
// times, then starts a final run and returns it running. A child that exits
// by itself before its kill fails the loop (ErrExited): a job under test
// must only stop when told. Several loops can run at once on instances of
// one job, so that partitions move between instances as they die.
//
// WatchNotReady samples a job's Stats in the background and returns, when
// stopped, the window in which the job reported failures and the
// components it named: what an outage test checks to show the job noticed
// the outage, said which dependency was down, and kept running.
//
// LogFile gives each child's full output a file of its own under the
// directory STREAMKIT_KILL_LOGS names, for the post-mortem of a failed run.
//
// # Writing a kill test
//
//  1. Run a broker the child can reach (kafkatest.Start with kafkatest.Ports
//     for a fixed loopback port) and keep producing input while the loop
//     runs, so that kills land during processing, snapshots and commits.
//  2. Build the job into a binary once (go build into t.TempDir()) and give
//     KillLoop a Command that starts it with a short checkpoint interval, so
//     that kills land in every phase, and settings that keep restarts quick:
//     a static group member ID per instance (sarama's
//     Consumer.Group.InstanceId; a restart then takes the dead member's
//     place at once), short session and rebalance timeouts, and a
//     transaction timeout of a few seconds (an instance killed between its
//     offset commit and EndTxn blocks the group's offset fetches until the
//     broker expires its transaction).
//  3. Stop producing, wait until the final run's output is complete, Stop it,
//     then check the read_committed output (kafkatest.Cluster.ReadCommitted)
//     and the last committed checkpoint against a reference computed from the
//     input alone: every output exactly once, and the final state equal.
//
// The package is for tests and tools; it uses os/exec and POSIX signals and
// does not run on Windows.
package jobtest
