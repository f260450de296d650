package consumer_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql/sparqltest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// oxigraph returns a client of the Oxigraph under test and fresh data and
// commit graph IRIs, dropped at the end; it skips without
// STREAMKIT_OXIGRAPH_URL.
func oxigraph(t *testing.T) (c *sparql.Client, url, data, commit string) {
	url = os.Getenv("STREAMKIT_OXIGRAPH_URL")
	if url == "" {
		t.Skip("STREAMKIT_OXIGRAPH_URL not set (see scripts/oxigraph/run.sh)")
	}
	c, err := sparql.NewClient(url, sparql.WithRequestTimeout(30*time.Second))
	require.NoError(t, err)
	base := fmt.Sprintf("http://streamkit.test/wdqs-consumer/%s/%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
	data, commit = base+"/data", base+"/commit"
	t.Cleanup(func() {
		_ = c.Update(context.Background(), "DROP SILENT GRAPH <"+data+"> ;\nDROP SILENT GRAPH <"+commit+">")
	})
	return c, url, data, commit
}

// storeTriples reads every triple of graph back from the store.
func storeTriples(t testing.TB, c *sparql.Client, graph string) []rdfdiff.Triple {
	t.Helper()
	res, err := c.Query(context.Background(), "SELECT ?s ?p ?o WHERE { GRAPH <"+graph+"> { ?s ?p ?o } }")
	require.NoError(t, err)
	out := make([]rdfdiff.Triple, 0, len(res.Bindings))
	for _, row := range res.Bindings {
		out = append(out, rdfdiff.Triple{S: row["s"], P: row["p"], O: row["o"]})
	}
	return out
}

// storeNormalize maps literals to the canonical forms Oxigraph returns:
// numbers as sparqltest.StoreCanonical has them, and xsd:dateTime
// fractions without trailing zeros.
func storeNormalize(tr rdfdiff.Triple) rdfdiff.Triple {
	tr = sparqltest.StoreCanonical(tr)
	o := tr.O
	if !o.IsLiteral() || o.Datatype() != rdfdiff.XSDDateTime {
		return tr
	}
	lex := o.Value()
	if dot := strings.LastIndexByte(lex, '.'); dot > strings.LastIndexByte(lex, ':') {
		end := dot + 1
		for end < len(lex) && lex[end] >= '0' && lex[end] <= '9' {
			end++
		}
		if frac := strings.TrimRight(lex[dot+1:end], "0"); frac == "" {
			lex = lex[:dot] + lex[end:]
		} else {
			lex = lex[:dot+1] + frac + lex[end:]
		}
		tr.O = rdfdiff.NewTypedLiteral(lex, rdfdiff.XSDDateTime)
	}
	return tr
}

// withoutLagMarker drops the lag marker triple and reports whether it was
// there.
func withoutLagMarker(ts []rdfdiff.Triple) ([]rdfdiff.Triple, bool) {
	out, found := ts[:0:0], false
	for _, tr := range ts {
		if tr.S == rdfdiff.NewIRI(consumer.DefaultLagMarker) && tr.P == rdfdiff.NewIRI("http://schema.org/dateModified") {
			found = true
			continue
		}
		out = append(out, tr)
	}
	return out, found
}

// TestConsumerOxigraph runs the consumer into Oxigraph over the fixture
// stream, restarting half-way: the store's data graph ends equal to the
// reference, with the lag marker; the commit graph holds the end of the topic
// as the position; the undecodable record is in the dead-letter topic with
// its provenance.
func TestConsumerOxigraph(t *testing.T) {
	client, url, data, commit := oxigraph(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newCluster(t, ctx)
	s := fixtureStream(t)
	store := checkpoint.NewMemoryStore()
	cfg := baseConfig(cl, store)
	cfg.StoreURL, cfg.DataGraph, cfg.CommitGraph = url, data, commit
	committedAt := func(n int) func(ctx context.Context) (bool, string, error) {
		return func(ctx context.Context) (bool, string, error) {
			cp, err := readCommitPoint(ctx, client, commit)
			if err != nil || len(cp.Positions) != 1 {
				return false, fmt.Sprint(err), nil
			}
			off := cp.Positions[source.TopicPartition{Topic: topic}]
			return off == int64(n), fmt.Sprintf("offset %d", off), nil
		}
	}
	half := len(s.msgs) / 2
	produce(t, cl, s.msgs[:half])
	c, err := consumer.New(cfg)
	require.NoError(t, err)
	runUntil(t, ctx, cl, c, "first half committed", committedAt(half))
	produce(t, cl, s.msgs[half:])
	c, err = consumer.New(cfg)
	require.NoError(t, err)
	runUntil(t, ctx, cl, c, "whole stream committed", committedAt(len(s.msgs)))

	got, marker := withoutLagMarker(storeTriples(t, client, data))
	assert.True(t, marker, "lag marker missing")
	requireSameGraph(t, s.reference(t).Triples(), got, storeNormalize)

	dead, err := cl.ReadCommitted(ctx, dlq)
	require.NoError(t, err)
	require.Len(t, dead, len(s.bad))
	for i, d := range dead {
		assert.Equal(t, s.msgs[s.bad[i]], d.Value)
		v, _ := d.HeaderValue(streamkit.HeaderDLQOffset)
		assert.Equal(t, strconv.Itoa(s.bad[i]), string(v))
	}
}

// readCommitPoint reads the consumer's commit point of the topic's partition
// 0 from the store, as the job's task does on start.
func readCommitPoint(ctx context.Context, c *sparql.Client, commit string) (*streamkit.CommitPoint, error) {
	b, err := sparql.NewUpdateBuilder(rdfdiff.WikidataScheme(), sparql.WithCommitGraph(commit))
	if err != nil {
		return nil, err
	}
	s, err := sparql.NewSPARQL(c, b)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.ReadCommitPoint(ctx, source.Partitions{topic: {0}})
}

// TestConsumerOxigraphRejectedChange: a change the SPARQL sink cannot write
// (a blank node, which INSERT DATA would turn into a fresh node) is isolated
// and dead-lettered through Kafka with stage sink:sparql, and the rest of the
// batch is applied with the commit point.
func TestConsumerOxigraphRejectedChange(t *testing.T) {
	client, url, data, commit := oxigraph(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newCluster(t, ctx)
	event := func(id string, rev int, ttl string) []byte {
		return []byte(fmt.Sprintf(`{"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0","meta":{"dt":"2026-11-25T12:00:00Z","id":"m-%[1]s","domain":"www.wikidata.org","stream":"rdf-streaming-updater.mutation","request_id":"r-%[1]s"},`+
			`"entity_id":%[1]q,"rev_id":%[2]d,"dt":"2026-11-25T12:00:00Z","sequence":0,"sequence_length":1,"operation":"import",`+
			`"rdf_added_data":{"data":%[3]q,"mime_type":"text/turtle"}}`, id, rev, ttl))
	}
	good := "<http://www.wikidata.org/entity/Q64> <http://schema.org/name> \"Berlin\"@en .\n"
	msgs := [][]byte{
		event("Q64", 7, good),
		event("Q65", 8, "<http://www.wikidata.org/entity/Q65> <http://www.wikidata.org/prop/direct/P1> _:b1 .\n"),
		event("Q66", 9, "<http://www.wikidata.org/entity/Q66> <http://schema.org/name> \"Hamburg\"@en .\n"),
	}
	produce(t, cl, msgs)
	cfg := baseConfig(cl, checkpoint.NewMemoryStore())
	cfg.StoreURL, cfg.DataGraph, cfg.CommitGraph, cfg.LagMarker = url, data, commit, "-"
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
	got := canonical(storeTriples(t, client, data), nil)
	assert.Equal(t, []string{
		"<http://www.wikidata.org/entity/Q64> <http://schema.org/name> \"Berlin\"@en .\n",
		"<http://www.wikidata.org/entity/Q66> <http://schema.org/name> \"Hamburg\"@en .\n",
	}, got)
	dead, err := cl.ReadCommitted(ctx, dlq)
	require.NoError(t, err)
	require.NotEmpty(t, dead)
	// At-least-once for dead letters: a redone checkpoint may repeat them,
	// so every one must be the rejected record.
	for _, d := range dead {
		assert.Equal(t, msgs[1], d.Value)
		stage, _ := d.HeaderValue(streamkit.HeaderDLQStage)
		class, _ := d.HeaderValue(streamkit.HeaderDLQErrorClass)
		assert.Equal(t, sparql.StageSPARQL, string(stage))
		assert.Equal(t, sparql.ClassSPARQLUnsafeTerm, string(class))
	}
}
