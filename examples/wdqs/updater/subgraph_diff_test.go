package updater_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// fanned is one fanned-out change in a comparable form.
type fanned struct {
	stream string
	op     rdfdiff.Operation
	patch  rdfdiff.Patch
}

func fanOut(t *testing.T, d *updater.SubgraphDiff, op rdfdiff.Operation, from, to []rdfdiff.Triple, prev updater.SubgraphMembership) ([]fanned, updater.SubgraphMembership) {
	t.Helper()
	base := rdfdiff.EntityChange{EntityID: "Q1", Revision: 7, Operation: op, EventTime: time.Unix(1, 0), RequestID: "r", Domain: "d"}
	changes, next := d.FanOut(base, from, to, prev)
	var out []fanned
	for _, c := range changes {
		assert.Equal(t, d.Assigner().Definitions().Subgraphs[c.Subgraph].Stream, c.Change.Stream)
		assert.Equal(t, "Q1", c.Change.EntityID)
		assert.Equal(t, int64(7), c.Change.Revision)
		assert.Equal(t, "r", c.Change.RequestID)
		// Every change must be a valid rdf_change event.
		_, err := rdfdiff.ChunkChange(c.Change)
		require.NoError(t, err, "%s %s", c.Change.Stream, c.Change.Operation)
		out = append(out, fanned{c.Change.Stream, c.Change.Operation, sorted(c.Change.Patch)})
	}
	return out, next
}

func members(t *testing.T, d *updater.SubgraphDefinitions, names ...string) updater.SubgraphMembership {
	t.Helper()
	var s updater.SubgraphSet
	for _, n := range names {
		i := d.Index(n)
		require.GreaterOrEqual(t, i, 0, n)
		s = s.With(i)
	}
	return updater.SubgraphMembership{Set: s, Known: true}
}

func TestSubgraphDiffFanOut(t *testing.T) {
	// full: everything; graph1: P31 Q10 only; graph2: all but P31 Q10.
	// graph1 and graph2 are stubs sources.
	defs := loadDefs(t, "SubgraphDiffUnitTest-three-graphs-definitions.yaml")
	shared := rdfdiff.WikibaseShared(unitScheme)
	d := updater.NewSubgraphDiff(updater.NewSubgraphAssigner(defs, unitScheme), shared)
	const full, g1, g2 = "rdf-streaming-udpater.mutations", "stream-graph1", "stream-graph2"
	plain1 := []rdfdiff.Triple{labelOf("Q1", "one")}
	plain2 := []rdfdiff.Triple{labelOf("Q1", "two")}
	in1 := []rdfdiff.Triple{isA("Q1", "Q10"), labelOf("Q1", "one")}
	del := rdfdiff.Patch{}
	whole := func(ts []rdfdiff.Triple) rdfdiff.Patch { return sorted(rdfdiff.Diff(nil, ts, shared)) }
	diff := func(a, b []rdfdiff.Triple) rdfdiff.Patch { return sorted(rdfdiff.Diff(a, b, shared)) }
	stubs := func(graph string) rdfdiff.Patch {
		return rdfdiff.Patch{LinkedShared: []rdfdiff.Triple{stubOf("Q1", graph)}}
	}

	t.Run("import", func(t *testing.T) {
		got, next := fanOut(t, d, rdfdiff.OpImport, nil, plain1, updater.SubgraphMembership{})
		assert.Equal(t, []fanned{
			{full, rdfdiff.OpImport, whole(plain1)},
			{g1, rdfdiff.OpImport, stubs("graph2")},
			{g2, rdfdiff.OpImport, whole(plain1)},
		}, got)
		assert.Equal(t, members(t, defs, "full", "graph2"), next)
	})
	t.Run("unchanged membership forwards the patch", func(t *testing.T) {
		got, next := fanOut(t, d, rdfdiff.OpDiff, plain1, plain2, members(t, defs, "full", "graph2"))
		// graph1 gets its stub again (as WDQS sends it on every diff).
		assert.Equal(t, []fanned{
			{full, rdfdiff.OpDiff, diff(plain1, plain2)},
			{g1, rdfdiff.OpDiff, stubs("graph2")},
			{g2, rdfdiff.OpDiff, diff(plain1, plain2)},
		}, got)
		assert.Equal(t, members(t, defs, "full", "graph2"), next)
	})
	t.Run("entered and left", func(t *testing.T) {
		got, next := fanOut(t, d, rdfdiff.OpDiff, plain1, in1, members(t, defs, "full", "graph2"))
		assert.Equal(t, []fanned{
			{full, rdfdiff.OpDiff, diff(plain1, in1)},
			{g1, rdfdiff.OpDelete, del},
			{g1, rdfdiff.OpImport, whole(in1)},
			{g2, rdfdiff.OpDelete, del},
			{g2, rdfdiff.OpImport, stubs("graph1")},
		}, got)
		assert.Equal(t, members(t, defs, "full", "graph1"), next)

		// And back.
		got, next = fanOut(t, d, rdfdiff.OpDiff, in1, plain2, next)
		assert.Equal(t, []fanned{
			{full, rdfdiff.OpDiff, diff(in1, plain2)},
			{g1, rdfdiff.OpDelete, del},
			{g1, rdfdiff.OpImport, stubs("graph2")},
			{g2, rdfdiff.OpDelete, del},
			{g2, rdfdiff.OpImport, whole(plain2)},
		}, got)
		assert.Equal(t, members(t, defs, "full", "graph2"), next)
	})
	t.Run("delete", func(t *testing.T) {
		got, next := fanOut(t, d, rdfdiff.OpDelete, nil, nil, members(t, defs, "full", "graph2"))
		assert.Equal(t, []fanned{{full, rdfdiff.OpDelete, del}, {g1, rdfdiff.OpDelete, del}, {g2, rdfdiff.OpDelete, del}}, got)
		assert.Equal(t, updater.SubgraphMembership{}, next)
	})
	t.Run("unknown membership is the previous revision's", func(t *testing.T) {
		got, next := fanOut(t, d, rdfdiff.OpDiff, plain1, in1, updater.SubgraphMembership{})
		want, wantNext := fanOut(t, d, rdfdiff.OpDiff, plain1, in1, members(t, defs, "full", "graph2"))
		assert.Equal(t, want, got)
		assert.Equal(t, wantNext, next)
		assert.Len(t, got, 5)
	})
	t.Run("recorded membership wins over the previous revision's", func(t *testing.T) {
		// The stores have Q1 in graph1 (recorded), though its previous
		// revision would now be assigned to graph2 (definitions changed):
		// it leaves graph1 and enters graph2.
		got, _ := fanOut(t, d, rdfdiff.OpDiff, plain1, plain2, members(t, defs, "full", "graph1"))
		assert.Equal(t, []fanned{
			{full, rdfdiff.OpDiff, diff(plain1, plain2)},
			{g1, rdfdiff.OpDelete, del},
			{g1, rdfdiff.OpImport, stubs("graph2")},
			{g2, rdfdiff.OpDelete, del},
			{g2, rdfdiff.OpImport, whole(plain2)},
		}, got)
	})
	t.Run("reconcile", func(t *testing.T) {
		got, _ := fanOut(t, d, rdfdiff.OpReconcile, nil, in1, members(t, defs, "full", "graph1"))
		own := rdfdiff.Patch{Added: whole(in1).Added}
		assert.Equal(t, []fanned{
			{full, rdfdiff.OpReconcile, own},
			{g1, rdfdiff.OpReconcile, own},
			{g2, rdfdiff.OpDelete, del},
			{g2, rdfdiff.OpImport, stubs("graph1")},
		}, got)
	})
}

func TestSubgraphDiffStubs(t *testing.T) {
	// graph3 (P31 Q11) is no stubs source; graph2 blocks Q10 and Q12.
	defs := loadDefs(t, "SubgraphDiffUnitTest-four-graphs-definitions-mixed-stub-source.yaml")
	shared := rdfdiff.WikibaseShared(unitScheme)
	d := updater.NewSubgraphDiff(updater.NewSubgraphAssigner(defs, unitScheme), shared)
	in23 := []rdfdiff.Triple{isA("Q1", "Q11")}
	in0 := []rdfdiff.Triple{isA("Q1", "Q12")}
	whole := func(ts []rdfdiff.Triple) rdfdiff.Patch { return sorted(rdfdiff.Diff(nil, ts, shared)) }
	got, next := fanOut(t, d, rdfdiff.OpImport, nil, in23, updater.SubgraphMembership{})
	assert.Equal(t, []fanned{
		{"rdf-streaming-udpater.mutations", rdfdiff.OpImport, whole(in23)},
		// graph1 lacks it: a stub for graph2, none for graph3.
		{"stream-graph1", rdfdiff.OpImport, rdfdiff.Patch{LinkedShared: []rdfdiff.Triple{stubOf("Q1", "graph2")}}},
		{"stream-graph2", rdfdiff.OpImport, whole(in23)},
		{"stream-graph3", rdfdiff.OpImport, whole(in23)},
	}, got)
	assert.Equal(t, members(t, defs, "full", "graph2", "graph3"), next)

	// Into the full graph only: graph2 and graph3 are left, graph1's stub
	// goes (a delete with nothing to import), and no subgraph gets a stub.
	got, next = fanOut(t, d, rdfdiff.OpDiff, in23, in0, next)
	assert.Equal(t, []fanned{
		{"rdf-streaming-udpater.mutations", rdfdiff.OpDiff, sorted(rdfdiff.Diff(in23, in0, shared))},
		{"stream-graph1", rdfdiff.OpDelete, rdfdiff.Patch{}},
		{"stream-graph2", rdfdiff.OpDelete, rdfdiff.Patch{}},
		{"stream-graph3", rdfdiff.OpDelete, rdfdiff.Patch{}},
	}, got)
	assert.Equal(t, members(t, defs, "full"), next)

	// The four-graph file where graph3 is a stubs source: two stubs.
	four := loadDefs(t, "SubgraphDiffUnitTest-four-graphs-definitions.yaml")
	d = updater.NewSubgraphDiff(updater.NewSubgraphAssigner(four, unitScheme), shared)
	got, _ = fanOut(t, d, rdfdiff.OpImport, nil, in23, updater.SubgraphMembership{})
	require.Len(t, got, 4)
	assert.Equal(t, fanned{"stream-graph1", rdfdiff.OpImport, rdfdiff.Patch{LinkedShared: []rdfdiff.Triple{stubOf("Q1", "graph2"), stubOf("Q1", "graph3")}}}, got[1])
}

// The single-graph file: the fan-out is the plain operation.
func TestSubgraphDiffSingleGraph(t *testing.T) {
	defs := loadDefs(t, "SubgraphDiffUnitTest-single-graph-definition.yaml")
	shared := rdfdiff.WikibaseShared(unitScheme)
	d := updater.NewSubgraphDiff(updater.NewSubgraphAssigner(defs, unitScheme), shared)
	a, b := []rdfdiff.Triple{labelOf("Q1", "a")}, []rdfdiff.Triple{labelOf("Q1", "b")}
	for _, prev := range []updater.SubgraphMembership{{}, members(t, defs, "full")} {
		got, next := fanOut(t, d, rdfdiff.OpDiff, a, b, prev)
		assert.Equal(t, []fanned{{"rdf-streaming-udpater.mutations", rdfdiff.OpDiff, sorted(rdfdiff.Diff(a, b, shared))}}, got, fmt.Sprint(prev))
		assert.Equal(t, members(t, defs, "full"), next)
	}
}

// The scenarios of WDQS's SubgraphDiffUnitTest on its four-graph
// definitions (graph1: P31 Q10; graph2: all but P31 Q10 (and Q12 in the
// mixed file); graph3: P31 Q11, a stubs source only in the plain file),
// with the previous membership taken from the previous revision as WDQS
// does. Operations per subgraph, in order.
func TestSubgraphDiffUpstreamScenarios(t *testing.T) {
	shared := rdfdiff.WikibaseShared(unitScheme)
	rev := func(classes ...string) []rdfdiff.Triple {
		ts := []rdfdiff.Triple{labelOf("Q1", fmt.Sprint(classes))}
		for _, c := range classes {
			ts = append(ts, isA("Q1", c))
		}
		return ts
	}
	r3, r4, r5, r6 := rev("Q11"), rev("Q10", "Q11"), rev("Q10"), rev("Q11", "Q12")
	r7 := append(rev("Q11", "Q12"), labelOf("Q1", "r7"))
	const full = "rdf-streaming-udpater.mutations"
	for _, tc := range []struct {
		name, file string
		op         rdfdiff.Operation
		from, to   []rdfdiff.Triple
		want       map[string][]string // stream → "op stubs..." or "op"
	}{
		{"partially moving", "SubgraphDiffUnitTest-four-graphs-definitions.yaml", rdfdiff.OpDiff, r3, r4, map[string][]string{
			full: {"diff"}, "stream-graph1": {"delete", "import"}, "stream-graph2": {"delete", "import stubs graph1 graph3"}, "stream-graph3": {"diff"},
		}},
		{"stays out of graph2", "SubgraphDiffUnitTest-four-graphs-definitions.yaml", rdfdiff.OpDiff, r4, r5, map[string][]string{
			full: {"diff"}, "stream-graph1": {"diff"}, "stream-graph2": {"delete", "import stubs graph1"}, "stream-graph3": {"delete", "import stubs graph1"},
		}},
		{"mixed: enters only graph3", "SubgraphDiffUnitTest-four-graphs-definitions-mixed-stub-source.yaml", rdfdiff.OpDiff, r5, r6, map[string][]string{
			full: {"diff"}, "stream-graph1": {"delete"}, "stream-graph2": {"delete"}, "stream-graph3": {"delete", "import"},
		}},
		{"mixed: import into graph3 only", "SubgraphDiffUnitTest-four-graphs-definitions-mixed-stub-source.yaml", rdfdiff.OpImport, nil, r6, map[string][]string{
			full: {"import"}, "stream-graph3": {"import"},
		}},
		{"mixed: partially moving", "SubgraphDiffUnitTest-four-graphs-definitions-mixed-stub-source.yaml", rdfdiff.OpDiff, r4, r5, map[string][]string{
			full: {"diff"}, "stream-graph1": {"diff"}, "stream-graph2": {"diff stubs graph1"}, "stream-graph3": {"delete", "import stubs graph1"},
		}},
		{"mixed: staying in graph3", "SubgraphDiffUnitTest-four-graphs-definitions-mixed-stub-source.yaml", rdfdiff.OpDiff, r6, r7, map[string][]string{
			full: {"diff"}, "stream-graph3": {"diff"},
		}},
		// WDQS sends graph2 a reconcile carrying the stub, which rdf_change
		// does not allow: a delete and an import of the stub instead.
		{"mixed: reconcile, in a stubs source", "SubgraphDiffUnitTest-four-graphs-definitions-mixed-stub-source.yaml", rdfdiff.OpReconcile, nil, r4, map[string][]string{
			full: {"reconcile"}, "stream-graph1": {"reconcile"}, "stream-graph2": {"delete", "import stubs graph1"}, "stream-graph3": {"reconcile"},
		}},
		{"mixed: reconcile, in no stubs source", "SubgraphDiffUnitTest-four-graphs-definitions-mixed-stub-source.yaml", rdfdiff.OpReconcile, nil, r6, map[string][]string{
			full: {"reconcile"}, "stream-graph1": {"delete"}, "stream-graph2": {"delete"}, "stream-graph3": {"reconcile"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := updater.NewSubgraphDiff(updater.NewSubgraphAssigner(loadDefs(t, tc.file), unitScheme), shared)
			got, _ := fanOut(t, d, tc.op, tc.from, tc.to, updater.SubgraphMembership{})
			byStream := map[string][]string{}
			for _, c := range got {
				s := string(c.op)
				if c.patch.Len() > 0 && c.patch.Len() == len(c.patch.LinkedShared) && c.patch.LinkedShared[0].P.IsIRIEqual(updater.SubgraphStubPredicate) {
					s += " stubs"
					for _, st := range c.patch.LinkedShared {
						s += " " + st.O.Value()[len("https://query.unittest.local/subgraph/"):]
					}
				} else {
					switch c.op {
					case rdfdiff.OpImport:
						assert.Equal(t, sorted(rdfdiff.Diff(nil, tc.to, shared)), c.patch, c.stream)
					case rdfdiff.OpDiff:
						assert.Equal(t, sorted(rdfdiff.Diff(tc.from, tc.to, shared)), c.patch, c.stream)
					case rdfdiff.OpReconcile:
						assert.Equal(t, rdfdiff.Patch{Added: sorted(rdfdiff.Diff(nil, tc.to, shared)).Added}, c.patch, c.stream)
					}
				}
				byStream[c.stream] = append(byStream[c.stream], s)
			}
			assert.Equal(t, tc.want, byStream)
		})
	}
}
