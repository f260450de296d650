package checkpoint_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

// benchKeys is the table size of the checkpoint benchmarks: 10M keys, or
// 1M with -short.
func benchKeys() int {
	if testing.Short() {
		return 1_000_000
	}
	return 10_000_000
}

// benchID returns the i-th entity ID of the benchmark tables: items spread
// over Q1..Q13n like real Wikidata IDs, with a revision-like value.
func benchID(i int) (checkpoint.EntityID, int64) {
	id, _ := checkpoint.ParseEntityID("Q" + strconv.Itoa(i*13+1))
	return id, 2_000_000_000 + int64(i)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkStateMemory measures bytes per key of an entity-ID → revision
// table with runtime.MemStats, for EntityTable and for the Go maps it
// replaces. Target for EntityTable: at most 48 bytes per key at 10M keys.
func BenchmarkStateMemory(b *testing.B) {
	n := benchKeys()
	keys := make([]string, n)
	for i := range keys {
		id, _ := benchID(i)
		keys[i] = id.String()
	}
	cases := []struct {
		name  string
		build func() any
	}{
		{"EntityTable", func() any {
			t := checkpoint.NewEntityTable("rev", 1)
			for i := range n {
				id, v := benchID(i)
				t.SetID(id, v)
			}
			return t
		}},
		{"Table[string,int64]", func() any {
			t := checkpoint.NewTable[string, int64]("rev", 1)
			for i, k := range keys {
				t.Set(string([]byte(k)), int64(i))
			}
			t.ClearDirty()
			return t
		}},
		{"map[string]int64", func() any {
			m := make(map[string]int64)
			for i, k := range keys {
				m[string([]byte(k))] = int64(i) // own copy of the key bytes, as a decoder would make
			}
			return m
		}},
		{"map[uint64]int64", func() any {
			m := make(map[uint64]int64)
			for i := range n {
				id, v := benchID(i)
				m[uint64(id)] = v
			}
			return m
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				before := heapInUse()
				v := tc.build()
				after := heapInUse()
				runtime.KeepAlive(v)
				perKey = float64(after-before) / float64(n)
			}
			b.ReportMetric(perKey, "bytes/key")
			b.ReportMetric(float64(n), "keys")
		})
	}
}

var (
	benchTableOnce sync.Once
	benchTable     *checkpoint.EntityTable
)

// bigTable returns the shared benchmark table, clean (no dirty keys).
func bigTable() *checkpoint.EntityTable {
	benchTableOnce.Do(func() {
		benchTable = checkpoint.NewEntityTable("rev", 1)
		n := benchKeys()
		benchTable.Grow(n)
		for i := range n {
			id, v := benchID(i)
			benchTable.SetID(id, v)
		}
		benchTable.ClearDirty()
	})
	return benchTable
}

type benchStore struct {
	name  string
	open  func(b *testing.B) checkpoint.Store
	swift bool
}

func benchStores() []benchStore {
	return []benchStore{
		{name: "memory", open: func(*testing.B) checkpoint.Store { return checkpoint.NewMemoryStore() }},
		{name: "file", open: func(b *testing.B) checkpoint.Store { return checkpoint.NewFileStore(b.TempDir()) }},
		{name: "swift", swift: true, open: func(b *testing.B) checkpoint.Store {
			conn := checkpointtest.RealSwiftConnection(b) // skips when not configured
			return checkpoint.NewSwiftStore(conn, checkpointtest.TempContainer(b, conn))
		}},
	}
}

func benchParts(t checkpoint.StateTable) []checkpoint.PartitionState {
	return []checkpoint.PartitionState{{Partition: 0, Tables: []checkpoint.StateTable{t}}}
}

// BenchmarkCheckpointFull writes full checkpoints of the 10M-key table. On
// Swift it also uploads the same bytes with the `swift` CLI in the same run
// (timer stopped) and reports both times and their ratio (target <= 1.3).
func BenchmarkCheckpointFull(b *testing.B) {
	ctx := context.Background()
	tbl := bigTable()
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			store := bs.open(b)
			c, err := checkpoint.NewCheckpointer(store, "bench", checkpoint.WithFullEvery(1))
			require.NoError(b, err)
			var size int64
			var ours, cli time.Duration
			for b.Loop() {
				start := time.Now()
				m, err := c.Checkpoint(ctx, map[string]int64{"t/0": 1}, benchParts(tbl))
				require.NoError(b, err)
				ours += time.Since(start)
				size = m.Partitions[0].Chain[0].Size
				if bs.swift {
					b.StopTimer()
					cli += swiftUpload(b, store, m.Partitions[0].Chain[0].Name)
					_, err := c.GC(ctx)
					require.NoError(b, err)
					b.StartTimer()
				}
			}
			b.SetBytes(size)
			b.ReportMetric(float64(size)/float64(tbl.Len()), "bytes/key-on-disk")
			if bs.swift {
				b.ReportMetric(ours.Seconds()/float64(b.N), "checkpoint-s/op")
				b.ReportMetric(cli.Seconds()/float64(b.N), "swift-upload-s/op")
				b.ReportMetric(ours.Seconds()/cli.Seconds(), "ratio-vs-swift-upload")
			}
		})
	}
}

// swiftUpload downloads object name to a file and times `swift upload` of
// it as a static large object with the same segment size as SwiftStore's
// default threshold.
func swiftUpload(b *testing.B, store checkpoint.Store, name string) time.Duration {
	b.Helper()
	if _, err := exec.LookPath("swift"); err != nil {
		b.Skip("swift CLI not installed")
	}
	rc, err := store.Open(context.Background(), name)
	require.NoError(b, err)
	path := filepath.Join(b.TempDir(), "snapshot.bin")
	f, err := os.Create(path)
	require.NoError(b, err)
	_, err = io.Copy(f, rc)
	require.NoError(b, err)
	require.NoError(b, f.Close())
	require.NoError(b, rc.Close())

	env := os.Environ()
	if os.Getenv("ST_AUTH") == "" {
		user, key := os.Getenv(checkpointtest.EnvSwiftUser), os.Getenv(checkpointtest.EnvSwiftKey)
		if user == "" {
			user, key = "test:tester", "testing"
		}
		env = append(env, "ST_AUTH="+os.Getenv(checkpointtest.EnvSwiftAuthURL), "ST_USER="+user, "ST_KEY="+key)
	}
	container := fmt.Sprintf("streamkit-bench-cli-%d", time.Now().UnixNano())
	cmd := exec.Command("swift", "upload", "--use-slo", "-S", strconv.Itoa(checkpoint.DefaultSwiftLargeObjectThreshold),
		container, path, "--object-name", "snapshot.bin")
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	require.NoError(b, err, "swift upload: %s", out)
	del := exec.Command("swift", "delete", container)
	del.Env = env
	_ = del.Run()
	del = exec.Command("swift", "delete", container+"_segments")
	del.Env = env
	_ = del.Run()
	return d
}

// BenchmarkCheckpointIncremental writes delta checkpoints with 1% of the
// 10M keys dirty, and reports the full checkpoint time of the same store
// measured beforehand for the ratio (target <= 5%).
func BenchmarkCheckpointIncremental(b *testing.B) {
	ctx := context.Background()
	tbl := bigTable()
	n := tbl.Len()
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			store := bs.open(b)
			c, err := checkpoint.NewCheckpointer(store, "bench", checkpoint.WithFullEvery(1<<30), checkpoint.WithDeltaRatio(1e9))
			require.NoError(b, err)
			start := time.Now()
			_, err = c.Checkpoint(ctx, nil, benchParts(tbl)) // the base
			require.NoError(b, err)
			full := time.Since(start)
			var size int64
			round := 0
			for b.Loop() {
				b.StopTimer()
				round++
				for i := 0; i < n; i += 100 {
					id, v := benchID(i + round%100)
					tbl.SetID(id, v+int64(round))
				}
				b.StartTimer()
				m, err := c.Checkpoint(ctx, nil, benchParts(tbl))
				require.NoError(b, err)
				ch := m.Partitions[0].Chain
				size = ch[len(ch)-1].Size
			}
			b.StopTimer()
			// Leave the shared table as it was: clean.
			_, err = checkpoint.NewCheckpointer(store, "bench")
			require.NoError(b, err)
			tbl.ClearDirty()
			b.SetBytes(size)
			perOp := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(full.Seconds(), "full-checkpoint-s")
			b.ReportMetric(100*perOp/full.Seconds(), "%-of-full")
		})
	}
}

// BenchmarkRestore restores the 10M-key table (target <= 5 s).
func BenchmarkRestore(b *testing.B) {
	ctx := context.Background()
	tbl := bigTable()
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			store := bs.open(b)
			c, err := checkpoint.NewCheckpointer(store, "bench")
			require.NoError(b, err)
			m, err := c.Checkpoint(ctx, nil, benchParts(tbl))
			require.NoError(b, err)
			b.SetBytes(m.Partitions[0].Chain[0].Size)
			for b.Loop() {
				got := checkpoint.NewEntityTable("rev", 1)
				_, err := c.RestoreLatest(ctx, benchParts(got))
				require.NoError(b, err)
				if got.Len() != tbl.Len() {
					b.Fatalf("restored %d keys, want %d", got.Len(), tbl.Len())
				}
			}
			b.ReportMetric(float64(tbl.Len()), "keys")
		})
	}
}
