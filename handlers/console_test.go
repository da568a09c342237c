package handlers_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/web"
)

// TestConsoleServing serves the real embedded console: pages of the app
// get index.html (history routing) revalidated on every load, hashed
// assets are immutable and gzipped, and a missing asset is a 404 rather
// than HTML a browser would try to run.
func TestConsoleServing(t *testing.T) {
	e := newEnv(t, func(o *handlers.Options) { o.ConsoleFiles = web.Console() })
	index, err := fs.ReadFile(web.Console(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`/console/(assets/index-[^"]+\.js)`).FindSubmatch(index)
	if m == nil {
		t.Fatalf("index.html names no entry script: %s", index)
	}
	script := string(m[1])
	want, err := fs.ReadFile(web.Console(), script)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, path string, hdr ...string) (answer, []byte) {
		t.Helper()
		// Without identity Go's transport would ask for gzip and undo it.
		a := do(t, client, http.MethodGet, e.base+path, "", append([]string{"Accept-Encoding", "identity"}, hdr...)...)
		return a, []byte(a.body)
	}

	for _, p := range []string{"/console/", "/console/customers", "/console/customers/c-123", "/console/login?next=/console/reports"} {
		t.Run("page "+p, func(t *testing.T) {
			resp, body := get(t, p)
			if resp.status != 200 || !bytes.Equal(body, index) {
				t.Fatalf("GET %s = %d, want index.html", p, resp.status)
			}
			if cc := resp.header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", cc)
			}
			if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q", ct)
			}
			if csp := resp.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("CSP %q", csp)
			}
		})
	}
	t.Run("redirect", func(t *testing.T) {
		resp, _ := get(t, "/console")
		if resp.status != http.StatusMovedPermanently || resp.header.Get("Location") != "/console/" {
			t.Fatalf("GET /console = %d %q", resp.status, resp.header.Get("Location"))
		}
	})
	t.Run("asset", func(t *testing.T) {
		resp, body := get(t, "/console/"+script)
		if resp.status != 200 || !bytes.Equal(body, want) {
			t.Fatalf("GET %s = %d (%d bytes)", script, resp.status, len(body))
		}
		if cc := resp.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("Cache-Control %q", cc)
		}
		if ct := resp.header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if resp.header.Get("Content-Encoding") != "" {
			t.Errorf("gzip sent to a client that did not ask for it")
		}
		resp, _ = get(t, "/console/"+script, "If-None-Match", resp.header.Get("ETag"))
		if resp.status != http.StatusNotModified {
			t.Errorf("revalidation with the ETag = %d, want 304", resp.status)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		resp, body := get(t, "/console/"+script, "Accept-Encoding", "gzip, deflate, br")
		if resp.header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("Content-Encoding %q Vary %q", resp.header.Get("Content-Encoding"), resp.header.Get("Vary"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(plain, want) {
			t.Fatalf("gunzipped body differs from the file (%v)", err)
		}
		if len(body) >= len(want)/2 {
			t.Errorf("gzip %d of %d bytes", len(body), len(want))
		}
		resp, _ = get(t, "/console/"+script, "Accept-Encoding", "gzip;q=0")
		if resp.header.Get("Content-Encoding") != "" {
			t.Errorf("gzip sent though refused with q=0")
		}
	})
	t.Run("missing asset", func(t *testing.T) {
		for _, p := range []string{"/console/assets/nope-123.js", "/console/favicon.ico", "/console/../go.mod"} {
			resp, body := get(t, p)
			if p == "/console/../go.mod" {
				// The client cleans the path; whatever arrives must not be a file outside.
				if bytes.Contains(body, []byte("module ")) {
					t.Fatalf("%s served a file outside the console", p)
				}
				continue
			}
			if resp.status != 404 {
				t.Errorf("GET %s = %d, want 404", p, resp.status)
			}
		}
	})
}

// TestConsoleFirstLoadSize keeps the first load (index.html, its scripts
// and styles, gzipped as served) under the 600 KB budget of issue 14.
func TestConsoleFirstLoadSize(t *testing.T) {
	index, err := fs.ReadFile(web.Console(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	total := gz(t, index)
	for _, m := range regexp.MustCompile(`(?:src|href)="/console/([^"]+)"`).FindAllSubmatch(index, -1) {
		b, err := fs.ReadFile(web.Console(), string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		total += gz(t, b)
	}
	t.Logf("first load: %d bytes gzipped", total)
	if total > 600<<10 {
		t.Errorf("first load is %d KB gzipped, budget 600 KB", total>>10)
	}
}

func gz(t *testing.T, b []byte) int {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Len()
}
