package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// groupTests are the contract of store.GroupStore.
var groupTests = []crmTest{
	{"UpsertReplacesMembersAndReportsChanges", func(t *testing.T, s store.Store, cfg Config) {
		g := &store.Group{ChatID: "wrChat1", Name: "VIP客户群", OwnerID: "zhangsan", Notice: "文明交流",
			CreatedAt: base.In(cst), UpdatedAt: base.Add(time.Minute).In(cst), Members: []store.GroupMember{
				staffMember("zhangsan", base),
				extMember("wmA", base.Add(time.Second), 1, "unA"),
				extMember("wmB", base.Add(2*time.Second), 3, ""),
			}}
		ch := upsertGroup(t, s, g)
		if !ch.Applied || !ch.Created || memberIDs(ch.Joined) != "wmA,wmB" || len(ch.Left) != 0 {
			t.Fatalf("first upsert = %+v, want created with wmA and wmB joined", ch)
		}
		got := findGroup(t, s, "wrChat1")
		checkGroup(t, got, g)

		// The next snapshot: wmB left, wmC joined, a staff member joined,
		// the group was renamed and handed to another owner.
		g2 := &store.Group{ChatID: "wrChat1", Name: "VIP客户二群", OwnerID: "lisi", CreatedAt: base,
			UpdatedAt: base.Add(2 * time.Minute), Members: []store.GroupMember{
				staffMember("zhangsan", base),
				staffMember("lisi", base.Add(90*time.Second)),
				extMember("wmA", base.Add(time.Second), 1, "unA"),
				extMember("wmC", base.Add(100*time.Second), 3, ""),
			}}
		ch = upsertGroup(t, s, g2)
		if !ch.Applied || ch.Created || memberIDs(ch.Joined) != "wmC" || memberIDs(ch.Left) != "wmB" {
			t.Fatalf("second upsert = %+v, want wmC joined and wmB left", ch)
		}
		checkGroup(t, findGroup(t, s, "wrChat1"), g2)

		// The same snapshot again (a redelivered event) changes nothing.
		ch = upsertGroup(t, s, g2)
		if !ch.Applied || ch.Created || len(ch.Joined)+len(ch.Left) != 0 {
			t.Errorf("repeated upsert = %+v, want applied without changes", ch)
		}
		// An older snapshot, read before g2 but written after it, is refused.
		stale := *g
		stale.UpdatedAt = base.Add(90 * time.Second)
		if ch = upsertGroup(t, s, &stale); ch.Applied || len(ch.Joined)+len(ch.Left) != 0 {
			t.Errorf("stale upsert = %+v, want not applied", ch)
		}
		checkGroup(t, findGroup(t, s, "wrChat1"), g2)

		// Everyone leaves: an empty member list is a valid state.
		empty := &store.Group{ChatID: "wrChat1", Name: "空群", OwnerID: "lisi", UpdatedAt: base.Add(3 * time.Minute)}
		ch = upsertGroup(t, s, empty)
		if !ch.Applied || len(ch.Joined) != 0 || memberIDs(ch.Left) != "wmA,wmC" {
			t.Errorf("emptying upsert = %+v, want wmA and wmC left", ch)
		}
		if got := findGroup(t, s, "wrChat1"); len(got.Members) != 0 || got.Members == nil {
			t.Errorf("members after emptying = %#v, want an empty list", got.Members)
		}
	}},
	{"Invalid", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		for i, g := range []*store.Group{
			{UpdatedAt: base},
			{ChatID: "wrX"},
			{ChatID: "wrX", UpdatedAt: base, Members: []store.GroupMember{{Type: store.GroupMemberExternal, JoinedAt: base}}},
			{ChatID: "wrX", UpdatedAt: base, Members: []store.GroupMember{extMember("wmA", base, 1, ""), extMember("wmA", base, 3, "")}},
		} {
			if _, err := s.UpsertGroup(ctx, g); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("case %d: UpsertGroup = %v, want ErrInvalid", i, err)
			}
		}
		if _, err := s.DismissGroup(ctx, "", base); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("DismissGroup without chat id = %v, want ErrInvalid", err)
		}
		if _, err := s.FindGroupByChatID(ctx, "wrX"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindGroupByChatID(missing) = %v, want ErrNotFound", err)
		}
	}},
	{"DismissIsFinal", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		g := &store.Group{ChatID: "wrD", Name: "售后群", OwnerID: "zhangsan", CreatedAt: base, UpdatedAt: base,
			Members: []store.GroupMember{staffMember("zhangsan", base), extMember("wmA", base, 3, "")}}
		upsertGroup(t, s, g)
		at := base.Add(time.Hour)
		d, err := s.DismissGroup(ctx, "wrD", at.In(cst))
		if err != nil {
			t.Fatal(err)
		}
		if !d.Dismissed || d.Name != "售后群" || memberIDs(d.Members) != "wmA,zhangsan" {
			t.Fatalf("DismissGroup = %+v, want the dismissed group with its last members", d)
		}
		checkUTCPtr(t, "DismissedAt", d.DismissedAt, &at)
		// A second dismissal (a redelivered event) keeps the first time.
		d, err = s.DismissGroup(ctx, "wrD", at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		checkUTCPtr(t, "DismissedAt after a second dismissal", d.DismissedAt, &at)
		// A snapshot read before the dismissal but written after it, or
		// even a later one, cannot bring the group back.
		late := *g
		late.UpdatedAt = base.Add(2 * time.Hour)
		late.Members = append(slices.Clone(g.Members), extMember("wmZ", base, 3, ""))
		if ch := upsertGroup(t, s, &late); ch.Applied || len(ch.Joined) != 0 {
			t.Errorf("upsert of a dismissed group = %+v, want not applied", ch)
		}
		got := findGroup(t, s, "wrD")
		if !got.Dismissed || memberIDs(got.Members) != "wmA,zhangsan" {
			t.Errorf("dismissed group after a late upsert = %+v", got)
		}

		// A dismissal of a group never seen is recorded, so the snapshot
		// of its create event, processed later, is refused.
		if d, err = s.DismissGroup(ctx, "wrUnknown", at); err != nil || !d.Dismissed || len(d.Members) != 0 {
			t.Fatalf("DismissGroup(unknown) = %+v, %v", d, err)
		}
		created := &store.Group{ChatID: "wrUnknown", Name: "刚建就解散", OwnerID: "lisi", UpdatedAt: base,
			Members: []store.GroupMember{extMember("wmB", base, 3, "")}}
		if ch := upsertGroup(t, s, created); ch.Applied {
			t.Errorf("upsert after the dismissal of an unknown group = %+v, want not applied", ch)
		}
		if list := findGroups(t, s, store.GroupFilter{}); len(list) != 0 {
			t.Errorf("FindGroups = %v, want no live group", chatIDs(list))
		}
		if list := findGroups(t, s, store.GroupFilter{IncludeDismissed: true}); chatIDs(list) != "wrD,wrUnknown" {
			t.Errorf("FindGroups(IncludeDismissed) = %v", chatIDs(list))
		}
	}},
	{"FindGroupsFiltersAndPages", func(t *testing.T, s store.Store, cfg Config) {
		owners := map[string]string{"wr1": "a1", "wr2": "a2", "wr3": "a1", "wr4": "b1", "wr5": "a1"}
		for _, id := range []string{"wr5", "wr3", "wr1", "wr4", "wr2"} {
			upsertGroup(t, s, &store.Group{ChatID: id, Name: "群" + id, OwnerID: owners[id], UpdatedAt: base,
				Members: []store.GroupMember{staffMember(owners[id], base), extMember("wm"+id, base, 3, "")}})
		}
		if _, err := s.DismissGroup(ctxFor(t), "wr3", base); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			f    store.GroupFilter
			want string
		}{
			{"all", store.GroupFilter{}, "wr1,wr2,wr4,wr5"},
			{"with dismissed", store.GroupFilter{IncludeDismissed: true}, "wr1,wr2,wr3,wr4,wr5"},
			{"one owner", store.GroupFilter{OwnerIDs: []string{"a1"}}, "wr1,wr5"},
			{"a team", store.GroupFilter{OwnerIDs: []string{"a1", "a2", "a1"}}, "wr1,wr2,wr5"},
			{"empty scope", store.GroupFilter{OwnerIDs: []string{}}, ""},
			{"nobody's", store.GroupFilter{OwnerIDs: []string{"nobody"}}, ""},
			{"after", store.GroupFilter{AfterChatID: "wr2"}, "wr4,wr5"},
			{"limit", store.GroupFilter{Limit: 2}, "wr1,wr2"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				list := findGroups(t, s, tc.f)
				if got := chatIDs(list); got != tc.want {
					t.Errorf("FindGroups = %q, want %q", got, tc.want)
				}
				for _, g := range list {
					if len(g.Members) != 2 || g.Name != "群"+g.ChatID || g.OwnerID != owners[g.ChatID] {
						t.Errorf("group %s = %+v", g.ChatID, g)
					}
				}
			})
		}
		// Paging two at a time walks every live group once, in order.
		var all []string
		after := ""
		for range 10 {
			page := findGroups(t, s, store.GroupFilter{AfterChatID: after, Limit: 2})
			if len(page) == 0 {
				break
			}
			for _, g := range page {
				all = append(all, g.ChatID)
			}
			after = page[len(page)-1].ChatID
		}
		if got := strings.Join(all, ","); got != "wr1,wr2,wr4,wr5" {
			t.Errorf("pages = %s", got)
		}
	}},
	{"CustomerGroups", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		// Memberships are stored before the customer is known: they are
		// found once the customer exists.
		upsertGroup(t, s, &store.Group{ChatID: "wrByExt", Name: "按ID", OwnerID: "a1", UpdatedAt: base, Members: []store.GroupMember{
			staffMember("a1", base), extMember("wmCG", base.Add(2*time.Hour), 3, ""), extMember("wmOther", base, 1, "")}})
		upsertGroup(t, s, &store.Group{ChatID: "wrByUnion", Name: "按unionid", OwnerID: "b1", UpdatedAt: base, Members: []store.GroupMember{
			extMember("wmSomeoneElsesID", base.Add(time.Hour), 1, "unCG")}})
		// A staff member whose UserID equals the customer's external ID is
		// not the customer.
		upsertGroup(t, s, &store.Group{ChatID: "wrStaffOnly", Name: "员工群", OwnerID: "a1", UpdatedAt: base, Members: []store.GroupMember{
			staffMember("wmCG", base)}})
		upsertGroup(t, s, &store.Group{ChatID: "wrGone", Name: "已解散", OwnerID: "a1", UpdatedAt: base, Members: []store.GroupMember{
			extMember("wmCG", base, 3, "")}})
		if _, err := s.DismissGroup(ctx, "wrGone", base.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmCG"), Link: []store.Identity{union("unCG")}, Now: base})
		got, err := s.FindCustomerGroups(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.CustomerGroup{
			{ChatID: "wrByUnion", Name: "按unionid", OwnerID: "b1", JoinedAt: base.Add(time.Hour), JoinScene: 1},
			{ChatID: "wrByExt", Name: "按ID", OwnerID: "a1", JoinedAt: base.Add(2 * time.Hour), JoinScene: 3},
		}
		checkCustomerGroups(t, got, want)

		// A customer merged into another brings their groups along, and
		// the merged-away ID resolves to the survivor.
		dup := upsert(t, s, store.CustomerUpsert{Identity: ext("wmOther"), Now: base.Add(time.Minute)})
		if _, err := s.MergeCustomers(ctx, c.ID, dup.ID); err != nil {
			t.Fatal(err)
		}
		want = []store.CustomerGroup{
			{ChatID: "wrByExt", Name: "按ID", OwnerID: "a1", JoinedAt: base, JoinScene: 1}, // wmOther joined earlier
			{ChatID: "wrByUnion", Name: "按unionid", OwnerID: "b1", JoinedAt: base.Add(time.Hour), JoinScene: 1},
		}
		for _, id := range []string{c.ID, dup.ID} {
			got, err := s.FindCustomerGroups(ctx, id)
			if err != nil {
				t.Fatalf("FindCustomerGroups(%s): %v", id, err)
			}
			checkCustomerGroups(t, got, want)
		}
		// Someone in no group has an empty list; an unknown ID is an error.
		lone := upsert(t, s, store.CustomerUpsert{Identity: ext("wmLone"), Now: base})
		if got, err := s.FindCustomerGroups(ctx, lone.ID); err != nil || got == nil || len(got) != 0 {
			t.Errorf("FindCustomerGroups(lone) = %#v, %v; want an empty list", got, err)
		}
		for _, id := range []string{"", "no-such-customer"} {
			if _, err := s.FindCustomerGroups(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindCustomerGroups(%q) = %v, want ErrNotFound", id, err)
			}
		}
	}},
	{"EraseRemovesMemberships", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmGroupSecret9"), Link: []store.Identity{union("unGroupSecret9")}, Now: base})
		keep := upsert(t, s, store.CustomerUpsert{Identity: ext("wmKeep9"), Now: base})
		upsertGroup(t, s, &store.Group{ChatID: "wrE1", Name: "一群", OwnerID: "a1", UpdatedAt: base, Members: []store.GroupMember{
			staffMember("a1", base), extMember("wmGroupSecret9", base, 3, "unGroupSecret9"), extMember("wmKeep9", base, 3, "")}})
		// Known in the second group only by unionid, under an ID scrm
		// never saw.
		upsertGroup(t, s, &store.Group{ChatID: "wrE2", Name: "二群", OwnerID: "a1", UpdatedAt: base, Members: []store.GroupMember{
			staffMember("a1", base), extMember("wmUnseen9", base, 1, "unGroupSecret9")}})
		// The change event that added both members names both: it must not
		// keep the erased one.
		appendEvents(t, s, &store.Event{
			DedupKey: "wecom:evt:sys:1:change_external_chat:update:::ChatId=wrE1:MemChangeList=wmGroupSecret9,wmKeep9",
			Channel:  store.ChannelWeCom, Kind: "event.change_external_chat.update", FromID: "sys",
			Attrs:      map[string]string{"ChatId": "wrE1", "UpdateDetail": "add_member", "MemChangeList": "wmGroupSecret9,wmKeep9"},
			Raw:        []byte("<xml><MemChangeList><Item>wmGroupSecret9</Item><Item>wmKeep9</Item></MemChangeList></xml>"),
			OccurredAt: base, ReceivedAt: base,
		})
		before := dump(t, s)
		for _, v := range []string{"wmGroupSecret9", "unGroupSecret9", "wmUnseen9"} {
			if !strings.Contains(before, v) {
				t.Fatalf("the dump lacks %q before the erase; the test would prove nothing", v)
			}
		}
		mustNil(t, s.EraseCustomer(ctx, c.ID))
		after := dump(t, s)
		for _, v := range []string{"wmGroupSecret9", "unGroupSecret9", "wmUnseen9"} {
			if strings.Contains(after, v) {
				t.Errorf("after the erase %q is still stored", v)
			}
		}
		if g := findGroup(t, s, "wrE1"); memberIDs(g.Members) != "a1,wmKeep9" || g.Name != "一群" {
			t.Errorf("wrE1 after the erase = %+v, want a1 and wmKeep9", g)
		}
		if g := findGroup(t, s, "wrE2"); memberIDs(g.Members) != "a1" {
			t.Errorf("wrE2 after the erase = %+v, want only a1", g)
		}
		if got, err := s.FindCustomerGroups(ctx, keep.ID); err != nil || len(got) != 1 || got[0].ChatID != "wrE1" {
			t.Errorf("the neighbour's groups = %+v, %v", got, err)
		}
	}},
	{"ConcurrentFirstSnapshots", func(t *testing.T, s store.Store, cfg Config) {
		// Eight processors store the first snapshot of one group at once:
		// exactly one of them created it and reported the joins.
		g := &store.Group{ChatID: "wrRace", Name: "并发", OwnerID: "a1", UpdatedAt: base, Members: []store.GroupMember{
			staffMember("a1", base), extMember("wmR1", base, 3, ""), extMember("wmR2", base, 3, "")}}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created int
			joined  int
			errs    []error
		)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ch, err := s.UpsertGroup(ctxFor(t), g)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				if ch.Created {
					created++
				}
				joined += len(ch.Joined)
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("UpsertGroup: %v", errs)
		}
		if created != 1 || joined != 2 {
			t.Errorf("created %d times with %d joins reported, want once with 2", created, joined)
		}
		checkGroup(t, findGroup(t, s, "wrRace"), g)
	}},
}

func staffMember(id string, at time.Time) store.GroupMember {
	return store.GroupMember{UserID: id, Type: store.GroupMemberStaff, JoinedAt: at, JoinScene: 1}
}

func extMember(id string, at time.Time, scene int, unionID string) store.GroupMember {
	return store.GroupMember{UserID: id, Type: store.GroupMemberExternal, JoinedAt: at, JoinScene: scene, UnionID: unionID}
}

func upsertGroup(t *testing.T, s store.Store, g *store.Group) store.GroupChange {
	t.Helper()
	ch, err := s.UpsertGroup(ctxFor(t), g)
	if err != nil {
		t.Fatalf("UpsertGroup(%s): %v", g.ChatID, err)
	}
	return ch
}

func findGroup(t *testing.T, s store.Store, chatID string) *store.Group {
	t.Helper()
	g, err := s.FindGroupByChatID(ctxFor(t), chatID)
	if err != nil {
		t.Fatalf("FindGroupByChatID(%s): %v", chatID, err)
	}
	return g
}

func findGroups(t *testing.T, s store.Store, f store.GroupFilter) []*store.Group {
	t.Helper()
	list, err := s.FindGroups(ctxFor(t), f)
	if err != nil {
		t.Fatalf("FindGroups(%+v): %v", f, err)
	}
	return list
}

func memberIDs(ms []store.GroupMember) string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.UserID
	}
	return strings.Join(ids, ",")
}

func chatIDs(gs []*store.Group) string {
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.ChatID
	}
	return strings.Join(ids, ",")
}

// checkGroup compares a stored group with what was written: members come
// back by join time, then user ID, with times in UTC.
func checkGroup(t *testing.T, got, want *store.Group) {
	t.Helper()
	if got.ChatID != want.ChatID || got.Name != want.Name || got.OwnerID != want.OwnerID || got.Notice != want.Notice ||
		got.Dismissed != want.Dismissed {
		t.Errorf("group = %+v, want %+v", got, want)
	}
	checkUTC(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkUTC(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	wantMembers := slices.Clone(want.Members)
	slices.SortStableFunc(wantMembers, func(a, b store.GroupMember) int {
		if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
			return c
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	if len(got.Members) != len(wantMembers) {
		t.Fatalf("members = %s, want %s", memberIDs(got.Members), memberIDs(wantMembers))
	}
	for i, m := range got.Members {
		w := wantMembers[i]
		checkUTC(t, "member "+m.UserID+" JoinedAt", m.JoinedAt, w.JoinedAt)
		m.JoinedAt, w.JoinedAt = time.Time{}, time.Time{}
		if m != w {
			t.Errorf("member %d = %+v, want %+v", i, m, w)
		}
	}
}

func checkCustomerGroups(t *testing.T, got, want []store.CustomerGroup) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("customer groups = %+v, want %+v", got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		checkUTC(t, fmt.Sprintf("group %d JoinedAt", i), g.JoinedAt, w.JoinedAt)
		g.JoinedAt, w.JoinedAt = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("customer group %d = %+v, want %+v", i, g, w)
		}
	}
}
