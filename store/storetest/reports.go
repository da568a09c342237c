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
}
