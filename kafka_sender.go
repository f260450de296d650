package streamkit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
)

// ErrKafkaSenderClosed is returned by KafkaSender.Send after Close.
var ErrKafkaSenderClosed = errors.New("streamkit: Kafka sender closed")

// KafkaSender is a RecordSender that writes each record to Kafka at once
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

// senderFixedPartition marks a message whose partition the record fixed.
type senderFixedPartition struct{}

// senderPartitioner sends a record to its fixed partition when it has one and by
// the hash of its key otherwise, as the transactional Kafka sink does.
type senderPartitioner struct{ hash sarama.Partitioner }

func (p senderPartitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if _, ok := m.Metadata.(senderFixedPartition); ok {
		if m.Partition >= n {
			return 0, fmt.Errorf("streamkit: partition %d of topic %q does not exist (%d partitions)", m.Partition, m.Topic, n)
		}
		return m.Partition, nil
	}
	return p.hash.Partition(m, n)
}

func (p senderPartitioner) RequiresConsistency() bool { return true }

// NewKafkaSender returns a sender to brokers configured from base (nil:
// sarama's defaults with Kafka 2.5). It does no I/O: the producer connects on
// the first Send.
func NewKafkaSender(brokers []string, base *sarama.Config) (*KafkaSender, error) {
	if len(brokers) == 0 {
		return nil, errors.New("streamkit: Kafka sender needs brokers: pass the bootstrap addresses of the cluster to write to")
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
		return senderPartitioner{hash: sarama.NewHashPartitioner(topic)}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("streamkit: Kafka sender configuration: %w", err)
	}
	return &KafkaSender{brokers: brokers, cfg: cfg}, nil
}

// Send writes rec and waits for its acknowledgement (or ctx, in which case
// the record may still be written).
func (s *KafkaSender) Send(ctx context.Context, rec KafkaRecord) error {
	if rec.Topic == "" {
		return fmt.Errorf("%w: no topic", ErrInvalidRecord)
	}
	if rec.FixedPartition && rec.Partition < 0 {
		return fmt.Errorf("%w: partition %d", ErrInvalidRecord, rec.Partition)
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
		m.Partition, m.Metadata = rec.Partition, senderFixedPartition{}
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
			return fmt.Errorf("streamkit: Kafka sender to %q: %w", rec.Topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("streamkit: Kafka sender to %q: %w", rec.Topic, ctx.Err())
	}
}

func (s *KafkaSender) get() (sarama.SyncProducer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrKafkaSenderClosed
	}
	if s.producer == nil {
		p, err := sarama.NewSyncProducer(s.brokers, s.cfg)
		if err != nil {
			return nil, fmt.Errorf("streamkit: Kafka sender: connect: %w", err)
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
