package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

const (
	rev1 = "testdata/sitelink_class_rev_1.ttl"
	rev2 = "testdata/sitelink_class_rev_2.ttl"
)

// runCLI runs the command in-process and returns its exit status and output.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func parseFile(t *testing.T, name string) []rdfdiff.Triple {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	ts, err := rdfdiff.ParseTurtle(f, "")
	require.NoError(t, err)
	return ts
}

// expectedBuckets renders the WDQS golden files of the sitelink
// reclassification test the way diff prints buckets.
func expectedBuckets(t *testing.T) string {
	t.Helper()
	var b []byte
	for _, s := range []struct{ header, file string }{
		{"# added", "added"}, {"# removed", "removed"},
		{"# linked-shared", "linkedshared"}, {"# unlinked-shared", "unlinkedshared"},
	} {
		ts := parseFile(t, "testdata/sitelink_class_diff_rev_1_2_"+s.file+".ttl")
		require.NotEmpty(t, ts)
		rdfdiff.SortTriples(ts)
		b = append(b, s.header+"\n"...)
		b = rdfdiff.AppendNTriples(b, ts)
	}
	return string(b)
}

// The WDQS test SiteLinksReclassificationUnitTest munges the two revisions
// as Q2 without skolemization, diffs them and reclassifies sitelinks; the
// tool must print exactly its expected buckets.
func TestDiffMatchesWDQSSitelinkReclassification(t *testing.T) {
	want := expectedBuckets(t)
	for _, args := range [][]string{
		{"diff", "-munge", "wikidata", "-entity", "Q2", rev1, rev2},
		{"diff", "-munge", "wikidata", rev1, rev2}, // entity from data:Q2 schema:about wd:Q2
	} {
		code, out, errOut := runCLI(t, "", args...)
		require.Equal(t, 0, code, errOut)
		assert.Empty(t, errOut)
		assert.Equal(t, want, out, "args %q", args)
	}
}

func TestDiffWithoutReclassification(t *testing.T) {
	code, out, errOut := runCLI(t, "", "diff", "-munge", "wikidata", "-reclassify=false", rev1, rev2)
	require.Equal(t, 0, code, errOut)
	sections := strings.SplitAfter(out, "# ")
	require.Len(t, sections, 5)
	// Without the consumer's reclassification the sitelink blocks stay in
	// added and removed; only the wikiGroup declarations are shared.
	assert.Contains(t, out, "# linked-shared\n<https://simple.wikipedia.org/> <http://wikiba.se/ontology#wikiGroup> \"wikipedia\" .\n# unlinked-shared\n")
	assert.Contains(t, out, "<https://hr.wikipedia.org/wiki/Zemlja> <http://schema.org/name> \"Zemlja\"@hr .\n")
	added := out[strings.Index(out, "# added"):strings.Index(out, "# removed")]
	assert.Contains(t, added, "<https://hr.wikipedia.org/wiki/Zemlja> <http://schema.org/name>")
}

func TestDiffStdinAndSameFile(t *testing.T) {
	doc, err := os.ReadFile(rev1)
	require.NoError(t, err)
	code, out, errOut := runCLI(t, string(doc), "diff", "-munge", "wikidata", "-", rev1)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "# added\n# removed\n# linked-shared\n# unlinked-shared\n", out)
}

func TestDiffEvents(t *testing.T) {
	args := []string{"diff", "-munge", "wikidata", "-event", "-soft-max", "300", "-domain", "test.wikidata.org",
		"-stream", "rdf-streaming-updater.mutation-main", "-request-id", "req-42", rev1, rev2}
	code, out, errOut := runCLI(t, "", args...)
	require.Equal(t, 0, code, errOut)
	_, again, _ := runCLI(t, "", args...)
	assert.Equal(t, out, again, "event output is reproducible")

	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Greater(t, len(lines), 1, "a small soft limit gives several chunks")
	r := rdfdiff.NewReassembler()
	var got *rdfdiff.EntityChange
	ids := map[string]bool{}
	for i, line := range lines {
		ev, err := rdfdiff.DecodeEvent([]byte(line))
		require.NoError(t, err, "line %d", i)
		assert.Equal(t, rdfdiff.SchemaRDFChangeV2, ev.Schema)
		assert.Equal(t, "test.wikidata.org", ev.Meta.Domain)
		assert.Equal(t, "rdf-streaming-updater.mutation-main", ev.Meta.Stream)
		assert.Equal(t, "req-42", ev.Meta.RequestID)
		assert.Equal(t, "2020-01-02T00:00:00Z", rdfdiff.FormatEventTime(ev.Meta.DT))
		assert.False(t, ids[ev.Meta.ID], "meta.id is unique per chunk")
		ids[ev.Meta.ID] = true
		c, err := r.Add(ev, i)
		require.NoError(t, err)
		if i < len(lines)-1 {
			assert.Nil(t, c)
		} else {
			got = c
		}
	}
	require.NotNil(t, got)
	assert.Equal(t, "Q2", got.EntityID)
	assert.Equal(t, int64(2), got.Revision)
	assert.Equal(t, rdfdiff.OpDiff, got.Operation)
	assert.Equal(t, "2020-01-02T00:00:00Z", rdfdiff.FormatEventTime(got.EventTime))

	// The events carry the producer's buckets: the diff before the
	// consumer's sitelink reclassification.
	m := rdfdiff.NewMunger(rdfdiff.WikidataScheme(), rdfdiff.MungeSkolemize(false))
	old, err := m.Munge("Q2", parseFile(t, rev1))
	require.NoError(t, err)
	cur, err := m.Munge("Q2", parseFile(t, rev2))
	require.NoError(t, err)
	want := rdfdiff.Diff(old, cur, rdfdiff.WikibaseShared(rdfdiff.WikidataScheme()))
	for _, b := range []*[]rdfdiff.Triple{&got.Patch.Added, &got.Patch.Removed, &got.Patch.LinkedShared, &got.Patch.UnlinkedShared} {
		rdfdiff.SortTriples(*b)
	}
	assert.Equal(t, want, got.Patch)
}

func TestDiffImportAndDeleteEvents(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.ttl")
	require.NoError(t, os.WriteFile(empty, []byte("# no entity\n"), 0o644))

	code, out, errOut := runCLI(t, "", "diff", "-munge", "wikidata", "-event", empty, rev2)
	require.Equal(t, 0, code, errOut)
	ev, err := rdfdiff.DecodeEvent([]byte(strings.TrimSpace(out)))
	require.NoError(t, err)
	assert.Equal(t, rdfdiff.OpImport, ev.Operation)
	assert.Equal(t, "Q2", ev.EntityID)
	assert.NotNil(t, ev.Added)
	assert.Nil(t, ev.Deleted)

	code, out, errOut = runCLI(t, "", "diff", "-munge", "wikidata", "-event", "-dt", "2020-01-03T00:00:00Z", rev1, empty)
	require.Equal(t, 0, code, errOut)
	ev, err = rdfdiff.DecodeEvent([]byte(strings.TrimSpace(out)))
	require.NoError(t, err)
	assert.Equal(t, rdfdiff.OpDelete, ev.Operation)
	assert.Equal(t, "Q2", ev.EntityID)
	assert.Equal(t, "2020-01-03T00:00:00Z", rdfdiff.FormatEventTime(ev.EventTime))
	assert.Nil(t, ev.Added)
}

func TestParse(t *testing.T) {
	const doc = "@prefix wd: <http://www.wikidata.org/entity/> .\n" +
		"wd:Q2 <http://schema.org/name> \"Earth\"@EN, \"Terre\"@fr ;\n" +
		"  <http://schema.org/version> 2 .\n" +
		"<rel> a wd:Q5 .\n"
	const want = "<http://www.wikidata.org/entity/Q2> <http://schema.org/name> \"Earth\"@en .\n" +
		"<http://www.wikidata.org/entity/Q2> <http://schema.org/name> \"Terre\"@fr .\n" +
		"<http://www.wikidata.org/entity/Q2> <http://schema.org/version> \"2\"^^<http://www.w3.org/2001/XMLSchema#integer> .\n" +
		"<http://example.org/rel> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://www.wikidata.org/entity/Q5> .\n"
	code, out, errOut := runCLI(t, doc, "parse", "-base", "http://example.org/", "-")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, want, out)

	code, out, errOut = runCLI(t, doc, "parse", "-sort", "-base", "http://example.org/", "-")
	require.Equal(t, 0, code, errOut)
	lines := strings.SplitAfter(want, "\n")
	assert.Equal(t, lines[3]+lines[0]+lines[1]+lines[2], out)

	// The tool's output is N-Triples that parses back to itself.
	code, again, errOut := runCLI(t, out, "parse", "-format", "ntriples", "-")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, out, again)
}

func TestParseFixtureRoundTrip(t *testing.T) {
	code, out, errOut := runCLI(t, "", "parse", rev2)
	require.Equal(t, 0, code, errOut)
	ts := parseFile(t, rev2)
	assert.Equal(t, len(ts), strings.Count(out, "\n"))
	back, err := rdfdiff.ParseNTriples(strings.NewReader(out))
	require.NoError(t, err)
	assert.Equal(t, ts, back)
}

func TestSyntaxErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ttl")
	require.NoError(t, os.WriteFile(bad, []byte("<http://x/a> <http://x/b>\n  \"unterminated .\n"), 0o644))
	nt := filepath.Join(dir, "turtle.nt")
	require.NoError(t, os.WriteFile(nt, []byte("<http://x/a> <http://x/b> <http://x/c> .\n<http://x/a> a <http://x/c> .\n"), 0o644))

	tests := []struct {
		name   string
		stdin  string
		args   []string
		prefix string // the FILE:line:col: part of the one stderr line
	}{
		{"turtle file", "", []string{"parse", bad}, bad + ":2:18: "},
		{"ntriples by extension", "", []string{"parse", nt}, nt + ":2:14: "},
		{"stdin", "<http://x/a> <http://x/b> <http://x/c>", []string{"parse", "-"}, "-:1:39: "},
		{"diff names the file at fault", "", []string{"diff", rev1, bad}, bad + ":2:18: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.stdin, tc.args...)
			assert.Equal(t, 1, code)
			assert.Empty(t, out, "nothing is written for a bad document")
			assert.True(t, strings.HasPrefix(errOut, tc.prefix), "stderr %q", errOut)
			assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			assert.Greater(t, len(errOut), len(tc.prefix)+1, "with a message")
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string // the start of the first stderr line
	}{
		{"no command", nil, "usage: rdfdiff <command> [flags] [args]"},
		{"unknown command", []string{"merge"}, `rdfdiff: unknown command "merge"`},
		{"bad flag", []string{"parse", "-x", rev1}, "rdfdiff: parse: flag provided but not defined: -x"},
		{"bad format", []string{"parse", "-format", "xml", rev1}, `rdfdiff: -format must be auto, turtle or ntriples, not "xml"`},
		{"parse arity", []string{"parse", rev1, rev2}, `rdfdiff: parse takes one FILE ("-" for standard input), got 2 arguments`},
		{"diff arity", []string{"diff", rev1}, "rdfdiff: diff takes two files, OLD and NEW, got 1 arguments"},
		{"bad munge", []string{"diff", "-munge", "wikipedia", rev1, rev2}, `rdfdiff: -munge: "wikipedia" is not wikidata, commons, a concept URI or entity=IRI,…: invalid URI scheme: concept URI "wikipedia" is not an absolute http(s) URL`},
		{"both stdin", []string{"diff", "-", "-"}, "rdfdiff: OLD and NEW cannot both be standard input"},
		{"bad dt", []string{"diff", "-event", "-dt", "yesterday", rev1, rev2}, `rdfdiff: -dt: parsing time "yesterday"`},
		{"bad revision", []string{"diff", "-revision", "-2", rev1, rev2}, "rdfdiff: -revision must be -1 (from NEW) or a revision ID, not -2"},
		{"bad soft max", []string{"diff", "-soft-max", "0", rev1, rev2}, "rdfdiff: -soft-max must be at least 1, not 0"},
		{"event without time", []string{"diff", "-event", rev1, rev2}, "rdfdiff: -event needs the event time: pass -dt, or -munge to read NEW's schema:dateModified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			first, _, _ := strings.Cut(errOut, "\n")
			assert.True(t, strings.HasPrefix(first, tc.msg), "stderr %q", errOut)
		})
	}
}

func TestInputErrors(t *testing.T) {
	code, _, errOut := runCLI(t, "", "parse", "testdata/missing.ttl")
	assert.Equal(t, 1, code)
	assert.Equal(t, "rdfdiff: read testdata/missing.ttl: open testdata/missing.ttl: no such file or directory\n", errOut)

	code, _, errOut = runCLI(t, "", "diff", "-munge", "wikidata", "-entity", "Q3", rev1, rev2)
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(errOut, "rdfdiff: "+rev1+": munge Q3: RDF is about another entity: "), errOut)

	other := filepath.Join(t.TempDir(), "q3.ttl")
	doc, err := os.ReadFile(rev2)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(other, bytes.ReplaceAll(doc, []byte("Q2"), []byte("Q3")), 0o644))
	code, _, errOut = runCLI(t, "", "diff", "-munge", "wikidata", rev1, other)
	assert.Equal(t, 1, code)
	assert.Equal(t, "rdfdiff: "+rev1+" is about Q2 but "+other+" is about Q3: pass -entity\n", errOut)
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"parse", "-h"}, {"diff", "-help"}} {
		code, out, errOut := runCLI(t, "", args...)
		assert.Equal(t, 0, code, "%q", args)
		assert.Empty(t, errOut)
		assert.True(t, strings.HasPrefix(out, "usage: rdfdiff "), "%q: %q", args, out)
	}
}

// TestBinaryExitCodes builds the command and runs it as a process, to check
// what a shell sees: exit codes and the streams, beyond run's return value.
func TestBinaryExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "rdfdiff")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tests := []struct {
		args  []string
		stdin string
		code  int
	}{
		{[]string{"diff", "-munge", "wikidata", rev1, rev2}, "", 0},
		{[]string{"parse", "-"}, "<http://x/a> <http://x/b> .", 1},
		{[]string{"parse"}, "", 2},
		{nil, "", 2},
	}
	for _, tc := range tests {
		cmd := exec.Command(bin, tc.args...)
		cmd.Stdin = strings.NewReader(tc.stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		assert.Equal(t, tc.code, code, "%q: stderr %q", tc.args, stderr.String())
		if tc.code == 0 {
			assert.Equal(t, 4, countHeaders(stdout.String()))
		} else {
			assert.NotEmpty(t, stderr.String())
		}
	}
}

func countHeaders(s string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "# ") {
			n++
		}
	}
	return n
}
