package bot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// CadenceStore is what the cadence processor reads and writes.
type CadenceStore interface {
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error)
	AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error)
	CreateReminder(ctx context.Context, r *store.Reminder) (bool, error)
	FindReminders(ctx context.Context, f store.ReminderFilter) ([]*store.Reminder, error)
	UpdateReminder(ctx context.Context, id int64, upd store.ReminderUpdate) (*store.Reminder, error)
	FindStaff(ctx context.Context) ([]*store.Staff, error)
	cursors
	ActionStore // stage changes go through the actions
}

// CadenceOptions tune the cadence processor; zero values take the defaults.
type CadenceOptions struct {
	Now func() time.Time
}

// Cadence is the processor that turns customer-contact events into
// reminders: a customer who deletes their salesperson (or is deleted,
// other than by a transfer) raises a churn alert for the owner and the
// managers of their team; a dormant customer who writes again is active
// again. Every reminder has a key derived from the event, so a redelivered
// or reprocessed event creates nothing new. The follow-ups of new and key
// customers are journeys (journeys.go).
type Cadence struct {
	st   CadenceStore
	core *Core
	now  func() time.Time
}

// NewCadence returns the cadence processor.
func NewCadence(st CadenceStore, o CadenceOptions) *Cadence {
	o.Now = clockOr(o.Now)
	return &Cadence{st: st, core: NewCore(st, o.Now), now: o.Now}
}

// Name implements Processor.
func (*Cadence) Name() string { return "cadence" }

// staleChurn: a churn older than this raises no alert — events replayed
// from long ago (an import, a backfill) must not flood staff with alerts.
const staleChurn = 3 * 24 * time.Hour

// Process implements Processor.
func (p *Cadence) Process(ctx context.Context, ev *store.Event) error {
	if ev.CustomerID == "" {
		return nil
	}
	switch {
	case ev.Channel == store.ChannelWeCom && ev.StaffID != "" &&
		(ev.Kind == wecom.KindDelFollowUser ||
			(ev.Kind == wecom.KindDelExternalContact && ev.Attrs["Source"] != "DELETE_BY_TRANSFER")):
		return p.churn(ctx, ev)
	case wecom.IsMessageKind(ev.Kind):
		return p.wake(ctx, ev)
	}
	return nil
}

// managersOf returns the active managers whose team includes staffID.
func managersOf(staff []*store.Staff, staffID string) []*store.Staff {
	var out []*store.Staff
	for _, s := range staff {
		if s.Active && s.Role == RoleManager && s.ID != staffID && slices.Contains(s.Team, staffID) {
			out = append(out, s)
		}
	}
	return out
}

func (p *Cadence) churn(ctx context.Context, ev *store.Event) error {
	c, err := p.st.FindCustomerByIdentity(ctx, identityOf(ev))
	if err != nil {
		return skipIfGone(err, "cadence: find customer")
	}
	now := p.now()
	owner := ev.StaffID
	byCustomer := ev.Kind == wecom.KindDelFollowUser
	// The owner's open follow-ups for this customer are moot now.
	open, err := p.st.FindReminders(ctx, store.ReminderFilter{StaffID: owner, CustomerID: c.ID, Statuses: openReminderStatuses, Limit: 100})
	if err != nil {
		return fmt.Errorf("cadence: reminders: %w", err)
	}
	cancelled := store.ReminderCancelled
	for _, r := range open {
		if r.Kind != store.ReminderChurn {
			if _, err := p.st.UpdateReminder(ctx, r.ID, store.ReminderUpdate{Status: &cancelled, Now: now}); err != nil {
				return fmt.Errorf("cadence: cancel reminder %d: %w", r.ID, err)
			}
		}
	}
	stillFollowed := slices.ContainsFunc(c.Follows, func(f store.Follow) bool { return !f.Deleted })
	if !stillFollowed && c.Stage != store.StageLost {
		if _, _, err := p.core.ChangeStage(ctx, SystemActor(SourceCadence), StageRequest{CustomerID: c.ID, Stage: store.StageLost,
			Key: "lost:" + ev.DedupKey, Reason: "已无员工跟进", StaffID: owner, At: ev.OccurredAt}); err != nil {
			return fmt.Errorf("cadence: mark lost: %w", err)
		}
	}
	if ev.OccurredAt.Before(now.Add(-staleChurn)) {
		return nil
	}
	staff, err := p.st.FindStaff(ctx)
	if err != nil {
		return fmt.Errorf("cadence: staff: %w", err)
	}
	name, ownerName := displayName(c), staffName(ctx, p.st, owner)
	ownerText := "客户 " + name + " 删除了你，可能已流失，请尽快了解原因、设法挽回"
	mgrText := "团队成员 " + ownerName + " 被客户 " + name + " 删除（流失预警）"
	if !byCustomer {
		ownerText = "你删除了客户 " + name + "，如非本意请尽快重新联系"
		mgrText = "团队成员 " + ownerName + " 删除了客户 " + name + "（流失预警）"
	}
	alerts := []*store.Reminder{{Key: "churn:" + ev.DedupKey + ":owner:" + owner, StaffID: owner, Text: ownerText}}
	// The customer's owner among those still following hears of it too: a
	// customer dropping one of the team is a signal about the account.
	if keeper, _ := customerOwner(c); keeper != "" && keeper != owner {
		text := "客户 " + name + " 删除了同事 " + ownerName + "，你仍在跟进，请留意客户动向"
		if !byCustomer {
			text = "同事 " + ownerName + " 删除了客户 " + name + "，你仍在跟进，请留意客户动向"
		}
		alerts = append(alerts, &store.Reminder{Key: "churn:" + ev.DedupKey + ":keeper:" + keeper, StaffID: keeper, Text: text})
	}
	for _, m := range managersOf(staff, owner) {
		alerts = append(alerts, &store.Reminder{Key: "churn:" + ev.DedupKey + ":mgr:" + m.ID, StaffID: m.ID, Text: mgrText})
	}
	for _, r := range alerts {
		r.CustomerID, r.Kind, r.DueAt, r.Status, r.CreatedAt, r.UpdatedAt = c.ID, store.ReminderChurn, now, store.ReminderPending, now, now
		if _, err := p.st.CreateReminder(ctx, r); err != nil {
			return fmt.Errorf("cadence: churn alert: %w", err)
		}
	}
	return nil
}

// wake moves a dormant customer who writes again back to 跟进中.
func (p *Cadence) wake(ctx context.Context, ev *store.Event) error {
	c, err := p.st.FindCustomerByIdentity(ctx, identityOf(ev))
	if err != nil {
		return skipIfGone(err, "cadence: find customer")
	}
	if c.Stage != store.StageDormant {
		return nil
	}
	// The "no contact for N days" reminders are wrong now: the customer
	// just wrote. All of them go, even one the daily scan created after the
	// message arrived but before it was processed. They go before the stage
	// changes, so a crash in between leaves the customer dormant and the
	// redelivered message finishes the job.
	open, err := p.st.FindReminders(ctx, store.ReminderFilter{CustomerID: c.ID, Statuses: openReminderStatuses, Limit: 100})
	if err != nil {
		return fmt.Errorf("cadence: reminders: %w", err)
	}
	cancelled := store.ReminderCancelled
	for _, r := range open {
		if r.Kind == store.ReminderDormant {
			if _, err := p.st.UpdateReminder(ctx, r.ID, store.ReminderUpdate{Status: &cancelled, Now: p.now()}); err != nil {
				return fmt.Errorf("cadence: cancel dormant reminder %d: %w", r.ID, err)
			}
		}
	}
	if _, _, err := p.core.ChangeStage(ctx, SystemActor(SourceCadence), StageRequest{CustomerID: c.ID, Stage: store.StageActive,
		Key: "wake:" + ev.DedupKey, Reason: "沉睡客户重新来信", At: ev.OccurredAt}); err != nil {
		return fmt.Errorf("cadence: wake: %w", err)
	}
	return nil
}

// Key customer tiers: the built-in quarterly journey calls them each quarter.
var keyTiers = []string{"重点", "key", "KEY", "Key", "VIP", "vip"}

// Renewal date fields, YYYY-MM-DD.
var renewalFields = []string{"到期日", "renewal_date", "续约日期", "合同到期日"}

// runDailyScan walks every customer once a day: a customer without any
// interaction for DormantDays becomes 沉睡 and their salespeople get a
// reminder (once per dormancy: the key carries the last contact time); a
// renewal date within RenewalDays gets a reminder (once per date); and the
// customer enters the journeys whose time trigger holds (dormancy, a date
// approaching, no reply, the quarterly call: Journeys.scanCustomer, once
// per occurrence). The walk records its position, so a run cut short
// resumes where it stopped.
func (s *Scheduler) runDailyScan(ctx context.Context, job *store.Job) error {
	day, err := time.ParseInLocation("2006-01-02", job.Payload, s.o.Location)
	if err != nil {
		return nil
	}
	// The day's marker holds the scan's position, then "done".
	pos := job.Payload
	after, done, err := progress(ctx, s.st, store.MarkDailyScan, pos)
	if err != nil || done {
		return err
	}
	now := s.o.Now()
	// Reminders from the scan are due an hour into the working day, after
	// the morning digest has listed them.
	due := laterOf(atClock(day, s.digestClock+time.Hour, s.o.Location).UTC(), now)
	var journeys []*store.Journey
	if s.o.Journeys != nil {
		if journeys, err = s.o.Journeys.scanJourneys(ctx); err != nil {
			return fmt.Errorf("daily scan: %w", err)
		}
	}
	for {
		cs, err := s.st.FindCustomers(ctx, store.CustomerFilter{AfterID: after, Limit: 500})
		if err != nil {
			return fmt.Errorf("daily scan: customers: %w", err)
		}
		for _, c := range cs {
			if err := s.scanCustomer(ctx, c, day, now, due); err != nil {
				return err
			}
			if len(journeys) > 0 && slices.ContainsFunc(c.Follows, func(f store.Follow) bool { return !f.Deleted }) {
				if err := s.o.Journeys.scanCustomer(ctx, journeys, c, day, now, due); err != nil {
					return fmt.Errorf("daily scan: %w", err)
				}
			}
		}
		if len(cs) < 500 {
			break
		}
		after = cs[len(cs)-1].ID
		if err := s.st.SetMarker(ctx, store.MarkDailyScan, pos, after, now); err != nil {
			return fmt.Errorf("daily scan: %w", err)
		}
	}
	if err := s.st.SetMarker(ctx, store.MarkDailyScan, pos, markDone, now); err != nil {
		return fmt.Errorf("daily scan: %w", err)
	}
	return nil
}

func (s *Scheduler) scanCustomer(ctx context.Context, c *store.Customer, day, now, due time.Time) error {
	var owners []string
	ownersOf := func(c *store.Customer) {
		owners = owners[:0]
		for _, f := range c.Follows {
			if !f.Deleted && !slices.Contains(owners, f.StaffID) {
				owners = append(owners, f.StaffID)
			}
		}
	}
	ownersOf(c)
	if len(owners) == 0 {
		return nil
	}
	remind := func(key, kind, text string) error {
		for _, staff := range owners {
			r := &store.Reminder{
				Key: key + ":" + staff, CustomerID: c.ID, StaffID: staff, Kind: kind, Text: text,
				DueAt: due, Status: store.ReminderPending, CreatedAt: now, UpdatedAt: now,
			}
			if _, err := s.st.CreateReminder(ctx, r); err != nil {
				return fmt.Errorf("daily scan: reminder %s: %w", r.Key, err)
			}
		}
		return nil
	}

	// Dormant.
	dormantSince := func(c *store.Customer) (time.Time, bool) {
		last := lastContact(c)
		if last.IsZero() {
			last = c.CreatedAt
		}
		return last, c.Stage != store.StageDormant && c.Stage != store.StageLost &&
			now.Sub(last) >= time.Duration(s.o.DormantDays)*24*time.Hour
	}
	last, isDormant := dormantSince(c)
	if isDormant {
		// The page of customers was read a while ago: look again, so a
		// customer who just wrote is not called dormant.
		fresh, err := s.st.FindCustomerByID(ctx, c.ID)
		if err != nil {
			return skipIfGone(err, "daily scan: customer "+c.ID)
		}
		c = fresh
		last, isDormant = dormantSince(c)
		ownersOf(c) // a handover may have moved the customer meanwhile
	}
	if isDormant {
		days := int(now.Sub(last).Hours() / 24)
		// The reminders first: if the stage were set first and the run died,
		// the next run would skip the customer and the reminder would be lost.
		key := "dormant:" + c.ID + ":" + strconv.FormatInt(last.Unix(), 10)
		if err := remind(key, store.ReminderDormant, fmt.Sprintf("已经 %d 天没有互动，转为沉睡客户，找个理由联系一下吧", days)); err != nil {
			return err
		}
		if _, _, err := s.core.ChangeStage(ctx, SystemActor(SourceCadence), StageRequest{CustomerID: c.ID, Stage: store.StageDormant,
			Key: key, Reason: fmt.Sprintf("%d 天没有互动", days), At: now}); err != nil {
			return fmt.Errorf("daily scan: mark dormant %s: %w", c.ID, err)
		}
	}

	// Renewal.
	for _, field := range renewalFields {
		v := strings.TrimSpace(c.Fields[field])
		if v == "" {
			continue
		}
		date, err := time.ParseInLocation("2006-01-02", v, s.o.Location)
		if err != nil {
			continue
		}
		left := int(date.Sub(day).Hours() / 24)
		if left >= 0 && left <= s.o.RenewalDays {
			text := fmt.Sprintf("%s到期（还有 %d 天），请跟进续约", v, left)
			if err := remind("renewal:"+c.ID+":"+v, store.ReminderRenewal, text); err != nil {
				return err
			}
		}
		break
	}

	return nil
}
