package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestChannelCommandEndToEnd drives the bot's 渠道 through the simulated
// corp: two channels made through the API, three adds and a deletion
// through WeCom's callbacks; a manager's 渠道 lists both with today's and
// the week's numbers (the busiest first), 渠道 名称 shows one in detail with
// its members, an unknown name is said so, and a salesperson is refused
// politely with no numbers.
func TestChannelCommandEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	for _, s := range []wecomtest.Staff{{UserID: "lisi", Name: "李四", Department: []int{1}}, {UserID: "wangwu", Name: "王五", Department: []int{1}},
		{UserID: "limin", Name: "李明", Department: []int{1}}} {
		sim.AddStaff(s)
	}
	a := startSimApp(t, sim, extensions{}, func(cfg *config.Config) { cfg.APIToken = "e2e-api-token" })
	ctx := context.Background()
	waitFor(t, "the staff sync", func() bool { s, err := a.store.FindStaffByID(ctx, "wangwu"); return err == nil && s.Name == "王五" })
	for _, s := range []*store.Staff{
		{ID: "limin", Name: "李明", Role: bot.RoleManager, Team: []string{"lisi", "wangwu"}, Active: true},
		{ID: "lisi", Name: "李四", Role: bot.RoleSales, Active: true},
		{ID: "wangwu", Name: "王五", Role: bot.RoleSales, Active: true},
	} {
		if err := a.store.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	var poster, web store.Channel
	if code := a.apiCall(t, "POST", "/api/v1/channels", map[string]any{"name": "展会海报", "staff": []string{"lisi", "wangwu"}, "tags": []string{"展会"},
		"welcome": map[string]any{"text": "您好"}}, &poster); code != 201 {
		t.Fatalf("POST /channels: %d", code)
	}
	if code := a.apiCall(t, "POST", "/api/v1/channels", map[string]any{"name": "官网客服", "staff": []string{"wangwu"}}, &web); code != 201 {
		t.Fatalf("POST /channels: %d", code)
	}
	for _, add := range []struct{ way, user, ext, name string }{
		{poster.ConfigID, "lisi", "wmA", "赵一"}, {poster.ConfigID, "wangwu", "wmB", "钱二"}, {web.ConfigID, "wangwu", "wmC", "孙三"},
	} {
		a.sendWeCom(t, sim.ScanContactWay(add.way, add.user, wecomtest.Contact{ExternalUserID: add.ext, Name: add.name}, false))
	}
	count := func(id string) int {
		evs, err := a.store.FindChannelEvents(ctx, store.ChannelEventFilter{ChannelID: id, Kind: store.ChannelEventAdd})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	waitFor(t, "the attributions", func() bool { return count(poster.ID) == 2 && count(web.ID) == 1 })
	a.sendWeCom(t, wecomtest.ContactEvent("del_follow_user", "wangwu", "wmB", time.Now(), nil))
	waitFor(t, "the deletion", func() bool {
		evs, _ := a.store.FindChannelEvents(ctx, store.ChannelEventFilter{ChannelID: poster.ID, Kind: store.ChannelEventDelete})
		return len(evs) == 1
	})

	var seq int64 = 77_000_000
	ask := func(staff, text string) string {
		t.Helper()
		before := len(sim.SentTo(staff))
		seq++
		a.sendWeCom(t, wecomtest.AppText(staff, text, seq, time.Now()))
		var reply string
		waitFor(t, "the reply to "+text, func() bool {
			got := sim.SentTo(staff)
			if len(got) > before {
				reply = got[before].Content
				return true
			}
			return false
		})
		return reply
	}
	check := func(what, reply string, want []string, not ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(reply, w) {
				t.Fatalf("%s: reply lacks %q:\n%s", what, w, reply)
			}
		}
		for _, n := range not {
			if strings.Contains(reply, n) {
				t.Fatalf("%s: reply contains %q:\n%s", what, n, reply)
			}
		}
	}
	list := ask("limin", "渠道")
	check("渠道", list, []string{"**渠道活码**（2 个", "合计 今天：新增 3 · 删除 1 · 净增 2", "合计 近 7 天：新增 3 · 删除 1 · 净增 2",
		"**展会海报**\n> 今天 新增 2 · 删除 1 · 净增 1｜7 天 新增 2 · 删除 1 · 净增 1",
		"**官网客服**\n> 今天 新增 1 · 删除 0 · 净增 1｜7 天 新增 1 · 删除 0 · 净增 1"}, "没看懂")
	if strings.Index(list, "展会海报") > strings.Index(list, "官网客服") {
		t.Errorf("the busier channel is not first:\n%s", list)
	}
	check("渠道 名称", ask("limin", "渠道 展会海报"), []string{"**渠道 · 展会海报**", "接待员工：李四、王五", "自动标签：展会",
		"今天：新增 2 · 删除 1 · 净增 1", "近 30 天：新增 2 · 删除 1 · 净增 1", "李四：新增 1 · 删除 0 · 净增 1", "王五：新增 1 · 删除 1 · 净增 0"}, "官网客服")
	check("partial name", ask("limin", "渠道 官网"), []string{"**渠道 · 官网客服**", "今天：新增 1"})
	check("unknown", ask("limin", "渠道 地铁广告"), []string{"没有找到渠道“地铁广告”"})
	check("sales", ask("lisi", "渠道"), []string{"主管和管理员的功能"}, "新增 2", "展会海报")
	// The customer card says where the customer came from.
	check("查 card", ask("lisi", "查 赵一"), []string{"**赵一**", "来源渠道：展会海报"}, "官网客服")
	check("查 card, another channel", ask("limin", "查 孙三"), []string{"来源渠道：官网客服"}, "展会海报")
	if len(list) > 2048 {
		t.Errorf("reply of %d bytes, WeCom allows 2048", len(list))
	}
}
