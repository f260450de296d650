package sparql

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
)

// orphanEntities are the real entities of the orphan property test: two
// items with many sitelinks, two lexemes, and the two items of a real dump
// chunk; without the literals Oxigraph refuses when forOxigraph.
func orphanEntities(t *testing.T, forOxigraph bool) map[string][]rdfdiff.Triple {
	read := func(name string) []rdfdiff.Triple {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(t, err)
		ts, err := rdfdiff.ParseTurtleBytes(b)
		require.NoError(t, err)
		return ts
	}
	m := rdfdiff.NewMunger(wd)
	l691820, err := m.Munge("L691820", read("graph/L691820.ttl"))
	require.NoError(t, err)
	ents := map[string][]rdfdiff.Triple{
		"Q42": read("graph/Q42-munged.ttl"), "Q513": read("graph/Q513-munged.ttl"),
		"L4082": read("graph/L4082-munged.ttl"), "L691820": l691820,
	}
	d, err := m.MungeDump(read("differential/small_dump_chunk.ttl"))
	require.NoError(t, err)
	for _, e := range d.Entities {
		ents[e.EntityID] = e.Triples
	}
	for id, ts := range ents {
		if forOxigraph {
			ents[id] = slices.DeleteFunc(ts, oxigraphRefuses)
		}
	}
	return ents
}

// TestOrphanCleanupEqualsFreshImportOxigraph is sink/graph's orphan property
// test on a real store: random edits, sitelink renames, merges into
// redirects (the two edits in either order, the redirect sometimes deleted
// at once), deletes and undeletes of real entities, in random batches, each
// batch one request built with WithUpdateOrphanCleanup. The store, read
// back by an independent reader, must equal a fresh import of the final
// revisions, and the in-memory graph with orphan clean-up fed the same
// batches must too. Gated by STREAMKIT_OXIGRAPH_URL.
func TestOrphanCleanupEqualsFreshImportOxigraph(t *testing.T) {
	orphanStoreScenario(t, "STREAMKIT_OXIGRAPH_URL")
}

// TestOrphanCleanupEqualsFreshImportBlazegraph is the same on Blazegraph,
// WDQS's store, in a fresh WDQS-like namespace (one seed: each costs about
// 30–55 s there on a loaded 2-core machine). Gated by
// STREAMKIT_BLAZEGRAPH_URL.
func TestOrphanCleanupEqualsFreshImportBlazegraph(t *testing.T) {
	orphanStoreScenario(t, blazegraphEnv)
}

func orphanStoreScenario(t *testing.T, env string) {
	storeClient(t, env) // skips without the store
	ents := orphanEntities(t, !isBlazegraph(env))
	seeds, steps := 3, 40
	if testing.Short() || isBlazegraph(env) {
		seeds = 1 // a fresh Blazegraph namespace and its requests take long
	}
	ctx := context.Background()
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c := storeClient(t, env)
			data := storeGraph(t, env)
			if data != "" {
				t.Cleanup(func() { _ = c.Update(context.Background(), dropGraphs(data)) })
			}
			b, err := NewUpdateBuilder(wd, WithDataGraph(data), WithUpdateOrphanCleanup())
			require.NoError(t, err)
			g := graph.NewGraph(graph.WithOrphanCleanup(true))
			r := rand.New(rand.NewPCG(uint64(seed), 13))
			edits := rdftest.NewEdits(r, ents)
			acc := rdfdiff.NewAccumulator()
			var ops []string
			flush := func() {
				p := acc.Result()
				acc.Reset()
				req, err := b.Build(p, nil)
				require.NoError(t, err)
				if req != "" {
					require.NoError(t, c.Update(ctx, req), "after %v", ops)
				}
				require.NoError(t, g.Apply(ctx, p, nil))
			}
			check := func() {
				want := diffCanonical(edits.Final())
				require.Equal(t, want, diffCanonical(g.Triples()), "graph after %v", ops)
				got := readStoreIndependently(t, c.Endpoint(), data)
				if isBlazegraph(env) {
					lex := newBlazegraphLexicon()
					want = diffCanonical(lex.triples(blazegraphDateTimes(edits.Final())))
					got = lex.triples(got)
				}
				require.Equal(t, want, diffCanonical(got), "store after %v", ops)
			}
			for range steps {
				cs, what := edits.Step()
				ops = append(ops, what)
				for _, ch := range cs {
					if acc.Check(ch) != nil || r.IntN(4) == 0 {
						flush()
					}
					require.NoError(t, acc.Accumulate(ch), "%v", ops)
				}
				if r.IntN(8) == 0 {
					flush()
					check()
				}
			}
			flush()
			check()
		})
	}
}

// The clean-up operations go into the request only with the option, and
// entity deletes then remove only the sitelinks' schema:about links.
func TestUpdateOrphanCleanupRequest(t *testing.T) {
	p := rdftest.Batch(t, rdftest.Delete("Q42"))
	plain, err := NewUpdateBuilder(wd)
	require.NoError(t, err)
	clean, err := NewUpdateBuilder(wd, WithUpdateOrphanCleanup())
	require.NoError(t, err)
	without, err := plain.Build(p, nil)
	require.NoError(t, err)
	with, err := clean.Build(p, nil)
	require.NoError(t, err)
	assert.NotContains(t, without, orphanMarkName)
	assert.Contains(t, without, "DELETE {\n?sl ?p ?o .")
	assert.Contains(t, with, "DELETE {\n?sl <"+schemaAbout+"> ?entity .")
	assert.NotContains(t, with, "DELETE {\n?sl ?p ?o .")
	assert.Equal(t, orphanRounds, strings.Count(with, "FILTER NOT EXISTS { ?c <"+schemaAbout+"> ?e }")/2)
	assert.True(t, strings.HasSuffix(with, "DELETE {\n?c <"+DefaultCommitNamespace+orphanMarkName+"> ?m .\n}\nWHERE {\n?c <"+DefaultCommitNamespace+orphanMarkName+"> ?m .\n}\n"), "marks removed last:\n%s", with)
	empty, err := clean.Build(&rdfdiff.ConsolidatedPatch{}, nil)
	require.NoError(t, err)
	assert.Empty(t, empty)
}

// BenchmarkOrphanCleanupOxigraph measures what orphan clean-up adds to a
// request on Oxigraph: each iteration imports real Q42 (about 5 000
// triples, 120 sitelinks) and deletes it again, with and without
// WithUpdateOrphanCleanup, and reports the delete request's time. Gated by
// STREAMKIT_OXIGRAPH_URL.
func BenchmarkOrphanCleanupOxigraph(b *testing.B) {
	c := storeClient(b, "STREAMKIT_OXIGRAPH_URL")
	q42 := withoutOxigraphRefused(loadMunged(b, "Q42-munged.ttl"))
	ctx := context.Background()
	for _, cleanup := range []bool{false, true} {
		b.Run(fmt.Sprintf("cleanup=%v", cleanup), func(b *testing.B) {
			data := testGraph(b)
			b.Cleanup(func() { _ = c.Update(context.Background(), dropGraphs(data)) })
			opts := []Option{WithDataGraph(data)}
			if cleanup {
				opts = append(opts, WithUpdateOrphanCleanup())
			}
			bu, err := NewUpdateBuilder(wd, opts...)
			require.NoError(b, err)
			imp, err := bu.Build(&rdfdiff.ConsolidatedPatch{Patch: q42}, nil)
			require.NoError(b, err)
			del, err := bu.Build(rdftest.Batch(b, rdftest.Delete("Q42")), nil)
			require.NoError(b, err)
			var spent time.Duration
			for b.Loop() {
				require.NoError(b, c.Update(ctx, imp))
				began := time.Now()
				require.NoError(b, c.Update(ctx, del))
				spent += time.Since(began)
			}
			b.ReportMetric(float64(spent.Microseconds())/1000/float64(b.N), "delete-ms/op")
		})
	}
}
