package cli

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
