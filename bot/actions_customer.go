package bot

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scrmhq/scrm/store"
)

// Limits of what people write on a customer. They live here, in the core,
// so every door refuses the same input.
const (
	MaxNoteRunes       = 5000
	MaxNameRunes       = 128
	MaxTierRunes       = 32
	MaxTagRunes        = 64
	MaxFieldNameRunes  = 64
	MaxFieldValueRunes = 2000
	// One PATCH once put 20,000 new tags into the catalogue every user
	// downloads and 5,000 fields on one customer: edits are bounded per
	// request and what a customer carries is bounded after the edit.
	MaxTagsPerRequest    = 50 // each of the added and the removed
	MaxTagsPerCustomer   = 100
	MaxFieldsPerRequest  = 50
	MaxFieldsPerCustomer = 50
)

// Stages a customer may be moved to.
var Stages = []string{store.StageLead, store.StageActive, store.StageWon, store.StageDormant, store.StageLost}

// ---- notes ----

// NoteRequest adds a note to a customer's timeline.
type NoteRequest struct {
	CustomerID string
	Text       string
	// Private notes are read only by their author, the author's managers
	// and admins (CanSeeEntry).
	Private bool
	// Key makes the note idempotent: the same actor, door, customer and key
	// store one note. Empty: a fresh key (no retry possible).
	Key string
	At  time.Time // zero: now
}

func validateNote(text string) (string, error) {
	text = trimmed(text)
	if text == "" || utf8.RuneCountInString(text) > MaxNoteRunes {
		return "", invalid(fmt.Sprintf("text must be 1..%d characters", MaxNoteRunes),
			fmt.Sprintf("备注需为 1 到 %d 个字。", MaxNoteRunes))
	}
	return text, nil
}

// AddNote writes a note by a on a customer a may see. Every note carries
// the attributes author and source, and private="true" when private. Its
// entry key holds a hash of the text (and a private mark), so two notes
// under one key — a bot command's time is only to the second — are both
// kept, while a retry of the same note finds it. It reports whether the note is new
// (false: a retry of a stored one, which is returned as stored).
func (c *Core) AddNote(ctx context.Context, a Actor, req NoteRequest) (*store.TimelineEntry, bool, error) {
	text, err := validateNote(req.Text)
	if err != nil {
		return nil, false, err
	}
	cu, err := c.visible(ctx, a, req.CustomerID)
	if err != nil {
		return nil, false, err
	}
	at, key := c.at(req.At), orRandomKey(req.Key)
	detail := "key=" + key
	if req.Private {
		detail += " private=true"
	}
	if err := c.audit(ctx, a, AuditNote, cu.ID, detail, at); err != nil {
		return nil, false, err
	}
	sum := fnv.New64a()
	sum.Write([]byte(text))
	sk := fmt.Sprintf("%s:%x", entryKey("note", a, cu.ID, key), sum.Sum64())
	if req.Private {
		sk += ":private"
	}
	e := &store.TimelineEntry{
		CustomerID: cu.ID,
		SourceKey:  sk,
		Kind:       store.EntryNote,
		StaffID:    a.entryStaff(),
		Text:       text,
		Attrs:      map[string]string{"author": a.ID(), "source": a.Source},
		At:         at,
	}
	if req.Private {
		e.Attrs[store.AttrPrivate] = "true"
	}
	inserted, err := c.st.AppendTimeline(ctx, e)
	if err != nil {
		return nil, false, fmt.Errorf("actions: note on %s: %w", cu.ID, err)
	}
	return e, inserted, nil
}

// ---- stage ----

// StageRequest moves a customer to a stage.
type StageRequest struct {
	CustomerID string
	Stage      string
	Key        string    // idempotency key; empty: a fresh one
	Reason     string    // why, for system actors (shown after the change)
	StaffID    string    // the staff member the entry is about, when the actor is the system
	At         time.Time // time of the entry; zero: now
}

func validateStage(s string) error {
	if !slices.Contains(Stages, s) {
		return invalid("stage must be one of "+strings.Join(Stages, ", "), "阶段需为："+strings.Join(Stages, "、"))
	}
	return nil
}

// ChangeStage moves a customer a may see to req.Stage and records one stage
// entry: text "阶段：A → B" (with the reason in brackets after it), attrs
// from, to, by (the actor, or "system") and source. A customer already at
// the stage is left alone and nothing is recorded; it reports whether the
// stage changed.
func (c *Core) ChangeStage(ctx context.Context, a Actor, req StageRequest) (*store.Customer, bool, error) {
	if err := validateStage(req.Stage); err != nil {
		return nil, false, err
	}
	cu, err := c.visible(ctx, a, req.CustomerID)
	if err != nil {
		return nil, false, err
	}
	return c.changeStage(ctx, a, cu, req)
}

func (c *Core) changeStage(ctx context.Context, a Actor, cu *store.Customer, req StageRequest) (*store.Customer, bool, error) {
	if cu.Stage == req.Stage {
		return cu, false, nil
	}
	at, key := c.at(req.At), orRandomKey(req.Key)
	from := cu.Stage
	if err := c.audit(ctx, a, AuditStage, cu.ID, fmt.Sprintf("from=%s to=%s key=%s", from, req.Stage, key), at); err != nil {
		return nil, false, err
	}
	text := "阶段：" + stageName(from) + " → " + req.Stage
	attrs := map[string]string{"from": from, "to": req.Stage, "by": a.ID(), "source": a.Source}
	if req.Reason != "" {
		text += "（" + req.Reason + "）"
		attrs["reason"] = req.Reason
	}
	staff := a.entryStaff()
	if staff == "" {
		staff = req.StaffID
	}
	sk := entryKey("stage", a, cu.ID, key)
	if _, err := c.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: cu.ID, SourceKey: sk, Kind: store.EntryStage,
		StaffID: staff, Text: text, Attrs: attrs, At: at,
	}); err != nil {
		return nil, false, fmt.Errorf("actions: stage entry of %s: %w", cu.ID, err)
	}
	if err := c.journeysOnStage(ctx, req.Stage, journeysAt{cu: cu, occ: sk, at: at}); err != nil {
		return nil, false, err
	}
	stage := req.Stage
	after, err := c.st.UpdateCustomer(ctx, cu.ID, store.CustomerUpdate{Stage: &stage, Now: c.Now()})
	if err != nil {
		return nil, false, fmt.Errorf("actions: stage of %s: %w", cu.ID, err)
	}
	return after, true, nil
}

// ---- tags ----

// TagsRequest adds and removes tags of a customer.
type TagsRequest struct {
	CustomerID string
	Add        []string
	Remove     []string
	// LocalGroup is the group a new local tag is filed under (the
	// analysis's "智能标签"); empty for tags people add.
	LocalGroup string
	Key        string    // idempotency key; empty: a fresh one
	At         time.Time // zero: now
}

// validateTags checks a tag edit's input; checkTags, what it does to a
// customer.
func validateTags(add, remove []string) error {
	if len(add) > MaxTagsPerRequest || len(remove) > MaxTagsPerRequest {
		t := fmt.Sprintf("一次最多添加或移除 %d 个标签", MaxTagsPerRequest)
		return invalid(t, t+"。")
	}
	for _, t := range slices.Concat(add, remove) {
		if trimmed(t) == "" || utf8.RuneCountInString(t) > MaxTagRunes {
			return invalid(fmt.Sprintf("tags must be 1..%d characters", MaxTagRunes), fmt.Sprintf("标签需为 1 到 %d 个字。", MaxTagRunes))
		}
	}
	for _, t := range add {
		if slices.Contains(remove, t) {
			return invalid("a tag cannot be added and removed at once: "+t, "同一个标签不能同时添加和删除："+t)
		}
	}
	return nil
}

// checkTags refuses a tag edit that would leave cu with more than
// MaxTagsPerCustomer tags (a customer already over it from before the bound
// may be edited as long as the count does not grow), and lets only admins
// and managers grow the tag catalogue every user reads: a salesperson puts
// existing tags on their customers, and a name the catalogue lacks is
// refused rather than becoming a local tag. It returns the catalogue.
func (c *Core) checkTags(ctx context.Context, a Actor, cu *store.Customer, add, remove []string) ([]store.Tag, error) {
	tags := map[string]bool{}
	for _, t := range cu.Tags {
		tags[t] = true
	}
	for _, t := range add {
		tags[t] = true
	}
	for _, t := range remove {
		delete(tags, t)
	}
	if len(tags) > MaxTagsPerCustomer && len(tags) > len(cu.Tags) {
		t := fmt.Sprintf("一位客户最多 %d 个标签，请先移除不用的标签", MaxTagsPerCustomer)
		return nil, invalid(t, t+"。")
	}
	catalogue, err := c.st.FindTags(ctx)
	if err != nil {
		return nil, fmt.Errorf("actions: find tags: %w", err)
	}
	if a.Role == RoleAdmin || a.Role == RoleManager {
		return catalogue, nil
	}
	known := make(map[string]bool, len(catalogue))
	for _, t := range catalogue {
		known[t.Name] = true
	}
	var unknown []string
	for _, t := range add {
		if !known[t] && !slices.Contains(unknown, t) {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		t := "标签库中没有「" + strings.Join(unknown, "」「") + "」：销售只能使用已有标签，新标签请联系管理员或主管创建"
		return nil, forbidden(t, t+"。")
	}
	return catalogue, nil
}

// LocalTag is the catalogue entry of a tag scrm keeps itself (not a WeCom
// corp tag): the one place such a tag is built.
func LocalTag(name, group string) store.Tag {
	return store.Tag{ID: "local:" + name, Name: name, GroupName: group, Local: true}
}

// EditTags adds and removes tags of a customer a may see. A tag the
// catalogue lacks becomes a local tag; corp tags are written back to WeCom
// by durable jobs (MarkTagJob, run by TagSync), so a WeCom outage delays
// the write and loses nothing.
func (c *Core) EditTags(ctx context.Context, a Actor, req TagsRequest) (*store.Customer, error) {
	if err := validateTags(req.Add, req.Remove); err != nil {
		return nil, err
	}
	if len(req.Add) == 0 && len(req.Remove) == 0 {
		return nil, invalid("nothing to change", "没有要修改的内容。")
	}
	cu, err := c.visible(ctx, a, req.CustomerID)
	if err != nil {
		return nil, err
	}
	catalogue, err := c.checkTags(ctx, a, cu, req.Add, req.Remove)
	if err != nil {
		return nil, err
	}
	return c.editTags(ctx, a, cu, catalogue, req)
}

// editTags writes a checked tag edit; catalogue is the tag catalogue
// checkTags read.
func (c *Core) editTags(ctx context.Context, a Actor, cu *store.Customer, catalogue []store.Tag, req TagsRequest) (*store.Customer, error) {
	at, key := c.at(req.At), orRandomKey(req.Key)
	detail := fmt.Sprintf("add=%s remove=%s key=%s", strings.Join(req.Add, ","), strings.Join(req.Remove, ","), key)
	if err := c.audit(ctx, a, AuditTags, cu.ID, detail, at); err != nil {
		return nil, err
	}
	corp, known := map[string]bool{}, map[string]bool{}
	for _, t := range catalogue {
		known[t.Name] = true
		corp[t.Name] = corp[t.Name] || !t.Local
	}
	var local []store.Tag
	for _, t := range req.Add {
		if !known[t] {
			local = append(local, LocalTag(t, req.LocalGroup))
		}
	}
	if len(local) > 0 {
		if err := c.st.UpsertTags(ctx, local); err != nil {
			return nil, fmt.Errorf("actions: add local tags: %w", err)
		}
	}
	var parts []string
	for _, t := range req.Add {
		parts = append(parts, "+"+t)
	}
	for _, t := range req.Remove {
		parts = append(parts, "-"+t)
	}
	sk := entryKey("tags", a, cu.ID, key)
	if _, err := c.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: cu.ID, SourceKey: sk, Kind: store.EntryEvent, StaffID: a.entryStaff(),
		Text: "标签：" + strings.Join(parts, " "),
		Attrs: map[string]string{"change": "tags", "added": strings.Join(req.Add, ","), "removed": strings.Join(req.Remove, ","),
			"by": a.ID(), "source": a.Source},
		At: at,
	}); err != nil {
		return nil, fmt.Errorf("actions: tag entry of %s: %w", cu.ID, err)
	}
	if err := c.journeysOnTags(ctx, req.Add, journeysAt{cu: cu, occ: sk, at: at}); err != nil {
		return nil, err
	}
	now := c.Now()
	after, err := c.st.UpdateCustomer(ctx, cu.ID, store.CustomerUpdate{AddTags: req.Add, RemoveTags: req.Remove, Now: now})
	if err != nil {
		return nil, fmt.Errorf("actions: tags of %s: %w", cu.ID, err)
	}
	for _, t := range slices.Concat(req.Add, req.Remove) {
		if !corp[t] {
			continue
		}
		jk, payload := MarkTagJob(cu.ID, t)
		if err := c.st.ScheduleJob(ctx, jk, JobMarkTag, payload, now); err != nil {
			return nil, fmt.Errorf("actions: schedule tag write-back for %s: %w", cu.ID, err)
		}
	}
	return after, nil
}

// ---- name, tier, fields ----

// FieldsRequest edits a customer's name, tier and custom fields; nil and
// empty leave a value alone, an empty field value deletes the field.
type FieldsRequest struct {
	CustomerID string
	Name       *string
	Tier       *string
	Fields     map[string]string
	Key        string
	At         time.Time
}

func (r FieldsRequest) empty() bool { return r.Name == nil && r.Tier == nil && len(r.Fields) == 0 }

func validateFields(r FieldsRequest) error {
	if r.Name != nil && (trimmed(*r.Name) == "" || utf8.RuneCountInString(*r.Name) > MaxNameRunes) {
		return invalid(fmt.Sprintf("name must be 1..%d characters", MaxNameRunes), fmt.Sprintf("名字需为 1 到 %d 个字。", MaxNameRunes))
	}
	if len(r.Fields) > MaxFieldsPerRequest {
		t := fmt.Sprintf("一次最多修改 %d 个自定义字段", MaxFieldsPerRequest)
		return invalid(t, t+"。")
	}
	if r.Tier != nil && utf8.RuneCountInString(*r.Tier) > MaxTierRunes {
		return invalid(fmt.Sprintf("tier must be at most %d characters", MaxTierRunes), fmt.Sprintf("客户等级最多 %d 个字。", MaxTierRunes))
	}
	for k, v := range r.Fields {
		if trimmed(k) == "" || utf8.RuneCountInString(k) > MaxFieldNameRunes || utf8.RuneCountInString(v) > MaxFieldValueRunes {
			return invalid(fmt.Sprintf("field names must be 1..%d characters and values at most %d", MaxFieldNameRunes, MaxFieldValueRunes),
				fmt.Sprintf("字段名需为 1 到 %d 个字，字段值最多 %d 个字。", MaxFieldNameRunes, MaxFieldValueRunes))
		}
	}
	return nil
}

// EditFields edits the name, tier and custom fields of a customer a may see.
// It is EditCustomer without a stage or tags.
func (c *Core) EditFields(ctx context.Context, a Actor, req FieldsRequest) (*store.Customer, error) {
	return c.EditCustomer(ctx, a, CustomerEdit{CustomerID: req.CustomerID, Name: req.Name, Tier: req.Tier, Fields: req.Fields,
		Key: req.Key, At: req.At})
}

func (c *Core) editFields(ctx context.Context, a Actor, cu *store.Customer, req FieldsRequest) (*store.Customer, error) {
	at, key := c.at(req.At), orRandomKey(req.Key)
	var changed []string
	if req.Name != nil {
		changed = append(changed, "name")
	}
	if req.Tier != nil {
		changed = append(changed, "tier")
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range req.Fields {
			if !yield(k) {
				return
			}
		}
	}) {
		changed = append(changed, "field:"+k)
	}
	list := strings.Join(changed, ",")
	if err := c.audit(ctx, a, AuditFields, cu.ID, "changed="+list+" key="+key, at); err != nil {
		return nil, err
	}
	if _, err := c.st.AppendTimeline(ctx, &store.TimelineEntry{
		CustomerID: cu.ID, SourceKey: entryKey("fields", a, cu.ID, key), Kind: store.EntryEvent, StaffID: a.entryStaff(),
		Text:  "修改了客户资料：" + fieldNames(changed),
		Attrs: map[string]string{"change": "fields", "changed": list, "by": a.ID(), "source": a.Source},
		At:    at,
	}); err != nil {
		return nil, fmt.Errorf("actions: fields entry of %s: %w", cu.ID, err)
	}
	after, err := c.st.UpdateCustomer(ctx, cu.ID, store.CustomerUpdate{Name: req.Name, Tier: req.Tier, Fields: req.Fields, Now: c.Now()})
	if err != nil {
		return nil, fmt.Errorf("actions: fields of %s: %w", cu.ID, err)
	}
	return after, nil
}

// checkFields refuses an edit that would leave cu with more than
// MaxFieldsPerCustomer custom fields; a customer already over it may be
// edited as long as the count does not grow.
func checkFields(cu *store.Customer, fields map[string]string) error {
	n := map[string]bool{}
	for k := range cu.Fields {
		n[k] = true
	}
	for k, v := range fields {
		if v == "" {
			delete(n, k)
		} else {
			n[k] = true
		}
	}
	if len(n) > MaxFieldsPerCustomer && len(n) > len(cu.Fields) {
		t := fmt.Sprintf("一位客户最多 %d 个自定义字段，请先删除不用的字段", MaxFieldsPerCustomer)
		return invalid(t, t+"。")
	}
	return nil
}

func fieldNames(changed []string) string {
	out := make([]string, len(changed))
	for i, f := range changed {
		switch {
		case f == "name":
			out[i] = "名字"
		case f == "tier":
			out[i] = "等级"
		default:
			out[i] = strings.TrimPrefix(f, "field:")
		}
	}
	return strings.Join(out, "、")
}

// ---- one edit of several parts (PATCH /customers/{id}) ----

// CustomerEdit is an edit of several parts at once. Every part is
// validated before any is written, so bad input changes nothing; then the
// parts run as the actions EditFields, EditTags and ChangeStage (in that
// order: the stage change, the edit that matters most, is the newest entry),
// each with its own timeline and audit entry.
type CustomerEdit struct {
	CustomerID string
	Name       *string
	Stage      *string
	Tier       *string
	Fields     map[string]string
	AddTags    []string
	RemoveTags []string
	// OptOut sets or clears 不打扰 (SetOptOut), before the other parts.
	OptOut *bool
	Key    string
	At     time.Time
}

// EditCustomer applies e for a and returns the customer after it.
func (c *Core) EditCustomer(ctx context.Context, a Actor, e CustomerEdit) (*store.Customer, error) {
	fr := FieldsRequest{CustomerID: e.CustomerID, Name: e.Name, Tier: e.Tier, Fields: e.Fields, Key: e.Key, At: e.At}
	if err := validateFields(fr); err != nil {
		return nil, err
	}
	if e.Stage != nil {
		if err := validateStage(*e.Stage); err != nil {
			return nil, err
		}
	}
	if err := validateTags(e.AddTags, e.RemoveTags); err != nil {
		return nil, err
	}
	if _, ok := e.Fields[store.FieldOptOut]; ok {
		return nil, invalid("opt_out is set with the opt_out key, not as a custom field", "「不打扰」请用 opt_out 设置，不能作为自定义字段修改。")
	}
	if fr.empty() && e.Stage == nil && len(e.AddTags) == 0 && len(e.RemoveTags) == 0 && e.OptOut == nil {
		return nil, invalid("nothing to change", "没有要修改的内容。")
	}
	cu, err := c.visible(ctx, a, e.CustomerID)
	if err != nil {
		return nil, err
	}
	if err := checkFields(cu, e.Fields); err != nil {
		return nil, err
	}
	var catalogue []store.Tag
	if len(e.AddTags) > 0 || len(e.RemoveTags) > 0 {
		if catalogue, err = c.checkTags(ctx, a, cu, e.AddTags, e.RemoveTags); err != nil {
			return nil, err
		}
	}
	// One key for the parts: each part's entry key names its kind.
	e.Key = orRandomKey(e.Key)
	fr.Key = e.Key
	if e.OptOut != nil {
		if cu, err = c.setOptOut(ctx, a, cu, OptOutRequest{CustomerID: cu.ID, OptOut: *e.OptOut, Reason: "由" + a.ID() + "修改", Key: e.Key}); err != nil {
			return nil, err
		}
	}
	if !fr.empty() {
		if cu, err = c.editFields(ctx, a, cu, fr); err != nil {
			return nil, err
		}
	}
	if len(e.AddTags) > 0 || len(e.RemoveTags) > 0 {
		if cu, err = c.editTags(ctx, a, cu, catalogue, TagsRequest{CustomerID: cu.ID, Add: e.AddTags, Remove: e.RemoveTags, Key: e.Key, At: e.At}); err != nil {
			return nil, err
		}
	}
	if e.Stage != nil {
		if cu, _, err = c.changeStage(ctx, a, cu, StageRequest{CustomerID: cu.ID, Stage: *e.Stage, Key: e.Key, At: e.At}); err != nil {
			return nil, err
		}
	}
	return cu, nil
}

// ---- merge and erase ----

// Merge folds customer from into customer into. Only admins and managers
// may merge, and both customers must be visible to them. Both customers'
// audit trails record it (the intent, before the merge). A merge writes no
// timeline entry of its own: the survivor's timeline is the two timelines
// joined. A retry after a crash before the merge completes it; after the
// merge, from resolves to into and the retry is refused as already merged.
func (c *Core) Merge(ctx context.Context, a Actor, into, from string) (*store.Customer, error) {
	if a.Role != RoleAdmin && a.Role != RoleManager {
		return nil, forbidden("your role may not do this", "只有主管和管理员可以合并客户。")
	}
	if from == "" {
		return nil, invalid("from is required", "请说明要合并的客户。")
	}
	if from == into {
		return nil, invalid("cannot merge a customer into itself", "不能把客户合并到自己。")
	}
	dst, err := c.visible(ctx, a, into)
	if err != nil {
		return nil, err
	}
	src, err := c.visible(ctx, a, from)
	if err != nil {
		return nil, err
	}
	if dst.ID == src.ID {
		// The store resolves a merged-away ID to its survivor.
		return nil, &ActionError{Err: store.ErrConflict, Reason: "already merged", Text: "这两位客户已经合并。"}
	}
	at := c.Now()
	if err := c.audit(ctx, a, AuditMerge, dst.ID, "from "+src.ID, at); err != nil {
		return nil, err
	}
	if err := c.audit(ctx, a, AuditMerge, src.ID, "into "+dst.ID, at); err != nil {
		return nil, err
	}
	merged, err := c.st.MergeCustomers(ctx, dst.ID, src.ID)
	if err != nil {
		return nil, fmt.Errorf("actions: merge %s into %s: %w", src.ID, dst.ID, err)
	}
	return merged, nil
}

// Erase deletes a customer and everything about them (PIPL). Only admins
// may. The audit entry is written first, so an erase is never unrecorded;
// a failed erase is recorded too. There is no timeline entry: the timeline
// is erased with the customer.
func (c *Core) Erase(ctx context.Context, a Actor, id string) error {
	if a.Role != RoleAdmin {
		return forbidden("your role may not do this", "只有管理员可以删除客户。")
	}
	cu, err := c.visible(ctx, a, id)
	if err != nil {
		return err
	}
	if err := c.audit(ctx, a, AuditErase, cu.ID, "", c.Now()); err != nil {
		return err
	}
	if err := c.st.EraseCustomer(ctx, cu.ID); err != nil {
		if aerr := c.audit(ctx, a, AuditEraseFailed, cu.ID, "", c.Now()); aerr != nil {
			err = errors.Join(err, aerr)
		}
		if errors.Is(err, store.ErrNotFound) {
			return errCustomerNotFound()
		}
		return fmt.Errorf("actions: erase %s: %w", cu.ID, err)
	}
	return nil
}

// ---- reads that are audited ----

// ReadTimeline pages the timeline of a customer a may see, newest first,
// entries with ID < before when before > 0, at most limit+1 (the extra one
// tells the caller there is a next page). Every read is audited before it
// is returned; shown is how many entries the caller will show.
func (c *Core) ReadTimeline(ctx context.Context, a Actor, id string, before int64, limit int) (*store.Customer, []*store.TimelineEntry, error) {
	cu, err := c.visible(ctx, a, id)
	if err != nil {
		return nil, nil, err
	}
	entries, err := c.st.FindTimeline(ctx, cu.ID, before, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("actions: timeline %s: %w", cu.ID, err)
	}
	detail := fmt.Sprintf("entries=%d", min(len(entries), limit))
	if before > 0 {
		detail += fmt.Sprintf(" before=%d", before)
	}
	if err := c.audit(ctx, a, AuditReadTimeline, cu.ID, detail, c.Now()); err != nil {
		return nil, nil, err
	}
	return cu, entries, nil
}

// CustomerExport is everything scrm holds about one customer (PIPL access
// and portability requests). Customer carries identities, follows, tags,
// fields and the insight.
type CustomerExport struct {
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

// ExportCustomer gathers everything about a customer a may see; the export
// is audited before it is returned.
func (c *Core) ExportCustomer(ctx context.Context, a Actor, id string) (*CustomerExport, error) {
	cu, err := c.visible(ctx, a, id)
	if err != nil {
		return nil, err
	}
	id = cu.ID
	out := &CustomerExport{ExportedAt: c.Now(), ExportedBy: a.ID(), Customer: cu,
		Timeline: []*store.TimelineEntry{}, Reminders: []*store.Reminder{}, Groups: []store.CustomerGroup{}}
	for before := int64(0); ; {
		batch, err := c.st.FindTimeline(ctx, id, before, 1000)
		if err != nil {
			return nil, fmt.Errorf("actions: export %s timeline: %w", id, err)
		}
		// Private notes the actor may not read stay out of the export.
		out.Timeline = append(out.Timeline, a.VisibleEntries(batch)...)
		if len(batch) < 1000 {
			break
		}
		before = batch[len(batch)-1].ID
	}
	rs, err := c.st.FindReminders(ctx, store.ReminderFilter{CustomerID: id, Limit: maxExportReminders})
	if err != nil {
		return nil, fmt.Errorf("actions: export %s reminders: %w", id, err)
	}
	out.Reminders = append(out.Reminders, rs...)
	gs, err := c.st.FindCustomerGroups(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("actions: export %s groups: %w", id, err)
	}
	out.Groups = append(out.Groups, gs...)
	detail := fmt.Sprintf("timeline=%d reminders=%d groups=%d", len(out.Timeline), len(out.Reminders), len(out.Groups))
	if err := c.audit(ctx, a, AuditExport, id, detail, c.Now()); err != nil {
		return nil, err
	}
	return out, nil
}

// ---- handover ----

// HandOver checks that a may hand customer req.CustomerID from req.From to
// req.To (visible to a, both in a's team), audits the request before
// anything changes, and starts the handover (StartHandover). A handover that
// cannot start is audited as rejected and returned as a *HandoverRejection.
func (c *Core) HandOver(ctx context.Context, a Actor, req HandoverRequest) (*HandoverState, error) {
	if a.Role != RoleAdmin && a.Role != RoleManager {
		return nil, forbidden("your role may not do this", "只有主管可以转交客户。")
	}
	cu, err := c.visible(ctx, a, req.CustomerID)
	if err != nil {
		return nil, err
	}
	if !MayHandOver(a.Viewer, req.From, req.To) {
		return nil, forbidden("from and to must both be in your team", "接替人需在你的团队中。")
	}
	kind := "on-job"
	if req.Resigned {
		kind = "resigned"
	}
	at := c.at(req.Now)
	if err := c.audit(ctx, a, AuditHandover, cu.ID, fmt.Sprintf("%s from %s to %s", kind, req.From, req.To), at); err != nil {
		return nil, err
	}
	req.CustomerID, req.By, req.Now = cu.ID, a.ID(), at
	state, err := StartHandover(ctx, c.st, req)
	var rej *HandoverRejection
	if errors.As(err, &rej) {
		if aerr := c.audit(ctx, a, AuditHandoverRejected, cu.ID, rej.Reason, at); aerr != nil {
			return nil, aerr
		}
	}
	return state, err
}

// ---- staff and syncs ----

// StaffEdit is an admin's edit of a staff member (PUT /staff/{id}); nil
// leaves a value alone. A new member defaults to an active salesperson.
type StaffEdit struct {
	ID          string
	Name        *string
	Role        *string
	Team        *[]string
	Departments *[]int64
	Active      *bool
	// Manual replaces the fields the address book sync leaves alone; the
	// fields this edit sets are added to it.
	Manual *[]string
}

// ManualFields are the staff fields an admin sets by hand.
var ManualFields = []string{
	store.StaffFieldName, store.StaffFieldRole, store.StaffFieldTeam, store.StaffFieldDepartments, store.StaffFieldActive,
}

// StaffIDCheck reports whether an ID can be a WeCom UserID.
type StaffIDCheck func(string) bool

// PutStaff creates or edits a staff member; only admins may. valid checks
// staff IDs (the edge's rule for WeCom UserIDs); IDs starting with
// ReservedStaffPrefix are refused whatever valid says.
func (c *Core) PutStaff(ctx context.Context, a Actor, e StaffEdit, valid StaffIDCheck) (*store.Staff, error) {
	if a.Role != RoleAdmin {
		return nil, forbidden("your role may not do this", "只有管理员可以修改员工。")
	}
	if ReservedStaffID(e.ID) {
		t := ReservedStaffIDText(e.ID)
		return nil, invalid(t, t)
	}
	if !valid(e.ID) {
		return nil, invalid("invalid staff id", "员工账号无效。")
	}
	if e.Role != nil && !slices.Contains([]string{RoleAdmin, RoleManager, RoleSales}, *e.Role) {
		return nil, invalid("role must be admin, manager or sales", "角色需为 admin、manager 或 sales。")
	}
	if e.Team != nil {
		for _, t := range *e.Team {
			if !valid(t) {
				return nil, invalid("invalid staff id in team", "团队中有无效的员工账号。")
			}
		}
	}
	if e.Manual != nil {
		for _, f := range *e.Manual {
			if !slices.Contains(ManualFields, f) {
				return nil, invalid("manual may list only name, role, team, departments and active",
					"manual 只能列出 name、role、team、departments 和 active。")
			}
		}
	}
	m, err := c.st.FindStaffByID(ctx, e.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		m = &store.Staff{ID: e.ID, Role: RoleSales, Active: true}
	case err != nil:
		return nil, fmt.Errorf("actions: find staff %s: %w", e.ID, err)
	}
	if e.Name != nil {
		m.Name = trimmed(*e.Name)
	}
	if e.Role != nil {
		m.Role = *e.Role
	}
	if e.Team != nil {
		m.Team = slices.Compact(slices.Sorted(slices.Values(*e.Team)))
	}
	if e.Departments != nil {
		m.Departments = *e.Departments
	}
	if e.Active != nil {
		m.Active = *e.Active
	}
	markManual(m, e)
	detail := fmt.Sprintf("role=%s active=%t team=%s", m.Role, m.Active, strings.Join(m.Team, ","))
	// The member is written first here: a staff edit is a whole-record
	// replace, so a retry repeats it exactly, and the audit names the
	// result.
	if err := c.st.UpsertStaff(ctx, m); err != nil {
		return nil, fmt.Errorf("actions: upsert staff %s: %w", e.ID, err)
	}
	if err := c.audit(ctx, a, AuditStaffUpdate, "staff:"+e.ID, detail, c.Now()); err != nil {
		return nil, err
	}
	return m, nil
}

// markManual records in m.Manual the fields e sets. A manual list in the
// edit replaces the stored one first, so an admin can hand a field back to
// the sync ("manual": []); the fields the same edit sets are then added.
func markManual(m *store.Staff, e StaffEdit) {
	if e.Manual != nil {
		m.Manual = slices.Clone(*e.Manual)
	}
	set := map[string]bool{
		store.StaffFieldName:        e.Name != nil,
		store.StaffFieldRole:        e.Role != nil,
		store.StaffFieldTeam:        e.Team != nil,
		store.StaffFieldDepartments: e.Departments != nil,
		store.StaffFieldActive:      e.Active != nil,
	}
	for _, f := range ManualFields {
		if set[f] {
			m.Manual = append(m.Manual, f)
		}
	}
	m.Manual = slices.Compact(slices.Sorted(slices.Values(m.Manual)))
	if len(m.Manual) == 0 {
		m.Manual = nil
	}
}

// RequestSync arms a sync job (tags, staff) to run now; only admins may.
// The job's worker runs it, and a restart does not lose it.
func (c *Core) RequestSync(ctx context.Context, a Actor, key, kind string) error {
	if a.Role != RoleAdmin {
		return forbidden("your role may not do this", "只有管理员可以发起同步。")
	}
	if err := c.st.ScheduleJob(ctx, key, kind, "", c.Now()); err != nil {
		return fmt.Errorf("actions: schedule %s: %w", kind, err)
	}
	return nil
}
