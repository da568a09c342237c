package store

import (
	"context"
	"time"
)

// QuickReply is one script of the quick-reply library (话术库): text a
// salesperson sends with one tap from the chat sidebar, filed under a group.
// Text may hold variables (#客户昵称#, #员工姓名#) filled in per customer.
type QuickReply struct {
	ID        string
	Group     string // the group it is filed under, e.g. "开场白"
	Title     string
	Text      string
	Uses      int64 // how often staff sent it
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// QuickReplyUpdate changes the set fields of a quick reply.
type QuickReplyUpdate struct {
	Group, Title, Text *string
	At                 time.Time
}

// QuickReplyStore keeps the quick-reply library. It is small (bounded by
// the core), so it is listed whole and searched by the caller.
type QuickReplyStore interface {
	// CreateQuickReply stores q. ErrInvalid without ID or Text; ErrConflict
	// if a quick reply with the ID exists.
	CreateQuickReply(ctx context.Context, q *QuickReply) error
	// FindQuickReplyByID returns ErrNotFound if there is none.
	FindQuickReplyByID(ctx context.Context, id string) (*QuickReply, error)
	// FindQuickReplies returns every quick reply, by group, then by title,
	// then by ID.
	FindQuickReplies(ctx context.Context) ([]*QuickReply, error)
	// UpdateQuickReply applies upd and returns the result; ErrNotFound if
	// there is none.
	UpdateQuickReply(ctx context.Context, id string, upd QuickReplyUpdate) (*QuickReply, error)
	// DeleteQuickReply removes it; ErrNotFound if there is none.
	DeleteQuickReply(ctx context.Context, id string) error
	// CountQuickReplyUse adds one to Uses, losing none under concurrent
	// calls from any instance, and returns a count that includes this use;
	// ErrNotFound if there is none.
	CountQuickReplyUse(ctx context.Context, id string) (int64, error)
}
