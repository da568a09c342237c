package storetest

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// quickReplyTests are the contract of store.QuickReplyStore: quick replies
// round-trip, list in group, title, ID order, update only what is set,
// delete once, and lose no use under concurrent taps.
var quickReplyTests = []crmTest{
	{"RoundTripUpdateDelete", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		in := &store.QuickReply{ID: "q1", Group: "开场白", Title: "问候", Text: "#客户昵称#您好，我是#员工姓名#",
			CreatedBy: "mgr", CreatedAt: base.In(cst), UpdatedAt: base}
		if err := s.CreateQuickReply(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateQuickReply(ctx, &store.QuickReply{ID: "q1", Text: "x", CreatedAt: base, UpdatedAt: base}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateQuickReply(same id) = %v, want ErrConflict", err)
		}
		for _, bad := range []*store.QuickReply{{Text: "x"}, {ID: "q9"}} {
			if err := s.CreateQuickReply(ctx, bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateQuickReply(%+v) = %v, want ErrInvalid", *bad, err)
			}
		}
		got, err := s.FindQuickReplyByID(ctx, "q1")
		if err != nil {
			t.Fatal(err)
		}
		checkUTC(t, "CreatedAt", got.CreatedAt, base)
		want := *in
		want.CreatedAt = base
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("FindQuickReplyByID = %+v, want %+v", *got, want)
		}
		if _, err := s.FindQuickReplyByID(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindQuickReplyByID(absent) = %v, want ErrNotFound", err)
		}
		text := "新的话术"
		upd, err := s.UpdateQuickReply(ctx, "q1", store.QuickReplyUpdate{Text: &text, At: base.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if upd.Text != text || upd.Title != "问候" || upd.Group != "开场白" || !upd.UpdatedAt.Equal(base.Add(time.Hour)) || !upd.CreatedAt.Equal(base) {
			t.Errorf("UpdateQuickReply = %+v: want only text and updated_at changed", *upd)
		}
		if _, err := s.UpdateQuickReply(ctx, "nope", store.QuickReplyUpdate{Text: &text, At: base}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateQuickReply(absent) = %v, want ErrNotFound", err)
		}
		if err := s.DeleteQuickReply(ctx, "q1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteQuickReply(ctx, "q1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteQuickReply(again) = %v, want ErrNotFound", err)
		}
		if _, err := s.CountQuickReplyUse(ctx, "q1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CountQuickReplyUse(deleted) = %v, want ErrNotFound", err)
		}
	}},
	{"ListOrder", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		list, err := s.FindQuickReplies(ctx)
		if err != nil || list == nil || len(list) != 0 {
			t.Fatalf("FindQuickReplies(empty) = %v, %v: want an empty list", list, err)
		}
		for _, q := range []struct{ id, group, title string }{{"c", "报价", "优惠"}, {"a", "开场白", "问候"}, {"b", "报价", "优惠"}, {"d", "报价", "价格"}} {
			if err := s.CreateQuickReply(ctx, &store.QuickReply{ID: q.id, Group: q.group, Title: q.title, Text: q.title, CreatedAt: base, UpdatedAt: base}); err != nil {
				t.Fatal(err)
			}
		}
		list, err = s.FindQuickReplies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, q := range list {
			ids = append(ids, q.ID)
		}
		// Groups and titles compare by their UTF-8 bytes on both backends.
		if want := []string{"a", "d", "b", "c"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("order %v, want %v", ids, want)
		}
	}},
	{"ConcurrentUses", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		if err := s.CreateQuickReply(ctx, &store.QuickReply{ID: "q", Text: "x", CreatedAt: base, UpdatedAt: base}); err != nil {
			t.Fatal(err)
		}
		const n = 20
		var wg sync.WaitGroup
		seen := make(chan int64, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.CountQuickReplyUse(ctx, "q")
				if err != nil {
					t.Error(err)
				}
				seen <- c
			}()
		}
		wg.Wait()
		close(seen)
		// Each answer counts its own use; concurrent ones may see each other.
		for c := range seen {
			if c < 1 || c > n {
				t.Errorf("CountQuickReplyUse answered %d, want 1..%d", c, n)
			}
		}
		got, _ := s.FindQuickReplyByID(ctx, "q")
		if got.Uses != n {
			t.Errorf("uses %d after %d concurrent counts: some were lost", got.Uses, n)
		}
		list, _ := s.FindQuickReplies(ctx)
		if len(list) != 1 || list[0].Uses != n {
			t.Errorf("FindQuickReplies uses = %+v, want %d", list, n)
		}
	}},
}
