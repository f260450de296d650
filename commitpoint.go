package streamkit

import (
	"errors"
	"fmt"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// CommitPoint is what a store-side commit records together with the data, in the same
// atomic write: the job, the checkpoint ID and the source positions after this batch
// (for each input partition, the next offset to read).
type CommitPoint struct {
	Job          string
	CheckpointID uint64
	Positions    source.Positions
}

// Validate checks that cp can be recorded: a non-empty job name, no
// negative offset or partition and no empty topic. Sinks call it before writing, so a malformed commit
// point never reaches a store.
func (cp *CommitPoint) Validate() error {
	if cp == nil {
		return fmt.Errorf("%w: nil", ErrInvalidCommitPoint)
	}
	if cp.Job == "" {
		return fmt.Errorf("%w: empty job name", ErrInvalidCommitPoint)
	}
	for _, tp := range cp.Positions.Sorted() {
		switch off := cp.Positions[tp]; {
		case tp.Topic == "":
			return fmt.Errorf("%w: position with an empty topic", ErrInvalidCommitPoint)
		case tp.Partition < 0:
			return fmt.Errorf("%w: %s partition %d is negative", ErrInvalidCommitPoint, tp.Topic, tp.Partition)
		case off < 0:
			return fmt.Errorf("%w: %s offset %d is negative", ErrInvalidCommitPoint, tp, off)
		}
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
