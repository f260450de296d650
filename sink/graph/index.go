package graph

// This file holds the storage of Graph: interned terms and the per-node edge
// sets that index the triples by subject and by object.

import "gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"

// graphNoID is the term ID that no term has: lookups of absent terms return it.
const graphNoID uint32 = 0

// edge is one half of a triple seen from a node: (predicate, object) from
// its subject, or (subject, predicate) from its object.
type graphEdge struct{ a, b uint32 }

// graphSmallEdges is the size up to which an edge set is a plain slice. Most nodes
// (statements, values, references, literals' subjects) have a handful of
// edges; a few (wikibase:BestRank, wd:Q5 as objects) have millions, and a
// slice would make each removal linear in their degree.
const graphSmallEdges = 32

// graphEdges is a set of edges: a slice while small, a map once large, so that
// add, remove and has are O(1) amortised for every degree while small nodes
// cost 8 bytes per edge.
type graphEdges struct {
	small []graphEdge
	big   map[graphEdge]struct{}
}

func (e *graphEdges) len() int {
	if e.big != nil {
		return len(e.big)
	}
	return len(e.small)
}

func (e *graphEdges) has(x graphEdge) bool {
	if e.big != nil {
		_, ok := e.big[x]
		return ok
	}
	for _, y := range e.small {
		if y == x {
			return true
		}
	}
	return false
}

// add inserts x and reports whether it was new.
func (e *graphEdges) add(x graphEdge) bool {
	if e.big != nil {
		if _, ok := e.big[x]; ok {
			return false
		}
		e.big[x] = struct{}{}
		return true
	}
	if e.has(x) {
		return false
	}
	if len(e.small) < graphSmallEdges {
		e.small = append(e.small, x)
		return true
	}
	e.big = make(map[graphEdge]struct{}, 2*graphSmallEdges)
	for _, y := range e.small {
		e.big[y] = struct{}{}
	}
	e.big[x] = struct{}{}
	e.small = nil
	return true
}

// remove deletes x and reports whether it was there. A map that shrinks to a
// quarter of the slice limit turns back into a slice, to give memory back.
func (e *graphEdges) remove(x graphEdge) bool {
	if e.big != nil {
		if _, ok := e.big[x]; !ok {
			return false
		}
		delete(e.big, x)
		if len(e.big) <= graphSmallEdges/4 {
			small := make([]graphEdge, 0, len(e.big))
			for y := range e.big {
				small = append(small, y)
			}
			e.small, e.big = small, nil
		}
		return true
	}
	for i, y := range e.small {
		if y == x {
			last := len(e.small) - 1
			e.small[i] = e.small[last]
			e.small = e.small[:last]
			if len(e.small) == 0 {
				e.small = nil
			}
			return true
		}
	}
	return false
}

// appendTo appends the edges to dst, in no particular order.
func (e *graphEdges) appendTo(dst []graphEdge) []graphEdge {
	if e.big != nil {
		for y := range e.big {
			dst = append(dst, y)
		}
		return dst
	}
	return append(dst, e.small...)
}

// graphNode is what the graph keeps per interned term.
type graphNode struct {
	term rdfdiff.Term
	// refs counts the positions (subject, predicate or object) the term
	// holds in triples of the graph; at zero the term is released.
	refs uint32
	// out holds (predicate, object) of the triples with this subject.
	out graphEdges
	// in holds (subject, predicate) of the triples with this object,
	// for IRI and blank-node objects only: literals are never looked up as
	// objects by Apply, and leaving them out saves 8 bytes per such triple.
	in graphEdges
}

// graphStore is the unsynchronised triple store behind Graph.
type graphStore struct {
	ids   map[rdfdiff.Term]uint32
	nodes []graphNode // indexed by term ID; nodes[graphNoID] is unused
	free  []uint32
	n     int // number of triples
	// aboutID is the ID of schema:about while a triple uses it, and
	// sitelinksOf maps an entity to the subjects of its <s> schema:about
	// <entity> triples. Entity deletes and reconciles look sitelinks up there
	// instead of scanning the entity's incoming edges, which for a class
	// like wd:Q5 number in the millions.
	aboutID     uint32
	sitelinksOf map[uint32][]uint32
}

func newGraphStore() *graphStore {
	return &graphStore{ids: make(map[rdfdiff.Term]uint32), nodes: make([]graphNode, 1),
		sitelinksOf: make(map[uint32][]uint32)}
}

// lookup returns the ID of t, or graphNoID when t is in no triple.
func (s *graphStore) lookup(t rdfdiff.Term) uint32 { return s.ids[t] }

// intern returns the ID of t, giving it one if needed.
func (s *graphStore) intern(t rdfdiff.Term) uint32 {
	if id, ok := s.ids[t]; ok {
		return id
	}
	var id uint32
	if n := len(s.free); n > 0 {
		id = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		id = uint32(len(s.nodes))
		s.nodes = append(s.nodes, graphNode{})
	}
	s.nodes[id] = graphNode{term: t}
	s.ids[t] = id
	if t == iriSchemaAbout {
		s.aboutID = id
	}
	return id
}

// release drops one reference to id and frees the term at zero.
func (s *graphStore) release(id uint32) {
	nd := &s.nodes[id]
	nd.refs--
	if nd.refs == 0 {
		delete(s.ids, nd.term)
		*nd = graphNode{}
		if id == s.aboutID {
			s.aboutID = graphNoID
		}
		s.free = append(s.free, id)
	}
}

func (s *graphStore) term(id uint32) rdfdiff.Term { return s.nodes[id].term }

// has reports whether the triple is in the store.
func (s *graphStore) has(tr rdfdiff.Triple) bool {
	sid, pid, oid := s.lookup(tr.S), s.lookup(tr.P), s.lookup(tr.O)
	if sid == graphNoID || pid == graphNoID || oid == graphNoID {
		return false
	}
	return s.nodes[sid].out.has(graphEdge{pid, oid})
}

// add inserts a valid triple and reports whether it was new.
func (s *graphStore) add(tr rdfdiff.Triple) bool {
	// One hash per known term: most terms of a batch are already interned.
	sid, pid, oid := s.lookup(tr.S), s.lookup(tr.P), s.lookup(tr.O)
	if sid != graphNoID && pid != graphNoID && oid != graphNoID && s.nodes[sid].out.has(graphEdge{pid, oid}) {
		return false
	}
	if sid == graphNoID {
		sid = s.intern(tr.S)
	}
	if pid == graphNoID {
		pid = s.intern(tr.P) // intern again: P may be S
	}
	if oid == graphNoID {
		oid = s.intern(tr.O)
	}
	s.nodes[sid].out.add(graphEdge{pid, oid})
	if !tr.O.IsLiteral() {
		s.nodes[oid].in.add(graphEdge{sid, pid})
		if pid == s.aboutID {
			s.sitelinksOf[oid] = append(s.sitelinksOf[oid], sid)
		}
	}
	s.nodes[sid].refs++
	s.nodes[pid].refs++
	s.nodes[oid].refs++
	s.n++
	return true
}

// remove deletes the triple and reports whether it was there.
func (s *graphStore) remove(tr rdfdiff.Triple) bool {
	sid, pid, oid := s.lookup(tr.S), s.lookup(tr.P), s.lookup(tr.O)
	if sid == graphNoID || pid == graphNoID || oid == graphNoID {
		return false
	}
	return s.removeIDs(sid, pid, oid)
}

// removeIDs deletes the triple (sid, pid, oid) and reports whether it was there.
func (s *graphStore) removeIDs(sid, pid, oid uint32) bool {
	if !s.nodes[sid].out.remove(graphEdge{pid, oid}) {
		return false
	}
	if !s.nodes[oid].term.IsLiteral() {
		s.nodes[oid].in.remove(graphEdge{sid, pid})
		if pid == s.aboutID {
			s.removeSitelink(oid, sid)
		}
	}
	s.release(sid)
	s.release(pid)
	s.release(oid)
	s.n--
	return true
}

// outOf returns the triples whose subject is t.
func (s *graphStore) outOf(t rdfdiff.Term, buf []graphEdge) []graphEdge {
	id := s.lookup(t)
	if id == graphNoID {
		return buf[:0]
	}
	return s.nodes[id].out.appendTo(buf[:0])
}

// triple rebuilds a triple from IDs.
func (s *graphStore) triple(sid, pid, oid uint32) rdfdiff.Triple {
	return rdfdiff.Triple{S: s.term(sid), P: s.term(pid), O: s.term(oid)}
}

// each calls fn for every triple, in no particular order, until fn returns
// false.
func (s *graphStore) each(fn func(rdfdiff.Triple) bool) {
	var buf []graphEdge
	for sid := 1; sid < len(s.nodes); sid++ {
		nd := &s.nodes[sid]
		if nd.out.len() == 0 {
			continue
		}
		buf = nd.out.appendTo(buf[:0])
		for _, e := range buf {
			if !fn(s.triple(uint32(sid), e.a, e.b)) {
				return
			}
		}
	}
}

// removeSitelink drops sid from the sitelinks of entity oid.
func (s *graphStore) removeSitelink(oid, sid uint32) {
	links := s.sitelinksOf[oid]
	for i, x := range links {
		if x == sid {
			links[i] = links[len(links)-1]
			links = links[:len(links)-1]
			break
		}
	}
	if len(links) == 0 {
		delete(s.sitelinksOf, oid)
		return
	}
	s.sitelinksOf[oid] = links
}
