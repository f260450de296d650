package graph

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// orphanEntities are the real entities the orphan property test edits: two
// items with many sitelinks (and sites in common), two lexemes, and the two
// items of a real dump chunk.
func orphanEntities(t *testing.T) map[string][]rdfdiff.Triple {
	ents := map[string][]rdfdiff.Triple{
		"Q42":     graphFixture(t, "Q42-munged.ttl"),
		"Q513":    graphFixture(t, "Q513-munged.ttl"),
		"L4082":   graphFixture(t, "L4082-munged.ttl"),
		"L691820": mungedL691820(t),
	}
	d, err := rdfdiff.NewMunger(gWD).MungeDump(graphFixture(t, "small_dump_chunk.ttl"))
	require.NoError(t, err)
	for _, e := range d.Entities {
		ents[e.EntityID] = e.Triples
	}
	return ents
}

// TestOrphanCleanupEqualsFreshImport: with orphan clean-up on, after any
// random sequence of edits (plain edits, page renames of sitelinks, merges
// into redirects with their two edits in either order, deletes, undeletes)
// applied in random batches, the graph holds exactly a fresh import of the
// final revisions: no value, reference, sitelink or site is left behind.
func TestOrphanCleanupEqualsFreshImport(t *testing.T) {
	ents := orphanEntities(t)
	seeds, steps := 6, 50
	if testing.Short() {
		seeds = 2
	}
	ctx := context.Background()
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 13))
			edits := rdftest.NewEdits(r, ents)
			g := NewGraph(WithOrphanCleanup(true))
			acc := rdfdiff.NewAccumulator()
			flush := func() {
				require.NoError(t, g.Apply(ctx, acc.Result(), nil))
				acc.Reset()
			}
			var ops []string
			for range steps {
				cs, what := edits.Step()
				ops = append(ops, what)
				for _, c := range cs {
					if acc.Check(c) != nil || r.IntN(4) == 0 {
						flush()
					}
					require.NoError(t, acc.Accumulate(c), "%v", ops)
				}
				if r.IntN(6) == 0 {
					flush()
					checkGraphIndexes(t, g)
					require.Equal(t, rdftest.NTriples(t, edits.Final()), rdftest.NTriples(t, g.Triples()), "after %v", ops)
				}
			}
			flush()
			checkGraphIndexes(t, g)
			require.Equal(t, rdftest.NTriples(t, edits.Final()), rdftest.NTriples(t, g.Triples()), "after %v", ops)
		})
	}
}
