package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// addGroup makes a customer group in the simulated corp and the store.
func (e *consoleEnv) addGroup(t *testing.T, name, owner string, members []wecomtest.GroupMember) string {
	t.Helper()
	chatID, _ := e.r.sim.AddGroupChat(wecomtest.GroupChat{Name: name, Owner: owner, Members: members})
	g := &store.Group{ChatID: chatID, Name: name, OwnerID: owner, UpdatedAt: time.Now(),
		Members: []store.GroupMember{{UserID: owner, Type: store.GroupMemberStaff}}}
	for _, m := range members {
		g.Members = append(g.Members, store.GroupMember{UserID: m.UserID, Type: store.GroupMemberExternal})
	}
	if _, err := e.r.app.store.UpsertGroup(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	return chatID
}

// TestConsoleCampaigns drives 群发 in headless Chromium: a manager opens
// the create dialog, previews (the per-salesperson counts appear and an
// opted-out customer is named as 不打扰), creates
// the campaign, and the simulated WeCom then holds exactly one
// add_msg_template task per salesperson the preview named, carrying the
// text (#客户昵称# as 您); the list shows the campaign with its report;
// the filter saved as a segment shows its live count; after the senders
// send it and a customer opts out, 同步 shows that opt-out after it; a
// confirmed cancel withdraws the tasks in WeCom. Then a campaign to
// customer groups (客户群, groups whose name contains "VIP"): the preview
// lists the groups under their owners, warns that #客户昵称# reads 大家
// and names the group without customers; WeCom then holds one chat_type
// group task per owner listing exactly their groups. A salesperson has no
// menu entry and is sent back from the page. Screenshots at 1280 px.
func TestConsoleCampaigns(t *testing.T) {
	e := newConsoleEnv(t)
	ctx := context.Background()
	// One customer said 不要再发了: the preview leaves them out as 不打扰.
	cus, err := e.r.app.store.FindCustomers(ctx, store.CustomerFilter{})
	if err != nil || len(cus) == 0 {
		t.Fatalf("customers: %v", err)
	}
	quiet := cus[0]
	if _, err := e.r.app.store.UpdateCustomer(ctx, quiet.ID, store.CustomerUpdate{Fields: map[string]string{store.FieldOptOut: "true"}}); err != nil {
		t.Fatal(err)
	}
	t.Run("manager", func(t *testing.T) {
		tab := e.tab(t, 1280)
		e.signIn(t, tab, "limin", "")
		text := "#客户昵称#您好，五一门店活动开始啦"
		if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/console/campaigns"), settled,
			waitJS("the empty list", `document.querySelector('.campaign-list .state-empty') !== null`),
			click(".new-campaign"), waitJS("the dialog", `!!document.querySelector('.campaign-dialog .f-name input')`),
			chromedp.SendKeys(chromedp.CSS(".campaign-dialog .f-name input"), "五一活动"),
			chromedp.SendKeys(chromedp.CSS(".campaign-dialog .f-text textarea"), text),
			chromedp.SendKeys(chromedp.CSS(".campaign-dialog .f-seg-name input"), "全部客户"),
			click(".campaign-dialog .save-segment"),
			waitJS("the segment's live count", `(() => { const s = document.querySelector('.segments .seg .seg-count'); return !!s && /^\d+ 人/.test(s.innerText) })()`),
			click(".campaign-dialog .preview-campaign"),
			waitJS("the preview", `document.querySelectorAll('.campaign-dialog .pv-senders tbody tr').length > 0`),
			waitJS("the left-out names", `[...document.querySelectorAll('.campaign-dialog .left-reason a')].every(a => a.innerText !== '客户')`),
			chromedp.Sleep(300*time.Millisecond),
		); err != nil {
			e.shot(t, tab, "console-campaigns-preview-failed.png")
			t.Fatal(err)
		}
		e.shot(t, tab, "console-campaigns-dialog-1280.png")
		if !js[bool](tab, t, fmt.Sprintf(`(() => { const r = document.querySelector('.campaign-dialog .left-reason[data-reason="opted_out"]'); return !!r && r.innerText.includes('不打扰') && r.innerText.includes(%q) })()`, quiet.Name)) {
			t.Errorf("the preview does not name %s as 不打扰: %s", quiet.Name, js[string](tab, t, `document.querySelector('.campaign-dialog .preview').innerText`))
		}
		rows := js[int](tab, t, `document.querySelectorAll('.campaign-dialog .pv-senders tbody tr').length`)
		if err := chromedp.Do(tab, click(".campaign-dialog .create-campaign"),
			waitJS("the campaign in the list", `document.querySelectorAll('.campaign-table tbody tr').length === 1`), settled); err != nil {
			e.shot(t, tab, "console-campaigns-create-failed.png")
			t.Fatal(err)
		}
		cps, err := e.r.app.store.FindCampaigns(ctx, 0)
		if err != nil || len(cps) != 1 {
			t.Fatalf("campaigns: %v %v", cps, err)
		}
		cp := cps[0]
		if cp.Name != "五一活动" || cp.Text != text || cp.CreatedBy != "limin" {
			t.Errorf("campaign = %+v", cp)
		}
		// The campaign job creates the tasks in the background.
		deadline := time.Now().Add(30 * time.Second)
		for {
			cp, err = e.r.app.store.FindCampaignByID(ctx, cp.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cp.Status != store.CampaignCreating && cp.Status != store.CampaignScheduled || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if cp.Status != store.CampaignSent {
			t.Fatalf("campaign status %s (%s)", cp.Status, cp.Error)
		}
		perSender := map[string]int{}
		recipients := 0
		for _, m := range e.r.sim.GroupMsgs() {
			// One text goes to many customers: the nickname becomes 您.
			if m.Text != "您您好，五一门店活动开始啦" {
				t.Errorf("task text %q", m.Text)
			}
			perSender[m.Creator]++
			recipients += len(m.Recipients)
		}
		for s, n := range perSender {
			if n != 1 {
				t.Errorf("%s has %d add_msg_template tasks, want 1", s, n)
			}
		}
		if len(perSender) != rows || len(perSender) != cp.Report.Senders {
			t.Errorf("WeCom has tasks for %v; the preview named %d salespeople, the report %d", slices.Sorted(maps.Keys(perSender)), rows, cp.Report.Senders)
		}
		if recipients != cp.Report.Targeted || recipients == 0 {
			t.Errorf("WeCom tasks reach %d customers, the report targets %d", recipients, cp.Report.Targeted)
		}
		if err := chromedp.Do(tab, chromedp.Reload(), settled,
			waitJS("the sent state", `document.querySelector('.campaign-table .cp-status').innerText === '已下发'`)); err != nil {
			e.shot(t, tab, "console-campaigns-list-failed.png")
			t.Fatal(err)
		}
		// The senders send it; a customer it reached opts out; 同步 counts
		// them as an opt-out after it.
		for _, m := range e.r.sim.GroupMsgs() {
			if !e.r.sim.ConfirmGroupMsg(m.MsgID) {
				t.Fatalf("%s could not send %s", m.Creator, m.MsgID)
			}
		}
		time.Sleep(1100 * time.Millisecond) // WeCom's send_time is in whole seconds
		sends, err := e.r.app.store.FindCampaignSends(ctx, cp.ID)
		if err != nil || len(sends) == 0 {
			t.Fatalf("sends: %v", err)
		}
		if got := e.apiJSON(t, "PATCH", "/api/v1/customers/"+sends[0].CustomerID, `{"opt_out": true}`, nil); got != 200 {
			t.Fatalf("opt out: %d", got)
		}
		if err := chromedp.Do(tab, click(".campaign-table .el-button--primary.is-link"),
			waitJS("the opt-out after it", `document.querySelector('.campaign-table .cp-optouts').innerText === '1'`), settled); err != nil {
			e.shot(t, tab, "console-campaigns-sync-failed.png")
			t.Fatal(err)
		}
		e.shot(t, tab, "console-campaigns-1280.png")
		// The segment's live count is every customer the manager sees, the
		// opted-out one included (and said so).
		if got, want := js[string](tab, t, `document.querySelector('.segments .seg-count').innerText`), fmt.Sprintf("%d 人（其中 1 人不打扰）", cp.Report.Targeted+1); got != want {
			t.Errorf("segment count %q, want %q", got, want)
		}
		// Cancel, confirmed: the tasks are withdrawn in WeCom.
		if err := chromedp.Do(tab, click(".campaign-table .cancel-campaign"),
			waitJS("the confirmation", `!!document.querySelector('.el-message-box .el-button--primary')`),
			click(".el-message-box .el-button--primary"),
			waitJS("the cancelled state", `document.querySelector('.campaign-table .cp-status').innerText === '已取消'`)); err != nil {
			e.shot(t, tab, "console-campaigns-cancel-failed.png")
			t.Fatal(err)
		}
		for _, m := range e.r.sim.GroupMsgs() {
			if !m.Cancelled {
				t.Errorf("task %s of %s not withdrawn in WeCom", m.MsgID, m.Creator)
			}
		}

		// To customer groups.
		before := len(e.r.sim.GroupMsgs())
		var members []wecomtest.GroupMember
		for _, cu := range cus[:3] {
			for _, id := range cu.Identities {
				if id.Kind == store.IdentityExternalUserID {
					members = append(members, wecomtest.GroupMember{UserID: id.Value, Type: 2})
				}
			}
		}
		if len(members) == 0 {
			t.Fatal("no customer with an external_userid to put in a group")
		}
		groups := map[string][]string{}
		for _, g := range []struct{ name, owner string }{{"VIP 客户群", "wangfang"}, {"VIP 答疑群", "wangfang"}, {"VIP 尊享群", "zhangwei"},
			{"VIP 空群", "zhangwei"}, {"闲聊群", "zhangwei"}} {
			ms := members
			if g.name == "VIP 空群" {
				ms = nil
			}
			chatID := e.addGroup(t, g.name, g.owner, ms)
			if strings.HasPrefix(g.name, "VIP") && ms != nil {
				groups[g.owner] = append(groups[g.owner], chatID)
			}
		}
		if err := chromedp.Do(tab, click(".new-campaign"), waitJS("the dialog", `!!document.querySelector('.campaign-dialog .f-name input')`),
			chromedp.SendKeys(chromedp.CSS(".campaign-dialog .f-name input"), "群内福利"),
			click(".campaign-dialog .f-target label:nth-child(2)"),
			waitJS("the group picker", `!!document.querySelector('.campaign-dialog .f-group-name input')`),
			chromedp.SendKeys(chromedp.CSS(".campaign-dialog .f-group-name input"), "VIP"),
			chromedp.SendKeys(chromedp.CSS(".campaign-dialog .f-text textarea"), "#客户昵称#好，群内福利今晚开始"),
			click(".campaign-dialog .preview-campaign"),
			waitJS("the groups per owner", `document.querySelectorAll('.campaign-dialog .pv-senders tbody tr').length === 2`),
			chromedp.Sleep(300*time.Millisecond),
		); err != nil {
			e.shot(t, tab, "console-campaigns-groups-failed.png")
			t.Fatal(err)
		}
		e.shot(t, tab, "console-campaigns-groups-1280.png")
		preview := js[string](tab, t, `document.querySelector('.campaign-dialog .preview').innerText`)
		for _, want := range []string{"VIP 客户群", "VIP 答疑群", "VIP 尊享群", "大家", "群内没有客户", "王芳", "张伟"} {
			if !strings.Contains(preview, want) {
				t.Errorf("the group preview lacks %q:\n%s", want, preview)
			}
		}
		if strings.Contains(preview, "闲聊群") {
			t.Errorf("the preview lists a group whose name lacks VIP:\n%s", preview)
		}
		if err := chromedp.Do(tab, click(".campaign-dialog .create-campaign"),
			waitJS("the group campaign in the list", `document.querySelectorAll('.campaign-table tbody tr').length === 2`), settled); err != nil {
			e.shot(t, tab, "console-campaigns-group-create-failed.png")
			t.Fatal(err)
		}
		deadline = time.Now().Add(30 * time.Second)
		for len(e.r.sim.GroupMsgs()) < before+2 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		msgs := e.r.sim.GroupMsgs()[before:]
		if len(msgs) != 2 {
			t.Fatalf("%d group tasks in WeCom, want one per owner", len(msgs))
		}
		for _, m := range msgs {
			got, want := m.RecipientIDs(), slices.Sorted(slices.Values(groups[m.Creator]))
			if m.ChatType != "group" || !slices.Equal(got, want) || m.Text != "大家好，群内福利今晚开始" {
				t.Errorf("%s's task: %s to %v %q, want group to %v", m.Creator, m.ChatType, got, m.Text, want)
			}
		}
		if err := chromedp.Do(tab, chromedp.Reload(), settled,
			waitJS("the group campaign's row", `(() => { const r = document.querySelector('.campaign-table tbody tr'); return !!r && !!r.querySelector('.cp-groups') && r.querySelector('.cp-targeted').innerText === '3 个群' })()`)); err != nil {
			e.shot(t, tab, "console-campaigns-group-list-failed.png")
			t.Fatal(err)
		}
		e.shot(t, tab, "console-campaigns-list-groups-1280.png")
	})
	t.Run("sales", func(t *testing.T) { e.leadsOnly(t, "/console/campaigns", "群发") })
}
