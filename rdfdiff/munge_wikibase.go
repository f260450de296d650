package rdfdiff

import (
	"errors"
	"slices"
	"strings"
)

// NamespaceOntologyBeta is the Wikibase ontology namespace of old Wikibase
// releases. The munger rewrites every IRI in it to the same IRI in
// http://wikiba.se/ontology#, as WDQS normalises RDF before storing it, so
// that one query serves the RDF of old and new releases alike.
const NamespaceOntologyBeta = "http://wikiba.se/ontology-beta#"

// ErrUnsupportedDumpFormat means a dump's header declares a Wikibase RDF
// format version (schema:softwareVersion) older than 1.0.0, whose value
// layout the munger does not convert.
var ErrUnsupportedDumpFormat = errors.New("rdfdiff: unsupported dump format version")

var (
	iriSchemaDescription   = NewIRI(nsSchemaOrg + "description")
	iriSchemaSoftwareVer   = NewIRI(nsSchemaOrg + "softwareVersion")
	iriSKOSAltLabel        = NewIRI("http://www.w3.org/2004/02/skos/core#altLabel")
	ontologyBetaPrefixTerm = NamespaceOntologyBeta
)

// NormalizeOntologyBeta returns ts with every IRI subject, predicate, object
// and literal datatype in NamespaceOntologyBeta moved to the current
// ontology namespace (wikibase-beta:Item becomes wikibase:Item). It copies
// ts only when something changes; ts itself is never modified. The munger
// calls it first, so callers need it only for RDF they do not munge.
func NormalizeOntologyBeta(ts []Triple) []Triple {
	var out []Triple
	for i, tr := range ts {
		n, changed := normalizeBetaTriple(tr)
		if !changed {
			if out != nil {
				out = append(out, tr)
			}
			continue
		}
		if out == nil {
			out = make([]Triple, i, len(ts))
			copy(out, ts[:i])
		}
		out = append(out, n)
	}
	if out == nil {
		return ts
	}
	return out
}

func normalizeBetaTriple(tr Triple) (Triple, bool) {
	s, c1 := normalizeBetaTerm(tr.S)
	p, c2 := normalizeBetaTerm(tr.P)
	o, c3 := normalizeBetaTerm(tr.O)
	return Triple{S: s, P: p, O: o}, c1 || c2 || c3
}

func normalizeBetaTerm(t Term) (Term, bool) {
	switch {
	case t.IsIRI():
		if t.HasPrefix(ontologyBetaPrefixTerm) {
			return NewIRI(nsWikibaseOntology + strings.TrimPrefix(t.Value(), ontologyBetaPrefixTerm)), true
		}
	case t.IsLiteral():
		if dt := t.Datatype(); strings.HasPrefix(dt, ontologyBetaPrefixTerm) {
			return NewTypedLiteral(t.Value(), nsWikibaseOntology+strings.TrimPrefix(dt, ontologyBetaPrefixTerm)), true
		}
	}
	return t, false
}

// MungeLabelLanguages keeps the entity's labels (rdfs:label), descriptions
// (schema:description) and aliases (skos:altLabel) only in the given
// languages, as WDQS's label-languages option does; terms in other languages,
// and terms without a language, are dropped. No languages (the default)
// keeps every language.
func MungeLabelLanguages(langs ...string) MungerOption {
	return func(m *Munger) {
		m.labelLanguages = nil
		if len(langs) > 0 {
			m.labelLanguages = map[string]bool{}
			for _, l := range langs {
				m.labelLanguages[strings.ToLower(l)] = true
			}
		}
	}
}

// MungeSingleLabel keeps at most one label (rdfs:label) and one description
// (schema:description) per entity, as WDQS's single-label option does: the
// one in the first of langs, a fallback list, that the entity has; an entity
// with none of them gets no label (or no description). Aliases are not
// touched (MungeLabelLanguages limits them). No languages (the default) turns
// the option off.
func MungeSingleLabel(langs ...string) MungerOption {
	return func(m *Munger) {
		m.singleLabel = nil
		for _, l := range langs {
			m.singleLabel = append(m.singleLabel, strings.ToLower(l))
		}
	}
}

// keepTerm applies MungeLabelLanguages to an entity triple; it reports
// whether the triple stays.
func (m *Munger) keepTerm(tr Triple) bool {
	if m.labelLanguages == nil {
		return true
	}
	if tr.P != wv.RDFSLabel && tr.P != iriSchemaDescription && tr.P != iriSKOSAltLabel {
		return true
	}
	return m.labelLanguages[strings.ToLower(tr.O.Lang())]
}

// applySingleLabel drops, from the triples of own entities, every label and
// description but the best by the MungeSingleLabel fallback list.
func (op *mungeOp) applySingleLabel(out []Triple) []Triple {
	langs := op.m.singleLabel
	if len(langs) == 0 {
		return out
	}
	type key struct{ s, p Term }
	best := map[key]int{}
	rank := func(tr Triple) (int, bool) {
		if (tr.P != wv.RDFSLabel && tr.P != iriSchemaDescription) || !op.isOwnEntity(tr.S) {
			return 0, false
		}
		i := slices.Index(langs, strings.ToLower(tr.O.Lang()))
		if i < 0 {
			return len(langs), true
		}
		return i, true
	}
	for _, tr := range out {
		if r, ok := rank(tr); ok && r < len(langs) {
			k := key{tr.S, tr.P}
			if b, seen := best[k]; !seen || r < b {
				best[k] = r
			}
		}
	}
	return slices.DeleteFunc(out, func(tr Triple) bool {
		r, ok := rank(tr)
		if !ok {
			return false
		}
		b, seen := best[key{tr.S, tr.P}]
		return !seen || r != b
	})
}

// MungedDump is the munged RDF of a multi-entity dump (or a chunk of one).
type MungedDump struct {
	// Header holds the triples about wikibase:Dump (its types, licence,
	// schema:softwareVersion, schema:dateModified, owl:imports), kept as
	// they are, as WDQS pipes them straight through; sorted, no duplicates.
	Header []Triple
	// FormatVersion is the header's schema:softwareVersion ("1.0.0"), or ""
	// without one.
	FormatVersion string
	// Entities are the munged entities in the order the dump first names
	// them.
	Entities []MungedEntity
	// Triples is the header and every entity's triples: a set, sorted by
	// Triple.Compare.
	Triples []Triple
}

// MungeDump munges a Wikibase dump (or a chunk of one) holding many
// entities, as WDQS munges dumps before loading them: each entity is munged
// as MungeEntity does, and the dump header is kept. A dump writes each
// entity as one block that starts with its entity-data node (data:Q42 …),
// so a triple belongs to the entity whose entity-data node came last before
// it (triples before the first one, to the first entity); a block that
// returns to an entity already seen is added to it. Errors are *MungeError
// values (for the first entity that fails) or wrap
// ErrUnsupportedDumpFormat.
func (m *Munger) MungeDump(ts []Triple) (MungedDump, error) {
	ts = NormalizeOntologyBeta(ts)
	var d MungedDump
	var ids []string
	blocks := map[string][]Triple{}
	var pending []Triple // before the first entity-data node
	cur := ""
	for _, tr := range ts {
		if tr.S == wv.WikibaseDump {
			d.Header = append(d.Header, tr)
			if tr.P == iriSchemaSoftwareVer && tr.O.IsLiteral() {
				d.FormatVersion = tr.O.Value()
			}
			continue
		}
		if id, ok := m.dataNodeID(tr.S); ok && id != cur {
			cur = id
			if _, seen := blocks[id]; !seen {
				ids = append(ids, id)
				blocks[id] = pending
				pending = nil
			}
		}
		if cur == "" {
			pending = append(pending, tr)
			continue
		}
		blocks[cur] = append(blocks[cur], tr)
	}
	if v := d.FormatVersion; v != "" && (strings.HasPrefix(v, "0.") || v == "0") {
		return MungedDump{}, &MungeError{Err: ErrUnsupportedDumpFormat, Detail: "schema:softwareVersion " + v + "; convert the dump with a Wikibase of format 1.0.0 or later"}
	}
	if len(ids) == 0 && len(pending) > 0 {
		return MungedDump{}, &MungeError{Err: ErrNoEntityData, Detail: "no entity-data node (data:…) in the dump, so no entity to munge"}
	}
	d.Header = sortedSet(d.Header)
	all := slices.Clone(d.Header)
	for _, id := range ids {
		me, err := m.MungeEntity(id, blocks[id])
		if err != nil {
			return MungedDump{}, err
		}
		d.Entities = append(d.Entities, me)
		all = append(all, me.Triples...)
	}
	d.Triples = sortedSet(all)
	return d, nil
}

// dataNodeID returns the entity ID of an entity-data node of the scheme.
func (m *Munger) dataNodeID(t Term) (string, bool) {
	if !t.IsIRI() || !m.scheme.InEntityDataNamespace(t) {
		return "", false
	}
	v := t.Value()
	for _, p := range m.scheme.entityData {
		if id, ok := strings.CutPrefix(v, p); ok && validEntityID(id) {
			return id, true
		}
	}
	return "", false
}
