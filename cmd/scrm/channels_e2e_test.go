package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// apiCall sends an admin API request and decodes the JSON answer into out.
func (s *simApp) apiCall(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.cfg.APIToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// TestChannelWelcomeEndToEnd is the issue's acceptance path: a channel made
// through the API is a contact way whose state identifies it; a signed add
// through it gets exactly one welcome, personalised, within 2 s; the
// customer's detail names the channel and carries its tags; adds through no
// channel get the default welcome, adds without a code none.
func TestChannelWelcomeEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	sim.AddStaff(wecomtest.Staff{UserID: "lisi", Name: "李四", Department: []int{1}})
	sim.AddStaff(wecomtest.Staff{UserID: "wangwu", Name: "王五", Department: []int{1}})
	outcomes := make(chan string, 16)
	a := startSimApp(t, sim, extensions{welcomeDone: func(code, outcome string) { outcomes <- outcome }}, func(cfg *config.Config) {
		cfg.APIToken = "e2e-api-token"
		cfg.WelcomeText = "欢迎#客户昵称#"
	})
	ctx := context.Background()

	var ch struct {
		store.Channel
		QRCodeImage string `json:"qr_code_image"`
	}
	if code := a.apiCall(t, "POST", "/api/v1/channels", map[string]any{"name": "展会海报", "staff": []any{"lisi", map[string]any{"userid": "wangwu",
		"schedule": []map[string]any{{"weekdays": []int{6}, "start": "00:00", "end": "00:01"}}}}, "tags": []string{"展会"},
		"welcome": map[string]any{"text": "#客户昵称#您好，我是#员工姓名#", "attachments": []map[string]any{{"type": "link", "title": "官网", "url": "https://example.com"}}}}, &ch); code != 201 {
		t.Fatalf("POST /channels: %d %+v", code, ch)
	}
	ways := sim.ContactWays()
	if len(ways) != 1 || ways[0].State != ch.State || ways[0].ConfigID != ch.ConfigID || ch.State == "" || len(ch.State) > 30 {
		t.Fatalf("contact ways %+v for channel %+v", ways, ch)
	}
	var bad map[string]any
	if code := a.apiCall(t, "POST", "/api/v1/channels", map[string]any{"name": "空", "staff": []string{}}, &bad); code != 400 {
		t.Errorf("a channel without staff: %d %v", code, bad)
	}

	req, _ := http.NewRequest("GET", a.base+ch.QRCodeImage, nil)
	req.Header.Set("Authorization", "Bearer "+a.cfg.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(resp.Body); err != nil || resp.StatusCode != 200 {
		t.Errorf("QR code download: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	// The salesperson's name comes from the staff directory, which the
	// start-up sync fills.
	waitFor(t, "the staff sync", func() bool { s, err := a.store.FindStaffByID(ctx, "lisi"); return err == nil && s.Name == "李四" })
	add := sim.ScanContactWay(ch.ConfigID, "lisi", wecomtest.Contact{ExternalUserID: "wmNew", Name: "赵六"}, false)
	start := time.Now()
	a.sendWeCom(t, add)
	waitFor(t, "the welcome", func() bool { return len(sim.Welcomes()) == 1 })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("welcome after %v, want < 2 s", d)
	}
	w := sim.Welcomes()[0]
	if w.Text != "赵六您好，我是李四" || w.ExternalUserID != "wmNew" || len(w.Attachments) != 1 {
		t.Errorf("welcome = %+v", w)
	}
	// A redelivered callback changes nothing.
	a.sendWeCom(t, add)

	var cu *store.Customer
	waitFor(t, "the customer", func() bool {
		cu, err = a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmNew"})
		return err == nil
	})
	var detail struct {
		Name    string               `json:"name"`
		Tags    []string             `json:"tags"`
		Channel *bot.CustomerChannel `json:"channel"`
	}
	waitFor(t, "the attribution", func() bool {
		a.apiCall(t, "GET", "/api/v1/customers/"+cu.ID, nil, &detail)
		return detail.Channel != nil && slices.Contains(detail.Tags, "展会")
	})
	if detail.Channel.Name != "展会海报" || detail.Channel.ID != ch.ID {
		t.Errorf("detail channel = %+v", detail.Channel)
	}
	var list struct {
		Items []store.Customer `json:"items"`
	}
	a.apiCall(t, "GET", "/api/v1/customers?channel="+ch.ID, nil, &list)
	if len(list.Items) != 1 || list.Items[0].ID != cu.ID {
		t.Errorf("customers?channel = %+v", list.Items)
	}

	// No channel: the default welcome; no code: none.
	a.sendWeCom(t, wecomtest.AddContactWithState("lisi", "wmPlain", "", sim.IssueWelcomeCode("lisi", "wmPlain"), time.Now()))
	a.sendWeCom(t, wecomtest.AddContactWithState("lisi", "wmNoCode", ch.State, "", time.Now()))
	waitFor(t, "the default welcome", func() bool { return len(sim.Welcomes()) == 2 })
	if got := sim.Welcomes()[1]; got.Text != "欢迎您" || got.ExternalUserID != "wmPlain" {
		t.Errorf("default welcome = %+v", got)
	}

	var stats bot.ChannelStats
	waitFor(t, "the numbers", func() bool {
		a.apiCall(t, "GET", "/api/v1/channels/"+ch.ID+"/stats", nil, &stats)
		return stats.Total.Adds == 2
	})
	if stats.Staff["lisi"].Adds != 2 || stats.Total.Net != 2 {
		t.Errorf("stats = %+v", stats)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(sim.Welcomes()); n != 2 {
		t.Errorf("%d welcomes, want 2", n)
	}
	close(outcomes)
	var got []string
	for o := range outcomes {
		got = append(got, o)
	}
	if strings.Count(strings.Join(got, ","), bot.WelcomeSent) != 2 {
		t.Errorf("outcomes = %v, want two sent", got)
	}

	if code := a.apiCall(t, "DELETE", "/api/v1/channels/"+ch.ID, nil, nil); code != 204 {
		t.Errorf("DELETE: %d", code)
	}
	if len(sim.ContactWays()) != 0 {
		t.Errorf("the contact way is still in WeCom")
	}
}
