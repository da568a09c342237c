package bot_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// massFixture is two salespeople with two customers each, in SQLite and
// the simulator, on one injected clock.
type massFixture struct {
	st    *sqlite.DB
	sim   *wecomtest.Simulator
	api   *wecom.APIClient
	clock *wecomtest.FakeClock
	opts  bot.CampaignOptions
	ids   map[string]string // external_userid → customer ID
}

func newMassFixture(t *testing.T) *massFixture {
	t.Helper()
	ctx := context.Background()
	clock := wecomtest.NewFakeClock(time.Date(2025, 3, 3, 2, 0, 0, 0, time.UTC))
	f := &massFixture{st: openStore(t), clock: clock, ids: map[string]string{},
		sim:  wecomtest.NewSimulator(wecomtest.SimConfig{Now: clock.Now}),
		opts: bot.CampaignOptions{MonthlyCap: 4, NudgeAfter: 4 * time.Hour}}
	t.Cleanup(func() { f.sim.Close() })
	var err error
	if f.api, err = wecom.NewAPIClient(f.sim.APIConfig(), nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"li", "zhang"} {
		f.sim.AddStaff(wecomtest.Staff{UserID: s, Name: s})
	}
	for ext, owner := range map[string]string{"wmL1": "li", "wmL2": "li", "wmZ1": "zhang", "wmZ2": "zhang"} {
		f.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: ext, Follow: []wecomtest.Follow{{UserID: owner, CreateTime: clock.Now()}}})
		cu, err := f.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext},
			Name: ext, AddTags: []string{"VIP"}, Follow: &store.Follow{StaffID: owner, AddedAt: clock.Now()}, Now: clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		f.ids[ext] = cu.ID
	}
	return f
}

// core is one instance's core on the fixture's clock.
func (f *massFixture) core() *bot.Core {
	c := bot.NewCore(f.st, f.clock.Now)
	c.SetCampaigns(f.api, f.opts)
	return c
}

// run runs the due jobs of kind as an instance named owner.
func (f *massFixture) run(t *testing.T, c *bot.Core, kind, owner string) int {
	t.Helper()
	h := map[string]bot.JobHandler{bot.CampaignJobKind: c.HandleCampaignJob, bot.CampaignSyncJobKind: c.HandleCampaignSyncJob,
		bot.CampaignOptOutJobKind: c.HandleCampaignOptOutJob}[kind]
	n, err := bot.NewJobRunner(f.st, kind, h, bot.RunnerOptions{Owner: owner, Lease: 2 * time.Minute, Now: f.clock.Now}).RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *massFixture) msgOf(t *testing.T, sender string) wecomtest.SimGroupMsg {
	t.Helper()
	for _, m := range f.sim.GroupMsgs() {
		if m.Creator == sender {
			return m
		}
	}
	t.Fatalf("no mass message of %s", sender)
	return wecomtest.SimGroupMsg{}
}

// vipCampaign creates through c a campaign to the fixture's VIP customers
// (all four).
func (f *massFixture) vipCampaign(t *testing.T, c *bot.Core, name, text, key string) *store.Campaign {
	t.Helper()
	cp, _, err := c.CreateCampaign(context.Background(), massAdmin, bot.CampaignRequest{Name: name, Filter: &store.SegmentFilter{Tag: "VIP"}, Text: text, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

var massAdmin = bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}

// TestCampaignSyncAndNudges: once a campaign's tasks exist, the leased sync
// job pulls the results every 30 minutes (timeline entries, report) and
// nudges the salesperson who has not sent it with remind_groupmsg_send
// after 4, 8 and 12 hours — exactly 3 reminders, WeCom's limit per 24 h,
// even with two instances running the job every round — never the one who
// sent it; when everyone has sent it, the job ends.
func TestCampaignSyncAndNudges(t *testing.T) {
	ctx := context.Background()
	f := newMassFixture(t)
	a, b := f.core(), f.core() // two instances
	cp := f.vipCampaign(t, a, "春季上新", "新品到了", "k")
	if n := f.run(t, a, bot.CampaignJobKind, "a"); n != 1 {
		t.Fatalf("%d campaign jobs ran", n)
	}
	start := f.clock.Now()
	f.clock.Advance(time.Hour)
	if !f.sim.ConfirmGroupMsg(f.msgOf(t, "li").MsgID) {
		t.Fatal("li could not confirm")
	}
	nudges := map[string][]time.Duration{}
	for range 4 * 48 { // two days in 15-minute rounds
		f.clock.Advance(15 * time.Minute)
		f.run(t, a, bot.CampaignSyncJobKind, "a")
		f.run(t, b, bot.CampaignSyncJobKind, "b")
		// And an instance whose lease view lags runs the handler itself:
		// the markers still hold each reminder to once.
		if err := b.HandleCampaignSyncJob(ctx, &store.Job{Key: "campaign-sync:" + cp.ID, Kind: bot.CampaignSyncJobKind, Payload: cp.ID}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range f.sim.GroupMsgs() {
		for _, r := range m.Reminders {
			nudges[m.Creator] = append(nudges[m.Creator], r.Sub(start).Truncate(15*time.Minute))
		}
	}
	if want := []time.Duration{4 * time.Hour, 8 * time.Hour, 12 * time.Hour}; !slices.Equal(nudges["zhang"], want) || len(nudges["li"]) != 0 {
		t.Fatalf("reminders %v, want zhang %v and none for li", nudges, want)
	}
	got, err := a.Campaign(ctx, massAdmin, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Report; r.SyncedAt == nil || r.Senders != 2 || r.SendersSent != 1 || r.Delivered != 2 {
		t.Fatalf("report %+v", r)
	}
	entries, _ := f.st.FindTimeline(ctx, f.ids["wmL1"], 0, 20)
	if !slices.ContainsFunc(entries, func(e *store.TimelineEntry) bool { return e.Text == "收到群发「春季上新」" }) {
		t.Error("the periodic sync left no timeline entry")
	}

	// zhang sends it at last: the next round records it and the job ends.
	f.sim.ConfirmGroupMsg(f.msgOf(t, "zhang").MsgID)
	f.clock.Advance(time.Hour)
	if n := f.run(t, a, bot.CampaignSyncJobKind, "a"); n != 1 {
		t.Fatalf("%d sync jobs ran", n)
	}
	f.clock.Advance(24 * time.Hour)
	if n := f.run(t, a, bot.CampaignSyncJobKind, "a"); n != 0 {
		t.Fatalf("the sync job went on after every sender sent it (%d ran)", n)
	}
	if got, _ = a.Campaign(ctx, massAdmin, cp.ID); got.Report.SendersSent != 2 || got.Report.Delivered != 4 {
		t.Fatalf("final report %+v", got.Report)
	}
}

// TestCampaignNudgeRespectsWeComLimit: an admin already reminded the
// sender three times in WeCom; scrm's reminders that fall in the same 24 h
// are refused with 45009, recorded once, and not retried.
func TestCampaignNudgeRespectsWeComLimit(t *testing.T) {
	ctx := context.Background()
	f := newMassFixture(t)
	c := f.core()
	f.vipCampaign(t, c, "x", "x", "k")
	f.run(t, c, bot.CampaignJobKind, "a")
	start := f.clock.Now()
	f.clock.Advance(3 * time.Hour)
	for _, m := range f.sim.GroupMsgs() {
		for range 3 {
			if err := f.api.RemindGroupMsg(ctx, m.MsgID); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.api.RemindGroupMsg(ctx, m.MsgID); wecom.APIErrorCode(err) != 45009 {
			t.Fatalf("a fourth reminder in 24 h: %v, want 45009", err)
		}
	}
	for range 4 * 30 {
		f.clock.Advance(15 * time.Minute)
		f.run(t, c, bot.CampaignSyncJobKind, "a")
	}
	for _, m := range f.sim.GroupMsgs() {
		var after []time.Duration
		for _, r := range m.Reminders {
			after = append(after, r.Sub(start))
		}
		// The admin's three at 3 h; scrm's at 4, 8 and 12 h were refused
		// (within 24 h of them).
		if len(m.Reminders) != 3 {
			t.Errorf("%s reminded at %v", m.Creator, after)
		}
	}
}

// TestCampaignCancelWithdrawsTasks: cancelling a campaign whose tasks
// exist in WeCom withdraws them (cancel_groupmsg_send): a sender can no
// longer send it, customers who did not receive it no longer count against
// the caps, and those who did stay delivered. A task whose creation lost
// its answer is found and withdrawn too, and the rest are never created.
func TestCampaignCancelWithdrawsTasks(t *testing.T) {
	ctx := context.Background()

	t.Run("after creation", func(t *testing.T) {
		f := newMassFixture(t)
		c := f.core()
		cp := f.vipCampaign(t, c, "春季", "x", "k")
		f.run(t, c, bot.CampaignJobKind, "a")
		f.sim.ConfirmGroupMsg(f.msgOf(t, "zhang").MsgID)
		got, err := c.CancelCampaign(ctx, massAdmin, cp.ID)
		if err != nil || got.Status != store.CampaignCancelled {
			t.Fatalf("cancel: %v %+v", err, got)
		}
		li := f.msgOf(t, "li")
		if !li.Cancelled || f.sim.ConfirmGroupMsg(li.MsgID) {
			t.Fatal("li can still send a cancelled campaign")
		}
		sends, _ := f.st.FindCampaignSends(ctx, cp.ID)
		for _, s := range sends {
			want := store.SendCancelled
			if s.Sender == "zhang" {
				want = store.SendDelivered
			}
			if s.Status != want {
				t.Errorf("send of %s by %s: %s, want %s", s.ExternalUserID, s.Sender, s.Status, want)
			}
		}
		d, _ := c.Campaign(ctx, massAdmin, cp.ID)
		for _, tk := range d.Tasks {
			if tk.State != store.TaskCancelled {
				t.Errorf("task of %s: %s", tk.Sender, tk.State)
			}
		}
		counts, _ := f.st.CountCampaignSends(ctx, f.clock.Now().Add(-time.Hour), f.clock.Now().Add(time.Hour))
		if counts[f.ids["wmL1"]] != 0 || counts[f.ids["wmZ1"]] != 1 {
			t.Errorf("cap counts %v", counts)
		}
		if _, err := c.CancelCampaign(ctx, massAdmin, cp.ID); err != nil {
			t.Fatalf("second cancel: %v", err)
		}
	})

	t.Run("during creation", func(t *testing.T) {
		f := newMassFixture(t)
		c := f.core()
		cp := f.vipCampaign(t, c, "春季", "x", "k")
		// li's task (first by sender) is created in WeCom, its answer lost.
		f.sim.DropAfterCall("externalcontact/add_msg_template", 1)
		if err := c.HandleCampaignJob(ctx, &store.Job{Key: "campaign:" + cp.ID, Kind: bot.CampaignJobKind, Payload: cp.ID}); err == nil {
			t.Fatal("the lost answer went unnoticed")
		}
		if _, err := c.CancelCampaign(ctx, massAdmin, cp.ID); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour)
		f.run(t, c, bot.CampaignJobKind, "a")
		msgs := f.sim.GroupMsgs()
		if len(msgs) != 1 || msgs[0].Creator != "li" || !msgs[0].Cancelled {
			t.Fatalf("WeCom holds %+v, want li's task only, cancelled", msgs)
		}
		d, _ := c.Campaign(ctx, massAdmin, cp.ID)
		if d.Status != store.CampaignCancelled {
			t.Errorf("status %s", d.Status)
		}
		for _, tk := range d.Tasks {
			if tk.State != store.TaskCancelled {
				t.Errorf("task of %s: %s", tk.Sender, tk.State)
			}
		}
	})
}
