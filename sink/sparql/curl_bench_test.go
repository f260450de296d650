package sparql

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/internal/rdftest"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

// BenchmarkOxigraphVersusCurl measures the triples per second the sink's
// path applies to Oxigraph — UpdateBuilder builds each request (data plus
// commit point) from a ConsolidatedPatch and Client.Update posts it — against
// curl posting the very same request bodies, in the same run, for batches of
// 100, 1 000 and 10 000 triples.
//
// curl runs as one process per chunk of requests (a sixth of a round),
// reading a -K config with one request per body separated by "next", so that
// it reuses its connection (keep-alive, as the Go client does) and its
// process start is paid once per chunk, not per request; that start,
// measured as the fastest of five curl runs posting one empty ASK, is
// subtracted from each chunk's time (reported as curl-start-ms): what is
// compared is the HTTP posting, not fork/exec. curl is
// told not to send "Expect: 100-continue" (the Go client never does), so
// that it does not wait for an interim answer before large bodies. Each
// chunk is sent both ways, each time into an emptied graph, alternating which
// goes first, so that neither side inherits a larger store and both are
// measured under the same load. The triples are real Wikidata data (Q42, IRIs renamed per copy so
// that every request inserts new triples).
//
// Reported: client-triples/s, curl-triples/s and client/curl (the target is
// ≥ 0.9). The sink's side includes building the request; curl's bodies are
// built before its clock starts.
//
//	STREAMKIT_OXIGRAPH_URL=http://127.0.0.1:7878/sparql go test -run '^$' \
//	    -bench BenchmarkOxigraphVersusCurl -benchtime 6x -count 3 ./sink
func BenchmarkOxigraphVersusCurl(b *testing.B) {
	endpoint := os.Getenv("STREAMKIT_OXIGRAPH_URL")
	if endpoint == "" {
		b.Skip("STREAMKIT_OXIGRAPH_URL not set")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		b.Skip("curl not installed")
	}
	c := storeClient(b, "STREAMKIT_OXIGRAPH_URL")
	q42 := dsStoreSafe(rdftest.Turtle(b, "graph", "Q42-munged.ttl"))
	for _, batch := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchVersusCurl(b, "STREAMKIT_OXIGRAPH_URL", c, curl, endpoint, q42, batch)
		})
	}
}

// benchCopy renames q42's entity, statement, value and reference IRIs for
// copy n, so that each copy is new data for the store.
func benchCopy(q42 []rdfdiff.Triple, n int) []rdfdiff.Triple {
	suffix := fmt.Sprintf("-c%d", n)
	ent := wd.EntityIRI("Q42")
	term := func(t rdfdiff.Term) rdfdiff.Term {
		if t.IsIRI() && (t.Value() == ent || t.HasPrefix(wd.StatementPrefix()) || wd.InValueNamespace(t) || wd.InReferenceNamespace(t)) {
			return rdfdiff.NewIRI(t.Value() + suffix)
		}
		return t
	}
	out := make([]rdfdiff.Triple, len(q42))
	for i, tr := range q42 {
		out[i] = rdfdiff.Triple{S: term(tr.S), P: tr.P, O: term(tr.O)}
	}
	return out
}

// benchVersusCurl runs the comparison on the store named by env. On
// Blazegraph (a fresh namespace, its default graph; c's endpoint) the
// client's side also parses the mutation count from each answer, as the sink
// does, and a success is a 200 (Oxigraph answers 204).
func benchVersusCurl(b *testing.B, env string, c *Client, curl, endpoint string, q42 []rdfdiff.Triple, batch int) {
	ctx := context.Background()
	graph, commitGraph, code := storeGraph(b, env), "", "204"
	if graph != "" {
		commitGraph = graph + "/commit"
	}
	ub, err := NewUpdateBuilder(wd, WithDataGraph(graph), WithCommitGraph(commitGraph))
	require.NoError(b, err)
	drop := func() {
		if graph == "" {
			require.NoError(b, c.Update(ctx, "CLEAR ALL"))
			return
		}
		require.NoError(b, c.Update(ctx, dropGraphs(graph, commitGraph)))
	}
	blazegraph := isBlazegraph(env)
	if blazegraph {
		code = "200"
	}
	b.Cleanup(drop)
	// About 30 000 triples per round (at least 6 requests), so that a round
	// takes long enough to time and curl's one process start is amortised.
	requests := max(6, 30_000/batch)
	dir := b.TempDir()

	// The requests of a round: patches with their commit points, the
	// bodies built from them, and curl's config posting those bodies.
	var (
		patches []*rdfdiff.ConsolidatedPatch
		cps     []*streamkit.CommitPoint
		bodies  []string
		pool    []rdfdiff.Triple
		copies  int
		bytes   int
	)
	// The requests go in chunks, alternating client and curl chunk by chunk
	// (and which goes first), each starting from an empty graph: on a loaded
	// machine that pairs measurements taken seconds apart, not a minute.
	chunk := max(1, requests/6)
	var cfgs []string
	var cfg strings.Builder
	for i := range requests {
		for len(pool) < batch {
			pool = append(pool, benchCopy(q42, copies)...)
			copies++
		}
		p := &rdfdiff.ConsolidatedPatch{}
		p.Added, pool = pool[:batch:batch], pool[batch:]
		cp := &streamkit.CommitPoint{Job: "bench", CheckpointID: uint64(i + 1), Positions: source.Positions{{Topic: diffTopic}: int64(i * batch)}}
		body, err := ub.Build(p, cp)
		require.NoError(b, err)
		file := filepath.Join(dir, fmt.Sprintf("%d.ru", i))
		require.NoError(b, os.WriteFile(file, []byte(body), 0o600))
		if i%chunk != 0 {
			cfg.WriteString("next\n")
		}
		fmt.Fprintf(&cfg, "url = %q\ndata-binary = \"@%s\"\nheader = \"Content-Type: application/sparql-update; charset=UTF-8\"\nheader = \"Expect:\"\n"+
			"output = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", endpoint, file)
		patches, cps, bodies = append(patches, p), append(cps, cp), append(bodies, body)
		bytes += len(body)
		if (i+1)%chunk == 0 || i == requests-1 {
			file := filepath.Join(dir, fmt.Sprintf("curl-%d.cfg", len(cfgs)))
			require.NoError(b, os.WriteFile(file, []byte(cfg.String()), 0o600))
			cfgs = append(cfgs, file)
			cfg.Reset()
		}
	}

	// viaClient sends requests [from, to) the sink's way.
	viaClient := func(from, to int) time.Duration {
		start := time.Now()
		for i := from; i < to; i++ {
			req, err := ub.Build(patches[i], cps[i])
			if err != nil {
				b.Fatal(err)
			}
			if !blazegraph {
				if err := c.Update(ctx, req); err != nil {
					b.Fatal(err)
				}
				continue
			}
			resp, err := c.UpdateResponse(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ParseBlazegraphUpdate(resp.Body); err != nil {
				b.Fatal(err)
			}
		}
		d := time.Since(start)
		// Outside the clock: the client sent exactly curl's bodies.
		last, err := ub.Build(patches[to-1], cps[to-1])
		require.NoError(b, err)
		require.Equal(b, bodies[to-1], last)
		return d
	}
	// viaCurl posts the same bodies with one curl process.
	viaCurl := func(cfgFile string, n int, code string) time.Duration {
		start := time.Now()
		out, err := exec.Command(curl, "-sS", "-K", cfgFile).CombinedOutput()
		d := time.Since(start)
		require.NoError(b, err, "%s", out)
		codes := strings.Fields(string(out))
		require.Len(b, codes, n, "%s", out)
		for _, got := range codes {
			require.Equal(b, code, got, "%s", out)
		}
		return d
	}
	// curl's process start (fork, exec, dynamic linking, reading the
	// config: ~5 ms on an idle machine, 50 ms and more on a loaded one) is
	// not HTTP posting: measure it with a config holding one tiny ASK, take
	// the fastest of five, and subtract it from every curl chunk.
	askCfg := filepath.Join(dir, "ask.cfg")
	require.NoError(b, os.WriteFile(askCfg, []byte(fmt.Sprintf("url = %q\nheader = \"Content-Type: application/sparql-query\"\n"+
		"data-binary = \"ASK {}\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", endpoint)), 0o600))
	start := time.Duration(1 << 62)
	for range 5 {
		start = min(start, viaCurl(askCfg, 1, "200"))
	}
	timed := func(f func() time.Duration) time.Duration {
		d := f()
		b.StopTimer()
		drop()
		b.StartTimer()
		return d
	}

	drop()
	var client, raw time.Duration
	round := 0
	b.ResetTimer()
	for b.Loop() {
		for j, file := range cfgs {
			from, to := j*chunk, min((j+1)*chunk, requests)
			if (round+j)%2 == 0 {
				client += timed(func() time.Duration { return viaClient(from, to) })
				raw += timed(func() time.Duration { return viaCurl(file, to-from, code) - start })
			} else {
				raw += timed(func() time.Duration { return viaCurl(file, to-from, code) - start })
				client += timed(func() time.Duration { return viaClient(from, to) })
			}
		}
		round++
	}
	triples := float64(requests * batch * round)
	b.ReportMetric(triples/client.Seconds(), "client-triples/s")
	b.ReportMetric(triples/raw.Seconds(), "curl-triples/s")
	b.ReportMetric(raw.Seconds()/client.Seconds(), "client/curl")
	b.ReportMetric(float64(bytes)/float64(requests), "B/request")
	b.ReportMetric(float64(start.Microseconds())/1000, "curl-start-ms")
}
