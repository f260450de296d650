package updater_test

import (
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// BenchmarkSubgraphAssign measures the membership of Q42 (about 5,000
// munged triples) under the production definitions: four rule scans.
func BenchmarkSubgraphAssign(b *testing.B) {
	defs := loadDefs(b, "wdqs-subgraph-definitions-v2.yaml")
	q42 := mungedQ42(b)
	a := updater.NewSubgraphAssigner(defs, rdfdiff.WikidataScheme())
	b.ReportAllocs()
	b.ReportMetric(float64(len(q42)), "triples")
	for b.Loop() {
		if a.Assign("Q42", q42).Names(defs) == nil {
			b.Fatal("no subgraph")
		}
	}
}

// BenchmarkSubgraphFanOut measures the fan-out of an edit of Q42 that
// keeps its membership (the common case): one assignment, one diff shared
// by main and full, and the stub for scholarly_articles.
func BenchmarkSubgraphFanOut(b *testing.B) {
	defs := loadDefs(b, "wdqs-subgraph-definitions-v2.yaml")
	q42 := mungedQ42(b)
	edited := append([]rdfdiff.Triple(nil), q42[:len(q42)-1]...)
	scheme := rdfdiff.WikidataScheme()
	d := updater.NewSubgraphDiff(updater.NewSubgraphAssigner(defs, scheme), rdfdiff.WikibaseShared(scheme))
	prev := updater.SubgraphMembership{Set: updater.SubgraphSet(0).With(1).With(2), Known: true}
	base := rdfdiff.EntityChange{EntityID: "Q42", Revision: 2, Operation: rdfdiff.OpDiff, EventTime: time.Unix(0, 0)}
	b.ReportAllocs()
	for b.Loop() {
		changes, _ := d.FanOut(base, q42, edited, prev)
		if len(changes) != 3 {
			b.Fatalf("%d changes", len(changes))
		}
	}
}

func mungedQ42(b *testing.B) []rdfdiff.Triple {
	ts, err := rdfdiff.ParseTurtleBytes(fixture(b, "entities/Q42.ttl"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := rdfdiff.NewMunger(rdfdiff.WikidataScheme()).Munge("Q42", ts)
	if err != nil {
		b.Fatal(err)
	}
	return m
}
