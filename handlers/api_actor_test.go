package handlers_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/scrmhq/scrm/handlers"
)

// TestAdminTokenIsNotStaffAdmin: a staff member whose UserID is "admin" (a
// common WeCom UserID) and the admin token are told apart in the audit log,
// and no staff ID may take the admin token's actor name.
func TestAdminTokenIsNotStaffAdmin(t *testing.T) {
	a := newAPIEnv(t)
	id := a.ids["c1"]
	if status, body := a.do(t, "PUT", "/api/v1/staff/admin", apiTok, map[string]any{"name": "管理员小王", "role": "admin"}); status != 200 {
		t.Fatalf("PUT /staff/admin: %d %s", status, body)
	}
	status, body := a.do(t, "POST", "/api/v1/tokens", apiTok, map[string]string{"staff_id": "admin"})
	if status != 201 {
		t.Fatalf("token for staff admin: %d %s", status, body)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	for _, bearer := range []string{apiTok, tok.Token} {
		if status, body := a.do(t, "GET", "/api/v1/customers/"+id+"/timeline", bearer, nil); status != 200 {
			t.Fatalf("timeline: %d %s", status, body)
		}
	}
	audit := a.audit(t, id, 10)
	actors := map[string]bool{}
	for _, e := range audit {
		if e.Action == handlers.AuditReadTimeline {
			actors[e.Actor] = true
		}
	}
	if len(actors) != 2 || !actors["admin"] {
		t.Fatalf("timeline reads audited for %v, want the staff member admin and the admin token apart", actors)
	}

	for _, reserved := range []string{"token:admin", "TOKEN:admin", "token:x"} {
		if status, body := a.do(t, "PUT", "/api/v1/staff/"+reserved, apiTok, map[string]any{"role": "admin"}); status != 400 || !strings.Contains(string(body), "保留") {
			t.Errorf("PUT /staff/%s: got %d %s, want 400 saying the ID is reserved", reserved, status, body)
		}
		if status, body := a.do(t, "POST", "/api/v1/tokens", apiTok, map[string]string{"staff_id": reserved}); status != 400 || !strings.Contains(string(body), "保留") {
			t.Errorf("token for %s: got %d %s, want 400 saying the ID is reserved", reserved, status, body)
		}
		if _, err := handlers.MintStaffToken(apiTok, reserved, apiNow.Add(3600e9)); err == nil {
			t.Errorf("minted a staff token for %s", reserved)
		}
	}
}
