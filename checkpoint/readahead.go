package checkpoint

import (
	"io"
	"sync"
)

// Read-ahead of large snapshot objects on restore: a goroutine reads the
// store's stream (network, the store's own checksum) up to
// readAheadChunks chunks of readAheadChunk bytes ahead of the decoder, so
// that downloading and decoding overlap instead of taking turns.
const (
	readAheadChunk   = 1 << 20
	readAheadChunks  = 8
	readAheadMinSize = 4 * readAheadChunk
)

// readAhead is an io.ReadCloser that serves, in order, what a goroutine
// reads from src: every byte, then src's error (io.EOF at the end) exactly
// where src returned it.
type readAhead struct {
	src  io.ReadCloser
	full chan readAheadChunkData
	free chan []byte
	stop chan struct{}
	done chan struct{}
	once sync.Once

	cur  []byte // unread part of the current chunk
	buf  []byte // the current chunk's buffer, to recycle
	err  error  // src's error, once reached
	read bool   // the goroutine has ended (err is final)
}

type readAheadChunkData struct {
	b   []byte
	err error
}

func newReadAhead(src io.ReadCloser) *readAhead {
	r := &readAhead{
		src:  src,
		full: make(chan readAheadChunkData, readAheadChunks),
		free: make(chan []byte, readAheadChunks+1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go r.fill()
	return r
}

// fill reads chunks until src fails or ends, or Close is called.
func (r *readAhead) fill() {
	defer close(r.done)
	allocated := 0
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		var b []byte
		select {
		case b = <-r.free:
		default:
			if allocated < readAheadChunks+1 {
				allocated++
				b = make([]byte, readAheadChunk)
			} else {
				select {
				case b = <-r.free:
				case <-r.stop:
					return
				}
			}
		}
		b = b[:cap(b)]
		n := 0
		var err error
		for n < len(b) && err == nil {
			var m int
			m, err = r.src.Read(b[n:])
			n += m
		}
		select {
		case r.full <- readAheadChunkData{b: b[:n], err: err}:
		case <-r.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (r *readAhead) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.read {
			return 0, r.err
		}
		if r.buf != nil {
			r.free <- r.buf
			r.buf = nil
		}
		c := <-r.full
		r.cur, r.buf = c.b, c.b
		if c.err != nil {
			r.err, r.read = c.err, true
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops the goroutine and closes src.
func (r *readAhead) Close() error {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	return r.src.Close()
}
