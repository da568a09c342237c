package bot_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// countingStore counts the customer reads that reach the store.
type countingStore struct {
	store.Store
	reads atomic.Int64
}

func (s *countingStore) FindCustomerByIdentity(ctx context.Context, id store.Identity) (*store.Customer, error) {
	s.reads.Add(1)
	return s.Store.FindCustomerByIdentity(ctx, id)
}

func (s *countingStore) FindCustomerByID(ctx context.Context, id string) (*store.Customer, error) {
	s.reads.Add(1)
	return s.Store.FindCustomerByID(ctx, id)
}

// stepProc is a processor made of a function.
type stepProc struct {
	name string
	fn   func(ctx context.Context, ev *store.Event) error
}

func (p stepProc) Name() string                                       { return p.name }
func (p stepProc) Process(ctx context.Context, ev *store.Event) error { return p.fn(ctx, ev) }

// TestProcessorsShareTheEventsCustomer: after the customers processor, the
// processors of one event read its customer from the memo, not the store;
// a write by one of them is seen by the next; copies are their own.
func TestProcessorsShareTheEventsCustomer(t *testing.T) {
	ctx := context.Background()
	base := &countingStore{Store: openStore(t)}
	st := bot.ShareEventCustomers(base)
	now := time.Now().UTC()
	var stages []string
	var readsAfterUpsert []int64
	read := func(name string) stepProc {
		return stepProc{name, func(ctx context.Context, ev *store.Event) error {
			c, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: ev.CustomerID})
			if err != nil {
				return err
			}
			if _, err := st.FindCustomerByID(ctx, c.ID); err != nil {
				return err
			}
			stages = append(stages, c.Stage)
			c.Tags = append(c.Tags, "changed by a reader") // must not reach the next reader
			c.Stage = "garbage"
			return nil
		}}
	}
	upsertCount := int64(0)
	mark := stepProc{"mark", func(context.Context, *store.Event) error { upsertCount = base.reads.Load(); return nil }}
	stage := stepProc{"stage", func(ctx context.Context, ev *store.Event) error {
		c, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: ev.CustomerID})
		if err != nil {
			return err
		}
		s := store.StageActive
		_, err = st.UpdateCustomer(ctx, c.ID, store.CustomerUpdate{Stage: &s, Now: now})
		return err
	}}
	after := stepProc{"after", func(context.Context, *store.Event) error {
		readsAfterUpsert = append(readsAfterUpsert, base.reads.Load()-upsertCount)
		return nil
	}}
	p := bot.NewPipeline(st, bot.PipelineOptions{Owner: "memo", Now: func() time.Time { return now }},
		bot.NewCustomers(st, nil), mark, read("r1"), read("r2"), after, stage, read("r3"), read("r4"))
	for i := range 3 {
		if _, err := st.AppendEvents(ctx, []*store.Event{{DedupKey: fmt.Sprint("memo:", i), Channel: store.ChannelOA, Kind: "text",
			FromID: "oMemo", CustomerID: "oMemo", Text: "你好", OccurredAt: now, ReceivedAt: now}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.RunOnce(ctx); err != nil || n != 3 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	for i, n := range readsAfterUpsert {
		if n != 0 {
			t.Errorf("event %d: %d customer reads reached the store after the upsert, want 0", i, n)
		}
	}
	// Per event: r1, r2 read the stage the upsert left (lead on the first
	// event, active after), r3 and r4 the stage the "stage" processor set.
	want := []string{store.StageLead, store.StageLead, store.StageActive, store.StageActive}
	for i := range 3 {
		got := stages[4*i : 4*i+4]
		if i > 0 {
			want[0], want[1] = store.StageActive, store.StageActive
		}
		for k := range got {
			if got[k] != want[k] {
				t.Errorf("event %d reader %d saw stage %q, want %q", i, k+1, got[k], want[k])
			}
		}
	}
	c, err := base.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: "oMemo"})
	if err != nil || len(c.Tags) != 0 {
		t.Fatalf("stored customer %+v, %v: a reader's change to its copy leaked", c, err)
	}
}

// markerCountingStore counts the marker and job writes that reach the
// store one by one.
type markerCountingStore struct {
	store.Store
	single atomic.Int64
}

func (s *markerCountingStore) SetMarker(ctx context.Context, kind, key, value string, at time.Time) error {
	s.single.Add(1)
	return s.Store.SetMarker(ctx, kind, key, value, at)
}

func (s *markerCountingStore) ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error {
	s.single.Add(1)
	return s.Store.ScheduleJob(ctx, key, kind, payload, dueAt)
}

// TestKeptWritesWaitForTheBatch: markers and jobs a processor marks
// WithBatch reach the store with the batch (not one by one), are seen by
// the event's later processors before that, and are not written for an
// event that failed: its rerun makes them again.
func TestKeptWritesWaitForTheBatch(t *testing.T) {
	ctx := context.Background()
	base := &markerCountingStore{Store: openStore(t)}
	st := bot.ShareEventCustomers(base)
	now := time.Now().UTC()
	failing := map[string]bool{"kept:3": true}
	var seen atomic.Int64
	keep := stepProc{"keep", func(ctx context.Context, ev *store.Event) error {
		if err := st.SetMarker(bot.WithBatch(ctx), store.MarkInboxAuto, ev.DedupKey, "none", now); err != nil {
			return err
		}
		return st.ScheduleJob(bot.WithBatch(ctx), "job:"+ev.DedupKey, "kept-test", "", now)
	}}
	read := stepProc{"read", func(ctx context.Context, ev *store.Event) error {
		if v, err := st.GetMarker(ctx, store.MarkInboxAuto, ev.DedupKey); err != nil || v != "none" {
			return fmt.Errorf("kept marker of %s reads %q, %v", ev.DedupKey, v, err)
		}
		seen.Add(1)
		if failing[ev.DedupKey] {
			return fmt.Errorf("fails once")
		}
		return nil
	}}
	p := bot.NewPipeline(base, bot.PipelineOptions{Owner: "kept", Now: func() time.Time { return now }}, keep, read)
	for i := range 5 {
		if _, err := base.AppendEvents(ctx, []*store.Event{{DedupKey: fmt.Sprint("kept:", i), Channel: store.ChannelOA, Kind: "text",
			FromID: fmt.Sprint("oKept", i), CustomerID: fmt.Sprint("oKept", i), OccurredAt: now, ReceivedAt: now}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.RunOnce(ctx); err != nil || n != 5 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if seen.Load() != 5 || base.single.Load() != 0 {
		t.Fatalf("%d events read their kept marker, %d writes reached the store one by one; want 5, 0", seen.Load(), base.single.Load())
	}
	marker := func(key string) string {
		v, err := base.GetMarker(ctx, store.MarkInboxAuto, key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range 5 {
		key := fmt.Sprint("kept:", i)
		if want := map[bool]string{true: "", false: "none"}[failing[key]]; marker(key) != want {
			t.Errorf("marker of %s = %q, want %q", key, marker(key), want)
		}
	}
	if n, err := base.CountJobs(ctx, "kept-test"); err != nil || n != 4 {
		t.Errorf("%d jobs, %v; want 4 (not the failed event's)", n, err)
	}
	// The failed event's rerun writes them.
	delete(failing, "kept:3")
	later := now.Add(time.Hour)
	p = bot.NewPipeline(base, bot.PipelineOptions{Owner: "kept", Now: func() time.Time { return later }}, keep, read)
	if n, err := p.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("rerun: RunOnce = %d, %v", n, err)
	}
	if marker("kept:3") != "none" {
		t.Errorf("rerun left no marker")
	}
	if n, err := base.CountJobs(ctx, "kept-test"); err != nil || n != 5 {
		t.Errorf("%d jobs after the rerun, %v; want 5", n, err)
	}
}

// TestBatchKeepsEachTimelineInEventOrder: the customers processor writes a
// batch's messages in one call, but a customer's messages after another
// kind of event of theirs (a subscribe) wait for it, so every timeline
// lists the events in the order they were stored.
func TestBatchKeepsEachTimelineInEventOrder(t *testing.T) {
	ctx := context.Background()
	st := bot.ShareEventCustomers(openStore(t))
	now := time.Now().UTC()
	evs := []*store.Event{
		{Kind: "text", CustomerID: "oOrderX", Text: "先问一句"},
		{Kind: "event.subscribe", CustomerID: "oOrderX"},
		{Kind: "text", CustomerID: "oOrderX", Text: "关注后再问"},
		{Kind: "text", CustomerID: "oOrderY", Text: "另一位"},
		{Kind: "text", CustomerID: "oOrderX", Text: "第三句"},
	}
	for i, ev := range evs {
		ev.DedupKey, ev.Channel, ev.FromID = fmt.Sprint("order:", i), store.ChannelOA, ev.CustomerID
		ev.OccurredAt, ev.ReceivedAt = now.Add(time.Duration(i)*time.Second), now
	}
	if _, err := st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	p := bot.NewPipeline(st, bot.PipelineOptions{Owner: "order", Now: func() time.Time { return now }}, bot.NewCustomers(st, nil))
	if n, err := p.RunOnce(ctx); err != nil || n != len(evs) {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	for who, want := range map[string][]string{
		"oOrderX": {"event:order:0", "event:order:1", "event:order:2", "event:order:4"},
		"oOrderY": {"event:order:3"},
	} {
		c, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: who})
		if err != nil {
			t.Fatal(err)
		}
		tl, err := st.FindTimeline(ctx, c.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i := len(tl) - 1; i >= 0; i-- { // oldest first
			got = append(got, tl[i].SourceKey)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s's timeline in ID order %v, want %v", who, got, want)
		}
	}
}
