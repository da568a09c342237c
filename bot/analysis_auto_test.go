package bot_test

import (
	"context"
	"testing"
	"time"

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
