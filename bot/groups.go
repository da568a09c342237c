package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// Durable job of the customer group sync.
const (
	// JobGroupSync is a full sync of the customer groups from WeCom.
	JobGroupSync = "group_sync"
	// GroupSyncJobKey is the one key of the full sync.
	GroupSyncJobKey = "groups:sync"
	// groupSyncCursor records how far a running full sync got, so a sync
	// cut short (a deadline, a crash, a WeCom outage) resumes there.
	groupSyncCursor = "groups:sync"
)

// errcodeNotGroupChat is WeCom's answer to groupchat/get for a chat that is
// not a customer group: an unknown or dismissed one.
const errcodeNotGroupChat = 90501

// errcodeRangeTooLarge is groupchat/list's refusal to list without an owner
// filter when more than 1,000 people are in the app's visible range.
const errcodeRangeTooLarge = 81017

// ownerBatch is how many owners one groupchat/list call may filter by.
const ownerBatch = 100

// WeComGroups is the part of *wecom.APIClient the group processor uses
// (with the 客户联系 secret).
type WeComGroups interface {
	GetGroupChat(ctx context.Context, chatID string) (*wecom.GroupChat, error)
	ListGroupChats(ctx context.Context, owners []string, cursor string, limit int) (*wecom.GroupChatPage, error)
}

// GroupsStore is what the group processor reads and writes.
type GroupsStore interface {
	UpsertGroup(ctx context.Context, g *store.Group) (store.GroupChange, error)
	DismissGroup(ctx context.Context, chatID string, at time.Time) (*store.Group, error)
	FindGroupByChatID(ctx context.Context, chatID string) (*store.Group, error)
	FindGroups(ctx context.Context, f store.GroupFilter) ([]*store.Group, error)
	FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error)
	AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error)
	cursors
	ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error
	FindStaff(ctx context.Context) ([]*store.Staff, error)
}

// GroupsOptions tune Groups; zero values take the defaults.
type GroupsOptions struct {
	Now    func() time.Time
	Logger *slog.Logger
	// PageSize is how many groups one groupchat/list page asks for during
	// the full sync (default 100): progress is saved after every page.
	PageSize int
}

// Groups keeps scrm's customer groups (客户群) in step with WeCom:
//
//   - on change_external_chat create and update it reads the group with
//     groupchat/get and stores that state, replacing the member list; on
//     dismiss it marks the group dismissed;
//   - customers who join (a create, an add_member) or leave (a del_member)
//     get an entry on their timeline. The members an event names come from
//     its MemChangeList, so a redelivered event names the same members and
//     its entries, keyed by the event's dedup key and the member, are
//     written once; an event without the list falls back to the difference
//     between the stored members and WeCom's;
//   - a full sync (at start) lists every group with groupchat/list, stores
//     each, and marks dismissed the stored groups WeCom no longer has.
//
// Members who are not customers (staff, or people nobody has added) are
// stored but get no timeline; nobody becomes a customer by joining a group.
type Groups struct {
	follower[GroupsStore, WeComGroups, GroupsOptions]
}

// NewGroups returns the customer group processor; it is a Processor and runs
// one job kind (JobGroupSync) through Runner.
func NewGroups(st GroupsStore, api WeComGroups, o GroupsOptions) *Groups {
	o.Now, o.Logger = clockOr(o.Now), loggerOr(o.Logger)
	if o.PageSize <= 0 || o.PageSize > 1000 {
		o.PageSize = 100
	}
	return &Groups{follower[GroupsStore, WeComGroups, GroupsOptions]{st, api, o}}
}

// Name implements Processor.
func (*Groups) Name() string { return "groups" }

// Start schedules the full sync scrm runs at start.
func (g *Groups) Start(ctx context.Context) error {
	return scheduleSync(ctx, g.st, GroupSyncJobKey, JobGroupSync, "start-up", g.o.Now())
}

// Runner returns the runner of the full sync job.
func (g *Groups) Runner(q JobQueue, o RunnerOptions) *JobRunner {
	return NewJobRunner(q, JobGroupSync, func(ctx context.Context, _ *store.Job) error { return g.Sync(ctx) }, o.forKind(JobGroupSync, 0))
}

// Process implements Processor.
func (g *Groups) Process(ctx context.Context, ev *store.Event) error {
	change, ok := strings.CutPrefix(ev.Kind, wecom.KindChatPrefix)
	chatID := ev.Attrs["ChatId"]
	if !ok || ev.Channel != store.ChannelWeCom || chatID == "" {
		return nil
	}
	if change == "dismiss" {
		if _, err := g.st.DismissGroup(ctx, chatID, ev.OccurredAt); err != nil {
			return fmt.Errorf("groups: dismiss %s: %w", chatID, err)
		}
		return nil
	}
	if change != "create" && change != "update" {
		return nil
	}
	snap, ch, err := g.refresh(ctx, chatID)
	if err != nil {
		if !permanentAPIError(err) {
			return err
		}
		// The group is gone or out of the app's reach; nothing to read,
		// and retrying will not change that. Leaves can still be told
		// with what is stored.
		g.o.Logger.Warn("customer group unreadable", "chat_id", chatID, "code", wecom.APIErrorCode(err))
		snap = nil
	}
	switch detail := ev.Attrs["UpdateDetail"]; {
	case change == "create" && snap != nil:
		var ids []string
		for _, m := range snap.Members {
			if m.Type == store.GroupMemberExternal {
				ids = append(ids, m.UserID)
			}
		}
		return g.recordMembers(ctx, ev, chatID, snap, true, ids)
	case detail == "add_member" && snap != nil:
		return g.recordMembers(ctx, ev, chatID, snap, true, changedMembers(ev, ch.Joined))
	case detail == "del_member":
		if snap == nil {
			stored, err := g.st.FindGroupByChatID(ctx, chatID)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("groups: find %s: %w", chatID, err)
			}
			snap = stored
		}
		return g.recordMembers(ctx, ev, chatID, snap, false, changedMembers(ev, ch.Left))
	}
	return nil
}

// changedMembers returns the members an update event names, or, when it
// names none (older callbacks lack MemChangeList), the store's difference.
func changedMembers(ev *store.Event, diff []store.GroupMember) []string {
	if list := ev.Attrs["MemChangeList"]; list != "" {
		var ids []string
		for _, id := range strings.Split(list, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
		return ids
	}
	ids := make([]string, len(diff))
	for i, m := range diff {
		ids[i] = m.UserID
	}
	return ids
}

// refresh reads a group from WeCom and stores it. The snapshot is stamped
// with the time before the read, so a read that started later wins.
func (g *Groups) refresh(ctx context.Context, chatID string) (*store.Group, store.GroupChange, error) {
	at := g.o.Now().UTC()
	gc, err := g.api.GetGroupChat(ctx, chatID)
	if err != nil {
		return nil, store.GroupChange{}, fmt.Errorf("groups: get %s: %w", chatID, err)
	}
	snap := groupFromWeCom(gc, at)
	ch, err := g.st.UpsertGroup(ctx, snap)
	if err != nil {
		return nil, store.GroupChange{}, fmt.Errorf("groups: store %s: %w", chatID, err)
	}
	return snap, ch, nil
}

// groupFromWeCom converts groupchat/get's answer. Names and nicknames are
// left out: they are the members' words about themselves, not the CRM's.
func groupFromWeCom(gc *wecom.GroupChat, at time.Time) *store.Group {
	out := &store.Group{ChatID: gc.ChatID, Name: gc.Name, OwnerID: gc.Owner, Notice: gc.Notice,
		CreatedAt: unixUTC(gc.CreateTime), UpdatedAt: at, Members: make([]store.GroupMember, 0, len(gc.MemberList))}
	seen := map[string]bool{}
	for _, m := range gc.MemberList {
		if m.UserID == "" || seen[m.UserID] {
			continue
		}
		seen[m.UserID] = true
		out.Members = append(out.Members, store.GroupMember{UserID: m.UserID, Type: m.Type,
			JoinedAt: unixUTC(int64(m.JoinTime)), JoinScene: m.JoinScene, UnionID: m.UnionID})
	}
	return out
}

func unixUTC(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// recordMembers writes a timeline entry for each of ids that is a customer:
// joined, or left, group grp.
func (g *Groups) recordMembers(ctx context.Context, ev *store.Event, chatID string, grp *store.Group, joined bool, ids []string) error {
	for _, id := range ids {
		var unionID string
		staff := false
		for _, m := range grp.Members {
			if m.UserID == id {
				unionID, staff = m.UnionID, m.Type == store.GroupMemberStaff
			}
		}
		if staff {
			continue
		}
		c, err := g.customerOf(ctx, id, unionID)
		if err != nil {
			return err
		}
		if c == nil {
			continue
		}
		detail := "del_member"
		if joined {
			detail = "add_member"
		}
		e := &store.TimelineEntry{
			CustomerID: c.ID,
			// The event's ID, not its dedup key: that names every member
			// of the change, and an erase must not leave one customer's ID
			// on another's timeline.
			SourceKey: "group:" + strconv.FormatInt(ev.ID, 10) + ":" + id,
			Kind:      store.EntryEvent,
			Channel:   store.ChannelWeCom,
			StaffID:   grp.OwnerID,
			Text:      memberText(grp.Name, joined, ev.Attrs),
			Attrs:     map[string]string{"chat_id": chatID, "change": detail},
			At:        ev.OccurredAt,
		}
		if _, err := g.st.AppendTimeline(ctx, e); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("groups: timeline of %s: %w", c.ID, err)
		}
	}
	return nil
}

// customerOf finds the customer a member is: by external_userid, else by
// the unionid WeCom gave for them. nil when they are nobody's customer.
func (g *Groups) customerOf(ctx context.Context, userID, unionID string) (*store.Customer, error) {
	ids := []store.Identity{{Kind: store.IdentityExternalUserID, Value: userID}}
	if unionID != "" {
		ids = append(ids, store.Identity{Kind: store.IdentityUnionID, Value: unionID})
	}
	for _, id := range ids {
		c, err := g.st.FindCustomerByIdentity(ctx, id)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("groups: find customer: %w", err)
		}
	}
	return nil, nil
}

// memberText says what happened in the words staff read on a timeline.
func memberText(name string, joined bool, attrs map[string]string) string {
	group := "客户群"
	if name != "" {
		group = "客户群「" + name + "」"
	}
	if joined {
		switch attrs["JoinScene"] {
		case "3":
			return "扫描群二维码加入" + group
		case "0":
			return "受邀加入" + group
		}
		return "加入" + group
	}
	if attrs["QuitScene"] == "1" {
		return "被移出" + group
	}
	return "退出" + group
}

// syncState is the progress of a full sync, kept in a cursor.
type syncState struct {
	Started time.Time `json:"started"`
	Phase   string    `json:"phase"`  // "list": storing what groupchat/list gives; "check": stored groups it did not give
	Cursor  string    `json:"cursor"` // groupchat/list's next_cursor (list phase)
	After   string    `json:"after"`  // the last stored chat id checked (check phase)
	// Owners, once WeCom refused to list without an owner filter, are the
	// staff whose groups are listed instead, ownerBatch at a time; Batch is
	// the batch being listed.
	Owners []string `json:"owners,omitempty"`
	Batch  int      `json:"batch,omitempty"`
}

// owners returns the owner filter of the current list call: nil (every
// owner) until WeCom asked for a filter.
func (st *syncState) owners() []string {
	if st.Owners == nil {
		return nil
	}
	lo := min(st.Batch*ownerBatch, len(st.Owners))
	return st.Owners[lo:min(lo+ownerBatch, len(st.Owners))]
}

// Sync runs (or resumes) the full sync: every group groupchat/list gives is
// read and stored, then every stored live group the sync did not refresh is
// read again, and marked dismissed if WeCom no longer knows it. No timeline
// entries are written: the sync cannot tell when a change it finds happened.
func (g *Groups) Sync(ctx context.Context) error {
	st, err := g.loadSync(ctx)
	if err != nil {
		return err
	}
	listed, refreshed := 0, 0
	for st.Phase == "list" {
		page, err := g.api.ListGroupChats(ctx, st.owners(), st.Cursor, g.o.PageSize)
		if wecom.APIErrorCode(err) == errcodeRangeTooLarge && st.Owners == nil {
			// A large corp: list the groups of each staff member instead.
			if st.Owners, err = g.ownerIDs(ctx); err != nil {
				return err
			}
			st.Batch, st.Cursor = 0, ""
			if len(st.Owners) == 0 {
				st.Phase = "check"
			}
			if err := g.saveSync(ctx, st); err != nil {
				return err
			}
			continue
		}
		if permanentAPIError(err) {
			// No permission: retrying will not help; events still keep
			// the groups they name up to date.
			g.o.Logger.Warn("customer group sync refused by WeCom", "code", wecom.APIErrorCode(err), "err", err)
			return g.st.SetCursor(ctx, groupSyncCursor, "")
		}
		if err != nil {
			return fmt.Errorf("groups: list: %w", err)
		}
		for _, ref := range page.Chats {
			listed++
			stored, err := g.st.FindGroupByChatID(ctx, ref.ChatID)
			if err == nil && !stored.UpdatedAt.Before(st.Started) {
				continue // stored during this sync already (a resumed page, or an event)
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("groups: find %s: %w", ref.ChatID, err)
			}
			if _, _, err := g.refresh(ctx, ref.ChatID); err != nil {
				if !permanentAPIError(err) {
					return err
				}
				g.o.Logger.Warn("customer group unreadable", "chat_id", ref.ChatID, "code", wecom.APIErrorCode(err))
				continue
			}
			refreshed++
		}
		st.Cursor = page.NextCursor
		if page.NextCursor == "" && st.Owners != nil && (st.Batch+1)*ownerBatch < len(st.Owners) {
			st.Batch++ // the next owners' groups
		} else if page.NextCursor == "" {
			st.Phase, st.Cursor = "check", ""
		}
		if err := g.saveSync(ctx, st); err != nil {
			return err
		}
	}
	dismissed := 0
	for {
		list, err := g.st.FindGroups(ctx, store.GroupFilter{AfterChatID: st.After, Limit: 100})
		if err != nil {
			return fmt.Errorf("groups: find: %w", err)
		}
		if len(list) == 0 {
			break
		}
		for _, grp := range list {
			if !grp.UpdatedAt.Before(st.Started) {
				continue
			}
			_, _, err := g.refresh(ctx, grp.ChatID)
			switch {
			case wecom.APIErrorCode(err) == errcodeNotGroupChat:
				if _, err := g.st.DismissGroup(ctx, grp.ChatID, g.o.Now().UTC()); err != nil {
					return fmt.Errorf("groups: dismiss %s: %w", grp.ChatID, err)
				}
				dismissed++
			case err != nil && !permanentAPIError(err):
				return err
			}
		}
		st.After = list[len(list)-1].ChatID
		if err := g.saveSync(ctx, st); err != nil {
			return err
		}
	}
	if err := g.st.SetCursor(ctx, groupSyncCursor, ""); err != nil {
		return fmt.Errorf("groups: finish sync: %w", err)
	}
	g.o.Logger.Info("customer groups synced", "listed", listed, "stored", refreshed, "dismissed", dismissed)
	return nil
}

// ownerIDs lists the staff whose groups a sync by owner reads: everyone in
// the staff directory, departed members too (their groups are still there
// until handed over).
func (g *Groups) ownerIDs(ctx context.Context) ([]string, error) {
	staff, err := g.st.FindStaff(ctx)
	if err != nil {
		return nil, fmt.Errorf("groups: staff: %w", err)
	}
	ids := make([]string, 0, len(staff))
	for _, s := range staff {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

func (g *Groups) loadSync(ctx context.Context) (syncState, error) {
	raw, err := g.st.GetCursor(ctx, groupSyncCursor)
	if err != nil {
		return syncState{}, fmt.Errorf("groups: read sync progress: %w", err)
	}
	var st syncState
	if raw != "" && json.Unmarshal([]byte(raw), &st) == nil && (st.Phase == "list" || st.Phase == "check") {
		return st, nil
	}
	// The stamp is taken before anything is read, so every snapshot this
	// sync stores is at least as new.
	// Stores keep milliseconds; a finer stamp could be later than a
	// snapshot stored right after it.
	return syncState{Started: g.o.Now().UTC().Truncate(time.Millisecond), Phase: "list"}, nil
}

func (g *Groups) saveSync(ctx context.Context, st syncState) error {
	b, _ := json.Marshal(st)
	if err := g.st.SetCursor(ctx, groupSyncCursor, string(b)); err != nil {
		return fmt.Errorf("groups: save sync progress: %w", err)
	}
	return nil
}
