package rdfdiff_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// q42Revisions returns the raw Special:EntityData Turtle of Q42 (revision
// 1997465481, the WDQS fixture) and a next revision made from it by a
// typical edit: new version and modification time, a changed label, a
// changed description and a removed sitelink.
func q42Revisions(tb testing.TB) (rev1, rev2 []byte) {
	tb.Helper()
	rev1, err := os.ReadFile("testdata/rdf-entities/raw/Q42.ttl")
	require.NoError(tb, err)
	rev2 = rev1
	for _, r := range []struct{ old, new string }{
		{`schema:version "1997465481"^^xsd:integer`, `schema:version "1997465482"^^xsd:integer`},
		{`schema:dateModified "2023-10-26T05:30:17Z"^^xsd:dateTime ;
	wikibase:statements`, `schema:dateModified "2023-10-27T08:00:00Z"^^xsd:dateTime ;
	wikibase:statements`},
		{`rdfs:label "Douglas Adams"@fr ;`, `rdfs:label "Douglas Noël Adams"@fr ;`},
		{`<https://af.wikipedia.org/wiki/Douglas_Adams> a schema:Article ;
	schema:about wd:Q42 ;
	schema:inLanguage "af" ;
	schema:isPartOf <https://af.wikipedia.org/> ;
	schema:name "Douglas Adams"@af .

<https://af.wikipedia.org/> wikibase:wikiGroup "wikipedia" .
`, ``},
	} {
		require.Equal(tb, 1, bytes.Count(rev2, []byte(r.old)), "edit %q", r.old)
		rev2 = bytes.Replace(rev2, []byte(r.old), []byte(r.new), 1)
	}
	return rev1, rev2
}

// BenchmarkQ42MungeDiffChunk is the producer's work for one edit of a large
// item: munge two revisions of Q42 (with skolemization, as in production),
// diff them into the four buckets and chunk the patch into rdf_change v2
// messages. "parsed" starts from parsed triples; "turtle" also parses the
// two documents, as the producer does after fetching them. The bytes are the
// size of the two Turtle documents.
func BenchmarkQ42MungeDiffChunk(b *testing.B) {
	rev1, rev2 := q42Revisions(b)
	scheme := rdfdiff.WikidataScheme()
	munger := rdfdiff.NewMunger(scheme)
	shared := rdfdiff.WikibaseShared(scheme)
	parse := func(doc []byte) []rdfdiff.Triple {
		ts, err := rdfdiff.ParseTurtleBytes(doc)
		if err != nil {
			b.Fatal(err)
		}
		return ts
	}
	pipeline := func(raw1, raw2 []rdfdiff.Triple) int {
		old, err := munger.MungeEntity("Q42", raw1)
		if err != nil {
			b.Fatal(err)
		}
		cur, err := munger.MungeEntity("Q42", raw2)
		if err != nil {
			b.Fatal(err)
		}
		events, err := rdfdiff.ChunkChange(rdfdiff.EntityChange{
			EntityID: "Q42", Revision: cur.Revision, Operation: rdfdiff.OpDiff, EventTime: cur.LastModified,
			RequestID: "bench", Domain: "www.wikidata.org", Stream: "rdf-streaming-updater.mutation",
			Patch: rdfdiff.Diff(old.Triples, cur.Triples, shared),
		})
		if err != nil {
			b.Fatal(err)
		}
		return len(events)
	}

	raw1, raw2 := parse(rev1), parse(rev2)
	if n := pipeline(raw1, raw2); n != 1 {
		b.Fatalf("the edit gives %d events, want 1", n)
	}
	b.Run("parsed", func(b *testing.B) {
		b.SetBytes(int64(len(rev1) + len(rev2)))
		b.ReportAllocs()
		for b.Loop() {
			pipeline(raw1, raw2)
		}
		b.ReportMetric(float64(len(raw1)+len(raw2)), "triples/op")
	})
	b.Run("turtle", func(b *testing.B) {
		b.SetBytes(int64(len(rev1) + len(rev2)))
		b.ReportAllocs()
		for b.Loop() {
			pipeline(parse(rev1), parse(rev2))
		}
	})
}

// The benchmark's edit must be a real, small diff; this keeps it honest.
func TestQ42BenchmarkEdit(t *testing.T) {
	rev1, rev2 := q42Revisions(t)
	scheme := rdfdiff.WikidataScheme()
	m := rdfdiff.NewMunger(scheme)
	t1, err := rdfdiff.ParseTurtleBytes(rev1)
	require.NoError(t, err)
	t2, err := rdfdiff.ParseTurtleBytes(rev2)
	require.NoError(t, err)
	old, err := m.MungeEntity("Q42", t1)
	require.NoError(t, err)
	cur, err := m.MungeEntity("Q42", t2)
	require.NoError(t, err)
	require.Equal(t, int64(1997465482), cur.Revision)
	p := rdfdiff.Diff(old.Triples, cur.Triples, rdfdiff.WikibaseShared(scheme))
	// version, dateModified and the label change; the sitelink's five
	// triples are removed and its site's wikiGroup is unlinked.
	require.Len(t, p.Added, 3)
	require.Len(t, p.Removed, 3+5)
	require.Empty(t, p.LinkedShared)
	require.Len(t, p.UnlinkedShared, 1)
}
