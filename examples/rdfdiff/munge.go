package main

import (
	"io"
	"net/url"
	"strings"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// parseScheme reads the URI scheme flag called name ("" is wikidata) and
// returns it with the domain of its wiki (meta.domain of events).
func parseScheme(name, spec string) (rdfdiff.URIScheme, string, error) {
	switch spec {
	case "", "wikidata":
		return rdfdiff.WikidataScheme(), "www.wikidata.org", nil
	case "commons":
		return rdfdiff.CommonsScheme(), "commons.wikimedia.org", nil
	}
	s, err := rdfdiff.ParseURIScheme(spec)
	if err != nil {
		return rdfdiff.URIScheme{}, "", usagef("%s: %q is not wikidata, commons, a concept URI or entity=IRI,…: %s",
			name, spec, strings.TrimPrefix(err.Error(), "rdfdiff: "))
	}
	domain := ""
	if u, err := url.Parse(s.ConceptURI()); err == nil {
		domain = u.Host
	}
	return s, domain, nil
}

// labelFlags are WDQS's label options of the munger.
type labelFlags struct {
	languages, single string
}

func (f *labelFlags) register(fs *commandFlags) {
	fs.StringVar(&f.languages, "label-languages", "", "keep labels, descriptions and aliases only in these comma-separated `languages` (default: all)")
	fs.StringVar(&f.single, "single-label", "", "keep one label and one description, the first of these comma-separated `languages` the entity has")
}

func (f *labelFlags) options() []rdfdiff.MungerOption {
	var opts []rdfdiff.MungerOption
	if l := splitList(f.languages); len(l) > 0 {
		opts = append(opts, rdfdiff.MungeLabelLanguages(l...))
	}
	if l := splitList(f.single); len(l) > 0 {
		opts = append(opts, rdfdiff.MungeSingleLabel(l...))
	}
	return opts
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runMunge(args []string, stdin io.Reader, stdout io.Writer) error {
	var in inputFlags
	var labels labelFlags
	fs := newFlagSet("munge", "[-scheme SCHEME] [-entity ID | -dump] [flags] FILE", stdout)
	in.register(fs)
	labels.register(fs)
	schemeSpec := fs.String("scheme", "wikidata", "URI `scheme`: wikidata, commons, a concept URI or entity=IRI,…")
	entity := fs.String("entity", "", "entity `ID` (default: the one the entity-data node's schema:about names)")
	dump := fs.Bool("dump", false, "FILE is a multi-entity dump: munge every entity and keep the wikibase:Dump header")
	skolemize := fs.Bool("skolemize", true, "rewrite blank nodes to well-known genid IRIs, as the WDQS producer does")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("munge takes one FILE (\"-\" for standard input), got %d arguments", fs.NArg())
	}
	if *dump && *entity != "" {
		return usagef("-dump munges every entity of the dump: drop -entity")
	}
	scheme, _, err := parseScheme("-scheme", *schemeSpec)
	if err != nil {
		return err
	}
	name := fs.Arg(0)
	ts, err := in.read(name, stdin)
	if err != nil {
		return err
	}
	m := rdfdiff.NewMunger(scheme, append(labels.options(), rdfdiff.MungeSkolemize(*skolemize))...)
	var out []rdfdiff.Triple
	if *dump {
		d, err := m.MungeDump(ts)
		if err != nil {
			return &fileError{name: name, err: err}
		}
		out = d.Triples
	} else {
		id := *entity
		if id == "" {
			if id, err = aboutEntity(scheme, name, ts, name, nil); err != nil {
				return err
			}
		}
		if out, err = m.Munge(id, ts); err != nil {
			return &fileError{name: name, err: err}
		}
	}
	return rdfdiff.WriteNTriples(stdout, out)
}
