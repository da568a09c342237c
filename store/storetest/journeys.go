package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

var journeyTests = []crmTest{
	{"JourneysCompareAndSet", testJourneys},
	{"RunsOncePerOccurrence", testJourneyRuns},
	{"RunStepAdvancesOnce", testJourneyRunRace},
	{"JourneyRecordsBesideThem", testJourneyRecords},
}

func testJourneys(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	a := &store.Journey{ID: "jn1", Name: "新客户跟进", Builtin: "new_customer", Enabled: true,
		Trigger: store.JourneyTrigger{Type: store.TriggerNewCustomer, Channel: "ch1"},
		Steps: []store.JourneyStep{{Type: store.StepRemind, Text: "欢迎致电", Script: "#客户昵称#您好"}, {Type: store.StepWait, Days: 3},
			{Type: store.StepTags, AddTags: []string{"已联系"}}},
		Exit:      store.JourneyExit{OnReply: true, Stages: []string{store.StageWon}},
		CreatedBy: "admin", CreatedAt: base.Add(time.Minute), UpdatedAt: base}
	b := &store.Journey{ID: "jn0", Name: "续约", Trigger: store.JourneyTrigger{Type: store.TriggerDateField, Field: "到期日", Days: 30}, CreatedAt: base}
	for _, j := range []*store.Journey{a, b} {
		if err := s.CreateJourney(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if a.Version != 1 {
		t.Fatalf("version after create %d, want 1", a.Version)
	}
	if err := s.CreateJourney(ctx, &store.Journey{ID: "jn1", Name: "again", CreatedAt: base}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate journey: %v, want ErrConflict", err)
	}
	if err := s.CreateJourney(ctx, &store.Journey{ID: "jn2"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("no name: %v, want ErrInvalid", err)
	}
	got, err := s.FindJourneyByID(ctx, "jn1")
	if err != nil || got.Builtin != "new_customer" || got.Trigger.Channel != "ch1" || len(got.Steps) != 3 || got.Steps[0].Script != "#客户昵称#您好" ||
		got.Steps[1].Days != 3 || got.Steps[2].AddTags[0] != "已联系" || !got.Exit.OnReply || got.Exit.Stages[0] != store.StageWon || got.Version != 1 {
		t.Fatalf("FindJourneyByID = %+v, %v", got, err)
	}
	list, err := s.FindJourneys(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "jn0" || list[1].ID != "jn1" {
		t.Fatalf("FindJourneys = %v, %v", list, err)
	}

	// Two editors read version 1; the first write wins, the second is told.
	first, second := *got, *got
	first.Steps[0].Text = "欢迎致电（改）"
	if err := s.UpdateJourney(ctx, &first, 1); err != nil || first.Version != 2 {
		t.Fatalf("update: %v, version %d", err, first.Version)
	}
	second.Enabled = false
	if err := s.UpdateJourney(ctx, &second, 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	if err := s.UpdateJourney(ctx, &store.Journey{ID: "nope", Name: "x"}, 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update missing: %v, want ErrNotFound", err)
	}
	got, err = s.FindJourneyByID(ctx, "jn1")
	if err != nil || got.Version != 2 || got.Steps[0].Text != "欢迎致电（改）" || !got.Enabled {
		t.Fatalf("after the race: %+v, %v", got, err)
	}
}

func newRun(id, journey, customer, occ string, next time.Time) *store.JourneyRun {
	return &store.JourneyRun{ID: id, JourneyID: journey, CustomerID: customer, Occurrence: occ, StaffID: "lisi", State: store.RunActive,
		StepAt: next, NextAt: next, Anchor: next, StartedAt: next, UpdatedAt: next}
}

func testJourneyRuns(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	runs := []*store.JourneyRun{
		newRun("r1", "j1", "c1", "add:1", base.Add(2*time.Hour)),
		newRun("r2", "j1", "c2", "add:2", base.Add(time.Hour)),
		newRun("r3", "j1", "c1", "add:3", base.Add(3*time.Hour)),
		newRun("r4", "j2", "c1", "add:1", base),
	}
	for _, r := range runs {
		if ok, err := s.CreateJourneyRun(ctx, r); err != nil || !ok {
			t.Fatalf("create %s: %v %v", r.ID, ok, err)
		}
	}
	// The same occurrence enters once, whatever the ID.
	for _, dup := range []*store.JourneyRun{newRun("r1", "j9", "c9", "x", base), newRun("r1b", "j1", "c1", "add:1", base)} {
		if ok, err := s.CreateJourneyRun(ctx, dup); err != nil || ok {
			t.Fatalf("duplicate %s: created=%v %v", dup.ID, ok, err)
		}
	}
	if _, err := s.CreateJourneyRun(ctx, &store.JourneyRun{ID: "r5", JourneyID: "j1"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("run without customer: %v, want ErrInvalid", err)
	}
	got, err := s.FindJourneyRunByID(ctx, "r1")
	if err != nil || got.Occurrence != "add:1" || got.StaffID != "lisi" || got.Version != 1 || !got.NextAt.Equal(base.Add(2*time.Hour)) {
		t.Fatalf("FindJourneyRunByID = %+v, %v", got, err)
	}
	if _, err := s.FindJourneyRunByID(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing run: %v", err)
	}

	// r4 ends; r1 moves on to its next step.
	r4, _ := s.FindJourneyRunByID(ctx, "r4")
	ended := base.Add(time.Minute)
	r4.State, r4.ExitReason, r4.EndedAt = store.RunExited, "replied", &ended
	if err := s.UpdateJourneyRun(ctx, r4, r4.Version); err != nil || r4.Version != 2 {
		t.Fatalf("exit r4: %v (version %d)", err, r4.Version)
	}
	got.Step, got.NextAt, got.Log = 1, base.Add(30*time.Minute), []store.JourneyRunStep{{Step: 0, Type: store.StepRemind, At: base, Result: "reminder:1"}}
	if err := s.UpdateJourneyRun(ctx, got, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateJourneyRun(ctx, &store.JourneyRun{ID: "nope", JourneyID: "j", CustomerID: "c", Occurrence: "o"}, 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update missing run: %v, want ErrNotFound", err)
	}

	due, err := s.FindDueJourneyRuns(ctx, base.Add(2*time.Hour), 10)
	if err != nil || len(due) != 2 || due[0].ID != "r1" || due[1].ID != "r2" || due[0].Step != 1 || len(due[0].Log) != 1 {
		t.Fatalf("due runs = %+v, %v; want r1 (moved to 00:30), r2 — not the exited r4 nor the later r3", due, err)
	}
	if due, err := s.FindDueJourneyRuns(ctx, base.Add(2*time.Hour), 1); err != nil || len(due) != 1 || due[0].ID != "r1" {
		t.Fatalf("due runs, limit 1 = %+v, %v", due, err)
	}

	byJourney, err := s.FindJourneyRuns(ctx, store.JourneyRunFilter{JourneyID: "j1"})
	if err != nil || len(byJourney) != 3 || byJourney[0].ID != "r3" || byJourney[2].ID != "r2" {
		t.Fatalf("runs of j1 = %v, %v; want newest first", runIDs(byJourney), err)
	}
	page, err := s.FindJourneyRuns(ctx, store.JourneyRunFilter{JourneyID: "j1", Offset: 1, Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != "r1" {
		t.Fatalf("second page = %v, %v", runIDs(page), err)
	}
	active, err := s.FindJourneyRuns(ctx, store.JourneyRunFilter{CustomerID: "c1", State: store.RunActive})
	if err != nil || len(active) != 2 || active[0].ID != "r3" || active[1].ID != "r1" {
		t.Fatalf("active runs of c1 = %v, %v", runIDs(active), err)
	}
	if _, err := s.FindJourneyRuns(ctx, store.JourneyRunFilter{State: store.RunActive}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("runs of nothing: %v, want ErrInvalid", err)
	}
	counts, err := s.CountJourneyRuns(ctx)
	if err != nil || counts["j1"] != (store.JourneyRunCounts{Active: 3}) || counts["j2"] != (store.JourneyRunCounts{Exited: 1}) {
		t.Fatalf("counts = %+v, %v", counts, err)
	}
}

func runIDs(runs []*store.JourneyRun) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

// testJourneyRunRace: instances that read one version of a run race to
// advance it; exactly one write lands.
func testJourneyRunRace(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	if _, err := s.CreateJourneyRun(ctx, newRun("r1", "j1", "c1", "o", base)); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for i := range n {
		wg.Go(func() {
			r, err := s.FindJourneyRunByID(ctx, "r1")
			if err != nil {
				t.Error(err)
				return
			}
			r.Phase, r.NextAt, r.StaffID = store.RunCalling, base.Add(time.Duration(i)*time.Minute), "w"
			err = s.UpdateJourneyRun(ctx, r, 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrConflict):
				lost++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 || lost != n-1 {
		t.Fatalf("%d writers won, %d lost; want exactly one winner", won, lost)
	}
	r, err := s.FindJourneyRunByID(ctx, "r1")
	if err != nil || r.Version != 2 || r.Phase != store.RunCalling {
		t.Fatalf("after the race: %+v, %v", r, err)
	}
}

// testJourneyRecords: what journeys add to other records — a reminder's
// ready-to-send script, a journey's campaign kept out of the list of the
// campaigns people made, runs erased with their customer.
func testJourneyRecords(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	c := upsert(t, s, store.CustomerUpsert{Identity: phone("13800000001"), Name: "张三", Now: base})
	r := &store.Reminder{Key: "cadence:journey:r1:0", CustomerID: c.ID, StaffID: "lisi", Kind: store.ReminderCadence, Text: "欢迎致电",
		Script: "张三您好，我是李四", DueAt: base}
	if _, err := s.CreateReminder(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindReminderByID(ctx, r.ID)
	if err != nil || got.Script != "张三您好，我是李四" {
		t.Fatalf("reminder script %+v, %v", got, err)
	}
	if list, err := s.FindReminders(ctx, store.ReminderFilter{CustomerID: c.ID}); err != nil || len(list) != 1 || list[0].Script != r.Script {
		t.Fatalf("FindReminders = %+v, %v", list, err)
	}
	if claimed, err := s.ClaimDueReminders(ctx, "o", base, time.Minute, 10); err != nil || len(claimed) != 1 || claimed[0].Script != r.Script {
		t.Fatalf("claimed %+v, %v", claimed, err)
	}

	people := &store.Campaign{ID: "cp1", Name: "双十二", Status: store.CampaignScheduled, CreatedAt: base}
	journey := &store.Campaign{ID: "cp2", Name: "旅程「新客户」", Status: store.CampaignScheduled, JourneyID: "jn1",
		Filter: store.SegmentFilter{CustomerID: c.ID}, CreatedAt: base.Add(time.Minute)}
	for _, cp := range []*store.Campaign{people, journey} {
		if err := s.CreateCampaign(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
	if list, err := s.FindCampaigns(ctx, 0); err != nil || len(list) != 1 || list[0].ID != "cp1" {
		t.Fatalf("FindCampaigns = %v, %v; want the journey's campaign left out", list, err)
	}
	if cp, err := s.FindCampaignByID(ctx, "cp2"); err != nil || cp.JourneyID != "jn1" || cp.Filter.CustomerID != c.ID {
		t.Fatalf("journey campaign %+v, %v", cp, err)
	}

	if _, err := s.CreateJourneyRun(ctx, newRun("r1", "j1", c.ID, "add:wmZhang", base)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateJourneyRun(ctx, newRun("r2", "j1", "other", "add:x", base)); err != nil {
		t.Fatal(err)
	}
	if err := s.EraseCustomer(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if runs, err := s.FindJourneyRuns(ctx, store.JourneyRunFilter{CustomerID: c.ID}); err != nil || len(runs) != 0 {
		t.Fatalf("runs of an erased customer: %v, %v", runIDs(runs), err)
	}
	if _, err := s.FindJourneyRunByID(ctx, "r2"); err != nil {
		t.Fatalf("another customer's run went with the erase: %v", err)
	}
}
