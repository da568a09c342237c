package handlers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// Audit actions of customer handovers (the bot command writes the same).
const (
	AuditHandover         = bot.AuditHandover
	AuditHandoverRejected = bot.AuditHandoverRejected
)

// handoverStore is what the handover endpoint reads and writes.
type handoverStore interface {
	bot.HandoverStarter
	store.AuditStore
}

type handoverAPI struct {
	s  *Server
	st handoverStore // nil when the store lacks the CRM records
}

// handoverRoutes registers POST /customers/{id}/handover.
func (s *Server) handoverRoutes(api fiber.Router) {
	h := &handoverAPI{s: s}
	h.st, _ = s.store.(handoverStore)
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
// be visible to the caller. Asking again while the same handover is pending
// answers the pending one.
func (h *handoverAPI) handover(c *fiber.Ctx) error {
	if h.st == nil {
		return errorf(fiber.StatusNotImplemented, "this store does not support handovers", nil)
	}
	p, err := requireRole(c, bot.RoleAdmin, bot.RoleManager)
	if err != nil {
		return err
	}
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	var req handoverRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	req.From, req.To, req.Message = strings.TrimSpace(req.From), strings.TrimSpace(req.To), strings.TrimSpace(req.Message)
	if !validStaffID(req.From) || !validStaffID(req.To) {
		return errorf(fiber.StatusBadRequest, "from and to must be staff IDs", nil)
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	cu, err := h.st.FindCustomerByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !p.viewer.CanSee(cu)) {
		return errorf(fiber.StatusNotFound, "customer not found", nil)
	}
	if err != nil {
		return fmt.Errorf("api: find customer %s: %w", id, err)
	}
	if !bot.MayHandOver(p.viewer, req.From, req.To) {
		return errorf(fiber.StatusForbidden, "from and to must both be in your team", nil)
	}
	// The request is audited before anything changes, as an erase is, so
	// no handover is ever unrecorded; one that cannot start is recorded too.
	kind := "on-job"
	if req.Resigned {
		kind = "resigned"
	}
	if err := h.audit(c, p, AuditHandover, cu.ID, fmt.Sprintf("%s from %s to %s", kind, req.From, req.To)); err != nil {
		return err
	}
	state, err := bot.StartHandover(ctx, h.st, bot.HandoverRequest{CustomerID: cu.ID, From: req.From, To: req.To,
		Resigned: req.Resigned, Message: req.Message, By: p.actor, Now: h.s.opts.Now()})
	if err != nil {
		if aerr := h.audit(c, p, AuditHandoverRejected, cu.ID, err.Error()); aerr != nil {
			h.s.log.Error("audit of a rejected handover", "customer", cu.ID, "err", aerr)
		}
	}
	var rej *bot.HandoverRejection
	switch {
	case errors.As(err, &rej) && rej.Conflict:
		return errorf(fiber.StatusConflict, rej.Reason, err)
	case errors.As(err, &rej):
		return errorf(fiber.StatusUnprocessableEntity, rej.Reason, err)
	case errors.Is(err, store.ErrNotFound):
		return errorf(fiber.StatusNotFound, "customer not found", err)
	case err != nil:
		return fmt.Errorf("api: hand over %s: %w", cu.ID, err)
	}
	return sendJSON(c, fiber.StatusAccepted, state)
}

func (h *handoverAPI) audit(c *fiber.Ctx, p principal, action, target, detail string) error {
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	e := &store.AuditEntry{Actor: p.actor, Action: action, Target: target, Detail: detail, At: h.s.opts.Now().UTC()}
	if err := h.st.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("api: audit %s %s: %w", action, target, err)
	}
	return nil
}
