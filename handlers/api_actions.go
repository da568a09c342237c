package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
)

// actionRoutes registers the claim and reminder endpoints: each calls one
// action of the core.
func (h *crmAPI) actionRoutes(api fiber.Router) {
	api.Post("/customers/:id/claim", h.claim)
}

// claimResponse is the answer to a claim.
type claimResponse struct {
	Won      bool   `json:"won"`
	Already  bool   `json:"already,omitempty"`
	Winner   string `json:"winner,omitempty"`
	Customer any    `json:"customer,omitempty"`
}

// claim is the core's Claim through the API: 200 with the customer when
// the caller is the owner now, 409 naming the winner when someone else was
// first.
func (h *crmAPI) claim(c *fiber.Ctx) error {
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	res, err := h.core.Claim(ctx, p.act(), bot.ClaimRequest{CustomerID: id, Via: "api"})
	if err != nil {
		return err
	}
	if !res.Won {
		return sendJSON(c, fiber.StatusConflict, claimResponse{Winner: res.Winner})
	}
	return sendJSON(c, fiber.StatusOK, claimResponse{Won: true, Already: res.Already, Customer: res.Customer})
}
