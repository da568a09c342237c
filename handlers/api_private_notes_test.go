package handlers_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// TestAPIPrivateNotes is issue #11's finding 2 at the API: a note marked
// private is read by its author, the author's managers and admins, and by
// no other staff who see the customer (a co-follower in another team, a
// later follower), through the timeline and the export alike.
func TestAPIPrivateNotes(t *testing.T) {
	a := newAPIEnv(t)
	exp := apiNow.Add(time.Hour)
	tok := func(staff string) string { return mint(t, apiTok, staff, exp) }
	shared, secret := "客户说下周来店里", "底价还能再让 20%，别告诉别人"

	// c4 is followed by a1 (team A) and b1 (team B).
	c4 := a.ids["c4"]
	for _, n := range []map[string]any{{"text": shared}, {"text": secret, "private": true}} {
		status, body := a.do(t, "POST", "/api/v1/customers/"+c4+"/notes", tok("a1"), n)
		if status != 201 {
			t.Fatalf("add note %v: %d %s", n, status, body)
		}
		var e store.TimelineEntry
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		if want := n["private"] == true; (e.Attrs[store.AttrPrivate] == "true") != want {
			t.Fatalf("note %v stored with attrs %v", n, e.Attrs)
		}
	}
	// c5 was a1's until the follow ended; b1 follows now. a1's private note
	// from then stays with a1's side.
	c5 := a.ids["c5"]
	if _, err := a.st.AppendTimeline(context.Background(), &store.TimelineEntry{CustomerID: c5, SourceKey: "note:old:a1",
		Kind: store.EntryNote, StaffID: "a1", Text: "钱七的私事：" + secret,
		Attrs: map[string]string{"author": "a1", "source": "api", store.AttrPrivate: "true"}, At: apiNow.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, token, customer string
		sees                  bool
	}{
		{"author", tok("a1"), c4, true},
		{"author's manager", tok("mgrA"), c4, true},
		{"admin staff", tok("boss"), c4, true},
		{"admin token", apiTok, c4, true},
		{"co-follower in another team", tok("b1"), c4, false},
		{"another team's manager", tok("mgrB"), c4, false},
		{"later follower", tok("b1"), c5, false},
		{"later follower's manager", tok("mgrB"), c5, false},
		{"former owner's manager", tok("mgrA"), c5, false}, // mgrA no longer sees c5 at all
		{"admin, after the follow ended", tok("boss"), c5, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/timeline", "/export", ""} {
				status, body := a.do(t, "GET", "/api/v1/customers/"+tc.customer+path, tc.token, nil)
				if tc.name == "former owner's manager" {
					if status != 404 {
						t.Fatalf("GET %s: %d, want 404", path, status)
					}
					continue
				}
				if status != 200 {
					t.Fatalf("GET %s: %d %s", path, status, body)
				}
				if path == "" {
					if strings.Contains(string(body), secret) {
						t.Errorf("customer detail carries the private note: %s", body)
					}
					continue
				}
				if got := strings.Contains(string(body), secret); got != tc.sees {
					t.Errorf("GET %s shows the private note: %v, want %v\n%s", path, got, tc.sees, body)
				}
				if tc.customer == c4 && !strings.Contains(string(body), shared) {
					t.Errorf("GET %s lost the shared note: %s", path, body)
				}
			}
		})
	}
}
