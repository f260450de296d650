package rdftest

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// Vocabulary of the edit model.
var (
	schemaAbout   = IRI("http://schema.org/about")
	schemaName    = IRI("http://schema.org/name")
	schemaIsPart  = IRI("http://schema.org/isPartOf")
	schemaVersion = IRI("http://schema.org/version")
	wikiGroup     = IRI("http://wikiba.se/ontology#wikiGroup")
	owlSameAs     = IRI("http://www.w3.org/2002/07/owl#sameAs")
)

// Edits is a model of a wiki's history over real munged entities: random
// plain edits (statements, forms and senses removed or restored), page
// renames of sitelinks, merges into redirects (the sitelinks move to the
// target, the source becomes a redirect; the two edits arrive in either
// order, and the redirect is sometimes deleted at once), deletes and
// undeletes. Each step returns the changes the updater
// would emit; Final returns what a fresh import of every existing entity's
// latest revision holds. It is not safe for concurrent use.
type Edits struct {
	r     *rand.Rand
	rev   int64
	ids   []string
	ents  map[string]*editEntity
	sites map[rdfdiff.Term][]rdfdiff.Triple // site → its wikibase:wikiGroup triples
}

type editEntity struct {
	id        string
	term      rdfdiff.Term
	own       []rdfdiff.Triple // without version, sitelink blocks and site triples
	droppable []rdfdiff.Term
	dropped   map[rdfdiff.Term]bool
	sitelinks map[rdfdiff.Term][]rdfdiff.Triple // article → its block without schema:about
	redirect  rdfdiff.Term                      // the merge target, or zero
	rev       int64
	present   bool // imported and not deleted
}

// NewEdits returns the model over the munged entities (ID → triples); no
// entity exists yet: the first step of each is its creation.
func NewEdits(r *rand.Rand, entities map[string][]rdfdiff.Triple) *Edits {
	e := &Edits{r: r, ents: map[string]*editEntity{}, sites: map[rdfdiff.Term][]rdfdiff.Triple{}}
	for id, ts := range entities {
		e.ids = append(e.ids, id)
		ent := &editEntity{id: id, term: WD.EntityTerm(id), dropped: map[rdfdiff.Term]bool{}, sitelinks: map[rdfdiff.Term][]rdfdiff.Triple{}}
		articles := map[rdfdiff.Term]bool{}
		for _, tr := range ts {
			if tr.P == schemaAbout && tr.O == ent.term {
				articles[tr.S] = true
			}
		}
		for _, tr := range ts {
			switch {
			case tr.P == wikiGroup:
				if !slices.Contains(e.sites[tr.S], tr) {
					e.sites[tr.S] = append(e.sites[tr.S], tr)
				}
			case articles[tr.S]:
				if tr.P != schemaAbout {
					ent.sitelinks[tr.S] = append(ent.sitelinks[tr.S], tr)
				}
			case tr.S == ent.term && tr.P == schemaVersion:
			default:
				ent.own = append(ent.own, tr)
				if tr.S == ent.term && (tr.O.HasPrefix(WD.StatementPrefix()) || tr.P == LexicalForm || tr.P == Sense) {
					ent.droppable = append(ent.droppable, tr.O)
				}
			}
		}
		e.ents[id] = ent
	}
	slices.Sort(e.ids)
	return e
}

// render is the munged RDF of ent's current revision.
func (e *Edits) render(ent *editEntity) []rdfdiff.Triple {
	version := Tri(ent.term, schemaVersion, rdfdiff.NewTypedLiteral(fmt.Sprint(ent.rev), rdfdiff.XSDInteger))
	if !ent.redirect.IsZero() {
		return []rdfdiff.Triple{version, Tri(ent.term, owlSameAs, ent.redirect)}
	}
	var ts []rdfdiff.Triple
	for _, tr := range ent.own {
		if !ent.dropped[tr.S] && !ent.dropped[tr.O] {
			ts = append(ts, tr)
		}
	}
	ts = Prune(append(ts, version), func(t rdfdiff.Term) bool {
		return t.HasPrefix(WD.StatementPrefix()) || WD.InValueNamespace(t) || WD.InReferenceNamespace(t) ||
			t.HasPrefix(WD.EntityPrefix()+ent.id+"-")
	})
	sites := map[rdfdiff.Term]bool{}
	for a, block := range ent.sitelinks {
		ts = append(ts, Tri(a, schemaAbout, ent.term))
		ts = append(ts, block...)
		for _, tr := range block {
			if tr.P == schemaIsPart {
				sites[tr.O] = true
			}
		}
	}
	for s := range sites {
		ts = append(ts, e.sites[s]...)
	}
	rdfdiff.SortTriples(ts)
	return Dedup(ts)
}

// Final returns the union of every existing entity's latest revision: what
// a fresh import holds.
func (e *Edits) Final() []rdfdiff.Triple {
	var ts []rdfdiff.Triple
	for _, id := range e.ids {
		if ent := e.ents[id]; ent.present {
			ts = append(ts, e.render(ent)...)
		}
	}
	rdfdiff.SortTriples(ts)
	return Dedup(ts)
}

// Step makes one random edit and returns its changes, in the order the
// updater emits them, with a description.
func (e *Edits) Step() ([]*rdfdiff.EntityChange, string) {
	ent := e.ents[e.ids[e.r.IntN(len(e.ids))]]
	if !ent.present {
		return e.undelete(ent), "create/undelete " + ent.id
	}
	switch k := e.r.IntN(20); {
	case k < 2:
		ent.present = false
		return []*rdfdiff.EntityChange{Delete(ent.id)}, "delete " + ent.id
	case k < 7 && ent.redirect.IsZero() && len(ent.sitelinks) > 0:
		return e.rename(ent)
	case k < 10 && ent.redirect.IsZero():
		if cs, what := e.merge(ent); cs != nil {
			return cs, what
		}
	}
	old := e.render(ent)
	ent.redirect = rdfdiff.Term{} // an edit of a redirect reverts it
	for _, t := range ent.droppable {
		if e.r.IntN(4) == 0 {
			ent.dropped[t] = !ent.dropped[t]
		}
	}
	return []*rdfdiff.EntityChange{e.diff(ent, old)}, "edit " + ent.id
}

func (e *Edits) diff(ent *editEntity, old []rdfdiff.Triple) *rdfdiff.EntityChange {
	e.rev++
	ent.rev = e.rev
	return Diff(ent.id, ent.rev, old, e.render(ent))
}

func (e *Edits) undelete(ent *editEntity) []*rdfdiff.EntityChange {
	e.rev++
	ent.rev, ent.present = e.rev, true
	return []*rdfdiff.EntityChange{Import(ent.id, ent.rev, e.render(ent))}
}

// rename moves one sitelink to a new page title on the same site.
func (e *Edits) rename(ent *editEntity) ([]*rdfdiff.EntityChange, string) {
	old := e.render(ent)
	articles := sortedKeys(ent.sitelinks)
	a := articles[e.r.IntN(len(articles))]
	to := IRI(fmt.Sprintf("%s_(r%d)", a.Value(), e.rev+1))
	var block []rdfdiff.Triple
	for _, tr := range ent.sitelinks[a] {
		tr.S = to
		if tr.P == schemaName {
			tr.O = rdfdiff.NewLangLiteral(fmt.Sprintf("%s (r%d)", tr.O.Value(), e.rev+1), tr.O.Lang())
		}
		block = append(block, tr)
	}
	delete(ent.sitelinks, a)
	ent.sitelinks[to] = block
	return []*rdfdiff.EntityChange{e.diff(ent, old)}, fmt.Sprintf("rename %s %s → %s", ent.id, a, to)
}

// merge merges src into another existing entity: src's sitelinks on sites
// the target lacks move to the target (the others are dropped, as a merge
// needs them gone), and src becomes a redirect. The target's edit and the
// source's come in random order.
func (e *Edits) merge(src *editEntity) ([]*rdfdiff.EntityChange, string) {
	var targets []*editEntity
	for _, id := range e.ids {
		if t := e.ents[id]; t != src && t.present && t.redirect.IsZero() {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return nil, ""
	}
	dst := targets[e.r.IntN(len(targets))]
	oldSrc, oldDst := e.render(src), e.render(dst)
	taken := map[rdfdiff.Term]bool{}
	for _, block := range dst.sitelinks {
		for _, tr := range block {
			if tr.P == schemaIsPart {
				taken[tr.O] = true
			}
		}
	}
	for _, a := range sortedKeys(src.sitelinks) {
		block := src.sitelinks[a]
		site := rdfdiff.Term{}
		for _, tr := range block {
			if tr.P == schemaIsPart {
				site = tr.O
			}
		}
		if !taken[site] {
			dst.sitelinks[a] = block
		}
		delete(src.sitelinks, a)
	}
	src.redirect = dst.term
	cs := []*rdfdiff.EntityChange{e.diff(dst, oldDst), e.diff(src, oldSrc)}
	if e.r.IntN(2) == 0 {
		cs[0], cs[1] = cs[1], cs[0]
	}
	what := fmt.Sprintf("merge %s into %s (%s first)", src.id, dst.id, cs[0].EntityID)
	if e.r.IntN(3) == 0 {
		// The redirect page is deleted right away.
		src.present = false
		cs = append(cs, Delete(src.id))
		what += ", redirect deleted"
	}
	return cs, what
}

func sortedKeys(m map[rdfdiff.Term][]rdfdiff.Triple) []rdfdiff.Term {
	out := make([]rdfdiff.Term, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, rdfdiff.Term.Compare)
	return out
}
