package wecom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/work/kf"
	"github.com/silenceper/wechat/v2/work/kf/sendmsg"
)

// KFSyncPage is one page of kf/sync_msg. Keep pulling while HasMore, even
// when Messages is empty (the API does that), and persist NextCursor.
type KFSyncPage struct {
	NextCursor string
	HasMore    bool
	Messages   []KFMessage
}

// KFMessage is one 微信客服 message or event.
type KFMessage struct {
	MsgID          string
	OpenKfID       string
	ExternalUserID string
	ServicerUserID string
	SendTime       time.Time
	Origin         int    // 3 customer, 4 system event, 5 servicer in the WeCom client
	MsgType        string // text, image, voice, video, file, location, link, event, ...
	Text           string // text.content for text messages
	MenuID         string // text.menu_id when the customer tapped a menu item
	EventType      string // event.event_type for msgtype event
	Raw            json.RawMessage
}

type apiKFWire struct {
	MsgID          string `json:"msgid"`
	OpenKfID       string `json:"open_kfid"`
	ExternalUserID string `json:"external_userid"`
	ServicerUserID string `json:"servicer_userid"`
	SendTime       int64  `json:"send_time"`
	Origin         int    `json:"origin"`
	MsgType        string `json:"msgtype"`
	Text           struct {
		Content string `json:"content"`
		MenuID  string `json:"menu_id"`
	} `json:"text"`
	Event struct {
		EventType      string `json:"event_type"`
		OpenKfID       string `json:"open_kfid"`
		ExternalUserID string `json:"external_userid"`
		ServicerUserID string `json:"servicer_userid"`
	} `json:"event"`
}

type apiKFSyncAnswer struct {
	apiStatus
	NextCursor string            `json:"next_cursor"`
	HasMore    int               `json:"has_more"`
	MsgList    []json.RawMessage `json:"msg_list"`
}

// KFSyncMsg pulls one page of kf messages. token is the Token of the
// kf_msg_or_event callback (valid 10 minutes; without it the API is limited
// to a few calls a minute); cursor is the last NextCursor ("" starts at the
// earliest message of the last 3 days); limit is 1..1000 (0 means 1000).
// Unlike the SDK's SyncMsg, the errcode survives in *APIError.
func (c *APIClient) KFSyncMsg(ctx context.Context, cursor, token string, limit int, openKfID string) (*KFSyncPage, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var resp apiKFSyncAnswer
	if err := c.call(ctx, apiCall{
		api: "kf/sync_msg", method: "POST", tokens: c.appTokens, idempotent: true,
		body: kf.SyncMsgOptions{Cursor: cursor, Token: token, Limit: uint(limit), OpenKfID: openKfID},
	}, &resp); err != nil {
		return nil, err
	}
	page := &KFSyncPage{NextCursor: resp.NextCursor, HasMore: resp.HasMore == 1, Messages: make([]KFMessage, 0, len(resp.MsgList))}
	for _, raw := range resp.MsgList {
		var w apiKFWire
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("wecom: kf/sync_msg: decode message: %w", err)
		}
		m := KFMessage{
			MsgID: w.MsgID, OpenKfID: w.OpenKfID, ExternalUserID: w.ExternalUserID, ServicerUserID: w.ServicerUserID,
			Origin: w.Origin, MsgType: w.MsgType, Text: w.Text.Content, MenuID: w.Text.MenuID, Raw: raw,
		}
		if w.SendTime > 0 {
			m.SendTime = time.Unix(w.SendTime, 0).UTC()
		}
		if w.MsgType == "event" {
			// Events carry their ids inside the event object.
			m.EventType = w.Event.EventType
			m.OpenKfID = firstNonEmpty(m.OpenKfID, w.Event.OpenKfID)
			m.ExternalUserID = firstNonEmpty(m.ExternalUserID, w.Event.ExternalUserID)
			m.ServicerUserID = firstNonEmpty(m.ServicerUserID, w.Event.ServicerUserID)
		}
		page.Messages = append(page.Messages, m)
	}
	return page, nil
}

// KFOutgoing is a message to a 微信客服 customer. Text messages set Text;
// other types set MsgType and Payload (marshalled under the MsgType key).
type KFOutgoing struct {
	ToUser   string // the customer's external_userid
	OpenKfID string
	MsgID    string // optional, [0-9a-zA-Z_-]{0,32}; echoed back
	Text     string
	MsgType  string // default "text"
	Payload  any
}

type apiKFSendAnswer struct {
	apiStatus
	MsgID string `json:"msgid"`
}

// KFSendMsg sends a kf message and returns its msgid. WeCom allows 5
// messages within 48 hours of the customer's last message; outside that
// window the error matches ErrAPIOutsideWindow. Not retried after transport
// errors: a resend could reach the customer twice.
func (c *APIClient) KFSendMsg(ctx context.Context, msg KFOutgoing) (string, error) {
	if msg.ToUser == "" || msg.OpenKfID == "" {
		return "", fmt.Errorf("wecom: kf/send_msg: touser and open_kfid are required")
	}
	var body any
	if msg.MsgType == "" || msg.MsgType == "text" {
		t := sendmsg.Text{Message: sendmsg.Message{ToUser: msg.ToUser, OpenKFID: msg.OpenKfID, MsgID: msg.MsgID}, MsgType: "text"}
		t.Text.Content = msg.Text
		body = t
	} else {
		m := map[string]any{"touser": msg.ToUser, "open_kfid": msg.OpenKfID, "msgtype": msg.MsgType, msg.MsgType: msg.Payload}
		if msg.MsgID != "" {
			m["msgid"] = msg.MsgID
		}
		body = m
	}
	var resp apiKFSendAnswer
	if err := c.call(ctx, apiCall{api: "kf/send_msg", method: "POST", tokens: c.appTokens, body: body}, &resp); err != nil {
		return "", err
	}
	return resp.MsgID, nil
}

// OASendCustomText sends an Official Account customer-service text message
// (message/custom/send). The OA allows 5 messages within 48 hours of the
// user's last message (3 within a minute after a menu click, follow or scan);
// outside it the error matches ErrAPIOutsideWindow (45015, 45047).
func (c *APIClient) OASendCustomText(ctx context.Context, openID, content string) error {
	return c.call(ctx, apiCall{
		api: "message/custom/send", method: "POST", tokens: c.oaTokens,
		body: message.NewCustomerTextMessage(openID, content),
	}, nil)
}

// OAUserInfo is an Official Account follower (user/info). Subscribe is 0
// when the user does not follow the account; then only OpenID and UnionID
// are set.
type OAUserInfo struct {
	Subscribe      int     `json:"subscribe"`
	OpenID         string  `json:"openid"`
	Nickname       string  `json:"nickname"`
	Language       string  `json:"language"`
	HeadImgURL     string  `json:"headimgurl"`
	SubscribeTime  int64   `json:"subscribe_time"`
	UnionID        string  `json:"unionid"`
	Remark         string  `json:"remark"`
	TagIDList      []int64 `json:"tagid_list"`
	SubscribeScene string  `json:"subscribe_scene"`
	QrScene        int64   `json:"qr_scene"`
	QrSceneStr     string  `json:"qr_scene_str"`
}

type apiOAUserAnswer struct {
	apiStatus
	OAUserInfo
}

// OAGetUserInfo returns a follower's profile, including the unionid that
// links them to their WeCom external contact.
func (c *APIClient) OAGetUserInfo(ctx context.Context, openID string) (*OAUserInfo, error) {
	var resp apiOAUserAnswer
	if err := c.call(ctx, apiCall{
		api: "user/info", method: "GET", tokens: c.oaTokens, idempotent: true,
		query: url.Values{"openid": {openID}, "lang": {"zh_CN"}},
	}, &resp); err != nil {
		return nil, err
	}
	return &resp.OAUserInfo, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
