package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scrmhq/scrm/demo"
	"github.com/scrmhq/scrm/store"
)

// chromiumPath is Debian's Chromium, which `make test` installs.
const chromiumPath = "/usr/bin/chromium"

// syncBuffer is a bytes.Buffer safe for the command's and the test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var bannerURL = regexp.MustCompile(`http://127\.0\.0\.1:\d+/demo`)
var bannerToken = regexp.MustCompile(`REST API 令牌：([0-9a-f]{32})`)

// TestDemoCommandServesWithinFiveSeconds runs `scrm demo` as a user does and
// measures the time from start to the page being served.
func TestDemoCommandServesWithinFiveSeconds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	root := newRootCmd()
	if c, _, err := root.Find([]string{"demo"}); err != nil || c == root {
		t.Fatal("the root command has no `demo` subcommand: add root.AddCommand(newDemoCmd()) in newRootCmd")
	}
	root.SetOut(out)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"demo", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "demo")})
	t.Setenv("SCRM_LOG_LEVEL", "error")

	start := time.Now()
	exited := make(chan error, 1)
	go func() { exited <- root.ExecuteContext(ctx) }()

	var page string
	for page == "" {
		select {
		case err := <-exited:
			t.Fatalf("scrm demo exited early: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no banner within 5 s:\n%s", out.String())
		}
		page = bannerURL.FindString(out.String())
	}
	var served time.Duration
	for {
		resp, err := http.Get(page)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b), "客户手机") {
				served = time.Since(start)
				break
			}
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("/demo not served within 5 s of start (last error %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("scrm demo served %s %s after start", page, served.Round(time.Millisecond))

	// The printed token opens the REST API.
	m := bannerToken.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("banner has no API token:\n%s", out.String())
	}
	base := strings.TrimSuffix(page, "/demo")
	for _, tc := range []struct {
		name, token string
		want        int
	}{{"printed token", m[1], http.StatusOK}, {"wrong token", strings.Repeat("0", 32), http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/stats", nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: /api/v1/stats answered %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}

	cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("scrm demo stopped with %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("scrm demo did not stop after the signal")
	}
}

func TestPrepareDemoDir(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		keep    bool
		wantErr bool
		kept    bool // a file from before survives
	}{
		{name: "missing directory is created", setup: func(*testing.T, string) {}},
		{name: "empty directory is used", setup: func(t *testing.T, dir string) { mkdir(t, dir) }},
		{name: "previous demo is wiped", setup: func(t *testing.T, dir string) { demoDir(t, dir) }},
		{name: "previous demo is kept with --keep", setup: func(t *testing.T, dir string) { demoDir(t, dir) }, keep: true, kept: true},
		{name: "foreign directory is refused", setup: func(t *testing.T, dir string) {
			mkdir(t, dir)
			write(t, filepath.Join(dir, "old.txt"))
		}, wantErr: true, kept: true},
		{name: "foreign directory is refused with --keep too", setup: func(t *testing.T, dir string) {
			mkdir(t, dir)
			write(t, filepath.Join(dir, "old.txt"))
		}, keep: true, wantErr: true, kept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			tt.setup(t, dir)
			err := prepareDemoDir(dir, tt.keep)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			_, statErr := os.Stat(filepath.Join(dir, "old.txt"))
			if tt.kept != (statErr == nil) {
				t.Fatalf("old file kept = %v, want %v", statErr == nil, tt.kept)
			}
			if !tt.wantErr {
				if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
					t.Fatalf("no marker: %v", err)
				}
			}
		})
	}
}

// TestDemoKeep restarts the demo on its data directory: with --keep the
// history is neither wiped nor played twice; without it the run starts fresh.
func TestDemoKeep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	run := func(keep bool) (events int64, seed string) {
		t.Helper()
		r, err := startDemo(context.Background(), demoOptions{Addr: "127.0.0.1:0", DataDir: dir, Keep: keep, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-r.Seeded:
		case <-time.After(20 * time.Second):
			t.Fatal("seeding did not finish")
		}
		waitProcessed(t, r.app.store)
		st, err := r.app.store.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		return st.Events, r.demo.State().Seed.State + "/" + r.demo.State().Seed.Message
	}
	first, _ := run(false)
	if first == 0 {
		t.Fatal("the first run stored no events")
	}
	kept, seed := run(true)
	if kept != first || seed != "ready/沿用已有数据" {
		t.Fatalf("--keep: %d events (first run %d), seed %q", kept, first, seed)
	}
	fresh, _ := run(false)
	if fresh != first {
		t.Fatalf("fresh run: %d events, want %d", fresh, first)
	}
}

// waitProcessed waits until the event log is fully processed twice in a row:
// processing some events (the 微信客服 callback) appends further events.
func waitProcessed(t *testing.T, st store.Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for quiet := 0; quiet < 2; {
		_, err := st.OldestUnprocessed(context.Background())
		switch {
		case errors.Is(err, store.ErrNotFound):
			quiet++
		case err != nil:
			t.Fatal(err)
		default:
			quiet = 0
		}
		if time.Now().After(deadline) {
			t.Fatal("the event log was not processed in time")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func demoDir(t *testing.T, dir string) {
	mkdir(t, dir)
	write(t, filepath.Join(dir, demoMarker))
	write(t, filepath.Join(dir, "old.txt"))
}

// TestDemoInBrowser drives the demo page in headless Chromium: a message
// typed as a customer must reach the salesperson's view and the customer's
// timeline through scrm's real callback path, and the bot must answer a
// salesperson. It saves a screenshot (also to $SCRM_SCREENSHOT_DIR).
func TestDemoInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing (%v): run `make test`, which installs Debian's chromium through scripts/test-deps.sh", chromiumPath, err)
	}
	start := time.Now()
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
	case <-time.After(20 * time.Second):
		t.Fatalf("sample history not played within 20 s: %+v", r.demo.State().Seed)
	}
	if s := r.demo.State().Seed; s.State != "ready" {
		t.Fatalf("seeding ended in %+v", s)
	}
	t.Logf("demo seeded %d callbacks in %s", r.demo.State().Seed.Total, time.Since(start).Round(time.Millisecond))
	// Once seeded, every staff member has this morning's digest: the
	// manager's names the team's work per salesperson.
	var digest string
	for _, m := range r.sim.SentTo("limin") {
		if strings.Contains(m.Content, "早上好") {
			digest = m.Content
		}
	}
	if digest == "" || !strings.Contains(digest, "团队") {
		t.Errorf("the manager has no morning digest naming the team after seeding: %q", digest)
	}

	// A campaign to 王芳's customers, made through the API as the console
	// makes it, awaits her 发送 in the simulated WeCom app on the page.
	cmp, _ := json.Marshal(map[string]any{"name": "双十二专享", "filter": map[string]string{"owner": "wangfang"}, "text": "双十二专享价，回复了解详情"})
	req, _ := http.NewRequest("POST", r.Base+"/api/v1/campaigns", bytes.NewReader(cmp))
	req.Header.Set("Authorization", "Bearer "+r.app.cfg.APIToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create a campaign: %v %v", resp, err)
	}
	waitFor(t, "王芳's mass message in WeCom", func() bool { return len(r.sim.GroupMsgs()) == 1 })

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
		chromedp.WindowSize(1600, 1300),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The first Run starts the browser; its context must not carry a timeout.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 25*time.Second)
	defer cancel()
	// Collect the page's uncaught exceptions: the flow must run without any.
	cctx, ccancel := context.WithCancel(bctx)
	messages := chromedp.Console(cctx)
	var exceptions []string
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() {
				exceptions = append(exceptions, m.String())
			}
		}
	}()

	// 赵磊 is 王芳's customer.
	msg := fmt.Sprintf("你好，75寸的能便宜点吗？编号%d", time.Now().UnixNano()%100000)
	wait := func(what, expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
			if err != nil {
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", what, err)
			}
			return chromedp.Void{}, nil
		}
	}
	contains := func(id, text string) string {
		return fmt.Sprintf(`(document.getElementById(%q)||{innerText:""}).innerText.includes(%q)`, id, text)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(r.URL+"?customer=zhaolei&staff=wangfang"),
		chromedp.WaitVisible(chromedp.ID("customer-input")),
		wait("the seeded timeline", `document.querySelectorAll('[data-testid="timeline-entry"]').length >= 3`),
		wait("the seeded history on the phone", contains("phone-msgs", "报价有点高")),
		wait("the live counters", `+document.getElementById("stat-events").innerText > 0`),
		chromedp.Click(chromedp.ID("channel-oa")),
		chromedp.SendKeys(chromedp.ID("customer-input"), msg),
		chromedp.Click(chromedp.ID("customer-send")),
		wait("the message delivered on the phone", contains("phone-msgs", msg)+` && `+contains("phone-msgs", "已送达 scrm")),
		wait("the message on the customer's timeline", contains("timeline", msg)),
		wait("the message in the salesperson's view", contains("staff-feed", msg)),
		chromedp.Click(chromedp.ID("staff-tab-wangfang")),
		chromedp.SendKeys(chromedp.ID("staff-input"), "帮助"),
		chromedp.Click(chromedp.ID("staff-send")),
		wait("the staff message in the WeCom chat", `[...document.querySelectorAll('[data-testid="bot-msg"][data-from="me"]')].some(e => e.innerText.includes("帮助"))`),
		wait("the bot's answer to 帮助", `[...document.querySelectorAll('[data-testid="bot-msg"][data-from="bot"]')].some(e => e.innerText.includes("指令"))`),
		wait("the mass message awaiting 发送", contains("groupmsgs", "双十二专享价")+` && !!document.querySelector('[data-testid="groupmsg-send"]')`),
		chromedp.Click(`[data-testid="groupmsg-send"]`),
		wait("the mass message sent", `!!document.querySelector('[data-testid="groupmsg-sent"]')`),
	)
	png, shotErr := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if shotErr == nil {
		saveScreenshot(t, png)
	} else {
		t.Errorf("screenshot: %v", shotErr)
	}
	ccancel()
	<-consoleDone
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if len(exceptions) > 0 {
		t.Errorf("the page threw: %v", exceptions)
	}
	if m := r.sim.GroupMsgs()[0]; !m.Sent || m.Creator != "wangfang" || len(m.Recipients) == 0 {
		t.Errorf("after 发送 on the page, WeCom holds %+v", m)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("browser test took %s, want under 30 s", d.Round(time.Millisecond))
	}
}

func saveScreenshot(t *testing.T, png []byte) { saveScreenshotAs(t, "scrm-demo.png", png) }

// saveScreenshotAs saves a screenshot as a test artifact: in the test's
// temporary directory and, when set, in $SCRM_SCREENSHOT_DIR.
func saveScreenshotAs(t *testing.T, name string, png []byte) {
	t.Helper()
	dirs := []string{t.TempDir()}
	if d := os.Getenv("SCRM_SCREENSHOT_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Errorf("screenshot dir: %v", err)
			continue
		}
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Errorf("save screenshot: %v", err)
			continue
		}
		t.Logf("screenshot: %s", p)
	}
}

// TestDemoChannels checks the demo's channels: the two seeded channels are
// contact ways in the simulated WeCom made through the core, the seeded
// history attributes customers to them, and the page's 扫码添加 adds a new
// customer through a channel with a signed callback, so the channel's
// welcome, nickname filled in, reaches the visitor's chat and the customer
// is attributed.
func TestDemoChannels(t *testing.T) {
	r, err := startDemo(context.Background(), demoOptions{Addr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "demo"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.stop() })
	select {
	case <-r.Seeded:
	case <-time.After(30 * time.Second):
		t.Fatal("seeding did not finish")
	}
	waitProcessed(t, r.app.store)
	ctx := context.Background()
	ways := r.sim.ContactWays()
	if len(ways) != 2 {
		t.Fatalf("%d contact ways in WeCom, want 2: %+v", len(ways), ways)
	}
	chs, err := r.app.store.FindChannels(ctx, store.ChannelFilter{})
	if err != nil || len(chs) != 2 {
		t.Fatalf("channels %v %v", chs, err)
	}
	byName := map[string]*store.Channel{}
	for _, ch := range chs {
		byName[ch.Name] = ch
		evs, err := r.app.store.FindChannelEvents(ctx, store.ChannelEventFilter{ChannelID: ch.ID, Kind: store.ChannelEventAdd})
		if err != nil || len(evs) < 3 {
			t.Errorf("channel %s: %d seeded adds (%v), want several", ch.Name, len(evs), err)
		}
	}
	expo := byName["展会海报"]
	if expo == nil || byName["官网客服"] == nil {
		t.Fatalf("channels %v", byName)
	}
	get := func(path string, out any) int {
		t.Helper()
		resp, err := http.Get(r.Base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	resp, err := http.Post(r.Base+"/demo/api/channels/"+expo.ID+"/scan", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var sc struct {
		ExternalUserID string `json:"external_userid"`
		Name           string `json:"name"`
		StaffName      string `json:"staff_name"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&sc)
	resp.Body.Close()
	if resp.StatusCode != 200 || sc.ExternalUserID == "" {
		t.Fatalf("scan: %d %+v", resp.StatusCode, sc)
	}
	var view struct {
		Channels []demo.ChannelView `json:"channels"`
		Scans    []struct {
			Name    string `json:"name"`
			Welcome string `json:"welcome"`
		} `json:"scans"`
	}
	waitFor(t, "the welcome on the page", func() bool {
		get("/demo/api/channels", &view)
		return len(view.Scans) == 1 && view.Scans[0].Welcome != ""
	})
	if w := view.Scans[0].Welcome; !strings.HasPrefix(w, sc.Name+"您好！我是蓝鲸智能办公的"+sc.StaffName) {
		t.Errorf("welcome %q for %+v", w, sc)
	}
	if len(view.Channels) != 2 || view.Channels[0].QRCode == "" {
		t.Errorf("channels on the page: %+v", view.Channels)
	}
	waitFor(t, "the attribution", func() bool {
		cu, err := r.app.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: sc.ExternalUserID})
		if err != nil {
			return false
		}
		evs, _ := r.app.store.FindChannelEvents(ctx, store.ChannelEventFilter{CustomerID: cu.ID, ChannelID: expo.ID})
		return len(evs) == 1 && slices.Contains(cu.Tags, "展会")
	})
	if n := len(r.sim.Welcomes()); n != 1 {
		t.Errorf("%d welcomes, want 1 (the seeded history's codes are long spent)", n)
	}
	if resp, err := http.Post(r.Base+"/demo/api/channels/nope/scan", "application/json", nil); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown channel: %v %v", resp.StatusCode, err)
	}
}
