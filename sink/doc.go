// Package sink holds where a job's output goes: a transactional Kafka
// producer whose commit carries the source positions, a dead-letter sink with
// replay, an in-memory RDF store with the semantics of a WDQS triple store,
// and the SPARQL pieces that write a consolidated patch and the job's commit
// point to a real store in one request. No sink commits on its own schedule:
// the job runner calls Commit (or Apply) once per checkpoint. [SPARQL] and
// [GraphOutput] are job task outputs (the root package's Output contract) for
// a triple store and for the in-memory graph, and [RDFConsumer] is the WDQS
// per-replica consumer as a job processor.
//
// # Commit points
//
// A [CommitPoint] is what a store-side commit records together with the data,
// in the same atomic write: the job, the checkpoint ID and the source
// [Position]s after the batch. It is how a job achieves exactly-once output
// into a store (see the root package's protocol): on restart it reads the
// commit point back from the store and resumes exactly there.
//
// # Kafka output, exactly once
//
// [Kafka] is a transactional producer for a job's output: each checkpoint is
// one transaction (Begin, Send, Commit). [Kafka.Commit] adds the commit point's
// positions to the transaction as the consumer group's offsets, with metadata
// naming the job and checkpoint ID ("streamkit:chk=42;job=wdqs"), and commits:
// output and positions become visible together, or not at all. A failed
// commit is aborted and returned ([ErrCommitFailed]); the runner retries the
// checkpoint. [ReadKafkaCommitPoint] reads the commit point back on restart.
// No transaction outlives a process: a restarted producer with the same
// transactional ID aborts what its predecessor left open and the job
// reprocesses from the committed offsets, so by design a restart after longer
// than the broker's transaction timeout loses nothing, unlike Flink's
// FLINK-16419 (the root package's long-outage test shows it end to end with
// a SIGKILLed child process).
// The same ID fences zombies: after a newer producer initialises, the old
// one's commit fails with [ErrFenced], and a fenced sink never writes again.
//
// [DeadLetter] writes failed records, bytes untouched, with streamkit.dlq.*
// provenance headers into the same transaction, so a record is either
// processed or dead-lettered, never lost and never both. [Replay] reads a
// dead-letter topic (read_committed, filtered by topic, stage, error class or
// failure time) and sends the original records back.
//
// # In-memory graph
//
// [Graph] is an in-memory RDF store with the semantics of a WDQS triple store
// fed by the streaming updater's consumer: users' unit tests and the
// quickstart use it instead of Blazegraph, and the SPARQL sink's differential
// tests compare real stores against it. [Graph.Apply] applies a
// rdfdiff.ConsolidatedPatch in the consumer's order (removed, added,
// linked-shared with an optional lag marker, entity deletes as WDQS's
// deleteEntity.sparql, reconciliations as its MultiSync) and records the
// CommitPoint in the same atomic step; a failed Apply changes nothing, and
// [Graph.Positions] returns what the last batch committed. [WithOrphanCleanup]
// deletes value and reference nodes a batch left unreferenced, which WDQS
// never does. Terms are interned to 32-bit IDs with per-node subject and
// object edge sets, so entity deletes and orphan checks touch only the nodes
// involved (about 100 bytes per triple, millions of triples per second).
// [Graph.Dump] writes sorted canonical N-Triples, byte-identical for equal
// graphs, for tests to compare.
//
// # SPARQL stores
//
// [Client] speaks the SPARQL 1.1 Protocol: Update posts a raw
// application/sparql-update body (or a form), Query and Ask read SPARQL JSON
// results into rdfdiff.Terms. Every call takes a ctx and a per-attempt
// timeout; timeouts, connection errors and 5xx answers are retried with
// capped, jittered backoff, 4xx answers never are. Failures are [*StoreError]
// values that match [ErrStoreRejected] (the request is wrong: bisect it,
// dead-letter the culprit) or [ErrStoreUnavailable] (the store is unwell:
// retry later).
//
// [AppendSPARQLTerm] writes a term so that the store holds exactly that term,
// or refuses it with a [*TermError] ([ErrUnsafeTerm]): blank nodes (skolemize
// first), IRIs with characters SPARQL forbids, malformed language tags,
// U+0000. [UpdateBuilder] turns a rdfdiff.ConsolidatedPatch and a CommitPoint
// into one update request, in WDQS's order (delete removed and insert added
// triples, insert linked-shared ones and the optional lag marker, entity
// deletes, reconciliations), ending with the job's checkpoint ID and source
// positions. Unlinked-shared triples are never sent (as in WDQS).
//
// On an atomic store (Oxigraph) a request is the commit point: a crash leaves
// the previous commit or this one, and [UpdateBuilder.ReadCommitPoint] tells
// a restarting job where to resume. Virtuoso is not atomic across a request's
// operations: there it is at-least-once with idempotent replay, and a
// half-applied commit point is reported (both commit points are visible),
// never lost.
//
// # SPARQL sink
//
// [SPARQL] is a job task's output into a SPARQL store. The task's processor
// hands it reassembled entity changes ([SPARQL.Add], with their source records
// as provenance); [SPARQL.Commit] merges them with rdfdiff's Accumulator and
// sends the consolidated patch together with the commit point (one node per
// input partition: offset, checkpoint ID, job) in the same update request, so
// on an atomic store (Oxigraph, Blazegraph) a checkpoint lands whole or not at
// all and [SPARQL.ReadCommitPoint] tells a restarted task where to resume.
// This per-partition layout is separate from the job-level one that
// [UpdateBuilder.ReadCommitPoint] reads, because tasks commit independently;
// two consumers writing one store need different commit graphs.
// Requests stay under [BatchLimits] (triples and bytes, per [Dialect]); a
// checkpoint that needs several requests carries the commit point in the last
// and is at-least-once (idempotent replay), logged and counted, and
// [SPARQL.WantsCommit] asks for early checkpoints to keep that rare. Virtuoso
// is never atomic: at-least-once, said at construction. A 4xx answer is
// bisected down to the offending change, which goes to a [RejectedHandler]
// ([DeadLetterRejected]) while the rest applies. Claim cannot fence a zombie
// on a plain SPARQL store: the job must keep one writer per partition.
// Blazegraph's HTML update report is parsed for its mutation count
// ([ParseBlazegraphUpdate]), checked against real Blazegraph 2.1.5 answers:
// it counts every statement an operation actually inserted or removed, so a
// triple a reconciliation clears and inserts again counts twice.
//
// # The per-replica consumer
//
// [RDFConsumer] is the WDQS consumer as a job Processor: it decodes each
// rdf_change record of the mutation topic, reassembles chunked events with
// rdfdiff.Reassembler (one per input partition) and hands each complete entity
// change to the task's output, a [ChangeWriter] ([SPARQL], [GraphOutput]), which
// merges a checkpoint's changes and applies them with the commit point. The
// chunks of an event not yet complete live byte for byte in a checkpointed
// state table, so a checkpoint between two chunks of one event is exact after
// a restart: no chunk is lost or read twice. Records that do not decode, broken
// chunk sequences and changes that can never apply are refused with a
// [*StageError] naming the stage ("decode", "reassemble", "accumulate"); the
// runner dead-letters the record at fault and the consumer's [FailureWriter] the
// earlier chunks of its event. [GraphOutput] is a [Graph] as a task's Output, with
// the SPARQL sink's method set, for the quickstart and for unit tests: Commit
// applies the checkpoint's changes and commit point in one atomic step, and
// dead letters sent to it are kept with the checkpoint that commits them.
//
// # Store quirks the tests normalise
//
// Both Oxigraph and Virtuoso return xsd:decimal, xsd:double and xsd:integer
// values in canonical form ("+1.96" reads back as "1.96", "01" as "1";
// DELETE DATA still matches the written form), and trim xsd:dateTime
// fractions (Oxigraph drops trailing zeros, Virtuoso keeps microseconds).
// Oxigraph 0.5 rejects, with a 400 for the whole request, any language tag
// that is not well-formed BCP 47 (Wikidata's "zh-classical" among them: the
// sink bisects and dead-letters the change). Virtuoso needs a named graph
// for INSERT DATA, takes at most about 1 000 triples per INSERT DATA
// ([WithMaxDataTriples]), returns xsd:string literals as typed literals,
// canonicalises WKT literals, and silently rewrites IRIs longer than about
// 1 880 bytes into a prefix plus a hash: its dialect refuses such IRIs
// ([WithMaxIRIBytes]), so the change is dead-lettered rather than stored
// altered.
//
// Blazegraph 2.1.5, in a namespace configured as WDQS's, holds xsd:dateTime
// to the millisecond (truncated, in UTC; read back with three fraction
// digits), and its lexicon identifies terms by their Unicode collation key:
// IRIs and literals that differ only in ignorable characters (C0 controls,
// ZERO WIDTH JOINER and NON-JOINER) or by canonical equivalence, and
// language tags that differ only in case, are one term, returned in the
// form stored first. It fails a request holding an ill-typed xsd:boolean
// with a 500, as if it were unwell: its dialect refuses such literals
// ([WithWellTypedBooleans]), so the change is dead-lettered.
//
// # What proves it
//
// A differential test sends the real WDQS rdf_change events and a seeded
// stream of thousands more over real Wikidata entities (imports, diffs,
// merged sitelinks, shared references, deletes, reconciliations, lost
// events) through the consumer path — decode, reassemble, accumulate in
// batches — into sink.Graph, Oxigraph, Virtuoso and Blazegraph; after every
// batch each store hands back exactly the commit point just written (and
// Blazegraph's mutation count matches the triples changed), and at the end
// all hold the same graph, read back through an independent SPARQL client
// (github.com/knakk/sparql) and compared as sorted canonical N-Triples. A
// property test and FuzzSPARQLTermRoundTrip write thousands of awkward terms
// (every escape class, non-BMP and combining characters, 100 kB literals,
// unusual IRIs, language tags, datatypes) to both stores; each reads back
// unchanged, modulo the quirks above, each pinned by its own test, and is
// removed by DELETE DATA built from the same term. The per-replica consumer
// is SIGKILLed 20 times while it writes to Oxigraph (the root package's
// consumer_kill_test.go) and the store still ends equal to the reference,
// every entity at its last revision. BenchmarkOxigraphVersusCurl posts the
// same bodies through Client and through curl: 1.0–1.25× curl's triples/s
// for batches of 100, 1 000 and 10 000 triples.
package sink
