package bot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// hoEnv is scrm's handover over a real store, a real WeCom client talking
// to the simulator, and the callbacks WeCom sends delivered by the driver
// over HTTP, sealed and signed, to a minimal edge that verifies, decrypts
// and stores them as the real one does.
type hoEnv struct {
	t        *testing.T
	st       store.Store
	sim      *wecomtest.Simulator
	api      *wecom.APIClient
	driver   *wecomtest.Driver
	ho       *bot.Handover
	runner   *bot.JobRunner
	pipe     *bot.Pipeline
	journeys *bot.Journeys
	*testClock
}

func newHoEnv(t *testing.T, st store.Store) *hoEnv {
	t.Helper()
	e := &hoEnv{t: t, st: st, testClock: newTestClock(t0)}
	e.sim = wecomtest.NewSimulator(wecomtest.SimConfig{Now: e.Now})
	t.Cleanup(func() { e.sim.Close() })
	e.api = simClient(t, e.sim, nil)
	var err error
	edge := httptest.NewServer(e.edge(t))
	t.Cleanup(edge.Close)
	dc := wecomtest.SimDriverConfig(edge.URL, edge.URL, e.sim)
	dc.Now = e.Now
	if e.driver, err = wecomtest.NewDriver(dc); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []*store.Staff{
		{ID: "lilei", Name: "李雷", Role: bot.RoleSales, Active: true},
		{ID: "hanmm", Name: "韩梅梅", Role: bot.RoleSales, Active: true},
		{ID: "boss", Name: "王经理", Role: bot.RoleManager, Team: []string{"lilei", "hanmm"}, Active: true},
	} {
		if err := st.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
		e.sim.AddStaff(wecomtest.Staff{UserID: s.ID, Name: s.Name})
	}
	e.ho = bot.NewHandover(st, e.api, bot.HandoverOptions{Now: e.Now})
	e.runner = e.ho.Runner(st, bot.RunnerOptions{Owner: "test", Now: e.Now})
	if e.journeys, err = bot.NewJourneys(st, bot.JourneyOptions{Now: e.Now}); err != nil {
		t.Fatal(err)
	}
	if err := e.journeys.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.pipe = bot.NewPipeline(st, bot.PipelineOptions{Owner: "pipe", Now: e.Now}, bot.NewCustomers(st, nil),
		bot.NewCadence(st, bot.CadenceOptions{Now: e.Now}), e.journeys, e.ho)
	return e
}

// edge is the callback endpoint: verify, decrypt, parse, store.
func (e *hoEnv) edge(t *testing.T) http.Handler {
	c, err := wecom.NewCrypto(wecomtest.SimToken, wecomtest.SimAESKey, wecomtest.SimCorpID)
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		plain, err := c.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		ev, err := wecom.ParseWeCom(plain)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := e.st.AppendEvents(r.Context(), []*store.Event{{
			DedupKey: ev.DedupKey(), Channel: ev.Channel, Kind: ev.Kind, FromID: ev.FromID, StaffID: ev.StaffID,
			CustomerID: ev.CustomerID, Text: ev.Text, MsgID: ev.MsgID, Attrs: ev.Attrs, Raw: ev.Raw,
			OccurredAt: ev.CreateTime, ReceivedAt: e.Now(),
		}}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// contact makes a customer followed by staff in WeCom and in scrm.
func (e *hoEnv) contact(ext, name, staff, remark string) *store.Customer {
	e.t.Helper()
	added := t0.Add(-30 * 24 * time.Hour)
	e.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: name,
		Follow: []wecomtest.Follow{{UserID: staff, Remark: remark, CreateTime: added}}})
	c, err := e.st.UpsertCustomer(context.Background(), store.CustomerUpsert{
		Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext}, Name: name, Stage: store.StageActive,
		Follow: &store.Follow{StaffID: staff, Remark: remark, State: "展会", AddedAt: added}, Now: added,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *hoEnv) reminder(key, customerID, staff, kind, status string, due time.Time) *store.Reminder {
	e.t.Helper()
	r := &store.Reminder{Key: key, CustomerID: customerID, StaffID: staff, Kind: kind, Text: "事项 " + key,
		DueAt: due, Status: status, CreatedAt: t0, UpdatedAt: t0}
	if _, err := e.st.CreateReminder(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *hoEnv) start(customerID, from, to string, resigned bool) *bot.HandoverState {
	e.t.Helper()
	s, err := bot.StartHandover(context.Background(), e.st, bot.HandoverRequest{CustomerID: customerID, From: from, To: to,
		Resigned: resigned, By: "boss", Now: e.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// jobs runs the due handover jobs, reporting how many ran.
func (e *hoEnv) jobs() int {
	e.t.Helper()
	n, err := e.runner.RunOnce(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// deliver sends the callbacks of a settled handover and runs the pipeline.
func (e *hoEnv) deliver(st wecomtest.HandoverSettlement) {
	e.t.Helper()
	if err := e.driver.SendHandoverCallbacks(context.Background(), st); err != nil {
		e.t.Fatal(err)
	}
	e.runPipeline()
}

func (e *hoEnv) runPipeline() {
	e.t.Helper()
	drain(e.t, e.pipe.RunOnce)
	drain(e.t, e.journeys.RunDue) // a journey the events started would remind at once
}

func (e *hoEnv) state(customerID, from string) *bot.HandoverState {
	e.t.Helper()
	s, err := bot.FindHandover(context.Background(), e.st, customerID, from)
	if err != nil || s == nil {
		e.t.Fatalf("handover state: %v %v", s, err)
	}
	return s
}

func (e *hoEnv) customer(id string) *store.Customer {
	e.t.Helper()
	return loadCustomer(e.t, e.st, id)
}

func (e *hoEnv) follow(c *store.Customer, staff string) *store.Follow {
	for i := range c.Follows {
		if c.Follows[i].StaffID == staff {
			return &c.Follows[i]
		}
	}
	return nil
}

func (e *hoEnv) timeline(id string) []string {
	e.t.Helper()
	entries, err := e.st.FindTimeline(context.Background(), id, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, entries[i].Text)
	}
	return out
}

func (e *hoEnv) reminders(f store.ReminderFilter) []*store.Reminder {
	e.t.Helper()
	f.Limit = 1000
	rs, err := e.st.FindReminders(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

func (e *hoEnv) jobCount() int64 {
	e.t.Helper()
	n, err := e.st.CountJobs(context.Background(), bot.JobHandover)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestHandoverOnJobMovesCustomer(t *testing.T) { testHandoverOnJob(t, openStore(t)) }

func TestHandoverOnJobMovesCustomerOnMongo(t *testing.T) {
	ctx := context.Background()
	db, err := mongo.Open(ctx, mongotest.Start(t), mongotest.DBName(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testHandoverOnJob(t, db)
}

// testHandoverOnJob: start → WeCom holds it pending → 24 hours later WeCom
// takes the customer over and sends its callbacks → the job records the
// takeover: follow moved, timeline, reminders moved; the deletion by
// transfer is no churn. Every step is repeated to show it is idempotent.
func testHandoverOnJob(t *testing.T, st store.Store) {
	e := newHoEnv(t, st)
	ctx := context.Background()
	zs := e.contact("wmZS", "张三", "lilei", "张总-老客户")
	other := e.contact("wmLS", "李四", "lilei", "")
	promise := e.reminder("p1", zs.ID, "lilei", store.ReminderPromise, store.ReminderPending, t0.Add(48*time.Hour))
	sent := e.reminder("p2", zs.ID, "lilei", store.ReminderManual, store.ReminderSent, t0.Add(-time.Hour))
	churn := e.reminder("c1", zs.ID, "lilei", store.ReminderChurn, store.ReminderPending, t0.Add(time.Hour))
	done := e.reminder("d1", zs.ID, "lilei", store.ReminderManual, store.ReminderDone, t0.Add(-48*time.Hour))
	notHis := e.reminder("o1", other.ID, "lilei", store.ReminderPromise, store.ReminderPending, t0.Add(time.Hour))

	s := e.start(zs.ID, "lilei", "hanmm", false)
	if s.Status != bot.HandoverPending || s.Submitted {
		t.Fatalf("started %+v", s)
	}
	if got := e.timeline(zs.ID); got[len(got)-1] != "转交给 韩梅梅（等待接替）" {
		t.Fatalf("timeline %q", got)
	}

	// The job starts it in WeCom, which holds it for 24 hours.
	if n := e.jobs(); n != 1 {
		t.Fatalf("ran %d jobs", n)
	}
	pending := e.sim.PendingHandovers()
	if len(pending) != 1 || pending[0].ExternalUserID != "wmZS" || pending[0].HandoverUserID != "lilei" ||
		pending[0].TakeoverUserID != "hanmm" || pending[0].Resigned {
		t.Fatalf("WeCom holds %+v", pending)
	}
	s = e.state(zs.ID, "lilei")
	if !s.Submitted || s.Status != bot.HandoverPending || !s.TakeoverAt.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("after the start %+v", s)
	}
	if e.jobs() != 0 || e.jobCount() != 1 {
		t.Fatal("the check is not armed for the takeover time")
	}

	// At-least-once: a run that started the handover in WeCom and died
	// before recording it is run again; it finds the handover waiting in
	// WeCom and does not start it a second time.
	s.Submitted = false
	if err := st.PutHandover(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.ScheduleJob(ctx, "handover:"+zs.ID+":lilei", bot.JobHandover, `{"customer_id":"`+zs.ID+`","from":"lilei"}`, e.Now()); err != nil {
		t.Fatal(err)
	}
	e.jobs()
	if n := e.sim.Calls("externalcontact/transfer_customer"); n != 1 {
		t.Fatalf("transfer_customer called %d times, want 1", n)
	}
	if !e.state(zs.ID, "lilei").Submitted {
		t.Fatal("the rerun did not record the start")
	}

	// A WeCom outage at check time (a minute after the expected takeover)
	// delays the check and loses nothing.
	e.Add(24*time.Hour + time.Minute)
	e.sim.Busy("externalcontact/transfer_result", 4) // past the client's 3 retries
	if e.jobs() != 1 || e.state(zs.ID, "lilei").Status != bot.HandoverPending {
		t.Fatal("the failed check changed the handover")
	}

	// WeCom takes the customer over and tells scrm.
	settled := e.sim.SettleDueHandovers()
	if len(settled) != 1 {
		t.Fatalf("WeCom settled %d", len(settled))
	}
	takeover := e.Now()
	e.deliver(settled[0])
	// The callbacks re-armed the job; it runs once the outage's backoff
	// (seconds) has passed.
	e.Add(time.Minute)
	if e.jobs() != 1 {
		t.Fatal("the takeover was not checked")
	}

	c := e.customer(zs.ID)
	if f := e.follow(c, "lilei"); f == nil || !f.Deleted {
		t.Errorf("old follow %+v, want ended", f)
	}
	if f := e.follow(c, "hanmm"); f == nil || f.Deleted || !f.AddedAt.Equal(takeover) || f.Remark != "张总-老客户" {
		t.Errorf("new follow %+v, want active since %v with the old remark", f, takeover)
	}
	if c.Stage != store.StageActive {
		t.Errorf("stage %s after a handover, want %s", c.Stage, store.StageActive)
	}
	tl := strings.Join(e.timeline(zs.ID), " | ")
	for _, want := range []string{"转交给 韩梅梅（等待接替）", "客户已转接，员工 李雷 不再跟进", "已由 韩梅梅 接替"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q: %s", want, tl)
		}
	}
	if strings.Contains(tl, "流失") {
		t.Errorf("a handover reads as churn: %s", tl)
	}
	for _, r := range e.reminders(store.ReminderFilter{}) {
		if r.Kind == store.ReminderChurn && r.ID != churn.ID {
			t.Errorf("churn alert raised by a handover: %+v", r)
		}
	}
	s = e.state(zs.ID, "lilei")
	if s.Status != bot.HandoverDone || !s.TakeoverAt.Equal(takeover) || s.FinishedAt == nil {
		t.Errorf("final state %+v", s)
	}

	// Reminders: the open ones moved, the churn alert, the done one and
	// another customer's stayed.
	status := func(r *store.Reminder) string {
		got, err := st.FindReminderByID(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.StaffID + "/" + got.Status
	}
	for r, want := range map[*store.Reminder]string{promise: "lilei/cancelled", sent: "lilei/cancelled",
		churn: "lilei/pending", done: "lilei/done", notHis: "lilei/pending"} {
		if got := status(r); got != want {
			t.Errorf("reminder %s: %s, want %s", r.Key, got, want)
		}
	}
	var moved []string
	for _, r := range e.reminders(store.ReminderFilter{StaffID: "hanmm", CustomerID: zs.ID}) {
		if strings.HasPrefix(r.Text, "事项 ") {
			moved = append(moved, r.Text+"/"+r.Status+"/"+r.DueAt.UTC().Format(time.RFC3339))
		}
		// WeCom announces the takeover as a new contact: it must not
		// start the new-customer sequence for a customer of long standing.
		if r.Kind == store.ReminderCadence {
			t.Errorf("the takeover started the welcome sequence: %q", r.Text)
		}
	}
	slices.Sort(moved)
	want := []string{"事项 p1/pending/" + promise.DueAt.UTC().Format(time.RFC3339), "事项 p2/pending/" + sent.DueAt.UTC().Format(time.RFC3339)}
	if !slices.Equal(moved, want) {
		t.Errorf("moved reminders %v, want %v", moved, want)
	}

	// Everything again: the callbacks redelivered, the job re-armed. Nothing
	// changes.
	before := len(e.reminders(store.ReminderFilter{}))
	beforeTL := len(e.timeline(zs.ID))
	e.deliver(settled[0])
	if err := st.ScheduleJob(ctx, "handover:"+zs.ID+":lilei", bot.JobHandover, `{"customer_id":"`+zs.ID+`","from":"lilei"}`, e.Now()); err != nil {
		t.Fatal(err)
	}
	e.jobs()
	if n := len(e.reminders(store.ReminderFilter{})); n != before {
		t.Errorf("a repeat made %d reminders", n-before)
	}
	if n := len(e.timeline(zs.ID)); n != beforeTL {
		t.Errorf("a repeat added %d timeline entries", n-beforeTL)
	}
	if e.jobCount() != 0 {
		t.Error("a settled handover keeps its job")
	}

	// The same pipeline does raise churn when a customer really leaves, so
	// the silence above is the handover's doing.
	if _, err := e.driver.SendWeCom(ctx, wecomtest.ContactEvent("del_follow_user", "lilei", "wmLS", e.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	e.runPipeline()
	if !slices.ContainsFunc(e.reminders(store.ReminderFilter{CustomerID: other.ID}), func(r *store.Reminder) bool { return r.Kind == store.ReminderChurn }) {
		t.Error("no churn alert for a customer who deleted their salesperson")
	}
}

// TestHandoverRefusedAndLimit: a customer who refuses stays with their
// salesperson, and so do their reminders; the takeover member's customer
// limit ends a handover the same way. transfer_fail wakes the job.
func TestHandoverRefusedAndLimit(t *testing.T) {
	e := newHoEnv(t, openStore(t))
	for _, tc := range []struct {
		ext, name string
		status    int
		want      string
		outcome   string
	}{
		{"wmR1", "赵六", wecom.HandoverRefused, "客户拒绝转接（原定由 韩梅梅 接替）", bot.HandoverRefused},
		{"wmR2", "钱七", wecom.HandoverLimit, "转接失败：韩梅梅 的客户数已达上限", bot.HandoverLimit},
	} {
		t.Run(tc.outcome, func(t *testing.T) {
			c := e.contact(tc.ext, tc.name, "lilei", "")
			r := e.reminder("r-"+tc.ext, c.ID, "lilei", store.ReminderPromise, store.ReminderPending, t0.Add(72*time.Hour))
			e.start(c.ID, "lilei", "hanmm", false)
			e.jobs()
			e.Add(2 * time.Hour)
			st, err := e.sim.SettleHandover(tc.ext, tc.status)
			if err != nil {
				t.Fatal(err)
			}
			e.deliver(st)
			if n := e.jobs(); n != 1 {
				t.Fatalf("transfer_fail woke %d jobs, want 1", n)
			}
			s := e.state(c.ID, "lilei")
			if s.Status != tc.outcome || s.TakeoverAt != nil {
				t.Errorf("state %+v", s)
			}
			tl := e.timeline(c.ID)
			if !slices.Contains(tl, tc.want) {
				t.Errorf("timeline %q lacks %q", tl, tc.want)
			}
			got := e.customer(c.ID)
			if f := e.follow(got, "lilei"); f == nil || f.Deleted {
				t.Errorf("the salesperson lost the customer: %+v", got.Follows)
			}
			if f := e.follow(got, "hanmm"); f != nil {
				t.Errorf("the takeover member got a follow: %+v", f)
			}
			if rr, _ := e.st.FindReminderByID(context.Background(), r.ID); rr.StaffID != "lilei" || rr.Status != store.ReminderPending {
				t.Errorf("reminder %+v", rr)
			}
			if e.jobCount() != 0 {
				t.Error("the job outlived the handover")
			}
		})
	}
}

// TestHandoverResigned: WeCom will not start a resigned handover of a
// member still on the job, and scrm says so; once the member has left, the
// resigned handover goes through the resigned APIs.
func TestHandoverResigned(t *testing.T) {
	e := newHoEnv(t, openStore(t))
	c := e.contact("wmW", "王五", "lilei", "")
	e.start(c.ID, "lilei", "hanmm", true)
	e.jobs()
	s := e.state(c.ID, "lilei")
	if s.Status != bot.HandoverFailed || s.Reason != "原跟进人尚未离职，请用在职继承" {
		t.Fatalf("state %+v", s)
	}
	if tl := e.timeline(c.ID); !slices.Contains(tl, "转接未能发起：原跟进人尚未离职，请用在职继承") {
		t.Errorf("timeline %q", tl)
	}

	e.sim.ResignStaff("lilei")
	s = e.start(c.ID, "lilei", "hanmm", true)
	if s.Status != bot.HandoverPending {
		t.Fatalf("second start %+v", s)
	}
	e.jobs()
	if n := e.sim.Calls("externalcontact/resigned/transfer_customer"); n != 2 {
		t.Fatalf("resigned/transfer_customer called %d times", n)
	}
	e.Add(24*time.Hour + time.Minute)
	for _, st := range e.sim.SettleDueHandovers() {
		e.deliver(st)
	}
	e.jobs()
	got := e.customer(c.ID)
	if f := e.follow(got, "hanmm"); f == nil || f.Deleted {
		t.Fatalf("follows %+v", got.Follows)
	}
	if e.state(c.ID, "lilei").Status != bot.HandoverDone || e.sim.Calls("externalcontact/resigned/transfer_result") == 0 {
		t.Error("the resigned handover was not followed through the resigned APIs")
	}
}

// TestHandoverStartChecks: what StartHandover refuses, and that a refusal
// changes nothing.
func TestHandoverStartChecks(t *testing.T) {
	e := newHoEnv(t, openStore(t))
	ctx := context.Background()
	c := e.contact("wmX", "孙八", "lilei", "")
	oa, err := e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: "oX"},
		Follow: &store.Follow{StaffID: "lilei"}, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpsertStaff(ctx, &store.Staff{ID: "gone", Name: "离职", Role: bot.RoleSales}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  bot.HandoverRequest
	}{
		{"same member", bot.HandoverRequest{CustomerID: c.ID, From: "lilei", To: "lilei"}},
		{"not the follower", bot.HandoverRequest{CustomerID: c.ID, From: "hanmm", To: "lilei"}},
		{"inactive takeover", bot.HandoverRequest{CustomerID: c.ID, From: "lilei", To: "gone"}},
		{"unknown takeover", bot.HandoverRequest{CustomerID: c.ID, From: "lilei", To: "ghost"}},
		{"not a WeCom contact", bot.HandoverRequest{CustomerID: oa.ID, From: "lilei", To: "hanmm"}},
		{"message on resigned", bot.HandoverRequest{CustomerID: c.ID, From: "lilei", To: "hanmm", Resigned: true, Message: "您好"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bot.StartHandover(ctx, e.st, tc.req)
			var rej *bot.HandoverRejection
			if !errors.As(err, &rej) || rej.Text == "" || rej.Conflict {
				t.Fatalf("err = %v, want a rejection", err)
			}
		})
	}
	if _, err := bot.StartHandover(ctx, e.st, bot.HandoverRequest{CustomerID: "nope", From: "lilei", To: "hanmm"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown customer: %v", err)
	}
	if e.jobCount() != 0 || len(e.timeline(c.ID)) != 0 {
		t.Error("a refused start changed something")
	}
	e.start(c.ID, "lilei", "hanmm", false)
	_, err = bot.StartHandover(ctx, e.st, bot.HandoverRequest{CustomerID: c.ID, From: "lilei", To: "boss"})
	var rej *bot.HandoverRejection
	if !errors.As(err, &rej) || !rej.Conflict {
		t.Errorf("a second target while pending: %v", err)
	}
}

func TestMayHandOver(t *testing.T) {
	mgr := bot.Viewer{StaffID: "boss", Role: bot.RoleManager, Team: []string{"a", "b"}}
	for _, tc := range []struct {
		v        bot.Viewer
		from, to string
		want     bool
	}{
		{bot.Viewer{StaffID: "admin", Role: bot.RoleAdmin}, "x", "y", true},
		{mgr, "a", "b", true},
		{mgr, "boss", "a", true}, // a manager's own customers are in their scope
		{mgr, "a", "x", false},
		{mgr, "x", "a", false},
		{bot.Viewer{StaffID: "a", Role: bot.RoleSales}, "a", "b", false},
		{bot.Viewer{StaffID: "a"}, "a", "b", false},
	} {
		if got := bot.MayHandOver(tc.v, tc.from, tc.to); got != tc.want {
			t.Errorf("%s %v: %s → %s = %v, want %v", tc.v.Role, tc.v.Team, tc.from, tc.to, got, tc.want)
		}
	}
}

// TestHandoverCommand: "转交 张三 给 韩梅梅" from a manager starts a
// handover within their team; others are told why not.
func TestHandoverCommand(t *testing.T) {
	e := newHoEnv(t, openStore(t))
	ctx := context.Background()
	if err := e.st.UpsertStaff(ctx, &store.Staff{ID: "out", Name: "外人", Role: bot.RoleSales, Active: true}); err != nil {
		t.Fatal(err)
	}
	c := e.contact("wmZ3", "张三", "lilei", "")
	rec := &recorder{sent: map[string][]string{}}
	cmds := bot.NewCommands(e.st, bot.StaffDirectory{Staff: e.st}, rec, time.UTC)
	say := func(staff, text string, id int) string {
		t.Helper()
		ev := &store.Event{ID: int64(5000 + id), DedupKey: fmt.Sprint("msg:wecom:ho", id), Channel: store.ChannelWeCom, Kind: "text",
			FromID: staff, StaffID: staff, Text: text, OccurredAt: e.Now(), ReceivedAt: e.Now()}
		if err := cmds.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
		got := rec.sent[staff]
		return got[len(got)-1]
	}
	for i, tc := range []struct{ staff, text, want string }{
		{"lilei", "转交 张三 给 韩梅梅", "只有主管可以转交客户"},
		{"boss", "转交 张三", "格式：**转交 客户名 给 接替人**"},
		{"boss", "转交 李四 给 韩梅梅", "没有找到你可查看的客户"},
		{"boss", "转交 张三 给 无名氏", "没有找到在职员工"},
		{"boss", "转交 张三 给 外人", "接替人需在你的团队中"},
		{"boss", "转交 张三 给 韩梅梅", "已发起转交 ✅ **张三** 由 李雷 转给 韩梅梅"},
		{"boss", "转交 张三 给 hanmm", "已发起转交"}, // the same handover, asked again by UserID
		{"boss", "转交 张三 给 王经理", "未能转交：该客户已在转交给 韩梅梅 的流程中"},
	} {
		if got := say(tc.staff, tc.text, i); !strings.Contains(got, tc.want) {
			t.Errorf("%s %q: reply %q, want %q", tc.staff, tc.text, got, tc.want)
		}
	}
	s := e.state(c.ID, "lilei")
	if s.Status != bot.HandoverPending || s.To != "hanmm" || s.By != "boss" || e.jobCount() != 1 {
		t.Fatalf("state %+v, %d jobs", s, e.jobCount())
	}
	e.jobs()
	if p := e.sim.PendingHandovers(); len(p) != 1 || p[0].ExternalUserID != "wmZ3" {
		t.Fatalf("WeCom holds %+v", p)
	}
	audit, err := e.st.FindAudit(ctx, c.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Actor+":"+a.Action)
	}
	if got := strings.Join(actions, " "); got != "boss:handover_rejected boss:handover boss:handover boss:handover" {
		t.Errorf("audit %s", got)
	}
}

// forgetful is the real WeCom client with transfer_result's memory wiped:
// WeCom answering with no record of a handover it accepted.
type forgetful struct{ *wecom.APIClient }

func (forgetful) FindHandover(context.Context, wecom.HandoverQuery, string) (*wecom.HandoverRecord, error) {
	return nil, nil
}

// TestHandoverFaults: a lookup WeCom rejects before the start does not stop
// the start; a handover WeCom keeps no record of fails once well past its
// expected takeover, and not before.
func TestHandoverFaults(t *testing.T) {
	e := newHoEnv(t, openStore(t))
	c := e.contact("wmF", "周九", "lilei", "")
	e.start(c.ID, "lilei", "hanmm", false)
	e.sim.Fail("externalcontact/transfer_result", 60111, 1)
	e.jobs()
	if s := e.state(c.ID, "lilei"); !s.Submitted || len(e.sim.PendingHandovers()) != 1 {
		t.Fatalf("not started after a rejected lookup: %+v", s)
	}

	ho := bot.NewHandover(e.st, forgetful{e.api}, bot.HandoverOptions{Now: e.Now})
	runner := ho.Runner(e.st, bot.RunnerOptions{Owner: "forgetful", Now: e.Now})
	run := func() {
		t.Helper()
		if _, err := runner.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e.Add(24*time.Hour + time.Minute)
	run()
	if s := e.state(c.ID, "lilei"); s.Status != bot.HandoverPending {
		t.Fatalf("gave up at the expected takeover: %+v", s)
	}
	e.Add(48*time.Hour + time.Minute)
	run()
	s := e.state(c.ID, "lilei")
	if s.Status != bot.HandoverFailed || s.Reason != "企业微信没有这次转接的记录" {
		t.Fatalf("state %+v", s)
	}
	if e.jobCount() != 0 {
		t.Error("a failed handover keeps its job")
	}
}
