package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// sidebarContext answers GET /api/v1/sidebar/context?external_userid=X
// (a single chat, the customer's profile, 微信客服) or ?chat_id=Y (a group
// chat): everything the sidebar's card shows, in one call. The core checks
// visibility (404 for what the caller may not see) and audits the
// customer's read as read_timeline.
func (h *crmAPI) sidebarContext(c *fiber.Ctx) error {
	ext, chat := query(c, "external_userid"), query(c, "chat_id")
	if (ext == "") == (chat == "") {
		return errorf(fiber.StatusBadRequest, "send exactly one of external_userid and chat_id", nil)
	}
	p := principalOf(c)
	if chat != "" {
		card, err := h.core.SidebarGroup(c.UserContext(), p.act(), chat)
		if err != nil {
			return err
		}
		return sendJSON(c, fiber.StatusOK, struct {
			Kind            string                 `json:"kind"`
			Group           groupItem              `json:"group"`
			Customers       []*store.Customer      `json:"customers"`
			HiddenCustomers int                    `json:"hidden_customers"`
			Activity        []*store.TimelineEntry `json:"activity"`
		}{"group", toGroupItem(card.Group), card.Customers, card.HiddenCustomers, card.Activity})
	}
	card, err := h.core.SidebarCustomer(c.UserContext(), p.act(), ext)
	if err != nil {
		return err
	}
	if card.Groups == nil {
		card.Groups = []store.CustomerGroup{}
	}
	return sendJSON(c, fiber.StatusOK, struct {
		Kind      string                 `json:"kind"`
		Customer  customerDetail         `json:"customer"`
		Reminders []*store.Reminder      `json:"reminders"`
		Notes     []*store.TimelineEntry `json:"notes"`
		Sentiment []bot.SentimentPoint   `json:"sentiment"`
	}{"customer", customerDetail{Customer: card.Customer, Groups: card.Groups}, card.Reminders, card.Notes, card.Sentiment})
}
