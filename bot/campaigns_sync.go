package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scrmhq/scrm/store"
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
		if t.State != store.TaskCreated {
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
