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
	get := func(t *testing.T, path, enc string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.base+path, nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			if r, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := io.ReadAll(r)
		return resp, string(b)
	}
	for _, p := range []string{"/sidebar/", "/sidebar/?wwsim=x", "/sidebar/customer/1"} {
		for _, enc := range []string{"identity", "gzip"} {
			resp, body := get(t, p, enc)
			if resp.StatusCode != 200 || !strings.Contains(body, `<meta name="scrm-jssdk" content="`+sdk+`"`) ||
				!strings.Contains(body, `<link rel="preload" as="script" href="`+sdk+`">`) || !strings.Contains(body, "/console/assets/sidebar-") {
				t.Fatalf("GET %s (%s) = %d:\n%s", p, enc, resp.StatusCode, body)
			}
			if (enc == "gzip") != (resp.Header.Get("Content-Encoding") == "gzip") {
				t.Errorf("GET %s (%s): Content-Encoding %q", p, enc, resp.Header.Get("Content-Encoding"))
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self' http://127.0.0.1:9;", "connect-src 'self' http://127.0.0.1:9;", "frame-ancestors 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
				t.Errorf("GET %s headers: %v", p, resp.Header)
			}
		}
	}
	resp, _ := get(t, "/sidebar?wwsim=abc", "identity")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/sidebar/?wwsim=abc" {
		t.Errorf("GET /sidebar = %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The console's own page still may not be framed.
	resp, _ = get(t, "/console/", "identity")
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/console/ X-Frame-Options %q", resp.Header.Get("X-Frame-Options"))
	}
}
