package rdfdiff

import (
	"cmp"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The W3C RDF 1.1 Turtle and N-Triples test suites, run when
// STREAMKIT_W3C_TURTLE_DIR / STREAMKIT_W3C_NTRIPLES_DIR name a directory
// holding the suite (manifest.ttl and the test files), e.g. a checkout of
// github.com/w3c/rdf-tests at rdf/rdf11/rdf-turtle. The manifest is read
// with our own Turtle parser. Each test's document is parsed with the base
// IRI mf:assumedTestBase + file name, as the suite prescribes. Evaluation
// tests compare the result with the expected N-Triples as graphs, up to
// blank node renaming.

const (
	mfNS   = "http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#"
	rdftNS = "http://www.w3.org/ns/rdftest#"
)

func TestW3CTurtleSuite(t *testing.T) {
	runW3CSuite(t, "STREAMKIT_W3C_TURTLE_DIR", "http://www.w3.org/2013/TurtleTests/")
}

func TestW3CNTriplesSuite(t *testing.T) {
	runW3CSuite(t, "STREAMKIT_W3C_NTRIPLES_DIR", "http://www.w3.org/2013/N-TriplesTests/")
}

// w3cTest is one manifest entry.
type w3cTest struct {
	name, kind, action, result string
}

func runW3CSuite(t *testing.T, env, defaultBase string) {
	dir := os.Getenv(env)
	if dir == "" {
		t.Skipf("set %s to a W3C test suite directory (with manifest.ttl) to run it", env)
	}
	doc, err := os.ReadFile(filepath.Join(dir, "manifest.ttl"))
	require.NoError(t, err)
	base := defaultBase
	manifest, err := ParseTurtleBytes(doc, WithBaseIRI(base+"manifest.ttl"), WithFileName("manifest.ttl"))
	require.NoError(t, err)
	tests, assumedBase := readManifest(t, manifest)
	if assumedBase != "" {
		base = assumedBase
	}
	require.NotEmpty(t, tests, "manifest lists no tests")

	var passed, failed, skipped int
	var failures []string
	for _, tc := range tests {
		ok := t.Run(tc.name, func(t *testing.T) {
			file := path.Base(tc.action)
			input, err := os.ReadFile(filepath.Join(dir, file))
			if os.IsNotExist(err) {
				skipped++
				t.Skipf("%s not in %s", file, dir)
			}
			require.NoError(t, err)
			got, perr := parseW3C(tc.kind, input, base+file, file)
			switch tc.kind {
			case "TestTurtlePositiveSyntax", "TestNTriplesPositiveSyntax":
				require.NoError(t, perr)
			case "TestTurtleNegativeSyntax", "TestNTriplesNegativeSyntax", "TestTurtleNegativeEval":
				require.Error(t, perr, "parsed %d triples from a bad document", len(got))
			case "TestTurtleEval":
				require.NoError(t, perr)
				resFile := path.Base(tc.result)
				res, err := os.ReadFile(filepath.Join(dir, resFile))
				if os.IsNotExist(err) {
					skipped++
					t.Skipf("%s not in %s", resFile, dir)
				}
				require.NoError(t, err)
				want, err := ParseNTriplesBytes(res, WithFileName(resFile))
				require.NoError(t, err, "expected result does not parse")
				assert.True(t, isomorphic(got, want), "graphs differ:\ngot:\n%s\nwant:\n%s",
					strings.Join(ntLines(got), "\n"), strings.Join(ntLines(want), "\n"))
			default:
				skipped++
				t.Skipf("unknown test type %s", tc.kind)
			}
		})
		switch {
		case !ok:
			failed++
			failures = append(failures, tc.name)
		}
	}
	passed = len(tests) - failed - skipped
	t.Logf("%s: %d tests, %d passed, %d failed, %d skipped", env, len(tests), passed, failed, skipped)
	if failed > 0 {
		t.Logf("failed: %s", strings.Join(failures, ", "))
	}
}

func parseW3C(kind string, input []byte, base, file string) ([]Triple, error) {
	if strings.HasPrefix(kind, "TestNTriples") {
		return ParseNTriplesBytes(input, WithFileName(file))
	}
	return ParseTurtleBytes(input, WithBaseIRI(base), WithFileName(file))
}

// readManifest extracts the entries of the mf:Manifest, in list order, and
// mf:assumedTestBase if the manifest gives one.
func readManifest(t *testing.T, ts []Triple) ([]w3cTest, string) {
	props := make(map[Term]map[Term]Term)
	for _, tr := range ts {
		if props[tr.S] == nil {
			props[tr.S] = make(map[Term]Term)
		}
		props[tr.S][tr.P] = tr.O
	}
	var manifest Term
	for s, ps := range props {
		if ps[termRDFType] == NewIRI(mfNS+"Manifest") {
			manifest = s
		}
	}
	require.False(t, manifest.IsZero(), "no mf:Manifest")
	assumed := props[manifest][NewIRI(mfNS+"assumedTestBase")].Value()
	var tests []w3cTest
	for node := props[manifest][NewIRI(mfNS+"entries")]; node != termRDFNil && !node.IsZero(); node = props[node][termRDFRest] {
		e := props[node][termRDFFirst]
		kind := props[e][termRDFType].Value()
		tests = append(tests, w3cTest{
			name:   props[e][NewIRI(mfNS+"name")].Value(),
			kind:   strings.TrimPrefix(kind, rdftNS),
			action: props[e][NewIRI(mfNS+"action")].Value(),
			result: props[e][NewIRI(mfNS+"result")].Value(),
		})
	}
	return tests, assumed
}

// isomorphic reports whether two graphs are the same up to a renaming of
// blank nodes. It refines blank node "colours" from their surroundings
// (as in canonical labelling) and then searches for a bijection among
// equally coloured nodes, which is immediate for the suites' small graphs.
func isomorphic(a, b []Triple) bool {
	sa, sb := tripleSetOf(a), tripleSetOf(b)
	if len(sa) != len(sb) {
		return false
	}
	var bnA, bnB []Term
	for tr := range sa {
		if !tr.S.IsBlankNode() && !tr.O.IsBlankNode() && !sb[tr] {
			return false
		}
		bnA = appendBlanks(bnA, tr)
	}
	for tr := range sb {
		bnB = appendBlanks(bnB, tr)
	}
	bnA, bnB = uniqTerms(bnA), uniqTerms(bnB)
	if len(bnA) != len(bnB) {
		return false
	}
	ids := make(map[string]int) // shared signature -> colour
	colA, colB := map[Term]int{}, map[Term]int{}
	for _, n := range bnA {
		colA[n] = 0
	}
	for _, n := range bnB {
		colB[n] = 0
	}
	for range len(bnA) + 1 {
		nA, nB := refine(sa, colA, ids), refine(sb, colB, ids)
		stable := countColours(nA) == countColours(colA) && countColours(nB) == countColours(colB)
		colA, colB = nA, nB
		if stable {
			break
		}
	}
	// Candidates: same colour.
	slices.SortFunc(bnA, func(x, y Term) int { return cmp.Compare(colA[x], colA[y]) })
	m := make(map[Term]Term, len(bnA))
	used := make(map[Term]bool, len(bnB))
	var search func(i int) bool
	search = func(i int) bool {
		if i == len(bnA) {
			for tr := range sa {
				if !sb[Triple{mapBlank(m, tr.S), tr.P, mapBlank(m, tr.O)}] {
					return false
				}
			}
			return true
		}
		for _, c := range bnB {
			if !used[c] && colB[c] == colA[bnA[i]] {
				m[bnA[i]], used[c] = c, true
				if search(i + 1) {
					return true
				}
				delete(m, bnA[i])
				used[c] = false
			}
		}
		return false
	}
	return search(0)
}

func tripleSetOf(ts []Triple) map[Triple]bool {
	s := make(map[Triple]bool, len(ts))
	for _, t := range ts {
		s[t] = true
	}
	return s
}

func appendBlanks(dst []Term, tr Triple) []Term {
	if tr.S.IsBlankNode() {
		dst = append(dst, tr.S)
	}
	if tr.O.IsBlankNode() {
		dst = append(dst, tr.O)
	}
	return dst
}

func uniqTerms(ts []Term) []Term {
	slices.SortFunc(ts, Term.Compare)
	return slices.Compact(ts)
}

func mapBlank(m map[Term]Term, t Term) Term {
	if t.IsBlankNode() {
		return m[t]
	}
	return t
}

// refine gives each blank node a colour from its current colour and the
// sorted descriptions of the triples it takes part in.
func refine(set map[Triple]bool, col map[Term]int, ids map[string]int) map[Term]int {
	desc := func(t Term) string {
		if t.IsBlankNode() {
			return fmt.Sprintf("#%d", col[t])
		}
		return t.String()
	}
	sigs := make(map[Term][]string, len(col))
	for tr := range set {
		if tr.S.IsBlankNode() {
			sigs[tr.S] = append(sigs[tr.S], "s "+tr.P.String()+" "+desc(tr.O))
		}
		if tr.O.IsBlankNode() {
			sigs[tr.O] = append(sigs[tr.O], "o "+desc(tr.S)+" "+tr.P.String())
		}
	}
	out := make(map[Term]int, len(col))
	for n := range col {
		s := sigs[n]
		slices.Sort(s)
		key := fmt.Sprintf("%d|%s", col[n], strings.Join(s, "|"))
		id, ok := ids[key]
		if !ok {
			id = len(ids) + 1
			ids[key] = id
		}
		out[n] = id
	}
	return out
}

func countColours(col map[Term]int) int {
	seen := make(map[int]bool)
	for _, c := range col {
		seen[c] = true
	}
	return len(seen)
}

func TestIsomorphic(t *testing.T) {
	parse := func(s string) []Triple {
		ts, err := ParseNTriples(strings.NewReader(s))
		require.NoError(t, err)
		return ts
	}
	a := parse("_:a <http://x/p> _:b .\n_:b <http://x/p> _:a .\n_:c <http://x/q> \"1\" .\n")
	b := parse("_:y <http://x/p> _:z .\n_:z <http://x/p> _:y .\n_:w <http://x/q> \"1\" .\n")
	assert.True(t, isomorphic(a, b))
	c := parse("_:y <http://x/p> _:y .\n_:z <http://x/p> _:z .\n_:w <http://x/q> \"1\" .\n")
	assert.False(t, isomorphic(a, c), "a 2-cycle is not two self-loops")
	d := parse("_:y <http://x/p> _:z .\n_:z <http://x/p> _:y .\n_:w <http://x/q> \"2\" .\n")
	assert.False(t, isomorphic(a, d))
	assert.True(t, isomorphic(parse("<http://x/s> <http://x/p> <http://x/o> .\n"), parse("<http://x/s> <http://x/p> <http://x/o> .\n")))
	assert.False(t, isomorphic(parse("<http://x/s> <http://x/p> <http://x/o> .\n"), parse("<http://x/s> <http://x/p> <http://x/o2> .\n")))
}
