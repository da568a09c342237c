package handlers_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// wecomLoginEnv is an edge whose WeCom sign-in goes to the simulator: its
// sign-in pages, its auth/getuserinfo behind its access tokens.
func wecomLoginEnv(t *testing.T) (string, *wecomtest.Simulator, *sqlite.DB) {
	t.Helper()
	db := openAuthStore(t)
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	for _, s := range []wecomtest.Staff{{UserID: "mgr", Name: "王经理"}, {UserID: "s1", Name: "李一"}, {UserID: "gone", Name: "离职"}} {
		sim.AddStaff(s)
	}
	api, err := wecom.NewAPIClient(sim.APIConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &authClock{t: time.Now().UTC()}
	// No SCRM_PUBLIC_URL: WeCom is sent back to the host the browser used.
	base := startAuthServer(t, db, clock, "", func(o *handlers.Options) {
		o.WeComLogin = &handlers.WeComLogin{CorpID: wecomtest.SimCorpID, AgentID: wecomtest.SimAgentID,
			OAuthBase: sim.URL, LoginBase: sim.URL, Users: api}
	})
	return base, sim, db
}

// following is a browser that follows redirects (across scrm and the
// simulator) and keeps cookies.
func following() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func getAs(t *testing.T, c *http.Client, u, userAgent string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

const (
	desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
	wecomUA   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 wxwork/4.1.20 MicroMessenger/7.0.1"
)

// TestWeComSignIn signs in through each WeCom path against the simulator.
func TestWeComSignIn(t *testing.T) {
	base, sim, db := wecomLoginEnv(t)
	for _, tc := range []struct {
		name, ua, page, method string
	}{
		{"web login on a desktop", desktopUA, "wwlogin/sso/login", bot.SignInWeb},
		{"OAuth2 inside WeCom", wecomUA, "connect/oauth2/authorize", bot.SignInOAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim.SignInAs("mgr")
			calls := sim.Calls(tc.page)
			b := following()
			resp := getAs(t, b, base+"/auth/wecom/login?next=/console/reports", tc.ua)
			if resp.Request.URL.Path != "/console/reports" {
				t.Fatalf("ended at %s, want /console/reports", resp.Request.URL)
			}
			if sim.Calls(tc.page) != calls+1 {
				t.Errorf("the browser did not pass through %s", tc.page)
			}
			if m := me(t, b, base); m.StaffID != "mgr" || m.Role != bot.RoleManager {
				t.Errorf("/me = %+v", m)
			}
			logins, _ := db.FindAudit(context.Background(), "staff:mgr", 0, 1)
			if len(logins) != 1 || logins[0].Action != bot.AuditLogin || !strings.Contains(logins[0].Detail, "method="+tc.method) {
				t.Errorf("login audit = %+v, want method=%s", logins, tc.method)
			}
		})
	}
}

// TestWeComSignInRefusals: a state that does not match, a code used twice,
// an inactive member and someone outside the corp get no session.
func TestWeComSignInRefusals(t *testing.T) {
	base, sim, _ := wecomLoginEnv(t)

	// startLogin begins a sign-in in browser b and returns the callback
	// URL the simulator sends it to, without following it.
	startLogin := func(b *http.Client, user string) *url.URL {
		t.Helper()
		sim.SignInAs(user)
		b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == "/auth/wecom/callback" {
				return http.ErrUseLastResponse
			}
			return nil
		}
		defer func() { b.CheckRedirect = nil }()
		resp := getAs(t, b, base+"/auth/wecom/login", desktopUA)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("login start: status %d", resp.StatusCode)
		}
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || u.Path != "/auth/wecom/callback" {
			t.Fatalf("simulator sent the browser to %q", resp.Header.Get("Location"))
		}
		return u
	}
	status := func(b *http.Client, u string) int {
		t.Helper()
		resp, err := b.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// refused checks that the browser b opening the callback cb is
	// answered want (what names the case) and is not signed in.
	refused := func(b *http.Client, cb *url.URL, want int, what string) {
		t.Helper()
		if got := status(b, cb.String()); got != want {
			t.Errorf("%s = %d, want %d", what, got, want)
		}
		if a := do(t, b, "GET", base+"/api/v1/me", ""); a.status != 401 {
			t.Errorf("GET /me after a refused sign-in = %d, want 401", a.status)
		}
	}

	t.Run("state mismatch", func(t *testing.T) {
		b := following()
		cb := startLogin(b, "s1")
		q := cb.Query()
		q.Set("state", "forged")
		cb.RawQuery = q.Encode()
		refused(b, cb, http.StatusBadRequest, "callback with another state")
	})
	t.Run("callback in a browser that never started", func(t *testing.T) {
		cb := startLogin(following(), "s1")
		other := following()
		refused(other, cb, http.StatusBadRequest, "callback without the state cookie")
	})
	t.Run("code used twice", func(t *testing.T) {
		b := following()
		cb := startLogin(b, "s1")
		b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		if got := status(b, cb.String()); got != http.StatusFound {
			t.Fatalf("first callback = %d, want 302", got)
		}
		// A second browser replays the code with its own, valid state.
		c := following()
		cb2 := startLogin(c, "s1")
		q := cb2.Query()
		q.Set("code", cb.Query().Get("code"))
		cb2.RawQuery = q.Encode()
		refused(c, cb2, http.StatusUnauthorized, "replayed code")
	})
	for _, tc := range []struct{ name, user, what string }{
		{"inactive member", "gone", "inactive member"},
		{"outside the corp", "stranger", "non-member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := following()
			refused(b, startLogin(b, tc.user), http.StatusForbidden, tc.what)
		})
	}
	t.Run("next stays local", func(t *testing.T) {
		sim.SignInAs("s1")
		b := following()
		resp := getAs(t, b, base+"/auth/wecom/login?next="+url.QueryEscape("https://evil.example/"), desktopUA)
		if resp.Request.URL.Host == "evil.example" || resp.Request.URL.Path != "/console/" {
			t.Errorf("ended at %s, want this server's /console/", resp.Request.URL)
		}
	})
}
