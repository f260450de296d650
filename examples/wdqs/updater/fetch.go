package updater

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// FetchErrorType classifies a failed fetch as the fetch_failure side output
// does (fetch_error_type).
type FetchErrorType string

// The fetch error types of WikibaseEntityFetchException.
const (
	FetchEntityNotFound     FetchErrorType = "ENTITY_NOT_FOUND"
	FetchNoContent          FetchErrorType = "NO_CONTENT"
	FetchEmptyResponse      FetchErrorType = "EMPTY_RESPONSE"
	FetchUnexpectedResponse FetchErrorType = "UNEXPECTED_RESPONSE"
	FetchUnknown            FetchErrorType = "UNKNOWN"
)

// FetchError is a revision whose RDF could not be fetched or read, after the
// retries: the operation goes to the fetch-failure side output and the
// entity's state does not advance.
type FetchError struct {
	Entity   string
	Revision int64
	Type     FetchErrorType
	// Status is the last HTTP status (0 when there was no response).
	Status int
	// Attempts is how many requests were made.
	Attempts int
	Err      error
}

// Error implements error.
func (e *FetchError) Error() string {
	return fmt.Sprintf("updater: cannot fetch entity %s revision %d (%s) after %d attempt(s): %v",
		e.Entity, e.Revision, e.Type, e.Attempts, e.Err)
}

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

// Fetcher reads revisions' RDF from Special:EntityData
// (<base><id>.ttl?flavor=dump&revision=<rev>) and munges it.
// It bounds the requests in flight over all its callers, times each one out,
// and retries what may succeed later: transport errors, 5xx and 429 up to
// Attempts times, and a 404 of a revision younger than AcceptableLag (a
// replica that has not seen the edit yet). A Fetcher is safe for concurrent
// use.
type Fetcher struct {
	base          string
	client        *http.Client
	userAgent     string
	timeout       time.Duration
	attempts      int
	retryDelay    time.Duration
	acceptableLag time.Duration
	now           func() time.Time
	sem           chan struct{}
	munger        *rdfdiff.Munger
	cache         *revisionCache // nil: off
	metrics       *Metrics       // nil: not counted
}

// newFetcher returns a fetcher; cfg has been validated.
func newFetcher(cfg *Config, munger *rdfdiff.Munger) *Fetcher {
	client := cfg.HTTPClient
	if client == nil {
		// Every fetch goes to one host: keep as many idle connections to
		// it as fetches may be in flight. net/http's default keeps two, so
		// at a limit of 64 most fetches would open (and close) a
		// connection of their own.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.MaxConcurrentRequests
		t.MaxIdleConns = max(t.MaxIdleConns, cfg.MaxConcurrentRequests)
		client = &http.Client{Transport: t}
	}
	return &Fetcher{
		base: cfg.EntityDataURL, client: client, userAgent: cfg.UserAgent,
		timeout: cfg.HTTPTimeout, attempts: cfg.FetchAttempts, retryDelay: cfg.FetchRetryDelay,
		acceptableLag: cfg.AcceptableLag, now: cfg.now,
		sem: make(chan struct{}, cfg.MaxConcurrentRequests), munger: munger,
		cache: newRevisionCache(cfg.RevisionCacheBytes), metrics: cfg.Metrics,
	}
}

// URL returns the EntityData URL of one revision.
func (f *Fetcher) URL(id string, rev int64) string {
	return f.base + url.PathEscape(id) + ".ttl?flavor=dump&revision=" + strconv.FormatInt(rev, 10)
}

// Fetch returns the munged triples of revision rev of entity id. eventTime is
// the edit's time: a 404 is retried only while the edit is younger than the
// acceptable lag, and only when retry404 is set (WDQS does not retry the
// "from" revision of a diff). Failures are *FetchError; a done ctx returns
// ctx's error, which is not a fetch failure. A revision this Fetcher
// fetched lately comes from its cache (Config.RevisionCacheBytes): the
// triples returned are shared and must not be modified.
func (f *Fetcher) Fetch(ctx context.Context, id string, rev int64, eventTime time.Time, retry404 bool) ([]rdfdiff.Triple, error) {
	if f.cache != nil {
		if ts, ok := f.cache.get(id, rev); ok {
			if f.metrics != nil {
				f.metrics.RevisionCacheHits.Add(1)
			}
			return ts, nil
		}
		if f.metrics != nil {
			f.metrics.RevisionCacheMisses.Add(1)
		}
	}
	ts, err := f.fetch(ctx, id, rev, eventTime, retry404)
	if err == nil {
		f.cache.add(id, rev, ts)
	}
	return ts, err
}

// fetch is Fetch without the cache.
func (f *Fetcher) fetch(ctx context.Context, id string, rev int64, eventTime time.Time, retry404 bool) ([]rdfdiff.Triple, error) {
	body, err := f.get(ctx, id, rev, eventTime, retry404)
	if err != nil {
		return nil, err
	}
	ts, err := rdfdiff.ParseTurtleBytes(body, rdfdiff.WithFileName(f.URL(id, rev)))
	if err != nil {
		return nil, &FetchError{Entity: id, Revision: rev, Type: FetchUnknown, Status: http.StatusOK, Attempts: 1, Err: err}
	}
	me, err := f.munger.MungeEntity(id, ts)
	if err != nil {
		return nil, &FetchError{Entity: id, Revision: rev, Type: FetchUnknown, Status: http.StatusOK, Attempts: 1, Err: err}
	}
	if len(me.Triples) == 0 {
		return nil, &FetchError{Entity: id, Revision: rev, Type: FetchEmptyResponse, Status: http.StatusOK, Attempts: 1,
			Err: errors.New("empty entity after munging")}
	}
	return me.Triples, nil
}

// errRetry marks an attempt worth repeating.
type attemptError struct {
	typ    FetchErrorType
	status int
	retry  bool
	err    error
}

func (f *Fetcher) get(ctx context.Context, id string, rev int64, eventTime time.Time, retry404 bool) ([]byte, error) {
	var last *attemptError
	start := f.now()
	for attempt := 1; ; attempt++ {
		body, ae := f.attempt(ctx, id, rev)
		if ae == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		last = ae
		retry := ae.retry && attempt < f.attempts
		if ae.typ == FetchEntityNotFound {
			// Replica lag: MediaWiki may not serve a revision it has
			// just announced. Retried for as long as the edit is young,
			// whatever the attempt count, and never longer than the lag
			// itself (an event time in the future must not retry
			// forever).
			now := f.now()
			retry = retry404 && now.Sub(eventTime) < f.acceptableLag && now.Sub(start) < f.acceptableLag
		}
		if !retry {
			return nil, &FetchError{Entity: id, Revision: rev, Type: last.typ, Status: last.status, Attempts: attempt, Err: last.err}
		}
		t := time.NewTimer(f.retryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// maxEntityBytes bounds one EntityData response (Q42 is 200 KB; the largest
// Wikidata items are a few MB).
const maxEntityBytes = 64 << 20

func (f *Fetcher) attempt(ctx context.Context, id string, rev int64) ([]byte, *attemptError) {
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, &attemptError{typ: FetchUnknown, err: ctx.Err()}
	}
	defer func() { <-f.sem }()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL(id, rev), nil)
	if err != nil {
		return nil, &attemptError{typ: FetchUnknown, err: err}
	}
	req.Header.Set("Accept", "text/turtle")
	if f.userAgent != "" {
		req.Header.Set("User-Agent", f.userAgent)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, &attemptError{typ: FetchUnknown, retry: true, err: err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, &attemptError{typ: FetchEntityNotFound, status: resp.StatusCode, err: errors.New("404 Not Found")}
	case resp.StatusCode == http.StatusNoContent:
		return nil, &attemptError{typ: FetchNoContent, status: resp.StatusCode, err: errors.New("204 No Content")}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, &attemptError{typ: FetchUnexpectedResponse, status: resp.StatusCode, retry: true, err: fmt.Errorf("HTTP %s", resp.Status)}
	case resp.StatusCode >= 300:
		return nil, &attemptError{typ: FetchUnexpectedResponse, status: resp.StatusCode, err: fmt.Errorf("HTTP %s", resp.Status)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxEntityBytes+1))
	if err != nil {
		return nil, &attemptError{typ: FetchUnknown, status: resp.StatusCode, retry: true, err: err}
	}
	if len(body) > maxEntityBytes {
		return nil, &attemptError{typ: FetchUnexpectedResponse, status: resp.StatusCode, err: fmt.Errorf("response larger than %d bytes", maxEntityBytes)}
	}
	if len(body) == 0 {
		return nil, &attemptError{typ: FetchEmptyResponse, status: resp.StatusCode, err: errors.New("empty response")}
	}
	return body, nil
}
