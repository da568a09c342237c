package bot_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/wecom"
	"github.com/scrmhq/scrm/wecom/wecomtest"
)

// Issue 16's speed target on the embedded store: a campaign over 100,000
// customers previewed in < 2 s and its tasks created in < 30 s.
// 100,000 customers of 20 salespeople (5,000 each), every one tagged, one
// in a hundred opted out; seeded through the store's batch upsert, known to
// the simulator as contacts. Run:
//
//	go test ./bot/ -run '^$' -bench BenchmarkCampaign100k -benchtime 3x
const (
	benchCampaignCustomers = 100_000
	benchCampaignSenders   = 20
)

func BenchmarkCampaign100k(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 customers; skipped with -short")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	clock := wecomtest.NewFakeClock(time.Date(2025, 3, 3, 2, 0, 0, 0, time.UTC))
	sim := wecomtest.NewSimulator(wecomtest.SimConfig{Now: clock.Now})
	b.Cleanup(func() { sim.Close() })
	api, err := wecom.NewAPIClient(sim.APIConfig(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	seedStart := time.Now()
	for s := range benchCampaignSenders {
		sim.AddStaff(wecomtest.Staff{UserID: fmt.Sprintf("sales%02d", s), Name: fmt.Sprintf("销售%02d", s)})
	}
	const batch = 1000
	for from := 0; from < benchCampaignCustomers; from += batch {
		ups := make([]store.CustomerUpsert, 0, batch)
		upds := make([]store.CustomerUpdate, 0, batch)
		for i := from; i < from+batch; i++ {
			ext, owner := fmt.Sprintf("wmbench%06d", i), fmt.Sprintf("sales%02d", i%benchCampaignSenders)
			sim.AddExternalContact(wecomtest.Contact{ExternalUserID: ext, Name: ext, Follow: []wecomtest.Follow{{UserID: owner, CreateTime: clock.Now()}}})
			ups = append(ups, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: ext}, Name: fmt.Sprintf("客户%06d", i),
				AddTags: []string{"会员"}, Follow: &store.Follow{StaffID: owner, AddedAt: clock.Now()}, Now: clock.Now()})
			var upd store.CustomerUpdate
			if i%100 == 0 {
				upd.Fields = map[string]string{store.FieldOptOut: "true"}
			}
			upds = append(upds, upd)
		}
		if _, err := st.UpsertCustomerBatch(ctx, ups, upds); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d customers in %s", benchCampaignCustomers, time.Since(seedStart).Round(time.Millisecond))
	core := bot.NewCore(st, clock.Now)
	core.SetCampaigns(api, bot.CampaignOptions{MonthlyCap: 4})
	req := bot.CampaignRequest{Name: "会员日", Filter: &store.SegmentFilter{Tag: "会员"}, Text: "#客户昵称#好，会员日专享"}

	// Baselines measured in the same run: reading the audience alone (the
	// store's pages of the tag's customers, what a preview cannot avoid),
	// and the 20 add_msg_template calls alone over HTTP to the simulator.
	b.Run("ScanBaseline", func(b *testing.B) {
		for b.Loop() {
			n := 0
			f := store.CustomerFilter{Tag: "会员", Limit: 2000}
			for {
				page, err := st.FindCustomers(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				n += len(page)
				if len(page) < f.Limit {
					break
				}
				f.AfterID = page[len(page)-1].ID
			}
			if n != benchCampaignCustomers {
				b.Fatalf("scanned %d", n)
			}
		}
	})
	b.Run("AddMsgTemplateBaseline", func(b *testing.B) {
		per := map[string][]string{}
		for i := range benchCampaignCustomers {
			if i%100 != 0 {
				s := fmt.Sprintf("sales%02d", i%benchCampaignSenders)
				per[s] = append(per[s], fmt.Sprintf("wmbench%06d", i))
			}
		}
		for b.Loop() {
			for s, ids := range per {
				if _, _, err := api.AddMsgTemplate(ctx, wecom.MsgTemplate{ChatType: "single", Sender: s, ExternalUserID: ids,
					Text: &wecom.WelcomeText{Content: "基线"}}); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("Preview", func(b *testing.B) {
		for b.Loop() {
			p, err := core.PreviewCampaign(ctx, massAdmin, req)
			if err != nil {
				b.Fatal(err)
			}
			if p.Targeted != benchCampaignCustomers*99/100 || len(p.Senders) != benchCampaignSenders || p.LeftOut[bot.LeftOptedOut] != benchCampaignCustomers/100 {
				b.Fatalf("plan: %d targeted, %d senders, left out %v", p.Targeted, len(p.Senders), p.LeftOut)
			}
		}
	})
	b.Run("CreateTasks", func(b *testing.B) {
		n := 0
		for b.Loop() {
			// Each round a month later, so the caps leave everyone in.
			b.StopTimer()
			clock.Advance(31 * 24 * time.Hour)
			n++
			r := req
			r.Key = fmt.Sprintf("bench-%d", n)
			b.StartTimer()
			cp, _, err := core.CreateCampaign(ctx, massAdmin, r)
			if err != nil {
				b.Fatal(err)
			}
			if err := core.HandleCampaignJob(ctx, &store.Job{Key: "campaign:" + cp.ID, Kind: bot.CampaignJobKind, Payload: cp.ID}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			d, err := core.Campaign(ctx, massAdmin, cp.ID)
			if err != nil || d.Status != store.CampaignSent || len(d.Tasks) != benchCampaignSenders || d.Report.Targeted != benchCampaignCustomers*99/100 {
				b.Fatalf("campaign %s, %d tasks, %d targeted, %v", d.Status, len(d.Tasks), d.Report.Targeted, err)
			}
			b.StartTimer()
		}
	})
}
