package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scrmhq/scrm/store"
)

// apiJourney is a journey as GET /api/v1/journeys answers it.
type apiJourney struct {
	store.Journey
	Runs store.JourneyRunCounts `json:"runs"`
}

// TestConsoleJourneys drives 跟进旅程 in headless Chromium: a manager sees
// the built-in journeys, edits the new-customer cadence's first reminder,
// creates a journey for customers from one channel, switches it off and
// opens the customers in a journey; each change is what the API then
// answers. A salesperson has no menu entry and is sent back from the page.
// Screenshots at 1280 and 390 px.
func TestConsoleJourneys(t *testing.T) {
	e := newConsoleEnv(t)
	journeys := func() map[string]apiJourney {
		var list struct{ Items []apiJourney }
		if code := e.apiJSON(t, "GET", "/api/v1/journeys", "", &list); code != 200 {
			t.Fatalf("GET /journeys: %d", code)
		}
		out := map[string]apiJourney{}
		for _, j := range list.Items {
			out[j.ID] = j
		}
		return out
	}
	var cadence apiJourney
	for _, j := range journeys() {
		if j.Builtin == "new_customer" {
			cadence = j
		}
	}
	if cadence.ID == "" || len(cadence.Steps) == 0 {
		t.Fatalf("no built-in new-customer journey: %+v", journeys())
	}
	var expo *store.Channel
	chs, _ := e.r.app.store.FindChannels(t.Context(), store.ChannelFilter{})
	for _, ch := range chs {
		if ch.Name == "展会海报" {
			expo = ch
		}
	}
	if expo == nil {
		t.Fatal("the demo's 展会海报 channel is missing")
	}
	// setInput types into a Vue-bound input or textarea as a person would.
	setInput := func(sel, value string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			ok, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false;
				e.value = %q; e.dispatchEvent(new Event('input', { bubbles: true })); return true })()`, sel, value))(ctx, tg)
			if err == nil && !ok {
				err = fmt.Errorf("no %s", sel)
			}
			return err
		})
	}
	card := func(id string) string { return fmt.Sprintf(`.journey-card[data-journey=%q]`, id) }

	t.Run("manager", func(t *testing.T) {
		tab := e.tab(t, 1280)
		e.signIn(t, tab, "limin", "")
		if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/console/journeys"), settled,
			waitJS("the built-in journeys", `document.querySelectorAll('.journey-card').length >= 2`),
			waitJS("the cadence's trigger", fmt.Sprintf(`document.querySelector(%q).innerText.includes('新添加的客户')`, card(cadence.ID))),
		); err != nil {
			e.shot(t, tab, "console-journeys-failed.png")
			t.Fatal(err)
		}
		e.shot(t, tab, "console-journeys-1280.png")

		// The cadence's first reminder, rewritten.
		text := "欢迎致电：先问清预算和采购时间"
		if err := chromedp.Do(tab, click(card(cadence.ID)+" .edit-journey"),
			waitJS("the editor", `!!document.querySelector('.journey-dialog .step-row[data-step="0"] .f-step-text input')`),
			setInput(`.journey-dialog .step-row[data-step="0"] .f-step-text input`, text),
			click(".journey-dialog .save-journey"),
			waitJS("the card with the new text", fmt.Sprintf(`document.querySelector(%q).innerText.includes(%q)`, card(cadence.ID), text)),
		); err != nil {
			e.shot(t, tab, "console-journeys-edit-failed.png")
			t.Fatal(err)
		}
		after := journeys()[cadence.ID]
		if after.Steps[0].Text != text || after.Version != cadence.Version+1 || len(after.Steps) != len(cadence.Steps) || after.Builtin != "new_customer" {
			t.Errorf("after the edit the API has %+v (version %d, was %d)", after.Steps, after.Version, cadence.Version)
		}

		// A journey for customers from 展会海报.
		before := journeys()
		name := "展会新客户跟进"
		if err := chromedp.Do(tab, click(".new-journey"),
			waitJS("the empty editor", `!!document.querySelector('.journey-dialog .f-name input')`),
			setInput(".journey-dialog .f-name input", name),
			click(".journey-dialog .f-channel .el-select__wrapper"), chromedp.Sleep(300*time.Millisecond),
			clickText(".el-select-dropdown__item", "来自「展会海报」"), chromedp.Sleep(200*time.Millisecond),
		); err != nil {
			e.shot(t, tab, "console-journeys-new-failed.png")
			t.Fatal(err)
		}
		e.shot(t, tab, "console-journeys-dialog-1280.png")
		if err := chromedp.Do(tab, click(".journey-dialog .save-journey"),
			waitJS("the new card", fmt.Sprintf(`document.querySelectorAll('.journey-card').length === %d`, len(before)+1)), settled,
		); err != nil {
			e.shot(t, tab, "console-journeys-create-failed.png")
			t.Fatal(err)
		}
		var made apiJourney
		for id, j := range journeys() {
			if _, old := before[id]; !old {
				made = j
			}
		}
		if made.Name != name || made.Trigger.Type != store.TriggerNewCustomer || made.Trigger.Channel != expo.ID || !made.Enabled ||
			len(made.Steps) != 3 || made.Steps[1].Type != store.StepWait || made.Steps[1].Days != 3 || !made.Exit.OnReply {
			t.Fatalf("the journey made in the console: %+v", made)
		}
		if !js[bool](tab, t, fmt.Sprintf(`document.querySelector(%q).innerText.includes('通过渠道「展会海报」添加的新客户')`, card(made.ID))) {
			t.Error("the new card does not name its channel")
		}

		// Switched off.
		if err := chromedp.Do(tab, click(card(made.ID)+" .jc-enabled"),
			waitJS("the card switched off", fmt.Sprintf(`document.querySelector(%q).classList.contains('off')`, card(made.ID))),
		); err != nil {
			t.Fatal(err)
		}
		if j := journeys()[made.ID]; j.Enabled {
			t.Error("switched off in the console, still enabled in the API")
		}

		// The customers in the cadence: the table lists what the API lists.
		var runs struct{ Items []store.JourneyRun }
		e.apiJSON(t, "GET", "/api/v1/journeys/"+cadence.ID+"/runs", "", &runs)
		want := fmt.Sprintf(`document.querySelectorAll('.runs-table .el-table__body tr').length === %d`, len(runs.Items))
		if len(runs.Items) == 0 {
			want = `!!document.querySelector('.runs-drawer .state-empty')`
		}
		if err := chromedp.Do(tab, click(card(cadence.ID)+" .show-runs"),
			waitJS("the drawer", `!!document.querySelector('.runs-drawer') && document.querySelector('.runs-drawer').offsetParent !== null`),
			waitJS("the runs", want), chromedp.Sleep(300*time.Millisecond),
		); err != nil {
			e.shot(t, tab, "console-journeys-runs-failed.png")
			t.Fatal(err)
		}
		e.shot(t, tab, "console-journeys-runs-1280.png")
	})
	t.Run("manager-390", func(t *testing.T) {
		tab := e.tab(t, 390)
		e.signIn(t, tab, "limin", "")
		if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/console/journeys"), settled,
			waitJS("the journeys", `document.querySelectorAll('.journey-card').length >= 2`)); err != nil {
			t.Fatal(err)
		}
		e.shot(t, tab, "console-journeys-390.png")
	})
	t.Run("sales", func(t *testing.T) { e.leadsOnly(t, "/console/journeys", "跟进旅程") })
}
