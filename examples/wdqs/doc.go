// Package wdqs is the Wikidata Query Service (WDQS) Streaming Updater
// rebuilt from streamkit's public API: a named application, not a library
// package. Nothing outside examples/ imports it.
//
// Two jobs keep every WDQS replica in step with Wikidata:
//
//   - the updater (package updater, command cmd/wdqs-updater) reads
//     MediaWiki's page_change events of both data centers, re-orders them
//     per entity, fetches each revision's RDF from Special:EntityData,
//     munges and diffs it against the previous revision, and writes
//     rdf_change events (chunked) to one mutation topic exactly once;
//   - the consumer (package consumer, command cmd/wdqs-consumer) runs once
//     per replica, reassembles the rdf_change events, merges each
//     checkpoint's changes and applies them to the replica's SPARQL store
//     with the Kafka positions in the same update request.
//
// cmd/wdqs-bootstrap builds the updater's first savepoint from a dump's
// entity,revision list. The tests in this directory are the application's
// system tests: the upgrade drill (two builds, stop with a savepoint, resume),
// SIGKILLs of the consumer writing to a real store, cloning a replica, and
// two data centers running one updater each.
package wdqs
