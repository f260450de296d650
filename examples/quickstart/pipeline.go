package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/ncw/swift/v2"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/internal/cli"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/consumer"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sidecar"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/graph"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// The topics, as WDQS names them in eqiad (with a per-run prefix on a real
// cluster).
const (
	topicInput        = "eqiad.mediawiki.page_change.v1"
	topicMutation     = "eqiad.rdf-streaming-updater.mutation"
	topicLapsed       = "eqiad.rdf-streaming-updater.lapsed-action"
	topicInconsistent = "eqiad.rdf-streaming-updater.state-inconsistency"
	topicFetchFailure = "eqiad.rdf-streaming-updater.fetch-failure"
	topicUpdaterDLQ   = "eqiad.rdf-streaming-updater.dlq"
	topicConsumerDLQ  = "eqiad.wdqs-consumer.dlq"
)

// quickstart is one run.
type quickstart struct {
	o              *options
	stdout, stderr io.Writer
	start          time.Time

	prefix                  string // topic prefix ("" on the embedded broker)
	updaterJob, consumerJob string
	brokers                 []string
	// newSarama returns a new client configuration: every client gets its
	// own, since the source takes ownership of the one it is given.
	newSarama                        func() *sarama.Config
	stateDir                         string
	store                            checkpoint.Store
	storeDesc, kafkaDesc, entityDesc string
	entityRequests                   atomic.Int64

	metrics                         updater.Metrics
	graph                           *graph.Graph
	consCommitted                   atomic.Int64 // records of the consumer's committed checkpoints
	updDeadLetters, consDeadLetters atomic.Int64
	produced, filteredProduced      atomic.Int64
	mu                              sync.Mutex
	latencies                       []time.Duration
	deadStages                      map[string]int
}

func (q *quickstart) topic(name string) string { return q.prefix + name }

// run runs the pipeline and prints the progress and the summary.
func (q *quickstart) run(ctx context.Context) error {
	o := q.o
	q.start = time.Now()
	q.deadStages = map[string]int{}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	runID := newRunID()
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log, err := cli.NewLogger(o.logFormat, "quickstart", q.stderr, level)
	if err != nil {
		return err
	}

	// Kafka.
	if o.brokers == "" {
		cl, err := kafkatest.Start()
		if err != nil {
			return fmt.Errorf("embedded Kafka: %w", err)
		}
		defer cl.Close()
		q.brokers, q.newSarama = cl.Addrs(), func() *sarama.Config { return cl.SaramaConfig() }
		q.kafkaDesc = "embedded broker " + strings.Join(q.brokers, ",")
		q.updaterJob, q.consumerJob = "quickstart-updater", "quickstart-consumer"
	} else {
		q.brokers = splitList(o.brokers)
		q.newSarama = func() *sarama.Config {
			c := sarama.NewConfig()
			c.Version = sarama.V2_5_0_0
			c.Producer.Return.Successes = true
			c.Producer.RequiredAcks = sarama.WaitForAll
			c.Consumer.IsolationLevel = sarama.ReadCommitted
			return c
		}
		q.prefix = "quickstart-" + runID + "."
		q.kafkaDesc = strings.Join(q.brokers, ",") + " (topics " + q.prefix + "*)"
		q.updaterJob, q.consumerJob = "quickstart-"+runID+"-updater", "quickstart-"+runID+"-consumer"
	}
	if err := q.createTopics(ctx); err != nil {
		return err
	}

	// Checkpoints (and the graph dump) live in the state directory.
	q.stateDir = o.state
	if q.stateDir == "" {
		d, err := os.MkdirTemp("", "streamkit-quickstart-")
		if err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		q.stateDir = d
	} else if err := os.MkdirAll(q.stateDir, 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if o.swiftAuthURL != "" {
		conn := &swift.Connection{UserName: o.swiftUser, ApiKey: o.swiftKey, AuthUrl: o.swiftAuthURL, AuthVersion: 1, Timeout: time.Minute}
		q.store = checkpoint.NewSwiftStore(conn, o.swiftContainer)
		q.storeDesc = "Swift " + o.swiftAuthURL + " container " + o.swiftContainer
	} else {
		// A directory per run: job names repeat between runs on the
		// embedded broker, whose commit points start empty every time.
		dir := filepath.Join(q.stateDir, "checkpoints", runID)
		q.store = checkpoint.NewFileStore(dir)
		q.storeDesc = dir
	}

	// Special:EntityData.
	entityURL := o.entityData
	if entityURL == "" {
		srv, url, err := q.serveEntityData()
		if err != nil {
			return err
		}
		defer srv.Close()
		entityURL = url
		q.entityDesc = "local server over the fixtures, " + url
	} else {
		q.entityDesc = entityURL
	}

	// The jobs.
	upd, err := updater.NewJob(updater.Config{
		JobName: q.updaterJob, Brokers: q.brokers, Topics: []string{q.topic(topicInput)}, Sarama: q.newSarama(),
		Filter: updater.Filter{
			Hostname:         Domain,
			EntityNamespaces: []int{0, 120, 146},
			ContentModels:    []string{"wikibase-item", "wikibase-property", "wikibase-lexeme"},
		},
		EntityDataURL: entityURL,
		ReorderWindow: o.reorderWindow, MaxLateness: o.maxLateness, IdleTimeout: 2 * o.reorderWindow,
		FetchAttempts: 2, FetchRetryDelay: 100 * time.Millisecond,
		OutputTopic: q.topic(topicMutation), LapsedActionTopic: q.topic(topicLapsed),
		StateInconsistencyTopic: q.topic(topicInconsistent), FetchFailureTopic: q.topic(topicFetchFailure),
		DeadLetterTopic: q.topic(topicUpdaterDLQ), EmitterID: "quickstart",
		CheckpointStore: q.store, CheckpointInterval: o.checkpointInterval,
		Logger: log, Metrics: &q.metrics,
		JobOptions: []streamkit.Option{
			streamkit.WithOnDeadLetter(func(f streamkit.Failure) { q.deadLetter("updater", f, &q.updDeadLetters) }),
		},
	})
	if err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	ccfg := consumer.Config{
		JobName: q.consumerJob, Brokers: q.brokers, Topics: []string{q.topic(topicMutation)}, Group: q.consumerJob,
		Sarama: q.newSarama(), DeadLetterTopic: q.topic(topicConsumerDLQ),
		CheckpointStore: q.store, CheckpointInterval: o.checkpointInterval, Logger: log,
		JobOptions: []streamkit.Option{
			streamkit.WithOnCheckpoint(q.consumerCheckpoint),
			streamkit.WithOnDeadLetter(func(f streamkit.Failure) { q.deadLetter("consumer", f, &q.consDeadLetters) }),
		},
	}
	if o.sparqlURL != "" {
		d, err := consumer.ParseDialect(o.dialect)
		if err != nil {
			return fmt.Errorf("-dialect: %w", err)
		}
		ccfg.StoreURL, ccfg.Dialect, ccfg.DataGraph = o.sparqlURL, d, o.dataGraph
	} else {
		q.graph = graph.NewGraph()
		ccfg.Graph = q.graph
		ccfg.LagMarker = "-" // the graph holds the entities and nothing else
	}
	var obs *sidecar.Observer
	if o.sidecarAddr != "" {
		if obs, err = sidecar.NewObserver(); err != nil {
			return err
		}
		ccfg.JobOptions = append(ccfg.JobOptions, obs.JobOptions()...)
	}
	cons, err := consumer.New(ccfg)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}

	runCtx, runCancel := context.WithCancel(context.Background())
	defer runCancel()
	updDone, consDone := make(chan error, 1), make(chan error, 1)
	go func() { updDone <- upd.Run(runCtx) }()
	go func() { consDone <- cons.Run(runCtx) }()
	var scDone chan error
	if o.sidecarAddr != "" {
		sps, err := sidecar.NewStoreSavepoints(q.store, q.consumerJob)
		if err != nil {
			return err
		}
		sc, err := sidecar.New(cons.Job(), sidecar.WithAddr(o.sidecarAddr), sidecar.WithObserver(obs),
			sidecar.WithSavepoints(sps), sidecar.WithLogger(log))
		if err != nil {
			return fmt.Errorf("sidecar: %w", err)
		}
		scDone = make(chan error, 1)
		scCtx, scCancel := context.WithCancel(context.Background())
		defer func() { scCancel(); <-scDone }()
		go func() { scDone <- sc.Run(scCtx) }()
	}

	fmt.Fprintf(q.stdout, "quickstart: Kafka %s\n", q.kafkaDesc)
	fmt.Fprintf(q.stdout, "quickstart: checkpoints in %s\n", q.storeDesc)
	fmt.Fprintf(q.stdout, "quickstart: Special:EntityData from %s\n", q.entityDesc)
	if o.sidecarAddr != "" {
		fmt.Fprintf(q.stdout, "quickstart: consumer sidecar on http://%s/\n", o.sidecarAddr)
	}
	fmt.Fprintf(q.stdout, "quickstart: replaying %d page_change events into %s\n", len(script), q.topic(topicInput))

	prodDone := make(chan error, 1)
	go func() { prodDone <- q.produce(ctx, upd, runID) }()

	// Wait for the stream to go through, printing progress every second.
	finished := make(chan error, 1)
	go func() { finished <- q.waitThrough(ctx, upd, cons.Job(), prodDone) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var runErr error
wait:
	for {
		select {
		case <-tick.C:
			q.progress(upd, cons.Job())
		case runErr = <-finished:
			break wait
		case err := <-updDone:
			runErr = fmt.Errorf("updater stopped: %w", orStopped(err))
			updDone <- err
			break wait
		case err := <-consDone:
			runErr = fmt.Errorf("consumer stopped: %w", orStopped(err))
			consDone <- err
			break wait
		case err := <-scDone:
			runErr = fmt.Errorf("sidecar: %w", orStopped(err))
			scDone <- err
			break wait
		}
	}
	q.progress(upd, cons.Job())

	// Drain both jobs: each commits a last checkpoint.
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	for _, s := range []struct {
		name string
		job  *streamkit.Job
		done chan error
	}{{"updater", upd, updDone}, {"consumer", cons.Job(), consDone}} {
		if err := s.job.Stop(stopCtx); err != nil && !errors.Is(err, streamkit.ErrNotRunning) {
			runErr = errors.Join(runErr, fmt.Errorf("stopping the %s: %w", s.name, err))
		}
		select {
		case err := <-s.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				runErr = errors.Join(runErr, fmt.Errorf("%s: %w", s.name, err))
			}
		case <-stopCtx.Done():
			runCancel()
			runErr = errors.Join(runErr, fmt.Errorf("%s did not stop: %w", s.name, <-s.done))
		}
	}
	return errors.Join(runErr, q.summary(upd, cons, runErr == nil))
}

func orStopped(err error) error {
	if err == nil {
		return errors.New("stopped")
	}
	return err
}

// newRunID returns a short unique ID of the run (UTC time and randomness).
func newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// createTopics creates the topics of the run, one partition each (as the
// MediaWiki topics have); existing topics are kept.
func (q *quickstart) createTopics(ctx context.Context) error {
	admin, err := sarama.NewClusterAdmin(q.brokers, q.newSarama())
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	for _, t := range []string{topicInput, topicMutation, topicLapsed, topicInconsistent, topicFetchFailure, topicUpdaterDLQ, topicConsumerDLQ} {
		err := admin.CreateTopic(q.topic(t), &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: -1}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", q.topic(t), err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// serveEntityData serves the fixture revisions on a loopback port and
// returns the server and its EntityData prefix.
func (q *quickstart) serveEntityData() (*http.Server, string, error) {
	revs, err := entityRevisions()
	if err != nil {
		return nil, "", err
	}
	h := updater.EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		q.entityRequests.Add(1)
		b, ok := revs[revKey(id, rev)]
		return b, ok
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("entity data server: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String() + updater.EntityDataPath, nil
}

// consumerCheckpoint is the consumer's checkpoint hook: it counts the
// records committed and keeps the edit latency of every record committed (commit time minus
// the edit time the rdf_change event carries).
func (q *quickstart) consumerCheckpoint(ev streamkit.CheckpointEvent) {
	if ev.Err != nil {
		return
	}
	q.consCommitted.Add(ev.Records)
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, t := range ev.EventTimes {
		if !t.IsZero() {
			q.latencies = append(q.latencies, max(ev.Committed.Sub(t), 0))
		}
	}
}

func (q *quickstart) deadLetter(job string, f streamkit.Failure, n *atomic.Int64) {
	n.Add(1)
	q.mu.Lock()
	q.deadStages[job+":"+f.Stage]++
	q.mu.Unlock()
}

// produce replays the script, one event every -pace, then events of another
// namespace until the updater's watermark has passed the last edit by the
// re-order window, so that nothing stays buffered.
func (q *quickstart) produce(ctx context.Context, upd *streamkit.Job, runID string) error {
	p, err := sarama.NewSyncProducer(q.brokers, q.newSarama())
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer p.Close()
	send := func(b []byte, dt time.Time) error {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: q.topic(topicInput), Value: sarama.ByteEncoder(b), Timestamp: dt})
		if err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		q.produced.Add(1)
		return nil
	}
	var last time.Time
	for i, s := range script {
		dt := time.Now()
		b, err := s.event(dt, runID, i)
		if err != nil {
			return err
		}
		if err := send(b, dt); err != nil {
			return err
		}
		if s.ns == 2 || strings.HasPrefix(s.template, "item-visibility") {
			q.filteredProduced.Add(1)
		}
		last = dt
		if err := sleep(ctx, q.o.pace); err != nil {
			return err
		}
	}
	release := last.Add(q.o.reorderWindow)
	for seq := len(script); ; seq++ {
		if wm := upd.Stats().Watermark; !wm.Before(release) {
			return nil
		}
		dt := time.Now()
		b, err := filler(dt, runID, seq)
		if err != nil {
			return err
		}
		if err := send(b, dt); err != nil {
			return err
		}
		q.filteredProduced.Add(1)
		if err := sleep(ctx, q.o.pace); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitThrough returns once the stream has gone through: the producer is
// done, the updater's commit point (its group's committed offset) is at the
// end of the input, and the consumer's commit point is at the end of the
// updater's output.
func (q *quickstart) waitThrough(ctx context.Context, upd, cons *streamkit.Job, prodDone <-chan error) error {
	select {
	case err := <-prodDone:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return interrupted(ctx, "the stream was replayed")
	}
	end := q.produced.Load()
	admin, err := sarama.NewClusterAdmin(q.brokers, q.newSarama())
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	in := q.topic(topicInput)
	if err := waitUntil(ctx, "the updater to commit the stream", func() (bool, error) {
		res, err := admin.ListConsumerGroupOffsets(upd.Group(), source.Partitions{in: {0}})
		if err != nil {
			return false, nil // the group coordinator may be moving; ask again
		}
		b := res.GetBlock(in, 0)
		return b != nil && b.Err == sarama.ErrNoError && b.Offset >= end, nil
	}); err != nil {
		return err
	}
	// The updater's output is complete: the mutation topic ends here.
	hw, err := q.highWater(q.topic(topicMutation))
	if err != nil {
		return err
	}
	// The last record is followed by its transaction's commit marker,
	// which a consumer never sees: its position ends at hw-1.
	out := source.TopicPartition{Topic: q.topic(topicMutation), Partition: 0}
	return waitUntil(ctx, "the consumer to commit the updater's output", func() (bool, error) {
		if q.graph != nil {
			cp, err := q.graph.Positions(ctx)
			if err != nil || cp == nil {
				return false, err
			}
			off, ok := cp.Positions[out]
			return ok && off >= hw-1, nil
		}
		// A SPARQL store: everything read, and everything read committed.
		s := cons.Stats()
		return s.Positions[out] >= hw-1 && s.Processed == q.consCommitted.Load(), nil
	})
}

// waitUntil polls cond until it holds, fails, or ctx ends.
func waitUntil(ctx context.Context, what string, cond func() (bool, error)) error {
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
			return interrupted(ctx, what)
		}
	}
}

// highWater returns the next offset of partition 0 of topic.
func (q *quickstart) highWater(topic string) (int64, error) {
	c, err := sarama.NewClient(q.brokers, q.newSarama())
	if err != nil {
		return 0, fmt.Errorf("kafka client: %w", err)
	}
	defer c.Close()
	hw, err := c.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		return 0, fmt.Errorf("end of %s: %w", topic, err)
	}
	return hw, nil
}

func lagOf(s streamkit.Stats) int64 {
	var n int64
	for _, l := range s.Lag {
		n += l
	}
	return n
}

// progress prints one line of progress.
func (q *quickstart) progress(upd, cons *streamkit.Job) {
	us, cs := upd.Stats(), cons.Stats()
	m := &q.metrics
	patches := m.Imports.Load() + m.Diffs.Load() + m.Deletes.Load() + m.Reconciles.Load()
	triples := "-"
	if q.graph != nil {
		triples = fmt.Sprint(q.graph.Len())
	}
	fmt.Fprintf(q.stdout, "[%5.1fs] events in %d (taken %d, filtered %d) · patches %d · triples %s · checkpoints %d+%d · lag %d+%d\n",
		time.Since(q.start).Seconds(), q.produced.Load(), m.Events.Load(), m.Filtered.Load(), patches, triples,
		us.Checkpoints, cs.Checkpoints, lagOf(us), lagOf(cs))
}

// percentile returns the p-th percentile (nearest rank) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(p/100*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// summary prints what the run did and writes the graph.
func (q *quickstart) summary(upd *streamkit.Job, cons *consumer.Consumer, complete bool) error {
	w := q.stdout
	m := &q.metrics
	us, cs := upd.Stats(), cons.Job().Stats()
	status := "done"
	if !complete {
		status = "INCOMPLETE"
	}
	fmt.Fprintf(w, "\nquickstart: %s in %.1fs\n", status, time.Since(q.start).Seconds())
	fmt.Fprintf(w, "  events        %d produced: %d taken by the updater, %d filtered out, %d dead-lettered\n",
		q.produced.Load(), m.Events.Load(), m.Filtered.Load(), q.updDeadLetters.Load())
	fmt.Fprintf(w, "  patches       %d imports, %d diffs, %d deletes, %d reconciles in %d rdf_change messages (%d triples)\n",
		m.Imports.Load(), m.Diffs.Load(), m.Deletes.Load(), m.Reconciles.Load(), m.Messages.Load(), m.Triples.Load())
	fmt.Fprintf(w, "  side outputs  %d late, %d inconsistent, %d fetch failures (%d EntityData requests)\n",
		m.Late.Load(), m.Inconsistent.Load(), m.FetchFailures.Load(), q.entityRequests.Load())
	q.mu.Lock()
	lat := slices.Clone(q.latencies)
	stages := make([]string, 0, len(q.deadStages))
	for s, n := range q.deadStages {
		stages = append(stages, fmt.Sprintf("%s ×%d", s, n))
	}
	q.mu.Unlock()
	slices.Sort(lat)
	slices.Sort(stages)
	if len(lat) > 0 {
		fmt.Fprintf(w, "  edit latency  edit → committed in the store over %d messages: p50 %s, p90 %s, p99 %s, max %s\n",
			len(lat), round(percentile(lat, 50)), round(percentile(lat, 90)), round(percentile(lat, 99)), round(lat[len(lat)-1]))
	} else {
		fmt.Fprintf(w, "  edit latency  no message committed\n")
	}
	fmt.Fprintf(w, "  checkpoints   updater %d, consumer %d (failures %d, %d; restarts %d, %d)\n",
		us.Checkpoints, cs.Checkpoints, us.CheckpointFailures, cs.CheckpointFailures, us.Restarts, cs.Restarts)
	dl := "none"
	if len(stages) > 0 {
		dl = strings.Join(stages, ", ")
	}
	fmt.Fprintf(w, "  dead letters  %d (%s) in %s and %s\n", q.updDeadLetters.Load()+q.consDeadLetters.Load(), dl,
		q.topic(topicUpdaterDLQ), q.topic(topicConsumerDLQ))
	if q.graph == nil {
		graph := "the default graph"
		if q.o.dataGraph != "" {
			graph = "<" + q.o.dataGraph + ">"
		}
		fmt.Fprintf(w, "  graph         in %s at %s\n", graph, q.o.sparqlURL)
		return nil
	}
	out := q.o.out
	if out == "" {
		out = filepath.Join(q.stateDir, "graph.nt")
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("graph dump: %w", err)
	}
	if err := q.graph.Dump(f); err != nil {
		f.Close()
		return fmt.Errorf("graph dump: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("graph dump: %w", err)
	}
	fmt.Fprintf(w, "  graph         %d triples, written to %s (sorted N-Triples)\n", q.graph.Len(), out)
	return nil
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// errInterrupted is returned when SIGINT or SIGTERM ends the run early.
var errInterrupted = errors.New("interrupted")

// interrupted says why ctx ended before what happened: a signal
// (errInterrupted) or the -timeout.
func interrupted(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out (-timeout) before %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("%w before %s", errInterrupted, what)
}
