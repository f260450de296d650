package streamkit

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Errors of the Kafka sink. They are matched with errors.Is; the error
// returned also wraps the broker's or sarama's cause.
var (
	// ErrFenced is returned once a newer producer with the same
	// transactional ID has initialised: this sink is a zombie. Its open
	// transaction was aborted by the broker and it must never write again,
	// so every later call returns ErrFenced too; the job instance owning it
	// should exit.
	ErrFenced = errors.New("streamkit: kafka producer fenced by a newer instance")

	// ErrCommitFailed is returned by Kafka.Commit when the transaction could
	// not be committed. The sink has aborted it (nothing of it is visible to
	// read_committed readers, and the offsets were not committed), so the
	// caller retries the whole checkpoint from the previous commit point.
	ErrCommitFailed = errors.New("streamkit: kafka transaction commit failed")

	// ErrNoTransaction is returned by Send, Flush and Commit when no
	// transaction is open (Begin was not called, or the last one ended).
	ErrNoTransaction = errors.New("streamkit: no kafka transaction open")

	// ErrTransactionOpen is returned by Begin when a transaction is already
	// open: a checkpoint must end (Commit or Abort) before the next begins.
	ErrTransactionOpen = errors.New("streamkit: kafka transaction already open")

	// ErrTransactionExpired is returned by Send, Flush and Commit when the
	// open transaction is older than the transaction timeout: the broker
	// aborts such a transaction on its own, so the sink aborts it too rather
	// than pretend it can still commit. The checkpoint interval is too long
	// for the timeout, or the job stalled.
	ErrTransactionExpired = errors.New("streamkit: kafka transaction open longer than its timeout")

	// ErrInvalidRecord is returned by Send for a record that cannot be
	// written: no topic, or a fixed partition that is negative.
	ErrInvalidRecord = errors.New("streamkit: invalid kafka record")

	// ErrSinkClosed is returned by every call after Close.
	ErrSinkClosed = errors.New("streamkit: kafka sink closed")
)

// DefaultTransactionTimeout is the transaction timeout the Kafka sink asks
// the broker for unless WithTransactionTimeout says otherwise. It must stay
// above the job's checkpoint interval (a transaction lives for one
// checkpoint) and at most the broker's transaction.max.timeout.ms (15 min by
// default).
const DefaultTransactionTimeout = time.Minute

// defaultFlushFrequency bounds how long a record waits in a partly filled
// batch when the sarama configuration sets batch thresholds but no timer.
const defaultFlushFrequency = 5 * time.Millisecond

// KafkaHeader is one record header.
type KafkaHeader struct {
	Key   string
	Value []byte
}

// KafkaRecord is one output record of a job. The topic is chosen per record;
// the partition comes from the key (sarama's hash partitioner, as Kafka
// clients usually do, so that all records of one key stay in order) unless
// FixedPartition is set.
type KafkaRecord struct {
	// Topic is the record's destination topic. Required.
	Topic string
	// Partition is the destination partition when FixedPartition is true.
	Partition int32
	// FixedPartition sends the record to Partition instead of the
	// partition chosen from the key.
	FixedPartition bool
	// Key and Value are the record's bytes; nil and empty differ in Kafka
	// and are kept apart.
	Key, Value []byte
	// Headers are the record's headers, in order.
	Headers []KafkaHeader
	// Timestamp is the record's timestamp; the zero time lets the producer
	// use the current time.
	Timestamp time.Time
}

// validate checks what a producer needs of rec.
func (rec *KafkaRecord) validate() error {
	if rec.Topic == "" {
		return fmt.Errorf("%w: empty topic", ErrInvalidRecord)
	}
	if rec.FixedPartition && rec.Partition < 0 {
		return fmt.Errorf("%w: %s partition %d is negative", ErrInvalidRecord, rec.Topic, rec.Partition)
	}
	return nil
}

// RecordSender is what writes records into an open transaction: Kafka does,
// and DeadLetter and Replay send through one. Tests may substitute their own.
type RecordSender interface {
	Send(ctx context.Context, rec KafkaRecord) error
}

var _ RecordSender = (*KafkaProducer)(nil)

// KafkaOption configures a Kafka sink.
type KafkaOption func(*kafkaOptions)

type kafkaOptions struct {
	base    *sarama.Config
	timeout time.Duration
	logger  *slog.Logger
	now     func() time.Time
}

// WithSaramaConfig gives the sarama configuration the producer starts from:
// TLS, SASL, client ID, version, retries and batching pass through. The sink
// copies it and then sets what a transactional producer needs (idempotence,
// the transactional ID, acks from all replicas, one request in flight,
// successes and errors returned, its partitioner, the transaction timeout,
// and a 5 ms Flush.Frequency if batch thresholds are set without one).
// The default is sarama.NewConfig() with Version set to Kafka 2.5, the
// first with the transactional offset commits the sink relies on.
func WithSaramaConfig(cfg *sarama.Config) KafkaOption {
	return func(o *kafkaOptions) { o.base = cfg }
}

// WithTransactionTimeout sets the transaction timeout the producer asks the
// broker for (default DefaultTransactionTimeout). A transaction lives for
// one checkpoint interval, so the timeout needs to exceed the interval with a
// margin, and it must not exceed the broker's transaction.max.timeout.ms.
// Unlike Flink's sink, nothing is lost when it expires: the sink reports
// ErrTransactionExpired and the checkpoint is redone from the last commit
// point.
func WithTransactionTimeout(d time.Duration) KafkaOption {
	return func(o *kafkaOptions) { o.timeout = d }
}

// WithKafkaLogger sets the logger for aborted transactions and producer
// errors (default slog.Default()).
func WithKafkaLogger(l *slog.Logger) KafkaOption {
	return func(o *kafkaOptions) { o.logger = l }
}

// Kafka is a transactional Kafka producer for a job's output: the sink of
// step 3 of the exactly-once protocol. Each checkpoint is one transaction:
// Begin, Send the checkpoint's records, then Commit with the checkpoint's
// CommitPoint, which adds the consumer offsets (with metadata naming the
// checkpoint ID) to the transaction and commits records and offsets in one
// atomic step. A crash anywhere leaves either the previous commit point or
// this one, never a mix.
//
// No transaction outlives the process. A restarted job starts a new producer
// with the same transactional ID, whose initialisation aborts whatever the
// dead one left open, then reprocesses from the committed offsets; it never
// tries to resume or commit a transaction from before the restart. That is
// why a restart after longer than the broker's transaction.max.timeout.ms
// loses nothing here, where Flink's exactly-once sink (FLINK-16419) drops
// the pre-crash transaction's records.
//
// # Fencing
//
// The transactional ID names a job instance slot (for example
// "<job>/<instance>" with a stable instance index, or one ID per input
// partition when partitions move between instances); it must be the same
// across restarts of that slot and different from every other slot that
// may run at the same time. When a new producer initialises with the ID,
// the broker bumps the ID's epoch and aborts the transaction the previous
// holder left open; from then on every request of the old producer (a
// zombie: paused by GC, partitioned from the network, presumed dead) fails
// with PRODUCER_FENCED, so its Commit returns ErrFenced and none of its
// output or offsets become visible. A fenced sink stays fenced: it must not
// re-initialise, which would in turn fence the new owner.
//
// A Kafka is safe for concurrent Send calls; Begin, Commit and Abort are
// meant to be called by the one goroutine driving checkpoints. The producer
// is created (and the ID's epoch bumped) by the first Begin, not by NewKafka.
type KafkaProducer struct {
	brokers []string
	txID    string
	cfg     *sarama.Config
	timeout time.Duration
	logger  *slog.Logger
	now     func() time.Time

	// ctl serialises Begin, Commit, Abort and Close.
	ctl sync.Mutex

	mu       sync.Mutex
	producer sarama.AsyncProducer
	drained  chan struct{} // closed when the ack goroutine of producer ends
	open     bool
	begun    time.Time
	sent     int64
	done     int64
	sendErr  error
	changed  chan struct{} // closed and replaced whenever done changes
	fenced   error
	closed   bool
}

// NewKafka returns a transactional sink writing to the cluster at brokers
// under transactionalID. It only checks its arguments; the connection and
// the producer's initialisation happen at the first Begin.
func NewKafkaProducer(brokers []string, transactionalID string, opts ...KafkaOption) (*KafkaProducer, error) {
	if len(brokers) == 0 {
		return nil, errors.New("streamkit: kafka: no broker addresses")
	}
	if transactionalID == "" {
		return nil, errors.New("streamkit: kafka: empty transactional ID")
	}
	o := kafkaOptions{timeout: DefaultTransactionTimeout, logger: slog.Default(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("streamkit: kafka: transaction timeout %v is not positive", o.timeout)
	}
	var cfg sarama.Config
	if o.base != nil {
		cfg = *o.base
	} else {
		cfg = *sarama.NewConfig()
		cfg.Version = sarama.V2_5_0_0
	}
	if !cfg.Version.IsAtLeast(sarama.V0_11_0_0) {
		return nil, fmt.Errorf("streamkit: kafka: sarama version %v has no transactions (need at least 0.11)", cfg.Version)
	}
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = transactionalID
	cfg.Producer.Transaction.Timeout = o.timeout
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = newRecordPartitioner
	if cfg.Producer.Flush.Frequency <= 0 && (cfg.Producer.Flush.Messages > 0 || cfg.Producer.Flush.Bytes > 0) {
		// Batching thresholds without a timer would hold the tail of a
		// checkpoint until the batch fills: Flush and Commit would wait
		// for acknowledgements that never come.
		cfg.Producer.Flush.Frequency = defaultFlushFrequency
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("streamkit: kafka: invalid sarama configuration: %w", err)
	}
	return &KafkaProducer{
		brokers: append([]string(nil), brokers...),
		txID:    transactionalID,
		cfg:     &cfg,
		timeout: o.timeout,
		logger:  o.logger,
		now:     o.now,
		changed: make(chan struct{}),
	}, nil
}

// TransactionalID returns the ID the sink's producer uses, which fences
// older producers of the same job instance slot.
func (k *KafkaProducer) TransactionalID() string { return k.txID }

// Begin opens the transaction of a checkpoint. The first call creates the
// producer, which initialises the transactional ID: that fences any older
// producer with the same ID and aborts the transaction it left open, so
// Begin blocks for a round trip or a few (bounded by the sarama retry
// settings; ctx is checked before). It returns ErrTransactionOpen if a
// transaction is open already.
func (k *KafkaProducer) Begin(ctx context.Context) error {
	k.ctl.Lock()
	defer k.ctl.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("streamkit: kafka begin: %w", err)
	}
	k.mu.Lock()
	if err := k.unusableLocked(); err != nil {
		k.mu.Unlock()
		return err
	}
	if k.open {
		k.mu.Unlock()
		return ErrTransactionOpen
	}
	k.mu.Unlock()
	p, err := k.initLocked("begin")
	if err != nil {
		return err
	}
	if err := p.BeginTxn(); err != nil {
		err = k.classify("begin", err)
		k.dropProducer()
		return err
	}
	k.mu.Lock()
	k.open = true
	k.begun = k.now()
	k.sent, k.done, k.sendErr = 0, 0, nil
	k.mu.Unlock()
	return nil
}

// Init creates the producer if it does not exist yet, without opening a
// transaction. Initialising the transactional ID fences every older
// producer with the same ID and aborts the transaction it left open, so
// after Init returns, the offsets and records of that transaction are
// decided (aborted) and a read of the committed offsets with stable
// semantics no longer waits for it. A job runner calls Init when it takes
// over a task, before reading the task's commit point. Begin calls it too.
func (k *KafkaProducer) Init(ctx context.Context) error {
	k.ctl.Lock()
	defer k.ctl.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("streamkit: kafka init: %w", err)
	}
	k.mu.Lock()
	err := k.unusableLocked()
	k.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = k.initLocked("init")
	return err
}

// initLocked returns the producer, creating it first if needed. k.ctl must
// be held.
func (k *KafkaProducer) initLocked(op string) (sarama.AsyncProducer, error) {
	k.mu.Lock()
	p := k.producer
	k.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := sarama.NewAsyncProducer(k.brokers, k.cfg)
	if err != nil {
		return nil, k.classify(op+": init producer", err)
	}
	drained := make(chan struct{})
	k.mu.Lock()
	k.producer, k.drained = p, drained
	k.mu.Unlock()
	go k.collect(p, drained)
	return p, nil
}

// Send adds rec to the open transaction. It returns once the producer has
// taken the record (it blocks while the producer's buffer is full, which is
// the job's backpressure); delivery errors surface in Flush and Commit.
func (k *KafkaProducer) Send(ctx context.Context, rec KafkaRecord) error {
	if err := rec.validate(); err != nil {
		return err
	}
	k.mu.Lock()
	if err := k.inTransactionLocked(); err != nil {
		k.mu.Unlock()
		return err
	}
	if k.expiredLocked() {
		k.mu.Unlock()
		return k.expire(ctx, k.Abort)
	}
	p := k.producer
	k.sent++
	k.mu.Unlock()
	msg := &sarama.ProducerMessage{
		Topic:     rec.Topic,
		Value:     bytesEncoder(rec.Value),
		Timestamp: rec.Timestamp,
		Metadata:  partitionChoice{fixed: rec.FixedPartition, partition: rec.Partition},
	}
	if rec.Key != nil {
		msg.Key = sarama.ByteEncoder(rec.Key)
	}
	if len(rec.Headers) > 0 {
		msg.Headers = make([]sarama.RecordHeader, len(rec.Headers))
		for i, h := range rec.Headers {
			msg.Headers[i] = sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
		}
	}
	select {
	case p.Input() <- msg:
		return nil
	case <-ctx.Done():
		k.mu.Lock()
		k.sent--
		k.mu.Unlock()
		return fmt.Errorf("streamkit: kafka send: %w", ctx.Err())
	}
}

// Flush waits until every record sent in the open transaction has been
// acknowledged by the brokers, and returns the first delivery error. The
// records stay invisible to read_committed readers until Commit.
func (k *KafkaProducer) Flush(ctx context.Context) error {
	k.mu.Lock()
	if err := k.inTransactionLocked(); err != nil {
		k.mu.Unlock()
		return err
	}
	k.mu.Unlock()
	return k.waitAcks(ctx)
}

func (k *KafkaProducer) waitAcks(ctx context.Context) error {
	for {
		k.mu.Lock()
		done, sent, err, ch := k.done, k.sent, k.sendErr, k.changed
		k.mu.Unlock()
		if done >= sent {
			if err != nil {
				return k.classify("deliver", err)
			}
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("streamkit: kafka flush: %d of %d records unacknowledged: %w", sent-done, sent, ctx.Err())
		}
	}
}

// Commit is the checkpoint's atomic commit point. It waits for the records
// of the transaction, adds cp's positions to the transaction as group's
// committed offsets (each with metadata naming the job and checkpoint ID,
// see FormatOffsetMetadata), and commits: records and offsets become
// visible together. cp may be nil for output with no input positions (a
// replay); group is then ignored.
//
// If anything fails the transaction is aborted and the error (matching
// ErrCommitFailed, and ErrFenced if a newer producer took over) is returned:
// nothing of the checkpoint is visible, the committed offsets still name the
// previous checkpoint, and the caller retries the checkpoint from there.
// ctx bounds the wait for acknowledgements; the commit request itself is
// bounded by the sarama retry settings.
func (k *KafkaProducer) Commit(ctx context.Context, cp *CommitPoint, group string) error {
	k.ctl.Lock()
	defer k.ctl.Unlock()
	k.mu.Lock()
	if err := k.inTransactionLocked(); err != nil {
		k.mu.Unlock()
		return err
	}
	expired := k.expiredLocked()
	p := k.producer
	k.mu.Unlock()
	if expired {
		return k.expire(ctx, k.abortLocked)
	}
	var offsets map[string][]*sarama.PartitionOffsetMetadata
	if cp != nil {
		if err := cp.Validate(); err != nil {
			return k.failCommit(ctx, fmt.Errorf("streamkit: kafka commit: %w", err))
		}
		if group == "" {
			return k.failCommit(ctx, errors.New("streamkit: kafka commit: empty consumer group"))
		}
		meta := FormatOffsetMetadata(cp.Job, cp.CheckpointID)
		offsets = make(map[string][]*sarama.PartitionOffsetMetadata)
		for _, tp := range cp.Positions.Sorted() {
			m := meta
			offsets[tp.Topic] = append(offsets[tp.Topic], &sarama.PartitionOffsetMetadata{
				Partition: tp.Partition, Offset: cp.Positions[tp], Metadata: &m, LeaderEpoch: -1,
			})
		}
	}
	if err := k.waitAcks(ctx); err != nil {
		return k.failCommit(ctx, err)
	}
	if len(offsets) > 0 {
		if err := p.AddOffsetsToTxn(offsets, group); err != nil {
			return k.failCommit(ctx, k.classify("add offsets", err))
		}
	}
	if err := p.CommitTxn(); err != nil {
		return k.failCommit(ctx, k.classify("commit", err))
	}
	k.mu.Lock()
	k.open = false
	k.mu.Unlock()
	return nil
}

// failCommit aborts the open transaction after a failed commit and returns
// cause as an ErrCommitFailed.
func (k *KafkaProducer) failCommit(ctx context.Context, cause error) error {
	if aerr := k.abortLocked(ctx); aerr != nil && !errors.Is(aerr, ErrFenced) {
		k.logger.Warn("streamkit: kafka: abort after failed commit failed; producer dropped",
			"transactional_id", k.txID, "error", aerr)
	}
	return fmt.Errorf("%w: %w", ErrCommitFailed, cause)
}

// Abort aborts the open transaction: none of its records become visible and
// its offsets are not committed. Aborting with no transaction open is a
// no-op.
func (k *KafkaProducer) Abort(ctx context.Context) error {
	k.ctl.Lock()
	defer k.ctl.Unlock()
	return k.abortLocked(ctx)
}

// abortLocked aborts with ctl held. If the producer cannot abort (fenced, or
// in a fatal state), it is closed; the broker aborts the transaction when
// the next producer with the ID initialises, or when it times out.
func (k *KafkaProducer) abortLocked(ctx context.Context) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return ErrSinkClosed
	}
	if !k.open {
		k.mu.Unlock()
		return nil
	}
	p := k.producer
	k.open = false
	k.mu.Unlock()
	// Let in-flight records settle so the abort marker follows them; if
	// ctx ends first, the abort still goes out (sarama waits for them).
	_ = k.waitAcks(ctx)
	if err := p.AbortTxn(); err != nil {
		err = k.classify("abort", err)
		k.dropProducer()
		return err
	}
	return nil
}

// expire aborts a transaction that outlived its timeout (with abort: Abort,
// or abortLocked when ctl is held) and returns ErrTransactionExpired.
func (k *KafkaProducer) expire(ctx context.Context, abort func(context.Context) error) error {
	k.mu.Lock()
	age := k.now().Sub(k.begun)
	k.mu.Unlock()
	if err := abort(ctx); err != nil {
		k.logger.Warn("streamkit: kafka: abort of expired transaction failed", "transactional_id", k.txID, "error", err)
	}
	return fmt.Errorf("%w: open for %v, timeout %v", ErrTransactionExpired, age.Round(time.Millisecond), k.timeout)
}

// Close aborts an open transaction and closes the producer. It is
// idempotent. A job that is stopping commits first; Close after a crash-free
// Commit leaves nothing open on the brokers.
func (k *KafkaProducer) Close() error {
	k.ctl.Lock()
	defer k.ctl.Unlock()
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	open := k.open && k.fenced == nil
	k.mu.Unlock()
	var err error
	if open {
		ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
		err = k.abortLocked(ctx)
		cancel()
	}
	k.dropProducer()
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	if errors.Is(err, ErrFenced) {
		err = nil
	}
	return err
}

// dropProducer closes the current producer, if any, and forgets it; the next
// Begin creates a new one.
func (k *KafkaProducer) dropProducer() {
	k.mu.Lock()
	p, drained := k.producer, k.drained
	k.producer, k.drained, k.open = nil, nil, false
	k.mu.Unlock()
	if p == nil {
		return
	}
	p.AsyncClose()
	<-drained
}

// collect counts acknowledgements and delivery errors of p until p closes.
func (k *KafkaProducer) collect(p sarama.AsyncProducer, drained chan struct{}) {
	defer close(drained)
	succ, errs := p.Successes(), p.Errors()
	for succ != nil || errs != nil {
		var perr *sarama.ProducerError
		select {
		case _, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			perr = e
		}
		k.mu.Lock()
		if k.producer == p {
			k.done++
			if perr != nil && k.sendErr == nil {
				k.sendErr = fmt.Errorf("%s/%d: %w", perr.Msg.Topic, perr.Msg.Partition, perr.Err)
			}
			close(k.changed)
			k.changed = make(chan struct{})
		}
		k.mu.Unlock()
	}
}

func (k *KafkaProducer) unusableLocked() error {
	switch {
	case k.closed:
		return ErrSinkClosed
	case k.fenced != nil:
		return k.fenced
	}
	return nil
}

// inTransactionLocked reports why the sink cannot take records now: it is
// closed or fenced, or no transaction is open.
func (k *KafkaProducer) inTransactionLocked() error {
	if err := k.unusableLocked(); err != nil {
		return err
	}
	if !k.open {
		return ErrNoTransaction
	}
	return nil
}

func (k *KafkaProducer) expiredLocked() bool {
	return k.open && k.now().Sub(k.begun) > k.timeout
}

// classify wraps a sarama error, recognising fencing. A fenced sink is
// marked so that it never initialises again.
func (k *KafkaProducer) classify(op string, err error) error {
	if isFencedError(err) {
		ferr := fmt.Errorf("%w: transactional ID %q (%s): %w", ErrFenced, k.txID, op, err)
		k.mu.Lock()
		if k.fenced == nil {
			k.fenced = ferr
		}
		k.mu.Unlock()
		return ferr
	}
	return fmt.Errorf("streamkit: kafka %s (transactional ID %q): %w", op, k.txID, err)
}

func isFencedError(err error) bool {
	return errors.Is(err, sarama.ErrProducerFenced) ||
		errors.Is(err, sarama.ErrInvalidProducerEpoch)
}

// bytesEncoder keeps nil values nil (a tombstone) and empty values empty.
func bytesEncoder(b []byte) sarama.Encoder {
	if b == nil {
		return nil
	}
	return sarama.ByteEncoder(b)
}

// partitionChoice rides in ProducerMessage.Metadata to the partitioner.
type partitionChoice struct {
	fixed     bool
	partition int32
}

// recordPartitioner sends a record to its fixed partition, or hashes its key
// the way sarama's default hash partitioner does (so that a key lands where
// other sarama producers put it); keyless records go round robin.
type recordPartitioner struct {
	next int32
}

func newRecordPartitioner(string) sarama.Partitioner { return &recordPartitioner{} }

func (rp *recordPartitioner) Partition(msg *sarama.ProducerMessage, n int32) (int32, error) {
	if c, ok := msg.Metadata.(partitionChoice); ok && c.fixed {
		if c.partition >= n {
			return 0, fmt.Errorf("%w: %s has %d partitions, record asks for %d", ErrInvalidRecord, msg.Topic, n, c.partition)
		}
		return c.partition, nil
	}
	if msg.Key == nil {
		p := rp.next % n
		rp.next = (rp.next + 1) % n
		return p, nil
	}
	key, err := msg.Key.Encode()
	if err != nil {
		return 0, err
	}
	h := fnv.New32a()
	_, _ = h.Write(key)
	p := int32(h.Sum32()) % n
	if p < 0 {
		p = -p
	}
	return p, nil
}

func (rp *recordPartitioner) RequiresConsistency() bool { return true }
