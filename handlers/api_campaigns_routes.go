package handlers

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

func (h *crmAPI) campaignAPIRoutes(api fiber.Router) {
	api.Post("/campaigns/preview", h.previewCampaign)
	api.Post("/campaigns", h.createCampaign)
	api.Get("/campaigns", h.listCampaigns)
	api.Get("/campaigns/:id", h.getCampaign)
	api.Post("/campaigns/:id/cancel", h.cancelCampaign)
	api.Post("/campaigns/:id/sync", h.syncCampaign)
}

// campaignBody is a campaign's request: target "customers" (the default)
// with filter or segment_id, or target "groups" with groups {owner, name}
// (the groups of that owner whose name contains name; both optional).
type campaignBody struct {
	Name        string                    `json:"name"`
	Target      string                    `json:"target"`
	Filter      *store.SegmentFilter      `json:"filter"`
	SegmentID   string                    `json:"segment_id"`
	Groups      *store.GroupTarget        `json:"groups"`
	Text        string                    `json:"text"`
	Attachments []store.WelcomeAttachment `json:"attachments"`
	SendAt      *time.Time                `json:"send_at"`
	PerCustomer bool                      `json:"per_customer"`
}

func (b campaignBody) request(key string) bot.CampaignRequest {
	return bot.CampaignRequest{Name: b.Name, Target: b.Target, Filter: b.Filter, SegmentID: b.SegmentID, Groups: b.Groups, Text: b.Text,
		Attachments: b.Attachments, SendAt: b.SendAt, PerCustomer: b.PerCustomer, Key: key}
}

func (h *crmAPI) createCampaign(c *fiber.Ctx) error {
	return createTopCall(c, func(ctx context.Context, a bot.Actor, b campaignBody, key string) (*store.Campaign, bool, error) {
		return h.core.CreateCampaign(ctx, a, b.request(key))
	})
}

func (h *crmAPI) previewCampaign(c *fiber.Ctx) error {
	var b campaignBody
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	ctx, cancel := longContext(c, 30*time.Second)
	defer cancel()
	p, err := h.core.PreviewCampaign(ctx, principalOf(c).act(), b.request(""))
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, p)
}

func (h *crmAPI) listCampaigns(c *fiber.Ctx) error  { return listCall(c, h.core.Campaigns) }
func (h *crmAPI) getCampaign(c *fiber.Ctx) error    { return recordCall(c, h.core.Campaign) }
func (h *crmAPI) cancelCampaign(c *fiber.Ctx) error { return recordCall(c, h.core.CancelCampaign) }

// syncCampaign pulls the results of a campaign the caller may see from
// WeCom now (the campaign runner pulls them too).
func (h *crmAPI) syncCampaign(c *fiber.Ctx) error {
	return recordCallWithin(c, time.Minute, func(ctx context.Context, a bot.Actor, id string) (*store.Campaign, error) {
		if _, err := h.core.Campaign(ctx, a, id); err != nil {
			return nil, err
		}
		return h.core.SyncCampaign(ctx, id)
	})
}
