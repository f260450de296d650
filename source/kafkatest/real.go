package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokersEnv is the environment variable that switches the harness from
// kfake to a real Kafka cluster: a comma-separated list of the brokers'
// host:port (scripts/kafka.sh env prints it). Each Cluster is then a
// namespace of its own on that cluster: the topics, groups and
// transactional IDs of a test are prefixed with a name unique to the
// Cluster on their way to the brokers, behind a local proxy, so that tests
// keep their fixed names and never see each other's data.
const BrokersEnv = "STREAMKIT_KAFKA_BROKERS"

// ErrNeedsKfake is returned by the fault helpers (FailNext, InjectFault,
// DisconnectOnNext) on a real cluster: start the test's cluster with
// KfakeOnly.
var ErrNeedsKfake = errors.New("kafkatest: this helper needs kfake: start the cluster with kafkatest.KfakeOnly(reason)")

// startReal starts a namespace on the real cluster at seeds.
func startReal(cfg config, seeds []string) (*Cluster, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("kafkatest: namespace name: %w", err)
	}
	tracker := newConnTracker()
	p := newNSProxy("kt"+hex.EncodeToString(b[:])+"-", cfg.autoCreate, tracker)
	c := &Cluster{cfg: cfg, proxy: p, conns: tracker}
	for i, s := range seeds {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		port := 0
		if i < len(cfg.ports) {
			port = cfg.ports[i]
		}
		p.seeds = append(p.seeds, s)
		pl, err := p.listen(s, port)
		if err != nil {
			p.close()
			return nil, err
		}
		c.addrs = append(c.addrs, pl.addr)
	}
	if len(c.addrs) == 0 {
		p.close()
		return nil, fmt.Errorf("%w: %s=%q names no broker", ErrInvalidOption, BrokersEnv, strings.Join(seeds, ","))
	}
	if err := c.newClient(); err != nil {
		p.close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.waitTimeout)
	defer cancel()
	for _, s := range cfg.seeds {
		for _, t := range s.topics {
			if err := c.CreateTopic(ctx, t, int(s.partitions)); err != nil && !errors.Is(err, ErrTopicExists) {
				c.Close()
				return nil, fmt.Errorf("kafkatest: seed topic on %s: %w", BrokersEnv, err)
			}
		}
	}
	return c, nil
}

// deleteNamespace deletes the topics of a real cluster's namespace, best
// effort, so that a long test run does not pile partitions up on the broker.
func (c *Cluster) deleteNamespace() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, c.cl)
	if err != nil {
		return
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 5000
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		req.TopicNames = append(req.TopicNames, *t.Topic)
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = t.Topic
		req.Topics = append(req.Topics, rt)
	}
	if len(req.TopicNames) > 0 {
		_, _ = req.RequestWith(ctx, c.cl)
	}
}

// waitGroupStableReal is WaitForGroupStable on a real cluster: it polls
// DescribeGroups.
func (c *Cluster) waitGroupStableReal(ctx context.Context, group string, members int) error {
	return c.poll(ctx, fmt.Sprintf("group %q stable with %d members", group, members), func(ctx context.Context) (bool, string, error) {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(ctx, c.cl)
		if err != nil {
			return false, err.Error(), nil
		}
		if len(resp.Groups) != 1 {
			return false, "no such group", nil
		}
		g := resp.Groups[0]
		if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
			return false, err.Error(), nil
		}
		seen := fmt.Sprintf("state %s with %d members", g.State, len(g.Members))
		return g.State == "Stable" && len(g.Members) == members, seen, nil
	})
}

// settleTransactions waits, on a real cluster, until no transaction of the
// namespace is between its EndTxn and the end of its commit or abort
// markers. A real broker answers EndTxn as soon as it has logged the
// decision and writes the markers afterwards; until they are written, a
// read_committed reader does not see the transaction's records, and the
// group coordinator still returns the offsets committed before it. kfake
// writes the markers before it answers. Waiting here makes "commit, then
// read" mean the same on both. It returns at once on kfake.
func (c *Cluster) settleTransactions(ctx context.Context) error {
	if !c.Real() {
		return nil
	}
	return c.poll(ctx, "transactions to finish committing or aborting", func(ctx context.Context) (bool, string, error) {
		req := kmsg.NewPtrListTransactionsRequest()
		req.StateFilters = []string{"PrepareCommit", "PrepareAbort", "PrepareEpochFence"}
		var busy []string
		for _, sh := range c.cl.RequestSharded(ctx, req) {
			if sh.Err != nil {
				return false, sh.Err.Error(), nil
			}
			resp := sh.Resp.(*kmsg.ListTransactionsResponse)
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return false, err.Error(), nil
			}
			for _, ts := range resp.TransactionStates {
				busy = append(busy, ts.TransactionalID+" "+ts.TransactionState)
			}
		}
		return len(busy) == 0, strings.Join(busy, ", "), nil
	})
}

// Direct returns how a client that must not depend on the harness (an
// independent reader such as kcat) reaches topic: the brokers' addresses and
// the topic's name there. On kfake these are Addrs and topic itself; on a
// real cluster they are the real brokers and the namespaced name, so that
// the namespacing proxy is not between that client and Kafka.
func (c *Cluster) Direct(topic string) (brokers []string, name string) {
	if c.proxy == nil {
		return c.Addrs(), topic
	}
	return append([]string(nil), c.proxy.seeds...), c.proxy.in(topic)
}

// waitTopicEverywhere waits until every broker's metadata has topic with a
// leader for each partition. Kafka answers CreateTopics before that, and
// each broker learns of the topic on its own time: a client asking another
// broker right after the creation is told UNKNOWN_TOPIC_OR_PARTITION.
func (c *Cluster) waitTopicEverywhere(ctx context.Context, topic string) error {
	return c.poll(ctx, fmt.Sprintf("topic %q known to every broker", topic), func(ctx context.Context) (bool, string, error) {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, c.cl)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, b := range resp.Brokers {
			r, err := c.cl.Broker(int(b.NodeID)).Request(ctx, req)
			if err != nil {
				return false, fmt.Sprintf("broker %d: %v", b.NodeID, err), nil
			}
			m := r.(*kmsg.MetadataResponse)
			if len(m.Topics) != 1 || m.Topics[0].ErrorCode != 0 || len(m.Topics[0].Partitions) == 0 {
				return false, fmt.Sprintf("broker %d does not know it yet", b.NodeID), nil
			}
			for _, p := range m.Topics[0].Partitions {
				if p.ErrorCode != 0 || p.Leader < 0 {
					return false, fmt.Sprintf("broker %d: partition %d has no leader", b.NodeID, p.Partition), nil
				}
			}
		}
		return true, "", nil
	})
}
