package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scrmhq/scrm/store"
)

// AssignRequest moves a customer who is not a WeCom contact from one owner
// to another inside scrm.
type AssignRequest struct {
	CustomerID string
	From, To   string    // staff IDs
	Key        string    // idempotency key; empty: a fresh one
	At         time.Time // zero: now
}

// Assign hands a customer who is not a WeCom contact (imported, or known
// only on the Official Account or 微信客服) from req.From to req.To: WeCom's
// transfer cannot move them, so the follow changes in the store alone. The
// rules are HandOver's: an admin, or a manager for members of their team.
// It audits the change, writes the timeline entry "负责人：A → B", ends the
// old follow, adds the new one (keeping the remark) and moves the old
// owner's open reminders. A WeCom contact is refused (store.ErrInvalid):
// they go through HandOver, so WeCom and scrm agree on who owns them.
func (c *Core) Assign(ctx context.Context, a Actor, req AssignRequest) (*store.Customer, error) {
	if a.Role != RoleAdmin && a.Role != RoleManager {
		return nil, forbidden("your role may not do this", "只有主管可以转交客户。")
	}
	cu, err := c.visible(ctx, a, req.CustomerID)
	if err != nil {
		return nil, err
	}
	switch {
	case req.From == "" || req.To == "":
		return nil, invalid("from and to are required", "请说明由谁转交给谁。")
	case req.From == req.To:
		return nil, invalid("from and to are the same member", "转出和接替的是同一个人。")
	case externalUserID(cu) != "":
		return nil, invalid("a WeCom contact is handed over through WeCom", "该客户是企业微信客户，需经企业微信转接。")
	case len(cu.Identities) == 0:
		return nil, invalid("the customer has no identity to address", "该客户没有可用的身份信息，无法转交。")
	case !MayHandOver(a.Viewer, req.From, req.To):
		return nil, forbidden("from and to must both be in your team", "接替人需在你的团队中。")
	}
	i := slices.IndexFunc(cu.Follows, func(f store.Follow) bool { return f.StaffID == req.From && !f.Deleted })
	if i < 0 {
		return nil, invalid("from does not follow the customer", "该客户当前不由 "+staffName(ctx, c.st, req.From)+" 跟进。")
	}
	old := cu.Follows[i]
	to, err := c.st.FindStaffByID(ctx, req.To)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !to.Active) {
		return nil, invalid("to is not an active staff member", "接替人 "+req.To+" 不是在职员工。")
	}
	if err != nil {
		return nil, fmt.Errorf("actions: find staff %s: %w", req.To, err)
	}
	at, key := c.at(req.At), orRandomKey(req.Key)
	if err := c.audit(ctx, a, AuditAssign, cu.ID, fmt.Sprintf("from=%s to=%s key=%s", req.From, req.To, key), at); err != nil {
		return nil, err
	}
	if _, err := c.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: cu.ID, SourceKey: entryKey("assign", a, cu.ID, key), Kind: store.EntryEvent, StaffID: a.entryStaff(),
		Text:  "负责人：" + staffName(ctx, c.st, req.From) + " → " + staffLabel(to) + "（scrm 内转交）",
		Attrs: map[string]string{"change": "assign", "from": req.From, "to": req.To, "by": a.ID(), "source": a.Source},
		At:    at,
	}); err != nil {
		return nil, fmt.Errorf("actions: assign entry of %s: %w", cu.ID, err)
	}
	now := c.Now()
	u := store.CustomerUpsert{Identity: cu.Identities[0], Unfollow: req.From, Now: now}
	// A member who already follows keeps their own follow.
	if !slices.ContainsFunc(cu.Follows, func(f store.Follow) bool { return f.StaffID == req.To && !f.Deleted }) {
		u.Follow = &store.Follow{StaffID: req.To, Remark: old.Remark, State: old.State, AddedAt: at}
	}
	after, err := c.st.UpsertCustomer(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("actions: assign %s: %w", cu.ID, err)
	}
	if err := moveOpenReminders(ctx, c.st, cu.ID, req.From, req.To, "assign:"+key, now); err != nil {
		return nil, fmt.Errorf("actions: assign: %w", err)
	}
	return after, nil
}
