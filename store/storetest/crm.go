package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// Dumper is implemented by backends for the erase test: DumpAll renders
// every record the backend holds (every table or collection) as text in
// which customer IDs appear in their store.Customer.ID form.
type Dumper interface {
	DumpAll(ctx context.Context) (string, error)
}

type crmTest struct {
	name string
	fn   func(t *testing.T, s store.Store, cfg Config)
}

// Config adapts the suite to a backend; zero fields take the defaults.
type Config struct {
	// DueReminders is how many due reminders the concurrent-claim test
	// spreads over 8 claimers (default 500). Embedded FerretDB answers every
	// query with a collection scan (v1.24 does not use its _id index), which
	// makes that test quadratic there; a real MongoDB runs the default.
	DueReminders int
	// LargeBatch is how many events CompleteEventsLargeBatch claims and
	// completes at once (default 600, over SQLite's 500 IDs a statement).
	// Embedded FerretDB updates matched documents one by one while it scans
	// them, so there the test passes 200 (still over MongoDB's 100 IDs an
	// update): 600 outlasts the test's deadline under the race detector.
	LargeBatch int
}

func (c Config) dueReminders() int { return cmp.Or(c.DueReminders, 500) }

func (c Config) largeBatch() int { return cmp.Or(c.LargeBatch, 600) }

// crmGroups are the contract tests of store/crm.go.
var crmGroups = []struct {
	name  string
	tests []crmTest
}{
	{"CustomerAdmin", customerAdminTests},
	{"CustomerFilters", customerFilterTests},
	{"Merge", mergeTests},
	{"Erase", eraseTests},
	{"Directory", directoryTests},
	{"StaffSource", staffSourceTests},
	{"Reminders", reminderTests},
	{"Jobs", jobTests},
	{"Activity", activityTests},
	{"Reports", reportTests},
	{"Groups", groupTests},
	{"Sessions", sessionTests},
	{"Channels", channelTests},
	{"Campaigns", campaignTests},
	{"QuickReplies", quickReplyTests},
	{"Journeys", journeyTests},
}

func phone(v string) store.Identity { return store.Identity{Kind: store.IdentityPhone, Value: v} }

func update(t *testing.T, s store.Store, id string, upd store.CustomerUpdate) *store.Customer {
	t.Helper()
	c, err := s.UpdateCustomer(ctxFor(t), id, upd)
	if err != nil {
		t.Fatalf("UpdateCustomer(%s): %v", id, err)
	}
	return c
}

func checkInsight(t *testing.T, got, want *store.Insight) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Fatalf("insight = %+v, want %+v", got, want)
	}
	if got == nil {
		return
	}
	g, w := *got, *want
	checkUTC(t, "Insight.AnalyzedAt", g.AnalyzedAt, w.AnalyzedAt)
	g.AnalyzedAt, w.AnalyzedAt = time.Time{}, time.Time{}
	if g != w {
		t.Errorf("insight = %+v, want %+v", g, w)
	}
}

var customerAdminTests = []crmTest{
	{"UpdateFields", func(t *testing.T, s store.Store, cfg Config) {
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmU"), Name: "旧名", AddTags: []string{"a", "b"}, Now: base})
		insight := &store.Insight{Summary: "客户关心交期", SentimentLabel: "positive", SentimentScore: 0.8, SentimentTrend: -0.1,
			Intent: "purchase", Model: "offline", AnalyzedAt: base.Add(time.Hour).In(cst), Through: 42}
		got := update(t, s, c.ID, store.CustomerUpdate{
			Name: ptr("新名"), Stage: ptr(store.StageActive), Tier: ptr("A"),
			Fields:        map[string]string{"公司": "示例科技", "到期日": "2025-12-31", "a.b": "dotted", "$k": "dollar"},
			AddTags:       []string{"c", "a", ""},
			RemoveTags:    []string{"b", "absent"},
			AddIdentities: []store.Identity{phone("13800138000")},
			Insight:       insight,
			Now:           base.Add(2 * time.Hour),
		})
		want := &store.Customer{
			ID: c.ID, Name: "新名", Stage: store.StageActive, Tier: "A",
			Identities: []store.Identity{ext("wmU"), phone("13800138000")},
			Follows:    []store.Follow{},
			Tags:       []string{"a", "c"},
			Fields:     map[string]string{"公司": "示例科技", "到期日": "2025-12-31", "a.b": "dotted", "$k": "dollar"},
			CreatedAt:  base, UpdatedAt: base.Add(2 * time.Hour),
		}
		checkCustomer(t, got, want)
		checkInsight(t, got.Insight, insight)
		stored := byID(t, s, c.ID)
		checkCustomer(t, stored, want)
		checkInsight(t, stored.Insight, insight)
		byPhone, err := s.FindCustomerByIdentity(ctxFor(t), phone("13800138000"))
		if err != nil || byPhone.ID != c.ID {
			t.Fatalf("FindCustomerByIdentity(phone) = %v, %v", byPhone, err)
		}

		// An empty value deletes a field; nil pointers keep values; an
		// older Now never lowers UpdatedAt; the same identity again is fine.
		got = update(t, s, c.ID, store.CustomerUpdate{
			Fields:        map[string]string{"到期日": "", "新": "值"},
			AddIdentities: []store.Identity{phone("13800138000")},
			Now:           base,
		})
		want.Fields = map[string]string{"公司": "示例科技", "a.b": "dotted", "$k": "dollar", "新": "值"}
		checkCustomer(t, got, want)
		checkInsight(t, got.Insight, insight)
		got = update(t, s, c.ID, store.CustomerUpdate{Fields: map[string]string{"公司": "", "a.b": "", "$k": "", "新": ""}, Now: base})
		if len(got.Fields) != 0 {
			t.Errorf("fields after deleting all = %v, want none", got.Fields)
		}
		// A later upsert from a callback keeps the edits.
		got = upsert(t, s, store.CustomerUpsert{Identity: ext("wmU"), Now: base.Add(3 * time.Hour)})
		if got.Name != "新名" || got.Tier != "A" || got.Insight == nil {
			t.Errorf("after upsert: %+v", got)
		}
	}},
	{"UpdateErrors", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		a := upsert(t, s, store.CustomerUpsert{Identity: ext("wmA"), Name: "甲", Now: base})
		b := upsert(t, s, store.CustomerUpsert{Identity: ext("wmB"), Name: "乙", Now: base})
		update(t, s, a.ID, store.CustomerUpdate{AddIdentities: []store.Identity{phone("13900000000")}, Now: base})
		gone := upsert(t, s, store.CustomerUpsert{Identity: ext("wmGone"), Now: base})
		mustNil(t, s.EraseCustomer(ctx, gone.ID))
		tests := []struct {
			name string
			id   string
			upd  store.CustomerUpdate
			want error
		}{
			{"Missing", gone.ID, store.CustomerUpdate{Name: ptr("x")}, store.ErrNotFound},
			{"Empty", "", store.CustomerUpdate{Name: ptr("x")}, store.ErrNotFound},
			{"IdentityOfAnother", b.ID, store.CustomerUpdate{Name: ptr("改名"), AddTags: []string{"t"},
				AddIdentities: []store.Identity{phone("13900000001"), phone("13900000000")}}, store.ErrConflict},
			{"EmptyStage", b.ID, store.CustomerUpdate{Stage: ptr("")}, store.ErrInvalid},
			{"IdentityWithoutValue", b.ID, store.CustomerUpdate{AddIdentities: []store.Identity{{Kind: store.IdentityPhone}}}, store.ErrInvalid},
			{"IdentityKindWithColon", b.ID, store.CustomerUpdate{AddIdentities: []store.Identity{{Kind: "a:b", Value: "v"}}}, store.ErrInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.UpdateCustomer(ctx, tc.id, tc.upd); !errors.Is(err, tc.want) {
					t.Fatalf("error = %v, want %v", err, tc.want)
				}
			})
		}
		// The failed updates changed nothing.
		got := byID(t, s, b.ID)
		if got.Name != "乙" || len(got.Tags) != 0 || len(got.Identities) != 1 {
			t.Errorf("customer after failed updates = %+v", got)
		}
		if _, err := s.FindCustomerByIdentity(ctx, phone("13900000001")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("identity of a failed update was stored: %v", err)
		}
	}},
	{"UpdateMergedAwayLandsOnSurvivor", func(t *testing.T, s store.Store, cfg Config) {
		older := upsert(t, s, store.CustomerUpsert{Identity: ext("wmO"), Now: base})
		younger := upsert(t, s, store.CustomerUpsert{Identity: openid("oY"), Now: base.Add(time.Hour)})
		upsert(t, s, store.CustomerUpsert{Identity: ext("wmO"), Link: []store.Identity{union("uOY")}, Now: base.Add(time.Hour)})
		upsert(t, s, store.CustomerUpsert{Identity: openid("oY"), Link: []store.Identity{union("uOY")}, Now: base.Add(time.Hour)})
		got := update(t, s, younger.ID, store.CustomerUpdate{Tier: ptr("B"), Now: base.Add(time.Hour)})
		if got.ID != older.ID || got.Tier != "B" {
			t.Errorf("update of merged-away = %s tier %q, want survivor %s tier B", got.ID, got.Tier, older.ID)
		}
	}},
}

// filterWorld builds customers for filter tests and returns them by name.
func filterWorld(t *testing.T, s store.Store) map[string]*store.Customer {
	t.Helper()
	type spec struct {
		name       string
		staff      []string
		ended      []string
		tag, stage string
		custAt     time.Duration // 0: never
		staffAt    time.Duration
	}
	specs := []spec{
		{name: "甲", staff: []string{"s1"}, tag: "vip", custAt: 1 * time.Hour},
		{name: "乙", staff: []string{"s2"}, custAt: 5 * time.Hour, staffAt: 2 * time.Hour},
		{name: "丙", staff: []string{"s3"}, tag: "vip", staffAt: 10 * time.Hour},
		{name: "丁", staff: []string{"s1", "s2"}, stage: store.StageWon},
		{name: "戊", staff: []string{"s4"}, ended: []string{"s1"}, custAt: 3 * time.Hour, staffAt: 4 * time.Hour},
		{name: "己", custAt: 20 * time.Hour},
		{name: "庚", staff: []string{"s2", "s3"}, tag: "vip", custAt: 2 * time.Hour, staffAt: 8 * time.Hour, stage: store.StageWon},
		{name: "辛", staff: []string{"s3"}, custAt: 6 * time.Hour},
	}
	out := map[string]*store.Customer{}
	for i, sp := range specs {
		id := ext(fmt.Sprintf("wmF%02d", i))
		u := store.CustomerUpsert{Identity: id, Name: sp.name, Stage: sp.stage, Now: base}
		if sp.tag != "" {
			u.AddTags = []string{sp.tag}
		}
		if sp.custAt > 0 {
			u.CustomerAt = base.Add(sp.custAt)
		}
		if sp.staffAt > 0 {
			u.StaffAt = base.Add(sp.staffAt)
		}
		c := upsert(t, s, u)
		for _, st := range append(slices.Clone(sp.staff), sp.ended...) {
			c = upsert(t, s, store.CustomerUpsert{Identity: id, Follow: &store.Follow{StaffID: st, AddedAt: base}, Now: base})
		}
		for _, st := range sp.ended {
			c = upsert(t, s, store.CustomerUpsert{Identity: id, Unfollow: st, Now: base})
		}
		out[sp.name] = c
	}
	return out
}

var customerFilterTests = []crmTest{
	{"TeamContactAndCount", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		w := filterWorld(t, s)
		at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
		tests := []struct {
			name string
			f    store.CustomerFilter
			want []string
		}{
			{"Team", store.CustomerFilter{StaffIDs: []string{"s1", "s2"}}, []string{"甲", "乙", "丁", "庚"}},
			{"TeamWithDuplicates", store.CustomerFilter{StaffIDs: []string{"s2", "s1", "s2"}}, []string{"甲", "乙", "丁", "庚"}},
			{"TeamOfOne", store.CustomerFilter{StaffIDs: []string{"s1"}}, []string{"甲", "丁"}},
			{"TeamSkipsEndedFollow", store.CustomerFilter{StaffIDs: []string{"s1", "nobody"}}, []string{"甲", "丁"}},
			{"EmptyTeamMatchesNone", store.CustomerFilter{StaffIDs: []string{}}, nil},
			{"NilTeamMatchesAll", store.CustomerFilter{StaffIDs: nil}, []string{"甲", "乙", "丙", "丁", "戊", "己", "庚", "辛"}},
			{"StaffWithinTeam", store.CustomerFilter{StaffID: "s2", StaffIDs: []string{"s1", "s4"}}, []string{"丁"}},
			{"StaffOutsideTeam", store.CustomerFilter{StaffID: "s3", StaffIDs: []string{"s1"}}, nil},
			{"TeamAndTag", store.CustomerFilter{StaffIDs: []string{"s1", "s3"}, Tag: "vip"}, []string{"甲", "丙", "庚"}},
			{"TeamAndStage", store.CustomerFilter{StaffIDs: []string{"s2", "s3"}, Stage: store.StageWon}, []string{"丁", "庚"}},
			{"TeamAndQuery", store.CustomerFilter{StaffIDs: []string{"s2", "s3"}, Query: "庚"}, []string{"庚"}},
			// Last contacts: 甲1 乙5 丙10 丁never 戊4 己20 庚8 辛6.
			{"Before", store.CustomerFilter{LastContactBefore: at(5)}, []string{"甲", "丁", "戊"}},
			{"BeforeIsStrict", store.CustomerFilter{LastContactBefore: at(4)}, []string{"甲", "丁"}},
			{"AfterIsInclusive", store.CustomerFilter{LastContactAfter: at(8)}, []string{"丙", "己", "庚"}},
			{"Between", store.CustomerFilter{LastContactAfter: at(4), LastContactBefore: at(8)}, []string{"乙", "戊", "辛"}},
			{"BeforeAndStaff", store.CustomerFilter{StaffID: "s1", LastContactBefore: at(5)}, []string{"甲", "丁"}},
			{"AfterAndTeam", store.CustomerFilter{StaffIDs: []string{"s2", "s3"}, LastContactAfter: at(6)}, []string{"丙", "庚", "辛"}},
			{"AfterAndTag", store.CustomerFilter{Tag: "vip", LastContactAfter: at(2)}, []string{"丙", "庚"}},
			{"BeforeAndStage", store.CustomerFilter{Stage: store.StageWon, LastContactBefore: at(9)}, []string{"丁", "庚"}},
			{"BeforeAndQuery", store.CustomerFilter{Query: "己", LastContactBefore: at(30)}, []string{"己"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				f := tc.f
				f.Limit = 1000
				got, err := s.FindCustomers(ctx, f)
				if err != nil {
					t.Fatalf("FindCustomers: %v", err)
				}
				var wantIDs []string
				for _, n := range tc.want {
					wantIDs = append(wantIDs, w[n].ID)
				}
				sort.Strings(wantIDs)
				var gotIDs []string
				for _, c := range got {
					gotIDs = append(gotIDs, c.ID)
				}
				if !slices.Equal(gotIDs, wantIDs) {
					t.Fatalf("customers = %v, want %v (%v)", names(got), tc.want, gotIDs)
				}
				// The same page by page.
				var paged []string
				f.Limit = 2
				for range 20 {
					page, err := s.FindCustomers(ctx, f)
					if err != nil {
						t.Fatalf("FindCustomers page: %v", err)
					}
					if len(page) == 0 {
						break
					}
					for _, c := range page {
						paged = append(paged, c.ID)
					}
					f.AfterID = page[len(page)-1].ID
				}
				if !slices.Equal(paged, wantIDs) {
					t.Fatalf("paged = %v, want %v", paged, wantIDs)
				}
				f.AfterID = "x"
				n, err := s.CountCustomers(ctx, f) // AfterID and Limit are ignored
				if err != nil || n != int64(len(wantIDs)) {
					t.Fatalf("CountCustomers = %d, %v; want %d", n, err, len(wantIDs))
				}
			})
		}
	}},
	{"LastContactFollowsWrites", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		in := func(c *store.Customer, f store.CustomerFilter) bool {
			t.Helper()
			f.Limit = 100
			list, err := s.FindCustomers(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(list, func(x *store.Customer) bool { return x.ID == c.ID })
		}
		a := upsert(t, s, store.CustomerUpsert{Identity: ext("wmLC1"), Now: base})
		if !in(a, store.CustomerFilter{LastContactBefore: base.Add(-time.Hour)}) {
			t.Error("a never-contacted customer is not before every time")
		}
		a = upsert(t, s, store.CustomerUpsert{Identity: ext("wmLC1"), StaffAt: base.Add(time.Hour), Now: base})
		if in(a, store.CustomerFilter{LastContactBefore: base.Add(time.Hour)}) || !in(a, store.CustomerFilter{LastContactAfter: base.Add(time.Hour)}) {
			t.Error("a staff touch did not move the last contact")
		}
		// An older customer message leaves the later staff touch in charge.
		upsert(t, s, store.CustomerUpsert{Identity: ext("wmLC1"), CustomerAt: base.Add(30 * time.Minute), Now: base})
		if !in(a, store.CustomerFilter{LastContactAfter: base.Add(time.Hour)}) {
			t.Error("an older message lowered the last contact")
		}
		// A merge keeps the later of both.
		b := upsert(t, s, store.CustomerUpsert{Identity: openid("oLC2"), CustomerAt: base.Add(5 * time.Hour), Now: base.Add(time.Minute)})
		merged, err := s.MergeCustomers(ctx, a.ID, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !in(merged, store.CustomerFilter{LastContactAfter: base.Add(5 * time.Hour)}) {
			t.Error("merge lost the later last contact")
		}
		if n, err := s.CountCustomers(ctx, store.CustomerFilter{LastContactBefore: base.Add(5 * time.Hour)}); err != nil || n != 0 {
			t.Errorf("CountCustomers(before 5h) = %d, %v; want 0", n, err)
		}
	}},
	{"BadCursor", func(t *testing.T, s store.Store, cfg Config) {
		upsert(t, s, store.CustomerUpsert{Identity: ext("wmBC"), Now: base})
		// A cursor the backend cannot have issued is an error or an empty
		// page, never the first page again.
		list, err := s.FindCustomers(ctxFor(t), store.CustomerFilter{AfterID: "~~~~~~~~~~~~~~~~~~~~~~~~~~~~"})
		if err == nil && len(list) != 0 {
			t.Errorf("FindCustomers(bad cursor) = %d customers", len(list))
		}
	}},
}

func names(list []*store.Customer) []string {
	var out []string
	for _, c := range list {
		out = append(out, c.Name)
	}
	return out
}

var mergeTests = []crmTest{
	{"MovesEverything", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		into := upsert(t, s, store.CustomerUpsert{Identity: ext("wmInto"), Name: "主记录",
			Follow: &store.Follow{StaffID: "s1", AddedAt: base}, AddTags: []string{"a"}, CustomerAt: base.Add(time.Hour), Now: base.Add(time.Hour)})
		from := upsert(t, s, store.CustomerUpsert{Identity: openid("oFrom"), Link: []store.Identity{union("uFrom")}, Name: "重复记录",
			Follow: &store.Follow{StaffID: "s2", Remark: "备注", AddedAt: base}, AddTags: []string{"a", "b"}, StaffAt: base.Add(2 * time.Hour), Now: base})
		update(t, s, into.ID, store.CustomerUpdate{Fields: map[string]string{"公司": "甲公司", "城市": "上海"}, Now: base.Add(time.Hour)})
		fromInsight := &store.Insight{Summary: "from", Model: "offline", AnalyzedAt: base}
		update(t, s, from.ID, store.CustomerUpdate{Tier: ptr("VIP"), Fields: map[string]string{"公司": "乙公司", "电话": "1"},
			Insight: fromInsight, Now: base})
		for i, cid := range []string{into.ID, from.ID, from.ID} {
			if ok, err := s.AppendTimeline(ctx, newEntry(cid, i)); err != nil || !ok {
				t.Fatalf("AppendTimeline: %v %v", ok, err)
			}
		}
		r := &store.Reminder{Key: "m1", CustomerID: from.ID, StaffID: "s2", Kind: store.ReminderManual, Text: "回访", DueAt: base.Add(time.Hour)}
		if _, err := s.CreateReminder(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.MergeCustomers(ctx, into.ID, from.ID)
		if err != nil {
			t.Fatalf("MergeCustomers: %v", err)
		}
		want := &store.Customer{
			ID: into.ID, Name: "主记录", Tier: "VIP", Stage: store.StageLead,
			Identities: []store.Identity{ext("wmInto"), openid("oFrom"), union("uFrom")},
			Follows: []store.Follow{
				{StaffID: "s1", AddedAt: base},
				{StaffID: "s2", Remark: "备注", AddedAt: base},
			},
			Tags:              []string{"a", "b"},
			Fields:            map[string]string{"公司": "甲公司", "城市": "上海", "电话": "1"},
			LastCustomerMsgAt: ptr(base.Add(time.Hour)),
			LastStaffTouchAt:  ptr(base.Add(2 * time.Hour)),
			CreatedAt:         base, // the earlier of both
			UpdatedAt:         base.Add(time.Hour),
		}
		checkCustomer(t, got, want)
		checkInsight(t, got.Insight, fromInsight) // into had none
		checkCustomer(t, byID(t, s, into.ID), want)
		if _, err := s.FindCustomerByID(ctx, from.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("merged-away customer: %v, want ErrNotFound", err)
		}
		for _, id := range want.Identities {
			if c, err := s.FindCustomerByIdentity(ctx, id); err != nil || c.ID != into.ID {
				t.Errorf("FindCustomerByIdentity(%v) = %v, %v", id, c, err)
			}
		}
		if tl, err := s.FindTimeline(ctx, into.ID, 0, 0); err != nil || len(tl) != 3 {
			t.Errorf("timeline of survivor = %d, %v; want 3", len(tl), err)
		}
		rem, err := s.FindReminderByID(ctx, r.ID)
		if err != nil || rem.CustomerID != into.ID {
			t.Errorf("reminder after merge = %+v, %v; want customer %s", rem, err, into.ID)
		}
		if list, err := s.FindReminders(ctx, store.ReminderFilter{CustomerID: into.ID}); err != nil || len(list) != 1 {
			t.Errorf("FindReminders(survivor) = %d, %v", len(list), err)
		}
		// Later writes for the merged-away ID land on the survivor.
		late := newEntry(from.ID, 9)
		if ok, err := s.AppendTimeline(ctx, late); err != nil || !ok || late.CustomerID != into.ID {
			t.Errorf("late AppendTimeline = %v, %v, customer %s", ok, err, late.CustomerID)
		}
		r2 := &store.Reminder{Key: "m2", CustomerID: from.ID, StaffID: "s2", Kind: store.ReminderManual, DueAt: base}
		if _, err := s.CreateReminder(ctx, r2); err != nil || r2.CustomerID != into.ID {
			t.Errorf("late CreateReminder = %v, customer %s", err, r2.CustomerID)
		}
		// into keeps its own insight over from's.
		other := upsert(t, s, store.CustomerUpsert{Identity: ext("wmOther"), Now: base})
		update(t, s, other.ID, store.CustomerUpdate{Insight: &store.Insight{Summary: "other", AnalyzedAt: base}, Now: base})
		got, err = s.MergeCustomers(ctx, into.ID, other.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkInsight(t, got.Insight, fromInsight)
		if st, err := s.Stats(ctx); err != nil || st.Customers != 1 || st.Messages != 4 {
			t.Errorf("Stats = %+v, %v; want 1 customer, 4 messages", st, err)
		}
	}},
	{"Errors", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		a := upsert(t, s, store.CustomerUpsert{Identity: ext("wmMA"), Now: base})
		b := upsert(t, s, store.CustomerUpsert{Identity: ext("wmMB"), Now: base})
		// An ID the backend did issue, for a customer that is gone.
		gone := upsert(t, s, store.CustomerUpsert{Identity: ext("wmMGone"), Now: base})
		mustNil(t, s.EraseCustomer(ctx, gone.ID))
		missing := gone.ID
		tests := []struct {
			name, into, from string
			want             error
		}{
			{"IntoMissing", missing, a.ID, store.ErrNotFound},
			{"FromMissing", a.ID, missing, store.ErrNotFound},
			{"Itself", a.ID, a.ID, store.ErrInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.MergeCustomers(ctx, tc.into, tc.from); !errors.Is(err, tc.want) {
					t.Fatalf("error = %v, want %v", err, tc.want)
				}
			})
		}
		if st, err := s.Stats(ctx); err != nil || st.Customers != 2 {
			t.Errorf("Stats = %+v, %v; want 2 customers", st, err)
		}
		if _, err := s.MergeCustomers(ctx, b.ID, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MergeCustomers(ctx, b.ID, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second merge = %v, want ErrNotFound", err)
		}
	}},
}

// dump returns everything the backend stores as text.
func dump(t *testing.T, s store.Store) string {
	t.Helper()
	d, ok := s.(Dumper)
	if !ok {
		t.Fatalf("%T has no DumpAll(ctx) (string, error): the erase test cannot look at its storage", s)
	}
	out, err := d.DumpAll(ctxFor(t))
	if err != nil {
		t.Fatalf("DumpAll: %v", err)
	}
	return out
}

var eraseTests = []crmTest{
	{"LeavesNoTrace", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		secrets := []string{"wmSecretExt7", "oSecretOpenID7", "uSecretUnion7", "13712345678", "秘密客户名字", "我的身份证号是机密甲",
			"下周三机密回访乙", "机密备注丙", "机密公司丁", "机密分析摘要戊", "机密提醒己", "secret-payload-7", "机密来电庚"}
		const (
			extV, openV, unionV, phoneV, name, msg1, msg2, remark, company, summary, remText, payload, eventText = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
		)
		// A neighbour with the same kinds of records, which must survive.
		keep := upsert(t, s, store.CustomerUpsert{Identity: ext("wmKeep"), Name: "保留客户", Follow: &store.Follow{StaffID: "s1", AddedAt: base},
			AddTags: []string{"vip"}, CustomerAt: base, Now: base})
		c := upsert(t, s, store.CustomerUpsert{Identity: ext(secrets[extV]), Link: []store.Identity{union(secrets[unionV])},
			Name: secrets[name], Avatar: "https://example.com/secret.png", Now: base})
		c = upsert(t, s, store.CustomerUpsert{Identity: openid(secrets[openV]), Link: []store.Identity{union(secrets[unionV])},
			Follow: &store.Follow{StaffID: "s1", Remark: secrets[remark], State: "secret-state", AddedAt: base}, AddTags: []string{"vip", "机密标签"},
			CustomerAt: base.Add(time.Minute), Now: base.Add(time.Minute)})
		c = update(t, s, c.ID, store.CustomerUpdate{Fields: map[string]string{"公司": secrets[company]}, AddIdentities: []store.Identity{phone(secrets[phoneV])},
			Insight: &store.Insight{Summary: secrets[summary], AnalyzedAt: base}, Now: base.Add(time.Minute)})
		// A customer merged into it earlier: its merge record must go too.
		dup := upsert(t, s, store.CustomerUpsert{Identity: ext("wmSecretDup7"), Now: base.Add(time.Hour)})
		if _, err := s.MergeCustomers(ctx, c.ID, dup.ID); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, "wmSecretDup7", c.ID)
		for i, text := range []string{secrets[msg1], secrets[msg2]} {
			e := newEntry(c.ID, i)
			e.Text, e.Attrs = text, map[string]string{"quote": text}
			if _, err := s.AppendTimeline(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.AppendTimeline(ctx, newEntry(keep.ID, 1)); err != nil {
			t.Fatal(err)
		}
		for i, r := range []*store.Reminder{
			{Key: "promise:secret:1", CustomerID: c.ID, StaffID: "s1", Kind: store.ReminderPromise, Text: secrets[remText], DueAt: base},
			{Key: "promise:keep:1", CustomerID: keep.ID, StaffID: "s1", Kind: store.ReminderPromise, Text: "保留提醒", DueAt: base},
		} {
			if _, err := s.CreateReminder(ctx, r); err != nil {
				t.Fatalf("reminder %d: %v", i, err)
			}
		}
		// A reminder that was claimed, so lease records exist.
		if got, err := s.ClaimDueReminders(ctx, "w1", base, time.Minute, 10); err != nil || len(got) != 2 {
			t.Fatalf("ClaimDueReminders = %d, %v", len(got), err)
		}
		for _, key := range []string{"analyze:" + c.ID, "digest:" + c.ID + ":weekly", c.ID} {
			if err := s.ScheduleJob(ctx, key, "analyze", secrets[payload], base); err != nil {
				t.Fatal(err)
			}
		}
		// Keys that merely contain the ID's characters are not about it.
		if err := s.ScheduleJob(ctx, "analyze:"+keep.ID, "analyze", "keep", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if jobs, err := s.ClaimJobs(ctx, "analyze", "w1", base, time.Minute, 1); err != nil || len(jobs) != 1 {
			t.Fatalf("ClaimJobs = %d, %v", len(jobs), err)
		}
		if err := s.SetCursor(ctx, "analysis:"+c.ID, "12"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCursor(ctx, "bot-reply:wecom:evt:sys:1:"+secrets[extV]+":x", "done"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCursor(ctx, "kf/wk1", "keep-cursor"); err != nil {
			t.Fatal(err)
		}
		// The handover and inbox state of the customer (and of the
		// neighbour, which stays).
		for _, cid := range []string{c.ID, keep.ID} {
			mustNil(t, s.PutHandover(ctx, &store.Handover{ID: "h-" + cid, CustomerID: cid, From: "zhangsan", To: "lisi", StartedAt: base}))
			mustNil(t, s.PutInboxOffer(ctx, &store.InboxOffer{CustomerID: cid, Round: 1, To: []string{"lisi"}, At: base}))
			mustNil(t, s.SetClaimWinner(ctx, cid, 1, "lisi"))
		}
		mustNil(t, s.SetKFAccount(ctx, secrets[extV], "wk1"))
		mustNil(t, s.SetKFAccount(ctx, "wm-keep", "wk1"))
		// Where the customer came from is about them too (PIPL): the
		// channel's own events for other customers stay.
		for _, ce := range []store.ChannelEvent{
			{Key: "add:" + secrets[extV], ChannelID: "ch1", Kind: "add", CustomerID: c.ID, StaffID: "zhangsan", At: base},
			{Key: "add:wmKeep", ChannelID: "ch1", Kind: "add", CustomerID: keep.ID, StaffID: "zhangsan", At: base},
		} {
			if _, err := s.RecordChannelEvent(ctx, ce); err != nil {
				t.Fatal(err)
			}
		}
		// So is a mass message sent to them: the task's recipient list
		// loses them, the neighbour stays on it.
		if err := s.PutCampaignSends(ctx, []store.CampaignSend{
			{CampaignID: "cp1", CustomerID: c.ID, ExternalUserID: secrets[extV], Sender: "s1", Status: store.SendPending, At: base},
			{CampaignID: "cp1", CustomerID: keep.ID, ExternalUserID: "wmKeep", Sender: "s1", Status: store.SendPending, At: base},
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCampaignTask(ctx, &store.CampaignTask{CampaignID: "cp1", Sender: "s1",
			ExternalUserIDs: []string{secrets[extV], "wmKeep"}, FailList: []string{secrets[extV]}, State: "created"}); err != nil {
			t.Fatal(err)
		}
		// A per-customer task's text carries the customer's name.
		if err := s.PutCampaignTask(ctx, &store.CampaignTask{CampaignID: "cp1", Sender: "s1", Chunk: 1,
			ExternalUserIDs: []string{secrets[extV]}, Text: secrets[name] + "，您好", State: "created"}); err != nil {
			t.Fatal(err)
		}
		// Markers are named after events and pushes, which may hold an
		// identity value or the customer's ID.
		mustNil(t, s.SetMarker(ctx, store.MarkBotReply, "wecom:evt:sys:1:"+secrets[extV]+":y", "1", base))
		mustNil(t, s.SetMarker(ctx, store.MarkInboxReply, "s1:"+c.ID+":9f", "1", base))
		mustNil(t, s.SetMarker(ctx, store.MarkBotReply, "msg:wecom:keep-1", "keep-marker", base))
		evs := []*store.Event{
			newEvent("wecom:evt:sys:1:change_external_contact:add_external_contact:s1:"+secrets[extV], 1),
			newEvent("msg:oa:secret-1", 2),
			newEvent("msg:oa:secret-2", 3),
			newEvent("msg:wecom:keep-1", 4),
		}
		evs[0].CustomerID, evs[0].Text = secrets[extV], ""
		evs[0].Attrs = map[string]string{"ExternalUserID": secrets[extV], "Name": secrets[name]}
		evs[0].Raw = []byte("<xml><ExternalUserID>" + secrets[extV] + "</ExternalUserID></xml>")
		evs[1].Channel, evs[1].FromID, evs[1].StaffID, evs[1].CustomerID, evs[1].Text = store.ChannelOA, secrets[openV], "", secrets[openV], secrets[eventText]
		evs[1].Raw = []byte("<xml><FromUserName>" + secrets[openV] + "</FromUserName><Content>" + secrets[eventText] + "</Content></xml>")
		evs[2].Channel, evs[2].FromID, evs[2].CustomerID, evs[2].Text = store.ChannelOA, secrets[openV], secrets[openV], secrets[msg1]
		evs[3].CustomerID, evs[3].Text = "wmKeep", "保留消息"
		appendEvents(t, s, evs...)
		// Events 1-2 are processed, 3 is pending: after the erase it must
		// not come back to the pipeline.
		claimed, err := s.ClaimEvents(ctx, "p", 2, base, time.Minute)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("ClaimEvents = %d, %v", len(claimed), err)
		}
		for _, e := range claimed {
			if err := s.CompleteEvent(ctx, e.ID, "p", base); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AppendAudit(ctx, &store.AuditEntry{Actor: "admin", Action: "erase", Target: c.ID, At: base}); err != nil {
			t.Fatal(err)
		}

		before := dump(t, s)
		for _, v := range secrets {
			if !strings.Contains(before, v) {
				t.Fatalf("the dump lacks %q before the erase; the test would prove nothing", v)
			}
		}
		if err := s.EraseCustomer(ctx, c.ID); err != nil {
			t.Fatalf("EraseCustomer: %v", err)
		}
		after := dump(t, s)
		for _, line := range strings.Split(after, "\n") {
			for _, v := range secrets {
				if !strings.Contains(line, v) {
					continue
				}
				// The audit log keeps the customer's ID: it is not personal data.
				if v == c.ID && strings.Contains(line, "erase") && strings.Contains(line, "admin") {
					continue
				}
				t.Errorf("after the erase %q is still stored: %s", v, line)
			}
		}

		if tasks, err := s.FindCampaignTasks(ctx, "cp1"); err != nil || len(tasks) != 2 || !slices.Equal(tasks[0].ExternalUserIDs, []string{"wmKeep"}) || len(tasks[0].FailList) != 0 ||
			len(tasks[1].ExternalUserIDs) != 0 || tasks[1].Text != "" {
			t.Errorf("campaign tasks after the erase = %+v, %v; want only wmKeep left, and the per-customer task without its text", tasks, err)
		}
		// The API agrees, and the neighbour is intact.
		if _, err := s.FindCustomerByID(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindCustomerByID after erase = %v", err)
		}
		for _, id := range []store.Identity{ext(secrets[extV]), openid(secrets[openV]), union(secrets[unionV]), phone(secrets[phoneV])} {
			if _, err := s.FindCustomerByIdentity(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindCustomerByIdentity(%v) after erase = %v", id, err)
			}
		}
		if err := s.EraseCustomer(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second EraseCustomer = %v, want ErrNotFound", err)
		}
		if _, err := s.AppendTimeline(ctx, newEntry(dup.ID, 5)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendTimeline for a customer merged into the erased one = %v, want ErrNotFound", err)
		}
		k := byID(t, s, keep.ID)
		if k.Name != "保留客户" || len(k.Follows) != 1 || !slices.Equal(k.Tags, []string{"vip"}) {
			t.Errorf("neighbour changed: %+v", k)
		}
		if tl, err := s.FindTimeline(ctx, keep.ID, 0, 0); err != nil || len(tl) != 1 {
			t.Errorf("neighbour timeline = %d, %v", len(tl), err)
		}
		if rs, err := s.FindReminders(ctx, store.ReminderFilter{}); err != nil || len(rs) != 1 || rs[0].CustomerID != keep.ID {
			t.Errorf("reminders after erase = %v, %v; want the neighbour's", rs, err)
		}
		if n, err := s.CountJobs(ctx, ""); err != nil || n != 1 {
			t.Errorf("CountJobs after erase = %d, %v; want the neighbour's 1", n, err)
		}
		if v, err := s.GetCursor(ctx, "kf/wk1"); err != nil || v != "keep-cursor" {
			t.Errorf("unrelated cursor = %q, %v", v, err)
		}
		for _, cid := range []string{c.ID, keep.ID} {
			wantKept := cid == keep.ID
			_, herr := s.FindHandover(ctx, cid, "zhangsan")
			_, oerr := s.FindInboxOffer(ctx, cid)
			winner, werr := s.ClaimWinner(ctx, cid, 1)
			if werr != nil || (herr == nil) != wantKept || (oerr == nil) != wantKept || (winner != "") != wantKept {
				t.Errorf("state of %s after the erase: handover %v, offer %v, claim %q %v; want kept %v", cid, herr, oerr, winner, werr, wantKept)
			}
		}
		if v, err := s.KFAccount(ctx, secrets[extV]); err != nil || v != "" {
			t.Errorf("kf account of the erased customer = %q, %v; want it gone", v, err)
		}
		if v, err := s.KFAccount(ctx, "wm-keep"); err != nil || v != "wk1" {
			t.Errorf("unrelated kf account = %q, %v", v, err)
		}
		if v, err := s.GetMarker(ctx, store.MarkBotReply, "msg:wecom:keep-1"); err != nil || v != "keep-marker" {
			t.Errorf("unrelated marker = %q, %v", v, err)
		}
		if v, err := s.GetMarker(ctx, store.MarkInboxReply, "s1:"+c.ID+":9f"); err != nil || v != "" {
			t.Errorf("marker naming the erased customer = %q, %v; want it gone", v, err)
		}
		all := allEvents(t, s)
		if len(all) != 4 {
			t.Fatalf("events after erase = %d, want 4 (redacted, not deleted)", len(all))
		}
		for _, e := range all[:3] {
			if e.Text != "" || len(e.Raw) != 0 || len(e.Attrs) != 0 || e.CustomerID != "" || e.ProcessedAt == nil {
				t.Errorf("event %d not redacted: %+v", e.ID, e)
			}
		}
		checkEvent(t, all[3], evs[3])
		if got, err := s.ClaimEvents(ctx, "p", 10, base.Add(time.Hour), time.Minute); err != nil || len(got) != 1 || got[0].ID != evs[3].ID {
			t.Errorf("ClaimEvents after erase = %v, %v; want only the neighbour's event", got, err)
		}
		if au, err := s.FindAudit(ctx, c.ID, 0, 0); err != nil || len(au) != 1 {
			t.Errorf("audit after erase = %v, %v", au, err)
		}
		st, err := s.Stats(ctx)
		if want := (store.Stats{Events: 4, Messages: 1, Customers: 1}); err != nil || st != want {
			t.Errorf("Stats = %+v, %v; want %+v", st, err, want)
		}
	}},
	{"Missing", func(t *testing.T, s store.Store, cfg Config) {
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmEM"), Now: base})
		for _, id := range []string{"", lookalike(c.ID), "no-such-customer"} {
			if err := s.EraseCustomer(ctxFor(t), id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("EraseCustomer(%q) = %v, want ErrNotFound", id, err)
			}
		}
		byID(t, s, c.ID)
	}},
}

var directoryTests = []crmTest{
	{"Staff", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		if list, err := s.FindStaff(ctx); err != nil || len(list) != 0 {
			t.Fatalf("FindStaff on an empty store = %v, %v", list, err)
		}
		in := []*store.Staff{
			{ID: "zhangsan", Name: "张三", Role: "sales", Departments: []int64{1, 2}, Active: true},
			{ID: "boss", Name: "老板", Role: "manager", Team: []string{"zhangsan", "lisi"}, Active: true},
			{ID: "lisi", Name: "李四", Role: "sales"},
		}
		for _, st := range in {
			if err := s.UpsertStaff(ctx, st); err != nil {
				t.Fatalf("UpsertStaff(%s): %v", st.ID, err)
			}
		}
		// Replacing drops what the new record lacks.
		in[0] = &store.Staff{ID: "zhangsan", Name: "张三丰", Role: "admin", Active: true}
		if err := s.UpsertStaff(ctx, in[0]); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindStaff(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []*store.Staff{in[1], in[2], in[0]}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("FindStaff = %s, want %s", fmtStaff(got), fmtStaff(want))
		}
		one, err := s.FindStaffByID(ctx, "boss")
		if err != nil || !reflect.DeepEqual(one, in[1]) {
			t.Errorf("FindStaffByID = %+v, %v", one, err)
		}
		if _, err := s.FindStaffByID(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindStaffByID(nobody) = %v, want ErrNotFound", err)
		}
		if err := s.UpsertStaff(ctx, &store.Staff{Name: "无名"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("UpsertStaff without ID = %v, want ErrInvalid", err)
		}
	}},
	{"Tags", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		tags := []store.Tag{
			{ID: "et1", Name: "高意向", GroupID: "g1", GroupName: "意向", Order: 1},
			{ID: "et2", Name: "中意向", GroupID: "g1", GroupName: "意向", Order: 5},
			{ID: "et3", Name: "上海", GroupID: "g0", GroupName: "地区", Order: 0},
			{ID: "local:价格敏感", Name: "价格敏感", Local: true},
			{ID: "et4", Name: "低意向", GroupID: "g1", GroupName: "意向", Order: 1},
		}
		if err := s.UpsertTags(ctx, tags); err != nil {
			t.Fatal(err)
		}
		ids := func() []string {
			got, err := s.FindTags(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, tg := range got {
				out = append(out, tg.ID)
			}
			return out
		}
		if got, want := ids(), []string{"local:价格敏感", "et3", "et2", "et1", "et4"}; !slices.Equal(got, want) {
			t.Fatalf("FindTags = %v, want %v", got, want)
		}
		if err := s.DeleteTags(ctx, []string{"et2", "unknown"}); err != nil {
			t.Fatal(err)
		}
		if got, want := ids(), []string{"local:价格敏感", "et3", "et1", "et4"}; !slices.Equal(got, want) {
			t.Fatalf("after delete = %v, want %v", got, want)
		}
		// Upserting a deleted tag brings it back, replaced.
		if err := s.UpsertTags(ctx, []store.Tag{{ID: "et2", Name: "意向中等", GroupID: "g1", GroupName: "意向", Order: 9}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindTags(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := store.Tag{ID: "et2", Name: "意向中等", GroupID: "g1", GroupName: "意向", Order: 9}
		if i := slices.IndexFunc(got, func(tg store.Tag) bool { return tg.ID == "et2" }); i < 0 || got[i] != want {
			t.Errorf("re-upserted tag = %v, want %+v", got, want)
		}
		if err := s.UpsertTags(ctx, []store.Tag{{ID: "x"}}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("UpsertTags without name = %v, want ErrInvalid", err)
		}
	}},
	{"Audit", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		var all []*store.AuditEntry
		for i := range 7 {
			e := &store.AuditEntry{Actor: "admin", Action: "read_timeline", Target: []string{"c1", "c2"}[i%2],
				Detail: fmt.Sprintf("第%d次", i), At: base.Add(time.Duration(i) * time.Minute).In(cst)}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
			if i > 0 && e.ID <= all[i-1].ID {
				t.Fatalf("audit IDs not increasing: %d after %d", e.ID, all[i-1].ID)
			}
			all = append(all, e)
		}
		page, err := s.FindAudit(ctx, "c1", 0, 2)
		if err != nil || len(page) != 2 || page[0].ID != all[6].ID || page[1].ID != all[4].ID {
			t.Fatalf("first page = %v, %v", page, err)
		}
		got := page[0]
		if got.Actor != "admin" || got.Action != "read_timeline" || got.Target != "c1" || got.Detail != "第6次" {
			t.Errorf("entry = %+v", got)
		}
		checkUTC(t, "At", got.At, all[6].At)
		page, err = s.FindAudit(ctx, "c1", page[1].ID, 0)
		if err != nil || len(page) != 2 || page[0].ID != all[2].ID || page[1].ID != all[0].ID {
			t.Fatalf("second page = %v, %v", page, err)
		}
		if every, err := s.FindAudit(ctx, "", 0, 0); err != nil || len(every) != 7 || every[0].ID != all[6].ID {
			t.Errorf("FindAudit(all) = %d, %v", len(every), err)
		}
		if err := s.AppendAudit(ctx, &store.AuditEntry{Action: "x"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AppendAudit without actor = %v, want ErrInvalid", err)
		}
		// By action and time: the opt-outs in a window, oldest first.
		for i, target := range []string{"c1", "c2", "c3"} {
			if err := s.AppendAudit(ctx, &store.AuditEntry{Actor: "system", Action: "opt_out", Target: target,
				At: base.Add(time.Duration(2-i) * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		byAction, err := s.FindAuditByAction(ctx, "opt_out", base, base.Add(2*time.Hour), 0)
		if err != nil || len(byAction) != 2 || byAction[0].Target != "c3" || byAction[1].Target != "c2" {
			t.Fatalf("FindAuditByAction = %v, %v; want c3 then c2 (c1's is at the window's end)", byAction, err)
		}
		checkUTC(t, "At", byAction[1].At, base.Add(time.Hour))
		if one, err := s.FindAuditByAction(ctx, "opt_out", base, base.Add(3*time.Hour), 1); err != nil || len(one) != 1 || one[0].Target != "c3" {
			t.Errorf("FindAuditByAction limit 1 = %v, %v", one, err)
		}
	}},
}

func fmtStaff(l []*store.Staff) string {
	var b strings.Builder
	for _, s := range l {
		fmt.Fprintf(&b, "%+v ", *s)
	}
	return b.String()
}

func newReminder(key string, due time.Time) *store.Reminder {
	return &store.Reminder{Key: key, StaffID: "s1", Kind: store.ReminderPromise, Text: "回访 " + key, DueAt: due, CreatedAt: base}
}

func createReminder(t *testing.T, s store.Store, r *store.Reminder) {
	t.Helper()
	ok, err := s.CreateReminder(ctxFor(t), r)
	if err != nil || !ok || r.ID <= 0 {
		t.Fatalf("CreateReminder(%s) = %v, %v, ID %d", r.Key, ok, err, r.ID)
	}
}

func reminderIDs(l []*store.Reminder) []int64 {
	var out []int64
	for _, r := range l {
		out = append(out, r.ID)
	}
	return out
}

var reminderTests = []crmTest{
	{"CreateAndFind", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmR"), Now: base})
		r := &store.Reminder{Key: "promise:e1:0", CustomerID: c.ID, StaffID: "s1", Kind: store.ReminderPromise, Text: "周三联系",
			DueAt: base.Add(48 * time.Hour).In(cst), CreatedAt: base}
		createReminder(t, s, r)
		got, err := s.FindReminderByID(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != r.ID || got.Key != r.Key || got.CustomerID != c.ID || got.StaffID != "s1" || got.Kind != store.ReminderPromise ||
			got.Text != "周三联系" || got.Status != store.ReminderPending || got.SentAt != nil || got.DoneAt != nil || got.Attempts != 0 {
			t.Errorf("reminder = %+v", got)
		}
		checkUTC(t, "DueAt", got.DueAt, r.DueAt)
		checkUTC(t, "CreatedAt", got.CreatedAt, base)
		checkUTC(t, "UpdatedAt", got.UpdatedAt, base)
		// The same key again returns the existing reminder.
		again := &store.Reminder{Key: "promise:e1:0", StaffID: "s2", Kind: store.ReminderManual, DueAt: base}
		if ok, err := s.CreateReminder(ctx, again); err != nil || ok || again.ID != r.ID {
			t.Errorf("second CreateReminder = %v, %v, ID %d; want false, nil, %d", ok, err, again.ID, r.ID)
		}
		// Without a key there is no deduplication, and no customer is needed.
		for range 2 {
			createReminder(t, s, &store.Reminder{StaffID: "s2", Kind: store.ReminderManual, Text: "整理周报", DueAt: base})
		}
		if _, err := s.FindReminderByID(ctx, r.ID+1000); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindReminderByID(missing) = %v", err)
		}
		tests := []struct {
			name string
			r    *store.Reminder
			want error
		}{
			{"NoCustomer", &store.Reminder{Key: "x1", CustomerID: lookalike(c.ID), StaffID: "s1", Kind: store.ReminderManual, DueAt: base}, store.ErrNotFound},
			{"NoStaff", &store.Reminder{Key: "x2", Kind: store.ReminderManual, DueAt: base}, store.ErrInvalid},
			{"NoKind", &store.Reminder{Key: "x3", StaffID: "s1", DueAt: base}, store.ErrInvalid},
			{"NoDue", &store.Reminder{Key: "x4", StaffID: "s1", Kind: store.ReminderManual}, store.ErrInvalid},
			{"BadStatus", &store.Reminder{Key: "x5", StaffID: "s1", Kind: store.ReminderManual, DueAt: base, Status: "later"}, store.ErrInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.CreateReminder(ctx, tc.r); !errors.Is(err, tc.want) {
					t.Errorf("error = %v, want %v", err, tc.want)
				}
			})
		}
	}},
	{"FindFiltersAndOrder", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmRF"), Now: base})
		var rs []*store.Reminder
		for i := range 6 {
			r := newReminder(fmt.Sprintf("k%d", i), base.Add(time.Duration(6-i)*time.Hour))
			if i%2 == 0 {
				r.StaffID = "s2"
			}
			if i < 3 {
				r.CustomerID = c.ID
			}
			if i == 5 {
				r.Status = store.ReminderDone
			}
			createReminder(t, s, r)
			rs = append(rs, r)
		}
		ids := func(idx ...int) []int64 {
			var out []int64
			for _, i := range idx {
				out = append(out, rs[i].ID)
			}
			return out
		}
		tests := []struct {
			name string
			f    store.ReminderFilter
			want []int64
		}{
			{"AllByDue", store.ReminderFilter{}, ids(5, 4, 3, 2, 1, 0)},
			{"Staff", store.ReminderFilter{StaffID: "s2"}, ids(4, 2, 0)},
			{"Customer", store.ReminderFilter{CustomerID: c.ID}, ids(2, 1, 0)},
			{"Statuses", store.ReminderFilter{Statuses: []string{store.ReminderPending, store.ReminderSent}}, ids(4, 3, 2, 1, 0)},
			{"DueBeforeIsStrict", store.ReminderFilter{DueBefore: base.Add(3 * time.Hour)}, ids(5, 4)},
			{"Limit", store.ReminderFilter{Limit: 2}, ids(5, 4)},
			{"UnknownCustomer", store.ReminderFilter{CustomerID: lookalike(c.ID)}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.FindReminders(ctx, tc.f)
				if err != nil || !slices.Equal(reminderIDs(got), tc.want) {
					t.Errorf("FindReminders = %v, %v; want %v", reminderIDs(got), err, tc.want)
				}
			})
		}
	}},
	{"ConcurrentCreatesOfOneKey", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		const workers = 8
		ids := make([]int64, workers)
		created := make([]bool, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := newReminder("promise:race", base)
				created[w], errs[w] = s.CreateReminder(ctx, r)
				ids[w] = r.ID
			}()
		}
		wg.Wait()
		n := 0
		for w := range workers {
			if errs[w] != nil {
				t.Fatalf("worker %d: %v", w, errs[w])
			}
			if created[w] {
				n++
			}
			if ids[w] != ids[0] || ids[w] <= 0 {
				t.Fatalf("IDs = %v, want one", ids)
			}
		}
		if n != 1 {
			t.Errorf("%d creates reported success, want 1", n)
		}
		if all, err := s.FindReminders(ctx, store.ReminderFilter{}); err != nil || len(all) != 1 {
			t.Errorf("reminders = %d, %v; want 1", len(all), err)
		}
	}},
	{"Lifecycle", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		due := newReminder("due", base)
		later := newReminder("later", base.Add(5*time.Minute))
		done := newReminder("done", base)
		done.Status = store.ReminderDone
		for _, r := range []*store.Reminder{due, later, done} {
			createReminder(t, s, r)
		}
		claim := func(owner string, now time.Time) []*store.Reminder {
			t.Helper()
			got, err := s.ClaimDueReminders(ctx, owner, now, time.Minute, 10)
			if err != nil {
				t.Fatalf("ClaimDueReminders(%s): %v", owner, err)
			}
			return got
		}
		got := claim("a", base)
		if !slices.Equal(reminderIDs(got), []int64{due.ID}) || got[0].Attempts != 1 {
			t.Fatalf("claim = %+v, want only the due reminder, attempt 1", got)
		}
		if got := claim("b", base.Add(30*time.Second)); len(got) != 0 {
			t.Fatalf("claim during a live lease = %v", reminderIDs(got))
		}
		// The lease expires: b takes over and a's mark is refused.
		got = claim("b", base.Add(time.Minute))
		if !slices.Equal(reminderIDs(got), []int64{due.ID}) || got[0].Attempts != 2 {
			t.Fatalf("claim after expiry = %+v", got)
		}
		if err := s.MarkReminderSent(ctx, due.ID, "a", base.Add(time.Minute)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("MarkReminderSent by the old owner = %v, want ErrConflict", err)
		}
		// b fails to push and releases until 10 minutes later.
		if err := s.ReleaseReminder(ctx, due.ID, "a", base); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("ReleaseReminder by a non-owner = %v, want ErrConflict", err)
		}
		if err := s.ReleaseReminder(ctx, due.ID, "b", base.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := claim("c", base.Add(9*time.Minute)); !slices.Equal(reminderIDs(got), []int64{later.ID}) {
			t.Fatalf("claim before the retry time = %v, want only the later one", reminderIDs(got))
		}
		if err := s.MarkReminderSent(ctx, later.ID, "c", base.Add(9*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got = claim("c", base.Add(10*time.Minute))
		if !slices.Equal(reminderIDs(got), []int64{due.ID}) {
			t.Fatalf("claim at the retry time = %v", reminderIDs(got))
		}
		sentAt := base.Add(11 * time.Minute)
		if err := s.MarkReminderSent(ctx, due.ID, "c", sentAt); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkReminderSent(ctx, due.ID, "c", sentAt); err != nil {
			t.Errorf("repeated MarkReminderSent by the owner = %v", err)
		}
		if err := s.MarkReminderSent(ctx, later.ID, "zz", sentAt); !errors.Is(err, store.ErrConflict) {
			t.Errorf("MarkReminderSent by a non-owner = %v, want ErrConflict", err)
		}
		if err := s.MarkReminderSent(ctx, due.ID+1000, "c", sentAt); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkReminderSent(missing) = %v, want ErrNotFound", err)
		}
		r, err := s.FindReminderByID(ctx, due.ID)
		if err != nil || r.Status != store.ReminderSent {
			t.Fatalf("after MarkReminderSent = %+v, %v", r, err)
		}
		checkUTCPtr(t, "SentAt", r.SentAt, &sentAt)
		if got := claim("d", base.Add(time.Hour)); len(got) != 0 {
			t.Fatalf("a sent reminder was claimed again: %v", reminderIDs(got))
		}
		// Postponing re-arms it: pending again at the new time.
		r, err = s.UpdateReminder(ctx, due.ID, store.ReminderUpdate{Status: ptr(store.ReminderPending), DueAt: ptr(base.Add(2 * time.Hour)),
			Text: ptr("改到下午"), Now: base.Add(time.Hour)})
		if err != nil || r.Status != store.ReminderPending || r.SentAt != nil || r.Text != "改到下午" {
			t.Fatalf("postponed = %+v, %v", r, err)
		}
		checkUTC(t, "DueAt", r.DueAt, base.Add(2*time.Hour))
		checkUTC(t, "UpdatedAt", r.UpdatedAt, base.Add(time.Hour))
		if got := claim("e", base.Add(time.Hour+59*time.Minute)); len(got) != 0 {
			t.Fatalf("claim before the new time = %v", reminderIDs(got))
		}
		got = claim("e", base.Add(2*time.Hour))
		if !slices.Equal(reminderIDs(got), []int64{due.ID}) {
			t.Fatalf("claim at the new time = %v", reminderIDs(got))
		}
		// An edit while the push is in flight makes the push's mark fail.
		if _, err := s.UpdateReminder(ctx, due.ID, store.ReminderUpdate{DueAt: ptr(base.Add(3 * time.Hour)), Now: base.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkReminderSent(ctx, due.ID, "e", base.Add(2*time.Hour)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("MarkReminderSent after a re-arm = %v, want ErrConflict", err)
		}
		// Done records DoneAt and is never claimed; cancelled neither.
		r, err = s.UpdateReminder(ctx, due.ID, store.ReminderUpdate{Status: ptr(store.ReminderDone), Now: base.Add(3 * time.Hour)})
		if err != nil || r.Status != store.ReminderDone {
			t.Fatalf("done = %+v, %v", r, err)
		}
		checkUTCPtr(t, "DoneAt", r.DoneAt, ptr(base.Add(3*time.Hour)))
		if _, err := s.UpdateReminder(ctx, later.ID, store.ReminderUpdate{Status: ptr(store.ReminderCancelled), Now: base}); err != nil {
			t.Fatal(err)
		}
		if got := claim("f", base.Add(24*time.Hour)); len(got) != 0 {
			t.Fatalf("claim of done/cancelled reminders = %v", reminderIDs(got))
		}
		if _, err := s.UpdateReminder(ctx, due.ID, store.ReminderUpdate{Status: ptr("later")}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("UpdateReminder(bad status) = %v, want ErrInvalid", err)
		}
		if _, err := s.UpdateReminder(ctx, due.ID+1000, store.ReminderUpdate{Text: ptr("x")}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateReminder(missing) = %v, want ErrNotFound", err)
		}
		if err := s.ReleaseReminder(ctx, due.ID+1000, "x", base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReleaseReminder(missing) = %v, want ErrNotFound", err)
		}
	}},
	{"ClaimLimit", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		var all []int64
		for i := range 5 {
			r := newReminder(fmt.Sprintf("o%d", i), base.Add(time.Duration(5-i)*time.Minute))
			createReminder(t, s, r)
			all = append(all, r.ID)
		}
		createReminder(t, s, newReminder("future", base.Add(2*time.Hour)))
		first, err := s.ClaimDueReminders(ctx, "a", base.Add(time.Hour), time.Minute, 3)
		if err != nil || len(first) != 3 {
			t.Fatalf("first claim = %v, %v; want 3", reminderIDs(first), err)
		}
		for i := 1; i < len(first); i++ {
			if first[i].DueAt.Before(first[i-1].DueAt) {
				t.Errorf("claimed reminders not in due order: %v", reminderIDs(first))
			}
		}
		rest, err := s.ClaimDueReminders(ctx, "b", base.Add(time.Hour), time.Minute, 3)
		if err != nil || len(rest) != 2 {
			t.Fatalf("second claim = %v, %v; want the other 2", reminderIDs(rest), err)
		}
		got := append(reminderIDs(first), reminderIDs(rest)...)
		slices.Sort(got)
		if !slices.Equal(got, all) {
			t.Errorf("claimed %v, want each due reminder once: %v", got, all)
		}
	}},
	{"ConcurrentClaimersSendEachOnce", func(t *testing.T, s store.Store, cfg Config) {
		const workers = 8
		n := cfg.dueReminders()
		ctx := ctxFor(t)
		start := time.Now()
		for i := range n {
			createReminder(t, s, newReminder(fmt.Sprintf("c%03d", i), base.Add(time.Duration(i%50)*time.Second)))
		}
		t.Logf("created %d reminders in %v", n, time.Since(start))
		start = time.Now()
		defer func() { t.Logf("claimed and sent in %v", time.Since(start)) }()
		now := base.Add(time.Hour)
		var (
			mu        sync.Mutex
			sent      = map[int64]int{}
			holder    = map[int64]string{}
			failures  []string
			wg        sync.WaitGroup
			claimsLog = map[string]int{}
		)
		fail := func(f string, args ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(f, args...))
			mu.Unlock()
		}
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("w%d", w)
				for empty := 0; empty < 3; {
					got, err := s.ClaimDueReminders(ctx, owner, now, time.Hour, 10)
					if err != nil {
						fail("%s claim: %v", owner, err)
						return
					}
					if len(got) == 0 {
						empty++
						continue
					}
					empty = 0
					mu.Lock()
					claimsLog[owner] += len(got)
					for _, r := range got {
						if prev, ok := holder[r.ID]; ok {
							failures = append(failures, fmt.Sprintf("reminder %d held by %s and %s", r.ID, prev, owner))
						}
						holder[r.ID] = owner
					}
					mu.Unlock()
					for _, r := range got {
						if err := s.MarkReminderSent(ctx, r.ID, owner, now); err != nil {
							fail("%s mark %d: %v", owner, r.ID, err)
							continue
						}
						mu.Lock()
						sent[r.ID]++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		for _, f := range failures {
			t.Error(f)
		}
		all, err := s.FindReminders(ctx, store.ReminderFilter{Limit: 1000})
		if err != nil || len(all) != n {
			t.Fatalf("FindReminders = %d, %v", len(all), err)
		}
		for _, r := range all {
			if sent[r.ID] != 1 || r.Status != store.ReminderSent {
				t.Errorf("reminder %d sent %d times, status %s; want once, sent", r.ID, sent[r.ID], r.Status)
			}
		}
		t.Logf("claims per owner: %v", claimsLog)
	}},
}

func claimJobs(t *testing.T, s store.Store, kind, owner string, now time.Time) []*store.Job {
	t.Helper()
	got, err := s.ClaimJobs(ctxFor(t), kind, owner, now, time.Minute, 10)
	if err != nil {
		t.Fatalf("ClaimJobs(%s, %s): %v", kind, owner, err)
	}
	return got
}

func jobKeys(l []*store.Job) []string {
	var out []string
	for _, j := range l {
		out = append(out, j.Key)
	}
	return out
}

func countJobs(t *testing.T, s store.Store, kind string) int64 {
	t.Helper()
	n, err := s.CountJobs(ctxFor(t), kind)
	if err != nil {
		t.Fatalf("CountJobs: %v", err)
	}
	return n
}

var jobTests = []crmTest{
	{"ScheduleDebouncesAndClaimsByKind", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		mustNil(t, s.ScheduleJob(ctx, "analyze:c1", "analyze", "p1", base.Add(time.Minute)))
		mustNil(t, s.ScheduleJob(ctx, "digest:s1", "digest", "d", base))
		// Each new message postpones the analysis.
		mustNil(t, s.ScheduleJob(ctx, "analyze:c1", "analyze", "p2", base.Add(3*time.Minute)))
		mustNil(t, s.ScheduleJob(ctx, "analyze:c2", "analyze", "q", base.Add(3*time.Minute-time.Second)))
		if n := countJobs(t, s, ""); n != 3 {
			t.Errorf("CountJobs(all) = %d, want 3", n)
		}
		if n := countJobs(t, s, "analyze"); n != 2 {
			t.Errorf("CountJobs(analyze) = %d, want 2", n)
		}
		if got := claimJobs(t, s, "analyze", "a", base.Add(2*time.Minute+58*time.Second)); len(got) != 0 {
			t.Fatalf("claim before due = %v", jobKeys(got))
		}
		got := claimJobs(t, s, "analyze", "a", base.Add(3*time.Minute))
		if !slices.Equal(jobKeys(got), []string{"analyze:c2", "analyze:c1"}) {
			t.Fatalf("claim = %v, want c2 then c1 (due order)", jobKeys(got))
		}
		j := got[1]
		if j.Kind != "analyze" || j.Payload != "p2" || j.Version != 2 || j.Attempts != 1 || j.LastError != "" {
			t.Errorf("job = %+v, want payload p2, version 2, attempt 1", j)
		}
		checkUTC(t, "DueAt", j.DueAt, base.Add(3*time.Minute))
		if got[0].Version != 1 {
			t.Errorf("c2 version = %d, want 1", got[0].Version)
		}
		if got := claimJobs(t, s, "digest", "a", base.Add(time.Hour)); !slices.Equal(jobKeys(got), []string{"digest:s1"}) {
			t.Errorf("digest claim = %v", jobKeys(got))
		}
		if err := s.ScheduleJob(ctx, "", "x", "", base); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ScheduleJob without key = %v, want ErrInvalid", err)
		}
		if err := s.ScheduleJob(ctx, "k", "", "", base); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ScheduleJob without kind = %v, want ErrInvalid", err)
		}
	}},
	{"CompleteAndLeases", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		mustNil(t, s.ScheduleJob(ctx, "analyze:c1", "analyze", "p", base))
		got := claimJobs(t, s, "analyze", "a", base)
		if len(got) != 1 {
			t.Fatalf("claim = %v", jobKeys(got))
		}
		if again := claimJobs(t, s, "analyze", "b", base.Add(30*time.Second)); len(again) != 0 {
			t.Fatalf("claim during a live lease = %v", jobKeys(again))
		}
		// a's lease runs out and b takes the job: a can no longer finish it.
		got = claimJobs(t, s, "analyze", "b", base.Add(time.Minute))
		if len(got) != 1 || got[0].Attempts != 2 {
			t.Fatalf("claim after expiry = %+v", got)
		}
		if err := s.CompleteJob(ctx, "analyze:c1", got[0].Version, "a"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CompleteJob by the old owner = %v, want ErrConflict", err)
		}
		if err := s.FailJob(ctx, "analyze:c1", "a", "late", base); !errors.Is(err, store.ErrConflict) {
			t.Errorf("FailJob by the old owner = %v, want ErrConflict", err)
		}
		if err := s.CompleteJob(ctx, "analyze:c1", got[0].Version, "b"); err != nil {
			t.Fatalf("CompleteJob: %v", err)
		}
		if n := countJobs(t, s, "analyze"); n != 0 {
			t.Errorf("CountJobs after completion = %d, want 0", n)
		}
		if got := claimJobs(t, s, "analyze", "c", base.Add(time.Hour)); len(got) != 0 {
			t.Errorf("a completed job was claimed: %v", jobKeys(got))
		}
		if err := s.CompleteJob(ctx, "analyze:c1", got[0].Version, "b"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second CompleteJob = %v, want ErrNotFound", err)
		}
		if err := s.FailJob(ctx, "nope", "b", "x", base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FailJob(missing) = %v, want ErrNotFound", err)
		}
		// The key is reusable after completion.
		mustNil(t, s.ScheduleJob(ctx, "analyze:c1", "analyze", "again", base.Add(2*time.Hour)))
		got = claimJobs(t, s, "analyze", "d", base.Add(2*time.Hour))
		if len(got) != 1 || got[0].Payload != "again" || got[0].Attempts != 1 {
			t.Fatalf("claim of the re-created job = %+v", got)
		}
	}},
	{"ScheduledAgainWhileRunningRunsAgain", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		mustNil(t, s.ScheduleJob(ctx, "analyze:c1", "analyze", "v1", base))
		got := claimJobs(t, s, "analyze", "a", base)
		if len(got) != 1 || got[0].Version != 1 {
			t.Fatalf("claim = %+v", got)
		}
		// A new message arrives while the analysis runs.
		mustNil(t, s.ScheduleJob(ctx, "analyze:c1", "analyze", "v2", base.Add(10*time.Second)))
		if again := claimJobs(t, s, "analyze", "b", base.Add(20*time.Second)); len(again) != 0 {
			t.Fatalf("the running job was claimed by a second owner: %v", jobKeys(again))
		}
		if err := s.CompleteJob(ctx, "analyze:c1", 1, "a"); err != nil {
			t.Fatalf("CompleteJob(v1): %v", err)
		}
		if n := countJobs(t, s, "analyze"); n != 1 {
			t.Fatalf("CountJobs after completing the old version = %d, want 1", n)
		}
		got = claimJobs(t, s, "analyze", "b", base.Add(20*time.Second))
		if len(got) != 1 || got[0].Version != 2 || got[0].Payload != "v2" || got[0].Attempts != 1 {
			t.Fatalf("claim after completion = %+v, want version 2 payload v2 attempt 1", got)
		}
		if err := s.CompleteJob(ctx, "analyze:c1", 2, "b"); err != nil {
			t.Fatal(err)
		}
		if n := countJobs(t, s, ""); n != 0 {
			t.Errorf("CountJobs = %d, want 0", n)
		}
	}},
	{"FailRetriesLater", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		mustNil(t, s.ScheduleJob(ctx, "analyze:c1", "analyze", "p", base))
		got := claimJobs(t, s, "analyze", "a", base)
		if len(got) != 1 {
			t.Fatal("no claim")
		}
		if err := s.FailJob(ctx, "analyze:c1", "a", "llm unavailable", base.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.FailJob(ctx, "analyze:c1", "a", "again", base.Add(5*time.Minute)); !errors.Is(err, store.ErrConflict) {
			t.Errorf("FailJob after release = %v, want ErrConflict", err)
		}
		if again := claimJobs(t, s, "analyze", "b", base.Add(4*time.Minute)); len(again) != 0 {
			t.Fatalf("claim before the retry time = %v", jobKeys(again))
		}
		got = claimJobs(t, s, "analyze", "b", base.Add(5*time.Minute))
		if len(got) != 1 || got[0].Attempts != 2 || got[0].LastError != "llm unavailable" || got[0].Version != 1 {
			t.Fatalf("retry claim = %+v", got)
		}
		if err := s.CompleteJob(ctx, "analyze:c1", 1, "b"); err != nil {
			t.Fatal(err)
		}
		if n := countJobs(t, s, ""); n != 0 {
			t.Errorf("CountJobs = %d, want 0", n)
		}
	}},
	{"ConcurrentWorkersRunEachOnce", func(t *testing.T, s store.Store, cfg Config) {
		const n, workers = 60, 4
		ctx := ctxFor(t)
		for i := range n {
			mustNil(t, s.ScheduleJob(ctx, fmt.Sprintf("analyze:%03d", i), "analyze", "", base))
		}
		var (
			mu       sync.Mutex
			done     = map[string]int{}
			failures []string
			wg       sync.WaitGroup
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("w%d", w)
				for empty := 0; empty < 3; {
					got, err := s.ClaimJobs(ctx, "analyze", owner, base, time.Hour, 5)
					if err != nil {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s claim: %v", owner, err))
						mu.Unlock()
						return
					}
					if len(got) == 0 {
						empty++
						continue
					}
					empty = 0
					for _, j := range got {
						err := s.CompleteJob(ctx, j.Key, j.Version, owner)
						mu.Lock()
						if err != nil {
							failures = append(failures, fmt.Sprintf("%s complete %s: %v", owner, j.Key, err))
						} else {
							done[j.Key]++
						}
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		for _, f := range failures {
			t.Error(f)
		}
		for i := range n {
			if k := fmt.Sprintf("analyze:%03d", i); done[k] != 1 {
				t.Errorf("job %s completed %d times, want 1", k, done[k])
			}
		}
		if c := countJobs(t, s, ""); c != 0 {
			t.Errorf("CountJobs = %d, want 0", c)
		}
	}},
}
