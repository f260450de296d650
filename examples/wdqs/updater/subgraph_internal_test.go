package updater

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// The membership table is named after the subgraphs in order, since a
// SubgraphSet is a bit per index: other subgraphs must mean another table,
// other rules or bindings the same one.
func TestSubgraphTableName(t *testing.T) {
	parse := func(doc string) *SubgraphDefinitions {
		d, err := ParseSubgraphDefinitions([]byte(doc), "")
		require.NoError(t, err)
		return d
	}
	const a = "  - {name: a, stream: sa, subgraph_uri: <http://x/a>, default: pass}\n"
	const aRules = "  - {name: a, stream: sa, subgraph_uri: <http://x/a>, default: block, rules: [\"pass ?entity <http://x/p> []\"]}\n"
	const b = "  - {name: b, stream: sb, default: pass}\n"
	ab := subgraphTableName(parse("subgraphs:\n" + a + b))
	assert.Regexp(t, `^subgraphs-[0-9a-f]{8}$`, ab)
	assert.Equal(t, ab, subgraphTableName(parse("subgraphs:\n"+aRules+b)))
	assert.NotEqual(t, ab, subgraphTableName(parse("subgraphs:\n"+b+a)))
	assert.NotEqual(t, ab, subgraphTableName(parse("subgraphs:\n"+b)))
}

// A failed fetch keeps the membership where it was, as it keeps the
// revision: the next edit is fanned out from the last emitted membership.
func TestProcessorSubgraphMembershipAfterFetchFailure(t *testing.T) {
	ctx := context.Background()
	rev1, err := os.ReadFile("testdata/entities/Q2-rev1.ttl")
	require.NoError(t, err)
	rev3 := append(append([]byte(nil), rev1...), "\nwd:Q2 wdt:P31 wd:Q13442814 .\n"...)
	data := EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		switch fmt.Sprintf("%s/%d", id, rev) {
		case "Q2/1":
			return rev1, true
		case "Q2/3":
			return rev3, true
		}
		return nil, false
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("revision") == "2" {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		data.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defs, err := LoadSubgraphDefinitions("testdata/subgraphs/wdqs-subgraph-definitions-v2.yaml")
	require.NoError(t, err)
	cfg := Config{
		Brokers: []string{"b"}, Topics: []string{"t"}, Filter: Filter{Hostname: "test.wikidata.org", EntityNamespaces: []int{0}, ContentModels: []string{"wikibase-item"}},
		EntityDataURL: srv.URL + EntityDataPath, OutputTopic: "o", CheckpointStore: checkpoint.NewMemoryStore(),
		FetchFailureTopic: "failed", FetchAttempts: 1, ReorderWindow: 10 * time.Second, MaxLateness: time.Second,
		Subgraphs: defs, SubgraphTopics: map[string]string{"rdf-streaming-updater.mutation-main": "m", "rdf-streaming-updater.mutation-scholarly": "s"},
	}
	c, err := cfg.withDefaults()
	require.NoError(t, err)
	out := &recorder{}
	p, err := newProcessor(c, streamkit.TaskInfo{Task: 0}, out, newFetcher(c, rdfdiff.NewMunger(*c.Scheme)))
	require.NoError(t, err)
	assert.Len(t, p.Tables(), 3, "entity states, the re-order buffer and the memberships")
	ops := func() []string {
		var got []string
		for _, rec := range out.recs {
			if rec.Topic == "failed" {
				got = append(got, "failed")
				continue
			}
			ev, err := rdfdiff.DecodeEvent(rec.Value)
			require.NoError(t, err)
			got = append(got, fmt.Sprintf("%s:%s@%d", rec.Topic, ev.Operation, ev.Revision))
		}
		out.recs = nil
		return got
	}
	main, full, scholarly := defs.Index("wikidata_main"), defs.Index("wikidata_full"), defs.Index("scholarly_articles")
	t0 := time.Date(2024, 10, 4, 15, 0, 0, 0, time.UTC)
	ev := func(rev, parent int64) []InputEvent {
		return []InputEvent{{Action: ActionRevisionCreate, Item: "Q2", Revision: rev, ParentRevision: parent, EventTime: t0.Add(time.Duration(rev) * time.Second)}}
	}

	require.NoError(t, p.apply(ctx, ev(1, 0)))
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, []string{"s:import@1", "m:import@1", "o:import@1"}, ops())
	assert.Equal(t, SubgraphMembership{Set: SubgraphSet(0).With(main).With(full), Known: true}, p.Membership("Q2"))

	require.NoError(t, p.apply(ctx, ev(2, 1)))
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, []string{"failed"}, ops())
	assert.Equal(t, SubgraphMembership{Set: SubgraphSet(0).With(main).With(full), Known: true}, p.Membership("Q2"))
	assert.Equal(t, EntityState{Known: true, Revision: 1}, p.State("Q2"))

	require.NoError(t, p.apply(ctx, ev(3, 2)))
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, []string{"s:delete@3", "s:import@3", "m:delete@3", "m:import@3", "o:diff@3"}, ops())
	assert.Equal(t, SubgraphMembership{Set: SubgraphSet(0).With(scholarly).With(full), Known: true}, p.Membership("Q2"))

	require.NoError(t, p.apply(ctx, []InputEvent{{Action: ActionPageDelete, Item: "Q2", Revision: 3, EventTime: t0.Add(time.Minute)}}))
	require.NoError(t, p.Flush(ctx))
	assert.Equal(t, []string{"s:delete@3", "m:delete@3", "o:delete@3"}, ops())
	assert.Equal(t, SubgraphMembership{}, p.Membership("Q2"))
}
