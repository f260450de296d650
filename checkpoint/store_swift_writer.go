package checkpoint

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/url"
	"strconv"
	"sync"

	"github.com/ncw/swift/v2"
)

// swiftWriter buffers an object up to the store's threshold; past it, full
// buffers are uploaded as SLO segments in the background (at most
// concurrency at a time) while the caller keeps writing.
type swiftWriter struct {
	s        *SwiftStore
	parent   context.Context
	ctx      context.Context // cancelled by Cancel and by a failed segment
	cancel   context.CancelFunc
	name     string
	obj      string
	uploadID string
	// fresh marks a name no other writer will ever use (see
	// SwiftStore.createFresh): no existence check, no read-back after a
	// PUT that succeeded.
	fresh bool

	mu   sync.Mutex // serialises Write, Close and Cancel
	done bool
	buf  []byte
	crc  uint32 // CRC-32C of the whole object
	size int64
	nseg int
	sem  chan struct{}
	free chan []byte
	wg   sync.WaitGroup

	// free receives the answer of the background HEAD started by Create:
	// is the name still free? freeErr caches it once received.
	freeCh   chan error
	freeSeen bool
	freeErr  error
	// checkLarge: no background check ran; check before the first segment.
	checkLarge bool

	segMu  sync.Mutex // guards segs and upErr, written by uploaders
	segs   []sloSegment
	upErr  error
	upDone []string // names of uploaded segments, for cleanup
}

// sloSegment is one entry of a static large object manifest as PUT with
// ?multipart-manifest=put.
type sloSegment struct {
	Path      string `json:"path"`
	Etag      string `json:"etag"`
	SizeBytes int64  `json:"size_bytes"`
}

// newSwiftWriter starts a writer. With checkNow, a HEAD request runs in the
// background to learn whether the name is already committed (see
// SwiftStore.Create). Without it, a fresh name counts as free, and any other
// name is checked only before the first segment of a large object (the
// conditional PUT refuses the overwrite of a small one).
func newSwiftWriter(ctx context.Context, s *SwiftStore, name, obj string, fresh, checkNow bool) *swiftWriter {
	wctx, cancel := context.WithCancel(ctx)
	w := &swiftWriter{
		s:        s,
		parent:   ctx,
		ctx:      wctx,
		cancel:   cancel,
		name:     name,
		obj:      obj,
		uploadID: randomHex(8),
		sem:      make(chan struct{}, s.concurrency),
		free:     make(chan []byte, s.concurrency+1),
		freeCh:   make(chan error, 1), // buffered: the HEAD never blocks, even after Cancel
		fresh:    fresh,
	}
	if !checkNow {
		w.freeSeen = true
		w.checkLarge = !fresh
		return w
	}
	go func() {
		_, err := s.head(wctx, s.container, obj)
		w.freeCh <- err
	}()
	return w
}

// nameFree waits for the background existence check started by Create and
// returns nil when the name is free, ErrExist when it is committed, or the
// error that kept the check from answering.
func (w *swiftWriter) nameFree() error {
	if !w.freeSeen {
		err := <-w.freeCh
		w.freeSeen = true
		switch {
		case err == nil:
			w.freeErr = ErrExist
		case errors.Is(err, ErrNotFound):
			w.freeErr = nil
		default:
			w.freeErr = fmt.Errorf("checking whether the name is free: %w", err)
		}
	}
	return w.freeErr
}

func (w *swiftWriter) uploadErr() error {
	w.segMu.Lock()
	defer w.segMu.Unlock()
	return w.upErr
}

func (w *swiftWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, fmt.Errorf("checkpoint: write %q: %w", w.name, ErrClosed)
	}
	if err := w.uploadErr(); err != nil {
		return 0, err
	}
	if err := w.ctx.Err(); err != nil {
		return 0, fmt.Errorf("checkpoint: write %q: %w", w.name, err)
	}
	total := 0
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = w.newBuffer()
		}
		if len(w.buf) == cap(w.buf) {
			// Full, and more bytes follow: this is a large object.
			if err := w.flushSegment(); err != nil {
				return total, err
			}
			continue
		}
		n := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+n]
		w.crc = crc32.Update(w.crc, swiftCRCTable, p[:n])
		w.size += int64(n)
		total += n
		p = p[n:]
	}
	return total, nil
}

func (w *swiftWriter) newBuffer() []byte {
	select {
	case b := <-w.free:
		return b[:0]
	default:
		if b := w.s.getBuffer(); b != nil {
			return b
		}
		// Small objects stay small: grow the first buffer as needed.
		if w.nseg == 0 && w.buf == nil {
			return make([]byte, 0, min(w.s.threshold, 64<<10))
		}
		return make([]byte, 0, w.s.threshold)
	}
}

// flushSegment hands the full buffer to a background upload, waiting for a
// free upload slot.
func (w *swiftWriter) flushSegment() error {
	if int64(cap(w.buf)) < w.s.threshold {
		// Still the small first buffer: grow it instead of flushing.
		nb := make([]byte, len(w.buf), min(int64(cap(w.buf))*4, w.s.threshold))
		copy(nb, w.buf)
		w.buf = nb
		return nil
	}
	if w.nseg == 0 {
		if w.checkLarge {
			w.checkLarge = false
			w.freeSeen = false
			w.freeCh <- func() error { _, err := w.s.head(w.ctx, w.s.container, w.obj); return err }()
		}
		if err := w.nameFree(); err != nil {
			return fmt.Errorf("checkpoint: write %q: %w", w.name, err)
		}
	}
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		if err := w.uploadErr(); err != nil {
			return err
		}
		return fmt.Errorf("checkpoint: write %q: %w", w.name, w.ctx.Err())
	}
	idx := w.nseg
	w.nseg++
	data := w.buf
	w.buf = nil
	w.segMu.Lock()
	w.segs = append(w.segs, sloSegment{})
	w.segMu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		err := w.uploadSegment(idx, data)
		select {
		case w.free <- data:
		default:
			w.s.putBuffer(data)
		}
		<-w.sem
		if err != nil {
			w.segMu.Lock()
			if w.upErr == nil {
				w.upErr = fmt.Errorf("checkpoint: write %q: segment %d: %w", w.name, idx, err)
			}
			w.segMu.Unlock()
			w.cancel() // stop the other uploads; the object has failed
		}
	}()
	return nil
}

func (w *swiftWriter) segmentName(idx int) string {
	return fmt.Sprintf("%s/%s/%08d", w.obj, w.uploadID, idx)
}

func (w *swiftWriter) uploadSegment(idx int, data []byte) error {
	sum := md5.Sum(data)
	etag := hex.EncodeToString(sum[:])
	name := w.segmentName(idx)
	err := w.s.putBytes(w.ctx, w.s.segContainer, name, data, etag, nil, nil)
	w.segMu.Lock()
	defer w.segMu.Unlock()
	// Record the name even on error: the PUT may have landed.
	w.upDone = append(w.upDone, w.s.segContainer+"/"+name)
	if err != nil {
		return err
	}
	w.segs[idx] = sloSegment{Path: w.s.segContainer + "/" + name, Etag: etag, SizeBytes: int64(len(data))}
	return nil
}

func (w *swiftWriter) Close() error {
	verify, err := w.closeDeferVerify()
	if err == nil && verify != nil {
		err = verify(w.parent)
	}
	return err
}

// closeDeferVerify commits the object like Close but, for a small object
// under a contested name, leaves the read-back that confirms the object is
// ours (see putFinal) to the caller: it returns it as verify (nil when
// there is nothing to verify), so the caller can overlap it with its own
// post-commit requests. Until verify returns nil the object may be another
// writer's; an error from verify is final, as from Close.
func (w *swiftWriter) closeDeferVerify() (verify func(ctx context.Context) error, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil, fmt.Errorf("checkpoint: close %q: %w", w.name, ErrClosed)
	}
	w.done = true
	readBack, err := w.commit()
	w.cancel()
	defer w.releaseBuffers()
	if err == nil && readBack != nil {
		return func(ctx context.Context) error {
			if err := readBack(ctx); err != nil {
				if errors.Is(err, ErrExist) {
					return fmt.Errorf("checkpoint: close %q: %w", w.name, ErrExist)
				}
				return fmt.Errorf("checkpoint: close %q: %w", w.name, err)
			}
			return nil
		}, nil
	}
	if err != nil {
		w.cleanup()
		if errors.Is(err, ErrExist) {
			return nil, fmt.Errorf("checkpoint: close %q: %w", w.name, ErrExist)
		}
		if e := w.uploadErr(); e != nil {
			return nil, e
		}
		return nil, fmt.Errorf("checkpoint: close %q: %w", w.name, err)
	}
	return nil, nil
}

// commit makes the object visible. For a small object under a contested
// name it returns the read-back still to be done (see putFinal); large
// objects are read back before it returns, so that a lost race still
// cleans up their segments.
func (w *swiftWriter) commit() (verify func(ctx context.Context) error, err error) {
	if err := w.nameFree(); err != nil {
		return nil, err
	}
	meta := swift.Headers{
		"If-None-Match": "*",
		swiftMetaCRC:    fmt.Sprintf("%08x", w.crc),
		swiftMetaSize:   strconv.FormatInt(w.size, 10),
		swiftMetaUpload: w.uploadID,
	}
	if w.nseg == 0 {
		if err := w.ctx.Err(); err != nil {
			return nil, err
		}
		sum := md5.Sum(w.buf)
		return w.putFinal(func(ctx context.Context) error {
			return w.s.putBytes(ctx, w.s.container, w.obj, w.buf, hex.EncodeToString(sum[:]), meta, nil)
		})
	}
	if len(w.buf) > 0 {
		if err := w.flushSegment(); err != nil {
			w.wg.Wait()
			return nil, err
		}
	}
	w.wg.Wait()
	if err := w.uploadErr(); err != nil {
		return nil, err
	}
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	manifest, err := json.Marshal(w.segs)
	if err != nil {
		return nil, err
	}
	sum := md5.Sum(manifest)
	meta["Content-Type"] = swiftSLOContentType
	verify, err = w.putFinal(func(ctx context.Context) error {
		return w.s.putBytes(ctx, w.s.container, w.obj, manifest, hex.EncodeToString(sum[:]), meta,
			url.Values{"multipart-manifest": {"put"}})
	})
	if err == nil && verify != nil {
		err = verify(w.ctx)
	}
	return nil, err
}

// putFinal runs the PUT that makes the object visible, then reads back the
// object's upload ID to confirm that the object under the name is ours.
//
// Swift checks "If-None-Match: *" when an upload starts and has no
// compare-and-swap, so two uploads that overlap in time can both pass the
// check; the one with the later timestamp is what stays. The read-back turns
// the loser of such a race into ErrExist in the common case; only when the
// other upload lands after this read-back can both writers see success (with
// the other's bytes kept, whole). A 412 on a retried PUT may also be our own
// earlier attempt whose response was lost; the upload ID tells them apart.
//
// After a PUT that succeeded, the read-back is returned as verify for the
// caller to run (it may overlap it with other requests), or skipped for a
// fresh name, which no other writer can race for. After a 412 it runs here.
func (w *swiftWriter) putFinal(put func(ctx context.Context) error) (verify func(ctx context.Context) error, err error) {
	err = put(w.ctx)
	switch {
	case err == nil && w.fresh:
		return nil, nil
	case err == nil:
		return func(ctx context.Context) error { return w.readBack(ctx, nil) }, nil
	case !isStatus(err, 412):
		return nil, err
	}
	return nil, w.readBack(w.ctx, err)
}

// readBack confirms that the object under the name is this writer's (see
// putFinal); putErr is the PUT's error: nil or a 412.
func (w *swiftWriter) readBack(ctx context.Context, putErr error) error {
	err := putErr
	h, herr := w.s.headNewest(ctx, w.s.container, w.obj)
	switch {
	case herr == nil && h[swiftMetaUpload] == w.uploadID:
		return nil
	case herr != nil && !errors.Is(herr, ErrNotFound):
		if err == nil {
			// Committed, but unconfirmed: report it rather than guess.
			return fmt.Errorf("verify after commit: %w", herr)
		}
		return herr
	case errors.Is(herr, ErrNotFound) && err == nil:
		// Deleted right after we wrote it: it was ours to delete.
		return nil
	}
	return ErrExist
}

// cleanup deletes uploaded segments of an object that will never be
// committed, best effort, even if the write's ctx is done. What it cannot
// delete (say, Swift is down) RemoveOrphanSegments removes later.
func (w *swiftWriter) cleanup() {
	w.wg.Wait()
	w.segMu.Lock()
	names := w.upDone
	w.upDone = nil
	w.segMu.Unlock()
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.parent), swiftCleanupTimeout)
	defer cancel()
	if err := w.s.deleteSegments(ctx, names); err != nil {
		w.s.log().Warn("checkpoint: swift: could not delete segments of an abandoned object; RemoveOrphanSegments will",
			"object", w.name, "segments", len(names), "err", err)
	}
}

func (w *swiftWriter) Cancel() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	// Let in-flight segment uploads finish rather than cancel them: a
	// cancelled PUT may still land on the server after the cleanup, leaving
	// an orphan. At most the upload concurrency's worth of segments is in
	// flight, so this wait is short.
	w.cleanup()
	w.cancel()
	w.releaseBuffers()
	return nil
}

// releaseBuffers hands the writer's buffers back to the store's pool. It
// runs after every upload finished.
func (w *swiftWriter) releaseBuffers() {
	w.wg.Wait()
	if w.buf != nil {
		w.s.putBuffer(w.buf)
		w.buf = nil
	}
	for {
		select {
		case b := <-w.free:
			w.s.putBuffer(b)
		default:
			return
		}
	}
}
