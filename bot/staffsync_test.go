package bot_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// staffEnv is a StaffSync over a real SQLite store and a real WeCom client
// talking to the simulator's address book.
type staffEnv struct {
	st   *sqlite.DB
	sim  *wecomtest.Simulator
	sync *bot.StaffSync
	*testClock
}

func newStaffEnv(t *testing.T) *staffEnv {
	t.Helper()
	e := &staffEnv{st: openStore(t), testClock: newTestClock(t0)}
	e.sim = wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { e.sim.Close() })
	api := simClient(t, e.sim, nil)
	e.sync = bot.NewStaffSync(e.st, api, bot.StaffSyncOptions{Now: e.Now, Debounce: 5 * time.Second})
	return e
}

// seedCompany builds the org chart of the tests:
//
//	1 示例科技: boss
//	└─ 2 销售部 (leader zhao, by department_leader): zhao
//	   ├─ 3 华东组 (leader qian, by is_leader_in_dept): qian, sun, wu (disabled)
//	   └─ 4 华南组: li, chen, zhou (left the company: status 5)
func (e *staffEnv) seedCompany() {
	e.sim.AddDepartment(wecomtest.Department{ID: 1, Name: "示例科技"})
	e.sim.AddDepartment(wecomtest.Department{ID: 2, Name: "销售部", Leaders: []string{"zhao"}})
	e.sim.AddDepartment(wecomtest.Department{ID: 3, Name: "华东组", ParentID: 2})
	e.sim.AddDepartment(wecomtest.Department{ID: 4, Name: "华南组", ParentID: 2})
	for _, s := range []wecomtest.Staff{
		{UserID: "boss", Name: "老板", Department: []int{1}},
		{UserID: "zhao", Name: "赵总监", Department: []int{2}},
		{UserID: "qian", Name: "钱组长", Department: []int{3}, IsLeader: true},
		{UserID: "sun", Name: "孙销售", Department: []int{3}},
		{UserID: "wu", Name: "吴销售", Department: []int{3}},
		{UserID: "li", Name: "李销售", Department: []int{4}},
		{UserID: "chen", Name: "陈销售", Department: []int{4}},
		{UserID: "zhou", Name: "周销售", Department: []int{4}},
	} {
		e.sim.AddStaff(s)
	}
	e.sim.SetStaffStatus("wu", wecomtest.StatusDisabled)
	e.sim.SetStaffStatus("zhou", wecomtest.StatusLeft)
}

func (e *staffEnv) put(t *testing.T, s *store.Staff) {
	t.Helper()
	if err := e.st.UpsertStaff(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func (e *staffEnv) staff(t *testing.T, id string) *store.Staff {
	t.Helper()
	s, err := e.st.FindStaffByID(context.Background(), id)
	if err != nil {
		t.Fatalf("staff %s: %v", id, err)
	}
	return s
}

func (e *staffEnv) syncOK(t *testing.T) bot.StaffSyncResult {
	t.Helper()
	res, err := e.sync.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkStaff compares the fields the sync decides.
func checkStaff(t *testing.T, got *store.Staff, role string, team []string, active bool) {
	t.Helper()
	if got.Role != role || !slices.Equal(got.Team, team) || got.Active != active {
		t.Errorf("%s = role %s team %v active %t, want role %s team %v active %t",
			got.ID, got.Role, got.Team, got.Active, role, team, active)
	}
}

func syncAudits(t *testing.T, st *sqlite.DB) int {
	t.Helper()
	all, err := st.FindAudit(context.Background(), "", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range all {
		if a.Actor == bot.StaffSyncActor && a.Action == bot.AuditStaffSync {
			n++
		}
	}
	return n
}

func TestStaffSyncDerivesRolesAndTeams(t *testing.T) {
	e := newStaffEnv(t)
	e.seedCompany()
	// What admins set in scrm before the first sync: the owner is an admin,
	// chen was made a manager of li by hand, wu was re-enabled by hand, and
	// an API-only user WeCom does not know.
	e.put(t, &store.Staff{ID: "boss", Name: "老板", Role: bot.RoleAdmin, Active: true, Manual: []string{store.StaffFieldRole}})
	e.put(t, &store.Staff{ID: "chen", Name: "陈", Role: bot.RoleManager, Team: []string{"li"}, Active: true,
		Manual: []string{store.StaffFieldRole, store.StaffFieldTeam}})
	e.put(t, &store.Staff{ID: "wu", Name: "吴销售", Role: bot.RoleSales, Active: true, Manual: []string{store.StaffFieldActive}})
	e.put(t, &store.Staff{ID: "report-bot", Name: "报表", Role: bot.RoleManager, Team: []string{"li"}, Active: true})

	res := e.syncOK(t)
	if res != (bot.StaffSyncResult{Members: 8, Created: 5, Updated: 3}) {
		t.Errorf("first sync = %+v", res)
	}
	// The leader of 销售部 leads all of it, sub-departments included.
	checkStaff(t, e.staff(t, "zhao"), bot.RoleManager, []string{"chen", "li", "qian", "sun", "wu", "zhou"}, true)
	checkStaff(t, e.staff(t, "qian"), bot.RoleManager, []string{"sun", "wu"}, true)
	checkStaff(t, e.staff(t, "sun"), bot.RoleSales, nil, true)
	checkStaff(t, e.staff(t, "li"), bot.RoleSales, nil, true)
	checkStaff(t, e.staff(t, "zhou"), bot.RoleSales, nil, false) // left
	// Hand-set fields survive; the rest follows WeCom.
	checkStaff(t, e.staff(t, "boss"), bot.RoleAdmin, nil, true)
	chen := e.staff(t, "chen")
	checkStaff(t, chen, bot.RoleManager, []string{"li"}, true)
	if chen.Name != "陈销售" || !slices.Equal(chen.Departments, []int64{4}) || chen.Source != store.StaffSourceWeCom {
		t.Errorf("chen's WeCom facts not applied: %+v", chen)
	}
	checkStaff(t, e.staff(t, "wu"), bot.RoleSales, nil, true) // disabled in WeCom, enabled by hand
	if bot := e.staff(t, "report-bot"); bot.Source != "" || bot.Role != "manager" || !bot.Active {
		t.Errorf("a record WeCom never listed was touched: %+v", bot)
	}
	if z := e.staff(t, "zhao"); z.Name != "赵总监" || !slices.Equal(z.Departments, []int64{2}) || z.Source != store.StaffSourceWeCom || z.Manual != nil {
		t.Errorf("zhao = %+v", z)
	}
	if n := syncAudits(t, e.st); n != 8 {
		t.Errorf("%d staff_sync audit entries, want one per record written (8)", n)
	}

	// The roles reach the one visibility rule through the staff directory.
	dir := bot.StaffDirectory{Staff: e.st}
	v, err := dir.Viewer(context.Background(), "qian")
	if err != nil || v.Role != bot.RoleManager || !slices.Equal(v.Scope(), []string{"qian", "sun", "wu"}) {
		t.Errorf("qian's viewer = %+v (scope %v), %v", v, v.Scope(), err)
	}
	if v, _ := dir.Viewer(context.Background(), "zhou"); v.Role != "" {
		t.Errorf("a member who left still resolves to role %q", v.Role)
	}

	// Nothing changed in WeCom: nothing to write.
	if res := e.syncOK(t); res != (bot.StaffSyncResult{Members: 8}) {
		t.Errorf("idempotent sync = %+v", res)
	}
	if n := syncAudits(t, e.st); n != 8 {
		t.Errorf("an idempotent sync wrote audit entries: %d", n)
	}

	// The org chart changes: sun leaves (deleted from the address book),
	// qian steps down, li is disabled, and an admin hands chen's team back
	// to the sync while keeping the role.
	e.sim.RemoveStaff("sun")
	e.sim.AddStaff(wecomtest.Staff{UserID: "qian", Name: "钱组长", Department: []int{3}})
	e.sim.SetStaffStatus("li", wecomtest.StatusDisabled)
	chen.Manual = []string{store.StaffFieldRole}
	e.put(t, chen)

	res = e.syncOK(t)
	if res != (bot.StaffSyncResult{Members: 7, Updated: 4, Deactivated: 1}) {
		t.Errorf("second sync = %+v", res)
	}
	checkStaff(t, e.staff(t, "sun"), bot.RoleSales, nil, false)
	checkStaff(t, e.staff(t, "qian"), bot.RoleSales, nil, true)
	checkStaff(t, e.staff(t, "li"), bot.RoleSales, nil, false)
	checkStaff(t, e.staff(t, "zhao"), bot.RoleManager, []string{"chen", "li", "qian", "wu", "zhou"}, true)
	// chen leads no department: a manager by hand whose team WeCom now
	// decides is a manager of nobody.
	checkStaff(t, e.staff(t, "chen"), bot.RoleManager, []string{}, true)
	checkStaff(t, e.staff(t, "boss"), bot.RoleAdmin, nil, true)
}

// Before WeCom added department_leader, leaders were known only from
// user/list's is_leader_in_dept: the sync reaches the same roles.
func TestStaffSyncWithoutDepartmentLeaderField(t *testing.T) {
	e := newStaffEnv(t)
	e.seedCompany()
	e.sim.HideDepartmentLeaders(true)
	e.syncOK(t)
	checkStaff(t, e.staff(t, "zhao"), bot.RoleManager, []string{"chen", "li", "qian", "sun", "wu", "zhou"}, true)
	checkStaff(t, e.staff(t, "qian"), bot.RoleManager, []string{"sun", "wu"}, true)
}

// A failed or empty read changes nothing: nobody is taken for gone.
func TestStaffSyncChangesNothingOnABadRead(t *testing.T) {
	e := newStaffEnv(t)
	e.seedCompany()
	e.syncOK(t)
	before, err := e.st.FindStaff(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	e.sim.Fail("user/list", 48002, 1) // the app lost the permission midway
	if _, err := e.sync.Sync(context.Background()); wecom.APIErrorCode(err) != 48002 {
		t.Errorf("sync with a failed user/list = %v, want errcode 48002", err)
	}
	// The visible range shrank to nobody.
	for _, s := range e.sim.StaffList() {
		e.sim.RemoveStaff(s.UserID)
	}
	if _, err := e.sync.Sync(context.Background()); !errors.Is(err, bot.ErrEmptyAddressBook) {
		t.Errorf("sync of an empty address book = %v, want ErrEmptyAddressBook", err)
	}
	after, err := e.st.FindStaff(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fmtStaffList(after) != fmtStaffList(before) {
		t.Errorf("a bad read changed the directory:\n%s\nwant\n%s", fmtStaffList(after), fmtStaffList(before))
	}
}

func fmtStaffList(l []*store.Staff) string {
	var b strings.Builder
	for _, s := range l {
		fmt.Fprintf(&b, "%+v\n", *s)
	}
	return b.String()
}

// The sync runs at start, daily, and after address book changes, as durable
// jobs.
func TestStaffSyncSchedule(t *testing.T) {
	e := newStaffEnv(t)
	e.seedCompany()
	ctx := context.Background()
	if err := e.sync.Start(ctx); err != nil {
		t.Fatal(err)
	}
	runner := e.sync.Runner(e.st, bot.RunnerOptions{Now: e.Now})
	runOnce := func() int {
		t.Helper()
		n, err := runner.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	jobs := func() int64 {
		t.Helper()
		n, err := e.st.CountJobs(ctx, bot.JobStaffSync)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := runOnce(); n != 1 || jobs() != 1 {
		t.Fatalf("start-up: ran %d, %d left; want the start-up sync run and the daily one waiting", n, jobs())
	}
	checkStaff(t, e.staff(t, "qian"), bot.RoleManager, []string{"sun", "wu"}, true)

	// A member is promoted in WeCom: the change_contact callback asks for a
	// sync, debounced.
	e.sim.AddStaff(wecomtest.Staff{UserID: "sun", Name: "孙销售", Department: []int{3}, IsLeader: true})
	for _, m := range []wecomtest.Msg{
		wecomtest.ContactChangeEvent("update_user", "sun", e.Now()),
		wecomtest.ContactChangeEvent("update_tag", "", e.Now()), // tags of the address book: no sync
	} {
		ev, err := wecom.ParseWeCom(m.XML(wecomtest.SimCorpID, ""))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.sync.Process(ctx, &store.Event{Channel: store.ChannelWeCom, Kind: ev.Kind, Attrs: ev.Attrs, StaffID: ev.StaffID}); err != nil {
			t.Fatal(err)
		}
	}
	if n := jobs(); n != 2 {
		t.Fatalf("%d jobs after the change, want the debounced sync and the daily one", n)
	}
	if n := runOnce(); n != 0 {
		t.Errorf("the debounced sync ran before its delay")
	}
	e.Add(6 * time.Second)
	if n := runOnce(); n != 1 {
		t.Fatalf("the debounced sync did not run")
	}
	checkStaff(t, e.staff(t, "sun"), bot.RoleManager, []string{"qian", "wu"}, true)

	// The daily sync runs a day after start and re-arms itself.
	e.sim.SetStaffStatus("li", wecomtest.StatusLeft)
	e.Add(24 * time.Hour)
	if n := runOnce(); n != 1 || jobs() != 1 {
		t.Fatalf("daily: ran %d, %d left; want it run and re-armed", n, jobs())
	}
	checkStaff(t, e.staff(t, "li"), bot.RoleSales, nil, false)
	if n := runOnce(); n != 0 {
		t.Error("the daily sync ran twice in one day")
	}
	e.Add(24 * time.Hour)
	if n := runOnce(); n != 1 {
		t.Error("the daily sync did not run the next day")
	}

	// A refusal retrying cannot fix (the app lost the address book
	// permission) waits for the next day instead of failing every few
	// minutes; an outage is retried.
	e.sim.Fail("department/list", 48002, 1)
	e.Add(24 * time.Hour)
	if n := runOnce(); n != 1 || jobs() != 1 {
		t.Fatalf("refused daily sync: ran %d, %d left", n, jobs())
	}
	e.Add(time.Hour)
	if n := runOnce(); n != 0 {
		t.Error("a refused sync was retried within the day")
	}
	e.sim.Fail("department/list", -1, 10) // busy beyond the client's retries
	if err := e.st.ScheduleJob(ctx, bot.StaffSyncJobKey, bot.JobStaffSync, "", e.Now()); err != nil {
		t.Fatal(err)
	}
	runOnce()
	if n := jobs(); n != 2 {
		t.Errorf("%d jobs after an outage, want the failed sync kept for a retry beside the daily one", n)
	}
}
