package rdfdiff

import "unicode/utf8"

// This file holds the literal productions of the Turtle and N-Triples
// parsers: the four string forms with their escapes, language tags,
// datatypes, and the number abbreviations. Each literal is built directly
// in canonical N-Triples form in p.tok.

// literal parses a quoted string with an optional language tag or datatype.
func (p *parser) literal() Term {
	p.mark = p.pos
	q := byte(p.peek())
	long := !p.ntriples && p.peekAt(1) == int(q) && p.peekAt(2) == int(q)
	if long {
		p.pos += 3
	} else {
		if p.ntriples && q != '"' {
			p.fail("expected '\"' to start a literal ('...' strings are Turtle only)")
		}
		p.pos++
	}
	p.tok = append(p.tok[:0], '"')
	for done := false; !done; {
		i := p.pos
		for i < len(p.buf) {
			c := p.buf[i]
			if c < utf8.RuneSelf {
				if asciiClass[c]&clsStrOK != 0 {
					i++
					continue
				}
				break
			}
			r, size := utf8.DecodeRune(p.buf[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		p.tok = append(p.tok, p.buf[p.pos:i]...)
		p.pos = i
		c := p.peek()
		switch {
		case c == int(q):
			if !long {
				p.pos++
				done = true
			} else if p.peekAt(1) == int(q) && p.peekAt(2) == int(q) {
				p.pos += 3
				done = true
			} else {
				p.tok = appendQuote(p.tok, q)
				p.pos++
			}
		case c == '"' || c == '\'':
			p.tok = appendQuote(p.tok, byte(c))
			p.pos++
		case c == '\\':
			p.stringEscape()
		case c == '\n' || c == '\r':
			if !long {
				p.fail("expected closing %c, found end of line (use \\n or a long string)", q)
			}
			p.pos++
			if c == '\n' {
				p.tok = append(p.tok, '\\', 'n')
				p.newline()
			} else {
				p.tok = append(p.tok, '\\', 'r')
				if p.peek() != '\n' {
					p.newline()
				}
			}
		case c >= utf8.RuneSelf:
			r, size := p.peekRune()
			if r == utf8.RuneError && size == 1 {
				p.fail("%s in string", p.describe())
			}
			p.tok = append(p.tok, p.buf[p.pos:p.pos+size]...)
			p.pos += size
		case c < 0:
			p.failAtMark("unterminated string: expected closing %c, found end of input", q)
		}
	}
	p.tok = append(p.tok, '"')
	switch p.peek() {
	case '@':
		p.pos++
		p.tok = append(p.tok, '@')
		p.langTag()
	case '^':
		if p.peekAt(1) != '^' {
			p.fail("expected '^^' before datatype")
		}
		p.pos += 2
		var dt Term
		switch c := p.peek(); {
		case c == '<':
			p.lit = append(p.lit[:0], p.tok...)
			dt = p.iriTerm()
			p.tok = append(p.tok[:0], p.lit...)
		case !p.ntriples && (c == ':' || c >= utf8.RuneSelf || c >= 0 && asciiClass[c]&clsPNBase != 0):
			p.lit = append(p.lit[:0], p.tok...)
			t, word := p.prefixedNameOrWord()
			if word != "" {
				p.failAtMark("expected datatype IRI after '^^', found keyword %q", word)
			}
			dt = t
			p.tok = append(p.tok[:0], p.lit...)
		default:
			p.fail("expected datatype IRI after '^^', found %s", p.describe())
		}
		if dt.nt != xsdStringIRINT {
			p.tok = append(p.tok, '^', '^')
			p.tok = append(p.tok, dt.nt...)
		}
	}
	p.mark = -1
	return p.intern(p.tok)
}

func appendQuote(b []byte, q byte) []byte {
	if q == '"' {
		return append(b, '\\', '"')
	}
	return append(b, q)
}

// stringEscape decodes an ECHAR or UCHAR at pos and appends its canonical form.
func (p *parser) stringEscape() {
	e := p.peekAt(1)
	var c byte
	switch e {
	case 't':
		c = '\t'
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n', 'r', '"', '\\':
		p.tok = append(p.tok, '\\', byte(e))
		p.pos += 2
		return
	case '\'':
		c = '\''
	case 'u', 'U':
		r := p.readUCHAR()
		switch r {
		case '\n':
			p.tok = append(p.tok, '\\', 'n')
		case '\r':
			p.tok = append(p.tok, '\\', 'r')
		case '"':
			p.tok = append(p.tok, '\\', '"')
		case '\\':
			p.tok = append(p.tok, '\\', '\\')
		default:
			p.tok = utf8.AppendRune(p.tok, r)
		}
		return
	default:
		p.fail("invalid escape in string: '\\' must be followed by one of tbnrf\"'\\ or uU")
	}
	p.tok = append(p.tok, c)
	p.pos += 2
}

// langTag parses [a-zA-Z]+ ('-' [a-zA-Z0-9]+)* after '@', lower-cased.
func (p *parser) langTag() {
	n := 0
	for {
		c := p.peek()
		if c < 0 || c >= utf8.RuneSelf || !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			break
		}
		p.tok = append(p.tok, byte(c)|0x20)
		p.pos++
		n++
	}
	if n == 0 {
		p.fail("expected language tag after '@', found %s", p.describe())
	}
	for p.peek() == '-' {
		c := p.peekAt(1)
		if c < 0 || c >= utf8.RuneSelf || asciiClass[c]&clsLangOK == 0 {
			if p.ntriples {
				p.fail("expected letters or digits after '-' in language tag")
			}
			return // the '-' is not part of the tag
		}
		p.tok = append(p.tok, '-')
		p.pos++
		for {
			c := p.peek()
			if c < 0 || c >= utf8.RuneSelf || asciiClass[c]&clsLangOK == 0 {
				break
			}
			if 'A' <= c && c <= 'Z' {
				c |= 0x20
			}
			p.tok = append(p.tok, byte(c))
			p.pos++
		}
	}
}

// number parses an INTEGER, DECIMAL or DOUBLE; the lexical form is kept.
func (p *parser) number() Term {
	p.mark = p.pos
	if c := p.peek(); c == '+' || c == '-' {
		p.pos++
	}
	intDigits := p.digits()
	fracDigits := -1
	if p.peek() == '.' {
		n := p.peekAt(1)
		if isDigit(n) || intDigits > 0 && (n == 'e' || n == 'E') {
			p.pos++
			fracDigits = p.digits()
		}
	}
	suffix := suffixInteger
	if fracDigits >= 0 {
		suffix = suffixDecimal
	}
	if c := p.peek(); (c == 'e' || c == 'E') && (intDigits > 0 || fracDigits > 0) {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digits() == 0 {
			p.fail("expected digits in the exponent of a double, found %s", p.describe())
		}
		suffix = suffixDouble
	}
	if intDigits == 0 && fracDigits <= 0 {
		p.failAtMark("expected a number, found %q", string(p.buf[p.mark:p.pos]))
	}
	p.tok = append(p.tok[:0], '"')
	p.tok = append(p.tok, p.buf[p.mark:p.pos]...)
	p.tok = append(p.tok, suffix...)
	p.mark = -1
	return p.intern(p.tok)
}

func (p *parser) digits() int {
	n := 0
	for isDigit(p.peek()) {
		p.pos++
		n++
	}
	return n
}
