package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
)

// Audit actions of customer handovers (the bot command writes the same).
const (
	AuditHandover         = bot.AuditHandover
	AuditHandoverRejected = bot.AuditHandoverRejected
)

type handoverAPI struct {
	s    *Server
	core *bot.Core // nil without the CRM records
}

// handoverRoutes registers POST /customers/{id}/handover.
func (s *Server) handoverRoutes(api fiber.Router) {
	h := &handoverAPI{s: s, core: s.opts.Core}
	api.Post("/customers/:id/handover", h.handover)
}

type handoverRequest struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Resigned bool   `json:"resigned"`
	Message  string `json:"message"`
}

// handover hands a customer from one member to another through WeCom (在职
// 继承, or 离职继承 with resigned). It only records the pending handover
// and arms the job that carries it out, so it answers 202 at once; the
// outcome arrives on the customer's timeline. Admins may hand over any
// customer, managers only between members of their team; the customer must
// be visible to the caller (bot.Core.HandOver checks and audits). Asking
// again while the same handover is pending answers the pending one.
func (h *handoverAPI) handover(c *fiber.Ctx) error {
	p, id, req, err := callArgsAs[handoverRequest](c, bot.RoleAdmin, bot.RoleManager)
	if err != nil {
		return err
	}
	req.From, req.To, req.Message = strings.TrimSpace(req.From), strings.TrimSpace(req.To), strings.TrimSpace(req.Message)
	if !validStaffID(req.From) || !validStaffID(req.To) {
		return errorf(fiber.StatusBadRequest, "from and to must be staff IDs", nil)
	}
	state, err := h.core.HandOver(c.UserContext(), p.act(), bot.HandoverRequest{CustomerID: id, From: req.From, To: req.To,
		Resigned: req.Resigned, Message: req.Message, Now: h.s.opts.Now()})
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusAccepted, state)
}
