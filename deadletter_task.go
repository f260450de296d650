package streamkit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// taskDeadLetters is a task's TaskInfo.DeadLetters: the one path through
// which the runner, the task's Output and its Processor dead-letter
// records, so that every dead letter of the task is counted alike
// (Stats.DeadLettered, Stats.DeadLettersTruncated, the WithOnDeadLetter
// hooks) and logged alike. The Output and the Processor are made before the
// runner's DeadLetter (which may send through the Output), so the writer is
// bound once that exists; writes before then, or in a job without a
// dead-letter topic, fail with ErrNoDeadLetter.
type taskDeadLetters struct {
	j   *Job
	log *slog.Logger

	mu  sync.Mutex // guards dlq; held while writing, so the truncation count is per write
	dlq *DeadLetter
}

var _ FailureWriter = (*taskDeadLetters)(nil)

func newTaskDeadLetters(j *Job, log *slog.Logger) *taskDeadLetters {
	return &taskDeadLetters{j: j, log: log}
}

// bind sets the job's dead-letter sink for the task (nil: none).
func (d *taskDeadLetters) bind(dlq *DeadLetter) {
	d.mu.Lock()
	d.dlq = dlq
	d.mu.Unlock()
}

// Write dead-letters f through the job's dead-letter sink and counts it.
func (d *taskDeadLetters) Write(ctx context.Context, f Failure) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dlq == nil {
		return fmt.Errorf("%w: job %q has no dead-letter topic (WithDeadLetterTopic, WithDeadLetterKafka) for %s/%d@%d",
			ErrNoDeadLetter, d.j.name, f.Record.Topic, f.Record.Partition, f.Record.Offset)
	}
	rec := f.Record
	truncated := d.dlq.Truncated()
	if err := d.dlq.Write(ctx, f); err != nil {
		return fmt.Errorf("streamkit: dead-lettering %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	if d.dlq.Truncated() > truncated {
		d.j.updateStats(func(s *Stats) { s.DeadLettersTruncated++ })
		d.log.Warn("streamkit: dead letter cut to fit the dead-letter topic", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "size", len(rec.Value))
	}
	d.log.Warn("streamkit: record dead-lettered", "topic", rec.Topic, "partition", rec.Partition,
		"offset", rec.Offset, "stage", f.Stage, "err", f.Err)
	d.j.updateStats(func(s *Stats) { s.DeadLettered++ })
	if d.j.o.onDeadLetter != nil {
		d.j.o.onDeadLetter(f)
	}
	return nil
}

// OutputsSendingTo returns outputs whose every Output also sends records
// through sender (it implements RecordSender), so that a job whose output
// cannot hold Kafka records (a SPARQL store) dead-letters with
// WithDeadLetterTopic alone: pass a KafkaSender, which writes each dead
// letter at once, before the store commit that moves the positions past it
// (at least once for dead letters; the output stays exactly once). The
// Output keeps its WantsCommit (CommitRequester); other optional interfaces
// of the wrapped Output (RecordScoped) are not forwarded. sender is not
// closed by the job.
func OutputsSendingTo[H any](outputs Outputs[H], sender RecordSender) Outputs[H] {
	return func(ctx context.Context, info TaskInfo) (Output, H, error) {
		out, h, err := outputs(ctx, info)
		if err != nil || out == nil {
			return out, h, err
		}
		return &sendingOutput{Output: out, sender: sender}, h, nil
	}
}

// sendingOutput is an Output that sends records through another sender.
type sendingOutput struct {
	Output
	sender RecordSender
}

var (
	_ RecordSender    = (*sendingOutput)(nil)
	_ CommitRequester = (*sendingOutput)(nil)
)

// Send sends rec through the sender.
func (o *sendingOutput) Send(ctx context.Context, rec KafkaRecord) error {
	if o.sender == nil {
		return fmt.Errorf("%w: OutputsSendingTo was given a nil sender", ErrNoDeadLetter)
	}
	return o.sender.Send(ctx, rec)
}

// WantsCommit asks the wrapped Output.
func (o *sendingOutput) WantsCommit() bool {
	c, ok := o.Output.(CommitRequester)
	return ok && c.WantsCommit()
}
