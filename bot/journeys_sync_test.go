package bot_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// newWelcomeMessageEnv is a journey that sends each new customer 欢迎关注,
// and 张三 (wmA) adding lisi on a Tuesday at 10:00: his message is due.
func newWelcomeMessageEnv(t *testing.T) (*jnEnv, *store.Customer) {
	e := newJnEnv(t, cst(12, 1, 10, 0), 0)
	e.journey(bot.JourneyRequest{Name: "欢迎", Trigger: store.JourneyTrigger{Type: store.TriggerNewCustomer},
		Steps: []store.JourneyStep{{Type: store.StepMessage, Text: "欢迎关注"}}})
	return e, e.add("wmA", "")
}

// syncWatch runs the campaign result sync on e's clock in 5-minute steps
// and records how long after start each round ran.
type syncWatch struct {
	e      *jnEnv
	start  time.Time
	rounds []time.Duration
	runner *bot.JobRunner
}

func watchSync(e *jnEnv, start time.Time) *syncWatch {
	w := &syncWatch{e: e, start: start}
	w.runner = bot.NewJobRunner(e.st, bot.CampaignSyncJobKind, func(ctx context.Context, j *store.Job) error {
		w.rounds = append(w.rounds, e.clk.Now().Sub(start))
		return e.core.HandleCampaignSyncJob(ctx, j)
	}, bot.RunnerOptions{Owner: "sync", Now: e.clk.Now})
	return w
}

// until runs the sync until d after start.
func (w *syncWatch) until(t *testing.T, d time.Duration) {
	t.Helper()
	for w.e.clk.Now().Before(w.start.Add(d)) {
		w.e.clk.Add(5 * time.Minute)
		drain(t, w.runner.RunOnce)
	}
}

// TestJourneyMessageSyncFollowsTheSender: a journey's message nobody sends
// is looked at in WeCom when its salesperson is likeliest to have sent it —
// half an hour after it was made, then ever less often, again after each
// nudge (which go out at 4, 8 and 12 hours as for any campaign), then every
// 6 hours — with one call a round (get_groupmsg_task: the per-customer
// results are asked for once it is sent). Sent after 30 hours, it is on the
// customer's timeline, at the time it was sent, by the next round, and the
// sync ends.
func TestJourneyMessageSyncFollowsTheSender(t *testing.T) {
	ctx := context.Background()
	e, cu := newWelcomeMessageEnv(t)
	e.tick()
	msgs := e.sim.GroupMsgs()
	if len(msgs) != 1 {
		t.Fatalf("%d messages in WeCom, want 1", len(msgs))
	}
	start := msgs[0].CreateTime
	w := watchSync(e, start)
	tasks, results := e.sim.Calls("externalcontact/get_groupmsg_task"), e.sim.Calls("externalcontact/get_groupmsg_send_result")
	tokens := e.sim.GetTokenCalls(wecomtest.SecretContact)
	w.until(t, 30*time.Hour)
	h := func(hours float64) time.Duration { return time.Duration(hours * float64(time.Hour)) }
	want := []time.Duration{h(0.5), h(1), h(2), h(4), h(4.5), h(5), h(6), h(8), h(8.5), h(9), h(10), h(12), h(12.5), h(13), h(14), h(16), h(20), h(26)}
	if !slices.Equal(w.rounds, want) {
		t.Fatalf("looked at after %v, want %v", w.rounds, want)
	}
	var nudges []time.Duration
	for _, r := range e.sim.GroupMsgs()[0].Reminders {
		nudges = append(nudges, r.Sub(start))
	}
	if !slices.Equal(nudges, []time.Duration{4 * time.Hour, 8 * time.Hour, 12 * time.Hour}) {
		t.Fatalf("nudged after %v", nudges)
	}
	// A round's call is made again after a new token when the token has
	// lapsed on the test's clock (the client's cache keeps real time).
	retries := e.sim.GetTokenCalls(wecomtest.SecretContact) - tokens
	if n, m := e.sim.Calls("externalcontact/get_groupmsg_task")-tasks-retries, e.sim.Calls("externalcontact/get_groupmsg_send_result")-results; n != len(want) || m != 0 {
		t.Fatalf("%d get_groupmsg_task and %d get_groupmsg_send_result in %d rounds, want one task a round and no results", n, m, len(want))
	}

	if !e.sim.ConfirmGroupMsg(msgs[0].MsgID) {
		t.Fatal("lisi could not send it")
	}
	sentAt := e.clk.Now()
	w.until(t, 32*time.Hour)
	if got := w.rounds[len(w.rounds)-1]; got != 32*time.Hour {
		t.Fatalf("last looked at after %v, want 32h", got)
	}
	tl, err := e.st.FindTimeline(ctx, cu.ID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(tl, func(en *store.TimelineEntry) bool {
		return en.Text == "收到群发「旅程「欢迎」」" && en.At.Equal(sentAt)
	}) {
		t.Fatal("the sent message is not on the timeline at the time it was sent")
	}
	if n, err := e.st.CountJobs(ctx, bot.CampaignSyncJobKind); err != nil || n != 0 {
		t.Fatalf("%d sync jobs left once it was sent, %v", n, err)
	}
	cp := e.journeyCampaigns(e.run(cu))[0]
	if r := cp.Report; r.Delivered != 1 || r.SendersSent != 1 || r.SyncedAt == nil || !r.SyncedAt.Equal(start.Add(32*time.Hour)) {
		t.Fatalf("report %+v", r)
	}
}

// TestJourneyMessageSyncEndsAfterAWeek: a journey's message nobody sends
// is looked at every 6 hours once its nudges are past, a last time when
// its week ends, and no more: 42 rounds where every half hour took 337.
func TestJourneyMessageSyncEndsAfterAWeek(t *testing.T) {
	ctx := context.Background()
	e, _ := newWelcomeMessageEnv(t)
	e.tick()
	w := watchSync(e, e.sim.GroupMsgs()[0].CreateTime)
	w.until(t, 8*24*time.Hour)
	const week = 7 * 24 * time.Hour
	if n := len(w.rounds); n != 42 || w.rounds[n-1] != week || w.rounds[n-2] != week-4*time.Hour || w.rounds[n-3] != week-10*time.Hour {
		t.Fatalf("%d rounds, the last after %v, want 42 ending with 158h, 164h and 168h", n, w.rounds[max(0, n-3):])
	}
	if n, err := e.st.CountJobs(ctx, bot.CampaignSyncJobKind); err != nil || n != 0 {
		t.Fatalf("%d sync jobs left after the week, %v", n, err)
	}
}
