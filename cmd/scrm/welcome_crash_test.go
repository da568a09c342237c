package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestWelcomeKill9DuringLoad runs the real binary against the simulator,
// sends adds through a channel at 1,000 a minute, kills the server with
// SIGKILL mid-load and starts it again; the sender resends whatever was not
// acknowledged, as WeCom does. Every code is still valid after the restart,
// so every add must be welcomed, and none twice.
func TestWelcomeKill9DuringLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const total = 300
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	for i := range 10 {
		sim.AddStaff(wecomtest.Staff{UserID: fmt.Sprintf("k%02d", i), Name: fmt.Sprintf("员工%d", i), Department: []int{1}})
	}
	var mu sync.Mutex
	counts := map[string]int{}
	sim.OnWelcome(func(w wecomtest.SentWelcome) { mu.Lock(); counts[w.Code]++; mu.Unlock() })

	addr, dataDir := freeAddr(t), t.TempDir()
	env := []string{"SCRM_WECOM_CORP_ID=" + wecomtest.SimCorpID, "SCRM_WECOM_AGENT_ID=" + wecomtest.SimAgentID,
		"SCRM_WECOM_TOKEN=" + wecomtest.SimToken, "SCRM_WECOM_AES_KEY=" + wecomtest.SimAESKey,
		"SCRM_WECOM_SECRET=" + wecomtest.SimAppSecret, "SCRM_WECOM_CONTACT_SECRET=" + wecomtest.SimContactSecret,
		"SCRM_WECOM_API_BASE=" + sim.URL}
	srv := startServer(t, addr, dataDir, env...)
	defer func() { srv.stop(t) }()
	base := "http://" + addr

	staff := []string{}
	for i := range 10 {
		staff = append(staff, fmt.Sprintf("k%02d", i))
	}
	body, _ := json.Marshal(map[string]any{"name": "崩溃测试", "staff": staff, "welcome": map[string]any{"text": "#客户昵称#您好"}})
	req, _ := http.NewRequest("POST", base+"/api/v1/channels", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer test-api-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ch struct {
		ConfigID string `json:"config_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ch)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create channel: %d", resp.StatusCode)
	}

	drv, err := wecomtest.NewDriver(wecomtest.SimDriverConfig(base+"/wecom/callback", base+"/oa/callback", sim))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var acked atomic.Int64
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Minute / 1000)
	killed := false
	for i := range total {
		<-tick.C
		add := sim.ScanContactWay(ch.ConfigID, "", wecomtest.Contact{ExternalUserID: fmt.Sprintf("wmCrash%04d", i), Name: fmt.Sprintf("客户%d", i)}, false)
		r, err := drv.BuildWeCom(drv.WeComXML(add))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for { // resend until acknowledged, as WeCom does
				resp, err := client.Post(r.URL, "text/xml", bytes.NewReader(r.Body))
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						acked.Add(1)
						return
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		if i == total/2 && !killed {
			killed = true
			srv.kill9()
			time.Sleep(200 * time.Millisecond)
			srv = startServer(t, addr, dataDir, env...)
		}
	}
	tick.Stop()
	wg.Wait()
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(counts)
		mu.Unlock()
		if n == total {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for _, c := range counts {
		if c > 1 {
			twice++
		}
	}
	refused := sim.Calls("externalcontact/send_welcome_msg") - len(counts)
	t.Logf("adds=%d acked=%d welcomed=%d twice=%d send_calls_refused(41051 repeats)=%d", total, acked.Load(), len(counts), twice, refused)
	if len(counts) != total || twice != 0 {
		t.Errorf("%d of %d welcomed, %d twice", len(counts), total, twice)
	}
	_ = context.Background
}
