package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// errCampaignCancelled stops planning a campaign cancelled meanwhile.
var errCampaignCancelled = errors.New("campaigns: cancelled")

// HandleCampaignJob carries out one campaign (the job's payload is its
// ID): plans it once, then creates each task exactly once. A failure
// returns an error and the runner retries later; what is done stays done.
func (c *Core) HandleCampaignJob(ctx context.Context, job *store.Job) error {
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
	cancelled, err := c.campaignCancelled(ctx, cp)
	if err != nil {
		return err
	}
	if cancelled {
		return c.withdrawTasks(ctx, cp)
	}
	if cp.Status == store.CampaignSent || cp.Status == store.CampaignFailed {
		return nil
	}
	tasks, err := c.st.FindCampaignTasks(ctx, cp.ID)
	if err != nil {
		return err
	}
	planned, err := c.st.GetMarker(ctx, store.MarkCampaignPlan, cp.ID)
	if err != nil {
		return err
	}
	if planned == "" {
		tasks, err = c.planTasks(ctx, cp)
		if errors.Is(err, errCampaignCancelled) {
			return c.withdrawTasks(ctx, cp)
		}
		if err != nil {
			return err
		}
	}
	for _, t := range tasks {
		if t.State == store.TaskCreated || t.State == store.TaskFailed || t.State == store.TaskCancelled {
			continue
		}
		// A cancel between two tasks stops the rest and withdraws those
		// made (the marker: the planning write above may have hidden the
		// status).
		if cancelled, err := c.campaignCancelled(ctx, cp); err != nil || cancelled {
			if err != nil {
				return err
			}
			return c.withdrawTasks(ctx, cp)
		}
		if err := c.createTask(ctx, cp, t); err != nil {
			return err
		}
	}
	return c.finishCampaign(ctx, cp.ID)
}

// campaignCancelled reports whether cp was cancelled: its status, or the
// cancel marker, which no job write can overwrite.
func (c *Core) campaignCancelled(ctx context.Context, cp *store.Campaign) (bool, error) {
	if cp.Status == store.CampaignCancelled {
		return true, nil
	}
	v, err := c.st.GetMarker(ctx, store.MarkCampaignCancel, cp.ID)
	return v != "", err
}

// withdrawTasks carries out a cancel: a task whose add_msg_template may
// have gone through (TaskCalling) is looked up first, every task in WeCom
// is withdrawn with cancel_groupmsg_send, and the customers who did not
// receive it are released from the frequency caps. Idempotent: withdrawn
// tasks are skipped, cancelling twice in WeCom is harmless.
func (c *Core) withdrawTasks(ctx context.Context, cp *store.Campaign) error {
	tasks, err := c.st.FindCampaignTasks(ctx, cp.ID)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		switch t.State {
		case store.TaskPending:
			t.State = store.TaskCancelled
			if err := c.st.PutCampaignTask(ctx, t); err != nil {
				return err
			}
			continue
		case store.TaskCalling:
			msgID, err := c.findExistingTask(ctx, cp, t)
			if err != nil {
				return err
			}
			if msgID == "" {
				t.State = store.TaskCancelled
				if err := c.st.PutCampaignTask(ctx, t); err != nil {
					return err
				}
				continue
			}
			t.State, t.MsgID = store.TaskCreated, msgID
		case store.TaskCreated:
		default:
			continue
		}
		if err := c.mass.CancelGroupMsg(ctx, t.MsgID); err != nil {
			return fmt.Errorf("campaigns: cancel_groupmsg_send %s: %w", t.MsgID, err)
		}
		t.State = store.TaskCancelled
		if err := c.st.PutCampaignTask(ctx, t); err != nil {
			return err
		}
	}
	// Who received it before the cancel stays delivered; the rest no
	// longer count against the caps.
	if _, err := c.SyncCampaign(ctx, cp.ID); err != nil {
		return err
	}
	sends, err := c.st.FindCampaignSends(ctx, cp.ID)
	if err != nil {
		return err
	}
	var released []store.CampaignSend
	for _, s := range sends {
		if s.Status == store.SendPending {
			s.Status = store.SendCancelled
			released = append(released, s)
		}
	}
	if err := c.st.PutCampaignSends(ctx, released); err != nil {
		return err
	}
	fresh, err := c.st.FindCampaignByID(ctx, cp.ID)
	if err != nil {
		return err
	}
	if fresh.Status != store.CampaignCancelled {
		fresh.Status, fresh.UpdatedAt = store.CampaignCancelled, c.Now()
		return c.st.UpdateCampaign(ctx, fresh)
	}
	return nil
}

// planTasks freezes the campaign's audience into tasks and sends, then
// marks it planned. A crash before the mark plans again over the same
// records (the keys are the same), not counting the campaign's own sends.
func (c *Core) planTasks(ctx context.Context, cp *store.Campaign) ([]*store.CampaignTask, error) {
	creator, err := c.campaignActor(ctx, cp)
	if err != nil {
		return nil, err
	}
	p, err := c.plan(ctx, creator, cp.Filter, c.Now(), cp.ID)
	if err != nil {
		return nil, err
	}
	var tasks []*store.CampaignTask
	var sends []store.CampaignSend
	for _, sender := range slices.Sorted(mapKeys(p.targets)) {
		ts := p.targets[sender]
		for chunk := 0; chunk*store.MaxTaskCustomers < len(ts); chunk++ {
			part := ts[chunk*store.MaxTaskCustomers : min((chunk+1)*store.MaxTaskCustomers, len(ts))]
			t := &store.CampaignTask{CampaignID: cp.ID, Sender: sender, Chunk: chunk, State: store.TaskPending}
			for _, x := range part {
				t.ExternalUserIDs = append(t.ExternalUserIDs, x.Ext)
				sends = append(sends, store.CampaignSend{CampaignID: cp.ID, CustomerID: x.CustomerID, ExternalUserID: x.Ext,
					Sender: sender, Status: store.SendPending, At: c.Now()})
			}
			tasks = append(tasks, t)
		}
	}
	if err := c.st.PutCampaignSends(ctx, sends); err != nil {
		return nil, err
	}
	for _, t := range tasks {
		if err := c.st.PutCampaignTask(ctx, t); err != nil {
			return nil, err
		}
	}
	if cancelled, err := c.campaignCancelled(ctx, cp); err != nil || cancelled {
		if err == nil {
			err = errCampaignCancelled
		}
		return nil, err
	}
	cp.Status, cp.UpdatedAt = store.CampaignCreating, c.Now()
	cp.Report.Targeted, cp.Report.LeftOut, cp.Report.Senders = p.Targeted, p.LeftOut, len(p.targets)
	if err := c.st.UpdateCampaign(ctx, cp); err != nil {
		return nil, err
	}
	if err := c.st.SetMarker(ctx, store.MarkCampaignPlan, cp.ID, "planned", c.Now()); err != nil {
		return nil, err
	}
	return tasks, nil
}

// campaignActor is the campaign's creator as a viewer: a manager's
// campaign reaches their team's customers only.
func (c *Core) campaignActor(ctx context.Context, cp *store.Campaign) (Actor, error) {
	if cp.CreatedBy == AdminActorID || cp.CreatedBy == SystemActorID {
		return SystemActor(SourceAPI), nil
	}
	v, err := c.signInViewer(ctx, cp.CreatedBy)
	if err != nil {
		return Actor{}, fmt.Errorf("campaigns: creator %s: %w", cp.CreatedBy, err)
	}
	return Actor{Viewer: v, Source: SourceAPI}, nil
}

// createTask makes one add_msg_template, exactly once (see campaigns.go).
func (c *Core) createTask(ctx context.Context, cp *store.Campaign, t *store.CampaignTask) error {
	if t.State == store.TaskCalling {
		msgID, err := c.findExistingTask(ctx, cp, t)
		if err != nil {
			return err
		}
		if msgID != "" {
			return c.taskCreated(ctx, cp, t, msgID, nil)
		}
	}
	t.State, t.CallAt = store.TaskCalling, c.Now()
	if err := c.st.PutCampaignTask(ctx, t); err != nil {
		return err
	}
	name := t.Sender
	if s, err := c.st.FindStaffByID(ctx, t.Sender); err == nil && s.Name != "" {
		name = s.Name
	}
	msgID, fail, err := c.mass.AddMsgTemplate(ctx, wecom.MsgTemplate{ChatType: "single", ExternalUserID: t.ExternalUserIDs, Sender: t.Sender,
		Text: &wecom.WelcomeText{Content: campaignText(cp.Text, name)}, Attachments: massAttachments(cp.Attachments)})
	var apiErr *wecom.APIError
	if errors.As(err, &apiErr) && apiErr.Code != -1 && apiErr.Code != 45009 && apiErr.Code != 45033 && apiErr.Code != 40014 && apiErr.Code != 42001 {
		// WeCom refused it for good (41048: no customer can receive it,
		// 60111: the sender left): nothing was created.
		t.State, t.Error = store.TaskFailed, fmt.Sprintf("errcode %d", apiErr.Code)
		return c.st.PutCampaignTask(ctx, t)
	}
	if err != nil {
		// Unknown outcome: the task stays TaskCalling and the retry looks
		// it up before calling again.
		return fmt.Errorf("campaigns: add_msg_template for %s: %w", t.Sender, err)
	}
	return c.taskCreated(ctx, cp, t, msgID, fail)
}

func (c *Core) taskCreated(ctx context.Context, cp *store.Campaign, t *store.CampaignTask, msgID string, fail []string) error {
	t.State, t.MsgID, t.FailList = store.TaskCreated, msgID, fail
	if err := c.st.PutCampaignTask(ctx, t); err != nil {
		return err
	}
	if m := c.massOpt.Messenger; m != nil {
		text := fmt.Sprintf("### 待发送群发「%s」\n公司为你准备了一条客户群发，共 %d 位客户。\n请在企业微信「客户联系 → 群发助手」中确认发送。", cp.Name, len(t.ExternalUserIDs)-len(fail))
		if err := m.SendMarkdown(ctx, t.Sender, text); err != nil {
			c.massOpt.Logger.Warn("campaigns: sender notice failed", "sender", t.Sender, "campaign", cp.ID, "err", err)
		}
	}
	return nil
}

// findExistingTask looks for the task a lost answer created: the sender's
// mass messages since the call began, with the campaign's text, whose
// customers are exactly the task's.
func (c *Core) findExistingTask(ctx context.Context, cp *store.Campaign, t *store.CampaignTask) (string, error) {
	from := t.CallAt.Add(-time.Minute)
	list, err := c.mass.GroupMsgList(ctx, "single", t.Sender, from, c.Now().Add(time.Minute))
	if err != nil {
		return "", fmt.Errorf("campaigns: look up task of %s: %w", t.Sender, err)
	}
	want := slices.Clone(t.ExternalUserIDs)
	slices.Sort(want)
	for _, g := range list {
		if g.Creator != t.Sender {
			continue
		}
		res, err := c.mass.GroupMsgSendResults(ctx, g.MsgID, t.Sender)
		if err != nil {
			return "", fmt.Errorf("campaigns: look up task of %s: %w", t.Sender, err)
		}
		got := make([]string, 0, len(res))
		for _, r := range res {
			got = append(got, r.ExternalUserID)
		}
		slices.Sort(got)
		// WeCom keeps only the sender's contacts: the found task's
		// customers are the wanted ones minus any it refused.
		if len(got) > 0 && isSubset(got, want) && len(want)-len(got) <= len(want)/2 {
			return g.MsgID, nil
		}
	}
	return "", nil
}

func isSubset(small, big []string) bool {
	for _, s := range small {
		if _, ok := slices.BinarySearch(big, s); !ok {
			return false
		}
	}
	return true
}

func (c *Core) finishCampaign(ctx context.Context, id string) error {
	cp, err := c.st.FindCampaignByID(ctx, id)
	if err != nil {
		return err
	}
	if cancelled, err := c.campaignCancelled(ctx, cp); err != nil || cancelled {
		return err
	}
	cp.Status, cp.UpdatedAt = store.CampaignSent, c.Now()
	if err := c.st.UpdateCampaign(ctx, cp); err != nil {
		return err
	}
	// Its results are pulled, and slow senders nudged, from now on.
	return c.st.ScheduleJob(ctx, "campaign-sync:"+id, CampaignSyncJobKind, id, c.Now().Add(c.massOpt.SyncEvery))
}

func massAttachments(in []store.WelcomeAttachment) []wecom.WelcomeAttachment {
	var out []wecom.WelcomeAttachment
	for _, a := range in {
		switch a.Type {
		case "link":
			out = append(out, wecom.WelcomeAttachment{MsgType: "link", Link: &wecom.WelcomeLink{Title: a.Title, URL: a.URL, PicURL: a.PicURL, Desc: a.Desc}})
		case "image":
			if a.PicURL != "" || a.MediaID != "" {
				out = append(out, wecom.WelcomeAttachment{MsgType: "image", Image: &wecom.WelcomeImage{PicURL: a.PicURL, MediaID: a.MediaID}})
			}
		}
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
