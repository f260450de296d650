package graph

import (
	"context"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// Writer is a Processor's handle on a GraphOutput: it adds changes and
// (dead-letter) records to the open checkpoint and can do nothing else, so
// processor code cannot begin, commit or abort the runner's checkpoints.
type Writer struct{ o *GraphOutput }

// Writer returns the handle a Processor writes through.
func (o *GraphOutput) Writer() Writer { return Writer{o} }

// Add merges c into the open checkpoint (see GraphOutput.Add).
func (w Writer) Add(c *rdfdiff.EntityChange, origins ...any) error { return w.o.Add(c, origins...) }

// Send holds rec with the open checkpoint (see GraphOutput.Send).
func (w Writer) Send(ctx context.Context, rec streamkit.KafkaRecord) error { return w.o.Send(ctx, rec) }

// Outputs returns the outputs of a job writing into in-memory graphs:
// newOutput builds each task's GraphOutput, and the task's Processor gets
// its Writer.
func Outputs(newOutput func(ctx context.Context, info streamkit.TaskInfo) (*GraphOutput, error)) streamkit.Outputs[Writer] {
	return func(ctx context.Context, info streamkit.TaskInfo) (streamkit.Output, Writer, error) {
		o, err := newOutput(ctx, info)
		if err != nil {
			return nil, Writer{}, err
		}
		return o, o.Writer(), nil
	}
}
