package rdfdiff

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Subject mode: a graph that is not a Wikibase is updated one subject at a
// time. A subject is an absolute IRI; its document is the triples whose
// subject is the subject itself or one of its skolem nodes (the blank nodes
// of the document, given IRIs by SkolemizeSubject). The subject IRI is the
// EntityChange.EntityID of its changes: an import inserts the document, a
// diff moves it from one document to the next, a delete removes the
// subject's triples and those of its skolem nodes, and a reconcile replaces
// them with a new document. No URIScheme is involved.

// SubjectSkolemDepth is how deep below its subject a skolem node may be: the
// stores delete a subject's skolem nodes by following its links through
// skolem nodes up to this many hops (an index walk, never a scan of the
// store), so CheckSubjectDocument refuses a document whose blank nodes are
// deeper or not reachable from the subject at all.
const SubjectSkolemDepth = 4

// ErrSubjectDocument is matched by the errors of CheckSubjectDocument.
var ErrSubjectDocument = errors.New("rdfdiff: not a subject document")

// SubjectSkolemPrefix returns the IRI prefix of the skolem nodes of subject
// under base: base's well-known genid path (RDF 1.1 Concepts 3.5) followed
// by the first 128 bits of the SHA-256 of the subject IRI, in hex, and '/'.
// For base "http://example.test/" and any subject it is
// "http://example.test/.well-known/genid/<32 hex digits>/". Every subject
// has its own prefix, so two documents with the same blank node labels get
// different IRIs, and a store can tell whose skolem node an IRI is.
func SubjectSkolemPrefix(base, subject string) string {
	sum := sha256.Sum256([]byte(subject))
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + ".well-known/genid/" + hex.EncodeToString(sum[:16]) + "/"
}

// SkolemizeSubject returns ts with every blank node _:label replaced by the
// IRI SubjectSkolemPrefix(base, subject) + label. Labels are the document's
// own, so the same document gets the same IRIs every time; a document that
// renames its blank nodes from one revision to the next diffs as a removal
// and an insertion of those nodes, which is correct, only larger. ts itself
// is never modified, and is returned as is when it holds no blank node.
func SkolemizeSubject(base, subject string, ts []Triple) []Triple {
	prefix := SubjectSkolemPrefix(base, subject)
	return mapBlankNodes(ts, func(tr Triple) Triple {
		if tr.S.IsBlankNode() {
			tr.S = NewIRI(prefix + tr.S.nt[2:])
		}
		if tr.O.IsBlankNode() {
			tr.O = NewIRI(prefix + tr.O.nt[2:])
		}
		return tr
	})
}

// CheckSubjectDocument reports why ts (skolemized) is not a document of
// subject under base, or nil: subject must be an absolute IRI, and every
// triple's subject must be the subject or one of its skolem nodes reachable
// from it through skolem nodes in at most SubjectSkolemDepth hops, so that
// deleting the subject deletes the whole document. A blank node left in ts
// is refused too (skolemize first). The error matches ErrSubjectDocument.
func CheckSubjectDocument(base, subject string, ts []Triple) error {
	if !strings.Contains(subject, ":") || strings.ContainsAny(subject, " <>\"{}|^`\\") {
		return fmt.Errorf("%w: subject %q is not an absolute IRI", ErrSubjectDocument, subject)
	}
	s := NewIRI(subject)
	prefix := SubjectSkolemPrefix(base, subject)
	// Breadth-first from the subject through its skolem nodes.
	depth := map[Term]int{s: 0}
	frontier := []Term{s}
	for d := 1; d <= SubjectSkolemDepth && len(frontier) > 0; d++ {
		var next []Term
		for _, tr := range ts {
			if _, ok := depth[tr.O]; ok || !tr.O.IsIRI() || !tr.O.HasPrefix(prefix) {
				continue
			}
			if dd, ok := depth[tr.S]; ok && dd == d-1 {
				depth[tr.O] = d
				next = append(next, tr.O)
			}
		}
		frontier = next
	}
	for i, tr := range ts {
		if tr.S.IsBlankNode() || tr.O.IsBlankNode() {
			return fmt.Errorf("%w: triple %d of %s holds a blank node (SkolemizeSubject first)", ErrSubjectDocument, i, subject)
		}
		if _, ok := depth[tr.S]; ok {
			continue
		}
		if tr.S.IsIRI() && tr.S.HasPrefix(prefix) {
			return fmt.Errorf("%w: triple %d of %s: skolem node %s is not reachable from the subject within %d links",
				ErrSubjectDocument, i, subject, tr.S, SubjectSkolemDepth)
		}
		return fmt.Errorf("%w: triple %d of %s is about %s, not about the subject or its blank nodes", ErrSubjectDocument, i, subject, tr.S)
	}
	return nil
}
