package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestSameNamedCustomersAndOfflineQuestionsEndToEnd drives issue 13's
// commands through the simulated corp and scrm's real callback and reply
// paths, without an LLM: two customers called 刘洋 get a numbered choice
// with company, phone tail and owner name; "查 2" and "查 <phone>" each name
// one; and the questions managers ask get rule-based answers.
func TestSameNamedCustomersAndOfflineQuestionsEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	for _, s := range []wecomtest.Staff{{UserID: "wangfang", Name: "王芳"}, {UserID: "zhangwei", Name: "张伟"}, {UserID: "limin", Name: "李明"}} {
		sim.AddStaff(s)
	}
	added := time.Now().Add(-2 * time.Hour)
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmLiuA", Name: "刘洋", Follow: []wecomtest.Follow{{UserID: "wangfang", CreateTime: added}}})
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmLiuB", Name: "刘洋", Follow: []wecomtest.Follow{{UserID: "zhangwei", CreateTime: added}}})

	a := startSimApp(t, sim, extensions{}, nil)
	ctx := context.Background()
	for _, s := range []*store.Staff{
		{ID: "limin", Name: "李明", Role: bot.RoleManager, Team: []string{"wangfang", "zhangwei"}, Active: true},
		{ID: "wangfang", Name: "王芳", Role: bot.RoleSales, Active: true},
		{ID: "zhangwei", Name: "张伟", Role: bot.RoleSales, Active: true},
	} {
		if err := a.store.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	send := func(m wecomtest.Msg) { t.Helper(); a.sendWeCom(t, m) }
	find := func(ext string) *store.Customer {
		c, err := a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: ext})
		if err != nil {
			return nil
		}
		return c
	}
	// The numbered list below is in the order the customers were created:
	// the second add waits for the first customer, or the two events,
	// processed in different lanes, could create them in either order.
	send(wecomtest.ContactEvent("add_external_contact", "wangfang", "wmLiuA", time.Now(), nil))
	waitFor(t, "the first customer", func() bool { return find("wmLiuA") != nil })
	send(wecomtest.ContactEvent("add_external_contact", "zhangwei", "wmLiuB", time.Now(), nil))
	waitFor(t, "both customers", func() bool {
		x, y := find("wmLiuA"), find("wmLiuB")
		return x != nil && y != nil && x.Name == "刘洋" && y.Name == "刘洋"
	})
	liuA := find("wmLiuA")
	adm := a.store.(store.CustomerAdmin)
	if _, err := adm.UpdateCustomer(ctx, liuA.ID, store.CustomerUpdate{Fields: map[string]string{"company": "杭州云帆贸易有限公司"},
		AddIdentities: []store.Identity{{Kind: store.IdentityPhone, Value: "13800138000"}},
		Insight:       &store.Insight{SentimentLabel: "negative", AnalyzedAt: time.Now()}, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}

	var seq int64 = 88_000_000
	ask := func(staff, text string) string {
		t.Helper()
		before := len(sim.SentTo(staff))
		seq++
		send(wecomtest.AppText(staff, text, seq, time.Now()))
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

	check("same names", ask("limin", "查 刘洋"), []string{"找到 2 位客户", "1. **刘洋** · 杭州云帆贸易有限公司 · 尾号 8000 · 负责人：王芳",
		"2. **刘洋** · 负责人：张伟"}, "wangfang", "zhangwei")
	check("查 2", ask("limin", "查 2"), []string{"**刘洋**", "负责人：张伟"}, "找到", "没有找到")
	check("查 <phone>", ask("limin", "查 13800138000"), []string{"**刘洋**", "负责人：王芳"}, "没有找到")
	check("查 <name> <company>", ask("limin", "查 刘洋 杭州云帆"), []string{"负责人：王芳"}, "找到 2")
	check("#ID", ask("limin", "查 #"+liuA.ID), []string{"负责人：王芳"}, "没有找到")
	check("someone else's", ask("zhangwei", "查 13800138000"), []string{"没有找到"}, "王芳")

	check("unhappy", ask("limin", "本周谁的客户最不满意？"), []string{"情绪消极最多：王芳（1 位）", "刘洋"}, "没看懂")
	check("follow-up", ask("limin", "哪些客户今天需要跟进？"), []string{"今天"}, "没看懂")
	check("staff report", ask("limin", "张伟最近怎么样？"), []string{"张伟 的近况", "跟进客户：1 位", "逾期提醒：0 条"}, "没看懂")
}
