package bot

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

var shanghai = time.FixedZone("CST", 8*3600)

// TestChannelStatsMatchIndependentCounts generates a month of adds and
// deletions through two channels, runs them through the attribution
// processor as stored callbacks, and checks the statistics against counts
// made here directly from the generated list.
func TestChannelStatsMatchIndependentCounts(t *testing.T) {
	ctx := context.Background()
	st := OpenTestStore(t)
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, shanghai)
	now := start.AddDate(0, 1, 10)
	core := NewCore(st, func() time.Time { return now })
	chans := []*store.Channel{
		{ID: "chA", Name: "海报", Kind: store.ChannelKindContactWay, State: "scrm-chA", Staff: []store.ChannelStaff{{UserID: "s1"}, {UserID: "s2"}}, CreatedAt: start},
		{ID: "chB", Name: "展会", Kind: store.ChannelKindContactWay, State: "scrm-chB", Staff: []store.ChannelStaff{{UserID: "s3"}}, CreatedAt: start},
	}
	for _, ch := range chans {
		if err := st.CreateChannel(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	proc := NewChannelAttribution(st, nil)
	type add struct {
		channel, staff, ext string
		at, deleted         time.Time // deleted zero: never
		won, replied        bool
	}
	rng := rand.New(rand.NewPCG(7, 17))
	staffOf := map[string][]string{"chA": {"s1", "s2"}, "chB": {"s3"}}
	var adds []add
	seq := 0
	for day := range 31 {
		for range rng.IntN(12) {
			seq++
			ch := []string{"chA", "chB"}[rng.IntN(2)]
			a := add{channel: ch, staff: staffOf[ch][rng.IntN(len(staffOf[ch]))], ext: fmt.Sprintf("wm%04d", seq),
				at: start.AddDate(0, 0, day).Add(time.Duration(rng.IntN(86400)) * time.Second).UTC(), won: rng.IntN(5) == 0, replied: rng.IntN(3) == 0}
			if rng.IntN(4) == 0 {
				a.deleted = a.at.Add(time.Duration(rng.IntN(40*24)) * time.Hour)
			}
			adds = append(adds, a)
		}
	}
	won := store.StageWon
	for i, a := range adds {
		// The customer as the customers processor would have made it.
		cu, err := st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: a.ext},
			Follow: &store.Follow{StaffID: a.staff, State: "scrm-" + a.channel, AddedAt: a.at}, Now: a.at})
		if err != nil {
			t.Fatal(err)
		}
		if a.won {
			if _, err := st.UpdateCustomer(ctx, cu.ID, store.CustomerUpdate{Stage: &won, Now: a.at}); err != nil {
				t.Fatal(err)
			}
		}
		if a.replied {
			if _, err := st.UpsertCustomer(ctx, store.CustomerUpsert{Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: a.ext},
				CustomerAt: a.at.Add(time.Minute), Now: a.at}); err != nil {
				t.Fatal(err)
			}
		}
		ev := &store.Event{DedupKey: fmt.Sprintf("add-%d", i), Kind: wecom.KindAddExternalContact, StaffID: a.staff, CustomerID: a.ext,
			Attrs: map[string]string{"State": "scrm-" + a.channel}, OccurredAt: a.at, ReceivedAt: a.at}
		for range 2 { // a redelivery counts once
			if err := proc.Process(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if !a.deleted.IsZero() {
			del := &store.Event{DedupKey: fmt.Sprintf("del-%d", i), Kind: wecom.KindDelFollowUser, StaffID: a.staff, CustomerID: a.ext,
				OccurredAt: a.deleted, ReceivedAt: a.deleted}
			if err := proc.Process(ctx, del); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A period in the middle of the month, per channel and per member.
	from, to := start.AddDate(0, 0, 5), start.AddDate(0, 0, 25)
	for _, ch := range chans {
		want := map[string]*ChannelNumbers{"": {}}
		in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
		for _, a := range adds {
			if a.channel != ch.ID {
				continue
			}
			for _, key := range []string{"", a.staff} {
				n := want[key]
				if n == nil {
					n = &ChannelNumbers{}
					want[key] = n
				}
				if in(a.at) {
					n.Adds++
					if a.won {
						n.Won++
					}
					if a.replied {
						n.Replied++
					}
					for _, d := range []int{7, 30} {
						end := a.at.AddDate(0, 0, d)
						if end.After(now) {
							continue
						}
						kept := a.deleted.IsZero() || a.deleted.After(end)
						if d == 7 {
							n.Eligible7++
							if kept {
								n.Retained7++
							}
						} else {
							n.Eligible30++
							if kept {
								n.Retained30++
							}
						}
					}
				}
				if !a.deleted.IsZero() && in(a.deleted) {
					n.Deletions++
				}
			}
		}
		got, err := core.ChannelStats(ctx, SystemActor(SourceAPI), ch.ID, from, to, shanghai)
		if err != nil {
			t.Fatal(err)
		}
		check := func(who string, g ChannelNumbers, w *ChannelNumbers) {
			t.Helper()
			if g.Adds != w.Adds || g.Deletions != w.Deletions || g.Net != w.Adds-w.Deletions || g.Eligible7 != w.Eligible7 ||
				g.Retained7 != w.Retained7 || g.Eligible30 != w.Eligible30 || g.Retained30 != w.Retained30 || g.Won != w.Won || g.Replied != w.Replied {
				t.Errorf("%s %s: got %+v\nwant %+v", ch.ID, who, g, *w)
			}
		}
		check("total", got.Total, want[""])
		for _, s := range staffOf[ch.ID] {
			if w := want[s]; w != nil {
				check(s, got.Staff[s], w)
			}
		}
		sum := 0
		for _, d := range got.Days {
			sum += d.Adds
		}
		if sum != got.Total.Adds || len(got.Days) != 20 {
			t.Errorf("%s: days add up to %d of %d over %d days", ch.ID, sum, got.Total.Adds, len(got.Days))
		}
		if got.Total.Adds == 0 || got.Total.Deletions == 0 || got.Total.Won == 0 {
			t.Errorf("%s: a degenerate month: %+v", ch.ID, got.Total)
		}
	}
}
