package sparql

import (
	"fmt"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// termRules are what a store refuses or silently alters, beyond what any
// SPARQL request can carry (AppendSPARQLTriple).
type termRules struct {
	maxIRI        int  // WithMaxIRIBytes (Virtuoso)
	wellTypedBool bool // WithWellTypedBooleans (Blazegraph)
	bcp47         bool // WithWellFormedLanguageTags (Oxigraph)
}

// rules returns the rules of dialect d's store, as NewSPARQL sets them.
func (d Dialect) rules() termRules {
	switch d {
	case DialectBlazegraph:
		return termRules{wellTypedBool: true}
	case DialectVirtuoso:
		return termRules{maxIRI: virtuosoMaxIRIBytes}
	}
	return termRules{bcp47: true}
}

// checkTriple reports why tr cannot be written to the store, or nil.
func (r termRules) checkTriple(tr rdfdiff.Triple, scratch []byte) ([]byte, error) {
	if err := checkIRILengths(tr, r.maxIRI); err != nil {
		return scratch, err
	}
	if err := checkBoolean(tr, r.wellTypedBool); err != nil {
		return scratch, err
	}
	if err := checkLangTag(tr, r.bcp47); err != nil {
		return scratch, err
	}
	return AppendSPARQLTriple(scratch[:0], tr)
}

// checkChange reports the first triple of c's patch the store would refuse.
// Unlinked-shared triples are never sent, so they are not checked.
func (r termRules) checkChange(c *rdfdiff.EntityChange) error {
	var scratch []byte
	var err error
	for _, b := range []struct {
		name string
		ts   []rdfdiff.Triple
	}{{"added", c.Patch.Added}, {"removed", c.Patch.Removed}, {"linked-shared", c.Patch.LinkedShared}} {
		for i, tr := range b.ts {
			if scratch, err = r.checkTriple(tr, scratch); err != nil {
				return fmt.Errorf("%s triple %d: %w", b.name, i, err)
			}
		}
	}
	return nil
}

// CheckChange reports what in c the store of dialect d would refuse, or
// silently store altered, with its default rules (as NewSPARQL sets them):
// anything SPARQL cannot carry exactly (blank nodes, IRIs with characters
// SPARQL forbids, malformed language tags, U+0000; see AppendSPARQLTerm), and
// for DialectSPARQL11 (Oxigraph) language tags that are not well-formed BCP
// 47, for DialectBlazegraph ill-typed xsd:boolean literals, for
// DialectVirtuoso IRIs longer than it keeps intact. The error matches
// ErrUnsafeTerm and is a *streamkit.StageError (stage StageSPARQL, class
// ClassSPARQLUnsafeTerm), so a record refused by a stand-in output is
// dead-lettered under the same names as by the SPARQL sink. Entity IDs are
// not checked: that is the output's own rule.
//
// The in-memory graph.GraphOutput takes it as its change check
// (graph.WithChangeCheck), so that tests on the in-memory graph refuse what
// the real store would.
func (d Dialect) CheckChange(c *rdfdiff.EntityChange) error {
	if c == nil {
		return nil
	}
	if err := d.rules().checkChange(c); err != nil {
		return &streamkit.StageError{Stage: StageSPARQL, Class: ClassSPARQLUnsafeTerm, Err: err}
	}
	return nil
}

// CheckChange reports what in c a store fed by b's requests would refuse:
// the terms b cannot write (see Dialect.CheckChange; b's own rules apply,
// which NewSPARQL completes with its dialect's), and for a delete or a
// reconciliation an entity that b cannot name (an ID outside b's URI
// scheme, or in subject mode a subject that is not an absolute IRI). The
// SPARQL sink calls it in Add, so a refused change fails the Processor
// before it touches state, and its record is dead-lettered.
func (b *UpdateBuilder) CheckChange(c *rdfdiff.EntityChange) error {
	if c == nil {
		return nil
	}
	if c.Operation == rdfdiff.OpDelete || c.Operation == rdfdiff.OpReconcile {
		if err := b.checkEntity(c.EntityID); err != nil {
			return err
		}
	}
	return b.rules().checkChange(c)
}

func (b *UpdateBuilder) rules() termRules {
	return termRules{maxIRI: b.maxIRI, wellTypedBool: b.wellTypedBool, bcp47: b.bcp47}
}

// checkEntity reports why b cannot write the deletes of entity id.
func (b *UpdateBuilder) checkEntity(id string) error {
	if b.subjects {
		if r := checkIRI(id); r != "" {
			return &TermError{Term: rdfdiff.NewIRI(id), Reason: "subject: " + r}
		}
		return nil
	}
	iri := b.scheme.EntityTerm(id)
	if r := checkIRI(iri.Value()); r != "" || !iri.IsIRI() {
		return &TermError{Term: iri, Reason: "entity " + fmt.Sprintf("%q", id) + ": " + r}
	}
	// As the in-memory graph: an ID Wikibase makes (Q42, L1-F2, …) naming an
	// entity of the scheme; anything else would silently delete nothing.
	ok := id != "" && len(id) <= 255
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	if !ok || !b.scheme.IsEntity(iri) {
		return &TermError{Term: iri, Reason: fmt.Sprintf("entity ID %q is not one of the URI scheme's (for a graph keyed by subject IRIs, use NewSubjectUpdateBuilder)", id)}
	}
	return nil
}

// refusal is the error Add returns for a change the store would refuse: a
// StageError (stage StageSPARQL, class ClassSPARQLUnsafeTerm), so the
// runner dead-letters the record under the same names as a change the store
// refused at commit, around an rdfdiff.InvalidChangeError, so a processor
// treats it as any invalid change.
func refusal(c *rdfdiff.EntityChange, err error) error {
	return &streamkit.StageError{Stage: StageSPARQL, Class: ClassSPARQLUnsafeTerm, Err: &rdfdiff.InvalidChangeError{
		EntityID: c.EntityID, Revision: c.Revision, Operation: c.Operation,
		Msg: "the SPARQL store would refuse it (refused before it touched state)", Err: err}}
}
