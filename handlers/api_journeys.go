package handlers

// Follow-up journeys (跟进旅程, SOP) in the API, for admins and managers
// (salespeople 403): each call parses, calls the core and renders. The JSON
// a page shows and edits:
//
// A journey (GET /journeys/{id}; each item of GET /journeys):
//
//	{"id": "jn_…", "name": "新客户跟进节奏", "builtin": "new_customer" | "quarterly" | (absent),
//	 "enabled": true, "version": 3,
//	 "trigger": {"type": "new_customer", "channel": "ch_…"},
//	 "steps": [{"type": "remind", "text": "欢迎致电", "script": "#客户昵称#您好，我是#员工姓名#"},
//	           {"type": "wait", "days": 3},
//	           {"type": "message", "text": "…"},
//	           {"type": "tags", "add_tags": ["已联系"], "remove_tags": ["新线索"]},
//	           {"type": "stage", "stage": "跟进中"}],
//	 "exit": {"on_reply": true, "stages": ["已成交"]},
//	 "created_by": "…", "created_at": "…", "updated_at": "…",
//	 "runs": {"active": 12, "done": 30, "exited": 4}}
//
// trigger.type and the fields it takes: new_customer (channel: a channel ID,
// optional — only adds through it), tag_added (tag), stage_entered (stage),
// dormant (days without interaction, 1..365), date_field (field: a custom
// field holding "YYYY-MM-DD"; days ahead, 0..365), no_reply (days after our
// last message, 1..365), quarterly (tiers: customer tiers). A built-in
// journey keeps its trigger type. Step types: wait (days: business days,
// 0..365; 0 waits only for the working day), remind (text ≤ 500, script
// ≤ 1000: the reminder to the owner and a ready-to-send text, both
// personalised with #客户昵称# and #员工姓名#), message (text: a one-customer
// 群发 the owner confirms in WeCom; #客户昵称# becomes 您), tags (add_tags,
// remove_tags), stage (stage). 1..20 steps. An opted-out customer's runs
// always end.
//
//	POST  /journeys        {name, enabled, trigger, steps, exit} → 201 the journey (200: the same
//	                       Idempotency-Key again)
//	PATCH /journeys/{id}   {version, name?, enabled?, trigger?, steps?, exit?} → 200; version is the
//	                       one read (409 if it changed since); {"enabled": b} alone needs no version
//	GET   /journeys/{id}/runs?state=active|done|exited&offset=&limit= (≤ 200, default 50) → {"items": [run]}
//
// A run: {"id", "journey_id", "customer_id", "customer_name", "occurrence", "staff_id",
// "state": "active" | "done" | "exited", "exit_reason": "replied" | "stage" | "opted_out" |
// "churned" | "disabled" | "erased", "step" (the next step's index), "step_at" (when it is
// due), "next_at", "log": [{"step", "type", "at", "result": "reminder:12" | "campaign:cp_…" |
// "tags" | "stage" | "skipped:stale" | "refused:…"}], "started_at", "updated_at", "ended_at"}.
// Invalid input answers 400 with a Chinese message.
//
// The journeys one customer is in, for anyone who may see the customer
// (salespeople too; 404 "customer not found" to anyone else, as every
// per-customer endpoint answers):
//
//	GET /customers/{id}/journeys → {"items": [run + {"journey_name", "steps" (how many the
//	journey has), "current" (the step an active run waits to take, due at step_at; a
//	reminder step's text and script filled in for the customer as its reminder will be)}]},
//	newest first, at most 50.

import (
	"context"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

func (h *crmAPI) journeyRoutes(api fiber.Router) {
	api.Get("/journeys", h.listJourneys)
	api.Post("/journeys", h.createJourney)
	api.Get("/journeys/:id", h.getJourney)
	api.Patch("/journeys/:id", h.patchJourney)
	api.Get("/journeys/:id/runs", h.listJourneyRuns)
	api.Get("/customers/:id/journeys", h.customerJourneys)
}

type journeyBody struct {
	Name    string               `json:"name"`
	Enabled bool                 `json:"enabled"`
	Trigger store.JourneyTrigger `json:"trigger"`
	Steps   []store.JourneyStep  `json:"steps"`
	Exit    store.JourneyExit    `json:"exit"`
}

type journeyPatchBody struct {
	Version int64                 `json:"version"`
	Name    *string               `json:"name"`
	Enabled *bool                 `json:"enabled"`
	Trigger *store.JourneyTrigger `json:"trigger"`
	Steps   *[]store.JourneyStep  `json:"steps"`
	Exit    *store.JourneyExit    `json:"exit"`
}

func (h *crmAPI) listJourneys(c *fiber.Ctx) error { return listCall(c, h.core.Journeys) }

func (h *crmAPI) createJourney(c *fiber.Ctx) error {
	return createTopCall(c, func(ctx context.Context, a bot.Actor, b journeyBody, key string) (*store.Journey, bool, error) {
		return h.core.CreateJourney(ctx, a, bot.JourneyRequest{Name: b.Name, Enabled: b.Enabled, Trigger: b.Trigger, Steps: b.Steps,
			Exit: b.Exit, Key: key})
	})
}

func (h *crmAPI) getJourney(c *fiber.Ctx) error { return recordCall(c, h.core.Journey) }

func (h *crmAPI) patchJourney(c *fiber.Ctx) error {
	return updateCall(c, func(ctx context.Context, a bot.Actor, id string, b journeyPatchBody) (*store.Journey, error) {
		return h.core.UpdateJourney(ctx, a, id, bot.JourneyPatch{Version: b.Version, Name: b.Name, Enabled: b.Enabled,
			Trigger: b.Trigger, Steps: b.Steps, Exit: b.Exit})
	})
}

func (h *crmAPI) listJourneyRuns(c *fiber.Ctx) error {
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	offset := 0
	if s := c.Query("offset"); s != "" {
		if offset, err = strconv.Atoi(s); err != nil || offset < 0 {
			return errorf(fiber.StatusBadRequest, "offset must be a whole number ≥ 0", nil)
		}
	}
	runs, err := h.core.JourneyRuns(c.UserContext(), p.act(), bot.JourneyRunsRequest{JourneyID: id, State: query(c, "state"),
		Offset: offset, Limit: limit})
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, page[bot.JourneyRunView]{Items: runs})
}

func (h *crmAPI) customerJourneys(c *fiber.Ctx) error {
	return recordCall(c, func(ctx context.Context, a bot.Actor, id string) (page[bot.CustomerJourneyView], error) {
		runs, err := h.core.CustomerJourneys(ctx, a, id)
		return page[bot.CustomerJourneyView]{Items: runs}, err
	})
}
