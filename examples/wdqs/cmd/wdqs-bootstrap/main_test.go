package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

func TestUsage(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	assert.Equal(t, 0, run(ctx, []string{"-h"}, nil, &out))
	assert.Contains(t, out.String(), "-savepoint")
	for args, msg := range map[string]string{
		"-savepoint s -checkpoint-dir d":                                                                  "-csv is required",
		"-csv f -checkpoint-dir d":                                                                        "-savepoint is required",
		"-csv f -savepoint s":                                                                             "a checkpoint store is required",
		"-csv f -savepoint s -checkpoint-dir d -swift-auth-url u":                                         "exclusive",
		"-csv f -savepoint s -checkpoint-dir d -tasks 0":                                                  "-tasks",
		"-csv f -savepoint s -checkpoint-dir d -position t/0":                                             "topic/partition=offset",
		"-csv f -savepoint s -checkpoint-dir d -position t/x=1":                                           "partition",
		"-csv f -savepoint s -checkpoint-dir d -position t/0=-1":                                          "offset",
		"-csv f -savepoint s -checkpoint-dir d -position t/1=5":                                           "no task",
		"-csv /nonexistent/f -savepoint s -checkpoint-dir d":                                              "no such file",
		"-csv f -savepoint s -checkpoint-dir d extra":                                                     "unexpected arguments",
		"-csv testdata/bootstrap_revisions.csv -savepoint s -checkpoint-dir " + t.TempDir() + " -job a/b": "job",
	} {
		out.Reset()
		assert.Equal(t, 2, run(ctx, strings.Fields(args), nil, &out), args)
		assert.Contains(t, out.String(), msg, args)
	}
}

// restore reads task n of the savepoint back into the updater's tables.
func restore(t *testing.T, store checkpoint.Store, job, savepoint string, n int) (*checkpoint.EntityTable, *checkpoint.Manifest) {
	t.Helper()
	tables, state, err := updaterTables(DefaultTable, DefaultTableVersion, DefaultReorderTable)
	require.NoError(t, err)
	ck, err := checkpoint.NewCheckpointer(store, streamkit.TaskNamespace(job, n))
	require.NoError(t, err)
	m, err := ck.RestoreSavepoint(context.Background(), savepoint, []checkpoint.PartitionState{{Partition: n, Tables: tables}})
	require.NoError(t, err)
	return state, m
}

// TestBootstrapFixture bootstraps the WDQS fixture CSV through the command
// and restores the savepoint into the updater's tables.
func TestBootstrapFixture(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"-csv", "testdata/bootstrap_revisions.csv", "-savepoint", "dump-20261125",
		"-checkpoint-dir", dir, "-position", "eqiad.mediawiki.page_change.v1/0=42"}, nil, &out), out.String())
	assert.Contains(t, out.String(), `3 entities in 1 tasks [3] (table "last-seen-rev")`)
	state, m := restore(t, checkpoint.NewFileStore(dir), updater.DefaultJobName, "dump-20261125", 0)
	assert.Equal(t, 3, state.Len())
	for id, rev := range map[string]int64{"Q1": 2, "Q2": 4, "Q3": 101010} {
		v, ok := state.Get(id)
		assert.True(t, ok, id)
		assert.Equal(t, rev, v, id)
	}
	assert.Equal(t, map[string]int64{"eqiad.mediawiki.page_change.v1/0": 42}, m.Positions)

	// A second bootstrap into the same namespace is refused.
	out.Reset()
	assert.Equal(t, 2, run(context.Background(), []string{"-csv", "testdata/bootstrap_revisions.csv", "-savepoint", "again",
		"-checkpoint-dir", dir}, nil, &out))
	assert.Contains(t, out.String(), "already has checkpoints")
}

// TestBootstrapTasks splits entities over tasks as the repartitioner does.
func TestBootstrapTasks(t *testing.T) {
	store := checkpoint.NewMemoryStore()
	var csv strings.Builder
	csv.WriteString("entity,revision\n")
	ids := []string{"Q1", "Q42", "P31", "L4082", "Q64", "Q513", "M123", "Q2", "Q3", "Q4"}
	for i, id := range ids {
		csv.WriteString(id + "," + strconv.Itoa(i+1) + "\n")
	}
	res, err := Bootstrap(context.Background(), store, strings.NewReader(csv.String()), Options{Job: "wdqs-updater-repartitioned", Savepoint: "sp", Tasks: 3})
	require.NoError(t, err)
	assert.Equal(t, len(ids), res.Entities)
	total := 0
	for n := 0; n < 3; n++ {
		state, _ := restore(t, store, "wdqs-updater-repartitioned", "sp", n)
		assert.Equal(t, res.PerTask[n], state.Len())
		total += state.Len()
		state.Range(func(id string, _ int64) bool {
			assert.Equal(t, int32(n), kafkatest.SaramaHashPartition([]byte(id), 3), id)
			return true
		})
	}
	assert.Equal(t, len(ids), total)
}

func TestBootstrapBadInput(t *testing.T) {
	for csv, msg := range map[string]string{
		"Q1,2\nQ2":                             "line 2: \"Q2\" is not entity,revision",
		"Q1,2\nQ1,3\n":                         "line 2: entity Q1 listed twice",
		"Q1,2,3":                               "line 1",
		"q1,2":                                 "line 1: \"q1\" is not an entity ID",
		"Q1,0":                                 "line 1: revision \"0\" is not a positive integer",
		"Q1,-4":                                "not a positive integer",
		"Q1,x":                                 "not a positive integer",
		"entity,revision\n":                    "no entity",
		"":                                     "no entity",
		"Q1," + strings.Repeat("9", 2_000_000): "line",
	} {
		store := checkpoint.NewMemoryStore()
		_, err := Bootstrap(context.Background(), store, strings.NewReader(csv), Options{Job: "j", Savepoint: "s"})
		require.Error(t, err, csv)
		assert.True(t, errors.Is(err, errInput), "%v", err)
		assert.Contains(t, err.Error(), msg, csv[:min(len(csv), 20)])
		names, err := store.List(context.Background(), "")
		require.NoError(t, err)
		assert.Empty(t, names, "nothing may be written on bad input")
	}
}

// TestBootstrapRestoresInUpdater starts the real updater job from a
// bootstrapped savepoint (so its table check runs against what bootstrap
// wrote) and lets it checkpoint: the checkpoint it writes after the restore
// holds the bootstrapped revisions, which proves the updater loaded them.
func TestBootstrapRestoresInUpdater(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store := checkpoint.NewMemoryStore()
	_, err := Bootstrap(ctx, store, strings.NewReader("Q1,2\nQ2,4\nQ3,101010\n"), Options{Job: updater.DefaultJobName, Savepoint: "dump"})
	require.NoError(t, err)

	cl := kafkatest.NewCluster(t)
	for _, topic := range []string{"in", "out"} {
		require.NoError(t, cl.CreateTopic(ctx, topic, 1))
	}
	// One event of another wiki: the updater reads and filters it, so its
	// task has something to checkpoint.
	ev, err := json.Marshal(map[string]any{
		"$schema": "/mediawiki/page/change/1.2.0", "page_change_kind": "edit", "dt": "2026-11-25T12:00:00Z",
		"meta":     map[string]any{"domain": "elsewhere.org", "dt": "2026-11-25T12:00:00Z", "stream": "mediawiki.page_change.v1", "request_id": "r1"},
		"page":     map[string]any{"page_id": 1, "page_title": "Q1", "namespace_id": 0},
		"revision": map[string]any{"rev_id": 3, "content_slots": map[string]any{"main": map[string]any{"content_model": "wikibase-item"}}},
	})
	require.NoError(t, err)
	require.NoError(t, cl.Produce(ctx, "in", kafkatest.Record{Value: ev}))
	job, err := updater.NewJob(updater.Config{Brokers: cl.Addrs(), Topics: []string{"in"}, Sarama: cl.SaramaConfig(),
		Filter: updater.Filter{Hostname: "www.wikidata.org", EntityNamespaces: []int{0}}, EntityDataURL: "http://127.0.0.1:1" + updater.EntityDataPath,
		OutputTopic: "out", CheckpointStore: store, CheckpointInterval: 100 * time.Millisecond, RestoreFromSavepoint: "dump",
		Logger: quiet()})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	ck, err := checkpoint.NewCheckpointer(store, updater.DefaultJobName+".task-0")
	require.NoError(t, err)
	var runErr error
	ended := false
	require.NoError(t, cl.WaitFor(ctx, "the updater's own checkpoint", func(ctx context.Context) (bool, string, error) {
		select {
		case runErr = <-done:
			ended = true
			return true, "", nil // WaitFor would only retry an error
		default:
		}
		ids, err := ck.Checkpoints(ctx)
		return len(ids) >= 2, fmt.Sprint(ids), err
	}))
	require.False(t, ended, "the updater ended: %v", runErr)
	require.NoError(t, job.Stop(ctx))
	require.NoError(t, <-done)

	tables, state, err := updaterTables(DefaultTable, DefaultTableVersion, DefaultReorderTable)
	require.NoError(t, err)
	reader, err := checkpoint.NewCheckpointer(store, updater.DefaultJobName+".task-0")
	require.NoError(t, err)
	m, err := reader.RestoreLatest(ctx, []checkpoint.PartitionState{{Partition: 0, Tables: tables}})
	require.NoError(t, err)
	assert.Greater(t, m.ID, uint64(1))
	v, ok := state.Get("Q3")
	assert.True(t, ok)
	assert.Equal(t, int64(101010), v)
	assert.Equal(t, 3, state.Len())
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
