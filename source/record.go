package source

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TopicPartition names one partition of a topic. It is the key of positions,
// watermarks and pause state.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "topic/partition".
func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Positions maps a partition to the next offset to read from it: the offset
// of the last record delivered plus one (Kafka's committed-offset
// convention). Snapshots store them and Seek restores them.
type Positions map[TopicPartition]int64

// Sorted returns the partitions in (topic, partition) order, for stable logs
// and deterministic iteration.
func (p Positions) Sorted() []TopicPartition {
	return sortedTPs(slices.Collect(maps.Keys(p)))
}

// Strings returns the positions keyed "topic/partition": the form a
// checkpoint manifest stores, since the checkpoint package does not know
// Kafka. ParsePositions reverses it.
func (p Positions) Strings() map[string]int64 {
	out := make(map[string]int64, len(p))
	for tp, off := range p {
		out[tp.String()] = off
	}
	return out
}

// Within returns the positions of the partitions in parts only.
func (p Positions) Within(parts Partitions) Positions {
	out := make(Positions)
	for topic, ps := range parts {
		for _, part := range ps {
			tp := TopicPartition{Topic: topic, Partition: part}
			if off, ok := p[tp]; ok {
				out[tp] = off
			}
		}
	}
	return out
}

// ErrBadPositionKey is returned by ParsePositions for a key that is not
// "topic/partition".
var ErrBadPositionKey = errors.New("source: position key is not topic/partition")

// ParsePositions reads positions keyed "topic/partition", as Strings writes
// them. The topic is everything before the last '/', so topic names may
// contain '/'.
func ParsePositions(m map[string]int64) (Positions, error) {
	out := make(Positions, len(m))
	for k, off := range m {
		i := strings.LastIndexByte(k, '/')
		if i <= 0 {
			return nil, fmt.Errorf("%w: %q", ErrBadPositionKey, k)
		}
		p, err := strconv.ParseInt(k[i+1:], 10, 32)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("%w: %q", ErrBadPositionKey, k)
		}
		out[TopicPartition{Topic: k[:i], Partition: int32(p)}] = off
	}
	return out, nil
}

// Partitions is a set of partitions by topic: what a task owns, or what a
// reader of commit points asks about.
type Partitions map[string][]int32

// Has reports whether tp is in the set.
func (ps Partitions) Has(tp TopicPartition) bool {
	return slices.Contains(ps[tp.Topic], tp.Partition)
}

func sortedTPs(tps []TopicPartition) []TopicPartition {
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
	return tps
}

// Header is one Kafka record header.
type Header struct {
	Key, Value []byte
}

// Record is one Kafka record with its full provenance, so that a record the
// job cannot process can go to a dead-letter sink exactly as it was read.
// Key, Value and header bytes belong to the caller.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	// Timestamp is the record's Kafka timestamp (create or log-append time).
	Timestamp time.Time
	// EventTime is the time the watermark logic used: Timestamp by default,
	// or what the WithEventTime extractor returned (zero: unknown, does not
	// advance the watermark).
	EventTime time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// TopicPartition returns the record's partition.
func (r *Record) TopicPartition() TopicPartition {
	return TopicPartition{Topic: r.Topic, Partition: r.Partition}
}

// HeaderValue returns the value of the first header named key.
func (r *Record) HeaderValue(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if string(h.Key) == key {
			return h.Value, true
		}
	}
	return nil, false
}
