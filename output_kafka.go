package streamkit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// KafkaOutput is the Output of a task whose output goes to Kafka: a
// transactional Kafka (its Send, Flush and TransactionalID are the
// processor's API) whose transactions commit the task's consumer offsets,
// and a reader of those offsets for restore.
//
// # Fencing
//
// Each task has its own transactional ID, "<job>.task-<n>" (with an
// optional prefix), the same on every instance and across restarts. The
// instance that takes a task over initialises a producer with that ID in
// Claim, before it reads the commit point; the broker then bumps the ID's
// epoch, aborts the transaction the previous owner left open, and fails
// every later request of that owner with PRODUCER_FENCED. So a zombie —
// an instance that lost its partitions while paused or partitioned away —
// can never commit output or offsets of a task someone else owns, and the
// stable offset read that follows Claim never waits for the zombie's
// transaction. (The alternative, KIP-447's group-metadata fencing with one
// producer per instance, needs the consumer group generation in
// TxnOffsetCommit, which sarama's transactional producer does not send.)
type KafkaOutput struct {
	producer *KafkaProducer
	// held are the records the processor sent for the record in hand
	// (between BeginRecord and EndRecord), holding is true meanwhile.
	held    []KafkaRecord
	holding bool
	brokers []string
	cfg     *sarama.Config
	group   string
	client  sarama.Client
}

var (
	_ Output       = (*KafkaOutput)(nil)
	_ RecordSender = (*KafkaOutput)(nil)
)

// KafkaOutputConfig configures the Kafka outputs of a job.
type KafkaOutputConfig struct {
	// Brokers are the output cluster's bootstrap addresses; default: the
	// input's brokers are not assumed, so this is required.
	Brokers []string
	// Sarama is the configuration the producer and the offset reader start
	// from (TLS, SASL, version, batching); nil means sarama.NewConfig()
	// with Kafka 2.5. The producer settings a transactional sink needs are
	// enforced (see WithSaramaConfig).
	Sarama *sarama.Config
	// TransactionalIDPrefix is put before "<job>.task-<n>"; use it when
	// several deployments of one job name share a cluster.
	TransactionalIDPrefix string
	// Options are further sink options (transaction timeout, logger).
	Options []KafkaOption
}

// KafkaOutputs returns the outputs of a job writing to Kafka: each task
// gets a KafkaOutput with its own transactional ID, and its Processor gets
// a RecordSender that writes into the task's open transaction.
func KafkaOutputs(cfg KafkaOutputConfig) Outputs[RecordSender] {
	return func(ctx context.Context, info TaskInfo) (Output, RecordSender, error) {
		o, err := NewKafkaOutput(cfg, info)
		if err != nil {
			return nil, nil, err
		}
		return o, o.Sender(), nil
	}
}

// NewKafkaOutput returns the Kafka output of one task. It does no I/O: the
// producer and the offset reader connect in Claim.
func NewKafkaOutput(cfg KafkaOutputConfig, info TaskInfo) (*KafkaOutput, error) {
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("%w: kafka output needs brokers", ErrInvalidJob)
	}
	if info.Group == "" {
		return nil, fmt.Errorf("%w: kafka output needs the job's consumer group", ErrInvalidJob)
	}
	base := cfg.Sarama
	if base == nil {
		base = sarama.NewConfig()
		base.Version = sarama.V2_5_0_0
	}
	txID := cfg.TransactionalIDPrefix + TaskNamespace(info.Job, info.Task)
	opts := append([]KafkaOption{WithSaramaConfig(base)}, cfg.Options...)
	if info.Logger != nil {
		opts = append([]KafkaOption{WithKafkaLogger(info.Logger)}, opts...)
	}
	k, err := NewKafkaProducer(cfg.Brokers, txID, opts...)
	if err != nil {
		return nil, err
	}
	readCfg := *base
	readCfg.Producer.Transaction.ID = ""
	readCfg.Producer.Idempotent = false
	return &KafkaOutput{producer: k, brokers: append([]string(nil), cfg.Brokers...), cfg: &readCfg, group: info.Group}, nil
}

// Claim initialises the task's transactional producer (fencing older
// owners and aborting their open transaction) and connects the offset
// reader.
func (o *KafkaOutput) Claim(ctx context.Context) error {
	if err := o.producer.Init(ctx); err != nil {
		return err
	}
	if o.client == nil {
		c, err := sarama.NewClient(o.brokers, o.cfg)
		if err != nil {
			return fmt.Errorf("streamkit: kafka output: offset reader: %w", err)
		}
		o.client = c
	}
	return nil
}

// ReadCommitPoint reads the task's commit point from the consumer group's
// committed offsets of partitions (see ReadKafkaCommitPointOf).
func (o *KafkaOutput) ReadCommitPoint(ctx context.Context, partitions source.Partitions) (*CommitPoint, error) {
	if o.client == nil {
		return nil, errors.New("streamkit: kafka output: ReadCommitPoint before Claim")
	}
	return ReadKafkaCommitPointOf(ctx, o.client, o.group, partitions)
}

// Commit commits the open transaction with cp's positions as the group's
// offsets. If the commit fails, the transaction is aborted before Commit
// returns, even when the sink's own abort failed (see Abort).
func (o *KafkaOutput) Commit(ctx context.Context, cp *CommitPoint) error {
	err := o.producer.Commit(ctx, cp, o.group)
	if err != nil {
		o.reclaim(ctx, err)
	}
	return err
}

// Abort aborts the open transaction. If the sink cannot (it then drops its
// producer), the producer is initialised again with the task's
// transactional ID, which makes the broker abort the transaction at once.
func (o *KafkaOutput) Abort(ctx context.Context) error {
	err := o.producer.Abort(ctx)
	if err != nil {
		o.reclaim(ctx, err)
	}
	return err
}

// reclaim makes sure no transaction of this output stays open after a
// failed commit or abort. When the sink's abort fails it drops its producer
// and the transaction stays open on the broker until its timeout; its
// pending offsets keep the group's committed offsets unstable meanwhile, so
// the restart's read_committed offset fetch — which comes before any task
// is claimed again — would wait for the whole transaction timeout. A new
// producer with the same transactional ID aborts it now. Init does nothing
// while the producer is still there (the abort went through) and refuses
// on a fenced sink: another instance owns the task, and must not be fenced
// in turn.
func (o *KafkaOutput) reclaim(ctx context.Context, cause error) {
	if errors.Is(cause, ErrFenced) {
		return
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = o.producer.Init(ictx) // best effort: the transaction timeout remains the backstop
}

// Begin opens the transaction of the next checkpoint.
func (o *KafkaOutput) Begin(ctx context.Context) error { return o.producer.Begin(ctx) }

// Send adds rec to the open transaction (the runner's dead letters use it).
func (o *KafkaOutput) Send(ctx context.Context, rec KafkaRecord) error {
	return o.producer.Send(ctx, rec)
}

// Flush waits until the broker has acknowledged every record sent so far;
// the records stay in the open transaction.
func (o *KafkaOutput) Flush(ctx context.Context) error { return o.producer.Flush(ctx) }

// TransactionalID returns the task's transactional ID.
func (o *KafkaOutput) TransactionalID() string { return o.producer.TransactionalID() }

// Sender returns the handle a Processor writes through: it can send records
// into the open transaction and nothing else. While the runner has a
// record in hand, what the processor sends is held back until the record
// succeeds (see RecordScoped).
func (o *KafkaOutput) Sender() RecordSender { return kafkaSender{o} }

// kafkaSender is the Processor's view of a KafkaOutput.
type kafkaSender struct{ o *KafkaOutput }

func (s kafkaSender) Send(ctx context.Context, rec KafkaRecord) error {
	if s.o.holding {
		if err := rec.validate(); err != nil {
			return err
		}
		s.o.held = append(s.o.held, rec)
		return nil
	}
	return s.o.producer.Send(ctx, rec)
}

// BeginRecord implements RecordScoped: the processor's records are held
// until EndRecord.
func (o *KafkaOutput) BeginRecord() { o.holding = true }

// EndRecord implements RecordScoped: keep sends the held records into the
// open transaction, otherwise they are dropped.
func (o *KafkaOutput) EndRecord(ctx context.Context, keep bool) error {
	o.holding = false
	var err error
	if keep {
		for i := range o.held {
			if err = o.producer.Send(ctx, o.held[i]); err != nil {
				break
			}
		}
	}
	clear(o.held) // drop references to the records' bytes
	o.held = o.held[:0]
	return err
}

// Close aborts an open transaction and closes the producer and the reader.
func (o *KafkaOutput) Close() error {
	err := o.producer.Close()
	if o.client != nil {
		err = errors.Join(err, o.client.Close())
		o.client = nil
	}
	return err
}
