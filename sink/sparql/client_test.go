package sparql

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// noSleep makes retries immediate and records the waits asked for.
func noSleep(c *Client, waits *[]time.Duration) {
	c.sleep = func(ctx context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return ctx.Err()
	}
}

func TestClientUpdateRawBody(t *testing.T) {
	var got struct{ ct, body, method string }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.ct, got.body, got.method = r.Header.Get("Content-Type"), string(b), r.Method
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL + "/sparql")
	require.NoError(t, err)
	require.NoError(t, c.Update(context.Background(), "INSERT DATA { <http://a> <http://b> \"é&x=1\" }"))
	assert.Equal(t, http.MethodPost, got.method)
	assert.Equal(t, "application/sparql-update; charset=UTF-8", got.ct)
	assert.Equal(t, "INSERT DATA { <http://a> <http://b> \"é&x=1\" }", got.body)
}

func TestClientUpdateForm(t *testing.T) {
	var form url.Values
	var user, pass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		form = r.PostForm
		user, pass, _ = r.BasicAuth()
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, WithFormUpdates(true), WithBasicAuth("dba", "s3cret"))
	require.NoError(t, err)
	require.NoError(t, c.Update(context.Background(), "CLEAR ALL ; INSERT DATA { <http://a> <http://b> \"&update=x\" }"))
	assert.Equal(t, []string{"CLEAR ALL ; INSERT DATA { <http://a> <http://b> \"&update=x\" }"}, form["update"])
	assert.Equal(t, "dba", user)
	assert.Equal(t, "s3cret", pass)
}

func TestClientRetriesServerErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "Virtuoso 40001 Error SR172: Transaction deadlocked", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, WithRetryPolicy(RetryPolicy{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: 150 * time.Millisecond}))
	require.NoError(t, err)
	var waits []time.Duration
	noSleep(c, &waits)
	require.NoError(t, c.Update(context.Background(), "INSERT DATA {}"))
	assert.Equal(t, int32(3), calls.Load())
	require.Len(t, waits, 2)
	assert.LessOrEqual(t, waits[0], 100*time.Millisecond)
	assert.LessOrEqual(t, waits[1], 150*time.Millisecond, "capped at MaxDelay")
}

func TestClientGivesUpAfterMaxAttempts(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, WithRetryPolicy(RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	require.NoError(t, err)
	var waits []time.Duration
	noSleep(c, &waits)
	err = c.Update(context.Background(), "INSERT DATA {}")
	require.ErrorIs(t, err, ErrStoreUnavailable)
	require.NotErrorIs(t, err, ErrStoreRejected)
	var se *StoreError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusServiceUnavailable, se.StatusCode)
	assert.Equal(t, 4, se.Attempts)
	assert.Equal(t, "overloaded", se.Message)
	assert.Equal(t, int32(4), calls.Load())
}

func TestClientNeverRetriesClientErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "Virtuoso 37000 Error SP030: SPARQL compiler, line 1: syntax error", http.StatusBadRequest)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL)
	require.NoError(t, err)
	err = c.Update(context.Background(), "INSERT DATA {")
	require.ErrorIs(t, err, ErrStoreRejected)
	var se *StoreError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 400, se.StatusCode)
	assert.Equal(t, "update", se.Op)
	assert.Contains(t, se.Error(), "sparql: SPARQL update to ")
	assert.Contains(t, se.Error(), "SP030")
	assert.Equal(t, int32(1), calls.Load())
}

func TestClientRetriesTimeouts(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // so the server notices the client hanging up
		if calls.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, WithRequestTimeout(50*time.Millisecond))
	require.NoError(t, err)
	var waits []time.Duration
	noSleep(c, &waits)
	require.NoError(t, c.Update(context.Background(), "INSERT DATA {}"))
	assert.Equal(t, int32(2), calls.Load())
}

func TestClientRetriesConnectionErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there any more
	c, err := NewClient("http://"+addr+"/sparql", WithRetryPolicy(RetryPolicy{MaxAttempts: 3}))
	require.NoError(t, err)
	var waits []time.Duration
	noSleep(c, &waits)
	err = c.Update(context.Background(), "INSERT DATA {}")
	require.ErrorIs(t, err, ErrStoreUnavailable)
	var se *StoreError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 0, se.StatusCode)
	assert.Equal(t, 3, se.Attempts)
	var oe *net.OpError
	assert.ErrorAs(t, err, &oe)
}

func TestClientStopsOnContextCancel(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // so the server notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	c, err := NewClient(srv.URL)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Update(ctx, "INSERT DATA {}")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestClientQueryDecodesTerms(t *testing.T) {
	// Oxigraph's and Virtuoso's shapes, including Virtuoso's "typed-literal".
	const body = `{"head":{"vars":["s","o"]},"results":{"bindings":[
		{"s":{"type":"uri","value":"http://ex/é"},"o":{"type":"literal","value":"a\"b\\c\n","xml:lang":"EN-gb"}},
		{"s":{"type":"bnode","value":"b0"},"o":{"type":"typed-literal","datatype":"http://www.w3.org/2001/XMLSchema#string","value":"x"}},
		{"s":{"type":"uri","value":"http://ex/s"},"o":{"type":"literal","datatype":"http://www.w3.org/2001/XMLSchema#integer","value":"01"}},
		{"s":{"type":"uri","value":"http://ex/t"}}]}}`
	var accept, ct string
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept, ct = r.Header.Get("Accept"), r.Header.Get("Content-Type")
		query = r.FormValue("query")
		w.Header().Set("Content-Type", "application/sparql-results+json")
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL)
	require.NoError(t, err)
	res, err := c.Query(context.Background(), "SELECT ?s ?o { ?s ?p ?o }")
	require.NoError(t, err)
	assert.Equal(t, "application/sparql-results+json", accept)
	assert.Equal(t, "application/x-www-form-urlencoded", ct)
	assert.Equal(t, "SELECT ?s ?o { ?s ?p ?o }", query)
	assert.Equal(t, []string{"s", "o"}, res.Vars)
	require.Len(t, res.Bindings, 4)
	assert.Equal(t, rdfdiff.NewIRI("http://ex/é"), res.Bindings[0]["s"])
	assert.Equal(t, rdfdiff.NewLangLiteral("a\"b\\c\n", "en-gb"), res.Bindings[0]["o"])
	assert.Equal(t, rdfdiff.NewBlankNode("b0"), res.Bindings[1]["s"])
	assert.Equal(t, rdfdiff.NewLiteral("x"), res.Bindings[1]["o"])
	assert.Equal(t, rdfdiff.NewTypedLiteral("01", rdfdiff.XSDInteger), res.Bindings[2]["o"])
	_, bound := res.Bindings[3]["o"]
	assert.False(t, bound)
	assert.Nil(t, res.Boolean)
}

func TestClientAskAndInvalidResults(t *testing.T) {
	answers := map[string]string{
		"ASK {}":   `{"head":{},"boolean":true}`,
		"bad json": `{"head":`,
		"no body":  `{"head":{}}`,
		"bad term": `{"head":{"vars":["s"]},"results":{"bindings":[{"s":{"type":"triple","value":"x"}}]}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, answers[r.FormValue("query")])
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL)
	require.NoError(t, err)
	ok, err := c.Ask(context.Background(), "ASK {}")
	require.NoError(t, err)
	assert.True(t, ok)
	for _, q := range []string{"bad json", "no body", "bad term"} {
		_, err := c.Query(context.Background(), q)
		require.ErrorIs(t, err, ErrInvalidResults, q)
	}
	_, err = c.Ask(context.Background(), "bad term")
	require.ErrorIs(t, err, ErrInvalidResults)
}

func TestNewClientValidates(t *testing.T) {
	for _, e := range []string{"", "127.0.0.1:7878/sparql", "ftp://x/sparql", "http:///sparql", "http://a b/"} {
		_, err := NewClient(e)
		require.Error(t, err, e)
		assert.Contains(t, err.Error(), "sparql: ")
	}
	_, err := NewClient("http://127.0.0.1:1/sparql", WithUpdateEndpoint("nope"))
	require.Error(t, err)
	_, err = NewClient("http://127.0.0.1:1/sparql", WithHTTPClient(nil))
	require.Error(t, err)
}

func TestClientAgainstStores(t *testing.T) {
	for _, env := range []string{"STREAMKIT_OXIGRAPH_URL", "STREAMKIT_VIRTUOSO_URL"} {
		t.Run(env, func(t *testing.T) {
			c := storeClient(t, env)
			ctx := context.Background()
			g := testGraph(t)
			require.NoError(t, c.Update(ctx, "INSERT DATA { GRAPH <"+g+"> { <http://ex/a> <http://ex/p> \"1\" } }"))
			ok, err := c.Ask(ctx, "ASK { GRAPH <"+g+"> { <http://ex/a> <http://ex/p> \"1\" } }")
			require.NoError(t, err)
			assert.True(t, ok)
			err = c.Update(ctx, "INSERT DATA { GRAPH <"+g+"> { <http://ex/a> <http://ex/p> \"unterminated } }")
			require.ErrorIs(t, err, ErrStoreRejected, "a syntax error is the request's fault")
			var se *StoreError
			require.True(t, errors.As(err, &se))
			assert.NotEmpty(t, se.Message)
			require.NoError(t, c.Update(ctx, "DROP SILENT GRAPH <"+g+">"))
		})
	}
}
