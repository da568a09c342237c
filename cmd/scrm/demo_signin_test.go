package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scrmhq/scrm/demo"
)

// TestDemoBannerSignsStaffIn: the demo's banner holds a login link for the
// manager and each salesperson, each signs that person in to the console
// once, and the demo page links to the console; the console's WeCom
// sign-in goes to the simulator's pages, where the visitor picks a member.
func TestDemoBannerSignsStaffIn(t *testing.T) {
	out := &syncBuffer{}
	r, err := startDemo(context.Background(), demoOptions{
		Addr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "demo"),
		Out: out, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("stop demo: %v", err)
		}
	})
	base := strings.TrimSuffix(r.URL, "/demo")
	links := regexp.MustCompile(`（(\w+)）：(http://\S+/auth/link\?t=\S+)`).FindAllStringSubmatch(out.String(), -1)
	if len(links) != len(demo.StaffList) {
		t.Fatalf("banner has %d login links, want %d:\n%s", len(links), len(demo.StaffList), out.String())
	}
	for i, l := range links {
		if want := demo.StaffList[i].UserID; l[1] != want {
			t.Errorf("link %d is for %s, want %s", i, l[1], want)
		}
		if !strings.HasPrefix(l[2], base+"/auth/link?t=") {
			t.Errorf("link %q is not under %s", l[2], base)
		}
		b := newBrowser()
		resp := open(t, b, l[2])
		if resp.Request.URL.Path != "/console/" {
			t.Errorf("%s's link ended at %s, want /console/", l[1], resp.Request.URL)
		}
		var me struct {
			StaffID string `json:"staff_id"`
			Role    string `json:"role"`
		}
		getJSON(t, b, base+"/api/v1/me", &me)
		if me.StaffID != l[1] {
			t.Errorf("%s's link signed in %+v", l[1], me)
		}
	}

	resp, err := http.Get(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `href="/console/"`) {
		t.Error("the demo page does not link to /console/")
	}

	// 企业微信登录 in the demo: the simulator's page lists the company's
	// staff; picking one comes back signed in.
	b := newBrowser()
	resp = open(t, b, base+"/auth/wecom/login?next=/console/reports")
	if !strings.HasPrefix(resp.Request.URL.String(), r.sim.URL+"/wwlogin/sso/login") || resp.StatusCode != 200 {
		t.Fatalf("WeCom sign-in went to %s (%d), want the simulator's web login page", resp.Request.URL, resp.StatusCode)
	}
	q := resp.Request.URL.Query()
	q.Set("sim_userid", "wangfang")
	u := *resp.Request.URL
	u.RawQuery = q.Encode()
	resp = open(t, b, u.String())
	if resp.Request.URL.Path != "/console/reports" {
		t.Fatalf("picking 王芳 ended at %s", resp.Request.URL)
	}
	var me struct {
		StaffID string `json:"staff_id"`
	}
	getJSON(t, b, base+"/api/v1/me", &me)
	if me.StaffID != "wangfang" {
		t.Errorf("/me after the simulator's sign-in = %+v", me)
	}
}
