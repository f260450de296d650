package sparql

import (
	"fmt"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// WellFormedBCP47 reports whether tag is a well-formed BCP 47 language tag
// (RFC 5646 section 2.1, case-insensitive): language (2-3 letters with up to
// three 3-letter extended subtags, or 4-8 letters), then optional script
// (4 letters), region (2 letters or 3 digits), variants (5-8 alphanumerics,
// or a digit and 3 alphanumerics), extensions (a singleton other than x and
// subtags of 2-8 alphanumerics) and a private use part (x and subtags of 1-8
// alphanumerics); or a private use tag on its own, or one of the 26
// grandfathered tags. No subtag is longer than 8 characters, which is why
// Wikidata's "zh-classical" is not well-formed.
//
// This is the rule Oxigraph (the SPARQL 1.1 dialect's store) applies: it
// refuses the whole request holding a literal whose tag is not well-formed.
// It checks syntax only, not the subtag registry, as Oxigraph does.
func WellFormedBCP47(tag string) bool {
	if tag == "" {
		return false
	}
	lower := strings.ToLower(tag)
	if grandfathered[lower] {
		return true
	}
	sub := strings.Split(lower, "-")
	for _, s := range sub {
		if len(s) == 0 || len(s) > 8 || !alnum(s) {
			return false
		}
	}
	if sub[0] == "x" {
		return privateUse(sub)
	}
	i := 0
	// language
	switch l := sub[0]; {
	case len(l) >= 2 && len(l) <= 3 && alpha(l):
		i = 1
		for n := 0; n < 3 && i < len(sub) && len(sub[i]) == 3 && alpha(sub[i]); n++ {
			i++ // extlang
		}
	case len(l) >= 4 && len(l) <= 8 && alpha(l):
		i = 1
	default:
		return false
	}
	if i < len(sub) && len(sub[i]) == 4 && alpha(sub[i]) {
		i++ // script
	}
	if i < len(sub) && (len(sub[i]) == 2 && alpha(sub[i]) || len(sub[i]) == 3 && digits(sub[i])) {
		i++ // region
	}
	for i < len(sub) && (len(sub[i]) >= 5 || len(sub[i]) == 4 && sub[i][0] >= '0' && sub[i][0] <= '9') {
		i++ // variant
	}
	for i < len(sub) && len(sub[i]) == 1 && sub[i] != "x" {
		i++ // extension singleton, then at least one subtag of 2-8
		n := 0
		for i < len(sub) && len(sub[i]) >= 2 {
			i++
			n++
		}
		if n == 0 {
			return false
		}
	}
	if i < len(sub) && sub[i] == "x" {
		return privateUse(sub[i:])
	}
	return i == len(sub)
}

// privateUse reports whether sub is "x" followed by at least one subtag of
// 1-8 alphanumerics (their lengths are checked by the caller).
func privateUse(sub []string) bool { return len(sub) >= 2 }

func alpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// grandfathered are the irregular and regular grandfathered tags of RFC 5646,
// lower-cased.
var grandfathered = map[string]bool{
	"en-gb-oed": true, "i-ami": true, "i-bnn": true, "i-default": true, "i-enochian": true, "i-hak": true,
	"i-klingon": true, "i-lux": true, "i-mingo": true, "i-navajo": true, "i-pwn": true, "i-tao": true,
	"i-tay": true, "i-tsu": true, "sgn-be-fr": true, "sgn-be-nl": true, "sgn-ch-de": true,
	"art-lojban": true, "cel-gaulish": true, "no-bok": true, "no-nyn": true, "zh-guoyu": true,
	"zh-hakka": true, "zh-min": true, "zh-min-nan": true, "zh-xiang": true,
}

// checkLangTag enforces the SPARQL 1.1 dialect's BCP 47 rule on one triple.
func checkLangTag(tr rdfdiff.Triple, on bool) error {
	if !on || !tr.O.IsLiteral() {
		return nil
	}
	if lang := tr.O.Lang(); lang != "" && !WellFormedBCP47(lang) {
		return &TermError{Term: tr.O, Reason: fmt.Sprintf("language tag %q is not well-formed BCP 47, which Oxigraph refuses for the whole request", lang)}
	}
	return nil
}
