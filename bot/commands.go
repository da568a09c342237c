package bot

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
)

// Messenger sends app messages to staff in WeCom.
type Messenger interface {
	SendMarkdown(ctx context.Context, toUser, content string) error
}

// CommandStore is what staff commands read and write: the planning
// records and, through the actions, every change a command makes.
type CommandStore interface {
	PlanStore
	ActionStore
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error) // 查 <phone>
}

// Commands answers staff who write to the scrm app in WeCom. It is a
// processor, so a command runs from the stored log, never inside the
// callback, and its reply is sent at most once per message: the reply is
// recorded after sending, and WeCom's duplicate check guards the window
// between the send and the record.
type Commands struct {
	st          CommandStore
	dir         Directory
	out         Messenger
	loc         *time.Location
	plan        PlanStore // st's reminder and planning side
	core        *Core     // the actions every change goes through
	dormantDays int
	inbox       *Inbox // replies to and claims of customers; nil: not configured
	ask         *Asker // plain-language questions through the LLM; nil: not configured
	hours       Hours  // business hours for waiting times; nil: always open
	publicURL   string // scrm's public base URL for 后台 links; "": not configured
}

// SetPublicURL sets scrm's public base URL (SCRM_PUBLIC_URL), on which the
// 后台 command builds sign-in links; without it the command says how to
// enable it.
func (p *Commands) SetPublicURL(base string) { p.publicURL = strings.TrimRight(base, "/") }

// SetHours sets the business hours 今天 counts a customer's wait in
// (SCRM_BUSINESS_HOURS; default: always open).
func (p *Commands) SetHours(h Hours) { p.hours = h }

// NewCommands returns the staff command processor.
func NewCommands(st CommandStore, dir Directory, out Messenger, loc *time.Location) *Commands {
	return &Commands{st: st, plan: st, core: NewCore(st, nil), dir: dir, out: out, loc: loc, dormantDays: 30}
}

// SetDormantDays sets how many days without interaction make a customer
// dormant in the 沉睡客户 command (SCRM_DORMANT_DAYS; default 30).
func (p *Commands) SetDormantDays(n int) {
	if n > 0 {
		p.dormantDays = n
	}
}

// Name implements Processor.
func (*Commands) Name() string { return "commands" }

// Process implements Processor.
func (p *Commands) Process(ctx context.Context, ev *store.Event) error {
	if ev.Channel != store.ChannelWeCom || ev.Kind != "text" || ev.StaffID == "" || ev.CustomerID != "" {
		return nil
	}
	// The reply's marker is made at the command's arrival: its retention
	// runs from the event it guards.
	return once(ctx, p.st, store.MarkBotReply, ev.DedupKey, cmp.Or(ev.ReceivedAt, p.core.Now()), func() error {
		viewer, err := p.dir.Viewer(ctx, ev.StaffID)
		if err != nil {
			return fmt.Errorf("commands: resolve %s: %w", ev.StaffID, err)
		}
		reply, err := p.answer(ctx, viewer, strings.TrimSpace(ev.Text), ev.OccurredAt, ev.DedupKey)
		if err != nil {
			return err
		}
		if err := p.out.SendMarkdown(ctx, ev.StaffID, reply); err != nil {
			return fmt.Errorf("commands: reply: %w", err)
		}
		return nil
	})
}

const helpText = `**scrm 助手 · 可用指令**
> **查 张三** — 查看客户档案（负责人、阶段、标签、最近联系、最近消息）
> **查 2** / **查 #客户ID** / **查 手机号** / **查 张三 公司名** — 同名客户时按编号、ID、手机号或公司选择（记、提醒、回等指令同样可用）
> **记 张三 今天电话沟通，下周二回访** — 给客户记一条跟进备注
> **私记 张三 内容** — 记一条私密备注（只有你、你的主管和管理员可见）
> **我的客户** / **我的客户 2** — 列出我跟进的客户（分页）
> **阶段 张三 已成交** — 修改客户阶段
> **确认 张三** — 应用会话分析建议的标签和阶段
> **今天** — 今天的跟进计划
> **待办** — 我的待办提醒（带编号）
> **完成 3** / **推迟 3 明天** — 处理待办（也可以：后天、下周一、3天）
> **提醒 张三 明天下午三点 回访** — 新建提醒
> **沉睡客户** — 很久没联系的客户
> **漏斗** — 我的客户按阶段分布
> **团队** — 团队概览（主管）
> **渠道** / **渠道 展会海报** — 各渠道活码今天和近 7 天的新增、删除、净增（主管）
> **转交 张三 给 王五** — 把客户转交给团队成员（主管；企业微信客户经在职继承，其他客户在 scrm 内转交）
> **本周谁的客户最不满意？** / **哪些客户今天需要跟进？** / **张伟最近怎么样？** — 常见问题直接回答
> **回 张三 您好…** — 通过公众号/微信客服回复客户
> **接 张三** — 接待尚未分配的新客户
> **后台** / **登录** — 获取网页后台的一次性登录链接（10 分钟内有效）
> **帮助** — 显示本说明`

// answer runs one command and renders its reply. key identifies the
// command's message (its event's dedup key): the idempotency key of the
// action it carries out, so a redelivered command repeats it harmlessly.
func (p *Commands) answer(ctx context.Context, v Viewer, text string, at time.Time, key string) (string, error) {
	verb, rest, _ := strings.Cut(splitNumberedVerb(text), " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(verb) {
	case "帮助", "help", "?", "？", "菜单":
		return helpText, nil
	case "查", "查询", "客户", "看":
		if rest == "" {
			return "请告诉我要查的客户，例如：**查 张三**", nil
		}
		return p.lookup(ctx, v, rest, at)
	case "记", "备注", "笔记":
		if _, note, _ := strings.Cut(rest, " "); strings.TrimSpace(note) == "" {
			return "格式：**记 客户名 备注内容**，例如：记 张三 今天电话沟通，下周二回访", nil
		}
		return p.note(ctx, v, rest, at, key, false)
	case "私记", "私密备注", "私密笔记":
		if _, note, _ := strings.Cut(rest, " "); strings.TrimSpace(note) == "" {
			return "格式：**私记 客户名 备注内容**，例如：私记 张三 预算其实有 50 万，先别透露", nil
		}
		return p.note(ctx, v, rest, at, key, true)
	case "我的客户", "客户列表":
		return p.mine(ctx, v, rest)
	case "回", "回复":
		if p.inbox == nil {
			return "客户消息回复未启用：需要配置公众号或微信客服。", nil
		}
		return p.inbox.Reply(ctx, v, rest, fmt.Sprintf("%s:%d", v.StaffID, at.UnixNano()), at)
	case "接", "接待", "认领":
		if p.inbox == nil {
			return "客户接待未启用：需要配置公众号或微信客服。", nil
		}
		return p.inbox.ClaimByName(ctx, v, rest, at)
	case "待办", "待办事项", "提醒列表", "todo":
		return p.todo(ctx, v, rest, at)
	case "完成", "已完成", "done":
		return p.complete(ctx, v, rest, at)
	case "推迟", "延后", "改期", "snooze":
		return p.postpone(ctx, v, rest, at)
	case "提醒", "提醒我", "remind":
		return p.remind(ctx, v, rest, at, key)
	case "今天", "今日", "今天计划", "今日计划", "计划", "today":
		return p.today(ctx, v, at)
	case "沉睡客户", "沉睡", "睡眠客户":
		return p.dormant(ctx, v, at)
	case "阶段", "改阶段":
		if rest != "" {
			return p.setStage(ctx, v, rest, at, key) // stage.go
		}
		return p.funnel(ctx, v)
	case "确认", "确认建议":
		return p.confirm(ctx, v, rest, at, key) // stage.go
	case "漏斗", "我的漏斗", "销售漏斗", "pipeline":
		return p.funnel(ctx, v)
	case "团队", "团队概览", "团队数据", "team":
		return p.team(ctx, v, at)
	case "渠道", "渠道活码", "渠道数据":
		return p.channels(ctx, v, rest, at) // commands_channels.go
	case "转交", "交接":
		return p.handOver(ctx, v, rest, at, key) // handover.go
	case "后台", "登录", "登陆", "控制台", "console", "login":
		return p.consoleLink(ctx, v)
	}
	// With an LLM, questions go to the asker first (it falls back to the
	// rule-based answers when the LLM fails).
	if p.ask != nil && looksLikeQuestion(text) {
		return p.ask.Answer(ctx, v, text)
	}
	// Without an LLM, the questions managers ask most have rule-based
	// answers (ask_rules.go).
	if reply, ok, err := p.answerOffline(ctx, v, text, at); err != nil || ok {
		return reply, err
	}
	return "没看懂这条指令：“" + clip(text, 20) + "”。\n\n" + helpText, nil
}

// aboutCustomer matches questions like "张三最近怎么样" or "李四的情况".
var aboutCustomer = regexp.MustCompile(`^\s*([\p{Han}A-Za-z0-9·]{1,20}?)(?:的)?(?:最近|近况|近来)?(?:怎么样|如何|情况|咋样|进展)(?:了)?[？?。！!]*\s*$`)

// resolve finds the customer text names for v (resolve.go).
func (p *Commands) resolve(ctx context.Context, v Viewer, text string, at time.Time, o resolveOpts) (resolution, error) {
	return resolveCustomer(ctx, p.st, p.loc, v, text, at, o)
}

func (p *Commands) lookup(ctx context.Context, v Viewer, query string, at time.Time) (string, error) {
	r, err := p.resolve(ctx, v, query, at, resolveOpts{Verb: "查", Whole: true})
	if err != nil || r.C == nil {
		return r.Reply, err
	}
	return p.cardFor(ctx, v, r.C)
}

// cardEntries is how many recent timeline entries a customer card shows.
const cardEntries = 5

func (p *Commands) card(ctx context.Context, v Viewer, c *store.Customer) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n", mdName(c))
	fmt.Fprintf(&b, "> 阶段：%s\n", c.Stage)
	var owners []string
	for _, id := range activeOwners(c) {
		owners = append(owners, md(staffName(ctx, p.st, id)))
	}
	if len(owners) > 0 {
		fmt.Fprintf(&b, "> 负责人：%s\n", strings.Join(owners, "、"))
	}
	// Where the customer came from (their first channel first): a card
	// without it would hide what a salesperson most often asks first.
	if chs, err := p.core.CustomerChannels(ctx, c.ID); err != nil {
		return "", err
	} else if len(chs) > 0 {
		names := make([]string, len(chs))
		for i, ch := range chs {
			names[i] = md(ch.Name)
		}
		fmt.Fprintf(&b, "> 来源渠道：%s\n", strings.Join(names, "、"))
	}
	if len(c.Tags) > 0 {
		fmt.Fprintf(&b, "> 标签：%s\n", md(strings.Join(c.Tags, "、")))
	}
	if c.LastCustomerMsgAt != nil {
		fmt.Fprintf(&b, "> 最近来信：%s\n", c.LastCustomerMsgAt.In(p.loc).Format("01-02 15:04"))
	}
	if in := c.Insight; in != nil && in.SentimentLabel != "" {
		line := "> 情绪：" + nlp.SentimentLabel(in.SentimentLabel, in.SentimentScore)
		if in.Intent != "" && in.Intent != nlp.IntentOther {
			line += " · 意图：" + in.Intent
		}
		b.WriteString(line + "\n")
	}
	if in := c.Insight; in != nil && in.Summary != "" {
		fmt.Fprintf(&b, "> 摘要：%s\n", md(clip(oneLine(in.Summary), 120)))
	}
	// Read past a few private notes the viewer may not see, so the card
	// still shows the latest entries they may.
	entries, err := p.st.FindTimeline(ctx, c.ID, 0, 4*cardEntries)
	if err != nil {
		return "", fmt.Errorf("commands: timeline: %w", err)
	}
	entries = v.VisibleEntries(entries)
	entries = entries[:min(len(entries), cardEntries)]
	if len(entries) > 0 {
		b.WriteString("\n**最近动态**\n")
		for _, e := range entries {
			fmt.Fprintf(&b, "> %s %s\n", e.At.In(p.loc).Format("01-02 15:04"), entryLine(e))
		}
	}
	return b.String(), nil
}

// note records a note by v on the customer rest starts with; a private one
// is read only by v, v's managers and admins.
func (p *Commands) note(ctx context.Context, v Viewer, rest string, at time.Time, key string, private bool) (string, error) {
	verb := "记"
	if private {
		verb = "私记"
	}
	r, err := p.resolve(ctx, v, rest, at, resolveOpts{Verb: verb, Tail: " 内容", Suffix: "备注未保存。"})
	if err != nil || r.C == nil {
		return r.Reply, err
	}
	c, note := r.C, r.Rest
	if note == "" {
		return "备注内容是空的，备注未保存。", nil
	}
	// WeCom times commands to the second: without the event's key, the
	// time names the command, and the core tells apart two notes of one
	// second by their text.
	if key == "" {
		key = fmt.Sprintf("%d", at.UnixNano())
	}
	_, _, err = p.core.AddNote(ctx, Actor{Viewer: v, Source: SourceBot}, NoteRequest{CustomerID: c.ID, Text: note, Private: private, Key: key, At: at})
	if text, ok := refusal(err); ok {
		return text + "备注未保存。", nil
	}
	if err != nil {
		return "", fmt.Errorf("commands: note: %w", err)
	}
	if private {
		return "已记下 🔒 **" + mdName(c) + "**（私密，仅你、你的主管和管理员可见）：" + clip(note, 60), nil
	}
	return "已记下 ✅ **" + mdName(c) + "**：" + clip(note, 60), nil
}

// minePage is how many customers one 我的客户 reply lists.
const minePage = 20

// mine lists the customers v may see, a page at a time ("我的客户 2").
func (p *Commands) mine(ctx context.Context, v Viewer, rest string) (string, error) {
	page := 1
	if n, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil && n > 0 {
		page = n
	}
	f, ok := scopeFilter(v, store.CustomerFilter{})
	var cs []*store.Customer
	if ok {
		var err error
		// Pages past the first skip the earlier pages' customers by ID.
		cs, err = scanCustomers(ctx, p.st, f, page*minePage+1, func(c *store.Customer) (bool, error) { return v.CanSee(c), nil })
		if err != nil {
			return "", err
		}
	}
	if len(cs) == 0 {
		return "你目前没有跟进中的客户。", nil
	}
	total := len(cs)
	cs, more, ok := pageOf(cs, page, minePage)
	if !ok {
		return fmt.Sprintf("我的客户只有 %d 页。", (total+minePage-1)/minePage), nil
	}
	var b strings.Builder
	if page == 1 {
		fmt.Fprintf(&b, "**我的客户**（前 %d 位）\n", len(cs))
	} else {
		fmt.Fprintf(&b, "**我的客户**（第 %d 页，第 %d–%d 位）\n", page, (page-1)*minePage+1, (page-1)*minePage+len(cs))
	}
	for _, c := range cs {
		last := "暂无来信"
		if c.LastCustomerMsgAt != nil {
			last = "最近来信 " + c.LastCustomerMsgAt.In(p.loc).Format("01-02")
		}
		fmt.Fprintf(&b, "> %s · %s · %s\n", mdName(c), c.Stage, last)
	}
	if more {
		fmt.Fprintf(&b, "还有更多，回复“我的客户 %d”看下一页。", page+1)
	}
	return b.String(), nil
}

func displayName(c *store.Customer) string {
	if c.Name != "" {
		return c.Name
	}
	return "未命名客户"
}

func entryLine(e *store.TimelineEntry) string {
	switch e.Kind {
	case store.EntryMessage:
		if e.Direction == store.DirectionIn {
			return "客户：" + md(clip(e.Text, 40))
		}
		return "我方：" + md(clip(e.Text, 40))
	case store.EntryNote:
		return "备注：" + md(clip(e.Text, 40))
	}
	return md(clip(e.Text, 40))
}

// mdReplacer neutralises WeCom markdown in text a customer wrote. WeCom's
// markdown has no escape character, so the marks that make links, bold,
// colours, headings, quotes and code are replaced by their full-width forms,
// which read the same to staff and render as plain text; line breaks become
// spaces so the text cannot start a heading or a quote of its own.
var mdReplacer = strings.NewReplacer(
	"[", "［", "]", "］", "*", "＊", "<", "＜", ">", "＞", "#", "＃", "`", "｀", "&", "＆",
	"\r\n", " ", "\n", " ", "\r", " ",
)

// md makes customer-written text (a message, a name or nickname the
// customer chose, a reminder quoting them) safe to put inside a markdown
// message to staff: the trusted bot must never render a customer's link,
// colour or heading. Every markdown reply uses it for such text.
func md(s string) string { return mdReplacer.Replace(s) }

// mdName is the customer's display name, safe inside markdown.
func mdName(c *store.Customer) string { return md(displayName(c)) }

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// consoleLink answers 后台 with a one-time sign-in link for the asker.
func (p *Commands) consoleLink(ctx context.Context, v Viewer) (string, error) {
	if p.publicURL == "" {
		return "网页后台的登录链接未启用：请管理员设置 **SCRM_PUBLIC_URL**（scrm 的访问地址，例如 https://scrm.example.com）。", nil
	}
	secret, _, err := p.core.IssueLoginLink(ctx, Actor{Viewer: v, Source: SourceBot}, v.StaffID, "/console/")
	if text, ok := refusal(err); ok {
		return text, nil
	}
	if err != nil {
		return "", fmt.Errorf("commands: login link for %s: %w", v.StaffID, err)
	}
	return "**scrm 网页后台**\n> [点此登录后台](" + LoginLinkURL(p.publicURL, secret) + ")\n> 链接 10 分钟内有效，只能使用一次，请勿转发。", nil
}
