package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The namespacing proxy, with a kfake cluster standing in for the shared
// real one: two namespaces use the same topic, group and transactional ID
// names and see nothing of each other, through sarama as through the
// harness's own helpers.
func TestNamespacesAreIsolated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	shared := NewCluster(t, KfakeOnly("the shared cluster behind the namespaces"))
	ns := func() *Cluster {
		c, err := startReal(defaultConfig(), shared.Addrs())
		require.NoError(t, err)
		t.Cleanup(c.Close)
		require.True(t, c.Real())
		require.NoError(t, c.CreateTopic(ctx, "out", 2))
		return c
	}
	a, b := ns(), ns()
	require.NotEqual(t, a.proxy.prefix, b.proxy.prefix)

	// The same transactional ID in both: neither fences the other.
	write := func(c *Cluster, value string) {
		p, err := sarama.NewSyncProducer(c.Addrs(), c.SaramaConfig(TransactionalID("tx")))
		require.NoError(t, err)
		defer func() { _ = p.Close() }()
		require.NoError(t, p.BeginTxn())
		_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: "out", Value: sarama.StringEncoder(value)})
		require.NoError(t, err)
		require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{"out": {{Partition: 0, Offset: 1}}}, "job"))
		require.NoError(t, p.CommitTxn())
	}
	pa, err := sarama.NewSyncProducer(a.Addrs(), a.SaramaConfig(TransactionalID("tx")))
	require.NoError(t, err)
	t.Cleanup(func() { _ = pa.Close() })
	write(b, "from-b")
	require.NoError(t, pa.BeginTxn())
	_, _, err = pa.SendMessage(&sarama.ProducerMessage{Topic: "out", Value: sarama.StringEncoder("from-a")})
	require.NoError(t, err)
	require.NoError(t, pa.CommitTxn(), "b's producer with the same transactional ID did not fence a's")

	for c, want := range map[*Cluster]string{a: "from-a", b: "from-b"} {
		rs, err := c.ReadCommitted(ctx, "out")
		require.NoError(t, err)
		require.Len(t, rs, 1)
		assert.Equal(t, want, string(rs[0].Value))
		assert.Equal(t, "out", rs[0].Topic)
	}
	offs, err := a.CommittedOffsets(ctx, "job")
	require.NoError(t, err)
	assert.Empty(t, offs, "b's group offsets are not a's")
	offs, err = b.CommittedOffsets(ctx, "job")
	require.NoError(t, err)
	assert.Equal(t, map[TopicPartition]CommittedOffset{{Topic: "out", Partition: 0}: {Offset: 1}}, offs)

	// sarama's view of the cluster: only the namespace's topics, under
	// their short names, and brokers at the proxy's addresses.
	client, err := sarama.NewClient(a.Addrs(), a.SaramaConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	topics, err := client.Topics()
	require.NoError(t, err)
	assert.Equal(t, []string{"out"}, topics)
	for _, br := range client.Brokers() {
		assert.Contains(t, a.Addrs(), br.Addr())
	}

	// The topics behind the namespace, straight on the shared cluster.
	brokers, name := a.Direct("out")
	assert.Equal(t, shared.Addrs(), brokers)
	assert.Equal(t, a.proxy.prefix+"out", name)
	rs, err := shared.ReadCommitted(ctx, name)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	assert.Equal(t, "from-a", string(rs[0].Value))

	// A dropped connection is the proxy's to cut, and clients come back.
	require.Positive(t, a.DropConnections())
	require.NoError(t, a.Produce(ctx, "out", Record{Value: []byte("after-drop")}))
	rs, err = a.WaitForRecords(ctx, "out", 2)
	require.NoError(t, err)
	assert.Len(t, rs, 2)

	// Close deletes the namespace's topics.
	a.Close()
	_, err = shared.Partitions(ctx, name)
	assert.ErrorIs(t, err, ErrUnknownTopic)
}
