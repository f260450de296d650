package rdfdiff

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchEditStream returns n diffs shaped like Wikidata edits: each bumps the
// entity's schema:version and schema:dateModified, replaces one statement
// value (with its value node as linked-shared data) and sometimes touches a
// label. Entities are edited several times, so cancellations happen as
// they do in a real batch.
func benchEditStream(n, entities int) []*EntityChange {
	rng := rand.New(rand.NewPCG(42, 1))
	version := NewIRI("http://schema.org/version")
	modified := NewIRI("http://schema.org/dateModified")
	label := NewIRI("http://www.w3.org/2000/01/rdf-schema#label")
	ps := NewIRI("http://www.wikidata.org/prop/statement/P1082")
	psv := NewIRI("http://www.wikidata.org/prop/statement/value/P1082")
	amount := NewIRI("http://wikiba.se/ontology#quantityAmount")
	unit := NewIRI("http://wikiba.se/ontology#quantityUnit")
	valueType := NewIRI("http://wikiba.se/ontology#QuantityValue")
	rdfType := NewIRI(RDFType)

	type entityState struct {
		rev      int64
		pop      int
		label    string
		modified time.Time
	}
	states := make([]entityState, entities)
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range states {
		states[i] = entityState{rev: int64(1000 + i), pop: rng.IntN(1_000_000), label: fmt.Sprintf("label %d", i), modified: t0}
	}
	out := make([]*EntityChange, n)
	for k := range out {
		i := rng.IntN(entities)
		st := &states[i]
		id := fmt.Sprintf("Q%d", 100+i)
		e := NewIRI(accWD + id)
		stmt := NewIRI(accS + id + "-4f3c1a9e-4b0b-9c1b-6a4e-1c2d3e4f5a6b")
		oldV := NewIRI(fmt.Sprintf("%s%032x", accV, st.pop))
		newPop := st.pop + 1 + rng.IntN(1000)
		newV := NewIRI(fmt.Sprintf("%s%032x", accV, newPop))
		when := st.modified.Add(time.Duration(1+rng.IntN(600)) * time.Second)
		p := Patch{
			Added: []Triple{
				{S: e, P: version, O: NewTypedLiteral(fmt.Sprint(st.rev+1), XSDInteger)},
				{S: e, P: modified, O: NewTypedLiteral(when.Format(time.RFC3339), XSDDateTime)},
				{S: stmt, P: ps, O: NewTypedLiteral(fmt.Sprint(newPop), XSDDecimal)},
				{S: stmt, P: psv, O: newV},
			},
			Removed: []Triple{
				{S: e, P: version, O: NewTypedLiteral(fmt.Sprint(st.rev), XSDInteger)},
				{S: e, P: modified, O: NewTypedLiteral(st.modified.Format(time.RFC3339), XSDDateTime)},
				{S: stmt, P: ps, O: NewTypedLiteral(fmt.Sprint(st.pop), XSDDecimal)},
				{S: stmt, P: psv, O: oldV},
			},
			LinkedShared: []Triple{
				{S: newV, P: rdfType, O: valueType},
				{S: newV, P: amount, O: NewTypedLiteral(fmt.Sprint(newPop), XSDDecimal)},
				{S: newV, P: unit, O: NewIRI("http://www.wikidata.org/entity/Q199")},
			},
			UnlinkedShared: []Triple{
				{S: oldV, P: rdfType, O: valueType},
				{S: oldV, P: amount, O: NewTypedLiteral(fmt.Sprint(st.pop), XSDDecimal)},
				{S: oldV, P: unit, O: NewIRI("http://www.wikidata.org/entity/Q199")},
			},
		}
		if rng.IntN(4) == 0 {
			newLabel := fmt.Sprintf("label %d.%d", i, k)
			p.Removed = append(p.Removed, Triple{S: e, P: label, O: NewLangLiteral(st.label, "en")})
			p.Added = append(p.Added, Triple{S: e, P: label, O: NewLangLiteral(newLabel, "en")})
			st.label = newLabel
		}
		st.rev++
		st.pop = newPop
		st.modified = when
		out[k] = &EntityChange{EntityID: id, Revision: st.rev, Operation: OpDiff, EventTime: when,
			RequestID: fmt.Sprintf("req-%d", k), Patch: p}
	}
	return out
}

func patchBytes(cs []*EntityChange) int64 {
	var n int64
	for _, c := range cs {
		for _, b := range [][]Triple{c.Patch.Added, c.Patch.Removed, c.Patch.LinkedShared, c.Patch.UnlinkedShared} {
			for _, t := range b {
				n += int64(len(t.S.String()) + len(t.P.String()) + len(t.O.String()) + 4)
			}
		}
	}
	return n
}

// BenchmarkAccumulate1000 merges 1 000 Wikidata-shaped diffs of 300
// entities into one consolidated patch and builds the sorted result, reusing
// the accumulator and the result across iterations as a consumer does. The
// bytes are the N-Triples size of the input patches.
func BenchmarkAccumulate1000(b *testing.B) {
	changes := benchEditStream(1000, 300)
	for _, reclassify := range []bool{false, true} {
		b.Run(fmt.Sprintf("reclassify=%v", reclassify), func(b *testing.B) {
			a := NewAccumulator(SitelinkReclassification(reclassify))
			var dst ConsolidatedPatch
			b.SetBytes(patchBytes(changes))
			b.ReportAllocs()
			for b.Loop() {
				for _, c := range changes {
					if err := a.Accumulate(c); err != nil {
						b.Fatal(err)
					}
				}
				a.ResultInto(&dst)
				a.Reset()
			}
			b.ReportMetric(float64(len(changes))*float64(b.N)/b.Elapsed().Seconds(), "patches/s")
			b.ReportMetric(float64(dst.Len()), "triples/batch")
		})
	}
}
