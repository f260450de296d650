// Package graph is an in-memory RDF store with the semantics of a WDQS
// triple store fed by the streaming updater's consumer, for unit tests, the
// quickstart and differential tests of real stores.
//
// [Graph.Apply] applies an rdfdiff.ConsolidatedPatch in the consumer's
// order (removed, added, linked-shared with an optional lag marker, entity
// deletes, reconciliations) and records the streamkit.CommitPoint in the
// same atomic step; a failed Apply changes nothing, and [Graph.Positions]
// returns what the last batch committed. [WithOrphanCleanup] deletes value
// and reference nodes a batch left unreferenced, sitelink blocks about no
// entity (renamed, removed or moved-away sitelinks) and sites no sitelink
// uses, so that after any edits the graph equals a fresh import of the
// latest revisions; WDQS never cleans these up, and its entity delete can
// drop a sitelink another entity took over in a merge: here we deliberately
// do better than WDQS.
// Terms are interned with per-node edge sets, so entity deletes and orphan
// checks touch only the nodes involved. [Graph.Dump] writes sorted
// canonical N-Triples, byte-identical for equal graphs.
//
// [GraphOutput] is a Graph as a task's streamkit.Output, with the SPARQL
// output's method set: Commit applies the checkpoint's changes and commit
// point in one atomic step, and dead letters sent to it are kept with the
// checkpoint that commits them. [Outputs] hands each task's Processor a
// [Writer], which can only add changes and send records. A GraphOutput
// refuses, when a change is added, what the store it stands in for would
// refuse ([WithChangeCheck], for instance sparql.DialectSPARQL11.CheckChange;
// by default [RefuseBlankNodes]), so tests on it fail where the real store
// would.
//
// [WithSubjects] puts a Graph in subject mode, for a graph that is not a
// Wikibase: a change's EntityID is a subject IRI, a delete removes the
// subject's triples and those of its skolem nodes
// (rdfdiff.SkolemizeSubject), a reconcile replaces them; it is what
// sparql.NewSubjectUpdateBuilder sends to a real store.
package graph
