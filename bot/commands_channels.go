package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scrmhq/scrm/store"
)

// The 渠道 command: a manager's (or an admin's) look at where customers
// come from, read through the same action as the API's
// /api/v1/channels/{id}/stats, so the numbers agree with the console's.

// maxChannelLines bounds the list so the reply stays inside one message.
const maxChannelLines = 15

// channels answers 渠道 (every live channel: today's and the last 7 days'
// adds, deletions and net) and 渠道 名称 (one channel in more detail).
func (p *Commands) channels(ctx context.Context, v Viewer, rest string, at time.Time) (string, error) {
	if v.Role != RoleManager && v.Role != RoleAdmin {
		return "“渠道”是主管和管理员的功能，可以查看各渠道活码带来的新客户。你可以发送“漏斗”看自己的客户分布，或“今天”看今天的计划。", nil
	}
	a := Actor{Viewer: v, Source: SourceBot}
	all, err := p.core.Channels(ctx, a)
	if err != nil {
		return "", fmt.Errorf("commands: channels: %w", err)
	}
	live := all[:0:0]
	for _, ch := range all {
		if ch.DeletedAt == nil {
			live = append(live, ch)
		}
	}
	if len(live) == 0 {
		return "还没有渠道活码。可以在网页后台的“渠道活码”页面新建，发送“后台”获取登录链接。", nil
	}
	day := startOfDay(at, p.loc)
	if rest != "" {
		ch := findChannelByName(live, rest)
		if ch == nil {
			return "没有找到渠道“" + md(clip(rest, 20)) + "”。发送“渠道”查看全部渠道。", nil
		}
		return p.channelDetail(ctx, a, ch, day)
	}
	type row struct {
		ch          *store.Channel
		today, week ChannelDay
	}
	rows := make([]row, 0, len(live))
	var sum row
	for _, ch := range live {
		st, err := p.core.ChannelStats(ctx, a, ch.ID, day.AddDate(0, 0, -6), day.AddDate(0, 0, 1), p.loc)
		if err != nil {
			return "", fmt.Errorf("commands: channel %s: %w", ch.ID, err)
		}
		r := row{ch: ch, week: ChannelDay{Adds: st.Total.Adds, Deletions: st.Total.Deletions, Net: st.Total.Net}}
		if n := len(st.Days); n > 0 {
			r.today = st.Days[n-1]
		}
		sum.today.Adds += r.today.Adds
		sum.today.Deletions += r.today.Deletions
		sum.week.Adds += r.week.Adds
		sum.week.Deletions += r.week.Deletions
		rows = append(rows, r)
	}
	// The channels that bring the most come first; equal ones by name.
	slices.SortStableFunc(rows, func(x, y row) int {
		return cmp.Or(cmp.Compare(y.week.Adds, x.week.Adds), cmp.Compare(y.today.Adds, x.today.Adds), strings.Compare(x.ch.Name, y.ch.Name))
	})
	var b strings.Builder
	fmt.Fprintf(&b, "**渠道活码**（%d 个，今天 %s）\n", len(rows), day.Format("01-02"))
	fmt.Fprintf(&b, "> 合计 今天：新增 %d · 删除 %d · 净增 %d\n", sum.today.Adds, sum.today.Deletions, sum.today.Adds-sum.today.Deletions)
	fmt.Fprintf(&b, "> 合计 近 7 天：新增 %d · 删除 %d · 净增 %d\n", sum.week.Adds, sum.week.Deletions, sum.week.Adds-sum.week.Deletions)
	for i, r := range rows {
		if i == maxChannelLines {
			fmt.Fprintf(&b, "\n……另有 %d 个渠道，完整数据见网页后台的“渠道活码”。", len(rows)-i)
			break
		}
		fmt.Fprintf(&b, "\n**%s**\n> 今天 新增 %d · 删除 %d · 净增 %d｜7 天 新增 %d · 删除 %d · 净增 %d",
			md(clip(r.ch.Name, 15)), r.today.Adds, r.today.Deletions, r.today.Net, r.week.Adds, r.week.Deletions, r.week.Net)
	}
	b.WriteString("\n\n发送“渠道 名称”查看某个渠道的详细数据。")
	return b.String(), nil
}

// findChannelByName finds a channel by its exact name, else the one channel
// whose name contains q (nil when none or several do).
func findChannelByName(chs []*store.Channel, q string) *store.Channel {
	q = strings.TrimSpace(q)
	var partial []*store.Channel
	for _, ch := range chs {
		if ch.Name == q {
			return ch
		}
		if strings.Contains(ch.Name, q) {
			partial = append(partial, ch)
		}
	}
	if len(partial) == 1 {
		return partial[0]
	}
	return nil
}

// channelDetail renders one channel: today, 7 and 30 days, retention, and
// the last 7 days per member.
func (p *Commands) channelDetail(ctx context.Context, a Actor, ch *store.Channel, day time.Time) (string, error) {
	month, err := p.core.ChannelStats(ctx, a, ch.ID, day.AddDate(0, 0, -29), day.AddDate(0, 0, 1), p.loc)
	if errors.Is(err, store.ErrNotFound) {
		return "没有找到这个渠道。", nil
	}
	if err != nil {
		return "", fmt.Errorf("commands: channel %s: %w", ch.ID, err)
	}
	week, err := p.core.ChannelStats(ctx, a, ch.ID, day.AddDate(0, 0, -6), day.AddDate(0, 0, 1), p.loc)
	if err != nil {
		return "", fmt.Errorf("commands: channel %s: %w", ch.ID, err)
	}
	var today ChannelDay
	if n := len(week.Days); n > 0 {
		today = week.Days[n-1]
	}
	names := map[string]string{}
	if staff, err := p.plan.FindStaff(ctx); err == nil {
		for _, s := range staff {
			names[s.ID] = s.Name
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**渠道 · %s**\n", md(clip(ch.Name, 20)))
	if len(ch.Staff) > 0 {
		ids := make([]string, len(ch.Staff))
		for i, s := range ch.Staff {
			ids[i] = md(cmp.Or(names[s.UserID], s.UserID))
		}
		fmt.Fprintf(&b, "> 接待员工：%s\n", clip(strings.Join(ids, "、"), 60))
	}
	if len(ch.Tags) > 0 {
		fmt.Fprintf(&b, "> 自动标签：%s\n", md(clip(strings.Join(ch.Tags, "、"), 60)))
	}
	fmt.Fprintf(&b, "> 今天：新增 %d · 删除 %d · 净增 %d\n", today.Adds, today.Deletions, today.Net)
	fmt.Fprintf(&b, "> 近 7 天：新增 %d · 删除 %d · 净增 %d\n", week.Total.Adds, week.Total.Deletions, week.Total.Net)
	fmt.Fprintf(&b, "> 近 30 天：新增 %d · 删除 %d · 净增 %d\n", month.Total.Adds, month.Total.Deletions, month.Total.Net)
	if t := month.Total; t.Eligible7 > 0 {
		fmt.Fprintf(&b, "> 7 天留存：%.0f%%（%d/%d）\n", t.Retention7*100, t.Retained7, t.Eligible7)
	}
	fmt.Fprintf(&b, "> 近 30 天新增中：回复欢迎语 %d 位 · 已成交 %d 位\n", month.Total.Replied, month.Total.Won)
	type member struct {
		id string
		n  ChannelNumbers
	}
	var ms []member
	for id, n := range week.Staff {
		ms = append(ms, member{id, n})
	}
	slices.SortFunc(ms, func(x, y member) int { return cmp.Or(cmp.Compare(y.n.Adds, x.n.Adds), strings.Compare(x.id, y.id)) })
	if len(ms) > 0 {
		b.WriteString("\n**近 7 天按员工**")
		for i, m := range ms {
			if i == maxChannelLines {
				fmt.Fprintf(&b, "\n……另有 %d 位员工", len(ms)-i)
				break
			}
			fmt.Fprintf(&b, "\n> %s：新增 %d · 删除 %d · 净增 %d", md(clip(cmp.Or(names[m.id], m.id), 10)), m.n.Adds, m.n.Deletions, m.n.Net)
		}
	}
	return b.String(), nil
}
