package wecom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/silenceper/wechat/v2/work/externalcontact"
)

// Contact types reuse the SDK's where they match the wire format.
type (
	// ExternalUser is a customer's profile from externalcontact/get.
	ExternalUser = externalcontact.ExternalUser
	// FollowUser is one staff member's relationship with a customer: remark,
	// state (the 渠道 of the contact way used), createtime and tags.
	FollowUser = externalcontact.FollowUser
	// FollowUserTag is a tag as listed on a FollowUser.
	FollowUserTag = externalcontact.Tag
	// TagGroup is a corp tag group with its tags.
	TagGroup = externalcontact.TagGroup
	// CorpTag is one tag in a TagGroup.
	CorpTag = externalcontact.TagGroupTagItem
	// CorpTagItem names a tag to create.
	CorpTagItem = externalcontact.AddCropTagItem
)

// ExternalContactInfo is a customer with every staff member who follows them.
type ExternalContactInfo struct {
	Contact     ExternalUser
	FollowUsers []FollowUser
}

// GetExternalContact returns a customer and all their follow users (it walks
// next_cursor when a customer has more than one page of them). WeCom answers
// 84061 for an unknown or no longer related external_userid.
func (c *APIClient) GetExternalContact(ctx context.Context, externalUserID string) (*ExternalContactInfo, error) {
	var info ExternalContactInfo
	cursor := ""
	for page := 0; ; page++ {
		q := url.Values{"external_userid": {externalUserID}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var resp externalcontact.ExternalUserDetailResponse
		if err := c.call(ctx, apiCall{
			api: "externalcontact/get", method: "GET", tokens: c.contactTokens, query: q, idempotent: true,
		}, &resp); err != nil {
			return nil, err
		}
		if page == 0 {
			info.Contact = resp.ExternalContact
		}
		info.FollowUsers = append(info.FollowUsers, resp.FollowUser...)
		if resp.NextCursor == "" || resp.NextCursor == cursor || page >= 100 {
			return &info, nil
		}
		cursor = resp.NextCursor
	}
}

// ListExternalContacts returns the external_userids a staff member follows.
// WeCom answers 84061 when the member has none; that is an empty list here.
func (c *APIClient) ListExternalContacts(ctx context.Context, userID string) ([]string, error) {
	var resp externalcontact.ExternalUserListResponse
	err := c.call(ctx, apiCall{
		api: "externalcontact/list", method: "GET", tokens: c.contactTokens,
		query: url.Values{"userid": {userID}}, idempotent: true,
	}, &resp)
	if APIErrorCode(err) == 84061 {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	if resp.ExternalUserID == nil {
		return []string{}, nil
	}
	return resp.ExternalUserID, nil
}

// BatchContact is one (customer, follow user) pair from batch/get_by_user.
// The SDK's type is not used: it declares external_profile as a string (it
// is an object) and lacks follow_info.state.
type BatchContact struct {
	ExternalContact BatchExternalUser `json:"external_contact"`
	FollowInfo      BatchFollowInfo   `json:"follow_info"`
}

// BatchExternalUser is the customer half of a BatchContact.
type BatchExternalUser struct {
	ExternalUserID  string          `json:"external_userid"`
	Name            string          `json:"name"`
	Position        string          `json:"position"`
	Avatar          string          `json:"avatar"`
	CorpName        string          `json:"corp_name"`
	CorpFullName    string          `json:"corp_full_name"`
	Type            int             `json:"type"` // 1 WeChat user, 2 WeCom user
	Gender          int             `json:"gender"`
	UnionID         string          `json:"unionid"`
	ExternalProfile json.RawMessage `json:"external_profile,omitempty"`
}

// BatchFollowInfo is the staff half of a BatchContact.
type BatchFollowInfo struct {
	UserID         string   `json:"userid"`
	Remark         string   `json:"remark"`
	Description    string   `json:"description"`
	CreateTime     int64    `json:"createtime"`
	TagIDs         []string `json:"tag_id"`
	RemarkCorpName string   `json:"remark_corp_name"`
	RemarkMobiles  []string `json:"remark_mobiles"`
	OperUserID     string   `json:"oper_userid"`
	AddWay         int      `json:"add_way"`
	State          string   `json:"state"`
}

// ContactBatchPage is one page of batch/get_by_user.
type ContactBatchPage struct {
	Contacts   []BatchContact
	NextCursor string // "" on the last page
}

type apiBatchAnswer struct {
	apiStatus
	ExternalContactList []BatchContact `json:"external_contact_list"`
	NextCursor          string         `json:"next_cursor"`
}

// BatchGetByUser returns one page of the customers of up to 100 staff
// members. limit is 1..100 (0 means 100).
func (c *APIClient) BatchGetByUser(ctx context.Context, userIDs []string, cursor string, limit int) (*ContactBatchPage, error) {
	if len(userIDs) == 0 || len(userIDs) > 100 {
		return nil, fmt.Errorf("wecom: externalcontact/batch/get_by_user: need 1..100 userids, got %d", len(userIDs))
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	var resp apiBatchAnswer
	if err := c.call(ctx, apiCall{
		api: "externalcontact/batch/get_by_user", method: "POST", tokens: c.contactTokens, idempotent: true,
		body: externalcontact.BatchGetExternalUserDetailsRequest{UserIDList: userIDs, Cursor: cursor, Limit: limit},
	}, &resp); err != nil {
		return nil, err
	}
	return &ContactBatchPage{Contacts: resp.ExternalContactList, NextCursor: resp.NextCursor}, nil
}

// GetCorpTagList returns the corp's tag groups, all of them when both
// filters are empty; groupIDs wins over tagIDs when both are given.
func (c *APIClient) GetCorpTagList(ctx context.Context, tagIDs, groupIDs []string) ([]TagGroup, error) {
	var resp externalcontact.GetCropTagListResponse
	if err := c.call(ctx, apiCall{
		api: "externalcontact/get_corp_tag_list", method: "POST", tokens: c.contactTokens, idempotent: true,
		body: externalcontact.GetCropTagRequest{TagID: nonNil(tagIDs), GroupID: nonNil(groupIDs)},
	}, &resp); err != nil {
		return nil, err
	}
	if resp.TagGroup == nil {
		return []TagGroup{}, nil
	}
	return resp.TagGroup, nil
}

// AddCorpTagRequest creates tags in the group GroupID, or in the group named
// GroupName (created when missing).
type AddCorpTagRequest struct {
	GroupID   string        `json:"group_id,omitempty"`
	GroupName string        `json:"group_name,omitempty"`
	Order     int           `json:"order,omitempty"`
	Tags      []CorpTagItem `json:"tag"`
}

type apiAddTagAnswer struct {
	apiStatus
	TagGroup TagGroup `json:"tag_group"`
}

// AddCorpTag creates tags and returns the group holding only the new tags,
// with their ids. WeCom answers 40071 when a tag name already exists in the
// group. It is not retried after transport errors: a resend could create the
// tags twice.
func (c *APIClient) AddCorpTag(ctx context.Context, req AddCorpTagRequest) (*TagGroup, error) {
	if req.GroupID == "" && req.GroupName == "" {
		return nil, fmt.Errorf("wecom: externalcontact/add_corp_tag: group_id or group_name is required")
	}
	var resp apiAddTagAnswer
	if err := c.call(ctx, apiCall{
		api: "externalcontact/add_corp_tag", method: "POST", tokens: c.contactTokens, body: req,
	}, &resp); err != nil {
		return nil, err
	}
	return &resp.TagGroup, nil
}

// DelCorpTag deletes tags and whole groups. (The SDK's request names the
// field agent_id; the API's is agentid, and a self-built app sends none.)
func (c *APIClient) DelCorpTag(ctx context.Context, tagIDs, groupIDs []string) error {
	if len(tagIDs) == 0 && len(groupIDs) == 0 {
		return fmt.Errorf("wecom: externalcontact/del_corp_tag: nothing to delete")
	}
	body := struct {
		TagID   []string `json:"tag_id,omitempty"`
		GroupID []string `json:"group_id,omitempty"`
	}{tagIDs, groupIDs}
	return c.call(ctx, apiCall{
		api: "externalcontact/del_corp_tag", method: "POST", tokens: c.contactTokens, body: body, idempotent: true,
	}, nil)
}

// MarkTag adds and removes corp tags on a customer as seen by one staff
// member. At most MarkTagConcurrency (5) calls run at once: WeCom answers
// 45033 above that. Adding or removing a tag twice is harmless, so
// transport errors are retried.
func (c *APIClient) MarkTag(ctx context.Context, userID, externalUserID string, add, remove []string) error {
	if len(add) == 0 && len(remove) == 0 {
		return fmt.Errorf("wecom: externalcontact/mark_tag: no tag to add or remove")
	}
	select {
	case c.markCh <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wecom: externalcontact/mark_tag: waiting for a slot: %w", ctx.Err())
	}
	defer func() { <-c.markCh }()
	return c.call(ctx, apiCall{
		api: "externalcontact/mark_tag", method: "POST", tokens: c.contactTokens, idempotent: true,
		body: externalcontact.MarkTagRequest{UserID: userID, ExternalUserID: externalUserID, AddTag: nonNil(add), RemoveTag: nonNil(remove)},
	}, nil)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
