package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestCustomerGroupsEndToEnd runs scrm as `serve` does against the simulated
// corp: a group that existed before start arrives by the start-up sync, a
// new one by its change_external_chat callback, a member's leaving lands on
// their timeline, and the customer's detail in the API lists their groups.
func TestCustomerGroupsEndToEnd(t *testing.T) {
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() }) // after the app stops (cleanups run last first)
	sim.AddStaff(wecomtest.Staff{UserID: "lisi", Name: "李四"})
	sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wmZhang", Name: "张三",
		Follow: []wecomtest.Follow{{UserID: "lisi", CreateTime: time.Now().Add(-time.Hour)}}})
	oldChat, _ := sim.AddGroupChat(wecomtest.GroupChat{Name: "老客户群", Owner: "lisi",
		Members: []wecomtest.GroupMember{{UserID: "wmZhang"}}})

	a := startSimApp(t, sim, extensions{}, func(cfg *config.Config) { cfg.APIToken = "e2e-api-token" })
	ctx := context.Background()
	var err error
	send := func(m wecomtest.Msg) { t.Helper(); a.sendWeCom(t, m) }
	groupsOf := func(id string) []string {
		gs, err := a.store.FindCustomerGroups(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.Name)
		}
		return out
	}

	send(wecomtest.ContactEvent("add_external_contact", "lisi", "wmZhang", time.Now(), nil))
	var c *store.Customer
	waitFor(t, "the customer", func() bool {
		c, err = a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZhang"})
		return err == nil
	})
	waitFor(t, "the start-up sync", func() bool { return strings.Join(groupsOf(c.ID), ",") == "老客户群" })

	newChat, create := sim.AddGroupChat(wecomtest.GroupChat{Name: "新品体验群", Owner: "lisi",
		Members: []wecomtest.GroupMember{{UserID: "wmZhang", JoinScene: 3}}})
	send(create)
	waitFor(t, "the new group", func() bool { return len(groupsOf(c.ID)) == 2 })
	send(sim.LeaveGroupChat(oldChat, false, "wmZhang"))
	waitFor(t, "the leave", func() bool { return strings.Join(groupsOf(c.ID), ",") == "新品体验群" })
	// The processor stores the membership before the timeline entry that
	// tells of it, so wait for both entries, then check their order.
	var texts []string
	groupEntries := func() []string {
		entries, err := a.store.FindTimeline(ctx, c.ID, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			if e.Attrs["chat_id"] != "" {
				out = append(out, e.Text)
			}
		}
		return out
	}
	waitFor(t, "the group entries", func() bool { texts = groupEntries(); return len(texts) >= 2 })
	if strings.Join(texts, "|") != "退出客户群「老客户群」|加入客户群「新品体验群」" {
		t.Errorf("group entries, newest first = %q", texts)
	}

	req, _ := http.NewRequest("GET", a.base+"/api/v1/customers/"+c.ID, nil)
	req.Header.Set("Authorization", "Bearer "+a.cfg.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var detail struct {
		Name   string                `json:"name"`
		Groups []store.CustomerGroup `json:"groups"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&detail); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET customer: %d %v", resp.StatusCode, err)
	}
	if detail.Name != "张三" || len(detail.Groups) != 1 || detail.Groups[0].ChatID != newChat || detail.Groups[0].OwnerID != "lisi" {
		t.Errorf("customer detail = %+v", detail)
	}
}
