package sparql

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// langTagCases are tags with whether they are well-formed BCP 47; most are
// Wikidata's (monolingual text and labels), the rest probe each production.
var langTagCases = map[string]bool{
	"en": true, "en-GB": true, "EN-gb": true, "zh-min-nan": true, "be-tarask": true, "simple": true,
	"de-formal": true, "sr-ec": true, "nan-hani-tw": true, "x-foo": true, "i-klingon": true,
	"art-lojban": true, "en-a-bbb-x-a": true, "zh-yue": true, "mis-x-Q123": true, "en-gb-oed": true,
	"es-419": true, "de-CH-1901": true, "ca-valencia": true, "sgs-ogonek": true, "zh-Hans-CN-x-private": true,
	"en-a-bb": true, "cbk-zam": true, "map-bms": true, "roa-tara": true, "fiu-vro": true, "bat-smg": true,
	"sl-rozaj-biske": true, "zh-cmn-hans-cn": true, "sl-1994": true, "hy-latn-it-arevela": true,
	"qaa-qaa-qaa-qaa": true, "qaa-abc-def-ghi-jkl": false, "en-1234": true, "en-123": true, "en-12": false,
	"en-latn-latn": false, "abcd-latn": true, "en-a-bb-b-cc": true, "en-a-bb-a-cc": true, "x-12345678": true, "i-unknown": false,
	"zh-classical": false, "en-x-abcdefghi": false, "abcdefghi": false, "a-b": false,
	"en-gb-gb": false, "zh-classical-x": false, "en-a": false, "en-a-x-b": false, "x": false,
	"en-": false, "-en": false, "en_GB": false, "e1": false, "en-x": false, "123": false,
	"en-gb-abc": false, "de-419-1901": true, "en-us-x-twain": true,
}

func TestWellFormedBCP47(t *testing.T) {
	for tag, want := range langTagCases {
		assert.Equal(t, want, WellFormedBCP47(tag), tag)
	}
}

// TestWellFormedBCP47AgreesWithOxigraph: every tag of the table is written to
// the real Oxigraph, which must accept exactly the well-formed ones.
func TestWellFormedBCP47AgreesWithOxigraph(t *testing.T) {
	url := os.Getenv("STREAMKIT_OXIGRAPH_URL")
	if url == "" {
		t.Skip("STREAMKIT_OXIGRAPH_URL not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := NewClient(url, WithRetryPolicy(RetryPolicy{MaxAttempts: 1}))
	require.NoError(t, err)
	graph := "http://streamkit.test/langtag/" + strings.ReplaceAll(t.Name(), "/", "-")
	for tag, want := range langTagCases {
		err := c.Update(ctx, `INSERT DATA { GRAPH <`+graph+`> { <http://streamkit.test/s> <http://streamkit.test/p> "x"@`+tag+` } }`)
		var se *StoreError
		if err != nil {
			require.ErrorAs(t, err, &se, tag)
			require.Equal(t, http.StatusBadRequest, se.StatusCode, tag)
		}
		assert.Equal(t, want, err == nil, "Oxigraph on %q: %v", tag, err)
	}
	require.NoError(t, c.Update(ctx, `DROP SILENT GRAPH <`+graph+`>`))
}
