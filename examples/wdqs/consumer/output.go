package consumer

import (
	"context"
	"errors"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/sink/sparql"
)

// ErrNoDeadLetterTopic is returned by Output.Send when the consumer has no
// dead-letter topic: the runner then stops the job on a failed record rather
// than lose it.
var ErrNoDeadLetterTopic = errors.New("consumer: no dead-letter topic configured")

// Output is the task's output into a SPARQL store: the sparql.SPARQL (the
// runner's Output contract, CommitRequester, and the RDFConsumer's
// ChangeWriter) plus a RecordSender for the dead letters, which the store
// cannot hold, through a streamkit.KafkaSender. Dead letters go straight to
// Kafka, synchronously, when they are written: before the store commit that
// moves the positions past them, so none is lost; a checkpoint that fails is
// redone and dead-letters its records again (at-least-once for dead letters,
// exactly once for the data). Changes the store refuses at commit are
// dead-lettered through the task's streamkit.TaskInfo.DeadLetters, so the
// job's Stats count them with the rest.
type Output struct {
	*sparql.SPARQL
	dl *streamkit.KafkaSender
}

var (
	_ streamkit.Output          = (*Output)(nil)
	_ streamkit.CommitRequester = (*Output)(nil)
	_ streamkit.RecordSender    = (*Output)(nil)
	_ ChangeWriter              = (*Output)(nil)
)

// Send writes a dead-letter record to Kafka and waits for the broker's
// acknowledgement. It fails with ErrNoDeadLetterTopic when the consumer has
// none.
func (o *Output) Send(ctx context.Context, rec streamkit.KafkaRecord) error {
	if o.dl == nil {
		return ErrNoDeadLetterTopic
	}
	return o.dl.Send(ctx, rec)
}

// taskWriter is the RDFConsumer's handle on its task's Output: changes go
// to the SPARQL checkpoint, dead letters straight to Kafka.
type taskWriter struct {
	sparql.Writer
	dl *Output
}

// Send writes a dead letter (see Output.Send).
func (w taskWriter) Send(ctx context.Context, rec streamkit.KafkaRecord) error {
	return w.dl.Send(ctx, rec)
}
