package bot_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/scrmhq/scrm/store"
)

// TestPlanCommands runs the reminder and planning commands in order, as
// staff would, through the pipeline, and checks the replies and the effects.
// Every salesperson sees and acts on only their own reminders and customers.
func TestPlanCommands(t *testing.T) {
	e := newRmEnv(t, "lisi", "wangwu", "boss")
	z := e.customer("wmZ", "张三", "lisi", t0.Add(-time.Hour))
	e.customer("wmL", "刘备", "lisi", t0.AddDate(0, 0, -40))
	w := e.customer("wmW", "王五", "wangwu", t0)
	rmTimeline(t, e, z, "z1", store.EntryMessage, store.DirectionIn, "", "下周三下午再联系我", t0.Add(-time.Hour))
	mine := e.reminder("r1", z.ID, "lisi", "回电确认报价", time.Date(2026, 11, 24, 12, 0, 0, 0, rmLoc))
	theirs := e.reminder("r2", w.ID, "wangwu", "王五的事", t0.Add(time.Hour))
	id, other := fmt.Sprint(mine.ID), fmt.Sprint(theirs.ID)

	cases := []struct {
		staff, text string
		want        []string
		not         []string
		check       func(t *testing.T)
	}{
		{staff: "lisi", text: "待办", want: []string{"#" + id, "张三", "回电确认报价", "11-24 12:00"}, not: []string{"#" + other, "王五的事"}},
		{staff: "lisi", text: "今天", want: []string{"今天的计划", "#" + id, "12:00", "张三", "下周三下午再联系我"}, not: []string{"#" + other}},
		{staff: "wangwu", text: "完成 " + id, want: []string{"没有找到你的待办 #" + id}, check: func(t *testing.T) {
			if s := e.get(mine.ID).Status; s != store.ReminderPending {
				t.Fatalf("someone else completed lisi's reminder: %q", s)
			}
		}},
		{staff: "wangwu", text: "推迟 " + id + " 明天", want: []string{"没有找到"}, check: func(t *testing.T) {
			if !e.get(mine.ID).DueAt.Equal(mine.DueAt) {
				t.Fatal("someone else postponed lisi's reminder")
			}
		}},
		{staff: "lisi", text: "推迟 " + id + " 明天", want: []string{"11-25（周三）12:00"}},
		{staff: "lisi", text: "推迟" + id + " 3天", want: []string{"11-27（周五）12:00"}},
		{staff: "lisi", text: "推迟 #" + id + " 下周一", want: []string{"11-30（周一）12:00"}},
		{staff: "lisi", text: "推迟 " + id + " 明天下午三点", want: []string{"11-25（周三）15:00"}, check: func(t *testing.T) {
			r := e.get(mine.ID)
			if !r.DueAt.Equal(time.Date(2026, 11, 25, 15, 0, 0, 0, rmLoc)) || r.Status != store.ReminderPending {
				t.Fatalf("after 推迟: %+v", r)
			}
		}},
		{staff: "lisi", text: "推迟 " + id + " 随便", want: []string{"没看懂"}},
		{staff: "lisi", text: "推迟 " + id, want: []string{"推迟到什么时候"}},
		{staff: "lisi", text: "完成 " + id, want: []string{"已完成", "#" + id}, check: func(t *testing.T) {
			if s := e.get(mine.ID).Status; s != store.ReminderDone {
				t.Fatalf("status %q after 完成", s)
			}
		}},
		{staff: "lisi", text: "完成 " + id, want: []string{"已经完成过了"}},
		{staff: "lisi", text: "完成 abc", want: []string{"请写上待办编号"}},
		{staff: "lisi", text: "提醒 张三 明天下午三点 回访报价", want: []string{"11-25（周三）15:00", "回访报价", "张三"}, check: func(t *testing.T) {
			rs := rmReminders(t, e, store.ReminderFilter{StaffID: "lisi", Statuses: []string{store.ReminderPending}})
			if len(rs) != 1 || rs[0].Text != "回访报价" || rs[0].Kind != store.ReminderManual || rs[0].CustomerID != z.ID ||
				!rs[0].DueAt.Equal(time.Date(2026, 11, 25, 15, 0, 0, 0, rmLoc)) {
				t.Fatalf("manual reminder: %+v", rs)
			}
		}},
		{staff: "wangwu", text: "提醒 张三 明天 回访", want: []string{"没有找到你可查看的客户"}, check: func(t *testing.T) {
			if rs := rmReminders(t, e, store.ReminderFilter{StaffID: "wangwu"}); len(rs) != 1 {
				t.Fatalf("wangwu has %d reminders; one was created on someone else's customer", len(rs))
			}
		}},
		{staff: "lisi", text: "提醒 张三", want: []string{"格式"}},
		{staff: "lisi", text: "沉睡客户", want: []string{"刘备", "40 天未联系", "共 1 位"}, not: []string{"张三", "王五"}},
		{staff: "wangwu", text: "沉睡客户", want: []string{"没有超过 30 天未联系的客户"}, not: []string{"刘备"}},
		{staff: "lisi", text: "漏斗", want: []string{"我的客户漏斗", "共 2 位"}},
		{staff: "boss", text: "漏斗", want: []string{"团队客户漏斗", "共 3 位"}},
		{staff: "lisi", text: "团队", want: []string{"主管"}, not: []string{"团队概览"}},
		{staff: "boss", text: "团队", want: []string{"团队概览", "**lisi**：客户 2", "**wangwu**：客户 1", "本周新增"}},
		{staff: "lisi", text: "查 张三", want: []string{"待办提醒", "回访报价"}},
		{staff: "wangwu", text: "查 张三", want: []string{"没有找到"}, not: []string{"回访报价"}},
		{staff: "lisi", text: "帮助", want: []string{"待办", "推迟 3 明天", "沉睡客户", "漏斗"}},
	}
	for _, tc := range cases {
		t.Run(tc.staff+" "+tc.text, func(t *testing.T) {
			got := e.say(tc.staff, tc.text)
			wantIn(t, tc.text, got, tc.want, tc.not...)
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}
