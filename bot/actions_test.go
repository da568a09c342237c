package bot_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
)

var errCrash = errors.New("injected crash")

// crashAt is a store that fails its nth write, as if the process died
// there: the writes before it are durable, the rest never happen.
type crashAt struct {
	bot.ActionStore
	n, writes int
}

func (c *crashAt) write() error {
	c.writes++
	if c.writes == c.n {
		return errCrash
	}
	if c.n > 0 && c.writes > c.n {
		return errCrash // dead: nothing after the crash runs
	}
	return nil
}

func (c *crashAt) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.ActionStore.AppendAudit(ctx, e)
}

func (c *crashAt) AppendTimeline(ctx context.Context, e *store.TimelineEntry) (bool, error) {
	if err := c.write(); err != nil {
		return false, err
	}
	return c.ActionStore.AppendTimeline(ctx, e)
}

func (c *crashAt) UpdateCustomer(ctx context.Context, id string, upd store.CustomerUpdate) (*store.Customer, error) {
	if err := c.write(); err != nil {
		return nil, err
	}
	return c.ActionStore.UpdateCustomer(ctx, id, upd)
}

func (c *crashAt) UpsertTags(ctx context.Context, tags []store.Tag) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.ActionStore.UpsertTags(ctx, tags)
}

func (c *crashAt) ScheduleJob(ctx context.Context, key, kind, payload string, dueAt time.Time) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.ActionStore.ScheduleJob(ctx, key, kind, payload, dueAt)
}

var actT0 = time.Date(2024, 6, 1, 2, 0, 0, 0, time.UTC)

// actFixture is a customer followed by s1, at stage 跟进中 with the corp tag
// VIP, and a catalogue with the corp tag 重点.
func actFixture(t *testing.T) (*sqlite.DB, string) {
	t.Helper()
	st := openStore(t)
	ctx := context.Background()
	c, err := st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: "wm1"},
		Name: "张三", Stage: store.StageActive, AddTags: []string{"VIP"}, Follow: &store.Follow{StaffID: "s1", AddedAt: actT0}, Now: actT0})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertTags(ctx, []store.Tag{{ID: "et-vip", Name: "VIP"}, {ID: "et-key", Name: "重点"}}); err != nil {
		t.Fatal(err)
	}
	return st, c.ID
}

// actionState is what an action leaves behind, without IDs.
type actionState struct {
	Stage    string
	Tags     []string
	Entries  []string // kind|staff|text|attrs of every entry
	Jobs     int64
	Audits   int
	Catalog  []string
	Customer string
}

func stateOf(t *testing.T, st *sqlite.DB, id string) actionState {
	t.Helper()
	ctx := context.Background()
	c, err := st.FindCustomerByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.FindTimeline(ctx, id, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	s := actionState{Stage: c.Stage, Tags: slices.Sorted(slices.Values(c.Tags)), Customer: c.Name}
	for _, e := range es {
		s.Entries = append(s.Entries, fmt.Sprintf("%s|%s|%s|%v|%s", e.Kind, e.StaffID, e.Text, e.Attrs, e.SourceKey))
	}
	if s.Jobs, err = st.CountJobs(ctx, bot.JobMarkTag); err != nil {
		t.Fatal(err)
	}
	tags, _ := st.FindTags(ctx)
	for _, tg := range tags {
		s.Catalog = append(s.Catalog, tg.ID)
	}
	return s
}

// TestActionsCrashBetweenStepsIsRepairedByARetry injects a crash at every
// write of an action in turn and retries the action with the same key: the
// result must equal an action that never crashed (the audit log may hold
// the intent twice, never zero times).
func TestActionsCrashBetweenStepsIsRepairedByARetry(t *testing.T) {
	s1 := bot.Actor{Viewer: bot.Viewer{StaffID: "s1", Role: bot.RoleSales}, Source: bot.SourceBot}
	clock := func() time.Time { return actT0 }
	actions := map[string]func(ctx context.Context, c *bot.Core, id string) error{
		"note": func(ctx context.Context, c *bot.Core, id string) error {
			_, _, err := c.AddNote(ctx, s1, bot.NoteRequest{CustomerID: id, Text: "电话沟通，下周二回访", Key: "k1", At: actT0})
			return err
		},
		"stage": func(ctx context.Context, c *bot.Core, id string) error {
			_, _, err := c.ChangeStage(ctx, s1, bot.StageRequest{CustomerID: id, Stage: store.StageWon, Key: "k1", At: actT0})
			return err
		},
		"tags": func(ctx context.Context, c *bot.Core, id string) error {
			// A manager: only admins and managers add names the catalogue
			// lacks, and the new local tag is one of the writes to crash at.
			mgr := bot.Actor{Viewer: bot.Viewer{StaffID: "m1", Role: bot.RoleManager, Team: []string{"m1", "s1"}}, Source: bot.SourceBot}
			_, err := c.EditTags(ctx, mgr, bot.TagsRequest{CustomerID: id, Add: []string{"重点", "新标签"}, Remove: []string{"VIP"}, Key: "k1", At: actT0})
			return err
		},
		"fields": func(ctx context.Context, c *bot.Core, id string) error {
			name := "张三丰"
			_, err := c.EditFields(ctx, s1, bot.FieldsRequest{CustomerID: id, Name: &name, Key: "k1", At: actT0})
			return err
		},
	}
	for name, act := range actions {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			// The action without a crash, and how many writes it makes.
			clean, id := actFixture(t)
			counter := &crashAt{ActionStore: clean}
			if err := act(ctx, bot.NewCore(counter, clock), id); err != nil {
				t.Fatal(err)
			}
			want := stateOf(t, clean, id)
			if counter.writes < 2 {
				t.Fatalf("%d writes: nothing to crash between", counter.writes)
			}
			for n := 1; n <= counter.writes; n++ {
				st, id := actFixture(t)
				if err := act(ctx, bot.NewCore(&crashAt{ActionStore: st, n: n}, clock), id); !errors.Is(err, errCrash) {
					t.Fatalf("crash at write %d: %v", n, err)
				}
				if err := act(ctx, bot.NewCore(st, clock), id); err != nil {
					t.Fatalf("retry after a crash at write %d: %v", n, err)
				}
				got := stateOf(t, st, id)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("crash at write %d of %d, then retry:\n got %+v\nwant %+v", n, counter.writes, got, want)
				}
				audit, err := st.FindAudit(ctx, id, 0, 10)
				if err != nil || len(audit) == 0 {
					t.Errorf("crash at write %d: no audit entry (%v)", n, err)
				}
				// Repeating the completed action changes nothing more.
				if err := act(ctx, bot.NewCore(st, clock), id); err != nil {
					t.Fatal(err)
				}
				if again := stateOf(t, st, id); fmt.Sprint(again) != fmt.Sprint(want) {
					t.Errorf("a repeated %s changed the state:\n got %+v\nwant %+v", name, again, want)
				}
			}
		})
	}
}

// TestActionsRefuseBadInputAndInvisibleCustomers: validation errors wrap
// store.ErrInvalid, a role that may not wraps ErrForbidden, a customer the
// actor cannot see is store.ErrNotFound — and none of them writes.
func TestActionsRefuseBadInputAndInvisibleCustomers(t *testing.T) {
	ctx := context.Background()
	st, id := actFixture(t)
	core := bot.NewCore(st, func() time.Time { return actT0 })
	s1 := bot.Actor{Viewer: bot.Viewer{StaffID: "s1", Role: bot.RoleSales}, Source: bot.SourceAPI}
	other := bot.Actor{Viewer: bot.Viewer{StaffID: "s2", Role: bot.RoleSales}, Source: bot.SourceBot}
	before := stateOf(t, st, id)
	long := string(make([]rune, bot.MaxNoteRunes+1))
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"empty note", second(core.AddNote(ctx, s1, bot.NoteRequest{CustomerID: id, Text: "  "})), store.ErrInvalid},
		{"long note", second(core.AddNote(ctx, s1, bot.NoteRequest{CustomerID: id, Text: long})), store.ErrInvalid},
		{"unknown stage", second(core.ChangeStage(ctx, s1, bot.StageRequest{CustomerID: id, Stage: "不存在"})), store.ErrInvalid},
		{"long tag", first(core.EditTags(ctx, s1, bot.TagsRequest{CustomerID: id, Add: []string{string(make([]rune, 65))}})), store.ErrInvalid},
		{"invisible note", second(core.AddNote(ctx, other, bot.NoteRequest{CustomerID: id, Text: "x"})), store.ErrNotFound},
		{"invisible stage", second(core.ChangeStage(ctx, other, bot.StageRequest{CustomerID: id, Stage: store.StageWon})), store.ErrNotFound},
		{"sales merge", first(core.Merge(ctx, s1, id, "other")), bot.ErrForbidden},
		{"sales erase", core.Erase(ctx, s1, id), bot.ErrForbidden},
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if after := stateOf(t, st, id); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused action changed the state:\n got %+v\nwant %+v", after, before)
	}
	if audit, _ := st.FindAudit(ctx, id, 0, 10); len(audit) != 0 {
		t.Errorf("refused actions were audited: %+v", audit)
	}
}

func first[A any](_ A, err error) error          { return err }
func second[A, B any](_ A, _ B, err error) error { return err }

// TestSystemStageChangesShareTheSchema: the cadences and the analysis
// write the same stage entry as a person, by "system".
func TestSystemStageChangesShareTheSchema(t *testing.T) {
	ctx := context.Background()
	st, id := actFixture(t)
	core := bot.NewCore(st, func() time.Time { return actT0 })
	if _, _, err := core.ChangeStage(ctx, bot.SystemActor(bot.SourceCadence), bot.StageRequest{CustomerID: id, Stage: store.StageDormant,
		Key: "dormant:x", Reason: "30 天没有互动"}); err != nil {
		t.Fatal(err)
	}
	es, _ := st.FindTimeline(ctx, id, 0, 1)
	e := es[0]
	want := map[string]string{"from": store.StageActive, "to": store.StageDormant, "by": "system", "source": "cadence", "reason": "30 天没有互动"}
	if e.Kind != store.EntryStage || e.Text != "阶段："+store.StageActive+" → "+store.StageDormant+"（30 天没有互动）" || fmt.Sprint(e.Attrs) != fmt.Sprint(want) {
		t.Errorf("system stage entry %+v", e)
	}
}

// TestAddNoteKeyHoldsTheTextAndPrivacy: under one idempotency key (a bot
// command's time is only to the second) two notes with different texts are
// both kept, a retry of the same note is stored once, and a private note
// is marked and kept apart from a shared one with the same text.
func TestAddNoteKeyHoldsTheTextAndPrivacy(t *testing.T) {
	ctx := context.Background()
	st, id := actFixture(t)
	core := bot.NewCore(st, func() time.Time { return actT0 })
	s1 := bot.Actor{Viewer: bot.Viewer{StaffID: "s1", Role: bot.RoleSales}, Source: bot.SourceBot}
	notes := []struct {
		text    string
		private bool
		new     bool
	}{
		{"电话沟通", false, true},
		{"预算 50 万", false, true},
		{"电话沟通", false, false}, // a retry
		{"电话沟通", true, true},
	}
	for _, n := range notes {
		e, inserted, err := core.AddNote(ctx, s1, bot.NoteRequest{CustomerID: id, Text: n.text, Private: n.private, Key: "same-second", At: actT0})
		if err != nil || inserted != n.new {
			t.Fatalf("note %q private=%t: inserted %t %v, want %t", n.text, n.private, inserted, err, n.new)
		}
		if (e.Attrs[store.AttrPrivate] == "true") != n.private || e.Attrs["source"] != "bot" || e.Attrs["author"] != "s1" {
			t.Errorf("note %q attrs %v", n.text, e.Attrs)
		}
	}
	es, err := st.FindTimeline(ctx, id, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	stored := slices.DeleteFunc(es, func(e *store.TimelineEntry) bool { return e.Kind != store.EntryNote })
	if len(stored) != 3 {
		t.Errorf("%d notes, want 3", len(stored))
	}
	// A colleague reads the shared notes only.
	if vis := (bot.Viewer{StaffID: "s2", Role: bot.RoleSales}).VisibleEntries(stored); len(vis) != 2 {
		t.Errorf("s2 reads %d notes, want the 2 shared ones", len(vis))
	}
}
