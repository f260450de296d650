package checkpoint

import (
	"errors"
	"fmt"
	"strconv"
)

// EntityID is a Wikibase entity ID packed into 64 bits: the top four bits
// hold the kind, the rest the number(s). It exists to keep large entity-keyed
// tables small: a string key costs a 16-byte header plus its bytes plus map
// overhead, an EntityID costs 8 bytes and hashes in one multiplication.
//
// Compact kinds: items (Q42), properties (P31), lexemes (L7), MediaInfo
// (M5), EntitySchemas (E10), each with a number of 1 to 2^60-1, and lexeme
// forms (L7-F2) and senses (L7-S1), with a lexeme number below 2^40 and a
// form or sense number below 2^20. Numbers are canonical decimal (no sign,
// no leading zeros). Every other string (federated or prefixed IDs, numbers
// out of range) is "not compact": ParseEntityID returns an error wrapping
// ErrEntityIDNotCompact, and EntityTable stores such keys as strings.
//
// The zero EntityID is not a valid ID.
type EntityID uint64

// ErrEntityIDNotCompact is returned (wrapped) by ParseEntityID for a string
// that is not a canonical Wikibase entity ID of a compact kind. It is not a
// failure for EntityTable, which falls back to string keys; it tells callers
// of ParseEntityID that they need a string.
var ErrEntityIDNotCompact = errors.New("checkpoint: not a compact entity ID")

const (
	kindShift  = 60
	numberMask = 1<<kindShift - 1
	subBits    = 20
	subMask    = 1<<subBits - 1
	maxLexeme  = 1<<40 - 1
)

// entity kinds stored in the top four bits (0 is reserved for "no ID").
const (
	kindItem = iota + 1
	kindProperty
	kindLexeme
	kindMediaInfo
	kindEntitySchema
	kindForm
	kindSense
)

var kindLetter = [...]byte{kindItem: 'Q', kindProperty: 'P', kindLexeme: 'L', kindMediaInfo: 'M', kindEntitySchema: 'E', kindForm: 'F', kindSense: 'S'}

// parseNumber parses a canonical positive decimal number up to max.
func parseNumber(s string, max uint64) (uint64, bool) {
	if s == "" || s[0] == '0' || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// ParseEntityID packs a canonical Wikibase entity ID ("Q42", "L7-F2").
// It returns an error wrapping ErrEntityIDNotCompact for anything else.
func ParseEntityID(s string) (EntityID, error) {
	if id, ok := parseEntityID(s); ok {
		return id, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrEntityIDNotCompact, s)
}

func parseEntityID(s string) (EntityID, bool) {
	if len(s) < 2 {
		return 0, false
	}
	var kind uint64
	switch s[0] {
	case 'Q':
		kind = kindItem
	case 'P':
		kind = kindProperty
	case 'L':
		kind = kindLexeme
	case 'M':
		kind = kindMediaInfo
	case 'E':
		kind = kindEntitySchema
	default:
		return 0, false
	}
	rest := s[1:]
	if kind == kindLexeme {
		for i := 0; i < len(rest); i++ {
			if rest[i] != '-' {
				continue
			}
			if i+2 > len(rest) {
				return 0, false
			}
			var sub uint64
			switch rest[i+1] {
			case 'F':
				sub = kindForm
			case 'S':
				sub = kindSense
			default:
				return 0, false
			}
			lex, ok1 := parseNumber(rest[:i], maxLexeme)
			n, ok2 := parseNumber(rest[i+2:], subMask)
			if !ok1 || !ok2 {
				return 0, false
			}
			return EntityID(sub<<kindShift | lex<<subBits | n), true
		}
	}
	n, ok := parseNumber(rest, numberMask)
	if !ok {
		return 0, false
	}
	return EntityID(kind<<kindShift | n), true
}

// String formats the ID in its canonical form ("Q42", "L7-F2"); an invalid
// EntityID formats as "EntityID(0x…)".
func (id EntityID) String() string {
	return string(id.AppendTo(nil))
}

// AppendTo appends the canonical form of id to b.
func (id EntityID) AppendTo(b []byte) []byte {
	kind := uint64(id) >> kindShift
	switch {
	case kind >= kindItem && kind <= kindEntitySchema && uint64(id)&numberMask != 0:
		b = append(b, kindLetter[kind])
		return strconv.AppendUint(b, uint64(id)&numberMask, 10)
	case (kind == kindForm || kind == kindSense) && uint64(id)&subMask != 0 && (uint64(id)&numberMask)>>subBits != 0:
		b = append(b, 'L')
		b = strconv.AppendUint(b, (uint64(id)&numberMask)>>subBits, 10)
		b = append(b, '-', kindLetter[kind])
		return strconv.AppendUint(b, uint64(id)&subMask, 10)
	default:
		return fmt.Appendf(b, "EntityID(%#x)", uint64(id))
	}
}

// Valid reports whether id is a packed entity ID that String formats and
// ParseEntityID gives back.
func (id EntityID) Valid() bool {
	kind := uint64(id) >> kindShift
	switch {
	case kind >= kindItem && kind <= kindEntitySchema:
		return uint64(id)&numberMask != 0
	case kind == kindForm || kind == kindSense:
		return uint64(id)&subMask != 0 && (uint64(id)&numberMask)>>subBits != 0
	}
	return false
}
