package kafkatest

import (
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Defaults of the cluster options. They are chosen for fast, deterministic
// unit tests on a loaded machine, not to mirror a production cluster.
const (
	// DefaultBrokers is the number of brokers: one, so that every request
	// of a test goes to the same place and a fixed port is enough for an
	// external client such as kcat.
	DefaultBrokers = 1
	// DefaultPartitions is the partition count of topics created without
	// an explicit count (seed topics with 0 partitions, auto-created topics).
	DefaultPartitions = 3
	// DefaultWaitTimeout bounds the WaitFor… helpers and the read helpers
	// when their context has no deadline of its own.
	DefaultWaitTimeout = 30 * time.Second
)

// DefaultKafkaVersion is the protocol version SaramaConfig asks sarama to
// speak. kfake only implements record batches (Produce v3+), so sarama must
// use at least V0_11_0_0; 3.6 is recent enough for KIP-447 transactional
// offset commits with group metadata and was verified against kfake with
// plain, group and transactional clients.
var DefaultKafkaVersion = sarama.V3_6_0_0

// Option configures a Cluster. Options are applied in order; a later option
// overrides an earlier one that sets the same thing.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type seedTopic struct {
	partitions int32
	topics     []string
}

type config struct {
	brokers       int
	ports         []int
	partitions    int
	seeds         []seedTopic
	autoCreate    bool
	brokerConfigs map[string]string
	kfakeOpts     []kfake.Opt
	version       sarama.KafkaVersion
	waitTimeout   time.Duration
	clusterID     string
	kfakeOnly     string
}

func defaultConfig() config {
	return config{
		brokers:     DefaultBrokers,
		partitions:  DefaultPartitions,
		version:     DefaultKafkaVersion,
		waitTimeout: DefaultWaitTimeout,
		clusterID:   "kafkatest",
	}
}

// validate reports the first option value that cannot work, so that a
// misconfigured test fails with a precise message instead of a broker that
// silently does something else.
func (c *config) validate() error {
	if len(c.ports) > 0 {
		if c.brokers != len(c.ports) {
			return fmt.Errorf("%w: %d brokers but %d fixed ports", ErrInvalidOption, c.brokers, len(c.ports))
		}
		seen := make(map[int]bool, len(c.ports))
		for _, p := range c.ports {
			if p <= 0 || p > 65535 {
				return fmt.Errorf("%w: port %d out of range 1..65535", ErrInvalidOption, p)
			}
			if seen[p] {
				return fmt.Errorf("%w: port %d given twice", ErrInvalidOption, p)
			}
			seen[p] = true
		}
	}
	if c.brokers < 1 {
		return fmt.Errorf("%w: %d brokers, need at least 1", ErrInvalidOption, c.brokers)
	}
	if c.partitions < 1 {
		return fmt.Errorf("%w: %d default partitions, need at least 1", ErrInvalidOption, c.partitions)
	}
	for _, s := range c.seeds {
		if s.partitions < 0 {
			return fmt.Errorf("%w: seed topics %v with %d partitions", ErrInvalidOption, s.topics, s.partitions)
		}
		for _, t := range s.topics {
			if err := validTopic(t); err != nil {
				return fmt.Errorf("%w: seed topic: %w", ErrInvalidOption, err)
			}
		}
	}
	if c.version.String() == "0.0.0.0" || !c.version.IsAtLeast(sarama.V0_11_0_0) {
		return fmt.Errorf("%w: Kafka version %s: kfake needs sarama to speak at least 0.11.0.0", ErrInvalidOption, c.version)
	}
	if c.waitTimeout <= 0 {
		return fmt.Errorf("%w: wait timeout %v must be positive", ErrInvalidOption, c.waitTimeout)
	}
	return nil
}

// Brokers sets the number of brokers (default DefaultBrokers). Several
// brokers let a test drop the connections of one broker only and spread
// partition leadership; kfake assigns node IDs 0..n-1.
func Brokers(n int) Option {
	return optionFunc(func(c *config) { c.brokers = n })
}

// Ports fixes the loopback ports of the brokers, one port per broker, and
// sets the number of brokers to len(ports). Without it the ports are chosen
// by the kernel. Fixed ports are what external clients such as kcat need,
// since they cannot be told a port chosen at run time before they start.
func Ports(ports ...int) Option {
	return optionFunc(func(c *config) {
		c.ports = append([]int(nil), ports...)
		c.brokers = len(ports)
	})
}

// DefaultPartitionCount sets the number of partitions of topics created
// without an explicit count (default DefaultPartitions).
func DefaultPartitionCount(n int) Option {
	return optionFunc(func(c *config) { c.partitions = n })
}

// SeedTopics creates topics when the cluster starts, with the given number
// of partitions (0 means the default partition count). It may be given
// several times.
func SeedTopics(partitions int32, topics ...string) Option {
	return optionFunc(func(c *config) {
		c.seeds = append(c.seeds, seedTopic{partitions: partitions, topics: append([]string(nil), topics...)})
	})
}

// AutoCreateTopics lets the brokers create a topic on first use, like a
// broker with auto.create.topics.enable=true. It is off by default so that a
// test producing to a misspelled topic fails instead of passing on an empty
// topic.
func AutoCreateTopics() Option {
	return optionFunc(func(c *config) { c.autoCreate = true })
}

// TransactionMaxTimeout sets the broker's transaction.max.timeout.ms
// (kfake's default is 15 minutes). kfake aborts a transaction that stays
// open longer than the producer's transaction timeout, so a short maximum
// lets a test show what happens to a transaction left open across a long
// outage without waiting for the production default.
func TransactionMaxTimeout(d time.Duration) Option {
	return BrokerConfigs(map[string]string{"transaction.max.timeout.ms": strconv.FormatInt(d.Milliseconds(), 10)})
}

// BrokerConfigs passes broker configuration keys through to kfake (see
// kfake.BrokerConfigs for the keys it understands). It may be given several
// times; later values win.
func BrokerConfigs(configs map[string]string) Option {
	return optionFunc(func(c *config) {
		if c.brokerConfigs == nil {
			c.brokerConfigs = make(map[string]string, len(configs))
		}
		maps.Copy(c.brokerConfigs, configs)
	})
}

// KfakeOptions passes raw kfake options through, for what this package does
// not wrap (SASL, TLS, ACLs, a logger). They are applied after the options
// derived from this package's own, so they win on conflicts, with two
// exceptions that the harness needs to work: kfake.ListenFn (used to track
// connections for DropConnections) and kfake.Ports (use Ports instead).
func KfakeOptions(opts ...kfake.Opt) Option {
	return optionFunc(func(c *config) { c.kfakeOpts = append(c.kfakeOpts, opts...) })
}

// KafkaVersion sets the protocol version SaramaConfig configures (default
// DefaultKafkaVersion). It must be at least sarama.V0_11_0_0.
func KafkaVersion(v sarama.KafkaVersion) Option {
	return optionFunc(func(c *config) { c.version = v })
}

// WaitTimeout sets how long the WaitFor… and read helpers wait when their
// context has no deadline (default DefaultWaitTimeout).
func WaitTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.waitTimeout = d })
}

// ClusterID sets the cluster ID the brokers report (default "kafkatest").
func ClusterID(id string) Option {
	return optionFunc(func(c *config) { c.clusterID = id })
}

// KfakeOnly keeps the cluster on kfake even when BrokersEnv names a real
// Kafka cluster, for a test that needs what only kfake offers (fault
// injection with FailNext, InjectFault or DisconnectOnNext, Kfake's
// controls, kfake's own TLS or SASL). reason says which, in a few words; it
// must not be empty. KfakeOptions implies it.
func KfakeOnly(reason string) Option {
	return optionFunc(func(c *config) {
		c.kfakeOnly = reason
		if reason == "" {
			c.kfakeOnly = "(no reason given)"
		}
	})
}
