package handlers

import (
	"context"
	"time"

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

func (h *crmAPI) listSegments(c *fiber.Ctx) error  { return listCall(c, h.core.Segments) }
func (h *crmAPI) getSegment(c *fiber.Ctx) error    { return recordCall(c, h.core.Segment) }
func (h *crmAPI) deleteSegment(c *fiber.Ctx) error { return deleteCall(c, h.core.DeleteSegment) }
func (h *crmAPI) countSegment(c *fiber.Ctx) error {
	return recordCallWithin(c, 30*time.Second, h.core.CountSegment)
}
