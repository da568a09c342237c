package bot_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// The acceptance case of issue 16 on the real simulator, client and
// SQLite: customers of two salespeople, some tagged, one tagged customer
// opted out; a campaign on the tag creates exactly one add_msg_template per
// salesperson listing exactly their tagged customers minus the opted-out
// one; the same key creates nothing new; a lost answer of add_msg_template
// (the task exists in WeCom, scrm never recorded it) creates no second
// task; the report's counts match the simulator's records after the
// senders confirm.
func TestCampaignOneTaskPerSenderExactlyOnce(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	api, err := wecom.NewAPIClient(sim.APIConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, s := range []string{"zhang", "li"} {
		sim.AddStaff(wecomtest.Staff{UserID: s, Name: s})
	}
	type cust struct {
		ext, owner string
		vip, out   bool
	}
	custs := []cust{{"wmA1", "zhang", true, false}, {"wmA2", "zhang", true, true}, {"wmA3", "zhang", false, false},
		{"wmB1", "li", true, false}, {"wmB2", "li", true, false}, {"wmB3", "li", false, false}}
	ids := map[string]string{}
	core := bot.NewCore(st, nil)
	core.SetCampaigns(api, bot.CampaignOptions{MonthlyCap: 4})
	admin := bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}
	for _, c := range custs {
		sim.AddExternalContact(wecomtest.Contact{ExternalUserID: c.ext, Name: c.ext, Follow: []wecomtest.Follow{{UserID: c.owner, CreateTime: now}}})
		u := store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: c.ext}, Name: c.ext,
			Follow: &store.Follow{StaffID: c.owner, AddedAt: now}, Now: now}
		if c.vip {
			u.AddTags = []string{"VIP"}
		}
		cu, err := st.UpsertCustomer(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		ids[c.ext] = cu.ID
		if c.out {
			yes := true
			if _, err := core.EditCustomer(ctx, admin, bot.CustomerEdit{CustomerID: cu.ID, OptOut: &yes}); err != nil {
				t.Fatal(err)
			}
		}
	}
	req := bot.CampaignRequest{Name: "双十二专享", Filter: &store.SegmentFilter{Tag: "VIP"}, Text: "#客户昵称#好，双十二专享价", Key: "k-1"}

	plan, err := core.PreviewCampaign(ctx, admin, req)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Targeted != 3 || plan.Senders["zhang"] != 1 || plan.Senders["li"] != 2 || plan.LeftOut[bot.LeftOptedOut] != 1 {
		t.Fatalf("preview %+v", plan)
	}
	cp, created, err := core.CreateCampaign(ctx, admin, req)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	again, created, err := core.CreateCampaign(ctx, admin, req)
	if err != nil || created || again.ID != cp.ID {
		t.Fatalf("same key: created=%v id=%s err=%v", created, again.ID, err)
	}

	// The first add_msg_template takes effect but its answer is lost.
	sim.DropAfterCall("externalcontact/add_msg_template", 1)
	job := &store.Job{Key: "campaign:" + cp.ID, Kind: bot.CampaignJobKind, Payload: cp.ID}
	if err := core.HandleCampaignJob(ctx, job); err == nil {
		t.Fatal("a lost answer went unnoticed")
	}
	// The retry (another instance, after a restart) finishes the job.
	if err := bot.NewCore(st, nil).HandleCampaignJob(ctx, job); err == nil {
		t.Fatal("a core without the API ran the job")
	}
	retry := bot.NewCore(st, nil)
	retry.SetCampaigns(api, bot.CampaignOptions{MonthlyCap: 4})
	for range 2 { // and once more: nothing is created twice
		if err := retry.HandleCampaignJob(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	msgs := sim.GroupMsgs()
	if len(msgs) != 2 {
		t.Fatalf("%d tasks in WeCom, want 2 (one per salesperson)", len(msgs))
	}
	want := map[string][]string{"zhang": {"wmA1"}, "li": {"wmB1", "wmB2"}}
	for _, m := range msgs {
		var got []string
		for _, r := range m.Recipients {
			got = append(got, r.ExternalUserID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want[m.Creator]) {
			t.Errorf("task of %s lists %v, want %v", m.Creator, got, want[m.Creator])
		}
		if m.Text != "您好，双十二专享价" {
			t.Errorf("text %q", m.Text)
		}
	}
	d, err := core.Campaign(ctx, admin, cp.ID)
	if err != nil || d.Status != store.CampaignSent || len(d.Tasks) != 2 {
		t.Fatalf("campaign %+v %v", d, err)
	}
	for _, tk := range d.Tasks {
		if tk.State != store.TaskCreated || tk.MsgID == "" {
			t.Errorf("task %+v not recorded", tk)
		}
	}

	// li confirms, zhang does not yet; the report follows WeCom.
	for _, m := range msgs {
		if m.Creator == "li" && !sim.ConfirmGroupMsg(m.MsgID) {
			t.Fatal("confirm failed")
		}
	}
	got, err := core.SyncCampaign(ctx, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, m := range sim.GroupMsgs() {
		for _, r := range m.Recipients {
			if r.Status == 1 {
				delivered++
			}
		}
	}
	r := got.Report
	if r.Targeted != 3 || r.LeftOut[bot.LeftOptedOut] != 1 || r.Senders != 2 || r.SendersSent != 1 || r.Delivered != delivered || delivered != 2 {
		t.Fatalf("report %+v, simulator delivered %d", r, delivered)
	}
	entries, _ := st.FindTimeline(ctx, ids["wmB1"], 0, 20)
	if !slices.ContainsFunc(entries, func(e *store.TimelineEntry) bool { return e.Text == "收到群发「双十二专享」" }) {
		t.Error("no timeline entry for a delivered customer")
	}
}
