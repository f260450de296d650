// Package kafkatest runs an in-process Kafka cluster for tests: franz-go's
// kfake broker on 127.0.0.1, plus the helpers that exactly-once tests need
// around it. Other packages and teams import it in their own unit tests; it
// needs no Docker, JVM or network, and a cluster starts in milliseconds.
// The same tests run against a real Kafka cluster when BrokersEnv
// (STREAMKIT_KAFKA_BROKERS) names one (see "Real Kafka" below).
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
// # Real Kafka
//
// With STREAMKIT_KAFKA_BROKERS=host:port[,host:port…] (scripts/kafka.sh
// starts such a broker and prints the line), NewCluster and Start give the
// test a namespace on that cluster instead of a kfake cluster: a local proxy
// on 127.0.0.1 (Addrs) prefixes every topic name, group ID and
// transactional ID the clients send with a name unique to the Cluster, and
// strips it from the answers, leaving out everything of other namespaces.
// Tests keep their fixed names ("in", "out", "job") and never see another
// test's data, even when packages run at the same time; Close deletes the
// namespace's topics. The proxy also answers for the brokers' addresses, so
// DropConnections and ClientConnections work as on kfake (they cut the
// client's connection to the proxy, which then drops its broker connection).
// Real reports which mode a Cluster is in.
//
// What only kfake has: FailNext, InjectFault and DisconnectOnNext return
// ErrNeedsKfake, and Kfake returns nil. BrokerConfigs and
// TransactionMaxTimeout are not applied: the broker has the settings of
// scripts/kafka.sh (group.min.session.timeout.ms 200 ms, Kafka's 15 minute
// transaction.max.timeout.ms). Brokers and DefaultPartitionCount do not
// change the real cluster (new topics get the broker's 3 partitions unless
// CreateTopic says otherwise). A test that needs any of these starts its
// cluster with KfakeOnly(reason), which keeps it on kfake in both modes.
//
// # Differences between kfake and Kafka
//
// Found by running streamkit's tests against Apache Kafka 4.1 (KRaft):
//
//   - Kafka answers EndTxn once the decision is logged and writes the commit
//     or abort markers afterwards; until then a read_committed reader does
//     not see the transaction's records and OffsetFetch returns the offsets
//     from before it. kfake writes the markers before answering. The read
//     helpers and CommittedOffsets therefore first wait, on a real cluster,
//     until no transaction of the namespace is in PrepareCommit or
//     PrepareAbort (ListTransactions).
//   - A group-wide OffsetFetch (no topics named) with require_stable right
//     after such a commit returned the old offsets, not
//     UNSTABLE_OFFSET_COMMIT: require_stable does not replace that wait.
//   - Kafka answers CreateTopics before the new partitions have leaders and
//     before every broker's metadata knows the topic (UNKNOWN_TOPIC_OR_PARTITION
//     for a short while); kfake's topics are ready at once. CreateTopic and
//     seed topics wait for leaders on a real cluster.
//   - Kafka refuses InitProducerId when the producer's transaction timeout
//     exceeds transaction.max.timeout.ms, like kfake, but the maximum is one
//     broker setting for all tests; tests that show an abandoned transaction
//     being aborted ask their producer for a short timeout instead.
//   - Auto-created topics get the broker's num.partitions, not the
//     harness's DefaultPartitionCount.
//   - InitProducerId for a transactional ID whose previous producer left a
//     transaction open answers CONCURRENT_TRANSACTIONS until the broker has
//     aborted it (sarama retries); kfake aborts inline and answers at once.
//   - A transaction past its timeout is aborted by Kafka's periodic sweep
//     (transaction.abort.timed.out.transaction.cleanup.interval.ms,
//     scripts/kafka.sh sets 1 s; Kafka's default is 10 s), so later than
//     the timeout itself.
//   - When one broker of three dies, sends to the partitions it led block
//     until the producer learns the new leaders, several seconds with
//     sarama: long enough for a short transaction timeout to pass in Send.
//     kfake has no leader failover unless a test moves leaders itself.
//   - sarama speaking Kafka 2.4 (the job's group session) and 3.6 uses
//     request versions Kafka 4.1 still accepts (JoinGroup v6, OffsetFetch
//     v6, Fetch v11, Produce v9, InitProducerId v4, EndTxn v3, …): the
//     removal of old versions in Kafka 4.0 does not touch them.
//   - A group member killed while it waits in JoinGroup is never given a
//     session timer by kfake (the reply to its dead connection fails before
//     the timer is armed), so it can keep its partitions forever where Kafka
//     would expire it after the session timeout. Tests that kill group
//     members at random (the root package's kill tests) therefore use static
//     membership (Consumer.Group.InstanceId, one per instance) and a short
//     rebalance timeout, so that a restarted instance takes its own place
//     back. Set kfake's group.min.session.timeout.ms with BrokerConfigs to
//     test short session timeouts.
package kafkatest
