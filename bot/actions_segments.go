package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/scrmhq/scrm/store"
)

// Segments (客户分群) are saved customer filters with a live count; a
// campaign targets a segment or a filter given inline. Audit actions:
const (
	AuditSegmentCreate = "segment_create"
	AuditSegmentDelete = "segment_delete"
)

// SegmentRequest creates a segment.
type SegmentRequest struct {
	Name   string
	Filter store.SegmentFilter
	Key    string
}

func mayTarget(a Actor) error {
	if a.Role != RoleAdmin && a.Role != RoleManager {
		return forbidden("your role may not do this", "只有主管和管理员可以管理客户分群和群发。")
	}
	return nil
}

var sentiments = []string{"", "positive", "neutral", "negative"}

func validateFilter(f store.SegmentFilter) error {
	if !slices.Contains(sentiments, f.Sentiment) {
		return invalid("sentiment must be positive, neutral or negative", "情绪只能是 positive、neutral 或 negative。")
	}
	if len(f.Fields) > 10 {
		return invalid("at most 10 custom fields in a filter", "筛选最多用 10 个自定义字段。")
	}
	values := []string{f.Tag, f.Stage, f.Query, f.Owner, f.Channel, f.Tier, f.Group, f.CustomerID}
	for k, v := range f.Fields {
		if k == "" {
			return invalid("a custom field filter needs a field name", "自定义字段筛选需要字段名。")
		}
		values = append(values, k, v)
	}
	for _, v := range values {
		if utf8.RuneCountInString(v) > 128 {
			return invalid("filter values must be at most 128 characters", "筛选条件最多 128 个字。")
		}
	}
	return nil
}

// CreateSegment saves a segment; a retry with the same key returns the
// segment the first call made.
func (c *Core) CreateSegment(ctx context.Context, a Actor, req SegmentRequest) (*store.Segment, bool, error) {
	if err := mayTarget(a); err != nil {
		return nil, false, err
	}
	name := trimmed(req.Name)
	if name == "" || utf8.RuneCountInString(name) > 64 {
		return nil, false, invalid("name must be 1..64 characters", "分群名称需为 1 到 64 个字。")
	}
	if err := validateFilter(req.Filter); err != nil {
		return nil, false, err
	}
	id, key := keyedID("sg_", a, req.Key)
	if old, err := c.st.FindSegmentByID(ctx, id); err == nil {
		return old, false, nil
	}
	at := c.Now()
	sg := &store.Segment{ID: id, Name: name, Filter: req.Filter, CreatedBy: a.ID(), CreatedAt: at}
	return createKeyed(ctx, c, a, AuditSegmentCreate, id, "key="+key, at, sg, c.st.CreateSegment, c.st.FindSegmentByID)
}

// Segments lists the saved segments.
func (c *Core) Segments(ctx context.Context, a Actor) ([]*store.Segment, error) {
	if err := mayTarget(a); err != nil {
		return nil, err
	}
	return c.st.FindSegments(ctx)
}

// Segment returns one segment; ErrNotFound.
func (c *Core) Segment(ctx context.Context, a Actor, id string) (*store.Segment, error) {
	if err := mayTarget(a); err != nil {
		return nil, err
	}
	sg, err := c.st.FindSegmentByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &ActionError{Err: store.ErrNotFound, Reason: "segment not found", Text: "没有找到这个分群。"}
	}
	return sg, err
}

// DeleteSegment deletes a segment; campaigns made from it keep their copy
// of its filter.
func (c *Core) DeleteSegment(ctx context.Context, a Actor, id string) error {
	if _, err := c.Segment(ctx, a, id); err != nil {
		return err
	}
	if err := c.audit(ctx, a, AuditSegmentDelete, id, "", c.Now()); err != nil {
		return err
	}
	if err := c.st.DeleteSegment(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("actions: delete segment: %w", err)
	}
	return nil
}

// SegmentCount is the live size of a segment for the viewer.
type SegmentCount struct {
	Count    int `json:"count"`
	OptedOut int `json:"opted_out"`
}

// CountSegment counts the customers a segment selects that a may see.
func (c *Core) CountSegment(ctx context.Context, a Actor, id string) (*SegmentCount, error) {
	sg, err := c.Segment(ctx, a, id)
	if err != nil {
		return nil, err
	}
	out := &SegmentCount{}
	err = c.eachInFilter(ctx, a, sg.Filter, func(cu *store.Customer) error {
		out.Count++
		if OptedOut(cu) {
			out.OptedOut++
		}
		return nil
	})
	return out, err
}

// audiencePage is how many customers one read of a filter takes.
const audiencePage = 2000

// eachInFilter calls fn for every customer f selects that a may see, in ID
// order: the store's filter (tag, stage, q, owner, last contact) pages the
// customers, and channel, sentiment and waiting are checked on each.
func (c *Core) eachInFilter(ctx context.Context, a Actor, f store.SegmentFilter, fn func(*store.Customer) error) error {
	cf := store.CustomerFilter{Tag: f.Tag, Stage: f.Stage, Query: f.Query, Limit: audiencePage}
	if f.LastContactBefore != nil {
		cf.LastContactBefore = *f.LastContactBefore
	}
	if f.LastContactAfter != nil {
		cf.LastContactAfter = *f.LastContactAfter
	}
	scope := a.Scope()
	switch {
	case f.Owner == "":
		cf.StaffIDs = scope
	case scope == nil || slices.Contains(scope, f.Owner):
		cf.StaffIDs = []string{f.Owner}
	default:
		return nil
	}
	var inChannel map[string]bool
	if f.Channel != "" {
		ids, err := c.ChannelCustomerIDs(ctx, f.Channel)
		if err != nil {
			return err
		}
		inChannel = make(map[string]bool, len(ids))
		for _, id := range ids {
			inChannel[id] = true
		}
	}
	inGroup, err := c.groupMemberIDs(ctx, f.Group)
	if err != nil {
		return err
	}
	for {
		page, err := c.filterPage(ctx, f, cf)
		if err != nil {
			return fmt.Errorf("actions: customers of a filter: %w", err)
		}
		for _, cu := range page {
			if !a.CanSee(cu) || inChannel != nil && !inChannel[cu.ID] || inGroup != nil && !inGroup.has(cu) || !matchesExtra(cu, f) {
				continue
			}
			if err := fn(cu); err != nil {
				return err
			}
		}
		if len(page) < cf.Limit {
			return nil
		}
		cf.AfterID = page[len(page)-1].ID
	}
}

// filterPage reads a page of the customers cf selects. A filter naming one
// customer (a journey's message) reads that customer, who must also have
// the filter's tag and stage and be followed within its owners.
func (c *Core) filterPage(ctx context.Context, f store.SegmentFilter, cf store.CustomerFilter) ([]*store.Customer, error) {
	if f.CustomerID == "" {
		return c.st.FindCustomers(ctx, cf)
	}
	if cf.AfterID != "" {
		return nil, nil
	}
	cu, err := c.st.FindCustomerByID(ctx, f.CustomerID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if f.Tag != "" && !slices.Contains(cu.Tags, f.Tag) || f.Stage != "" && cu.Stage != f.Stage ||
		cf.StaffIDs != nil && !slices.ContainsFunc(cu.Follows, func(fo store.Follow) bool { return !fo.Deleted && slices.Contains(cf.StaffIDs, fo.StaffID) }) {
		return nil, nil
	}
	return []*store.Customer{cu}, nil
}

// memberIDs is a group's customer members by the WeCom identity values
// the group lists them under (external_userid, unionid).
type memberIDs map[string]bool

func (m memberIDs) has(cu *store.Customer) bool {
	return slices.ContainsFunc(cu.Identities, func(id store.Identity) bool { return m[id.Value] })
}

// groupMemberIDs is the customer members of the group chatID now; nil
// when chatID is empty (no filter), empty when the group is unknown or
// dismissed (nobody matches).
func (c *Core) groupMemberIDs(ctx context.Context, chatID string) (memberIDs, error) {
	if chatID == "" {
		return nil, nil
	}
	out := memberIDs{}
	g, err := c.st.FindGroupByChatID(ctx, chatID)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("actions: members of group %s: %w", chatID, err)
	}
	if g.Dismissed {
		return out, nil
	}
	for _, m := range g.Members {
		if m.Type == store.GroupMemberExternal {
			out[m.UserID] = true
			if m.UnionID != "" {
				out[m.UnionID] = true
			}
		}
	}
	return out, nil
}

func matchesExtra(cu *store.Customer, f store.SegmentFilter) bool {
	if f.Sentiment != "" && (cu.Insight == nil || !strings.EqualFold(cu.Insight.SentimentLabel, f.Sentiment)) {
		return false
	}
	if f.Tier != "" && cu.Tier != f.Tier {
		return false
	}
	for k, v := range f.Fields {
		if cu.Fields[k] != v {
			return false
		}
	}
	if f.Waiting {
		// The customer wrote last and nobody has answered since.
		if cu.LastCustomerMsgAt == nil || cu.LastStaffTouchAt != nil && !cu.LastStaffTouchAt.Before(*cu.LastCustomerMsgAt) {
			return false
		}
	}
	return true
}

// hashKey derives a record's ID from who asked and their idempotency key,
// so the same request twice names the same record.
func hashKey(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:10])
}
