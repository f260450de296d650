package sparql

import (
	"fmt"
	"strings"
)

// Option configures one of the package's constructors: NewClient,
// NewUpdateBuilder, or NewSPARQL and Outputs. Each option's documentation
// names the constructor it is for; an option given to another constructor
// makes that constructor fail with an error naming the right one, rather
// than be ignored.
type Option func(*settings)

// settings is what a constructor's options write into: exactly one of the
// targets is set, the one of the constructor applying them.
type settings struct {
	client    *Client
	builder   *UpdateBuilder
	sink      *sparqlConfig
	misplaced []string
}

// clientOption is an option of NewClient.
func clientOption(name string, f func(*Client)) Option {
	return func(s *settings) {
		if s.client == nil {
			s.misplaced = append(s.misplaced, name+" (an option of NewClient)")
			return
		}
		f(s.client)
	}
}

// builderOption is an option of NewUpdateBuilder.
func builderOption(name string, f func(*UpdateBuilder)) Option {
	return func(s *settings) {
		if s.builder == nil {
			s.misplaced = append(s.misplaced, name+" (an option of NewUpdateBuilder)")
			return
		}
		f(s.builder)
	}
}

// sinkOption is an option of NewSPARQL and Outputs.
func sinkOption(name string, f func(*sparqlConfig)) Option {
	return func(s *settings) {
		if s.sink == nil {
			s.misplaced = append(s.misplaced, name+" (an option of NewSPARQL and Outputs)")
			return
		}
		f(s.sink)
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
		return fmt.Errorf("sparql: %s was given %s: pass each option to its own constructor",
			constructor, strings.Join(s.misplaced, ", "))
	}
	return nil
}
