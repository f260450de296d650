package updater_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// topicChanges reassembles the rdf_change events of one topic, checking
// their stream.
func topicChanges(t *testing.T, recs []kafkatest.Record, stream string) []*rdfdiff.EntityChange {
	t.Helper()
	r := rdfdiff.NewReassembler()
	var out []*rdfdiff.EntityChange
	for _, rec := range recs {
		require.Zero(t, rec.Partition)
		requireSchemaValid(t, rec.Value, "rdf_change event at offset %d", rec.Offset)
		ev, err := rdfdiff.DecodeEvent(rec.Value)
		require.NoError(t, err, "offset %d", rec.Offset)
		require.Equal(t, stream, ev.Meta.Stream)
		c, err := r.Add(ev, rec.Offset)
		require.NoError(t, err)
		if c != nil {
			out = append(out, c)
		}
	}
	require.Empty(t, r.Pending(), "a partial event")
	return out
}

// TestUpdaterSubgraphsEndToEnd runs the updater without a graph split, then
// restarts it from its commit point with the production definitions
// (wdqs-subgraph-definitions-v2.yaml): the checkpoint has no membership
// table, so the restore must accept it, and the entity whose membership is
// unknown must get it from its previous revision. Q2 then becomes a
// scholarly article (P31 Q13442814), Q42 is created (main), Q2 is deleted; every
// event must land on its subgraph's topic. A third instance must read the
// memberships back from its checkpoint, and a fourth, with the subgraphs
// reordered, must drop them and start again from unknown memberships.
func TestUpdaterSubgraphsEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	q2r1 := fixture(t, "entities/Q2-rev1.ttl")
	q2r2 := append(append([]byte(nil), fixture(t, "entities/Q2-rev2.ttl")...), "\nwd:Q2 wdt:P31 wd:Q13442814 .\n"...)
	q42 := fixture(t, "entities/Q42.ttl")
	q42edited := []byte(strings.Replace(string(q42), `wdt:P1813 "Douglas Adams"@en`, `wdt:P1813 "Douglas N. Adams"@en`, 1))
	require.NotEqual(t, q42, q42edited)
	srv := newEntityServer(t, map[string][]byte{"Q2/1": q2r1, "Q2/2": q2r2, "Q42/100": q42, "Q42/101": q42edited, "Q42/102": q42})

	cl := kafkatest.NewCluster(t)
	const (
		in        = "eqiad.mediawiki.page_change.v1"
		full      = "eqiad.rdf-streaming-updater.mutation"
		main      = "eqiad.rdf-streaming-updater.mutation-main"
		scholarly = "eqiad.rdf-streaming-updater.mutation-scholarly"
	)
	for _, topic := range []string{in, full, main, scholarly} {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	defs := loadDefs(t, "wdqs-subgraph-definitions-v2.yaml")
	cfg := updater.Config{
		Brokers: cl.Addrs(), Topics: []string{in}, Sarama: cl.SaramaConfig(),
		Filter:        wikidataFilter,
		EntityDataURL: srv.URL + updater.EntityDataPath,
		FetchAttempts: 2, FetchRetryDelay: 10 * time.Millisecond,
		ReorderWindow: time.Second, MaxLateness: time.Second, IdleTimeout: 2 * time.Second,
		OutputTopic:     full,
		CheckpointStore: checkpoint.NewMemoryStore(), CheckpointInterval: 200 * time.Millisecond,
	}
	wait := func(topic, stream string, n int) []*rdfdiff.EntityChange {
		var got []*rdfdiff.EntityChange
		require.NoError(t, cl.WaitFor(ctx, fmt.Sprintf("%d rdf_change events in %s", n, topic), func(ctx context.Context) (bool, string, error) {
			recs, err := cl.ReadCommitted(ctx, topic)
			if err != nil {
				return false, "", err
			}
			got = topicChanges(t, recs, stream)
			return len(got) >= n, fmt.Sprintf("%d events", len(got)), nil
		}))
		return got
	}
	run := func(cfg updater.Config, until func()) {
		job, err := updater.NewJob(cfg)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- job.Run(ctx) }()
		until()
		require.NoError(t, job.Stop(ctx))
		require.NoError(t, <-done)
	}

	// Phase 1, no split: Q2 is created.
	require.NoError(t, cl.Produce(ctx, in, item(t, "create", "Q2", 1, 0, sec(1)), sentinel(t, sec(600))))
	run(cfg, func() { wait(full, updater.DefaultOutputStream, 1) })

	// Phase 2, with the split, from phase 1's commit point.
	cfg.Subgraphs = defs
	cfg.SubgraphTopics = map[string]string{
		"rdf-streaming-updater.mutation-main":      main,
		"rdf-streaming-updater.mutation-scholarly": scholarly,
	}
	require.NoError(t, cl.Produce(ctx, in,
		item(t, "edit", "Q2", 2, 1, sec(601)),
		item(t, "create", "Q42", 100, 0, sec(602)),
		pageChange(t, "delete", "Q2", 0, "wikibase-item", 2, 0, sec(603), "test.wikidata.org"),
		sentinel(t, sec(1200))))
	var gotFull, gotMain, gotScholarly []*rdfdiff.EntityChange
	run(cfg, func() {
		gotFull = wait(full, "rdf-streaming-updater.mutation", 4)
		gotMain = wait(main, "rdf-streaming-updater.mutation-main", 4)
		gotScholarly = wait(scholarly, "rdf-streaming-updater.mutation-scholarly", 4)
	})

	// Phase 3, a new instance: Q42's membership comes from the
	// checkpointed table; an edit that keeps it in main is a plain diff
	// there and in the full graph, and scholarly_articles gets its stub
	// again.
	require.NoError(t, cl.Produce(ctx, in, item(t, "edit", "Q42", 101, 100, sec(1201)), sentinel(t, sec(1800))))
	run(cfg, func() {
		gotFull = wait(full, "rdf-streaming-updater.mutation", 5)
		gotMain = wait(main, "rdf-streaming-updater.mutation-main", 5)
		gotScholarly = wait(scholarly, "rdf-streaming-updater.mutation-scholarly", 5)
	})

	// Phase 4, other definitions (the same subgraphs, reordered): the
	// old membership table is dropped at restore (misread, its bits would
	// put Q42 in scholarly_articles), so Q42's membership is unknown and
	// taken from its previous revision.
	reordered := *defs
	reordered.Subgraphs = []*updater.Subgraph{defs.Subgraphs[2], defs.Subgraphs[1], defs.Subgraphs[0]}
	cfg.Subgraphs = &reordered
	require.NoError(t, cl.Produce(ctx, in, item(t, "edit", "Q42", 102, 101, sec(1801)), sentinel(t, sec(2400))))
	run(cfg, func() {
		gotFull = wait(full, "rdf-streaming-updater.mutation", 6)
		gotMain = wait(main, "rdf-streaming-updater.mutation-main", 6)
		gotScholarly = wait(scholarly, "rdf-streaming-updater.mutation-scholarly", 6)
	})

	shared := rdfdiff.WikibaseShared(rdfdiff.WikidataScheme())
	m1, m2, m42 := munged(t, "Q2", q2r1), munged(t, "Q2", q2r2), munged(t, "Q42", q42)
	q42diff := sorted(rdfdiff.Diff(m42, munged(t, "Q42", q42edited), shared))
	q42revert := sorted(rdfdiff.Diff(munged(t, "Q42", q42edited), m42, shared))
	require.False(t, q42diff.IsEmpty())
	type op struct {
		rev   int64
		op    rdfdiff.Operation
		patch rdfdiff.Patch
	}
	perEntity := func(cs []*rdfdiff.EntityChange) map[string][]op {
		out := map[string][]op{}
		for _, c := range cs {
			out[c.EntityID] = append(out[c.EntityID], op{c.Revision, c.Operation, sorted(c.Patch)})
		}
		return out
	}
	stub := func(id, graph string) rdfdiff.Patch {
		return rdfdiff.Patch{LinkedShared: []rdfdiff.Triple{{
			S: rdfdiff.WikidataScheme().EntityTerm(id), P: rdfdiff.NewIRI(updater.SubgraphStubPredicate),
			O: rdfdiff.NewIRI("https://query.wikidata.org/subgraph/" + graph),
		}}}
	}
	whole := func(ts []rdfdiff.Triple) rdfdiff.Patch { return sorted(rdfdiff.Diff(nil, ts, shared)) }
	assert.Equal(t, map[string][]op{
		"Q2": {
			{1, rdfdiff.OpImport, whole(m1)},
			{2, rdfdiff.OpDiff, sorted(rdfdiff.Diff(m1, m2, shared))},
			{2, rdfdiff.OpDelete, rdfdiff.Patch{}},
		},
		"Q42": {{100, rdfdiff.OpImport, whole(m42)}, {101, rdfdiff.OpDiff, q42diff}, {102, rdfdiff.OpDiff, q42revert}},
	}, perEntity(gotFull))
	assert.Equal(t, map[string][]op{
		// No recorded membership (phase 1 had no split): rev 1 was in
		// main, rev 2 leaves it for scholarly_articles.
		"Q2": {
			{2, rdfdiff.OpDelete, rdfdiff.Patch{}},
			{2, rdfdiff.OpImport, stub("Q2", "scholarly_articles")},
			{2, rdfdiff.OpDelete, rdfdiff.Patch{}},
		},
		"Q42": {
			{100, rdfdiff.OpImport, whole(m42)}, {101, rdfdiff.OpDiff, q42diff}, {102, rdfdiff.OpDiff, q42revert},
		},
	}, perEntity(gotMain))
	assert.Equal(t, map[string][]op{
		"Q2": {
			{2, rdfdiff.OpDelete, rdfdiff.Patch{}},
			{2, rdfdiff.OpImport, whole(m2)},
			{2, rdfdiff.OpDelete, rdfdiff.Patch{}},
		},
		"Q42": {
			{100, rdfdiff.OpImport, stub("Q42", "wikidata_main")},
			{101, rdfdiff.OpDiff, stub("Q42", "wikidata_main")},
			{102, rdfdiff.OpDiff, stub("Q42", "wikidata_main")},
		},
	}, perEntity(gotScholarly))
}
