package rdfdiff

import (
	"fmt"
	"io"
	"strconv"
	"sync"
)

// SyntaxError reports malformed Turtle or N-Triples input with its position.
// Parsing stops at the first error, so there is at most one per parse.
type SyntaxError struct {
	File      string // the file name given to the parser, or ""
	Line, Col int    // 1-based; Col counts Unicode characters
	Msg       string // what was wrong, or what was expected
}

// Error renders the error as "FILE:line:col: message", the form editors
// and compilers use so that a click jumps to the spot, without "FILE:" when
// no file name was given. (It carries no "rdfdiff:" prefix for that reason;
// wrap it when the context is not obvious.)
func (e *SyntaxError) Error() string {
	b := make([]byte, 0, len(e.File)+len(e.Msg)+24)
	if e.File != "" {
		b = append(b, e.File...)
		b = append(b, ':')
	}
	b = strconv.AppendInt(b, int64(e.Line), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(e.Col), 10)
	b = append(b, ": "...)
	b = append(b, e.Msg...)
	return string(b)
}

// parseOptions is what ParseOption sets.
type parseOptions struct {
	base       string
	file       string
	anonPrefix string
}

// ParseOption configures a TripleReader or ParseTurtleBytes.
type ParseOption func(*parseOptions)

// WithBaseIRI sets the IRI that relative IRIs of a Turtle document resolve
// against (RFC 3986 §5.2) until an @base/BASE directive changes it. It must
// be absolute. Without it, a relative IRI is a syntax error, because RDF
// graphs hold only absolute IRIs. N-Triples ignores it.
func WithBaseIRI(base string) ParseOption {
	return func(o *parseOptions) { o.base = base }
}

// WithFileName names the input in SyntaxError.File, so messages point at
// the file the user knows.
func WithFileName(name string) ParseOption {
	return func(o *parseOptions) { o.file = name }
}

// WithBlankNodePrefix sets the label prefix of the blank nodes the parser
// creates for '[]', '[ ... ]' and collection cells; they are labelled
// prefix+"1", prefix+"2", … in document order (the default prefix is
// "anon-"). Labels written in the document are never renamed, so a
// document that writes a label of that shape itself makes the parser skip
// that number; if it writes one the parser already generated, parsing
// fails rather than merging two different nodes. The prefix must be a valid
// blank node label start (PN_CHARS_U or a digit, then PN_CHARS or '.').
func WithBlankNodePrefix(prefix string) ParseOption {
	return func(o *parseOptions) { o.anonPrefix = prefix }
}

// TripleReader reads triples one at a time from a Turtle or N-Triples
// stream, holding only the current statement in memory, so it suits dumps
// of any size. It reads from its io.Reader in 64 KiB chunks (no need to wrap
// it in a bufio.Reader) and does no I/O until the first call to Next.
type TripleReader struct {
	p        parser
	opts     parseOptions
	started  bool
	ntriples bool
	r        io.Reader
	queue    []Triple
	next     int
	err      error
}

// NewTurtleReader returns a reader of the RDF 1.1 Turtle document r.
func NewTurtleReader(r io.Reader, opts ...ParseOption) *TripleReader {
	return newTripleReader(r, false, opts)
}

// NewNTriplesReader returns a reader of the RDF 1.1 N-Triples document r.
func NewNTriplesReader(r io.Reader, opts ...ParseOption) *TripleReader {
	return newTripleReader(r, true, opts)
}

func newTripleReader(r io.Reader, ntriples bool, opts []ParseOption) *TripleReader {
	tr := &TripleReader{r: r, ntriples: ntriples}
	for _, o := range opts {
		o(&tr.opts)
	}
	return tr
}

// Next returns the next triple, in document order (for nested blank node
// property lists and collections, the triples about the inner node come
// first). It returns io.EOF after the last triple, a *SyntaxError for
// malformed input, or the wrapped error of the underlying reader; after an
// error it keeps returning that error.
func (tr *TripleReader) Next() (Triple, error) {
	for tr.next >= len(tr.queue) {
		if tr.err != nil {
			return Triple{}, tr.err
		}
		tr.fillQueue()
	}
	t := tr.queue[tr.next]
	tr.next++
	return t, nil
}

// fillQueue parses statements until one yields triples or input ends.
func (tr *TripleReader) fillQueue() {
	p := &tr.p
	if !tr.started {
		tr.started = true
		if err := checkOptions(&tr.opts, tr.ntriples); err != nil {
			tr.err = err
			return
		}
		buf := make([]byte, 0, srcChunk)
		p.init(tr.r, buf, &tr.opts, tr.ntriples)
		p.eof = tr.r == nil // a nil reader is an empty document
	}
	p.out = p.out[:0]
	tr.queue, tr.next = nil, 0
	err := p.run(func() {
		if p.pos == 0 && p.line == 1 {
			p.skipBOM()
		}
		for len(p.out) == 0 {
			var more bool
			if tr.ntriples {
				more = p.ntStatement()
			} else {
				more = p.turtleStatement()
			}
			if !more {
				tr.err = io.EOF
				return
			}
		}
	})
	if err != nil {
		tr.err = err
		p.out = p.out[:0]
	}
	tr.queue = p.out
}

// checkOptions validates the options before any input is read.
func checkOptions(o *parseOptions, ntriples bool) error {
	if o.base != "" && !ntriples {
		if !isAbsoluteIRI(o.base) {
			return fmt.Errorf("rdfdiff: base IRI %q is not absolute", o.base)
		}
		if iriNeedsEscape(o.base) {
			return fmt.Errorf("rdfdiff: base IRI %q holds a character not allowed in an IRI", o.base)
		}
	}
	if o.anonPrefix != "" {
		lab := []byte(o.anonPrefix + "1")
		if !isBlankNodeLabel(lab) {
			return fmt.Errorf("rdfdiff: blank node prefix %q does not start a valid blank node label", o.anonPrefix)
		}
	}
	return nil
}

// isBlankNodeLabel reports whether lab is a BLANK_NODE_LABEL without "_:".
func isBlankNodeLabel(lab []byte) bool {
	var p parser
	doc := append([]byte("_:"), lab...)
	p.init(nil, doc, &parseOptions{}, true)
	err := p.run(func() { p.blankNodeLabel() })
	return err == nil && p.pos == len(doc)
}

// parserPool recycles parsers between whole-document parses, so that the
// producer, which parses two entity documents per edit, reuses the intern
// table: the predicates, prefixes and common values of the last documents
// are then found rather than allocated again.
var parserPool = sync.Pool{New: func() any { return new(parser) }}

// parseAll parses a whole document held in memory.
func parseAll(doc []byte, ntriples bool, opts []ParseOption) ([]Triple, error) {
	var o parseOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkOptions(&o, ntriples); err != nil {
		return nil, err
	}
	p := parserPool.Get().(*parser)
	defer parserPool.Put(p)
	return p.parseDocument(doc, &o, ntriples)
}

// parseDocument parses a whole document with p, leaving p reusable.
func (p *parser) parseDocument(doc []byte, o *parseOptions, ntriples bool) ([]Triple, error) {
	defer p.release()
	p.init(nil, doc, o, ntriples)
	// Wikibase documents average 45 bytes per triple in Turtle.
	p.out = make([]Triple, 0, len(doc)/40+1)
	err := p.run(func() {
		p.skipBOM()
		if ntriples {
			for p.ntStatement() {
			}
		} else {
			for p.turtleStatement() {
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return p.out, nil
}

// ParseTurtle parses a whole RDF 1.1 Turtle document. base resolves
// relative IRIs (see WithBaseIRI); it may be "" when the document has none.
// Blank node labels are kept as written; anonymous blank nodes get labels
// as WithBlankNodePrefix describes. Errors are *SyntaxError, or the wrapped
// error of r. Use NewTurtleReader to stream large documents.
func ParseTurtle(r io.Reader, base string) ([]Triple, error) {
	doc, err := readAll(r)
	if err != nil {
		return nil, err
	}
	return parseAll(doc, false, []ParseOption{WithBaseIRI(base)})
}

// ParseTurtleBytes parses a whole Turtle document held in memory, without
// copying it, with the given options.
func ParseTurtleBytes(doc []byte, opts ...ParseOption) ([]Triple, error) {
	return parseAll(doc, false, opts)
}

// ParseNTriples parses a whole RDF 1.1 N-Triples document, strictly: one
// triple per line, absolute IRIs, no Turtle abbreviations. Errors are
// *SyntaxError, or the wrapped error of r.
func ParseNTriples(r io.Reader) ([]Triple, error) {
	doc, err := readAll(r)
	if err != nil {
		return nil, err
	}
	return parseAll(doc, true, nil)
}

// ParseNTriplesBytes parses a whole N-Triples document held in memory,
// without copying it, with the given options.
func ParseNTriplesBytes(doc []byte, opts ...ParseOption) ([]Triple, error) {
	return parseAll(doc, true, opts)
}

// readAll reads r to the end.
func readAll(r io.Reader) ([]byte, error) {
	doc, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("rdfdiff: reading input: %w", err)
	}
	return doc, nil
}
