package checkpoint

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FileStore is a Store over a local (or network-mounted POSIX) directory.
//
// An object named "job/chk-0000000042/MANIFEST" is the file
// <dir>/job/chk-0000000042/MANIFEST. Writes go to a temp file in the same
// directory (named ".tmp-…", which no object name may use, so List never
// shows it); Close flushes and fsyncs the file, links it to its final name
// with link(2) — which fails atomically when the name exists, so two writers
// racing for one name cannot both win and nothing is ever overwritten —
// removes the temp name and fsyncs the directory, so a committed object
// survives a power loss. Every access goes through an os.Root, so neither a
// crafted name nor a symbolic link can reach outside dir.
//
// Because objects are files, one name cannot be both an object and a
// "directory" of other objects ("a" and "a/b"); checkpoint layouts never do
// that. The directory must live on a filesystem that supports hard links.
//
// The zero value is not usable; call NewFileStore. A FileStore is safe for
// concurrent use, also by several processes sharing dir.
type FileStore struct {
	dir string

	mu   sync.Mutex
	root *os.Root
}

var _ Store = (*FileStore)(nil)

// NewFileStore returns a store over dir. It does no I/O: dir is created (with
// its parents) and opened on first use, so a misconfigured path surfaces as an
// error from the first call rather than at construction.
func NewFileStore(dir string) *FileStore {
	return &FileStore{dir: dir}
}

// Dir returns the directory the store was created with.
func (s *FileStore) Dir() string { return s.dir }

// Close releases the directory handle. The store reopens it if used again.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.root == nil {
		return nil
	}
	err := s.root.Close()
	s.root = nil
	return err
}

func (s *FileStore) openRoot() (*os.Root, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.root != nil {
		return s.root, nil
	}
	if s.dir == "" {
		return nil, errors.New("checkpoint: file store: empty directory name")
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: file store: %w", err)
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: file store: %w", err)
	}
	s.root = root
	return root, nil
}

// Create starts a new object. It fails early with ErrExist when the name is
// already committed; a writer that commits the same name first makes Close
// fail with ErrExist instead. The object is committed only if ctx is still
// live when Close is called.
func (s *FileStore) Create(ctx context.Context, name string) (ObjectWriter, error) {
	if err := checkCall(ctx, "create", name); err != nil {
		return nil, err
	}
	root, err := s.openRoot()
	if err != nil {
		return nil, err
	}
	if _, err := root.Lstat(name); err == nil {
		return nil, fmt.Errorf("checkpoint: create %q: %w", name, ErrExist)
	}
	dir := path.Dir(name)
	var f *os.File
	var tmp string
	// A concurrent Delete may remove an emptied directory between MkdirAll
	// and creating the temp file; retry a few times in that case.
	for attempt := 0; ; attempt++ {
		if err := s.mkdirAll(root, dir); err != nil {
			return nil, fmt.Errorf("checkpoint: create %q: %w", name, err)
		}
		tmp = path.Join(dir, tempPrefix+path.Base(name)+"-"+randomHex(8))
		f, err = root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 3 {
			return nil, fmt.Errorf("checkpoint: create %q: %w", name, err)
		}
	}
	return &fileWriter{ctx: ctx, store: s, root: root, name: name, tmp: tmp, f: f, bw: bufio.NewWriterSize(f, 256<<10)}, nil
}

// mkdirAll creates dir (relative to root) and fsyncs the parent of every
// directory it creates, so the new path survives a crash once the object's
// own directory is synced. It tries dir itself first: a checkpoint's
// directory is new and its parent exists, so one mkdir is the usual cost.
func (s *FileStore) mkdirAll(root *os.Root, dir string) error {
	if dir == "." {
		return nil
	}
	err := root.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.mkdirAll(root, path.Dir(dir)); err != nil {
			return err
		}
		err = root.Mkdir(dir, 0o755)
	}
	if errors.Is(err, fs.ErrExist) {
		return nil // a directory, or an object that the create then fails on
	}
	if err != nil {
		return err
	}
	return syncDir(root, path.Dir(dir))
}

func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some filesystems cannot fsync directories; the link itself is then as
	// durable as the filesystem makes it.
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// Open returns a reader over a committed object, or an error wrapping
// ErrNotFound.
func (s *FileStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkCall(ctx, "open", name); err != nil {
		return nil, err
	}
	root, err := s.openRoot()
	if err != nil {
		return nil, err
	}
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("checkpoint: open %q: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("checkpoint: open %q: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint: open %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("checkpoint: open %q: %w", name, ErrNotFound)
	}
	return f, nil
}

// List returns the committed objects whose names start with prefix, sorted
// by name. Temp files of writes in progress (or abandoned by a crash) are
// never listed; RemoveStaleTemp deletes the abandoned ones.
func (s *FileStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var infos []ObjectInfo
	err := s.walk(ctx, prefix, func(name string, fi fs.FileInfo, isTemp bool) error {
		if !isTemp && strings.HasPrefix(name, prefix) {
			infos = append(infos, ObjectInfo{Name: name, Size: fi.Size(), Modified: fi.ModTime()})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %q: %w", prefix, err)
	}
	slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// walk visits the regular files under the deepest directory that prefix
// implies, checking ctx as it goes.
func (s *FileStore) walk(ctx context.Context, prefix string, fn func(name string, fi fs.FileInfo, isTemp bool) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	root, err := s.openRoot()
	if err != nil {
		return err
	}
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		start = path.Clean(prefix[:i])
		if !fs.ValidPath(start) {
			return nil // no object can have such a prefix
		}
	}
	err = fs.WalkDir(root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by a concurrent Delete
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		return fn(p, fi, strings.HasPrefix(d.Name(), tempPrefix))
	})
	if errors.Is(err, syscall.ENOTDIR) {
		return nil // the prefix names an object, not a directory
	}
	return err
}

// RemoveStaleTemp deletes temp files left by writes that never finished (a
// crash or a lost Cancel) and were last modified more than olderThan ago. It
// returns how many it removed. Writes in progress keep their temp file
// fresh only while they write, so olderThan must exceed the longest pause a
// writer may take between writes; an hour is a safe choice.
func (s *FileStore) RemoveStaleTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	root, err := s.openRoot()
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-olderThan)
	var stale []string
	err = s.walk(ctx, "", func(name string, fi fs.FileInfo, isTemp bool) error {
		if isTemp && fi.ModTime().Before(cutoff) {
			stale = append(stale, name)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("checkpoint: remove stale temp files: %w", err)
	}
	n := 0
	for _, name := range stale {
		if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("checkpoint: remove stale temp file %q: %w", name, err)
		}
		n++
	}
	return n, nil
}

// Delete removes an object and then, best effort, the directories it leaves
// empty. Deleting a missing object is not an error.
func (s *FileStore) Delete(ctx context.Context, name string) error {
	if err := checkCall(ctx, "delete", name); err != nil {
		return err
	}
	root, err := s.openRoot()
	if err != nil {
		return err
	}
	fi, err := root.Lstat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("checkpoint: delete %q: %w", name, err)
	}
	if fi.IsDir() {
		return nil // a prefix of other objects, not an object
	}
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: delete %q: %w", name, err)
	}
	dir := path.Dir(name)
	if err := syncDir(root, dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: delete %q: sync directory: %w", name, err)
	}
	// Remove now-empty parents; Remove fails harmlessly on a non-empty one.
	for dir != "." {
		if root.Remove(dir) != nil {
			break
		}
		dir = path.Dir(dir)
	}
	return nil
}

type fileWriter struct {
	ctx   context.Context
	store *FileStore
	root  *os.Root
	name  string
	tmp   string

	mu   sync.Mutex
	f    *os.File
	bw   *bufio.Writer
	done bool
}

func (w *fileWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, fmt.Errorf("checkpoint: write %q: %w", w.name, ErrClosed)
	}
	if err := w.ctx.Err(); err != nil {
		return 0, fmt.Errorf("checkpoint: write %q: %w", w.name, err)
	}
	n, err := w.bw.Write(p)
	if err != nil {
		return n, fmt.Errorf("checkpoint: write %q: %w", w.name, err)
	}
	return n, nil
}

func (w *fileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return fmt.Errorf("checkpoint: close %q: %w", w.name, ErrClosed)
	}
	w.done = true
	if err := w.commit(); err != nil {
		w.discard()
		return fmt.Errorf("checkpoint: close %q: %w", w.name, err)
	}
	return nil
}

func (w *fileWriter) commit() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return err
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	// link(2) never replaces an existing name: this is the atomic commit and
	// the no-overwrite guarantee in one step.
	if err := w.root.Link(w.tmp, w.name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExist
		}
		return fmt.Errorf("link: %w", err)
	}
	// A temp name that cannot be removed is only litter (never listed, and
	// RemoveStaleTemp takes it later); it must not fail a committed write.
	_ = w.root.Remove(w.tmp)
	if err := syncDir(w.root, path.Dir(w.name)); err != nil {
		// Not durable: take the name back so a failed Close leaves nothing
		// visible, as the contract promises. The name is ours: link created it.
		_ = w.root.Remove(w.name)
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}

// discard closes and removes the temp file, ignoring errors: the object was
// never made visible, and RemoveStaleTemp catches what is left behind.
func (w *fileWriter) discard() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	_ = w.root.Remove(w.tmp)
}

func (w *fileWriter) Cancel() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	w.discard()
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
