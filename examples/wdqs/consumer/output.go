package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
)

// ErrNoDeadLetterTopic is returned by Output.Send when the consumer has no
// dead-letter topic: the runner then stops the job on a failed record rather
// than lose it.
var ErrNoDeadLetterTopic = errors.New("consumer: no dead-letter topic configured")

// Output is the task's output into a SPARQL store: the sparql.SPARQL (the
// runner's Output contract, CommitRequester, and the RDFConsumer's
// ChangeWriter) plus a RecordSender for the dead letters, which the store
// cannot hold. Dead letters go straight to Kafka, synchronously, when they are
// written: before the store commit that moves the positions past them, so
// none is lost; a checkpoint that fails is redone and dead-letters its records
// again (at-least-once for dead letters, exactly once for the data).
type Output struct {
	*sparql.SPARQL
	dl *KafkaSender
}

var (
	_ streamkit.Output          = (*Output)(nil)
	_ streamkit.CommitRequester = (*Output)(nil)
	_ streamkit.RecordSender    = (*Output)(nil)
	_ ChangeWriter              = (*Output)(nil)
)

// Send writes a dead-letter record to Kafka and waits for the broker's
// acknowledgement. It fails with ErrNoDeadLetterTopic when the consumer has
// none.
func (o *Output) Send(ctx context.Context, rec streamkit.KafkaRecord) error {
	if o.dl == nil {
		return ErrNoDeadLetterTopic
	}
	return o.dl.Send(ctx, rec)
}

// taskWriter is the RDFConsumer's handle on its task's Output: changes go
// to the SPARQL checkpoint, dead letters straight to Kafka.
type taskWriter struct {
	sparql.Writer
	dl *Output
}

// Send writes a dead letter (see Output.Send).
func (w taskWriter) Send(ctx context.Context, rec streamkit.KafkaRecord) error {
	return w.dl.Send(ctx, rec)
}

// KafkaSender is a streamkit.RecordSender that writes each record to Kafka at once
// and waits until the brokers acknowledge it (idempotent producer, all
// in-sync replicas), outside any transaction. It is for records that must be
// durable before a non-Kafka commit point moves past them: the dead letters
// of a job whose output is a SPARQL store. It is safe for concurrent use.
type KafkaSender struct {
	brokers []string
	cfg     *sarama.Config

	mu       sync.Mutex
	producer sarama.SyncProducer
	closed   bool
}

// fixedPartition marks a message whose partition the record fixed.
type fixedPartition struct{}

// partitioner sends a record to its fixed partition when it has one and by
// the hash of its key otherwise, as the transactional Kafka sink does.
type partitioner struct{ hash sarama.Partitioner }

func (p partitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if _, ok := m.Metadata.(fixedPartition); ok {
		if m.Partition >= n {
			return 0, fmt.Errorf("consumer: partition %d of topic %q does not exist (%d partitions)", m.Partition, m.Topic, n)
		}
		return m.Partition, nil
	}
	return p.hash.Partition(m, n)
}

func (p partitioner) RequiresConsistency() bool { return true }

// NewKafkaSender returns a sender to brokers configured from base (nil:
// sarama's defaults with Kafka 2.5). It does no I/O: the producer connects on
// the first Send.
func NewKafkaSender(brokers []string, base *sarama.Config) (*KafkaSender, error) {
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%w: dead-letter sender without brokers", ErrInvalidConfig)
	}
	cfg := sarama.NewConfig()
	if base != nil {
		c := *base
		cfg = &c
	} else {
		cfg.Version = sarama.V2_5_0_0
	}
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = ""
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = func(topic string) sarama.Partitioner {
		return partitioner{hash: sarama.NewHashPartitioner(topic)}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: dead-letter producer: %w", ErrInvalidConfig, err)
	}
	return &KafkaSender{brokers: brokers, cfg: cfg}, nil
}

// Send writes rec and waits for its acknowledgement (or ctx, in which case
// the record may still be written).
func (s *KafkaSender) Send(ctx context.Context, rec streamkit.KafkaRecord) error {
	if rec.Topic == "" {
		return fmt.Errorf("%w: no topic", streamkit.ErrInvalidRecord)
	}
	if rec.FixedPartition && rec.Partition < 0 {
		return fmt.Errorf("%w: partition %d", streamkit.ErrInvalidRecord, rec.Partition)
	}
	p, err := s.get()
	if err != nil {
		return err
	}
	m := &sarama.ProducerMessage{Topic: rec.Topic, Timestamp: rec.Timestamp}
	if rec.Key != nil {
		m.Key = sarama.ByteEncoder(rec.Key)
	}
	if rec.Value != nil {
		m.Value = sarama.ByteEncoder(rec.Value)
	}
	if rec.FixedPartition {
		m.Partition, m.Metadata = rec.Partition, fixedPartition{}
	}
	for _, h := range rec.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := p.SendMessage(m)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("consumer: dead letter to %q: %w", rec.Topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("consumer: dead letter to %q: %w", rec.Topic, ctx.Err())
	}
}

func (s *KafkaSender) get() (sarama.SyncProducer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("consumer: dead-letter sender closed")
	}
	if s.producer == nil {
		p, err := sarama.NewSyncProducer(s.brokers, s.cfg)
		if err != nil {
			return nil, fmt.Errorf("consumer: dead-letter producer: %w", err)
		}
		s.producer = p
	}
	return s.producer, nil
}

// Close closes the producer; later Sends fail.
func (s *KafkaSender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.producer == nil {
		return nil
	}
	err := s.producer.Close()
	s.producer = nil
	return err
}
