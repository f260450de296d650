// Package kafkatest runs an in-process Kafka cluster for tests: franz-go's
// kfake broker on 127.0.0.1, plus the helpers that exactly-once tests need
// around it. Other packages and teams import it in their own unit tests; it
// needs no Docker, JVM or network, and a cluster starts in milliseconds.
//
// # Concepts
//
// A Cluster speaks the real Kafka protocol, including idempotent and
// transactional producers, consumer groups, read_committed fetches and
// transactional offset commits, so the client under test (sarama, for
// streamkit) runs unmodified against it. The helpers use their own internal
// client (franz-go), independent of the code under test, and read the truth
// back from the brokers:
//
//   - ReadCommitted returns what a read_committed consumer sees: every
//     record up to each partition's last stable offset, without aborted or
//     still-open transactions. ReadUncommitted reads up to the high
//     watermark. Both follow the brokers' fetch positions, so they end even
//     when a partition ends in commit markers or inside aborted data.
//   - CommittedOffsets returns a consumer group's committed offsets and
//     their metadata (streamkit stores the checkpoint ID there), whether
//     committed plainly or inside a transaction.
//   - WaitForRecords, WaitForCommittedOffset, WaitForGroupStable and WaitFor
//     poll a condition until it holds, bounded by the context or by the
//     cluster's WaitTimeout; tests never sleep for a fixed time.
//
// # Faults
//
// FailNext answers the next n requests of one kind (EndTxn,
// TxnOffsetCommit, Produce, OffsetCommit, …) with a Kafka error code;
// InjectFault takes a full kfake.Fault for narrower selectors.
// DisconnectOnNext closes the connection instead of answering.
// DropConnections and DropBrokerConnections close the clients' open
// connections, as a network blip would; the harness's own connections are
// spared. Faults and controls also see the harness's own requests of the
// same kind, so install them after the setup that uses Produce or
// CreateTopic.
//
// # sarama
//
// SaramaConfig returns a sarama configuration that works against the
// cluster: kfake implements only record batches, so sarama must speak at
// least Kafka 0.11 (DefaultKafkaVersion is 3.6); consumers default to
// read_committed and a short Consumer.MaxWaitTime; Idempotent and
// TransactionalID add the producer settings sarama requires for them.
//
// # Lifecycle
//
// NewCluster(t, …) starts a cluster and closes it with t.Cleanup. Start and
// Close do the same for programs that embed a broker outside tests (a
// quickstart). With Ports the brokers listen on fixed ports, which external
// clients such as kcat need. All data is kept in memory.
//
// # Known differences from Kafka
//
// A group member killed while it waits in JoinGroup is never given a
// session timer by kfake (the reply to its dead connection fails before the
// timer is armed), so it can keep its partitions forever where Kafka would
// expire it after the session timeout. Tests that kill group members at
// random (the root package's kill tests) therefore use static membership
// (Consumer.Group.InstanceId, one per instance) and a short rebalance
// timeout, so that a restarted instance takes its own place back. Set the
// broker's group.min.session.timeout.ms with BrokerConfigs to test short
// session timeouts.
package kafkatest
