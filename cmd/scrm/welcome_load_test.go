package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestWelcomeUnderLoad sends adds through a channel at 1,000 a minute while
// staff messages keep the pipeline busy, and measures each welcome from the
// moment its callback was sent to the moment WeCom (the simulator) accepted
// it: p99 under 1 s, none missed, none twice. SCRM_WELCOME_LOAD_ADDS sets
// the number of adds (default 250, 15 s of load; 1,000 for the full minute
// in docs/benchmarks.md).
func TestWelcomeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	n := 250
	if v, err := strconv.Atoi(os.Getenv("SCRM_WELCOME_LOAD_ADDS")); err == nil && v > 0 {
		n = v
	}
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	for i := range 20 {
		sim.AddStaff(wecomtest.Staff{UserID: fmt.Sprintf("s%02d", i), Name: fmt.Sprintf("员工%d", i), Department: []int{1}})
	}
	var (
		mu      sync.Mutex
		sentAt  = map[string]time.Time{}
		latency []time.Duration
		counts  = map[string]int{}
	)
	sim.OnWelcome(func(w wecomtest.SentWelcome) {
		mu.Lock()
		defer mu.Unlock()
		counts[w.Code]++
		if t0, ok := sentAt[w.Code]; ok {
			latency = append(latency, time.Since(t0))
		}
	})
	a := startSimApp(t, sim, extensions{}, func(cfg *config.Config) { cfg.APIToken = "load-token" })
	var ch struct {
		ID       string `json:"id"`
		ConfigID string `json:"config_id"`
	}
	staff := []any{}
	for i := range 20 {
		staff = append(staff, fmt.Sprintf("s%02d", i))
	}
	if code := a.apiCall(t, "POST", "/api/v1/channels", map[string]any{"name": "压测海报", "staff": staff, "tags": []string{"压测"},
		"welcome": map[string]any{"text": "#客户昵称#您好，我是#员工姓名#"}}, &ch); code != 201 {
		t.Fatalf("create channel: %d", code)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The busy pipeline: staff messages at 20 a second for the whole run.
	var msgs atomic.Int64
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := int64(1); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			m := wecomtest.AppText(fmt.Sprintf("s%02d", i%20), "客户说下周再联系，帮我记一下", 900000+i, time.Now())
			go func() {
				if d, err := a.drv.SendWeCom(ctx, m); err == nil && d.Status == 200 {
					msgs.Add(1)
				}
			}()
		}
	}()

	interval := time.Minute / 1000
	var wg sync.WaitGroup
	tick := time.NewTicker(interval)
	for i := range n {
		<-tick.C
		add := sim.ScanContactWay(ch.ConfigID, "", wecomtest.Contact{ExternalUserID: fmt.Sprintf("wmLoad%05d", i), Name: fmt.Sprintf("客户%d", i)}, false)
		code := add.Field("WelcomeCode")
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			sentAt[code] = time.Now()
			mu.Unlock()
			if d, err := a.drv.SendWeCom(ctx, add); err != nil || d.Status != 200 {
				t.Errorf("deliver add: %v", err)
			}
		}()
	}
	tick.Stop()
	wg.Wait()
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := len(counts)
		mu.Unlock()
		if done == n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	bg.Wait()
	time.Sleep(500 * time.Millisecond) // a late duplicate would land here

	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for _, c := range counts {
		if c > 1 {
			twice++
		}
	}
	slices.Sort(latency)
	pct := func(p float64) time.Duration {
		if len(latency) == 0 {
			return 0
		}
		return latency[min(len(latency)-1, int(float64(len(latency))*p))]
	}
	lag, _ := a.store.OldestUnprocessed(context.Background())
	backlog := "none"
	if !lag.IsZero() {
		backlog = time.Since(lag).Round(time.Millisecond).String()
	}
	t.Logf("adds=%d welcomed=%d twice=%d staff_messages=%d p50=%v p95=%v p99=%v max=%v pipeline_backlog_age=%s",
		n, len(counts), twice, msgs.Load(), pct(0.50), pct(0.95), pct(0.99), pct(1), backlog)
	if len(counts) != n {
		t.Errorf("%d of %d adds welcomed", len(counts), n)
	}
	if twice > 0 {
		t.Errorf("%d codes welcomed twice", twice)
	}
	if p := pct(0.99); p > time.Second {
		t.Errorf("welcome p99 %v, want < 1 s", p)
	}
	_ = bot.WelcomeSent
}
