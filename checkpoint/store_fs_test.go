package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint/checkpointtest"
)

func TestFileStoreConformance(t *testing.T) {
	checkpointtest.TestStore(t, func(t *testing.T) checkpoint.Store {
		s := checkpoint.NewFileStore(t.TempDir())
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "." {
			if d.IsDir() {
				rel += "/"
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	}))
	return files
}

func TestFileStoreNoIOUntilUsed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	s := checkpoint.NewFileStore(dir)
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, fs.ErrNotExist, "the constructor must not touch the disk")
	assert.Empty(t, checkpointtest.Names(t, s, ""))
	_, err = os.Stat(dir)
	require.NoError(t, err, "created on first use")
	require.NoError(t, s.Close())
	// Reopened after Close.
	checkpointtest.Put(t, s, "x", []byte("1"))
	assert.Equal(t, dir, s.Dir())
}

func TestFileStoreLayoutAndTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := checkpoint.NewFileStore(dir)
	checkpointtest.Put(t, s, "job/chk-0000000001/MANIFEST", []byte("m"))
	assert.Equal(t, []string{"job/", "job/chk-0000000001/", "job/chk-0000000001/MANIFEST"}, dirFiles(t, dir),
		"no temp file is left after Close")

	w, err := s.Create(ctx, "job/chk-0000000002/p-0000.state")
	require.NoError(t, err)
	_, err = w.Write([]byte("in progress"))
	require.NoError(t, err)
	files := dirFiles(t, dir)
	require.Len(t, files, 5)
	assert.Contains(t, files[4], "job/chk-0000000002/.tmp-p-0000.state-", "the write goes to a temp file beside its target")
	assert.Equal(t, []string{"job/chk-0000000001/MANIFEST"}, checkpointtest.Names(t, s, ""), "temp files are never listed")

	// A fresh temp file is not stale; an old one is.
	n, err := s.RemoveStaleTemp(ctx, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	n, err = s.RemoveStaleTemp(ctx, -time.Second)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"job/", "job/chk-0000000001/", "job/chk-0000000001/MANIFEST", "job/chk-0000000002/"}, dirFiles(t, dir))
	// The writer whose temp file vanished fails on Close, visibly.
	require.Error(t, w.Close())
	_, err = s.Open(ctx, "job/chk-0000000002/p-0000.state")
	require.ErrorIs(t, err, checkpoint.ErrNotFound)

	// Cancel removes the temp file.
	w, err = s.Create(ctx, "job/chk-0000000003/p-0000.state")
	require.NoError(t, err)
	_, err = w.Write([]byte("abandoned"))
	require.NoError(t, err)
	require.NoError(t, w.Cancel())
	assert.NotContains(t, strings.Join(dirFiles(t, dir), " "), ".tmp-")

	// Deleting the last object of a directory removes the emptied directories.
	require.NoError(t, s.Delete(ctx, "job/chk-0000000001/MANIFEST"))
	assert.NotContains(t, dirFiles(t, dir), "job/chk-0000000001/")
}

func TestFileStoreStaysInsideItsDirectory(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
	dir := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "escape")))
	s := checkpoint.NewFileStore(dir)

	_, err := s.Open(ctx, "escape/secret")
	require.Error(t, err, "a symlink must not lead outside the store")
	err = checkpointtest.PutErr(ctx, s, "escape/planted", []byte("x"))
	require.Error(t, err)
	_, err = os.Stat(filepath.Join(outside, "planted"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, checkpointtest.PutErr(ctx, s, "../outside", []byte("x")), checkpoint.ErrInvalidName)
}

func TestFileStoreObjectAndDirectoryNames(t *testing.T) {
	ctx := context.Background()
	s := checkpoint.NewFileStore(t.TempDir())
	checkpointtest.Put(t, s, "a/b", []byte("x"))
	// "a" is a directory here, not an object.
	_, err := s.Open(ctx, "a")
	require.ErrorIs(t, err, checkpoint.ErrNotFound)
	require.NoError(t, s.Delete(ctx, "a"))
	assert.Equal(t, []string{"a/b"}, checkpointtest.Names(t, s, ""))
	require.Error(t, checkpointtest.PutErr(ctx, s, "a", []byte("y")), "a name cannot be both object and directory")
	require.Error(t, checkpointtest.PutErr(ctx, s, "a/b/c", []byte("y")))
	_, err = s.Open(ctx, "a/b/c")
	require.ErrorIs(t, err, checkpoint.ErrNotFound)
	assert.Empty(t, checkpointtest.Names(t, s, "a/b/"))
}

func TestFileStoreBadDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	s := checkpoint.NewFileStore(file)
	_, err := s.Create(context.Background(), "x")
	require.ErrorContains(t, err, "checkpoint: file store:")
	_, err = checkpoint.NewFileStore("").List(context.Background(), "")
	require.ErrorContains(t, err, "empty directory name")
}

func ExampleFileStore() {
	dir, _ := os.MkdirTemp("", "checkpoints")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store := checkpoint.NewFileStore(dir)

	w, _ := store.Create(ctx, "myjob/chk-0000000001/MANIFEST")
	_, _ = w.Write([]byte(`{"id":1}`))
	if err := w.Close(); err != nil { // fsync, link, fsync dir: now visible
		panic(err)
	}
	// Objects are immutable: a second writer of the same name loses.
	_, err := store.Create(ctx, "myjob/chk-0000000001/MANIFEST")
	fmt.Println(errors.Is(err, checkpoint.ErrExist))

	infos, _ := store.List(ctx, "myjob/")
	for _, in := range infos {
		fmt.Println(in.Name, in.Size)
	}
	// Output:
	// true
	// myjob/chk-0000000001/MANIFEST 8
}
