package rdfdiff

import "strings"

// iriParts is an IRI reference split into the five components of
// RFC 3986 §3. The has* flags tell an empty component from an absent one,
// which resolution needs ("http://a/b?" keeps its empty query).
type iriParts struct {
	scheme, authority, path, query, fragment string
	hasAuthority, hasQuery, hasFragment      bool
}

// schemeLen returns the length of the scheme of s (without the ':'), or 0
// when s does not start with a syntactically valid scheme
// (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":").
func schemeLen[S string | []byte](s S) int {
	if len(s) == 0 || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return 0
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			return i
		}
		if c >= 0x80 || asciiClass[c]&clsScheme == 0 {
			return 0
		}
	}
	return 0
}

// isAbsoluteIRI reports whether s starts with a scheme, which is what RDF
// requires of every IRI in a graph.
func isAbsoluteIRI(s string) bool { return schemeLen(s) > 0 }

// splitIRI splits an IRI reference (RFC 3986 Appendix B, with a strict
// scheme so that "a b:c" is a relative path, not a scheme).
func splitIRI(s string) iriParts {
	var p iriParts
	if n := schemeLen(s); n > 0 {
		p.scheme = s[:n]
		s = s[n+1:]
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		p.fragment, p.hasFragment = s[i+1:], true
		s = s[:i]
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		p.query, p.hasQuery = s[i+1:], true
		s = s[:i]
	}
	if strings.HasPrefix(s, "//") {
		s = s[2:]
		i := strings.IndexByte(s, '/')
		if i < 0 {
			i = len(s)
		}
		p.authority, p.hasAuthority = s[:i], true
		s = s[i:]
	}
	p.path = s
	return p
}

// String recomposes the components (RFC 3986 §5.3).
func (p *iriParts) String() string {
	var b strings.Builder
	b.Grow(len(p.scheme) + len(p.authority) + len(p.path) + len(p.query) + len(p.fragment) + 6)
	if p.scheme != "" {
		b.WriteString(p.scheme)
		b.WriteByte(':')
	}
	if p.hasAuthority {
		b.WriteString("//")
		b.WriteString(p.authority)
	}
	b.WriteString(p.path)
	if p.hasQuery {
		b.WriteByte('?')
		b.WriteString(p.query)
	}
	if p.hasFragment {
		b.WriteByte('#')
		b.WriteString(p.fragment)
	}
	return b.String()
}

// resolveIRI resolves the reference ref against base (RFC 3986 §5.2.2).
// A reference with a scheme is returned unchanged: RDF tools keep absolute
// IRIs exactly as written, and so do we.
func resolveIRI(base *iriParts, ref string) string {
	if isAbsoluteIRI(ref) {
		return ref
	}
	r := splitIRI(ref)
	t := iriParts{scheme: base.scheme, fragment: r.fragment, hasFragment: r.hasFragment}
	switch {
	case r.hasAuthority:
		t.authority, t.hasAuthority = r.authority, true
		t.path = removeDotSegments(r.path)
		t.query, t.hasQuery = r.query, r.hasQuery
	case r.path == "":
		t.authority, t.hasAuthority = base.authority, base.hasAuthority
		t.path = base.path
		if r.hasQuery {
			t.query, t.hasQuery = r.query, true
		} else {
			t.query, t.hasQuery = base.query, base.hasQuery
		}
	default:
		t.authority, t.hasAuthority = base.authority, base.hasAuthority
		if r.path[0] == '/' {
			t.path = removeDotSegments(r.path)
		} else {
			t.path = removeDotSegments(mergePaths(base, r.path))
		}
		t.query, t.hasQuery = r.query, r.hasQuery
	}
	return t.String()
}

// mergePaths implements RFC 3986 §5.2.3.
func mergePaths(base *iriParts, ref string) string {
	if base.hasAuthority && base.path == "" {
		return "/" + ref
	}
	if i := strings.LastIndexByte(base.path, '/'); i >= 0 {
		return base.path[:i+1] + ref
	}
	return ref
}

// removeDotSegments implements RFC 3986 §5.2.4.
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	out := make([]byte, 0, len(in))
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			out = dropLastSegment(out)
		case in == "/..":
			in = "/"
			out = dropLastSegment(out)
		case in == "." || in == "..":
			in = ""
		default:
			i := 0
			if in[0] == '/' {
				i = 1
			}
			j := strings.IndexByte(in[i:], '/')
			if j < 0 {
				j = len(in)
			} else {
				j += i
			}
			out = append(out, in[:j]...)
			in = in[j:]
		}
	}
	return string(out)
}

// dropLastSegment removes the last "/segment" (or "segment") of out.
func dropLastSegment(out []byte) []byte {
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] == '/' {
			return out[:i]
		}
	}
	return out[:0]
}
