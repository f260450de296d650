package checkpoint

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rewrite replaces a committed object with edit(its bytes).
// objectNamed returns the one object of s whose name starts with prefix (a
// snapshot object's name up to its random token), or prefix itself when it
// is a whole name.
func objectNamed(t testing.TB, s Store, prefix string) string {
	t.Helper()
	infos, err := s.List(context.Background(), prefix)
	require.NoError(t, err)
	require.Len(t, infos, 1, "objects named %s*", prefix)
	return infos[0].Name
}

func rewrite(t *testing.T, s Store, name string, edit func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	rc, err := s.Open(ctx, name)
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.NoError(t, s.Delete(ctx, name))
	w, err := s.Create(ctx, name)
	require.NoError(t, err)
	_, err = w.Write(edit(data))
	require.NoError(t, err)
	require.NoError(t, w.Close())
}

// corruptFixture writes three checkpoints of two partitions (chains
// base+delta+delta) and returns the store and the model after each.
func corruptFixture(t *testing.T) (Store, *Checkpointer, [][]map[string]any) {
	ctx := context.Background()
	store := NewMemoryStore()
	c, err := NewCheckpointer(store, "job", WithDeltaRatio(100), WithInlineDeltas(0))
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(11, 12))
	js := newJobState(2)
	var models [][]map[string]any
	for range 3 {
		js.mutate(r, 3000, 20000)
		_, err := c.Checkpoint(ctx, map[string]int64{"t/0": int64(len(models))}, js.parts)
		require.NoError(t, err)
		models = append(models, js.snapshotModel())
	}
	return store, c, models
}

func TestRestoreCorruption(t *testing.T) {
	// Snapshot object names end in a random token: the cases name them by
	// prefix, and each edit gets the name found in its fixture.
	const delta = "job/chk-0000000003/p-0001-"
	const base = "job/chk-0000000001/p-0000-"
	cases := []struct {
		name   string
		object string
		edit   func(t *testing.T, s Store, name string)
		reason string
	}{
		{"flipped byte", delta, func(t *testing.T, s Store, delta string) {
			rewrite(t, s, delta, func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
		}, "fails its CRC32C check"},
		{"truncated", base, func(t *testing.T, s Store, base string) {
			rewrite(t, s, base, func(b []byte) []byte { return b[:len(b)*2/3] })
		}, "truncated at byte"},
		{"end block cut off", delta, func(t *testing.T, s Store, delta string) {
			rewrite(t, s, delta, func(b []byte) []byte { return b[:len(b)-blockHeaderLen-blockTrailer] })
		}, "truncated at byte"},
		{"trailing garbage", delta, func(t *testing.T, s Store, delta string) {
			rewrite(t, s, delta, func(b []byte) []byte { return append(b, 0) })
		}, "trailing bytes"},
		{"not a snapshot", delta, func(t *testing.T, s Store, delta string) {
			rewrite(t, s, delta, func([]byte) []byte { return []byte("hello, world") })
		}, "bad magic"},
		{"future format", delta, func(t *testing.T, s Store, delta string) {
			rewrite(t, s, delta, func(b []byte) []byte { binary.LittleEndian.PutUint16(b[4:], 9); return b })
		}, "unsupported snapshot format version 9"},
		{"missing object", base, func(t *testing.T, s Store, base string) {
			require.NoError(t, s.Delete(context.Background(), base))
		}, "named by checkpoint 3 but missing"},
		{"object swapped for another valid one", delta, func(t *testing.T, s Store, delta string) {
			rc, err := s.Open(context.Background(), objectNamed(t, s, "job/chk-0000000003/p-0000-"))
			require.NoError(t, err)
			other, _ := io.ReadAll(rc)
			_ = rc.Close()
			rewrite(t, s, delta, func([]byte) []byte { return other })
		}, "header says job \"job\" checkpoint 3 partition 0"},
		{"wrong checksum in manifest", delta, func(t *testing.T, s Store, delta string) {
			name := manifestName("job", 3)
			rewrite(t, s, name, func(b []byte) []byte {
				m, err := decodeManifest("job", name, b)
				require.NoError(t, err)
				m.Partitions[1].Chain[2].CRC32C ^= 1
				out, err := encodeManifest(m)
				require.NoError(t, err)
				return out
			})
		}, "the manifest says"},
		{"manifest bit flip", manifestName("job", 3), func(t *testing.T, s Store, _ string) {
			rewrite(t, s, manifestName("job", 3), func(b []byte) []byte {
				i := strings.Index(string(b), `"size": `) + len(`"size": `)
				b[i]++
				return b
			})
		}, "manifest CRC32C mismatch"},
		{"manifest truncated", manifestName("job", 3), func(t *testing.T, s Store, _ string) {
			rewrite(t, s, manifestName("job", 3), func(b []byte) []byte { return b[:len(b)/2] })
		}, "no crc32c line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store, c, models := corruptFixture(t)
			object := objectNamed(t, store, tc.object)
			tc.edit(t, store, object)

			js := newJobState(2)
			_, err := c.Restore(ctx, 3, js.parts)
			require.Error(t, err)
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, object, ce.Object)
			assert.Contains(t, ce.Reason, tc.reason)
			assert.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), object)
			for _, p := range js.parts {
				for _, tb := range p.Tables {
					assert.Zero(t, tb.Len(), "a failed restore leaves tables empty")
				}
			}
			_, err = c.RestoreLatest(ctx, js.parts)
			require.ErrorAs(t, err, &ce, "no fallback unless asked")

			// With fallback: the newest checkpoint that does not need the
			// damaged object.
			m, err := c.Restore(ctx, 3, js.parts, FallBackOnCorruption())
			if tc.object == base {
				require.ErrorAs(t, err, &ce, "every checkpoint needs the base")
				assert.Contains(t, err.Error(), object)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, uint64(2), m.ID)
			assert.Equal(t, int64(1), m.Positions["t/0"])
			requireState(t, js, models[1])
		})
	}
}

func TestRestoreDoesNotFallBackOnIncompatibility(t *testing.T) {
	ctx := context.Background()
	_, c, _ := corruptFixture(t)
	rev := NewEntityTable("rev", 2)
	_, err := c.RestoreLatest(ctx, []PartitionState{{Partition: 0, Tables: []StateTable{rev, NewTable[string, meta]("meta", 1)}}}, FallBackOnCorruption())
	require.ErrorIs(t, err, ErrIncompatible)
}

// TestDecoderNeverPanicsOnGarbage restores from objects whose blocks pass
// the CRC checks but hold garbage records.
func TestDecoderNeverPanicsOnGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 200 {
		payload := make([]byte, r.IntN(64)+1)
		for j := range payload {
			payload[j] = byte(r.UintN(256))
		}
		if i%2 == 0 {
			payload[0] = byte(OpPut)
		}
		var sb strings.Builder
		bw := newBlockWriter(&sb)
		bw.startSection(1)
		_, _ = bw.Write(payload)
		require.NoError(t, bw.finish())

		br, err := newBlockReader(strings.NewReader(sb.String()))
		require.NoError(t, err)
		_, err = br.nextSection()
		require.NoError(t, err)
		d := &Decoder{br: br, mp: msgpack.NewDecoder(br)}
		var tb StateTable = NewEntityTable("e", 1)
		if i%3 == 0 {
			tb = NewTable[string, []meta]("m", 1)
		}
		assert.NotPanics(t, func() { tb.DecodeFrom(d) })
	}
}

// FuzzRestoreObject restores a checkpoint whose one object is arbitrary
// bytes (with a manifest that matches their size and checksum, so that
// decoding is reached): the result must be success or a *CorruptError
// naming the object, never a panic or another error.
func FuzzRestoreObject(f *testing.F) {
	ctx := context.Background()
	{
		store := NewMemoryStore()
		c, _ := NewCheckpointer(store, "job")
		js := newJobState(1)
		js.mutate(rand.New(rand.NewPCG(1, 2)), 50, 100)
		if _, err := c.Checkpoint(ctx, nil, js.parts); err != nil {
			f.Fatal(err)
		}
		rc, _ := store.Open(ctx, objectNamed(f, store, "job/chk-0000000001/p-0000-"))
		valid, _ := io.ReadAll(rc)
		f.Add(valid)
		f.Add(valid[:len(valid)-5])
	}
	f.Add([]byte("SKCP\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		store := NewMemoryStore()
		name := partName("job", 1, 0, "0123456789abcdef")
		w, _ := store.Create(ctx, name)
		_, _ = w.Write(data)
		require.NoError(t, w.Close())
		m := &Manifest{Format: manifestFormat, Job: "job", ID: 1,
			Tables: []TableSchema{{"rev", 1, "entity-int64"}, {"meta", 1, "msgpack"}},
			Partitions: []PartitionManifest{{Partition: 0, Chain: []ObjectRef{{
				Name: name, Checkpoint: 1, Full: true, Size: int64(len(data)),
				CRC32C: crc32.Checksum(data, castagnoli),
			}}}}}
		mb, err := encodeManifest(m)
		require.NoError(t, err)
		w, _ = store.Create(ctx, manifestName("job", 1))
		_, _ = w.Write(mb)
		require.NoError(t, w.Close())
		c, _ := NewCheckpointer(store, "job")
		js := newJobState(1)
		_, err = c.Restore(ctx, 1, js.parts)
		if err != nil {
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, name, ce.Object)
		}
	})
}

// brokenReadStore fails reads of objects containing name after n bytes, as
// a network error would.
type brokenReadStore struct {
	Store
	name string
	n    int
}

var errNetwork = errors.New("connection reset by peer")

func (s brokenReadStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := s.Store.Open(ctx, name)
	if err != nil || !strings.Contains(name, s.name) {
		return rc, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, int64(s.n)), iotest.ErrReader(errNetwork)), rc}, nil
}

// TestRestoreReadErrorIsNotCorruption: a store failing mid-object is not
// corruption, so it is reported as the store's error and never triggers a
// fallback to an older checkpoint, wherever in the object it happens.
func TestRestoreReadErrorIsNotCorruption(t *testing.T) {
	ctx := context.Background()
	store, _, _ := corruptFixture(t)
	infos, err := store.List(ctx, "job/chk-0000000003/p-0001")
	require.NoError(t, err)
	require.Len(t, infos, 1)
	size := int(infos[0].Size)
	for _, n := range []int{0, 3, 8, 20, 5000, size / 2, size - 13, size - 1} {
		c, err := NewCheckpointer(brokenReadStore{Store: store, name: "chk-0000000003/p-0001", n: n}, "job")
		require.NoError(t, err)
		js := newJobState(2)
		_, err = c.Restore(ctx, 3, js.parts, FallBackOnCorruption())
		require.ErrorIs(t, err, errNetwork, "n=%d", n)
		assert.NotErrorIs(t, err, ErrCorrupt, "n=%d", n)
		assert.Contains(t, err.Error(), "job/chk-0000000003/p-0001-")
	}
}
