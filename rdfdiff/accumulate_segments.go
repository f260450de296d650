package rdfdiff

import (
	"errors"
)

// AccumulateSegmented merges c into the last of segs (opening the first with
// newSeg if there is none) and returns the segments and the one c went to.
// When that segment's accumulator refuses c (ErrChangeRefused: a barrier,
// such as a diff of an entity deleted earlier in the batch), c starts a new
// segment, to be applied after the others. On error the segments are as they
// were, so the caller can dead-letter c. Outputs that apply a batch of
// changes as its segments in order (the SPARQL and in-memory graph outputs)
// share it.
func AccumulateSegmented[S any](segs []S, accOf func(S) *Accumulator, newSeg func() S,
	c *EntityChange) ([]S, S, error) {
	opened := false
	if len(segs) == 0 {
		segs, opened = append(segs, newSeg()), true
	}
	seg := segs[len(segs)-1]
	if err := accOf(seg).Check(c); errors.Is(err, ErrChangeRefused) {
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
