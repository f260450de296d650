package graph

import (
	"fmt"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// WithSubjects puts the graph in subject mode, for a graph that is not a
// Wikibase (rdfdiff's subject mode): the EntityID of every change is a
// subject IRI, and its document is the triples about the subject and about
// its skolem nodes, the blank nodes rdfdiff.SkolemizeSubject gave IRIs under
// skolemBase ("" when the documents have none). A delete removes the
// subject's triples and those of its skolem nodes reachable from it through
// skolem nodes in at most rdfdiff.SubjectSkolemDepth links; a reconcile
// replaces them with the new document. No URI scheme is involved, and orphan
// clean-up (which is about Wikibase value and reference nodes) does nothing.
// It is what sparql.NewSubjectUpdateBuilder sends to a real store.
//
// An option of NewGraph.
func WithSubjects(skolemBase string) Option {
	return graphOption("WithSubjects", func(c *graphConfig) { c.subjects, c.skolemBase = true, skolemBase })
}

// checkSubject accepts an absolute IRI without the characters SPARQL
// forbids in IRIs.
func checkSubject(id string) error {
	if i := strings.IndexByte(id, ':'); i <= 0 || strings.ContainsAny(id, " <>\"{}|^`\\\t\n\r") {
		return fmt.Errorf("%w %q: in subject mode an entity ID is an absolute IRI", rdfdiff.ErrInvalidEntityID, id)
	}
	return nil
}

// subjectDocumentNodes returns the IDs of the subject id's node and of its
// skolem nodes reachable within rdfdiff.SubjectSkolemDepth links, all found
// before anything is deleted (as the store's single DELETE … WHERE does).
func (a *graphApplier) subjectDocumentNodes(dst []uint32, subject string) []uint32 {
	sid := a.st.lookup(rdfdiff.NewIRI(subject))
	if sid == graphNoID {
		return dst
	}
	dst = append(dst, sid)
	if a.cfg.skolemBase == "" {
		return dst
	}
	prefix := rdfdiff.SubjectSkolemPrefix(a.cfg.skolemBase, subject)
	seen := map[uint32]bool{sid: true}
	frontier := []uint32{sid}
	for d := 1; d <= rdfdiff.SubjectSkolemDepth && len(frontier) > 0; d++ {
		var next []uint32
		for _, n := range frontier {
			a.buf = a.st.nodes[n].out.appendTo(a.buf[:0])
			for _, e := range a.buf {
				o := a.st.term(e.b)
				if seen[e.b] || !o.IsIRI() || !o.HasPrefix(prefix) {
					continue
				}
				seen[e.b] = true
				next = append(next, e.b)
				dst = append(dst, e.b)
			}
		}
		frontier = next
	}
	return dst
}

// deleteSubjects removes the documents of subjects.
func (a *graphApplier) deleteSubjects(subjects []string) {
	var nodes []uint32
	for _, s := range subjects {
		nodes = a.subjectDocumentNodes(nodes, s)
	}
	a.holdAll(nodes)
	a.removeSubjects(nodes)
	a.releaseAll(nodes)
}

// reconcileSubject replaces the document of r's subject with r's triples.
func (a *graphApplier) reconcileSubject(r *rdfdiff.Reconciliation) {
	a.deleteSubjects([]string{r.EntityID})
	for _, tr := range r.Triples {
		a.st.add(tr)
	}
}

// NeedsReplacement is always false: the graph applies every change Add
// accepted, so none is refused at commit (it is there so a Processor runs on
// either output; see sparql.SPARQL.NeedsReplacement).
func (o *GraphOutput) NeedsReplacement(string) bool { return false }

// NeedsReplacement is always false (see GraphOutput.NeedsReplacement).
func (w Writer) NeedsReplacement(id string) bool { return w.o.NeedsReplacement(id) }
