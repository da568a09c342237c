package handlers

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// Customer groups (客户群) in the API: GET /groups lists the groups the
// caller's scope owns, and a customer's detail carries the groups they are in.

// groupItem is one group in GET /groups. Members are counted, not listed:
// a manager may see a team member's group while some customers in it belong
// to another team, and listing them would show those customers.
type groupItem struct {
	ChatID          string     `json:"chat_id"`
	Name            string     `json:"name"`
	OwnerID         string     `json:"owner_id"`
	Notice          string     `json:"notice,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	Dismissed       bool       `json:"dismissed,omitempty"`
	DismissedAt     *time.Time `json:"dismissed_at,omitempty"`
	Members         int        `json:"members"`
	ExternalMembers int        `json:"external_members"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

func toGroupItem(g *store.Group) groupItem {
	it := groupItem{ChatID: g.ChatID, Name: g.Name, OwnerID: g.OwnerID, Notice: g.Notice, CreatedAt: g.CreatedAt,
		Dismissed: g.Dismissed, DismissedAt: g.DismissedAt, Members: len(g.Members), UpdatedAt: g.UpdatedAt}
	for _, m := range g.Members {
		if m.Type == store.GroupMemberExternal {
			it.ExternalMembers++
		}
	}
	return it
}

// listGroups pages the groups owned by the caller's scope: an admin's is
// everyone, a manager's their team, a salesperson's themselves. owner= only
// narrows it; an owner outside the scope yields an empty page.
func (h *crmAPI) listGroups(c *fiber.Ctx) error {
	limit, cursor, err := pageQuery(c)
	if err != nil {
		return err
	}
	f := store.GroupFilter{AfterChatID: cursor, Limit: limit + 1, OwnerIDs: ownerScope(principalOf(c).viewer, query(c, "owner"))}
	if v := c.Query("include_dismissed"); v != "" {
		if f.IncludeDismissed, err = strconv.ParseBool(v); err != nil {
			return errorf(fiber.StatusBadRequest, "include_dismissed must be true or false", nil)
		}
	}
	list, err := h.rd.FindGroups(c.UserContext(), f)
	if err != nil {
		return fmt.Errorf("api: list groups: %w", err)
	}
	groups := cutPage(list, limit, func(g *store.Group) string { return g.ChatID })
	out := page[groupItem]{Items: make([]groupItem, 0, len(groups.Items)), NextCursor: groups.NextCursor}
	for _, g := range groups.Items {
		out.Items = append(out.Items, toGroupItem(g))
	}
	return sendJSON(c, fiber.StatusOK, out)
}

// customerDetail is GET /customers/{id}: the customer and their groups.
type customerDetail struct {
	*store.Customer
	Groups []store.CustomerGroup `json:"groups"`
	// Reminders are the customer's open reminders the caller may act on
	// (soonest first); Promises those of them that are promises made in
	// the conversation.
	Reminders []*store.Reminder `json:"reminders"`
	Promises  []*store.Reminder `json:"promises"`
	// Channel is the channel the customer first came through (null for
	// none); Channels every channel of their follows, the first first.
	Channel  *bot.CustomerChannel  `json:"channel"`
	Channels []bot.CustomerChannel `json:"channels"`
}

// customerGroups lists the groups of a customer the caller may see (the
// caller has already been checked against the customer).
func (h *crmAPI) customerGroups(c *fiber.Ctx, cu *store.Customer) ([]store.CustomerGroup, error) {
	gs := h.rd
	groups, err := gs.FindCustomerGroups(c.UserContext(), cu.ID)
	if err != nil {
		return nil, fmt.Errorf("api: groups of customer %s: %w", cu.ID, err)
	}
	return groups, nil
}
