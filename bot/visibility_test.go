package bot_test

import (
	"context"
	"slices"
	"testing"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

func TestViewerFromStaffAndDirectory(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	putStaff(t, st,
		&store.Staff{ID: "boss", Role: bot.RoleAdmin, Active: true},
		&store.Staff{ID: "mgr", Role: bot.RoleManager, Team: []string{"a1"}, Active: true},
		&store.Staff{ID: "a1", Role: bot.RoleSales, Active: true},
		&store.Staff{ID: "gone", Role: bot.RoleSales},
		&store.Staff{ID: "odd", Role: "intern", Active: true},
	)
	followedBy := func(staff ...string) *store.Customer {
		c := &store.Customer{}
		for _, s := range staff {
			c.Follows = append(c.Follows, store.Follow{StaffID: s})
		}
		return c
	}
	dir := bot.StaffDirectory{Staff: st}
	tests := []struct {
		staff string
		scope []string // nil: everyone
		sees  []bool   // followed by a1, by b1, by nobody
	}{
		{"boss", nil, []bool{true, true, true}},
		{"mgr", []string{"mgr", "a1"}, []bool{true, false, false}},
		{"a1", []string{"a1"}, []bool{true, false, false}},
		{"gone", []string{}, []bool{false, false, false}},
		{"odd", []string{}, []bool{false, false, false}},
		{"newcomer", []string{"newcomer"}, []bool{false, false, false}}, // unknown: sales by default
	}
	for _, tt := range tests {
		t.Run(tt.staff, func(t *testing.T) {
			v, err := dir.Viewer(ctx, tt.staff)
			if err != nil {
				t.Fatal(err)
			}
			got := v.Scope()
			if (got == nil) != (tt.scope == nil) || !slices.Equal(got, tt.scope) {
				t.Errorf("scope %#v, want %#v", got, tt.scope)
			}
			for i, c := range []*store.Customer{followedBy("a1"), followedBy("b1"), followedBy()} {
				if v.CanSee(c) != tt.sees[i] {
					t.Errorf("customer %d: CanSee %t, want %t", i, v.CanSee(c), tt.sees[i])
				}
			}
		})
	}
	if _, ok := bot.ViewerFromStaff(nil); ok {
		t.Error("a nil staff member resolved")
	}
}

func TestCanSeeEntry(t *testing.T) {
	private := func(staff, author string) *store.TimelineEntry {
		return &store.TimelineEntry{Kind: store.EntryNote, StaffID: staff, Text: "底价",
			Attrs: map[string]string{"author": author, store.AttrPrivate: "true"}}
	}
	shared := &store.TimelineEntry{Kind: store.EntryNote, StaffID: "a1", Text: "周末联系"}
	// A private mark on anything but a note means nothing.
	message := &store.TimelineEntry{Kind: store.EntryMessage, Attrs: map[string]string{store.AttrPrivate: "true"}}
	admin := bot.Viewer{StaffID: "boss", Role: bot.RoleAdmin}
	mgrA := bot.Viewer{StaffID: "mgrA", Role: bot.RoleManager, Team: []string{"a1", "a2"}}
	mgrB := bot.Viewer{StaffID: "mgrB", Role: bot.RoleManager, Team: []string{"b1"}}
	a1 := bot.Viewer{StaffID: "a1", Role: bot.RoleSales}
	a2 := bot.Viewer{StaffID: "a2", Role: bot.RoleSales}
	noRole := bot.Viewer{StaffID: "a1"}
	cases := []struct {
		name string
		v    bot.Viewer
		e    *store.TimelineEntry
		want bool
	}{
		{"author", a1, private("a1", "a1"), true},
		{"author's manager", mgrA, private("a1", "a1"), true},
		{"admin", admin, private("a1", "a1"), true},
		{"teammate", a2, private("a1", "a1"), false},
		{"another team's manager", mgrB, private("a1", "a1"), false},
		{"author without a role", noRole, private("a1", "a1"), false},
		{"admin token's note, manager", mgrA, private("", "admin"), false},
		{"admin token's note, admin", admin, private("", "admin"), true},
		{"shared note", a2, shared, true},
		{"message", mgrB, message, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.CanSeeEntry(tc.e); got != tc.want {
				t.Errorf("CanSeeEntry = %v, want %v", got, tc.want)
			}
		})
	}
}
