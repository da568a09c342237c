package bot

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
)

// latestDigest is how late in the day a missed morning digest still goes out
// (after an outage); later, the next morning's digest covers the day.
const latestDigest = 4 * time.Hour

// laterOf returns the later of a and b.
func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// atClock is t's date (in loc) at clock after midnight, by the wall clock
// (so a daylight-saving change does not shift it).
func atClock(t time.Time, clock time.Duration, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), int(clock/time.Hour), int(clock%time.Hour/time.Minute), 0, 0, loc)
}

// startOfDay is midnight of t's day in loc.
func startOfDay(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// Plan schedules the day's work once the business clock has reached it: the
// customer scan an hour before the digest time, then the morning digests
// (and on Mondays the weekly manager digests) at the digest time. Planning
// happens once per day across instances (a store cursor records it), and
// each planned job runs once under its lease; a job that runs twice anyway
// (a re-arm racing its completion) finds its own "sent" cursor and stops.
func (s *Scheduler) Plan(ctx context.Context) error {
	now := s.o.Now()
	day := startOfDay(now, s.o.Location)
	date := day.Format("2006-01-02")
	digestAt := atClock(day, s.digestClock, s.o.Location)
	scanAt := laterOf(digestAt.Add(-time.Hour), day)
	if now.Before(scanAt) {
		return nil
	}
	err := s.planOnce(ctx, store.MarkPlan, date, func() error {
		return s.st.ScheduleJob(ctx, "daily:"+date, JobDailyScan, date, scanAt.UTC())
	})
	if err != nil || now.Before(digestAt) {
		return err
	}
	return s.planOnce(ctx, store.MarkPlanDigest, date, func() error {
		if now.Sub(digestAt) > latestDigest {
			return nil
		}
		staff, err := s.st.FindStaff(ctx)
		if err != nil {
			return fmt.Errorf("scheduler: staff: %w", err)
		}
		recipients, err := s.digestRecipients(ctx, staff, day.AddDate(0, 0, 1))
		if err != nil {
			return err
		}
		for _, id := range recipients {
			if err := s.st.ScheduleJob(ctx, "digest:"+id+":"+date, JobDigest, id+"|"+date, digestAt.UTC()); err != nil {
				return fmt.Errorf("scheduler: schedule digest: %w", err)
			}
		}
		if day.Weekday() != time.Monday {
			return nil
		}
		for _, m := range staff {
			if m.Active && m.Role == RoleManager {
				if err := s.st.ScheduleJob(ctx, "weekly:"+m.ID+":"+date, JobWeekly, m.ID+"|"+date, digestAt.UTC()); err != nil {
					return fmt.Errorf("scheduler: schedule weekly digest: %w", err)
				}
			}
		}
		return nil
	})
}

// planOnce runs fn unless marker (kind, key) records that it ran, then
// records it.
func (s *Scheduler) planOnce(ctx context.Context, kind, key string, fn func() error) error {
	return once(ctx, s.st, kind, key, s.o.Now(), fn)
}

// digestRecipients are the active staff plus anyone with an open reminder
// due before until (staff known only from the reminders get digests too).
func (s *Scheduler) digestRecipients(ctx context.Context, staff []*store.Staff, until time.Time) ([]string, error) {
	var ids []string
	for _, m := range staff {
		if m.Active && !slices.Contains(ids, m.ID) {
			ids = append(ids, m.ID)
		}
	}
	rs, err := s.st.FindReminders(ctx, store.ReminderFilter{Statuses: openReminderStatuses, DueBefore: until.UTC(), Limit: 5000})
	if err != nil {
		return nil, fmt.Errorf("scheduler: reminders due today: %w", err)
	}
	for _, r := range rs {
		if r.StaffID != "" && !slices.Contains(ids, r.StaffID) {
			ids = append(ids, r.StaffID)
		}
	}
	return ids, nil
}

func (s *Scheduler) jobHandler(kind string) JobHandler {
	switch kind {
	case JobDigest:
		return s.runDigest
	case JobWeekly:
		return s.runWeekly
	default:
		return s.runDailyScan
	}
}

// jobArgs splits a "<staff>|<date>" payload and parses the date.
func (s *Scheduler) jobArgs(job *store.Job) (string, time.Time, error) {
	who, date, ok := strings.Cut(job.Payload, "|")
	day, err := time.ParseInLocation("2006-01-02", date, s.o.Location)
	if !ok || who == "" || err != nil {
		return "", time.Time{}, fmt.Errorf("scheduler: job %s: bad payload %q", job.Key, job.Payload)
	}
	return who, day, nil
}

// runDigest sends one member's morning digest for the day of job, once.
func (s *Scheduler) runDigest(ctx context.Context, job *store.Job) error {
	staff, day, err := s.jobArgs(job)
	if err != nil {
		return nil // a malformed job would fail forever; drop it
	}
	return s.SendDigest(ctx, staff, day)
}

// SendDigest sends staff's morning digest of day (a business day at
// midnight in SCRM_TIMEZONE) now, unless it was sent already: the job at
// SCRM_DIGEST_AT calls it, and so does the demo at start.
func (s *Scheduler) SendDigest(ctx context.Context, staff string, day time.Time) error {
	sent := staff + ":" + day.Format("2006-01-02")
	if done, err := s.st.GetMarker(ctx, store.MarkDigestSent, sent); err != nil || done != "" {
		return err
	}
	// The digest is what needs the member this morning: at the digest
	// time, or now for one that runs late.
	at := laterOf(atClock(day, s.digestClock, s.o.Location), s.o.Now())
	v, err := s.dir.Viewer(ctx, staff)
	if err != nil {
		v = Viewer{StaffID: staff, Role: RoleSales} // known only from their reminders
	}
	a, err := attentionFor(ctx, s.st, s.o.Hours, staff, at, s.o.Location)
	if err != nil {
		return fmt.Errorf("digest %s: %w", staff, err)
	}
	lines, err := attentionLines(ctx, s.st, a, day, s.o.Location)
	if err != nil {
		return fmt.Errorf("digest %s: %w", staff, err)
	}
	if v.Role == RoleManager || v.Role == RoleAdmin {
		team, err := teamAttention(ctx, s.st, s.o.Hours, v, at, s.o.Location)
		if err != nil {
			return fmt.Errorf("digest %s: team: %w", staff, err)
		}
		lines = append(lines, team...)
	}
	if len(lines) > 0 {
		head := fmt.Sprintf("**早上好**（%s %s）", day.Format("01-02"), cnWeekdays[day.Weekday()])
		if n := len(a.reminders()); n > 0 {
			head = fmt.Sprintf("**早上好，今天有 %d 条跟进**（%s %s）", n, day.Format("01-02"), cnWeekdays[day.Weekday()])
		}
		for _, page := range paginate(head, lines, "回复“完成 编号”“推迟 编号 明天”处理，“回 客户名 内容”回复客户，“今天”随时查看。") {
			if err := s.out.SendMarkdownOnce(ctx, staff, page, pushDupWindow); err != nil {
				return fmt.Errorf("digest %s: send: %w", staff, err)
			}
		}
	}
	if err := s.st.SetMarker(ctx, store.MarkDigestSent, sent, "1", s.o.Now()); err != nil {
		return fmt.Errorf("digest %s: %w", staff, err)
	}
	return nil
}

// runWeekly sends one manager the team overview of the week before the
// job's Monday, once.
func (s *Scheduler) runWeekly(ctx context.Context, job *store.Job) error {
	mgr, day, err := s.jobArgs(job)
	if err != nil {
		return nil
	}
	sent := mgr + ":" + day.Format("2006-01-02")
	if done, err := s.st.GetMarker(ctx, store.MarkWeeklySent, sent); err != nil || done != "" {
		return err
	}
	v, err := s.dir.Viewer(ctx, mgr)
	if err != nil {
		return fmt.Errorf("weekly %s: resolve: %w", mgr, err)
	}
	if v.Role == RoleManager || v.Role == RoleAdmin {
		from := day.AddDate(0, 0, -7)
		ts, err := teamStats(ctx, s.st, v, from, day, time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, s.o.Location), day)
		if err != nil {
			return fmt.Errorf("weekly %s: %w", mgr, err)
		}
		head := fmt.Sprintf("**上周团队周报**（%s ~ %s）", from.Format("01-02"), day.AddDate(0, 0, -1).Format("01-02"))
		for _, page := range renderTeam(ts, head, "上周", "当月") {
			if err := s.out.SendMarkdownOnce(ctx, mgr, page, pushDupWindow); err != nil {
				return fmt.Errorf("weekly %s: send: %w", mgr, err)
			}
		}
	}
	if err := s.st.SetMarker(ctx, store.MarkWeeklySent, sent, "1", s.o.Now()); err != nil {
		return fmt.Errorf("weekly %s: %w", mgr, err)
	}
	return nil
}

// planLines renders reminders with one line of context each: the customer,
// their stage and the last thing they wrote.
func planLines(ctx context.Context, st PlanStore, rs []*store.Reminder, day time.Time, loc *time.Location) ([]string, error) {
	var lines []string
	seen := map[string]string{} // customer → context line
	for _, r := range rs {
		c, name, err := customerName(ctx, st, r.CustomerID)
		if err != nil {
			return nil, err
		}
		when := r.DueAt.In(loc).Format("15:04")
		if r.DueAt.Before(day) {
			when = "<font color=\"warning\">逾期</font>"
		}
		line := fmt.Sprintf("> **#%d** %s", r.ID, when)
		if name != "" {
			line += " **" + md(clip(name, 12)) + "**"
			if c != nil && c.Stage != "" {
				line += "（" + c.Stage + "）"
			}
		}
		line += " " + md(clip(r.Text, 30))
		if c != nil {
			ctxLine, ok := seen[c.ID]
			if !ok {
				ctxLine, err = lastWords(ctx, st, c.ID, loc)
				if err != nil {
					return nil, err
				}
				seen[c.ID] = ctxLine
			}
			if ctxLine != "" {
				line += "\n> 　" + ctxLine
			}
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// lastWords is the customer's latest message on their timeline, clipped,
// or "" when there is none among the recent entries.
func lastWords(ctx context.Context, st PlanStore, customerID string, loc *time.Location) (string, error) {
	es, err := st.FindTimeline(ctx, customerID, 0, 10)
	if err != nil {
		return "", fmt.Errorf("timeline of %s: %w", customerID, err)
	}
	for _, e := range es {
		if e.Kind == store.EntryMessage && e.Direction == store.DirectionIn {
			return "最近来信（" + e.At.In(loc).Format("01-02") + "）：" + md(clip(e.Text, 24)), nil
		}
	}
	return "", nil
}

// today renders the viewer's plan for the day: open reminders due today or
// overdue, each with context.
func (p *Commands) today(ctx context.Context, v Viewer, at time.Time) (string, error) {
	if p.plan == nil {
		return noPlanText, nil
	}
	day := startOfDay(at, p.loc)
	a, err := attentionFor(ctx, p.plan, p.hours, v.StaffID, at, p.loc)
	if err != nil {
		return "", fmt.Errorf("commands: %w", err)
	}
	lines, err := attentionLines(ctx, p.plan, a, day, p.loc)
	if err != nil {
		return "", fmt.Errorf("commands: %w", err)
	}
	if v.Role == RoleManager || v.Role == RoleAdmin {
		team, err := teamAttention(ctx, p.plan, p.hours, v, at, p.loc)
		if err != nil {
			return "", fmt.Errorf("commands: team: %w", err)
		}
		lines = append(lines, team...)
	}
	head := fmt.Sprintf("**今天的计划**（%s %s）", day.Format("01-02"), cnWeekdays[day.Weekday()])
	if len(lines) == 0 {
		n, err := p.plan.CountCustomers(ctx, store.CustomerFilter{StaffID: v.StaffID, LastContactBefore: at.AddDate(0, 0, -p.dormantDays)})
		if err != nil {
			return "", fmt.Errorf("commands: dormant count: %w", err)
		}
		out := head + "\n今天没有到期的提醒，也没有等你回复的客户 🎉"
		if n > 0 {
			out += fmt.Sprintf("\n你有 %d 位客户超过 %d 天没联系，发送“沉睡客户”看看是谁。", n, p.dormantDays)
		}
		return out, nil
	}
	return paginate(head, lines, "回复“完成 编号”或“推迟 编号 明天”处理，“回 客户名 内容”回复客户。")[0], nil
}

// scopeFilter restricts a customer filter to the viewer's scope. It reports
// false when the scope is empty (the viewer may see no customer at all).
func scopeFilter(v Viewer, f store.CustomerFilter) (store.CustomerFilter, bool) {
	scope := v.Scope()
	if scope == nil {
		return f, true
	}
	if len(scope) == 0 {
		return f, false
	}
	if len(scope) == 1 {
		f.StaffID = scope[0]
	} else {
		f.StaffIDs = scope
	}
	return f, true
}

// dormant lists the viewer's customers without interaction for dormantDays.
func (p *Commands) dormant(ctx context.Context, v Viewer, at time.Time) (string, error) {
	if p.plan == nil {
		return noPlanText, nil
	}
	cutoff := at.AddDate(0, 0, -p.dormantDays)
	f, ok := scopeFilter(v, store.CustomerFilter{LastContactBefore: cutoff})
	if !ok {
		return "你目前没有可查看的客户。", nil
	}
	total, err := p.plan.CountCustomers(ctx, f)
	if err != nil {
		return "", fmt.Errorf("commands: dormant count: %w", err)
	}
	if total == 0 {
		return fmt.Sprintf("没有超过 %d 天未联系的客户，保持得很好 👍", p.dormantDays), nil
	}
	f.Limit = 200
	cs, err := p.plan.FindCustomers(ctx, f)
	if err != nil {
		return "", fmt.Errorf("commands: dormant customers: %w", err)
	}
	cs = slices.DeleteFunc(cs, func(c *store.Customer) bool { return !v.CanSee(c) })
	// Longest silence first: those are the ones slipping away.
	slices.SortStableFunc(cs, func(a, b *store.Customer) int { return lastContact(a).Compare(lastContact(b)) })
	var lines []string
	for _, c := range cs[:min(len(cs), 15)] {
		line := "> **" + md(clip(displayName(c), 12)) + "** · " + c.Stage
		if last := lastContact(c); !last.IsZero() {
			line += fmt.Sprintf(" · %d 天未联系", int(at.Sub(last).Hours()/24))
		} else {
			line += " · 从未联系"
		}
		lines = append(lines, line)
	}
	head := fmt.Sprintf("**沉睡客户**（超过 %d 天未联系，共 %d 位）", p.dormantDays, total)
	foot := "发送“查 客户名”看详情，“提醒 客户名 明天 回访”安排跟进。"
	if int64(len(lines)) < total {
		foot = fmt.Sprintf("只列出最久未联系的 %d 位。", len(lines)) + foot
	}
	return paginate(head, lines, foot)[0], nil
}

// lastContact is the later of a customer's last message and last staff
// touch (zero if neither).
func lastContact(c *store.Customer) time.Time {
	var t time.Time
	if c.LastCustomerMsgAt != nil {
		t = *c.LastCustomerMsgAt
	}
	if c.LastStaffTouchAt != nil && c.LastStaffTouchAt.After(t) {
		t = *c.LastStaffTouchAt
	}
	return t
}

// funnelStages are the stages the funnel counts, in pipeline order.
var funnelStages = []string{store.StageLead, store.StageActive, store.StageWon, store.StageDormant}

// funnel counts the viewer's customers by stage.
func (p *Commands) funnel(ctx context.Context, v Viewer) (string, error) {
	if p.plan == nil {
		return noPlanText, nil
	}
	f, ok := scopeFilter(v, store.CustomerFilter{})
	if !ok {
		return "你目前没有可查看的客户。", nil
	}
	total, err := p.plan.CountCustomers(ctx, f)
	if err != nil {
		return "", fmt.Errorf("commands: count: %w", err)
	}
	title := "**我的客户漏斗**"
	if v.Role != RoleSales {
		title = "**团队客户漏斗**"
	}
	if total == 0 {
		return title + "\n还没有客户。", nil
	}
	counts := make([]int64, len(funnelStages))
	var top, sum int64
	for i, stage := range funnelStages {
		sf := f
		sf.Stage = stage
		if counts[i], err = p.plan.CountCustomers(ctx, sf); err != nil {
			return "", fmt.Errorf("commands: count %s: %w", stage, err)
		}
		top, sum = max(top, counts[i]), sum+counts[i]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s（共 %d 位）\n", title, total)
	for i, stage := range funnelStages {
		bar := ""
		if top > 0 {
			bar = strings.Repeat("▇", int((counts[i]*10+top-1)/top))
		}
		fmt.Fprintf(&b, "> %s　%d %s\n", stage, counts[i], bar)
	}
	if other := total - sum; other > 0 {
		fmt.Fprintf(&b, "> 其他　%d\n", other)
	}
	return b.String(), nil
}

// team renders the team overview for managers (and admins).
func (p *Commands) team(ctx context.Context, v Viewer, at time.Time) (string, error) {
	if p.plan == nil {
		return noPlanText, nil
	}
	if v.Role != RoleManager && v.Role != RoleAdmin {
		return "“团队”是主管的功能。你可以发送“漏斗”看自己的客户分布，或“今天”看今天的计划。", nil
	}
	day := startOfDay(at, p.loc)
	week := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // this Monday
	month := time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, p.loc)
	ts, err := teamStats(ctx, p.plan, v, week, at, month, at)
	if err != nil {
		return "", fmt.Errorf("commands: team: %w", err)
	}
	head := fmt.Sprintf("**团队概览**（本周 %s 起）", week.Format("01-02"))
	pages := renderTeam(ts, head, "本周", "本月")
	if len(pages) > 1 {
		return pages[0] + "\n……成员较多，完整数据见每周一的团队周报。", nil
	}
	return pages[0], nil
}

// MemberStats are one salesperson's numbers in a team overview.
type MemberStats struct {
	StaffID   string
	Name      string
	Customers int64 // customers they follow now
	New       int64 // customers who added them in the period
	NewMonth  int64 // customers who added them in the month
	FollowUps int64 // notes and outgoing messages in the period
	// Responses and ResponseTotal measure the time from a customer's message
	// to the next note or reply by this member, for replies in the period.
	Responses     int64
	ResponseTotal time.Duration
	Dormant       int64 // their customers in stage 沉睡 now
	Lost          int64 // customers in stage 流失 they used to follow
	// Negative counts their customers in touch in the period whose latest
	// analysis is negative; Overdue their open reminders due before the
	// period's last day; Waiting their customers whose last message has no
	// answer yet, at the period's end.
	Negative, Overdue, Waiting int64
}

// TeamStats is a team overview for one period.
type TeamStats struct {
	From, To time.Time
	Members  []*MemberStats
	// Sentiment counts the customers in touch since the period began by
	// the label of their latest analysis; Active is their number.
	Sentiment map[string]int64
	Active    int64
}

// teamStats computes the overview of v's team for [from, to), with the
// monthly new-customer count over [monthFrom, monthTo). Everything comes
// from counts the store keeps at write time (store.ActivityStore) and
// indexed counts, so its cost grows with the team's size, not with how
// much its customers talk.
func teamStats(ctx context.Context, st PlanStore, v Viewer, from, to, monthFrom, monthTo time.Time) (*TeamStats, error) {
	ts := &TeamStats{From: from, To: to, Sentiment: map[string]int64{}}
	scope := v.Scope()
	if scope != nil && len(scope) == 0 {
		return ts, nil
	}
	staff, err := st.FindStaff(ctx)
	if err != nil {
		return nil, fmt.Errorf("staff: %w", err)
	}
	names := map[string]string{}
	for _, s := range staff {
		names[s.ID] = s.Name
	}
	members := map[string]*MemberStats{}
	member := func(id string) *MemberStats {
		if id == "" || (scope != nil && !slices.Contains(scope, id)) {
			return nil
		}
		m, ok := members[id]
		if !ok {
			m = &MemberStats{StaffID: id, Name: names[id]}
			members[id] = m
		}
		return m
	}
	for _, id := range scope {
		member(id)
	}
	if scope == nil {
		for _, s := range staff {
			if s.Active && s.Role != RoleAdmin {
				member(s.ID)
			}
		}
	}
	ids := slices.Sorted(maps.Keys(members))

	followUps, err := st.FollowUpStats(ctx, ids, from, to)
	if err != nil {
		return nil, fmt.Errorf("follow-ups: %w", err)
	}
	added, err := st.NewFollowCounts(ctx, ids, from, to)
	if err != nil {
		return nil, fmt.Errorf("new customers: %w", err)
	}
	addedMonth, err := st.NewFollowCounts(ctx, ids, monthFrom, monthTo)
	if err != nil {
		return nil, fmt.Errorf("new customers this month: %w", err)
	}
	for id, m := range members {
		fu := followUps[id]
		m.FollowUps, m.Responses, m.ResponseTotal = fu.FollowUps, fu.Responses, fu.ResponseTime
		m.New, m.NewMonth = added[id], addedMonth[id]
	}

	// Customers in touch since the period began: a customer who wrote last
	// week and again this morning still counts in last week's report.
	f, _ := scopeFilter(v, store.CustomerFilter{LastContactAfter: from})
	sentiment, err := st.SentimentCounts(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("sentiment: %w", err)
	}
	for label, n := range sentiment {
		if label == "" {
			label = "unknown"
		}
		ts.Sentiment[label] += n
		ts.Active += n
	}

	// Lost customers no longer have an active follow, so the follow filter
	// cannot find them: walk the (usually few) lost customers instead.
	lf := store.CustomerFilter{Stage: store.StageLost, Limit: 500}
	for {
		cs, err := st.FindCustomers(ctx, lf)
		if err != nil {
			return nil, fmt.Errorf("lost customers: %w", err)
		}
		for _, c := range cs {
			var counted []string
			for _, fl := range c.Follows {
				if m := member(fl.StaffID); m != nil && !slices.Contains(counted, fl.StaffID) {
					counted = append(counted, fl.StaffID)
					m.Lost++
				}
			}
		}
		if len(cs) < lf.Limit {
			break
		}
		lf.AfterID = cs[len(cs)-1].ID
	}

	followed, err := st.FollowerCounts(ctx, ids, "")
	if err != nil {
		return nil, fmt.Errorf("customers: %w", err)
	}
	dormant, err := st.FollowerCounts(ctx, ids, store.StageDormant)
	if err != nil {
		return nil, fmt.Errorf("dormant customers: %w", err)
	}
	for _, id := range ids {
		m := members[id]
		m.Customers, m.Dormant = followed[id], dormant[id]
		if err := memberAttention(ctx, st, m, from, to); err != nil {
			return nil, err
		}
		ts.Members = append(ts.Members, m)
	}
	return ts, nil
}

// memberAttention fills in m's negative customers, overdue reminders and
// customers waiting for an answer.
func memberAttention(ctx context.Context, st PlanStore, m *MemberStats, from, to time.Time) error {
	sent, err := st.SentimentCounts(ctx, store.CustomerFilter{StaffID: m.StaffID, LastContactAfter: from})
	if err != nil {
		return fmt.Errorf("sentiment of %s: %w", m.StaffID, err)
	}
	m.Negative = sent[nlp.Negative]
	rs, err := st.FindReminders(ctx, store.ReminderFilter{StaffID: m.StaffID, Statuses: openReminderStatuses,
		DueBefore: to.Add(-24 * time.Hour).UTC(), Limit: 1000})
	if err != nil {
		return fmt.Errorf("overdue reminders of %s: %w", m.StaffID, err)
	}
	m.Overdue = int64(len(rs))
	f := store.CustomerFilter{StaffID: m.StaffID, LastContactAfter: to.Add(-waitingHorizon), Limit: 500}
	for {
		cs, err := st.FindCustomers(ctx, f)
		if err != nil {
			return fmt.Errorf("customers of %s: %w", m.StaffID, err)
		}
		for _, c := range cs {
			if isWaiting(c) && !c.LastCustomerMsgAt.After(to) {
				m.Waiting++
			}
		}
		if len(cs) < f.Limit {
			return nil
		}
		f.AfterID = cs[len(cs)-1].ID
	}
}

// sentimentLabels name sentiment labels for staff, in display order.
var sentimentLabels = []struct{ key, name string }{
	{"positive", "积极"}, {"neutral", "中性"}, {"negative", "消极"}, {"unknown", "未分析"},
}

// renderTeam renders a team overview; period and month name the two
// windows ("本周"/"本月", "上周"/"当月").
func renderTeam(ts *TeamStats, head, period, month string) []string {
	var lines []string
	for _, m := range ts.Members {
		name := m.Name
		if name == "" {
			name = m.StaffID
		}
		resp := "—"
		if m.Responses > 0 {
			resp = fmtSpan(m.ResponseTotal / time.Duration(m.Responses))
		}
		line := fmt.Sprintf("> **%s**：客户 %d · %s新增 %d · %s新增 %d · 跟进 %d · 平均响应 %s · 沉睡 %d · 流失 %d",
			clip(name, 8), m.Customers, period, m.New, month, m.NewMonth, m.FollowUps, resp, m.Dormant, m.Lost)
		line += fmt.Sprintf("\n> 　待回复 %d · 逾期提醒 %d · 负面情绪 %d", m.Waiting, m.Overdue, m.Negative)
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		lines = append(lines, "> 团队里还没有成员数据。")
	}
	var parts []string
	for _, l := range sentimentLabels {
		if n := ts.Sentiment[l.key]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", l.name, n))
		}
	}
	// Labels from elsewhere, in a fixed order: a repeated digest must render
	// the same for WeCom's duplicate check.
	var extra []string
	for k := range ts.Sentiment {
		if !slices.ContainsFunc(sentimentLabels, func(l struct{ key, name string }) bool { return l.key == k }) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		parts = append(parts, fmt.Sprintf("%s %d", k, ts.Sentiment[k]))
	}
	sentiment := fmt.Sprintf("**客户情绪**（%s有互动的 %d 位）", period, ts.Active)
	if len(parts) > 0 {
		sentiment += "\n> " + strings.Join(parts, " · ")
	} else {
		sentiment += "\n> 暂无"
	}
	lines = append(lines, sentiment)
	return paginate(head, lines, "跟进 = 备注 + 发给客户的消息；平均响应 = 客户来信到下一次跟进的时间。")
}

// fmtSpan renders a duration the way people say it: 分钟, 小时 or 天.
func fmtSpan(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "不到1分钟"
	case d < time.Hour:
		return fmt.Sprintf("%d分钟", int(d.Minutes()))
	case d < 48*time.Hour:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", d.Hours()), ".0") + "小时"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", d.Hours()/24), ".0") + "天"
}
