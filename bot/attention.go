package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
)

// What needs a salesperson: customers waiting for an answer, open
// complaints, promises due today and reminders due or overdue. 今天 shows it
// on demand and the morning digest every day; a manager's cover the team,
// one line per salesperson.

// waitingHorizon bounds how far back a customer's unanswered message counts
// as waiting: older ones are the dormant scan's business.
const waitingHorizon = 30 * 24 * time.Hour

// attentionList caps the customers one section lists.
const attentionList = 8

// waitingCustomer is a customer whose last message has no answer yet.
type waitingCustomer struct {
	c     *store.Customer
	since time.Time
	// business is how long they have waited within business hours.
	business time.Duration
}

// attention is what needs one salesperson at a moment.
type attention struct {
	staffID    string
	waiting    []waitingCustomer
	complaints []*store.Customer // negative or complaining, not handled since
	alerts     []*store.Reminder // open sentiment alerts
	promises   []*store.Reminder // promises due today
	due        []*store.Reminder // other reminders due today
	overdue    []*store.Reminder // open reminders due before today
}

// empty reports whether nothing needs the salesperson.
func (a *attention) empty() bool {
	return len(a.waiting)+len(a.complaints)+len(a.alerts)+len(a.promises)+len(a.due)+len(a.overdue) == 0
}

// reminders are the attention's reminders in the order they are listed.
func (a *attention) reminders() []*store.Reminder {
	return slices.Concat(a.alerts, a.overdue, a.promises, a.due)
}

// isWaiting reports whether c's last message is theirs and nobody has
// answered it since: an automatic answer is no touch (it never raises
// LastStaffTouchAt), a reply or a note by staff is.
func isWaiting(c *store.Customer) bool { return store.IsWaiting(c) }

// unhandledComplaint reports whether c's latest analysis found them
// negative or complaining and no staff touch came after it.
func unhandledComplaint(c *store.Customer) bool {
	in := c.Insight
	if in == nil || (in.SentimentLabel != nlp.Negative && in.Intent != nlp.IntentComplaint) {
		return false
	}
	return c.LastStaffTouchAt == nil || c.LastStaffTouchAt.Before(in.AnalyzedAt)
}

// openWithin is the closed form of an Hours (config.BusinessHours): how
// much of [from, to) is open, without stepping through it.
type openWithin interface {
	OpenWithin(from, to time.Time) time.Duration
}

// businessSince is how much of [from, to) lies within hours (all of it
// without hours), counting at most max: in closed form when hours have
// one, else stepping a minute at a time.
func businessSince(h Hours, from, to time.Time, max time.Duration) time.Duration {
	if !to.After(from) {
		return 0
	}
	if h == nil {
		return min(to.Sub(from), max)
	}
	if span, ok := h.(openWithin); ok {
		return min(span.OpenWithin(from, to), max)
	}
	var d time.Duration
	for t := from; t.Before(to) && d < max; {
		if !h.Open(t) {
			next := h.NextOpen(t)
			if !next.After(t) {
				next = t.Add(time.Minute)
			}
			t = next
			continue
		}
		step := min(time.Minute, to.Sub(t))
		d += step
		t = t.Add(step)
	}
	return min(d, max)
}

// attentionFor gathers what needs staffID at time at: their customers in
// touch within waitingHorizon (one indexed walk) and their open reminders
// due before tomorrow.
func attentionFor(ctx context.Context, st PlanStore, hours Hours, staffID string, at time.Time, loc *time.Location) (*attention, error) {
	a := &attention{staffID: staffID}
	day := startOfDay(at, loc)
	f := store.CustomerFilter{StaffID: staffID, LastContactAfter: at.Add(-waitingHorizon), Limit: 500}
	for {
		cs, err := st.FindCustomers(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("customers of %s: %w", staffID, err)
		}
		for _, c := range cs {
			if isWaiting(c) {
				a.waiting = append(a.waiting, waitingCustomer{c: c, since: *c.LastCustomerMsgAt,
					business: businessSince(hours, *c.LastCustomerMsgAt, at, waitingHorizon)})
			}
			if unhandledComplaint(c) {
				a.complaints = append(a.complaints, c)
			}
		}
		if len(cs) < f.Limit {
			break
		}
		f.AfterID = cs[len(cs)-1].ID
	}
	// Longest wait first: those are the ones being let down.
	slices.SortStableFunc(a.waiting, func(x, y waitingCustomer) int {
		return cmp.Or(x.since.Compare(y.since), cmp.Compare(x.c.ID, y.c.ID))
	})
	if err := attentionReminders(ctx, st, a, day); err != nil {
		return nil, err
	}
	return a, nil
}

// attentionReminders adds a.staffID's open reminders due before tomorrow
// (day is today's start) to a, and drops the complaints an open alert
// already lists.
func attentionReminders(ctx context.Context, st PlanStore, a *attention, day time.Time) error {
	rs, err := st.FindReminders(ctx, store.ReminderFilter{StaffID: a.staffID, Statuses: openReminderStatuses,
		DueBefore: day.AddDate(0, 0, 1).UTC(), Limit: 200})
	if err != nil {
		return fmt.Errorf("reminders of %s: %w", a.staffID, err)
	}
	alerted := map[string]bool{}
	for _, r := range rs {
		switch {
		case r.Kind == store.ReminderSentiment:
			a.alerts = append(a.alerts, r)
			alerted[r.CustomerID] = true
		case r.DueAt.Before(day):
			a.overdue = append(a.overdue, r)
		case r.Kind == store.ReminderPromise:
			a.promises = append(a.promises, r)
		default:
			a.due = append(a.due, r)
		}
	}
	// A complaint with an open alert is listed once, as the alert.
	a.complaints = slices.DeleteFunc(a.complaints, func(c *store.Customer) bool { return alerted[c.ID] })
	return nil
}

// attentionLines renders one salesperson's attention as digest lines: the
// sections with something in them, reminders with their numbers.
func attentionLines(ctx context.Context, st PlanStore, a *attention, day time.Time, loc *time.Location) ([]string, error) {
	var lines []string
	if len(a.waiting) > 0 {
		lines = append(lines, fmt.Sprintf("**⏳ 等你回复**（%d 位）", len(a.waiting)))
		for _, w := range a.waiting[:min(len(a.waiting), attentionList)] {
			line := fmt.Sprintf("> **%s** 已等 %s（工作时间）", md(clip(displayName(w.c), 12)), waitText(w.business))
			words, err := lastWords(ctx, st, w.c.ID, loc)
			if err != nil {
				return nil, err
			}
			if words != "" {
				line += "\n> 　" + words
			}
			lines = append(lines, line)
		}
		if n := len(a.waiting) - attentionList; n > 0 {
			lines = append(lines, fmt.Sprintf("> …另有 %d 位", n))
		}
	}
	if len(a.complaints) > 0 {
		lines = append(lines, fmt.Sprintf("**😟 情绪不佳未处理**（%d 位）", len(a.complaints)))
		for _, c := range a.complaints[:min(len(a.complaints), attentionList)] {
			line := "> **" + md(clip(displayName(c), 12)) + "** " + nlp.SentimentLabel(c.Insight.SentimentLabel, c.Insight.SentimentScore)
			if c.Insight.Intent == nlp.IntentComplaint {
				line += " · 投诉"
			}
			lines = append(lines, line)
		}
	}
	sections := []struct {
		head string
		rs   []*store.Reminder
	}{
		{"**⚠️ 情绪预警**", a.alerts},
		{"**逾期提醒**", a.overdue},
		{"**今天到期的承诺**", a.promises},
		{"**今天到期的提醒**", a.due},
	}
	for _, s := range sections {
		if len(s.rs) == 0 {
			continue
		}
		rl, err := planLines(ctx, st, s.rs, day, loc)
		if err != nil {
			return nil, err
		}
		lines = append(lines, fmt.Sprintf("%s（%d 条）", s.head, len(s.rs)))
		lines = append(lines, rl...)
	}
	return lines, nil
}

// waitText renders a business-hours wait; under a minute is "刚刚".
func waitText(d time.Duration) string {
	if d < time.Minute {
		return "不到1分钟"
	}
	return fmtSpan(d)
}

// attentionSummary is one salesperson's attention on one line, for their
// manager.
func attentionSummary(a *attention, name string) string {
	if a.empty() {
		return "> **" + md(clip(name, 8)) + "**：暂无待处理 ✅"
	}
	var parts []string
	if n := len(a.waiting); n > 0 {
		longest := a.waiting[0].business
		parts = append(parts, fmt.Sprintf("等回复 %d 位（最久 %s）", n, waitText(longest)))
	}
	if n := len(a.complaints) + len(a.alerts); n > 0 {
		parts = append(parts, fmt.Sprintf("情绪预警 %d", n))
	}
	if n := len(a.overdue); n > 0 {
		parts = append(parts, fmt.Sprintf("逾期 %d", n))
	}
	if n := len(a.promises); n > 0 {
		parts = append(parts, fmt.Sprintf("今日承诺 %d", n))
	}
	if n := len(a.due); n > 0 {
		parts = append(parts, fmt.Sprintf("今日提醒 %d", n))
	}
	line := "> **" + md(clip(name, 8)) + "**：" + strings.Join(parts, " · ")
	if len(a.waiting) > 0 {
		var names []string
		for _, w := range a.waiting[:min(len(a.waiting), 3)] {
			names = append(names, md(clip(displayName(w.c), 8)))
		}
		line += "\n> 　等回复：" + strings.Join(names, "、")
	}
	return line
}

// teamAttention renders what needs a manager's team (an admin's: every
// active salesperson), one summary per salesperson in the order of the
// team; nil when nothing needs any of them.
func teamAttention(ctx context.Context, st PlanStore, hours Hours, v Viewer, at time.Time, loc *time.Location) ([]string, error) {
	staff, err := st.FindStaff(ctx)
	if err != nil {
		return nil, fmt.Errorf("staff: %w", err)
	}
	names := map[string]string{}
	var members []string
	for _, s := range staff {
		names[s.ID] = cmp.Or(s.Name, s.ID)
		if v.Role == RoleAdmin && s.Active && s.Role == RoleSales {
			members = append(members, s.ID)
		}
	}
	if v.Role == RoleManager {
		members = slices.Clone(v.Team)
	}
	var lines []string
	busy := false
	for _, id := range members {
		if id == v.StaffID {
			continue
		}
		a, err := attentionFor(ctx, st, hours, id, at, loc)
		if err != nil {
			return nil, err
		}
		busy = busy || !a.empty()
		lines = append(lines, attentionSummary(a, cmp.Or(names[id], id)))
	}
	if !busy {
		return nil, nil
	}
	return append([]string{"**👥 团队待处理**"}, lines...), nil
}

// escalateKey starts the key of an alert passed on to a manager; such a
// reminder is not passed on again.
const escalateKey = "escalate:"

// Escalate tells each salesperson's manager about the sentiment alerts
// (情绪预警) left unhandled for EscalateAfter business hours: neither done
// nor followed by a staff touch of the customer. The manager gets a
// reminder of their own, created through the core and keyed by the alert
// and the manager, so every instance's scheduler may run this and each
// manager hears of an alert once. It reports how many were new.
func (s *Scheduler) Escalate(ctx context.Context) (int, error) {
	now := s.o.Now().UTC()
	rs, err := s.st.FindReminders(ctx, store.ReminderFilter{Statuses: openReminderStatuses, DueBefore: now.Add(time.Second), Limit: 5000})
	if err != nil {
		return 0, fmt.Errorf("escalate: reminders: %w", err)
	}
	var staff []*store.Staff
	created := 0
	for _, r := range rs {
		if r.Kind != store.ReminderSentiment || r.CustomerID == "" || strings.HasPrefix(r.Key, store.ReminderSentiment+":"+escalateKey) {
			continue
		}
		if businessSince(s.o.Hours, r.CreatedAt, now, s.o.EscalateAfter) < s.o.EscalateAfter {
			continue
		}
		c, err := s.st.FindCustomerByID(ctx, r.CustomerID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return created, fmt.Errorf("escalate: customer %s: %w", r.CustomerID, err)
		}
		if c.LastStaffTouchAt != nil && c.LastStaffTouchAt.After(r.CreatedAt) {
			continue // answered or noted since: handled, if not yet ticked off
		}
		if staff == nil {
			if staff, err = s.st.FindStaff(ctx); err != nil {
				return created, fmt.Errorf("escalate: staff: %w", err)
			}
		}
		name := r.StaffID
		for _, m := range staff {
			if m.ID == r.StaffID && m.Name != "" {
				name = m.Name
			}
		}
		hours := int(s.o.EscalateAfter / time.Hour)
		for _, m := range staff {
			if !m.Active || m.Role != RoleManager || m.ID == r.StaffID || !slices.Contains(m.Team, r.StaffID) {
				continue
			}
			_, ok, err := s.core.CreateReminder(ctx, SystemActor(SourceEscalation), ReminderRequest{
				CustomerID: c.ID,
				Text: clip(fmt.Sprintf("⏫ %s 的情绪预警已超过 %d 个工作小时未处理（#%d）：%s", name, hours, r.ID,
					strings.TrimPrefix(r.Text, "⚠️ ")), MaxReminderRunes),
				DueAt:   now,
				Key:     fmt.Sprintf("%s%d:%s", escalateKey, r.ID, m.ID),
				At:      now,
				Kind:    store.ReminderSentiment,
				StaffID: m.ID,
			})
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return created, fmt.Errorf("escalate: alert %d to %s: %w", r.ID, m.ID, err)
			}
			if ok {
				created++
			}
		}
	}
	return created, nil
}
