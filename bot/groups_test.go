package bot_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// groupHarness runs the group processor behind the real callback path: the
// simulator's driver delivers signed, encrypted change_external_chat
// callbacks to the HTTP edge, which stores them in SQLite; the pipeline runs
// the customer and group processors, and the group processor reads the
// groups from the simulator through the real API client.
type groupHarness struct {
	t      *testing.T
	ctx    context.Context
	clock  *wecomtest.FakeClock
	sim    *wecomtest.Simulator
	st     *sqlite.DB
	api    *wecom.APIClient
	drv    *wecomtest.Driver
	groups *bot.Groups
	pipe   *bot.Pipeline
}

func newGroupHarness(t *testing.T) *groupHarness {
	t.Helper()
	h := &groupHarness{t: t, ctx: context.Background(), clock: wecomtest.NewFakeClock(t0)}
	h.sim = wecomtest.NewSimulator(wecomtest.SimConfig{Now: h.clock.Now})
	t.Cleanup(func() { h.sim.Close() })
	h.st = openStore(t)
	h.drv = serveEdge(t, h.st, coord.NewLocal(), h.sim, h.clock.Now)
	h.api = simClient(t, h.sim, nil)
	h.sim.AddStaff(wecomtest.Staff{UserID: "sales1", Name: "李销售"})
	h.sim.AddStaff(wecomtest.Staff{UserID: "sales2", Name: "王销售"})
	h.groups = bot.NewGroups(h.st, h.api, bot.GroupsOptions{Now: h.clock.Now, Logger: ibQuiet()})
	h.pipe = bot.NewPipeline(h.st, bot.PipelineOptions{Owner: "test", Now: h.clock.Now, Logger: ibQuiet()},
		bot.NewCustomers(h.st, nil), h.groups)
	return h
}

// deliver sends a callback through the edge and runs the pipeline dry.
func (h *groupHarness) deliver(m wecomtest.Msg) {
	h.t.Helper()
	d, err := h.drv.SendWeCom(h.ctx, m)
	if err != nil || d.Status != 200 {
		h.t.Fatalf("deliver: %+v, %v", d, err)
	}
	for range 100 {
		n, err := h.pipe.RunOnce(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := h.st.OldestUnprocessed(h.ctx); !errors.Is(err, store.ErrNotFound) {
		evs, _ := h.st.FindEvents(h.ctx, store.EventFilter{Processed: new(bool)})
		for _, e := range evs {
			h.t.Logf("unprocessed %s: %s", e.Kind, e.LastError)
		}
		h.t.Fatalf("events left unprocessed: %v", err)
	}
	h.clock.Advance(time.Minute)
}

// contact makes ext a customer of staff through an add_external_contact callback.
func (h *groupHarness) contact(staff, ext string) *store.Customer {
	h.t.Helper()
	h.deliver(wecomtest.ContactEvent("add_external_contact", staff, ext, h.clock.Now(), nil))
	return h.customer(ext)
}

func (h *groupHarness) customer(ext string) *store.Customer {
	h.t.Helper()
	c, err := h.st.FindCustomerByIdentity(h.ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: ext})
	if err != nil {
		h.t.Fatalf("customer %s: %v", ext, err)
	}
	return c
}

// groupEntries returns the texts of a customer's group entries, oldest first.
func (h *groupHarness) groupEntries(id string) []string {
	h.t.Helper()
	entries, err := h.st.FindTimeline(h.ctx, id, 0, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range slices.Backward(entries) {
		if e.Attrs["chat_id"] != "" {
			if e.Kind != store.EntryEvent || e.StaffID == "" {
				h.t.Errorf("group entry %+v: want an event entry with the owner as staff", e)
			}
			out = append(out, e.Text)
		}
	}
	return out
}

func (h *groupHarness) groupsOf(id string) []string {
	h.t.Helper()
	gs, err := h.st.FindCustomerGroups(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out
}

func TestGroupsFollowChangeExternalChat(t *testing.T) {
	h := newGroupHarness(t)
	zhang := h.contact("sales1", "wmZhang")
	li := h.contact("sales1", "wmLi")
	// 王五 is known only from the Official Account; WeCom gives the
	// unionid of the external member that is him.
	wang, err := h.st.UpsertCustomer(h.ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityOpenID, Value: "oWang"},
		Link: []store.Identity{{Kind: store.IdentityUnionID, Value: "unWang"}}, Now: h.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}

	// sales1 creates a group with 张三 and someone nobody has added.
	chatID, create := h.sim.AddGroupChat(wecomtest.GroupChat{Name: "VIP客户群", Owner: "sales1", Notice: "欢迎",
		Members: []wecomtest.GroupMember{{UserID: "wmZhang", JoinScene: 1}, {UserID: "wmStranger", JoinScene: 1}}})
	h.deliver(create)
	g, err := h.st.FindGroupByChatID(h.ctx, chatID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "VIP客户群" || g.OwnerID != "sales1" || g.Notice != "欢迎" || memberList(g) != "sales1:1,wmStranger:2,wmZhang:2" {
		t.Fatalf("stored group = %+v (%s)", g, memberList(g))
	}
	if got := h.groupEntries(zhang.ID); !slices.Equal(got, []string{"加入客户群「VIP客户群」"}) {
		t.Errorf("张三's group entries = %q", got)
	}
	if _, err := h.st.FindCustomerByIdentity(h.ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wmStranger"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("joining a group made a customer of a stranger: %v", err)
	}

	// 李四 and 王五 scan the group's QR code; the callback is delivered
	// twice (WeCom retries) and stored once.
	join := h.sim.JoinGroupChat(chatID, 3, wecomtest.GroupMember{UserID: "wmLi"}, wecomtest.GroupMember{UserID: "wmWangExt", UnionID: "unWang"})
	h.deliver(join)
	h.deliver(join)
	for _, c := range []*store.Customer{li, wang} {
		if got := h.groupEntries(c.ID); !slices.Equal(got, []string{"扫描群二维码加入客户群「VIP客户群」"}) {
			t.Errorf("%s's group entries = %q", c.ID, got)
		}
		if got := h.groupsOf(c.ID); !slices.Equal(got, []string{"VIP客户群"}) {
			t.Errorf("%s's groups = %q", c.ID, got)
		}
	}
	// At-least-once: the pipeline may run the event again after a crash;
	// nothing is written twice.
	evs, err := h.st.FindEvents(h.ctx, store.EventFilter{Kind: "event.change_external_chat.update"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("stored add_member events = %d, %v; want 1", len(evs), err)
	}
	for range 2 {
		if err := h.groups.Process(h.ctx, evs[0]); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.groupEntries(li.ID); len(got) != 1 {
		t.Errorf("李四's entries after reprocessing = %q, want one", got)
	}

	// sales1 removes 张三; a staff member joins (no timeline for staff).
	h.deliver(h.sim.LeaveGroupChat(chatID, true, "wmZhang"))
	h.deliver(h.sim.JoinGroupChat(chatID, 1, wecomtest.GroupMember{UserID: "sales2"}))
	if got := h.groupEntries(zhang.ID); !slices.Equal(got, []string{"加入客户群「VIP客户群」", "被移出客户群「VIP客户群」"}) {
		t.Errorf("张三's group entries = %q", got)
	}
	if got := h.groupsOf(zhang.ID); len(got) != 0 {
		t.Errorf("张三 is still in %q", got)
	}
	// 李四 leaves by himself.
	h.deliver(h.sim.LeaveGroupChat(chatID, false, "wmLi"))
	if got := h.groupEntries(li.ID); !slices.Equal(got, []string{"扫描群二维码加入客户群「VIP客户群」", "退出客户群「VIP客户群」"}) {
		t.Errorf("李四's group entries = %q", got)
	}

	// A rename and a new owner are read from WeCom.
	h.deliver(h.sim.RenameGroupChat(chatID, "VIP客户二群"))
	h.deliver(h.sim.SetGroupChatOwner(chatID, "sales2"))
	if g, err = h.st.FindGroupByChatID(h.ctx, chatID); err != nil || g.Name != "VIP客户二群" || g.OwnerID != "sales2" {
		t.Fatalf("group after rename and handover = %+v, %v", g, err)
	}
	if got := h.groupsOf(wang.ID); !slices.Equal(got, []string{"VIP客户二群"}) {
		t.Errorf("王五's groups = %q", got)
	}

	// An update whose processing is delayed past the dismissal: WeCom no
	// longer has the group; the event is dropped, not retried forever.
	late := h.sim.JoinGroupChat(chatID, 1, wecomtest.GroupMember{UserID: "wmLate"})
	h.deliver(h.sim.DismissGroupChat(chatID))
	if g, err = h.st.FindGroupByChatID(h.ctx, chatID); err != nil || !g.Dismissed {
		t.Fatalf("group after dismissal = %+v, %v", g, err)
	}
	h.deliver(late)
	if got := h.groupsOf(wang.ID); len(got) != 0 {
		t.Errorf("王五 is still in %q after the dismissal", got)
	}
	if live, err := h.st.FindGroups(h.ctx, store.GroupFilter{}); err != nil || len(live) != 0 {
		t.Errorf("live groups after the dismissal = %d, %v", len(live), err)
	}
}

// A create event for a group dismissed before it was processed leaves the
// group dismissed, whichever of the two runs first.
func TestGroupsDismissBeforeCreate(t *testing.T) {
	h := newGroupHarness(t)
	chatID, create := h.sim.AddGroupChat(wecomtest.GroupChat{Name: "临时群", Owner: "sales1"})
	dismiss := h.sim.DismissGroupChat(chatID)
	h.deliver(dismiss)
	h.deliver(create)
	g, err := h.st.FindGroupByChatID(h.ctx, chatID)
	if err != nil || !g.Dismissed {
		t.Fatalf("group = %+v, %v; want it dismissed", g, err)
	}
}

// failingLists fails one groupchat/list call, as an outage in the middle
// of a sync would; everything else goes to the simulator.
type failingLists struct {
	bot.WeComGroups
	calls, failAt int
}

func (f *failingLists) ListGroupChats(ctx context.Context, owners []string, cursor string, limit int) (*wecom.GroupChatPage, error) {
	f.calls++
	if f.calls == f.failAt {
		return nil, errors.New("connection reset")
	}
	return f.WeComGroups.ListGroupChats(ctx, owners, cursor, limit)
}

func TestGroupSyncAtStart(t *testing.T) {
	h := newGroupHarness(t)
	zhang := h.contact("sales1", "wmZhang")
	var ids []string
	for _, name := range []string{"一群", "二群", "三群", "四群", "五群"} {
		id, _ := h.sim.AddGroupChat(wecomtest.GroupChat{Name: name, Owner: "sales1",
			Members: []wecomtest.GroupMember{{UserID: "wmZhang"}}})
		ids = append(ids, id)
	}
	// A group stored earlier that WeCom dismissed while scrm was down.
	if _, err := h.st.UpsertGroup(h.ctx, &store.Group{ChatID: "wrGoneWhileDown", Name: "旧群", OwnerID: "sales1",
		UpdatedAt: h.clock.Now().Add(-time.Hour), Members: []store.GroupMember{{UserID: "wmZhang", Type: store.GroupMemberExternal, JoinedAt: t0}}}); err != nil {
		t.Fatal(err)
	}

	// Pages of two; the second list call fails. The sync resumes where it
	// stopped instead of reading every group again.
	flaky := &failingLists{WeComGroups: h.api, failAt: 2}
	g := bot.NewGroups(h.st, flaky, bot.GroupsOptions{Now: h.clock.Now, Logger: ibQuiet(), PageSize: 2})
	if err := g.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	runner := g.Runner(h.st, bot.RunnerOptions{Owner: "test", Now: h.clock.Now, Logger: ibQuiet()})
	for range 10 {
		if _, err := runner.RunOnce(h.ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := h.st.CountJobs(h.ctx, bot.JobGroupSync); err != nil || n == 0 {
			break
		}
		h.clock.Advance(time.Hour) // past the retry backoff
	}
	if n, _ := h.st.CountJobs(h.ctx, bot.JobGroupSync); n != 0 {
		t.Fatal("the sync did not finish")
	}
	if flaky.calls != 4 { // page 1, the failure, pages 2 and 3
		t.Errorf("groupchat/list called %d times, want 4", flaky.calls)
	}
	// Each group read once, plus the one that is gone.
	if n := h.sim.Calls("externalcontact/groupchat/get"); n != 6 {
		t.Errorf("groupchat/get called %d times, want 6", n)
	}
	want := []string{"一群", "二群", "三群", "四群", "五群"}
	if got := h.groupsOf(zhang.ID); !slices.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Errorf("张三's groups after the sync = %q, want %q", got, want)
	}
	gone, err := h.st.FindGroupByChatID(h.ctx, "wrGoneWhileDown")
	if err != nil || !gone.Dismissed {
		t.Errorf("the group WeCom dropped = %+v, %v; want it dismissed", gone, err)
	}
	if got := h.groupEntries(zhang.ID); len(got) != 0 {
		t.Errorf("the sync wrote timeline entries %q; it cannot tell when changes happened", got)
	}
	if cur, err := h.st.GetCursor(h.ctx, "groups:sync"); err != nil || cur != "" {
		t.Errorf("sync progress left behind: %q, %v", cur, err)
	}
}

func memberList(g *store.Group) string {
	var parts []string
	for _, m := range g.Members {
		parts = append(parts, m.UserID+":"+string(rune('0'+m.Type)))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// A corp with more than 1,000 people in the app's range gets 81017 for an
// unfiltered groupchat/list: the sync lists each staff member's groups.
func TestGroupSyncByOwnerInALargeCorp(t *testing.T) {
	h := newGroupHarness(t)
	zhang := h.contact("sales1", "wmZhang")
	for _, s := range []string{"sales1", "sales2"} {
		if err := h.st.UpsertStaff(h.ctx, &store.Staff{ID: s, Role: bot.RoleSales, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	h.sim.AddGroupChat(wecomtest.GroupChat{Name: "一群", Owner: "sales1", Members: []wecomtest.GroupMember{{UserID: "wmZhang"}}})
	h.sim.AddGroupChat(wecomtest.GroupChat{Name: "二群", Owner: "sales2", Members: []wecomtest.GroupMember{{UserID: "wmZhang"}}})
	h.sim.SetLargeVisibleRange(true)
	if err := h.groups.Sync(h.ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := sortedCopy(h.groupsOf(zhang.ID)), []string{"一群", "二群"}; !slices.Equal(got, want) {
		t.Errorf("张三's groups after a sync by owner = %q, want %q", got, want)
	}
}

// A corp that refuses groupchat/list (no permission) ends the sync instead
// of retrying it forever.
func TestGroupSyncRefused(t *testing.T) {
	h := newGroupHarness(t)
	h.sim.Fail("externalcontact/groupchat/list", 48002, 1)
	if err := h.groups.Sync(h.ctx); err != nil {
		t.Fatalf("Sync = %v, want nil after a permanent refusal", err)
	}
	if cur, err := h.st.GetCursor(h.ctx, "groups:sync"); err != nil || cur != "" {
		t.Errorf("sync progress left behind: %q, %v", cur, err)
	}
	// A transient failure fails the run, so the job is retried.
	h.sim.Busy("externalcontact/groupchat/list", 10)
	if err := h.groups.Sync(h.ctx); err == nil {
		t.Error("Sync succeeded while WeCom was busy")
	}
}
