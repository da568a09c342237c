package bot_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// What the journeys add to the daily scan over 100,000 customers on the
// embedded store: the same walk with and without three time-triggered
// journeys enabled (a renewal date, no reply, dormancy), one customer in a
// hundred matching each of the first two. Each round scans a new day. Run:
//
//	go test ./bot/ -run '^$' -bench BenchmarkDailyScan100k -benchtime 3x
const benchScanCustomers = 100_000

func BenchmarkDailyScan100k(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 customers; skipped with -short")
	}
	ctx := context.Background()
	st := bot.OpenTestStore(b)
	seeded := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	now := seeded
	clock := func() time.Time { return now }
	const batch = 1000
	for from := 0; from < benchScanCustomers; from += batch {
		ups := make([]store.CustomerUpsert, 0, batch)
		upds := make([]store.CustomerUpdate, 0, batch)
		for i := from; i < from+batch; i++ {
			u := store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: fmt.Sprintf("wmscan%06d", i)},
				Name: fmt.Sprintf("客户%06d", i), Follow: &store.Follow{StaffID: fmt.Sprintf("sales%02d", i%20), AddedAt: seeded},
				CustomerAt: seeded, Now: seeded}
			var upd store.CustomerUpdate
			switch i % 100 {
			case 1:
				upd.Fields = map[string]string{"到期日": "2026-06-30"}
			case 2:
				u.StaffAt = seeded.Add(time.Hour) // our message, unanswered
			}
			ups, upds = append(ups, u), append(upds, upd)
		}
		if _, err := st.UpsertCustomerBatch(ctx, ups, upds); err != nil {
			b.Fatal(err)
		}
	}
	journeys, err := bot.NewJourneys(st, bot.JourneyOptions{Location: rmLoc, Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	admin := bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}
	remind := []store.JourneyStep{{Type: store.StepRemind, Text: "跟进"}}
	for _, tr := range []store.JourneyTrigger{
		{Type: store.TriggerDateField, Field: "到期日", Days: 120},
		{Type: store.TriggerNoReply, Days: 3},
		{Type: store.TriggerDormant, Days: 90},
	} {
		if _, _, err := bot.NewCore(st, clock).CreateJourney(ctx, admin, bot.JourneyRequest{Name: tr.Type, Enabled: true, Trigger: tr, Steps: remind}); err != nil {
			b.Fatal(err)
		}
	}
	scan := func(b *testing.B, j *bot.Journeys, from time.Time) {
		s, err := bot.NewScheduler(st, bot.StaticDirectory{}, nil, bot.SchedulerOptions{Owner: "bench", Location: rmLoc, Now: clock, Journeys: j})
		if err != nil {
			b.Fatal(err)
		}
		now = from
		for b.Loop() {
			now = now.AddDate(0, 0, 1)
			if err := s.Plan(ctx); err != nil {
				b.Fatal(err)
			}
			if n, err := s.RunJobsOnce(ctx); err != nil || n != 1 {
				b.Fatalf("%d jobs, %v", n, err)
			}
		}
	}
	b.Run("WithoutJourneys", func(b *testing.B) { scan(b, nil, seeded.AddDate(0, 0, 3)) })
	b.Run("WithJourneys", func(b *testing.B) {
		scan(b, journeys, seeded.AddDate(0, 0, 20))
		runs, err := st.CountJourneyRuns(ctx)
		if err != nil {
			b.Fatal(err)
		}
		total := 0
		for _, c := range runs {
			total += c.Active
		}
		if total != 2*benchScanCustomers/100 {
			b.Fatalf("%d runs, want %d (once per occurrence, however many days)", total, 2*benchScanCustomers/100)
		}
	})
}
