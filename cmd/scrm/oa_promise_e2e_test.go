package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// sentCard is the part of a template card message the test reads.
type sentCard struct {
	TaskID    string `json:"task_id"`
	MainTitle struct {
		Title string `json:"title"`
		Desc  string `json:"desc"`
	} `json:"main_title"`
	SubTitleText string    `json:"sub_title_text"`
	Rows         []cardRow `json:"horizontal_content_list"`
	Buttons      []struct {
		Text string `json:"text"`
		Key  string `json:"key"`
	} `json:"button_list"`
}

type cardRow struct {
	KeyName string `json:"keyname"`
	Value   string `json:"value"`
}

// TestOAPromiseEndToEnd is issue #6's acceptance, driven through the
// simulator alone: a customer whose unionid ties their Official Account
// openid to a WeCom contact of lisi writes "下周三下午再联系我" on the OA;
// after the quiet period the analysis turns it into a promise reminder for
// lisi; the scheduler pushes one card at the due time and none before it;
// 完成 on the card closes the reminder; "查 赵敏" shows it done.
//
// Time is the app's injected clock, moved by the test, and the scheduler is
// woken on demand, so "at the right time" is checked to the second without
// waiting for it.
func TestOAPromiseEndToEnd(t *testing.T) {
	const (
		openID   = "oZhaoMin"
		extID    = "wmZhaoMin"
		unionID  = "uZhaoMin"
		name     = "赵敏"
		promise  = "下周三下午再联系我"
		quietFor = time.Second
	)
	// The app's reminder clock starts at the real time, which the callback
	// edge, the inbox and the simulator keep: the customer writes "now".
	clock := wecomtest.NewFakeClock(time.Now().Truncate(time.Second))
	start := clock.Now()
	setClock := func(at time.Time) { clock.Advance(at.Sub(clock.Now())) }

	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() }) // after the app stops (cleanups run last first)
	sim.AddStaff(wecomtest.Staff{UserID: "lisi", Name: "李四"})
	// lisi added the customer in WeCom 20 days ago: the new-contact cadence
	// is over and the customer is not dormant (30 days), so the promise is
	// the only reminder due. The customer also follows the OA; the platform
	// no longer tells an OA nickname, so only the unionid ties the two.
	added := start.Add(-20 * 24 * time.Hour)
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: extID, Name: name, UnionID: unionID,
		Follow: []wecomtest.Follow{{UserID: "lisi", CreateTime: added}}})
	sim.AddOAFollower(wecomtest.OAFollower{OpenID: openID, UnionID: unionID, SubscribeTime: start.Add(-time.Hour)})

	wake := make(chan struct{})
	a := startSimApp(t, sim, extensions{now: clock.Now, wakeReminders: wake}, func(cfg *config.Config) {
		cfg.OAAppID, cfg.OAAppSecret = wecomtest.SimOAAppID, wecomtest.SimOAAppSecret
		cfg.OAToken, cfg.OAAESKey, cfg.OAAPIBase = wecomtest.SimOAToken, wecomtest.SimOAAESKey, sim.URL
		cfg.AnalysisQuiet = quietFor
	})
	ctx := context.Background()
	var err error
	loc := a.cfg.Location()
	deliver := func(send func(context.Context, wecomtest.Msg) (*wecomtest.Delivery, error), m wecomtest.Msg) {
		t.Helper()
		d, err := send(ctx, m)
		if err != nil || d.Status != 200 {
			t.Fatalf("deliver: %v %+v", err, d)
		}
		if d.Attempts != 1 {
			t.Fatalf("callback needed %d attempts: scrm must acknowledge at once", d.Attempts)
		}
	}
	// pushRounds runs n full push rounds of the scheduler at the clock's
	// current time: a send on the unbuffered wake channel is taken only
	// when the scheduler is idle, so the second send returns after the
	// round the first one started has finished.
	pushRounds := func(n int) {
		t.Helper()
		for range n + 1 {
			select {
			case wake <- struct{}{}:
			case <-time.After(20 * time.Second):
				t.Fatal("the scheduler did not take a wake-up")
			}
		}
	}
	cardsTo := func(staff string) []wecomtest.SentMessage {
		var out []wecomtest.SentMessage
		for _, m := range sim.SentTo(staff) {
			if m.MsgType == "template_card" {
				out = append(out, m)
			}
		}
		return out
	}
	rs := a.store.(bot.SchedulerStore)

	// 1. The WeCom side: lisi's contact becomes a customer with lisi as owner.
	deliver(a.drv.SendWeCom, wecomtest.ContactEvent("add_external_contact", "lisi", extID, added, nil))
	var c *store.Customer
	waitFor(t, "the WeCom customer", func() bool {
		c, err = a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: extID})
		return err == nil && c.Name == name
	})

	// 2. The OA side: the follow and the message land on the same customer,
	// linked by unionid, not on a new ownerless one.
	deliver(a.drv.SendOA, wecomtest.OASubscribe(openID, start.Add(-time.Minute)))
	msgAt := start
	deliver(a.drv.SendOA, wecomtest.OAText(openID, promise, 24_600_000_001, msgAt))
	waitFor(t, "the OA text to be processed", func() bool {
		done := true
		evs, err := a.store.FindEvents(ctx, store.EventFilter{Channel: store.ChannelOA, Kind: "text", Processed: &done})
		return err == nil && len(evs) == 1
	})
	oc, err := a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: openID})
	if err != nil {
		t.Fatal(err)
	}
	if oc.ID != c.ID || oc.Name != name || !slices.ContainsFunc(oc.Follows, func(f store.Follow) bool { return f.StaffID == "lisi" && !f.Deleted }) {
		t.Fatalf("OA follower is customer %s %q follows %+v, want %s %q followed by lisi", oc.ID, oc.Name, oc.Follows, c.ID, name)
	}
	// The owner is told at once (the inbox forward), long before the reminder.
	waitFor(t, "the forward to lisi", func() bool {
		for _, m := range sim.SentTo("lisi") {
			if m.MsgType == "markdown" && strings.Contains(m.Content, name) && strings.Contains(m.Content, promise) {
				return true
			}
		}
		return false
	})

	// 3. The analysis waits for the conversation to go quiet, then makes
	// the promise a reminder.
	promises := func() []*store.Reminder {
		all, err := rs.FindReminders(ctx, store.ReminderFilter{CustomerID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(all, func(r *store.Reminder) bool { return r.Kind != store.ReminderPromise })
	}
	if got := promises(); len(got) != 0 {
		t.Fatalf("a reminder exists before the quiet period ended: %+v", got)
	}
	setClock(msgAt.Add(quietFor))
	// The insight is the analysis's commit point: reminders and the
	// timeline entry are written before it.
	waitFor(t, "the analysis", func() bool {
		cur, err := a.store.FindCustomerByID(ctx, c.ID)
		return err == nil && cur.Insight != nil
	})
	got := promises()
	if len(got) != 1 {
		for _, x := range got {
			t.Logf("promise reminder %+v", *x)
		}
		t.Fatalf("promise reminders = %d, want 1", len(got))
	}
	r := got[0]
	// 下周三 is the Wednesday of the week after the message's (weeks start
	// on Monday, in business time). nlp reads 下午 as a deadline of 18:00;
	// the reminder fires at the start of the afternoon, 14:00.
	said := msgAt.In(loc)
	weekday := (int(said.Weekday())+6)%7 + 1 // Monday 1 … Sunday 7
	wednesday := time.Date(said.Year(), said.Month(), said.Day()-(weekday-1)+7+2, 0, 0, 0, 0, loc)
	wantDeadline := wednesday.Add(18 * time.Hour)
	due := wednesday.Add(14 * time.Hour)
	if !r.DueAt.Equal(due) || r.StaffID != "lisi" || r.Status != store.ReminderPending {
		t.Fatalf("reminder = %+v, want pending for lisi due %v", r, due)
	}
	wantText := fmt.Sprintf("客户 %s 说“%s” → %d月%d日（周三）下午 再联系他", name, promise, due.Month(), due.Day())
	if r.Text != wantText {
		t.Fatalf("reminder text = %q, want %q", r.Text, wantText)
	}
	tl, err := a.store.FindTimeline(ctx, c.ID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(tl, func(e *store.TimelineEntry) bool { return e.Kind == store.EntryAnalysis })
	if i < 0 {
		t.Fatal("no analysis on the timeline")
	}
	var found []struct{ Due, Reminder string }
	if err := json.Unmarshal([]byte(tl[i].Attrs["promises"]), &found); err != nil || len(found) != 1 {
		t.Fatalf("analysis promises = %q (%v)", tl[i].Attrs["promises"], err)
	}
	if d, err := time.Parse(time.RFC3339, found[0].Due); err != nil || !d.Equal(wantDeadline) || found[0].Reminder != "created" {
		t.Fatalf("analysis promise = %+v, want deadline %v and a created reminder", found[0], wantDeadline)
	}

	// 4. Not a moment early: a second before it is due, push rounds send nothing.
	setClock(due.Add(-time.Second))
	pushRounds(3)
	if cards := cardsTo("lisi"); len(cards) != 0 {
		t.Fatalf("lisi got %d cards before the reminder was due, the first:\n%s\n%s", len(cards), cards[0].Content, cards[0].Raw)
	}
	if now, err := rs.FindReminderByID(ctx, r.ID); err != nil || now.Status != store.ReminderPending {
		t.Fatalf("reminder before due = %+v, %v", now, err)
	}

	// 5. On time: exactly one card, naming the customer and the promise,
	// and no repeat in the rounds after it.
	setClock(due)
	pushRounds(1)
	cards := cardsTo("lisi")
	if len(cards) != 1 {
		t.Fatalf("lisi got %d cards at the due time, want 1", len(cards))
	}
	pushRounds(2)
	if n := len(cardsTo("lisi")); n != 1 {
		t.Fatalf("lisi got %d cards after more rounds, want still 1", n)
	}
	var card sentCard
	if err := json.Unmarshal(cards[0].Raw, &card); err != nil {
		t.Fatal(err)
	}
	task := fmt.Sprintf("rem-%d-%d", r.ID, due.Unix())
	doneKey := fmt.Sprintf("rem:done:%d", r.ID)
	if card.TaskID != task || card.MainTitle.Title != "客户约定 · "+name ||
		card.MainTitle.Desc != "提醒时间 "+due.Format("01-02")+"（周三）14:00" || card.SubTitleText != wantText {
		t.Fatalf("card = %+v", card)
	}
	if !slices.Contains(card.Rows, cardRow{KeyName: "客户", Value: name}) {
		t.Fatalf("card rows %+v do not name the customer", card.Rows)
	}
	if len(card.Buttons) == 0 || card.Buttons[0].Text != "完成" || card.Buttons[0].Key != doneKey {
		t.Fatalf("card buttons = %+v, want 完成 first with key %s", card.Buttons, doneKey)
	}
	if sent, err := rs.FindReminderByID(ctx, r.ID); err != nil || sent.Status != store.ReminderSent {
		t.Fatalf("reminder after the push = %+v, %v", sent, err)
	}

	// 6. lisi presses 完成 ten minutes later: the reminder is done and lisi
	// is told so.
	setClock(due.Add(10 * time.Minute))
	pressAt := clock.Now()
	deliver(a.drv.SendWeCom, wecomtest.TemplateCardEvent("lisi", task, "button_interaction", doneKey, "simrc_e2e", pressAt))
	waitFor(t, "the reminder to be done", func() bool {
		got, err := rs.FindReminderByID(ctx, r.ID)
		return err == nil && got.Status == store.ReminderDone && got.DoneAt != nil && got.DoneAt.Equal(pressAt)
	})
	wantReply := fmt.Sprintf("已完成 ✅ **#%d** ", r.ID)
	waitFor(t, "the reply to the press", func() bool {
		for _, m := range sim.SentTo("lisi") {
			if m.MsgType == "markdown" && strings.HasPrefix(m.Content, wantReply) {
				return true
			}
		}
		return false
	})

	// 7. The customer card shows the reminder done, no longer open.
	deliver(a.drv.SendWeCom, wecomtest.AppText("lisi", "查 "+name, 24_600_000_002, clock.Now()))
	var view string
	waitFor(t, "the customer card", func() bool {
		for _, m := range sim.SentTo("lisi") {
			if m.MsgType == "markdown" && strings.HasPrefix(m.Content, "**"+name+"**") {
				view = m.Content
				return true
			}
		}
		return false
	})
	doneLine := pressAt.In(loc).Format("01-02 15:04") + " 完成提醒：客户 " + name + " 说“" + promise + "”"
	if !strings.Contains(view, "> 负责人：lisi\n") || !strings.Contains(view, doneLine) {
		t.Fatalf("customer card lacks the owner or the completed reminder %q:\n%s", doneLine, view)
	}
	if strings.Contains(view, "待办提醒") || strings.Contains(view, fmt.Sprintf("**#%d**", r.ID)) {
		t.Fatalf("customer card still lists the reminder as open:\n%s", view)
	}
	if n := len(cardsTo("lisi")); n != 1 {
		t.Fatalf("lisi got %d cards in all, want 1", n)
	}
}
