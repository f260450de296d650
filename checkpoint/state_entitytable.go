package checkpoint

import (
	"encoding/binary"
	"math/bits"
)

// EntityTable maps Wikibase entity IDs to int64 values (typically the last
// seen revision), built to hold the whole of Wikidata (~120M entities) per
// job. Measured with runtime.MemStats at ten million keys
// (BenchmarkStateMemory): EntityTable 27 bytes per key (by construction
// never more than 43 between growths), map[uint64]int64 of packed IDs 30,
// map[string]int64 60, Table[string,int64] (a map plus its dirty set) 105.
//
// Why a specialised table: keys are packed into an EntityID (8 bytes instead
// of a 16-byte string header plus the string's bytes), and entries live in
// one open-addressing array of 16-byte slots (linear probing, Fibonacci
// hashing, load factor at most 3/4, backward-shift deletion, so there are no
// tombstones), with one dirty bit per slot: dirty tracking costs 0.2 bytes
// per key whatever the number of changes, where a dirty set in a second map
// would cost ~20 bytes per changed key, and a full snapshot is one pass over
// one array. Deleted keys are kept in a small set until the next
// checkpoint. IDs that do not pack into an EntityID (see
// ErrEntityIDNotCompact) go to a fallback map of string keys, which works
// for any ID at map cost per key. Growing doubles the array, so for a moment
// both the old and the new array are live.
//
// Snapshots encode each entry as an op byte, the packed ID as an unsigned
// varint with the kind in the low bits (0 followed by the string for
// fallback keys) and the value as a signed varint: about 11 bytes per entry
// for current Wikidata item IDs and revision numbers.
// Not safe for concurrent use; see StateTable.
type EntityTable struct {
	schema TableSchema
	slots  []entitySlot // len is 0 or a power of two
	dirty  []uint64     // one bit per slot
	// dirtyWords has one bit per word of dirty that may be non-zero, so
	// that a delta and ClearDirty visit the few words with changes instead
	// of the whole bitmap (32 MB at Wikidata's size).
	dirtyWords []uint64
	shift      uint // 64 - log2(len(slots))
	count      int
	nDirty     int
	deleted    map[EntityID]struct{}
	fallback   *Table[string, int64]
	// journal holds the old values of the IDs changed since Mark (see
	// Rollbacker), once recording has started (marked).
	journal []entityUndo
	marked  bool
}

// entityUndo is the state of one ID before a change.
type entityUndo struct {
	k   EntityID
	v   int64
	had bool
}

type entitySlot struct {
	key EntityID // 0: empty
	val int64
}

var (
	_ StateTable = (*EntityTable)(nil)
	_ Rollbacker = (*EntityTable)(nil)
)

// NewEntityTable returns an empty table. version is the schema version of
// the values (see TableSchema.Version).
func NewEntityTable(name string, version int) *EntityTable {
	t := &EntityTable{
		schema:   TableSchema{Name: name, Version: version, Codec: "entity-int64"},
		deleted:  make(map[EntityID]struct{}),
		fallback: NewTable[string, int64](name, version),
	}
	return t
}

// Grow makes room for n keys in total without further rehashing. Restore
// calls it with the size recorded in the snapshot.
func (t *EntityTable) Grow(n int) {
	if want := entitySlotsFor(n); want > len(t.slots) {
		t.rehash(want)
	}
}

// entitySlotsFor returns the slot count for n keys: the smallest power of
// two (at least 16) with n <= 3/4 of it. This is also where put grows to.
func entitySlotsFor(n int) int {
	want := 16
	for want*3/4 < n {
		want *= 2
	}
	return want
}

// entityBytesPerKey is the memory of the slot array and dirty bitmap per
// key for a table of n keys (fallback keys aside).
func entityBytesPerKey(n int) float64 {
	slots := entitySlotsFor(n)
	return float64(slots*16+(slots+63)/64*8) / float64(n)
}

func (t *EntityTable) rehash(size int) {
	old, oldDirty := t.slots, t.dirty
	t.slots = make([]entitySlot, size)
	t.dirty = make([]uint64, (size+63)/64)
	t.dirtyWords = make([]uint64, (len(t.dirty)+63)/64)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for i, s := range old {
		if s.key == 0 {
			continue
		}
		j := t.home(s.key)
		for t.slots[j].key != 0 {
			j = (j + 1) & (len(t.slots) - 1)
		}
		t.slots[j] = s
		if oldDirty[i>>6]&(1<<(i&63)) != 0 {
			t.setDirty(j)
		}
	}
}

// setDirty sets the dirty bit of slot i (and of its word in dirtyWords).
func (t *EntityTable) setDirty(i int) {
	t.dirty[i>>6] |= 1 << (i & 63)
	w := i >> 6
	t.dirtyWords[w>>6] |= 1 << (w & 63)
}

// dirtyWordsDo calls fn with the index of every word of dirty whose bit is
// set in dirtyWords, in increasing order.
func (t *EntityTable) dirtyWordsDo(fn func(w int)) {
	for s, sum := range t.dirtyWords {
		for sum != 0 {
			b := bits.TrailingZeros64(sum)
			sum &= sum - 1
			fn(s<<6 | b)
		}
	}
}

func (t *EntityTable) home(k EntityID) int {
	return int((uint64(k) * 0x9E3779B97F4A7C15) >> t.shift)
}

// find returns the slot of k, or -1.
func (t *EntityTable) find(k EntityID) int {
	if len(t.slots) == 0 {
		return -1
	}
	mask := len(t.slots) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		switch t.slots[i].key {
		case k:
			return i
		case 0:
			return -1
		}
	}
}

// GetID returns the value of a packed ID.
func (t *EntityTable) GetID(k EntityID) (int64, bool) {
	if i := t.find(k); i >= 0 {
		return t.slots[i].val, true
	}
	return 0, false
}

// SetID sets a packed ID to v and marks it dirty. An ID that is not Valid
// is stored under its String form in the fallback map rather than lost.
func (t *EntityTable) SetID(k EntityID, v int64) {
	if !k.Valid() {
		t.fallback.Set(k.String(), v)
		return
	}
	if t.marked {
		old, had := t.GetID(k)
		t.journal = append(t.journal, entityUndo{k: k, v: old, had: had})
	}
	t.put(k, v, true)
}

func (t *EntityTable) put(k EntityID, v int64, markDirty bool) {
	if (t.count+1)*4 > len(t.slots)*3 {
		t.rehash(max(16, 2*len(t.slots)))
	}
	mask := len(t.slots) - 1
	i := t.home(k)
	for ; t.slots[i].key != 0 && t.slots[i].key != k; i = (i + 1) & mask {
	}
	if t.slots[i].key == 0 {
		t.count++
		t.slots[i].key = k
	}
	t.slots[i].val = v
	if markDirty {
		if t.dirty[i>>6]&(1<<(i&63)) == 0 {
			t.setDirty(i)
			t.nDirty++
		}
		if len(t.deleted) > 0 {
			delete(t.deleted, k)
		}
	}
}

// DeleteID removes a packed ID and marks it deleted; a missing ID does
// nothing.
func (t *EntityTable) DeleteID(k EntityID) {
	if t.marked {
		old, had := t.GetID(k)
		if !had {
			return
		}
		t.journal = append(t.journal, entityUndo{k: k, v: old, had: true})
	}
	t.remove(k, true)
}

// Mark implements checkpoint.Rollbacker.
func (t *EntityTable) Mark() {
	t.journal = t.journal[:0]
	t.marked = true
	t.fallback.Mark()
}

// Rollback implements checkpoint.Rollbacker.
func (t *EntityTable) Rollback() {
	for i := len(t.journal) - 1; i >= 0; i-- {
		u := t.journal[i]
		if u.had {
			t.put(u.k, u.v, true)
		} else {
			t.remove(u.k, true)
		}
	}
	t.journal = t.journal[:0]
	t.fallback.Rollback()
}

func (t *EntityTable) remove(k EntityID, markDirty bool) {
	i := t.find(k)
	if i < 0 {
		return
	}
	if t.dirty[i>>6]&(1<<(i&63)) != 0 {
		t.dirty[i>>6] &^= 1 << (i & 63)
		t.nDirty--
	}
	if markDirty {
		t.deleted[k] = struct{}{}
	}
	t.count--
	// Backward-shift deletion: move later entries of the probe run into the
	// hole unless their home lies cyclically in (hole, j].
	mask := len(t.slots) - 1
	hole := i
	for j := (i + 1) & mask; t.slots[j].key != 0; j = (j + 1) & mask {
		h := t.home(t.slots[j].key)
		if (j > hole && (h <= hole || h > j)) || (j < hole && h <= hole && h > j) {
			t.slots[hole] = t.slots[j]
			if t.dirty[j>>6]&(1<<(j&63)) != 0 {
				t.dirty[j>>6] &^= 1 << (j & 63)
				t.setDirty(hole)
			}
			hole = j
		}
	}
	t.slots[hole] = entitySlot{}
}

// Get returns the value of an entity ID in string form.
func (t *EntityTable) Get(id string) (int64, bool) {
	if k, ok := parseEntityID(id); ok {
		return t.GetID(k)
	}
	return t.fallback.Get(id)
}

// Set sets an entity ID in string form to v and marks it dirty.
func (t *EntityTable) Set(id string, v int64) {
	if k, ok := parseEntityID(id); ok {
		t.SetID(k, v)
		return
	}
	t.fallback.Set(id, v)
}

// Delete removes an entity ID in string form; a missing ID does nothing.
func (t *EntityTable) Delete(id string) {
	if k, ok := parseEntityID(id); ok {
		t.DeleteID(k)
		return
	}
	t.fallback.Delete(id)
}

// Range calls fn for every entry in unspecified order until fn returns
// false. fn must not modify the table.
func (t *EntityTable) Range(fn func(id string, v int64) bool) {
	var buf []byte
	for _, s := range t.slots {
		if s.key != 0 {
			buf = s.key.AppendTo(buf[:0])
			if !fn(string(buf), s.val) {
				return
			}
		}
	}
	t.fallback.Range(fn)
}

// Schema implements StateTable.
func (t *EntityTable) Schema() TableSchema { return t.schema }

// Len implements StateTable.
func (t *EntityTable) Len() int { return t.count + t.fallback.Len() }

// DirtyLen implements StateTable.
func (t *EntityTable) DirtyLen() int { return t.nDirty + len(t.deleted) + t.fallback.DirtyLen() }

// ClearDirty implements StateTable.
func (t *EntityTable) ClearDirty() {
	if t.nDirty > 0 {
		t.dirtyWordsDo(func(w int) { t.dirty[w] = 0 })
	}
	clear(t.dirtyWords)
	t.nDirty = 0
	t.deleted = make(map[EntityID]struct{})
	t.fallback.ClearDirty()
}

// Reset implements StateTable; it also releases the slot array.
func (t *EntityTable) Reset() {
	t.slots, t.dirty, t.dirtyWords, t.shift, t.count, t.nDirty = nil, nil, nil, 0, 0, 0
	t.deleted = make(map[EntityID]struct{})
	t.journal = t.journal[:0]
	t.fallback.Reset()
}

const kindBits = 64 - kindShift

// wireKey moves the kind from the top to the bottom bits, so that the
// varint of an item ID is as short as its number allows (5 bytes for
// Q1000000000 instead of 9).
func wireKey(k EntityID) uint64 { return bits.RotateLeft64(uint64(k), kindBits) }

// EncodeTo implements StateTable.
func (t *EntityTable) EncodeTo(e *Encoder, full bool) int64 {
	var n int64
	if full {
		for _, s := range t.slots {
			if s.key != 0 {
				e.putUvarintVarint(wireKey(s.key), s.val)
				n++
			}
		}
		for k, v := range t.fallback.m {
			e.Put()
			e.Uvarint(0)
			e.Text(k)
			e.Varint(v)
			n++
		}
		return n
	}
	t.dirtyWordsDo(func(w int) {
		for word := t.dirty[w]; word != 0; word &= word - 1 {
			s := t.slots[w<<6|bits.TrailingZeros64(word)]
			e.putUvarintVarint(wireKey(s.key), s.val)
			n++
		}
	})
	for k := range t.deleted {
		e.Delete()
		e.Uvarint(wireKey(k))
		n++
	}
	for k := range t.fallback.dirty {
		if v, ok := t.fallback.m[k]; ok {
			e.Put()
			e.Uvarint(0)
			e.Text(k)
			e.Varint(v)
		} else {
			e.Delete()
			e.Uvarint(0)
			e.Text(k)
		}
		n++
	}
	return n
}

// entityRecordMax is the longest record of a packed ID: the op byte and
// two varints of at most ten bytes.
const entityRecordMax = 1 + 2*binary.MaxVarintLen64

// decodeWindow applies the whole records of packed IDs at the start of the
// decoder's current block straight from its bytes, without a call per
// field, and returns how many it applied. It stops, leaving them to the
// general loop (which also reports errors), at a record that may not be
// whole in the block, at a fallback key, at the end op and at anything that
// does not parse. (Applying records on a second goroutine while the next
// ones are parsed was slower on two cores: 0.86 s against 0.43 s for 10M
// keys, with twice the system time.)
func (t *EntityTable) decodeWindow(d *Decoder) int64 {
	b := d.window()
	var n int64
	pos := 0
	for len(b)-pos >= entityRecordMax {
		op := RecordOp(b[pos])
		if op != OpPut && op != OpDelete {
			break
		}
		ux, m := binary.Uvarint(b[pos+1:])
		if m <= 0 || ux == 0 {
			break
		}
		k := EntityID(bits.RotateLeft64(ux, -kindBits))
		if !k.Valid() {
			break
		}
		next := pos + 1 + m
		if op == OpPut {
			v, m := binary.Varint(b[next:])
			if m <= 0 {
				break
			}
			t.put(k, v, false)
			next += m
		} else {
			t.remove(k, false)
		}
		pos = next
		n++
	}
	d.consume(pos)
	return n
}

// DecodeFrom implements StateTable.
func (t *EntityTable) DecodeFrom(d *Decoder) int64 {
	var n int64
	for {
		n += t.decodeWindow(d)
		op := d.Next()
		if op == OpEnd {
			return n
		}
		k := EntityID(bits.RotateLeft64(d.Uvarint(), -kindBits))
		var s string
		if k == 0 {
			s = d.Text()
		} else if !k.Valid() {
			d.Fail("invalid packed entity ID")
		}
		var v int64
		if op == OpPut {
			v = d.Varint()
		}
		if d.Err() != nil {
			return n
		}
		switch {
		case op == OpPut && k != 0:
			t.put(k, v, false)
		case op == OpPut:
			t.fallback.m[s] = v
		case k != 0:
			t.remove(k, false)
		default:
			delete(t.fallback.m, s)
		}
		n++
	}
}
