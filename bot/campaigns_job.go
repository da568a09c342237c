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
	cp, ok, err := c.jobCampaign(ctx, job)
	if err != nil || !ok {
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

// jobCampaign loads the campaign a job names; ok is false when it is gone.
func (c *Core) jobCampaign(ctx context.Context, job *store.Job) (*store.Campaign, bool, error) {
	if c.mass == nil {
		return nil, false, errors.New("campaigns: no WeCom API")
	}
	cp, err := c.st.FindCampaignByID(ctx, job.Payload)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	return cp, err == nil, err
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
	_, err = c.markCancelled(ctx, cp.ID)
	return err
}

// planTasks freezes the campaign's audience into tasks and sends, then
// marks it planned. A crash before the mark plans again over the same
// records (the keys are the same), not counting the campaign's own sends.
func (c *Core) planTasks(ctx context.Context, cp *store.Campaign) ([]*store.CampaignTask, error) {
	creator, err := c.campaignActor(ctx, cp)
	if err != nil {
		return nil, err
	}
	aud := audience{chatType: store.ChatTypeSingle, filter: cp.Filter, groups: cp.Groups, perCustomer: cp.PerCustomer, text: cp.Text}
	if cp.ToGroups() {
		aud.chatType = store.ChatTypeGroup
	}
	p, err := c.plan(ctx, creator, aud, c.Now(), cp.ID)
	if err != nil {
		return nil, err
	}
	var tasks []*store.CampaignTask
	var sends []store.CampaignSend
	for _, sender := range slices.Sorted(mapKeys(p.targets)) {
		ts := p.targets[sender]
		size := store.MaxTaskCustomers
		// One task per customer, with their name, when asked and the
		// sender has few enough; a sender who gained customers since
		// the campaign was made shares one task (and 您) instead.
		perCustomer := cp.PerCustomer && len(ts) <= MaxPerCustomerTasks
		switch {
		case cp.ToGroups():
			size = store.MaxTaskGroups
		case perCustomer:
			size = 1
		}
		senderName := c.staffName(ctx, sender)
		for chunk := 0; chunk*size < len(ts); chunk++ {
			part := ts[chunk*size : min((chunk+1)*size, len(ts))]
			t := &store.CampaignTask{CampaignID: cp.ID, Sender: sender, Chunk: chunk, State: store.TaskPending}
			if perCustomer {
				t.Text = campaignText(cp.Text, senderName, part[0].Name, false)
			}
			for _, x := range part {
				if x.ChatID != "" {
					t.ChatIDs = append(t.ChatIDs, x.ChatID)
				} else {
					t.ExternalUserIDs = append(t.ExternalUserIDs, x.Ext)
				}
				sends = append(sends, store.CampaignSend{CampaignID: cp.ID, CustomerID: x.CustomerID, ExternalUserID: x.Ext, ChatID: x.ChatID,
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
	cancelled := false
	fresh, err := c.changeCampaign(ctx, cp.ID, func(cp *store.Campaign) (bool, error) {
		var err error
		if cancelled, err = c.campaignCancelled(ctx, cp); err != nil || cancelled {
			return false, err
		}
		cp.Status, cp.UpdatedAt = store.CampaignCreating, c.Now()
		cp.Report.Targeted, cp.Report.LeftOut, cp.Report.Senders = p.Targeted, p.LeftOut, len(p.targets)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	*cp = *fresh
	if cancelled {
		return nil, errCampaignCancelled
	}
	if err := c.st.SetMarker(ctx, store.MarkCampaignPlan, cp.ID, "planned", c.Now()); err != nil {
		return nil, err
	}
	return tasks, nil
}

// staffName is the name a staff member goes by, their ID when unknown.
func (c *Core) staffName(ctx context.Context, id string) string {
	if s, err := c.st.FindStaffByID(ctx, id); err == nil && s.Name != "" {
		return s.Name
	}
	return id
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
	text := c.taskText(ctx, cp, t)
	if t.State == store.TaskCalling {
		msgID, err := c.findExistingTask(ctx, cp, t)
		if err != nil {
			return err
		}
		if msgID != "" {
			return c.taskCreated(ctx, cp, t, msgID, nil)
		}
	}
	// The text is kept with the call, so a retry sends, and a look-up
	// seeks, exactly what this call sent (a sender renamed meanwhile
	// changes nothing).
	t.State, t.CallAt, t.Text = store.TaskCalling, c.Now(), text
	if err := c.st.PutCampaignTask(ctx, t); err != nil {
		return err
	}
	m := wecom.MsgTemplate{ChatType: store.ChatTypeSingle, ExternalUserID: t.ExternalUserIDs, Sender: t.Sender,
		Text: &wecom.WelcomeText{Content: text}, Attachments: massAttachments(cp.Attachments)}
	if cp.ToGroups() {
		// WeCom sends a group's mass message through its owner, the
		// task's sender, to the groups listed.
		m.ChatType, m.ExternalUserID, m.ChatIDList = store.ChatTypeGroup, nil, t.ChatIDs
	}
	msgID, fail, err := c.mass.AddMsgTemplate(ctx, m)
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

// taskText is the text t carries: its own (one customer's, or the one its
// first call sent), or the campaign's for its sender.
func (c *Core) taskText(ctx context.Context, cp *store.Campaign, t *store.CampaignTask) string {
	if t.Text != "" {
		return t.Text
	}
	return campaignText(cp.Text, c.staffName(ctx, t.Sender), "", cp.ToGroups())
}

// recipients are t's customers, or its groups.
func recipients(t *store.CampaignTask) []string {
	if len(t.ChatIDs) > 0 {
		return t.ChatIDs
	}
	return t.ExternalUserIDs
}

// recipientOf is whom a send result is about: a group or a customer.
func recipientOf(r wecom.GroupMsgResult) string {
	if r.ChatID != "" {
		return r.ChatID
	}
	return r.ExternalUserID
}

func (c *Core) taskCreated(ctx context.Context, cp *store.Campaign, t *store.CampaignTask, msgID string, fail []string) error {
	t.State, t.MsgID, t.FailList = store.TaskCreated, msgID, fail
	if err := c.st.PutCampaignTask(ctx, t); err != nil {
		return err
	}
	m := c.massOpt.Messenger
	perCustomer := cp.PerCustomer && len(t.ExternalUserIDs) == 1
	if m == nil || perCustomer && t.Chunk > 0 {
		return nil // one notice per sender of a per-customer campaign
	}
	n := len(recipients(t)) - len(fail)
	what := fmt.Sprintf("一条客户群发，共 %d 位客户", n)
	switch {
	case cp.ToGroups():
		what = fmt.Sprintf("一条客户群群发，共 %d 个客户群", n)
	case perCustomer:
		what = "几条客户群发，每位客户一条、带客户的称呼，请逐条确认"
	}
	text := fmt.Sprintf("### 待发送群发「%s」\n公司为你准备了%s。\n请在企业微信「客户联系 → 群发助手」中确认发送。", cp.Name, what)
	if err := m.SendMarkdown(ctx, t.Sender, text); err != nil {
		c.massOpt.Logger.Warn("campaigns: sender notice failed", "sender", t.Sender, "campaign", cp.ID, "err", err)
	}
	return nil
}

// findExistingTask looks for the task a lost answer created: the sender's
// mass messages since the call began whose recipients are exactly the
// task's (less any WeCom refused), the one with the task's text first.
// The text only breaks ties: WeCom's echo of it is not promised to be
// byte for byte what was sent.
func (c *Core) findExistingTask(ctx context.Context, cp *store.Campaign, t *store.CampaignTask) (string, error) {
	from := t.CallAt.Add(-time.Minute)
	chatType := store.ChatTypeSingle
	if cp.ToGroups() {
		chatType = store.ChatTypeGroup
	}
	list, err := c.mass.GroupMsgList(ctx, chatType, t.Sender, from, c.Now().Add(time.Minute))
	if err != nil {
		return "", fmt.Errorf("campaigns: look up task of %s: %w", t.Sender, err)
	}
	text := c.taskText(ctx, cp, t)
	want := slices.Clone(recipients(t))
	slices.Sort(want)
	found := ""
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
			got = append(got, recipientOf(r))
		}
		slices.Sort(got)
		// WeCom keeps only the sender's contacts (groups): the found
		// task's recipients are the wanted ones minus any it refused.
		if len(got) == 0 || !isSubset(got, want) || len(want)-len(got) > len(want)/2 {
			continue
		}
		if g.Text != nil && g.Text.Content == text {
			return g.MsgID, nil
		}
		if found == "" {
			found = g.MsgID
		}
	}
	return found, nil
}

func isSubset(small, big []string) bool {
	for _, s := range small {
		if _, ok := slices.BinarySearch(big, s); !ok {
			return false
		}
	}
	return true
}

// finishCampaign marks the campaign sent, unless it was cancelled
// meanwhile: then whatever the job created is withdrawn.
func (c *Core) finishCampaign(ctx context.Context, id string) error {
	cancelled := false
	cp, err := c.changeCampaign(ctx, id, func(cp *store.Campaign) (bool, error) {
		var err error
		if cancelled, err = c.campaignCancelled(ctx, cp); err != nil || cancelled {
			return false, err
		}
		cp.Status, cp.UpdatedAt = store.CampaignSent, c.Now()
		return true, nil
	})
	if err != nil {
		return err
	}
	if cancelled {
		return c.withdrawTasks(ctx, cp)
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
