package handlers_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// groupFixture: one group per owner across both teams, plus a dismissed one.
// c1 (a1's customer) is in wrA1 and wrB1; c4 is in wrA1 under a unionid.
var groupFixture = []struct {
	chatID, name, owner string
	members             []store.GroupMember
}{
	{"wrA1", "A1的群", "a1", []store.GroupMember{
		{UserID: "a1", Type: store.GroupMemberStaff, JoinedAt: apiNow.Add(-48 * time.Hour)},
		{UserID: "wm-c1", Type: store.GroupMemberExternal, JoinedAt: apiNow.Add(-47 * time.Hour), JoinScene: 3},
		{UserID: "wm-c4-alias", Type: store.GroupMemberExternal, JoinedAt: apiNow.Add(-46 * time.Hour), JoinScene: 1, UnionID: "un-c4"},
	}},
	{"wrA2", "A2的群", "a2", []store.GroupMember{{UserID: "a2", Type: store.GroupMemberStaff, JoinedAt: apiNow}}},
	{"wrB1", "B1的群", "b1", []store.GroupMember{
		{UserID: "b1", Type: store.GroupMemberStaff, JoinedAt: apiNow.Add(-24 * time.Hour)},
		{UserID: "wm-c1", Type: store.GroupMemberExternal, JoinedAt: apiNow.Add(-23 * time.Hour), JoinScene: 1},
	}},
	{"wrMgrA", "A组经理的群", "mgrA", nil},
	{"wrOld", "已解散的群", "a1", []store.GroupMember{{UserID: "wm-c1", Type: store.GroupMemberExternal, JoinedAt: apiNow}}},
}

func seedGroups(t *testing.T, a *apiEnv) {
	t.Helper()
	ctx := context.Background()
	for _, g := range groupFixture {
		if _, err := a.st.UpsertGroup(ctx, &store.Group{ChatID: g.chatID, Name: g.name, OwnerID: g.owner,
			CreatedAt: apiNow.Add(-72 * time.Hour), UpdatedAt: apiNow, Members: g.members}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.st.DismissGroup(ctx, "wrOld", apiNow); err != nil {
		t.Fatal(err)
	}
	if _, err := a.st.UpdateCustomer(ctx, a.ids["c4"], store.CustomerUpdate{
		AddIdentities: []store.Identity{{Kind: store.IdentityUnionID, Value: "un-c4"}}, Now: apiNow}); err != nil {
		t.Fatal(err)
	}
}

type groupPage struct {
	Items []struct {
		ChatID          string `json:"chat_id"`
		Name            string `json:"name"`
		OwnerID         string `json:"owner_id"`
		Members         int    `json:"members"`
		ExternalMembers int    `json:"external_members"`
		Dismissed       bool   `json:"dismissed"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// listGroups pages through GET /groups and returns the chat ids.
func (a *apiEnv) listGroups(t *testing.T, token string, q url.Values) []string {
	t.Helper()
	var out []string
	for range 20 {
		pg := getJSON[groupPage](t, a, "/api/v1/groups?"+q.Encode(), token)
		for _, g := range pg.Items {
			out = append(out, g.ChatID)
		}
		if pg.NextCursor == "" {
			return out
		}
		q.Set("cursor", pg.NextCursor)
	}
	t.Fatal("paging does not end")
	return nil
}

// TestAPIGroups: every principal × owner filter lists exactly the groups
// their scope owns, page by page.
func TestAPIGroups(t *testing.T) {
	a := newAPIEnv(t)
	seedGroups(t, a)
	owned := func(scope []string, owner string, dismissed bool) []string {
		var want []string
		for _, g := range groupFixture {
			if (g.chatID == "wrOld" && !dismissed) || (scope != nil && !slices.Contains(scope, g.owner)) ||
				(owner != "" && g.owner != owner) {
				continue
			}
			want = append(want, g.chatID)
		}
		slices.Sort(want)
		return want
	}
	for _, p := range a.principals(t) {
		t.Run(p.name, func(t *testing.T) {
			for _, owner := range []string{"", "a1", "a2", "b1", "mgrA", "nobody"} {
				for _, dismissed := range []bool{false, true} {
					q := url.Values{"limit": {"1"}}
					if owner != "" {
						q.Set("owner", owner)
					}
					if dismissed {
						q.Set("include_dismissed", "true")
					}
					got := a.listGroups(t, p.token, q)
					if want := owned(p.scope, owner, dismissed); !slices.Equal(got, want) {
						t.Errorf("owner=%q dismissed=%v: got %v, want %v", owner, dismissed, got, want)
					}
				}
			}
		})
	}
	status, body := a.do(t, "GET", "/api/v1/groups?owner=a1", apiTok, nil)
	var pg groupPage
	if err := json.Unmarshal(body, &pg); status != 200 || err != nil || len(pg.Items) != 1 {
		t.Fatalf("GET /groups?owner=a1: %d %s", status, body)
	}
	if g := pg.Items[0]; g.Name != "A1的群" || g.OwnerID != "a1" || g.Members != 3 || g.ExternalMembers != 2 || g.Dismissed {
		t.Errorf("wrA1 = %+v", g)
	}
	if strings.Contains(string(body), "wm-c1") {
		t.Errorf("the group list names its members: %s", body)
	}
	for _, q := range []string{"limit=0", "limit=201", "include_dismissed=maybe", "cursor=" + strings.Repeat("x", 129)} {
		if status, body := a.do(t, "GET", "/api/v1/groups?"+q, apiTok, nil); status != 400 {
			t.Errorf("%s: %d %s, want 400", q, status, body)
		}
	}
}

// TestAPICustomerGroups: a customer's detail lists the live groups they are
// in, found by external_userid or unionid, for whoever may see the customer.
func TestAPICustomerGroups(t *testing.T) {
	a := newAPIEnv(t)
	seedGroups(t, a)
	type detail struct {
		Name   string                `json:"name"`
		Groups []store.CustomerGroup `json:"groups"`
	}
	get := func(token, key string) (int, detail) {
		t.Helper()
		status, body := a.do(t, "GET", "/api/v1/customers/"+a.ids[key], token, nil)
		var d detail
		if status == 200 {
			if err := json.Unmarshal(body, &d); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(body), `"groups":`) {
				t.Errorf("%s: no groups field in %s", key, body)
			}
		}
		return status, d
	}
	for _, p := range a.principals(t) {
		t.Run(p.name, func(t *testing.T) {
			for _, key := range []string{"c1", "c4", "c3"} {
				status, d := get(p.token, key)
				if !slices.Contains(p.sees, key) {
					if status != 404 {
						t.Errorf("%s: got %d for an invisible customer", key, status)
					}
					continue
				}
				if status != 200 {
					t.Fatalf("%s: %d", key, status)
				}
				var got []string
				for _, g := range d.Groups {
					got = append(got, g.ChatID+"/"+g.OwnerID)
				}
				want := map[string][]string{"c1": {"wrA1/a1", "wrB1/b1"}, "c4": {"wrA1/a1"}}[key]
				if !slices.Equal(got, want) {
					t.Errorf("%s's groups = %v, want %v", key, got, want)
				}
			}
		})
	}
	_, d := get(apiTok, "c1")
	want := []store.CustomerGroup{
		{ChatID: "wrA1", Name: "A1的群", OwnerID: "a1", JoinedAt: apiNow.Add(-47 * time.Hour), JoinScene: 3},
		{ChatID: "wrB1", Name: "B1的群", OwnerID: "b1", JoinedAt: apiNow.Add(-23 * time.Hour), JoinScene: 1},
	}
	if len(d.Groups) != len(want) {
		t.Fatalf("c1's groups = %+v", d.Groups)
	}
	for i := range want {
		if g := d.Groups[i]; g.ChatID != want[i].ChatID || g.Name != want[i].Name || !g.JoinedAt.Equal(want[i].JoinedAt) || g.JoinScene != want[i].JoinScene {
			t.Errorf("c1's group %d = %+v, want %+v", i, g, want[i])
		}
	}
}
