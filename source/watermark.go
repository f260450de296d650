package source

import "time"

func (st *partState) watermark(lateness time.Duration) time.Time {
	if st.maxEvent.IsZero() {
		return time.Time{}
	}
	return st.maxEvent.Add(-lateness)
}

// PartitionWatermarks returns each assigned partition's event-time
// watermark: the maximum event time delivered minus the allowed lateness
// (zero until the partition delivered a record with an event time).
func (k *Kafka) PartitionWatermarks() map[TopicPartition]time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[TopicPartition]time.Time, len(k.assigned))
	for tp, st := range k.assigned {
		out[tp] = st.watermark(k.opts.lateness)
	}
	return out
}

// Watermark returns the combined event-time watermark of this member: the
// minimum of the watermarks of its active partitions, where a partition
// that delivered nothing for the idle timeout (since its last record or its
// assignment) is idle and does not hold time back. When every partition is
// idle it is the maximum of their watermarks. It never goes backwards, also
// across rebalances, and is zero until it is known.
func (k *Kafka) Watermark() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.opts.now()
	var active, idle time.Time
	nActive := 0
	for _, st := range k.assigned {
		wm := st.watermark(k.opts.lateness)
		if k.opts.idleTimeout > 0 && now.Sub(st.lastActive) >= k.opts.idleTimeout {
			if wm.After(idle) {
				idle = wm
			}
			continue
		}
		if nActive == 0 || wm.Before(active) {
			active = wm
		}
		nActive++
	}
	cand := active
	if nActive == 0 {
		cand = idle
	}
	if cand.After(k.combined) {
		k.combined = cand
	}
	return k.combined
}
