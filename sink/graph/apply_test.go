package graph

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

var (
	gSchemaAbout   = gIRI("http://schema.org/about")
	gSchemaVersion = gIRI("http://schema.org/version")
	gWikiGroup     = gIRI("http://wikiba.se/ontology#wikiGroup")
	gProvDerived   = gIRI("http://www.w3.org/ns/prov#wasDerivedFrom")
	gRDFType       = gIRI("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
)

func gApply(t testing.TB, g *Graph, p *rdfdiff.ConsolidatedPatch) {
	t.Helper()
	require.NoError(t, g.Apply(context.Background(), p, nil))
}

// subjectsWithPrefix lists the triples of g whose subject starts with prefix.
func graphSubjectsWithPrefix(g *Graph, prefix string) []rdfdiff.Triple {
	var out []rdfdiff.Triple
	for _, tr := range g.Triples() {
		if tr.S.HasPrefix(prefix) {
			out = append(out, tr)
		}
	}
	return out
}

// TestGraphReconcileQ42Borked is RdfRepositoryUpdaterIntegrationTest.
// testReconcileEntities: Q42-borked loaded over Q42-munged distorts it, and
// a reconcile with Q42-munged removes exactly the distortions.
func TestGraphReconcileQ42Borked(t *testing.T) {
	munged := graphFixture(t, "Q42-munged.ttl")
	borked := graphFixture(t, "Q42-borked.ttl")
	g := graphOf(t, munged)
	_, err := g.Add(borked...)
	require.NoError(t, err)
	q42 := gWD.EntityTerm("Q42")
	distortions := []rdfdiff.Triple{
		gTri(q42, gSchemaVersion, rdfdiff.NewTypedLiteral("1276705613", "http://www.w3.org/2001/XMLSchema#integer")),
		gTri(q42, gIRI("http://schema.org/dateModified"), rdfdiff.NewTypedLiteral("2020-09-12T16:11:27Z", rdfdiff.XSDDateTime)),
		gTri(gIRI(gWD.StatementPrefix()+"Q42-b47f944e-409a-8c99-5191-d27a1dd1ac38"), gIRI("http://www.wikidata.org/prop/statement/P4326"), gLit("215854")),
		gTri(gIRI(gWD.StatementPrefix()+"Q42-f03a5d7b-4ca7-a069-76fc-c864090ce051"), gRDFType, gIRI("http://wikiba.se/ontology#BestRank")),
	}
	for _, d := range distortions {
		require.True(t, g.Contains(d), "fixture distortion %v", d)
		require.NotContains(t, munged, d)
	}

	p := rdftest.Batch(t, rdftest.Reconcile("Q42", 1276705620, munged))
	require.Len(t, p.Reconciliations, 1)
	gApply(t, g, p)

	assert.Equal(t, rdftest.NTriples(t, munged), dumpString(t, g), "reconcile leaves exactly Q42-munged")
	for _, d := range distortions {
		assert.False(t, g.Contains(d), "distortion %v survived", d)
	}
}

// TestGraphDeleteQ513 is testDeleteEntity: deleting Q513 keeps Q42's data and
// the shared gWikiGroup triples, and Q513's value and reference nodes.
func TestGraphDeleteQ513(t *testing.T) {
	q42 := graphFixture(t, "Q42-munged.ttl")
	q513 := graphFixture(t, "Q513-munged.ttl")
	g := graphOf(t, append(append([]rdfdiff.Triple(nil), q42...), q513...))
	before := g.Triples()
	ent := gWD.EntityTerm("Q513")

	var sitelinks, wikiGroups, sharedNodes int
	isSitelink := map[rdfdiff.Term]bool{}
	for _, tr := range q513 {
		if tr.P == gSchemaAbout && tr.O == ent {
			isSitelink[tr.S] = true
			sitelinks++
		}
	}
	require.Positive(t, sitelinks)

	gApply(t, g, rdftest.Batch(t, rdftest.Delete("Q513")))

	inQ42 := map[rdfdiff.Triple]bool{}
	for _, tr := range q42 {
		inQ42[tr] = true
		assert.True(t, g.Contains(tr), "Q42 triple %v deleted", tr)
	}
	for _, tr := range before {
		gone := !g.Contains(tr)
		switch {
		case tr.P == gWikiGroup:
			wikiGroups++
			assert.False(t, gone, "shared %v deleted", tr)
		case inQ42[tr]:
			continue
		case tr.S == ent, isSitelink[tr.S], strings.HasPrefix(strings.ToLower(tr.S.Value()), strings.ToLower(gWD.StatementPrefix()+"Q513-")):
			assert.True(t, gone, "Q513's own %v survived", tr)
		case gWD.InValueNamespace(tr.S) || gWD.InReferenceNamespace(tr.S):
			sharedNodes++
			assert.False(t, gone, "shared %v deleted", tr)
		default:
			assert.False(t, gone, "%v deleted", tr)
		}
	}
	assert.Positive(t, wikiGroups)
	assert.Positive(t, sharedNodes)
	assert.Empty(t, g.Match(rdfdiff.Term{}, gSchemaAbout, ent))
	assert.Empty(t, g.Match(ent, rdfdiff.Term{}, rdfdiff.Term{}))
	checkGraphIndexes(t, g)
}

// TestGraphDeleteLexeme is testDeleteLexeme: deleting L4082 removes its
// forms, senses and their statements, and keeps L691820.
func TestGraphDeleteLexeme(t *testing.T) {
	l4082 := graphFixture(t, "L4082-munged.ttl")
	l691820 := mungedL691820(t)
	require.NotEmpty(t, graphSubjectsWithPrefix(graphOf(t, l691820), gWD.EntityPrefix()+"L691820-"), "L691820 has forms or senses")
	g := graphOf(t, append(append([]rdfdiff.Triple(nil), l4082...), l691820...))
	for _, prefix := range []string{gWD.EntityPrefix() + "L4082-F", gWD.EntityPrefix() + "L4082-S", gWD.StatementPrefix() + "L4082-F1-", gWD.StatementPrefix() + "L4082-S1-"} {
		require.NotEmpty(t, graphSubjectsWithPrefix(g, prefix), prefix)
	}

	gApply(t, g, rdftest.Batch(t, rdftest.Delete("L4082")))

	for _, prefix := range []string{gWD.EntityPrefix() + "L4082", gWD.StatementPrefix() + "L4082-"} {
		assert.Empty(t, graphSubjectsWithPrefix(g, prefix), prefix)
	}
	for _, tr := range l691820 {
		assert.True(t, g.Contains(tr), "L691820 triple %v deleted", tr)
	}
	// Shared nodes stay: the references and the time value of L4082.
	ref := gIRI(gWD.ReferencePrefix() + "83dac192b3dcc0a15a41e11e2027b8379dffadf0")
	assert.NotEmpty(t, g.Match(ref, rdfdiff.Term{}, rdfdiff.Term{}))
	assert.NotEmpty(t, g.Match(gIRI(gWD.ValuePrefix()+"49142687a7ef579e8b6d1febb598c595"), rdfdiff.Term{}, rdfdiff.Term{}))
	// And so, with orphan clean-up, they go: nothing references them any more.
	g = graphOf(t, append(append([]rdfdiff.Triple(nil), l4082...), l691820...), WithOrphanCleanup(true))
	gApply(t, g, rdftest.Batch(t, rdftest.Delete("L4082")))
	assert.Equal(t, rdftest.NTriples(t, l691820), dumpString(t, g))
	checkGraphIndexes(t, g)
}

// TestGraphReconcileLexemeDropsRemovedForm checks that a reconcile treats a
// lexeme's forms like the lexeme: a form the new data no longer has goes.
func TestGraphReconcileLexemeDropsRemovedForm(t *testing.T) {
	l4082 := graphFixture(t, "L4082-munged.ttl")
	g := graphOf(t, l4082)
	f3 := gWD.EntityTerm("L4082-F3")
	var next []rdfdiff.Triple
	for _, tr := range l4082 {
		if tr.S != f3 && tr.O != f3 {
			next = append(next, tr)
		}
	}
	gApply(t, g, rdftest.Batch(t, rdftest.Reconcile("L4082", 2, next)))
	assert.Equal(t, rdftest.NTriples(t, next), dumpString(t, g))
}

func TestGraphApplyBucketsAndLagMarker(t *testing.T) {
	ctx := context.Background()
	q1, q2 := gWD.EntityTerm("Q1"), gWD.EntityTerm("Q2")
	st := gIRI(gWD.StatementPrefix() + "Q1-abc")
	ref := gIRI(gWD.ReferencePrefix() + "r1")
	p := gEx("p")
	old := []rdfdiff.Triple{
		gTri(q1, p, gLit("old")),
		gTri(q1, gIRI("http://www.wikidata.org/prop/P1"), st),
		gTri(st, gProvDerived, ref),
		gTri(ref, p, gLit("ref")),
	}
	for _, marker := range []string{"", gWD.ConceptURI()} {
		g := graphOf(t, old, WithLagMarker(marker))
		b := &rdfdiff.ConsolidatedPatch{}
		b.Removed = []rdfdiff.Triple{gTri(q1, p, gLit("old")), gTri(st, gProvDerived, ref), gTri(q1, p, gLit("never there"))}
		b.Added = []rdfdiff.Triple{gTri(q1, p, gLit("new")), gTri(q2, p, gLit("two"))}
		b.LinkedShared = []rdfdiff.Triple{gTri(gIRI(gWD.ValuePrefix()+"v1"), p, gLit("v"))}
		b.UnlinkedShared = []rdfdiff.Triple{gTri(ref, p, gLit("ref"))}
		b.AvgEventTime = time.Date(2026, 11, 25, 13, 0, 0, 5e6, time.UTC)
		require.NoError(t, g.Apply(ctx, b, nil))

		want := []rdfdiff.Triple{
			gTri(q1, p, gLit("new")), gTri(q2, p, gLit("two")),
			gTri(q1, gIRI("http://www.wikidata.org/prop/P1"), st),
			gTri(gIRI(gWD.ValuePrefix()+"v1"), p, gLit("v")),
			gTri(ref, p, gLit("ref")), // unlinked shared triples stay (WDQS)
		}
		if marker != "" {
			want = append(want, gTri(gIRI(marker), iriSchemaDateModified, rdfdiff.NewTypedLiteral("2026-11-25T13:00:00.005Z", rdfdiff.XSDDateTime)))
		}
		assert.Equal(t, rdftest.NTriples(t, want), dumpString(t, g), "marker %q", marker)

		// The next batch replaces the marker; a batch without user events
		// leaves it.
		b2 := &rdfdiff.ConsolidatedPatch{AvgEventTime: time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)}
		require.NoError(t, g.Apply(ctx, b2, nil))
		require.NoError(t, g.Apply(ctx, &rdfdiff.ConsolidatedPatch{}, nil))
		if marker != "" {
			assert.Equal(t, []rdfdiff.Triple{gTri(gIRI(marker), iriSchemaDateModified,
				rdfdiff.NewTypedLiteral("2026-11-25T14:00:00Z", rdfdiff.XSDDateTime))},
				g.Match(gIRI(marker), rdfdiff.Term{}, rdfdiff.Term{}))
		}
		assert.Equal(t, len(want), g.Len())
	}
}

func TestGraphOrphanCleanup(t *testing.T) {
	ctx := context.Background()
	p := gEx("p")
	pP1 := gIRI("http://www.wikidata.org/prop/P1")
	ref := gIRI(gWD.ReferencePrefix() + "shared")
	val := gIRI(gWD.ValuePrefix() + "v")
	self := gIRI(gWD.ValuePrefix() + "self")
	entity := func(id string) []rdfdiff.Triple {
		st := gIRI(gWD.StatementPrefix() + id + "-s")
		return []rdfdiff.Triple{
			gTri(gWD.EntityTerm(id), pP1, st),
			gTri(st, gProvDerived, ref),
		}
	}
	shared := []rdfdiff.Triple{
		gTri(ref, gIRI("http://www.wikidata.org/prop/reference/value/P813"), val),
		gTri(val, p, gLit("2024")),
		gTri(val, p, self), // a value pointing at another value: self is referenced
		gTri(self, p, self),
	}
	stale := gTri(gIRI(gWD.ValuePrefix()+"stale"), p, gLit("older orphan"))
	var all []rdfdiff.Triple
	all = append(all, entity("Q1")...)
	all = append(all, entity("Q2")...)
	all = append(all, shared...)
	all = append(all, stale)

	for _, cleanup := range []bool{false, true} {
		g := graphOf(t, all, WithOrphanCleanup(cleanup))
		// Q1 drops its statement: the reference is still Q2's.
		st1 := gIRI(gWD.StatementPrefix() + "Q1-s")
		b := &rdfdiff.ConsolidatedPatch{}
		b.Removed = []rdfdiff.Triple{gTri(gWD.EntityTerm("Q1"), pP1, st1), gTri(st1, gProvDerived, ref)}
		b.UnlinkedShared = shared
		require.NoError(t, g.Apply(ctx, b, nil))
		for _, tr := range shared {
			assert.True(t, g.Contains(tr), "cleanup %v: %v still used by Q2", cleanup, tr)
		}
		// Q2 is deleted: the reference, and through it the values, are
		// orphans.
		require.NoError(t, g.Apply(ctx, rdftest.Batch(t, rdftest.Delete("Q2")), nil))
		if cleanup {
			assert.Equal(t, rdftest.NTriples(t, []rdfdiff.Triple{stale}), dumpString(t, g),
				"orphans and the orphans they referenced go; an older orphan is not searched for")
		} else {
			assert.Equal(t, rdftest.NTriples(t, append(append([]rdfdiff.Triple(nil), shared...), stale)), dumpString(t, g))
		}
	}
}

func TestGraphApplyFailureLeavesGraphAndCommitUnchanged(t *testing.T) {
	ctx := context.Background()
	g := graphOf(t, graphFixture(t, "Q42-munged.ttl"), WithOrphanCleanup(true), WithLagMarker(gWD.ConceptURI()))
	first := &streamkit.CommitPoint{Job: "wdqs", CheckpointID: 7, Positions: source.Positions{{Topic: "eqiad.rdf", Partition: 0}: 42}}
	require.NoError(t, g.Apply(ctx, nil, first))
	before := dumpString(t, g)

	good := func() *rdfdiff.ConsolidatedPatch {
		p := rdftest.Batch(t, rdftest.Delete("Q42"))
		p.Added = []rdfdiff.Triple{gTri(gWD.EntityTerm("Q1"), gEx("p"), gLit("x"))}
		p.AvgEventTime = time.Unix(1, 0)
		return p
	}
	next := &streamkit.CommitPoint{Job: "wdqs", CheckpointID: 8, Positions: source.Positions{{Topic: "eqiad.rdf", Partition: 0}: 50}}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	for _, c := range []struct {
		name   string
		ctx    context.Context
		patch  func(p *rdfdiff.ConsolidatedPatch)
		commit *streamkit.CommitPoint
		is     error
		msg    string
	}{
		{"literal subject last in Added", ctx, func(p *rdfdiff.ConsolidatedPatch) {
			p.Added = append(p.Added, gTri(gLit("s"), gEx("p"), gEx("o")))
		}, next, rdfdiff.ErrInvalidTriple, "Added[1]"},
		{"zero term in UnlinkedShared", ctx, func(p *rdfdiff.ConsolidatedPatch) {
			p.UnlinkedShared = []rdfdiff.Triple{{S: gEx("s"), P: gEx("p")}}
		}, next, ErrInvalidPatch, "UnlinkedShared[0]"},
		{"bad reconciliation triple", ctx, func(p *rdfdiff.ConsolidatedPatch) {
			p.Reconciliations = []rdfdiff.Reconciliation{{EntityID: "Q1", Triples: []rdfdiff.Triple{gTri(gEx("s"), gLit("p"), gEx("o"))}}}
		}, next, rdfdiff.ErrInvalidTriple, "Reconciliations[0].Triples[0]"},
		{"entity ID that would change an IRI", ctx, func(p *rdfdiff.ConsolidatedPatch) {
			p.DeletedEntities = append(p.DeletedEntities, "Q1> <x")
		}, next, rdfdiff.ErrInvalidEntityID, "DeletedEntities[1]"},
		{"empty reconciliation entity", ctx, func(p *rdfdiff.ConsolidatedPatch) {
			p.Reconciliations = []rdfdiff.Reconciliation{{}}
		}, next, ErrInvalidPatch, "Reconciliations[0]"},
		{"negative offset", ctx, nil, &streamkit.CommitPoint{Job: "wdqs", Positions: source.Positions{{Topic: "t"}: -1}}, streamkit.ErrInvalidCommitPoint, "negative"},
		{"cancelled context", cancelled, nil, next, context.Canceled, "graph: apply"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := good()
			if c.patch != nil {
				c.patch(p)
			}
			err := g.Apply(c.ctx, p, c.commit)
			require.ErrorIs(t, err, c.is)
			if c.patch != nil {
				require.ErrorIs(t, err, ErrInvalidPatch)
				assert.True(t, strings.HasPrefix(err.Error(), "graph: invalid patch: "+c.msg), err.Error())
			}
			assert.Contains(t, err.Error(), c.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "graph: "), err.Error())
			assert.Equal(t, before, dumpString(t, g))
			cp, err := g.Positions(ctx)
			require.NoError(t, err)
			assert.Equal(t, first, cp)
		})
	}
	// The same batch, valid, applies.
	require.NoError(t, g.Apply(ctx, good(), next))
	assert.NotEqual(t, before, dumpString(t, g))
}

func TestGraphCommitPointRoundTrip(t *testing.T) {
	ctx := context.Background()
	g := NewGraph()
	cp, err := g.Positions(ctx)
	require.NoError(t, err)
	assert.Nil(t, cp, "no commit point before the first Apply")

	in := &streamkit.CommitPoint{Job: "wdqs-eqiad", CheckpointID: 12, Positions: source.Positions{
		{Topic: "eqiad.rdf-streaming-updater.mutation", Partition: 0}: 1234,
		{Topic: "codfw.rdf-streaming-updater.mutation", Partition: 0}: 99,
	}}
	require.NoError(t, g.Apply(ctx, rdftest.Batch(t, rdftest.Import("Q1", 1, []rdfdiff.Triple{gTri(gWD.EntityTerm("Q1"), gEx("p"), gLit("x"))})), in))
	want := &streamkit.CommitPoint{Job: in.Job, CheckpointID: in.CheckpointID, Positions: maps.Clone(in.Positions)}
	in.Positions[source.TopicPartition{Topic: "eqiad.rdf-streaming-updater.mutation"}] = 0 // the caller's map is not kept
	cp, err = g.Positions(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, cp)
	cp.Positions[source.TopicPartition{Topic: "codfw.rdf-streaming-updater.mutation"}] = -5 // nor is the returned one shared
	cp, err = g.Positions(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, cp)

	// A nil commit applies the data and keeps the recorded point.
	require.NoError(t, g.Apply(ctx, rdftest.Batch(t, rdftest.Delete("Q1")), nil))
	assert.Zero(t, g.Len())
	cp, err = g.Positions(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, cp)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = g.Positions(cancelled)
	require.ErrorIs(t, err, context.Canceled)
}

// TestGraphMutationEvents feeds the real rdf_change v2 events of the WDQS
// serialization tests through the consumer path: decode, reassemble,
// accumulate, apply.
func TestGraphMutationEvents(t *testing.T) {
	ctx := context.Background()
	events := map[string]*rdfdiff.EntityChange{}
	re := rdfdiff.NewReassembler()
	for _, name := range []string{"Import", "Diff", "Delete", "Reconcile"} {
		data, err := os.ReadFile(filepath.Join("testdata", "graph", name+"-v2.json"))
		require.NoError(t, err)
		ev, err := rdfdiff.DecodeEvent(data)
		require.NoError(t, err)
		c, err := re.Add(ev, name)
		require.NoError(t, err)
		require.NotNil(t, c, name)
		events[name] = c
	}
	uri := func(s string) rdfdiff.Term { return gIRI("uri:" + s) }
	q123 := gWD.EntityTerm("Q123")

	g := NewGraph(WithLagMarker(gWD.ConceptURI()))
	// What the store holds before: the triples the diff deletes, and some of
	// Q123's own data the delete must remove.
	_, err := g.Add(gTri(uri("del"), uri("del"), uri("del")), gTri(q123, uri("p"), uri("o")),
		gTri(uri("unlinked"), uri("unlinked"), uri("unlinked")))
	require.NoError(t, err)

	acc := rdfdiff.NewAccumulator()
	var applied []*rdfdiff.ConsolidatedPatch
	flush := func(id uint64) {
		p := acc.Result()
		require.NoError(t, g.Apply(ctx, p, &streamkit.CommitPoint{Job: "events", CheckpointID: id,
			Positions: source.Positions{{Topic: "rdf"}: int64(acc.Len())}}))
		applied = append(applied, p)
		acc.Reset()
	}
	require.NoError(t, acc.Accumulate(events["Import"]))
	require.NoError(t, acc.Accumulate(events["Diff"]))
	flush(1)
	assert.True(t, g.Contains(gTri(uri("a"), uri("b"), uri("c"))))
	assert.True(t, g.Contains(gTri(uri("x"), uri("y"), uri("z"))))
	assert.False(t, g.Contains(gTri(uri("del"), uri("del"), uri("del"))))
	assert.True(t, g.Contains(gTri(uri("unlinked"), uri("unlinked"), uri("unlinked"))), "unlinked shared triples stay")
	assert.Len(t, g.Match(gIRI(gWD.ConceptURI()), rdfdiff.Term{}, rdfdiff.Term{}), 1, "lag marker")

	require.NoError(t, acc.Accumulate(events["Delete"]))
	// A reconcile must wait for the next batch after a delete.
	require.ErrorIs(t, acc.Check(events["Reconcile"]), rdfdiff.ErrChangeRefused)
	flush(2)
	assert.Empty(t, g.Match(q123, rdfdiff.Term{}, rdfdiff.Term{}), "Q123's own triples deleted")

	require.NoError(t, acc.Accumulate(events["Reconcile"]))
	flush(3)
	for _, tr := range events["Reconcile"].Patch.Added {
		assert.True(t, g.Contains(tr), "%v", tr)
	}
	require.Len(t, applied, 3)
	cp, err := g.Positions(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), cp.CheckpointID)
}

func TestGraphOtherURIScheme(t *testing.T) {
	commons := rdfdiff.CommonsScheme()
	m1 := commons.EntityTerm("M1")
	st := gIRI(commons.StatementPrefix() + "M1-abc")
	val := gIRI(commons.ValuePrefix() + "v")
	wdStatement := gIRI(gWD.StatementPrefix() + "M1-abc") // not a Commons statement node
	p := gEx("p")
	ts := []rdfdiff.Triple{
		gTri(m1, p, st), gTri(st, p, val), gTri(val, p, gLit("1")),
		gTri(m1, p, wdStatement), gTri(wdStatement, p, gLit("kept")),
	}
	ctx := context.Background()
	g := graphOf(t, ts, WithGraphURIScheme(commons), WithOrphanCleanup(true))
	require.NoError(t, g.Apply(ctx, rdftest.Batch(t, rdftest.Delete("M1")), nil))
	assert.Equal(t, rdftest.NTriples(t, ts[4:]), dumpString(t, g),
		"the Commons statement and its orphaned value go; a node in Wikidata's statement namespace is not M1's statement")

	// The zero scheme is ignored: the graph keeps Wikidata's, where M1 is
	// <http://www.wikidata.org/entity/M1>, absent here.
	g = graphOf(t, ts, WithGraphURIScheme(rdfdiff.URIScheme{}), WithOrphanCleanup(true))
	require.NoError(t, g.Apply(ctx, rdftest.Batch(t, rdftest.Delete("M1")), nil))
	assert.Equal(t, rdftest.NTriples(t, ts), dumpString(t, g))
}
