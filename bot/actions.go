package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Actions are the one door into the core (docs/architecture.md): every
// change a person or a background rule makes to a customer — a note, a
// stage, tags, fields, a claim, a merge, an erase, a handover, a reminder —
// is a method of Core that takes the Actor, checks visibility with
// Viewer.CanSee, validates, and writes the change, its timeline entry and
// its audit entry. The REST API, the bot's commands and cards, the analysis
// and the cadences all call these methods; none of them writes those
// records itself.
//
// Crash order. Every action writes in the same order:
//
//  1. the audit entry (the intent), so nothing is ever changed unrecorded;
//  2. the timeline entry, keyed by the action's idempotency key
//     (TimelineEntry.SourceKey deduplicates it);
//  3. the change itself, as an idempotent set (a stage, tags, fields), then
//     its follow-ups (tag write-back jobs), which re-arm rather than add.
//
// A crash between two steps leaves a prefix of them done; retrying the same
// action with the same key (the API's Idempotency-Key, or the stored event
// the pipeline redelivers for a bot command, whose key is ev.DedupKey)
// repeats every step: the timeline entry is found, the set is applied again
// and the jobs re-armed, so the retry completes what the crash cut short.
// The audit log is append-only and records attempts: a retried action may
// show its intent twice, never zero times.

// Sources of actions: which door an action came through.
const (
	SourceAPI        = "api"
	SourceBot        = "bot"
	SourceConsole    = "console"
	SourceSidebar    = "sidebar"
	SourceAnalysis   = "analysis"
	SourceCadence    = "cadence"
	SourceImport     = "import"
	SourceArchive    = "archive"    // the chat archive (会话内容存档)
	SourceEscalation = "escalation" // an alert passed on to a manager
)

// SystemActorID is the actor of changes no person made (the analysis, the
// cadences); AdminActorID is the API's admin token. ReservedStaffPrefix
// starts the actor names of principals that are not staff members: no staff
// ID may start with it, so a staff member whose UserID is "admin" is never
// mistaken for the admin token.
const (
	SystemActorID       = "system"
	ReservedStaffPrefix = "token:"
	AdminActorID        = ReservedStaffPrefix + "admin"
)

// ReservedStaffID reports whether id is spelled like the actor of a
// principal that is not a staff member (any case of the prefix).
func ReservedStaffID(id string) bool {
	return len(id) >= len(ReservedStaffPrefix) && strings.EqualFold(id[:len(ReservedStaffPrefix)], ReservedStaffPrefix)
}

// ReservedStaffIDText is the refusal of a request naming a reserved ID.
func ReservedStaffIDText(id string) string {
	return "员工 ID「" + id + "」不可用：以 " + ReservedStaffPrefix + " 开头的 ID 为系统保留（管理员令牌在审计日志中记为 " + AdminActorID + "）"
}

// Audit actions written by the core.
const (
	AuditNote         = "note"
	AuditStage        = "stage"
	AuditTags         = "tags"
	AuditFields       = "fields"
	AuditClaim        = "claim"
	AuditAssign       = "assign" // an owner change made inside scrm (Assign)
	AuditMerge        = "merge"
	AuditErase        = "erase"
	AuditEraseFailed  = "erase_failed"
	AuditReadTimeline = "read_timeline"
	AuditExport       = "export"
	AuditStaffUpdate  = "staff_update"
	AuditTokenCreate  = "token_create"
	AuditReminder     = "reminder" // a reminder created
	AuditReminderDone = "reminder_done"
	AuditReminderMove = "reminder_postpone"
)

// Actor is who performs an action and through which door.
type Actor struct {
	Viewer
	Source string // SourceAPI, SourceBot, ...
}

// SystemActor is the actor of background rules: it sees every customer.
func SystemActor(source string) Actor {
	return Actor{Viewer: Viewer{StaffID: SystemActorID, Role: RoleAdmin}, Source: source}
}

// ID names the actor in audit entries and attributes.
func (a Actor) ID() string {
	if a.StaffID == "" {
		return SystemActorID
	}
	return a.StaffID
}

// entryStaff is the StaffID a timeline entry by a carries: a person's, never
// the admin token's or the system's.
func (a Actor) entryStaff() string {
	if id := a.ID(); id != SystemActorID && id != AdminActorID {
		return id
	}
	return ""
}

// ErrForbidden is wrapped by the errors of actions the actor's role may not
// perform.
var ErrForbidden = errors.New("bot: forbidden")

// ActionError is an action refused for a reason the caller may read: Err is
// store.ErrInvalid (bad input), ErrForbidden (the role may not),
// store.ErrNotFound (absent or not visible: the two look alike) or
// store.ErrConflict. Reason is English for API clients, Text Chinese for
// staff in WeCom. Nothing was changed.
type ActionError struct {
	Err    error
	Reason string
	Text   string
}

func (e *ActionError) Error() string { return e.Reason }
func (e *ActionError) Unwrap() error { return e.Err }

// refusal returns the member-facing text of the ActionError in err's chain,
// and whether there is one: a refusal is a reply, not a failure.
func refusal(err error) (string, bool) {
	var ae *ActionError
	if errors.As(err, &ae) {
		return ae.Text, true
	}
	return "", false
}

func invalid(reason, text string) error {
	return &ActionError{Err: store.ErrInvalid, Reason: reason, Text: text}
}

func forbidden(reason, text string) error {
	return &ActionError{Err: ErrForbidden, Reason: reason, Text: text}
}

func errCustomerNotFound() error {
	return &ActionError{Err: store.ErrNotFound, Reason: "customer not found", Text: "没有找到你可查看的客户。"}
}

// ActionReader is what the doors read directly: lists and lookups change
// nothing and need no audit.
type ActionReader interface {
	FindCustomerByID(ctx context.Context, id string) (*store.Customer, error)
	FindCustomers(ctx context.Context, f store.CustomerFilter) ([]*store.Customer, error)
	FindTimeline(ctx context.Context, customerID string, beforeID int64, limit int) ([]*store.TimelineEntry, error)
	FindTags(ctx context.Context) ([]store.Tag, error)
	FindStaff(ctx context.Context) ([]*store.Staff, error)
	FindStaffByID(ctx context.Context, id string) (*store.Staff, error)
	FindAudit(ctx context.Context, target string, beforeID int64, limit int) ([]*store.AuditEntry, error)
	FindReminders(ctx context.Context, f store.ReminderFilter) ([]*store.Reminder, error)
	FindReminderByID(ctx context.Context, id int64) (*store.Reminder, error)
	FindGroups(ctx context.Context, f store.GroupFilter) ([]*store.Group, error)
	FindCustomerGroups(ctx context.Context, customerID string) ([]store.CustomerGroup, error)
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	FindGroupByChatID(ctx context.Context, chatID string) (*store.Group, error)
}

// ActionStore is what the actions read and write. Both backends implement
// it (asserted at compile time in cmd/scrm).
type ActionStore interface {
	ActionReader
	HandoverStarter
	ClaimStore
	UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error)
	MergeCustomers(ctx context.Context, into, from string) (*store.Customer, error)
	EraseCustomer(ctx context.Context, id string) error
	AppendAudit(ctx context.Context, e *store.AuditEntry) error
	// FindAuditByAction finds the opt-outs after a campaign (campaigns_sync.go).
	FindAuditByAction(ctx context.Context, action string, from, to time.Time, limit int) ([]*store.AuditEntry, error)
	UpsertTags(ctx context.Context, tags []store.Tag) error
	UpsertStaff(ctx context.Context, s *store.Staff) error
	CreateReminder(ctx context.Context, r *store.Reminder) (bool, error)
	UpdateReminder(ctx context.Context, id int64, upd store.ReminderUpdate) (*store.Reminder, error)
	markers               // the bot's doors record what they did once
	store.SessionStore    // sign-in (actions_auth.go)
	store.QuickReplyStore // the quick-reply library (actions_quickreplies.go)
	store.ChannelStore    // channels and where customers came from (actions_channels.go)
	store.CampaignStore   // segments and campaigns (actions_campaigns.go)
	store.JobStore        // a campaign's creation is a job (campaigns.go)
	store.JourneyStore    // follow-up journeys and their runs (actions_journeys.go, journeys.go)
}

// Core carries out actions over an ActionStore.
type Core struct {
	st      ActionStore
	now     func() time.Time
	chAPI   ChannelAPI      // channels follow into WeCom through it (actions_channels.go)
	mass    MassAPI         // campaigns reach WeCom through it (campaigns.go)
	massOpt CampaignOptions // campaigns' policy
}

// NewCore returns the actions over st; now is the clock (time.Now when nil).
func NewCore(st ActionStore, now func() time.Time) *Core {
	if now == nil {
		now = time.Now
	}
	return &Core{st: st, now: now}
}

// Read returns the store's read side for the doors' lists and lookups.
func (c *Core) Read() ActionReader { return c.st }

// Now is the core's clock, in UTC.
func (c *Core) Now() time.Time { return c.now().UTC() }

// at is the time of an action: the request's when given (a command's
// message time), the clock's otherwise.
func (c *Core) at(t time.Time) time.Time {
	if t.IsZero() {
		return c.Now()
	}
	return t.UTC()
}

// visible loads a customer a may see; an invisible customer is reported
// exactly like a missing one, so its existence is not revealed. A merged-away
// ID resolves to the survivor.
func (c *Core) visible(ctx context.Context, a Actor, id string) (*store.Customer, error) {
	if id == "" || len(id) > 128 {
		return nil, errCustomerNotFound()
	}
	cu, err := c.st.FindCustomerByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.CanSee(cu)) {
		return nil, errCustomerNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("actions: find customer %s: %w", id, err)
	}
	return cu, nil
}

// Visible returns customer id if a may see it, store.ErrNotFound (as an
// ActionError) otherwise.
func (c *Core) Visible(ctx context.Context, a Actor, id string) (*store.Customer, error) {
	return c.visible(ctx, a, id)
}

// audit appends one audit entry. Every detail starts with the door the
// action came through, so entries from different doors differ only there.
func (c *Core) audit(ctx context.Context, a Actor, action, target, detail string, at time.Time) error {
	d := "source=" + a.Source
	if detail != "" {
		d += " " + detail
	}
	if err := c.st.AppendAudit(ctx, &store.AuditEntry{Actor: a.ID(), Action: action, Target: target, Detail: d, At: at}); err != nil {
		return fmt.Errorf("actions: audit %s %s: %w", action, target, err)
	}
	return nil
}

// Record audits a fact the edge itself produced (a token minted, a
// spreadsheet exported): nothing in the store changes but the audit log.
func (c *Core) Record(ctx context.Context, a Actor, action, target, detail string) error {
	return c.audit(ctx, a, action, target, detail, c.Now())
}

// entryKey is the SourceKey of the timeline entry of one action: the same
// action retried with the same key finds its entry.
func entryKey(kind string, a Actor, customerID, key string) string {
	return kind + ":" + a.Source + ":" + a.ID() + ":" + customerID + ":" + key
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// orRandomKey returns key, or a fresh random one for a caller that cannot
// retry (no idempotency key given).
func orRandomKey(key string) string {
	if key != "" && len(key) <= 256 {
		return key
	}
	return randomHex(12)
}

// keyedID is the ID of the record an action makes for the request's
// idempotency key (a random one without): the same key from the same actor
// names the same record, so a retry finds it. key is the key used.
func keyedID(prefix string, a Actor, reqKey string) (id, key string) {
	key = orRandomKey(reqKey)
	return prefix + hashKey(a.ID(), key), key
}

// createKeyed stores v, a record an action made under an ID derived from
// the actor and the request's idempotency key: its audit entry first (the
// intent), then the record. A create that finds the ID taken — a retry
// racing the first call — answers the record stored under it, created
// false.
func createKeyed[T any](ctx context.Context, c *Core, a Actor, action, id, detail string, at time.Time, v T,
	create func(context.Context, T) error, find func(context.Context, string) (T, error)) (T, bool, error) {
	var none T
	if err := c.audit(ctx, a, action, id, detail, at); err != nil {
		return none, false, err
	}
	if err := create(ctx, v); errors.Is(err, store.ErrConflict) {
		old, err := find(ctx, id)
		return old, false, err
	} else if err != nil {
		return none, false, fmt.Errorf("actions: %s %s: %w", action, id, err)
	}
	return v, true, nil
}

func trimmed(s string) string { return strings.TrimSpace(s) }
