// Package checkpoint keeps a job's keyed state and source positions durable:
// object stores (OpenStack Swift, filesystem, memory), keyed state tables,
// full and incremental snapshots under checkpoint IDs, savepoints, retention
// with garbage collection, and restore-time compatibility checks. It knows
// nothing of Kafka or RDF: positions are opaque to it.
//
// # Where it sits in the exactly-once protocol
//
// A checkpoint N is written here *before* the job's commit point (the Kafka
// transaction or the SPARQL update that records the source positions and N).
// The snapshot objects come first and the manifest last, so a checkpoint
// without a manifest does not exist, and a crash at any moment leaves either
// checkpoint N-1 or N. On restore, the job reads N back from its commit point
// and loads exactly that checkpoint; checkpoints newer than the committed one
// were never committed and are garbage.
//
// # Stores
//
// A [Store] keeps immutable, named objects
// ("job/chk-0000000042/p-0003-<random token>.state",
// "job/chk-0000000042/MANIFEST"). An object appears only when its writer's
// Close commits it; Cancel or a failed write leaves nothing behind. A
// committed object is never overwritten: Create or Close fails with
// [ErrExist].
//
//   - [MemoryStore], for tests.
//   - [FileStore]: temp file, fsync, an atomic no-overwrite link(2), directory
//     fsync, every access confined to its directory through os.Root.
//   - [SwiftStore], on github.com/ncw/swift/v2: objects above a threshold are
//     streamed as static large objects, segment by segment; uploads are
//     MD5/ETag-verified and reads are checked end to end with CRC-32C;
//     If-None-Match: * is followed by a read-back; retries use capped,
//     jittered backoff on server errors, timeouts and dropped connections, and
//     broken reads resume where they stopped. [SwiftStore.RemoveOrphanSegments]
//     cleans up after crashed writers. Swift has no compare-and-swap, so two
//     uploads of one name that overlap in time may both succeed: fencing of a
//     second instance belongs at the commit point, not in the store.
//
// Package checkpointtest holds the conformance suite (TestStore) that any
// Store should pass, users' own included, a FaultStore for injected failures,
// and helpers for swifttest, a real Swift (STREAMKIT_SWIFT_AUTH_URL) and
// stopping the proxy of the loopback Swift (scripts/swift-saio.sh) in the
// middle of a write.
//
// # Keyed state
//
// State lives in [StateTable]s, one set per input partition so a partition can
// move to another instance with its state. [Table] holds any key and value
// types, msgpack encoded. [EntityTable] maps Wikibase entity IDs to int64
// (e.g. the last revision seen) in about 27 bytes per key at ten million keys:
// IDs are packed into a uint64 ([EntityID]), with a fallback map for IDs that
// do not pack. Tables track the keys changed and deleted since the last
// checkpoint, which is what makes incremental checkpoints cheap.
//
// # Checkpoints, savepoints and GC
//
// A [Checkpointer] writes, under a monotonically increasing checkpoint ID, one
// snapshot object per changed partition — a full base, or a delta of the keys
// changed and deleted since the last checkpoint (a new base every
// [WithFullEvery] checkpoints or when the deltas exceed [WithDeltaRatio] of the
// base) — then, last, a JSON [Manifest] listing each partition's base+delta
// chain with sizes and CRC-32C checksums, the positions, the job name, table
// schemas and the creation time. Snapshot objects are a versioned, streamed
// format of checksummed blocks, so a restore never trusts a damaged byte: it
// reports a [*CorruptError] naming the object, and falls back to an older
// checkpoint only with [FallBackOnCorruption]. Before loading anything,
// restore compares the stored tables and schema versions with what the job
// declares and lists every mismatch in one [*IncompatibleError];
// [AllowDroppedState] lets a job drop state it no longer declares.
//
// With [WithInlineDeltas], small deltas are kept inline in the manifest, so
// that most incremental checkpoints write a single object.
//
// # Round trips of an incremental checkpoint on Swift
//
// Each request left on the path serves one safety rule:
//
//  1. Only when the delta does not fit inline: the PUT of the delta object.
//     A manifest is written only after every object it names is durable,
//     so this PUT completes before the manifest's starts. Its name carries
//     a random token, so no other writer can race for it: it needs no
//     existence check and no read-back.
//  2. The manifest's PUT, with If-None-Match: *: the commit of the
//     checkpoint. Two instances may pick the same checkpoint ID; the
//     conditional PUT lets only one of them commit, and the commit point
//     may then name only a complete checkpoint.
//  3. Once the manifest is committed, at the same time: its read-back
//     (HEAD with X-Newest; Swift checks If-None-Match when an upload starts,
//     so of two overlapping uploads both may pass, and the read-back tells
//     the loser it lost), and one listing of the job's checkpoint
//     directories that withdraws the manifest if a GC is deleting what it
//     names (GC never deletes what a retained checkpoint needs; see
//     [Checkpointer.GC] for why the listing must follow the commit).
//
// That is two sequential round trips, three with a delta object. Off the
// path: the listing for the next checkpoint ID (the previous checkpoint's
// verification listing answers it), and container creation and the probe
// of whether the server honours If-None-Match (once per store; where it does
// not, as with swifttest, an existence HEAD precedes each commit).
//
// Why neither request of step 3 can go:
//
//   - The listing cannot be skipped, taken every k-th checkpoint or moved
//     off the path, not even for a checkpoint whose deltas are all inline
//     and which names only objects the previous, verified checkpoint named.
//     With a second writer of the job and retention 3, a GC may see three
//     of that writer's checkpoints newer than our previous one, P, two of
//     them newer than our M, expire P and delete P's base before M is
//     committed; M, still among the newest three, would then name a
//     deleted base, and only a listing made after M's commit sees that
//     (the base is gone, or the GC's tombstone is there).
//   - The read-back cannot be replaced by the PUT's ETag check: the ETag
//     proves that the bytes arrived whole, not that they are the bytes
//     that stay under the name when two uploads overlap. Nor by the
//     listing's hash of the manifest: container listings may lag behind the
//     objects under failures, where the HEAD with X-Newest asks every
//     replica.
//
// Both run at the same time, so the floor of an inline checkpoint is one
// PUT plus the slower of a HEAD and a listing.
//
// Savepoints are named pins of a completed checkpoint (a copy of its manifest,
// positions and job identity included) that GC never collects. [Checkpointer.GC]
// keeps the newest checkpoints ([WithRetain]) and everything they and the
// savepoints need (a delta chain's base included), removes older checkpoints
// and the objects of checkpoints that never got a manifest, and is safe with
// concurrent writers and GCs of the same job; its doc comment gives the
// argument.
package checkpoint
