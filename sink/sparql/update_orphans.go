package sparql

import (
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// Vocabulary of orphan clean-up.
const (
	rdfType        = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
	schemaArticle  = "http://schema.org/Article"
	wikibaseGroup  = "http://wikiba.se/ontology#wikiGroup"
	orphanRounds   = 4 // reference → value → normalized value, article → site
	orphanMarkName = "orphanCandidate"
)

// WithUpdateOrphanCleanup makes every request delete, after the batch's
// data and before the commit point, the shared nodes the batch orphaned:
// value and reference nodes no triple references any more, sitelink
// articles (<article> a schema:Article) about no entity any more (the old
// page of a renamed sitelink, a removed or moved-away sitelink, a deleted
// entity's sitelink), and sites (<site> wikibase:wikiGroup …) no sitelink is
// part of any more — and, in turn, what only those referenced. Entity
// deletes then remove only the entity's schema:about links from its
// sitelinks, so that a sitelink another entity took over in a merge keeps
// its block. The store then holds exactly a fresh import of the entities'
// latest revisions, as sink/graph's WithOrphanCleanup does (the same
// property test runs on both).
//
// The WDQS consumer never deletes shared nodes nor sitelink remnants, and its
// entity delete drops every triple of the entity's sitelinks: here we
// deliberately do better than WDQS. The cost is proportional to the batch:
// the candidates (objects of removed triples, subjects of linked- and
// unlinked-shared triples, articles that lost their schema:about link,
// objects of deleted entities' statement nodes) are marked with a temporary
// <ns>orphanCandidate triple in the data graph inside the same request,
// checked, and the marks removed before the request ends.
//
// An option of NewUpdateBuilder.
func WithUpdateOrphanCleanup() Option {
	return builderOption("WithUpdateOrphanCleanup", func(b *UpdateBuilder) { b.orphanCleanup = true })
}

func (b *UpdateBuilder) markIRI() string { return b.commitNS + orphanMarkName }

// markCandidates inserts the marks of the candidates the patch names.
func (b *UpdateBuilder) markCandidates(w *updateWriter, p *rdfdiff.ConsolidatedPatch) error {
	mark, one := rdfdiff.NewIRI(b.markIRI()), rdfdiff.NewLiteral("1")
	seen := map[rdfdiff.Term]bool{}
	var ts []rdfdiff.Triple
	add := func(t rdfdiff.Term) {
		if t.IsIRI() && !seen[t] {
			seen[t] = true
			ts = append(ts, rdfdiff.Triple{S: t, P: mark, O: one})
		}
	}
	for _, tr := range p.Removed {
		add(tr.O)
		if tr.P.IsIRIEqual(schemaAbout) {
			add(tr.S)
		}
	}
	for _, tr := range p.LinkedShared {
		add(tr.S)
	}
	for _, tr := range p.UnlinkedShared {
		add(tr.S)
	}
	return w.data("INSERT DATA", b.graph, ts)
}

// markEntityCandidates marks, before the entity-delete templates run, the
// IRI objects of the entities' statement nodes (and of their forms' and
// senses' statement nodes) and the entities' sitelink articles.
func (b *UpdateBuilder) markEntityCandidates(w *updateWriter, values, inStatementNS, formOrSense string) {
	mark := "<" + b.markIRI() + "> \"1\" ."
	w.insertWhere(b.graph, "?o "+mark, values,
		"?entity ?x ?st . "+inStatementNS+"\n?st ?p ?o . FILTER(isIRI(?o))")
	w.insertWhere(b.graph, "?o "+mark, values,
		formOrSense+"\n?fs ?x ?st . "+inStatementNS+"\n?st ?p ?o . FILTER(isIRI(?o))")
	w.insertWhere(b.graph, "?sl "+mark, values, "?sl <"+schemaAbout+"> ?entity .")
}

// cleanOrphans deletes the marked candidates that are orphans, marking
// what they referenced, for a few rounds (the longest chain is statement →
// reference → value → normalized value), then removes every mark.
func (b *UpdateBuilder) cleanOrphans(w *updateWriter) {
	mark := "<" + b.markIRI() + ">"
	value := string(appendSPARQLString(nil, b.scheme.ValuePrefix()))
	ref := string(appendSPARQLString(nil, b.scheme.ReferencePrefix()))
	unreferenced := "FILTER NOT EXISTS { ?x ?y ?c . FILTER(?x != ?c) }"
	orphan := "{ ?c " + mark + " ?m . FILTER(STRSTARTS(STR(?c), " + value + ") || STRSTARTS(STR(?c), " + ref + ")) " + unreferenced + " }\n" +
		"UNION { ?c " + mark + " ?m . ?c <" + rdfType + "> <" + schemaArticle + "> . FILTER NOT EXISTS { ?c <" + schemaAbout + "> ?e } }\n" +
		"UNION { ?c " + mark + " ?m . ?c <" + wikibaseGroup + "> ?g . " + unreferenced + " }\n"
	for range orphanRounds {
		w.insertWhere(b.graph, "?o "+mark+" \"1\" .", "", orphan+"?c ?p ?o . FILTER(isIRI(?o))")
		w.deleteWhere(b.graph, "?c ?p ?o .", "", orphan+"?c ?p ?o .")
	}
	w.deleteWhere(b.graph, "?c "+mark+" ?m .", "", "?c "+mark+" ?m .")
}

// insertWhere writes INSERT { tmpl } WHERE { values where } in graph.
func (w *updateWriter) insertWhere(graph, tmpl, values, where string) {
	w.modifyWhere("INSERT", graph, tmpl, values, where)
}
