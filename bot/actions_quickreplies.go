package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/scrmhq/scrm/store"
)

// The quick-reply library (话术库): scripts staff send from the chat
// sidebar with one tap. Admins and managers keep it (audited actions);
// every staff member searches it, renders it for a customer and counts a
// use. It is the company's, not a customer's: no timeline entry.

// Audit actions of the library.
const (
	AuditQuickReplyCreate = "quick_reply_create"
	AuditQuickReplyUpdate = "quick_reply_update"
	AuditQuickReplyDelete = "quick_reply_delete"
)

// Bounds of the library: it is listed whole on every search.
const (
	MaxQuickReplies       = 2000
	maxQuickReplyText     = 1000 // runes; WeCom's text messages allow 2048 bytes
	maxQuickReplyTitle    = 60
	maxQuickReplyGroup    = 30
	maxQuickReplyQuery    = 50
	maxQuickReplyResults  = 50
	quickReplyIDPrefix    = "qr_"
	quickReplyVarCustomer = "#客户昵称#"
	quickReplyVarStaff    = "#员工姓名#"
)

// QuickReplyVariables are the variables a script may hold, filled in by
// RenderQuickReply.
var QuickReplyVariables = []string{quickReplyVarCustomer, quickReplyVarStaff}

// QuickReplyRequest creates a quick reply.
type QuickReplyRequest struct {
	Group, Title, Text string
	Key                string // idempotency key: a retry with the same key creates nothing new
}

// QuickReplyPatch changes the set fields of a quick reply.
type QuickReplyPatch struct {
	Group, Title, Text *string
}

// RenderedQuickReply is a quick reply with its text filled in for one
// customer and the actor (Rendered equals Text without a customer, but for
// the staff name).
type RenderedQuickReply struct {
	*store.QuickReply
	Rendered string
}

func canKeepLibrary(a Actor) error {
	if a.Role != RoleAdmin && a.Role != RoleManager {
		return forbidden("only admins and managers may edit quick replies", "只有管理员和主管可以维护话术库。")
	}
	return nil
}

func checkQuickReplyField(name, text string, v string, limit int, required bool) (string, error) {
	v = strings.TrimSpace(v)
	if required && v == "" {
		return "", invalid(name+" is required", text+"不能为空。")
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > limit {
		return "", invalid(fmt.Sprintf("%s must be valid text of at most %d characters", name, limit), fmt.Sprintf("%s最多 %d 个字。", text, limit))
	}
	return v, nil
}

// CreateQuickReply files a script (admins and managers). With a Key, a
// retry answers the reply the first call created (created false).
func (c *Core) CreateQuickReply(ctx context.Context, a Actor, req QuickReplyRequest) (*store.QuickReply, bool, error) {
	if err := canKeepLibrary(a); err != nil {
		return nil, false, err
	}
	var err error
	q := &store.QuickReply{CreatedBy: a.ID()}
	if q.Text, err = checkQuickReplyField("text", "话术内容", req.Text, maxQuickReplyText, true); err != nil {
		return nil, false, err
	}
	if q.Title, err = checkQuickReplyField("title", "标题", req.Title, maxQuickReplyTitle, false); err != nil {
		return nil, false, err
	}
	if q.Group, err = checkQuickReplyField("group", "分组", req.Group, maxQuickReplyGroup, false); err != nil {
		return nil, false, err
	}
	key := orRandomKey(req.Key)
	sum := sha256.Sum256([]byte(a.ID() + "\x00" + key))
	q.ID = quickReplyIDPrefix + hex.EncodeToString(sum[:8])
	if prev, err := c.st.FindQuickReplyByID(ctx, q.ID); err == nil {
		return prev, false, nil
	}
	all, err := c.st.FindQuickReplies(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("actions: quick replies: %w", err)
	}
	if len(all) >= MaxQuickReplies {
		return nil, false, invalid(fmt.Sprintf("the library holds at most %d quick replies", MaxQuickReplies), fmt.Sprintf("话术库最多 %d 条。", MaxQuickReplies))
	}
	now := c.Now()
	q.CreatedAt, q.UpdatedAt = now, now
	return createKeyed(ctx, c, a, AuditQuickReplyCreate, q.ID, "key="+key, now, q, c.st.CreateQuickReply, c.st.FindQuickReplyByID)
}

func errQuickReplyNotFound() error {
	return &ActionError{Err: store.ErrNotFound, Reason: "quick reply not found", Text: "没有找到这条话术。"}
}

func validQuickReplyID(id string) bool { return id != "" && len(id) <= 64 }

// UpdateQuickReply changes a script (admins and managers).
func (c *Core) UpdateQuickReply(ctx context.Context, a Actor, id string, p QuickReplyPatch) (*store.QuickReply, error) {
	if err := canKeepLibrary(a); err != nil {
		return nil, err
	}
	if !validQuickReplyID(id) {
		return nil, errQuickReplyNotFound()
	}
	upd := store.QuickReplyUpdate{At: c.Now()}
	var fields []string
	for _, f := range []struct {
		in       *string
		out      **string
		name, zh string
		limit    int
		required bool
	}{
		{p.Text, &upd.Text, "text", "话术内容", maxQuickReplyText, true},
		{p.Title, &upd.Title, "title", "标题", maxQuickReplyTitle, false},
		{p.Group, &upd.Group, "group", "分组", maxQuickReplyGroup, false},
	} {
		if f.in == nil {
			continue
		}
		v, err := checkQuickReplyField(f.name, f.zh, *f.in, f.limit, f.required)
		if err != nil {
			return nil, err
		}
		*f.out = &v
		fields = append(fields, f.name)
	}
	if len(fields) == 0 {
		return nil, invalid("nothing to change: send group, title or text", "没有要修改的内容。")
	}
	if _, err := c.st.FindQuickReplyByID(ctx, id); errors.Is(err, store.ErrNotFound) {
		return nil, errQuickReplyNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("actions: quick reply %s: %w", id, err)
	}
	if err := c.audit(ctx, a, AuditQuickReplyUpdate, id, "fields="+strings.Join(fields, ","), upd.At); err != nil {
		return nil, err
	}
	q, err := c.st.UpdateQuickReply(ctx, id, upd)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errQuickReplyNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("actions: update quick reply %s: %w", id, err)
	}
	return q, nil
}

// DeleteQuickReply removes a script (admins and managers).
func (c *Core) DeleteQuickReply(ctx context.Context, a Actor, id string) error {
	if err := canKeepLibrary(a); err != nil {
		return err
	}
	if !validQuickReplyID(id) {
		return errQuickReplyNotFound()
	}
	if _, err := c.st.FindQuickReplyByID(ctx, id); errors.Is(err, store.ErrNotFound) {
		return errQuickReplyNotFound()
	} else if err != nil {
		return fmt.Errorf("actions: quick reply %s: %w", id, err)
	}
	if err := c.audit(ctx, a, AuditQuickReplyDelete, id, "", c.Now()); err != nil {
		return err
	}
	if err := c.st.DeleteQuickReply(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("actions: delete quick reply %s: %w", id, err)
	}
	return nil
}

// SearchQuickReplies finds scripts whose group, title or text contains
// every word of q (case-insensitive; all when q is blank), most used first,
// rendered for customerID when given (which a must be able to see).
func (c *Core) SearchQuickReplies(ctx context.Context, a Actor, q, customerID string) ([]RenderedQuickReply, error) {
	if utf8.RuneCountInString(q) > maxQuickReplyQuery {
		return nil, invalid(fmt.Sprintf("q is at most %d characters", maxQuickReplyQuery), "搜索词过长。")
	}
	fill, err := c.quickReplyFiller(ctx, a, customerID)
	if err != nil {
		return nil, err
	}
	all, err := c.st.FindQuickReplies(ctx)
	if err != nil {
		return nil, fmt.Errorf("actions: quick replies: %w", err)
	}
	words := strings.Fields(strings.ToLower(q))
	out := []RenderedQuickReply{}
	for _, r := range all {
		hay := strings.ToLower(r.Group + "\n" + r.Title + "\n" + r.Text)
		match := true
		for _, w := range words {
			if !strings.Contains(hay, w) {
				match = false
				break
			}
		}
		if match {
			out = append(out, RenderedQuickReply{QuickReply: r, Rendered: fill(r.Text)})
		}
	}
	if len(words) > 0 {
		// A search wants the likeliest first; the browsing list keeps the
		// library's group order.
		sortByUses(out)
		if len(out) > maxQuickReplyResults {
			out = out[:maxQuickReplyResults]
		}
	}
	return out, nil
}

func sortByUses(rs []RenderedQuickReply) {
	for i := 1; i < len(rs); i++ { // stable insertion sort: small lists
		for j := i; j > 0 && rs[j].Uses > rs[j-1].Uses; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// UseQuickReply counts one use of a script by a (any staff member) and
// returns it rendered for customerID when given.
func (c *Core) UseQuickReply(ctx context.Context, a Actor, id, customerID string) (*RenderedQuickReply, error) {
	if !validQuickReplyID(id) {
		return nil, errQuickReplyNotFound()
	}
	fill, err := c.quickReplyFiller(ctx, a, customerID)
	if err != nil {
		return nil, err
	}
	if _, err := c.st.CountQuickReplyUse(ctx, id); errors.Is(err, store.ErrNotFound) {
		return nil, errQuickReplyNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("actions: count quick reply use %s: %w", id, err)
	}
	q, err := c.st.FindQuickReplyByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("actions: quick reply %s: %w", id, err)
	}
	return &RenderedQuickReply{QuickReply: q, Rendered: fill(q.Text)}, nil
}

// quickReplyFiller resolves the variables' values for a and customerID
// ("" leaves #客户昵称# as it is).
func (c *Core) quickReplyFiller(ctx context.Context, a Actor, customerID string) (func(string) string, error) {
	var cu *store.Customer
	if customerID != "" {
		var err error
		if cu, err = c.visible(ctx, a, customerID); err != nil {
			return nil, err
		}
	}
	staffName := ""
	if id := a.entryStaff(); id != "" {
		if s, err := c.st.FindStaffByID(ctx, id); err == nil {
			staffName = s.Name
		}
	}
	return func(text string) string { return RenderQuickReply(text, cu, staffName) }, nil
}

// RenderQuickReply fills a script's variables: #客户昵称# with the
// customer's name (kept when there is no customer or name), #员工姓名#
// with staffName (kept when unknown).
func RenderQuickReply(text string, cu *store.Customer, staffName string) string {
	if cu != nil && cu.Name != "" {
		text = strings.ReplaceAll(text, quickReplyVarCustomer, cu.Name)
	}
	if staffName != "" {
		text = strings.ReplaceAll(text, quickReplyVarStaff, staffName)
	}
	return text
}
