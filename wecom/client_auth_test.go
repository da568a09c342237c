package wecom_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestGetUserInfo exchanges codes from the simulator's sign-in pages the
// way WeCom does: once, within 5 minutes, a member's userid and a
// non-member's openid; anything else is 40029.
func TestGetUserInfo(t *testing.T) {
	clock := wecomtest.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	sim := newSim(t, wecomtest.SimConfig{Now: clock.Now}, 0)
	sim.AddStaff(wecomtest.Staff{UserID: "zhangsan", Name: "张三", Department: []int{1}})
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()

	// The code comes from following the web login page's redirect.
	sim.SignInAs("zhangsan")
	page := wecom.WebLoginURL(sim.URL, wecomtest.SimCorpID, wecomtest.SimAgentID, "http://scrm.test/auth/wecom/callback?x=1", "st-1")
	back := follow(t, page)
	if back.Host != "scrm.test" || back.Path != "/auth/wecom/callback" || back.Query().Get("state") != "st-1" || back.Query().Get("x") != "1" {
		t.Fatalf("redirect back = %s", back)
	}
	code := back.Query().Get("code")
	u, err := c.GetUserInfo(ctx, code)
	if err != nil || u.UserID != "zhangsan" || u.OpenID != "" {
		t.Fatalf("GetUserInfo = %+v, %v; want userid zhangsan", u, err)
	}
	if _, err := c.GetUserInfo(ctx, code); wecom.APIErrorCode(err) != 40029 {
		t.Errorf("second use of a code: %v, want 40029", err)
	}
	if _, err := c.GetUserInfo(ctx, "made-up"); wecom.APIErrorCode(err) != 40029 {
		t.Errorf("unknown code: %v, want 40029", err)
	}

	// The OAuth2 page inside WeCom gives the same kind of code; it lives 5
	// minutes.
	page = wecom.OAuthURL(sim.URL, wecomtest.SimCorpID, wecomtest.SimAgentID, "https://scrm.test/cb", "st-2")
	back = follow(t, page)
	clock.Advance(5 * time.Minute)
	if _, err := c.GetUserInfo(ctx, back.Query().Get("code")); wecom.APIErrorCode(err) != 40029 {
		t.Errorf("code after 5 minutes: %v, want 40029", err)
	}
	back = follow(t, page)
	clock.Advance(4*time.Minute + 59*time.Second)
	if u, err := c.GetUserInfo(ctx, back.Query().Get("code")); err != nil || u.UserID != "zhangsan" {
		t.Errorf("code just inside 5 minutes: %+v, %v", u, err)
	}

	// Someone outside the corp gets an openid and no userid.
	sim.SignInAs("outsider")
	back = follow(t, page)
	if u, err := c.GetUserInfo(ctx, back.Query().Get("code")); err != nil || u.UserID != "" || u.OpenID == "" {
		t.Errorf("non-member: %+v, %v; want an openid only", u, err)
	}

	// The exchange takes the app's token like the other APIs: a revoked
	// token is refreshed once, and the code still works.
	code = sim.IssueCode("zhangsan")
	sim.ExpireTokens()
	if u, err := c.GetUserInfo(ctx, code); err != nil || u.UserID != "zhangsan" {
		t.Errorf("after the token expired: %+v, %v", u, err)
	}
}

// TestSignInPagesRefuseBadRequests: the pages check what WeCom checks.
func TestSignInPagesRefuseBadRequests(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 1)
	sim.SignInAs("u00")
	good := wecom.WebLoginURL(sim.URL, wecomtest.SimCorpID, wecomtest.SimAgentID, "http://scrm.test/cb", "s")
	for name, u := range map[string]string{
		"wrong corp":       wecom.WebLoginURL(sim.URL, "wwother", wecomtest.SimAgentID, "http://scrm.test/cb", "s"),
		"wrong agent":      wecom.WebLoginURL(sim.URL, wecomtest.SimCorpID, "1", "http://scrm.test/cb", "s"),
		"no redirect":      wecom.WebLoginURL(sim.URL, wecomtest.SimCorpID, wecomtest.SimAgentID, "", "s"),
		"oauth wrong corp": wecom.OAuthURL(sim.URL, "wwother", wecomtest.SimAgentID, "http://scrm.test/cb", "s"),
		"oauth bad scope":  strings.Replace(wecom.OAuthURL(sim.URL, wecomtest.SimCorpID, wecomtest.SimAgentID, "http://scrm.test/cb", "s"), "snsapi_base", "snsapi_userinfo", 1),
		"web login type":   strings.Replace(good, "CorpApp", "ServiceApp", 1),
	} {
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
		}
	}
	// Without a chosen member the page lists the staff to pick from.
	sim.SignInAs("")
	resp, err := noRedirect.Get(good)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, 4096)
	n, _ := resp.Body.Read(b)
	if resp.StatusCode != 200 || !strings.Contains(string(b[:n]), "sim_userid=u00") {
		t.Errorf("chooser: %d %s", resp.StatusCode, b[:n])
	}
}

var noRedirect = &http.Client{Timeout: 5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// follow opens a sign-in page and returns where it redirects.
func follow(t *testing.T, page string) *url.URL {
	t.Helper()
	resp, err := noRedirect.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: status %d, want 302", page, resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}
