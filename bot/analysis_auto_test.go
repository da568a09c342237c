package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// TestAnalysisIgnoresBotAnswersForPromises: the off-hours answer the bot
// sends names the business hours and says "我们会尽快回复您"; read as a
// staff promise it reminded the owner of a commitment nobody made (found by
// cmd/scrm's TestOAPromiseEndToEnd in the evening). The same words typed by
// a salesperson are still a promise.
func TestAnalysisIgnoresBotAnswersForPromises(t *testing.T) {
	const offHours = "您好，现在是非工作时间（工作日 9:00-18:00），我们会尽快回复您。"
	ctx := context.Background()
	e := newAnEnv(t, anConfig{})
	e.clock.Add(10 * time.Hour) // Tuesday 20:00, after hours
	c := e.customer(t, "o-auto", "张三", "zhangwei")
	e.say(t, c, store.DirectionIn, "在吗？")
	// As bot.Answerer records its answer.
	if _, err := e.st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: c.ID, SourceKey: "bot-answer:test",
		Kind: store.EntryMessage, Channel: store.ChannelOA, Direction: store.DirectionOut, Text: offHours,
		Attrs: map[string]string{"by": "bot", "auto": "offhours"}, At: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, 3)
	if as := e.analyses(t, c.ID); len(as) != 1 || as[0].Attrs["messages"] != "2" {
		t.Fatalf("analyses = %+v, want one over both messages", as)
	}
	if rs := e.reminders(t, c.ID); len(rs) != 0 {
		t.Fatalf("the bot's answer made reminders: %+v", rs)
	}

	e.say(t, c, store.DirectionOut, offHours)
	e.runDue(t, 3)
	if rs := e.reminders(t, c.ID); len(rs) != 1 || rs[0].StaffID != "zhangwei" || rs[0].Kind != store.ReminderPromise {
		t.Fatalf("a salesperson's own words: reminders = %+v, want one promise for zhangwei", rs)
	}
}

// TestAnalysisSkipsMessagesMarkedAutomatic: a message scrm sent on its own
// carries auto="true" (store.AttrAuto) and nothing else tells it apart
// from staff's words; the analysis must not read it for a promise, nor take
// it for a staff reply that moves a lead on.
func TestAnalysisSkipsMessagesMarkedAutomatic(t *testing.T) {
	ctx := context.Background()
	e := newAnEnv(t, anConfig{apply: true})
	c := e.customer(t, "o-auto2", "李四", "zhangwei")
	e.say(t, c, store.DirectionIn, "你们的产品怎么卖？")
	if _, err := e.st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: c.ID, SourceKey: "bot-answer:auto2",
		Kind: store.EntryMessage, Channel: store.ChannelOA, Direction: store.DirectionOut,
		Text:  "您好，明天上午我们会安排专人给您发报价单。",
		Attrs: map[string]string{store.AttrAuto: "true"}, At: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, 3)
	as := e.analyses(t, c.ID)
	if len(as) != 1 {
		t.Fatalf("analyses = %+v, want one", as)
	}
	if rs := e.reminders(t, c.ID); len(rs) != 0 {
		t.Fatalf("an automatic message made reminders: %+v", rs)
	}
	if as[0].Attrs["proposed_stage"] != "" || e.load(t, c.ID).Stage == store.StageActive {
		t.Fatalf("an automatic answer counted as a staff reply: %+v", as[0].Attrs)
	}
}

// TestAnalysisDoesNotReReadPromisesReadAtSend: a staff message whose
// promises became reminders when it was sent is marked; the analysis of the
// conversation must not make a second reminder of the same promise.
func TestAnalysisDoesNotReReadPromisesReadAtSend(t *testing.T) {
	e := newAnEnv(t, anConfig{})
	c := e.customer(t, "o-read", "王五", "zhangwei")
	e.say(t, c, store.DirectionIn, "空调不制冷了")
	e.say(t, c, store.DirectionOut, "明天上午安排工程师上门维修")
	ctx := context.Background()
	if _, err := e.st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: c.ID, SourceKey: "inbox:reply:read",
		Kind: store.EntryMessage, Channel: store.ChannelOA, Direction: store.DirectionOut, StaffID: "zhangwei",
		Text: "后天下午给您回电话确认", Attrs: map[string]string{bot.AttrPromisesRead: "true"}, At: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.runDue(t, 3)
	rs := e.reminders(t, c.ID)
	if len(rs) != 1 || !strings.Contains(rs[0].Text, "工程师") {
		t.Fatalf("reminders = %+v, want only the unmarked message's promise", rs)
	}
}
