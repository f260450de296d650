package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// Record is one Kafka record, as written by Produce and as returned by the
// read helpers.
type Record struct {
	// Topic is the record's topic. Produce ignores it (the topic is an
	// argument); the read helpers fill it in.
	Topic string
	// Partition is the partition the record is written to (Produce) or was
	// read from.
	Partition int32
	// Offset is the record's offset in its partition; set by the read
	// helpers, ignored by Produce.
	Offset int64
	// Key and Value are the record's bytes; nil and empty differ in Kafka
	// and are kept apart.
	Key, Value []byte
	// Headers are the record's headers, in order.
	Headers []Header
	// Timestamp is the record's timestamp (millisecond precision). Produce
	// uses the current time when it is zero.
	Timestamp time.Time
}

// Header is one record header. Kafka header keys are strings; values are
// bytes and may be nil.
type Header struct {
	Key   string
	Value []byte
}

// HeaderValue returns the value of the first header named key, and whether
// there is one.
func (r Record) HeaderValue(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// TopicPartition names one partition of a topic: the source package's type.
type TopicPartition = source.TopicPartition

// CommittedOffset is a consumer group's committed position in one partition:
// the offset of the next record to consume, and the metadata string the
// committer attached (streamkit records its checkpoint ID there).
type CommittedOffset struct {
	Offset   int64
	Metadata string
}

// validTopic applies Kafka's topic name rules, so that a typo gets a precise
// error from the harness rather than an opaque broker code.
func validTopic(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("%w: empty topic name", ErrInvalidArgument)
	case topic == "." || topic == "..":
		return fmt.Errorf("%w: topic name %q is not allowed", ErrInvalidArgument, topic)
	case len(topic) > 249:
		return fmt.Errorf("%w: topic name of %d characters, at most 249", ErrInvalidArgument, len(topic))
	}
	for _, r := range topic {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: topic name %q has %q; allowed are ASCII letters, digits, '.', '_' and '-'", ErrInvalidArgument, topic, r)
		}
	}
	return nil
}

// CreateTopic creates a topic with the given number of partitions (0 means
// the cluster's default partition count). It returns ErrTopicExists if the
// topic is already there.
func (c *Cluster) CreateTopic(ctx context.Context, topic string, partitions int) error {
	if err := c.check(); err != nil {
		return err
	}
	if err := validTopic(topic); err != nil {
		return err
	}
	if partitions < 0 {
		return fmt.Errorf("%w: %d partitions for topic %q", ErrInvalidArgument, partitions, topic)
	}
	if partitions == 0 {
		partitions = c.cfg.partitions
	}
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = topic
	rt.NumPartitions = int32(partitions)
	rt.ReplicationFactor = 1
	if c.Real() {
		rt.ReplicationFactor = -1 // the broker's default.replication.factor
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return fmt.Errorf("kafkatest: create topic %q: %w", topic, err)
	}
	if len(resp.Topics) != 1 {
		return fmt.Errorf("kafkatest: create topic %q: %d topics in the response", topic, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("%w: %q", ErrTopicExists, topic)
		}
		return &BrokerError{Op: "create topic " + topic, Err: err}
	}
	if c.Real() {
		// A real broker answers before every partition has a leader;
		// kfake's topics are ready at once. Wait, so that tests need not.
		if err := c.waitTopicEverywhere(ctx, topic); err != nil {
			return err
		}
	}
	return nil
}

// topicMeta is what the helpers need to know about a topic.
type topicMeta struct {
	id      [16]byte
	leaders map[int32]int32 // partition -> leader node
}

func (m topicMeta) partitions() []int32 {
	ps := make([]int32, 0, len(m.leaders))
	for p := range m.leaders {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// metadata looks a topic up, retrying while leadership is being settled.
func (c *Cluster) metadata(ctx context.Context, topic string) (topicMeta, error) {
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, c.cl)
		if err != nil {
			return topicMeta{}, fmt.Errorf("kafkatest: metadata for %q: %w", topic, err)
		}
		if len(resp.Topics) != 1 {
			return topicMeta{}, fmt.Errorf("kafkatest: metadata for %q: %d topics in the response", topic, len(resp.Topics))
		}
		t := resp.Topics[0]
		err = kerr.ErrorForCode(t.ErrorCode)
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return topicMeta{}, fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
		}
		m := topicMeta{id: t.TopicID, leaders: make(map[int32]int32, len(t.Partitions))}
		for _, p := range t.Partitions {
			if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil && err == nil {
				err = perr
			}
			m.leaders[p.Partition] = p.Leader
		}
		if err == nil {
			return m, nil
		}
		if !kerr.IsRetriable(err) {
			return topicMeta{}, &BrokerError{Op: "metadata " + topic, Err: err}
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return topicMeta{}, fmt.Errorf("kafkatest: metadata for %q: %w (last broker error: %v)", topic, err, kerr.ErrorForCode(t.ErrorCode))
		}
	}
}

// Partitions returns the number of partitions of topic, or ErrUnknownTopic.
func (c *Cluster) Partitions(ctx context.Context, topic string) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	if err := validTopic(topic); err != nil {
		return 0, err
	}
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()
	m, err := c.metadata(ctx, topic)
	if err != nil {
		return 0, err
	}
	return len(m.leaders), nil
}

// Produce writes records to topic synchronously, each to its own
// Record.Partition (zero means partition 0), with acks from all replicas,
// and returns once all are acknowledged. The written records are not
// transactional; they are visible to read_committed readers at once.
func (c *Cluster) Produce(ctx context.Context, topic string, records ...Record) error {
	return c.produce(ctx, topic, false, records)
}

// ProduceKeyed is Produce, except that each record's partition is chosen
// from its key the way sarama's default (hash) partitioner does, so that a
// record lands where a sarama producer would have put it; records with a nil
// key are spread round robin. Record.Partition is ignored.
func (c *Cluster) ProduceKeyed(ctx context.Context, topic string, records ...Record) error {
	return c.produce(ctx, topic, true, records)
}

func (c *Cluster) produce(ctx context.Context, topic string, keyed bool, records []Record) error {
	if err := c.check(); err != nil {
		return err
	}
	if err := validTopic(topic); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()
	m, err := c.metadata(ctx, topic)
	if err != nil {
		return err
	}
	n := int32(len(m.leaders))
	krs := make([]*kgo.Record, len(records))
	for i, r := range records {
		p := r.Partition
		if keyed {
			if r.Key == nil {
				p = int32(c.rr.Add(1)-1) % n
			} else {
				p = SaramaHashPartition(r.Key, n)
			}
		} else if _, ok := m.leaders[p]; !ok {
			return fmt.Errorf("%w: record %d: partition %d of topic %q (it has %d partitions)", ErrInvalidArgument, i, p, topic, n)
		}
		kr := &kgo.Record{Topic: topic, Partition: p, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		krs[i] = kr
	}
	if err := c.cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		return fmt.Errorf("kafkatest: produce to %q: %w", topic, err)
	}
	return nil
}

// SaramaHashPartition returns the partition sarama's default hash
// partitioner (FNV-1a, sarama's historical absolute value) picks for key
// among n partitions. Tests use it to predict where a keyed record lands.
// It returns -1 if n < 1.
func SaramaHashPartition(key []byte, n int32) int32 {
	if n < 1 {
		return -1
	}
	h := fnv.New32a()
	_, _ = h.Write(key)
	p := int32(h.Sum32()) % n
	if p < 0 {
		p = -p
	}
	return p
}

// ReadCommitted returns every record of topic that a read_committed consumer
// sees, from the start of each partition up to its last stable offset at the
// time of the call: committed transactional records and non-transactional
// records, not aborted ones, nor those of transactions still open. Records
// are ordered by partition, then offset. Control records (commit and abort
// markers) are never returned.
func (c *Cluster) ReadCommitted(ctx context.Context, topic string) ([]Record, error) {
	return c.read(ctx, topic, 1)
}

// ReadUncommitted is ReadCommitted with read_uncommitted isolation: it reads
// up to each partition's high watermark and also returns records of aborted
// and open transactions.
func (c *Cluster) ReadUncommitted(ctx context.Context, topic string) ([]Record, error) {
	return c.read(ctx, topic, 0)
}

func (c *Cluster) read(ctx context.Context, topic string, isolation int8) ([]Record, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if err := validTopic(topic); err != nil {
		return nil, err
	}
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()
	m, err := c.metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := c.settleTransactions(ctx); err != nil {
		return nil, err
	}
	starts, err := c.listOffsets(ctx, topic, m, -2, isolation)
	if err != nil {
		return nil, err
	}
	ends, err := c.listOffsets(ctx, topic, m, -1, isolation)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, p := range m.partitions() {
		rs, err := c.readPartition(ctx, topic, m, p, starts[p], ends[p], isolation)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// listOffsets returns, per partition, the earliest (ts -2) or latest (ts -1)
// offset; with read_committed isolation "latest" is the last stable offset.
func (c *Cluster) listOffsets(ctx context.Context, topic string, m topicMeta, ts int64, isolation int8) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range m.partitions() {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.CurrentLeaderEpoch = -1
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	for {
		resp, err := req.RequestWith(ctx, c.cl)
		if err != nil {
			return nil, fmt.Errorf("kafkatest: list offsets of %q: %w", topic, err)
		}
		out := make(map[int32]int64, len(m.leaders))
		var retry error
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					if !kerr.IsRetriable(err) {
						return nil, &BrokerError{Op: fmt.Sprintf("list offsets %s/%d", topic, p.Partition), Err: err}
					}
					retry = err
					continue
				}
				out[p.Partition] = p.Offset
			}
		}
		if retry == nil && len(out) == len(m.leaders) {
			return out, nil
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("kafkatest: list offsets of %q: %w (last broker error: %v)", topic, err, retry)
		}
	}
}

// readPartition fetches [start, end) of one partition from its leader with
// raw Fetch requests. It decodes them with kgo.ProcessFetchPartition, which
// returns the next fetch offset past control records and aborted batches:
// counting records instead would never reach an end offset that sits after a
// commit marker.
func (c *Cluster) readPartition(ctx context.Context, topic string, m topicMeta, p int32, start, end int64, isolation int8) ([]Record, error) {
	var out []Record
	offset := start
	leader := m.leaders[p]
	level := kgo.ReadUncommitted()
	if isolation == 1 {
		level = kgo.ReadCommitted()
	}
	dec := kgo.DefaultDecompressor()
	for offset < end {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 100
		req.MinBytes = 1
		req.MaxBytes = 32 << 20
		req.IsolationLevel = isolation
		req.SessionEpoch = -1 // no fetch session
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rt.TopicID = m.id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = offset
		rp.CurrentLeaderEpoch = -1
		rp.LogStartOffset = -1
		rp.PartitionMaxBytes = 16 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)

		resp, err := req.RequestWith(ctx, c.cl.Broker(int(leader)))
		if err != nil {
			return nil, fmt.Errorf("kafkatest: fetch %s/%d at %d: %w", topic, p, offset, err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, &BrokerError{Op: fmt.Sprintf("fetch %s/%d", topic, p), Err: err}
		}
		var rpResp *kmsg.FetchResponseTopicPartition
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].Partition == p {
					rpResp = &resp.Topics[i].Partitions[j]
				}
			}
		}
		if rpResp == nil {
			return nil, fmt.Errorf("kafkatest: fetch %s/%d: partition missing from the response", topic, p)
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
			Offset:         offset,
			IsolationLevel: level,
			Topic:          topic,
			Partition:      p,
		}, rpResp, dec, nil)
		if fp.Err != nil {
			if !kerr.IsRetriable(fp.Err) {
				return nil, &BrokerError{Op: fmt.Sprintf("fetch %s/%d at %d", topic, p, offset), Err: fp.Err}
			}
			if errors.Is(fp.Err, kerr.NotLeaderForPartition) || errors.Is(fp.Err, kerr.FencedLeaderEpoch) || errors.Is(fp.Err, kerr.UnknownLeaderEpoch) {
				if m, err = c.metadata(ctx, topic); err != nil {
					return nil, err
				}
				leader = m.leaders[p]
			}
			if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
				return nil, fmt.Errorf("kafkatest: fetch %s/%d at %d: %w (last broker error: %v)", topic, p, offset, err, fp.Err)
			}
			continue
		}
		for _, kr := range fp.Records {
			if kr.Offset < offset || kr.Offset >= end {
				continue
			}
			out = append(out, fromKgo(kr))
		}
		if next > offset {
			offset = next
		} else if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("kafkatest: fetch %s/%d stuck at %d of %d: %w", topic, p, offset, end, err)
		}
	}
	return out, nil
}

func fromKgo(kr *kgo.Record) Record {
	r := Record{
		Topic:     kr.Topic,
		Partition: kr.Partition,
		Offset:    kr.Offset,
		Key:       kr.Key,
		Value:     kr.Value,
		Timestamp: kr.Timestamp,
	}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, Header{Key: h.Key, Value: h.Value})
	}
	return r
}

// CommittedOffsets returns the offsets committed by a consumer group, by
// OffsetCommit or transactionally by TxnOffsetCommit (sarama's
// AddOffsetsToTxn) once the transaction committed; offsets of a transaction
// still open are not returned, and do not make the call wait. A group that
// has committed nothing yields an empty map. Partitions with no committed
// offset are left out.
func (c *Cluster) CommittedOffsets(ctx context.Context, group string) (map[TopicPartition]CommittedOffset, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if group == "" {
		return nil, fmt.Errorf("%w: empty group", ErrInvalidArgument)
	}
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()
	if err := c.settleTransactions(ctx); err != nil {
		return nil, err
	}
	for {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		req.Groups = append(req.Groups, rg)
		// RequireStable stays false: a transaction left open (a killed job)
		// must not block the read; its pending offsets are simply not
		// committed yet, which is what the caller asks about.
		resp, err := req.RequestWith(ctx, c.cl)
		if err != nil {
			return nil, fmt.Errorf("kafkatest: committed offsets of group %q: %w", group, err)
		}
		out := make(map[TopicPartition]CommittedOffset)
		codes := []int16{resp.ErrorCode}
		add := func(topic string, p int32, off int64, meta *string, code int16) {
			codes = append(codes, code)
			if code != 0 || off < 0 {
				return
			}
			co := CommittedOffset{Offset: off}
			if meta != nil {
				co.Metadata = *meta
			}
			out[TopicPartition{Topic: topic, Partition: p}] = co
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				add(t.Topic, p.Partition, p.Offset, p.Metadata, p.ErrorCode)
			}
		}
		for _, g := range resp.Groups {
			codes = append(codes, g.ErrorCode)
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					add(t.Topic, p.Partition, p.Offset, p.Metadata, p.ErrorCode)
				}
			}
		}
		var retry error
		for _, code := range codes {
			err := kerr.ErrorForCode(code)
			switch {
			case err == nil, errors.Is(err, kerr.GroupIDNotFound):
			case kerr.IsRetriable(err) || errors.Is(err, kerr.UnstableOffsetCommit):
				retry = err
			default:
				return nil, &BrokerError{Op: "offset fetch for group " + group, Err: err}
			}
		}
		if retry == nil {
			return out, nil
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("kafkatest: committed offsets of group %q: %w (last broker error: %v)", group, err, retry)
		}
	}
}

// describeRecords summarizes records for error messages.
func describeRecords(rs []Record) string {
	if len(rs) == 0 {
		return "no records"
	}
	last := rs[len(rs)-1]
	return fmt.Sprintf("%d records, last at %s/%d offset %d", len(rs), last.Topic, last.Partition, last.Offset)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
