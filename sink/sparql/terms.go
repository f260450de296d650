package sparql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// ErrUnsafeTerm is returned (wrapped in a *TermError) for a term that cannot be
// written into a SPARQL request so that the store holds exactly that term: a
// blank node (INSERT DATA would mint a fresh node and DELETE DATA forbids
// them), an IRI holding characters SPARQL forbids in IRIREF, a malformed
// language tag or datatype, or text that is not valid UTF-8. Callers send the
// patch carrying it to the dead-letter sink rather than to the store.
var ErrUnsafeTerm = errors.New("sparql: term cannot be written to SPARQL safely")

// TermError says which term could not be written and why. It unwraps to
// ErrUnsafeTerm.
type TermError struct {
	// Term is the term refused, in its N-Triples form (Term.String).
	Term rdfdiff.Term
	// Reason says what makes it unsafe, e.g. `IRI holds '>' at byte 12`.
	Reason string
}

// Error renders the reason and the (truncated) term.
func (e *TermError) Error() string {
	s := e.Term.String()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		s = strconv.Quote(s) // never print raw controls
	}
	return fmt.Sprintf("sparql: cannot write term %s to SPARQL: %s", s, e.Reason)
}

// Unwrap returns ErrUnsafeTerm.
func (e *TermError) Unwrap() error { return ErrUnsafeTerm }

// AppendSPARQLTerm appends t as a SPARQL 1.1 term usable in INSERT DATA,
// DELETE DATA, VALUES and templates, such that a conforming store parses it
// back to exactly t. It refuses with a *TermError (ErrUnsafeTerm) what cannot
// be written so; dst is returned unchanged then.
//
// IRIs are written as <…> with their characters as they are (UTF-8, no
// escapes): SPARQL's IRIREF admits every character except controls, space and
// <>"{}|^`\, and those are refused rather than escaped, because an IRI holding
// them is not an RDF IRI and stores disagree on what \u escapes in IRIs mean.
// Literals are written in double quotes with \" \\ \n \r \t \b \f and \u00XX
// for every other C0 control and DEL. U+0000 is refused: Virtuoso ends a
// string at a raw NUL and silently drops a trailing \u0000 (Oxigraph keeps
// it), and no Wikibase text holds one. A backslash is always
// doubled, so text such as `\u0041` in a value stays six characters (checked
// on both stores). Language tags must match [a-zA-Z]+(-[a-zA-Z0-9]+)*;
// datatypes follow the IRI rules; xsd:string is written as a simple literal,
// which RDF 1.1 makes the same term.
func AppendSPARQLTerm(dst []byte, t rdfdiff.Term) ([]byte, error) {
	switch t.Kind() {
	case rdfdiff.KindIRI:
		return appendIRI(dst, t, t.Value())
	case rdfdiff.KindLiteral:
		return appendLiteral(dst, t)
	case rdfdiff.KindBlankNode:
		return dst, &TermError{Term: t, Reason: "blank nodes cannot be matched by DELETE DATA and are renamed by INSERT DATA; skolemize them first"}
	}
	return dst, &TermError{Term: t, Reason: "zero (invalid) term"}
}

// SPARQLTerm returns t as a SPARQL term; see AppendSPARQLTerm.
func SPARQLTerm(t rdfdiff.Term) (string, error) {
	b, err := AppendSPARQLTerm(nil, t)
	return string(b), err
}

// AppendSPARQLTriple appends "S P O ." (one line, with a trailing newline) for
// use inside INSERT DATA or DELETE DATA. The subject must be an IRI and the
// predicate an IRI (RDF 1.1 data as the stores hold it); each term obeys
// AppendSPARQLTerm. On error dst is returned unchanged.
func AppendSPARQLTriple(dst []byte, tr rdfdiff.Triple) ([]byte, error) {
	n := len(dst)
	if tr.S.IsLiteral() {
		return dst, &TermError{Term: tr.S, Reason: "a literal cannot be a subject"}
	}
	if !tr.P.IsIRI() {
		return dst, &TermError{Term: tr.P, Reason: "a predicate must be an IRI"}
	}
	var err error
	if dst, err = AppendSPARQLTerm(dst, tr.S); err != nil {
		return dst[:n], err
	}
	dst = append(dst, ' ')
	if dst, err = AppendSPARQLTerm(dst, tr.P); err != nil {
		return dst[:n], err
	}
	dst = append(dst, ' ')
	if dst, err = AppendSPARQLTerm(dst, tr.O); err != nil {
		return dst[:n], err
	}
	return append(dst, " .\n"...), nil
}

func appendIRI(dst []byte, t rdfdiff.Term, iri string) ([]byte, error) {
	if reason := checkIRI(iri); reason != "" {
		return dst, &TermError{Term: t, Reason: reason}
	}
	dst = append(dst, '<')
	dst = append(dst, iri...)
	return append(dst, '>'), nil
}

// checkIRI returns why iri cannot stand in a SPARQL IRIREF, or "".
func checkIRI(iri string) string {
	if iri == "" {
		return "empty IRI"
	}
	if !utf8.ValidString(iri) {
		return "IRI is not valid UTF-8"
	}
	hasScheme := false
	for i := 0; i < len(iri); i++ {
		c := iri[i]
		switch {
		case c <= 0x20:
			return fmt.Sprintf("IRI holds control or space character U+%04X at byte %d", c, i)
		case c == '<' || c == '>' || c == '"' || c == '{' || c == '}' || c == '|' || c == '^' || c == '`' || c == '\\':
			return fmt.Sprintf("IRI holds %q at byte %d, which SPARQL forbids in IRIs", c, i)
		case c == ':' && !hasScheme:
			hasScheme = i > 0 && validScheme(iri[:i])
			if !hasScheme {
				return "IRI is not absolute (no valid scheme before ':')"
			}
		}
	}
	if !hasScheme {
		return "IRI is not absolute (no scheme)"
	}
	return ""
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !alpha {
			return false
		}
		if !alpha && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func appendLiteral(dst []byte, t rdfdiff.Term) ([]byte, error) {
	lex := t.Value()
	if !utf8.ValidString(lex) {
		return dst, &TermError{Term: t, Reason: "literal is not valid UTF-8"}
	}
	if i := strings.IndexByte(lex, 0); i >= 0 {
		return dst, &TermError{Term: t, Reason: fmt.Sprintf("literal holds U+0000 at byte %d, which Virtuoso drops or truncates at", i)}
	}
	lang, dt := t.Lang(), t.Datatype()
	if lang != "" {
		if !validLangTag(lang) {
			return dst, &TermError{Term: t, Reason: fmt.Sprintf("malformed language tag %q", lang)}
		}
	} else if dt == rdfdiff.RDFLangString {
		return dst, &TermError{Term: t, Reason: "rdf:langString literal without a language tag"}
	} else if dt != rdfdiff.XSDString {
		if reason := checkIRI(dt); reason != "" {
			return dst, &TermError{Term: t, Reason: "datatype: " + reason}
		}
	}
	dst = appendSPARQLString(dst, lex)
	switch {
	case lang != "":
		dst = append(dst, '@')
		dst = append(dst, lang...)
	case dt != rdfdiff.XSDString:
		dst = append(dst, "^^<"...)
		dst = append(dst, dt...)
		dst = append(dst, '>')
	}
	return dst, nil
}

// appendSPARQLString writes s as a SPARQL STRING_LITERAL2 ("…"); s must be
// valid UTF-8.
func appendSPARQLString(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
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
		case '\t':
			esc = `\t`
		case '\b':
			esc = `\b`
		case '\f':
			esc = `\f`
		default:
			if c >= 0x20 && c != 0x7f {
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		if esc != "" {
			dst = append(dst, esc...)
		} else {
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// validLangTag reports whether tag matches [a-zA-Z]+(-[a-zA-Z0-9]+)*, the
// LANGTAG production of SPARQL, Turtle and N-Triples.
func validLangTag(tag string) bool {
	first, n := true, 0
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			n++
		case c >= '0' && c <= '9' && !first:
			n++
		case c == '-' && n > 0:
			first, n = false, 0
		default:
			return false
		}
	}
	return n > 0
}
