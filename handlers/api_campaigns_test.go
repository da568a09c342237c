package handlers_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// campaignEnv is the API fixture (two sales teams, eight customers) with the
// core's campaigns wired to the WeCom simulator, which knows the same staff
// and contacts.
type campaignEnv struct {
	*apiEnv
	sim *wecomtest.Simulator
}

func newCampaignEnv(t *testing.T) *campaignEnv {
	t.Helper()
	a := newAPIEnv(t)
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{Now: func() time.Time { return apiNow }})
	t.Cleanup(func() { sim.Close() })
	for _, s := range fixtureStaff {
		sim.AddStaff(wecomtest.Staff{UserID: s.ID, Name: s.Name})
	}
	for _, fc := range fixtureCustomers {
		if fc.ident.Kind != store.IdentityExternalUserID {
			continue
		}
		var fs []wecomtest.Follow
		for _, s := range fc.follows {
			fs = append(fs, wecomtest.Follow{UserID: s, CreateTime: apiNow.Add(-30 * 24 * time.Hour)})
		}
		sim.AddExternalContact(wecomtest.Contact{ExternalUserID: fc.ident.Value, Name: fc.name, Follow: fs})
	}
	api, err := wecom.NewAPIClient(sim.APIConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Set before the first request reaches the edge.
	a.core.SetCampaigns(api, bot.CampaignOptions{MonthlyCap: 4, Location: time.FixedZone("CST", 8*3600)})
	return &campaignEnv{apiEnv: a, sim: sim}
}

// call sends body as JSON (raw when it is a string) with an optional
// Idempotency-Key and decodes a 2xx answer into out.
func (e *campaignEnv) call(t *testing.T, method, path, token, key string, body, out any) int {
	t.Helper()
	text, ok := body.(string)
	if !ok {
		text = jsonText(t, body)
	}
	header := []string{"Authorization", "Bearer " + token}
	if key != "" {
		header = append(header, "Idempotency-Key", key)
	}
	a := do(t, e.client, method, e.base+path, text, header...)
	if a.status/100 == 2 && out != nil {
		if err := json.Unmarshal([]byte(a.body), out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, a.body)
		}
	}
	return a.status
}

// runJobs runs the campaign jobs due at now, as the runner cmd/scrm
// registers does.
func (e *campaignEnv) runJobs(t *testing.T, now time.Time) {
	t.Helper()
	r := bot.NewJobRunner(e.st, bot.CampaignJobKind, e.core.HandleCampaignJob,
		bot.RunnerOptions{Owner: "test", Now: func() time.Time { return now }})
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCampaignAPIRoles: sales are refused every segment and campaign
// endpoint (403) and nothing reaches WeCom; managers and admins are served.
func TestCampaignAPIRoles(t *testing.T) {
	e := newCampaignEnv(t)
	exp := apiNow.Add(time.Hour)
	sales, mgr := mint(t, apiTok, "a1", exp), mint(t, apiTok, "mgrA", exp)
	body := map[string]any{"name": "618", "filter": map[string]string{"tag": "VIP"}, "text": "你好"}
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/segments"}, {"GET", "/api/v1/segments"}, {"GET", "/api/v1/segments/sg_x"},
		{"GET", "/api/v1/segments/sg_x/count"}, {"DELETE", "/api/v1/segments/sg_x"},
		{"POST", "/api/v1/campaigns"}, {"POST", "/api/v1/campaigns/preview"}, {"GET", "/api/v1/campaigns"},
		{"GET", "/api/v1/campaigns/cp_x"}, {"POST", "/api/v1/campaigns/cp_x/cancel"}, {"POST", "/api/v1/campaigns/cp_x/sync"},
	} {
		var b any
		switch {
		case c.path == "/api/v1/segments":
			b = map[string]any{"name": "VIP", "filter": map[string]string{"tag": "VIP"}}
		case c.method == "POST":
			b = body
		}
		if got := e.call(t, c.method, c.path, sales, "", b, nil); got != 403 {
			t.Errorf("sales %s %s: %d, want 403", c.method, c.path, got)
		}
	}
	if got := e.call(t, "POST", "/api/v1/campaigns/preview", mgr, "", body, nil); got != 200 {
		t.Errorf("manager preview: %d", got)
	}
	if got := e.call(t, "GET", "/api/v1/campaigns", apiTok, "", nil, nil); got != 200 {
		t.Errorf("admin list: %d", got)
	}
	e.runJobs(t, apiNow.Add(time.Hour))
	if n := len(e.sim.GroupMsgs()); n != 0 {
		t.Fatalf("%d mass messages in WeCom after refused calls", n)
	}
}

type campaignOut struct {
	store.Campaign
	Tasks []*store.CampaignTask `json:"tasks"`
}

// TestCampaignAPI walks the endpoints over real HTTP, SQLite and the
// simulator: a segment's live count, previews per caller, bad bodies
// (400, nothing created), creation with an Idempotency-Key (the same key
// answers 200 with the same campaign and WeCom gets nothing new), the
// report after the senders confirm, and a cancel before creation.
func TestCampaignAPI(t *testing.T) {
	e := newCampaignEnv(t)
	exp := apiNow.Add(time.Hour)
	mgrA := mint(t, apiTok, "mgrA", exp)
	// 李四 (c2, VIP, a2's) asks not to be messaged.
	if got := e.call(t, "PATCH", "/api/v1/customers/"+e.ids["c2"], apiTok, "", map[string]any{"opt_out": true}, nil); got != 200 {
		t.Fatalf("opt out: %d", got)
	}

	var sg store.Segment
	if got := e.call(t, "POST", "/api/v1/segments", apiTok, "sg-1", map[string]any{"name": "VIP 客户", "filter": map[string]string{"tag": "VIP"}}, &sg); got != 201 {
		t.Fatalf("create segment: %d", got)
	}
	var again store.Segment
	if got := e.call(t, "POST", "/api/v1/segments", apiTok, "sg-1", map[string]any{"name": "VIP 客户", "filter": map[string]string{"tag": "VIP"}}, &again); got != 200 || again.ID != sg.ID {
		t.Fatalf("same key: %d %s, want 200 %s", got, again.ID, sg.ID)
	}
	var cnt bot.SegmentCount
	// VIP: c1, c2, c3, c5, c7; manager A sees c1, c2, c7.
	for _, c := range []struct {
		token     string
		count, oo int
	}{{apiTok, 5, 1}, {mgrA, 3, 1}} {
		if got := e.call(t, "GET", "/api/v1/segments/"+sg.ID+"/count", c.token, "", nil, &cnt); got != 200 || cnt.Count != c.count || cnt.OptedOut != c.oo {
			t.Errorf("count: %d %+v, want %d/%d", got, cnt, c.count, c.oo)
		}
	}

	// Previews: per salesperson, and who is left out and why. c6 (no
	// WeCom identity) is not VIP; the q filter reaches it.
	var p bot.CampaignPlan
	if got := e.call(t, "POST", "/api/v1/campaigns/preview", apiTok, "", map[string]any{"segment_id": sg.ID, "text": "x"}, &p); got != 200 {
		t.Fatalf("preview: %d", got)
	}
	if p.Targeted != 4 || len(p.Senders) != 3 || p.Senders["a1"] != 1 || p.Senders["b1"] != 2 || p.Senders["mgrA"] != 1 ||
		p.LeftOut[bot.LeftOptedOut] != 1 || len(p.LeftOutID[bot.LeftOptedOut]) != 1 || p.LeftOutID[bot.LeftOptedOut][0] != e.ids["c2"] {
		t.Errorf("admin preview %+v", p)
	}
	p = bot.CampaignPlan{}
	if got := e.call(t, "POST", "/api/v1/campaigns/preview", mgrA, "", map[string]any{"segment_id": sg.ID}, &p); got != 200 {
		t.Fatalf("manager preview: %d", got)
	}
	if p.Targeted != 2 || len(p.Senders) != 2 || p.Senders["a1"] != 1 || p.Senders["mgrA"] != 1 || p.LeftOut[bot.LeftOptedOut] != 1 {
		t.Errorf("manager A's preview %+v", p)
	}
	p = bot.CampaignPlan{}
	if got := e.call(t, "POST", "/api/v1/campaigns/preview", apiTok, "", map[string]any{"filter": map[string]string{"q": "孙八"}}, &p); got != 200 ||
		p.Targeted != 0 || p.LeftOut[bot.LeftNotWeCom] != 1 {
		t.Errorf("preview of a customer outside WeCom: %d %+v", got, p)
	}

	// Bad bodies: 400, nothing stored, nothing in WeCom.
	ten := make([]map[string]string, 10)
	for i := range ten {
		ten[i] = map[string]string{"type": "link", "title": "t", "url": "https://example.com/"}
	}
	for name, b := range map[string]any{
		"ten attachments":      map[string]any{"name": "n", "segment_id": sg.ID, "text": "hi", "attachments": ten},
		"empty text":           map[string]any{"name": "n", "segment_id": sg.ID, "text": "  "},
		"unknown segment":      map[string]any{"name": "n", "segment_id": "sg_nope", "text": "hi"},
		"filter and segment":   map[string]any{"name": "n", "segment_id": sg.ID, "filter": map[string]string{"tag": "VIP"}, "text": "hi"},
		"no name":              map[string]any{"segment_id": sg.ID, "text": "hi"},
		"bad sentiment":        map[string]any{"name": "n", "filter": map[string]string{"sentiment": "angry"}, "text": "hi"},
		"not JSON":             `{"name": "n", "text": `,
		"text over 4000 bytes": map[string]any{"name": "n", "segment_id": sg.ID, "text": strings.Repeat("好", 1400)},
	} {
		if got := e.call(t, "POST", "/api/v1/campaigns", apiTok, "bad-"+name, b, nil); got != 400 {
			t.Errorf("%s: %d, want 400", name, got)
		}
	}
	if got := e.call(t, "POST", "/api/v1/campaigns/preview", apiTok, "", map[string]any{"segment_id": "sg_nope"}, nil); got != 400 {
		t.Errorf("preview of an unknown segment: %d, want 400", got)
	}
	var list struct{ Items []*store.Campaign }
	if e.call(t, "GET", "/api/v1/campaigns", apiTok, "", nil, &list); len(list.Items) != 0 {
		t.Fatalf("bad bodies stored %d campaigns", len(list.Items))
	}

	// Create; the job makes one task per salesperson.
	req := map[string]any{"name": "618 大促", "segment_id": sg.ID, "text": "#客户昵称#好，618 专享价"}
	var cp store.Campaign
	if got := e.call(t, "POST", "/api/v1/campaigns", apiTok, "cp-1", req, &cp); got != 201 || cp.Status != store.CampaignScheduled {
		t.Fatalf("create: %d %+v", got, cp)
	}
	e.runJobs(t, apiNow)
	if n := len(e.sim.GroupMsgs()); n != 3 {
		t.Fatalf("%d mass messages, want 3 (a1, b1, mgrA)", n)
	}
	var same store.Campaign
	if got := e.call(t, "POST", "/api/v1/campaigns", apiTok, "cp-1", req, &same); got != 200 || same.ID != cp.ID {
		t.Fatalf("same key: %d %s, want 200 %s", got, same.ID, cp.ID)
	}
	e.runJobs(t, apiNow.Add(time.Hour))
	if n := len(e.sim.GroupMsgs()); n != 3 {
		t.Fatalf("the same key made %d mass messages, want 3", n)
	}
	// Another caller's same key is another campaign: keys are per caller.
	var d campaignOut
	if got := e.call(t, "GET", "/api/v1/campaigns/"+cp.ID, mgrA, "", nil, &d); got != 200 || d.Status != store.CampaignSent || len(d.Tasks) != 3 {
		t.Fatalf("detail: %d %s %d tasks", got, d.Status, len(d.Tasks))
	}

	// b1 confirms in WeCom; the report follows after a sync.
	for _, m := range e.sim.GroupMsgs() {
		if m.Creator == "b1" {
			e.sim.ConfirmGroupMsg(m.MsgID)
		}
	}
	var synced store.Campaign
	if got := e.call(t, "POST", "/api/v1/campaigns/"+cp.ID+"/sync", apiTok, "", nil, &synced); got != 200 {
		t.Fatalf("sync: %d", got)
	}
	r := synced.Report
	if r.Targeted != 4 || r.Senders != 3 || r.SendersSent != 1 || r.Delivered != 2 || r.LeftOut[bot.LeftOptedOut] != 1 || r.SyncedAt == nil {
		t.Errorf("report %+v", r)
	}

	// A campaign for later, cancelled before its tasks exist: its time
	// comes and nothing reaches WeCom.
	later := apiNow.Add(2 * time.Hour)
	var sched store.Campaign
	if got := e.call(t, "POST", "/api/v1/campaigns", mgrA, "cp-2", map[string]any{"name": "晚些", "filter": map[string]string{"tag": "VIP"},
		"text": "稍后见", "send_at": later}, &sched); got != 201 || !sched.SendAt.Equal(later) {
		t.Fatalf("scheduled: %d %+v", got, sched)
	}
	for range 2 { // a second cancel answers the same
		var cancelled store.Campaign
		if got := e.call(t, "POST", "/api/v1/campaigns/"+sched.ID+"/cancel", mgrA, "", nil, &cancelled); got != 200 || cancelled.Status != store.CampaignCancelled {
			t.Fatalf("cancel: %d %s", got, cancelled.Status)
		}
	}
	e.runJobs(t, later.Add(time.Minute))
	if n := len(e.sim.GroupMsgs()); n != 3 {
		t.Fatalf("a cancelled campaign made mass messages: %d, want 3", n)
	}
	if got := e.call(t, "POST", "/api/v1/campaigns/cp_nope/cancel", apiTok, "", nil, nil); got != 404 {
		t.Errorf("cancel of an unknown campaign: %d, want 404", got)
	}
	if e.call(t, "GET", "/api/v1/campaigns", apiTok, "", nil, &list); len(list.Items) != 2 {
		t.Errorf("%d campaigns listed, want 2", len(list.Items))
	}
}

// TestGroupCampaignAPI: target "groups" with {owner, name} previews the
// groups per owner (a manager only their team's), refuses a customer
// filter or per_customer (400, nothing stored), and creates one
// chat_type group task per owner listing exactly the chosen groups; the
// detail's tasks name the groups and the report counts them.
func TestGroupCampaignAPI(t *testing.T) {
	e := newCampaignEnv(t)
	mgrA := mint(t, apiTok, "mgrA", apiNow.Add(time.Hour))
	group := func(name, owner string, customers ...string) string {
		t.Helper()
		members := []store.GroupMember{{UserID: owner, Type: store.GroupMemberStaff, JoinedAt: apiNow}}
		var simMembers []wecomtest.GroupMember
		for _, c := range customers {
			members = append(members, store.GroupMember{UserID: c, Type: store.GroupMemberExternal, JoinedAt: apiNow})
			simMembers = append(simMembers, wecomtest.GroupMember{UserID: c, Type: 2})
		}
		id, _ := e.sim.AddGroupChat(wecomtest.GroupChat{Name: name, Owner: owner, Members: simMembers})
		if _, err := e.st.UpsertGroup(context.Background(), &store.Group{ChatID: id, Name: name, OwnerID: owner, Members: members, UpdatedAt: apiNow}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	a1 := group("618 福利群", "a1", "wm-c1", "wm-c4")
	group("售后群", "a1", "wm-c1")
	b1 := group("618 福利二群", "b1", "wm-c3")
	body := map[string]any{"name": "群发 618", "target": "groups", "groups": map[string]string{"name": "618"}, "text": "#客户昵称#好，618 开始了"}

	var p bot.CampaignPlan
	if got := e.call(t, "POST", "/api/v1/campaigns/preview", apiTok, "", body, &p); got != 200 || p.ChatType != "group" || p.Targeted != 2 ||
		p.Senders["a1"] != 1 || p.Senders["b1"] != 1 || len(p.Groups["a1"]) != 1 || p.Groups["a1"][0].ChatID != a1 || p.Groups["a1"][0].Customers != 2 {
		t.Fatalf("preview: %d %+v", got, p)
	}
	p = bot.CampaignPlan{}
	if got := e.call(t, "POST", "/api/v1/campaigns/preview", mgrA, "", body, &p); got != 200 || p.Targeted != 1 || p.Senders["a1"] != 1 {
		t.Fatalf("manager A's preview: %d %+v", got, p)
	}
	p = bot.CampaignPlan{}
	byOwner := map[string]any{"name": "x", "target": "groups", "groups": map[string]string{"owner": "b1"}, "text": "x"}
	if got := e.call(t, "POST", "/api/v1/campaigns/preview", apiTok, "", byOwner, &p); got != 200 || p.Targeted != 1 || p.Senders["b1"] != 1 {
		t.Fatalf("preview by owner: %d %+v", got, p)
	}
	for name, b := range map[string]any{
		"a customer filter":   map[string]any{"name": "n", "target": "groups", "filter": map[string]string{"tag": "VIP"}, "text": "hi"},
		"per customer":        map[string]any{"name": "n", "target": "groups", "per_customer": true, "text": "#客户昵称#"},
		"an unknown target":   map[string]any{"name": "n", "target": "moments", "text": "hi"},
		"groups to customers": map[string]any{"name": "n", "groups": map[string]string{"name": "618"}, "text": "hi"},
	} {
		if got := e.call(t, "POST", "/api/v1/campaigns", apiTok, "bad-"+name, b, nil); got != 400 {
			t.Errorf("%s: %d, want 400", name, got)
		}
	}

	var cp store.Campaign
	if got := e.call(t, "POST", "/api/v1/campaigns", apiTok, "g-1", body, &cp); got != 201 || cp.ChatType != "group" || cp.Groups == nil || cp.Groups.Name != "618" {
		t.Fatalf("create: %d %+v", got, cp)
	}
	e.runJobs(t, apiNow)
	msgs := e.sim.GroupMsgs()
	if len(msgs) != 2 {
		t.Fatalf("%d mass messages, want one per owner", len(msgs))
	}
	for _, m := range msgs {
		want := map[string]string{"a1": a1, "b1": b1}[m.Creator]
		if m.ChatType != "group" || len(m.Recipients) != 1 || m.Recipients[0].ChatID != want || m.Text != "大家好，618 开始了" {
			t.Errorf("%s's message %+v", m.Creator, m)
		}
		e.sim.ConfirmGroupMsg(m.MsgID)
	}
	var d campaignOut
	if got := e.call(t, "POST", "/api/v1/campaigns/"+cp.ID+"/sync", apiTok, "", nil, nil); got != 200 {
		t.Fatalf("sync: %d", got)
	}
	if got := e.call(t, "GET", "/api/v1/campaigns/"+cp.ID, apiTok, "", nil, &d); got != 200 || len(d.Tasks) != 2 || len(d.Tasks[0].ChatIDs) != 1 ||
		d.Report.Targeted != 2 || d.Report.Delivered != 2 || d.Report.SendersSent != 2 {
		t.Fatalf("detail: %d %+v", got, d)
	}
}
