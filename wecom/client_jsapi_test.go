package wecom_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestSignJSAPIVector reproduces the JS-SDK document's vector (protocol doc,
// section 6), and checks the URL is cut at '#' and nothing else.
func TestSignJSAPIVector(t *testing.T) {
	const (
		ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
		nonce  = "Wm3WZYTPz0wzccnW"
		ts     = 1414587457
		want   = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
	)
	for _, u := range []string{"http://mp.weixin.qq.com?params=value", "http://mp.weixin.qq.com?params=value#/card?x=1"} {
		if got := wecom.SignJSAPI(ticket, nonce, ts, u); got != want {
			t.Errorf("SignJSAPI(%q) = %s, want %s", u, got, want)
		}
	}
	if got := wecom.SignJSAPI(ticket, nonce, ts, "http://mp.weixin.qq.com?params=value2"); got == want {
		t.Error("a different URL signed the same")
	}
}

func redisURL() string {
	if u := os.Getenv("SCRM_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// sharedRedis opens one coordinator per instance over the real Redis, all
// under one fresh prefix: instances of one deployment.
func sharedRedis(t *testing.T, n int) []*coord.Redis {
	t.Helper()
	prefix := fmt.Sprintf("scrmtest:ticket:%d:", time.Now().UnixNano())
	out := make([]*coord.Redis, n)
	for i := range out {
		r, err := coord.OpenRedis(context.Background(), redisURL(), prefix)
		if err != nil {
			t.Fatalf("redis: %v", err)
		}
		t.Cleanup(func() { r.Close() })
		out[i] = r
	}
	return out
}

func verify(t *testing.T, sim *wecomtest.Simulator, u string, s *wecom.JSSignature) {
	t.Helper()
	if !sim.VerifyJSSignature(wecom.TicketCorp, u, s.NonceStr, s.Timestamp, s.Signature) {
		t.Errorf("corp signature of %s does not verify", u)
	}
	if !sim.VerifyJSSignature(wecom.TicketAgent, u, s.NonceStr, s.Timestamp, s.AgentSignature) {
		t.Errorf("agent signature of %s does not verify", u)
	}
}

// TestJSSignatureOneFetchAcrossInstances: two instances sharing Redis, many
// concurrent callers on each, fetch each ticket once.
func TestJSSignatureOneFetchAcrossInstances(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	rs := sharedRedis(t, 2)
	clients := []*wecom.APIClient{newClient(t, testConfig(sim), rs[0]), newClient(t, testConfig(sim), rs[1])}
	sim.SetLatency("get_jsapi_ticket", 30*time.Millisecond) // so the misses overlap
	const u = "https://scrm.example.com/sidebar/?entry=single_chat_tools#/card"
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	sigs := make(chan *wecom.JSSignature, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := clients[i%2].JSSignature(t.Context(), u, false)
			if err != nil {
				errs <- err
				return
			}
			sigs <- s
		}()
	}
	wg.Wait()
	close(errs)
	close(sigs)
	for err := range errs {
		t.Fatalf("JSSignature: %v", err)
	}
	for s := range sigs {
		if s.CorpID != wecomtest.SimCorpID || s.AgentID != wecomtest.SimAgentID || len(s.NonceStr) != 16 {
			t.Fatalf("signature fields: %+v", s)
		}
		verify(t, sim, u, s)
	}
	if c, a := sim.TicketFetches(wecom.TicketCorp), sim.TicketFetches(wecom.TicketAgent); c != 1 || a != 1 {
		t.Errorf("ticket fetches corp=%d agent=%d, want 1 and 1", c, a)
	}
}

// TestJSTicketRefreshOnExpiry: a ticket is fetched again once its cache
// entry lapses, and a ticket WeCom stopped honouring is replaced on the
// page's report (refresh), once.
func TestJSTicketRefreshOnExpiry(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	rs := sharedRedis(t, 1)
	c := newClient(t, testConfig(sim), rs[0])
	const u = "https://scrm.example.com/sidebar/"
	sim.SetTicketTTL(2 * time.Second) // cached for half of it
	if _, err := c.JSSignature(t.Context(), u, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	s, err := c.JSSignature(t.Context(), u, false)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, sim, u, s)
	if got := sim.TicketFetches(wecom.TicketCorp); got != 2 {
		t.Errorf("corp fetches after the cache lapsed = %d, want 2", got)
	}

	sim.SetTicketTTL(0)
	if _, err := c.JSSignature(t.Context(), u, true); err != nil { // young tickets are kept
		t.Fatal(err)
	}
	if got := sim.TicketFetches(wecom.TicketCorp); got != 3 && got != 2 {
		t.Fatalf("corp fetches = %d", got)
	}
	base := sim.TicketFetches(wecom.TicketCorp)
	if _, err := c.JSSignature(t.Context(), u, true); err != nil {
		t.Fatal(err)
	}
	if got := sim.TicketFetches(wecom.TicketCorp); got != base {
		t.Errorf("a rejection reported for a ticket younger than a minute fetched again (%d → %d)", base, got)
	}
	defer wecom.SetTicketMinAge(0)()
	sim.ExpireTickets()
	old, _ := c.JSSignature(t.Context(), u, false)
	if sim.VerifyJSSignature(wecom.TicketCorp, u, old.NonceStr, old.Timestamp, old.Signature) {
		t.Fatal("a revoked ticket still verifies")
	}
	s, err = c.JSSignature(t.Context(), u, true)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, sim, u, s)
	if got := sim.TicketFetches(wecom.TicketCorp); got != base+1 {
		t.Errorf("corp fetches after a reported rejection = %d, want %d", got, base+1)
	}
}

// TestJSTicketTokenRejected: the ticket call's access token is replaced
// once (40014/42001) as for every API.
func TestJSTicketTokenRejected(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 0)
	c := newClient(t, testConfig(sim), nil)
	if _, err := c.JSSignature(t.Context(), "https://a.example/p", false); err != nil {
		t.Fatal(err)
	}
	defer wecom.SetTicketMinAge(0)()
	sim.ExpireTokens()
	s, err := c.JSSignature(t.Context(), "https://a.example/p", true)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, sim, "https://a.example/p", s)
	if got := sim.Calls("get_jsapi_ticket"); got != 3 {
		t.Errorf("get_jsapi_ticket calls = %d, want 3 (fetch; 42001, then with the new token)", got)
	}
	if got := sim.GetTokenCalls(wecomtest.SecretApp); got != 2 {
		t.Errorf("gettoken calls = %d, want 2", got)
	}
}

// forgetful is a shared cache that never keeps a ticket (Redis evicting
// under memory pressure, say): every signature is a miss on every
// instance. The leases and counters are still the real Redis's.
type forgetful struct{ *coord.Redis }

func (f forgetful) Get(ctx context.Context, key string) (string, bool, error) {
	if len(key) > 18 && key[:18] == "scrm:wecom:ticket:" {
		return "", false, nil
	}
	return f.Redis.Get(ctx, key)
}

// TestJSTicketHourlyLimitUnderMissStorm: four instances missing the cache
// on every call, concurrently, for three hours of a fake clock: WeCom's 100
// fetches in any rolling hour is never exceeded, and WeCom never has to
// answer 45009 (which would surface as an error other than ErrTicketBudget).
func TestJSTicketHourlyLimitUnderMissStorm(t *testing.T) {
	clock := wecomtest.NewFakeClock(time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC))
	sim := newSim(t, wecomtest.SimConfig{Now: clock.Now}, 0)
	rs := sharedRedis(t, 4)
	var clients []*wecom.APIClient
	for _, r := range rs {
		cfg := testConfig(sim)
		cfg.Clock = clock
		clients = append(clients, newClient(t, cfg, forgetful{r}))
	}
	var budget int
	for hour := range 3 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, limited int
		for i := range 4 {
			for range 15 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 25 {
						_, err := clients[i].JSSignature(t.Context(), "https://a.example/p", false)
						mu.Lock()
						switch {
						case err == nil:
							ok++
						case errors.Is(err, wecom.ErrTicketBudget):
							limited++
						default:
							t.Errorf("hour %d: %v", hour, err)
						}
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		got := sim.TicketFetches(wecom.TicketCorp) + sim.TicketFetches(wecom.TicketAgent)
		t.Logf("hour %d: %d signatures, %d refused for the budget, %d fetches in total", hour, ok, limited, got)
		if limited == 0 {
			t.Errorf("hour %d: the storm never reached the budget; the test proves nothing", hour)
		}
		budget = got
		clock.Advance(time.Hour)
	}
	if m := sim.MaxTicketFetchesPerHour(); m > wecomtest.SimTicketsPerApp {
		t.Errorf("fetches within one rolling hour = %d, over WeCom's %d", m, wecomtest.SimTicketsPerApp)
	}
	if budget != 150 {
		t.Errorf("fetches over three clock hours = %d, want 3×50", budget)
	}
}
