package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

func TestExpandSavepoint(t *testing.T) {
	at := time.Date(2026, 1, 25, 14, 30, 0, 0, time.UTC)
	assert.Equal(t, "wdqs-consumer-20260125T143000Z", ExpandSavepoint("{job}-{time}", "wdqs-consumer", at))
	assert.Equal(t, "fixed", ExpandSavepoint("fixed", "j", at))
}

func TestList(t *testing.T) {
	assert.Equal(t, []string{"a", "b"}, List(" a,, b ,"))
	assert.Nil(t, List(""))
}

func TestFlags(t *testing.T) {
	parse := func(args ...string) (*Flags, error) {
		var f Flags
		fs := flag.NewFlagSet("p", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.Register(fs, Defaults{SwiftContainer: "c"})
		require.NoError(t, fs.Parse(args))
		return &f, f.Check()
	}
	f, err := parse()
	require.NoError(t, err)
	assert.Equal(t, 0, f.MaxFailures, "retry for ever by default")
	store, err := f.Store()
	require.NoError(t, err)
	assert.Nil(t, store)
	assert.Len(t, f.JobOptions(), 2)

	_, err = parse("-log-format", "xml")
	assert.ErrorContains(t, err, "-log-format")
	_, err = parse("-max-failures", "-1")
	assert.ErrorContains(t, err, "-max-failures")
	_, err = parse("-checkpoint-dir", "d", "-swift-auth-url", "u")
	assert.ErrorContains(t, err, "exclusive")
	f, err = parse("-checkpoint-dir", t.TempDir())
	require.NoError(t, err)
	store, err = f.Store()
	require.NoError(t, err)
	assert.NotNil(t, store)
	t.Setenv("STREAMKIT_SWIFT_KEY", "")
	f, err = parse("-swift-auth-url", "http://127.0.0.1:1/auth/v1.0")
	require.NoError(t, err)
	_, err = f.Store()
	assert.ErrorContains(t, err, "STREAMKIT_SWIFT_KEY")
}

func TestLoggerECS(t *testing.T) {
	f := Flags{Program: "wdqs-updater", LogFormat: "ecs"}
	require.NoError(t, f.Check())
	var b strings.Builder
	f.Logger(&b).Info("job started", "job", "wdqs", "partition", 3)
	assert.Contains(t, b.String(), `"service.name":"wdqs-updater"`)
	assert.Contains(t, b.String(), `"labels.partition":"3"`)
	assert.Contains(t, b.String(), `"message":"job started"`)
}

func TestParseStart(t *testing.T) {
	p, err := ParseStart("earliest")
	require.NoError(t, err)
	assert.Nil(t, p, "earliest is the source's default")
	p, err = ParseStart("latest")
	require.NoError(t, err)
	assert.Equal(t, source.StartLatest(), *p)
	p, err = ParseStart("2026-01-02T03:04:05Z")
	require.NoError(t, err)
	assert.Equal(t, source.StartAtTimestamp(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()), *p)
	_, err = ParseStart("yesterday")
	require.ErrorContains(t, err, `-start: "yesterday" is not earliest, latest or an RFC 3339 time`)
}

func TestParseRefusesArguments(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	v := fs.Bool("v", false, "")
	require.NoError(t, Parse(fs, []string{"-v"}))
	assert.True(t, *v)
	require.ErrorContains(t, Parse(fs, []string{"-v", "extra"}), `unexpected arguments: ["extra"]`)
}

func TestSetupAndExit(t *testing.T) {
	f := &Flags{Program: "prog", LogFormat: "json"}
	log, opts, obs, err := f.Setup(io.Discard)
	require.NoError(t, err)
	assert.NotNil(t, log)
	assert.Len(t, opts, 2, "the failure budget and the backoff")
	assert.Nil(t, obs, "no sidecar, no observer")
	f.SidecarAddr = "127.0.0.1:0"
	_, opts, obs, err = f.Setup(io.Discard)
	require.NoError(t, err)
	assert.NotNil(t, obs)
	assert.Greater(t, len(opts), 2, "the observer's options too")

	usage := errors.New("bad config")
	var out strings.Builder
	assert.Equal(t, 2, f.Exit(&out, fmt.Errorf("wrapped: %w", usage), usage))
	assert.Equal(t, 1, f.Exit(&out, errors.New("broker down"), usage))
	assert.Equal(t, "prog: wrapped: bad config\nprog: broker down\n", out.String())
}
