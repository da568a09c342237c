package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/store"
)

// MaxReminderRunes bounds a reminder's text.
const MaxReminderRunes = 500

// The reminder actions: CreateReminder (提醒, POST
// /customers/{id}/reminders), CompleteReminder (完成 N, the card's 完成,
// POST /reminders/{id}/complete) and PostponeReminder (推迟 N 明天, the
// card's 推迟一天, POST /reminders/{id}/postpone). A salesperson acts on
// their own reminders, a manager on their team's, an admin on any; any
// other reminder is reported as not found. Each writes its audit entry
// (target: the customer, or "reminder:<id>" without one), then a timeline
// entry of kind reminder on the customer with attrs reminder_id,
// reminder_kind, change (create, done, postpone), by and source, and the
// change, every step idempotent: the create is keyed, so its entry, which
// names the reminder, follows it.

// mayActOnReminder is the reminder visibility rule.
func mayActOnReminder(v Viewer, r *store.Reminder) bool {
	switch v.Role {
	case RoleAdmin:
		return true
	case RoleManager:
		return r.StaffID == v.StaffID || slices.Contains(v.Team, r.StaffID)
	case RoleSales:
		return r.StaffID == v.StaffID
	}
	return false
}

func errReminderNotFound(id int64) error {
	return &ActionError{Err: store.ErrNotFound, Reason: "reminder not found",
		Text: fmt.Sprintf("没有找到你的待办 #%d，发送“待办”查看编号。", id)}
}

// Reminder returns reminder id if a may act on it.
func (c *Core) Reminder(ctx context.Context, a Actor, id int64) (*store.Reminder, error) {
	if id <= 0 {
		return nil, errReminderNotFound(id)
	}
	r, err := c.st.FindReminderByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !mayActOnReminder(a.Viewer, r)) {
		return nil, errReminderNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("actions: reminder %d: %w", id, err)
	}
	return r, nil
}

// Reminders lists the reminders a may act on, soonest first: a
// salesperson's own, a manager's team's (or one member's with f.StaffID),
// an admin's all (or one member's). f.StaffID outside a's reach lists
// nothing.
func (c *Core) Reminders(ctx context.Context, a Actor, f store.ReminderFilter) ([]*store.Reminder, error) {
	var staff []string
	switch {
	case a.Role == RoleAdmin:
		staff = []string{f.StaffID}
	case a.Role == RoleManager && f.StaffID == "":
		staff = slices.Compact(slices.Sorted(slices.Values(append([]string{a.StaffID}, a.Team...))))
	case a.Role == RoleManager || a.Role == RoleSales:
		if f.StaffID != "" && f.StaffID != a.StaffID && (a.Role != RoleManager || !slices.Contains(a.Team, f.StaffID)) {
			return []*store.Reminder{}, nil
		}
		staff = []string{cmp.Or(f.StaffID, a.StaffID)}
	default:
		return []*store.Reminder{}, nil
	}
	limit := cmp.Or(f.Limit, 50)
	out := []*store.Reminder{}
	for _, id := range staff {
		g := f
		g.StaffID, g.Limit = id, limit
		rs, err := c.st.FindReminders(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("actions: reminders of %s: %w", id, err)
		}
		out = append(out, rs...)
	}
	slices.SortStableFunc(out, func(x, y *store.Reminder) int {
		return cmp.Or(x.DueAt.Compare(y.DueAt), cmp.Compare(x.ID, y.ID))
	})
	return out[:min(len(out), limit)], nil
}

// reminderAudit audits an action on a reminder.
func (c *Core) reminderAudit(ctx context.Context, a Actor, action string, r *store.Reminder, detail string, at time.Time) error {
	target := r.CustomerID
	if target == "" {
		target = "reminder:" + strconv.FormatInt(r.ID, 10)
	}
	return c.audit(ctx, a, action, target, detail, at)
}

// reminderEntry records an action on r on its customer's timeline; r
// without a customer has none.
func (c *Core) reminderEntry(ctx context.Context, a Actor, r *store.Reminder, key, change, text string, at time.Time, extra ...string) error {
	if r.CustomerID == "" {
		return nil
	}
	attrs := map[string]string{"reminder_id": strconv.FormatInt(r.ID, 10), "reminder_kind": r.Kind, "change": change,
		"by": a.ID(), "source": a.Source}
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i]] = extra[i+1]
	}
	if _, err := c.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: r.CustomerID, SourceKey: key, Kind: store.EntryReminder, StaffID: r.StaffID,
		Text: text, Attrs: attrs, At: at,
	}); err != nil {
		return fmt.Errorf("actions: reminder entry of %s: %w", r.CustomerID, err)
	}
	return nil
}

// ReminderRequest creates a reminder on a customer: by default a manual one
// for the actor.
type ReminderRequest struct {
	CustomerID string
	Text       string
	DueAt      time.Time // a time already past means now
	Key        string    // idempotency key; empty: a fresh one
	At         time.Time // zero: now
	// Kind is the reminder's kind (default store.ReminderManual). A rule's
	// reminder (a promise read from a message) is keyed by Kind and Key
	// alone, so whichever door sees the message again finds it.
	Kind string
	// StaffID is whom the reminder is for (default the actor). Only an
	// admin (the system actor included) or a manager for their team may
	// name someone else.
	StaffID string
	// Script is a ready-to-send text for the customer (a journey's).
	Script string
}

// CreateReminder creates a reminder on a customer a may see, for a (a staff
// member) or for req.StaffID. It reports whether the reminder is new
// (false: a retry with the same key, returned as stored).
func (c *Core) CreateReminder(ctx context.Context, a Actor, req ReminderRequest) (*store.Reminder, bool, error) {
	staff := cmp.Or(req.StaffID, a.entryStaff())
	switch {
	case staff == "":
		return nil, false, forbidden("only staff members have reminders", "只有员工本人可以创建提醒。")
	case ReservedStaffID(staff) || staff == SystemActorID:
		return nil, false, invalid("staff_id names no staff member", "提醒只能分配给员工。")
	case staff != a.StaffID && a.Role != RoleAdmin && (a.Role != RoleManager || !slices.Contains(a.Team, staff)):
		return nil, false, forbidden("reminders of others are for their manager", "只能给自己或你团队的成员创建提醒。")
	}
	kind := cmp.Or(req.Kind, store.ReminderManual)
	if kind != store.ReminderManual && req.Key == "" {
		return nil, false, invalid("a rule's reminder needs a key", "提醒缺少幂等键。")
	}
	text := trimmed(req.Text)
	if text == "" || utf8.RuneCountInString(text) > MaxReminderRunes {
		return nil, false, invalid(fmt.Sprintf("text must be 1..%d characters", MaxReminderRunes), fmt.Sprintf("提醒事项需为 1 到 %d 个字。", MaxReminderRunes))
	}
	if req.DueAt.IsZero() {
		return nil, false, invalid("due_at is required", "请说明什么时候提醒。")
	}
	script := trimmed(req.Script)
	if utf8.RuneCountInString(script) > maxJourneyScript {
		return nil, false, invalid(fmt.Sprintf("script is at most %d characters", maxJourneyScript), fmt.Sprintf("推荐话术最多 %d 个字。", maxJourneyScript))
	}
	cu, err := c.visible(ctx, a, req.CustomerID)
	if err != nil {
		return nil, false, err
	}
	at, key := c.at(req.At), orRandomKey(req.Key)
	due := req.DueAt.UTC()
	if due.Before(at) {
		due = at
	}
	rkey := "manual:" + a.Source + ":" + a.StaffID + ":" + cu.ID + ":" + key
	if kind != store.ReminderManual {
		rkey = kind + ":" + key
	}
	r := &store.Reminder{
		Key:        rkey,
		CustomerID: cu.ID, StaffID: staff, Kind: kind, Text: text, Script: script,
		DueAt: due, Status: store.ReminderPending, CreatedAt: at, UpdatedAt: at,
	}
	if err := c.audit(ctx, a, AuditReminder, cu.ID, "key="+key+" due="+due.Format(time.RFC3339), at); err != nil {
		return nil, false, err
	}
	created, err := c.st.CreateReminder(ctx, r)
	if err != nil {
		return nil, false, fmt.Errorf("actions: create reminder on %s: %w", cu.ID, err)
	}
	if !created {
		if r, err = c.st.FindReminderByID(ctx, r.ID); err != nil {
			return nil, false, fmt.Errorf("actions: reminder %d: %w", r.ID, err)
		}
	}
	if err := c.reminderEntry(ctx, a, r, "reminder-new:"+strconv.FormatInt(r.ID, 10), "create",
		"新建提醒："+clip(r.Text, 60), at, "due_at", r.DueAt.Format(time.RFC3339)); err != nil {
		return nil, false, err
	}
	return r, created, nil
}

// CompleteReminder marks reminder id done. It reports whether it was open
// (false: already done, which is no error). A cancelled reminder is refused
// (ErrConflict).
func (c *Core) CompleteReminder(ctx context.Context, a Actor, id int64, at time.Time) (*store.Reminder, bool, error) {
	r, err := c.Reminder(ctx, a, id)
	if err != nil {
		return nil, false, err
	}
	if r.Status == store.ReminderCancelled {
		return nil, false, &ActionError{Err: store.ErrConflict, Reason: "the reminder was cancelled",
			Text: fmt.Sprintf("**#%d** 已取消，无需处理。", r.ID)}
	}
	at = c.at(at)
	if err := c.reminderAudit(ctx, a, AuditReminderDone, r, "reminder="+strconv.FormatInt(r.ID, 10), at); err != nil {
		return nil, false, err
	}
	// The key of the entry predates the actions: one completion per reminder.
	if err := c.reminderEntry(ctx, a, r, "reminder-done:"+strconv.FormatInt(r.ID, 10), "done", "完成提醒："+clip(r.Text, 60), at); err != nil {
		return nil, false, err
	}
	if r.Status == store.ReminderDone {
		return r, false, nil
	}
	done := store.ReminderDone
	after, err := c.st.UpdateReminder(ctx, r.ID, store.ReminderUpdate{Status: &done, Now: at})
	if err != nil {
		return nil, false, fmt.Errorf("actions: complete reminder %d: %w", r.ID, err)
	}
	return after, true, nil
}

// PostponeRequest moves a reminder to a later time and re-arms it.
type PostponeRequest struct {
	ID    int64
	Until time.Time
	At    time.Time // zero: now
}

// PostponeReminder moves an open reminder to req.Until, which must lie
// ahead; a done or cancelled reminder is refused (ErrConflict). The
// timeline entry is keyed by the reminder and the new time, so a retry
// finds it.
func (c *Core) PostponeReminder(ctx context.Context, a Actor, req PostponeRequest) (*store.Reminder, error) {
	r, err := c.Reminder(ctx, a, req.ID)
	if err != nil {
		return nil, err
	}
	if r.Status == store.ReminderDone || r.Status == store.ReminderCancelled {
		return nil, &ActionError{Err: store.ErrConflict, Reason: "the reminder is " + r.Status,
			Text: fmt.Sprintf("**#%d** 已经%s，无需推迟。", r.ID, reminderStatusLabel(r.Status))}
	}
	at := c.at(req.At)
	until := req.Until.UTC()
	if !until.After(at) {
		return nil, invalid("until must lie in the future", "这个时间已经过去了，请换一个以后的时间。")
	}
	rid := strconv.FormatInt(r.ID, 10)
	if err := c.reminderAudit(ctx, a, AuditReminderMove, r, "reminder="+rid+" until="+until.Format(time.RFC3339), at); err != nil {
		return nil, err
	}
	if err := c.reminderEntry(ctx, a, r, "reminder-postponed:"+rid+":"+strconv.FormatInt(until.Unix(), 10), "postpone",
		"推迟提醒："+clip(r.Text, 60), at, "due_at", until.Format(time.RFC3339)); err != nil {
		return nil, err
	}
	pending := store.ReminderPending
	after, err := c.st.UpdateReminder(ctx, r.ID, store.ReminderUpdate{DueAt: &until, Status: &pending, Now: at})
	if err != nil {
		return nil, fmt.Errorf("actions: postpone reminder %d: %w", r.ID, err)
	}
	return after, nil
}
