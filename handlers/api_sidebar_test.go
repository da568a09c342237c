package handlers_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
)

type sidebarAnswer struct {
	Kind     string `json:"kind"`
	Customer struct {
		ID     string                `json:"id"`
		Name   string                `json:"name"`
		Groups []store.CustomerGroup `json:"groups"`
	} `json:"customer"`
	Reminders []store.Reminder       `json:"reminders"`
	Notes     []store.TimelineEntry  `json:"notes"`
	Sentiment []bot.SentimentPoint   `json:"sentiment"`
	Group     map[string]any         `json:"group"`
	Customers []store.Customer       `json:"customers"`
	Hidden    int                    `json:"hidden_customers"`
	Activity  []*store.TimelineEntry `json:"activity"`
}

// TestSidebarContext: the card of a customer by external_userid in one
// call — detail, the caller's open reminders, notes they may read,
// sentiment over time — and of a group by chat_id with only the customers
// the caller may see; a salesperson who does not follow the customer gets
// 404, and nobody reads another's private note.
func TestSidebarContext(t *testing.T) {
	st := openAuthStore(t)
	ctx := context.Background()
	clock := &authClock{t: authT0.Add(48 * time.Hour)}
	id1 := customerID(t, st, "wm1")
	// s2 follows wm1 too; gone never did.
	if _, err := st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wm1"},
		Follow: &store.Follow{StaffID: "s2", AddedAt: authT0}, Now: authT0}); err != nil {
		t.Fatal(err)
	}
	var core *bot.Core
	base := startAuthServer(t, st, clock, apiTok, func(o *handlers.Options) { core = o.Core })
	s1 := bot.Actor{Viewer: bot.Viewer{StaffID: "s1", Role: bot.RoleSales}, Source: bot.SourceAPI}
	for _, n := range []struct {
		text    string
		private bool
	}{{"客户预算 10 万", false}, {"s1 的私人备注", true}} {
		if _, _, err := core.AddNote(ctx, s1, bot.NoteRequest{CustomerID: id1, Text: n.text, Private: n.private}); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range []struct {
		label string
		score string
	}{{"negative", "0.200"}, {"neutral", "0.500"}, {"positive", "0.800"}} {
		if _, err := st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: id1, SourceKey: "an" + s.score, Kind: store.EntryAnalysis,
			Text: "分析", Attrs: map[string]string{"sentiment_label": s.label, "sentiment_score": s.score}, At: authT0.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*store.Reminder{
		{CustomerID: id1, StaffID: "s1", Kind: store.ReminderPromise, Text: "周三发报价", DueAt: authT0.Add(72 * time.Hour)},
		{CustomerID: id1, StaffID: "s2", Kind: store.ReminderManual, Text: "s2 的提醒", DueAt: authT0.Add(72 * time.Hour)},
	} {
		if _, err := st.CreateReminder(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.UpsertGroup(ctx, &store.Group{ChatID: "wrG1", Name: "VIP 客户群", OwnerID: "s1", CreatedAt: authT0, UpdatedAt: authT0,
		Members: []store.GroupMember{{UserID: "s1", Type: store.GroupMemberStaff, JoinedAt: authT0},
			{UserID: "wm1", Type: store.GroupMemberExternal, JoinedAt: authT0}, {UserID: "wm2", Type: store.GroupMemberExternal, JoinedAt: authT0},
			{UserID: "wm-unknown", Type: store.GroupMemberExternal, JoinedAt: authT0}}}); err != nil {
		t.Fatal(err)
	}
	c := browser(t)
	get := func(staff, q string) (int, sidebarAnswer) {
		t.Helper()
		tok, err := handlers.MintStaffToken(apiTok, staff, clock.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		a := do(t, c, "GET", base+"/api/v1/sidebar/context?"+q, "", "Authorization", "Bearer "+tok)
		var out sidebarAnswer
		if a.status == 200 {
			if err := json.Unmarshal([]byte(a.body), &out); err != nil {
				t.Fatal(err)
			}
		}
		return a.status, out
	}
	notes := func(a sidebarAnswer) string {
		var s []string
		for _, n := range a.Notes {
			s = append(s, n.Text)
		}
		return strings.Join(s, "|")
	}
	st1, a1 := get("s1", "external_userid=wm1")
	if st1 != 200 || a1.Kind != "customer" || a1.Customer.ID != id1 || a1.Customer.Groups == nil || len(a1.Customer.Groups) != 1 {
		t.Fatalf("s1: %d %+v", st1, a1)
	}
	if notes(a1) != "s1 的私人备注|客户预算 10 万" {
		t.Errorf("s1 notes %q", notes(a1))
	}
	if len(a1.Reminders) != 1 || a1.Reminders[0].Text != "周三发报价" {
		t.Errorf("s1 reminders %+v, want only their own", a1.Reminders)
	}
	if len(a1.Sentiment) != 3 || a1.Sentiment[0].Label != "negative" || a1.Sentiment[2].Score != 0.8 {
		t.Errorf("sentiment %+v, want three points oldest first", a1.Sentiment)
	}
	_, a2 := get("s2", "external_userid=wm1")
	if notes(a2) != "客户预算 10 万" || len(a2.Reminders) != 1 || a2.Reminders[0].Text != "s2 的提醒" {
		t.Errorf("s2 sees notes %q and reminders %+v: another's private note or reminder leaked", notes(a2), a2.Reminders)
	}
	if st, _ := get("s1", "external_userid=wm2"); st != 404 {
		t.Errorf("s1 on a customer they do not follow: %d, want 404", st)
	}
	if st, _ := get("s1", "external_userid=nobody"); st != 404 {
		t.Errorf("unknown external_userid: %d, want 404", st)
	}
	if st, _ := get("s1", "external_userid=wm1&chat_id=wrG1"); st != 400 {
		t.Errorf("both parameters: %d, want 400", st)
	}
	// The group: s1 is its owner and sees wm1; wm2 (s2's) and a stranger are counted only.
	sg, g := get("s1", "chat_id="+url.QueryEscape("wrG1"))
	if sg != 200 || g.Kind != "group" || g.Group["name"] != "VIP 客户群" || len(g.Customers) != 1 || g.Customers[0].ID != id1 || g.Hidden != 2 {
		t.Errorf("group card for s1: %d %+v", sg, g)
	}
	if st, g := get("mgr", "chat_id=wrG1"); st != 200 || len(g.Customers) != 2 || g.Hidden != 1 {
		t.Errorf("group card for the manager: %d %d customers %d hidden", st, len(g.Customers), g.Hidden)
	}
	// s2 neither owns the group nor is in it.
	if st, _ := get("s2", "chat_id=wrG1"); st != 404 {
		t.Errorf("group card for an outsider: %d, want 404", st)
	}
	// The customer card is audited as a timeline read.
	audit, _ := st.FindAudit(ctx, id1, 0, 10)
	if len(audit) == 0 || audit[0].Action != bot.AuditReadTimeline {
		t.Errorf("no read_timeline audit for the card: %+v", audit)
	}
}
