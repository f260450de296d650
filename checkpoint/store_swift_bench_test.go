package checkpoint_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

// benchObjectSize is the object size of the store throughput benchmarks.
const benchObjectSize = 100 << 20

// writeObject streams data into the store in 1 MiB writes, as a snapshot
// encoder would.
func writeObject(b *testing.B, s checkpoint.Store, name string, data []byte) {
	w, err := s.Create(context.Background(), name)
	require.NoError(b, err)
	for i := 0; i < len(data); i += 1 << 20 {
		_, err := w.Write(data[i:min(i+1<<20, len(data))])
		require.NoError(b, err)
	}
	require.NoError(b, w.Close())
}

func readObject(b *testing.B, s checkpoint.Store, name string) {
	r, err := s.Open(context.Background(), name)
	require.NoError(b, err)
	n, err := io.Copy(io.Discard, r)
	require.NoError(b, err)
	require.NoError(b, r.Close())
	require.Equal(b, int64(benchObjectSize), n)
}

// BenchmarkSwiftStore100MB compares, in one run against the real Swift of
// STREAMKIT_SWIFT_AUTH_URL, writing and reading a 100 MB object through
// SwiftStore (default options: 32 MiB SLO segments, 2 in parallel, MD5
// verified both ways) with the swift CLI (python3-swiftclient) uploading and
// downloading the same bytes, as a plain object and as an SLO.
func BenchmarkSwiftStore100MB(b *testing.B) {
	conn := checkpointtest.RealSwiftConnection(b)
	swiftCLI, err := exec.LookPath("swift")
	if err != nil {
		b.Skip("swift CLI (python3-swiftclient) not installed")
	}
	data := checkpointtest.RandomBytes(42, benchObjectSize)
	file := filepath.Join(b.TempDir(), "object.bin")
	require.NoError(b, os.WriteFile(file, data, 0o600))
	store := checkpoint.NewSwiftStore(conn, checkpointtest.TempContainer(b, conn))
	ctx := context.Background()
	// Create the containers and authenticate outside the timings.
	writeObject(b, store, "warmup", data[:1<<20])

	cli := func(b *testing.B, args ...string) {
		cmd := exec.Command(swiftCLI, args...)
		cmd.Env = append(os.Environ(),
			"ST_AUTH="+conn.AuthUrl, "ST_USER="+conn.UserName, "ST_KEY="+conn.ApiKey)
		out, err := cmd.CombinedOutput()
		require.NoError(b, err, "swift %v: %s", args, out)
	}

	b.Run("store-write", func(b *testing.B) {
		b.SetBytes(benchObjectSize)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			name := fmt.Sprintf("bench/store-%d", i)
			writeObject(b, store, name, data)
			b.StopTimer()
			require.NoError(b, store.Delete(ctx, name))
			b.StartTimer()
		}
	})
	b.Run("store-read", func(b *testing.B) {
		writeObject(b, store, "bench/read", data)
		b.SetBytes(benchObjectSize)
		b.ReportAllocs()
		for b.Loop() {
			readObject(b, store, "bench/read")
		}
	})
	b.Run("cli-upload", func(b *testing.B) {
		b.SetBytes(benchObjectSize)
		for i := 0; b.Loop(); i++ {
			cli(b, "upload", store.Container(), file, "--object-name", fmt.Sprintf("cli/plain-%d", i))
		}
	})
	b.Run("cli-upload-slo-32MiB", func(b *testing.B) {
		b.SetBytes(benchObjectSize)
		for i := 0; b.Loop(); i++ {
			cli(b, "upload", store.Container(), file, "--object-name", fmt.Sprintf("cli/slo-%d", i),
				"-S", fmt.Sprint(checkpoint.DefaultSwiftLargeObjectThreshold), "--use-slo")
		}
	})
	b.Run("cli-download", func(b *testing.B) {
		cli(b, "upload", store.Container(), file, "--object-name", "cli/download")
		b.SetBytes(benchObjectSize)
		for b.Loop() {
			cli(b, "download", store.Container(), "cli/download", "-o", "/dev/null")
		}
	})
}

// BenchmarkFileStore100MB writes (with fsync of file and directory) and
// reads a 100 MB object through FileStore.
func BenchmarkFileStore100MB(b *testing.B) {
	data := checkpointtest.RandomBytes(42, benchObjectSize)
	store := checkpoint.NewFileStore(b.TempDir())
	ctx := context.Background()
	b.Run("write", func(b *testing.B) {
		b.SetBytes(benchObjectSize)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			name := fmt.Sprintf("bench/file-%d", i)
			writeObject(b, store, name, data)
			b.StopTimer()
			require.NoError(b, store.Delete(ctx, name))
			b.StartTimer()
		}
	})
	b.Run("read", func(b *testing.B) {
		writeObject(b, store, "bench/read", data)
		b.SetBytes(benchObjectSize)
		b.ReportAllocs()
		for b.Loop() {
			readObject(b, store, "bench/read")
		}
	})
}
