package kafkatest

import (
	"time"

	"github.com/IBM/sarama"
)

// ConfigOption adjusts the sarama configuration built by SaramaConfig.
type ConfigOption interface{ applySarama(*sarama.Config) }

type configOptionFunc func(*sarama.Config)

func (f configOptionFunc) applySarama(c *sarama.Config) { f(c) }

// Idempotent makes the producer idempotent, with the settings sarama
// requires for it (acks from all replicas, one request in flight).
func Idempotent() ConfigOption {
	return configOptionFunc(func(c *sarama.Config) {
		c.Producer.Idempotent = true
		c.Producer.RequiredAcks = sarama.WaitForAll
		c.Net.MaxOpenRequests = 1
	})
}

// TransactionalID makes the producer transactional under id (and therefore
// idempotent). Each producer instance that may run at the same time needs
// its own ID; a new producer with the same ID fences the old one.
func TransactionalID(id string) ConfigOption {
	return configOptionFunc(func(c *sarama.Config) {
		Idempotent().applySarama(c)
		c.Producer.Transaction.ID = id
	})
}

// SaramaConfig returns a new sarama configuration that works against this
// cluster, tuned for tests:
//
//   - Version is the cluster's KafkaVersion (DefaultKafkaVersion unless set):
//     kfake speaks only record batches, and sarama's older defaults fail.
//   - Consumers read with read_committed isolation (streamkit's default)
//     from the oldest offset, and Consumer.MaxWaitTime is 25 ms (sarama's
//     default is 500 ms): sarama sends a group's OffsetCommit behind the
//     long-polling Fetch on the same connection, so each synchronous commit
//     takes about twice MaxWaitTime, and a consumer that keeps up with a
//     producer was measured at half the throughput with 100 ms.
//   - Producers return successes and errors (as SyncProducer needs), retry
//     often with short backoff (so that dropped connections are survived
//     quickly), and wait for all replicas.
//   - Net timeouts are generous, for loaded CI machines.
//
// The result is the caller's to modify; each call returns a fresh one.
func (c *Cluster) SaramaConfig(opts ...ConfigOption) *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = c.cfg.version
	sc.ClientID = "kafkatest"

	sc.Net.DialTimeout = 10 * time.Second
	sc.Net.ReadTimeout = 30 * time.Second
	sc.Net.WriteTimeout = 30 * time.Second
	sc.Metadata.Retry.Max = 10
	sc.Metadata.Retry.Backoff = 50 * time.Millisecond

	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 50 * time.Millisecond
	sc.Producer.Transaction.Retry.Max = 20
	sc.Producer.Transaction.Retry.Backoff = 50 * time.Millisecond

	sc.Consumer.Return.Errors = true
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.MaxWaitTime = 25 * time.Millisecond
	sc.Consumer.Retry.Backoff = 50 * time.Millisecond
	sc.Consumer.Group.Rebalance.Retry.Backoff = 50 * time.Millisecond

	for _, o := range opts {
		if o != nil {
			o.applySarama(sc)
		}
	}
	return sc
}
