package bot_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

func rmReminders(t *testing.T, e *rmEnv, f store.ReminderFilter) []*store.Reminder {
	t.Helper()
	f.Limit = 1000
	rs, err := e.st.FindReminders(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func rmAddContact(staff, ext string, at time.Time) wecomtest.Msg {
	return wecomtest.ContactEvent("add_external_contact", staff, ext, at, map[string]string{"State": "展会"})
}

func TestNewContactStartsTheCadenceOnce(t *testing.T) {
	cases := []struct {
		name  string
		added time.Time // in business time
		want  []time.Time
	}{
		{"added in working hours", time.Date(2026, 11, 24, 14, 30, 0, 0, rmLoc), []time.Time{
			time.Date(2026, 11, 24, 14, 30, 0, 0, rmLoc),
			time.Date(2026, 11, 27, 10, 0, 0, 0, rmLoc),
			time.Date(2026, 12, 1, 10, 0, 0, 0, rmLoc),
		}},
		{"added late at night", time.Date(2026, 11, 24, 22, 0, 0, 0, rmLoc), []time.Time{
			time.Date(2026, 11, 25, 9, 0, 0, 0, rmLoc),
			time.Date(2026, 11, 27, 10, 0, 0, 0, rmLoc),
			time.Date(2026, 12, 1, 10, 0, 0, 0, rmLoc),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newRmEnv(t, "lisi")
			e.clk.Set(tc.added)
			m := rmAddContact("lisi", "wmZ", tc.added)
			e.deliver(m)
			e.run()
			e.deliver(m) // redelivered by WeCom: stored once
			e.run()
			// The cadence is the built-in new-customer journey: its steps
			// run as the days pass.
			e.journeysUntil(tc.added.AddDate(0, 0, 8))
			// Reprocessed (a crash after the effects): no new reminders.
			evs, _ := e.st.FindEvents(context.Background(), store.EventFilter{})
			for _, ev := range evs {
				for _, p := range []bot.Processor{e.cadence, e.journeys} {
					if err := p.Process(context.Background(), ev); err != nil {
						t.Fatal(err)
					}
				}
			}
			e.journeysUntil(tc.added.AddDate(0, 0, 16))
			rs := rmReminders(t, e, store.ReminderFilter{StaffID: "lisi"})
			if len(rs) != 3 {
				t.Fatalf("%d reminders, want T+0, T+3, T+7", len(rs))
			}
			for i, r := range rs {
				if !r.DueAt.Equal(tc.want[i]) || r.Kind != store.ReminderCadence || r.CustomerID == "" {
					t.Errorf("step %d: %+v, want due %v", i, r, tc.want[i])
				}
			}
			if !strings.Contains(rs[0].Text, "欢迎致电") || !strings.Contains(rs[1].Text, "产品引导") || !strings.Contains(rs[2].Text, "购买意向") {
				t.Errorf("cadence texts %q %q %q", rs[0].Text, rs[1].Text, rs[2].Text)
			}
		})
	}
}

func TestReplayedOldContactsStartNoCadence(t *testing.T) {
	e := newRmEnv(t, "lisi")
	e.deliver(rmAddContact("lisi", "wmZ", t0.AddDate(0, -2, 0)))
	e.run()
	e.journeysUntil(t0.AddDate(0, 0, 8))
	if rs := rmReminders(t, e, store.ReminderFilter{}); len(rs) != 0 {
		t.Fatalf("%d reminders for a contact added two months ago", len(rs))
	}
}

func TestChurnAlertsOwnerAndManagers(t *testing.T) {
	cases := []struct {
		name, change, source string
		alerts               bool
	}{
		{"customer deleted the salesperson", "del_follow_user", "", true},
		{"salesperson deleted the customer", "del_external_contact", "", true},
		{"transfer to a colleague", "del_external_contact", "DELETE_BY_TRANSFER", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newRmEnv(t, "lisi", "wangwu", "boss", "other")
			ctx := context.Background()
			putStaff(t, e.st,
				&store.Staff{ID: "boss", Name: "赵主管", Role: "manager", Team: []string{"lisi", "wangwu"}, Active: true},
				&store.Staff{ID: "other", Name: "别组主管", Role: "manager", Team: []string{"wangwu"}, Active: true},
				&store.Staff{ID: "lisi", Name: "李四", Role: "sales", Active: true},
			)
			e.deliver(rmAddContact("lisi", "wmZ", t0))
			e.run()
			e.clk.Add(time.Hour)
			extra := map[string]string{}
			if tc.source != "" {
				extra["Source"] = tc.source
			}
			del := wecomtest.ContactEvent(tc.change, "lisi", "wmZ", e.clk.Now(), extra)
			e.deliver(del)
			e.run()
			churn := rmReminders(t, e, store.ReminderFilter{})
			churn = slices.DeleteFunc(churn, func(r *store.Reminder) bool { return r.Kind != store.ReminderChurn })
			if !tc.alerts {
				if len(churn) != 0 {
					t.Fatalf("%d churn alerts on a transfer", len(churn))
				}
				return
			}
			var to []string
			for _, r := range churn {
				to = append(to, r.StaffID)
			}
			slices.Sort(to)
			if !slices.Equal(to, []string{"boss", "lisi"}) {
				t.Fatalf("churn alerts to %v, want the owner and their manager", to)
			}
			open := rmReminders(t, e, store.ReminderFilter{StaffID: "lisi", Statuses: []string{store.ReminderPending}})
			for _, r := range open {
				if r.Kind == store.ReminderCadence {
					t.Errorf("cadence reminder %q still open after churn", r.Text)
				}
			}
			c, _ := e.st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZ"})
			if c.Stage != store.StageLost {
				t.Errorf("stage %q, want %s", c.Stage, store.StageLost)
			}
			rmPush(t, e.sched)
			boss := rmCards(e.sim.SentTo("boss"))
			if len(boss) != 1 || !strings.Contains(boss[0].Content, "李四") || !strings.Contains(boss[0].Content, "流失预警") {
				t.Fatalf("manager's alert: %+v", boss)
			}
			// The cadence was cancelled, so the alert is all the owner gets.
			if got := rmCards(e.sim.SentTo("lisi")); len(got) != 1 || !strings.Contains(got[0].Content, "流失预警") {
				t.Fatalf("owner got %+v, want the churn alert alone", got)
			}
			if n := len(e.sim.SentTo("other")); n != 0 {
				t.Fatalf("a manager of another team got %d messages", n)
			}
			// Redelivery of the delete event creates nothing new.
			e.deliver(del)
			e.run()
			if n := len(slices.DeleteFunc(rmReminders(t, e, store.ReminderFilter{}), func(r *store.Reminder) bool { return r.Kind != store.ReminderChurn })); n != 2 {
				t.Fatalf("%d churn alerts after a redelivery", n)
			}
		})
	}
}

func TestDailyScanFindsDormantRenewalAndKeyCustomers(t *testing.T) {
	e := newRmEnv(t, "lisi")
	ctx := context.Background()
	// The scan runs on Tuesday 2026-11-24 at 08:00, an hour before the digest.
	scan := time.Date(2026, 11, 24, 8, 0, 0, 0, rmLoc)
	e.clk.Set(scan)
	sleepy := e.customer("wm1", "老客户", "lisi", scan.AddDate(0, 0, -40))
	fresh := e.customer("wm2", "新客户", "lisi", scan.AddDate(0, 0, -3))
	renew := e.customer("wm3", "续约客户", "lisi", scan.AddDate(0, 0, -2))
	key := e.customer("wm4", "重点客户", "lisi", scan.AddDate(0, -4, 0))
	if _, err := e.st.UpdateCustomer(ctx, renew.ID, store.CustomerUpdate{Fields: map[string]string{"到期日": "2026-12-14"}, Now: scan}); err != nil {
		t.Fatal(err)
	}
	tier := "重点"
	if _, err := e.st.UpdateCustomer(ctx, key.ID, store.CustomerUpdate{Tier: &tier, Now: scan}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // both instances plan; the scan runs once
		if err := e.sched.Plan(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.scheduler("sched-b", e.st).Plan(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.sched.RunJobsOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	byCustomer := func(id string) []*store.Reminder {
		return rmReminders(t, e, store.ReminderFilter{CustomerID: id})
	}
	if rs := byCustomer(sleepy.ID); len(rs) != 1 || rs[0].Kind != store.ReminderDormant || !strings.Contains(rs[0].Text, "40 天") {
		t.Fatalf("dormant customer's reminders: %+v", rs)
	}
	if c, _ := e.st.FindCustomerByID(ctx, sleepy.ID); c.Stage != store.StageDormant {
		t.Fatalf("stage %q, want 沉睡", c.Stage)
	}
	if rs := byCustomer(fresh.ID); len(rs) != 0 {
		t.Fatalf("a customer touched 3 days ago got %+v", rs)
	}
	if rs := byCustomer(renew.ID); len(rs) != 1 || rs[0].Kind != store.ReminderRenewal || !strings.Contains(rs[0].Text, "2026-12-14") {
		t.Fatalf("renewal reminders: %+v", rs)
	}
	// The key customer is due its quarterly call some day in the quarter's
	// first two months; run the scan over the days until then.
	wantDue := time.Date(2026, 11, 24, 10, 0, 0, 0, rmLoc)
	for _, r := range byCustomer(sleepy.ID) {
		if !r.DueAt.Equal(wantDue) {
			t.Fatalf("scan reminder due %v, want %v (an hour after the digest)", r.DueAt, wantDue)
		}
	}
	// Next days: nothing repeats for the same dormancy or renewal date.
	for d := 1; d <= 70; d++ {
		e.clk.Set(scan.AddDate(0, 0, d))
		if err := e.sched.Plan(ctx); err != nil {
			t.Fatal(err)
		}
		drain(t, e.sched.RunJobsOnce)
		// The quarterly call is the built-in journey the scan starts.
		e.journeysUntil(scan.AddDate(0, 0, d).Add(6 * time.Hour))
	}
	if rs := byCustomer(sleepy.ID); len(rs) != 1 {
		t.Fatalf("%d dormant reminders after 70 more days, want 1 (once per dormancy)", len(rs))
	}
	// (Meanwhile it went quiet for 30 days too: that is a dormant reminder.)
	if rs := slices.DeleteFunc(byCustomer(renew.ID), func(r *store.Reminder) bool { return r.Kind != store.ReminderRenewal }); len(rs) != 1 {
		t.Fatalf("%d renewal reminders, want 1", len(rs))
	}
	keyRs := slices.DeleteFunc(byCustomer(key.ID), func(r *store.Reminder) bool { return r.Kind != store.ReminderCadence })
	// Oct–Dec is Q4 (its spread day may have passed before the scan began)
	// and Jan–Mar is Q1: at least the Q1 call comes within 70 days.
	if len(keyRs) < 1 || len(keyRs) > 2 {
		t.Fatalf("%d quarterly reminders for the key customer, want 1 or 2", len(keyRs))
	}
	for _, r := range keyRs {
		if !strings.Contains(r.Text, "季度回访") {
			t.Fatalf("key customer reminder %q", r.Text)
		}
	}
}

// TestChurnOfOneFollowerTellsTheOwner: a customer followed by two deletes
// the second salesperson: that salesperson, their manager and the owner who
// still follows are told; the customer is not lost.
func TestChurnOfOneFollowerTellsTheOwner(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu", "boss")
	ctx := context.Background()
	e.team()
	e.deliver(rmAddContact("lisi", "wmZ", t0))
	e.deliver(rmAddContact("wangwu", "wmZ", t0.Add(time.Minute)))
	e.run()
	e.clk.Add(time.Hour)
	e.deliver(wecomtest.ContactEvent("del_follow_user", "wangwu", "wmZ", e.clk.Now(), nil))
	e.run()
	texts := map[string]string{}
	for _, r := range rmReminders(t, e, store.ReminderFilter{}) {
		if r.Kind == store.ReminderChurn {
			texts[r.StaffID] = r.Text
		}
	}
	if len(texts) != 3 || !strings.Contains(texts["lisi"], "删除了同事 王五") || !strings.Contains(texts["wangwu"], "删除了你") ||
		!strings.Contains(texts["boss"], "王五") {
		t.Fatalf("churn alerts %v, want wangwu, boss and the owner lisi", texts)
	}
	c, _ := e.st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZ"})
	if c.Stage == store.StageLost {
		t.Errorf("stage %s while lisi still follows", c.Stage)
	}
}

func TestDormantCustomerWhoWritesAgainIsActive(t *testing.T) {
	e := newRmEnv(t, "lisi")
	ctx := context.Background()
	c, err := e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: "oSleepy"}, Name: "老王", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	dormant := store.StageDormant
	if _, err := e.st.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{Stage: &dormant, Now: t0}); err != nil {
		t.Fatal(err)
	}
	// The daily scan's reminder, not yet pushed, is moot once they write,
	// even one created after the message arrived and before it was processed.
	nudge := &store.Reminder{Key: "dormant:test", CustomerID: c.ID, StaffID: "lisi", Kind: store.ReminderDormant,
		Text: "已经 30 天没有互动", DueAt: t0.Add(time.Hour), Status: store.ReminderPending, CreatedAt: t0.Add(time.Minute)}
	if _, err := e.st.CreateReminder(ctx, nudge); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, e.st, oaText("oSleepy", "最近有新品吗？", "w1", t0))
	e.run()
	got, _ := e.st.FindCustomerByID(ctx, c.ID)
	if got.Stage != store.StageActive {
		t.Fatalf("stage %q after the customer wrote again, want %s", got.Stage, store.StageActive)
	}
	if r, err := e.st.FindReminderByID(ctx, nudge.ID); err != nil || r.Status != store.ReminderCancelled {
		t.Fatalf("dormant reminder after the customer wrote: %+v, %v; want cancelled", r, err)
	}
}
