package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// Graph is an in-memory RDF store with the semantics of a WDQS triple store
// fed by the streaming updater's consumer. Users' unit tests and the
// quickstart use it instead of Blazegraph, and the SPARQL sink's differential
// tests compare real stores against it: what Graph.Apply leaves behind is the
// specification of what a store must hold after a batch.
//
// Terms are interned to 32-bit IDs, and every node keeps the edges it is the
// subject of and the edges it is the (non-literal) object of, so entity
// deletes, reconciliations and orphan checks touch only the nodes concerned,
// never the whole graph. A Graph is safe for concurrent use: readers share
// the graph, Apply and the other writers have it alone.
//
// The zero Graph is not usable; call NewGraph.
type Graph struct {
	cfg graphConfig

	mu     sync.RWMutex
	st     *graphStore
	commit *streamkit.CommitPoint
}

// graphConfig holds what the options of NewGraph set.
type graphConfig struct {
	scheme        rdfdiff.URIScheme
	orphanCleanup bool
	lagMarker     rdfdiff.Term // zero: no lag marker
	// subjects: subject mode (WithSubjects), with its skolem base.
	subjects   bool
	skolemBase string
}

// WithGraphURIScheme sets the Wikibase URI scheme from which the graph tells
// statement nodes (entity deletes and reconciliations remove those the entity
// links to) and value and reference nodes (the shared nodes orphan clean-up
// considers). The default is rdfdiff.WikidataScheme(); the zero URIScheme
// (which matches nothing) is ignored.
//
// An option of NewGraph.
func WithGraphURIScheme(s rdfdiff.URIScheme) Option {
	return graphOption("WithGraphURIScheme", func(c *graphConfig) {
		if s.ConceptURI() != "" {
			c.scheme = s
		}
	})
}

// WithOrphanCleanup turns on the deletion of orphaned shared nodes: after each
// batch, every value or reference node (a subject in the scheme's value or
// reference namespace) that the batch left without any incoming triple is
// deleted with all its triples, and so, in turn, are the nodes that only it
// referenced; so is every sitelink article (<article> a schema:Article) left
// about no entity (the old page of a renamed sitelink, a removed sitelink, a
// sitelink moved away by a merge), and every site (<site>
// wikibase:wikiGroup …) no sitelink is part of any more. An entity delete
// then removes only its sitelinks' schema:about links, so a sitelink that
// another entity already claims (a merge whose edits arrive out of order,
// the redirect deleted at once) keeps its block. After any sequence of
// edits, renames, merges, deletes and undeletes the graph holds exactly a
// fresh import of the entities' latest revisions (a property test over real
// entities checks it).
//
// The WDQS consumer never does this: value and
// reference nodes are shared between entities, so it keeps them for ever,
// and they accumulate, and so do the blocks of renamed and removed
// sitelinks; its entity delete removes every triple of the entity's
// sitelinks, even the schema:about link of an entity that took one over.
// Here we deliberately do better than WDQS. Off by default, so that the
// default Graph holds what a WDQS store holds. The candidates are only the
// nodes that lost an incoming triple in the batch (objects of removed
// triples, of entity deletes and of reconciliations), the articles that lost
// a schema:about link, and the subjects of the batch's LinkedShared and
// UnlinkedShared triples, so the cost is proportional to the batch, not to
// the graph; orphans that predate the option are not searched for.
//
// An option of NewGraph.
func WithOrphanCleanup(on bool) Option {
	return graphOption("WithOrphanCleanup", func(c *graphConfig) { c.orphanCleanup = on })
}

// WithLagMarker makes Apply record the batch's average event time as
// <iri> schema:dateModified "…"^^xsd:dateTime (replacing the previous value),
// as the WDQS consumer does so that the lag of a replica can be read from the
// store itself. WDQS hard-codes the Wikidata root, <http://www.wikidata.org>
// (avgEventTime.sparql); pass rdfdiff.WikidataScheme().ConceptURI()
// to match it. An empty iri (the default) writes no marker, so that dumps of
// the graph hold only the entities' data and do not depend on the clock.
//
// An option of NewGraph.
func WithLagMarker(iri string) Option {
	return graphOption("WithLagMarker", func(c *graphConfig) {
		if iri == "" {
			c.lagMarker = rdfdiff.Term{}
			return
		}
		c.lagMarker = rdfdiff.NewIRI(iri)
	})
}

// NewGraph returns an empty graph. Defaults: the Wikidata URI scheme, no
// orphan clean-up, no lag marker, no commit point. It does no I/O. It
// panics when given an option of NewGraphOutput.
func NewGraph(opts ...Option) *Graph {
	cfg := graphConfig{scheme: rdfdiff.WikidataScheme()}
	if err := (&settings{graph: &cfg}).apply("NewGraph", opts); err != nil {
		panic(err)
	}
	return &Graph{cfg: cfg, st: newGraphStore()}
}

// Format names an RDF serialization that Graph.Load reads.
type Format int

// The formats Graph.Load reads.
const (
	// FormatTurtle is RDF 1.1 Turtle (which includes N-Triples).
	FormatTurtle Format = iota + 1
	// FormatNTriples is strict RDF 1.1 N-Triples.
	FormatNTriples
)

// String returns the format's name.
func (f Format) String() string {
	switch f {
	case FormatTurtle:
		return "Turtle"
	case FormatNTriples:
		return "N-Triples"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ErrUnknownFormat means Graph.Load was asked for a format it does not read.
var ErrUnknownFormat = errors.New("graph: unknown RDF format")

// validGraphTriple reports why tr cannot be stored, or nil: the subject must be an
// IRI or a blank node, the predicate an IRI, and the object any term. Terms
// from the rdfdiff parsers always pass.
func validGraphTriple(tr rdfdiff.Triple) error {
	switch {
	case tr.S.IsZero() || tr.P.IsZero() || tr.O.IsZero():
		return fmt.Errorf("%w: zero term in %v", rdfdiff.ErrInvalidTriple, tr)
	case tr.S.IsLiteral():
		return fmt.Errorf("%w: literal subject in %v", rdfdiff.ErrInvalidTriple, tr)
	case !tr.P.IsIRI():
		return fmt.Errorf("%w: predicate is a %v in %v", rdfdiff.ErrInvalidTriple, tr.P.Kind(), tr)
	}
	return nil
}

// validGraphTriples checks every triple of ts, naming the first bad one.
func validGraphTriples(what string, ts []rdfdiff.Triple) error {
	for i, tr := range ts {
		if err := validGraphTriple(tr); err != nil {
			return fmt.Errorf("%s[%d]: %w", what, i, err)
		}
	}
	return nil
}

// Add inserts triples and returns how many were new. It inserts all of them or,
// when one is invalid (a literal subject, a non-IRI predicate, a zero term),
// none, and returns an error wrapping rdfdiff.ErrInvalidTriple.
func (g *Graph) Add(triples ...rdfdiff.Triple) (int, error) {
	if err := validGraphTriples("triples", triples); err != nil {
		return 0, fmt.Errorf("graph: add: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, tr := range triples {
		if g.st.add(tr) {
			n++
		}
	}
	return n, nil
}

// Delete removes triples and returns how many were present. It is the plain
// set operation (DELETE DATA); orphan clean-up applies to Apply only.
func (g *Graph) Delete(triples ...rdfdiff.Triple) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, tr := range triples {
		if g.st.remove(tr) {
			n++
		}
	}
	return n
}

// Load reads a Turtle or N-Triples document from r and adds its triples,
// returning how many were new. The document is parsed whole before the graph
// changes, so a syntax error (an *rdfdiff.SyntaxError) or a cancelled ctx
// leaves the graph as it was. opts go to the parser (a base IRI for relative
// IRIs, a file name for error messages). Blank nodes are stored as they are:
// munged WDQS data has none (they are skolemized).
func (g *Graph) Load(ctx context.Context, r io.Reader, format Format, opts ...rdfdiff.ParseOption) (int, error) {
	var tr *rdfdiff.TripleReader
	switch format {
	case FormatTurtle:
		tr = rdfdiff.NewTurtleReader(r, opts...)
	case FormatNTriples:
		tr = rdfdiff.NewNTriplesReader(r, opts...)
	default:
		return 0, fmt.Errorf("graph: load %v: %w", format, ErrUnknownFormat)
	}
	var ts []rdfdiff.Triple
	for {
		if len(ts)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, fmt.Errorf("graph: load: %w", err)
			}
		}
		t, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("graph: load %v: %w", format, err)
		}
		ts = append(ts, t)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("graph: load: %w", err)
	}
	return g.Add(ts...)
}

// Len returns the number of triples.
func (g *Graph) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.st.n
}

// Contains reports whether the graph holds tr.
func (g *Graph) Contains(tr rdfdiff.Triple) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.st.has(tr)
}

// Triples returns every triple, sorted by rdfdiff.Triple.Compare, in a new
// slice.
func (g *Graph) Triples() []rdfdiff.Triple {
	g.mu.RLock()
	ts := make([]rdfdiff.Triple, 0, g.st.n)
	g.st.each(func(tr rdfdiff.Triple) bool {
		ts = append(ts, tr)
		return true
	})
	g.mu.RUnlock()
	rdfdiff.SortTriples(ts)
	return ts
}

// Dump writes the graph as sorted canonical N-Triples, one triple per line:
// the same graph always gives the same bytes, so tests compare dumps (and
// diff them when they differ).
func (g *Graph) Dump(w io.Writer) error {
	if err := rdfdiff.WriteNTriples(w, g.Triples()); err != nil {
		return fmt.Errorf("graph: dump: %w", err)
	}
	return nil
}

// Match returns the triples that match the pattern (s, p, o), sorted; a zero
// Term is a wildcard. A bound subject, or a bound IRI or blank-node object,
// is answered from that node's edges; other patterns (only a predicate, or
// only a literal object) scan the whole graph.
func (g *Graph) Match(s, p, o rdfdiff.Term) []rdfdiff.Triple {
	g.mu.RLock()
	ts := g.st.match(s, p, o)
	g.mu.RUnlock()
	rdfdiff.SortTriples(ts)
	return ts
}

// match is Match without the lock and the sort.
func (st *graphStore) match(s, p, o rdfdiff.Term) []rdfdiff.Triple {
	var pid, oid uint32
	if !p.IsZero() {
		if pid = st.lookup(p); pid == graphNoID {
			return nil
		}
	}
	if !o.IsZero() {
		if oid = st.lookup(o); oid == graphNoID {
			return nil
		}
	}
	var ts []rdfdiff.Triple
	switch {
	case !s.IsZero():
		sid := st.lookup(s)
		if sid == graphNoID {
			return nil
		}
		for _, e := range st.nodes[sid].out.appendTo(nil) {
			if (pid == graphNoID || e.a == pid) && (oid == graphNoID || e.b == oid) {
				ts = append(ts, st.triple(sid, e.a, e.b))
			}
		}
	case oid != graphNoID && !o.IsLiteral():
		for _, e := range st.nodes[oid].in.appendTo(nil) {
			if pid == graphNoID || e.b == pid {
				ts = append(ts, st.triple(e.a, e.b, oid))
			}
		}
	default:
		st.each(func(tr rdfdiff.Triple) bool {
			if (p.IsZero() || tr.P == p) && (o.IsZero() || tr.O == o) {
				ts = append(ts, tr)
			}
			return true
		})
	}
	return ts
}

// Positions returns a copy of the commit point the last successful Apply
// recorded, or nil if none did. It never blocks on I/O; ctx is there for the
// interface a job runner shares with stores that do.
func (g *Graph) Positions(ctx context.Context) (*streamkit.CommitPoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("graph: positions: %w", err)
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	return cloneGraphCommitPoint(g.commit), nil
}

// cloneGraphCommitPoint returns a deep copy of c (nil for nil).
func cloneGraphCommitPoint(c *streamkit.CommitPoint) *streamkit.CommitPoint {
	if c == nil {
		return nil
	}
	d := *c
	d.Positions = maps.Clone(c.Positions)
	return &d
}
