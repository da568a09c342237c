package bot_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestSchedulersOnMongoOneKilledPushEachOnce is the cluster shape of the
// acceptance test: two instances' schedulers on one MongoDB-wire store
// (FerretDB) and one Redis (their shared WeCom token cache), 1,000 due
// reminders, and one instance killed in the middle of the run, after pushing
// and before marking. Each reminder must reach its salesperson exactly once,
// counted in the simulator.
func TestSchedulersOnMongoOneKilledPushEachOnce(t *testing.T) {
	// 1,000 reminders as in the acceptance test (200 under the race
	// detector), four per member so each gets cards, not a list.
	members, each, killAfter := 250, 4, int32(150)
	if rmUnderRace {
		members, killAfter = 50, 60
	}
	ctx := context.Background()
	uri, dbName := mongotest.Start(t), mongotest.DBName(t)
	db, err := mongo.Open(ctx, uri, dbName)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var st bot.SchedulerStore = db
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	defer sim.Close()
	clk := newTestClock(t0)
	var all []*store.Reminder
	for i := range members {
		staff := fmt.Sprintf("m%03d", i)
		sim.AddStaff(wecomtest.Staff{UserID: staff, Name: staff})
		for j := range each {
			r := &store.Reminder{Key: fmt.Sprintf("load:%d:%d", i, j), StaffID: staff, Kind: store.ReminderManual,
				Text: fmt.Sprintf("批量事项 %d-%d", i, j), DueAt: t0.Add(-time.Duration(i*each+j) * time.Second)}
			if _, err := st.CreateReminder(ctx, r); err != nil {
				t.Fatal(err)
			}
			all = append(all, r)
		}
	}
	// Each instance has its own WeCom client; Redis shares the token.
	prefix := fmt.Sprintf("scrmtest:rem:%d:", time.Now().UnixNano())
	instance := func(name string, store bot.SchedulerStore, wrap func(bot.Pusher) bot.Pusher) *bot.Scheduler {
		rc, err := coord.OpenRedis(ctx, "redis://127.0.0.1:6379/3", prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		api, err := wecom.NewAPIClient(sim.APIConfig(), rc, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out bot.Pusher = rmPusher{api}
		if wrap != nil {
			out = wrap(out)
		}
		s, err := bot.NewScheduler(store, bot.StaticDirectory{}, out, bot.SchedulerOptions{
			Owner: name, Location: rmLoc, Now: clk.Now, Lease: time.Minute, Batch: 100,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	dead := &rmKillable{SchedulerStore: st}
	ctxA, killA := context.WithCancel(ctx)
	defer killA()
	a := instance("a", dead, func(p bot.Pusher) bot.Pusher {
		return &rmDying{Pusher: p, n: killAfter, kill: func() { dead.dead.Store(true); killA() }}
	})
	b := instance("b", st, nil)

	start := time.Now()
	rmRace(t, ctx, ctxA, a, b)
	if !dead.dead.Load() {
		t.Fatal("instance a was never killed")
	}
	clk.Add(2 * time.Minute) // a's leases run out
	drain(t, b.PushDue)
	elapsed := time.Since(start)

	seen := map[string]int{}
	for _, m := range sim.Sent() {
		raw := string(m.Raw)
		if i := strings.Index(raw, `"task_id":"`); i >= 0 {
			id := raw[i+len(`"task_id":"`):]
			seen[id[:strings.IndexByte(id, '"')]]++
		}
	}
	for _, r := range all {
		if n := seen[rmTaskID(r)]; n != 1 {
			t.Errorf("reminder #%d reached %s %d times", r.ID, r.StaffID, n)
		}
		got, err := st.FindReminderByID(ctx, r.ID)
		if err != nil || got.Status != store.ReminderSent {
			t.Errorf("reminder #%d: %v %+v", r.ID, err, got)
		}
	}
	if n := len(sim.Sent()); n != len(all) {
		t.Errorf("%d messages delivered for %d reminders", n, len(all))
	}
	if sim.DuplicatesSuppressed() < 1 {
		t.Error("no repeat was suppressed: the killed instance's unmarked push was never retried")
	}
	t.Logf("%d reminders over %d members pushed once each in %v; %d repeats suppressed by the duplicate check",
		len(all), members, elapsed.Round(time.Millisecond), sim.DuplicatesSuppressed())
}
