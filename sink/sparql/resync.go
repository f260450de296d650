package sparql

import "gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"

// Resynchronisation after a change the store refused at commit.
//
// Add refuses what the sink can tell the store would refuse, so a Processor
// fails before it updates its state. What the store still refuses at commit
// (found by bisection and handed to the RejectedHandler) was already taken
// into the Processor's state: the store and the state disagree about that
// entity. The sink marks the entity, and NeedsReplacement reports it until a
// checkpoint holding a full replacement of the entity (OpReconcile, or
// OpDelete) commits. A Processor that keeps the full document of each
// entity (the subject mode of rdfdiff) checks NeedsReplacement before it
// sends a diff and sends a reconcile of the new document instead, so a
// refused change followed by a good one converges to the good one, whether
// the two fall in one checkpoint (the accumulator merges them and the store
// sees only the good one) or in two (the second is a replacement).
//
// The marks live in the sink: a restart of the task forgets them, and the
// entity is then repaired by its next replacement only. Entities whose
// changes were refused are in the dead-letter topic (DeadLetterRejected);
// replaying those records after a restart repairs them.

// NeedsReplacement reports whether a change of entity id was refused by the
// store at commit and no full replacement of it (OpReconcile or OpDelete)
// has committed since: the next change of id should replace it whole.
func (s *SPARQL) NeedsReplacement(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resync[id]
}

// NeedsReplacement reports whether the next change of id should be a full
// replacement (see SPARQL.NeedsReplacement).
func (w Writer) NeedsReplacement(id string) bool { return w.s.NeedsReplacement(id) }

// noteReplacementLocked records that the open checkpoint replaces c's
// entity whole, which clears its mark when the checkpoint commits.
func (s *SPARQL) noteReplacementLocked(c *rdfdiff.EntityChange) {
	if (c.Operation == rdfdiff.OpReconcile || c.Operation == rdfdiff.OpDelete) && s.resync[c.EntityID] {
		if s.replacing == nil {
			s.replacing = make(map[string]bool)
		}
		s.replacing[c.EntityID] = true
	}
}

// committedLocked updates the marks after a successful commit: entities the
// checkpoint replaced are clear, then those whose changes it refused are
// marked.
func (s *SPARQL) committedLocked(refused []string) {
	for id := range s.replacing {
		delete(s.resync, id)
	}
	for _, id := range refused {
		if s.resync == nil {
			s.resync = make(map[string]bool)
		}
		s.resync[id] = true
	}
}
