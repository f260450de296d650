// Command bootstrap builds the initial state savepoint of the WDQS updater
// from an "entity,revision" CSV, as WDQS's UpdaterBootstrapJob does from a
// dump, built only from streamkit's public API.
//
// A new query service starts from a dump: the stores are loaded with the
// munged dump, and the updater must know the revision of every entity in it,
// or its first edit of each entity would be refused as inconsistent (the
// decision table needs the entity's last revision to diff from). bootstrap
// writes that state — one entry per entity, revision r as +r (created), as the
// updater's per-entity table holds it — as checkpoint 1 of each of the
// updater's tasks ("<job>.task-<n>") in the checkpoint store, and pins it as
// a savepoint. The updater started with -from-savepoint NAME restores it
// once, then checkpoints on from there.
//
// Usage:
//
//	bootstrap -csv revisions.csv -savepoint bootstrap-20261125 -checkpoint-dir /var/lib/wdqs-updater
//	wdqs-updater ... -checkpoint-dir /var/lib/wdqs-updater -from-savepoint bootstrap-20261125 \
//	    -start 2026-11-25T00:00:00Z
//
// The savepoint carries no Kafka positions unless -position
// topic/partition=offset is given (repeatable; partition p belongs to task
// p): without positions the updater starts each input where its -start says,
// which should be the dump's time (WDQS sets the offsets separately, with
// set_initial_offsets.py or kafka_topics_start_timestamp).
//
// -tasks N splits the entities over N tasks the way the updater on a
// repartitioned topic of N partitions does (sarama's hash of the entity ID
// modulo N); the default, 1, is the updater on the single-partition MediaWiki
// topics. The savepoint holds the tables the updater declares: its
// per-entity table (-table last-seen-rev, -table-version 1, an
// checkpoint.EntityTable) and the empty tables of its re-order buffer
// (-reorder-table reorder); the updater checks them when it starts from the
// savepoint and names every mismatch.
//
// The CSV has one "entity,revision" line per entity (an optional header line
// "entity,revision" is skipped); a malformed line, a revision that is not a
// positive integer, or an entity listed twice fails with its line number, and
// nothing is written. The job's namespaces must hold no checkpoint yet.
//
// Exit status: 0 on success, 1 when writing fails, 2 on a usage or input
// error.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/ncw/swift/v2"

	"gitlab.wikimedia.org/repos/search-platform/streamkit"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/source"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stderr))
}

// errInput marks errors of the CSV or the flags (exit status 2).
var errInput = errors.New("bad input")

// options are the parsed flags.
type options struct {
	csv, job, savepoint, table, reorder string
	tasks, tableVersion                 int
	positions                           source.Positions
	store                               checkpoint.Store
}

// positionFlag collects -position topic/partition=offset.
type positionFlag source.Positions

func (p positionFlag) String() string { return "" }

func (p positionFlag) Set(s string) error {
	key, off, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q is not topic/partition=offset", s)
	}
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q: offset is not a number", s)
	}
	pos, err := source.ParsePositions(map[string]int64{key: n})
	if err != nil {
		return fmt.Errorf("%q is not topic/partition=offset: %w", s, err)
	}
	maps.Copy(p, pos)
	return nil
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{positions: source.Positions{}}
	var dir, swiftURL, swiftUser, swiftContainer string
	fs.StringVar(&o.csv, "csv", "", `the "entity,revision" CSV ("-": standard input) (required)`)
	fs.StringVar(&o.job, "job", updater.DefaultJobName, "the updater's job name")
	fs.StringVar(&o.savepoint, "savepoint", "", "savepoint name to write (required)")
	fs.IntVar(&o.tasks, "tasks", 1, "the updater's tasks (partitions of its input)")
	fs.StringVar(&o.table, "table", DefaultTable, "the updater's per-entity state table")
	fs.IntVar(&o.tableVersion, "table-version", DefaultTableVersion, "its schema version")
	fs.StringVar(&o.reorder, "reorder-table", DefaultReorderTable, `name of the updater's re-order buffer, whose empty tables the savepoint holds too ("-": none)`)
	fs.Var(positionFlag(o.positions), "position", "input position topic/partition=offset to start from (repeatable)")
	fs.StringVar(&dir, "checkpoint-dir", "", "filesystem checkpoint store directory")
	fs.StringVar(&swiftURL, "swift-auth-url", "", "Swift auth URL (v1) of the checkpoint store; key in $STREAMKIT_SWIFT_KEY")
	fs.StringVar(&swiftUser, "swift-user", os.Getenv("STREAMKIT_SWIFT_USER"), "Swift user (default $STREAMKIT_SWIFT_USER)")
	fs.StringVar(&swiftContainer, "swift-container", "wdqs-updater", "Swift container")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: bootstrap -csv FILE -savepoint NAME (-checkpoint-dir D | -swift-auth-url U ...) [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.csv == "":
		return nil, errors.New("-csv is required")
	case o.savepoint == "":
		return nil, errors.New("-savepoint is required")
	case o.tasks < 1:
		return nil, errors.New("-tasks must be at least 1")
	}
	for tp := range o.positions {
		if int(tp.Partition) >= o.tasks {
			return nil, fmt.Errorf("-position: partition %d has no task (-tasks %d)", tp.Partition, o.tasks)
		}
	}
	switch {
	case dir != "" && swiftURL != "":
		return nil, errors.New("-checkpoint-dir and -swift-auth-url are exclusive")
	case dir != "":
		o.store = checkpoint.NewFileStore(dir)
	case swiftURL != "":
		key := os.Getenv("STREAMKIT_SWIFT_KEY")
		if swiftUser == "" || key == "" {
			return nil, errors.New("swift needs -swift-user and $STREAMKIT_SWIFT_KEY")
		}
		conn := &swift.Connection{UserName: swiftUser, ApiKey: key, AuthUrl: swiftURL, AuthVersion: 1, Timeout: time.Minute}
		o.store = checkpoint.NewSwiftStore(conn, swiftContainer)
	default:
		return nil, errors.New("a checkpoint store is required: -checkpoint-dir or -swift-auth-url")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bootstrap:", err)
		return 2
	}
	in := stdin
	if o.csv != "-" {
		f, err := os.Open(o.csv)
		if err != nil {
			fmt.Fprintln(stderr, "bootstrap:", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	res, err := Bootstrap(ctx, o.store, in, Options{Job: o.job, Savepoint: o.savepoint, Tasks: o.tasks,
		Table: o.table, TableVersion: o.tableVersion, ReorderTable: o.reorder, Positions: o.positions})
	if err != nil {
		fmt.Fprintln(stderr, "bootstrap:", err)
		if errors.Is(err, errInput) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stderr, "bootstrap: savepoint %q of job %q: %d entities in %d tasks %v (table %q)\n",
		o.savepoint, o.job, res.Entities, len(res.PerTask), res.PerTask, res.Table)
	return 0
}

// Options configure Bootstrap.
type Options struct {
	// Job is the updater's job name; Savepoint the name to pin.
	Job, Savepoint string
	// Tasks is the updater's number of tasks (default 1).
	Tasks int
	// Table and TableVersion are the updater's entity table (default
	// DefaultTable, DefaultTableVersion); ReorderTable names its re-order
	// buffer (default DefaultReorderTable, "-" for none).
	Table        string
	TableVersion int
	ReorderTable string
	// Positions are the input positions (task p reads partition p of each
	// input topic), empty to let the updater's start position decide.
	Positions source.Positions
}

// Result says what Bootstrap wrote.
type Result struct {
	Entities int
	// PerTask is the number of entities of each task.
	PerTask []int
	// Table is the name of the table filled.
	Table string
}

// Defaults of the table contract: the updater's per-entity state table and
// its re-order buffer (updater/processor.go). TestBootstrapRestoresInUpdater
// runs the real updater job from a bootstrapped savepoint, so a change on
// either side fails there.
const (
	DefaultTable        = "last-seen-rev"
	DefaultTableVersion = 1
	DefaultReorderTable = "reorder"
)

// updaterTables returns the state tables of one updater task as the updater
// declares them — its entity table (name, version) and the tables of its
// re-order buffer (named reorder, holding updater.InputEvent values, WDQS's
// ordering and lateness rules) — and the entity table among them. A
// savepoint must hold exactly these tables, or the updater refuses to start
// from it (checkpoint.IncompatibleError).
func updaterTables(name string, version int, reorder string) ([]checkpoint.StateTable, *checkpoint.EntityTable, error) {
	state := checkpoint.NewEntityTable(name, version)
	tables := []checkpoint.StateTable{state}
	if reorder != "" {
		buf, err := streamkit.NewReorderBuffer[string, updater.InputEvent](reorder, updater.DefaultReorderWindow,
			streamkit.WithReorderSequenceOrder(), streamkit.WithReorderLateByWatermark())
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errInput, err)
		}
		tables = append(tables, buf.Tables()...)
	}
	for _, t := range tables[1:] {
		if t.Schema().Name == name {
			return nil, nil, fmt.Errorf("%w: table %q is also a table of the re-order buffer", errInput, name)
		}
	}
	return tables, state, nil
}

var entityIDRE = regexp.MustCompile(`^[A-Z][A-Za-z]*[1-9][0-9]*$`)

// Bootstrap reads "entity,revision" lines from in, fills one updater task's
// state per Options.Tasks, writes each as the first checkpoint of
// "<job>.task-<n>" in store and pins it under the savepoint name. It fails
// before writing anything on bad input (errors wrap errInput, with the line
// number) or when a task's namespace already has checkpoints.
func Bootstrap(ctx context.Context, store checkpoint.Store, in io.Reader, o Options) (*Result, error) {
	if o.Tasks < 1 {
		o.Tasks = 1
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.TableVersion == 0 {
		o.TableVersion = DefaultTableVersion
	}
	switch o.ReorderTable {
	case "":
		o.ReorderTable = DefaultReorderTable
	case "-":
		o.ReorderTable = ""
	}
	type task struct {
		tables []checkpoint.StateTable
		state  *checkpoint.EntityTable
		ck     *checkpoint.Checkpointer
	}
	tasks := make([]task, o.Tasks)
	res := &Result{PerTask: make([]int, o.Tasks)}
	for i := range tasks {
		tables, state, err := updaterTables(o.Table, o.TableVersion, o.ReorderTable)
		if err != nil {
			return nil, err
		}
		res.Table = state.Schema().Name
		ck, err := checkpoint.NewCheckpointer(store, streamkit.TaskNamespace(o.Job, i))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errInput, err)
		}
		ids, err := ck.Checkpoints(ctx)
		if err != nil {
			return nil, err
		}
		if len(ids) > 0 {
			return nil, fmt.Errorf("%w: %s already has checkpoints %v: bootstrap a new job name or an empty store", errInput, ck.Job(), ids)
		}
		tasks[i] = task{tables: tables, state: state, ck: ck}
	}

	hash := sarama.NewHashPartitioner("")
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || (line == 1 && strings.EqualFold(text, "entity,revision")) {
			continue
		}
		id, revText, ok := strings.Cut(text, ",")
		id, revText = strings.TrimSpace(id), strings.TrimSpace(revText)
		if !ok || strings.Contains(revText, ",") {
			return nil, fmt.Errorf("%w: line %d: %q is not entity,revision", errInput, line, text)
		}
		if !entityIDRE.MatchString(id) {
			return nil, fmt.Errorf("%w: line %d: %q is not an entity ID", errInput, line, id)
		}
		rev, err := strconv.ParseInt(revText, 10, 64)
		if err != nil || rev <= 0 {
			return nil, fmt.Errorf("%w: line %d: revision %q is not a positive integer", errInput, line, revText)
		}
		n := 0
		if o.Tasks > 1 {
			p, err := hash.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(id)}, int32(o.Tasks))
			if err != nil {
				return nil, err
			}
			n = int(p)
		}
		t := tasks[n]
		if _, dup := t.state.Get(id); dup {
			return nil, fmt.Errorf("%w: line %d: entity %s listed twice", errInput, line, id)
		}
		t.state.Set(id, rev)
		res.Entities++
		res.PerTask[n]++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: after line %d: %w", errInput, line, err)
	}
	if res.Entities == 0 {
		return nil, fmt.Errorf("%w: no entity in the CSV", errInput)
	}
	for i, t := range tasks {
		pos := source.Positions{}
		for tp, off := range o.Positions {
			if int(tp.Partition) == i {
				pos[tp] = off
			}
		}
		m, err := t.ck.Checkpoint(ctx, pos.Strings(), []checkpoint.PartitionState{{Partition: i, Tables: t.tables}})
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", i, err)
		}
		if _, err := t.ck.Savepoint(ctx, o.Savepoint, m.ID); err != nil {
			return nil, fmt.Errorf("task %d: %w", i, err)
		}
	}
	return res, nil
}
