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

// BenchmarkCommandsAt100kCustomers measures the bot's answer to staff
// commands — store queries, rendering and the reply's bookkeeping — on an
// embedded store holding 100,000 customers over 20 salespeople. It reports
// p50 and p99 per command (issue 6's target: p99 under 300 ms). Only runs with
// -bench: building the data set takes a while.
//
//	go test -run '^$' -bench CommandsAt100k -benchtime 1x ./bot
func BenchmarkCommandsAt100kCustomers(b *testing.B) {
	ctx := context.Background()
	st := openStore(b)
	now := time.Now().UTC()
	const customers, staff = 100_000, 20
	start := time.Now()
	for lo := 0; lo < customers; lo += 1000 {
		var ups []store.CustomerUpsert
		var upds []store.CustomerUpdate
		for i := lo; i < lo+1000; i++ {
			owner := fmt.Sprintf("sales%02d", i%staff)
			at := now.Add(-time.Duration(i%90*24) * time.Hour)
			ups = append(ups, store.CustomerUpsert{
				Identity: store.Identity{Kind: store.IdentityExternalUserID, Value: fmt.Sprintf("wm%06d", i)},
				Follow:   &store.Follow{StaffID: owner, AddedAt: at}, CustomerAt: at, Now: at,
			})
			name := fmt.Sprintf("客户%06d", i)
			if i == 7 {
				name = "张三"
			}
			upds = append(upds, store.CustomerUpdate{Name: &name, AddTags: []string{[]string{"重点客户", "制造业", "有询价意向"}[i%3]}, Now: at})
		}
		if _, err := st.UpsertCustomerBatch(ctx, ups, upds); err != nil {
			b.Fatal(err)
		}
	}
	zhang, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: "wm000007"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		if _, err := st.AppendTimeline(ctx, &store.TimelineEntry{CustomerID: zhang.ID, SourceKey: fmt.Sprint("bench:", i),
			Kind: store.EntryMessage, Direction: store.DirectionIn, Text: "报价收到了，下周再聊", At: now.Add(-time.Duration(i) * time.Hour)}); err != nil {
			b.Fatal(err)
		}
		if _, err := st.CreateReminder(ctx, &store.Reminder{Key: fmt.Sprint("bench:", i), CustomerID: zhang.ID, StaffID: "sales07",
			Kind: store.ReminderManual, Text: "回访", DueAt: now.Add(time.Duration(i) * time.Hour), Status: store.ReminderPending}); err != nil {
			b.Fatal(err)
		}
	}
	// This week's conversations: every customer contacted in the last week
	// wrote once and got a reply, so the team overview has follow-ups and
	// response times to sum.
	for i := 0; i < customers; i++ {
		if i%90 >= 7 {
			continue
		}
		c, err := st.FindCustomerByIdentity(ctx, store.Identity{Kind: store.IdentityExternalUserID, Value: fmt.Sprintf("wm%06d", i)})
		if err != nil {
			b.Fatal(err)
		}
		at := now.Add(-time.Duration(i%90*24) * time.Hour)
		for _, e := range []*store.TimelineEntry{
			{CustomerID: c.ID, SourceKey: fmt.Sprint("week-in:", i), Kind: store.EntryMessage, Direction: store.DirectionIn, Text: "价格能再谈谈吗", At: at.Add(-2 * time.Hour)},
			{CustomerID: c.ID, SourceKey: fmt.Sprint("week-out:", i), Kind: store.EntryMessage, Direction: store.DirectionOut,
				StaffID: fmt.Sprintf("sales%02d", i%staff), Text: "可以，我下午打给您", At: at.Add(-time.Hour)},
		} {
			if _, err := st.AppendTimeline(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	}
	team := []string{"sales00", "sales01", "sales02", "sales03", "sales04"}
	if err := st.UpsertStaff(ctx, &store.Staff{ID: "boss", Name: "经理", Role: bot.RoleManager, Team: team, Active: true}); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d customers in %v", customers, time.Since(start).Round(time.Millisecond))

	rec := &recorder{sent: map[string][]string{}}
	dir := bot.StaffDirectory{Staff: st, Fallback: bot.StaticDirectory{}}
	cmds := bot.NewCommands(st, dir, rec, time.UTC)
	cases := []struct{ name, staff, text string }{
		{"查", "sales07", "查 张三"},
		{"我的客户", "sales07", "我的客户"},
		{"待办", "sales07", "待办"},
		{"今天", "sales07", "今天"},
		{"沉睡客户", "sales07", "沉睡客户"},
		{"漏斗", "sales07", "漏斗"},
		{"团队", "boss", "团队"},
	}
	const samples = 100
	seq := 0
	b.ResetTimer()
	for range b.N {
		for _, tc := range cases {
			var d []time.Duration
			for range samples {
				seq++
				ev := &store.Event{ID: int64(seq), DedupKey: fmt.Sprint("bench:msg:", seq), Channel: store.ChannelWeCom, Kind: "text",
					FromID: tc.staff, StaffID: tc.staff, Text: tc.text, OccurredAt: now, ReceivedAt: now}
				t0 := time.Now()
				if err := cmds.Process(ctx, ev); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(t0))
			}
			slices.Sort(d)
			p50, p99 := d[len(d)/2], d[len(d)*99/100]
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms-"+tc.name)
			b.Logf("%-6s p50 %6.2f ms  p99 %6.2f ms", tc.name, float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000)
		}
	}
}
