package rdfdiff

import "fmt"

// This file holds the strict RDF 1.1 N-Triples mode of the parser: one
// triple per line, absolute IRIs only, no prefixes, no abbreviations, only
// '"' strings, white space limited to spaces and tabs inside a line.

// skipSpaces skips spaces, tabs and a comment, but not the end of the line.
func (p *parser) skipSpaces() {
	for {
		c := p.peek()
		switch c {
		case ' ', '\t':
			p.pos++
		case '#':
			p.skipComment()
			return
		default:
			return
		}
	}
}

// ntStatement parses one N-Triples line. It returns false at the end of input.
func (p *parser) ntStatement() bool {
	p.skipWS()
	c := p.peek()
	if c < 0 {
		if p.rerr != nil {
			panic(parseFailure{fmt.Errorf("rdfdiff: reading input: %w", p.rerr)})
		}
		return false
	}
	var subj, pred, obj Term
	switch c {
	case '<':
		subj = p.iriTerm()
	case '_':
		subj = p.blankNodeLabel()
	default:
		p.fail("expected subject (IRI or blank node), found %s", p.describe())
	}
	p.skipSpaces()
	if p.peek() != '<' {
		p.fail("expected predicate IRI, found %s", p.describe())
	}
	pred = p.iriTerm()
	p.skipSpaces()
	switch p.peek() {
	case '<':
		obj = p.iriTerm()
	case '_':
		obj = p.blankNodeLabel()
	case '"':
		obj = p.literal()
	default:
		p.fail("expected object (IRI, blank node or literal), found %s", p.describe())
	}
	p.skipSpaces()
	if p.peek() != '.' {
		p.fail("expected '.' after triple, found %s", p.describe())
	}
	p.pos++
	p.skipSpaces()
	if c := p.peek(); c >= 0 && c != '\n' && c != '\r' {
		p.fail("expected end of line after triple, found %s", p.describe())
	}
	p.emit(subj, pred, obj)
	return true
}
