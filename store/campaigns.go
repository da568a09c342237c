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

// Campaign is one mass message to the customers a filter selects.
type Campaign struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Text        string              `json:"text"`
	Attachments []WelcomeAttachment `json:"attachments,omitempty"`
	Filter      SegmentFilter       `json:"filter"`
	SegmentID   string              `json:"segment_id,omitempty"`
	SendAt      time.Time           `json:"send_at"`
	Status      string              `json:"status"`
	Error       string              `json:"error,omitempty"`
	CreatedBy   string              `json:"created_by"`
	CreatedAt   time.Time           `json:"created_at"`
	UpdatedAt   time.Time           `json:"updated_at"`
	Report      CampaignReport      `json:"report"`

	// JourneyID names the journey whose step made this one-customer
	// campaign; FindCampaigns lists only the campaigns people made.
	JourneyID string `json:"journey_id,omitempty"`
}

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
	SyncedAt       *time.Time     `json:"synced_at,omitempty"`
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
// MaxTaskCustomers of their customers.
type CampaignTask struct {
	CampaignID      string    `json:"campaign_id"`
	Sender          string    `json:"sender"`
	Chunk           int       `json:"chunk"`
	ExternalUserIDs []string  `json:"external_userids"`
	State           string    `json:"state"`
	MsgID           string    `json:"msgid,omitempty"`
	FailList        []string  `json:"fail_list,omitempty"`
	CallAt          time.Time `json:"call_at,omitempty"` // when the last add_msg_template began
	SendStatus      int       `json:"send_status"`       // get_groupmsg_task: 0 not sent, 2 sent
	Error           string    `json:"error,omitempty"`
}

// Campaign send statuses (a customer's part of a campaign).
const (
	SendPending    = "pending"          // in a task, not yet sent by the salesperson
	SendDelivered  = "delivered"        // get_groupmsg_send_result status 1
	SendNotContact = "not_contact"      // status 2
	SendLimited    = "already_received" // status 3: over WeCom's own cap
	SendCancelled  = "cancelled"
)

// CampaignSend is one customer's part of a campaign.
type CampaignSend struct {
	CampaignID     string    `json:"campaign_id"`
	CustomerID     string    `json:"customer_id"`
	ExternalUserID string    `json:"external_userid"`
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

	// CreateCampaign stores c. ErrInvalid without ID or Name, ErrConflict if
	// the ID is taken (the core derives it from the idempotency key).
	CreateCampaign(ctx context.Context, c *Campaign) error
	// UpdateCampaign replaces the stored campaign; ErrNotFound if none.
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
	// CountCampaignSends counts, per customer, the sends made in [from, to)
	// that count against the caps (CampaignSend.Counts).
	CountCampaignSends(ctx context.Context, from, to time.Time) (map[string]int, error)
}

// ScrubCampaignTask removes the identity values of an erased customer from
// t's recipient and failure lists and reports whether it changed t. A task
// keeps the other recipients: the campaign's record of who it was sent to
// stays true for everyone else.
func ScrubCampaignTask(t *CampaignTask, values []string) bool {
	drop := func(list []string) []string {
		return slices.DeleteFunc(list, func(v string) bool { return slices.Contains(values, v) })
	}
	before := len(t.ExternalUserIDs) + len(t.FailList)
	t.ExternalUserIDs, t.FailList = drop(t.ExternalUserIDs), drop(t.FailList)
	return len(t.ExternalUserIDs)+len(t.FailList) != before
}
