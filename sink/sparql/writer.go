package sparql

import (
	"context"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// Writer is a Processor's handle on a SPARQL output: it adds changes to
// the open checkpoint and can do nothing else, so processor code cannot
// begin, commit or abort the runner's checkpoints.
type Writer struct{ s *SPARQL }

// Writer returns the handle a Processor writes through.
func (s *SPARQL) Writer() Writer { return Writer{s} }

// Add merges c into the open checkpoint (see SPARQL.Add).
func (w Writer) Add(c *rdfdiff.EntityChange, origins ...any) error { return w.s.Add(c, origins...) }

// Outputs returns the outputs of a job writing to a SPARQL store: each
// task gets its own SPARQL over store and b, logging through the job's
// logger unless opts give another, and the task's Processor gets its
// Writer. With WithRejectedDeadLetters, changes the store refuses at commit
// go to the job's dead-letter topic.
func Outputs(store SPARQLStore, b *UpdateBuilder, opts ...Option) streamkit.Outputs[Writer] {
	return func(_ context.Context, info streamkit.TaskInfo) (streamkit.Output, Writer, error) {
		s, err := NewSPARQL(store, b, append([]Option{WithSPARQLLogger(info.Logger), withTaskDeadLetters(info.DeadLetters)}, opts...)...)
		if err != nil {
			return nil, Writer{}, err
		}
		return s, s.Writer(), nil
	}
}
