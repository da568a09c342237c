package wecom_test

import (
	"slices"
	"testing"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

func seedOrgChart(sim *wecomtest.Simulator) {
	sim.AddDepartment(wecomtest.Department{ID: 1, Name: "示例科技"})
	sim.AddDepartment(wecomtest.Department{ID: 2, Name: "销售部", Leaders: []string{"zhao"}})
	sim.AddDepartment(wecomtest.Department{ID: 3, Name: "华东组", ParentID: 2})
	sim.AddStaff(wecomtest.Staff{UserID: "zhao", Name: "赵经理", Department: []int{2}})
	sim.AddStaff(wecomtest.Staff{UserID: "qian", Name: "钱组长", Department: []int{3}, IsLeader: true})
	sim.AddStaff(wecomtest.Staff{UserID: "sun", Name: "孙销售", Department: []int{3, 2}})
	sim.SetStaffStatus("sun", wecomtest.StatusDisabled)
}

func TestListDepartments(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	seedOrgChart(sim)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()

	all, err := c.ListDepartments(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []wecom.Department{
		{ID: 1, Name: "示例科技", ParentID: 0, Leaders: []string{}},
		{ID: 2, Name: "销售部", ParentID: 1, Leaders: []string{"zhao"}},
		{ID: 3, Name: "华东组", ParentID: 2, Leaders: []string{"qian"}},
	}
	if !slices.EqualFunc(all, want, eqDept) {
		t.Errorf("departments = %+v, want %+v", all, want)
	}
	sub, err := c.ListDepartments(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(sub, want[1:], eqDept) {
		t.Errorf("departments under 2 = %+v, want %+v", sub, want[1:])
	}
	if _, err := c.ListDepartments(ctx, 99); wecom.APIErrorCode(err) != 60123 {
		t.Errorf("unknown department: %v, want errcode 60123", err)
	}

	// Before department_leader existed, answers lacked it.
	sim.HideDepartmentLeaders(true)
	all, err = c.ListDepartments(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if d.Leaders != nil {
			t.Errorf("department %d has leaders %v without the field", d.ID, d.Leaders)
		}
	}
}

func eqDept(a, b wecom.Department) bool {
	return a.ID == b.ID && a.Name == b.Name && a.ParentID == b.ParentID && slices.Equal(a.Leaders, b.Leaders)
}

func TestListDepartmentMembers(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	seedOrgChart(sim)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()

	got, err := c.ListDepartmentMembers(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].UserID != "qian" || got[1].UserID != "sun" {
		t.Fatalf("members of 3 = %+v, want qian and sun", got)
	}
	qian, sun := got[0], got[1]
	if qian.Name != "钱组长" || qian.Status != wecom.MemberActive || !slices.Equal(qian.LeaderOf(), []int64{3}) {
		t.Errorf("qian = %+v (leads %v)", qian, qian.LeaderOf())
	}
	if sun.Status != wecom.MemberDisabled || !slices.Equal(sun.Department, []int64{3, 2}) || len(sun.LeaderOf()) != 0 ||
		sun.MainDepartment != 3 {
		t.Errorf("sun = %+v", sun)
	}
	// Department 2's own members only: its sub-department's stay out.
	got, err = c.ListDepartmentMembers(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range got {
		ids = append(ids, m.UserID)
	}
	if !slices.Equal(ids, []string{"zhao", "sun"}) {
		t.Errorf("members of 2 = %v, want [zhao sun]", ids)
	}
	// department_leader and is_leader_in_dept agree.
	if !slices.Equal(got[0].LeaderOf(), []int64{2}) {
		t.Errorf("zhao leads %v, want [2]", got[0].LeaderOf())
	}

	sim.RemoveStaff("sun")
	got, err = c.ListDepartmentMembers(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].UserID != "qian" {
		t.Errorf("after sun left: %+v", got)
	}
	if _, err := c.ListDepartmentMembers(ctx, 42); wecom.APIErrorCode(err) != 60123 {
		t.Errorf("unknown department: %v, want errcode 60123", err)
	}
	if n := sim.GetTokenCalls(wecomtest.SecretContact); n != 0 {
		t.Errorf("the address book used the 客户联系 secret %d times; it reads with the app's token", n)
	}
}

// Staff seeded without departments of their own (as older tests and the
// demo do) still form an address book: the departments they name exist.
func TestImpliedDepartments(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	sim.AddStaff(wecomtest.Staff{UserID: "boss", Name: "老板", Department: []int{1}, IsLeader: true})
	sim.AddStaff(wecomtest.Staff{UserID: "rep", Name: "销售", Department: []int{7}})
	c := newClient(t, testConfig(sim), nil)
	all, err := c.ListDepartments(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []wecom.Department{
		{ID: 1, Name: "总部", Leaders: []string{"boss"}},
		{ID: 7, Name: "部门7", ParentID: 1, Leaders: []string{}},
	}
	if !slices.EqualFunc(all, want, eqDept) {
		t.Errorf("departments = %+v, want %+v", all, want)
	}
}
