package wecom

import (
	"context"
	"strconv"
	"time"
)

// Mass messages (群发): add_msg_template and the results APIs
// (docs/wecom-protocol.md section 6). add_msg_template is never resent
// after a transport error: the call may have created the task, and a
// resend would create a second one. Callers find out with
// GroupMsgList instead.

// MsgTemplate is add_msg_template's body. A group message (chat_type
// group) names its sender, the groups' owner, and the groups in
// ChatIDList (at most 2,000); no customers.
type MsgTemplate struct {
	ChatType       string              `json:"chat_type"` // single or group
	ExternalUserID []string            `json:"external_userid,omitempty"`
	ChatIDList     []string            `json:"chat_id_list,omitempty"`
	Sender         string              `json:"sender"`
	Text           *WelcomeText        `json:"text,omitempty"`
	Attachments    []WelcomeAttachment `json:"attachments,omitempty"`
}

// AddMsgTemplate creates a mass message task and returns its msgid and the
// customers WeCom refused (not the sender's contacts).
func (c *APIClient) AddMsgTemplate(ctx context.Context, m MsgTemplate) (msgID string, failList []string, err error) {
	var resp struct {
		apiStatus
		MsgID    string   `json:"msgid"`
		FailList []string `json:"fail_list"`
	}
	if err := c.call(ctx, apiCall{api: "externalcontact/add_msg_template", method: "POST", tokens: c.contactTokens, body: m}, &resp); err != nil {
		return "", nil, err
	}
	return resp.MsgID, resp.FailList, nil
}

// GroupMsg is one mass message of get_groupmsg_list_v2.
type GroupMsg struct {
	MsgID      string       `json:"msgid"`
	Creator    string       `json:"creator"`
	CreateTime string       `json:"create_time"`
	Text       *WelcomeText `json:"text"`
}

// Created is the message's creation time.
func (g GroupMsg) Created() time.Time {
	n, _ := strconv.ParseInt(g.CreateTime, 10, 64)
	return time.Unix(n, 0).UTC()
}

// groupMsgPage is one page of the results APIs; each fills one list.
type groupMsgPage[T any] struct {
	apiStatus
	Msgs       []T    `json:"group_msg_list"`
	Tasks      []T    `json:"task_list"`
	Sends      []T    `json:"send_list"`
	NextCursor string `json:"next_cursor"`
}

// groupMsgPages calls api with body for every page (the cursor added to
// body) and returns the lists of all.
func groupMsgPages[T any](ctx context.Context, c *APIClient, api string, body map[string]any) ([]T, error) {
	var out []T
	for cursor := ""; ; {
		var resp groupMsgPage[T]
		body["cursor"] = cursor
		if err := c.call(ctx, apiCall{api: api, method: "POST", tokens: c.contactTokens, idempotent: true, body: body}, &resp); err != nil {
			return nil, err
		}
		out = append(append(append(out, resp.Msgs...), resp.Tasks...), resp.Sends...)
		if resp.NextCursor == "" {
			return out, nil
		}
		cursor = resp.NextCursor
	}
}

// GroupMsgList lists the mass messages creator created in [from, to] (at
// most a month apart), every page.
func (c *APIClient) GroupMsgList(ctx context.Context, chatType, creator string, from, to time.Time) ([]GroupMsg, error) {
	return groupMsgPages[GroupMsg](ctx, c, "externalcontact/get_groupmsg_list_v2", map[string]any{"chat_type": chatType,
		"start_time": from.Unix(), "end_time": to.Unix(), "creator": creator, "filter_type": 2, "limit": 100})
}

// GroupMsgTask is a sender's part of a mass message.
type GroupMsgTask struct {
	UserID   string `json:"userid"`
	Status   int    `json:"status"` // 0 not sent, 2 sent
	SendTime int64  `json:"send_time"`
}

// GroupMsgTasks returns the senders' tasks of a mass message.
func (c *APIClient) GroupMsgTasks(ctx context.Context, msgID string) ([]GroupMsgTask, error) {
	return groupMsgPages[GroupMsgTask](ctx, c, "externalcontact/get_groupmsg_task", map[string]any{"msgid": msgID, "limit": 1000})
}

// GroupMsgResult is one customer's (or group's) part of a mass message.
type GroupMsgResult struct {
	ExternalUserID string `json:"external_userid"`
	ChatID         string `json:"chat_id"`
	UserID         string `json:"userid"`
	Status         int    `json:"status"` // 0 not sent, 1 sent, 2 not a contact, 3 over the cap
	SendTime       int64  `json:"send_time"`
}

// GroupMsgSendResults returns what became of each recipient of sender's
// task: customers, or groups (ChatID) for a group message.
func (c *APIClient) GroupMsgSendResults(ctx context.Context, msgID, sender string) ([]GroupMsgResult, error) {
	return groupMsgPages[GroupMsgResult](ctx, c, "externalcontact/get_groupmsg_send_result", map[string]any{"msgid": msgID,
		"userid": sender, "limit": 1000})
}

// RemindGroupMsg reminds the senders who have not sent msgID (at most 3
// times a day, 45009 after). It is tried once: 45009 here means the day's
// reminders are used up, which no back-off within a call's time fixes, and
// holding the API's gate would stall the caller's other work.
func (c *APIClient) RemindGroupMsg(ctx context.Context, msgID string) error {
	return c.call(ctx, apiCall{api: "externalcontact/remind_groupmsg_send", method: "POST", tokens: c.contactTokens, once: true,
		body: map[string]string{"msgid": msgID}}, nil)
}

// CancelGroupMsg stops msgID: senders who have not sent it no longer can.
func (c *APIClient) CancelGroupMsg(ctx context.Context, msgID string) error {
	return c.call(ctx, apiCall{api: "externalcontact/cancel_groupmsg_send", method: "POST", tokens: c.contactTokens, idempotent: true,
		body: map[string]string{"msgid": msgID}}, nil)
}
