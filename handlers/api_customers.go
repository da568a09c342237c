package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
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
	core *bot.Core        // nil without the CRM records: the API answers 501
	rd   bot.ActionReader // core.Read()
	loc  *time.Location
}

// crmRoutes registers the customer, staff, tag, audit and token endpoints
// and the OpenAPI document. Every handler resolves visibility through
// bot.Viewer (CanSee/Scope): the one rule every door uses.
func (s *Server) crmRoutes(api fiber.Router) {
	h := &crmAPI{s: s, core: s.opts.Core, loc: s.businessLocation()}
	if h.core != nil {
		h.rd = h.core.Read()
	} else {
		s.log.Warn("no core given; the customer API answers 501")
	}
	api.Get("/openapi.json", serveOpenAPI)
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
	api.Post("/tags/sync", h.syncTags)
	api.Get("/staff", h.listStaff)
	api.Put("/staff/:id", h.putStaff)
	api.Post("/staff/sync", h.syncStaff)
	api.Get("/audit", h.listAudit)
	api.Post("/tokens", h.createToken)
	h.actionRoutes(api)
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

func (h *crmAPI) store() (bot.ActionReader, error) {
	if h.core == nil {
		return nil, errorf(fiber.StatusNotImplemented, "this store does not support the customer API", nil)
	}
	return h.rd, nil
}

// actor is the principal acting through the API.
func (p principal) act() bot.Actor { return bot.Actor{Viewer: p.viewer, Source: bot.SourceAPI} }

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
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	return h.core.Visible(ctx, p.act(), id)
}

// pathID returns the principal and the :id path parameter.
func (h *crmAPI) pathID(c *fiber.Ctx) (principal, string, error) {
	if _, err := h.store(); err != nil {
		return principal{}, "", err
	}
	id, err := param(c, "id")
	if err != nil {
		return principal{}, "", err
	}
	return principalOf(c), id, nil
}

// ---- customers ----

// customerFilter reads the filters GET /customers and the spreadsheet export
// share: tag, stage, q, and last_contact_before/after (RFC 3339, or a bare
// date read in the business time zone). owner is left to the caller, which
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
	return f, nil
}

// listCustomers narrows the filter to the viewer's scope before the store
// sees it: a salesperson's owner= outside their scope yields an empty page,
// never someone else's customers. CanSee re-checks every row.
func (h *crmAPI) listCustomers(c *fiber.Ctx) error {
	st, err := h.store()
	if err != nil {
		return err
	}
	p := principalOf(c)
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	f, err := customerFilter(c, h.loc)
	if err != nil {
		return err
	}
	f.AfterID, f.Limit = query(c, "cursor"), limit+1
	if len(f.AfterID) > 128 {
		return errorf(fiber.StatusBadRequest, "invalid cursor", nil)
	}
	owner := query(c, "owner")
	scope := p.viewer.Scope()
	switch {
	case scope == nil: // everyone
		f.StaffID = owner
	case owner != "":
		if !slices.Contains(scope, owner) {
			return sendJSON(c, fiber.StatusOK, page[*store.Customer]{Items: []*store.Customer{}})
		}
		f.StaffID = owner
	case len(scope) == 0:
		return sendJSON(c, fiber.StatusOK, page[*store.Customer]{Items: []*store.Customer{}})
	case len(scope) == 1:
		f.StaffID = scope[0]
	default:
		f.StaffIDs = scope
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	list, err := st.FindCustomers(ctx, f)
	if err != nil {
		if f.AfterID != "" {
			// The only client-caused failure the store has is a cursor it
			// cannot read.
			return errorf(fiber.StatusBadRequest, "invalid cursor", err)
		}
		return fmt.Errorf("api: list customers: %w", err)
	}
	out := page[*store.Customer]{Items: make([]*store.Customer, 0, min(len(list), limit))}
	if len(list) > limit {
		list = list[:limit]
		out.NextCursor = list[limit-1].ID
	}
	for _, cu := range list {
		if p.viewer.CanSee(cu) {
			out.Items = append(out.Items, cu)
		}
	}
	return sendJSON(c, fiber.StatusOK, out)
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
	return sendJSON(c, fiber.StatusOK, customerDetail{Customer: cu, Groups: groups})
}

// timeline pages a customer's timeline newest first; the core audits every
// read before anything is sent.
func (h *crmAPI) timeline(c *fiber.Ctx) error {
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	var before int64
	if v := c.Query("cursor"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			return errorf(fiber.StatusBadRequest, "invalid cursor", nil)
		}
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	_, entries, err := h.core.ReadTimeline(ctx, p.act(), id, before, limit)
	if err != nil {
		return err
	}
	out := page[*store.TimelineEntry]{Items: entries}
	if len(entries) > limit {
		out.Items = entries[:limit]
		out.NextCursor = strconv.FormatInt(entries[limit-1].ID, 10)
	}
	// Private notes the caller may not read are left out; the cursor still
	// walks the whole timeline, so a page may hold fewer than limit items.
	out.Items = p.viewer.VisibleEntries(out.Items)
	if len(out.Items) == 0 {
		out.Items = []*store.TimelineEntry{}
	}
	return sendJSON(c, fiber.StatusOK, out)
}

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
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	var req noteRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	e, inserted, err := h.core.AddNote(ctx, p.act(), bot.NoteRequest{CustomerID: id, Text: req.Text, Private: req.Private, Key: idempotencyKey(c)})
	if err != nil {
		return err
	}
	status := fiber.StatusCreated
	if !inserted {
		status = fiber.StatusOK // a retry of a stored note
	}
	return sendJSON(c, status, e)
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
}

// patchCustomer edits a customer: the core validates every part before it
// writes any, then runs the field, stage and tag actions.
func (h *crmAPI) patchCustomer(c *fiber.Ctx) error {
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	var req customerPatch
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	after, err := h.core.EditCustomer(ctx, p.act(), bot.CustomerEdit{
		CustomerID: id, Name: req.Name, Stage: req.Stage, Tier: req.Tier, Fields: req.Fields,
		AddTags: req.AddTags, RemoveTags: req.RemoveTags, Key: idempotencyKey(c),
	})
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, after)
}

type mergeRequest struct {
	From string `json:"from"`
}

// merge folds customer from into customer id. Both must be visible to the
// manager or admin asking.
func (h *crmAPI) merge(c *fiber.Ctx) error {
	if _, err := h.store(); err != nil {
		return err
	}
	p, err := requireRole(c, bot.RoleAdmin, bot.RoleManager)
	if err != nil {
		return err
	}
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	var req mergeRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 30*time.Second)
	defer cancel()
	merged, err := h.core.Merge(ctx, p.act(), id, req.From)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, merged)
}

func (h *crmAPI) export(c *fiber.Ctx) error {
	p, id, err := h.pathID(c)
	if err != nil {
		return err
	}
	ctx, cancel := requestContext(c, time.Minute)
	defer cancel()
	out, err := h.core.ExportCustomer(ctx, p.act(), id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="customer-`+out.Customer.ID+`.json"`)
	return sendJSON(c, fiber.StatusOK, out)
}

// eraseCustomer deletes a customer and everything about them; the core
// audits it first, and a failed erase too.
func (h *crmAPI) eraseCustomer(c *fiber.Ctx) error {
	if _, err := h.store(); err != nil {
		return err
	}
	p, err := requireRole(c, bot.RoleAdmin)
	if err != nil {
		return err
	}
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := requestContext(c, time.Minute)
	defer cancel()
	if err := h.core.Erase(ctx, p.act(), id); err != nil {
		return err
	}
	h.s.log.Info("customer erased", "customer", id, "actor", p.actor)
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- tags ----

func (h *crmAPI) listTags(c *fiber.Ctx) error {
	st, err := h.store()
	if err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	tags, err := st.FindTags(ctx)
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
	if _, err := h.store(); err != nil {
		return err
	}
	if _, err := requireRole(c, bot.RoleAdmin); err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	if err := h.core.RequestSync(ctx, principalOf(c).act(), key, kind); err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusAccepted, map[string]string{"status": "scheduled"})
}

// ---- staff ----

// listStaff returns the directory to an admin and a manager's team (with
// the manager) to a manager.
func (h *crmAPI) listStaff(c *fiber.Ctx) error {
	st, err := h.store()
	if err != nil {
		return err
	}
	p, err := requireRole(c, bot.RoleAdmin, bot.RoleManager)
	if err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	all, err := st.FindStaff(ctx)
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
	if _, err := h.store(); err != nil {
		return err
	}
	p, err := requireRole(c, bot.RoleAdmin)
	if err != nil {
		return err
	}
	id, err := param(c, "id")
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
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	m, err := h.core.PutStaff(ctx, p.act(), bot.StaffEdit{ID: id, Name: req.Name, Role: req.Role, Team: req.Team,
		Departments: req.Departments, Active: req.Active, Manual: req.Manual}, validStaffID)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, m)
}

// ---- audit and tokens ----

func (h *crmAPI) listAudit(c *fiber.Ctx) error {
	st, err := h.store()
	if err != nil {
		return err
	}
	if _, err := requireRole(c, bot.RoleAdmin); err != nil {
		return err
	}
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	var before int64
	if v := c.Query("cursor"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			return errorf(fiber.StatusBadRequest, "invalid cursor", nil)
		}
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	list, err := st.FindAudit(ctx, query(c, "target"), before, limit+1)
	if err != nil {
		return fmt.Errorf("api: find audit: %w", err)
	}
	out := page[*store.AuditEntry]{Items: list}
	if len(list) > limit {
		out.Items = list[:limit]
		out.NextCursor = strconv.FormatInt(list[limit-1].ID, 10)
	}
	if out.Items == nil {
		out.Items = []*store.AuditEntry{}
	}
	return sendJSON(c, fiber.StatusOK, out)
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
	st, err := h.store()
	if err != nil {
		return err
	}
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
	ctx, cancel := requestContext(c, 0)
	defer cancel()
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
