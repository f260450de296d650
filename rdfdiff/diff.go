package rdfdiff

import (
	"errors"
	"slices"
	"strings"
)

// SharedPredicate decides which triples describe nodes that several entities
// may share (value and reference nodes, site declarations). Diff files added
// shared triples under Patch.LinkedShared and removed ones under
// Patch.UnlinkedShared, so that a store inserts them idempotently and never
// deletes what another entity still uses. Implementations must be pure and
// safe for concurrent use.
type SharedPredicate interface {
	IsShared(tr Triple) bool
}

// SharedFunc adapts a function to SharedPredicate.
type SharedFunc func(tr Triple) bool

// IsShared calls f(tr).
func (f SharedFunc) IsShared(tr Triple) bool { return f(tr) }

// WikibaseShared returns the WDQS shared predicate for scheme
// (EntityDiff.withWikibaseSharedElements): a triple is shared when its
// subject is in the value or the reference namespace, or its predicate is
// wikibase:wikiGroup. Links *to* shared nodes (wds:… prov:wasDerivedFrom
// wdref:…) are not shared: they belong to the statement.
func WikibaseShared(scheme URIScheme) SharedPredicate { return wikibaseShared{scheme: scheme} }

type wikibaseShared struct{ scheme URIScheme }

// IsShared implements SharedPredicate.
func (w wikibaseShared) IsShared(tr Triple) bool {
	return tr.P == wv.WikibaseWikiGroup || w.scheme.InValueNamespace(tr.S) || w.scheme.InReferenceNamespace(tr.S)
}

// Diff returns the patch that turns old into new, two revisions of one
// entity's munged RDF: the triples of new that old lacks are
// added, the triples of old that new lacks are removed, and each of the two
// sets is split by shared into the entity's own buckets (Added, Removed) and
// the shared ones (LinkedShared, UnlinkedShared). A nil shared shares
// nothing.
//
// Import and reconcile events carry Diff(nil, entity, shared): the whole
// entity as added and linked-shared triples.
//
// Inputs are sets: duplicates count once, order does not matter, and neither
// slice is modified. Every bucket of the result is sorted by Triple.Compare,
// so equal inputs give byte-identical events; an empty bucket is nil.
//
// When both inputs are sorted (as Munge returns them), Diff merges them in
// one pass without hashing; otherwise it uses hash sets.
func Diff(old, new []Triple, shared SharedPredicate) Patch {
	if slices.IsSortedFunc(old, Triple.Compare) && slices.IsSortedFunc(new, Triple.Compare) {
		return diffSorted(old, new, shared)
	}
	const inOld, inNew = 1, 2
	seen := make(map[Triple]uint8, len(old)+len(new)/8)
	for _, tr := range old {
		seen[tr] = inOld
	}
	var p Patch
	for _, tr := range new {
		f := seen[tr]
		if f&inNew != 0 {
			continue // duplicate in new
		}
		seen[tr] = f | inNew
		if f&inOld != 0 {
			continue
		}
		if shared != nil && shared.IsShared(tr) {
			p.LinkedShared = append(p.LinkedShared, tr)
		} else {
			p.Added = append(p.Added, tr)
		}
	}
	for _, tr := range old {
		if seen[tr] != inOld {
			continue
		}
		seen[tr] = inOld | inNew // report a duplicate in old once
		if shared != nil && shared.IsShared(tr) {
			p.UnlinkedShared = append(p.UnlinkedShared, tr)
		} else {
			p.Removed = append(p.Removed, tr)
		}
	}
	sortTriples(p.Added)
	sortTriples(p.Removed)
	sortTriples(p.LinkedShared)
	sortTriples(p.UnlinkedShared)
	return p
}

// diffSorted is Diff for two sorted inputs: a merge. The buckets come out
// sorted.
func diffSorted(old, new []Triple, shared SharedPredicate) Patch {
	var p Patch
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		var c int
		switch {
		case i == len(old):
			c = 1
		case j == len(new):
			c = -1
		default:
			c = old[i].Compare(new[j])
		}
		switch {
		case c == 0:
			tr := old[i]
			for i < len(old) && old[i] == tr {
				i++
			}
			for j < len(new) && new[j] == tr {
				j++
			}
		case c < 0:
			tr := old[i]
			for i < len(old) && old[i] == tr {
				i++
			}
			if shared != nil && shared.IsShared(tr) {
				p.UnlinkedShared = append(p.UnlinkedShared, tr)
			} else {
				p.Removed = append(p.Removed, tr)
			}
		default:
			tr := new[j]
			for j < len(new) && new[j] == tr {
				j++
			}
			if shared != nil && shared.IsShared(tr) {
				p.LinkedShared = append(p.LinkedShared, tr)
			} else {
				p.Added = append(p.Added, tr)
			}
		}
	}
	return p
}

func sortTriples(ts []Triple) { slices.SortFunc(ts, Triple.Compare) }

// Errors of ReclassifySitelinks, wrapped in a *SitelinkError.
var (
	// ErrSitelinkWithoutSite means a sitelink (a schema:Article) in the
	// patch has no schema:isPartOf naming its site.
	ErrSitelinkWithoutSite = errors.New("rdfdiff: sitelink has no schema:isPartOf")
	// ErrDuplicateSitelinkSite means two sitelinks among the added (or among
	// the removed) triples point at the same site; an entity has at most one
	// sitelink per site.
	ErrDuplicateSitelinkSite = errors.New("rdfdiff: two sitelinks point at the same site")
)

// SitelinkError reports a patch whose sitelinks cannot be reclassified,
// naming the article IRIs at fault. WDQS throws here and stops its
// consumer; ReclassifySitelinks returns this error
// instead, so the caller can dead-letter the one bad event and go on.
type SitelinkError struct {
	Article Term // the sitelink at fault
	Other   Term // for ErrDuplicateSitelinkSite, the other sitelink
	Site    Term // for ErrDuplicateSitelinkSite, the site both point at
	Removed bool // found among the removed triples (else among the added)
	Err     error
}

// Error returns e.g. `rdfdiff: sitelink <https://en.wikipedia.org/wiki/X>
// among added triples: has no schema:isPartOf`.
func (e *SitelinkError) Error() string {
	var b strings.Builder
	where := "added"
	if e.Removed {
		where = "removed"
	}
	if errors.Is(e.Err, ErrDuplicateSitelinkSite) {
		b.WriteString("rdfdiff: sitelinks ")
		b.WriteString(e.Article.String())
		b.WriteString(" and ")
		b.WriteString(e.Other.String())
		b.WriteString(" among " + where + " triples both point at site ")
		b.WriteString(e.Site.String())
		return b.String()
	}
	b.WriteString("rdfdiff: sitelink ")
	b.WriteString(e.Article.String())
	b.WriteString(" among " + where + " triples: ")
	if e.Err != nil {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "rdfdiff: sitelink "))
	}
	return b.String()
}

// Unwrap returns ErrSitelinkWithoutSite or ErrDuplicateSitelinkSite.
func (e *SitelinkError) Unwrap() error { return e.Err }

// ReclassifySitelinks moves sitelinks to the shared buckets, as the WDQS
// consumer does before applying a patch (SiteLinksReclassification). A sitelink
// block is every triple whose subject is typed schema:Article in the same
// bucket (<article> a schema:Article; schema:isPartOf <site>;
// schema:inLanguage; schema:name; wikibase:badge); all of it except the
// <article> schema:about <entity> link moves from Added to LinkedShared and
// from Removed to UnlinkedShared. Sitelinks can move between entities in a
// merge that the producer does not see, so the store must insert them
// idempotently and never delete them as the entity's own; the schema:about link
// stays the entity's.
//
// It returns p and a *SitelinkError when a sitelink in Added or Removed has
// no schema:isPartOf, or when two sitelinks in the same bucket point at the
// same site (a rename, one sitelink removed and one added on a site, is
// fine). p is never modified; the buckets of the result are sorted.
//
// Like WDQS, it only sees sitelink blocks whose rdf:type schema:Article
// triple is in the bucket: a change to one property of a sitelink that
// stays (a badge added) remains in Added or Removed.
func ReclassifySitelinks(p Patch) (Patch, error) {
	added, linked, err := moveSitelinks(p.Added, p.LinkedShared, false)
	if err != nil {
		return p, err
	}
	removed, unlinked, err := moveSitelinks(p.Removed, p.UnlinkedShared, true)
	if err != nil {
		return p, err
	}
	return Patch{Added: added, Removed: removed, LinkedShared: linked, UnlinkedShared: unlinked}, nil
}

// moveSitelinks moves the sitelink blocks of from (but their schema:about
// links) to shared. It returns the inputs unchanged when from holds no
// sitelink.
func moveSitelinks(from, shared []Triple, removed bool) (rest, sharedOut []Triple, err error) {
	var sites map[Term]Term // article → site
	for _, tr := range from {
		if tr.P == wv.RDFType && tr.O == wv.SchemaArticle {
			if sites == nil {
				sites = make(map[Term]Term)
			}
			sites[tr.S] = Term{}
		}
	}
	if sites == nil {
		return from, shared, nil
	}
	for _, tr := range from {
		if tr.P != wv.SchemaIsPartOf || !(tr.O.IsIRI() || tr.O.IsBlankNode()) {
			continue
		}
		if site, ok := sites[tr.S]; ok && site.IsZero() {
			sites[tr.S] = tr.O
		}
	}
	articles := make([]Term, 0, len(sites))
	for a := range sites {
		articles = append(articles, a)
	}
	slices.SortFunc(articles, Term.Compare)
	bySite := make(map[Term]Term, len(sites))
	for _, a := range articles {
		site := sites[a]
		if site.IsZero() {
			return nil, nil, &SitelinkError{Article: a, Removed: removed, Err: ErrSitelinkWithoutSite}
		}
		if prev, dup := bySite[site]; dup {
			return nil, nil, &SitelinkError{Article: prev, Other: a, Site: site, Removed: removed, Err: ErrDuplicateSitelinkSite}
		}
		bySite[site] = a
	}
	rest = make([]Triple, 0, len(from))
	sharedOut = slices.Clip(slices.Clone(shared))
	for _, tr := range from {
		if _, ok := sites[tr.S]; ok && !(tr.P == wv.SchemaAbout && (tr.O.IsIRI() || tr.O.IsBlankNode())) {
			sharedOut = append(sharedOut, tr)
		} else {
			rest = append(rest, tr)
		}
	}
	if len(rest) == 0 {
		rest = nil // as Diff leaves an empty bucket
	}
	sortTriples(rest)
	sortTriples(sharedOut)
	return rest, slices.Compact(sharedOut), nil
}
