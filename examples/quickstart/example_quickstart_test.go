package main

import (
	"encoding/json"
	"fmt"
	"time"
)

// Example_stream prints the stream the quickstart replays: each real
// page_change event of test.wikidata.org, re-addressed to an entity whose
// RDF the fixtures hold. The broken record is dead-lettered; the user page
// and the visibility change are dropped by the updater's filter.
func Example_stream() {
	now := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	for i, s := range script {
		b, err := s.event(now, "example", i)
		if err != nil {
			fmt.Println(err)
			return
		}
		if s.bad {
			fmt.Printf("%02d  (a %s event cut in half: %d bytes, not JSON: %v)\n", i, s.template, len(b), !json.Valid(b))
			continue
		}
		var ev struct {
			Kind string `json:"page_change_kind"`
			Page struct {
				Title string `json:"page_title"`
				NS    int    `json:"namespace_id"`
			} `json:"page"`
			Rev struct {
				ID     int64 `json:"rev_id"`
				Parent int64 `json:"rev_parent_id"`
			} `json:"revision"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%02d  %-17s %-24s ns %-3d rev %d (parent %d)\n", i, ev.Kind, ev.Page.Title, ev.Page.NS, ev.Rev.ID, ev.Rev.Parent)
	}
	// Output:
	// 00  create            Q2                       ns 0   rev 1 (parent 0)
	// 01  create            Q42                      ns 0   rev 1997465481 (parent 0)
	// 02  create            Lexeme:L691820           ns 146 rev 2224372531 (parent 0)
	// 03  edit              Q2                       ns 0   rev 2 (parent 1)
	// 04  create            Lexeme:L4696             ns 146 rev 766944915 (parent 0)
	// 05  create            User:DCausse_(WMF)/Test  ns 2   rev 686143 (parent 0)
	// 06  edit              Q42                      ns 0   rev 1997465482 (parent 1997465481)
	// 07  (a item-edit event cut in half: 1093 bytes, not JSON: true)
	// 08  delete            Lexeme:L4696             ns 146 rev 766944915 (parent 0)
	// 09  delete            Q2                       ns 0   rev 2 (parent 1)
	// 10  visibility_change Q2                       ns 0   rev 2 (parent 1)
	// 11  undelete          Q2                       ns 0   rev 2 (parent 1)
}
