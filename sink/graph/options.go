package graph

import (
	"fmt"
	"strings"
)

// Option configures NewGraph or NewGraphOutput. Each option's documentation
// names the constructor it is for. NewGraphOutput fails with an error naming
// the right constructor when given an option of NewGraph; NewGraph, which
// returns no error, panics when given an option of NewGraphOutput (a
// programming error, found by the first run).
type Option func(*settings)

// settings is what a constructor's options write into: exactly one of the
// targets is set, the one of the constructor applying them.
type settings struct {
	graph     *graphConfig
	output    *GraphOutput
	misplaced []string
}

// graphOption is an option of NewGraph.
func graphOption(name string, f func(*graphConfig)) Option {
	return func(s *settings) {
		if s.graph == nil {
			s.misplaced = append(s.misplaced, name+" (an option of NewGraph)")
			return
		}
		f(s.graph)
	}
}

// outputOption is an option of NewGraphOutput.
func outputOption(name string, f func(*GraphOutput)) Option {
	return func(s *settings) {
		if s.output == nil {
			s.misplaced = append(s.misplaced, name+" (an option of NewGraphOutput)")
			return
		}
		f(s.output)
	}
}

// apply runs opts on s and reports options meant for another constructor.
func (s *settings) apply(constructor string, opts []Option) error {
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	if len(s.misplaced) > 0 {
		return fmt.Errorf("graph: %s was given %s: pass each option to its own constructor",
			constructor, strings.Join(s.misplaced, ", "))
	}
	return nil
}
