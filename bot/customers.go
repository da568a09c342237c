package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scrmhq/scrm/store"
)

// CustomerStore is what the customer processor reads and writes.
type CustomerStore interface {
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error)
	AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error)
	WriteCustomers(ctx context.Context, ws []store.CustomerWrite) ([]store.CustomerWriteResult, error)
	FindStaffByID(ctx context.Context, id string) (*store.Staff, error)
}

// Profile is what the platform tells about a customer beyond the callback.
type Profile struct {
	Name    string
	Avatar  string
	UnionID string
	Follows []store.Follow
}

// Profiles fetches customer profiles from WeCom and the Official Account.
// ErrNoProfile means the platform has none (an unknown or unrelated user);
// any other error is transient and the event is retried later.
type Profiles interface {
	ExternalContact(ctx context.Context, externalUserID string) (Profile, error)
	OAFollower(ctx context.Context, openID string) (Profile, error)
}

// ErrNoProfile is returned by Profiles when the platform has no profile.
var ErrNoProfile = errors.New("bot: no profile")

// Customers is the first processor: it turns every event that involves a
// customer into an upsert of that customer (by platform identity) and an entry
// on their timeline. Both writes are idempotent: the upsert only raises
// times and sets fields, and the timeline entry is keyed by the event.
//
// With Profiles, it also fills in names and links identities by unionid, so an
// OA follower and a WeCom contact who are one person become one customer.
//
// With DeferProfiles, a platform outage does not hold the timeline up: the
// customer and the timeline entry are written at once under the identity
// the callback carries, and a durable job fills in the profile (and merges
// by unionid) when the platform answers again.
type Customers struct {
	st       CustomerStore
	profiles Profiles // nil: callbacks only

	jobs ProfileJobs // nil: a profile error fails the event, which is retried
	o    ProfileOptions
	mu   sync.Mutex
	down map[string]time.Time // identity kind → until when inline fetches are skipped
}

// ProfileJobs schedules the deferred profile jobs (store.JobStore does).
type ProfileJobs interface {
	ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error
}

// ProfileOptions tune deferred profiles; zero values take the defaults.
type ProfileOptions struct {
	// Wait bounds an inline profile fetch while processing an event
	// (default 2 s): past it the profile is deferred to a job.
	Wait time.Duration
	// Skip is how long, after a failed fetch, events skip the inline fetch
	// and defer at once (default 30 s); a deferred job that succeeds ends
	// it early. Without it every event of an outage would wait out Wait.
	Skip time.Duration
	// Retry is when a deferred job first runs (default 5 s); the runner's
	// backoff spaces the retries after it.
	Retry time.Duration
	Now   func() time.Time
}

// JobProfile is the kind of the jobs that fill in a customer's profile
// after an outage; the key is "profile:<customer>".
const JobProfile = "customer_profile"

// NewCustomers returns the customer identity processor; profiles may be nil.
func NewCustomers(st CustomerStore, profiles Profiles) *Customers {
	return &Customers{st: st, profiles: profiles}
}

// DeferProfiles makes profile fetches that fail (or take longer than
// o.Wait) jobs on jobs instead of failing the event; ProfileRunner runs them.
func (p *Customers) DeferProfiles(jobs ProfileJobs, o ProfileOptions) {
	o.Wait = positiveOr(o.Wait, 2*time.Second)
	o.Skip = positiveOr(o.Skip, 30*time.Second)
	o.Retry = positiveOr(o.Retry, 5*time.Second)
	o.Now = clockOr(o.Now)
	p.jobs, p.o, p.down = jobs, o, map[string]time.Time{}
}

// ProfileRunner runs the deferred profile jobs.
func (p *Customers) ProfileRunner(q JobQueue, o RunnerOptions) *JobRunner {
	return NewJobRunner(q, JobProfile, p.runProfileJob, o)
}

// Name implements Processor.
func (*Customers) Name() string { return "customers" }

// contactPrefix is the kind prefix of WeCom customer-contact events.
const contactPrefix = "event.change_external_contact."

// isMessage reports whether ev is a message from a customer (not an event
// about one).
func isMessage(ev *store.Event) bool {
	return ev.CustomerID != "" && !strings.HasPrefix(ev.Kind, "event.")
}

// baseWrite is the upsert and the timeline entry every event of a customer
// starts from.
func baseWrite(ev *store.Event) (store.CustomerUpsert, *store.TimelineEntry) {
	u := store.CustomerUpsert{Identity: identityOf(ev), Now: ev.ReceivedAt}
	entry := &store.TimelineEntry{
		SourceKey: "event:" + ev.DedupKey,
		Channel:   ev.Channel,
		StaffID:   ev.StaffID,
		At:        ev.OccurredAt,
	}
	if isMessage(ev) {
		u.CustomerAt = ev.OccurredAt
		entry.Kind, entry.Direction, entry.Text = store.EntryMessage, store.DirectionIn, ev.Text
		entry.Attrs = map[string]string{"msg_type": ev.Kind}
	}
	return u, entry
}

// ProcessBatch implements BatchProcessor: the customer messages of a batch —
// nearly all of its events — are upserted and put on their timelines in one
// store call (on SQLite one write transaction for the batch instead of two
// per message), in the order claimed, so one customer's messages apply in
// turn. Each result goes into its event's memo for the processors after.
// What it cannot finish is left to Process: a write that failed, and a
// customer still without a name while profiles are wanted (a first message
// from someone unknown), whose profile Process fetches.
func (p *Customers) ProcessBatch(ctx context.Context, evs []*store.Event, ectxs []context.Context) {
	var (
		ws  []store.CustomerWrite
		idx []int
	)
	// A customer's other events (a follow, a subscribe) run one by one in
	// Process; the customer's messages after one are left to Process too,
	// so that its timeline keeps the order of the events.
	blocked := map[store.Identity]bool{}
	for i, ev := range evs {
		if ev.CustomerID == "" {
			continue
		}
		if !isMessage(ev) || blocked[identityOf(ev)] {
			blocked[identityOf(ev)] = true
			continue
		}
		u, entry := baseWrite(ev)
		ws = append(ws, store.CustomerWrite{Upsert: u, Entry: entry})
		idx = append(idx, i)
	}
	if len(ws) == 0 {
		return
	}
	res, err := p.st.WriteCustomers(ctx, ws)
	if err != nil {
		return // each event's Process writes its own
	}
	// The events of one customer share a memo (see Pipeline.RunOnce): put
	// in order, it ends with the customer after the batch's last write of
	// them, which is what a read would find when their processors start.
	for j, r := range res {
		if r.Err != nil {
			continue
		}
		i := idx[j]
		memoOf(ectxs[i]).put(r.Customer, ws[j].Upsert.Identities()...)
		if r.Customer.Name == "" && p.profileWanted(evs[i], &ws[j].Upsert) {
			continue
		}
		MarkBatched(ectxs[i], p.Name())
	}
}

// Process implements Processor.
func (p *Customers) Process(ctx context.Context, ev *store.Event) error {
	if ev.CustomerID == "" || Batched(ctx, p.Name()) {
		return nil
	}
	u, entry := baseWrite(ev)
	switch {
	case isMessage(ev):
		// A message from the customer: baseWrite made it.
	case strings.HasPrefix(ev.Kind, contactPrefix):
		change := strings.TrimPrefix(ev.Kind, contactPrefix)
		entry.Kind, entry.Text = store.EntryEvent, contactEventText(change, staffName(ctx, p.st, ev.StaffID), ev)
		entry.Attrs = map[string]string{"change_type": change}
		switch change {
		case "add_external_contact", "add_half_external_contact", "edit_external_contact":
			u.Follow = &store.Follow{StaffID: ev.StaffID, State: ev.Attrs["State"], AddedAt: ev.OccurredAt}
			u.StaffAt = ev.OccurredAt
		case "del_external_contact", "del_follow_user":
			u.Unfollow = ev.StaffID
		case "transfer_fail":
		default:
			entry = nil
		}
	case ev.Kind == "event.subscribe":
		entry.Kind, entry.Text = store.EntryEvent, "关注了公众号"
		if scene := ev.Attrs["EventKey"]; scene != "" {
			entry.Text += "（扫码场景 " + strings.TrimPrefix(scene, "qrscene_") + "）"
		}
	case ev.Kind == "event.unsubscribe":
		entry.Kind, entry.Text = store.EntryEvent, "取消关注公众号"
	case ev.Kind == "event.scan":
		entry.Kind, entry.Text = store.EntryEvent, "扫描了带参数二维码 "+ev.Attrs["EventKey"]
	default:
		// Menu clicks and the like identify the customer but are noise on a timeline.
		entry = nil
	}
	var c *store.Customer
	if p.profileWanted(ev, &u) && !fresh(ev, &u) {
		// Nearly every event is from a customer already named: the upsert
		// itself tells whether a profile is missing, which spares a read
		// before it. Applying u again below with the profile is a no-op
		// but for the profile.
		known, err := p.st.UpsertCustomer(ctx, u)
		if err != nil {
			return fmt.Errorf("customers: upsert: %w", err)
		}
		if known.Name != "" {
			c = known
		}
	}
	deferred := false
	if c == nil {
		var err error
		if deferred, err = p.enrich(ctx, ev, &u); err != nil {
			return err
		}
		if c, err = p.st.UpsertCustomer(ctx, u); err != nil {
			return fmt.Errorf("customers: upsert: %w", err)
		}
	}
	if deferred {
		payload, _ := json.Marshal(u.Identity)
		if err := p.jobs.ScheduleJob(ctx, "profile:"+c.ID, JobProfile, string(payload), p.o.Now().Add(p.o.Retry)); err != nil {
			return fmt.Errorf("customers: defer profile: %w", err)
		}
	}
	if entry == nil {
		return nil
	}
	entry.CustomerID = c.ID
	if _, err := p.st.AppendTimeline(ctx, entry); err != nil {
		return fmt.Errorf("customers: timeline: %w", err)
	}
	return nil
}

// profileWanted reports whether the platform has profiles for u's identity
// and the event may need one.
func (p *Customers) profileWanted(ev *store.Event, u *store.CustomerUpsert) bool {
	if p.profiles == nil || u.Unfollow != "" {
		return false
	}
	k := u.Identity.Kind
	return k == store.IdentityExternalUserID || k == store.IdentityOpenID
}

// fresh reports whether the event introduces or changes the customer, so
// that the profile is fetched even for a named customer.
func fresh(ev *store.Event, u *store.CustomerUpsert) bool {
	return ev.Kind == "event.subscribe" || u.Follow != nil
}

// enrich adds the platform profile to u when the event introduces or changes
// the customer, or (its caller found) the customer is still nameless. It
// reports deferred when the platform did not answer and a job is to fetch
// the profile later (with DeferProfiles; without, the error fails the event).
func (p *Customers) enrich(ctx context.Context, ev *store.Event, u *store.CustomerUpsert) (deferred bool, err error) {
	if !p.profileWanted(ev, u) {
		return false, nil
	}
	if p.jobs != nil && p.skipping(u.Identity.Kind) {
		return true, nil
	}
	fctx := ctx
	if p.jobs != nil {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, p.o.Wait)
		defer cancel()
	}
	prof, err := p.fetch(fctx, u.Identity)
	if errors.Is(err, ErrNoProfile) {
		return false, nil
	}
	if err != nil {
		if p.jobs != nil {
			p.setDown(u.Identity.Kind, true)
			return true, nil
		}
		return false, fmt.Errorf("customers: profile: %w", err)
	}
	u.Name, u.Avatar = prof.Name, prof.Avatar
	if prof.UnionID != "" {
		u.Link = append(u.Link, store.Identity{Kind: store.IdentityUnionID, Value: prof.UnionID})
	}
	// The callback's follow is authoritative for its staff member; the
	// profile supplies remarks and the other staff following the customer.
	for _, f := range prof.Follows {
		if u.Follow != nil && f.StaffID == u.Follow.StaffID {
			u.Follow.Remark = f.Remark
			if u.Follow.State == "" {
				u.Follow.State = f.State
			}
		}
	}
	return false, nil
}

func (p *Customers) fetch(ctx context.Context, id store.Identity) (Profile, error) {
	switch id.Kind {
	case store.IdentityExternalUserID:
		return p.profiles.ExternalContact(ctx, id.Value)
	case store.IdentityOpenID:
		return p.profiles.OAFollower(ctx, id.Value)
	}
	return Profile{}, ErrNoProfile
}

// skipping reports whether the platform of identity kind failed recently.
func (p *Customers) skipping(kind string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.o.Now().Before(p.down[kind])
}

func (p *Customers) setDown(kind string, down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if down {
		p.down[kind] = p.o.Now().Add(p.o.Skip)
	} else {
		delete(p.down, kind)
	}
}

// runProfileJob fills in the profile deferred by an outage: name, avatar,
// the unionid link (which merges the customer with their other identities)
// and the remarks of follows that still stand. An error retries it with
// the runner's backoff.
func (p *Customers) runProfileJob(ctx context.Context, j *store.Job) error {
	var id store.Identity
	if err := json.Unmarshal([]byte(j.Payload), &id); err != nil || id.Kind == "" || id.Value == "" {
		return nil // not a payload this version wrote: nothing to retry
	}
	c, err := p.st.FindCustomerByIdentity(ctx, id)
	if err != nil { // erased meanwhile: a profile must not bring them back
		return skipIfGone(err, "customers: find "+id.Kind)
	}
	prof, err := p.fetch(ctx, id)
	if errors.Is(err, ErrNoProfile) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("customers: deferred profile: %w", err)
	}
	p.setDown(id.Kind, false)
	now := p.o.Now().UTC()
	u := store.CustomerUpsert{Identity: id, Name: prof.Name, Avatar: prof.Avatar, Now: now}
	if prof.UnionID != "" {
		u.Link = []store.Identity{{Kind: store.IdentityUnionID, Value: prof.UnionID}}
	}
	if _, err := p.st.UpsertCustomer(ctx, u); err != nil {
		return fmt.Errorf("customers: deferred profile: %w", err)
	}
	for _, f := range prof.Follows {
		i := slices.IndexFunc(c.Follows, func(g store.Follow) bool { return g.StaffID == f.StaffID && !g.Deleted })
		if i < 0 || f.Remark == "" || c.Follows[i].Remark == f.Remark {
			continue // only a follow the callbacks made, and only its remark
		}
		g := c.Follows[i]
		g.Remark = f.Remark
		if _, err := p.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: id, Follow: &g, Now: now}); err != nil {
			return fmt.Errorf("customers: deferred remark: %w", err)
		}
	}
	return nil
}

// skipIfGone is nil when err is store.ErrNotFound — the customer (or the
// record) is gone: erased meanwhile, or never made because the customers
// processor skipped the event — so there is nothing left to do; any other
// error is returned with what as its context.
func skipIfGone(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// identityOf names the platform identity an event carries.
func identityOf(ev *store.Event) store.Identity {
	switch ev.Channel {
	case store.ChannelOA:
		return store.Identity{Kind: store.IdentityOpenID, Value: ev.CustomerID}
	case store.ChannelKF:
		return store.Identity{Kind: store.IdentityKFUserID, Value: ev.CustomerID}
	default:
		return store.Identity{Kind: store.IdentityExternalUserID, Value: ev.CustomerID}
	}
}

func contactEventText(change, staff string, ev *store.Event) string {
	switch change {
	case "add_external_contact":
		return "添加了员工 " + staff + " 为联系人"
	case "add_half_external_contact":
		return "添加了员工 " + staff + "（待对方通过）"
	case "edit_external_contact":
		return "员工 " + staff + " 修改了客户信息"
	case "del_external_contact":
		if ev.Attrs["Source"] == "DELETE_BY_TRANSFER" {
			return "客户已转接，员工 " + staff + " 不再跟进"
		}
		return "员工 " + staff + " 删除了该客户"
	case "del_follow_user":
		return "客户删除了员工 " + staff + "（流失信号）"
	case "transfer_fail":
		return "客户转接失败：" + transferFailReason(ev.Attrs["FailReason"])
	}
	return change
}

func transferFailReason(r string) string {
	switch r {
	case "customer_refused":
		return "客户拒绝"
	case "customer_limit_exceed":
		return "接替员工的客户数已达上限"
	}
	return r
}
