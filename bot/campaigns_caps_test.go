package bot_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

// TestCapsCountedByAudienceSize: the monthly cap leaves out the same
// customers whether the audience is small — its customers' sends are
// counted by ID, and nobody else's are read (a journey's message among a
// busy month's sends) — or large, when the month's sends are counted at
// once. Sends of last month and cancelled ones do not count.
func TestCapsCountedByAudienceSize(t *testing.T) {
	ctx := context.Background()
	st := &costStore{DB: openStore(t)}
	now := time.Date(2025, 3, 20, 2, 0, 0, 0, time.UTC)
	const customers = 1001 // one more than is counted by ID
	var ups []store.CustomerUpsert
	for i := range customers {
		tags := []string{"大促"}
		if i < 10 {
			tags = append(tags, "小")
		}
		ups = append(ups, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: fmt.Sprintf("wmcap%04d", i)},
			Name: fmt.Sprintf("客户%04d", i), AddTags: tags, Follow: &store.Follow{StaffID: "li", AddedAt: now}, Now: now})
	}
	ids, err := st.UpsertCustomerBatch(ctx, ups, make([]store.CustomerUpdate, len(ups)))
	if err != nil {
		t.Fatal(err)
	}
	var sends []store.CampaignSend
	send := func(cp string, i int, status string, at time.Time) {
		sends = append(sends, store.CampaignSend{CampaignID: cp, CustomerID: ids[i], ExternalUserID: fmt.Sprintf("wmcap%04d", i), Sender: "li", Status: status, At: at})
	}
	var capped []string // two sends this month: at the company's cap of 2
	for i := range customers {
		switch i % 7 {
		case 0:
			send("cp1", i, store.SendDelivered, now.AddDate(0, 0, -10))
			send("cp2", i, store.SendPending, now.AddDate(0, 0, -1))
			capped = append(capped, ids[i])
		case 1:
			send("cp1", i, store.SendDelivered, now.AddDate(0, 0, -10))
			send("cp2", i, store.SendCancelled, now.AddDate(0, 0, -1))
		case 2:
			send("cp0", i, store.SendDelivered, now.AddDate(0, -1, 0))
			send("cp00", i, store.SendDelivered, now.AddDate(0, -1, 0))
		}
	}
	if err := st.PutCampaignSends(ctx, sends); err != nil {
		t.Fatal(err)
	}
	c := bot.NewCore(st, func() time.Time { return now })
	c.SetCampaigns(nil, bot.CampaignOptions{MonthlyCap: 2, Location: rmLoc})

	for _, tc := range []struct {
		tag        string
		audience   int
		monthReads int64 // whole-month counts read
		readAtMost int64 // customers' counts returned
	}{
		{"小", 10, 0, 10},
		{"大促", customers, 1, customers},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			months, counts := st.monthReads.Load(), st.capCounts.Load()
			p, err := c.PreviewCampaign(ctx, massAdmin, bot.CampaignRequest{Name: "x", Filter: &store.SegmentFilter{Tag: tc.tag}, Text: "x"})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, id := range capped {
				if slices.Contains(ids[:tc.audience], id) {
					want = append(want, id)
				}
			}
			slices.Sort(want) // the audience is read in ID order
			left := p.LeftOutID[bot.LeftOverCap]
			if p.LeftOut[bot.LeftOverCap] != len(want) || p.Targeted != tc.audience-len(want) || !slices.Equal(left, want[:min(len(want), 100)]) {
				t.Fatalf("%d targeted, %d over the cap (%v), want %d and %v", p.Targeted, p.LeftOut[bot.LeftOverCap], left, tc.audience-len(want), want)
			}
			if got := st.monthReads.Load() - months; got != tc.monthReads {
				t.Errorf("the month's sends were read %d times, want %d", got, tc.monthReads)
			}
			if got := st.capCounts.Load() - counts; got > tc.readAtMost {
				t.Errorf("%d customers' counts read for an audience of %d", got, tc.audience)
			}
		})
	}
}
