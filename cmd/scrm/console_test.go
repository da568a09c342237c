package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/scrmhq/scrm/handlers"
)

// consoleEnv is the demo (real server, real SQLite store, the WeCom
// simulator, the seeded company) and a headless Chromium to drive the
// console with.
type consoleEnv struct {
	r    *demoRun
	base string // http://127.0.0.1:port
	bctx context.Context
}

func newConsoleEnv(t *testing.T) *consoleEnv {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing (%v): run `make test`, which installs Debian's chromium through scripts/test-deps.sh", chromiumPath, err)
	}
	r, err := startDemo(context.Background(), demoOptions{
		Addr:    "127.0.0.1:0",
		DataDir: filepath.Join(t.TempDir(), "demo"),
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("stop demo: %v", err)
		}
	})
	select {
	case <-r.Seeded:
	case <-time.After(30 * time.Second):
		t.Fatalf("sample history not played within 30 s: %+v", r.demo.State().Seed)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	// The first Run starts the browser; its context must not carry a timeout.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &consoleEnv{r: r, base: r.Base, bctx: bctx}
}

// asStaff makes every request of the tab carry a staff bearer token.
// TEMPORARY until sessions land.
func (e *consoleEnv) asStaff(t *testing.T, ctx context.Context, id string) {
	tok, err := handlers.MintStaffToken(e.r.app.cfg.APIToken, id, time.Now().Add(time.Hour))
	if id == "admin" {
		tok, err = e.r.app.cfg.APIToken, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + tok}})
		return err
	})); err != nil {
		t.Fatal(err)
	}
}

// apiJSON calls the API with the admin token and decodes the answer.
func (e *consoleEnv) apiJSON(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.r.app.cfg.APIToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %d: %v", method, path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

// waitJS polls a JavaScript condition.
func waitJS(what, expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))(ctx, tg)
		if err != nil {
			return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", what, err)
		}
		return chromedp.Void{}, nil
	}
}

// settled waits until the page shows no loading spinner.
var settled = waitJS("the page to finish loading", `document.querySelector('#app .page') && !document.querySelector('.state-loading')`)

func (e *consoleEnv) shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	saveScreenshotAs(t, name, png)
}

func TestConsolePagesLook(t *testing.T) {
	e := newConsoleEnv(t)
	pages := []struct{ name, path, as string }{
		{"workbench", "/console/", "limin"},
		{"customers", "/console/customers", "limin"},
		{"customer", "/console/customers/CUST", "limin"},
		{"reports", "/console/reports", "limin"},
		{"reminders", "/console/reminders", "wangfang"},
		{"settings", "/console/settings", "admin"},
		{"login", "/console/login", "limin"},
	}
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	e.apiJSON(t, "GET", "/api/v1/customers?limit=1", "", &list)
	for _, width := range []int64{1280, 390} {
		for _, p := range pages {
			p.path = strings.ReplaceAll(p.path, "CUST", list.Items[0].ID)
			ctx, cancel := chromedp.NewContext(e.bctx)
			e.asStaff(t, ctx, p.as)
			tctx, tcancel := context.WithTimeout(ctx, 20*time.Second)
			err := chromedp.Do(tctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(e.base+p.path), chromedp.Sleep(1500*time.Millisecond))
			if err != nil {
				t.Errorf("%s: %v", p.name, err)
			}
			e.shot(t, ctx, fmt.Sprintf("console-%s-%d.png", p.name, width))
			tcancel()
			cancel()
		}
	}
}
