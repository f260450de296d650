package sparql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// Errors of the SPARQL client. A *StoreError unwraps to ErrStoreRejected or
// ErrStoreUnavailable, so callers can tell "the request is wrong" (bisect it,
// dead-letter the culprit) from "the store is unwell" (retry later).
var (
	// ErrStoreRejected means the store answered 4xx: the request itself is
	// wrong (syntax, a term the store refuses, too large). Retrying the same
	// request cannot help, so the client never does.
	ErrStoreRejected = errors.New("sparql: SPARQL store rejected the request")
	// ErrStoreUnavailable means the store answered 5xx, or could not be
	// reached, on every attempt the retry policy allowed.
	ErrStoreUnavailable = errors.New("sparql: SPARQL store unavailable")
	// ErrInvalidResults means a query answer was not SPARQL 1.1 JSON results
	// the client could read into terms.
	ErrInvalidResults = errors.New("sparql: invalid SPARQL results")
)

// StoreError is a non-2xx answer from the store (or, with StatusCode 0, the
// last transport error), with the store's own message.
type StoreError struct {
	// Op is "update" or "query".
	Op string
	// Endpoint is the SPARQL endpoint URL.
	Endpoint string
	// StatusCode is the HTTP status, or 0 when no answer came.
	StatusCode int
	// Message is the start of the store's answer body (at most 2 KiB), e.g.
	// Virtuoso's "Virtuoso 37000 Error SP030: …" or Oxigraph's parse error.
	Message string
	// Attempts is how many times the request was sent.
	Attempts int
	// Err is the transport error when StatusCode is 0.
	Err error
}

// Error renders the operation, status and the store's message.
func (e *StoreError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("sparql: SPARQL %s to %s failed after %d attempt(s): %v", e.Op, e.Endpoint, e.Attempts, e.Err)
	}
	return fmt.Sprintf("sparql: SPARQL %s to %s: HTTP %d after %d attempt(s): %s", e.Op, e.Endpoint, e.StatusCode, e.Attempts, e.Message)
}

// Unwrap returns ErrStoreRejected for a 4xx answer, and ErrStoreUnavailable
// and the transport error otherwise.
func (e *StoreError) Unwrap() []error {
	if e.StatusCode >= 400 && e.StatusCode < 500 {
		return []error{ErrStoreRejected}
	}
	if e.Err != nil {
		return []error{ErrStoreUnavailable, e.Err}
	}
	return []error{ErrStoreUnavailable}
}

// RetryPolicy says how the client retries a request that timed out, could not
// connect or got a 5xx answer. 4xx answers are never retried. The wait before
// attempt n+1 is a random duration in [0, min(MaxDelay, BaseDelay·2ⁿ⁻¹)]
// ("full jitter"), so replicas restarted together do not hammer the store in
// step.
//
// Retrying an update is safe for everything the update builder writes: DELETE
// DATA, INSERT DATA, templated DELETE … WHERE and the commit-point triples are
// idempotent, so a request applied once and retried because the answer was
// lost leaves the same store.
type RetryPolicy struct {
	// MaxAttempts is the number of sends, including the first; <= 1 means no
	// retry.
	MaxAttempts int
	// BaseDelay is the cap of the first wait.
	BaseDelay time.Duration
	// MaxDelay caps every wait.
	MaxDelay time.Duration
}

// DefaultRetryPolicy is WDQS's RdfClient retryer: 6 attempts, waits growing
// from 1 s, capped at 10 s.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 6, BaseDelay: time.Second, MaxDelay: 10 * time.Second}

// WithHTTPClient sets the HTTP client (default: a new http.Client with
// default transport and no overall timeout; per-request timeouts come from
// WithRequestTimeout).
//
// An option of NewClient.
func WithHTTPClient(hc *http.Client) Option {
	return clientOption("WithHTTPClient", func(c *Client) { c.http = hc })
}

// WithRequestTimeout bounds each attempt (default 60 s; 0 means none — only
// ctx bounds it). A timed-out attempt is retried under the RetryPolicy.
//
// An option of NewClient.
func WithRequestTimeout(d time.Duration) Option {
	return clientOption("WithRequestTimeout", func(c *Client) { c.timeout = d })
}

// WithRetryPolicy sets the retry policy (default DefaultRetryPolicy).
//
// An option of NewClient.
func WithRetryPolicy(p RetryPolicy) Option {
	return clientOption("WithRetryPolicy", func(c *Client) { c.retry = p })
}

// WithFormUpdates sends updates as an application/x-www-form-urlencoded
// "update=" field instead of a raw application/sparql-update body (default
// raw, as WDQS does). Some stores only accept the form; it costs ~1/3 more
// bytes for RDF text.
//
// An option of NewClient.
func WithFormUpdates(on bool) Option {
	return clientOption("WithFormUpdates", func(c *Client) { c.formUpdates = on })
}

// WithBasicAuth sends HTTP basic credentials with every request.
//
// An option of NewClient.
func WithBasicAuth(user, password string) Option {
	return clientOption("WithBasicAuth", func(c *Client) { c.user, c.password, c.auth = user, password, true })
}

// WithUpdateEndpoint sends updates to a different URL than queries (some
// deployments split them, e.g. Fuseki's /update).
//
// An option of NewClient.
func WithUpdateEndpoint(endpoint string) Option {
	return clientOption("WithUpdateEndpoint", func(c *Client) { c.updateEndpoint = endpoint })
}

// Client speaks the SPARQL 1.1 Protocol to one store: updates, SELECT and ASK
// queries with SPARQL 1.1 JSON results. It is safe for concurrent use.
//
// It does not use github.com/knakk/sparql, which lacks what a sink needs: no
// context.Context (a stuck store cannot be abandoned on shutdown), updates only
// as a form post (no raw application/sparql-update body, as WDQS sends), no
// retry, no typed error carrying the status code and the store's message (4xx
// and 5xx must be told apart to bisect rather than retry), bindings as
// knakk/rdf terms that would need a second conversion into rdfdiff.Term, and no
// handling of Virtuoso's "typed-literal" binding type. The JSON results format
// is small enough that decoding it here is simpler than adapting.
type Client struct {
	endpoint       string
	updateEndpoint string
	http           *http.Client
	timeout        time.Duration
	retry          RetryPolicy
	formUpdates    bool
	auth           bool
	user, password string
	sleep          func(context.Context, time.Duration) error
}

// NewClient returns a client for the SPARQL endpoint URL (e.g.
// http://127.0.0.1:7878/sparql). It checks the URL but does no I/O.
func NewClient(endpoint string, opts ...Option) (*Client, error) {
	c := &Client{
		endpoint: endpoint,
		http:     &http.Client{},
		timeout:  60 * time.Second,
		retry:    DefaultRetryPolicy,
		sleep:    sleepCtx,
	}
	if err := (&settings{client: c}).apply("NewClient", opts); err != nil {
		return nil, err
	}
	if c.updateEndpoint == "" {
		c.updateEndpoint = endpoint
	}
	for _, e := range []string{c.endpoint, c.updateEndpoint} {
		u, err := url.Parse(e)
		if err != nil {
			return nil, fmt.Errorf("sparql: SPARQL endpoint %q: %w", e, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sparql: SPARQL endpoint %q: want an http(s) URL with a host", e)
		}
	}
	if c.http == nil {
		return nil, errors.New("sparql: nil HTTP client")
	}
	return c, nil
}

// Endpoint returns the query endpoint URL.
func (c *Client) Endpoint() string { return c.endpoint }

// Update sends one SPARQL 1.1 Update request (any number of operations
// separated by ";"). A 2xx answer is success; its body is not parsed (Virtuoso
// answers 200 with a result set, Oxigraph 204). Whether a failed request
// applied part of its operations depends on the store: Oxigraph applies a
// request atomically, Virtuoso does not.
func (c *Client) Update(ctx context.Context, update string) error {
	_, err := c.UpdateResponse(ctx, update)
	return err
}

// UpdateResponse is the store's answer to a successful update.
type UpdateResponse struct {
	// Body is the answer body, unparsed (Blazegraph's HTML report with the
	// mutation count, Virtuoso's result set, nothing from Oxigraph).
	Body []byte
	// Attempts is how many times the request was sent (1 when no retry was
	// needed), so callers can count retries that ended well.
	Attempts int
}

// UpdateResponse is Update returning the store's answer: a sink that wants
// Blazegraph's mutation count (see ParseBlazegraphUpdate) or the number of
// retries reads it here. A failed request gives a *StoreError as Update does.
func (c *Client) UpdateResponse(ctx context.Context, update string) (*UpdateResponse, error) {
	body, attempts, err := c.do(ctx, "update", func() (*http.Request, error) {
		var req *http.Request
		var err error
		if c.formUpdates {
			req, err = http.NewRequest(http.MethodPost, c.updateEndpoint, strings.NewReader(url.Values{"update": {update}}.Encode()))
			if err == nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
		} else {
			req, err = http.NewRequest(http.MethodPost, c.updateEndpoint, strings.NewReader(update))
			if err == nil {
				req.Header.Set("Content-Type", "application/sparql-update; charset=UTF-8")
			}
		}
		return req, err
	})
	if err != nil {
		return nil, err
	}
	return &UpdateResponse{Body: body, Attempts: attempts}, nil
}

// Results is a SPARQL 1.1 query answer: the bindings of a SELECT, or the
// Boolean of an ASK.
type Results struct {
	// Vars are the projected variable names, in order.
	Vars []string
	// Bindings holds one map per solution; an unbound variable is absent.
	Bindings []map[string]rdfdiff.Term
	// Boolean is the answer of an ASK query (nil for SELECT).
	Boolean *bool
}

// Query sends a SELECT or ASK query as a form POST asking for
// application/sparql-results+json, and decodes the bindings into terms: IRIs,
// blank nodes, and literals with their language tag or datatype (Virtuoso's
// "typed-literal" included). An xsd:string literal comes back as the simple
// literal, which RDF 1.1 makes the same term.
func (c *Client) Query(ctx context.Context, query string) (*Results, error) {
	body, _, err := c.do(ctx, "query", func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, c.endpoint, strings.NewReader(url.Values{"query": {query}}.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/sparql-results+json")
		}
		return req, err
	})
	if err != nil {
		return nil, err
	}
	return decodeResults(body)
}

// Ask sends an ASK query and returns its answer.
func (c *Client) Ask(ctx context.Context, query string) (bool, error) {
	r, err := c.Query(ctx, query)
	if err != nil {
		return false, err
	}
	if r.Boolean == nil {
		return false, fmt.Errorf("%w: answer to ASK has no boolean", ErrInvalidResults)
	}
	return *r.Boolean, nil
}

const maxErrorMessage = 2048

// do sends the request built by mk under the retry policy and returns the
// body of the first 2xx answer and the number of attempts it took.
func (c *Client) do(ctx context.Context, op string, mk func() (*http.Request, error)) ([]byte, int, error) {
	attempts := max(c.retry.MaxAttempts, 1)
	var last *StoreError
	for n := 1; ; n++ {
		body, serr, retryable := c.once(ctx, op, mk)
		if serr == nil {
			return body, n, nil
		}
		serr.Attempts = n
		last = serr
		if !retryable || n >= attempts || ctx.Err() != nil {
			break
		}
		if err := c.sleep(ctx, c.backoff(n)); err != nil {
			break
		}
	}
	if ctx.Err() != nil && last.StatusCode == 0 {
		return nil, last.Attempts, fmt.Errorf("sparql: SPARQL %s to %s: %w", op, c.endpoint, context.Cause(ctx))
	}
	return nil, last.Attempts, last
}

// once sends one attempt. It returns the 2xx body, or the error and whether
// it may be retried.
func (c *Client) once(ctx context.Context, op string, mk func() (*http.Request, error)) ([]byte, *StoreError, bool) {
	endpoint := c.endpoint
	if op == "update" {
		endpoint = c.updateEndpoint
	}
	actx, cancel := ctx, context.CancelFunc(func() {})
	if c.timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	defer cancel()
	req, err := mk()
	if err != nil {
		return nil, &StoreError{Op: op, Endpoint: endpoint, Err: err}, false
	}
	req = req.WithContext(actx)
	if c.auth {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &StoreError{Op: op, Endpoint: endpoint, Err: err}, retryableTransport(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, &StoreError{Op: op, Endpoint: endpoint, Err: fmt.Errorf("reading answer: %w", err)}, retryableTransport(err)
		}
		return body, nil, false
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorMessage))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	serr := &StoreError{Op: op, Endpoint: endpoint, StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
	return nil, serr, resp.StatusCode >= 500
}

// retryableTransport reports whether a transport error is worth another
// attempt: timeouts and connection errors are; a cancelled parent context is
// handled by the caller.
func retryableTransport(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.BaseDelay
	for i := 1; i < attempt && d < c.retry.MaxDelay; i++ {
		d *= 2
	}
	if c.retry.MaxDelay > 0 && d > c.retry.MaxDelay {
		d = c.retry.MaxDelay
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jsonResults is the SPARQL 1.1 Query Results JSON Format.
type jsonResults struct {
	Head struct {
		Vars []string `json:"vars"`
	} `json:"head"`
	Results *struct {
		Bindings []map[string]jsonTerm `json:"bindings"`
	} `json:"results"`
	Boolean *bool `json:"boolean"`
}

type jsonTerm struct {
	Type     string `json:"type"`
	Value    string `json:"value"`
	Lang     string `json:"xml:lang"`
	Datatype string `json:"datatype"`
}

func decodeResults(body []byte) (*Results, error) {
	var jr jsonResults
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&jr); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidResults, err)
	}
	r := &Results{Vars: jr.Head.Vars, Boolean: jr.Boolean}
	if jr.Results == nil {
		if jr.Boolean == nil {
			return nil, fmt.Errorf("%w: neither results nor boolean", ErrInvalidResults)
		}
		return r, nil
	}
	r.Bindings = make([]map[string]rdfdiff.Term, len(jr.Results.Bindings))
	for i, b := range jr.Results.Bindings {
		m := make(map[string]rdfdiff.Term, len(b))
		for name, jt := range b {
			t, err := jt.term()
			if err != nil {
				return nil, fmt.Errorf("%w: solution %d, ?%s: %v", ErrInvalidResults, i, name, err)
			}
			m[name] = t
		}
		r.Bindings[i] = m
	}
	return r, nil
}

func (jt jsonTerm) term() (rdfdiff.Term, error) {
	switch jt.Type {
	case "uri":
		return rdfdiff.NewIRI(jt.Value), nil
	case "bnode":
		if jt.Value == "" {
			return rdfdiff.Term{}, errors.New("blank node without a label")
		}
		return rdfdiff.NewBlankNode(jt.Value), nil
	case "literal", "typed-literal":
		switch {
		case jt.Lang != "":
			return rdfdiff.NewLangLiteral(jt.Value, jt.Lang), nil
		case jt.Datatype != "":
			return rdfdiff.NewTypedLiteral(jt.Value, jt.Datatype), nil
		}
		return rdfdiff.NewLiteral(jt.Value), nil
	}
	return rdfdiff.Term{}, fmt.Errorf("unknown term type %q", jt.Type)
}
