package checkpoint

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readManifest reads and decodes the manifest of checkpoint id.
func readManifest(t *testing.T, s Store, id uint64) *Manifest {
	t.Helper()
	rc, err := s.Open(context.Background(), manifestName("job", id))
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	m, err := decodeManifest("job", manifestName("job", id), data)
	require.NoError(t, err)
	return m
}

func TestInlineDeltasOffByDefault(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	c, err := NewCheckpointer(store, "job")
	require.NoError(t, err)
	js := newJobState(1)
	js.revs[0].Set("Q1", 1)
	_, err = c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	js.revs[0].Set("Q2", 2)
	m, err := c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	assert.Nil(t, m.Partitions[0].Chain[1].Inline)
	assert.Equal(t, manifestFormat, m.Format)
}

func TestInlineDeltasRoundTrip(t *testing.T) {
	ctx := context.Background()
	for name, open := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			store := open()
			c, err := NewCheckpointer(store, "job", WithFullEvery(4), WithDeltaRatio(100), WithInlineDeltas(InlineDeltasBudget))
			require.NoError(t, err)
			r := rand.New(rand.NewPCG(21, 22))
			js := newJobState(2)
			models := map[uint64][]map[string]any{}
			for range 6 {
				js.mutate(r, 30, 5000)
				m, err := c.Checkpoint(ctx, nil, js.parts)
				require.NoError(t, err)
				models[m.ID] = js.snapshotModel()
				for _, p := range m.Partitions {
					assert.Nil(t, p.Chain[0].Inline, "a base is an object")
					for _, d := range p.Chain[1:] {
						assert.NotNil(t, d.Inline, "a small delta is inline")
					}
				}
				if m.ID%4 == 1 {
					assert.Equal(t, manifestFormat, m.Format, "a manifest without inline deltas keeps format 1")
					assert.Equal(t, 3, countObjects(t, store, chkDir("job", m.ID)+"/"), "two bases and the manifest")
				} else {
					assert.Equal(t, manifestFormatInline, m.Format)
					assert.Equal(t, 1, countObjects(t, store, chkDir("job", m.ID)+"/"), "the manifest alone")
				}
				assert.Equal(t, m.Format, readManifest(t, store, m.ID).Format)
			}
			for id, want := range models {
				other := newJobState(2)
				_, err := c.Restore(ctx, id, other.parts)
				require.NoError(t, err, "checkpoint %d", id)
				requireState(t, other, want)
			}
		})
	}
}

func TestInlineDeltaBudgetSpillsToObjects(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	c, err := NewCheckpointer(store, "job", WithInlineDeltas(1500), WithDeltaRatio(100))
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(31, 32))
	js := newJobState(1)
	js.mutate(r, 500, 5000)
	_, err = c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)

	js.mutate(r, 20, 5000) // a few hundred bytes: inline
	m, err := c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	small := m.Partitions[0].Chain[1]
	require.NotNil(t, small.Inline)
	assert.Equal(t, int64(len(small.Inline)), small.Size)

	js.mutate(r, 400, 5000) // well over the budget: an object
	m, err = c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	big := m.Partitions[0].Chain[2]
	assert.Nil(t, big.Inline)
	assert.Equal(t, 1, countObjects(t, store, big.Name))

	// What is left of the chain's budget: under 1500 bytes minus the first delta.
	for {
		js.mutate(r, 20, 5000)
		m, err = c.Checkpoint(ctx, nil, js.parts)
		require.NoError(t, err)
		chain := m.Partitions[0].Chain
		if chain[len(chain)-1].Inline == nil {
			break
		}
	}
	inline := 0
	for _, ref := range m.Partitions[0].Chain {
		inline += len(ref.Inline)
	}
	assert.LessOrEqual(t, inline, 1500, "the chain stays within its inline budget")
	other := newJobState(1)
	_, err = c.RestoreLatest(ctx, other.parts)
	require.NoError(t, err)
	requireState(t, other, js.snapshotModel())
}

func TestInlineDeltaCorruption(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	c, err := NewCheckpointer(store, "job", WithInlineDeltas(InlineDeltasBudget))
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(41, 42))
	js := newJobState(1)
	js.mutate(r, 100, 5000)
	_, err = c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	js.mutate(r, 10, 5000)
	m, err := c.Checkpoint(ctx, nil, js.parts)
	require.NoError(t, err)
	delta := m.Partitions[0].Chain[1]
	require.NotNil(t, delta.Inline)

	// A flipped bit inside the inline bytes (under a manifest whose own
	// checksum is right) is caught by the snapshot's checksums and named.
	name := manifestName("job", m.ID)
	rewrite(t, store, name, func(b []byte) []byte {
		bad, err := decodeManifest("job", name, b)
		require.NoError(t, err)
		bad.Partitions[0].Chain[1].Inline[len(delta.Inline)/2] ^= 0x10
		out, err := encodeManifest(bad)
		require.NoError(t, err)
		return out
	})
	other := newJobState(1)
	_, err = c.Restore(ctx, m.ID, other.parts)
	var ce *CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, delta.Name, ce.Object)

	// An inline delta under format 1 is refused: an older build would have
	// looked for its object.
	rewrite(t, store, name, func([]byte) []byte {
		bad := *m
		bad.Format = manifestFormat
		out, err := encodeManifest(&bad)
		require.NoError(t, err)
		return out
	})
	_, err = c.Restore(ctx, m.ID, other.parts)
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Reason, "invalid inline delta")
}

// TestInlineDeltasWithGC checkpoints, collects and restores in turns, with
// chains mixing objects and inline deltas: every retained checkpoint
// restores to what it held.
func TestInlineDeltasWithGC(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	c, err := NewCheckpointer(store, "job", WithFullEvery(5), WithRetain(2), WithInlineDeltas(3000), WithDeltaRatio(100))
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(51, 52))
	js := newJobState(2)
	models := map[uint64][]map[string]any{}
	sawInline, sawObjectDelta := false, false
	for range 20 {
		js.mutate(r, 5+r.IntN(150), 5000)
		m, err := c.Checkpoint(ctx, nil, js.parts)
		require.NoError(t, err)
		models[m.ID] = js.snapshotModel()
		for _, p := range m.Partitions {
			for _, d := range p.Chain[1:] {
				sawInline = sawInline || d.Inline != nil
				sawObjectDelta = sawObjectDelta || d.Inline == nil
			}
		}
		res, err := c.GC(ctx)
		require.NoError(t, err)
		for _, id := range res.Retained {
			other := newJobState(2)
			_, err := c.Restore(ctx, id, other.parts)
			require.NoError(t, err, "checkpoint %d", id)
			requireState(t, other, models[id])
		}
	}
	assert.True(t, sawInline && sawObjectDelta, "the test mixes inline and object deltas")
}
