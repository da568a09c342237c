package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// InboxStore is what the customer inbox reads and writes.
type InboxStore interface {
	ActionStore // claims are actions of the core
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	cursors // the rotation of offers
}

// StaffMessenger sends the inbox's messages to staff in WeCom (the Pusher
// adapter of cmd/scrm implements it).
type StaffMessenger interface {
	SendMarkdown(ctx context.Context, toUser, content string) error
	SendTemplateCard(ctx context.Context, toUser string, card Card) error
}

// InboxOptions tunes the inbox; zero values take the defaults.
type InboxOptions struct {
	// OfferTTL is how long an unclaimed offer stands; the customer's next
	// message after it goes to the next salesperson (default 30 min).
	OfferTTL time.Duration
	// ClaimFanout is how many salespeople, in rotation, get each claim card
	// (default 1: plain round-robin; more makes it first come, first served).
	ClaimFanout int
	// ForwardMaxAge skips forwarding messages older than this when
	// processed, e.g. the history of a first 微信客服 pull (default 24 h).
	ForwardMaxAge time.Duration
	// ReplyWindow is how long after the customer's last message the
	// platforms accept replies (default 48 h, both OA and 微信客服).
	ReplyWindow time.Duration
	// Route, when set, names the staff an unassigned customer's message may
	// be offered to (a rule, e.g. by kf account); empty falls back to every
	// active salesperson.
	Route    func(ctx context.Context, ev *store.Event, c *store.Customer) ([]string, error)
	Location *time.Location // business time zone for dates staff read (default UTC)
	Now      func() time.Time
	Logger   *slog.Logger
}

// Inbox brings customers' messages from the Official Account and 微信客服 to
// staff and carries staff replies back:
//
//   - A message from a customer with an owner (an active follow) is
//     forwarded to the owner as an app message, once per event (marker
//     store.MarkInboxForward, per recipient).
//   - A customer with no owner is offered round-robin among active
//     salespeople (or the staff Route names) with a claim card; the first
//     press of 接待 (or the command "接 张三") wins and makes the presser
//     the owner, later ones are told who won. First-press-wins holds across
//     instances because a claim is an event in the log under the unique
//     dedup key "inbox:claim:<customer>:<round>"; processing that event
//     applies the claim (a follow with State "inbox"), so it survives a
//     crash at any point.
//   - "回 张三 内容" sends a reply through the channel the customer last
//     wrote on, inside the platform window, and records it on the timeline.
//
// Never-owned customers who have written in form a shared pool: any active
// salesperson may claim one by name with "接", though they cannot see the
// customer's record until they do. A customer who has had an owner and
// lost them (the follow ended: del_follow_user, del_external_contact) is
// not in that pool: they go back to the former owner's team (see
// returnTeam), whose managers get the offer and whose members alone (with
// admins) may claim them. A claim never reaches outside the claimer's
// team, so nobody reads a former owner's history by claiming.
type Inbox struct {
	st   InboxStore
	core *Core // claims
	out  StaffMessenger
	send CustomerSender
	dir  Directory
	o    InboxOptions
}

// NewInbox returns the inbox processor. send may be nil when no channel can
// send to customers (replies then explain why).
func NewInbox(st InboxStore, out StaffMessenger, send CustomerSender, dir Directory, o InboxOptions) *Inbox {
	o.OfferTTL = positiveOr(o.OfferTTL, 30*time.Minute)
	o.ClaimFanout = positiveOr(o.ClaimFanout, 1)
	o.ForwardMaxAge = positiveOr(o.ForwardMaxAge, 24*time.Hour)
	o.ReplyWindow = positiveOr(o.ReplyWindow, 48*time.Hour)
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	return &Inbox{st: st, core: NewCore(st, o.Now), out: out, send: send, dir: dir, o: o}
}

// Name implements Processor.
func (*Inbox) Name() string { return "inbox" }

// KindClaim is the kind of the claim events the inbox writes to the log.
const KindClaim = "bot.claim"

// FollowStateInbox marks a follow created by claiming a customer in the inbox.
const FollowStateInbox = "inbox"

const claimKeyPrefix = "claim:"

// Process implements Processor.
func (in *Inbox) Process(ctx context.Context, ev *store.Event) error {
	switch {
	case isCustomerMessage(ev):
		return in.forward(ctx, ev)
	case ev.Kind == "event.template_card_event" && strings.HasPrefix(ev.Attrs["EventKey"], claimKeyPrefix) && ev.StaffID != "":
		return in.press(ctx, ev)
	case ev.Kind == KindClaim:
		return in.applyClaim(ctx, ev)
	}
	return nil
}

// ---- forwarding and offers ----

// offerState is the inbox's memory of an unassigned customer
// (store.InboxStateStore); the zero value is a customer never offered.
type offerState = store.InboxOffer

// cursors is the store's named values: sync positions such as the 微信客服
// cursor or the inbox's rotation (markers that something was done, and
// the state of handovers and offers, have stores of their own).
type cursors interface {
	GetCursor(ctx context.Context, name string) (string, error)
	SetCursor(ctx context.Context, name, value string) error
}

func loadOffer(ctx context.Context, st store.InboxStateStore, customerID string) (offerState, error) {
	o, err := st.FindInboxOffer(ctx, customerID)
	if errors.Is(err, store.ErrNotFound) {
		return offerState{CustomerID: customerID}, nil
	}
	if err != nil {
		return offerState{}, fmt.Errorf("inbox: offer state: %w", err)
	}
	return *o, nil
}

func saveOffer(ctx context.Context, st store.InboxStateStore, o offerState) error {
	if err := st.PutInboxOffer(ctx, &o); err != nil {
		return fmt.Errorf("inbox: save offer state: %w", err)
	}
	return nil
}

func (in *Inbox) forward(ctx context.Context, ev *store.Event) error {
	now := in.o.Now()
	if !firstRun(ev) {
		if done, err := in.st.GetMarker(ctx, store.MarkInboxForward, ev.DedupKey); err != nil {
			return fmt.Errorf("inbox: %w", err)
		} else if done != "" {
			return nil
		}
	}
	// The forward's own marker only settles the event: each message it
	// sends is marked at once (once), so a rerun sends none twice, and
	// the marker may wait for the batch.
	if now.Sub(eventTime(ev)) > in.o.ForwardMaxAge {
		return in.st.SetMarker(withBatch(ctx), store.MarkInboxForward, ev.DedupKey, "stale", now)
	}
	c, err := in.st.FindCustomerByIdentity(ctx, identityOf(ev))
	if err != nil {
		// The customers processor runs first; a miss is worth a retry.
		return fmt.Errorf("inbox: find customer: %w", err)
	}
	auto, err := in.st.GetMarker(ctx, store.MarkInboxAuto, ev.DedupKey)
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	owners, err := in.reachable(ctx, activeOwners(c))
	if err != nil {
		return err
	}
	if len(owners) > 0 {
		msg := renderForward(ev, c, auto, false)
		for _, staff := range owners {
			err := once(ctx, in.st, store.MarkInboxForward, ev.DedupKey+":"+staff, now, func() error { return in.out.SendMarkdown(ctx, staff, msg) })
			if err != nil {
				return fmt.Errorf("inbox: forward to owner: %w", err)
			}
		}
	} else if err := in.offer(ctx, ev, c, auto); err != nil {
		return err
	}
	return in.st.SetMarker(withBatch(ctx), store.MarkInboxForward, ev.DedupKey, "1", now)
}

// offer brings an unassigned customer's message to staff: a claim card to
// the next salespeople in rotation when no offer stands, else a forward to
// those already offered.
func (in *Inbox) offer(ctx context.Context, ev *store.Event, c *store.Customer, auto string) error {
	st, err := loadOffer(ctx, in.st, c.ID)
	if err != nil {
		return err
	}
	now := in.o.Now().UTC()
	if st.Opener != ev.DedupKey {
		fresh := len(st.To) > 0 && st.ClaimedBy == "" && now.Sub(st.At) <= in.o.OfferTTL
		if fresh {
			msg := renderForward(ev, c, auto, true)
			return in.toEach(ctx, ev, st.To, "forward to offered staff", func(to string) error { return in.out.SendMarkdown(ctx, to, msg) })
		}
		var to []string
		if churned(c) {
			to, err = in.churnTargets(ctx, c)
		} else {
			to, err = in.pickTargets(ctx, ev, c)
		}
		if err != nil {
			return err
		}
		if len(to) == 0 {
			in.o.Logger.Warn("inbox: no active staff to offer an unassigned customer to", "customer_id", c.ID, "channel", ev.Channel)
			return nil
		}
		// Rounds only grow, so a claim key never repeats for a customer.
		st = offerState{CustomerID: c.ID, Round: st.Round + 1, To: to, At: now, Opener: ev.DedupKey}
		if err := saveOffer(ctx, in.st, st); err != nil {
			return err
		}
	}
	card := claimCard(ev, c, st, auto)
	return in.toEach(ctx, ev, st.To, "claim card", func(to string) error { return in.out.SendTemplateCard(ctx, to, card) })
}

// toEach sends what ev brings to each of staff once: a redelivered event
// skips whoever already has it.
func (in *Inbox) toEach(ctx context.Context, ev *store.Event, staff []string, what string, send func(to string) error) error {
	for _, to := range staff {
		if err := once(ctx, in.st, store.MarkInboxForward, ev.DedupKey+":"+to, in.o.Now(), func() error { return send(to) }); err != nil {
			return fmt.Errorf("inbox: %s: %w", what, err)
		}
	}
	return nil
}

// pickTargets chooses who is offered a customer: the next ClaimFanout
// members of the pool in rotation. The rotation counter is a plain cursor:
// two instances offering at the same instant may both take the same turn,
// which only skews the rotation.
func (in *Inbox) pickTargets(ctx context.Context, ev *store.Event, c *store.Customer) ([]string, error) {
	var pool []string
	if in.o.Route != nil {
		var err error
		if pool, err = in.o.Route(ctx, ev, c); err != nil {
			return nil, fmt.Errorf("inbox: route: %w", err)
		}
	}
	if len(pool) == 0 {
		staff, err := in.st.FindStaff(ctx)
		if err != nil {
			return nil, fmt.Errorf("inbox: staff: %w", err)
		}
		pool = activeWithRole(staff, RoleSales)
		if len(pool) == 0 {
			// Nobody in sales: managers and admins rather than silence.
			pool = activeWithRole(staff, RoleManager, RoleAdmin)
		}
	}
	if len(pool) == 0 {
		return nil, nil
	}
	h := fnv.New64a()
	h.Write([]byte(strings.Join(pool, "\x00")))
	rrKey := fmt.Sprintf("inbox:rr:%x", h.Sum64())
	raw, err := in.st.GetCursor(ctx, rrKey)
	if err != nil {
		return nil, fmt.Errorf("inbox: rotation: %w", err)
	}
	n, _ := strconv.Atoi(raw)
	k := min(in.o.ClaimFanout, len(pool))
	to := make([]string, 0, k)
	for i := range k {
		to = append(to, pool[(n+i)%len(pool)])
	}
	if err := in.st.SetCursor(ctx, rrKey, strconv.Itoa(n+1)); err != nil {
		return nil, fmt.Errorf("inbox: rotation: %w", err)
	}
	return to, nil
}

// churned reports whether c has had an owner and has none now: every
// follow ended. A customer whose owner left the company but whose follow
// stands is not churned; the handover (离职继承) moves such follows.
func churned(c *store.Customer) bool {
	return len(c.Follows) > 0 && len(activeOwners(c)) == 0
}

// returnTeam is where a churned customer goes back to: the managers who
// lead one of its former owners (or a former owner who is a manager
// themselves), and the members of those teams, active ones only. When no
// former owner is in any team, the active admins take the place of the
// team, and without admins the active managers: a churned customer is never
// offered to, or claimable by, the whole company.
func returnTeam(c *store.Customer, staff []*store.Staff) (managers, members []string) {
	var former []string
	for _, f := range c.Follows {
		if f.Deleted {
			former = append(former, f.StaffID)
		}
	}
	active := map[string]bool{}
	for _, s := range staff {
		active[s.ID] = s.Active
	}
	seen := map[string]bool{}
	add := func(list *[]string, id string) {
		if active[id] && !seen[id] {
			seen[id] = true
			*list = append(*list, id)
		}
	}
	for _, m := range staff {
		if m.Role != RoleManager || !slices.ContainsFunc(former, func(f string) bool { return f == m.ID || slices.Contains(m.Team, f) }) {
			continue
		}
		add(&managers, m.ID)
		for _, id := range m.Team {
			add(&members, id)
		}
	}
	if len(managers)+len(members) == 0 {
		managers = activeWithRole(staff, RoleAdmin)
		if len(managers) == 0 {
			managers = activeWithRole(staff, RoleManager)
		}
	}
	slices.Sort(managers)
	slices.Sort(members)
	return managers, members
}

// churnTargets is who is offered a churned customer: the former owner's
// managers, or the team's members when no manager is active.
func (in *Inbox) churnTargets(ctx context.Context, c *store.Customer) ([]string, error) {
	staff, err := in.st.FindStaff(ctx)
	if err != nil {
		return nil, fmt.Errorf("inbox: staff: %w", err)
	}
	managers, members := returnTeam(c, staff)
	if len(managers) > 0 {
		return managers, nil
	}
	return members, nil
}

// reachable drops staff the directory knows as inactive (they left; WeCom
// would refuse the message for good). Staff it does not know are kept: the
// directory may simply not be synced.
func (in *Inbox) reachable(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	staff, err := in.st.FindStaff(ctx)
	if err != nil {
		return nil, fmt.Errorf("inbox: staff: %w", err)
	}
	inactive := map[string]bool{}
	for _, s := range staff {
		if !s.Active {
			inactive[s.ID] = true
		}
	}
	return slices.DeleteFunc(ids, func(id string) bool { return inactive[id] }), nil
}

func activeWithRole(staff []*store.Staff, roles ...string) []string {
	var out []string
	for _, s := range staff {
		if s.Active && slices.Contains(roles, s.Role) {
			out = append(out, s.ID)
		}
	}
	slices.Sort(out)
	return out
}

// activeOwners lists the staff with an active follow of c.
func activeOwners(c *store.Customer) []string {
	var out []string
	for _, f := range c.Follows {
		if !f.Deleted {
			out = append(out, f.StaffID)
		}
	}
	return out
}

// channelLabel names a channel for staff; WeCom is the default.
func channelLabel(ch string) string { return cmp.Or(channelLabels[ch], "企业微信") }

var channelLabels = map[string]string{
	store.ChannelOA: "公众号",
	store.ChannelKF: "微信客服",
}

// handle is how staff name a customer in commands: the name, or "#<id>"
// when it has none (or one a command could not carry, or one that markdown
// would render: a handle goes into markdown replies as it is).
func handle(c *store.Customer) string {
	if c.Name != "" && !strings.ContainsAny(c.Name, " \t") && md(c.Name) == c.Name {
		return c.Name
	}
	return "#" + c.ID
}

func autoNote(auto string) string {
	switch {
	case strings.HasPrefix(auto, autoFAQ):
		return "🤖 已按常见问题自动回复客户"
	case auto == autoOffHours:
		return "🌙 非工作时间，已自动告知客户工作时间"
	case auto == autoHandover:
		return "🤖 机器人无法确定答案，已告知客户稍候由人工回复"
	}
	return ""
}

func renderForward(ev *store.Event, c *store.Customer, auto string, unclaimed bool) string {
	var b strings.Builder
	h := handle(c)
	fmt.Fprintf(&b, "**%s · %s** 发来消息\n", channelLabel(ev.Channel), mdName(c))
	fmt.Fprintf(&b, "> %s\n", md(quoteLine(ev.Text)))
	if note := autoNote(auto); note != "" {
		b.WriteString(note + "\n")
	}
	if unclaimed {
		fmt.Fprintf(&b, "该客户尚未分配负责人，发送「接 %s」接待\n", h)
	}
	fmt.Fprintf(&b, "回复：回 %s …", h)
	return b.String()
}

// claimCard offers customer c to staff. Its TaskID and content are the same
// when a redelivered event sends it again, so WeCom's duplicate check drops
// the repeat.
func claimCard(ev *store.Event, c *store.Customer, st offerState, auto string) Card {
	rows := []CardRow{{Key: "渠道", Value: channelLabel(ev.Channel)}, {Key: "接待", Value: "点按钮，或发「接 " + clip(handle(c), 12) + "」"}}
	if note := autoNote(auto); note != "" {
		rows = append(rows, CardRow{Key: "机器人", Value: clip(strings.TrimLeft(note, "🤖🌙 "), 26)})
	}
	return Card{
		TaskID:         fmt.Sprintf("claim_%s_%d_%d", c.ID, st.Round, ev.ID),
		Source:         "scrm 客户接待",
		Title:          clip("新客户咨询 · "+displayName(c), 26),
		Desc:           "尚未分配负责人",
		Text:           clip(quoteLine(ev.Text), 100),
		Rows:           rows,
		Buttons:        []CardButton{{Text: "接待", Key: claimKeyPrefix + c.ID, Primary: true}},
		DuplicateCheck: time.Hour,
	}
}

// quoteLine keeps a customer's text on one quoted markdown line.
func quoteLine(s string) string {
	return clip(strings.Join(strings.Fields(s), " "), 300)
}

// ---- claims ----

func (in *Inbox) press(ctx context.Context, ev *store.Event) error {
	return once(ctx, in.st, store.MarkInboxPress, ev.DedupKey, in.o.Now(), func() error {
		v, err := in.dir.Viewer(ctx, ev.StaffID)
		if err != nil {
			return fmt.Errorf("inbox: resolve %s: %w", ev.StaffID, err)
		}
		reply, err := in.claim(ctx, v, strings.TrimPrefix(ev.Attrs["EventKey"], claimKeyPrefix), "card")
		if err != nil {
			return err
		}
		if err := in.out.SendMarkdown(ctx, ev.StaffID, reply); err != nil {
			return fmt.Errorf("inbox: reply to claim: %w", err)
		}
		return nil
	})
}

// claim is a press or a command: v claims customer id through the core's
// Claim action, and the answer for v is rendered here.
func (in *Inbox) claim(ctx context.Context, v Viewer, id, via string) (string, error) {
	res, err := in.core.Claim(ctx, Actor{Viewer: v, Source: SourceBot}, ClaimRequest{CustomerID: id, Via: via})
	var ae *ActionError
	switch {
	case errors.Is(err, errClaimPending):
		return "", err // the pipeline retries when the winner is known
	case errors.As(err, &ae) && errors.Is(err, store.ErrNotFound) && via == "card":
		return "这位客户已不存在（可能已合并或删除）。", nil
	case errors.As(err, &ae) && errors.Is(err, store.ErrNotFound):
		return notClaimable(id), nil
	case errors.As(err, &ae):
		return ae.Text, nil
	case err != nil:
		return "", err
	}
	h := handle(res.Customer)
	switch {
	case res.Already:
		return "你已是 " + h + " 的负责人，可直接回复：回 " + h + " 内容", nil
	case !res.Won:
		return h + " 已被 " + staffName(ctx, in.st, res.Winner) + " 接待。", nil
	}
	return "✅ 你已接待 " + h + "，TA 之后的消息会直接转给你。\n回复：回 " + h + " 内容", nil
}

// applyClaim carries out a claim event the pipeline delivers: the core's
// apply step, which the claiming action may already have done.
func (in *Inbox) applyClaim(ctx context.Context, ev *store.Event) error {
	c, err := in.core.applyClaim(ctx, ev)
	if err != nil {
		return err
	}
	if c == nil {
		in.o.Logger.Warn("inbox: claimed customer is gone", "customer_id", ev.Attrs["customer_id"])
	}
	return nil
}

// ClaimByName is the command "接 张三": v claims an unassigned customer
// who has written in.
func (in *Inbox) ClaimByName(ctx context.Context, v Viewer, query string, at time.Time) (string, error) {
	query = strings.TrimSpace(query)
	if query == "" {
		return "格式：**接 客户名**，例如：接 张三", nil
	}
	if !canClaim(v) {
		return "你没有接待客户的权限，请联系管理员。", nil
	}
	res, err := resolveCustomer(ctx, in.st, in.o.Location, v, query, at, resolveOpts{Verb: "接", Whole: true,
		Keep: func(c *store.Customer) (bool, error) { return in.claimable(ctx, v, c) }, NotFound: notClaimable})
	if err != nil || res.C == nil {
		return res.Reply, err
	}
	return in.claim(ctx, v, res.C.ID, "command")
}

// claimable reports whether 接 may name c for v: a customer in a pool v may
// claim from, one v already sees, or someone else's who came through the
// inbox (where a claim decided the owner, so v learns who won).
func (in *Inbox) claimable(ctx context.Context, v Viewer, c *store.Customer) (bool, error) {
	owned := len(activeOwners(c)) > 0
	switch {
	case !owned && c.LastCustomerMsgAt != nil:
		return in.core.mayClaim(ctx, v, c) // in the pool, or back in their team
	case v.CanSee(c):
		return true, nil // already theirs (or their team's)
	case !owned:
		return false, nil // not in any pool the claimer may reach
	}
	st, err := loadOffer(ctx, in.st, c.ID)
	if err != nil {
		return false, err
	}
	return st.Round > 0 || st.ClaimedBy != "", nil
}

// notClaimable answers a claim of a customer the claimer cannot claim,
// exactly as for one that does not exist.
func notClaimable(query string) string {
	return "没有找到待接待的客户“" + md(clip(query, 20)) + "”。"
}

// ---- replies ----

// Reply is the command "回 张三 内容": it sends the text to a customer v may
// see, through the channel the customer last wrote on, and records it.
// key identifies the command message, so a redelivered command never sends
// twice.
func (in *Inbox) Reply(ctx context.Context, v Viewer, rest, key string, at time.Time) (string, error) {
	const usage = "格式：**回 客户名 回复内容**，例如：回 张三 您好，资料已发到您的邮箱"
	if name, text, _ := strings.Cut(strings.TrimSpace(rest), " "); name == "" || strings.TrimSpace(text) == "" {
		return usage, nil
	}
	res, err := resolveCustomer(ctx, in.st, in.o.Location, v, rest, at, resolveOpts{Verb: "回", Tail: " 内容", Suffix: "消息未发送。"})
	if err != nil || res.C == nil {
		return res.Reply, err
	}
	c, text := res.C, res.Rest
	if text == "" {
		return usage, nil
	}
	h := handle(c)
	last, err := in.lastInbound(ctx, c.ID)
	if err != nil {
		return "", err
	}
	if last == nil {
		return h + " 还没有通过公众号或微信客服给我们发过消息，无法从这里回复，请通过企业微信联系。", nil
	}
	label := channelLabel(last.Channel)
	now := in.o.Now().UTC()
	closed := h + " 超过48小时未发消息，" + label + "无法主动回复，请通过企业微信联系"
	if now.Sub(last.At) > in.o.ReplyWindow {
		return closed, nil
	}
	sum := fnv.New64a()
	sum.Write([]byte(key + "\x00" + c.ID + "\x00" + text))
	sentMark := fmt.Sprintf("%s:%x", v.StaffID, sum.Sum64())
	sentKey := store.MarkInboxReply + ":" + sentMark // names the reply on the timeline too
	sent, err := in.st.GetMarker(ctx, store.MarkInboxReply, sentMark)
	if err != nil {
		return "", fmt.Errorf("inbox: %w", err)
	}
	var ident store.Identity
	if sent == "" {
		ident, err = in.deliver(ctx, c, last.Channel, text, sentKey)
		switch {
		case errors.Is(err, ErrOutsideWindow):
			return h + " 的" + label + "客服窗口已关闭或回复次数已用完（客户发消息后 48 小时内最多回复 5 条），请等 TA 再发消息，或通过企业微信联系。", nil
		case errors.Is(err, errNoRoute), errors.Is(err, ErrCannotSend):
			return h + " 的" + label + "账号信息不全，无法从这里回复，请通过企业微信联系。", nil
		case err != nil:
			return "", err
		}
		if err := in.st.SetMarker(ctx, store.MarkInboxReply, sentMark, "1", now); err != nil {
			return "", fmt.Errorf("inbox: %w", err)
		}
	} else if ident, err = replyIdentity(c, last.Channel); err != nil {
		return "", err
	}
	entry := &store.TimelineEntry{
		CustomerID: c.ID,
		SourceKey:  sentKey,
		Kind:       store.EntryMessage,
		Channel:    last.Channel,
		Direction:  store.DirectionOut,
		StaffID:    v.StaffID,
		Text:       text,
		Attrs:      map[string]string{AttrPromisesRead: "true"},
		At:         now,
	}
	if _, err := in.st.AppendTimeline(ctx, entry); err != nil {
		return "", fmt.Errorf("inbox: reply timeline: %w", err)
	}
	if _, err := in.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: ident, StaffAt: now, Now: now}); err != nil {
		return "", fmt.Errorf("inbox: staff touch: %w", err)
	}
	// The entry is marked read for promises before it is stored: a crash
	// right here leaves the reminders to the redelivered command, which
	// finds the reply sent and comes back to this line.
	made, err := in.core.remindPromises(ctx, Actor{Viewer: v, Source: SourceBot}, c, entry, in.o.Location)
	if err != nil {
		return "", fmt.Errorf("inbox: %w", err)
	}
	out := "✅ 已通过" + label + "回复 " + h + "：" + clip(text, 60)
	if made > 0 {
		out += fmt.Sprintf("\n⏰ 你在回复里的承诺已记为提醒（%d 条），发送“今天”或“待办”查看。", made)
	}
	return out, nil
}

var errNoRoute = errors.New("inbox: no address on the channel")

// replyIdentity is the identity a reply on channel goes to.
func replyIdentity(c *store.Customer, channel string) (store.Identity, error) {
	kind := store.IdentityOpenID
	if channel == store.ChannelKF {
		kind = store.IdentityKFUserID
	}
	for _, id := range c.Identities {
		if id.Kind == kind {
			return id, nil
		}
	}
	return store.Identity{}, errNoRoute
}

func (in *Inbox) deliver(ctx context.Context, c *store.Customer, channel, text, key string) (store.Identity, error) {
	id, err := replyIdentity(c, channel)
	if err != nil {
		return id, err
	}
	if in.send == nil {
		return id, errNoRoute
	}
	switch channel {
	case store.ChannelOA:
		err = in.send.SendOAText(ctx, id.Value, text)
	case store.ChannelKF:
		account, aerr := in.st.KFAccount(ctx, id.Value)
		if aerr != nil {
			return id, fmt.Errorf("inbox: kf account: %w", aerr)
		}
		if account == "" {
			return id, errNoRoute
		}
		err = in.send.SendKFText(ctx, account, id.Value, text, kfMsgID("reply", key))
	default:
		return id, errNoRoute
	}
	if err != nil && !errors.Is(err, ErrOutsideWindow) {
		return id, fmt.Errorf("inbox: send reply: %w", err)
	}
	return id, err
}

// lastInbound finds the customer's latest message on a channel scrm can
// reply on.
func (in *Inbox) lastInbound(ctx context.Context, customerID string) (*store.TimelineEntry, error) {
	var before int64
	for range 4 { // the last 200 entries are plenty: the window is 48 hours
		page, err := in.st.FindTimeline(ctx, customerID, before, 50)
		if err != nil {
			return nil, fmt.Errorf("inbox: timeline: %w", err)
		}
		for _, e := range page {
			if e.Kind == store.EntryMessage && e.Direction == store.DirectionIn &&
				(e.Channel == store.ChannelOA || e.Channel == store.ChannelKF) {
				return e, nil
			}
		}
		if len(page) < 50 {
			return nil, nil
		}
		before = page[len(page)-1].ID
	}
	return nil, nil
}

// kfMsgID derives kf send_msg's optional msgid (at most 32 characters of
// [0-9a-zA-Z_-]) from what the message answers, for tracing.
func kfMsgID(kind, key string) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	return fmt.Sprintf("%s_%016x", kind, h.Sum64())
}

// SetInbox enables the commands "回 张三 内容" and "接 张三".
func (p *Commands) SetInbox(in *Inbox) { p.inbox = in }
