package handlers_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestJSAPISignature: any signed-in caller (a console session, a staff
// token, the admin token) gets both signatures of the page URL, made with
// the simulator's live tickets; nobody else does.
func TestJSAPISignature(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	api, err := wecom.NewAPIClient(sim.APIConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := openAuthStore(t)
	clock := &authClock{t: time.Now()}
	var core *bot.Core
	base := startAuthServer(t, st, clock, apiTok, func(o *handlers.Options) { o.JSAPI = api; core = o.Core })
	page := "https://scrm.example.com/sidebar/?entry=single_chat_tools#/customer"

	sess := browser(t)
	if a := signInWithLink(t, core, sess, base, "s1", "/console/"); a.status != 302 {
		t.Fatalf("sign-in: %d %s", a.status, a.body)
	}
	staff, err := handlers.MintStaffToken(apiTok, "s2", clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	plain := browser(t)
	q := "/api/v1/jsapi/signature?url=" + url.QueryEscape(page)
	for _, tc := range []struct {
		name   string
		a      answer
		status int
	}{
		{"session", do(t, sess, "GET", base+q, ""), 200},
		{"staff token", do(t, plain, "GET", base+q, "", "Authorization", "Bearer "+staff), 200},
		{"admin token", do(t, plain, "GET", base+q, "", "Authorization", "Bearer "+apiTok), 200},
		{"nobody", do(t, plain, "GET", base+q, ""), 401},
		{"relative url", do(t, sess, "GET", base+"/api/v1/jsapi/signature?url=/sidebar/", ""), 400},
		{"no url", do(t, sess, "GET", base+"/api/v1/jsapi/signature", ""), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.a.status != tc.status {
				t.Fatalf("status %d %s, want %d", tc.a.status, tc.a.body, tc.status)
			}
			if tc.status != 200 {
				return
			}
			var s wecom.JSSignature
			if err := json.Unmarshal([]byte(tc.a.body), &s); err != nil {
				t.Fatal(err)
			}
			if s.CorpID != wecomtest.SimCorpID || s.AgentID != wecomtest.SimAgentID || s.NonceStr == "" || s.Timestamp == 0 {
				t.Errorf("answer %+v", s)
			}
			if !sim.VerifyJSSignature(wecom.TicketCorp, page, s.NonceStr, s.Timestamp, s.Signature) ||
				!sim.VerifyJSSignature(wecom.TicketAgent, page, s.NonceStr, s.Timestamp, s.AgentSignature) {
				t.Errorf("signatures do not verify: %+v", s)
			}
			if tc.a.header.Get("Cache-Control") != "no-store" {
				t.Error("a signature may be cached by the browser")
			}
		})
	}
	if c, a := sim.TicketFetches(wecom.TicketCorp), sim.TicketFetches(wecom.TicketAgent); c != 1 || a != 1 {
		t.Errorf("ticket fetches %d/%d for three signatures, want 1/1", c, a)
	}
	// Without WeCom credentials the endpoint says so.
	base2 := startAuthServer(t, st, clock, apiTok)
	if a := do(t, plain, "GET", base2+q, "", "Authorization", "Bearer "+apiTok); a.status != 501 {
		t.Errorf("without credentials: %d %s, want 501", a.status, a.body)
	}
}
