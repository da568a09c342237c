package bot_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// jnEnv is one scrm instance's journeys over a real SQLite store, the
// WeCom simulator on the test's clock (which the mass messages' monthly cap
// reads too) and business hours Mon–Fri 09:00–18:00 in Asia/Shanghai.
type jnEnv struct {
	t        *testing.T
	st       *sqlite.DB
	sim      *wecomtest.Simulator
	api      *wecom.APIClient
	clk      *testClock
	core     *bot.Core // the API's: campaigns wired to the simulator
	journeys *bot.Journeys
	pipe     *bot.Pipeline
	sched    *bot.Scheduler
	admin    bot.Actor
}

// jnProfiles names the customers; 王五 also follows the Official Account,
// joined to his WeCom contact by his unionid.
var jnProfiles = profiles{
	"wmA": {Name: "张三"}, "wmB": {Name: "王五", UnionID: "uB"}, "oB": {Name: "王五", UnionID: "uB"}, "wmC": {Name: "刘备"},
	"wmD": {Name: "关羽"}, "wmE": {Name: "张飞"}, "wmF": {Name: "曹操"}, "wmX": {Name: "孙权"}, "wmY": {Name: "周瑜"},
}

func newJnEnv(t *testing.T, start time.Time, monthlyCap int) *jnEnv {
	t.Helper()
	e := &jnEnv{t: t, st: openStore(t), clk: newTestClock(start)}
	e.sim = wecomtest.NewSimulator(wecomtest.SimConfig{Now: e.clk.Now})
	t.Cleanup(func() { e.sim.Close() })
	e.sim.AddStaff(wecomtest.Staff{UserID: "lisi", Name: "李四"})
	putStaff(t, e.st, &store.Staff{ID: "lisi", Name: "李四", Role: bot.RoleSales, Active: true})
	e.api = simClient(t, e.sim, nil)
	e.core = bot.NewCore(e.st, e.clk.Now)
	e.core.SetCampaigns(e.api, bot.CampaignOptions{MonthlyCap: monthlyCap, Location: rmLoc, Messenger: rmPusher{e.api}})
	hours, err := config.ParseBusinessHours("09:00-18:00 Mon-Fri", rmLoc)
	if err != nil {
		t.Fatal(err)
	}
	e.journeys = e.engine(e.st, hours)
	e.pipe = bot.NewPipeline(e.st, bot.PipelineOptions{Owner: "pipe", Now: e.clk.Now}, bot.NewCustomers(e.st, jnProfiles),
		bot.NewChannelAttribution(e.st, nil), bot.NewOptOutDetector(e.st, bot.NewCore(e.st, e.clk.Now)),
		bot.NewCadence(e.st, bot.CadenceOptions{Now: e.clk.Now}), e.journeys)
	if e.sched, err = bot.NewScheduler(e.st, bot.StaticDirectory{}, rmPusher{e.api}, bot.SchedulerOptions{Owner: "sched", Location: rmLoc,
		Now: e.clk.Now, Journeys: e.journeys}); err != nil {
		t.Fatal(err)
	}
	e.admin = bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}
	return e
}

// engine is another instance's journey engine over st.
func (e *jnEnv) engine(st bot.ActionStore, hours bot.Hours) *bot.Journeys {
	e.t.Helper()
	j, err := bot.NewJourneys(st, bot.JourneyOptions{Location: rmLoc, Hours: hours, Now: e.clk.Now, Logger: ibQuiet()})
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *jnEnv) journey(req bot.JourneyRequest) *store.Journey {
	e.t.Helper()
	req.Enabled = true
	j, _, err := e.core.CreateJourney(context.Background(), e.admin, req)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// add has customer ext add lisi at the clock's time, through the channel
// whose state is given ("" for none), in WeCom and in scrm.
func (e *jnEnv) add(ext, state string) *store.Customer {
	e.t.Helper()
	e.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: jnProfiles[ext].Name,
		Follow: []wecomtest.Follow{{UserID: "lisi", CreateTime: e.clk.Now(), State: state}}})
	extra := map[string]string{}
	if state != "" {
		extra["State"] = state
	}
	storeCallback(e.t, e.st, e.clk.Now(), wecomtest.ContactEvent("add_external_contact", "lisi", ext, e.clk.Now(), extra))
	e.runPipeline()
	return e.customer(ext)
}

func (e *jnEnv) customer(ext string) *store.Customer {
	e.t.Helper()
	c, err := e.st.FindCustomerByIdentity(context.Background(), store.Identity{Kind: store.IdentityExternalUserID, Value: ext})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *jnEnv) runPipeline() {
	e.t.Helper()
	drain(e.t, e.pipe.RunOnce)
}

// tick is one instance's round at the clock's time: the due runs advance,
// the campaign jobs their steps scheduled create their tasks.
func (e *jnEnv) tick() {
	e.t.Helper()
	drain(e.t, e.journeys.RunDue)
	r := bot.NewJobRunner(e.st, bot.CampaignJobKind, e.core.HandleCampaignJob, bot.RunnerOptions{Owner: "jobs", Now: e.clk.Now})
	drain(e.t, r.RunOnce)
}

// until moves the clock on an hour at a time to t, ticking at each hour.
func (e *jnEnv) until(t time.Time) {
	e.t.Helper()
	for at := e.clk.Now().Add(time.Hour); !at.After(t); at = at.Add(time.Hour) {
		e.clk.Set(at)
		e.tick()
	}
	e.clk.Set(t)
	e.tick()
}

func (e *jnEnv) runs(f store.JourneyRunFilter) []*store.JourneyRun {
	e.t.Helper()
	rs, err := e.st.FindJourneyRuns(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// run is the one run of customer c, with its state and exit reason.
func (e *jnEnv) run(c *store.Customer) *store.JourneyRun {
	e.t.Helper()
	rs := e.runs(store.JourneyRunFilter{CustomerID: c.ID})
	if len(rs) != 1 {
		e.t.Fatalf("%s has %d runs, want 1", c.Name, len(rs))
	}
	return rs[0]
}

func (e *jnEnv) reminders(c *store.Customer) []*store.Reminder {
	e.t.Helper()
	rs, err := e.st.FindReminders(context.Background(), store.ReminderFilter{CustomerID: c.ID, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

func (e *jnEnv) journeyCampaigns(runs ...*store.JourneyRun) []*store.Campaign {
	e.t.Helper()
	var out []*store.Campaign
	for _, r := range runs {
		for _, l := range r.Log {
			if id, ok := strings.CutPrefix(l.Result, "campaign:"); ok {
				cp, err := e.st.FindCampaignByID(context.Background(), id)
				if err != nil {
					e.t.Fatal(err)
				}
				out = append(out, cp)
			}
		}
	}
	return out
}

func cst(month time.Month, day, hour, minute int) time.Time {
	return time.Date(2026, month, day, hour, minute, 0, 0, rmLoc)
}

// TestJourneyForChannelCustomersAtBusinessTimes is the acceptance case of
// issue 16: a journey for new customers from one channel runs its steps at
// the right business times on an injected clock (the greeting after a
// Friday-night add waits for Monday 09:00; two business days after the
// Friday, past the weekend, the mass message on Tuesday at 10:00; the next
// business day the second reminder), stops when the customer replies (on the Official Account
// they also follow: at once; in a WeCom chat only the archive sees: at the
// run's next step), and sends nothing to an opted-out customer (opted out
// through the API: at once; the flag found at the next step otherwise).
// An add through another channel starts nothing.
func TestJourneyForChannelCustomersAtBusinessTimes(t *testing.T) {
	ctx := context.Background()
	e := newJnEnv(t, cst(11, 27, 21, 0), 4) // Friday 21:00
	expo := &store.Channel{ID: "ch_expo", Name: "展会", Kind: store.ChannelKindContactWay, State: "expo", CreatedAt: e.clk.Now()}
	if err := e.st.CreateChannel(ctx, expo); err != nil {
		t.Fatal(err)
	}
	j := e.journey(bot.JourneyRequest{Name: "展会新客", Trigger: store.JourneyTrigger{Type: store.TriggerNewCustomer, Channel: expo.ID},
		Steps: []store.JourneyStep{
			{Type: store.StepRemind, Text: "欢迎#客户昵称#：打个招呼", Script: "#客户昵称#您好，我是#员工姓名#，很高兴在展会认识您"},
			{Type: store.StepWait, Days: 2},
			{Type: store.StepMessage, Text: "您好，这是展会资料，请查收。"},
			{Type: store.StepWait, Days: 1},
			{Type: store.StepRemind, Text: "确认#客户昵称#是否看了资料"},
		},
		Exit: store.JourneyExit{OnReply: true}})

	a, b, c, d, x := e.add("wmA", "expo"), e.add("wmB", "expo"), e.add("wmC", "expo"), e.add("wmD", "expo"), e.add("wmE", "expo")
	other := e.add("wmF", "other-code")
	e.tick()
	if rs := e.runs(store.JourneyRunFilter{JourneyID: j.ID, State: store.RunActive}); len(rs) != 5 {
		t.Fatalf("%d active runs, want 5 (the adds through the expo code)", len(rs))
	}
	if rs := e.runs(store.JourneyRunFilter{CustomerID: other.ID}); len(rs) != 0 {
		t.Fatalf("an add through another code started %d runs", len(rs))
	}
	if rs := e.reminders(a); len(rs) != 0 {
		t.Fatalf("a greeting at Friday 21:00: %+v", rs)
	}

	// Saturday: 关羽 is opted out through the API; 张飞's flag is set
	// behind the core's back (an import), so only the run's own check at
	// its next step can stop it.
	e.until(cst(11, 28, 10, 0))
	yes := true
	if _, err := e.core.EditCustomer(ctx, e.admin, bot.CustomerEdit{CustomerID: d.ID, OptOut: &yes}); err != nil {
		t.Fatal(err)
	}
	if r := e.run(d); r.State != store.RunExited || r.ExitReason != bot.ExitOptedOut {
		t.Fatalf("opted-out run %s/%s, want exited at once", r.State, r.ExitReason)
	}
	if _, err := e.st.UpdateCustomer(ctx, x.ID, store.CustomerUpdate{Fields: map[string]string{store.FieldOptOut: "true"}, Now: e.clk.Now()}); err != nil {
		t.Fatal(err)
	}

	// Monday 09:00, the start of the next working day: the greetings.
	e.until(cst(11, 30, 8, 0))
	if rs := e.reminders(a); len(rs) != 0 {
		t.Fatalf("greeting before the working day: %+v", rs)
	}
	e.until(cst(11, 30, 9, 0))
	for _, cu := range []*store.Customer{a, b, c} {
		rs := e.reminders(cu)
		if len(rs) != 1 || !rs[0].DueAt.Equal(cst(11, 30, 9, 0)) || rs[0].StaffID != "lisi" || rs[0].Kind != store.ReminderCadence {
			t.Fatalf("%s's greeting: %+v, want one due Monday 09:00", cu.Name, rs)
		}
	}
	if rs := e.reminders(a); rs[0].Text != "欢迎张三：打个招呼" || rs[0].Script != "张三您好，我是李四，很高兴在展会认识您" {
		t.Fatalf("greeting %q, script %q: want them personalised", rs[0].Text, rs[0].Script)
	}
	if r := e.run(x); r.State != store.RunExited || r.ExitReason != bot.ExitOptedOut || len(e.reminders(x)) != 0 {
		t.Fatalf("run of a customer opted out behind the core's back: %s/%s, %d reminders", r.State, r.ExitReason, len(e.reminders(x)))
	}
	if len(e.reminders(d)) != 0 {
		t.Fatal("an opted-out customer's salesperson was reminded")
	}

	// Monday 11:00: 王五 writes on the Official Account: his run ends now.
	e.until(cst(11, 30, 11, 0))
	appendEvents(t, e.st, oaText("oB", "好的，资料我看看", "b1", e.clk.Now()))
	e.runPipeline()
	if r := e.run(b); r.State != store.RunExited || r.ExitReason != bot.ExitReplied || r.EndedAt == nil || !r.EndedAt.Equal(e.clk.Now()) {
		t.Fatalf("run after the reply: %+v, want exited (replied) at once", r)
	}
	// Monday 15:00: 刘备 answers in a WeCom chat, which only the chat
	// archive records (on the customer, not as an event).
	e.until(cst(11, 30, 15, 0))
	if _, err := e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wmC"},
		CustomerAt: e.clk.Now(), Now: e.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if len(e.sim.GroupMsgs()) != 0 {
		t.Fatal("a message before its day")
	}

	// Two business days after Friday: Tuesday 10:00, the message.
	e.until(cst(12, 1, 9, 0))
	if n := len(e.sim.GroupMsgs()); n != 0 {
		t.Fatalf("%d messages before 10:00", n)
	}
	e.until(cst(12, 1, 10, 0))
	msgs := e.sim.GroupMsgs()
	if len(msgs) != 1 || msgs[0].Creator != "lisi" || len(msgs[0].Recipients) != 1 || msgs[0].Recipients[0].ExternalUserID != "wmA" ||
		msgs[0].Text != "您好，这是展会资料，请查收。" {
		t.Fatalf("mass messages %+v, want one to 张三 alone", msgs)
	}
	cps := e.journeyCampaigns(e.run(a))
	if len(cps) != 1 || !cps[0].CreatedAt.Equal(cst(12, 1, 10, 0)) || cps[0].JourneyID != j.ID || cps[0].Status != store.CampaignSent ||
		cps[0].Report.Targeted != 1 {
		t.Fatalf("the message's campaign %+v", cps)
	}
	if r := e.run(c); r.State != store.RunExited || r.ExitReason != bot.ExitReplied {
		t.Fatalf("run of the customer who answered in a chat: %s/%s", r.State, r.ExitReason)
	}
	// lisi confirms in WeCom; the result lands on 张三's timeline.
	if !e.sim.ConfirmGroupMsg(msgs[0].MsgID) {
		t.Fatal("confirm failed")
	}
	if _, err := e.core.SyncCampaign(ctx, cps[0].ID); err != nil {
		t.Fatal(err)
	}
	tl, err := e.st.FindTimeline(ctx, a.ID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(tl, func(en *store.TimelineEntry) bool { return en.Text == "收到群发「旅程「展会新客」」" }) {
		t.Error("the delivered message is not on the timeline")
	}

	// The next business day, Wednesday 10:00: the last reminder; done.
	e.until(cst(12, 2, 9, 0))
	if len(e.reminders(a)) != 1 {
		t.Fatal("the last reminder came early")
	}
	e.until(cst(12, 8, 10, 0))
	rs := e.reminders(a)
	if len(rs) != 2 || !rs[1].DueAt.Equal(cst(12, 2, 10, 0)) || rs[1].Text != "确认张三是否看了资料" {
		t.Fatalf("张三's reminders %+v, want the second due Wednesday 10:00", rs)
	}
	if r := e.run(a); r.State != store.RunDone || len(r.Log) != 3 {
		t.Fatalf("张三's run %+v, want done after three steps", r)
	}
	for _, cu := range []*store.Customer{b, c} {
		if n := len(e.reminders(cu)); n != 1 {
			t.Errorf("%s got %d reminders, want the greeting alone", cu.Name, n)
		}
	}
	if n := len(e.sim.GroupMsgs()); n != 1 {
		t.Fatalf("%d mass messages in all, want 张三's alone", n)
	}
	var one bot.JourneyView
	if v, err := e.core.Journey(ctx, e.admin, j.ID); err != nil {
		t.Fatal(err)
	} else {
		one = *v
	}
	if one.Runs != (store.JourneyRunCounts{Done: 1, Exited: 4}) {
		t.Fatalf("run counts %+v", one.Runs)
	}
}

// TestJourneyMessageOnceWhateverRuns: the mass message of a journey's step
// reaches WeCom once though two instances advance the run at the same
// moment, the step runs again after a crash, and two instances race for the
// campaign's job.
func TestJourneyMessageOnceWhateverRuns(t *testing.T) {
	ctx := context.Background()
	e, cu := newWelcomeMessageEnv(t)
	other := e.engine(e.st, nil)
	var wg sync.WaitGroup
	for _, j := range []*bot.Journeys{e.journeys, other, e.journeys, other} {
		wg.Go(func() {
			if _, err := j.RunDue(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	r := e.run(cu)
	if r.State != store.RunDone || len(r.Log) != 1 {
		t.Fatalf("run %+v, want done after one step", r)
	}
	// A crash before the step's write: the run is found mid-step again.
	r.State, r.Step, r.Phase, r.EndedAt, r.Log, r.NextAt = store.RunActive, 0, store.RunCalling, nil, nil, e.clk.Now()
	if err := e.st.UpdateJourneyRun(ctx, r, r.Version); err != nil {
		t.Fatal(err)
	}
	drain(t, other.RunDue)
	if r := e.run(cu); r.State != store.RunDone || len(r.Log) != 1 {
		t.Fatalf("run after the repeat %+v", r)
	}
	cps := e.journeyCampaigns(e.run(cu))
	if len(cps) != 1 {
		t.Fatalf("%d campaigns", len(cps))
	}
	// Two instances' job runners race for the campaign; then it runs again.
	var runners []*bot.JobRunner
	for _, owner := range []string{"a", "b"} {
		core := bot.NewCore(e.st, e.clk.Now)
		core.SetCampaigns(e.api, bot.CampaignOptions{Location: rmLoc})
		runners = append(runners, bot.NewJobRunner(e.st, bot.CampaignJobKind, core.HandleCampaignJob, bot.RunnerOptions{Owner: owner, Now: e.clk.Now}))
	}
	for _, r := range runners {
		wg.Go(func() {
			if _, err := r.RunOnce(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := e.core.HandleCampaignJob(ctx, &store.Job{Key: "campaign:" + cps[0].ID, Kind: bot.CampaignJobKind, Payload: cps[0].ID}); err != nil {
		t.Fatal(err)
	}
	if msgs := e.sim.GroupMsgs(); len(msgs) != 1 || len(msgs[0].Recipients) != 1 {
		t.Fatalf("%d add_msg_template in WeCom, want 1: %+v", len(msgs), msgs)
	}
	if list, err := e.core.Campaigns(ctx, e.admin); err != nil || len(list) != 0 {
		t.Fatalf("the campaign list shows %d journey campaigns", len(list))
	}
}

// failingRuns fails its failOn-th run write and every one after, as an
// instance that dies there leaves the run.
type failingRuns struct {
	*sqlite.DB
	failOn int32
	writes atomic.Int32
}

func (f *failingRuns) UpdateJourneyRun(ctx context.Context, r *store.JourneyRun, version int64) error {
	if f.writes.Add(1) >= f.failOn {
		return errors.New("connection lost")
	}
	return f.DB.UpdateJourneyRun(ctx, r, version)
}

// TestJourneyResumesAfterARestart: an instance dies after a step's
// reminder but before the step is written; once its claim lapses another
// instance takes the run up where it was — the reminder is not made twice —
// and finishes it on the business days planned.
func TestJourneyResumesAfterARestart(t *testing.T) {
	ctx := context.Background()
	e := newJnEnv(t, cst(12, 1, 10, 0), 0) // Tuesday
	e.journey(bot.JourneyRequest{Name: "两步", Trigger: store.JourneyTrigger{Type: store.TriggerNewCustomer},
		Steps: []store.JourneyStep{{Type: store.StepRemind, Text: "第一步"}, {Type: store.StepWait, Days: 1}, {Type: store.StepRemind, Text: "第二步"}}})
	cu := e.add("wmA", "")
	// The first instance claims the run (write 1), makes the reminder and
	// dies before writing the step (write 2).
	first := e.engine(&failingRuns{DB: e.st, failOn: 2}, nil)
	if _, err := first.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	r := e.run(cu)
	if r.Phase != store.RunCalling || r.Step != 0 || len(r.Log) != 0 {
		t.Fatalf("run left by the dead instance %+v, want mid-step 0", r)
	}
	if n := len(e.reminders(cu)); n != 1 {
		t.Fatalf("%d reminders after the first step", n)
	}

	// Another instance: nothing until the claim lapses.
	second := e.engine(e.st, nil)
	if n, err := second.RunDue(ctx); err != nil || n != 0 {
		t.Fatalf("a claimed run was taken over at once: %d, %v", n, err)
	}
	e.clk.Add(3 * time.Minute)
	drain(t, second.RunDue)
	if rs := e.reminders(cu); len(rs) != 1 || rs[0].Text != "第一步" {
		t.Fatalf("reminders after the restart %+v, want the first alone", rs)
	}
	r = e.run(cu)
	if r.State != store.RunActive || r.Step != 2 || r.Phase != "" || !r.NextAt.Equal(cst(12, 2, 10, 0)) || len(r.Log) != 1 {
		t.Fatalf("run after the restart %+v, want waiting for Wednesday 10:00 after one step", r)
	}
	e.clk.Set(cst(12, 2, 10, 0))
	drain(t, second.RunDue)
	if rs := e.reminders(cu); len(rs) != 2 || rs[1].Text != "第二步" {
		t.Fatalf("reminders %+v", rs)
	}
	if r := e.run(cu); r.State != store.RunDone || len(r.Log) != 2 {
		t.Fatalf("run %+v, want done after two steps", r)
	}
}

// TestCompanyCapCountsJourneysAndCampaigns: the company's monthly cap per
// customer (here 2) counts the mass messages of campaigns and of journeys
// together, whichever comes first.
func TestCompanyCapCountsJourneysAndCampaigns(t *testing.T) {
	ctx := context.Background()
	e := newJnEnv(t, cst(12, 1, 10, 0), 2)
	j := e.journey(bot.JourneyRequest{Name: "关怀", Trigger: store.JourneyTrigger{Type: store.TriggerTagAdded, Tag: "关怀"},
		Steps: []store.JourneyStep{{Type: store.StepMessage, Text: "天冷了，注意保暖"}}})
	x, y := e.add("wmX", ""), e.add("wmY", "")
	for _, cu := range []*store.Customer{x, y} {
		if _, err := e.core.EditTags(ctx, e.admin, bot.TagsRequest{CustomerID: cu.ID, Add: []string{"VIP"}}); err != nil {
			t.Fatal(err)
		}
	}
	campaign := func(key string) *store.Campaign {
		t.Helper()
		cp, _, err := e.core.CreateCampaign(ctx, e.admin, bot.CampaignRequest{Name: "活动" + key, Filter: &store.SegmentFilter{Tag: "VIP"},
			Text: "活动通知", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		e.tick()
		return cp
	}
	journeyMessage := func(cu *store.Customer) *store.Campaign {
		t.Helper()
		if _, err := e.core.EditTags(ctx, e.admin, bot.TagsRequest{CustomerID: cu.ID, Add: []string{"关怀"}}); err != nil {
			t.Fatal(err)
		}
		e.tick()
		cps := e.journeyCampaigns(e.runs(store.JourneyRunFilter{JourneyID: j.ID, CustomerID: cu.ID})...)
		if len(cps) != 1 {
			t.Fatalf("%d journey campaigns for %s", len(cps), cu.Name)
		}
		return cps[0]
	}
	recipients := func(cp *store.Campaign) []string {
		t.Helper()
		sends, err := e.st.FindCampaignSends(ctx, cp.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range sends {
			out = append(out, s.ExternalUserID)
		}
		return out
	}

	first := campaign("c1") // 孙权 1, 周瑜 1
	if got := recipients(first); len(got) != 2 {
		t.Fatalf("first campaign reached %v", got)
	}
	if got := recipients(journeyMessage(x)); !slices.Equal(got, []string{"wmX"}) { // 孙权 2
		t.Fatalf("the journey's message reached %v, want 孙权", got)
	}
	// 孙权 is at the cap through a campaign and a journey message.
	plan, err := e.core.PreviewCampaign(ctx, e.admin, bot.CampaignRequest{Name: "活动2", Filter: &store.SegmentFilter{Tag: "VIP"}, Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Targeted != 1 || plan.LeftOut[bot.LeftOverCap] != 1 || !slices.Contains(plan.LeftOutID[bot.LeftOverCap], x.ID) {
		t.Fatalf("preview %+v, want 孙权 over the cap", plan)
	}
	if got := recipients(campaign("c2")); !slices.Equal(got, []string{"wmY"}) { // 周瑜 2
		t.Fatalf("second campaign reached %v, want 周瑜 alone", got)
	}
	// 周瑜 is at the cap through two campaigns: the journey's message leaves him out.
	cp := journeyMessage(y)
	if got := recipients(cp); len(got) != 0 {
		t.Fatalf("the journey's message reached %v over the cap", got)
	}
	if fresh, err := e.st.FindCampaignByID(ctx, cp.ID); err != nil || fresh.Report.LeftOut[bot.LeftOverCap] != 1 {
		t.Fatalf("journey campaign report %+v, %v", fresh, err)
	}
	want := map[string]int{"wmX": 2, "wmY": 2}
	got := map[string]int{}
	for _, m := range e.sim.GroupMsgs() {
		for _, r := range m.Recipients {
			got[r.ExternalUserID]++
		}
	}
	if len(got) != 2 || got["wmX"] != want["wmX"] || got["wmY"] != want["wmY"] {
		t.Fatalf("WeCom holds %v messages per customer, want %v", got, want)
	}
}

// TestEditedBuiltinCadenceReachesTheNextCustomer: the T+0/3/7 cadence is a
// built-in journey seeded once; an admin's edit (a text, a wait) is what
// the next new customer gets, seeding again keeps the edit, and switched
// off it reminds nobody.
func TestEditedBuiltinCadenceReachesTheNextCustomer(t *testing.T) {
	ctx := context.Background()
	e := newRmEnv(t, "lisi")
	admin := bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}
	id := "jn_builtin_" + bot.BuiltinNewCustomer
	list, err := bot.NewCore(e.st, e.clk.Now).Journeys(ctx, admin)
	if err != nil || len(list) != 2 {
		t.Fatalf("built-in journeys %+v, %v", list, err)
	}
	j := list[slices.IndexFunc(list, func(v bot.JourneyView) bool { return v.ID == id })]
	if j.Builtin != bot.BuiltinNewCustomer || len(j.Steps) != 5 || j.Steps[0].Text != "欢迎致电：打个招呼，了解客户需求" || j.Steps[1].Days != 3 {
		t.Fatalf("seeded cadence %+v", j.Journey)
	}
	steps := slices.Clone(j.Steps)
	steps[0].Text, steps[0].Script = "首次问候：#客户昵称#", "#客户昵称#您好，我是#员工姓名#"
	steps[1].Days = 2
	core := bot.NewCore(e.st, e.clk.Now)
	if _, err := core.UpdateJourney(ctx, admin, id, bot.JourneyPatch{Version: j.Version, Steps: &steps}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.UpdateJourney(ctx, admin, id, bot.JourneyPatch{Version: j.Version, Name: &j.Name}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an edit from the old version: %v, want ErrConflict", err)
	}
	other := store.JourneyTrigger{Type: store.TriggerDormant, Days: 9}
	if _, err := core.UpdateJourney(ctx, admin, id, bot.JourneyPatch{Version: j.Version + 1, Trigger: &other}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a built-in's trigger type changed: %v", err)
	}
	if err := e.journeys.Start(ctx); err != nil { // another instance starts
		t.Fatal(err)
	}
	putStaff(t, e.st, &store.Staff{ID: "lisi", Name: "李四", Role: bot.RoleSales, Active: true})
	added := time.Date(2026, 11, 24, 14, 30, 0, 0, rmLoc) // Tuesday
	e.clk.Set(added)
	e.deliver(rmAddContact("lisi", "wmZ", added))
	e.run()
	e.journeysUntil(added.AddDate(0, 0, 8))
	rs := rmReminders(t, e, store.ReminderFilter{StaffID: "lisi"})
	if len(rs) != 3 || rs[0].Text != "首次问候：张三" || rs[0].Script != "张三您好，我是李四" ||
		!rs[1].DueAt.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, rmLoc)) || !strings.Contains(rs[1].Text, "产品引导") ||
		!rs[2].DueAt.Equal(time.Date(2026, 11, 30, 10, 0, 0, 0, rmLoc)) {
		t.Fatalf("the next customer's cadence %+v, want the edited greeting, T+2, then 4 days on", rs)
	}
	// The greeting's card quotes the ready-to-send text for lisi to copy.
	rmPush(t, e.sched)
	cards := rmCards(e.sim.SentTo("lisi"))
	if !slices.ContainsFunc(cards, func(m wecomtest.SentMessage) bool {
		return strings.Contains(string(m.Raw), `"quote_text":"张三您好，我是李四"`) && strings.Contains(string(m.Raw), "首次问候：张三")
	}) {
		t.Fatalf("no card quotes the script: %d cards", len(cards))
	}

	// Switched off: the next new customer is reminded of nothing.
	if _, err := core.SetJourneyEnabled(ctx, admin, id, false); err != nil {
		t.Fatal(err)
	}
	e.deliver(rmAddContact("lisi", "wmW", e.clk.Now()))
	e.run()
	e.journeysUntil(e.clk.Now().AddDate(0, 0, 8))
	if n := len(rmReminders(t, e, store.ReminderFilter{StaffID: "lisi"})); n != 3 {
		t.Fatalf("%d reminders after the cadence was switched off, want still 3", n)
	}
}

// TestJourneyTriggersAndExits: a tag added and a stage entered start their
// journeys once per change (a tag already there is no change; removed and
// added again, it is); the daily scan starts the dormancy, date and
// no-reply journeys once per occurrence however many days it sees them;
// the steps' tag and stage changes are the journey's own on the timeline;
// parting with the salesperson ends a run, and so does reaching an exit
// stage.
func TestJourneyTriggersAndExits(t *testing.T) {
	ctx := context.Background()
	e := newRmEnv(t, "lisi")
	admin := bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}
	core := bot.NewCore(e.st, e.clk.Now)
	mk := func(name string, tr store.JourneyTrigger, exit store.JourneyExit, steps ...store.JourneyStep) *store.Journey {
		t.Helper()
		j, _, err := core.CreateJourney(ctx, admin, bot.JourneyRequest{Name: name, Enabled: true, Trigger: tr, Steps: steps, Exit: exit})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	remind := store.JourneyStep{Type: store.StepRemind, Text: "跟进#客户昵称#"}
	wait := store.JourneyStep{Type: store.StepWait, Days: 5}
	hot := mk("意向强", store.JourneyTrigger{Type: store.TriggerTagAdded, Tag: "意向强"}, store.JourneyExit{Stages: []string{store.StageWon}}, wait, remind)
	won := mk("成交", store.JourneyTrigger{Type: store.TriggerStageEntered, Stage: store.StageWon}, store.JourneyExit{},
		store.JourneyStep{Type: store.StepTags, AddTags: []string{"老客户"}, RemoveTags: []string{"意向强"}})
	renew := mk("续约", store.JourneyTrigger{Type: store.TriggerDateField, Field: "到期日", Days: 7}, store.JourneyExit{},
		store.JourneyStep{Type: store.StepRemind, Text: "续约：#客户昵称#"})
	sleep := mk("唤醒", store.JourneyTrigger{Type: store.TriggerDormant, Days: 20}, store.JourneyExit{}, wait, remind)
	silent := mk("追问", store.JourneyTrigger{Type: store.TriggerNoReply, Days: 3}, store.JourneyExit{}, wait, remind)
	count := func(j *store.Journey, cu *store.Customer) int {
		t.Helper()
		rs, err := e.st.FindJourneyRuns(ctx, store.JourneyRunFilter{JourneyID: j.ID, CustomerID: cu.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	tags := func(cu *store.Customer, add, remove string) {
		t.Helper()
		req := bot.TagsRequest{CustomerID: cu.ID}
		if add != "" {
			req.Add = []string{add}
		}
		if remove != "" {
			req.Remove = []string{remove}
		}
		if _, err := core.EditTags(ctx, admin, req); err != nil {
			t.Fatal(err)
		}
	}

	now := e.clk.Now()
	c1 := e.customer("wm1", "张三", "lisi", now)
	tags(c1, "意向强", "")
	tags(c1, "意向强", "") // already there: no change
	if n := count(hot, c1); n != 1 {
		t.Fatalf("%d runs after the tag was added twice, want 1", n)
	}
	tags(c1, "", "意向强")
	tags(c1, "意向强", "") // added again: a new occurrence
	if n := count(hot, c1); n != 2 {
		t.Fatalf("%d runs after the tag came back, want 2", n)
	}
	if _, _, err := core.ChangeStage(ctx, admin, bot.StageRequest{CustomerID: c1.ID, Stage: store.StageWon}); err != nil {
		t.Fatal(err)
	}
	runs, _ := e.st.FindJourneyRuns(ctx, store.JourneyRunFilter{JourneyID: hot.ID})
	for _, r := range runs {
		if r.State != store.RunExited || r.ExitReason != bot.ExitStage {
			t.Errorf("run of 意向强 after the deal: %s/%s, want exited (stage)", r.State, r.ExitReason)
		}
	}
	e.run()
	got, _ := e.st.FindCustomerByID(ctx, c1.ID)
	if !slices.Contains(got.Tags, "老客户") || slices.Contains(got.Tags, "意向强") || count(won, c1) != 1 {
		t.Fatalf("tags after the deal's journey: %v", got.Tags)
	}
	tl, _ := e.st.FindTimeline(ctx, c1.ID, 0, 50)
	if !slices.ContainsFunc(tl, func(en *store.TimelineEntry) bool {
		return en.Attrs["change"] == "tags" && en.Attrs["source"] == bot.SourceJourney && strings.Contains(en.Text, "+老客户")
	}) {
		t.Fatal("the journey's tag change is not on the timeline as the journey's")
	}
	if n := count(hot, c1); n != 2 {
		t.Fatalf("the journey's own tag removal started %d runs of 意向强", n-2)
	}

	// The daily scan, three days running.
	c2 := e.customer("wm2", "李白", "lisi", now.AddDate(0, 0, -1))
	if _, err := e.st.UpdateCustomer(ctx, c2.ID, store.CustomerUpdate{Fields: map[string]string{"到期日": "2026-11-29"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wm2"},
		CustomerAt: now, Now: now}); err != nil { // 李白 answered
		t.Fatal(err)
	}
	c3 := e.customer("wm3", "杜甫", "lisi", now.AddDate(0, 0, -25))
	c4 := e.customer("wm4", "白居易", "lisi", now.AddDate(0, 0, -4))
	scan := time.Date(2026, 11, 25, 8, 0, 0, 0, rmLoc)
	for d := range 3 {
		e.clk.Set(scan.AddDate(0, 0, d))
		if err := e.sched.Plan(ctx); err != nil {
			t.Fatal(err)
		}
		drain(t, e.sched.RunJobsOnce)
		e.journeysUntil(e.clk.Now().Add(6 * time.Hour))
	}
	for _, c := range []struct {
		j    *store.Journey
		cu   *store.Customer
		want int
	}{{renew, c2, 1}, {sleep, c2, 0}, {silent, c2, 0}, {sleep, c3, 1}, {silent, c3, 1}, {renew, c3, 0}, {silent, c4, 1}, {sleep, c4, 0}} {
		if n := count(c.j, c.cu); n != c.want {
			t.Errorf("%s in %s: %d runs, want %d", c.cu.Name, c.j.Name, n, c.want)
		}
	}
	rs := slices.DeleteFunc(rmReminders(t, e, store.ReminderFilter{CustomerID: c2.ID}), func(r *store.Reminder) bool { return r.Kind != store.ReminderCadence })
	if len(rs) != 1 || rs[0].Text != "续约：李白" {
		t.Fatalf("the renewal journey's reminders %+v", rs)
	}

	// 白居易 deletes lisi: the run through lisi ends.
	e.deliver(wecomtest.ContactEvent("del_follow_user", "lisi", "wm4", e.clk.Now(), nil))
	e.run()
	runs, _ = e.st.FindJourneyRuns(ctx, store.JourneyRunFilter{CustomerID: c4.ID})
	if len(runs) != 1 || runs[0].State != store.RunExited || runs[0].ExitReason != bot.ExitChurned {
		t.Fatalf("run after the customer left %+v, want exited (churned)", runs)
	}
}
