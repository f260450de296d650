package rdfdiff

import (
	"fmt"
	"net/url"
	"strings"
)

// WikibaseNamespaces are the base IRIs a Wikibase install writes its RDF
// with, as its RDF builder is configured (the entity concept base URI and
// the namespaces derived from it). Only Entity is required; every other
// namespace defaults to what Wikibase derives from it, with top being
// Entity without a final "entity/" segment ("http://www.wikidata.org/" for
// "http://www.wikidata.org/entity/", "http://example.test/" for an install
// whose entities are http://example.test/Q7):
//
//   - Statement: Entity + "statement/"
//   - Reference: top + "reference/"
//   - Value: top + "value/"
//   - Property: top + "prop/" (p:; wdt: is Property + "direct/", and so on)
//   - EntityData: top + "wiki/Special:EntityData/", in its http and https forms
//   - GenID: <scheme>://<host of Entity>/.well-known/genid/
//
// Every namespace must be an absolute http(s) IRI ending in '/' or '#'.
type WikibaseNamespaces struct {
	Entity     string
	Statement  string
	Reference  string
	Value      string
	Property   string
	EntityData string
	GenID      string
}

// NewWikibaseURIScheme returns the scheme of a Wikibase install described by
// its own namespaces, for installs whose layout NewURIScheme's concept URI
// cannot express (entities directly under the host, statements or values
// elsewhere). NewWikibaseURIScheme(WikibaseNamespaces{Entity:
// "http://www.wikidata.org/entity/"}) is NewURIScheme("http://www.wikidata.org").
// opts apply afterwards (WithEntityInitials, WithFederation,
// WithEntityDataPrefix); errors wrap ErrInvalidURIScheme and name the field.
func NewWikibaseURIScheme(ns WikibaseNamespaces, opts ...URISchemeOption) (URIScheme, error) {
	if ns.Entity == "" {
		return URIScheme{}, fmt.Errorf("%w: the entity namespace is required (e.g. http://www.wikidata.org/entity/)", ErrInvalidURIScheme)
	}
	if err := checkNamespace("entity", ns.Entity); err != nil {
		return URIScheme{}, err
	}
	top := strings.TrimSuffix(ns.Entity, "entity/")
	if !strings.HasSuffix(top, "/") {
		top = ns.Entity
	}
	u, _ := url.Parse(ns.Entity) // checked above
	s := URIScheme{
		root:      strings.TrimRight(top, "/#"),
		entity:    ns.Entity,
		statement: or(ns.Statement, ns.Entity+"statement/"),
		value:     or(ns.Value, top+"value/"),
		reference: or(ns.Reference, top+"reference/"),
		prop:      or(ns.Property, top+"prop/"),
		genID:     or(ns.GenID, u.Scheme+"://"+u.Host+"/.well-known/genid/"),
	}
	data := or(ns.EntityData, top+"wiki/Special:EntityData/")
	s.entityData = []string{data, otherHTTPScheme(data)}
	if ns.EntityData == "" && u.Scheme == "http" {
		// Wikibase writes the https form: name it first in messages.
		s.entityData[0], s.entityData[1] = s.entityData[1], s.entityData[0]
	}
	for _, f := range []struct{ name, iri string }{
		{"statement", s.statement}, {"reference", s.reference}, {"value", s.value},
		{"property", s.prop}, {"entity-data", data}, {"genid", s.genID},
	} {
		if err := checkNamespace(f.name, f.iri); err != nil {
			return URIScheme{}, err
		}
	}
	for _, p := range []string{s.statement, s.reference, s.value} {
		if p == s.entity {
			return URIScheme{}, fmt.Errorf("%w: namespace %s is given for entities and for statements, references or values; give each its own", ErrInvalidURIScheme, p)
		}
	}
	for _, opt := range opts {
		if err := opt(&s); err != nil {
			return URIScheme{}, err
		}
	}
	return s, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// checkNamespace reports why iri cannot be the namespace called name.
func checkNamespace(name, iri string) error {
	u, err := url.Parse(iri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return fmt.Errorf("%w: %s namespace %q is not an absolute http(s) IRI without query", ErrInvalidURIScheme, name, iri)
	}
	if !strings.HasSuffix(iri, "/") && !strings.HasSuffix(iri, "#") {
		return fmt.Errorf("%w: %s namespace %q must end in '/' or '#' (write %q)", ErrInvalidURIScheme, name, iri, iri+"/")
	}
	if iriNeedsEscape(iri) {
		return fmt.Errorf("%w: %s namespace %q holds characters not allowed in an IRI", ErrInvalidURIScheme, name, iri)
	}
	return nil
}

// ParseURIScheme reads a URI scheme from a command-line flag:
//
//   - "wikidata" or "commons": WikidataScheme or CommonsScheme;
//   - a concept URI, "http://my.wikibase.test": NewURIScheme;
//   - comma-separated key=IRI pairs naming a Wikibase's own namespaces,
//     "entity=http://example.test/,entity-data=http://example.test/data/":
//     NewWikibaseURIScheme, with the keys entity (required), statement,
//     reference, value, prop, entity-data and genid.
func ParseURIScheme(spec string) (URIScheme, error) {
	spec = strings.TrimSpace(spec)
	switch spec {
	case "wikidata":
		return WikidataScheme(), nil
	case "commons":
		return CommonsScheme(), nil
	case "":
		return URIScheme{}, fmt.Errorf("%w: empty scheme; give wikidata, commons, a concept URI or entity=IRI,…", ErrInvalidURIScheme)
	}
	if !strings.Contains(spec, "=") {
		return NewURIScheme(spec)
	}
	var ns WikibaseNamespaces
	fields := map[string]*string{
		"entity": &ns.Entity, "statement": &ns.Statement, "reference": &ns.Reference, "value": &ns.Value,
		"prop": &ns.Property, "entity-data": &ns.EntityData, "genid": &ns.GenID,
	}
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		dst, ok := fields[k]
		if !ok {
			return URIScheme{}, fmt.Errorf("%w: unknown key %q in %q; use entity, statement, reference, value, prop, entity-data, genid", ErrInvalidURIScheme, k, spec)
		}
		if *dst != "" {
			return URIScheme{}, fmt.Errorf("%w: key %q given twice in %q", ErrInvalidURIScheme, k, spec)
		}
		if v == "" {
			return URIScheme{}, fmt.Errorf("%w: key %q has no IRI in %q", ErrInvalidURIScheme, k, spec)
		}
		*dst = v
	}
	return NewWikibaseURIScheme(ns)
}
