package rdfdiff

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helpers building small Wikibase-like triples for the accumulator tests.
const (
	accWD   = "http://www.wikidata.org/entity/"
	accS    = "http://www.wikidata.org/entity/statement/"
	accV    = "http://www.wikidata.org/value/"
	accProp = "http://www.wikidata.org/prop/direct/"
)

func accTriple(s, p, o string) Triple {
	return Triple{S: NewIRI(s), P: NewIRI(p), O: NewLiteral(o)}
}

// own returns a non-shared triple of entity id.
func own(id, p, o string) Triple { return accTriple(accWD+id, accProp+p, o) }

// shared returns a triple about value node v.
func shared(v, o string) Triple { return accTriple(accV+v, "http://wikiba.se/ontology#timeValue", o) }

func diffChange(id string, rev int64, p Patch) *EntityChange {
	return &EntityChange{EntityID: id, Revision: rev, Operation: OpDiff, Patch: p}
}

func newTestAccumulator(opts ...AccumulatorOption) *Accumulator {
	// Reclassification is ReclassifySitelinks' business and has its own
	// tests; these triples hold no sitelinks.
	return NewAccumulator(append([]AccumulatorOption{SitelinkReclassification(false)}, opts...)...)
}

func mustAccumulate(t *testing.T, a *Accumulator, cs ...*EntityChange) {
	t.Helper()
	for _, c := range cs {
		require.NoError(t, a.Accumulate(c), "accumulate %s of %s", c.Operation, c.EntityID)
	}
}

// TestAccumulatorCheckTable covers every row of the canAccumulate table
// (PatchAccumulator in WDQS) for every operation already pending on the same
// entity, and checks that another entity is never blocked.
func TestAccumulatorCheckTable(t *testing.T) {
	pendingChange := map[Operation]*EntityChange{
		OpImport:    {EntityID: "Q1", Revision: 1, Operation: OpImport, Patch: Patch{Added: []Triple{own("Q1", "P1", "a")}}},
		OpDiff:      diffChange("Q1", 2, Patch{Added: []Triple{own("Q1", "P1", "b")}}),
		OpDelete:    {EntityID: "Q1", Operation: OpDelete},
		OpReconcile: {EntityID: "Q1", Revision: 3, Operation: OpReconcile, Patch: Patch{Added: []Triple{own("Q1", "P1", "c")}}},
	}
	tests := []struct {
		pending  Operation // "" for an empty batch
		incoming Operation
		blocker  Operation // "" when accepted
	}{
		{"", OpImport, ""}, {"", OpDiff, ""}, {"", OpDelete, ""}, {"", OpReconcile, ""},
		{OpImport, OpImport, ""}, {OpImport, OpDiff, ""}, {OpImport, OpDelete, ""}, {OpImport, OpReconcile, ""},
		{OpDiff, OpImport, ""}, {OpDiff, OpDiff, ""}, {OpDiff, OpDelete, ""}, {OpDiff, OpReconcile, ""},
		// A delete refuses everything but another delete (a no-op).
		{OpDelete, OpImport, OpDelete}, {OpDelete, OpDiff, OpDelete}, {OpDelete, OpDelete, ""}, {OpDelete, OpReconcile, OpDelete},
		// A reconcile refuses deletes, diffs and imports; a later reconcile replaces it.
		{OpReconcile, OpImport, OpReconcile}, {OpReconcile, OpDiff, OpReconcile}, {OpReconcile, OpDelete, OpReconcile}, {OpReconcile, OpReconcile, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s_then_%s", tc.pending, tc.incoming), func(t *testing.T) {
			a := newTestAccumulator()
			if tc.pending != "" {
				mustAccumulate(t, a, pendingChange[tc.pending])
			}
			in := *pendingChange[tc.incoming]
			err := a.Check(&in)
			assert.Equal(t, tc.blocker == "", a.CanAccumulate(&in))
			if tc.blocker == "" {
				require.NoError(t, err)
				require.NoError(t, a.Accumulate(&in))
			} else {
				require.ErrorIs(t, err, ErrChangeRefused)
				var re *RefusedChangeError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, RefusedChangeError{EntityID: "Q1", Operation: tc.incoming, Pending: tc.blocker}, *re)
				assert.Equal(t, fmt.Sprintf("rdfdiff: cannot accumulate %s of Q1: the batch already has a %s of it", tc.incoming, tc.blocker), err.Error())
				before := a.Result()
				require.ErrorIs(t, a.Accumulate(&in), ErrChangeRefused)
				assert.Equal(t, before, a.Result(), "a refused change leaves the batch unchanged")
			}
			// The barrier is per entity.
			other := in
			other.EntityID = "Q2"
			assert.True(t, a.CanAccumulate(&other))
		})
	}
}

func TestAccumulatorRejectsMalformedChanges(t *testing.T) {
	good := own("Q1", "P1", "a")
	tests := []struct {
		name   string
		change *EntityChange
		msg    string
	}{
		{"nil", nil, "rdfdiff: invalid change: nil change"},
		{"no entity", &EntityChange{Operation: OpDiff}, "rdfdiff: invalid diff: empty entity ID"},
		{"unknown operation", &EntityChange{EntityID: "Q1", Revision: 1, Operation: "merge"}, `rdfdiff: invalid merge of Q1 revision 1: unknown operation "merge"`},
		{"negative revision", &EntityChange{EntityID: "Q1", Revision: -1, Operation: OpDiff}, "rdfdiff: invalid diff of Q1 revision -1: negative revision"},
		{"delete with triples", &EntityChange{EntityID: "Q1", Operation: OpDelete, Patch: Patch{Added: []Triple{good}}},
			"rdfdiff: invalid delete of Q1 revision 0: a delete carries no triples, got 1"},
		{"import with removed", &EntityChange{EntityID: "Q1", Revision: 1, Operation: OpImport, Patch: Patch{Removed: []Triple{good}}},
			"rdfdiff: invalid import of Q1 revision 1: import carries only added and linked-shared triples, got 1 removed and 0 unlinked-shared"},
		{"reconcile with unlinked", &EntityChange{EntityID: "Q1", Revision: 1, Operation: OpReconcile, Patch: Patch{UnlinkedShared: []Triple{good}}},
			"rdfdiff: invalid reconcile of Q1 revision 1: reconcile carries only added and linked-shared triples, got 0 removed and 1 unlinked-shared"},
		{"zero term", diffChange("Q1", 1, Patch{Added: []Triple{good, {S: good.S, P: good.P}}}),
			"rdfdiff: invalid diff of Q1 revision 1: added triple 1: zero term"},
		{"literal subject", diffChange("Q1", 1, Patch{Removed: []Triple{{S: NewLiteral("x"), P: good.P, O: good.O}}}),
			`rdfdiff: invalid diff of Q1 revision 1: removed triple 0: literal subject "x"`},
		{"blank predicate", diffChange("Q1", 1, Patch{LinkedShared: []Triple{{S: good.S, P: NewBlankNode("b"), O: good.O}}}),
			"rdfdiff: invalid diff of Q1 revision 1: linked-shared triple 0: predicate is not an IRI: _:b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAccumulator()
			err := a.Accumulate(tc.change)
			require.ErrorIs(t, err, ErrInvalidChange)
			assert.NotErrorIs(t, err, ErrChangeRefused)
			assert.EqualError(t, err, tc.msg)
			assert.True(t, a.IsEmpty())
			assert.False(t, a.CanAccumulate(tc.change))
		})
	}
}

func TestAccumulatorCancellation(t *testing.T) {
	x, y := own("Q1", "P1", "x"), own("Q1", "P1", "y")
	sv, sw := shared("aa", "1"), shared("bb", "2")
	tests := []struct {
		name          string
		changes       []*EntityChange
		want          Patch
		cancellations int
		duplicates    int
	}{
		{"added then removed by the same entity",
			[]*EntityChange{diffChange("Q1", 1, Patch{Added: []Triple{x, y}}), diffChange("Q1", 2, Patch{Removed: []Triple{x}})},
			Patch{Added: []Triple{y}}, 1, 0},
		{"removed then added by the same entity",
			[]*EntityChange{diffChange("Q1", 1, Patch{Removed: []Triple{x, y}}), diffChange("Q1", 2, Patch{Added: []Triple{x}})},
			Patch{Removed: []Triple{y}}, 1, 0},
		{"linked then unlinked",
			[]*EntityChange{diffChange("Q1", 1, Patch{LinkedShared: []Triple{sv, sw}}), diffChange("Q1", 2, Patch{UnlinkedShared: []Triple{sv}})},
			Patch{LinkedShared: []Triple{sw}}, 1, 0},
		{"unlinked then linked",
			[]*EntityChange{diffChange("Q1", 1, Patch{UnlinkedShared: []Triple{sv, sw}}), diffChange("Q1", 2, Patch{LinkedShared: []Triple{sv}})},
			Patch{UnlinkedShared: []Triple{sw}}, 1, 0},
		{"unlinked by one entity then linked by another",
			[]*EntityChange{diffChange("Q1", 1, Patch{UnlinkedShared: []Triple{sv}}), diffChange("Q2", 1, Patch{LinkedShared: []Triple{sv}})},
			Patch{}, 1, 0},
		{"linked by two entities, unlinked by one: stays linked",
			[]*EntityChange{
				diffChange("Q1", 1, Patch{LinkedShared: []Triple{sv}}),
				diffChange("Q2", 1, Patch{LinkedShared: []Triple{sv}}),
				diffChange("Q1", 2, Patch{UnlinkedShared: []Triple{sv}}),
			},
			Patch{LinkedShared: []Triple{sv}}, 0, 0},
		{"linked by two entities, unlinked by both",
			[]*EntityChange{
				diffChange("Q1", 1, Patch{LinkedShared: []Triple{sv}}),
				diffChange("Q2", 1, Patch{LinkedShared: []Triple{sv}}),
				diffChange("Q2", 2, Patch{UnlinkedShared: []Triple{sv}}),
				diffChange("Q1", 2, Patch{UnlinkedShared: []Triple{sv}}),
			},
			Patch{}, 1, 0},
		{"linked by one entity, unlinked by another: the link stays, the unlink goes",
			[]*EntityChange{diffChange("Q1", 1, Patch{LinkedShared: []Triple{sv}}), diffChange("Q2", 1, Patch{UnlinkedShared: []Triple{sv}})},
			Patch{LinkedShared: []Triple{sv}}, 0, 0},
		{"removed by one entity, added by another: cancels, counted",
			[]*EntityChange{diffChange("Q2", 1, Patch{Removed: []Triple{x}}), diffChange("Q1", 1, Patch{Added: []Triple{x}})},
			Patch{}, 1, 1},
		// Regression guard: cancelling here would keep x in a store that
		// held it for Q2, where applying the changes one by one removes it.
		{"added by one entity, removed by another: the removal wins, counted",
			[]*EntityChange{diffChange("Q2", 1, Patch{Added: []Triple{x}}), diffChange("Q1", 1, Patch{Removed: []Triple{x}})},
			Patch{Removed: []Triple{x}}, 0, 1},
		{"added by two entities: one triple, counted",
			[]*EntityChange{diffChange("Q1", 1, Patch{Added: []Triple{x}}), diffChange("Q2", 1, Patch{Added: []Triple{x}})},
			Patch{Added: []Triple{x}}, 0, 1},
		{"removed by two entities: one triple, counted",
			[]*EntityChange{diffChange("Q1", 1, Patch{Removed: []Triple{x}}), diffChange("Q2", 1, Patch{Removed: []Triple{x}})},
			Patch{Removed: []Triple{x}}, 0, 1},
		{"added twice by the same entity is no duplicate",
			[]*EntityChange{diffChange("Q1", 1, Patch{Added: []Triple{x, x}}), diffChange("Q1", 2, Patch{Added: []Triple{x}})},
			Patch{Added: []Triple{x}}, 0, 0},
		{"linked by two entities: one triple",
			[]*EntityChange{diffChange("Q1", 1, Patch{LinkedShared: []Triple{sv}}), diffChange("Q2", 1, Patch{LinkedShared: []Triple{sv}})},
			Patch{LinkedShared: []Triple{sv}}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAccumulator()
			mustAccumulate(t, a, tc.changes...)
			got := a.Result()
			assert.Equal(t, tc.want.Added, got.Added, "added")
			assert.Equal(t, tc.want.Removed, got.Removed, "removed")
			assert.Equal(t, tc.want.LinkedShared, got.LinkedShared, "linked-shared")
			assert.Equal(t, tc.want.UnlinkedShared, got.UnlinkedShared, "unlinked-shared")
			assert.Equal(t, tc.cancellations, got.Stats.Cancellations, "cancellations")
			assert.Equal(t, tc.duplicates, got.Stats.InvalidDuplicates, "invalid duplicates")
			assert.Equal(t, tc.want.Len(), a.Weight())
			assert.Equal(t, len(tc.changes), a.Len())
		})
	}
}

func TestAccumulatorDelete(t *testing.T) {
	a := newTestAccumulator()
	q1a, q1r, q2a := own("Q1", "P1", "a"), own("Q1", "P1", "r"), own("Q2", "P1", "a")
	onlyQ1, both, unlinked := shared("aa", "1"), shared("bb", "2"), shared("cc", "3")
	mustAccumulate(t, a,
		diffChange("Q1", 5, Patch{Added: []Triple{q1a}, Removed: []Triple{q1r}, LinkedShared: []Triple{onlyQ1, both}, UnlinkedShared: []Triple{unlinked}}),
		diffChange("Q2", 7, Patch{Added: []Triple{q2a}, LinkedShared: []Triple{both}}),
	)
	require.Equal(t, 6, a.Weight())
	mustAccumulate(t, a, &EntityChange{EntityID: "Q1", Operation: OpDelete})
	mustAccumulate(t, a, &EntityChange{EntityID: "Q1", Operation: OpDelete}) // a no-op, allowed

	got := a.Result()
	assert.Equal(t, []Triple{q2a}, got.Added)
	assert.Empty(t, got.Removed, "the entity delete removes Q1's triples anyway")
	assert.Equal(t, []Triple{both}, got.LinkedShared, "links only Q1 made are dropped, shared ones stay")
	assert.Equal(t, []Triple{unlinked}, got.UnlinkedShared, "orphan candidates stay")
	assert.Equal(t, []string{"Q1"}, got.DeletedEntities)
	assert.Equal(t, 3+TriplesPerDelete, a.Weight())
	assert.Equal(t, a.Weight(), got.Weight())
	assert.Equal(t, 1, got.Stats.EntitiesDeleted)
	assert.Equal(t, []BatchEntity{
		{EntityID: "Q1", Revision: 0, Operation: OpDelete, Changes: 3},
		{EntityID: "Q2", Revision: 7, Operation: OpDiff, Changes: 1},
	}, got.Entities)
}

func TestAccumulatorDeleteOfSetLinkedTriple(t *testing.T) {
	// The link set of a triple linked by three entities shrinks one
	// entity at a time, whichever order they are deleted in.
	for _, order := range [][]string{{"Q1", "Q2", "Q3"}, {"Q3", "Q2", "Q1"}, {"Q2", "Q1", "Q3"}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			a := newTestAccumulator()
			s := shared("aa", "1")
			for _, id := range []string{"Q1", "Q2", "Q3"} {
				mustAccumulate(t, a, diffChange(id, 1, Patch{LinkedShared: []Triple{s}}))
			}
			for i, id := range order {
				mustAccumulate(t, a, &EntityChange{EntityID: id, Operation: OpDelete})
				if i < len(order)-1 {
					assert.Equal(t, []Triple{s}, a.Result().LinkedShared, "after deleting %v", order[:i+1])
				}
			}
			assert.Empty(t, a.Result().LinkedShared)
		})
	}
}

func TestAccumulatorReconcile(t *testing.T) {
	a := newTestAccumulator()
	pa, pr, other := own("Q1", "P1", "pending"), own("Q1", "P1", "gone"), own("Q2", "P1", "a")
	s := shared("aa", "1")
	full1 := []Triple{own("Q1", "P2", "z"), own("Q1", "P2", "b"), own("Q1", "P2", "b")}
	full2 := []Triple{own("Q1", "P3", "y"), own("Q1", "P3", "x")}
	mustAccumulate(t, a,
		diffChange("Q1", 1, Patch{Added: []Triple{pa}, Removed: []Triple{pr}, LinkedShared: []Triple{s}}),
		diffChange("Q2", 1, Patch{Added: []Triple{other}}),
		&EntityChange{EntityID: "Q1", Revision: 2, Operation: OpReconcile, Patch: Patch{Added: full1}},
	)
	assert.Equal(t, 1+1+3, a.Weight(), "pending Q1 triples dropped; reconciliation triples counted")
	got := a.Result()
	assert.Equal(t, []Triple{other}, got.Added)
	assert.Empty(t, got.Removed)
	assert.Equal(t, []Triple{s}, got.LinkedShared, "a reconcile does not withdraw links")
	require.Len(t, got.Reconciliations, 1)
	assert.Equal(t, Reconciliation{EntityID: "Q1", Revision: 2, Triples: []Triple{full1[1], full1[0]}}, got.Reconciliations[0],
		"sorted and deduplicated")

	// A second reconcile replaces the first.
	mustAccumulate(t, a, &EntityChange{EntityID: "Q1", Revision: 3, Operation: OpReconcile, Patch: Patch{Added: full2}})
	assert.Equal(t, 1+1+2, a.Weight())
	got = a.Result()
	require.Len(t, got.Reconciliations, 1)
	assert.Equal(t, Reconciliation{EntityID: "Q1", Revision: 3, Triples: []Triple{full2[1], full2[0]}}, got.Reconciliations[0])
	assert.Equal(t, 1, got.Stats.Reconciliations)
	assert.Equal(t, a.Weight(), got.Weight())
}

func TestAccumulatorReconcileLinksShared(t *testing.T) {
	a := newTestAccumulator()
	s := shared("aa", "1")
	mustAccumulate(t, a, &EntityChange{EntityID: "Q1", Revision: 2, Operation: OpReconcile,
		Patch: Patch{Added: []Triple{own("Q1", "P1", "a")}, LinkedShared: []Triple{s}}})
	got := a.Result()
	assert.Equal(t, []Triple{s}, got.LinkedShared)
	assert.Equal(t, 2, a.Weight())
}

func TestAccumulatorMetadata(t *testing.T) {
	a := newTestAccumulator()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	mustAccumulate(t, a,
		&EntityChange{EntityID: "Q9", Revision: 10, Operation: OpImport, EventTime: t0.Add(3 * time.Second), RequestID: "req-1",
			Patch: Patch{Added: []Triple{own("Q9", "P1", "a")}}},
		&EntityChange{EntityID: "Q1", Revision: 20, Operation: OpReconcile, EventTime: t0.Add(-time.Hour), RequestID: "req-2"},
		&EntityChange{EntityID: "Q9", Revision: 11, Operation: OpDiff, EventTime: t0.Add(1 * time.Second)},
		&EntityChange{EntityID: "Q5", Revision: 0, Operation: OpDelete, EventTime: t0.Add(8 * time.Second), RequestID: "req-4"},
	)
	got := a.Result()
	assert.Equal(t, 4, got.Changes)
	assert.Equal(t, t0.Add(4*time.Second), got.AvgEventTime, "reconciles are excluded from the average")
	assert.Equal(t, t0.Add(1*time.Second), got.MinEventTime)
	assert.Equal(t, t0.Add(8*time.Second), got.MaxEventTime)
	assert.Equal(t, "req-1", got.FirstRequestID)
	assert.Equal(t, "req-4", got.LastRequestID)
	assert.Equal(t, []BatchEntity{
		{EntityID: "Q1", Revision: 20, Operation: OpReconcile, Changes: 1},
		{EntityID: "Q5", Revision: 0, Operation: OpDelete, Changes: 1},
		{EntityID: "Q9", Revision: 11, Operation: OpDiff, Changes: 2},
	}, got.Entities)
	assert.Equal(t, AccumulatorStats{Changes: 4, TriplesOffered: 1, EntitiesDeleted: 1, Reconciliations: 1}, got.Stats)

	// Only reconciles: no average.
	a.Reset()
	mustAccumulate(t, a, &EntityChange{EntityID: "Q1", Revision: 20, Operation: OpReconcile, EventTime: t0})
	assert.True(t, a.Result().AvgEventTime.IsZero())
}

func TestAccumulatorResetReusesAndForgets(t *testing.T) {
	a := newTestAccumulator()
	var dst ConsolidatedPatch
	for batch := range 3 {
		ids := []string{"Q1", "Q2", "Q3"}
		for i, id := range ids {
			mustAccumulate(t, a, diffChange(id, int64(batch), Patch{
				Added:        []Triple{own(id, "P1", fmt.Sprint(batch))},
				LinkedShared: []Triple{shared("aa", "1")},
			}))
			if i == 0 {
				mustAccumulate(t, a, &EntityChange{EntityID: id, Operation: OpDelete})
			}
		}
		a.ResultInto(&dst)
		assert.Equal(t, []Triple{own("Q2", "P1", fmt.Sprint(batch)), own("Q3", "P1", fmt.Sprint(batch))}, dst.Added, "batch %d", batch)
		assert.Equal(t, []Triple{shared("aa", "1")}, dst.LinkedShared)
		assert.Equal(t, []string{"Q1"}, dst.DeletedEntities)
		assert.Equal(t, a.Result(), &dst, "ResultInto and Result agree")
		a.Reset()
		assert.True(t, a.IsEmpty())
		assert.Zero(t, a.Weight())
		assert.True(t, a.Result().IsEmpty())
		// The delete barrier is forgotten with the batch.
		assert.True(t, a.CanAccumulate(diffChange("Q1", 9, Patch{})))
	}
}

func TestAccumulatorReclassifies(t *testing.T) {
	article := NewIRI("https://en.wikipedia.org/wiki/Earth")
	name := Triple{S: article, P: NewIRI("http://schema.org/name"), O: NewLangLiteral("Earth", "en")}
	about := Triple{S: article, P: NewIRI("http://schema.org/about"), O: NewIRI(accWD + "Q2")}
	var seen []Patch
	a := newTestAccumulator()
	a.cfg.reclassify = func(p Patch) (Patch, error) {
		seen = append(seen, p)
		if len(p.Removed) > 0 {
			return Patch{}, errors.New("sitelink without schema:isPartOf")
		}
		return Patch{Added: []Triple{about}, LinkedShared: []Triple{name}}, nil
	}
	mustAccumulate(t, a, diffChange("Q2", 1, Patch{Added: []Triple{about, name}}))
	got := a.Result()
	assert.Equal(t, []Triple{about}, got.Added)
	assert.Equal(t, []Triple{name}, got.LinkedShared)

	err := a.Accumulate(diffChange("Q2", 2, Patch{Removed: []Triple{name}}))
	require.ErrorIs(t, err, ErrInvalidChange)
	assert.EqualError(t, err, "rdfdiff: invalid diff of Q2 revision 2: sitelink reclassification: sitelink without schema:isPartOf")
	assert.Equal(t, got, a.Result(), "a failed change leaves the batch unchanged")

	// Reconciles are not reclassified: the store's reconciliation replaces
	// the sitelinks with the rest of the entity.
	mustAccumulate(t, a, &EntityChange{EntityID: "Q2", Revision: 3, Operation: OpReconcile, Patch: Patch{Added: []Triple{about, name}}})
	assert.Len(t, seen, 2)
}

func TestAccumulatorRejectInvalidDuplicates(t *testing.T) {
	x := own("Q1", "P1", "x")
	a := newTestAccumulator(RejectInvalidDuplicates(true))
	mustAccumulate(t, a, diffChange("Q1", 1, Patch{Added: []Triple{x}}))
	mustAccumulate(t, a, diffChange("Q1", 2, Patch{Removed: []Triple{x}}), diffChange("Q1", 3, Patch{Added: []Triple{x}}))
	before := a.Result()
	for _, p := range []Patch{{Added: []Triple{x}}, {Removed: []Triple{x}}} {
		err := a.Accumulate(diffChange("Q2", 1, p))
		require.ErrorIs(t, err, ErrInvalidDuplicate)
		require.ErrorIs(t, err, ErrInvalidChange)
		assert.Contains(t, err.Error(), "also changed by Q1")
	}
	assert.Equal(t, before, a.Result())
	// Shared triples are meant to be linked by many entities.
	mustAccumulate(t, a, diffChange("Q2", 1, Patch{LinkedShared: []Triple{shared("aa", "1")}}),
		diffChange("Q1", 4, Patch{LinkedShared: []Triple{shared("aa", "1")}}))
}

func TestZeroAccumulator(t *testing.T) {
	var a Accumulator
	assert.True(t, a.IsEmpty())
	assert.Zero(t, a.Weight())
	assert.True(t, a.Result().IsEmpty())
	require.NoError(t, a.Check(diffChange("Q1", 1, Patch{})))
	a.Reset()
	// A sitelink in a diff: the zero Accumulator reclassifies, as the default does.
	article := NewIRI("https://en.wikipedia.org/wiki/Earth")
	typ := Triple{S: article, P: NewIRI(RDFType), O: NewIRI("http://schema.org/Article")}
	site := Triple{S: article, P: NewIRI("http://schema.org/isPartOf"), O: NewIRI("https://en.wikipedia.org/")}
	mustAccumulate(t, &a, diffChange("Q2", 1, Patch{Added: []Triple{typ, site}}))
	got := a.Result()
	assert.Empty(t, got.Added)
	assert.Equal(t, []Triple{site, typ}, got.LinkedShared)
}

// TestAccumulatorWDQSMutationEvents feeds the WDQS mutation event fixtures
// through the codec and the reassembler into an accumulator, as a consumer
// does.
func TestAccumulatorWDQSMutationEvents(t *testing.T) {
	r := NewReassembler()
	load := func(name string) *EntityChange {
		t.Helper()
		data, err := os.ReadFile("testdata/events/mutation/" + name + "-v2.json")
		require.NoError(t, err)
		ev, err := DecodeEvent(data)
		require.NoError(t, err)
		c, err := r.Add(ev, name)
		require.NoError(t, err)
		require.NotNil(t, c, "single-chunk event")
		return c
	}
	abc := Triple{S: NewIRI("uri:a"), P: NewIRI("uri:b"), O: NewIRI("uri:c")}
	xyz := Triple{S: NewIRI("uri:x"), P: NewIRI("uri:y"), O: NewIRI("uri:z")}
	del := Triple{S: NewIRI("uri:del"), P: NewIRI("uri:del"), O: NewIRI("uri:del")}
	unl := Triple{S: NewIRI("uri:unlinked"), P: NewIRI("uri:unlinked"), O: NewIRI("uri:unlinked")}

	a := NewAccumulator()
	mustAccumulate(t, a, load("Import"), load("Diff"))
	got := a.Result()
	assert.Equal(t, Patch{Added: []Triple{abc}, Removed: []Triple{del}, LinkedShared: []Triple{xyz}, UnlinkedShared: []Triple{unl}}, got.Patch)
	assert.Zero(t, got.Stats.InvalidDuplicates, "the same entity adding a triple twice is no duplicate")
	assert.Equal(t, 4, a.Weight())

	mustAccumulate(t, a, load("Reconcile"))
	got = a.Result()
	assert.Equal(t, Patch{LinkedShared: []Triple{xyz}, UnlinkedShared: []Triple{unl}}, got.Patch)
	assert.Equal(t, []Reconciliation{{EntityID: "Q123", Revision: 123, Triples: []Triple{abc, xyz}}}, got.Reconciliations)
	assert.Equal(t, 4, a.Weight())

	deleteQ123 := load("Delete")
	var refused *RefusedChangeError
	require.ErrorAs(t, a.Accumulate(deleteQ123), &refused)
	assert.Equal(t, OpReconcile, refused.Pending)

	a.Reset()
	mustAccumulate(t, a, deleteQ123)
	got = a.Result()
	assert.Equal(t, []string{"Q123"}, got.DeletedEntities)
	assert.Equal(t, TriplesPerDelete, a.Weight())
	assert.Equal(t, deleteQ123.RequestID, got.FirstRequestID)
	assert.Equal(t, deleteQ123.EventTime, got.AvgEventTime)
}
