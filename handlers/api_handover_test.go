package handlers_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/handlers"
)

// TestAPIHandover: who may hand which customer over, what a bad request
// gets, and what a good one records (the pending state, the timeline note,
// one durable job, the audit), including a retried request.
func TestAPIHandover(t *testing.T) {
	a := newAPIEnv(t)
	ctx := context.Background()
	exp := apiNow.Add(time.Hour)
	admin, mgrA, mgrB, salesA1 := apiTok, mint(t, apiTok, "mgrA", exp), mint(t, apiTok, "mgrB", exp), mint(t, apiTok, "a1", exp)
	path := func(key string) string { return "/api/v1/customers/" + a.ids[key] + "/handover" }
	type body = map[string]any

	for _, tc := range []struct {
		name, token, customer string
		body                  any
		want                  int
		says                  string
	}{
		{"sales may not", salesA1, "c1", body{"from": "a1", "to": "a2"}, 403, "your role may not do this"},
		{"manager, customer outside the team", mgrB, "c1", body{"from": "a1", "to": "b1"}, 404, "customer not found"},
		{"manager, from outside the team", mgrB, "c4", body{"from": "a1", "to": "b1"}, 403, "from and to must both be in your team"},
		{"manager, to outside the team", mgrA, "c1", body{"from": "a1", "to": "b1"}, 403, "from and to must both be in your team"},
		{"missing to", admin, "c1", body{"from": "a1"}, 400, "from and to must be staff IDs"},
		{"unknown field", admin, "c1", body{"from": "a1", "to": "a2", "owner": "x"}, 400, "invalid JSON body"},
		{"from does not follow", admin, "c1", body{"from": "a2", "to": "b1"}, 422, "from does not follow the customer"},
		{"from's follow ended", admin, "c5", body{"from": "a1", "to": "b1"}, 422, "from does not follow the customer"},
		{"to inactive", admin, "c1", body{"from": "a1", "to": "gone"}, 422, "to is not an active staff member"},
		{"to unknown", admin, "c1", body{"from": "a1", "to": "nobody"}, 422, "to is not an active staff member"},
		{"to oneself", admin, "c1", body{"from": "a1", "to": "a1"}, 422, "from and to are the same member"},
		{"message on a resigned handover", admin, "c1", body{"from": "a1", "to": "a2", "resigned": true, "message": "您好"}, 422, "a resigned handover sends no message"},
		{"message too long", admin, "c1", body{"from": "a1", "to": "a2", "message": strings.Repeat("好", 201)}, 422, "message is longer than 200 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, got := a.do(t, "POST", path(tc.customer), tc.token, tc.body)
			if status != tc.want || !strings.Contains(string(got), tc.says) {
				t.Fatalf("got %d %s, want %d %q", status, got, tc.want, tc.says)
			}
		})
	}
	if n, err := a.st.CountJobs(ctx, bot.JobHandover); err != nil || n != 0 {
		t.Fatalf("rejected requests armed %d handover jobs (%v)", n, err)
	}

	// Manager A hands 张三 (c1) from a1 to a2.
	status, got := a.do(t, "POST", path("c1"), mgrA, body{"from": "a1", "to": "a2", "message": "您好，后续由我的同事为您服务"})
	if status != 202 {
		t.Fatalf("handover: %d %s", status, got)
	}
	var st bot.HandoverState
	if err := json.Unmarshal(got, &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != bot.HandoverPending || st.CustomerID != a.ids["c1"] || st.ExternalUserID != "wm-c1" ||
		st.From != "a1" || st.To != "a2" || st.By != "mgrA" || st.Submitted || !st.StartedAt.Equal(apiNow) || st.ID == "" {
		t.Fatalf("state %+v", st)
	}
	entries, err := a.st.FindTimeline(ctx, a.ids["c1"], 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if entries[0].Text != "转交给 销售A2（等待接替）" || entries[0].Attrs["handover_id"] != st.ID || entries[0].Attrs["kind"] != "在职继承" {
		t.Errorf("timeline %+v", entries[0])
	}

	// A retry answers the same handover; another target conflicts.
	status, got = a.do(t, "POST", path("c1"), admin, body{"from": "a1", "to": "a2"})
	var again bot.HandoverState
	if status != 202 || json.Unmarshal(got, &again) != nil || again.ID != st.ID {
		t.Fatalf("retry: %d %s", status, got)
	}
	if status, got := a.do(t, "POST", path("c1"), admin, body{"from": "a1", "to": "b1"}); status != 409 {
		t.Fatalf("another target while pending: %d %s", status, got)
	}
	if n, err := a.st.CountJobs(ctx, bot.JobHandover); err != nil || n != 1 {
		t.Fatalf("%d handover jobs (%v), want 1", n, err)
	}
	entries, _ = a.st.FindTimeline(ctx, a.ids["c1"], 0, 10)
	notes := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Text, "转交给") {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("%d handover notes on the timeline, want 1", notes)
	}

	// Every request that reached a visible customer was audited, the
	// rejected ones twice (asked, then why it could not start).
	audit := a.audit(t, a.ids["c1"], 100)
	var actions []string
	for _, e := range audit {
		if e.Action == handlers.AuditHandover || e.Action == handlers.AuditHandoverRejected {
			actions = append(actions, e.Actor+":"+e.Action)
		}
	}
	// Newest first: the conflict, the retry, manager A's, then the six
	// rejections about c1 that got past the role and team checks.
	want := "token:admin:handover_rejected token:admin:handover token:admin:handover mgrA:handover"
	if got := strings.Join(actions[:4], " "); got != want {
		t.Errorf("latest audit %s, want %s", got, want)
	}
	if len(actions) != 4+2*6 {
		t.Errorf("%d handover audit entries on c1, want %d: %v", len(actions), 4+2*6, actions)
	}
	for _, e := range audit {
		if e.Detail == "" {
			t.Errorf("audit entry without detail: %+v", e)
		}
	}
}
