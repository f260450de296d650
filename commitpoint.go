package streamkit

import (
	"errors"
	"fmt"
)

// Position is how far a job has read one input partition: the next offset to read.
type Position struct {
	Topic     string
	Partition int32
	Offset    int64
}

// CommitPoint is what a store-side commit records together with the data, in the same
// atomic write: the job, the checkpoint ID and the source positions after this batch.
type CommitPoint struct {
	Job          string
	CheckpointID uint64
	Positions    []Position
}

// Validate checks that cp can be recorded: a non-empty job name, no
// negative offset or partition, no empty topic, and at most one position per
// topic and partition. Sinks call it before writing, so a malformed commit
// point never reaches a store.
func (cp *CommitPoint) Validate() error {
	if cp == nil {
		return fmt.Errorf("%w: nil", ErrInvalidCommitPoint)
	}
	if cp.Job == "" {
		return fmt.Errorf("%w: empty job name", ErrInvalidCommitPoint)
	}
	type key struct {
		topic     string
		partition int32
	}
	seen := make(map[key]bool, len(cp.Positions))
	for _, p := range cp.Positions {
		switch {
		case p.Topic == "":
			return fmt.Errorf("%w: position with an empty topic", ErrInvalidCommitPoint)
		case p.Partition < 0:
			return fmt.Errorf("%w: %s partition %d is negative", ErrInvalidCommitPoint, p.Topic, p.Partition)
		case p.Offset < 0:
			return fmt.Errorf("%w: %s/%d offset %d is negative", ErrInvalidCommitPoint, p.Topic, p.Partition, p.Offset)
		}
		k := key{p.Topic, p.Partition}
		if seen[k] {
			return fmt.Errorf("%w: two positions for %s/%d", ErrInvalidCommitPoint, p.Topic, p.Partition)
		}
		seen[k] = true
	}
	return nil
}

// ErrInvalidCommitPoint is returned for a commit point that cannot be
// recorded (see CommitPoint.Validate), or one read back from a store that is
// malformed (for example two checkpoint IDs after a non-atomic store applied
// half a request).
var ErrInvalidCommitPoint = errors.New("streamkit: invalid commit point")

// ErrNoCommitPoint is returned by ReadCommitPoint when the store holds no
// commit point for the job: the job has never committed there, so it starts
// from its configured initial positions.
var ErrNoCommitPoint = errors.New("streamkit: no commit point in the store")
