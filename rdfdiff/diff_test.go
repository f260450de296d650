package rdfdiff

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWikibaseSharedClassifiesBySubjectAndWikiGroup(t *testing.T) {
	shared := WikibaseShared(WikidataScheme())
	st := mtI(mtStmt + "Q1-abc")
	cases := []struct {
		tr   Triple
		want bool
	}{
		{mtT(mtI(mtVal+"v1"), mtWB+"timeValue", mtDate("2020-01-01T00:00:00Z")), true},
		{mtT(mtI(mtRef+"r1"), mtProp+"reference/P248", mtI(mtWD+"Q2")), true},
		{mtT(mtI("https://en.wikipedia.org/"), mtWB+"wikiGroup", NewLiteral("wikipedia")), true},
		{mtT(st, "http://www.w3.org/ns/prov#wasDerivedFrom", mtI(mtRef+"r1")), false}, // link to a shared node
		{mtT(st, mtProp+"statement/value/P31", mtI(mtVal+"v1")), false},
		{mtT(mtI(mtWD+"Q1"), mtProp+"direct/P31", mtI(mtWD+"Q5")), false},
		{mtT(mtI(mtVal+"v1/extra"), mtWB+"timeValue", NewLiteral("x")), false}, // not in the namespace: holds a '/'
		{mtT(mtI("https://en.wikipedia.org/wiki/X"), mtSchema+"name", NewLangLiteral("X", "en")), false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, shared.IsShared(c.tr), "%s", c.tr)
	}
}

func TestDiffSplitsIntoFourSortedBuckets(t *testing.T) {
	q1 := mtI(mtWD + "Q1")
	keep := mtT(q1, mtProp+"direct/P31", mtI(mtWD+"Q5"))
	gone := mtT(q1, mtProp+"direct/P31", mtI(mtWD+"Q6"))
	newer := mtT(q1, mtSchema+"version", mtInt("2"))
	older := mtT(q1, mtSchema+"version", mtInt("1"))
	valOld := mtT(mtI(mtVal+"old"), mtWB+"timeValue", NewLiteral("a"))
	valNew := mtT(mtI(mtVal+"new"), mtWB+"timeValue", NewLiteral("b"))
	valBoth := mtT(mtI(mtVal+"both"), mtWB+"timeValue", NewLiteral("c"))
	groupNew := mtT(mtI("https://fi.wikipedia.org/"), mtWB+"wikiGroup", NewLiteral("wikipedia"))

	old := []Triple{valOld, older, keep, gone, valBoth, gone}
	new := []Triple{groupNew, valBoth, valNew, keep, newer, newer}
	oldCopy, newCopy := slices.Clone(old), slices.Clone(new)

	p := Diff(old, new, WikibaseShared(WikidataScheme()))
	assert.Equal(t, []Triple{older, gone}, p.Removed)
	assert.Equal(t, []Triple{newer}, p.Added)
	assert.Equal(t, []Triple{valNew, groupNew}, p.LinkedShared)
	assert.Equal(t, []Triple{valOld}, p.UnlinkedShared)
	for _, b := range [][]Triple{p.Added, p.Removed, p.LinkedShared, p.UnlinkedShared} {
		assert.True(t, slices.IsSortedFunc(b, Triple.Compare))
	}
	assert.Equal(t, oldCopy, old, "old not modified")
	assert.Equal(t, newCopy, new, "new not modified")

	// A nil predicate shares nothing.
	p = Diff(old, new, nil)
	assert.Equal(t, []Triple{older, gone, valOld}, p.Removed)
	assert.Empty(t, p.UnlinkedShared)
	assert.Empty(t, p.LinkedShared)

	// Import is Diff(nil, entity): everything added or linked.
	p = Diff(nil, new, WikibaseShared(WikidataScheme()))
	assert.Equal(t, []Triple{newer, keep}, p.Added)
	assert.Equal(t, []Triple{valBoth, valNew, groupNew}, p.LinkedShared)
	assert.Nil(t, p.Removed)
	assert.Nil(t, p.UnlinkedShared)

	assert.True(t, Diff(old, old, nil).IsEmpty())
	assert.True(t, Diff(nil, nil, nil).IsEmpty())

	// A custom predicate through SharedFunc.
	p = Diff(nil, []Triple{keep, newer}, SharedFunc(func(tr Triple) bool { return tr == keep }))
	assert.Equal(t, []Triple{keep}, p.LinkedShared)
	assert.Equal(t, []Triple{newer}, p.Added)
}

// applyPatch applies p to a set the way a store does, shared buckets included.
func applyPatch(set map[Triple]struct{}, p Patch) {
	for _, b := range [][]Triple{p.Removed, p.UnlinkedShared} {
		for _, tr := range b {
			delete(set, tr)
		}
	}
	for _, b := range [][]Triple{p.Added, p.LinkedShared} {
		for _, tr := range b {
			set[tr] = struct{}{}
		}
	}
}

func TestDiffAppliedToOldGivesNew(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	pool := make([]Triple, 60)
	for i := range pool {
		s := mtI(mtWD + "Q1")
		if i%3 == 0 {
			s = mtI(fmt.Sprintf("%sv%d", mtVal, i%7))
		}
		pool[i] = mtT(s, fmt.Sprintf("%sdirect/P%d", mtProp, i%5), NewLiteral(fmt.Sprint(i)))
	}
	pick := func() []Triple {
		var out []Triple
		for _, tr := range pool {
			if rng.IntN(3) > 0 {
				out = append(out, tr)
			}
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	shared := WikibaseShared(WikidataScheme())
	for range 200 {
		old, new := pick(), pick()
		p := Diff(old, new, shared)
		got := mtSet(old)
		applyPatch(got, p)
		require.Equal(t, mtSet(new), got)
		// Buckets are disjoint and every triple lands where the predicate says.
		for _, tr := range append(slices.Clone(p.Added), p.Removed...) {
			require.False(t, shared.IsShared(tr))
		}
		for _, tr := range append(slices.Clone(p.LinkedShared), p.UnlinkedShared...) {
			require.True(t, shared.IsShared(tr))
		}
		require.Equal(t, p, Diff(old, new, shared), "deterministic")
		// The merge path for sorted inputs gives the same patch.
		sortedOld, sortedNew := slices.Clone(old), slices.Clone(new)
		sortTriples(sortedOld)
		sortTriples(sortedNew)
		require.Equal(t, p, Diff(sortedOld, sortedNew, shared), "sorted inputs")
		require.Equal(t, p, Diff(append(sortedOld, sortedOld...), sortedNew, shared), "duplicates in unsorted old")
		sortedOld = append(sortedOld, sortedOld...)
		sortTriples(sortedOld)
		require.Equal(t, p, Diff(sortedOld, sortedNew, shared), "duplicates in sorted old")
	}
}

// TestSitelinkReclassificationGoldenDiff is WDQS's
// SiteLinksReclassificationUnitTest.test_with_wikidata_entities: munge both
// revisions as Q2 without skolemization, diff with the Wikibase shared
// predicate, reclassify, and compare the four buckets with the expected files
// as sets.
func TestSitelinkReclassificationGoldenDiff(t *testing.T) {
	const dir = "rdf-diff/sitelink-reclassification/"
	m := NewMunger(WikidataScheme(), MungeSkolemize(false))
	rev1, err := m.Munge("Q2", mungeFixture(t, dir+"sitelink_class_rev_1.ttl"))
	require.NoError(t, err)
	rev2, err := m.Munge("Q2", mungeFixture(t, dir+"sitelink_class_rev_2.ttl"))
	require.NoError(t, err)

	p, err := ReclassifySitelinks(Diff(rev1, rev2, WikibaseShared(WikidataScheme())))
	require.NoError(t, err)

	want := func(name string) []string {
		return mtStrings(mungeFixture(t, dir+"sitelink_class_diff_rev_1_2_"+name+".ttl"))
	}
	assert.Equal(t, want("added"), mtStrings(p.Added), "added")
	assert.Equal(t, want("removed"), mtStrings(p.Removed), "removed")
	assert.Equal(t, want("linkedshared"), mtStrings(p.LinkedShared), "linked shared")
	assert.Equal(t, want("unlinkedshared"), mtStrings(p.UnlinkedShared), "unlinked shared")
	assert.Len(t, p.Added, 4)
	assert.Len(t, p.LinkedShared, 11)
}

// mtSitelink is a full sitelink block of entity on site.
func mtSitelink(entity, article, site, lang string) []Triple {
	a := mtI(article)
	return []Triple{
		mtT(a, RDFType, mtI(mtSchema+"Article")),
		mtT(a, mtSchema+"about", mtI(mtWD+entity)),
		mtT(a, mtSchema+"inLanguage", NewLiteral(lang)),
		mtT(a, mtSchema+"isPartOf", mtI(site)),
		mtT(a, mtSchema+"name", NewLangLiteral("Q1", lang)),
	}
}

// without returns ts minus the triples equal to drop.
func without(ts []Triple, drop ...Triple) []Triple {
	return slices.DeleteFunc(slices.Clone(ts), func(tr Triple) bool { return slices.Contains(drop, tr) })
}

// TestReclassifySitelinksAddRenameDelete ports WDQS's test_add_rename_and_delete.
func TestReclassifySitelinksAddRenameDelete(t *testing.T) {
	typo := mtSitelink("Q1", "http://en.mysitelink.test/Q1_typo", "https://en.mysitelink.test/", "en")
	renamed := mtSitelink("Q1", "http://en.mysitelink.test/Q1", "https://en.mysitelink.test/", "en")
	added := mtSitelink("Q1", "http://de.mysitelink.test/Q1", "https://de.mysitelink.test/", "de")
	removed := mtSitelink("Q1", "http://ce.mysitelink.test/Q1", "https://ce.mysitelink.test/", "ce")
	other := func(s string) Triple { return mtT(mtI("uri:"+s), "uri:"+s, mtI("uri:"+s)) }

	in := Patch{
		Added:          append(append(slices.Clone(renamed), added...), other("added-1")),
		Removed:        append(append(slices.Clone(removed), typo...), other("removed-1")),
		LinkedShared:   []Triple{other("linked-1")},
		UnlinkedShared: []Triple{other("unlinked-1")},
	}
	inCopy := Patch{Added: slices.Clone(in.Added), Removed: slices.Clone(in.Removed),
		LinkedShared: slices.Clone(in.LinkedShared), UnlinkedShared: slices.Clone(in.UnlinkedShared)}

	got, err := ReclassifySitelinks(in)
	require.NoError(t, err)
	assert.Equal(t, inCopy, in, "input not modified")

	assert.Equal(t, mtStrings([]Triple{other("added-1"), renamed[1], added[1]}), mtStrings(got.Added))
	assert.Equal(t, mtStrings([]Triple{other("removed-1"), removed[1], typo[1]}), mtStrings(got.Removed))
	assert.Equal(t, mtStrings(append(append([]Triple{other("linked-1")}, without(renamed, renamed[1])...), without(added, added[1])...)), mtStrings(got.LinkedShared))
	assert.Equal(t, mtStrings(append(append([]Triple{other("unlinked-1")}, without(removed, removed[1])...), without(typo, typo[1])...)), mtStrings(got.UnlinkedShared))
	for _, b := range [][]Triple{got.Added, got.Removed, got.LinkedShared, got.UnlinkedShared} {
		assert.True(t, slices.IsSortedFunc(b, Triple.Compare))
	}

	// No sitelink: the patch comes back as it was.
	plain := Patch{Added: []Triple{other("a")}, Removed: []Triple{other("r")}}
	got, err = ReclassifySitelinks(plain)
	require.NoError(t, err)
	assert.Equal(t, plain, got)
}

func TestReclassifySitelinksErrors(t *testing.T) {
	const site = "http://en.sitelink.unittest.local/"
	link1, link2 := site+"Entity1", site+"Entity2"
	noPartOf := without(mtSitelink("Q1", link1, site, "en"), mtT(mtI(link1), mtSchema+"isPartOf", mtI(site)))
	literalPartOf := append(slices.Clone(noPartOf), mtT(mtI(link1), mtSchema+"isPartOf", NewLiteral(site)))
	twoOnOneSite := append(mtSitelink("Q1", link2, site, "en"), mtSitelink("Q1", link1, site, "en")...)

	cases := []struct {
		name    string
		triples []Triple
		want    error
		msg     string
	}{
		{"no isPartOf", noPartOf, ErrSitelinkWithoutSite, "sitelink <" + link1 + "> among %s triples: has no schema:isPartOf"},
		{"literal isPartOf", literalPartOf, ErrSitelinkWithoutSite, "sitelink <" + link1 + "> among %s triples: has no schema:isPartOf"},
		{"same site twice", twoOnOneSite, ErrDuplicateSitelinkSite, "sitelinks <" + link1 + "> and <" + link2 + "> among %s triples both point at site <" + site + ">"},
	}
	for _, c := range cases {
		for _, removed := range []bool{false, true} {
			p := Patch{Added: c.triples}
			where := "added"
			if removed {
				p = Patch{Removed: c.triples}
				where = "removed"
			}
			t.Run(c.name+" "+where, func(t *testing.T) {
				_, err := ReclassifySitelinks(p)
				require.ErrorIs(t, err, c.want)
				var se *SitelinkError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, mtI(link1), se.Article)
				assert.Equal(t, removed, se.Removed)
				assert.Equal(t, "rdfdiff: "+fmt.Sprintf(c.msg, where), err.Error())
			})
		}
	}

	// A sitelink in Added and one in Removed on the same site is a rename, not an error.
	p := Patch{Added: mtSitelink("Q1", link1, site, "en"), Removed: mtSitelink("Q1", link2, site, "en")}
	_, err := ReclassifySitelinks(p)
	assert.NoError(t, err)
}

// q42Revisions returns Q42 munged, and a copy of it in which about 3% of the
// statements changed value, one statement was removed and one added: a
// typical edit of a large item.
func q42Revisions(tb testing.TB) (old, new []Triple, size int64) {
	raw := mungeFixture(tb, "rdf-entities/raw/Q42.ttl")
	fi, err := os.Stat(filepath.Join("testdata", "rdf-entities/raw/Q42.ttl"))
	require.NoError(tb, err)
	m := NewMunger(WikidataScheme())
	old, err = m.Munge("Q42", raw)
	require.NoError(tb, err)
	sc := WikidataScheme()
	var statements []Term
	for _, tr := range old {
		if sc.InStatementNamespace(tr.S) && !slices.Contains(statements, tr.S) {
			statements = append(statements, tr.S)
		}
	}
	changed := map[Term]bool{}
	for i, st := range statements {
		if i%33 == 0 {
			changed[st] = true
		}
	}
	dropped := statements[len(statements)/2]
	for _, tr := range old {
		switch {
		case tr.S == dropped || tr.O == dropped:
			continue
		case changed[tr.S] && tr.P.HasPrefix(mtProp+"statement/"):
			tr.O = NewLiteral("edited " + tr.O.String())
		case tr.P == wv.SchemaVersion:
			tr.O = mtInt("1997465482")
		}
		new = append(new, tr)
	}
	st := mtI(mtStmt + "Q42-00000000-0000-0000-0000-000000000001")
	new = append(new,
		mtT(mtI(mtWD+"Q42"), mtProp+"P1", st),
		mtT(st, mtProp+"statement/P1", NewLiteral("new")),
		mtT(st, mtWB+"rank", mtI(mtWB+"NormalRank")),
		mtT(mtI(mtVal+"0000"), mtWB+"timeValue", mtDate("2024-01-01T00:00:00Z")),
	)
	sortTriples(new) // as Munge would return it
	return old, new, fi.Size()
}

func TestDiffQ42Edit(t *testing.T) {
	old, new, _ := q42Revisions(t)
	p := Diff(old, new, WikibaseShared(WikidataScheme()))
	assert.NotEmpty(t, p.Added)
	assert.NotEmpty(t, p.Removed)
	assert.Equal(t, []Triple{mtT(mtI(mtVal+"0000"), mtWB+"timeValue", mtDate("2024-01-01T00:00:00Z"))}, p.LinkedShared)
	got := mtSet(old)
	applyPatch(got, p)
	assert.Equal(t, mtSet(new), got)
	assert.Less(t, p.Len(), len(old)/10, "a small edit gives a small patch")
}

// BenchmarkDiffQ42 diffs two revisions of munged Q42 (about 3700 triples
// each, ~3% of the statements changed), with the Wikibase shared predicate.
// SetBytes is the size of the raw Q42 Turtle, so MB/s compares with
// BenchmarkMungeQ42.
//
// "munged" diffs the sorted sets Munge returns (the merge path); "unsorted"
// diffs the same triples shuffled (the hash-set path).
func BenchmarkDiffQ42(b *testing.B) {
	old, new, size := q42Revisions(b)
	shared := WikibaseShared(WikidataScheme())
	rng := rand.New(rand.NewPCG(3, 4))
	shuffledOld, shuffledNew := slices.Clone(old), slices.Clone(new)
	rng.Shuffle(len(shuffledOld), func(i, j int) { shuffledOld[i], shuffledOld[j] = shuffledOld[j], shuffledOld[i] })
	rng.Shuffle(len(shuffledNew), func(i, j int) { shuffledNew[i], shuffledNew[j] = shuffledNew[j], shuffledNew[i] })
	for _, bc := range []struct {
		name     string
		old, new []Triple
	}{{"munged", old, new}, {"unsorted", shuffledOld, shuffledNew}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			var p Patch
			for b.Loop() {
				p = Diff(bc.old, bc.new, shared)
			}
			b.ReportMetric(float64(len(bc.old)+len(bc.new)), "triples-in/op")
			b.ReportMetric(float64(p.Len()), "triples-out/op")
		})
	}
}

// A badge added to a sitelink that stays is no sitelink block in Added (its
// schema:Article type did not change), so it stays the entity's own, as in
// WDQS.
func TestReclassifySitelinksLeavesPartialSitelinkChanges(t *testing.T) {
	badge := mtT(mtI("https://en.wikipedia.org/wiki/One"), mtWB+"badge", mtI(mtWD+"Q17437796"))
	got, err := ReclassifySitelinks(Patch{Added: []Triple{badge}})
	require.NoError(t, err)
	assert.Equal(t, Patch{Added: []Triple{badge}}, got)
}
