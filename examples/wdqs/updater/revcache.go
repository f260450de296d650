package updater

import (
	"container/list"
	"sync"
	"unsafe"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// revisionCache holds the munged triples of the revisions fetched last, so
// that a diff whose old revision is the one the entity's previous edit
// fetched as its new revision neither fetches, parses nor munges it again.
// A revision's content never changes, so an entry never goes stale; only
// successful fetches are added (a 404, a deleted or suppressed revision is
// not an answer to keep). It is bounded by an estimate of the entries'
// bytes, evicting the least recently used. The triples it returns are
// shared by every caller and must not be modified (Diff and the subgraph
// fan-out only read them). Safe for concurrent use.
type revisionCache struct {
	mu      sync.Mutex
	max     int64
	size    int64
	entries map[revKey]*list.Element
	lru     list.List // of *revEntry, most recently used first
}

type revKey struct {
	id  string
	rev int64
}

type revEntry struct {
	key     revKey
	triples []rdfdiff.Triple
	size    int64
}

// newRevisionCache returns a cache of at most maxBytes; nil (no cache) when
// maxBytes is not positive.
func newRevisionCache(maxBytes int64) *revisionCache {
	if maxBytes <= 0 {
		return nil
	}
	return &revisionCache{max: maxBytes, entries: map[revKey]*list.Element{}}
}

// triplesSize estimates the memory of munged triples: 48 bytes a triple
// and the bytes of each distinct term string. The parser interns terms, so
// a document's repeated subjects, predicates and objects share one string;
// counting every occurrence would overstate a large entity two to three
// times (Q42: 0.3 MB, not 0.7 MB).
func triplesSize(ts []rdfdiff.Triple) int64 {
	n := int64(len(ts)) * 48
	seen := make(map[*byte]struct{}, len(ts))
	var prevS *byte
	for i := range ts {
		// Sorted triples: a subject's triples are adjacent.
		if s := ts[i].S.String(); unsafe.StringData(s) != prevS {
			prevS = unsafe.StringData(s)
			n += int64(len(s))
		}
		for _, s := range [2]string{ts[i].P.String(), ts[i].O.String()} {
			p := unsafe.StringData(s)
			if _, ok := seen[p]; !ok {
				seen[p] = struct{}{}
				n += int64(len(s))
			}
		}
	}
	return n
}

// get returns the cached triples of revision rev of entity id.
func (c *revisionCache) get(id string, rev int64) ([]rdfdiff.Triple, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[revKey{id, rev}]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*revEntry).triples, true
}

// add caches the triples of a revision fetched successfully. An entry
// larger than a quarter of the bound is not kept (it would evict many
// smaller ones for one hit).
func (c *revisionCache) add(id string, rev int64, ts []rdfdiff.Triple) {
	if c == nil || len(ts) == 0 {
		return
	}
	size := triplesSize(ts) + 64
	if size > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := revKey{id, rev}
	if el, ok := c.entries[k]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.entries[k] = c.lru.PushFront(&revEntry{key: k, triples: ts, size: size})
	c.size += size
	for c.size > c.max {
		el := c.lru.Back()
		e := el.Value.(*revEntry)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.size -= e.size
	}
}

// stats returns the number of entries and their estimated bytes.
func (c *revisionCache) stats() (entries int, bytes int64) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.size
}
