package sparql

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
)

const subjectBase = "http://example.test/"

// subjectDoc returns the document of subject with a chain of depth skolem
// nodes (a cycle back from the last to the first) and a link to other.
func subjectDoc(subject, other, label string, depth int) []rdfdiff.Triple {
	p := func(n string) rdfdiff.Term { return rdfdiff.NewIRI("http://example.test/ns#" + n) }
	s := rdfdiff.NewIRI(subject)
	ts := []rdfdiff.Triple{{S: s, P: p("name"), O: rdfdiff.NewLiteral(label)}}
	if other != "" {
		ts = append(ts, rdfdiff.Triple{S: s, P: p("knows"), O: rdfdiff.NewIRI(other)})
	}
	prev := s
	for i := range depth {
		k := rdfdiff.NewBlankNode("k" + string(rune('0'+i)))
		ts = append(ts, rdfdiff.Triple{S: prev, P: p("next"), O: k}, rdfdiff.Triple{S: k, P: p("level"), O: rdfdiff.NewLiteral(label + string(rune('0'+i)))})
		prev = k
	}
	if depth > 1 {
		ts = append(ts, rdfdiff.Triple{S: prev, P: p("back"), O: rdfdiff.NewBlankNode("k0")})
	}
	ts = rdfdiff.SkolemizeSubject(subjectBase, subject, ts)
	if err := rdfdiff.CheckSubjectDocument(subjectBase, subject, ts); err != nil {
		panic(err) // the test's documents are subject documents
	}
	return ts
}

// subjectBatches are three batches of subject changes: imports, then a
// delete of S1 and a reconcile of S3, then a diff of S2.
func subjectBatches(t *testing.T) []*rdfdiff.ConsolidatedPatch {
	s1, s2, s3 := subjectBase+"S1", subjectBase+"S2", subjectBase+"S3"
	change := func(op rdfdiff.Operation, id string, rev int64, p rdfdiff.Patch) *rdfdiff.EntityChange {
		return &rdfdiff.EntityChange{EntityID: id, Revision: rev, Operation: op, Patch: p}
	}
	batch := func(cs ...*rdfdiff.EntityChange) *rdfdiff.ConsolidatedPatch {
		acc := rdfdiff.NewAccumulator()
		for _, c := range cs {
			require.NoError(t, acc.Accumulate(c))
		}
		return acc.Result()
	}
	return []*rdfdiff.ConsolidatedPatch{
		batch(
			change(rdfdiff.OpImport, s1, 1, rdfdiff.Patch{Added: subjectDoc(s1, s2, "one", rdfdiff.SubjectSkolemDepth)}),
			change(rdfdiff.OpImport, s2, 1, rdfdiff.Patch{Added: subjectDoc(s2, s1, "two", 2)}),
			change(rdfdiff.OpImport, s3, 1, rdfdiff.Patch{Added: subjectDoc(s3, "", "three", 3)}),
		),
		batch(
			change(rdfdiff.OpDelete, s1, 2, rdfdiff.Patch{}),
			change(rdfdiff.OpReconcile, s3, 2, rdfdiff.Patch{Added: subjectDoc(s3, s2, "three again", 1)}),
		),
		batch(change(rdfdiff.OpDiff, s2, 2, rdfdiff.Diff(subjectDoc(s2, s1, "two", 2), subjectDoc(s2, s1, "two bis", 1), nil))),
	}
}

// TestSubjectModeGraph: the in-memory graph in subject mode deletes a
// subject's whole document (its skolem nodes too, cycles included) and
// leaves other subjects' links to it.
func TestSubjectModeGraph(t *testing.T) {
	ctx := context.Background()
	g := graph.NewGraph(graph.WithSubjects(subjectBase))
	for _, p := range subjectBatches(t) {
		require.NoError(t, g.Apply(ctx, p, nil))
	}
	s1, s2, s3 := subjectBase+"S1", subjectBase+"S2", subjectBase+"S3"
	want := tripleSet(subjectDoc(s2, s1, "two bis", 1), subjectDoc(s3, s2, "three again", 1))
	assert.Equal(t, want, tripleSet(g.Triples()))
	// OpDelete of a subject IRI is valid in subject mode only.
	err := graph.NewGraph().Apply(ctx, &rdfdiff.ConsolidatedPatch{DeletedEntities: []string{s1}}, nil)
	require.ErrorIs(t, err, rdfdiff.ErrInvalidEntityID)
	err = g.Apply(ctx, &rdfdiff.ConsolidatedPatch{DeletedEntities: []string{"Q1"}}, nil)
	require.ErrorIs(t, err, rdfdiff.ErrInvalidEntityID, "a subject is an absolute IRI")
}

// TestSubjectModeBuilderRefusesNonIRISubjects: a delete of something that
// is not an IRI is refused when it is added.
func TestSubjectModeBuilderRefusesNonIRISubjects(t *testing.T) {
	b, err := NewSubjectUpdateBuilder(subjectBase)
	require.NoError(t, err)
	require.ErrorIs(t, b.CheckChange(&rdfdiff.EntityChange{EntityID: "Q1", Operation: rdfdiff.OpDelete}), ErrUnsafeTerm)
	require.NoError(t, b.CheckChange(&rdfdiff.EntityChange{EntityID: subjectBase + "S1", Operation: rdfdiff.OpDelete}))
	_, err = NewSubjectUpdateBuilder("not an IRI")
	require.Error(t, err)
	_, err = NewUpdateBuilder(rdfdiff.URIScheme{})
	require.ErrorContains(t, err, "NewSubjectUpdateBuilder")
	// A Wikibase builder refuses a subject IRI (it would delete nothing).
	wb, err := NewUpdateBuilder(wd)
	require.NoError(t, err)
	err = wb.CheckChange(&rdfdiff.EntityChange{EntityID: subjectBase + "S1", Operation: rdfdiff.OpDelete})
	require.ErrorIs(t, err, ErrUnsafeTerm)
	assert.Contains(t, err.Error(), "use NewSubjectUpdateBuilder")
	require.NoError(t, wb.CheckChange(&rdfdiff.EntityChange{EntityID: "L1-F2", Operation: rdfdiff.OpDelete}))
}

func TestSubjectModeOxigraph(t *testing.T)   { subjectModeStore(t, "STREAMKIT_OXIGRAPH_URL") }
func TestSubjectModeVirtuoso(t *testing.T)   { subjectModeStore(t, "STREAMKIT_VIRTUOSO_URL") }
func TestSubjectModeBlazegraph(t *testing.T) { subjectModeStore(t, "STREAMKIT_BLAZEGRAPH_URL") }

// subjectModeStore applies the subject batches to a real store through
// NewSubjectUpdateBuilder and to the in-memory graph in subject mode: after
// each batch they hold the same triples.
func subjectModeStore(t *testing.T, env string) {
	c := storeClient(t, env)
	ctx := context.Background()
	data := ""
	if !isBlazegraph(env) {
		data = testGraph(t)
		t.Cleanup(func() { _ = c.Update(ctx, "DROP SILENT GRAPH <"+data+">") })
	}
	var opts []Option
	if data != "" {
		opts = append(opts, WithDataGraph(data))
	}
	b, err := NewSubjectUpdateBuilder(subjectBase, opts...)
	require.NoError(t, err)
	g := graph.NewGraph(graph.WithSubjects(subjectBase))
	for i, p := range subjectBatches(t) {
		update, err := b.Build(p, nil)
		require.NoError(t, err)
		require.NoError(t, c.Update(ctx, update), "batch %d:\n%s", i, update)
		require.NoError(t, g.Apply(ctx, p, nil))
		requireSameGraph(t, tripleSet(g.Triples()), dumpGraph(t, c, data), storeNormalizer(env))
	}
}
