package bot_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// An instance dies right after pushing a reminder as a card. When another
// instance takes the reminder over, more of the member's reminders have
// fallen due, enough for one list. The card must be repeated as that same
// card (which WeCom drops), not folded into the list, where the member would
// see the reminder a second time.
func TestInterruptedCardIsNotRepeatedInAList(t *testing.T) {
	e := newRmEnv(t, "lisi")
	c := e.customer("wmZ", "张三", "lisi", t0)
	all := e.reminders(3, "early", c.ID, "lisi", "早的事项", t0)
	a, dead, ctxA := e.doomed(1, 0)
	if _, err := a.PushDue(ctxA); err != nil {
		t.Fatal(err)
	}
	if !dead.dead.Load() || len(e.sim.Sent()) != 1 || e.sim.Sent()[0].MsgType != "template_card" {
		t.Fatalf("instance a should have died after one card; sent %d", len(e.sim.Sent()))
	}
	// While a's leases run, six more fall due: with a's three, nine.
	all = append(all, e.reminders(6, "late", c.ID, "lisi", "新的事项", t0.Add(time.Minute))...)
	e.clk.Add(2 * time.Minute)
	rmPush(t, e.sched)
	e.shownOnce("lisi", all)
	if n := e.sim.DuplicatesSuppressed(); n != 1 {
		t.Errorf("%d repeats suppressed, want 1 (the card a pushed before it died)", n)
	}
	if lists := rmMarkdowns(e.sim.SentTo("lisi"), "条跟进提醒"); len(lists) != 1 {
		t.Errorf("lisi got %d lists, want the six new reminders in one", len(lists))
	}
}

// A reminder postponed after it went out as a card is a new push: it may
// join a list with others due at its new time.
func TestPostponedCardMayJoinAList(t *testing.T) {
	e := newRmEnv(t, "lisi")
	c := e.customer("wmZ", "张三", "lisi", t0)
	first := e.reminder("first", c.ID, "lisi", "先回电", t0)
	rmPush(t, e.sched)
	if n := len(rmCards(e.sim.SentTo("lisi"))); n != 1 {
		t.Fatalf("%d cards, want 1", n)
	}
	tomorrow := t0.Add(24 * time.Hour)
	pending := store.ReminderPending
	if _, err := e.st.UpdateReminder(context.Background(), first.ID, store.ReminderUpdate{DueAt: &tomorrow, Status: &pending, Now: t0}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e.reminder(fmt.Sprint("tomorrow", i), c.ID, "lisi", fmt.Sprint("明天的事项", i), tomorrow)
	}
	e.clk.Set(tomorrow.Add(time.Second))
	rmPush(t, e.sched)
	lists := rmMarkdowns(e.sim.SentTo("lisi"), "条跟进提醒")
	if len(lists) != 1 || !strings.Contains(lists[0].Content, fmt.Sprintf("**#%d**", first.ID)) {
		t.Fatalf("want one list of six holding #%d; lisi got %d lists, %d cards", first.ID, len(lists), len(rmCards(e.sim.SentTo("lisi"))))
	}
	if n := len(rmCards(e.sim.SentTo("lisi"))); n != 1 {
		t.Errorf("%d cards, want only the first day's", n)
	}
}

// rmSlowClaim is a store whose first claim returns only after meanwhile has
// run: an instance whose claim outlasted its lease.
type rmSlowClaim struct {
	bot.SchedulerStore
	once      sync.Once
	meanwhile func()
}

func (s *rmSlowClaim) ClaimDueReminders(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Reminder, error) {
	rs, err := s.SchedulerStore.ClaimDueReminders(ctx, owner, now, lease, limit)
	s.once.Do(s.meanwhile)
	return rs, err
}

// An instance whose claim took longer than its lease must push nothing of
// it: another instance has taken the reminders over and pushed them in its
// own cut, here one list with a reminder that fell due since.
func TestSlowClaimPushesNothingAfterItsLease(t *testing.T) {
	e := newRmEnv(t, "lisi")
	c := e.customer("wmZ", "张三", "lisi", t0)
	all := e.reminders(8, "r", c.ID, "lisi", "事项", t0)
	slow := &rmSlowClaim{SchedulerStore: e.st, meanwhile: func() {
		e.clk.Add(2 * time.Minute)
		all = append(all, e.reminder("late", c.ID, "lisi", "新事项", t0.Add(time.Minute)))
		rmPush(t, e.sched)
	}}
	x, err := bot.NewScheduler(slow, e.dir, e.out, bot.SchedulerOptions{Owner: "x", Location: rmLoc, Now: e.clk.Now, Lease: time.Minute,
		Logger: slog.New(slog.DiscardHandler)}) // its releases are expected to fail
	if err != nil {
		t.Fatal(err)
	}
	if n, err := x.PushDue(context.Background()); err != nil || n != 8 {
		t.Fatalf("the slow instance claimed %d (err %v), want 8", n, err)
	}
	lists := rmMarkdowns(e.sim.Received(), "条跟进提醒")
	if len(lists) != 1 || len(e.sim.Received()) != 1 {
		t.Fatalf("WeCom received %d messages (%d lists), want the other instance's one list", len(e.sim.Received()), len(lists))
	}
	for _, r := range all {
		if !strings.Contains(lists[0].Content, fmt.Sprintf("**#%d**", r.ID)) {
			t.Errorf("the list lacks #%d", r.ID)
		}
		if st := e.get(r.ID).Status; st != store.ReminderSent {
			t.Errorf("reminder #%d is %s, want sent", r.ID, st)
		}
	}
}

// rmDiesRecording is a store whose instance dies during its n-th marker
// write: a crash in the middle of recording a list, before it was sent.
type rmDiesRecording struct {
	*rmKillable
	n, writes int
	kill      func()
}

func (d *rmDiesRecording) SetMarker(ctx context.Context, kind, key, value string, at time.Time) error {
	if d.writes++; d.writes == d.n {
		d.dead.Store(true)
		d.kill()
	}
	return d.rmKillable.SetMarker(ctx, kind, key, value, at)
}

// An instance dies having recorded a list on only some of its reminders,
// so the list never went out. Whoever takes them over must not repeat that
// list (it would show the unrecorded reminders, which go out again anew)
// but push them all once.
func TestHalfRecordedListIsCutAnew(t *testing.T) {
	e := newRmEnv(t, "lisi")
	c := e.customer("wmZ", "张三", "lisi", t0)
	all := e.reminders(8, "r", c.ID, "lisi", "事项", t0)
	ctxA, killA := context.WithCancel(context.Background())
	defer killA()
	dying := &rmDiesRecording{rmKillable: &rmKillable{SchedulerStore: e.st}, n: 4, kill: killA}
	a, err := bot.NewScheduler(dying, e.dir, e.out, bot.SchedulerOptions{Owner: "a", Location: rmLoc, Now: e.clk.Now, Lease: time.Minute,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PushDue(ctxA); err != nil {
		t.Fatal(err)
	}
	if !dying.dead.Load() || len(e.sim.Received()) != 0 {
		t.Fatalf("instance a should have died recording its list, before sending (%d sent)", len(e.sim.Received()))
	}
	e.clk.Add(2 * time.Minute)
	rmPush(t, e.sched)
	if n := len(e.sim.Sent()); n != len(e.sim.SentTo("lisi")) {
		t.Errorf("%d messages sent, only %d to lisi", n, len(e.sim.SentTo("lisi")))
	}
	e.shownOnce("lisi", all)
}

// rmTimedClaims is a store whose claims take `took` on the test clock and
// which records how many reminders each claim asked for.
type rmTimedClaims struct {
	bot.SchedulerStore
	clk    *rmClock
	took   time.Duration
	limits []int
}

func (s *rmTimedClaims) ClaimDueReminders(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Reminder, error) {
	s.limits = append(s.limits, limit)
	s.clk.Add(s.took)
	return s.SchedulerStore.ClaimDueReminders(ctx, owner, now, lease, limit)
}

// Claims that eat into the lease shrink the next batch, so what is claimed
// can still be pushed within the lease; quick claims grow it back.
func TestSlowClaimsShrinkTheBatch(t *testing.T) {
	e := newRmEnv(t, "lisi")
	c := e.customer("wmZ", "张三", "lisi", t0)
	e.reminders(3, "r", c.ID, "lisi", "事项", t0)
	timed := &rmTimedClaims{SchedulerStore: e.st, clk: e.clk, took: 40 * time.Second}
	s, err := bot.NewScheduler(timed, e.dir, e.out, bot.SchedulerOptions{Owner: "x", Location: rmLoc, Now: e.clk.Now, Lease: time.Minute, Batch: 40})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.PushDue(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	timed.took = time.Second
	for range 3 {
		if _, err := s.PushDue(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if want := []int{40, 20, 10, 5, 10, 20}; !slices.Equal(timed.limits, want) {
		t.Fatalf("claims asked for %v, want %v", timed.limits, want)
	}
	// A claim of 40s of a 1m lease still leaves time to push.
	if n := len(rmCards(e.sim.SentTo("lisi"))); n != 3 {
		t.Fatalf("lisi got %d cards, want 3", n)
	}
}
