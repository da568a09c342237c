package bot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
)

func rmTimeline(t *testing.T, e *rmEnv, c *store.Customer, key, kind, dir, staff, text string, at time.Time) {
	t.Helper()
	if _, err := e.st.AppendTimeline(context.Background(), &store.TimelineEntry{CustomerID: c.ID, SourceKey: key, Kind: kind,
		Direction: dir, StaffID: staff, Text: text, At: at}); err != nil {
		t.Fatal(err)
	}
}

// rmDay runs planning and the daily jobs on every scheduler at once.
func rmDay(t *testing.T, ss ...*bot.Scheduler) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Plan(context.Background()); err != nil {
				t.Error(err)
			}
			for {
				n, err := s.RunJobsOnce(context.Background())
				if err != nil {
					t.Error(err)
				}
				if n == 0 || err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMorningDigestOncePerDayAcrossInstances(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu")
	c := e.customer("wmZ", "张三", "lisi", t0.AddDate(0, 0, -1))
	rmTimeline(t, e, c, "m1", store.EntryMessage, store.DirectionIn, "", "下周三下午再联系我", t0.AddDate(0, 0, -1))
	today := e.reminder("r1", c.ID, "lisi", "回电确认报价", time.Date(2026, 11, 24, 15, 0, 0, 0, rmLoc))
	overdue := e.reminder("r2", c.ID, "lisi", "发合同", time.Date(2026, 11, 23, 11, 0, 0, 0, rmLoc))
	tomorrow := e.reminder("r3", c.ID, "lisi", "上门拜访", time.Date(2026, 11, 25, 10, 0, 0, 0, rmLoc))
	b := e.scheduler("sched-b", e.st)

	e.clk.Set(time.Date(2026, 11, 24, 8, 59, 0, 0, rmLoc))
	rmDay(t, e.sched, b)
	if n := len(rmMarkdowns(e.sim.SentTo("lisi"), "早上好")); n != 0 {
		t.Fatalf("%d digests before 09:00", n)
	}
	e.clk.Set(time.Date(2026, 11, 24, 9, 0, 30, 0, rmLoc))
	rmDay(t, e.sched, b)
	e.clk.Set(time.Date(2026, 11, 24, 9, 20, 0, 0, rmLoc))
	rmDay(t, e.sched, b)
	got := rmMarkdowns(e.sim.SentTo("lisi"), "早上好")
	if len(got) != 1 {
		t.Fatalf("%d morning digests, want exactly 1", len(got))
	}
	d := got[0].Content
	for _, want := range []string{fmt.Sprintf("#%d", today.ID), fmt.Sprintf("#%d", overdue.ID), "15:00", "逾期", "张三", "回电确认报价", "最近来信", "下周三下午再联系我", "今天有 2 条"} {
		if !strings.Contains(d, want) {
			t.Errorf("digest lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, fmt.Sprintf("#%d", tomorrow.ID)) {
		t.Errorf("digest lists tomorrow's reminder:\n%s", d)
	}
	if n := len(e.sim.SentTo("wangwu")); n != 0 {
		t.Fatalf("wangwu, with nothing due, got %d messages", n)
	}
	if e.sim.DuplicatesSuppressed() != 0 {
		t.Logf("%d duplicate sends were suppressed by WeCom", e.sim.DuplicatesSuppressed())
	}
	e.clk.Set(time.Date(2026, 11, 25, 9, 1, 0, 0, rmLoc))
	rmDay(t, e.sched, b)
	if got := rmMarkdowns(e.sim.SentTo("lisi"), "早上好"); len(got) != 2 || !strings.Contains(got[1].Content, fmt.Sprintf("#%d", tomorrow.ID)) {
		t.Fatalf("next day's digest: %d digests", len(got))
	}
}

func TestWeeklyManagerDigest(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu", "boss")
	ctx := context.Background()
	e.team()
	mon := time.Date(2026, 11, 23, 0, 0, 0, 0, rmLoc) // last week's Monday
	z := e.customer("wmZ", "张三", "lisi", mon.Add(34*time.Hour))
	e.customer("wmY", "赵六", "lisi", mon.Add(50*time.Hour))
	w := e.customer("wmW", "王小二", "wangwu", mon.Add(26*time.Hour))
	e.customer("wmOld", "老客户", "wangwu", mon.AddDate(0, 0, -20))
	rmTimeline(t, e, z, "z1", store.EntryMessage, store.DirectionIn, "", "报价多少？", mon.Add(34*time.Hour))
	rmTimeline(t, e, z, "z2", store.EntryNote, "", "lisi", "电话沟通了报价", mon.Add(36*time.Hour))
	rmTimeline(t, e, z, "z3", store.EntryMessage, store.DirectionOut, "lisi", "合同已发您邮箱", mon.Add(60*time.Hour))
	rmTimeline(t, e, w, "w1", store.EntryMessage, store.DirectionIn, "", "太贵了，不考虑了", mon.Add(27*time.Hour))
	pos, neg := "positive", "negative"
	for id, label := range map[string]string{z.ID: pos, w.ID: neg} {
		upd := store.CustomerUpdate{Insight: &store.Insight{SentimentLabel: label, AnalyzedAt: mon.Add(70 * time.Hour)}, Now: mon.Add(70 * time.Hour)}
		if _, err := e.st.UpdateCustomer(ctx, id, upd); err != nil {
			t.Fatal(err)
		}
	}
	b := e.scheduler("sched-b", e.st)
	e.clk.Set(time.Date(2026, 11, 30, 9, 0, 5, 0, rmLoc))
	rmDay(t, e.sched, b)
	rmDay(t, e.sched, b)
	got := rmMarkdowns(e.sim.SentTo("boss"), "上周团队周报")
	if len(got) != 1 {
		t.Fatalf("%d weekly digests to the manager, want 1", len(got))
	}
	d := got[0].Content
	for _, want := range []string{"11-23 ~ 11-29", "**李四**：客户 2 · 上周新增 2", "跟进 2 · 平均响应 2小时", "**王五**：客户 2 · 上周新增 1",
		"积极 1", "消极 1"} {
		if !strings.Contains(d, want) {
			t.Errorf("weekly digest lacks %q:\n%s", want, d)
		}
	}
	for _, s := range []string{"lisi", "wangwu"} {
		if n := len(rmMarkdowns(e.sim.SentTo(s), "周报")); n != 0 {
			t.Errorf("%s got the manager's digest", s)
		}
	}
	// Tuesday: no weekly digest.
	e.clk.Set(time.Date(2026, 12, 1, 9, 0, 5, 0, rmLoc))
	rmDay(t, e.sched)
	if n := len(rmMarkdowns(e.sim.SentTo("boss"), "周报")); n != 1 {
		t.Fatalf("%d weekly digests after Tuesday", n)
	}
}
