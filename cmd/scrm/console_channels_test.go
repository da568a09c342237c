package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scrmhq/scrm/store"
)

// TestConsoleChannels drives 渠道活码 in headless Chromium: a manager sees
// the demo's two channels with their QR codes and numbers, creates a third
// through the dialog, and it exists in the simulated WeCom as a contact way
// with the chosen member and the channel's state; a seeded customer's page
// names their channel; a salesperson has no menu entry and is sent back
// from the page. Screenshots at 1280 and 390 px.
func TestConsoleChannels(t *testing.T) {
	e := newConsoleEnv(t)
	ctx := context.Background()
	chs, err := e.r.app.store.FindChannels(ctx, store.ChannelFilter{})
	if err != nil || len(chs) != 2 {
		t.Fatalf("seeded channels: %v %v", chs, err)
	}
	for _, width := range []int64{1280, 390} {
		t.Run(fmt.Sprint("manager-", width), func(t *testing.T) {
			tab := e.tab(t, width)
			e.signIn(t, tab, "limin", "")
			if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/console/channels"), settled,
				waitJS("the channels", `document.querySelectorAll('.channel-card').length >= 2`),
				waitJS("the numbers of the first", `document.querySelector('.channel-stats .stats') && document.querySelector('.channel-stats').innerText.includes('新增客户')`),
				waitJS("the QR codes", `[...document.querySelectorAll('.channel-card img')].every(i => i.complete && i.naturalWidth > 0)`),
				waitJS("the chart", `!!document.querySelector('.channel-stats canvas')`),
			); err != nil {
				e.shot(t, tab, fmt.Sprintf("console-channels-failed-%d.png", width))
				t.Fatal(err)
			}
			if width == 390 {
				e.shot(t, tab, "console-channels-390.png")
				return
			}
			name := "门店前台"
			if err := chromedp.Do(tab, click(".new-channel"), waitJS("the dialog", `!!document.querySelector('.channel-dialog .f-name input')`),
				chromedp.SendKeys(chromedp.CSS(".channel-dialog .f-name input"), name),
				click(".channel-dialog .f-staff .el-select__wrapper"), chromedp.Sleep(300*time.Millisecond),
				clickText(".el-select-dropdown__item", "王芳"),
				chromedp.SendKeys(chromedp.CSS(".channel-dialog .f-tags input"), "门店\r"),
				chromedp.SendKeys(chromedp.CSS(".channel-dialog .f-welcome textarea"), "#客户昵称#您好，欢迎光临门店"),
				chromedp.Sleep(200*time.Millisecond),
			); err != nil {
				e.shot(t, tab, "console-channels-dialog-failed.png")
				t.Fatal(err)
			}
			e.shot(t, tab, "console-channels-dialog-1280.png")
			if err := chromedp.Do(tab, click(".channel-dialog .save-channel"),
				waitJS("the third channel", `document.querySelectorAll('.channel-card').length === 3`), settled); err != nil {
				e.shot(t, tab, "console-channels-save-failed.png")
				t.Fatal(err)
			}
			chs, err := e.r.app.store.FindChannels(ctx, store.ChannelFilter{})
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(chs, func(c *store.Channel) bool { return c.Name == name })
			if i < 0 {
				t.Fatalf("no channel %s in %v", name, chs)
			}
			ch := chs[i]
			if !slices.Equal(ch.Tags, []string{"门店"}) || ch.Welcome.Text != "#客户昵称#您好，欢迎光临门店" {
				t.Errorf("channel = %+v", ch)
			}
			ways := e.r.sim.ContactWays()
			found := false
			for _, w := range ways {
				if w.ConfigID == ch.ConfigID {
					found = true
					if w.State != ch.State || !slices.Equal(w.User, []string{"wangfang"}) || w.Remark != name {
						t.Errorf("contact way %+v for channel %+v", w, ch)
					}
				}
			}
			if !found {
				t.Fatalf("channel %+v is no contact way in WeCom: %+v", ch, ways)
			}
			e.shot(t, tab, "console-channels-1280.png")
		})
	}
	t.Run("customer page", func(t *testing.T) {
		evs, err := e.r.app.store.FindChannelEvents(ctx, store.ChannelEventFilter{ChannelID: chs[0].ID, Kind: store.ChannelEventAdd})
		if err != nil || len(evs) == 0 {
			t.Fatalf("attributed customers: %v %v", evs, err)
		}
		tab := e.tab(t, 1280)
		e.signIn(t, tab, "limin", "")
		if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/console/customers/"+evs[0].CustomerID), settled,
			waitJS("the channel", fmt.Sprintf(`document.querySelector('.customer-channel') && document.querySelector('.customer-channel').innerText === %q`, chs[0].Name))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("sales", func(t *testing.T) { e.leadsOnly(t, "/console/channels", "渠道活码") })
}
