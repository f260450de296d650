// Package source reads a job's input from Kafka: Kafka is one member of a
// consumer group, on sarama, that exposes exactly what the exactly-once
// protocol needs from a source — the next position of every
// partition for snapshots, restore by seeking, and hooks around partition
// ownership — and nothing about sinks or commits.
//
// # Concepts
//
// Topics. A source reads one or more topics, typically the same stream
// under data-center prefixes ("eqiad.mediawiki.revision-create" and
// "codfw.mediawiki.revision-create"). Each record keeps its provenance
// (topic, partition, offset, timestamp, key, headers, value), so a record
// the job cannot process can be dead-lettered exactly as it was read.
//
// Isolation. Reads are read_committed by default: records of aborted or
// still-open transactions are never delivered (WithReadUncommitted opts out).
//
// Positions. Positions maps each assigned partition to the next offset to
// read: the offset after the last record Poll returned, or the partition's
// start offset if none was returned yet. They are exact, so a snapshot taken
// between two Polls plus Positions is a consistent cut. [Positions] is the
// one shape of positions in streamkit: the source reports them, commit points
// carry them, and checkpoint manifests store them keyed "topic/partition"
// ([Positions.Strings], [ParsePositions]). [Partitions] is the matching
// partition set (topic to partition numbers).
//
// Where a partition starts, first match wins: a position given to Seek
// (restored from a checkpoint or a commit point), the group's committed
// offset, then the start position (StartEarliest — the default —,
// StartLatest, StartAtTimestamp in milliseconds, or StartAtOffsets). Every
// start is resolved to a concrete offset when the partition is assigned.
//
// The source never commits offsets: automatic commits are off. The commit
// point — a Kafka transaction carrying the consumer offsets (the group's
// offsets, so lag monitoring stays meaningful), or a store write — is made
// by the job runner with its sink, from Positions.
//
// # Driving a source (the runner's contract)
//
// Run(ctx) joins the group and consumes in the background; Poll(ctx, max),
// called in a loop from one goroutine, returns batches of records. Hooks
// run inside Poll, on that goroutine, between batches, so they never run
// concurrently with the processing of records:
//
//   - OnAssigned(partitions) runs before any record of those partitions is
//     delivered and before their start offsets are resolved: load their
//     state and Seek to the positions it was snapshotted with.
//   - OnRevoked(partitions) runs on a rebalance after the last record of
//     those partitions was delivered (buffered records not yet delivered
//     are discarded; the next owner reads them again) and before the
//     partitions are released: Positions still includes them, so the hook
//     can checkpoint and commit them. Rebalances are eager (every member
//     releases everything before anything is reassigned), so another member
//     gets a partition only after this hook returned — provided it returns
//     within sarama's Consumer.Group.Rebalance.Timeout (default 60 s);
//     after that the group moves on without this member, and its commit
//     must be fenced (the runner's job). It is not called at
//     shutdown (Close or Run's context): a runner stopping cleanly commits
//     on its own. An error from a hook stops Run with a *HookError.
//
// Because hooks need Poll, a runner that stops polling also holds up
// rebalances (sarama's rebalance timeout then applies). Poll may return an
// empty batch after a hook ran.
//
// # Flow control
//
// At most WithBufferSize records (default DefaultBufferSize) are held
// between sarama and Poll; when the buffer is full sarama stops fetching, so
// memory stays bounded however large the backlog. Pause and Resume hold back
// one or more partitions (or all), including records already buffered, and
// stop their fetches; other partitions keep flowing.
//
// # Event time
//
// Each partition's watermark is the maximum event time delivered minus the
// allowed lateness; event time is the record timestamp, or what a
// WithEventTime extractor returns. Watermark combines them as the minimum
// over active partitions: a partition that delivered nothing for the idle
// timeout stops holding time back. The combined watermark never goes
// backwards; records behind their partition's watermark are still delivered
// and counted in Stats.Late.
//
// # Connecting
//
// TLS and SASL/PLAIN have options (WithTLS, WithSASLPlain); anything else
// sarama offers is set with WithSaramaConfig or WithBaseConfig. Tests use
// the in-process cluster of package kafkatest.
package source
