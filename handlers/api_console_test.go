package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// consoleFixture adds this week's conversations to the API fixture: c1
// (a1), c2 (a2) and c3 (b1) wrote and wait; a1 answered c4 after 30
// minutes; a promise of a1 is due today, one of b1 is overdue.
func consoleFixture(t *testing.T, a *apiEnv) {
	t.Helper()
	ctx := context.Background()
	add := func(key, cust, staff, dir string, at time.Time) {
		t.Helper()
		e := &store.TimelineEntry{CustomerID: a.ids[cust], SourceKey: "console:" + key, Kind: store.EntryMessage,
			Channel: store.ChannelWeCom, Direction: dir, StaffID: staff, Text: "消息" + key, At: at}
		if _, err := a.st.AppendTimeline(ctx, e); err != nil {
			t.Fatal(err)
		}
		if dir == store.DirectionIn { // as the customer processor does
			c, err := a.st.FindCustomerByID(ctx, a.ids[cust])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: c.Identities[0], CustomerAt: at, Now: at}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("1", "c1", "a1", store.DirectionIn, apiNow.Add(-2*time.Hour))
	add("2", "c2", "a2", store.DirectionIn, apiNow.Add(-3*time.Hour))
	add("3", "c3", "b1", store.DirectionIn, apiNow.Add(-4*time.Hour))
	add("4", "c4", "a1", store.DirectionIn, apiNow.Add(-26*time.Hour))
	add("5", "c4", "a1", store.DirectionOut, apiNow.Add(-26*time.Hour+30*time.Minute))
	for _, r := range []*store.Reminder{
		{CustomerID: a.ids["c1"], StaffID: "a1", Kind: store.ReminderPromise, Text: "答应今天报价", DueAt: apiNow.Add(time.Hour)},
		{CustomerID: a.ids["c3"], StaffID: "b1", Kind: store.ReminderManual, Text: "回访", DueAt: apiNow.Add(-48 * time.Hour)},
	} {
		if _, err := a.st.CreateReminder(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConsoleWorkbenchScopes: each caller's workbench lists exactly the
// customers and reminders of their scope, and a manager's a row per member.
func TestConsoleWorkbenchScopes(t *testing.T) {
	a := newAPIEnv(t)
	consoleFixture(t, a)
	before := timelineCounts(t, a)
	for _, p := range a.principals(t) {
		t.Run(p.name, func(t *testing.T) {
			status, body := a.do(t, "GET", "/api/v1/workbench", p.token, nil)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			var wb bot.Workbench
			if err := json.Unmarshal(body, &wb); err != nil {
				t.Fatal(err)
			}
			var waiting []string
			for _, w := range wb.Waiting {
				waiting = append(waiting, a.keys[w.CustomerID])
			}
			// c5 (b1's, lost) wrote on 05-20 and nobody answered.
			want := map[string][]string{"sales A1": {"c1"}, "sales A2": {"c2"}, "sales B1": {"c5", "c3"},
				"manager A": {"c2", "c1"}, "manager B": {"c5", "c3"}, "admin token": {"c5", "c3", "c2", "c1"}, "admin staff": {"c5", "c3", "c2", "c1"}}[p.name]
			if !slices.Equal(waiting, want) {
				t.Errorf("waiting %v, want %v (longest wait first)", waiting, want)
			}
			for _, w := range wb.Waiting {
				if w.Minutes < 120 || w.OwnerName == "" {
					t.Errorf("waiting item %+v: want ≥ 120 minutes and an owner", w)
				}
			}
			var promises []string
			for _, pr := range wb.Promises {
				promises = append(promises, a.keys[pr.CustomerID])
			}
			wantPromises := []string(nil)
			if slices.Contains(p.sees, "c1") {
				wantPromises = []string{"c1"}
			}
			if !slices.Equal(promises, wantPromises) {
				t.Errorf("promises %v, want %v", promises, wantPromises)
			}
			wantOverdue := 0
			if slices.Contains(p.sees, "c3") {
				wantOverdue = 1
			}
			if len(wb.Reminders.Overdue) != wantOverdue {
				t.Errorf("overdue %d, want %d", len(wb.Reminders.Overdue), wantOverdue)
			}
			var team []string
			for _, r := range wb.Team {
				team = append(team, r.StaffID)
			}
			wantTeam := map[string][]string{"manager A": {"a1", "a2", "mgrA"}, "manager B": {"b1", "mgrB"},
				"admin token": {"a1", "a2", "b1", "mgrA", "mgrB"}, "admin staff": {"a1", "a2", "b1", "mgrA", "mgrB"}}[p.name]
			if !slices.Equal(team, wantTeam) {
				t.Errorf("team %v, want %v", team, wantTeam)
			}
		})
	}
	if after := timelineCounts(t, a); !maps2Equal(before, after) {
		t.Errorf("the workbench wrote to timelines: %v → %v", before, after)
	}
}

// TestConsoleReportScopes: a report counts the caller's scope only; a
// salesperson asking for another's report gets 404; the export is the same
// report as a workbook.
func TestConsoleReportScopes(t *testing.T) {
	a := newAPIEnv(t)
	consoleFixture(t, a)
	exp := apiNow.Add(time.Hour)
	q := "?from=2024-05-25&to=2024-06-01"
	get := func(t *testing.T, token, query string) (int, bot.Report) {
		t.Helper()
		status, body := a.do(t, "GET", "/api/v1/reports"+query, token, nil)
		var r bot.Report
		if status == 200 {
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
		}
		return status, r
	}
	status, r := get(t, mint(t, apiTok, "a1", exp), q)
	if status != 200 {
		t.Fatalf("a1 report: %d", status)
	}
	if len(r.ByStaff) != 1 || r.ByStaff[0].StaffID != "a1" {
		t.Fatalf("a1 by_staff %+v, want a1 alone", r.ByStaff)
	}
	tot := r.Totals
	if tot.FollowUps != 1 || tot.MessagesOut != 1 || tot.MessagesIn != 2 || tot.Customers != 2 {
		t.Errorf("a1 totals %+v: want 1 follow-up, 1 out, 2 in, 2 customers", tot)
	}
	// c4 had waited since the fixture's first message, 30 days before
	// apiNow, for the answer 25.5 hours before it.
	if tot.ReplyMedianMin == nil || *tot.ReplyMedianMin != 41670 || tot.FirstResponseP90Min == nil || *tot.FirstResponseP90Min != 41670 {
		t.Errorf("a1 waits: reply median %v, first response p90 %v; want 41670 minutes", deref(tot.ReplyMedianMin), deref(tot.FirstResponseP90Min))
	}
	if tot.Waiting != 1 {
		t.Errorf("a1 waiting %d, want 1 (c1)", tot.Waiting)
	}
	if len(r.Daily) != 8 || r.Daily[0].Date != "2024-05-25" || r.Daily[7].Date != "2024-06-01" {
		t.Errorf("daily %+v: want 8 days 05-25..06-01", r.Daily)
	}
	if status, _ := get(t, mint(t, apiTok, "a1", exp), q+"&staff=b1"); status != 404 {
		t.Errorf("a1 asking for b1's report: %d, want 404", status)
	}
	status, r = get(t, mint(t, apiTok, "mgrA", exp), q+"&staff=a2")
	if status != 200 || len(r.ByStaff) != 1 || r.Totals.MessagesIn != 1 || r.Totals.Waiting != 1 {
		t.Errorf("manager A asking for a2: %d %+v", status, r.Totals)
	}
	status, r = get(t, mint(t, apiTok, "mgrA", exp), q)
	if status != 200 || r.Totals.MessagesIn != 3 || r.Totals.Waiting != 2 {
		t.Errorf("manager A: %d %+v, want 3 messages in and 2 waiting (b1's c3 not counted)", status, r.Totals)
	}
	status, r = get(t, apiTok, q)
	if status != 200 || r.Totals.MessagesIn != 4 || r.Totals.Waiting != 5 {
		t.Errorf("admin: %d %+v, want 4 messages in and 5 waiting (c6 follows nobody)", status, r.Totals)
	}
	if status, _ := get(t, apiTok, "?from=2024-06-02&to=2024-06-01"); status != 400 {
		t.Errorf("to before from: %d, want 400", status)
	}
	if status, _ := get(t, apiTok, "?from=yesterday"); status != 400 {
		t.Errorf("bad date: %d, want 400", status)
	}

	status, body := a.do(t, "GET", "/api/v1/reports/export"+q, mint(t, apiTok, "a1", exp), nil)
	if status != 200 {
		t.Fatalf("export: %d %s", status, body)
	}
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.GetSheetList(); !slices.Equal(got, []string{"总览", "成员", "漏斗", "情绪", "投诉", "每日"}) {
		t.Errorf("sheets %v", got)
	}
	rows, err := f.GetRows("成员")
	if err != nil || len(rows) != 2 || rows[1][0] != "a1" {
		t.Errorf("成员 sheet %v, %v: want a1 alone", rows, err)
	}
}

// TestConsoleCustomerSentimentAndDetail: the sentiment history comes from
// the analysis entries, oldest first, for visible customers only; the
// detail carries the open promises.
func TestConsoleCustomerSentimentAndDetail(t *testing.T) {
	a := newAPIEnv(t)
	consoleFixture(t, a)
	ctx := context.Background()
	for i, l := range []string{"positive", "negative"} {
		if _, err := a.st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: a.ids["c1"], SourceKey: fmt.Sprintf("an:%d", i),
			Kind: store.EntryAnalysis, Text: "分析", Attrs: map[string]string{"sentiment_label": l, "sentiment_score": fmt.Sprint(0.9 - 0.8*float64(i))},
			At: apiNow.Add(time.Duration(i-2) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	exp := apiNow.Add(time.Hour)
	status, body := a.do(t, "GET", "/api/v1/customers/"+a.ids["c1"]+"/sentiment", mint(t, apiTok, "a1", exp), nil)
	var got struct {
		Points []bot.SentimentPoint `json:"points"`
	}
	if err := json.Unmarshal(body, &got); status != 200 || err != nil {
		t.Fatalf("%d %s", status, body)
	}
	if len(got.Points) != 2 || got.Points[0].Label != "positive" || got.Points[1].Label != "negative" || got.Points[1].Score < 0.09 || got.Points[1].Score > 0.11 {
		t.Errorf("points %+v", got.Points)
	}
	if status, _ := a.do(t, "GET", "/api/v1/customers/"+a.ids["c1"]+"/sentiment", mint(t, apiTok, "b1", exp), nil); status != 404 {
		t.Errorf("b1 reading c1's sentiment: %d, want 404", status)
	}
	status, body = a.do(t, "GET", "/api/v1/customers/"+a.ids["c1"], mint(t, apiTok, "a1", exp), nil)
	var detail struct {
		Stage      string            `json:"stage"`
		Follows    []store.Follow    `json:"follows"`
		Identities []store.Identity  `json:"identities"`
		Groups     []any             `json:"groups"`
		Promises   []*store.Reminder `json:"promises"`
		Reminders  []*store.Reminder `json:"reminders"`
	}
	if err := json.Unmarshal(body, &detail); status != 200 || err != nil {
		t.Fatalf("%d %s", status, body)
	}
	if len(detail.Promises) != 1 || detail.Promises[0].Text != "答应今天报价" || len(detail.Reminders) != 1 ||
		detail.Stage == "" || len(detail.Follows) == 0 || len(detail.Identities) == 0 || detail.Groups == nil {
		t.Errorf("detail %+v", detail)
	}
}

// timelineCounts counts every fixture customer's timeline entries.
func timelineCounts(t *testing.T, a *apiEnv) map[string]int {
	t.Helper()
	out := map[string]int{}
	for k, id := range a.ids {
		es, err := a.st.FindTimeline(context.Background(), id, 0, 200)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = len(es)
	}
	return out
}

func maps2Equal(x, y map[string]int) bool {
	if len(x) != len(y) {
		return false
	}
	for k, v := range x {
		if y[k] != v {
			return false
		}
	}
	return true
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
