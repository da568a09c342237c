package bot_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// tagEnv is a TagSync over a real SQLite store and a real WeCom client
// talking to the simulator.
type tagEnv struct {
	st   *sqlite.DB
	sim  *wecomtest.Simulator
	api  *wecom.APIClient
	sync *bot.TagSync
	*testClock
	vip  string // tag ids in the simulator
	edu  string
	norm string
}

func newTagEnv(t *testing.T) *tagEnv {
	t.Helper()
	e := &tagEnv{st: openStore(t), testClock: newTestClock(t0)}
	e.sim = wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { e.sim.Close() })
	e.api = simClient(t, e.sim, nil)
	_, e.vip = e.sim.AddTag("客户价值", "VIP")
	_, e.norm = e.sim.AddTag("客户价值", "普通")
	_, e.edu = e.sim.AddTag("行业", "教育")
	for _, s := range []string{"s1", "s2", "s3"} {
		e.sim.AddStaff(wecomtest.Staff{UserID: s, Name: s})
	}
	e.sync = bot.NewTagSync(e.st, e.api, bot.TagSyncOptions{Now: e.Now})
	return e
}

// drain runs due jobs of both kinds, moving the clock past every retry,
// until none is left.
func (e *tagEnv) drain(t *testing.T, o bot.RunnerOptions) {
	t.Helper()
	o.Now = e.Now
	runners := e.sync.Runners(e.st, o)
	for range 30 {
		for _, r := range runners {
			if _, err := r.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		n, err := e.st.CountJobs(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		e.Add(time.Hour)
	}
	t.Fatal("jobs did not drain")
}

// customer creates a scrm customer for a WeCom contact followed by staff.
func (e *tagEnv) customer(t *testing.T, ext string, staff ...string) *store.Customer {
	t.Helper()
	var c *store.Customer
	var err error
	for _, s := range staff {
		c, err = e.st.UpsertCustomer(context.Background(), store.CustomerUpsert{
			Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext},
			Follow:   &store.Follow{StaffID: s, AddedAt: t0}, Now: t0,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// editInScrm changes tags as the API does: update, then a write-back job
// per tag.
func (e *tagEnv) editInScrm(t *testing.T, id string, add, remove []string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.st.UpdateCustomer(ctx, id, store.CustomerUpdate{AddTags: add, RemoveTags: remove, Now: e.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range slices.Concat(add, remove) {
		key, payload := bot.MarkTagJob(id, tag)
		if err := e.st.ScheduleJob(ctx, key, bot.JobMarkTag, payload, e.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *tagEnv) tags(t *testing.T, id string) []string {
	t.Helper()
	out := slices.Clone(loadCustomer(t, e.st, id).Tags)
	slices.Sort(out)
	return out
}

// wecomTags returns the tag ids a staff member has on a contact in the simulator.
func (e *tagEnv) wecomTags(t *testing.T, ext, staff string) []string {
	t.Helper()
	c, ok := e.sim.ExternalContact(ext)
	if !ok {
		t.Fatalf("no contact %s", ext)
	}
	for _, f := range c.Follow {
		if f.UserID == staff {
			ids := slices.Clone(f.TagIDs)
			slices.Sort(ids)
			return ids
		}
	}
	t.Fatalf("%s does not follow %s", staff, ext)
	return nil
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestTagCatalogueSync(t *testing.T) {
	e := newTagEnv(t)
	ctx := context.Background()
	if err := e.st.UpsertTags(ctx, []store.Tag{{ID: "local:自定义", Name: "自定义", Local: true}}); err != nil {
		t.Fatal(err)
	}
	if err := e.sync.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.drain(t, bot.RunnerOptions{})
	names := func() []string {
		tags, err := e.st.FindTags(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tg := range tags {
			out = append(out, fmt.Sprintf("%s/%s/%t", tg.GroupName, tg.Name, tg.Local))
		}
		slices.Sort(out)
		return out
	}
	want := []string{"/自定义/true", "客户价值/VIP/false", "客户价值/普通/false", "行业/教育/false"}
	if got := names(); !slices.Equal(got, want) {
		t.Fatalf("after start-up sync: %v, want %v", got, want)
	}

	// A tag deleted and one created in WeCom arrive as change_external_tag
	// events; a burst of them costs one sync.
	if err := e.api.DelCorpTag(ctx, []string{e.norm}, nil); err != nil {
		t.Fatal(err)
	}
	e.sim.AddTag("行业", "金融")
	calls := e.sim.Calls("externalcontact/get_corp_tag_list")
	for i, change := range []string{"delete", "create"} {
		ev := &store.Event{ID: int64(i + 1), Channel: store.ChannelWeCom, Kind: "event.change_external_tag." + change}
		if err := e.sync.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := e.st.CountJobs(ctx, bot.JobTagSync); n != 1 {
		t.Fatalf("%d sync jobs pending, want 1", n)
	}
	e.Add(5 * time.Second)
	e.drain(t, bot.RunnerOptions{})
	if got := e.sim.Calls("externalcontact/get_corp_tag_list") - calls; got != 1 {
		t.Errorf("%d syncs for a burst of events, want 1", got)
	}
	want = []string{"/自定义/true", "客户价值/VIP/false", "行业/教育/false", "行业/金融/false"}
	if got := names(); !slices.Equal(got, want) {
		t.Fatalf("after events: %v, want %v", got, want)
	}

	// A WeCom outage fails the sync job; it is retried, not lost.
	e.sim.Fail("externalcontact/get_corp_tag_list", -1, 6)
	if err := e.sync.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.drain(t, bot.RunnerOptions{})
	if got := names(); !slices.Equal(got, want) {
		t.Fatalf("after outage: %v, want %v", got, want)
	}
}

func TestTagsFromWeComEdits(t *testing.T) {
	e := newTagEnv(t)
	ctx := context.Background()
	e.drainStart(t)
	c := e.customer(t, "wm-1", "s1", "s2")
	e.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wm-1", Name: "客户一", Follow: []wecomtest.Follow{
		{UserID: "s1", TagIDs: []string{e.vip}}, {UserID: "s2"},
	}})
	steps := []struct {
		name   string
		change string
		wecom  map[string][]string // staff → tag ids in WeCom before the event
		scrm   func()              // an edit in scrm before the event, not yet written back
		want   []string
	}{
		{name: "tags on add", change: "add_external_contact", want: []string{"VIP"}},
		{name: "edit: s1 swaps VIP for 教育", change: "edit_external_contact",
			wecom: map[string][]string{"s1": {e.edu}, "s2": {}}, want: []string{"教育"}},
		{name: "union over follows: s2 adds VIP", change: "edit_external_contact",
			wecom: map[string][]string{"s1": {e.edu}, "s2": {e.vip}}, want: []string{"VIP", "教育"}},
		{name: "a tag only scrm has survives an unrelated edit", change: "edit_external_contact",
			scrm: func() { e.editInScrm(t, c.ID, []string{"普通", "自定义"}, nil) },
			want: []string{"VIP", "教育", "普通", "自定义"}},
		{name: "a tag removed in scrm is not brought back by an edit", change: "edit_external_contact",
			scrm: func() { e.editInScrm(t, c.ID, nil, []string{"VIP"}) },
			want: []string{"教育", "普通", "自定义"}},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.wecom != nil {
				var follows []wecomtest.Follow
				for _, staff := range []string{"s1", "s2"} {
					follows = append(follows, wecomtest.Follow{UserID: staff, TagIDs: s.wecom[staff]})
				}
				e.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wm-1", Name: "客户一", Follow: follows})
			}
			if s.scrm != nil {
				s.scrm()
			}
			ev := contact(s.change, "s1", "wm-1", t0.Add(time.Duration(i)*time.Minute))
			if err := e.sync.Process(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if got := e.tags(t, c.ID); !slices.Equal(got, sorted(s.want...)) {
				t.Fatalf("scrm tags %v, want %v", got, sorted(s.want...))
			}
		})
	}
	// Writing back makes WeCom agree for every follow: 普通 added, VIP
	// removed; the local tag stays in scrm only.
	e.drain(t, bot.RunnerOptions{})
	for _, staff := range []string{"s1", "s2"} {
		got := e.wecomTags(t, "wm-1", staff)
		if !slices.Contains(got, e.norm) || slices.Contains(got, e.vip) {
			t.Errorf("%s in WeCom: %v, want 普通 and no VIP", staff, got)
		}
	}
	// Our own write-back does not come back as a WeCom-side change.
	if err := e.sync.Process(ctx, contact("edit_external_contact", "s2", "wm-1", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got, want := e.tags(t, c.ID), sorted("教育", "普通", "自定义"); !slices.Equal(got, want) {
		t.Errorf("after write-back and edit: %v, want %v", got, want)
	}
	// A contact WeCom no longer knows is not an error (the event is done).
	if err := e.sync.Process(ctx, contact("edit_external_contact", "s1", "wm-unknown", t0)); err != nil {
		t.Errorf("unknown contact: %v", err)
	}
}

// TestEndedFollowKeepsTags: a follow that ends (the customer deleted the
// salesperson, or was handed over) takes no tags off the customer; a tag the
// remaining salesperson removes does go.
func TestEndedFollowKeepsTags(t *testing.T) {
	e := newTagEnv(t)
	ctx := context.Background()
	e.drainStart(t)
	c := e.customer(t, "wm-3", "s1", "s2")
	pull := func(i int, follows ...wecomtest.Follow) {
		t.Helper()
		e.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wm-3", Name: "客户三", Follow: follows})
		if err := e.sync.Process(ctx, contact("edit_external_contact", "s1", "wm-3", t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	pull(0, wecomtest.Follow{UserID: "s1", TagIDs: []string{e.vip}}, wecomtest.Follow{UserID: "s2", TagIDs: []string{e.edu}})
	if got, want := e.tags(t, c.ID), sorted("VIP", "教育"); !slices.Equal(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	pull(1, wecomtest.Follow{UserID: "s1", TagIDs: []string{e.vip}}) // s2's follow ended
	if got, want := e.tags(t, c.ID), sorted("VIP", "教育"); !slices.Equal(got, want) {
		t.Fatalf("after s2's follow ended: %v, want %v", got, want)
	}
	pull(2, wecomtest.Follow{UserID: "s1"}) // s1 removes VIP in WeCom
	if got, want := e.tags(t, c.ID), sorted("教育"); !slices.Equal(got, want) {
		t.Fatalf("after s1 removed VIP: %v, want %v", got, want)
	}
}

func (e *tagEnv) drainStart(t *testing.T) {
	t.Helper()
	if err := e.sync.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.drain(t, bot.RunnerOptions{})
}

func TestTagWriteBack(t *testing.T) {
	e := newTagEnv(t)
	e.drainStart(t)
	ctx := context.Background()
	c := e.customer(t, "wm-2", "s1", "s2", "s3")
	if _, err := e.st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wm-2"},
		Unfollow: "s3", Now: t0}); err != nil {
		t.Fatal(err)
	}
	// s2 follows in scrm but no longer in WeCom: mark_tag rejects it.
	e.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: "wm-2", Name: "客户二", Follow: []wecomtest.Follow{
		{UserID: "s1", TagIDs: []string{e.edu}}, {UserID: "s3"},
	}})

	t.Run("an outage delays the write and loses nothing", func(t *testing.T) {
		e.editInScrm(t, c.ID, []string{"VIP"}, []string{"教育"})
		e.sim.Fail("externalcontact/mark_tag", -1, 12)
		o := bot.RunnerOptions{Now: e.Now}
		for _, r := range e.sync.Runners(e.st, o) {
			if _, err := r.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := e.st.CountJobs(ctx, bot.JobMarkTag); n != 2 {
			t.Fatalf("%d jobs pending after the failed run, want 2", n)
		}
		if got := e.wecomTags(t, "wm-2", "s1"); !slices.Equal(got, []string{e.edu}) {
			t.Fatalf("WeCom changed during the outage: %v", got)
		}
		e.Add(time.Hour)
		e.drain(t, bot.RunnerOptions{})
		if got := e.wecomTags(t, "wm-2", "s1"); !slices.Equal(got, []string{e.vip}) {
			t.Fatalf("s1 in WeCom: %v, want VIP only", got)
		}
		// s3's follow ended in scrm: their WeCom view is left alone.
		if got := e.wecomTags(t, "wm-2", "s3"); len(got) != 0 {
			t.Errorf("s3 in WeCom: %v, want untouched", got)
		}
	})
	t.Run("local tags are not written", func(t *testing.T) {
		before := e.sim.Calls("externalcontact/mark_tag")
		e.editInScrm(t, c.ID, []string{"自定义"}, nil)
		e.drain(t, bot.RunnerOptions{})
		if got := e.sim.Calls("externalcontact/mark_tag") - before; got != 0 {
			t.Errorf("%d mark_tag calls for a local tag", got)
		}
	})
	t.Run("add then remove before the job runs writes the final state", func(t *testing.T) {
		e.editInScrm(t, c.ID, []string{"普通"}, nil)
		e.editInScrm(t, c.ID, nil, []string{"普通"})
		if n, _ := e.st.CountJobs(ctx, bot.JobMarkTag); n != 1 {
			t.Errorf("%d jobs, want the two edits coalesced into 1", n)
		}
		e.drain(t, bot.RunnerOptions{})
		if got := e.wecomTags(t, "wm-2", "s1"); !slices.Equal(got, []string{e.vip}) {
			t.Errorf("s1 in WeCom: %v, want VIP only", got)
		}
	})
	t.Run("mark_tag concurrency stays within WeCom's limit", func(t *testing.T) {
		for i := range 24 {
			ext := fmt.Sprintf("wm-many-%d", i)
			cu := e.customer(t, ext, "s1")
			e.sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Follow: []wecomtest.Follow{{UserID: "s1"}}})
			e.editInScrm(t, cu.ID, []string{"VIP"}, nil)
		}
		e.sim.SetLatency("externalcontact/mark_tag", 20*time.Millisecond)
		e.drain(t, bot.RunnerOptions{Workers: 12, Batch: 24})
		if got := e.sim.MaxConcurrent("externalcontact/mark_tag"); got > 5 || got < 2 {
			t.Errorf("%d mark_tag calls at once, want 2..5", got)
		}
		for i := range 24 {
			if got := e.wecomTags(t, fmt.Sprintf("wm-many-%d", i), "s1"); !slices.Equal(got, []string{e.vip}) {
				t.Fatalf("wm-many-%d: %v", i, got)
			}
		}
	})
}
