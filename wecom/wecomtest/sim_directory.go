package wecomtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// The corp's address book (通讯录): departments, their leaders and member
// statuses, served by department/list and user/list.
//
// Staff added with AddStaff are the members. A department a member names
// without AddDepartment exists implicitly (department 1 is the root, "总部";
// any other hangs under it), so corps seeded before departments existed
// keep working. A member leads a department when Staff.IsLeader is set (for
// every department they are in) or when the department lists them in
// Department.Leaders; both answers agree, as WeCom's do.

// simDirectory is the address book state of a Simulator.
type simDirectory struct {
	depts       map[int]*Department
	deptOrder   []int
	status      map[string]int // UserID → status; absent means 1 (active)
	hideLeaders bool
}

// Department is a department of the simulated corp.
type Department struct {
	ID       int
	Name     string
	ParentID int // 0 for the root (ID 1); default 1 for any other
	// Leaders are UserIDs of the department's 负责人 besides the members
	// added with IsLeader.
	Leaders []string
}

// Member statuses of user/list, as WeCom numbers them.
const (
	StatusActive    = 1
	StatusDisabled  = 2
	StatusNotJoined = 4
	StatusLeft      = 5
)

// The address book APIs take the app's token (or the 客户联系 secret's).
// They are registered here rather than in sim.go's table so the address
// book stays in one file. OA's user/info shares the path prefix but not
// these names.
func init() {
	for _, api := range []string{"department/list", "user/list"} {
		simAPIKinds[api] = []string{SecretApp, SecretContact}
	}
}

// AddDepartment adds or replaces a department.
func (s *Simulator) AddDepartment(d Department) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := &s.directory
	if dir.depts == nil {
		dir.depts = map[int]*Department{}
	}
	if d.ParentID == 0 && d.ID != 1 {
		d.ParentID = 1
	}
	d.Leaders = slices.Clone(d.Leaders)
	if _, ok := dir.depts[d.ID]; !ok {
		dir.deptOrder = append(dir.deptOrder, d.ID)
	}
	dir.depts[d.ID] = &d
}

// SetStaffStatus sets a member's status (StatusActive ... StatusLeft).
func (s *Simulator) SetStaffStatus(userID string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.directory.status == nil {
		s.directory.status = map[string]int{}
	}
	s.directory.status[userID] = status
}

// RemoveStaff deletes a member from the address book, as an admin does when
// someone leaves: user/list no longer lists them.
func (s *Simulator) RemoveStaff(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.staff[userID]; !ok {
		return
	}
	delete(s.staff, userID)
	s.staffOrder = slices.DeleteFunc(s.staffOrder, func(id string) bool { return id == userID })
}

// HideDepartmentLeaders makes department/list answer without
// department_leader, as it did before WeCom added the field: leaders are
// then known only from user/list's is_leader_in_dept.
func (s *Simulator) HideDepartmentLeaders(hide bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.directory.hideLeaders = hide
}

// ContactChangeEvent is a change_contact event of the address book:
// changeType is create_user, update_user, delete_user, create_party,
// update_party or delete_party; id is the UserID (users) or the department
// Id (parties).
func ContactChangeEvent(changeType, id string, t time.Time) Msg {
	key := "UserID"
	if changeType == "create_party" || changeType == "update_party" || changeType == "delete_party" {
		key = "Id"
	}
	return sysEvent("change_contact", t, str("ChangeType", changeType), str(key, id))
}

// departments returns every department, explicit or implied by a member,
// in a stable order: explicit ones as added, then implied ones by ID.
// Called with s.mu held.
func (s *Simulator) departments() []*Department {
	dir := &s.directory
	out := make([]*Department, 0, len(dir.deptOrder)+1)
	seen := map[int]bool{}
	for _, id := range dir.deptOrder {
		out = append(out, dir.depts[id])
		seen[id] = true
	}
	var implied []int
	if !seen[1] {
		implied = append(implied, 1)
		seen[1] = true
	}
	for _, uid := range s.staffOrder {
		for _, d := range s.staff[uid].Department {
			if !seen[d] {
				seen[d] = true
				implied = append(implied, d)
			}
		}
	}
	slices.Sort(implied)
	for _, id := range implied {
		d := &Department{ID: id, Name: fmt.Sprintf("部门%d", id), ParentID: 1}
		if id == 1 {
			d.Name, d.ParentID = "总部", 0
		}
		out = append(out, d)
	}
	return out
}

// leads reports whether member st leads department dept. Called with s.mu
// held.
func (s *Simulator) leads(st *Staff, dept int) bool {
	if !slices.Contains(st.Department, dept) {
		return false
	}
	if st.IsLeader {
		return true
	}
	if d := s.directory.depts[dept]; d != nil {
		return slices.Contains(d.Leaders, st.UserID)
	}
	return false
}

// subtree returns root and every department below it.
func subtree(all []*Department, root int) map[int]bool {
	in := map[int]bool{root: true}
	for grew := true; grew; {
		grew = false
		for _, d := range all {
			if !in[d.ID] && in[d.ParentID] && d.ID != d.ParentID {
				in[d.ID] = true
				grew = true
			}
		}
	}
	return in
}

// departmentList serves department/list: department id and its subtree, or
// every department without id.
func (s *Simulator) departmentList(r *http.Request) simAnswer {
	all := s.departments()
	var in map[int]bool
	if v := r.URL.Query().Get("id"); v != "" {
		id, err := strconv.Atoi(v)
		if err != nil || !slices.ContainsFunc(all, func(d *Department) bool { return d.ID == id }) {
			return errAnswer(60123, "invalid party id")
		}
		in = subtree(all, id)
	}
	list := []map[string]any{}
	for _, d := range all {
		if in != nil && !in[d.ID] {
			continue
		}
		item := map[string]any{"id": d.ID, "name": d.Name, "parentid": d.ParentID, "order": 0}
		if !s.directory.hideLeaders {
			leaders := []string{}
			for _, uid := range s.staffOrder {
				if s.leads(s.staff[uid], d.ID) {
					leaders = append(leaders, uid)
				}
			}
			item["department_leader"] = leaders
		}
		list = append(list, item)
	}
	ans := okAnswer()
	ans["department"] = list
	return ans
}

// userList serves user/list: the members directly in department_id (with
// fetch_child=1, in its subtree too).
func (s *Simulator) userList(r *http.Request) simAnswer {
	q := r.URL.Query()
	id, err := strconv.Atoi(q.Get("department_id"))
	all := s.departments()
	if err != nil || !slices.ContainsFunc(all, func(d *Department) bool { return d.ID == id }) {
		return errAnswer(60123, "invalid party id")
	}
	in := map[int]bool{id: true}
	if q.Get("fetch_child") == "1" {
		in = subtree(all, id)
	}
	list := []map[string]any{}
	for _, uid := range s.staffOrder {
		st := s.staff[uid]
		if !slices.ContainsFunc(st.Department, func(d int) bool { return in[d] }) {
			continue
		}
		leader := make([]int, len(st.Department))
		for i, d := range st.Department {
			if s.leads(st, d) {
				leader[i] = 1
			}
		}
		status, ok := s.directory.status[uid]
		if !ok {
			status = StatusActive
		}
		main := 1
		if len(st.Department) > 0 {
			main = st.Department[0]
		}
		list = append(list, map[string]any{
			"userid": uid, "name": st.Name, "department": st.Department, "order": make([]int, len(st.Department)),
			"is_leader_in_dept": leader, "main_department": main, "status": status,
		})
	}
	ans := okAnswer()
	ans["userlist"] = list
	return ans
}
