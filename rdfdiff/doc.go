// Package rdfdiff is everything RDF an updater needs, as pure computation (no
// I/O, no Kafka, no HTTP): RDF terms, Turtle and N-Triples parsing and
// writing, the Wikidata Query Service (WDQS) munging and skolemization, the
// four-bucket entity diff, patch accumulation across entities, and the
// rdf_change event codec with chunking and strict reassembly.
//
// The pieces follow the path of one edit through the WDQS Streaming Updater:
//
//	producer: Special:EntityData Turtle ─ParseTurtle─▶ Munger ─▶ Diff ─▶ ChunkChange ─▶ rdf_change JSON
//	consumer: rdf_change JSON ─DecodeEvent─▶ Reassembler ─▶ Accumulator ─▶ ConsolidatedPatch ─▶ store
//
// # Terms
//
// A [Term] holds one string, its canonical N-Triples form, so it is 16 bytes,
// comparable with ==, usable as a map key and written out without work. Terms
// are equal exactly when they are the same RDF 1.1 term: a simple literal and
// an xsd:string literal are one term, and language tags are kept in lower case.
// [Triple] is three Terms and is a map key too, so triple sets are plain Go maps.
//
// # Parsing
//
// [ParseTurtle] and [ParseNTriples] read a whole RDF 1.1 Turtle or N-Triples
// document ([ParseTurtleBytes] and [ParseNTriplesBytes] read one already in
// memory, without copying it). [NewTurtleReader] and [NewNTriplesReader] stream
// one triple at a time through [TripleReader.Next], which returns io.EOF at the
// end, so dumps of any size fit in a small buffer. Terms are built directly in
// canonical form; short terms are interned and pooled parsers keep a bounded
// intern table between documents, so a Wikidata entity costs well under one
// allocation per triple.
//
// Relative IRIs resolve per RFC 3986 §5.2 against [WithBaseIRI] and any
// @base/BASE directive; with no base a relative IRI is an error, because RDF
// graphs hold only absolute IRIs. Blank node labels are kept exactly as
// written (Wikibase labels are stable hashes). Anonymous nodes ([], [ … ] and
// collection cells) are labelled anon-1, anon-2, … within each document: the
// parser skips numbers the document uses itself and fails rather than merge
// two nodes; [WithBlankNodePrefix] picks another prefix. Callers merging the
// output of several parses that contain anonymous nodes must relabel them.
//
// Malformed input gives a [*SyntaxError] with a 1-based line and a column
// counted in characters, rendered as "Q42.ttl:3:44: expected '.' after
// triple, found 'w'" ([WithFileName] names the file). Parsing stops at the
// first error and never panics (fuzzed). N-Triples parsing is strict:
// absolute IRIs only, one triple per line, no Turtle abbreviations.
//
// # Writing
//
// [AppendNTriples] and [WriteNTriples] write canonical N-Triples (one triple
// per line); [SortTriples] makes dumps deterministic. [TurtleWriter] writes
// Turtle statement by statement in the form RDF4J gives WDQS mutation chunks
// (full IRIs, ";" and "," grouping) and counts its size in Java characters.
// Whatever a writer accepts re-parses to exactly the same triples; what it
// cannot write so is refused with [ErrInvalidTriple].
//
// # Munging, skolemization and diff
//
// A [Munger] turns the RDF Wikibase serves for one entity
// (Special:EntityData/<id>.ttl?flavor=dump) into the form WDQS stores: the
// entity-data node's revision, date and counters move onto the entity;
// duplicate labels, boilerplate types and other entities' triples go;
// statements, references, values and sitelinks stay only when linked from the
// entity; long literals are trimmed (counted in characters, never splitting
// one); blank nodes become skolem IRIs under <concept>/.well-known/genid/ so
// that DELETE DATA can match them. A [URIScheme] names the namespaces of one
// Wikibase install ([WikidataScheme], [CommonsScheme], [NewURIScheme] from a
// concept URI, or [NewWikibaseURIScheme] from the install's own entity,
// statement, reference, value, property and entity-data namespaces, e.g.
// entities at http://example.test/Q7; [ParseURIScheme] reads any of them
// from a flag), with WDQS's "in namespace" rule. Like WDQS, the munger
// moves the old http://wikiba.se/ontology-beta# namespace to
// http://wikiba.se/ontology#, and offers WDQS's label-languages
// ([MungeLabelLanguages]) and single-label ([MungeSingleLabel]) options;
// [Munger.MungeDump] munges a multi-entity dump and keeps its wikibase:Dump
// header (format version, schema:dateModified, licence).
//
// [Diff] gives the four buckets of a [Patch]: the entity's own Added and
// Removed triples, and the LinkedShared and UnlinkedShared triples of nodes
// other entities may use ([WikibaseShared]: value and reference nodes,
// wikibase:wikiGroup). Import and reconcile use Diff(nil, entity).
// [ReclassifySitelinks] moves sitelink blocks to the shared buckets as the
// WDQS consumer does, and reports malformed sitelinks as a [*SitelinkError]
// instead of stopping the consumer.
//
// # rdf_change events
//
// [ChangeEvent] is one mediawiki/wikibase/entity/rdf_change message (v2, or
// the legacy v1 form). [DecodeEvent] is strict: any field that breaks the
// schema gives an [*EventError] naming it (errors.Is [ErrInvalidEvent]), ready
// for a dead-letter queue. [ChunkChange] splits an [EntityChange] into messages
// exactly as the WDQS producer does (128 000-character soft limit, at most one
// chunk per RDF field per message). [Reassembler] rebuilds the change from a
// stream of messages and, unlike the WDQS consumer, never returns a partial
// patch: a lost, duplicated or interleaved chunk gives a [*ChunkSequenceError]
// ([ErrBrokenChunkSequence]) listing the caller's provenance (for example the
// Kafka topic, partition and offset) of every message it dropped.
//
// # Accumulating patches
//
// An [Accumulator] merges the EntityChanges of many entities into one
// [ConsolidatedPatch], so a store catches up with a batch in a few requests
// instead of one per event, as the WDQS consumer's PatchAccumulator does.
// Imports and diffs go through ReclassifySitelinks; a removal cancels the same
// entity's pending addition, an addition cancels a pending removal, and links
// and unlinks of shared triples cancel likewise. Triples changed by two
// entities (T317530) are counted in [AccumulatorStats].InvalidDuplicates, or
// refused with [RejectInvalidDuplicates]. A delete or a reconcile of an entity
// is a barrier: [Accumulator.Check] refuses later changes of that entity with a
// [*RefusedChangeError] ([ErrChangeRefused]) until the batch is flushed and
// Reset. Weight measures a batch the way WDQS does (triples, plus
// [TriplesPerDelete] per delete) to decide when to flush. A ConsolidatedPatch
// is sorted and carries what a sink needs: deletes, reconciliations, the
// entities touched with their revisions, the average event time of user
// changes for the lag marker, and the first and last request IDs.
//
// # Where this differs from WDQS
//
// Deliberately: reassembly never yields a partial patch; malformed sitelinks,
// events and chunks are errors a caller can dead-letter rather than crashes;
// munging does not depend on the order of the input; long literals are
// trimmed by character, never inside a UTF-16 surrogate pair.
package rdfdiff
