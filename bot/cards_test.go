package bot_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// pushed sets up 张三 (followed by lisi) with one reminder that has been
// pushed as a card, and returns it.
func rmPushed(t *testing.T, e *rmEnv) (*store.Customer, *store.Reminder) {
	t.Helper()
	c := e.customer("wmZ", "张三", "lisi", t0.Add(-time.Hour))
	r := e.reminder("promise:1", c.ID, "lisi", "客户约好今天回电", t0)
	rmPush(t, e.sched)
	if n := len(rmCards(e.sim.SentTo("lisi"))); n != 1 {
		t.Fatalf("%d cards pushed, want 1", n)
	}
	return c, e.get(r.ID)
}

func rmPress(staff string, r *store.Reminder, key string, at time.Time) wecomtest.Msg {
	return wecomtest.TemplateCardEvent(staff, rmTaskID(r), "button_interaction", key, "rc-"+fmt.Sprint(at.Unix()), at)
}

// press has lisi press button (done, snooze) on r's card at at, when the
// clock also stands, and runs the pipeline.
func (e *rmEnv) press(r *store.Reminder, button string, at time.Time) {
	e.t.Helper()
	e.clk.Set(at)
	e.deliver(rmPress("lisi", r, fmt.Sprint("rem:", button, ":", r.ID), at))
	e.run()
}

func TestDoneButtonClosesTheReminderOnce(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu")
	_, r := rmPushed(t, e)
	at := t0.Add(5 * time.Minute)
	e.clk.Set(at)
	m := rmPress("lisi", r, fmt.Sprint("rem:done:", r.ID), at)
	if !e.deliver(m) {
		t.Fatal("press not stored")
	}
	if e.deliver(m) {
		t.Fatal("a redelivered press was stored twice")
	}
	e.run()
	got := e.get(r.ID)
	if got.Status != store.ReminderDone {
		t.Fatalf("status %q after 完成", got.Status)
	}
	if n := len(rmMarkdowns(e.sim.SentTo("lisi"), "已完成")); n != 1 {
		t.Fatalf("%d confirmations, want 1", n)
	}
	// Reprocessing the stored press (a crash before the event was completed)
	// changes and sends nothing more.
	evs, _ := e.st.FindEvents(context.Background(), store.EventFilter{Kind: "event.template_card_event"})
	if err := e.cards.Process(context.Background(), evs[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.SentTo("lisi")); n != 2 {
		t.Fatalf("%d messages to lisi after reprocessing, want card + confirmation", n)
	}
	// The customer card shows the completed reminder.
	card := e.say("lisi", "查 张三")
	if !strings.Contains(card, "完成提醒：客户约好今天回电") {
		t.Fatalf("customer card does not show the completion:\n%s", card)
	}
	if strings.Contains(card, "待办提醒") {
		t.Fatalf("customer card still lists the reminder as open:\n%s", card)
	}
}

func TestSnoozeButtonPostponesOneDayOnce(t *testing.T) {
	e := newRmEnv(t, "lisi")
	_, r := rmPushed(t, e)
	at := t0.Add(10 * time.Minute)
	e.press(r, "snooze", at)
	want := r.DueAt.Add(24 * time.Hour)
	got := e.get(r.ID)
	if !got.DueAt.Equal(want) || got.Status != store.ReminderPending {
		t.Fatalf("after 推迟一天: due %v status %q, want %v pending", got.DueAt, got.Status, want)
	}
	ctx := context.Background()
	evs, _ := e.st.FindEvents(ctx, store.EventFilter{Kind: "event.template_card_event"})
	// A crash after the plan was recorded and applied, before the press was
	// marked done: the rerun applies the same time, not another day.
	if err := e.st.SetMarker(ctx, store.MarkCardPress, evs[0].DedupKey, fmt.Sprint("snooze:", want.Unix()), at); err != nil {
		t.Fatal(err)
	}
	if err := e.cards.Process(ctx, evs[0]); err != nil {
		t.Fatal(err)
	}
	if got := e.get(r.ID); !got.DueAt.Equal(want) {
		t.Fatalf("reprocessed press moved the reminder to %v", got.DueAt)
	}
	// A second press on the same (now stale) card does not postpone again.
	e.deliver(rmPress("lisi", r, fmt.Sprint("rem:snooze:", r.ID), at.Add(time.Minute)))
	e.run()
	if got := e.get(r.ID); !got.DueAt.Equal(want) {
		t.Fatalf("second press on the old card moved the reminder to %v", got.DueAt)
	}
	if n := len(rmMarkdowns(e.sim.SentTo("lisi"), "无需再推迟")); n != 1 {
		t.Fatalf("stale press not explained (%d)", n)
	}
	// The next day it is pushed again, as a new card.
	e.clk.Set(want)
	rmPush(t, e.sched)
	cs := rmCards(e.sim.SentTo("lisi"))
	if len(cs) != 2 || !strings.Contains(string(cs[1].Raw), rmTaskID(e.get(r.ID))) {
		t.Fatalf("%d cards after the postponed time, want the second push", len(cs))
	}
}

func TestViewButtonAndForeignPresses(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu")
	c, r := rmPushed(t, e)
	cases := []struct {
		name, staff, key, want string
		status                 string
	}{
		{"view sends the customer card", "lisi", "rem:view:" + c.ID, "张三", store.ReminderSent},
		{"another salesperson cannot complete it", "wangwu", fmt.Sprint("rem:done:", r.ID), "不属于你", store.ReminderSent},
		{"another salesperson cannot postpone it", "wangwu", fmt.Sprint("rem:snooze:", r.ID), "不属于你", store.ReminderSent},
		{"another salesperson cannot view the customer", "wangwu", "rem:view:" + c.ID, "不在你的可见范围", store.ReminderSent},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.sim.SentTo(tc.staff))
			e.deliver(rmPress(tc.staff, r, tc.key, t0.Add(time.Duration(i+1)*time.Minute)))
			e.run()
			got := e.sim.SentTo(tc.staff)
			if len(got) != before+1 || !strings.Contains(got[len(got)-1].Content, tc.want) {
				t.Fatalf("reply %+v, want one containing %q", got[before:], tc.want)
			}
			if tc.staff != "lisi" && strings.Contains(got[len(got)-1].Content, "阶段") {
				t.Fatalf("customer card leaked to %s", tc.staff)
			}
			if st := e.get(r.ID).Status; st != tc.status {
				t.Fatalf("status %q, want %q", st, tc.status)
			}
		})
	}
}

// TestCardButtonsAreTheCoreActions: 完成 and 推迟一天 on a pushed card
// are CompleteReminder and PostponeReminder: each leaves its audit entry
// and a timeline entry of the reminder actions' schema, with source bot.
func TestCardButtonsAreTheCoreActions(t *testing.T) {
	ctx := context.Background()
	e := newRmEnv(t, "lisi")
	c, r := rmPushed(t, e)
	at := t0.Add(10 * time.Minute)
	e.press(r, "snooze", at)
	e.press(r, "done", at.Add(time.Minute))
	audits, err := e.st.FindAudit(ctx, c.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range audits {
		got = append(got, a.Actor+":"+a.Action+":"+strings.Fields(a.Detail)[0])
	}
	if want := "lisi:reminder_done:source=bot lisi:reminder_postpone:source=bot"; strings.Join(got, " ") != want {
		t.Errorf("audit %q, want %q", strings.Join(got, " "), want)
	}
	es, err := e.st.FindTimeline(ctx, c.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]bool{}
	for _, en := range es {
		if en.Kind == store.EntryReminder && en.Attrs["source"] == "bot" && en.Attrs["by"] == "lisi" && en.Attrs["reminder_id"] == fmt.Sprint(r.ID) {
			changes[en.Attrs["change"]] = true
		}
	}
	if !changes["postpone"] || !changes["done"] {
		t.Errorf("timeline changes %v, want postpone and done entries", changes)
	}
}
