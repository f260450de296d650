package source

// Pause stops delivering records of the given partitions (all partitions,
// present and future, if none are given) until Resume. Records of a paused
// partition already buffered are held back, in order, and sarama stops
// fetching it; other partitions keep flowing. Pause state survives
// rebalances. Held-back records count against the buffer size.
func (k *Kafka) Pause(partitions ...TopicPartition) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(partitions) == 0 {
		k.pauseAll = true
		for tp := range k.assigned {
			partitions = append(partitions, tp)
		}
	} else {
		for _, tp := range partitions {
			k.paused[tp] = true
		}
	}
	k.anyPaused.Store(true)
	// sarama is told under k.mu so that a concurrent Resume and a claim
	// starting paused (ConsumeClaim) cannot interleave into a stale pause.
	k.pauseSaramaLocked(partitions)
}

// Resume undoes Pause for the given partitions (all, if none are given:
// this also clears per-partition pauses).
func (k *Kafka) Resume(partitions ...TopicPartition) {
	k.mu.Lock()
	defer k.mu.Unlock()
	all := len(partitions) == 0
	if all {
		k.pauseAll = false
		clear(k.paused)
	} else {
		for _, tp := range partitions {
			delete(k.paused, tp)
		}
	}
	k.anyPaused.Store(k.pauseAll || len(k.paused) > 0)
	close(k.resumeCh)
	k.resumeCh = make(chan struct{})
	switch {
	case k.sgroup == nil:
	case all:
		k.sgroup.ResumeAll() // sarama keeps pauses across reassignment: clear them all
	default:
		k.sgroup.Resume(byTopic(partitions))
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// Paused reports whether records of tp are currently held back.
func (k *Kafka) Paused(tp TopicPartition) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pausedLocked(tp)
}

func (k *Kafka) pausedLocked(tp TopicPartition) bool { return k.pauseAll || k.paused[tp] }

func (k *Kafka) pauseSaramaLocked(tps []TopicPartition) {
	if k.sgroup != nil && len(tps) > 0 {
		k.sgroup.Pause(byTopic(tps))
	}
}

func byTopic(tps []TopicPartition) Partitions {
	m := make(Partitions)
	for _, tp := range tps {
		m[tp.Topic] = append(m[tp.Topic], tp.Partition)
	}
	return m
}
