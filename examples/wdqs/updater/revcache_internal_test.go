package updater

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

func cacheTriples(t *testing.T, n int) []rdfdiff.Triple {
	t.Helper()
	ts := make([]rdfdiff.Triple, n)
	for i := range ts {
		ts[i] = rdfdiff.Triple{S: rdfdiff.NewIRI("http://e/Q1"), P: rdfdiff.NewIRI("http://p/x"), O: rdfdiff.NewLiteral(fmt.Sprint(i))}
	}
	return ts
}

// TestRevisionCacheBounded: the estimated size never exceeds the bound, the
// least recently used revision goes first, and an entry too large for the
// bound is not kept.
func TestRevisionCacheBounded(t *testing.T) {
	ts := cacheTriples(t, 10)
	one := triplesSize(ts) + 64
	c := newRevisionCache(4 * one)
	for rev := int64(1); rev <= 4; rev++ {
		c.add("Q1", rev, ts)
	}
	n, size := c.stats()
	assert.Equal(t, 4, n)
	assert.Equal(t, 4*one, size)
	_, ok := c.get("Q1", 1) // 1 is now the most recent
	require.True(t, ok)
	c.add("Q1", 5, ts) // evicts 2, the least recently used
	_, ok = c.get("Q1", 2)
	assert.False(t, ok, "least recently used evicted")
	for _, rev := range []int64{1, 3, 4, 5} {
		got, ok := c.get("Q1", rev)
		assert.True(t, ok, "rev %d", rev)
		assert.Equal(t, ts, got)
	}
	_, ok = c.get("Q2", 1)
	assert.False(t, ok, "another entity's revision")
	n, size = c.stats()
	assert.Equal(t, 4, n)
	assert.LessOrEqual(t, size, 4*one)
	// Larger than a quarter of the bound: not kept.
	c.add("Q9", 1, cacheTriples(t, 20))
	_, ok = c.get("Q9", 1)
	assert.False(t, ok)
	// Off.
	assert.Nil(t, newRevisionCache(0))
	assert.Nil(t, newRevisionCache(-1))
}

// TestFetchCachesOnlySuccess: a revision fetched once is served from the
// cache; a 404 (deleted, suppressed, not yet replicated) is asked again
// every time; with the cache off every fetch is a request.
func TestFetchCachesOnlySuccess(t *testing.T) {
	q2, err := os.ReadFile("testdata/entities/Q2-rev1.ttl")
	require.NoError(t, err)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if strings.HasSuffix(r.URL.RawQuery, "revision=404") {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(q2)
	}))
	defer srv.Close()
	ctx := context.Background()
	old := time.Now().Add(-time.Hour) // no 404 retry
	for _, tc := range []struct {
		name      string
		cacheSize int64
		requests  int32
	}{{"cache", 1 << 20, 1}, {"off", 0, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			f := testFetcher(t, srv, time.Now())
			f.cache = newRevisionCache(tc.cacheSize)
			f.metrics = &Metrics{}
			var first []rdfdiff.Triple
			for range 3 {
				ts, err := f.Fetch(ctx, "Q2", 1, old, false)
				require.NoError(t, err)
				require.NotEmpty(t, ts)
				if first == nil {
					first = ts
				}
				assert.Equal(t, first, ts)
			}
			assert.Equal(t, tc.requests, calls.Load(), "requests for a good revision")
			if tc.cacheSize > 0 {
				assert.Equal(t, int64(2), f.metrics.RevisionCacheHits.Load())
				assert.Equal(t, int64(1), f.metrics.RevisionCacheMisses.Load())
			}
			calls.Store(0)
			for range 2 {
				_, err := f.Fetch(ctx, "Q2", 404, old, false)
				var fe *FetchError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, FetchEntityNotFound, fe.Type)
			}
			assert.Equal(t, int32(2), calls.Load(), "a 404 is never cached")
		})
	}
}

// TestTriplesSizeCountsInternedStringsOnce: the parser shares one string
// per distinct term of a document, and the estimate counts it once; it
// still counts every triple and every distinct term.
func TestTriplesSizeCountsInternedStringsOnce(t *testing.T) {
	doc, err := os.ReadFile("testdata/entities/Q42.ttl")
	require.NoError(t, err)
	raw, err := rdfdiff.ParseTurtleBytes(doc)
	require.NoError(t, err)
	me, err := rdfdiff.NewMunger(rdfdiff.WikidataScheme()).MungeEntity("Q42", raw)
	require.NoError(t, err)
	ts := me.Triples
	var every int64
	distinct := map[string]bool{}
	var floor int64
	for _, tr := range ts {
		for _, term := range []rdfdiff.Term{tr.S, tr.P, tr.O} {
			every += int64(len(term.String()))
			if !distinct[term.String()] {
				distinct[term.String()] = true
				floor += int64(len(term.String()))
			}
		}
	}
	every += 48 * int64(len(ts))
	floor += 48 * int64(len(ts))
	got := triplesSize(ts)
	assert.GreaterOrEqual(t, got, floor, "every triple and every distinct term")
	assert.Less(t, got, every*2/3, "an interned term counted once, not per occurrence")
}
