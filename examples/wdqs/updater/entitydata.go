package updater

import (
	"net/http"
	"strconv"
	"strings"
)

// EntityDataPath is the path of Special:EntityData on a MediaWiki host
// (wikibase_entitydata_path): EntityDataURL is the host's URL plus it.
const EntityDataPath = "/wiki/Special:EntityData/"

// EntityDataHandler serves Special:EntityData the way the updater fetches
// it — GET EntityDataPath + "<id>.ttl?flavor=dump&revision=<n>" — from
// lookup, which returns a revision's Turtle and whether it exists (404
// otherwise). It is the local stand-in for MediaWiki that the quickstart and
// the tests serve the fixture entities with; mount it at "/" and set
// Config.EntityDataURL to the server's URL + EntityDataPath.
func EntityDataHandler(lookup func(id string, revision int64) ([]byte, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, EntityDataPath)
		id, ttl := strings.CutSuffix(name, ".ttl")
		if !ok || !ttl || id == "" || strings.Contains(id, "/") {
			http.Error(w, "expected "+EntityDataPath+"<id>.ttl", http.StatusNotFound)
			return
		}
		q := r.URL.Query()
		if f := q.Get("flavor"); f != "dump" {
			http.Error(w, "only flavor=dump is served", http.StatusBadRequest)
			return
		}
		rev, err := strconv.ParseInt(q.Get("revision"), 10, 64)
		if err != nil || rev <= 0 {
			http.Error(w, "revision must be a positive integer", http.StatusBadRequest)
			return
		}
		body, found := lookup(id, rev)
		if !found {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/turtle; charset=utf-8")
		_, _ = w.Write(body)
	})
}
