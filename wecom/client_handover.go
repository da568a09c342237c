package wecom

import (
	"context"
	"fmt"
	"unicode/utf8"
)

// Customer handover (WeCom's 在职继承 and 离职继承): a salesperson's
// customers are handed to a colleague, so a customer stays with the company
// when the salesperson moves on or leaves. WeCom calls these APIs
// transfer_customer and transfer_result; scrm says "handover" because
// "transfer" already names its import and export.
//
// A handover is asynchronous on WeCom's side: a successful call only starts
// it, the customer is told and may refuse, and WeCom completes it by itself
// after 24 hours. HandoverResult reports where each customer stands.

// Limits of transfer_customer.
const (
	MaxHandoverCustomers  = 100 // external_userid per call
	MaxHandoverMsgRunes   = 200 // transfer_success_msg
	HandoverResultMaxPage = 1000
)

// Handover statuses of transfer_result. 1–4 are documented; 5 is returned
// by the older get_transfer_result and reported by the community.
const (
	HandoverDone     = 1 // 接替完毕
	HandoverWaiting  = 2 // 等待接替
	HandoverRefused  = 3 // 客户拒绝
	HandoverLimit    = 4 // 接替成员客户达到上限
	HandoverNoRecord = 5 // 无接替记录
)

// Per-customer error codes of transfer_customer that scrm tells apart
// (WeCom's global error codes).
const (
	HandoverErrInvalidContact = 40096 // 不合法的外部联系人userid
	HandoverErrNotResigned    = 40097 // 该成员尚未离职 (resigned handover of a current member)
	HandoverErrContactLimit   = 40099 // 外部联系人的数量已达上限
	HandoverErrTooFrequent    = 40128 // 客户转接过于频繁 (twice per customer in 90 days)
	HandoverErrInProgress     = 40129 // 当前客户正在转接中
	HandoverErrSameMember     = 40130 // 原跟进人与接手人一样
	HandoverErrNotFollower    = 40131 // handover_userid 并不是外部联系人的跟进人
)

// HandoverRequest hands customers of one member to another.
type HandoverRequest struct {
	HandoverUserID  string   // the member the customers leave
	TakeoverUserID  string   // the member who takes them over
	ExternalUserIDs []string // 1..MaxHandoverCustomers
	// SuccessMsg is sent to each customer once taken over (on-job only; at
	// most MaxHandoverMsgRunes; empty: WeCom's default text).
	SuccessMsg string
	// Resigned selects 离职继承 (resigned/transfer_customer): the handover
	// member must have left the company.
	Resigned bool
}

// HandoverCustomerResult is WeCom's answer for one customer of a
// HandoverRequest: ErrCode 0 means the handover started, not that it
// succeeded.
type HandoverCustomerResult struct {
	ExternalUserID string `json:"external_userid"`
	ErrCode        int    `json:"errcode"`
}

type apiHandoverBody struct {
	HandoverUserID string   `json:"handover_userid"`
	TakeoverUserID string   `json:"takeover_userid"`
	ExternalUserID []string `json:"external_userid"`
	SuccessMsg     string   `json:"transfer_success_msg,omitempty"`
}

type apiHandoverAnswer struct {
	apiStatus
	Customer []HandoverCustomerResult `json:"customer"`
}

// HandoverCustomers starts a handover and returns the per-customer results.
// It is not resent after a transport error: a second start of the same
// handover is answered 40129 (already in progress), so a caller that lost
// the answer should read HandoverResult instead.
func (c *APIClient) HandoverCustomers(ctx context.Context, req HandoverRequest) ([]HandoverCustomerResult, error) {
	api := handoverAPI(req.Resigned, "transfer_customer")
	switch {
	case req.HandoverUserID == "" || req.TakeoverUserID == "":
		return nil, fmt.Errorf("wecom: %s: handover and takeover userid are required", api)
	case len(req.ExternalUserIDs) == 0 || len(req.ExternalUserIDs) > MaxHandoverCustomers:
		return nil, fmt.Errorf("wecom: %s: need 1..%d external_userid, got %d", api, MaxHandoverCustomers, len(req.ExternalUserIDs))
	case req.Resigned && req.SuccessMsg != "":
		return nil, fmt.Errorf("wecom: %s: a resigned handover sends no transfer_success_msg", api)
	case utf8.RuneCountInString(req.SuccessMsg) > MaxHandoverMsgRunes:
		return nil, fmt.Errorf("wecom: %s: transfer_success_msg is longer than %d characters", api, MaxHandoverMsgRunes)
	}
	var resp apiHandoverAnswer
	if err := c.call(ctx, apiCall{
		api: api, method: "POST", tokens: c.contactTokens,
		body: apiHandoverBody{HandoverUserID: req.HandoverUserID, TakeoverUserID: req.TakeoverUserID,
			ExternalUserID: req.ExternalUserIDs, SuccessMsg: req.SuccessMsg},
	}, &resp); err != nil {
		return nil, err
	}
	if resp.Customer == nil {
		return []HandoverCustomerResult{}, nil
	}
	return resp.Customer, nil
}

// HandoverQuery selects one page of transfer_result: the handovers from one
// member to another, on-job or resigned.
type HandoverQuery struct {
	HandoverUserID string
	TakeoverUserID string
	Resigned       bool
	Cursor         string // "" for the first page
}

// HandoverRecord is where one customer's handover stands.
type HandoverRecord struct {
	ExternalUserID string `json:"external_userid"`
	Status         int    `json:"status"` // HandoverDone … HandoverNoRecord
	// TakeoverTime is a unix time: when the customer was taken over, or for
	// HandoverWaiting when WeCom will take them over by itself; 0 when none.
	TakeoverTime int64 `json:"takeover_time"`
}

// HandoverPage is one page of transfer_result.
type HandoverPage struct {
	Customers  []HandoverRecord
	NextCursor string // "" on the last page
}

type apiHandoverResultBody struct {
	HandoverUserID string `json:"handover_userid"`
	TakeoverUserID string `json:"takeover_userid"`
	Cursor         string `json:"cursor,omitempty"`
}

type apiHandoverResultAnswer struct {
	apiStatus
	Customer   []HandoverRecord `json:"customer"`
	NextCursor string           `json:"next_cursor"`
}

// HandoverResult returns one page (at most HandoverResultMaxPage records)
// of the handovers from q.HandoverUserID to q.TakeoverUserID. A customer
// handed over several times between the two may appear more than once.
func (c *APIClient) HandoverResult(ctx context.Context, q HandoverQuery) (*HandoverPage, error) {
	api := handoverAPI(q.Resigned, "transfer_result")
	if q.HandoverUserID == "" || q.TakeoverUserID == "" {
		return nil, fmt.Errorf("wecom: %s: handover and takeover userid are required", api)
	}
	var resp apiHandoverResultAnswer
	if err := c.call(ctx, apiCall{
		api: api, method: "POST", tokens: c.contactTokens, idempotent: true,
		body: apiHandoverResultBody{HandoverUserID: q.HandoverUserID, TakeoverUserID: q.TakeoverUserID, Cursor: q.Cursor},
	}, &resp); err != nil {
		return nil, err
	}
	page := &HandoverPage{Customers: resp.Customer, NextCursor: resp.NextCursor}
	if page.Customers == nil {
		page.Customers = []HandoverRecord{}
	}
	if page.NextCursor == q.Cursor {
		page.NextCursor = "" // a cursor that does not move would loop forever
	}
	return page, nil
}

// FindHandover walks every page of q (its Cursor is ignored) and returns the
// last record of externalUserID, the latest handover when the customer was
// handed over more than once between the two members; nil when there is
// none.
func (c *APIClient) FindHandover(ctx context.Context, q HandoverQuery, externalUserID string) (*HandoverRecord, error) {
	var found *HandoverRecord
	q.Cursor = ""
	for range 1000 {
		page, err := c.HandoverResult(ctx, q)
		if err != nil {
			return nil, err
		}
		for i := range page.Customers {
			if page.Customers[i].ExternalUserID == externalUserID {
				r := page.Customers[i]
				found = &r
			}
		}
		if page.NextCursor == "" {
			return found, nil
		}
		q.Cursor = page.NextCursor
	}
	return found, nil
}

func handoverAPI(resigned bool, name string) string {
	if resigned {
		return "externalcontact/resigned/" + name
	}
	return "externalcontact/" + name
}
