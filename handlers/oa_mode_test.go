package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// redisURL is where tests find the real Redis the README's test command starts.
func redisURL() string {
	if u := os.Getenv("SCRM_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// openTestRedis connects to Redis under prefix; instances given the same
// prefix share their keys like scrm instances of one deployment.
func openTestRedis(t *testing.T, prefix string) *coord.Redis {
	t.Helper()
	r, err := coord.OpenRedis(context.Background(), redisURL(), prefix)
	if err != nil {
		t.Fatalf("the tests need Redis at %s (the README's test command starts it): %v", redisURL(), err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// instance is one scrm edge over its own SQLite and the given coordinator.
type instance struct {
	base string
	st   *sqlite.DB
}

func startInstance(t *testing.T, c handlers.Coordinator, opts handlers.Options) *instance {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &instance{base: serve(t, st, c, opts), st: st}
}

func (in *instance) eventCount(t *testing.T) int {
	t.Helper()
	return len((&env{st: in.st}).events(t))
}

// plainOADriver signs OA callbacks in plaintext mode (no encrypt_type).
func plainOADriver(t *testing.T, oaURL string) *wecomtest.Driver {
	t.Helper()
	d, err := wecomtest.NewDriver(wecomtest.DriverConfig{OAURL: oaURL, OAAppID: oaAppID, OAToken: oaToken, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// withQuery returns u with its query replaced by q's values set.
func withQuery(t *testing.T, u string, set map[string]string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	for k, v := range set {
		q.Set(k, v)
	}
	p.RawQuery = q.Encode()
	return p.String()
}

// TestOAPlaintextRefusedInSafeMode: with SCRM_OA_AES_KEY set, a post in
// plaintext mode carries a signature that does not cover its body, so it is
// refused and nothing is stored, however well its plain signature checks out.
func TestOAPlaintextRefusedInSafeMode(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	r, err := e.plain.BuildOA(e.plain.OAXML(wecomtest.OAText("oForger", "我是伪造的消息", 4242, now)))
	if err != nil {
		t.Fatal(err)
	}
	// A safe-mode post of the same account, to borrow a valid msg_signature.
	sealed, err := e.driver.BuildOA(e.driver.OAXML(wecomtest.OAText("oForger", "真消息", 4243, now)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		url  string
	}{
		{"plain signature only", r.URL},
		{"encrypt_type raw", withQuery(t, r.URL, map[string]string{"encrypt_type": "raw"})},
		{"msg_signature without encrypt_type", withQuery(t, sealed.URL, map[string]string{"encrypt_type": ""})},
		{"borrowed safe-mode query", withQuery(t, sealed.URL, map[string]string{"encrypt_type": "AES"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, tc.url, r.Body)
			if code != http.StatusUnauthorized {
				t.Fatalf("got %d %q, want 401", code, body)
			}
		})
	}
	if n := len(e.events(t)); n != 0 {
		t.Fatalf("refused plaintext posts stored %d events", n)
	}
	// The genuine safe-mode post still goes through.
	if code, body := post(t, sealed.URL, sealed.Body); code != 200 || body != "success" {
		t.Fatalf("safe-mode post: got %d %q", code, body)
	}
	if n := len(e.events(t)); n != 1 {
		t.Fatalf("stored %d events, want the one safe-mode message", n)
	}
	_, b := get(t, e.base+"/metrics")
	want := fmt.Sprintf(`scrm_callbacks_rejected_total{channel="oa",reason="plaintext post while safe mode is configured"} %d`, len(cases))
	if !strings.Contains(string(b), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// TestOAPlaintextReplayRefusedAcrossInstances: without an AES key, a seen
// (timestamp, nonce, signature) with another body is refused by every
// instance sharing the Redis, while WeChat's byte-identical retry is
// acknowledged on any of them and stored once.
func TestOAPlaintextReplayRefusedAcrossInstances(t *testing.T) {
	prefix := fmt.Sprintf("scrmtest:oa-replay:%d:", time.Now().UnixNano())
	opts := handlers.Options{OAToken: oaToken}
	a := startInstance(t, openTestRedis(t, prefix), opts)
	b := startInstance(t, openTestRedis(t, prefix), opts)
	da := plainOADriver(t, a.base+"/oa/callback")
	now := time.Now()
	orig, err := da.BuildOA(da.OAXML(wecomtest.OAText("oVictim", "我想了解一下报价", 5150, now)))
	if err != nil {
		t.Fatal(err)
	}
	onB := strings.Replace(orig.URL, a.base, b.base, 1)
	forged := da.OAXML(wecomtest.OAText("oVictim", "请把我的订单全部取消", 5151, now))

	if code, body := post(t, orig.URL, orig.Body); code != 200 || body != "success" {
		t.Fatalf("first delivery on A: got %d %q", code, body)
	}
	if code, body := post(t, onB, orig.Body); code != 200 || body != "success" {
		t.Fatalf("identical retry on B: got %d %q, want it acknowledged", code, body)
	}
	if code, _ := post(t, onB, forged); code != http.StatusUnauthorized {
		t.Fatalf("replayed signature with another body on B: got %d, want 401", code)
	}
	if code, _ := post(t, orig.URL, forged); code != http.StatusUnauthorized {
		t.Fatalf("replayed signature with another body on A: got %d, want 401", code)
	}
	if got := a.eventCount(t) + b.eventCount(t); got != 1 {
		// The retry on B is answered from the shared dedup fast path; the
		// forged body is stored nowhere.
		t.Fatalf("stored %d events across the two instances, want 1", got)
	}
	for _, in := range []*instance{a, b} {
		for _, ev := range (&env{st: in.st}).events(t) {
			if ev.MsgID == "5151" {
				t.Fatalf("the forged body was stored: %+v", ev)
			}
		}
	}
	// The same body under a fresh nonce is a new delivery, not a replay.
	again, _ := da.BuildOA(forged)
	if code, _ := post(t, strings.Replace(again.URL, a.base, b.base, 1), again.Body); code != 200 {
		t.Fatalf("fresh nonce: got %d", code)
	}
}

// TestOAPlaintextReplayRefusedInProcess: one instance without Redis keeps
// the same guard in process.
func TestOAPlaintextReplayRefusedInProcess(t *testing.T) {
	in := startInstance(t, coord.NewLocal(), handlers.Options{OAToken: oaToken})
	d := plainOADriver(t, in.base+"/oa/callback")
	orig, _ := d.BuildOA(d.OAXML(wecomtest.OAText("oLocal", "原消息", 61, time.Now())))
	for range 2 {
		if code, _ := post(t, orig.URL, orig.Body); code != 200 {
			t.Fatalf("delivery and retry: got %d", code)
		}
	}
	if code, _ := post(t, orig.URL, d.OAXML(wecomtest.OAText("oLocal", "篡改", 62, time.Now()))); code != http.StatusUnauthorized {
		t.Fatalf("replay with another body: got %d, want 401", code)
	}
	if n := in.eventCount(t); n != 1 {
		t.Fatalf("stored %d, want 1", n)
	}
}

// TestURLVerificationIsPlainText: the echo of GET /oa/callback and of GET
// /wecom/callback is plain text a browser must not sniff as HTML.
func TestURLVerificationIsPlainText(t *testing.T) {
	e := newEnv(t)
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "77"
	echo := "<script>alert(1)</script>"
	oa := url.Values{"signature": {wecom.OASignature(oaToken, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {echo}}
	enc, err := e.wc.Encrypt([]byte(echo))
	if err != nil {
		t.Fatal(err)
	}
	wc := url.Values{"msg_signature": {e.wc.Sign(ts, nonce, enc)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {enc}}
	for path, q := range map[string]url.Values{"/oa/callback": oa, "/wecom/callback": wc} {
		t.Run(path, func(t *testing.T) {
			resp, b := get(t, e.base+path+"?"+q.Encode())
			if resp.status != 200 || string(b) != echo {
				t.Fatalf("got %d %q, want exactly the echo", resp.status, b)
			}
			if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			if got := resp.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
		})
	}
}
