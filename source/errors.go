package source

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrClosed is returned by Poll, Run and Seek once Close was called (or
	// Run has returned): a closed source cannot be restarted, because its
	// positions and hooks belong to the run that ended.
	ErrClosed = errors.New("source: closed")

	// ErrAlreadyRunning is returned by a second call to Run: one Kafka value
	// is one group member, and two consume loops would split its positions.
	ErrAlreadyRunning = errors.New("source: already running")

	// ErrInvalidConfig is matched (errors.Is) by every error NewKafka and
	// Seek return for arguments that can never work, so callers can tell a
	// configuration mistake from a broker failure.
	ErrInvalidConfig = errors.New("source: invalid configuration")

	// ErrSeekAssigned is returned by Seek for a partition that is currently
	// assigned and already consuming: sarama cannot move a running claim,
	// so positions must be given before Run or from the OnAssigned hook.
	ErrSeekAssigned = errors.New("source: cannot seek a partition that is already consuming")
)

func configError(format string, args ...any) error {
	return fmt.Errorf("source: %s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
}

// HookError is returned by Run when an OnAssigned or OnRevoked hook failed.
// A failed hook stops the source: the runner could not load or hand off
// per-partition state, and consuming on would break exactly-once.
type HookError struct {
	// Hook is "OnAssigned" or "OnRevoked".
	Hook string
	// Partitions are the partitions the hook was called with.
	Partitions []TopicPartition
	// Err is what the hook returned.
	Err error
}

// Error implements error.
func (e *HookError) Error() string {
	names := make([]string, len(e.Partitions))
	for i, tp := range e.Partitions {
		names[i] = tp.String()
	}
	return fmt.Sprintf("source: %s hook for [%s]: %v", e.Hook, strings.Join(names, " "), e.Err)
}

// Unwrap returns the hook's error.
func (e *HookError) Unwrap() error { return e.Err }
