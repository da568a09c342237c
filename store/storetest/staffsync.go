package storetest

import (
	"reflect"
	"testing"

	"github.com/scrmhq/scrm/store"
)

// staffSourceTests are the contract of the staff fields the address book
// sync relies on: Source and Manual round-trip, and a replace drops them
// like any other field the new record lacks.
var staffSourceTests = []crmTest{
	{"SourceAndManualRoundTrip", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		synced := &store.Staff{ID: "wangwu", Name: "王五", Role: "manager", Departments: []int64{2, 3},
			Team: []string{"a1", "a2"}, Active: true, Source: store.StaffSourceWeCom,
			Manual: []string{store.StaffFieldRole, store.StaffFieldTeam}}
		byHand := &store.Staff{ID: "zhaoliu", Name: "赵六", Role: "admin", Active: true,
			Manual: []string{store.StaffFieldRole}}
		plain := &store.Staff{ID: "qianqi", Name: "钱七", Role: "sales", Active: true}
		for _, st := range []*store.Staff{synced, byHand, plain} {
			if err := s.UpsertStaff(ctx, st); err != nil {
				t.Fatalf("UpsertStaff(%s): %v", st.ID, err)
			}
		}
		for _, want := range []*store.Staff{synced, byHand, plain} {
			got, err := s.FindStaffByID(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("FindStaffByID(%s) = %+v, want %+v", want.ID, *got, *want)
			}
		}
		list, err := s.FindStaff(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []*store.Staff{plain, synced, byHand}; !reflect.DeepEqual(list, want) {
			t.Errorf("FindStaff = %s, want %s", fmtStaff(list), fmtStaff(want))
		}

		// Replacing without the marks clears them: the caller owns the
		// whole record, as for every other field.
		cleared := &store.Staff{ID: "wangwu", Name: "王五", Role: "sales", Active: false}
		if err := s.UpsertStaff(ctx, cleared); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindStaffByID(ctx, "wangwu")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, cleared) {
			t.Errorf("after replace = %+v, want %+v", *got, *cleared)
		}
	}},
}
