package bot_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// What a journey's message step costs (issue 16): each is a one-customer
// campaign, planned against the frequency caps and then synced with WeCom
// until its salesperson sends it. Both benchmarks run the real path —
// a tag added through Core.EditTags starts the runs, the journey engine's
// RunDue makes the campaigns, the job runners plan, create and sync them —
// on the embedded SQLite store and the simulator over loopback. Run:
//
//	go test ./bot/ -run '^$' -bench BenchmarkJourneyMessages -benchtime 3x -v
//	go test ./bot/ -run '^$' -bench BenchmarkJourneySyncWeek -benchtime 1x -v

// costStore is the SQLite store, counting what the caps read and what the
// result syncs write.
type costStore struct {
	*sqlite.DB
	capQueries, capCounts atomic.Int64 // count queries; the customers' counts they returned
	monthReads            atomic.Int64 // of which counts of everyone's sends in a month
	campaignWrites        atomic.Int64
	jobArms               atomic.Int64
}

func (s *costStore) CountCampaignSends(ctx context.Context, from, to time.Time) (map[string]int, error) {
	m, err := s.DB.CountCampaignSends(ctx, from, to)
	s.monthReads.Add(1)
	s.capQueries.Add(1)
	s.capCounts.Add(int64(len(m)))
	return m, err
}

func (s *costStore) CountCampaignSendsOf(ctx context.Context, ids []string, from, to time.Time) (map[string]int, error) {
	m, err := s.DB.CountCampaignSendsOf(ctx, ids, from, to)
	s.capQueries.Add(1)
	s.capCounts.Add(int64(len(m)))
	return m, err
}

func (s *costStore) UpdateCampaign(ctx context.Context, c *store.Campaign) error {
	s.campaignWrites.Add(1)
	return s.DB.UpdateCampaign(ctx, c)
}

func (s *costStore) ScheduleJob(ctx context.Context, key, kind, payload string, at time.Time) error {
	s.jobArms.Add(1)
	return s.DB.ScheduleJob(ctx, key, kind, payload, at)
}

// journeyCost is a company of customers of 20 salespeople with one journey
// that messages a customer when the tag 资料 is added, on a Tuesday 10:00
// in Shanghai (inside the hours a message may go out).
type journeyCost struct {
	st       *costStore
	sim      *wecomtest.Simulator
	clock    *wecomtest.FakeClock
	core     *bot.Core
	journeys *bot.Journeys
	ids      []string // customer IDs, in seeding order
	next     int      // the next customer to message
}

const benchJourneySenders = 20

func newJourneyCost(b *testing.B, customers, contacts int) *journeyCost {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	e := &journeyCost{st: &costStore{DB: db}, clock: wecomtest.NewFakeClock(time.Date(2026, 3, 17, 2, 0, 0, 0, time.UTC))}
	e.sim = wecomtest.NewSimulator(wecomtest.SimConfig{Now: e.clock.Now})
	b.Cleanup(func() { e.sim.Close() })
	api, err := wecom.NewAPIClient(e.sim.APIConfig(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	for s := range benchJourneySenders {
		e.sim.AddStaff(wecomtest.Staff{UserID: fmt.Sprintf("sales%02d", s), Name: fmt.Sprintf("销售%02d", s)})
	}
	now := e.clock.Now()
	const batch = 1000
	for from := 0; from < customers; from += batch {
		ups := make([]store.CustomerUpsert, 0, batch)
		for i := from; i < min(from+batch, customers); i++ {
			ext, owner := fmt.Sprintf("wmjc%06d", i), fmt.Sprintf("sales%02d", i%benchJourneySenders)
			if i < contacts {
				e.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: ext, Follow: []wecomtest.Follow{{UserID: owner, CreateTime: now}}})
			}
			ups = append(ups, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext}, Name: fmt.Sprintf("客户%06d", i),
				Follow: &store.Follow{StaffID: owner, AddedAt: now}, Now: now})
		}
		ids, err := db.UpsertCustomerBatch(ctx, ups, make([]store.CustomerUpdate, len(ups)))
		if err != nil {
			b.Fatal(err)
		}
		e.ids = append(e.ids, ids...)
	}
	e.core = bot.NewCore(e.st, e.clock.Now)
	e.core.SetCampaigns(api, bot.CampaignOptions{MonthlyCap: 4, Location: rmLoc})
	if e.journeys, err = bot.NewJourneys(e.st, bot.JourneyOptions{Location: rmLoc, Now: e.clock.Now, Logger: ibQuiet()}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := e.core.CreateJourney(ctx, massAdmin, bot.JourneyRequest{Name: "资料跟进", Enabled: true,
		Trigger: store.JourneyTrigger{Type: store.TriggerTagAdded, Tag: "资料"},
		Steps:   []store.JourneyStep{{Type: store.StepMessage, Text: "您好，资料已发给您，请查收。"}}}); err != nil {
		b.Fatal(err)
	}
	return e
}

// fillMonth gives every customer two sends this month, as two earlier
// campaigns to everyone would have.
func (e *journeyCost) fillMonth(b *testing.B) {
	ctx := context.Background()
	const batch = 5000
	for _, cp := range []struct {
		id string
		at time.Time
	}{{"cp_bench_a", time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC)}, {"cp_bench_b", time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)}} {
		for from := 0; from < len(e.ids); from += batch {
			var sends []store.CampaignSend
			for i := from; i < min(from+batch, len(e.ids)); i++ {
				sends = append(sends, store.CampaignSend{CampaignID: cp.id, CustomerID: e.ids[i], ExternalUserID: fmt.Sprintf("wmjc%06d", i),
					Sender: fmt.Sprintf("sales%02d", i%benchJourneySenders), Status: store.SendDelivered, At: cp.at})
			}
			if err := e.st.PutCampaignSends(ctx, sends); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// enter adds the tag 资料 to the next n customers: n runs, their message
// due now.
func (e *journeyCost) enter(b *testing.B, n int) {
	if e.next+n > len(e.ids) {
		b.Fatalf("only %d customers to message", len(e.ids)-e.next)
	}
	for _, id := range e.ids[e.next : e.next+n] {
		if _, err := e.core.EditTags(context.Background(), massAdmin, bot.TagsRequest{CustomerID: id, Add: []string{"资料"}, Key: "bench:" + id}); err != nil {
			b.Fatal(err)
		}
	}
	e.next += n
}

// send advances the due runs and runs the campaign jobs they made, and
// checks that each made its message in WeCom.
func (e *journeyCost) send(b *testing.B, n int) {
	before := len(e.sim.GroupMsgs())
	drain(b, e.journeys.RunDue)
	drain(b, bot.NewJobRunner(e.st, bot.CampaignJobKind, e.core.HandleCampaignJob, bot.RunnerOptions{Owner: "bench", Now: e.clock.Now}).RunOnce)
	if got := len(e.sim.GroupMsgs()) - before; got != n {
		b.Fatalf("%d messages in WeCom, want %d", got, n)
	}
}

// benchJourneyMessages is how many journey messages one round makes.
const benchJourneyMessages = 200

// BenchmarkJourneyMessages: 200 journey messages made at once among
// 100,000 customers, while the month holds no sends (the baseline, same
// run) and then 200,000 (every customer two).
func BenchmarkJourneyMessages(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 customers; skipped with -short")
	}
	const customers = 100_000
	e := newJourneyCost(b, customers, 20*benchJourneyMessages)
	round := func(b *testing.B) {
		queries, counts := e.st.capQueries.Load(), e.st.capCounts.Load()
		for b.Loop() {
			b.StopTimer()
			e.enter(b, benchJourneyMessages)
			b.StartTimer()
			e.send(b, benchJourneyMessages)
		}
		msgs := float64(b.N * benchJourneyMessages)
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/msgs, "ms/message")
		b.ReportMetric(float64(e.st.capQueries.Load()-queries)/msgs, "cap-queries/message")
		b.ReportMetric(float64(e.st.capCounts.Load()-counts)/msgs, "cap-counts-read/message")
	}
	b.Run("EmptyMonth", round)
	e.fillMonth(b)
	b.Run("BusyMonth", round)
}

// benchSyncMessages is how many pending journey messages the week's sync
// follows.
const benchSyncMessages = 200

// BenchmarkJourneySyncWeek: 200 journey messages nobody sends, followed by
// the result sync for the week it lasts, the runner polled every 5 minutes
// on the simulated clock: the sync runs, the WeCom calls and the campaign
// writes per message, for the week and for its first day.
func BenchmarkJourneySyncWeek(b *testing.B) {
	e := newJourneyCost(b, 20*benchSyncMessages, 20*benchSyncMessages)
	ctx := context.Background()
	var runs atomic.Int64
	handle := func(ctx context.Context, j *store.Job) error {
		runs.Add(1)
		return e.core.HandleCampaignSyncJob(ctx, j)
	}
	apis := []string{"externalcontact/get_groupmsg_task", "externalcontact/get_groupmsg_send_result", "externalcontact/remind_groupmsg_send"}
	type tally struct {
		runs, writes, arms int64
		calls              []int
	}
	take := func() tally {
		t := tally{runs: runs.Load(), writes: e.st.campaignWrites.Load(), arms: e.st.jobArms.Load()}
		for _, api := range apis {
			t.calls = append(t.calls, e.sim.Calls(api))
		}
		// The first call after the token lapsed on the simulated clock
		// (the client's cache keeps real time) is made again after a new
		// token: not a call the sync asked for.
		t.calls[0] -= e.sim.GetTokenCalls(wecomtest.SecretContact)
		return t
	}
	var day1, week [2]tally
	for b.Loop() {
		b.StopTimer()
		e.enter(b, benchSyncMessages)
		e.send(b, benchSyncMessages)
		start := e.clock.Now()
		sync := bot.NewJobRunner(e.st, bot.CampaignSyncJobKind, handle, bot.RunnerOptions{Owner: "bench", Now: e.clock.Now})
		b.StartTimer()
		week[0], day1[0] = take(), take()
		for e.clock.Now().Before(start.Add(7*24*time.Hour + time.Hour)) {
			e.clock.Advance(5 * time.Minute)
			drain(b, sync.RunOnce)
			if e.clock.Now().Sub(start) == 24*time.Hour {
				day1[1] = take()
			}
		}
		week[1] = take()
		b.StopTimer()
		if n, err := e.st.CountJobs(ctx, bot.CampaignSyncJobKind); err != nil || n != 0 {
			b.Fatalf("%d sync jobs left after the week, %v", n, err)
		}
		b.StartTimer()
	}
	per := func(t [2]tally, what string) {
		msgs := float64(b.N * benchSyncMessages)
		b.ReportMetric(float64(t[1].runs-t[0].runs)/msgs, "runs/message-"+what)
		b.ReportMetric(float64(t[1].calls[0]-t[0].calls[0])/msgs, "get_groupmsg_task/message-"+what)
		b.ReportMetric(float64(t[1].calls[1]-t[0].calls[1])/msgs, "get_groupmsg_send_result/message-"+what)
		b.ReportMetric(float64(t[1].calls[2]-t[0].calls[2])/msgs, "remind/message-"+what)
		b.ReportMetric(float64(t[1].writes-t[0].writes)/msgs, "campaign-writes/message-"+what)
		b.ReportMetric(float64(t[1].arms-t[0].arms)/msgs, "job-arms/message-"+what)
	}
	per(day1, "day1")
	per(week, "week")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*benchSyncMessages), "ms/message-week")
}
