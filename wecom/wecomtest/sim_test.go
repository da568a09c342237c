package wecomtest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

type rawAnswer struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	InvalidUser string `json:"invaliduser"`
	HasMore     int    `json:"has_more"`
	MsgList     []any  `json:"msg_list"`
}

func call(t *testing.T, base, method, path string, q url.Values, body string) (int, rawAnswer) {
	t.Helper()
	u := base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a rawAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("%s: decode: %v", path, err)
	}
	return resp.StatusCode, a
}

func wecomToken(t *testing.T, base, secret string) string {
	t.Helper()
	_, a := call(t, base, "GET", "/cgi-bin/gettoken", url.Values{"corpid": {wecomtest.SimCorpID}, "corpsecret": {secret}}, "")
	if a.ErrCode != 0 || a.ExpiresIn != 7200 {
		t.Fatalf("gettoken: %+v", a)
	}
	return a.AccessToken
}

func TestSimulatorProtocol(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	defer sim.Close()
	sim.AddStaff(wecomtest.Staff{UserID: "zhangsan", Name: "张三"})
	app := wecomtest.SimAppSecret
	appTok := wecomToken(t, sim.URL, app)
	contactTok := wecomToken(t, sim.URL, wecomtest.SimContactSecret)
	_, oa := call(t, sim.URL, "GET", "/cgi-bin/token", url.Values{"grant_type": {"client_credential"},
		"appid": {wecomtest.SimOAAppID}, "secret": {wecomtest.SimOAAppSecret}}, "")
	send := func(tok, body string) (int, rawAnswer) {
		return call(t, sim.URL, "POST", "/cgi-bin/message/send", url.Values{"access_token": {tok}}, body)
	}
	for _, tc := range []struct {
		name string
		do   func() (int, rawAnswer)
		code int
	}{
		{"gettoken reuses a valid token", func() (int, rawAnswer) {
			if tok := wecomToken(t, sim.URL, app); tok != appTok {
				t.Errorf("gettoken issued %q, want the still-valid %q", tok, appTok)
			}
			return 200, rawAnswer{}
		}, 0},
		{"wrong corpid", func() (int, rawAnswer) {
			return call(t, sim.URL, "GET", "/cgi-bin/gettoken", url.Values{"corpid": {"x"}, "corpsecret": {app}}, "")
		}, 40013},
		{"wrong secret", func() (int, rawAnswer) {
			return call(t, sim.URL, "GET", "/cgi-bin/gettoken", url.Values{"corpid": {wecomtest.SimCorpID}, "corpsecret": {"x"}}, "")
		}, 40001},
		{"agentid as a string", func() (int, rawAnswer) {
			return send(appTok, `{"touser":"zhangsan","msgtype":"text","agentid":"1000002","text":{"content":"a"}}`)
		}, 0},
		{"agentid as a number", func() (int, rawAnswer) {
			return send(appTok, `{"touser":"zhangsan","msgtype":"text","agentid":1000002,"text":{"content":"b"}}`)
		}, 0},
		{"agentid missing", func() (int, rawAnswer) {
			return send(appTok, `{"touser":"zhangsan","msgtype":"text","text":{"content":"c"}}`)
		}, 41011},
		{"agentid wrong", func() (int, rawAnswer) {
			return send(appTok, `{"touser":"zhangsan","msgtype":"text","agentid":7,"text":{"content":"c"}}`)
		}, 40056},
		{"bad json", func() (int, rawAnswer) { return send(appTok, `{`) }, 47001},
		{"no token", func() (int, rawAnswer) { return send("", `{}`) }, 41001},
		{"unknown token", func() (int, rawAnswer) { return send("nope", `{}`) }, 40014},
		{"contact token on message/send", func() (int, rawAnswer) {
			return send(contactTok, `{"touser":"zhangsan","msgtype":"text","agentid":1000002,"text":{"content":"d"}}`)
		}, 48002},
		{"wecom token on an OA API", func() (int, rawAnswer) {
			return call(t, sim.URL, "GET", "/cgi-bin/user/info", url.Values{"access_token": {appTok}, "openid": {"o"}}, "")
		}, 40001},
		{"oa token", func() (int, rawAnswer) { return 200, oa }, 0},
		{"unsimulated API", func() (int, rawAnswer) {
			return call(t, sim.URL, "GET", "/cgi-bin/agent/get", url.Values{"access_token": {appTok}}, "")
		}, 48001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, a := tc.do()
			if status != http.StatusOK {
				t.Errorf("HTTP status %d: API errors must come as 200 + errcode", status)
			}
			if a.ErrCode != tc.code {
				t.Errorf("errcode = %d (%s), want %d", a.ErrCode, a.ErrMsg, tc.code)
			}
		})
	}
	if got := len(sim.SentTo("zhangsan")); got != 2 {
		t.Errorf("delivered %d, want 2", got)
	}
}

func TestSimulatorMountedUnderAPrefix(t *testing.T) {
	sim := wecomtest.NewUnstartedSimulator(wecomtest.SimConfig{})
	mux := http.NewServeMux()
	mux.Handle("/sim/", sim.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if tok := wecomToken(t, srv.URL+"/sim", wecomtest.SimAppSecret); tok == "" {
		t.Fatal("no token")
	}
	if sim.URL != "" {
		t.Errorf("unstarted simulator has URL %q", sim.URL)
	}
}

func TestSimulatorExpiryAndFaults(t *testing.T) {
	clock := wecomtest.NewFakeClock(t0)
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{Now: clock.Now})
	defer sim.Close()
	sim.AddStaff(wecomtest.Staff{UserID: "zhangsan"})
	body := `{"touser":"zhangsan","msgtype":"text","agentid":1000002,"text":{"content":"x"}}`
	tok := wecomToken(t, sim.URL, wecomtest.SimAppSecret)
	post := func() int {
		_, a := call(t, sim.URL, "POST", "/cgi-bin/message/send", url.Values{"access_token": {tok}}, body)
		return a.ErrCode
	}
	if c := post(); c != 0 {
		t.Fatalf("errcode %d", c)
	}
	clock.Advance(7201 * time.Second)
	if c := post(); c != 42001 {
		t.Errorf("after 7201s: errcode %d, want 42001", c)
	}
	tok = wecomToken(t, sim.URL, wecomtest.SimAppSecret)
	sim.Fail("message/send", 60020, 2)
	if a, b, c := post(), post(), post(); a != 60020 || b != 60020 || c != 0 {
		t.Errorf("injected faults: %d %d %d, want 60020 60020 0", a, b, c)
	}
	sim.FreqLimit("message/send", time.Minute)
	if c := post(); c != 45009 {
		t.Errorf("frequency limited: %d", c)
	}
	clock.Advance(61 * time.Second)
	if c := post(); c != 0 {
		t.Errorf("after the block: %d", c)
	}
	sim.ExpireTokens()
	if c := post(); c != 42001 {
		t.Errorf("after ExpireTokens: %d", c)
	}
}

func TestSimulatorKFRules(t *testing.T) {
	clock := wecomtest.NewFakeClock(t0)
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{Now: clock.Now})
	defer sim.Close()
	sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkA", ExternalUserID: "wmOld", Content: "四天前"})
	clock.Advance(4 * 24 * time.Hour)
	token := sim.AddKFMessage(wecomtest.KFMessage{OpenKfID: "wkA", ExternalUserID: "wmNew", Content: "今天"})
	tok := wecomToken(t, sim.URL, wecomtest.SimAppSecret)
	pull := func(token string) rawAnswer {
		_, a := call(t, sim.URL, "POST", "/cgi-bin/kf/sync_msg", url.Values{"access_token": {tok}},
			`{"cursor":"","token":"`+token+`","limit":100}`)
		return a
	}
	if a := pull(token); a.ErrCode != 0 || len(a.MsgList) != 1 || a.HasMore != 0 {
		t.Errorf("only the last 3 days: %+v", a)
	}
	clock.Advance(11 * time.Minute)
	if a := pull(token); a.ErrCode != 95007 {
		t.Errorf("token after 10 minutes: errcode %d, want 95007", a.ErrCode)
	}
	codes := map[int]int{}
	for range 11 {
		codes[pull("").ErrCode]++
	}
	if codes[0] != 10 || codes[45009] != 1 {
		t.Errorf("token-less calls: %v, want 10 ok and then 45009", codes)
	}
}

func TestSimulatorOnSentAndConcurrency(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	defer sim.Close()
	sim.AddStaff(wecomtest.Staff{UserID: "zhangsan"})
	var mu sync.Mutex
	var seen []string
	sim.OnSent(func(m wecomtest.SentMessage) {
		mu.Lock()
		seen = append(seen, m.Content)
		mu.Unlock()
	})
	tok := wecomToken(t, sim.URL, wecomtest.SimAppSecret)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			call(t, sim.URL, "POST", "/cgi-bin/message/send", url.Values{"access_token": {tok}},
				`{"touser":"zhangsan","msgtype":"text","agentid":"1000002","text":{"content":"并发"}}`)
			_ = sim.Sent()
			_ = sim.SentTo("zhangsan")
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 20 || len(sim.Sent()) != 20 {
		t.Errorf("OnSent saw %d, Sent has %d; want 20", len(seen), len(sim.Sent()))
	}
}

func TestSimulatorOutage(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	defer sim.Close()
	get := func(api string) (int, error) {
		resp, err := http.Get(sim.URL + "/cgi-bin/" + api + "?access_token=x")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	sim.SetOutage(wecomtest.Outage503, wecomtest.OAAPIs...)
	if code, err := get("user/info"); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("user/info during a 503 outage: %d %v", code, err)
	}
	if code, err := get("gettoken"); err != nil || code != http.StatusOK {
		t.Fatalf("WeCom's gettoken during an OA outage: %d %v", code, err)
	}
	sim.SetOutage(wecomtest.OutageDrop)
	if _, err := get("gettoken"); err == nil {
		t.Fatal("a dropped connection answered")
	}
	sim.SetOutage(wecomtest.OutageNone)
	sim.SetOutage(wecomtest.OutageNone, wecomtest.OAAPIs...)
	if code, err := get("user/info"); err != nil || code != http.StatusOK {
		t.Fatalf("user/info after the outage: %d %v", code, err)
	}
	if n := sim.Calls("user/info"); n != 2 {
		t.Fatalf("calls counted %d, want 2", n)
	}
}
