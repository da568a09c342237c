package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
)

// The console's reads: the workbench (what needs me today), the reports and
// a customer's sentiment over time. They take the viewer and stay inside
// its scope exactly as the bot's 今天 and 团队 do, from the same code
// (attentionFor, teamStats' write-time counts). Nothing here writes.

// ConsoleStore is what the console's reads need.
type ConsoleStore interface {
	PlanStore
	store.ReportStore
}

// ConsoleOptions tune the console's reads; zero values take the defaults.
type ConsoleOptions struct {
	Hours       Hours // business hours, for waits counted in them; nil: all hours
	Location    *time.Location
	DormantDays int // as the daily scan (default 30)
	Now         func() time.Time
}

// Console answers the console's pages.
type Console struct {
	st ConsoleStore
	o  ConsoleOptions
}

// NewConsole returns the console's reads over st.
func NewConsole(st ConsoleStore, o ConsoleOptions) *Console {
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.DormantDays = positiveOr(o.DormantDays, 30)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Console{st: st, o: o}
}

// consoleList caps each list of the workbench.
const consoleList = 100

// WaitingItem is a customer waiting for an answer.
type WaitingItem struct {
	CustomerID string    `json:"customer_id"`
	Name       string    `json:"name"`
	OwnerID    string    `json:"owner_id"`
	OwnerName  string    `json:"owner_name"`
	Since      time.Time `json:"since"`
	Minutes    int64     `json:"minutes"` // within business hours
}

// WorkbenchReminders are the reminders due: before today and today.
type WorkbenchReminders struct {
	Overdue []*store.Reminder `json:"overdue"`
	Today   []*store.Reminder `json:"today"`
}

// AlertItem is an open complaint or sentiment alert.
type AlertItem struct {
	CustomerID string    `json:"customer_id"`
	Name       string    `json:"name"`
	Kind       string    `json:"kind"` // complaint, negative or escalated
	Text       string    `json:"text"`
	At         time.Time `json:"at"`
	ReminderID int64     `json:"reminder_id,omitempty"`
}

// PromiseItem is a promise due today.
type PromiseItem struct {
	CustomerID string    `json:"customer_id"`
	Name       string    `json:"name"`
	Text       string    `json:"text"`
	Due        time.Time `json:"due"`
	ReminderID int64     `json:"reminder_id"`
}

// DormantItem is a dormant customer to wake.
type DormantItem struct {
	CustomerID    string     `json:"customer_id"`
	Name          string     `json:"name"`
	OwnerName     string     `json:"owner_name"`
	LastContactAt *time.Time `json:"last_contact_at"`
	Days          int        `json:"days"`
}

// TeamRow is one salesperson's line of a manager's workbench.
type TeamRow struct {
	StaffID   string `json:"staff_id"`
	Name      string `json:"name"`
	Customers int64  `json:"customers"`
	Waiting   int    `json:"waiting"`
	Overdue   int    `json:"overdue"`
	Alerts    int    `json:"alerts"`
	Dormant   int64  `json:"dormant"`
}

// Workbench is what needs the viewer (and, for a manager, their team) now.
type Workbench struct {
	Waiting   []WaitingItem      `json:"waiting"`
	Reminders WorkbenchReminders `json:"reminders"`
	Alerts    []AlertItem        `json:"alerts"`
	Promises  []PromiseItem      `json:"promises"`
	Dormant   []DormantItem      `json:"dormant"`
	Team      []TeamRow          `json:"team"`
}

// consoleMembers are the staff whose work the viewer sees, in ID order,
// and everyone's names: sales themselves, a manager their team (and
// themselves), an admin every active salesperson and manager.
func (c *Console) consoleMembers(ctx context.Context, v Viewer) ([]string, map[string]string, error) {
	staff, err := c.st.FindStaff(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("console: staff: %w", err)
	}
	names := map[string]string{}
	for _, s := range staff {
		names[s.ID] = cmp.Or(s.Name, s.ID)
	}
	var ids []string
	switch scope := v.Scope(); {
	case scope == nil:
		for _, s := range staff {
			if s.Active && (s.Role == RoleSales || s.Role == RoleManager) {
				ids = append(ids, s.ID)
			}
		}
	default:
		ids = slices.Clone(scope)
	}
	slices.Sort(ids)
	return slices.Compact(ids), names, nil
}

// Workbench gathers what needs v today.
func (c *Console) Workbench(ctx context.Context, v Viewer) (*Workbench, error) {
	now := c.o.Now().UTC()
	wb := &Workbench{Waiting: []WaitingItem{}, Reminders: WorkbenchReminders{Overdue: []*store.Reminder{}, Today: []*store.Reminder{}},
		Alerts: []AlertItem{}, Promises: []PromiseItem{}, Dormant: []DormantItem{}, Team: []TeamRow{}}
	members, names, err := c.consoleMembers(ctx, v)
	if err != nil {
		return nil, err
	}
	if len(members) == 0 {
		return wb, nil
	}
	customers := map[string]*store.Customer{}
	customer := func(id string) (*store.Customer, error) {
		if cu, ok := customers[id]; ok || id == "" {
			return cu, nil
		}
		cu, err := c.st.FindCustomerByID(ctx, id)
		if err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("console: customer %s: %w", id, err)
		}
		customers[id] = cu
		return cu, nil
	}
	nameOf := func(cu *store.Customer) string {
		if cu == nil {
			return ""
		}
		return displayName(cu)
	}
	followers, dormant, err := c.followerCounts(ctx, members)
	if err != nil {
		return nil, err
	}
	// The waiting customers and the unhandled complaints of every member
	// from the state kept on the follows: one read each, and only the
	// customers listed are read in full (what 今天 finds by walking each
	// member's customers in touch lately).
	horizon := now.Add(-waitingHorizon)
	waits, err := c.st.WaitingFollows(ctx, members, horizon)
	if err != nil {
		return nil, fmt.Errorf("console: waiting: %w", err)
	}
	concerns, err := c.st.OpenConcerns(ctx, members, horizon)
	if err != nil {
		return nil, fmt.Errorf("console: complaints: %w", err)
	}
	waitingBy := map[string]int{}
	seen := map[string]bool{}
	for _, w := range waits { // by member in ID order: the first follower owns the line
		waitingBy[w.StaffID]++
		if seen["w"+w.CustomerID] {
			continue // followed by two members of the team: listed once
		}
		seen["w"+w.CustomerID] = true
		wb.Waiting = append(wb.Waiting, WaitingItem{CustomerID: w.CustomerID, OwnerID: w.StaffID, OwnerName: names[w.StaffID], Since: w.Since})
	}
	concernsBy := map[string][]store.FollowedCustomer{}
	for _, w := range concerns {
		concernsBy[w.StaffID] = append(concernsBy[w.StaffID], w)
	}
	day := startOfDay(now, c.o.Location)
	for _, id := range members {
		a := &attention{staffID: id}
		if err := attentionReminders(ctx, c.st, a, day); err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		alerted := map[string]bool{}
		for _, r := range a.alerts {
			alerted[r.CustomerID] = true
		}
		complaints := 0
		for _, w := range concernsBy[id] {
			if alerted[w.CustomerID] {
				continue // a complaint with an open alert is listed once, as the alert
			}
			complaints++
			if seen["c"+w.CustomerID] {
				continue
			}
			seen["c"+w.CustomerID] = true
			wb.Alerts = append(wb.Alerts, AlertItem{CustomerID: w.CustomerID, At: w.Since}) // named below, once listed
		}
		for _, r := range a.alerts {
			cu, err := customer(r.CustomerID)
			if err != nil {
				return nil, err
			}
			kind := "negative"
			switch {
			case strings.HasPrefix(r.Key, store.ReminderSentiment+":"+escalateKey):
				kind = "escalated"
			case cu != nil && cu.Insight != nil && cu.Insight.Intent == nlp.IntentComplaint:
				kind = "complaint"
			}
			wb.Alerts = append(wb.Alerts, AlertItem{CustomerID: r.CustomerID, Name: nameOf(cu), Kind: kind, Text: r.Text, At: r.CreatedAt, ReminderID: r.ID})
		}
		for _, r := range a.promises {
			cu, err := customer(r.CustomerID)
			if err != nil {
				return nil, err
			}
			wb.Promises = append(wb.Promises, PromiseItem{CustomerID: r.CustomerID, Name: nameOf(cu), Text: r.Text, Due: r.DueAt, ReminderID: r.ID})
		}
		wb.Reminders.Overdue = append(wb.Reminders.Overdue, a.overdue...)
		wb.Reminders.Today = append(wb.Reminders.Today, a.due...)
		if v.Role == RoleManager || v.Role == RoleAdmin {
			wb.Team = append(wb.Team, TeamRow{StaffID: id, Name: names[id], Customers: followers[id], Waiting: waitingBy[id],
				Overdue: len(a.overdue), Alerts: len(a.alerts) + complaints, Dormant: dormant[id]})
		}
	}
	slices.SortStableFunc(wb.Waiting, func(x, y WaitingItem) int {
		return cmp.Or(x.Since.Compare(y.Since), cmp.Compare(x.CustomerID, y.CustomerID))
	})
	slices.SortStableFunc(wb.Alerts, func(x, y AlertItem) int { return cmp.Or(y.At.Compare(x.At), cmp.Compare(x.CustomerID, y.CustomerID)) })
	byDue := func(x, y *store.Reminder) int { return cmp.Or(x.DueAt.Compare(y.DueAt), cmp.Compare(x.ID, y.ID)) }
	slices.SortStableFunc(wb.Reminders.Overdue, byDue)
	slices.SortStableFunc(wb.Reminders.Today, byDue)
	slices.SortStableFunc(wb.Promises, func(x, y PromiseItem) int {
		return cmp.Or(x.Due.Compare(y.Due), cmp.Compare(x.ReminderID, y.ReminderID))
	})
	wb.Waiting = wb.Waiting[:min(len(wb.Waiting), consoleList)]
	wb.Alerts = wb.Alerts[:min(len(wb.Alerts), consoleList)]
	// Only the customers listed are read.
	for i := range wb.Waiting {
		w := &wb.Waiting[i]
		cu, err := customer(w.CustomerID)
		if err != nil {
			return nil, err
		}
		w.Name = nameOf(cu)
		w.Minutes = int64(businessSince(c.o.Hours, w.Since, now, waitingHorizon) / time.Minute)
	}
	for i := range wb.Alerts {
		al := &wb.Alerts[i]
		if al.ReminderID != 0 {
			continue
		}
		cu, err := customer(al.CustomerID)
		if err != nil {
			return nil, err
		}
		al.Name, al.Kind = nameOf(cu), "negative"
		if cu != nil && cu.Insight != nil {
			if cu.Insight.Intent == nlp.IntentComplaint {
				al.Kind = "complaint"
			}
			al.Text = cmp.Or(cu.Insight.Summary, nlp.SentimentLabel(cu.Insight.SentimentLabel, cu.Insight.SentimentScore))
		}
	}
	wb.Promises = wb.Promises[:min(len(wb.Promises), consoleList)]
	wb.Reminders.Overdue = wb.Reminders.Overdue[:min(len(wb.Reminders.Overdue), consoleList)]
	wb.Reminders.Today = wb.Reminders.Today[:min(len(wb.Reminders.Today), consoleList)]

	// Dormant customers to wake: the daily scan's 沉睡, longest silent first
	// among the first page (the stage index gives them in ID order).
	f, ok := scopeFilter(v, store.CustomerFilter{Stage: store.StageDormant, Limit: 200})
	if ok {
		cs, err := c.st.FindCustomers(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("console: dormant customers: %w", err)
		}
		for _, cu := range cs {
			if !v.CanSee(cu) {
				continue
			}
			item := DormantItem{CustomerID: cu.ID, Name: displayName(cu), OwnerName: ownerName(cu, members, names)}
			if last := lastContact(cu); !last.IsZero() {
				item.LastContactAt = &last
				item.Days = int(now.Sub(last) / (24 * time.Hour))
			}
			wb.Dormant = append(wb.Dormant, item)
		}
		slices.SortStableFunc(wb.Dormant, func(x, y DormantItem) int {
			return cmp.Or(cmp.Compare(y.Days, x.Days), cmp.Compare(x.CustomerID, y.CustomerID))
		})
		wb.Dormant = wb.Dormant[:min(len(wb.Dormant), 20)]
	}
	return wb, nil
}

// ownerName names the first active follower of cu among members (any
// active follower otherwise).
func ownerName(cu *store.Customer, members []string, names map[string]string) string {
	owner := ""
	for _, f := range cu.Follows {
		if f.Deleted {
			continue
		}
		if slices.Contains(members, f.StaffID) {
			return cmp.Or(names[f.StaffID], f.StaffID)
		}
		if owner == "" {
			owner = cmp.Or(names[f.StaffID], f.StaffID)
		}
	}
	return owner
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// ---- reports ----

// ReportQuery is a report's period, business days inclusive, and
// optionally one salesperson.
type ReportQuery struct {
	From, To time.Time // days (any time of day) in the business time zone
	StaffID  string
}

// maxReportDays bounds a report's period.
const maxReportDays = 366

// ReportTotals are the headline figures of a report, for the whole scope
// or one salesperson.
type ReportTotals struct {
	Customers              int64    `json:"customers"`
	NewCustomers           int64    `json:"new_customers"`
	FollowUps              int64    `json:"follow_ups"`
	MessagesIn             int64    `json:"messages_in"`
	MessagesOut            int64    `json:"messages_out"`
	FirstResponseMedianMin *float64 `json:"first_response_median_min"`
	FirstResponseP90Min    *float64 `json:"first_response_p90_min"`
	ReplyMedianMin         *float64 `json:"reply_median_min"`
	ReplyP90Min            *float64 `json:"reply_p90_min"`
	Waiting                int64    `json:"waiting"`
	Dormant                int64    `json:"dormant"`
	DormantRate            float64  `json:"dormant_rate"`
	Reactivated            int64    `json:"reactivated"`
	Lost                   int64    `json:"lost"`
	LostRate               float64  `json:"lost_rate"`
	RenewalsDue            int64    `json:"renewals_due"`
	Complaints             int64    `json:"complaints"`
	ComplaintHandleMedianH *float64 `json:"complaint_handle_median_h"`
}

// StaffReport is one salesperson's figures.
type StaffReport struct {
	StaffID string `json:"staff_id"`
	Name    string `json:"name"`
	ReportTotals
}

// StageCount is one stage of the funnel.
type StageCount struct {
	Stage string `json:"stage"`
	Count int64  `json:"count"`
}

// SentimentDay is one day of the sentiment trend.
type SentimentDay struct {
	Date     string `json:"date"`
	Positive int64  `json:"positive"`
	Neutral  int64  `json:"neutral"`
	Negative int64  `json:"negative"`
}

// SentimentReport is the sentiment distribution and its trend.
type SentimentReport struct {
	Positive int64          `json:"positive"`
	Neutral  int64          `json:"neutral"`
	Negative int64          `json:"negative"`
	Trend    []SentimentDay `json:"trend"`
}

// ComplaintType is one kind of complaint and how fast it was handled.
type ComplaintType struct {
	Type          string   `json:"type"`
	Count         int64    `json:"count"`
	HandleMedianH *float64 `json:"handle_median_h"`
}

// DailyActivity is one day of the team's work.
type DailyActivity struct {
	Date         string `json:"date"`
	NewCustomers int64  `json:"new_customers"`
	FollowUps    int64  `json:"follow_ups"`
	MessagesIn   int64  `json:"messages_in"`
	MessagesOut  int64  `json:"messages_out"`
}

// Report is the console's report for a period.
type Report struct {
	From       string          `json:"from"`
	To         string          `json:"to"`
	Totals     ReportTotals    `json:"totals"`
	ByStaff    []StaffReport   `json:"by_staff"`
	Funnel     []StageCount    `json:"funnel"`
	Sentiment  SentimentReport `json:"sentiment"`
	Complaints []ComplaintType `json:"complaints"`
	Daily      []DailyActivity `json:"daily"`
}

// reportStages are the funnel's stages in pipeline order.
var reportStages = []string{store.StageLead, store.StageActive, store.StageWon, store.StageDormant, store.StageLost}

// Report computes the report of q for v. A StaffID outside v's scope is
// refused as not found, so it reveals nothing.
func (c *Console) Report(ctx context.Context, v Viewer, q ReportQuery) (*Report, error) {
	loc := c.o.Location
	from, to := startOfDay(q.From, loc), startOfDay(q.To, loc)
	if to.Before(from) {
		return nil, invalid("to is before from", "结束日期早于开始日期。")
	}
	var bounds []time.Time
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		bounds = append(bounds, d.UTC())
		if len(bounds) > maxReportDays {
			return nil, invalid(fmt.Sprintf("a report covers at most %d days", maxReportDays), "报表最多覆盖一年。")
		}
	}
	end := to.AddDate(0, 0, 1).UTC()
	bounds = append(bounds, end)
	days := len(bounds) - 1
	rep := &Report{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), ByStaff: []StaffReport{},
		Funnel: []StageCount{}, Complaints: []ComplaintType{}, Daily: make([]DailyActivity, days)}
	for i := range days {
		rep.Daily[i].Date = bounds[i].In(loc).Format(time.DateOnly)
	}
	rep.Sentiment.Trend = make([]SentimentDay, days)
	for i := range days {
		rep.Sentiment.Trend[i].Date = rep.Daily[i].Date
	}
	members, names, err := c.consoleMembers(ctx, v)
	if err != nil {
		return nil, err
	}
	// The customer scope: the viewer's, narrowed to one salesperson.
	sv := v
	if q.StaffID != "" {
		if v.Scope() != nil && !slices.Contains(members, q.StaffID) {
			return nil, &ActionError{Err: store.ErrNotFound, Reason: "staff not found", Text: "没有找到你可查看的成员。"}
		}
		members = []string{q.StaffID}
		sv = Viewer{StaffID: q.StaffID, Role: RoleSales}
	}
	if len(members) == 0 {
		return rep, nil
	}
	now := c.o.Now().UTC()

	// Per-member counts from write-time data.
	activity, err := c.st.ActivityByDay(ctx, members, bounds)
	if err != nil {
		return nil, fmt.Errorf("console: activity: %w", err)
	}
	byStaff := map[string]*StaffReport{}
	for _, id := range members {
		byStaff[id] = &StaffReport{StaffID: id, Name: cmp.Or(names[id], id)}
	}
	for id, ds := range activity {
		m := byStaff[id]
		for i, d := range ds {
			m.FollowUps += d.FollowUps
			m.MessagesIn += d.MessagesIn
			m.MessagesOut += d.MessagesOut
			rep.Daily[i].FollowUps += d.FollowUps
			rep.Daily[i].MessagesIn += d.MessagesIn
			rep.Daily[i].MessagesOut += d.MessagesOut
		}
	}
	added, err := c.st.NewFollowsByDay(ctx, members, bounds)
	if err != nil {
		return nil, fmt.Errorf("console: new customers: %w", err)
	}
	for id, ds := range added {
		for i, n := range ds {
			byStaff[id].NewCustomers += n
			rep.Daily[i].NewCustomers += n
		}
	}
	// Waits: first response = the customer's wait from their first
	// unanswered message to the answer, counted in business hours (what
	// the customer's experience of "did anyone answer" is measured in);
	// reply = the same waits on the wall clock.
	waits, err := c.st.ResponseWaits(ctx, members, bounds[0], end)
	if err != nil {
		return nil, fmt.Errorf("console: response waits: %w", err)
	}
	business := map[string][]float64{}
	wall := map[string][]float64{}
	var allBusiness, allWall []float64
	ledger := newOpenLedger(c.o.Hours, c.o.Location, waits)
	for _, w := range waits {
		b := ledger.minutes(w.At.Add(-w.Waited), w.At)
		m := w.Waited.Minutes()
		business[w.StaffID] = append(business[w.StaffID], b)
		wall[w.StaffID] = append(wall[w.StaffID], m)
		allBusiness, allWall = append(allBusiness, b), append(allWall, m)
	}
	setWaits := func(t *ReportTotals, b, w []float64) {
		t.FirstResponseMedianMin, t.FirstResponseP90Min = quantile(b, 0.5), quantile(b, 0.9)
		t.ReplyMedianMin, t.ReplyP90Min = quantile(w, 0.5), quantile(w, 0.9)
	}
	followed, dormant, err := c.followerCounts(ctx, members)
	if err != nil {
		return nil, err
	}
	for _, id := range members {
		m := byStaff[id]
		setWaits(&m.ReportTotals, business[id], wall[id])
		m.Customers, m.Dormant = followed[id], dormant[id]
	}

	// Customers, funnel, waiting and sentiment over the scope, counted
	// once per customer (a customer two members follow is one customer).
	f, ok := scopeFilter(sv, store.CustomerFilter{})
	if ok {
		// A scope's stages from the stage kept on its follows (one index
		// read); everyone's from the customers' stage index.
		var stages map[string]int64
		if scope := sv.Scope(); scope != nil {
			if stages, err = c.st.StageCounts(ctx, scope); err != nil {
				return nil, fmt.Errorf("console: stages: %w", err)
			}
			for _, n := range stages {
				rep.Totals.Customers += n
			}
		} else {
			stages = map[string]int64{}
			if rep.Totals.Customers, err = c.st.CountCustomers(ctx, f); err != nil {
				return nil, fmt.Errorf("console: count: %w", err)
			}
			for _, stage := range reportStages[:len(reportStages)-1] {
				sf := f
				sf.Stage = stage
				if stages[stage], err = c.st.CountCustomers(ctx, sf); err != nil {
					return nil, fmt.Errorf("console: count %s: %w", stage, err)
				}
			}
		}
		for _, stage := range reportStages[:len(reportStages)-1] {
			rep.Funnel = append(rep.Funnel, StageCount{Stage: stage, Count: stages[stage]})
		}
		rep.Totals.Dormant = stages[store.StageDormant]
		// The distribution and its trend: the customers last in touch in
		// the period, by the label of their latest analysis, per day — one
		// read for both (the distribution is the trend's sum).
		trend, err := c.st.SentimentByDay(ctx, f, bounds)
		if err != nil {
			return nil, fmt.Errorf("console: sentiment trend: %w", err)
		}
		for i, ds := range trend {
			t := &rep.Sentiment.Trend[i]
			t.Positive, t.Neutral, t.Negative = ds[nlp.Positive], ds[nlp.Neutral], ds[nlp.Negative]
			rep.Sentiment.Positive += t.Positive
			rep.Sentiment.Neutral += t.Neutral
			rep.Sentiment.Negative += t.Negative
		}
	}
	// Waiting now: one walk over the scope's customers in touch lately,
	// each counted once in the total and once for each member following
	// them (every member's customers lie inside the scope).
	waitingBy, waitingTotal, err := c.countWaiting(ctx, sv, members, now)
	if err != nil {
		return nil, err
	}
	rep.Totals.Waiting = waitingTotal
	for id, n := range waitingBy {
		byStaff[id].Waiting = n
	}

	// Lost customers have no active follow: counted over every follow the
	// members had, ended ones included.
	lost, lostTotal, err := c.st.LostCounts(ctx, members)
	if err != nil {
		return nil, fmt.Errorf("console: lost customers: %w", err)
	}
	rep.Funnel = append(rep.Funnel, StageCount{Stage: store.StageLost, Count: lostTotal})
	rep.Totals.Lost = lostTotal

	// Reminders: renewals due in the period, complaints (sentiment alerts
	// raised in the period) and their handling, dormant customers woken.
	complaintTypes := map[string][]float64{}
	complaintCount := map[string]int64{}
	var handled []float64
	cache := map[string]*store.Customer{}
	for _, id := range members {
		rs, err := c.st.FindReminders(ctx, store.ReminderFilter{StaffID: id, DueBefore: end.Add(time.Duration(maxReportDays) * 24 * time.Hour), Limit: 5000})
		if err != nil {
			return nil, fmt.Errorf("console: reminders of %s: %w", id, err)
		}
		m := byStaff[id]
		var mineHandled []float64
		for _, r := range rs {
			switch r.Kind {
			case store.ReminderRenewal:
				if !r.DueAt.Before(bounds[0]) && r.DueAt.Before(end) && r.Status != store.ReminderCancelled {
					m.RenewalsDue++
				}
			case store.ReminderDormant:
				if r.Status == store.ReminderDone && r.DoneAt != nil && !r.DoneAt.Before(bounds[0]) && r.DoneAt.Before(end) {
					m.Reactivated++
				}
			case store.ReminderSentiment:
				if strings.HasPrefix(r.Key, store.ReminderSentiment+":"+escalateKey) || r.CreatedAt.Before(bounds[0]) || !r.CreatedAt.Before(end) {
					continue
				}
				m.Complaints++
				typ := "负面情绪"
				cu, ok := cache[r.CustomerID]
				if !ok {
					cu, err = c.st.FindCustomerByID(ctx, r.CustomerID)
					if err != nil && !isNotFound(err) {
						return nil, fmt.Errorf("console: customer %s: %w", r.CustomerID, err)
					}
					cache[r.CustomerID] = cu
				}
				if cu != nil && cu.Insight != nil && cu.Insight.Intent != "" && cu.Insight.Intent != nlp.IntentChitchat && cu.Insight.Intent != nlp.IntentOther {
					typ = cu.Insight.Intent
				}
				complaintCount[typ]++
				if r.Status == store.ReminderDone && r.DoneAt != nil {
					h := r.DoneAt.Sub(r.CreatedAt).Hours()
					complaintTypes[typ] = append(complaintTypes[typ], h)
					handled = append(handled, h)
					mineHandled = append(mineHandled, h)
				}
			}
		}
		m.ComplaintHandleMedianH = quantile(mineHandled, 0.5)
	}
	for _, typ := range slices.Sorted(mapsKeys(complaintCount)) {
		rep.Complaints = append(rep.Complaints, ComplaintType{Type: typ, Count: complaintCount[typ], HandleMedianH: quantile(complaintTypes[typ], 0.5)})
	}

	// Totals: sums of the members where a member's work is theirs alone.
	t := &rep.Totals
	for _, id := range members {
		m := byStaff[id]
		m.Lost = lost[id]
		m.DormantRate, m.LostRate = rate(m.Dormant, m.Customers), rate(m.Lost, m.Customers+m.Lost)
		t.NewCustomers += m.NewCustomers
		t.FollowUps += m.FollowUps
		t.MessagesIn += m.MessagesIn
		t.MessagesOut += m.MessagesOut
		t.Reactivated += m.Reactivated
		t.RenewalsDue += m.RenewalsDue
		t.Complaints += m.Complaints
		rep.ByStaff = append(rep.ByStaff, *m)
	}
	setWaits(t, allBusiness, allWall)
	t.ComplaintHandleMedianH = quantile(handled, 0.5)
	t.DormantRate, t.LostRate = rate(t.Dormant, t.Customers), rate(t.Lost, t.Customers+t.Lost)
	return rep, nil
}

func mapsKeys[M ~map[K]V, K comparable, V any](m M) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// countWaiting counts the customers of v's scope waiting for an answer
// now, by the test 今天 uses: in total (a count over the scope) and per
// member of members who follows them (from the state on the follows).
func (c *Console) countWaiting(ctx context.Context, v Viewer, members []string, now time.Time) (map[string]int64, int64, error) {
	by := map[string]int64{}
	horizon := now.Add(-waitingHorizon)
	scope := v.Scope()
	if scope != nil && len(scope) == 0 {
		return by, 0, nil
	}
	var n int64
	if scope == nil {
		// Everyone: the customers in touch lately, tested in the query.
		var err error
		if n, err = c.st.CountCustomers(ctx, store.CustomerFilter{LastContactAfter: horizon, Waiting: true}); err != nil {
			return nil, 0, fmt.Errorf("console: waiting customers: %w", err)
		}
		scope = members
	}
	waits, err := c.st.WaitingFollows(ctx, scope, horizon)
	if err != nil {
		return nil, 0, fmt.Errorf("console: waiting customers: %w", err)
	}
	distinct := map[string]bool{}
	for _, w := range waits {
		distinct[w.CustomerID] = true
		if slices.Contains(members, w.StaffID) {
			by[w.StaffID]++
		}
	}
	if v.Scope() != nil {
		n = int64(len(distinct))
	}
	return by, n, nil
}

// rate is n/of rounded to four places, 0 when of is 0.
func rate(n, of int64) float64 {
	if of <= 0 {
		return 0
	}
	return math.Round(float64(n)/float64(of)*10000) / 10000
}

// quantile is the q-quantile (nearest rank) of xs rounded to 0.1, nil for
// no values. xs is sorted in place.
func quantile(xs []float64, q float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	slices.Sort(xs)
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	v := math.Round(xs[max(0, min(i, len(xs)-1))]*10) / 10
	return &v
}

// businessMinutes is how much of [from, to) lies within hours, in minutes.
func businessMinutes(h Hours, from, to time.Time) float64 {
	return float64(businessSince(h, from, to, to.Sub(from))) / float64(time.Minute)
}

// openLedger adds up business hours over the many waits of a report: the
// open time of each whole day is computed once, so a wait of weeks costs
// two partial days instead of a walk over all of its days (the walk was a
// fifth of a month's report for forty salespeople).
type openLedger struct {
	h    Hours
	ow   openWithin      // nil: no closed form, each wait is stepped
	base time.Time       // midnight of the first day, in loc
	loc  *time.Location  // the days' time zone (any zone sums correctly)
	cum  []time.Duration // cum[i]: open time in [base, day i)
}

func newOpenLedger(h Hours, loc *time.Location, waits []store.ResponseWait) *openLedger {
	l := &openLedger{h: h, loc: loc}
	l.ow, _ = h.(openWithin)
	if h == nil || l.ow == nil || len(waits) == 0 {
		return l
	}
	first := waits[0].At.Add(-waits[0].Waited)
	for _, w := range waits {
		if from := w.At.Add(-w.Waited); from.Before(first) {
			first = from
		}
	}
	lt := first.In(loc)
	l.base = time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	l.cum = []time.Duration{0}
	return l
}

// day is the index of t's day from base and that day's start.
func (l *openLedger) day(t time.Time) (int, time.Time) {
	lt := t.In(l.loc)
	civil := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	i := int(civil(lt.Date()).Sub(civil(l.base.Date())) / (24 * time.Hour))
	return i, time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, l.loc)
}

// before is the open time in [base, t).
func (l *openLedger) before(t time.Time) time.Duration {
	i, start := l.day(t)
	for k := len(l.cum) - 1; k < i; k++ {
		from := l.base.AddDate(0, 0, k)
		l.cum = append(l.cum, l.cum[k]+l.ow.OpenWithin(from, l.base.AddDate(0, 0, k+1)))
	}
	return l.cum[i] + l.ow.OpenWithin(start, t)
}

// minutes is how much of [from, to) lies within the hours, in minutes.
func (l *openLedger) minutes(from, to time.Time) float64 {
	if l.cum == nil || from.Before(l.base) || !to.After(from) {
		return businessMinutes(l.h, from, to)
	}
	return float64(l.before(to)-l.before(from)) / float64(time.Minute)
}

// ---- a customer's sentiment ----

// SentimentPoint is one analysis of a customer's conversation.
type SentimentPoint struct {
	At    time.Time `json:"at"`
	Label string    `json:"label"`
	Score float64   `json:"score"`
}

// maxSentimentScan bounds how many timeline entries a customer's sentiment
// history reads.
const maxSentimentScan = 2000

// CustomerSentiment returns the sentiment of each analysis of a customer
// v may see, oldest first, from the analysis entries on their timeline.
func (c *Console) CustomerSentiment(ctx context.Context, v Viewer, id string) ([]SentimentPoint, error) {
	if id == "" || len(id) > 128 {
		return nil, errCustomerNotFound()
	}
	cu, err := c.st.FindCustomerByID(ctx, id)
	if isNotFound(err) || (err == nil && !v.CanSee(cu)) {
		return nil, errCustomerNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("console: customer %s: %w", id, err)
	}
	points := []SentimentPoint{}
	var before int64
	for read := 0; read < maxSentimentScan; {
		es, err := c.st.FindTimeline(ctx, cu.ID, before, 200)
		if err != nil {
			return nil, fmt.Errorf("console: timeline %s: %w", cu.ID, err)
		}
		for _, e := range es {
			if e.Kind != store.EntryAnalysis || e.Attrs["sentiment_label"] == "" {
				continue
			}
			score, _ := strconv.ParseFloat(e.Attrs["sentiment_score"], 64)
			points = append(points, SentimentPoint{At: e.At, Label: e.Attrs["sentiment_label"], Score: score})
		}
		read += len(es)
		if len(es) < 200 {
			break
		}
		before = es[len(es)-1].ID
	}
	slices.Reverse(points)
	return points, nil
}

// followerCounts counts each member's customers, all and dormant ones.
func (c *Console) followerCounts(ctx context.Context, members []string) (all, dormant map[string]int64, err error) {
	if all, err = c.st.FollowerCounts(ctx, members, ""); err != nil {
		return nil, nil, fmt.Errorf("console: customers: %w", err)
	}
	if dormant, err = c.st.FollowerCounts(ctx, members, store.StageDormant); err != nil {
		return nil, nil, fmt.Errorf("console: dormant: %w", err)
	}
	return all, dormant, nil
}
