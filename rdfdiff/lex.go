package rdfdiff

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// This file holds the byte source shared by the Turtle and N-Triples parsers:
// a refillable window over an io.Reader that tracks line and column without
// per-byte work, plus the character classes of the RDF 1.1 grammars.

// srcChunk is how many bytes the source asks its reader for at a time.
const srcChunk = 64 << 10

// source is a forward-only window over an io.Reader (or over a whole
// document already in memory, when r is nil).
//
// Lines are counted when the parser consumes an end of line; columns are
// computed only when an error is reported, by counting the characters
// between the start of the line and the error. Bytes before the current
// token (mark) and before the current position may be discarded on refill;
// the characters of the current line that are discarded are added to
// colCarry so that columns stay exact.
type source struct {
	r         io.Reader
	buf       []byte
	pos       int  // next unread byte in buf
	mark      int  // start of the current token in buf, or -1
	eof       bool // r is exhausted (or failed: see rerr)
	rerr      error
	line      int // 1-based line of buf[pos]
	lineStart int // index in buf where the current line starts (after discarding, 0)
	colCarry  int // characters of the current line already discarded
	file      string
}

func (s *source) init(r io.Reader, doc []byte, file string) {
	s.r = r
	s.buf = doc
	s.eof = r == nil
	s.mark = -1
	s.line = 1
	s.file = file
}

// fill makes sure at least n bytes are available from pos and reports
// whether they are (false only at the end of input).
func (s *source) fill(n int) bool {
	for len(s.buf)-s.pos < n {
		if s.eof {
			return false
		}
		s.more()
	}
	return true
}

// more reads the next chunk, discarding what is no longer needed.
func (s *source) more() {
	keep := s.pos
	if s.mark >= 0 && s.mark < keep {
		keep = s.mark
	}
	// Never split a character: the column count of the discarded part must
	// not depend on where the reads happened to end.
	for i := keep - 1; i >= s.lineStart && i >= keep-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(s.buf[i]) {
			if !utf8.FullRune(s.buf[i:keep]) {
				keep = i
			}
			break
		}
	}
	if keep > 0 {
		if s.lineStart < keep {
			s.colCarry += utf8.RuneCount(s.buf[s.lineStart:keep])
			s.lineStart = keep
		}
		n := copy(s.buf, s.buf[keep:])
		s.buf = s.buf[:n]
		s.pos -= keep
		s.lineStart -= keep
		if s.mark >= 0 {
			s.mark -= keep
		}
	}
	if cap(s.buf)-len(s.buf) < srcChunk/2 {
		nb := make([]byte, len(s.buf), 2*cap(s.buf)+srcChunk)
		copy(nb, s.buf)
		s.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err != nil {
			s.eof = true
			if !errors.Is(err, io.EOF) {
				s.rerr = err
			}
			return
		}
		if n > 0 {
			return
		}
	}
	s.eof = true
	s.rerr = io.ErrNoProgress
}

// peek returns the byte at pos, or -1 at the end of input.
func (s *source) peek() int {
	if s.pos < len(s.buf) || s.fill(1) {
		return int(s.buf[s.pos])
	}
	return -1
}

// peekAt returns the byte at pos+k, or -1 past the end of input.
func (s *source) peekAt(k int) int {
	if s.pos+k < len(s.buf) || s.fill(k+1) {
		return int(s.buf[s.pos+k])
	}
	return -1
}

// peekRune decodes the character at pos. size is 0 at the end of input;
// an invalid UTF-8 sequence gives (utf8.RuneError, 1).
func (s *source) peekRune() (rune, int) {
	if s.pos >= len(s.buf) && !s.fill(1) {
		return 0, 0
	}
	if c := s.buf[s.pos]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	s.fill(utf8.UTFMax)
	return utf8.DecodeRune(s.buf[s.pos:])
}

// newline records that an end of line was just consumed (pos is after it).
func (s *source) newline() {
	s.line++
	s.lineStart = s.pos
	s.colCarry = 0
}

// colAt returns the 1-based column of buf[i], which must be on the current line.
func (s *source) colAt(i int) int {
	if i < s.lineStart {
		i = s.lineStart
	}
	if i > len(s.buf) {
		i = len(s.buf)
	}
	return s.colCarry + utf8.RuneCount(s.buf[s.lineStart:i]) + 1
}

// syntaxErrorAt builds a SyntaxError for buf[i] on the current line.
func (s *source) syntaxErrorAt(i int, format string, args ...any) *SyntaxError {
	return &SyntaxError{File: s.file, Line: s.line, Col: s.colAt(i), Msg: fmt.Sprintf(format, args...)}
}

// describe names the input at pos for "found ..." parts of messages.
func (s *source) describe() string {
	r, size := s.peekRune()
	switch {
	case size == 0:
		if s.rerr != nil {
			return "read error"
		}
		return "end of input"
	case r == utf8.RuneError && size == 1:
		return fmt.Sprintf("invalid UTF-8 byte 0x%02X", s.buf[s.pos])
	case r == '\n':
		return "end of line"
	case r == '\r':
		return "carriage return"
	case r == '\t':
		return "tab"
	case r < 0x20 || r == 0x7F:
		return fmt.Sprintf("control character U+%04X", r)
	case r == '\'':
		return `"'"`
	}
	return "'" + string(r) + "'"
}

// Character classes (RDF 1.1 Turtle §6.5).

const (
	clsPNBase   = 1 << iota // PN_CHARS_BASE (ASCII letters)
	clsPNU                  // PN_CHARS_U: PN_CHARS_BASE | '_'
	clsPN                   // PN_CHARS: PN_CHARS_U | '-' | [0-9]
	clsIRIOK                // may stand as itself inside an IRIREF
	clsStrOK                // needs no work inside a string: not '"', '\'', '\\', LF, CR
	clsLocalEsc             // may follow '\' in PN_LOCAL_ESC
	clsLangOK               // [a-zA-Z0-9]
	clsScheme               // may appear in a URI scheme after the first letter
)

var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		var k uint8
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			k |= clsPNBase | clsPNU | clsPN | clsLangOK | clsScheme
		case c == '_':
			k |= clsPNU | clsPN
		case c == '-':
			k |= clsPN | clsScheme
		case '0' <= c && c <= '9':
			k |= clsPN | clsLangOK | clsScheme
		case c == '+', c == '.':
			k |= clsScheme
		}
		if c > 0x20 && c != '<' && c != '>' && c != '"' && c != '{' && c != '}' &&
			c != '|' && c != '^' && c != '`' && c != '\\' && c != 0x7F {
			k |= clsIRIOK
		}
		if c == 0x7F {
			k |= clsIRIOK // DEL is allowed by the IRIREF grammar
		}
		if c != '"' && c != '\'' && c != '\\' && c != '\n' && c != '\r' {
			k |= clsStrOK
		}
		switch c {
		case '_', '~', '.', '-', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '/', '?', '#', '@', '%':
			k |= clsLocalEsc
		}
		asciiClass[c] = k
	}
}

// isPNCharsBase reports whether r is in PN_CHARS_BASE.
func isPNCharsBase(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&clsPNBase != 0
	}
	switch {
	case 0xC0 <= r && r <= 0xD6, 0xD8 <= r && r <= 0xF6, 0xF8 <= r && r <= 0x2FF,
		0x370 <= r && r <= 0x37D, 0x37F <= r && r <= 0x1FFF, 0x200C <= r && r <= 0x200D,
		0x2070 <= r && r <= 0x218F, 0x2C00 <= r && r <= 0x2FEF, 0x3001 <= r && r <= 0xD7FF,
		0xF900 <= r && r <= 0xFDCF, 0xFDF0 <= r && r <= 0xFFFD, 0x10000 <= r && r <= 0xEFFFF:
		return true
	}
	return false
}

// isPNCharsU reports whether r is in PN_CHARS_U.
func isPNCharsU(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&clsPNU != 0
	}
	return isPNCharsBase(r)
}

// isPNChars reports whether r is in PN_CHARS.
func isPNChars(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&clsPN != 0
	}
	return r == 0xB7 || 0x300 <= r && r <= 0x36F || 0x203F <= r && r <= 0x2040 || isPNCharsBase(r)
}

func isHex(c int) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c int) bool { return '0' <= c && c <= '9' }
