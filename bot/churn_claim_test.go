package bot_test

import (
	"strings"
	"testing"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestChurnedCustomerGoesBackToTheFormerOwnersTeam is issue #11's finding
// 2 through the bot's command path: after the customer deletes their
// salesperson, their next message is offered to the former owner's
// manager, not the company; "接" by name or by number from another team
// finds nothing; a teammate may claim; the new owner reads the shared
// history but not the former owner's private note, which the manager still
// reads.
func TestChurnedCustomerGoesBackToTheFormerOwnersTeam(t *testing.T) {
	h := newIB(t, ibOptions{})
	// A second team: boss2 leads sales4.
	for _, s := range []*store.Staff{
		{ID: "sales4", Name: "孙销售", Role: bot.RoleSales, Active: true},
		{ID: "boss2", Name: "钱经理", Role: bot.RoleManager, Team: []string{"sales4"}, Active: true},
	} {
		if err := h.st.UpsertStaff(h.ctx, s); err != nil {
			t.Fatal(err)
		}
		h.sim.AddStaff(wecomtest.Staff{UserID: s.ID, Name: s.Name, Department: []int{2}})
	}
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oZhao", UnionID: "uZhao", Nickname: "赵六"})
	h.contact("sales1", "wmZhao", "赵六", "uZhao")
	h.customerOA("oZhao", "方案我看了")
	const shared, secret = "客户喜欢周末联系", "底价还能再降两成"
	if got := h.staffSays("sales1", "记 赵六 "+shared); !strings.Contains(got, "已记下") {
		t.Fatalf("记: %q", got)
	}
	if got := h.staffSays("sales1", "私记 赵六 "+secret); !strings.Contains(got, "私密") {
		t.Fatalf("私记: %q", got)
	}

	// The customer deletes sales1, then writes again.
	h.deliverWeCom(wecomtest.ContactEvent("del_follow_user", "sales1", "wmZhao", h.clock.Now(), nil))
	h.drain()
	c := h.customer(ibOA("oZhao"))
	if len(bot.ActiveOwners(c)) != 0 {
		t.Fatalf("follows after del_follow_user: %+v", c.Follows)
	}
	before := map[string]int{}
	for _, s := range []string{"sales1", "sales2", "boss", "sales4", "boss2"} {
		before[s] = len(h.sim.SentTo(s))
	}
	h.customerOA("oZhao", "还有优惠吗")
	offered := func(staff string) int { return len(h.sim.SentTo(staff)) - before[staff] }
	if offered("boss") != 1 {
		t.Fatalf("the former owner's manager got %d offers, want 1: %+v", offered("boss"), h.sim.SentTo("boss"))
	}
	for _, s := range []string{"sales4", "boss2", "sales2"} {
		if n := offered(s); n != 0 {
			t.Errorf("%s got %d messages about the churned customer, want 0", s, n)
		}
	}

	// Another team cannot reach the customer, by name or by number.
	for _, tc := range []struct{ staff, cmd string }{
		{"sales4", "接 赵六"}, {"sales4", "接 #" + c.ID}, {"boss2", "接 赵六"}, {"boss2", "接 #" + c.ID},
	} {
		if got := h.staffSays(tc.staff, tc.cmd); !strings.Contains(got, "没有找到待接待的客户") {
			t.Errorf("%s %q: %q, want refused", tc.staff, tc.cmd, got)
		}
	}
	// Nor by pressing a claim button with the customer's key.
	h.deliverWeCom(wecomtest.TemplateCardEvent("sales4", "t-forged", "button_interaction", "claim:"+c.ID, "rc-forged", h.clock.Now()))
	h.drain()
	if len(bot.ActiveOwners(h.customer(ibOA("oZhao")))) != 0 {
		t.Fatalf("another team claimed the churned customer: %+v", h.customer(ibOA("oZhao")).Follows)
	}
	if got := h.staffSays("sales4", "查 赵六"); strings.Contains(got, secret) || strings.Contains(got, shared) {
		t.Fatalf("another team reads the history: %q", got)
	}

	// A teammate of the former owner may claim.
	if got := h.staffSays("sales2", "接 赵六"); !strings.Contains(got, "你已接待 赵六") {
		t.Fatalf("teammate's 接: %q", got)
	}
	h.drain()
	if f := bot.ActiveOwners(h.customer(ibOA("oZhao"))); len(f) != 1 || f[0] != "sales2" {
		t.Fatalf("owners after the claim: %v", f)
	}
	card := h.staffSays("sales2", "查 赵六")
	if !strings.Contains(card, shared) || strings.Contains(card, secret) {
		t.Fatalf("new owner's card must show the shared note and not the private one:\n%s", card)
	}
	if card := h.staffSays("boss", "查 赵六"); !strings.Contains(card, secret) {
		t.Fatalf("the author's manager must read the private note:\n%s", card)
	}

	// A never-owned customer is still in the shared pool for anyone.
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oNew", Nickname: "新客"})
	h.customerOA("oNew", "你好")
	if got := h.staffSays("sales4", "接 新客"); !strings.Contains(got, "你已接待 新客") {
		t.Fatalf("接 a never-owned customer: %q", got)
	}
}
