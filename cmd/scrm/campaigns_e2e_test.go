package main

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestMassMessageCapsAndOptOutEndToEnd is the campaigns' acceptance path
// through real callbacks, the chat archive and the simulator:
//   - customers who ask in their chat to stop (phrasings that appear nowhere
//     in the rules) are opted out and left out of every campaign, while a
//     look-alike sentence opts nobody out;
//   - the company's cap (2 a month) leaves out whoever received 2 through
//     scrm; WeCom's own cap (set to 2 in the simulator, as an admin may)
//     refuses the customer whose salesperson already sent them one outside
//     scrm, and that refusal does not count against the company's cap;
//   - each campaign's report, after a sync, equals the simulator's record
//     of who received it.
func TestMassMessageCapsAndOptOutEndToEnd(t *testing.T) {
	ctx := context.Background()
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	sim.SetGroupMsgMonthlyCap(2)
	owners := map[string]string{"wmL1": "lisi", "wmL2": "lisi", "wmL3": "lisi", "wmL4": "lisi", "wmZ1": "zhaoliu", "wmZ2": "zhaoliu", "wmZ3": "zhaoliu"}
	sim.AddStaff(wecomtest.Staff{UserID: "lisi", Name: "李四"})
	sim.AddStaff(wecomtest.Staff{UserID: "zhaoliu", Name: "赵六"})
	added := time.Now().Add(-30 * 24 * time.Hour)
	for ext, owner := range owners {
		sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: "客户" + ext, Follow: []wecomtest.Follow{{UserID: owner, CreateTime: added}}})
	}
	archive := wecomtest.NewChatArchive()
	a := startSimApp(t, sim, extensions{archive: archive, archivePoll: 50 * time.Millisecond}, func(cfg *config.Config) {
		cfg.APIToken = "e2e-api-token"
		cfg.CampaignMonthlyCap = 2
	})
	ids := map[string]string{} // external_userid → customer ID
	for ext, owner := range owners {
		a.sendWeCom(t, wecomtest.ContactEvent("add_external_contact", owner, ext, added, nil))
	}
	waitFor(t, "the customers", func() bool {
		for ext := range owners {
			cu, err := a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: ext})
			if err != nil {
				return false
			}
			ids[ext] = cu.ID
		}
		return true
	})
	for ext := range owners {
		if ext == "wmZ3" { // never tagged, never targeted
			continue
		}
		var out map[string]any
		if code := a.apiCall(t, "PATCH", "/api/v1/customers/"+ids[ext], map[string]any{"add_tags": []string{"年终活动"}}, &out); code != 200 {
			t.Fatalf("tag %s: %d %v", ext, code, out)
		}
	}

	// Two refusals and a look-alike, written in the chats.
	now := time.Now()
	archive.Add("wmL2", "lisi", "你们这种优惠信息以后就别再推我了，谢谢", now)
	archive.Add("wmZ1", "zhaoliu", "麻烦把我移出名单，不要再群发给我", now)
	archive.Add("wmL3", "lisi", "别发快递了，我明天自己去店里取", now)
	optedOut := func(ext string) bool {
		cu, err := a.store.FindCustomerByID(ctx, ids[ext])
		return err == nil && bot.OptedOut(cu)
	}
	waitFor(t, "the refusals", func() bool { return optedOut("wmL2") && optedOut("wmZ1") })
	waitFor(t, "the look-alike to be read", func() bool {
		tl, err := a.store.FindTimeline(ctx, ids["wmL3"], 0, 20)
		return err == nil && slices.ContainsFunc(tl, func(e *store.TimelineEntry) bool { return e.Text == "别发快递了，我明天自己去店里取" })
	})
	if optedOut("wmL3") {
		t.Fatal("a customer asking not to ship was opted out")
	}

	// 李四 already sent wmL1 one mass message this month, outside scrm.
	api, err := wecom.NewAPIClient(sim.APIConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	outside, _, err := api.AddMsgTemplate(ctx, wecom.MsgTemplate{ChatType: "single", Sender: "lisi", ExternalUserID: []string{"wmL1"}, Text: &wecom.WelcomeText{Content: "李四自己发的"}})
	if err != nil || !sim.ConfirmGroupMsg(outside) {
		t.Fatalf("the outside message: %v", err)
	}

	type want struct {
		recipients map[string][]string // sender → external_userids, sorted
		leftOut    map[string]int
		delivered  int
		limited    int
	}
	targets := map[string][]string{"lisi": {"wmL1", "wmL3", "wmL4"}, "zhaoliu": {"wmZ2"}}
	rounds := []want{
		{recipients: targets, leftOut: map[string]int{bot.LeftOptedOut: 2}, delivered: 4},
		// wmL1 is at WeCom's 2 (the outside message and round 1).
		{recipients: targets, leftOut: map[string]int{bot.LeftOptedOut: 2}, delivered: 3, limited: 1},
		// Everyone else is at the company's 2; wmL1's refusal did not count.
		{recipients: map[string][]string{"lisi": {"wmL1"}}, leftOut: map[string]int{bot.LeftOptedOut: 2, bot.LeftOverCap: 3}, limited: 1},
	}
	for i, w := range rounds {
		before := len(sim.GroupMsgs())
		body := map[string]any{"name": []string{"年终活动一", "年终活动二", "年终活动三"}[i], "filter": map[string]any{"tag": "年终活动"},
			"text": "年终特惠，回复了解详情"}
		var preview struct {
			Senders  map[string]int `json:"senders"`
			Targeted int            `json:"targeted"`
			LeftOut  map[string]int `json:"left_out"`
		}
		if code := a.apiCall(t, "POST", "/api/v1/campaigns/preview", body, &preview); code != 200 {
			t.Fatalf("round %d preview: %d", i+1, code)
		}
		var cp store.Campaign
		if code := a.apiCall(t, "POST", "/api/v1/campaigns", body, &cp); code != 201 {
			t.Fatalf("round %d create: %d %+v", i+1, code, cp)
		}
		waitFor(t, "the campaign's tasks", func() bool {
			a.apiCall(t, "GET", "/api/v1/campaigns/"+cp.ID, nil, &cp)
			return cp.Status == store.CampaignSent || cp.Status == store.CampaignFailed
		})
		msgs := sim.GroupMsgs()[before:]
		got := map[string][]string{}
		for _, m := range msgs {
			for _, r := range m.Recipients {
				got[m.Creator] = append(got[m.Creator], r.ExternalUserID)
			}
			sort.Strings(got[m.Creator])
			if !sim.ConfirmGroupMsg(m.MsgID) { // the salesperson presses 发送
				t.Fatalf("round %d: confirm %s", i+1, m.MsgID)
			}
		}
		if len(msgs) != len(w.recipients) || !equalLists(got, w.recipients) {
			t.Fatalf("round %d: %d tasks in WeCom for %v, want %v", i+1, len(msgs), got, w.recipients)
		}
		wantPreview := map[string]int{}
		for s, l := range w.recipients {
			wantPreview[s] = len(l)
		}
		if !equalCounts(preview.Senders, wantPreview) || !equalCounts(preview.LeftOut, w.leftOut) {
			t.Errorf("round %d preview: senders %v left out %v, want %v and %v", i+1, preview.Senders, preview.LeftOut, wantPreview, w.leftOut)
		}

		if code := a.apiCall(t, "POST", "/api/v1/campaigns/"+cp.ID+"/sync", nil, &cp); code != 200 {
			t.Fatalf("round %d sync: %d", i+1, code)
		}
		a.apiCall(t, "GET", "/api/v1/campaigns/"+cp.ID, nil, &cp)
		// The simulator's record, counted the way WeCom reports it.
		var delivered, limited, notContact int
		for _, m := range sim.GroupMsgs()[before:] {
			for _, r := range m.Recipients {
				switch r.Status {
				case 1:
					delivered++
				case 2:
					notContact++
				case 3:
					limited++
				}
			}
		}
		if delivered != w.delivered || limited != w.limited || notContact != 0 {
			t.Fatalf("round %d: the simulator delivered %d, refused %d over its cap, %d not contacts; want %d, %d, 0",
				i+1, delivered, limited, notContact, w.delivered, w.limited)
		}
		r := cp.Report
		if r.Delivered != delivered || r.AlreadyLimited != limited || r.NotContact != notContact || r.SendersSent != len(msgs) ||
			r.Targeted != delivered+limited || !equalCounts(r.LeftOut, w.leftOut) {
			t.Errorf("round %d report %+v; the simulator: delivered %d, over its cap %d, senders %d", i+1, r, delivered, limited, len(msgs))
		}
	}

	// An opted-out customer's timeline has no campaign; a targeted one's
	// says which it received.
	for ext, wantN := range map[string]int{"wmL2": 0, "wmZ1": 0, "wmZ3": 0, "wmL4": 2} {
		tl, _ := a.store.FindTimeline(ctx, ids[ext], 0, 100)
		n := 0
		for _, e := range tl {
			if e.Attrs["campaign"] != "" {
				n++
			}
		}
		if n != wantN {
			t.Errorf("%s: %d campaign entries on the timeline, want %d", ext, n, wantN)
		}
	}
}

func equalLists(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func equalCounts(a, b map[string]int) bool {
	n := 0
	for k, v := range a {
		if v != 0 {
			n++
			if b[k] != v {
				return false
			}
		}
	}
	for _, v := range b {
		if v != 0 {
			n--
		}
	}
	return n == 0
}
