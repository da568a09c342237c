package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestOAWelcomeEndToEnd: a channel that is an Official Account QR code
// (made through the API, qrcode/create in the simulator) welcomes whoever
// follows through it (subscribe, EventKey qrscene_<scene>) or scans it as a
// follower (SCAN) with one customer-service message, nickname filled in:
// exactly once per follow event, a redelivered callback sending nothing
// more. Follows without a scene or through a code scrm did not make get
// nothing, and a follow whose window has closed (the simulator's OA rules)
// is given up, not retried for ever.
func TestOAWelcomeEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	a := startSimApp(t, sim, extensions{}, func(cfg *config.Config) {
		cfg.APIToken = "e2e-api-token"
		cfg.OAAppID, cfg.OAAppSecret = wecomtest.SimOAAppID, wecomtest.SimOAAppSecret
		cfg.OAToken, cfg.OAAESKey, cfg.OAAPIBase = wecomtest.SimOAToken, wecomtest.SimOAAESKey, sim.URL
	})
	ctx := context.Background()
	var ch store.Channel
	if code := a.apiCall(t, "POST", "/api/v1/channels", map[string]any{"name": "公众号推文", "kind": "oa_qrcode", "tags": []string{"公众号"},
		"welcome": map[string]any{"text": "#客户昵称#，感谢关注蓝鲸智能办公！回复“资料”获取产品手册。"}}, &ch); code != 201 {
		t.Fatalf("POST /channels: %d", code)
	}
	if scene, ok := sim.OAQRScene(ch.ConfigID); !ok || scene != ch.State {
		t.Fatalf("qrcode/create scene %q %v, channel %+v", scene, ok, ch)
	}
	sentTo := func(openID string) []wecomtest.SentMessage {
		var out []wecomtest.SentMessage
		for _, m := range sim.Sent() {
			if m.Channel == wecomtest.SentOA && m.To == openID {
				out = append(out, m)
			}
		}
		return out
	}
	processed := func() bool {
		_, err := a.store.OldestUnprocessed(ctx)
		return err != nil
	}

	sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oFollowA", Nickname: "周七"})
	follow := wecomtest.OASubscribeQR("oFollowA", ch.State, ch.ConfigID, time.Now())
	a.sendOA(t, follow)
	waitFor(t, "the welcome", func() bool { return len(sentTo("oFollowA")) == 1 })
	if got := sentTo("oFollowA")[0].Content; !strings.HasSuffix(got, "，感谢关注蓝鲸智能办公！回复“资料”获取产品手册。") {
		t.Errorf("welcome = %q", got)
	}
	a.sendOA(t, follow) // WeChat redelivers a callback it had no answer to
	// A follower scanning the code again is a new follow event: one more.
	sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oFollowB", Nickname: "吴八"})
	a.sendOA(t, wecomtest.OAScan("oFollowB", ch.State, ch.ConfigID, time.Now()))
	waitFor(t, "the scan's welcome", func() bool { return len(sentTo("oFollowB")) == 1 })
	if got := sentTo("oFollowB")[0].Content; !strings.HasPrefix(got, "吴八，感谢关注") {
		t.Errorf("welcome = %q", got)
	}
	// No scene, or a scene scrm did not make: no welcome.
	a.sendOA(t, wecomtest.OASubscribe("oPlain", time.Now()))
	a.sendOA(t, wecomtest.OASubscribeQR("oOther", "someone-elses", "gQother", time.Now()))
	// A follow long past: its window has closed, the welcome is given up.
	a.sendOA(t, wecomtest.OAScan("oLate", ch.State, ch.ConfigID, time.Now().Add(-49*time.Hour)))
	waitFor(t, "the events processed", processed)
	time.Sleep(300 * time.Millisecond)
	for id, want := range map[string]int{"oFollowA": 1, "oFollowB": 1, "oPlain": 0, "oOther": 0, "oLate": 0} {
		if n := len(sentTo(id)); n != want {
			t.Errorf("%s: %d messages, want %d", id, n, want)
		}
	}
	// The follower is attributed to the channel and tagged.
	cu, err := a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: "oFollowA"})
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := a.store.FindChannelEvents(ctx, store.ChannelEventFilter{CustomerID: cu.ID, ChannelID: ch.ID})
	if len(evs) != 1 {
		t.Errorf("channel events of the follower: %+v", evs)
	}
}
