package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/scrmhq/scrm/store"
)

// ClaimStore is what a claim writes beyond the other actions: the claim
// event that decides the first press, and the follow it makes.
type ClaimStore interface {
	AppendEvents(ctx context.Context, evs []*store.Event) ([]bool, error)
	UpsertCustomer(ctx context.Context, u store.CustomerUpsert) (*store.Customer, error)
	store.InboxStateStore // the offers claimed and who won each
}

// ClaimRequest is a claim of an unassigned customer.
type ClaimRequest struct {
	CustomerID string
	Via        string    // "card", "command", "api": how the claim was made
	At         time.Time // zero: now
}

// ClaimResult is how a claim ended that was not refused.
type ClaimResult struct {
	Customer *store.Customer
	// Won: the actor is now the owner (or already was: Already).
	Won     bool
	Already bool
	// Winner is the owner when someone else was first.
	Winner string
}

// errClaimPending means a claim was decided but not yet applied: the
// pipeline retries shortly, when the winner is known.
var errClaimPending = &ActionError{Err: store.ErrConflict, Reason: "the claim is being decided, retry shortly", Text: "这位客户正在被接待，请稍后再试。"}

func canClaim(v Viewer) bool {
	return v.Role == RoleSales || v.Role == RoleManager || v.Role == RoleAdmin
}

// mayClaim reports whether v may claim c, which has no active owner: anyone
// who can claim may take a never-owned customer, admins any customer, and
// otherwise only the team a churned customer returns to.
func (c *Core) mayClaim(ctx context.Context, v Viewer, cu *store.Customer) (bool, error) {
	if !canClaim(v) {
		return false, nil
	}
	if v.Role == RoleAdmin || !churned(cu) {
		return true, nil
	}
	staff, err := c.st.FindStaff(ctx)
	if err != nil {
		return false, fmt.Errorf("actions: staff: %w", err)
	}
	managers, members := returnTeam(cu, staff)
	return slices.Contains(managers, v.StaffID) || slices.Contains(members, v.StaffID), nil
}

// Claim makes a the owner of an unassigned customer unless someone was
// first. Customers without an owner are not visible to salespeople, so the
// rule is the claim's own: anyone who can claim may take a never-owned
// customer who has written in, admins any, and only the former owner's team
// (returnTeam) a churned one; a customer outside that rule is reported as
// not found.
//
// First press wins across instances: the decision is the claim event in
// the log under the unique dedup key "inbox:claim:<customer>:<round>".
// Writes, in the actions' order: the audit entry (the intent), the claim
// event (the decision), then for the winner the timeline entry (keyed by
// the event) and the follow, applyClaim's idempotent steps, which the
// pipeline repeats when it processes the event, so a crash anywhere is
// repaired. A press that lost is told the winner, or errClaimPending while
// the winner's claim is not yet applied.
func (c *Core) Claim(ctx context.Context, a Actor, req ClaimRequest) (*ClaimResult, error) {
	if !canClaim(a.Viewer) || a.entryStaff() == "" {
		// The admin token is no staff member: nobody to own the customer.
		return nil, forbidden("only staff members may claim customers", "你没有接待客户的权限，请联系管理员。")
	}
	if req.CustomerID == "" || len(req.CustomerID) > 128 {
		return nil, errCustomerNotFound()
	}
	cu, err := c.st.FindCustomerByID(ctx, req.CustomerID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errCustomerNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("actions: find customer %s: %w", req.CustomerID, err)
	}
	if owners := activeOwners(cu); len(owners) > 0 {
		if slices.Contains(owners, a.StaffID) {
			return &ClaimResult{Customer: cu, Won: true, Already: true}, nil
		}
		if !a.CanSee(cu) {
			// Someone else's customer: only its claim through the inbox,
			// which decided the owner, is told; otherwise it looks absent.
			st, err := loadOffer(ctx, c.st, cu.ID)
			if err != nil {
				return nil, err
			}
			if st.Round == 0 && st.ClaimedBy == "" {
				return nil, errCustomerNotFound()
			}
		}
		return &ClaimResult{Customer: cu, Winner: owners[0]}, nil
	}
	// The pool is customers who have written in: a never-owned customer
	// who has not (an imported one, say) is nobody's to claim by guessing
	// an ID; admins assign those.
	inPool := cu.LastCustomerMsgAt != nil || churned(cu) || a.Role == RoleAdmin
	if ok, err := c.mayClaim(ctx, a.Viewer, cu); err != nil {
		return nil, err
	} else if !ok || !inPool {
		// A claim outside the claimer's team does not even confirm the
		// customer exists.
		return nil, errCustomerNotFound()
	}
	st, err := loadOffer(ctx, c.st, cu.ID)
	if err != nil {
		return nil, err
	}
	at := c.at(req.At)
	round := strconv.Itoa(st.Round)
	if err := c.audit(ctx, a, AuditClaim, cu.ID, "round="+round+" via="+req.Via, at); err != nil {
		return nil, err
	}
	ev := &store.Event{
		DedupKey: "inbox:claim:" + cu.ID + ":" + round,
		Channel:  store.ChannelWeCom,
		Kind:     KindClaim,
		FromID:   a.StaffID,
		StaffID:  a.StaffID,
		Attrs:    map[string]string{"customer_id": cu.ID, "round": round, "via": req.Via, "source": a.Source},
		// Customers' words are not part of a claim; Raw records its facts.
		Raw:        []byte(fmt.Sprintf(`{"customer_id":%q,"staff_id":%q,"round":%d,"via":%q,"source":%q}`, cu.ID, a.StaffID, st.Round, req.Via, a.Source)),
		OccurredAt: at,
		ReceivedAt: c.Now(),
	}
	inserted, err := c.st.AppendEvents(ctx, []*store.Event{ev})
	if err != nil {
		return nil, fmt.Errorf("actions: claim %s: %w", cu.ID, err)
	}
	if !inserted[0] {
		winner, err := c.st.ClaimWinner(ctx, cu.ID, st.Round)
		if err != nil {
			return nil, fmt.Errorf("actions: claim winner: %w", err)
		}
		if winner == "" {
			return nil, errClaimPending
		}
		if winner != a.StaffID {
			return &ClaimResult{Customer: cu, Winner: winner}, nil
		}
		return &ClaimResult{Customer: cu, Won: true}, nil
	}
	after, err := c.applyClaim(ctx, ev)
	if err != nil {
		return nil, err
	}
	if after == nil {
		return nil, errCustomerNotFound()
	}
	return &ClaimResult{Customer: after, Won: true}, nil
}

// applyClaim carries out a decided claim event: the timeline entry (keyed
// by the event, in the actions' schema), the winner's follow, the winner's
// record and the offer's. Every step is idempotent; the inbox runs it again
// when the pipeline processes the event. It returns nil for a customer that
// is gone.
func (c *Core) applyClaim(ctx context.Context, ev *store.Event) (*store.Customer, error) {
	id, staff := ev.Attrs["customer_id"], ev.StaffID
	round, _ := strconv.Atoi(ev.Attrs["round"])
	cu, err := c.st.FindCustomerByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(cu.Identities) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("actions: find customer %s: %w", id, err)
	}
	// Claim events from before the actions carry no source: the bot's.
	source := ev.Attrs["source"]
	if source == "" {
		source = SourceBot
	}
	if _, err := c.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: cu.ID,
		SourceKey:  "event:" + ev.DedupKey,
		Kind:       store.EntryEvent,
		StaffID:    staff,
		Text:       staffName(ctx, c.st, staff) + " 接待了该客户",
		Attrs:      map[string]string{"change": "claim", "via": ev.Attrs["via"], "round": ev.Attrs["round"], "by": staff, "source": source},
		At:         ev.OccurredAt,
	}); err != nil {
		return nil, fmt.Errorf("actions: claim entry of %s: %w", cu.ID, err)
	}
	after, err := c.st.UpsertCustomer(ctx, store.CustomerUpsert{
		Identity: cu.Identities[0],
		Follow:   &store.Follow{StaffID: staff, State: FollowStateInbox, AddedAt: ev.OccurredAt},
		Now:      ev.ReceivedAt,
	})
	if err != nil {
		return nil, fmt.Errorf("actions: apply claim of %s: %w", cu.ID, err)
	}
	if err := c.st.SetClaimWinner(ctx, cu.ID, round, staff); err != nil {
		return nil, fmt.Errorf("actions: record claim: %w", err)
	}
	st, err := loadOffer(ctx, c.st, cu.ID)
	if err != nil {
		return nil, err
	}
	if st.Round == round && st.ClaimedBy == "" {
		st.ClaimedBy = staff
		if err := saveOffer(ctx, c.st, st); err != nil {
			return nil, err
		}
	}
	return after, nil
}
