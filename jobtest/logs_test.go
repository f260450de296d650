package jobtest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/jobtest"
)

func TestLogFile(t *testing.T) {
	t.Setenv(jobtest.LogsEnv, "")
	assert.Nil(t, jobtest.LogFile(t, "a"), "no directory, no log file")

	dir := t.TempDir()
	t.Setenv(jobtest.LogsEnv, dir)
	var path string
	t.Run("sub/test", func(t *testing.T) {
		w := jobtest.LogFile(t, "b")
		require.NotNil(t, w)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 100 {
					_, _ = fmt.Fprintf(w, "writer %d line %d\n", i, j)
				}
			}()
		}
		wg.Wait()
		path = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-b.log")
	})
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	assert.Len(t, lines, 800, "every line whole: writes are serialised")
	for _, l := range lines {
		assert.Regexp(t, `^writer \d line \d+$`, l)
	}
}
