package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/coord"
	"github.com/scrmhq/scrm/handlers"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
)

// BenchmarkSidebarContextAt100k measures GET /api/v1/sidebar/context from
// request to response over loopback, on an embedded store of 100,000
// customers over 20 salespeople (seeded with UpsertCustomerBatch): a
// customer's card (300 timeline entries, reminders) and a 200-member
// group's card. Target: under 500 ms. Only runs with -bench:
//
//	go test -run '^$' -bench SidebarContextAt100k -benchtime 50x ./handlers
func BenchmarkSidebarContextAt100k(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, b.TempDir(), sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	const customers, staff = 100_000, 20
	for lo := 0; lo < customers; lo += 1000 {
		var ups []store.CustomerUpsert
		var upds []store.CustomerUpdate
		for i := lo; i < lo+1000; i++ {
			at := now.Add(-time.Duration(i%90*24) * time.Hour)
			ups = append(ups, store.CustomerUpsert{
				Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: fmt.Sprintf("wm%06d", i)},
				Follow:   &store.Follow{StaffID: fmt.Sprintf("sales%02d", i%staff), AddedAt: at}, CustomerAt: at, Now: at,
			})
			name := fmt.Sprintf("客户%06d", i)
			upds = append(upds, store.CustomerUpdate{Name: &name, AddTags: []string{"重点客户"}, Now: at})
		}
		if _, err := st.UpsertCustomerBatch(ctx, ups, upds); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.UpsertStaff(ctx, &store.Staff{ID: "sales07", Name: "销售07", Role: bot.RoleSales, Active: true}); err != nil {
		b.Fatal(err)
	}
	card, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wm000007"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 300 {
		e := &store.TimelineEntry{CustomerID: card.ID, SourceKey: fmt.Sprint("bench:", i), Kind: store.EntryMessage,
			Direction: store.DirectionIn, Text: "报价收到了，下周再聊", At: now.Add(-time.Duration(300-i) * time.Hour)}
		switch i % 10 {
		case 3:
			e.Kind, e.Direction, e.StaffID, e.Text = store.EntryNote, "", "sales07", "跟进备注"
		case 7:
			e.Kind, e.Direction, e.Text = store.EntryAnalysis, "", "分析"
			e.Attrs = map[string]string{"sentiment_label": "neutral", "sentiment_score": "0.550"}
		}
		if _, err := st.AppendTimeline(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 20 {
		if _, err := st.CreateReminder(ctx, &store.Reminder{Key: fmt.Sprint("bench:", i), CustomerID: card.ID, StaffID: "sales07",
			Kind: store.ReminderPromise, Text: "回访", DueAt: now.Add(time.Duration(i) * time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	members := []store.GroupMember{{UserID: "sales07", Type: store.GroupMemberStaff, JoinedAt: now}}
	for i := range 200 {
		members = append(members, store.GroupMember{UserID: fmt.Sprintf("wm%06d", i*7), Type: store.GroupMemberExternal, JoinedAt: now})
	}
	if _, err := st.UpsertGroup(ctx, &store.Group{ChatID: "wrBench", Name: "大客户群", OwnerID: "sales07", CreatedAt: now, UpdatedAt: now, Members: members}); err != nil {
		b.Fatal(err)
	}

	base := listen(b, handlers.New(st, coord.NewLocal(), handlers.Options{APIToken: apiTok, Core: bot.NewCore(st, nil)}))
	tok, err := handlers.MintStaffToken(apiTok, "sales07", now.Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(q string) time.Duration {
		req, _ := http.NewRequest("GET", base+"/api/v1/sidebar/context?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var buf [32 << 10]byte
		for {
			if _, err := resp.Body.Read(buf[:]); err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", q, resp.StatusCode)
		}
		return time.Since(start)
	}
	for _, q := range []struct{ name, query string }{{"customer", "external_userid=wm000007"}, {"group", "chat_id=wrBench"}} {
		b.Run(q.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				ds = append(ds, call(q.query))
			}
			slices.Sort(ds)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(ds[len(ds)/2]), "p50_ms")
			b.ReportMetric(ms(ds[len(ds)*99/100]), "p99_ms")
		})
	}
}
