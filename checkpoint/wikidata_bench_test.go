//go:build unix

package checkpoint_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncw/swift/v2"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

// EnvStateKeys sets the number of entity → revision keys of
// BenchmarkWikidataState (Wikidata has about 120M); unset, it skips.
const EnvStateKeys = "STREAMKIT_STATE_KEYS"

// wikidataDirty is the number of keys an incremental checkpoint of
// BenchmarkWikidataState carries: a few seconds of Wikidata edits.
const wikidataDirty = 1000

// wikidataRounds is the number of incremental checkpoints timed per store:
// with an inline budget of InlineDeltasBudget (256 KiB per chain) and deltas of about
// 14 KB, the first ~18 keep their delta in the manifest and the others
// write it as an object; each kind is reported apart.
const wikidataRounds = 40

// cpuTime is this process's CPU time (user + system): on a machine shared
// with other work, the steadier measure of CPU-bound steps.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatusKB returns a field of /proc/self/status in kB (VmRSS, VmHWM),
// or 0 where there is no such file.
func procStatusKB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return n
		}
	}
	return 0
}

// BenchmarkWikidataState measures the updater's entity → revision state at
// Wikidata's size, one size per process (STREAMKIT_STATE_KEYS; `make
// bench-wikidata-state` runs 10M, 30M and 120M): bytes per key and RSS of
// the EntityTable, a full checkpoint and a restore on files and on the real
// Swift of STREAMKIT_SWIFT_AUTH_URL (skipped when unset) with `swift
// upload` and `swift download` of the same bytes in the same run as the
// anchors, and incremental checkpoints of 1 000 dirty keys (median and
// worst of wikidataRounds), each followed on Swift by a plain PUT of as
// many bytes, a HEAD and the listing the checkpoint makes. Run it with
// -benchtime 1x: one pass is minutes at 120M keys.
//
// Targets at 120M keys: RSS <= 4.5 GB, full checkpoint <= 12 s, restore
// <= 12 s, incremental <= 25 ms to Swift.
func BenchmarkWikidataState(b *testing.B) {
	v := os.Getenv(EnvStateKeys)
	if v == "" {
		b.Skip(EnvStateKeys + " not set (minutes and GBs per run: `make bench-wikidata-state`)")
	}
	n, err := strconv.Atoi(v)
	require.NoError(b, err, "%s must be a number of keys", EnvStateKeys)
	ctx := context.Background()
	for b.Loop() {
		before := heapInUse()
		tbl := checkpoint.NewEntityTable("rev", 1)
		start := time.Now()
		for i := range n {
			id, v := benchID(i)
			tbl.SetID(id, v)
		}
		tbl.ClearDirty()
		build := time.Since(start)
		heap := heapInUse() - before
		b.ReportMetric(float64(n), "keys")
		b.ReportMetric(build.Seconds(), "build-s")
		b.ReportMetric(float64(heap)/float64(n), "heap-B/key")
		debug.FreeOSMemory() // the arrays left behind by growing the table
		b.ReportMetric(procStatusKB("VmRSS")/1024, "rss-MB")

		// The raw requests of the Swift anchors below: a PUT, a HEAD and
		// the listing that an incremental checkpoint makes.
		var (
			rawPut  func(name string, data []byte) error
			rawHead func(name string) error
			rawList func() error
		)
		stores := []struct {
			name  string
			open  func() (checkpoint.Store, bool)
			swift bool
		}{
			{"file", func() (checkpoint.Store, bool) { return checkpoint.NewFileStore(b.TempDir()), true }, false},
			{"swift", func() (checkpoint.Store, bool) {
				if os.Getenv(checkpointtest.EnvSwiftAuthURL) == "" {
					return nil, false
				}
				conn := checkpointtest.RealSwiftConnection(b)
				container := checkpointtest.TempContainer(b, conn)
				rawPut = func(name string, data []byte) error {
					return conn.ObjectPutBytes(ctx, container, name, data, "application/octet-stream")
				}
				rawHead = func(name string) error {
					_, _, err := conn.Object(ctx, container, name)
					return err
				}
				rawList = func() error {
					_, err := conn.ObjectsAll(ctx, container, &swift.ObjectsOpts{Prefix: "bench/chk-"})
					return err
				}
				return checkpoint.NewSwiftStore(conn, container), true
			}, true},
		}
		for _, st := range stores {
			store, ok := st.open()
			if !ok {
				b.Logf("%s: %s not set, no Swift figures", st.name, checkpointtest.EnvSwiftAuthURL)
				continue
			}
			c, err := checkpoint.NewCheckpointer(store, "bench",
				checkpoint.WithFullEvery(1<<30), checkpoint.WithDeltaRatio(1e9),
				checkpoint.WithInlineDeltas(checkpoint.InlineDeltasBudget))
			require.NoError(b, err)
			if st.swift {
				// Authenticate, create the containers and probe outside the timings.
				checkpointtest.Put(b, store, "warmup", []byte("warmup"))
			}
			start, cpu0 := time.Now(), cpuTime()
			m, err := c.Checkpoint(ctx, map[string]int64{"t/0": 1}, benchParts(tbl))
			require.NoError(b, err)
			b.ReportMetric(time.Since(start).Seconds(), st.name+"-full-s")
			b.ReportMetric((cpuTime() - cpu0).Seconds(), st.name+"-full-cpu-s")
			base := m.Partitions[0].Chain[0]
			b.ReportMetric(float64(base.Size)/(1<<20), "snapshot-MB")
			if st.swift {
				b.ReportMetric(swiftUpload(b, store, base.Name).Seconds(), "swift-upload-s")
			}

			got := checkpoint.NewEntityTable("rev", 1)
			rc, err := checkpoint.NewCheckpointer(store, "bench")
			require.NoError(b, err)
			start, cpu0 = time.Now(), cpuTime()
			_, err = rc.RestoreLatest(ctx, benchParts(got))
			require.NoError(b, err)
			b.ReportMetric(time.Since(start).Seconds(), st.name+"-restore-s")
			b.ReportMetric((cpuTime() - cpu0).Seconds(), st.name+"-restore-cpu-s")
			if st.swift {
				b.ReportMetric(swiftDownload(b, store.(*checkpoint.SwiftStore), base.Name).Seconds(), "swift-download-s")
			}
			require.Equal(b, tbl.Len(), got.Len())
			got = nil
			runtime.GC()

			// On Swift, each incremental checkpoint is followed by one plain
			// PUT of as many bytes on the same connection: the cost of a
			// single round trip at that moment, so that the ratio holds up
			// on a machine whose load changes from second to second; then
			// a HEAD of that object and the listing the checkpoint makes.
			var inline, object, puts, heads, lists []time.Duration
			for round := range wikidataRounds {
				for k := range wikidataDirty {
					i := (round*7919 + k*104729) % n
					id, v := benchID(i)
					tbl.SetID(id, v+int64(round)+1)
				}
				start := time.Now()
				m, err := c.Checkpoint(ctx, map[string]int64{"t/0": int64(round + 2)}, benchParts(tbl))
				require.NoError(b, err)
				took := time.Since(start)
				chain := m.Partitions[0].Chain
				require.Len(b, chain, round+2)
				if chain[len(chain)-1].Inline != nil {
					inline = append(inline, took)
				} else {
					object = append(object, took)
				}
				if st.swift {
					data := checkpointtest.RandomBytes(uint64(round), int(chain[len(chain)-1].Size))
					start := time.Now()
					require.NoError(b, rawPut("anchor/"+strconv.Itoa(round), data))
					puts = append(puts, time.Since(start))
					start = time.Now()
					require.NoError(b, rawHead("anchor/"+strconv.Itoa(round)))
					heads = append(heads, time.Since(start))
					start = time.Now()
					require.NoError(b, rawList())
					lists = append(lists, time.Since(start))
				}
			}
			slices.Sort(puts)
			slices.Sort(heads)
			slices.Sort(lists)
			for kind, times := range map[string][]time.Duration{"inline": inline, "object": object} {
				if len(times) == 0 {
					continue
				}
				slices.Sort(times)
				b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, st.name+"-incr-"+kind+"-p50-ms")
				b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, st.name+"-incr-"+kind+"-max-ms")
				if st.swift {
					b.ReportMetric(float64(times[len(times)/2])/float64(puts[len(puts)/2]), "swift-incr-"+kind+"-per-raw-put")
				}
			}
			if st.swift {
				b.ReportMetric(float64(puts[len(puts)/2].Microseconds())/1000, "swift-raw-put-p50-ms")
				b.ReportMetric(float64(heads[len(heads)/2].Microseconds())/1000, "swift-raw-head-p50-ms")
				b.ReportMetric(float64(lists[len(lists)/2].Microseconds())/1000, "swift-raw-list-p50-ms")
			}
		}
		b.ReportMetric(procStatusKB("VmHWM")/1024, "peak-rss-MB")
		runtime.KeepAlive(tbl)
	}
}

// swiftDownload times `swift download` of the object name of store to
// /dev/null: the floor of a restore from that Swift, measured alongside.
func swiftDownload(b *testing.B, store *checkpoint.SwiftStore, name string) time.Duration {
	b.Helper()
	if _, err := exec.LookPath("swift"); err != nil {
		b.Skip("swift CLI not installed")
	}
	env := os.Environ()
	if os.Getenv("ST_AUTH") == "" {
		user, key := os.Getenv(checkpointtest.EnvSwiftUser), os.Getenv(checkpointtest.EnvSwiftKey)
		if user == "" {
			user, key = "test:tester", "testing"
		}
		env = append(env, "ST_AUTH="+os.Getenv(checkpointtest.EnvSwiftAuthURL), "ST_USER="+user, "ST_KEY="+key)
	}
	cmd := exec.Command("swift", "download", store.Container(), store.ObjectName(name), "-o", "/dev/null")
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	require.NoError(b, err, "swift download: %s", out)
	return d
}
