package bot_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// rmLoc is the business time zone of these tests; t0 (bot_test.go) is
// Tuesday 2026-11-24 10:00 there.
var rmLoc = nlp.BusinessLocation("Asia/Shanghai")

// rmClock is a settable test clock.
type rmClock = testClock

// rmPusher is bot.Pusher over the real WeCom client talking to the
// simulator, translating cards the way cmd/scrm does.
type rmPusher struct{ c *wecom.APIClient }

func (p rmPusher) SendMarkdown(ctx context.Context, to, content string) error {
	_, err := p.c.SendMarkdown(ctx, wecom.SendTarget{ToUser: []string{to}}, content)
	return err
}

func (p rmPusher) SendMarkdownOnce(ctx context.Context, to, content string, window time.Duration) error {
	_, err := p.c.SendMarkdown(ctx, wecom.SendTarget{ToUser: []string{to}, DuplicateCheckInterval: window}, content)
	return err
}

func (p rmPusher) SendTemplateCard(ctx context.Context, to string, card bot.Card) error {
	_, err := p.c.SendTemplateCard(ctx, wecom.SendTarget{ToUser: []string{to}, DuplicateCheckInterval: card.DuplicateCheck}, card.TemplateCard())
	return err
}

// rmNewSim starts a simulated corp with the given staff and a client on it.
func rmNewSim(t testing.TB, staff ...string) (*wecomtest.Simulator, rmPusher) {
	t.Helper()
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	for _, s := range staff {
		sim.AddStaff(wecomtest.Staff{UserID: s, Name: s})
	}
	api, err := wecom.NewAPIClient(sim.APIConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sim, rmPusher{api}
}

// rmEnv is one scrm instance's bot over a real SQLite store and the simulator.
type rmEnv struct {
	t        *testing.T
	st       *sqlite.DB
	sim      *wecomtest.Simulator
	out      rmPusher
	clk      *rmClock
	dir      bot.StaticDirectory
	cmds     *bot.Commands
	cards    *bot.CardActions
	cadence  *bot.Cadence
	journeys *bot.Journeys
	pipe     *bot.Pipeline
	sched    *bot.Scheduler
	seq      atomic.Int64
}

func newRmEnv(t *testing.T, staff ...string) *rmEnv {
	t.Helper()
	e := &rmEnv{t: t, st: openStore(t), clk: newTestClock(t0)}
	e.sim, e.out = rmNewSim(t, staff...)
	e.dir = bot.StaticDirectory{"boss": {Role: bot.RoleManager, Team: []string{"lisi", "wangwu"}}}
	e.cmds = bot.NewCommands(e.st, e.dir, e.out, rmLoc)
	e.cards = bot.NewCardActions(e.st, e.dir, e.cmds, e.out, rmLoc, e.clk.Now)
	e.cadence = bot.NewCadence(e.st, bot.CadenceOptions{Now: e.clk.Now})
	var err error
	if e.journeys, err = bot.NewJourneys(e.st, bot.JourneyOptions{Location: rmLoc, Now: e.clk.Now}); err != nil {
		t.Fatal(err)
	}
	if err := e.journeys.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.pipe = bot.NewPipeline(e.st, bot.PipelineOptions{Owner: "pipe", Now: e.clk.Now},
		bot.NewCustomers(e.st, profiles{"wmZ": {Name: "张三"}, "wmW": {Name: "王五"}, "wmL": {Name: "刘备"}}), e.cadence, e.journeys, e.cmds, e.cards)
	e.sched = e.scheduler("sched-a", e.st)
	return e
}

func (e *rmEnv) scheduler(owner string, st bot.SchedulerStore) *bot.Scheduler {
	s, err := bot.NewScheduler(st, e.dir, e.out, bot.SchedulerOptions{Owner: owner, Location: rmLoc, Now: e.clk.Now, Lease: time.Minute,
		Journeys: e.journeys})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// customer creates a customer followed by staff, last in touch at at.
func (e *rmEnv) customer(ext, name, staff string, at time.Time) *store.Customer {
	e.t.Helper()
	c, err := e.st.UpsertCustomer(context.Background(), store.CustomerUpsert{
		Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext}, Name: name,
		Follow: &store.Follow{StaffID: staff, AddedAt: at}, StaffAt: at, Now: at,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *rmEnv) reminder(key, customerID, staff, text string, due time.Time) *store.Reminder {
	e.t.Helper()
	r := &store.Reminder{Key: key, CustomerID: customerID, StaffID: staff, Kind: store.ReminderPromise, Text: text,
		DueAt: due, Status: store.ReminderPending, CreatedAt: t0, UpdatedAt: t0}
	if _, err := e.st.CreateReminder(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// reminders creates n reminders for staff on customerID, keyed key0…, with
// the texts text0…, all due at due.
func (e *rmEnv) reminders(n int, key, customerID, staff, text string, due time.Time) []*store.Reminder {
	e.t.Helper()
	var out []*store.Reminder
	for i := range n {
		out = append(out, e.reminder(fmt.Sprint(key, i), customerID, staff, fmt.Sprint(text, i), due))
	}
	return out
}

func (e *rmEnv) get(id int64) *store.Reminder {
	e.t.Helper()
	r, err := e.st.FindReminderByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// team records boss (赵主管) managing lisi (李四) and wangwu (王五).
func (e *rmEnv) team() {
	e.t.Helper()
	putStaff(e.t, e.st,
		&store.Staff{ID: "boss", Name: "赵主管", Role: "manager", Team: []string{"lisi", "wangwu"}, Active: true},
		&store.Staff{ID: "lisi", Name: "李四", Role: "sales", Active: true},
		&store.Staff{ID: "wangwu", Name: "王五", Role: "sales", Active: true},
	)
}

// deliver stores a WeCom callback built by wecomtest as the edge would, and
// reports whether it was new.
func (e *rmEnv) deliver(m wecomtest.Msg) bool {
	e.t.Helper()
	return storeCallback(e.t, e.st, e.clk.Now(), m)
}

// storeCallback stores a WeCom callback built by wecomtest as the edge
// would, received at now, and reports whether it was new.
func storeCallback(t testing.TB, st store.EventStore, now time.Time, m wecomtest.Msg) bool {
	t.Helper()
	wev, err := wecom.ParseWeCom(m.XML(wecomtest.SimCorpID, wecomtest.SimAgentID))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := st.AppendEvents(context.Background(), []*store.Event{{
		DedupKey: wev.DedupKey(), Channel: wev.Channel, Kind: wev.Kind, FromID: wev.FromID, StaffID: wev.StaffID,
		CustomerID: wev.CustomerID, Text: wev.Text, MsgID: wev.MsgID, Attrs: wev.Attrs, Raw: wev.Raw,
		OccurredAt: wev.CreateTime, ReceivedAt: now,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return ins[0]
}

// run drains the event log through the pipeline, then advances the
// journey runs due.
func (e *rmEnv) run() {
	e.t.Helper()
	drain(e.t, e.pipe.RunOnce)
	drain(e.t, e.journeys.RunDue)
}

// journeysUntil moves the clock to until in steps of six hours, advancing
// the journey runs due at each.
func (e *rmEnv) journeysUntil(until time.Time) {
	e.t.Helper()
	for t := e.clk.Now(); !t.After(until); t = t.Add(6 * time.Hour) {
		e.clk.Set(t)
		drain(e.t, e.journeys.RunDue)
	}
}

// say sends a staff message to the app and returns the bot's reply.
func (e *rmEnv) say(staff, text string) string {
	e.t.Helper()
	before := len(e.sim.SentTo(staff))
	e.deliver(wecomtest.AppText(staff, text, 9_000_000+e.seq.Add(1), e.clk.Now()))
	e.run()
	got := e.sim.SentTo(staff)
	if len(got) != before+1 {
		e.t.Fatalf("%q: %d replies, want 1", text, len(got)-before)
	}
	return got[len(got)-1].Content
}

// rmPush drains due reminders through sched.
func rmPush(t *testing.T, s *bot.Scheduler) {
	t.Helper()
	drain(t, s.PushDue)
}

func rmCards(msgs []wecomtest.SentMessage) []wecomtest.SentMessage {
	var out []wecomtest.SentMessage
	for _, m := range msgs {
		if m.MsgType == "template_card" {
			out = append(out, m)
		}
	}
	return out
}

func rmMarkdowns(msgs []wecomtest.SentMessage, containing string) []wecomtest.SentMessage {
	var out []wecomtest.SentMessage
	for _, m := range msgs {
		if m.MsgType == "markdown" && strings.Contains(m.Content, containing) {
			out = append(out, m)
		}
	}
	return out
}

func rmTaskID(r *store.Reminder) string {
	return "rem-" + strconv.FormatInt(r.ID, 10) + "-" + strconv.FormatInt(r.DueAt.Unix(), 10)
}

func TestDueReminderIsPushedOnceAsACard(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu")
	c := e.customer("wmZ", "张三", "lisi", t0.Add(-time.Hour))
	r := e.reminder("promise:1", c.ID, "lisi", "客户约好下周三下午再联系", t0.Add(time.Hour))

	rmPush(t, e.sched)
	if n := len(e.sim.SentTo("lisi")); n != 0 {
		t.Fatalf("%d messages before the reminder is due", n)
	}
	e.clk.Set(t0.Add(time.Hour))
	rmPush(t, e.sched)
	rmPush(t, e.sched)
	got := rmCards(e.sim.SentTo("lisi"))
	if len(got) != 1 {
		t.Fatalf("%d cards, want exactly 1", len(got))
	}
	raw := string(got[0].Raw)
	for _, want := range []string{`"task_id":"` + rmTaskID(r) + `"`, `"key":"rem:done:` + fmt.Sprint(r.ID) + `"`,
		`"key":"rem:snooze:` + fmt.Sprint(r.ID) + `"`, `"key":"rem:view:` + c.ID + `"`, `"card_type":"button_interaction"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("card lacks %s: %s", want, raw)
		}
	}
	for _, want := range []string{"张三", "客户约好下周三下午再联系", "11-24（周二）11:00"} {
		if !strings.Contains(got[0].Content, want) {
			t.Errorf("card text lacks %q: %q", want, got[0].Content)
		}
	}
	if st := e.get(r.ID).Status; st != store.ReminderSent {
		t.Fatalf("status %q, want sent", st)
	}
	if n := len(e.sim.SentTo("wangwu")); n != 0 {
		t.Fatalf("another salesperson got %d messages", n)
	}
}

func TestManyDueRemindersForOneMemberGoOutAsOneList(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu")
	c := e.customer("wmZ", "张三", "lisi", t0)
	w := e.customer("wmW", "王五", "wangwu", t0)
	var mine []*store.Reminder
	for i := range 8 {
		mine = append(mine, e.reminder(fmt.Sprint("l", i), c.ID, "lisi", fmt.Sprint("回访事项", i), t0.Add(-time.Duration(i)*time.Minute)))
	}
	for i := range 3 {
		e.reminder(fmt.Sprint("w", i), w.ID, "wangwu", fmt.Sprint("王五事项", i), t0)
	}
	rmPush(t, e.sched)
	lisi := e.sim.SentTo("lisi")
	if len(lisi) != 1 || lisi[0].MsgType != "markdown" {
		t.Fatalf("lisi got %d messages, want one list", len(lisi))
	}
	for _, r := range mine {
		if !strings.Contains(lisi[0].Content, fmt.Sprintf("**#%d**", r.ID)) || !strings.Contains(lisi[0].Content, r.Text) {
			t.Errorf("list lacks #%d: %s", r.ID, lisi[0].Content)
		}
		if st := e.get(r.ID).Status; st != store.ReminderSent {
			t.Errorf("#%d status %q", r.ID, st)
		}
	}
	if n := len(rmCards(e.sim.SentTo("wangwu"))); n != 3 {
		t.Fatalf("wangwu got %d cards, want 3 (at or under the list threshold)", n)
	}
}

// rmKillable is a store whose writes fail once the instance is "killed": a
// process that died cannot mark what it sent.
type rmKillable struct {
	bot.SchedulerStore
	dead atomic.Bool
}

var rmErrKilled = errors.New("instance killed")

func (k *rmKillable) MarkReminderSent(ctx context.Context, id int64, owner string, at time.Time) error {
	if k.dead.Load() {
		return rmErrKilled
	}
	return k.SchedulerStore.MarkReminderSent(ctx, id, owner, at)
}

func (k *rmKillable) ReleaseReminder(ctx context.Context, id int64, owner string, retryAt time.Time) error {
	if k.dead.Load() {
		return rmErrKilled
	}
	return k.SchedulerStore.ReleaseReminder(ctx, id, owner, retryAt)
}

func (k *rmKillable) SetMarker(ctx context.Context, kind, key, value string, at time.Time) error {
	if k.dead.Load() {
		return rmErrKilled
	}
	return k.SchedulerStore.SetMarker(ctx, kind, key, value, at)
}

// rmDying is a Pusher that kills its instance right after its n-th successful
// push: between the push and the mark.
type rmDying struct {
	bot.Pusher
	n     int32
	sends atomic.Int32
	kill  func()
}

func (d *rmDying) after(err error) error {
	if err == nil && d.sends.Add(1) == d.n {
		d.kill()
	}
	return err
}

func (d *rmDying) SendTemplateCard(ctx context.Context, to string, c bot.Card) error {
	return d.after(d.Pusher.SendTemplateCard(ctx, to, c))
}

func (d *rmDying) SendMarkdownOnce(ctx context.Context, to, content string, w time.Duration) error {
	return d.after(d.Pusher.SendMarkdownOnce(ctx, to, content, w))
}

// doomed returns instance "a", whose store and pusher die right after its
// n-th push (between the push and the mark), and the context its death
// cancels. batch 0 takes the scheduler's default.
func (e *rmEnv) doomed(n int32, batch int) (*bot.Scheduler, *rmKillable, context.Context) {
	e.t.Helper()
	dead := &rmKillable{SchedulerStore: e.st}
	ctxA, killA := context.WithCancel(context.Background())
	e.t.Cleanup(killA)
	a, err := bot.NewScheduler(dead, e.dir, &rmDying{Pusher: e.out, n: n, kill: func() { dead.dead.Store(true); killA() }},
		bot.SchedulerOptions{Owner: "a", Location: rmLoc, Now: e.clk.Now, Lease: time.Minute, Batch: batch})
	if err != nil {
		e.t.Fatal(err)
	}
	return a, dead, ctxA
}

// rmRace runs a, until it dies (ctxA ends) or has nothing left, beside b,
// until b has nothing left.
func rmRace(t *testing.T, ctx, ctxA context.Context, a, b *bot.Scheduler) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctxA.Err() == nil {
			if n, _ := a.PushDue(ctxA); n == 0 {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			n, err := b.PushDue(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if n == 0 {
				return
			}
		}
	}()
	wg.Wait()
}

// shownOnce checks that staff saw each reminder of all exactly once, as its
// card or as a line of a list, and that each is marked sent.
func (e *rmEnv) shownOnce(staff string, all []*store.Reminder) {
	e.t.Helper()
	shown := map[int64]int{}
	for _, m := range e.sim.SentTo(staff) {
		for _, r := range all {
			if strings.Contains(string(m.Raw), `"task_id":"`+rmTaskID(r)+`"`) || strings.Contains(m.Content, fmt.Sprintf("**#%d**", r.ID)) {
				shown[r.ID]++
			}
		}
	}
	for _, r := range all {
		if shown[r.ID] != 1 {
			e.t.Errorf("reminder #%d (%s) shown to %s %d times, want once", r.ID, r.Text, staff, shown[r.ID])
		}
		if st := e.get(r.ID).Status; st != store.ReminderSent {
			e.t.Errorf("reminder #%d is %s, want sent", r.ID, st)
		}
	}
}

// TestTwoSchedulersOneKilledPushEachReminderOnce runs two schedulers over one
// store; one dies mid-batch after pushing but before marking. Every reminder
// must reach its salesperson exactly once: the survivor re-pushes the dead
// one's claims after their lease, and WeCom's duplicate check drops the
// repeats of what had gone out.
func TestTwoSchedulersOneKilledPushEachReminderOnce(t *testing.T) {
	const members, each = 50, 4
	var staff []string
	for i := range members {
		staff = append(staff, fmt.Sprintf("s%02d", i))
	}
	e := newRmEnv(t, staff...)
	var all []*store.Reminder
	for i, s := range staff {
		c := e.customer(fmt.Sprint("wm", i), fmt.Sprint("客户", i), s, t0)
		for j := range each {
			all = append(all, e.reminder(fmt.Sprint(i, ":", j), c.ID, s, fmt.Sprintf("事项 %d-%d", i, j), t0.Add(-time.Duration(j)*time.Second)))
		}
	}
	a, dead, ctxA := e.doomed(37, 80)
	b := e.scheduler("b", e.st)
	rmRace(t, context.Background(), ctxA, a, b)
	if !dead.dead.Load() {
		t.Fatal("instance a was never killed: the test did not exercise the crash")
	}
	// After the dead instance's leases run out, the survivor takes over.
	e.clk.Add(2 * time.Minute)
	rmPush(t, b)

	seen := map[int64]int{}
	for _, m := range e.sim.Sent() {
		for _, r := range all {
			if strings.Contains(string(m.Raw), `"task_id":"`+rmTaskID(r)+`"`) {
				seen[r.ID]++
			}
		}
	}
	for _, r := range all {
		if seen[r.ID] != 1 {
			t.Errorf("reminder #%d reached %s %d times", r.ID, r.StaffID, seen[r.ID])
		}
		if st := e.get(r.ID).Status; st != store.ReminderSent {
			t.Errorf("reminder #%d status %q", r.ID, st)
		}
	}
	if n := len(e.sim.Sent()); n != len(all) {
		t.Errorf("%d messages delivered for %d reminders", n, len(all))
	}
	if e.sim.DuplicatesSuppressed() < 1 {
		t.Errorf("no repeat was suppressed: the killed instance's unmarked push was never retried")
	}
	t.Logf("delivered %d, suppressed repeats %d", len(e.sim.Sent()), e.sim.DuplicatesSuppressed())
}

// A list interrupted between its push and the marks is repeated exactly, so
// WeCom drops it, instead of being cut anew.
func TestInterruptedListIsRepeatedExactly(t *testing.T) {
	e := newRmEnv(t, "lisi")
	c := e.customer("wmZ", "张三", "lisi", t0)
	e.reminders(8, "l", c.ID, "lisi", "事项", t0)
	a, _, ctxA := e.doomed(1, 0)
	if _, err := a.PushDue(ctxA); err != nil {
		t.Fatal(err)
	}
	// Meanwhile another reminder fell due: it must not change the repeated list.
	e.reminder("late", c.ID, "lisi", "新事项", t0.Add(time.Minute))
	e.clk.Add(2 * time.Minute)
	rmPush(t, e.sched)
	got := e.sim.SentTo("lisi")
	if len(got) != 2 || got[0].MsgType != "markdown" || got[1].MsgType != "template_card" {
		t.Fatalf("lisi got %d messages (want the list once and the new reminder as a card)", len(got))
	}
	if e.sim.DuplicatesSuppressed() != 1 {
		t.Fatalf("%d repeats suppressed, want 1", e.sim.DuplicatesSuppressed())
	}
	rs, _ := e.st.FindReminders(context.Background(), store.ReminderFilter{StaffID: "lisi", Statuses: []string{store.ReminderPending}})
	if len(rs) != 0 {
		t.Fatalf("%d reminders still pending", len(rs))
	}
}
