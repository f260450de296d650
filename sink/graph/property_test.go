package graph

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// The property test: random histories of imports, diffs, deletes and
// reconciles over real entities, applied to one graph change by change and to
// another in Accumulator batches, end in the same graph, and that graph is
// the union of the entities' current revisions. Without orphan clean-up the
// graphs are compared modulo orphans (shared nodes nothing links, and the
// remnants of removed sitelinks, which WDQS keeps and a batch may never have
// inserted); with it, neither graph may hold an orphaned value or reference
// node at all.

// gEntityGen makes revisions of one real entity by dropping statements (and,
// for lexemes, forms and senses) from its munged RDF, as edits would.
type gEntityGen struct {
	id   string
	base []rdfdiff.Triple
	// droppable are the statement nodes, the forms and senses, and the
	// sitelinks.
	droppable []rdfdiff.Term
	// sites are the subjects of wikibase:wikiGroup, kept only while a
	// sitelink is part of them.
	sites map[rdfdiff.Term]bool
}

func newGEntityGen(id string, base []rdfdiff.Triple) *gEntityGen {
	g := &gEntityGen{id: id, base: base, sites: map[rdfdiff.Term]bool{}}
	ent := gWD.EntityTerm(id)
	for _, tr := range base {
		if tr.S == ent && (tr.O.HasPrefix(gWD.StatementPrefix()) || tr.P == iriLexicalForm || tr.P == iriSense) {
			g.droppable = append(g.droppable, tr.O)
		}
		if tr.P == gWikiGroup {
			g.sites[tr.S] = true
		}
		if tr.P == gSchemaAbout && tr.O == ent {
			g.droppable = append(g.droppable, tr.S)
		}
	}
	return g
}

// revision returns the entity at revision rev: a random quarter of its
// statements, forms and senses gone, the version triple set to rev, and the
// nodes nothing links any more pruned, as the munger prunes them.
func (g *gEntityGen) revision(r *rand.Rand, rev int64) []rdfdiff.Triple {
	drop := map[rdfdiff.Term]bool{}
	for _, t := range g.droppable {
		if r.IntN(4) == 0 {
			drop[t] = true
		}
	}
	ent := gWD.EntityTerm(g.id)
	var ts []rdfdiff.Triple
	for _, tr := range g.base {
		if drop[tr.S] || drop[tr.O] || (tr.S == ent && tr.P == gSchemaVersion) {
			continue
		}
		ts = append(ts, tr)
	}
	ts = append(ts, gTri(ent, gSchemaVersion, rdfdiff.NewTypedLiteral(fmt.Sprint(rev), rdfdiff.XSDInteger)))
	return rdftest.Prune(ts, func(t rdfdiff.Term) bool {
		return t.HasPrefix(gWD.StatementPrefix()) || gWD.InValueNamespace(t) || gWD.InReferenceNamespace(t) ||
			t.HasPrefix(gWD.EntityPrefix()+g.id+"-") || g.sites[t]
	})
}

// gPrune drops, until none is left, the triples of subjects for which

// gSitelinkRemnants returns the subjects typed schema:Article that have no
// schema:about: what a diff that drops a sitelink leaves in a WDQS store
// (the block is unlinked-shared, only the schema:about link is removed).
func gSitelinkRemnants(ts []rdfdiff.Triple) map[rdfdiff.Term]bool {
	articles := map[rdfdiff.Term]bool{}
	for _, tr := range ts {
		if tr.P == gRDFType && tr.O == gIRI("http://schema.org/Article") {
			articles[tr.S] = true
		}
	}
	for _, tr := range ts {
		if tr.P == gSchemaAbout {
			delete(articles, tr.S)
		}
	}
	return articles
}

// gSharedNode reports whether t is a node several entities may use: a value
// or reference node, or a site (the subject of wikibase:wikiGroup).
func gSharedNode(sites map[rdfdiff.Term]bool) func(rdfdiff.Term) bool {
	return func(t rdfdiff.Term) bool {
		return gWD.InValueNamespace(t) || gWD.InReferenceNamespace(t) || sites[t]
	}
}

// gCollected returns g's triples without orphans, as sorted N-Triples.
func gCollected(t *testing.T, g *Graph) string {
	ts := g.Triples()
	remnants := gSitelinkRemnants(ts)
	ts = slices.DeleteFunc(ts, func(tr rdfdiff.Triple) bool { return remnants[tr.S] })
	sites := map[rdfdiff.Term]bool{}
	for _, tr := range ts {
		if tr.P == gWikiGroup {
			sites[tr.S] = true
		}
	}
	return rdftest.NTriples(t, rdftest.Prune(ts, gSharedNode(sites)))
}

func TestGraphBatchedEqualsOneByOne(t *testing.T) {
	gens := []*gEntityGen{
		newGEntityGen("Q42", graphFixture(t, "Q42-munged.ttl")),
		newGEntityGen("Q513", graphFixture(t, "Q513-munged.ttl")),
		newGEntityGen("L4082", graphFixture(t, "L4082-munged.ttl")),
		newGEntityGen("L691820", mungedL691820(t)),
	}
	seeds, steps := 6, 40
	if testing.Short() {
		seeds = 2
	}
	ctx := context.Background()
	for seed := range seeds {
		for _, cleanup := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed=%d/cleanup=%v", seed, cleanup), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(seed), 5))
				one := NewGraph(WithOrphanCleanup(cleanup))
				batched := NewGraph(WithOrphanCleanup(cleanup))
				acc := rdfdiff.NewAccumulator()
				flush := func() {
					require.NoError(t, batched.Apply(ctx, acc.Result(), nil))
					acc.Reset()
				}
				cur := map[string][]rdfdiff.Triple{}
				var rev int64
				var ops []string
				for range steps {
					gen := gens[r.IntN(len(gens))]
					rev++
					var c *rdfdiff.EntityChange
					old, present := cur[gen.id]
					switch k := r.IntN(20); {
					case !present:
						next := gen.revision(r, rev)
						c, cur[gen.id] = rdftest.Import(gen.id, rev, next), next
					case k < 3:
						c = rdftest.Delete(gen.id)
						delete(cur, gen.id)
					case k < 7:
						next := gen.revision(r, rev)
						c, cur[gen.id] = rdftest.Reconcile(gen.id, rev, next), next
					default:
						next := gen.revision(r, rev)
						c, cur[gen.id] = rdftest.Diff(gen.id, rev, old, next), next
					}
					ops = append(ops, fmt.Sprintf("%s %s", c.Operation, gen.id))

					require.NoError(t, one.Apply(ctx, rdftest.Batch(t, c), nil), "%v", ops)
					if acc.Check(c) != nil || r.IntN(5) == 0 {
						flush()
					}
					require.NoError(t, acc.Accumulate(c), "%v", ops)
				}
				flush()
				checkGraphIndexes(t, one)
				checkGraphIndexes(t, batched)

				var model []rdfdiff.Triple
				for _, ts := range cur {
					model = append(model, ts...)
				}
				if cleanup {
					for _, g := range []*Graph{one, batched} {
						for _, tr := range g.Triples() {
							if gWD.InValueNamespace(tr.S) || gWD.InReferenceNamespace(tr.S) {
								require.NotEmpty(t, g.Match(rdfdiff.Term{}, rdfdiff.Term{}, tr.S), "orphan %v after %v", tr, ops)
							}
						}
					}
				}
				want := rdftest.NTriples(t, model)
				require.Equal(t, want, gCollected(t, one), "one by one vs model after %v", ops)
				require.Equal(t, want, gCollected(t, batched), "batched vs model after %v", ops)
			})
		}
	}
}
