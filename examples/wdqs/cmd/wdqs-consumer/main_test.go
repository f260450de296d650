package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func TestUsage(t *testing.T) {
	// CI exports the Swift test credentials; this test checks what happens without them.
	t.Setenv("STREAMKIT_SWIFT_KEY", "")
	t.Setenv("STREAMKIT_SWIFT_USER", "")
	ctx := context.Background()
	var out bytes.Buffer
	assert.Equal(t, 0, run(ctx, []string{"-h"}, &out))
	assert.Contains(t, out.String(), "-sparql-url")
	assert.Contains(t, out.String(), "-sidecar-addr")

	base := "-brokers b -topics t -sparql-url http://127.0.0.1:1/sparql "
	for args, msg := range map[string]string{
		"-brokers b -topics t -sparql-url http://x/sparql":            "a checkpoint store is required",
		"-checkpoint-dir d -swift-auth-url u":                         "exclusive",
		base + "-checkpoint-dir d -dialect neptune":                   "-dialect",
		base + "-checkpoint-dir d -uris-scheme foo":                   "-uris-scheme",
		base + "-checkpoint-dir d -start yesterday":                   "-start",
		base + "-checkpoint-dir d -entity-filter (":                   "-entity-filter",
		"-checkpoint-dir d -brokers b -topics t":                      "a store URL or a Graph is required",
		"-checkpoint-dir d -topics t -sparql-url http://x/sparql":     "no brokers",
		base + "-checkpoint-dir d extra":                              "unexpected arguments",
		"-swift-auth-url http://swift/auth -swift-user u":             "STREAMKIT_SWIFT_KEY",
		base + "-checkpoint-dir d -sidecar-token-file /nonexistent/x": "-sidecar-token-file",
		base + "-checkpoint-dir d -sidecar-addr 0.0.0.0:9102":         "sidecar",
		base + "-checkpoint-dir d -dialect virtuoso":                  "data graph",
	} {
		out.Reset()
		assert.Equal(t, 2, run(ctx, strings.Fields(args), &out), args)
		assert.Contains(t, out.String(), msg, args)
	}
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// syncBuffer is a bytes.Buffer safe for the command's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunStopOverHTTP runs the command against Oxigraph and an in-process
// Kafka cluster with its sidecar, as a Kubernetes preStop hook drives it:
// /healthz answers, /readyz turns ready, POST /stop?savepoint= without the
// token is refused and with it stops the consumer with a savepoint, and the
// command exits 0. The store holds the record's entity and the commit point.
func TestRunStopOverHTTP(t *testing.T) {
	url := os.Getenv("STREAMKIT_OXIGRAPH_URL")
	if url == "" {
		t.Skip("STREAMKIT_OXIGRAPH_URL not set (see scripts/oxigraph/run.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	const topic = "eqiad.rdf-streaming-updater.mutation"
	require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	graph := fmt.Sprintf("http://streamkit.test/wdqs-consumer-cmd/%d", time.Now().UnixNano())
	client, err := sparql.NewClient(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Update(context.Background(), "DROP SILENT GRAPH <"+graph+">") })
	event := `{"$schema":"/mediawiki/wikibase/entity/rdf_change/2.0.0","meta":{"dt":"2026-11-25T12:00:00Z","id":"m1","domain":"www.wikidata.org","stream":"rdf-streaming-updater.mutation","request_id":"r1"},` +
		`"entity_id":"Q64","rev_id":7,"dt":"2026-11-25T12:00:00Z","sequence":0,"sequence_length":1,"operation":"import",` +
		`"rdf_added_data":{"data":"<http://www.wikidata.org/entity/Q64> <http://schema.org/name> \"Berlin\"@en .\n","mime_type":"text/turtle"}}`
	require.NoError(t, cl.Produce(ctx, topic, kafkatest.Record{Value: []byte(event)}))

	dir, addr, token := t.TempDir(), freeAddr(t), "s3cret"
	t.Setenv("STREAMKIT_SIDECAR_TOKEN", token)
	var out syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-brokers", strings.Join(cl.Addrs(), ","), "-topics", topic, "-group", "wdqs1010",
			"-sparql-url", url, "-dialect", "oxigraph", "-data-graph", graph, "-checkpoint-dir", dir,
			"-checkpoint-interval", "200ms", "-sidecar-addr", addr}, &out)
	}()
	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	require.NoError(t, cl.WaitFor(ctx, "consumer ready with the record applied", func(ctx context.Context) (bool, string, error) {
		select {
		case c := <-code:
			return false, "", fmt.Errorf("exited with %d: %s", c, out.String())
		default:
		}
		ok, err := client.Ask(ctx, "ASK { GRAPH <"+graph+"> { <http://www.wikidata.org/entity/Q64> ?p ?o } }")
		if err != nil {
			return false, "", err
		}
		h, r := get("/healthz"), get("/readyz")
		return ok && h == http.StatusOK && r == http.StatusOK, fmt.Sprintf("applied %v, healthz %d, readyz %d", ok, h, r), nil
	}))

	post := func(tok string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/stop?savepoint=before-upgrade", nil)
		require.NoError(t, err)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, post("wrong"))
	assert.Equal(t, http.StatusOK, post(token))
	select {
	case c := <-code:
		require.Equal(t, 0, c, out.String())
	case <-ctx.Done():
		t.Fatal("the command did not exit after POST /stop")
	}
	ck, err := checkpoint.NewCheckpointer(checkpoint.NewFileStore(dir), "wdqs-consumer.task-0")
	require.NoError(t, err)
	m, err := ck.ReadSavepoint(ctx, "before-upgrade")
	require.NoError(t, err)
	assert.Equal(t, int64(1), m.Positions[topic+"/0"])
}

func TestParseStoreOptions(t *testing.T) {
	o, err := parse(strings.Fields("-brokers b -topics t -sparql-url http://127.0.0.1:1/sparql -checkpoint-dir d -orphan-cleanup -start latest"), io.Discard)
	require.NoError(t, err)
	assert.True(t, o.cfg.OrphanCleanup)
	require.NotNil(t, o.cfg.Start)
	o, err = parse(strings.Fields("-brokers b -topics t -sparql-url http://127.0.0.1:1/sparql -checkpoint-dir d"), io.Discard)
	require.NoError(t, err)
	assert.False(t, o.cfg.OrphanCleanup, "off by default, as in WDQS")
	assert.Nil(t, o.cfg.Start, "earliest: the source's default")
}
