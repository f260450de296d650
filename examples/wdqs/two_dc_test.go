package wdqs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// Two data centers, active/active, as WDQS runs its updater: MediaWiki writes
// its events to the topics of the DC that served the edit ("eqiad.X" or
// "codfw.X"), MirrorMaker copies each DC's topics to the other, and each DC
// runs one independent job that reads BOTH prefixed topics (co-partitioned:
// partition p of both is task p) and writes its OWN DC's output topic. The two
// jobs share nothing: job name (checkpoint namespace, transactional IDs),
// consumer group, checkpoint store and output topic are per DC, so either can
// be stopped, killed, upgraded or rolled back without the other noticing, and
// there is no fail-over to run. The outputs are not interchangeable offset for
// offset (a consumer cannot move from one DC's output to the other's without a
// re-import), but carry the same content.

// twoDCLatest is the processor of the test's job: per entity (the record
// key) it keeps the last revision (an EntityTable, like the WDQS updater's
// state) and emits "entity@revision" for a newer revision only, so an event
// read twice, or an older revision arriving late from the other DC, emits
// nothing.
type twoDCLatest struct {
	out   streamkit.RecordSender
	last  *checkpoint.EntityTable
	topic string
}

func (p *twoDCLatest) Tables() []checkpoint.StateTable { return []checkpoint.StateTable{p.last} }

func (p *twoDCLatest) Process(ctx context.Context, rec *source.Record) error {
	rev, err := strconv.ParseInt(string(rec.Value), 10, 64)
	if err != nil || rev <= 0 {
		return streamkit.Stage("decode", fmt.Errorf("revision %q: %w", rec.Value, err))
	}
	id := string(rec.Key)
	if last, ok := p.last.Get(id); ok && last >= rev {
		return nil
	}
	if err := p.out.Send(ctx, streamkit.KafkaRecord{Topic: p.topic, Key: rec.Key, Value: []byte(id + "@" + strconv.FormatInt(rev, 10))}); err != nil {
		return err
	}
	p.last.Set(id, rev)
	return nil
}

const (
	twoDCInput  = "mediawiki.revision-create"
	twoDCOutput = "rdf-streaming-updater.mutation"
)

// twoDCJob is the job of one data center.
func twoDCJob(t *testing.T, cl *kafkatest.Cluster, dc string, store checkpoint.Store) *streamkit.Job {
	name := "updater-" + dc
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := streamkit.Input{Brokers: cl.Addrs(), Topics: []string{"eqiad." + twoDCInput, "codfw." + twoDCInput}, Group: name,
		Options: []source.Option{source.WithBaseConfig(cl.SaramaConfig()), source.WithLogger(quiet)}}
	job, err := streamkit.NewJob(name, in, streamkit.KafkaOutputs(streamkit.KafkaOutputConfig{Brokers: cl.Addrs(), Sarama: cl.SaramaConfig()}),
		func(info streamkit.TaskInfo, out streamkit.RecordSender) (streamkit.Processor, error) {
			return &twoDCLatest{out: out, last: checkpoint.NewEntityTable("last-rev", 1), topic: dc + "." + twoDCOutput}, nil
		},
		streamkit.WithCheckpointStore(store), streamkit.WithCheckpointInterval(100*time.Millisecond),
		streamkit.WithRestartBackoff(50*time.Millisecond, time.Second),
		streamkit.WithLogger(quiet))
	require.NoError(t, err)
	return job
}

// twoDCOutputs reads one DC's output as "entity@revision" values.
func twoDCOutputs(t *testing.T, ctx context.Context, cl *kafkatest.Cluster, dc string, n int) []string {
	recs, err := cl.WaitForRecords(ctx, dc+"."+twoDCOutput, n)
	require.NoError(t, err)
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// TestTwoDataCenters runs the jobs of eqiad and codfw side by side over
// edits served first by eqiad, then (after a switchover) by codfw. The
// codfw job is killed (its context cancelled, no drain) while eqiad keeps
// going; eqiad's output is complete meanwhile, and once codfw's job is
// started again both outputs hold the same records, each exactly once.
func TestTwoDataCenters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.NewCluster(t)
	for _, dc := range []string{"eqiad", "codfw"} {
		require.NoError(t, cl.CreateTopic(ctx, dc+"."+twoDCInput, 4))
		require.NoError(t, cl.CreateTopic(ctx, dc+"."+twoDCOutput, 4))
	}
	// edits produces revisions from..to of entities Q1..Q20 into dc's
	// input topic, keyed by entity (so co-partitioned across the DCs).
	var want []string
	edits := func(dc string, from, to int) {
		var recs []kafkatest.Record
		for rev := from; rev <= to; rev++ {
			for e := 1; e <= 20; e++ {
				id := "Q" + strconv.Itoa(e)
				recs = append(recs, kafkatest.Record{Key: []byte(id), Value: []byte(strconv.Itoa(rev))})
				want = append(want, id+"@"+strconv.Itoa(rev))
			}
		}
		require.NoError(t, cl.ProduceKeyed(ctx, dc+"."+twoDCInput, recs...))
	}
	start := func(dc string, store checkpoint.Store) (*streamkit.Job, context.CancelFunc, chan error) {
		jctx, jcancel := context.WithCancel(ctx)
		job := twoDCJob(t, cl, dc, store)
		done := make(chan error, 1)
		go func() { done <- job.Run(jctx) }()
		return job, jcancel, done
	}
	eqiadStore, codfwStore := checkpoint.NewMemoryStore(), checkpoint.NewMemoryStore()
	eqiad, _, eqiadDone := start("eqiad", eqiadStore)
	_, killCodfw, codfwDone := start("codfw", codfwStore)

	edits("eqiad", 1, 3)
	twoDCOutputs(t, ctx, cl, "eqiad", 60)
	twoDCOutputs(t, ctx, cl, "codfw", 60)
	// A stale copy of an old eqiad event shows up late in codfw's topic
	// (a replayed mirror); neither job emits anything for it.
	require.NoError(t, cl.ProduceKeyed(ctx, "codfw."+twoDCInput, kafkatest.Record{Key: []byte("Q7"), Value: []byte("2")}))

	// codfw's job dies abruptly; the switchover moves edits to codfw.
	killCodfw()
	require.ErrorIs(t, <-codfwDone, context.Canceled)
	edits("codfw", 4, 6)
	// eqiad's job is unaffected: it reads codfw's topic and finishes.
	twoDCOutputs(t, ctx, cl, "eqiad", len(want))

	// codfw's job comes back, resumes from its commit point, and catches up.
	codfw, _, codfwDone := start("codfw", codfwStore)
	twoDCOutputs(t, ctx, cl, "codfw", len(want))
	require.NoError(t, eqiad.Stop(ctx))
	require.NoError(t, codfw.Stop(ctx))
	require.NoError(t, <-eqiadDone)
	require.NoError(t, <-codfwDone)

	for _, dc := range []string{"eqiad", "codfw"} {
		got, err := cl.ReadCommitted(ctx, dc+"."+twoDCOutput)
		require.NoError(t, err)
		values := make([]string, len(got))
		perKey := map[string][]string{}
		for i, r := range got {
			values[i] = string(r.Value)
			perKey[string(r.Key)] = append(perKey[string(r.Key)], string(r.Value))
		}
		assert.ElementsMatch(t, want, values, "%s: every edit exactly once", dc)
		for e := 1; e <= 20; e++ {
			id := "Q" + strconv.Itoa(e)
			var revs []string
			for rev := 1; rev <= 6; rev++ {
				revs = append(revs, id+"@"+strconv.Itoa(rev))
			}
			assert.Equal(t, revs, perKey[id], "%s: %s in revision order", dc, id)
		}
	}
	// The jobs share nothing: each committed only its own group and its own
	// checkpoint namespaces.
	for dc, store := range map[string]checkpoint.Store{"eqiad": eqiadStore, "codfw": codfwStore} {
		offsets, err := cl.CommittedOffsets(ctx, "updater-"+dc)
		require.NoError(t, err)
		assert.Len(t, offsets, 8, dc) // 4 partitions of both input topics
		objs, err := store.List(ctx, "")
		require.NoError(t, err)
		require.NotEmpty(t, objs)
		for _, o := range objs {
			assert.Regexp(t, `^updater-`+dc+`\.`, o.Name)
		}
	}
}
