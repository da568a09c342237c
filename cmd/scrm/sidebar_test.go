package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/demo"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// The chat sidebar (/sidebar/) in headless Chromium at a phone's size, as
// WeCom opens it beside a chat: the demo's real server and store, the
// simulator's sign-in pages and its stand-in for WeCom's JS-SDK, which
// verifies the page's signatures against the tickets it issued.

// wxworkUA is the WeCom client's User-Agent on a phone: the server signs
// such a visitor in with OAuth2 rather than the QR-code login.
const wxworkUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 wxwork/4.1.20 MicroMessenger/7.0.1 Language/zh"

// wecomPhone is the WeCom client on a 390×844 phone.
type wecomPhone struct{}

func (wecomPhone) Device() device.Info {
	return device.Info{Name: "WeCom phone", UserAgent: wxworkUA, Width: 390, Height: 844, Scale: 2, Mobile: true, Touch: true}
}

// phoneTab opens a fresh browser context (no cookies, no cache) as the
// WeCom client on a phone.
func (e *consoleEnv) phoneTab(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(e.bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Emulate(wecomPhone{})); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// sidebarURL is the page as WeCom opens it in staffID's chat with the
// customer (or group): the configured URL, plus the simulator's token for
// the chat.
func (e *consoleEnv) sidebarURL(c wecomtest.ChatTools) string {
	return e.base + "/sidebar/?wwsim=" + url.QueryEscape(e.r.sim.OpenChatTools(c))
}

// cardShown waits for the customer card with the customer's name.
func cardShown(name string) chromedp.Action[chromedp.Void] {
	return waitJS("the customer card of "+name, fmt.Sprintf(`document.querySelector('.customer-card .name')?.textContent === %q`, name))
}

// sidebarCustomer is a demo customer, as the sidebar knows them.
type sidebarCustomer struct {
	Person *demo.Person
	ID     string
}

// demoCustomer finds a seeded customer whom owner follows on WeCom (not
// skip) and nobody has done anything to in scrm yet — still 新线索, as the
// demo's history gives the others stage changes, notes and reminders, which
// would make two customers' records differ before a test starts — with
// their scrm ID.
func (e *consoleEnv) demoCustomer(t testing.TB, owner string, skip ...string) sidebarCustomer {
	t.Helper()
	for i := range demo.People {
		p := &demo.People[i]
		if p.Owner != owner || p.ExternalUserID == "" || p.Stage != store.StageLead || slices.Contains(skip, p.Key) {
			continue
		}
		var card struct {
			Customer struct {
				ID string `json:"id"`
			} `json:"customer"`
		}
		if code := e.apiJSON(t, "GET", "/api/v1/sidebar/context?external_userid="+url.QueryEscape(p.ExternalUserID), "", &card); code != 200 {
			continue
		}
		return sidebarCustomer{Person: p, ID: card.Customer.ID}
	}
	t.Fatalf("no WeCom customer of %s in the demo", owner)
	return sidebarCustomer{}
}

// chatMessages waits up to 30 s for a message with text in the simulated
// chats and returns it.
func (e *consoleEnv) chatMessage(t *testing.T, text string) wecomtest.ChatToolMessage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range e.r.sim.ChatToolMessages() {
			if m.Text == text {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never arrived in the simulated chat; sent: %+v", text, e.r.sim.ChatToolMessages())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSidebarInBrowser: opened in a salesperson's chat with their customer,
// the sidebar signs them in through WeCom's OAuth2, registers with the
// JS-SDK (signatures the simulator verifies) and shows the customer's card;
// a suggested reply and a quick reply tapped arrive in the simulated chat;
// a note, a reminder and a stage set in the sidebar land on the timeline
// and in the audit exactly as the API's do, marked as the sidebar's; a
// salesperson who does not follow the customer sees nothing of theirs.
func TestSidebarInBrowser(t *testing.T) {
	e := newConsoleEnv(t)
	const sales, other = "wangfang", "zhangwei"
	cu := e.demoCustomer(t, sales)
	viaAPI := e.demoCustomer(t, sales, cu.Person.Key)
	// Something only the customer's followers may read.
	secret := "侧边栏测试：客户预算约 38 万，下周三前要报价"
	if code := e.staffCall(t, sales, "POST", "/api/v1/customers/"+cu.ID+"/notes", fmt.Sprintf(`{"text":%q}`, secret)); code != 201 && code != 200 {
		t.Fatalf("note by API: %d", code)
	}
	chat := wecomtest.ChatTools{UserID: sales, Entry: wecomtest.EntrySingleChat, ExternalUserID: cu.Person.ExternalUserID}
	ctx := e.phoneTab(t)

	t.Run("card after WeCom sign-in", func(t *testing.T) {
		e.r.sim.SignInAs(sales)
		defer e.r.sim.SignInAs("")
		authorize := e.r.sim.Calls("connect/oauth2/authorize")
		u := e.sidebarURL(chat)
		if err := chromedp.Do(ctx, chromedp.Navigate(u), cardShown(cu.Person.Name),
			waitJS("the notes", fmt.Sprintf(`document.querySelector('.notes')?.innerText.includes(%q)`, secret))); err != nil {
			e.shot(t, ctx, "sidebar-card-failed.png")
			t.Fatal(err)
		}
		e.shot(t, ctx, "sidebar-card.png")
		if got := e.r.sim.Calls("connect/oauth2/authorize"); got != authorize+1 {
			t.Errorf("the sidebar went through WeCom's OAuth2 page %d times, want once", got-authorize)
		}
		// WeCom's redirect leaves #wechat_redirect; the page is signed
		// without its fragment.
		if here := js[string](ctx, t, `location.href.split('#')[0]`); here != u {
			t.Errorf("after sign-in the page is %s, want %s", here, u)
		}
		if ok, fail := e.r.sim.JSSDKRegistrations(); ok != 1 || fail != 0 {
			t.Errorf("ww.register accepted %d, refused %d; want 1, 0", ok, fail)
		}
		var me struct {
			StaffID string `json:"staff_id"`
		}
		e.pageJSON(t, ctx, "/api/v1/me", &me)
		if me.StaffID != sales {
			t.Errorf("signed in as %q, want %s", me.StaffID, sales)
		}
	})

	t.Run("suggested reply into the chat", func(t *testing.T) {
		if err := chromedp.Do(ctx, waitJS("suggested replies", `document.querySelectorAll('.suggestion').length > 0`)); err != nil {
			e.shot(t, ctx, "sidebar-replies-failed.png")
			t.Fatal(err)
		}
		text := js[string](ctx, t, `document.querySelector('.suggestion').firstChild.textContent.trim()`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.suggestion`)),
			waitJS("the toast", `document.querySelector('.toast')?.textContent === '已填入聊天输入框'`)); err != nil {
			t.Fatal(err)
		}
		m := e.chatMessage(t, text)
		if m.UserID != sales || m.ExternalUserID != cu.Person.ExternalUserID || m.MsgType != "text" {
			t.Errorf("the reply went to %+v, want %s's chat with %s", m.ChatTools, sales, cu.Person.ExternalUserID)
		}
		e.shot(t, ctx, "sidebar-reply-sent.png")
	})

	t.Run("quick reply into the chat", func(t *testing.T) {
		var qr struct {
			ID string `json:"id"`
		}
		if code := e.apiJSON(t, "POST", "/api/v1/quick-replies", `{"group":"开场白","title":"问候","text":"#客户昵称#您好，我是#员工姓名#，有任何问题随时找我。"}`, &qr); code != 201 && code != 200 {
			t.Fatalf("create quick reply: %d", code)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.tab-quick`)),
			waitJS("the quick replies", `document.querySelectorAll('.quick-reply').length > 0`)); err != nil {
			t.Fatal(err)
		}
		e.shot(t, ctx, "sidebar-quick-replies.png")
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.quick-reply`))); err != nil {
			t.Fatal(err)
		}
		m := e.chatMessage(t, cu.Person.Name+"您好，我是王芳，有任何问题随时找我。")
		if m.ExternalUserID != cu.Person.ExternalUserID {
			t.Errorf("quick reply went to %+v", m.ChatTools)
		}
		var list struct {
			Items []struct {
				ID   string `json:"id"`
				Uses int64  `json:"uses"`
			} `json:"items"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			e.apiJSON(t, "GET", "/api/v1/quick-replies", "", &list)
			i := slices.IndexFunc(list.Items, func(it struct {
				ID   string `json:"id"`
				Uses int64  `json:"uses"`
			}) bool {
				return it.ID == qr.ID
			})
			if i >= 0 && list.Items[i].Uses == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the quick reply's use was not counted: %+v", list.Items)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.tabs button:first-child`))); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("changes as the API's", func(t *testing.T) {
		note := "侧边栏里记的：客户想先看案例"
		stage := "已成交"
		// Both customers start from the same stage (the demo's cadences
		// move stages), so the two stage changes read alike.
		for _, id := range []string{cu.ID, viaAPI.ID} {
			if code := e.apiJSON(t, "PATCH", "/api/v1/customers/"+id, `{"stage":"跟进中"}`, nil); code != 200 {
				t.Fatalf("set the starting stage: %d", code)
			}
		}
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`.act-note`)),
			chromedp.SendKeys(chromedp.CSS(`.note-form textarea`), note),
			chromedp.Click(chromedp.CSS(`.save-note`)),
			waitJS("the note in the list", fmt.Sprintf(`document.querySelector('.notes')?.innerText.includes(%q)`, note)),
			chromedp.Click(chromedp.CSS(`.act-reminder`)),
			chromedp.Click(chromedp.CSS(`.reminder-form .preset:nth-child(2)`)),
			waitJS("the reminder in the list", fmt.Sprintf(`document.querySelector('.reminders')?.innerText.includes(%q)`, "跟进"+cu.Person.Name)),
		); err != nil {
			e.shot(t, ctx, "sidebar-changes-failed.png")
			t.Fatal(err)
		}
		js[bool](ctx, t, fmt.Sprintf(`[...document.querySelectorAll('.stages .chip')].find(b => b.textContent === %q).click(), true`, stage))
		if err := chromedp.Do(ctx,
			waitJS("the stage", fmt.Sprintf(`document.querySelector('.stages .chip.on')?.textContent === %q`, stage))); err != nil {
			t.Fatal(err)
		}
		e.shot(t, ctx, "sidebar-after-changes.png")
		// The same three changes through the API, as the same salesperson.
		var due struct {
			Reminders []struct {
				DueAt time.Time `json:"due_at"`
				Text  string    `json:"text"`
			} `json:"reminders"`
		}
		e.apiJSON(t, "GET", "/api/v1/customers/"+cu.ID, "", &due)
		var dueAt time.Time
		for _, r := range due.Reminders {
			if r.Text == "跟进"+cu.Person.Name {
				dueAt = r.DueAt
			}
		}
		if dueAt.IsZero() {
			t.Fatalf("the sidebar's reminder is not among %+v", due.Reminders)
		}
		for _, call := range []struct{ path, body, method string }{
			{"/api/v1/customers/" + viaAPI.ID + "/notes", fmt.Sprintf(`{"text":%q}`, note), "POST"},
			{"/api/v1/customers/" + viaAPI.ID + "/reminders", fmt.Sprintf(`{"text":%q,"due_at":%q}`, "跟进"+cu.Person.Name, dueAt.Format(time.RFC3339)), "POST"},
			{"/api/v1/customers/" + viaAPI.ID, fmt.Sprintf(`{"stage":%q}`, stage), "PATCH"},
		} {
			if code := e.staffCall(t, sales, call.method, call.path, call.body); code >= 300 {
				t.Fatalf("%s %s: %d", call.method, call.path, code)
			}
		}
		sEntries, sAudit := e.changes(t, cu.ID)
		aEntries, aAudit := e.changes(t, viaAPI.ID)
		for _, kind := range []string{"note", "stage", "reminder"} {
			se, ae := sEntries[kind], aEntries[kind]
			if se.Kind == "" || ae.Kind == "" {
				t.Errorf("%s entry: sidebar %+v, API %+v", kind, se, ae)
				continue
			}
			if se.Attrs["source"] != bot.SourceSidebar || ae.Attrs["source"] != bot.SourceAPI {
				t.Errorf("%s sources: sidebar %q, API %q", kind, se.Attrs["source"], ae.Attrs["source"])
			}
			for _, k := range []string{"source", "reminder_id", "from"} {
				delete(se.Attrs, k)
				delete(ae.Attrs, k)
			}
			if fmt.Sprint(se.Attrs) != fmt.Sprint(ae.Attrs) || se.StaffID != ae.StaffID || se.Text != ae.Text {
				t.Errorf("%s: sidebar %+v, API %+v", kind, se, ae)
			}
		}
		norm := func(list []auditEntry, id string) []string {
			var out []string
			for _, a := range list {
				d := strings.Replace(strings.Replace(a.Detail, "source="+bot.SourceSidebar, "source=*", 1), "source="+bot.SourceAPI, "source=*", 1)
				d = auditKey.ReplaceAllString(d, "key=*") // each request's own idempotency key
				out = append(out, a.Actor+" "+a.Action+" "+strings.ReplaceAll(d, id, "ID"))
			}
			slices.Sort(out)
			return out
		}
		// The sidebar's customer also has the test's setup note by API.
		got, want := norm(sAudit, cu.ID), norm(aAudit, viaAPI.ID)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("audit of the API's change %q has no like from the sidebar in %q", w, got)
			}
		}
		if !slices.ContainsFunc(sAudit, func(a auditEntry) bool {
			return a.Action == bot.AuditNote && strings.HasPrefix(a.Detail, "source="+bot.SourceSidebar) && a.Actor == sales
		}) {
			t.Errorf("no note from the sidebar by %s in the audit: %+v", sales, sAudit)
		}
	})

	t.Run("a salesperson who does not follow the customer", func(t *testing.T) {
		var detail apiCustomer
		e.apiJSON(t, "GET", "/api/v1/customers/"+cu.ID, "", &detail)
		if followedBy([]apiCustomer{detail}, other)[cu.ID] {
			t.Fatalf("%s follows %s in the demo; pick another", other, cu.Person.Name)
		}
		e.r.sim.SignInAs(other)
		defer e.r.sim.SignInAs("")
		octx := e.phoneTab(t)
		if err := chromedp.Do(octx, chromedp.Navigate(e.sidebarURL(wecomtest.ChatTools{UserID: other, Entry: wecomtest.EntrySingleChat, ExternalUserID: cu.Person.ExternalUserID})),
			waitJS("the refusal", `document.querySelector('.state-error')?.innerText.includes('无法查看该客户')`)); err != nil {
			e.shot(t, octx, "sidebar-not-follower-failed.png")
			t.Fatal(err)
		}
		e.shot(t, octx, "sidebar-not-follower.png")
		text := js[string](octx, t, `document.body.innerText`)
		if !strings.Contains(text, "你不是该客户的跟进人") {
			t.Errorf("the refusal does not say why: %q", text)
		}
		for _, private := range []string{cu.Person.Name, secret, "跟进" + cu.Person.Name} {
			if strings.Contains(text, private) {
				t.Errorf("%s sees %q of a customer they do not follow", other, private)
			}
		}
		// Nor can the page's own calls read it.
		code := js[float64](octx, t, `fetch('/api/v1/customers/`+cu.ID+`/timeline').then(r => r.status)`)
		if code != 404 {
			t.Errorf("%s reads the timeline: %v", other, code)
		}
	})

	t.Run("group chat", func(t *testing.T) {
		// A customer group of the salesperson's with the customer in it,
		// as the group sync stores one.
		gs, ok := e.r.app.store.(store.GroupStore)
		if !ok {
			t.Fatalf("the demo's store %T keeps no groups", e.r.app.store)
		}
		now := time.Now().UTC()
		g := &store.Group{ChatID: "wrSidebarTest", Name: "刘洋的采购群", OwnerID: sales, CreatedAt: now, UpdatedAt: now,
			Members: []store.GroupMember{{UserID: sales, Type: store.GroupMemberStaff, JoinedAt: now},
				{UserID: cu.Person.ExternalUserID, Type: store.GroupMemberExternal, JoinedAt: now}}}
		g.Name = cu.Person.Name + "的采购群"
		if _, err := gs.UpsertGroup(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		e.r.sim.SignInAs(sales)
		defer e.r.sim.SignInAs("")
		gctx := e.phoneTab(t)
		if err := chromedp.Do(gctx, chromedp.Navigate(e.sidebarURL(wecomtest.ChatTools{UserID: sales, Entry: wecomtest.EntryGroupChat, ChatID: g.ChatID})),
			waitJS("the group card", fmt.Sprintf(`document.querySelector('.group-card .name')?.textContent === %q && document.querySelector('.group-customers')?.innerText.includes(%q)`, g.Name, cu.Person.Name))); err != nil {
			e.shot(t, gctx, "sidebar-group-failed.png")
			t.Fatal(err)
		}
		e.shot(t, gctx, "sidebar-group.png")
	})

	// Last: the tickets it drops stay dropped for the rest of the test.
	t.Run("tickets WeCom dropped", func(t *testing.T) {
		// WeCom may drop tickets before their time: the signature scrm
		// made no longer verifies. The page asks once for a signature
		// from fresh tickets (refresh=1); scrm fetches none within a
		// minute of the last fetch, so WeCom refuses that one too, and
		// the page says what is wrong instead of showing a blank card.
		e.r.sim.ExpireTickets()
		okBefore, failBefore := e.r.sim.JSSDKRegistrations()
		rctx := e.phoneTab(t)
		e.r.sim.SignInAs(sales)
		defer e.r.sim.SignInAs("")
		if err := chromedp.Do(rctx, chromedp.Navigate(e.sidebarURL(chat)),
			waitJS("the refusal", `document.querySelector('.state-error')?.innerText.includes('企业微信未授权此页面')`)); err != nil {
			e.shot(t, rctx, "sidebar-dropped-tickets-failed.png")
			t.Fatal(err)
		}
		e.shot(t, rctx, "sidebar-dropped-tickets.png")
		ok, fail := e.r.sim.JSSDKRegistrations()
		if ok != okBefore || fail-failBefore != 2 {
			t.Errorf("registrations with dropped tickets: %d refused, %d accepted; want 2 (the page's and its one retry) and 0", fail-failBefore, ok-okBefore)
		}
		if strings.Contains(js[string](rctx, t, `document.body.innerText`), cu.Person.Name) {
			t.Error("the card shows without a verified JS-SDK registration")
		}
	})
}

var auditKey = regexp.MustCompile(`key=\S+`)

// pageJSON fetches path from inside the page (its cookies) and decodes it.
func (e *consoleEnv) pageJSON(t *testing.T, ctx context.Context, path string, out any) {
	t.Helper()
	raw := js[string](ctx, t, `fetch(`+fmt.Sprintf("%q", path)+`).then(r => r.text())`)
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		t.Fatalf("%s: %v: %s", path, err, raw)
	}
}

// sessionCookie signs staffID in through the core, as WeCom's sign-in
// does, and returns the session cookie, for a browser context that must
// start signed in.
func (e *consoleEnv) sessionCookie(t testing.TB, staffID string) *http.Cookie {
	t.Helper()
	g, err := bot.NewCore(e.r.app.store, time.Now).SignIn(context.Background(), staffID, "oauth")
	if err != nil {
		t.Fatalf("sign %s in: %v", staffID, err)
	}
	return &http.Cookie{Name: "scrm_session", Value: g.Token}
}

// setCookie puts a cookie for the server into a browser context.
func (e *consoleEnv) setCookie(c *http.Cookie) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, URL: e.base + "/", HTTPOnly: new(true)})
		return err
	})
}

// BenchmarkSidebarCardAt100k measures what a salesperson waits for when
// the sidebar opens beside a chat: from navigating to /sidebar/ (signed in,
// nothing cached: a fresh browser context each time) through the page's
// scripts, its signature, ww.register and the client calls (the
// simulator's), to the customer's card on screen — on loopback, with the
// demo's store grown by 100,000 customers. Issue 15's target: under 500 ms.
//
//	go test -run '^$' -bench SidebarCardAt100k -benchtime 20x ./cmd/scrm
func BenchmarkSidebarCardAt100k(b *testing.B) {
	e := newConsoleEnv(b)
	batcher, ok := e.r.app.store.(interface {
		UpsertCustomerBatch(context.Context, []store.CustomerUpsert, []store.CustomerUpdate) ([]string, error)
	})
	if !ok {
		b.Fatalf("the demo's store %T has no batch upsert", e.r.app.store)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	const extra = 100_000
	for lo := 0; lo < extra; lo += 1000 {
		var ups []store.CustomerUpsert
		var upds []store.CustomerUpdate
		for i := lo; i < lo+1000; i++ {
			at := now.Add(-time.Duration(i%90*24) * time.Hour)
			ups = append(ups, store.CustomerUpsert{
				Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: fmt.Sprintf("wmbench%06d", i)},
				Follow:   &store.Follow{StaffID: demo.StaffList[i%len(demo.StaffList)].UserID, AddedAt: at}, CustomerAt: at, Now: at,
			})
			name := fmt.Sprintf("客户%06d", i)
			upds = append(upds, store.CustomerUpdate{Name: &name, AddTags: []string{"重点客户"}, Now: at})
		}
		if _, err := batcher.UpsertCustomerBatch(ctx, ups, upds); err != nil {
			b.Fatal(err)
		}
	}
	const sales = "wangfang"
	cu := e.demoCustomer(b, sales)
	cookie := e.sessionCookie(b, sales)
	chat := wecomtest.ChatTools{UserID: sales, Entry: wecomtest.EntrySingleChat, ExternalUserID: cu.Person.ExternalUserID}
	var wall, page []time.Duration
	for b.Loop() {
		b.StopTimer()
		tab := e.phoneTab(b)
		if err := chromedp.Do(tab, e.setCookie(cookie)); err != nil {
			b.Fatal(err)
		}
		u := e.sidebarURL(chat)
		b.StartTimer()
		start := time.Now()
		if err := chromedp.Do(tab, chromedp.Navigate(u), cardShown(cu.Person.Name)); err != nil {
			b.Fatal(err)
		}
		wall = append(wall, time.Since(start))
		b.StopTimer()
		// The page's own measure: navigation start to the card's mark.
		ms := js[float64](tab, b, `performance.getEntriesByName('scrm-card')[0]?.startTime ?? -1`)
		page = append(page, time.Duration(ms*float64(time.Millisecond)))
		if len(page) == 1 {
			b.Logf("first open: %s", js[string](tab, b, `performance.getEntriesByType('resource').map(e => new URL(e.name).pathname + ' ' + e.startTime.toFixed(0) + '+' + e.duration.toFixed(0)).join(', ')`))
		}
		b.StartTimer()
	}
	pct := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(float64(len(s))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(wall, 0.5), "ms-p50")
	b.ReportMetric(pct(wall, 0.95), "ms-p95")
	b.ReportMetric(pct(page, 0.5), "page-ms-p50")
	b.ReportMetric(pct(page, 0.95), "page-ms-p95")
	b.Logf("%d opens: wall p50 %.0f ms p95 %.0f ms; page mark p50 %.0f ms p95 %.0f ms", len(wall), pct(wall, 0.5), pct(wall, 0.95), pct(page, 0.5), pct(page, 0.95))
	// The median is held to the target: the tail on a shared machine is
	// other processes' (the log above has both).
	if p50 := pct(wall, 0.5); p50 >= 500 {
		b.Errorf("sidebar to card median %.0f ms, want < 500 ms", p50)
	}
}

// TestDemoShowsSidebar: the demo page shows the chat sidebar beside the
// simulated chat, signed in as the customer's owner, with that customer's
// card, and follows the customer picked.
func TestDemoShowsSidebar(t *testing.T) {
	e := newConsoleEnv(t)
	ctx := e.tab(t, 1720)
	frameCard := `document.getElementById('sidebar-frame')?.contentDocument?.querySelector('.customer-card .name')?.textContent`
	if err := chromedp.Do(ctx, chromedp.Navigate(e.r.URL), waitJS("a customer picked", `!!document.getElementById('customer-select')?.value`)); err != nil {
		t.Fatal(err)
	}
	var picked []*demo.Person
	for i := range demo.People {
		if p := &demo.People[i]; p.ExternalUserID != "" && len(picked) < 2 {
			picked = append(picked, p)
		}
	}
	for _, p := range picked {
		js[bool](ctx, t, fmt.Sprintf(`(() => { const s = document.getElementById('customer-select'); s.value = %q; s.dispatchEvent(new Event('change')); return true })()`, p.Key))
		if err := chromedp.Do(ctx, waitJS("the sidebar card of "+p.Name, fmt.Sprintf(`%s === %q`, frameCard, p.Name))); err != nil {
			e.shot(t, ctx, "demo-sidebar-failed.png")
			t.Fatal(err)
		}
	}
	e.shot(t, ctx, "demo-sidebar.png")
}
