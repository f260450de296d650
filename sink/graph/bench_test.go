package graph

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// gRelabel returns a copy of ts for another entity: entity, statement, value
// and reference IRIs get suffix, and so do literals (labels differ between
// entities), so that copies share only the vocabulary. This is a pessimistic
// model of a real store, where values, references and many literals are
// shared between entities.
func gRelabel(ts []rdfdiff.Triple, suffix string) []rdfdiff.Triple {
	term := func(t rdfdiff.Term) rdfdiff.Term {
		switch {
		case t.IsLiteral():
			if l := t.Lang(); l != "" {
				return rdfdiff.NewLangLiteral(t.Value()+suffix, l)
			}
			return rdfdiff.NewTypedLiteral(t.Value()+suffix, t.Datatype())
		case t.IsIRI() && (gWD.IsEntity(t) && strings.HasPrefix(t.Value(), gWD.EntityPrefix()+"Q42")),
			t.HasPrefix(gWD.StatementPrefix()), gWD.InValueNamespace(t), gWD.InReferenceNamespace(t):
			return rdfdiff.NewIRI(t.Value() + suffix)
		}
		return t
	}
	out := make([]rdfdiff.Triple, len(ts))
	for i, tr := range ts {
		out[i] = rdfdiff.Triple{S: term(tr.S), P: tr.P, O: term(tr.O)}
	}
	return out
}

// BenchmarkGraphApply measures Apply on batches of ten Q42-sized entities
// (about 2 900 triples each): imports into an empty graph, diffs that drop
// and restore a quarter of the statements, and deletes.
func BenchmarkGraphApply(b *testing.B) {
	q42 := graphFixture(b, "Q42-munged.ttl")
	const entities = 10
	ctx := context.Background()
	var imports, dropDiffs, restoreDiffs, deletes []*rdfdiff.EntityChange
	for i := range entities {
		ts := gRelabel(q42, fmt.Sprint(i))
		id := "Q42" + fmt.Sprint(i)
		gen := newGEntityGen(id, ts)
		// A revision without every fourth statement.
		drop := map[rdfdiff.Term]bool{}
		for j, t := range gen.droppable {
			if j%4 == 0 {
				drop[t] = true
			}
		}
		var less []rdfdiff.Triple
		for _, tr := range ts {
			if !drop[tr.S] && !drop[tr.O] {
				less = append(less, tr)
			}
		}
		imports = append(imports, rdftest.Import(id, 1, ts))
		dropDiffs = append(dropDiffs, rdftest.Diff(id, 2, ts, less))
		restoreDiffs = append(restoreDiffs, rdftest.Diff(id, 3, less, ts))
		deletes = append(deletes, rdftest.Delete(id))
	}
	importBatch, dropBatch, restoreBatch, deleteBatch := rdftest.Batch(b, imports...), rdftest.Batch(b, dropDiffs...), rdftest.Batch(b, restoreDiffs...), rdftest.Batch(b, deletes...)
	count := func(p *rdfdiff.ConsolidatedPatch) int {
		n := p.Len()
		for _, r := range p.Reconciliations {
			n += len(r.Triples)
		}
		return n
	}
	for _, cleanup := range []bool{false, true} {
		b.Run(fmt.Sprintf("import+delete/cleanup=%v", cleanup), func(b *testing.B) {
			g := NewGraph(WithOrphanCleanup(cleanup))
			// Triples processed per round: the import's, and those the
			// deletes remove (the entities' own; shared nodes stay unless
			// cleaned up).
			if err := g.Apply(ctx, importBatch, nil); err != nil {
				b.Fatal(err)
			}
			full := g.Len()
			if err := g.Apply(ctx, deleteBatch, nil); err != nil {
				b.Fatal(err)
			}
			n := count(importBatch) + full - g.Len()
			b.ReportAllocs()
			for b.Loop() {
				if err := g.Apply(ctx, importBatch, nil); err != nil {
					b.Fatal(err)
				}
				if err := g.Apply(ctx, deleteBatch, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "triples/s")
		})
		b.Run(fmt.Sprintf("diff/cleanup=%v", cleanup), func(b *testing.B) {
			g := NewGraph(WithOrphanCleanup(cleanup))
			if err := g.Apply(ctx, importBatch, nil); err != nil {
				b.Fatal(err)
			}
			n := count(dropBatch) + count(restoreBatch)
			b.ReportAllocs()
			for b.Loop() {
				if err := g.Apply(ctx, dropBatch, nil); err != nil {
					b.Fatal(err)
				}
				if err := g.Apply(ctx, restoreBatch, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "triples/s")
		})
	}
}

// BenchmarkGraphMemory measures the heap a graph of 100 relabelled copies of
// Q42 (about 290 000 triples, only the vocabulary shared) holds, per triple,
// term strings included.
func BenchmarkGraphMemory(b *testing.B) {
	q42 := graphFixture(b, "Q42-munged.ttl")
	const copies = 100
	var perTriple, ntBytes float64
	for b.Loop() {
		build := func() (*Graph, int) {
			g := NewGraph()
			size := 0
			for i := range copies {
				ts := gRelabel(q42, fmt.Sprint(i))
				if _, err := g.Add(ts...); err != nil {
					b.Fatal(err)
				}
				size += len(rdfdiff.AppendNTriples(nil, ts))
			}
			return g, size
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g, size := build()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perTriple = float64(after.HeapAlloc-before.HeapAlloc) / float64(g.Len())
		ntBytes = float64(size) / float64(g.Len())
		runtime.KeepAlive(g)
	}
	b.ReportMetric(perTriple, "heap-bytes/triple")
	b.ReportMetric(ntBytes, "ntriples-bytes/triple")
}
