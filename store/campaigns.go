package store

import (
	"context"
	"slices"
	"time"
)

// FieldOptOut is the custom field that marks a customer who asked not to be
// messaged (不打扰): "true" when set. Only bot.Core.SetOptOut writes it.
const FieldOptOut = "opt_out"

// This file also declares segments (saved customer filters) and campaigns
// (WeCom mass messages, 群发): a campaign becomes one add_msg_template task
// per sending salesperson (split at MaxTaskCustomers), and every customer
// it targets gets a send record, which is what the frequency caps count.

// MaxTaskCustomers is add_msg_template's limit of external_userid per call.
const MaxTaskCustomers = 10000

// MaxTaskGroups is add_msg_template's limit of chat_id_list per call.
const MaxTaskGroups = 2000

// MaxCampaignAttachments is add_msg_template's attachment limit.
const MaxCampaignAttachments = 9

// SegmentFilter is a saved customer filter: the keys GET /api/v1/customers
// takes, plus the channel (a channel ID), the sentiment of the latest
// analysis, waiting (the customer wrote last and nobody answered), the
// tier, membership of a customer group and custom fields.
type SegmentFilter struct {
	Tag               string     `json:"tag,omitempty"`
	Stage             string     `json:"stage,omitempty"`
	Query             string     `json:"q,omitempty"`
	Owner             string     `json:"owner,omitempty"`
	LastContactBefore *time.Time `json:"last_contact_before,omitempty"`
	LastContactAfter  *time.Time `json:"last_contact_after,omitempty"`
	Channel           string     `json:"channel,omitempty"`
	Sentiment         string     `json:"sentiment,omitempty"`
	Waiting           bool       `json:"waiting,omitempty"`
	// Tier is the customer's value tier (客户等级) as stored.
	Tier string `json:"tier,omitempty"`
	// Group keeps the customers who are members of this customer group
	// (its chat_id) now.
	Group string `json:"group,omitempty"`
	// Fields keeps the customers whose custom fields hold these values
	// exactly ("行业": "制造业"); all must match.
	Fields map[string]string `json:"fields,omitempty"`
	// CustomerID selects one customer (a journey's one-customer message).
	CustomerID string `json:"customer_id,omitempty"`
}

// Segment is a named SegmentFilter.
type Segment struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Filter    SegmentFilter `json:"filter"`
	CreatedBy string        `json:"created_by"`
	CreatedAt time.Time     `json:"created_at"`
}

// Campaign statuses.
const (
	CampaignScheduled = "scheduled" // waiting for SendAt
	CampaignCreating  = "creating"  // its tasks are being created in WeCom
	CampaignSent      = "sent"      // every task exists; salespeople confirm in WeCom
	CampaignCancelled = "cancelled"
	CampaignFailed    = "failed" // WeCom refused it (the report says why)
)

// A campaign's chat type, as add_msg_template names it: to customers
// (one task per sender lists their customers) or to customer groups (one
// task per group owner lists their groups).
const (
	ChatTypeSingle = "single"
	ChatTypeGroup  = "group"
)

// GroupTarget selects the customer groups (客户群) of a group campaign:
// the groups, not dismissed, of one owner (empty: every owner the creator
// may reach) whose name contains Name (empty: any). Groups carry no tags
// in scrm, so there is no tag to select by.
type GroupTarget struct {
	Owner string `json:"owner,omitempty"`
	Name  string `json:"name,omitempty"`
}

// Campaign is one mass message to the customers a filter selects, or to
// the customer groups Groups selects (ChatType group).
type Campaign struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Text        string              `json:"text"`
	Attachments []WelcomeAttachment `json:"attachments,omitempty"`
	// ChatType is ChatTypeSingle (also when empty, as campaigns made
	// before groups were) or ChatTypeGroup.
	ChatType  string        `json:"chat_type,omitempty"`
	Filter    SegmentFilter `json:"filter"`
	Groups    *GroupTarget  `json:"groups,omitempty"`
	SegmentID string        `json:"segment_id,omitempty"`
	// PerCustomer makes one task per customer, each with the customer's
	// own #客户昵称#: each is one more confirmation for the salesperson,
	// so only small campaigns may (bot.MaxPerCustomerTasks per sender).
	PerCustomer bool           `json:"per_customer,omitempty"`
	SendAt      time.Time      `json:"send_at"`
	Status      string         `json:"status"`
	Error       string         `json:"error,omitempty"`
	CreatedBy   string         `json:"created_by"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	Report      CampaignReport `json:"report"`
	// Version counts the campaign's writes: UpdateCampaign writes only
	// over the version it was read at, so two writers (a cancel and the
	// campaign's job) never overwrite each other's change unseen.
	Version int64 `json:"version"`

	// JourneyID names the journey whose step made this one-customer
	// campaign; FindCampaigns lists only the campaigns people made.
	JourneyID string `json:"journey_id,omitempty"`
}

// ToGroups reports whether c goes to customer groups.
func (c *Campaign) ToGroups() bool { return c.ChatType == ChatTypeGroup }

// CampaignReport is what became of a campaign, from its sends.
type CampaignReport struct {
	Targeted       int            `json:"targeted"`
	LeftOut        map[string]int `json:"left_out"` // reason → customers
	Senders        int            `json:"senders"`
	SendersSent    int            `json:"senders_sent"`
	Delivered      int            `json:"delivered"`
	NotContact     int            `json:"not_contact"`
	AlreadyLimited int            `json:"already_received"`
	Replies48h     int            `json:"replies_48h"`
	// OptOutsAfter counts the customers who opted out (不打扰, by asking
	// or by staff) within 7 days after the campaign reached them.
	OptOutsAfter int `json:"opt_outs_after"`
	// OptOutsUntil is when the last delivered customer's 7 days end:
	// OptOutsAfter may grow until then.
	OptOutsUntil *time.Time `json:"opt_outs_until,omitempty"`
	SyncedAt     *time.Time `json:"synced_at,omitempty"`
}

// Campaign task states: a task is marked Calling before add_msg_template
// and Created with its msgid after, so a crash between the two is found.
const (
	TaskPending = "pending"
	TaskCalling = "calling"
	TaskCreated = "created"
	TaskFailed  = "failed"
	// TaskCancelled: created, then withdrawn (cancel_groupmsg_send).
	TaskCancelled = "cancelled"
)

// CampaignTask is one add_msg_template call: a sender and up to
// MaxTaskCustomers of their customers, or up to MaxTaskGroups of the
// groups they own.
type CampaignTask struct {
	CampaignID      string   `json:"campaign_id"`
	Sender          string   `json:"sender"`
	Chunk           int      `json:"chunk"`
	ExternalUserIDs []string `json:"external_userids"`
	ChatIDs         []string `json:"chat_ids,omitempty"`
	// Text is what the task says: set when planned for a per-customer
	// task (it names the customer), else at its first call (the
	// campaign's text for its sender), so every retry and look-up of the
	// task uses the same words.
	Text       string     `json:"text,omitempty"`
	State      string     `json:"state"`
	MsgID      string     `json:"msgid,omitempty"`
	FailList   []string   `json:"fail_list,omitempty"`
	CallAt     time.Time  `json:"call_at,omitempty"` // when the last add_msg_template began
	SendStatus int        `json:"send_status"`       // get_groupmsg_task: 0 not sent, 2 sent
	SentAt     *time.Time `json:"sent_at,omitempty"` // when the sender sent it
	Error      string     `json:"error,omitempty"`
}

// Campaign send statuses (a customer's part of a campaign).
const (
	SendPending    = "pending"          // in a task, not yet sent by the salesperson
	SendDelivered  = "delivered"        // get_groupmsg_send_result status 1
	SendNotContact = "not_contact"      // status 2
	SendLimited    = "already_received" // status 3: over WeCom's own cap
	SendCancelled  = "cancelled"
)

// CampaignSend is one customer's part of a campaign, or one group's: a
// group's send has ChatID set, and its CustomerID holds the same chat ID,
// the key its sends are stored and counted by (chat IDs and customer IDs
// never collide: WeCom's start with "wr").
type CampaignSend struct {
	CampaignID     string    `json:"campaign_id"`
	CustomerID     string    `json:"customer_id"`
	ExternalUserID string    `json:"external_userid"`
	ChatID         string    `json:"chat_id,omitempty"`
	Sender         string    `json:"sender"`
	Status         string    `json:"status"`
	At             time.Time `json:"at"` // when the campaign targeted them
}

// Counts reports whether s counts against the frequency caps: a pending or
// delivered send does, one WeCom refused or a cancelled one does not.
func (s CampaignSend) Counts() bool { return s.Status == SendPending || s.Status == SendDelivered }

// CampaignStore keeps segments, campaigns, their tasks and sends.
type CampaignStore interface {
	// CreateSegment stores s. ErrInvalid without ID or Name, ErrConflict if
	// the ID is taken.
	CreateSegment(ctx context.Context, s *Segment) error
	// FindSegmentByID returns ErrNotFound if there is none.
	FindSegmentByID(ctx context.Context, id string) (*Segment, error)
	// FindSegments returns every segment by creation time, then ID.
	FindSegments(ctx context.Context) ([]*Segment, error)
	// DeleteSegment returns ErrNotFound if there is none.
	DeleteSegment(ctx context.Context, id string) error

	// CreateCampaign stores c at version 1 (c.Version becomes 1).
	// ErrInvalid without ID or Name, ErrConflict if the ID is taken (the
	// core derives it from the idempotency key).
	CreateCampaign(ctx context.Context, c *Campaign) error
	// UpdateCampaign replaces the stored campaign if it is still at
	// c.Version, the version c was read at, and advances c.Version with
	// it. ErrConflict if another write came first (read it again and
	// apply the change to that), ErrNotFound if there is none.
	UpdateCampaign(ctx context.Context, c *Campaign) error
	// FindCampaignByID returns ErrNotFound if there is none.
	FindCampaignByID(ctx context.Context, id string) (*Campaign, error)
	// FindCampaigns returns the campaigns people made (no JourneyID) newest
	// first, at most limit (0: 100).
	FindCampaigns(ctx context.Context, limit int) ([]*Campaign, error)

	// PutCampaignTask creates or replaces task (campaign, sender, chunk).
	PutCampaignTask(ctx context.Context, t *CampaignTask) error
	// FindCampaignTasks returns a campaign's tasks by sender, then chunk.
	FindCampaignTasks(ctx context.Context, campaignID string) ([]*CampaignTask, error)

	// PutCampaignSends creates or replaces sends by (campaign, customer).
	PutCampaignSends(ctx context.Context, sends []CampaignSend) error
	// FindCampaignSends returns a campaign's sends by customer.
	FindCampaignSends(ctx context.Context, campaignID string) ([]CampaignSend, error)
	// CountCampaignSends counts, per customer (and per group, by chat ID),
	// the sends made in [from, to) that count against the caps
	// (CampaignSend.Counts).
	CountCampaignSends(ctx context.Context, from, to time.Time) (map[string]int, error)
	// CountCampaignSendsOf counts as CountCampaignSends does, the sends of
	// the customers (or groups) ids names only: what the caps of a small
	// audience need, read by customer instead of the whole month's sends.
	// An ID with none is absent from the map; nil ids count nothing.
	CountCampaignSendsOf(ctx context.Context, ids []string, from, to time.Time) (map[string]int, error)
}

// ScrubCampaignTask removes the identity values of an erased customer from
// t's recipient and failure lists and reports whether it changed t. A task
// keeps the other recipients: the campaign's record of who it was sent to
// stays true for everyone else. A per-customer task left with nobody loses
// its text too, which was written to them by name.
func ScrubCampaignTask(t *CampaignTask, values []string) bool {
	drop := func(list []string) []string {
		return slices.DeleteFunc(list, func(v string) bool { return slices.Contains(values, v) })
	}
	before := len(t.ExternalUserIDs) + len(t.FailList)
	t.ExternalUserIDs, t.FailList = drop(t.ExternalUserIDs), drop(t.FailList)
	changed := len(t.ExternalUserIDs)+len(t.FailList) != before
	if changed && len(t.ExternalUserIDs) == 0 {
		t.Text = ""
	}
	return changed
}
