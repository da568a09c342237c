package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalid is returned when arguments can never succeed: a missing required
// value, an unknown status, merging a customer into itself.
var ErrInvalid = errors.New("store: invalid argument")

// This file declares the CRM records beyond the event log: customer edits,
// staff, corp tags, reminders, durable jobs and the audit log. Each interface
// is implemented by both backends and covered by the contract suite.

// IdentityPhone is a customer's normalized mobile number (digits only, no
// country code), used to de-duplicate imports and to look customers up.
const IdentityPhone = "phone"

// CustomerUpdate is an edit made by a person (API, bot command, import) or
// by the analysis. Nil pointers and empty slices leave values alone.
type CustomerUpdate struct {
	Name          *string
	Stage         *string
	Tier          *string
	Fields        map[string]string // merged into Customer.Fields; an empty value deletes the key
	AddTags       []string
	RemoveTags    []string
	AddIdentities []Identity // e.g. a phone number; ErrConflict if another customer has it (kinds never contain ':')
	Insight       *Insight   // the latest analysis
	Now           time.Time
}

// Insight is the latest analysis of a customer's conversation.
type Insight struct {
	Summary        string    `json:"summary,omitempty"`
	SentimentLabel string    `json:"sentiment_label,omitempty"` // positive, neutral, negative
	SentimentScore float64   `json:"sentiment_score"`           // 0..1, probability positive
	SentimentTrend float64   `json:"sentiment_trend"`           // change of the score over the recent window (-1..1)
	Intent         string    `json:"intent,omitempty"`
	Model          string    `json:"model,omitempty"` // which model produced it ("offline" for the embedded ones)
	AnalyzedAt     time.Time `json:"analyzed_at"`
	// Through is the ID of the last timeline entry the analysis has read;
	// the next rolling update starts after it.
	Through int64 `json:"through"`
}

// CustomerAdmin is what people and jobs do to customers beyond callbacks.
type CustomerAdmin interface {
	// UpdateCustomer applies upd and returns the result; an ID that was
	// merged away resolves to the survivor. Returns ErrNotFound if the
	// customer does not exist, ErrConflict if an identity in
	// upd.AddIdentities belongs to another customer (nothing is changed
	// then), ErrInvalid for an empty stage or an identity without kind or
	// value.
	UpdateCustomer(ctx context.Context, id string, upd CustomerUpdate) (*Customer, error)
	// MergeCustomers moves everything of customer from (identities, follows,
	// tags, fields, timeline, reminders) into customer into and deletes from.
	// into wins where both have a value (name, stage, tier, a field's key,
	// insight); from fills what into lacks; last-contact times take the
	// later. Later writes for from's ID land on into. Returns ErrNotFound if
	// either does not exist, ErrInvalid if into == from.
	MergeCustomers(ctx context.Context, into, from string) (*Customer, error)
	// EraseCustomer deletes the customer and every record about them from
	// every table or collection: identities, follows, tags, fields, insight,
	// timeline, reminders, merge records, jobs whose key has the customer's
	// ID as a ':'-separated component (e.g. "analyze:<id>"), and cursors
	// whose name has the ID or an identity value as a component.
	// Events in the log whose CustomerID or FromID is one of the customer's
	// identity values keep their row but lose text, raw XML, attributes and
	// those identity values (the dedup key becomes "erased:<event id>"); an
	// unprocessed one is marked processed so it cannot recreate the customer.
	// The audit log is kept (its Target is not personal data). Returns
	// ErrNotFound if absent.
	EraseCustomer(ctx context.Context, id string) error
	// CountCustomers counts customers matching f (ignoring AfterID and Limit).
	CountCustomers(ctx context.Context, f CustomerFilter) (int64, error)
}

// Staff is a WeCom member who uses scrm.
type Staff struct {
	ID          string   `json:"id"` // WeCom UserID
	Name        string   `json:"name"`
	Role        string   `json:"role"` // admin, manager or sales
	Departments []int64  `json:"departments,omitempty"`
	Team        []string `json:"team,omitempty"` // for managers: the staff IDs they lead
	Active      bool     `json:"active"`
	// Source is StaffSourceWeCom once the address book sync has seen the
	// member in WeCom; empty for a member only ever entered by hand.
	Source string `json:"source,omitempty"`
	// Manual names the fields an admin set by hand (StaffField*): the
	// address book sync never changes them.
	Manual []string `json:"manual,omitempty"`
}

// StaffSourceWeCom marks a staff member the address book sync has seen.
const StaffSourceWeCom = "wecom"

// Staff fields an admin can set by hand, as listed in Staff.Manual.
const (
	StaffFieldName        = "name"
	StaffFieldRole        = "role"
	StaffFieldTeam        = "team"
	StaffFieldDepartments = "departments"
	StaffFieldActive      = "active"
)

// StaffStore keeps the staff directory.
type StaffStore interface {
	// UpsertStaff creates or replaces a staff member by ID; ErrInvalid
	// without an ID.
	UpsertStaff(ctx context.Context, s *Staff) error
	// FindStaffByID returns ErrNotFound if there is no such member.
	FindStaffByID(ctx context.Context, id string) (*Staff, error)
	// FindStaff returns every staff member ordered by ID.
	FindStaff(ctx context.Context) ([]*Staff, error)
}

// Tag is a corp tag (from WeCom) or a local tag (scrm only, e.g. proposed by
// the analysis).
type Tag struct {
	ID        string `json:"id"` // WeCom tag id; "local:<name>" for local tags
	Name      string `json:"name"`
	GroupID   string `json:"group_id,omitempty"`
	GroupName string `json:"group_name,omitempty"`
	Order     int64  `json:"order,omitempty"`
	Local     bool   `json:"local,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
}

// TagStore keeps the tag catalogue.
type TagStore interface {
	// UpsertTags creates or replaces tags by ID (a replaced tag is no longer
	// deleted). ErrInvalid if a tag has no ID or name.
	UpsertTags(ctx context.Context, tags []Tag) error
	// DeleteTags marks tags deleted (customers keep the name until re-synced).
	// Unknown IDs are ignored.
	DeleteTags(ctx context.Context, ids []string) error
	// FindTags returns the tags not deleted, ordered by GroupID, then Order
	// descending (WeCom lists larger orders first), then ID.
	FindTags(ctx context.Context) ([]Tag, error)
}

// Reminder kinds.
const (
	ReminderPromise   = "promise"   // from a commitment in a conversation
	ReminderCadence   = "cadence"   // follow-up cadence (T+0, T+3, T+7, quarterly)
	ReminderDormant   = "dormant"   // no interaction for N days
	ReminderRenewal   = "renewal"   // before a date field (e.g. 到期日)
	ReminderManual    = "manual"    // created by staff
	ReminderChurn     = "churn"     // alert: the customer left
	ReminderSentiment = "sentiment" // alert: a sharp negative turn or a complaint
)

// Reminder states.
const (
	ReminderPending   = "pending" // not yet pushed
	ReminderSent      = "sent"    // pushed, not done
	ReminderDone      = "done"
	ReminderCancelled = "cancelled"
)

// Reminder is something a staff member should do for a customer at a time.
type Reminder struct {
	ID         int64      `json:"id"`
	Key        string     `json:"-"` // unique if set: makes creation idempotent (e.g. "promise:<event>:<n>")
	CustomerID string     `json:"customer_id,omitempty"`
	StaffID    string     `json:"staff_id"`
	Kind       string     `json:"kind"`
	Text       string     `json:"text"`
	DueAt      time.Time  `json:"due_at"`
	Status     string     `json:"status"`
	SentAt     *time.Time `json:"sent_at,omitempty"`
	DoneAt     *time.Time `json:"done_at,omitempty"`
	Attempts   int        `json:"-"` // how many times it was claimed
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`

	// Script is a ready-to-send text for the customer (a journey's
	// reminder): the sidebar sends it, the card shows it to copy.
	Script string `json:"script,omitempty"`
}

// ReminderFilter selects reminders for FindReminders.
type ReminderFilter struct {
	StaffID    string
	CustomerID string
	Statuses   []string  // any of these; empty means all
	DueBefore  time.Time // only DueAt < DueBefore; zero: no bound
	Limit      int       // 0 means 50
}

// ReminderUpdate changes a reminder; nil leaves a value alone. Postponing
// sets DueAt and Status back to pending so it is pushed again: a change of
// Status or DueAt re-arms it (SentAt cleared when pending, DoneAt set when
// done), and a push in flight then gets ErrConflict from MarkReminderSent.
type ReminderUpdate struct {
	Status *string
	DueAt  *time.Time
	Text   *string
	Now    time.Time
}

// ReminderStore keeps reminders and hands due ones to the scheduler.
type ReminderStore interface {
	// CreateReminder stores r unless a reminder with r.Key exists; it reports
	// whether it was created and sets r.ID (to the existing one's otherwise).
	// An empty Key never deduplicates. An empty Status means pending, zero
	// CreatedAt/UpdatedAt mean now. A CustomerID that was merged away is
	// replaced by the survivor's; ErrNotFound if the customer does not
	// exist; ErrInvalid without StaffID, Kind or DueAt, or for an unknown
	// Status.
	CreateReminder(ctx context.Context, r *Reminder) (bool, error)
	// FindReminderByID returns ErrNotFound if it does not exist.
	FindReminderByID(ctx context.Context, id int64) (*Reminder, error)
	// FindReminders returns matching reminders ordered by DueAt then ID.
	FindReminders(ctx context.Context, f ReminderFilter) ([]*Reminder, error)
	// UpdateReminder applies upd; ErrNotFound if absent, ErrInvalid for an
	// unknown status.
	UpdateReminder(ctx context.Context, id int64, upd ReminderUpdate) (*Reminder, error)
	// ClaimDueReminders leases up to limit pending reminders due at or before
	// now, whose lease is free or expired, to owner until now+lease, and
	// returns them in due order. When more are due than limit, earlier ones
	// are preferred (a backend may spread concurrent claimers over the
	// earliest few). Two owners never hold a lease on one reminder at once.
	ClaimDueReminders(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*Reminder, error)
	// MarkReminderSent records the push (status sent, SentAt at). ErrConflict
	// if owner lost the lease or the reminder was changed since the claim;
	// a repeated call by the same owner succeeds. ErrNotFound if absent.
	MarkReminderSent(ctx context.Context, id int64, owner string, at time.Time) error
	// ReleaseReminder gives the lease back after a failed push; the reminder
	// stays pending and is claimable again from retryAt. ErrConflict if owner
	// does not hold the lease, ErrNotFound if absent.
	ReleaseReminder(ctx context.Context, id int64, owner string, retryAt time.Time) error
}

// Job is durable background work keyed by what it is about (e.g.
// "analyze:<customer>"): scheduling the same key again re-arms it instead of
// adding a second job, which is how "one analysis per conversation change"
// holds. Keys are ':'-separated; a job about a customer carries the
// customer's ID as one component, which is how EraseCustomer finds it.
type Job struct {
	Key       string
	Kind      string
	Payload   string
	DueAt     time.Time
	Version   int64  // bumped by every ScheduleJob
	Attempts  int    // claims since the job last completed, the current one included
	LastError string // errText of the last FailJob
}

// JobStore is a durable, leased, debounced job queue.
type JobStore interface {
	// ScheduleJob creates job key to run at dueAt, or re-arms it: its DueAt
	// becomes dueAt (debouncing: a later schedule postpones it), its Version
	// is bumped and its kind and payload replaced. A running job is not
	// disturbed; its CompleteJob will see the new version and leave the job
	// pending. ErrInvalid without key or kind.
	ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error
	// ClaimJobs leases up to limit jobs of kind due at or before now whose
	// lease is free or expired to owner until now+lease, earliest due first.
	// Two owners never hold a lease on one job at once.
	ClaimJobs(ctx context.Context, kind, owner string, now time.Time, lease time.Duration, limit int) ([]*Job, error)
	// CompleteJob deletes the job if its version is still version; if it was
	// re-armed meanwhile it only releases the lease (the job runs again when
	// due). ErrConflict if owner lost the lease, ErrNotFound if there is no
	// such job (e.g. it was already completed).
	CompleteJob(ctx context.Context, key string, version int64, owner string) error
	// FailJob releases the lease and retries at retryAt. ErrConflict if owner
	// does not hold the lease, ErrNotFound if there is no such job.
	FailJob(ctx context.Context, key, owner, errText string, retryAt time.Time) error
	// CountJobs counts the jobs of kind not yet completed, running ones
	// included (all kinds when kind is empty).
	CountJobs(ctx context.Context, kind string) (int64, error)
}

// AuditEntry records who did what to which customer (PIPL).
type AuditEntry struct {
	ID     int64     `json:"id"`
	Actor  string    `json:"actor"`  // staff ID, or "token:admin" for the API's admin token
	Action string    `json:"action"` // export, erase, read_timeline, merge, import ...
	Target string    `json:"target"` // customer ID (kept after an erase: it is not personal data)
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// AuditStore is an append-only audit log.
type AuditStore interface {
	// AppendAudit stores e and sets e.ID (IDs increase with insertion order).
	// A zero At means now. ErrInvalid without Actor or Action.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// FindAudit returns the entries about target (every entry when target is
	// ""), newest first, those with ID < beforeID when beforeID > 0, at most
	// limit (0 means 50).
	FindAudit(ctx context.Context, target string, beforeID int64, limit int) ([]*AuditEntry, error)
	// FindAuditByAction returns the entries of action made in [from, to),
	// oldest first, at most limit (0 means 1,000).
	FindAuditByAction(ctx context.Context, action string, from, to time.Time, limit int) ([]*AuditEntry, error)
}

// ValidIdentity returns ErrInvalid for an identity the stores cannot key
// ("kind:value"): one without a kind or a value, or whose kind has a colon.
func ValidIdentity(id Identity) error {
	if id.Kind == "" || id.Value == "" || strings.Contains(id.Kind, ":") {
		return fmt.Errorf("identity %q/%q: %w", id.Kind, id.Value, ErrInvalid)
	}
	return nil
}

// ValidReminderStatus reports whether s is one of the reminder statuses.
func ValidReminderStatus(s string) bool {
	switch s {
	case ReminderPending, ReminderSent, ReminderDone, ReminderCancelled:
		return true
	}
	return false
}
