package rdfdiff

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the recursive-descent parser for RDF 1.1 Turtle. The
// N-Triples parser (ntriples.go) is the same machine in a strict mode that
// accepts only the N-Triples subset.
//
// Errors are raised with panic(parseFailure{...}) deep in the descent and
// recovered at the statement boundary (parser.run), which keeps the hot
// paths free of error plumbing; no panic ever leaves the package.

// maxNesting bounds the depth of nested blank node property lists and
// collections, so hostile input cannot exhaust the stack.
const maxNesting = 1000

// maxInterned bounds the term intern table; past it the table starts over.
// maxInternLen is the longest canonical form interned. Together they bound
// the table to about 15 MB in the worst case (a few MB for Wikidata).
const (
	maxInterned  = 1 << 16
	maxInternLen = 128
)

// defaultAnonPrefix starts the labels of generated blank nodes.
const defaultAnonPrefix = "anon-"

// Canonical strings built once.
const (
	rdfNS          = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
	suffixInteger  = `"^^<` + XSDInteger + `>`
	suffixDecimal  = `"^^<` + XSDDecimal + `>`
	suffixDouble   = `"^^<` + XSDDouble + `>`
	xsdStringIRINT = "<" + XSDString + ">"
)

var (
	termRDFType  = termFromCanonical("<" + RDFType + ">")
	termRDFFirst = termFromCanonical("<" + rdfNS + "first>")
	termRDFRest  = termFromCanonical("<" + rdfNS + "rest>")
	termRDFNil   = termFromCanonical("<" + rdfNS + "nil>")
	termTrue     = termFromCanonical(`"true"^^<` + XSDBoolean + `>`)
	termFalse    = termFromCanonical(`"false"^^<` + XSDBoolean + `>`)
)

// nsCacheEntry is one slot of parser.nsCache.
type nsCacheEntry struct {
	prefix, ns string
	set        bool
}

// parseFailure is the panic payload that carries an error to parser.run.
type parseFailure struct{ err error }

// parser is the state of one Turtle or N-Triples parse.
type parser struct {
	source
	ntriples   bool
	base       iriParts
	baseSet    bool
	prefixes   map[string]string // prefix (without ':') -> canonical namespace (escaped, no brackets)
	out        []Triple          // triples of the statements parsed so far
	tok        []byte            // scratch for the term being built
	aux        []byte            // second scratch (resolved IRIs, generated labels)
	lit        []byte            // saved literal while its datatype is parsed
	terms      map[string]Term   // intern table: canonical form -> term
	nsCache    [16]nsCacheEntry  // recently used prefixes; cleared when a prefix is declared
	localEsc   bool              // the last local name held a PN_LOCAL_ESC
	anonPrefix string
	anonN      int64
	userGen    map[int64]struct{} // generated-looking labels written in the document
	depth      int
}

func (p *parser) init(r io.Reader, doc []byte, o *parseOptions, ntriples bool) {
	// Keep the tables and scratch buffers of an earlier parse (see
	// parserPool); everything else starts afresh.
	terms, prefixes, tok, aux, lit := p.terms, p.prefixes, p.tok[:0], p.aux[:0], p.lit[:0]
	*p = parser{}
	p.source.init(r, doc, o.file)
	p.ntriples = ntriples
	if terms == nil {
		terms = make(map[string]Term, 1024)
	}
	if prefixes == nil {
		prefixes = make(map[string]string)
	}
	clear(prefixes)
	p.terms, p.prefixes, p.tok, p.aux, p.lit = terms, prefixes, tok, aux, lit
	p.anonPrefix = o.anonPrefix
	if p.anonPrefix == "" {
		p.anonPrefix = defaultAnonPrefix
	}
	if o.base != "" && !ntriples {
		p.base = splitIRI(o.base)
		p.baseSet = true
	}
}

// release drops the references to the input and the output, so that a
// pooled parser keeps only its own tables alive.
func (p *parser) release() {
	p.buf, p.r, p.out = nil, nil, nil
	p.base = iriParts{}
	p.nsCache = [16]nsCacheEntry{}
	p.userGen = nil
	const keep = 64 << 10 // scratch buffers grown by one huge literal are dropped
	if cap(p.tok) > keep || cap(p.aux) > keep || cap(p.lit) > keep {
		p.tok, p.aux, p.lit = nil, nil, nil
	}
}

// fail stops the parse with a SyntaxError at the current position.
func (p *parser) fail(format string, args ...any) {
	p.failAt(p.pos, format, args...)
}

// failAt stops the parse with a SyntaxError at buf[i] (on the current line).
func (p *parser) failAt(i int, format string, args ...any) {
	if p.rerr != nil && p.pos >= len(p.buf) {
		panic(parseFailure{fmt.Errorf("rdfdiff: reading input: %w", p.rerr)})
	}
	panic(parseFailure{p.syntaxErrorAt(i, format, args...)})
}

// failAtMark reports an error at the start of the current token when it is
// on the current line, else at the current position.
func (p *parser) failAtMark(format string, args ...any) {
	i := p.pos
	if p.mark >= p.lineStart && p.mark >= 0 {
		i = p.mark
	}
	p.failAt(i, format, args...)
}

// run calls f and turns a parse failure into an error.
func (p *parser) run(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			pf, ok := r.(parseFailure)
			if !ok {
				panic(r)
			}
			err = pf.err
		}
	}()
	f()
	return nil
}

// skipBOM skips a UTF-8 byte order mark at the start of the input.
func (p *parser) skipBOM() {
	if p.fill(3) && p.buf[0] == 0xEF && p.buf[1] == 0xBB && p.buf[2] == 0xBF {
		p.pos = 3
		p.lineStart = 3
	}
}

// emit records one triple.
func (p *parser) emit(s, pr, o Term) {
	p.out = append(p.out, Triple{S: s, P: pr, O: o})
}

// intern returns the term whose canonical form is b, allocating only the
// first time a form is seen. Long forms (mostly unique literals) are not
// kept, which bounds the table's memory.
func (p *parser) intern(b []byte) Term {
	if len(b) > maxInternLen {
		return termFromCanonical(string(b))
	}
	if t, ok := p.terms[string(b)]; ok {
		return t
	}
	if len(p.terms) >= maxInterned {
		clear(p.terms)
	}
	s := string(b)
	t := termFromCanonical(s)
	p.terms[s] = t
	return t
}

// skipWS skips white space, ends of line and comments (Turtle).
func (p *parser) skipWS() {
	for {
		for p.pos < len(p.buf) {
			switch p.buf[p.pos] {
			case ' ', '\t':
				p.pos++
			case '\n':
				p.pos++
				p.newline()
			case '\r':
				p.pos++
				if p.peek() != '\n' {
					p.newline()
				}
			case '#':
				p.skipComment()
			default:
				return
			}
		}
		if !p.fill(1) {
			return
		}
	}
}

// skipComment skips from '#' to the end of the line, leaving the line end.
func (p *parser) skipComment() {
	for {
		for p.pos < len(p.buf) {
			if c := p.buf[p.pos]; c == '\n' || c == '\r' {
				return
			}
			p.pos++
		}
		if !p.fill(1) {
			return
		}
	}
}

// turtleStatement parses one directive or triples statement. It returns
// false at the end of input.
func (p *parser) turtleStatement() bool {
	p.skipWS()
	c := p.peek()
	if c < 0 {
		if p.rerr != nil {
			panic(parseFailure{fmt.Errorf("rdfdiff: reading input: %w", p.rerr)})
		}
		return false
	}
	var subj Term
	switch {
	case c == '@':
		p.atDirective()
		return true
	case c == '<':
		subj = p.iriTerm()
	case c == '_':
		subj = p.blankNodeLabel()
	case c == '[':
		p.pos++
		p.skipWS()
		if p.peek() == ']' {
			p.pos++
			subj = p.newAnon()
			break
		}
		subj = p.blankNodePropertyListBody()
		p.skipWS()
		if p.peek() == '.' {
			p.pos++
			return true
		}
	case c == '(':
		subj = p.collection()
	case c == ':' || c >= utf8.RuneSelf || asciiClass[c]&clsPNBase != 0:
		t, word := p.prefixedNameOrWord()
		if word != "" {
			switch {
			case strings.EqualFold(word, "PREFIX"):
				p.mark = -1
				p.prefixDirective()
				return true
			case strings.EqualFold(word, "BASE"):
				p.mark = -1
				p.baseDirective()
				return true
			}
			p.failAtMark("expected subject, found keyword %q", word)
		}
		subj = t
	default:
		p.fail("expected subject (IRI, prefixed name, blank node or collection) or directive, found %s", p.describe())
	}
	p.skipWS()
	p.predicateObjectList(subj)
	p.skipWS()
	if p.peek() != '.' {
		p.fail("expected '.' after triple, found %s", p.describe())
	}
	p.pos++
	return true
}

// atDirective parses "@prefix" or "@base" and the '.' that ends it.
func (p *parser) atDirective() {
	p.mark = p.pos
	p.pos++
	j := 0
	for {
		c := p.peekAt(j)
		if c < 0 || c >= utf8.RuneSelf || asciiClass[c]&clsLangOK == 0 {
			break
		}
		j++
	}
	word := string(p.buf[p.pos : p.pos+j])
	switch word {
	case "prefix":
		p.pos += j
		p.prefixDirective()
	case "base":
		p.pos += j
		p.baseDirective()
	default:
		p.failAtMark("unknown directive @%s, expected @prefix or @base", word)
	}
	p.mark = -1
	p.skipWS()
	if p.peek() != '.' {
		p.fail("expected '.' after @%s directive, found %s", word, p.describe())
	}
	p.pos++
}

// prefixDirective parses "p: <iri>" after PREFIX or @prefix.
func (p *parser) prefixDirective() {
	p.skipWS()
	p.mark = p.pos
	if p.peek() != ':' {
		if !p.scanPNPrefix() {
			p.fail("expected prefix name ending in ':', found %s", p.describe())
		}
	}
	if p.peek() != ':' {
		p.fail("expected ':' after prefix name, found %s", p.describe())
	}
	name := string(p.buf[p.mark:p.pos])
	p.mark = -1
	p.pos++
	p.skipWS()
	if p.peek() != '<' {
		p.fail("expected IRI after prefix %s:, found %s", name, p.describe())
	}
	t := p.iriTerm()
	p.prefixes[name] = t.nt[1 : len(t.nt)-1]
	p.nsCache = [16]nsCacheEntry{}
}

// baseDirective parses "<iri>" after BASE or @base.
func (p *parser) baseDirective() {
	p.skipWS()
	if p.peek() != '<' {
		p.fail("expected IRI after base directive, found %s", p.describe())
	}
	t := p.iriTerm()
	p.base = splitIRI(t.Value())
	p.baseSet = true
}

// predicateObjectList parses verb objectList (';' (verb objectList)?)*.
func (p *parser) predicateObjectList(subj Term) {
	for {
		pred := p.verb()
		p.skipWS()
		p.objectList(subj, pred)
		p.skipWS()
		if p.peek() != ';' {
			return
		}
		for p.peek() == ';' {
			p.pos++
			p.skipWS()
		}
		c := p.peek()
		if c != '<' && c != ':' && !(c >= utf8.RuneSelf || c >= 0 && asciiClass[c]&clsPNBase != 0) {
			return
		}
	}
}

// objectList parses object (',' object)* and emits a triple for each.
func (p *parser) objectList(subj, pred Term) {
	for {
		p.emit(subj, pred, p.object())
		p.skipWS()
		if p.peek() != ',' {
			return
		}
		p.pos++
		p.skipWS()
	}
}

// verb parses a predicate IRI, a prefixed name or 'a'.
func (p *parser) verb() Term {
	c := p.peek()
	switch {
	case c == '<':
		return p.iriTerm()
	case c == ':' || c >= utf8.RuneSelf || c >= 0 && asciiClass[c]&clsPNBase != 0:
		t, word := p.prefixedNameOrWord()
		if word == "a" {
			p.mark = -1
			return termRDFType
		}
		if word != "" {
			p.failAtMark("expected predicate, found keyword %q", word)
		}
		return t
	case c == '_' || c == '[':
		p.fail("expected predicate, found a blank node (predicates must be IRIs)")
	case c == '"' || c == '\'':
		p.fail("expected predicate, found a literal (predicates must be IRIs)")
	}
	p.fail("expected predicate (IRI, prefixed name or 'a'), found %s", p.describe())
	return Term{}
}

// object parses any Turtle object.
func (p *parser) object() Term {
	c := p.peek()
	switch {
	case c == '<':
		return p.iriTerm()
	case c == '_':
		return p.blankNodeLabel()
	case c == '"' || c == '\'':
		return p.literal()
	case c == '[':
		p.pos++
		p.skipWS()
		if p.peek() == ']' {
			p.pos++
			return p.newAnon()
		}
		t := p.blankNodePropertyListBody()
		return t
	case c == '(':
		return p.collection()
	case isDigit(c) || c == '+' || c == '-' || c == '.' && isDigit(p.peekAt(1)):
		return p.number()
	case c == ':' || c >= utf8.RuneSelf || c >= 0 && asciiClass[c]&clsPNBase != 0:
		t, word := p.prefixedNameOrWord()
		switch word {
		case "":
			return t
		case "true":
			p.mark = -1
			return termTrue
		case "false":
			p.mark = -1
			return termFalse
		}
		p.failAtMark("expected object, found keyword %q", word)
	}
	p.fail("expected object (IRI, prefixed name, blank node, collection or literal), found %s", p.describe())
	return Term{}
}

// blankNodePropertyListBody parses the inside of "[ ... ]" after '[' and
// white space, and the closing ']'. It returns the new blank node.
func (p *parser) blankNodePropertyListBody() Term {
	p.enter()
	node := p.newAnon()
	p.predicateObjectList(node)
	p.skipWS()
	if p.peek() != ']' {
		p.fail("expected ']' to close blank node property list, found %s", p.describe())
	}
	p.pos++
	p.depth--
	return node
}

// collection parses "( object* )" into an RDF list and returns its head.
func (p *parser) collection() Term {
	p.enter()
	p.pos++ // '('
	head, prev := termRDFNil, Term{}
	for {
		p.skipWS()
		if p.peek() == ')' {
			p.pos++
			break
		}
		if p.peek() < 0 {
			p.fail("expected ')' to close collection, found end of input")
		}
		node := p.newAnon()
		if prev.nt == "" {
			head = node
		} else {
			p.emit(prev, termRDFRest, node)
		}
		p.emit(node, termRDFFirst, p.object())
		prev = node
	}
	if prev.nt != "" {
		p.emit(prev, termRDFRest, termRDFNil)
	}
	p.depth--
	return head
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxNesting {
		p.fail("blank node property lists and collections nested deeper than %d", maxNesting)
	}
}

// newAnon returns a fresh blank node for '[]', '[ ... ]' or a collection
// cell. Its label is the anonymous prefix followed by a counter, skipping
// numbers the document itself used with that prefix.
func (p *parser) newAnon() Term {
	for {
		p.anonN++
		if _, used := p.userGen[p.anonN]; !used {
			break
		}
	}
	p.aux = append(p.aux[:0], "_:"...)
	p.aux = append(p.aux, p.anonPrefix...)
	p.aux = strconv.AppendInt(p.aux, p.anonN, 10)
	return termFromCanonical(string(p.aux))
}

// checkUserLabel guards generated labels against a label written in the
// document that has the generated shape (prefix + decimal counter).
func (p *parser) checkUserLabel(label []byte) {
	if len(label) <= len(p.anonPrefix) || string(label[:len(p.anonPrefix)]) != p.anonPrefix {
		return
	}
	digits := label[len(p.anonPrefix):]
	if len(digits) > 18 || digits[0] == '0' {
		return
	}
	var n int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return
		}
		n = n*10 + int64(d-'0')
	}
	if n <= p.anonN {
		p.failAtMark("blank node label _:%s is the label of a generated anonymous node; "+
			"choose another anonymous prefix with WithBlankNodePrefix", label)
	}
	if p.userGen == nil {
		p.userGen = make(map[int64]struct{})
	}
	p.userGen[n] = struct{}{}
}

// blankNodeLabel parses "_:label". Labels are kept exactly as written.
func (p *parser) blankNodeLabel() Term {
	p.mark = p.pos
	if p.peekAt(1) != ':' {
		p.fail("expected ':' after '_' in blank node label")
	}
	p.pos += 2
	r, size := p.nameRune()
	if size == 0 || !(isPNCharsU(r) || '0' <= r && r <= '9') {
		p.fail("expected blank node label after '_:', found %s", p.describe())
	}
	p.pos += size
	p.scanNameRest(false)
	lab := p.buf[p.mark:p.pos]
	p.checkUserLabel(lab[2:])
	t := p.intern(lab)
	p.mark = -1
	return t
}

// scanNameRest consumes (PN_CHARS | '.')* not ending in '.', and, when
// local is set, the extra characters of PN_LOCAL (':' and PLX), noting in
// p.localEsc whether a PN_LOCAL_ESC was seen.
func (p *parser) scanNameRest(local bool) {
	for {
		// Fast path: ASCII name characters within the buffer.
		i := p.pos
		for i < len(p.buf) {
			c := p.buf[i]
			if c < utf8.RuneSelf && (asciiClass[c]&clsPN != 0 || local && c == ':') {
				i++
				continue
			}
			break
		}
		p.pos = i
		c := p.peek()
		switch {
		case c < 0:
			return
		case c < utf8.RuneSelf && (asciiClass[c]&clsPN != 0 || local && c == ':'):
			continue // the fast path stopped at the end of the buffer
		case c == '.':
			// A dot belongs to the name only when a name character follows
			// the run of dots.
			k := 1
			for p.peekAt(k) == '.' {
				k++
			}
			if !p.nameContinuesAt(k, local) {
				return
			}
			p.pos += k
		case local && c == '%':
			if !isHex(p.peekAt(1)) || !isHex(p.peekAt(2)) {
				p.fail("expected two hex digits after '%%' in prefixed name")
			}
			p.pos += 3
		case local && c == '\\':
			e := p.peekAt(1)
			if e < 0 || e >= utf8.RuneSelf || asciiClass[e]&clsLocalEsc == 0 {
				p.fail("invalid escape in prefixed name: '\\' must be followed by one of _~.-!$&'()*+,;=/?#@%%")
			}
			p.localEsc = true
			p.pos += 2
		case c >= utf8.RuneSelf:
			r, size := p.peekRune()
			if r == utf8.RuneError && size == 1 {
				p.fail("%s in name", p.describe())
			}
			if !isPNChars(r) {
				return
			}
			p.pos += size
		default:
			return
		}
	}
}

// nameContinuesAt reports whether the byte k after pos starts a name
// character (so that the dots before it are inside the name).
func (p *parser) nameContinuesAt(k int, local bool) bool {
	c := p.peekAt(k)
	switch {
	case c < 0:
		return false
	case c < utf8.RuneSelf:
		return asciiClass[c]&clsPN != 0 || local && (c == ':' || c == '%' || c == '\\')
	}
	p.fill(k + utf8.UTFMax)
	r, _ := utf8.DecodeRune(p.buf[p.pos+k:])
	return isPNChars(r)
}

// nameRune is peekRune for the first character of a name: invalid UTF-8
// is an error there (utf8.RuneError, U+FFFD, would pass for a name character).
func (p *parser) nameRune() (rune, int) {
	r, size := p.peekRune()
	if r == utf8.RuneError && size == 1 {
		p.fail("%s in name", p.describe())
	}
	return r, size
}

// scanPNPrefix consumes a PN_PREFIX and reports whether there was one.
func (p *parser) scanPNPrefix() bool {
	r, size := p.nameRune()
	if size == 0 || !isPNCharsBase(r) {
		return false
	}
	p.pos += size
	p.scanNameRest(false)
	return true
}

// prefixedNameOrWord parses a prefixed name and returns its IRI term, or,
// for a bare word without ':' (a, true, false, PREFIX, BASE), returns the
// word and leaves p.mark at its start for error messages.
func (p *parser) prefixedNameOrWord() (Term, string) {
	p.mark = p.pos
	if p.peek() != ':' && !p.scanPNPrefix() {
		p.fail("expected prefixed name, found %s", p.describe())
	}
	if p.peek() != ':' {
		return Term{}, string(p.buf[p.mark:p.pos])
	}
	colon := p.pos - p.mark // offsets from mark survive buffer refills
	p.pos++
	p.localEsc = false
	// PN_LOCAL: the first character may also be ':' or a digit.
	c := p.peek()
	switch {
	case c < 0:
	case c < utf8.RuneSelf && (asciiClass[c]&clsPN != 0 && c != '-' || c == ':' || c == '%' || c == '\\'):
		if c != '%' && c != '\\' {
			p.pos++
		}
		p.scanNameRest(true)
	case c >= utf8.RuneSelf:
		r, size := p.nameRune()
		if isPNCharsU(r) {
			p.pos += size
			p.scanNameRest(true)
		}
	}
	raw := p.buf[p.mark:p.pos]
	ns := p.namespace(raw[:colon])
	p.tok = append(p.tok[:0], '<')
	p.tok = append(p.tok, ns...)
	local := raw[colon+1:]
	if p.localEsc {
		for i := 0; i < len(local); i++ {
			if local[i] == '\\' {
				i++ // PN_LOCAL_ESC: the escaped character stands for itself
			}
			p.tok = append(p.tok, local[i])
		}
	} else {
		p.tok = append(p.tok, local...)
	}
	p.tok = append(p.tok, '>')
	p.mark = -1
	return p.intern(p.tok), ""
}

// namespace returns the namespace of a declared prefix (given without
// ':'), through a small direct-mapped cache in front of the prefix map:
// documents use a handful of prefixes over and over.
func (p *parser) namespace(prefix []byte) string {
	h := len(prefix)
	if h > 0 {
		h = h*31 + int(prefix[0])*7 + int(prefix[len(prefix)-1])
	}
	e := &p.nsCache[h&(len(p.nsCache)-1)]
	if e.set && e.prefix == string(prefix) {
		return e.ns
	}
	ns, ok := p.prefixes[string(prefix)]
	if !ok {
		p.failAtMark("undefined prefix %q", string(prefix)+":")
	}
	*e = nsCacheEntry{prefix: string(prefix), ns: ns, set: true}
	return ns
}

// readUCHAR decodes \uXXXX or \UXXXXXXXX at pos (pos is at '\\').
func (p *parser) readUCHAR() rune {
	n := 4
	if p.peekAt(1) == 'U' {
		n = 8
	}
	var r rune
	for k := 2; k < 2+n; k++ {
		c := p.peekAt(k)
		if !isHex(c) {
			p.fail("expected %d hex digits after \\%c", n, p.buf[p.pos+1])
		}
		r = r<<4 | rune(hexValue(byte(c)))
	}
	if 0xD800 <= r && r <= 0xDFFF {
		p.fail("escape \\%c%s is a surrogate code point, not a character", p.buf[p.pos+1], p.buf[p.pos+2:p.pos+2+n])
	}
	if r > utf8.MaxRune {
		p.fail("escape \\U%s is beyond U+10FFFF", p.buf[p.pos+2:p.pos+2+n])
	}
	p.pos += 2 + n
	return r
}

// iriTerm parses an IRIREF, resolves it against the base and returns its term.
func (p *parser) iriTerm() Term {
	p.mark = p.pos
	p.pos++ // '<'
	p.tok = append(p.tok[:0], '<')
	for {
		i := p.pos
		for i < len(p.buf) {
			c := p.buf[i]
			if c < utf8.RuneSelf {
				if asciiClass[c]&clsIRIOK != 0 {
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
		case c >= 0 && c < utf8.RuneSelf && asciiClass[c]&clsIRIOK != 0:
			continue // the fast path stopped at the end of the buffer
		case c == '>':
			p.pos++
			p.tok = append(p.tok, '>')
			return p.finishIRI()
		case c == '\\':
			if e := p.peekAt(1); e != 'u' && e != 'U' {
				p.fail("invalid escape in IRI: only \\u and \\U are allowed")
			}
			at := p.pos
			r := p.readUCHAR()
			if r < utf8.RuneSelf && asciiClass[r]&clsIRIOK == 0 {
				// A UCHAR spells a character, it does not exempt one: what
				// IRIREF leaves out stays out however it is written (W3C
				// tests turtle-syntax-bad-uri-escape-*).
				p.failAt(at, "escape \\%s names U+%04X, which is not allowed in an IRI (percent-encode it)",
					p.buf[at+1:p.pos], r)
			}
			p.tok = utf8.AppendRune(p.tok, r)
		case c >= utf8.RuneSelf:
			r, size := p.peekRune()
			if r == utf8.RuneError && size == 1 {
				p.fail("%s in IRI", p.describe())
			}
			p.tok = append(p.tok, p.buf[p.pos:p.pos+size]...)
			p.pos += size
		case c < 0:
			p.failAtMark("expected '>' to close IRI, found end of input")
		default:
			p.fail("expected '>' to close IRI, found %s (not allowed in an IRI)", p.describe())
		}
	}
}

// finishIRI turns p.tok ('<' decoded-IRI '>') into a term, resolving a
// relative IRI against the base.
func (p *parser) finishIRI() Term {
	iri := p.tok[1 : len(p.tok)-1]
	if schemeLen(iri) == 0 {
		switch {
		case p.ntriples:
			p.failAtMark("relative IRI <%s> is not allowed in N-Triples", shorten(iri))
		case !p.baseSet:
			p.failAtMark("relative IRI <%s> and no base IRI to resolve it against", shorten(iri))
		}
		abs := resolveIRI(&p.base, string(iri))
		p.aux = append(p.aux[:0], '<')
		p.aux = append(p.aux, abs...)
		p.aux = append(p.aux, '>')
		p.mark = -1
		return p.intern(p.aux)
	}
	p.mark = -1
	return p.intern(p.tok)
}

// shorten abbreviates long input quoted in error messages.
func shorten[S string | []byte](s S) string {
	const max = 60
	if len(s) <= max {
		return string(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return string(s[:cut]) + "…"
}
