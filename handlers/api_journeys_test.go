package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

type journeyJSON struct {
	ID      string               `json:"id"`
	Name    string               `json:"name"`
	Enabled bool                 `json:"enabled"`
	Version int64                `json:"version"`
	Trigger store.JourneyTrigger `json:"trigger"`
	Steps   []store.JourneyStep  `json:"steps"`
	Exit    store.JourneyExit    `json:"exit"`
	Runs    struct {
		Active, Done, Exited int
	} `json:"runs"`
}

// vipJourney is a journey started by the tag 重点关注: a reminder with a
// script, a wait, a stage.
func vipJourney() map[string]any {
	return map[string]any{"name": "VIP 关怀", "enabled": true,
		"trigger": map[string]any{"type": "tag_added", "tag": "重点关注"},
		"steps": []map[string]any{
			{"type": "remind", "text": "给#客户昵称#打个电话", "script": "#客户昵称#您好，我是#员工姓名#"},
			{"type": "wait", "days": 2},
			{"type": "stage", "stage": store.StageActive},
		},
		"exit": map[string]any{"on_reply": true, "stages": []string{store.StageWon}}}
}

// TestJourneyAPI: admins and managers keep journeys through the API —
// created once per Idempotency-Key, edited with the version they read (409
// when someone else edited first), switched off without one — every
// change audited; bad journeys answer 400 in Chinese and store nothing; a
// tag added through the API starts the journey it triggers, and its run is
// listed to those who may see the customer; salespeople are refused
// everything.
func TestJourneyAPI(t *testing.T) {
	e := newCampaignEnv(t)
	ctx := context.Background()
	exp := apiNow.Add(time.Hour)
	sales, mgrA, mgrB := mint(t, apiTok, "a1", exp), mint(t, apiTok, "mgrA", exp), mint(t, apiTok, "mgrB", exp)
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/journeys"}, {"POST", "/api/v1/journeys"}, {"GET", "/api/v1/journeys/jn_x"},
		{"PATCH", "/api/v1/journeys/jn_x"}, {"GET", "/api/v1/journeys/jn_x/runs"},
	} {
		if got := e.call(t, c.method, c.path, sales, "", map[string]any{}, nil); got != http.StatusForbidden {
			t.Errorf("sales %s %s: %d, want 403", c.method, c.path, got)
		}
	}

	body := vipJourney()
	var j journeyJSON
	if got := e.call(t, "POST", "/api/v1/journeys", mgrA, "jk-1", body, &j); got != http.StatusCreated || j.ID == "" || j.Version != 1 || len(j.Steps) != 3 {
		t.Fatalf("create: %d %+v", got, j)
	}
	var again journeyJSON
	if got := e.call(t, "POST", "/api/v1/journeys", mgrA, "jk-1", body, &again); got != http.StatusOK || again.ID != j.ID {
		t.Fatalf("the same key: %d %s, want 200 and %s", got, again.ID, j.ID)
	}

	// Bad journeys: 400 with a Chinese reason, nothing stored.
	bad := map[string]map[string]any{
		"no steps":        {"name": "x", "trigger": map[string]any{"type": "dormant", "days": 30}, "steps": []any{}},
		"unknown trigger": {"name": "x", "trigger": map[string]any{"type": "weather"}, "steps": body["steps"]},
		"unknown channel": {"name": "x", "trigger": map[string]any{"type": "new_customer", "channel": "ch_nope"}, "steps": body["steps"]},
		"dormant 0 days":  {"name": "x", "trigger": map[string]any{"type": "dormant"}, "steps": body["steps"]},
		"bad stage step":  {"name": "x", "trigger": map[string]any{"type": "dormant", "days": 9}, "steps": []map[string]any{{"type": "stage", "stage": "月球"}}},
		"empty message":   {"name": "x", "trigger": map[string]any{"type": "dormant", "days": 9}, "steps": []map[string]any{{"type": "message"}}},
		"blank name":      {"name": " ", "trigger": map[string]any{"type": "dormant", "days": 9}, "steps": body["steps"]},
	}
	for name, b := range bad {
		status, text := e.raw(t, "POST", "/api/v1/journeys", apiTok, b)
		if status != http.StatusBadRequest || !hasHan(text) {
			t.Errorf("%s: %d %q, want 400 in Chinese", name, status, text)
		}
	}
	var list struct{ Items []journeyJSON }
	if got := e.call(t, "GET", "/api/v1/journeys", mgrB, "", nil, &list); got != 200 || len(list.Items) != 1 {
		t.Fatalf("list: %d %+v", got, list)
	}

	// Two editors read version 1: the first edit lands, the second is 409.
	edit := map[string]any{"version": 1, "name": "VIP 关怀（新）", "steps": []map[string]any{{"type": "remind", "text": "回访"}}}
	var edited journeyJSON
	if got := e.call(t, "PATCH", "/api/v1/journeys/"+j.ID, mgrA, "", edit, &edited); got != 200 || edited.Version != 2 || edited.Name != "VIP 关怀（新）" || len(edited.Steps) != 1 {
		t.Fatalf("edit: %d %+v", got, edited)
	}
	if status, text := e.raw(t, "PATCH", "/api/v1/journeys/"+j.ID, apiTok, map[string]any{"version": 1, "name": "抢先"}); status != http.StatusConflict || !hasHan(text) {
		t.Fatalf("stale edit: %d %q, want 409 in Chinese", status, text)
	}
	if got := e.call(t, "PATCH", "/api/v1/journeys/"+j.ID, apiTok, "", map[string]any{"name": "无版本"}, nil); got != http.StatusBadRequest {
		t.Fatalf("edit without a version: %d, want 400", got)
	}
	if got := e.call(t, "PATCH", "/api/v1/journeys/"+j.ID, apiTok, "", map[string]any{"version": 2, "steps": []any{}}, nil); got != http.StatusBadRequest {
		t.Fatalf("edit to no steps: %d, want 400", got)
	}
	if got := e.call(t, "PATCH", "/api/v1/journeys/jn_nope", apiTok, "", map[string]any{"enabled": false}, nil); got != http.StatusNotFound {
		t.Fatalf("missing journey: %d, want 404", got)
	}

	// A tag added through the API starts the journey for that customer.
	c1 := e.ids["c1"]
	if got := e.call(t, "PATCH", "/api/v1/customers/"+c1, apiTok, "tag-1", map[string]any{"add_tags": []string{"重点关注"}}, nil); got != 200 {
		t.Fatalf("tag c1: %d", got)
	}
	var runs struct{ Items []bot.JourneyRunView }
	if got := e.call(t, "GET", "/api/v1/journeys/"+j.ID+"/runs?state=active", mgrA, "", nil, &runs); got != 200 || len(runs.Items) != 1 ||
		runs.Items[0].CustomerID != c1 || runs.Items[0].CustomerName != "张三" || runs.Items[0].StaffID != "a1" {
		t.Fatalf("runs seen by manager A: %d %+v", got, runs.Items)
	}
	if got := e.call(t, "GET", "/api/v1/journeys/"+j.ID+"/runs", mgrB, "", nil, &runs); got != 200 || len(runs.Items) != 0 {
		t.Fatalf("manager B sees %d runs of a customer outside their team", len(runs.Items))
	}
	if got := e.call(t, "GET", "/api/v1/journeys/"+j.ID+"/runs?state=odd", apiTok, "", nil, nil); got != http.StatusBadRequest {
		t.Fatalf("bad state: %d, want 400", got)
	}
	var one journeyJSON
	if got := e.call(t, "GET", "/api/v1/journeys/"+j.ID, apiTok, "", nil, &one); got != 200 || one.Runs.Active != 1 {
		t.Fatalf("get: %d %+v", got, one)
	}

	// Switched off without a version; its runs end at their next step.
	var off journeyJSON
	if got := e.call(t, "PATCH", "/api/v1/journeys/"+j.ID, mgrA, "", map[string]any{"enabled": false}, &off); got != 200 || off.Enabled || off.Version != 3 {
		t.Fatalf("switch off: %d %+v", got, off)
	}
	audit, err := e.st.FindAudit(ctx, j.ID, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Actor+":"+a.Action)
	}
	for _, want := range []string{"mgrA:" + bot.AuditJourneyCreate, "mgrA:" + bot.AuditJourneyUpdate, "mgrA:" + bot.AuditJourneyEnable} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit %v lacks %s", actions, want)
		}
	}
	if js, _ := e.st.FindJourneys(ctx); len(js) != 1 {
		t.Fatalf("%d journeys stored, want 1 (the bad ones stored nothing)", len(js))
	}
}

// TestCustomerJourneysAPI: GET /customers/{id}/journeys lists the runs of
// the customer's journeys — the journey's name, its steps, the step a run
// waits to take, and why a run ended — to whoever may see the customer,
// salespeople included; anyone else gets the 404 of a missing customer.
func TestCustomerJourneysAPI(t *testing.T) {
	e := newCampaignEnv(t)
	exp := apiNow.Add(time.Hour)
	a1, a2, mgrA, mgrB := mint(t, apiTok, "a1", exp), mint(t, apiTok, "a2", exp), mint(t, apiTok, "mgrA", exp), mint(t, apiTok, "mgrB", exp)
	var j journeyJSON
	if got := e.call(t, "POST", "/api/v1/journeys", mgrA, "cj-1", vipJourney(), &j); got != http.StatusCreated {
		t.Fatalf("create: %d", got)
	}
	c1, c4 := e.ids["c1"], e.ids["c4"]
	if got := e.call(t, "PATCH", "/api/v1/customers/"+c1, apiTok, "cj-tag", map[string]any{"add_tags": []string{"重点关注"}}, nil); got != 200 {
		t.Fatalf("tag c1: %d", got)
	}
	type runJSON struct {
		bot.CustomerJourneyView
		Current *store.JourneyStep `json:"current"`
	}
	read := func(t *testing.T, token, id string) []runJSON {
		t.Helper()
		var out struct{ Items []runJSON }
		if got := e.call(t, "GET", "/api/v1/customers/"+id+"/journeys", token, "", nil, &out); got != 200 || out.Items == nil {
			t.Fatalf("GET journeys of %s: %d %+v", id, got, out)
		}
		return out.Items
	}
	for name, token := range map[string]string{"its salesperson": a1, "their manager": mgrA, "an admin": apiTok} {
		runs := read(t, token, c1)
		if len(runs) != 1 {
			t.Fatalf("%s sees %d runs, want 1", name, len(runs))
		}
		r := runs[0]
		if r.JourneyID != j.ID || r.JourneyName != "VIP 关怀" || r.Steps != 3 || r.State != store.RunActive || r.Step != 0 ||
			r.StaffID != "a1" || r.Current == nil || r.Current.Type != store.StepRemind || r.Current.Text != "给张三打个电话" || r.Current.Script != "张三您好，我是销售A1" {
			t.Errorf("%s sees %+v (current %+v)", name, r.JourneyRun, r.Current)
		}
	}
	if runs := read(t, a1, c4); len(runs) != 0 {
		t.Errorf("c4 entered no journey, yet %+v", runs)
	}
	// Someone else's customer reads as a missing one.
	for name, token := range map[string]string{"another salesperson": a2, "another team's manager": mgrB} {
		status, text := e.raw(t, "GET", "/api/v1/customers/"+c1+"/journeys", token, nil)
		if status != http.StatusNotFound || text != "customer not found" || strings.Contains(text, "VIP") {
			t.Errorf("%s: %d %q, want 404 customer not found", name, status, text)
		}
	}
	if status, text := e.raw(t, "GET", "/api/v1/customers/0000009999/journeys", a1, nil); status != http.StatusNotFound || text != "customer not found" {
		t.Errorf("a missing customer: %d %q", status, text)
	}

	// An opt-out ends the run at once: the page says why and shows no next step.
	if got := e.call(t, "PATCH", "/api/v1/customers/"+c1, a1, "cj-opt", map[string]any{"opt_out": true}, nil); got != 200 {
		t.Fatalf("opt out: %d", got)
	}
	runs := read(t, a1, c1)
	if len(runs) != 1 || runs[0].State != store.RunExited || runs[0].ExitReason != bot.ExitOptedOut || runs[0].Current != nil || runs[0].EndedAt == nil {
		t.Errorf("after the opt-out: %+v", runs)
	}
}

// raw sends body as JSON and returns the status and the answer's text.
func (e *campaignEnv) raw(t *testing.T, method, path, token string, body any) (int, string) {
	t.Helper()
	a := do(t, e.client, method, e.base+path, jsonText(t, body), "Authorization", "Bearer "+token)
	return a.status, a.body
}

func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}
