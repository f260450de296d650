package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// A Wikibase whose entities are http://example.test/Q42 is munged in its
// own namespaces when -uris-scheme names them, with WDQS's label options.
func TestURISchemeFlagTakesAnyWikibase(t *testing.T) {
	q42, err := os.ReadFile("../../updater/testdata/entities/Q42.ttl")
	require.NoError(t, err)
	ttl := strings.NewReplacer(
		"http://www.wikidata.org/entity/statement/", "http://example.test/statement/",
		"http://www.wikidata.org/entity/", "http://example.test/",
		"http://www.wikidata.org/reference/", "http://example.test/reference/",
		"http://www.wikidata.org/value/", "http://example.test/value/",
		"http://www.wikidata.org/prop/", "http://example.test/prop/",
		"https://www.wikidata.org/wiki/Special:EntityData/", "https://example.test/wiki/Special:EntityData/",
	).Replace(string(q42))
	srv := httptest.NewServer(updater.EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		return []byte(ttl), id == "Q42" && rev == 1997465481
	}))
	defer srv.Close()

	var out bytes.Buffer
	o, err := parse([]string{"-checkpoint-dir", t.TempDir(), "-brokers", "b", "-topics", "t", "-output-topic", "o",
		"-entitydata-url", srv.URL + updater.EntityDataPath, "-uris-scheme", "entity=http://example.test/",
		"-single-label", "xx,fr", "-label-languages", "fr,en"}, &out)
	require.NoError(t, err, out.String())
	require.Equal(t, "http://example.test/", o.cfg.Scheme.EntityPrefix())

	f, err := updater.NewFetcher(o.cfg)
	require.NoError(t, err)
	ts, err := f.Fetch(context.Background(), "Q42", 1997465481, time.Now(), false)
	require.NoError(t, err)
	q := rdfdiff.NewIRI("http://example.test/Q42")
	label := rdfdiff.NewIRI("http://www.w3.org/2000/01/rdf-schema#label")
	alias := rdfdiff.NewIRI("http://www.w3.org/2004/02/skos/core#altLabel")
	var labels []rdfdiff.Term
	var own int
	for _, tr := range ts {
		assert.NotContains(t, tr.String(), "<http://www.wikidata.org/", "Wikidata namespace left in %s", tr)
		if tr.S == q {
			own++
		}
		if tr.S == q && tr.P == label {
			labels = append(labels, tr.O)
		}
		if tr.S == q && tr.P == alias {
			assert.Contains(t, []string{"fr", "en"}, tr.O.Lang(), "%s", tr)
		}
	}
	assert.Greater(t, own, 100)
	assert.Equal(t, []rdfdiff.Term{rdfdiff.NewLangLiteral("Douglas Adams", "fr")}, labels)

	_, err = parse([]string{"-checkpoint-dir", "d", "-uris-scheme", "entity=http://example.test"}, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-uris-scheme")
	assert.Contains(t, err.Error(), "must end in '/' or '#'")
}
