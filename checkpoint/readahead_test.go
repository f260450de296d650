package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failingSource serves data, then err together with its last bytes, and
// counts Close calls.
type failingSource struct {
	r      *bytes.Reader
	err    error
	closed int
}

func (s *failingSource) Read(p []byte) (int, error) {
	n, _ := s.r.Read(p)
	if s.r.Len() == 0 {
		return n, s.err
	}
	return n, nil
}

func (s *failingSource) Close() error { s.closed++; return nil }

func TestReadAheadServesEveryByteThenTheSourceError(t *testing.T) {
	data := make([]byte, 3*readAheadChunk+12345)
	r := rand.New(rand.NewPCG(1, 9))
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	boom := errors.New("connection reset")
	for _, tc := range []struct {
		name string
		err  error
	}{{"end", io.EOF}, {"failure", boom}} {
		t.Run(tc.name, func(t *testing.T) {
			src := &failingSource{r: bytes.NewReader(data), err: tc.err}
			ra := newReadAhead(src)
			got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(ra, 100)))
			require.NoError(t, err)
			rest, err := io.ReadAll(ra)
			if tc.err == io.EOF {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, boom)
			}
			assert.Equal(t, data, append(got, rest...), "every byte, in order, before the error")
			_, err = ra.Read(make([]byte, 10))
			assert.Equal(t, tc.err, err, "the error stays")
			require.NoError(t, ra.Close())
			assert.Equal(t, 1, src.closed)
		})
	}
}

// endless never ends: Close must still stop the read-ahead.
type endless struct{ closed bool }

func (e *endless) Read(p []byte) (int, error) { return len(p), nil }
func (e *endless) Close() error               { e.closed = true; return nil }

func TestReadAheadCloseStopsReading(t *testing.T) {
	src := &endless{}
	ra := newReadAhead(src)
	_, err := io.ReadFull(ra, make([]byte, readAheadChunk/2))
	require.NoError(t, err)
	require.NoError(t, ra.Close())
	assert.True(t, src.closed)
	select {
	case <-ra.done:
	default:
		t.Fatal("the read-ahead goroutine still runs after Close")
	}
}

// cutStore serves its objects up to cutAt bytes, then err.
type cutStore struct {
	*MemoryStore
	cutAt int64
	err   error
}

type cutReader struct {
	io.ReadCloser
	left int64
	err  error
}

func (r *cutReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, r.err
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.ReadCloser.Read(p)
	r.left -= int64(n)
	return n, err
}

func (s *cutStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := s.MemoryStore.Open(ctx, name)
	if err != nil || s.cutAt < 0 || !strings.Contains(name, "/p-") {
		return rc, err
	}
	return &cutReader{ReadCloser: rc, left: s.cutAt, err: s.err}, nil
}

// TestRestoreOfALargeObjectTellsStoreFailureFromCorruption restores a
// snapshot large enough to be read ahead: a store that fails in the middle
// is an I/O error (never a reason to fall back to an older checkpoint), an
// object that ends early is corrupt.
func TestRestoreOfALargeObjectTellsStoreFailureFromCorruption(t *testing.T) {
	ctx := context.Background()
	store := &cutStore{MemoryStore: NewMemoryStore(), cutAt: -1}
	src := NewEntityTable("rev", 1)
	for i := range 600_000 {
		src.Set(fmt.Sprintf("Q%d", i*7+1), int64(i))
	}
	c, err := NewCheckpointer(store, "job")
	require.NoError(t, err)
	m, err := c.Checkpoint(ctx, nil, []PartitionState{{Partition: 0, Tables: []StateTable{src}}})
	require.NoError(t, err)
	require.GreaterOrEqual(t, m.Partitions[0].Chain[0].Size, int64(readAheadMinSize), "the object is read ahead")

	restore := func() error {
		got := NewEntityTable("rev", 1)
		_, err := c.RestoreLatest(ctx, []PartitionState{{Partition: 0, Tables: []StateTable{got}}})
		if err == nil {
			assert.Equal(t, entityContents(src), entityContents(got))
		}
		return err
	}
	require.NoError(t, restore())

	boom := errors.New("connection reset by peer")
	store.cutAt, store.err = 5<<20/2, boom
	err = restore()
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, ErrCorrupt)

	store.err = io.EOF
	err = restore()
	var ce *CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Reason, "truncated")
}
