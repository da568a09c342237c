package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// customerRun is a run as GET /api/v1/customers/{id}/journeys answers it.
type customerRun struct {
	store.JourneyRun
	JourneyName string             `json:"journey_name"`
	Steps       int                `json:"steps"`
	Current     *store.JourneyStep `json:"current"`
}

// TestJourneyScriptInBrowser follows a journey's reminder step to the
// salesperson: a journey started by a tag reminds the customer's owner
// with a script personalised for the customer; the console's customer
// page lists the journeys the customer is in (the one under way with its
// next step, one ended by a stage with why) as the API does, and shows
// the reminder's script with 复制; in the chat sidebar 发送 puts exactly
// that text into the simulated chat through the JS-SDK, 复制 copies it,
// and 完成 — a tap of its own — completes the reminder.
func TestJourneyScriptInBrowser(t *testing.T) {
	e := newConsoleEnv(t)
	const sales, other = "wangfang", "zhangwei"
	cu := e.demoCustomer(t, sales)
	name := cu.Person.Name
	script := name + "您好，我是王芳。您上次问的报价单已经准备好了，方便的话我现在发给您？"

	const tag = "话术测试"
	mkJourney := func(body string) string {
		t.Helper()
		var j struct{ ID string }
		if code := e.apiJSON(t, "POST", "/api/v1/journeys", body, &j); code != 201 || j.ID == "" {
			t.Fatalf("create journey: %d %+v", code, j)
		}
		return j.ID
	}
	reminding := mkJourney(`{"name":"报价跟进","enabled":true,"trigger":{"type":"tag_added","tag":"` + tag + `"},
		"steps":[{"type":"remind","text":"回访#客户昵称#，发报价单","script":"#客户昵称#您好，我是#员工姓名#。您上次问的报价单已经准备好了，方便的话我现在发给您？"},
		{"type":"wait","days":2},{"type":"remind","text":"再次回访#客户昵称#"}],"exit":{"on_reply":false}}`)
	ended := mkJourney(`{"name":"新线索培育","enabled":true,"trigger":{"type":"tag_added","tag":"` + tag + `"},
		"steps":[{"type":"wait","days":5},{"type":"remind","text":"培育回访"}],"exit":{"stages":["跟进中"]}}`)
	if code := e.apiJSON(t, "PATCH", "/api/v1/customers/"+cu.ID, `{"add_tags":["`+tag+`"]}`, nil); code != 200 {
		t.Fatalf("tag the customer: %d", code)
	}
	if code := e.apiJSON(t, "PATCH", "/api/v1/customers/"+cu.ID, `{"stage":"跟进中"}`, nil); code != 200 {
		t.Fatalf("move the customer to 跟进中: %d", code)
	}
	reminderID := e.runFirstStep(t, reminding, cu.ID)

	rem, err := e.r.app.store.FindReminderByID(context.Background(), reminderID)
	if err != nil {
		t.Fatal(err)
	}
	if rem.Script != script || rem.Text != "回访"+name+"，发报价单" || rem.StaffID != sales {
		t.Fatalf("the journey's reminder: %+v, want the script %q for %s", rem, script, sales)
	}
	var runs struct{ Items []customerRun }
	// The demo's customer is also in the built-in new-customer cadence.
	if code := e.apiJSON(t, "GET", "/api/v1/customers/"+cu.ID+"/journeys", "", &runs); code != 200 || len(runs.Items) < 2 {
		t.Fatalf("GET the customer's journeys: %d %+v", code, runs.Items)
	}
	byJourney := map[string]customerRun{}
	for _, run := range runs.Items {
		byJourney[run.JourneyID] = run
	}
	if run := byJourney[reminding]; run.State != store.RunActive || run.Step != 2 || run.Current == nil || run.Current.Text != "再次回访"+name {
		t.Fatalf("the reminding journey's run: %+v (current %+v)", run.JourneyRun, run.Current)
	}
	if run := byJourney[ended]; run.State != store.RunExited || run.ExitReason != bot.ExitStage {
		t.Fatalf("the journey the stage ended: %+v", run.JourneyRun)
	}
	reminderSel := fmt.Sprintf(`[data-reminder="%d"]`, reminderID)

	t.Run("console customer page", func(t *testing.T) {
		ctx := e.tab(t, 1280)
		e.grantClipboard(t, ctx)
		e.signIn(t, ctx, sales, "/console/customers/"+cu.ID)
		if err := chromedp.Do(ctx, settled,
			waitJS("the journeys", fmt.Sprintf(`document.querySelectorAll('.journeys-card .journey-run').length === %d`, len(runs.Items))),
			waitJS("the reminder's script", fmt.Sprintf(`document.querySelector('.reminder-row%s .script-text')?.textContent === %q`, reminderSel, script)),
		); err != nil {
			e.shot(t, ctx, "console-customer-journeys-failed.png")
			t.Fatal(err)
		}
		row := func(id, part string) string {
			return js[string](ctx, t, fmt.Sprintf(`document.querySelector('.journey-run[data-run=%q] %s')?.innerText.trim() ?? ''`, id, part))
		}
		active, exited := byJourney[reminding], byJourney[ended]
		for _, c := range []struct {
			run        customerRun
			part, want string
		}{
			{active, ".jr-name", "报价跟进"},
			{active, ".jr-state", "进行中"},
			{active, ".jr-next", "下一步：提醒负责人「再次回访" + name + "」"},
			{exited, ".jr-name", "新线索培育"},
			{exited, ".jr-state", "已退出"},
		} {
			if got := row(c.run.ID, c.part); got != c.want {
				t.Errorf("%s of %s reads %q, want %q", c.part, c.run.JourneyName, got, c.want)
			}
		}
		if got := row(active.ID, ".jr-progress"); !strings.HasPrefix(got, "第 3/3 步 · ") {
			t.Errorf("the run under way reads %q, want its step and when", got)
		}
		if got := row(exited.ID, ".jr-progress"); !strings.HasPrefix(got, "已到达退出阶段 · ") {
			t.Errorf("the ended run reads %q, want why it ended", got)
		}
		js[bool](ctx, t, `document.querySelector('.journeys-card').scrollIntoView(), true`)
		chromedp.Do(ctx, chromedp.Sleep(time.Second))
		e.shot(t, ctx, "console-customer-journeys.png")
		if err := chromedp.Do(ctx, click(".reminder-row"+reminderSel+" .copy-script"),
			waitJS("the message", `[...document.querySelectorAll('.el-message')].some(m => m.innerText.includes('话术已复制'))`)); err != nil {
			t.Fatal(err)
		}
		if got := js[string](ctx, t, `navigator.clipboard.readText()`); got != script {
			t.Errorf("the clipboard holds %q, want the script", got)
		}
		js[bool](ctx, t, `document.querySelector('.reminder-row`+reminderSel+`').scrollIntoView({block: 'center'}), true`)
		e.shot(t, ctx, "console-customer-reminder-script.png")
		phone := e.tab(t, 390)
		e.signIn(t, phone, sales, "/console/customers/"+cu.ID)
		if err := chromedp.Do(phone, settled, waitJS("the journeys", `!!document.querySelector('.journeys-card .journey-run')`)); err != nil {
			t.Fatal(err)
		}
		js[bool](phone, t, `document.querySelector('.journeys-card').scrollIntoView(), true`)
		chromedp.Do(phone, chromedp.Sleep(time.Second))
		e.shot(t, phone, "console-customer-journeys-390.png")
		// Someone who does not follow the customer reads nothing of it.
		octx := e.tab(t, 1280)
		e.signIn(t, octx, other, "")
		if code := js[float64](octx, t, `fetch('/api/v1/customers/`+cu.ID+`/journeys').then(r => r.status)`); code != 404 {
			t.Errorf("%s reads the journeys of a customer they do not follow: %v", other, code)
		}
	})

	t.Run("sidebar", func(t *testing.T) {
		e.r.sim.SignInAs(sales)
		defer e.r.sim.SignInAs("")
		ctx := e.phoneTab(t)
		e.grantClipboard(t, ctx)
		chat := wecomtest.ChatTools{UserID: sales, Entry: wecomtest.EntrySingleChat, ExternalUserID: cu.Person.ExternalUserID}
		if err := chromedp.Do(ctx, chromedp.Navigate(e.sidebarURL(chat)), cardShown(name),
			waitJS("the script under its reminder", fmt.Sprintf(`document.querySelector('.reminder%s .script-text')?.textContent === %q`, reminderSel, script))); err != nil {
			e.shot(t, ctx, "sidebar-journey-script-failed.png")
			t.Fatal(err)
		}
		js[bool](ctx, t, `document.querySelector('.reminders').scrollIntoView(), true`)
		e.shot(t, ctx, "sidebar-journey-script.png")

		if err := chromedp.Do(ctx, click(".reminder"+reminderSel+" .send-script"),
			waitJS("the toast", `document.querySelector('.toast')?.textContent === '已填入聊天输入框'`),
			waitJS("完成 standing out", `!!document.querySelector('.reminder`+reminderSel+` .done-reminder.on')`)); err != nil {
			t.Fatal(err)
		}
		m := e.chatMessage(t, script)
		if m.UserID != sales || m.ExternalUserID != cu.Person.ExternalUserID || m.MsgType != "text" {
			t.Errorf("the script went to %+v, want %s's chat with %s as text", m.ChatTools, sales, cu.Person.ExternalUserID)
		}
		sent := 0
		for _, m := range e.r.sim.ChatToolMessages() {
			if strings.Contains(m.Text, "报价单已经准备好") {
				sent++
				if m.Text != script {
					t.Errorf("the chat got %q, want exactly %q", m.Text, script)
				}
			}
		}
		if sent != 1 {
			t.Errorf("the script went into the chat %d times, want once", sent)
		}
		if got, _ := e.r.app.store.FindReminderByID(context.Background(), reminderID); got.Status == store.ReminderDone {
			t.Error("sending the script completed the reminder; 完成 is the salesperson's own tap")
		}
		e.shot(t, ctx, "sidebar-journey-script-sent.png")

		if err := chromedp.Do(ctx, click(".reminder"+reminderSel+" .copy-script"),
			waitJS("the toast", `document.querySelector('.toast')?.textContent === '话术已复制'`)); err != nil {
			t.Fatal(err)
		}
		if got := js[string](ctx, t, `navigator.clipboard.readText()`); got != script {
			t.Errorf("the clipboard holds %q, want the script", got)
		}

		if err := chromedp.Do(ctx, click(".reminder"+reminderSel+" .done-reminder"),
			waitJS("the reminder gone from the card", `!document.querySelector('.reminder`+reminderSel+`')`),
			waitJS("the toast", `document.querySelector('.toast')?.textContent === '提醒已完成'`)); err != nil {
			e.shot(t, ctx, "sidebar-journey-done-failed.png")
			t.Fatal(err)
		}
		e.shot(t, ctx, "sidebar-journey-script-done.png")
		if got, _ := e.r.app.store.FindReminderByID(context.Background(), reminderID); got.Status != store.ReminderDone {
			t.Errorf("after 完成 the reminder is %s", got.Status)
		}
		var au struct{ Items []auditEntry }
		e.apiJSON(t, "GET", "/api/v1/audit?limit=50&target="+cu.ID, "", &au)
		if !slices.ContainsFunc(au.Items, func(a auditEntry) bool {
			return a.Actor == sales && a.Action == bot.AuditReminderDone && strings.HasPrefix(a.Detail, "source="+bot.SourceSidebar)
		}) {
			t.Errorf("no %s by %s from the sidebar in the audit: %+v", bot.AuditReminderDone, sales, au.Items)
		}
	})
}

// runFirstStep advances the customer's run of journey id until its first
// step (a reminder) is taken, with a journey engine of the demo's settings
// whose clock stands where the run is due — now in working hours, else the
// next working morning — and returns the reminder's ID.
func (e *consoleEnv) runFirstStep(t *testing.T, journeyID, customerID string) int64 {
	t.Helper()
	cfg := e.r.app.cfg
	var now time.Time
	eng, err := bot.NewJourneys(e.r.app.store, bot.JourneyOptions{Location: cfg.Location(), DigestAt: cfg.DigestAt, Hours: cfg.Hours(),
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		var runs struct{ Items []store.JourneyRun }
		e.apiJSON(t, "GET", "/api/v1/journeys/"+journeyID+"/runs", "", &runs)
		for _, r := range runs.Items {
			if r.CustomerID != customerID {
				continue
			}
			if len(r.Log) > 0 {
				var id int64
				if _, err := fmt.Sscanf(r.Log[0].Result, "reminder:%d", &id); err != nil {
					t.Fatalf("the first step did %q, want a reminder", r.Log[0].Result)
				}
				return id
			}
			now = r.NextAt
		}
		if now.IsZero() {
			t.Fatalf("the customer entered no run of %s: %+v", journeyID, runs.Items)
		}
		if wall := time.Now(); wall.After(now) {
			now = wall
		}
		if _, err := eng.RunDue(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("the run of %s never took its first step", journeyID)
	return 0
}

// grantClipboard lets the pages of ctx's browser context read and write
// the clipboard, as a person's browser does after a tap.
func (e *consoleEnv) grantClipboard(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx); err != nil { // creates the browser context
		t.Fatal(err)
	}
	id := chromedp.FromContext(ctx).BrowserContextID
	for _, p := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: p}, Setting: browser.PermissionSettingGranted,
			Origin: e.base, BrowserContextID: id}); err != nil {
			t.Fatalf("grant %s: %v", p, err)
		}
	}
}
