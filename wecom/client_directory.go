package wecom

import (
	"context"
	"net/url"
	"strconv"
)

// The corp's address book (通讯录): departments and their members, read
// with the self-built app's token. WeCom answers with what lies inside the
// app's visible range (可见范围), so the range must cover the staff scrm
// should know; no 通讯录同步 secret is needed. See the protocol doc,
// section 3, for what was confirmed about these APIs.

// Member statuses (the status field of user/list and user/get).
const (
	MemberActive    = 1 // 已激活
	MemberDisabled  = 2 // 已禁用
	MemberNotJoined = 4 // 未激活: invited, has not joined yet
	MemberLeft      = 5 // 退出企业
)

// Department is one department of department/list. The root department's
// ID is 1 and its ParentID 0.
type Department struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	ParentID int64  `json:"parentid"`
	Order    int64  `json:"order"`
	// Leaders are the department's 负责人 (department_leader), a newer field
	// that older answers lack; Member.IsLeaderInDept says the same per
	// member.
	Leaders []string `json:"department_leader"`
}

// Member is one member of user/list.
type Member struct {
	UserID     string  `json:"userid"`
	Name       string  `json:"name"`
	Department []int64 `json:"department"`
	// IsLeaderInDept runs parallel to Department: 1 where the member leads
	// that department.
	IsLeaderInDept []int `json:"is_leader_in_dept"`
	MainDepartment int64 `json:"main_department"`
	Status         int   `json:"status"` // MemberActive ... MemberLeft
}

// LeaderOf returns the departments the member leads by IsLeaderInDept.
func (m *Member) LeaderOf() []int64 {
	var out []int64
	for i, d := range m.Department {
		if i < len(m.IsLeaderInDept) && m.IsLeaderInDept[i] == 1 {
			out = append(out, d)
		}
	}
	return out
}

type apiDepartmentsAnswer struct {
	apiStatus
	Department []Department `json:"department"`
}

type apiMembersAnswer struct {
	apiStatus
	UserList []Member `json:"userlist"`
}

// ListDepartments returns department id and every department below it, or
// every department the app can see when id is 0.
func (c *APIClient) ListDepartments(ctx context.Context, id int64) ([]Department, error) {
	q := url.Values{}
	if id > 0 {
		q.Set("id", strconv.FormatInt(id, 10))
	}
	var resp apiDepartmentsAnswer
	if err := c.call(ctx, apiCall{
		api: "department/list", method: "GET", tokens: c.appTokens, query: q, idempotent: true,
	}, &resp); err != nil {
		return nil, err
	}
	if resp.Department == nil {
		return []Department{}, nil
	}
	return resp.Department, nil
}

// ListDepartmentMembers returns the members directly in a department (not
// those of its sub-departments) with their departments, leaderships and
// status.
func (c *APIClient) ListDepartmentMembers(ctx context.Context, departmentID int64) ([]Member, error) {
	var resp apiMembersAnswer
	if err := c.call(ctx, apiCall{
		api: "user/list", method: "GET", tokens: c.appTokens, idempotent: true,
		query: url.Values{"department_id": {strconv.FormatInt(departmentID, 10)}},
	}, &resp); err != nil {
		return nil, err
	}
	if resp.UserList == nil {
		return []Member{}, nil
	}
	return resp.UserList, nil
}
