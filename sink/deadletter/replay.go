package deadletter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// ErrNotDeadLetter is returned by Replay for a record of the dead-letter
// topic that lacks the provenance headers DeadLetter writes (so it cannot
// be put back where it came from).
var ErrNotDeadLetter = errors.New("deadletter: record is not a streamkit dead letter")

// ReplayFilter selects dead letters to replay. Empty fields select all; a
// record must match every non-empty field.
type ReplayFilter struct {
	// Topics are original topics (HeaderDLQTopic).
	Topics []string
	// Stages are failing stages (HeaderDLQStage).
	Stages []string
	// ErrorClasses are error classes (HeaderDLQErrorClass).
	ErrorClasses []string
	// FailedFrom and FailedTo bound when the record was dead-lettered
	// (HeaderDLQFailedAt), FailedFrom inclusive, FailedTo exclusive; the
	// zero time leaves that side open. "Replay what failed during the
	// incident" is the usual question after a fix.
	FailedFrom, FailedTo time.Time
}

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// Filter selects the dead letters to replay.
	Filter ReplayFilter
	// Topic is where the records go; empty means back to each record's
	// original topic.
	Topic string
	// KeepPartition sends each record to its original partition instead of
	// the partition chosen from its key.
	KeepPartition bool
	// KeepProvenance keeps the streamkit.dlq.* headers on the replayed
	// records (a replayed record that fails again then carries its history);
	// by default they are stripped and the record's headers are exactly the
	// original ones.
	KeepProvenance bool
}

// ReplayStats says what Replay did.
type ReplayStats struct {
	// Read is the number of dead letters read.
	Read int
	// Replayed is the number sent back.
	Replayed int
	// Skipped is the number the filter left out.
	Skipped int
}

// Replay reads the dead-letter topic dlqTopic from the start of each
// partition up to its last stable offset at the time of the call, with
// read_committed isolation (dead letters of aborted checkpoints are never
// replayed), and sends the records the filter selects through out with
// their original key, value, headers and timestamp restored.
//
// Replay only sends: to make a replay atomic, call it inside a transaction
// of a Kafka sink (Begin, Replay, Commit(ctx, nil, "")). Replay does not
// remove anything from the dead-letter topic; run it once per incident, or
// narrow it with FailedFrom/FailedTo. A record without provenance headers
// stops the replay with ErrNotDeadLetter, naming it.
func Replay(ctx context.Context, client sarama.Client, dlqTopic string, out streamkit.RecordSender, opts ReplayOptions) (ReplayStats, error) {
	var st ReplayStats
	if dlqTopic == "" {
		return st, errors.New("deadletter: replay: empty dead-letter topic")
	}
	if out == nil {
		return st, errors.New("deadletter: replay: nil sender")
	}
	parts, err := client.Partitions(dlqTopic)
	if err != nil {
		return st, fmt.Errorf("deadletter: replay: partitions of %q: %w", dlqTopic, err)
	}
	for _, p := range parts {
		err := readCommitted(ctx, client, dlqTopic, p, func(r source.Record) error {
			st.Read++
			rec, ok, err := restoreDeadLetter(r, opts)
			if err != nil {
				return err
			}
			if !ok {
				st.Skipped++
				return nil
			}
			if err := out.Send(ctx, rec); err != nil {
				return fmt.Errorf("deadletter: replay %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			st.Replayed++
			return nil
		})
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// restoreDeadLetter turns a dead letter back into the original record; ok
// is false if the filter leaves it out.
func restoreDeadLetter(r source.Record, opts ReplayOptions) (streamkit.KafkaRecord, bool, error) {
	var orig streamkit.KafkaRecord
	var topic, stage, class string
	var partition, ts, failedAt int64 = -1, -1, -1
	var haveKey bool
	bad := func(what string) error {
		return fmt.Errorf("%w: %s/%d@%d: %s", ErrNotDeadLetter, r.Topic, r.Partition, r.Offset, what)
	}
	num := func(h streamkit.KafkaHeader, dst *int64) error {
		v, err := strconv.ParseInt(string(h.Value), 10, 64)
		if err != nil {
			return bad(fmt.Sprintf("header %s=%q is not a number", h.Key, h.Value))
		}
		*dst = v
		return nil
	}
	for _, rh := range r.Headers {
		h := streamkit.KafkaHeader{Key: string(rh.Key), Value: rh.Value}
		if !strings.HasPrefix(h.Key, streamkit.DeadLetterHeaderPrefix) {
			orig.Headers = append(orig.Headers, h)
			continue
		}
		if opts.KeepProvenance {
			orig.Headers = append(orig.Headers, h)
		}
		var err error
		switch h.Key {
		case streamkit.HeaderDLQTopic:
			topic = string(h.Value)
		case streamkit.HeaderDLQPartition:
			err = num(h, &partition)
		case streamkit.HeaderDLQTimestamp:
			err = num(h, &ts)
		case streamkit.HeaderDLQFailedAt:
			err = num(h, &failedAt)
		case streamkit.HeaderDLQKey:
			orig.Key, haveKey = append([]byte{}, h.Value...), true
		case streamkit.HeaderDLQStage:
			stage = string(h.Value)
		case streamkit.HeaderDLQErrorClass:
			class = string(h.Value)
		}
		if err != nil {
			return orig, false, err
		}
	}
	if topic == "" || partition < 0 {
		return orig, false, bad("no " + streamkit.HeaderDLQTopic + " or " + streamkit.HeaderDLQPartition + " header")
	}
	f := opts.Filter
	switch {
	case len(f.Topics) > 0 && !slices.Contains(f.Topics, topic),
		len(f.Stages) > 0 && !slices.Contains(f.Stages, stage),
		len(f.ErrorClasses) > 0 && !slices.Contains(f.ErrorClasses, class):
		return orig, false, nil
	}
	if !f.FailedFrom.IsZero() || !f.FailedTo.IsZero() {
		if failedAt < 0 {
			return orig, false, bad("no " + streamkit.HeaderDLQFailedAt + " header to filter on")
		}
		at := time.UnixMilli(failedAt)
		if (!f.FailedFrom.IsZero() && at.Before(f.FailedFrom)) || (!f.FailedTo.IsZero() && !at.Before(f.FailedTo)) {
			return orig, false, nil
		}
	}
	if !haveKey {
		orig.Key = nil
	}
	orig.Topic = topic
	if opts.Topic != "" {
		orig.Topic = opts.Topic
	}
	if opts.KeepPartition {
		orig.Partition, orig.FixedPartition = int32(partition), true
	}
	orig.Value = r.Value
	if ts >= 0 {
		orig.Timestamp = time.UnixMilli(ts)
	}
	return orig, true, nil
}

// readCommitted calls fn for each record of topic/partition, from the log
// start up to the last stable offset seen by the first fetch, the way a
// read_committed consumer sees them: aborted transactions and control
// records are skipped. It fetches directly (not with sarama's consumer) so
// that it knows when it has reached the end even if the partition ends in a
// transaction marker.
func readCommitted(ctx context.Context, client sarama.Client, topic string, partition int32, fn func(source.Record) error) error {
	offset, err := client.GetOffset(topic, partition, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("deadletter: replay: start of %s/%d: %w", topic, partition, err)
	}
	end := int64(-1)
	maxBytes := int32(1 << 20)
	for end < 0 || offset < end {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deadletter: replay %s/%d at %d: %w", topic, partition, offset, err)
		}
		leader, err := client.Leader(topic, partition)
		if err != nil {
			return fmt.Errorf("deadletter: replay: leader of %s/%d: %w", topic, partition, err)
		}
		req := &sarama.FetchRequest{Version: 4, Isolation: sarama.ReadCommitted, MaxWaitTime: 100, MinBytes: 1, MaxBytes: maxBytes}
		req.AddBlock(topic, partition, offset, maxBytes, -1)
		resp, err := leader.Fetch(req)
		if err != nil {
			return fmt.Errorf("deadletter: replay: fetch %s/%d at %d: %w", topic, partition, offset, err)
		}
		b := resp.GetBlock(topic, partition)
		if b == nil {
			return fmt.Errorf("deadletter: replay: fetch %s/%d at %d: no answer for the partition", topic, partition, offset)
		}
		if b.Err != sarama.ErrNoError {
			return fmt.Errorf("deadletter: replay: fetch %s/%d at %d: %w", topic, partition, offset, b.Err)
		}
		if end < 0 {
			end = b.LastStableOffset
			if end < 0 {
				end = b.HighWaterMarkOffset
			}
		}
		aborted := slices.Clone(b.AbortedTransactions)
		slices.SortFunc(aborted, func(x, y *sarama.AbortedTransaction) int { return int(x.FirstOffset - y.FirstOffset) })
		abortedProducers := map[int64]bool{}
		progressed := false
		for _, rs := range b.RecordsSet {
			batch := rs.RecordBatch
			if batch == nil || batch.PartialTrailingRecord && len(batch.Records) == 0 {
				continue
			}
			last := batch.FirstOffset + int64(batch.LastOffsetDelta)
			for len(aborted) > 0 && aborted[0].FirstOffset <= last {
				abortedProducers[aborted[0].ProducerID] = true
				aborted = aborted[1:]
			}
			skip := batch.Control || (batch.IsTransactional && abortedProducers[batch.ProducerID])
			if batch.Control {
				delete(abortedProducers, batch.ProducerID)
			}
			for _, rec := range batch.Records {
				off := batch.FirstOffset + rec.OffsetDelta
				if skip || off < offset || off >= end {
					continue
				}
				sr := source.Record{
					Topic: topic, Partition: partition, Offset: off,
					Timestamp: batch.FirstTimestamp.Add(rec.TimestampDelta),
					Key:       rec.Key, Value: rec.Value,
				}
				if batch.LogAppendTime {
					sr.Timestamp = batch.MaxTimestamp
				}
				for _, h := range rec.Headers {
					sr.Headers = append(sr.Headers, source.Header{Key: h.Key, Value: h.Value})
				}
				if err := fn(sr); err != nil {
					return err
				}
			}
			if batch.PartialTrailingRecord {
				break
			}
			if last+1 > offset {
				offset, progressed = last+1, true
			}
		}
		if !progressed && offset < end {
			if maxBytes >= 64<<20 {
				return fmt.Errorf("deadletter: replay: fetch %s/%d at %d: no progress (a batch larger than 64 MiB?)", topic, partition, offset)
			}
			maxBytes *= 2
		}
	}
	return nil
}
