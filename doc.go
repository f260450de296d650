// Package streamkit is a set of stream-processing primitives for building
// updaters: long-running jobs that read change events from Kafka, work out
// what changed, and keep another system (a Kafka topic, a SPARQL triple
// store) exactly in step with them, from one small Go binary.
//
// # Concepts
//
// A job reads records from a source, hands each one to a handler, and sends
// what the handler emits to one or more sinks:
//
//	source (Kafka) ──▶ handler (your code, keyed state) ──▶ sinks (Kafka, SPARQL store, dead letters)
//	                              │
//	                              ▼
//	                     checkpoint store (Swift, filesystem, memory)
//
// The packages divide that picture:
//
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff]: RDF terms,
//     Turtle and N-Triples parsing and writing, WDQS munging and
//     skolemization, the four-bucket entity diff, patch accumulation, and the
//     rdf_change event codec with chunking. Pure computation: no I/O.
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint]: where
//     snapshots of keyed state and source positions live (Swift, filesystem,
//     memory), with incremental deltas, savepoints and garbage collection.
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/source]: the Kafka
//     source, with partition assignment, positions, hand-off hooks and
//     event-time watermarks; source/kafkatest runs an in-process Kafka
//     cluster for tests.
//   - [gitlab.wikimedia.org/repos/search-platform/streamkit/sink]: the
//     transactional Kafka sink, the dead-letter sink, an in-memory RDF graph,
//     and the SPARQL client and update builder for triple stores.
//   - sidecar (planned): the HTTP control plane beside a running job.
//
// The Job runner that wires these together and drives the checkpoint cycle
// below is the next piece to be written; the packages are shaped for it (no
// component commits on its own: the commit point is the runner's).
//
// # Exactly once: one commit point per checkpoint
//
// Every checkpoint has exactly one atomic commit point, in the system that
// receives the job's output, and that commit records the source positions
// and the checkpoint ID N. A checkpoint goes through four steps:
//
//  1. Barrier: the job stops taking records and lets in-flight work finish
//     into the open output transaction.
//  2. Snapshot: keyed state and the next source positions are written to the
//     checkpoint store as immutable objects under N, the manifest last, so a
//     half-written checkpoint is never visible.
//  3. Commit point: one atomic write carries output, positions and N: a Kafka
//     transaction that also commits the consumer offsets, or one SPARQL update
//     request that also writes the position triples.
//  4. Restore: on start, read the positions and N back from the commit point,
//     load snapshot N and seek. Snapshots newer than N were never committed.
//
// A crash anywhere therefore leaves either checkpoint N-1 or N, never a mix,
// and no output transaction stays open across a restart.
//
// # Bad input
//
// A record that cannot be decoded or that a handler or sink rejects is meant
// to go to the dead-letter sink with its provenance (topic, partition,
// offset, stage, error), never to crash a job or stall a partition. The
// pieces for that exist (typed errors from the rdfdiff decoders that carry
// the caller's provenance, sink.DeadLetter in the output transaction); the
// job runner that routes records to it is not written yet.
package streamkit
