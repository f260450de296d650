package sidecar

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func bufferLogger() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// post sends one POST to h as built by edit, from a loopback client.
func post(h http.Handler, target string, edit func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Host = "127.0.0.1:9102"
	req.Header.Set("User-Agent", "curl/8.5.0")
	if edit != nil {
		edit(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestTokenlessSidecarRefusesBrowserRequests: without a token, a POST is
// obeyed only when it looks like curl's from this host; each refusal is
// a 403 naming the rule and a warning in the log with method, path,
// remote address and reason.
func TestTokenlessSidecarRefusesBrowserRequests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*http.Request)
		reason string
	}{
		{"cross-site form post", func(r *http.Request) {
			r.Header.Set("Origin", "http://attacker.example")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}, `cross-origin request (Origin \"http://attacker.example\")`},
		{"same-origin after DNS rebinding", func(r *http.Request) {
			r.Host = "attacker.example:9102"
			r.Header.Set("Origin", "http://attacker.example:9102")
		}, "cross-origin request"},
		{"opaque origin", func(r *http.Request) { r.Header.Set("Origin", "null") }, `Origin \"null\"`},
		{"foreign Host", func(r *http.Request) { r.Host = "attacker.example:9102" },
			`Host \"attacker.example:9102\" is not 127.0.0.1, [::1] or localhost`},
		{"foreign Host without port", func(r *http.Request) { r.Host = "attacker.example" }, `Host \"attacker.example\"`},
		{"empty Host", func(r *http.Request) { r.Host = "" }, `Host \"\"`},
		{"host that only starts like localhost", func(r *http.Request) { r.Host = "localhost.attacker.example" }, "Host"},
		{"form content type", func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}, `form body (Content-Type \"application/x-www-form-urlencoded\")`},
		{"multipart form", func(r *http.Request) {
			r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		}, "form body"},
		{"text/plain", func(r *http.Request) { r.Header.Set("Content-Type", "Text/Plain; charset=utf-8") }, "form body"},
		{"fetch metadata", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, `Sec-Fetch-Site \"cross-site\"`},
		{"remote client", func(r *http.Request) { r.RemoteAddr = "10.1.2.3:4444" }, "only accept loopback clients"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := runningJob()
			log, buf := bufferLogger()
			h := newTestSidecar(t, job, WithLogger(log)).Handler()
			for _, target := range []string{"/stop?savepoint=x", "/pause"} {
				rec := post(h, target, tc.edit)
				assert.Equal(t, http.StatusForbidden, rec.Code, target)
				assert.Contains(t, rec.Body.String(), tc.reason, target)
			}
			assert.Empty(t, job.Calls(), "the job was not touched")
			logged := buf.String()
			assert.Equal(t, 2, strings.Count(logged, "level=WARN"), logged)
			assert.Contains(t, logged, `msg="sidecar: request refused" method=POST path=/stop remote=`)
			assert.Contains(t, logged, "path=/pause")
			assert.Contains(t, logged, "reason=")
		})
	}
}

func TestTokenlessSidecarObeysCurlFromLoopback(t *testing.T) {
	for name, edit := range map[string]func(*http.Request){
		"curl -X POST http://127.0.0.1:9102/pause": nil,
		"Host localhost":           func(r *http.Request) { r.Host = "localhost:9102" },
		"Host LOCALHOST, no port":  func(r *http.Request) { r.Host = "LOCALHOST" },
		"Host [::1]":               func(r *http.Request) { r.Host = "[::1]:9102"; r.RemoteAddr = "[::1]:40000" },
		"Host 127.0.0.2":           func(r *http.Request) { r.Host = "127.0.0.2:9102" },
		"JSON body":                func(r *http.Request) { r.Header.Set("Content-Type", "application/json") },
		"Go http client, no agent": func(r *http.Request) { r.Header.Del("User-Agent") },
	} {
		t.Run(name, func(t *testing.T) {
			job := runningJob()
			log, buf := bufferLogger()
			h := newTestSidecar(t, job, WithLogger(log)).Handler()
			rec := post(h, "/pause", edit)
			assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.Equal(t, []string{"pause"}, job.Calls())
			assert.NotContains(t, buf.String(), "refused")
		})
	}
}

// TestTokenIsCheckedAndNeverLogged: with a token, a POST needs it whatever
// its origin (a browser cannot attach it cross-site), refusals are logged,
// and neither the token nor a wrong one appears in the log.
func TestTokenIsCheckedAndNeverLogged(t *testing.T) {
	const token = "s3cret-Token-42"
	for _, tc := range []struct {
		name, auth, reason string
	}{
		{"absent", "", "missing bearer token"},
		{"wrong", "Bearer wr0ng-Token-99", "wrong bearer token"},
		{"other scheme", "Basic " + token, "not a bearer token"},
		{"bare token", token, "not a bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := runningJob()
			log, buf := bufferLogger()
			h := newTestSidecar(t, job, WithToken(token), WithLogger(log)).Handler()
			rec := post(h, "/stop", func(r *http.Request) {
				if tc.auth != "" {
					r.Header.Set("Authorization", tc.auth)
				}
			})
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.Contains(t, rec.Body.String(), tc.reason)
			assert.Empty(t, job.Calls())
			logged := buf.String()
			assert.Contains(t, logged, "level=WARN")
			assert.Contains(t, logged, "method=POST path=/stop remote=127.0.0.1:40000")
			assert.Contains(t, logged, tc.reason)
			assert.NotContains(t, logged, "s3cret")
			assert.NotContains(t, logged, "wr0ng")
		})
	}
	t.Run("present", func(t *testing.T) {
		job := runningJob()
		log, buf := bufferLogger()
		h := newTestSidecar(t, job, WithToken(token), WithLogger(log)).Handler()
		// The token is enough even from another host and with an Origin:
		// a browser cannot send it cross-site without a preflight.
		rec := post(h, "/pause", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+token)
			r.RemoteAddr = "10.64.0.3:5000"
			r.Host = "wdqs-updater.svc:9102"
		})
		assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, []string{"pause"}, job.Calls())
		assert.NotContains(t, buf.String(), "s3cret")
	})
}

func TestBadSavepointNamesAre400AndLogged(t *testing.T) {
	for _, name := range []string{".", "..", "a%2Fb", "..%2F..", "x%00y", "tab%09", "%C3%A9t%C3%A9", ".tmp-x",
		strings.Repeat("a", 129)} {
		for _, target := range []string{"/savepoint?name=", "/stop?savepoint="} {
			job := runningJob()
			log, buf := bufferLogger()
			h := newTestSidecar(t, job, WithLogger(log)).Handler()
			rec := post(h, target+name, nil)
			assert.Equal(t, http.StatusBadRequest, rec.Code, name)
			assert.Contains(t, rec.Body.String(), "sidecar: invalid savepoint name", name)
			assert.Contains(t, rec.Body.String(), `a savepoint name is 1-128 characters of [A-Za-z0-9._-], not \".\" or \"..\"`, name)
			assert.Empty(t, job.Calls(), name)
			assert.Contains(t, buf.String(), "level=WARN")
			assert.Contains(t, buf.String(), "sidecar: request refused")
		}
	}
}

func TestValidateSavepointName(t *testing.T) {
	for _, ok := range []string{"a", "before-upgrade", "wdqs-updater-20260125T143000Z", "v1.2_x", "...", ".a", strings.Repeat("z", 128)} {
		assert.NoError(t, validateSavepointName(ok), ok)
	}
	for name, why := range map[string]string{
		"":                       ": empty",
		".":                      `contains a . segment`,
		"..":                     `contains a .. segment`,
		"a/b":                    "characters outside",
		"a\nb":                   "characters outside",
		".tmp-1":                 "reserved prefix .tmp-",
		strings.Repeat("z", 129): "129 bytes long",
	} {
		err := validateSavepointName(name)
		require.Error(t, err, "%q", name)
		assert.Contains(t, err.Error(), why, "%q", name)
	}
}
