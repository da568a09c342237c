package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// sessionTests are the contract of store.SessionStore: sessions round-trip,
// touches only move forward, the sweep removes exactly the ended ones, and
// a login link is good once, until it expires, even when many redeem it at
// once.
var sessionTests = []crmTest{
	{"RoundTripTouchDelete", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		in := &store.Session{ID: "h1", StaffID: "sales1", CSRF: "c1", Method: "link",
			CreatedAt: base.In(cst), LastSeenAt: base, ExpiresAt: base.Add(7 * 24 * time.Hour)}
		if err := s.CreateSession(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, &store.Session{ID: "h1", StaffID: "other", ExpiresAt: base}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateSession(same id) = %v, want ErrConflict", err)
		}
		for _, bad := range []*store.Session{{StaffID: "x", ExpiresAt: base}, {ID: "h9", ExpiresAt: base}, {ID: "h9", StaffID: "x"}} {
			if err := s.CreateSession(ctx, bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateSession(%+v) = %v, want ErrInvalid", *bad, err)
			}
		}
		got, err := s.FindSession(ctx, "h1")
		if err != nil {
			t.Fatal(err)
		}
		checkUTC(t, "CreatedAt", got.CreatedAt, base)
		checkUTC(t, "ExpiresAt", got.ExpiresAt, in.ExpiresAt)
		want := *in
		want.CreatedAt = base
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("FindSession = %+v, want %+v", *got, want)
		}
		if _, err := s.FindSession(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindSession(absent) = %v, want ErrNotFound", err)
		}

		if err := s.TouchSession(ctx, "h1", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchSession(ctx, "h1", base.Add(time.Minute)); err != nil { // earlier: no change, no error
			t.Fatal(err)
		}
		got, _ = s.FindSession(ctx, "h1")
		checkUTC(t, "LastSeenAt after touches", got.LastSeenAt, base.Add(time.Hour))
		if err := s.TouchSession(ctx, "nope", base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TouchSession(absent) = %v, want ErrNotFound", err)
		}

		if err := s.DeleteSession(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSession(ctx, "h1"); err != nil {
			t.Errorf("DeleteSession(again) = %v, want nil", err)
		}
		if _, err := s.FindSession(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindSession(deleted) = %v, want ErrNotFound", err)
		}
	}},
	{"SweepRemovesEndedOnly", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		now := base.Add(10 * 24 * time.Hour)
		idleBefore := now.Add(-12 * time.Hour)
		sessions := map[string]struct {
			seen, expires time.Time
			keep          bool
		}{
			"live":     {now.Add(-time.Hour), now.Add(time.Hour), true},
			"idle":     {idleBefore.Add(-time.Millisecond), now.Add(time.Hour), false},
			"edge":     {idleBefore, now.Add(time.Hour), true}, // seen exactly at the cut: still live
			"expired":  {now.Add(-time.Minute), now, false},    // absolute end at now: ended
			"expired2": {now.Add(-time.Minute), now.Add(-time.Hour), false},
		}
		for id, v := range sessions {
			if err := s.CreateSession(ctx, &store.Session{ID: id, StaffID: "sales1", CSRF: "c", CreatedAt: base, LastSeenAt: v.seen, ExpiresAt: v.expires}); err != nil {
				t.Fatal(err)
			}
		}
		for id, exp := range map[string]time.Time{"link-live": now.Add(time.Minute), "link-old": now} {
			if err := s.CreateLoginLink(ctx, &store.LoginLink{ID: id, StaffID: "sales1", CreatedAt: base, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.DeleteExpiredSessions(ctx, idleBefore, now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("DeleteExpiredSessions removed %d, want 3", n)
		}
		for id, v := range sessions {
			_, err := s.FindSession(ctx, id)
			if v.keep && err != nil {
				t.Errorf("session %s: %v, want kept", id, err)
			}
			if !v.keep && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("session %s: %v, want removed", id, err)
			}
		}
		// The live link is still good (at a time it is valid); the old
		// one is gone.
		if _, err := s.RedeemLoginLink(ctx, "link-live", now); err != nil {
			t.Errorf("redeem live link after sweep: %v", err)
		}
		if _, err := s.RedeemLoginLink(ctx, "link-old", base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("redeem swept link = %v, want ErrNotFound", err)
		}
	}},
	{"LoginLinkOnceUntilExpiry", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		l := &store.LoginLink{ID: "lk1", StaffID: "sales1", Next: "/console/customers", CreatedAt: base, ExpiresAt: base.Add(10 * time.Minute)}
		if err := s.CreateLoginLink(ctx, l); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateLoginLink(ctx, &store.LoginLink{ID: "lk1", StaffID: "x", ExpiresAt: base}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateLoginLink(same id) = %v, want ErrConflict", err)
		}
		if err := s.CreateLoginLink(ctx, &store.LoginLink{ID: "lk9", ExpiresAt: base}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateLoginLink(no staff) = %v, want ErrInvalid", err)
		}
		got, err := s.RedeemLoginLink(ctx, "lk1", base.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, *l) {
			t.Errorf("RedeemLoginLink = %+v, want %+v", *got, *l)
		}
		if _, err := s.RedeemLoginLink(ctx, "lk1", base.Add(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second redemption = %v, want ErrNotFound", err)
		}
		if _, err := s.RedeemLoginLink(ctx, "absent", base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("redeem absent = %v, want ErrNotFound", err)
		}

		// Expired: refused at its expiry, and stays refused.
		if err := s.CreateLoginLink(ctx, &store.LoginLink{ID: "lk2", StaffID: "sales1", CreatedAt: base, ExpiresAt: base.Add(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemLoginLink(ctx, "lk2", base.Add(10*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("redeem at expiry = %v, want ErrNotFound", err)
		}
	}},
	{"LoginLinkConcurrentRedeemOnce", func(t *testing.T, s store.Store, cfg Config) {
		ctx := ctxFor(t)
		const links, racers = 5, 8
		for i := range links {
			if err := s.CreateLoginLink(ctx, &store.LoginLink{ID: fmt.Sprintf("race%d", i), StaffID: "sales1", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		wins := map[string]int{}
		var wg sync.WaitGroup
		for i := range links {
			for range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("race%d", i)
					_, err := s.RedeemLoginLink(ctx, id, base.Add(time.Minute))
					switch {
					case err == nil:
						mu.Lock()
						wins[id]++
						mu.Unlock()
					case !errors.Is(err, store.ErrNotFound):
						t.Errorf("redeem %s: %v", id, err)
					}
				}()
			}
		}
		wg.Wait()
		for i := range links {
			if id := fmt.Sprintf("race%d", i); wins[id] != 1 {
				t.Errorf("link %s redeemed %d times, want exactly 1", id, wins[id])
			}
		}
	}},
}
