package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
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
	t.Cleanup(func() { sim.Close() }) // after the app stops (cleanups run last first)
	for _, s := range []wecomtest.Staff{{UserID: "lisi", Name: "李四"}, {UserID: "wangwu", Name: "王五"}} {
		sim.AddStaff(s)
	}
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmZhang", Name: "张三",
		Follow: []wecomtest.Follow{{UserID: "lisi", Remark: "张总", CreateTime: time.Now().Add(-time.Hour)}}})

	a := startSimApp(t, sim, extensions{}, func(cfg *config.Config) { cfg.APIToken = "e2e-api-token" })
	ctx := context.Background()
	var err error
	for _, s := range []*store.Staff{{ID: "lisi", Name: "李四", Role: "sales", Active: true}, {ID: "wangwu", Name: "王五", Role: "sales", Active: true}} {
		if err := a.store.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.drv.SendWeCom(ctx, wecomtest.ContactEvent("add_external_contact", "lisi", "wmZhang", time.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	var c *store.Customer
	waitFor(t, "the customer", func() bool {
		c, err = a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZhang"})
		return err == nil && c.Name == "张三"
	})

	body, _ := json.Marshal(map[string]any{"from": "lisi", "to": "wangwu", "message": "您好，后续由我的同事王五为您服务"})
	req, _ := http.NewRequest("POST", a.base+"/api/v1/customers/"+c.ID+"/handover", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.cfg.APIToken)
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

	waitFor(t, "WeCom to hold the handover", func() bool { return len(sim.PendingHandovers()) == 1 })
	if p := sim.PendingHandovers()[0]; p.SuccessMsg != "您好，后续由我的同事王五为您服务" || p.TakeoverUserID != "wangwu" {
		t.Fatalf("WeCom holds %+v", p)
	}
	settled, err := sim.SettleHandover("wmZhang", wecom.HandoverDone)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.drv.SendHandoverCallbacks(ctx, settled); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the takeover", func() bool {
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
