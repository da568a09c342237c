package bot

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestChannelRotaFollowsCapAndShifts drives a contact way through a cap,
// a shift's end and a new day on an injected clock, against the
// simulator: A (always on) and C (Mon/Tue 09:00–12:00) take the adds
// under a cap of 2, B is the backup.
func TestChannelRotaFollowsCapAndShifts(t *testing.T) {
	ctx := context.Background()
	st := OpenTestStore(t)
	mon := time.Date(2026, 12, 7, 10, 0, 0, 0, shanghai)
	if mon.Weekday() != time.Monday {
		t.Fatal("the test's Monday is not a Monday")
	}
	clock := wecomtest.NewFakeClock(mon)
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{Now: clock.Now})
	t.Cleanup(func() { sim.Close() })
	for _, id := range []string{"A", "B", "C"} {
		sim.AddStaff(wecomtest.Staff{UserID: id, Name: "员工" + id})
	}
	api, err := wecom.NewAPIClient(sim.APIConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	core := NewCore(st, clock.Now)
	core.SetChannelAPI(api)
	name, cap2, backup := "门店活码", 2, []string{"B"}
	staff := []store.ChannelStaff{{UserID: "A"}, {UserID: "C", Schedule: []store.Shift{{Weekdays: []int{1, 2}, Start: "09:00", End: "12:00"}}}}
	ch, err := core.CreateChannel(ctx, Actor{Viewer: Viewer{StaffID: "boss", Role: RoleAdmin}, Source: "test"},
		ChannelRequest{Name: &name, Staff: &staff, Backup: &backup, DailyCap: &cap2})
	if err != nil {
		t.Fatal(err)
	}
	rota := NewChannelRota(core, ChannelRotaOptions{Location: shanghai})

	inWeCom := func() []string {
		for _, w := range sim.ContactWays() {
			if w.ConfigID == ch.ConfigID {
				return slices.Sorted(slices.Values(w.User))
			}
		}
		t.Fatal("contact way gone")
		return nil
	}
	audits := func() int {
		es, err := st.FindAudit(ctx, ch.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			if e.Action == AuditChannelRota {
				n++
			}
		}
		return n
	}
	seq := 0
	add := func(staffID string) {
		seq++
		if _, err := st.RecordChannelEvent(ctx, store.ChannelEvent{Key: fmt.Sprint("ev", seq), ChannelID: ch.ID, Kind: store.ChannelEventAdd,
			CustomerID: fmt.Sprint("cu", seq), StaffID: staffID, At: clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	step := func(what string, wantChanged int, want ...string) {
		t.Helper()
		n, err := rota.RotateOnce(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n != wantChanged {
			t.Errorf("%s: changed %d channels, want %d", what, n, wantChanged)
		}
		if got := inWeCom(); !slices.Equal(got, want) {
			t.Errorf("%s: WeCom has %v, want %v", what, got, want)
		}
		stored, err := st.FindChannelByID(ctx, ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(stored.ActiveStaff)); !slices.Equal(got, want) {
			t.Errorf("%s: stored active staff %v, want %v", what, got, want)
		}
	}

	// Created at 10:00 Monday in Shanghai: the rota puts A and C on.
	step("monday 10:00", 1, "A", "C")
	step("again, nothing changed", 0, "A", "C")
	if n := audits(); n != 1 {
		t.Errorf("rota audits after an idle round: %d, want 1", n)
	}
	add("A")
	clock.Advance(time.Minute)
	step("A at 1 add", 0, "A", "C")
	add("A")
	step("A at the cap", 1, "C")
	clock.Advance(2*time.Hour + 30*time.Minute) // 12:31: C's shift ended
	step("C's shift ended, A capped", 1, "B")
	// Tuesday 07:30 in Shanghai is still Monday in UTC: A is back only if
	// "today" is the business time zone's.
	clock.Advance(time.Date(2026, 12, 8, 7, 30, 0, 0, shanghai).Sub(clock.Now()))
	step("tuesday 07:30, a new day", 1, "A")
	clock.Advance(2 * time.Hour)
	step("tuesday 09:30, C's shift began", 1, "A", "C")
	clock.Advance(time.Date(2026, 12, 8, 12, 0, 0, 0, shanghai).Sub(clock.Now()))
	step("tuesday 12:00, C's shift ended", 1, "A")
	if n := audits(); n != 6 {
		t.Errorf("rota audits: %d, want 6", n)
	}

	// Through the job runner: a round re-arms the job for the next one.
	if err := rota.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r := rota.Runner(st, RunnerOptions{Owner: "i1", Now: clock.Now})
	if n, err := r.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("run once: %d, %v", n, err)
	}
	if n, err := st.CountJobs(ctx, ChannelRotaJobKind); err != nil || n != 1 {
		t.Errorf("rota jobs after a round: %d, %v; want 1 (re-armed)", n, err)
	}
	if n, err := r.RunOnce(ctx); err != nil || n != 0 {
		t.Errorf("a second round before Every: %d jobs, %v; want none due", n, err)
	}
}
