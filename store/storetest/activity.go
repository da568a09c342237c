package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// activityTests are the contract of store.ActivityStore: the write-time
// counts behind a manager's team overview.
var activityTests = []crmTest{
	{"FollowUpsAndWaits", func(t *testing.T, s store.Store, cfg Config) {
		a := upsert(t, s, store.CustomerUpsert{Identity: ext("wmA"), Now: base})
		b := upsert(t, s, store.CustomerUpsert{Identity: ext("wmB"), Now: base})
		entries := []*store.TimelineEntry{
			msgIn(a.ID, "a1", base),
			msgIn(a.ID, "a2", base.Add(time.Minute)),               // still waiting since base
			note(a.ID, "a3", "sales1", base.Add(10*time.Minute)),   // answers after 10 min
			msgOut(a.ID, "a4", "sales1", base.Add(20*time.Minute)), // a follow-up, nobody waiting
			msgIn(a.ID, "a5", base.Add(30*time.Minute)),            // waiting again
			msgOut(a.ID, "a6", "", base.Add(35*time.Minute)),       // the bot's automatic answer: not a follow-up
			{CustomerID: a.ID, SourceKey: "a7", Kind: store.EntryEvent, StaffID: "sales1", At: base.Add(40 * time.Minute)},
			msgOut(a.ID, "a8", "sales2", base.Add(90*time.Minute)), // answers after 60 min
			msgIn(b.ID, "b1", base.Add(time.Hour)),
			note(b.ID, "b2", "sales2", base.Add(3*time.Hour)), // answers after 2 h, outside the first window
		}
		for _, e := range entries {
			appendEntry(t, s, e)
		}
		// Redelivered entries change nothing.
		for _, e := range entries {
			dup := *e
			dup.ID = 0
			if ok, err := s.AppendTimeline(ctxFor(t), &dup); err != nil || ok {
				t.Fatalf("append %s again = %v, %v; want false, nil", e.SourceKey, ok, err)
			}
		}
		staff := []string{"sales1", "sales2", "sales3"}
		checkFollowUps(t, s, staff, base, base.Add(2*time.Hour), map[string]store.FollowUpStats{
			"sales1": {FollowUps: 2, Responses: 1, ResponseTime: 10 * time.Minute},
			"sales2": {FollowUps: 1, Responses: 1, ResponseTime: time.Hour},
		})
		checkFollowUps(t, s, staff, base.Add(15*time.Minute), base.Add(4*time.Hour), map[string]store.FollowUpStats{
			"sales1": {FollowUps: 1},
			"sales2": {FollowUps: 2, Responses: 2, ResponseTime: 3 * time.Hour},
		})
		checkFollowUps(t, s, []string{"sales1"}, base.Add(2*time.Hour), base.Add(4*time.Hour), map[string]store.FollowUpStats{})
		checkFollowUps(t, s, nil, base, base.Add(4*time.Hour), map[string]store.FollowUpStats{})

		// A follow-up is a staff touch: the last contact moves with it.
		checkUTCPtr(t, "LastStaffTouchAt", byID(t, s, a.ID).LastStaffTouchAt, ptr(base.Add(90*time.Minute)))
		checkUTCPtr(t, "LastStaffTouchAt", byID(t, s, b.ID).LastStaffTouchAt, ptr(base.Add(3*time.Hour)))
	}},
	{"LateImportedMessageDoesNotWait", func(t *testing.T, s store.Store, cfg Config) {
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmC"), Now: base})
		appendEntry(t, s, msgOut(c.ID, "c1", "sales1", base.Add(time.Hour)))
		appendEntry(t, s, msgIn(c.ID, "c2", base)) // older than the reply: already answered
		appendEntry(t, s, note(c.ID, "c3", "sales1", base.Add(2*time.Hour)))
		checkFollowUps(t, s, []string{"sales1"}, base, base.Add(3*time.Hour), map[string]store.FollowUpStats{
			"sales1": {FollowUps: 2},
		})
	}},
	{"WaitSurvivesMerge", func(t *testing.T, s store.Store, cfg Config) {
		from := upsert(t, s, store.CustomerUpsert{Identity: ext("wmFrom"), Now: base})
		into := upsert(t, s, store.CustomerUpsert{Identity: openid("oInto"), Now: base})
		appendEntry(t, s, msgIn(from.ID, "m1", base))
		if _, err := s.MergeCustomers(ctxFor(t), into.ID, from.ID); err != nil {
			t.Fatal(err)
		}
		appendEntry(t, s, note(into.ID, "m2", "sales1", base.Add(5*time.Minute)))
		checkFollowUps(t, s, []string{"sales1"}, base, base.Add(time.Hour), map[string]store.FollowUpStats{
			"sales1": {FollowUps: 1, Responses: 1, ResponseTime: 5 * time.Minute},
		})
	}},
	{"NewFollowCounts", func(t *testing.T, s store.Store, cfg Config) {
		follow := func(ext0, staff string, at time.Time) {
			upsert(t, s, store.CustomerUpsert{Identity: ext(ext0), Follow: &store.Follow{StaffID: staff, AddedAt: at}, Now: at})
		}
		follow("wm1", "sales1", base)
		follow("wm2", "sales1", base.Add(time.Hour))
		follow("wm3", "sales1", base.Add(-time.Minute)) // before the window
		follow("wm4", "sales1", base.Add(24*time.Hour)) // at its end: excluded
		follow("wm1", "sales2", base.Add(2*time.Hour))  // one customer, two followers
		follow("wm5", "sales3", base.Add(time.Hour))    // not asked for
		follow("wm6", "sales2", base.Add(3*time.Hour))
		// The customer deleted sales2 since: still a new customer of the period.
		upsert(t, s, store.CustomerUpsert{Identity: ext("wm6"), Unfollow: "sales2", Now: base.Add(4 * time.Hour)})
		got, err := s.NewFollowCounts(ctxFor(t), []string{"sales1", "sales2", "sales4"}, base, base.Add(24*time.Hour))
		mustNil(t, err)
		if want := map[string]int64{"sales1": 2, "sales2": 2}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("NewFollowCounts = %v, want %v", got, want)
		}
	}},
	{"FollowerCounts", func(t *testing.T, s store.Store, cfg Config) {
		mk := func(id, stage string, staff ...string) {
			for _, st := range staff {
				upsert(t, s, store.CustomerUpsert{Identity: ext(id), Follow: &store.Follow{StaffID: st, AddedAt: base}, Stage: stage, Now: base})
			}
		}
		mk("wm1", store.StageDormant, "sales1", "sales2")
		mk("wm2", store.StageActive, "sales1")
		mk("wm3", store.StageDormant, "sales1")
		mk("wm4", store.StageDormant, "sales3")
		mk("wm5", store.StageDormant, "sales2")
		upsert(t, s, store.CustomerUpsert{Identity: ext("wm5"), Unfollow: "sales2", Now: base}) // no longer followed
		check := func(stage string, want map[string]int64) {
			t.Helper()
			got, err := s.FollowerCounts(ctxFor(t), []string{"sales1", "sales2", "sales4"}, stage)
			mustNil(t, err)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("FollowerCounts(%q) = %v, want %v", stage, got, want)
			}
		}
		check("", map[string]int64{"sales1": 3, "sales2": 1})
		check(store.StageDormant, map[string]int64{"sales1": 2, "sales2": 1})
		check(store.StageLost, map[string]int64{})
	}},
	{"SentimentCounts", func(t *testing.T, s store.Store, cfg Config) {
		mk := func(id, staff, label string, contact time.Time) {
			c := upsert(t, s, store.CustomerUpsert{Identity: ext(id), Follow: &store.Follow{StaffID: staff, AddedAt: base},
				CustomerAt: contact, Now: base})
			if label != "" {
				update(t, s, c.ID, store.CustomerUpdate{Insight: &store.Insight{SentimentLabel: label, AnalyzedAt: base}, Now: base})
			}
		}
		mk("wm1", "sales1", "positive", base.Add(time.Hour))
		mk("wm2", "sales1", "negative", base.Add(2*time.Hour))
		mk("wm3", "sales2", "negative", base.Add(3*time.Hour))
		mk("wm4", "sales2", "", base.Add(4*time.Hour))
		mk("wm5", "sales2", "positive", base.Add(-time.Hour)) // contacted before the period
		mk("wm6", "sales3", "positive", base.Add(time.Hour))  // outside the team
		check := func(f store.CustomerFilter, want map[string]int64) {
			t.Helper()
			got, err := s.SentimentCounts(ctxFor(t), f)
			mustNil(t, err)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("SentimentCounts(%+v) = %v, want %v", f, got, want)
			}
		}
		check(store.CustomerFilter{StaffIDs: []string{"sales1", "sales2"}, LastContactAfter: base},
			map[string]int64{"": 1, "negative": 2, "positive": 1})
		check(store.CustomerFilter{StaffID: "sales2", LastContactAfter: base, LastContactBefore: base.Add(4 * time.Hour)},
			map[string]int64{"negative": 1})
		check(store.CustomerFilter{}, map[string]int64{"": 1, "negative": 2, "positive": 3})
		check(store.CustomerFilter{StaffIDs: []string{}}, map[string]int64{})
	}},
}

func msgIn(cid, key string, at time.Time) *store.TimelineEntry {
	return &store.TimelineEntry{CustomerID: cid, SourceKey: key, Kind: store.EntryMessage, Direction: store.DirectionIn, Text: "在吗", At: at}
}

func msgOut(cid, key, staff string, at time.Time) *store.TimelineEntry {
	return &store.TimelineEntry{CustomerID: cid, SourceKey: key, Kind: store.EntryMessage, Direction: store.DirectionOut,
		StaffID: staff, Text: "您好", At: at}
}

func note(cid, key, staff string, at time.Time) *store.TimelineEntry {
	return &store.TimelineEntry{CustomerID: cid, SourceKey: key, Kind: store.EntryNote, StaffID: staff, Text: "电话沟通", At: at}
}

func appendEntry(t *testing.T, s store.Store, e *store.TimelineEntry) {
	t.Helper()
	if ok, err := s.AppendTimeline(ctxFor(t), e); err != nil || !ok {
		t.Fatalf("append %s = %v, %v", e.SourceKey, ok, err)
	}
}

func checkFollowUps(t *testing.T, s store.Store, staff []string, from, to time.Time, want map[string]store.FollowUpStats) {
	t.Helper()
	got, err := s.FollowUpStats(ctxFor(t), staff, from, to)
	mustNil(t, err)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FollowUpStats(%v, %s..%s) = %v, want %v", staff, from.Format("15:04"), to.Format("15:04"), got, want)
	}
}
