package rdfdiff

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultMaxLiteralLength is the longest literal, in Unicode characters, the
// munger lets through by default. WDQS trims longer literals to this length
// (Munger.trimLargeObject, Short.MAX_VALUE) because its store rejects them.
const DefaultMaxLiteralLength = 32767

// Errors the munger wraps in a *MungeError. Each says why an entity's RDF
// cannot be munged; the RDF itself is bad, so retrying does not help and the
// event belongs in a dead-letter queue.
var (
	// ErrInvalidEntityID means the entity ID is empty or holds characters
	// that no Wikibase entity ID holds.
	ErrInvalidEntityID = errors.New("rdfdiff: invalid entity ID")
	// ErrNoEntityData means the entity-data node (data:Q42) is missing, or
	// lacks schema:version or schema:dateModified, so the revision and edit
	// time of the RDF are unknown.
	ErrNoEntityData = errors.New("rdfdiff: no entity data")
	// ErrWrongEntity means the RDF describes another entity than the one
	// asked for (its entity-data node is another entity's).
	ErrWrongEntity = errors.New("rdfdiff: RDF is about another entity")
	// ErrConflictingEntityData means the entity-data node gives two
	// different revisions or modification dates.
	ErrConflictingEntityData = errors.New("rdfdiff: conflicting entity data")
	// ErrBadEntityData means an entity-data value is malformed: a revision
	// that is not a positive integer, a date that is not an xsd:dateTime, or
	// an IRI where a literal belongs.
	ErrBadEntityData = errors.New("rdfdiff: malformed entity data")
	// ErrNoEntityTriples means nothing in the RDF could be linked to the
	// entity: every subject was unrecognized (WDQS BadSubjectException).
	ErrNoEntityTriples = errors.New("rdfdiff: no triples about the entity")
)

// MungeError reports RDF that cannot be munged: which entity, which node
// (when one is to blame), and why. Err is one of the Err… sentinels above;
// test it with errors.Is.
type MungeError struct {
	EntityID string
	Node     Term   // the node at fault, or the zero Term
	Detail   string // what exactly was wrong
	Err      error
}

// Error returns e.g. `rdfdiff: munge Q42: no entity data: no schema:version on <…/Q42>`.
func (e *MungeError) Error() string {
	var b strings.Builder
	b.WriteString("rdfdiff: munge ")
	b.WriteString(e.EntityID)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "rdfdiff: "))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *MungeError) Unwrap() error { return e.Err }

// Munger rewrites the RDF Wikibase serves for one entity
// (Special:EntityData/<id>.ttl?flavor=dump) into the form WDQS stores, with
// the rules of the WDQS Munger:
//
//   - the entity-data node's schema:version, schema:dateModified and
//     wikibase: counters (wikibase:statements, wikibase:sitelinks, …) move
//     onto the entity; every other entity-data triple is dropped;
//   - rdf:type wikibase:Item, wikibase:Lexeme, wikibase:Form, wikibase:Sense
//     on the entity and its forms and senses, rdf:type wikibase:Statement and
//     rdf:type wikibase:Reference are dropped (value types, wikibase:Property
//     and wikibase:Mediainfo are kept);
//   - schema:name and skos:prefLabel on the entity (duplicates of
//     rdfs:label) are dropped, and so are rdfs:label of lexemes, forms and
//     senses (lemmas and representations carry them);
//   - triples about other entities are dropped; statements, references and
//     values are kept only when linked from the entity (statement ← p:,
//     reference ← prov:wasDerivedFrom, value ← statement or prv:/prn:, and
//     wikibase:quantityNormalized), sitelinks only when schema:about the
//     entity; wikibase:wikiGroup, property declarations (p:P1 a …, wdno:)
//     and blank-node or skolem-IRI subjects are kept;
//   - IRIs in the old ontology namespace http://wikiba.se/ontology-beta#
//     are moved to http://wikiba.se/ontology# (NormalizeOntologyBeta);
//   - with MungeLabelLanguages, labels, descriptions and aliases in other
//     languages are dropped; with MungeSingleLabel, one label and one
//     description are kept, by a language fallback list;
//   - literals longer than the limit are trimmed;
//   - blank nodes become skolem IRIs (on by default; see MungeSkolemize).
//
// Unlike WDQS, the result does not depend on the order of the input: links
// are resolved over the whole input before anything is dropped, so a form
// listed before its lexeme is still kept. And nothing of another entity
// leaks through when several entities share one document (a dump chunk):
// every triple of an unlinked statement, reference or value is dropped
// (WDQS keeps an unlinked statement's prov:wasDerivedFrom and an unlinked
// value's rdf:type), and so are sitelinks about other entities (WDQS keeps
// every schema:Article). For the single-entity documents of
// Special:EntityData both give the same triples. MungeDump munges a
// multi-entity dump and keeps its wikibase:Dump header, which Munge drops.
// Dump format handlers for Wikibase RDF older than 1.0.0 (coordinate order)
// are not implemented: MungeDump refuses such dumps.
//
// A Munger is immutable and safe for concurrent use. NewMunger does no I/O.
type Munger struct {
	scheme     URIScheme
	skolemize  bool
	maxLiteral int
	keepTypes  bool
	// labelLanguages and singleLabel: see MungeLabelLanguages and
	// MungeSingleLabel.
	labelLanguages map[string]bool
	singleLabel    []string
}

// MungerOption configures NewMunger.
type MungerOption func(*Munger)

// MungeSkolemize turns blank-node skolemization on or off. It is on by
// default, as in the WDQS Streaming Updater: a blank node cannot be matched
// by a store's DELETE DATA, so diffs of un-skolemized RDF leave stale
// triples behind. Turn it off only to reproduce WDQS test fixtures or to
// feed a consumer that skolemizes on its own.
func MungeSkolemize(on bool) MungerOption { return func(m *Munger) { m.skolemize = on } }

// MungeMaxLiteralLength sets the longest literal lexical form, in Unicode
// characters, that passes unchanged; longer ones are cut to n characters,
// keeping their language tag or datatype. The default is
// DefaultMaxLiteralLength; n <= 0 turns trimming off. WDQS counts UTF-16
// code units and may split a surrogate pair; this munger counts characters
// and never cuts one.
func MungeMaxLiteralLength(n int) MungerOption { return func(m *Munger) { m.maxLiteral = n } }

// MungeKeepTypes keeps the rdf:type triples the munger drops by default
// (wikibase:Item and the other entity types, wikibase:Statement,
// wikibase:Reference), as WDQS's keepTypes option does.
func MungeKeepTypes(on bool) MungerOption { return func(m *Munger) { m.keepTypes = on } }

// NewMunger returns a munger for the entities of scheme.
func NewMunger(scheme URIScheme, opts ...MungerOption) *Munger {
	m := &Munger{scheme: scheme, skolemize: true, maxLiteral: DefaultMaxLiteralLength}
	for _, opt := range opts {
		opt(m)
	}
	return m
}

// Scheme returns the URI scheme the munger was built with.
func (m *Munger) Scheme() URIScheme { return m.scheme }

// MungedEntity is the munged RDF of one revision of an entity, with the
// revision facts the munger read from its entity-data node.
type MungedEntity struct {
	EntityID string
	// Revision is the entity-data schema:version.
	Revision int64
	// LastModified is the entity-data schema:dateModified.
	LastModified time.Time
	// Triples is the munged RDF: a set, sorted by Triple.Compare.
	Triples []Triple
	// Unrecognized lists, sorted, the subjects dropped because nothing linked
	// them to the entity (WDQS logs these): in a single-entity document it
	// should be empty. Other entities, their entity-data nodes and sitelinks,
	// and the wikibase:Dump header are dropped without being listed.
	Unrecognized []Term
}

// Munge munges the RDF of entity entityID (e.g. "Q42", "L4696", "M6580719")
// and returns the munged triples, sorted and without duplicates. ts is not
// modified. Errors are *MungeError values.
func (m *Munger) Munge(entityID string, ts []Triple) ([]Triple, error) {
	me, err := m.MungeEntity(entityID, ts)
	if err != nil {
		return nil, err
	}
	return me.Triples, nil
}

// MungeEntity is Munge that also returns the revision, the modification time
// and the unrecognized subjects.
func (m *Munger) MungeEntity(entityID string, ts []Triple) (MungedEntity, error) {
	if !validEntityID(entityID) {
		return MungedEntity{}, &MungeError{EntityID: entityID, Err: ErrInvalidEntityID,
			Detail: strconv.Quote(entityID) + " is not of the form [A-Za-z0-9_-]+"}
	}
	if m.scheme.root == "" {
		return MungedEntity{}, &MungeError{EntityID: entityID, Err: ErrInvalidURIScheme, Detail: "munger has the zero URIScheme"}
	}
	op := mungeOp{m: m, id: entityID, entity: m.scheme.EntityTerm(entityID)}
	op.lexemeLike = strings.HasPrefix(entityID, "L")
	for _, p := range m.scheme.entityData {
		op.dataNodes = append(op.dataNodes, NewIRI(p+entityID))
	}
	return op.run(ts)
}

// validEntityID accepts what Wikibase entity IDs are made of (Q42, L1-F2,
// M123, E5) and rejects anything that would change the meaning of an IRI.
func validEntityID(id string) bool {
	if id == "" || len(id) > 255 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Subject classes, in the order WDQS tests them (Munger.statement).
const (
	subjOther uint8 = iota
	subjData
	subjStatement
	subjReference
	subjValue
	subjEntity
	subjProperty
	subjBlank
)

type termSet = map[Term]struct{}

// mungeOp holds the state of one Munge call.
type mungeOp struct {
	m          *Munger
	id         string
	entity     Term
	lexemeLike bool
	dataNodes  []Term

	subEntities termSet // forms and senses of a lexeme
	statements  termSet // statement nodes linked from the entity
	references  termSet // reference nodes linked from those statements
	values      termSet // value nodes linked from statements or references
	sitelinks   termSet // subjects a schema:Article
	aboutEntity termSet // subjects schema:about the entity

	revision, modified    Term
	dataTriples           []Triple // entity-data triples to move onto the entity
	otherDataNode         Term     // some other entity's data node, for errors
	dataSeen              bool
	unrecognized          termSet
	lastSubject           Term
	lastClass             uint8
	propPrefix, noValueNS string
}

func (op *mungeOp) classify(s Term) uint8 {
	if s == op.lastSubject && !s.IsZero() {
		return op.lastClass
	}
	sc := &op.m.scheme
	var c uint8
	switch {
	case s.IsBlankNode():
		c = subjBlank
	case !s.IsIRI():
		c = subjOther
	case sc.InEntityDataNamespace(s):
		c = subjData
	case sc.InStatementNamespace(s):
		c = subjStatement
	case sc.InReferenceNamespace(s):
		c = subjReference
	case sc.InValueNamespace(s):
		c = subjValue
	case sc.IsEntity(s):
		c = subjEntity
	case op.propPrefix != "" && s.HasPrefix(op.propPrefix):
		c = subjProperty
	case sc.IsSkolemIRI(s):
		c = subjBlank
	default:
		c = subjOther
	}
	op.lastSubject, op.lastClass = s, c
	return c
}

func (op *mungeOp) fail(err error, node Term, format string, args ...any) error {
	return &MungeError{EntityID: op.id, Node: node, Err: err, Detail: fmt.Sprintf(format, args...)}
}

func (op *mungeOp) isOwnEntity(s Term) bool {
	if s == op.entity {
		return true
	}
	_, ok := op.subEntities[s]
	return ok
}

func (op *mungeOp) run(in []Triple) (MungedEntity, error) {
	if len(in) == 0 {
		return MungedEntity{}, op.fail(ErrNoEntityData, Term{}, "no triples")
	}
	sc := &op.m.scheme
	op.propPrefix = sc.PropertyPrefix(PropClaim)
	op.noValueNS = sc.PropertyPrefix(PropNoValue)

	// Normalise the old ontology namespace and skolemize first, as WDQS
	// does, so that skolem IRIs are classified like the blank nodes they
	// replace.
	ts := NormalizeOntologyBeta(in)
	if op.m.skolemize {
		ts = sc.SkolemizeTriples(ts)
	}

	// Pass 1: classify subjects, read the entity-data node, find forms,
	// senses and sitelinks, and index the triples the link passes need.
	class := make([]uint8, len(ts))
	var idxEntity, idxStatement, idxReference, idxValue []int32
	op.subEntities = termSet{}
	op.sitelinks = termSet{}
	op.aboutEntity = termSet{}
	for i, tr := range ts {
		c := op.classify(tr.S)
		class[i] = c
		switch c {
		case subjData:
			if err := op.dataTriple(tr); err != nil {
				return MungedEntity{}, err
			}
		case subjEntity:
			idxEntity = append(idxEntity, int32(i))
			if tr.S == op.entity && (tr.P == wv.OntolexLexicalForm || tr.P == wv.OntolexSense) && tr.O.IsIRI() {
				op.subEntities[tr.O] = struct{}{}
			}
		case subjStatement:
			idxStatement = append(idxStatement, int32(i))
		case subjReference:
			idxReference = append(idxReference, int32(i))
		case subjValue:
			idxValue = append(idxValue, int32(i))
		case subjOther:
			if tr.P == wv.RDFType && tr.O == wv.SchemaArticle {
				op.sitelinks[tr.S] = struct{}{}
			} else if tr.P == wv.SchemaAbout && tr.O == op.entity {
				op.aboutEntity[tr.S] = struct{}{}
			}
		}
	}
	if err := op.checkData(); err != nil {
		return MungedEntity{}, err
	}

	// Link passes: entity → statements → references → values → normalized values.
	op.statements = termSet{}
	for _, i := range idxEntity {
		tr := ts[i]
		if op.isOwnEntity(tr.S) && sc.InStatementNamespace(tr.O) && sc.InPropertyNamespace(tr.P, PropClaim) {
			op.statements[tr.O] = struct{}{}
		}
	}
	op.references = termSet{}
	op.values = termSet{}
	for _, i := range idxStatement {
		tr := ts[i]
		if _, ok := op.statements[tr.S]; !ok {
			continue
		}
		if tr.P == wv.ProvWasDerivedFrom && sc.InReferenceNamespace(tr.O) {
			op.references[tr.O] = struct{}{}
		} else if sc.InValueNamespace(tr.O) {
			op.values[tr.O] = struct{}{}
		}
	}
	for _, i := range idxReference {
		tr := ts[i]
		if _, ok := op.references[tr.S]; !ok {
			continue
		}
		if sc.InValueNamespace(tr.O) && (sc.InPropertyNamespace(tr.P, PropReferenceValue) || sc.InPropertyNamespace(tr.P, PropReferenceValueNormalized)) {
			op.values[tr.O] = struct{}{}
		}
	}
	var normalized []Term
	for _, i := range idxValue {
		tr := ts[i]
		if _, ok := op.values[tr.S]; ok && tr.P == wv.WikibaseQuantityNormalized && tr.O.IsIRI() {
			normalized = append(normalized, tr.O)
		}
	}
	for _, t := range normalized {
		op.values[t] = struct{}{}
	}

	// Emit.
	out := make([]Triple, 0, len(ts)+len(op.dataTriples))
	for i, tr := range ts {
		if op.keep(tr, class[i]) {
			// Trimming comes last so that entity-data values are read whole.
			if t, ok := trimLiteral(tr.O, op.m.maxLiteral); ok {
				tr.O = t
			}
			out = append(out, tr)
		}
	}
	if len(out) == 0 && len(op.unrecognized) > 0 {
		return MungedEntity{}, op.fail(ErrNoEntityTriples, Term{}, "unrecognized subjects %s; expected sitelinks and subjects under %s and %s",
			termList(sortedTerms(op.unrecognized), 5), sc.entityData[0], sc.entity)
	}
	out = sortedSet(append(op.applySingleLabel(out), op.dataTriples...))

	me := MungedEntity{EntityID: op.id, Triples: out, Unrecognized: sortedTerms(op.unrecognized)}
	me.Revision, _ = strconv.ParseInt(op.revision.Value(), 10, 64) // checked in checkData
	me.LastModified, _ = parseDateTime(op.modified.Value())        // checked in checkData
	return me, nil
}

// sortedSet returns ts sorted by Triple.Compare without duplicates, in a new
// slice. It sorts indexes rather than the 48-byte triples, which keeps the
// garbage collector's write barriers out of the swaps.
func sortedSet(ts []Triple) []Triple {
	idx := make([]int32, len(ts))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return ts[a].Compare(ts[b]) })
	out := make([]Triple, 0, len(ts))
	for _, i := range idx {
		if n := len(out); n > 0 && out[n-1] == ts[i] {
			continue
		}
		out = append(out, ts[i])
	}
	return out
}

// dataTriple reads one triple whose subject is an entity-data node.
func (op *mungeOp) dataTriple(tr Triple) error {
	if !slices.Contains(op.dataNodes, tr.S) {
		if op.otherDataNode.IsZero() {
			op.otherDataNode = tr.S
		}
		return nil
	}
	op.dataSeen = true
	switch {
	case tr.P == wv.SchemaVersion:
		if !tr.O.IsLiteral() {
			return op.fail(ErrBadEntityData, tr.S, "schema:version is %s, not a literal", tr.O)
		}
		if !op.revision.IsZero() && op.revision != tr.O {
			return op.fail(ErrConflictingEntityData, tr.S, "schema:version %s and %s", op.revision, tr.O)
		}
		if n, err := strconv.ParseInt(tr.O.Value(), 10, 64); err != nil || n <= 0 {
			return op.fail(ErrBadEntityData, tr.S, "schema:version %s is not a positive 64-bit integer", tr.O)
		}
		op.revision = tr.O
	case tr.P == wv.SchemaDateModified:
		if !tr.O.IsLiteral() {
			return op.fail(ErrBadEntityData, tr.S, "schema:dateModified is %s, not a literal", tr.O)
		}
		if !op.modified.IsZero() && op.modified != tr.O {
			return op.fail(ErrConflictingEntityData, tr.S, "schema:dateModified %s and %s", op.modified, tr.O)
		}
		if _, err := parseDateTime(tr.O.Value()); err != nil {
			return op.fail(ErrBadEntityData, tr.S, "schema:dateModified %s is not an xsd:dateTime", tr.O)
		}
		op.modified = tr.O
	case tr.P.HasPrefix(nsWikibaseOntology):
		if !tr.O.IsLiteral() {
			return op.fail(ErrBadEntityData, tr.S, "%s is %s, not a literal", tr.P, tr.O)
		}
	default:
		return nil // dropped
	}
	o := tr.O
	if t, ok := trimLiteral(o, op.m.maxLiteral); ok {
		o = t // read whole above, trimmed like every other output literal
	}
	op.dataTriples = append(op.dataTriples, Triple{S: op.entity, P: tr.P, O: o})
	return nil
}

func (op *mungeOp) checkData() error {
	switch {
	case !op.dataSeen && !op.otherDataNode.IsZero():
		return op.fail(ErrWrongEntity, op.otherDataNode, "entity data node is %s, expected %s", op.otherDataNode, op.dataNodes[0])
	case !op.dataSeen:
		return op.fail(ErrNoEntityData, op.dataNodes[0], "no triple about %s", op.dataNodes[0])
	case op.revision.IsZero():
		return op.fail(ErrNoEntityData, op.dataNodes[0], "no schema:version on the entity data node")
	case op.modified.IsZero():
		return op.fail(ErrNoEntityData, op.dataNodes[0], "no schema:dateModified on the entity data node")
	}
	return nil
}

// keep applies the WDQS rules to one rewritten triple.
func (op *mungeOp) keep(tr Triple, class uint8) bool {
	keepTypes := op.m.keepTypes
	switch class {
	case subjData:
		return false // moved onto the entity, or dropped
	case subjStatement:
		if tr.P == wv.RDFType && tr.O == wv.WikibaseStatement && !keepTypes {
			return false
		}
		if _, ok := op.statements[tr.S]; !ok {
			if tr.P != wv.WikibaseHasViolationForConstraint {
				op.addUnrecognized(tr.S)
			}
			return false
		}
		return true
	case subjReference:
		if tr.P == wv.RDFType && tr.O == wv.WikibaseReference && !keepTypes {
			return false
		}
		if _, ok := op.references[tr.S]; !ok {
			op.addUnrecognized(tr.S)
			return false
		}
		return true
	case subjValue:
		if _, ok := op.values[tr.S]; !ok {
			op.addUnrecognized(tr.S)
			return false
		}
		return true
	case subjEntity:
		if !op.isOwnEntity(tr.S) {
			return false // another entity
		}
		switch tr.P {
		case wv.RDFType:
			return keepTypes || !isSkippedEntityType(tr.O)
		case wv.SchemaName, wv.SKOSPrefLabel:
			return false
		case wv.RDFSLabel:
			return !(op.lexemeLike || tr.S != op.entity) && op.m.keepTerm(tr)
		}
		return op.m.keepTerm(tr)
	case subjProperty:
		return (op.noValueNS != "" && tr.S.HasPrefix(op.noValueNS)) || tr.P == wv.RDFType
	case subjBlank:
		return true
	}
	// subjOther: site groups and sitelinks of this entity.
	if tr.P == wv.WikibaseWikiGroup {
		return true
	}
	if tr.S == wv.WikibaseDump {
		return false // the dump header of flavor=dump output (WDQS T98405)
	}
	if _, ok := op.sitelinks[tr.S]; ok {
		_, ours := op.aboutEntity[tr.S]
		return ours // another entity's sitelink otherwise
	}
	op.addUnrecognized(tr.S)
	return false
}

func (op *mungeOp) addUnrecognized(s Term) {
	if op.unrecognized == nil {
		op.unrecognized = termSet{}
	}
	op.unrecognized[s] = struct{}{}
}

func sortedTerms(set termSet) []Term {
	if len(set) == 0 {
		return nil
	}
	out := make([]Term, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.SortFunc(out, Term.Compare)
	return out
}

// termList formats at most max terms for an error message.
func termList(ts []Term, max int) string {
	var b strings.Builder
	for i, t := range ts {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(ts)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.String())
	}
	return b.String()
}

// parseDateTime parses the xsd:dateTime values Wikibase writes
// ("2023-10-26T05:30:17Z"), with or without fractional seconds or a zone.
func parseDateTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", s)
}

// trimLiteral cuts a literal whose lexical form is longer than max Unicode
// characters down to max characters, keeping its language tag or datatype.
// It reports whether it changed t. It never splits a UTF-8 sequence.
func trimLiteral(t Term, max int) (Term, bool) {
	if max <= 0 || !t.IsLiteral() {
		return t, false
	}
	// The canonical form is at least as long in bytes as the lexical form is
	// in characters, so most literals are settled without decoding.
	if t.lexicalEnd()-1 <= max {
		return t, false
	}
	lex := t.Value()
	if utf8.RuneCountInString(lex) <= max {
		return t, false
	}
	end, n := 0, 0
	for end < len(lex) && n < max {
		_, size := utf8.DecodeRuneInString(lex[end:])
		end += size
		n++
	}
	cut := lex[:end]
	if lang := t.Lang(); lang != "" {
		return NewLangLiteral(cut, lang), true
	}
	return NewTypedLiteral(cut, t.Datatype()), true
}
