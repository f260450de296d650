package consumer_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// refusingProxy forwards to the store and answers 400 to every update whose
// body holds marker, as a store refusing a change at commit would.
func refusingProxy(t *testing.T, storeURL, marker string) string {
	u, err := url.Parse(storeURL)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && bytes.Contains(body, []byte(marker)) {
			http.Error(w, "refused by the test proxy", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

// TestConsumerDeadLettersCountedInStats: the consumer's dead letters of
// every kind — a change refused when it is added (a blank node), a change
// the store refuses at commit (isolated by bisection), an undecodable
// record — are in the dead-letter topic and in the job's Stats alike.
func TestConsumerDeadLettersCountedInStats(t *testing.T) {
	client, storeURL, data, commit := oxigraph(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newCluster(t, ctx)
	event := func(id string, rev int, ttl string) []byte {
		return []byte(fmt.Sprintf(`{"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0","meta":{"dt":"2026-11-25T12:00:00Z","id":"m-%[1]s","domain":"www.wikidata.org","stream":"rdf-streaming-updater.mutation","request_id":"r-%[1]s"},`+
			`"entity_id":%[1]q,"rev_id":%[2]d,"dt":"2026-11-25T12:00:00Z","sequence":0,"sequence_length":1,"operation":"import",`+
			`"rdf_added_data":{"data":%[3]q,"mime_type":"text/turtle"}}`, id, rev, ttl))
	}
	msgs := [][]byte{
		event("Q64", 7, "<http://www.wikidata.org/entity/Q64> <http://schema.org/name> \"Berlin\"@en .\n"),
		event("Q65", 8, "<http://www.wikidata.org/entity/Q65> <http://www.wikidata.org/prop/direct/P1> _:b1 .\n"),
		event("Q67", 9, "<http://www.wikidata.org/entity/Q67> <http://schema.org/name> \"store-refuses-this\"@en .\n"),
		[]byte(`{"not an event"`),
		event("Q66", 10, "<http://www.wikidata.org/entity/Q66> <http://schema.org/name> \"Hamburg\"@en .\n"),
	}
	produce(t, cl, msgs)
	cfg := baseConfig(cl, checkpoint.NewMemoryStore())
	cfg.StoreURL = refusingProxy(t, storeURL, "store-refuses-this")
	cfg.DataGraph, cfg.CommitGraph, cfg.LagMarker = data, commit, "-"
	c, err := consumer.New(cfg)
	require.NoError(t, err)
	runUntil(t, ctx, cl, c, "the batch committed", func(ctx context.Context) (bool, string, error) {
		cp, err := readCommitPoint(ctx, client, commit)
		if err != nil || len(cp.Positions) != 1 {
			return false, fmt.Sprint(err), nil
		}
		off := cp.Positions[source.TopicPartition{Topic: topic}]
		return off == int64(len(msgs)), fmt.Sprintf("offset %d", off), nil
	})
	assert.Equal(t, []string{
		"<http://www.wikidata.org/entity/Q64> <http://schema.org/name> \"Berlin\"@en .\n",
		"<http://www.wikidata.org/entity/Q66> <http://schema.org/name> \"Hamburg\"@en .\n",
	}, canonical(storeTriples(t, client, data), nil))

	dead, err := cl.ReadCommitted(ctx, dlq)
	require.NoError(t, err)
	kinds := map[string]bool{}
	for _, d := range dead {
		stage, _ := d.HeaderValue(streamkit.HeaderDLQStage)
		class, _ := d.HeaderValue(streamkit.HeaderDLQErrorClass)
		kinds[string(stage)+" "+string(class)] = true
	}
	assert.Equal(t, map[string]bool{
		sparql.StageSPARQL + " " + sparql.ClassSPARQLUnsafeTerm: true, // Q65, refused when added
		sparql.StageSPARQL + " " + sparql.ClassSPARQLRejected:   true, // Q67, refused by the store
		consumer.StageDecode + " " + consumer.ClassInvalidEvent: true,
	}, kinds)
	assert.GreaterOrEqual(t, len(dead), 3)
	assert.Equal(t, int64(len(dead)), c.Job().Stats().DeadLettered,
		"every dead letter in the topic is counted in the job's Stats")
}
