package sparql_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// ExampleSPARQL drives the SPARQL sink as the job runner does for one task:
// Claim, ReadCommitPoint, Begin, Add the task's entity changes, Commit with
// the checkpoint's positions. The store here is a stand-in that refuses any
// request mentioning Q666, so the sink bisects the checkpoint, hands Q666 to
// the dead-letter callback with its provenance, and commits the rest.
func ExampleSPARQL() {
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Header.Get("Content-Type") == "application/x-www-form-urlencoded": // a query: no commit point yet
			w.Header().Set("Content-Type", "application/sparql-results+json")
			_, _ = io.WriteString(w, `{"head":{"vars":["n"]},"results":{"bindings":[]}}`)
		case strings.Contains(string(body), "/entity/Q666>"):
			http.Error(w, "Parse error: language tag parsing failed", http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer store.Close()

	ctx := context.Background()
	client, err := sparql.NewClient(store.URL + "/sparql")
	if err != nil {
		panic(err)
	}
	builder, err := sparql.NewUpdateBuilder(rdfdiff.WikidataScheme(),
		sparql.WithDataGraph("http://example.org/wdqs"), sparql.WithCommitGraph("http://example.org/commit"))
	if err != nil {
		panic(err)
	}
	out, err := sparql.NewSPARQL(client, builder,
		sparql.WithSPARQLLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		sparql.WithRejectedHandler(sparql.RejectedFunc(func(_ context.Context, r *sparql.RejectedChange) error {
			rec := r.Origins[0].(source.Record)
			fmt.Printf("dead letter: %s revision %d from %s/%d@%d\n", r.EntityID, r.Revision, rec.Topic, rec.Partition, rec.Offset)
			return nil
		})))
	if err != nil {
		panic(err)
	}
	defer out.Close()

	const topic = "eqiad.rdf-streaming-updater.mutation"
	if err := out.Claim(ctx); err != nil {
		panic(err)
	}
	if _, err := out.ReadCommitPoint(ctx, source.Partitions{topic: {0}}); err != nil {
		fmt.Println("start:", err)
	}
	if err := out.Begin(ctx); err != nil {
		panic(err)
	}
	version := func(id string, rev string) rdfdiff.Triple {
		return rdfdiff.Triple{S: rdfdiff.WikidataScheme().EntityTerm(id), P: rdfdiff.NewIRI("http://schema.org/version"),
			O: rdfdiff.NewTypedLiteral(rev, rdfdiff.XSDInteger)}
	}
	for i, id := range []string{"Q1", "Q666", "Q2"} {
		change := &rdfdiff.EntityChange{EntityID: id, Revision: 7, Operation: rdfdiff.OpImport,
			Patch: rdfdiff.Patch{Added: []rdfdiff.Triple{version(id, "7")}}}
		origin := source.Record{Topic: topic, Partition: 0, Offset: int64(100 + i)}
		if err := out.Add(change, origin); err != nil {
			panic(err)
		}
	}
	cp := &streamkit.CommitPoint{Job: "wdqs-consumer", CheckpointID: 1, Positions: source.Positions{{Topic: topic, Partition: 0}: 103}}
	if err := out.Commit(ctx, cp); err != nil {
		panic(err)
	}
	last := out.LastCommit()
	st := out.Stats()
	fmt.Printf("checkpoint %d: %d changes, %d rejected, %d requests accepted, %d bisections\n",
		last.CheckpointID, last.Changes, last.Rejected, st.Requests, st.Bisections)
	// Output:
	// start: streamkit: no commit point in the store for 1 partition(s)
	// dead letter: Q666 revision 7 from eqiad.rdf-streaming-updater.mutation/0@101
	// checkpoint 1: 3 changes, 1 rejected, 2 requests accepted, 2 bisections
}
