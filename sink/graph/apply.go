package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// Vocabulary the WDQS update templates use.
var (
	iriSchemaAbout        = rdfdiff.NewIRI("http://schema.org/about")
	iriSchemaDateModified = rdfdiff.NewIRI("http://schema.org/dateModified")
	iriLexicalForm        = rdfdiff.NewIRI("http://www.w3.org/ns/lemon/ontolex#lexicalForm")
	iriSense              = rdfdiff.NewIRI("http://www.w3.org/ns/lemon/ontolex#sense")
)

var (
	// ErrInvalidPatch means a ConsolidatedPatch holds something no store can
	// apply: an invalid triple (see rdfdiff.ErrInvalidTriple, which the error
	// also wraps) or an entity ID that is not one of the URI scheme's.
	// Nothing is applied.
	ErrInvalidPatch = errors.New("graph: invalid patch")
)

// Apply applies one batch and records its commit point, in one atomic step:
// either the whole batch and the commit point are in the graph, or, when Apply
// returns an error, neither is and the graph is unchanged. The patch is
// checked whole before anything changes, and ctx only before that; once the
// graph starts changing, Apply finishes.
//
// The graph ends as a WDQS store does after the consumer's requests for the
// batch (RdfRepositoryUpdater.applyPatch), in this order:
//
//  1. patch.Removed are deleted, then patch.Added inserted;
//  2. patch.LinkedShared are inserted, and the lag marker, when configured
//     (WithLagMarker) and the batch has an average event time, replaces the
//     previous one;
//  3. each entity of patch.DeletedEntities is deleted as deleteEntity.sparql
//     does: the triples of the statement nodes it links to
//     (subjects in the statement namespace), every triple of its sitelinks
//     (?s schema:about ?entity), for a lexeme the triples of its forms' and
//     senses' statement nodes and of the forms and senses themselves, and all
//     ?entity ?p ?o. Value and reference nodes, wikibase:wikiGroup triples
//     and other entities' triples pointing at the entity stay;
//  4. each reconciliation replaces its entity's own data as the MultiSync
//     update does: sitelink triples, triples of the
//     entity's statement nodes and the entity's own triples that are not in
//     the new list are deleted, then the list is inserted. A lexeme's forms
//     and senses (those the graph links and those the new list links) are
//     treated like the entity, so a removed form disappears too. Shared nodes
//     stay.
//
// Then, with WithOrphanCleanup, orphaned value and reference nodes are
// deleted. Finally commit, when not nil, becomes what Positions returns; a nil
// commit applies the data and leaves the recorded commit point as it was (for
// tests without a job). A nil patch applies nothing and records commit:
// a batch whose changes cancelled out still moves its positions on.
//
// Errors wrap ErrInvalidPatch, ErrInvalidCommitPoint or ctx's error.
func (g *Graph) Apply(ctx context.Context, patch *rdfdiff.ConsolidatedPatch, commit *streamkit.CommitPoint) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("graph: apply: %w", err)
	}
	if err := g.checkPatch(patch); err != nil {
		return err
	}
	if err := checkGraphCommitPoint(commit); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := ctx.Err(); err != nil { // we may have waited for the lock
		return fmt.Errorf("graph: apply: %w", err)
	}
	if patch != nil {
		a := graphApplier{st: g.st, cfg: &g.cfg}
		a.apply(patch)
	}
	if commit != nil {
		g.commit = cloneGraphCommitPoint(commit)
	}
	return nil
}

// checkPatch reports the first thing in patch that cannot be applied.
func (g *Graph) checkPatch(p *rdfdiff.ConsolidatedPatch) error {
	if p == nil {
		return nil
	}
	buckets := []struct {
		name string
		ts   []rdfdiff.Triple
	}{
		{"Removed", p.Removed}, {"Added", p.Added},
		{"LinkedShared", p.LinkedShared}, {"UnlinkedShared", p.UnlinkedShared},
	}
	for _, b := range buckets {
		if err := validGraphTriples(b.name, b.ts); err != nil {
			return &graphPatchError{err}
		}
	}
	for i, id := range p.DeletedEntities {
		if err := g.checkEntityID(id); err != nil {
			return &graphPatchError{fmt.Errorf("DeletedEntities[%d]: %w", i, err)}
		}
	}
	for i, r := range p.Reconciliations {
		if err := g.checkEntityID(r.EntityID); err != nil {
			return &graphPatchError{fmt.Errorf("Reconciliations[%d]: %w", i, err)}
		}
		if err := validGraphTriples("Reconciliations["+strconv.Itoa(i)+"].Triples", r.Triples); err != nil {
			return &graphPatchError{err}
		}
	}
	return nil
}

// graphPatchError reports what in a patch Apply refused. It matches both
// ErrInvalidPatch and the cause (rdfdiff.ErrInvalidTriple or
// rdfdiff.ErrInvalidEntityID) with errors.Is.
type graphPatchError struct{ err error }

func (e *graphPatchError) Error() string { return "graph: invalid patch: " + e.err.Error() }

func (e *graphPatchError) Unwrap() []error { return []error{ErrInvalidPatch, e.err} }

// checkEntityID accepts the IDs Wikibase makes (Q42, L1, L1-F2, M123, P31):
// letters, digits, '-' and '_', naming an entity of the graph's scheme.
func (g *Graph) checkEntityID(id string) error {
	if g.cfg.subjects {
		return checkSubject(id)
	}
	ok := id != "" && len(id) <= 255
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	if !ok || !g.cfg.scheme.IsEntity(g.cfg.scheme.EntityTerm(id)) {
		return fmt.Errorf("%w %q", rdfdiff.ErrInvalidEntityID, id)
	}
	return nil
}

// checkGraphCommitPoint reports why c cannot be recorded (CommitPoint.Validate),
// or nil; a nil c records nothing and is fine.
func checkGraphCommitPoint(c *streamkit.CommitPoint) error {
	if c == nil {
		return nil
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("graph: apply: %w", err)
	}
	return nil
}

// graphApplier applies one validated batch to a store.
type graphApplier struct {
	st  *graphStore
	cfg *graphConfig
	// candidates are the value and reference nodes that lost an incoming
	// triple (or were unlinked) in this batch; nil without orphan clean-up.
	candidates map[rdfdiff.Term]struct{}
	buf        []graphEdge
}

func (a *graphApplier) apply(p *rdfdiff.ConsolidatedPatch) {
	if a.cfg.orphanCleanup {
		a.candidates = make(map[rdfdiff.Term]struct{})
	}
	// 1. Removed out, Added in.
	for _, tr := range p.Removed {
		a.remove(tr)
	}
	for _, tr := range p.Added {
		a.st.add(tr)
	}
	// 2. LinkedShared in, with the lag marker.
	for _, tr := range p.LinkedShared {
		a.st.add(tr)
	}
	if !a.cfg.lagMarker.IsZero() && !p.AvgEventTime.IsZero() {
		a.lagMarker(p)
	}
	// 3. Entity deletes.
	if len(p.DeletedEntities) > 0 {
		if a.cfg.subjects {
			a.deleteSubjects(p.DeletedEntities)
		} else {
			a.deleteEntities(p.DeletedEntities)
		}
	}
	// 4. Reconciliations.
	for i := range p.Reconciliations {
		if a.cfg.subjects {
			a.reconcileSubject(&p.Reconciliations[i])
		} else {
			a.reconcile(&p.Reconciliations[i])
		}
	}
	if a.candidates != nil {
		// Shared nodes this batch inserted may be linked by nothing: a
		// reconcile that follows a diff in one batch drops the diff's links
		// but not its linked-shared triples.
		for _, tr := range p.LinkedShared {
			a.candidate(tr.S)
		}
		for _, tr := range p.UnlinkedShared {
			a.candidate(tr.S)
		}
		a.cleanOrphans()
	}
}

// shared reports whether t is a value or reference node.
func (a *graphApplier) shared(t rdfdiff.Term) bool {
	if a.cfg.subjects {
		return false
	}
	return a.cfg.scheme.InValueNamespace(t) || a.cfg.scheme.InReferenceNamespace(t)
}

func (a *graphApplier) candidate(t rdfdiff.Term) {
	// Value and reference nodes by their namespace; sitelink articles and
	// sites (orphanKind) are told apart by their triples when cleaning.
	if a.candidates != nil && t.IsIRI() {
		a.candidates[t] = struct{}{}
	}
}

// remove deletes tr, noting its object (and the article of a schema:about
// link) as orphan candidates.
func (a *graphApplier) remove(tr rdfdiff.Triple) {
	if a.st.remove(tr) {
		a.candidate(tr.O)
		if tr.P == iriSchemaAbout {
			a.candidate(tr.S)
		}
	}
}

// removeIDs deletes the triple of IDs, noting its object (and the article
// of a schema:about link) as orphan candidates.
func (a *graphApplier) removeIDs(sid, pid, oid uint32) {
	s, p, o := a.st.term(sid), a.st.term(pid), a.st.term(oid) // read before removal may free them
	if a.st.removeIDs(sid, pid, oid) {
		a.candidate(o)
		if p == iriSchemaAbout {
			a.candidate(s)
		}
	}
}

// removeSubjects deletes every triple whose subject is one of ids.
func (a *graphApplier) removeSubjects(ids []uint32) {
	for _, sid := range ids {
		a.buf = a.st.nodes[sid].out.appendTo(a.buf[:0])
		if len(a.buf) == 0 {
			continue
		}
		// Hold the subject: removing its last triple must not free its ID
		// while later IDs in ids may still be the same node.
		a.st.nodes[sid].refs++
		for _, e := range a.buf {
			a.removeIDs(sid, e.a, e.b)
		}
		a.st.release(sid)
	}
}

// lagMarker replaces <marker> schema:dateModified ?o with the batch's average
// event time, as avgEventTime.sparql does.
func (a *graphApplier) lagMarker(p *rdfdiff.ConsolidatedPatch) {
	m := a.cfg.lagMarker
	for _, tr := range a.st.match(m, iriSchemaDateModified, rdfdiff.Term{}) {
		a.st.remove(tr)
	}
	a.st.add(rdfdiff.Triple{S: m, P: iriSchemaDateModified,
		O: rdfdiff.NewTypedLiteral(rdfdiff.FormatEventTime(p.AvgEventTime), rdfdiff.XSDDateTime)})
}

// statementNodes appends the IDs of the statement nodes that the nodes ids
// link to (?x ?p ?s with ?s in the statement namespace; STRSTARTS, as the
// WDQS templates test it).
func (a *graphApplier) statementNodes(dst []uint32, ids []uint32) []uint32 {
	prefix := a.cfg.scheme.StatementPrefix()
	for _, id := range ids {
		a.buf = a.st.nodes[id].out.appendTo(a.buf[:0])
		for _, e := range a.buf {
			if prefix != "" && a.st.term(e.b).HasPrefix(prefix) {
				dst = append(dst, e.b)
			}
		}
	}
	return dst
}

// sitelinks appends the IDs of the nodes ?s with ?s schema:about <id>.
func (a *graphApplier) sitelinks(dst []uint32, ids []uint32) []uint32 {
	for _, id := range ids {
		dst = append(dst, a.st.sitelinksOf[id]...)
	}
	return dst
}

// formsAndSenses appends the IDs of the objects of ontolex:lexicalForm and
// ontolex:sense from the nodes ids.
func (a *graphApplier) formsAndSenses(dst []uint32, ids []uint32) []uint32 {
	form, sense := a.st.lookup(iriLexicalForm), a.st.lookup(iriSense)
	if form == graphNoID && sense == graphNoID {
		return dst
	}
	for _, id := range ids {
		a.buf = a.st.nodes[id].out.appendTo(a.buf[:0])
		for _, e := range a.buf {
			if e.a != graphNoID && (e.a == form || e.a == sense) {
				dst = append(dst, e.b)
			}
		}
	}
	return dst
}

// entityIDs returns the IDs of the entities present in the graph.
func (a *graphApplier) entityIDs(entities []string) []uint32 {
	ids := make([]uint32, 0, len(entities))
	for _, e := range entities {
		if id := a.st.lookup(a.cfg.scheme.EntityTerm(e)); id != graphNoID {
			ids = append(ids, id)
		}
	}
	return ids
}

// deleteEntities runs the five steps of deleteEntity.sparql for all entities
// at once, each step matched against the graph the previous steps left, as
// the operations of one SPARQL update request are.
func (a *graphApplier) deleteEntities(entities []string) {
	ents := a.entityIDs(entities)
	if len(ents) == 0 {
		return
	}
	// Hold the entities so their IDs stay valid while their triples go.
	for _, id := range ents {
		a.st.nodes[id].refs++
	}
	defer func() {
		for _, id := range ents {
			a.st.release(id)
		}
	}()
	a.removeSubjects(a.statementNodes(nil, ents))
	if a.candidates != nil {
		// With orphan clean-up only the entity's schema:about links go: a
		// sitelink another entity also claims (a merge whose two edits
		// arrive out of order) keeps its block, and cleanOrphans deletes
		// the blocks no entity claims any more.
		a.unlinkSitelinks(ents)
	} else {
		a.removeSubjects(a.sitelinks(nil, ents))
	}
	subs := a.formsAndSenses(nil, ents)
	a.holdAll(subs)
	a.removeSubjects(a.statementNodes(nil, subs))
	a.removeSubjects(subs)
	a.releaseAll(subs)
	a.removeSubjects(ents)
}

func (a *graphApplier) holdAll(ids []uint32) {
	for _, id := range ids {
		a.st.nodes[id].refs++
	}
}

func (a *graphApplier) releaseAll(ids []uint32) {
	for _, id := range ids {
		a.st.release(id)
	}
}

// reconcile replaces an entity's own data with r.Triples (MultiSync).
func (a *graphApplier) reconcile(r *rdfdiff.Reconciliation) {
	keep := make(map[rdfdiff.Triple]struct{}, len(r.Triples))
	for _, tr := range r.Triples {
		keep[tr] = struct{}{}
	}
	entity := a.cfg.scheme.EntityTerm(r.EntityID)
	if eid := a.st.lookup(entity); eid != graphNoID {
		// The entity and its forms and senses, those in the graph and those
		// the new data links (a form being re-created may have stale data).
		nodes := []uint32{eid}
		nodes = a.formsAndSenses(nodes, nodes[:1])
		for _, tr := range r.Triples {
			if tr.S == entity && (tr.P == iriLexicalForm || tr.P == iriSense) {
				if id := a.st.lookup(tr.O); id != graphNoID {
					nodes = append(nodes, id)
				}
			}
		}
		a.holdAll(nodes)
		// 1. out-of-date sitelinks; 2. out-of-date statement triples;
		// 3. out-of-date triples of the entity (and forms and senses).
		a.removeSubjectsExcept(a.sitelinks(nil, nodes[:1]), keep)
		a.removeSubjectsExcept(a.statementNodes(nil, nodes), keep)
		a.removeSubjectsExcept(nodes, keep)
		a.releaseAll(nodes)
	}
	// 3b. out-of-date triples of every subject of the new data that the
	// entity owns (its namespace and its statement namespace), linked or
	// not: a borked store's stale statement node the entity no longer links
	// would survive the steps above. This goes further than WDQS, whose
	// MultiSync only clears statement nodes the store still links, and
	// matches what UpdateBuilder sends to a real store.
	var own []uint32
	for _, tr := range r.Triples {
		if tr.S.IsIRI() && (tr.S.HasPrefix(a.cfg.scheme.EntityPrefix()) || tr.S.HasPrefix(a.cfg.scheme.StatementPrefix())) {
			if id := a.st.lookup(tr.S); id != graphNoID && !slices.Contains(own, id) {
				own = append(own, id)
			}
		}
	}
	if len(own) > 0 {
		a.holdAll(own)
		a.removeSubjectsExcept(own, keep)
		a.releaseAll(own)
	}
	// 4. the new data.
	for _, tr := range r.Triples {
		a.st.add(tr)
	}
}

// removeSubjectsExcept deletes the triples whose subject is one of ids and
// that keep does not hold.
func (a *graphApplier) removeSubjectsExcept(ids []uint32, keep map[rdfdiff.Triple]struct{}) {
	for _, sid := range ids {
		a.buf = a.st.nodes[sid].out.appendTo(a.buf[:0])
		if len(a.buf) == 0 {
			continue
		}
		a.st.nodes[sid].refs++
		for _, e := range a.buf {
			if _, ok := keep[a.st.triple(sid, e.a, e.b)]; !ok {
				a.removeIDs(sid, e.a, e.b)
			}
		}
		a.st.release(sid)
	}
}

// cleanOrphans deletes the candidate value and reference nodes that no triple
// references any more, with all their triples, and then the candidates their
// deletion orphaned in turn.
func (a *graphApplier) cleanOrphans() {
	for len(a.candidates) > 0 {
		var t rdfdiff.Term
		for t = range a.candidates {
			break
		}
		delete(a.candidates, t)
		id := a.st.lookup(t)
		if id == graphNoID || !a.orphan(t, id) {
			continue
		}
		a.removeSubjects([]uint32{id})
	}
}

// referenced reports whether a triple other than a self-loop has id as its
// object.
func (a *graphApplier) referenced(id uint32) bool {
	in := &a.st.nodes[id].in
	if in.big != nil {
		for e := range in.big {
			if e.a != id {
				return true
			}
		}
		return false
	}
	for _, e := range in.small {
		if e.a != id {
			return true
		}
	}
	return false
}
