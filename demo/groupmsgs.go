package demo

import (
	"errors"
	"slices"
	"time"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// A campaign (群发) made in the console reaches WeCom as one mass message
// per salesperson, which they confirm and send from their WeCom app. The
// demo plays that app: each salesperson's pending mass messages, with the
// customers they would reach and a 发送 button.

// GroupMsgView is one mass message as its sender sees it.
type GroupMsgView struct {
	MsgID      string    `json:"msgid"`
	Text       string    `json:"text"`
	Recipients []string  `json:"recipients"` // customers' names (or IDs), groups' IDs
	CreatedAt  time.Time `json:"created_at"`
	Sent       bool      `json:"sent"`
}

// ErrNoGroupMsg: no such mass message of this sender, or it was withdrawn.
var ErrNoGroupMsg = errors.New("demo: no such mass message")

// groupMsgsShown bounds the list: the newest matter, and the page stays short.
const groupMsgsShown = 5

// GroupMsgs lists staffID's mass messages that were not withdrawn, newest
// first: those awaiting 发送 and the last ones sent.
func (d *Demo) GroupMsgs(staffID string) []GroupMsgView {
	names := map[string]string{}
	for _, p := range People {
		names[p.ExternalUserID] = p.Name
	}
	var out []GroupMsgView
	for _, m := range d.o.Sim.GroupMsgs() {
		if m.Creator != staffID || m.Cancelled {
			continue
		}
		v := GroupMsgView{MsgID: m.MsgID, Text: m.Text, CreatedAt: m.CreateTime, Sent: m.Sent}
		for _, r := range m.Recipients {
			v.Recipients = append(v.Recipients, recipientName(r, names))
		}
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b GroupMsgView) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out[:min(len(out), groupMsgsShown)]
}

func recipientName(r wecomtest.SimGroupMsgRecipient, names map[string]string) string {
	if r.ChatID != "" {
		return "客户群 " + r.ChatID
	}
	if n := names[r.ExternalUserID]; n != "" {
		return n
	}
	return r.ExternalUserID
}

// SendGroupMsg is staffID pressing 发送 on their mass message msgID.
func (d *Demo) SendGroupMsg(staffID, msgID string) error {
	if !slices.ContainsFunc(d.GroupMsgs(staffID), func(v GroupMsgView) bool { return v.MsgID == msgID && !v.Sent }) ||
		!d.o.Sim.ConfirmGroupMsg(msgID) {
		return ErrNoGroupMsg
	}
	d.addActivity("in", "企业微信："+staffName(staffID)+" 确认发送了一条群发", "ok")
	return nil
}
