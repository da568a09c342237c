package bot_test

import (
	"context"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// TestSegmentTierGroupAndFields: a segment selects by tier, by membership
// of a customer group now (by external_userid or unionid; a dismissed or
// unknown group selects nobody) and by custom fields, each alone and
// together, and refuses a field filter without a name.
func TestSegmentTierGroupAndFields(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	core := bot.NewCore(st, func() time.Time { return now })
	tier := func(s string) *string { return &s }
	ids := map[string]string{}
	for _, c := range []struct {
		ext, union, tier string
		fields           map[string]string
	}{
		{"wmA", "", "A", map[string]string{"行业": "制造业"}},
		{"wmB", "uB", "A", map[string]string{"行业": "零售"}},
		{"wmC", "", "B", map[string]string{"行业": "制造业", "城市": "苏州"}},
		{"wmD", "", "", nil},
	} {
		u := store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: c.ext}, Name: c.ext,
			Follow: &store.Follow{StaffID: "s1", AddedAt: now}, Now: now}
		if c.union != "" {
			u.Link = []store.Identity{{Kind: store.IdentityUnionID, Value: c.union}}
		}
		cu, err := st.UpsertCustomer(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateCustomer(ctx, cu.ID, store.CustomerUpdate{Tier: tier(c.tier), Fields: c.fields, Now: now}); err != nil {
			t.Fatal(err)
		}
		ids[c.ext] = cu.ID
	}
	member := func(id string) store.GroupMember {
		return store.GroupMember{UserID: id, Type: store.GroupMemberExternal, JoinedAt: now}
	}
	for _, g := range []*store.Group{
		// wmB is listed by unionid only, as a member from another corp would be.
		{ChatID: "wrVIP", Name: "VIP 群", OwnerID: "s1", Members: []store.GroupMember{member("wmA"), member("uB"),
			{UserID: "s1", Type: store.GroupMemberStaff, JoinedAt: now}}, UpdatedAt: now},
		{ChatID: "wrOld", Name: "旧群", OwnerID: "s1", Members: []store.GroupMember{member("wmC")}, UpdatedAt: now},
	} {
		if _, err := st.UpsertGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DismissGroup(ctx, "wrOld", now); err != nil {
		t.Fatal(err)
	}
	admin := bot.Actor{Viewer: bot.Viewer{StaffID: bot.AdminActorID, Role: bot.RoleAdmin}, Source: bot.SourceAPI}
	for name, c := range map[string]struct {
		f    store.SegmentFilter
		want int
	}{
		"tier A":             {store.SegmentFilter{Tier: "A"}, 2},
		"in the VIP group":   {store.SegmentFilter{Group: "wrVIP"}, 2},
		"in a dismissed one": {store.SegmentFilter{Group: "wrOld"}, 0},
		"in an unknown one":  {store.SegmentFilter{Group: "wrNone"}, 0},
		"manufacturing":      {store.SegmentFilter{Fields: map[string]string{"行业": "制造业"}}, 2},
		"two fields":         {store.SegmentFilter{Fields: map[string]string{"行业": "制造业", "城市": "苏州"}}, 1},
		"tier A and group":   {store.SegmentFilter{Tier: "A", Group: "wrVIP", Fields: map[string]string{"行业": "零售"}}, 1},
		"no filter":          {store.SegmentFilter{}, 4},
	} {
		sg, _, err := core.CreateSegment(ctx, admin, bot.SegmentRequest{Name: name, Filter: c.f, Key: name})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, err := core.CountSegment(ctx, admin, sg.ID)
		if err != nil || n.Count != c.want {
			t.Errorf("%s: %+v %v, want %d", name, n, err, c.want)
		}
	}
	if _, _, err := core.CreateSegment(ctx, admin, bot.SegmentRequest{Name: "x", Filter: store.SegmentFilter{Fields: map[string]string{"": "y"}}, Key: "bad"}); err == nil {
		t.Error("a field filter without a name was accepted")
	}
}
