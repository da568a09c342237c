package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// TestRemindersSameRecordThroughAPIAndBot: creating, postponing and
// completing a reminder through the REST API and through the bot's
// commands (提醒, 推迟, 完成) are the core's reminder actions: each leaves
// the same timeline entry and audit entry but for the door and the
// reminder's ID; who may act on a reminder is the same rule everywhere.
func TestRemindersSameRecordThroughAPIAndBot(t *testing.T) {
	a := newAPIEnv(t)
	ctx := context.Background()
	exp := apiNow.Add(time.Hour)
	a1, a2, mgrA, mgrB := mint(t, apiTok, "a1", exp), mint(t, apiTok, "a2", exp), mint(t, apiTok, "mgrA", exp), mint(t, apiTok, "mgrB", exp)
	c1, c4 := a.ids["c1"], a.ids["c4"] // a1 follows both; c4 is 赵六
	out := &sink{}
	cmds := bot.NewCommands(a.st, bot.StaffDirectory{Staff: a.st}, out, time.UTC)
	seq := int64(9200)
	command := func(t *testing.T, text string) string {
		t.Helper()
		seq++
		out.sent = nil
		ev := &store.Event{ID: seq, DedupKey: "msg:wecom:rem-" + strconv.FormatInt(seq, 10), Channel: store.ChannelWeCom, Kind: "text",
			FromID: "a1", StaffID: "a1", Text: text, OccurredAt: apiNow, ReceivedAt: apiNow}
		if err := cmds.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if len(out.sent) != 1 {
			t.Fatalf("%s: replies %q", text, out.sent)
		}
		return out.sent[0]
	}
	shape := func(e *store.TimelineEntry) string {
		attrs := maps.Clone(e.Attrs)
		delete(attrs, "source")
		delete(attrs, "reminder_id")
		return fmt.Sprintf("%s|%s|%s|%v", e.Kind, e.StaffID, e.Text, attrs)
	}
	idNoise := regexp.MustCompile(`reminder=[0-9]+ ?`)
	compare := func(t *testing.T, action string) {
		t.Helper()
		ae, aa := newest(t, a, c1, store.EntryReminder, action)
		be, ba := newest(t, a, c4, store.EntryReminder, action)
		if ae.Attrs["source"] != "api" || be.Attrs["source"] != "bot" || ae.Attrs["by"] != "a1" {
			t.Errorf("entries: api %v, bot %v", ae.Attrs, be.Attrs)
		}
		if shape(ae) != shape(be) {
			t.Errorf("timeline entries differ:\n api %s\n bot %s", shape(ae), shape(be))
		}
		aa.Detail, ba.Detail = idNoise.ReplaceAllString(aa.Detail, ""), idNoise.ReplaceAllString(ba.Detail, "")
		if !strings.Contains(aa.Detail, "source=api") || !strings.Contains(ba.Detail, "source=bot") || auditShape(aa) != auditShape(ba) {
			t.Errorf("audit entries differ:\n api %+v\n bot %+v", aa, ba)
		}
	}
	var apiRem, botRem store.Reminder

	due := time.Date(2024, 6, 2, 15, 0, 0, 0, time.UTC) // 明天下午三点
	t.Run("create", func(t *testing.T) {
		status, body := a.do(t, "POST", "/api/v1/customers/"+c1+"/reminders", a1, map[string]any{"text": "回访", "due_at": due})
		if status != 201 || json.Unmarshal(body, &apiRem) != nil || apiRem.StaffID != "a1" || !apiRem.DueAt.Equal(due) {
			t.Fatalf("api create: %d %s", status, body)
		}
		if reply := command(t, "提醒 赵六 明天下午三点 回访"); !strings.Contains(reply, "提醒你") {
			t.Fatalf("bot reply %q", reply)
		}
		rs, err := a.st.FindReminders(ctx, store.ReminderFilter{CustomerID: c4})
		if err != nil || len(rs) != 1 || !rs[0].DueAt.Equal(due) {
			t.Fatalf("bot reminder: %+v %v", rs, err)
		}
		botRem = *rs[0]
		compare(t, bot.AuditReminder)
	})
	t.Run("reach", func(t *testing.T) {
		path := fmt.Sprintf("/api/v1/reminders/%d/postpone", apiRem.ID)
		later := map[string]any{"until": due.Add(time.Hour)}
		for _, tok := range []string{a2, mgrB} { // another salesperson, another team's manager
			if status, body := a.do(t, "POST", path, tok, later); status != 404 {
				t.Errorf("a stranger postpones a1's reminder: %d %s, want 404", status, body)
			}
		}
		if status, body := a.do(t, "GET", "/api/v1/reminders", a2, nil); status != 200 || strings.Contains(string(body), "回访") {
			t.Errorf("a2 lists a1's reminders: %d %s", status, body)
		}
		var pg struct{ Items []store.Reminder }
		if status, body := a.do(t, "GET", "/api/v1/reminders?status=pending,sent", mgrA, nil); status != 200 || json.Unmarshal(body, &pg) != nil || len(pg.Items) != 2 {
			t.Errorf("a1's manager lists the team's reminders: %d %s, want both", status, body)
		}
		if status, body := a.do(t, "GET", "/api/v1/reminders?status=later", a1, nil); status != 400 {
			t.Errorf("unknown status: %d %s", status, body)
		}
	})
	until := time.Date(2024, 6, 3, 15, 0, 0, 0, time.UTC) // 后天, at the reminder's clock time
	t.Run("postpone", func(t *testing.T) {
		status, body := a.do(t, "POST", fmt.Sprintf("/api/v1/reminders/%d/postpone", apiRem.ID), a1, map[string]any{"until": until})
		if status != 200 || !strings.Contains(string(body), `"status":"pending"`) {
			t.Fatalf("api postpone: %d %s", status, body)
		}
		if reply := command(t, fmt.Sprintf("推迟 %d 后天", botRem.ID)); !strings.Contains(reply, "已推迟") {
			t.Fatalf("bot reply %q", reply)
		}
		if r, err := a.st.FindReminderByID(ctx, botRem.ID); err != nil || !r.DueAt.Equal(until) {
			t.Fatalf("bot postpone: %+v %v", r, err)
		}
		compare(t, bot.AuditReminderMove)
		if status, body := a.do(t, "POST", fmt.Sprintf("/api/v1/reminders/%d/postpone", apiRem.ID), a1, map[string]any{"until": apiNow.Add(-time.Hour)}); status != 400 {
			t.Errorf("postpone into the past: %d %s, want 400", status, body)
		}
	})
	t.Run("complete", func(t *testing.T) {
		status, body := a.do(t, "POST", fmt.Sprintf("/api/v1/reminders/%d/complete", apiRem.ID), a1, nil)
		if status != 200 || !strings.Contains(string(body), `"status":"done"`) {
			t.Fatalf("api complete: %d %s", status, body)
		}
		if reply := command(t, fmt.Sprintf("完成 %d", botRem.ID)); !strings.Contains(reply, "已完成") {
			t.Fatalf("bot reply %q", reply)
		}
		compare(t, bot.AuditReminderDone)
		if status, body := a.do(t, "POST", fmt.Sprintf("/api/v1/reminders/%d/postpone", apiRem.ID), mgrA, map[string]any{"until": until.Add(time.Hour)}); status != 409 {
			t.Errorf("postpone a done reminder: %d %s, want 409", status, body)
		}
		// a1's manager may act on the team's reminders.
		if status, body := a.do(t, "POST", fmt.Sprintf("/api/v1/reminders/%d/complete", apiRem.ID), mgrA, nil); status != 200 {
			t.Errorf("a1's manager completes it again: %d %s, want 200", status, body)
		}
	})
}
