package sparql

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrNoMutationCount is returned by ParseBlazegraphUpdate when the answer
// holds no readable mutation count: it is not Blazegraph's answer to an
// update (a proxy's page, another store), or Blazegraph changed its format.
// The SPARQL sink counts such answers in SPARQLStats.UnparsedResponses
// instead of failing a commit that the store did apply.
var ErrNoMutationCount = errors.New("sparql: Blazegraph update answer has no mutation count")

// BlazegraphEndpoint returns the SPARQL endpoint URL of a Blazegraph
// namespace, <base>/bigdata/namespace/<namespace>/sparql, as WDQS's
// RdfClient addresses it (base is e.g. http://localhost:9999, WDQS's
// namespace is "wdq"). The namespace is path-escaped; base must be an
// http(s) URL without query or fragment.
func BlazegraphEndpoint(base, namespace string) (string, error) {
	if namespace == "" {
		return "", errors.New("sparql: empty Blazegraph namespace")
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("sparql: Blazegraph base URL %q: %w", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("sparql: Blazegraph base URL %q: want an http(s) URL with a host and no query", base)
	}
	return strings.TrimRight(base, "/") + "/bigdata/namespace/" + url.PathEscape(namespace) + "/sparql", nil
}

// BlazegraphUpdate is what Blazegraph reports about one update request.
type BlazegraphUpdate struct {
	// MutationCount is the number of statements the request added or
	// removed (the COMMIT line's mutationCount, or the bulk answer's
	// modified="…"). Idempotent re-inserts do not count, so it is lower than
	// the triples sent when a batch repeats what the store holds.
	MutationCount int64
	// Operations is the number of per-operation report lines ("totalElapsed=…"
	// before the COMMIT line): one per operation Blazegraph executed.
	Operations int
	// TotalElapsed is the COMMIT line's totalElapsed (or the bulk answer's
	// milliseconds); 0 when absent or unreadable, which does not make the
	// answer an error (WDQS's broken-response fixture has garbage there).
	TotalElapsed time.Duration
}

// ParseBlazegraphUpdate reads the mutation count from Blazegraph's answer to
// an update: either the HTML report, whose last paragraph is
// "COMMIT: totalElapsed=29ms, commitTime=…, mutationCount=4", or the bulk XML
// answer <data modified="4" milliseconds="29"/>. This is WDQS's
// BlazegraphUpdateCountResponseHandler, with one difference: the timing
// fields are parsed leniently (only the count is required), so an answer
// with garbled timings still yields its count. It returns ErrNoMutationCount
// when there is no count, or it is not a non-negative integer.
func ParseBlazegraphUpdate(body []byte) (*BlazegraphUpdate, error) {
	r := &BlazegraphUpdate{Operations: bytes.Count(body, []byte("<p>totalElapsed="))}
	if i := bytes.LastIndex(body, []byte("COMMIT:")); i >= 0 {
		line := body[i+len("COMMIT:"):]
		if j := bytes.IndexByte(line, '<'); j >= 0 {
			line = line[:j]
		}
		fields := blazegraphFields(string(line))
		n, ok := fields["mutationCount"]
		if !ok {
			return nil, fmt.Errorf("%w: COMMIT line %q", ErrNoMutationCount, truncateForError(string(line)))
		}
		count, err := strconv.ParseInt(n, 10, 64)
		if err != nil || count < 0 {
			return nil, fmt.Errorf("%w: mutationCount=%q", ErrNoMutationCount, truncateForError(n))
		}
		r.MutationCount = count
		r.TotalElapsed = blazegraphMillis(fields["totalElapsed"])
		return r, nil
	}
	if i := bytes.Index(body, []byte("<data ")); i >= 0 {
		tag := body[i:]
		if j := bytes.IndexByte(tag, '>'); j >= 0 {
			tag = tag[:j]
		}
		modified, ok := xmlAttr(string(tag), "modified")
		if !ok {
			return nil, fmt.Errorf("%w: bulk answer without modified=", ErrNoMutationCount)
		}
		count, err := strconv.ParseInt(modified, 10, 64)
		if err != nil || count < 0 {
			return nil, fmt.Errorf("%w: modified=%q", ErrNoMutationCount, truncateForError(modified))
		}
		r.MutationCount = count
		if ms, ok := xmlAttr(string(tag), "milliseconds"); ok {
			r.TotalElapsed = blazegraphMillis(ms)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: no COMMIT line and no <data> element in %d bytes", ErrNoMutationCount, len(body))
}

// blazegraphFields splits "k=v, k=v" into a map, trimming spaces.
func blazegraphFields(s string) map[string]string {
	m := make(map[string]string)
	for _, f := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

// blazegraphMillis reads "29ms" or "29" as milliseconds; 0 if unreadable.
func blazegraphMillis(s string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSuffix(s, "ms"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Millisecond
}

// xmlAttr returns the value of name="…" in an element's text.
func xmlAttr(tag, name string) (string, bool) {
	i := strings.Index(tag, " "+name+`="`)
	if i < 0 {
		return "", false
	}
	rest := tag[i+len(name)+3:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

func truncateForError(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
