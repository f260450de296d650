package jobtest

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// LogsEnv names the environment variable of a directory that receives the
// full output of every child of a test (one file per test and instance),
// for debugging a failed kill loop. Unset: no log files.
const LogsEnv = "STREAMKIT_KILL_LOGS"

// LogFile returns a writer, safe for concurrent use, to the file
// "<test>[-<instance>].log" in the directory LogsEnv names, closed when t
// ends; or nil when LogsEnv is unset. Give it as Options.Output or
// KillLoop.Output.
func LogFile(t testing.TB, instance string) io.Writer {
	dir := os.Getenv(LogsEnv)
	if dir == "" {
		return nil
	}
	name := strings.ReplaceAll(t.Name(), "/", "_")
	if instance != "" {
		name += "-" + instance
	}
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatalf("jobtest: %s: %v", LogsEnv, err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return &syncWriter{w: f}
}

// syncWriter serialises the writes of several children's output copiers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
