package sink

import (
	"errors"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// accumulateSegmented merges c into the last of segs (opening the first with
// newSeg if there is none) and returns the segments and the one c went to.
// When that segment's accumulator refuses c (rdfdiff.ErrChangeRefused: a
// barrier, such as a diff of an entity deleted earlier in the checkpoint),
// c starts a new segment, applied after the others. On error the segments
// are as they were, so the caller can dead-letter c. SPARQL and GraphOutput
// share it: both apply a checkpoint as its segments in order.
func accumulateSegmented[S any](segs []S, accOf func(S) *rdfdiff.Accumulator, newSeg func() S,
	c *rdfdiff.EntityChange) ([]S, S, error) {
	opened := false
	if len(segs) == 0 {
		segs, opened = append(segs, newSeg()), true
	}
	seg := segs[len(segs)-1]
	if err := accOf(seg).Check(c); errors.Is(err, rdfdiff.ErrChangeRefused) {
		seg, opened = newSeg(), true
		segs = append(segs, seg)
	}
	if err := accOf(seg).Accumulate(c); err != nil {
		if opened {
			segs = segs[:len(segs)-1]
		}
		var zero S
		return segs, zero, err
	}
	return segs, seg, nil
}
