package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/nlp"
	"github.com/scrmhq/scrm/store"
)

// Audit actions written through the API (the core writes them).
const (
	AuditReadTimeline = bot.AuditReadTimeline
	AuditExport       = bot.AuditExport
	AuditErase        = bot.AuditErase
	AuditEraseFailed  = bot.AuditEraseFailed
	AuditMerge        = bot.AuditMerge
	AuditStaffUpdate  = bot.AuditStaffUpdate
	AuditTokenCreate  = bot.AuditTokenCreate
)

const (
	defaultPageLimit = 50
	maxPageLimit     = 200
)

// crmAPI holds the customer API's handlers. Reads go to the core's reader;
// every change is an action of the core (bot.Core), which checks
// visibility, validates and writes the change, its timeline entry and its
// audit entry. A handler parses, calls, renders.
type crmAPI struct {
	s    *Server
	core *bot.Core
	rd   bot.ActionReader // core.Read()
	loc  *time.Location
}

// crmRoutes registers the customer, staff, tag, audit and token endpoints
// and the OpenAPI document. Every handler resolves visibility through
// bot.Viewer (CanSee/Scope): the one rule every door uses.
func (s *Server) crmRoutes(api fiber.Router) {
	h := &crmAPI{s: s, core: s.opts.Core, rd: s.opts.Core.Read(), loc: s.businessLocation()}
	api.Get("/customers", h.listCustomers)
	api.Get("/customers/:id", h.getCustomer)
	api.Patch("/customers/:id", h.patchCustomer)
	api.Delete("/customers/:id", h.eraseCustomer)
	api.Get("/customers/:id/timeline", h.timeline)
	api.Post("/customers/:id/notes", h.addNote)
	api.Post("/customers/:id/merge", h.merge)
	api.Get("/customers/:id/export", h.export)
	api.Get("/tags", h.listTags)
	api.Get("/groups", h.listGroups) // api_groups.go
	h.channelRoutes(api)             // api_channels.go
	h.campaignRoutes(api)            // api_campaigns.go
	h.journeyRoutes(api)             // api_journeys.go
	api.Post("/tags/sync", h.syncTags)
	api.Get("/staff", h.listStaff)
	api.Put("/staff/:id", h.putStaff)
	api.Post("/staff/sync", h.syncStaff)
	api.Get("/audit", h.listAudit)
	api.Post("/tokens", h.createToken)
	h.actionRoutes(api)
	h.quickReplyRoutes(api) // api_quickreplies.go
}

// businessLocation is the time zone bare dates in filters are read in
// (SCRM_TIMEZONE, Asia/Shanghai by default).
func (s *Server) businessLocation() *time.Location {
	if s.opts.Location != nil {
		return s.opts.Location
	}
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	// Without tzdata the fixed offset is exact: China has no DST.
	return time.FixedZone("CST", 8*3600)
}

// actor is the principal acting through the API.
func (p principal) act() bot.Actor {
	if p.source != "" {
		return bot.Actor{Viewer: p.viewer, Source: p.source}
	}
	return bot.Actor{Viewer: p.viewer, Source: bot.SourceAPI}
}

// ---- rendering and parsing ----

// sendJSON writes v as UTF-8 JSON; Chinese text is sent as is, unescaped.
func sendJSON(c *fiber.Ctx, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("api: encode response: %w", err)
	}
	c.Set(fiber.HeaderContentType, "application/json; charset=utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// page is a cursor-paginated list.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// decodeBody reads a JSON request body strictly: unknown fields are errors,
// so a typo never silently changes nothing.
func decodeBody(c *fiber.Ctx, v any) error {
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(fiber.StatusBadRequest, "invalid JSON body: "+err.Error(), err)
	}
	if dec.More() {
		return errorf(fiber.StatusBadRequest, "invalid JSON body: trailing data", nil)
	}
	return nil
}

// param copies a route parameter: Fiber reuses its memory after the handler.
func param(c *fiber.Ctx, name string) (string, error) {
	v := strings.Clone(c.Params(name))
	if v == "" || len(v) > 128 {
		return "", errorf(fiber.StatusBadRequest, "invalid "+name, nil)
	}
	return v, nil
}

func query(c *fiber.Ctx, name string) string { return strings.Clone(c.Query(name)) }

func parseLimit(c *fiber.Ctx) (int, error) {
	s := c.Query("limit")
	if s == "" {
		return defaultPageLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageLimit {
		return 0, errorf(fiber.StatusBadRequest, fmt.Sprintf("limit must be 1..%d", maxPageLimit), nil)
	}
	return n, nil
}

// pageQuery reads a list's paging: limit and the opaque cursor the previous
// page ended with.
func pageQuery(c *fiber.Ctx) (limit int, cursor string, err error) {
	if limit, err = parseLimit(c); err != nil {
		return 0, "", err
	}
	if cursor = query(c, "cursor"); len(cursor) > 128 {
		return 0, "", errorf(fiber.StatusBadRequest, "invalid cursor", nil)
	}
	return limit, cursor, nil
}

// idPageQuery is pageQuery for lists paged newest first by numeric ID: the
// cursor is the last ID of the previous page, 0 for the first page.
func idPageQuery(c *fiber.Ctx) (limit int, before int64, err error) {
	limit, cursor, err := pageQuery(c)
	if err != nil || cursor == "" {
		return limit, 0, err
	}
	if before, err = strconv.ParseInt(cursor, 10, 64); err != nil || before <= 0 {
		return 0, 0, errorf(fiber.StatusBadRequest, "invalid cursor", nil)
	}
	return limit, before, nil
}

// cutPage makes a page of list, fetched with one item more than limit so
// that a next page is known to exist; the cursor names the last item kept.
func cutPage[T any](list []T, limit int, cursor func(T) string) page[T] {
	out := page[T]{Items: list}
	if len(list) > limit {
		out.Items = list[:limit]
		out.NextCursor = cursor(list[limit-1])
	}
	if out.Items == nil {
		out.Items = []T{}
	}
	return out
}

// The range filter instants are clamped to. The SQLite store compares
// instants as Unix nanoseconds, which overflow after 2262-04-11 and before
// 1677: last_contact_before=2263-01-01 wrapped around and matched nobody.
// Every stored time lies well inside this range, so clamping changes no
// answer but the overflowing ones. The lower end is just after the epoch,
// the stores' "never in contact": a far-past after= still leaves those out,
// and a far-past before= still finds only them.
var (
	minFilterInstant = time.Unix(0, 1).UTC()
	maxFilterInstant = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// parseInstant reads RFC 3339 or a bare date (the start of that day in the
// business time zone), clamped to what the stores compare correctly.
func parseInstant(name, s string, loc *time.Location) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t, err = time.ParseInLocation(time.DateOnly, s, loc); err != nil {
			return time.Time{}, errorf(fiber.StatusBadRequest, name+" must be RFC 3339 or YYYY-MM-DD", nil)
		}
	}
	switch t = t.UTC(); {
	case t.Before(minFilterInstant):
		t = minFilterInstant
	case t.After(maxFilterInstant):
		t = maxFilterInstant
	}
	return t, nil
}

// visibleCustomer loads a customer the principal may see; an invisible
// customer is reported exactly like a missing one (the core's rule).
func (h *crmAPI) visibleCustomer(c *fiber.Ctx, p principal, id string) (*store.Customer, error) {
	return h.core.Visible(c.UserContext(), p.act(), id)
}

// pathID returns the principal and the :id path parameter.
func (h *crmAPI) pathID(c *fiber.Ctx) (principal, string, error) {
	id, err := param(c, "id")
	return principalOf(c), id, err
}

// callArgs reads what an action on one record takes through the API: the
// caller, the :id path parameter and the JSON body.
func callArgs[T any](c *fiber.Ctx) (p principal, id string, req T, err error) {
	if id, err = param(c, "id"); err == nil {
		err = decodeBody(c, &req)
	}
	return principalOf(c), id, req, err
}

// callArgsAs is callArgs for a caller whose role must be one of roles.
func callArgsAs[T any](c *fiber.Ctx, roles ...string) (p principal, id string, req T, err error) {
	if p, err = requireRole(c, roles...); err != nil {
		return p, "", req, err
	}
	return callArgs[T](c)
}

// roleAndID returns the caller, whose role must be one of roles, and the
// :id path parameter.
func roleAndID(c *fiber.Ctx, roles ...string) (principal, string, error) {
	p, err := requireRole(c, roles...)
	if err != nil {
		return p, "", err
	}
	id, err := param(c, "id")
	return p, id, err
}

// createTopCall is createCall for a collection's POST (no :id in the
// path): act gets the caller's actor, the JSON body and the
// Idempotency-Key.
func createTopCall[T, R any](c *fiber.Ctx, act func(ctx context.Context, a bot.Actor, req T, key string) (R, bool, error)) error {
	var req T
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	r, created, err := act(c.UserContext(), principalOf(c).act(), req, idempotencyKey(c))
	if err != nil {
		return err
	}
	return sendStored(c, r, created)
}

// createCall serves an action that may create a record: act gets the
// caller's actor, the :id path parameter, the JSON body and the
// Idempotency-Key, and its record is answered by sendStored.
func createCall[T, R any](c *fiber.Ctx, act func(ctx context.Context, a bot.Actor, id string, req T, key string) (R, bool, error)) error {
	p, id, req, err := callArgs[T](c)
	if err != nil {
		return err
	}
	r, created, err := act(c.UserContext(), p.act(), id, req, idempotencyKey(c))
	if err != nil {
		return err
	}
	return sendStored(c, r, created)
}

// listCall answers a collection the core lists whole, as one page.
func listCall[T any](c *fiber.Ctx, list func(ctx context.Context, a bot.Actor) ([]T, error)) error {
	items, err := list(c.UserContext(), principalOf(c).act())
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, page[T]{Items: items})
}

// recordCall serves a read or an action on the record the :id path parameter
// names: act gets the caller's actor and the ID, and its answer is sent.
func recordCall[R any](c *fiber.Ctx, act func(ctx context.Context, a bot.Actor, id string) (R, error)) error {
	return recordCallWithin(c, 0, act)
}

// recordCallWithin is recordCall for an act that may take d, longer than
// the API's deadline (longContext); 0 keeps the deadline.
func recordCallWithin[R any](c *fiber.Ctx, d time.Duration, act func(ctx context.Context, a bot.Actor, id string) (R, error)) error {
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = longContext(c, d)
		defer cancel()
	}
	r, err := act(ctx, principalOf(c).act(), id)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, r)
}

// updateCall serves a change to the record :id names: act gets the
// caller's actor, the ID and the JSON body, and its answer is sent.
func updateCall[T, R any](c *fiber.Ctx, act func(ctx context.Context, a bot.Actor, id string, req T) (R, error)) error {
	p, id, req, err := callArgs[T](c)
	if err != nil {
		return err
	}
	r, err := act(c.UserContext(), p.act(), id, req)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, r)
}

// deleteCall serves the deletion of the record :id names (204).
func deleteCall(c *fiber.Ctx, del func(ctx context.Context, a bot.Actor, id string) error) error {
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	if err := del(c.UserContext(), principalOf(c).act(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// sendStored answers 201 with a record the call created, 200 with the one
// an earlier call with the same Idempotency-Key stored.
func sendStored(c *fiber.Ctx, v any, created bool) error {
	if created {
		return sendJSON(c, fiber.StatusCreated, v)
	}
	return sendJSON(c, fiber.StatusOK, v)
}

// ---- customers ----

// customerFilter reads the filters GET /customers and the spreadsheet export
// share: tag, stage, q, last_contact_before/after (RFC 3339, or a bare
// date read in the business time zone), sentiment (the latest analysis's
// label) and waiting (true: waiting for an answer). owner is left to the caller, which
// must narrow it to the viewer's scope.
func customerFilter(c *fiber.Ctx, loc *time.Location) (store.CustomerFilter, error) {
	f := store.CustomerFilter{Tag: query(c, "tag"), Stage: query(c, "stage"), Query: query(c, "q")}
	var err error
	if v := c.Query("last_contact_before"); v != "" {
		if f.LastContactBefore, err = parseInstant("last_contact_before", v, loc); err != nil {
			return f, err
		}
	}
	if v := c.Query("last_contact_after"); v != "" {
		if f.LastContactAfter, err = parseInstant("last_contact_after", v, loc); err != nil {
			return f, err
		}
	}
	switch f.Sentiment = query(c, "sentiment"); f.Sentiment {
	case "", nlp.Positive, nlp.Neutral, nlp.Negative:
	default:
		return f, errorf(fiber.StatusBadRequest, "sentiment must be positive, neutral or negative", nil)
	}
	switch query(c, "waiting") {
	case "", "false":
	case "true":
		f.Waiting = true
	default:
		return f, errorf(fiber.StatusBadRequest, "waiting must be true or false", nil)
	}
	return f, nil
}

// listCustomers narrows the filter to the viewer's scope before the store
// sees it: a salesperson's owner= outside their scope yields an empty page,
// never someone else's customers. CanSee re-checks every row.
func (h *crmAPI) listCustomers(c *fiber.Ctx) error {
	p := principalOf(c)
	limit, cursor, err := pageQuery(c)
	if err != nil {
		return err
	}
	f, err := customerFilter(c, h.loc)
	if err != nil {
		return err
	}
	f.AfterID, f.Limit = cursor, limit+1
	f.StaffIDs = ownerScope(p.viewer, query(c, "owner"))
	if ch := query(c, "channel"); ch != "" {
		return h.listChannelCustomers(c, p, ch, f, limit) // api_channels.go
	}
	list, err := h.rd.FindCustomers(c.UserContext(), f)
	if err != nil {
		if f.AfterID != "" {
			// The only client-caused failure the store has is a cursor it
			// cannot read.
			return errorf(fiber.StatusBadRequest, "invalid cursor", err)
		}
		return fmt.Errorf("api: list customers: %w", err)
	}
	out := cutPage(list, limit, func(cu *store.Customer) string { return cu.ID })
	out.Items = slices.DeleteFunc(out.Items, func(cu *store.Customer) bool { return !p.viewer.CanSee(cu) })
	return sendJSON(c, fiber.StatusOK, out)
}

// ownerScope is whose customers a list may show: the viewer's scope (nil
// for an admin's everyone), narrowed by an owner= filter. An owner outside
// the scope gives an empty, non-nil list, which matches no one.
func ownerScope(v bot.Viewer, owner string) []string {
	scope := v.Scope()
	switch {
	case owner == "":
		return scope
	case scope == nil || slices.Contains(scope, owner):
		return []string{owner}
	default:
		return []string{}
	}
}

func (h *crmAPI) getCustomer(c *fiber.Ctx) error {
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	cu, err := h.visibleCustomer(c, p, id)
	if err != nil {
		return err
	}
	groups, err := h.customerGroups(c, cu) // api_groups.go
	if err != nil {
		return err
	}
	open, err := h.core.Reminders(c.UserContext(), p.act(), store.ReminderFilter{CustomerID: cu.ID,
		Statuses: []string{store.ReminderPending, store.ReminderSent}, Limit: 100})
	if err != nil {
		return err
	}
	promises := []*store.Reminder{}
	for _, r := range open {
		if r.Kind == store.ReminderPromise {
			promises = append(promises, r)
		}
	}
	chans, err := h.core.CustomerChannels(c.UserContext(), cu.ID) // api_channels.go
	if err != nil {
		return err
	}
	d := customerDetail{Customer: cu, Groups: groups, Reminders: open, Promises: promises, Channels: []bot.CustomerChannel{}}
	if len(chans) > 0 {
		d.Channel, d.Channels = &chans[0], chans
	}
	return sendJSON(c, fiber.StatusOK, d)
}

// timeline pages a customer's timeline newest first; the core audits every
// read before anything is sent.
func (h *crmAPI) timeline(c *fiber.Ctx) error {
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	limit, before, err := idPageQuery(c)
	if err != nil {
		return err
	}
	_, entries, err := h.core.ReadTimeline(c.UserContext(), p.act(), id, before, limit)
	if err != nil {
		return err
	}
	out := cutPage(entries, limit, entryCursor)
	// Private notes the caller may not read are left out; the cursor still
	// walks the whole timeline, so a page may hold fewer than limit items.
	if out.Items = p.viewer.VisibleEntries(out.Items); out.Items == nil {
		out.Items = []*store.TimelineEntry{}
	}
	return sendJSON(c, fiber.StatusOK, out)
}

func entryCursor(e *store.TimelineEntry) string { return strconv.FormatInt(e.ID, 10) }

type noteRequest struct {
	Text string `json:"text"`
	// Private keeps the note to its author, the author's managers and
	// admins; other staff who follow the customer, now or later, never
	// read it.
	Private bool `json:"private"`
}

// idempotencyKey is the request's Idempotency-Key header, "" when absent or
// too long (the core then makes a fresh one).
func idempotencyKey(c *fiber.Ctx) string {
	key := strings.Clone(c.Get("Idempotency-Key"))
	if len(key) > 128 {
		return ""
	}
	return key
}

// addNote appends a note. An Idempotency-Key header makes a retried POST
// store the note once.
func (h *crmAPI) addNote(c *fiber.Ctx) error {
	return createCall(c, func(ctx context.Context, a bot.Actor, id string, req noteRequest, key string) (*store.TimelineEntry, bool, error) {
		return h.core.AddNote(ctx, a, bot.NoteRequest{CustomerID: id, Text: req.Text, Private: req.Private, Key: key})
	})
}

// customerPatch is the body of PATCH /customers/{id}; absent fields are
// left alone.
type customerPatch struct {
	Name       *string           `json:"name"`
	Stage      *string           `json:"stage"`
	Tier       *string           `json:"tier"`
	Fields     map[string]string `json:"fields"`
	AddTags    []string          `json:"add_tags"`
	RemoveTags []string          `json:"remove_tags"`
	// OptOut sets or clears 不打扰 (stored as the field "opt_out").
	OptOut *bool `json:"opt_out"`
}

// patchCustomer edits a customer: the core validates every part before it
// writes any, then runs the field, stage and tag actions.
func (h *crmAPI) patchCustomer(c *fiber.Ctx) error {
	return updateCall(c, func(ctx context.Context, a bot.Actor, id string, req customerPatch) (*store.Customer, error) {
		return h.core.EditCustomer(ctx, a, bot.CustomerEdit{
			CustomerID: id, Name: req.Name, Stage: req.Stage, Tier: req.Tier, Fields: req.Fields,
			AddTags: req.AddTags, RemoveTags: req.RemoveTags, OptOut: req.OptOut, Key: idempotencyKey(c),
		})
	})
}

type mergeRequest struct {
	From string `json:"from"`
}

// merge folds customer from into customer id. Both must be visible to the
// manager or admin asking.
func (h *crmAPI) merge(c *fiber.Ctx) error {
	p, id, req, err := callArgsAs[mergeRequest](c, bot.RoleAdmin, bot.RoleManager)
	if err != nil {
		return err
	}
	ctx, cancel := longContext(c, 30*time.Second)
	defer cancel()
	merged, err := h.core.Merge(ctx, p.act(), id, req.From)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, merged)
}

func (h *crmAPI) export(c *fiber.Ctx) error {
	return recordCallWithin(c, time.Minute, func(ctx context.Context, a bot.Actor, id string) (*bot.CustomerExport, error) {
		out, err := h.core.ExportCustomer(ctx, a, id)
		if err == nil {
			c.Set(fiber.HeaderContentDisposition, `attachment; filename="customer-`+out.Customer.ID+`.json"`)
		}
		return out, err
	})
}

// eraseCustomer deletes a customer and everything about them; the core
// audits it first, and a failed erase too.
func (h *crmAPI) eraseCustomer(c *fiber.Ctx) error {
	p, id, err := roleAndID(c, bot.RoleAdmin)
	if err != nil {
		return err
	}
	ctx, cancel := longContext(c, time.Minute)
	defer cancel()
	if err := h.core.Erase(ctx, p.act(), id); err != nil {
		return err
	}
	h.s.log.Info("customer erased", "customer", id, "actor", p.actor)
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- tags ----

func (h *crmAPI) listTags(c *fiber.Ctx) error {
	st := h.rd
	tags, err := st.FindTags(c.UserContext())
	if err != nil {
		return fmt.Errorf("api: list tags: %w", err)
	}
	if tags == nil {
		tags = []store.Tag{}
	}
	return sendJSON(c, fiber.StatusOK, page[store.Tag]{Items: tags})
}

// syncTags asks for a full corp tag sync from WeCom. It only arms the
// durable job the tag worker runs, so it answers at once and survives a
// restart.
func (h *crmAPI) syncTags(c *fiber.Ctx) error {
	return h.scheduleSync(c, bot.TagSyncJobKey, bot.JobTagSync)
}

// scheduleSync arms a sync job for an admin and answers 202 at once: the
// job's worker runs it, and a restart does not lose it.
func (h *crmAPI) scheduleSync(c *fiber.Ctx, key, kind string) error {
	if _, err := requireRole(c, bot.RoleAdmin); err != nil {
		return err
	}
	if err := h.core.RequestSync(c.UserContext(), principalOf(c).act(), key, kind); err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusAccepted, map[string]string{"status": "scheduled"})
}

// ---- staff ----

// listStaff returns the directory to an admin and a manager's team (with
// the manager) to a manager.
func (h *crmAPI) listStaff(c *fiber.Ctx) error {
	st := h.rd
	p, err := requireRole(c, bot.RoleAdmin, bot.RoleManager)
	if err != nil {
		return err
	}
	all, err := st.FindStaff(c.UserContext())
	if err != nil {
		return fmt.Errorf("api: list staff: %w", err)
	}
	out := page[*store.Staff]{Items: []*store.Staff{}}
	scope := p.viewer.Scope()
	for _, m := range all {
		if scope == nil || slices.Contains(scope, m.ID) {
			out.Items = append(out.Items, m)
		}
	}
	return sendJSON(c, fiber.StatusOK, out)
}

// staffPut is the body of PUT /staff/{id}; absent fields keep their value
// (a new member defaults to an active salesperson).
type staffPut struct {
	Name        *string   `json:"name"`
	Role        *string   `json:"role"`
	Team        *[]string `json:"team"`
	Departments *[]int64  `json:"departments"`
	Active      *bool     `json:"active"`
	// Manual replaces the fields the address book sync leaves alone; the
	// fields this request sets are added to it (api_staffsync.go).
	Manual *[]string `json:"manual"`
}

func (h *crmAPI) putStaff(c *fiber.Ctx) error {
	p, id, err := roleAndID(c, bot.RoleAdmin)
	if err != nil {
		return err
	}
	if id == "sync" { // the path of POST /staff/sync, not a member
		return errorf(fiber.StatusMethodNotAllowed, "use POST /api/v1/staff/sync to sync the staff directory", nil)
	}
	var req staffPut
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	m, err := h.core.PutStaff(c.UserContext(), p.act(), bot.StaffEdit{ID: id, Name: req.Name, Role: req.Role, Team: req.Team,
		Departments: req.Departments, Active: req.Active, Manual: req.Manual}, validStaffID)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, m)
}

// ---- audit and tokens ----

func (h *crmAPI) listAudit(c *fiber.Ctx) error {
	if _, err := requireRole(c, bot.RoleAdmin); err != nil {
		return err
	}
	limit, before, err := idPageQuery(c)
	if err != nil {
		return err
	}
	list, err := h.rd.FindAudit(c.UserContext(), query(c, "target"), before, limit+1)
	if err != nil {
		return fmt.Errorf("api: find audit: %w", err)
	}
	return sendJSON(c, fiber.StatusOK, cutPage(list, limit, func(e *store.AuditEntry) string { return strconv.FormatInt(e.ID, 10) }))
}

type tokenRequest struct {
	StaffID string `json:"staff_id"`
	TTL     string `json:"ttl"` // Go duration, e.g. "720h"; default 720h
}

type tokenResponse struct {
	Token     string    `json:"token"`
	StaffID   string    `json:"staff_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// DefaultStaffTokenTTL is how long a staff token lives unless asked otherwise.
const DefaultStaffTokenTTL = 720 * time.Hour

func (h *crmAPI) createToken(c *fiber.Ctx) error {
	st := h.rd
	p, err := requireRole(c, bot.RoleAdmin)
	if err != nil {
		return err
	}
	var req tokenRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	ttl := DefaultStaffTokenTTL
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 || ttl > MaxStaffTokenTTL {
			return errorf(fiber.StatusBadRequest, "ttl must be a duration such as 720h, at most 8784h", nil)
		}
	}
	if reservedStaffID(req.StaffID) {
		return reservedStaffIDError(req.StaffID)
	}
	if !validStaffID(req.StaffID) {
		return errorf(fiber.StatusBadRequest, "invalid staff_id", nil)
	}
	ctx := c.UserContext()
	m, err := st.FindStaffByID(ctx, req.StaffID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("api: find staff %s: %w", req.StaffID, err)
	}
	if err != nil || !m.Active {
		return errorf(fiber.StatusBadRequest, "no active staff member "+req.StaffID+"; add them with PUT /api/v1/staff/{id}", err)
	}
	exp := h.s.opts.Now().Add(ttl).UTC().Truncate(time.Second)
	tok, err := MintStaffToken(h.s.opts.APIToken, m.ID, exp)
	if err != nil {
		return fmt.Errorf("api: mint token: %w", err)
	}
	if err := h.core.Record(ctx, p.act(), AuditTokenCreate, "staff:"+m.ID, "expires "+exp.Format(time.RFC3339)); err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusCreated, tokenResponse{Token: tok, StaffID: m.ID, ExpiresAt: exp})
}
