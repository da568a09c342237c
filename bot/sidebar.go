package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/scrmhq/scrm/store"
)

// The chat sidebar's card: what the page beside a WeCom chat shows, in one
// read. A single chat's card is its customer's (by the external_userid the
// JS-SDK's getCurExternalContact gives), read through ReadTimeline, so it
// is visibility-checked and audited like any other timeline read; a group
// chat's card (getCurExternalChat) is the group and the customers in it the
// caller may see.

// Bounds of a card.
const (
	sidebarScan       = 200 // timeline entries read for notes and sentiment points
	sidebarNotes      = 5
	sidebarReminders  = 10
	sidebarPoints     = 30
	sidebarGroupShown = 100 // customers of a group resolved and listed
	sidebarActivity   = 20
)

// CustomerCard is the sidebar's card of one customer.
type CustomerCard struct {
	Customer  *store.Customer        `json:"customer"`
	Groups    []store.CustomerGroup  `json:"groups"`
	Reminders []*store.Reminder      `json:"reminders"` // open ones the caller may see, soonest first
	Notes     []*store.TimelineEntry `json:"notes"`     // the latest the caller may read
	Sentiment []SentimentPoint       `json:"sentiment"` // oldest first
}

// GroupCard is the sidebar's card of a customer group.
type GroupCard struct {
	Group *store.Group `json:"group"`
	// Customers are the group's customers the caller may see (at most 100);
	// HiddenCustomers counts the external members left out (not visible,
	// not known as customers, or beyond the bound).
	Customers       []*store.Customer      `json:"customers"`
	HiddenCustomers int                    `json:"hidden_customers"`
	Activity        []*store.TimelineEntry `json:"activity"` // joins and leaves of those customers, newest first
}

// SidebarCustomer returns the card of the customer with WeCom
// external_userid ext, or store.ErrNotFound (as an ActionError) when there
// is none the caller may see.
func (c *Core) SidebarCustomer(ctx context.Context, a Actor, ext string) (*CustomerCard, error) {
	if ext == "" || len(ext) > 128 {
		return nil, errCustomerNotFound()
	}
	found, err := c.st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: ext})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errCustomerNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("sidebar: find customer: %w", err)
	}
	cu, entries, err := c.ReadTimeline(ctx, a, found.ID, 0, sidebarScan)
	if err != nil {
		return nil, err
	}
	card := &CustomerCard{Customer: cu, Notes: []*store.TimelineEntry{}, Sentiment: []SentimentPoint{}}
	if card.Groups, err = c.st.FindCustomerGroups(ctx, cu.ID); err != nil {
		return nil, fmt.Errorf("sidebar: groups of %s: %w", cu.ID, err)
	}
	if card.Reminders, err = c.Reminders(ctx, a, store.ReminderFilter{CustomerID: cu.ID,
		Statuses: []string{store.ReminderPending, store.ReminderSent}, Limit: sidebarReminders}); err != nil {
		return nil, err
	}
	for _, e := range entries { // newest first
		switch {
		case e.Kind == store.EntryNote && len(card.Notes) < sidebarNotes && a.CanSeeEntry(e):
			card.Notes = append(card.Notes, e)
		case e.Kind == store.EntryAnalysis && len(card.Sentiment) < sidebarPoints && e.Attrs["sentiment_label"] != "":
			score, err := strconv.ParseFloat(e.Attrs["sentiment_score"], 64)
			if err == nil {
				card.Sentiment = append(card.Sentiment, SentimentPoint{At: e.At, Score: score, Label: e.Attrs["sentiment_label"]})
			}
		}
	}
	if in := cu.Insight; len(card.Sentiment) == 0 && in != nil && in.SentimentLabel != "" {
		// The analysis entry fell out of the scanned window: the insight
		// still holds the latest reading.
		card.Sentiment = append(card.Sentiment, SentimentPoint{At: in.AnalyzedAt, Score: in.SentimentScore, Label: in.SentimentLabel})
	}
	slices.Reverse(card.Sentiment)
	return card, nil
}

// SidebarGroup returns the card of group chatID. A caller sees a group
// their scope owns or one they are a member of (the sidebar opens inside
// it); otherwise, or when it is not stored, store.ErrNotFound.
func (c *Core) SidebarGroup(ctx context.Context, a Actor, chatID string) (*GroupCard, error) {
	notFound := &ActionError{Err: store.ErrNotFound, Reason: "group not found", Text: "没有找到你可查看的客户群。"}
	if chatID == "" || len(chatID) > 128 {
		return nil, notFound
	}
	g, err := c.st.FindGroupByChatID(ctx, chatID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("sidebar: group %s: %w", chatID, err)
	}
	member := slices.ContainsFunc(g.Members, func(m store.GroupMember) bool {
		return m.Type == store.GroupMemberStaff && m.UserID == a.StaffID
	})
	if scope := a.Scope(); !member && scope != nil && !slices.Contains(scope, g.OwnerID) {
		return nil, notFound
	}
	card := &GroupCard{Group: g, Customers: []*store.Customer{}, Activity: []*store.TimelineEntry{}}
	for _, m := range g.Members {
		if m.Type != store.GroupMemberExternal {
			continue
		}
		if len(card.Customers) >= sidebarGroupShown {
			card.HiddenCustomers++
			continue
		}
		cu, err := c.st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: m.UserID})
		if err != nil || !a.CanSee(cu) {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("sidebar: group member: %w", err)
			}
			card.HiddenCustomers++
			continue
		}
		card.Customers = append(card.Customers, cu)
	}
	// Members are stored by WeCom ID, so a customer's copy of the group's
	// events (joins, leaves) is on their timeline: read the latest few of
	// the customers shown.
	for _, cu := range card.Customers[:min(len(card.Customers), sidebarActivity)] {
		es, err := c.st.FindTimeline(ctx, cu.ID, 0, 20)
		if err != nil {
			return nil, fmt.Errorf("sidebar: timeline of %s: %w", cu.ID, err)
		}
		for _, e := range es {
			if e.Kind == store.EntryEvent && e.Attrs["chat_id"] == chatID {
				card.Activity = append(card.Activity, e)
			}
		}
	}
	slices.SortStableFunc(card.Activity, func(x, y *store.TimelineEntry) int { return y.At.Compare(x.At) })
	card.Activity = card.Activity[:min(len(card.Activity), sidebarActivity)]
	return card, nil
}
