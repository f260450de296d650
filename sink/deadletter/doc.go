// Package deadletter replays dead letters: the records a job could not
// process, written by streamkit.DeadLetter with their bytes untouched and
// streamkit.dlq.* provenance headers (original topic, partition, offset,
// timestamp, key, stage, error class and message, job, failure time).
//
// [Replay] reads a dead-letter topic the way a read_committed consumer
// sees it (aborted transactions skipped), keeps what a [ReplayFilter]
// selects (topic, stage, error class, failure time), restores each
// original record (key, headers, timestamp; its original partition with
// ReplayOptions.KeepPartition) and sends it through a transactional
// producer, once the cause is fixed.
package deadletter
