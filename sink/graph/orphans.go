package graph

import "gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"

// Vocabulary of orphan clean-up.
var (
	iriRDFType       = rdfdiff.NewIRI(rdfdiff.RDFType)
	iriSchemaArticle = rdfdiff.NewIRI("http://schema.org/Article")
	iriWikiGroup     = rdfdiff.NewIRI("http://wikiba.se/ontology#wikiGroup")
)

// orphan reports whether the candidate t (ID id) is a shared node nothing
// needs any more:
//
//   - a value or reference node that no triple references;
//   - a sitelink article (<article> a schema:Article) that is about no
//     entity any more: the block a rename, a removed sitelink, a sitelink
//     moved away or a deleted entity left behind;
//   - a site (<site> wikibase:wikiGroup …) that no triple references (no
//     sitelink is schema:isPartOf it any more).
//
// Any other node is never an orphan.
func (a *graphApplier) orphan(t rdfdiff.Term, id uint32) bool {
	if a.shared(t) {
		return !a.referenced(id)
	}
	var article, about, site bool
	typ, art := a.st.lookup(iriRDFType), a.st.lookup(iriSchemaArticle)
	group := a.st.lookup(iriWikiGroup)
	for _, e := range a.st.nodes[id].out.appendTo(nil) {
		switch {
		case e.a == graphNoID:
		case e.a == typ && e.b == art:
			article = true
		case e.a == a.st.aboutID:
			about = true
		case e.a == group:
			site = true
		}
	}
	switch {
	case article:
		return !about
	case site:
		return !a.referenced(id)
	}
	return false
}

// unlinkSitelinks deletes the schema:about links from sitelink articles to
// the entities ids, leaving the articles as orphan candidates.
func (a *graphApplier) unlinkSitelinks(ids []uint32) {
	about := a.st.aboutID
	if about == graphNoID {
		return
	}
	for _, ent := range ids {
		for _, art := range a.sitelinks(nil, []uint32{ent}) {
			a.removeIDs(art, about, ent)
		}
	}
}
