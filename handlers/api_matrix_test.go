package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
)

// The API fixture: a company with two sales teams and one customer per
// visibility case. Expectations are written out per principal (the spec),
// not computed with bot.Viewer, so the test can catch the rule itself.

var apiNow = time.Date(2024, 6, 1, 2, 0, 0, 0, time.UTC)

type fixtureCustomer struct {
	key     string
	name    string
	ident   store.Identity
	follows []string          // active follows
	ended   []string          // follows that ended (grant nothing)
	remarks map[string]string // staff → remark
	tags    []string
	stage   string
	last    time.Time // zero: never contacted
}

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

var fixtureCustomers = []fixtureCustomer{
	{key: "c1", name: "张三", ident: ext("wm-c1"), follows: []string{"a1"}, tags: []string{"VIP"}, stage: store.StageActive, last: day("2024-03-01T08:00:00Z")},
	{key: "c2", name: "李四", ident: ext("wm-c2"), follows: []string{"a2"}, tags: []string{"VIP", "教育"}, stage: store.StageLead, last: day("2024-05-10T08:00:00Z")},
	{key: "c3", name: "王五", ident: ext("wm-c3"), follows: []string{"b1"}, remarks: map[string]string{"b1": "张总的朋友"}, tags: []string{"VIP"}, stage: store.StageActive, last: day("2024-04-01T08:00:00Z")},
	{key: "c4", name: "赵六", ident: ext("wm-c4"), follows: []string{"a1", "b1"}, tags: []string{"教育"}, stage: store.StageWon},
	{key: "c5", name: "钱七", ident: ext("wm-c5"), follows: []string{"b1"}, ended: []string{"a1"}, tags: []string{"VIP"}, stage: store.StageLost, last: day("2024-05-20T08:00:00Z")},
	{key: "c6", name: "孙八", ident: store.Identity{Kind: store.IdentityOpenID, Value: "o-c6"}, stage: store.StageLead, last: day("2024-05-25T08:00:00Z")},
	{key: "c7", name: "周九", ident: ext("wm-c7"), follows: []string{"mgrA"}, tags: []string{"VIP"}, stage: store.StageActive, last: day("2024-04-20T08:00:00Z")},
	{key: "c8", name: "张小明", ident: ext("wm-c8"), follows: []string{"a2"}, stage: store.StageActive, last: day("2024-02-01T08:00:00Z")},
}

func ext(v string) store.Identity {
	return store.Identity{Kind: store.IdentityExternalUserID, Value: v}
}

var fixtureStaff = []*store.Staff{
	{ID: "boss", Name: "老板", Role: "admin", Active: true},
	{ID: "mgrA", Name: "A组经理", Role: "manager", Team: []string{"a1", "a2"}, Active: true},
	{ID: "mgrB", Name: "B组经理", Role: "manager", Team: []string{"b1"}, Active: true},
	{ID: "a1", Name: "销售A1", Role: "sales", Active: true},
	{ID: "a2", Name: "销售A2", Role: "sales", Active: true},
	{ID: "b1", Name: "销售B1", Role: "sales", Active: true},
	{ID: "gone", Name: "离职员工", Role: "sales", Active: false},
	{ID: "odd", Name: "实习生", Role: "intern", Active: true},
}

// principal is one caller of the matrix.
type principal struct {
	name  string
	token string
	role  string   // "admin", "manager", "sales"
	scope []string // owners they may filter by; nil: anyone
	sees  []string // fixture customer keys they may see
}

type apiEnv struct {
	*env
	client *http.Client
	ids    map[string]string // fixture key → customer ID
	keys   map[string]string // customer ID → fixture key
	names  []string          // every fixture customer's name
}

func mint(t *testing.T, secret, staff string, exp time.Time) string {
	t.Helper()
	tok, err := handlers.MintStaffToken(secret, staff, exp)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	e := newEnv(t, func(o *handlers.Options) { o.Now = func() time.Time { return apiNow } })
	a := &apiEnv{env: e, client: &http.Client{Timeout: 10 * time.Second}, ids: map[string]string{}, keys: map[string]string{}}
	ctx := context.Background()
	for _, s := range fixtureStaff {
		if err := e.st.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	created := apiNow.Add(-30 * 24 * time.Hour)
	for _, fc := range fixtureCustomers {
		c, err := e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: fc.ident, Name: fc.name, Stage: fc.stage,
			AddTags: fc.tags, CustomerAt: fc.last, Now: created})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range slices.Concat(fc.follows, fc.ended) {
			f := &store.Follow{StaffID: s, Remark: fc.remarks[s], AddedAt: created}
			if _, err := e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: fc.ident, Follow: f, Now: created}); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range fc.ended {
			if _, err := e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: fc.ident, Unfollow: s, Now: created}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			if _, err := e.st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: c.ID, SourceKey: fmt.Sprintf("fx:%s:%d", fc.key, i),
				Kind: store.EntryMessage, Direction: store.DirectionIn, Channel: store.ChannelWeCom,
				Text: fmt.Sprintf("%s的第%d条消息", fc.name, i+1), At: created.Add(time.Duration(i) * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		a.ids[fc.key], a.keys[c.ID] = c.ID, fc.key
		a.names = append(a.names, fc.name)
	}
	return a
}

func (a *apiEnv) principals(t *testing.T) []principal {
	exp := apiNow.Add(time.Hour)
	all := []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"}
	return []principal{
		{name: "admin token", token: apiTok, role: "admin", sees: all},
		{name: "admin staff", token: mint(t, apiTok, "boss", exp), role: "admin", sees: all},
		{name: "manager A", token: mint(t, apiTok, "mgrA", exp), role: "manager", scope: []string{"mgrA", "a1", "a2"}, sees: []string{"c1", "c2", "c4", "c7", "c8"}},
		{name: "manager B", token: mint(t, apiTok, "mgrB", exp), role: "manager", scope: []string{"mgrB", "b1"}, sees: []string{"c3", "c4", "c5"}},
		{name: "sales A1", token: mint(t, apiTok, "a1", exp), role: "sales", scope: []string{"a1"}, sees: []string{"c1", "c4"}},
		{name: "sales A2", token: mint(t, apiTok, "a2", exp), role: "sales", scope: []string{"a2"}, sees: []string{"c2", "c8"}},
		{name: "sales B1", token: mint(t, apiTok, "b1", exp), role: "sales", scope: []string{"b1"}, sees: []string{"c3", "c4", "c5"}},
	}
}

// rejected are callers that must get nothing: status is what they get.
func (a *apiEnv) rejected(t *testing.T) []struct {
	name, header string
	status       int
} {
	exp := apiNow.Add(time.Hour)
	good := mint(t, apiTok, "a1", exp)
	p := strings.Split(good, ".")
	return []struct {
		name, header string
		status       int
	}{
		{"no header", "", 401},
		{"empty bearer", "Bearer ", 401},
		{"basic auth", "Basic " + apiTok, 401},
		{"wrong admin token", "Bearer " + apiTok + "x", 401},
		{"malformed staff token", "Bearer st1.a1", 401},
		{"forged staff id", "Bearer " + strings.Join([]string{p[0], "boss", p[2], p[3]}, "."), 401},
		{"forged expiry", "Bearer " + strings.Join([]string{p[0], p[1], "99999999999", p[3]}, "."), 401},
		{"other secret", "Bearer " + mint(t, "not-the-secret", "boss", exp), 401},
		{"expired", "Bearer " + mint(t, apiTok, "a1", apiNow), 401},
		{"unknown staff", "Bearer " + mint(t, apiTok, "nobody", exp), 403},
		{"inactive staff", "Bearer " + mint(t, apiTok, "gone", exp), 403},
		{"unknown role", "Bearer " + mint(t, apiTok, "odd", exp), 403},
	}
}

func (a *apiEnv) do(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	h := ""
	if token != "" {
		h = "Bearer " + token
	}
	return a.doAuth(t, method, path, h, body)
}

// audit returns the newest limit audit entries about target.
func (a *apiEnv) audit(t *testing.T, target string, limit int) []*store.AuditEntry {
	t.Helper()
	es, err := a.st.FindAudit(context.Background(), target, 0, limit)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// getJSON GETs path as token and decodes the 200 answer into a T.
func getJSON[T any](t *testing.T, a *apiEnv, path, token string) T {
	t.Helper()
	var v T
	status, body := a.do(t, "GET", path, token, nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (a *apiEnv) doAuth(t *testing.T, method, path, authz string, body any) (int, []byte) {
	t.Helper()
	var header []string
	if authz != "" {
		header = []string{"Authorization", authz}
	}
	r := do(t, a.client, method, a.base+path, jsonText(t, body), header...)
	return r.status, []byte(r.body)
}

type customerPage struct {
	Items      []*store.Customer `json:"items"`
	NextCursor string            `json:"next_cursor"`
}

// listAll pages through GET /customers with q, checking order and that no
// page repeats a customer; it returns the fixture keys seen.
func (a *apiEnv) listAll(t *testing.T, token string, q url.Values) []string {
	t.Helper()
	var keys []string
	last := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("pagination does not end")
		}
		pg := getJSON[customerPage](t, a, "/api/v1/customers?"+q.Encode(), token)
		for _, c := range pg.Items {
			if c.ID <= last {
				t.Fatalf("list %s: %s after %s: not in ID order or repeated", q.Encode(), c.ID, last)
			}
			last = c.ID
			keys = append(keys, a.keys[c.ID])
		}
		if pg.NextCursor == "" {
			return keys
		}
		q.Set("cursor", pg.NextCursor)
	}
}

// filterCase is one combination of list filters and the reference model of
// what it matches.
type filterCase struct {
	tag, stage, owner, q string
	before, after        string
	beforeT, afterT      time.Time
}

func (f filterCase) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"tag": f.tag, "stage": f.stage, "owner": f.owner, "q": f.q,
		"last_contact_before": f.before, "last_contact_after": f.after} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func (f filterCase) matches(p principal, c fixtureCustomer) bool {
	if !slices.Contains(p.sees, c.key) {
		return false
	}
	if f.tag != "" && !slices.Contains(c.tags, f.tag) {
		return false
	}
	if f.stage != "" && c.stage != f.stage {
		return false
	}
	if f.q != "" && !strings.Contains(c.name, f.q) {
		return false
	}
	if f.owner != "" {
		if p.scope != nil && !slices.Contains(p.scope, f.owner) {
			return false
		}
		if !slices.Contains(c.follows, f.owner) {
			return false
		}
	}
	if !f.beforeT.IsZero() && !(c.last.IsZero() || c.last.Before(f.beforeT)) {
		return false
	}
	if !f.afterT.IsZero() && (c.last.IsZero() || !c.last.After(f.afterT)) {
		return false
	}
	return true
}

func filterCases() []filterCase {
	shanghai := time.FixedZone("CST", 8*3600)
	type contact struct {
		before, after   string
		beforeT, afterT time.Time
	}
	contacts := []contact{
		{},
		{before: "2024-04-15", beforeT: time.Date(2024, 4, 15, 0, 0, 0, 0, shanghai)},
		{after: "2024-04-15", afterT: time.Date(2024, 4, 15, 0, 0, 0, 0, shanghai)},
		{after: "2024-03-15T00:00:00+08:00", before: "2024-05-15T00:00:00Z",
			afterT: time.Date(2024, 3, 15, 0, 0, 0, 0, shanghai), beforeT: day("2024-05-15T00:00:00Z")},
	}
	var out []filterCase
	for _, tag := range []string{"", "VIP", "教育", "不存在"} {
		for _, stage := range []string{"", store.StageActive, store.StageLead} {
			for _, owner := range []string{"", "a1", "a2", "b1", "mgrA", "nobody"} {
				for _, q := range []string{"", "张"} {
					for _, c := range contacts {
						out = append(out, filterCase{tag: tag, stage: stage, owner: owner, q: q,
							before: c.before, after: c.after, beforeT: c.beforeT, afterT: c.afterT})
					}
				}
			}
		}
	}
	return out
}

// TestAPIListMatrix: every principal × every filter combination, paged two
// at a time, returns exactly the visible customers the filter matches.
func TestAPIListMatrix(t *testing.T) {
	a := newAPIEnv(t)
	cases := filterCases()
	requests := 0
	for _, p := range a.principals(t) {
		t.Run(p.name, func(t *testing.T) {
			for _, f := range cases {
				var want []string
				for _, c := range fixtureCustomers {
					if f.matches(p, c) {
						want = append(want, c.key)
					}
				}
				q := f.values()
				q.Set("limit", "2")
				got := a.listAll(t, p.token, q)
				requests++
				if !slices.Equal(got, want) {
					t.Errorf("%s: got %v, want %v", f.values().Encode(), got, want)
				}
			}
			// A cursor pointing at someone else's customer only moves the
			// start: nothing invisible appears after it.
			for _, c := range fixtureCustomers {
				q := url.Values{"cursor": {a.ids[c.key]}}
				for _, k := range a.listAll(t, p.token, q) {
					if !slices.Contains(p.sees, k) {
						t.Errorf("cursor %s leaked %s", c.key, k)
					}
					if a.ids[k] <= a.ids[c.key] {
						t.Errorf("cursor %s returned earlier %s", c.key, k)
					}
				}
			}
			// The spreadsheet export is another door to the same list.
			for _, owner := range []string{"", "a1", "a2", "b1", "mgrA", "nobody"} {
				status, body := a.do(t, "GET", "/api/v1/exports/customers?format=csv&owner="+owner, p.token, nil)
				if status != 200 {
					t.Fatalf("export owner=%s: %d %s", owner, status, body)
				}
				for _, c := range fixtureCustomers {
					if !slices.Contains(p.sees, c.key) && bytes.Contains(body, []byte(c.name)) {
						t.Errorf("export owner=%s leaked %s", owner, c.key)
					}
				}
			}
			// Text search also reaches remarks in some stores; whatever
			// it reaches, it never reaches an invisible customer.
			for _, k := range a.listAll(t, p.token, url.Values{"q": {"张总"}}) {
				if !slices.Contains(p.sees, k) {
					t.Errorf("q=张总 leaked %s", k)
				}
			}
		})
	}
	t.Logf("list matrix: %d principals × %d filter combinations", len(a.principals(t)), len(cases))
}

func TestAPIListRejectsBadFilters(t *testing.T) {
	a := newAPIEnv(t)
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "last_contact_before=yesterday",
		"last_contact_after=2024-13-01", "cursor=not-a-cursor"} {
		t.Run(q, func(t *testing.T) {
			status, body := a.do(t, "GET", "/api/v1/customers?"+q, apiTok, nil)
			if status != 400 {
				t.Fatalf("got %d %s, want 400", status, body)
			}
		})
	}
}

// TestAPICustomerMatrix: every principal × every customer × every
// per-customer endpoint. Visible customers answer; invisible ones answer
// 404 (or 403 where the role decides first) exactly as a missing one would,
// and nothing is written for them.
func TestAPICustomerMatrix(t *testing.T) {
	a := newAPIEnv(t)
	principals := a.principals(t)
	// Every principal tags with a name of its own; salespeople may use only
	// catalogue tags (TestAPITagBounds), so the names are in the catalogue.
	var catalogue []store.Tag
	for _, p := range principals {
		catalogue = append(catalogue, store.Tag{ID: "local:by " + p.name, Name: "by " + p.name, Local: true})
	}
	if err := a.st.UpsertTags(context.Background(), catalogue); err != nil {
		t.Fatal(err)
	}
	cells := 0
	for _, p := range principals {
		t.Run(p.name, func(t *testing.T) {
			for _, fc := range fixtureCustomers {
				id := a.ids[fc.key]
				visible := slices.Contains(p.sees, fc.key)
				want := func(ok int) int {
					if visible {
						return ok
					}
					return 404
				}
				checks := []struct {
					name, method, path string
					body               any
					want               int
				}{
					{"detail", "GET", "/api/v1/customers/" + id, nil, want(200)},
					{"timeline", "GET", "/api/v1/customers/" + id + "/timeline?limit=2", nil, want(200)},
					{"timeline page 2", "GET", "/api/v1/customers/" + id + "/timeline?limit=2&cursor=999999", nil, want(200)},
					{"export", "GET", "/api/v1/customers/" + id + "/export", nil, want(200)},
					{"journeys", "GET", "/api/v1/customers/" + id + "/journeys", nil, want(200)},
					{"note", "POST", "/api/v1/customers/" + id + "/notes", map[string]string{"text": "备注 by " + p.name}, want(201)},
					{"patch", "PATCH", "/api/v1/customers/" + id, map[string]any{"add_tags": []string{"by " + p.name},
						"fields": map[string]string{"editor": p.name}}, want(200)},
				}
				for _, ck := range checks {
					cells++
					status, body := a.do(t, ck.method, ck.path, p.token, ck.body)
					if status != ck.want {
						t.Errorf("%s %s: got %d %s, want %d", ck.name, fc.key, status, body, ck.want)
					}
					if !visible && bytes.Contains(body, []byte(fc.name)) {
						t.Errorf("%s %s: an invisible customer's name in the answer", ck.name, fc.key)
					}
					if status == 404 && string(body) != "customer not found" {
						t.Errorf("%s %s: 404 says %q; it must match a missing customer's", ck.name, fc.key, body)
					}
				}
				if p.role != "admin" { // an admin's erase is TestAPIExportThenErase
					cells++
					if status, _ := a.do(t, "DELETE", "/api/v1/customers/"+id, p.token, nil); status != 403 {
						t.Errorf("delete %s: got %d, want 403", fc.key, status)
					}
				}
				// Merge: sales may not; managers only between visible customers.
				for _, other := range fixtureCustomers {
					if other.key == fc.key || p.role == "admin" {
						continue
					}
					otherVisible := slices.Contains(p.sees, other.key)
					if p.role == "manager" && visible && otherVisible {
						continue // a real merge; TestAPIMerge covers it
					}
					wantStatus := 404
					if p.role == "sales" {
						wantStatus = 403
					}
					cells++
					status, body := a.do(t, "POST", "/api/v1/customers/"+id+"/merge", p.token, map[string]string{"from": a.ids[other.key]})
					if status != wantStatus {
						t.Errorf("merge %s into %s: got %d %s, want %d", other.key, fc.key, status, body, wantStatus)
					}
				}
			}
		})
	}
	// The same requests against a customer ID that does not exist answer
	// exactly like an invisible one.
	for _, p := range principals[2:] {
		status, body := a.do(t, "GET", "/api/v1/customers/0000009999", p.token, nil)
		if status != 404 || string(body) != "customer not found" {
			t.Errorf("%s missing customer: %d %q", p.name, status, body)
		}
	}

	// Every write and audited read landed on exactly the customers its
	// principal may see.
	ctx := context.Background()
	for _, fc := range fixtureCustomers {
		c, err := a.st.FindCustomerByID(ctx, a.ids[fc.key])
		if err != nil {
			t.Fatal(err)
		}
		entries, err := a.st.FindTimeline(ctx, c.ID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		audit := a.audit(t, c.ID, 1000)
		var tagged, noted, readers []string
		for _, tag := range c.Tags {
			if by, ok := strings.CutPrefix(tag, "by "); ok {
				tagged = append(tagged, by)
			}
		}
		for _, e := range entries {
			if by, ok := strings.CutPrefix(e.Text, "备注 by "); ok && e.Kind == store.EntryNote {
				noted = append(noted, by)
			}
		}
		for _, e := range audit {
			if e.Action == handlers.AuditReadTimeline {
				readers = append(readers, e.Actor)
			}
		}
		var want, wantActors []string
		for _, p := range principals {
			if slices.Contains(p.sees, fc.key) {
				want = append(want, p.name)
				wantActors = append(wantActors, actorOf(p), actorOf(p)) // two timeline reads each
			}
		}
		sort.Strings(want)
		sort.Strings(wantActors)
		sort.Strings(tagged)
		sort.Strings(noted)
		sort.Strings(readers)
		if !slices.Equal(tagged, want) {
			t.Errorf("%s tags by %v, want %v", fc.key, tagged, want)
		}
		if !slices.Equal(noted, want) {
			t.Errorf("%s notes by %v, want %v", fc.key, noted, want)
		}
		if !slices.Equal(readers, wantActors) {
			t.Errorf("%s timeline reads audited for %v, want %v", fc.key, readers, wantActors)
		}
		if len(c.Follows) == 0 && len(fc.follows)+len(fc.ended) > 0 {
			t.Errorf("%s lost its follows", fc.key)
		}
	}
	t.Logf("customer matrix: %d principals × %d customers: %d requests", len(principals), len(fixtureCustomers), cells)
}

func actorOf(p principal) string {
	switch p.name {
	case "admin token":
		return "token:admin"
	case "admin staff":
		return "boss"
	}
	tok := strings.Split(p.token, ".")
	return tok[1]
}

// TestAPIRoleMatrix: the endpoints that are not about one customer, per role.
func TestAPIRoleMatrix(t *testing.T) {
	a := newAPIEnv(t)
	for _, p := range a.principals(t) {
		admin, manager := p.role == "admin", p.role == "manager"
		pick := func(ok bool, yes int) int {
			if ok {
				return yes
			}
			return 403
		}
		tests := []struct {
			name, method, path string
			body               any
			want               int
		}{
			{"stats", "GET", "/api/v1/stats", nil, pick(admin, 200)},
			{"tags", "GET", "/api/v1/tags", nil, 200},
			{"groups", "GET", "/api/v1/groups", nil, 200}, // scoped by owner; see TestAPIGroups
			{"tag sync", "POST", "/api/v1/tags/sync", nil, pick(admin, 202)},
			{"staff list", "GET", "/api/v1/staff", nil, pick(admin || manager, 200)},
			{"staff put", "PUT", "/api/v1/staff/newbie", map[string]any{"name": "新人", "role": "sales"}, pick(admin, 200)},
			{"staff sync", "POST", "/api/v1/staff/sync", nil, pick(admin, 202)},
			{"audit", "GET", "/api/v1/audit?target=" + a.ids["c1"], nil, pick(admin, 200)},
			{"token", "POST", "/api/v1/tokens", map[string]string{"staff_id": "a1", "ttl": "1h"}, pick(admin, 201)},
			// c4 is followed by a1 and b1: manager B sees it but a1 is not in their team.
			{"handover", "POST", "/api/v1/customers/" + a.ids["c4"] + "/handover", map[string]string{"from": "a1", "to": "a2"},
				pick(admin || p.name == "manager A", 202)},
		}
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				status, body := a.do(t, tt.method, tt.path, p.token, tt.body)
				if status != tt.want {
					t.Fatalf("got %d %s, want %d", status, body, tt.want)
				}
			})
		}
		t.Run(p.name+"/staff list scope", func(t *testing.T) {
			if !admin && !manager {
				return
			}
			_, body := a.do(t, "GET", "/api/v1/staff", p.token, nil)
			var pg struct{ Items []*store.Staff }
			if err := json.Unmarshal(body, &pg); err != nil {
				t.Fatal(err)
			}
			for _, m := range pg.Items {
				if p.scope != nil && !slices.Contains(p.scope, m.ID) {
					t.Errorf("manager sees staff %s outside their team", m.ID)
				}
			}
			if admin && len(pg.Items) < len(fixtureStaff) {
				t.Errorf("admin sees %d staff, want all %d", len(pg.Items), len(fixtureStaff))
			}
		})
	}
}

// TestAPIRejectedCallers: every bad, expired, forged or unauthorised token ×
// every registered /api/v1 route answers 401 or 403, reveals no customer and
// changes nothing.
func TestAPIRejectedCallers(t *testing.T) {
	a := newAPIEnv(t)
	ctx := context.Background()
	before := a.audit(t, "", 1000)
	id := a.ids["c1"]
	bodies := map[string]any{
		"POST /api/v1/customers/:id/notes": map[string]string{"text": "入侵"},
		"PATCH /api/v1/customers/:id":      map[string]any{"add_tags": []string{"入侵"}},
		"POST /api/v1/customers/:id/merge": map[string]string{"from": a.ids["c3"]},
		"PUT /api/v1/staff/:id":            map[string]string{"role": "admin"},
		"POST /api/v1/tokens":              map[string]string{"staff_id": "a1"},
	}
	bodies["POST /api/v1/customers/:id/handover"] = map[string]string{"from": "a1", "to": "a2"}
	routes := apiRoutes(a.env)
	cells := 0
	for _, r := range a.rejected(t) {
		t.Run(r.name, func(t *testing.T) {
			for _, rt := range routes {
				if rt.path == "/api/v1/openapi.json" {
					continue
				}
				path := strings.Replace(rt.path, ":id", id, 1)
				if strings.HasPrefix(rt.path, "/api/v1/staff/") {
					path = strings.Replace(rt.path, ":id", "a1", 1)
				}
				cells++
				status, body := a.doAuth(t, rt.method, path, r.header, bodies[rt.method+" "+rt.path])
				if status != r.status {
					t.Errorf("%s %s: got %d %s, want %d", rt.method, rt.path, status, body, r.status)
				}
				for _, name := range a.names {
					if bytes.Contains(body, []byte(name)) {
						t.Errorf("%s %s: leaked %s", rt.method, rt.path, name)
					}
				}
			}
		})
	}
	after := a.audit(t, "", 1000)
	if len(after) != len(before) {
		t.Errorf("rejected calls wrote %d audit entries", len(after)-len(before))
	}
	c, err := a.st.FindCustomerByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(c.Tags, "入侵") {
		t.Error("a rejected PATCH changed the customer")
	}
	entries, _ := a.st.FindTimeline(ctx, id, 0, 100)
	if len(entries) != 3 {
		t.Errorf("timeline has %d entries, want the fixture's 3", len(entries))
	}
	if m, err := a.st.FindStaffByID(ctx, "a1"); err != nil || m.Role != "sales" {
		t.Errorf("a1 after rejected PUT: %+v %v", m, err)
	}
	t.Logf("rejected callers: %d callers × %d routes = %d requests", len(a.rejected(t)), len(routes)-1, cells)
}

type route struct{ method, path string }

// apiRoutes lists the routes a server registers under /api/v1.
func apiRoutes(e *env) []route {
	srv := handlers.New(e.st, coord.NewLocal(), handlers.Options{APIToken: apiTok, Core: bot.NewCore(e.st, time.Now)})
	defer srv.Shutdown(context.Background())
	var out []route
	seen := map[route]bool{}
	for _, r := range srv.App().GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == "HEAD" {
			continue
		}
		rt := route{r.Method, r.Path}
		if !seen[rt] {
			seen[rt] = true
			out = append(out, rt)
		}
	}
	return out
}

// TestAPITokenLifecycle: a token minted by the API acts with the role the
// directory gives at request time; demotion and deactivation apply at once.
func TestAPITokenLifecycle(t *testing.T) {
	a := newAPIEnv(t)
	status, body := a.do(t, "POST", "/api/v1/tokens", apiTok, map[string]string{"staff_id": "mgrA", "ttl": "24h"})
	if status != 201 {
		t.Fatalf("mint: %d %s", status, body)
	}
	var tr struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatal(err)
	}
	if !tr.ExpiresAt.Equal(apiNow.Add(24 * time.Hour)) {
		t.Errorf("expires at %v, want %v", tr.ExpiresAt, apiNow.Add(24*time.Hour))
	}
	count := func() int {
		status, body := a.do(t, "GET", "/api/v1/customers", tr.Token, nil)
		if status != 200 {
			return -status
		}
		var pg customerPage
		if err := json.Unmarshal(body, &pg); err != nil {
			t.Fatal(err)
		}
		return len(pg.Items)
	}
	if n := count(); n != 5 {
		t.Fatalf("manager A sees %d customers, want 5", n)
	}
	steps := []struct {
		name string
		put  map[string]any
		want int
	}{
		{"demoted to sales", map[string]any{"role": "sales"}, 1},                                                 // only c7, which mgrA follows
		{"promoted to admin", map[string]any{"role": "admin"}, 8},                                                // everyone
		{"deactivated", map[string]any{"active": false}, -403},                                                   // the token stops working
		{"reactivated as manager", map[string]any{"role": "manager", "active": true, "team": []string{"b1"}}, 4}, // c3 c4 c5 c7
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if status, body := a.do(t, "PUT", "/api/v1/staff/mgrA", apiTok, s.put); status != 200 {
				t.Fatalf("put: %d %s", status, body)
			}
			if n := count(); n != s.want {
				t.Fatalf("got %d, want %d", n, s.want)
			}
		})
	}
	t.Run("bad requests", func(t *testing.T) {
		for _, b := range []map[string]string{{"staff_id": "gone"}, {"staff_id": "nobody"}, {"staff_id": "a1", "ttl": "-1h"},
			{"staff_id": "a1", "ttl": "100000h"}, {"staff_id": "a|1"}, {"staff": "a1"}} {
			if status, body := a.do(t, "POST", "/api/v1/tokens", apiTok, b); status != 400 {
				t.Errorf("%v: got %d %s, want 400", b, status, body)
			}
		}
		if status, _ := a.do(t, "PUT", "/api/v1/staff/a1", apiTok, map[string]string{"role": "owner"}); status != 400 {
			t.Errorf("unknown role accepted: %d", status)
		}
	})
	audit := a.audit(t, "staff:mgrA", 100)
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	if !slices.Contains(actions, handlers.AuditTokenCreate) || !slices.Contains(actions, handlers.AuditStaffUpdate) {
		t.Errorf("audit of staff:mgrA has %v", actions)
	}
}

// TestAPIMerge: a manager merges two customers of their team into one.
func TestAPIMerge(t *testing.T) {
	a := newAPIEnv(t)
	mgr := mint(t, apiTok, "mgrA", apiNow.Add(time.Hour))
	into, from := a.ids["c1"], a.ids["c8"]
	tests := []struct {
		name string
		body map[string]string
		want int
	}{
		{"into itself", map[string]string{"from": into}, 400},
		{"no from", map[string]string{}, 400},
		{"unknown field", map[string]string{"form": from}, 400},
		{"missing from", map[string]string{"from": "0000009999"}, 404},
		{"merge", map[string]string{"from": from}, 200},
		{"again: from is gone", map[string]string{"from": from}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := a.do(t, "POST", "/api/v1/customers/"+into+"/merge", mgr, tt.body)
			if status != tt.want {
				t.Fatalf("got %d %s, want %d", status, body, tt.want)
			}
		})
	}
	c, err := a.st.FindCustomerByID(context.Background(), into)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, id := range c.Identities {
		ids = append(ids, id.Value)
	}
	if !slices.Contains(ids, "wm-c1") || !slices.Contains(ids, "wm-c8") {
		t.Errorf("merged identities %v", ids)
	}
	entries, _ := a.st.FindTimeline(context.Background(), into, 0, 100)
	if len(entries) != 6 {
		t.Errorf("merged timeline has %d entries, want 6", len(entries))
	}
	audit, _ := a.st.FindAudit(context.Background(), into, 0, 10)
	if len(audit) == 0 || audit[0].Action != handlers.AuditMerge || audit[0].Actor != "mgrA" {
		t.Errorf("merge audit %+v", audit)
	}
}

// TestAPIPatchAndNotes: edits are validated, recorded and Chinese-safe.
func TestAPIPatchAndNotes(t *testing.T) {
	a := newAPIEnv(t)
	tok := mint(t, apiTok, "a1", apiNow.Add(time.Hour))
	id := a.ids["c1"]
	// VIP is a corp tag (synced from WeCom); 高意向 is new to scrm.
	if err := a.st.UpsertTags(context.Background(), []store.Tag{{ID: "et-vip", Name: "VIP", GroupID: "g1", GroupName: "客户价值"}}); err != nil {
		t.Fatal(err)
	}
	bad := []map[string]any{
		{},
		{"stage": "不存在的阶段"},
		{"add_tags": []string{""}},
		{"add_tags": []string{"x"}, "remove_tags": []string{"x"}},
		{"name": "  "},
		{"nickname": "x"},
	}
	for i, b := range bad {
		if status, body := a.do(t, "PATCH", "/api/v1/customers/"+id, tok, b); status != 400 {
			t.Errorf("bad patch %d %v: got %d %s", i, b, status, body)
		}
	}
	// A salesperson may not grow the catalogue; a manager's new tag becomes
	// a local tag.
	if status, body := a.do(t, "PATCH", "/api/v1/customers/"+id, tok, map[string]any{"add_tags": []string{"高意向"}}); status != 403 {
		t.Fatalf("a salesperson's new tag: got %d %s, want 403", status, body)
	}
	mgr := mint(t, apiTok, "mgrA", apiNow.Add(time.Hour))
	if status, body := a.do(t, "PATCH", "/api/v1/customers/"+id, mgr, map[string]any{"add_tags": []string{"高意向"}}); status != 200 {
		t.Fatalf("a manager's new tag: got %d %s", status, body)
	}
	status, body := a.do(t, "PATCH", "/api/v1/customers/"+id, tok, map[string]any{
		"stage": store.StageWon, "tier": "A", "fields": map[string]string{"行业": "教育培训"},
		"add_tags": []string{"高意向"}, "remove_tags": []string{"VIP"},
	})
	if status != 200 {
		t.Fatalf("patch: %d %s", status, body)
	}
	if !bytes.Contains(body, []byte("教育培训")) || !bytes.Contains(body, []byte("张三")) {
		t.Errorf("the answer does not carry the Chinese text as UTF-8: %s", body)
	}
	var c store.Customer
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Stage != store.StageWon || c.Tier != "A" || c.Fields["行业"] != "教育培训" ||
		!slices.Contains(c.Tags, "高意向") || slices.Contains(c.Tags, "VIP") {
		t.Errorf("patched customer %+v", c)
	}
	entries, _ := a.st.FindTimeline(context.Background(), id, 0, 10)
	if len(entries) == 0 || entries[0].Kind != store.EntryStage || entries[0].StaffID != "a1" ||
		entries[0].Text != "阶段："+store.StageActive+" → "+store.StageWon {
		t.Errorf("no stage entry: %+v", entries[0])
	}
	// Only the corp tag is written back to WeCom; the manager's new one is local.
	n, err := a.st.CountJobs(context.Background(), "mark_tag")
	if err != nil || n != 1 {
		t.Errorf("tag write-back jobs: %d %v, want 1", n, err)
	}
	status, body = a.do(t, "GET", "/api/v1/tags", tok, nil)
	var tags struct{ Items []store.Tag }
	if err := json.Unmarshal(body, &tags); status != 200 || err != nil {
		t.Fatalf("tags: %d %s", status, body)
	}
	want := []store.Tag{{ID: "et-vip", Name: "VIP", GroupID: "g1", GroupName: "客户价值"}, {ID: "local:高意向", Name: "高意向", Local: true}}
	for _, w := range want {
		if !slices.Contains(tags.Items, w) {
			t.Errorf("tags %+v lack %+v", tags.Items, w)
		}
	}

	// A retried note with the same Idempotency-Key is stored once.
	for i, want := range []int{201, 200} {
		req, _ := http.NewRequest("POST", a.base+"/api/v1/customers/"+id+"/notes", strings.NewReader(`{"text":"电话沟通，下周二回访"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Idempotency-Key", "k-1")
		resp, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("note attempt %d: %d, want %d", i, resp.StatusCode, want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("content type %q", ct)
		}
	}
	entries, _ = a.st.FindTimeline(context.Background(), id, 0, 20)
	notes := 0
	for _, e := range entries {
		if e.Kind == store.EntryNote {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("%d notes stored, want 1", notes)
	}
	for _, b := range []string{`{"text":""}`, `{"text":"` + strings.Repeat("长", 5001) + `"}`, `not json`, `{"text":"x"} {}`} {
		req, _ := http.NewRequest("POST", a.base+"/api/v1/customers/"+id+"/notes", strings.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("note %.20q: %d, want 400", b, resp.StatusCode)
		}
	}
}

// TestAPITimelinePagination walks a long timeline newest first.
func TestAPITimelinePagination(t *testing.T) {
	a := newAPIEnv(t)
	id := a.ids["c2"]
	ctx := context.Background()
	for i := range 120 {
		if _, err := a.st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: id, SourceKey: fmt.Sprintf("p:%d", i),
			Kind: store.EntryMessage, Text: fmt.Sprint(i), At: apiNow.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	tok := mint(t, apiTok, "a2", apiNow.Add(time.Hour))
	var got []int64
	cursor := ""
	pages := 0
	for {
		status, body := a.do(t, "GET", "/api/v1/customers/"+id+"/timeline?limit=50&cursor="+cursor, tok, nil)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		var pg struct {
			Items      []*store.TimelineEntry
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &pg); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range pg.Items {
			got = append(got, e.ID)
		}
		if pg.NextCursor == "" {
			break
		}
		cursor = pg.NextCursor
	}
	if len(got) != 123 || pages != 3 {
		t.Fatalf("got %d entries in %d pages, want 123 in 3", len(got), pages)
	}
	for i := 1; i < len(got); i++ {
		if got[i] >= got[i-1] {
			t.Fatalf("not newest first at %d: %d then %d", i, got[i-1], got[i])
		}
	}
	audit, _ := a.st.FindAudit(ctx, id, 0, 10)
	if len(audit) != 3 || audit[0].Action != handlers.AuditReadTimeline || audit[0].Actor != "a2" || !audit[0].At.Equal(apiNow) {
		t.Errorf("timeline reads audited as %+v", audit)
	}
	for _, c := range []string{"0", "-5", "abc"} {
		if status, _ := a.do(t, "GET", "/api/v1/customers/"+id+"/timeline?cursor="+c, tok, nil); status != 400 {
			t.Errorf("cursor %q: %d, want 400", c, status)
		}
	}
}
