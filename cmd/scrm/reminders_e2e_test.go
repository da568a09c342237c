package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestReminderCardEndToEnd runs scrm as `serve` does against the simulated
// corp: a due reminder reaches its salesperson as one card, pressing 完成 on
// it (a template_card_event callback) closes it, and the customer card the
// bot sends for "查 张三" shows it done.
func TestReminderCardEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() }) // after the app stops (cleanups run last first)
	sim.AddStaff(wecomtest.Staff{UserID: "lisi", Name: "李四"})
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmZhang", Name: "张三",
		Follow: []wecomtest.Follow{{UserID: "lisi", CreateTime: time.Now().Add(-time.Hour)}}})

	a := startSimApp(t, sim, extensions{}, nil)
	ctx := context.Background()
	var err error
	send := func(m wecomtest.Msg) { t.Helper(); a.sendWeCom(t, m) }

	// The customer adds lisi; scrm creates 张三 from the profile.
	send(wecomtest.ContactEvent("add_external_contact", "lisi", "wmZhang", time.Now(), nil))
	var c *store.Customer
	waitFor(t, "the customer", func() bool {
		c, err = a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZhang"})
		return err == nil && c.Name == "张三"
	})
	rs := a.store.(bot.SchedulerStore)
	r := &store.Reminder{Key: "e2e:1", CustomerID: c.ID, StaffID: "lisi", Kind: store.ReminderPromise,
		Text: "客户说下周三下午再联系", DueAt: time.Now().Add(-time.Second)}
	if _, err := rs.CreateReminder(ctx, r); err != nil {
		t.Fatal(err)
	}
	task := fmt.Sprintf("rem-%d-%d", r.ID, r.DueAt.Unix())
	ours := func() []wecomtest.SentMessage {
		var out []wecomtest.SentMessage
		for _, m := range sim.SentTo("lisi") {
			if strings.Contains(string(m.Raw), `"task_id":"`+task+`"`) {
				out = append(out, m)
			}
		}
		return out
	}
	waitFor(t, "the reminder card", func() bool { return len(ours()) > 0 })

	send(wecomtest.TemplateCardEvent("lisi", task, "button_interaction", fmt.Sprint("rem:done:", r.ID), "rc1", time.Now()))
	waitFor(t, "the reminder to be done", func() bool {
		got, err := rs.FindReminderByID(ctx, r.ID)
		return err == nil && got.Status == store.ReminderDone
	})
	send(wecomtest.AppText("lisi", "查 张三", 77_000_001, time.Now()))
	var card string
	waitFor(t, "the customer card", func() bool {
		for _, m := range sim.SentTo("lisi") {
			if m.MsgType == "markdown" && strings.Contains(m.Content, "最近动态") {
				card = m.Content
				return true
			}
		}
		return false
	})
	if !strings.Contains(card, "完成提醒：客户说下周三下午再联系") {
		t.Fatalf("customer card does not show the completed reminder:\n%s", card)
	}
	// Several poll rounds later the card has still gone out once.
	time.Sleep(6 * time.Second)
	if n := len(ours()); n != 1 {
		t.Fatalf("the reminder reached lisi %d times, want 1", n)
	}
}
