package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// Card is a WeCom template card of type button_interaction, in the terms the
// bot needs; cmd/scrm translates it to the wire format.
type Card struct {
	// TaskID names the card in template_card_event callbacks. WeCom wants it
	// unique per app (letters, digits and _-@, at most 128 bytes), and the
	// same TaskID and content when a push is repeated, so that the duplicate
	// check recognises the repeat.
	TaskID string
	Source string // the small line above the title, e.g. "scrm 跟进提醒"
	Title  string // at most 26 characters
	Desc   string // under the title, at most 30 characters
	Text   string // the body (sub_title_text), at most 112 characters
	// Quote is a text quoted whole below the body for the member to copy
	// (a journey reminder's ready-to-send script).
	Quote   string
	Rows    []CardRow
	Buttons []CardButton
	// DuplicateCheck > 0 asks WeCom to drop the same card sent to the same
	// member again within this window (at most 4 h).
	DuplicateCheck time.Duration
}

// TemplateCard is c in WeCom's terms: a button_interaction template card.
func (c Card) TemplateCard() wecom.TemplateCard {
	tc := wecom.TemplateCard{CardType: "button_interaction", MainTitle: &wecom.CardTitle{Title: c.Title, Desc: c.Desc},
		SubTitleText: c.Text, TaskID: c.TaskID}
	if c.Source != "" {
		tc.Source = &wecom.CardSource{Desc: c.Source}
	}
	if c.Quote != "" {
		tc.QuoteArea = &wecom.CardQuoteArea{Title: "可直接发送", QuoteText: c.Quote}
	}
	for _, r := range c.Rows {
		tc.HorizontalContentList = append(tc.HorizontalContentList, wecom.CardHorizontalContent{KeyName: r.Key, Value: r.Value})
	}
	for _, b := range c.Buttons {
		style := 2 // WeCom's plain button
		if b.Primary {
			style = 1
		}
		tc.ButtonList = append(tc.ButtonList, wecom.CardButton{Text: b.Text, Key: b.Key, Style: style})
	}
	return tc
}

// CardRow is one key/value line of a card.
type CardRow struct {
	Key   string // at most 5 characters
	Value string // at most 26 characters
}

// CardButton is a button; Key comes back as the callback's EventKey.
type CardButton struct {
	Text    string
	Key     string
	Primary bool // the highlighted style
}

// Pusher sends what the scheduler and the card buttons deliver. Any push may
// be repeated after a crash, so each carries WeCom's duplicate check window:
// the same content to the same member within it is delivered once.
type Pusher interface {
	Messenger
	// SendTemplateCard sends card to one member.
	SendTemplateCard(ctx context.Context, toUser string, card Card) error
	// SendMarkdownOnce sends markdown with the duplicate check on over window.
	SendMarkdownOnce(ctx context.Context, toUser, content string, window time.Duration) error
}

// Button keys of reminder cards: "rem:<action>:<argument>".
const (
	keyDone   = "rem:done:"   // + reminder ID
	keySnooze = "rem:snooze:" // + reminder ID
	keyView   = "rem:view:"   // + customer ID
)

// CardStore is what the card button processor reads and writes.
type CardStore interface {
	ActionStore // 完成 and 推迟一天 are the core's reminder actions
}

// CardActions handles presses on the buttons of reminder cards
// (template_card_event): 完成 closes the reminder, 推迟一天 moves it a day
// later and 查看客户 sends the customer card. A press acts once: the event
// log stores a redelivered callback once, and the effect of a reprocessed
// event is planned, recorded and then applied, so a crash mid-way repeats
// the same absolute change instead of adding another day.
type CardActions struct {
	st   CardStore
	core *Core
	dir  Directory
	cmds *Commands
	out  Pusher
	loc  *time.Location
	now  func() time.Time
}

// NewCardActions returns the template card processor. cmds renders the
// customer card; now may be nil (time.Now).
func NewCardActions(st CardStore, dir Directory, cmds *Commands, out Pusher, loc *time.Location, now func() time.Time) *CardActions {
	if now == nil {
		now = time.Now
	}
	if loc == nil {
		loc = time.UTC
	}
	return &CardActions{st: st, core: NewCore(st, now), dir: dir, out: out, cmds: cmds, loc: loc, now: now}
}

// Name implements Processor.
func (*CardActions) Name() string { return "card-actions" }

// Process implements Processor.
func (p *CardActions) Process(ctx context.Context, ev *store.Event) error {
	if ev.Channel != store.ChannelWeCom || ev.Kind != "event.template_card_event" || ev.StaffID == "" {
		return nil
	}
	key := ev.Attrs["EventKey"]
	if !strings.HasPrefix(key, "rem:") {
		return nil // another feature's card
	}
	// The press's marker records its plan, then that it is done.
	cursor := ev.DedupKey
	state, done, err := progress(ctx, p.st, store.MarkCardPress, cursor)
	if err != nil || done {
		return err
	}
	viewer, err := p.dir.Viewer(ctx, ev.StaffID)
	if err != nil {
		return fmt.Errorf("card actions: resolve %s: %w", ev.StaffID, err)
	}
	reply, err := p.press(ctx, viewer, key, ev.Attrs["TaskId"], cursor, state)
	if err != nil {
		return err
	}
	if reply != "" {
		// The reply is a function of the recorded plan, so a repeat after a
		// crash sends the same text and the duplicate check drops it.
		if err := p.out.SendMarkdownOnce(ctx, ev.StaffID, reply, pushDupWindow); err != nil {
			return fmt.Errorf("card actions: reply: %w", err)
		}
	}
	return p.st.SetMarker(ctx, store.MarkCardPress, cursor, markDone, p.now())
}

// press applies one button press and returns the reply. state is the plan
// recorded by an earlier, interrupted run of the same event ("" if none).
func (p *CardActions) press(ctx context.Context, v Viewer, key, taskID, cursor, state string) (string, error) {
	if cid, ok := strings.CutPrefix(key, keyView); ok {
		c, err := p.st.FindCustomerByID(ctx, cid)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !v.CanSee(c)) {
			return "这位客户已不在你的可见范围内。", nil
		}
		if err != nil {
			return "", fmt.Errorf("card actions: customer: %w", err)
		}
		return p.cmds.cardFor(ctx, v, c)
	}
	action, idText, _ := strings.Cut(strings.TrimPrefix(key, "rem:"), ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return "", nil // not one of ours: ignore rather than retry forever
	}
	// Only the reminder's own staff member (or their manager) acts on it;
	// the card is only ever pushed to its owner, so anything else is a
	// forged or stale press.
	r, err := p.core.Reminder(ctx, Actor{Viewer: v, Source: SourceBot}, id)
	if errors.Is(err, store.ErrNotFound) {
		verb := "完成"
		if action == "snooze" {
			verb = "推迟"
		}
		return "无法" + verb + "：这条提醒不存在或不属于你。", nil
	}
	if err != nil {
		return "", fmt.Errorf("card actions: reminder %d: %w", id, err)
	}
	switch action {
	case "done":
		return completeReminder(ctx, p.core, Actor{Viewer: v, Source: SourceBot}, r.ID, p.now())
	case "snooze":
		return p.snooze(ctx, v, r, taskID, cursor, state)
	}
	return "", nil
}

// snooze moves r one day later. The new due time is recorded in the press's
// marker before it is applied, so a reprocessed press applies the same time.
func (p *CardActions) snooze(ctx context.Context, v Viewer, r *store.Reminder, taskID, cursor, state string) (string, error) {
	var due time.Time
	if plan, ok := strings.CutPrefix(state, "snooze:"); ok {
		sec, err := strconv.ParseInt(plan, 10, 64)
		if err != nil {
			return "", fmt.Errorf("card actions: bad plan %q", state)
		}
		due = time.Unix(sec, 0).UTC()
	} else {
		switch {
		case r.Status == store.ReminderDone || r.Status == store.ReminderCancelled:
			return "这条提醒已经" + reminderStatusLabel(r.Status) + "，无需推迟。", nil
		case taskID != "" && taskID != reminderTaskID(r):
			// The card is older than the reminder's current schedule: it was
			// already postponed (by this card or a command).
			return "这条提醒已改到 " + fmtDue(r.DueAt, p.loc) + "，无需再推迟。", nil
		}
		due = remNextDay(r.DueAt, p.now(), p.loc)
		if err := p.st.SetMarker(ctx, store.MarkCardPress, cursor, "snooze:"+strconv.FormatInt(due.Unix(), 10), p.now()); err != nil {
			return "", fmt.Errorf("card actions: plan: %w", err)
		}
	}
	_, err := p.core.PostponeReminder(ctx, Actor{Viewer: v, Source: SourceBot}, PostponeRequest{ID: r.ID, Until: due, At: p.now()})
	if text, ok := refusal(err); ok {
		return text, nil
	}
	if err != nil {
		return "", fmt.Errorf("card actions: %w", err)
	}
	return fmt.Sprintf("已推迟 ⏰ **#%d** %s\n> 新的提醒时间：%s", r.ID, md(clip(r.Text, 30)), fmtDue(due, p.loc)), nil
}

// remNextDay is one day after due at the same business clock time, moved on
// by whole days until it lies in the future.
func remNextDay(due, now time.Time, loc *time.Location) time.Time {
	d := due.In(loc).AddDate(0, 0, 1)
	for !d.After(now) {
		d = d.AddDate(0, 0, 1)
	}
	return d.UTC()
}

// reminderTaskID names one push of a reminder: a postponed reminder is a new
// push with a new card, while a repeat of the same push keeps its TaskID.
func reminderTaskID(r *store.Reminder) string {
	return "rem-" + strconv.FormatInt(r.ID, 10) + "-" + strconv.FormatInt(r.DueAt.Unix(), 10)
}

// completeReminder is the reply of a completion through the bot: the
// core's CompleteReminder for a, rendered.
func completeReminder(ctx context.Context, core *Core, a Actor, id int64, now time.Time) (string, error) {
	r, open, err := core.CompleteReminder(ctx, a, id, now)
	if text, ok := refusal(err); ok {
		return text, nil
	}
	if err != nil {
		return "", fmt.Errorf("complete reminder %d: %w", id, err)
	}
	if !open {
		return fmt.Sprintf("**#%d** 已经完成过了 ✅", r.ID), nil
	}
	return fmt.Sprintf("已完成 ✅ **#%d** %s", r.ID, md(clip(r.Text, 40))), nil
}

func reminderStatusLabel(s string) string {
	if label, ok := reminderStatusLabels[s]; ok {
		return label
	}
	return s
}

var reminderStatusLabels = map[string]string{
	store.ReminderPending:   "待提醒",
	store.ReminderSent:      "已提醒",
	store.ReminderDone:      "完成",
	store.ReminderCancelled: "取消",
}

// cnWeekdays are the Chinese names of time.Weekday values.
var cnWeekdays = [...]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}

// fmtDue renders a due time in business time, e.g. "11-25（周三）15:00".
func fmtDue(t time.Time, loc *time.Location) string {
	l := t.In(loc)
	return l.Format("01-02") + "（" + cnWeekdays[l.Weekday()] + "）" + l.Format("15:04")
}

// cardFor is the customer card for viewer v: the card plus the open
// reminders about the customer that v may see (their own; for a manager,
// their team's).
func (p *Commands) cardFor(ctx context.Context, v Viewer, c *store.Customer) (string, error) {
	out, err := p.card(ctx, v, c)
	if err != nil || p.plan == nil {
		return out, err
	}
	rs, err := p.plan.FindReminders(ctx, store.ReminderFilter{CustomerID: c.ID, Statuses: openReminderStatuses, Limit: 20})
	if err != nil {
		return "", fmt.Errorf("commands: reminders of %s: %w", c.ID, err)
	}
	scope := v.Scope()
	var b strings.Builder
	n := 0
	for _, r := range rs {
		if scope != nil && !slices.Contains(scope, r.StaffID) {
			continue
		}
		if n == 5 {
			b.WriteString("> …\n")
			break
		}
		n++
		fmt.Fprintf(&b, "> **#%d** %s %s", r.ID, r.DueAt.In(p.loc).Format("01-02 15:04"), md(clip(r.Text, 30)))
		if r.StaffID != v.StaffID {
			b.WriteString("（" + r.StaffID + "）")
		}
		b.WriteString("\n")
	}
	if n == 0 {
		return out, nil
	}
	return out + "\n**待办提醒**\n" + b.String(), nil
}

// splitNumberedVerb puts a space between a reminder verb and the number
// written straight after it ("完成3" → "完成 3").
func splitNumberedVerb(text string) string {
	for _, verb := range []string{"完成", "推迟", "延后", "待办"} {
		if rest, ok := strings.CutPrefix(text, verb); ok && rest != "" {
			if r := rest[0]; (r >= '0' && r <= '9') || r == '#' {
				return verb + " " + rest
			}
		}
	}
	return text
}
