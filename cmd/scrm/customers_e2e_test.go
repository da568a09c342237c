package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestCustomerStoryEndToEnd is issue 4's acceptance story, driven through the
// simulated corp and scrm's real callback, API and push paths: a customer
// adds two salespeople, tags are edited in "WeCom" and in scrm, the customer
// deletes one salesperson, and a manager hands the customer over to a
// colleague. After each step the customer record, the tags on both sides
// and the timeline must be right, and the deleted salesperson, their
// manager and the customer's owner must have been alerted — while the
// handover, which also ends a follow in WeCom, must alert nobody.
func TestCustomerStoryEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() }) // after the app stops (cleanups run last first)
	for _, s := range []wecomtest.Staff{{UserID: "lisi", Name: "李四"}, {UserID: "wangwu", Name: "王五"},
		{UserID: "zhouqi", Name: "周七"}, {UserID: "boss", Name: "赵主管"}} {
		sim.AddStaff(s)
	}
	_, vip := sim.AddTag("客户等级", "VIP")
	_, normal := sim.AddTag("客户等级", "普通")
	_, edu := sim.AddTag("行业", "教育")
	added := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	zhang := func(follows ...wecomtest.Follow) {
		sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmZhang", Name: "张三", Follow: follows})
	}
	zhang(wecomtest.Follow{UserID: "lisi", Remark: "张总", State: "expo2026", CreateTime: added, TagIDs: []string{vip}},
		wecomtest.Follow{UserID: "wangwu", CreateTime: added.Add(time.Hour)})

	const adminToken = "story-admin-token-0123456789"
	a := startSimApp(t, sim, extensions{}, func(cfg *config.Config) { cfg.APIToken = adminToken })
	ctx := context.Background()
	// The manager's team, as an admin sets it (the address book here has
	// no departments to derive it from).
	for _, s := range []*store.Staff{
		{ID: "boss", Name: "赵主管", Role: bot.RoleManager, Team: []string{"lisi", "wangwu", "zhouqi"}, Active: true},
		{ID: "lisi", Name: "李四", Role: bot.RoleSales, Active: true},
		{ID: "wangwu", Name: "王五", Role: bot.RoleSales, Active: true},
		{ID: "zhouqi", Name: "周七", Role: bot.RoleSales, Active: true},
	} {
		if err := a.store.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	send := func(m wecomtest.Msg) { t.Helper(); a.sendWeCom(t, m) }
	api := func(method, path string, body any, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, a.base+path, rd)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if out != nil && resp.StatusCode < 300 {
			if err := json.Unmarshal(raw, out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, raw)
			}
		}
		return resp.StatusCode
	}
	customer := func() *store.Customer {
		c, err := a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZhang"})
		if err != nil {
			return nil
		}
		return c
	}
	follows := func(c *store.Customer) (active, ended []string) {
		for _, f := range c.Follows {
			if f.Deleted {
				ended = append(ended, f.StaffID)
			} else {
				active = append(active, f.StaffID)
			}
		}
		slices.Sort(active)
		slices.Sort(ended)
		return active, ended
	}
	wecomTags := func(staff string) []string {
		c, ok := sim.ExternalContact("wmZhang")
		if !ok {
			t.Fatal("the contact vanished from the simulator")
		}
		for _, f := range c.Follow {
			if f.UserID == staff {
				return slices.Sorted(slices.Values(f.TagIDs))
			}
		}
		return nil
	}
	alerts := func(to string) []wecomtest.SentMessage {
		var out []wecomtest.SentMessage
		for _, m := range sim.SentTo(to) {
			if strings.Contains(string(m.Raw), "流失预警") || strings.Contains(string(m.Raw), "可能已流失") {
				out = append(out, m)
			}
		}
		return out
	}

	// 1. The customer adds 李四, then 王五: one customer, two follows, the
	// acquisition channel and the WeCom tag.
	send(wecomtest.ContactEvent("add_external_contact", "lisi", "wmZhang", added, map[string]string{"State": "expo2026"}))
	send(wecomtest.ContactEvent("add_external_contact", "wangwu", "wmZhang", added.Add(time.Hour), nil))
	var c *store.Customer
	waitFor(t, "two follows of 张三", func() bool {
		c = customer()
		if c == nil {
			return false
		}
		active, _ := follows(c)
		return c.Name == "张三" && slices.Equal(active, []string{"lisi", "wangwu"})
	})
	for _, f := range c.Follows {
		if f.StaffID == "lisi" && (f.State != "expo2026" || f.Remark != "张总" || !f.AddedAt.Equal(added)) {
			t.Errorf("lisi's follow = %+v, want state expo2026, remark 张总, added %s", f, added)
		}
	}
	waitFor(t, "the WeCom tag in scrm", func() bool { return slices.Equal(customer().Tags, []string{"VIP"}) })

	// 2. 王五 tags the customer 教育 in WeCom: the edit event brings it in.
	zhang(wecomtest.Follow{UserID: "lisi", Remark: "张总", State: "expo2026", CreateTime: added, TagIDs: []string{vip}},
		wecomtest.Follow{UserID: "wangwu", CreateTime: added.Add(time.Hour), TagIDs: []string{edu}})
	send(wecomtest.ContactEvent("edit_external_contact", "wangwu", "wmZhang", time.Now(), nil))
	waitFor(t, "the tag set in WeCom", func() bool { return slices.Equal(customer().Tags, []string{"VIP", "教育"}) })

	// 3. In scrm, a manager swaps VIP for 普通: written back to every follow
	// in WeCom with mark_tag.
	if code := api("PATCH", "/api/v1/customers/"+c.ID, map[string]any{"add_tags": []string{"普通"}, "remove_tags": []string{"VIP"}}, nil); code != 200 {
		t.Fatalf("PATCH tags: %d", code)
	}
	waitFor(t, "the write-back to WeCom", func() bool {
		for _, s := range []string{"lisi", "wangwu"} {
			tags := wecomTags(s)
			if !slices.Contains(tags, normal) || slices.Contains(tags, vip) {
				return false
			}
		}
		return true
	})
	if got := customer().Tags; !slices.Equal(got, []string{"教育", "普通"}) {
		t.Fatalf("scrm tags after the edit: %v", got)
	}

	// 4. The customer deletes 王五: the follow ends, the customer stays
	// (李四 still follows), and 王五, the manager and 李四 are alerted.
	zhang(wecomtest.Follow{UserID: "lisi", Remark: "张总", State: "expo2026", CreateTime: added, TagIDs: wecomTags("lisi")})
	send(wecomtest.ContactEvent("del_follow_user", "wangwu", "wmZhang", time.Now(), nil))
	waitFor(t, "the ended follow", func() bool {
		active, ended := follows(customer())
		return slices.Equal(active, []string{"lisi"}) && slices.Equal(ended, []string{"wangwu"})
	})
	// 王五, their manager and the owner who still follows (李四) are told.
	waitFor(t, "the churn alerts", func() bool {
		return len(alerts("wangwu")) == 1 && len(alerts("boss")) == 1 && len(alerts("lisi")) == 1
	})
	if st := customer().Stage; st == store.StageLost {
		t.Fatalf("stage %s while 李四 still follows", st)
	}

	// 5. The manager hands the customer from 李四 to 周七 (在职继承). WeCom
	// takes the customer over when they do not refuse; its callbacks tell
	// scrm, which moves the follow, keeps the remark and tags, and treats
	// the follow WeCom ended for the handover as no churn.
	var pending struct {
		Status string `json:"status"`
	}
	if code := api("POST", "/api/v1/customers/"+c.ID+"/handover", map[string]string{"from": "lisi", "to": "zhouqi"}, &pending); code != 202 {
		t.Fatalf("POST handover: %d", code)
	}
	waitFor(t, "the handover in WeCom", func() bool { return len(sim.PendingHandovers()) == 1 })
	settled, err := sim.SettleHandover("wmZhang", wecom.HandoverDone)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range settled.Callbacks {
		send(m)
	}
	timeline := func() string {
		var page struct {
			Items []store.TimelineEntry `json:"items"`
		}
		if code := api("GET", "/api/v1/customers/"+c.ID+"/timeline?limit=100", nil, &page); code != 200 {
			t.Fatalf("GET timeline: %d", code)
		}
		var texts []string
		for _, e := range slices.Backward(page.Items) {
			texts = append(texts, e.Text)
		}
		return strings.Join(texts, "\n")
	}
	waitFor(t, "the takeover on the timeline", func() bool { return strings.Contains(timeline(), "已由 周七 接替") })
	waitFor(t, "周七 to follow the customer", func() bool {
		active, ended := follows(customer())
		return slices.Equal(active, []string{"zhouqi"}) && slices.Equal(ended, []string{"lisi", "wangwu"})
	})
	c = customer()
	for _, f := range c.Follows {
		if f.StaffID == "zhouqi" && f.Remark != "张总" {
			t.Errorf("周七's follow lost the remark: %+v", f)
		}
	}
	if c.Stage == store.StageLost {
		t.Errorf("stage %s after a handover", c.Stage)
	}
	if got := c.Tags; !slices.Equal(got, []string{"教育", "普通"}) {
		t.Errorf("scrm tags after the handover: %v", got)
	}
	if tags := wecomTags("zhouqi"); !slices.Contains(tags, normal) || slices.Contains(tags, vip) {
		t.Errorf("周七's tags in WeCom: %v", tags)
	}

	// 6. The timeline tells the whole story, oldest first here, through the API.
	story := timeline()
	for _, want := range []string{"添加了员工 李四", "添加了员工 王五", "员工 王五 修改了客户信息",
		"客户删除了员工 王五", "转交给 周七", "已由 周七 接替"} {
		if !strings.Contains(story, want) {
			t.Errorf("timeline lacks %q:\n%s", want, story)
		}
	}
	if i, j := strings.Index(story, "转交给 周七"), strings.Index(story, "周七 接替"); i < 0 || j < i {
		t.Errorf("handover entries out of order:\n%s", story)
	}

	// Several pushes later: nobody was alerted about the handover, and each
	// churn alert went out once.
	time.Sleep(3 * time.Second)
	if n, m, k := len(alerts("wangwu")), len(alerts("boss")), len(alerts("lisi")); n != 1 || m != 1 || k != 1 {
		t.Errorf("churn alerts: 王五 %d, manager %d, 李四 %d; want 1 each (none for the handover)", n, m, k)
	}
}
