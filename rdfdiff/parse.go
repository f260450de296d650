package rdfdiff

import (
	"errors"
	"io"
)

// SyntaxError reports malformed Turtle or N-Triples input with its position.
type SyntaxError struct {
	File      string // the file name given to the parser, or ""
	Line, Col int    // 1-based; Col counts Unicode characters
	Msg       string // what was wrong, or what was expected
}

func (e *SyntaxError) Error() string { return "TODO" }

// ParseTurtle parses a whole Turtle document. base resolves relative IRIs; it may be "".
func ParseTurtle(r io.Reader, base string) ([]Triple, error) {
	return nil, errors.New("rdfdiff: ParseTurtle not implemented yet")
}

// ParseNTriples parses a whole N-Triples document.
func ParseNTriples(r io.Reader) ([]Triple, error) {
	return nil, errors.New("rdfdiff: ParseNTriples not implemented yet")
}
