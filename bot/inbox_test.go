package bot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// The end-to-end harness: the simulator plays WeCom and the Official
// Account, its driver delivers signed, encrypted callbacks to the real HTTP
// edge, which stores them in a real SQLite store; the real pipeline runs the
// processors, which call the simulator through the real API client. One fake
// clock drives all of it.

// ibOpen is Tuesday 2026-11-24 10:00 in Shanghai: business hours.
var ibOpen = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)

var ibLoc = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

type ibOptions struct {
	start   time.Time
	faq     *bot.KnowledgeBase
	llm     bot.FAQModel
	hours   bot.Hours
	inbox   bot.InboxOptions
	kfPage  int
	noStaff bool
}

type ibHarness struct {
	t     *testing.T
	ctx   context.Context
	clock *wecomtest.FakeClock
	sim   *wecomtest.Simulator
	st    *sqlite.DB
	lc    *coord.Local
	api   *wecom.APIClient
	drv   *wecomtest.Driver
	pipe  *bot.Pipeline
	inbox *bot.Inbox
	kf    *bot.KFSync
	msgID atomic.Int64
}

func ibQuiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newIB(t *testing.T, o ibOptions) *ibHarness {
	t.Helper()
	if o.start.IsZero() {
		o.start = ibOpen
	}
	ctx := context.Background()
	h := &ibHarness{t: t, ctx: ctx, clock: wecomtest.NewFakeClock(o.start)}
	h.msgID.Store(7000000000000000000)
	h.sim = wecomtest.NewSimulator(wecomtest.SimConfig{Now: h.clock.Now})
	t.Cleanup(func() { h.sim.Close() })
	h.st = openStore(t)
	h.lc = coord.NewLocal()

	h.drv = serveEdge(t, h.st, h.lc, h.sim, h.clock.Now)
	var err error
	if h.api, err = wecom.NewAPIClient(h.sim.APIConfig(), h.lc, ibQuiet()); err != nil {
		t.Fatal(err)
	}

	if !o.noStaff {
		for _, s := range []*store.Staff{
			{ID: "sales1", Name: "李销售", Role: bot.RoleSales, Active: true},
			{ID: "sales2", Name: "王销售", Role: bot.RoleSales, Active: true},
			{ID: "sales3", Name: "离职员工", Role: bot.RoleSales, Active: false},
			{ID: "boss", Name: "赵经理", Role: bot.RoleManager, Team: []string{"sales1", "sales2"}, Active: true},
		} {
			if err := h.st.UpsertStaff(ctx, s); err != nil {
				t.Fatal(err)
			}
			h.sim.AddStaff(wecomtest.Staff{UserID: s.ID, Name: s.Name, Department: []int{1}})
		}
	}
	dir := ibStaffDir{h.st}
	out := ibPusher{h.api}
	send := ibSender{h.api}
	h.kf = bot.NewKFSync(h.st, ibKF{h.api}, h.lc, bot.KFOptions{Owner: "test", PageSize: o.kfPage, Now: h.clock.Now, Logger: ibQuiet()})
	o.inbox.Now, o.inbox.Logger, o.inbox.Location = h.clock.Now, ibQuiet(), ibLoc
	h.inbox = bot.NewInbox(h.st, out, send, dir, o.inbox)
	cmds := bot.NewCommands(h.st, dir, out, ibLoc)
	cmds.SetInbox(h.inbox)
	var kb bot.FAQSource
	if o.faq != nil {
		kb = bot.StaticFAQ{KB: o.faq}
	}
	answerer := bot.NewAnswerer(h.st, kb, send, o.hours, o.llm, bot.AnswererOptions{Now: h.clock.Now, Logger: ibQuiet()})
	h.pipe = bot.NewPipeline(h.st, bot.PipelineOptions{Owner: "test", Now: h.clock.Now, Logger: ibQuiet()},
		bot.NewCustomers(h.st, ibProfiles{h.api}), h.kf, answerer, cmds, h.inbox)
	return h
}

// drain runs the pipeline until no event is ready.
func (h *ibHarness) drain() {
	h.t.Helper()
	for range 100 {
		n, err := h.pipe.RunOnce(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	h.t.Fatal("pipeline never ran dry")
}

func (h *ibHarness) deliverWeCom(m wecomtest.Msg) {
	h.t.Helper()
	d, err := h.drv.SendWeCom(h.ctx, m)
	if err != nil || d.Status != 200 {
		h.t.Fatalf("deliver WeCom callback: status %v, err %v", d, err)
	}
}

// customerOA sends an OA text message from openID and processes it.
func (h *ibHarness) customerOA(openID, text string) {
	h.t.Helper()
	d, err := h.drv.SendOA(h.ctx, wecomtest.OAText(openID, text, h.msgID.Add(1), h.clock.Now()))
	if err != nil || d.Status != 200 {
		h.t.Fatalf("deliver OA callback: status %v, err %v", d, err)
	}
	h.drain()
}

// customerGets has the OA follower openID send text and checks what the
// customer receives back: nothing when want is "", else one message
// holding want.
func (h *ibHarness) customerGets(t *testing.T, openID, text, want string) {
	t.Helper()
	before := len(h.sim.SentTo(openID))
	h.customerOA(openID, text)
	sent := h.sim.SentTo(openID)[before:]
	switch {
	case want == "" && len(sent) != 0:
		t.Fatalf("customer got %+v, want nothing", sent)
	case want != "" && (len(sent) != 1 || !strings.Contains(sent[0].Content, want)):
		t.Fatalf("customer got %+v, want %q", sent, want)
	}
}

// staffSays sends text from a staff member to the app and returns the bot's
// reply.
func (h *ibHarness) staffSays(staff, text string) string {
	h.t.Helper()
	before := len(h.sim.SentTo(staff))
	h.deliverWeCom(wecomtest.AppText(staff, text, h.msgID.Add(1), h.clock.Now()))
	h.drain()
	got := h.sim.SentTo(staff)
	if len(got) != before+1 {
		h.t.Fatalf("%s said %q: %d replies, want 1", staff, text, len(got)-before)
	}
	return got[len(got)-1].Content
}

// contact makes ext a WeCom contact of staff, by profile and callback.
func (h *ibHarness) contact(staff, ext, name, unionID string) {
	h.t.Helper()
	h.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: name, UnionID: unionID,
		Follow: []wecomtest.Follow{{UserID: staff, CreateTime: h.clock.Now()}}})
	h.deliverWeCom(wecomtest.ContactEvent("add_external_contact", staff, ext, h.clock.Now(), nil))
	h.drain()
}

func (h *ibHarness) customer(id store.Identity) *store.Customer {
	h.t.Helper()
	c, err := h.st.FindCustomerByIdentity(h.ctx, id)
	if err != nil {
		h.t.Fatalf("customer %v: %v", id, err)
	}
	return c
}

func (h *ibHarness) timeline(customerID string) []*store.TimelineEntry {
	h.t.Helper()
	tl, err := h.st.FindTimeline(h.ctx, customerID, 0, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	return tl
}

func ibOA(openID string) store.Identity {
	return store.Identity{Kind: store.IdentityOpenID, Value: openID}
}

// sentContaining counts messages to one recipient that contain s.
func (h *ibHarness) sentContaining(to, s string) int {
	n := 0
	for _, m := range h.sim.SentTo(to) {
		if strings.Contains(m.Content, s) {
			n++
		}
	}
	return n
}

// ---- adapters from the WeCom client to the bot's interfaces, as cmd/scrm has them ----

type ibStaffDir struct{ st *sqlite.DB }

func (d ibStaffDir) Viewer(ctx context.Context, id string) (bot.Viewer, error) {
	s, err := d.st.FindStaffByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return bot.Viewer{StaffID: id}, nil
	}
	if err != nil {
		return bot.Viewer{}, err
	}
	v, ok := bot.ViewerFromStaff(s)
	if !ok {
		return bot.Viewer{StaffID: id}, nil
	}
	return v, nil
}

type ibPusher struct{ c *wecom.APIClient }

func (p ibPusher) SendMarkdown(ctx context.Context, to, content string) error {
	_, err := p.c.SendMarkdown(ctx, wecom.SendTarget{ToUser: []string{to}}, content)
	return err
}

func (p ibPusher) SendTemplateCard(ctx context.Context, to string, card bot.Card) error {
	_, err := p.c.SendTemplateCard(ctx, wecom.SendTarget{ToUser: []string{to}, DuplicateCheckInterval: card.DuplicateCheck}, card.TemplateCard())
	return err
}

type ibSender struct{ c *wecom.APIClient }

func ibWindowErr(err error) error {
	if errors.Is(err, wecom.ErrAPIOutsideWindow) {
		return fmt.Errorf("%w: %w", bot.ErrOutsideWindow, err)
	}
	return err
}

func (s ibSender) SendOAText(ctx context.Context, openID, text string) error {
	return ibWindowErr(s.c.OASendCustomText(ctx, openID, text))
}

func (s ibSender) SendKFText(ctx context.Context, openKfID, user, text, msgID string) error {
	_, err := s.c.KFSendMsg(ctx, wecom.KFOutgoing{ToUser: user, OpenKfID: openKfID, MsgID: msgID, Text: text})
	return ibWindowErr(err)
}

type ibKF struct{ c *wecom.APIClient }

func (k ibKF) KFSyncMsg(ctx context.Context, cursor, token string, limit int, openKfID string) (*bot.KFPage, error) {
	page, err := k.c.KFSyncMsg(ctx, cursor, token, limit, openKfID)
	if wecom.APIErrorCode(err) == 95007 {
		return nil, fmt.Errorf("%w: %w", bot.ErrKFTokenInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	out := &bot.KFPage{NextCursor: page.NextCursor, HasMore: page.HasMore}
	for _, m := range page.Messages {
		out.Messages = append(out.Messages, bot.KFMessage{MsgID: m.MsgID, OpenKfID: m.OpenKfID, ExternalUserID: m.ExternalUserID,
			SendTime: m.SendTime, Origin: m.Origin, MsgType: m.MsgType, Text: m.Text, MenuID: m.MenuID, Raw: m.Raw})
	}
	return out, nil
}

type ibProfiles struct{ c *wecom.APIClient }

// ibNoProfile maps WeCom's refusal to look someone up to bot.ErrNoProfile;
// other failures stay errors.
func ibNoProfile(err error) (bot.Profile, error) {
	if wecom.APIErrorCode(err) > 0 {
		return bot.Profile{}, bot.ErrNoProfile
	}
	return bot.Profile{}, err
}

func (p ibProfiles) ExternalContact(ctx context.Context, id string) (bot.Profile, error) {
	info, err := p.c.GetExternalContact(ctx, id)
	if err != nil {
		return ibNoProfile(err)
	}
	return bot.Profile{Name: info.Contact.Name, UnionID: info.Contact.UnionID}, nil
}

func (p ibProfiles) OAFollower(ctx context.Context, openID string) (bot.Profile, error) {
	info, err := p.c.OAGetUserInfo(ctx, openID)
	if err != nil {
		return ibNoProfile(err)
	}
	return bot.Profile{Name: info.Nickname, UnionID: info.UnionID}, nil
}

// ---- tests ----

func TestInboxForwardsToTheOwnerExactlyOnce(t *testing.T) {
	h := newIB(t, ibOptions{})
	// 张三 follows the OA and is sales1's WeCom contact: one person by unionid.
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oZhang", UnionID: "uZhang", Nickname: "张三"})
	h.contact("sales1", "wmZhang", "张三", "uZhang")

	h.customerOA("oZhang", "你好，上次说的方案\n什么时候能发我？")

	fw := h.sim.SentTo("sales1")
	if len(fw) != 1 {
		t.Fatalf("owner got %d messages, want 1: %+v", len(fw), fw)
	}
	for _, want := range []string{"公众号 · 张三", "> 你好，上次说的方案 什么时候能发我？", "回复：回 张三"} {
		if !strings.Contains(fw[0].Content, want) {
			t.Errorf("forward lacks %q:\n%s", want, fw[0].Content)
		}
	}
	if n := len(h.sim.SentTo("sales2")) + len(h.sim.SentTo("boss")); n != 0 {
		t.Errorf("%d messages to staff who do not own the customer", n)
	}
	c := h.customer(ibOA("oZhang"))
	if w := h.customer(store.Identity{Kind: store.IdentityExternalUserID, Value: "wmZhang"}); w.ID != c.ID {
		t.Fatalf("OA follower and WeCom contact are two customers")
	}

	// A crash after the send repeats the processing: nothing more is sent.
	evs, err := h.st.FindEvents(h.ctx, store.EventFilter{Channel: store.ChannelOA})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %d, %v", len(evs), err)
	}
	for range 2 {
		if err := h.inbox.Process(h.ctx, evs[0]); err != nil {
			t.Fatal(err)
		}
	}
	// The platform's own retry of the callback is stored once.
	d, err := h.drv.SendOAXML(h.ctx, evs[0].Raw)
	if err != nil || d.Status != 200 {
		t.Fatalf("redelivery: %v %v", d, err)
	}
	h.drain()
	if n := len(h.sim.SentTo("sales1")); n != 1 {
		t.Fatalf("owner got %d messages after redeliveries, want 1", n)
	}
}

func TestInboxOffersUnassignedCustomersRoundRobinAndTheFirstClaimWins(t *testing.T) {
	h := newIB(t, ibOptions{})
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oJia", Nickname: "客户甲"})
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oYi", Nickname: "客户乙"})
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oBing", Nickname: "客户丙"})

	h.customerOA("oJia", "想了解一下你们的产品")
	h.customerOA("oYi", "在吗")
	h.customerOA("oBing", "有人吗")
	jia, yi := h.customer(ibOA("oJia")), h.customer(ibOA("oYi"))

	// Active salespeople in turn; the inactive one and the manager get none.
	cards := func(staff string) []wecomtest.SentMessage {
		var out []wecomtest.SentMessage
		for _, m := range h.sim.SentTo(staff) {
			if m.MsgType == "template_card" {
				out = append(out, m)
			}
		}
		return out
	}
	c1, c2 := cards("sales1"), cards("sales2")
	if len(c1) != 2 || len(c2) != 1 {
		t.Fatalf("cards: sales1 %d, sales2 %d; want 2 and 1 in rotation", len(c1), len(c2))
	}
	if !strings.Contains(c1[0].Content, "客户甲") || !strings.Contains(c2[0].Content, "客户乙") || !strings.Contains(c1[1].Content, "客户丙") {
		t.Fatalf("rotation order wrong: %q / %q / %q", c1[0].Content, c2[0].Content, c1[1].Content)
	}
	if !strings.Contains(string(c1[0].Raw), `"key":"claim:`+jia.ID+`"`) || !strings.Contains(string(c1[0].Raw), "接待") {
		t.Fatalf("card has no claim button: %s", c1[0].Raw)
	}
	if n := len(h.sim.SentTo("sales3")) + len(h.sim.SentTo("boss")); n != 0 {
		t.Fatalf("%d offers to an inactive member or the manager", n)
	}

	// While the offer stands, more messages go to the same salesperson.
	h.customerOA("oJia", "价格大概多少")
	last := h.sim.SentTo("sales1")
	if m := last[len(last)-1]; m.MsgType != "markdown" || !strings.Contains(m.Content, "尚未分配负责人") || !strings.Contains(m.Content, "接 客户甲") {
		t.Fatalf("follow-up message not forwarded to the offered salesperson: %+v", m)
	}

	// Both salespeople press 接待 on 客户乙 at the same moment: one wins.
	h.deliverWeCom(wecomtest.TemplateCardEvent("sales2", "t1", "button_interaction", "claim:"+yi.ID, "rc1", h.clock.Now()))
	h.deliverWeCom(wecomtest.TemplateCardEvent("sales1", "t2", "button_interaction", "claim:"+yi.ID, "rc2", h.clock.Now()))
	for range 5 {
		h.drain()
		h.clock.Advance(5 * time.Second) // past the loser's retry while the claim is applied
	}
	won := h.sentContaining("sales2", "你已接待 客户乙")
	lost := h.sentContaining("sales1", "客户乙 已被 王销售 接待")
	if won != 1 || lost != 1 {
		t.Fatalf("claim replies: winner %d, loser %d; want 1 and 1\nsales1: %+v\nsales2: %+v", won, lost, h.sim.SentTo("sales1"), h.sim.SentTo("sales2"))
	}
	yi = h.customer(ibOA("oYi"))
	if owners := bot.ActiveOwners(yi); len(owners) != 1 || owners[0] != "sales2" {
		t.Fatalf("客户乙 owners %v, want [sales2]", owners)
	}

	// The command claims too; a later claimer learns who was first.
	if got := h.staffSays("sales1", "接 客户甲"); !strings.Contains(got, "你已接待 客户甲") {
		t.Fatalf("接 客户甲: %q", got)
	}
	h.drain()
	if got := h.staffSays("sales2", "接 客户甲"); !strings.Contains(got, "客户甲 已被 李销售 接待") {
		t.Fatalf("second 接 客户甲: %q", got)
	}
	if got := h.staffSays("sales2", "接 客户丁"); !strings.Contains(got, "没有找到待接待的客户") {
		t.Fatalf("接 unknown: %q", got)
	}
	jia = h.customer(ibOA("oJia"))
	tl := h.timeline(jia.ID)
	if tl[0].Kind != store.EntryEvent || !strings.Contains(tl[0].Text, "李销售 接待了该客户") {
		t.Fatalf("claim not on the timeline: %+v", tl[0])
	}

	// Now an owner: the next message is a plain forward to them alone.
	before2 := len(h.sim.SentTo("sales2"))
	h.customerOA("oJia", "好的，等你消息")
	last = h.sim.SentTo("sales1")
	if m := last[len(last)-1]; m.MsgType != "markdown" || strings.Contains(m.Content, "尚未分配") || !strings.Contains(m.Content, "等你消息") {
		t.Fatalf("owner forward: %+v", m)
	}
	if len(h.sim.SentTo("sales2")) != before2 {
		t.Fatal("a claimed customer's message went to another salesperson")
	}
	// And the owner can reply to the claimed customer.
	if got := h.staffSays("sales1", "回 客户甲 您好，资料马上发您"); !strings.Contains(got, "已通过公众号回复") {
		t.Fatalf("reply after claim: %q", got)
	}
}

func TestInboxOfferMovesOnWhenNobodyClaims(t *testing.T) {
	h := newIB(t, ibOptions{inbox: bot.InboxOptions{OfferTTL: 10 * time.Minute}})
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oWu", Nickname: "客户戊"})
	h.customerOA("oWu", "你好")
	h.clock.Advance(11 * time.Minute)
	h.customerOA("oWu", "还有人吗？")
	if h.sentContaining("sales1", "新客户咨询") != 1 || h.sentContaining("sales2", "新客户咨询") != 1 {
		t.Fatalf("an expired offer must go to the next salesperson: sales1 %+v, sales2 %+v", h.sim.SentTo("sales1"), h.sim.SentTo("sales2"))
	}
}

func TestReplyCommand(t *testing.T) {
	h := newIB(t, ibOptions{})
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oZhang", UnionID: "uZhang", Nickname: "张三"})
	h.contact("sales1", "wmZhang", "张三", "uZhang")
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oLi", UnionID: "uLi", Nickname: "李四"})
	h.contact("sales1", "wmLi", "李四", "uLi") // a contact who never wrote on the OA

	h.customerOA("oZhang", "方案收到了吗？")
	wrote := h.clock.Now()

	cases := []struct {
		name, staff, text string
		advance           time.Duration
		want              string
		delivered         bool
	}{
		{"owner inside the window", "sales1", "回 张三 收到了，下午发您报价", 0, "✅ 已通过公众号回复 张三", true},
		{"another salesperson", "sales2", "回 张三 我来抢个单", 0, "没有找到你可查看的客户“张三”", false},
		{"manager of the team", "boss", "回 张三 我是经理，有问题随时找我", 0, "已通过公众号回复 张三", true},
		{"never wrote on a channel", "sales1", "回 李四 你好", 0, "李四 还没有通过公众号或微信客服给我们发过消息", false},
		{"missing text", "sales1", "回 张三", 0, "格式：**回 客户名 回复内容**", false},
		{"window closed after 48 hours", "sales1", "回 张三 还在考虑吗", 49 * time.Hour, "张三 超过48小时未发消息，公众号无法主动回复，请通过企业微信联系", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.clock.Advance(tc.advance)
			before := len(h.sim.SentTo("oZhang"))
			got := h.staffSays(tc.staff, tc.text)
			if !strings.Contains(got, tc.want) {
				t.Fatalf("reply %q, want %q", got, tc.want)
			}
			sent := h.sim.SentTo("oZhang")[before:]
			if tc.delivered != (len(sent) == 1) || len(sent) > 1 {
				t.Fatalf("%d messages reached the customer, delivered=%v", len(sent), tc.delivered)
			}
			if tc.delivered {
				_, text, _ := strings.Cut(strings.TrimPrefix(tc.text, "回 "), " ")
				if sent[0].Content != text || sent[0].Channel != wecomtest.SentOA {
					t.Fatalf("customer got %+v", sent[0])
				}
			}
		})
	}

	c := h.customer(ibOA("oZhang"))
	if c.LastStaffTouchAt == nil || c.LastStaffTouchAt.Before(wrote) {
		t.Fatalf("last staff touch %v, want after %v", c.LastStaffTouchAt, wrote)
	}
	var outs []string
	for _, e := range h.timeline(c.ID) {
		if e.Kind == store.EntryMessage && e.Direction == store.DirectionOut {
			outs = append(outs, e.StaffID+":"+e.Text)
		}
	}
	want := []string{"boss:我是经理，有问题随时找我", "sales1:收到了，下午发您报价"}
	if strings.Join(outs, "|") != strings.Join(want, "|") {
		t.Fatalf("outgoing timeline %v, want %v", outs, want)
	}
}

func TestReplyCommandRespectsThePlatformMessageLimit(t *testing.T) {
	h := newIB(t, ibOptions{})
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oZhang", UnionID: "uZhang", Nickname: "张三"})
	h.contact("sales1", "wmZhang", "张三", "uZhang")
	h.customerOA("oZhang", "在吗")
	for i := range 5 {
		if got := h.staffSays("sales1", fmt.Sprintf("回 张三 第%d条", i+1)); !strings.Contains(got, "已通过公众号回复") {
			t.Fatalf("reply %d: %q", i+1, got)
		}
	}
	got := h.staffSays("sales1", "回 张三 第6条")
	if !strings.Contains(got, "窗口已关闭或回复次数已用完") {
		t.Fatalf("sixth reply: %q", got)
	}
	if n := len(h.sim.SentTo("oZhang")); n != 5 {
		t.Fatalf("customer got %d messages, want 5", n)
	}
	// The customer writes again: the window reopens.
	h.customerOA("oZhang", "刚才没看到")
	if got := h.staffSays("sales1", "回 张三 第6条"); !strings.Contains(got, "已通过公众号回复") {
		t.Fatalf("reply after the customer wrote again: %q", got)
	}
}

func TestReplyIsNotSentTwiceWhenTheCommandIsReprocessed(t *testing.T) {
	h := newIB(t, ibOptions{})
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oZhang", UnionID: "uZhang", Nickname: "张三"})
	h.contact("sales1", "wmZhang", "张三", "uZhang")
	h.customerOA("oZhang", "在吗")
	h.staffSays("sales1", "回 张三 在的")
	evs, err := h.st.FindEvents(h.ctx, store.EventFilter{Channel: store.ChannelWeCom, Kind: "text"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %d %v", len(evs), err)
	}
	// The reply to staff is recorded per event; run the inbox's reply as a
	// crash between the send and that record would.
	v, _ := ibStaffDir{h.st}.Viewer(h.ctx, "sales1")
	key := fmt.Sprintf("%s:%d", "sales1", evs[0].OccurredAt.UnixNano())
	for range 2 {
		if _, err := h.inbox.Reply(h.ctx, v, "张三 在的", key, evs[0].OccurredAt); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.sim.SentTo("oZhang")); n != 1 {
		t.Fatalf("customer got %d copies, want 1", n)
	}
}

func TestInboxTreatsACustomerOfADepartedSalespersonAsUnassigned(t *testing.T) {
	h := newIB(t, ibOptions{})
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oGeng", UnionID: "uGeng", Nickname: "客户庚"})
	h.contact("sales3", "wmGeng", "客户庚", "uGeng") // sales3 has left (inactive)
	h.customerOA("oGeng", "之前的销售联系不上了")
	if n := len(h.sim.SentTo("sales3")); n != 0 {
		t.Fatalf("%d messages to a departed salesperson", n)
	}
	if h.sentContaining("sales1", "新客户咨询 · 客户庚") != 1 {
		t.Fatalf("customer not offered to the next salesperson: %+v", h.sim.SentTo("sales1"))
	}
}

// TestReplyPromiseBecomesReminderAtOnce: a promise in a 回 reply is a
// reminder for the salesperson as soon as the reply is sent, through the
// core (a timeline entry names it), and a reprocessed command makes no
// second one.
func TestReplyPromiseBecomesReminderAtOnce(t *testing.T) {
	h := newIB(t, ibOptions{})
	h.sim.AddOAFollower(wecomtest.OAFollower{OpenID: "oMa", UnionID: "uMa", Nickname: "马超"})
	h.contact("sales1", "wmMa", "马超", "uMa")
	h.customerOA("oMa", "空调不制冷了，能派人来修吗？")
	got := h.staffSays("sales1", "回 马超 您好，明天上午安排工程师上门维修")
	if !strings.Contains(got, "已通过公众号回复") || !strings.Contains(got, "已记为提醒") {
		t.Fatalf("reply %q", got)
	}
	c := h.customer(ibOA("oMa"))
	rs, err := h.st.FindReminders(h.ctx, store.ReminderFilter{CustomerID: c.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Kind != store.ReminderPromise || rs[0].StaffID != "sales1" || !strings.Contains(rs[0].Text, "工程师上门维修") {
		t.Fatalf("reminders %+v, want one promise for sales1", rs)
	}
	// Tomorrow morning (Wednesday) in Shanghai, before the promise is due.
	if due := rs[0].DueAt.In(ibLoc); due.Day() != 25 || due.Hour() != 9 {
		t.Fatalf("due %v, want 11-25 09:00", due)
	}
	var created, marked int
	for _, e := range h.timeline(c.ID) {
		if e.Kind == store.EntryReminder && e.Attrs["change"] == "create" {
			created++
		}
		if e.Kind == store.EntryMessage && e.Direction == store.DirectionOut && e.Attrs[bot.AttrPromisesRead] == "true" {
			marked++
		}
	}
	if created != 1 || marked != 1 {
		t.Fatalf("timeline: %d reminder entries, %d marked replies; want 1 and 1", created, marked)
	}

	evs, err := h.st.FindEvents(h.ctx, store.EventFilter{Channel: store.ChannelWeCom, Kind: "text"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %d %v", len(evs), err)
	}
	v, _ := ibStaffDir{h.st}.Viewer(h.ctx, "sales1")
	key := fmt.Sprintf("%s:%d", "sales1", evs[0].OccurredAt.UnixNano())
	if _, err := h.inbox.Reply(h.ctx, v, "马超 您好，明天上午安排工程师上门维修", key, evs[0].OccurredAt); err != nil {
		t.Fatal(err)
	}
	if rs, _ := h.st.FindReminders(h.ctx, store.ReminderFilter{CustomerID: c.ID, Limit: 10}); len(rs) != 1 {
		t.Fatalf("after a redelivery: %d reminders, want 1", len(rs))
	}
}
