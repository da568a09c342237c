package handlers_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/web"
)

// TestSidebarServing serves the real embedded sidebar: every path under
// /sidebar/ is the page, naming the configured JS-SDK script (and
// preloading it), with a policy that lets that script's origin in and
// lets scrm's own pages frame it; /sidebar redirects with its query.
func TestSidebarServing(t *testing.T) {
	const sdk = "http://127.0.0.1:9/jssdk/ww.js"
	e := newEnv(t, func(o *handlers.Options) { o.ConsoleFiles = web.Console(); o.JSSDKURL = sdk })
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, path, enc string) (answer, string) {
		t.Helper()
		a := do(t, client, http.MethodGet, e.base+path, "", "Accept-Encoding", enc)
		if a.header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(a.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(zr)
			a.body = string(b)
		}
		return a, a.body
	}
	for _, p := range []string{"/sidebar/", "/sidebar/?wwsim=x", "/sidebar/customer/1"} {
		for _, enc := range []string{"identity", "gzip"} {
			resp, body := get(t, p, enc)
			if resp.status != 200 || !strings.Contains(body, `<meta name="scrm-jssdk" content="`+sdk+`"`) ||
				!strings.Contains(body, `<link rel="preload" as="script" href="`+sdk+`">`) || !strings.Contains(body, "/console/assets/sidebar-") {
				t.Fatalf("GET %s (%s) = %d:\n%s", p, enc, resp.status, body)
			}
			if (enc == "gzip") != (resp.header.Get("Content-Encoding") == "gzip") {
				t.Errorf("GET %s (%s): Content-Encoding %q", p, enc, resp.header.Get("Content-Encoding"))
			}
			csp := resp.header.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self' http://127.0.0.1:9;", "connect-src 'self' http://127.0.0.1:9;", "frame-ancestors 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if resp.header.Get("Cache-Control") != "no-cache" || resp.header.Get("X-Frame-Options") != "SAMEORIGIN" {
				t.Errorf("GET %s headers: %v", p, resp.header)
			}
		}
	}
	resp, _ := get(t, "/sidebar?wwsim=abc", "identity")
	if resp.status != http.StatusMovedPermanently || resp.header.Get("Location") != "/sidebar/?wwsim=abc" {
		t.Errorf("GET /sidebar = %d → %q", resp.status, resp.header.Get("Location"))
	}
	// The console's own page still may not be framed.
	resp, _ = get(t, "/console/", "identity")
	if resp.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/console/ X-Frame-Options %q", resp.header.Get("X-Frame-Options"))
	}
}
