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

// Outputs returns the outputs of a job writing to a SPARQL store: newSPARQL
// builds each task's SPARQL (typically with NewSPARQL over one shared
// Client), and the task's Processor gets its Writer.
func Outputs(newSPARQL func(ctx context.Context, info streamkit.TaskInfo) (*SPARQL, error)) streamkit.Outputs[Writer] {
	return func(ctx context.Context, info streamkit.TaskInfo) (streamkit.Output, Writer, error) {
		s, err := newSPARQL(ctx, info)
		if err != nil {
			return nil, Writer{}, err
		}
		return s, s.Writer(), nil
	}
}
