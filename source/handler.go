package source

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
)

// hookCall asks the Poll goroutine to run a hook.
type hookCall struct {
	name string
	hook Hook
	tps  []TopicPartition
	done chan error
}

// runHook runs on the Poll goroutine.
func (k *Kafka) runHook(ctx context.Context, h *hookCall) {
	var err error
	if h.hook != nil {
		err = h.hook(ctx, h.tps)
	}
	h.done <- err // buffered
}

// callHook hands a hook to Poll and waits for it, or for abort.
func (k *Kafka) callHook(abort <-chan struct{}, name string, hook Hook, tps []TopicPartition) (err error, ok bool) {
	h := &hookCall{name: name, hook: hook, tps: tps, done: make(chan error, 1)}
	select {
	case k.ctl <- h:
	case <-abort:
		return nil, false
	case <-k.closed:
		return nil, false
	}
	select {
	case err := <-h.done:
		return err, true
	case <-k.closed:
		return nil, false
	}
}

type handler struct {
	k      *Kafka
	client sarama.Client
	admin  sarama.ClusterAdmin
	runCtx context.Context
}

func claimsOf(m Partitions) []TopicPartition {
	var out []TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, TopicPartition{Topic: t, Partition: p})
		}
	}
	return sortedTPs(out)
}

// Setup runs OnAssigned, then fixes every claimed partition's start offset
// (restored seek, committed offset, or start position) before sarama starts
// fetching it.
func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	k := h.k
	tps := claimsOf(sess.Claims())
	if err, ok := k.callHook(sess.Context().Done(), "OnAssigned", k.opts.onAssigned, tps); !ok {
		return context.Canceled
	} else if err != nil {
		return k.failHook("OnAssigned", tps, err)
	}
	k.mu.Lock()
	k.hooked = tps // OnRevoked is owed for these, even if the setup fails below
	k.mu.Unlock()
	starts, err := h.resolve(tps)
	if err != nil {
		return err
	}
	now := k.opts.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gen++
	for _, tp := range tps {
		off := starts[tp]
		sess.MarkOffset(tp.Topic, tp.Partition, off, "")
		sess.ResetOffset(tp.Topic, tp.Partition, off, "")
		k.assigned[tp] = &partState{next: off, lastActive: now, listedEnd: -1}
	}
	// Positions for partitions that went to other members are stale by
	// the next assignment (their owners commit newer ones): drop them.
	clear(k.seeks)
	k.stats.Rebalances++
	k.errs = errorStreak{} // joined: the brokers answer again
	k.failing.Store(false)
	k.opts.logger.Info("source: partitions assigned", "group", k.group, "partitions", len(tps), "generation", sess.GenerationID())
	return nil
}

func (k *Kafka) failHook(name string, tps []TopicPartition, err error) error {
	he := &HookError{Hook: name, Partitions: tps, Err: err}
	k.mu.Lock()
	if k.hookErr == nil {
		k.hookErr = he
	}
	k.mu.Unlock()
	return he
}

// resolve returns the concrete start offset of each partition.
func (h *handler) resolve(tps []TopicPartition) (map[TopicPartition]int64, error) {
	k := h.k
	out := make(map[TopicPartition]int64, len(tps))
	var rest []TopicPartition
	k.mu.Lock()
	for _, tp := range tps {
		if off, ok := k.seeks[tp]; ok {
			out[tp] = off
		} else {
			rest = append(rest, tp)
		}
	}
	k.mu.Unlock()
	if len(rest) == 0 {
		return out, nil
	}
	req := Partitions{}
	for _, tp := range rest {
		req[tp.Topic] = append(req[tp.Topic], tp.Partition)
	}
	resp, err := h.admin.ListConsumerGroupOffsets(k.group, req)
	if err != nil {
		return nil, fmt.Errorf("source: fetch committed offsets of group %q: %w", k.group, err)
	}
	if resp.Err != sarama.ErrNoError {
		return nil, fmt.Errorf("source: fetch committed offsets of group %q: %w", k.group, resp.Err)
	}
	for _, tp := range rest {
		b := resp.GetBlock(tp.Topic, tp.Partition)
		if b != nil && b.Err != sarama.ErrNoError {
			// Never fall back to the start position on an error (e.g. an
			// unstable offset of a transaction still in flight): that would
			// skip or replay input. The session fails and the group retries.
			return nil, fmt.Errorf("source: committed offset of %s in group %q: %w", tp, k.group, b.Err)
		}
		if b != nil && b.Offset >= 0 {
			out[tp] = b.Offset
			continue
		}
		off, err := h.startOffset(k.opts.start, tp)
		if err != nil {
			return nil, err
		}
		out[tp] = off
	}
	return out, nil
}

func (h *handler) startOffset(p StartPosition, tp TopicPartition) (int64, error) {
	var at int64
	switch p.kind {
	case startEarliest:
		at = sarama.OffsetOldest
	case startLatest:
		at = sarama.OffsetNewest
	case startTimestamp:
		at = p.millis
	case startOffsets:
		if off, ok := p.offsets[tp]; ok {
			return off, nil
		}
		return h.startOffset(*p.otherwise, tp)
	}
	off, err := h.client.GetOffset(tp.Topic, tp.Partition, at)
	if err != nil {
		return 0, fmt.Errorf("source: start offset of %s: %w", tp, err)
	}
	if off < 0 { // no record at or after the timestamp: start at the end
		if off, err = h.client.GetOffset(tp.Topic, tp.Partition, sarama.OffsetNewest); err != nil {
			return 0, fmt.Errorf("source: end offset of %s: %w", tp, err)
		}
	}
	return off, nil
}

// Cleanup runs after every ConsumeClaim returned: buffered records of the
// old generation are invalidated, then OnRevoked runs (on a rebalance, not at
// shutdown) before sarama releases the partitions.
func (h *handler) Cleanup(sess sarama.ConsumerGroupSession) error {
	k := h.k
	k.mu.Lock()
	k.gen++
	tps := k.hooked
	k.hooked = nil
	k.mu.Unlock()

	var hookErr error
	if h.runCtx.Err() == nil && len(tps) > 0 {
		if err, ok := k.callHook(h.runCtx.Done(), "OnRevoked", k.opts.onRevoked, tps); ok && err != nil {
			hookErr = k.failHook("OnRevoked", tps, err)
		}
	}
	k.mu.Lock()
	clear(k.assigned)
	k.mu.Unlock()
	k.opts.logger.Info("source: partitions revoked", "group", k.group, "partitions", len(tps))
	return hookErr
}

// ConsumeClaim moves records from sarama into the bounded buffer, waiting
// while the partition is paused or the buffer is full.
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	k := h.k
	tp := TopicPartition{Topic: claim.Topic(), Partition: claim.Partition()}
	done := sess.Context().Done()
	k.mu.Lock()
	gen := k.gen
	if st := k.assigned[tp]; st != nil {
		st.highWater = claim.HighWaterMarkOffset
	}
	if k.pausedLocked(tp) {
		k.pauseSaramaLocked([]TopicPartition{tp})
	}
	k.mu.Unlock()
	for {
		var msg *sarama.ConsumerMessage
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			msg = m
			k.noteHealthy()
			for n := k.taken.Add(1) - k.released.Load(); ; {
				if old := k.maxInFlight.Load(); n <= old || k.maxInFlight.CompareAndSwap(old, n) {
					break
				}
			}
		case <-done:
			return nil
		}
		for k.anyPaused.Load() {
			k.mu.Lock()
			p, wait := k.pausedLocked(tp), k.resumeCh
			k.mu.Unlock()
			if !p {
				break
			}
			select {
			case <-wait:
			case <-done:
				k.released.Add(1) // never buffered: the next owner reads it
				return nil
			}
		}
		select {
		case k.slots <- struct{}{}:
		case <-done:
			k.released.Add(1)
			return nil
		}
		k.recs <- item{gen: gen, msg: msg} // never blocks: a slot is held
	}
}

var _ sarama.ConsumerGroupHandler = (*handler)(nil)
