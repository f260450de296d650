package rdfdiff

// Skolemization (RDF 1.1 Concepts §3.5) replaces blank nodes with IRIs under
// a well-known genid prefix. A store cannot match a blank node in DELETE
// DATA, so an entity whose RDF holds blank nodes (somevalue snaks, OWL
// complement classes of novalue) could never have those triples removed;
// with skolem IRIs every diff applies by exact triple match.

// Skolemize returns the skolem IRI of a blank node,
// <GenIDPrefix()><label>, e.g. _:4249d9c2… becomes
// <http://www.wikidata.org/.well-known/genid/4249d9c2…>. Wikibase labels are
// content hashes, so the same blank node gets the same IRI in every revision
// and every entity. Other terms are returned unchanged.
func (s URIScheme) Skolemize(t Term) Term {
	if !t.IsBlankNode() || s.genID == "" {
		return t
	}
	return NewIRI(s.genID + t.nt[2:])
}

// SkolemizeTriple skolemizes the subject and the object of tr.
func (s URIScheme) SkolemizeTriple(tr Triple) Triple {
	if tr.S.IsBlankNode() {
		tr.S = s.Skolemize(tr.S)
	}
	if tr.O.IsBlankNode() {
		tr.O = s.Skolemize(tr.O)
	}
	return tr
}

// SkolemizeTriples returns ts with every blank-node subject or object
// replaced by its skolem IRI. It copies ts only when something changes, so
// it is free on RDF without blank nodes; ts itself is never modified.
func (s URIScheme) SkolemizeTriples(ts []Triple) []Triple {
	return mapBlankNodes(ts, s.SkolemizeTriple)
}

// mapBlankNodes returns ts with f applied to every triple holding a blank
// node, copying ts only from the first such triple on: RDF without blank
// nodes costs nothing, and ts itself is never modified.
func mapBlankNodes(ts []Triple, f func(Triple) Triple) []Triple {
	var out []Triple
	for i, tr := range ts {
		if !tr.S.IsBlankNode() && !tr.O.IsBlankNode() {
			if out != nil {
				out = append(out, tr)
			}
			continue
		}
		if out == nil {
			out = make([]Triple, i, len(ts))
			copy(out, ts[:i])
		}
		out = append(out, f(tr))
	}
	if out == nil {
		return ts
	}
	return out
}

// IsSkolemIRI reports whether t is a skolem IRI of this scheme (an IRI under
// GenIDPrefix). WDQS treats such subjects like blank nodes: they declare
// anonymous classes and values that belong to no entity namespace.
func (s URIScheme) IsSkolemIRI(t Term) bool {
	return s.genID != "" && t.HasPrefix(s.genID) && len(t.nt) > len(s.genID)+2
}
