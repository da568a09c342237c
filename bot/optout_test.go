package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// A customer's message asking to stop (a phrasing not in the rules) sets
// 不打扰 with a timeline entry quoting why; the same event again writes
// nothing more; a harmless message sets nothing; clearing it through the
// core's edit is audited.
func TestOptOutDetectedFromCustomerMessage(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	core := bot.NewCore(st, clock)
	procs := []bot.Processor{bot.NewCustomers(st, nil), bot.NewOptOutDetector(st, core)}
	run := func(key, text string) {
		t.Helper()
		ev := &store.Event{DedupKey: key, Channel: store.ChannelOA, Kind: "text", FromID: "o1", CustomerID: "o1", Text: text,
			OccurredAt: now, ReceivedAt: now, Attempts: 1}
		for _, p := range procs {
			if err := p.Process(ctx, ev); err != nil {
				t.Fatalf("%s: %v", p.Name(), err)
			}
		}
	}
	run("e1", "发货了吗？")
	cu, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: "o1"})
	if err != nil {
		t.Fatal(err)
	}
	if bot.OptedOut(cu) {
		t.Fatal("a question about delivery opted the customer out")
	}
	run("e2", "以后这些活动别再推给我了！")
	run("e2", "以后这些活动别再推给我了！") // redelivered
	cu, _ = st.FindCustomerByID(ctx, cu.ID)
	if !bot.OptedOut(cu) {
		t.Fatalf("not opted out: fields %v", cu.Fields)
	}
	entries, _ := st.FindTimeline(ctx, cu.ID, 0, 50)
	n := 0
	for _, e := range entries {
		if e.Attrs["change"] == "opt_out" {
			n++
			if !strings.Contains(e.Text, "不打扰") || !strings.Contains(e.Text, "推给我") {
				t.Errorf("entry text %q does not say why", e.Text)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d opt-out entries, want 1", n)
	}
	off := false
	admin := bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}
	if cu, err = core.EditCustomer(ctx, admin, bot.CustomerEdit{CustomerID: cu.ID, OptOut: &off, Key: "k1"}); err != nil || bot.OptedOut(cu) {
		t.Fatalf("clear: %v %v", err, cu.Fields)
	}
	if _, err := core.EditCustomer(ctx, admin, bot.CustomerEdit{CustomerID: cu.ID, Fields: map[string]string{"opt_out": "true"}}); err == nil {
		t.Fatal("opt_out set as a plain field")
	}
	audit, _ := st.FindAudit(ctx, cu.ID, 0, 50)
	if got := countWhere(audit, func(a *store.AuditEntry) bool { return a.Action == bot.AuditOptOut }); got != 2 {
		t.Fatalf("%d opt_out audit entries, want 2", got)
	}
}
