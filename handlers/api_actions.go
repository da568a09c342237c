package handlers

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// actionRoutes registers the claim and reminder endpoints: each calls one
// action of the core.
func (h *crmAPI) actionRoutes(api fiber.Router) {
	api.Post("/customers/:id/claim", h.claim)
	api.Post("/customers/:id/reminders", h.createReminder)
	api.Get("/reminders", h.listReminders)
	api.Post("/reminders/:id/complete", h.completeReminder)
	api.Post("/reminders/:id/postpone", h.postponeReminder)
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
	res, err := h.core.Claim(c.UserContext(), p.act(), bot.ClaimRequest{CustomerID: id, Via: "api"})
	if err != nil {
		return err
	}
	if !res.Won {
		return sendJSON(c, fiber.StatusConflict, claimResponse{Winner: res.Winner})
	}
	return sendJSON(c, fiber.StatusOK, claimResponse{Won: true, Already: res.Already, Customer: res.Customer})
}

// ---- reminders ----

type reminderRequest struct {
	Text  string    `json:"text"`
	DueAt time.Time `json:"due_at"`
}

// createReminder creates a manual reminder for the caller. An
// Idempotency-Key header makes a retried POST create it once.
func (h *crmAPI) createReminder(c *fiber.Ctx) error {
	return createCall(c, func(ctx context.Context, a bot.Actor, id string, req reminderRequest, key string) (*store.Reminder, bool, error) {
		return h.core.CreateReminder(ctx, a, bot.ReminderRequest{CustomerID: id, Text: req.Text, DueAt: req.DueAt, Key: key})
	})
}

var reminderStatuses = []string{store.ReminderPending, store.ReminderSent, store.ReminderDone, store.ReminderCancelled}

// listReminders lists the reminders the caller may act on, soonest first:
// filters status (comma-separated) and staff_id.
func (h *crmAPI) listReminders(c *fiber.Ctx) error {
	p := principalOf(c)
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	f := store.ReminderFilter{StaffID: query(c, "staff_id"), Limit: limit}
	if v := query(c, "status"); v != "" {
		for _, s := range strings.Split(v, ",") {
			if !slices.Contains(reminderStatuses, s) {
				return errorf(fiber.StatusBadRequest, "status must be any of "+strings.Join(reminderStatuses, ", "), nil)
			}
			f.Statuses = append(f.Statuses, s)
		}
	}
	list, err := h.core.Reminders(c.UserContext(), p.act(), f)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, page[*store.Reminder]{Items: list})
}

// reminderID parses the :id of a reminder route.
func reminderID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(fiber.StatusBadRequest, "invalid reminder id", nil)
	}
	return id, nil
}

func (h *crmAPI) completeReminder(c *fiber.Ctx) error {
	id, err := reminderID(c)
	if err != nil {
		return err
	}
	r, _, err := h.core.CompleteReminder(c.UserContext(), principalOf(c).act(), id, time.Time{})
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, r)
}

type postponeRequest struct {
	Until time.Time `json:"until"`
}

func (h *crmAPI) postponeReminder(c *fiber.Ctx) error {
	id, err := reminderID(c)
	if err != nil {
		return err
	}
	var req postponeRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	r, err := h.core.PostponeReminder(c.UserContext(), principalOf(c).act(), bot.PostponeRequest{ID: id, Until: req.Until})
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, r)
}
