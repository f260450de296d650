package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// toExample moves Wikidata's namespaces to those of a Wikibase whose
// entities are http://example.test/Q2.
var toExample = strings.NewReplacer(
	"http://www.wikidata.org/entity/statement/", "http://example.test/statement/",
	"http://www.wikidata.org/entity/", "http://example.test/",
	"http://www.wikidata.org/reference/", "http://example.test/reference/",
	"http://www.wikidata.org/value/", "http://example.test/value/",
	"http://www.wikidata.org/prop/", "http://example.test/prop/",
	"https://www.wikidata.org/wiki/Special:EntityData/", "https://example.test/wiki/Special:EntityData/",
	"http://www.wikidata.org/.well-known/genid/", "http://example.test/.well-known/genid/",
)

func TestDiffMungesAnyWikibase(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, f := range []string{rev1, rev2} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out := filepath.Join(dir, filepath.Base(f))
		require.NoError(t, os.WriteFile(out, []byte(toExample.Replace(string(b))), 0o644))
		files = append(files, out)
	}
	code, want, errOut := runCLI(t, "", "diff", "-munge", "wikidata", "-skolemize", rev1, rev2)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, want, "www.wikidata.org/entity/Q2")

	for _, spec := range []string{"entity=http://example.test/", "entity=http://example.test/,statement=http://example.test/statement/,value=http://example.test/value/"} {
		code, got, errOut := runCLI(t, "", "diff", "-munge", spec, "-skolemize", files[0], files[1])
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, toExample.Replace(want), got, spec)
	}

	code, _, errOut = runCLI(t, "", "diff", "-munge", "entity=http://example.test", files[0], files[1])
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "must end in '/' or '#'")
}

func TestMungeDumpKeepsHeader(t *testing.T) {
	const dump = "testdata/small_dump_chunk.ttl"
	code, out, errOut := runCLI(t, "", "munge", "-dump", dump)
	require.Equal(t, 0, code, errOut)
	d, err := rdfdiff.NewMunger(rdfdiff.WikidataScheme()).MungeDump(parseFile(t, dump))
	require.NoError(t, err)
	assert.Equal(t, string(rdfdiff.AppendNTriples(nil, d.Triples)), out)
	assert.Contains(t, out, `<http://wikiba.se/ontology#Dump> <http://schema.org/softwareVersion> "1.0.0" .`)
	assert.Contains(t, out, `<http://wikiba.se/ontology#Dump> <http://schema.org/dateModified> "2020-03-02T23:24:20Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .`)

	// One entity: no header, and the label options apply.
	code, out, errOut = runCLI(t, "", "munge", "-entity", "Q8", "-label-languages", "fr", dump)
	require.Equal(t, 0, code, errOut)
	assert.NotContains(t, out, "ontology#Dump>")
	assert.Contains(t, out, "<http://www.wikidata.org/entity/Q8> <http://schema.org/version>")
	assert.NotContains(t, out, "Q31")

	code, _, errOut = runCLI(t, "", "munge", "-dump", "-entity", "Q8", dump)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "drop -entity")
	code, _, errOut = runCLI(t, "", "munge", "-scheme", "bogus=1", dump)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown key "bogus"`)
}
