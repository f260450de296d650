// Package streamkit runs updaters: long-running jobs that read change
// events from Kafka, work out what changed, and keep another system (a
// Kafka topic, a SPARQL triple store) exactly in step, from one small Go
// binary. Start with [ExampleNewJob]: a stateful job with exactly-once
// Kafka output, Swift checkpoints, dead letters, a sidecar and an upgrade
// through a savepoint.
//
// # Concepts
//
// A [Job] reads its [Input] topics as a member of a Kafka consumer group and
// splits the work into tasks. Task p owns partition p of every input topic
// (co-partitioned topics, such as one stream under "eqiad." and "codfw."),
// the keyed state of those partitions, and its own [Output]: the system
// that receives the task's output and holds its commit point. For each task
// it takes over, the job calls [Outputs] (the Output, and the handle the
// processor writes through) and then your constructor of the [Processor],
// which gets records one at a time, in offset order per partition, and
// keeps its state in checkpoint tables.
//
// The packages around this one:
//
//   - checkpoint: the checkpoint store (Swift, files, memory), keyed state
//     tables, incremental checkpoints, savepoints.
//   - source: the Kafka source (positions, hooks, watermarks); its kafkatest
//     package runs a Kafka cluster for tests.
//   - sink/sparql, sink/graph, sink/deadletter: the SPARQL store output, an
//     in-memory RDF graph output, dead-letter replay.
//   - rdfdiff: RDF parsing, munging, diffs and the rdf_change event codec.
//   - sidecar: the HTTP control plane beside a job (probes, metrics, status,
//     savepoint, stop, pause).
//   - jobtest: kill loops over child processes, for exactly-once tests of
//     your own jobs.
//
// This package holds the runner and the contract every output and
// processor shares: [Output], [Processor], [CommitPoint], [KafkaRecord],
// dead letters ([DeadLetter], [Failure]) and stage errors ([Stage],
// [Transient]). It does not import the sinks or rdfdiff: a Kafka-to-Kafka
// job compiles none of them.
//
// # Exactly once: one commit point per checkpoint
//
// Every checkpoint has exactly one atomic commit point, in the system that
// receives the job's output, and that commit records the source positions
// and the checkpoint ID N. Every checkpoint interval, per task:
//
//  1. Barrier: the task stops taking records; a [Flusher] puts what it
//     holds into the open output transaction.
//  2. Snapshot: the task's tables and next positions are written to the
//     checkpoint store under N and the namespace [TaskNamespace], the
//     manifest last, so a half-written checkpoint is never visible.
//  3. Commit point: one atomic write carries output, positions and N: a
//     Kafka transaction that also commits the consumer offsets
//     ([KafkaOutputs]), or one SPARQL update request that also writes the
//     position triples.
//  4. Restore: a task taken over first claims its output ([Output.Claim]:
//     fence the previous owner, abort what it left open), then reads the
//     commit point, loads snapshot N and seeks. Snapshots newer than N were
//     never committed.
//
// A crash anywhere leaves checkpoint N-1 or N, never a mix, and no output
// transaction outlives the process, so a long outage cannot lose data to a
// broker's transaction timeout. Each task's Kafka output has its own
// transactional ID, so a new owner fences a zombie (an instance that lost
// its partitions while paused).
//
// # Failures
//
// A record whose Process fails or panics goes to the dead-letter topic
// ([WithDeadLetterTopic]) with its bytes and provenance, in the same
// transaction as the task's other output, and the partition moves on. What
// the record changed before it failed is taken back ([RecordScoped],
// checkpoint.Rollbacker). Outputs and processors dead-letter other records
// (a change a store refused at commit) through [TaskInfo].DeadLetters,
// counted in [Stats] like the runner's own; an output that cannot hold
// Kafka records dead-letters through a [KafkaSender] ([OutputsSendingTo]).
// An error that is not the record's fault is
// wrapped with [Transient]: the job rewinds to its commit points and tries
// again. An outage of the checkpoint store, the output or the broker does
// the same, with a doubling backoff, for as long as it lasts (unless
// [WithMaxCheckpointFailures] sets a limit); [Stats] names the failing
// [Component] meanwhile.
//
// # Operating and scaling
//
// [Job.Stop] drains and commits; [Job.Savepoint] pins the committed
// checkpoint of every task under a name; [Job.StopWithSavepoint] does both
// at one barrier, and [WithRestoreFromSavepoint] starts the next build from
// it once. A job scales through its consumer group: more instances with
// the same name share the tasks. A single-partition topic has one task; to
// spread a stateful stage, re-key it into a topic of N partitions first
// ([NewRepartitionJob], [JSONFieldKey]). Event-time work uses
// [WatermarkHandler] and [ReorderBuffer].
package streamkit
