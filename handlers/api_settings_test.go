package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// settingsEnv is an edge whose settings reads fetch tokens from the
// simulator and read the callback marks its own callbacks write (one
// coordinator, as every instance shares Redis).
type settingsEnv struct {
	base   string
	sim    *wecomtest.Simulator
	api    *wecom.APIClient
	driver *wecomtest.Driver
	st     *sqlite.DB
}

const settingsFAQ = `entries:
  - id: hours
    question: 你们几点上班？
    aliases: [营业时间是什么时候]
    keywords: [营业时间]
    answer: 工作日 9:00-18:00。
  - id: refund
    question: 怎么退款？
    answer: 在订单页点「申请退款」。
`

func newSettingsEnv(t *testing.T) *settingsEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*store.Staff{{ID: "boss", Name: "老板", Role: bot.RoleAdmin, Active: true},
		{ID: "s1", Name: "销售一", Role: bot.RoleSales, Active: true}} {
		if err := st.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	// The Official Account's secret was reset and scrm still has the old one.
	sim.SetSecretInvalid(wecomtest.SecretOA, true)
	co := coord.NewLocal()
	api, err := wecom.NewAPIClient(sim.APIConfig(), co, nil)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := wecom.NewCrypto(wecomtest.SimToken, wecomtest.SimAESKey, wecomtest.SimCorpID)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := wecom.NewCrypto(wecomtest.SimOAToken, wecomtest.SimOAAESKey, wecomtest.SimOAAppID)
	if err != nil {
		t.Fatal(err)
	}
	faqPath := filepath.Join(t.TempDir(), "faq.yaml")
	if err := os.WriteFile(faqPath, []byte(settingsFAQ), 0o600); err != nil {
		t.Fatal(err)
	}
	faq, err := bot.LoadFAQFile(faqPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	hours, err := config.ParseBusinessHours("09:00-18:00 Mon-Fri", nil)
	if err != nil {
		t.Fatal(err)
	}
	settings := bot.NewSettings(bot.SettingsOptions{
		BusinessHours: "09:00-18:00 Mon-Fri", Hours: hours, FAQ: faq, TokenBudget: 200000,
		WeComCallback: true, WeComAPI: true, OACallback: true, OAAPI: true,
		Tokens: api, Setup: bot.NewSetupLog(co), PublicURL: "https://scrm.example.com",
	})
	t.Cleanup(func() { st.Close() }) // after the server's shutdown
	base := listen(t, handlers.New(st, co, handlers.Options{WeCom: wc, OAToken: wecomtest.SimOAToken, OA: oc, APIToken: apiTok,
		Core: bot.NewCore(st, nil), Settings: settings}))
	d, err := wecomtest.NewDriver(wecomtest.SimDriverConfig(base+"/wecom/callback", base+"/oa/callback", sim))
	if err != nil {
		t.Fatal(err)
	}
	return &settingsEnv{base: base, sim: sim, api: api, driver: d, st: st}
}

func (e *settingsEnv) get(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	a := do(t, http.DefaultClient, method, e.base+path, body, "Authorization", "Bearer "+token)
	if a.status == 200 && out != nil {
		if err := json.Unmarshal([]byte(a.body), out); err != nil {
			t.Fatal(err)
		}
	}
	return a.status
}

func (e *settingsEnv) checks(t *testing.T) map[string]bot.CheckItem {
	t.Helper()
	var out struct {
		Items []bot.CheckItem `json:"items"`
	}
	if status := e.get(t, "GET", "/api/v1/checks", apiTok, "", &out); status != 200 {
		t.Fatalf("checks: %d", status)
	}
	m := map[string]bot.CheckItem{}
	for _, it := range out.Items {
		if it.Title == "" || it.Detail == "" || it.Hint == "" {
			t.Errorf("check %s lacks a title, detail or hint: %+v", it.Key, it)
		}
		m[it.Key] = it
	}
	return m
}

// TestSetupChecks: 接入检查 starts red for callbacks nobody sent; the
// platform's verification GET and a callback turn each channel's lines
// green (over real HTTP, through the coordinator every instance shares); a
// token check asks the simulator, and a reset secret or an untrusted IP
// shows with the platform's error code.
func TestSetupChecks(t *testing.T) {
	e := newSettingsEnv(t)
	ctx := context.Background()
	c := e.checks(t)
	for key, ok := range map[string]bool{"wecom_callback_verified": false, "wecom_last_callback": false, "wecom_token": true,
		"oa_callback_verified": false, "oa_last_callback": false, "oa_token": false,
		"trusted_ip": true, "trusted_domain": true, "sidebar": true} {
		if c[key].OK != ok {
			t.Errorf("before any callback: %s ok=%v, want %v (%s)", key, c[key].OK, ok, c[key].Detail)
		}
	}
	if !strings.Contains(c["oa_token"].Detail, "40001") {
		t.Errorf("oa_token detail %q does not name the platform's error", c["oa_token"].Detail)
	}
	if !strings.Contains(c["wecom_callback_verified"].Hint, "https://scrm.example.com/wecom/callback") ||
		!strings.Contains(c["sidebar"].Detail, "https://scrm.example.com/sidebar/") ||
		!strings.Contains(c["trusted_domain"].Hint, "scrm.example.com") {
		t.Errorf("hints do not derive from SCRM_PUBLIC_URL: %+v %+v %+v", c["wecom_callback_verified"], c["sidebar"], c["trusted_domain"])
	}

	if status, _, err := e.driver.VerifyURL(ctx, false); err != nil || status != 200 {
		t.Fatalf("wecom verification: %d %v", status, err)
	}
	if status, _, err := e.driver.VerifyURL(ctx, true); err != nil || status != 200 {
		t.Fatalf("oa verification: %d %v", status, err)
	}
	c = e.checks(t)
	if !c["wecom_callback_verified"].OK || !c["oa_callback_verified"].OK || c["wecom_last_callback"].OK {
		t.Errorf("after the verification GETs: %+v %+v %+v", c["wecom_callback_verified"], c["oa_callback_verified"], c["wecom_last_callback"])
	}
	if _, err := e.driver.SendWeCom(ctx, wecomtest.AppText("s1", "你好", 1, time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := e.driver.SendOA(ctx, wecomtest.OAText("o-follower", "在吗", 2, time.Now())); err != nil {
		t.Fatal(err)
	}
	c = e.checks(t)
	if !c["wecom_last_callback"].OK || !c["oa_last_callback"].OK || !strings.Contains(c["wecom_last_callback"].Detail, time.Now().In(time.UTC).Format("2006-01-02")) {
		t.Errorf("after the callbacks: %+v %+v", c["wecom_last_callback"], c["oa_last_callback"])
	}

	// The platform refuses a call from an IP not on the trusted list.
	e.sim.Fail("department/list", 60020, 1)
	if _, err := e.api.ListDepartments(ctx, 0); wecom.APIErrorCode(err) != 60020 {
		t.Fatalf("department/list: %v, want 60020", err)
	}
	if c = e.checks(t); c["trusted_ip"].OK || !strings.Contains(c["trusted_ip"].Detail, "IP") {
		t.Errorf("after a 60020: %+v", c["trusted_ip"])
	}
}

// TestSettingsReads: the settings, the FAQ and its test answer admins and
// refuse everyone else; the test matches as the bot does.
func TestSettingsReads(t *testing.T) {
	e := newSettingsEnv(t)
	sales := mint(t, apiTok, "s1", time.Now().Add(time.Hour))
	admin := mint(t, apiTok, "boss", time.Now().Add(time.Hour))
	for _, p := range []struct{ method, path, body string }{
		{"GET", "/api/v1/settings", ""}, {"GET", "/api/v1/faq", ""}, {"POST", "/api/v1/faq/test", `{"question":"怎么退款"}`}, {"GET", "/api/v1/checks", ""},
	} {
		if status := e.get(t, p.method, p.path, sales, p.body, nil); status != 403 {
			t.Errorf("sales %s %s: %d, want 403", p.method, p.path, status)
		}
	}
	var s bot.CompanySettings
	if status := e.get(t, "GET", "/api/v1/settings", admin, "", &s); status != 200 {
		t.Fatalf("settings: %d", status)
	}
	if s.Hours.Spec != "09:00-18:00 Mon-Fri" || s.FAQCount != 2 || s.LLM.Configured || s.LLM.TokenBudget != 200000 ||
		!strings.Contains(s.OffHoursMessage, "工作日") {
		t.Errorf("settings: %+v", s)
	}
	// The cadences are the built-in journeys, edited in 跟进旅程: the
	// configuration must not show a cadence that no longer runs.
	var raw map[string]any
	if e.get(t, "GET", "/api/v1/settings", admin, "", &raw); raw["cadences"] != nil || raw["dormant_days"] == nil {
		t.Errorf("settings answer %v: want dormant_days and no cadences", raw)
	}
	var faq struct {
		Entries []bot.FAQEntry `json:"entries"`
	}
	if status := e.get(t, "GET", "/api/v1/faq", apiTok, "", &faq); status != 200 || len(faq.Entries) != 2 || faq.Entries[1].Answer != "在订单页点「申请退款」。" {
		t.Errorf("faq: %d %+v", status, faq)
	}
	for _, tc := range []struct {
		q       string
		matched bool
		id      string
	}{{"怎么退款？", true, "refund"}, {"你们营业时间是几点", true, "hours"}, {"明天天气怎么样", false, ""}} {
		var r bot.FAQTest
		body, _ := json.Marshal(map[string]string{"question": tc.q})
		if status := e.get(t, "POST", "/api/v1/faq/test", apiTok, string(body), &r); status != 200 {
			t.Fatalf("faq test %q: %d", tc.q, status)
		}
		if r.Matched != tc.matched || (tc.id != "" && r.ID != tc.id) || (r.Matched && r.Answer == "") {
			t.Errorf("faq test %q: %+v, want matched=%v id=%s", tc.q, r, tc.matched, tc.id)
		}
	}
	if status := e.get(t, "POST", "/api/v1/faq/test", apiTok, `{"question":"  "}`, nil); status != 400 {
		t.Errorf("empty question: %d, want 400", status)
	}
}
