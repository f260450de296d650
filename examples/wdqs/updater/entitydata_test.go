package updater_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
)

func TestEntityDataHandler(t *testing.T) {
	h := updater.EntityDataHandler(func(id string, rev int64) ([]byte, bool) {
		if id == "Q42" && rev == 7 {
			return []byte("<a> <b> <c> ."), true
		}
		return nil, false
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for path, want := range map[string]int{
		updater.EntityDataPath + "Q42.ttl?flavor=dump&revision=7":  http.StatusOK,
		updater.EntityDataPath + "Q42.ttl?flavor=dump&revision=8":  http.StatusNotFound,
		updater.EntityDataPath + "Q42.ttl?revision=7":              http.StatusBadRequest,
		updater.EntityDataPath + "Q42.ttl?flavor=dump&revision=x":  http.StatusBadRequest,
		updater.EntityDataPath + "Q42.json?flavor=dump&revision=7": http.StatusNotFound,
		"/elsewhere/Q42.ttl?flavor=dump&revision=7":                http.StatusNotFound,
	} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
		if want == http.StatusOK {
			assert.Equal(t, "<a> <b> <c> .", string(body))
			assert.Equal(t, "text/turtle; charset=utf-8", resp.Header.Get("Content-Type"))
		}
	}
}
