package kafkatest

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidOption is returned by Start (and reported by NewCluster)
	// when an option value cannot work, such as zero brokers or a port
	// outside 1..65535.
	ErrInvalidOption = errors.New("kafkatest: invalid option")

	// ErrInvalidArgument is returned by a helper called with an argument it
	// cannot act on, such as an empty topic name or a negative partition.
	ErrInvalidArgument = errors.New("kafkatest: invalid argument")

	// ErrUnknownTopic is returned by the read helpers and Produce when the
	// topic does not exist on the cluster.
	ErrUnknownTopic = errors.New("kafkatest: unknown topic")

	// ErrTopicExists is returned by CreateTopic when the topic already
	// exists, so that a test that creates the same topic twice learns of it.
	ErrTopicExists = errors.New("kafkatest: topic already exists")

	// ErrClosed is returned by every helper once the cluster is closed.
	ErrClosed = errors.New("kafkatest: cluster closed")

	// ErrTimeout is returned (wrapped in a *WaitError) by the WaitFor…
	// helpers when the condition does not hold before the deadline.
	ErrTimeout = errors.New("kafkatest: timed out")
)

// BrokerError is a Kafka protocol error code returned by the cluster to one
// of the harness's own requests. It unwraps to the franz-go kerr error so
// that errors.Is(err, kerr.UnknownTopicOrPartition) works.
type BrokerError struct {
	// Op names the helper and the entity, e.g. "fetch events/2".
	Op string
	// Err is the kerr error for the code the broker answered with.
	Err error
}

// Error implements error.
func (e *BrokerError) Error() string { return fmt.Sprintf("kafkatest: %s: %v", e.Op, e.Err) }

// Unwrap returns the broker's error.
func (e *BrokerError) Unwrap() error { return e.Err }

// WaitError is returned by the WaitFor… helpers when they give up. It says
// what was awaited and what was last seen, which is usually all a failing
// test needs to be understood.
type WaitError struct {
	// What describes the condition, e.g. `3 records in "out"`.
	What string
	// Last describes the last observed state, e.g. "2 records".
	Last string
	// Err is ErrTimeout, or the context's error if it was canceled, or the
	// last error of the polled operation.
	Err error
}

// Error implements error.
func (e *WaitError) Error() string {
	return fmt.Sprintf("kafkatest: waiting for %s (last seen: %s): %v", e.What, e.Last, e.Err)
}

// Unwrap returns the cause.
func (e *WaitError) Unwrap() error { return e.Err }
