package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestHandoverEndToEnd runs scrm as `serve` does against the simulated corp:
// an admin hands 张三 from lisi to wangwu through the API, the handover job
// starts it in WeCom, WeCom takes the customer over and sends its callbacks,
// and scrm records the takeover without reading it as churn.
func TestHandoverEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	defer sim.Close()
	for _, s := range []wecomtest.Staff{{UserID: "lisi", Name: "李四"}, {UserID: "wangwu", Name: "王五"}} {
		sim.AddStaff(s)
	}
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmZhang", Name: "张三",
		Follow: []wecomtest.Follow{{UserID: "lisi", Remark: "张总", CreateTime: time.Now().Add(-time.Hour)}}})

	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.APIToken = "e2e-api-token"
	cfg.WeComCorpID, cfg.WeComAgentID = wecomtest.SimCorpID, wecomtest.SimAgentID
	cfg.WeComSecret, cfg.WeComContactSecret = wecomtest.SimAppSecret, wecomtest.SimContactSecret
	cfg.WeComToken, cfg.WeComAESKey, cfg.WeComAPIBase = wecomtest.SimToken, wecomtest.SimAESKey, sim.URL
	cfg.SQLiteSynchronous = "NORMAL"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := startApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), extensions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.stop(); err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + a.addr.String()
	drv, err := wecomtest.NewDriver(wecomtest.SimDriverConfig(base+"/wecom/callback", base+"/oa/callback", sim))
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, s := range []*store.Staff{{ID: "lisi", Name: "李四", Role: "sales", Active: true}, {ID: "wangwu", Name: "王五", Role: "sales", Active: true}} {
		if err := a.store.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := drv.SendWeCom(ctx, wecomtest.ContactEvent("add_external_contact", "lisi", "wmZhang", time.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	var c *store.Customer
	waitFor("the customer", func() bool {
		c, err = a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZhang"})
		return err == nil && c.Name == "张三"
	})

	body, _ := json.Marshal(map[string]any{"from": "lisi", "to": "wangwu", "message": "您好，后续由我的同事王五为您服务"})
	req, _ := http.NewRequest("POST", base+"/api/v1/customers/"+c.ID+"/handover", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cfg.APIToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("handover: %d %s", resp.StatusCode, answer)
	}

	waitFor("WeCom to hold the handover", func() bool { return len(sim.PendingHandovers()) == 1 })
	if p := sim.PendingHandovers()[0]; p.SuccessMsg != "您好，后续由我的同事王五为您服务" || p.TakeoverUserID != "wangwu" {
		t.Fatalf("WeCom holds %+v", p)
	}
	settled, err := sim.SettleHandover("wmZhang", wecom.HandoverDone)
	if err != nil {
		t.Fatal(err)
	}
	if err := drv.SendHandoverCallbacks(ctx, settled); err != nil {
		t.Fatal(err)
	}
	waitFor("the takeover", func() bool {
		s, err := bot.FindHandover(ctx, a.store, c.ID, "lisi")
		return err == nil && s != nil && s.Status == bot.HandoverDone
	})
	c, err = a.store.FindCustomerByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(c.Follows, func(f store.Follow) bool { return f.StaffID == "wangwu" })
	j := slices.IndexFunc(c.Follows, func(f store.Follow) bool { return f.StaffID == "lisi" })
	if i < 0 || c.Follows[i].Deleted || c.Follows[i].Remark != "张总" || j < 0 || !c.Follows[j].Deleted {
		t.Fatalf("follows %+v", c.Follows)
	}
	if c.Stage == store.StageLost {
		t.Error("the handover made the customer lost")
	}
	rs, err := a.store.FindReminders(ctx, store.ReminderFilter{CustomerID: c.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Kind == store.ReminderChurn {
			t.Errorf("churn alert after a handover: %+v", r)
		}
	}
}
