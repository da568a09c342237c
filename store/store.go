// Package store holds scrm's domain types and the repository interfaces that
// every backend implements. It imports drivers only in its sub-packages:
// store/sqlite (embedded, the default) and store/mongo (cluster). The contract
// suite in store/storetest runs against both, which is how they stay identical.
package store

import (
	"context"
	"errors"
	"slices"
	"time"
)

// ErrNotFound is returned when a looked-up record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when a write collides with an existing record or a
// concurrent writer (for example a lease held by another owner).
var ErrConflict = errors.New("store: conflict")

// Channels a callback can arrive on.
const (
	ChannelWeCom = "wecom" // WeCom self-built app callbacks (staff messages, contact events)
	ChannelOA    = "oa"    // WeChat Official Account (公众号)
	ChannelKF    = "kf"    // 微信客服 messages pulled with kf/sync_msg
)

// Identity kinds that point at one person.
const (
	IdentityExternalUserID = "external_userid" // WeCom external contact
	IdentityOpenID         = "openid"          // Official Account follower
	IdentityKFUserID       = "kf_userid"       // 微信客服 external user (an external_userid in kf's namespace)
	IdentityUnionID        = "unionid"         // WeChat open platform union id, links the others
)

// Event is one callback as it was accepted: the decrypted platform XML plus a
// normalized view. Events form the durable log that every processor reads.
type Event struct {
	ID         int64  // assigned by the store on insert; increases with insertion order on one backend
	DedupKey   string // unique; a retried callback carries the same key and is stored once
	Channel    string // ChannelWeCom, ChannelOA or ChannelKF
	Kind       string // e.g. "text", "event.subscribe", "event.change_external_contact.add_external_contact", "unknown"
	FromID     string // platform sender: WeCom UserID, OA openid, "sys" for system events
	StaffID    string // WeCom UserID of the staff member involved, if any
	CustomerID string // the customer's platform identity (external_userid, openid, kf user), if any
	Text       string // message text, if any; never logged
	MsgID      string // platform message id, if any
	Attrs      map[string]string
	Raw        []byte // decrypted XML exactly as received
	OccurredAt time.Time
	ReceivedAt time.Time

	// Processing state, owned by the event pipeline.
	ProcessedAt *time.Time
	Attempts    int    // how many times the event has been claimed (ClaimEvents counts the current claim)
	LastError   string // errText of the last FailEvent
}

// EventFilter selects events for FindEvents. Zero fields match everything.
type EventFilter struct {
	Channel   string
	Kind      string
	AfterID   int64 // only events with ID > AfterID
	Processed *bool
	Limit     int // 0 means 100
}

// EventStore is the durable, deduplicated event log.
type EventStore interface {
	// AppendEvents stores events in one durable write. It reports, per event,
	// whether it was inserted (false: an event with the same DedupKey already
	// exists). Inserted events get their ID set. The write is durable when the
	// call returns.
	AppendEvents(ctx context.Context, evs []*Event) (inserted []bool, err error)
	// HasEvent reports whether an event with this dedup key is stored.
	HasEvent(ctx context.Context, dedupKey string) (bool, error)
	// ClaimEvents leases up to limit unprocessed events whose lease is free or
	// expired at now, oldest first, to owner until now+lease.
	ClaimEvents(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]*Event, error)
	// CompleteEvent marks an event processed. Returns ErrConflict if owner no
	// longer holds its lease (another instance took it over).
	CompleteEvent(ctx context.Context, id int64, owner string, now time.Time) error
	// CompleteEvents marks many events processed in one write (one
	// transaction, or a constant number of commands). It returns the IDs
	// whose lease owner no longer holds (another instance took them over,
	// or they do not exist); completing again an event the same owner
	// already completed succeeds. err is only for a failed write, after
	// which any of the events may or may not be complete.
	CompleteEvents(ctx context.Context, ids []int64, owner string, now time.Time) (lost []int64, err error)
	// FailEvent releases the lease and schedules a retry at retryAt.
	FailEvent(ctx context.Context, id int64, owner string, errText string, retryAt time.Time) error
	// FindEvents returns events matching the filter in ID order.
	FindEvents(ctx context.Context, f EventFilter) ([]*Event, error)
	// OldestUnprocessed returns the receive time of the oldest unprocessed
	// event, or ErrNotFound when the log is fully processed.
	OldestUnprocessed(ctx context.Context) (time.Time, error)
}

// Identity is one platform identifier of a customer.
type Identity struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// Follow is a staff member who has the customer as an external contact.
type Follow struct {
	StaffID string    `json:"staff_id"`
	Remark  string    `json:"remark,omitempty"`
	State   string    `json:"state,omitempty"` // add-way State: the acquisition channel
	AddedAt time.Time `json:"added_at"`
	Deleted bool      `json:"deleted,omitempty"` // the follow ended (deleted by either side)
}

// Customer stages (configurable later; these are the defaults).
const (
	StageLead    = "新线索"
	StageActive  = "跟进中"
	StageWon     = "已成交"
	StageDormant = "沉睡"
	StageLost    = "流失"
)

// Customer is one person, whatever channels they use.
type Customer struct {
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	Avatar            string            `json:"avatar,omitempty"`
	Identities        []Identity        `json:"identities"`
	Follows           []Follow          `json:"follows"`
	Tags              []string          `json:"tags"`
	Stage             string            `json:"stage"`
	Tier              string            `json:"tier,omitempty"`
	Fields            map[string]string `json:"fields,omitempty"`
	LastCustomerMsgAt *time.Time        `json:"last_customer_msg_at,omitempty"`
	LastStaffTouchAt  *time.Time        `json:"last_staff_touch_at,omitempty"`
	Insight           *Insight          `json:"insight,omitempty"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// CustomerUpsert describes what an event knows about a customer. Empty fields
// leave the stored value alone, so applying the same upsert twice is a no-op.
type CustomerUpsert struct {
	Identity   Identity   // required: the identity to find or create by
	Link       []Identity // further identities of the same person (e.g. a unionid)
	Name       string
	Avatar     string
	Follow     *Follow   // added or updated by StaffID
	Unfollow   string    // StaffID whose follow ended
	Stage      string    // set if non-empty
	AddTags    []string  // tags to add (already present ones are kept once)
	RemoveTags []string  // tags to remove
	CustomerAt time.Time // a customer message at this time: raises LastCustomerMsgAt
	StaffAt    time.Time // a staff touch at this time: raises LastStaffTouchAt
	Now        time.Time
}

// CustomerFilter selects customers for FindCustomers.
type CustomerFilter struct {
	StaffID string // only customers this staff member follows (an active follow)
	// StaffIDs: only customers any of these staff members follow (a
	// manager's team). nil means no filter; a non-nil empty list matches no
	// customer, so an empty scope never widens to everyone.
	StaffIDs []string
	// LastContactBefore/After bound the later of LastCustomerMsgAt and
	// LastStaffTouchAt: Before keeps those last contacted strictly before
	// it, After those last contacted at or after it, so one time splits the
	// customers in two. Customers never contacted count as before any time.
	// Zero times are no bound.
	LastContactBefore time.Time
	LastContactAfter  time.Time
	Tag               string
	Stage             string
	Query             string // substring of name
	// Sentiment: only customers whose latest analysis has this label
	// (positive, neutral, negative).
	Sentiment string
	// Waiting: only customers waiting for an answer (IsWaiting).
	Waiting bool
	AfterID string // cursor: customers with ID > AfterID
	Limit   int    // 0 means 50
}

// CustomerStore keeps customers and their identities.
type CustomerStore interface {
	// UpsertCustomer finds the customer owning u.Identity (or any identity in
	// u.Link), creating one if there is none, applies u and returns the result.
	// When u.Link joins two existing customers they are merged into the older.
	UpsertCustomer(ctx context.Context, u CustomerUpsert) (*Customer, error)
	// FindCustomerByID returns ErrNotFound if the customer does not exist.
	FindCustomerByID(ctx context.Context, id string) (*Customer, error)
	// FindCustomerByIdentity returns ErrNotFound if no customer has the identity.
	FindCustomerByIdentity(ctx context.Context, id Identity) (*Customer, error)
	// FindCustomers returns customers matching f ordered by ID.
	FindCustomers(ctx context.Context, f CustomerFilter) ([]*Customer, error)
}

// Timeline entry kinds.
const (
	EntryMessage  = "message"
	EntryNote     = "note"
	EntryEvent    = "event"
	EntryStage    = "stage"
	EntryReminder = "reminder"
	EntryAnalysis = "analysis"
)

// Message directions.
const (
	DirectionIn  = "in"  // from the customer
	DirectionOut = "out" // from staff or the bot
)

// TimelineEntry is one item on a customer's timeline.
type TimelineEntry struct {
	ID         int64             `json:"id"`
	CustomerID string            `json:"customer_id"`
	SourceKey  string            `json:"-"` // unique per entry source (e.g. the event dedup key): makes appends idempotent
	Kind       string            `json:"kind"`
	Channel    string            `json:"channel,omitempty"`
	Direction  string            `json:"direction,omitempty"`
	StaffID    string            `json:"staff_id,omitempty"`
	Text       string            `json:"text,omitempty"`
	Attrs      map[string]string `json:"attrs,omitempty"`
	At         time.Time         `json:"at"`
}

// AttrPrivate marks a private note: Attrs[AttrPrivate] == "true". A private
// note is for its author, the author's managers and admins; every door that
// shows a timeline to a person filters it (bot.Viewer.CanSeeEntry). Notes
// without the mark are shared with whoever may see the customer.
const AttrPrivate = "private"

// Private reports whether e is a private note.
func (e *TimelineEntry) Private() bool {
	return e.Kind == EntryNote && e.Attrs[AttrPrivate] == "true"
}

// AttrAuto marks a message scrm sent on its own (an FAQ answer, the
// off-hours reply, a handover notice): Attrs[AttrAuto] == "true". Nobody
// said those words, so nothing reads them for promises, sentiment or intent.
const AttrAuto = "auto"

// Automatic reports whether e is a message scrm sent on its own. Entries
// written before the mark carried the answer's outcome in AttrAuto beside
// by=bot, which still counts.
func (e *TimelineEntry) Automatic() bool {
	return e.Kind == EntryMessage && (e.Attrs[AttrAuto] == "true" || e.Attrs["by"] == "bot")
}

// Author is who wrote e: the staff member, or the Attrs "author" of an
// entry written without one (an admin token's "admin").
func (e *TimelineEntry) Author() string {
	if e.StaffID != "" {
		return e.StaffID
	}
	return e.Attrs["author"]
}

// TimelineStore keeps every customer's timeline.
type TimelineStore interface {
	// AppendTimeline stores e unless an entry with the same SourceKey exists;
	// it reports whether it was inserted and sets e.ID when it was.
	AppendTimeline(ctx context.Context, e *TimelineEntry) (bool, error)
	// FindTimeline returns a customer's entries newest first, those with
	// ID < beforeID when beforeID > 0, at most limit (0 means 50).
	FindTimeline(ctx context.Context, customerID string, beforeID int64, limit int) ([]*TimelineEntry, error)
	// WriteCustomers applies a batch of events' customer writes in order:
	// each upsert, then its entry (if any) on the customer the upsert found
	// or made, the entry's CustomerID set to that customer. It is the
	// batch form of UpsertCustomer and AppendTimeline, with their
	// semantics, for the pipeline: on SQLite the whole batch is one write
	// transaction instead of two per event. It returns one result per
	// write; a write that fails (ErrInvalid, ErrNotFound, …) carries its
	// error and leaves the others applied (on SQLite it changed nothing; on
	// MongoDB its upsert may stand without its entry). An error of
	// the call itself means any write may or may not have been applied
	// (each is idempotent, so the caller applies them again).
	WriteCustomers(ctx context.Context, ws []CustomerWrite) ([]CustomerWriteResult, error)
}

// CustomerWrite is what one event writes about its customer: an upsert and
// the entry it puts on the customer's timeline.
type CustomerWrite struct {
	Upsert CustomerUpsert
	Entry  *TimelineEntry // nil: none
}

// CustomerWriteResult is what one CustomerWrite did.
type CustomerWriteResult struct {
	Customer *Customer // the customer after the upsert
	Appended bool      // the entry was new (false also without an entry)
	Err      error     // this write failed (see WriteCustomers)
}

// MarkerStore keeps markers: records that something was done once (a reply
// sent, a card press applied, a reminder list recorded), each named by its
// kind (its family, one of MarkerKinds) and a key, with a short value and
// the time it was made. Unlike cursors, which track a position or a state
// and stay few, markers pile up one per event or push, so each family is
// kept only for its retention: a periodic sweep deletes the older ones
// (bot.MarkerSweep).
type MarkerStore interface {
	// GetMarker returns the value of marker (kind, key), "" if there is
	// none.
	GetMarker(ctx context.Context, kind, key string) (string, error)
	// SetMarker records marker (kind, key) with value, made at at. Setting
	// it again replaces its value and keeps the time it was first made.
	SetMarker(ctx context.Context, kind, key, value string, at time.Time) error
	// DeleteMarkers deletes the markers of kind made before before and
	// reports how many it deleted.
	DeleteMarkers(ctx context.Context, kind string, before time.Time) (int64, error)
}

// The marker kinds. Before markers had a store of their own they were
// cursors named "<kind>:<key>"; a backend moves any such cursor into the
// markers when it opens (MarkerKinds lists what it looks for).
const (
	MarkBotReply       = "bot-reply"       // a command's reply went out
	MarkBotNotice      = "bot-notice"      // a command's notice to a member went out
	MarkInboxForward   = "inbox:fwd"       // a customer message was forwarded (per member too)
	MarkInboxPress     = "inbox:press"     // a claim card press was answered
	MarkInboxReply     = "inbox:reply"     // a member's reply to a customer went out
	MarkInboxAuto      = "inbox:auto"      // what the bot answered a customer message with
	MarkInboxOffHours  = "inbox:offhours"  // the closed-period notice went out (value: the event)
	MarkCardPress      = "card-press"      // a reminder card press was applied (value: how)
	MarkDailyScan      = "daily-scan"      // a day's cadence scan: its position, then "done"
	MarkPlan           = "plan-scan"       // a day's planning scan was scheduled
	MarkPlanDigest     = "plan-digest"     // a day's digests were scheduled
	MarkDigestSent     = "digest-sent"     // a member's daily digest went out
	MarkWeeklySent     = "weekly-sent"     // a manager's weekly digest went out
	MarkReminderList   = "rem-list"        // the list (or card) a reminder push went out in
	MarkListReady      = "rem-list-ready"  // a list was recorded on all its reminders
	MarkWelcome        = "welcome"         // a welcome code is done (value: sent, used, expired, none, failed)
	MarkOAWelcome      = "oa-welcome"      // an OA follow's channel welcome is done (value: sent, closed)
	MarkCampaignPlan   = "campaign-plan"   // a campaign's audience is frozen into its tasks and sends
	MarkCampaignCancel = "campaign-cancel" // a campaign was cancelled (its job must stop and withdraw)
	MarkCampaignNudge  = "campaign-nudge"  // a remind_groupmsg_send went out (value: calling, sent, refused)
)

// MarkerKinds lists every marker kind.
var MarkerKinds = []string{
	MarkBotReply, MarkBotNotice, MarkInboxForward, MarkInboxPress, MarkInboxReply, MarkInboxAuto, MarkInboxOffHours,
	MarkCardPress, MarkDailyScan, MarkPlan, MarkPlanDigest, MarkDigestSent, MarkWeeklySent, MarkReminderList, MarkListReady,
	MarkWelcome, MarkOAWelcome, MarkCampaignPlan, MarkCampaignCancel, MarkCampaignNudge,
}

// Stats are the headline counts of /api/v1/stats.
type Stats struct {
	Events    int64 `json:"events"`
	Messages  int64 `json:"messages"`
	Customers int64 `json:"customers"`
}

// Store is everything a backend provides.
type Store interface {
	EventStore
	CustomerStore
	TimelineStore
	ActivityStore
	ReportStore
	CustomerAdmin
	StaffStore
	TagStore
	ReminderStore
	JobStore
	AuditStore
	GroupStore
	SessionStore
	ChannelStore
	QuickReplyStore
	CampaignStore
	JourneyStore
	// Stats counts events, message timeline entries and customers.
	Stats(ctx context.Context) (Stats, error)
	MarkerStore
	HandoverStateStore
	InboxStateStore
	// WriteMarkersAndJobs sets every marker of ms (as SetMarker) and then
	// schedules every job of js (as ScheduleJob), each in order: what the
	// pipeline's processors leave to be written with their batch. On
	// SQLite it is one write transaction. An error means any of them may or
	// may not have been written (each is idempotent: write them again).
	WriteMarkersAndJobs(ctx context.Context, ms []MarkerWrite, js []JobWrite) error
	// PruneDone deletes the bookkeeping of work finished before before that
	// nothing reads any more, and reports how many records it deleted: on
	// MongoDB the done records and lease generations of processed events,
	// which would otherwise grow by one or more per event forever. A
	// backend that keeps no such records deletes nothing.
	PruneDone(ctx context.Context, before time.Time) (int64, error)
	// GetCursor returns a named cursor (e.g. a kf sync cursor), "" if unset.
	GetCursor(ctx context.Context, name string) (string, error)
	// SetCursor stores a named cursor.
	SetCursor(ctx context.Context, name, value string) error
	// Ping checks that the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend; it is called last at shutdown.
	Close() error
}

// Identities lists u's identity and its links, without blanks and repeats:
// every identity an upsert finds or creates the customer by.
func (u CustomerUpsert) Identities() []Identity {
	out := []Identity{u.Identity}
	for _, id := range u.Link {
		if id.Kind != "" && id.Value != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

type deferSyncKey struct{}

// WithDeferredSync marks the writes made under ctx as background work whose
// durability may wait: a backend may return before such a write is on disk,
// as long as it becomes durable no later than any write that follows it
// (SQLite's WAL with synchronous=NORMAL does exactly that; MongoDB ignores
// the mark). The pipeline and the job runners use it for everything they
// write, completions included: a power loss can then roll back a suffix of
// their writes, which only re-runs work that is at-least-once and idempotent
// anyway, while an acknowledged callback, written without the mark, still
// waits for its own sync and with it for every write before it.
func WithDeferredSync(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferSyncKey{}, true)
}

// DeferredSync reports whether ctx carries WithDeferredSync.
func DeferredSync(ctx context.Context) bool {
	v, _ := ctx.Value(deferSyncKey{}).(bool)
	return v
}

// MarkerWrite is one SetMarker of a WriteMarkersAndJobs.
type MarkerWrite struct {
	Kind, Key, Value string
	At               time.Time
}

// JobWrite is one ScheduleJob of a WriteMarkersAndJobs.
type JobWrite struct {
	Key, Kind, Payload string
	DueAt              time.Time
}
