package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// fixtures are the WDQS fixtures the quickstart replays: real page_change
// events of test.wikidata.org and the Special:EntityData Turtle of real
// entities. They are embedded, so the binary runs from any directory.
//
//go:embed testdata/events/*.json testdata/entities/*.ttl
var fixtures embed.FS

// Domain is the wiki of the fixture events, and the updater's filter.
const Domain = "test.wikidata.org"

// Entity revisions of the stream. The fixture Turtle carries these revision
// numbers (schema:version), so the graph holds what Wikidata served.
const (
	q2Rev1, q2Rev2         = 1, 2
	q42Rev, q42EditRev     = 1997465481, 1997465482
	l691820Rev, l4696Rev   = 2224372531, 766944915
	q42OldLabel, q42Label  = `wdt:P1813 "Douglas Adams"@en`, `wdt:P1813 "Douglas N. Adams"@en`
	q42OldStmt, q42NewStmt = `ps:P1813 "Douglas Adams"@en`, `ps:P1813 "Douglas N. Adams"@en`
)

// step is one event of the replayed stream: a real page_change event
// (template) re-addressed to an entity whose RDF the fixtures hold.
type step struct {
	template    string // testdata/events/<template>.json
	title       string // page.page_title ("Q2", "Lexeme:L4696")
	ns          int
	model       string
	rev, parent int64
	// bad replaces the event by a truncated copy: a record the updater
	// cannot decode, which it dead-letters.
	bad bool
}

// script is the quickstart's stream, in edit order: creates, edits,
// a delete, a delete and undelete, events the filter drops (another
// namespace, a visibility change) and one broken record. The final graph is
// Q2 at revision 2, Q42 at the edited revision and L691820; L4696 is
// deleted.
var script = []step{
	{template: "item-create", title: "Q2", model: "wikibase-item", rev: q2Rev1},
	{template: "item-create", title: "Q42", model: "wikibase-item", rev: q42Rev},
	{template: "lexeme-create", title: "Lexeme:L691820", ns: 146, model: "wikibase-lexeme", rev: l691820Rev},
	{template: "item-edit", title: "Q2", model: "wikibase-item", rev: q2Rev2, parent: q2Rev1},
	{template: "lexeme-create", title: "Lexeme:L4696", ns: 146, model: "wikibase-lexeme", rev: l4696Rev},
	{template: "non-item-create", title: "User:DCausse_(WMF)/Test", ns: 2, model: "wikitext", rev: 686143},
	{template: "item-edit", title: "Q42", model: "wikibase-item", rev: q42EditRev, parent: q42Rev},
	{template: "item-edit", bad: true},
	{template: "item-delete", title: "Lexeme:L4696", ns: 146, model: "wikibase-lexeme", rev: l4696Rev},
	{template: "item-delete", title: "Q2", model: "wikibase-item", rev: q2Rev2, parent: q2Rev1},
	{template: "item-visibility-change", title: "Q2", model: "wikibase-item", rev: q2Rev2, parent: q2Rev1},
	{template: "item-undelete", title: "Q2", model: "wikibase-item", rev: q2Rev2, parent: q2Rev1},
}

// finalRevisions are the entities the graph must hold at the end of the
// stream, with the Turtle of their last revision.
func finalRevisions() (map[string][]byte, error) {
	revs, err := entityRevisions()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		"Q2":      revs[revKey("Q2", q2Rev2)],
		"Q42":     revs[revKey("Q42", q42EditRev)],
		"L691820": revs[revKey("L691820", l691820Rev)],
	}, nil
}

func revKey(id string, rev int64) string { return id + "/" + strconv.FormatInt(rev, 10) }

// entityRevisions returns the Turtle of every revision the stream names,
// keyed "<id>/<rev>": the fixture files, and Q42's edit, which is the Q42
// fixture with its English short name changed (the fixtures hold one
// revision of Q42).
func entityRevisions() (map[string][]byte, error) {
	read := func(name string) ([]byte, error) {
		b, err := fixtures.ReadFile("testdata/entities/" + name)
		if err != nil {
			return nil, fmt.Errorf("quickstart: fixture %s: %w", name, err)
		}
		return b, nil
	}
	out := map[string][]byte{}
	for key, name := range map[string]string{
		revKey("Q2", q2Rev1):          "Q2-rev1.ttl",
		revKey("Q2", q2Rev2):          "Q2-rev2.ttl",
		revKey("Q42", q42Rev):         "Q42.ttl",
		revKey("L691820", l691820Rev): "L691820.ttl",
		revKey("L4696", l4696Rev):     "L4696.ttl",
	} {
		b, err := read(name)
		if err != nil {
			return nil, err
		}
		out[key] = b
	}
	q42 := string(out[revKey("Q42", q42Rev)])
	if !strings.Contains(q42, q42OldLabel) || !strings.Contains(q42, q42OldStmt) {
		return nil, fmt.Errorf("quickstart: fixture Q42.ttl lacks %s", q42OldLabel)
	}
	edited := strings.NewReplacer(
		q42OldLabel, q42Label,
		q42OldStmt, q42NewStmt,
		`schema:version "1997465481"`, `schema:version "1997465482"`,
	).Replace(q42)
	out[revKey("Q42", q42EditRev)] = []byte(edited)
	return out, nil
}

// entityID is the entity ID of a page title ("Lexeme:L4696" → "L4696").
func entityID(title string) string {
	if i := strings.IndexByte(title, ':'); i >= 0 {
		return title[i+1:]
	}
	return title
}

// event renders one step as a page_change event dated dt, with fresh
// meta.id and request_id (seq makes them unique within a run).
func (s step) event(dt time.Time, runID string, seq int) ([]byte, error) {
	b, err := fixtures.ReadFile(path.Join("testdata/events", s.template+".json"))
	if err != nil {
		return nil, fmt.Errorf("quickstart: fixture event %s: %w", s.template, err)
	}
	if s.bad {
		// A record cut short, as a broken producer might write it.
		return bytes.TrimSpace(b)[:len(b)/2], nil
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("quickstart: fixture event %s: %w", s.template, err)
	}
	ts := dt.UTC().Format(time.RFC3339Nano)
	ev["dt"] = ts
	page, _ := ev["page"].(map[string]any)
	meta, _ := ev["meta"].(map[string]any)
	rev, _ := ev["revision"].(map[string]any)
	if page == nil || meta == nil || rev == nil {
		return nil, fmt.Errorf("quickstart: fixture event %s lacks page, meta or revision", s.template)
	}
	page["page_title"], page["namespace_id"] = s.title, s.ns
	meta["dt"] = ts
	meta["id"] = fmt.Sprintf("%s-%04d", runID, seq)
	meta["request_id"] = fmt.Sprintf("quickstart-%s-%d-%s", entityID(s.title), s.rev, s.template)
	meta["uri"] = "https://" + Domain + "/wiki/" + s.title
	rev["rev_id"], rev["rev_dt"] = s.rev, ts
	if s.parent > 0 {
		rev["rev_parent_id"] = s.parent
	} else {
		delete(rev, "rev_parent_id")
	}
	if slots, ok := rev["content_slots"].(map[string]any); ok {
		if main, ok := slots["main"].(map[string]any); ok {
			main["content_model"] = s.model
			main["origin_rev_id"] = s.rev
		}
	}
	return json.Marshal(ev)
}

// filler is an event of another namespace (a user page), which the updater
// drops but whose time still moves the watermark: in production the stream
// never stops, and these stand for the rest of the wiki's traffic, which
// releases the last edits from the re-order buffer.
func filler(dt time.Time, runID string, seq int) ([]byte, error) {
	s := step{template: "non-item-create", title: fmt.Sprintf("User:Quickstart/%d", seq), ns: 2, model: "wikitext", rev: int64(700000 + seq)}
	return s.event(dt, runID, seq)
}
