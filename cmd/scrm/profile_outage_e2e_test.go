package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// TestPlatformOutageDoesNotHoldTimelines is issue #11's finding 9: while
// WeChat's API is down (HTTP 503 from the OA token and user/info APIs),
// 200 acknowledged OA messages from 20 followers are all on timelines
// within 10 s, under the openid the callback carries; while WeCom's
// externalcontact/get is down too, a new contact's follow and timeline
// entry are there at once. When the APIs answer again, the deferred jobs
// fill in the nicknames and merge each follower with their WeCom contact
// by unionid.
func TestPlatformOutageDoesNotHoldTimelines(t *testing.T) {
	const followers, perFollower = 20, 10
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{})
	t.Cleanup(func() { sim.Close() })
	// Enough salespeople that the inbox's offers and forwards stay inside
	// WeCom's 30 messages a minute per member.
	for i := range 10 {
		sim.AddStaff(wecomtest.Staff{UserID: fmt.Sprintf("s%02d", i), Name: fmt.Sprintf("销售%02d", i), Department: []int{1}})
	}
	openID := func(i int) string { return fmt.Sprintf("oOut%02d", i) }
	for i := range followers {
		sim.AddOAFollower(wecomtest.OAFollower{OpenID: openID(i), UnionID: fmt.Sprintf("uOut%02d", i), Nickname: fmt.Sprintf("粉丝%02d", i)})
	}
	// Follower 0 is already s00's WeCom contact; follower 1 becomes s01's
	// during the outage.
	for i := range 2 {
		sim.AddExternalContact(wecomtest.Contact{ExternalUserID: fmt.Sprintf("wmOut%02d", i), Name: fmt.Sprintf("粉丝%02d", i),
			UnionID: fmt.Sprintf("uOut%02d", i), Follow: []wecomtest.Follow{{UserID: fmt.Sprintf("s%02d", i), CreateTime: time.Now()}}})
	}
	a := startSimApp(t, sim, extensions{}, func(cfg *config.Config) {
		cfg.OAAppID, cfg.OAAppSecret = wecomtest.SimOAAppID, wecomtest.SimOAAppSecret
		cfg.OAToken, cfg.OAAESKey, cfg.OAAPIBase = wecomtest.SimOAToken, wecomtest.SimOAAESKey, sim.URL
		cfg.BusinessHours = "always" // no off-hours auto-replies: the OA send API is down too
	})
	ctx := context.Background()
	ext := func(i int) store.Identity {
		return store.Identity{Kind: store.IdentityExternalUserID, Value: fmt.Sprintf("wmOut%02d", i)}
	}
	a.sendWeCom(t, wecomtest.ContactEvent("add_external_contact", "s00", "wmOut00", time.Now(), nil))
	waitFor(t, "the WeCom contact before the outage", func() bool {
		c, err := a.store.FindCustomerByIdentity(ctx, ext(0))
		return err == nil && c.Name == "粉丝00"
	})

	// WeChat goes down, then WeCom's contact API.
	sim.SetOutage(wecomtest.Outage503, wecomtest.OAAPIs...)
	sim.SetOutage(wecomtest.Outage503, "externalcontact/get")
	messages := func() int64 {
		st, err := a.store.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Messages
	}
	start := time.Now()
	msgID := int64(25_000_000_000)
	for n := range followers * perFollower {
		msgID++
		d, err := a.drv.SendOA(ctx, wecomtest.OAText(openID(n%followers), fmt.Sprintf("第%d条消息", n), msgID, time.Now()))
		if err != nil || d.Status != 200 || d.Attempts != 1 {
			t.Fatalf("message %d not acknowledged at once: %v %+v", n, err, d)
		}
	}
	acked := time.Now()
	a.sendWeCom(t, wecomtest.ContactEvent("add_external_contact", "s01", "wmOut01", time.Now(), nil))
	for messages() < followers*perFollower {
		if time.Since(acked) > 10*time.Second {
			t.Fatalf("%d of %d acknowledged messages on timelines 10 s after the last acknowledgement", messages(), followers*perFollower)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d messages acknowledged in %v; all on timelines %v after the last acknowledgement",
		followers*perFollower, acked.Sub(start).Round(time.Millisecond), time.Since(acked).Round(time.Millisecond))
	for i := range followers {
		c, err := a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: openID(i)})
		if err != nil {
			t.Fatalf("follower %d: %v", i, err)
		}
		tl, err := a.store.FindTimeline(ctx, c.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if in := countInbound(tl); in != perFollower {
			t.Fatalf("follower %d has %d messages on the timeline, want %d", i, in, perFollower)
		}
	}
	// The contact added during the outage: follow and timeline entry now.
	for {
		c, err := a.store.FindCustomerByIdentity(ctx, ext(1))
		if err == nil && len(c.Follows) == 1 && c.Follows[0].StaffID == "s01" {
			tl, err := a.store.FindTimeline(ctx, c.ID, 0, 10)
			if err == nil && len(tl) == 1 && tl[0].Attrs["change_type"] == "add_external_contact" {
				break
			}
		}
		if time.Since(acked) > 10*time.Second {
			t.Fatalf("the contact added during the outage is not there: %+v, %v", c, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := sim.Calls("user/info") + sim.Calls("token"); n == 0 {
		t.Fatal("the outage was never met: the OA API was not called")
	}

	// The platforms answer again: nicknames and unionid merges follow.
	sim.SetOutage(wecomtest.OutageNone, wecomtest.OAAPIs...)
	sim.SetOutage(wecomtest.OutageNone, "externalcontact/get")
	waitFor(t, "profiles and merges after the outage", func() bool {
		for i := range followers {
			c, err := a.store.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityOpenID, Value: openID(i)})
			if err != nil || c.Name != fmt.Sprintf("粉丝%02d", i) {
				return false
			}
			if i < 2 {
				w, err := a.store.FindCustomerByIdentity(ctx, ext(i))
				if err != nil || w.ID != c.ID {
					return false
				}
			}
		}
		return true
	})
	// Merged, the follower carries their OA messages and their WeCom owner.
	c, err := a.store.FindCustomerByIdentity(ctx, ext(1))
	if err != nil {
		t.Fatal(err)
	}
	tl, err := a.store.FindTimeline(ctx, c.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if in := countInbound(tl); in != perFollower || len(c.Follows) != 1 || c.Follows[0].StaffID != "s01" {
		t.Fatalf("merged customer: %d messages, follows %+v", in, c.Follows)
	}
	if got := messages(); got != followers*perFollower {
		t.Fatalf("%d message entries after the merges, want %d", got, followers*perFollower)
	}
}

func countInbound(tl []*store.TimelineEntry) int {
	n := 0
	for _, e := range tl {
		if e.Kind == store.EntryMessage && e.Direction == store.DirectionIn {
			n++
		}
	}
	return n
}
