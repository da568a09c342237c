package handlers_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
)

// secretCustomer seeds one customer with a record in every place a
// customer's data can live and returns their ID and every personal value.
func secretCustomer(t *testing.T, a *apiEnv) (string, []string) {
	t.Helper()
	ctx := context.Background()
	st := a.st
	secrets := []string{"陈十", "wm-secret-1", "un-secret-1", "o-secret-1", "陈总秘书", "13800138000",
		"110101199001011234", "secret event text", "回访陈十", "陈十想买课", "电话里说了住址", "avatar-secret.png",
		"wm-secret-alias"}
	c, err := st.UpsertCustomer(ctx, store.CustomerUpsert{
		Identity: ext("wm-secret-1"),
		Link:     []store.Identity{{Kind: store.IdentityUnionID, Value: "un-secret-1"}},
		Name:     "陈十", Avatar: "https://example.com/avatar-secret.png",
		Follow:  &store.Follow{StaffID: "a1", Remark: "陈总秘书", State: "expo", AddedAt: apiNow.Add(-time.Hour)},
		AddTags: []string{"VIP"}, CustomerAt: apiNow.Add(-time.Hour), Now: apiNow.Add(-2 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The same person on the Official Account, linked by unionid.
	if _, err := st.UpsertCustomer(ctx, store.CustomerUpsert{
		Identity: store.Identity{Kind: store.IdentityOpenID, Value: "o-secret-1"},
		Link:     []store.Identity{{Kind: store.IdentityUnionID, Value: "un-secret-1"}}, Now: apiNow.Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{
		Fields:  map[string]string{"手机": "13800138000"},
		Insight: &store.Insight{Summary: "陈十想买课", SentimentLabel: "positive", Model: "offline", AnalyzedAt: apiNow},
		Now:     apiNow,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: c.ID, SourceKey: "event:wecom:wm-secret-1:1",
		Kind: store.EntryMessage, Direction: store.DirectionIn, Channel: store.ChannelWeCom,
		Text: "我的身份证号是110101199001011234", At: apiNow.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendEvents(ctx, []*store.Event{{
		DedupKey: "wecom:wm-secret-1:1", Channel: store.ChannelWeCom, Kind: "text", FromID: "wm-secret-1",
		StaffID: "a1", CustomerID: "wm-secret-1", Text: "secret event text", MsgID: "m1",
		Attrs: map[string]string{"Name": "陈十"}, Raw: []byte("<xml><Content>secret event text</Content></xml>"),
		OccurredAt: apiNow.Add(-time.Hour), ReceivedAt: apiNow.Add(-time.Hour),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateReminder(ctx, &store.Reminder{Key: "manual:" + c.ID + ":1", CustomerID: c.ID, StaffID: "a1",
		Kind: store.ReminderManual, Text: "回访陈十", DueAt: apiNow.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.ScheduleJob(ctx, "analyze:"+c.ID, "analyze", c.ID, apiNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.SetCursor(ctx, "summary:"+c.ID, "42"); err != nil {
		t.Fatal(err)
	}
	// A customer group with the customer in it twice: by external_userid,
	// and under an ID scrm never saw, by unionid.
	if _, err := st.UpsertGroup(ctx, &store.Group{ChatID: "wr-group-1", Name: "客户群", OwnerID: "a1", UpdatedAt: apiNow,
		Members: []store.GroupMember{{UserID: "a1", Type: store.GroupMemberStaff, JoinedAt: apiNow},
			{UserID: "wm-secret-1", Type: store.GroupMemberExternal, JoinedAt: apiNow, UnionID: "un-secret-1"},
			{UserID: "wm-secret-alias", Type: store.GroupMemberExternal, JoinedAt: apiNow, UnionID: "un-secret-1"}}}); err != nil {
		t.Fatal(err)
	}
	tok := mint(t, apiTok, "a1", apiNow.Add(time.Hour))
	if status, body := a.do(t, "POST", "/api/v1/customers/"+c.ID+"/notes", tok, map[string]string{"text": "电话里说了住址"}); status != 201 {
		t.Fatalf("note: %d %s", status, body)
	}
	return c.ID, secrets
}

// TestAPIExportThenErase: the export carries everything, the erase leaves
// no trace in any table, and both are in the audit log with who and when.
func TestAPIExportThenErase(t *testing.T) {
	a := newAPIEnv(t)
	id, secrets := secretCustomer(t, a)
	sales := mint(t, apiTok, "a1", apiNow.Add(time.Hour))
	other := mint(t, apiTok, "b1", apiNow.Add(time.Hour))
	manager := mint(t, apiTok, "mgrA", apiNow.Add(time.Hour))

	if status, _ := a.do(t, "GET", "/api/v1/customers/"+id+"/export", other, nil); status != 404 {
		t.Fatalf("b1 exported a1's customer: %d", status)
	}
	status, body := a.do(t, "GET", "/api/v1/customers/"+id+"/export", sales, nil)
	if status != 200 {
		t.Fatalf("export: %d %s", status, body)
	}
	var ex struct {
		ExportedBy string                 `json:"exported_by"`
		Customer   store.Customer         `json:"customer"`
		Timeline   []*store.TimelineEntry `json:"timeline"`
		Reminders  []*store.Reminder      `json:"reminders"`
		Groups     []store.CustomerGroup  `json:"groups"`
	}
	if err := json.Unmarshal(body, &ex); err != nil {
		t.Fatal(err)
	}
	if ex.ExportedBy != "a1" || ex.Customer.Name != "陈十" || len(ex.Customer.Identities) != 3 ||
		len(ex.Customer.Follows) != 1 || ex.Customer.Follows[0].Remark != "陈总秘书" ||
		ex.Customer.Fields["手机"] != "13800138000" || ex.Customer.Insight == nil || ex.Customer.Insight.Summary != "陈十想买课" ||
		len(ex.Timeline) != 2 || len(ex.Reminders) != 1 || ex.Reminders[0].Text != "回访陈十" ||
		!slices.ContainsFunc(ex.Groups, func(g store.CustomerGroup) bool { return g.ChatID == "wr-group-1" }) {
		t.Fatalf("export is incomplete: %s", body)
	}

	for _, tok := range []string{sales, manager} {
		if status, _ := a.do(t, "DELETE", "/api/v1/customers/"+id, tok, nil); status != 403 {
			t.Fatalf("a non-admin erased: %d", status)
		}
	}
	if status, body := a.do(t, "DELETE", "/api/v1/customers/"+id, apiTok, nil); status != 204 {
		t.Fatalf("erase: %d %s", status, body)
	}
	for _, path := range []string{"/api/v1/customers/" + id, "/api/v1/customers/" + id + "/export", "/api/v1/customers/" + id + "/timeline"} {
		if status, _ := a.do(t, "GET", path, apiTok, nil); status != 404 {
			t.Errorf("GET %s after erase: %d, want 404", path, status)
		}
	}
	if status, _ := a.do(t, "DELETE", "/api/v1/customers/"+id, apiTok, nil); status != 404 {
		t.Errorf("second erase: %d, want 404", status)
	}

	// Scan every table: no personal value and no reference to the customer
	// survives, except the audit log's target. Both our own scan of the file
	// and the store's dump must agree.
	for _, hit := range scanTables(t, a.st.Path(), id, secrets) {
		t.Errorf("trace left: %s", hit)
	}
	dump, err := a.st.DumpAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump, "张三") {
		t.Fatal("the dump does not show the other customers: is it complete?")
	}
	for _, line := range strings.Split(dump, "\n") {
		for _, sec := range secrets {
			if strings.Contains(line, sec) {
				t.Errorf("dump: %q in %.80s", sec, line)
			}
		}
		if strings.Contains(line, id) && !strings.HasPrefix(line, "audit") {
			t.Errorf("dump: the customer's ID in %.120s", line)
		}
	}

	// Other customers are untouched.
	if c, err := a.st.FindCustomerByID(context.Background(), a.ids["c1"]); err != nil || c.Name != "张三" {
		t.Errorf("c1 after erase: %+v %v", c, err)
	}

	audit := a.audit(t, id, 50)
	got := map[string]string{}
	for _, e := range audit {
		if !e.At.Equal(apiNow) {
			t.Errorf("audit %s at %v, want %v", e.Action, e.At, apiNow)
		}
		got[e.Action] = e.Actor
	}
	if got[handlers.AuditExport] != "a1" || got[handlers.AuditErase] != "token:admin" {
		t.Errorf("audit log %v, want export by a1 and erase by the admin token", got)
	}
	status, body = a.do(t, "GET", "/api/v1/audit?target="+id, apiTok, nil)
	if status != 200 || !strings.Contains(string(body), `"erase"`) || !strings.Contains(string(body), `"export"`) {
		t.Errorf("GET /audit: %d %s", status, body)
	}
}

// scanTables reads every row of every table of the SQLite file and reports
// values that contain a secret or refer to customer id.
func scanTables(t *testing.T, path, id string, secrets []string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	numID, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatalf("customer id %q is not numeric on SQLite", id)
	}
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	var hits []string
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var s string
				switch v := v.(type) {
				case []byte:
					s = string(v)
				case string:
					s = v
				case int64:
					if strings.Contains(cols[i], "customer") && v == numID {
						hits = append(hits, fmt.Sprintf("%s.%s = %d", table, cols[i], v))
					}
					continue
				default:
					continue
				}
				for _, sec := range secrets {
					if strings.Contains(s, sec) {
						hits = append(hits, fmt.Sprintf("%s.%s contains %q", table, cols[i], sec))
					}
				}
				if strings.Contains(table, "audit") {
					continue // the audit log keeps the target ID by design
				}
				if s == id || strings.Contains(s, ":"+id) || strings.Contains(s, id+":") ||
					(strings.Contains(cols[i], "customer") && s == strconv.FormatInt(numID, 10)) {
					hits = append(hits, fmt.Sprintf("%s.%s = %q refers to the customer", table, cols[i], s))
				}
			}
		}
		rows.Close()
	}
	return hits
}
