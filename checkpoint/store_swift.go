package checkpoint

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ncw/swift/v2"
)

// Metadata the Swift store puts on every object it commits. The CRC-32C
// and size cover the whole object, so reads verify static large objects too
// (whose ETag is only a hash of their segments' hashes) end to end, at a
// fraction of MD5's CPU cost (uploads are still MD5-checked by Swift,
// segment by segment, through their ETags); the upload ID ties
// a manifest to its own segments, and lets a retried PUT that meets 412
// recognise its own earlier, successful attempt.
const (
	swiftMetaCRC    = "X-Object-Meta-Streamkit-Crc32c"
	swiftMetaSize   = "X-Object-Meta-Streamkit-Size"
	swiftMetaUpload = "X-Object-Meta-Streamkit-Upload"
)

// swiftCRCTable is the CRC-32C (Castagnoli) table, hardware-accelerated on
// amd64 and arm64.
var swiftCRCTable = crc32.MakeTable(crc32.Castagnoli)

// swiftSLOContentType marks the manifests of large objects this store
// writes, so List can tell them apart on servers whose listings report a
// manifest's own size (swifttest) rather than the object's.
const swiftSLOContentType = "application/octet-stream;streamkit-slo=1"

// Defaults of the Swift store; each has an option.
const (
	// DefaultSwiftLargeObjectThreshold is the size above which objects are
	// written as static large objects, and the size of their segments. Each
	// writer holds up to (concurrency+1) segments in memory.
	DefaultSwiftLargeObjectThreshold = 32 << 20
	// DefaultSwiftUploadConcurrency is how many segments of one object are
	// uploaded at the same time.
	DefaultSwiftUploadConcurrency = 2
	// DefaultSwiftRetryAttempts is how many times a request is tried in all.
	DefaultSwiftRetryAttempts = 6
	// DefaultSwiftRetryBase and DefaultSwiftRetryMax bound the exponential
	// backoff between attempts (with jitter: each wait is drawn from
	// [d/2, d] where d doubles from the base up to the max).
	DefaultSwiftRetryBase = 100 * time.Millisecond
	DefaultSwiftRetryMax  = 5 * time.Second
	// swiftCleanupTimeout bounds best-effort deletion of the segments of a
	// failed or cancelled write, which runs even when the write's ctx is done.
	swiftCleanupTimeout = 30 * time.Second
)

// SwiftStore is a Store over an OpenStack Swift container, through
// github.com/ncw/swift/v2.
//
// Objects up to the large-object threshold are written with one PUT;
// larger ones are streamed as a static large object (SLO): segments of
// threshold size go to the segments container as they fill (a few uploading
// in parallel, so a 100 MB object never sits whole in memory), then a
// manifest naming them is PUT under the object's name. Every PUT carries the
// body's MD5 as ETag, so Swift rejects corrupted uploads, and the manifest or
// single PUT carries "If-None-Match: *", so Swift refuses (412) to overwrite
// an existing object: of two writers racing for a name exactly one commits.
// Visibility is atomic: nothing exists under the name until the manifest or
// single PUT succeeds. Reads verify the whole object's length and CRC-32C
// (recorded as object metadata) and fail with an ObjectCorruptError on a
// mismatch.
//
// Requests that fail with a 5xx status, a timeout, a rate limit (408, 429,
// 498) or a connection error are retried with capped exponential backoff and
// jitter; other 4xx statuses are never retried. A read whose connection
// breaks mid-object resumes where it stopped (a Range request, with If-Match
// on the ETag), under the same policy. Every call honours its ctx.
//
// On first use the store probes whether the server honours If-None-Match
// (one small object PUT twice and deleted, in the segment container). The
// in-process fake github.com/ncw/swift/v2/swifttest ignores it: against it
// the store still refuses to create an object that already exists (Create
// checks first, with a HEAD), but two writers racing for one name can both
// succeed; run no-overwrite race tests against a real Swift.
//
// The zero value is not usable; call NewSwiftStore. A SwiftStore is safe for
// concurrent use.
type SwiftStore struct {
	conn         *swift.Connection
	container    string
	segContainer string
	prefix       string
	threshold    int64
	concurrency  int
	attempts     int
	retryBase    time.Duration
	retryMax     time.Duration
	logger       *slog.Logger // WithSwiftLogger
	inherited    atomic.Pointer[slog.Logger]
	configErr    error

	mu    sync.Mutex
	ready bool // containers exist
	// conditionalPut: the server was seen to refuse, with 412, a PUT with
	// "If-None-Match: *" of an existing object (swifttest does not).
	conditionalPut bool
	pool           sync.Pool
}

var _ Store = (*SwiftStore)(nil)

// SwiftOption configures a SwiftStore.
type SwiftOption func(*SwiftStore)

// WithSwiftPrefix stores every object under prefix inside the container
// (e.g. "wdqs-updater/"), so several jobs or environments can share one
// container. A missing trailing "/" is added. Default: none.
func WithSwiftPrefix(prefix string) SwiftOption {
	return func(s *SwiftStore) {
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		s.prefix = prefix
	}
}

// WithSwiftSegmentContainer sets the container for large-object segments.
// Default: the container's name followed by "_segments", as the swift CLI
// does. It is created on first use, like the main container.
func WithSwiftSegmentContainer(name string) SwiftOption {
	return func(s *SwiftStore) { s.segContainer = name }
}

// WithSwiftLargeObjectThreshold sets the size above which an object is
// written as a static large object, which is also its segment size.
// Default: DefaultSwiftLargeObjectThreshold (32 MiB). Memory per writer is
// about (concurrency+1) times this.
func WithSwiftLargeObjectThreshold(n int64) SwiftOption {
	return func(s *SwiftStore) { s.threshold = n }
}

// WithSwiftUploadConcurrency sets how many segments of one large object are
// uploaded at once. Default: DefaultSwiftUploadConcurrency (2).
func WithSwiftUploadConcurrency(n int) SwiftOption {
	return func(s *SwiftStore) { s.concurrency = n }
}

// WithSwiftRetry sets the number of attempts per request (1 disables
// retries) and the bounds of the exponential backoff between them.
// Defaults: 6 attempts, 100 ms doubling up to 5 s.
func WithSwiftRetry(attempts int, base, maxWait time.Duration) SwiftOption {
	return func(s *SwiftStore) { s.attempts, s.retryBase, s.retryMax = attempts, base, maxWait }
}

// log returns the store's logger (see WithSwiftLogger).
func (s *SwiftStore) log() *slog.Logger {
	if s.logger != nil {
		return s.logger
	}
	if l := s.inherited.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// inheritLogger implements loggerInheritor.
func (s *SwiftStore) inheritLogger(l *slog.Logger) { s.inherited.CompareAndSwap(nil, l) }

// WithSwiftLogger logs retries and best-effort cleanup failures. Default:
// the logger of the first Checkpointer (and so of the job) that uses the
// store with a logger, else slog.Default().
func WithSwiftLogger(l *slog.Logger) SwiftOption {
	return func(s *SwiftStore) { s.logger = l }
}

// NewSwiftStore returns a store over container, reached through conn. It
// does no I/O: ncw/swift authenticates conn on its first request if needed,
// and the containers are created on the first Create. Pass a Connection with
// AuthUrl, UserName, ApiKey (and AuthVersion, Timeout) set; conn may be
// shared with other users. Invalid options surface as an error from every
// method.
func NewSwiftStore(conn *swift.Connection, container string, opts ...SwiftOption) *SwiftStore {
	s := &SwiftStore{
		conn:        conn,
		container:   container,
		threshold:   DefaultSwiftLargeObjectThreshold,
		concurrency: DefaultSwiftUploadConcurrency,
		attempts:    DefaultSwiftRetryAttempts,
		retryBase:   DefaultSwiftRetryBase,
		retryMax:    DefaultSwiftRetryMax,
	}
	for _, o := range opts {
		o(s)
	}
	if s.segContainer == "" {
		s.segContainer = container + "_segments"
	}
	switch {
	case conn == nil:
		s.configErr = errors.New("checkpoint: swift store: nil connection")
	case container == "" || strings.Contains(container, "/") || len(container) > 256:
		s.configErr = fmt.Errorf("checkpoint: swift store: invalid container name %q", container)
	case s.segContainer == container || strings.Contains(s.segContainer, "/") || len(s.segContainer) > 256:
		s.configErr = fmt.Errorf("checkpoint: swift store: invalid segment container name %q", s.segContainer)
	case s.threshold < 1<<20:
		s.configErr = fmt.Errorf("checkpoint: swift store: large-object threshold %d below 1 MiB", s.threshold)
	case s.concurrency < 1:
		s.configErr = fmt.Errorf("checkpoint: swift store: upload concurrency %d < 1", s.concurrency)
	case s.attempts < 1 || s.retryBase <= 0 || s.retryMax < s.retryBase:
		s.configErr = fmt.Errorf("checkpoint: swift store: invalid retry policy (%d attempts, %v..%v)", s.attempts, s.retryBase, s.retryMax)
	}
	if s.configErr == nil && s.prefix != "" {
		if err := ValidateName(strings.TrimSuffix(s.prefix, "/")); err != nil {
			s.configErr = fmt.Errorf("checkpoint: swift store: invalid prefix: %w", err)
		}
	}
	return s
}

// Container returns the container objects are stored in.
func (s *SwiftStore) Container() string { return s.container }

// SegmentContainer returns the container large-object segments go to.
func (s *SwiftStore) SegmentContainer() string { return s.segContainer }

// ObjectName returns the Swift object name under which name is stored
// (the prefix followed by name), for tools such as the swift CLI.
func (s *SwiftStore) ObjectName(name string) string { return s.prefix + name }

// check validates the store configuration, ctx and the object name.
func (s *SwiftStore) check(ctx context.Context, op, name string) error {
	if s.configErr != nil {
		return s.configErr
	}
	return checkCall(ctx, op, name)
}

// ensureContainers creates the object and segment containers once. The
// segment container must exist before the first segment is written:
// ncw/swift does not create it.
func (s *SwiftStore) ensureContainers(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return nil
	}
	for _, c := range []string{s.container, s.segContainer} {
		err := s.retry(ctx, "create container "+c, func(ctx context.Context) error {
			return s.conn.ContainerCreate(ctx, c, nil)
		})
		if err != nil {
			return fmt.Errorf("checkpoint: swift: create container %q: %w", c, err)
		}
	}
	s.conditionalPut = s.probeConditionalPut(ctx)
	s.ready = true
	return nil
}

// probeConditionalPut learns whether the server honours "If-None-Match: *"
// on PUT: it PUTs a small probe object in the segment container, PUTs the
// name again, empty, with that header, and deletes it. When the second PUT is refused with 412 the
// conditional PUT is what refuses overwrites, and Create need not first ask
// whether the name is taken. Any other outcome keeps that check.
func (s *SwiftStore) probeConditionalPut(ctx context.Context) bool {
	name := s.prefix + "streamkit-probe-" + randomHex(8)
	body := []byte("streamkit: does this server honour If-None-Match?\n")
	sum := md5.Sum(body)
	etag := hex.EncodeToString(sum[:])
	h := swift.Headers{"If-None-Match": "*"}
	if err := s.putBytes(ctx, s.segContainer, name, body, etag, h, nil); err != nil {
		s.log().Warn("checkpoint: swift: If-None-Match probe failed; checking names before each write", "err", err)
		return false
	}
	// An empty body: the server answers 412 before reading one, and a
	// body it did not read would cost the connection.
	empty := md5.Sum(nil)
	err := s.putBytes(ctx, s.segContainer, name, nil, hex.EncodeToString(empty[:]), h, nil)
	if derr := s.deleteObject(ctx, s.segContainer, name); derr != nil {
		s.log().Warn("checkpoint: swift: could not delete the If-None-Match probe", "object", s.segContainer+"/"+name, "err", derr)
	}
	return isStatus(err, 412)
}

// retry runs fn until it succeeds, fails with an error that is not worth
// retrying, ctx is done or the attempts are used up.
func (s *SwiftStore) retry(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	wait := s.retryBase
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || attempt >= s.attempts || !retryableSwiftError(err) || ctx.Err() != nil {
			return err
		}
		d := wait/2 + rand.N(wait/2+1)
		s.log().Warn("checkpoint: swift request failed, retrying", "op", what, "attempt", attempt, "wait", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after %d attempts; last error: %v)", ctx.Err(), attempt, err)
		case <-t.C:
		}
		wait = min(wait*2, s.retryMax)
	}
}

// retryableSwiftError reports whether a request that failed with err may
// succeed when repeated: server errors, timeouts, rate limits and broken
// connections. Client errors (4xx) are the caller's fault and are final.
func retryableSwiftError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *swift.Error
	if errors.As(err, &se) {
		switch {
		case se.StatusCode >= 500:
			return true
		case se.StatusCode == 408, se.StatusCode == 429, se.StatusCode == 498:
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

func isStatus(err error, code int) bool {
	var se *swift.Error
	return errors.As(err, &se) && se.StatusCode == code
}

// call issues one request to the storage URL.
func (s *SwiftStore) call(ctx context.Context, opts swift.RequestOpts) (swift.Headers, error) {
	storageURL, err := s.conn.GetStorageUrl(ctx)
	if err != nil {
		return nil, err
	}
	// Called by ncw/swift with its auth lock held, after re-authenticating.
	opts.OnReAuth = func() (string, error) { return s.conn.StorageUrl, nil }
	opts.NoResponse = true
	_, h, err := s.conn.Call(ctx, storageURL, opts)
	return h, err
}

// putBytes PUTs body as one object with its MD5 as ETag (Swift verifies
// it) and Content-Length, retrying; it also checks the returned ETag.
func (s *SwiftStore) putBytes(ctx context.Context, container, object string, body []byte, md5hex string, h swift.Headers, params url.Values) error {
	headers := swift.Headers{
		"Content-Length": strconv.Itoa(len(body)),
		"Content-Type":   "application/octet-stream",
	}
	if params == nil {
		headers["Etag"] = md5hex
	}
	for k, v := range h {
		headers[k] = v
	}
	return s.retry(ctx, "put "+container+"/"+object, func(ctx context.Context) error {
		// The HTTP transport may go on reading a request body after the
		// response arrived; detaching it guarantees that the caller can
		// reuse body as soon as putBytes returns.
		rd := &detachableReader{r: bytes.NewReader(body)}
		rh, err := s.call(ctx, swift.RequestOpts{
			Container:  container,
			ObjectName: object,
			Operation:  "PUT",
			Headers:    headers,
			Parameters: params,
			Body:       rd,
		})
		rd.detach()
		if err != nil {
			return err
		}
		if params == nil {
			if got := strings.ToLower(strings.Trim(rh["Etag"], `"`)); got != md5hex {
				return fmt.Errorf("%w: etag %q, want %q", swift.ObjectCorrupted, got, md5hex)
			}
		}
		return nil
	})
}

// detachableReader is a reader that can be cut off from its buffer.
type detachableReader struct {
	mu sync.Mutex
	r  *bytes.Reader
}

func (d *detachableReader) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.r == nil {
		return 0, io.ErrClosedPipe
	}
	return d.r.Read(p)
}

// Seek lets ncw/swift rewind the body and resend it itself when a token
// expired (401) mid-request.
func (d *detachableReader) Seek(offset int64, whence int) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.r == nil {
		return 0, io.ErrClosedPipe
	}
	return d.r.Seek(offset, whence)
}

func (d *detachableReader) detach() {
	d.mu.Lock()
	d.r = nil
	d.mu.Unlock()
}

// getBuffer returns a segment buffer from the store's pool, or nil.
func (s *SwiftStore) getBuffer() []byte {
	if b, ok := s.pool.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

// putBuffer returns a full-size segment buffer to the pool, so steady
// checkpointing does not allocate a new 32 MiB buffer per segment.
func (s *SwiftStore) putBuffer(b []byte) {
	if int64(cap(b)) == s.threshold {
		s.pool.Put(&b)
	}
}

// head returns an object's headers, or an error wrapping ErrNotFound.
func (s *SwiftStore) head(ctx context.Context, container, object string) (swift.Headers, error) {
	var h swift.Headers
	err := s.retry(ctx, "head "+container+"/"+object, func(ctx context.Context) error {
		var err error
		_, h, err = s.conn.Object(ctx, container, object)
		return err
	})
	if errors.Is(err, swift.ObjectNotFound) || errors.Is(err, swift.ContainerNotFound) || isStatus(err, 404) {
		return nil, ErrNotFound
	}
	return h, err
}

// headNewest is head with "X-Newest: true", which makes the proxy ask every
// replica, so a write is verified against the newest copy, not a stale one.
func (s *SwiftStore) headNewest(ctx context.Context, container, object string) (swift.Headers, error) {
	var h swift.Headers
	err := s.retry(ctx, "head "+container+"/"+object, func(ctx context.Context) error {
		var err error
		h, err = s.call(ctx, swift.RequestOpts{
			Container:  container,
			ObjectName: object,
			Operation:  "HEAD",
			Headers:    swift.Headers{"X-Newest": "true"},
		})
		return err
	})
	if isStatus(err, 404) {
		return nil, ErrNotFound
	}
	return h, err
}

// Create starts a new object and creates the containers on first use. Bytes
// are buffered up to the large-object threshold; beyond it they are uploaded
// as segments while the caller keeps writing.
//
// The final PUT carries "If-None-Match: *", so a server that honours it
// refuses to overwrite a committed name, and a read-back after the PUT
// confirms the object is this writer's (see putFinal). On first use the
// store probes whether the server honours the header. If it does, a small
// object costs one PUT and one HEAD; a large one also asks, before its first
// segment, whether the name is taken, so no upload is wasted on it. If it
// does not (swifttest), a HEAD started in the background while the caller
// writes answers that question, and Close fails with ErrExist when the name
// is taken, before any PUT.
func (s *SwiftStore) Create(ctx context.Context, name string) (ObjectWriter, error) {
	if err := s.check(ctx, "create", name); err != nil {
		return nil, err
	}
	if err := s.ensureContainers(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	checkNow := !s.conditionalPut
	s.mu.Unlock()
	return newSwiftWriter(ctx, s, name, s.prefix+name, false, checkNow), nil
}

// createFresh is Create for a name that no other writer will ever use (it
// holds a random token): it skips the existence check and, after a PUT
// that succeeded, the read-back, which only guard a name two writers may
// race for. The PUT stays conditional and MD5-verified, and a 412 on a
// retried PUT is still read back to recognise the writer's own attempt.
func (s *SwiftStore) createFresh(ctx context.Context, name string) (ObjectWriter, error) {
	if err := s.check(ctx, "create", name); err != nil {
		return nil, err
	}
	if err := s.ensureContainers(ctx); err != nil {
		return nil, err
	}
	return newSwiftWriter(ctx, s, name, s.prefix+name, true, false), nil
}

// Open returns a reader over a committed object. The reader verifies the
// object's length and MD5 as it reaches the end and then fails with an
// ObjectCorruptError instead of io.EOF if they do not match. Missing objects
// give an error wrapping ErrNotFound.
func (s *SwiftStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := s.check(ctx, "open", name); err != nil {
		return nil, err
	}
	var f *swift.ObjectOpenFile
	var h swift.Headers
	err := s.retry(ctx, "get "+name, func(ctx context.Context) error {
		var err error
		f, h, err = s.conn.ObjectOpen(ctx, s.container, s.prefix+name, false, nil)
		return err
	})
	if err != nil {
		if errors.Is(err, swift.ObjectNotFound) || errors.Is(err, swift.ContainerNotFound) || isStatus(err, 404) {
			return nil, fmt.Errorf("checkpoint: open %q: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("checkpoint: open %q: %w", name, err)
	}
	r := &swiftReader{ctx: ctx, s: s, name: name, f: f, size: -1, etag: h["Etag"]}
	if v, err := strconv.ParseInt(h[swiftMetaSize], 10, 64); err == nil {
		r.size = v
	} else if v, err := strconv.ParseInt(h["Content-Length"], 10, 64); err == nil {
		r.size = v
	}
	switch {
	case h[swiftMetaCRC] != "":
		r.crc = strings.ToLower(h[swiftMetaCRC])
		r.crcHash = crc32.New(swiftCRCTable)
	case !h.IsLargeObject():
		// Written by another tool: a plain object's ETag is its MD5.
		r.md5 = strings.ToLower(strings.Trim(h["Etag"], `"`))
		r.md5Hash = md5.New()
	}
	return r, nil
}

// swiftReader streams an object and verifies it at the end. When the
// connection breaks mid-object it reopens the object at the current offset
// (with If-Match on the first response's ETag, so it cannot splice in a
// different object) under the store's retry policy.
type swiftReader struct {
	ctx     context.Context
	s       *SwiftStore
	etag    string
	resumes int
	name    string
	f       *swift.ObjectOpenFile
	n       int64
	size    int64 // -1 if unknown
	crc     string
	crcHash hash.Hash32 // nil unless crc is known
	md5     string
	md5Hash hash.Hash // nil unless md5 is known
	err     error
}

func (r *swiftReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.f.Read(p)
	for n == 0 && err != nil && err != io.EOF && r.resume(err) {
		n, err = r.f.Read(p)
	}
	if r.crcHash != nil {
		r.crcHash.Write(p[:n])
	}
	if r.md5Hash != nil {
		r.md5Hash.Write(p[:n])
	}
	r.n += int64(n)
	switch {
	case err == io.EOF:
		r.err = r.verify()
		return n, r.err
	case err != nil:
		r.err = fmt.Errorf("checkpoint: read %q: %w", r.name, err)
		return n, r.err
	case r.size >= 0 && r.n > r.size:
		r.err = &ObjectCorruptError{Name: r.name, Reason: fmt.Sprintf("more than the %d bytes recorded", r.size)}
		return n, r.err
	}
	return n, nil
}

// resume reopens the object at offset r.n after a retryable read error,
// waiting as the retry policy says between attempts. It reports whether
// reading may go on.
func (r *swiftReader) resume(readErr error) bool {
	if !retryableSwiftError(readErr) || r.etag == "" {
		return false
	}
	_ = r.f.Close()
	err := readErr
	for r.resumes+1 < r.s.attempts && retryableSwiftError(err) && r.ctx.Err() == nil {
		r.resumes++
		wait := min(r.s.retryBase<<(r.resumes-1), r.s.retryMax)
		d := wait/2 + rand.N(wait/2+1)
		r.s.log().Warn("checkpoint: swift read failed, resuming", "object", r.name, "offset", r.n, "wait", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		h := swift.Headers{"If-Match": r.etag}
		if r.n > 0 {
			h["Range"] = fmt.Sprintf("bytes=%d-", r.n)
		}
		var f *swift.ObjectOpenFile
		f, _, err = r.s.conn.ObjectOpen(r.ctx, r.s.container, r.s.prefix+r.name, false, h)
		if err == nil {
			r.f = f
			return true
		}
	}
	return false
}

func (r *swiftReader) verify() error {
	if r.size >= 0 && r.n != r.size {
		return &ObjectCorruptError{Name: r.name, Reason: fmt.Sprintf("read %d bytes, want %d", r.n, r.size)}
	}
	if r.crcHash != nil {
		if got := fmt.Sprintf("%08x", r.crcHash.Sum32()); got != r.crc {
			return &ObjectCorruptError{Name: r.name, Reason: fmt.Sprintf("crc32c %s, want %s", got, r.crc)}
		}
	}
	if r.md5Hash != nil {
		if got := hex.EncodeToString(r.md5Hash.Sum(nil)); got != r.md5 {
			return &ObjectCorruptError{Name: r.name, Reason: fmt.Sprintf("md5 %s, want %s", got, r.md5)}
		}
	}
	return io.EOF
}

func (r *swiftReader) Close() error {
	if err := r.f.Close(); err != nil && !errors.Is(err, swift.ObjectCorrupted) {
		return fmt.Errorf("checkpoint: close %q: %w", r.name, err)
	}
	return nil
}

// List returns the committed objects whose names start with prefix, sorted
// by name. Sizes of large objects are their full size. A missing container
// lists as empty.
func (s *SwiftStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := s.check(ctx, "list", prefix); err != nil {
		return nil, err
	}
	var objs []swift.Object
	err := s.retry(ctx, "list "+prefix, func(ctx context.Context) error {
		var err error
		objs, err = s.conn.ObjectsAll(ctx, s.container, &swift.ObjectsOpts{Prefix: s.prefix + prefix})
		return err
	})
	if errors.Is(err, swift.ContainerNotFound) || isStatus(err, 404) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %q: %w", prefix, err)
	}
	infos := make([]ObjectInfo, 0, len(objs))
	for _, o := range objs {
		if !strings.HasPrefix(o.Name, s.prefix) {
			continue
		}
		info := ObjectInfo{Name: strings.TrimPrefix(o.Name, s.prefix), Size: o.Bytes, Modified: o.LastModified}
		if o.SLOHash == "" && strings.Contains(o.ContentType, "streamkit-slo=") {
			// The server listed the manifest's own size: ask for the object's.
			h, err := s.head(ctx, s.container, o.Name)
			if errors.Is(err, ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("checkpoint: list %q: size of %q: %w", prefix, info.Name, err)
			}
			if v, err := strconv.ParseInt(h[swiftMetaSize], 10, 64); err == nil {
				info.Size = v
			}
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// Delete removes an object and, for a static large object, its segments:
// the manifest goes first, so the object disappears atomically, then the
// segments. Segments a crash leaves behind are removed by
// RemoveOrphanSegments. Deleting a missing object is not an error.
func (s *SwiftStore) Delete(ctx context.Context, name string) error {
	if err := s.check(ctx, "delete", name); err != nil {
		return err
	}
	obj := s.prefix + name
	h, err := s.head(ctx, s.container, obj)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpoint: delete %q: %w", name, err)
	}
	var segments []string
	if h.IsLargeObject() {
		if segments, err = s.manifestSegments(ctx, obj, h); err != nil {
			return fmt.Errorf("checkpoint: delete %q: %w", name, err)
		}
	}
	if err := s.deleteObject(ctx, s.container, obj); err != nil {
		return fmt.Errorf("checkpoint: delete %q: %w", name, err)
	}
	if err := s.deleteSegments(ctx, segments); err != nil {
		return fmt.Errorf("checkpoint: delete %q: segments: %w", name, err)
	}
	return nil
}

// manifestSegments returns the segment names ("container/object") of a
// large object. For objects this store wrote, the upload ID names them; for
// others the SLO manifest is read.
func (s *SwiftStore) manifestSegments(ctx context.Context, obj string, h swift.Headers) ([]string, error) {
	if id := h[swiftMetaUpload]; id != "" {
		var names []string
		err := s.retry(ctx, "list segments "+obj, func(ctx context.Context) error {
			var err error
			names, err = s.conn.ObjectNamesAll(ctx, s.segContainer, &swift.ObjectsOpts{Prefix: obj + "/" + id + "/"})
			return err
		})
		if err != nil && !errors.Is(err, swift.ContainerNotFound) {
			return nil, err
		}
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = s.segContainer + "/" + n
		}
		return out, nil
	}
	return s.readSLOManifest(ctx, obj)
}

// readSLOManifest reads the JSON manifest of a static large object written
// by another tool and returns its segments as "container/object".
func (s *SwiftStore) readSLOManifest(ctx context.Context, obj string) ([]string, error) {
	var segs []struct {
		Name string `json:"name"`
	}
	err := s.retry(ctx, "get manifest "+obj, func(ctx context.Context) error {
		storageURL, err := s.conn.GetStorageUrl(ctx)
		if err != nil {
			return err
		}
		resp, _, err := s.conn.Call(ctx, storageURL, swift.RequestOpts{
			Container:  s.container,
			ObjectName: obj,
			Operation:  "GET",
			Parameters: url.Values{"multipart-manifest": {"get"}},
			OnReAuth:   func() (string, error) { return s.conn.StorageUrl, nil },
		})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		segs = nil
		return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&segs)
	})
	if err != nil {
		return nil, fmt.Errorf("read large-object manifest: %w", err)
	}
	out := make([]string, 0, len(segs))
	for _, seg := range segs {
		if n := strings.TrimPrefix(seg.Name, "/"); strings.Contains(n, "/") {
			out = append(out, n)
		}
	}
	return out, nil
}

func (s *SwiftStore) deleteObject(ctx context.Context, container, obj string) error {
	err := s.retry(ctx, "delete "+container+"/"+obj, func(ctx context.Context) error {
		return s.conn.ObjectDelete(ctx, container, obj)
	})
	if errors.Is(err, swift.ObjectNotFound) || errors.Is(err, swift.ContainerNotFound) || isStatus(err, 404) {
		return nil
	}
	return err
}

// deleteSegments deletes "container/object" names, all of them even when
// some fail; it returns the first error.
func (s *SwiftStore) deleteSegments(ctx context.Context, segments []string) error {
	var first error
	for _, seg := range segments {
		c, o, _ := strings.Cut(seg, "/")
		if err := s.deleteObject(ctx, c, o); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RemoveOrphanSegments deletes large-object segments under the store's
// prefix that no committed object uses: those of writes that crashed or lost
// a same-name race, and those a Delete interrupted after removing the
// manifest. Only uploads whose newest segment is older than olderThan are
// considered, so writes in progress are left alone; pick it above the
// longest time a large write may take (an hour is safe). It returns the
// number of segments deleted. Retention/GC should call it now and then.
func (s *SwiftStore) RemoveOrphanSegments(ctx context.Context, olderThan time.Duration) (int, error) {
	if s.configErr != nil {
		return 0, s.configErr
	}
	var segs []swift.Object
	err := s.retry(ctx, "list segments", func(ctx context.Context) error {
		var err error
		segs, err = s.conn.ObjectsAll(ctx, s.segContainer, &swift.ObjectsOpts{Prefix: s.prefix})
		return err
	})
	if errors.Is(err, swift.ContainerNotFound) || isStatus(err, 404) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("checkpoint: remove orphan segments: %w", err)
	}
	type upload struct {
		obj, id string
		newest  time.Time
		names   []string
	}
	uploads := map[string]*upload{}
	var order []string
	for _, o := range segs {
		// <object>/<upload ID>/<index>
		i := strings.LastIndexByte(o.Name, '/')
		if i <= 0 {
			continue
		}
		j := strings.LastIndexByte(o.Name[:i], '/')
		if j <= 0 {
			continue
		}
		key := o.Name[:i]
		u := uploads[key]
		if u == nil {
			u = &upload{obj: o.Name[:j], id: o.Name[j+1 : i]}
			uploads[key] = u
			order = append(order, key)
		}
		if o.LastModified.After(u.newest) {
			u.newest = o.LastModified
		}
		u.names = append(u.names, s.segContainer+"/"+o.Name)
	}
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	for _, key := range order {
		u := uploads[key]
		if !u.newest.Before(cutoff) {
			continue
		}
		h, err := s.head(ctx, s.container, u.obj)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return removed, fmt.Errorf("checkpoint: remove orphan segments of %q: %w", u.obj, err)
		}
		if err == nil && h[swiftMetaUpload] == u.id {
			continue // in use
		}
		if err := s.deleteSegments(ctx, u.names); err != nil {
			return removed, fmt.Errorf("checkpoint: remove orphan segments of %q: %w", u.obj, err)
		}
		removed += len(u.names)
	}
	return removed, nil
}
