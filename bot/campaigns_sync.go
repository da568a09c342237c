package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// SyncCampaign pulls a campaign's results from WeCom (get_groupmsg_task,
// get_groupmsg_send_result) into its sends, each delivered customer's
// timeline ("收到群发「名称」", keyed, so a second sync adds nothing) and
// its report. Idempotent; run it as often as wanted.
func (c *Core) SyncCampaign(ctx context.Context, id string) (*store.Campaign, error) {
	if c.mass == nil {
		return nil, errors.New("campaigns: no WeCom API")
	}
	cp, err := c.st.FindCampaignByID(ctx, id)
	if err != nil {
		return nil, err
	}
	tasks, err := c.st.FindCampaignTasks(ctx, id)
	if err != nil {
		return nil, err
	}
	sends, err := c.st.FindCampaignSends(ctx, id)
	if err != nil {
		return nil, err
	}
	byExt := map[string]*store.CampaignSend{}
	for i := range sends {
		byExt[sends[i].Sender+"|"+sends[i].ExternalUserID] = &sends[i]
	}
	r := store.CampaignReport{Targeted: cp.Report.Targeted, LeftOut: cp.Report.LeftOut, Senders: cp.Report.Senders}
	sentBy := map[string]bool{}
	var changed []store.CampaignSend
	for _, t := range tasks {
		if t.MsgID == "" || t.State != store.TaskCreated && t.State != store.TaskCancelled {
			continue
		}
		st, err := c.mass.GroupMsgTasks(ctx, t.MsgID)
		if err != nil {
			return nil, fmt.Errorf("campaigns: task of %s: %w", t.MsgID, err)
		}
		for _, x := range st {
			if x.Status == 2 {
				sentBy[x.UserID] = true
			}
			if x.UserID == t.Sender && x.Status != t.SendStatus {
				t.SendStatus = x.Status
				if err := c.st.PutCampaignTask(ctx, t); err != nil {
					return nil, err
				}
			}
		}
		res, err := c.mass.GroupMsgSendResults(ctx, t.MsgID, t.Sender)
		if err != nil {
			return nil, fmt.Errorf("campaigns: results of %s: %w", t.MsgID, err)
		}
		for _, x := range res {
			s := byExt[t.Sender+"|"+x.ExternalUserID]
			if s == nil {
				continue
			}
			status := map[int]string{0: store.SendPending, 1: store.SendDelivered, 2: store.SendNotContact, 3: store.SendLimited}[x.Status]
			if status != "" && status != s.Status {
				s.Status = status
				changed = append(changed, *s)
			}
			if s.Status == store.SendDelivered {
				at := time.Unix(x.SendTime, 0).UTC()
				if _, err := c.st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: s.CustomerID, SourceKey: "campaign:" + cp.ID + ":" + s.CustomerID,
					Kind: store.EntryEvent, StaffID: t.Sender, Text: "收到群发「" + cp.Name + "」",
					Attrs: map[string]string{"change": "campaign", "campaign": cp.ID, "msgid": t.MsgID}, At: at}); err != nil {
					return nil, err
				}
				if cu, err := c.st.FindCustomerByID(ctx, s.CustomerID); err == nil && cu.LastCustomerMsgAt != nil &&
					cu.LastCustomerMsgAt.After(at) && cu.LastCustomerMsgAt.Before(at.Add(48*time.Hour)) {
					r.Replies48h++
				}
			}
		}
	}
	if err := c.st.PutCampaignSends(ctx, changed); err != nil {
		return nil, err
	}
	for _, s := range sends {
		switch s.Status {
		case store.SendDelivered:
			r.Delivered++
		case store.SendNotContact:
			r.NotContact++
		case store.SendLimited:
			r.AlreadyLimited++
		}
	}
	r.SendersSent = len(sentBy)
	now := c.Now()
	r.SyncedAt = &now
	cp.Report, cp.UpdatedAt = r, now
	return cp, c.st.UpdateCampaign(ctx, cp)
}

// CampaignSyncJobKind is the job kind that keeps a sent campaign's results
// current and nudges its slow senders: one job per campaign
// ("campaign-sync:<id>"), re-armed every SyncEvery, so the runner's lease
// lets one instance at a time run it.
const CampaignSyncJobKind = "campaign_sync"

// maxNudges is WeCom's limit of remind_groupmsg_send per message per 24 h.
const maxNudges = 3

// HandleCampaignSyncJob pulls a campaign's results, nudges the senders who
// have not sent it, and re-arms itself until every sender has sent it or
// SyncFor has passed since it was sent.
func (c *Core) HandleCampaignSyncJob(ctx context.Context, job *store.Job) error {
	if c.mass == nil {
		return errors.New("campaigns: no WeCom API")
	}
	cp, err := c.st.FindCampaignByID(ctx, job.Payload)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cancelled, err := c.campaignCancelled(ctx, cp); err != nil || cancelled {
		return err
	}
	if cp, err = c.SyncCampaign(ctx, cp.ID); err != nil {
		return err
	}
	tasks, err := c.st.FindCampaignTasks(ctx, cp.ID)
	if err != nil {
		return err
	}
	now := c.Now()
	waiting := false
	for _, t := range tasks {
		if t.State != store.TaskCreated || t.SendStatus == 2 {
			continue
		}
		waiting = true
		if err := c.nudge(ctx, cp, t, now); err != nil {
			return err
		}
	}
	if !waiting || now.After(cp.SendAt.Add(c.massOpt.SyncFor)) {
		return nil
	}
	return c.st.ScheduleJob(ctx, job.Key, CampaignSyncJobKind, cp.ID, now.Add(c.massOpt.SyncEvery))
}

// nudge sends t's next reminder if it is due: reminder k (1..MaxNudges) is
// due k×NudgeAfter after the task was created, at most one per round (a
// late round does not fire a backlog at once). Each reminder is marked
// before the call, so it goes out at most once whichever instance runs and
// however often: a lost answer loses that reminder rather than spending
// one of WeCom's three a day twice. 45009 (the day's reminders are used up,
// e.g. by an admin in WeCom) counts the reminder as done.
func (c *Core) nudge(ctx context.Context, cp *store.Campaign, t *store.CampaignTask, now time.Time) error {
	for k := 1; k <= c.massOpt.MaxNudges; k++ {
		if now.Before(t.CallAt.Add(time.Duration(k) * c.massOpt.NudgeAfter)) {
			return nil
		}
		key := fmt.Sprintf("%s:%s:%d:%d", cp.ID, t.Sender, t.Chunk, k)
		v, err := c.st.GetMarker(ctx, store.MarkCampaignNudge, key)
		if err != nil {
			return err
		}
		if v != "" {
			continue
		}
		if err := c.st.SetMarker(ctx, store.MarkCampaignNudge, key, "calling", now); err != nil {
			return err
		}
		result := "sent"
		err = c.mass.RemindGroupMsg(ctx, t.MsgID)
		var apiErr *wecom.APIError
		switch {
		case errors.As(err, &apiErr):
			result = fmt.Sprintf("refused:%d", apiErr.Code)
			c.massOpt.Logger.Warn("campaigns: reminder refused", "campaign", cp.ID, "sender", t.Sender, "errcode", apiErr.Code)
		case err != nil:
			c.massOpt.Logger.Warn("campaigns: reminder lost", "campaign", cp.ID, "sender", t.Sender, "err", err)
			return nil
		}
		return c.st.SetMarker(ctx, store.MarkCampaignNudge, key, result, now)
	}
	return nil
}
