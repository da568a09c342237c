package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// Campaigns (群发): a campaign is created by CreateCampaign (audited,
// idempotent by the caller's key) and carried out by a job
// (CampaignJobKind, one per campaign, under a lease) that plans who gets
// it, then makes one add_msg_template per sending salesperson and chunk of
// at most store.MaxTaskCustomers customers — or, for a group campaign, per
// group owner and chunk of at most store.MaxTaskGroups of their groups
// (WeCom: a group's mass message is sent by its owner).
//
// Exactly once per (campaign, sender, chunk): each task is written as
// TaskCalling (with the call's start time) before add_msg_template and as
// TaskCreated with its msgid after. A task found in TaskCalling — the call
// may have succeeded and the answer been lost, or the process died between
// the call and the write — is looked up in WeCom before any new call:
// get_groupmsg_list_v2 for the sender since the call began, the candidates
// with the campaign's text, and get_groupmsg_send_result to match the
// task's customers exactly. Only when none matches is the task created
// again. The job's lease (longer than a call's timeout) keeps two instances
// off one campaign.
//
// The campaign record itself has several writers — the job, the results
// sync, a cancel — and each writes over the version it read
// (changeCampaign): a write that lost the race reads again and applies its
// change to what the other wrote.

// CampaignJobKind is the job kind that carries out campaigns.
const CampaignJobKind = "campaign"

// Reasons a customer (or a group) is left out of a campaign.
const (
	LeftOptedOut    = "opted_out"
	LeftOverCap     = "over_cap"
	LeftNotWeCom    = "not_contact"
	LeftNoCustomers = "no_customers" // a group with no customer in it
	AuditCampaign   = "campaign_create"
	AuditCancel     = "campaign_cancel"
)

// Campaign targets, as the API names them.
const (
	TargetCustomers = "customers"
	TargetGroups    = "groups"
)

// MaxPerCustomerTasks is how many customers a sender may have in a
// per-customer campaign: each customer is a task of its own (WeCom's
// add_msg_template carries one text), so each is one more confirmation
// for the salesperson in WeCom; past a handful that is a chore, not a
// courtesy.
const MaxPerCustomerTasks = 10

// varCustomer is the per-customer variable of a campaign's text.
const varCustomer = "#客户昵称#"

// MassAPI is what campaigns need of WeCom.
type MassAPI interface {
	AddMsgTemplate(ctx context.Context, m wecom.MsgTemplate) (string, []string, error)
	GroupMsgList(ctx context.Context, chatType, creator string, from, to time.Time) ([]wecom.GroupMsg, error)
	GroupMsgTasks(ctx context.Context, msgID string) ([]wecom.GroupMsgTask, error)
	GroupMsgSendResults(ctx context.Context, msgID, sender string) ([]wecom.GroupMsgResult, error)
	RemindGroupMsg(ctx context.Context, msgID string) error
	CancelGroupMsg(ctx context.Context, msgID string) error
}

// CampaignOptions configures campaigns: the company's cap per customer a
// month (0: none beyond WeCom's) and the business time zone months are
// counted in.
type CampaignOptions struct {
	MonthlyCap int
	Location   *time.Location
	Messenger  Messenger // tells each sender a task awaits them; nil: nobody
	Logger     *slog.Logger
	// SyncEvery is how often a sent campaign's results are pulled from
	// WeCom (default 30 min), for SyncFor after it was sent (default 7
	// days) or until every sender has sent it; after that, every 6 hours
	// until the opt-out window of its last delivery closes. A journey's
	// one-customer message is looked at less often as it waits, from
	// SyncEvery up to every 6 hours (nextJourneySync).
	SyncEvery, SyncFor time.Duration
	// NudgeAfter is how long a sender may leave a task unsent before
	// remind_groupmsg_send nudges them (default 4 h); nudge k is due
	// k×NudgeAfter after the task was created. MaxNudges (default and at
	// most 3) caps them: WeCom allows 3 reminders per message per 24 h,
	// so scrm alone can never go past the limit.
	NudgeAfter time.Duration
	MaxNudges  int
}

// SetCampaigns gives the core WeCom's mass-message API and the policy.
func (c *Core) SetCampaigns(api MassAPI, o CampaignOptions) {
	if o.Location == nil {
		o.Location = time.UTC
	}
	o.Logger = loggerOr(o.Logger)
	o.SyncEvery = positiveOr(o.SyncEvery, 30*time.Minute)
	o.SyncFor = positiveOr(o.SyncFor, 7*24*time.Hour)
	o.NudgeAfter = positiveOr(o.NudgeAfter, 4*time.Hour)
	if o.MaxNudges <= 0 || o.MaxNudges > maxNudges {
		o.MaxNudges = maxNudges
	}
	c.mass, c.massOpt = api, o
}

// CampaignRequest creates a campaign: to the customers Filter or
// SegmentID selects, or, with Target TargetGroups, to the customer groups
// Groups selects (nil: every group the actor may reach).
type CampaignRequest struct {
	Name        string
	Target      string // TargetCustomers (also when empty) or TargetGroups
	Filter      *store.SegmentFilter
	SegmentID   string
	Groups      *store.GroupTarget
	Text        string
	Attachments []store.WelcomeAttachment
	SendAt      *time.Time
	// PerCustomer makes one task per customer, each with the customer's
	// own #客户昵称# (at most MaxPerCustomerTasks customers per sender).
	PerCustomer bool
	Key         string
	JourneyID   string // the journey whose step sends it (one customer)
}

// audience is whom a request targets, checked.
type audience struct {
	chatType    string
	filter      store.SegmentFilter
	groups      *store.GroupTarget
	perCustomer bool
	text        string // the campaign's text (its variables decide warnings)
}

func campaignNotFound() error {
	return &ActionError{Err: store.ErrNotFound, Reason: "campaign not found", Text: "没有找到这个群发。"}
}

// findCampaign loads a campaign for a, whose role must allow campaigns.
func (c *Core) findCampaign(ctx context.Context, a Actor, id string) (*store.Campaign, error) {
	if err := mayTarget(a); err != nil {
		return nil, err
	}
	cp, err := c.st.FindCampaignByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, campaignNotFound()
	}
	return cp, err
}

// changeCampaign applies change to the campaign's newest version and
// writes it over that version. When another write came first (a cancel,
// the job, a sync: store.ErrConflict) it reads the campaign again and
// applies change to what is there now, so neither write is lost. change
// reports whether there is anything to write; the campaign as last read
// or written is returned.
func (c *Core) changeCampaign(ctx context.Context, id string, change func(*store.Campaign) (bool, error)) (*store.Campaign, error) {
	for attempt := 1; ; attempt++ {
		cp, err := c.st.FindCampaignByID(ctx, id)
		if err != nil {
			return nil, err
		}
		write, err := change(cp)
		if err != nil || !write {
			return cp, err
		}
		err = c.st.UpdateCampaign(ctx, cp)
		if err == nil {
			return cp, nil
		}
		// Each conflict is another writer's success, so this ends; the
		// bound only guards against a store that conflicts forever.
		if !errors.Is(err, store.ErrConflict) || attempt == 20 {
			return nil, fmt.Errorf("campaigns: write %s: %w", id, err)
		}
	}
}

// campaignAudience checks whom req targets.
func (c *Core) campaignAudience(ctx context.Context, a Actor, req CampaignRequest) (audience, error) {
	aud := audience{chatType: store.ChatTypeSingle, perCustomer: req.PerCustomer, text: req.Text}
	switch req.Target {
	case "", TargetCustomers:
	case TargetGroups:
		if req.Filter != nil || req.SegmentID != "" {
			return aud, invalid("a group campaign takes groups, not filter or segment_id", "发给客户群时请按群主或群名选择客户群，不能用客户筛选条件。")
		}
		if req.PerCustomer {
			return aud, invalid("per_customer is for customers, not groups", "“按客户分别发送”只适用于发给客户。")
		}
		if g := req.Groups; g != nil && (utf8.RuneCountInString(g.Name) > 64 || len(g.Owner) > 128) {
			return aud, invalid("groups.name is at most 64 characters", "群名关键词最多 64 个字。")
		}
		aud.chatType, aud.groups = store.ChatTypeGroup, req.Groups
		return aud, nil
	default:
		return aud, invalid("target must be customers or groups", "发送对象只能是客户或客户群。")
	}
	switch {
	case req.Groups != nil:
		return aud, invalid("groups is only for target groups", "只有发给客户群时才能选择客户群。")
	case req.PerCustomer && !strings.Contains(req.Text, varCustomer):
		return aud, invalid("per_customer needs #客户昵称# in the text", "消息中没有 #客户昵称#，不需要按客户分别发送。")
	case req.SegmentID != "" && req.Filter != nil:
		return aud, invalid("give filter or segment_id, not both", "请只给出筛选条件或分群中的一个。")
	case req.SegmentID != "":
		sg, err := c.Segment(ctx, a, req.SegmentID)
		if errors.Is(err, store.ErrNotFound) {
			// The request is wrong, not its URL: a 400, like any bad field.
			return aud, invalid("segment_id names no segment", "没有找到这个分群，请重新选择。")
		}
		if err != nil {
			return aud, err
		}
		aud.filter = sg.Filter
	case req.Filter != nil:
		aud.filter = *req.Filter
		return aud, validateFilter(*req.Filter)
	}
	return aud, nil
}

// CreateCampaign stores a campaign and schedules its job. The same key
// from the same actor returns the campaign the first call made (created
// false) and schedules nothing new.
func (c *Core) CreateCampaign(ctx context.Context, a Actor, req CampaignRequest) (*store.Campaign, bool, error) {
	if err := mayTarget(a); err != nil {
		return nil, false, err
	}
	name, text := trimmed(req.Name), trimmed(req.Text)
	switch {
	case name == "" || utf8.RuneCountInString(name) > 64:
		return nil, false, invalid("name must be 1..64 characters", "群发名称需为 1 到 64 个字。")
	case text == "" && len(req.Attachments) == 0, len([]byte(text)) > 4000:
		return nil, false, invalid("text is required, at most 4000 bytes", "请填写群发内容（最多 4000 字节）。")
	case len(req.Attachments) > store.MaxCampaignAttachments:
		return nil, false, invalid(fmt.Sprintf("at most %d attachments", store.MaxCampaignAttachments), fmt.Sprintf("附件最多 %d 个。", store.MaxCampaignAttachments))
	}
	req.Text = text
	aud, err := c.campaignAudience(ctx, a, req)
	if err != nil {
		return nil, false, err
	}
	id, key := keyedID("cp_", a, req.Key)
	if old, err := c.st.FindCampaignByID(ctx, id); err == nil {
		return old, false, nil
	}
	now := c.Now()
	if aud.perCustomer {
		// Refused now, while the person can still change it; a sender who
		// gains customers before the job runs gets one shared task.
		p, err := c.plan(ctx, a, aud, now, "")
		if err != nil {
			return nil, false, err
		}
		if !p.PerCustomerOK {
			return nil, false, invalid(fmt.Sprintf("per_customer allows at most %d customers per sender", MaxPerCustomerTasks),
				fmt.Sprintf("按客户分别发送时，每位销售最多 %d 位客户（每位客户一条，销售需逐条确认）。", MaxPerCustomerTasks))
		}
	}
	sendAt := now
	if req.SendAt != nil && req.SendAt.After(now) {
		sendAt = req.SendAt.UTC()
	}
	cp := &store.Campaign{ID: id, Name: name, Text: text, Attachments: req.Attachments, ChatType: aud.chatType, Filter: aud.filter,
		Groups: aud.groups, SegmentID: req.SegmentID, PerCustomer: aud.perCustomer, JourneyID: req.JourneyID,
		SendAt: sendAt, Status: store.CampaignScheduled, CreatedBy: a.ID(), CreatedAt: now, UpdatedAt: now,
		Report: store.CampaignReport{LeftOut: map[string]int{}}}
	cp, created, err := createKeyed(ctx, c, a, AuditCampaign, id, "key="+key, now, cp, c.st.CreateCampaign, c.st.FindCampaignByID)
	if err != nil {
		return nil, false, err
	}
	// Scheduling again is harmless (the job re-arms), and repairs a crash
	// between the campaign and its job.
	if cp.Status == store.CampaignScheduled {
		if err := c.st.ScheduleJob(ctx, "campaign:"+id, CampaignJobKind, id, cp.SendAt); err != nil {
			return nil, false, fmt.Errorf("actions: schedule campaign: %w", err)
		}
	}
	return cp, created, nil
}

// Campaigns lists campaigns, newest first.
func (c *Core) Campaigns(ctx context.Context, a Actor) ([]*store.Campaign, error) {
	if err := mayTarget(a); err != nil {
		return nil, err
	}
	return c.st.FindCampaigns(ctx, 100)
}

// CampaignDetail is a campaign with its tasks.
type CampaignDetail struct {
	*store.Campaign
	Tasks []*store.CampaignTask `json:"tasks"`
}

// Campaign returns a campaign and its tasks.
func (c *Core) Campaign(ctx context.Context, a Actor, id string) (*CampaignDetail, error) {
	cp, err := c.findCampaign(ctx, a, id)
	if err != nil {
		return nil, err
	}
	tasks, err := c.st.FindCampaignTasks(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		// The sends carry the recipients, and a per-customer task's text
		// names a customer another manager may not see: a detail stays
		// small and says no more than the list.
		t.ExternalUserIDs, t.Text = nil, ""
	}
	return &CampaignDetail{Campaign: cp, Tasks: tasks}, nil
}

// CancelCampaign stops a campaign: one not yet begun never reaches WeCom,
// and the tasks already created there are withdrawn (cancel_groupmsg_send)
// so senders who have not sent them no longer can. The cancel is recorded
// as a marker first, which the job checks before each task, so a job
// planning or creating at that moment stops before its next task and
// withdraws what it made; the status is written over whatever the job
// wrote meanwhile, keeping the job's report. Calling it again retries the
// withdrawals that failed.
func (c *Core) CancelCampaign(ctx context.Context, a Actor, id string) (*store.Campaign, error) {
	cp, err := c.findCampaign(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if cp.Status != store.CampaignCancelled {
		now := c.Now()
		if err := c.audit(ctx, a, AuditCancel, id, "from="+cp.Status, now); err != nil {
			return nil, err
		}
		if err := c.st.SetMarker(ctx, store.MarkCampaignCancel, id, "cancelled", now); err != nil {
			return nil, err
		}
		if cp, err = c.markCancelled(ctx, id); err != nil {
			return nil, err
		}
		// The job withdraws what a call in flight creates; waking it now
		// also repairs a job that died mid-call.
		if err := c.st.ScheduleJob(ctx, "campaign:"+id, CampaignJobKind, id, now); err != nil {
			return nil, fmt.Errorf("actions: schedule campaign: %w", err)
		}
	}
	if c.mass == nil {
		return cp, nil
	}
	if err := c.withdrawTasks(ctx, cp); err != nil {
		return nil, err
	}
	return c.st.FindCampaignByID(ctx, id)
}

// markCancelled writes the cancelled status over the campaign's newest
// version.
func (c *Core) markCancelled(ctx context.Context, id string) (*store.Campaign, error) {
	return c.changeCampaign(ctx, id, func(cp *store.Campaign) (bool, error) {
		if cp.Status == store.CampaignCancelled {
			return false, nil
		}
		cp.Status, cp.UpdatedAt = store.CampaignCancelled, c.Now()
		return true, nil
	})
}
