// Package sparql writes a job's output into a SPARQL 1.1 triple store
// (Blazegraph, Oxigraph, Virtuoso) exactly once, with the job's commit
// point in the same update request as the data.
//
// # Output
//
// [SPARQL] is a task's streamkit.Output; [Outputs] gives each task one and
// hands its Processor a [Writer], which can only add changes. The processor
// adds reassembled entity changes (rdfdiff.EntityChange, with their source
// records as provenance); at each checkpoint [SPARQL.Commit] merges them
// with rdfdiff's Accumulator and sends the consolidated patch together with
// the commit point (one node per input partition: offset, checkpoint ID,
// job) in one request. On an atomic store a checkpoint lands whole or not at
// all, and [SPARQL.ReadCommitPoint] tells a restarted task where to resume.
// Requests stay under [BatchLimits] (triples and bytes, per [Dialect]); a
// checkpoint that needs several requests carries the commit point in the
// last and is at-least-once (idempotent replay), logged and counted, and
// [SPARQL.WantsCommit] asks for early checkpoints to keep that rare.
// Virtuoso is never atomic across a request: at-least-once, said at
// construction.
//
// What the store would refuse is refused when the change is added: Add
// checks every term against the dialect's rules (UpdateBuilder.CheckChange,
// Dialect.CheckChange) and fails with a *streamkit.StageError, so the
// Processor fails before it updates its state and the runner dead-letters
// the record; state and store cannot drift apart over a refused change. The
// in-memory graph.GraphOutput applies the same rules with
// graph.WithChangeCheck(dialect.CheckChange).
//
// A 4xx answer is bisected down to the offending change, which goes to a
// [RejectedHandler] ([DeadLetterRejected]) while the rest applies. Claim
// cannot fence a zombie on a plain SPARQL store: keep one writer per
// partition.
//
// What the store still refuses at commit marks the entity
// ([SPARQL.NeedsReplacement]) until a replacement of it commits, so a
// processor that keeps whole documents sends the entity's next change as a
// replacement and store and state converge. [WithRejectedDeadLetters]
// dead-letters those changes through the task's dead-letter writer.
//
// # Client, terms and updates
//
// [Client] speaks the SPARQL 1.1 Protocol: Update posts a raw
// application/sparql-update body (or a form), Query and Ask read SPARQL JSON
// results. Timeouts, connection errors and 5xx answers are retried with
// capped, jittered backoff, 4xx answers never are; failures are
// [*StoreError] values matching [ErrStoreRejected] (the request is wrong) or
// [ErrStoreUnavailable] (the store is unwell).
//
// [AppendSPARQLTerm] writes a term so that the store holds exactly that term,
// or refuses it with a [*TermError] ([ErrUnsafeTerm]): blank nodes
// (skolemize first), IRIs with characters SPARQL forbids, malformed language
// tags, U+0000. [UpdateBuilder] turns a consolidated patch and a commit point
// into one request in the WDQS consumer's order (delete removed and insert
// added triples, insert linked-shared ones and the optional lag marker,
// entity deletes, reconciliations), ending with the commit point.
// Unlinked-shared triples are never sent, as in WDQS; with
// [WithUpdateOrphanCleanup] the request also deletes the value and reference
// nodes, sitelink blocks and sites the batch orphaned, so the store equals a
// fresh import of the latest revisions (deliberately better than WDQS,
// which keeps them). For a graph that is not a Wikibase,
// [NewSubjectUpdateBuilder] needs no URI scheme: a change's EntityID is a
// subject IRI, and its delete removes the subject's triples and those of its
// skolem nodes (rdfdiff.SkolemizeSubject). Blazegraph's update
// answer is parsed for its mutation count ([ParseBlazegraphUpdate]): it
// counts every statement an operation actually inserted or removed, so a
// triple a reconciliation clears and inserts again counts twice.
//
// # Store quirks
//
// Oxigraph and Virtuoso return numeric literals in canonical form ("+1.96"
// reads back as "1.96") and trim xsd:dateTime fractions; DELETE DATA still
// matches the written form. Oxigraph refuses, for the whole request, a
// language tag that is not well-formed BCP 47 (Wikidata's "zh-classical"
// among them: no subtag is longer than 8 characters), so the SPARQL 1.1
// dialect refuses such changes when they are added ([WellFormedBCP47],
// checked against Oxigraph 0.5 tag by tag); it stores tags lower-cased. Virtuoso needs a named graph for INSERT DATA, takes about
// 1 000 triples per INSERT DATA ([WithMaxDataTriples]), returns xsd:string
// literals typed, and silently rewrites IRIs longer than about 1 880 bytes,
// so its dialect refuses them ([WithMaxIRIBytes]). Blazegraph, in a
// namespace configured as WDQS's, holds xsd:dateTime to the millisecond
// (truncated, in UTC), and its lexicon identifies terms by their Unicode
// collation key: IRIs and literals that differ only in ignorable characters
// (C0 controls, ZERO WIDTH JOINER and NON-JOINER) or by canonical
// equivalence, and language tags that differ only in case, are one term,
// returned in the form stored first. It fails a request holding an
// ill-typed xsd:boolean with a 500, as if it were unwell: its dialect
// refuses such literals ([WithWellTypedBooleans]), so the change is
// dead-lettered.
package sparql
