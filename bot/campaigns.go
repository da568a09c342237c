package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
// at most store.MaxTaskCustomers customers.
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

// CampaignJobKind is the job kind that carries out campaigns.
const CampaignJobKind = "campaign"

// Reasons a customer is left out of a campaign.
const (
	LeftOptedOut  = "opted_out"
	LeftOverCap   = "over_cap"
	LeftNotWeCom  = "not_contact"
	AuditCampaign = "campaign_create"
	AuditCancel   = "campaign_cancel"
)

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
	// days) or until every sender has sent it.
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

// CampaignRequest creates a campaign.
type CampaignRequest struct {
	Name        string
	Filter      *store.SegmentFilter
	SegmentID   string
	Text        string
	Attachments []store.WelcomeAttachment
	SendAt      *time.Time
	Key         string
	JourneyID   string // the journey whose step sends it (one customer)
}

func campaignNotFound() error {
	return &ActionError{Err: store.ErrNotFound, Reason: "campaign not found", Text: "没有找到这个群发。"}
}

func (c *Core) campaignFilter(ctx context.Context, a Actor, f *store.SegmentFilter, segID string) (store.SegmentFilter, error) {
	switch {
	case segID != "" && f != nil:
		return store.SegmentFilter{}, invalid("give filter or segment_id, not both", "请只给出筛选条件或分群中的一个。")
	case segID != "":
		sg, err := c.Segment(ctx, a, segID)
		if errors.Is(err, store.ErrNotFound) {
			// The request is wrong, not its URL: a 400, like any bad field.
			return store.SegmentFilter{}, invalid("segment_id names no segment", "没有找到这个分群，请重新选择。")
		}
		if err != nil {
			return store.SegmentFilter{}, err
		}
		return sg.Filter, nil
	case f != nil:
		return *f, validateFilter(*f)
	}
	return store.SegmentFilter{}, nil
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
	filter, err := c.campaignFilter(ctx, a, req.Filter, req.SegmentID)
	if err != nil {
		return nil, false, err
	}
	key := orRandomKey(req.Key)
	id := "cp_" + hashKey(a.ID(), key)
	if old, err := c.st.FindCampaignByID(ctx, id); err == nil {
		return old, false, nil
	}
	now := c.Now()
	sendAt := now
	if req.SendAt != nil && req.SendAt.After(now) {
		sendAt = req.SendAt.UTC()
	}
	if err := c.audit(ctx, a, AuditCampaign, id, "key="+key, now); err != nil {
		return nil, false, err
	}
	cp := &store.Campaign{ID: id, Name: name, Text: text, Attachments: req.Attachments, Filter: filter, SegmentID: req.SegmentID,
		JourneyID: req.JourneyID, SendAt: sendAt, Status: store.CampaignScheduled, CreatedBy: a.ID(), CreatedAt: now, UpdatedAt: now,
		Report: store.CampaignReport{LeftOut: map[string]int{}}}
	created := true
	if err := c.st.CreateCampaign(ctx, cp); errors.Is(err, store.ErrConflict) {
		if cp, err = c.st.FindCampaignByID(ctx, id); err != nil {
			return nil, false, err
		}
		created = false
	} else if err != nil {
		return nil, false, fmt.Errorf("actions: create campaign: %w", err)
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
	if err := mayTarget(a); err != nil {
		return nil, err
	}
	cp, err := c.st.FindCampaignByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, campaignNotFound()
	}
	if err != nil {
		return nil, err
	}
	tasks, err := c.st.FindCampaignTasks(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		t.ExternalUserIDs = nil // the sends carry them; a detail stays small
	}
	return &CampaignDetail{Campaign: cp, Tasks: tasks}, nil
}

// CancelCampaign stops a campaign: one not yet begun never reaches WeCom,
// and the tasks already created there are withdrawn (cancel_groupmsg_send)
// so senders who have not sent them no longer can. The cancel is recorded
// as a marker first — a record the campaign job's own writes cannot
// overwrite — so a job planning or creating at that moment stops before
// its next task and withdraws what it made. Calling it again retries the
// withdrawals that failed.
func (c *Core) CancelCampaign(ctx context.Context, a Actor, id string) (*store.Campaign, error) {
	if err := mayTarget(a); err != nil {
		return nil, err
	}
	cp, err := c.st.FindCampaignByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, campaignNotFound()
	}
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
		cp.Status, cp.UpdatedAt = store.CampaignCancelled, now
		if err := c.st.UpdateCampaign(ctx, cp); err != nil {
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

// ---- planning ----

// target is one customer a campaign reaches through a sender.
type target struct {
	CustomerID, Ext string
}

// CampaignPlan is who a campaign reaches: per sender, and who is left out
// and why.
type CampaignPlan struct {
	Senders   map[string]int      `json:"senders"` // sender → customers
	Targeted  int                 `json:"targeted"`
	LeftOut   map[string]int      `json:"left_out"`
	LeftOutID map[string][]string `json:"left_out_ids"` // reason → customer IDs (at most 100 each)
	targets   map[string][]target
}

// monthOf is the business month around t, as UTC bounds.
func (c *Core) monthOf(t time.Time) (time.Time, time.Time) {
	l := t.In(c.massOpt.Location)
	from := time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, c.massOpt.Location)
	return from.UTC(), from.AddDate(0, 1, 0).UTC()
}

// plan works out a campaign's audience for a at now; own are the sends of
// the campaign itself already recorded (a re-plan must not count them).
func (c *Core) plan(ctx context.Context, a Actor, f store.SegmentFilter, now time.Time, ownID string) (*CampaignPlan, error) {
	from, to := c.monthOf(now)
	counts, err := c.st.CountCampaignSends(ctx, from, to)
	if err != nil {
		return nil, err
	}
	if ownID != "" {
		own, err := c.st.FindCampaignSends(ctx, ownID)
		if err != nil {
			return nil, err
		}
		for _, s := range own {
			if s.Counts() && !s.At.Before(from) && s.At.Before(to) {
				counts[s.CustomerID]--
			}
		}
	}
	// The company's cap, and WeCom's own (the month's days) as a floor.
	capN := c.massOpt.MonthlyCap
	days := to.Add(-time.Nanosecond).In(c.massOpt.Location).Day()
	if capN <= 0 || capN > days {
		capN = days
	}
	p := &CampaignPlan{Senders: map[string]int{}, LeftOut: map[string]int{}, LeftOutID: map[string][]string{}, targets: map[string][]target{}}
	leave := func(reason, id string) {
		p.LeftOut[reason]++
		if len(p.LeftOutID[reason]) < 100 {
			p.LeftOutID[reason] = append(p.LeftOutID[reason], id)
		}
	}
	scope := a.Scope()
	err = c.eachInFilter(ctx, a, f, func(cu *store.Customer) error {
		ext, sender := "", ""
		for _, id := range cu.Identities {
			if id.Kind == store.IdentityExternalUserID {
				ext = id.Value
				break
			}
		}
		for _, fo := range cu.Follows {
			if !fo.Deleted && (scope == nil || slices.Contains(scope, fo.StaffID)) {
				sender = fo.StaffID
				break
			}
		}
		switch {
		case OptedOut(cu):
			leave(LeftOptedOut, cu.ID)
		case ext == "" || sender == "":
			leave(LeftNotWeCom, cu.ID)
		case counts[cu.ID] >= capN:
			leave(LeftOverCap, cu.ID)
		default:
			p.Targeted++
			p.Senders[sender]++
			p.targets[sender] = append(p.targets[sender], target{CustomerID: cu.ID, Ext: ext})
		}
		return nil
	})
	return p, err
}

// PreviewCampaign is the plan of a campaign not yet created.
func (c *Core) PreviewCampaign(ctx context.Context, a Actor, req CampaignRequest) (*CampaignPlan, error) {
	if err := mayTarget(a); err != nil {
		return nil, err
	}
	f, err := c.campaignFilter(ctx, a, req.Filter, req.SegmentID)
	if err != nil {
		return nil, err
	}
	return c.plan(ctx, a, f, c.Now(), "")
}

// campaignText renders a campaign's text for one sender's task: a task
// goes to many customers with one text, so #客户昵称# becomes the polite
// 您 and #员工姓名# the sender's name.
func campaignText(text, senderName string) string {
	return strings.NewReplacer("#客户昵称#", "您", "#员工姓名#", senderName).Replace(text)
}
