package updater

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrInvalidSubgraphDefinitions is matched by every error of
// ParseSubgraphDefinitions and LoadSubgraphDefinitions about the content of
// a definitions file (the *SubgraphDefinitionError says where and why).
var ErrInvalidSubgraphDefinitions = errors.New("updater: invalid subgraph definitions")

// SubgraphDefinitionError locates what is wrong in a subgraph definitions
// file, so an operator can fix the file without reading the parser.
type SubgraphDefinitionError struct {
	File     string // the file name given to the parser, or ""
	Line     int    // 1-based; 0 when the YAML library gave none
	Subgraph string // the subgraph at fault, or ""
	Rule     string // the rule text at fault, or ""
	Msg      string // what is wrong
	Err      error  // the YAML library's error, or nil
}

// Error returns e.g. `updater: invalid subgraph definitions: defs.yaml:12:
// subgraph "main": rule "pass ?entity wdt:P31 ?x": unknown variable ?x`.
func (e *SubgraphDefinitionError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalidSubgraphDefinitions.Error())
	b.WriteString(": ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Subgraph != "" {
		fmt.Fprintf(&b, "subgraph %q: ", e.Subgraph)
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", e.Rule)
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidSubgraphDefinitions) true.
func (e *SubgraphDefinitionError) Is(target error) bool {
	return target == ErrInvalidSubgraphDefinitions
}

// Unwrap returns the YAML library's error, or nil.
func (e *SubgraphDefinitionError) Unwrap() error { return e.Err }

// MaxSubgraphs is how many subgraphs a definitions file may hold: the
// membership of an entity is one bit per subgraph of an int64 in the
// checkpointed state.
const MaxSubgraphs = 62

// SubgraphStubPredicate is the predicate of the stub triples
// `<entity> <…#subgraph> <subgraph IRI>` that tell a subgraph which other
// subgraph holds an entity it does not have.
const SubgraphStubPredicate = "http://wikiba.se/queryService#subgraph"

// SubgraphDefinitions is a parsed subgraph definitions file (the WDQS graph
// split, e.g. wdqs-subgraph-definitions-v2.yaml): the subgraphs in file
// order. It is immutable once parsed and safe for concurrent use.
type SubgraphDefinitions struct {
	// Subgraphs are the subgraphs in the order of the file; an entity's
	// membership is recorded by index in this slice.
	Subgraphs []*Subgraph
	// Prefixes are the file's prefix declarations (name without ':' → IRI).
	Prefixes map[string]string
	// Bindings are the named IRI sets rules refer to as ?name.
	Bindings map[string][]string
}

// Subgraph is one subgraph of the split: which entities it holds (rules
// evaluated on an entity's munged triples) and the stream its rdf_change
// events go to.
type Subgraph struct {
	// Name identifies the subgraph (unique in the file).
	Name string
	// Stream is the meta.stream of its events (unique in the file); the
	// updater maps it to a topic.
	Stream string
	// URI is the subgraph's IRI (subgraph_uri), the object of the stub
	// triples; "" for the one full graph.
	URI string
	// Rules are evaluated in order; the first that matches decides.
	Rules []SubgraphRule
	// DefaultPass is the decision when no rule matches (default: pass).
	DefaultPass bool
	// StubsSource makes the subgraph's entities announce themselves with
	// stub triples in the subgraphs that do not hold them.
	StubsSource bool
}

// IsFull reports whether g is the full graph (no subgraph_uri).
func (g *Subgraph) IsFull() bool { return g.URI == "" }

// SubgraphRule is one `pass|block <s> <p> <o>` rule: it matches an entity
// when one of the entity's munged triples matches the pattern.
type SubgraphRule struct {
	// Pass is true for a pass rule, false for a block rule.
	Pass bool
	// Text is the rule as written, for messages.
	Text    string
	s, p, o patternTerm
}

// Full returns the full graph (the subgraph without subgraph_uri), or nil.
func (d *SubgraphDefinitions) Full() *Subgraph {
	for _, g := range d.Subgraphs {
		if g.IsFull() {
			return g
		}
	}
	return nil
}

// Index returns the index of the subgraph named name, or -1.
func (d *SubgraphDefinitions) Index(name string) int {
	for i, g := range d.Subgraphs {
		if g.Name == name {
			return i
		}
	}
	return -1
}

// LoadSubgraphDefinitions reads and parses a definitions file (see
// ParseSubgraphDefinitions).
func LoadSubgraphDefinitions(path string) (*SubgraphDefinitions, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("updater: read subgraph definitions: %w", err)
	}
	return ParseSubgraphDefinitions(b, path)
}

// strictDefs is the shape of a definitions file, to reject unknown keys
// (a misspelt "stubs_sources" must not silently mean false).
type strictDefs struct {
	Prefixes  map[string]string   `yaml:"prefixes"`
	Bindings  map[string][]string `yaml:"bindings"`
	Subgraphs []struct {
		Name        string   `yaml:"name"`
		Stream      string   `yaml:"stream"`
		SubgraphURI *string  `yaml:"subgraph_uri"`
		Default     string   `yaml:"default"`
		Rules       []string `yaml:"rules"`
		StubsSource bool     `yaml:"stubs_source"`
	} `yaml:"subgraphs"`
}

// rawDefs is the same shape with the nodes kept, for line numbers.
type rawDefs struct {
	Prefixes  yaml.Node `yaml:"prefixes"`
	Bindings  yaml.Node `yaml:"bindings"`
	Subgraphs []yaml.Node
}

type rawSubgraph struct {
	Name        yaml.Node   `yaml:"name"`
	Stream      yaml.Node   `yaml:"stream"`
	SubgraphURI yaml.Node   `yaml:"subgraph_uri"`
	Default     yaml.Node   `yaml:"default"`
	Rules       []yaml.Node `yaml:"rules"`
	StubsSource bool        `yaml:"stubs_source"`
}

// ParseSubgraphDefinitions parses a subgraph definitions file in the WDQS
// format: `prefixes` (name → IRI), `bindings` (name → list of IRIs) and
// `subgraphs`, each with `name`, `stream`, `subgraph_uri` (a prefixed name
// or <IRI>; absent or null only for the one full graph), `default`
// (pass|block), ordered `rules` ("pass|block <s> <p> <o>", where a term is
// ?entity — the entity's IRI —, ?binding, [] — anything —, a prefixed name,
// <IRI> or "a") and `stubs_source`. file names the input in errors. Every
// error is a *SubgraphDefinitionError.
func ParseSubgraphDefinitions(data []byte, file string) (*SubgraphDefinitions, error) {
	fail := func(line int, sub, rule, msg string, err error) (*SubgraphDefinitions, error) {
		return nil, &SubgraphDefinitionError{File: file, Line: line, Subgraph: sub, Rule: rule, Msg: msg, Err: err}
	}
	var strict strictDefs
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&strict); errors.Is(err, io.EOF) {
		return fail(0, "", "", "no subgraphs (empty file)", nil)
	} else if err != nil {
		return fail(yamlLine(err), "", "", "malformed YAML", err)
	}
	var raw rawDefs
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return fail(yamlLine(err), "", "", "malformed YAML", err)
	}
	d := &SubgraphDefinitions{Prefixes: map[string]string{}, Bindings: map[string][]string{}}
	for k, v := range strict.Prefixes {
		if k == "" || strings.ContainsAny(k, ": \t<>") || v == "" {
			return fail(raw.Prefixes.Line, "", "", fmt.Sprintf("bad prefix %q: %q", k, v), nil)
		}
		d.Prefixes[k] = v
	}
	if raw.Bindings.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(raw.Bindings.Content); i += 2 {
			name, list := raw.Bindings.Content[i], raw.Bindings.Content[i+1]
			if name.Value == "" || name.Value == "entity" {
				return fail(name.Line, "", "", fmt.Sprintf("binding name %q is reserved or empty", name.Value), nil)
			}
			if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
				return fail(list.Line, "", "", fmt.Sprintf("binding %q must be a non-empty list of IRIs", name.Value), nil)
			}
			for _, v := range list.Content {
				iri, err := d.expand(v.Value)
				if err != nil {
					return fail(v.Line, "", "", fmt.Sprintf("binding %q: %v", name.Value, err), nil)
				}
				d.Bindings[name.Value] = append(d.Bindings[name.Value], iri)
			}
		}
	}
	if len(raw.Subgraphs) == 0 {
		return fail(0, "", "", "no subgraphs", nil)
	}
	if len(raw.Subgraphs) > MaxSubgraphs {
		return fail(raw.Subgraphs[MaxSubgraphs].Line, "", "", fmt.Sprintf("more than %d subgraphs", MaxSubgraphs), nil)
	}
	names, streams := map[string]bool{}, map[string]bool{}
	var full string
	for _, n := range raw.Subgraphs {
		var rs rawSubgraph
		if err := n.Decode(&rs); err != nil {
			return fail(n.Line, "", "", "malformed subgraph", err)
		}
		g := &Subgraph{Name: rs.Name.Value, Stream: rs.Stream.Value, StubsSource: rs.StubsSource}
		switch {
		case g.Name == "":
			return fail(n.Line, "", "", "subgraph without a name", nil)
		case names[g.Name]:
			return fail(rs.Name.Line, g.Name, "", "duplicate subgraph name", nil)
		case g.Stream == "":
			return fail(n.Line, g.Name, "", "no stream", nil)
		case streams[g.Stream]:
			return fail(rs.Stream.Line, g.Name, "", fmt.Sprintf("stream %q is already another subgraph's", g.Stream), nil)
		}
		names[g.Name], streams[g.Stream] = true, true
		if rs.SubgraphURI.Kind == 0 || rs.SubgraphURI.Tag == "!!null" {
			if full != "" {
				return fail(n.Line, g.Name, "", fmt.Sprintf("no subgraph_uri, but %q is already the full graph (only one subgraph may lack a subgraph_uri)", full), nil)
			}
			full = g.Name
			if g.StubsSource {
				return fail(n.Line, g.Name, "", "the full graph (no subgraph_uri) cannot be a stubs_source: stubs name a subgraph_uri", nil)
			}
		} else {
			iri, err := d.expand(rs.SubgraphURI.Value)
			if err != nil {
				return fail(rs.SubgraphURI.Line, g.Name, "", "subgraph_uri: "+err.Error(), nil)
			}
			g.URI = iri
		}
		switch rs.Default.Value {
		case "pass":
			g.DefaultPass = true
		case "block":
		default:
			line := rs.Default.Line
			if line == 0 {
				line = n.Line
			}
			return fail(line, g.Name, "", fmt.Sprintf("default is %q, want pass or block", rs.Default.Value), nil)
		}
		for _, rn := range rs.Rules {
			r, msg := d.parseRule(rn.Value)
			if msg != "" {
				return fail(rn.Line, g.Name, rn.Value, msg, nil)
			}
			g.Rules = append(g.Rules, r)
		}
		d.Subgraphs = append(d.Subgraphs, g)
	}
	return d, nil
}

// yamlLine digs the line out of the YAML library's error, 0 if none.
func yamlLine(err error) int {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	var line int
	if i := strings.Index(msg, "line "); i >= 0 {
		_, _ = fmt.Sscanf(msg[i:], "line %d", &line)
	}
	return line
}

// expand turns a prefixed name or <IRI> (or a plain absolute IRI) into an
// IRI.
func (d *SubgraphDefinitions) expand(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("empty IRI")
	case strings.HasPrefix(s, "<"):
		if !strings.HasSuffix(s, ">") || len(s) < 3 || strings.ContainsAny(s[1:len(s)-1], "<> \t\"{}|^`\\") {
			return "", fmt.Errorf("malformed IRI %s", s)
		}
		iri := s[1 : len(s)-1]
		if !strings.Contains(iri, ":") {
			return "", fmt.Errorf("relative IRI %s", s)
		}
		return iri, nil
	}
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return "", fmt.Errorf("%q is neither a prefixed name nor an <IRI>", s)
	}
	if ns, ok := d.Prefixes[s[:i]]; ok {
		return ns + s[i+1:], nil
	}
	if strings.HasPrefix(s[i:], "://") && !strings.ContainsAny(s, "<> \t\"") {
		return s, nil
	}
	return "", fmt.Errorf("unknown prefix %q in %q", s[:i], s)
}

// parseRule parses "pass|block s p o"; a non-empty msg says what is wrong.
func (d *SubgraphDefinitions) parseRule(text string) (SubgraphRule, string) {
	f := strings.Fields(text)
	r := SubgraphRule{Text: text}
	if len(f) != 4 {
		return r, "want \"pass|block <subject> <predicate> <object>\""
	}
	switch f[0] {
	case "pass":
		r.Pass = true
	case "block":
	default:
		return r, fmt.Sprintf("action %q, want pass or block", f[0])
	}
	for i, dst := range []*patternTerm{&r.s, &r.p, &r.o} {
		t, err := d.parseTerm(f[i+1], i == 1)
		if err != nil {
			return r, err.Error()
		}
		*dst = t
	}
	return r, ""
}

// patternKind is what a rule's term matches.
type patternKind uint8

const (
	patAny     patternKind = iota // []
	patEntity                     // ?entity
	patIRI                        // one IRI
	patBinding                    // ?name: any IRI of the binding
)

// patternTerm is one position of a rule's triple pattern.
type patternTerm struct {
	kind patternKind
	iri  string
	set  map[string]struct{}
}

func (d *SubgraphDefinitions) parseTerm(s string, predicate bool) (patternTerm, error) {
	switch {
	case s == "[]":
		return patternTerm{kind: patAny}, nil
	case s == "?entity":
		return patternTerm{kind: patEntity}, nil
	case s == "a" && predicate:
		return patternTerm{kind: patIRI, iri: "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"}, nil
	case strings.HasPrefix(s, "?") || strings.HasPrefix(s, "$"):
		vals, ok := d.Bindings[s[1:]]
		if !ok {
			return patternTerm{}, fmt.Errorf("unknown variable %s (neither ?entity nor a binding)", s)
		}
		set := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			set[v] = struct{}{}
		}
		return patternTerm{kind: patBinding, set: set}, nil
	case strings.HasPrefix(s, "\"") || strings.HasPrefix(s, "'"):
		return patternTerm{}, fmt.Errorf("literal %s: rules match IRIs only", s)
	}
	iri, err := d.expand(s)
	if err != nil {
		return patternTerm{}, err
	}
	return patternTerm{kind: patIRI, iri: iri}, nil
}
