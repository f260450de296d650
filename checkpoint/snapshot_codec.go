package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// Snapshot object format, version 1 (all integers little-endian):
//
//	object  = magic(4) "SKCP" | version(uint16) | reserved(uint16) | block* | end
//	block   = length(uint32, 1..maxBlock) | section(uint32) | payload | crc32c(uint32)
//	end     = 0(uint32) | 0xFFFFFFFF(uint32) | crc32c(uint32) of every byte before it
//
// The CRC32C (Castagnoli) of each block covers its header and payload, so a
// decoder never parses a corrupted byte; the end block's CRC covers the whole
// object, so a truncation at a block boundary is caught too. Section 0 holds
// the msgpack-encoded snapshot header; section i (1-based) holds table i of
// the header, as records written by the table's codec, then an end op and the
// record count. Sections are block-aligned, so a table that the restoring job
// no longer declares is skipped block by block without being parsed.
const (
	formatMagic    = "SKCP"
	formatVersion  = 1
	fileHeaderLen  = 8
	blockHeaderLen = 8
	blockTrailer   = 4
	defaultBlock   = 256 << 10
	maxBlock       = 16 << 20
	endSection     = math.MaxUint32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// RecordOp is the kind of one record in a table section.
type RecordOp byte

const (
	// OpEnd ends a table section. Decoder.Next also returns it on error;
	// check Decoder.Err.
	OpEnd RecordOp = 0
	// OpPut sets a key to a value.
	OpPut RecordOp = 1
	// OpDelete removes a key (only in delta snapshots).
	OpDelete RecordOp = 2
)

// blockWriter frames a byte stream into checksummed blocks. Errors are
// sticky: after the first failed write every call is a no-op and err reports
// it, which keeps the per-record hot path free of error plumbing.
type blockWriter struct {
	w       io.Writer
	buf     []byte // header room + payload
	section uint32
	crc     uint32 // running CRC32C of every byte written to w
	size    int64
	err     error
}

func newBlockWriter(w io.Writer) *blockWriter {
	bw := &blockWriter{w: w, buf: make([]byte, blockHeaderLen, blockHeaderLen+defaultBlock+blockTrailer)}
	var hdr [fileHeaderLen]byte
	copy(hdr[:], formatMagic)
	binary.LittleEndian.PutUint16(hdr[4:], formatVersion)
	bw.raw(hdr[:])
	return bw
}

func (bw *blockWriter) raw(p []byte) {
	if bw.err != nil {
		return
	}
	n, err := bw.w.Write(p)
	bw.size += int64(n)
	bw.crc = crc32.Update(bw.crc, castagnoli, p[:n])
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		bw.err = err
	}
}

// startSection flushes the current block so that the next bytes start a new
// block of section s.
func (bw *blockWriter) startSection(s uint32) {
	bw.flush()
	bw.section = s
}

func (bw *blockWriter) flush() {
	n := len(bw.buf) - blockHeaderLen
	if n == 0 || bw.err != nil {
		bw.buf = bw.buf[:blockHeaderLen]
		return
	}
	binary.LittleEndian.PutUint32(bw.buf[0:], uint32(n))
	binary.LittleEndian.PutUint32(bw.buf[4:], bw.section)
	bw.buf = binary.LittleEndian.AppendUint32(bw.buf, crc32.Checksum(bw.buf, castagnoli))
	bw.raw(bw.buf)
	bw.buf = bw.buf[:blockHeaderLen]
}

func (bw *blockWriter) maybeFlush() {
	if len(bw.buf)-blockHeaderLen >= defaultBlock {
		bw.flush()
	}
}

// Write implements io.Writer for the msgpack encoder.
func (bw *blockWriter) Write(p []byte) (int, error) {
	if bw.err != nil {
		return 0, bw.err
	}
	total := len(p)
	for len(p) > 0 {
		room := defaultBlock - (len(bw.buf) - blockHeaderLen)
		if room <= 0 {
			bw.flush()
			continue
		}
		n := min(room, len(p))
		bw.buf = append(bw.buf, p[:n]...)
		p = p[n:]
	}
	bw.maybeFlush()
	return total, bw.err
}

// WriteByte implements io.ByteWriter for the msgpack encoder.
func (bw *blockWriter) WriteByte(c byte) error {
	bw.buf = append(bw.buf, c)
	bw.maybeFlush()
	return bw.err
}

// finish writes the last block and the end marker.
func (bw *blockWriter) finish() error {
	bw.flush()
	var end [blockHeaderLen + blockTrailer]byte
	binary.LittleEndian.PutUint32(end[4:], endSection)
	crc := crc32.Update(bw.crc, castagnoli, end[:blockHeaderLen])
	binary.LittleEndian.PutUint32(end[blockHeaderLen:], crc)
	bw.raw(end[:])
	return bw.err
}

// Encoder writes the records of one table section of a snapshot. Tables
// call it from StateTable.EncodeTo. Writes never return errors: the first
// failure is kept and reported by Err and by the snapshot writer, so a codec
// loop over ten million keys stays a tight loop.
type Encoder struct {
	bw *blockWriter
	mp *msgpack.Encoder
}

// Put starts a record that sets a key; the table then writes the key and
// value with the other methods.
func (e *Encoder) Put() { e.op(OpPut) }

// Delete starts a record that removes a key; the table then writes the key.
func (e *Encoder) Delete() { e.op(OpDelete) }

func (e *Encoder) op(op RecordOp) {
	e.bw.buf = append(e.bw.buf, byte(op))
	e.bw.maybeFlush()
}

// putUvarintVarint writes a put record of an unsigned varint key and a
// signed varint value, checking for a full block once per record.
func (e *Encoder) putUvarintVarint(k uint64, v int64) {
	bw := e.bw
	bw.buf = append(bw.buf, byte(OpPut))
	bw.buf = binary.AppendUvarint(bw.buf, k)
	bw.buf = binary.AppendVarint(bw.buf, v)
	bw.maybeFlush()
}

// Uvarint writes an unsigned varint.
func (e *Encoder) Uvarint(x uint64) {
	e.bw.buf = binary.AppendUvarint(e.bw.buf, x)
	e.bw.maybeFlush()
}

// Varint writes a zig-zag signed varint.
func (e *Encoder) Varint(x int64) {
	e.bw.buf = binary.AppendVarint(e.bw.buf, x)
	e.bw.maybeFlush()
}

// Text writes a length-prefixed string.
func (e *Encoder) Text(s string) {
	e.bw.buf = binary.AppendUvarint(e.bw.buf, uint64(len(s)))
	_, _ = e.bw.Write([]byte(s))
}

// Encode writes v in msgpack. It is what the generic Table uses for keys
// and values of any type.
func (e *Encoder) Encode(v any) {
	if e.bw.err != nil {
		return
	}
	if err := e.mp.Encode(v); err != nil && e.bw.err == nil {
		e.bw.err = fmt.Errorf("checkpoint: msgpack encode %T: %w", v, err)
	}
}

// Err reports the first error of the underlying writer or codec.
func (e *Encoder) Err() error { return e.bw.err }

// errCorruptData is what the block reader reports; the snapshot reader wraps
// it into a *CorruptError that names the object.
var errCorruptData = errors.New("corrupt data")

// blockReader reads and verifies the block stream of one object. It serves
// the payload of one section at a time: at the end of the current section's
// blocks it reports io.EOF until nextSection is called.
type blockReader struct {
	r       io.Reader
	crc     uint32 // running CRC32C of every raw byte read
	offset  int64  // raw bytes consumed so far
	hdr     [blockHeaderLen]byte
	buf     []byte // payload of the current block
	pos     int
	section uint32 // section of the current block
	pending bool   // hdr holds the header of the next, unread block
	ended   bool   // the end block was read and verified
	started bool   // nextSection was called at least once
	ioErr   error  // first error of the underlying reader
}

func newBlockReader(r io.Reader) (*blockReader, error) {
	br := &blockReader{r: r}
	var hdr [fileHeaderLen]byte
	if err := br.readRaw(hdr[:]); err != nil {
		return nil, fmt.Errorf("reading file header: %w", err)
	}
	if string(hdr[:4]) != formatMagic {
		return nil, fmt.Errorf("%w: bad magic %q, not a streamkit snapshot", errCorruptData, hdr[:4])
	}
	if v := binary.LittleEndian.Uint16(hdr[4:]); v != formatVersion {
		return nil, fmt.Errorf("%w: unsupported snapshot format version %d (this build reads %d)", errCorruptData, v, formatVersion)
	}
	return br, nil
}

// readRaw reads exactly len(p) bytes. A clean end of the object before
// that is corruption (truncation); any other error is the store's (network,
// disk) and is kept in ioErr so that no layer above mistakes it for
// corruption, which could trigger a fallback to an older checkpoint.
func (br *blockReader) readRaw(p []byte) error {
	n, err := io.ReadFull(br.r, p)
	br.crc = crc32.Update(br.crc, castagnoli, p[:n])
	br.offset += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: truncated at byte %d", errCorruptData, br.offset)
	}
	if err != nil && br.ioErr == nil {
		br.ioErr = err
	}
	return err
}

// peekHeader reads the next block header if not already read.
func (br *blockReader) peekHeader() error {
	if br.pending || br.ended {
		return nil
	}
	crcBefore := br.crc
	if err := br.readRaw(br.hdr[:]); err != nil {
		return err
	}
	if binary.LittleEndian.Uint32(br.hdr[4:]) == endSection && binary.LittleEndian.Uint32(br.hdr[:4]) == 0 {
		want := crc32.Update(crcBefore, castagnoli, br.hdr[:])
		var tr [blockTrailer]byte
		if err := br.readRaw(tr[:]); err != nil {
			return err
		}
		if got := binary.LittleEndian.Uint32(tr[:]); got != want {
			return fmt.Errorf("%w: whole-object CRC32C mismatch (stored %08x, computed %08x)", errCorruptData, got, want)
		}
		var one [1]byte
		if n, _ := io.ReadFull(br.r, one[:]); n != 0 {
			return fmt.Errorf("%w: trailing bytes after the end block at byte %d", errCorruptData, br.offset)
		}
		br.ended = true
		return nil
	}
	br.pending = true
	return nil
}

// loadBlock reads the pending block if it belongs to the current section.
// It returns io.EOF at the end of the section.
func (br *blockReader) loadBlock() error {
	if err := br.peekHeader(); err != nil {
		return err
	}
	if br.ended || binary.LittleEndian.Uint32(br.hdr[4:]) != br.section {
		return io.EOF
	}
	start := br.offset - blockHeaderLen
	n := binary.LittleEndian.Uint32(br.hdr[:4])
	if n == 0 || n > maxBlock {
		return fmt.Errorf("%w: block at byte %d has invalid length %d", errCorruptData, start, n)
	}
	if cap(br.buf) < int(n)+blockTrailer {
		br.buf = make([]byte, int(n)+blockTrailer)
	}
	br.buf = br.buf[:int(n)+blockTrailer]
	if err := br.readRaw(br.buf); err != nil {
		return err
	}
	crc := crc32.Update(crc32.Checksum(br.hdr[:], castagnoli), castagnoli, br.buf[:n])
	if got := binary.LittleEndian.Uint32(br.buf[n:]); got != crc {
		return fmt.Errorf("%w: block at byte %d fails its CRC32C check", errCorruptData, start)
	}
	br.buf = br.buf[:n]
	br.pos = 0
	br.pending = false
	return nil
}

// nextSection moves to the next section and returns its number, or
// endSection when the object ended (and verified).
func (br *blockReader) nextSection() (uint32, error) {
	if br.pos < len(br.buf) {
		return 0, fmt.Errorf("%w: section %d has %d unread bytes at byte %d", errCorruptData, br.section, len(br.buf)-br.pos, br.offset)
	}
	if err := br.peekHeader(); err != nil {
		return 0, err
	}
	if br.ended {
		return endSection, nil
	}
	next := binary.LittleEndian.Uint32(br.hdr[4:])
	if br.started && next <= br.section {
		return 0, fmt.Errorf("%w: section %d has unread data or sections are out of order at byte %d", errCorruptData, br.section, br.offset)
	}
	br.started = true
	br.section = next
	return next, nil
}

// skipSection discards the rest of the current section (verifying it).
func (br *blockReader) skipSection() error {
	for {
		br.pos = len(br.buf)
		if err := br.loadBlock(); err == io.EOF {
			br.buf, br.pos = br.buf[:0], 0
			return nil
		} else if err != nil {
			return err
		}
	}
}

func (br *blockReader) Read(p []byte) (int, error) {
	if br.pos == len(br.buf) {
		if err := br.loadBlock(); err != nil {
			return 0, err
		}
	}
	n := copy(p, br.buf[br.pos:])
	br.pos += n
	return n, nil
}

func (br *blockReader) ReadByte() (byte, error) {
	if br.pos == len(br.buf) {
		if err := br.loadBlock(); err != nil {
			return 0, err
		}
	}
	c := br.buf[br.pos]
	br.pos++
	return c, nil
}

func (br *blockReader) UnreadByte() error {
	if br.pos == 0 {
		return errors.New("checkpoint: UnreadByte at a block boundary")
	}
	br.pos--
	return nil
}

// Decoder reads the records of one table section. Tables call it from
// StateTable.DecodeFrom in a loop over Next until it returns OpEnd. Reads
// never return errors: the first failure is kept, every later read returns
// zero values, Next returns OpEnd, and Err reports it.
type Decoder struct {
	br  *blockReader
	mp  *msgpack.Decoder
	err error
}

func (d *Decoder) fail(err error) {
	if d.err == nil {
		if d.br.ioErr != nil {
			d.err = d.br.ioErr
			return
		}
		if err == io.EOF {
			err = fmt.Errorf("%w: table section ends inside a record at byte %d", errCorruptData, d.br.offset)
		}
		d.err = err
	}
}

// Next returns the op of the next record, or OpEnd at the end of the table
// section (or after an error).
func (d *Decoder) Next() RecordOp {
	if d.err != nil {
		return OpEnd
	}
	c, err := d.br.ReadByte()
	if err != nil {
		d.fail(err)
		return OpEnd
	}
	switch op := RecordOp(c); op {
	case OpEnd, OpPut, OpDelete:
		return op
	default:
		d.fail(fmt.Errorf("%w: unknown record op %d at byte %d", errCorruptData, c, d.br.offset))
		return OpEnd
	}
}

// window returns the unread bytes of the current block, verified and not
// yet parsed (nil after an error), for a table codec's bulk loop; consume
// marks the first n of them as read. It loads the section's next block
// when the current one is used up. Records may straddle blocks: a codec
// parses from the window only the records it finds whole there and reads
// the rest with the other methods.
func (d *Decoder) window() []byte {
	if d.err != nil {
		return nil
	}
	br := d.br
	if br.pos == len(br.buf) {
		// The section's next block, if any.
		if err := br.loadBlock(); err != nil {
			if err != io.EOF {
				d.fail(err)
			}
			return nil
		}
	}
	return br.buf[br.pos:]
}

// consume marks n bytes of window as read.
func (d *Decoder) consume(n int) { d.br.pos += n }

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	br := d.br
	if len(br.buf)-br.pos >= binary.MaxVarintLen64 {
		x, n := binary.Uvarint(br.buf[br.pos:])
		if n <= 0 {
			d.fail(fmt.Errorf("%w: bad varint at byte %d", errCorruptData, br.offset))
			return 0
		}
		br.pos += n
		return x
	}
	x, err := binary.ReadUvarint(br)
	if err != nil {
		d.fail(err)
		return 0
	}
	return x
}

// Varint reads a zig-zag signed varint.
func (d *Decoder) Varint() int64 {
	ux := d.Uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// Text reads a length-prefixed string.
func (d *Decoder) Text() string {
	n := d.Uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxBlock {
		d.fail(fmt.Errorf("%w: string length %d too large at byte %d", errCorruptData, n, d.br.offset))
		return ""
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.br, b); err != nil {
		d.fail(err)
		return ""
	}
	return string(b)
}

// Decode reads one msgpack value into v.
func (d *Decoder) Decode(v any) {
	if d.err != nil {
		return
	}
	if err := d.mp.Decode(v); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			d.fail(io.EOF)
			return
		}
		if errors.Is(err, errCorruptData) {
			d.fail(err)
			return
		}
		d.fail(fmt.Errorf("%w: msgpack decode %T at byte %d: %v", errCorruptData, v, d.br.offset, err))
	}
}

// Fail records a decoding error found by the table itself (for example a
// key that does not parse), so that restore reports it as corruption of the
// object being read.
func (d *Decoder) Fail(reason string) {
	d.fail(fmt.Errorf("%w: %s at byte %d", errCorruptData, reason, d.br.offset))
}

// Err reports the first error met while decoding.
func (d *Decoder) Err() error { return d.err }
