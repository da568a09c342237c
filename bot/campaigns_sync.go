package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// OptOutWindow is how long after a campaign reached a customer their
// opting out counts in its report (CampaignReport.OptOutsAfter).
const OptOutWindow = 7 * 24 * time.Hour

// SyncCampaign pulls a campaign's results from WeCom (get_groupmsg_task,
// and get_groupmsg_send_result for the tasks their senders sent) into its
// sends, each delivered customer's timeline ("收到群发「名称」", keyed, so
// a second sync adds nothing) and its report, with the replies within 48
// hours and the opt-outs within OptOutWindow of each delivery. A group
// campaign's results are per group (no timeline: a group is not a
// customer). Idempotent; run it as often as wanted.
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
	byRecipient := map[string]*store.CampaignSend{}
	for i := range sends {
		s := &sends[i]
		byRecipient[s.Sender+"|"+s.ExternalUserID+s.ChatID] = s
	}
	var r store.CampaignReport
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
			if x.UserID != t.Sender || x.Status == t.SendStatus && (x.Status != 2 || t.SentAt != nil) {
				continue
			}
			t.SendStatus = x.Status
			if x.Status == 2 {
				at := time.Unix(x.SendTime, 0).UTC()
				t.SentAt = &at
			}
			if err := c.st.PutCampaignTask(ctx, t); err != nil {
				return nil, err
			}
		}
		if t.SendStatus != 2 {
			// Its sender has not sent it: nobody has received it yet, and
			// the results would say only that (a call saved per round for
			// every task waiting, and most of a journey's messages wait).
			continue
		}
		res, err := c.mass.GroupMsgSendResults(ctx, t.MsgID, t.Sender)
		if err != nil {
			return nil, fmt.Errorf("campaigns: results of %s: %w", t.MsgID, err)
		}
		for _, x := range res {
			s := byRecipient[t.Sender+"|"+recipientOf(x)]
			if s == nil {
				continue
			}
			status := map[int]string{0: store.SendPending, 1: store.SendDelivered, 2: store.SendNotContact, 3: store.SendLimited}[x.Status]
			if status != "" && status != s.Status {
				s.Status = status
				changed = append(changed, *s)
			}
			if s.Status != store.SendDelivered || s.ChatID != "" {
				continue
			}
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
	if r.OptOutsAfter, r.OptOutsUntil, err = c.optOutsAfter(ctx, tasks, sends); err != nil {
		return nil, err
	}
	r.SendersSent = len(sentBy)
	now := c.Now()
	r.SyncedAt = &now
	// Written over whatever a cancel or the job wrote since the read:
	// what they own (the status, whom the plan targeted) stays theirs.
	return c.changeCampaign(ctx, id, func(cp *store.Campaign) (bool, error) {
		r.Targeted, r.LeftOut, r.Senders = cp.Report.Targeted, cp.Report.LeftOut, cp.Report.Senders
		cp.Report, cp.UpdatedAt = r, now
		return true, nil
	})
}

// optOutsAfter counts the campaign's customers who opted out within
// OptOutWindow after it reached them — by their own words or a person's
// hand, both audited as AuditOptOut — and returns when the last window
// closes. A customer was reached when their salesperson sent the task
// listing them (get_groupmsg_task's send_time, kept on the task), so the
// count needs nothing more from WeCom.
func (c *Core) optOutsAfter(ctx context.Context, tasks []*store.CampaignTask, sends []store.CampaignSend) (int, *time.Time, error) {
	sentAt := map[string]time.Time{} // sender|external_userid → sent
	for _, t := range tasks {
		if t.SentAt != nil {
			for _, ext := range t.ExternalUserIDs {
				sentAt[t.Sender+"|"+ext] = *t.SentAt
			}
		}
	}
	deliveredAt := map[string]time.Time{} // customer → reached
	var first, last time.Time
	for _, s := range sends {
		at, ok := sentAt[s.Sender+"|"+s.ExternalUserID]
		if !ok || s.Status != store.SendDelivered || s.ChatID != "" {
			continue
		}
		deliveredAt[s.CustomerID] = at
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if len(deliveredAt) == 0 {
		return 0, nil, nil
	}
	until := last.Add(OptOutWindow)
	// Opt-outs are rare (a campaign that drove thousands away in a week
	// has told its story well before this bound).
	entries, err := c.st.FindAuditByAction(ctx, AuditOptOut, first, earliest(until, c.Now().Add(time.Second)), 100000)
	if err != nil {
		return 0, nil, fmt.Errorf("campaigns: opt-outs: %w", err)
	}
	counted := map[string]bool{}
	for _, e := range entries {
		at, ok := deliveredAt[e.Target]
		if ok && strings.Contains(e.Detail, "opt_out=true") && !e.At.Before(at) && e.At.Before(at.Add(OptOutWindow)) {
			counted[e.Target] = true
		}
	}
	return len(counted), &until, nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// CampaignOptOutJobKind is the job kind that keeps counting a campaign's
// opt-outs once its results sync has ended (every sender sent it, or a
// week passed), until the last delivered customer's OptOutWindow closes:
// one job per campaign ("campaign-optouts:<id>"), every 6 hours, from the
// store alone.
const CampaignOptOutJobKind = "campaign_optouts"

// optOutEvery is how often the opt-out job counts.
const optOutEvery = 6 * time.Hour

// HandleCampaignOptOutJob counts a campaign's opt-outs after it into its
// report and re-arms itself until the count can no longer change.
func (c *Core) HandleCampaignOptOutJob(ctx context.Context, job *store.Job) error {
	cp, err := c.st.FindCampaignByID(ctx, job.Payload)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	tasks, err := c.st.FindCampaignTasks(ctx, cp.ID)
	if err != nil {
		return err
	}
	sends, err := c.st.FindCampaignSends(ctx, cp.ID)
	if err != nil {
		return err
	}
	n, until, err := c.optOutsAfter(ctx, tasks, sends)
	if err != nil {
		return err
	}
	if _, err := c.changeCampaign(ctx, cp.ID, func(cp *store.Campaign) (bool, error) {
		write := cp.Report.OptOutsAfter != n
		cp.Report.OptOutsAfter, cp.Report.OptOutsUntil = n, until
		return write, nil
	}); err != nil {
		return err
	}
	return c.armOptOutJob(ctx, cp.ID, until)
}

// armOptOutJob schedules the next count, if the window is still open.
func (c *Core) armOptOutJob(ctx context.Context, id string, until *time.Time) error {
	now := c.Now()
	if until == nil || !now.Before(*until) {
		return nil
	}
	// One last count at the window's end, so the report ends exact.
	next := earliest(now.Add(optOutEvery), *until)
	return c.st.ScheduleJob(ctx, "campaign-optouts:"+id, CampaignOptOutJobKind, id, next)
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
// SyncFor has passed since it was sent: every SyncEvery, or for a
// journey's message as nextJourneySync says.
func (c *Core) HandleCampaignSyncJob(ctx context.Context, job *store.Job) error {
	cp, ok, err := c.jobCampaign(ctx, job)
	if err != nil || !ok {
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
	end := cp.SendAt.Add(c.massOpt.SyncFor)
	if !waiting || !now.Before(end) {
		// The results are in; the opt-outs after it are counted on.
		return c.armOptOutJob(ctx, cp.ID, cp.Report.OptOutsUntil)
	}
	next := now.Add(c.massOpt.SyncEvery)
	if cp.JourneyID != "" {
		next = c.nextJourneySync(tasks, now, end)
	}
	return c.st.ScheduleJob(ctx, job.Key, CampaignSyncJobKind, cp.ID, next)
}

// journeySyncMax is the longest a journey's message, not yet sent, waits
// between two looks at its result.
const journeySyncMax = 6 * time.Hour

// nextJourneySync is when a journey's message, not yet sent, is looked at
// again. A journey makes many one-customer messages, each followed for a
// week, and WeCom tells nothing of a send until asked, message by message:
// so each is looked at when its sender is likeliest to have acted — soon
// after they were told of it (the task's creation, each nudge), then ever
// less often, the wait doubling with the time since from SyncEvery up to
// journeySyncMax — at each nudge's time, so the nudges go out on time, and
// at end, the sync's last look.
func (c *Core) nextJourneySync(tasks []*store.CampaignTask, now, end time.Time) time.Time {
	var told time.Time // when a sender was last told of it
	due := end         // the next look that cannot wait: a nudge's, or the end
	for _, t := range tasks {
		if t.State != store.TaskCreated || t.SendStatus == 2 {
			continue
		}
		for k := range c.massOpt.MaxNudges + 1 {
			at := t.CallAt.Add(time.Duration(k) * c.massOpt.NudgeAfter)
			switch {
			case !at.After(now):
				if at.After(told) {
					told = at
				}
			case at.Before(due):
				due = at
			}
		}
	}
	next := now.Add(min(max(now.Sub(told), c.massOpt.SyncEvery), journeySyncMax))
	if due.Before(next) {
		return due
	}
	return next
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
