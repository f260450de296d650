package sparql

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// This file generates the mutation stream of the differential test
// (sparql_differential_test.go): thousands of rdf_change events over real
// Wikidata entities, produced the way the WDQS producer produces them
// (revision → munged RDF → diff → chunked JSON events), decoded and
// reassembled the way the consumer reads them, and accumulated into batches.
// Everything is derived from one seed, so a failure is replayed exactly.

// Vocabulary the generator edits.
var (
	dsRDFSLabel    = rdfdiff.NewIRI("http://www.w3.org/2000/01/rdf-schema#label")
	dsSchemaName   = rdfdiff.NewIRI("http://schema.org/name")
	dsSchemaDesc   = rdfdiff.NewIRI("http://schema.org/description")
	dsSkosAlt      = rdfdiff.NewIRI("http://www.w3.org/2004/02/skos/core#altLabel")
	dsSkosPref     = rdfdiff.NewIRI("http://www.w3.org/2004/02/skos/core#prefLabel")
	dsDateModified = rdfdiff.NewIRI("http://schema.org/dateModified")
	dsArticle      = rdfdiff.NewIRI("http://schema.org/Article")
	dsIsPartOf     = rdfdiff.NewIRI("http://schema.org/isPartOf")
	dsInLanguage   = rdfdiff.NewIRI("http://schema.org/inLanguage")
	dsRank         = rdfdiff.NewIRI("http://wikiba.se/ontology#rank")
	dsNormalRank   = rdfdiff.NewIRI("http://wikiba.se/ontology#NormalRank")
	dsStatement    = rdfdiff.NewIRI("http://wikiba.se/ontology#Statement")
)

// dsTricky are pieces of text the generator puts into labels and statement
// values, so that the differential test also exercises the term writer on
// every store: quotes, backslashes (also before "u"), line breaks, controls,
// combining characters, right-to-left text, astral characters.
var dsTricky = []string{
	`"`, `\`, `\u0041`, "\n", "\r\n", "\t", "\x01", "\x7f", "e\u0301", "\u05e9\u05dc\u05d5\u05dd", "中文",
	"😀", "𝄞", "\u2028", "\ufeff", "'", `"""`, "}", "{", ">", "<", " . ", ";", "#", "@en", "^^", "a\u0308\u0323",
}

// dsTrickyText returns a short string made of letters and tricky pieces.
func dsTrickyText(r *rand.Rand, prefix string) string {
	var sb strings.Builder
	sb.WriteString(prefix)
	for range 1 + r.IntN(6) {
		if r.IntN(2) == 0 {
			sb.WriteString(dsTricky[r.IntN(len(dsTricky))])
		} else {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
	}
	return sb.String()
}

// dsEntity is one entity of the stream: the real revisions it can take and
// the revision it is at.
type dsEntity struct {
	id string
	// bases are real munged revisions of the entity (two for Q42).
	bases [][]rdfdiff.Triple
	// cur is the entity's current revision as the producer knows it; nil
	// while the entity is deleted (or not created yet).
	cur []rdfdiff.Triple
}

// dsStream generates the events.
type dsStream struct {
	r     *rand.Rand
	ents  []*dsEntity
	clock time.Time
	rev   int64
	// refBlocks are reference and value nodes with their triples, taken from
	// every entity, that new statements cite: nodes shared between entities
	// as content-hashed references are in Wikidata.
	refBlocks [][]rdfdiff.Triple
	// Counts of what was generated, for the test log.
	ops map[string]int
	// genSites counts the generated sites: each new sitelink gets a new
	// site, so that no revision has two sitelinks to one site (which the
	// consumer's sitelink reclassification refuses), also after it took
	// over another entity's sitelink.
	genSites int
}

// dsLoadTurtle parses a Turtle fixture of testdata/<dir>.
func dsLoadTurtle(t testing.TB, dir, name string) []rdfdiff.Triple {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", dir, name))
	require.NoError(t, err)
	ts, err := rdfdiff.ParseTurtleBytes(data, rdfdiff.WithFileName(name), rdfdiff.WithBaseIRI("http://www.wikidata.org/"))
	require.NoError(t, err)
	return ts
}

// dsMunge munges raw Special:EntityData RDF of id as the producer does
// (skolemized blank nodes), keeping only the triples the munger assigns to
// the entity.
func dsMunge(t testing.TB, id string, raw []rdfdiff.Triple) []rdfdiff.Triple {
	t.Helper()
	ts, err := rdfdiff.NewMunger(wd).Munge(id, raw)
	require.NoError(t, err, id)
	return ts
}

// dsStoreSafe drops what some store cannot hold at all, so that all stores
// get the same stream: Oxigraph 0.5 refuses language tags with a subtag
// longer than eight characters (Wikidata's "zh-classical"), see
// oxigraphRefuses. A real sink dead-letters such patches.
func dsStoreSafe(ts []rdfdiff.Triple) []rdfdiff.Triple {
	return slices.DeleteFunc(slices.Clone(ts), oxigraphRefuses)
}

// dsRealEntities loads every real entity of the fixtures: four munged ones as
// the WDQS integration tests use them, and five raw dumps munged here (Q42 at
// a later revision than Q42-munged, two lexemes, Q8 and Q31).
func dsRealEntities(t testing.TB) []*dsEntity {
	t.Helper()
	chunk := dsLoadTurtle(t, "differential", "small_dump_chunk.ttl")
	q42 := &dsEntity{id: "Q42", bases: [][]rdfdiff.Triple{
		dsLoadTurtle(t, "graph", "Q42-munged.ttl"),
		dsMunge(t, "Q42", dsLoadTurtle(t, "differential", "Q42.ttl")),
	}}
	ents := []*dsEntity{
		q42,
		{id: "Q513", bases: [][]rdfdiff.Triple{dsLoadTurtle(t, "graph", "Q513-munged.ttl")}},
		{id: "L4082", bases: [][]rdfdiff.Triple{dsLoadTurtle(t, "graph", "L4082-munged.ttl")}},
		{id: "L691820", bases: [][]rdfdiff.Triple{dsMunge(t, "L691820", dsLoadTurtle(t, "graph", "L691820.ttl"))}},
		{id: "L4696", bases: [][]rdfdiff.Triple{dsMunge(t, "L4696", dsLoadTurtle(t, "differential", "L4696.ttl"))}},
		{id: "Q8", bases: [][]rdfdiff.Triple{dsMunge(t, "Q8", chunk)}},
		{id: "Q31", bases: [][]rdfdiff.Triple{dsMunge(t, "Q31", chunk)}},
	}
	for _, e := range ents {
		for i := range e.bases {
			e.bases[i] = dsStoreSafe(e.bases[i])
			require.NotEmpty(t, e.bases[i], e.id)
		}
	}
	return ents
}

// dsClone returns base rewritten as entity newID: the entity, its statement
// nodes and its forms and senses get newID's IRIs and its sitelinks new
// article IRIs, while value and reference nodes, sites and links to other
// entities stay — so clones share real value and reference nodes with the
// original. keep is the fraction of statements, sitelinks, labels,
// descriptions and aliases kept, so that clones of big entities stay small.
func dsClone(r *rand.Rand, id string, base []rdfdiff.Triple, newID string, keep float64) []rdfdiff.Triple {
	entity, newEntity := wd.EntityIRI(id), wd.EntityIRI(newID)
	stmt := wd.StatementPrefix()
	drop := map[rdfdiff.Term]bool{}
	ent := rdfdiff.NewIRI(entity)
	for _, tr := range base {
		if (tr.S == ent && tr.O.HasPrefix(stmt) || tr.P == rdftest.SchemaAbout && tr.O == ent) && r.Float64() > keep {
			drop[tr.O] = true
			drop[tr.S] = true
		}
	}
	drop[ent] = false
	rename := func(t rdfdiff.Term) rdfdiff.Term {
		if !t.IsIRI() {
			return t
		}
		v := t.Value()
		switch {
		case v == entity:
			return rdfdiff.NewIRI(newEntity)
		case strings.HasPrefix(v, entity+"-"):
			return rdfdiff.NewIRI(newEntity + v[len(entity):])
		case strings.HasPrefix(v, stmt+id+"-"), strings.HasPrefix(v, stmt+strings.ToLower(id)+"-"):
			return rdfdiff.NewIRI(stmt + newID + v[len(stmt)+len(id):])
		}
		return t
	}
	articles := map[rdfdiff.Term]bool{}
	for _, tr := range base {
		if tr.P == rdftest.SchemaAbout && tr.O == ent {
			articles[tr.S] = true
		}
	}
	var out []rdfdiff.Triple
	for _, tr := range base {
		if drop[tr.S] || drop[tr.O] || tr.S == ent && tr.O.Lang() != "" && r.Float64() > keep {
			continue
		}
		if articles[tr.S] {
			tr.S = rdfdiff.NewIRI(tr.S.Value() + "_clone_" + newID)
		}
		out = append(out, rdfdiff.Triple{S: rename(tr.S), P: tr.P, O: rename(tr.O)})
	}
	return dsPrune(newID, out)
}

// dsPrune drops statement, value and reference nodes and forms and senses of
// id that nothing links any more, as a munged revision never holds them.
func dsPrune(id string, ts []rdfdiff.Triple) []rdfdiff.Triple {
	own := wd.EntityIRI(id) + "-"
	return rdftest.Prune(ts, func(t rdfdiff.Term) bool {
		return t.HasPrefix(wd.StatementPrefix()) || wd.InValueNamespace(t) || wd.InReferenceNamespace(t) || t.HasPrefix(own)
	})
}

// newDSStream returns a stream over the real entities and clones of them:
// clones entities per real one. Real entities of more than maxReal triples
// (0: no limit) take part only through their (smaller) clones, which keeps
// the stream light for slow stores.
func newDSStream(t testing.TB, seed uint64, clones, maxReal int) *dsStream {
	s := &dsStream{r: rand.New(rand.NewPCG(seed, 0x5eed)), ops: map[string]int{},
		clock: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), rev: 2_000_000_000}
	real := dsRealEntities(t)
	for _, e := range real {
		if maxReal == 0 || len(e.bases[0]) <= maxReal {
			s.ents = append(s.ents, e)
		}
	}
	for i := range clones {
		for j, e := range real {
			newID := fmt.Sprintf("%c%d", e.id[0], 9_000_000+i*100+j)
			keep := min(1, 250/float64(len(e.bases[0])))
			s.ents = append(s.ents, &dsEntity{id: newID, bases: [][]rdfdiff.Triple{dsClone(s.r, e.id, e.bases[0], newID, keep)}})
		}
	}
	seen := map[rdfdiff.Term]bool{}
	for _, e := range s.ents {
		for _, base := range e.bases {
			for _, block := range dsSharedBlocks(base) {
				if !seen[block[0].S] {
					seen[block[0].S] = true
					s.refBlocks = append(s.refBlocks, block)
				}
			}
		}
	}
	return s
}

// dsSharedBlocks groups the triples of ts whose subject is a reference node
// (with the value nodes they cite) by subject.
func dsSharedBlocks(ts []rdfdiff.Triple) [][]rdfdiff.Triple {
	by := map[rdfdiff.Term][]rdfdiff.Triple{}
	var order []rdfdiff.Term
	for _, tr := range ts {
		if wd.InReferenceNamespace(tr.S) {
			if by[tr.S] == nil {
				order = append(order, tr.S)
			}
			by[tr.S] = append(by[tr.S], tr)
		}
	}
	values := map[rdfdiff.Term][]rdfdiff.Triple{}
	for _, tr := range ts {
		if wd.InValueNamespace(tr.S) {
			values[tr.S] = append(values[tr.S], tr)
		}
	}
	var out [][]rdfdiff.Triple
	for _, s := range order {
		block := slices.Clone(by[s])
		for _, tr := range by[s] {
			block = append(block, values[tr.O]...)
		}
		out = append(out, block)
	}
	return out
}

// next returns the next revision of e: its current revision (or a real
// base) with one to three edits, a new schema:version and dateModified.
func (s *dsStream) next(e *dsEntity) []rdfdiff.Triple {
	r := s.r
	ent := wd.EntityTerm(e.id)
	cur := e.cur
	if cur == nil || r.IntN(25) == 0 {
		// A new entity, an undelete, or a jump to another real revision
		// (Q42 has two: a diff between real revisions).
		cur = e.bases[r.IntN(len(e.bases))]
	}
	ts := slices.Clone(cur)
	for range 1 + r.IntN(3) {
		switch k := r.IntN(10); {
		case k < 2:
			ts = s.dropStatement(e, ts)
		case k < 3:
			ts = s.restoreStatement(e, ts)
		case k < 5:
			ts = s.addStatement(e, ts)
		case k < 8:
			ts = s.changeLabel(e, ts)
		default:
			ts = s.changeSitelink(e, ts)
		}
	}
	s.rev++
	s.clock = s.clock.Add(time.Duration(1+r.IntN(5000)) * time.Millisecond)
	ts = slices.DeleteFunc(ts, func(tr rdfdiff.Triple) bool {
		return tr.S == ent && (tr.P == rdftest.SchemaVersion || tr.P == dsDateModified)
	})
	ts = append(ts,
		rdfdiff.Triple{S: ent, P: rdftest.SchemaVersion, O: rdfdiff.NewTypedLiteral(fmt.Sprint(s.rev), rdfdiff.XSDInteger)},
		rdfdiff.Triple{S: ent, P: dsDateModified, O: rdfdiff.NewTypedLiteral(rdfdiff.FormatEventTime(s.clock), rdfdiff.XSDDateTime)})
	ts = dsPrune(e.id, ts)
	rdfdiff.SortTriples(ts)
	return slices.Compact(ts)
}

// dsLinked returns the objects of the entity's triples that match keep.
func dsLinked(ts []rdfdiff.Triple, ent rdfdiff.Term, keep func(rdfdiff.Triple) bool) []rdfdiff.Term {
	var out []rdfdiff.Term
	for _, tr := range ts {
		if tr.S == ent && keep(tr) {
			out = append(out, tr.O)
		}
	}
	return out
}

// dropStatement removes one statement (or form or sense) of the entity.
func (s *dsStream) dropStatement(e *dsEntity, ts []rdfdiff.Triple) []rdfdiff.Triple {
	ent := wd.EntityTerm(e.id)
	nodes := dsLinked(ts, ent, func(tr rdfdiff.Triple) bool {
		return tr.O.HasPrefix(wd.StatementPrefix()) || tr.P == rdftest.LexicalForm || tr.P == rdftest.Sense
	})
	if len(nodes) == 0 {
		return ts
	}
	n := nodes[s.r.IntN(len(nodes))]
	s.ops["edit: drop statement"]++
	return slices.DeleteFunc(ts, func(tr rdfdiff.Triple) bool { return tr.S == n || tr.O == n })
}

// restoreStatement puts back a statement of a real revision the entity lacks,
// with the value and reference nodes it uses.
func (s *dsStream) restoreStatement(e *dsEntity, ts []rdfdiff.Triple) []rdfdiff.Triple {
	base := e.bases[s.r.IntN(len(e.bases))]
	have := map[rdfdiff.Term]bool{}
	for _, tr := range ts {
		have[tr.S] = true
	}
	ent := wd.EntityTerm(e.id)
	var missing []rdfdiff.Term
	for _, n := range dsLinked(base, ent, func(tr rdfdiff.Triple) bool { return tr.O.HasPrefix(wd.StatementPrefix()) }) {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return s.addStatement(e, ts)
	}
	n := missing[s.r.IntN(len(missing))]
	reach := map[rdfdiff.Term]bool{n: true}
	for range 3 {
		for _, tr := range base {
			if reach[tr.S] && (wd.InValueNamespace(tr.O) || wd.InReferenceNamespace(tr.O)) {
				reach[tr.O] = true
			}
		}
	}
	for _, tr := range base {
		if reach[tr.S] || (tr.S == ent && tr.O == n) {
			ts = append(ts, tr)
		}
	}
	s.ops["edit: restore statement"]++
	return ts
}

// addStatement adds a new statement whose value is tricky text and which
// cites a reference node of (possibly) another entity.
func (s *dsStream) addStatement(e *dsEntity, ts []rdfdiff.Triple) []rdfdiff.Triple {
	r := s.r
	ent := wd.EntityTerm(e.id)
	prop := fmt.Sprintf("P%d", 9000+r.IntN(5))
	st := rdfdiff.NewIRI(fmt.Sprintf("%s%s-gen%d-%d", wd.StatementPrefix(), e.id, s.rev+1, r.IntN(1000)))
	val := rdfdiff.NewLangLiteral(dsTrickyText(r, "stmt "), []string{"en", "de", "sr-latn", "zh-hant"}[r.IntN(4)])
	if r.IntN(3) == 0 {
		val = rdfdiff.NewTypedLiteral(fmt.Sprint(r.IntN(1_000_000)), rdfdiff.XSDInteger)
	}
	ts = append(ts,
		rdfdiff.Triple{S: ent, P: rdfdiff.NewIRI(wd.PropertyPrefix(rdfdiff.PropClaim) + prop), O: st},
		rdfdiff.Triple{S: st, P: rdftest.RDFType, O: dsStatement},
		rdfdiff.Triple{S: st, P: dsRank, O: dsNormalRank},
		rdfdiff.Triple{S: st, P: rdfdiff.NewIRI(wd.PropertyPrefix(rdfdiff.PropStatement) + prop), O: val},
	)
	if len(s.refBlocks) > 0 && r.IntN(4) != 0 {
		block := s.refBlocks[r.IntN(len(s.refBlocks))]
		ts = append(ts, rdfdiff.Triple{S: st, P: rdftest.ProvDerived, O: block[0].S})
		ts = append(ts, block...)
		s.ops["edit: add statement citing a shared reference"]++
	} else {
		s.ops["edit: add statement"]++
	}
	return ts
}

// changeLabel rewrites a label, description, alias or lemma, or adds an
// alias, with tricky text.
func (s *dsStream) changeLabel(e *dsEntity, ts []rdfdiff.Triple) []rdfdiff.Triple {
	r := s.r
	ent := wd.EntityTerm(e.id)
	var idx []int
	for i, tr := range ts {
		if tr.S == ent && tr.O.Lang() != "" &&
			(tr.P == dsRDFSLabel || tr.P == dsSchemaName || tr.P == dsSchemaDesc || tr.P == dsSkosAlt || tr.P == dsSkosPref) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 || r.IntN(4) == 0 {
		s.ops["edit: add alias"]++
		return append(ts, rdfdiff.Triple{S: ent, P: dsSkosAlt,
			O: rdfdiff.NewLangLiteral(dsTrickyText(r, "alias "), []string{"en", "fr", "de-ch", "ja"}[r.IntN(4)])})
	}
	i := idx[r.IntN(len(idx))]
	old := ts[i]
	ts = slices.Delete(ts, i, i+1)
	text := dsTrickyText(r, old.O.Value()+" ")
	ts = append(ts, rdfdiff.Triple{S: ent, P: old.P, O: rdfdiff.NewLangLiteral(text, old.O.Lang())})
	if old.P == dsRDFSLabel {
		// The munger writes the label as rdfs:label, schema:name and
		// skos:prefLabel: keep them together as a real edit would.
		for _, p := range []rdfdiff.Term{dsSchemaName, dsSkosPref} {
			o := rdfdiff.Triple{S: ent, P: p, O: old.O}
			if j := slices.Index(ts, o); j >= 0 {
				ts[j].O = rdfdiff.NewLangLiteral(text, old.O.Lang())
			}
		}
	}
	s.ops["edit: change label"]++
	return ts
}

// changeSitelink removes, adds or renames one sitelink.
func (s *dsStream) changeSitelink(e *dsEntity, ts []rdfdiff.Triple) []rdfdiff.Triple {
	r := s.r
	ent := wd.EntityTerm(e.id)
	articles := dsLinkedFrom(ts, rdftest.SchemaAbout, ent)
	switch k := r.IntN(3); {
	case k == 0 && len(articles) > 0:
		a := articles[r.IntN(len(articles))]
		s.ops["edit: remove sitelink"]++
		return slices.DeleteFunc(ts, func(tr rdfdiff.Triple) bool { return tr.S == a })
	case k == 1 && len(articles) > 0:
		a := articles[r.IntN(len(articles))]
		renamed := rdfdiff.NewIRI(a.Value() + "_(renamed_" + fmt.Sprint(s.rev+1) + ")")
		for i := range ts {
			if ts[i].S == a {
				ts[i].S = renamed
			}
		}
		s.ops["edit: rename sitelink"]++
		return ts
	case k == 2 && r.IntN(2) == 0:
		if ts, ok := s.stealSitelink(e, ts); ok {
			return ts
		}
	}
	s.genSites++
	site := rdfdiff.NewIRI(fmt.Sprintf("https://gen%d.wikipedia.org/", s.genSites))
	a := rdfdiff.NewIRI(fmt.Sprintf("https://gen%d.wikipedia.org/wiki/%s_%d", s.genSites, e.id, s.rev+1))
	ts = append(ts,
		rdfdiff.Triple{S: a, P: rdftest.RDFType, O: dsArticle},
		rdfdiff.Triple{S: a, P: rdftest.SchemaAbout, O: ent},
		rdfdiff.Triple{S: a, P: dsIsPartOf, O: site},
		rdfdiff.Triple{S: a, P: dsInLanguage, O: rdfdiff.NewLiteral("gen")},
		rdfdiff.Triple{S: a, P: dsSchemaName, O: rdfdiff.NewLangLiteral(dsTrickyText(r, "Title "), "en")},
		rdfdiff.Triple{S: site, P: rdftest.WikiGroup, O: rdfdiff.NewLiteral("wikipedia")},
	)
	s.ops["edit: add sitelink"]++
	return ts
}

// stealSitelink moves a sitelink of another entity to e, as a merge does:
// e's revision gets the article (about e), while the other entity's current
// revision still claims it until its next edit. Both entities' events then
// carry the same shared article triples, and deleting either entity deletes
// the article's triples (deleteEntity.sparql's ?sl schema:about ?entity).
func (s *dsStream) stealSitelink(e *dsEntity, ts []rdfdiff.Triple) ([]rdfdiff.Triple, bool) {
	other := s.ents[s.r.IntN(len(s.ents))]
	if other == e || other.cur == nil {
		return ts, false
	}
	from := wd.EntityTerm(other.id)
	articles := dsLinkedFrom(other.cur, rdftest.SchemaAbout, from)
	if len(articles) == 0 {
		return ts, false
	}
	a := articles[s.r.IntN(len(articles))]
	var block []rdfdiff.Triple
	var site rdfdiff.Term
	for _, tr := range other.cur {
		if tr.S == a {
			if tr.P == rdftest.SchemaAbout {
				tr.O = wd.EntityTerm(e.id)
			}
			if tr.P == dsIsPartOf {
				site = tr.O
			}
			block = append(block, tr)
		}
	}
	for _, tr := range ts {
		if tr.P == dsIsPartOf && tr.O == site || tr.S == a {
			return ts, false // e has a sitelink to that site already
		}
	}
	s.ops["edit: steal sitelink (merge)"]++
	return append(ts, block...), true
}

// dsLinkedFrom returns the subjects of triples (?s p o).
func dsLinkedFrom(ts []rdfdiff.Triple, p, o rdfdiff.Term) []rdfdiff.Term {
	var out []rdfdiff.Term
	for _, tr := range ts {
		if tr.P == p && tr.O == o {
			out = append(out, tr.S)
		}
	}
	return out
}

// change returns the next logical event of the stream: an import of an
// entity the store does not have, or for one it has a diff (most often),
// a reconciliation, or a delete. With lost true the producer "lost" the
// event (it is not returned, but the entity moved on), so that a later
// reconciliation has a diverged store to repair.
func (s *dsStream) change() (c *rdfdiff.EntityChange, lost bool) {
	r := s.r
	e := s.ents[r.IntN(len(s.ents))]
	shared := rdfdiff.WikibaseShared(wd)
	c = &rdfdiff.EntityChange{EntityID: e.id, Domain: "www.wikidata.org", Stream: "rdf-streaming-updater.mutation"}
	switch k := r.IntN(100); {
	case e.cur == nil:
		next := s.next(e)
		c.Operation, c.Patch = rdfdiff.OpImport, rdfdiff.Diff(nil, next, shared)
		e.cur = next
	case k < 6:
		c.Operation = rdfdiff.OpDelete
		s.rev++
		e.cur = nil
	case k < 14:
		next := s.next(e)
		// A reconcile carries the entity's full non-shared data (Added only).
		c.Operation, c.Patch = rdfdiff.OpReconcile, rdfdiff.Patch{Added: rdfdiff.Diff(nil, next, shared).Added}
		e.cur = next
	default:
		next := s.next(e)
		c.Operation, c.Patch = rdfdiff.OpDiff, rdfdiff.Diff(e.cur, next, shared)
		e.cur = next
		lost = r.IntN(40) == 0
	}
	s.clock = s.clock.Add(time.Millisecond)
	c.Revision, c.EventTime = s.rev, s.clock
	c.RequestID = fmt.Sprintf("req-%d", s.rev)
	if lost {
		s.ops["lost "+string(c.Operation)]++
	} else {
		s.ops[string(c.Operation)]++
	}
	return c, lost
}

// dsEvents turns a change into the JSON messages the producer writes
// (chunked at softMax characters).
func dsEvents(t testing.TB, c *rdfdiff.EntityChange, softMax int) [][]byte {
	t.Helper()
	for _, b := range [][]rdfdiff.Triple{c.Patch.Added, c.Patch.Removed, c.Patch.LinkedShared, c.Patch.UnlinkedShared} {
		rdfdiff.SortTriples(b)
	}
	evs, err := rdfdiff.ChunkChange(*c, rdfdiff.WithSoftMaxChars(softMax), rdfdiff.WithMeta(func(seq int, m *rdfdiff.EventMeta) {
		m.ID = fmt.Sprintf("%s-%d", c.RequestID, seq)
		m.DT = c.EventTime
	}))
	require.NoError(t, err, "%s %s", c.Operation, c.EntityID)
	out := make([][]byte, len(evs))
	for i, ev := range evs {
		out[i], err = ev.AppendJSON(nil)
		require.NoError(t, err)
	}
	return out
}

// dsFixtureEvents returns the real rdf_change v2 events of the WDQS
// serialization tests (import, diff, delete, reconcile of Q123).
func dsFixtureEvents(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, name := range []string{"Import", "Diff", "Delete", "Reconcile"} {
		data, err := os.ReadFile(filepath.Join("testdata", "graph", name+"-v2.json"))
		require.NoError(t, err)
		out = append(out, data)
	}
	return out
}
