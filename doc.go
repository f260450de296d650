// Package streamkit is a set of stream-processing primitives for building
// updaters: long-running jobs that read change events from Kafka, work out
// what changed, and keep another system (a Kafka topic, a SPARQL triple
// store) exactly in step with them, from one small Go binary.
//
// # Concepts
//
// A job reads records from a source, hands each one to a handler, and sends
// what the handler emits to one or more sinks:
//
//	source (Kafka) ──▶ handler (your code, keyed state) ──▶ sinks (Kafka, SPARQL store, dead letters)
//	                              │
//	                              ▼
//	                     checkpoint store (Swift, filesystem, memory)
//
// The packages divide that picture:
//
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff]: RDF terms,
//     Turtle and N-Triples parsing and writing, WDQS munging and
//     skolemization, the four-bucket entity diff, patch accumulation, and the
//     rdf_change event codec with chunking. Pure computation: no I/O.
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint]: where
//     snapshots of keyed state and source positions live (Swift, filesystem,
//     memory), with incremental deltas, savepoints and garbage collection.
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/source]: the Kafka
//     source, with partition assignment, positions, hand-off hooks and
//     event-time watermarks; source/kafkatest runs an in-process Kafka
//     cluster for tests.
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/sink]: the
//     transactional Kafka sink, the dead-letter sink, an in-memory RDF graph,
//     and the SPARQL client and update builder for triple stores.
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/sidecar]: the
//     HTTP control plane beside a running job: probes, Prometheus metrics,
//     status, savepoint/stop/pause/resume, SIGTERM stop and the edit-latency
//     SLO.
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest]: a
//     child-process runner and kill loop, for exactly-once tests of your
//     own jobs.
//
// This package holds the Job runner that wires them together.
//
// # Exactly once: one commit point per checkpoint
//
// Every checkpoint has exactly one atomic commit point, in the system that
// receives the job's output, and that commit records the source positions
// and the checkpoint ID N. A checkpoint goes through four steps:
//
//  1. Barrier: the job stops taking records and lets in-flight work finish
//     into the open output transaction.
//  2. Snapshot: keyed state and the next source positions are written to the
//     checkpoint store as immutable objects under N, the manifest last, so a
//     half-written checkpoint is never visible.
//  3. Commit point: one atomic write carries output, positions and N: a Kafka
//     transaction that also commits the consumer offsets, or one SPARQL update
//     request that also writes the position triples.
//  4. Restore: on start, read the positions and N back from the commit point,
//     load snapshot N and seek. Snapshots newer than N were never committed.
//
// A crash anywhere therefore leaves either checkpoint N-1 or N, never a mix,
// and no output transaction stays open across a restart.
//
// # The Job runner
//
// A [Job] consumes its [Input] topics as a member of a consumer group and
// splits the work into tasks. Task p owns partition p of every input topic
// (the topics are co-partitioned, like the same stream under "eqiad." and
// "codfw." prefixes; the range assignor, which the job enforces, keeps them
// together), the keyed state of those partitions, and its own [Output]: the
// system that receives the task's output and holds its commit point. For
// each task it takes over the job calls the constructors given to [NewJob]:
// one makes the Output ([KafkaOutputs] for Kafka, sparql.SPARQL for a triple
// store, graph.GraphOutput in memory), the other the [Processor] (your code)
// bound to it. Records of a task are handed to its Processor one at a time,
// in offset order per partition.
//
// Every checkpoint interval the job runs the protocol above per task, the
// tasks in parallel: barrier ([Flusher]), snapshot of the task's tables into
// the checkpoint store under the namespace "<job>.task-<p>" (see package
// checkpoint), then [Output.Commit] with the task's positions and checkpoint
// ID. When a task is taken over — at start, or after a rebalance — the job
// first claims its output ([Output.Claim]: fence the previous owner and
// abort what it left open), then reads its commit point, restores the
// snapshot it names and seeks to its positions. A task being revoked is
// checkpointed and committed before its partitions are released. Any failure
// (a snapshot or commit that fails, a fenced producer, a broken connection)
// aborts every open output, drops the tasks, and starts again from the
// commit points after a backoff; WithMaxCheckpointFailures bounds how many
// times in a row before Run gives up.
//
// Fencing. Each task's Kafka output has its own transactional ID,
// "<job>.task-<p>", the same on every instance. Whoever takes a task over
// initialises a producer with it before reading the commit point, which
// bumps the ID's epoch: the previous owner — a zombie that lost its
// partitions during a long pause — can no longer commit anything, and its
// open transaction is aborted. (KIP-447's alternative, one producer per
// instance fenced by the group generation, needs the generation in the
// transactional offset commit, which sarama does not send.) The per-task
// checkpoint namespaces make state hand-off safe too: a zombie's snapshot
// either collides with the new owner's checkpoint ID or is never named by a
// commit point.
//
// Operating a job. [Job.Stop] drains and commits; [Job.Savepoint] pins the
// committed checkpoint of every task under a name and keeps running;
// [Job.StopWithSavepoint] does both at one barrier. A job started with
// [WithRestoreFromSavepoint] restores each task from the savepoint once, and
// from its commit point ever after (a marker object records that the
// savepoint was used, so a restarted or second instance does not rewind
// again). Starting from a savepoint or a commit point checks the state's
// table schemas first and fails with a checkpoint.IncompatibleError naming
// every mismatch.
//
// Scaling out. A job scales through its Kafka consumer group; there is no
// cluster to run. Start more instances with the same job name and group
// (and the same checkpoint store: a task restores from wherever it was last
// committed) to share the tasks; the range assignor moves whole tasks, and
// instances beyond the number of partitions sit idle. The MediaWiki topics
// have one partition per data center, so a job reading them has one task. To
// scale a stateful stage, split the pipeline in two: a stateless
// [NewRepartitionJob] reads "eqiad." and "codfw." and re-keys by entity
// (for example [JSONFieldKey]("page", "page_title")) into an intermediate
// topic created with N partitions, exactly once; the stateful job reads that
// topic on up to N instances. Choose N for the largest parallelism you
// expect: changing it later moves keys between partitions and the keyed
// state has to be rebuilt. Order per entity is kept (one source partition
// goes to one key partition, which goes to one task). Every rebalance
// reloads the moved tasks' state from the checkpoint store (rebalancing is
// eager).
//
// Re-keying. A [Repartitioner] is a ready-made, stateless Processor that
// writes each record to an intermediate topic under a new key (a [KeyFunc]).
// Value, headers and timestamp stay as they were, and three origin headers
// ([HeaderOriginTopic], [HeaderOriginPartition], [HeaderOriginOffset])
// record where the record was first read, so a stateful stage downstream
// gets the real provenance back with [OriginOf] and its dead letters carry
// it. A record whose key cannot be computed is dead-lettered in stage
// [StageRepartitionKey].
//
// Event time. A Processor that also implements [WatermarkHandler] is told
// when the source's event-time watermark advances; [ReorderBuffer] builds a
// per-key event-time re-order buffer with timers on it, in checkpointed
// state.
//
// # Bad input
//
// A record whose Process fails (a decode error, a rejection, even a panic)
// goes to the dead-letter topic given by [WithDeadLetterTopic], through the
// task's output, in the same transaction as the task's other output: a
// record is either processed or dead-lettered, never lost and never both.
// The dead letter keeps the record's bytes and adds its provenance (topic,
// partition, offset, timestamp, key), the failing stage ([Stage]), the error
// class and message, and the job (see DeadLetter). The partition keeps
// flowing. Without a dead-letter topic a failed record stops the job with a
// [*ProcessError] naming it, rather than lose it. An output that cannot send
// Kafka records (a SPARQL store) gets a dead-letter producer of its own with
// [WithDeadLetterKafka], committed just before the output (dead letters are
// then at least once). An error that is not the record's fault — a service
// that is down — is wrapped with [Transient]: the job rewinds to its commit
// points and tries again instead of dead-lettering.
//
// # What proves it
//
// Exactly once is shown by kill tests (job_kill_test.go): internal/killjob,
// a per-key counting job built only on the public API, runs as a child
// process while jobtest.KillLoop SIGKILLs it at random moments (during
// restore, processing, snapshot and commit) with input arriving all the
// while; 20 kills in CI and 200 in `make kill-soak`, plus two instances
// killed independently so that tasks move between them, and one kill placed
// between the transactional offset commit and EndTxn. Afterwards the
// read_committed output holds, for every key, exactly "k=1" … "k=n" in
// order; each task's committed offsets cover all its input; and the
// checkpoint named by its commit point restores to the reference counts.
// kcat (librdkafka) with isolation.level=read_committed agrees record for
// record. A job killed with records in an open transaction and restarted
// after longer than the broker's transaction.max.timeout.ms loses nothing
// (job_outage_test.go): no transaction outlives the process, and a restarted
// task reads again from its committed offsets. A zombie that wakes up after
// its task moved is fenced (job_fencing_test.go). Package jobtest lets teams
// write the same kind of test for their own jobs.
//
// Performance. BenchmarkPassThrough copies a backlog of 1M records of 200 B
// twice on one kfake broker (run in a child process so that the client's
// CPU and memory are measured alone): with a raw sarama consumer group →
// AsyncProducer copy and with a stateless Job writing through per-task
// transactional KafkaOutputs with exactly-once checkpoints every second. On
// a shared, heavily loaded 2-core machine the job reached 0.75–0.96 of the
// raw copy's records/s and 0.71–0.83 of its records per CPU-second
// (131–172k records/cpu-s against 178–213k). Memory is bounded by
// configuration, not by the backlog: TestBacklogMemoryBounded pauses a job on
// a backlog and shows its live heap unchanged (about 7 MB) when 1M records
// (191 MB) wait.
package streamkit
