package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// reportTests are the contract of store.ReportStore: the console's daily
// activity and response waits.
var reportTests = []crmTest{
	{"ActivityByDayAndWaits", func(t *testing.T, s store.Store, cfg Config) {
		a := upsert(t, s, store.CustomerUpsert{Identity: ext("wmRA"), Now: base})
		b := upsert(t, s, store.CustomerUpsert{Identity: ext("wmRB"), Now: base})
		day := 24 * time.Hour
		in := func(cid, key, staff string, at time.Time) *store.TimelineEntry {
			e := msgIn(cid, key, at)
			e.StaffID = staff
			return e
		}
		for _, e := range []*store.TimelineEntry{
			in(a.ID, "r1", "sales1", base.Add(time.Hour)),
			in(a.ID, "r2", "sales1", base.Add(2*time.Hour)),
			msgOut(a.ID, "r3", "sales1", base.Add(3*time.Hour)), // answers after 2 h
			note(a.ID, "r4", "sales1", base.Add(4*time.Hour)),   // a follow-up, no wait
			in(b.ID, "r5", "sales2", base.Add(day+time.Hour)),
			note(b.ID, "r6", "sales2", base.Add(day+90*time.Minute)), // answers after 30 min on day 2
			msgOut(b.ID, "r7", "", base.Add(day+2*time.Hour)),        // the bot: nobody's follow-up
			in(b.ID, "r8", "sales3", base.Add(3*day)),                // outside the bounds
		} {
			appendEntry(t, s, e)
		}
		bounds := []time.Time{base, base.Add(day), base.Add(2 * day)}
		got, err := s.ActivityByDay(ctxFor(t), []string{"sales1", "sales2", "sales3"}, bounds)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]store.DayActivity{
			"sales1": {{FollowUps: 2, MessagesOut: 1, MessagesIn: 2}, {}},
			"sales2": {{}, {FollowUps: 1, MessagesIn: 1}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ActivityByDay = %+v, want %+v", got, want)
		}
		if got, err := s.ActivityByDay(ctxFor(t), []string{"sales1"}, bounds[1:]); err != nil || len(got) != 0 {
			t.Fatalf("ActivityByDay(sales1, day 2) = %+v, %v; want nothing", got, err)
		}
		if got, err := s.ActivityByDay(ctxFor(t), nil, bounds); err != nil || len(got) != 0 {
			t.Fatalf("ActivityByDay(no staff) = %+v, %v; want nothing", got, err)
		}

		waits, err := s.ResponseWaits(ctxFor(t), []string{"sales1", "sales2"}, base, base.Add(2*day))
		if err != nil {
			t.Fatal(err)
		}
		wantWaits := []store.ResponseWait{
			{StaffID: "sales1", At: base.Add(3 * time.Hour), Waited: 2 * time.Hour},
			{StaffID: "sales2", At: base.Add(day + 90*time.Minute), Waited: 30 * time.Minute},
		}
		for i := range waits {
			waits[i].At = waits[i].At.UTC()
		}
		if !reflect.DeepEqual(waits, wantWaits) {
			t.Fatalf("ResponseWaits = %+v, want %+v", waits, wantWaits)
		}
		if waits, err := s.ResponseWaits(ctxFor(t), []string{"sales2"}, base, base.Add(day)); err != nil || len(waits) != 0 {
			t.Fatalf("ResponseWaits(sales2, day 1) = %+v, %v; want none", waits, err)
		}
	}},
	{"ReportsInOneRead", func(t *testing.T, s store.Store, cfg Config) {
		day := 24 * time.Hour
		bounds := []time.Time{base, base.Add(day), base.Add(2 * day)}
		// Follows: added on day 1, day 2, before and after the period; one
		// ended since (still a new customer of its day).
		follow := func(id, staff string, at time.Time) *store.Customer {
			return upsert(t, s, store.CustomerUpsert{Identity: ext(id), Follow: &store.Follow{StaffID: staff, AddedAt: at}, Now: at})
		}
		follow("wmN1", "sales1", base.Add(time.Hour))
		follow("wmN2", "sales1", base.Add(day+time.Hour))
		follow("wmN3", "sales2", base.Add(day+2*time.Hour))
		follow("wmN4", "sales2", base.Add(-time.Hour))
		follow("wmN5", "sales2", base.Add(2*day))
		follow("wmN6", "sales3", base.Add(time.Hour)) // outside the members asked
		upsert(t, s, store.CustomerUpsert{Identity: ext("wmN3"), Unfollow: "sales2", Now: base.Add(day + 3*time.Hour)})
		got, err := s.NewFollowsByDay(ctxFor(t), []string{"sales1", "sales2", "sales4"}, bounds)
		mustNil(t, err)
		if want := map[string][]int64{"sales1": {1, 1}, "sales2": {0, 1}}; !reflect.DeepEqual(got, want) {
			t.Errorf("NewFollowsByDay = %v, want %v", got, want)
		}
		if got, err := s.NewFollowsByDay(ctxFor(t), nil, bounds); err != nil || len(got) != 0 {
			t.Errorf("NewFollowsByDay(no staff) = %v, %v; want nothing", got, err)
		}

		// Sentiment by the day of the last contact, in the members' scope.
		label := func(id, staff, l string, contact time.Time) {
			c := upsert(t, s, store.CustomerUpsert{Identity: ext(id), Follow: &store.Follow{StaffID: staff, AddedAt: base}, CustomerAt: contact, Now: base})
			if l != "" {
				update(t, s, c.ID, store.CustomerUpdate{Insight: &store.Insight{SentimentLabel: l, AnalyzedAt: base}, Now: base})
			}
		}
		label("wmS1", "sales7", "positive", base.Add(time.Hour))
		label("wmS2", "sales7", "negative", base.Add(2*time.Hour))
		label("wmS3", "sales8", "negative", base.Add(day+time.Hour))
		label("wmS4", "sales8", "", base.Add(day+2*time.Hour))
		label("wmS5", "sales8", "positive", base.Add(-time.Hour)) // before the period
		label("wmS6", "sales9", "positive", base.Add(time.Hour))  // outside the team
		trend, err := s.SentimentByDay(ctxFor(t), store.CustomerFilter{StaffIDs: []string{"sales7", "sales8"}}, bounds)
		mustNil(t, err)
		if want := []map[string]int64{{"positive": 1, "negative": 1}, {"negative": 1, "": 1}}; !reflect.DeepEqual(trend, want) {
			t.Errorf("SentimentByDay(team) = %v, want %v", trend, want)
		}
		trend, err = s.SentimentByDay(ctxFor(t), store.CustomerFilter{StaffID: "sales8"}, bounds)
		mustNil(t, err)
		if want := []map[string]int64{{}, {"negative": 1, "": 1}}; !reflect.DeepEqual(trend, want) {
			t.Errorf("SentimentByDay(sales8) = %v, want %v", trend, want)
		}
		if trend, err := s.SentimentByDay(ctxFor(t), store.CustomerFilter{StaffIDs: []string{}}, bounds); err != nil || !reflect.DeepEqual(trend, []map[string]int64{{}, {}}) {
			t.Errorf("SentimentByDay(nobody) = %v, %v", trend, err)
		}

		// Lost customers: counted for every member who followed them, ended
		// follows included, and once in the total.
		lost := func(id string, staff ...string) {
			for _, st := range staff {
				upsert(t, s, store.CustomerUpsert{Identity: ext(id), Follow: &store.Follow{StaffID: st, AddedAt: base}, Stage: store.StageLost, Now: base})
			}
		}
		lost("wmL1", "sales5", "sales6")
		lost("wmL2", "sales5")
		lost("wmL3", "sales10") // outside the members asked
		upsert(t, s, store.CustomerUpsert{Identity: ext("wmL2"), Unfollow: "sales5", Now: base})
		upsert(t, s, store.CustomerUpsert{Identity: ext("wmX"), Follow: &store.Follow{StaffID: "sales5", AddedAt: base}, Stage: store.StageActive, Now: base})
		byStaff, total, err := s.LostCounts(ctxFor(t), []string{"sales5", "sales6"})
		mustNil(t, err)
		if want := map[string]int64{"sales5": 2, "sales6": 1}; !reflect.DeepEqual(byStaff, want) || total != 2 {
			t.Errorf("LostCounts = %v, %d; want %v, 2", byStaff, total, want)
		}
		if byStaff, total, err := s.LostCounts(ctxFor(t), nil); err != nil || len(byStaff) != 0 || total != 0 {
			t.Errorf("LostCounts(no staff) = %v, %d, %v", byStaff, total, err)
		}
	}},
}
