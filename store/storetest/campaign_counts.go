package storetest

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// testCampaignSendsOf: counting the sends of a few customers agrees with
// counting everyone's — the same window, the same statuses, groups by chat
// ID — names no one it was not asked about, and counts an ID once however
// often it is listed, also past one query's worth of IDs.
func testCampaignSendsOf(t *testing.T, s store.Store, _ Config) {
	ctx := ctxFor(t)
	send := func(cp, id, status string, at time.Time) store.CampaignSend {
		return store.CampaignSend{CampaignID: cp, CustomerID: id, ExternalUserID: "wm" + id, Sender: "li", Status: status, At: at}
	}
	group := send("cp1", "wrG1", store.SendPending, base)
	group.ChatID, group.ExternalUserID = "wrG1", ""
	sends := []store.CampaignSend{
		send("cp1", "c1", store.SendPending, base),
		send("cp2", "c1", store.SendDelivered, base.Add(time.Hour)),
		send("cp3", "c1", store.SendCancelled, base.Add(time.Hour)),
		send("cp4", "c1", store.SendDelivered, base.Add(48*time.Hour)),      // after the window
		send("cp0", "c1", store.SendDelivered, base.Add(-time.Millisecond)), // before it
		send("cp1", "c2", store.SendNotContact, base),
		send("cp2", "c2", store.SendLimited, base),
		send("cp1", "c3", store.SendDelivered, base),
		send("cp1", "c9", store.SendDelivered, base), // not asked about
		group,
	}
	if err := s.PutCampaignSends(ctx, sends); err != nil {
		t.Fatal(err)
	}
	from, to := base, base.Add(24*time.Hour)
	got, err := s.CountCampaignSendsOf(ctx, []string{"c3", "c1", "c2", "wrG1", "nobody", "c1"}, from, to)
	if want := map[string]int{"c1": 2, "c3": 1, "wrG1": 1}; err != nil || !maps.Equal(got, want) {
		t.Fatalf("CountCampaignSendsOf = %v, %v; want %v", got, err, want)
	}
	all, err := s.CountCampaignSends(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range got {
		if all[id] != n {
			t.Errorf("%s: %d of its own, %d among everyone's", id, n, all[id])
		}
	}
	if got, err := s.CountCampaignSendsOf(ctx, nil, from, to); err != nil || len(got) != 0 {
		t.Fatalf("no IDs: %v, %v", got, err)
	}

	// More IDs than one query names, the first listed again at the end.
	var many []store.CampaignSend
	var ids []string
	for i := range 700 {
		id := fmt.Sprintf("m%04d", i)
		ids = append(ids, id)
		many = append(many, send("cpm", id, store.SendPending, base))
	}
	if err := s.PutCampaignSends(ctx, many); err != nil {
		t.Fatal(err)
	}
	got, err = s.CountCampaignSendsOf(ctx, append(ids, ids[0]), from, to)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("CountCampaignSendsOf over %d IDs: %d counted, %v", len(ids), len(got), err)
	}
	for id, n := range got {
		if n != 1 {
			t.Fatalf("%s counted %d times, want once", id, n)
		}
	}
}
