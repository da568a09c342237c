package wecom_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// newSim starts a simulator with n staff members (u00, u01, ...).
func newSim(t *testing.T, cfg wecomtest.SimConfig, staff int) *wecomtest.Simulator {
	t.Helper()
	sim := wecomtest.NewSimulator(cfg)
	t.Cleanup(func() { _ = sim.Close() })
	for i := range staff {
		sim.AddStaff(wecomtest.Staff{UserID: fmt.Sprintf("u%02d", i), Name: fmt.Sprintf("员工%d", i), Department: []int{1}})
	}
	return sim
}

// testConfig points a client at sim with short waits so failure paths run
// in milliseconds.
func testConfig(sim *wecomtest.Simulator) wecom.APIConfig {
	return wecom.APIConfig{
		CorpID: wecomtest.SimCorpID, AgentID: wecomtest.SimAgentID,
		AppSecret: wecomtest.SimAppSecret, ContactSecret: wecomtest.SimContactSecret,
		OAAppID: wecomtest.SimOAAppID, OAAppSecret: wecomtest.SimOAAppSecret,
		WeComBase: sim.URL, OABase: sim.URL,
		HTTPTimeout:    2 * time.Second,
		RetryBackoff:   5 * time.Millisecond,
		FreqBackoff:    20 * time.Millisecond,
		FreqBackoffMax: 80 * time.Millisecond,
		FreqMaxWait:    5 * time.Second,
	}
}

func newClient(t *testing.T, cfg wecom.APIConfig, cache wecom.TokenCache) *wecom.APIClient {
	t.Helper()
	c, err := wecom.NewAPIClient(cfg, cache, nil)
	if err != nil {
		t.Fatalf("NewAPIClient: %v", err)
	}
	return c
}

func to(users ...string) wecom.SendTarget { return wecom.SendTarget{ToUser: users} }

func TestExpiredTokenRefreshesOnceThenSucceeds(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 1)
	c := newClient(t, testConfig(sim), nil)
	ctx := t.Context()

	if _, err := c.SendText(ctx, to("u00"), "第一条"); err != nil {
		t.Fatalf("first send: %v", err)
	}
	sim.ExpireTokens()
	if _, err := c.SendText(ctx, to("u00"), "第二条"); err != nil {
		t.Fatalf("send after expiry: %v", err)
	}
	if got := sim.GetTokenCalls(wecomtest.SecretApp); got != 2 {
		t.Errorf("gettoken calls = %d, want 2 (initial + exactly one refresh)", got)
	}
	// first send, rejected send (42001), retried send
	if got := sim.Calls("message/send"); got != 3 {
		t.Errorf("message/send calls = %d, want 3", got)
	}
	if got := len(sim.SentTo("u00")); got != 2 {
		t.Errorf("delivered = %d, want 2", got)
	}
}

func TestTokenRejectedTwiceIsNotRetriedAgain(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 1)
	c := newClient(t, testConfig(sim), nil)
	if _, err := c.SendText(t.Context(), to("u00"), "预热"); err != nil {
		t.Fatal(err)
	}
	sim.Fail("message/send", 42001, 5)
	_, err := c.SendText(t.Context(), to("u00"), "x")
	if !errors.Is(err, wecom.ErrAPITokenInvalid) || wecom.APIErrorCode(err) != 42001 {
		t.Fatalf("err = %v, want 42001 / ErrAPITokenInvalid", err)
	}
	if got := sim.Calls("message/send"); got != 3 {
		t.Errorf("message/send calls = %d, want 3 (warm-up, rejected, one retry)", got)
	}
	if got := sim.GetTokenCalls(wecomtest.SecretApp); got != 2 {
		t.Errorf("gettoken calls = %d, want 2", got)
	}
}

func TestConcurrentBurstWithExpiredTokenFetchesOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		warm  bool // a token is cached and then expired, versus a cold cache
		fetch int
	}{
		{"expired cached token", true, 2},
		{"cold cache", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := newSim(t, wecomtest.SimConfig{}, 50)
			// Latency widens the window in which the 50 rejections overlap.
			sim.SetLatency("message/send", 5*time.Millisecond)
			c := newClient(t, testConfig(sim), nil)
			if tc.warm {
				if _, err := c.SendText(t.Context(), to("u00"), "预热"); err != nil {
					t.Fatal(err)
				}
				sim.ExpireTokens()
			}
			var wg sync.WaitGroup
			errs := make(chan error, 50)
			for i := range 50 {
				wg.Go(func() {
					_, err := c.SendText(t.Context(), to(fmt.Sprintf("u%02d", i)), "提醒：客户回访")
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("send: %v", err)
				}
			}
			if got := sim.GetTokenCalls(wecomtest.SecretApp); got != tc.fetch {
				t.Errorf("gettoken calls = %d, want %d", got, tc.fetch)
			}
			want := 50
			if tc.warm {
				want = 51
			}
			if got := len(sim.Sent()); got != want {
				t.Errorf("delivered = %d, want %d", got, want)
			}
		})
	}
}

func TestBusyIsRetriedAtMostThreeTimes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		busy      int
		wantErr   bool
		wantCalls int
	}{
		{"recovers after two", 2, false, 3},
		{"recovers on the last retry", 3, false, 4},
		{"gives up after three retries", 10, true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := newSim(t, wecomtest.SimConfig{}, 1)
			c := newClient(t, testConfig(sim), nil)
			sim.Busy("message/send", tc.busy)
			_, err := c.SendText(t.Context(), to("u00"), "忙")
			if tc.wantErr {
				if !errors.Is(err, wecom.ErrAPIBusy) || wecom.APIErrorCode(err) != -1 {
					t.Fatalf("err = %v, want ErrAPIBusy with errcode -1", err)
				}
			} else if err != nil {
				t.Fatalf("send: %v", err)
			}
			if got := sim.Calls("message/send"); got != tc.wantCalls {
				t.Errorf("message/send calls = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestFrequencyLimitBacksOffAndDeliversEverything(t *testing.T) {
	t.Run("blocked window", func(t *testing.T) {
		sim := newSim(t, wecomtest.SimConfig{}, 10)
		c := newClient(t, testConfig(sim), nil)
		if _, err := c.SendText(t.Context(), to("u00"), "预热"); err != nil {
			t.Fatal(err)
		}
		sim.FreqLimit("message/send", 200*time.Millisecond)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for i := range 10 {
			wg.Go(func() {
				_, err := c.SendText(t.Context(), to(fmt.Sprintf("u%02d", i)), fmt.Sprintf("消息%d", i))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("send: %v", err)
			}
		}
		if el := time.Since(start); el < 150*time.Millisecond {
			t.Errorf("finished in %v: the client did not wait out the block", el)
		}
		if got := len(sim.Sent()); got != 11 {
			t.Errorf("delivered = %d, want 11: nothing may be dropped", got)
		}
		if d := sim.Dropped(); len(d) != 0 {
			t.Errorf("dropped = %d", len(d))
		}
	})
	t.Run("45009 and 45033 answers", func(t *testing.T) {
		sim := newSim(t, wecomtest.SimConfig{}, 1)
		c := newClient(t, testConfig(sim), nil)
		sim.Fail("message/send", 45009, 2)
		sim.Fail("message/send", 45033, 1)
		if _, err := c.SendText(t.Context(), to("u00"), "终于"); err != nil {
			t.Fatalf("send: %v", err)
		}
		if got := sim.Calls("message/send"); got != 4 {
			t.Errorf("message/send calls = %d, want 4", got)
		}
	})
	t.Run("budget exhausted", func(t *testing.T) {
		sim := newSim(t, wecomtest.SimConfig{}, 1)
		cfg := testConfig(sim)
		cfg.FreqMaxWait = 100 * time.Millisecond
		c := newClient(t, cfg, nil)
		sim.FreqLimit("message/send", time.Hour)
		_, err := c.SendText(t.Context(), to("u00"), "x")
		if !errors.Is(err, wecom.ErrAPIRateLimited) || wecom.APIErrorCode(err) != 45009 {
			t.Fatalf("err = %v, want ErrAPIRateLimited / 45009", err)
		}
		if calls := sim.Calls("message/send"); calls > 5 {
			t.Errorf("message/send calls = %d: backoff should keep them few", calls)
		}
	})
	t.Run("ctx cancels the wait", func(t *testing.T) {
		sim := newSim(t, wecomtest.SimConfig{}, 1)
		cfg := testConfig(sim)
		cfg.FreqBackoff, cfg.FreqMaxWait = time.Minute, time.Hour
		c := newClient(t, cfg, nil)
		sim.FreqLimit("message/send", time.Hour)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.SendText(ctx, to("u00"), "x")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("returned after %v", el)
		}
	})
}

func TestInvalidSecretIsAConfigErrorWithoutRetryStorm(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 5)
	cfg := testConfig(sim)
	cfg.AppSecret = "wrong-secret"
	c := newClient(t, cfg, nil)

	_, err := c.SendText(t.Context(), to("u00"), "x")
	if !errors.Is(err, wecom.ErrAPIConfig) || wecom.APIErrorCode(err) != 40001 {
		t.Fatalf("err = %v, want ErrAPIConfig / 40001", err)
	}
	if !strings.Contains(err.Error(), "SCRM_WECOM_SECRET") {
		t.Errorf("error %q does not tell the admin what to fix", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error %q leaks the secret", err)
	}
	// Many more sends, sequential and concurrent: the rejection is
	// remembered, so gettoken is not hammered.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := c.SendText(t.Context(), to(fmt.Sprintf("u%02d", i%5)), "x"); !errors.Is(err, wecom.ErrAPIConfig) {
				t.Errorf("send %d: err = %v, want ErrAPIConfig", i, err)
			}
		})
	}
	wg.Wait()
	if got := sim.GetTokenCalls("unknown"); got != 1 {
		t.Errorf("gettoken calls = %d, want 1", got)
	}
	if got := sim.Calls("message/send"); got != 0 {
		t.Errorf("message/send calls = %d, want 0", got)
	}
}

func TestSecretResetOnThePlatform(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 1)
	c := newClient(t, testConfig(sim), nil)
	if _, err := c.SendText(t.Context(), to("u00"), "x"); err != nil {
		t.Fatal(err)
	}
	// The admin resets the secret: the token dies and gettoken refuses.
	sim.SetSecretInvalid(wecomtest.SecretApp, true)
	sim.ExpireTokens()
	for range 5 {
		if _, err := c.SendText(t.Context(), to("u00"), "x"); !errors.Is(err, wecom.ErrAPIConfig) {
			t.Fatalf("err = %v, want ErrAPIConfig", err)
		}
	}
	if got := sim.GetTokenCalls(wecomtest.SecretApp); got != 2 {
		t.Errorf("gettoken calls = %d, want 2 (initial + one refused refresh)", got)
	}
}

func TestPerMemberLimitDelaysInsteadOfDropping(t *testing.T) {
	clock := wecomtest.NewFakeClock(time.Date(2025, 3, 5, 9, 0, 0, 0, time.UTC))
	sim := newSim(t, wecomtest.SimConfig{Now: clock.Now, MemberPerHour: 40}, 2)
	cfg := testConfig(sim)
	cfg.Clock = clock
	cfg.MemberPerHour = 40 // mirror the simulator so the hour window is reachable in a test
	c := newClient(t, cfg, nil)
	ctx := t.Context()

	for i := range 30 {
		if _, err := c.SendText(ctx, to("u00"), fmt.Sprintf("提醒%d", i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	// Another member is not held up by u00's queue.
	if _, err := c.SendText(ctx, to("u01"), "别人的消息"); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := c.SendText(ctx, to("u00"), "第31条")
		done <- err
	}()
	waitFor(t, func() bool { return c.QueueDepth() == 1 && clock.Waiters() == 1 })
	if got := c.MemberQueueDepth("u00"); got != 1 {
		t.Errorf("MemberQueueDepth(u00) = %d, want 1", got)
	}
	select {
	case err := <-done:
		t.Fatalf("31st message went out within the minute (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	if got := len(sim.SentTo("u00")); got != 30 {
		t.Fatalf("delivered to u00 = %d before the minute passed, want 30", got)
	}

	clock.Advance(61 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("31st send: %v", err)
	}
	if got := len(sim.SentTo("u00")); got != 31 {
		t.Errorf("delivered to u00 = %d, want 31", got)
	}
	if c.QueueDepth() != 0 {
		t.Errorf("queue depth = %d after delivery", c.QueueDepth())
	}

	// Fill the hour (40): 9 more now, the 41st waits for the first send's hour.
	for i := range 9 {
		clock.Advance(2 * time.Second) // stay inside the minute window's allowance
		if _, err := c.SendText(ctx, to("u00"), fmt.Sprintf("更多%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		_, err := c.SendText(ctx, to("u00"), "第41条")
		done <- err
	}()
	waitFor(t, func() bool { return c.QueueDepth() == 1 })
	clock.Advance(10 * time.Minute)
	select {
	case err := <-done:
		t.Fatalf("41st message went out within the hour (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	clock.Advance(time.Hour)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, dropped := len(sim.SentTo("u00")), len(sim.Dropped()); got != 41 || dropped != 0 {
		t.Errorf("delivered = %d, dropped = %d; want 41 and 0", got, dropped)
	}
}

func TestPerMemberLimitCancelledWaitReleasesSlot(t *testing.T) {
	clock := wecomtest.NewFakeClock(time.Date(2025, 3, 5, 9, 0, 0, 0, time.UTC))
	sim := newSim(t, wecomtest.SimConfig{Now: clock.Now}, 1)
	cfg := testConfig(sim)
	cfg.Clock = clock
	c := newClient(t, cfg, nil)
	for i := range 30 {
		if _, err := c.SendText(t.Context(), to("u00"), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.SendText(ctx, to("u00"), "取消")
		done <- err
	}()
	waitFor(t, func() bool { return c.QueueDepth() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if c.QueueDepth() != 0 {
		t.Errorf("queue depth = %d after cancel", c.QueueDepth())
	}
	// The cancelled slot is free again: the next send waits only for the
	// minute, not for a phantom reservation.
	clock.Advance(61 * time.Second)
	if _, err := c.SendText(t.Context(), to("u00"), "下一条"); err != nil {
		t.Fatal(err)
	}
	if got := len(sim.SentTo("u00")); got != 31 {
		t.Errorf("delivered = %d, want 31", got)
	}
}

// Without the client's limiter the simulator drops like WeCom: this is what
// the limiter prevents.
func TestSimulatorDropsAboveMemberLimit(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 1)
	cfg := testConfig(sim)
	cfg.MemberPerMinute, cfg.MemberPerHour = -1, -1
	c := newClient(t, cfg, nil)
	for i := range 31 {
		if _, err := c.SendText(t.Context(), to("u00"), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got, dropped := len(sim.SentTo("u00")), len(sim.Dropped()); got != 30 || dropped != 1 {
		t.Errorf("delivered = %d, dropped = %d; want 30 and 1", got, dropped)
	}
}

func TestDuplicateCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		want     int
	}{
		{"enabled: one delivery", time.Hour, 1},
		{"disabled: two deliveries", 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := newSim(t, wecomtest.SimConfig{}, 1)
			c := newClient(t, testConfig(sim), nil)
			target := wecom.SendTarget{ToUser: []string{"u00"}, DuplicateCheckInterval: tc.interval}
			for range 2 {
				if _, err := c.SendMarkdown(t.Context(), target, "**提醒**：回访张先生"); err != nil {
					t.Fatal(err)
				}
			}
			if got := len(sim.SentTo("u00")); got != tc.want {
				t.Errorf("delivered = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestTransportErrorsAreRetriedOnlyWhenSafe(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 1)
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wm1", Name: "张三", Follow: []wecomtest.Follow{{UserID: "u00"}}})
	cfg := testConfig(sim)
	cfg.HTTPTimeout = 50 * time.Millisecond
	c := newClient(t, cfg, nil)
	if _, err := c.GetExternalContact(t.Context(), "wm1"); err != nil { // warm the token
		t.Fatal(err)
	}
	sim.SetLatency("externalcontact/get", 200*time.Millisecond)
	sim.SetLatency("message/send", 200*time.Millisecond)

	start := time.Now()
	_, err := c.GetExternalContact(t.Context(), "wm1")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v: the per-attempt timeout was not applied", el)
	}
	if got := sim.Calls("externalcontact/get"); got != 1+4 {
		t.Errorf("externalcontact/get calls = %d, want 5 (warm-up + 1 + 3 retries of a read)", got)
	}
	// A plain send is not retried after a timeout: it may have arrived.
	if _, err := c.SendText(t.Context(), to("u00"), "x"); err == nil {
		t.Fatal("want a timeout error")
	}
	if got := sim.Calls("message/send"); got != 1 {
		t.Errorf("message/send calls = %d, want 1", got)
	}
	// With duplicate check on, WeCom drops a repeat, so resending is safe.
	if _, err := c.SendText(t.Context(), wecom.SendTarget{ToUser: []string{"u00"}, DuplicateCheckInterval: time.Hour}, "y"); err == nil {
		t.Fatal("want a timeout error")
	}
	if got := sim.Calls("message/send"); got != 1+4 {
		t.Errorf("message/send calls = %d, want 5", got)
	}
}

func TestErrorsNeverCarryTokensOrSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A server that accepts and immediately closes: every request fails.
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	base := "http://" + ln.Addr().String()
	c := newClient(t, wecom.APIConfig{CorpID: "corp", AppSecret: "TOPSECRET", AgentID: "1", WeComBase: base,
		RetryBackoff: time.Millisecond}, nil)
	_, err = c.SendText(t.Context(), to("u"), "x")
	if err == nil {
		t.Fatal("want an error")
	}
	if s := err.Error(); strings.Contains(s, "TOPSECRET") || strings.Contains(s, "corpsecret") || strings.Contains(s, base) {
		t.Errorf("error %q leaks the request URL", s)
	}
}

func TestTwoClientsAgainstTwoSimulators(t *testing.T) {
	a := newSim(t, wecomtest.SimConfig{}, 1)
	b := newSim(t, wecomtest.SimConfig{}, 1)
	ca := newClient(t, testConfig(a), nil)
	cb := newClient(t, testConfig(b), nil)
	if _, err := ca.SendText(t.Context(), to("u00"), "给A"); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.SendText(t.Context(), to("u00"), "给B"); err != nil {
		t.Fatal(err)
	}
	if got := a.Sent(); len(got) != 1 || got[0].Content != "给A" {
		t.Errorf("simulator A got %+v", got)
	}
	if got := b.Sent(); len(got) != 1 || got[0].Content != "给B" {
		t.Errorf("simulator B got %+v", got)
	}
}

func TestSharedTokenCacheAcrossInstances(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 1)
	shared := wecom.NewMemoryTokenCache()
	one := newClient(t, testConfig(sim), shared)
	two := newClient(t, testConfig(sim), shared)
	for _, c := range []*wecom.APIClient{one, two, one, two} {
		if _, err := c.SendText(t.Context(), to("u00"), "x"); err != nil {
			t.Fatal(err)
		}
	}
	if got := sim.GetTokenCalls(wecomtest.SecretApp); got != 1 {
		t.Errorf("gettoken calls = %d, want 1 for two instances sharing a cache", got)
	}
	sim.ExpireTokens()
	if _, err := one.SendText(t.Context(), to("u00"), "x"); err != nil {
		t.Fatal(err)
	}
	// The second instance picks up the refreshed token from the cache.
	if _, err := two.SendText(t.Context(), to("u00"), "x"); err != nil {
		t.Fatal(err)
	}
	if got := sim.GetTokenCalls(wecomtest.SecretApp); got != 2 {
		t.Errorf("gettoken calls = %d, want 2", got)
	}
}

// brokenCache fails every operation, like Redis during an outage.
type brokenCache struct{}

func (brokenCache) Get(context.Context, string) (string, bool, error) {
	return "", false, errors.New("redis down")
}
func (brokenCache) Set(context.Context, string, string, time.Duration) error {
	return errors.New("redis down")
}
func (brokenCache) Delete(context.Context, string) error { return errors.New("redis down") }

func TestTokenCacheOutageDelaysNothing(t *testing.T) {
	sim := newSim(t, wecomtest.SimConfig{}, 1)
	c := newClient(t, testConfig(sim), brokenCache{})
	for range 5 {
		if _, err := c.SendText(t.Context(), to("u00"), "x"); err != nil {
			t.Fatal(err)
		}
	}
	if got := sim.GetTokenCalls(wecomtest.SecretApp); got != 1 {
		t.Errorf("gettoken calls = %d, want 1 (the process keeps its own copy)", got)
	}
}

func TestMemoryTokenCache(t *testing.T) {
	m := wecom.NewMemoryTokenCache()
	ctx := t.Context()
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatal("empty cache has k")
	}
	_ = m.Set(ctx, "k", "v", time.Hour)
	_ = m.Set(ctx, "gone", "v", -time.Second)
	if v, ok, _ := m.Get(ctx, "k"); !ok || v != "v" {
		t.Errorf("Get(k) = %q, %v", v, ok)
	}
	if _, ok, _ := m.Get(ctx, "gone"); ok {
		t.Error("expired entry returned")
	}
	_ = m.Delete(ctx, "k")
	if _, ok, _ := m.Get(ctx, "k"); ok {
		t.Error("deleted entry returned")
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			k := fmt.Sprint(i % 3)
			_ = m.Set(ctx, k, "v", time.Minute)
			_, _, _ = m.Get(ctx, k)
			_ = m.Delete(ctx, k)
		})
	}
	wg.Wait()
}

func TestNotConfiguredChannels(t *testing.T) {
	c := newClient(t, wecom.APIConfig{}, nil)
	if _, err := c.SendText(t.Context(), to("u"), "x"); !errors.Is(err, wecom.ErrAPINotConfigured) {
		t.Errorf("SendText err = %v", err)
	}
	if err := c.OASendCustomText(t.Context(), "o", "x"); !errors.Is(err, wecom.ErrAPINotConfigured) {
		t.Errorf("OASendCustomText err = %v", err)
	}
	if _, err := wecom.NewAPIClient(wecom.APIConfig{WeComBase: "ftp://x"}, nil, nil); err == nil {
		t.Error("want an error for a non-http base")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A send whose context bounds the wait below the time to the next slot
// fails at once with ErrSendLater, keeps no slot, and sends nothing; without
// the bound the same send waits for its slot.
func TestPerMemberLimitMaxWaitSendsLater(t *testing.T) {
	clock := wecomtest.NewFakeClock(time.Date(2025, 3, 5, 9, 0, 0, 0, time.UTC))
	sim := newSim(t, wecomtest.SimConfig{Now: clock.Now}, 1)
	cfg := testConfig(sim)
	cfg.Clock = clock
	c := newClient(t, cfg, nil)
	bounded := wecom.WithMaxSendWait(t.Context(), 2*time.Second)
	for i := range 30 {
		if _, err := c.SendText(bounded, to("u00"), fmt.Sprint(i)); err != nil {
			t.Fatalf("send %d within the limit: %v", i, err)
		}
	}
	for range 3 {
		if _, err := c.SendText(bounded, to("u00"), "太多了"); !errors.Is(err, wecom.ErrSendLater) {
			t.Fatalf("err = %v, want ErrSendLater", err)
		}
	}
	if c.QueueDepth() != 0 {
		t.Errorf("queue depth = %d, want 0: a refused send does not wait", c.QueueDepth())
	}
	// The refused sends kept no slot: after the minute the next goes at once.
	clock.Advance(61 * time.Second)
	if _, err := c.SendText(bounded, to("u00"), "下一条"); err != nil {
		t.Fatal(err)
	}
	if got := len(sim.SentTo("u00")); got != 31 {
		t.Errorf("delivered = %d, want 31", got)
	}
}
