package handlers

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
)

// The quick-reply library (话术库) for the chat sidebar and the console:
// any signed-in caller searches it and counts a use; admins and managers
// keep it through the core's audited actions.

func (h *crmAPI) quickReplyRoutes(api fiber.Router) {
	api.Get("/quick-replies", h.listQuickReplies)
	api.Post("/quick-replies", h.createQuickReply)
	api.Patch("/quick-replies/:id", h.patchQuickReply)
	api.Delete("/quick-replies/:id", h.deleteQuickReply)
	api.Post("/quick-replies/:id/used", h.useQuickReply)
	api.Post("/customers/:id/replies", h.suggestReplies) // api_replies.go
	api.Get("/sidebar/context", h.sidebarContext)        // api_sidebar.go
}

// quickReplyJSON is a quick reply as the API answers it.
type quickReplyJSON struct {
	ID        string    `json:"id"`
	Group     string    `json:"group"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	Rendered  string    `json:"rendered"`
	Uses      int64     `json:"uses"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func renderQuickReply(r bot.RenderedQuickReply) quickReplyJSON {
	q := r.QuickReply
	rendered := r.Rendered
	if rendered == "" {
		rendered = q.Text
	}
	return quickReplyJSON{ID: q.ID, Group: q.Group, Title: q.Title, Text: q.Text, Rendered: rendered, Uses: q.Uses,
		CreatedBy: q.CreatedBy, CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
}

// listQuickReplies answers GET /quick-replies?q=&customer_id=.
func (h *crmAPI) listQuickReplies(c *fiber.Ctx) error {
	p := principalOf(c)
	list, err := h.core.SearchQuickReplies(c.UserContext(), p.act(), query(c, "q"), query(c, "customer_id"))
	if err != nil {
		return err
	}
	out := struct {
		Items     []quickReplyJSON `json:"items"`
		Variables []string         `json:"variables"`
	}{Items: make([]quickReplyJSON, 0, len(list)), Variables: bot.QuickReplyVariables}
	for _, r := range list {
		out.Items = append(out.Items, renderQuickReply(r))
	}
	return sendJSON(c, fiber.StatusOK, out)
}

type quickReplyBody struct {
	Group *string `json:"group"`
	Title *string `json:"title"`
	Text  *string `json:"text"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// createQuickReply answers POST /quick-replies; an Idempotency-Key makes a
// retry create nothing new.
func (h *crmAPI) createQuickReply(c *fiber.Ctx) error {
	var req quickReplyBody
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	p := principalOf(c)
	q, created, err := h.core.CreateQuickReply(c.UserContext(), p.act(), bot.QuickReplyRequest{
		Group: deref(req.Group), Title: deref(req.Title), Text: deref(req.Text), Key: idempotencyKey(c)})
	if err != nil {
		return err
	}
	return sendStored(c, renderQuickReply(bot.RenderedQuickReply{QuickReply: q}), created)
}

func (h *crmAPI) patchQuickReply(c *fiber.Ctx) error {
	return updateCall(c, func(ctx context.Context, a bot.Actor, id string, req quickReplyBody) (quickReplyJSON, error) {
		q, err := h.core.UpdateQuickReply(ctx, a, id, bot.QuickReplyPatch{Group: req.Group, Title: req.Title, Text: req.Text})
		if err != nil {
			return quickReplyJSON{}, err
		}
		return renderQuickReply(bot.RenderedQuickReply{QuickReply: q}), nil
	})
}

func (h *crmAPI) deleteQuickReply(c *fiber.Ctx) error { return deleteCall(c, h.core.DeleteQuickReply) }

// useQuickReply answers POST /quick-replies/{id}/used with an optional
// {"customer_id"}: counts the use and answers the text rendered for the
// customer, ready for sendChatMessage.
func (h *crmAPI) useQuickReply(c *fiber.Ctx) error {
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	var req struct {
		CustomerID string `json:"customer_id"`
	}
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	r, err := h.core.UseQuickReply(c.UserContext(), principalOf(c).act(), id, req.CustomerID)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, renderQuickReply(*r))
}
