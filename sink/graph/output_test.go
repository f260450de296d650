package graph_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

var goParts = source.Partitions{"mutation": {0}}

func goCommit(id uint64, offset int64) *streamkit.CommitPoint {
	return &streamkit.CommitPoint{Job: "j", CheckpointID: id, Positions: source.Positions{{Topic: "mutation", Partition: 0}: offset}}
}

func rcGraphOutput(t *testing.T, g *graph.Graph, opts ...graph.Option) *graph.GraphOutput {
	t.Helper()
	o, err := graph.NewGraphOutput(g, opts...)
	require.NoError(t, err)
	return o
}

func TestGraphOutputLifecycle(t *testing.T) {
	ctx := context.Background()
	_, err := graph.NewGraphOutput(nil)
	require.Error(t, err)
	o := rcGraphOutput(t, graph.NewGraph())
	q42, _ := rdftest.Q42Import(t, "graph", 1, rdfdiff.DefaultSoftMaxChars)

	require.NoError(t, o.Claim(ctx))
	_, err = o.ReadCommitPoint(ctx, goParts)
	require.ErrorIs(t, err, streamkit.ErrNoCommitPoint)
	require.ErrorIs(t, o.Add(q42), graph.ErrGraphOutputNotOpen)
	require.ErrorIs(t, o.Send(ctx, streamkit.KafkaRecord{Topic: "dlq"}), graph.ErrGraphOutputNotOpen)
	require.ErrorIs(t, o.Commit(ctx, goCommit(1, 1)), graph.ErrGraphOutputNotOpen)
	require.NoError(t, o.Abort(ctx), "abort without an open checkpoint is a no-op")
	require.NoError(t, o.Begin(ctx))
	require.ErrorIs(t, o.Begin(ctx), graph.ErrGraphOutputOpen)
	require.ErrorIs(t, o.Add(nil), rdfdiff.ErrInvalidChange)
	require.ErrorIs(t, o.Send(ctx, streamkit.KafkaRecord{}), streamkit.ErrInvalidRecord)
	require.ErrorIs(t, o.Commit(ctx, &streamkit.CommitPoint{}), streamkit.ErrInvalidCommitPoint)
	require.NoError(t, o.Close())
	require.NoError(t, o.Close(), "closing twice is fine")
	for _, err := range []error{o.Claim(ctx), o.Begin(ctx), o.Add(q42), o.Commit(ctx, goCommit(1, 1)), o.Abort(ctx)} {
		require.ErrorIs(t, err, graph.ErrGraphOutputClosed)
	}
	_, err = o.ReadCommitPoint(ctx, goParts)
	require.ErrorIs(t, err, graph.ErrGraphOutputClosed)
	assert.Equal(t, graph.GraphOutputStats{Aborts: 1}, o.Stats())
}

// TestGraphOutputCommitAndAbort: a commit applies the checkpoint's changes
// with its commit point; an abort leaves the graph and the commit point as
// they were, and drops the checkpoint's dead letters.
func TestGraphOutputCommitAndAbort(t *testing.T) {
	ctx := context.Background()
	g := graph.NewGraph()
	o := rcGraphOutput(t, g)
	changes := rdftest.DecodeAll(t, rdftest.File(t, "graph", "Import-v2.json"), rdftest.File(t, "graph", "Diff-v2.json"))
	q42, _ := rdftest.Q42Import(t, "graph", 1, rdfdiff.DefaultSoftMaxChars)

	require.NoError(t, o.Begin(ctx))
	require.NoError(t, o.Add(changes[0]))
	require.NoError(t, o.Send(ctx, streamkit.KafkaRecord{Topic: "dlq", Value: []byte("bad one")}))
	assert.Equal(t, 1, o.Pending())
	assert.Zero(t, g.Len(), "nothing is visible before the commit")
	require.NoError(t, o.Commit(ctx, goCommit(1, 1)))
	cp, err := o.ReadCommitPoint(ctx, goParts)
	require.NoError(t, err)
	assert.Equal(t, goCommit(1, 1), cp)
	require.Len(t, o.DeadLetters(), 1)
	assert.Equal(t, "bad one", string(o.DeadLetters()[0].Value))
	after1 := rcDump(t, g)
	require.Equal(t, rcDump(t, rcReference(t, changes[0])), after1)

	require.NoError(t, o.Begin(ctx))
	require.NoError(t, o.Add(changes[1]))
	require.NoError(t, o.Add(q42))
	require.NoError(t, o.Send(ctx, streamkit.KafkaRecord{Topic: "dlq", Value: []byte("aborted")}))
	require.NoError(t, o.Abort(ctx))
	assert.Equal(t, after1, rcDump(t, g))
	cp, err = o.ReadCommitPoint(ctx, goParts)
	require.NoError(t, err)
	assert.Equal(t, goCommit(1, 1), cp)
	assert.Len(t, o.DeadLetters(), 1)

	// A commit whose context is done changes nothing and keeps the
	// checkpoint open; the next commit applies it.
	require.NoError(t, o.Begin(ctx))
	require.NoError(t, o.Add(changes[1]))
	require.NoError(t, o.Add(q42))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, o.Commit(cancelled, goCommit(2, 3)), context.Canceled)
	assert.Equal(t, after1, rcDump(t, g))
	require.NoError(t, o.Commit(ctx, goCommit(2, 3)))
	require.Equal(t, rcDump(t, rcReference(t, changes[0], changes[1], q42)), rcDump(t, g))
	assert.Equal(t, graph.GraphOutputStats{Commits: 2, Aborts: 1, Changes: 3, DeadLetters: 1}, o.Stats())
}

// TestGraphOutputBarrier: changes the accumulator must keep apart (a diff
// or import after a delete of the same entity, a delete after a reconcile)
// open segments, ask for a commit, and still commit as one step with the
// result of applying them one by one.
func TestGraphOutputBarrier(t *testing.T) {
	ctx := context.Background()
	g := graph.NewGraph()
	o := rcGraphOutput(t, g)
	q42, _ := rdftest.Q42Import(t, "graph", 1, rdfdiff.DefaultSoftMaxChars)
	del := &rdfdiff.EntityChange{EntityID: "Q42", Revision: 2, Operation: rdfdiff.OpDelete}
	again, _ := rdftest.Q42Import(t, "graph", 3, rdfdiff.DefaultSoftMaxChars)
	rec := &rdfdiff.EntityChange{EntityID: "Q42", Revision: 4, Operation: rdfdiff.OpReconcile,
		Patch: rdfdiff.Patch{Added: q42.Patch.Added[:len(q42.Patch.Added)/2]}}
	del2 := &rdfdiff.EntityChange{EntityID: "Q42", Revision: 5, Operation: rdfdiff.OpDelete}
	final, _ := rdftest.Q42Import(t, "graph", 6, rdfdiff.DefaultSoftMaxChars)

	require.NoError(t, o.Begin(ctx))
	require.NoError(t, o.Add(q42))
	require.NoError(t, o.Add(del))
	assert.False(t, o.WantsCommit(), "a delete after an import merges")
	require.NoError(t, o.Add(again))
	assert.True(t, o.WantsCommit(), "an import after a delete opens a segment")
	for _, c := range []*rdfdiff.EntityChange{rec, del2, final} {
		require.NoError(t, o.Add(c))
	}
	require.NoError(t, o.Commit(ctx, goCommit(1, 6)))
	require.Equal(t, rcDump(t, rcReference(t, q42, del, again, rec, del2, final)), rcDump(t, g))
	assert.False(t, o.WantsCommit())
}

func TestGraphOutputWantsCommitAtTarget(t *testing.T) {
	ctx := context.Background()
	q42, _ := rdftest.Q42Import(t, "graph", 1, rdfdiff.DefaultSoftMaxChars)
	o := rcGraphOutput(t, graph.NewGraph(), graph.WithGraphOutputTarget(len(q42.Patch.Added)))
	require.NoError(t, o.Begin(ctx))
	assert.False(t, o.WantsCommit())
	require.NoError(t, o.Add(rdftest.DecodeAll(t, rdftest.File(t, "graph", "Import-v2.json"))[0]))
	assert.False(t, o.WantsCommit())
	require.NoError(t, o.Add(q42))
	assert.True(t, o.WantsCommit())

	off := rcGraphOutput(t, graph.NewGraph(), graph.WithGraphOutputTarget(0))
	require.NoError(t, off.Begin(ctx))
	require.NoError(t, off.Add(q42))
	assert.False(t, off.WantsCommit(), "target 0: only barriers ask")
}

// TestGraphOutputRefusesInvalidChanges: what the graph could never apply is
// refused at Add (so the consumer dead-letters it) and leaves the
// checkpoint as it was.
func TestGraphOutputRefusesInvalidChanges(t *testing.T) {
	ctx := context.Background()
	g := graph.NewGraph()
	o := rcGraphOutput(t, g)
	require.NoError(t, o.Begin(ctx))
	q42, _ := rdftest.Q42Import(t, "graph", 1, rdfdiff.DefaultSoftMaxChars)
	require.NoError(t, o.Add(q42))

	wd := rdfdiff.WikidataScheme()
	art := rdfdiff.NewIRI("https://en.wikipedia.org/wiki/Foo")
	noSite := &rdfdiff.EntityChange{EntityID: "Q1", Revision: 1, Operation: rdfdiff.OpImport, Patch: rdfdiff.Patch{Added: []rdfdiff.Triple{
		{S: art, P: rdfdiff.NewIRI(rdfdiff.RDFType), O: rdfdiff.NewIRI("http://schema.org/Article")},
		{S: art, P: rdfdiff.NewIRI("http://schema.org/about"), O: wd.EntityTerm("Q1")},
	}}}
	for name, c := range map[string]*rdfdiff.EntityChange{
		"sitelink without site": noSite,
		"delete of a bad ID":    {EntityID: "Q1/x", Revision: 1, Operation: rdfdiff.OpDelete},
		"reconcile bad ID":      {EntityID: "Q 1", Revision: 1, Operation: rdfdiff.OpReconcile},
	} {
		err := o.Add(c)
		require.ErrorIs(t, err, rdfdiff.ErrInvalidChange, name)
	}
	assert.Equal(t, 1, o.Pending())
	require.NoError(t, o.Commit(ctx, goCommit(1, 1)))
	require.Equal(t, rcDump(t, rcReference(t, q42)), rcDump(t, g))
}

// TestGraphOutputOneGraphPerTask: a graph records one commit point, so an
// output of other partitions refuses to read or overwrite it.
func TestGraphOutputOneGraphPerTask(t *testing.T) {
	ctx := context.Background()
	g := graph.NewGraph()
	a := rcGraphOutput(t, g)
	require.NoError(t, a.Begin(ctx))
	require.NoError(t, a.Commit(ctx, goCommit(1, 5)))

	b := rcGraphOutput(t, g)
	_, err := b.ReadCommitPoint(ctx, source.Partitions{"mutation": {1}})
	require.ErrorIs(t, err, streamkit.ErrInvalidCommitPoint)
	require.NoError(t, b.Begin(ctx))
	require.NoError(t, b.Add(rdftest.DecodeAll(t, rdftest.File(t, "graph", "Import-v2.json"))[0]))
	other := &streamkit.CommitPoint{Job: "j", CheckpointID: 1, Positions: source.Positions{{Topic: "mutation", Partition: 1}: 1}}
	require.ErrorIs(t, b.Commit(ctx, other), streamkit.ErrInvalidCommitPoint)
	assert.Zero(t, g.Len())
	cp, err := a.ReadCommitPoint(ctx, goParts)
	require.NoError(t, err)
	assert.Equal(t, goCommit(1, 5), cp)
}

// rcReference applies changes one at a time, as a store fed one event
// per batch would hold them.
func rcReference(t testing.TB, changes ...*rdfdiff.EntityChange) *graph.Graph {
	t.Helper()
	g := graph.NewGraph()
	for _, c := range changes {
		acc := rdfdiff.NewAccumulator()
		require.NoError(t, acc.Accumulate(c))
		require.NoError(t, g.Apply(context.Background(), acc.Result(), nil))
	}
	return g
}

func rcDump(t testing.TB, g *graph.Graph) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, g.Dump(&b))
	return b.String()
}

// TestOptionForAnotherConstructor: one Option type serves NewGraph and
// NewGraphOutput; an option given to the wrong one is refused, naming the
// right constructor.
func TestOptionForAnotherConstructor(t *testing.T) {
	_, err := graph.NewGraphOutput(graph.NewGraph(), graph.WithOrphanCleanup(true))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WithOrphanCleanup (an option of NewGraph)")
	assert.PanicsWithError(t, "graph: NewGraph was given WithGraphOutputTarget (an option of NewGraphOutput): pass each option to its own constructor",
		func() { graph.NewGraph(graph.WithGraphOutputTarget(3)) })
	o, err := graph.NewGraphOutput(graph.NewGraph(graph.WithOrphanCleanup(true), nil), graph.WithGraphOutputTarget(3))
	require.NoError(t, err)
	require.NotNil(t, o)
}
