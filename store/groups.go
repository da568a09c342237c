package store

import (
	"context"
	"fmt"
	"time"
)

// This file declares customer groups (客户群): WeCom group chats that a staff
// member owns and customers are in. scrm keeps the state WeCom last reported
// for each group (externalcontact/groupchat/get), so a customer's detail can
// list their groups and a group's joins and leaves reach the timeline.

// Group member types, as WeCom's groupchat/get reports them.
const (
	GroupMemberStaff    = 1 // 企业成员: a staff member
	GroupMemberExternal = 2 // 外部联系人: a customer (WeChat or another corp's WeCom user)
)

// Group is one customer group as last seen in WeCom.
type Group struct {
	ChatID      string        `json:"chat_id"`
	Name        string        `json:"name"`
	OwnerID     string        `json:"owner_id"` // staff UserID of the 群主
	Notice      string        `json:"notice,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	Dismissed   bool          `json:"dismissed,omitempty"`
	DismissedAt *time.Time    `json:"dismissed_at,omitempty"`
	Members     []GroupMember `json:"members"`
	// UpdatedAt is when this state was read from WeCom. It orders
	// snapshots: an older one never overwrites a newer one.
	UpdatedAt time.Time `json:"updated_at"`
}

// GroupMember is one member of a Group. Names and nicknames are not kept:
// the customer record holds the name, and a member who is not a customer
// stays an ID.
type GroupMember struct {
	UserID    string    `json:"userid"` // staff UserID or the customer's external_userid
	Type      int       `json:"type"`   // GroupMemberStaff or GroupMemberExternal
	JoinedAt  time.Time `json:"joined_at"`
	JoinScene int       `json:"join_scene,omitempty"` // 1 invited, 2 invite link, 3 QR code
	UnionID   string    `json:"unionid,omitempty"`
}

// GroupChange is what UpsertGroup did.
type GroupChange struct {
	// Applied is false when the stored state was newer than the one given,
	// or the group is dismissed: nothing was written.
	Applied bool
	Created bool // the group was not stored before
	// Joined and Left are the external members (customers) that the new
	// member list adds to and removes from the stored one.
	Joined []GroupMember
	Left   []GroupMember
}

// GroupFilter selects groups for FindGroups.
type GroupFilter struct {
	// OwnerIDs keeps groups owned by any of these staff members. nil means
	// any owner; a non-nil empty list matches no group, so an empty scope
	// never widens to everyone.
	OwnerIDs         []string
	IncludeDismissed bool
	AfterChatID      string // cursor: groups with ChatID > AfterChatID
	Limit            int    // 0 means 50
}

// CustomerGroup is a customer's membership of a group that is not dismissed.
type CustomerGroup struct {
	ChatID    string    `json:"chat_id"`
	Name      string    `json:"name"`
	OwnerID   string    `json:"owner_id"`
	JoinedAt  time.Time `json:"joined_at"`
	JoinScene int       `json:"join_scene,omitempty"`
}

// GroupStore keeps customer groups and their members.
//
// Members are stored by their WeCom IDs, not by customer ID: a member is
// recognised as a customer at query time, through the customer's
// external_userid and unionid identities. A customer who becomes known after
// joining, or who is merged, is therefore found without rewriting groups,
// and EraseCustomer removes the member entries those identities name.
type GroupStore interface {
	// UpsertGroup stores g as the group's state, replacing its member list,
	// unless the stored state has a later UpdatedAt or the group is
	// dismissed (then Applied is false and nothing changes). Applying the
	// same state twice changes nothing and reports no joins or leaves.
	// ErrInvalid without ChatID or UpdatedAt, or for a member without
	// UserID.
	UpsertGroup(ctx context.Context, g *Group) (GroupChange, error)
	// DismissGroup marks the group dismissed at at (the first dismissal's
	// time is kept) and returns it with its last members. An unknown group
	// is recorded as dismissed, so a late snapshot cannot bring it back.
	// ErrInvalid without chatID.
	DismissGroup(ctx context.Context, chatID string, at time.Time) (*Group, error)
	// FindGroupByChatID returns ErrNotFound if the group is not stored.
	FindGroupByChatID(ctx context.Context, chatID string) (*Group, error)
	// FindGroups returns groups matching f ordered by ChatID.
	FindGroups(ctx context.Context, f GroupFilter) ([]*Group, error)
	// FindCustomerGroups returns the groups, not dismissed, that the
	// customer is a member of, by join time then ChatID. A merged-away ID
	// resolves to the survivor; ErrNotFound if the customer does not exist.
	FindCustomerGroups(ctx context.Context, customerID string) ([]CustomerGroup, error)
}

// DiffGroupMembers returns the external members of next that old lacks
// (joined) and those of old that next lacks (left), in next's and old's
// order. Both backends use it, so they report changes alike.
func DiffGroupMembers(old, next []GroupMember) (joined, left []GroupMember) {
	had := make(map[string]bool, len(old))
	for _, m := range old {
		had[m.UserID] = true
	}
	has := make(map[string]bool, len(next))
	for _, m := range next {
		has[m.UserID] = true
		if m.Type == GroupMemberExternal && !had[m.UserID] {
			joined = append(joined, m)
		}
	}
	for _, m := range old {
		if m.Type == GroupMemberExternal && !has[m.UserID] {
			left = append(left, m)
		}
	}
	return joined, left
}

// ValidateGroup checks what UpsertGroup requires: a ChatID, an UpdatedAt,
// and members with distinct, non-empty UserIDs.
func ValidateGroup(g *Group) error {
	if g == nil || g.ChatID == "" || g.UpdatedAt.IsZero() {
		return fmt.Errorf("group needs a chat id and an update time: %w", ErrInvalid)
	}
	seen := make(map[string]bool, len(g.Members))
	for _, m := range g.Members {
		if m.UserID == "" || seen[m.UserID] {
			return fmt.Errorf("group %s: member %q missing or repeated: %w", g.ChatID, m.UserID, ErrInvalid)
		}
		seen[m.UserID] = true
	}
	return nil
}
