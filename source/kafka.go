package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// Kafka is a Kafka source: one member of a consumer group reading one or
// more topics with sarama. Create it with NewKafka, drive it with Run in
// one goroutine and Poll in another, and stop it with Close.
type Kafka struct {
	brokers []string
	group   string
	topics  []string
	opts    options
	conf    *sarama.Config
	topicOK map[string]bool

	started     atomic.Bool
	taken       atomic.Int64 // records received from sarama
	released    atomic.Int64 // records delivered or dropped
	maxInFlight atomic.Int64
	anyPaused   atomic.Bool // fast path: ConsumeClaim skips the lock
	closed      chan struct{}
	closeMu     sync.Once
	runDone     chan struct{}

	slots chan struct{} // semaphore: records taken from sarama, not yet delivered
	recs  chan item
	ctl   chan *hookCall
	wake  chan struct{} // a resume happened: parked records may be deliverable

	mu       sync.Mutex
	gen      uint64
	assigned map[TopicPartition]*partState
	hooked   []TopicPartition // OnAssigned returned nil, OnRevoked not called yet
	seeks    Positions
	paused   map[TopicPartition]bool
	pauseAll bool
	resumeCh chan struct{} // closed and replaced on every resume
	parked   []parkedRecord
	sgroup   sarama.ConsumerGroup
	combined time.Time
	hookErr  error
	stats    Stats
	errs     errorStreak
	failing  atomic.Bool // fast path of noteHealthy
}

type item struct {
	gen uint64
	msg *sarama.ConsumerMessage
}

type parkedRecord struct {
	gen uint64
	rec Record
}

type partState struct {
	next       int64
	maxEvent   time.Time
	lastActive time.Time
	// highWater reads the partition's high watermark from its sarama
	// claim (updated by every fetch response); nil until the claim starts.
	highWater func() int64
	// listedEnd is the partition's end offset as last listed by the broker
	// while the partition was paused (and not fetched); -1 if never.
	listedEnd int64
}

// Stats are counters of a running source, for metrics and tests.
type Stats struct {
	// Buffered is the number of records in the source's buffer (taken from
	// sarama, not yet returned by Poll, including held-back records of
	// paused partitions); at most the buffer size.
	Buffered int
	// InFlight counts records received from sarama and not yet returned by
	// Poll or dropped: the buffer plus at most one record per partition
	// waiting for room. MaxInFlight is its highest value so far, the
	// measure of backpressure (it stays near the buffer size however large
	// the backlog).
	InFlight, MaxInFlight int64
	// Delivered counts records returned by Poll.
	Delivered int64
	// Late counts delivered records whose event time was already behind
	// their partition's watermark.
	Late int64
	// Dropped counts buffered records discarded because their partition
	// was revoked before delivery (the next owner reads them again).
	Dropped int64
	// Rebalances counts assignments (OnAssigned calls).
	Rebalances int64
	// ConsecutiveErrors counts the consumer errors (failed fetches, failed
	// group joins; sarama retries them and Run rejoins) since the source
	// last received a record or joined its group: while the brokers cannot
	// be reached it grows, and the source is not consuming. An error streak
	// with no new error for ErrorStreakQuiet is over: ConsecutiveErrors is
	// then 0 again even on an idle topic. FailingSince is when the streak's
	// first error came and LastError is its last.
	ConsecutiveErrors int
	FailingSince      time.Time
	LastError         string
}

// ErrorStreakQuiet is how long after its last error an error streak of the
// consumer is over (see Stats.ConsecutiveErrors). While a broker is down
// sarama reports an error at least every few seconds.
const ErrorStreakQuiet = 10 * time.Second

// errorStreak is the consumer's current run of errors.
type errorStreak struct {
	n           int
	first, last time.Time
	err         string
}

// noteError adds err to the error streak.
func (k *Kafka) noteError(err error) {
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.errs.n > 0 && now.Sub(k.errs.last) >= ErrorStreakQuiet {
		k.errs = errorStreak{}
	}
	if k.errs.n == 0 {
		k.errs.first = now
	}
	k.errs.n++
	k.errs.last, k.errs.err = now, err.Error()
	k.failing.Store(true)
}

// noteHealthy ends the error streak: the consumer joined or got records.
func (k *Kafka) noteHealthy() {
	if !k.failing.Swap(false) {
		return
	}
	k.mu.Lock()
	k.errs = errorStreak{}
	k.mu.Unlock()
}

// NewKafka returns a source that reads topics as a member of the consumer
// group, from brokers. It does no I/O: connections are made by Run.
//
// The sarama configuration starts from WithBaseConfig or sarama.NewConfig()
// with read_committed isolation, then WithSaramaConfig functions apply, then
// the source enforces what its protocol needs: automatic offset commits off
// (the commit point belongs to the job runner, see the package
// documentation), consumer errors returned, and an eager rebalance strategy
// (cooperative-sticky is rejected, since the hooks' guarantee relies on every
// member releasing its partitions before any is reassigned).
func NewKafka(brokers []string, group string, topics []string, opts ...Option) (*Kafka, error) {
	o := options{start: StartEarliest(), bufferSize: DefaultBufferSize, idleTimeout: time.Minute}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if len(brokers) == 0 {
		return nil, configError("no brokers")
	}
	if group == "" {
		return nil, configError("empty consumer group")
	}
	if len(topics) == 0 {
		return nil, configError("no topics")
	}
	topicOK := make(map[string]bool, len(topics))
	for _, t := range topics {
		if t == "" {
			return nil, configError("empty topic name")
		}
		if topicOK[t] {
			return nil, configError("topic %q listed twice", t)
		}
		topicOK[t] = true
	}
	if o.bufferSize <= 0 {
		return nil, configError("buffer size %d must be positive", o.bufferSize)
	}
	if o.lateness < 0 || o.idleTimeout < 0 {
		return nil, configError("negative lateness or idle timeout")
	}
	if err := validateStart(o.start, topicOK); err != nil {
		return nil, err
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}

	conf := o.base
	if conf == nil {
		conf = sarama.NewConfig()
	}
	if o.uncommitted {
		conf.Consumer.IsolationLevel = sarama.ReadUncommitted
	} else {
		conf.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	for _, fn := range o.configure {
		fn(conf)
	}
	conf.Consumer.Offsets.AutoCommit.Enable = false
	conf.Consumer.Return.Errors = true
	conf.Consumer.Offsets.Initial = sarama.OffsetOldest
	if o.start.kind == startLatest {
		conf.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	for _, s := range conf.Consumer.Group.Rebalance.GroupStrategies {
		if s != nil && s.Name() == sarama.CooperativeStickyBalanceStrategyName {
			return nil, configError("cooperative-sticky rebalancing is not supported (hooks need eager rebalances)")
		}
	}
	if err := conf.Validate(); err != nil {
		return nil, fmt.Errorf("source: sarama configuration: %w: %w", err, ErrInvalidConfig)
	}

	return &Kafka{
		brokers:  append([]string(nil), brokers...),
		group:    group,
		topics:   append([]string(nil), topics...),
		opts:     o,
		conf:     conf,
		topicOK:  topicOK,
		closed:   make(chan struct{}),
		runDone:  make(chan struct{}),
		slots:    make(chan struct{}, o.bufferSize),
		recs:     make(chan item, o.bufferSize),
		ctl:      make(chan *hookCall),
		wake:     make(chan struct{}, 1),
		assigned: make(map[TopicPartition]*partState),
		seeks:    make(Positions),
		paused:   make(map[TopicPartition]bool),
		resumeCh: make(chan struct{}),
	}, nil
}

func validateStart(p StartPosition, topics map[string]bool) error {
	switch p.kind {
	case startEarliest, startLatest:
		return nil
	case startTimestamp:
		if p.millis < 0 {
			return configError("start timestamp %d ms is negative", p.millis)
		}
		return nil
	case startOffsets:
		for tp, off := range p.offsets {
			if !topics[tp.Topic] {
				return configError("start offset for %s: topic not consumed", tp)
			}
			if off < 0 || tp.Partition < 0 {
				return configError("start offset %d for %s is negative", off, tp)
			}
		}
		if p.otherwise == nil || p.otherwise.kind == startOffsets {
			return configError("start offsets need a non-offsets fallback")
		}
		return validateStart(*p.otherwise, topics)
	}
	return configError("unknown start position")
}

// Run joins the consumer group and consumes until ctx is done or Close is
// called, rejoining after every rebalance. It returns nil on shutdown, a
// *HookError if a hook failed, ErrAlreadyRunning if called twice, and an
// error if the brokers cannot be reached at all; transient consumer errors
// are logged and retried by sarama. Records are delivered by Poll, which
// must be called concurrently (hooks run inside Poll).
func (k *Kafka) Run(ctx context.Context) error {
	if !k.started.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer close(k.runDone)
	select {
	case <-k.closed:
		return ErrClosed
	default:
	}
	client, err := sarama.NewClient(k.brokers, k.conf)
	if err != nil {
		return fmt.Errorf("source: connect to %v: %w", k.brokers, err)
	}
	defer client.Close()
	group, err := sarama.NewConsumerGroupFromClient(k.group, client)
	if err != nil {
		return fmt.Errorf("source: consumer group %q: %w", k.group, err)
	}
	defer group.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("source: admin client: %w", err)
	}
	// admin shares client; closing client (deferred) releases it.

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-k.closed:
			cancel()
		case <-runCtx.Done():
		}
	}()
	go func() {
		for err := range group.Errors() {
			k.opts.logger.Warn("source: consumer error", "group", k.group, "err", err)
			k.noteError(err)
		}
	}()
	k.mu.Lock()
	k.sgroup = group
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.sgroup = nil
		k.mu.Unlock()
	}()

	go k.refreshPausedEnds(runCtx, client)
	h := &handler{k: k, client: client, admin: admin, runCtx: runCtx}
	for {
		err := group.Consume(runCtx, k.topics, h)
		k.mu.Lock()
		hookErr := k.hookErr
		k.mu.Unlock()
		if hookErr != nil {
			return hookErr
		}
		if runCtx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return nil
		}
		if isConfigError(err) {
			// Retrying cannot help: the broker refuses the group settings.
			return fmt.Errorf("%w: group %q: %w", ErrInvalidConfig, k.group, err)
		}
		if err != nil {
			k.opts.logger.Warn("source: consume failed, rejoining", "group", k.group, "err", err)
			k.noteError(err)
			select {
			case <-runCtx.Done():
				return nil
			case <-time.After(k.conf.Consumer.Group.Rebalance.Retry.Backoff):
			}
		}
	}
}

// Close stops the source and waits for Run to return. Buffered records are
// discarded, and OnRevoked is not called: a runner that shuts down cleanly
// stops polling and commits its own positions first. Close is idempotent.
func (k *Kafka) Close() error {
	k.closeMu.Do(func() { close(k.closed) })
	if k.started.Load() {
		<-k.runDone
	}
	return nil
}

// Poll returns the next records, at most max (max <= 0 means the buffer
// size), blocking until at least one is available, a hook ran, ctx is done
// (ctx.Err()) or the source is closed (ErrClosed). It may return an empty
// batch after running a hook. Records of one partition come in offset
// order. Poll must not be called concurrently with itself.
func (k *Kafka) Poll(ctx context.Context, max int) ([]Record, error) {
	if max <= 0 {
		max = k.opts.bufferSize
	}
	for {
		if out := k.takeParked(max); len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-k.closed:
			return nil, ErrClosed
		case <-k.runDone:
			return nil, ErrClosed
		case h := <-k.ctl:
			k.runHook(ctx, h)
			return []Record{}, nil
		case <-k.wake:
			continue
		case it := <-k.recs:
			if out := k.acceptBatch(it, max); len(out) > 0 {
				return out, nil
			}
		}
	}
}

// acceptBatch takes first and whatever else is buffered, up to max records,
// under one lock.
func (k *Kafka) acceptBatch(first item, max int) []Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Record, 0, min(max, len(k.recs)+1))
	out = k.acceptLocked(first, out)
	for len(out) < max {
		select {
		case it := <-k.recs:
			out = k.acceptLocked(it, out)
		default:
			return out
		}
	}
	return out
}

// accept delivers, parks or drops one buffered record.
func (k *Kafka) acceptLocked(it item, out []Record) []Record {
	tp := TopicPartition{Topic: it.msg.Topic, Partition: it.msg.Partition}
	st := k.assigned[tp]
	if it.gen != k.gen || st == nil {
		k.releaseLocked()
		k.stats.Dropped++
		return out
	}
	rec := k.convert(it.msg)
	if k.pausedLocked(tp) || k.hasParkedLocked(tp) {
		k.parked = append(k.parked, parkedRecord{gen: it.gen, rec: rec})
		return out
	}
	k.releaseLocked()
	return append(out, k.deliverLocked(st, rec))
}

func (k *Kafka) releaseLocked() {
	k.released.Add(1) // before the slot is freed, so InFlight never over-counts
	<-k.slots
}

func (k *Kafka) hasParkedLocked(tp TopicPartition) bool {
	for i := range k.parked {
		if k.parked[i].rec.Topic == tp.Topic && k.parked[i].rec.Partition == tp.Partition {
			return true
		}
	}
	return false
}

// takeParked delivers held-back records of partitions no longer paused.
func (k *Kafka) takeParked(max int) []Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.parked) == 0 {
		return nil
	}
	var out []Record
	keep := k.parked[:0]
	blocked := map[TopicPartition]bool{}
	for _, p := range k.parked {
		tp := p.rec.TopicPartition()
		st := k.assigned[tp]
		switch {
		case p.gen != k.gen || st == nil:
			k.releaseLocked()
			k.stats.Dropped++
		case len(out) >= max || blocked[tp] || k.pausedLocked(tp):
			blocked[tp] = true
			keep = append(keep, p)
		default:
			k.releaseLocked()
			out = append(out, k.deliverLocked(st, p.rec))
		}
	}
	clear(k.parked[len(keep):])
	k.parked = keep
	return out
}

func (k *Kafka) convert(m *sarama.ConsumerMessage) Record {
	r := Record{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Timestamp: m.Timestamp,
		Key:       m.Key,
		Value:     m.Value,
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]Header, 0, len(m.Headers))
		for _, h := range m.Headers {
			if h != nil {
				r.Headers = append(r.Headers, Header{Key: h.Key, Value: h.Value})
			}
		}
	}
	return r
}

// deliverLocked advances the partition's position and watermark.
func (k *Kafka) deliverLocked(st *partState, r Record) Record {
	if k.opts.eventTime != nil {
		r.EventTime = extractEventTime(k.opts.eventTime, r)
	} else {
		r.EventTime = r.Timestamp
	}
	if !r.EventTime.IsZero() {
		if wm := st.watermark(k.opts.lateness); !wm.IsZero() && r.EventTime.Before(wm) {
			k.stats.Late++
		}
		if r.EventTime.After(st.maxEvent) {
			st.maxEvent = r.EventTime
		}
	}
	st.lastActive = k.opts.now()
	st.next = r.Offset + 1
	k.stats.Delivered++
	return r
}

// extractEventTime keeps the extractor's pointer argument from moving
// every delivered record to the heap.
func extractEventTime(fn EventTimeFunc, r Record) time.Time { return fn(&r) }

// Positions returns the next offset to read of every assigned partition:
// the offset after the last record Poll returned, or the partition's start
// offset if none was returned yet. During OnRevoked it still includes the
// partitions being revoked, so the hook can checkpoint them. Call it from
// the goroutine that calls Poll (or while Poll is not running) to get
// positions consistent with the records processed.
func (k *Kafka) Positions() Positions {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(Positions, len(k.assigned))
	for tp, st := range k.assigned {
		out[tp] = st.next
	}
	return out
}

// Lag returns, per assigned partition whose fetching has started, how many
// records the job is behind: the partition's high watermark (as of the last
// fetch response) minus its position. Under read_committed the high
// watermark counts records of open and aborted transactions too, so a
// caught-up job can show a small lag while a producer's transaction is open.
// A paused partition is not fetched; while it is paused, Run asks the
// broker for its end offset every PausedLagRefresh instead, so its lag
// keeps growing with the input. It is safe to call from any goroutine (for
// metrics).
func (k *Kafka) Lag() map[TopicPartition]int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[TopicPartition]int64, len(k.assigned))
	for tp, st := range k.assigned {
		hw := st.listedEnd
		if st.highWater != nil {
			hw = max(hw, st.highWater())
		}
		if hw >= 0 {
			out[tp] = max(hw-st.next, 0)
		}
	}
	return out
}

// PausedLagRefresh is how often Run lists the end offsets of paused
// partitions, which are not fetched, so that Lag stays true while paused.
const PausedLagRefresh = 500 * time.Millisecond

// refreshPausedEnds lists the end offsets of the paused partitions until ctx
// ends.
func (k *Kafka) refreshPausedEnds(ctx context.Context, client sarama.Client) {
	t := time.NewTicker(PausedLagRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !k.anyPaused.Load() {
			continue
		}
		k.mu.Lock()
		var tps []TopicPartition
		for tp := range k.assigned {
			if k.pausedLocked(tp) {
				tps = append(tps, tp)
			}
		}
		k.mu.Unlock()
		for _, tp := range tps {
			end, err := client.GetOffset(tp.Topic, tp.Partition, sarama.OffsetNewest)
			if err != nil {
				continue // the next tick tries again; Lag keeps the last value
			}
			k.mu.Lock()
			if st, ok := k.assigned[tp]; ok {
				st.listedEnd = max(st.listedEnd, end)
			}
			k.mu.Unlock()
		}
	}
}

// Seek sets the positions at which partitions start when they are next
// assigned to this member, overriding the group's committed offsets and the
// start position: call it before Run with the positions of the restored
// checkpoint or savepoint, or from OnAssigned for the partitions being
// assigned. Positions apply to that one assignment only: those of
// partitions the group gave to other members are discarded, since their
// owners commit newer positions. Seeking a partition that is already
// consuming returns ErrSeekAssigned.
func (k *Kafka) Seek(p Positions) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for tp, off := range p {
		if !k.topicOK[tp.Topic] {
			return configError("seek %s: topic not consumed", tp)
		}
		if off < 0 || tp.Partition < 0 {
			return configError("seek %s to negative offset %d", tp, off)
		}
		if _, ok := k.assigned[tp]; ok {
			return fmt.Errorf("source: seek %s: %w", tp, ErrSeekAssigned)
		}
	}
	for tp, off := range p {
		k.seeks[tp] = off
	}
	return nil
}

// Stats returns the source's counters.
func (k *Kafka) Stats() Stats {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.stats
	st.Buffered = len(k.slots)
	st.InFlight = k.taken.Load() - k.released.Load()
	st.MaxInFlight = k.maxInFlight.Load()
	if k.errs.n > 0 && time.Since(k.errs.last) < ErrorStreakQuiet {
		st.ConsecutiveErrors, st.FailingSince, st.LastError = k.errs.n, k.errs.first, k.errs.err
	}
	return st
}

// Assigned returns the partitions currently assigned to this member, sorted.
func (k *Kafka) Assigned() []TopicPartition {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]TopicPartition, 0, len(k.assigned))
	for tp := range k.assigned {
		out = append(out, tp)
	}
	return sortedTPs(out)
}

// isConfigError reports errors from the group coordinator that say the
// member's configuration is unacceptable, which no rejoin can fix.
func isConfigError(err error) bool {
	return errors.Is(err, sarama.ErrInvalidSessionTimeout) || errors.Is(err, sarama.ErrInconsistentGroupProtocol) ||
		errors.Is(err, sarama.ErrGroupAuthorizationFailed) || errors.Is(err, sarama.ErrTopicAuthorizationFailed) ||
		errors.Is(err, sarama.ErrInvalidGroupId)
}

// maxRecordBytes is the largest response the source accepts from a broker.
// sarama refuses larger responses (its MaxResponseSize safety net, 100 MiB
// by default), which would leave a partition holding a larger record stuck
// for ever; Kafka's own limit on a message is below 2 GiB, and 1 GiB covers
// any topic configured by people.
const maxRecordBytes = 1 << 30

func init() {
	// Set once, before any client exists: sarama reads this global
	// without synchronisation.
	if sarama.MaxResponseSize < maxRecordBytes {
		sarama.MaxResponseSize = maxRecordBytes
	}
}
