package main

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// attnApp is scrm over the simulator with a salesperson (李四, lisi) whose
// WeCom contact 赵敏 also writes on the Official Account, and their manager
// (赵主管, boss). The app's clock is the test's.
type attnApp struct {
	*simApp
	t     *testing.T
	sim   *wecomtest.Simulator
	clock *wecomtest.FakeClock
	wake  chan struct{}
	c     *store.Customer
	msgID atomic.Int64
}

const (
	attnOpenID = "oZhaoMin"
	attnName   = "赵敏"
)

func startAttnApp(t *testing.T, edit func(*config.Config)) *attnApp {
	t.Helper()
	clock := wecomtest.NewFakeClock(time.Now().Truncate(time.Second))
	start := clock.Now()
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	sim.AddStaff(wecomtest.Staff{UserID: "lisi", Name: "李四"})
	sim.AddStaff(wecomtest.Staff{UserID: "boss", Name: "赵主管"})
	added := start.Add(-20 * 24 * time.Hour) // past the new-contact cadence
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmZhaoMin", Name: attnName, UnionID: "uZhaoMin",
		Follow: []wecomtest.Follow{{UserID: "lisi", CreateTime: added}}})
	sim.AddOAFollower(wecomtest.OAFollower{OpenID: attnOpenID, UnionID: "uZhaoMin", SubscribeTime: start.Add(-time.Hour)})
	wake := make(chan struct{})
	a := startSimApp(t, sim, extensions{now: clock.Now, wakeReminders: wake}, func(cfg *config.Config) {
		cfg.OAAppID, cfg.OAAppSecret = wecomtest.SimOAAppID, wecomtest.SimOAAppSecret
		cfg.OAToken, cfg.OAAESKey, cfg.OAAPIBase = wecomtest.SimOAToken, wecomtest.SimOAAESKey, sim.URL
		cfg.AnalysisQuiet = time.Second
		cfg.BusinessHours = "always"
		if edit != nil {
			edit(cfg)
		}
	})
	ctx := context.Background()
	for _, s := range []*store.Staff{
		{ID: "boss", Name: "赵主管", Role: bot.RoleManager, Team: []string{"lisi"}, Active: true},
		{ID: "lisi", Name: "李四", Role: bot.RoleSales, Active: true},
	} {
		if err := a.store.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	e := &attnApp{simApp: a, t: t, sim: sim, clock: clock, wake: wake}
	e.msgID.Store(24_700_000_000)
	a.sendWeCom(t, wecomtest.ContactEvent("add_external_contact", "lisi", "wmZhaoMin", added, nil))
	a.sendOA(t, wecomtest.OASubscribe(attnOpenID, start.Add(-time.Minute)))
	waitFor(t, "the customer", func() bool {
		c, err := a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: attnOpenID})
		if err != nil || !slices.ContainsFunc(c.Follows, func(f store.Follow) bool { return f.StaffID == "lisi" }) {
			return false
		}
		e.c = c
		return true
	})
	return e
}

func (s *simApp) sendOA(t *testing.T, m wecomtest.Msg) {
	t.Helper()
	if d, err := s.drv.SendOA(context.Background(), m); err != nil || d.Status != 200 {
		t.Fatalf("deliver: %v %+v", err, d)
	}
}

// customerSays delivers an OA text from 赵敏 at the app's clock and waits
// until the pipeline has processed it.
func (e *attnApp) customerSays(text string) {
	e.t.Helper()
	done := true
	f := store.EventFilter{Channel: store.ChannelOA, Kind: "text", Processed: &done}
	before, _ := e.store.FindEvents(context.Background(), f)
	e.sendOA(e.t, wecomtest.OAText(attnOpenID, text, e.msgID.Add(1), e.clock.Now()))
	waitFor(e.t, "the OA text to be processed", func() bool {
		evs, err := e.store.FindEvents(context.Background(), f)
		return err == nil && len(evs) == len(before)+1
	})
}

// staffSays sends a command from staff and returns the bot's answer.
func (e *attnApp) staffSays(staff, text string) string {
	e.t.Helper()
	before := len(e.sim.SentTo(staff))
	e.sendWeCom(e.t, wecomtest.AppText(staff, text, e.msgID.Add(1), time.Now()))
	var got string
	waitFor(e.t, "the bot's answer to "+text, func() bool {
		ms := e.sim.SentTo(staff)
		for _, m := range ms[min(before, len(ms)):] {
			if m.MsgType != "template_card" {
				got = m.Content
				return true
			}
		}
		return false
	})
	return got
}

// analysed advances the clock past the quiet period and waits for the
// analysis of everything said so far.
func (e *attnApp) analysed() *store.Customer {
	e.t.Helper()
	ctx := context.Background()
	tl, err := e.store.FindTimeline(ctx, e.c.ID, 0, 1)
	if err != nil || len(tl) == 0 {
		e.e(err)
	}
	e.clock.Advance(2 * time.Second)
	var c *store.Customer
	waitFor(e.t, "the analysis", func() bool {
		c, err = e.store.FindCustomerByID(ctx, e.c.ID)
		return err == nil && c.Insight != nil && c.Insight.Through >= tl[0].ID
	})
	return c
}

func (e *attnApp) e(err error) { e.t.Helper(); e.t.Fatalf("timeline: %v", err) }

func (e *attnApp) reminders(staff string) []*store.Reminder {
	e.t.Helper()
	rs, err := e.store.(bot.SchedulerStore).FindReminders(context.Background(), store.ReminderFilter{StaffID: staff, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// pushRounds runs n full rounds of the scheduler at the clock's time.
func (e *attnApp) pushRounds(n int) {
	e.t.Helper()
	for range n + 1 {
		select {
		case e.wake <- struct{}{}:
		case <-time.After(20 * time.Second):
			e.t.Fatal("the scheduler did not take a wake-up")
		}
	}
}

// TestOffHoursAutoReplyMakesNoPromise: outside business hours 赵敏's message
// gets the automatic reply, which here says "明天上午9点…安排专人联系您" — a
// promise had a person said it. It is marked automatic on the timeline and
// the analysis reads it for nothing: no promise, no reminder, and 赵敏 still
// waits for an answer.
func TestOffHoursAutoReplyMakesNoPromise(t *testing.T) {
	const reply = "您好，现在是非工作时间，明天上午9点我们会安排专人联系您。"
	closed := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, 3).Weekday().String()[:3]
	e := startAttnApp(t, func(cfg *config.Config) {
		cfg.BusinessHours = "09:00-09:01 " + closed // open one minute, three days from now
		cfg.OffHoursMessage = reply
	})
	e.customerSays("在吗？")
	ctx := context.Background()
	var auto *store.TimelineEntry
	waitFor(t, "the automatic reply on the timeline", func() bool {
		tl, err := e.store.FindTimeline(ctx, e.c.ID, 0, 20)
		if err != nil {
			return false
		}
		for _, x := range tl {
			if x.Kind == store.EntryMessage && x.Direction == store.DirectionOut {
				auto = x
				return true
			}
		}
		return false
	})
	if auto.Text != reply || auto.Attrs[store.AttrAuto] != "true" || auto.StaffID != "" {
		t.Fatalf("automatic reply entry %+v", auto)
	}
	c := e.analysed()
	if rs := e.reminders("lisi"); slices.ContainsFunc(rs, func(r *store.Reminder) bool { return r.Kind == store.ReminderPromise }) {
		t.Fatalf("the automatic reply became a promise: %+v", rs)
	}
	if c.LastStaffTouchAt != nil && !c.LastStaffTouchAt.Before(*c.LastCustomerMsgAt) {
		t.Fatalf("the automatic reply counted as an answer: %+v", c)
	}
	if got := e.staffSays("lisi", "今天"); !strings.Contains(got, "等你回复") || !strings.Contains(got, attnName) {
		t.Fatalf("今天 after an automatic reply:\n%s", got)
	}
}

// TestStaffReplyPromiseIsAReminderAtOnce: 李四 answers with 回 and promises
// a visit; the reminder exists as soon as the reply is sent, long before
// the conversation would be analysed, and is listed in 今天.
func TestStaffReplyPromiseIsAReminderAtOnce(t *testing.T) {
	e := startAttnApp(t, func(cfg *config.Config) { cfg.AnalysisQuiet = time.Hour })
	e.customerSays("空调不制冷了，能派人来修吗？")
	got := e.staffSays("lisi", "回 赵敏 您好，明天上午安排工程师上门维修")
	if !strings.Contains(got, "已通过公众号回复") || !strings.Contains(got, "已记为提醒") {
		t.Fatalf("reply answer:\n%s", got)
	}
	rs := slices.DeleteFunc(e.reminders("lisi"), func(r *store.Reminder) bool { return r.Kind != store.ReminderPromise })
	if len(rs) != 1 || rs[0].CustomerID != e.c.ID || !strings.Contains(rs[0].Text, "工程师上门维修") {
		t.Fatalf("promise reminders %+v, want one for 赵敏", rs)
	}
	if sent := e.sim.SentTo(attnOpenID); len(sent) == 0 || sent[len(sent)-1].Content != "您好，明天上午安排工程师上门维修" {
		t.Fatalf("the customer got %+v", sent)
	}
}

// TestManagerTodayShowsCustomerWaiting: 赵敏 writes and nobody answers; the
// manager's 今天 names 李四 with a customer waiting, and 李四's own lists
// 赵敏. Once 李四 answers, nobody is waiting.
func TestManagerTodayShowsCustomerWaiting(t *testing.T) {
	e := startAttnApp(t, func(cfg *config.Config) { cfg.AnalysisQuiet = time.Hour })
	e.customerSays("请问上次的报价有效期到什么时候？")
	got := e.staffSays("boss", "今天")
	for _, want := range []string{"今天的计划", "团队待处理", "李四", "等回复 1 位", attnName} {
		if !strings.Contains(got, want) {
			t.Fatalf("manager's 今天 lacks %q:\n%s", want, got)
		}
	}
	if got := e.staffSays("lisi", "今天"); !strings.Contains(got, "等你回复") || !strings.Contains(got, attnName) {
		t.Fatalf("lisi's 今天:\n%s", got)
	}
	if got := e.staffSays("boss", "团队"); !strings.Contains(got, "待回复 1 · 逾期提醒 0") {
		t.Fatalf("manager's 团队:\n%s", got)
	}
	e.staffSays("lisi", "回 赵敏 报价本月底前有效")
	if got := e.staffSays("boss", "今天"); strings.Contains(got, "等回复") {
		t.Fatalf("manager's 今天 after the answer:\n%s", got)
	}
}

// TestUnhandledComplaintEscalatesOnce: 赵敏 complains; the analysis alerts
// 李四. Nobody handles it for SCRM_ALERT_ESCALATE_HOURS business hours, so
// the manager is told, once, however many rounds the scheduler runs.
func TestUnhandledComplaintEscalatesOnce(t *testing.T) {
	e := startAttnApp(t, func(cfg *config.Config) { cfg.AlertEscalateHours = 2 })
	e.customerSays("你们的产品质量太差了，修了三次还是坏的，我要投诉！")
	e.analysed()
	alerts := slices.DeleteFunc(e.reminders("lisi"), func(r *store.Reminder) bool { return r.Kind != store.ReminderSentiment })
	if len(alerts) != 1 {
		t.Fatalf("alerts for lisi: %+v", alerts)
	}
	// The card shows the analysis's sentiment as a label, never "负面 0%".
	card := e.staffSays("lisi", "查 赵敏")
	if !strings.Contains(card, "情绪：负面·") || strings.Contains(card, "%") {
		t.Fatalf("查 card:\n%s", card)
	}
	escalations := func() []*store.Reminder {
		return slices.DeleteFunc(e.reminders("boss"), func(r *store.Reminder) bool { return r.Kind != store.ReminderSentiment })
	}
	e.clock.Advance(time.Hour)
	e.pushRounds(2)
	if got := escalations(); len(got) != 0 {
		t.Fatalf("escalated within the window: %+v", got)
	}
	e.clock.Advance(90 * time.Minute)
	e.pushRounds(2)
	e.clock.Advance(time.Hour)
	e.pushRounds(2)
	got := escalations()
	if len(got) != 1 || got[0].CustomerID != e.c.ID || !strings.Contains(got[0].Text, "李四") || !strings.Contains(got[0].Text, "情绪预警") {
		t.Fatalf("escalations to boss: %+v, want one", got)
	}
	waitFor(t, "the manager's card", func() bool {
		for _, m := range e.sim.SentTo("boss") {
			if strings.Contains(m.Content, "情绪预警已超过") || strings.Contains(string(m.Raw), "情绪预警已超过") {
				return true
			}
		}
		return false
	})
}
