package handlers

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// CRMStore is what the customer API reads and writes. Both backends
// implement it; the edge's Store is asserted to it when routes are built.
type CRMStore interface {
	store.CustomerStore
	store.TimelineStore
	store.CustomerAdmin
	store.StaffStore
	store.TagStore
	store.AuditStore
	store.ReminderStore
	store.JobStore
}

// Audit actions written by the API.
const (
	AuditReadTimeline = "read_timeline"
	AuditExport       = "export"
	AuditErase        = "erase"
	AuditEraseFailed  = "erase_failed"
	AuditMerge        = "merge"
	AuditStaffUpdate  = "staff_update"
	AuditTokenCreate  = "token_create"
)

const (
	defaultPageLimit = 50
	maxPageLimit     = 200
	maxNoteRunes     = 5000
	maxTagRunes      = 64
	maxFieldRunes    = 2000
	// One PATCH once put 20,000 new tags into the catalogue every user
	// downloads and 5,000 fields on one customer: edits are bounded per
	// request and what a customer carries is bounded after the edit.
	maxTagsPerRequest    = 50 // each of add_tags and remove_tags
	maxTagsPerCustomer   = 100
	maxFieldsPerRequest  = 50
	maxFieldsPerCustomer = 50
)

// crmAPI holds the customer API's handlers over the CRM store.
type crmAPI struct {
	s   *Server
	st  CRMStore // nil when the store lacks the CRM records
	loc *time.Location
}

// crmRoutes registers the customer, staff, tag, audit and token endpoints
// and the OpenAPI document. Every handler resolves visibility through
// bot.Viewer (CanSee/Scope): the one rule every door uses.
func (s *Server) crmRoutes(api fiber.Router) {
	h := &crmAPI{s: s, loc: s.businessLocation()}
	if st, ok := s.store.(CRMStore); ok {
		h.st = st
	} else {
		s.log.Warn("the store does not implement the CRM records; customer API answers 501")
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
}

// businessLocation is the default business time zone (SCRM_TIMEZONE's
// default) used to read bare dates in filters.
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

func (h *crmAPI) store() (CRMStore, error) {
	if h.st == nil {
		return nil, errorf(fiber.StatusNotImplemented, "this store does not support the customer API", nil)
	}
	return h.st, nil
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

// visibleCustomer loads a customer the principal may see. An invisible
// customer is reported exactly like a missing one, so its existence is not
// revealed.
func (h *crmAPI) visibleCustomer(c *fiber.Ctx, st CRMStore, p principal, id string) (*store.Customer, error) {
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	cu, err := st.FindCustomerByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !p.viewer.CanSee(cu)) {
		return nil, errorf(fiber.StatusNotFound, "customer not found", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("api: find customer %s: %w", id, err)
	}
	return cu, nil
}

// pathCustomer resolves the customer named by the :id path parameter for the
// caller: the store, the principal and the customer, or 404 when the caller
// may not see it (whether or not it exists).
func (h *crmAPI) pathCustomer(c *fiber.Ctx) (CRMStore, principal, *store.Customer, error) {
	st, err := h.store()
	if err != nil {
		return nil, principal{}, nil, err
	}
	p := principalOf(c)
	id, err := param(c, "id")
	if err != nil {
		return nil, principal{}, nil, err
	}
	cu, err := h.visibleCustomer(c, st, p, id)
	if err != nil {
		return nil, principal{}, nil, err
	}
	return st, p, cu, nil
}

func (h *crmAPI) audit(c *fiber.Ctx, st CRMStore, p principal, action, target, detail string) error {
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	e := &store.AuditEntry{Actor: p.actor, Action: action, Target: target, Detail: detail, At: h.s.opts.Now().UTC()}
	if err := st.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("api: audit %s %s: %w", action, target, err)
	}
	return nil
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
	st, err := h.store()
	if err != nil {
		return err
	}
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	cu, err := h.visibleCustomer(c, st, principalOf(c), id)
	if err != nil {
		return err
	}
	groups, err := h.customerGroups(c, cu) // api_groups.go
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, customerDetail{Customer: cu, Groups: groups})
}

// timeline pages a customer's timeline newest first; every read is audited
// before anything is sent.
func (h *crmAPI) timeline(c *fiber.Ctx) error {
	st, err := h.store()
	if err != nil {
		return err
	}
	p := principalOf(c)
	id, err := param(c, "id")
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
	cu, err := h.visibleCustomer(c, st, p, id)
	if err != nil {
		return err
	}
	id = cu.ID // a merged-away ID resolves to the survivor
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	entries, err := st.FindTimeline(ctx, id, before, limit+1)
	if err != nil {
		return fmt.Errorf("api: timeline %s: %w", id, err)
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
	detail := fmt.Sprintf("entries=%d", len(out.Items))
	if before > 0 {
		detail += fmt.Sprintf(" before=%d", before)
	}
	if err := h.audit(c, st, p, AuditReadTimeline, id, detail); err != nil {
		return err
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

// addNote appends a note. An Idempotency-Key header makes a retried POST
// store the note once.
func (h *crmAPI) addNote(c *fiber.Ctx) error {
	st, p, cu, err := h.pathCustomer(c)
	if err != nil {
		return err
	}
	var req noteRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	req.Text = strings.TrimSpace(req.Text)
	if req.Text == "" || utf8.RuneCountInString(req.Text) > maxNoteRunes {
		return errorf(fiber.StatusBadRequest, fmt.Sprintf("text must be 1..%d characters", maxNoteRunes), nil)
	}
	key := strings.Clone(c.Get("Idempotency-Key"))
	if key == "" || len(key) > 128 {
		key = randomKey()
	}
	e := &store.TimelineEntry{
		CustomerID: cu.ID,
		SourceKey:  "note:api:" + p.actor + ":" + cu.ID + ":" + key,
		Kind:       store.EntryNote,
		Text:       req.Text,
		Attrs:      map[string]string{"author": p.actor, "source": "api"},
		At:         h.s.opts.Now().UTC(),
	}
	if req.Private {
		e.Attrs[store.AttrPrivate] = "true"
	}
	if p.actor != adminActor {
		e.StaffID = p.actor
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	inserted, err := st.AppendTimeline(ctx, e)
	if err != nil {
		return fmt.Errorf("api: add note to %s: %w", cu.ID, err)
	}
	status := fiber.StatusCreated
	if !inserted {
		status = fiber.StatusOK // a retry of a stored note
	}
	return sendJSON(c, status, e)
}

func randomKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
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

// Stages a customer may be moved to.
var stages = []string{store.StageLead, store.StageActive, store.StageWon, store.StageDormant, store.StageLost}

func (r *customerPatch) validate() error {
	bad := func(msg string) error { return errorf(fiber.StatusBadRequest, msg, nil) }
	if r.Name != nil && (strings.TrimSpace(*r.Name) == "" || utf8.RuneCountInString(*r.Name) > 128) {
		return bad("name must be 1..128 characters")
	}
	if r.Stage != nil && !slices.Contains(stages, *r.Stage) {
		return bad("stage must be one of " + strings.Join(stages, ", "))
	}
	if r.Tier != nil && utf8.RuneCountInString(*r.Tier) > 32 {
		return bad("tier must be at most 32 characters")
	}
	if len(r.AddTags) > maxTagsPerRequest || len(r.RemoveTags) > maxTagsPerRequest {
		return bad(fmt.Sprintf("一次最多添加或移除 %d 个标签", maxTagsPerRequest))
	}
	if len(r.Fields) > maxFieldsPerRequest {
		return bad(fmt.Sprintf("一次最多修改 %d 个自定义字段", maxFieldsPerRequest))
	}
	for k, v := range r.Fields {
		if strings.TrimSpace(k) == "" || utf8.RuneCountInString(k) > 64 || utf8.RuneCountInString(v) > maxFieldRunes {
			return bad("field names must be 1..64 characters and values at most 2000")
		}
	}
	for _, t := range slices.Concat(r.AddTags, r.RemoveTags) {
		if strings.TrimSpace(t) == "" || utf8.RuneCountInString(t) > maxTagRunes {
			return bad("tags must be 1..64 characters")
		}
	}
	for _, t := range r.AddTags {
		if slices.Contains(r.RemoveTags, t) {
			return bad("a tag cannot be added and removed at once: " + t)
		}
	}
	if r.Name == nil && r.Stage == nil && r.Tier == nil && len(r.Fields) == 0 && len(r.AddTags) == 0 && len(r.RemoveTags) == 0 {
		return bad("nothing to change")
	}
	return nil
}

func (h *crmAPI) patchCustomer(c *fiber.Ctx) error {
	st, p, before, err := h.pathCustomer(c)
	if err != nil {
		return err
	}
	id := before.ID
	var req customerPatch
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	if err := checkCustomerBounds(before, &req); err != nil {
		return err
	}
	now := h.s.opts.Now().UTC()
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	var catalogue []store.Tag
	if len(req.AddTags) > 0 || len(req.RemoveTags) > 0 {
		if catalogue, err = st.FindTags(ctx); err != nil {
			return fmt.Errorf("api: find tags: %w", err)
		}
		if err := checkNewTags(p, catalogue, req.AddTags); err != nil {
			return err
		}
	}
	after, err := st.UpdateCustomer(ctx, id, store.CustomerUpdate{
		Name: req.Name, Stage: req.Stage, Tier: req.Tier, Fields: req.Fields,
		AddTags: req.AddTags, RemoveTags: req.RemoveTags, Now: now,
	})
	if err != nil {
		return fmt.Errorf("api: update customer %s: %w", id, err)
	}
	if req.Stage != nil && *req.Stage != before.Stage {
		e := &store.TimelineEntry{
			CustomerID: id,
			SourceKey:  fmt.Sprintf("stage:api:%s:%d", id, now.UnixNano()),
			Kind:       store.EntryStage,
			Text:       "阶段：" + before.Stage + " → " + *req.Stage,
			Attrs:      map[string]string{"from": before.Stage, "to": *req.Stage, "author": p.actor, "source": "api"},
			At:         now,
		}
		if p.actor != adminActor {
			e.StaffID = p.actor
		}
		if _, err := st.AppendTimeline(ctx, e); err != nil {
			return fmt.Errorf("api: stage entry for %s: %w", id, err)
		}
	}
	if len(req.AddTags) > 0 || len(req.RemoveTags) > 0 {
		if err := h.tagsEdited(c, st, catalogue, id, req.AddTags, req.RemoveTags, now); err != nil {
			return err
		}
	}
	return sendJSON(c, fiber.StatusOK, after)
}

// checkCustomerBounds refuses an edit that would leave the customer with
// more tags or fields than allowed. A customer already over a bound (from
// before the bounds) may still be edited as long as the count does not grow.
func checkCustomerBounds(cu *store.Customer, r *customerPatch) error {
	tags := map[string]bool{}
	for _, t := range cu.Tags {
		tags[t] = true
	}
	for _, t := range r.AddTags {
		tags[t] = true
	}
	for _, t := range r.RemoveTags {
		delete(tags, t)
	}
	if len(tags) > maxTagsPerCustomer && len(tags) > len(cu.Tags) {
		return errorf(fiber.StatusBadRequest, fmt.Sprintf("一位客户最多 %d 个标签，请先移除不用的标签", maxTagsPerCustomer), nil)
	}
	fields := map[string]bool{}
	for k := range cu.Fields {
		fields[k] = true
	}
	for k, v := range r.Fields {
		if v == "" {
			delete(fields, k)
		} else {
			fields[k] = true
		}
	}
	if len(fields) > maxFieldsPerCustomer && len(fields) > len(cu.Fields) {
		return errorf(fiber.StatusBadRequest, fmt.Sprintf("一位客户最多 %d 个自定义字段，请先删除不用的字段", maxFieldsPerCustomer), nil)
	}
	return nil
}

// checkNewTags lets only admins and managers grow the tag catalogue every
// user reads: a salesperson puts existing tags on their customers, and a
// name the catalogue lacks is refused rather than becoming a local tag.
func checkNewTags(p principal, catalogue []store.Tag, added []string) error {
	if p.viewer.Role == bot.RoleAdmin || p.viewer.Role == bot.RoleManager {
		return nil
	}
	known := make(map[string]bool, len(catalogue))
	for _, t := range catalogue {
		known[t.Name] = true
	}
	var unknown []string
	for _, t := range added {
		if !known[t] && !slices.Contains(unknown, t) {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		return errorf(fiber.StatusForbidden, "标签库中没有「"+strings.Join(unknown, "」「")+"」：销售只能使用已有标签，新标签请联系管理员或主管创建", nil)
	}
	return nil
}

// tagsEdited follows up a tag edit: corp tags are written back to WeCom by
// durable jobs (bot.TagSync runs them), so a WeCom outage delays the write
// and loses nothing; a tag the catalogue does not have becomes a local tag.
func (h *crmAPI) tagsEdited(c *fiber.Ctx, st CRMStore, catalogue []store.Tag, id string, added, removed []string, now time.Time) error {
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	corp, known := map[string]bool{}, map[string]bool{}
	for _, t := range catalogue {
		known[t.Name] = true
		corp[t.Name] = corp[t.Name] || !t.Local
	}
	var local []store.Tag
	for _, t := range added {
		if !known[t] {
			local = append(local, store.Tag{ID: "local:" + t, Name: t, Local: true})
		}
	}
	if len(local) > 0 {
		if err := st.UpsertTags(ctx, local); err != nil {
			return fmt.Errorf("api: add local tags: %w", err)
		}
	}
	for _, t := range slices.Concat(added, removed) {
		if !corp[t] {
			continue
		}
		key, payload := bot.MarkTagJob(id, t)
		if err := st.ScheduleJob(ctx, key, bot.JobMarkTag, payload, now); err != nil {
			return fmt.Errorf("api: schedule tag write-back for %s: %w", id, err)
		}
	}
	return nil
}

type mergeRequest struct {
	From string `json:"from"`
}

// merge folds customer from into customer id. Both must be visible to the
// manager or admin asking.
func (h *crmAPI) merge(c *fiber.Ctx) error {
	st, err := h.store()
	if err != nil {
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
	if req.From == "" {
		return errorf(fiber.StatusBadRequest, "from is required", nil)
	}
	if req.From == id {
		return errorf(fiber.StatusBadRequest, "cannot merge a customer into itself", nil)
	}
	into, err := h.visibleCustomer(c, st, p, id)
	if err != nil {
		return err
	}
	from, err := h.visibleCustomer(c, st, p, req.From)
	if err != nil {
		return err
	}
	if into.ID == from.ID {
		// The store resolves a merged-away ID to its survivor.
		return errorf(fiber.StatusConflict, "already merged", nil)
	}
	if err := h.audit(c, st, p, AuditMerge, into.ID, "from "+from.ID); err != nil {
		return err
	}
	if err := h.audit(c, st, p, AuditMerge, from.ID, "into "+into.ID); err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 30*time.Second)
	defer cancel()
	merged, err := st.MergeCustomers(ctx, into.ID, from.ID)
	if err != nil {
		return fmt.Errorf("api: merge %s into %s: %w", from.ID, into.ID, err)
	}
	return sendJSON(c, fiber.StatusOK, merged)
}

// customerExport is everything scrm holds about one customer (PIPL access
// and portability requests). Customer carries identities, follows, tags,
// fields and the insight.
type customerExport struct {
	ExportedAt time.Time              `json:"exported_at"`
	ExportedBy string                 `json:"exported_by"`
	Customer   *store.Customer        `json:"customer"`
	Timeline   []*store.TimelineEntry `json:"timeline"`
	Reminders  []*store.Reminder      `json:"reminders"`
	Groups     []store.CustomerGroup  `json:"groups"` // customer groups (客户群) they are in
}

// maxExportReminders is far above what one customer accumulates; the
// reminder store has no cursor.
const maxExportReminders = 1_000_000

func (h *crmAPI) export(c *fiber.Ctx) error {
	st, p, cu, err := h.pathCustomer(c)
	if err != nil {
		return err
	}
	id := cu.ID
	ctx, cancel := requestContext(c, time.Minute)
	defer cancel()
	out := customerExport{ExportedAt: h.s.opts.Now().UTC(), ExportedBy: p.actor, Customer: cu,
		Timeline: []*store.TimelineEntry{}, Reminders: []*store.Reminder{}}
	for before := int64(0); ; {
		batch, err := st.FindTimeline(ctx, id, before, 1000)
		if err != nil {
			return fmt.Errorf("api: export %s timeline: %w", id, err)
		}
		out.Timeline = append(out.Timeline, p.viewer.VisibleEntries(batch)...)
		if len(batch) < 1000 {
			break
		}
		before = batch[len(batch)-1].ID
	}
	rs, err := st.FindReminders(ctx, store.ReminderFilter{CustomerID: id, Limit: maxExportReminders})
	if err != nil {
		return fmt.Errorf("api: export %s reminders: %w", id, err)
	}
	out.Reminders = append(out.Reminders, rs...)
	if out.Groups, err = h.customerGroups(c, cu); err != nil {
		return err
	}
	if out.Groups == nil {
		out.Groups = []store.CustomerGroup{}
	}
	detail := fmt.Sprintf("timeline=%d reminders=%d groups=%d", len(out.Timeline), len(out.Reminders), len(out.Groups))
	if err := h.audit(c, st, p, AuditExport, id, detail); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="customer-`+id+`.json"`)
	return sendJSON(c, fiber.StatusOK, out)
}

// eraseCustomer deletes a customer and everything about them. The audit
// entry is written first, so an erase is never unrecorded; a failed erase
// is recorded too.
func (h *crmAPI) eraseCustomer(c *fiber.Ctx) error {
	st, err := h.store()
	if err != nil {
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
	cu, err := h.visibleCustomer(c, st, p, id)
	if err != nil {
		return err
	}
	id = cu.ID
	if err := h.audit(c, st, p, AuditErase, id, ""); err != nil {
		return err
	}
	ctx, cancel := requestContext(c, time.Minute)
	defer cancel()
	if err := st.EraseCustomer(ctx, id); err != nil {
		if aerr := h.audit(c, st, p, AuditEraseFailed, id, ""); aerr != nil {
			h.s.log.Error("audit of a failed erase", "customer", id, "err", aerr)
		}
		if errors.Is(err, store.ErrNotFound) {
			return errorf(fiber.StatusNotFound, "customer not found", err)
		}
		return fmt.Errorf("api: erase %s: %w", id, err)
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
	st, err := h.store()
	if err != nil {
		return err
	}
	if _, err := requireRole(c, bot.RoleAdmin); err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 0)
	defer cancel()
	if err := st.ScheduleJob(ctx, key, kind, "", h.s.opts.Now().UTC()); err != nil {
		return fmt.Errorf("api: schedule %s: %w", kind, err)
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
	st, err := h.store()
	if err != nil {
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
	if reservedStaffID(id) {
		return reservedStaffIDError(id)
	}
	if !validStaffID(id) {
		return errorf(fiber.StatusBadRequest, "invalid staff id", nil)
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
	m, err := st.FindStaffByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		m = &store.Staff{ID: id, Role: bot.RoleSales, Active: true}
	case err != nil:
		return fmt.Errorf("api: find staff %s: %w", id, err)
	}
	if req.Name != nil {
		m.Name = strings.TrimSpace(*req.Name)
	}
	if req.Role != nil {
		if !slices.Contains([]string{bot.RoleAdmin, bot.RoleManager, bot.RoleSales}, *req.Role) {
			return errorf(fiber.StatusBadRequest, "role must be admin, manager or sales", nil)
		}
		m.Role = *req.Role
	}
	if req.Team != nil {
		for _, t := range *req.Team {
			if !validStaffID(t) {
				return errorf(fiber.StatusBadRequest, "invalid staff id in team", nil)
			}
		}
		m.Team = slices.Compact(slices.Sorted(slices.Values(*req.Team)))
	}
	if req.Departments != nil {
		m.Departments = *req.Departments
	}
	if req.Active != nil {
		m.Active = *req.Active
	}
	if err := markManual(m, &req); err != nil {
		return err
	}
	if err := st.UpsertStaff(ctx, m); err != nil {
		return fmt.Errorf("api: upsert staff %s: %w", id, err)
	}
	detail := fmt.Sprintf("role=%s active=%t team=%s", m.Role, m.Active, strings.Join(m.Team, ","))
	if err := h.audit(c, st, p, AuditStaffUpdate, "staff:"+id, detail); err != nil {
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
	if err := h.audit(c, st, p, AuditTokenCreate, "staff:"+m.ID, "expires "+exp.Format(time.RFC3339)); err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusCreated, tokenResponse{Token: tok, StaffID: m.ID, ExpiresAt: exp})
}
