package sparql

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// requestCosts are the byte sizes of the fixed parts of the operations an
// UpdateBuilder writes, measured once from the builder itself so that
// request planning counts exactly what will be sent (give or take the
// VALUES of reconciliation subjects, which it over-counts).
type requestCosts struct {
	dataOp       int // frame of one INSERT DATA / DELETE DATA, with its separator
	lag          int // the lag marker's two operations
	deleteFrame  int // the five entity-delete templates, without the IDs
	subjectFrame int // the DELETE … WHERE of a reconciliation's subjects, without them
}

func newRequestCosts(b *UpdateBuilder) requestCosts {
	const sep = len(";\n")
	var c requestCosts
	tr := rdfdiff.Triple{S: rdfdiff.NewIRI("http://example.org/s"), P: rdfdiff.NewIRI("http://example.org/p"), O: rdfdiff.NewIRI("http://example.org/o")}
	trText, _ := AppendSPARQLTriple(nil, tr)
	p := &rdfdiff.ConsolidatedPatch{}
	p.Added = []rdfdiff.Triple{tr}
	out, _ := b.AppendUpdate(nil, p, nil)
	c.dataOp = len(out) - len(trText) + sep
	if b.lagSubject != "" {
		out, _ = b.AppendUpdate(nil, &rdfdiff.ConsolidatedPatch{AvgEventTime: time.Unix(0, 0)}, nil)
		c.lag = len(out) + sep + 8 // + 8: longer fractions of a second
	}
	idText, _ := AppendSPARQLTerm(nil, b.scheme.EntityTerm("Q1"))
	out, _ = b.AppendUpdate(nil, &rdfdiff.ConsolidatedPatch{DeletedEntities: []string{"Q1"}}, nil)
	c.deleteFrame = len(out) - 5*(len(idText)+1) + sep
	c.subjectFrame = 96 + 2*len(b.graph) + sep
	return c
}

// perDeleteID is what one more entity ID adds to the delete templates.
func (s *SPARQL) perDeleteID(id string) int {
	t, err := AppendSPARQLTerm(nil, s.b.scheme.EntityTerm(id))
	if err != nil {
		return 5 * (len(id) + 64)
	}
	return 5 * (len(t) + 1)
}

// plannedRequest is one update request: consecutive slices of one or more
// consolidated patches, in order.
type plannedRequest struct {
	pieces  []requestPiece
	triples int
	bytes   int
	body    []byte // already built, commit point included (the fast path)
}

// requestPiece is one part of a request: a slice of a consolidated patch, or
// a slice of one large reconciliation (see planner.bigReconciliation). Only
// one field is set.
type requestPiece struct {
	patch  *rdfdiff.ConsolidatedPatch
	clear  []rdfdiff.Triple // delete every triple of these triples' subjects
	insert []rdfdiff.Triple // INSERT DATA into the data graph
}

// planner cuts consolidated patches into requests under the limits,
// keeping the order of their operations (removed, added, linked-shared, lag
// marker, entity deletes, reconciliations; patch after patch). Consecutive
// requests applied in order leave the store as one request would.
type planner struct {
	s       *SPARQL
	maxT    int
	maxB    int
	reqs    []*plannedRequest
	cur     *plannedRequest
	piece   *rdfdiff.ConsolidatedPatch
	scratch []byte
}

func (pl *planner) newRequest() {
	pl.cur = &plannedRequest{}
	pl.reqs = append(pl.reqs, pl.cur)
	pl.piece = nil
}

func (pl *planner) curPiece() *rdfdiff.ConsolidatedPatch {
	if pl.piece == nil {
		pl.piece = &rdfdiff.ConsolidatedPatch{}
		pl.cur.pieces = append(pl.cur.pieces, requestPiece{patch: pl.piece})
	}
	return pl.piece
}

// fit starts a new request when the current one holds something and an item
// of t triples and b bytes would overflow it; it reports whether it did. An
// item larger than the limits goes alone into a request of its own.
func (pl *planner) fit(t, b int) bool {
	if pl.full(t, b) {
		pl.newRequest()
		return true
	}
	return false
}

// full reports whether the current request holds something and an item of
// t triples and b bytes would overflow it.
func (pl *planner) full(t, b int) bool {
	c := pl.cur
	return (c.triples > 0 || c.bytes > 0) && (c.triples+t > pl.maxT || c.bytes+b > pl.maxB)
}

func (pl *planner) take(t, b int) {
	pl.cur.triples += t
	pl.cur.bytes += b
}

func (pl *planner) tripleSize(tr rdfdiff.Triple) (int, error) {
	if err := checkIRILengths(tr, pl.s.b.maxIRI); err != nil {
		return 0, err
	}
	if err := checkBoolean(tr, pl.s.b.wellTypedBool); err != nil {
		return 0, err
	}
	var err error
	pl.scratch, err = AppendSPARQLTriple(pl.scratch[:0], tr)
	return len(pl.scratch), err
}

// triples plans one bucket; set stores a sub-slice of it in a piece.
func (pl *planner) triples(ts []rdfdiff.Triple, set func(p *rdfdiff.ConsolidatedPatch, ts []rdfdiff.Triple)) error {
	if len(ts) == 0 {
		return nil
	}
	md := pl.s.b.maxData
	piece := pl.curPiece()
	lo, inOp := 0, 0
	for i, tr := range ts {
		sz, err := pl.tripleSize(tr)
		if err != nil {
			return err
		}
		cost := sz
		if inOp == 0 || (md > 0 && inOp%md == 0) {
			cost += pl.s.costs.dataOp
		}
		if pl.fit(1, cost) {
			set(piece, ts[lo:i])
			lo, inOp = i, 0
			piece = pl.curPiece()
			cost = sz + pl.s.costs.dataOp
		}
		pl.take(1, cost)
		inOp++
	}
	set(piece, ts[lo:])
	return nil
}

// patch plans one consolidated patch, in the builder's order.
func (pl *planner) patch(p *rdfdiff.ConsolidatedPatch) error {
	pl.piece = nil // a new piece, possibly in the current request
	s := pl.s
	if err := pl.triples(p.Removed, func(q *rdfdiff.ConsolidatedPatch, ts []rdfdiff.Triple) { q.Removed = ts }); err != nil {
		return err
	}
	if err := pl.triples(p.Added, func(q *rdfdiff.ConsolidatedPatch, ts []rdfdiff.Triple) { q.Added = ts }); err != nil {
		return err
	}
	if err := pl.triples(p.LinkedShared, func(q *rdfdiff.ConsolidatedPatch, ts []rdfdiff.Triple) { q.LinkedShared = ts }); err != nil {
		return err
	}
	if s.b.lagSubject != "" && !p.AvgEventTime.IsZero() {
		pl.fit(1, s.costs.lag)
		pl.take(1, s.costs.lag)
		pl.curPiece().AvgEventTime = p.AvgEventTime
	}
	if ids := p.DeletedEntities; len(ids) > 0 {
		piece := pl.curPiece()
		lo := 0
		for i, id := range ids {
			cost := s.perDeleteID(id)
			if i == lo {
				cost += s.costs.deleteFrame
			}
			if pl.fit(rdfdiff.TriplesPerDelete, cost) {
				piece.DeletedEntities = ids[lo:i]
				lo = i
				piece = pl.curPiece()
				cost = s.perDeleteID(id) + s.costs.deleteFrame
			}
			pl.take(rdfdiff.TriplesPerDelete, cost)
		}
		piece.DeletedEntities = ids[lo:]
	}
	if recs := p.Reconciliations; len(recs) > 0 {
		piece := pl.curPiece()
		lo := 0
		for i := range recs {
			r := &recs[i]
			cost := s.costs.deleteFrame + s.perDeleteID(r.EntityID) + s.costs.subjectFrame + s.costs.dataOp
			for j, tr := range r.Triples {
				sz, err := pl.tripleSize(tr)
				if err != nil {
					return err
				}
				cost += sz + termBytes(tr.S)
				if md := s.b.maxData; md > 0 && j > 0 && j%md == 0 {
					cost += s.costs.dataOp
				}
			}
			t := max(len(r.Triples), 1)
			if t > pl.maxT || cost > pl.maxB {
				// Larger than any request: split it over several.
				piece.Reconciliations = recs[lo:i]
				if err := pl.bigReconciliation(r); err != nil {
					return err
				}
				lo = i + 1
				piece = pl.curPiece()
				continue
			}
			if pl.fit(t, cost) {
				piece.Reconciliations = recs[lo:i]
				lo = i
				piece = pl.curPiece()
			}
			pl.take(t, cost)
		}
		piece.Reconciliations = recs[lo:]
	}
	return nil
}

// bigReconciliation plans a reconciliation larger than a request as the
// same operations, in the same order, over several requests: the
// entity-delete templates, then the clearing of every subject of the new
// list, in slices, then INSERT DATA of the list, in slices. Virtuoso cannot
// take one request of more than about 3 000 triples however it is split into
// operations, and a reconciled Wikidata item can have tens of thousands; the
// price is a window in which the entity is partly written (at-least-once,
// like every multi-request checkpoint).
func (pl *planner) bigReconciliation(r *rdfdiff.Reconciliation) error {
	s := pl.s
	cost := s.costs.deleteFrame + s.perDeleteID(r.EntityID)
	pl.fit(1, cost)
	pl.curPiece().Reconciliations = []rdfdiff.Reconciliation{{EntityID: r.EntityID, Revision: r.Revision}}
	pl.take(1, cost)
	pl.piece = nil
	// Clearing: one unit of weight per subject (the list is sorted, so a
	// subject's triples are adjacent).
	err := pl.run(r.Triples, func(j int) (int, int, error) {
		sz := termBytes(r.Triples[j].S) + 1
		if j > 0 && r.Triples[j-1].S == r.Triples[j].S {
			return 0, 0, nil
		}
		return 1, sz, nil
	}, s.costs.subjectFrame, func(ts []rdfdiff.Triple) requestPiece { return requestPiece{clear: ts} })
	if err != nil {
		return err
	}
	md := s.b.maxData
	err = pl.run(r.Triples, func(j int) (int, int, error) {
		sz, err := pl.tripleSize(r.Triples[j])
		if md > 0 && j > 0 && j%md == 0 {
			sz += s.costs.dataOp
		}
		return 1, sz, err
	}, s.costs.dataOp, func(ts []rdfdiff.Triple) requestPiece { return requestPiece{insert: ts} })
	pl.piece = nil
	return err
}

// run plans ts as consecutive pieces made by mk, starting a new request
// whenever the next triple would overflow the current one; cost gives each
// triple's weight and bytes, frame the bytes of a piece's own text.
func (pl *planner) run(ts []rdfdiff.Triple, cost func(j int) (int, int, error), frame int,
	mk func([]rdfdiff.Triple) requestPiece) error {
	if len(ts) == 0 {
		return nil
	}
	lo := 0
	for j := range ts {
		t, b, err := cost(j)
		if err != nil {
			return err
		}
		if j == lo {
			b += frame
		}
		if pl.full(t, b) {
			if j > lo {
				pl.cur.pieces = append(pl.cur.pieces, mk(ts[lo:j]))
				b += frame
			}
			pl.newRequest()
			lo = j
		}
		pl.take(t, b)
	}
	pl.cur.pieces = append(pl.cur.pieces, mk(ts[lo:]))
	pl.piece = nil
	return nil
}

// commitRun is one Commit call: its counters and the requests it sends.
type commitRun struct {
	s         *SPARQL
	cp        *streamkit.CommitPoint
	cpTriples int
	cpBytes   int
	requests  int
	triples   int
	bytes     int
	rejected  int
	refused   []string // entity IDs of the rejected changes
	mutations int64
}

// requestWeight is what patches count against BatchLimits.MaxTriples, and
// a guess of their size in bytes (to size the request buffer).
func (r *commitRun) requestWeight(patches []*rdfdiff.ConsolidatedPatch) (weight, size int) {
	add := func(ts []rdfdiff.Triple) {
		weight += len(ts)
		for _, tr := range ts {
			size += termBytes(tr.S) + termBytes(tr.P) + termBytes(tr.O)
		}
	}
	for _, p := range patches {
		add(p.Removed)
		add(p.Added)
		add(p.LinkedShared)
		weight += rdfdiff.TriplesPerDelete * len(p.DeletedEntities)
		size += len(p.DeletedEntities) * (r.s.costs.deleteFrame/4 + 64)
		for _, rec := range p.Reconciliations {
			add(rec.Triples)
			weight += max(1-len(rec.Triples), 0)
			size += r.s.costs.deleteFrame
		}
		if r.s.b.lagSubject != "" && !p.AvgEventTime.IsZero() {
			weight++
			size += r.s.costs.lag
		}
	}
	return weight, size
}

// plan cuts patches into requests, leaving room in each for the commit
// point, which the last one carries when cp is not nil. When everything fits
// one request by triples, it builds that request at once and only plans
// triple by triple if its bytes are over the limit: the common case costs one
// serialization. It fails only for a term that cannot be written
// (ErrUnsafeTerm).
func (r *commitRun) plan(patches []*rdfdiff.ConsolidatedPatch, cp *streamkit.CommitPoint) ([]*plannedRequest, error) {
	if w, size := r.requestWeight(patches); w+r.cpTriples <= r.s.limits.MaxTriples {
		q := &plannedRequest{triples: w, bytes: size}
		for _, p := range patches {
			q.pieces = append(q.pieces, requestPiece{patch: p})
		}
		body, err := r.build(q, cp)
		if err != nil {
			return nil, err
		}
		if len(body) <= r.s.limits.MaxBytes {
			if w == 0 && len(body) == 0 {
				return nil, nil
			}
			q.body, q.bytes = body, len(body)
			return []*plannedRequest{q}, nil
		}
	}
	pl := &planner{
		s:    r.s,
		maxT: max(r.s.limits.MaxTriples-r.cpTriples, 1),
		maxB: max(r.s.limits.MaxBytes-r.cpBytes, 1),
	}
	pl.newRequest()
	for _, p := range patches {
		if err := pl.patch(p); err != nil {
			return nil, err
		}
	}
	reqs := pl.reqs
	if last := reqs[len(reqs)-1]; last.triples == 0 && last.bytes == 0 {
		reqs = reqs[:len(reqs)-1]
	}
	for i, q := range reqs {
		if q.triples > pl.maxT || q.bytes > pl.maxB {
			r.s.log.Warn("sparql: one change is larger than the SPARQL request limits; sending it alone in an oversized request",
				"request", i+1, "triples", q.triples, "bytes", q.bytes, "max_triples", r.s.limits.MaxTriples, "max_bytes", r.s.limits.MaxBytes)
		}
	}
	return reqs, nil
}

// build writes the text of one request, with cp (may be nil) at the end.
func (r *commitRun) build(q *plannedRequest, cp *streamkit.CommitPoint) ([]byte, error) {
	b := r.s.b
	buf := make([]byte, 0, q.bytes+r.cpBytes+64)
	for _, pc := range q.pieces {
		if pc.patch == nil {
			w := &updateWriter{buf: buf, maxData: b.maxData, maxIRI: b.maxIRI, wellTypedBool: b.wellTypedBool, bcp47: b.bcp47}
			if len(buf) > 0 {
				w.ops = 1
			}
			var err error
			if len(pc.clear) > 0 {
				err = b.deleteSubjects(w, pc.clear)
			} else {
				err = w.data("INSERT DATA", b.graph, pc.insert)
			}
			if err != nil {
				return nil, err
			}
			buf = w.buf
			continue
		}
		n := len(buf)
		if n > 0 {
			buf = append(buf, ";\n"...)
		}
		out, err := b.AppendUpdate(buf, pc.patch, nil)
		if err != nil {
			return nil, err
		}
		if n > 0 && len(out) == n+2 {
			out = out[:n] // the piece wrote nothing
		}
		buf = out
	}
	if cp != nil {
		w := &updateWriter{buf: buf, maxData: b.maxData, maxIRI: b.maxIRI, wellTypedBool: b.wellTypedBool, bcp47: b.bcp47}
		if len(buf) > 0 {
			w.ops = 1
		}
		if err := b.appendPartitionCommit(w, cp); err != nil {
			return nil, err
		}
		marked, cleared := r.markedAndCleared()
		if err := b.appendResync(w, cp, marked, cleared); err != nil {
			return nil, err
		}
		buf = w.buf
	}
	return buf, nil
}

// requestError is a request the store (or the builder) refused, with its
// text, for the RejectedHandler.
type requestError struct {
	update []byte
	index  int
	of     int
	err    error
}

func (e *requestError) Error() string {
	return fmt.Sprintf("request %d of %d (%d bytes): %v", e.index+1, e.of, len(e.update), e.err)
}

func (e *requestError) Unwrap() error { return e.err }

// send sends reqs in order, cp with the last; with no requests and a commit
// point that has positions, it sends the commit point alone.
func (r *commitRun) send(ctx context.Context, reqs []*plannedRequest, cp *streamkit.CommitPoint) error {
	s := r.s
	if len(reqs) == 0 {
		if cp == nil || len(cp.Positions) == 0 {
			return nil
		}
		reqs = []*plannedRequest{{}}
	}
	for i, q := range reqs {
		var c *streamkit.CommitPoint
		if i == len(reqs)-1 {
			c = cp
		}
		body := q.body
		if body == nil {
			var err error
			if body, err = r.build(q, c); err != nil {
				return err
			}
		}
		if len(body) == 0 {
			continue
		}
		resp, err := s.store.UpdateResponse(ctx, string(body))
		if err != nil {
			s.stats.failedRequests.Add(1)
			var se *StoreError
			if errors.As(err, &se) && se.Attempts > 1 {
				s.stats.retries.Add(int64(se.Attempts - 1))
			}
			return &requestError{update: body, index: i, of: len(reqs), err: err}
		}
		r.requests++
		r.triples += q.triples
		r.bytes += len(body)
		s.stats.requests.Add(1)
		s.stats.triples.Add(int64(q.triples))
		s.stats.bytes.Add(int64(len(body)))
		if resp.Attempts > 1 {
			s.stats.retries.Add(int64(resp.Attempts - 1))
		}
		if s.dialect == DialectBlazegraph {
			bu, perr := ParseBlazegraphUpdate(resp.Body)
			if perr != nil {
				s.stats.unparsed.Add(1)
				s.log.Debug("sparql: no mutation count in Blazegraph's answer", "error", perr)
			} else {
				r.mutations += bu.MutationCount
				s.stats.mutations.Add(bu.MutationCount)
			}
		}
	}
	return nil
}

// rejectable reports whether err says that the data is wrong, so that
// bisecting it can isolate a culprit: an unsafe term, or a 4xx answer other
// than those that say the store or its configuration is wrong.
func rejectable(err error) bool {
	if errors.Is(err, ErrUnsafeTerm) {
		return true
	}
	var se *StoreError
	if !errors.As(err, &se) || se.StatusCode < 400 || se.StatusCode >= 500 {
		return false
	}
	switch se.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusProxyAuthRequired, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return true
}

// commit sends the open checkpoint; see SPARQL.Commit.
func (r *commitRun) commit(ctx context.Context) error {
	s := r.s
	r.cpTriples = 5 * len(r.cp.Positions)
	w := &updateWriter{maxData: s.b.maxData, maxIRI: s.b.maxIRI, wellTypedBool: s.b.wellTypedBool}
	if err := s.b.appendPartitionCommit(w, r.cp); err != nil {
		return err
	}
	r.cpBytes = len(w.buf) + len(";\n")

	patches := make([]*rdfdiff.ConsolidatedPatch, len(s.segments))
	for i, seg := range s.segments {
		patches[i] = seg.acc.Result()
	}
	reqs, err := r.plan(patches, r.cp)
	if err == nil {
		if len(reqs) > 1 {
			s.log.Warn("sparql: SPARQL checkpoint needs several requests; only the last carries the commit point, "+
				"so a crash between them re-applies an idempotent prefix (AT-LEAST-ONCE for this checkpoint)",
				"checkpoint", r.cp.CheckpointID, "requests", len(reqs), "segments", len(s.segments), "changes", s.pending)
		}
		err = r.send(ctx, reqs, r.cp)
	}
	if err == nil || !rejectable(err) {
		return err
	}
	if s.rejected == nil {
		return fmt.Errorf("%w (no RejectedHandler to take the culprit): %w", ErrChangeRejected, err)
	}
	s.log.Warn("sparql: SPARQL store rejected a request; bisecting the checkpoint's changes to isolate the culprit "+
		"(AT-LEAST-ONCE for this checkpoint: what was applied is applied again)",
		"checkpoint", r.cp.CheckpointID, "changes", s.pending, "error", err)
	for i, seg := range s.segments {
		if err := r.bisect(ctx, seg.changes, seg.origins, i == len(s.segments)-1); err != nil {
			return err
		}
	}
	if len(s.segments) == 0 {
		return r.send(ctx, nil, r.cp)
	}
	return nil
}

// bisect applies changes, in order, handing each change the store rejects
// on its own to the RejectedHandler; the commit point goes with the last
// request when last is true.
func (r *commitRun) bisect(ctx context.Context, changes []*rdfdiff.EntityChange, origins [][]any, last bool) error {
	s := r.s
	var cp *streamkit.CommitPoint
	if last {
		cp = r.cp
	}
	acc := rdfdiff.NewAccumulator(s.accOpts...)
	for _, c := range changes {
		if err := acc.Accumulate(c); err != nil {
			// A run of changes that merged once merges again; this is a bug.
			return fmt.Errorf("sparql: re-merging %d changes to bisect them: %w", len(changes), err)
		}
	}
	reqs, err := r.plan([]*rdfdiff.ConsolidatedPatch{acc.Result()}, cp)
	if err == nil {
		err = r.send(ctx, reqs, cp)
	}
	if err == nil || !rejectable(err) {
		return err
	}
	if len(changes) > 1 {
		s.stats.bisections.Add(1)
		mid := len(changes) / 2
		if err := r.bisect(ctx, changes[:mid], origins[:mid], false); err != nil {
			return err
		}
		return r.bisect(ctx, changes[mid:], origins[mid:], last)
	}
	if perr := r.probe(ctx); perr != nil {
		return fmt.Errorf("sparql: the store rejected %s revision %d (%w), but also a no-op update (%w): "+
			"it is not the change's fault, so it is not dead-lettered", changes[0].EntityID, changes[0].Revision, err, perr)
	}
	c := changes[0]
	rc := &RejectedChange{EntityID: c.EntityID, Revision: c.Revision, Operation: c.Operation, Change: c, Origins: origins[0], Err: err}
	var re *requestError
	if errors.As(err, &re) {
		rc.Update, rc.Err = re.update, re.err
	}
	s.log.Warn("sparql: SPARQL store rejected a change; handing it to the rejected handler",
		"entity", c.EntityID, "revision", c.Revision, "operation", string(c.Operation), "error", rc.Err)
	if err := s.rejected.Rejected(ctx, rc); err != nil {
		return fmt.Errorf("sparql: rejected-change handler for %s revision %d: %w", c.EntityID, c.Revision, err)
	}
	r.rejected++
	r.refused = append(r.refused, c.EntityID)
	s.stats.rejectedChanges.Add(1)
	if last {
		return r.send(ctx, nil, cp)
	}
	return nil
}

// probe sends an update that any healthy store accepts and that changes
// nothing (DELETE DATA of a triple that never exists, in the commit graph),
// before a change is dead-lettered: a store that answers 400 to everything
// (the Oxigraph shim answers 400 to any exception, even one of its own)
// must fail the commit, not dead-letter the whole checkpoint.
func (r *commitRun) probe(ctx context.Context) error {
	b := r.s.b
	node := rdfdiff.NewIRI(b.commitNS + "probe")
	w := &updateWriter{}
	if err := w.data("DELETE DATA", b.commitGraph, []rdfdiff.Triple{{S: node, P: node, O: node}}); err != nil {
		return err
	}
	_, err := r.s.store.UpdateResponse(ctx, string(w.buf))
	return err
}
