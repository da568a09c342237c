package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
)

// consoleEnv is the demo (real server, real SQLite store, the WeCom
// simulator, the seeded company) and a headless Chromium to drive the
// console with.
type consoleEnv struct {
	r    *demoRun
	base string // http://127.0.0.1:port
	bctx context.Context
}

func newConsoleEnv(t testing.TB) *consoleEnv {
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

// loginLink issues a one-time login link for staffID through the core, as
// `scrm login-link` and the bot's 后台 answer do.
func (e *consoleEnv) loginLink(t testing.TB, staffID, next string) string {
	t.Helper()
	core := bot.NewCore(e.r.app.store, time.Now)
	admin := bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}
	secret, _, err := core.IssueLoginLink(context.Background(), admin, staffID, next)
	if err != nil {
		t.Fatalf("login link for %s: %v", staffID, err)
	}
	return e.base + "/auth/link?t=" + url.QueryEscape(secret)
}

// tab opens a fresh browser context (its own cookies) at the given width.
func (e *consoleEnv) tab(t testing.TB, width int64) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(e.bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900)); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// signIn opens a login link for staffID in ctx and waits for the console.
func (e *consoleEnv) signIn(t *testing.T, ctx context.Context, staffID, next string) {
	t.Helper()
	u := e.loginLink(t, staffID, "")
	if next != "" {
		u += "&next=" + url.QueryEscape(next)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(u), settled); err != nil {
		t.Fatalf("sign in as %s: %v", staffID, err)
	}
}

// apiJSON calls the API with the admin token and decodes the answer.
func (e *consoleEnv) apiJSON(t testing.TB, method, path, body string, out any) int {
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

// waitJS polls a JavaScript condition for up to 30 s (a loaded CI machine
// running the race detector can take seconds per step). Errors while the page
// navigates (its context goes away) are retried, not fatal.
func waitJS(what, expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		deadline := time.Now().Add(30 * time.Second)
		var last error
		for time.Now().Before(deadline) {
			ok, err := chromedp.Evaluate[bool]("!!("+expr+")")(ctx, tg)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			if ctx.Err() != nil {
				return chromedp.Void{}, ctx.Err()
			}
			last = err
			time.Sleep(50 * time.Millisecond)
		}
		return chromedp.Void{}, fmt.Errorf("waiting for %s: timed out (last error: %v)", what, last)
	}
}

// settled waits until the page shows no loading spinner.
// leadsOnly checks that a page for managers and admins is not a
// salesperson's: their menu has no entry named menu, and opening path sends
// them back to the workbench.
func (e *consoleEnv) leadsOnly(t *testing.T, path, menu string) {
	t.Helper()
	tab := e.tab(t, 1280)
	e.signIn(t, tab, "wangfang", "")
	if err := chromedp.Do(tab, chromedp.Navigate(e.base+path), settled,
		waitJS("back on the workbench", `location.pathname === "/console/"`)); err != nil {
		t.Fatal(err)
	}
	if js[bool](tab, t, fmt.Sprintf(`[...document.querySelectorAll('.nav .el-menu-item')].some(e => e.innerText.trim() === %q)`, menu)) {
		t.Errorf("a salesperson's menu offers %s", menu)
	}
}

// click clicks the first element sel matches, failing when there is none.
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, sel))(ctx, tg)
		if err == nil && !ok {
			err = fmt.Errorf("no %s", sel)
		}
		return err
	})
}

// clickText clicks the visible element sel matches whose text is text
// (a dropdown's option, a button by its label).
func clickText(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = [...document.querySelectorAll(%q)].find(e => e.offsetParent && e.innerText.trim() === %q); if (!e) return false; e.click(); return true })()`, sel, text))(ctx, tg)
		if err == nil && !ok {
			err = fmt.Errorf("no visible %s %q", sel, text)
		}
		return err
	})
}

var settled = waitJS("the page to finish loading", `document.querySelector('#app .page') && ![...document.querySelectorAll('.state-loading')].some(e => e.offsetParent)`)

func (e *consoleEnv) shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	saveScreenshotAs(t, name, png)
}

// TestConsolePages signs in with a login link as each role and saves a
// screenshot of every page at desktop (1280) and phone (390) widths. Each
// page must render its content or its own error state, never a blank page,
// and show no uncaught exception.
func TestConsolePages(t *testing.T) {
	e := newConsoleEnv(t)
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	e.apiJSON(t, "GET", "/api/v1/customers?limit=1", "", &list)
	pages := []struct{ name, path, as string }{
		{"workbench", "/console/", "limin"},
		{"customers", "/console/customers", "limin"},
		{"customer", "/console/customers/" + list.Items[0].ID, "limin"},
		{"reports", "/console/reports", "limin"},
		{"reminders", "/console/reminders", "wangfang"},
		{"settings", "/console/settings", "admin"},
	}
	parent := t
	for _, width := range []int64{1280, 390} {
		ctx := e.tab(t, width)
		t.Run(fmt.Sprint("login-", width), func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/console/customers"),
				waitJS("the sign-in page", `location.pathname === "/console/login" && document.body.innerText.includes("企业微信扫码登录")`)); err != nil {
				t.Fatal(err)
			}
			e.shot(t, ctx, fmt.Sprintf("console-login-%d.png", width))
		})
		signedAs := ""
		for _, p := range pages {
			t.Run(fmt.Sprint(p.name, "-", width), func(t *testing.T) {
				if p.as != signedAs {
					// The tab outlives this subtest: the next pages reuse its session.
					ctx = e.tab(parent, width)
					if p.as == "admin" {
						e.adminSignIn(t, ctx)
					} else {
						e.signIn(t, ctx, p.as, "")
					}
					signedAs = p.as
				}
				if err := chromedp.Do(ctx, chromedp.Navigate(e.base+p.path), settled, chromedp.Sleep(300*time.Millisecond),
					waitJS("content", `document.querySelector('#app .page').innerText.trim().length > 20`)); err != nil {
					t.Errorf("%s: %v", p.name, err)
				}
				e.shot(t, ctx, fmt.Sprintf("console-%s-%d.png", p.name, width))
				if p.name != "settings" {
					return
				}
				for i, tab := range []string{"标签", "营业时间与回复", "知识库", "接入检查", "审计日志"} {
					err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
						_, err := chromedp.Evaluate[bool](fmt.Sprintf(`[...document.querySelectorAll('.el-tabs__item')].find(e => e.innerText.trim() === %q).click() || true`, tab))(ctx, tg)
						return err
					}), chromedp.Sleep(300*time.Millisecond), settled)
					if err != nil {
						t.Errorf("settings tab %s: %v", tab, err)
					}
					e.shot(t, ctx, fmt.Sprintf("console-settings%d-%d.png", i+2, width))
				}
				// The cadences are the built-in journeys, edited in 跟进旅程:
				// the settings show no cadence of their own and lead there.
				if err := chromedp.Do(ctx, clickText(".el-tabs__item", "营业时间与回复"), settled,
					waitJS("the settings' pointer to the journeys", `document.querySelector('#pane-settings .cadences') && !document.querySelector('#pane-settings .el-table')`),
					click(".settings .journeys-link"),
					waitJS("the built-in cadence on the journeys page", `location.pathname === "/console/journeys" && [...document.querySelectorAll('.journey-card')].some(c => c.querySelector('.jc-name').innerText === "新客户跟进节奏" && c.querySelector('.jc-steps').innerText.includes("欢迎致电"))`)); err != nil {
					t.Errorf("settings → 跟进旅程: %v", err)
				}
			})
		}
	}
}

// adminSignIn signs the admin in through the sign-in page's token form.
func (e *consoleEnv) adminSignIn(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/console/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), e.r.app.cfg.APIToken),
		chromedp.Click(chromedp.CSS(`.token-form button[type="submit"]`)),
		waitJS("the workbench after the token sign-in", `location.pathname === "/console/" && !!document.querySelector('#app .page')`),
		settled); err != nil {
		t.Fatalf("admin sign-in: %v", err)
	}
}

// js evaluates an expression (awaiting a promise) in the page.
func js[T any](ctx context.Context, t testing.TB, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

type apiCustomer struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Stage   string `json:"stage"`
	Follows []struct {
		StaffID string `json:"staff_id"`
		Deleted bool   `json:"deleted"`
	} `json:"follows"`
}

// allCustomers pages through every customer with the admin token.
func (e *consoleEnv) allCustomers(t *testing.T) []apiCustomer {
	var out []apiCustomer
	cursor := ""
	for {
		var page struct {
			Items      []apiCustomer `json:"items"`
			NextCursor string        `json:"next_cursor"`
		}
		e.apiJSON(t, "GET", "/api/v1/customers?limit=200&cursor="+url.QueryEscape(cursor), "", &page)
		out = append(out, page.Items...)
		if cursor = page.NextCursor; cursor == "" {
			return out
		}
	}
}

// followedBy lists the IDs of customers any of staff follows (an active follow).
func followedBy(all []apiCustomer, staff ...string) map[string]bool {
	ids := map[string]bool{}
	for _, c := range all {
		for _, f := range c.Follows {
			if !f.Deleted && slices.Contains(staff, f.StaffID) {
				ids[c.ID] = true
			}
		}
	}
	return ids
}

// listedCustomers loads every page of the customer list in the browser and
// returns the IDs it shows.
func listedCustomers(t *testing.T, ctx context.Context) map[string]bool {
	t.Helper()
	for range 50 {
		more := js[bool](ctx, t, `(() => { const b = [...document.querySelectorAll('.customers .more button')].find(b => b.innerText.includes('加载更多')); if (b) b.click(); return !!b })()`)
		if !more {
			break
		}
		if err := chromedp.Do(ctx, chromedp.Sleep(200*time.Millisecond), settled); err != nil {
			t.Fatal(err)
		}
	}
	hrefs := js[[]string](ctx, t, `[...document.querySelectorAll('a.cust-link')].map(a => a.getAttribute('href'))`)
	ids := map[string]bool{}
	for _, h := range hrefs {
		ids[strings.TrimPrefix(h, "/console/customers/")] = true
	}
	return ids
}

func sameSet(t *testing.T, who string, got, want map[string]bool) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the demo gives no customers to compare with", who)
	}
	for id := range got {
		if !want[id] {
			t.Errorf("%s's list shows customer %s, who is not theirs to see", who, id)
		}
	}
	for id := range want {
		if !got[id] {
			t.Errorf("%s's list misses customer %s", who, id)
		}
	}
}

type timelineEntry struct {
	ID      int64             `json:"id"`
	Kind    string            `json:"kind"`
	StaffID string            `json:"staff_id"`
	Text    string            `json:"text"`
	Attrs   map[string]string `json:"attrs"`
}

type auditEntry struct {
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target"`
	Detail string `json:"detail"`
}

// changes returns a customer's newest note, stage and reminder entries and
// the audit entries of those actions, as the admin API reads them.
func (e *consoleEnv) changes(t *testing.T, id string) (map[string]timelineEntry, []auditEntry) {
	t.Helper()
	var tl struct {
		Items []timelineEntry `json:"items"`
	}
	e.apiJSON(t, "GET", "/api/v1/customers/"+id+"/timeline?limit=50", "", &tl)
	entries := map[string]timelineEntry{}
	for _, en := range tl.Items { // newest first
		if _, seen := entries[en.Kind]; !seen && en.StaffID != "" {
			entries[en.Kind] = en
		}
	}
	var au struct {
		Items []auditEntry `json:"items"`
	}
	e.apiJSON(t, "GET", "/api/v1/audit?limit=50&target="+id, "", &au)
	var acts []auditEntry
	for _, a := range au.Items {
		if a.Action == bot.AuditNote || a.Action == bot.AuditStage || a.Action == bot.AuditReminder {
			acts = append(acts, a)
		}
	}
	return entries, acts
}

// staffCall calls the API with a staff member's bearer token.
func (e *consoleEnv) staffCall(t *testing.T, staffID, method, path, body string) int {
	t.Helper()
	tok, err := handlers.MintStaffToken(e.r.app.cfg.APIToken, staffID, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestConsoleInBrowser drives the console in headless Chromium against the
// demo's real server and store: sign-in by login link, visibility by role,
// writes that land on the timeline and in the audit as the API's do, CSRF,
// session expiry, and the first screen's time and transfer size.
func TestConsoleInBrowser(t *testing.T) {
	e := newConsoleEnv(t)
	all := e.allCustomers(t)

	t.Run("login link with next lands on the salesperson's own customers", func(t *testing.T) {
		ctx := e.tab(t, 1280)
		e.signIn(t, ctx, "wangfang", "/console/customers")
		if loc := js[string](ctx, t, `location.pathname`); loc != "/console/customers" {
			t.Fatalf("landed on %s, want /console/customers", loc)
		}
		if err := chromedp.Do(ctx, waitJS("the list", `document.querySelectorAll('a.cust-link').length > 0`)); err != nil {
			t.Fatal(err)
		}
		sameSet(t, "wangfang", listedCustomers(t, ctx), followedBy(all, "wangfang"))
	})

	t.Run("a manager's list is their team's", func(t *testing.T) {
		// Narrow 李明's team so that one salesperson is outside it.
		if code := e.apiJSON(t, "PUT", "/api/v1/staff/limin", `{"team":["limin","wangfang","zhangwei"]}`, nil); code != 200 {
			t.Fatalf("PUT /staff/limin = %d", code)
		}
		t.Cleanup(func() { e.apiJSON(t, "PUT", "/api/v1/staff/limin", `{"team":["wangfang","zhangwei","chenjing"]}`, nil) })
		want := followedBy(all, "limin", "wangfang", "zhangwei")
		if len(followedBy(all, "chenjing")) == 0 || len(want) == len(all) {
			t.Fatalf("the demo has no customer outside the narrowed team to prove anything with")
		}
		ctx := e.tab(t, 1280)
		e.signIn(t, ctx, "limin", "/console/customers")
		if err := chromedp.Do(ctx, waitJS("the list", `document.querySelectorAll('a.cust-link').length > 0`)); err != nil {
			t.Fatal(err)
		}
		sameSet(t, "limin", listedCustomers(t, ctx), want)
	})

	t.Run("note, stage and reminder from the console land as from the API", func(t *testing.T) {
		// Two of wangfang's customers nobody has done anything to in scrm
		// yet (still 新线索: the demo's history gives the others stage
		// changes, notes and reminders), so their records compare alike.
		var mine []apiCustomer
		for _, c := range all {
			if followedBy([]apiCustomer{c}, "wangfang")[c.ID] && c.Stage == store.StageLead {
				mine = append(mine, c)
			}
		}
		if len(mine) < 2 {
			t.Fatalf("wangfang has %d customers still 新线索; need 2", len(mine))
		}
		viaConsole, viaAPI := mine[0], mine[1]
		note := fmt.Sprintf("控制台记录 %d", time.Now().UnixNano()%100000)
		remind := "回访报价 " + note

		ctx := e.tab(t, 1280)
		e.signIn(t, ctx, "wangfang", "/console/customers/"+viaConsole.ID)
		err := chromedp.Do(ctx,
			waitJS("the customer page", `!!document.querySelector('.customer .stage-select') && !!document.querySelector('.timeline-card')`),
			chromedp.SendKeys(chromedp.CSS(`textarea[name="note"]`), note),
			chromedp.Click(chromedp.CSS(`.add-note-btn`)),
			waitJS("the note on the page's timeline", fmt.Sprintf(`[...document.querySelectorAll('[data-kind="note"]')].some(e => e.innerText.includes(%q))`, note)),
			chromedp.Click(chromedp.CSS(`.stage-select`)),
			waitJS("the stage options", `[...document.querySelectorAll('.el-select-dropdown__item')].some(e => e.offsetParent && e.innerText.trim() === '跟进中')`),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[bool](`[...document.querySelectorAll('.el-select-dropdown__item')].find(e => e.offsetParent && e.innerText.trim() === '跟进中').click() || true`)(ctx, tg)
				return err
			}),
			waitJS("the stage change on the page's timeline", `[...document.querySelectorAll('[data-kind="stage"]')].some(e => e.innerText.includes('→ 跟进中'))`),
			chromedp.SendKeys(chromedp.CSS(`input[name="reminder_text"]`), remind),
			chromedp.Click(chromedp.CSS(`.due-tomorrow`)),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[bool](`[...document.querySelectorAll('.add-reminder button')].find(b => b.innerText.includes('添加提醒')).click() || true`)(ctx, tg)
				return err
			}),
			waitJS("the reminder on the page", fmt.Sprintf(`[...document.querySelectorAll('.reminder-row')].some(e => e.innerText.includes(%q))`, remind)),
		)
		if err != nil {
			e.shot(t, ctx, "console-writes-failed.png")
			t.Fatal(err)
		}
		// The same three changes through the API, as wangfang.
		// The console's 明早 9 点: 09:00 Beijing time tomorrow.
		cst := time.FixedZone("CST", 8*3600)
		tomorrow := time.Now().In(cst).Add(24 * time.Hour)
		due := time.Date(tomorrow.Year(), tomorrow.Month(), tomorrow.Day(), 9, 0, 0, 0, cst).UTC().Format(time.RFC3339)
		for _, call := range []struct{ method, path, body string }{
			{"POST", "/api/v1/customers/" + viaAPI.ID + "/notes", fmt.Sprintf(`{"text":%q}`, note)},
			{"PATCH", "/api/v1/customers/" + viaAPI.ID, `{"stage":"跟进中"}`},
			{"POST", "/api/v1/customers/" + viaAPI.ID + "/reminders", fmt.Sprintf(`{"text":%q,"due_at":%q}`, remind, due)},
		} {
			if code := e.staffCall(t, "wangfang", call.method, call.path, call.body); code >= 300 {
				t.Fatalf("%s %s = %d", call.method, call.path, code)
			}
		}
		cEntries, cAudit := e.changes(t, viaConsole.ID)
		aEntries, aAudit := e.changes(t, viaAPI.ID)
		for _, kind := range []string{store.EntryNote, store.EntryStage, store.EntryReminder} {
			ce, ok := cEntries[kind]
			ae := aEntries[kind]
			if !ok {
				t.Errorf("no %s entry on the timeline after the console's change", kind)
				continue
			}
			if ce.Attrs["source"] != bot.SourceConsole || ae.Attrs["source"] != bot.SourceAPI {
				t.Errorf("%s sources: console %q, API %q", kind, ce.Attrs["source"], ae.Attrs["source"])
			}
			// The records' own IDs differ, as they would between two API calls.
			for _, k := range []string{"source", "reminder_id"} {
				delete(ce.Attrs, k)
				delete(ae.Attrs, k)
			}
			ce.ID, ae.ID = 0, 0
			if fmt.Sprint(ce.Attrs) != fmt.Sprint(ae.Attrs) || ce.Kind != ae.Kind || ce.StaffID != ae.StaffID || ce.Text != ae.Text {
				t.Errorf("%s entry differs:\n console %+v\n API     %+v", kind, ce, ae)
			}
		}
		actions := func(as []auditEntry) (out []string) {
			for _, a := range as {
				out = append(out, a.Actor+" "+a.Action)
			}
			return out
		}
		if got, want := actions(cAudit), actions(aAudit); !slices.Equal(got, want) || len(got) != 3 {
			t.Errorf("audit of the console's changes %v, of the API's %v", got, want)
		}
	})

	t.Run("a write without the CSRF token is refused", func(t *testing.T) {
		ctx := e.tab(t, 1280)
		target := ""
		for id := range followedBy(all, "zhangwei") {
			target = id
			break
		}
		e.signIn(t, ctx, "zhangwei", "/console/customers/"+target)
		post := func(header string) string {
			return fmt.Sprintf(`fetch('/api/v1/customers/%s/notes', {method: 'POST', credentials: 'same-origin', headers: {'Content-Type': 'application/json'%s}, body: JSON.stringify({text: 'csrf-probe'})}).then(async r => r.status + ' ' + await r.text())`, target, header)
		}
		refused := js[string](ctx, t, post(""))
		if !strings.HasPrefix(refused, "403 ") || !strings.Contains(refused, "CSRF") {
			t.Errorf("a session write without X-CSRF-Token answered %q, want 403", refused)
		}
		wrong := js[string](ctx, t, post(`, 'X-CSRF-Token': 'not-the-token'`))
		if !strings.HasPrefix(wrong, "403 ") {
			t.Errorf("a session write with a wrong X-CSRF-Token answered %q, want 403", wrong)
		}
		ok := js[string](ctx, t, `fetch('/api/v1/me').then(r => r.json()).then(me => `+strings.TrimSuffix(post(`, 'X-CSRF-Token': me.csrf_token`), "")+`)`)
		if !strings.HasPrefix(ok, "201 ") {
			t.Errorf("the same write with the session's token answered %q, want 201", ok)
		}
		var tl struct {
			Items []timelineEntry `json:"items"`
		}
		e.apiJSON(t, "GET", "/api/v1/customers/"+target+"/timeline?limit=20", "", &tl)
		n := 0
		for _, en := range tl.Items {
			if en.Text == "csrf-probe" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d probe notes stored, want exactly the one with the token", n)
		}
	})

	t.Run("first screen after sign-in", func(t *testing.T) {
		var times []time.Duration
		var apiTimes string
		for range 5 {
			ctx := e.tab(t, 1280)
			link := e.loginLink(t, "limin", "")
			start := time.Now()
			if err := chromedp.Do(ctx, chromedp.Navigate(link),
				waitJS("the workbench", `location.pathname === "/console/" && !!document.querySelector('.workbench') && !document.querySelector('.state-loading')`)); err != nil {
				t.Fatal(err)
			}
			times = append(times, time.Since(start))
			apiTimes = js[string](ctx, t, `performance.getEntriesByType('resource').filter(e => e.name.includes('/api/')).map(e => new URL(e.name).pathname + ' ' + e.duration.toFixed(0) + ' ms').join(', ')`)
		}
		t.Logf("the last load's API calls: %s", apiTimes)
		slices.Sort(times)
		t.Logf("first screen after sign-in (link → workbench rendered), 5 fresh browser contexts: median %s, max %s", times[2].Round(time.Millisecond), times[4].Round(time.Millisecond))
		// The 1.5 s budget is held by BenchmarkConsoleFirstScreen; a timed
		// assertion here would fail on a loaded machine, not on slow code.
		// What a fresh browser transferred for it, compressed as sent.
		ctx := e.tab(t, 1280)
		e.signIn(t, ctx, "limin", "")
		bytes := js[float64](ctx, t, `performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).filter(e => !e.name.includes('/api/')).reduce((s, e) => s + e.transferSize, 0)`)
		t.Logf("first load transferred %.0f bytes (HTML, scripts, styles; API answers excluded)", bytes)
		if bytes > 600<<10 {
			t.Errorf("first load transferred %.0f bytes, budget 600 KB", bytes)
		}
	})

	t.Run("an expired session goes back to sign-in", func(t *testing.T) {
		ctx := e.tab(t, 1280)
		e.signIn(t, ctx, "wangfang", "/console/customers")
		// Every session idles out: the sweeper removes those last seen
		// before the idle limit, here pretending it has passed.
		if _, err := e.r.app.store.DeleteExpiredSessions(context.Background(), time.Now().Add(time.Hour), time.Now()); err != nil {
			t.Fatal(err)
		}
		err := chromedp.Do(ctx,
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Evaluate[bool](`[...document.querySelectorAll('.aside .el-menu-item')].find(e => e.innerText.includes('提醒')).click() || true`)(ctx, tg)
				return err
			}),
			waitJS("the sign-in page", `location.pathname === "/console/login" && new URLSearchParams(location.search).get("next") === "/console/reminders" && document.body.innerText.includes("登录已过期")`))
		if err != nil {
			e.shot(t, ctx, "console-expired-failed.png")
			t.Fatal(err)
		}
	})
}

// firstScreen opens a fresh login link for staffID in a fresh browser
// context and waits until the workbench has rendered its content (or its
// error state): what a person waits for after tapping the link.
func (e *consoleEnv) firstScreen(t testing.TB, staffID string) time.Duration {
	ctx := e.tab(t, 1280)
	link := e.loginLink(t, staffID, "")
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(link),
		waitJS("the workbench", `location.pathname === "/console/" && !!document.querySelector('.workbench') && !document.querySelector('.state-loading')`)); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkConsoleFirstScreen measures the first screen after sign-in on
// loopback (issue 14: under 1.5 s): login link → session → console →
// /api/v1/me and /api/v1/workbench → rendered, in a fresh browser context
// each time, so nothing is cached.
func BenchmarkConsoleFirstScreen(b *testing.B) {
	e := newConsoleEnv(b)
	for b.Loop() {
		e.firstScreen(b, "limin")
	}
}
