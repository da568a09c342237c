package handlers

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
)

// ReplySuggester drafts replies to a customer (bot.ReplySuggester).
type ReplySuggester interface {
	Suggest(ctx context.Context, a bot.Actor, customerID string) ([]bot.Suggestion, error)
}

// suggestReplies answers POST /api/v1/customers/{id}/replies: three
// replies for the conversation as it stands, for any caller who may see
// the customer. Nothing is stored; it is a POST because each call drafts
// anew (and may spend LLM tokens).
func (h *crmAPI) suggestReplies(c *fiber.Ctx) error {
	if h.s.opts.Replies == nil {
		return errorf(fiber.StatusNotImplemented, "reply suggestions are not configured", nil)
	}
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	out, err := h.s.opts.Replies.Suggest(c.UserContext(), principalOf(c).act(), id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, fiber.StatusOK, struct {
		Replies []bot.Suggestion `json:"replies"`
	}{out})
}
