package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/transfer"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

const (
	corpID  = "wwhandlerstest"
	token   = "handlertoken"
	aesKey  = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	oaAppID = "wxhandlerstest"
	oaToken = "oahandlertoken"
	oaKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	apiTok  = "api-secret"
)

type env struct {
	base   string
	st     *sqlite.DB
	wc     *wecom.Crypto
	driver *wecomtest.Driver
	plain  *wecomtest.Driver // OA in plaintext mode
	core   *bot.Core         // the core the edge calls
}

// serve runs the edge over st and c on a free local port until the test
// ends, then closes st; it returns the edge's base URL.
func serve(t *testing.T, st *sqlite.DB, c handlers.Coordinator, opts handlers.Options) string {
	t.Helper()
	if opts.Console == nil && opts.Core != nil {
		// As cmd/scrm builds it, in the server's business time zone
		// (Asia/Shanghai when none is given), without business hours.
		loc := opts.Location
		if loc == nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		opts.Console = bot.NewConsole(st, bot.ConsoleOptions{Location: loc, Now: opts.Now})
	}
	t.Cleanup(func() { st.Close() }) // after the server's shutdown: cleanups run last first
	return listen(t, handlers.New(st, c, opts))
}

// listen serves srv on a loopback port until tb ends and returns its base
// URL.
func listen(tb testing.TB, srv *handlers.Server) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}

func newEnv(t *testing.T, mutate ...func(*handlers.Options)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wc, err := wecom.NewCrypto(token, aesKey, corpID)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := wecom.NewCrypto(oaToken, oaKey, oaAppID)
	if err != nil {
		t.Fatal(err)
	}
	opts := handlers.Options{WeCom: wc, OAToken: oaToken, OA: oc, APIToken: apiTok}
	for _, m := range mutate {
		m(&opts)
	}
	if opts.Core == nil {
		opts.Core = bot.NewCore(st, opts.Now)
	}
	if opts.Sheets == nil {
		opts.Sheets = transfer.NewSheets(st)
	}
	base := serve(t, st, coord.NewLocal(), opts)
	dc := wecomtest.DriverConfig{URL: base + "/wecom/callback", OAURL: base + "/oa/callback",
		Token: token, AESKey: aesKey, CorpID: corpID, AgentID: "1000002",
		OAAppID: oaAppID, OAToken: oaToken, OAAESKey: oaKey, OASafeMode: true, Retries: -1}
	d, err := wecomtest.NewDriver(dc)
	if err != nil {
		t.Fatal(err)
	}
	dc.OASafeMode = false
	p, err := wecomtest.NewDriver(dc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{base: base, st: st, wc: wc, driver: d, plain: p, core: opts.Core}
}

func (e *env) events(t *testing.T) []*store.Event {
	t.Helper()
	evs, err := e.st.FindEvents(context.Background(), store.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

type answer struct {
	status int
	body   string
	header http.Header
}

// do makes one request with c and answers its status, body and header:
// every test's HTTP call goes through it. A body ("" sends none) is typed
// application/json unless header, name and value pairs set on the request,
// names another Content-Type.
func do(t *testing.T, c *http.Client, method, u string, body string, header ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

// jsonText is v as JSON, "" for nil.
func jsonText(t *testing.T, v any) string {
	t.Helper()
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func post(t *testing.T, u string, body []byte) (int, string) {
	t.Helper()
	a := do(t, http.DefaultClient, "POST", u, string(body), "Content-Type", "text/xml")
	return a.status, a.body
}

// get fetches u and returns the answer and its body.
func get(t *testing.T, u string) (answer, []byte) {
	t.Helper()
	a := do(t, http.DefaultClient, "GET", u, "")
	return a, []byte(a.body)
}

func TestWeComURLVerification(t *testing.T) {
	e := newEnv(t)
	enc, err := e.wc.Encrypt([]byte("4983741093870193"))
	if err != nil {
		t.Fatal(err)
	}
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "1372623149"
	q := url.Values{"msg_signature": {e.wc.Sign(ts, nonce, enc)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {enc}}
	resp, b := get(t, e.base+"/wecom/callback?"+q.Encode())
	if resp.status != 200 || string(b) != "4983741093870193" {
		t.Fatalf("got %d %q, want exactly the decrypted echostr", resp.status, b)
	}
	q.Set("msg_signature", strings.Repeat("0", 40))
	if resp, _ = get(t, e.base+"/wecom/callback?"+q.Encode()); resp.status != http.StatusUnauthorized {
		t.Fatalf("bad signature: got %d", resp.status)
	}
}

func TestOAURLVerification(t *testing.T) {
	e := newEnv(t)
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "99"
	q := url.Values{"signature": {wecom.OASignature(oaToken, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {"hello123"}}
	resp, b := get(t, e.base+"/oa/callback?"+q.Encode())
	if resp.status != 200 || string(b) != "hello123" {
		t.Fatalf("got %d %q", resp.status, b)
	}
}

func TestEveryCallbackKindIsStoredAndAcknowledged(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	wecomCases := []struct {
		name string
		msg  wecomtest.Msg
		kind string
	}{
		{"app text", wecomtest.AppText("zhangsan", "帮助", 101, now), "text"},
		{"app image", wecomtest.AppImage("zhangsan", "http://x/p.jpg", "m1", 102, now), "image"},
		{"app voice", wecomtest.AppVoice("zhangsan", "m2", "amr", 103, now), "voice"},
		{"app location", wecomtest.AppLocation("zhangsan", 23.1, 113.3, 15, "广州", 104, now), "location"},
		{"app link", wecomtest.AppLink("zhangsan", "报价单", "desc", "http://x", "", 105, now), "link"},
		{"enter_agent", wecomtest.AppEnterAgent("zhangsan", now), "event.enter_agent"},
		{"click", wecomtest.AppClick("zhangsan", "menu1", now), "event.click"},
		{"view", wecomtest.AppView("zhangsan", "http://x", now), "event.view"},
		{"template_card_event", wecomtest.TemplateCardEvent("zhangsan", "task1", "button_interaction", "done", "rc1", now), "event.template_card_event"},
		{"add_external_contact", wecomtest.ContactEvent("add_external_contact", "zhangsan", "wmEXT1", now, map[string]string{"State": "qr1", "WelcomeCode": "wc"}), "event.change_external_contact.add_external_contact"},
		{"edit_external_contact", wecomtest.ContactEvent("edit_external_contact", "zhangsan", "wmEXT1", now, nil), "event.change_external_contact.edit_external_contact"},
		{"add_half_external_contact", wecomtest.ContactEvent("add_half_external_contact", "zhangsan", "wmEXT2", now, nil), "event.change_external_contact.add_half_external_contact"},
		{"del_external_contact", wecomtest.ContactEvent("del_external_contact", "zhangsan", "wmEXT2", now, map[string]string{"Source": "DELETE_BY_TRANSFER"}), "event.change_external_contact.del_external_contact"},
		{"del_follow_user", wecomtest.ContactEvent("del_follow_user", "lisi", "wmEXT1", now, nil), "event.change_external_contact.del_follow_user"},
		{"transfer_fail", wecomtest.ContactEvent("transfer_fail", "lisi", "wmEXT3", now, map[string]string{"FailReason": "customer_refused"}), "event.change_external_contact.transfer_fail"},
		{"external chat", wecomtest.ExternalChatEvent("update", "wrCHAT1", now, map[string]string{"UpdateDetail": "add_member"}), "event.change_external_chat.update"},
		{"external tag", wecomtest.ExternalTagEvent("create", "et1", "tag", now, nil), "event.change_external_tag.create"},
		{"kf", wecomtest.KFEvent("ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR", "wkKF1", now), "event.kf_msg_or_event"},
		{"unknown event", wecomtest.AppEvent("zhangsan", "brand_new_event", "", now), "event.brand_new_event"},
	}
	for _, tc := range wecomCases {
		t.Run("wecom "+tc.name, func(t *testing.T) {
			d, err := e.driver.SendWeCom(context.Background(), tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != 200 || len(d.Body) != 0 {
				t.Fatalf("want an empty 200, got %d %q", d.Status, d.Body)
			}
		})
	}
	oaCases := []struct {
		name  string
		msg   wecomtest.Msg
		kind  string
		plain bool
	}{
		{"text safe mode", wecomtest.OAText("oUSER1", "你好，想了解报价", 201, now), "text", false},
		{"text plaintext mode", wecomtest.OAText("oUSER1", "明天再联系", 202, now), "text", true},
		{"image", wecomtest.OAImage("oUSER1", "http://x/p.jpg", "m", 203, now), "image", false},
		{"voice", wecomtest.OAVoice("oUSER1", "m", "amr", "语音识别结果", 204, now), "voice", false},
		{"location", wecomtest.OALocation("oUSER1", 23.1, 113.3, 15, "广州", 205, now), "location", false},
		{"link", wecomtest.OALink("oUSER1", "t", "d", "http://x", 206, now), "link", false},
		{"subscribe", wecomtest.OASubscribe("oUSER2", now), "event.subscribe", false},
		{"unsubscribe", wecomtest.OAUnsubscribe("oUSER3", now), "event.unsubscribe", true},
		{"scan", wecomtest.OAScan("oUSER2", "123", "ticket", now), "event.scan", false},
		{"click", wecomtest.OAClick("oUSER2", "MENU", now), "event.click", false},
		{"view", wecomtest.OAView("oUSER2", "http://x", now), "event.view", false},
	}
	// Plaintext mode is served only by an account without an AES key: with
	// one, a plaintext post is refused (TestOAPlaintextRefusedInSafeMode).
	pe := newEnv(t, func(o *handlers.Options) { o.OA = nil })
	for _, tc := range oaCases {
		t.Run("oa "+tc.name, func(t *testing.T) {
			drv := e.driver
			if tc.plain {
				drv = pe.plain
			}
			d, err := drv.SendOA(context.Background(), tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != 200 || string(d.Body) != "success" {
				t.Fatalf("want 200 success, got %d %q", d.Status, d.Body)
			}
		})
	}
	kinds := map[string]int{}
	all := append(e.events(t), pe.events(t)...)
	for _, ev := range all {
		kinds[ev.Channel+" "+ev.Kind]++
		if len(ev.Raw) == 0 || ev.DedupKey == "" || ev.ReceivedAt.IsZero() {
			t.Errorf("event %s lacks raw XML, dedup key or receive time", ev.Kind)
		}
	}
	for _, tc := range wecomCases {
		if kinds["wecom "+tc.kind] == 0 {
			t.Errorf("no stored wecom event of kind %s (have %v)", tc.kind, kinds)
		}
	}
	for _, tc := range oaCases {
		if kinds["oa "+tc.kind] == 0 {
			t.Errorf("no stored oa event of kind %s (have %v)", tc.kind, kinds)
		}
	}
	if got, want := len(all), len(wecomCases)+len(oaCases); got != want {
		t.Errorf("stored %d events, want %d", got, want)
	}
}

func TestRetriesAreStoredOnce(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	r1, _ := e.driver.BuildOA(e.driver.OAXML(wecomtest.OAText("oRetry", "报价多少", 7001, now)))
	for range 4 { // the first delivery and WeChat's three retries
		if code, body := post(t, r1.URL, r1.Body); code != 200 || body != "success" {
			t.Fatalf("got %d %q", code, body)
		}
	}
	// A retry is sealed again with a fresh nonce and timestamp: still one event.
	r2, _ := e.driver.BuildOA(e.driver.OAXML(wecomtest.OAText("oRetry", "报价多少", 7001, now)))
	post(t, r2.URL, r2.Body)
	ev := wecomtest.ContactEvent("add_external_contact", "zhangsan", "wmRetry", now, nil)
	for range 3 {
		w, _ := e.driver.BuildWeCom(e.driver.WeComXML(ev))
		if code, _ := post(t, w.URL, w.Body); code != 200 {
			t.Fatalf("got %d", code)
		}
	}
	if n := len(e.events(t)); n != 2 {
		t.Fatalf("stored %d events, want 2", n)
	}
}

func TestRejectedRequestsStoreNothing(t *testing.T) {
	e := newEnv(t, func(o *handlers.Options) { o.MaxBody = 4096 })
	now := time.Now()
	valid := func() *wecomtest.CallbackRequest {
		r, err := e.driver.BuildWeCom(e.driver.WeComXML(wecomtest.AppText("zhangsan", "hi", time.Now().UnixNano(), now)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	resign := func(r *wecomtest.CallbackRequest, mutate func(q url.Values)) string {
		u, _ := url.Parse(r.URL)
		q := u.Query()
		mutate(q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	// A body sealed for another corp: valid signature, wrong receiveid.
	other, _ := wecom.NewCrypto(token, aesKey, "wwSOMEONEELSE")
	ts, nonce := strconv.FormatInt(now.Unix(), 10), "5"
	otherBody, otherSig, _ := other.SealWeCom(e.driver.WeComXML(wecomtest.AppText("x", "y", 1, now)), corpID, "1", ts, nonce)
	// A well-signed envelope whose plaintext is not XML.
	junkBody, junkSig, _ := e.wc.SealWeCom([]byte("this is not xml <<<"), corpID, "1", ts, nonce)
	staleTS := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	staleBody, staleSig, _ := e.wc.SealWeCom(e.driver.WeComXML(wecomtest.AppText("x", "y", 2, now)), corpID, "1", staleTS, nonce)
	q := func(sig, ts string) string {
		return e.base + "/wecom/callback?" + url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}.Encode()
	}
	cases := []struct {
		name   string
		url    string
		body   []byte
		status int
	}{
		{"bad signature", func() string {
			r := valid()
			return resign(r, func(q url.Values) { q.Set("msg_signature", strings.Repeat("a", 40)) })
		}(), valid().Body, 401},
		{"signature of another body", valid().URL, valid().Body, 401},
		{"missing signature", e.base + "/wecom/callback", valid().Body, 400},
		{"stale timestamp", q(staleSig, staleTS), staleBody, 403},
		{"wrong receiveid", q(otherSig, ts), otherBody, 403},
		{"oversized body", valid().URL, bytes.Repeat([]byte("x"), 8192), 413},
		{"malformed envelope", valid().URL, []byte("<xml><Encrypt>"), 400},
		{"malformed message", q(junkSig, ts), junkBody, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _ := post(t, tc.url, tc.body)
			if code != tc.status {
				t.Fatalf("got %d, want %d", code, tc.status)
			}
			if n := len(e.events(t)); n != 0 {
				t.Fatalf("a rejected request stored %d events", n)
			}
		})
	}
	// The OA in plaintext mode (no AES key): its own server.
	pe := newEnv(t, func(o *handlers.Options) { o.OA = nil })
	t.Run("oa bad signature", func(t *testing.T) {
		r, _ := pe.plain.BuildOA(pe.plain.OAXML(wecomtest.OAText("o1", "x", 9, now)))
		code, _ := post(t, resign(r, func(q url.Values) { q.Set("signature", strings.Repeat("b", 40)) }), r.Body)
		if code != 401 {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("oa malformed xml", func(t *testing.T) {
		r, _ := pe.plain.BuildOA([]byte("<xml><MsgType>text"))
		if code, _ := post(t, r.URL, r.Body); code != 400 {
			t.Fatalf("got %d", code)
		}
	})
	if n := len(e.events(t)) + len(pe.events(t)); n != 0 {
		t.Fatalf("rejected requests stored %d events", n)
	}
	t.Run("still serving", func(t *testing.T) {
		r := valid()
		if code, _ := post(t, r.URL, r.Body); code != 200 {
			t.Fatalf("got %d", code)
		}
		if n := len(e.events(t)); n != 1 {
			t.Fatalf("stored %d, want 1", n)
		}
	})
	t.Run("rejections are counted", func(t *testing.T) {
		_, b := get(t, e.base+"/metrics")
		for _, want := range []string{`scrm_callbacks_rejected_total{channel="wecom",reason="bad signature"} 2`, `reason="wrong receiver id"} 1`, `scrm_callback_duration_seconds_bucket`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestDisabledChannelsSayHowToEnable(t *testing.T) {
	e := newEnv(t, func(o *handlers.Options) { o.WeCom, o.OA, o.OAToken, o.APIToken = nil, nil, "", "" })
	for path, want := range map[string]string{
		"/wecom/callback": "SCRM_WECOM_CORP_ID",
		"/oa/callback":    "SCRM_OA_APP_ID",
		"/api/v1/stats":   "SCRM_API_TOKEN",
	} {
		resp, b := get(t, e.base+path)
		// The API itself is never off: a console session reaches it
		// without SCRM_API_TOKEN, so a request with neither is 401, and
		// the answer still says how to enable bearer tokens.
		status := 404
		if path == "/api/v1/stats" {
			status = 401
		}
		if resp.status != status || !strings.Contains(string(b), want) {
			t.Errorf("%s: got %d %q, want %d naming %s", path, resp.status, b, status, want)
		}
	}
}

func TestStatsAPI(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.driver.SendOA(context.Background(), wecomtest.OAText("oStats", fmt.Sprint("m", i), int64(800+i), time.Now()))
	}
	req, _ := http.NewRequest("GET", e.base+"/api/v1/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no token: got %d", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer "+apiTok)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]int64
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got["events"] != 3 {
		t.Fatalf("stats %v, want 3 events", got)
	}
	for _, k := range []string{"messages", "customers"} {
		if _, ok := got[k]; !ok {
			t.Errorf("stats lack %q", k)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}
