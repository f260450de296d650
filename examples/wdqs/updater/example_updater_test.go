package updater_test

import (
	"fmt"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
)

// The WDQS decision table on a short history of one entity: what each event
// becomes in the state the previous ones left.
func ExampleDecide() {
	st := updater.EntityState{}
	for _, ev := range []updater.InputEvent{
		{Action: updater.ActionRevisionCreate, Item: "Q42", Revision: 10},
		{Action: updater.ActionRevisionCreate, Item: "Q42", Revision: 12, ParentRevision: 10},
		{Action: updater.ActionRevisionCreate, Item: "Q42", Revision: 11, ParentRevision: 10},
		{Action: updater.ActionPageDelete, Item: "Q42", Revision: 12},
		{Action: updater.ActionRevisionCreate, Item: "Q42", Revision: 13, ParentRevision: 12},
		{Action: updater.ActionPageUndelete, Item: "Q42", Revision: 12},
	} {
		d := updater.Decide(&ev, st)
		switch {
		case d.Op == "":
			fmt.Printf("%s@%d: ignored (%s), state %s@%d\n", ev.Action, ev.Revision, d.Inconsistency, st.Status(), st.Revision)
		case d.FromRevision != 0:
			fmt.Printf("%s@%d: %s %d→%d\n", ev.Action, ev.Revision, d.Op, d.FromRevision, d.Revision)
		default:
			fmt.Printf("%s@%d: %s %d\n", ev.Action, ev.Revision, d.Op, d.Revision)
		}
		// The updater moves the state only once the operation's events
		// were produced (a failed fetch keeps it).
		st = d.Next
	}
	// Output:
	// revision-create@10: import 10
	// revision-create@12: diff 10→12
	// revision-create@11: ignored (newer_revision_seen), state CREATED@12
	// page-delete@12: delete 12
	// revision-create@13: ignored (missed_undelete), state DELETED@12
	// page-undelete@12: import 12
}

// A configuration for Wikidata as production runs it (event-platform
// input from both data centers, output of eqiad), with the state in a local
// directory. NewJob does no I/O; Run the job, and Stop or
// StopWithSavepoint it.
func ExampleNewJob() {
	job, err := updater.NewJob(updater.Config{
		Brokers: []string{"kafka-main1001.eqiad.wmnet:9092"},
		Topics: []string{"eqiad.mediawiki.page_change.v1", "codfw.mediawiki.page_change.v1",
			"eqiad.rdf-streaming-updater.reconcile"},
		Filter: updater.Filter{
			Hostname:             "www.wikidata.org",
			EntityNamespaces:     []int{0, 120, 146},
			ContentModels:        []string{"wikibase-item", "wikibase-property", "wikibase-lexeme"},
			ReconciliationSource: "wdqs_sideoutputs_reconcile@eqiad",
		},
		EntityDataURL:           "https://www.wikidata.org" + updater.EntityDataPath,
		OutputTopic:             "eqiad.rdf-streaming-updater.mutation",
		LapsedActionTopic:       "eqiad." + updater.StreamLapsedAction,
		StateInconsistencyTopic: "eqiad." + updater.StreamStateInconsistency,
		FetchFailureTopic:       "eqiad." + updater.StreamFetchFailure,
		CheckpointStore:         checkpoint.NewFileStore("/var/lib/wdqs-updater"),
		CheckpointInterval:      30 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(job.Name(), job.Group())
	// Output:
	// wdqs-updater wdqs-updater
}
