package wecom

import (
	"context"
	"fmt"

	"github.com/silenceper/wechat/v2/work/externalcontact"
)

// Customer group (客户群) types reuse the SDK's, which match the wire format
// of externalcontact/groupchat/get.
type (
	// GroupChat is a customer group: chat_id, name, owner, create_time,
	// notice, member_list, admin_list and member_version (the CurMemVer of
	// the latest change_external_chat event).
	GroupChat = externalcontact.GroupChat
	// GroupChatMember is one member: userid, type (1 staff, 2 external
	// contact), join_time, join_scene (1 invited, 2 invite link, 3 QR code),
	// invitor, group_nickname, name (with need_name=1) and unionid.
	GroupChatMember = externalcontact.GroupChatMember
	// GroupChatInvitor is the staff member who invited a GroupChatMember.
	GroupChatInvitor = externalcontact.Invitor
)

type apiGroupChatAnswer struct {
	apiStatus
	GroupChat GroupChat `json:"group_chat"`
}

// GetGroupChat returns a customer group with its members and their names.
// The group's owner must be in the app's visible range. WeCom answers 90501
// ("chat is not external group chat") for a chat that is not a customer
// group; like other errors that are not outages, it will not change on a
// retry.
func (c *APIClient) GetGroupChat(ctx context.Context, chatID string) (*GroupChat, error) {
	if chatID == "" {
		return nil, fmt.Errorf("wecom: externalcontact/groupchat/get: chat_id is required")
	}
	var resp apiGroupChatAnswer
	if err := c.call(ctx, apiCall{
		api: "externalcontact/groupchat/get", method: "POST", tokens: c.contactTokens, idempotent: true,
		body: externalcontact.GroupChatDetailRequest{ChatID: chatID, NeedName: 1},
	}, &resp); err != nil {
		return nil, err
	}
	if resp.GroupChat.MemberList == nil {
		resp.GroupChat.MemberList = []GroupChatMember{}
	}
	return &resp.GroupChat, nil
}

// GroupChatRef is one entry of groupchat/list: a chat id and the owner's
// status (0 normal, 1 owner resigned, 2 being inherited, 3 inherited).
type GroupChatRef struct {
	ChatID string `json:"chat_id"`
	Status int    `json:"status"`
}

// GroupChatPage is one page of groupchat/list.
type GroupChatPage struct {
	Chats      []GroupChatRef
	NextCursor string // "" on the last page
}

// groupChatListRequest is written here rather than taken from the SDK,
// whose owner_filter is always sent, as {"userid_list":null} when empty.
type groupChatListRequest struct {
	StatusFilter int                   `json:"status_filter"`
	OwnerFilter  *groupChatOwnerFilter `json:"owner_filter,omitempty"`
	Cursor       string                `json:"cursor,omitempty"`
	Limit        int                   `json:"limit"`
}

type groupChatOwnerFilter struct {
	UserIDList []string `json:"userid_list"`
}

type apiGroupChatListAnswer struct {
	apiStatus
	GroupChatList []GroupChatRef `json:"group_chat_list"`
	NextCursor    string         `json:"next_cursor"`
}

// ListGroupChats returns one page of the customer groups owned by owners
// (at most 100; none means every owner in the app's visible range, which
// WeCom refuses with 81017 when that range has more than 1000 people),
// whatever their owner's status. limit is 1..1000 (0 means 1000).
func (c *APIClient) ListGroupChats(ctx context.Context, owners []string, cursor string, limit int) (*GroupChatPage, error) {
	if len(owners) > 100 {
		return nil, fmt.Errorf("wecom: externalcontact/groupchat/list: at most 100 owners, got %d", len(owners))
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	req := groupChatListRequest{Cursor: cursor, Limit: limit}
	if len(owners) > 0 {
		req.OwnerFilter = &groupChatOwnerFilter{UserIDList: owners}
	}
	var resp apiGroupChatListAnswer
	if err := c.call(ctx, apiCall{
		api: "externalcontact/groupchat/list", method: "POST", tokens: c.contactTokens, idempotent: true, body: req,
	}, &resp); err != nil {
		return nil, err
	}
	if resp.GroupChatList == nil {
		resp.GroupChatList = []GroupChatRef{}
	}
	return &GroupChatPage{Chats: resp.GroupChatList, NextCursor: resp.NextCursor}, nil
}
