package storetest

import (
	"fmt"
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
	{"FollowStateKeptOnWrites", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		hour := time.Hour
		follow := func(id, staff string) *store.Customer {
			return upsert(t, s, store.CustomerUpsert{Identity: ext(id), Follow: &store.Follow{StaffID: staff, AddedAt: base}, Now: base})
		}
		// Stages: set when the follow is made, changed after, changed by
		// a merge; the per-member counts follow every change.
		a := follow("wmF1", "sales1")
		b := follow("wmF2", "sales1")
		c := follow("wmF3", "sales2")
		update(t, s, a.ID, store.CustomerUpdate{Stage: ptr(store.StageDormant), Now: base})
		update(t, s, c.ID, store.CustomerUpdate{Stage: ptr(store.StageLost), Now: base})
		follow("wmF3", "sales1") // a new follow of a lost customer takes its stage
		counts := func(stage string) map[string]int64 {
			got, err := s.FollowerCounts(ctx, []string{"sales1", "sales2"}, stage)
			mustNil(t, err)
			return got
		}
		if got, want := counts(store.StageDormant), map[string]int64{"sales1": 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("dormant = %v, want %v", got, want)
		}
		if got, want := counts(""), map[string]int64{"sales1": 3, "sales2": 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("followers = %v, want %v", got, want)
		}
		byStaff, total, err := s.LostCounts(ctx, []string{"sales1", "sales2"})
		mustNil(t, err)
		if want := map[string]int64{"sales1": 1, "sales2": 1}; !reflect.DeepEqual(byStaff, want) || total != 1 {
			t.Errorf("LostCounts = %v, %d; want %v, 1", byStaff, total, want)
		}
		update(t, s, a.ID, store.CustomerUpdate{Stage: ptr(store.StageActive), Now: base}) // woken
		update(t, s, b.ID, store.CustomerUpdate{Stage: ptr(store.StageDormant), Now: base})
		if _, err := s.MergeCustomers(ctx, b.ID, c.ID); err != nil { // b (dormant) survives: nobody follows a lost customer now
			t.Fatal(err)
		}
		if got, want := counts(store.StageDormant), map[string]int64{"sales1": 1, "sales2": 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("dormant after merge = %v, want %v", got, want)
		}
		if byStaff, total, err := s.LostCounts(ctx, []string{"sales1", "sales2"}); err != nil || len(byStaff) != 0 || total != 0 {
			t.Errorf("LostCounts after merge = %v, %d, %v; want none", byStaff, total, err)
		}
		// By stage, each customer once (b is followed by both).
		if got, err := s.StageCounts(ctx, []string{"sales1", "sales2"}); err != nil ||
			!reflect.DeepEqual(got, map[string]int64{store.StageActive: 1, store.StageDormant: 1}) {
			t.Errorf("StageCounts = %v, %v; want one active, one dormant", got, err)
		}
		if got, err := s.StageCounts(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("StageCounts(nobody) = %v, %v", got, err)
		}

		// Waiting: a customer message starts it, a staff touch ends it, a
		// follow added later sees it, an ended follow drops it.
		w := follow("wmW1", "sales3")
		x := follow("wmW2", "sales3")
		msg := func(cu *store.Customer, key string, at time.Time) {
			appendEntry(t, s, msgIn(cu.ID, key, at))
			upsert(t, s, store.CustomerUpsert{Identity: ext(cu.Identities[0].Value), CustomerAt: at, Now: at})
		}
		reply := func(cu *store.Customer, key string, at time.Time) {
			appendEntry(t, s, msgOut(cu.ID, key, "sales3", at))
			upsert(t, s, store.CustomerUpsert{Identity: ext(cu.Identities[0].Value), StaffAt: at, Now: at})
		}
		msg(w, "fw1", base.Add(hour))
		msg(x, "fw2", base.Add(2*hour))
		reply(x, "fw3", base.Add(3*hour))
		msg(w, "fw4", base.Add(4*hour)) // still waiting, since the later message
		follow("wmW1", "sales4")
		waiting := func(after time.Time, staff ...string) []store.FollowedCustomer {
			got, err := s.WaitingFollows(ctx, staff, after)
			mustNil(t, err)
			return got
		}
		want := []store.FollowedCustomer{{StaffID: "sales3", CustomerID: w.ID, Since: base.Add(4 * hour)}, {StaffID: "sales4", CustomerID: w.ID, Since: base.Add(4 * hour)}}
		if got := waiting(base, "sales3", "sales4"); !reflect.DeepEqual(got, want) {
			t.Errorf("WaitingFollows = %v, want %v", got, want)
		}
		if got := waiting(base.Add(5*hour), "sales3", "sales4"); len(got) != 0 {
			t.Errorf("WaitingFollows(after the message) = %v, want none", got)
		}
		if got := waiting(base); len(got) != 0 {
			t.Errorf("WaitingFollows(no staff) = %v, want none", got)
		}
		// The list filters agree.
		find := func(f store.CustomerFilter) []string {
			cs, err := s.FindCustomers(ctx, f)
			mustNil(t, err)
			var ids []string
			for _, c := range cs {
				ids = append(ids, c.ID)
			}
			n, err := s.CountCustomers(ctx, f)
			mustNil(t, err)
			if int(n) != len(ids) {
				t.Errorf("CountCustomers(%+v) = %d, FindCustomers found %d", f, n, len(ids))
			}
			return ids
		}
		if got := find(store.CustomerFilter{Waiting: true}); !reflect.DeepEqual(got, []string{w.ID}) {
			t.Errorf("Find(waiting) = %v, want [%s]", got, w.ID)
		}
		if got := find(store.CustomerFilter{StaffID: "sales3", Waiting: true, Limit: 1}); !reflect.DeepEqual(got, []string{w.ID}) {
			t.Errorf("Find(sales3, waiting) = %v, want [%s]", got, w.ID)
		}
		upsert(t, s, store.CustomerUpsert{Identity: ext("wmW1"), Unfollow: "sales4", Now: base.Add(5 * hour)})
		reply(w, "fw5", base.Add(6*hour))
		if got := waiting(base, "sales3", "sales4"); len(got) != 0 {
			t.Errorf("WaitingFollows after the answer = %v, want none", got)
		}
		if got := find(store.CustomerFilter{Waiting: true}); len(got) != 0 {
			t.Errorf("Find(waiting) after the answer = %v, want none", got)
		}

		// Concerns: a negative analysis or a complaint nobody touched since.
		analyse := func(cu *store.Customer, label, intent string, at time.Time) {
			update(t, s, cu.ID, store.CustomerUpdate{Insight: &store.Insight{SentimentLabel: label, Intent: intent, AnalyzedAt: at}, Now: at})
		}
		n1 := follow("wmC1", "sales5")
		n2 := follow("wmC2", "sales5")
		n3 := follow("wmC3", "sales5")
		n4 := follow("wmC4", "sales5")
		for i, cu := range []*store.Customer{n1, n2, n3, n4} {
			msg(cu, fmt.Sprintf("fc%d", i), base.Add(hour))
		}
		analyse(n1, "negative", "", base.Add(2*hour))
		analyse(n2, "positive", store.ConcernIntent, base.Add(2*hour))
		analyse(n3, "negative", "", base.Add(2*hour))
		reply(n3, "fc9", base.Add(3*hour)) // handled after the analysis
		analyse(n4, "positive", "", base.Add(2*hour))
		got, err := s.OpenConcerns(ctx, []string{"sales5"}, base)
		mustNil(t, err)
		if want := []store.FollowedCustomer{{StaffID: "sales5", CustomerID: n1.ID, Since: base.Add(2 * hour)}, {StaffID: "sales5", CustomerID: n2.ID, Since: base.Add(2 * hour)}}; !reflect.DeepEqual(got, want) {
			t.Errorf("OpenConcerns = %v, want %v", got, want)
		}
		if got, err := s.OpenConcerns(ctx, []string{"sales5"}, base.Add(4*hour)); err != nil || len(got) != 0 {
			t.Errorf("OpenConcerns(in touch later) = %v, %v; want none", got, err)
		}
		if got := find(store.CustomerFilter{StaffID: "sales5", Sentiment: "negative"}); !reflect.DeepEqual(got, []string{n1.ID, n3.ID}) {
			t.Errorf("Find(sales5, negative) = %v, want [%s %s]", got, n1.ID, n3.ID)
		}
		if got := find(store.CustomerFilter{Sentiment: "positive", Waiting: true}); !reflect.DeepEqual(got, []string{n1.ID, n2.ID, n4.ID}[1:]) {
			t.Errorf("Find(positive, waiting) = %v, want [%s %s]", got, n2.ID, n4.ID)
		}
	}},
}
