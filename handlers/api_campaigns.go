package handlers

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// Segments (客户分群) and campaigns (群发) in the API, for admins and
// managers: each call parses, calls the core and renders.

func (h *crmAPI) campaignRoutes(api fiber.Router) {
	api.Post("/segments", h.createSegment)
	api.Get("/segments", h.listSegments)
	api.Get("/segments/:id", h.getSegment)
	api.Delete("/segments/:id", h.deleteSegment)
	api.Get("/segments/:id/count", h.countSegment)
	h.campaignAPIRoutes(api)
}

type segmentBody struct {
	Name   string              `json:"name"`
	Filter store.SegmentFilter `json:"filter"`
}

func (h *crmAPI) createSegment(c *fiber.Ctx) error {
	return createTopCall(c, func(ctx context.Context, a bot.Actor, b segmentBody, key string) (*store.Segment, bool, error) {
		return h.core.CreateSegment(ctx, a, bot.SegmentRequest{Name: b.Name, Filter: b.Filter, Key: key})
	})
}

func (h *crmAPI) listSegments(c *fiber.Ctx) error {
	list, err := h.core.Segments(c.UserContext(), principalOf(c).act())
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, page[*store.Segment]{Items: list})
}

func (h *crmAPI) getSegment(c *fiber.Ctx) error { return recordCall(c, h.core.Segment) }

func (h *crmAPI) deleteSegment(c *fiber.Ctx) error {
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	if err := h.core.DeleteSegment(c.UserContext(), p.act(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *crmAPI) countSegment(c *fiber.Ctx) error {
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	ctx, cancel := longContext(c, 30e9)
	defer cancel()
	n, err := h.core.CountSegment(ctx, p.act(), id)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, n)
}
