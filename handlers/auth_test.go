package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/mongo"
	"github.com/scrmhq/scrm/store/mongo/mongotest"
	"github.com/scrmhq/scrm/store/sqlite"
)

// authClock is a settable clock shared by the server and the core.
type authClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *authClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *authClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var authT0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// seedAuth writes a small company: a manager over two salespeople, an
// inactive member, and a customer followed by each salesperson.
func seedAuth(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []*store.Staff{
		{ID: "mgr", Name: "王经理", Role: bot.RoleManager, Team: []string{"s1", "s2"}, Active: true},
		{ID: "s1", Name: "李一", Role: bot.RoleSales, Active: true},
		{ID: "s2", Name: "张二", Role: bot.RoleSales, Active: true},
		{ID: "gone", Name: "离职", Role: bot.RoleSales, Active: false},
	} {
		if err := st.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ ext, name, staff string }{{"wm1", "客户甲", "s1"}, {"wm2", "客户乙", "s2"}} {
		if _, err := st.UpsertCustomer(ctx, store.CustomerUpsert{
			Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: c.ext}, Name: c.name,
			Follow: &store.Follow{StaffID: c.staff, AddedAt: authT0}, Now: authT0,
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// startAuthServer serves the edge over st with the clock; apiToken may be
// empty (bearer tokens disabled).
func startAuthServer(t *testing.T, st store.Store, clock *authClock, apiToken string, mutate ...func(*handlers.Options)) string {
	t.Helper()
	opts := handlers.Options{APIToken: apiToken, Now: clock.Now, Core: bot.NewCore(st, clock.Now)}
	for _, m := range mutate {
		m(&opts)
	}
	return listen(t, handlers.New(st, coord.NewLocal(), opts))
}

func openAuthStore(t *testing.T) *sqlite.DB {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seedAuth(t, st)
	return st
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so a test sees each 302.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type meAnswer struct {
	StaffID   string   `json:"staff_id"`
	Name      string   `json:"name"`
	Role      string   `json:"role"`
	Team      []string `json:"team"`
	CSRFToken string   `json:"csrf_token"`
}

func me(t *testing.T, c *http.Client, base string) meAnswer {
	t.Helper()
	a := do(t, c, "GET", base+"/api/v1/me", "")
	if a.status != 200 {
		t.Fatalf("GET /me = %d %s", a.status, a.body)
	}
	var m meAnswer
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// signInWithLink issues a link through the core and opens it.
func signInWithLink(t *testing.T, core *bot.Core, c *http.Client, base, staffID, next string) answer {
	t.Helper()
	tok, _, err := core.IssueLoginLink(context.Background(), bot.SystemActor("cli"), staffID, next)
	if err != nil {
		t.Fatal(err)
	}
	return openLink(t, c, base, tok)
}

// openLink opens a one-time login link as a browser does: its GET answers a
// page that must not use the link up, whose form then POSTs it.
func openLink(t *testing.T, c *http.Client, base, tok string) answer {
	t.Helper()
	page := do(t, c, "GET", base+"/auth/link?t="+url.QueryEscape(tok), "")
	if page.status != 200 || !strings.Contains(page.body, `method="post" action="/auth/link"`) || page.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /auth/link = %d %q (Cache-Control %q), want the sign-in page", page.status, page.body, page.header.Get("Cache-Control"))
	}
	return do(t, c, "POST", base+"/auth/link", url.Values{"t": {tok}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

func customerNames(t *testing.T, c *http.Client, base string) []string {
	t.Helper()
	a := do(t, c, "GET", base+"/api/v1/customers", "")
	if a.status != 200 {
		t.Fatalf("GET /customers = %d %s", a.status, a.body)
	}
	var out struct {
		Customers []store.Customer `json:"items"`
	}
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatalf("decode customers: %v: %s", err, a.body)
	}
	var names []string
	for _, cu := range out.Customers {
		names = append(names, cu.Name)
	}
	slices.Sort(names)
	return names
}

// TestLoginLinkSession signs a salesperson in with a one-time link while
// bearer tokens are disabled, and checks what the session may see and do.
func TestLoginLinkSession(t *testing.T) {
	st := openAuthStore(t)
	clock := &authClock{t: authT0}
	base := startAuthServer(t, st, clock, "") // SCRM_API_TOKEN empty
	core := bot.NewCore(st, clock.Now)
	b := browser(t)

	if a := do(t, b, "GET", base+"/api/v1/me", ""); a.status != 401 {
		t.Fatalf("GET /me before sign-in = %d, want 401", a.status)
	}
	tok, _, err := core.IssueLoginLink(context.Background(), bot.SystemActor("cli"), "s1", "/console/customers")
	if err != nil {
		t.Fatal(err)
	}
	// A link preview or a mail scanner fetches the link first: that GET
	// neither signs in nor uses the link up.
	for range 2 {
		p := do(t, browser(t), "GET", base+"/auth/link?t="+url.QueryEscape(tok), "")
		if p.status != 200 || strings.Contains(p.header.Get("Set-Cookie"), "scrm_session=") {
			t.Fatalf("preview GET /auth/link = %d, Set-Cookie %q: want the page and no session", p.status, p.header.Get("Set-Cookie"))
		}
	}
	a := openLink(t, b, base, tok)
	if a.status != 302 || a.header.Get("Location") != "/console/customers" {
		t.Fatalf("POST /auth/link = %d Location %q, want 302 /console/customers", a.status, a.header.Get("Location"))
	}
	set := a.header.Get("Set-Cookie")
	for _, flag := range []string{"scrm_session=", "httponly", "samesite=lax", "path=/", "max-age=604800"} {
		if !strings.Contains(strings.ToLower(set), flag) {
			t.Errorf("Set-Cookie %q lacks %s", set, flag)
		}
	}
	if strings.Contains(strings.ToLower(set), "secure") {
		t.Errorf("Set-Cookie %q is Secure over plain http", set)
	}
	m := me(t, b, base)
	if m.StaffID != "s1" || m.Name != "李一" || m.Role != bot.RoleSales || m.CSRFToken == "" || m.Team == nil {
		t.Errorf("/me = %+v", m)
	}
	// A salesperson's session sees their customers and no one else's.
	if got := customerNames(t, b, base); !slices.Equal(got, []string{"客户甲"}) {
		t.Errorf("s1's customers = %v, want [客户甲]", got)
	}

	// The link is good once.
	if a := openLink(t, browser(t), base, tok); a.status != 401 {
		t.Errorf("second use of the link = %d, want 401", a.status)
	}
	// The store never holds the secret.
	if _, err := st.FindSession(context.Background(), tok); err == nil {
		t.Error("a session is stored under the link's secret")
	}

	// Writes need the CSRF token; reads do not.
	id := customerID(t, st, "wm1")
	note := `{"text":"电话回访，客户满意"}`
	if a := do(t, b, "POST", base+"/api/v1/customers/"+id+"/notes", note); a.status != 403 || !strings.Contains(a.body, "CSRF") {
		t.Errorf("note without CSRF = %d %q, want 403", a.status, a.body)
	}
	if a := do(t, b, "POST", base+"/api/v1/customers/"+id+"/notes", note, "X-CSRF-Token", "wrong"); a.status != 403 {
		t.Errorf("note with a wrong CSRF token = %d, want 403", a.status)
	}
	if a := do(t, b, "POST", base+"/api/v1/customers/"+id+"/notes", note, "X-CSRF-Token", m.CSRFToken); a.status != 201 && a.status != 200 {
		t.Fatalf("note with CSRF = %d %s", a.status, a.body)
	}
	entries, err := st.FindTimeline(context.Background(), id, 0, 10)
	if err != nil || len(entries) == 0 || entries[0].Kind != store.EntryNote || entries[0].StaffID != "s1" {
		t.Fatalf("timeline after the note = %+v, %v", entries, err)
	}
	audit, _ := st.FindAudit(context.Background(), id, 0, 10)
	if len(audit) == 0 || audit[0].Actor != "s1" || !strings.HasPrefix(audit[0].Detail, "source=console") {
		t.Errorf("audit of the console note = %+v", audit)
	}
	logins, _ := st.FindAudit(context.Background(), "staff:s1", 0, 10)
	if len(logins) == 0 || logins[0].Action != bot.AuditLogin || !strings.Contains(logins[0].Detail, "method=link") {
		t.Errorf("audit of the sign-in = %+v", logins)
	}

	// Sign-out needs the token too, then the session is gone.
	if a := do(t, b, "POST", base+"/auth/logout", ""); a.status != 403 {
		t.Errorf("logout without CSRF = %d, want 403", a.status)
	}
	if a := do(t, b, "POST", base+"/auth/logout", "", "X-CSRF-Token", m.CSRFToken); a.status != 204 {
		t.Fatalf("logout = %d %s", a.status, a.body)
	}
	if a := do(t, b, "GET", base+"/api/v1/me", ""); a.status != 401 {
		t.Errorf("GET /me after logout = %d, want 401", a.status)
	}
}

func customerID(t *testing.T, st store.Store, ext string) string {
	t.Helper()
	c, err := st.FindCustomerByIdentity(context.Background(), store.Identity{Kind: store.IdentityExternalUserID, Value: ext})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestLoginLinkExpiresAndRefusesInactive(t *testing.T) {
	st := openAuthStore(t)
	clock := &authClock{t: authT0}
	base := startAuthServer(t, st, clock, apiTok)
	core := bot.NewCore(st, clock.Now)

	tok, exp, err := core.IssueLoginLink(context.Background(), bot.SystemActor("cli"), "s2", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := authT0.Add(10 * time.Minute); !exp.Equal(want) {
		t.Errorf("link expires %v, want %v", exp, want)
	}
	clock.Add(10 * time.Minute)
	if a := openLink(t, browser(t), base, tok); a.status != 401 {
		t.Errorf("link at its expiry = %d, want 401", a.status)
	}
	// An inactive member gets no link; a member deactivated after the
	// link was issued cannot use it.
	if _, _, err := core.IssueLoginLink(context.Background(), bot.SystemActor("cli"), "gone", ""); err == nil {
		t.Error("a link was issued for an inactive member")
	}
	tok, _, err = core.IssueLoginLink(context.Background(), bot.SystemActor("cli"), "s2", "https://evil.example/")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertStaff(context.Background(), &store.Staff{ID: "s2", Name: "张二", Role: bot.RoleSales, Active: false}); err != nil {
		t.Fatal(err)
	}
	if a := openLink(t, browser(t), base, tok); a.status != 403 {
		t.Errorf("link of a deactivated member = %d %s, want 403", a.status, a.body)
	}
	// A salesperson may not issue a link for someone else.
	if _, _, err := core.IssueLoginLink(context.Background(), bot.Actor{Viewer: bot.Viewer{StaffID: "s1", Role: bot.RoleSales}, Source: bot.SourceBot}, "mgr", ""); err == nil {
		t.Error("a salesperson issued a link for the manager")
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"":                           "/console/",
		"/console/customers?tag=VIP": "/console/customers?tag=VIP",
		"/console":                   "/console",
		"/sidebar/x":                 "/sidebar/x",
		"/consolex":                  "/console/",
		"//evil.example/console/":    "/console/",
		"/\\evil.example":            "/console/",
		"https://evil.example/":      "/console/",
		"/console/../api/v1/stats":   "/console/",
		"javascript:alert(1)":        "/console/",
		"/api/v1/customers":          "/console/",
	} {
		if got := bot.SafeNext(next); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// TestSessionExpiry: idle for SCRM_SESSION_IDLE ends a session, activity
// keeps it alive, and 7 days end it whatever the activity.
func TestSessionExpiry(t *testing.T) {
	st := openAuthStore(t)
	clock := &authClock{t: authT0}
	base := startAuthServer(t, st, clock, "", func(o *handlers.Options) { o.SessionIdle = time.Hour })
	core := bot.NewCore(st, clock.Now)

	idle := browser(t)
	signInWithLink(t, core, idle, base, "s1", "")
	active := browser(t)
	signInWithLink(t, core, active, base, "mgr", "")
	me(t, idle, base)

	clock.Add(50 * time.Minute)
	me(t, active, base)
	clock.Add(10 * time.Minute) // the idle one: exactly an hour since last seen
	if a := do(t, idle, "GET", base+"/api/v1/me", ""); a.status != 401 {
		t.Errorf("GET /me idle for the limit = %d, want 401", a.status)
	}
	// Used every 40 minutes, it stays alive up to seven days after the
	// sign-in, and ends then even though it is in use.
	end := authT0.Add(7 * 24 * time.Hour)
	for clock.Now().Add(40 * time.Minute).Before(end) {
		clock.Add(40 * time.Minute)
		me(t, active, base)
	}
	clock.Add(end.Sub(clock.Now()))
	if a := do(t, active, "GET", base+"/api/v1/me", ""); a.status != 401 {
		t.Errorf("GET /me after 7 days = %d, want 401", a.status)
	}
	if n, err := core.SweepSessions(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	} else if n != 0 {
		t.Errorf("sweep found %d sessions the lookups should have removed", n)
	}
}

// TestAdminTokenSession: the admin token signs an admin in once; bearer
// writes need no CSRF token; the session's do.
func TestAdminTokenSession(t *testing.T) {
	st := openAuthStore(t)
	clock := &authClock{t: authT0}
	base := startAuthServer(t, st, clock, apiTok)
	b := browser(t)
	if a := do(t, b, "POST", base+"/auth/token", `{"token":"wrong"}`); a.status != 401 {
		t.Errorf("POST /auth/token with a wrong token = %d, want 401", a.status)
	}
	a := do(t, b, "POST", base+"/auth/token", `{"token":"`+apiTok+`"}`)
	if a.status != 200 || !strings.Contains(a.body, `"next":"/console/"`) {
		t.Fatalf("POST /auth/token = %d %s", a.status, a.body)
	}
	m := me(t, b, base)
	if m.StaffID != bot.AdminActorID || m.Role != bot.RoleAdmin || m.CSRFToken == "" {
		t.Errorf("/me of the admin session = %+v", m)
	}
	if got := customerNames(t, b, base); !slices.Equal(got, []string{"客户乙", "客户甲"}) && !slices.Equal(got, []string{"客户甲", "客户乙"}) {
		t.Errorf("admin's customers = %v", got)
	}
	staff := `{"name":"李一","role":"manager","team":["s2"],"active":true}`
	if a := do(t, b, "PUT", base+"/api/v1/staff/s1", staff); a.status != 403 {
		t.Errorf("session PUT without CSRF = %d, want 403", a.status)
	}
	if a := do(t, b, "PUT", base+"/api/v1/staff/s1", staff, "X-CSRF-Token", m.CSRFToken); a.status != 200 {
		t.Errorf("session PUT with CSRF = %d %s", a.status, a.body)
	}
	// The same write with the bearer token needs no CSRF token; /me says so.
	bearer := &http.Client{Timeout: 10 * time.Second}
	if a := do(t, bearer, "PUT", base+"/api/v1/staff/s1", staff, "Authorization", "Bearer "+apiTok); a.status != 200 {
		t.Errorf("bearer PUT = %d %s", a.status, a.body)
	}
	if a := do(t, bearer, "GET", base+"/api/v1/me", "", "Authorization", "Bearer "+apiTok); a.status != 200 || !strings.Contains(a.body, `"csrf_token":""`) {
		t.Errorf("bearer /me = %d %s", a.status, a.body)
	}
	// With SCRM_API_TOKEN empty there is no admin token to sign in with,
	// and bearer tokens are refused.
	noTok := startAuthServer(t, st, clock, "")
	if a := do(t, browser(t), "POST", noTok+"/auth/token", `{"token":""}`); a.status != 404 {
		t.Errorf("POST /auth/token without SCRM_API_TOKEN = %d, want 404", a.status)
	}
	if a := do(t, bearer, "GET", noTok+"/api/v1/me", "", "Authorization", "Bearer "+apiTok); a.status != 404 {
		t.Errorf("bearer without SCRM_API_TOKEN = %d, want 404", a.status)
	}
}

// TestSessionAcrossInstances: a session signed in on one instance works on
// another sharing the store (MongoDB over FerretDB), and signing out on the
// second ends it on the first.
func TestSessionAcrossInstances(t *testing.T) {
	uri, dbName := mongotest.Start(t), mongotest.DBName(t)
	open := func() *mongo.DB {
		st, err := mongo.Open(context.Background(), uri, dbName)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st1, st2 := open(), open()
	seedAuth(t, st1)
	clock := &authClock{t: authT0}
	base1 := startAuthServer(t, st1, clock, "")
	base2 := startAuthServer(t, st2, clock, "")

	b := browser(t)
	signedIn := signInWithLink(t, bot.NewCore(st1, clock.Now), b, base1, "mgr", "")
	if signedIn.status != 302 {
		t.Fatalf("sign-in on instance 1 = %d %s", signedIn.status, signedIn.body)
	}
	secret := lastSession(t, signedIn)
	// The cookie jar keys cookies by host, and both instances are
	// 127.0.0.1: the cookie set by one goes to the other, as behind one
	// load balancer.
	m := me(t, b, base2)
	if m.StaffID != "mgr" || !slices.Equal(m.Team, []string{"s1", "s2"}) {
		t.Errorf("/me on instance 2 = %+v", m)
	}
	if got := customerNames(t, b, base2); len(got) != 2 {
		t.Errorf("manager's customers on instance 2 = %v, want both", got)
	}
	if a := do(t, b, "POST", base2+"/auth/logout", "", "X-CSRF-Token", m.CSRFToken); a.status != 204 {
		t.Fatalf("logout on instance 2 = %d", a.status)
	}
	// The jar dropped the cookie; replay the old one on instance 1.
	c := &http.Client{Timeout: 10 * time.Second}
	if a := do(t, c, "GET", base1+"/api/v1/me", "", "Cookie", "scrm_session="+secret); a.status != 401 {
		t.Errorf("the signed-out session on instance 1 = %d, want 401", a.status)
	}
}

// lastSession returns the session secret a sign-in answer set.
func lastSession(t *testing.T, a answer) string {
	t.Helper()
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == "scrm_session" {
			return c.Value
		}
	}
	t.Fatal("no scrm_session cookie set")
	return ""
}

// TestSessionCookieSecureBehindHTTPS: behind a TLS-terminating proxy the
// session cookie is Secure.
func TestSessionCookieSecureBehindHTTPS(t *testing.T) {
	st := openAuthStore(t)
	base := startAuthServer(t, st, &authClock{t: authT0}, apiTok)
	a := do(t, browser(t), "POST", base+"/auth/token", `{"token":"`+apiTok+`"}`, "X-Forwarded-Proto", "https")
	if a.status != 200 || !strings.Contains(strings.ToLower(a.header.Get("Set-Cookie")), "; secure") {
		t.Errorf("POST /auth/token over https: %d, Set-Cookie %q, want Secure", a.status, a.header.Get("Set-Cookie"))
	}
}

// TestAdminTokenGuessesAreLimited guesses the admin token against two
// instances sharing Redis: the wrong guesses add up across them, and past
// the limit even the right token waits out the window.
func TestAdminTokenGuessesAreLimited(t *testing.T) {
	st := openAuthStore(t)
	clock := &authClock{t: authT0}
	prefix := fmt.Sprintf("scrmtest:guess:%d:", time.Now().UnixNano())
	start := func() string {
		opts := handlers.Options{APIToken: apiTok, Now: clock.Now, Core: bot.NewCore(st, clock.Now)}
		return listen(t, handlers.New(st, openTestRedis(t, prefix), opts))
	}
	a, b := start(), start()
	for i := range 10 {
		base := a
		if i%2 == 1 {
			base = b
		}
		if r := do(t, browser(t), "POST", base+"/auth/token", fmt.Sprintf(`{"token":"guess-%d"}`, i)); r.status != 401 {
			t.Fatalf("guess %d = %d %s, want 401", i, r.status, r.body)
		}
	}
	for _, base := range []string{a, b} {
		r := do(t, browser(t), "POST", base+"/auth/token", `{"token":"`+apiTok+`"}`)
		if r.status != 429 || r.header.Get("Retry-After") != "900" || strings.Contains(r.header.Get("Set-Cookie"), "scrm_session=") {
			t.Errorf("the right token after 10 wrong guesses = %d (Retry-After %q, Set-Cookie %q), want 429 and no session",
				r.status, r.header.Get("Retry-After"), r.header.Get("Set-Cookie"))
		}
	}
}
