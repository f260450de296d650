package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fault is an installed fault: a rule that makes the brokers answer
// matching requests with an error. It lets a test wait until the fault has
// fired instead of sleeping, and remove it early.
type Fault struct {
	h *kfake.FaultHandle
}

// Hits returns how many requests the fault has answered so far.
func (f *Fault) Hits() int { return f.h.Hits() }

// Wait blocks until the fault has answered at least n requests or ctx ends
// (returning the context's error wrapped in a *WaitError).
func (f *Fault) Wait(ctx context.Context, n int) error {
	if err := f.h.Wait(ctx, n); err != nil {
		cause := ErrTimeout
		if errors.Is(err, context.Canceled) {
			cause = err
		}
		return &WaitError{What: fmt.Sprintf("fault to answer %d requests", n), Last: fmt.Sprintf("%d hits", f.h.Hits()), Err: cause}
	}
	return nil
}

// Remove uninstalls the fault; requests from then on are answered normally.
// Removing twice is harmless.
func (f *Fault) Remove() { f.h.Remove() }

// FailNext makes the brokers answer the next n requests of the given kind
// (kmsg.EndTxn, kmsg.TxnOffsetCommit, kmsg.Produce, kmsg.OffsetCommit, …)
// with the Kafka error code (for example int16(sarama.ErrProducerFenced) or
// kerr.ProducerFenced.Code). A request that names several partitions counts
// once and fails for all of them. n < 0 fails every such request until the
// fault is removed.
//
// For most codes the request is rejected before the broker acts on it. With
// REQUEST_TIMED_OUT on requests that a real broker can apply and then time
// out (Produce, OffsetCommit, TxnOffsetCommit, …), or
// NOT_ENOUGH_REPLICAS_AFTER_APPEND on Produce, the work is done and the
// error is returned anyway — the ambiguous case a client must survive.
//
// The fault also matches the harness's own requests of that kind (Produce
// and CreateTopic use Produce and CreateTopics); install faults after the
// setup that uses those helpers, or scope them with InjectFault.
func (c *Cluster) FailNext(kind kmsg.Key, n int, code int16) (*Fault, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: failing 0 requests", ErrInvalidArgument)
	}
	if kind < 0 || kind > kmsg.MaxKey {
		return nil, fmt.Errorf("%w: request kind %d", ErrInvalidArgument, kind)
	}
	kerrErr, ok := kerr.ErrorForCode(code).(*kerr.Error)
	if code == 0 || !ok || kerrErr.Code != code {
		return nil, fmt.Errorf("%w: %d is not a Kafka error code", ErrInvalidArgument, code)
	}
	return c.InjectFault(kfake.Fault{Keys: []kmsg.Key{kind}, Err: kerrErr, Count: n})
}

// InjectFault installs a kfake fault as given, for selectors FailNext does
// not offer: a topic, partitions, a group, a transactional ID, a node, or a
// predicate on the request. See kfake.Fault for the semantics of each field.
func (c *Cluster) InjectFault(f kfake.Fault) (*Fault, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.kf == nil {
		return nil, ErrNeedsKfake
	}
	return &Fault{h: c.kf.Fault(f)}, nil
}

// errDisconnect is returned from a kfake control function, which makes the
// broker close the client's connection instead of answering.
var errDisconnect = errors.New("kafkatest: injected disconnect")

// DisconnectOnNext makes the brokers close the connection of each of the
// next n clients that send a request of the given kind, without answering
// it: the client cannot know whether the request was applied (it was not).
// It returns a function that reports how many requests were cut so far.
// n must be positive. Like FailNext, it also matches the harness's own
// requests of that kind.
func (c *Cluster) DisconnectOnNext(kind kmsg.Key, n int) (func() int, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("%w: disconnecting %d requests", ErrInvalidArgument, n)
	}
	if c.kf == nil {
		return nil, ErrNeedsKfake
	}
	if kind < 0 || kind > kmsg.MaxKey {
		return nil, fmt.Errorf("%w: request kind %d", ErrInvalidArgument, kind)
	}
	var cut atomic.Int64
	c.kf.ControlKey(int16(kind), func(kmsg.Request) (kmsg.Response, error, bool) {
		if cut.Add(1) < int64(n) {
			c.kf.KeepControl()
		}
		return nil, errDisconnect, true
	})
	return func() int { return int(cut.Load()) }, nil
}

// DropConnections closes every client connection to every broker, as a
// network blip or a broker restart would, and returns how many it closed.
// Clients reconnect on their next request; the brokers keep all their data.
// The harness's own connections are spared.
func (c *Cluster) DropConnections() int {
	if c.check() != nil {
		return 0
	}
	return c.conns.drop(-1)
}

// DropBrokerConnections is DropConnections for one broker (node ID 0 …
// brokers-1). It returns ErrInvalidArgument for a node that does not exist.
func (c *Cluster) DropBrokerConnections(node int32) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	if node < 0 || int(node) >= len(c.addrs) {
		return 0, fmt.Errorf("%w: broker %d of %d", ErrInvalidArgument, node, len(c.addrs))
	}
	return c.conns.drop(node), nil
}

// ClientConnections returns the number of client connections currently open
// to the brokers (the harness's own excluded), so that a test can wait until
// its client is connected before dropping connections.
func (c *Cluster) ClientConnections() int { return c.conns.count() }
