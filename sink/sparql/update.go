package sparql

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Vocabulary used by the entity-delete templates.
const (
	schemaAbout        = "http://schema.org/about"
	schemaDateModified = "http://schema.org/dateModified"
	ontolexLexicalForm = "http://www.w3.org/ns/lemon/ontolex#lexicalForm"
	ontolexSense       = "http://www.w3.org/ns/lemon/ontolex#sense"
)

// DefaultCommitNamespace is the IRI prefix of the commit-point vocabulary and
// nodes (see WithCommitNamespace).
const DefaultCommitNamespace = "https://gitlab.wikimedia.org/repos/search-platform/streamkit/commit#"

// WithDataGraph writes the data into the named graph iri instead of the default
// graph. Virtuoso needs one: it refuses INSERT DATA without GRAPH ("SP031: No
// plain default graph specified").
//
// An option of NewUpdateBuilder.
func WithDataGraph(iri string) Option {
	return builderOption("WithDataGraph", func(b *UpdateBuilder) { b.graph = iri })
}

// WithCommitGraph writes the commit-point triples into the named graph iri
// (default: the data graph), so that dumps of the data graph never show them.
//
// An option of NewUpdateBuilder.
func WithCommitGraph(iri string) Option {
	return builderOption("WithCommitGraph", func(b *UpdateBuilder) { b.commitGraph = iri })
}

// WithCommitNamespace sets the IRI prefix of the commit-point predicates and
// nodes (default DefaultCommitNamespace). The job node is <ns>job/<job>, each
// position node <ns>job/<job>/cp/<checkpoint ID>/<topic>/<partition>, names
// percent-escaped.
//
// An option of NewUpdateBuilder.
func WithCommitNamespace(ns string) Option {
	return builderOption("WithCommitNamespace", func(b *UpdateBuilder) { b.commitNS = ns })
}

// WithUpdateLagMarker writes the batch's average event time as
// <subject> schema:dateModified "…"^^xsd:dateTime with the linked-shared data,
// replacing the previous value, as WDQS does with the hard-coded
// <http://www.wikidata.org> (which WDQS's UI and monitoring read). Empty (the
// default) writes no marker.
//
// An option of NewUpdateBuilder.
func WithUpdateLagMarker(subject string) Option {
	return builderOption("WithUpdateLagMarker", func(b *UpdateBuilder) { b.lagSubject = subject })
}

// WithMaxDataTriples splits every INSERT DATA and DELETE DATA operation into
// operations of at most n triples, still in the same request (default 0: no
// split). Virtuoso 7.2 compiles one INSERT DATA into SQL and refuses one
// beyond ~1000–1500 triples (SP031); 500 is safe there.
// Requests beyond ~3000 triples still fail on Virtuoso however split: keep
// its batches small.
//
// An option of NewUpdateBuilder.
func WithMaxDataTriples(n int) Option {
	return builderOption("WithMaxDataTriples", func(b *UpdateBuilder) { b.maxData = n })
}

// WithMaxIRIBytes refuses, with a *TermError matching ErrUnsafeTerm, any
// triple holding an IRI (a subject, predicate, object or literal datatype)
// longer than n bytes. Virtuoso silently rewrites IRIs longer than about
// 1 880 bytes into a prefix plus a hash, so the store would hold a different
// term; the SPARQL sink's Virtuoso dialect sets 1 800 (virtuosoMaxIRIBytes),
// and the change goes to the dead-letter path instead of being stored
// altered. 0 (the default) means no limit.
//
// An option of NewUpdateBuilder.
func WithMaxIRIBytes(n int) Option {
	return builderOption("WithMaxIRIBytes", func(b *UpdateBuilder) { b.maxIRI = n })
}

// WithWellTypedBooleans refuses, with a *TermError matching ErrUnsafeTerm,
// any triple whose object is an xsd:boolean literal other than "true",
// "false", "1" or "0". Blazegraph 2.1.5 fails the whole update with HTTP
// 500 on such a literal, which a client cannot tell from an outage (it would
// retry the checkpoint for ever); the SPARQL sink's Blazegraph dialect sets
// this, so the change goes to the dead-letter path instead.
//
// An option of NewUpdateBuilder.
func WithWellTypedBooleans() Option {
	return builderOption("WithWellTypedBooleans", func(b *UpdateBuilder) { b.wellTypedBool = true })
}

// WithWellFormedLanguageTags refuses, with a *TermError matching
// ErrUnsafeTerm, any triple whose object has a language tag that is not
// well-formed BCP 47 (WellFormedBCP47), such as Wikidata's "zh-classical".
// Oxigraph refuses the whole request holding one; the SPARQL sink's SPARQL
// 1.1 dialect sets this, so the change is refused when it is added.
//
// An option of NewUpdateBuilder.
func WithWellFormedLanguageTags() Option {
	return builderOption("WithWellFormedLanguageTags", func(b *UpdateBuilder) { b.bcp47 = true })
}

// checkBoolean enforces WithWellTypedBooleans on one triple.
func checkBoolean(tr rdfdiff.Triple, on bool) error {
	if !on || !tr.O.IsLiteral() || tr.O.Datatype() != rdfdiff.XSDBoolean {
		return nil
	}
	switch tr.O.Value() {
	case "true", "false", "1", "0":
		return nil
	}
	return &TermError{Term: tr.O, Reason: "ill-typed xsd:boolean, which Blazegraph fails with HTTP 500"}
}

// checkIRILengths enforces WithMaxIRIBytes on one triple.
func checkIRILengths(tr rdfdiff.Triple, maxIRI int) error {
	if maxIRI <= 0 {
		return nil
	}
	for _, t := range [...]rdfdiff.Term{tr.S, tr.P, tr.O} {
		iri := ""
		switch {
		case t.IsIRI():
			iri = t.Value()
		case t.IsLiteral():
			iri = t.Datatype()
		}
		if len(iri) > maxIRI {
			return &TermError{Term: t, Reason: fmt.Sprintf("IRI of %d bytes is longer than the store keeps intact (%d)", len(iri), maxIRI)}
		}
	}
	return nil
}

// UpdateBuilder turns a consolidated patch and a commit point into the text of
// ONE SPARQL 1.1 Update request, so that a store applying requests atomically
// (Oxigraph; Blazegraph by design) records data and source positions together
// and a crash leaves either the previous commit or this one.
//
// The operations follow the WDQS consumer (RdfRepositoryUpdater), which sends
// them as up to four requests:
//
//  1. DELETE DATA {Removed} ; INSERT DATA {Added}
//  2. INSERT DATA {LinkedShared}, and the lag marker (delete old, insert new)
//  3. entity deletes: templated DELETE … WHERE with VALUES ?entity {…} for
//     the entities' statement nodes, sitelinks, lexeme form and sense
//     statements, form and sense nodes, then the entities' own triples;
//     value and reference nodes stay (they are shared)
//  4. reconciliations: the same templates for the reconciled entities, a
//     DELETE … WHERE of every subject in their new statement lists that
//     they own (statement nodes, forms, senses; not sitelink articles,
//     which another entity may claim), then INSERT DATA of those lists
//  5. with WithUpdateOrphanCleanup, the shared nodes and sitelink blocks
//     the batch orphaned (see there);
//  6. the commit point: insert the new one (job, checkpoint ID, one node per
//     topic and partition, named by checkpoint ID), then delete the job's
//     other checkpoint ID and position nodes.
//
// Reconciliation differs from WDQS's MultiSync, which deletes only the triples
// missing from the new list (MINUS against the new set) before inserting: here
// the entity's own triples are deleted and the list re-inserted in the same
// request. The end state is the same; on an atomic store no reader sees the
// gap. UnlinkedShared triples are not sent (WDQS never deletes shared nodes).
//
// Every operation is idempotent, so replaying a request (a retry after a lost
// answer, or at-least-once delivery on a store that is not atomic) is safe.
// Virtuoso is NOT atomic across the operations of one request: a failing
// request may leave some operations applied, so there the commit point is only
// as good as at-least-once with idempotent replay, and callers must say so
// loudly.
//
// An UpdateBuilder is immutable and safe for concurrent use.
type UpdateBuilder struct {
	scheme      rdfdiff.URIScheme
	graph       string
	commitGraph string
	commitNS    string
	lagSubject  string
	maxData     int
	maxIRI      int
	// wellTypedBool: see WithWellTypedBooleans.
	wellTypedBool bool
	// orphanCleanup: see WithUpdateOrphanCleanup.
	orphanCleanup bool
	// bcp47: see WithWellFormedLanguageTags.
	bcp47 bool
	// subjects: subject mode (NewSubjectUpdateBuilder), with the skolem
	// base of the subjects' blank nodes ("" when they have none).
	subjects   bool
	skolemBase string
}

// NewUpdateBuilder returns a builder for the entities of scheme (its entity
// and statement namespaces drive the entity-delete templates). It checks
// every configured IRI.
func NewUpdateBuilder(scheme rdfdiff.URIScheme, opts ...Option) (*UpdateBuilder, error) {
	if scheme.StatementPrefix() == "" || scheme.EntityPrefix() == "" {
		return nil, errors.New("sparql: update builder needs a URI scheme with entity and statement namespaces " +
			"(for a graph that is not a Wikibase, use NewSubjectUpdateBuilder)")
	}
	return newUpdateBuilder(&UpdateBuilder{scheme: scheme, commitNS: DefaultCommitNamespace}, "NewUpdateBuilder", opts)
}

// newUpdateBuilder applies opts to b and checks the result.
func newUpdateBuilder(b *UpdateBuilder, constructor string, opts []Option) (*UpdateBuilder, error) {
	if err := (&settings{builder: b}).apply(constructor, opts); err != nil {
		return nil, err
	}
	if b.commitGraph == "" {
		b.commitGraph = b.graph
	}
	for _, c := range []struct{ what, iri string }{
		{"graph", b.graph}, {"commit graph", b.commitGraph}, {"lag marker", b.lagSubject},
	} {
		if c.iri == "" {
			continue
		}
		if r := checkIRI(c.iri); r != "" {
			return nil, fmt.Errorf("sparql: %s IRI %q: %s", c.what, c.iri, r)
		}
	}
	if r := checkIRI(b.commitNS + "job/x"); r != "" {
		return nil, fmt.Errorf("sparql: commit namespace %q: %s", b.commitNS, r)
	}
	return b, nil
}

// Build returns the update request for p and cp; see AppendUpdate.
func (b *UpdateBuilder) Build(p *rdfdiff.ConsolidatedPatch, cp *streamkit.CommitPoint) (string, error) {
	out, err := b.AppendUpdate(nil, p, cp)
	return string(out), err
}

// AppendUpdate appends the update request for p (may be nil or empty) and cp
// (may be nil: no commit point is written) to dst. Nothing is appended when
// there is nothing to send. A term that cannot be written safely gives a
// *TermError (ErrUnsafeTerm) and dst unchanged, so the caller can bisect the
// batch and dead-letter the patch that holds it.
func (b *UpdateBuilder) AppendUpdate(dst []byte, p *rdfdiff.ConsolidatedPatch, cp *streamkit.CommitPoint) ([]byte, error) {
	n := len(dst)
	w := &updateWriter{buf: dst, maxData: b.maxData, maxIRI: b.maxIRI, wellTypedBool: b.wellTypedBool, bcp47: b.bcp47}
	if cp != nil {
		if err := cp.Validate(); err != nil {
			return dst, err
		}
	}
	if p != nil {
		if err := b.appendPatch(w, p); err != nil {
			return dst[:n], err
		}
	}
	if cp != nil {
		if err := b.appendCommitPoint(w, cp); err != nil {
			return dst[:n], err
		}
	}
	return w.buf, nil
}

// updateWriter joins operations with " ;\n".
type updateWriter struct {
	buf     []byte
	ops     int
	maxData int
	maxIRI  int // bytes; 0: no limit (see WithMaxIRIBytes)
	// wellTypedBool: see WithWellTypedBooleans.
	wellTypedBool bool
	bcp47         bool // see WithWellFormedLanguageTags
}

func (w *updateWriter) op() {
	if w.ops > 0 {
		w.buf = append(w.buf, ";\n"...)
	}
	w.ops++
}

// data writes INSERT DATA or DELETE DATA of ts into graph.
func (w *updateWriter) data(verb, graph string, ts []rdfdiff.Triple) error {
	for w.maxData > 0 && len(ts) > w.maxData {
		if err := w.dataOp(verb, graph, ts[:w.maxData]); err != nil {
			return err
		}
		ts = ts[w.maxData:]
	}
	return w.dataOp(verb, graph, ts)
}

func (w *updateWriter) dataOp(verb, graph string, ts []rdfdiff.Triple) error {
	if len(ts) == 0 {
		return nil
	}
	w.op()
	w.buf = append(w.buf, verb...)
	w.buf = append(w.buf, " {\n"...)
	w.openGraph(graph)
	var err error
	for _, tr := range ts {
		if err = checkIRILengths(tr, w.maxIRI); err != nil {
			return err
		}
		if err = checkBoolean(tr, w.wellTypedBool); err != nil {
			return err
		}
		if err = checkLangTag(tr, w.bcp47); err != nil {
			return err
		}
		if w.buf, err = AppendSPARQLTriple(w.buf, tr); err != nil {
			return err
		}
	}
	w.closeGraph(graph)
	w.buf = append(w.buf, "}\n"...)
	return nil
}

func (w *updateWriter) openGraph(graph string) {
	if graph != "" {
		w.buf = append(w.buf, "GRAPH <"...)
		w.buf = append(w.buf, graph...)
		w.buf = append(w.buf, "> {\n"...)
	}
}

func (w *updateWriter) closeGraph(graph string) {
	if graph != "" {
		w.buf = append(w.buf, "}\n"...)
	}
}

// deleteWhere writes DELETE { tmpl } WHERE { values where } in graph.
func (w *updateWriter) deleteWhere(graph, tmpl, values, where string) {
	w.modifyWhere("DELETE", graph, tmpl, values, where)
}

// modifyWhere writes verb { tmpl } WHERE { values where } in graph.
func (w *updateWriter) modifyWhere(verb, graph, tmpl, values, where string) {
	w.op()
	w.buf = append(w.buf, verb...)
	w.buf = append(w.buf, " {\n"...)
	w.openGraph(graph)
	w.buf = append(w.buf, tmpl...)
	w.buf = append(w.buf, '\n')
	w.closeGraph(graph)
	w.buf = append(w.buf, "}\nWHERE {\n"...)
	w.buf = append(w.buf, values...)
	w.openGraph(graph)
	w.buf = append(w.buf, where...)
	w.buf = append(w.buf, '\n')
	w.closeGraph(graph)
	w.buf = append(w.buf, "}\n"...)
}

func (b *UpdateBuilder) appendPatch(w *updateWriter, p *rdfdiff.ConsolidatedPatch) error {
	if b.orphanCleanup && !p.IsEmpty() {
		if err := b.markCandidates(w, p); err != nil {
			return err
		}
		defer b.cleanOrphans(w)
	}
	if err := w.data("DELETE DATA", b.graph, p.Removed); err != nil {
		return err
	}
	if err := w.data("INSERT DATA", b.graph, p.Added); err != nil {
		return err
	}
	if err := w.data("INSERT DATA", b.graph, p.LinkedShared); err != nil {
		return err
	}
	if b.lagSubject != "" && !p.AvgEventTime.IsZero() {
		subj := "<" + b.lagSubject + "> <" + schemaDateModified + ">"
		w.deleteWhere(b.graph, subj+" ?o .", "", subj+" ?o .")
		marker := rdfdiff.Triple{
			S: rdfdiff.NewIRI(b.lagSubject),
			P: rdfdiff.NewIRI(schemaDateModified),
			O: rdfdiff.NewTypedLiteral(rdfdiff.FormatEventTime(p.AvgEventTime), rdfdiff.XSDDateTime),
		}
		if err := w.data("INSERT DATA", b.graph, []rdfdiff.Triple{marker}); err != nil {
			return err
		}
	}
	if len(p.DeletedEntities) > 0 {
		if err := b.deleteEntities(w, p.DeletedEntities); err != nil {
			return err
		}
	}
	if len(p.Reconciliations) > 0 {
		ids := make([]string, len(p.Reconciliations))
		var all []rdfdiff.Triple
		for i, r := range p.Reconciliations {
			ids[i] = r.EntityID
			all = append(all, r.Triples...)
		}
		if b.subjects {
			// A subject's document is replaced whole.
			if err := b.deleteSubjectDocuments(w, ids); err != nil {
				return err
			}
			return w.data("INSERT DATA", b.graph, all)
		}
		if err := b.deleteEntities(w, ids); err != nil {
			return err
		}
		// Nodes of the new list that the store holds but no longer links
		// to the entity (a borked store: a statement node whose link was
		// lost) would survive the templates above: clear the new list's
		// subjects that the entity owns too (statement nodes, forms,
		// senses; not sitelink articles, see deleteSubjects). This goes
		// further than WDQS's clearOodStatementsAboutStatements, which
		// only clears statement nodes the store still links.
		if err := b.deleteSubjects(w, all); err != nil {
			return err
		}
		if err := w.data("INSERT DATA", b.graph, all); err != nil {
			return err
		}
	}
	return nil
}

// deleteSubjects writes DELETE … WHERE for every triple whose subject is a
// subject of ts that the reconciled entity owns: an IRI in the entity
// namespace (the entity, lexeme forms and senses) or the statement
// namespace, whose names carry the entity's ID. Other subjects — sitelink
// article nodes — are left alone: another entity may claim the same article
// (a sitelink moving in a merge), and the sitelink template has already
// cleared this entity's own sitelinks, as WDQS's clearOodSiteLinks does.
func (b *UpdateBuilder) deleteSubjects(w *updateWriter, ts []rdfdiff.Triple) error {
	vals := []byte("VALUES ?s {")
	var prev rdfdiff.Term
	seen := make(map[rdfdiff.Term]bool)
	n := 0
	for _, tr := range ts {
		if tr.S == prev || seen[tr.S] {
			continue
		}
		prev, seen[tr.S] = tr.S, true
		if !tr.S.IsIRI() || !(tr.S.HasPrefix(b.scheme.EntityPrefix()) || tr.S.HasPrefix(b.scheme.StatementPrefix())) {
			continue
		}
		var err error
		vals = append(vals, ' ')
		if vals, err = AppendSPARQLTerm(vals, tr.S); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return nil
	}
	vals = append(vals, " }\n"...)
	w.deleteWhere(b.graph, "?s ?p ?o .", string(vals), "?s ?p ?o .")
	return nil
}

// deleteEntities writes the five entity-delete templates for ids (in
// subject mode, the deletes of the subjects' documents).
func (b *UpdateBuilder) deleteEntities(w *updateWriter, ids []string) error {
	if b.subjects {
		return b.deleteSubjectDocuments(w, ids)
	}
	vals := []byte("VALUES ?entity {")
	for _, id := range ids {
		if id == "" {
			return fmt.Errorf("%w: empty entity ID", rdfdiff.ErrInvalidEntityID)
		}
		var err error
		vals = append(vals, ' ')
		if vals, err = AppendSPARQLTerm(vals, b.scheme.EntityTerm(id)); err != nil {
			return err
		}
	}
	vals = append(vals, " }\n"...)
	values := string(vals)
	stmt := string(appendSPARQLString(nil, b.scheme.StatementPrefix()))
	inStatementNS := "FILTER(STRSTARTS(STR(?st), " + stmt + "))"
	formOrSense := "?entity ?fp ?fs . FILTER(?fp IN (<" + ontolexLexicalForm + ">, <" + ontolexSense + ">))"
	if b.orphanCleanup {
		b.markEntityCandidates(w, values, inStatementNS, formOrSense)
	}
	// Statement nodes of the entity, before the links to them go.
	w.deleteWhere(b.graph, "?st ?p ?o .", values,
		"?entity ?x ?st . "+inStatementNS+"\n?st ?p ?o .")
	// Sitelinks about the entity; with orphan clean-up only the links, and
	// the articles about no entity any more go with the orphans.
	if b.orphanCleanup {
		w.deleteWhere(b.graph, "?sl <"+schemaAbout+"> ?entity .", values, "?sl <"+schemaAbout+"> ?entity .")
	} else {
		w.deleteWhere(b.graph, "?sl ?p ?o .", values,
			"?sl <"+schemaAbout+"> ?entity .\n?sl ?p ?o .")
	}
	// Statement nodes of lexeme forms and senses, then the forms and senses.
	w.deleteWhere(b.graph, "?st ?p ?o .", values,
		formOrSense+"\n?fs ?x ?st . "+inStatementNS+"\n?st ?p ?o .")
	w.deleteWhere(b.graph, "?fs ?p ?o .", values,
		formOrSense+"\n?fs ?p ?o .")
	// The entity's own triples.
	w.deleteWhere(b.graph, "?entity ?p ?o .", values, "?entity ?p ?o .")
	return nil
}

func (b *UpdateBuilder) jobIRI(job string) string {
	return b.commitNS + "job/" + url.PathEscape(job)
}

func (b *UpdateBuilder) pred(name string) rdfdiff.Term { return rdfdiff.NewIRI(b.commitNS + name) }

// appendCommitPoint writes the new commit point first and only then removes
// the job's other checkpoint ID and position nodes (position nodes are named
// by checkpoint ID, so the old and new ones never share a node). On an
// atomic store the order does not matter; on one that is not (Virtuoso), a
// request that fails half-way leaves the old commit point, the new one, or
// both — never none, which would make a restarted job begin from scratch —
// and ReadCommitPoint reports "both" loudly.
func (b *UpdateBuilder) appendCommitPoint(w *updateWriter, cp *streamkit.CommitPoint) error {
	id := strconv.FormatUint(cp.CheckpointID, 10)
	jobIRI := b.jobIRI(cp.Job)
	posPrefix := jobIRI + "/cp/" + id + "/"
	jobT := rdfdiff.NewIRI(jobIRI)
	ts := []rdfdiff.Triple{
		{S: jobT, P: b.pred("job"), O: rdfdiff.NewLiteral(cp.Job)},
		{S: jobT, P: b.pred("checkpointID"), O: rdfdiff.NewTypedLiteral(id, rdfdiff.XSDInteger)},
	}
	for _, p := range cp.Positions.Sorted() {
		pos := rdfdiff.NewIRI(posPrefix + url.PathEscape(p.Topic) + "/" + strconv.FormatInt(int64(p.Partition), 10))
		ts = append(ts,
			rdfdiff.Triple{S: jobT, P: b.pred("position"), O: pos},
			rdfdiff.Triple{S: pos, P: b.pred("topic"), O: rdfdiff.NewLiteral(p.Topic)},
			rdfdiff.Triple{S: pos, P: b.pred("partition"), O: rdfdiff.NewTypedLiteral(strconv.FormatInt(int64(p.Partition), 10), rdfdiff.XSDInteger)},
			rdfdiff.Triple{S: pos, P: b.pred("offset"), O: rdfdiff.NewTypedLiteral(strconv.FormatInt(cp.Positions[p], 10), rdfdiff.XSDInteger)},
		)
	}
	if err := w.data("INSERT DATA", b.commitGraph, ts); err != nil {
		return err
	}
	job := "<" + jobIRI + ">"
	posPred := "<" + b.commitNS + "position>"
	keep := string(appendSPARQLString(nil, posPrefix))
	w.deleteWhere(b.commitGraph, job+" "+posPred+" ?pos .\n?pos ?pp ?po .", "",
		job+" "+posPred+" ?pos .\n?pos ?pp ?po .\nFILTER(!STRSTARTS(STR(?pos), "+keep+"))")
	idPred := "<" + b.commitNS + "checkpointID>"
	w.deleteWhere(b.commitGraph, job+" "+idPred+" ?id .", "",
		job+" "+idPred+" ?id .\nFILTER(STR(?id) != "+string(appendSPARQLString(nil, id))+")")
	return nil
}

// Querier runs a SPARQL SELECT query; *Client implements it.
type Querier interface {
	Query(ctx context.Context, query string) (*Results, error)
}

var _ Querier = (*Client)(nil)

// ReadCommitPoint reads back the commit point the job last wrote with this
// builder's settings, positions sorted by topic and partition. A job starting
// up calls it and resumes exactly there. It returns ErrNoCommitPoint when the
// store holds none for the job, and ErrInvalidCommitPoint when what it holds
// is malformed (for example two checkpoint IDs, which only a store that is not
// atomic can produce).
func (b *UpdateBuilder) ReadCommitPoint(ctx context.Context, q Querier, job string) (*streamkit.CommitPoint, error) {
	if job == "" {
		return nil, fmt.Errorf("%w: empty job name", streamkit.ErrInvalidCommitPoint)
	}
	ns := b.commitNS
	var sb strings.Builder
	sb.WriteString("SELECT ?cp ?pos ?topic ?partition ?offset WHERE {\n")
	if b.commitGraph != "" {
		sb.WriteString("GRAPH <" + b.commitGraph + "> {\n")
	}
	jobIRI := "<" + b.jobIRI(job) + ">"
	sb.WriteString(jobIRI + " <" + ns + "checkpointID> ?cp .\n")
	sb.WriteString("OPTIONAL { " + jobIRI + " <" + ns + "position> ?pos . ?pos <" + ns + "topic> ?topic ; <" +
		ns + "partition> ?partition ; <" + ns + "offset> ?offset . }\n")
	if b.commitGraph != "" {
		sb.WriteString("}\n")
	}
	sb.WriteString("}")
	res, err := q.Query(ctx, sb.String())
	if err != nil {
		return nil, fmt.Errorf("sparql: reading commit point of job %q: %w", job, err)
	}
	if len(res.Bindings) == 0 {
		return nil, fmt.Errorf("%w for job %q", streamkit.ErrNoCommitPoint, job)
	}
	cp := &streamkit.CommitPoint{Job: job}
	var cpTerm rdfdiff.Term
	seen := map[rdfdiff.Term]rdfdiff.Term{}
	for _, row := range res.Bindings {
		if cpTerm.IsZero() {
			cpTerm = row["cp"]
		} else if row["cp"] != cpTerm {
			return nil, fmt.Errorf("%w: job %q has checkpoint IDs %s and %s (a non-atomic store applied part of a request; "+
				"resuming from the older one is the safe, at-least-once choice)", streamkit.ErrInvalidCommitPoint, job, cpTerm.Value(), row["cp"].Value())
		}
		pos, ok := row["pos"]
		if !ok {
			continue
		}
		if prev, dup := seen[pos]; dup {
			if prev != row["offset"] {
				return nil, fmt.Errorf("%w: job %q position %s has offsets %s and %s", streamkit.ErrInvalidCommitPoint, job, pos, prev, row["offset"])
			}
			continue
		}
		seen[pos] = row["offset"]
		partition, err1 := strconv.ParseInt(row["partition"].Value(), 10, 32)
		offset, err2 := strconv.ParseInt(row["offset"].Value(), 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%w: job %q position %s: %v", streamkit.ErrInvalidCommitPoint, job, pos, err)
		}
		if !row["topic"].IsLiteral() {
			return nil, fmt.Errorf("%w: job %q position %s: topic %s is not a literal", streamkit.ErrInvalidCommitPoint, job, pos, row["topic"])
		}
		tp := source.TopicPartition{Topic: row["topic"].Value(), Partition: int32(partition)}
		if prev, dup := cp.Positions[tp]; dup && prev != offset {
			return nil, fmt.Errorf("%w: job %q has offsets %d and %d for %s", streamkit.ErrInvalidCommitPoint, job, prev, offset, tp)
		}
		if cp.Positions == nil {
			cp.Positions = source.Positions{}
		}
		cp.Positions[tp] = offset
	}
	id, err := strconv.ParseUint(cpTerm.Value(), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: job %q checkpoint ID %s: %v", streamkit.ErrInvalidCommitPoint, job, cpTerm, err)
	}
	cp.CheckpointID = id
	if err := cp.Validate(); err != nil {
		return nil, err
	}
	return cp, nil
}
