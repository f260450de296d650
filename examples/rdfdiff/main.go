// Command rdfdiff is a debugging tool for the RDF side of a WDQS-style
// updater, built only from the public API of package rdfdiff. It answers the
// questions people ask when a store disagrees with Wikidata: what does this
// Turtle parse to, what does the munger keep, and what would the updater
// send for this edit?
//
//	rdfdiff parse [-format auto|turtle|ntriples] [-base IRI] [-sort] FILE
//	rdfdiff diff [-munge SCHEME] [-entity ID] [-skolemize] OLD NEW
//	rdfdiff diff -event [flags] OLD NEW
//	rdfdiff munge [-scheme SCHEME] [-entity ID | -dump] FILE
//
// SCHEME is wikidata, commons, the concept URI of another Wikibase
// (https://wikibase.example.org: entities under …/entity/), or the
// Wikibase's own namespaces as comma-separated key=IRI pairs, for installs
// laid out differently:
//
//	entity=http://example.test/,entity-data=http://example.test/wiki/Special:EntityData/
//
// with the keys entity (required), statement, reference, value, prop,
// entity-data and genid; the others default to what Wikibase derives from
// the entity namespace. -label-languages and -single-label take WDQS's
// label options (comma-separated language codes) wherever munging happens.
//
// parse writes FILE ("-" for standard input) as canonical N-Triples. A
// syntax error is reported as FILE:line:col: message, with exit status 1.
//
// diff parses two revisions of an entity (for example two
// Special:EntityData/Q42.ttl?flavor=dump&revision=N downloads), munges them
// as the WDQS producer does when -munge is given, and prints the four
// buckets of the patch as sorted N-Triples under the headers "# added",
// "# removed", "# linked-shared" and "# unlinked-shared", after the sitelink
// reclassification the WDQS consumer applies (-reclassify=false shows the
// producer's buckets). With -event it prints the rdf_change v2 messages the
// producer would emit instead, one JSON object per line, chunked as WDQS
// chunks them; their meta is deterministic (see -request-id, -meta-dt).
// An empty OLD makes an import, an empty NEW a delete.
//
// munge writes FILE munged as the WDQS producer does, as sorted N-Triples:
// one entity (-entity, default the one the entity-data node names), or with
// -dump a multi-entity dump, keeping its wikibase:Dump header as WDQS does.
//
// Exit status: 0 on success, 1 when an input is malformed or unreadable,
// 2 on a usage error.
package main

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usageText = `usage: rdfdiff <command> [flags] [args]

Commands:
  parse [-format auto|turtle|ntriples] [-base IRI] [-sort] FILE
        Parse FILE ("-" for standard input) and write it as N-Triples.
  diff [-munge SCHEME] [-entity ID] [-skolemize] [-reclassify=false] OLD NEW
        Print the four buckets of the patch from OLD to NEW.
  diff -event [-domain D] [-stream S] [-request-id ID] [-meta-dt TIME] [-dt TIME]
        [-revision N] [-soft-max N] [diff flags] OLD NEW
        Print the rdf_change v2 events for the patch, one JSON object per line.
  munge [-scheme SCHEME] [-entity ID | -dump] [-label-languages L] [-single-label L] FILE
        Munge FILE as the WDQS producer does and write it as sorted N-Triples.

SCHEME: wikidata, commons, a concept URI, or entity=IRI[,statement=IRI,reference=IRI,
value=IRI,prop=IRI,entity-data=IRI,genid=IRI] (a Wikibase's own namespaces).

Run "rdfdiff <command> -h" for the flags of a command.
Exit status: 0 success, 1 malformed or unreadable input, 2 usage error.
`

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run is the whole command, with its environment passed in so that tests
// can call it in-process. It returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	var err error
	switch args[0] {
	case "parse":
		err = runParse(args[1:], stdin, stdout, stderr)
	case "diff":
		err = runDiff(args[1:], stdin, stdout, stderr)
	case "munge":
		err = runMunge(args[1:], stdin, stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return 0
	default:
		err = usagef("unknown command %q", args[0])
	}
	var ue *usageError
	var se *rdfdiff.SyntaxError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "rdfdiff: %s\n", ue.msg)
		fmt.Fprintf(stderr, "Run \"rdfdiff -h\" or \"rdfdiff <command> -h\" for usage.\n")
		return 2
	case errors.As(err, &se):
		// The form editors and compilers use, so the position is clickable.
		fmt.Fprintf(stderr, "%s:%d:%d: %s\n", se.File, se.Line, se.Col, se.Msg)
		return 1
	default:
		msg := err.Error()
		if !strings.HasPrefix(msg, "rdfdiff: ") {
			msg = "rdfdiff: " + msg
		}
		fmt.Fprintln(stderr, msg)
		return 1
	}
}

// commandFlags is a flag set that reports errors instead of exiting or
// printing: run prints one message for a bad flag, and the flag list only
// for -h.
type commandFlags struct {
	*flag.FlagSet
	synopsis string
	stdout   io.Writer
}

func newFlagSet(name, synopsis string, stdout io.Writer) *commandFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // the flag package calls it on errors too
	return &commandFlags{FlagSet: fs, synopsis: synopsis, stdout: stdout}
}

// parse parses args, printing the help for -h and turning a bad flag into
// a usage error.
func (fs *commandFlags) parse(args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(fs.stdout, "usage: rdfdiff %s %s\n\nFlags:\n", fs.Name(), fs.synopsis)
		fs.SetOutput(fs.stdout)
		fs.PrintDefaults()
		return err
	}
	return usagef("%s: %v", fs.Name(), err)
}

// inputFlags are the flags that say how to read RDF files.
type inputFlags struct {
	format string
	base   string
}

func (f *inputFlags) register(fs *commandFlags) {
	fs.StringVar(&f.format, "format", "auto", "input syntax: turtle, ntriples, or auto (ntriples for *.nt files, turtle otherwise)")
	fs.StringVar(&f.base, "base", "", "absolute `IRI` that relative IRIs in Turtle resolve against")
}

func (f *inputFlags) check() error {
	switch f.format {
	case "auto", "turtle", "ntriples":
		return nil
	}
	return usagef("-format must be auto, turtle or ntriples, not %q", f.format)
}

// read parses the file name ("-": stdin) with the syntax -format names.
func (f *inputFlags) read(name string, stdin io.Reader) ([]rdfdiff.Triple, error) {
	var doc []byte
	var err error
	if name == "-" {
		doc, err = io.ReadAll(stdin)
	} else {
		doc, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("rdfdiff: read %s: %w", name, err)
	}
	opts := []rdfdiff.ParseOption{rdfdiff.WithFileName(name)}
	if f.base != "" {
		opts = append(opts, rdfdiff.WithBaseIRI(f.base))
	}
	if f.format == "ntriples" || f.format == "auto" && strings.HasSuffix(name, ".nt") {
		return rdfdiff.ParseNTriplesBytes(doc, opts...)
	}
	return rdfdiff.ParseTurtleBytes(doc, opts...)
}

func runParse(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var in inputFlags
	fs := newFlagSet("parse", "[-format auto|turtle|ntriples] [-base IRI] [-sort] FILE", stdout)
	in.register(fs)
	sorted := fs.Bool("sort", false, "sort the triples (default: document order)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("parse takes one FILE (\"-\" for standard input), got %d arguments", fs.NArg())
	}
	ts, err := in.read(fs.Arg(0), stdin)
	if err != nil {
		return err
	}
	if *sorted {
		rdfdiff.SortTriples(ts)
	}
	return rdfdiff.WriteNTriples(stdout, ts)
}

// diffFlags are the flags of the diff command.
type diffFlags struct {
	in         inputFlags
	munge      string
	labels     labelFlags
	entity     string
	skolemize  bool
	reclassify bool

	event     bool
	domain    string
	stream    string
	requestID string
	metaDT    string
	dt        string
	revision  int64
	softMax   int
}

func runDiff(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var f diffFlags
	fs := newFlagSet("diff", "[flags] OLD NEW", stdout)
	f.in.register(fs)
	fs.StringVar(&f.munge, "munge", "", "munge both revisions as the WDQS producer does, for the `scheme` wikidata, commons, a concept URI or entity=IRI,… (default: no munging)")
	f.labels.register(fs)
	fs.StringVar(&f.entity, "entity", "", "entity `ID` (default: the one the entity-data node's schema:about names)")
	fs.BoolVar(&f.skolemize, "skolemize", false, "rewrite blank nodes to well-known genid IRIs, as the WDQS producer does")
	fs.BoolVar(&f.reclassify, "reclassify", true, "move sitelink blocks to the shared buckets, as the WDQS consumer does (not with -event)")
	fs.BoolVar(&f.event, "event", false, "print the rdf_change v2 events as JSON lines instead of the buckets")
	fs.StringVar(&f.domain, "domain", "", "meta.domain of the events (default: the scheme's wiki, www.wikidata.org or commons.wikimedia.org)")
	fs.StringVar(&f.stream, "stream", "rdf-streaming-updater.mutation", "meta.stream of the events")
	fs.StringVar(&f.requestID, "request-id", "", "meta.request_id of the events (default: a UUID derived from the entity and revision)")
	fs.StringVar(&f.metaDT, "meta-dt", "", "meta.dt of the events, RFC 3339 (default: the event time, so that output is reproducible)")
	fs.StringVar(&f.dt, "dt", "", "event time (dt), RFC 3339 (default: NEW's schema:dateModified, with -munge)")
	fs.Int64Var(&f.revision, "revision", -1, "rev_id of the events; -1 takes NEW's schema:version with -munge, 0 without")
	fs.IntVar(&f.softMax, "soft-max", rdfdiff.DefaultSoftMaxChars, "soft limit of a chunk's Turtle text, in characters")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := f.in.check(); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("diff takes two files, OLD and NEW, got %d arguments", fs.NArg())
	}
	oldName, newName := fs.Arg(0), fs.Arg(1)
	if oldName == "-" && newName == "-" {
		return usagef("OLD and NEW cannot both be standard input")
	}
	scheme, domain, err := parseScheme("-munge", f.munge)
	if err != nil {
		return err
	}
	if f.domain == "" {
		f.domain = domain
	}
	if f.revision < -1 {
		return usagef("-revision must be -1 (from NEW) or a revision ID, not %d", f.revision)
	}
	if f.softMax < 1 {
		return usagef("-soft-max must be at least 1, not %d", f.softMax)
	}
	var eventTime, metaDT time.Time
	if f.dt != "" {
		if eventTime, err = time.Parse(time.RFC3339Nano, f.dt); err != nil {
			return usagef("-dt: %v", err)
		}
	}
	if f.metaDT != "" {
		if metaDT, err = time.Parse(time.RFC3339Nano, f.metaDT); err != nil {
			return usagef("-meta-dt: %v", err)
		}
	}

	oldTs, err := f.in.read(oldName, stdin)
	if err != nil {
		return err
	}
	newTs, err := f.in.read(newName, stdin)
	if err != nil {
		return err
	}
	if len(oldTs) == 0 && len(newTs) == 0 {
		return fmt.Errorf("rdfdiff: %s and %s both hold no triples", oldName, newName)
	}

	entityID := f.entity
	if entityID == "" {
		if entityID, err = aboutEntity(scheme, oldName, oldTs, newName, newTs); err != nil && (f.munge != "" || f.event) {
			return err
		}
	}
	revision := max(f.revision, 0)
	if f.munge != "" {
		m := rdfdiff.NewMunger(scheme, append(f.labels.options(), rdfdiff.MungeSkolemize(f.skolemize))...)
		munge := func(name string, ts []rdfdiff.Triple) ([]rdfdiff.Triple, rdfdiff.MungedEntity, error) {
			if len(ts) == 0 {
				return nil, rdfdiff.MungedEntity{}, nil // the entity does not exist on this side
			}
			me, err := m.MungeEntity(entityID, ts)
			if err != nil {
				return nil, me, &fileError{name: name, err: err}
			}
			return me.Triples, me, nil
		}
		if oldTs, _, err = munge(oldName, oldTs); err != nil {
			return err
		}
		var me rdfdiff.MungedEntity
		if newTs, me, err = munge(newName, newTs); err != nil {
			return err
		}
		if f.revision < 0 {
			revision = me.Revision
		}
		if eventTime.IsZero() {
			eventTime = me.LastModified
		}
	} else if f.skolemize {
		oldTs, newTs = scheme.SkolemizeTriples(oldTs), scheme.SkolemizeTriples(newTs)
	}

	patch := rdfdiff.Diff(oldTs, newTs, rdfdiff.WikibaseShared(scheme))
	if !f.event {
		if f.reclassify {
			if patch, err = rdfdiff.ReclassifySitelinks(patch); err != nil {
				return err
			}
		}
		return writeBuckets(stdout, patch)
	}

	op := rdfdiff.OpDiff
	switch {
	case len(oldTs) == 0:
		op = rdfdiff.OpImport
	case len(newTs) == 0:
		op, patch = rdfdiff.OpDelete, rdfdiff.Patch{}
	}
	if eventTime.IsZero() {
		return usagef("-event needs the event time: pass -dt, or -munge to read NEW's schema:dateModified")
	}
	if metaDT.IsZero() {
		metaDT = eventTime
	}
	if f.requestID == "" {
		f.requestID = nameUUID(fmt.Sprintf("rdfdiff/%s/%d/%s", entityID, revision, op))
	}
	change := rdfdiff.EntityChange{
		EntityID: entityID, Revision: revision, Operation: op, EventTime: eventTime,
		RequestID: f.requestID, Domain: f.domain, Stream: f.stream, Patch: patch,
	}
	events, err := rdfdiff.ChunkChange(change,
		rdfdiff.WithSoftMaxChars(f.softMax),
		rdfdiff.WithMeta(func(seq int, m *rdfdiff.EventMeta) {
			m.DT = metaDT
			m.ID = nameUUID(fmt.Sprintf("%s/%d", f.requestID, seq))
		}))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, ev := range events {
		b, err := ev.MarshalJSON()
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	_, err = stdout.Write(buf.Bytes())
	return err
}

// fileError names the input file an error is about.
type fileError struct {
	name string
	err  error
}

func (e *fileError) Error() string {
	return "rdfdiff: " + e.name + ": " + strings.TrimPrefix(e.err.Error(), "rdfdiff: ")
}

func (e *fileError) Unwrap() error { return e.err }

// aboutEntity returns the entity the entity-data node of the documents is
// about (data:Q42 schema:about wd:Q42), looking in NEW first. Both sides
// must agree.
func aboutEntity(scheme rdfdiff.URIScheme, oldName string, oldTs []rdfdiff.Triple, newName string, newTs []rdfdiff.Triple) (string, error) {
	find := func(name string, ts []rdfdiff.Triple) (string, error) {
		id := ""
		for _, t := range ts {
			if !t.P.IsIRIEqual("http://schema.org/about") || !scheme.InEntityDataNamespace(t.S) || !t.O.IsIRI() {
				continue
			}
			got, ok := scheme.EntityID(t.O.Value())
			if !ok {
				continue
			}
			if id != "" && id != got {
				return "", fmt.Errorf("rdfdiff: %s is about both %s and %s: pass -entity", name, id, got)
			}
			id = got
		}
		return id, nil
	}
	newID, err := find(newName, newTs)
	if err != nil {
		return "", err
	}
	oldID, err := find(oldName, oldTs)
	if err != nil {
		return "", err
	}
	switch {
	case newID != "" && oldID != "" && newID != oldID:
		return "", fmt.Errorf("rdfdiff: %s is about %s but %s is about %s: pass -entity", oldName, oldID, newName, newID)
	case newID != "":
		return newID, nil
	case oldID != "":
		return oldID, nil
	}
	return "", fmt.Errorf("rdfdiff: no entity-data node with schema:about in %s or %s: pass -entity", oldName, newName)
}

// writeBuckets prints the four buckets, each sorted, under their headers.
func writeBuckets(w io.Writer, p rdfdiff.Patch) error {
	var buf []byte
	for _, b := range []struct {
		header string
		ts     []rdfdiff.Triple
	}{
		{"# added", p.Added}, {"# removed", p.Removed},
		{"# linked-shared", p.LinkedShared}, {"# unlinked-shared", p.UnlinkedShared},
	} {
		ts := append([]rdfdiff.Triple(nil), b.ts...)
		rdfdiff.SortTriples(ts)
		buf = append(buf, b.header...)
		buf = append(buf, '\n')
		buf = rdfdiff.AppendNTriples(buf, ts)
	}
	_, err := w.Write(buf)
	return err
}

// nameUUID returns a name-based UUID (RFC 9562 version 5 layout over SHA-1)
// for name, so that generated IDs are the same on every run.
func nameUUID(name string) string {
	sum := sha1.Sum([]byte("streamkit/examples/rdfdiff:" + name))
	u := sum[:16]
	u[6] = u[6]&0x0F | 0x50
	u[8] = u[8]&0x3F | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
