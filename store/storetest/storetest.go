// Package storetest is the contract suite every store backend runs. A backend
// test calls Run with a function that opens an empty store; every subtest opens
// its own, so subtests never see each other's data.
package storetest

import (
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

// Opener returns a new, empty store. The suite closes it when the subtest ends.
type Opener func(t *testing.T) store.Store

// base is the suite's fixed clock. Times are whole milliseconds because that
// is the precision every backend keeps (BSON dates are milliseconds).
var base = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// cst is a non-UTC zone: times given in it must come back in UTC.
var cst = time.FixedZone("CST", 8*3600)

// Run runs the whole contract suite against the backend open returns.
func Run(t *testing.T, open Opener) {
	t.Helper()
	RunWith(t, open, Config{})
}

// RunWith is Run with a Config.
func RunWith(t *testing.T, open Opener, cfg Config) {
	t.Helper()
	newStore := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
		return s
	}
	groups := []struct {
		name  string
		tests []namedTest
	}{
		{"Events", eventTests},
		{"Claims", append(claimTests[:len(claimTests):len(claimTests)], namedTest{"CompleteEventsLargeBatch", completeLargeBatch(cfg.largeBatch())})},
		{"Customers", customerTests},
		{"FindCustomers", findCustomerTests},
		{"Timeline", timelineTests},
		{"Misc", miscTests},
		{"State", stateTests}, // state.go
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, newStore(t))
				})
			}
		})
	}
	for _, g := range crmGroups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, newStore(t), cfg)
				})
			}
		})
	}
}

type namedTest struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newEvent builds a fully populated event; n makes keys and times distinct.
func newEvent(key string, n int) *store.Event {
	return &store.Event{
		DedupKey:   key,
		Channel:    store.ChannelWeCom,
		Kind:       "text",
		FromID:     "zhangsan",
		StaffID:    "zhangsan",
		CustomerID: fmt.Sprintf("wm_%d", n),
		Text:       fmt.Sprintf("你好 %d", n),
		MsgID:      fmt.Sprintf("msg-%d", n),
		Attrs:      map[string]string{"agent_id": "1000002", "a.b": "dotted key", "$x": "dollar key"},
		Raw:        []byte(fmt.Sprintf("<xml><MsgId>%d</MsgId></xml>", n)),
		OccurredAt: base.Add(time.Duration(n) * time.Second),
		ReceivedAt: base.Add(time.Duration(n)*time.Second + 250*time.Millisecond),
	}
}

func appendEvents(t *testing.T, s store.Store, evs ...*store.Event) []bool {
	t.Helper()
	ins, err := s.AppendEvents(ctxFor(t), evs)
	if err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	if len(ins) != len(evs) {
		t.Fatalf("AppendEvents returned %d flags for %d events", len(ins), len(evs))
	}
	return ins
}

func allEvents(t *testing.T, s store.Store) []*store.Event {
	t.Helper()
	var out []*store.Event
	var after int64
	for {
		page, err := s.FindEvents(ctxFor(t), store.EventFilter{AfterID: after, Limit: 100})
		if err != nil {
			t.Fatalf("FindEvents: %v", err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].ID
	}
}

func checkUTC(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

func checkUTCPtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, got, want)
	default:
		checkUTC(t, what, *got, *want)
	}
}

func checkEvent(t *testing.T, got, want *store.Event) {
	t.Helper()
	if got.ID != want.ID || got.DedupKey != want.DedupKey || got.Channel != want.Channel ||
		got.Kind != want.Kind || got.FromID != want.FromID || got.StaffID != want.StaffID ||
		got.CustomerID != want.CustomerID || got.Text != want.Text || got.MsgID != want.MsgID {
		t.Errorf("event fields:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(nonNil(got.Attrs), nonNil(want.Attrs)) {
		t.Errorf("event %s attrs = %v, want %v", want.DedupKey, got.Attrs, want.Attrs)
	}
	if string(got.Raw) != string(want.Raw) {
		t.Errorf("event %s raw = %q, want %q", want.DedupKey, got.Raw, want.Raw)
	}
	checkUTC(t, "OccurredAt", got.OccurredAt, want.OccurredAt)
	checkUTC(t, "ReceivedAt", got.ReceivedAt, want.ReceivedAt)
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

var eventTests = []namedTest{
	{"AppendAndFindRoundTrip", func(t *testing.T, s store.Store) {
		e1, e2 := newEvent("k1", 1), newEvent("k2", 2)
		e2.Attrs, e2.Raw, e2.StaffID = nil, nil, ""
		// Times given in another zone come back as the same instant in UTC.
		e2.OccurredAt = e2.OccurredAt.In(cst)
		ins := appendEvents(t, s, e1, e2)
		if !ins[0] || !ins[1] {
			t.Fatalf("inserted = %v, want [true true]", ins)
		}
		if e1.ID <= 0 || e2.ID <= e1.ID {
			t.Fatalf("IDs = %d, %d; want positive and increasing", e1.ID, e2.ID)
		}
		got := allEvents(t, s)
		if len(got) != 2 {
			t.Fatalf("stored %d events, want 2", len(got))
		}
		checkEvent(t, got[0], e1)
		checkEvent(t, got[1], e2)
		for _, e := range got {
			if e.ProcessedAt != nil || e.Attempts != 0 || e.LastError != "" {
				t.Errorf("new event %d has processing state %v/%d/%q", e.ID, e.ProcessedAt, e.Attempts, e.LastError)
			}
		}
	}},
	{"DedupWithinOneBatch", func(t *testing.T, s store.Store) {
		a, b, a2 := newEvent("dup-a", 1), newEvent("dup-b", 2), newEvent("dup-a", 3)
		ins := appendEvents(t, s, a, b, a2)
		if want := []bool{true, true, false}; !slices.Equal(ins, want) {
			t.Fatalf("inserted = %v, want %v", ins, want)
		}
		if a2.ID != 0 {
			t.Errorf("duplicate got ID %d, want 0", a2.ID)
		}
		got := allEvents(t, s)
		if len(got) != 2 {
			t.Fatalf("stored %d events, want 2", len(got))
		}
		// The first copy wins: the stored event is a, not a2.
		checkEvent(t, got[0], a)
	}},
	{"DedupAcrossBatches", func(t *testing.T, s store.Store) {
		appendEvents(t, s, newEvent("x1", 1), newEvent("x2", 2))
		again := []*store.Event{newEvent("x2", 2), newEvent("x3", 3), newEvent("x1", 1)}
		ins := appendEvents(t, s, again...)
		if want := []bool{false, true, false}; !slices.Equal(ins, want) {
			t.Fatalf("inserted = %v, want %v", ins, want)
		}
		if again[1].ID == 0 || again[0].ID != 0 || again[2].ID != 0 {
			t.Errorf("IDs after re-append = %d %d %d", again[0].ID, again[1].ID, again[2].ID)
		}
		if n := len(allEvents(t, s)); n != 3 {
			t.Fatalf("stored %d events, want 3", n)
		}
		for _, tc := range []struct {
			key  string
			want bool
		}{{"x1", true}, {"x3", true}, {"x4", false}, {"", false}} {
			has, err := s.HasEvent(ctxFor(t), tc.key)
			if err != nil || has != tc.want {
				t.Errorf("HasEvent(%q) = %v, %v; want %v", tc.key, has, err, tc.want)
			}
		}
	}},
	{"LargeBatchAndIDOrder", func(t *testing.T, s store.Store) {
		var all []*store.Event
		for b := range 3 {
			var batch []*store.Event
			for i := range 120 {
				batch = append(batch, newEvent(fmt.Sprintf("b%d-%d", b, i), b*1000+i))
			}
			for i, ok := range appendEvents(t, s, batch...) {
				if !ok {
					t.Fatalf("batch %d event %d not inserted", b, i)
				}
			}
			all = append(all, batch...)
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID {
				t.Fatalf("ID of event %d (%d) not above the previous (%d)", i, all[i].ID, all[i-1].ID)
			}
		}
		got := allEvents(t, s)
		if len(got) != len(all) {
			t.Fatalf("stored %d events, want %d", len(got), len(all))
		}
		for i := range got {
			if got[i].ID != all[i].ID || got[i].DedupKey != all[i].DedupKey {
				t.Fatalf("event %d = %d/%s, want %d/%s", i, got[i].ID, got[i].DedupKey, all[i].ID, all[i].DedupKey)
			}
		}
	}},
	{"EmptyAppend", func(t *testing.T, s store.Store) {
		ins, err := s.AppendEvents(ctxFor(t), nil)
		if err != nil || len(ins) != 0 {
			t.Fatalf("AppendEvents(nil) = %v, %v; want empty, nil", ins, err)
		}
	}},
	{"FindEventsFilters", func(t *testing.T, s store.Store) {
		var evs []*store.Event
		for i := range 130 {
			e := newEvent(fmt.Sprintf("f%d", i), i)
			if i%3 == 0 {
				e.Channel = store.ChannelOA
			}
			if i%2 == 0 {
				e.Kind = "event.subscribe"
			}
			evs = append(evs, e)
		}
		appendEvents(t, s, evs...)
		ctx := ctxFor(t)
		claimed, err := s.ClaimEvents(ctx, "w", 3, base, time.Minute)
		if err != nil || len(claimed) != 3 {
			t.Fatalf("ClaimEvents = %d, %v", len(claimed), err)
		}
		for _, e := range claimed[:2] {
			if err := s.CompleteEvent(ctx, e.ID, "w", base.Add(time.Second)); err != nil {
				t.Fatalf("CompleteEvent: %v", err)
			}
		}
		yes, no := true, false
		count := func(pred func(i int) bool) int {
			n := 0
			for i := range evs {
				if pred(i) {
					n++
				}
			}
			return n
		}
		tests := []struct {
			name string
			f    store.EventFilter
			want int
		}{
			{"DefaultLimit", store.EventFilter{}, 100},
			{"Limit", store.EventFilter{Limit: 7}, 7},
			{"Channel", store.EventFilter{Channel: store.ChannelOA, Limit: 1000}, count(func(i int) bool { return i%3 == 0 })},
			{"Kind", store.EventFilter{Kind: "text", Limit: 1000}, count(func(i int) bool { return i%2 == 1 })},
			{"ChannelAndKind", store.EventFilter{Channel: store.ChannelOA, Kind: "text", Limit: 1000}, count(func(i int) bool { return i%3 == 0 && i%2 == 1 })},
			{"AfterID", store.EventFilter{AfterID: evs[99].ID, Limit: 1000}, 30},
			{"Processed", store.EventFilter{Processed: &yes, Limit: 1000}, 2},
			{"Unprocessed", store.EventFilter{Processed: &no, Limit: 1000}, 128},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.FindEvents(ctx, tc.f)
				if err != nil {
					t.Fatalf("FindEvents: %v", err)
				}
				if len(got) != tc.want {
					t.Fatalf("got %d events, want %d", len(got), tc.want)
				}
				for i, e := range got {
					if i > 0 && e.ID <= got[i-1].ID {
						t.Fatalf("events not in ID order")
					}
					if tc.f.Channel != "" && e.Channel != tc.f.Channel || tc.f.Kind != "" && e.Kind != tc.f.Kind ||
						e.ID <= tc.f.AfterID || tc.f.Processed != nil && (e.ProcessedAt != nil) != *tc.f.Processed {
						t.Fatalf("event %d/%s/%s does not match filter", e.ID, e.Channel, e.Kind)
					}
				}
			})
		}
	}},
}

func claim(t *testing.T, s store.Store, owner string, limit int, now time.Time, lease time.Duration) []*store.Event {
	t.Helper()
	evs, err := s.ClaimEvents(ctxFor(t), owner, limit, now, lease)
	if err != nil {
		t.Fatalf("ClaimEvents(%s): %v", owner, err)
	}
	return evs
}

func ids(evs []*store.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func seedEvents(t *testing.T, s store.Store, n int) []*store.Event {
	t.Helper()
	var evs []*store.Event
	for i := range n {
		evs = append(evs, newEvent(fmt.Sprintf("c%d", i), i))
	}
	appendEvents(t, s, evs...)
	return evs
}

var claimTests = []namedTest{
	{"LeasesAreExclusiveUntilExpiry", func(t *testing.T, s store.Store) {
		evs := seedEvents(t, s, 5)
		a := claim(t, s, "A", 3, base, time.Minute)
		if want := ids(evs[:3]); !slices.Equal(ids(a), want) {
			t.Fatalf("A claimed %v, want oldest first %v", ids(a), want)
		}
		for i, e := range a {
			if e.Attempts != 1 {
				t.Errorf("event %d attempts = %d, want 1", e.ID, e.Attempts)
			}
			checkEvent(t, e, evs[i])
		}
		b := claim(t, s, "B", 10, base.Add(10*time.Second), time.Minute)
		if want := ids(evs[3:]); !slices.Equal(ids(b), want) {
			t.Fatalf("B claimed %v while A's leases are live, want %v", ids(b), want)
		}
		if c := claim(t, s, "C", 10, base.Add(59*time.Second), time.Minute); len(c) != 0 {
			t.Fatalf("C claimed %v while all leases are live", ids(c))
		}
		// A's leases expired at base+1m; B's are live until base+70s.
		b2 := claim(t, s, "B", 10, base.Add(61*time.Second), time.Minute)
		if want := ids(evs[:3]); !slices.Equal(ids(b2), want) {
			t.Fatalf("B reclaimed %v, want the expired %v", ids(b2), want)
		}
		for _, e := range b2 {
			if e.Attempts != 2 {
				t.Errorf("reclaimed event %d attempts = %d, want 2", e.ID, e.Attempts)
			}
		}
		ctx := ctxFor(t)
		now := base.Add(62 * time.Second)
		if err := s.CompleteEvent(ctx, evs[0].ID, "A", now); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CompleteEvent by the former owner = %v, want ErrConflict", err)
		}
		if err := s.CompleteEvent(ctx, evs[0].ID, "B", now); err != nil {
			t.Fatalf("CompleteEvent by the owner: %v", err)
		}
		if err := s.CompleteEvent(ctx, evs[0].ID, "B", now); err != nil {
			t.Fatalf("repeated CompleteEvent by the owner = %v, want nil", err)
		}
		if err := s.CompleteEvent(ctx, evs[0].ID, "A", now); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CompleteEvent of a completed event by another owner = %v, want ErrConflict", err)
		}
		if err := s.CompleteEvent(ctx, evs[4].ID+1000, "B", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CompleteEvent of a missing event = %v, want ErrNotFound", err)
		}
		// Completed events are never handed out again.
		rest := claim(t, s, "D", 10, base.Add(time.Hour), time.Minute)
		if want := ids(evs[1:]); !slices.Equal(ids(rest), want) {
			t.Fatalf("D claimed %v, want %v", ids(rest), want)
		}
		done, err := s.FindEvents(ctx, store.EventFilter{Processed: ptr(true)})
		if err != nil || len(done) != 1 {
			t.Fatalf("processed events = %d, %v; want 1", len(done), err)
		}
		checkUTCPtr(t, "ProcessedAt", done[0].ProcessedAt, &now)
	}},
	{"FailEventSchedulesRetry", func(t *testing.T, s store.Store) {
		evs := seedEvents(t, s, 2)
		ctx := ctxFor(t)
		got := claim(t, s, "A", 1, base, time.Minute)
		if len(got) != 1 || got[0].ID != evs[0].ID {
			t.Fatalf("claimed %v", ids(got))
		}
		id := evs[0].ID
		if err := s.FailEvent(ctx, id, "B", "not mine", base.Add(time.Minute)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("FailEvent by a non-owner = %v, want ErrConflict", err)
		}
		if err := s.FailEvent(ctx, evs[1].ID+1000, "A", "x", base); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("FailEvent of a missing event = %v, want ErrNotFound", err)
		}
		retryAt := base.Add(5 * time.Minute)
		if err := s.FailEvent(ctx, id, "A", "wecom: 45009", retryAt); err != nil {
			t.Fatalf("FailEvent: %v", err)
		}
		// The lease is released: the owner can no longer complete it.
		if err := s.CompleteEvent(ctx, id, "A", base.Add(time.Second)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CompleteEvent after FailEvent = %v, want ErrConflict", err)
		}
		early := claim(t, s, "B", 10, base.Add(2*time.Minute), time.Hour)
		if !slices.Equal(ids(early), []int64{evs[1].ID}) {
			t.Fatalf("claim before retryAt = %v, want only %d", ids(early), evs[1].ID)
		}
		late := claim(t, s, "C", 10, retryAt, time.Minute)
		if len(late) != 1 || late[0].ID != id {
			t.Fatalf("claim at retryAt = %v, want [%d]", ids(late), id)
		}
		if late[0].Attempts != 2 || late[0].LastError != "wecom: 45009" {
			t.Errorf("retried event attempts=%d last_error=%q", late[0].Attempts, late[0].LastError)
		}
		if err := s.CompleteEvent(ctx, id, "C", retryAt); err != nil {
			t.Fatalf("CompleteEvent after retry: %v", err)
		}
		if err := s.FailEvent(ctx, id, "C", "late", retryAt); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("FailEvent of a completed event = %v, want ErrConflict", err)
		}
	}},
	{"ConcurrentClaimers", func(t *testing.T, s store.Store) {
		const n, workers = 80, 8
		evs := seedEvents(t, s, n)
		ctx := ctxFor(t)
		var (
			mu        sync.Mutex
			completed = map[int64]int{}
			claimedBy = map[int64]string{}
			failures  []string
		)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("w%d", w)
				for empty := 0; empty < 3; {
					got, err := s.ClaimEvents(ctx, owner, 4, base, time.Hour)
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
					for _, e := range got {
						mu.Lock()
						if prev, ok := claimedBy[e.ID]; ok {
							failures = append(failures, fmt.Sprintf("event %d claimed by %s and %s", e.ID, prev, owner))
						}
						claimedBy[e.ID] = owner
						mu.Unlock()
						if err := s.CompleteEvent(ctx, e.ID, owner, base); err != nil {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("%s complete %d: %v", owner, e.ID, err))
							mu.Unlock()
							continue
						}
						mu.Lock()
						completed[e.ID]++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		for _, f := range failures {
			t.Error(f)
		}
		for _, e := range evs {
			if completed[e.ID] != 1 {
				t.Errorf("event %d completed %d times, want 1", e.ID, completed[e.ID])
			}
		}
		if _, err := s.OldestUnprocessed(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("OldestUnprocessed after draining = %v, want ErrNotFound", err)
		}
	}},
	{"CompleteEventsInOneCall", func(t *testing.T, s store.Store) {
		evs := seedEvents(t, s, 6)
		ctx := ctxFor(t)
		if lost, err := s.CompleteEvents(ctx, nil, "A", base); err != nil || len(lost) != 0 {
			t.Fatalf("CompleteEvents of nothing = %v, %v", lost, err)
		}
		a := claim(t, s, "A", 4, base, time.Minute)
		if len(a) != 4 {
			t.Fatalf("A claimed %v", ids(a))
		}
		// A's lease on evs[0] expires and B takes it over; evs[1] fails and
		// is released; evs[5] was never claimed; one ID does not exist.
		b := claim(t, s, "B", 1, base.Add(2*time.Minute), time.Hour)
		if !slices.Equal(ids(b), ids(evs[:1])) {
			t.Fatalf("B claimed %v, want %v", ids(b), ids(evs[:1]))
		}
		mustNil(t, s.FailEvent(ctx, evs[1].ID, "A", "x", base.Add(time.Hour)))
		missing := evs[5].ID + 1000
		now := base.Add(3 * time.Minute)
		all := []int64{evs[0].ID, evs[1].ID, evs[2].ID, evs[3].ID, evs[5].ID, missing}
		lost, err := s.CompleteEvents(ctx, all, "A", now)
		if err != nil {
			t.Fatalf("CompleteEvents: %v", err)
		}
		if want := []int64{evs[0].ID, evs[1].ID, evs[5].ID, missing}; !slices.Equal(lost, want) {
			t.Fatalf("CompleteEvents lost %v, want %v", lost, want)
		}
		// A repeat by the same owner completes nothing new and loses nothing
		// it completed.
		lost, err = s.CompleteEvents(ctx, ids(evs[2:4]), "A", now.Add(time.Second))
		if err != nil || len(lost) != 0 {
			t.Fatalf("repeated CompleteEvents = %v, %v; want nothing lost", lost, err)
		}
		if lost, err := s.CompleteEvents(ctx, ids(evs[2:3]), "B", now); err != nil || !slices.Equal(lost, ids(evs[2:3])) {
			t.Fatalf("CompleteEvents of A's completed event by B = %v, %v; want it lost", lost, err)
		}
		if err := s.CompleteEvent(ctx, evs[0].ID, "B", now); err != nil {
			t.Fatalf("CompleteEvent by the owner that took over: %v", err)
		}
		done, err := s.FindEvents(ctx, store.EventFilter{Processed: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{evs[0].ID, evs[2].ID, evs[3].ID}; !slices.Equal(ids(done), want) {
			t.Fatalf("processed %v, want %v", ids(done), want)
		}
		checkUTCPtr(t, "ProcessedAt", done[1].ProcessedAt, &now)
		// Completed events are never handed out again; the others are.
		rest := claim(t, s, "C", 10, base.Add(2*time.Hour), time.Minute)
		if want := []int64{evs[1].ID, evs[4].ID, evs[5].ID}; !slices.Equal(ids(rest), want) {
			t.Fatalf("C claimed %v, want %v", ids(rest), want)
		}
		if lost, err := s.CompleteEvents(ctx, ids(rest), "C", now); err != nil || len(lost) != 0 {
			t.Fatalf("CompleteEvents by C = %v, %v", lost, err)
		}
		if _, err := s.OldestUnprocessed(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("OldestUnprocessed after completing all = %v, want ErrNotFound", err)
		}
	}},
	{"OldestUnprocessed", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		if _, err := s.OldestUnprocessed(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("OldestUnprocessed on an empty log = %v, want ErrNotFound", err)
		}
		evs := seedEvents(t, s, 3)
		check := func(want time.Time) {
			t.Helper()
			got, err := s.OldestUnprocessed(ctx)
			if err != nil {
				t.Fatalf("OldestUnprocessed: %v", err)
			}
			checkUTC(t, "OldestUnprocessed", got, want)
		}
		check(evs[0].ReceivedAt)
		got := claim(t, s, "A", 3, base, time.Minute)
		if len(got) != 3 {
			t.Fatalf("claimed %v", ids(got))
		}
		// Leased and failed events are still unprocessed.
		check(evs[0].ReceivedAt)
		mustNil(t, s.CompleteEvent(ctx, evs[0].ID, "A", base))
		mustNil(t, s.FailEvent(ctx, evs[1].ID, "A", "x", base.Add(time.Hour)))
		check(evs[1].ReceivedAt)
		mustNil(t, s.CompleteEvent(ctx, evs[2].ID, "A", base))
		check(evs[1].ReceivedAt)
		again := claim(t, s, "B", 3, base.Add(time.Hour), time.Minute)
		if !slices.Equal(ids(again), []int64{evs[1].ID}) {
			t.Fatalf("claimed %v, want the failed event only", ids(again))
		}
		mustNil(t, s.CompleteEvent(ctx, evs[1].ID, "B", base))
		if _, err := s.OldestUnprocessed(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("OldestUnprocessed on a processed log = %v, want ErrNotFound", err)
		}
	}},
}

func ptr[T any](v T) *T { return &v }

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ext(v string) store.Identity {
	return store.Identity{Kind: store.IdentityExternalUserID, Value: v}
}

func openid(v string) store.Identity {
	return store.Identity{Kind: store.IdentityOpenID, Value: v}
}

func union(v string) store.Identity {
	return store.Identity{Kind: store.IdentityUnionID, Value: v}
}

func upsert(t *testing.T, s store.Store, u store.CustomerUpsert) *store.Customer {
	t.Helper()
	c, err := s.UpsertCustomer(ctxFor(t), u)
	if err != nil {
		t.Fatalf("UpsertCustomer(%v): %v", u.Identity, err)
	}
	if c == nil || c.ID == "" {
		t.Fatalf("UpsertCustomer returned %+v", c)
	}
	return c
}

func byID(t *testing.T, s store.Store, id string) *store.Customer {
	t.Helper()
	c, err := s.FindCustomerByID(ctxFor(t), id)
	if err != nil {
		t.Fatalf("FindCustomerByID(%s): %v", id, err)
	}
	return c
}

// checkCustomer compares two customers field by field, times as instants.
func checkCustomer(t *testing.T, got, want *store.Customer) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Avatar != want.Avatar || got.Stage != want.Stage || got.Tier != want.Tier {
		t.Errorf("customer:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(got.Identities, want.Identities) {
		t.Errorf("identities = %v, want %v", got.Identities, want.Identities)
	}
	if !reflect.DeepEqual(got.Tags, want.Tags) {
		t.Errorf("tags = %v, want %v", got.Tags, want.Tags)
	}
	if !reflect.DeepEqual(nonNil(got.Fields), nonNil(want.Fields)) {
		t.Errorf("fields = %v, want %v", got.Fields, want.Fields)
	}
	if len(got.Follows) != len(want.Follows) {
		t.Errorf("follows = %+v, want %+v", got.Follows, want.Follows)
	} else {
		for i := range got.Follows {
			g, w := got.Follows[i], want.Follows[i]
			if g.StaffID != w.StaffID || g.Remark != w.Remark || g.State != w.State || g.Deleted != w.Deleted {
				t.Errorf("follow %d = %+v, want %+v", i, g, w)
			}
			checkUTC(t, "Follow.AddedAt", g.AddedAt, w.AddedAt)
		}
	}
	checkUTCPtr(t, "LastCustomerMsgAt", got.LastCustomerMsgAt, want.LastCustomerMsgAt)
	checkUTCPtr(t, "LastStaffTouchAt", got.LastStaffTouchAt, want.LastStaffTouchAt)
	checkUTC(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkUTC(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func staffIDs(c *store.Customer, deleted bool) []string {
	var out []string
	for _, f := range c.Follows {
		if f.Deleted == deleted {
			out = append(out, f.StaffID)
		}
	}
	sort.Strings(out)
	return out
}

var customerTests = []namedTest{
	{"CreateAndFind", func(t *testing.T, s store.Store) {
		now := base.In(cst)
		c := upsert(t, s, store.CustomerUpsert{
			Identity: ext("wmA"),
			Name:     "张三",
			Avatar:   "https://example.com/a.png",
			Follow:   &store.Follow{StaffID: "lisi", Remark: "张总", State: "expo2025", AddedAt: base.Add(-time.Hour)},
			Now:      now,
		})
		want := &store.Customer{
			ID: c.ID, Name: "张三", Avatar: "https://example.com/a.png",
			Identities: []store.Identity{ext("wmA")},
			Follows:    []store.Follow{{StaffID: "lisi", Remark: "张总", State: "expo2025", AddedAt: base.Add(-time.Hour)}},
			Tags:       []string{},
			Stage:      store.StageLead,
			CreatedAt:  base, UpdatedAt: base,
		}
		checkCustomer(t, c, want)
		checkCustomer(t, byID(t, s, c.ID), want)
		got, err := s.FindCustomerByIdentity(ctxFor(t), ext("wmA"))
		if err != nil {
			t.Fatalf("FindCustomerByIdentity: %v", err)
		}
		checkCustomer(t, got, want)
	}},
	{"ReapplyIsNoop", func(t *testing.T, s store.Store) {
		u := store.CustomerUpsert{
			Identity:   openid("oA"),
			Link:       []store.Identity{union("uA")},
			Name:       "王五",
			Follow:     &store.Follow{StaffID: "s1", AddedAt: base},
			Stage:      store.StageActive,
			AddTags:    []string{"vip"},
			CustomerAt: base.Add(time.Minute),
			StaffAt:    base.Add(2 * time.Minute),
			Now:        base.Add(3 * time.Minute),
		}
		first := upsert(t, s, u)
		second := upsert(t, s, u)
		checkCustomer(t, second, first)
		if n := len(second.Identities); n != 2 {
			t.Errorf("identities = %v, want openid and unionid", second.Identities)
		}
		if st, err := s.Stats(ctxFor(t)); err != nil || st.Customers != 1 {
			t.Errorf("Stats = %+v, %v; want 1 customer", st, err)
		}
	}},
	{"EmptyFieldsKeepStoredValues", func(t *testing.T, s store.Store) {
		id := ext("wmK")
		upsert(t, s, store.CustomerUpsert{Identity: id, Name: "赵六", Avatar: "a", Stage: store.StageWon,
			CustomerAt: base.Add(time.Hour), StaffAt: base.Add(time.Hour), Now: base})
		// Older activity never lowers the last-contact times; empty fields change nothing.
		c := upsert(t, s, store.CustomerUpsert{Identity: id, CustomerAt: base.Add(time.Minute), StaffAt: base.Add(time.Minute), Now: base.Add(2 * time.Hour)})
		if c.Name != "赵六" || c.Avatar != "a" || c.Stage != store.StageWon {
			t.Errorf("customer = %+v; empty upsert fields overwrote stored ones", c)
		}
		checkUTCPtr(t, "LastCustomerMsgAt", c.LastCustomerMsgAt, ptr(base.Add(time.Hour)))
		checkUTCPtr(t, "LastStaffTouchAt", c.LastStaffTouchAt, ptr(base.Add(time.Hour)))
		checkUTC(t, "CreatedAt", c.CreatedAt, base)
		checkUTC(t, "UpdatedAt", c.UpdatedAt, base.Add(2*time.Hour))
		c = upsert(t, s, store.CustomerUpsert{Identity: id, Name: "赵六六", Stage: store.StageDormant, CustomerAt: base.Add(3 * time.Hour), Now: base.Add(3 * time.Hour)})
		if c.Name != "赵六六" || c.Stage != store.StageDormant {
			t.Errorf("name/stage = %q/%q, want updated", c.Name, c.Stage)
		}
		checkUTCPtr(t, "LastCustomerMsgAt", c.LastCustomerMsgAt, ptr(base.Add(3*time.Hour)))
		if c.LastStaffTouchAt == nil {
			t.Errorf("LastStaffTouchAt lost")
		}
	}},
	{"FollowAndUnfollow", func(t *testing.T, s store.Store) {
		id := ext("wmF")
		upsert(t, s, store.CustomerUpsert{Identity: id, Follow: &store.Follow{StaffID: "s1", Remark: "r1", State: "ch1", AddedAt: base}, Now: base})
		upsert(t, s, store.CustomerUpsert{Identity: id, Follow: &store.Follow{StaffID: "s2", AddedAt: base.Add(time.Minute)}, Now: base})
		c := upsert(t, s, store.CustomerUpsert{Identity: id, Unfollow: "s1", Now: base})
		if got := staffIDs(c, false); !slices.Equal(got, []string{"s2"}) {
			t.Errorf("active follows = %v, want [s2]", got)
		}
		if got := staffIDs(c, true); !slices.Equal(got, []string{"s1"}) {
			t.Errorf("ended follows = %v, want [s1]", got)
		}
		// An ended follow shows in neither staff member's list.
		list, err := s.FindCustomers(ctxFor(t), store.CustomerFilter{StaffID: "s1"})
		if err != nil || len(list) != 0 {
			t.Errorf("FindCustomers(s1) = %d, %v; want none", len(list), err)
		}
		// Re-adding keeps remark and state the update leaves empty.
		c = upsert(t, s, store.CustomerUpsert{Identity: id, Follow: &store.Follow{StaffID: "s1", AddedAt: base.Add(time.Hour)}, Now: base})
		if got := staffIDs(c, false); !slices.Equal(got, []string{"s1", "s2"}) {
			t.Errorf("active follows = %v, want [s1 s2]", got)
		}
		for _, f := range c.Follows {
			if f.StaffID == "s1" {
				if f.Remark != "r1" || f.State != "ch1" {
					t.Errorf("re-added follow = %+v, want remark and state kept", f)
				}
				checkUTC(t, "re-added AddedAt", f.AddedAt, base.Add(time.Hour))
			}
		}
		// Unfollowing a staff member who never followed changes nothing.
		c2 := upsert(t, s, store.CustomerUpsert{Identity: id, Unfollow: "nobody", Now: base})
		if len(c2.Follows) != 2 {
			t.Errorf("follows = %+v, want 2", c2.Follows)
		}
	}},
	{"Tags", func(t *testing.T, s store.Store) {
		id := ext("wmT")
		c := upsert(t, s, store.CustomerUpsert{Identity: id, AddTags: []string{"vip", "b2b", "vip"}, Now: base})
		if !slices.Equal(c.Tags, []string{"b2b", "vip"}) {
			t.Errorf("tags = %v, want [b2b vip]", c.Tags)
		}
		c = upsert(t, s, store.CustomerUpsert{Identity: id, AddTags: []string{"hot"}, RemoveTags: []string{"b2b", "absent"}, Now: base})
		if !slices.Equal(c.Tags, []string{"hot", "vip"}) {
			t.Errorf("tags = %v, want [hot vip]", c.Tags)
		}
	}},
	{"LinkMergesIntoOlder", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		older := upsert(t, s, store.CustomerUpsert{Identity: ext("wm1"), Follow: &store.Follow{StaffID: "s1", AddedAt: base},
			AddTags: []string{"x"}, CustomerAt: base.Add(time.Minute), Now: base})
		upsert(t, s, store.CustomerUpsert{Identity: ext("wm1"), Unfollow: "s1", Now: base})
		younger := upsert(t, s, store.CustomerUpsert{Identity: openid("o1"), Name: "公众号粉丝", Avatar: "av",
			Follow: &store.Follow{StaffID: "s2", AddedAt: base.Add(time.Hour)}, AddTags: []string{"y"},
			StaffAt: base.Add(2 * time.Hour), Stage: store.StageActive, Now: base.Add(time.Hour)})
		// Both were followed by s1: the older's follow ended, the younger's is live.
		upsert(t, s, store.CustomerUpsert{Identity: openid("o1"), Follow: &store.Follow{StaffID: "s1", Remark: "老客户", AddedAt: base.Add(time.Hour)}, Now: base.Add(time.Hour)})
		if older.ID == younger.ID {
			t.Fatal("different identities gave one customer")
		}
		for i, e := range []*store.TimelineEntry{
			{CustomerID: older.ID, SourceKey: "t1", Kind: store.EntryMessage, At: base},
			{CustomerID: younger.ID, SourceKey: "t2", Kind: store.EntryMessage, At: base.Add(time.Hour)},
			{CustomerID: older.ID, SourceKey: "t3", Kind: store.EntryNote, At: base.Add(2 * time.Hour)},
		} {
			if ok, err := s.AppendTimeline(ctx, e); err != nil || !ok {
				t.Fatalf("AppendTimeline %d = %v, %v", i, ok, err)
			}
		}
		upsert(t, s, store.CustomerUpsert{Identity: ext("wm1"), Link: []store.Identity{union("u1")}, Now: base.Add(3 * time.Hour)})
		merged := upsert(t, s, store.CustomerUpsert{Identity: openid("o1"), Link: []store.Identity{union("u1")}, Now: base.Add(4 * time.Hour)})
		want := &store.Customer{
			ID: older.ID, Name: "公众号粉丝", Avatar: "av",
			Identities: []store.Identity{ext("wm1"), openid("o1"), union("u1")},
			// One follow per staff member: live if either was, the earlier
			// add time, the remark the survivor lacked.
			Follows: []store.Follow{
				{StaffID: "s1", Remark: "老客户", AddedAt: base},
				{StaffID: "s2", AddedAt: base.Add(time.Hour)},
			},
			Tags:              []string{"x", "y"},
			Stage:             store.StageLead, // the survivor keeps its own stage
			LastCustomerMsgAt: ptr(base.Add(time.Minute)),
			LastStaffTouchAt:  ptr(base.Add(2 * time.Hour)),
			CreatedAt:         base,
			UpdatedAt:         base.Add(4 * time.Hour),
		}
		checkCustomer(t, merged, want)
		checkCustomer(t, byID(t, s, older.ID), want)
		if _, err := s.FindCustomerByID(ctx, younger.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindCustomerByID(merged away) = %v, want ErrNotFound", err)
		}
		for _, id := range want.Identities {
			c, err := s.FindCustomerByIdentity(ctx, id)
			if err != nil || c.ID != older.ID {
				t.Errorf("FindCustomerByIdentity(%v) = %v, %v; want %s", id, c, err, older.ID)
			}
		}
		tl, err := s.FindTimeline(ctx, older.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tl {
			if e.CustomerID != older.ID {
				t.Errorf("timeline entry %d belongs to %s", e.ID, e.CustomerID)
			}
		}
		if len(tl) != 3 {
			t.Errorf("survivor timeline has %d entries, want 3", len(tl))
		}
		if tl, err := s.FindTimeline(ctx, younger.ID, 0, 0); err != nil || len(tl) != 0 {
			t.Errorf("merged-away timeline = %d, %v; want empty", len(tl), err)
		}
		// A late append for the merged-away ID lands on the survivor.
		late := &store.TimelineEntry{CustomerID: younger.ID, SourceKey: "t4", Kind: store.EntryMessage, At: base.Add(5 * time.Hour)}
		if ok, err := s.AppendTimeline(ctx, late); err != nil || !ok {
			t.Fatalf("AppendTimeline for merged-away customer = %v, %v", ok, err)
		}
		if late.CustomerID != older.ID {
			t.Errorf("late entry customer = %s, want survivor %s", late.CustomerID, older.ID)
		}
		if tl, _ := s.FindTimeline(ctx, older.ID, 0, 0); len(tl) != 4 {
			t.Errorf("survivor timeline has %d entries, want 4", len(tl))
		}
		st, err := s.Stats(ctx)
		if err != nil || st.Customers != 1 || st.Messages != 3 {
			t.Errorf("Stats = %+v, %v; want 1 customer, 3 messages", st, err)
		}
	}},
	{"LinkCreatesOneCustomer", func(t *testing.T, s store.Store) {
		c := upsert(t, s, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityKFUserID, Value: "kf1"},
			Link: []store.Identity{union("u9"), {}}, Now: base})
		if len(c.Identities) != 2 {
			t.Errorf("identities = %v, want kf and unionid", c.Identities)
		}
		c2 := upsert(t, s, store.CustomerUpsert{Identity: union("u9"), Now: base})
		if c2.ID != c.ID {
			t.Errorf("unionid resolves to %s, want %s", c2.ID, c.ID)
		}
	}},
	{"ConcurrentUpsertsOfOneIdentity", func(t *testing.T, s store.Store) {
		const workers = 8
		ctx := ctxFor(t)
		got := make([]string, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.UpsertCustomer(ctx, store.CustomerUpsert{
					Identity: ext("wmRace"),
					Follow:   &store.Follow{StaffID: fmt.Sprintf("s%d", w), AddedAt: base},
					Now:      base,
				})
				errs[w] = err
				if err == nil {
					got[w] = c.ID
				}
			}()
		}
		wg.Wait()
		for w := range workers {
			if errs[w] != nil {
				t.Fatalf("worker %d: %v", w, errs[w])
			}
			if got[w] != got[0] {
				t.Fatalf("workers got customers %v, want one", got)
			}
		}
		c := byID(t, s, got[0])
		if len(staffIDs(c, false)) != workers {
			t.Errorf("follows = %v, want %d", staffIDs(c, false), workers)
		}
		if st, err := s.Stats(ctx); err != nil || st.Customers != 1 {
			t.Errorf("Stats = %+v, %v; want 1 customer", st, err)
		}
	}},
	{"ConcurrentLinks", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		ups := []store.CustomerUpsert{
			{Identity: ext("wmL"), Link: []store.Identity{union("uL")}},
			{Identity: openid("oL"), Link: []store.Identity{union("uL")}},
			{Identity: store.Identity{Kind: store.IdentityKFUserID, Value: "kL"}, Link: []store.Identity{union("uL")}},
			{Identity: ext("wmL")},
			{Identity: openid("oL")},
		}
		var wg sync.WaitGroup
		errs := make([]error, 3*len(ups))
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := ups[i%len(ups)]
				u.Now = base.Add(time.Duration(i) * time.Millisecond)
				u.Follow = &store.Follow{StaffID: fmt.Sprintf("s%d", i%4), AddedAt: base}
				_, errs[i] = s.UpsertCustomer(ctx, u)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("upsert %d: %v", i, err)
			}
		}
		var first string
		for _, id := range []store.Identity{ext("wmL"), openid("oL"), union("uL"), {Kind: store.IdentityKFUserID, Value: "kL"}} {
			c, err := s.FindCustomerByIdentity(ctx, id)
			if err != nil {
				t.Fatalf("FindCustomerByIdentity(%v): %v", id, err)
			}
			if first == "" {
				first = c.ID
			}
			if c.ID != first {
				t.Errorf("%v belongs to %s, want %s", id, c.ID, first)
			}
		}
		c := byID(t, s, first)
		if len(c.Identities) != 4 || len(staffIDs(c, false)) != 4 {
			t.Errorf("customer identities=%v follows=%v; want 4 and 4", c.Identities, staffIDs(c, false))
		}
		if st, err := s.Stats(ctx); err != nil || st.Customers != 1 {
			t.Errorf("Stats = %+v, %v; want 1 customer", st, err)
		}
	}},
	{"ConcurrentMergeChains", func(t *testing.T, s store.Store) {
		// Six unionids chained by kf users that carry two of them: every
		// upsert may merge, and merges race with merges of their survivors.
		ctx := ctxFor(t)
		kf := func(v string) store.Identity { return store.Identity{Kind: store.IdentityKFUserID, Value: v} }
		var ups []store.CustomerUpsert
		for i := range 6 {
			ups = append(ups,
				store.CustomerUpsert{Identity: ext(fmt.Sprintf("e%d", i)), Link: []store.Identity{union(fmt.Sprintf("u%d", i))}},
				store.CustomerUpsert{Identity: openid(fmt.Sprintf("o%d", i)), Link: []store.Identity{union(fmt.Sprintf("u%d", (i+1)%6))}})
			if i > 0 {
				ups = append(ups, store.CustomerUpsert{Identity: kf(fmt.Sprintf("k%d", i)),
					Link: []store.Identity{union(fmt.Sprintf("u%d", i-1)), union(fmt.Sprintf("u%d", i))}})
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2*len(ups))
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := ups[i%len(ups)]
				u.Now = base.Add(time.Duration(i*7%5) * time.Second)
				u.Follow = &store.Follow{StaffID: fmt.Sprintf("s%02d", i%len(ups)), AddedAt: base}
				_, errs[i] = s.UpsertCustomer(ctx, u)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("upsert %d: %v", i, err)
			}
		}
		c, err := s.FindCustomerByIdentity(ctx, union("u0"))
		if err != nil {
			t.Fatal(err)
		}
		if want := 6 + 6 + 6 + 5; len(c.Identities) != want || len(c.Follows) != len(ups) {
			t.Errorf("survivor has %d identities and %d follows, want %d and %d", len(c.Identities), len(c.Follows), want, len(ups))
		}
		for _, id := range c.Identities {
			if got, err := s.FindCustomerByIdentity(ctx, id); err != nil || got.ID != c.ID {
				t.Errorf("%v belongs to %v (%v), want %s", id, got, err, c.ID)
			}
		}
		if st, err := s.Stats(ctx); err != nil || st.Customers != 1 {
			t.Errorf("Stats = %+v, %v; want 1 customer", st, err)
		}
	}},
	{"ErrorContracts", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmE"), Now: base})
		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"ByIDMissing", func() error { _, err := s.FindCustomerByID(ctx, "no-such-customer"); return err }, store.ErrNotFound},
			{"ByIDEmpty", func() error { _, err := s.FindCustomerByID(ctx, ""); return err }, store.ErrNotFound},
			{"ByIDLookalike", func() error { _, err := s.FindCustomerByID(ctx, lookalike(c.ID)); return err }, store.ErrNotFound},
			{"ByIdentityMissing", func() error { _, err := s.FindCustomerByIdentity(ctx, ext("nobody")); return err }, store.ErrNotFound},
			{"ByIdentityOtherKind", func() error { _, err := s.FindCustomerByIdentity(ctx, openid("wmE")); return err }, store.ErrNotFound},
			{"TimelineMissingCustomer", func() error {
				_, err := s.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: lookalike(c.ID), Kind: store.EntryNote, At: base})
				return err
			}, store.ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.call(); !errors.Is(err, tc.want) {
					t.Errorf("error = %v, want %v", err, tc.want)
				}
			})
		}
		t.Run("UpsertWithoutIdentity", func(t *testing.T) {
			if _, err := s.UpsertCustomer(ctx, store.CustomerUpsert{Name: "x", Now: base}); err == nil {
				t.Error("UpsertCustomer without an identity succeeded")
			}
		})
	}},
}

// lookalike returns an ID of the same shape as id that no customer has when
// id is the only customer: its last character changed.
func lookalike(id string) string {
	b := []byte(id)
	switch c := b[len(b)-1]; c {
	case '9':
		b[len(b)-1] = '8'
	case 'f', 'z':
		b[len(b)-1] = c - 1
	default:
		b[len(b)-1] = c + 1
	}
	return string(b)
}

var findCustomerTests = []namedTest{
	{"FiltersAndPagination", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		const n = 60
		names := map[string]int{}
		for i := range n {
			name := fmt.Sprintf("客户%02d", i)
			if i%7 == 0 {
				name = fmt.Sprintf("Alice Wang %d", i)
			}
			u := store.CustomerUpsert{Identity: ext(fmt.Sprintf("wm%03d", i)), Name: name, Now: base.Add(time.Duration(i) * time.Second)}
			if i%2 == 0 {
				u.Follow = &store.Follow{StaffID: "even", AddedAt: base}
			}
			if i%5 == 0 {
				u.AddTags = []string{"vip"}
			}
			if i%4 == 0 {
				u.Stage = store.StageWon
			}
			c := upsert(t, s, u)
			names[c.ID] = i
			if i%3 == 0 {
				upsert(t, s, store.CustomerUpsert{Identity: ext(fmt.Sprintf("wm%03d", i)), Follow: &store.Follow{StaffID: "three", AddedAt: base}, Now: base})
			}
			if i == 9 {
				upsert(t, s, store.CustomerUpsert{Identity: ext("wm009"), Unfollow: "three", Now: base})
			}
		}
		// Customers come back in ID order, which need not be creation order.
		byIDOrder := make([]int, 0, n)
		for i := range n {
			byIDOrder = append(byIDOrder, i)
		}
		idOf := make([]string, n)
		for id, i := range names {
			idOf[i] = id
		}
		sort.Slice(byIDOrder, func(a, b int) bool { return idOf[byIDOrder[a]] < idOf[byIDOrder[b]] })
		expect := func(pred func(i int) bool) []int {
			var out []int
			for _, i := range byIDOrder {
				if pred(i) {
					out = append(out, i)
				}
			}
			return out
		}
		tests := []struct {
			name string
			f    store.CustomerFilter
			want []int
		}{
			{"All", store.CustomerFilter{Limit: 1000}, expect(func(int) bool { return true })},
			{"Staff", store.CustomerFilter{StaffID: "even", Limit: 1000}, expect(func(i int) bool { return i%2 == 0 })},
			{"StaffSkipsEndedFollow", store.CustomerFilter{StaffID: "three", Limit: 1000}, expect(func(i int) bool { return i%3 == 0 && i != 9 })},
			{"Tag", store.CustomerFilter{Tag: "vip", Limit: 1000}, expect(func(i int) bool { return i%5 == 0 })},
			{"Stage", store.CustomerFilter{Stage: store.StageWon, Limit: 1000}, expect(func(i int) bool { return i%4 == 0 })},
			{"StageLead", store.CustomerFilter{Stage: store.StageLead, Limit: 1000}, expect(func(i int) bool { return i%4 != 0 })},
			{"Query", store.CustomerFilter{Query: "alice", Limit: 1000}, expect(func(i int) bool { return i%7 == 0 })},
			{"QueryChinese", store.CustomerFilter{Query: "户1", Limit: 1000}, expect(func(i int) bool { return i%7 != 0 && i/10 == 1 })},
			{"QueryIsLiteral", store.CustomerFilter{Query: "%", Limit: 1000}, nil},
			{"StaffAndTag", store.CustomerFilter{StaffID: "even", Tag: "vip", Limit: 1000}, expect(func(i int) bool { return i%10 == 0 })},
			{"StaffStageQuery", store.CustomerFilter{StaffID: "three", Stage: store.StageWon, Query: "客户", Limit: 1000}, expect(func(i int) bool { return i%12 == 0 && i%7 != 0 })},
			{"TagAndStage", store.CustomerFilter{Tag: "vip", Stage: store.StageWon, Limit: 1000}, expect(func(i int) bool { return i%20 == 0 })},
			{"UnknownStaff", store.CustomerFilter{StaffID: "nobody"}, nil},
			{"DefaultLimit", store.CustomerFilter{}, byIDOrder[:50]},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.FindCustomers(ctx, tc.f)
				if err != nil {
					t.Fatalf("FindCustomers: %v", err)
				}
				checkPage(t, got, names, tc.want)
				// The same result, page by page through the cursor.
				if tc.f.Limit == 0 {
					return
				}
				var paged []*store.Customer
				f := tc.f
				f.Limit = 4
				for range 100 {
					page, err := s.FindCustomers(ctx, f)
					if err != nil {
						t.Fatalf("FindCustomers page: %v", err)
					}
					if len(page) > 4 {
						t.Fatalf("page of %d, limit 4", len(page))
					}
					if len(page) == 0 {
						break
					}
					paged = append(paged, page...)
					f.AfterID = page[len(page)-1].ID
				}
				checkPage(t, paged, names, tc.want)
			})
		}
	}},
}

func checkPage(t *testing.T, got []*store.Customer, names map[string]int, want []int) {
	t.Helper()
	var idx []int
	for i, c := range got {
		if i > 0 && c.ID <= got[i-1].ID {
			t.Fatalf("customers not ordered by ID: %q after %q", c.ID, got[i-1].ID)
		}
		n, ok := names[c.ID]
		if !ok {
			t.Fatalf("unknown customer %s", c.ID)
		}
		if c.Identities == nil || c.Follows == nil || c.Tags == nil {
			t.Errorf("customer %s has nil slices", c.ID)
		}
		idx = append(idx, n)
	}
	if !slices.Equal(idx, want) {
		t.Fatalf("customers = %v, want %v", idx, want)
	}
}

func newEntry(cid string, n int) *store.TimelineEntry {
	return &store.TimelineEntry{
		CustomerID: cid,
		SourceKey:  fmt.Sprintf("src-%s-%d", cid, n),
		Kind:       store.EntryMessage,
		Channel:    store.ChannelWeCom,
		Direction:  store.DirectionIn,
		StaffID:    "s1",
		Text:       fmt.Sprintf("消息 %d", n),
		Attrs:      map[string]string{"msgtype": "text", "x.y": "z"},
		At:         base.Add(time.Duration(n) * time.Minute),
	}
}

var timelineTests = []namedTest{
	{"WriteCustomersAppliesABatchInOrder", func(t *testing.T, s store.Store) {
		// The pipeline's batch of customer messages: upserts and entries
		// in order (one customer's messages raise its last contact in
		// turn), a repeat of the batch changes nothing, and a bad write
		// fails alone.
		ctx := ctxFor(t)
		known := upsert(t, s, store.CustomerUpsert{Identity: openid("oKnown"), Name: "老客户", Now: base})
		msg := func(id store.Identity, key string, min int) store.CustomerWrite {
			at := base.Add(time.Duration(min) * time.Minute)
			return store.CustomerWrite{
				Upsert: store.CustomerUpsert{Identity: id, CustomerAt: at, Now: at},
				Entry: &store.TimelineEntry{SourceKey: key, Kind: store.EntryMessage, Channel: store.ChannelOA,
					Direction: store.DirectionIn, Text: key, At: at},
			}
		}
		batch := func() []store.CustomerWrite {
			return []store.CustomerWrite{
				msg(openid("oKnown"), "event:k1", 1),
				msg(openid("oNew"), "event:n1", 2),
				{Upsert: store.CustomerUpsert{Now: base}, Entry: &store.TimelineEntry{SourceKey: "event:bad", Kind: store.EntryMessage, At: base}},
				msg(openid("oKnown"), "event:k2", 3),
				{Upsert: store.CustomerUpsert{Identity: openid("oNew"), Now: base.Add(4 * time.Minute)}}, // no entry
			}
		}
		before, err := s.Stats(ctx)
		mustNil(t, err)
		ws := batch()
		res, err := s.WriteCustomers(ctx, ws)
		if err != nil || len(res) != len(ws) {
			t.Fatalf("WriteCustomers = %d results, %v; want %d", len(res), err, len(ws))
		}
		if !errors.Is(res[2].Err, store.ErrInvalid) || res[2].Customer != nil {
			t.Errorf("write without identity = %+v, want ErrInvalid alone", res[2])
		}
		for _, i := range []int{0, 1, 3, 4} {
			if res[i].Err != nil || res[i].Customer == nil {
				t.Fatalf("write %d = %+v", i, res[i])
			}
			if ws[i].Entry != nil && (!res[i].Appended || ws[i].Entry.ID <= 0 || ws[i].Entry.CustomerID != res[i].Customer.ID) {
				t.Errorf("write %d: appended %v, entry ID %d on %q, want new on %s", i, res[i].Appended, ws[i].Entry.ID, ws[i].Entry.CustomerID, res[i].Customer.ID)
			}
		}
		if res[4].Appended {
			t.Errorf("write without entry reports an append")
		}
		if res[0].Customer.ID != known.ID || res[3].Customer.ID != known.ID || res[1].Customer.ID != res[4].Customer.ID || res[1].Customer.ID == known.ID {
			t.Fatalf("customers %s %s %s %s, want %s twice then the new one twice", res[0].Customer.ID, res[3].Customer.ID, res[1].Customer.ID, res[4].Customer.ID, known.ID)
		}
		// Each result is the customer right after its own write.
		checkUTCPtr(t, "first write's last message", res[0].Customer.LastCustomerMsgAt, ptr(base.Add(time.Minute)))
		checkUTCPtr(t, "second write's last message", res[3].Customer.LastCustomerMsgAt, ptr(base.Add(3*time.Minute)))
		if res[0].Customer.Name != "老客户" || res[1].Customer.Name != "" {
			t.Errorf("names %q, %q; want 老客户 and none", res[0].Customer.Name, res[1].Customer.Name)
		}
		checkUTCPtr(t, "stored last message", byID(t, s, known.ID).LastCustomerMsgAt, ptr(base.Add(3*time.Minute)))
		tl, err := s.FindTimeline(ctx, known.ID, 0, 0)
		if err != nil || len(tl) != 2 || tl[0].SourceKey != "event:k2" || tl[1].SourceKey != "event:k1" {
			t.Fatalf("known's timeline = %d entries, %v; want k2, k1", len(tl), err)
		}
		// Applied again, as a retried batch is: nothing new.
		again, err := s.WriteCustomers(ctx, batch())
		mustNil(t, err)
		for i, r := range again {
			if r.Appended {
				t.Errorf("repeat of write %d appended again", i)
			}
		}
		after, err := s.Stats(ctx)
		mustNil(t, err)
		if after.Messages-before.Messages != 3 || after.Customers-before.Customers != 1 {
			t.Errorf("stats moved by %d messages, %d customers; want 3, 1", after.Messages-before.Messages, after.Customers-before.Customers)
		}
		if res, err := s.WriteCustomers(ctx, nil); err != nil || len(res) != 0 {
			t.Errorf("empty WriteCustomers = %v, %v", res, err)
		}
	}},
	{"PrivateNoteKeepsItsMarkThroughAMerge", func(t *testing.T, s store.Store) {
		// Visibility of private notes is decided above the store from the
		// entry's author and Attrs: both must survive storage and a merge.
		ctx := ctxFor(t)
		older := upsert(t, s, store.CustomerUpsert{Identity: ext("wmPriv"), Now: base})
		younger := upsert(t, s, store.CustomerUpsert{Identity: openid("oPriv"), Now: base.Add(time.Hour)})
		note := &store.TimelineEntry{CustomerID: younger.ID, SourceKey: "note:priv", Kind: store.EntryNote, StaffID: "s1",
			Text: "底价", Attrs: map[string]string{"author": "s1", "source": "api", store.AttrPrivate: "true"}, At: base}
		if ok, err := s.AppendTimeline(ctx, note); err != nil || !ok {
			t.Fatalf("AppendTimeline = %v, %v", ok, err)
		}
		if _, err := s.MergeCustomers(ctx, older.ID, younger.ID); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindTimeline(ctx, older.ID, 0, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("FindTimeline = %d, %v; want 1", len(got), err)
		}
		if !got[0].Private() || got[0].Author() != "s1" || !reflect.DeepEqual(got[0].Attrs, note.Attrs) {
			t.Errorf("merged note = %+v, want private by s1 with attrs %v", got[0], note.Attrs)
		}
	}},
	{"AppendIsIdempotent", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmTL"), Now: base})
		e := newEntry(c.ID, 1)
		e.At = e.At.In(cst)
		ok, err := s.AppendTimeline(ctx, e)
		if err != nil || !ok || e.ID <= 0 {
			t.Fatalf("AppendTimeline = %v, %v, ID %d", ok, err, e.ID)
		}
		again := newEntry(c.ID, 1)
		again.Text = "changed"
		ok, err = s.AppendTimeline(ctx, again)
		if err != nil || ok || again.ID != 0 {
			t.Fatalf("second AppendTimeline = %v, %v, ID %d; want false, nil, 0", ok, err, again.ID)
		}
		// Entries without a source key are never deduplicated.
		for range 2 {
			note := &store.TimelineEntry{CustomerID: c.ID, Kind: store.EntryNote, Text: "记一笔", At: base}
			if ok, err := s.AppendTimeline(ctx, note); err != nil || !ok {
				t.Fatalf("AppendTimeline(note) = %v, %v", ok, err)
			}
		}
		got, err := s.FindTimeline(ctx, c.ID, 0, 0)
		if err != nil || len(got) != 3 {
			t.Fatalf("FindTimeline = %d, %v; want 3", len(got), err)
		}
		g := got[2]
		if g.ID != e.ID || g.CustomerID != c.ID || g.Kind != e.Kind || g.Channel != e.Channel || g.Direction != e.Direction ||
			g.StaffID != e.StaffID || g.Text != "消息 1" || !reflect.DeepEqual(g.Attrs, e.Attrs) {
			t.Errorf("entry = %+v, want %+v", g, e)
		}
		checkUTC(t, "At", g.At, e.At)
		if got[0].Attrs != nil && len(got[0].Attrs) != 0 {
			t.Errorf("note attrs = %v, want none", got[0].Attrs)
		}
	}},
	{"NewestFirstPagination", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		c := upsert(t, s, store.CustomerUpsert{Identity: ext("wmP"), Now: base})
		other := upsert(t, s, store.CustomerUpsert{Identity: ext("wmQ"), Now: base})
		var want []int64
		for i := range 57 {
			e := newEntry(c.ID, i)
			if _, err := s.AppendTimeline(ctx, e); err != nil {
				t.Fatal(err)
			}
			want = append(want, e.ID)
			if i%10 == 0 {
				if _, err := s.AppendTimeline(ctx, newEntry(other.ID, i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		slices.Reverse(want)
		first, err := s.FindTimeline(ctx, c.ID, 0, 0)
		if err != nil || len(first) != 50 {
			t.Fatalf("default page = %d, %v; want 50", len(first), err)
		}
		var got []int64
		var before int64
		for range 100 {
			page, err := s.FindTimeline(ctx, c.ID, before, 8)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			if len(page) > 8 {
				t.Fatalf("page of %d, limit 8", len(page))
			}
			for _, e := range page {
				if e.CustomerID != c.ID {
					t.Fatalf("entry of %s in %s's timeline", e.CustomerID, c.ID)
				}
				got = append(got, e.ID)
			}
			before = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged IDs = %v, want %v", got, want)
		}
		if none, err := s.FindTimeline(ctx, "no-such-customer", 0, 10); err != nil || len(none) != 0 {
			t.Errorf("FindTimeline(unknown) = %d, %v; want empty, nil", len(none), err)
		}
	}},
}

var miscTests = []namedTest{
	{"WriteMarkersAndJobs", func(t *testing.T, s store.Store) {
		// A batch's settled markers and re-armed jobs in one call: the
		// same as SetMarker and ScheduleJob one by one, later writes of a
		// key winning.
		ctx := ctxFor(t)
		mustNil(t, s.SetMarker(ctx, store.MarkInboxAuto, "e0", "old", base))
		ms := []store.MarkerWrite{
			{Kind: store.MarkInboxAuto, Key: "e0", Value: "none", At: base.Add(time.Hour)},
			{Kind: store.MarkInboxForward, Key: "e1", Value: "1", At: base},
			{Kind: store.MarkInboxForward, Key: "e2", Value: "stale", At: base},
		}
		js := []store.JobWrite{
			{Key: "analysis:1", Kind: "batch-job", Payload: "1", DueAt: base.Add(time.Minute)},
			{Key: "analysis:2", Kind: "batch-job", Payload: "2", DueAt: base.Add(2 * time.Minute)},
			{Key: "analysis:1", Kind: "batch-job", Payload: "1", DueAt: base.Add(3 * time.Minute)}, // re-armed
		}
		mustNil(t, s.WriteMarkersAndJobs(ctx, ms, js))
		mustNil(t, s.WriteMarkersAndJobs(ctx, nil, nil))
		for _, m := range ms {
			if v, err := s.GetMarker(ctx, m.Kind, m.Key); err != nil || v != m.Value {
				t.Errorf("marker %s/%s = %q, %v; want %q", m.Kind, m.Key, v, err, m.Value)
			}
		}
		if n := countJobs(t, s, "batch-job"); n != 2 {
			t.Errorf("%d jobs, want 2 (one re-armed)", n)
		}
		if got := jobKeys(claimJobs(t, s, "batch-job", "o", base.Add(150*time.Second))); !reflect.DeepEqual(got, []string{"analysis:2"}) {
			t.Errorf("due at +2.5m: %v, want [analysis:2] (analysis:1 re-armed to +3m)", got)
		}
		if got := jobKeys(claimJobs(t, s, "batch-job", "o", base.Add(3*time.Minute))); !reflect.DeepEqual(got, []string{"analysis:1"}) {
			t.Errorf("due at +3m: %v, want [analysis:1]", got)
		}
		if err := s.WriteMarkersAndJobs(ctx, nil, []store.JobWrite{{Kind: "batch-job"}}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("job without a key: %v, want ErrInvalid", err)
		}
	}},
	{"Stats", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		st, err := s.Stats(ctx)
		if err != nil || st != (store.Stats{}) {
			t.Fatalf("Stats on an empty store = %+v, %v", st, err)
		}
		appendEvents(t, s, newEvent("s1", 1), newEvent("s2", 2), newEvent("s1", 1))
		appendEvents(t, s, newEvent("s2", 2), newEvent("s3", 3))
		a := upsert(t, s, store.CustomerUpsert{Identity: ext("wmS1"), Now: base})
		upsert(t, s, store.CustomerUpsert{Identity: ext("wmS2"), Now: base})
		upsert(t, s, store.CustomerUpsert{Identity: ext("wmS1"), Name: "again", Now: base})
		for i, kind := range []string{store.EntryMessage, store.EntryNote, store.EntryMessage, store.EntryStage} {
			e := newEntry(a.ID, i)
			e.Kind = kind
			if _, err := s.AppendTimeline(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.AppendTimeline(ctx, newEntry(a.ID, 0)); err != nil { // duplicate
			t.Fatal(err)
		}
		st, err = s.Stats(ctx)
		if want := (store.Stats{Events: 3, Messages: 2, Customers: 2}); err != nil || st != want {
			t.Fatalf("Stats = %+v, %v; want %+v", st, err, want)
		}
	}},
	{"Cursors", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		tests := []struct {
			name, set, want string
		}{
			{"kf/wk123", "", ""},
			{"kf/wk123", "CURSOR_1", "CURSOR_1"},
			{"kf/wk123", "CURSOR_2", "CURSOR_2"},
			{"kf/other", "", ""},
		}
		for i, tc := range tests {
			t.Run(fmt.Sprintf("%d_%s", i, strings.ReplaceAll(tc.name, "/", "_")), func(t *testing.T) {
				if tc.set != "" {
					if err := s.SetCursor(ctx, tc.name, tc.set); err != nil {
						t.Fatalf("SetCursor: %v", err)
					}
				}
				got, err := s.GetCursor(ctx, tc.name)
				if err != nil || got != tc.want {
					t.Fatalf("GetCursor(%s) = %q, %v; want %q", tc.name, got, err, tc.want)
				}
			})
		}
	}},
	{"Markers", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		get := func(kind, key, want string) {
			t.Helper()
			if got, err := s.GetMarker(ctx, kind, key); err != nil || got != want {
				t.Fatalf("GetMarker(%s, %s) = %q, %v; want %q", kind, key, got, err, want)
			}
		}
		get(store.MarkBotReply, "msg:wecom:1", "")
		mustNil(t, s.SetMarker(ctx, store.MarkBotReply, "msg:wecom:1", "1", base))
		get(store.MarkBotReply, "msg:wecom:1", "1")
		// One key in two kinds is two markers.
		get(store.MarkInboxPress, "msg:wecom:1", "")
		mustNil(t, s.SetMarker(ctx, store.MarkInboxPress, "msg:wecom:1", "p", base.Add(time.Hour)))
		get(store.MarkBotReply, "msg:wecom:1", "1")
		get(store.MarkInboxPress, "msg:wecom:1", "p")
		// Set again: the value changes, the time it was made does not (a
		// non-UTC time is the same instant).
		mustNil(t, s.SetMarker(ctx, store.MarkBotReply, "msg:wecom:1", "done", base.Add(48*time.Hour).In(cst)))
		get(store.MarkBotReply, "msg:wecom:1", "done")
		mustNil(t, s.SetMarker(ctx, store.MarkBotReply, "msg:wecom:2", "1", base.Add(24*time.Hour)))

		// Deleting is per kind, strictly before the cutoff.
		del := func(kind string, before time.Time, want int64) {
			t.Helper()
			if n, err := s.DeleteMarkers(ctx, kind, before); err != nil || n != want {
				t.Fatalf("DeleteMarkers(%s, %v) = %d, %v; want %d", kind, before, n, err, want)
			}
		}
		del(store.MarkBotReply, base, 0)
		del(store.MarkBotReply, base.Add(time.Hour), 1) // the first, made at base though set again later
		get(store.MarkBotReply, "msg:wecom:1", "")
		get(store.MarkBotReply, "msg:wecom:2", "1")
		get(store.MarkInboxPress, "msg:wecom:1", "p")
		del(store.MarkBotReply, base.Add(24*time.Hour), 0)
		del(store.MarkBotReply, base.Add(25*time.Hour).In(cst), 1)
		get(store.MarkInboxPress, "msg:wecom:1", "p")
		// A deleted marker can be made again.
		mustNil(t, s.SetMarker(ctx, store.MarkBotReply, "msg:wecom:1", "again", base.Add(72*time.Hour)))
		get(store.MarkBotReply, "msg:wecom:1", "again")
	}},
	{"PruneDone", func(t *testing.T, s store.Store) {
		// Pruning the bookkeeping of finished work changes no outcome: a
		// completed event stays processed and unclaimable, a pending one
		// is claimed again after its lease and can be completed.
		ctx := ctxFor(t)
		seedEvents(t, s, 3)
		got := claim(t, s, "p", 3, base, time.Minute)
		if len(got) != 3 {
			t.Fatalf("claimed %d, want 3", len(got))
		}
		for _, e := range got[:2] {
			mustNil(t, s.CompleteEvent(ctx, e.ID, "p", base))
		}
		if _, err := s.PruneDone(ctx, base.Add(time.Hour)); err != nil {
			t.Fatalf("PruneDone: %v", err)
		}
		again := claim(t, s, "q", 10, base.Add(2*time.Minute), time.Minute)
		if len(again) != 1 || again[0].ID != got[2].ID {
			t.Fatalf("claimed %v after the prune, want only event %d", ids(again), got[2].ID)
		}
		mustNil(t, s.CompleteEvent(ctx, again[0].ID, "q", base.Add(2*time.Minute)))
		for _, e := range allEvents(t, s) {
			if e.ProcessedAt == nil {
				t.Errorf("event %d not processed after the prune", e.ID)
			}
		}
	}},
	{"Ping", func(t *testing.T, s store.Store) {
		if err := s.Ping(ctxFor(t)); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}},
}

// completeLargeBatch claims n events in one call and completes them in one
// CompleteEvents: more IDs than one of the backend's statements takes
// (SQLite 500, MongoDB 100 an update).
func completeLargeBatch(n int) func(t *testing.T, s store.Store) {
	return func(t *testing.T, s store.Store) {
		evs := seedEvents(t, s, n)
		ctx := ctxFor(t)
		got := claim(t, s, "A", n, base, time.Hour)
		if len(got) != n {
			t.Fatalf("claimed %d of %d", len(got), n)
		}
		lost, err := s.CompleteEvents(ctx, ids(evs), "A", base)
		if err != nil || len(lost) != 0 {
			t.Fatalf("CompleteEvents of %d = %d lost, %v", n, len(lost), err)
		}
		if _, err := s.OldestUnprocessed(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("OldestUnprocessed after completing all = %v, want ErrNotFound", err)
		}
	}
}

// MarkersMovedOnOpen checks the upgrade of a database made before markers
// had a store of their own, when they were cursors named "<kind>:<key>":
// reopen closes nothing and opens the backend again over old's data. The
// markers move (value kept, kept for their family's full retention from the
// move), other cursors stay, and opening again changes nothing.
func MarkersMovedOnOpen(t *testing.T, old store.Store, reopen func() store.Store) {
	t.Helper()
	ctx := ctxFor(t)
	cursors := map[string]string{
		"bot-reply:msg:wecom:7":     "1",
		"card-press:wecom:evt:9":    "snooze:1740816000",
		"rem-list:12:1740816000":    "12,13",
		"rem-list-ready:0a1b2c":     "12,13",
		"inbox:fwd:msg:oa:3:lisi":   "1",
		"kf/wk1":                    "keep-cursor",
		"bot-reply":                 "not a marker: no key",
		"bot-replyx:msg:wecom:7":    "not a marker: another name",
		"analysis:c1":               "12",
		"daily-scan:2025-03-01|all": "done",
	}
	for name, v := range cursors {
		mustNil(t, old.SetCursor(ctx, name, v))
	}
	mustNil(t, old.Close())
	before := time.Now().Add(-time.Second)
	s := reopen()
	markers := []struct{ kind, key, value string }{
		{store.MarkBotReply, "msg:wecom:7", "1"},
		{store.MarkCardPress, "wecom:evt:9", "snooze:1740816000"},
		{store.MarkReminderList, "12:1740816000", "12,13"},
		{store.MarkListReady, "0a1b2c", "12,13"},
		{store.MarkInboxForward, "msg:oa:3:lisi", "1"},
		{store.MarkDailyScan, "2025-03-01|all", "done"},
	}
	for _, m := range markers {
		if got, err := s.GetMarker(ctx, m.kind, m.key); err != nil || got != m.value {
			t.Errorf("marker %s %s = %q, %v; want %q", m.kind, m.key, got, err, m.value)
		}
		if got, err := s.GetCursor(ctx, m.kind+":"+m.key); err != nil || got != "" {
			t.Errorf("cursor %s:%s = %q, %v after the move; want it gone", m.kind, m.key, got, err)
		}
		delete(cursors, m.kind+":"+m.key)
	}
	for name, want := range cursors {
		if got, err := s.GetCursor(ctx, name); err != nil || got != want {
			t.Errorf("cursor %s = %q, %v; want %q kept", name, got, err, want)
		}
	}
	// Moved markers count as made at the move, not at the epoch: a sweep
	// with a cutoff before the move keeps them, one after it deletes them.
	if n, err := s.DeleteMarkers(ctx, store.MarkBotReply, before); err != nil || n != 0 {
		t.Errorf("DeleteMarkers before the move = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteMarkers(ctx, store.MarkBotReply, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("DeleteMarkers after the move = %d, %v; want 1", n, err)
	}
	mustNil(t, s.Close())
	again := reopen()
	defer again.Close()
	if got, err := again.GetMarker(ctx, store.MarkCardPress, "wecom:evt:9"); err != nil || got != "snooze:1740816000" {
		t.Errorf("after a second open, marker = %q, %v", got, err)
	}
}
