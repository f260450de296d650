package rdfdiff

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalidURIScheme is wrapped by the error NewURIScheme returns for a
// concept URI it cannot use.
var ErrInvalidURIScheme = errors.New("rdfdiff: invalid URI scheme")

// PropertyKind names one of the property namespaces Wikibase derives from a
// property ID (p:, wdt:, ps:, pq:, …). The RDF of one statement uses several
// of them, and the munger and classifiers must tell them apart.
type PropertyKind uint8

// The property namespaces of the Wikibase RDF format, after
// https://www.mediawiki.org/wiki/Wikibase/Indexing/RDF_Dump_Format.
const (
	PropClaim                    PropertyKind = iota // p:    <root>/prop/
	PropDirect                                       // wdt:  <root>/prop/direct/
	PropDirectNormalized                             // wdtn: <root>/prop/direct-normalized/
	PropStatement                                    // ps:   <root>/prop/statement/
	PropStatementValue                               // psv:  <root>/prop/statement/value/
	PropStatementValueNormalized                     // psn:  <root>/prop/statement/value-normalized/
	PropQualifier                                    // pq:   <root>/prop/qualifier/
	PropQualifierValue                               // pqv:  <root>/prop/qualifier/value/
	PropQualifierValueNormalized                     // pqn:  <root>/prop/qualifier/value-normalized/
	PropReference                                    // pr:   <root>/prop/reference/
	PropReferenceValue                               // prv:  <root>/prop/reference/value/
	PropReferenceValueNormalized                     // prn:  <root>/prop/reference/value-normalized/
	PropNoValue                                      // wdno: <root>/prop/novalue/
	numPropertyKinds
)

var propertySuffixes = [numPropertyKinds]string{
	PropClaim:                    "",
	PropDirect:                   "direct/",
	PropDirectNormalized:         "direct-normalized/",
	PropStatement:                "statement/",
	PropStatementValue:           "statement/value/",
	PropStatementValueNormalized: "statement/value-normalized/",
	PropQualifier:                "qualifier/",
	PropQualifierValue:           "qualifier/value/",
	PropQualifierValueNormalized: "qualifier/value-normalized/",
	PropReference:                "reference/",
	PropReferenceValue:           "reference/value/",
	PropReferenceValueNormalized: "reference/value-normalized/",
	PropNoValue:                  "novalue/",
}

// URIScheme holds the IRI namespaces of one Wikibase install: where its
// entities, statements, values, references, properties and entity-data
// documents live, and the prefix of its skolem IRIs. The munger, the
// skolemizer and the shared-node classifier are all driven by it, so the
// same code serves Wikidata, Commons and any other Wikibase.
//
// A URIScheme is an immutable value: copy it freely and use it from many
// goroutines. Build one with NewURIScheme, or take WikidataScheme or
// CommonsScheme. The zero URIScheme matches nothing.
type URIScheme struct {
	root       string   // concept URI without trailing slash: http://www.wikidata.org
	entity     string   // <root>/entity/
	statement  string   // <root>/entity/statement/
	value      string   // <root>/value/
	reference  string   // <root>/reference/
	prop       string   // <root>/prop/
	genID      string   // <scheme>://<host[:port]>/.well-known/genid/
	entityData []string // <root>/wiki/Special:EntityData/ in http and https
	initials   []string // entity ID initials served by this scheme ("M" for Commons)
	// federated, when set, serves the entities whose initials are not in
	// initials, and all properties (Commons federates to Wikidata).
	federated *URIScheme
}

// URISchemeOption configures NewURIScheme.
type URISchemeOption func(*URIScheme) error

// WithEntityDataPrefix replaces the default entity-data namespace
// (<concept URI>/wiki/Special:EntityData/) for installs that serve
// Special:EntityData from another host or path. Both the http and the https
// form of prefix are recognised, as Wikibase writes either.
func WithEntityDataPrefix(prefix string) URISchemeOption {
	return func(s *URIScheme) error {
		u, err := url.Parse(prefix)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: entity-data prefix %q is not an absolute http(s) URL", ErrInvalidURIScheme, prefix)
		}
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		s.entityData = []string{prefix, otherHTTPScheme(prefix)}
		return nil
	}
}

// WithEntityInitials sets the first letters of the entity IDs this install
// serves ("M" for Commons MediaInfo). It matters only with WithFederation:
// IDs with other initials are resolved by the federated scheme.
func WithEntityInitials(initials ...string) URISchemeOption {
	return func(s *URIScheme) error {
		for _, in := range initials {
			if in == "" {
				return fmt.Errorf("%w: empty entity initial", ErrInvalidURIScheme)
			}
		}
		s.initials = append([]string(nil), initials...)
		return nil
	}
}

// WithFederation makes the scheme federated with another one, the way
// Commons uses Wikidata: properties, and entities whose ID initial is not one
// of WithEntityInitials, live in the other scheme's namespaces. Statements,
// values, references, entity data and skolem IRIs stay in this scheme.
func WithFederation(other URIScheme) URISchemeOption {
	return func(s *URIScheme) error {
		if other.root == "" {
			return fmt.Errorf("%w: federation with the zero URIScheme", ErrInvalidURIScheme)
		}
		o := other
		s.federated = &o
		return nil
	}
}

// NewURIScheme returns the scheme of the Wikibase install whose concept URI
// (the base of its entity IRIs, e.g. "http://www.wikidata.org") is
// conceptURI. It must be an absolute http or https URL without query or
// fragment; a trailing slash is ignored. The namespaces follow Wikibase's
// defaults: <concept>/entity/, <concept>/entity/statement/, <concept>/value/,
// <concept>/reference/, <concept>/prop/…, <concept>/wiki/Special:EntityData/
// (http and https), and skolem IRIs under
// <scheme>://<host>/.well-known/genid/ (RDF 1.1 Concepts §3.5).
func NewURIScheme(conceptURI string, opts ...URISchemeOption) (URIScheme, error) {
	u, err := url.Parse(conceptURI)
	if err != nil {
		return URIScheme{}, fmt.Errorf("%w: concept URI %q: %v", ErrInvalidURIScheme, conceptURI, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return URIScheme{}, fmt.Errorf("%w: concept URI %q is not an absolute http(s) URL", ErrInvalidURIScheme, conceptURI)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(conceptURI, "?#") {
		return URIScheme{}, fmt.Errorf("%w: concept URI %q has a query or fragment", ErrInvalidURIScheme, conceptURI)
	}
	if iriNeedsEscape(conceptURI) {
		return URIScheme{}, fmt.Errorf("%w: concept URI %q holds characters not allowed in an IRI", ErrInvalidURIScheme, conceptURI)
	}
	root := strings.TrimRight(conceptURI, "/")
	s := URIScheme{
		root:       root,
		entity:     root + "/entity/",
		statement:  root + "/entity/statement/",
		value:      root + "/value/",
		reference:  root + "/reference/",
		prop:       root + "/prop/",
		genID:      u.Scheme + "://" + u.Host + "/.well-known/genid/",
		entityData: []string{root + "/wiki/Special:EntityData/", otherHTTPScheme(root) + "/wiki/Special:EntityData/"},
	}
	if u.Scheme == "http" {
		// Wikibase writes the https form: name it first in messages.
		s.entityData[0], s.entityData[1] = s.entityData[1], s.entityData[0]
	}
	for _, opt := range opts {
		if err := opt(&s); err != nil {
			return URIScheme{}, err
		}
	}
	return s, nil
}

// otherHTTPScheme swaps http and https at the start of uri.
func otherHTTPScheme(uri string) string {
	if rest, ok := strings.CutPrefix(uri, "https:"); ok {
		return "http:" + rest
	}
	if rest, ok := strings.CutPrefix(uri, "http:"); ok {
		return "https:" + rest
	}
	return uri
}

var (
	wikidataScheme = mustURIScheme(NewURIScheme("http://www.wikidata.org", WithEntityInitials("P", "Q")))
	commonsScheme  = mustURIScheme(NewURIScheme("https://commons.wikimedia.org",
		WithEntityInitials("M"), WithFederation(wikidataScheme)))
)

func mustURIScheme(s URIScheme, err error) URIScheme {
	if err != nil {
		panic(err) // only for the package's own constant schemes
	}
	return s
}

// WikidataScheme returns the scheme of www.wikidata.org: entities under
// http://www.wikidata.org/entity/, entity data under
// https://www.wikidata.org/wiki/Special:EntityData/ (http accepted too), skolem
// IRIs under http://www.wikidata.org/.well-known/genid/.
func WikidataScheme() URIScheme { return wikidataScheme }

// CommonsScheme returns the scheme of Structured Data on Commons: MediaInfo
// entities (M…), their statements, values, references and entity data under
// https://commons.wikimedia.org/, skolem IRIs under
// https://commons.wikimedia.org/.well-known/genid/, and properties and items
// (P…, Q…) federated to Wikidata.
func CommonsScheme() URIScheme { return commonsScheme }

// ConceptURI returns the concept URI without trailing slash, e.g.
// "http://www.wikidata.org".
func (s URIScheme) ConceptURI() string { return s.root }

// EntityPrefix returns the namespace of this install's own entity IRIs,
// e.g. "http://www.wikidata.org/entity/".
func (s URIScheme) EntityPrefix() string { return s.entity }

// StatementPrefix returns the namespace of statement nodes (wds:).
func (s URIScheme) StatementPrefix() string { return s.statement }

// ValuePrefix returns the namespace of value nodes (wdv:), which are shared
// between entities.
func (s URIScheme) ValuePrefix() string { return s.value }

// ReferencePrefix returns the namespace of reference nodes (wdref:), which
// are shared between entities.
func (s URIScheme) ReferencePrefix() string { return s.reference }

// EntityDataPrefixes returns the namespaces of the entity-data documents
// (data:Q42), in both the https and the http form (https first, unless
// WithEntityDataPrefix named an http one).
func (s URIScheme) EntityDataPrefixes() []string { return append([]string(nil), s.entityData...) }

// GenIDPrefix returns the prefix of skolem IRIs,
// "<scheme>://<concept host>/.well-known/genid/".
func (s URIScheme) GenIDPrefix() string { return s.genID }

// PropertyPrefix returns the namespace of the given kind of property IRI,
// e.g. "http://www.wikidata.org/prop/direct/" for PropDirect. A federated
// scheme returns the federated install's namespace. It returns "" for an
// unknown kind.
func (s URIScheme) PropertyPrefix(k PropertyKind) string {
	if k >= numPropertyKinds {
		return ""
	}
	if s.federated != nil {
		return s.federated.PropertyPrefix(k)
	}
	if s.prop == "" {
		return ""
	}
	return s.prop + propertySuffixes[k]
}

// servesID reports whether entity ID id belongs to this scheme rather than
// to its federated one.
func (s URIScheme) servesID(id string) bool {
	if s.federated == nil {
		return true
	}
	for _, in := range s.initials {
		if strings.HasPrefix(id, in) {
			return true
		}
	}
	return false
}

// EntityIRI returns the IRI of entity id, e.g. "http://www.wikidata.org/entity/Q42".
// A federated scheme sends IDs with foreign initials to the federated install.
func (s URIScheme) EntityIRI(id string) string {
	if !s.servesID(id) {
		return s.federated.EntityIRI(id)
	}
	return s.entity + id
}

// EntityTerm returns EntityIRI(id) as an IRI term.
func (s URIScheme) EntityTerm(id string) Term { return NewIRI(s.EntityIRI(id)) }

// EntityID returns the entity ID of an entity IRI and true, or "" and false
// when iri is not an entity IRI of this scheme (or of its federated one).
// The ID is what follows the entity namespace and must hold no '/', so
// statement IRIs (…/entity/statement/…) are not entity IRIs.
func (s URIScheme) EntityID(iri string) (string, bool) {
	if s.root == "" {
		return "", false
	}
	if s.federated != nil && !strings.HasPrefix(iri, s.root+"/") {
		return s.federated.EntityID(iri)
	}
	rest, ok := strings.CutPrefix(iri, s.entity)
	if !ok || rest == "" || strings.IndexByte(rest, '/') >= 0 {
		return "", false
	}
	return rest, true
}

// IsEntity reports whether t is an entity IRI of this scheme (or of its
// federated one), without allocating.
func (s URIScheme) IsEntity(t Term) bool {
	if s.root == "" {
		return false
	}
	if s.federated != nil && !s.underRoot(t) {
		return s.federated.IsEntity(t)
	}
	return inNamespace(t, s.entity) && len(t.nt) > len(s.entity)+2
}

// underRoot reports whether t is an IRI below the concept URI.
func (s URIScheme) underRoot(t Term) bool {
	return t.HasPrefix(s.root) && len(t.nt) > len(s.root)+1 && t.nt[1+len(s.root)] == '/'
}

// InStatementNamespace reports whether t is a statement node IRI (wds:…).
func (s URIScheme) InStatementNamespace(t Term) bool { return inNamespace(t, s.statement) }

// InValueNamespace reports whether t is a value node IRI (wdv:…): a shared node.
func (s URIScheme) InValueNamespace(t Term) bool { return inNamespace(t, s.value) }

// InReferenceNamespace reports whether t is a reference node IRI (wdref:…):
// a shared node.
func (s URIScheme) InReferenceNamespace(t Term) bool { return inNamespace(t, s.reference) }

// InEntityDataNamespace reports whether t is an entity-data document IRI
// (data:Q42), in either http or https form.
func (s URIScheme) InEntityDataNamespace(t Term) bool {
	for _, p := range s.entityData {
		if inNamespace(t, p) {
			return true
		}
	}
	return false
}

// InPropertyNamespace reports whether t is an IRI in the given property
// namespace (p:P31 for PropClaim, wdt:P31 for PropDirect, …).
func (s URIScheme) InPropertyNamespace(t Term, k PropertyKind) bool {
	p := s.PropertyPrefix(k)
	return p != "" && inNamespace(t, p)
}

// InNamespace reports whether the IRI iri is in namespace ns: it starts with
// ns and the rest holds no '/'. Wikibase namespaces nest (…/prop/ holds
// …/prop/direct/), so a plain prefix test would mistake wdt:P31 for a p:
// IRI; WDQS uses the same rule.
func InNamespace(iri, ns string) bool {
	return len(iri) >= len(ns) && iri[:len(ns)] == ns && strings.IndexByte(iri[len(ns):], '/') < 0
}

// inNamespace is InNamespace on an IRI term, without allocating. It works on
// the canonical form: namespaces hold no characters that need escaping.
func inNamespace(t Term, ns string) bool {
	if ns == "" || !t.HasPrefix(ns) {
		return false
	}
	return strings.IndexByte(t.nt[1+len(ns):len(t.nt)-1], '/') < 0
}
