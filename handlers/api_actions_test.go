package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

type sink struct{ sent []string }

func (s *sink) SendMarkdown(_ context.Context, _, content string) error {
	s.sent = append(s.sent, content)
	return nil
}

var detailNoise = regexp.MustCompile(`source=\S+ ?|key=\S+ ?|[0-9]{10}`)

// sameShape is what must be equal between two doors: the entry without its
// customer, IDs, key and source; the audit entry without its target, key
// and source.
func entryShape(e *store.TimelineEntry) string {
	attrs := maps.Clone(e.Attrs)
	delete(attrs, "source")
	return fmt.Sprintf("%s|%s|%s|%v", e.Kind, e.StaffID, e.Text, attrs)
}

func auditShape(e *store.AuditEntry) string {
	return fmt.Sprintf("%s|%s|%s", e.Actor, e.Action, strings.TrimSpace(detailNoise.ReplaceAllString(e.Detail, "")))
}

// newest returns the newest timeline entry of kind of customer id, and the
// newest audit entry of action about it.
func newest(t *testing.T, a *apiEnv, id, kind, action string) (*store.TimelineEntry, *store.AuditEntry) {
	t.Helper()
	ctx := context.Background()
	var entry *store.TimelineEntry
	es, _ := a.st.FindTimeline(ctx, id, 0, 100)
	for _, e := range es {
		if e.Kind == kind && e.Attrs["by"]+e.Attrs["author"] != "" {
			entry = e
			break
		}
	}
	var audit *store.AuditEntry
	as, _ := a.st.FindAudit(ctx, id, 0, 100)
	for _, e := range as {
		if e.Action == action {
			audit = e
			break
		}
	}
	if audit == nil || (kind != "" && entry == nil) {
		t.Fatalf("customer %s: no %s entry (%v) or %s audit (%v)", id, kind, entry, action, audit)
	}
	return entry, audit
}

// TestActionsSameRecordThroughEveryDoor: an action through the REST API and
// the same action through the bot (its command where it has one, the core
// with source bot otherwise) leave the same timeline entry and the same
// audit entry, but for the door's name.
func TestActionsSameRecordThroughEveryDoor(t *testing.T) {
	a := newAPIEnv(t)
	ctx := context.Background()
	core := bot.NewCore(a.st, func() time.Time { return apiNow })
	exp := apiNow.Add(time.Hour)
	a1 := mint(t, apiTok, "a1", exp)
	mgr := mint(t, apiTok, "mgrA", exp)
	asBot := func(id, role string, team ...string) bot.Actor {
		return bot.Actor{Viewer: bot.Viewer{StaffID: id, Role: role, Team: team}, Source: bot.SourceBot}
	}
	c1, c4 := a.ids["c1"], a.ids["c4"] // a1 follows both
	// Both start at the same stage, so the two stage changes are alike.
	active := store.StageActive
	if _, err := a.st.UpdateCustomer(ctx, c4, store.CustomerUpdate{Stage: &active, Now: apiNow}); err != nil {
		t.Fatal(err)
	}

	compare := func(t *testing.T, kind, action, apiID, botID string) {
		t.Helper()
		ae, aa := newest(t, a, apiID, kind, action)
		be, ba := newest(t, a, botID, kind, action)
		if kind != "" {
			if ae.Attrs["source"] != "api" || be.Attrs["source"] != "bot" {
				t.Errorf("sources %q %q", ae.Attrs["source"], be.Attrs["source"])
			}
			if entryShape(ae) != entryShape(be) {
				t.Errorf("timeline entries differ:\n api %s\n bot %s", entryShape(ae), entryShape(be))
			}
		}
		if !strings.Contains(aa.Detail, "source=api") || !strings.Contains(ba.Detail, "source=bot") {
			t.Errorf("audit sources: %q %q", aa.Detail, ba.Detail)
		}
		if auditShape(aa) != auditShape(ba) {
			t.Errorf("audit entries differ:\n api %s\n bot %s", auditShape(aa), auditShape(ba))
		}
	}

	t.Run("note", func(t *testing.T) {
		if status, body := a.do(t, "POST", "/api/v1/customers/"+c1+"/notes", a1, map[string]string{"text": "电话沟通，下周二回访"}); status != 201 {
			t.Fatalf("api note: %d %s", status, body)
		}
		// The bot's door: the command 记, processed from its stored event.
		out := &sink{}
		cmds := bot.NewCommands(a.st, bot.StaffDirectory{Staff: a.st}, out, time.UTC)
		ev := &store.Event{ID: 9001, DedupKey: "msg:wecom:note-1", Channel: store.ChannelWeCom, Kind: "text", FromID: "a1", StaffID: "a1",
			Text: "记 赵六 电话沟通，下周二回访", OccurredAt: apiNow, ReceivedAt: apiNow}
		if err := cmds.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if len(out.sent) != 1 || !strings.Contains(out.sent[0], "已记下") {
			t.Fatalf("bot reply %q", out.sent)
		}
		compare(t, store.EntryNote, bot.AuditNote, c1, c4)
		// The redelivered command stores its note once.
		if err := a.st.SetMarker(ctx, store.MarkBotReply, ev.DedupKey, "", apiNow); err != nil {
			t.Fatal(err)
		}
		if err := cmds.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
		es, _ := a.st.FindTimeline(ctx, c4, 0, 100)
		if n := len(slices.DeleteFunc(es, func(e *store.TimelineEntry) bool { return e.Kind != store.EntryNote })); n != 1 {
			t.Errorf("%d notes after a redelivered command, want 1", n)
		}
	})
	t.Run("stage", func(t *testing.T) {
		if status, body := a.do(t, "PATCH", "/api/v1/customers/"+c1, a1, map[string]string{"stage": store.StageWon}); status != 200 {
			t.Fatalf("api stage: %d %s", status, body)
		}
		if _, _, err := core.ChangeStage(ctx, asBot("a1", bot.RoleSales), bot.StageRequest{CustomerID: c4, Stage: store.StageWon}); err != nil {
			t.Fatal(err)
		}
		compare(t, store.EntryStage, bot.AuditStage, c1, c4)
	})
	t.Run("tags", func(t *testing.T) {
		// A salesperson may use only catalogue tags, through every door.
		if status, body := a.do(t, "PATCH", "/api/v1/customers/"+c1, a1, map[string]any{"add_tags": []string{"高意向"}}); status != 403 || !strings.Contains(string(body), "标签库中没有「高意向」") {
			t.Fatalf("api new tag by a salesperson: %d %s, want 403", status, body)
		}
		if _, err := core.EditTags(ctx, asBot("a1", bot.RoleSales), bot.TagsRequest{CustomerID: c4, Add: []string{"高意向"}}); !errors.Is(err, bot.ErrForbidden) {
			t.Fatalf("bot new tag by a salesperson: %v, want ErrForbidden", err)
		}
		if err := a.st.UpsertTags(ctx, []store.Tag{bot.LocalTag("高意向", "")}); err != nil {
			t.Fatal(err)
		}
		if status, body := a.do(t, "PATCH", "/api/v1/customers/"+c1, a1, map[string]any{"add_tags": []string{"高意向"}}); status != 200 {
			t.Fatalf("api tags: %d %s", status, body)
		}
		if _, err := core.EditTags(ctx, asBot("a1", bot.RoleSales), bot.TagsRequest{CustomerID: c4, Add: []string{"高意向"}}); err != nil {
			t.Fatal(err)
		}
		compare(t, store.EntryEvent, bot.AuditTags, c1, c4)
	})
	t.Run("fields", func(t *testing.T) {
		if status, body := a.do(t, "PATCH", "/api/v1/customers/"+c1, a1, map[string]any{"tier": "A", "fields": map[string]string{"行业": "教育"}}); status != 200 {
			t.Fatalf("api fields: %d %s", status, body)
		}
		tier := "A"
		if _, err := core.EditFields(ctx, asBot("a1", bot.RoleSales), bot.FieldsRequest{CustomerID: c4, Tier: &tier, Fields: map[string]string{"行业": "教育"}}); err != nil {
			t.Fatal(err)
		}
		compare(t, store.EntryEvent, bot.AuditFields, c1, c4)
	})
	t.Run("merge", func(t *testing.T) {
		// mgrA sees a1's and a2's customers: c8 into c2 through the API,
		// c4 into c1 through the core.
		if status, body := a.do(t, "POST", "/api/v1/customers/"+a.ids["c2"]+"/merge", mgr, map[string]string{"from": a.ids["c8"]}); status != 200 {
			t.Fatalf("api merge: %d %s", status, body)
		}
		if _, err := core.Merge(ctx, asBot("mgrA", bot.RoleManager, "a1", "a2"), c1, c4); err != nil {
			t.Fatal(err)
		}
		compare(t, "", bot.AuditMerge, a.ids["c2"], c1)
	})
	t.Run("erase", func(t *testing.T) {
		boss := mint(t, apiTok, "boss", exp)
		if status, body := a.do(t, "DELETE", "/api/v1/customers/"+a.ids["c3"], boss, nil); status != 204 {
			t.Fatalf("api erase: %d %s", status, body)
		}
		if err := core.Erase(ctx, asBot("boss", bot.RoleAdmin), a.ids["c5"]); err != nil {
			t.Fatal(err)
		}
		compare(t, "", bot.AuditErase, a.ids["c3"], a.ids["c5"])
	})
}
