package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func TestUsage(t *testing.T) {
	// CI exports the Swift test credentials; this test checks what happens without them.
	t.Setenv("STREAMKIT_SWIFT_KEY", "")
	t.Setenv("STREAMKIT_SWIFT_USER", "")
	ctx := context.Background()
	var out bytes.Buffer
	assert.Equal(t, 0, run(ctx, []string{"-h"}, &out))
	assert.Contains(t, out.String(), "-reorder-window")
	assert.Contains(t, out.String(), "-entitydata-url")

	for args, msg := range map[string]string{
		"-brokers b -topics t -output-topic o":                                        "a checkpoint store is required",
		"-checkpoint-dir d -swift-auth-url u":                                         "exclusive",
		"-checkpoint-dir d -entity-namespaces 0,x":                                    "-entity-namespaces",
		"-checkpoint-dir d -uris-scheme foo":                                          "-uris-scheme",
		"-checkpoint-dir d -start yesterday":                                          "-start",
		"-checkpoint-dir d -brokers b -topics t":                                      "output topic is required",
		"-checkpoint-dir d -brokers b -topics t -output-topic o -entitydata-url x":    "not an http(s) URL",
		"-checkpoint-dir d extra":                                                     "unexpected arguments",
		"-swift-auth-url http://swift/auth -swift-user u":                             "STREAMKIT_SWIFT_KEY",
		"-checkpoint-dir d -subgraph-definitions /nonexistent.yaml":                   "-subgraph-definitions: updater: read subgraph definitions",
		"-checkpoint-dir d -subgraph-topics a=b,c":                                    `-subgraph-topics: "c" is not stream=topic`,
		"-checkpoint-dir d -subgraph-topics a=b,a=c":                                  `stream "a" given twice`,
		"-checkpoint-dir d -brokers b -topics t -output-topic o -subgraph-topics a=b": "subgraph topics without subgraph definitions",
		"-checkpoint-dir d -brokers b -topics t -output-topic o -subgraph-definitions ../../updater/testdata/subgraphs/wdqs-subgraph-definitions-v2.yaml -subgraph-topics rdf-streaming-updater.mutation-main=m": `no topic for stream "rdf-streaming-updater.mutation-scholarly" of subgraph "scholarly_articles"`,
	} {
		out.Reset()
		assert.Equal(t, 2, run(ctx, strings.Fields(args), &out), args)
		assert.Contains(t, out.String(), msg, args)
	}
}

// TestRunStopsWithSavepoint runs the command against an in-process Kafka
// cluster until an import is out, then cancels its context as SIGTERM
// would: it must drain, take the savepoint and exit 0.
func TestRunStopsWithSavepoint(t *testing.T) {
	dir := t.TempDir()
	runStopsWithSavepoint(t, []string{"-checkpoint-dir", dir}, checkpoint.NewFileStore(dir))
}

// TestRunStopsWithSavepointSwift is the same with the checkpoints in a real
// Swift (STREAMKIT_SWIFT_AUTH_URL, _USER, _KEY; scripts/swift-saio.sh).
func TestRunStopsWithSavepointSwift(t *testing.T) {
	conn := checkpointtest.RealSwiftConnection(t)
	container := checkpointtest.TempContainer(t, conn)
	t.Setenv(checkpointtest.EnvSwiftKey, conn.ApiKey)
	runStopsWithSavepoint(t, []string{"-swift-auth-url", conn.AuthUrl, "-swift-user", conn.UserName, "-swift-container", container},
		checkpoint.NewSwiftStore(conn, container))
}

func runStopsWithSavepoint(t *testing.T, storeArgs []string, store checkpoint.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q42, err := os.ReadFile("../../updater/testdata/entities/Q42.ttl")
	require.NoError(t, err)
	srv := httptest.NewServer(updater.EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		return q42, id == "Q42" && rev == 1997465481
	}))
	defer srv.Close()

	cl := kafkatest.NewCluster(t)
	for _, topic := range []string{"in", "out"} {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	event := func(title string, rev int64, dt time.Time, domain string) kafkatest.Record {
		b, err := json.Marshal(map[string]any{
			"$schema": "/mediawiki/page/change/1.2.0", "page_change_kind": "create", "dt": dt.Format(time.RFC3339),
			"meta":     map[string]any{"domain": domain, "dt": dt.Format(time.RFC3339), "stream": "mediawiki.page_change.v1", "request_id": "r1"},
			"page":     map[string]any{"page_id": 1, "page_title": title, "namespace_id": 0},
			"revision": map[string]any{"rev_id": rev, "content_slots": map[string]any{"main": map[string]any{"content_model": "wikibase-item"}}},
		})
		require.NoError(t, err)
		return kafkatest.Record{Value: b}
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, cl.Produce(ctx, "in", event("Q42", 1997465481, t0, "www.wikidata.org"), event("Q1", 1, t0.Add(time.Hour), "elsewhere.org")))

	args := append([]string{
		"-brokers", strings.Join(cl.Addrs(), ","), "-topics", "in", "-output-topic", "out",
		"-entitydata-url", srv.URL + updater.EntityDataPath,
		"-reorder-window", "1s", "-max-lateness", "1s", "-checkpoint-interval", "200ms",
		"-lapsed-topic", "", "-inconsistency-topic", "", "-fetch-failure-topic", "",
		"-stop-savepoint", "before-upgrade",
	}, storeArgs...)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var logs bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- run(runCtx, args, &logs) }()

	recs, err := cl.WaitForRecords(ctx, "out", 1)
	require.NoError(t, err)
	ev, err := rdfdiff.DecodeEvent(recs[0].Value)
	require.NoError(t, err)
	assert.Equal(t, "Q42", ev.EntityID)
	assert.Equal(t, rdfdiff.OpImport, ev.Operation)

	stop() // SIGTERM
	select {
	case c := <-code:
		require.Equal(t, 0, c, logs.String())
	case <-ctx.Done():
		t.Fatal("run did not stop")
	}
	assert.Contains(t, logs.String(), "savepoint taken")
	cp, err := checkpoint.NewCheckpointer(store, updater.DefaultJobName+".task-0")
	require.NoError(t, err)
	sps, err := cp.Savepoints(ctx)
	require.NoError(t, err)
	require.Len(t, sps, 1)
	assert.Equal(t, "before-upgrade", sps[0].Name)
}

// -validate-input turns input validation on; it is off by default.
func TestValidateInputFlag(t *testing.T) {
	base := []string{"-checkpoint-dir", t.TempDir(), "-brokers", "b", "-topics", "t", "-output-topic", "o"}
	var out bytes.Buffer
	o, err := parse(base, &out)
	require.NoError(t, err, out.String())
	assert.False(t, o.cfg.ValidateInput)
	o, err = parse(append(base, "-validate-input"), &out)
	require.NoError(t, err, out.String())
	assert.True(t, o.cfg.ValidateInput)
	assert.Equal(t, 0, run(context.Background(), []string{"-h"}, &out))
	assert.Contains(t, out.String(), "-validate-input")
}
