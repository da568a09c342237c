package bot

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
)

// ReminderBook is the part of store.ReminderStore people act through.
type ReminderBook interface {
	CreateReminder(ctx context.Context, r *store.Reminder) (bool, error)
	FindReminderByID(ctx context.Context, id int64) (*store.Reminder, error)
	FindReminders(ctx context.Context, f store.ReminderFilter) ([]*store.Reminder, error)
	UpdateReminder(ctx context.Context, id int64, upd store.ReminderUpdate) (*store.Reminder, error)
}

// PlanStore is what the planning features read and write: reminders, today's
// plan, dormant customers, the funnel and the team overview. Every store
// backend implements it.
type PlanStore interface {
	ReminderBook
	store.ActivityStore
	FindCustomerByID(ctx context.Context, id string) (*store.Customer, error)
	FindCustomers(ctx context.Context, f store.CustomerFilter) ([]*store.Customer, error)
	CountCustomers(ctx context.Context, f store.CustomerFilter) (int64, error)
	FindTimeline(ctx context.Context, customerID string, beforeID int64, limit int) ([]*store.TimelineEntry, error)
	AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error)
	cursors
	markers
	FindStaff(ctx context.Context) ([]*store.Staff, error)
}

// SchedulerStore is what the scheduler needs: the planning records plus the
// reminder and job queues.
type SchedulerStore interface {
	PlanStore
	JobQueue
	ClaimDueReminders(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Reminder, error)
	MarkReminderSent(ctx context.Context, id int64, owner string, at time.Time) error
	ReleaseReminder(ctx context.Context, id int64, owner string, retryAt time.Time) error
	ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error
	UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error)
	ActionStore // the daily scan's stage changes go through the actions
}

// pushDupWindow is the duplicate check window of every push: far longer than
// a reminder lease, so a push repeated after a crash is dropped by WeCom, and
// WeCom's maximum.
const pushDupWindow = 4 * time.Hour

// Job kinds the scheduler runs.
const (
	JobDigest    = "digest"     // one salesperson's morning digest: key digest:<staff>:<date>
	JobWeekly    = "weekly"     // one manager's weekly digest: key weekly:<manager>:<date>
	JobDailyScan = "daily-scan" // dormant, renewal and key-customer checks: key daily:<date>
)

// SchedulerOptions tune a Scheduler; zero values take the defaults.
type SchedulerOptions struct {
	Owner string // this instance's identity in leases
	// Lease is how long a claim of reminders lasts (default 1 min); pushes
	// give up three quarters of it after the claim began, so a send stuck
	// behind WeCom's per member limit is retried later rather than racing
	// the instance that takes the reminder over.
	Lease time.Duration
	Batch int           // reminders claimed at once (default 100; fewer while claims are slow)
	Poll  time.Duration // how often to look for due reminders (default 5 s)
	// ListAbove: when one member has more than this many reminders due at
	// once they get one list instead of a card each (default 5), which keeps
	// a backlog inside WeCom's 30 messages a minute per member.
	ListAbove int
	// DigestAt is the business time of the morning digest, "HH:MM"
	// (default "09:00"); the weekly manager digest goes out on Mondays then.
	DigestAt    string
	DormantDays int // no interaction for this many days makes a customer dormant (default 30)
	RenewalDays int // renewal reminders this many days before the date (default 30)
	Location    *time.Location
	// Hours are the business hours (nil: always open): how long a customer
	// has waited, and how long an alert has stood, count only these.
	Hours Hours
	// EscalateAfter is how many business hours a sentiment alert may stand
	// unhandled before the salesperson's manager is told (default 4 h;
	// SCRM_ALERT_ESCALATE_HOURS).
	EscalateAfter time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
	Wake          <-chan struct{} // optional: look for due reminders now
	// Journeys, when set, are started by the daily scan's time triggers.
	Journeys *Journeys
}

func (o *SchedulerOptions) defaults() {
	o.Lease = positiveOr(o.Lease, time.Minute)
	o.Batch = positiveOr(o.Batch, 100)
	o.Poll = positiveOr(o.Poll, 5*time.Second)
	o.ListAbove = positiveOr(o.ListAbove, 5)
	if o.DigestAt == "" {
		o.DigestAt = "09:00"
	}
	o.DormantDays = positiveOr(o.DormantDays, 30)
	o.RenewalDays = positiveOr(o.RenewalDays, 30)
	o.EscalateAfter = positiveOr(o.EscalateAfter, 4*time.Hour)
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	if o.Owner == "" {
		o.Owner = "scheduler"
	}
}

// Scheduler pushes due reminders to staff in WeCom and runs the daily work:
// the morning digests, the weekly manager digests and the customer scan that
// finds dormant customers, renewals and key customers to call.
//
// Delivery is at least once with an idempotent send: a reminder is claimed
// under a lease, pushed with WeCom's duplicate check on, then marked sent. An
// instance that dies between the push and the mark loses its lease; another
// instance pushes the same card again (same task id, same content), and WeCom
// drops the repeat, so the member sees it once. Several instances may run
// schedulers over one store.
type Scheduler struct {
	st   SchedulerStore
	core *Core
	dir  Directory
	out  Pusher
	o    SchedulerOptions
	// digestClock is DigestAt as an offset from midnight.
	digestClock time.Duration
	// runners run the daily jobs, the scan before the digests.
	runners []*JobRunner
	// batch is how many reminders the next claim asks for: o.Batch, less
	// while claims are slow (see PushDue).
	batch atomic.Int64
}

// NewScheduler returns a scheduler. It fails if o.DigestAt is not HH:MM.
func NewScheduler(st SchedulerStore, dir Directory, out Pusher, o SchedulerOptions) (*Scheduler, error) {
	o.defaults()
	clock, err := ParseClock(o.DigestAt)
	if err != nil {
		return nil, fmt.Errorf("scheduler: digest time: %w", err)
	}
	s := &Scheduler{st: st, core: NewCore(st, o.Now), dir: dir, out: out, o: o, digestClock: clock}
	s.batch.Store(int64(o.Batch))
	for _, kind := range []string{JobDailyScan, JobDigest, JobWeekly} {
		lease := 2 * time.Minute
		if kind == JobDailyScan {
			lease = 15 * time.Minute // a pass over every customer; it resumes where it stopped
		}
		s.runners = append(s.runners, NewJobRunner(st, kind, s.jobHandler(kind), RunnerOptions{
			Owner: o.Owner, Lease: lease, Poll: 15 * time.Second, Batch: 4, Now: o.Now, Logger: o.Logger,
		}))
	}
	return s, nil
}

// ParseClock parses "HH:MM" into an offset from midnight.
func ParseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not a time of day such as 09:00", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// Run pushes reminders and runs the daily work until ctx ends. It returns
// once every loop has stopped; a reminder claimed but not yet marked when ctx
// ends is pushed again by whoever claims it after its lease (and dropped by
// WeCom's duplicate check if it had gone out).
func (s *Scheduler) Run(ctx context.Context) {
	loops := []func(context.Context){s.pushLoop}
	for _, r := range s.runners {
		loops = append(loops, r.Run)
	}
	runAll(ctx, loops...)
}

func (s *Scheduler) pushLoop(ctx context.Context) {
	var planned, escalated time.Time
	pollLoop(ctx, s.o.Poll, s.o.Wake, func() {
		// By the business clock, so that a test's clock that jumps hours
		// escalates at once; before the pushes, which then carry it.
		if now := s.o.Now(); now.Sub(escalated) >= time.Minute {
			escalated = now
			if _, err := s.Escalate(ctx); err != nil && ctx.Err() == nil {
				s.o.Logger.Warn("escalate alerts", "err", err)
			}
		}
		if err := drainWhile(ctx, s.PushDue, some); err != nil {
			s.o.Logger.Warn("push reminders", "err", err)
		}
		if time.Since(planned) >= time.Minute {
			planned = time.Now()
			if err := s.Plan(ctx); err != nil && ctx.Err() == nil {
				s.o.Logger.Warn("plan the day", "err", err)
			}
		}
	})
}

// RunJobsOnce claims and runs one batch of each kind of daily job that is
// due (the scan first), reporting how many ran. Tests drive the day with it.
func (s *Scheduler) RunJobsOnce(ctx context.Context) (int, error) {
	total := 0
	for _, r := range s.runners {
		n, err := r.RunOnce(ctx)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// PushDue claims one batch of due reminders and pushes them, reporting how
// many it claimed. Members are served concurrently, so one member's send
// queue (WeCom allows 30 messages a minute each) never holds up the others.
func (s *Scheduler) PushDue(ctx context.Context) (int, error) {
	now := s.o.Now()
	rs, err := s.st.ClaimDueReminders(ctx, s.o.Owner, now, s.o.Lease, int(s.batch.Load()))
	if err != nil {
		return 0, fmt.Errorf("scheduler: claim reminders: %w", err)
	}
	// Sends, and the records of what they send, end a quarter of the lease
	// before it does, counted from the claim on the lease's clock: after a
	// slow claim, pushes must not still run when another instance may take
	// the reminders over and cut its own messages from them.
	took := s.o.Now().Sub(now)
	sctx, cancel := context.WithTimeout(ctx, s.o.Lease*3/4-took)
	defer cancel()
	// A claim that used half the lease leaves little of it to push (and
	// one that used three quarters, nothing): claim half as many next time,
	// and grow back while claims are quick.
	switch b := s.batch.Load(); {
	case took > s.o.Lease/2 && b > 1:
		s.batch.Store(b / 2)
	case took < s.o.Lease/8 && b < int64(s.o.Batch):
		s.batch.Store(min(2*b, int64(s.o.Batch)))
	}
	groups := map[string][]*store.Reminder{}
	var order []string
	for _, r := range rs {
		if _, ok := groups[r.StaffID]; !ok {
			order = append(order, r.StaffID)
		}
		groups[r.StaffID] = append(groups[r.StaffID], r)
	}
	eachAtMost(8, order, func(staff string) { s.pushMember(ctx, sctx, staff, groups[staff]) })
	return len(rs), nil
}

// listCursor keys the store.MarkReminderList marker that records, per
// reminder push, the list it went out in (or
// cardRecord when it went out as its own card), so a push interrupted by a
// crash is repeated exactly (and dropped by WeCom) rather than re-cut into a
// different message that would show reminders twice.
func listCursor(r *store.Reminder) string {
	return strconv.FormatInt(r.ID, 10) + ":" + strconv.FormatInt(r.DueAt.Unix(), 10)
}

// cardRecord is the listCursor value of a reminder pushed as its own card.
const cardRecord = "card"

// listReady keys the store.MarkListReady marker that list rec was recorded on every reminder of
// it. It is written after them and before the list is sent, so a list
// without it never went out (its recording was cut short by a crash or an
// error) and its reminders are free to go out in a new cut.
func listReady(rec string) string {
	sum := sha256.Sum256([]byte(rec))
	return hex.EncodeToString(sum[:12])
}

// pushMember pushes one member's claimed reminders. Sends, and the records
// of what they send, run under sctx, which ends before the lease does; marks
// and releases, which check the lease themselves, under ctx.
func (s *Scheduler) pushMember(ctx, sctx context.Context, staff string, rs []*store.Reminder) {
	var fresh, cards []*store.Reminder
	lists := map[string][]*store.Reminder{}
	var listOrder []string
	ready := map[string]bool{}
	for _, r := range rs {
		if r.Attempts <= 1 {
			// A first claim cannot have gone out before.
			fresh = append(fresh, r)
			continue
		}
		rec, err := s.st.GetMarker(ctx, store.MarkReminderList, listCursor(r))
		if err != nil {
			s.release(ctx, r, err)
			continue
		}
		if rec == "" {
			fresh = append(fresh, r)
			continue
		}
		if rec == cardRecord {
			// Its card may have gone out: send that card again, never
			// fold it into a list beside reminders due since.
			cards = append(cards, r)
			continue
		}
		if _, ok := ready[rec]; !ok {
			mark, err := s.st.GetMarker(ctx, store.MarkListReady, listReady(rec))
			if err != nil {
				s.release(ctx, r, err)
				continue
			}
			ready[rec] = mark != ""
		}
		if !ready[rec] {
			// That list never went out: repeating it would show its
			// unrecorded reminders, which go out anew, twice.
			fresh = append(fresh, r)
			continue
		}
		if _, ok := lists[rec]; !ok {
			listOrder = append(listOrder, rec)
		}
		lists[rec] = append(lists[rec], r)
	}
	for _, rec := range listOrder {
		s.repeatList(ctx, sctx, staff, rec, lists[rec])
	}
	if len(fresh) > s.o.ListAbove {
		s.pushList(ctx, sctx, staff, fresh)
	} else {
		cards = append(cards, fresh...)
	}
	for _, r := range cards {
		if ctx.Err() != nil {
			return
		}
		card, err := s.reminderCard(ctx, r)
		if err == nil {
			// Recorded before the send, so a crash after it cannot
			// leave the card to be re-cut into a list.
			err = s.st.SetMarker(sctx, store.MarkReminderList, listCursor(r), cardRecord, s.o.Now())
		}
		if err == nil {
			err = s.out.SendTemplateCard(sctx, staff, card)
		}
		if err != nil {
			s.release(ctx, r, err)
			continue
		}
		s.markSent(ctx, r)
	}
}

// pushList sends rs as one list (in pages) and marks them sent.
func (s *Scheduler) pushList(ctx, sctx context.Context, staff string, rs []*store.Reminder) {
	slices.SortFunc(rs, func(a, b *store.Reminder) int { return cmpInt64(a.ID, b.ID) })
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = strconv.FormatInt(r.ID, 10)
	}
	rec := strings.Join(ids, ",")
	now := s.o.Now()
	for _, m := range append(listCursors(rs), marker{store.MarkListReady, listReady(rec)}) {
		if err := s.st.SetMarker(sctx, m.kind, m.key, rec, now); err != nil {
			for _, r := range rs {
				s.release(ctx, r, err)
			}
			return
		}
	}
	s.sendList(ctx, sctx, staff, rs, rs)
}

// marker names a marker: its kind and key.
type marker struct{ kind, key string }

func listCursors(rs []*store.Reminder) []marker {
	out := make([]marker, len(rs))
	for i, r := range rs {
		out[i] = marker{store.MarkReminderList, listCursor(r)}
	}
	return out
}

// repeatList sends the recorded list rec again, exactly as before, and marks
// the reminders of it that this instance holds (held).
func (s *Scheduler) repeatList(ctx, sctx context.Context, staff, rec string, held []*store.Reminder) {
	byID := indexBy(held, func(r *store.Reminder) int64 { return r.ID })
	var all []*store.Reminder
	for _, part := range strings.Split(rec, ",") {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			continue
		}
		if r, ok := byID[id]; ok {
			all = append(all, r)
			continue
		}
		r, err := s.st.FindReminderByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			for _, r := range held {
				s.release(ctx, r, err)
			}
			return
		}
		all = append(all, r)
	}
	s.sendList(ctx, sctx, staff, all, held)
}

func (s *Scheduler) sendList(ctx, sctx context.Context, staff string, all, held []*store.Reminder) {
	pages, err := s.renderList(ctx, all)
	if err == nil {
		for _, page := range pages {
			if err = s.out.SendMarkdownOnce(sctx, staff, page, pushDupWindow); err != nil {
				break
			}
		}
	}
	for _, r := range held {
		if err != nil {
			s.release(ctx, r, err)
		} else {
			s.markSent(ctx, r)
		}
	}
}

func (s *Scheduler) markSent(ctx context.Context, r *store.Reminder) {
	if err := s.st.MarkReminderSent(ctx, r.ID, s.o.Owner, s.o.Now()); err != nil {
		// ErrConflict: our lease ran out and another instance took the
		// reminder over; its push repeats ours and WeCom drops it.
		if !errors.Is(err, store.ErrConflict) && ctx.Err() == nil {
			s.o.Logger.Warn("mark reminder sent", "reminder_id", r.ID, "err", err)
		}
	}
}

// release hands a reminder back after a failed push, to retry with backoff.
// Nothing is released when ctx has ended: the lease runs out by itself, as
// it would after a crash.
func (s *Scheduler) release(ctx context.Context, r *store.Reminder, cause error) {
	if ctx.Err() != nil {
		return
	}
	retry := s.o.Now().Add(min(backoff(r.Attempts), 30*time.Minute))
	s.o.Logger.Warn("push reminder", "reminder_id", r.ID, "staff", r.StaffID, "attempt", r.Attempts, "retry_at", retry, "err", cause)
	if err := s.st.ReleaseReminder(ctx, r.ID, s.o.Owner, retry); err != nil && !errors.Is(err, store.ErrConflict) {
		s.o.Logger.Warn("release reminder", "reminder_id", r.ID, "err", err)
	}
}

// customerName names a reminder's customer for a card or a list.
func customerName(ctx context.Context, st interface {
	FindCustomerByID(ctx context.Context, id string) (*store.Customer, error)
}, id string) (*store.Customer, string, error) {
	if id == "" {
		return nil, "", nil
	}
	c, err := st.FindCustomerByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "已删除的客户", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("customer %s: %w", id, err)
	}
	return c, displayName(c), nil
}

// reminderCard renders one reminder as a button card. Everything on it is a
// function of the reminder's stored fields (and the customer's name), so a
// repeated push is byte-identical and WeCom's duplicate check drops it.
func (s *Scheduler) reminderCard(ctx context.Context, r *store.Reminder) (Card, error) {
	_, name, err := customerName(ctx, s.st, r.CustomerID)
	if err != nil {
		return Card{}, fmt.Errorf("scheduler: %w", err)
	}
	title := ReminderKindLabel(r.Kind)
	if name != "" {
		title += " · " + name
	}
	due := fmtDue(r.DueAt, s.o.Location)
	card := Card{
		TaskID:         reminderTaskID(r),
		Source:         "scrm 跟进提醒",
		Title:          clip(title, 24),
		Desc:           "提醒时间 " + due,
		Text:           clip(r.Text, 100),
		Quote:          r.Script,
		DuplicateCheck: pushDupWindow,
		Buttons: []CardButton{
			{Text: "完成", Key: keyDone + strconv.FormatInt(r.ID, 10), Primary: true},
			{Text: "推迟一天", Key: keySnooze + strconv.FormatInt(r.ID, 10)},
		},
	}
	if name != "" {
		card.Rows = append(card.Rows, CardRow{Key: "客户", Value: clip(name, 24)})
	}
	card.Rows = append(card.Rows, CardRow{Key: "编号", Value: "#" + strconv.FormatInt(r.ID, 10)})
	if r.CustomerID != "" {
		card.Buttons = append(card.Buttons, CardButton{Text: "查看客户", Key: keyView + r.CustomerID})
	}
	return card, nil
}

// ReminderKindLabel names a reminder kind for staff.
func ReminderKindLabel(kind string) string { return cmp.Or(reminderKindLabels[kind], "跟进提醒") }

var reminderKindLabels = map[string]string{
	store.ReminderPromise:   "客户约定",
	store.ReminderCadence:   "跟进节奏",
	store.ReminderDormant:   "沉睡唤醒",
	store.ReminderRenewal:   "续约提醒",
	store.ReminderManual:    "我的提醒",
	store.ReminderChurn:     "流失预警",
	store.ReminderSentiment: "情绪预警",
}

// mdLimit keeps a markdown message under WeCom's 2048 bytes with room to spare.
const mdLimit = 1900

// renderList renders reminders as numbered lines in pages of at most
// mdLimit bytes each.
func (s *Scheduler) renderList(ctx context.Context, rs []*store.Reminder) ([]string, error) {
	lines := make([]string, 0, len(rs))
	for _, r := range rs {
		_, name, err := customerName(ctx, s.st, r.CustomerID)
		if err != nil {
			return nil, fmt.Errorf("scheduler: %w", err)
		}
		line := fmt.Sprintf("> **#%d** %s", r.ID, s.shortTime(r.DueAt))
		if name != "" {
			line += " **" + md(clip(name, 12)) + "**"
		}
		line += " " + md(clip(r.Text, 40))
		lines = append(lines, line)
	}
	head := fmt.Sprintf("**你有 %d 条跟进提醒**", len(rs))
	foot := "回复“完成 编号”或“推迟 编号 明天”处理，“待办”查看全部。"
	return paginate(head, lines, foot), nil
}

// shortTime renders t in business time as "01-02 15:04". It is absolute,
// never "today", so a list repeated after a crash renders the same.
func (s *Scheduler) shortTime(t time.Time) string {
	return t.In(s.o.Location).Format("01-02 15:04")
}

// paginate joins lines under head into pages of at most mdLimit bytes; pages
// after the first say which page they are, and foot ends the last.
// pageOf cuts page (counted from 1) of size items out of items, which was
// read up to that page and one item beyond: more says whether a next page
// exists, ok is false when items ends before the page begins.
func pageOf[T any](items []T, page, size int) (shown []T, more, ok bool) {
	from := (page - 1) * size
	if from >= len(items) {
		return nil, false, false
	}
	return items[from:min(len(items), page*size)], len(items) > page*size, true
}

func paginate(head string, lines []string, foot string) []string {
	var pages []string
	var b strings.Builder
	b.WriteString(head)
	for _, l := range lines {
		if b.Len()+len(l)+len(foot)+2 > mdLimit {
			pages = append(pages, b.String())
			b.Reset()
			fmt.Fprintf(&b, "%s（续 %d）", head, len(pages)+1)
		}
		b.WriteString("\n")
		b.WriteString(l)
	}
	if foot != "" {
		b.WriteString("\n")
		b.WriteString(foot)
	}
	return append(pages, b.String())
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// openReminderStatuses are the states of a reminder still to act on.
var openReminderStatuses = []string{store.ReminderPending, store.ReminderSent}

const noPlanText = "提醒功能暂不可用，请联系管理员。"

// todoPage is how many reminders one 待办 reply lists.
const todoPage = 20

// todo lists the viewer's own open reminders, a page at a time.
func (p *Commands) todo(ctx context.Context, v Viewer, rest string, at time.Time) (string, error) {
	if p.plan == nil {
		return noPlanText, nil
	}
	page := 1
	if n, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil && n > 0 {
		page = n
	}
	rs, err := p.plan.FindReminders(ctx, store.ReminderFilter{StaffID: v.StaffID, Statuses: openReminderStatuses, Limit: page*todoPage + 1})
	if err != nil {
		return "", fmt.Errorf("commands: reminders: %w", err)
	}
	if len(rs) == 0 {
		return "你目前没有待办提醒 🎉\n发送“提醒 张三 明天下午三点 回访”可以添加。", nil
	}
	shown, more, ok := pageOf(rs, page, todoPage)
	if !ok {
		return fmt.Sprintf("待办只有 %d 页。", (len(rs)+todoPage-1)/todoPage), nil
	}
	var lines []string
	for _, r := range shown {
		line, err := p.reminderLine(ctx, r, at)
		if err != nil {
			return "", err
		}
		lines = append(lines, line)
	}
	head := "**我的待办**"
	if page > 1 {
		head += fmt.Sprintf("（第 %d 页）", page)
	}
	foot := "回复“完成 编号”或“推迟 编号 明天”处理。"
	if more {
		foot = fmt.Sprintf("还有更多，回复“待办 %d”看下一页；", page+1) + foot
	}
	return paginate(head, lines, foot)[0], nil
}

// reminderLine renders one reminder for the owner: number, time, customer, text.
func (p *Commands) reminderLine(ctx context.Context, r *store.Reminder, at time.Time) (string, error) {
	_, name, err := customerName(ctx, p.plan, r.CustomerID)
	if err != nil {
		return "", fmt.Errorf("commands: %w", err)
	}
	line := fmt.Sprintf("> **#%d** %s", r.ID, r.DueAt.In(p.loc).Format("01-02 15:04"))
	if r.DueAt.Before(at) {
		line += " <font color=\"warning\">已到期</font>"
	}
	if name != "" {
		line += " **" + md(clip(name, 12)) + "**"
	}
	return line + " " + md(clip(r.Text, 40)), nil
}

// ownReminder finds reminder arg ("3" or "#3") if it is the viewer's own.
// Someone else's reminder is reported as missing, not as forbidden, so its
// existence does not leak.
func (p *Commands) ownReminder(ctx context.Context, v Viewer, arg string) (*store.Reminder, string, error) {
	arg = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(arg), "#"), "＃")
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return nil, "请写上待办编号，例如：**完成 3**（编号见“待办”）。", nil
	}
	r, err := p.core.Reminder(ctx, Actor{Viewer: v, Source: SourceBot}, id)
	if text, ok := refusal(err); ok {
		return nil, text, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("commands: %w", err)
	}
	return r, "", nil
}

func (p *Commands) complete(ctx context.Context, v Viewer, rest string, at time.Time) (string, error) {
	if p.plan == nil {
		return noPlanText, nil
	}
	r, hint, err := p.ownReminder(ctx, v, rest)
	if r == nil {
		return hint, err
	}
	return completeReminder(ctx, p.core, Actor{Viewer: v, Source: SourceBot}, r.ID, at)
}

// relativeUnits let bare durations such as "3天" or "2小时" read as "from now".
var relativeUnits = []string{"天", "小时", "个小时", "分钟", "周", "个星期", "星期", "个月"}

func normalizeWhen(s string) string {
	s = strings.TrimSpace(s)
	for _, u := range relativeUnits {
		if num, ok := strings.CutSuffix(s, u); ok && num != "" && strings.Trim(num, "0123456789一二两三四五六七八九十半") == "" {
			return s + "后"
		}
	}
	return s
}

// onClock returns the day of t (in loc) at the clock time of ref (in loc).
func onClock(t, ref time.Time, loc *time.Location) time.Time {
	d, r := t.In(loc), ref.In(loc)
	return time.Date(d.Year(), d.Month(), d.Day(), r.Hour(), r.Minute(), 0, 0, loc).UTC()
}

func (p *Commands) postpone(ctx context.Context, v Viewer, rest string, at time.Time) (string, error) {
	if p.plan == nil {
		return noPlanText, nil
	}
	idText, when, _ := strings.Cut(strings.TrimSpace(rest), " ")
	r, hint, err := p.ownReminder(ctx, v, idText)
	if r == nil {
		return hint, err
	}
	if r.Status == store.ReminderDone || r.Status == store.ReminderCancelled {
		return fmt.Sprintf("**#%d** 已经%s，无需推迟。", r.ID, reminderStatusLabel(r.Status)), nil
	}
	when = normalizeWhen(when)
	if when == "" {
		return fmt.Sprintf("推迟到什么时候？例如：**推迟 %d 明天**、**推迟 %d 下周一**、**推迟 %d 3天**。", r.ID, r.ID, r.ID), nil
	}
	ms := nlp.ParseTimeExpr(when, at, p.loc)
	if len(ms) == 0 {
		return fmt.Sprintf("没看懂“%s”这个时间，可以写：明天、后天、下周一、3天、明天下午三点。", clip(when, 20)), nil
	}
	due := ms[0].Time.UTC()
	if !ms[0].Exact {
		// "明天" moves the reminder to the same clock time tomorrow.
		due = onClock(ms[0].Time, r.DueAt, p.loc)
	}
	if !due.After(at) {
		return "这个时间已经过去了，请换一个以后的时间。", nil
	}
	_, err = p.core.PostponeReminder(ctx, Actor{Viewer: v, Source: SourceBot}, PostponeRequest{ID: r.ID, Until: due, At: at})
	if text, ok := refusal(err); ok {
		return text, nil
	}
	if err != nil {
		return "", fmt.Errorf("commands: postpone %d: %w", r.ID, err)
	}
	return fmt.Sprintf("已推迟 ⏰ **#%d** %s\n> 新的提醒时间：%s", r.ID, md(clip(r.Text, 30)), fmtDue(due, p.loc)), nil
}

// remind creates a manual reminder: "提醒 张三 明天下午三点 回访".
func (p *Commands) remind(ctx context.Context, v Viewer, rest string, at time.Time, key string) (string, error) {
	const usage = "格式：**提醒 客户名 时间 事项**，例如：提醒 张三 明天下午三点 回访"
	if p.plan == nil {
		return noPlanText, nil
	}
	if name, tail, _ := strings.Cut(strings.TrimSpace(rest), " "); name == "" || strings.TrimSpace(tail) == "" {
		return usage, nil
	}
	res, err := p.resolve(ctx, v, rest, at, resolveOpts{Verb: "提醒", Tail: " 时间 事项", Suffix: "提醒未创建。"})
	if err != nil || res.C == nil {
		return res.Reply, err
	}
	c, tail := res.C, res.Rest
	ms := nlp.ParseTimeExpr(tail, at, p.loc)
	if len(ms) == 0 {
		return "什么时候提醒你？" + usage, nil
	}
	m := ms[0]
	due := m.Time.UTC()
	if !m.Exact {
		// A day without a clock time: remind at the start of that work day.
		d := m.Time.In(p.loc)
		due = time.Date(d.Year(), d.Month(), d.Day(), 9, 0, 0, 0, p.loc).UTC()
	}
	// A clock time already past today ("早上八点" said at nine) means that
	// time tomorrow; the reply says so.
	rolled := false
	if m.Exact && due.Before(at) && sameDay(due, at, p.loc) {
		due, rolled = due.AddDate(0, 0, 1), true
	}
	if due.Before(at) {
		due = at
	}
	text := strings.Trim(tail[:m.Start]+" "+tail[m.End:], " ，,。")
	if text == "" {
		text = "跟进客户"
	}
	if key == "" {
		key = strconv.FormatInt(at.UnixNano(), 10)
	}
	r, _, err := p.core.CreateReminder(ctx, Actor{Viewer: v, Source: SourceBot}, ReminderRequest{CustomerID: c.ID, Text: text, DueAt: due, Key: key, At: at})
	if text, ok := refusal(err); ok {
		return text + "提醒未创建。", nil
	}
	if err != nil {
		return "", fmt.Errorf("commands: create reminder: %w", err)
	}
	if rolled {
		return fmt.Sprintf("今天这个时间已经过了，已设为明天 %s ✅ 提醒你：%s · **%s**（#%d）\n> 提醒时间：%s",
			due.In(p.loc).Format("15:04"), md(clip(text, 40)), mdName(c), r.ID, fmtDue(due, p.loc)), nil
	}
	return fmt.Sprintf("好的，**%s** 提醒你：%s · **%s**（#%d）", fmtDue(due, p.loc), clip(text, 40), mdName(c), r.ID), nil
}
