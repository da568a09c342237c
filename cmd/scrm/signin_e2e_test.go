package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestSignInEndToEnd runs the whole app against the simulated corp and
// signs staff in to the console through each door that hands out a
// session: the bot's 后台 reply, `scrm login-link`, and WeCom's web login.
// Each session sees exactly what the member may see.
func TestSignInEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	for _, s := range []wecomtest.Staff{{UserID: "wangfang", Name: "王芳"}, {UserID: "zhangwei", Name: "张伟"}, {UserID: "limin", Name: "李明"}} {
		sim.AddStaff(s)
	}
	added := time.Now().Add(-2 * time.Hour)
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmA", Name: "陈静", Follow: []wecomtest.Follow{{UserID: "wangfang", CreateTime: added}}})
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmB", Name: "周强", Follow: []wecomtest.Follow{{UserID: "zhangwei", CreateTime: added}}})

	// The public URL names a host the test rewrites: the app's port is
	// only known once it listens.
	const public = "https://scrm.example.com"
	a := startSimApp(t, sim, extensions{}, func(c *config.Config) {
		c.PublicURL = public
		c.WeComOAuthBase, c.WeComLoginBase = sim.URL, sim.URL
	})
	ctx := context.Background()
	for _, s := range []*store.Staff{
		{ID: "limin", Name: "李明", Role: bot.RoleManager, Team: []string{"wangfang", "zhangwei"}, Active: true},
		{ID: "wangfang", Name: "王芳", Role: bot.RoleSales, Active: true},
		{ID: "zhangwei", Name: "张伟", Role: bot.RoleSales, Active: true},
	} {
		if err := a.store.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []wecomtest.Msg{
		wecomtest.ContactEvent("add_external_contact", "wangfang", "wmA", time.Now(), nil),
		wecomtest.ContactEvent("add_external_contact", "zhangwei", "wmB", time.Now(), nil),
	} {
		a.sendWeCom(t, m)
	}
	waitFor(t, "both customers", func() bool {
		n, err := a.store.(store.CustomerAdmin).CountCustomers(ctx, store.CustomerFilter{})
		return err == nil && n == 2
	})
	local := func(link string) string { return strings.Replace(link, public, a.base, 1) }

	t.Run("the bot's 后台 reply", func(t *testing.T) {
		before := len(sim.SentTo("wangfang"))
		a.sendWeCom(t, wecomtest.AppText("wangfang", "后台", 77_000_001, time.Now()))
		var reply string
		waitFor(t, "the reply to 后台", func() bool {
			got := sim.SentTo("wangfang")
			if len(got) > before {
				reply = got[before].Content
				return true
			}
			return false
		})
		link := regexp.MustCompile(`\((https://scrm\.example\.com/auth/link\?t=[^)]+)\)`).FindStringSubmatch(reply)
		if link == nil || !strings.Contains(reply, "10 分钟") {
			t.Fatalf("reply to 后台 has no login link:\n%s", reply)
		}
		b := newBrowser()
		resp := open(t, b, local(link[1]))
		if resp.Request.URL.Path != "/console/" {
			t.Errorf("the link ended at %s, want /console/", resp.Request.URL)
		}
		checkSession(t, b, a.base, "wangfang", []string{"陈静"})
	})

	t.Run("scrm login-link", func(t *testing.T) {
		t.Setenv("SCRM_DATA_DIR", a.cfg.DataDir)
		var out, errOut bytes.Buffer
		cmd := newRootCmd()
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs([]string{"login-link", "--staff", "limin", "--base", public + "/", "--next", "/console/customers"})
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("login-link: %v (%s)", err, errOut.String())
		}
		link := strings.TrimSpace(out.String())
		if !strings.HasPrefix(link, public+"/auth/link?t=") {
			t.Fatalf("login-link printed %q", link)
		}
		b := newBrowser()
		resp := open(t, b, local(link))
		if resp.Request.URL.Path != "/console/customers" {
			t.Errorf("the link ended at %s, want /console/customers", resp.Request.URL)
		}
		checkSession(t, b, a.base, "limin", []string{"周强", "陈静"})
		// Good once.
		if resp := open(t, newBrowser(), local(link)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("second use = %d, want 401", resp.StatusCode)
		}
		// Refused for someone who is not an active member.
		cmd = newRootCmd()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs([]string{"login-link", "--staff", "nobody", "--base", public})
		if err := cmd.ExecuteContext(ctx); err == nil {
			t.Error("login-link issued a link for an unknown member")
		}
	})

	t.Run("WeCom web login", func(t *testing.T) {
		sim.SignInAs("zhangwei")
		b := newBrowser()
		// WeCom sends the browser back to SCRM_PUBLIC_URL, which in this
		// test is the app on a local port.
		b.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host == "scrm.example.com" {
				u, _ := req.URL.Parse(local(req.URL.String()))
				req.URL, req.Host = u, ""
			}
			return nil
		}
		resp := open(t, b, a.base+"/auth/wecom/login?next=/console/customers")
		if resp.Request.URL.Path != "/console/customers" {
			t.Fatalf("web login ended at %s", resp.Request.URL)
		}
		checkSession(t, b, a.base, "zhangwei", []string{"周强"})
	})
}

// TestLoginLinkReplyWithoutPublicURL: without SCRM_PUBLIC_URL the bot says
// which setting enables the links.
func TestLoginLinkReplyWithoutPublicURL(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	sim.AddStaff(wecomtest.Staff{UserID: "wangfang", Name: "王芳"})
	a := startSimApp(t, sim, extensions{}, nil)
	if err := a.store.UpsertStaff(context.Background(), &store.Staff{ID: "wangfang", Name: "王芳", Role: bot.RoleSales, Active: true}); err != nil {
		t.Fatal(err)
	}
	a.sendWeCom(t, wecomtest.AppText("wangfang", "登录", 77_000_101, time.Now()))
	waitFor(t, "the reply to 登录", func() bool {
		got := sim.SentTo("wangfang")
		return len(got) > 0 && strings.Contains(got[0].Content, "SCRM_PUBLIC_URL") && !strings.Contains(got[0].Content, "/auth/link")
	})
}

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// open opens u in browser b. A login link answers a page whose form posts
// the link back (a browser's script submits it): open submits it the same
// way, so the link is used by the person who opens it, not by a preview.
func open(t *testing.T, b *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/auth/link" || resp.StatusCode != http.StatusOK {
		return resp
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`).FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("t") == "" {
		t.Fatalf("the login link's page has no form to post:\n%s", page)
	}
	resp, err = b.PostForm(resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/auth/link", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// checkSession asks /api/v1/me and /api/v1/customers with b's session.
func checkSession(t *testing.T, b *http.Client, base, staffID string, customers []string) {
	t.Helper()
	var me struct {
		StaffID   string `json:"staff_id"`
		CSRFToken string `json:"csrf_token"`
	}
	getJSON(t, b, base+"/api/v1/me", &me)
	if me.StaffID != staffID || me.CSRFToken == "" {
		t.Errorf("/me = %+v, want %s with a CSRF token", me, staffID)
	}
	var list struct {
		Items []store.Customer `json:"items"`
	}
	getJSON(t, b, base+"/api/v1/customers", &list)
	var names []string
	for _, c := range list.Items {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, customers) {
		t.Errorf("%s's customers = %v, want %v", staffID, names, customers)
	}
}

func getJSON(t *testing.T, b *http.Client, u string, v any) {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
