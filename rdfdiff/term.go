package rdfdiff

import (
	"strings"
	"unicode/utf8"
)

// Well-known datatype IRIs.
const (
	XSDString     = "http://www.w3.org/2001/XMLSchema#string"
	XSDInteger    = "http://www.w3.org/2001/XMLSchema#integer"
	XSDDecimal    = "http://www.w3.org/2001/XMLSchema#decimal"
	XSDDouble     = "http://www.w3.org/2001/XMLSchema#double"
	XSDBoolean    = "http://www.w3.org/2001/XMLSchema#boolean"
	XSDDateTime   = "http://www.w3.org/2001/XMLSchema#dateTime"
	RDFLangString = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
	RDFType       = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
)

// Kind tells which of the three RDF term kinds a Term is.
type Kind uint8

// The kinds of RDF term. The zero Kind belongs to the zero Term only.
const (
	KindInvalid Kind = iota
	KindIRI
	KindBlankNode
	KindLiteral
)

// String returns the kind's name ("IRI", "blank node", "literal").
func (k Kind) String() string {
	switch k {
	case KindIRI:
		return "IRI"
	case KindBlankNode:
		return "blank node"
	case KindLiteral:
		return "literal"
	}
	return "invalid"
}

// Term is an RDF 1.1 term: an IRI, a blank node or a literal.
//
// A Term holds one string, its canonical N-Triples form (RDF 1.1 N-Triples §4),
// so it is 16 bytes, comparable with ==, usable as a map key, hashed as one
// string, and written out without any work. Two terms are equal exactly when
// they are the same RDF term:
//   - a simple literal and an xsd:string literal with the same lexical form are
//     the same term (RDF 1.1), both written "lex";
//   - language tags compare case-insensitively (RDF 1.1), so they are stored
//     in lower case;
//   - lexical forms are never normalised ("01"^^xsd:integer is not "1"^^xsd:integer).
//
// The zero Term is invalid; IsZero reports it.
type Term struct {
	nt string
}

// Triple is an RDF triple. Triples are comparable and usable as map keys.
type Triple struct {
	S, P, O Term
}

// NewIRI returns the IRI term for iri, which should be an absolute IRI
// without surrounding angle brackets. It does no validation: the parsers
// validate what they read. An iri holding characters RDF forbids in IRIs
// (space, controls, <>"{}|^`\\) is not a valid RDF IRI; NewIRI writes those
// characters as \u escapes so the term can never break out of its brackets in
// N-Triples, Turtle or SPARQL, and the writers refuse such terms
// (ErrInvalidTriple) rather than emit an IRI a store would misread.
func NewIRI(iri string) Term {
	if iriNeedsEscape(iri) {
		return Term{nt: string(appendEscapedIRI(append(make([]byte, 0, len(iri)+8), '<'), iri)) + ">"}
	}
	return Term{nt: "<" + iri + ">"}
}

// NewBlankNode returns the blank node with the given label (without "_:").
// Labels are preserved as given: Wikibase labels are stable content hashes.
func NewBlankNode(label string) Term {
	return Term{nt: "_:" + label}
}

// NewLiteral returns the simple literal (datatype xsd:string) with the given
// lexical form.
func NewLiteral(lexical string) Term {
	b := make([]byte, 0, len(lexical)+2)
	b = append(b, '"')
	b = AppendEscapedString(b, lexical)
	b = append(b, '"')
	return Term{nt: string(b)}
}

// NewLangLiteral returns a language-tagged string (datatype rdf:langString).
// The tag is stored in lower case. An empty tag gives a simple literal. The
// tag is not validated (BCP 47 as Turtle restricts it: [a-zA-Z]+(-[a-zA-Z0-9]+)*);
// the writers refuse a term whose tag is malformed.
func NewLangLiteral(lexical, lang string) Term {
	if lang == "" {
		return NewLiteral(lexical)
	}
	b := make([]byte, 0, len(lexical)+len(lang)+3)
	b = append(b, '"')
	b = AppendEscapedString(b, lexical)
	b = append(b, '"', '@')
	b = appendLower(b, lang)
	return Term{nt: string(b)}
}

// NewTypedLiteral returns a literal with the given datatype IRI. The datatype
// xsd:string (or an empty datatype) gives a simple literal.
func NewTypedLiteral(lexical, datatype string) Term {
	if datatype == "" || datatype == XSDString {
		return NewLiteral(lexical)
	}
	b := make([]byte, 0, len(lexical)+len(datatype)+6)
	b = append(b, '"')
	b = AppendEscapedString(b, lexical)
	b = append(b, '"', '^', '^', '<')
	b = appendEscapedIRI(b, datatype)
	b = append(b, '>')
	return Term{nt: string(b)}
}

// termFromCanonical wraps a string that is already in canonical N-Triples form.
// Parsers use it to build a term with a single allocation (or none, when the
// string is interned).
func termFromCanonical(nt string) Term { return Term{nt: nt} }

// Kind reports whether t is an IRI, a blank node or a literal.
func (t Term) Kind() Kind {
	if t.nt == "" {
		return KindInvalid
	}
	switch t.nt[0] {
	case '<':
		return KindIRI
	case '_':
		return KindBlankNode
	case '"':
		return KindLiteral
	}
	return KindInvalid
}

// IsZero reports whether t is the zero (invalid) Term.
func (t Term) IsZero() bool { return t.nt == "" }

// IsIRI reports whether t is an IRI.
func (t Term) IsIRI() bool { return t.nt != "" && t.nt[0] == '<' }

// IsBlankNode reports whether t is a blank node.
func (t Term) IsBlankNode() bool { return t.nt != "" && t.nt[0] == '_' }

// IsLiteral reports whether t is a literal.
func (t Term) IsLiteral() bool { return t.nt != "" && t.nt[0] == '"' }

// String returns t in canonical N-Triples form: <iri>, _:label, "lex",
// "lex"@lang or "lex"^^<datatype>.
func (t Term) String() string { return t.nt }

// Value returns the IRI of an IRI, the label of a blank node, or the lexical
// form of a literal. It does not allocate unless the term holds escapes.
func (t Term) Value() string {
	switch t.Kind() {
	case KindIRI:
		return unescapeIfNeeded(t.nt[1 : len(t.nt)-1])
	case KindBlankNode:
		return t.nt[2:]
	case KindLiteral:
		return unescapeIfNeeded(t.nt[1:t.lexicalEnd()])
	}
	return ""
}

// HasPrefix reports whether t is an IRI that starts with prefix. It does not
// allocate, and is how mungers and classifiers test namespaces.
func (t Term) HasPrefix(prefix string) bool {
	return len(t.nt) >= len(prefix)+2 && t.nt[0] == '<' && t.nt[1:1+len(prefix)] == prefix
}

// IsIRIEqual reports whether t is the IRI iri, without allocating.
func (t Term) IsIRIEqual(iri string) bool {
	return len(t.nt) == len(iri)+2 && t.nt[0] == '<' && t.nt[1:len(t.nt)-1] == iri
}

// Lang returns the (lower-case) language tag of a language-tagged literal, or "".
func (t Term) Lang() string {
	if !t.IsLiteral() {
		return ""
	}
	end := t.lexicalEnd()
	if end+1 < len(t.nt) && t.nt[end+1] == '@' {
		return t.nt[end+2:]
	}
	return ""
}

// Datatype returns the datatype IRI of a literal: xsd:string for a simple
// literal, rdf:langString for a language-tagged one, and "" for IRIs and
// blank nodes.
func (t Term) Datatype() string {
	if !t.IsLiteral() {
		return ""
	}
	end := t.lexicalEnd()
	rest := t.nt[end+1:]
	switch {
	case rest == "":
		return XSDString
	case rest[0] == '@':
		return RDFLangString
	default: // ^^<dt>
		return unescapeIfNeeded(rest[3 : len(rest)-1])
	}
}

// LexicalLen returns the length in bytes of a literal's lexical form, without
// unescaping it when it holds no escapes.
func (t Term) LexicalLen() int {
	if !t.IsLiteral() {
		return 0
	}
	lex := t.nt[1:t.lexicalEnd()]
	if strings.IndexByte(lex, '\\') < 0 {
		return len(lex)
	}
	return len(unescape(lex))
}

// lexicalEnd returns the index of the closing quote of a literal: the first
// '"' after the opening one that is not escaped. It does not trust the suffix,
// so a malformed language tag cannot make the accessors misread a term.
func (t Term) lexicalEnd() int {
	from := 1
	for {
		i := strings.IndexByte(t.nt[from:], '"')
		if i < 0 {
			return len(t.nt) // unreachable for terms built by this package
		}
		i += from
		backslashes := 0
		for j := i - 1; j > 0 && t.nt[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return i
		}
		from = i + 1
	}
}

// Compare orders terms by their canonical N-Triples form: a total order, the
// one sorted N-Triples output uses (literals, then IRIs, then blank nodes).
func (t Term) Compare(u Term) int { return strings.Compare(t.nt, u.nt) }

// String returns the triple as one N-Triples line without the newline.
func (tr Triple) String() string {
	return tr.S.nt + " " + tr.P.nt + " " + tr.O.nt + " ."
}

// Compare orders triples by subject, predicate, then object.
func (tr Triple) Compare(u Triple) int {
	if c := strings.Compare(tr.S.nt, u.S.nt); c != 0 {
		return c
	}
	if c := strings.Compare(tr.P.nt, u.P.nt); c != 0 {
		return c
	}
	return strings.Compare(tr.O.nt, u.O.nt)
}

// AppendEscapedString appends s escaped for the inside of an N-Triples,
// Turtle or SPARQL double-quoted string: '"', '\\', LF and CR become ECHARs
// (the canonical N-Triples rule); every other character stands as itself.
// Invalid UTF-8 bytes become U+FFFD so the output is always valid UTF-8.
func AppendEscapedString(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			var esc string
			switch c {
			case '"':
				esc = `\"`
			case '\\':
				esc = `\\`
			case '\n':
				esc = `\n`
			case '\r':
				esc = `\r`
			default:
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, esc...)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// iriNeedsEscape reports whether iri holds a character that may not stand
// as itself inside an N-Triples IRIREF.
func iriNeedsEscape(iri string) bool {
	for i := 0; i < len(iri); i++ {
		if iriForbidden(iri[i]) {
			return true
		}
	}
	return !utf8.ValidString(iri)
}

func iriForbidden(c byte) bool {
	switch c {
	case '<', '>', '"', '{', '}', '|', '^', '`', '\\':
		return true
	}
	return c <= 0x20
}

const hexDigits = "0123456789ABCDEF"

// appendEscapedIRI appends iri with forbidden characters written as \uXXXX
// (upper-case hex, the canonical N-Triples rule).
func appendEscapedIRI(dst []byte, iri string) []byte {
	for i := 0; i < len(iri); {
		c := iri[i]
		if c < utf8.RuneSelf {
			if iriForbidden(c) {
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			} else {
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(iri[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, iri[i:i+size]...)
		}
		i += size
	}
	return dst
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func unescapeIfNeeded(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	return unescape(s)
}

// unescape decodes the ECHAR and UCHAR escapes of a canonical term string.
// The input was produced by this package, so it is well formed.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case '"', '\\', '\'':
			b.WriteByte(s[i])
		case 'u', 'U':
			n := 4
			if s[i] == 'U' {
				n = 8
			}
			if i+n < len(s) {
				var r rune
				for _, h := range s[i+1 : i+1+n] {
					r = r<<4 | rune(hexValue(byte(h)))
				}
				b.WriteRune(r)
				i += n
			}
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func hexValue(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}
