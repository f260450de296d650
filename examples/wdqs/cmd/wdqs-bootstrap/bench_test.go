package main

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// BenchmarkBootstrap measures a bootstrap of 200 000 entities (CSV parse,
// table fill, snapshot into a memory store, savepoint): Wikidata's ~120 M
// entities scale from it linearly.
func BenchmarkBootstrap(b *testing.B) {
	const n = 200_000
	var csv bytes.Buffer
	for i := 1; i <= n; i++ {
		csv.WriteString("Q" + strconv.Itoa(i) + "," + strconv.Itoa(2_000_000_000+i) + "\n")
	}
	b.SetBytes(int64(csv.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Bootstrap(context.Background(), checkpoint.NewMemoryStore(), bytes.NewReader(csv.Bytes()),
			Options{Job: "wdqs-updater", Savepoint: "sp"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entities/s")
}
