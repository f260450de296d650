package updater

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// testFetcher returns a fetcher of srv with fast retries and a fixed clock.
func testFetcher(t *testing.T, srv *httptest.Server, now time.Time) *Fetcher {
	t.Helper()
	s := rdfdiff.WikidataScheme()
	cfg := &Config{
		EntityDataURL: srv.URL + "/wiki/Special:EntityData/", HTTPTimeout: 10 * time.Second,
		FetchAttempts: 3, FetchRetryDelay: time.Millisecond, AcceptableLag: 10 * time.Second,
		MaxConcurrentRequests: 2, Now: func() time.Time { return now }, Scheme: &s,
	}
	return newFetcher(cfg, rdfdiff.NewMunger(s))
}

func TestFetchMungesEntityData(t *testing.T) {
	q42, err := os.ReadFile("testdata/entities/Q42.ttl")
	require.NoError(t, err)
	var gotPath, gotQuery, gotUA string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery, gotUA = r.URL.Path, r.URL.RawQuery, r.Header.Get("User-Agent")
		_, _ = w.Write(q42)
	}))
	defer srv.Close()
	f := testFetcher(t, srv, time.Now())
	f.userAgent = "test-agent"
	ts, err := f.Fetch(context.Background(), "Q42", 1997465481, time.Now(), true)
	require.NoError(t, err)
	assert.Equal(t, "/wiki/Special:EntityData/Q42.ttl", gotPath)
	assert.Equal(t, "flavor=dump&revision=1997465481", gotQuery)
	assert.Equal(t, "test-agent", gotUA)
	// The same as munging the file directly.
	raw, err := rdfdiff.ParseTurtleBytes(q42)
	require.NoError(t, err)
	want, err := rdfdiff.NewMunger(rdfdiff.WikidataScheme()).Munge("Q42", raw)
	require.NoError(t, err)
	assert.Equal(t, want, ts)
}

func TestFetch404RetriedOnlyWhileEditIsYoung(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	now := time.Date(2024, 10, 4, 15, 0, 0, 0, time.UTC)
	f := testFetcher(t, srv, now)
	// Clock moves forward 3 s per call: young for the first few attempts.
	var tick atomic.Int64
	f.now = func() time.Time { return now.Add(time.Duration(tick.Add(1)) * 3 * time.Second) }
	_, err := f.Fetch(context.Background(), "Q1", 5, now, true)
	var fe *FetchError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, FetchEntityNotFound, fe.Type)
	assert.Equal(t, http.StatusNotFound, fe.Status)
	// The clock reads 3 s at the start, 6 s and 9 s after the first two
	// failures (retried), 12 s ≥ 10 s lag after the third: 3 attempts
	// whatever FetchAttempts (here 3 too).
	assert.Equal(t, int32(3), calls.Load())
	assert.Equal(t, 3, fe.Attempts)

	// 404 retries follow the lag, not FetchAttempts: with a slower clock
	// (1 s per reading) an edit stays young for 9 retries.
	calls.Store(0)
	tick.Store(0)
	f.now = func() time.Time { return now.Add(time.Duration(tick.Add(1)) * time.Second) }
	_, err = f.Fetch(context.Background(), "Q1", 5, now, true)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, int32(9), calls.Load())

	// An event time in the future is retried for the lag at most.
	calls.Store(0)
	tick.Store(0)
	_, err = f.Fetch(context.Background(), "Q1", 5, now.Add(24*time.Hour), true)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, int32(10), calls.Load())
	f.now = func() time.Time { return now }

	// An old edit, or the "from" revision of a diff: no retry.
	calls.Store(0)
	_, err = f.Fetch(context.Background(), "Q1", 5, now.Add(-time.Hour), true)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, int32(1), calls.Load())
	calls.Store(0)
	_, err = f.Fetch(context.Background(), "Q1", 5, now.Add(time.Hour), false)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, int32(1), calls.Load())
}

func TestFetchRetriesServerErrors(t *testing.T) {
	q42, err := os.ReadFile("testdata/entities/Q42.ttl")
	require.NoError(t, err)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(q42)
	}))
	defer srv.Close()
	f := testFetcher(t, srv, time.Now())
	_, err = f.Fetch(context.Background(), "Q42", 1, time.Now(), true)
	require.NoError(t, err)
	assert.Equal(t, int32(3), calls.Load())

	// Always failing: FetchAttempts, then a FetchError.
	calls.Store(-100)
	_, err = f.Fetch(context.Background(), "Q42", 1, time.Now(), true)
	var fe *FetchError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, FetchUnexpectedResponse, fe.Type)
	assert.Equal(t, 3, fe.Attempts)
	assert.Contains(t, fe.Error(), "cannot fetch entity Q42 revision 1 (UNEXPECTED_RESPONSE) after 3 attempt(s)")
}

func TestFetchErrorTypes(t *testing.T) {
	for name, tc := range map[string]struct {
		h   http.HandlerFunc
		typ FetchErrorType
	}{
		"204":     {func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, FetchNoContent},
		"403":     {func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) }, FetchUnexpectedResponse},
		"empty":   {func(w http.ResponseWriter, _ *http.Request) {}, FetchEmptyResponse},
		"bad ttl": {func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<a> <b> ")) }, FetchUnknown},
		"not Q1's": {func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<http://x/a> <http://x/b> <http://x/c> ."))
		}, FetchUnknown},
		"transport": {func(w http.ResponseWriter, _ *http.Request) { panic(http.ErrAbortHandler) }, FetchUnknown},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			_, err := testFetcher(t, srv, time.Now()).Fetch(context.Background(), "Q1", 1, time.Now(), true)
			var fe *FetchError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.typ, fe.Type)
		})
	}
}

func TestFetchContextDoneIsNotAFetchFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := testFetcher(t, srv, time.Now()).Fetch(ctx, "Q1", 1, time.Now(), true)
	require.ErrorIs(t, err, context.Canceled)
	var fe *FetchError
	assert.NotErrorAs(t, err, &fe)
}
