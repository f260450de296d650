package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// pollInterval is how often the WaitFor… helpers re-check their condition.
// Each check is a few in-process requests, so polling is cheap; it is not a
// sleep that a test's correctness depends on.
const pollInterval = 25 * time.Millisecond

// poll calls check until it reports done, the context ends, or the
// cluster's wait timeout passes (when ctx has no deadline). check returns a
// description of what it saw, for the error.
func (c *Cluster) poll(ctx context.Context, what string, check func(ctx context.Context) (done bool, seen string, err error)) error {
	if err := c.check(); err != nil {
		return err
	}
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()
	last := "nothing yet"
	var lastErr error
	for {
		done, seen, err := check(ctx)
		switch {
		case err == nil && done:
			return nil
		case err == nil:
			last, lastErr = seen, nil
		case errors.Is(err, ErrClosed), errors.Is(err, ErrInvalidArgument):
			return err
		case ctx.Err() == nil:
			lastErr = err
		}
		if serr := sleepCtx(ctx, pollInterval); serr != nil {
			cause := ErrTimeout
			if errors.Is(serr, context.Canceled) {
				cause = serr
			}
			if lastErr != nil {
				cause = fmt.Errorf("%w; last error: %w", cause, lastErr)
			}
			return &WaitError{What: what, Last: last, Err: cause}
		}
	}
}

// WaitForRecords waits until ReadCommitted(topic) returns at least n records
// and returns them (all of them, which may be more than n). A topic that does
// not exist yet counts as empty, so a test may wait for a topic that the code
// under test creates.
func (c *Cluster) WaitForRecords(ctx context.Context, topic string, n int) ([]Record, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: waiting for %d records", ErrInvalidArgument, n)
	}
	var got []Record
	err := c.poll(ctx, fmt.Sprintf("%d read_committed records in %q", n, topic), func(ctx context.Context) (bool, string, error) {
		rs, err := c.ReadCommitted(ctx, topic)
		if errors.Is(err, ErrUnknownTopic) {
			return false, "topic does not exist", nil
		}
		if err != nil {
			return false, "", err
		}
		got = rs
		return len(rs) >= n, describeRecords(rs), nil
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// WaitForCommittedOffset waits until group has committed an offset of at
// least offset for topic/partition, and returns what is committed there.
// Transactional commits count once their transaction has committed.
func (c *Cluster) WaitForCommittedOffset(ctx context.Context, group, topic string, partition int32, offset int64) (CommittedOffset, error) {
	tp := TopicPartition{Topic: topic, Partition: partition}
	var got CommittedOffset
	err := c.poll(ctx, fmt.Sprintf("group %q to commit offset >= %d on %s", group, offset, tp), func(ctx context.Context) (bool, string, error) {
		offs, err := c.CommittedOffsets(ctx, group)
		if err != nil {
			return false, "", err
		}
		co, ok := offs[tp]
		if !ok {
			return false, "no committed offset", nil
		}
		got = co
		return co.Offset >= offset, fmt.Sprintf("offset %d metadata %q", co.Offset, co.Metadata), nil
	})
	return got, err
}

// WaitFor waits until cond returns true, polling it. It is for conditions
// the other helpers do not cover; cond gets a context bounded like theirs and
// should describe what it saw in its string result, which ends up in the
// *WaitError on timeout.
func (c *Cluster) WaitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, string, error)) error {
	if cond == nil {
		return fmt.Errorf("%w: nil condition", ErrInvalidArgument)
	}
	return c.poll(ctx, what, cond)
}

// WaitForGroupStable waits until consumer group has exactly members members
// and has finished rebalancing, so that a test can produce knowing every
// partition is assigned.
func (c *Cluster) WaitForGroupStable(ctx context.Context, group string, members int) error {
	if err := c.check(); err != nil {
		return err
	}
	if group == "" || members < 0 {
		return fmt.Errorf("%w: group %q with %d members", ErrInvalidArgument, group, members)
	}
	ctx, cancel := c.withDefaultTimeout(ctx)
	defer cancel()
	if c.kf == nil {
		return c.waitGroupStableReal(ctx, group, members)
	}
	var last *kfake.GroupInfo
	_, err := c.kf.WaitGroupInfo(ctx, group, func(gi *kfake.GroupInfo) bool {
		last = gi
		return gi != nil && gi.State == "Stable" && len(gi.Members) == members
	})
	if err != nil {
		seen := "no such group"
		if last != nil {
			seen = fmt.Sprintf("state %s with %d members", last.State, len(last.Members))
		}
		cause := ErrTimeout
		if errors.Is(err, context.Canceled) {
			cause = err
		}
		return &WaitError{What: fmt.Sprintf("group %q stable with %d members", group, members), Last: seen, Err: cause}
	}
	return nil
}
