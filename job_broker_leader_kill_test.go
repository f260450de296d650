package streamkit_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source/kafkatest"
)

// TestJobSurvivesLeaderKill kills, in a three-broker cluster (replication
// 3, min.insync.replicas 2), the one broker a running job depends on most
// for each part of its exactly-once protocol, and checks each time that
// the output stays exactly once (see TestJobSurvivesBrokerKill, whose run
// it shares: the counting child job, a kill while a transaction holds
// records, the brokers' restart, more input, drain, verify, kcat):
//
//   - OutputLeader: the leader of the output partition task 0 writes to;
//   - TransactionCoordinator: the leader of the __transaction_state
//     partition holding task 0's transactional ID, which coordinates its
//     transactions;
//   - GroupCoordinator: the leader of the __consumer_offsets partition of
//     the job's consumer group, which holds its committed offsets and
//     commit points.
//
// The leaders are asked of the brokers just before the kill: a coordinator
// through FindCoordinator, checked against the leader of the partition
// abs(javaStringHash(id)) % partitions of the internal topic, which is how
// Kafka places transactional IDs and groups. The job is never restarted by
// the test unless it exits; the time from the kill to the first new
// committed output is logged.
//
// It needs STREAMKIT_KAFKA_BROKERS naming a cluster of three brokers
// (scripts/kafka.sh start-cluster) and STREAMKIT_KAFKA_SCRIPT, and runs
// alone, like TestJobSurvivesBrokerKill.
func TestJobSurvivesLeaderKill(t *testing.T) {
	script := os.Getenv("STREAMKIT_KAFKA_SCRIPT")
	brokers := os.Getenv(kafkatest.BrokersEnv)
	if brokers == "" || script == "" || len(strings.Split(brokers, ",")) < 3 {
		t.Skip("needs a three-broker cluster it may kill: set STREAMKIT_KAFKA_BROKERS (scripts/kafka.sh start-cluster) and STREAMKIT_KAFKA_SCRIPT (scripts/kafka.sh)")
	}
	bin := buildTestJob(t)
	t.Run("OutputLeader", func(t *testing.T) {
		testBrokerKill(t, bin, script, func(env *killEnv) (string, string) {
			adm, name := leaderAdmin(t, env, "out")
			node := partitionLeader(t, env.ctx, adm, name, 0)
			return strconv.Itoa(int(node)), fmt.Sprintf("leader of output partition %s/0 (node %d)", name, node)
		})
	})
	t.Run("TransactionCoordinator", func(t *testing.T) {
		testBrokerKill(t, bin, script, func(env *killEnv) (string, string) {
			adm, name := leaderAdmin(t, env, streamkit.TaskNamespace(killJobName, 0))
			node, part := coordinatorOf(t, env.ctx, adm, name, "__transaction_state", 1)
			return strconv.Itoa(int(node)), fmt.Sprintf("transaction coordinator of %q: leader of __transaction_state/%d (node %d)", name, part, node)
		})
	})
	t.Run("GroupCoordinator", func(t *testing.T) {
		testBrokerKill(t, bin, script, func(env *killEnv) (string, string) {
			adm, name := leaderAdmin(t, env, killJobName)
			node, part := coordinatorOf(t, env.ctx, adm, name, "__consumer_offsets", 0)
			return strconv.Itoa(int(node)), fmt.Sprintf("group coordinator of %q: leader of __consumer_offsets/%d (node %d)", name, part, node)
		})
	})
}

// leaderAdmin returns a client of the real brokers (not through the
// harness's namespacing proxy) and the name the brokers know for name in
// env's namespace (topics, groups and transactional IDs share the prefix).
func leaderAdmin(t *testing.T, env *killEnv, name string) (*kgo.Client, string) {
	t.Helper()
	brokers, out := env.cl.Direct("out")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl, strings.TrimSuffix(out, "out") + name
}

// partitionLeader returns the leader of topic/partition.
func partitionLeader(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, partition int32) int32 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Len(t, resp.Topics, 1)
	require.NoError(t, kerr.ErrorForCode(resp.Topics[0].ErrorCode), "metadata of %s", topic)
	for _, p := range resp.Topics[0].Partitions {
		if p.Partition == partition {
			require.NoError(t, kerr.ErrorForCode(p.ErrorCode), "metadata of %s/%d", topic, partition)
			require.GreaterOrEqual(t, p.Leader, int32(0), "%s/%d has no leader", topic, partition)
			return p.Leader
		}
	}
	t.Fatalf("no partition %d in the metadata of %s", partition, topic)
	return -1
}

// coordinatorOf returns the coordinator of key (keyType 0: group, 1:
// transactional ID) as FindCoordinator names it, after checking that it is
// the leader of the partition of internal that Kafka places key in; it
// also returns that partition.
func coordinatorOf(t *testing.T, ctx context.Context, cl *kgo.Client, key, internal string, keyType int8) (node, partition int32) {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = keyType
	req.CoordinatorKey = key
	req.CoordinatorKeys = []string{key}
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	node = resp.NodeID
	code := resp.ErrorCode
	if len(resp.Coordinators) == 1 {
		node, code = resp.Coordinators[0].NodeID, resp.Coordinators[0].ErrorCode
	}
	require.NoError(t, kerr.ErrorForCode(code), "FindCoordinator %q", key)
	n, err := partitionCount(ctx, cl, internal)
	require.NoError(t, err)
	partition = coordinatorPartition(key, n)
	require.Equal(t, partitionLeader(t, ctx, cl, internal, partition), node,
		"FindCoordinator %q vs the leader of %s/%d", key, internal, partition)
	return node, partition
}

// partitionCount returns the number of partitions of topic.
func partitionCount(ctx context.Context, cl *kgo.Client, topic string) (int, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return 0, fmt.Errorf("no metadata for %s", topic)
	}
	return len(resp.Topics[0].Partitions), nil
}

// coordinatorPartition is the partition of __transaction_state or
// __consumer_offsets that Kafka places a transactional ID or group in:
// abs(id.hashCode()) % partitions, with Java's String.hashCode and
// Kafka's Utils.abs (which maps MinInt32 to 0).
func coordinatorPartition(id string, partitions int) int32 {
	h := javaStringHash(id)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % int32(partitions)
}

// javaStringHash is Java's String.hashCode: s[0]*31^(n-1) + … + s[n-1]
// over the UTF-16 code units, in int32 arithmetic.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 { // a surrogate pair
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + r
	}
	return h
}

// TestCoordinatorPartition checks the placement against values computed
// by Java 17 (String.hashCode, then Kafka's abs and modulo 10).
func TestCoordinatorPartition(t *testing.T) {
	for _, c := range []struct {
		id   string
		hash int32
		part int32
	}{
		{"", 0, 0},
		{"hello", 99162322, 2},
		{"testjob.task-0", -540741813, 3},
		{"\U0001F600", 1772899, 9}, // a surrogate pair in Java
		{"kt0123456789-testjob", -2100531380, 0},
	} {
		assert.Equal(t, c.hash, javaStringHash(c.id), "hash of %q", c.id)
		assert.Equal(t, c.part, coordinatorPartition(c.id, 10), "partition of %q", c.id)
	}
}
