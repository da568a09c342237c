package bot_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
		if got := m.RecipientIDs(); !slices.Equal(got, want[m.Creator]) {
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
	delivered := sim.GroupMsgDelivered()
	r := got.Report
	if r.Targeted != 3 || r.LeftOut[bot.LeftOptedOut] != 1 || r.Senders != 2 || r.SendersSent != 1 || r.Delivered != delivered || delivered != 2 {
		t.Fatalf("report %+v, simulator delivered %d", r, delivered)
	}
	entries, _ := st.FindTimeline(ctx, ids["wmB1"], 0, 20)
	if !slices.ContainsFunc(entries, func(e *store.TimelineEntry) bool { return e.Text == "收到群发「双十二专享」" }) {
		t.Error("no timeline entry for a delivered customer")
	}
}

// addGroup makes a customer group in the simulator and the store alike.
func (f *massFixture) addGroup(t *testing.T, name, owner string, customers ...string) string {
	t.Helper()
	var simMembers []wecomtest.GroupMember
	members := []store.GroupMember{{UserID: owner, Type: store.GroupMemberStaff, JoinedAt: f.clock.Now()}}
	for _, ext := range customers {
		simMembers = append(simMembers, wecomtest.GroupMember{UserID: ext, Type: 2})
		members = append(members, store.GroupMember{UserID: ext, Type: store.GroupMemberExternal, JoinedAt: f.clock.Now()})
	}
	chatID, _ := f.sim.AddGroupChat(wecomtest.GroupChat{Name: name, Owner: owner, Members: simMembers})
	if _, err := f.st.UpsertGroup(context.Background(), &store.Group{ChatID: chatID, Name: name, OwnerID: owner, CreatedAt: f.clock.Now(),
		Members: members, UpdatedAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	return chatID
}

// runLosingFirstAnswer runs a campaign's job with the answer of its first
// add_msg_template lost (the task made in WeCom, never recorded), then to
// the end, twice, on new cores, as restarted instances would.
func (f *massFixture) runLosingFirstAnswer(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	f.sim.DropAfterCall("externalcontact/add_msg_template", 1)
	job := &store.Job{Key: "campaign:" + id, Kind: bot.CampaignJobKind, Payload: id}
	if err := f.core().HandleCampaignJob(ctx, job); err == nil {
		t.Fatal("the lost answer went unnoticed")
	}
	for range 2 {
		if err := f.core().HandleCampaignJob(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGroupCampaign: a campaign to customer groups (target groups, groups
// whose name contains "VIP") plans per group owner — groups without
// customers and groups at the monthly cap left out and said so, a
// manager's preview only their team's groups — and creates one
// add_msg_template with chat_type group per owner, listing exactly their
// groups, exactly once even when an answer is lost; #客户昵称# reads 大家.
// After the owners send, the report counts groups, matching the
// simulator's per-group results.
func TestGroupCampaign(t *testing.T) {
	ctx := context.Background()
	f := newMassFixture(t)
	c := f.core()
	l1 := f.addGroup(t, "VIP 客户一群", "li", "wmL1", "wmL2")
	l2 := f.addGroup(t, "vip 二群", "li", "wmL1")
	z1 := f.addGroup(t, "VIP 三群", "zhang", "wmZ1")
	f.addGroup(t, "闲聊群", "zhang", "wmZ2")                     // not named VIP
	empty := f.addGroup(t, "VIP 内部群", "zhang")                // no customer in it
	full := f.addGroup(t, "VIP 满额群", "zhang", "wmZ1", "wmZ2") // four mass messages this month already
	gone := f.addGroup(t, "VIP 解散群", "zhang", "wmZ2")
	if _, err := f.st.DismissGroup(ctx, gone, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := f.st.PutCampaignSends(ctx, []store.CampaignSend{{CampaignID: fmt.Sprintf("old%d", i), CustomerID: full, ChatID: full,
			Sender: "zhang", Status: store.SendDelivered, At: f.clock.Now().Add(-time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	req := bot.CampaignRequest{Name: "群里的双十二", Target: bot.TargetGroups, Groups: &store.GroupTarget{Name: "VIP"},
		Text: "#客户昵称#好，双十二群内专享", Key: "g-1"}

	t.Run("refusals", func(t *testing.T) {
		for name, bad := range map[string]bot.CampaignRequest{
			"a customer filter":   {Name: "x", Target: bot.TargetGroups, Filter: &store.SegmentFilter{Tag: "VIP"}, Text: "x"},
			"per customer":        {Name: "x", Target: bot.TargetGroups, PerCustomer: true, Text: "#客户昵称#"},
			"groups to customers": {Name: "x", Groups: &store.GroupTarget{Name: "VIP"}, Text: "x"},
			"an unknown target":   {Name: "x", Target: "everyone", Text: "x"},
		} {
			if _, err := c.PreviewCampaign(ctx, massAdmin, bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
	})

	plan, err := c.PreviewCampaign(ctx, massAdmin, req)
	if err != nil {
		t.Fatal(err)
	}
	if plan.ChatType != store.ChatTypeGroup || plan.Targeted != 3 || plan.Senders["li"] != 2 || plan.Senders["zhang"] != 1 ||
		plan.LeftOut[bot.LeftNoCustomers] != 1 || plan.LeftOutID[bot.LeftNoCustomers][0] != empty ||
		plan.LeftOut[bot.LeftOverCap] != 1 || plan.LeftOutID[bot.LeftOverCap][0] != full || len(plan.LeftOut) != 2 {
		t.Fatalf("preview %+v", plan)
	}
	if len(plan.Groups["li"]) != 2 || plan.Groups["li"][0].Customers+plan.Groups["li"][1].Customers != 3 || plan.Groups["zhang"][0].Name != "VIP 三群" {
		t.Errorf("groups per owner %+v", plan.Groups)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "大家") || plan.PerCustomerOK {
		t.Errorf("warnings %q, per customer %v", plan.Warnings, plan.PerCustomerOK)
	}
	manager := bot.Actor{Viewer: bot.Viewer{StaffID: "boss", Role: bot.RoleManager, Team: []string{"li"}}, Source: bot.SourceAPI}
	if mp, err := c.PreviewCampaign(ctx, manager, req); err != nil || mp.Targeted != 2 || len(mp.Senders) != 1 || mp.Senders["li"] != 2 {
		t.Fatalf("a manager of li's team previews %+v, %v", mp, err)
	}

	cp, created, err := c.CreateCampaign(ctx, massAdmin, req)
	if err != nil || !created || !cp.ToGroups() {
		t.Fatalf("create: %+v %v %v", cp, created, err)
	}
	// li's task (first by sender) takes effect, its answer lost; the
	// retry finds it among li's group messages instead of making another.
	f.runLosingFirstAnswer(t, cp.ID)
	msgs := f.sim.GroupMsgs()
	if len(msgs) != 2 {
		t.Fatalf("%d group messages in WeCom, want one per owner", len(msgs))
	}
	want := map[string][]string{"li": sortedIDs(l1, l2), "zhang": {z1}}
	for _, m := range msgs {
		if m.ChatType != "group" || !slices.Equal(m.RecipientIDs(), want[m.Creator]) || m.Text != "大家好，双十二群内专享" {
			t.Errorf("%s's message: %s to %v %q, want group to %v", m.Creator, m.ChatType, m.RecipientIDs(), m.Text, want[m.Creator])
		}
	}

	if !f.sim.ConfirmGroupMsg(f.msgOf(t, "li").MsgID) {
		t.Fatal("li could not send it")
	}
	got, err := c.SyncCampaign(ctx, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	delivered := f.sim.GroupMsgDelivered()
	if r := got.Report; r.Targeted != 3 || r.Senders != 2 || r.SendersSent != 1 || r.Delivered != delivered || delivered != 2 ||
		r.LeftOut[bot.LeftOverCap] != 1 {
		t.Fatalf("report %+v, the simulator delivered to %d groups", r, delivered)
	}
	sends, _ := f.st.FindCampaignSends(ctx, cp.ID)
	for _, s := range sends {
		wantStatus := store.SendPending
		if s.Sender == "li" {
			wantStatus = store.SendDelivered
		}
		if s.ChatID == "" || s.CustomerID != s.ChatID || s.Status != wantStatus {
			t.Errorf("send %+v, want a group's, %s", s, wantStatus)
		}
	}
	// A group is not a customer: its customers' timelines are untouched.
	entries, _ := f.st.FindTimeline(ctx, f.ids["wmL1"], 0, 20)
	if slices.ContainsFunc(entries, func(e *store.TimelineEntry) bool { return e.Attrs["change"] == "campaign" }) {
		t.Error("a group's mass message was written on a customer's timeline")
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// TestCampaignPerCustomerName: WeCom carries one text per task, so a
// campaign whose text names the customer reads 您 — and the preview says
// so — unless it is small enough (at most bot.MaxPerCustomerTasks
// customers per sender) to go as one task per customer, each with the
// customer's own name. Such a campaign makes exactly one task per
// customer, once, even when an answer is lost; a larger one is refused.
func TestCampaignPerCustomerName(t *testing.T) {
	ctx := context.Background()
	f := newMassFixture(t)
	c := f.core()
	text := "#客户昵称#，您好：#员工姓名#为您留了专属名额"
	req := bot.CampaignRequest{Name: "专属名额", Filter: &store.SegmentFilter{Tag: "VIP"}, Text: text, Key: "p-1"}

	plan, err := c.PreviewCampaign(ctx, massAdmin, req)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.PerCustomerOK || len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "您") || !strings.Contains(plan.Warnings[0], "按客户分别发送") {
		t.Fatalf("preview of a small campaign: per customer %v, warnings %q", plan.PerCustomerOK, plan.Warnings)
	}
	plain := req
	plain.Text = "新品到了"
	if _, _, err := c.CreateCampaign(ctx, massAdmin, bot.CampaignRequest{Name: "x", Filter: plain.Filter, Text: plain.Text, PerCustomer: true}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("per customer without #客户昵称#: %v, want ErrInvalid", err)
	}

	req.PerCustomer = true
	cp, _, err := c.CreateCampaign(ctx, massAdmin, req)
	if err != nil || !cp.PerCustomer {
		t.Fatalf("create: %+v %v", cp, err)
	}
	f.runLosingFirstAnswer(t, cp.ID)
	msgs := f.sim.GroupMsgs()
	if len(msgs) != 4 {
		t.Fatalf("%d tasks in WeCom, want one per customer (4)", len(msgs))
	}
	for _, m := range msgs {
		if len(m.Recipients) != 1 {
			t.Fatalf("a per-customer task lists %d customers", len(m.Recipients))
		}
		ext := m.Recipients[0].ExternalUserID
		if want := ext + "，您好：" + m.Creator + "为您留了专属名额"; m.Text != want {
			t.Errorf("task to %s reads %q, want %q", ext, m.Text, want)
		}
	}
	for _, m := range msgs {
		f.sim.ConfirmGroupMsg(m.MsgID)
	}
	if got, err := c.SyncCampaign(ctx, cp.ID); err != nil || got.Report.Delivered != 4 || got.Report.Senders != 2 || got.Report.SendersSent != 2 {
		t.Fatalf("report %+v, %v", got.Report, err)
	}

	// Past the limit a sender would confirm too many: 您, and no choice.
	for i := range bot.MaxPerCustomerTasks {
		ext := fmt.Sprintf("wmL9%02d", i)
		f.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: ext, Follow: []wecomtest.Follow{{UserID: "li", CreateTime: f.clock.Now()}}})
		if _, err := f.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext},
			Name: ext, AddTags: []string{"VIP"}, Follow: &store.Follow{StaffID: "li", AddedAt: f.clock.Now()}, Now: f.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	big := bot.CampaignRequest{Name: "大批", Filter: &store.SegmentFilter{Tag: "VIP"}, Text: text, Key: "p-2"}
	if plan, err = c.PreviewCampaign(ctx, massAdmin, big); err != nil || plan.PerCustomerOK || len(plan.Warnings) != 1 ||
		!strings.Contains(plan.Warnings[0], "您") || strings.Contains(plan.Warnings[0], "可选") {
		t.Fatalf("preview of a large campaign: %+v, %v", plan, err)
	}
	big.PerCustomer = true
	if _, _, err := c.CreateCampaign(ctx, massAdmin, big); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("per customer with %d customers for li: %v, want ErrInvalid", bot.MaxPerCustomerTasks+2, err)
	}
	big.PerCustomer = false
	cp2, _, err := c.CreateCampaign(ctx, massAdmin, big)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.HandleCampaignJob(ctx, &store.Job{Key: "campaign:" + cp2.ID, Kind: bot.CampaignJobKind, Payload: cp2.ID}); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.sim.GroupMsgs()[4:] {
		if m.Creator == "li" && (len(m.Recipients) != bot.MaxPerCustomerTasks+2 || !strings.HasPrefix(m.Text, "您，您好")) {
			t.Errorf("li's shared task: %d customers, %q", len(m.Recipients), m.Text)
		}
	}
}

// TestCampaignOptOutsAfter: the report counts the customers who opted out
// within 7 days after the campaign reached them — asked by a salesperson's
// hand or detected in what the customer wrote — and not one who opted out
// later; the count goes on after the results sync ends (everyone sent
// it), from the store alone, and stops when the last window closes.
func TestCampaignOptOutsAfter(t *testing.T) {
	ctx := context.Background()
	f := newMassFixture(t)
	c := f.core()
	cp := f.vipCampaign(t, c, "春季", "春季上新", "o-1")
	f.run(t, c, bot.CampaignJobKind, "a")
	f.clock.Advance(time.Hour)
	for _, m := range f.sim.GroupMsgs() {
		f.sim.ConfirmGroupMsg(m.MsgID)
	}
	f.clock.Advance(time.Hour)
	if n := f.run(t, c, bot.CampaignSyncJobKind, "a"); n != 1 {
		t.Fatalf("%d sync jobs ran", n)
	}
	optOut := func(ext string) {
		t.Helper()
		yes := true
		if _, err := c.EditCustomer(ctx, massAdmin, bot.CustomerEdit{CustomerID: f.ids[ext], OptOut: &yes}); err != nil {
			t.Fatal(err)
		}
	}
	detector := bot.NewOptOutDetector(f.st, c)
	said := func(ext, text string) {
		t.Helper()
		ev := &store.Event{DedupKey: "ev-" + ext, Channel: store.ChannelWeCom, Kind: wecom.KindText, FromID: ext, CustomerID: ext, Text: text,
			OccurredAt: f.clock.Now(), ReceivedAt: f.clock.Now(), Attempts: 1}
		if err := detector.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(2 * 24 * time.Hour)
	optOut("wmL1") // by a salesperson, two days after
	f.clock.Advance(3 * 24 * time.Hour)
	said("wmZ2", "以后别再给我发这些了") // the customer, five days after
	no := false
	if _, err := c.EditCustomer(ctx, massAdmin, bot.CustomerEdit{CustomerID: f.ids["wmZ2"], OptOut: &no}); err != nil {
		t.Fatal(err) // and back: they still opted out after it
	}
	runs := 0
	for range 4 * 4 { // four days, the opt-out job every 6 hours
		f.clock.Advance(6 * time.Hour)
		runs += f.run(t, c, bot.CampaignOptOutJobKind, "a")
		if f.clock.Now().Sub(cp.SendAt) > 8*24*time.Hour {
			optOut("wmZ1") // eight days after: outside the window
		}
	}
	got, err := c.Campaign(ctx, massAdmin, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Report; r.OptOutsAfter != 2 || r.OptOutsUntil == nil || r.Delivered != 4 {
		t.Fatalf("report %+v, want 2 opt-outs after", r)
	}
	if runs < 4 || runs > 12 {
		t.Errorf("the opt-out job ran %d times in 4 days", runs)
	}
	f.clock.Advance(7 * 24 * time.Hour)
	if n := f.run(t, c, bot.CampaignOptOutJobKind, "a"); n != 0 {
		t.Errorf("the opt-out job went on after the window closed (%d ran)", n)
	}
}
