package sparql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

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
// The marks survive a restart of the task: see below.

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

// The marks are kept in the store too, in the commit graph, written in the
// request that carries the commit point (so a mark commits exactly with its
// checkpoint) and read back by ReadCommitPoint: a restarted task still
// replaces the entities refused before the restart. Each mark is a node
//
//	<ns>resync/<topic>/<partition>/<hash of the entity ID>  <ns>resyncEntity "ID" .
//
// under the first partition of the commit point; ReadCommitPoint reads the
// marks under every partition of the task.

// resyncNodePrefix is the IRI prefix of the marks kept under one partition.
func (b *UpdateBuilder) resyncNodePrefix(topic string, partition int32) string {
	return b.commitNS + "resync/" + url.PathEscape(topic) + "/" + strconv.FormatInt(int64(partition), 10) + "/"
}

// appendResync writes the deletion of the marks of cleared and the marks of
// marked (in that order: an entity can be both), in the commit graph.
func (b *UpdateBuilder) appendResync(w *updateWriter, cp *streamkit.CommitPoint, marked, cleared []string) error {
	if len(cp.Positions) == 0 || len(marked)+len(cleared) == 0 {
		return nil
	}
	pred := b.pred("resyncEntity")
	if len(cleared) > 0 {
		vals := []byte("VALUES ?e {")
		for _, id := range cleared {
			vals = append(vals, ' ')
			vals = appendSPARQLString(vals, id)
		}
		vals = append(vals, " }\n"...)
		w.deleteWhere(b.commitGraph, "?n ?p ?o .", string(vals), "?n <"+pred.Value()+"> ?e .\n?n ?p ?o .")
	}
	if len(marked) > 0 {
		pos := cp.Positions.Sorted()[0]
		ts := make([]rdfdiff.Triple, 0, len(marked))
		for _, id := range marked {
			sum := sha256.Sum256([]byte(id))
			node := rdfdiff.NewIRI(b.resyncNodePrefix(pos.Topic, pos.Partition) + hex.EncodeToString(sum[:16]))
			ts = append(ts, rdfdiff.Triple{S: node, P: pred, O: rdfdiff.NewLiteral(id)})
		}
		if err := w.data("INSERT DATA", b.commitGraph, ts); err != nil {
			return err
		}
	}
	return nil
}

// readResync reads the marks kept under partitions.
func (b *UpdateBuilder) readResync(ctx context.Context, q Querier, partitions source.Partitions) (map[string]bool, error) {
	var sb strings.Builder
	sb.WriteString("SELECT ?e WHERE {\n")
	if b.commitGraph != "" {
		sb.WriteString("GRAPH <" + b.commitGraph + "> {\n")
	}
	sb.WriteString("?n <" + b.pred("resyncEntity").Value() + "> ?e .\nFILTER(")
	if !writePrefixFilter(&sb, partitions, b.resyncNodePrefix) {
		return nil, nil // no partitions: no marks
	}
	sb.WriteString(")\n")
	if b.commitGraph != "" {
		sb.WriteString("}\n")
	}
	sb.WriteString("}")
	res, err := q.Query(ctx, sb.String())
	if err != nil {
		return nil, fmt.Errorf("sparql: reading the entities to replace: %w", err)
	}
	marks := make(map[string]bool)
	for _, row := range res.Bindings {
		if e, ok := row["e"]; ok && e.IsLiteral() {
			marks[e.Value()] = true
		}
	}
	return marks, nil
}

// markedAndCleared returns the marks a commit writes: the entities refused
// so far and those the checkpoint replaces.
func (r *commitRun) markedAndCleared() (marked, cleared []string) {
	for id := range r.s.replacing {
		cleared = append(cleared, id)
	}
	slices.Sort(cleared)
	return r.refused, cleared
}
