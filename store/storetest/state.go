package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

var stateTests = []namedTest{
	{"Handovers", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		if _, err := s.FindHandover(ctx, "c1", "zhangsan"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("FindHandover of none = %v, want ErrNotFound", err)
		}
		if err := s.PutHandover(ctx, &store.Handover{CustomerID: "c1", From: "zhangsan"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("PutHandover without ID = %v, want ErrInvalid", err)
		}
		pending := &store.Handover{ID: "h1", CustomerID: "c1", ExternalUserID: "wm1", From: "zhangsan", To: "lisi",
			Message: "您好", By: "admin", Status: "pending", StartedAt: base.In(cst)}
		mustNil(t, s.PutHandover(ctx, pending))
		checkHandover(t, s, "c1", "zhangsan", pending)
		// Another member's handover of the customer is its own record.
		other := &store.Handover{ID: "h2", CustomerID: "c1", From: "wangwu", To: "lisi", Resigned: true, Status: "pending", StartedAt: base}
		mustNil(t, s.PutHandover(ctx, other))
		// A put replaces the whole record: the settled state, then a new
		// handover of the same pair.
		takeover, finished := base.Add(24*time.Hour), base.Add(25*time.Hour)
		done := *pending
		done.Submitted, done.Status, done.TakeoverAt, done.FinishedAt = true, "done", &takeover, &finished
		mustNil(t, s.PutHandover(ctx, &done))
		checkHandover(t, s, "c1", "zhangsan", &done)
		again := &store.Handover{ID: "h3", CustomerID: "c1", ExternalUserID: "wm1", From: "zhangsan", To: "zhaoliu",
			Status: "failed", Reason: "客户不存在", StartedAt: finished}
		mustNil(t, s.PutHandover(ctx, again))
		checkHandover(t, s, "c1", "zhangsan", again)
		checkHandover(t, s, "c1", "wangwu", other)
	}},
	{"InboxOffersAndClaims", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		if _, err := s.FindInboxOffer(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("FindInboxOffer of none = %v, want ErrNotFound", err)
		}
		if err := s.PutInboxOffer(ctx, &store.InboxOffer{Round: 1}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("PutInboxOffer without customer = %v, want ErrInvalid", err)
		}
		first := &store.InboxOffer{CustomerID: "c1", Round: 1, To: []string{"zhangsan", "lisi"}, At: base.In(cst), Opener: "msg:oa:1"}
		mustNil(t, s.PutInboxOffer(ctx, first))
		checkOffer(t, s, first)
		second := &store.InboxOffer{CustomerID: "c1", Round: 2, To: []string{"wangwu"}, At: base.Add(time.Hour), Opener: "msg:oa:7", ClaimedBy: "wangwu"}
		mustNil(t, s.PutInboxOffer(ctx, second))
		checkOffer(t, s, second)
		// An offer to nobody (a round cleared) reads back without targets.
		empty := &store.InboxOffer{CustomerID: "c2", Round: 3, At: base}
		mustNil(t, s.PutInboxOffer(ctx, empty))
		checkOffer(t, s, empty)

		winner := func(customer string, round int, want string) {
			t.Helper()
			if got, err := s.ClaimWinner(ctx, customer, round); err != nil || got != want {
				t.Errorf("ClaimWinner(%s, %d) = %q, %v; want %q", customer, round, got, err, want)
			}
		}
		winner("c1", 1, "")
		mustNil(t, s.SetClaimWinner(ctx, "c1", 1, "lisi"))
		mustNil(t, s.SetClaimWinner(ctx, "c1", 2, "wangwu"))
		winner("c1", 1, "lisi")
		winner("c1", 2, "wangwu")
		winner("c2", 1, "")
	}},
	{"KFAccounts", func(t *testing.T, s store.Store) {
		ctx := ctxFor(t)
		account := func(ext, want string) {
			t.Helper()
			if got, err := s.KFAccount(ctx, ext); err != nil || got != want {
				t.Errorf("KFAccount(%s) = %q, %v; want %q", ext, got, err, want)
			}
		}
		account("wm1", "")
		mustNil(t, s.SetKFAccount(ctx, "wm1", "wk1"))
		mustNil(t, s.SetKFAccount(ctx, "wm2", "wk1"))
		mustNil(t, s.SetKFAccount(ctx, "wm1", "wk2")) // wrote to another account since
		account("wm1", "wk2")
		account("wm2", "wk1")
	}},
}

func checkHandover(t *testing.T, s store.Store, customer, from string, want *store.Handover) {
	t.Helper()
	got, err := s.FindHandover(ctxFor(t), customer, from)
	if err != nil {
		t.Fatalf("FindHandover(%s, %s): %v", customer, from, err)
	}
	checkUTC(t, "handover started_at", got.StartedAt, want.StartedAt)
	checkUTCPtr(t, "handover takeover_at", got.TakeoverAt, want.TakeoverAt)
	checkUTCPtr(t, "handover finished_at", got.FinishedAt, want.FinishedAt)
	g, w := *got, *want
	g.StartedAt, g.TakeoverAt, g.FinishedAt = time.Time{}, nil, nil
	w.StartedAt, w.TakeoverAt, w.FinishedAt = time.Time{}, nil, nil
	if g != w {
		t.Errorf("handover of %s by %s = %+v, want %+v", customer, from, g, w)
	}
}

func checkOffer(t *testing.T, s store.Store, want *store.InboxOffer) {
	t.Helper()
	got, err := s.FindInboxOffer(ctxFor(t), want.CustomerID)
	if err != nil {
		t.Fatalf("FindInboxOffer(%s): %v", want.CustomerID, err)
	}
	checkUTC(t, "offer at", got.At, want.At)
	if got.CustomerID != want.CustomerID || got.Round != want.Round || !slices.Equal(got.To, want.To) ||
		got.Opener != want.Opener || got.ClaimedBy != want.ClaimedBy {
		t.Errorf("offer = %+v, want %+v", got, want)
	}
}

// StateMovedOnOpen checks the upgrade of a database from before handovers
// and the inbox had typed state: old holds that state as cursors (JSON for
// handovers and offers); reopened, the state reads back typed, the cursors
// are gone, and cursors that are not such state stay. A second open
// changes nothing, and a typed record is never set back by a cursor left
// behind by a move cut short.
func StateMovedOnOpen(t *testing.T, old store.Store, reopen func() store.Store) {
	t.Helper()
	ctx := ctxFor(t)
	cursors := map[string]string{
		"handover:c1:zhangsan": `{"id":"h1","customer_id":"c1","external_userid":"wm1","from":"zhangsan","to":"lisi",` +
			`"resigned":false,"message":"您好","by":"admin","status":"pending","submitted":true,` +
			`"started_at":"2025-03-01T08:00:00Z","takeover_at":"2025-03-02T08:00:00Z"}`,
		"handover:c2:wangwu": `{"id":"h2","customer_id":"c2","external_userid":"wm2","from":"wangwu","to":"lisi",` +
			`"resigned":true,"by":"boss","status":"refused","submitted":true,"started_at":"2025-03-01T08:00:00Z",` +
			`"finished_at":"2025-03-01T09:00:00Z"}`,
		"inbox:offer:c3":     `{"round":2,"to":["lisi","wangwu"],"at":"2025-03-01T08:00:00Z","opener":"msg:kf:9","claimed_by":"lisi"}`,
		"inbox:claimed:c3:2": "lisi",
		"inbox:claimed:c3:1": "wangwu",
		"kf:account:wm3":     "wk1",
		// Not handover or inbox state: stay cursors.
		"kf:wk1":          "sync-cursor",
		"inbox:rr:9f3a":   "4",
		"handover-report": "x",
		// A value nothing could read before either: left where it is.
		"handover:c9:zhangsan": "{not json",
	}
	for name, v := range cursors {
		mustNil(t, old.SetCursor(ctx, name, v))
	}
	// The new code has already written c1's handover onward (another
	// instance, or a move that died before deleting the cursors): the
	// stale cursor must not set it back.
	takeover, finished := base.Add(24*time.Hour), base.Add(25*time.Hour)
	c4 := &store.Handover{ID: "h4", CustomerID: "c4", ExternalUserID: "wm4", From: "zhangsan", To: "lisi",
		Status: "done", Submitted: true, StartedAt: base, TakeoverAt: &takeover, FinishedAt: &finished}
	mustNil(t, old.PutHandover(ctx, c4))
	mustNil(t, old.SetCursor(ctx, "handover:c4:zhangsan", `{"id":"h4","customer_id":"c4","external_userid":"wm4",`+
		`"from":"zhangsan","to":"lisi","status":"pending","started_at":"2025-03-01T08:00:00Z"}`))
	mustNil(t, old.Close())

	s := reopen()
	checkMoved := func(s store.Store) {
		t.Helper()
		checkHandover(t, s, "c1", "zhangsan", &store.Handover{ID: "h1", CustomerID: "c1", ExternalUserID: "wm1",
			From: "zhangsan", To: "lisi", Message: "您好", By: "admin", Status: "pending", Submitted: true,
			StartedAt: base, TakeoverAt: &takeover})
		finishedC2 := base.Add(time.Hour)
		checkHandover(t, s, "c2", "wangwu", &store.Handover{ID: "h2", CustomerID: "c2", ExternalUserID: "wm2",
			From: "wangwu", To: "lisi", Resigned: true, By: "boss", Status: "refused", Submitted: true,
			StartedAt: base, FinishedAt: &finishedC2})
		checkHandover(t, s, "c4", "zhangsan", c4)
		checkOffer(t, s, &store.InboxOffer{CustomerID: "c3", Round: 2, To: []string{"lisi", "wangwu"}, At: base,
			Opener: "msg:kf:9", ClaimedBy: "lisi"})
		for round, want := range map[int]string{1: "wangwu", 2: "lisi"} {
			if got, err := s.ClaimWinner(ctx, "c3", round); err != nil || got != want {
				t.Errorf("ClaimWinner(c3, %d) = %q, %v; want %q", round, got, err, want)
			}
		}
		if got, err := s.KFAccount(ctx, "wm3"); err != nil || got != "wk1" {
			t.Errorf("KFAccount(wm3) = %q, %v; want wk1", got, err)
		}
		for name, value := range cursors {
			want := ""
			switch name {
			case "kf:wk1", "inbox:rr:9f3a", "handover-report", "handover:c9:zhangsan":
				want = value
			}
			if got, err := s.GetCursor(ctx, name); err != nil || got != want {
				t.Errorf("cursor %s = %q, %v after the move; want %q", name, got, err, want)
			}
		}
		if got, err := s.GetCursor(ctx, "handover:c4:zhangsan"); err != nil || got != "" {
			t.Errorf("stale cursor of c4 = %q, %v; want it gone", got, err)
		}
	}
	checkMoved(s)
	mustNil(t, s.Close())
	again := reopen()
	defer again.Close()
	checkMoved(again)
}
