package rdfdiff

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrInvalidTriple is wrapped by the writers' errors when a triple cannot be
// written as valid RDF: a zero term, a literal or blank node where an IRI is
// required, a blank node label or language tag that Turtle cannot spell. A
// writer refuses such a triple rather than emit text that would not re-parse
// to the same triples.
var ErrInvalidTriple = errors.New("rdfdiff: invalid triple")

// writeBufSize is how much output the streaming writers gather before they
// hand it to the underlying io.Writer.
const writeBufSize = 32 << 10

// AppendNTriples appends ts to dst as canonical N-Triples: one triple per line,
// "<s> <p> <o> .\n", in the order given. Terms are already held in canonical
// form, so this is a copy and never fails; it does not check the triples
// (WriteNTriples does). Sort first (SortTriples) for a deterministic dump.
func AppendNTriples(dst []byte, ts []Triple) []byte {
	for _, t := range ts {
		dst = append(dst, t.S.nt...)
		dst = append(dst, ' ')
		dst = append(dst, t.P.nt...)
		dst = append(dst, ' ')
		dst = append(dst, t.O.nt...)
		dst = append(dst, " .\n"...)
	}
	return dst
}

// WriteNTriples writes ts to w as canonical N-Triples, one triple per line, in
// the order given. It checks every triple first and writes nothing if one is
// invalid (the error wraps ErrInvalidTriple and names the triple's index), so a
// half-written dump never hides a bad triple. Output is buffered; w receives
// writes of about 32 KiB.
func WriteNTriples(w io.Writer, ts []Triple) error {
	for i, t := range ts {
		if err := checkWritableTriple(t); err != nil {
			return fmt.Errorf("rdfdiff: N-Triples: triple %d: %w", i, err)
		}
	}
	buf := make([]byte, 0, writeBufSize+1024)
	for i := range ts {
		buf = AppendNTriples(buf, ts[i:i+1])
		if len(buf) >= writeBufSize {
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("rdfdiff: N-Triples: %w", err)
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("rdfdiff: N-Triples: %w", err)
		}
	}
	return nil
}

// SortTriples sorts ts in place by subject, predicate and object (the order of
// Triple.Compare, which is byte order of the canonical N-Triples line). Sorted
// output is deterministic, so dumps can be compared with diff and golden files.
func SortTriples(ts []Triple) {
	slices.SortFunc(ts, Triple.Compare)
}

// AppendTurtle appends ts to dst as one Turtle document in the form the WDQS
// producer's RDF4J TurtleWriter gives rdf_change chunks (see TurtleWriter).
// On an invalid triple it returns dst unchanged and an error wrapping
// ErrInvalidTriple.
func AppendTurtle(dst []byte, ts []Triple) ([]byte, error) {
	e := turtleEncoder{buf: dst}
	for i, t := range ts {
		if err := e.writeTriple(t); err != nil {
			return dst, fmt.Errorf("rdfdiff: Turtle: triple %d: %w", i, err)
		}
	}
	e.end()
	return e.buf, nil
}

// WriteTurtle writes ts to w as one Turtle document (see TurtleWriter). Like
// WriteNTriples it checks every triple first and writes nothing if one is
// invalid (the error wraps ErrInvalidTriple and names the triple's index).
func WriteTurtle(w io.Writer, ts []Triple) error {
	for i, t := range ts {
		if err := checkTurtleWritable(t); err != nil {
			return fmt.Errorf("rdfdiff: Turtle: triple %d: %w", i, err)
		}
	}
	tw := NewTurtleWriter(w)
	for _, t := range ts {
		if err := tw.WriteTriple(t); err != nil {
			return err
		}
	}
	return tw.Close()
}

// TurtleWriter writes triples as a Turtle document, statement by statement, in
// the exact form RDF4J's (Sesame's) TurtleWriter gives the chunks of WDQS
// rdf_change events when no prefix is declared:
//
//   - IRIs are written in full (<...>), rdf:type as the predicate is "a";
//   - consecutive triples with the same subject are grouped with " ;" and a
//     new line indented by one tab, with the same subject and predicate with
//     " , " on the same line;
//   - each subject group starts on a new line after an empty one and ends
//     with " .": a document is "\n<s> <p> <o> ;\n\t<p2> <o2> , <o3> .\n...";
//   - literals are written in their canonical N-Triples form ("lex",
//     "lex"@en, "lex"^^<dt>), except that xsd:integer, xsd:decimal,
//     xsd:double and xsd:boolean literals whose lexical form is already the
//     XSD canonical one are written bare (2, 1.5, 1.0E3, true), as RDF4J does.
//
// Two differences from RDF4J are deliberate, so that the output always
// re-parses to exactly the triples written: a numeric or boolean literal with
// a non-canonical lexical form ("+1.96"^^xsd:decimal) stays quoted, where
// RDF4J would normalise it and so change the literal; and a literal holding a
// line break is written with \n escapes rather than as a """long string""".
//
// Grouping only joins consecutive triples, so sort the input (SortTriples) for
// the most compact text. Len reports the size of the document so far in the
// unit the WDQS chunker measures (Java characters), which is what lets the
// chunker close a chunk right after the statement that crossed its limit.
//
// A TurtleWriter buffers up to about 32 KiB before writing to w. Close ends
// the document; it does not close w.
type TurtleWriter struct {
	w   io.Writer
	enc turtleEncoder
	err error
}

// NewTurtleWriter returns a writer that writes one Turtle document to w.
func NewTurtleWriter(w io.Writer) *TurtleWriter {
	return &TurtleWriter{w: w, enc: turtleEncoder{buf: make([]byte, 0, 4096)}}
}

// WriteTriple writes one statement. An invalid triple gives an error wrapping
// ErrInvalidTriple and writes nothing; the document stays usable. A write
// error from the underlying writer is sticky.
func (tw *TurtleWriter) WriteTriple(t Triple) error {
	if tw.err != nil {
		return tw.err
	}
	if err := tw.enc.writeTriple(t); err != nil {
		return fmt.Errorf("rdfdiff: Turtle: %w", err)
	}
	if len(tw.enc.buf) >= writeBufSize {
		tw.flush()
	}
	return tw.err
}

// Len returns the length of the document written so far, counted as Java
// counts a String's length (UTF-16 code units: one per character, two for a
// character outside the Basic Multilingual Plane). The closing " .\n" of the
// open statement group is not counted until Close writes it, exactly as in
// the RDF4J buffer that WDQS measures.
func (tw *TurtleWriter) Len() int { return tw.enc.chars }

// Close ends the document (" .\n" after the last statement group, nothing if
// no triple was written) and writes out what is buffered. It does not close
// the underlying writer. Writing after Close starts a new subject group.
func (tw *TurtleWriter) Close() error {
	if tw.err != nil {
		return tw.err
	}
	tw.enc.end()
	tw.flush()
	return tw.err
}

func (tw *TurtleWriter) flush() {
	if len(tw.enc.buf) == 0 {
		return
	}
	if _, err := tw.w.Write(tw.enc.buf); err != nil {
		tw.err = fmt.Errorf("rdfdiff: Turtle: %w", err)
	}
	tw.enc.buf = tw.enc.buf[:0]
}

// turtleEncoder appends the RDF4J form of Turtle to buf and counts what it
// appended in UTF-16 code units. The chunker uses it directly.
type turtleEncoder struct {
	buf        []byte
	chars      int // UTF-16 code units appended since the last reset
	subj, pred Term
	open       bool // a statement group is open (its " ." not yet written)
}

// writeTriple appends one statement, or returns an error wrapping
// ErrInvalidTriple and appends nothing.
func (e *turtleEncoder) writeTriple(t Triple) error {
	if err := checkTurtleWritable(t); err != nil {
		return err
	}
	start := len(e.buf)
	switch {
	case e.open && t.S == e.subj && t.P == e.pred:
		e.buf = append(e.buf, " , "...)
	case e.open && t.S == e.subj:
		e.buf = append(e.buf, " ;\n\t"...)
		e.buf = appendTurtlePredicate(e.buf, t.P)
		e.buf = append(e.buf, ' ')
		e.pred = t.P
	default:
		if e.open {
			e.buf = append(e.buf, " .\n"...)
		}
		e.buf = append(e.buf, '\n')
		e.buf = append(e.buf, t.S.nt...)
		e.buf = append(e.buf, ' ')
		e.buf = appendTurtlePredicate(e.buf, t.P)
		e.buf = append(e.buf, ' ')
		e.subj, e.pred, e.open = t.S, t.P, true
	}
	e.buf = appendTurtleObject(e.buf, t.O)
	e.chars += utf16Len(e.buf[start:])
	return nil
}

// end closes the open statement group, if any.
func (e *turtleEncoder) end() {
	if e.open {
		e.buf = append(e.buf, " .\n"...)
		e.chars += 3
		e.open = false
		e.subj, e.pred = Term{}, Term{}
	}
}

// reset starts a new document in an empty buffer.
func (e *turtleEncoder) reset() {
	e.buf = e.buf[:0]
	e.chars = 0
	e.open = false
	e.subj, e.pred = Term{}, Term{}
}

func appendTurtlePredicate(dst []byte, p Term) []byte {
	if p.IsIRIEqual(RDFType) {
		return append(dst, 'a')
	}
	return append(dst, p.nt...)
}

// Suffixes of the literals that Turtle can write bare.
const (
	bareSuffixInteger = `"^^<` + XSDInteger + `>`
	bareSuffixDecimal = `"^^<` + XSDDecimal + `>`
	bareSuffixDouble  = `"^^<` + XSDDouble + `>`
	bareSuffixBoolean = `"^^<` + XSDBoolean + `>`
)

func appendTurtleObject(dst []byte, o Term) []byte {
	nt := o.nt
	if len(nt) > len(bareSuffixInteger) && nt[0] == '"' && nt[len(nt)-1] == '>' {
		var ok bool
		var lex string
		switch {
		case strings.HasSuffix(nt, bareSuffixInteger):
			lex = nt[1 : len(nt)-len(bareSuffixInteger)]
			ok = isCanonicalInteger(lex)
		case strings.HasSuffix(nt, bareSuffixDecimal):
			lex = nt[1 : len(nt)-len(bareSuffixDecimal)]
			ok = isCanonicalDecimal(lex)
		case strings.HasSuffix(nt, bareSuffixDouble):
			lex = nt[1 : len(nt)-len(bareSuffixDouble)]
			ok = isCanonicalDouble(lex)
		case strings.HasSuffix(nt, bareSuffixBoolean):
			lex = nt[1 : len(nt)-len(bareSuffixBoolean)]
			ok = lex == "true" || lex == "false"
		}
		if ok {
			return append(dst, lex...)
		}
	}
	return append(dst, nt...)
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isCanonicalInteger reports whether s is the XSD canonical form of an
// xsd:integer: "0" or an optional "-" and digits without a leading zero.
func isCanonicalInteger(s string) bool {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if !isDigits(s) {
		return false
	}
	if s[0] == '0' {
		return len(s) == 1 && !neg
	}
	return true
}

// isCanonicalDecimal reports whether s is the canonical form of an
// xsd:decimal as RDF4J writes it: an optional "-", an integer part without
// leading zeros, a point and a fraction without trailing zeros (at least one
// digit); zero is "0.0".
func isCanonicalDecimal(s string) bool {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, ok := strings.Cut(s, ".")
	if !ok || !isDigits(ip) || !isDigits(fp) {
		return false
	}
	if len(ip) > 1 && ip[0] == '0' {
		return false
	}
	if len(fp) > 1 && fp[len(fp)-1] == '0' {
		return false
	}
	return !(neg && ip == "0" && fp == "0")
}

// isCanonicalDouble reports whether s is the canonical form of an xsd:double
// as RDF4J writes it: a mantissa with one non-zero digit before the point and
// a fraction without trailing zeros, "E", and an exponent without "+" or
// leading zeros; zero is "0.0E0". INF and NaN are not Turtle numbers.
func isCanonicalDouble(s string) bool {
	m, exp, ok := strings.Cut(s, "E")
	if !ok || !isCanonicalInteger(exp) {
		return false
	}
	neg := strings.HasPrefix(m, "-")
	m = strings.TrimPrefix(m, "-")
	ip, fp, ok := strings.Cut(m, ".")
	if !ok || len(ip) != 1 || !isDigits(ip) || !isDigits(fp) {
		return false
	}
	if len(fp) > 1 && fp[len(fp)-1] == '0' {
		return false
	}
	if ip == "0" {
		return !neg && fp == "0" && exp == "0"
	}
	return true
}

// utf16Len counts b's characters as Java does: one per UTF-8 sequence, two
// for the four-byte ones (outside the BMP, a surrogate pair in Java).
func utf16Len(b []byte) int {
	n := 0
	for _, c := range b {
		if c&0xC0 != 0x80 {
			n++
		}
		if c >= 0xF0 {
			n++
		}
	}
	return n
}

// checkWritableTriple checks the shape of t: subject an IRI or blank node, predicate
// an IRI, object any term; no zero term.
func checkWritableTriple(t Triple) error {
	switch t.S.Kind() {
	case KindIRI, KindBlankNode:
	case KindLiteral:
		return fmt.Errorf("subject %s is a literal: %w", t.S.nt, ErrInvalidTriple)
	default:
		return fmt.Errorf("subject is not a valid term (%q): %w", t.S.nt, ErrInvalidTriple)
	}
	if !t.P.IsIRI() {
		if t.P.IsZero() {
			return fmt.Errorf("predicate is the zero term: %w", ErrInvalidTriple)
		}
		return fmt.Errorf("predicate %s is not an IRI: %w", t.P.nt, ErrInvalidTriple)
	}
	if t.O.Kind() == KindInvalid {
		return fmt.Errorf("object is not a valid term (%q): %w", t.O.nt, ErrInvalidTriple)
	}
	if err := checkLiteralShape(t.O); err != nil {
		return err
	}
	for _, term := range [...]Term{t.S, t.P, t.O} {
		if err := checkIRIChars(term); err != nil {
			return err
		}
	}
	return nil
}

// checkLiteralShape checks that a literal's canonical form is "lex",
// "lex"@tag or "lex"^^<dt> with every quote inside lex escaped. A language
// tag or datatype holding a quote (NewLangLiteral and NewTypedLiteral do not
// check them) would end the literal early when re-parsed.
func checkLiteralShape(term Term) error {
	if !term.IsLiteral() {
		return nil
	}
	nt := term.nt
	i := 1
	for {
		j := strings.IndexAny(nt[i:], `"\`)
		if j < 0 {
			i = len(nt)
			break
		}
		i += j
		if nt[i] == '"' {
			break
		}
		i += 2 // an escape and the character it escapes
	}
	if i >= len(nt) || i != term.lexicalEnd() {
		return fmt.Errorf("literal %s is malformed (a quote in its language tag or datatype): %w", nt, ErrInvalidTriple)
	}
	rest := nt[i+1:]
	if rest != "" && rest[0] != '@' && (!strings.HasPrefix(rest, "^^<") || rest[len(rest)-1] != '>') {
		return fmt.Errorf("literal %s is malformed: %w", nt, ErrInvalidTriple)
	}
	if rest != "" && rest[0] == '@' && !validLangTag(rest[1:]) {
		return fmt.Errorf("language tag %q is malformed: %w", rest[1:], ErrInvalidTriple)
	}
	return nil
}

// checkIRIChars rejects an IRI (or a literal's datatype IRI) that is not
// absolute, or that holds a character RFC 3987 forbids in an IRI (space, <,
// >, ", {, }, |, ^, `, \, controls). NewIRI keeps such characters as \u
// escapes, and the parsers rightly refuse them; a relative IRI would be
// resolved against a base. Either way the text would not re-parse to the
// same triple. Canonical IRIs hold a backslash only for those escapes.
func checkIRIChars(term Term) error {
	var iri string
	switch term.Kind() {
	case KindIRI:
		iri = term.nt
	case KindLiteral:
		end := term.lexicalEnd()
		if !strings.HasPrefix(term.nt[end+1:], "^^") {
			return nil
		}
		iri = term.nt[end+3:]
	default:
		return nil
	}
	if strings.IndexByte(iri, '\\') >= 0 {
		return fmt.Errorf("IRI %s holds a character not allowed in an IRI: %w", iri, ErrInvalidTriple)
	}
	if !hasIRIScheme(iri[1 : len(iri)-1]) {
		return fmt.Errorf("IRI %s is not absolute (no scheme), so a parser would resolve it against a base: %w", iri, ErrInvalidTriple)
	}
	return nil
}

// hasIRIScheme reports whether iri starts with an RFC 3986 scheme and ':'.
func hasIRIScheme(iri string) bool {
	for i := 0; i < len(iri); i++ {
		c := iri[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// checkTurtleWritable adds to checkWritableTriple what Turtle cannot spell: blank node
// labels outside the BLANK_NODE_LABEL production and malformed language tags.
func checkTurtleWritable(t Triple) error {
	if err := checkWritableTriple(t); err != nil {
		return err
	}
	for _, term := range [...]Term{t.S, t.O} {
		switch term.Kind() {
		case KindBlankNode:
			if !validBlankLabel(term.nt[2:]) {
				return fmt.Errorf("blank node label %q is not valid Turtle: %w", term.nt[2:], ErrInvalidTriple)
			}
		case KindLiteral:
			if lang := term.Lang(); lang != "" && !validLangTag(lang) {
				return fmt.Errorf("language tag %q is not valid Turtle: %w", lang, ErrInvalidTriple)
			}
		}
	}
	return nil
}

// validLangTag reports whether s matches Turtle's LANGTAG after the "@":
// [a-zA-Z]+ ('-' [a-zA-Z0-9]+)*.
func validLangTag(s string) bool {
	first, partLen := true, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-':
			if partLen == 0 {
				return false
			}
			first, partLen = false, 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && !first:
		default:
			return false
		}
		partLen++
	}
	return partLen > 0
}

// validBlankLabel reports whether s is a valid label for Turtle's
// BLANK_NODE_LABEL: (PN_CHARS_U | [0-9]) ((PN_CHARS | '.')* PN_CHARS)?.
func validBlankLabel(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		switch {
		case i == 0:
			if !isPNCharsU(r) && (r < '0' || r > '9') {
				return false
			}
		case r == '.':
			if i == len(s)-1 {
				return false
			}
		case !isPNChars(r):
			return false
		}
	}
	return true
}
