package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scrmhq/scrm/store"
)

// TestConsoleCampaigns drives 群发 in headless Chromium: a manager opens
// the create dialog, previews (the per-salesperson counts appear and an
// opted-out customer is named as 不打扰), creates
// the campaign, and the simulated WeCom then holds exactly one
// add_msg_template task per salesperson the preview named, carrying the
// text (#客户昵称# as 您); the list shows the campaign with its report;
// the filter saved as a segment shows its live count; a confirmed cancel
// withdraws the tasks in WeCom. A salesperson has no
// menu entry and is sent back from the page. Screenshots at 1280 px.
func TestConsoleCampaigns(t *testing.T) {
	e := newConsoleEnv(t)
	ctx := context.Background()
	click := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			ok, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, sel))(ctx, tg)
			if err == nil && !ok {
				err = fmt.Errorf("no %s", sel)
			}
			return err
		})
	}
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
	})
	t.Run("sales", func(t *testing.T) {
		tab := e.tab(t, 1280)
		e.signIn(t, tab, "wangfang", "")
		if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/console/campaigns"), settled,
			waitJS("back on the workbench", `location.pathname === "/console/"`)); err != nil {
			t.Fatal(err)
		}
		if js[bool](tab, t, `[...document.querySelectorAll('.nav .el-menu-item')].some(e => e.innerText.trim() === '群发')`) {
			t.Error("a salesperson's menu offers 群发")
		}
	})
}
