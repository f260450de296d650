package sparql

import (
	"fmt"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// NewSubjectUpdateBuilder returns a builder for a graph that is not a
// Wikibase, updated one subject at a time (rdfdiff's subject mode): the
// EntityID of every change is a subject IRI, and its document is the
// triples about the subject and about its skolem nodes, the blank nodes
// rdfdiff.SkolemizeSubject gave IRIs under skolemBase ("" when the
// documents have no blank nodes). No rdfdiff.URIScheme is needed.
//
// Imports and diffs are sent as INSERT DATA and DELETE DATA, as in
// NewUpdateBuilder. A delete of a subject removes, in one DELETE … WHERE,
// every triple of the subject and of its skolem nodes reachable from it
// through skolem nodes in at most rdfdiff.SubjectSkolemDepth links (found
// through the store's indexes by following links, never by scanning it); a
// reconcile does the same and then inserts the new document, so it replaces
// the subject whole. Triples of other subjects pointing at a deleted subject
// stay, as they belong to those subjects' documents.
//
// Options are those of NewUpdateBuilder.
func NewSubjectUpdateBuilder(skolemBase string, opts ...Option) (*UpdateBuilder, error) {
	if skolemBase != "" {
		if r := checkIRI(skolemBase); r != "" {
			return nil, fmt.Errorf("sparql: skolem base %q: %s", skolemBase, r)
		}
	}
	return newUpdateBuilder(&UpdateBuilder{subjects: true, skolemBase: skolemBase, commitNS: DefaultCommitNamespace},
		"NewSubjectUpdateBuilder", opts)
}

// deleteSubjectDocuments writes one DELETE … WHERE of the documents of the
// subjects ids: the subjects' own triples and those of their skolem nodes up
// to rdfdiff.SubjectSkolemDepth links deep. All the nodes are found before
// anything is deleted (one operation), so cycles among skolem nodes are
// handled as the in-memory graph handles them.
func (b *UpdateBuilder) deleteSubjectDocuments(w *updateWriter, ids []string) error {
	// A UNION of branches that each bind ?n to one node to delete: the
	// subject itself, and its skolem nodes at each depth, with the subject
	// and its skolem prefix as constants. (Virtuoso 7 returns nothing for
	// a UNION that has a VALUES branch, so VALUES is not used here.)
	var where strings.Builder
	for i, id := range ids {
		if r := checkIRI(id); r != "" {
			return &TermError{Term: rdfdiff.NewIRI(id), Reason: "subject: " + r}
		}
		if i > 0 {
			where.WriteString("\nUNION ")
		}
		where.WriteString("{ BIND(<" + id + "> AS ?n) }")
	}
	if b.skolemBase != "" {
		for _, id := range ids {
			pfx := string(appendSPARQLString(nil, rdfdiff.SubjectSkolemPrefix(b.skolemBase, id)))
			for d := 1; d <= rdfdiff.SubjectSkolemDepth; d++ {
				where.WriteString("\nUNION {\n")
				prev := "<" + id + ">"
				for i := 1; i <= d; i++ {
					node := fmt.Sprintf("?n%d", i)
					if i == d {
						node = "?n"
					}
					fmt.Fprintf(&where, "%s ?l%d %s . FILTER(isIRI(%s) && STRSTARTS(STR(%s), %s))\n", prev, i, node, node, node, pfx)
					prev = node
				}
				where.WriteString("}")
			}
		}
	}
	where.WriteString("\n?n ?p ?o .")
	w.deleteWhere(b.graph, "?n ?p ?o .", "", where.String())
	return nil
}
