package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Questions managers ask, answered by rules when there is no LLM (or it
// fails): who has the most unhappy customers this week, which customers
// need a follow-up today, and how a colleague or a customer is doing. Each
// answer reads only what the asker may see, like the commands.

// askKind is a question the rules recognise.
type askKind int

const (
	askNone askKind = iota
	askUnhappy
	askFollowUp
	askAbout
	askTeamOverview
)

// classifyQuestion recognises a question; for askAbout it returns who.
func classifyQuestion(text string) (askKind, string) {
	t := strings.TrimSpace(text)
	has := func(ws ...string) bool {
		return slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(t, w) })
	}
	switch {
	case has("不满意", "不满", "负面", "消极", "情绪差", "情绪不好", "投诉", "不开心") && has("谁", "哪", "排", "最"):
		return askUnhappy, ""
	case has("跟进", "联系", "回访", "处理") && has("今天", "今日", "现在", "马上") && has("哪", "谁", "什么", "需要", "该", "要"):
		return askFollowUp, ""
	}
	if m := aboutCustomer.FindStringSubmatch(t); m != nil {
		if has("团队", "大家", "我们") {
			return askTeamOverview, ""
		}
		return askAbout, m[1]
	}
	return askNone, ""
}

// answerOffline answers a question by rules; ok is false when the text is
// not one it knows.
func (p *Commands) answerOffline(ctx context.Context, v Viewer, text string, at time.Time) (string, bool, error) {
	kind, who := classifyQuestion(text)
	var reply string
	var err error
	switch kind {
	case askUnhappy:
		reply, err = p.unhappyThisWeek(ctx, v, at)
	case askFollowUp:
		reply, err = p.followUpToday(ctx, v, at)
	case askAbout:
		reply, err = p.about(ctx, v, who, at)
	case askTeamOverview:
		reply, err = p.team(ctx, v, at)
	default:
		return "", false, nil
	}
	return reply, true, err
}

// weekStart is the Monday 00:00 (in loc) of t's week.
func weekStart(t time.Time, loc *time.Location) time.Time {
	day := startOfDay(t, loc)
	return day.AddDate(0, 0, -((int(day.In(loc).Weekday()) + 6) % 7))
}

// askMembers are the staff a question about "who" ranges over: a manager's
// team and themselves, everyone active for an admin, the asker for sales.
func (p *Commands) askMembers(ctx context.Context, v Viewer) ([]*store.Staff, error) {
	staff, err := p.st.FindStaff(ctx)
	if err != nil {
		return nil, fmt.Errorf("commands: staff: %w", err)
	}
	scope := v.Scope()
	var out []*store.Staff
	for _, s := range staff {
		switch {
		case scope == nil && s.Active && s.Role != RoleAdmin:
			out = append(out, s)
		case scope != nil && slices.Contains(scope, s.ID):
			out = append(out, s)
		}
	}
	return out, nil
}

// negativeCustomers returns up to limit customers of staffID whose latest
// analysis is negative and who were in touch at or after since (zero: any
// time), that v may see.
func (p *Commands) negativeCustomers(ctx context.Context, v Viewer, staffID string, since time.Time, limit int) ([]*store.Customer, error) {
	return scanCustomers(ctx, p.st, store.CustomerFilter{StaffID: staffID, LastContactAfter: since}, limit, func(c *store.Customer) (bool, error) {
		return v.CanSee(c) && c.Insight != nil && c.Insight.SentimentLabel == "negative", nil
	})
}

// unhappyThisWeek is "本周谁的客户最不满意？": per salesperson, the customers
// in touch this week whose latest analysis is negative, most first.
func (p *Commands) unhappyThisWeek(ctx context.Context, v Viewer, at time.Time) (string, error) {
	from := weekStart(at, p.loc)
	members, err := p.askMembers(ctx, v)
	if err != nil {
		return "", err
	}
	type row struct {
		name  string
		n     int64
		names []string
	}
	var rows []row
	for _, m := range members {
		counts, err := p.st.SentimentCounts(ctx, store.CustomerFilter{StaffID: m.ID, LastContactAfter: from})
		if err != nil {
			return "", fmt.Errorf("commands: sentiment: %w", err)
		}
		n := counts["negative"]
		if n == 0 {
			continue
		}
		r := row{name: staffLabel(m), n: n}
		cs, err := p.negativeCustomers(ctx, v, m.ID, from, 3)
		if err != nil {
			return "", err
		}
		for _, c := range cs {
			r.names = append(r.names, mdName(c))
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return "本周（" + from.In(p.loc).Format("01-02") + " 起）" + scopeWord(v) + "没有情绪消极的客户 👍", nil
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmpInt64(b.n, a.n) })
	var b strings.Builder
	fmt.Fprintf(&b, "**本周客户情绪消极最多：%s（%d 位）**\n", md(rows[0].name), rows[0].n)
	fmt.Fprintf(&b, "按销售统计（%s 起有联系、最近一次分析为消极的客户）：\n", from.In(p.loc).Format("01-02"))
	for _, r := range rows {
		line := fmt.Sprintf("> %s：%d 位", md(r.name), r.n)
		if len(r.names) > 0 {
			line += "（" + strings.Join(r.names, "、")
			if int64(len(r.names)) < r.n {
				line += " 等"
			}
			line += "）"
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("发送“查 客户名”看详情。")
	return b.String(), nil
}

func scopeWord(v Viewer) string {
	switch v.Role {
	case RoleAdmin:
		return "全公司"
	case RoleManager:
		return "团队"
	}
	return "你"
}

// followUpToday is "哪些客户今天需要跟进？": reminders due by the end of today
// and customers whose last message has no reply yet.
func (p *Commands) followUpToday(ctx context.Context, v Viewer, at time.Time) (string, error) {
	end := startOfDay(at, p.loc).AddDate(0, 0, 1)
	members, err := p.askMembers(ctx, v)
	if err != nil {
		return "", err
	}
	ids := make([]string, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	if v.Role == RoleSales && !slices.Contains(ids, v.StaffID) {
		ids = append(ids, v.StaffID)
	}
	var due []string
	for _, id := range ids {
		rs, err := p.st.FindReminders(ctx, store.ReminderFilter{StaffID: id, Statuses: openReminderStatuses, DueBefore: end, Limit: 50})
		if err != nil {
			return "", fmt.Errorf("commands: reminders: %w", err)
		}
		for _, r := range rs {
			_, name, err := customerName(ctx, p.st, r.CustomerID)
			if err != nil {
				return "", fmt.Errorf("commands: %w", err)
			}
			line := "> " + r.DueAt.In(p.loc).Format("01-02 15:04")
			if r.DueAt.Before(at) {
				line += " <font color=\"warning\">已到期</font>"
			}
			if name != "" {
				line += " **" + md(clip(name, 12)) + "**"
			}
			line += " " + md(clip(r.Text, 30))
			if id != v.StaffID {
				line += "（" + md(staffName(ctx, p.st, id)) + "）"
			}
			due = append(due, line)
		}
	}
	// Customers waiting: they wrote after the last touch by staff.
	f, ok := scopeFilter(v, store.CustomerFilter{LastContactAfter: at.AddDate(0, 0, -7)})
	var waiting []string
	if ok {
		cs, err := scanCustomers(ctx, p.st, f, 20, func(c *store.Customer) (bool, error) {
			return v.CanSee(c) && c.LastCustomerMsgAt != nil &&
				(c.LastStaffTouchAt == nil || c.LastStaffTouchAt.Before(*c.LastCustomerMsgAt)), nil
		})
		if err != nil {
			return "", err
		}
		names := memoStaffNames(ctx, p.st)
		for _, c := range cs {
			line := "> **" + mdName(c) + "** 来信 " + c.LastCustomerMsgAt.In(p.loc).Format("01-02 15:04") + " 未回复"
			if owners := activeOwners(c); v.Role != RoleSales && len(owners) > 0 {
				line += "（" + md(names(owners[0])) + "）"
			}
			waiting = append(waiting, line)
		}
	}
	if len(due) == 0 && len(waiting) == 0 {
		return "今天没有需要跟进的客户：没有到期的提醒，也没有等待回复的客户 🎉", nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**今天需要跟进**（提醒 %d 条，等待回复 %d 位）\n", len(due), len(waiting))
	if len(due) > 0 {
		b.WriteString("到期提醒：\n" + strings.Join(due, "\n") + "\n")
	}
	if len(waiting) > 0 {
		b.WriteString("等待回复（近 7 天）：\n" + strings.Join(waiting, "\n") + "\n")
	}
	return b.String(), nil
}

// about is "张伟最近怎么样？": a staff report when who is a member the asker
// may look at (their team; themselves), otherwise the customer card.
func (p *Commands) about(ctx context.Context, v Viewer, who string, at time.Time) (string, error) {
	members, err := p.askMembers(ctx, v)
	if err != nil {
		return "", err
	}
	for _, m := range members {
		if m.Name == who || m.ID == who {
			return p.staffReport(ctx, v, m, at)
		}
	}
	return p.lookup(ctx, v, who, at)
}

// staffReport is how a member is doing: customers, follow-ups this week,
// overdue reminders and customers whose latest analysis is negative.
func (p *Commands) staffReport(ctx context.Context, v Viewer, m *store.Staff, at time.Time) (string, error) {
	from := weekStart(at, p.loc)
	followers, err := p.st.FollowerCounts(ctx, []string{m.ID}, "")
	if err != nil {
		return "", fmt.Errorf("commands: customers: %w", err)
	}
	fu, err := p.st.FollowUpStats(ctx, []string{m.ID}, from, at)
	if err != nil {
		return "", fmt.Errorf("commands: follow-ups: %w", err)
	}
	added, err := p.st.NewFollowCounts(ctx, []string{m.ID}, from, at)
	if err != nil {
		return "", fmt.Errorf("commands: new customers: %w", err)
	}
	// Overdue as 今天 counts it: open and due before today; one due earlier
	// today is today's work, not late.
	overdue, err := p.st.FindReminders(ctx, store.ReminderFilter{StaffID: m.ID, Statuses: openReminderStatuses,
		DueBefore: startOfDay(at, p.loc).UTC(), Limit: 100})
	if err != nil {
		return "", fmt.Errorf("commands: reminders: %w", err)
	}
	counts, err := p.st.SentimentCounts(ctx, store.CustomerFilter{StaffID: m.ID})
	if err != nil {
		return "", fmt.Errorf("commands: sentiment: %w", err)
	}
	neg, err := p.negativeCustomers(ctx, v, m.ID, time.Time{}, 5)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**%s 的近况**（本周 %s 起）\n", md(staffLabel(m)), from.In(p.loc).Format("01-02"))
	fmt.Fprintf(&b, "> 跟进客户：%d 位（本周新增 %d）\n", followers[m.ID], added[m.ID])
	s := fu[m.ID]
	line := fmt.Sprintf("> 本周跟进：%d 次", s.FollowUps)
	if s.Responses > 0 {
		line += "，平均响应 " + fmtSpan(s.ResponseTime/time.Duration(s.Responses))
	}
	b.WriteString(line + "\n")
	over := fmt.Sprintf("> 逾期提醒：%d 条", len(overdue))
	if len(overdue) == 100 {
		over = "> 逾期提醒：100 条以上"
	}
	b.WriteString(over + "\n")
	negLine := fmt.Sprintf("> 情绪消极的客户：%d 位", counts["negative"])
	if len(neg) > 0 {
		names := make([]string, len(neg))
		for i, c := range neg {
			names[i] = mdName(c)
		}
		negLine += "（" + strings.Join(names, "、") + "）"
	}
	b.WriteString(negLine + "\n")
	return b.String(), nil
}
