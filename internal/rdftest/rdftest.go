// Package rdftest holds the RDF test helpers that the store packages' tests
// share: fixture loading, canonical N-Triples, and entity changes built the
// way the WDQS producer builds them. It is for tests only.
package rdftest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// WD is Wikidata's URI scheme.
var WD = rdfdiff.WikidataScheme()

// Well-known predicates of the WDQS data model.
var (
	SchemaAbout   = IRI("http://schema.org/about")
	SchemaVersion = IRI("http://schema.org/version")
	WikiGroup     = IRI("http://wikiba.se/ontology#wikiGroup")
	ProvDerived   = IRI("http://www.w3.org/ns/prov#wasDerivedFrom")
	RDFType       = IRI("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
)

// IRI returns an IRI term.
func IRI(s string) rdfdiff.Term { return rdfdiff.NewIRI(s) }

// Lit returns a plain literal.
func Lit(s string) rdfdiff.Term { return rdfdiff.NewLiteral(s) }

// Tri returns a triple.
func Tri(s, p, o rdfdiff.Term) rdfdiff.Triple { return rdfdiff.Triple{S: s, P: p, O: o} }

// Ex returns an IRI in a test namespace.
func Ex(local string) rdfdiff.Term { return IRI("http://example.org/" + local) }

// File reads testdata/<dir>/<name> of the calling package.
func File(t testing.TB, dir, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", dir, name))
	require.NoError(t, err)
	return data
}

// Turtle parses testdata/<dir>/<name> (Turtle).
func Turtle(t testing.TB, dir, name string) []rdfdiff.Triple {
	t.Helper()
	ts, err := rdfdiff.ParseTurtleBytes(File(t, dir, name), rdfdiff.WithFileName(name))
	require.NoError(t, err)
	return ts
}

// NTriples renders ts as sorted, duplicate-free N-Triples, the form the
// stores' dumps take.
func NTriples(t testing.TB, ts []rdfdiff.Triple) string {
	t.Helper()
	ts = append([]rdfdiff.Triple(nil), ts...)
	rdfdiff.SortTriples(ts)
	ts = Dedup(ts)
	var b bytes.Buffer
	require.NoError(t, rdfdiff.WriteNTriples(&b, ts))
	return b.String()
}

// Dedup drops adjacent duplicates of sorted ts in place.
func Dedup(ts []rdfdiff.Triple) []rdfdiff.Triple {
	out := ts[:0]
	for i, tr := range ts {
		if i == 0 || tr != ts[i-1] {
			out = append(out, tr)
		}
	}
	return out
}

// Batch accumulates changes into one ConsolidatedPatch.
func Batch(t testing.TB, changes ...*rdfdiff.EntityChange) *rdfdiff.ConsolidatedPatch {
	t.Helper()
	acc := rdfdiff.NewAccumulator()
	for _, c := range changes {
		require.NoError(t, acc.Accumulate(c))
	}
	return acc.Result()
}

// Import is the import of entity id at rev with triples ts.
func Import(id string, rev int64, ts []rdfdiff.Triple) *rdfdiff.EntityChange {
	return &rdfdiff.EntityChange{EntityID: id, Revision: rev, Operation: rdfdiff.OpImport,
		Patch: rdfdiff.Diff(nil, ts, rdfdiff.WikibaseShared(WD))}
}

// Diff is the diff of entity id from old to new at rev.
func Diff(id string, rev int64, old, new []rdfdiff.Triple) *rdfdiff.EntityChange {
	return &rdfdiff.EntityChange{EntityID: id, Revision: rev, Operation: rdfdiff.OpDiff,
		Patch: rdfdiff.Diff(old, new, rdfdiff.WikibaseShared(WD))}
}

// Reconcile is the reconciliation of entity id to ts at rev.
func Reconcile(id string, rev int64, ts []rdfdiff.Triple) *rdfdiff.EntityChange {
	return &rdfdiff.EntityChange{EntityID: id, Revision: rev, Operation: rdfdiff.OpReconcile,
		Patch: rdfdiff.Diff(nil, ts, rdfdiff.WikibaseShared(WD))}
}

// Delete is the deletion of entity id.
func Delete(id string) *rdfdiff.EntityChange {
	return &rdfdiff.EntityChange{EntityID: id, Operation: rdfdiff.OpDelete}
}

// Q42Import returns the import of the real munged Q42 (testdata/<dir>/Q42-munged.ttl)
// at revision rev as a logical change, and its rdf_change messages chunked at
// softMax characters.
func Q42Import(t testing.TB, dir string, rev int64, softMax int) (*rdfdiff.EntityChange, [][]byte) {
	t.Helper()
	ts := Turtle(t, dir, "Q42-munged.ttl")
	c := &rdfdiff.EntityChange{EntityID: "Q42", Revision: rev, Operation: rdfdiff.OpImport,
		EventTime: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), RequestID: "req-q42-" + strconv.FormatInt(rev, 10),
		Domain: "www.wikidata.org", Stream: "rdf-streaming-updater.mutation",
		Patch: rdfdiff.Diff(nil, ts, rdfdiff.WikibaseShared(WD))}
	return c, Encode(t, c, softMax)
}

// Encode chunks c as the WDQS producer does, with deterministic meta.
func Encode(t testing.TB, c *rdfdiff.EntityChange, softMax int) [][]byte {
	t.Helper()
	evs, err := rdfdiff.ChunkChange(*c, rdfdiff.WithSoftMaxChars(softMax), rdfdiff.WithMeta(func(seq int, m *rdfdiff.EventMeta) {
		m.ID = fmt.Sprintf("%s-%d", c.RequestID, seq)
		m.DT = c.EventTime
	}))
	require.NoError(t, err)
	out := make([][]byte, len(evs))
	for i, ev := range evs {
		out[i], err = ev.AppendJSON(nil)
		require.NoError(t, err)
	}
	return out
}

// DecodeAll decodes and reassembles single-chunk rdf_change messages.
func DecodeAll(t testing.TB, msgs ...[]byte) []*rdfdiff.EntityChange {
	t.Helper()
	re := rdfdiff.NewReassembler()
	var out []*rdfdiff.EntityChange
	for _, m := range msgs {
		ev, err := rdfdiff.DecodeEvent(m)
		require.NoError(t, err)
		c, err := re.Add(ev, nil)
		require.NoError(t, err)
		require.NotNil(t, c)
		out = append(out, c)
	}
	return out
}

// Lexeme predicates whose objects belong to the lexeme.
var (
	LexicalForm = IRI("http://www.w3.org/ns/lemon/ontolex#lexicalForm")
	Sense       = IRI("http://www.w3.org/ns/lemon/ontolex#sense")
)

// Prune drops, until none is left, the triples of subjects for which
// dependent is true and that no other subject's triple links to.
func Prune(ts []rdfdiff.Triple, dependent func(rdfdiff.Term) bool) []rdfdiff.Triple {
	for {
		linked := map[rdfdiff.Term]bool{}
		for _, tr := range ts {
			if tr.S != tr.O {
				linked[tr.O] = true
			}
		}
		out := ts[:0:0]
		for _, tr := range ts {
			if dependent(tr.S) && !linked[tr.S] {
				continue
			}
			out = append(out, tr)
		}
		if len(out) == len(ts) {
			return ts
		}
		ts = out
	}
}
