package rdfdiff

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// q42Copies is how many copies of Q42's body the "large" inputs hold. One
// Q42 (200 kB) parses in about a millisecond, which is the order of a
// process start-up, so the comparison with serdi uses a 4 MB document.
const q42Copies = 20

func loadQ42(b *testing.B) []byte {
	b.Helper()
	doc, err := os.ReadFile("testdata/rdf-entities/raw/Q42.ttl")
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

// largeQ42 returns Q42.ttl with its body (everything after the prefix
// block) repeated n times, each copy with its own blank node labels so that
// the document means n times as many distinct nodes as Q42 does.
func largeQ42(b *testing.B, n int) []byte {
	doc := string(loadQ42(b))
	i := strings.LastIndex(doc, "@prefix")
	i += strings.IndexByte(doc[i:], '\n') + 1
	head, body := doc[:i], doc[i:]
	var out strings.Builder
	out.WriteString(head)
	for k := range n {
		out.WriteString(strings.ReplaceAll(body, "_:", fmt.Sprintf("_:c%d", k)))
	}
	return []byte(out.String())
}

// benchParse runs parse over doc and reports bytes/s, allocations per
// triple and triples per second.
func benchParse(b *testing.B, doc []byte, parse func([]byte) ([]Triple, error)) {
	ts, err := parse(doc)
	if err != nil {
		b.Fatal(err)
	}
	n := len(ts)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := parse(doc); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(b.N) * float64(n)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/triple")
	b.ReportMetric(total/elapsed.Seconds(), "triples/s")
}

func parseTurtleDoc(doc []byte) ([]Triple, error) { return ParseTurtleBytes(doc) }

// BenchmarkParseTurtleQ42 parses one Wikidata entity, the producer's unit
// of work, again and again: the pooled parser finds the short terms of the
// previous parse in its intern table, as it finds the predicates and common
// values of the previous entities in production.
func BenchmarkParseTurtleQ42(b *testing.B) {
	benchParse(b, loadQ42(b), parseTurtleDoc)
}

// BenchmarkParseTurtleQ42Cold parses Q42 with a new parser each time, so
// that nothing is found in the intern table of an earlier parse: the cost
// of an entity whose terms the process has never seen.
func BenchmarkParseTurtleQ42Cold(b *testing.B) {
	benchParse(b, loadQ42(b), func(doc []byte) ([]Triple, error) {
		return new(parser).parseDocument(doc, &parseOptions{}, false)
	})
}

// BenchmarkParseTurtleQ42x20 parses the 4 MB document BenchmarkSerdiQ42x20
// gives serdi: the side-by-side comparison.
func BenchmarkParseTurtleQ42x20(b *testing.B) {
	benchParse(b, largeQ42(b, q42Copies), parseTurtleDoc)
}

// BenchmarkTurtleReaderQ42x20 streams the same document through a
// TripleReader, as a dump loader would.
func BenchmarkTurtleReaderQ42x20(b *testing.B) {
	benchParse(b, largeQ42(b, q42Copies), func(doc []byte) ([]Triple, error) {
		r := NewTurtleReader(bytes.NewReader(doc))
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				return make([]Triple, n), nil
			}
			if err != nil {
				return nil, err
			}
			n++
		}
	})
}

// BenchmarkParseNTriples parses Q42 converted to N-Triples.
func BenchmarkParseNTriples(b *testing.B) {
	ts, err := ParseTurtleBytes(loadQ42(b))
	if err != nil {
		b.Fatal(err)
	}
	var nt bytes.Buffer
	for _, t := range ts {
		nt.WriteString(t.String())
		nt.WriteByte('\n')
	}
	benchParse(b, nt.Bytes(), func(doc []byte) ([]Triple, error) { return ParseNTriplesBytes(doc) })
}

// BenchmarkSerdiQ42x20 runs Debian's serdi (the C Turtle parser of the serd
// library) on the same 4 MB document as BenchmarkParseTurtleQ42x20.
//
// To keep the comparison fair:
//   - the document is large enough (4 MB, ~89k triples) that serdi's process
//     start-up is a small part of each run; it is measured on its own (serdi
//     on a one-triple file, best of 10) and reported as startup-ns, and
//     triples/s-excl-startup subtracts it;
//   - serdi reads the file itself and writes N-Triples with -b (bulk output)
//     straight to /dev/null, so no Go pipe copying is counted; serdi still
//     pays for writing its output, which our parser does not do, so the
//     comparison slightly favours Go.
//
// It is skipped when serdi is not installed (it is not needed by CI).
func BenchmarkSerdiQ42x20(b *testing.B) {
	serdi, err := exec.LookPath("serdi")
	if err != nil {
		b.Skip("serdi not installed (Debian package serdi)")
	}
	doc := largeQ42(b, q42Copies)
	dir := b.TempDir()
	big := filepath.Join(dir, "q42x20.ttl")
	tiny := filepath.Join(dir, "tiny.ttl")
	if err := os.WriteFile(big, doc, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(tiny, []byte("<http://x/s> <http://x/p> <http://x/o> .\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	run := func(file string) time.Duration {
		cmd := exec.Command(serdi, "-q", "-b", "-i", "turtle", "-o", "ntriples", file)
		cmd.Stdout = devNull
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("serdi: %v: %s", err, stderr.String())
		}
		return time.Since(start)
	}
	startup := time.Hour
	for range 10 {
		startup = min(startup, run(tiny))
	}
	ts, err := ParseTurtleBytes(doc)
	if err != nil {
		b.Fatal(err)
	}
	n := float64(len(ts))
	b.SetBytes(int64(len(doc)))
	b.ResetTimer()
	var total time.Duration
	for b.Loop() {
		total += run(big)
	}
	b.StopTimer()
	runs := float64(b.N)
	b.ReportMetric(float64(startup.Nanoseconds()), "startup-ns")
	b.ReportMetric(n*runs/total.Seconds(), "triples/s")
	if excl := total.Seconds() - runs*startup.Seconds(); excl > 0 {
		b.ReportMetric(n*runs/excl, "triples/s-excl-startup")
	}
}
