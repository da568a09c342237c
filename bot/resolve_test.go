package bot_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// sameNames seeds three customers called 刘洋: lisi's WeCom contact at
// 杭州云帆 (phone 13800138000), wangwu's at 宁波海拓, and lisi's imported one
// known only by phone. Staff have names, so replies can name them.
func sameNames(t *testing.T, e *rmEnv) (a, b, c *store.Customer) {
	t.Helper()
	ctx := context.Background()
	putStaff(t, e.st,
		&store.Staff{ID: "lisi", Name: "李思", Role: bot.RoleSales, Active: true},
		&store.Staff{ID: "wangwu", Name: "王武", Role: bot.RoleSales, Active: true},
		&store.Staff{ID: "boss", Name: "老板", Role: bot.RoleManager, Team: []string{"lisi", "wangwu"}, Active: true},
	)
	a = e.customer("wmLiuA", "刘洋", "lisi", t0.Add(-time.Hour))
	b = e.customer("wmLiuB", "刘洋", "wangwu", t0.Add(-time.Hour))
	var err error
	if a, err = e.st.UpdateCustomer(ctx, a.ID, store.CustomerUpdate{Fields: map[string]string{"company": "杭州云帆贸易有限公司"},
		AddIdentities: []store.Identity{{Kind: store.IdentityPhone, Value: "13800138000"}}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if b, err = e.st.UpdateCustomer(ctx, b.ID, store.CustomerUpdate{Fields: map[string]string{"公司": "宁波海拓机械"}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if c, err = e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityPhone, Value: "13900001111"},
		Name: "刘洋", Follow: &store.Follow{StaffID: "lisi", State: "import", AddedAt: t0}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	return a, b, c
}

// TestResolverNamesSameNamedCustomers: same names get a numbered choice
// with company, phone tail and owner name; the number, #ID, a phone and a
// name with a company all name one customer, for 查 and for the commands
// that act (记, 阶段); a salesperson never reaches a colleague's customer.
func TestResolverNamesSameNamedCustomers(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu", "boss")
	a, b, c := sameNames(t, e)

	list := e.say("boss", "查 刘洋")
	wantIn(t, "list", list, []string{"找到 3 位客户", "查 2", "1. **刘洋** · 杭州云帆贸易有限公司 · 尾号 8000 · 负责人：李思",
		"2. **刘洋** · 宁波海拓机械 · 负责人：王武", "3. **刘洋** · 尾号 1111 · 负责人：李思", "#" + b.ID}, "负责人：lisi")
	wantIn(t, "查 2", e.say("boss", "查 2"), []string{"**刘洋**", "负责人：王武"}, "负责人：李思", "找到")
	wantIn(t, "name and company", e.say("boss", "查 刘洋 杭州云帆"), []string{"**刘洋**", "负责人：李思"}, "找到", "没有找到")
	wantIn(t, "name and phone tail", e.say("boss", "查 刘洋 1111"), []string{"**刘洋**", "负责人：李思"}, "找到")
	wantIn(t, "name and owner", e.say("boss", "查 刘洋 王武"), []string{"负责人：王武"}, "找到")
	wantIn(t, "phone", e.say("boss", "查 13800138000"), []string{"**刘洋**", "负责人：李思"}, "没有找到")
	wantIn(t, "phone with country code", e.say("boss", "查 +86-138-0013-8000"), []string{"负责人：李思"}, "没有找到")
	wantIn(t, "#ID", e.say("boss", "查 #"+b.ID), []string{"负责人：王武"}, "没有找到")

	// lisi sees only her two.
	wantIn(t, "colleague's by ID", e.say("lisi", "查 #"+b.ID), []string{"没有找到"}, "王武")
	wantIn(t, "colleague's by name and owner", e.say("lisi", "查 刘洋 宁波海拓"), []string{"找到 2 位客户"}, "宁波海拓")
	wantIn(t, "out of range", e.say("lisi", "查 3"), []string{"只有 2 位"})
	wantIn(t, "note by number", e.say("lisi", "记 2 电话沟通过了"), []string{"已记下", "电话沟通过了"})
	es, err := e.st.FindTimeline(context.Background(), c.ID, 0, 10)
	if err != nil || len(es) == 0 || es[0].Kind != store.EntryNote || es[0].Text != "电话沟通过了" {
		t.Fatalf("the note did not reach the second choice (%s): %+v %v", c.ID, es, err)
	}
	// The choice is lisi's own: boss's last list was another.
	wantIn(t, "boss's list is boss's", e.say("boss", "查 3"), []string{"负责人：李思", "电话沟通过了"}, "没有找到")

	// A stage, on the customer a name and company name.
	wantIn(t, "stage", e.say("boss", "阶段 刘洋 杭州云帆 已成交"), []string{"已更新", store.StageWon})
	if got, _ := e.st.FindCustomerByID(context.Background(), a.ID); got.Stage != store.StageWon {
		t.Fatalf("stage %q, want %q", got.Stage, store.StageWon)
	}
	wantIn(t, "sales can't set someone else's", e.say("lisi", "阶段 #"+b.ID+" 流失"), []string{"没有找到"})

	// Choices expire.
	e.say("lisi", "查 刘洋")
	e.clk.Add(31 * time.Minute)
	wantIn(t, "expired", e.say("lisi", "查 1"), []string{"已失效"})
}

// TestRemindPastClockMeansTomorrow: "早上八点" said at ten is tomorrow at
// eight, and the reply says so.
func TestRemindPastClockMeansTomorrow(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu", "boss")
	a, _, _ := sameNames(t, e)
	reply := e.say("lisi", "提醒 刘洋 杭州云帆 早上八点 回访")
	wantIn(t, "remind", reply, []string{"已设为明天 08:00", "回访"})
	rs, err := e.st.FindReminders(context.Background(), store.ReminderFilter{CustomerID: a.ID})
	if err != nil || len(rs) != 1 {
		t.Fatalf("reminders %v %v", rs, err)
	}
	if want := time.Date(2026, 11, 25, 8, 0, 0, 0, rmLoc); !rs[0].DueAt.Equal(want) || rs[0].Text != "回访" {
		t.Fatalf("due %v text %q, want %v 回访", rs[0].DueAt.In(rmLoc), rs[0].Text, want)
	}
}

// TestMyCustomersPages: 我的客户 2 shows the second page.
func TestMyCustomersPages(t *testing.T) {
	e := newRmEnv(t, "lisi")
	for i := range 25 {
		e.customer(fmt.Sprintf("wmP%02d", i), fmt.Sprintf("客户%02d", i), "lisi", t0)
	}
	first := e.say("lisi", "我的客户")
	wantIn(t, "page 1", first, []string{"前 20 位", "客户00", "客户19", "我的客户 2"}, "客户20")
	second := e.say("lisi", "我的客户 2")
	wantIn(t, "page 2", second, []string{"第 2 页", "客户20", "客户24"}, "客户19", "我的客户 3")
	wantIn(t, "page 3", e.say("lisi", "我的客户 3"), []string{"只有 2 页"})
}

// TestHandOverImportedCustomerInScrm: a customer who is not a WeCom contact
// is reassigned inside scrm through the core (audited, on the timeline,
// reminders moved) and both salespeople are told.
func TestHandOverImportedCustomerInScrm(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu", "boss")
	_, _, c := sameNames(t, e)
	r := e.reminder("imp1", c.ID, "lisi", "寄样品", t0.Add(48*time.Hour))
	reply := e.say("boss", "转交 刘洋 1111 给 王武")
	wantIn(t, "handover", reply, []string{"已转交", "李思", "王武"})
	ctx := context.Background()
	got, err := e.st.FindCustomerByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var owners []string
	for _, f := range got.Follows {
		if !f.Deleted {
			owners = append(owners, f.StaffID)
		}
	}
	if !slices.Equal(owners, []string{"wangwu"}) {
		t.Fatalf("owners %v, want [wangwu]", owners)
	}
	if old := e.get(r.ID); old.Status != store.ReminderCancelled {
		t.Fatalf("old reminder %q, want cancelled", old.Status)
	}
	moved, err := e.st.FindReminders(ctx, store.ReminderFilter{StaffID: "wangwu", CustomerID: c.ID, Statuses: []string{store.ReminderPending}})
	if err != nil || len(moved) != 1 || moved[0].Text != "寄样品" {
		t.Fatalf("moved reminders %+v %v", moved, err)
	}
	audit, err := e.st.FindAudit(ctx, c.ID, 0, 10)
	if err != nil || len(audit) == 0 || audit[0].Action != bot.AuditAssign || audit[0].Actor != "boss" {
		t.Fatalf("audit %+v %v", audit, err)
	}
	es, err := e.st.FindTimeline(ctx, c.ID, 0, 5)
	if err != nil || !slices.ContainsFunc(es, func(x *store.TimelineEntry) bool {
		return x.Text == "负责人：李思 → 王武（scrm 内转交）"
	}) {
		t.Fatalf("timeline lacks the owner change: %+v %v", es, err)
	}
	for staff, want := range map[string]string{"lisi": "已由 老板 转交给 王武", "wangwu": "已转交给你（原负责人：李思）"} {
		msgs := e.sim.SentTo(staff)
		if len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1].Content, want) {
			t.Fatalf("%s was not told %q: %+v", staff, want, msgs)
		}
	}
	// A salesperson may not.
	wantIn(t, "sales", e.say("wangwu", "转交 #"+c.ID+" 给 李思"), []string{"只有主管"})
}

// TestOfflineManagerQuestions: without an LLM, the questions managers ask
// get rule-based answers within the asker's visibility.
func TestOfflineManagerQuestions(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu", "boss", "outsider")
	a, b, c := sameNames(t, e)
	ctx := context.Background()
	neg := func(id string) {
		if _, err := e.st.UpdateCustomer(ctx, id, store.CustomerUpdate{Insight: &store.Insight{SentimentLabel: "negative", AnalyzedAt: t0}, Now: t0}); err != nil {
			t.Fatal(err)
		}
	}
	neg(a.ID)
	neg(b.ID)
	z := e.customer("wmZhou", "周杰", "wangwu", t0.Add(-time.Hour))
	neg(z.ID)
	// 周杰 wrote after wangwu's last touch; lisi has a reminder due today.
	if _, err := e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZhou"},
		CustomerAt: t0.Add(-30 * time.Minute), Now: t0}); err != nil {
		t.Fatal(err)
	}
	e.reminder("due1", c.ID, "lisi", "回电话", t0.Add(2*time.Hour))
	e.reminder("later", a.ID, "lisi", "下周的事", t0.Add(72*time.Hour))

	unhappy := e.say("boss", "本周谁的客户最不满意？")
	wantIn(t, "unhappy", unhappy, []string{"情绪消极最多：王武（2 位）", "王武：2 位", "李思：1 位", "周杰"}, "没看懂")
	wantIn(t, "unhappy for sales", e.say("lisi", "本周谁的客户最不满意？"), []string{"李思：1 位"}, "王武", "周杰")

	follow := e.say("boss", "哪些客户今天需要跟进？")
	wantIn(t, "follow-up", follow, []string{"今天需要跟进", "回电话", "（李思）", "**周杰** 来信", "未回复"}, "下周的事", "没看懂")
	wantIn(t, "follow-up for sales", e.say("lisi", "哪些客户今天需要跟进？"), []string{"回电话"}, "周杰")

	report := e.say("boss", "王武最近怎么样？")
	wantIn(t, "staff report", report, []string{"王武 的近况", "跟进客户：2 位", "逾期提醒：0 条", "情绪消极的客户：2 位"}, "没看懂")
	// A salesperson asking about a colleague gets no report (and no such customer).
	wantIn(t, "report for sales", e.say("lisi", "王武最近怎么样？"), []string{"没有找到"}, "近况")
	wantIn(t, "customer question", e.say("boss", "周杰最近怎么样？"), []string{"**周杰**", "负责人：王武"})
}

// TestConfirmAppliesTheAnalysisProposal: 确认 applies the tags and stage the
// latest unapplied analysis proposed, through the core, once.
func TestConfirmAppliesTheAnalysisProposal(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu", "boss")
	a, _, _ := sameNames(t, e)
	ctx := context.Background()
	if err := e.st.UpsertTags(ctx, []store.Tag{bot.LocalTag("询价", "智能标签")}); err != nil {
		t.Fatal(err)
	}
	wantIn(t, "nothing yet", e.say("lisi", "确认 刘洋 杭州云帆"), []string{"没有待确认的分析建议"})
	if _, err := e.st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: a.ID, SourceKey: "analysis:x:1", Kind: store.EntryAnalysis,
		Text: "会话分析", Attrs: map[string]string{"applied": "false", "proposed_tags": "询价", "proposed_stage": store.StageActive}, At: t0}); err != nil {
		t.Fatal(err)
	}
	wantIn(t, "confirm", e.say("lisi", "确认 刘洋 杭州云帆"), []string{"已确认", "询价", store.StageLead + " → " + store.StageActive})
	got, err := e.st.FindCustomerByID(ctx, a.ID)
	if err != nil || got.Stage != store.StageActive || !slices.Contains(got.Tags, "询价") {
		t.Fatalf("after 确认: stage %q tags %v %v", got.Stage, got.Tags, err)
	}
	audit, err := e.st.FindAudit(ctx, a.ID, 0, 10)
	if err != nil || len(audit) != 2 || audit[0].Actor != "lisi" {
		t.Fatalf("audit %+v %v", audit, err)
	}
	wantIn(t, "again", e.say("lisi", "确认 刘洋 杭州云帆"), []string{"已经生效"})
}
