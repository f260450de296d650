package rdfdiff

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small strict JSON reader for rdf_change messages. encoding/json cannot
// report duplicate names or keep member order without a token-by-token
// Decoder, which rescans large values several times; rdf_change messages
// carry up to ~256 KB strings, so this reader makes one pass over the input
// and decodes each string once. It accepts exactly RFC 8259 JSON.

// jsonValue is one parsed JSON value.
type jsonValue struct {
	kind    string       // "object", "array", "string", "number", "boolean", "null"
	raw     []byte       // the value's bytes in the input
	str     string       // a string's decoded value
	members []jsonMember // an object's members, in document order
}

// jsonMember is one name/value pair of a JSON object.
type jsonMember struct {
	name  string
	value *jsonValue
}

// maxJSONDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxJSONDepth = 1000

// jsonSyntaxError is the cause of an "not valid JSON" EventError.
type jsonSyntaxError struct {
	Offset int
	Msg    string
}

// Error gives the byte offset and the problem.
func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg)
}

type jsonReader struct {
	data []byte
	pos  int
}

// parseJSON parses data as exactly one JSON value with optional surrounding
// whitespace.
func parseJSON(data []byte) (*jsonValue, error) {
	r := &jsonReader{data: data}
	if !utf8.Valid(data) {
		// Refused, never repaired: a replacement character would reach the
		// store as if it had been sent.
		for r.pos < len(data) {
			c, size := utf8.DecodeRune(data[r.pos:])
			if c == utf8.RuneError && size <= 1 {
				return nil, r.errorf("invalid UTF-8 (byte 0x%02x)", data[r.pos])
			}
			r.pos += size
		}
	}
	r.skipSpace()
	v, err := r.value(0)
	if err != nil {
		return nil, err
	}
	r.skipSpace()
	if r.pos < len(r.data) {
		return nil, r.errorf("trailing data after the JSON value")
	}
	return v, nil
}

func (r *jsonReader) errorf(format string, args ...any) error {
	return &jsonSyntaxError{Offset: r.pos, Msg: fmt.Sprintf(format, args...)}
}

func (r *jsonReader) skipSpace() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

func (r *jsonReader) value(depth int) (*jsonValue, error) {
	if r.pos >= len(r.data) {
		return nil, r.errorf("unexpected end of input, want a value")
	}
	start := r.pos
	switch c := r.data[r.pos]; {
	case c == '{':
		if depth >= maxJSONDepth {
			return nil, r.errorf("nested too deeply")
		}
		return r.object(depth)
	case c == '[':
		if depth >= maxJSONDepth {
			return nil, r.errorf("nested too deeply")
		}
		return r.array(depth)
	case c == '"':
		s, err := r.string()
		if err != nil {
			return nil, err
		}
		return &jsonValue{kind: "string", raw: r.data[start:r.pos], str: s}, nil
	case c == '-' || '0' <= c && c <= '9':
		if err := r.number(); err != nil {
			return nil, err
		}
		return &jsonValue{kind: "number", raw: r.data[start:r.pos]}, nil
	default:
		for _, lit := range [...]struct{ word, kind string }{{"true", "boolean"}, {"false", "boolean"}, {"null", "null"}} {
			if len(r.data)-r.pos >= len(lit.word) && string(r.data[r.pos:r.pos+len(lit.word)]) == lit.word {
				r.pos += len(lit.word)
				return &jsonValue{kind: lit.kind, raw: r.data[start:r.pos]}, nil
			}
		}
		return nil, r.errorf("invalid character %q, want a value", rune(c))
	}
}

func (r *jsonReader) object(depth int) (*jsonValue, error) {
	start := r.pos
	r.pos++ // '{'
	v := &jsonValue{kind: "object"}
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		v.raw = r.data[start:r.pos]
		return v, nil
	}
	for {
		r.skipSpace()
		if r.pos >= len(r.data) || r.data[r.pos] != '"' {
			return nil, r.errorf("want a member name")
		}
		name, err := r.string()
		if err != nil {
			return nil, err
		}
		r.skipSpace()
		if r.pos >= len(r.data) || r.data[r.pos] != ':' {
			return nil, r.errorf("want ':' after member name")
		}
		r.pos++
		r.skipSpace()
		mv, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.members = append(v.members, jsonMember{name: name, value: mv})
		r.skipSpace()
		if r.pos >= len(r.data) {
			return nil, r.errorf("unexpected end of input in an object")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case '}':
			r.pos++
			v.raw = r.data[start:r.pos]
			return v, nil
		default:
			return nil, r.errorf("want ',' or '}' in an object")
		}
	}
}

func (r *jsonReader) array(depth int) (*jsonValue, error) {
	start := r.pos
	r.pos++ // '['
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
		return &jsonValue{kind: "array", raw: r.data[start:r.pos]}, nil
	}
	for {
		r.skipSpace()
		if _, err := r.value(depth + 1); err != nil {
			return nil, err
		}
		r.skipSpace()
		if r.pos >= len(r.data) {
			return nil, r.errorf("unexpected end of input in an array")
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return &jsonValue{kind: "array", raw: r.data[start:r.pos]}, nil
		default:
			return nil, r.errorf("want ',' or ']' in an array")
		}
	}
}

// number checks the JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *jsonReader) number() error {
	d := r.data
	if r.pos < len(d) && d[r.pos] == '-' {
		r.pos++
	}
	digits := func() int {
		n := 0
		for r.pos < len(d) && '0' <= d[r.pos] && d[r.pos] <= '9' {
			r.pos++
			n++
		}
		return n
	}
	switch {
	case r.pos < len(d) && d[r.pos] == '0':
		r.pos++
	case digits() == 0:
		return r.errorf("invalid number")
	}
	if r.pos < len(d) && d[r.pos] == '.' {
		r.pos++
		if digits() == 0 {
			return r.errorf("invalid number: no digit after '.'")
		}
	}
	if r.pos < len(d) && (d[r.pos] == 'e' || d[r.pos] == 'E') {
		r.pos++
		if r.pos < len(d) && (d[r.pos] == '+' || d[r.pos] == '-') {
			r.pos++
		}
		if digits() == 0 {
			return r.errorf("invalid number: no digit in the exponent")
		}
	}
	return nil
}

// string reads a JSON string at r.pos (on its '"') and returns its value.
// Like encoding/json it turns invalid UTF-8 and lone surrogates into U+FFFD.
func (r *jsonReader) string() (string, error) {
	d := r.data
	r.pos++ // '"'
	start := r.pos
	// Fast path: no escape, valid UTF-8.
	for r.pos < len(d) {
		c := d[r.pos]
		if c == '"' {
			s := d[start:r.pos]
			r.pos++
			if utf8.Valid(s) {
				return string(s), nil
			}
			return string([]rune(string(s))), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", r.errorf("control character %#02x in a string", c)
		}
		r.pos++
	}
	// The decoded string is no longer than its source: find the end first,
	// so the result is built in one allocation of the right size.
	end := r.pos
	for end < len(d) && d[end] != '"' {
		if d[end] == '\\' {
			end++
		}
		end++
	}
	var buf strings.Builder
	buf.Grow(min(end, len(d)) - start)
	buf.Write(d[start:r.pos])
	for r.pos < len(d) {
		c := d[r.pos]
		switch {
		case c == '"':
			r.pos++
			out := buf.String()
			if !utf8.ValidString(out) {
				out = string([]rune(out))
			}
			return out, nil
		case c < 0x20:
			return "", r.errorf("control character %#02x in a string", c)
		case c != '\\':
			// Copy the run up to the next quote, escape or control character.
			run := r.pos + 1
			for run < len(d) && d[run] != '"' && d[run] != '\\' && d[run] >= 0x20 {
				run++
			}
			buf.Write(d[r.pos:run])
			r.pos = run
			continue
		}
		if r.pos+1 >= len(d) {
			break
		}
		esc := d[r.pos+1]
		r.pos += 2
		switch esc {
		case '"', '\\', '/':
			buf.WriteByte(esc)
		case 'b':
			buf.WriteByte('\b')
		case 'f':
			buf.WriteByte('\f')
		case 'n':
			buf.WriteByte('\n')
		case 'r':
			buf.WriteByte('\r')
		case 't':
			buf.WriteByte('\t')
		case 'u':
			u, ok := r.hex4()
			if !ok {
				return "", r.errorf("invalid \\u escape")
			}
			ru := rune(u)
			if utf16.IsSurrogate(ru) {
				ru = utf8.RuneError
				save := r.pos
				if r.pos+1 < len(d) && d[r.pos] == '\\' && d[r.pos+1] == 'u' {
					r.pos += 2
					if u2, ok := r.hex4(); ok {
						if dec := utf16.DecodeRune(rune(u), rune(u2)); dec != utf8.RuneError {
							ru = dec
						} else {
							r.pos = save
						}
					} else {
						r.pos = save
					}
				}
			}
			buf.WriteRune(ru)
		default:
			r.pos--
			return "", r.errorf("invalid escape '\\%c'", esc)
		}
	}
	return "", r.errorf("unterminated string")
}

func (r *jsonReader) hex4() (uint16, bool) {
	if r.pos+4 > len(r.data) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(r.data[r.pos:r.pos+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	r.pos += 4
	return uint16(v), true
}
