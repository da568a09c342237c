package handlers_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestStaffSyncAPI: PUT /staff/{id} records what an admin sets by hand,
// POST /staff/sync schedules the sync, and the sync it schedules (run here
// against the WeCom simulator) keeps the hand-set fields.
func TestStaffSyncAPI(t *testing.T) {
	a := newAPIEnv(t)
	ctx := context.Background()
	put := func(id string, body any, want int) *store.Staff {
		t.Helper()
		status, raw := a.do(t, "PUT", "/api/v1/staff/"+id, apiTok, body)
		if status != want {
			t.Fatalf("PUT %s %v: %d %s, want %d", id, body, status, raw, want)
		}
		var m store.Staff
		if status == 200 {
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
		}
		return &m
	}

	// a1 is made a manager of a2 by hand; the name set later joins the list.
	m := put("a1", map[string]any{"role": "manager", "team": []string{"a2"}}, 200)
	if !slices.Equal(m.Manual, []string{"role", "team"}) {
		t.Errorf("manual after role and team = %v", m.Manual)
	}
	m = put("a1", map[string]any{"name": "销售A1组长"}, 200)
	if !slices.Equal(m.Manual, []string{"name", "role", "team"}) || m.Role != "manager" {
		t.Errorf("after a name edit: %+v", m)
	}
	put("a1", map[string]any{"manual": []string{"role", "salary"}}, 400)
	if got, _ := a.st.FindStaffByID(ctx, "a1"); !slices.Equal(got.Manual, []string{"name", "role", "team"}) {
		t.Errorf("a rejected PUT changed manual to %v", got.Manual)
	}

	// WeCom's address book: mgrA leads 销售一部 (a1, a2); a1 leads nothing.
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	sim.AddDepartment(wecomtest.Department{ID: 1, Name: "示例科技"})
	sim.AddDepartment(wecomtest.Department{ID: 2, Name: "销售一部", Leaders: []string{"mgrA"}})
	for _, s := range []wecomtest.Staff{
		{UserID: "boss", Name: "老板", Department: []int{1}},
		{UserID: "mgrA", Name: "A组经理", Department: []int{2}},
		{UserID: "a1", Name: "销售A1", Department: []int{2}},
		{UserID: "a2", Name: "销售A2", Department: []int{2}},
		{UserID: "newbie", Name: "新同事", Department: []int{2}},
	} {
		sim.AddStaff(s)
	}
	cfg := sim.APIConfig()
	cfg.RetryBackoff = time.Millisecond
	api, err := wecom.NewAPIClient(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runner := bot.NewStaffSync(a.st, api, bot.StaffSyncOptions{Now: func() time.Time { return apiNow }}).
		Runner(a.st, bot.RunnerOptions{Now: func() time.Time { return apiNow }})
	syncViaAPI := func() {
		t.Helper()
		for range 2 { // asking twice while one is pending queues one sync
			if status, body := a.do(t, "POST", "/api/v1/staff/sync", apiTok, nil); status != 202 {
				t.Fatalf("POST /staff/sync: %d %s", status, body)
			}
		}
		if n, err := a.st.CountJobs(ctx, bot.JobStaffSync); err != nil || n != 1 {
			t.Fatalf("%d staff sync jobs, %v; want 1", n, err)
		}
		if n, err := runner.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("ran %d staff sync jobs, %v", n, err)
		}
		if n, _ := a.st.CountJobs(ctx, bot.JobStaffSync); n != 0 {
			t.Fatalf("%d staff sync jobs left after a successful run", n)
		}
	}
	syncViaAPI()

	a1, _ := a.st.FindStaffByID(ctx, "a1")
	if a1.Role != "manager" || !slices.Equal(a1.Team, []string{"a2"}) || a1.Name != "销售A1组长" || !slices.Equal(a1.Departments, []int64{2}) {
		t.Errorf("a1 after the sync = %+v, want the hand-set role, team and name kept", a1)
	}
	// mgrA was set up before the sync first saw them (as in a deployment
	// upgraded to roles from WeCom): their role, team and active flag stay
	// as set, and are marked hand-set.
	mgrA, _ := a.st.FindStaffByID(ctx, "mgrA")
	if mgrA.Role != "manager" || !slices.Equal(mgrA.Team, []string{"a1", "a2"}) || mgrA.Source != store.StaffSourceWeCom ||
		!slices.Equal(mgrA.Manual, []string{"role", "team", "active"}) {
		t.Errorf("mgrA after the sync = %+v, want the team set before kept and marked manual", mgrA)
	}
	if boss, _ := a.st.FindStaffByID(ctx, "boss"); boss.Role != "admin" || !boss.Active {
		t.Errorf("the admin was changed: %+v", boss)
	}
	if b1, _ := a.st.FindStaffByID(ctx, "b1"); b1.Role != "sales" || !b1.Active || b1.Source != "" {
		t.Errorf("b1, whom WeCom never listed, was changed: %+v", b1)
	}
	// The sync's changes are in the audit log under its own name.
	status, raw := a.do(t, "GET", "/api/v1/audit?target=staff:mgrA", apiTok, nil)
	var audit struct{ Items []store.AuditEntry }
	if err := json.Unmarshal(raw, &audit); status != 200 || err != nil || len(audit.Items) != 1 ||
		audit.Items[0].Actor != bot.StaffSyncActor || audit.Items[0].Action != bot.AuditStaffSync {
		t.Errorf("audit of mgrA: %d %s", status, raw)
	}

	// The admin hands a1 and mgrA back to WeCom: the next sync makes a1
	// sales and gives mgrA their department.
	for _, id := range []string{"a1", "mgrA"} {
		if m := put(id, map[string]any{"manual": []string{}}, 200); m.Manual != nil {
			t.Errorf("%s: manual after clearing = %v", id, m.Manual)
		}
	}
	syncViaAPI()
	mgrA, _ = a.st.FindStaffByID(ctx, "mgrA")
	if mgrA.Role != "manager" || !slices.Equal(mgrA.Team, []string{"a1", "a2", "newbie"}) {
		t.Errorf("mgrA handed back to WeCom = %+v", mgrA)
	}
	a1, _ = a.st.FindStaffByID(ctx, "a1")
	if a1.Role != "sales" || len(a1.Team) != 0 || a1.Name != "销售A1" {
		t.Errorf("a1 handed back to WeCom = %+v", a1)
	}
}
