package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// Customer handover (在职继承 and 离职继承): a salesperson's customer is
// handed to a colleague through WeCom, so the customer stays with the company
// when the salesperson moves on or leaves.
//
// A handover is durable state plus a durable job, both keyed by the customer
// and the member handing over ("handover:<customer>:<from>"):
//
//   - StartHandover (the API, the bot command) checks the request, stores
//     the pending state (store.HandoverStateStore), notes "转交给 X（等待接替）" on the
//     timeline and arms the job. It never calls WeCom, so a request is
//     answered at once and a WeCom outage only delays the handover;
//   - the job starts the handover in WeCom (transfer_customer), then checks
//     transfer_result until WeCom settles it: the customer is taken over
//     when they do not refuse within 24 hours. On takeover the store gets
//     the new follow (added at the takeover time, with the old remark), the
//     old follow ends, the timeline says "已由 X 接替" and the customer's
//     open reminders move to the new owner; a refusal or the takeover
//     member's customer limit is noted instead;
//   - the customer-contact callbacks WeCom sends when it settles a handover
//     (del_external_contact with Source DELETE_BY_TRANSFER, the takeover
//     member's add_external_contact, transfer_fail) wake the job, so the
//     outcome is recorded without waiting for the next check.
//
// Every step is idempotent: the job may run again after a crash at any
// point and changes nothing twice.

// JobHandover is the durable job kind of handovers.
const JobHandover = "handover"

// Handover statuses.
const (
	HandoverPending = "pending" // not yet started in WeCom, or waiting for the takeover
	HandoverDone    = "done"    // taken over
	HandoverRefused = "refused" // the customer refused
	HandoverLimit   = "limit"   // the takeover member has reached WeCom's customer limit
	HandoverFailed  = "failed"  // WeCom would not start it; Reason says why
)

// HandoverState is one handover of a customer from one member to another,
// as stored (store.HandoverStateStore) and as the API returns it.
type HandoverState = store.Handover

// HandoverRequest asks for a handover of one customer.
type HandoverRequest struct {
	CustomerID string
	From, To   string // staff IDs
	Resigned   bool   // 离职继承: From has left the company
	Message    string // sent to the customer once taken over (on-job only)
	By         string // the actor, for the record
	Now        time.Time
}

// HandoverRejection is a handover that cannot start as asked. Nothing was
// changed.
type HandoverRejection struct {
	Reason   string // English, for API clients
	Text     string // Chinese, for staff
	Conflict bool   // another handover of the customer by From is pending
}

func (e *HandoverRejection) Error() string { return "handover: " + e.Reason }

func reject(reason, text string) error { return &HandoverRejection{Reason: reason, Text: text} }

// MayHandOver reports whether v may hand customers from one member to
// another: an admin anyone's, a manager's only within the scope the one
// visibility rule gives them (their team and themselves). Sales may not.
func MayHandOver(v Viewer, from, to string) bool {
	switch v.Role {
	case RoleAdmin:
		return true
	case RoleManager:
		scope := v.Scope()
		return slices.Contains(scope, from) && slices.Contains(scope, to)
	}
	return false
}

// HandoverStarter is what StartHandover reads and writes.
type HandoverStarter interface {
	FindCustomerByID(ctx context.Context, id string) (*store.Customer, error)
	FindStaffByID(ctx context.Context, id string) (*store.Staff, error)
	AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error)
	store.HandoverStateStore
	ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error
}

// handoverKey names the job of a handover. The customer ID is a component,
// so erasing the customer deletes it (and the state, which names the
// customer).
func handoverKey(customerID, from string) string { return "handover:" + customerID + ":" + from }

type handoverPayload struct {
	CustomerID string `json:"customer_id"`
	From       string `json:"from"`
}

func handoverJob(customerID, from string) (key, payload string) {
	b, _ := json.Marshal(handoverPayload{CustomerID: customerID, From: from})
	return handoverKey(customerID, from), string(b)
}

// StartHandover checks req and records a pending handover with its job. The
// caller decides who may ask (MayHandOver). Asking again for a handover that
// is already pending with the same target returns the pending one; a
// pending one to another member is a conflict. Returns store.ErrNotFound
// when the customer does not exist and *HandoverRejection when the
// handover cannot start.
func StartHandover(ctx context.Context, st HandoverStarter, req HandoverRequest) (*HandoverState, error) {
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	now := req.Now.UTC()
	c, err := st.FindCustomerByID(ctx, req.CustomerID)
	if err != nil {
		return nil, fmt.Errorf("handover: find customer %s: %w", req.CustomerID, err)
	}
	switch {
	case req.From == "" || req.To == "":
		return nil, reject("from and to are required", "请说明由谁转交给谁。")
	case req.From == req.To:
		return nil, reject("from and to are the same member", "转出和接替的是同一个人。")
	case req.Resigned && req.Message != "":
		return nil, reject("a resigned handover sends no message", "离职继承不能附带给客户的消息。")
	case utf8.RuneCountInString(req.Message) > wecom.MaxHandoverMsgRunes:
		return nil, reject(fmt.Sprintf("message is longer than %d characters", wecom.MaxHandoverMsgRunes),
			fmt.Sprintf("给客户的消息最多 %d 个字。", wecom.MaxHandoverMsgRunes))
	}
	if !slices.ContainsFunc(c.Follows, func(f store.Follow) bool { return f.StaffID == req.From && !f.Deleted }) {
		return nil, reject("from does not follow the customer", "该客户当前不由 "+req.From+" 跟进。")
	}
	ext := externalUserID(c)
	if ext == "" {
		return nil, reject("the customer is not a WeCom contact", "该客户不是企业微信客户，无法转接。")
	}
	to, err := st.FindStaffByID(ctx, req.To)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !to.Active) {
		return nil, reject("to is not an active staff member", "接替人 "+req.To+" 不是在职员工。")
	}
	if err != nil {
		return nil, fmt.Errorf("handover: find staff %s: %w", req.To, err)
	}
	prev, err := FindHandover(ctx, st, c.ID, req.From)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.Status == HandoverPending {
		// The first request may have died after storing the state: make
		// sure its job and note exist before answering about it.
		prevTo := to
		if prev.To != req.To {
			if prevTo, err = st.FindStaffByID(ctx, prev.To); err != nil {
				prevTo = &store.Staff{ID: prev.To}
			}
		}
		if err := armHandover(ctx, st, prev, prevTo); err != nil {
			return nil, err
		}
		if prev.To != req.To || prev.Resigned != req.Resigned {
			return nil, &HandoverRejection{Reason: "another handover of this customer by from is pending",
				Text: "该客户已在转交给 " + staffLabel(prevTo) + " 的流程中。", Conflict: true}
		}
		return prev, nil
	}
	s := &HandoverState{ID: newHandoverID(), CustomerID: c.ID, ExternalUserID: ext, From: req.From, To: req.To,
		Resigned: req.Resigned, Message: req.Message, By: req.By, Status: HandoverPending, StartedAt: now}
	// The state first, then the job that acts on it and the note: a crash
	// in between leaves a pending state that a retried request completes.
	if err := saveHandover(ctx, st, s); err != nil {
		return nil, err
	}
	if err := armHandover(ctx, st, s, to); err != nil {
		return nil, err
	}
	return s, nil
}

// armHandover makes sure a pending handover has its job and its note on the
// timeline; both are idempotent.
func armHandover(ctx context.Context, st HandoverStarter, s *HandoverState, to *store.Staff) error {
	k, payload := handoverJob(s.CustomerID, s.From)
	if err := st.ScheduleJob(ctx, k, JobHandover, payload, s.StartedAt); err != nil {
		return fmt.Errorf("handover: schedule %s: %w", k, err)
	}
	kind := "在职继承"
	if s.Resigned {
		kind = "离职继承"
	}
	if _, err := st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: s.CustomerID, SourceKey: "handover:" + s.ID + ":start", Kind: store.EntryEvent, StaffID: s.From,
		Text:  "转交给 " + staffLabel(to) + "（等待接替）",
		Attrs: map[string]string{"handover_id": s.ID, "from": s.From, "to": s.To, "kind": kind, "by": s.By},
		At:    s.StartedAt,
	}); err != nil {
		return fmt.Errorf("handover: timeline: %w", err)
	}
	return nil
}

func newHandoverID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func externalUserID(c *store.Customer) string {
	for _, id := range c.Identities {
		if id.Kind == store.IdentityExternalUserID {
			return id.Value
		}
	}
	return ""
}

func staffLabel(s *store.Staff) string {
	if s != nil && s.Name != "" {
		return s.Name
	}
	if s != nil {
		return s.ID
	}
	return ""
}

// FindHandover returns the latest handover of a customer by from, nil when
// there was none.
func FindHandover(ctx context.Context, st store.HandoverStateStore, customerID, from string) (*HandoverState, error) {
	s, err := st.FindHandover(ctx, customerID, from)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("handover: read %s by %s: %w", customerID, from, err)
	}
	return s, nil
}

func saveHandover(ctx context.Context, st store.HandoverStateStore, s *HandoverState) error {
	if err := st.PutHandover(ctx, s); err != nil {
		return fmt.Errorf("handover: save %s by %s: %w", s.CustomerID, s.From, err)
	}
	return nil
}

// HandoverAPI is the part of *wecom.APIClient handovers use (with the
// 客户联系 secret).
type HandoverAPI interface {
	HandoverCustomers(ctx context.Context, req wecom.HandoverRequest) ([]wecom.HandoverCustomerResult, error)
	FindHandover(ctx context.Context, q wecom.HandoverQuery, externalUserID string) (*wecom.HandoverRecord, error)
}

// HandoverStore is what the handover job and processor read and write.
type HandoverStore interface {
	HandoverStarter
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error)
	FindReminders(ctx context.Context, f store.ReminderFilter) ([]*store.Reminder, error)
	CreateReminder(ctx context.Context, r *store.Reminder) (bool, error)
	UpdateReminder(ctx context.Context, id int64, upd store.ReminderUpdate) (*store.Reminder, error)
}

// HandoverOptions tune a Handover; zero values take the defaults.
type HandoverOptions struct {
	Now    func() time.Time
	Logger *slog.Logger
	// Poll is how often a handover past its expected takeover time is
	// checked again (default 1 h). Before that time it is checked once the
	// time comes, or when a callback about it arrives.
	Poll time.Duration
	// GiveUp is how long past the expected takeover WeCom may show no
	// record of a started handover before it counts as failed (default 48 h).
	GiveUp time.Duration
}

// Handover runs handovers: the JobHandover jobs, and a Processor that wakes
// them on WeCom's callbacks.
type Handover struct {
	follower[HandoverStore, HandoverAPI, HandoverOptions]
}

// NewHandover returns the handover runner.
func NewHandover(st HandoverStore, api HandoverAPI, o HandoverOptions) *Handover {
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	o.Poll = positiveOr(o.Poll, time.Hour)
	o.GiveUp = positiveOr(o.GiveUp, 48*time.Hour)
	return &Handover{follower[HandoverStore, HandoverAPI, HandoverOptions]{st, api, o}}
}

// Name implements Processor.
func (*Handover) Name() string { return "handover" }

// Runner returns the runner of JobHandover jobs.
func (h *Handover) Runner(q JobQueue, o RunnerOptions) *JobRunner {
	if o.Now == nil {
		o.Now = h.o.Now
	}
	return NewJobRunner(q, JobHandover, h.Run, o.forKind(JobHandover, 0))
}

// Process implements Processor: the callbacks WeCom sends when it settles a
// handover wake its job. DELETE_BY_TRANSFER names the member handing over;
// add_external_contact and transfer_fail name the takeover member.
func (h *Handover) Process(ctx context.Context, ev *store.Event) error {
	if ev.Channel != store.ChannelWeCom || ev.CustomerID == "" || ev.StaffID == "" {
		return nil
	}
	var byFrom bool
	switch ev.Kind {
	case wecom.KindDelExternalContact:
		if ev.Attrs["Source"] != "DELETE_BY_TRANSFER" {
			return nil
		}
		byFrom = true
	case wecom.KindAddExternalContact, wecom.KindTransferFail:
	default:
		return nil
	}
	c, err := h.st.FindCustomerByIdentity(ctx, identityOf(ev))
	if err != nil {
		return skipIfGone(err, "handover: find customer")
	}
	for _, f := range c.Follows {
		if byFrom && f.StaffID != ev.StaffID {
			continue
		}
		s, err := FindHandover(ctx, h.st, c.ID, f.StaffID)
		if err != nil {
			return err
		}
		if s == nil || s.Status != HandoverPending || (!byFrom && s.To != ev.StaffID) {
			continue
		}
		key, payload := handoverJob(s.CustomerID, s.From)
		if err := h.st.ScheduleJob(ctx, key, JobHandover, payload, h.o.Now()); err != nil {
			return fmt.Errorf("handover: wake %s: %w", key, err)
		}
	}
	return nil
}

// Run runs one JobHandover job.
func (h *Handover) Run(ctx context.Context, job *store.Job) error {
	var p handoverPayload
	if err := json.Unmarshal([]byte(job.Payload), &p); err != nil || p.CustomerID == "" || p.From == "" {
		h.o.Logger.Error("dropping a malformed handover job", "key", job.Key)
		return nil
	}
	key := handoverKey(p.CustomerID, p.From)
	s, err := FindHandover(ctx, h.st, p.CustomerID, p.From)
	if err != nil || s == nil || s.Status != HandoverPending {
		return err // nothing pending: settled already, or erased
	}
	c, err := h.st.FindCustomerByID(ctx, s.CustomerID)
	if err != nil {
		return skipIfGone(err, "handover: find customer "+s.CustomerID)
	}
	now := h.o.Now().UTC()
	q := wecom.HandoverQuery{HandoverUserID: s.From, TakeoverUserID: s.To, Resigned: s.Resigned}
	rec, err := h.api.FindHandover(ctx, q, s.ExternalUserID)
	if err != nil {
		// Before the start, a lookup WeCom rejects outright (an unknown
		// member, say) only means there is nothing to find: the start will
		// say why it cannot be done. Otherwise wait for WeCom.
		if s.Submitted || !permanentAPIError(err) {
			return fmt.Errorf("handover: transfer_result for %s: %w", c.ID, err)
		}
		rec = nil
	}
	if !s.Submitted {
		if rec == nil || rec.Status != wecom.HandoverWaiting {
			// Not started yet as far as WeCom knows. (A waiting record means
			// an earlier run started it and died before recording that.)
			started, err := h.submit(ctx, c, key, s)
			if err != nil || !started {
				return err
			}
			rec = nil
		}
		s.Submitted = true
		takeover := now.Add(24 * time.Hour) // WeCom takes over after 24 hours
		if rec != nil && rec.TakeoverTime > 0 {
			takeover = time.Unix(rec.TakeoverTime, 0).UTC()
		}
		s.TakeoverAt = &takeover
		if err := saveHandover(ctx, h.st, s); err != nil {
			return err
		}
		return h.recheck(ctx, key, p, s, now)
	}
	switch {
	case rec == nil || rec.Status == wecom.HandoverNoRecord:
		if s.TakeoverAt != nil && now.After(s.TakeoverAt.Add(h.o.GiveUp)) {
			return h.finish(ctx, c, key, s, HandoverFailed, "企业微信没有这次转接的记录", now)
		}
	case rec.Status == wecom.HandoverWaiting:
		if rec.TakeoverTime > 0 {
			t := time.Unix(rec.TakeoverTime, 0).UTC()
			s.TakeoverAt = &t
		}
	case rec.Status == wecom.HandoverDone:
		at := now
		if rec.TakeoverTime > 0 {
			at = time.Unix(rec.TakeoverTime, 0).UTC()
		}
		return h.complete(ctx, c, key, s, at, now)
	case rec.Status == wecom.HandoverRefused:
		return h.finish(ctx, c, key, s, HandoverRefused, "", now)
	case rec.Status == wecom.HandoverLimit:
		return h.finish(ctx, c, key, s, HandoverLimit, "", now)
	}
	return h.recheck(ctx, key, p, s, now)
}

// submit starts the handover in WeCom. It reports false (and records the
// failure) when WeCom refuses to start it; an error is a transient failure
// to retry.
func (h *Handover) submit(ctx context.Context, c *store.Customer, key string, s *HandoverState) (bool, error) {
	res, err := h.api.HandoverCustomers(ctx, wecom.HandoverRequest{HandoverUserID: s.From, TakeoverUserID: s.To,
		ExternalUserIDs: []string{s.ExternalUserID}, SuccessMsg: s.Message, Resigned: s.Resigned})
	now := h.o.Now().UTC()
	if err != nil {
		if permanentAPIError(err) {
			return false, h.finish(ctx, c, key, s, HandoverFailed, handoverErrText(wecom.APIErrorCode(err)), now)
		}
		return false, fmt.Errorf("handover: transfer_customer for %s: %w", c.ID, err)
	}
	i := slices.IndexFunc(res, func(r wecom.HandoverCustomerResult) bool { return r.ExternalUserID == s.ExternalUserID })
	if i < 0 {
		return false, fmt.Errorf("handover: transfer_customer for %s: no result for the customer", c.ID)
	}
	code := res[i].ErrCode
	if code == wecom.HandoverErrInProgress && now.Before(s.StartedAt.Add(25*time.Hour)) {
		// Most likely our own start, applied by WeCom although the answer
		// was lost (a timeout, a busy -1 that was resent): the next run
		// finds it in transfer_result. A transfer someone else started ends
		// within 24 hours; after that this is a failure like any other.
		return false, fmt.Errorf("handover: transfer_customer for %s: the customer is already in a transfer (%d); looking again later", c.ID, code)
	}
	if code != 0 {
		return false, h.finish(ctx, c, key, s, HandoverFailed, handoverErrText(code), now)
	}
	return true, nil
}

// recheck arms the job's next check: when the takeover is due, or after
// Poll once it is overdue. Re-arming from inside the run leaves the job
// pending when the run completes.
func (h *Handover) recheck(ctx context.Context, key string, p handoverPayload, s *HandoverState, now time.Time) error {
	next := now.Add(h.o.Poll)
	if s.TakeoverAt != nil && s.TakeoverAt.After(now) {
		next = s.TakeoverAt.Add(time.Minute)
	}
	b, _ := json.Marshal(p)
	if err := h.st.ScheduleJob(ctx, key, JobHandover, string(b), next); err != nil {
		return fmt.Errorf("handover: re-arm %s: %w", key, err)
	}
	return nil
}

// complete records a takeover: the new follow, the end of the old one, the
// timeline entry, the reminders, and last the final state, so that a run
// cut short redoes the (idempotent) steps.
func (h *Handover) complete(ctx context.Context, c *store.Customer, key string, s *HandoverState, at, now time.Time) error {
	var old, existing *store.Follow
	for i := range c.Follows {
		switch c.Follows[i].StaffID {
		case s.From:
			old = &c.Follows[i]
		case s.To:
			existing = &c.Follows[i]
		}
	}
	u := store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: s.ExternalUserID},
		Unfollow: s.From, Now: now}
	// A member who already had the customer before the handover keeps their
	// own follow; otherwise the follow (perhaps recorded from WeCom's
	// add_external_contact meanwhile) dates from the takeover and keeps the
	// old remark.
	if existing == nil || existing.Deleted || !existing.AddedAt.Before(s.StartedAt) {
		f := &store.Follow{StaffID: s.To, AddedAt: at}
		if old != nil {
			f.Remark = old.Remark
		}
		u.Follow = f
	}
	if _, err := h.st.UpsertCustomer(ctx, u); err != nil {
		return fmt.Errorf("handover: move follow of %s: %w", c.ID, err)
	}
	name := staffName(ctx, h.st, s.To)
	if _, err := h.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: c.ID, SourceKey: "handover:" + s.ID + ":" + HandoverDone, Kind: store.EntryEvent, StaffID: s.To,
		Text:  "已由 " + name + " 接替",
		Attrs: map[string]string{"handover_id": s.ID, "from": s.From, "to": s.To, "status": HandoverDone},
		At:    at,
	}); err != nil {
		return fmt.Errorf("handover: timeline: %w", err)
	}
	if err := h.moveReminders(ctx, c.ID, s, now); err != nil {
		return err
	}
	s.Status, s.TakeoverAt, s.FinishedAt = HandoverDone, &at, &now
	return saveHandover(ctx, h.st, s)
}

// moveReminders gives the new owner the customer's open reminders of the
// old owner (moveOpenReminders).
func (h *Handover) moveReminders(ctx context.Context, customerID string, s *HandoverState, now time.Time) error {
	if err := moveOpenReminders(ctx, h.st, customerID, s.From, s.To, "handover:"+s.ID, now); err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	return nil
}

// reminderMover is what moveOpenReminders reads and writes.
type reminderMover interface {
	FindReminders(ctx context.Context, f store.ReminderFilter) ([]*store.Reminder, error)
	CreateReminder(ctx context.Context, r *store.Reminder) (bool, error)
	UpdateReminder(ctx context.Context, id int64, upd store.ReminderUpdate) (*store.Reminder, error)
}

// moveOpenReminders gives to the customer's open reminders of from: each is
// re-created for to under a key derived from keyPrefix and the original (so
// a repeat creates nothing) and the original cancelled. Churn alerts stay:
// they were about the old owner's relationship.
func moveOpenReminders(ctx context.Context, st reminderMover, customerID, from, to, keyPrefix string, now time.Time) error {
	open, err := st.FindReminders(ctx, store.ReminderFilter{StaffID: from, CustomerID: customerID,
		Statuses: openReminderStatuses, Limit: 1000})
	if err != nil {
		return fmt.Errorf("reminders of %s: %w", customerID, err)
	}
	cancelled := store.ReminderCancelled
	for _, r := range open {
		if r.Kind == store.ReminderChurn {
			continue
		}
		// Pending, whatever it was: the new owner has not been told yet.
		moved := &store.Reminder{Key: keyPrefix + ":" + strconv.FormatInt(r.ID, 10), CustomerID: customerID,
			StaffID: to, Kind: r.Kind, Text: r.Text, DueAt: r.DueAt, Status: store.ReminderPending, CreatedAt: now, UpdatedAt: now}
		if _, err := st.CreateReminder(ctx, moved); err != nil {
			return fmt.Errorf("move reminder %d: %w", r.ID, err)
		}
		if _, err := st.UpdateReminder(ctx, r.ID, store.ReminderUpdate{Status: &cancelled, Now: now}); err != nil {
			return fmt.Errorf("cancel reminder %d: %w", r.ID, err)
		}
	}
	return nil
}

// finish records a handover that ended without a takeover.
func (h *Handover) finish(ctx context.Context, c *store.Customer, key string, s *HandoverState, status, reason string, now time.Time) error {
	name := staffName(ctx, h.st, s.To)
	var text string
	switch status {
	case HandoverRefused:
		text = "客户拒绝转接（原定由 " + name + " 接替）"
	case HandoverLimit:
		text = "转接失败：" + name + " 的客户数已达上限"
	default:
		text = "转接未能发起：" + reason
	}
	if _, err := h.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: c.ID, SourceKey: "handover:" + s.ID + ":" + status, Kind: store.EntryEvent, StaffID: s.From, Text: text,
		Attrs: map[string]string{"handover_id": s.ID, "from": s.From, "to": s.To, "status": status},
		At:    now,
	}); err != nil {
		return fmt.Errorf("handover: timeline: %w", err)
	}
	s.Status, s.Reason, s.FinishedAt = status, reason, &now
	if status != HandoverDone {
		s.TakeoverAt = nil
	}
	return saveHandover(ctx, h.st, s)
}

// handoverErrText says in Chinese why WeCom would not start a handover.
func handoverErrText(code int) string {
	if label, ok := handoverErrTexts[code]; ok {
		return label
	}
	return "企业微信返回错误码 " + strconv.Itoa(code)
}

var handoverErrTexts = map[int]string{
	wecom.HandoverErrInvalidContact: "客户不是有效的企业微信客户",
	wecom.HandoverErrNotResigned:    "原跟进人尚未离职，请用在职继承",
	wecom.HandoverErrContactLimit:   "接替人的客户数已达上限",
	wecom.HandoverErrTooFrequent:    "该客户转接过于频繁（90 天内最多转接两次）",
	wecom.HandoverErrInProgress:     "该客户正在另一次转接中",
	wecom.HandoverErrSameMember:     "原跟进人与接替人相同",
	wecom.HandoverErrNotFollower:    "原跟进人在企业微信中已不是该客户的跟进人",
	60111:                           "企业微信中找不到原跟进人或接替人（离职员工请用离职继承）",
}

// Audit actions of handovers, shared by the API and the bot command.
const (
	AuditHandover         = "handover"          // asked for (written before anything changes)
	AuditHandoverRejected = "handover_rejected" // could not start; Detail says why
)

// handOver answers "转交 张三 给 王五": an admin or a manager hands a
// customer followed in their scope to a member of it (on-job; resigned
// handovers go through the API). The customer is named as in 查 and must be
// followed by exactly one member the asker may hand over from; the takeover
// member is named by staff name or UserID.
func (p *Commands) handOver(ctx context.Context, v Viewer, rest string, at time.Time, key string) (string, error) {
	const usage = "格式：**转交 客户名 给 接替人**，例如：转交 张三 给 王五"
	name, target, ok := strings.Cut(rest, " 给 ")
	if !ok {
		name, target, ok = strings.Cut(rest, "给")
	}
	name, target = strings.TrimSpace(name), strings.TrimSpace(target)
	if !ok || name == "" || target == "" {
		return usage, nil
	}
	if v.Role != RoleAdmin && v.Role != RoleManager {
		return "只有主管可以转交客户。", nil
	}
	res, err := p.resolve(ctx, v, name, at, resolveOpts{Verb: "转交", Tail: " 给 接替人", Whole: true})
	if err != nil || res.C == nil {
		return res.Reply, err
	}
	c := res.C
	staff, err := p.plan.FindStaff(ctx)
	if err != nil {
		return "", fmt.Errorf("commands: staff: %w", err)
	}
	var from []string
	for _, f := range c.Follows {
		if !f.Deleted && (v.Role == RoleAdmin || slices.Contains(v.Scope(), f.StaffID)) {
			from = append(from, f.StaffID)
		}
	}
	switch {
	case len(from) == 0:
		return "**" + mdName(c) + "** 目前没有你团队里的跟进人，无法转交。", nil
	case len(from) > 1:
		names := make([]string, len(from))
		for i, id := range from {
			names[i] = staffName(ctx, p.st, id)
		}
		return "**" + mdName(c) + "** 由多人跟进（" + strings.Join(names, "、") + "），聊天里还不能选择转出人，请通过 scrm 接口（转交 API）指定。", nil
	}
	var to []*store.Staff
	for _, s := range staff {
		if s.Active && (s.ID == target || s.Name == target) {
			to = append(to, s)
		}
	}
	switch {
	case len(to) == 0:
		return "没有找到在职员工“" + clip(target, 20) + "”。", nil
	case len(to) > 1:
		return "有多位员工叫“" + clip(target, 20) + "”，请用员工账号（UserID）。", nil
	case !MayHandOver(v, from[0], to[0].ID):
		return "接替人需在你的团队中。", nil
	}
	a := Actor{Viewer: v, Source: SourceBot}
	fromName, toName := staffName(ctx, p.st, from[0]), staffLabel(to[0])
	var reply, oldText, newText string
	if externalUserID(c) == "" {
		// Not a WeCom contact (imported, or known only on the Official
		// Account or 微信客服): WeCom cannot transfer them, scrm can.
		_, err = p.core.Assign(ctx, a, AssignRequest{CustomerID: c.ID, From: from[0], To: to[0].ID, Key: key, At: at})
		reply = "已转交 ✅ **" + mdName(c) + "** 由 " + md(fromName) + " 转给 " + md(toName) + "（非企业微信客户，已在 scrm 内完成，未完成的提醒一并转交）。"
		oldText = "你跟进的客户 **" + mdName(c) + "** 已由 " + md(staffName(ctx, p.st, v.StaffID)) + " 转交给 " + md(toName) + "，TA 的待办提醒已一并转交。"
		newText = "**" + mdName(c) + "** 已转交给你（原负责人：" + md(fromName) + "），发送“查 " + mdName(c) + "”看客户档案。"
	} else {
		_, err = p.core.HandOver(ctx, a, HandoverRequest{CustomerID: c.ID, From: from[0], To: to[0].ID, Now: at})
		reply = "已发起转交 ✅ **" + mdName(c) + "** 由 " + md(fromName) + " 转给 " + md(toName) +
			"。企业微信会通知客户，24 小时内未拒绝即完成接替，结果会记在客户动态里。"
		oldText = "你跟进的客户 **" + mdName(c) + "** 已由 " + md(staffName(ctx, p.st, v.StaffID)) + " 发起转交给 " + md(toName) +
			"，客户 24 小时内未拒绝即完成接替，届时未完成的提醒会转给 TA。"
		newText = "客户 **" + mdName(c) + "** 将转交给你（原负责人：" + md(fromName) + "），客户 24 小时内未拒绝即完成接替。"
	}
	var rej *HandoverRejection
	var ae *ActionError
	switch {
	case errors.As(err, &rej):
		return "未能转交：" + rej.Text, nil
	case errors.As(err, &ae):
		return "未能转交：" + ae.Text, nil
	case err != nil:
		return "", err
	}
	// Both salespeople hear of it (the asker has the reply).
	for _, n := range []struct{ to, text string }{{from[0], oldText}, {to[0].ID, newText}} {
		if n.to == v.StaffID {
			continue
		}
		if err := p.noticeOnce(ctx, key, n.to, n.text); err != nil {
			return "", err
		}
	}
	return reply, nil
}

// noticeOnce sends text to staffID once for the command key: a redelivered
// command finds the record and does not send again.
func (p *Commands) noticeOnce(ctx context.Context, key, staffID, text string) error {
	if key == "" {
		return p.out.SendMarkdown(ctx, staffID, text)
	}
	return once(ctx, p.st, store.MarkBotNotice, key+":"+staffID, p.core.Now(), func() error {
		if err := p.out.SendMarkdown(ctx, staffID, text); err != nil {
			return fmt.Errorf("commands: notice %s: %w", staffID, err)
		}
		return nil
	})
}
