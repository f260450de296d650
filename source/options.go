package source

import (
	"context"
	"crypto/tls"
	"log/slog"
	"maps"
	"time"

	"github.com/IBM/sarama"
)

// DefaultBufferSize is the default bound on records the source holds between
// sarama and Poll (see WithBufferSize).
const DefaultBufferSize = 4096

// StartPosition says where a partition starts when the group has no
// committed offset for it and no position was restored with Seek. Build one
// with StartEarliest, StartLatest, StartAtTimestamp or StartAtOffsets.
type StartPosition struct {
	kind      startKind
	millis    int64
	offsets   Positions
	otherwise *StartPosition
}

type startKind int

const (
	startEarliest startKind = iota
	startLatest
	startTimestamp
	startOffsets
)

// StartEarliest starts at the oldest retained record (the default).
func StartEarliest() StartPosition { return StartPosition{kind: startEarliest} }

// StartLatest starts after the last record: only new records are read.
func StartLatest() StartPosition { return StartPosition{kind: startLatest} }

// StartAtTimestamp starts at the first record whose timestamp is at or
// after millis, milliseconds since the Unix epoch (Kafka's unit, and the
// unit of the WDQS updater's start-time setting). A partition with no such
// record starts at its end.
func StartAtTimestamp(millis int64) StartPosition {
	return StartPosition{kind: startTimestamp, millis: millis}
}

// StartAtOffsets starts each listed partition at its offset; partitions not
// listed use otherwise.
func StartAtOffsets(offsets Positions, otherwise StartPosition) StartPosition {
	o := otherwise
	return StartPosition{kind: startOffsets, offsets: maps.Clone(offsets), otherwise: &o}
}

// Hook is called with partitions being assigned to or revoked from this
// member; see the package documentation for when and on which goroutine.
type Hook func(ctx context.Context, partitions []TopicPartition) error

// EventTimeFunc extracts a record's event time; the zero time means
// unknown (the record does not advance its partition's watermark).
type EventTimeFunc func(r *Record) time.Time

type options struct {
	base        *sarama.Config
	configure   []func(*sarama.Config)
	start       StartPosition
	bufferSize  int
	onAssigned  Hook
	onRevoked   Hook
	lateness    time.Duration
	idleTimeout time.Duration
	eventTime   EventTimeFunc
	now         func() time.Time
	logger      *slog.Logger
	uncommitted bool
}

// Option configures a Kafka source.
type Option func(*options)

// WithBaseConfig makes cfg the starting point of the sarama configuration
// instead of sarama.NewConfig() (for instance kafkatest's SaramaConfig).
// The source takes ownership of cfg and adjusts it as NewKafka documents.
func WithBaseConfig(cfg *sarama.Config) Option {
	return func(o *options) { o.base = cfg }
}

// WithSaramaConfig lets fn adjust the sarama configuration (version, fetch
// sizes, rebalance timeouts, SASL/SCRAM, …) after the source's defaults and
// before its invariants are enforced. Several calls apply in order.
func WithSaramaConfig(fn func(*sarama.Config)) Option {
	return func(o *options) {
		if fn != nil {
			o.configure = append(o.configure, fn)
		}
	}
}

// WithTLS connects to the brokers with TLS using cfg (production Kafka at
// the Wikimedia Foundation requires it).
func WithTLS(cfg *tls.Config) Option {
	return WithSaramaConfig(func(c *sarama.Config) {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = cfg
	})
}

// WithSASLPlain authenticates with SASL/PLAIN; combine it with WithTLS.
// Other mechanisms (SCRAM, OAUTHBEARER) need client callbacks and are set
// with WithSaramaConfig.
func WithSASLPlain(user, password string) Option {
	return WithSaramaConfig(func(c *sarama.Config) {
		c.Net.SASL.Enable = true
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		c.Net.SASL.User = user
		c.Net.SASL.Password = password
	})
}

// WithStartPosition sets where partitions without a committed or restored
// position start. Default: StartEarliest.
func WithStartPosition(p StartPosition) Option {
	return func(o *options) { o.start = p }
}

// WithBufferSize bounds the records taken from sarama but not yet returned
// by Poll (including records held back for paused partitions); when it is
// full, sarama stops fetching (backpressure). Default DefaultBufferSize.
// sarama adds its own bounded buffers per partition
// (Consumer.ChannelBufferSize records and Consumer.Fetch.Default bytes).
func WithBufferSize(n int) Option {
	return func(o *options) { o.bufferSize = n }
}

// WithOnAssigned sets the hook called when partitions are assigned, before
// any of their records is delivered: load per-partition state there, and
// Seek to the positions the state belongs to.
func WithOnAssigned(h Hook) Option { return func(o *options) { o.onAssigned = h } }

// WithOnRevoked sets the hook called when partitions are taken away by a
// rebalance, after their last record was delivered and before another
// member can get them: checkpoint (commit) their state there.
func WithOnRevoked(h Hook) Option { return func(o *options) { o.onRevoked = h } }

// WithWatermarks sets the allowed lateness (a partition's watermark is the
// maximum event time seen minus lateness) and the idle timeout (a partition
// that delivered nothing for that long no longer holds the combined
// watermark back; zero disables idleness). Defaults: 0 and 1 minute.
func WithWatermarks(lateness, idleTimeout time.Duration) Option {
	return func(o *options) {
		o.lateness = lateness
		o.idleTimeout = idleTimeout
	}
}

// WithEventTime sets the event-time extractor. Default: the record's Kafka
// timestamp.
func WithEventTime(fn EventTimeFunc) Option { return func(o *options) { o.eventTime = fn } }

// WithClock replaces time.Now for idleness decisions (tests use a fake
// clock so that no test sleeps).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the logger for consumer errors and rebalances. Default:
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithReadUncommitted reads with read_uncommitted isolation. The default,
// read_committed, is what exactly-once needs: records of aborted or open
// transactions are never delivered.
func WithReadUncommitted() Option { return func(o *options) { o.uncommitted = true } }
